/*
 * JSON for the query API (query/api.h), as Go's encoding/json and Prometheus's API write it:
 * strings, times, values, label sets, results. Pure; any thread.
 */
#include "query/api.h"
#include "query/api_int.h"

#include <inttypes.h>
#include <stdio.h>
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

int promql_api_put_time(struct buf *out, int64_t ms)
{
	/* Integer arithmetic: ms / 1000.0 as a double would print 1700000000.1230001. Digits by
	 * hand: a range answer writes one time per point, and printf costs more than the rest. */
	uint64_t mag = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	unsigned frac = (unsigned)(mag % 1000);
	char tmp[32], *p = tmp + 20, *e = p;

	if (frac) {
		*e++ = '.';
		*e++ = (char)('0' + frac / 100);
		*e++ = (char)('0' + frac / 10 % 10);
		*e++ = (char)('0' + frac % 10);
		while (e[-1] == '0')
			e--;
	}
	mag /= 1000;
	do {
		*--p = (char)('0' + mag % 10);
		mag /= 10;
	} while (mag);
	if (ms < 0)
		*--p = '-';
	return buf_append(out, p, (size_t)(e - p));
}

static int put_value(struct buf *out, double v)
{
	char num[FMT_DOUBLE_MAX + 2];
	size_t n;

	num[0] = '"';
	fmt_double(num + 1, v);
	n = strlen(num);
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
	size_t points = 0;
	int rc;

	/* A range answer of many points: its size up front (a point takes up to ~40 bytes, most
	 * take under 32), instead of doubling and copying the buffer a dozen times. When the
	 * guess passes the buffer's limit, growth decides as before. */
	if (r->type == PROMQL_TYPE_MATRIX) {
		for (size_t i = 0; i < r->nseries; i++)
			points += r->series[i].npoints;
		if (points > 1024)
			(void)buf_reserve(out, points * 32 + r->nseries * 256);
	}
	rc = buf_printf(out, "{\"status\":\"success\",\"data\":{\"resultType\":\"%s\",\"result\":",
			    promql_type_name(r->type));

	if (rc)
		return rc;
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
				for (size_t j = 0; !rc && j < s->npoints; j++) {
					if (j)
						rc = buf_putc(out, ',');
					rc = rc ? rc : put_point(out, s->points[j].t_ms,
								 s->points[j].v);
				}
				rc = rc ? rc : buf_putc(out, ']');
			}
			rc = rc ? rc : buf_putc(out, '}');
		}
		rc = rc ? rc : buf_putc(out, ']');
		break;
	default:
		rc = buf_puts(out, "null");
	}
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

