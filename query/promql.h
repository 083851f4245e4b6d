#ifndef DW_QUERY_PROMQL_H
#define DW_QUERY_PROMQL_H

/*
 * PromQL, as Prometheus 2.42 reads it. For now: series selectors, the argument of `--match` and of
 * the API's match[] (Prometheus's parser.ParseMetricSelector). The full expression parser joins
 * this header later under the same prefix.
 *
 * Errors name the 1-based line and column of the offending token the way Prometheus does:
 *   1:10: parse error: unexpected end of input inside braces
 */

#include <stddef.h>

#include "core/buf.h"
#include "store/store.h"

/* Limits on untrusted selectors: total length and number of matchers (the metric name counts). */
#define PROMQL_MAX_SELECTOR_LEN 65536
#define PROMQL_MAX_MATCHERS 64

/*
 * Parse a series selector: `metric`, `metric{a="x",b!="y",c=~"re",d!~"re"}`, `{__name__=~"x.*"}`,
 * with a trailing comma allowed inside the braces and whitespace anywhere between tokens. Label
 * values are Go strings: "..." and '...' with Go's escapes, `...` raw. Regexes are checked with
 * PCRE2 (anchored at both ends, UTF) as the store will run them. A metric name becomes a
 * __name__ equality matcher placed first; the other matchers follow in input order.
 *
 * On success returns 0 and *out is an array of *n matchers whose name and value strings it owns;
 * free it with promql_matchers_free(). On error returns -EINVAL, leaves *out NULL and *n 0, and
 * writes one line such as "1:14: parse error: unexpected end of input inside braces" into 'err'
 * (errlen bytes, may be 0). A selector whose matchers all match the empty string is refused
 * ("vector selector must contain at least one non-empty matcher"), as are label values holding a
 * NUL byte (a C string cannot carry it). Pure; any thread.
 */
int promql_parse_selector(const char *input, struct matcher **out, size_t *n, char *err,
			  size_t errlen);

/*
 * Append 'len' bytes of 's' to 'out' as a Go double-quoted string (strconv.Quote): how PromQL and
 * `promtool tsdb dump` print label values. Returns 0 or -E2BIG at out's cap. Any thread.
 */
int promql_quote(struct buf *out, const char *s, size_t len);

/* Free what promql_parse_selector() returned: the n matchers and their strings. NULL is a no-op. */
void promql_matchers_free(struct matcher *m, size_t n);

#endif
