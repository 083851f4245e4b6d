/*
 * Prometheus text format 0.0.4 and OpenMetrics 1.0.0 from a registry visit.
 *
 * The two formats differ in a few places only: OpenMetrics escapes '"' in HELP, names a counter
 * family without its "_total" suffix (the samples keep it), prefers "1.0" over "1" in "le"
 * labels (its canonical numbers), and ends with "# EOF".
 */
#include "exporters/exporters.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/model.h"

struct expo_ctx {
	struct buf *out;
	enum exposition_format fmt;
};

/*
 * Append 's' escaping backslash and newline, and '"' when 'quote'. Bytes that are not valid
 * UTF-8 become U+FFFD: Prometheus refuses a whole scrape over one invalid label value.
 */
static int put_escaped(struct buf *out, const char *str, bool quote)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t n = strlen(str), run = 0, i = 0;
	int err;

	while (i < n) {
		unsigned char c = s[i];
		const char *rep = NULL;
		size_t len = 1;

		if (c == '\\')
			rep = "\\\\";
		else if (c == '\n')
			rep = "\\n";
		else if (c == '"' && quote)
			rep = "\\\"";
		else if (c >= 0x80 && model_utf8_decode(s + i, n - i, &len) < 0)
			rep = "\xef\xbf\xbd"; /* len is 1: one replacement per invalid byte */
		if (!rep) {
			i += len;
			run += len;
			continue;
		}
		err = buf_append(out, s + i - run, run);
		if (err)
			return err;
		err = buf_puts(out, rep);
		if (err)
			return err;
		run = 0;
		i += len;
	}
	return buf_append(out, s + i - run, run);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static int expo_family(void *vctx, const struct metric_info *info)
{
	struct expo_ctx *ctx = vctx;
	struct buf *out = ctx->out;
	size_t namelen = strlen(info->name);
	int err;

	if (ctx->fmt == EXPOSITION_OPENMETRICS && info->type == METRIC_COUNTER &&
	    has_suffix(info->name, "_total"))
		namelen -= strlen("_total");

	err = buf_printf(out, "# HELP %.*s ", (int)namelen, info->name);
	if (!err)
		err = put_escaped(out, info->help ? info->help : "",
				  ctx->fmt == EXPOSITION_OPENMETRICS);
	if (!err)
		err = buf_printf(out, "\n# TYPE %.*s %s\n", (int)namelen, info->name,
				 model_metric_type_name(info->type));
	return err;
}

/* OpenMetrics' canonical form of a whole number in "le" is "1.0", not "1". */
static int put_le_value(struct buf *out, const char *v)
{
	int err = put_escaped(out, v, true);

	if (err)
		return err;
	for (const char *p = v; *p; p++)
		if (!isdigit((unsigned char)*p) && *p != '-')
			return 0;
	return buf_puts(out, ".0");
}

static int expo_sample(void *vctx, const struct metric_info *info, const struct sample_view *s)
{
	struct expo_ctx *ctx = vctx;
	struct buf *out = ctx->out;
	bool om = ctx->fmt == EXPOSITION_OPENMETRICS;
	char num[FMT_DOUBLE_MAX];
	int err;

	err = buf_puts(out, s->name);
	if (!err && om && info->type == METRIC_COUNTER && !has_suffix(s->name, "_total"))
		err = buf_puts(out, "_total");
	for (size_t i = 0; !err && i < s->nlabels; i++) {
		err = buf_printf(out, "%s%s=\"", i ? "," : "{", s->label_names[i]);
		if (err)
			break;
		if (om && info->type == METRIC_HISTOGRAM && strcmp(s->label_names[i], "le") == 0)
			err = put_le_value(out, s->label_values[i]);
		else
			err = put_escaped(out, s->label_values[i], true);
		if (!err)
			err = buf_putc(out, '"');
	}
	if (!err && s->nlabels)
		err = buf_putc(out, '}');
	if (!err)
		err = buf_printf(out, " %s\n", fmt_double(num, s->value));
	return err;
}

int exposition_write(struct registry *reg, enum exposition_format fmt, struct buf *out)
{
	struct registry_visitor v = { .family = expo_family, .sample = expo_sample };
	struct expo_ctx ctx = { .out = out, .fmt = fmt };
	int err;

	err = registry_visit(reg, &v, &ctx);
	if (!err && fmt == EXPOSITION_OPENMETRICS)
		err = buf_puts(out, "# EOF\n");
	return err;
}

const char *exposition_content_type(enum exposition_format fmt)
{
	if (fmt == EXPOSITION_OPENMETRICS)
		return "application/openmetrics-text; version=1.0.0; charset=utf-8";
	return "text/plain; version=0.0.4; charset=utf-8";
}

/* Trim spaces and tabs around [*s, *e). */
static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

static bool token_is(const char *s, const char *e, const char *word)
{
	size_t n = strlen(word);

	return (size_t)(e - s) == n && strncasecmp(s, word, n) == 0;
}

enum media_kind { MEDIA_NONE, MEDIA_TEXT, MEDIA_OPENMETRICS };

/*
 * One media range "type/subtype;param=value;q=0.5" in [s, e): which of our formats it accepts
 * and with what quality.
 */
static enum media_kind parse_media_range(const char *s, const char *e, double *q)
{
	const char *semi = memchr(s, ';', (size_t)(e - s));
	const char *type_end = semi ? semi : e;
	const char *ts = s, *te = type_end;
	const char *version = NULL, *version_end = NULL;
	enum media_kind kind;

	*q = 1.0;
	trim(&ts, &te);
	if (token_is(ts, te, "application/openmetrics-text"))
		kind = MEDIA_OPENMETRICS;
	else if (token_is(ts, te, "text/plain") || token_is(ts, te, "text/*") ||
		 token_is(ts, te, "*/*"))
		kind = MEDIA_TEXT;
	else
		return MEDIA_NONE;

	while (semi) {
		const char *ks = semi + 1, *ke, *vs, *ve, *eq;
		char num[32];

		semi = memchr(ks, ';', (size_t)(e - ks));
		ve = semi ? semi : e;
		eq = memchr(ks, '=', (size_t)(ve - ks));
		if (!eq)
			continue;
		ke = eq;
		vs = eq + 1;
		trim(&ks, &ke);
		trim(&vs, &ve);
		if (token_is(ks, ke, "q")) {
			size_t n = (size_t)(ve - vs);
			char *end;

			if (n == 0 || n >= sizeof(num))
				return MEDIA_NONE;
			memcpy(num, vs, n);
			num[n] = '\0';
			*q = strtod(num, &end);
			if (*end || !(*q >= 0 && *q <= 1))
				return MEDIA_NONE;
		} else if (token_is(ks, ke, "version")) {
			version = vs;
			version_end = ve;
		}
	}
	if (version) {
		if (kind == MEDIA_OPENMETRICS && !token_is(version, version_end, "1.0.0") &&
		    !token_is(version, version_end, "0.0.1"))
			return MEDIA_NONE;
		if (kind == MEDIA_TEXT && !token_is(version, version_end, "0.0.4"))
			return MEDIA_NONE;
	}
	return kind;
}

enum exposition_format exposition_negotiate(const char *accept)
{
	double best_om = 0, best_text = 0;
	size_t first_om = SIZE_MAX, first_text = SIZE_MAX;
	const char *s = accept;
	size_t idx = 0;

	if (!accept)
		return EXPOSITION_TEXT;
	/* Accept headers from real scrapers are short; a pathological one is just plain text. */
	for (; *s && idx < 64; idx++) {
		const char *comma = strchr(s, ',');
		const char *e = comma ? comma : s + strlen(s);
		double q;

		switch (parse_media_range(s, e, &q)) {
		case MEDIA_OPENMETRICS:
			if (q > best_om) {
				best_om = q;
				first_om = idx;
			}
			break;
		case MEDIA_TEXT:
			if (q > best_text) {
				best_text = q;
				first_text = idx;
			}
			break;
		case MEDIA_NONE:
			break;
		}
		if (!comma)
			break;
		s = comma + 1;
	}
	if (best_om > 0 && (best_om > best_text || (best_om == best_text && first_om < first_text)))
		return EXPOSITION_OPENMETRICS;
	return EXPOSITION_TEXT;
}
