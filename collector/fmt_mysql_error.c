/*
 * MySQL and MariaDB error logs, three shapes:
 *
 *   MySQL 8.x   2026-11-27T09:00:01.102938Z 0 [System] [MY-010116] [Server] message
 *   MySQL 5.7   2026-11-27T09:00:01.102938Z 0 [Note] InnoDB: message
 *   MariaDB     2026-11-27 17:17:46 0 [Note] InnoDB: message
 *
 * A line without that prefix (a crash dump, InnoDB's lock dump, "Version: ..." after "ready for
 * connections") belongs to the entry before it. MySQL 8 names the subsystem in brackets; for the
 * other two it is the message's "Subsystem: " prefix when that is one of the storage engines and
 * replication parts that use one, "Server" otherwise (the name MySQL 8 gives the rest), so the
 * label means the same on both servers and its values stay few.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/registry.h"

struct mysql_error_state {
	pcre2_code *re;
	struct metric *entries;
};

/* Message prefixes that name a subsystem on MySQL 5.7 and MariaDB. */
static const char *const mysql_subsystems[] = {
	"InnoDB", "Aria", "MyISAM", "Mroonga", "RocksDB", "Galera", "WSREP", "Repl", "Slave",
	"Replica", "Event Scheduler",
};

static size_t mysql_skip_ts(const char *l, size_t len)
{
	size_t i = 19;

	if (len < 24 || l[4] != '-' || l[7] != '-' || (l[10] != ' ' && l[10] != 'T') ||
	    l[13] != ':' || l[16] != ':' || logp_digits(l, 4) < 0 || logp_digits(l + 17, 2) < 0)
		return 0;
	while (i < len && l[i] != ' ')
		i++;
	return i;
}

static enum ml_start mysql_error_line_start(const char *l, size_t len)
{
	size_t i = mysql_skip_ts(l, len);

	/* the timestamp, an optional thread id, then "[Level]" */
	if (!i)
		return ML_CONT;
	while (i < len && l[i] == ' ')
		i++;
	while (i < len && l[i] >= '0' && l[i] <= '9')
		i++;
	while (i < len && l[i] == ' ')
		i++;
	return i < len && l[i] == '[' ? ML_START : ML_CONT;
}

static int mysql_error_init(struct logp *p, char *err, size_t errlen)
{
	static const char *const names[] = { "level", "subsystem", NULL };
	struct mysql_error_state *st = xcalloc(1, sizeof(*st));

	p->fmt_state = st;
	/* MariaDB pads the hour with a space ("2026-11-30  8:00:00", its log.cc "%2d"). */
	st->re = logp_compile("^([0-9]{4}-[0-9]{2}-[0-9]{2}[T ][ 0-9][0-9:.]{7,14}(?:Z|[+-][0-9]{2}:?"
			      "[0-9]{2})?) +(?:[0-9]+ +)?\\[([A-Za-z]{1,16})\\]"
			      "(?: \\[MY-[0-9]+\\] \\[([A-Za-z_]{1,32})\\])? ?",
			      0, "mysql-error line", err, errlen);
	if (!st->re)
		return -EINVAL;
	st->entries = logp_counter(p->reg, "mysql_error_log_entries_total",
				       "MySQL/MariaDB error log entries by level and subsystem.",
				       names);
	if (!st->entries) {
		/* the registry is the agent's, shared by every source and rule */
		return config_source_error(p->cfg, p->src, "format", err, errlen,
					   "the mysql-error metric families are already registered "
					   "with another shape (a rule or a regex source's metric "
					   "of the same name came first)");
	}
	return 0;
}

static void mysql_error_release(struct logp *p)
{
	struct mysql_error_state *st = p->fmt_state;

	if (!st)
		return;
	pcre2_code_free(st->re);
	free(st);
	p->fmt_state = NULL;
}

static bool mysql_error_parse(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
			      const struct logp_sink *sink)
{
	struct mysql_error_state *st = p->fmt_state;
	char level[17], sub[LOGP_MAX_LABEL_VALUE + 1], ts[40];
	const char *v[3] = { level, sub, NULL };
	const char *s, *msg;
	size_t n, mlen;
	int64_t t = fallback_ms;

	if (mysql_error_line_start(text, len) != ML_START || logp_match(p, st->re, text, len) <= 0)
		return false;
	logp_group(p, 1, text, &s, &n);
	if (n > 11 && n < sizeof(ts) && s[11] == ' ') {
		/* MariaDB's space-padded hour, read as the ISO form. */
		memcpy(ts, s, n);
		ts[11] = '0';
		s = ts;
	}
	if (logp_parse_iso(p, s, n, &t) != n)
		t = fallback_ms;
	p->t_ms = t;
	logp_group(p, 2, text, &s, &n);
	for (size_t i = 0; i < n; i++)
		level[i] = (char)(s[i] >= 'A' && s[i] <= 'Z' ? s[i] + 32 : s[i]);
	level[n] = '\0';
	if (logp_group(p, 3, text, &s, &n)) {
		logp_label_value(sub, s, n);
	} else {
		strcpy(sub, "Server");
		logp_group(p, 0, text, &msg, &mlen);
		msg += mlen;
		mlen = (size_t)(text + len - msg);
		for (size_t i = 0; i < sizeof(mysql_subsystems) / sizeof(mysql_subsystems[0]); i++) {
			size_t l = strlen(mysql_subsystems[i]);

			if (mlen > l && memcmp(msg, mysql_subsystems[i], l) == 0 &&
			    msg[l] == ':') {
				strcpy(sub, mysql_subsystems[i]);
				break;
			}
		}
	}
	logp_count(sink, metric_series(st->entries, v), 1, t);
	return true;
}

const struct logp_format logp_fmt_mysql_error = {
	.name = "mysql-error",
	.id = SOURCE_MYSQL_ERROR,
	.line_start = mysql_error_line_start,
	.init = mysql_error_init,
	.release = mysql_error_release,
	.parse = mysql_error_parse,
};
