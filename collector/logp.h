#ifndef DW_COLLECTOR_LOGP_H
#define DW_COLLECTOR_LOGP_H

/*
 * The log parsers as seen from outside the collector: only what check-config needs. The parsers
 * themselves (multiline assembly, formats, rules, fingerprints) are private to collector/
 * (logparse_int.h); the agent reaches them through the tailer.
 */

#include <stddef.h>

#include "core/config.h"

struct registry;

/*
 * Build the parser of source 'src' of 'cfg' exactly as the agent does (its format, its timezone
 * file, every rule that names it: regex, named groups as labels, value group, metric family)
 * into 'reg', and throw the parser away (its families stay in 'reg'). Give every source of a
 * configuration the same registry, one holding what the agent registers before its parsers
 * (the host sampler's families), to find two sources or rules that want one metric name with
 * different shapes, as the agent's start-up would; NULL: a scratch registry for this source
 * alone. 'src' must be an element of cfg->sources. Returns 0, or -EINVAL (or a negative errno
 * for an unreadable zone file) with one line in 'err' (errlen bytes) worded as config_parse's
 * errors, "FILE:LINE:COL: KEY: message" (config_source_error, config_rule_error): the place and
 * key of the value at fault and, for a regex, PCRE2's message and offset. Reads the zone file;
 * any thread that owns 'reg'.
 */
int logp_check_source(const struct config *cfg, const struct config_source *src,
		      struct registry *reg, char *err, size_t errlen);

#endif
