/*
 * The import parser: Prometheus text format 0.0.4 and OpenMetrics 1.0.0 with timestamps, as a
 * streaming function of bytes to callbacks. Pure: no store, no I/O, so tests and the fuzz target
 * drive it on buffers.
 *
 * It is tolerant where tolerance loses nothing (blank lines, spaces between tokens, a trailing \r,
 * a trailing comma in braces) and strict where a guess would store wrong data: values,
 * timestamps, label syntax, and input that ends part-way (a last line without a newline, or
 * OpenMetrics without `# EOF`). docs/import.md lists what is accepted and where it differs from
 * promtool.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/model.h"
#include "store/import.h"

#define SHOWN_MAX 40 /* bytes of an offending token a message quotes */

/* ---- families: # TYPE name type ---- */

enum fam_type {
	FAM_COUNTER,
	FAM_GAUGE,
	FAM_HISTOGRAM,
	FAM_GAUGEHISTOGRAM,
	FAM_SUMMARY,
	FAM_UNTYPED, /* also OpenMetrics unknown */
	FAM_INFO,
	FAM_STATESET,
};

struct family {
	char *name;
	enum fam_type type;
};

struct store_import_parser {
	enum store_import_format fmt;
	int (*sample)(void *ctx, size_t line, const struct store_import_sample *s);
	void (*malformed)(void *ctx, size_t line, const char *msg);
	void *ctx;

	struct buf line;          /* the line being assembled */
	bool overlong;            /* the current line passed STORE_IMPORT_MAX_LINE: skip to \n */
	size_t lineno;            /* lines completed so far */
	bool saw_eof;             /* OpenMetrics "# EOF" seen */
	bool om_hint;             /* AUTO: an OpenMetrics-only construct was seen */
	bool detected;            /* AUTO decided from the first timestamp's look alone */
	enum store_import_ending ending; /* set by finish() */

	struct family *fams;      /* open hash on name, fmask + 1 slots */
	size_t fmask, nfams;

	struct buf values;        /* names and decoded values of the current line, NUL-separated */
	size_t noff[STORE_IMPORT_MAX_LABELS + 1];
	size_t voff[STORE_IMPORT_MAX_LABELS + 1];
	struct label labels[STORE_IMPORT_MAX_LABELS + 1];
	char err[256];
	char shown[4 * SHOWN_MAX + 4]; /* the offending token of the message in err, escaped */
};

static uint64_t name_hash(const char *s, size_t n)
{
	return model_fnv1a(MODEL_FNV1A_INIT, s, n);
}

static struct family *fam_find(struct store_import_parser *p, const char *name, size_t n)
{
	if (!p->fams)
		return NULL;
	for (size_t i = name_hash(name, n) & p->fmask;; i = (i + 1) & p->fmask) {
		struct family *f = &p->fams[i];

		if (!f->name)
			return NULL;
		if (strlen(f->name) == n && !memcmp(f->name, name, n))
			return f;
	}
}

static void fam_set(struct store_import_parser *p, const char *name, size_t n, enum fam_type t)
{
	struct family *f = fam_find(p, name, n);

	if (f) {
		f->type = t;
		return;
	}
	if (p->nfams >= STORE_IMPORT_MAX_FAMILIES)
		return;
	if (!p->fams || (p->nfams + 1) * 2 > p->fmask + 1) {
		size_t oldn = p->fams ? p->fmask + 1 : 0, newn = oldn ? oldn * 2 : 64;
		struct family *old = p->fams;

		p->fams = xcalloc(newn, sizeof(*p->fams));
		p->fmask = newn - 1;
		for (size_t i = 0; i < oldn; i++) {
			size_t j;

			if (!old[i].name)
				continue;
			for (j = name_hash(old[i].name, strlen(old[i].name)) & p->fmask; p->fams[j].name;
			     j = (j + 1) & p->fmask)
				;
			p->fams[j] = old[i];
		}
		free(old);
	}
	for (size_t i = name_hash(name, n) & p->fmask;; i = (i + 1) & p->fmask) {
		if (!p->fams[i].name) {
			p->fams[i].name = xstrndup(name, n);
			p->fams[i].type = t;
			p->nfams++;
			return;
		}
	}
}

static bool has_suffix(const char *s, size_t n, const char *suf, size_t *base)
{
	size_t k = strlen(suf);

	if (n <= k || memcmp(s + n - k, suf, k))
		return false;
	*base = n - k;
	return true;
}

/* The store type of a sample named 'name' (n bytes), from its family's # TYPE. */
static enum metric_type sample_type(struct store_import_parser *p, const char *name, size_t n)
{
	static const struct {
		const char *suffix;
		unsigned types; /* bit per fam_type the suffix belongs to */
	} sufs[] = {
		{ "_bucket", 1u << FAM_HISTOGRAM | 1u << FAM_GAUGEHISTOGRAM },
		{ "_sum", 1u << FAM_HISTOGRAM | 1u << FAM_SUMMARY },
		{ "_count", 1u << FAM_HISTOGRAM | 1u << FAM_SUMMARY },
		{ "_gsum", 1u << FAM_GAUGEHISTOGRAM },
		{ "_gcount", 1u << FAM_GAUGEHISTOGRAM },
		{ "_total", 1u << FAM_COUNTER },
		{ "_created", 1u << FAM_COUNTER | 1u << FAM_HISTOGRAM | 1u << FAM_SUMMARY },
		{ "_info", 1u << FAM_INFO },
	};
	struct family *f = fam_find(p, name, n);
	size_t base;

	for (size_t i = 0; !f && i < sizeof(sufs) / sizeof(sufs[0]); i++) {
		struct family *g;

		if (!has_suffix(name, n, sufs[i].suffix, &base))
			continue;
		g = fam_find(p, name, base);
		if (g && (sufs[i].types & (1u << g->type)))
			f = g;
	}
	if (!f)
		return METRIC_GAUGE;
	switch (f->type) {
	case FAM_COUNTER:
		return METRIC_COUNTER;
	case FAM_HISTOGRAM:
	case FAM_GAUGEHISTOGRAM:
		return METRIC_HISTOGRAM;
	case FAM_SUMMARY:
		return METRIC_SUMMARY;
	case FAM_UNTYPED:
		return METRIC_UNTYPED;
	default:
		return METRIC_GAUGE;
	}
}

/* ---- small lexing helpers over one line ---- */

struct cursor {
	const char *s;
	size_t len, pos;
};

static bool c_eol(const struct cursor *c)
{
	return c->pos >= c->len;
}

static char c_peek(const struct cursor *c)
{
	return c->pos < c->len ? c->s[c->pos] : '\0';
}

static void c_skip_blank(struct cursor *c)
{
	while (c->pos < c->len && (c->s[c->pos] == ' ' || c->s[c->pos] == '\t'))
		c->pos++;
}

/*
 * The bytes a name token can hold (a lexer's boundary, not the name rule): letters, digits, '_',
 * and ':' in metric names. Whether the token is a valid name is model.h's rule.
 */
static bool name_byte(char ch, bool metric)
{
	return ch == '_' || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	       (ch >= '0' && ch <= '9') || (metric && ch == ':');
}

/* A metric name (metric true) or label name at the cursor; returns its length (0: none, and the
 * cursor does not move). */
static size_t c_name(struct cursor *c, bool metric)
{
	size_t start = c->pos, end = start;

	while (end < c->len && name_byte(c->s[end], metric))
		end++;
	if (metric ? !model_metric_name_valid(c->s + start, end - start)
		   : !model_label_name_valid(c->s + start, end - start))
		return 0;
	c->pos = end;
	return end - start;
}

/* The next blank-separated token; returns its length. */
static size_t c_token(struct cursor *c, const char **tok)
{
	*tok = c->s + c->pos;
	while (c->pos < c->len && c->s[c->pos] != ' ' && c->s[c->pos] != '\t')
		c->pos++;
	return (size_t)(c->s + c->pos - *tok);
}

/* A sample value as Go's strconv.ParseFloat reads the forms exporters write. */
static bool parse_value(const char *s, size_t n, double *v)
{
	char tmp[64], *end;

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (!strcasecmp(tmp, "nan")) {
		*v = NAN;
		return true;
	}
	if (!strcasecmp(tmp, "inf") || !strcasecmp(tmp, "+inf") || !strcasecmp(tmp, "infinity") ||
	    !strcasecmp(tmp, "+infinity")) {
		*v = INFINITY;
		return true;
	}
	if (!strcasecmp(tmp, "-inf") || !strcasecmp(tmp, "-infinity")) {
		*v = -INFINITY;
		return true;
	}
	/* Decimal digits, sign, point and exponent only: strtod would also take hex and "nan(x)". */
	for (size_t i = 0; i < n; i++)
		if (!strchr("0123456789+-.eE", tmp[i]))
			return false;
	errno = 0;
	*v = strtod(tmp, &end);
	return *end == '\0' && end != tmp && !(errno == ERANGE && isinf(*v));
}

/* Text format: integer milliseconds. */
static bool parse_ts_ms(const char *s, size_t n, int64_t *t)
{
	char tmp[32], *end;
	long long x;

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	for (size_t i = (tmp[0] == '-' || tmp[0] == '+'); i < n; i++)
		if (tmp[i] < '0' || tmp[i] > '9')
			return false;
	errno = 0;
	x = strtoll(tmp, &end, 10);
	if (errno || *end || end == tmp)
		return false;
	*t = x;
	return true;
}

/* OpenMetrics: float seconds. Plain decimals are converted exactly (rounded to the millisecond)
 * so that 1700000000.123 is 1700000000123, not one off through binary floating point. */
static bool parse_ts_seconds(const char *s, size_t n, int64_t *t)
{
	size_t i = 0;
	bool neg = false, plain = true;
	int64_t secs = 0, frac = 0;
	int fd = 0, digits = 0;

	if (n && (s[0] == '-' || s[0] == '+'))
		neg = s[i++] == '-';
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
		if (secs > INT64_MAX / 10000) {
			plain = false;
			break;
		}
		secs = secs * 10 + (s[i] - '0');
	}
	if (plain && i < n && s[i] == '.') {
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++, fd++) {
			if (fd < 3)
				frac = frac * 10 + (s[i] - '0');
			else if (fd == 3 && s[i] >= '5')
				frac++; /* carries into the seconds below when frac reaches 1000 */
		}
		for (int k = fd < 3 ? fd : 3; k < 3; k++)
			frac *= 10;
	}
	if (plain && i == n && (digits || fd)) {
		*t = secs * 1000 + frac;
		if (neg)
			*t = -*t;
		return true;
	}
	{
		double d;

		if (!parse_value(s, n, &d) || !isfinite(d) || fabs(d) > 9.2e15)
			return false;
		*t = llround(d * 1000.0);
		return true;
	}
}

/* ---- lines ---- */

/* Up to SHOWN_MAX bytes of input for a message, control bytes and invalid UTF-8 as \xNN
 * (buf_escape): a line may hold anything, and the message goes to a terminal. */
static const char *shown(struct store_import_parser *p, const char *s, size_t n)
{
	return buf_escape(p->shown, sizeof(p->shown), s, n > SHOWN_MAX ? SHOWN_MAX : n);
}

static void __attribute__((format(printf, 2, 3))) bad(struct store_import_parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, sizeof(p->err), fmt, ap);
	va_end(ap);
	p->malformed(p->ctx, p->lineno, p->err);
}

static int parse_comment(struct store_import_parser *p, struct cursor *c)
{
	static const struct {
		const char *word;
		enum fam_type type;
		bool om_only;
		bool text_only;
	} types[] = {
		{ "counter", FAM_COUNTER, false, false },
		{ "gauge", FAM_GAUGE, false, false },
		{ "histogram", FAM_HISTOGRAM, false, false },
		{ "summary", FAM_SUMMARY, false, false },
		{ "untyped", FAM_UNTYPED, false, true },
		{ "unknown", FAM_UNTYPED, true, false },
		{ "gaugehistogram", FAM_GAUGEHISTOGRAM, true, false },
		{ "info", FAM_INFO, true, false },
		{ "stateset", FAM_STATESET, true, false },
	};
	const char *kw, *tok;
	size_t kwn, n, name_at, tn;

	c->pos = 1;
	c_skip_blank(c);
	kwn = c_token(c, &kw);
	if (kwn == 3 && !memcmp(kw, "EOF", 3)) {
		c_skip_blank(c);
		if (!c_eol(c)) {
			bad(p, "unexpected text after # EOF");
			return 0;
		}
		p->saw_eof = true;
		return 0;
	}
	if (!((kwn == 4 && (!memcmp(kw, "TYPE", 4) || !memcmp(kw, "HELP", 4) ||
			    !memcmp(kw, "UNIT", 4))))) {
		/* A plain comment: allowed by the text format, and harmless in OpenMetrics. */
		return 0;
	}
	c_skip_blank(c);
	name_at = c->pos;
	n = c_name(c, true);
	if (!n || (!c_eol(c) && c_peek(c) != ' ' && c_peek(c) != '\t')) {
		bad(p, "# %.*s: invalid metric name", (int)kwn, kw);
		return 0;
	}
	if (kw[0] == 'H')
		return 0;
	if (kw[0] == 'U') {
		p->om_hint = true;
		return 0;
	}
	c_skip_blank(c);
	tn = c_token(c, &tok);
	c_skip_blank(c);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strlen(types[i].word) != tn || memcmp(types[i].word, tok, tn))
			continue;
		if (!c_eol(c))
			break;
		if ((types[i].om_only && p->fmt == STORE_IMPORT_TEXT) ||
		    (types[i].text_only && p->fmt == STORE_IMPORT_OPENMETRICS)) {
			bad(p, "# TYPE %.*s: type %.*s is not valid in this format", (int)n,
			    c->s + name_at, (int)tn, tok);
			return 0;
		}
		if (types[i].om_only)
			p->om_hint = true;
		fam_set(p, c->s + name_at, n, types[i].type);
		return 0;
	}
	bad(p, "# TYPE %.*s: unknown type \"%s\"", (int)n, c->s + name_at, shown(p, tok, tn));
	return 0;
}

/* Decode a quoted label value at the cursor (on the opening quote) into p->values. */
static bool parse_label_value(struct store_import_parser *p, struct cursor *c)
{
	size_t start = p->values.len;

	c->pos++;
	for (;;) {
		char ch;

		if (c_eol(c)) {
			bad(p, "unterminated label value");
			return false;
		}
		ch = c->s[c->pos++];
		if (ch == '"')
			break;
		if (ch == '\\') {
			char e = c_peek(c);

			if (c_eol(c)) {
				bad(p, "unterminated label value");
				return false;
			}
			c->pos++;
			/*
			 * Both formats define \\, \" and \n. Any other backslash is kept as written,
			 * with the character after it: the text format 0.0.4 defines no other escape and
			 * Prometheus's parsers keep them; the OpenMetrics grammar allows a backslash before
			 * any normal character, and promtool keeps it (docs/import.md).
			 */
			if (e == 'n') {
				ch = '\n';
			} else if (e == '\\' || e == '"') {
				ch = e;
			} else {
				buf_putc(&p->values, '\\');
				ch = e;
			}
		}
		if (ch == '\0') {
			bad(p, "label value contains a NUL byte");
			return false;
		}
		buf_putc(&p->values, ch);
	}
	if (!model_utf8_valid(p->values.data + start, p->values.len - start)) {
		bad(p, "invalid UTF-8 in a label value");
		return false;
	}
	buf_putc(&p->values, '\0');
	return true;
}

static bool parse_labels(struct store_import_parser *p, struct cursor *c, size_t *nl)
{
	c->pos++; /* '{' */
	for (;;) {
		size_t at, n;

		c_skip_blank(c);
		if (c_peek(c) == '}') {
			c->pos++;
			return true;
		}
		at = c->pos;
		n = c_name(c, false);
		if (!n) {
			if (c_eol(c))
				bad(p, "unexpected end of line inside braces");
			else
				bad(p, "expected a label name at column %zu", at + 1);
			return false;
		}
		if (*nl >= STORE_IMPORT_MAX_LABELS) {
			bad(p, "too many labels (at most %d)", STORE_IMPORT_MAX_LABELS);
			return false;
		}
		if (n == 8 && !memcmp(c->s + at, "__name__", 8)) {
			bad(p, "label __name__ inside braces");
			return false;
		}
		for (size_t i = 1; i <= *nl; i++) {
			const char *prev = p->values.data + p->noff[i];

			if (strlen(prev) == n && !memcmp(prev, c->s + at, n)) {
				bad(p, "duplicate label name \"%.*s\"", (int)n, c->s + at);
				return false;
			}
		}
		p->noff[*nl + 1] = p->values.len;
		buf_append(&p->values, c->s + at, n);
		buf_putc(&p->values, '\0');
		p->voff[*nl + 1] = p->values.len;
		(*nl)++;
		c_skip_blank(c);
		if (c_peek(c) != '=') {
			bad(p, "expected '=' after label name \"%.*s\"", (int)n, c->s + at);
			return false;
		}
		c->pos++;
		c_skip_blank(c);
		if (c_peek(c) != '"') {
			bad(p, "expected a quoted value for label \"%.*s\"", (int)n, c->s + at);
			return false;
		}
		if (!parse_label_value(p, c))
			return false;
		c_skip_blank(c);
		if (c_peek(c) == ',') {
			c->pos++;
			continue;
		}
		if (c_peek(c) == '}') {
			c->pos++;
			return true;
		}
		bad(p, c_eol(c) ? "unexpected end of line inside braces"
				: "expected ',' or '}' after a label value");
		return false;
	}
}

/* AUTO: decide the format at the first sample, from its timestamp and what came before. */
static void decide_format(struct store_import_parser *p, const char *ts, size_t n)
{
	bool integer = n > 0;
	int64_t t;

	for (size_t i = (n && (ts[0] == '-' || ts[0] == '+')); i < n; i++)
		if (ts[i] < '0' || ts[i] > '9')
			integer = false;
	if (p->om_hint || !integer || (parse_ts_ms(ts, n, &t) && t > -100000000000LL &&
				       t < 100000000000LL))
		p->fmt = STORE_IMPORT_OPENMETRICS;
	else
		p->fmt = STORE_IMPORT_TEXT;
}

/*
 * An OpenMetrics exemplar after a sample (" # {labels} value [timestamp]"), checked as promtool
 * checks it and then dropped (the store keeps no exemplars): a malformed one, or one on a sample
 * that cannot carry exemplars (only a counter's _total and a histogram's _bucket can), makes the
 * line malformed rather than being ignored. 'name' is the sample's metric name; 'nl' the labels
 * parsed so far (the exemplar's are parsed after them and then forgotten).
 */
static bool parse_exemplar(struct store_import_parser *p, struct cursor *c, const char *name,
			   size_t nlen, size_t nl)
{
	size_t base, n, keep = p->values.len, enl = nl;
	struct family *f = NULL;
	const char *tok;
	double v;
	int64_t t;

	if (has_suffix(name, nlen, "_total", &base))
		f = fam_find(p, name, base);
	if (!(f && f->type == FAM_COUNTER) && has_suffix(name, nlen, "_bucket", &base)) {
		f = fam_find(p, name, base);
		if (f && f->type != FAM_HISTOGRAM && f->type != FAM_GAUGEHISTOGRAM)
			f = NULL;
	}
	if (!f || (f->type != FAM_COUNTER && f->type != FAM_HISTOGRAM &&
		   f->type != FAM_GAUGEHISTOGRAM)) {
		bad(p, "metric name %.*s does not support exemplars", (int)nlen, name);
		return false;
	}
	c->pos++; /* '#' */
	if (c_peek(c) != ' ') {
		bad(p, "expected a space after '#' before the exemplar");
		return false;
	}
	c_skip_blank(c);
	if (c_peek(c) != '{') {
		bad(p, "expected '{' to open the exemplar's labels");
		return false;
	}
	if (!parse_labels(p, c, &enl))
		return false;
	p->values.len = keep; /* the exemplar's labels are not the sample's */
	c_skip_blank(c);
	if (c_eol(c)) {
		bad(p, "exemplar has no value");
		return false;
	}
	n = c_token(c, &tok);
	if (!parse_value(tok, n, &v)) {
		bad(p, "invalid exemplar value \"%s\"", shown(p, tok, n));
		return false;
	}
	c_skip_blank(c);
	if (!c_eol(c)) {
		n = c_token(c, &tok);
		if (!parse_ts_seconds(tok, n, &t)) {
			bad(p, "invalid exemplar timestamp \"%s\"", shown(p, tok, n));
			return false;
		}
		c_skip_blank(c);
		if (!c_eol(c)) {
			bad(p, "unexpected text after the exemplar");
			return false;
		}
	}
	return true;
}

static int parse_sample(struct store_import_parser *p, struct cursor *c)
{
	struct store_import_sample s;
	size_t n, nl = 0, after_name, name_at, name_len;
	const char *tok;

	buf_reset(&p->values);
	name_at = c->pos;
	n = c_name(c, true);
	if (!n) {
		bad(p, "expected a metric name or a comment");
		return 0;
	}
	/* AUTO: "# TYPE x counter" then "x_total" is how OpenMetrics names a counter's sample. */
	if (p->fmt == STORE_IMPORT_AUTO) {
		size_t base;
		struct family *f;

		if (has_suffix(c->s + name_at, n, "_total", &base) &&
		    !fam_find(p, c->s + name_at, n) && (f = fam_find(p, c->s + name_at, base)) &&
		    f->type == FAM_COUNTER)
			p->om_hint = true;
	}
	name_len = n;
	buf_puts(&p->values, "__name__");
	buf_putc(&p->values, '\0');
	p->noff[0] = 0;
	p->voff[0] = p->values.len;
	buf_append(&p->values, c->s + name_at, n);
	buf_putc(&p->values, '\0');
	after_name = c->pos;
	c_skip_blank(c);
	if (c_peek(c) == '{') {
		if (!parse_labels(p, c, &nl))
			return 0;
		after_name = c->pos;
		c_skip_blank(c);
	}
	if (c_eol(c)) {
		bad(p, "sample has no value");
		return 0;
	}
	if (c->pos == after_name) {
		size_t size;

		model_utf8_decode((const unsigned char *)c->s + c->pos, c->len - c->pos, &size);
		bad(p, "unexpected character '%s' after the metric name",
		    shown(p, c->s + c->pos, size));
		return 0;
	}
	n = c_token(c, &tok);
	if (!parse_value(tok, n, &s.v)) {
		bad(p, "invalid sample value \"%s\"", shown(p, tok, n));
		return 0;
	}
	c_skip_blank(c);
	if (c_eol(c) || c_peek(c) == '#') {
		bad(p, "sample has no timestamp; import needs a timestamp on every sample");
		return 0;
	}
	n = c_token(c, &tok);
	if (p->fmt == STORE_IMPORT_AUTO) {
		/* Decided by this timestamp's look alone, unless OpenMetrics syntax came before. */
		p->detected = !p->om_hint;
		decide_format(p, tok, n);
	}
	if (p->fmt == STORE_IMPORT_TEXT ? !parse_ts_ms(tok, n, &s.t_ms)
					: !parse_ts_seconds(tok, n, &s.t_ms)) {
		bad(p, "invalid timestamp \"%s\" (%s)", shown(p, tok, n),
		    p->fmt == STORE_IMPORT_TEXT ? "text format: integer milliseconds"
						: "OpenMetrics: seconds");
		return 0;
	}
	/* Detection looked at the first timestamp only: a later timestamp that only makes sense as
	 * milliseconds would land after the year 5138 as seconds. Refuse it rather than store a
	 * sample nobody wrote (an explicit --format openmetrics, or OpenMetrics syntax such as a
	 * counter's _total sample, keeps promtool's reading). */
	if (p->detected && p->fmt == STORE_IMPORT_OPENMETRICS && s.t_ms >= 100000000000000LL) {
		bad(p, "timestamp \"%s\" is after the year 5138 as OpenMetrics seconds: the input was "
		    "detected as OpenMetrics at its first sample; give --format text if its timestamps "
		    "are milliseconds", shown(p, tok, n));
		return 0;
	}
	c_skip_blank(c);
	if (!c_eol(c) && !(p->fmt == STORE_IMPORT_OPENMETRICS && c_peek(c) == '#')) {
		bad(p, "unexpected text after the timestamp");
		return 0;
	}
	if (!c_eol(c) && !parse_exemplar(p, c, c->s + name_at, name_len, nl))
		return 0;
	for (size_t i = 0; i <= nl; i++) {
		p->labels[i].name = p->values.data + p->noff[i];
		p->labels[i].value = p->values.data + p->voff[i];
	}
	s.labels = p->labels;
	s.nlabels = nl + 1;
	s.type = sample_type(p, p->labels[0].value, strlen(p->labels[0].value));
	return p->sample(p->ctx, p->lineno, &s);
}

static int parse_line(struct store_import_parser *p, const char *s, size_t len)
{
	struct cursor c = { s, len, 0 };

	if (len && s[len - 1] == '\r')
		c.len = --len;
	if (p->saw_eof) {
		if (len)
			bad(p, "content after # EOF");
		return 0;
	}
	c_skip_blank(&c);
	if (c_eol(&c))
		return 0;
	if (memchr(s, '\0', len)) {
		bad(p, "line contains a NUL byte");
		return 0;
	}
	if (c.pos == 0 && s[0] == '#')
		return parse_comment(p, &c);
	return parse_sample(p, &c);
}

struct store_import_parser *store_import_parser_new(
	enum store_import_format fmt,
	int (*sample)(void *ctx, size_t line, const struct store_import_sample *s),
	void (*malformed)(void *ctx, size_t line, const char *msg), void *ctx)
{
	struct store_import_parser *p = xcalloc(1, sizeof(*p));

	p->fmt = fmt;
	p->sample = sample;
	p->malformed = malformed;
	p->ctx = ctx;
	buf_init(&p->line, STORE_IMPORT_MAX_LINE);
	buf_init(&p->values, STORE_IMPORT_MAX_LINE + 2 * (STORE_IMPORT_MAX_LABELS + 1));
	return p;
}

int store_import_parser_feed(struct store_import_parser *p, const void *data, size_t len)
{
	const char *s = data, *end = s + len;
	int rc;

	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		size_t n = (size_t)((nl ? nl : end) - s);

		if (!p->overlong && buf_append(&p->line, s, n))
			p->overlong = true;
		s += n;
		if (!nl)
			break;
		s++;
		p->lineno++;
		rc = 0;
		if (p->overlong)
			bad(p, "line longer than %zu bytes", STORE_IMPORT_MAX_LINE);
		else
			rc = parse_line(p, p->line.data ? p->line.data : "", p->line.len);
		buf_reset(&p->line);
		p->overlong = false;
		if (rc)
			return rc;
	}
	return 0;
}

int store_import_parser_finish(struct store_import_parser *p)
{
	const char *s = p->line.data;
	size_t len = p->line.len, i = 0;
	bool cut = false;
	int rc = 0;

	if (len || p->overlong) {
		p->lineno++;
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r'))
			i++;
		if (p->overlong)
			bad(p, "line longer than %zu bytes", STORE_IMPORT_MAX_LINE);
		else if (i == len)
			; /* blank: nothing was cut */
		else if (p->saw_eof || s[0] == '#')
			/* No sample to invent: content after # EOF is reported as such, a comment (and
			 * OpenMetrics's "# EOF", whose final newline is optional) parses as usual. */
			rc = parse_line(p, s, len);
		else
			cut = true;
	}
	/*
	 * A sample line without its newline may have been cut anywhere (inside its timestamp, say):
	 * both formats end every line with a newline, so it is never imported. OpenMetrics also
	 * ends with "# EOF": without it the input is truncated, though its complete lines before
	 * are imported (with exit 65), as elsewhere only the malformed line is skipped.
	 */
	if (!rc && p->fmt == STORE_IMPORT_OPENMETRICS && !p->saw_eof) {
		size_t lines = p->lineno;

		/* An empty input is reported at line 1 (there is no line 0), yet has no line. */
		if (!lines)
			p->lineno = 1;
		p->ending = cut ? STORE_IMPORT_END_CUT : STORE_IMPORT_END_NO_EOF;
		if (cut)
			bad(p, "truncated input: it ends inside this line, without a newline and "
			       "without # EOF; the line is not imported");
		else
			bad(p, "truncated input: OpenMetrics ends with \"# EOF\", and this input "
			       "stops after this line without it");
		p->lineno = lines;
	} else if (cut) {
		p->ending = STORE_IMPORT_END_CUT;
		bad(p, "the input ends inside this line (no newline at the end): it may be cut "
		       "off, so it is not imported");
	}
	buf_reset(&p->line);
	p->overlong = false;
	return rc;
}

enum store_import_ending store_import_parser_ending(const struct store_import_parser *p)
{
	return p->ending;
}

enum store_import_format store_import_parser_format(const struct store_import_parser *p)
{
	return p->fmt;
}

size_t store_import_parser_lines(const struct store_import_parser *p)
{
	return p->lineno;
}

void store_import_parser_free(struct store_import_parser *p)
{
	if (!p)
		return;
	for (size_t i = 0; p->fams && i <= p->fmask; i++)
		free(p->fams[i].name);
	free(p->fams);
	buf_release(&p->line);
	buf_release(&p->values);
	free(p);
}
