#include "core/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile enum log_level log_min = LOG_INFO;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level min)
{
	log_min = min;
}

int log_level_parse(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -EINVAL;
}

void log_write(enum log_level level, const char *component, const char *fmt, ...)
{
	char msg[2048], line[4096];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	size_t n;

	if (level < log_min)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	/* Logging is the one place outside the clock module allowed to read the wall clock: a log
	 * record's timestamp is when it was written, not a value any logic depends on. */
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = (size_t)snprintf(line, sizeof(line),
			     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s component=%s msg=\"",
			     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			     tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level], component);
	for (const char *p = msg; *p && n < sizeof(line) - 3; p++) {
		if (*p == '"' || *p == '\\') {
			line[n++] = '\\';
			line[n++] = *p;
		} else if (*p == '\n') {
			line[n++] = '\\';
			line[n++] = 'n';
		} else {
			line[n++] = *p;
		}
	}
	line[n++] = '"';
	line[n++] = '\n';
	/* One write so that records from different threads never interleave. */
	if (write(STDERR_FILENO, line, n) < 0) {
		/* Nowhere left to report it. */
	}
}
