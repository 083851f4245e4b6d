/*
 * Laravel's laravel.log (Monolog's LineFormatter with stack traces):
 *
 *   [2026-11-27 17:20:00] production.ERROR: message {"exception":"[object] (Class(code: N):
 *   message at /path/File.php:12)
 *   [stacktrace]
 *   #0 /path/File.php(34): Other\\Class->method()
 *   ...
 *   [previous exception] [object] (Inner(code: N): ... )
 *   "}
 *
 * The exception sits inside the JSON context, so its class and message are JSON-escaped there
 * ("Illuminate\\Database\\QueryException"): they are unescaped before they become labels (mtail
 * keeps the doubled backslashes, ../shared/ANCHORS.md).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

#define LARAVEL_MAX_CLASS 256
#define LARAVEL_MAX_PREVIOUS 8

static const char *const laravel_levels[] = { "debug",    "info",  "notice", "warning",
					      "error",    "critical", "alert", "emergency" };
#define NLEVELS (sizeof(laravel_levels) / sizeof(laravel_levels[0]))

struct laravel_state {
	pcre2_code *head;
	struct metric *entries;
	struct metric *exceptions;
	struct series *by_level[NLEVELS]; /* looked up once: the hot path adds to a pointer */
	/* Scratch for one exception (class, message, previous classes), reused from entry to entry
	 * so that an exception costs no allocation of its own. */
	struct buf cls, msg, prev;
};

/* Scratch this large is given back after the entry that needed it. */
#define LARAVEL_SCRATCH_KEEP 65536

static enum ml_start laravel_line_start(const char *line, size_t len)
{
	/* "[YYYY-" : cheap, and a stack frame line ("#3 ...") or "[stacktrace]" never has it */
	if (len >= 21 && line[0] == '[' && line[5] == '-' && line[1] >= '0' && line[1] <= '9' &&
	    line[2] >= '0' && line[2] <= '9' && line[3] >= '0' && line[3] <= '9' &&
	    line[4] >= '0' && line[4] <= '9')
		return ML_START;
	return ML_CONT;
}

static int laravel_init(struct logp *p, char *err, size_t errlen)
{
	static const char *const lvl[] = { "level", NULL };
	static const char *const cls[] = { "class", NULL };
	struct laravel_state *st = xcalloc(1, sizeof(*st));

	p->fmt_state = st;
	buf_init(&st->cls, 0);
	buf_init(&st->msg, 0);
	buf_init(&st->prev, 0);
	/* The channel is the environment in Laravel ("production.ERROR"). */
	st->head = logp_compile("^\\[([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][^\\]]{8,40})\\] "
				"([A-Za-z0-9_.-]+?)\\.(DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|"
				"ALERT|EMERGENCY): ",
				0, "laravel header", err, errlen);
	if (!st->head)
		return -EINVAL;
	st->entries = logp_counter(p->reg, "laravel_log_entries_total",
				       "Laravel log entries by level.", lvl);
	st->exceptions = logp_counter(p->reg, "laravel_exceptions_total",
					  "Laravel log entries carrying an exception, by the "
					  "outermost exception class.", cls);
	if (!st->entries || !st->exceptions) {
		/* the registry is the agent's, shared by every source and rule */
		return config_source_error(p->cfg, p->src, "format", err, errlen,
					   "the laravel metric families are already registered "
					   "with another shape (a rule or a regex source's metric "
					   "of the same name came first)");
	}
	for (size_t i = 0; i < NLEVELS; i++) {
		const char *v[] = { laravel_levels[i], NULL };

		st->by_level[i] = metric_series(st->entries, v);
	}
	return 0;
}

static void laravel_release(struct logp *p)
{
	struct laravel_state *st = p->fmt_state;

	if (!st)
		return;
	pcre2_code_free(st->head);
	buf_release(&st->cls);
	buf_release(&st->msg);
	buf_release(&st->prev);
	free(st);
	p->fmt_state = NULL;
}

/* Undo JSON string escaping of s[0..n) into b: the runs between backslashes are copied whole. */
static void json_unescape(struct buf *b, const char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *bs = memchr(s + i, '\\', n - i);
		size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
		char c;

		buf_append(b, s + i, run);
		i += run;
		if (i >= n)
			break;
		if (i + 1 >= n) {
			/* a backslash at the very end stays */
			buf_putc(b, '\\');
			break;
		}
		c = s[++i];
		switch (c) {
		case 'n': buf_putc(b, '\n'); break;
		case 't': buf_putc(b, '\t'); break;
		case 'r': buf_putc(b, '\r'); break;
		case 'b': buf_putc(b, '\b'); break;
		case 'f': buf_putc(b, '\f'); break;
		case 'u': {
			unsigned cp = 0;
			size_t k;
			char u[3];

			for (k = 0; k < 4 && i + 1 + k < n; k++) {
				char h = s[i + 1 + k];

				cp <<= 4;
				if (h >= '0' && h <= '9')
					cp |= (unsigned)(h - '0');
				else if (h >= 'a' && h <= 'f')
					cp |= (unsigned)(h - 'a' + 10);
				else if (h >= 'A' && h <= 'F')
					cp |= (unsigned)(h - 'A' + 10);
				else
					break;
			}
			if (k < 4) {
				buf_putc(b, 'u');
				break;
			}
			i += 4;
			/* surrogates (and \u0000) are not text: '?' */
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
				buf_putc(b, '?');
			} else if (cp < 0x80) {
				buf_putc(b, (char)cp);
			} else if (cp < 0x800) {
				u[0] = (char)(0xc0 | cp >> 6);
				u[1] = (char)(0x80 | (cp & 0x3f));
				buf_append(b, u, 2);
			} else {
				u[0] = (char)(0xe0 | cp >> 12);
				u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
				u[2] = (char)(0x80 | (cp & 0x3f));
				buf_append(b, u, 3);
			}
			break;
		}
		default: buf_putc(b, c); break; /* \\ \" \/ */
		}
		i++;
	}
}

/* One "[object] (Class(code: N): message at file:line)" with its trace. */
struct laravel_exc {
	const char *cls; /* raw (escaped) */
	size_t cls_len;
	const char *msg; /* raw */
	size_t msg_len;
	const char *at;  /* "FILE:LINE" raw, or NULL */
	size_t at_len;
	const char *trace; /* after "[stacktrace]\n", or NULL */
	size_t trace_len;
	const char *next;  /* where to look for the next one */
};

static const char OBJ[] = "[object] (";

/* Parse the exception starting at 'o' (just past "[object] ("). False when it is not one. */
static bool laravel_exception_at(const char *o, const char *end, struct laravel_exc *x)
{
	const char *c = o, *eol, *close, *code, *st, *stop;

	while (c < end && ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			   (*c >= '0' && *c <= '9') || *c == '_' || *c == '\\'))
		c++;
	if (c == o || c - o > LARAVEL_MAX_CLASS || end - c < 9 || memcmp(c, "(code: ", 7) != 0)
		return false;
	x->cls = o;
	x->cls_len = (size_t)(c - o);
	code = logp_find(c, (size_t)(end - c) < 64 ? (size_t)(end - c) : 64, "): ", 3);
	if (!code)
		return false;
	x->msg = code + 3;
	/* The exception's text ends where its [stacktrace] begins; without a trace, at the end
	 * of the line. */
	st = logp_find(x->msg, (size_t)(end - x->msg), "\n[stacktrace]\n", 14);
	eol = memchr(x->msg, '\n', (size_t)(end - x->msg));
	stop = st ? st : eol ? eol : end;
	close = stop;
	while (close > x->msg && (close[-1] == ' ' || close[-1] == '}' || close[-1] == '"'))
		close--;
	if (close > x->msg && close[-1] == ')')
		close--;
	x->at = NULL;
	x->at_len = 0;
	x->msg_len = (size_t)(close - x->msg);
	for (const char *a = close; a - 4 >= x->msg; a--) {
		if (memcmp(a - 4, " at ", 4) == 0) {
			x->at = a;
			x->at_len = (size_t)(close - a);
			x->msg_len = (size_t)(a - 4 - x->msg);
			break;
		}
	}
	x->trace = NULL;
	x->trace_len = 0;
	x->next = stop;
	if (st) {
		const char *t = st + 14, *te;

		te = logp_find(t, (size_t)(end - t), "\n[previous exception]", 21);
		if (!te)
			te = end;
		x->trace = t;
		x->trace_len = (size_t)(te - t);
		x->next = te;
	}
	return true;
}

static bool laravel_parse(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
			  const struct logp_sink *sink)
{
	struct laravel_state *st = p->fmt_state;
	const char *end = text + len, *s, *o;
	struct laravel_exc x;
	size_t n, lvl;
	int64_t t = fallback_ms;

	if (len < 21 || text[0] != '[' || logp_match(p, st->head, text, len) <= 0)
		return false;
	if (logp_group(p, 1, text, &s, &n))
		if (logp_parse_iso(p, s, n, &t) != n)
			t = fallback_ms;
	p->t_ms = t;
	logp_group(p, 3, text, &s, &n);
	for (lvl = 0; lvl < NLEVELS; lvl++)
		if (strncasecmp(laravel_levels[lvl], s, n) == 0 && laravel_levels[lvl][n] == '\0')
			break;
	if (lvl == NLEVELS)
		return false;
	logp_count(sink, st->by_level[lvl], 1, t);

	/* literal prefilter: most entries carry no exception */
	o = logp_find(text, len, OBJ, sizeof(OBJ) - 1);
	if (!o || !laravel_exception_at(o + sizeof(OBJ) - 1, end, &x))
		return true;
	{
		struct buf *cls = &st->cls, *msg = &st->msg, *prev = &st->prev;
		char lv[LOGP_MAX_LABEL_VALUE + 1];
		const char *v[2] = { NULL, NULL };
		struct fp_input in = { 0 };
		struct fp_result fr;
		struct logged_exception e;
		struct laravel_exc px;
		const char *q = x.next;
		int nprev = 0;

		buf_reset(cls);
		buf_reset(msg);
		buf_reset(prev);
		json_unescape(cls, x.cls, x.cls_len);
		json_unescape(msg, x.msg, x.msg_len);
		/* Previous exceptions, outermost first: "PDOException" for a QueryException. */
		while (nprev < LARAVEL_MAX_PREVIOUS &&
		       (q = logp_find(q, (size_t)(end - q), "[previous exception] [object] (", 31))) {
			q += 31;
			if (!laravel_exception_at(q, end, &px))
				continue;
			if (prev->len)
				buf_puts(prev, ", ");
			json_unescape(prev, px.cls, px.cls_len);
			q = px.next;
			nprev++;
		}
		v[0] = logp_label_value(lv, cls->data, cls->len);
		logp_count(sink, metric_series(st->exceptions, v), 1, t);

		in.class_name = cls->data;
		in.message = msg->data;
		in.message_len = msg->len;
		in.trace = x.trace;
		in.trace_len = x.trace_len;
		in.throw_file = x.at;
		in.throw_file_len = x.at_len;
		in.app_root = p->app_root;
		fp_compute(&in, &fr);
		e.fingerprint = fr.fingerprint;
		e.class_name = cls->data;
		e.message = fr.message;
		e.location = fr.location;
		e.entry = text;
		e.entry_len = len;
		e.t_ms = t;
		e.previous = prev->len ? prev->data : "";
		if (sink && sink->exception)
			sink->exception(sink->ctx, &e);
		fp_result_release(&fr);
		if (msg->cap > LARAVEL_SCRATCH_KEEP) {
			buf_release(msg);
			buf_init(msg, 0);
		}
	}
	return true;
}

const struct logp_format logp_fmt_laravel = {
	.name = "laravel",
	.id = SOURCE_LARAVEL,
	.line_start = laravel_line_start,
	.init = laravel_init,
	.release = laravel_release,
	.parse = laravel_parse,
};
