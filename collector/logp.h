#ifndef DW_COLLECTOR_LOGP_H
#define DW_COLLECTOR_LOGP_H

/*
 * The log parsers as seen from outside the collector: only what check-config needs. The parsers
 * themselves (multiline assembly, formats, rules, fingerprints) are private to collector/
 * (logparse_int.h); the agent reaches them through the tailer.
 */

#include <stddef.h>

#include "core/config.h"

/*
 * Build the parser of source 'src' of 'cfg' exactly as the agent does (its format, its timezone
 * file, every rule that names it: regex, named groups as labels, value group, metric family)
 * into a scratch registry, and throw it away. 'src' must be an element of cfg->sources. Returns 0,
 * or -EINVAL (or a negative errno for an unreadable zone file) with one line in 'err' (errlen
 * bytes) worded as config_parse's errors, "FILE:LINE:COL: KEY: message" (config_source_error,
 * config_rule_error): the place and key of the value at fault and, for a regex, PCRE2's message
 * and offset. Reads the zone file; any thread.
 */
int logp_check_source(const struct config *cfg, const struct config_source *src, char *err,
		      size_t errlen);

#endif
