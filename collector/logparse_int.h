#ifndef DW_COLLECTOR_LOGPARSE_INT_H
#define DW_COLLECTOR_LOGPARSE_INT_H

/*
 * Private to collector/: the pure half of the log pipeline, between the tailer (which reads
 * complete lines from files and owns offsets, see tail_int.h) and the registry.
 *
 *   lines ──ml_push()──▶ entries ──logp_entry()──▶ events (counter increments, histogram
 *                                                  observations, exceptions) ──▶ the sink
 *
 * Nothing here reads a file, the clock or the store: 'now' and every byte arrive as arguments,
 * so each piece is tested from tables and fuzzed. Collector thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

struct config;
struct config_source;
struct registry;
struct series;
struct logp_format;

/* ---- multiline assembly (ml.c) ---- */

/* Caps and timing of one file's assembler. */
struct ml_options {
	size_t max_entry;   /* bytes; a longer entry is cut there (and counted as cut) */
	int64_t idle_ms;    /* an entry with no new line for this long is complete */
};

/* One complete entry, borrowed for the duration of the emit callback. */
struct ml_entry {
	const char *text;   /* the entry's lines joined with '\n', no final newline */
	size_t len;
	uint64_t end_offset; /* file offset just past the entry's last line (its newline) */
	bool cut;           /* longer than max_entry: 'text' holds the first max_entry bytes */
};

typedef int (*ml_emit_fn)(void *ctx, const struct ml_entry *e);

struct ml;

/*
 * An assembler for one file of format 'fmt' (whose start pattern decides where entries begin;
 * formats whose every line is an entry emit each line at once). Free with ml_free().
 */
struct ml *ml_new(const struct logp_format *fmt, const struct ml_options *opt);
void ml_free(struct ml *m);
/*
 * Feed one complete line (without its newline) that ends at file offset 'end_offset', read at
 * 'now_ms'. Emits the previous entry when this line starts a new one. Returns 0 or emit's
 * non-zero return.
 */
int ml_push(struct ml *m, const char *line, size_t len, uint64_t end_offset, int64_t now_ms,
	    ml_emit_fn emit, void *ctx);
/*
 * (Added by logparse.) Defaults for a zero field of ml_options, and two helpers for the tailer:
 * ml_set_offset() tells a fresh assembler where the next line starts (after opening a file at a
 * stored offset), so ml_committable_offset() is exact even when the first line is cut;
 * ml_deadline() is when ml_tick() would emit the pending entry (INT64_MAX: nothing pending), for
 * the event loop's timeout.
 */
#define ML_DEFAULT_MAX_ENTRY ((size_t)1 << 20)
#define ML_DEFAULT_IDLE_MS 5000
void ml_set_offset(struct ml *m, uint64_t offset);
int64_t ml_deadline(const struct ml *m);
/* Emit the pending entry if it has been idle for opt->idle_ms at 'now_ms'. */
int ml_tick(struct ml *m, int64_t now_ms, ml_emit_fn emit, void *ctx);
/* Emit the pending entry now (rotation, shutdown, end of a replayed file). */
int ml_flush(struct ml *m, ml_emit_fn emit, void *ctx);
/*
 * The offset up to which every byte belongs to an emitted entry: the start of the pending entry,
 * or the end of the last line when nothing is pending. The tailer commits this offset, so a
 * restart re-reads a pending entry whole and never counts an emitted one twice.
 */
uint64_t ml_committable_offset(const struct ml *m);

/* ---- formats and parsing (logp.c, fmt_*.c, rule.c, fingerprint.c) ---- */

/* struct logp_format: a built-in format (laravel, mysql-error, mysql-slow, nginx, regex); one
 * const table of them. */

/* The format named as in the config's `format:` key, or NULL. */
const struct logp_format *logp_format_find(const char *name);

/* Where a parser's events go. Every callback may be NULL. */
struct logp_sink {
	/* A counter series of the registry was incremented by 'delta' for an event at t_ms. */
	void (*counted)(void *ctx, struct series *s, double delta, int64_t t_ms);
	/* A histogram series observed 'value' for an event at t_ms. */
	void (*observed)(void *ctx, struct series *s, double value, int64_t t_ms);
	/* An exception was logged ('e' borrowed for the call: core/model.h). */
	void (*exception)(void *ctx, const struct logged_exception *e);
	/* An entry matched no pattern of its format (counted by the caller per source). */
	void (*unmatched)(void *ctx, const char *text, size_t len);
	void *ctx;
};

struct logp;

/*
 * A parser for one source: its format, timezone and app root, plus the config's rules that
 * name it. Registers the format's and the rules' families in 'reg' (borrowed until logp_free()).
 * 'cfg' is required and 'src' must be one of cfg->sources. Returns 0 and *out, or -EINVAL (or
 * -errno for a zone file that exists but cannot be read) with one line in 'err' naming the file,
 * line, column and key of the value at fault as config_parse does ("case.yml:4:43:
 * rules[0].regex: PCRE2 refuses the pattern: ... at offset 17"). check-config calls this too.
 */
int logp_new(const struct config *cfg, const struct config_source *src, struct registry *reg,
	     struct logp **out, char *err, size_t errlen);
void logp_free(struct logp *p);
/* The source's format (for ml_new). */
const struct logp_format *logp_get_format(const struct logp *p);
/*
 * Parse one entry, update the registry's series (series_add / series_observe) and tell the sink.
 * 'fallback_ms' is the time used when the entry carries no parsable timestamp (the read time).
 * Returns 0; bad input is never an error (it is counted through sink->unmatched).
 */
int logp_entry(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
	       const struct logp_sink *sink);

#endif
