/*
 * nginx's access log in the "combined" format, optionally followed by $request_time and
 * $upstream_response_time (the usual "timed" extension):
 *
 *   127.0.0.1 - - [27/Nov/2026:17:20:16 +0000] "GET / HTTP/1.1" 200 3 "-" "curl/7.88.1" 0.000 -
 *
 * The duration observed is $request_time; when only one number follows it is taken as that.
 * Methods outside the standard ones (a TLS handshake sent to a plain port logs binary as the
 * "method") are counted as method="other", so the label's values stay few and printable.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

struct nginx_state {
	pcre2_code *re;
	struct metric *requests;
	struct series *duration;
};

static const double nginx_buckets[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
					0.5,   1,    2.5,   5,    10 };

static const char *const nginx_methods[] = { "GET",     "HEAD",    "POST",  "PUT",  "DELETE",
					     "CONNECT", "OPTIONS", "TRACE", "PATCH" };

static int nginx_init(struct logp *p, char *err, size_t errlen)
{
	static const char *const names[] = { "code", "method", NULL };
	struct nginx_state *st = xcalloc(1, sizeof(*st));
	struct metric *d;

	p->fmt_state = st;
	/* 1 time, 2 request line, 3 status, 4 the rest after the user agent */
	st->re = logp_compile("^\\S+ \\S+ .*? \\[([^\\]]{20,40})\\] \"((?:[^\"\\\\]|\\\\.)*)\" "
			      "([1-5][0-9]{2}) (?:[0-9]+|-) \"(?:[^\"\\\\]|\\\\.)*\" "
			      "\"(?:[^\"\\\\]|\\\\.)*\"(.*)$",
			      0, "nginx line", err, errlen);
	if (!st->re)
		return -EINVAL;
	st->requests = logp_counter(p->reg, "http_requests_total",
					"HTTP requests in the nginx access log, by status code and "
					"method.", names);
	d = registry_histogram(p->reg, "http_request_duration_seconds",
			       "nginx $request_time of the requests that log it.", NULL,
			       nginx_buckets, sizeof(nginx_buckets) / sizeof(nginx_buckets[0]));
	if (!st->requests || !d) {
		/* the registry is the agent's, shared by every source and rule */
		return config_source_error(p->cfg, p->src, "format", err, errlen,
					   "the nginx metric families are already registered "
					   "with another shape (a rule or a regex source's metric "
					   "of the same name came first)");
	}
	st->duration = metric_series(d, NULL);
	return 0;
}

static void nginx_release(struct logp *p)
{
	struct nginx_state *st = p->fmt_state;

	if (!st)
		return;
	pcre2_code_free(st->re);
	free(st);
	p->fmt_state = NULL;
}

/* "27/Nov/2026:17:20:16 +0000" */
static bool nginx_time(const char *s, size_t n, int64_t *t)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int d, y, h, mi, se, oh, om, mo = -1;
	int64_t off;

	if (n != 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[20] != ' ')
		return false;
	for (int i = 0; i < 12; i++)
		if (memcmp(months + 3 * i, s + 3, 3) == 0)
			mo = i + 1;
	d = logp_digits(s, 2);
	y = logp_digits(s + 7, 4);
	h = logp_digits(s + 12, 2);
	mi = logp_digits(s + 15, 2);
	se = logp_digits(s + 18, 2);
	oh = logp_digits(s + 22, 2);
	om = logp_digits(s + 24, 2);
	if (mo < 0 || d < 1 || d > 31 || y < 1970 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60 || oh < 0 || om < 0 || (s[21] != '+' && s[21] != '-'))
		return false;
	off = (oh * 60 + om) * 60 * (s[21] == '-' ? -1 : 1);
	*t = (logp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - off) * 1000;
	return true;
}

static bool nginx_parse(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
			const struct logp_sink *sink)
{
	struct nginx_state *st = p->fmt_state;
	char code[4];
	const char *v[3] = { code, "other", NULL };
	const char *s;
	size_t n;
	int64_t t = fallback_ms;

	/* prefilter: every combined line has " [" and '"' */
	if (len < 20 || !memchr(text, '"', len) || logp_match(p, st->re, text, len) <= 0)
		return false;
	logp_group(p, 1, text, &s, &n);
	if (!nginx_time(s, n, &t))
		t = fallback_ms;
	p->t_ms = t;
	logp_group(p, 2, text, &s, &n);
	for (size_t i = 0; i < sizeof(nginx_methods) / sizeof(nginx_methods[0]); i++) {
		size_t l = strlen(nginx_methods[i]);

		if (n > l && memcmp(s, nginx_methods[i], l) == 0 && s[l] == ' ') {
			v[1] = nginx_methods[i];
			break;
		}
	}
	logp_group(p, 3, text, &s, &n);
	memcpy(code, s, 3);
	code[3] = '\0';
	logp_count(sink, metric_series(st->requests, v), 1, t);
	/* " 0.051 0.051" / " 0.000 -": $request_time first */
	if (logp_group(p, 4, text, &s, &n) && n > 1 && s[0] == ' ') {
		char num[32];
		size_t k = 0;
		char *end;
		double d;

		s++, n--;
		while (k < n && k < sizeof(num) - 1 && s[k] != ' ') {
			num[k] = s[k];
			k++;
		}
		num[k] = '\0';
		d = strtod(num, &end);
		if (k > 0 && *end == '\0' && d >= 0 && d < 1e9 && (k == n || s[k] == ' '))
			logp_observe(sink, st->duration, d, t);
	}
	return true;
}

const struct logp_format logp_fmt_nginx = {
	.name = "nginx",
	.id = SOURCE_NGINX,
	.line_start = NULL,
	.init = nginx_init,
	.release = nginx_release,
	.parse = nginx_parse,
};
