/*
 * JSON for the query API (query/api.h), as Go's encoding/json and Prometheus's API write it:
 * strings, times, values, label sets, results. Pure; any thread.
 */
#include "query/api.h"
#include "query/api_int.h"

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"

int promql_api_put_string(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, run = 0;
	int rc = buf_putc(out, '"');

	while (!rc && i < len) {
		unsigned char c = p[i];
		char esc[8];
		size_t size;
		long cp;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\' && c != '<' && c != '>' &&
		    c != '&') {
			i++;
			run++;
			continue;
		}
		if (run)
			rc = buf_append(out, p + i - run, run);
		run = 0;
		if (rc)
			break;
		if (c < 0x80) {
			switch (c) {
			case '"': rc = buf_puts(out, "\\\""); break;
			case '\\': rc = buf_puts(out, "\\\\"); break;
			case '\n': rc = buf_puts(out, "\\n"); break;
			case '\r': rc = buf_puts(out, "\\r"); break;
			case '\t': rc = buf_puts(out, "\\t"); break;
			default:
				snprintf(esc, sizeof(esc), "\\u00%c%c", hex[c >> 4], hex[c & 15]);
				rc = buf_puts(out, esc);
			}
			i++;
			continue;
		}
		cp = model_utf8_decode(p + i, len - i, &size);
		if (cp < 0)
			rc = buf_puts(out, "\\ufffd");
		else if (cp == 0x2028 || cp == 0x2029)
			rc = buf_puts(out, cp == 0x2028 ? "\\u2028" : "\\u2029");
		else
			rc = buf_append(out, p + i, size);
		i += size;
	}
	if (!rc && run)
		rc = buf_append(out, p + i - run, run);
	return rc ? rc : buf_putc(out, '"');
}

/* Write the text of ms / 1000 ending at 'end' (backwards); returns its start. At most 24
 * bytes: a sign, 16 digits of seconds, a point and 3 digits. */
static char *time_text(char *end, int64_t ms)
{
	/* Integer arithmetic: ms / 1000.0 as a double would print 1700000000.1230001. Digits by
	 * hand: a range answer writes one time per point, and printf costs more than the rest. */
	uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	unsigned frac = (unsigned)(mag % 1000);
	char frac_text[4], *p = end;

	/* Three digits whenever there is a fraction, zeros kept ("1.500", "1.050"), as Prometheus's
	 * marshalTimestamp writes them. */
	if (frac) {
		frac_text[0] = (char)('0' + frac / 100);
		frac_text[1] = (char)('0' + frac / 10 % 10);
		frac_text[2] = (char)('0' + frac % 10);
		p -= 3;
		memcpy(p, frac_text, 3);
		*--p = '.';
	}
	p = fmt_u64_back(p, mag / 1000);
	if (ms < 0)
		*--p = '-';
	return p;
}

int promql_api_put_time(struct buf *out, int64_t ms)
{
	char tmp[32], *p = time_text(tmp + sizeof(tmp), ms);

	return buf_append(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

static int put_value(struct buf *out, double v)
{
	char num[FMT_DOUBLE_MAX + 2];
	size_t n;

	num[0] = '"';
	n = fmt_double_n(num + 1, v) + 1;
	num[n] = '"';
	return buf_append(out, num, n + 1);
}

static int put_point(struct buf *out, int64_t t_ms, double v)
{
	int rc = buf_putc(out, '[');

	rc = rc ? rc : promql_api_put_time(out, t_ms);
	rc = rc ? rc : buf_putc(out, ',');
	rc = rc ? rc : put_value(out, v);
	return rc ? rc : buf_putc(out, ']');
}

/*
 * A range answer's series share the steps start + k * step: each step's time is formatted once
 * for all series, as the text that opens its points ('[', the time, ',', '"'). The grid is
 * guessed from the points (the earliest time, the least gap between a series' first two
 * points); a point off it, or past the slots, is formatted on its own, so a wrong guess costs
 * time, never correctness. The slots are allocated only for a matrix of several series.
 */
#define TIME_SLOT 32          /* '[' + at most 24 + ',"', and a length byte */
#define TIME_SLOTS_MAX 32768  /* 1 MiB at most (11,000 points per series by default) */

struct time_cache {
	int64_t t0, step;
	size_t n;
	char *slot; /* n slots of TIME_SLOT bytes: [0] the length (0: not yet), then the text */
};

static void time_cache_init(struct time_cache *tc, const struct promql_result *r)
{
	int64_t t0 = INT64_MAX, t1 = INT64_MIN, step = INT64_MAX;

	memset(tc, 0, sizeof(*tc));
	if (r->type != PROMQL_TYPE_MATRIX || r->nseries < 2)
		return;
	for (size_t i = 0; i < r->nseries; i++) {
		const struct promql_series *s = &r->series[i];

		if (!s->npoints)
			continue;
		t0 = s->points[0].t_ms < t0 ? s->points[0].t_ms : t0;
		t1 = s->points[s->npoints - 1].t_ms > t1 ? s->points[s->npoints - 1].t_ms : t1;
		if (s->npoints >= 2 && s->points[1].t_ms > s->points[0].t_ms &&
		    s->points[1].t_ms - s->points[0].t_ms < step)
			step = s->points[1].t_ms - s->points[0].t_ms;
	}
	if (step == INT64_MAX || t1 < t0 || (uint64_t)(t1 - t0) / (uint64_t)step >= TIME_SLOTS_MAX)
		return;
	tc->t0 = t0;
	tc->step = step;
	tc->n = (size_t)((uint64_t)(t1 - t0) / (uint64_t)step) + 1;
	tc->slot = xcalloc(tc->n, TIME_SLOT);
}

/* '[' time ',"' for t_ms, the time ending at 'e' (two bytes after it are written too);
 * returns its start and its length in *len. */
static char *time_open_text(char *e, int64_t t_ms, size_t *len)
{
	char *b = time_text(e, t_ms);

	*--b = '[';
	e[0] = ',';
	e[1] = '"';
	*len = (size_t)(e + 2 - b);
	return b;
}

/* Write '[' time ',"' for t_ms at p (which has room for TIME_SLOT bytes: fixed-size copies
 * write past the text); returns the end of the text. */
static char *put_time_open(struct time_cache *tc, int64_t t_ms, char *p)
{
	char tmp[2 * TIME_SLOT], *b;
	size_t len;

	if (tc->slot && t_ms >= tc->t0 && (uint64_t)(t_ms - tc->t0) % (uint64_t)tc->step == 0 &&
	    (uint64_t)(t_ms - tc->t0) / (uint64_t)tc->step < tc->n) {
		char *slot = tc->slot + (size_t)((uint64_t)(t_ms - tc->t0) / (uint64_t)tc->step) *
						TIME_SLOT;

		if (!slot[0]) {
			b = time_open_text(tmp + 30, t_ms, &len);
			slot[0] = (char)len;
			memcpy(slot + 1, b, len);
		}
		memcpy(p, slot + 1, TIME_SLOT - 1);
		return p + (unsigned char)slot[0];
	}
	b = time_open_text(tmp + 30, t_ms, &len);
	memcpy(p, b, TIME_SLOT - 1); /* b <= tmp + 28: b + 31 < tmp + 64 */
	return p + len;
}

/* The most one point takes while written in place: ',' '[' time ',"' (TIME_SLOT, with the
 * fixed-size copy's slack), the value (FMT_DOUBLE_MAX, likewise) and '"]'. */
#define POINT_MAX (1 + TIME_SLOT + FMT_DOUBLE_MAX + 2)
/* Points written in place per reservation: the headroom asked of the buffer (17 KB). */
#define POINT_RUN 256

static char *put_point_text(char *p, struct time_cache *tc, const struct promql_point *pt,
			    bool comma)
{
	*p = ',';
	p += comma;
	p = put_time_open(tc, pt->t_ms, p);
	p += fmt_double_n(p, pt->v);
	*p++ = '"';
	*p++ = ']';
	return p;
}

/* The points of a matrix series, written in place in runs; near the buffer's cap (where the
 * headroom of a run cannot be had) one at a time, appended, so the cap is met exactly. */
static int put_points(struct buf *out, struct time_cache *tc, const struct promql_series *s)
{
	size_t j = 0;

	while (j < s->npoints) {
		size_t run = s->npoints - j < POINT_RUN ? s->npoints - j : POINT_RUN;

		if (!buf_reserve(out, run * POINT_MAX)) {
			char *p = out->data + out->len;

			for (size_t end = j + run; j < end; j++)
				p = put_point_text(p, tc, &s->points[j], j > 0);
			out->len = (size_t)(p - out->data);
			out->data[out->len] = '\0';
		} else {
			char pt[POINT_MAX], *e = put_point_text(pt, tc, &s->points[j], j > 0);
			int rc = buf_append(out, pt, (size_t)(e - pt));

			if (rc)
				return rc;
			j++;
		}
	}
	return 0;
}

int promql_api_put_labels(struct buf *out, const struct label *l, size_t n)
{
	int rc = buf_putc(out, '{');

	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			rc = buf_putc(out, ',');
		rc = rc ? rc : promql_api_put_string(out, l[i].name);
		rc = rc ? rc : buf_putc(out, ':');
		rc = rc ? rc : promql_api_put_string(out, l[i].value);
	}
	return rc ? rc : buf_putc(out, '}');
}

int promql_api_put_result(struct buf *out, const struct promql_result *r)
{
	struct time_cache tc;
	size_t points = 0;
	int rc;

	/* A range answer of many points: its size up front (a point takes up to ~60 bytes; one
	 * of a 16- or 17-digit value at a whole second, the common one, 35 to 40), instead of
	 * doubling and copying the buffer a dozen times, or once near its end. When the guess
	 * passes the buffer's limit, growth decides as before. */
	if (r->type == PROMQL_TYPE_MATRIX) {
		for (size_t i = 0; i < r->nseries; i++)
			points += r->series[i].npoints;
		if (points > 1024)
			(void)buf_reserve(out, points * 40 + r->nseries * 256 +
						       POINT_RUN * POINT_MAX);
	}
	rc = buf_printf(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":",
			    promql_type_name(r->type));

	if (rc)
		return rc;
	time_cache_init(&tc, r);
	switch (r->type) {
	case PROMQL_TYPE_SCALAR:
		rc = put_point(out, r->scalar.t_ms, r->scalar.v);
		break;
	case PROMQL_TYPE_STRING:
		rc = buf_putc(out, '[');
		rc = rc ? rc : promql_api_put_time(out, r->string_t_ms);
		rc = rc ? rc : buf_putc(out, ',');
		rc = rc ? rc : promql_api_put_string(out, r->string);
		rc = rc ? rc : buf_putc(out, ']');
		break;
	case PROMQL_TYPE_VECTOR:
	case PROMQL_TYPE_MATRIX:
		rc = buf_putc(out, '[');
		for (size_t i = 0; !rc && i < r->nseries; i++) {
			const struct promql_series *s = &r->series[i];

			rc = buf_puts(out, i ? ",{\"metric\":" : "{\"metric\":");
			rc = rc ? rc : promql_api_put_labels(out, s->labels, s->nlabels);
			if (r->type == PROMQL_TYPE_VECTOR) {
				rc = rc ? rc : buf_puts(out, ",\"value\":");
				rc = rc ? rc : put_point(out, s->points[0].t_ms, s->points[0].v);
			} else {
				rc = rc ? rc : buf_puts(out, ",\"values\":[");
				rc = rc ? rc : put_points(out, &tc, s);
				rc = rc ? rc : buf_putc(out, ']');
			}
			rc = rc ? rc : buf_putc(out, '}');
		}
		rc = rc ? rc : buf_putc(out, ']');
		break;
	default:
		rc = buf_puts(out, "null");
	}
	free(tc.slot);
	rc = rc ? rc : buf_putc(out, '}');
	if (!rc && r->nwarnings) {
		rc = buf_puts(out, ",\"warnings\":[");
		for (size_t i = 0; !rc && i < r->nwarnings; i++) {
			if (i)
				rc = buf_putc(out, ',');
			rc = rc ? rc : promql_api_put_string(out, r->warnings[i]);
		}
		rc = rc ? rc : buf_putc(out, ']');
	}
	return rc ? rc : buf_putc(out, '}');
}

/* A list of strings as {"status":"success","data":[...]}. */
int promql_api_put_string_list(struct buf *out, char **v, size_t n)
{
	int rc = buf_puts(out, "{\"status\":\"success\",\"data\":[");

	for (size_t i = 0; !rc && i < n; i++) {
		if (i)
			rc = buf_putc(out, ',');
		rc = rc ? rc : promql_api_put_string(out, v[i]);
	}
	return rc ? rc : buf_puts(out, "]}");
}

