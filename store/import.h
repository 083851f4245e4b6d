#ifndef DW_STORE_IMPORT_H
#define DW_STORE_IMPORT_H

/*
 * `deploywatch import`: Prometheus text format 0.0.4 and OpenMetrics 1.0.0 with timestamps, read
 * by a pure streaming parser (import_parse.c) whose samples the importer (import.c) writes to the
 * store in batches. What is accepted, and where it differs from promtool on purpose, is in
 * docs/import.md.
 */

#include <stddef.h>
#include <stdint.h>

#include "core/model.h"
#include "store/store.h"

/*
 * Input formats. AUTO decides at the first sample: OpenMetrics when an earlier line was a
 * `# UNIT`, a `# TYPE` with a type only OpenMetrics has (unknown, gaugehistogram, stateset, info)
 * or a counter family whose sample carries the `_total` suffix the TYPE line lacks, or when the
 * first timestamp has a fraction or exponent or, as an integer, is below 1e11 (seconds: before
 * year 5138; milliseconds: before 1973); the text format otherwise. Text timestamps are integer
 * milliseconds, OpenMetrics ones float seconds (rounded to the millisecond). Input decided as
 * OpenMetrics must end with "# EOF"; in both formats a last sample line without its newline is
 * malformed, never imported (docs/import.md).
 */
enum store_import_format { STORE_IMPORT_AUTO, STORE_IMPORT_TEXT, STORE_IMPORT_OPENMETRICS };

#define STORE_IMPORT_MAX_LINE ((size_t)1 << 20)  /* longer lines are malformed */
#define STORE_IMPORT_MAX_LABELS 64               /* labels per sample besides __name__ */
#define STORE_IMPORT_MAX_FAMILIES 100000         /* # TYPE families remembered; more: unknown */
#define STORE_IMPORT_MAX_SERIES ((size_t)4 << 20)/* distinct series in one import */
#define STORE_IMPORT_BATCH 200000                /* default samples per commit */

/* One parsed sample. Everything is borrowed for the duration of the callback. */
struct store_import_sample {
	const struct label *labels; /* __name__ first, then the labels in input order */
	size_t nlabels;
	enum metric_type type;      /* from # TYPE: summary as summary, untyped and unknown as
				     * untyped, info and stateset as gauge, gaugehistogram as
				     * histogram; no # TYPE: gauge */
	int64_t t_ms;
	double v;
};

/* ---- the parser (import_parse.c): pure, no store, no I/O ---- */

struct store_import_parser;

/*
 * The pure parser core: feed it bytes in any pieces; it calls sample() for each valid sample line
 * and malformed() with the 1-based line number and a message (no file name, no newline) for each
 * malformed line, which is then skipped. A non-zero return from sample() stops parsing and is
 * returned by feed/finish. Pure: no store, no I/O. Free with store_import_parser_free().
 * One thread at a time.
 */
struct store_import_parser *store_import_parser_new(
	enum store_import_format fmt,
	int (*sample)(void *ctx, size_t line, const struct store_import_sample *s),
	void (*malformed)(void *ctx, size_t line, const char *msg), void *ctx);
/* Parse the complete lines in 'data' (len bytes, any split, NULs allowed: such lines are
 * malformed); a partial last line waits for more. Returns 0 or sample()'s non-zero return. */
int store_import_parser_feed(struct store_import_parser *p, const void *data, size_t len);
/* End of input. A last line without a newline is parsed when it is blank or a comment (such
 * as OpenMetrics's "# EOF") and otherwise reported as cut off, never imported; OpenMetrics input
 * that did not end with "# EOF" is reported as truncated (at its last line). Returns as feed. */
int store_import_parser_finish(struct store_import_parser *p);
/* How the input ended, as store_import_parser_finish() found it. */
enum store_import_ending {
	STORE_IMPORT_END_COMPLETE, /* every line ended, and OpenMetrics input with # EOF */
	STORE_IMPORT_END_NO_EOF,   /* OpenMetrics without # EOF after a complete line: truncated at a
				    * line end, perhaps; every line was parsed */
	STORE_IMPORT_END_CUT,      /* inside a sample line (no newline at the end): that line is
				    * not imported */
};
/*
 * How the input ended (COMPLETE until finish() has run). An input that ended otherwise was
 * reported through malformed() at its last line (the report is set before that call, so a
 * malformed() callback can tell this report from a malformed line's).
 */
enum store_import_ending store_import_parser_ending(const struct store_import_parser *p);
/* The format in use (AUTO until the first sample decided it). */
enum store_import_format store_import_parser_format(const struct store_import_parser *p);
/* Lines read so far (a last line without a newline counts once finish() has run). */
size_t store_import_parser_lines(const struct store_import_parser *p);
/* Free the parser. NULL is a no-op. */
void store_import_parser_free(struct store_import_parser *p);

/* ---- the importer (import.c): the parser's samples into the store ---- */

/* What one import did; filled by store_import_get_stats(). */
struct store_import_stats {
	uint64_t lines;               /* lines read */
	uint64_t malformed;           /* malformed lines (skipped); not the end-of-input report */
	enum store_import_ending ending; /* how the input ended (after store_import_finish) */
	uint64_t samples;             /* valid samples parsed */
	uint64_t samples_written;     /* samples the store accepted */
	uint64_t out_of_order;        /* samples refused: at or before the series' last timestamp */
	uint64_t out_of_order_series; /* series with at least one such sample */
	uint64_t series;              /* distinct series among the valid samples */
	uint64_t expired;             /* of samples_written, those older than now - the store's
				       * retention (store_import_set_now): the next retention step
				       * deletes them */
};

struct store_import;

/*
 * Import into 'st' (opened read-write): parses as above and commits every 'batch_samples' samples
 * (0: STORE_IMPORT_BATCH) with store_batch_add + store_commit. Samples the store cannot hold
 * (e.g. over its label limits) are reported through malformed() like a bad line. Out-of-order
 * samples are refused by the store and counted. 'st' is borrowed until store_import_free(); the
 * caller must hold no store_reader on it while feeding: the importer is the process's writer
 * thread for its lifetime. Free with store_import_free().
 */
struct store_import *store_import_new(struct store *st, enum store_import_format fmt,
				      size_t batch_samples,
				      void (*malformed)(void *ctx, size_t line, const char *msg),
				      void *ctx);
/*
 * Count in stats.expired the samples written that are older than now_ms minus the store's
 * retention (store_options.retention_ms; nothing when it is 0). Call before the first feed.
 */
void store_import_set_now(struct store_import *imp, int64_t now_ms);
/* Parse and commit as batches fill. Returns 0 or store_commit()'s error (the failed batch is not
 * written; earlier batches stay committed). */
int store_import_feed(struct store_import *imp, const void *data, size_t len);
/* Commit the samples of the complete lines read so far, leaving a partial last line pending:
 * for input that ended in a read error, whose last line may be cut short. */
int store_import_flush(struct store_import *imp);
/* End of input: the last line, then a commit of what remains. Returns as store_import_feed(). */
int store_import_finish(struct store_import *imp);
/* The counts so far (complete after store_import_finish()). */
void store_import_get_stats(const struct store_import *imp, struct store_import_stats *out);
/* Free the importer (uncommitted samples are dropped). NULL is a no-op. */
void store_import_free(struct store_import *imp);

#endif
