/*
 * The config's `rules:`: a PCRE2 regex per rule whose named groups become labels, counted or
 * observed into the rule's own family. A literal that every match must contain is found in the
 * pattern once, and memmem() rejects most entries before the regex runs.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

struct rule {
	char *name;
	pcre2_code *re;
	struct metric *m;
	enum rule_type type;
	int value_group;            /* group number of 'value:', or -1 */
	size_t nlabels;
	int groups[REGISTRY_MAX_LABELS]; /* group number of each label */
	char *literal;              /* a substring every match contains, or NULL */
	size_t literal_len;
};

/* Prometheus's DefBuckets. */
static const double rule_default_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					       0.5,   1,    2.5,   5,    10 };

/* Is c a character that stands for itself outside a class? */
static bool rule_plain(char c)
{
	return !strchr("\\^$.|?*+()[]{}", c) && c != '\0';
}

/*
 * The longest run of literal characters at the top level of 'pat' (outside groups and classes)
 * that every match must contain; NULL when the pattern has a top-level alternation or inline
 * flags (which could make the literal case-insensitive or ignore spaces), or no run of 3+ bytes.
 */
static char *rule_required_literal(const char *pat, size_t *outlen)
{
	struct buf run, best;
	int depth = 0;
	char *res = NULL;

	buf_init(&run, 0);
	buf_init(&best, 0);
	if (strstr(pat, "(?") && (strstr(pat, "(?i") || strstr(pat, "(?x") || strstr(pat, "(?-") ||
				  strstr(pat, "(?s") || strstr(pat, "(?m") || strstr(pat, "(?n")))
		goto out;
	if (strstr(pat, "\\Q"))
		goto out;
	for (const char *c = pat; *c; c++) {
		char lit = 0;
		bool has_lit = false;

		if (*c == '\\' && c[1]) {
			c++;
			if (depth == 0 && !((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					    (*c >= '0' && *c <= '9'))) {
				lit = *c;
				has_lit = true;
			}
		} else if (*c == '[') {
			/* skip a class: a ']' right after '[' or '[^' is literal */
			c++;
			if (*c == '^')
				c++;
			if (*c == ']')
				c++;
			while (*c && *c != ']') {
				if (*c == '\\' && c[1])
					c++;
				c++;
			}
			if (!*c)
				goto out; /* pcre2 refused it already */
		} else if (*c == '{') {
			/* a counted quantifier: its digits are not literals */
			while (c[1] && *c != '}')
				c++;
		} else if (*c == '(') {
			depth++;
		} else if (*c == ')') {
			depth--;
		} else if (*c == '|' && depth == 0) {
			buf_reset(&best);
			goto out;
		} else if (depth == 0 && rule_plain(*c)) {
			lit = *c;
			has_lit = true;
		}
		/* A quantifier that allows zero repetitions makes the previous character
		 * optional: drop it from the run. */
		if (has_lit && (c[1] == '?' || c[1] == '*' || c[1] == '{'))
			has_lit = false;
		if (has_lit) {
			buf_putc(&run, lit);
			if (c[1] != '+')
				continue;
		}
		if (run.len > best.len) {
			buf_reset(&best);
			buf_append(&best, run.data, run.len);
		}
		buf_reset(&run);
	}
	if (run.len > best.len) {
		buf_reset(&best);
		buf_append(&best, run.data, run.len);
	}
out:
	if (best.len >= 3)
		res = buf_detach(&best, outlen);
	buf_release(&run);
	buf_release(&best);
	return res;
}

void rule_free(struct rule *r)
{
	if (!r)
		return;
	pcre2_code_free(r->re);
	free(r->literal);
	free(r->name);
	free(r);
}

int rule_new(const struct config *cfg, const struct config_rule *cr, struct registry *reg,
	     struct rule **out, char *err, size_t errlen)
{
	struct rule *r = xcalloc(1, sizeof(*r));
	const char *names[REGISTRY_MAX_LABELS + 1] = { NULL };
	char why[300];
	uint32_t count, size, ncap;
	PCRE2_SPTR table;

	*out = NULL;
	r->name = xstrdup(cr->name);
	r->type = cr->type;
	r->value_group = -1;
	r->re = logp_compile(cr->regex, 0, NULL, why, sizeof(why));
	if (!r->re) {
		config_rule_error(cfg, cr, "regex", err, errlen, "PCRE2 refuses the pattern: %s",
				  why);
		goto out_einval;
	}
	pcre2_pattern_info(r->re, PCRE2_INFO_CAPTURECOUNT, &ncap);
	if (ncap >= 64) {
		config_rule_error(cfg, cr, "regex", err, errlen,
				  "expected at most 63 capture groups, got %u", ncap);
		goto out_einval;
	}
	pcre2_pattern_info(r->re, PCRE2_INFO_NAMECOUNT, &count);
	pcre2_pattern_info(r->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
	pcre2_pattern_info(r->re, PCRE2_INFO_NAMETABLE, &table);
	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *e = table + (size_t)i * size;
		int group = e[0] << 8 | e[1];
		const char *nm = (const char *)e + 2;

		if (cr->value && strcmp(nm, cr->value) == 0) {
			r->value_group = group;
			continue;
		}
		if (model_label_name_reserved(nm)) {
			config_rule_error(cfg, cr, "regex", err, errlen,
					  "expected group names that can be label names, got %s "
					  "(names starting with __ are reserved)", nm);
			goto out_einval;
		}
		if (r->nlabels == REGISTRY_MAX_LABELS) {
			config_rule_error(cfg, cr, "regex", err, errlen,
					  "expected at most %d named groups besides the value's, "
					  "got more", REGISTRY_MAX_LABELS);
			goto out_einval;
		}
		names[r->nlabels] = nm;
		r->groups[r->nlabels++] = group;
	}
	if (cr->value && r->value_group < 0) {
		config_rule_error(cfg, cr, "value", err, errlen,
				  "expected the name of a group of the regex, got \"%s\": the regex "
				  "has no group named %s", cr->value, cr->value);
		goto out_einval;
	}
	if (cr->type == RULE_HISTOGRAM)
		r->m = registry_histogram(reg, cr->name, cr->help ? cr->help : cr->name, names,
					  cr->buckets ? cr->buckets : rule_default_buckets,
					  cr->buckets ? cr->nbuckets
						      : sizeof(rule_default_buckets) /
							sizeof(rule_default_buckets[0]));
	else
		r->m = logp_counter(reg, cr->name, cr->help ? cr->help : cr->name, names);
	if (!r->m) {
		config_rule_error(cfg, cr, "name", err, errlen,
				  "expected a metric name not yet taken, got \"%s\": it is already "
				  "registered with another type or other labels", cr->name);
		goto out_einval;
	}
	r->literal = rule_required_literal(cr->regex, &r->literal_len);
	*out = r;
	return 0;

out_einval:
	rule_free(r);
	return -EINVAL;
}

bool rule_apply(struct rule *r, struct logp *p, const char *text, size_t len, int64_t t_ms,
		const struct logp_sink *sink)
{
	char vals[REGISTRY_MAX_LABELS][LOGP_MAX_LABEL_VALUE + 1];
	const char *vp[REGISTRY_MAX_LABELS + 1] = { NULL };
	double value = 1;
	const char *s;
	size_t n;

	if (r->literal && !memmem(text, len, r->literal, r->literal_len))
		return false;
	if (logp_match(p, r->re, text, len) <= 0)
		return false;
	if (r->value_group >= 0) {
		char num[64];
		char *end;

		if (!logp_group(p, r->value_group, text, &s, &n) || n == 0 || n >= sizeof(num))
			return false;
		memcpy(num, s, n);
		num[n] = '\0';
		value = strtod(num, &end);
		if (*end || !isfinite(value))
			return false;
	}
	for (size_t i = 0; i < r->nlabels; i++) {
		if (!logp_group(p, r->groups[i], text, &s, &n))
			n = 0, s = "";
		vp[i] = logp_label_value(vals[i], s, n);
	}
	if (r->type == RULE_HISTOGRAM)
		logp_observe(sink, metric_series(r->m, r->nlabels ? vp : NULL), value, t_ms);
	else
		logp_count(sink, metric_series(r->m, r->nlabels ? vp : NULL), value, t_ms);
	return true;
}
