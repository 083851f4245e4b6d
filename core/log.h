#ifndef DW_CORE_LOG_H
#define DW_CORE_LOG_H

/*
 * One-line log records on stderr, logfmt like Prometheus's own:
 *   ts=2026-11-27T18:20:00.123Z level=warn component=tail msg="cannot open" path=/var/log/x err="..."
 * Safe from any thread (one write(2) per record). Under systemd, stderr goes to the journal.
 */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Records below 'min' are dropped. Default LOG_INFO. */
void log_set_level(enum log_level min);
/* Parse "debug", "info", "warn", "error". Returns 0 or -EINVAL. */
int log_level_parse(const char *name, enum log_level *out);

/*
 * Write one record. 'component' names the module ("tail", "http"); 'fmt' formats the message,
 * which is quoted and escaped. Messages are self-contained sentences: name the file, the value
 * and what happens next ("cannot open /var/log/x: Permission denied; retrying every 10s").
 */
void log_write(enum log_level level, const char *component, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_debug(comp, ...) log_write(LOG_DEBUG, comp, __VA_ARGS__)
#define log_info(comp, ...) log_write(LOG_INFO, comp, __VA_ARGS__)
#define log_warn(comp, ...) log_write(LOG_WARN, comp, __VA_ARGS__)
#define log_error(comp, ...) log_write(LOG_ERROR, comp, __VA_ARGS__)

#endif
