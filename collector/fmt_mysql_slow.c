/*
 * The MySQL / MariaDB slow query log:
 *
 *   # Time: 2026-11-27T09:00:01.102938Z          (MySQL 5.7+; MariaDB: "# Time: 261127 17:17:55")
 *   # User@Host: cyh[cyh] @ localhost [127.0.0.1]
 *   # Query_time: 0.300241  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: 0
 *   SET timestamp=1795799875;
 *   select sleep(0.3);
 *
 * MariaDB leaves "# Time:" out when it has not changed since the previous entry, so a
 * "# User@Host:" line also opens an entry unless it directly follows a "# Time:" line. The
 * server's start-up banner ("... started with:", "Tcp port: ...", "Time Id Command Argument")
 * is an entry of its own that counts nothing.
 *
 * The time is SET timestamp= (Unix seconds, when the query started) when present, else "# Time:".
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

struct mysql_slow_state {
	pcre2_code *stats;
	struct series *queries;
	struct series *duration;
	struct series *lock;
	struct series *rows;
};

static const double slow_buckets[] = { 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300 };

static bool has_prefix(const char *l, size_t len, const char *p)
{
	size_t n = strlen(p);

	return len >= n && memcmp(l, p, n) == 0;
}

static enum ml_start mysql_slow_line_start(const char *l, size_t len)
{
	if (has_prefix(l, len, "# Time: "))
		return ML_START;
	if (has_prefix(l, len, "# User@Host: "))
		return ML_START_UNLESS_HEAD;
	if (len >= 13 && memcmp(l + len - 13, "started with:", 13) == 0)
		return ML_START;
	return ML_CONT;
}

static int mysql_slow_init(struct logp *p, char *err, size_t errlen)
{
	struct mysql_slow_state *st = xcalloc(1, sizeof(*st));
	struct metric *q, *d, *l, *r;

	p->fmt_state = st;
	st->stats = logp_compile("^# Query_time: ([0-9.]{1,20}) +Lock_time: ([0-9.]{1,20}) +"
				 "Rows_sent: ([0-9]{1,20}) +Rows_examined: ([0-9]{1,20})",
				 PCRE2_MULTILINE, "mysql-slow statistics line", err, errlen);
	if (!st->stats)
		return -EINVAL;
	q = logp_counter(p->reg, "mysql_slow_queries_total",
			     "Queries written to the slow query log.", NULL);
	d = registry_histogram(p->reg, "mysql_slow_query_duration_seconds",
			       "Query_time of the slow query log's queries.", NULL, slow_buckets,
			       sizeof(slow_buckets) / sizeof(slow_buckets[0]));
	l = logp_counter(p->reg, "mysql_slow_query_lock_seconds_total",
			     "Sum of Lock_time of the slow query log's queries.", NULL);
	r = logp_counter(p->reg, "mysql_slow_query_rows_examined_total",
			     "Sum of Rows_examined of the slow query log's queries.", NULL);
	if (!q || !d || !l || !r) {
		/* the registry is the agent's, shared by every source and rule */
		return config_source_error(p->cfg, p->src, "format", err, errlen,
					   "the mysql-slow metric families are already registered "
					   "with another shape (a rule or a regex source's metric "
					   "of the same name came first)");
	}
	st->queries = metric_series(q, NULL);
	st->duration = metric_series(d, NULL);
	st->lock = metric_series(l, NULL);
	st->rows = metric_series(r, NULL);
	return 0;
}

static void mysql_slow_release(struct logp *p)
{
	struct mysql_slow_state *st = p->fmt_state;

	if (!st)
		return;
	pcre2_code_free(st->stats);
	free(st);
	p->fmt_state = NULL;
}

/* A group of the last match as a number; NAN when it is not one. */
static double slow_number(struct logp *p, int g, const char *text)
{
	char num[24];
	const char *s;
	size_t n;
	char *end;
	double v;

	if (!logp_group(p, g, text, &s, &n) || n == 0 || n >= sizeof(num))
		return NAN;
	memcpy(num, s, n);
	num[n] = '\0';
	v = strtod(num, &end);
	return *end ? NAN : v;
}

/* "# Time: 261127 17:17:55" / "# Time: 261127  7:17:55" (MariaDB, local time). */
static bool slow_time_mariadb(const struct logp *p, const char *s, size_t n, int64_t *t)
{
	int y, mo, d, h, mi, se;
	size_t i = 7;

	if (n < 14 || s[6] != ' ')
		return false;
	y = logp_digits(s, 2);
	mo = logp_digits(s + 2, 2);
	d = logp_digits(s + 4, 2);
	while (i < n && s[i] == ' ')
		i++;
	h = logp_digits(s + i, 1);
	if (i + 1 < n && s[i + 1] != ':')
		h = logp_digits(s + i, 2), i++;
	i++;
	if (h < 0 || i + 6 > n || s[i] != ':' || s[i + 3] != ':')
		return false;
	mi = logp_digits(s + i + 1, 2);
	se = logp_digits(s + i + 4, 2);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi < 0 || mi > 59 ||
	    se < 0 || se > 60)
		return false;
	*t = logp_local_ms(p, 2000 + y, mo, d, h, mi, se, 0);
	return true;
}

static bool mysql_slow_parse(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
			     const struct logp_sink *sink)
{
	struct mysql_slow_state *st = p->fmt_state;
	const char *q, *ts, *tm;
	double dur, lock, rows;
	int64_t t = fallback_ms;

	q = memmem(text, len, "# Query_time: ", 14);
	if (!q) {
		/* the start-up banner is known and counts nothing */
		const char *nl = memchr(text, '\n', len);
		size_t l1 = nl ? (size_t)(nl - text) : len;

		return l1 >= 13 && memcmp(text + l1 - 13, "started with:", 13) == 0;
	}
	if (logp_match(p, st->stats, q, len - (size_t)(q - text)) <= 0)
		return false;
	dur = slow_number(p, 1, q);
	lock = slow_number(p, 2, q);
	rows = slow_number(p, 4, q);
	if (isnan(dur) || isnan(lock) || isnan(rows))
		return false;
	ts = memmem(text, len, "SET timestamp=", 14);
	tm = has_prefix(text, len, "# Time: ") ? text + 8 : NULL;
	if (ts) {
		int64_t sec = 0;
		const char *c = ts + 14, *end = text + len;
		int digits = 0;

		while (c < end && *c >= '0' && *c <= '9' && digits < 12)
			sec = sec * 10 + (*c++ - '0'), digits++;
		if (digits > 0 && c < end && *c == ';')
			t = sec * 1000;
	} else if (tm) {
		size_t n = (size_t)(text + len - tm);
		const char *nl = memchr(tm, '\n', n);

		if (nl)
			n = (size_t)(nl - tm);
		if (logp_parse_iso(p, tm, n, &t) == 0 && !slow_time_mariadb(p, tm, n, &t))
			t = fallback_ms;
	}
	p->t_ms = t;
	logp_count(sink, st->queries, 1, t);
	logp_observe(sink, st->duration, dur, t);
	logp_count(sink, st->lock, lock, t);
	logp_count(sink, st->rows, rows, t);
	return true;
}

const struct logp_format logp_fmt_mysql_slow = {
	.name = "mysql-slow",
	.id = SOURCE_MYSQL_SLOW,
	.line_start = mysql_slow_line_start,
	.init = mysql_slow_init,
	.release = mysql_slow_release,
	.parse = mysql_slow_parse,
};
