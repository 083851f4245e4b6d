#ifndef DW_STORE_STORE_H
#define DW_STORE_STORE_H

/*
 * The time-series store: LMDB under one directory. One writer at a time (LMDB's write lock, across
 * processes), any number of readers that never block it (MVCC, MDB_NOTLS so a thread pool and
 * CLI processes can read). The key schema is in docs/store-format.md.
 *
 * A series is a label set that includes __name__. Samples are (milliseconds, double). Samples are
 * written in batches: a batch collects samples and the caller's own records (file offsets) in
 * memory and store_commit() writes all of it in one LMDB transaction — everything or nothing.
 * A batch that could not be committed (disk full, map full that cannot grow, read-only directory)
 * is left intact so the caller can retry it later.
 *
 * Errors are negative errno values or the STORE_E_* codes of core/err.h; err_str() names them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/model.h"
#include "core/registry.h"

struct store;
struct store_batch;
struct store_reader;
struct store_series_set;
struct store_appender;

struct store_options {
	const char *path;          /* directory, created if missing (unless read_only) */
	int64_t retention_ms;      /* data older than now - retention is deleted by retention steps */
	bool read_only;            /* CLI readers: MDB_RDONLY, never create anything */
	size_t initial_map_size;   /* 0: a default; the map grows on MDB_MAP_FULL */
	size_t max_map_size;       /* 0: no limit; past it commits fail with -ENOSPC (storage.max_size) */
};

/*
 * Open (or create) the store. Checks the format version (STORE_E_FORMAT for a newer or foreign
 * store, with a message in 'err'), clears stale readers. On error 'err' (errlen bytes) holds one
 * line naming the path and the cause. Free with store_close(). Any thread.
 */
int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen);
/* Close the store. No reader or batch commit may be in progress. NULL is a no-op. */
void store_close(struct store *st);

/* ---- writing ---- */

/* A new empty batch. Free with store_batch_free(). */
struct store_batch *store_batch_new(void);
void store_batch_free(struct store_batch *b);
/*
 * Add one sample. 'labels' (n pairs, any order, must include __name__) are copied; labels with an
 * empty value are dropped, as in Prometheus. 'type' is recorded as the family's type for
 * metadata. Returns 0, -EINVAL for invalid labels, or -E2BIG when the batch already holds its
 * maximum (4M samples). Ordering is checked at commit.
 */
int store_batch_add(struct store_batch *b, const struct label *labels, size_t n,
		    enum metric_type type, int64_t t_ms, double v);
/* Put a caller record (key: up to 200 bytes, value: up to 1 KiB) written in the same transaction. */
int store_batch_put_meta(struct store_batch *b, const char *key, const void *val, size_t len);
/* Samples currently held by the batch. */
size_t store_batch_len(const struct store_batch *b);

struct store_commit_stats {
	uint64_t samples_written;
	uint64_t out_of_order;     /* refused per series: at or before the series' last timestamp */
	uint64_t series_created;
};

/*
 * Write the batch in one transaction, growing the map as needed. On success the batch is emptied
 * and 'stats' (may be NULL) filled. On failure nothing was written and the batch is unchanged:
 * -ENOSPC (disk full, or the map reached max_map_size), -EFBIG, -EROFS (read-only store), -EBUSY
 * (this process's readers held up a map resize for over 10 s), STORE_E_LMDB.
 * One writer thread per process, which must not hold a store_reader while it commits or runs
 * retention; safe beside other processes (LMDB's lock).
 */
int store_commit(struct store *st, struct store_batch *b, struct store_commit_stats *stats);

/*
 * Delete a bounded amount (at most 'max_chunks' chunks) of data older than now - retention, in its
 * own short transaction, so retention never stalls appends. Returns the number of chunks deleted
 * (0: nothing left to delete) or a negative error as store_commit(). Writer thread.
 */
int store_retention_step(struct store *st, int64_t now_ms, size_t max_chunks);

/* ---- the agent's appender ---- */

/*
 * Feeds the store from the registry every tick. Registers its self-metrics in 'reg'
 * (deploywatch_store_*: commits, errors, pending samples, dropped samples). Counters continue from
 * their stored value: store_appender_new() seeds 'reg' with the last stored value of every
 * counter series. Writer (collector) thread only. Free with store_appender_free().
 */
struct store_appender *store_appender_new(struct store *st, struct registry *reg,
					  size_t max_pending_samples);
void store_appender_free(struct store_appender *a);
/*
 * Snapshot every sample of the registry at 'now_ms', add stale markers for series that were in the
 * previous tick and are gone, let 'extra' (may be NULL) add the caller's records to the batch,
 * and commit. When the commit fails, or 'extra' returns non-zero (counted as reason="extra"),
 * the samples stay pending (up to max_pending_samples, oldest dropped and counted beyond that)
 * and are committed with the next successful tick. The appender's own self-metrics are
 * snapshotted before the commit they describe, so they reach the store one tick later.
 * Returns 0 or the commit's error (already counted; the caller decides whether to log).
 */
int store_appender_tick(struct store_appender *a, int64_t now_ms,
			int (*extra)(void *ctx, struct store_batch *b), void *ctx);

/* The caller's parts of a tick (store_appender_tick_hooks). Every callback may be NULL. */
struct store_tick_hooks {
	/* Before the registry's snapshot: samples at earlier times (a log event's timestamp), so
	 * each series' samples reach the batch in time order, the tick's own one last. */
	int (*before)(void *ctx, struct store_batch *b);
	/* After it: the caller's records (file offsets), as store_appender_tick's 'extra'. */
	int (*extra)(void *ctx, struct store_batch *b);
	void *ctx;
};

/*
 * store_appender_tick() with a 'before' hook too. A non-zero return from either hook is counted
 * as reason="extra" and keeps the batch pending, as for 'extra'. Writer (collector) thread only.
 */
int store_appender_tick_hooks(struct store_appender *a, int64_t now_ms,
			      const struct store_tick_hooks *hooks);

/* ---- reading ---- */

/* A read transaction. Cheap; hold it only for one query. Any thread. */
int store_reader_begin(struct store *st, struct store_reader **out);
void store_reader_end(struct store_reader *r);

/* Read a caller record into 'out' (replacing its contents). Returns 0 or -ENOENT. */
int store_reader_get_meta(struct store_reader *r, const char *key, struct buf *out);

/*
 * The series matching all 'nm' matchers (at least one must not match the empty string, as in
 * Prometheus) that have samples between from_ms and to_ms (inclusive; INT64_MIN/INT64_MAX for
 * all). Uses the postings, never a scan of all series when an equality matcher is present.
 * Returns 0, -EINVAL for a bad regex or an empty-matching selector (message in 'err').
 * The set is sorted by label set. Free it with store_series_set_free(); it owns copies.
 */
int store_select(struct store_reader *r, const struct matcher *m, size_t nm, int64_t from_ms,
		 int64_t to_ms, struct store_series_set **out, char *err, size_t errlen);
size_t store_series_set_len(const struct store_series_set *s);
/* The labels of series i, sorted by name, __name__ first. Borrowed until the set is freed. */
const struct label *store_series_set_labels(const struct store_series_set *s, size_t i, size_t *n);
uint64_t store_series_set_id(const struct store_series_set *s, size_t i);
enum metric_type store_series_set_type(const struct store_series_set *s, size_t i);
void store_series_set_free(struct store_series_set *s);

/*
 * Call fn for each sample of series 'id' with from_ms <= t <= to_ms, in time order, decoding
 * inside the read transaction. A non-zero return from fn stops and is returned.
 */
int store_read_samples(struct store_reader *r, uint64_t id, int64_t from_ms, int64_t to_ms,
		       int (*fn)(void *ctx, int64_t t_ms, double v), void *ctx);

/* Every label name, then every value of one label name, in sorted order (for /api/v1/labels). */
int store_label_names(struct store_reader *r, int (*fn)(void *ctx, const char *name), void *ctx);
int store_label_values(struct store_reader *r, const char *name,
		       int (*fn)(void *ctx, const char *value), void *ctx);

/* ---- import (store/import.c): Prometheus text 0.0.4 / OpenMetrics 1.0.0 with timestamps ---- */

/*
 * Input formats. AUTO decides at the first sample: OpenMetrics when an earlier line was a
 * `# UNIT`, a `# TYPE` with a type only OpenMetrics has (unknown, gaugehistogram, stateset, info)
 * or a counter family whose sample carries the `_total` suffix the TYPE line lacks, or when the
 * first timestamp has a fraction or exponent or, as an integer, is below 1e11 (seconds: before
 * year 5138; milliseconds: before 1973); the text format otherwise. Text timestamps are integer
 * milliseconds, OpenMetrics ones float seconds (rounded to the millisecond).
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
	enum metric_type type;      /* from # TYPE: summary, untyped, unknown, info, stateset map to
				     * gauge, gaugehistogram to histogram; no # TYPE: gauge */
	int64_t t_ms;
	double v;
};

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
/* End of input: parses a last line without a newline. Returns as feed. */
int store_import_parser_finish(struct store_import_parser *p);
/* The format in use (AUTO until the first sample decided it). */
enum store_import_format store_import_parser_format(const struct store_import_parser *p);
/* Free the parser. NULL is a no-op. */
void store_import_parser_free(struct store_import_parser *p);

struct store_import_stats {
	uint64_t lines;               /* lines read */
	uint64_t malformed;           /* malformed lines (skipped) */
	uint64_t samples;             /* valid samples parsed */
	uint64_t samples_written;     /* samples the store accepted */
	uint64_t out_of_order;        /* samples refused: at or before the series' last timestamp */
	uint64_t out_of_order_series; /* series with at least one such sample */
	uint64_t series;              /* distinct series among the valid samples */
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

/* ---- the error catalog (store/catalog.c; layout in docs/store-format.md) ---- */

/*
 * One logged exception, as the collector reports it (collector's struct logp_exception, copied
 * field by field by the agent's glue in cli/: the store does not include collector headers).
 * All pointers borrowed for the duration of the call.
 */
struct store_exception {
	const char *fingerprint; /* 32 hex digits */
	const char *class_name;
	const char *message;     /* normalised */
	const char *location;    /* in-app "file:function" or "" */
	const char *entry;       /* the whole entry: the first one seen is kept as the sample */
	size_t entry_len;
	int64_t t_ms;            /* the entry's log time */
};

#define STORE_CATALOG_MAX_PENDING 10000      /* distinct fingerprints awaiting one commit */
#define STORE_CATALOG_MAX_SAMPLE ((size_t)64 << 10) /* sample bytes kept (before zlib) */

/* Exceptions awaiting the next commit, merged per fingerprint. Writer thread. */
struct store_catalog_buf;

/* A new empty buffer. Free with store_catalog_buf_free(). */
struct store_catalog_buf *store_catalog_buf_new(void);
/* Free the buffer and whatever is still pending in it. NULL is a no-op. Writer thread. */
void store_catalog_buf_free(struct store_catalog_buf *cb);
/*
 * Count one exception: merged with the pending one of the same fingerprint (count, first and
 * last seen), or a new pending record whose sample is the entry (cut at STORE_CATALOG_MAX_SAMPLE
 * and compressed now). Strings are copied. Returns 0, -EINVAL for a fingerprint that is not 32
 * hex digits, or -E2BIG past STORE_CATALOG_MAX_PENDING distinct fingerprints (nothing added: the
 * caller counts it). Writer thread; the agent calls it from the tailer's exception callback.
 */
int store_catalog_buf_add(struct store_catalog_buf *cb, const struct store_exception *e);
/* Distinct fingerprints pending (0 for NULL). Writer thread. */
size_t store_catalog_buf_len(const struct store_catalog_buf *cb);
/*
 * Move everything pending in 'cb' into batch 'b' (cb is left empty), so store_commit() writes it
 * in the same transaction as the batch's samples and file offsets: the agent calls this from the
 * appender's 'extra' callback. A batch whose commit fails keeps it for the next one, exactly as
 * its samples. Returns 0. Writer thread.
 */
int store_batch_take_catalog(struct store_batch *b, struct store_catalog_buf *cb);

/* One catalog record as read. Strings borrowed for the duration of the callback. */
struct store_catalog_entry {
	const char *fingerprint;
	const char *class_name;
	const char *message;
	const char *location;
	int64_t first_seen_ms;
	int64_t last_seen_ms;
	uint64_t count;          /* every occurrence since first seen */
	size_t sample_len;       /* the uncompressed sample's length (store_catalog_sample) */
};

/*
 * Call fn for every fingerprint last seen at or after 'since_ms' (and, with 'new_only', first
 * seen at or after it too), in its own read transaction, most recent last_seen first. A non-zero
 * return from fn stops and is returned. Returns 0, STORE_E_CORRUPT for a record that does not
 * decode, or an LMDB error. Any thread.
 */
int store_catalog_list(struct store *st, int64_t since_ms, bool new_only,
		       int (*fn)(void *ctx, const struct store_catalog_entry *e), void *ctx);
/*
 * The sample entry of one fingerprint, decompressed into 'out' (replacing its contents).
 * Returns 0, -ENOENT, -EINVAL (not a fingerprint) or STORE_E_CORRUPT. Any thread.
 */
int store_catalog_sample(struct store *st, const char *fingerprint, struct buf *out);

/*
 * GET /api/v1/errors, transport-neutral: 'names'/'values' are the n query parameters (start,
 * end: RFC 3339 or Unix seconds, as the Prometheus API takes times; default the last hour
 * before now_ms; new: "true" for fingerprints first seen in the range; limit: at most that many,
 * default 1000), decoded by the caller. Writes the Prometheus API envelope to 'json'
 * ({"status":"success","data":[...]} or {"status":"error","errorType":"bad_data",...}) and
 * returns the HTTP status: 200, 400 for a bad parameter, 500 for a store error. Any thread.
 */
int store_catalog_api(struct store *st, const char *const *names, const char *const *values,
		      size_t n, int64_t now_ms, struct buf *json);

/* ---- deploy markers (store/deploys.c; layout in docs/store-format.md) ---- */

#define STORE_DEPLOY_MAX_NAME 128   /* bytes of a deploy name (a label value) */
#define STORE_DEPLOY_MAX_NOTE 1024  /* bytes of its note */
#define STORE_DEPLOY_MAX_LIST 100000 /* markers listed at most */

/* One deploy marker, copied out of the store (no pointers into LMDB). */
struct store_deploy {
	char name[STORE_DEPLOY_MAX_NAME + 1];
	int64_t at_ms;      /* when the deploy happened */
	int64_t created_ms; /* when the marker was written */
	char note[STORE_DEPLOY_MAX_NOTE + 1];
};

/* A deploy name is 1 to STORE_DEPLOY_MAX_NAME bytes of UTF-8 without control characters (it
 * becomes the value of the deploy label). Pure; any thread. */
bool store_deploy_name_valid(const char *name);

/*
 * Write (or replace) the marker 'name' at 'at_ms', with 'note' (NULL: none), in its own short
 * write transaction — safe beside the running agent, which it waits for at most one commit.
 * Strings borrowed for the call. Returns 0, -EINVAL for a bad name or note, -EROFS for a store
 * opened read-only, or an LMDB error (store_lmdb's codes). Any thread.
 */
int store_deploy_put(struct store *st, const char *name, int64_t at_ms, int64_t created_ms,
		     const char *note);

/*
 * Every marker, oldest first (by at, then name), in *out (free() it) with *n entries; at most
 * STORE_DEPLOY_MAX_LIST. A record that does not decode is left out. Returns 0 or an LMDB error.
 * Any thread.
 */
int store_deploy_list(struct store *st, struct store_deploy **out, size_t *n);

/*
 * The marker named 'name', or with name NULL the latest one at or before 'before_ms', copied to
 * *out. Returns 0, -ENOENT, or an LMDB error. Any thread.
 */
int store_deploy_find(struct store *st, const char *name, int64_t before_ms,
		      struct store_deploy *out);

/*
 * GET and POST /api/v1/deploys, transport-neutral: GET lists the markers; POST writes one from
 * the parameters name (required), at (RFC 3339 or Unix seconds; default now_ms) and note.
 * 'names'/'values' are the n decoded parameters, borrowed. Writes the Prometheus API envelope to
 * 'json' and returns the HTTP status: 200, 400 for a bad parameter, 405 for another method, 500
 * for a store error, 503 for a read-only store. Any thread (a POST takes the write lock briefly).
 */
int store_deploy_api(struct store *st, const char *method, const char *const *names,
		     const char *const *values, size_t n, int64_t now_ms, struct buf *json);

#endif
