#ifndef DW_CORE_TIMEPARSE_H
#define DW_CORE_TIMEPARSE_H

#include <stdint.h>

/*
 * Time arguments as Prometheus's HTTP API reads them (--at, --from, --to, start=, end=):
 *   - Unix seconds with an optional fraction: "1700000000", "1700000000.5", "-1.25"; the fraction
 *     is rounded to the millisecond, as Prometheus does;
 *   - RFC 3339: "2026-11-27T17:20:00Z", "2026-11-27T17:20:00.123456+01:00"; fractional seconds
 *     are truncated to the millisecond (Prometheus's timestamp.FromTime).
 * Pure: never reads the clock (relative times such as "now-1h" are the caller's business).
 */

/*
 * Parse 's' into milliseconds since the Unix epoch. Returns 0, or -EINVAL for anything else
 * (including a date that does not exist, a leap second, or a value outside int64 milliseconds);
 * *ms is untouched on error. Any thread.
 */
int time_parse(const char *s, int64_t *ms);

#endif
