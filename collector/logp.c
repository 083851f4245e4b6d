/*
 * The parser of one source: the built-in formats' table, PCRE2 with its limits, timestamps in the
 * source's zone, label values made safe, and the config's rules applied to every entry.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collector/logp.h"
#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

/* The built-in formats, as SQLite keeps its built-in functions: one const table, one file each. */
static const struct logp_format *const logp_formats[] = {
	&logp_fmt_laravel, &logp_fmt_mysql_error, &logp_fmt_mysql_slow, &logp_fmt_nginx,
	&logp_fmt_regex,
};
#define NFORMATS (sizeof(logp_formats) / sizeof(logp_formats[0]))

const struct logp_format *logp_format_find(const char *name)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (strcmp(logp_formats[i]->name, name) == 0)
			return logp_formats[i];
	return NULL;
}

static const struct logp_format *logp_format_by_id(enum source_format id)
{
	for (size_t i = 0; i < NFORMATS; i++)
		if (logp_formats[i]->id == id)
			return logp_formats[i];
	return NULL;
}

/* ---- PCRE2 ---- */

pcre2_code *logp_compile(const char *pattern, uint32_t flags, const char *what, char *err,
			 size_t errlen)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;
	/* PCRE2_MATCH_INVALID_UTF: log lines are not guaranteed UTF-8; invalid bytes simply never
	 * match a character instead of making the match fail with an error. */
	pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
				       PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | flags, &code, &off,
				       NULL);

	if (!re) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		if (what)
			snprintf(err, errlen, "%s: %s at offset %zu", what, (const char *)msg,
				 (size_t)off);
		else
			snprintf(err, errlen, "%s at offset %zu", (const char *)msg, (size_t)off);
		return NULL;
	}
	/* JIT is an optimisation: where the platform lacks it the interpreter runs the same
	 * pattern under the same limits. */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	return re;
}

int logp_match(struct logp *p, const pcre2_code *re, const char *text, size_t len)
{
	return pcre2_match(re, (PCRE2_SPTR)text, len, 0, 0, p->md, p->mctx);
}

bool logp_group(const struct logp *p, int i, const char *text, const char **s, size_t *n)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);

	if ((uint32_t)i >= pcre2_get_ovector_count(p->md) || ov[2 * i] == PCRE2_UNSET)
		return false;
	*s = text + ov[2 * i];
	*n = ov[2 * i + 1] - ov[2 * i];
	return true;
}

/* ---- time ---- */

int logp_digits(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int64_t logp_days_from_civil(int y, int m, int d)
{
	int64_t yy = y - (m <= 2);
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* The UTC offset in effect at UTC second 't'. */
static int32_t tz_offset_at(const struct logp_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->n;

	if (tz->n == 0 || t < tz->trans[0])
		return tz->first_off;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;

		if (tz->trans[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->offs[lo];
}

int64_t logp_local_ms(const struct logp *p, int year, int mon, int day, int hour, int min,
		      int sec, int ms)
{
	int64_t local = logp_days_from_civil(year, mon, day) * 86400 + hour * 3600 + min * 60 + sec;
	/* Two steps, as mktime does: the offset at local-as-UTC, then at the corrected time. In a
	 * gap (spring forward) this lands an hour off, in an overlap on the later reading: a log
	 * line written then cannot say which it meant. */
	int32_t off = tz_offset_at(&p->tz, local);

	off = tz_offset_at(&p->tz, local - off);
	return (local - off) * 1000 + ms;
}

size_t logp_parse_iso(const struct logp *p, const char *s, size_t n, int64_t *ms)
{
	int y, mo, d, h, mi, se, frac = 0;
	size_t i = 19;

	if (n < 19 || (s[4] != '-' && s[4] != '/') || s[7] != s[4] || (s[10] != ' ' && s[10] != 'T') ||
	    s[13] != ':' || s[16] != ':')
		return 0;
	y = logp_digits(s, 4);
	mo = logp_digits(s + 5, 2);
	d = logp_digits(s + 8, 2);
	h = logp_digits(s + 11, 2);
	mi = logp_digits(s + 14, 2);
	se = logp_digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 60)
		return 0;
	if (i < n && (s[i] == '.' || s[i] == ',')) {
		int digits = 0;

		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++)
			if (digits < 3)
				frac = frac * 10 + (s[i] - '0');
		if (digits == 0)
			return 0;
		for (; digits < 3; digits++)
			frac *= 10;
	}
	if (i < n && s[i] == 'Z') {
		*ms = (logp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000 +
		      frac;
		return i + 1;
	}
	if (i + 5 <= n && (s[i] == '+' || s[i] == '-')) {
		size_t colon = s[i + 3] == ':';
		int oh = logp_digits(s + i + 1, 2);
		int om = i + 5 + colon <= n ? logp_digits(s + i + 3 + colon, 2) : -1;

		if (oh >= 0 && om >= 0) {
			int64_t off = (oh * 60 + om) * 60 * (s[i] == '-' ? -1 : 1);

			*ms = (logp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
			       off) * 1000 + frac;
			return i + 5 + colon;
		}
	}
	*ms = logp_local_ms(p, y, mo, d, h, mi, se, frac);
	return i;
}

static uint32_t be32(const unsigned char *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

/* Parse a TZif file (tzfile(5)): the version-2+ 64-bit block when present, else version 1. */
static int tz_parse(struct logp_tz *tz, const unsigned char *d, size_t len)
{
	size_t pos = 0;
	int tsize = 4;

	for (int pass = 0; pass < 2; pass++) {
		uint32_t isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt;
		size_t body;

		if (len - pos < 44 || memcmp(d + pos, "TZif", 4) != 0)
			return -EINVAL;
		isutcnt = be32(d + pos + 20);
		isstdcnt = be32(d + pos + 24);
		leapcnt = be32(d + pos + 28);
		timecnt = be32(d + pos + 32);
		typecnt = be32(d + pos + 36);
		charcnt = be32(d + pos + 40);
		if (timecnt > 100000 || typecnt == 0 || typecnt > 256 || leapcnt > 10000 ||
		    charcnt > 100000 || isutcnt > 256 || isstdcnt > 256)
			return -EINVAL;
		body = (size_t)timecnt * tsize + timecnt + typecnt * 6 + charcnt +
		       (size_t)leapcnt * (tsize + 4) + isstdcnt + isutcnt;
		if (len - pos - 44 < body)
			return -EINVAL;
		if (pass == 0 && d[pos + 4] >= '2') {
			pos += 44 + body; /* skip the 32-bit block */
			tsize = 8;
			continue;
		}
		{
			const unsigned char *t = d + pos + 44;
			const unsigned char *idx = t + (size_t)timecnt * tsize;
			const unsigned char *types = idx + timecnt;

			for (uint32_t i = 0; i < timecnt; i++)
				if (idx[i] >= typecnt)
					return -EINVAL;
			tz->trans = xcalloc(timecnt + 1, sizeof(*tz->trans));
			tz->offs = xcalloc(timecnt + 1, sizeof(*tz->offs));
			tz->n = timecnt;
			for (uint32_t i = 0; i < timecnt; i++) {
				const unsigned char *e = t + (size_t)i * tsize;

				tz->trans[i] = tsize == 8 ? (int64_t)((uint64_t)be32(e) << 32 |
								      be32(e + 4))
							  : (int64_t)(int32_t)be32(e);
				tz->offs[i] = (int32_t)be32(types + 6 * idx[i]);
			}
			/* Before the first transition: the first non-DST type (tzfile(5)). */
			tz->first_off = (int32_t)be32(types);
			for (uint32_t i = 0; i < typecnt; i++) {
				if (!types[6 * i + 4]) {
					tz->first_off = (int32_t)be32(types + 6 * i);
					break;
				}
			}
		}
		return 0;
	}
	return -EINVAL;
}

int logp_tz_load(struct logp_tz *tz, const char *name, char *err, size_t errlen)
{
	const char *dir = getenv("TZDIR");
	char path[512];
	unsigned char *data;
	ssize_t n;
	size_t len = 0;
	int fd, rc;

	memset(tz, 0, sizeof(*tz));
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
		return 0;
	if (strstr(name, "..")) {
		snprintf(err, errlen, "not a zone name");
		return -EINVAL;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc == -ENOENT ? -EINVAL : rc;
	}
	/* Zone files are a few KiB; 1 MiB is a generous cap. */
	data = xmalloc(1 << 20);
	while ((n = read(fd, data + len, (1 << 20) - len)) > 0)
		len += (size_t)n;
	close(fd);
	rc = tz_parse(tz, data, len);
	free(data);
	if (rc)
		snprintf(err, errlen, "%s is not a TZif zone file", path);
	return rc;
}

void logp_tz_release(struct logp_tz *tz)
{
	free(tz->trans);
	free(tz->offs);
	memset(tz, 0, sizeof(*tz));
}

/* ---- labels and events ---- */

char *logp_label_value(char out[LOGP_MAX_LABEL_VALUE + 1], const char *s, size_t n)
{
	size_t o = 0, i = 0;

	while (i < n) {
		size_t sz;
		long cp;

		/* printable ASCII, nearly every byte of a class name or status: no decoding */
		if ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) {
			if (o + 1 > LOGP_MAX_LABEL_VALUE)
				break;
			out[o++] = s[i++];
			continue;
		}
		cp = model_utf8_decode((const unsigned char *)s + i, n - i, &sz);

		if (cp < 0x20 || cp == 0x7f) {
			/* invalid byte or control character: one '?' */
			if (o + 1 > LOGP_MAX_LABEL_VALUE)
				break;
			out[o++] = '?';
		} else {
			if (o + sz > LOGP_MAX_LABEL_VALUE)
				break;
			memcpy(out + o, s + i, sz);
			o += sz;
		}
		i += sz;
	}
	out[o] = '\0';
	return out;
}

void logp_count(const struct logp_sink *sink, struct series *s, double delta, int64_t t_ms)
{
	series_add(s, delta);
	if (sink && sink->counted)
		sink->counted(sink->ctx, s, delta, t_ms);
}

void logp_observe(const struct logp_sink *sink, struct series *s, double v, int64_t t_ms)
{
	series_observe(s, v);
	if (sink && sink->observed)
		sink->observed(sink->ctx, s, v, t_ms);
}

/* ---- the parser ---- */

void logp_free(struct logp *p)
{
	if (!p)
		return;
	if (p->fmt && p->fmt->release)
		p->fmt->release(p);
	for (size_t i = 0; i < p->nrules; i++)
		rule_free(p->rules[i]);
	free(p->rules);
	pcre2_match_data_free(p->md);
	pcre2_match_context_free(p->mctx);
	logp_tz_release(&p->tz);
	free(p->source);
	free(p->app_root);
	free(p);
}

struct metric *logp_counter(struct registry *reg, const char *name, const char *help,
			    const char *const *label_names)
{
	struct metric *m = registry_counter(reg, name, help, label_names);

	if (m)
		metric_create_seeded(m);
	return m;
}

int logp_new(const struct config *cfg, const struct config_source *src, struct registry *reg,
	     struct logp **out, char *err, size_t errlen)
{
	struct logp *p = xcalloc(1, sizeof(*p));
	int rc;

	*out = NULL;
	p->reg = reg;
	p->source = xstrdup(src->name);
	p->fmt = logp_format_by_id(src->format);
	if (!p->fmt) {
		rc = config_source_error(cfg, src, "format", err, errlen,
					 "expected a built-in format, got number %d", (int)src->format);
		goto out_free;
	}
	if (src->app_root) {
		size_t n = strlen(src->app_root);

		while (n > 1 && src->app_root[n - 1] == '/')
			n--;
		p->app_root = xstrndup(src->app_root, n);
	}
	p->mctx = pcre2_match_context_create(NULL);
	if (!p->mctx)
		abort();
	pcre2_set_match_limit(p->mctx, LOGP_MATCH_LIMIT);
	pcre2_set_depth_limit(p->mctx, LOGP_DEPTH_LIMIT);
	/* 64 pairs: more capture groups than any built-in pattern; rules with more groups than
	 * that are refused by rule_new. */
	p->md = pcre2_match_data_create(64, NULL);
	if (!p->md)
		abort();
	rc = logp_tz_load(&p->tz, src->timezone ? src->timezone : "UTC", err, errlen);
	if (rc) {
		char why[384];

		snprintf(why, sizeof(why), "%s", err);
		/* config_parse let the name through (its shape is a zone's): the file is what is
		 * missing. The name is [A-Za-z0-9_+./-] only, safe to print as it is. */
		config_source_error(cfg, src, "timezone", err, errlen,
				    "expected UTC or a time zone with a zone file, got \"%s\": %s",
				    src->timezone, why);
		goto out_free;
	}
	p->cfg = cfg;
	p->src = src;
	rc = p->fmt->init ? p->fmt->init(p, err, errlen) : 0;
	p->cfg = NULL;
	p->src = NULL;
	if (rc)
		goto out_free;
	for (size_t i = 0; i < cfg->nrules; i++) {
		struct rule *r;

		if (strcmp(cfg->rules[i].source, src->name) != 0)
			continue;
		if (p->nrules == LOGP_MAX_RULES) {
			rc = config_rule_error(cfg, &cfg->rules[i], "source", err, errlen,
					       "expected at most %d rules per source, got more for "
					       "source %s", LOGP_MAX_RULES, src->name);
			goto out_free;
		}
		rc = rule_new(cfg, &cfg->rules[i], reg, &r, err, errlen);
		if (rc)
			goto out_free;
		p->rules = xrealloc(p->rules, (p->nrules + 1) * sizeof(*p->rules));
		p->rules[p->nrules++] = r;
	}
	*out = p;
	return 0;

out_free:
	logp_free(p);
	return rc;
}

const struct logp_format *logp_get_format(const struct logp *p)
{
	return p->fmt;
}

int logp_entry(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
	       const struct logp_sink *sink)
{
	bool matched;

	p->t_ms = fallback_ms;
	matched = p->fmt->parse(p, text, len, fallback_ms, sink);
	for (size_t i = 0; i < p->nrules; i++)
		matched |= rule_apply(p->rules[i], p, text, len, p->t_ms, sink);
	if (!matched && sink && sink->unmatched)
		sink->unmatched(sink->ctx, text, len);
	return 0;
}

int logp_check_source(const struct config *cfg, const struct config_source *src,
		      struct registry *reg, char *err, size_t errlen)
{
	struct registry *scratch = reg ? NULL : registry_new(cfg->limits.max_series_per_metric);
	struct logp *p;
	int rc;

	rc = logp_new(cfg, src, reg ? reg : scratch, &p, err, errlen);
	logp_free(p);
	registry_free(scratch);
	return rc;
}
