/*
 * format: regex — the source's own `regex:` decides what an entry is. Each line is an entry;
 * a matching one is counted in <source>_log_entries_total (the source name with '-' as '_'),
 * its named groups as labels, except a group named `time`, which is the entry's timestamp
 * ("YYYY-MM-DD HH:MM:SS" or RFC 3339, local to the source's timezone when it has no zone, or
 * Unix seconds). A line that does not match is unmatched.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

struct regex_state {
	pcre2_code *re;
	struct metric *m;
	int time_group;
	size_t nlabels;
	int groups[REGISTRY_MAX_LABELS];
};

/* The config lives as long as the logp's caller keeps it; the regex is copied by the compile. */
static int regex_init(struct logp *p, char *err, size_t errlen)
{
	const struct config_source *src = p->src;
	struct regex_state *st = xcalloc(1, sizeof(*st));
	const char *names[REGISTRY_MAX_LABELS + 1] = { NULL };
	char why[300], metric[REGISTRY_MAX_NAME];
	uint32_t count, size, ncap;
	PCRE2_SPTR table;

	p->fmt_state = st;
	st->time_group = -1;
	if (!src->regex)
		return config_source_error(p->cfg, src, "regex", err, errlen,
					   "expected a PCRE2 pattern, since format is regex, got none");
	st->re = logp_compile(src->regex, 0, NULL, why, sizeof(why));
	if (!st->re)
		return config_source_error(p->cfg, src, "regex", err, errlen,
					   "PCRE2 refuses the pattern: %s", why);
	pcre2_pattern_info(st->re, PCRE2_INFO_CAPTURECOUNT, &ncap);
	pcre2_pattern_info(st->re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(st->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(st->re, PCRE2_INFO_NAMETABLE, &table);
	if (ncap >= 64)
		return config_source_error(p->cfg, src, "regex", err, errlen,
					   "expected at most 63 capture groups, got %u", ncap);
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = table + (size_t)i * size;
		const char *nm = (const char *)e + 2;

		if (strcmp(nm, "time") == 0) {
			st->time_group = e[0] << 8 | e[1];
			continue;
		}
		if (st->nlabels == REGISTRY_MAX_LABELS)
			return config_source_error(p->cfg, src, "regex", err, errlen,
						   "expected at most %d named groups besides time, "
						   "got more", REGISTRY_MAX_LABELS);
		if (model_label_name_reserved(nm))
			return config_source_error(p->cfg, src, "regex", err, errlen,
						   "expected group names that can be label names, "
						   "got %s (names starting with __ are reserved)", nm);
		names[st->nlabels] = nm;
		st->groups[st->nlabels++] = e[0] << 8 | e[1];
	}
	snprintf(metric, sizeof(metric), "%s_log_entries_total", src->name);
	for (char *c = metric; *c; c++)
		if (*c == '-')
			*c = '_';
	st->m = logp_counter(p->reg, metric, "Entries matching the source's regex.", names);
	if (!st->m)
		return config_source_error(p->cfg, src, "name", err, errlen,
					   "expected a source whose metric %s is not yet taken, got "
					   "\"%s\": it is registered with another shape", metric,
					   src->name);
	return 0;
}

static void regex_release(struct logp *p)
{
	struct regex_state *st = p->fmt_state;

	if (!st)
		return;
	pcre2_code_free(st->re);
	free(st);
	p->fmt_state = NULL;
}

static bool regex_parse(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
			const struct logp_sink *sink)
{
	struct regex_state *st = p->fmt_state;
	char vals[REGISTRY_MAX_LABELS][LOGP_MAX_LABEL_VALUE + 1];
	const char *vp[REGISTRY_MAX_LABELS + 1] = { NULL };
	int64_t t = fallback_ms;
	const char *s;
	size_t n;

	if (logp_match(p, st->re, text, len) <= 0)
		return false;
	if (st->time_group >= 0 && logp_group(p, st->time_group, text, &s, &n) && n > 0) {
		if (logp_parse_iso(p, s, n, &t) != n) {
			int64_t sec = 0;
			size_t i;

			for (i = 0; i < n && i < 12 && s[i] >= '0' && s[i] <= '9'; i++)
				sec = sec * 10 + (s[i] - '0');
			t = i == n ? sec * 1000 : fallback_ms;
		}
	}
	p->t_ms = t;
	for (size_t i = 0; i < st->nlabels; i++) {
		if (!logp_group(p, st->groups[i], text, &s, &n))
			s = "", n = 0;
		vp[i] = logp_label_value(vals[i], s, n);
	}
	logp_count(sink, metric_series(st->m, st->nlabels ? vp : NULL), 1, t);
	return true;
}

const struct logp_format logp_fmt_regex = {
	.name = "regex",
	.id = SOURCE_REGEX,
	.line_start = NULL,
	.init = regex_init,
	.release = regex_release,
	.parse = regex_parse,
};
