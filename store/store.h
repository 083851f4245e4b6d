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
 * The store never logs an error it returns: the caller that handles it logs it, with
 * store_last_lmdb_error() for its cause (the LMDB error behind STORE_E_LMDB, the series behind
 * STORE_E_CORRUPT, a map that may not grow behind -ENOSPC, ...).
 * The importer of Prometheus text / OpenMetrics files is store/import.h.
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
	int decode_helpers;        /* threads that help a large read decode its chunks, started at
				    * the first such read (docs/store-format.md, "Reading on several
				    * cores"): 0 one fewer than the online CPUs, at most 3; < 0 none */
};

/*
 * Open (or create) the store. Checks the format version (STORE_E_FORMAT for a newer or foreign
 * store, with a message in 'err'), clears stale readers. On error 'err' (errlen bytes) holds one
 * line naming the path and the cause. Free with store_close(). Any thread.
 */
int store_open(const struct store_options *opt, struct store **out, char *err, size_t errlen);
/* Close the store, joining its decode helpers. No reader or batch commit may be in progress.
 * NULL is a no-op. */
void store_close(struct store *st);

/*
 * The text of error 'err' returned by a call on 'st', for the handler's one log line:
 * err_str(err), followed by the cause the store noted with the most recent error of that code
 * when there is one, e.g. "LMDB error (commit: MDB_BAD_TXN: Transaction must abort...)" or
 * "No space left on device (the map is full at 1048576 bytes and may not grow further
 * (storage.max_size))". Writes at most 'len' bytes to 'buf' and returns buf. 'st' may be NULL
 * (then err_str() alone). Any thread; with several threads failing at once with the same code
 * the cause may be another thread's.
 */
const char *store_last_lmdb_error(struct store *st, int err, char *buf, size_t len);

/* ---- writing ---- */

/* A new empty batch. Free with store_batch_free(). */
struct store_batch *store_batch_new(void);
/* Free a batch and everything it holds (uncommitted samples are dropped). NULL is a no-op. */
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
/*
 * Count, in store_commit_stats.written_before_horizon, the samples a commit of 'b' writes with a
 * timestamp before 't_ms' (INT64_MIN, the default: none). Kept across commits. For `import`,
 * which says how many of the samples it wrote are older than the retention, so the next
 * retention step deletes them. Writer thread.
 */
void store_batch_set_horizon(struct store_batch *b, int64_t t_ms);
/* Samples currently held by the batch. */
size_t store_batch_len(const struct store_batch *b);
/*
 * All or nothing (kept across commits; off by default): a commit of 'b' in which any sample is at
 * or before its series' last stored sample writes nothing at all (no sample, caller record or
 * catalog record) and returns STORE_E_OUT_OF_ORDER with stats->out_of_order the samples that
 * would have been refused; the batch is left as it was. For `replay`, whose file is counted whole
 * or not at all: refusing part of it would leave its error catalog and its content record
 * disagreeing with the samples. Off (the agent, `import`): refused samples are counted and the
 * rest written. Writer thread.
 */
void store_batch_set_all_or_nothing(struct store_batch *b, bool on);

struct store_commit_stats {
	uint64_t samples_written;
	uint64_t out_of_order;     /* refused per series: at or before the series' last timestamp */
	uint64_t series_out_of_order; /* series with at least one sample refused */
	uint64_t series_created;
	uint64_t written_before_horizon; /* of samples_written, those older than the batch's
					  * horizon (store_batch_set_horizon) */
};

/*
 * Write the batch in one transaction, growing the map as needed. On success the batch is emptied
 * and 'stats' (may be NULL) filled. On failure nothing was written and the batch is unchanged:
 * -ENOSPC (disk full, or the map reached max_map_size), -EFBIG, -EROFS (read-only store), -EBUSY
 * (this process's readers held up a map resize for over 10 s), STORE_E_LMDB, and for an
 * all-or-nothing batch (store_batch_set_all_or_nothing) STORE_E_OUT_OF_ORDER with 'stats'
 * filled (out_of_order, series_out_of_order; nothing written).
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
/* Free the appender (pending samples are dropped; its self-metrics stay in the registry).
 * NULL is a no-op. Writer thread. */
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

/* A read transaction. Cheap (an ended reader's arrays are reused); hold it only for one query.
 * Any thread. */
int store_reader_begin(struct store *st, struct store_reader **out);
/* End the read transaction: everything borrowed from it is gone. NULL is a no-op. The thread
 * that began it. */
void store_reader_end(struct store_reader *r);

/* Read a caller record into 'out' (replacing its contents). Returns 0 or -ENOENT. */
int store_reader_get_meta(struct store_reader *r, const char *key, struct buf *out);

/*
 * Visit the caller records (store_batch_put_meta) whose keys start with 'prefix', in key order,
 * in one read transaction: fn(ctx, key, val, len) with the key as it was put (NUL-terminated)
 * and the value, both valid only during the call. fn returns 0 to go on, > 0 to stop early, < 0
 * to stop with that error. Returns 0, fn's error, or a store error. Any thread.
 */
int store_scan_meta(struct store *st, const char *prefix,
		    int (*fn)(void *ctx, const char *key, const void *val, size_t len), void *ctx);

/*
 * The time span of the samples stored for the series with exactly the labels 'labels' (n pairs,
 * as store_batch_add() takes them; borrowed for the call): *first_ms and *last_ms. A commit
 * refuses a sample of the series at or before *last_ms. Returns 0, -ENOENT when the store has no
 * such series or no sample of it is left (retention), -EINVAL for labels the store cannot hold,
 * STORE_E_CORRUPT or STORE_E_LMDB. The thread that began 'r'.
 */
int store_series_span(struct store_reader *r, const struct label *labels, size_t n,
		      int64_t *first_ms, int64_t *last_ms);

/*
 * The series matching all 'nm' matchers (at least one must not match the empty string, as in
 * Prometheus) that have samples between from_ms and to_ms (inclusive; INT64_MIN/INT64_MAX for
 * all). Uses the postings, never a scan of all series when an equality matcher is present.
 * Returns 0, -EINVAL for a bad regex or an empty-matching selector (message in 'err').
 * The set is sorted by label set. Free it with store_series_set_free(); it owns copies.
 */
int store_select(struct store_reader *r, const struct matcher *m, size_t nm, int64_t from_ms,
		 int64_t to_ms, struct store_series_set **out, char *err, size_t errlen);
/* The number of series in the set. */
size_t store_series_set_len(const struct store_series_set *s);
/* The labels of series i, sorted by name, __name__ first. Borrowed until the set is freed. */
const struct label *store_series_set_labels(const struct store_series_set *s, size_t i, size_t *n);
/* The id of series i (for store_read_samples()); valid while the store holds the series. */
uint64_t store_series_set_id(const struct store_series_set *s, size_t i);
/* The metric type recorded for series i when it was created. */
enum metric_type store_series_set_type(const struct store_series_set *s, size_t i);
/* Free the set and its copies of the labels. NULL is a no-op. */
void store_series_set_free(struct store_series_set *s);

/*
 * Call fn for each sample of series 'id' with from_ms <= t <= to_ms, in time order, decoding
 * inside the read transaction. A non-zero return from fn stops and is returned.
 */
int store_read_samples(struct store_reader *r, uint64_t id, int64_t from_ms, int64_t to_ms,
		       int (*fn)(void *ctx, int64_t t_ms, double v), void *ctx);

/*
 * The samples of series 'id' inside the 'nwin' time windows [from_ms[i], to_ms[i]] (inclusive;
 * ascending and disjoint: from_ms[i] <= to_ms[i] < from_ms[i + 1]), in time order, in arrays
 * the reader owns: *t_ms and *v (NULL when *n is 0) are borrowed until the next
 * store_read_windows() on 'r' or store_reader_end(), so one buffer serves every series of a
 * query. A chunk that misses every window is skipped by its key and header without being
 * decoded; one inside a window is decoded straight into the arrays; one ending past a window
 * is decoded only as far as the window's end. For a query evaluated at steps far apart (a 5m
 * rate at a 1h step) this reads the windows, not the span. Stale markers come as stored.
 * Returns 0, -EINVAL for windows out of order, -E2BIG when more than 'max_samples' samples
 * fall inside the windows, STORE_E_CORRUPT, STORE_E_LMDB. The thread that began 'r'; a large
 * read's chunks are decoded on the store's helper threads too, inside the call (they only read
 * the transaction's pages, and are done before it returns: docs/store-format.md, "Reading on
 * several cores").
 */
int store_read_windows(struct store_reader *r, uint64_t id, const int64_t *from_ms,
		       const int64_t *to_ms, size_t nwin, uint64_t max_samples,
		       const int64_t **t_ms, const double **v, size_t *n);

/*
 * store_read_windows() for the series ids[0..nids) in turn, decoded together (so a selection of
 * many small series is one fork/join on the decode pool, not one per series): series are added
 * until the arrays hold 64 Ki samples or all are read; *done (>= 1 when nids > 0) tells how
 * many. Series ids[i] (i < *done) has n_out[i] samples (n_out has nids entries), consecutive in
 * *t_ms / *v after those of the series before it; 'max_samples' bounds each series. The arrays
 * are borrowed as store_read_windows()'s. Returns as store_read_windows(); on error nothing of
 * the batch is valid. With 'presence' the values only tell which samples are stale markers
 * (those are the marker; any other value is 0.0 or the stored value), for a caller that
 * counts samples: most chunks then skip decoding their values (chunk_decode_presence()).
 * The thread that began 'r'; the chunks may be decoded on the store's helper threads inside
 * the call (docs/store-format.md, "Reading on several cores").
 */
int store_read_windows_batch(struct store_reader *r, const uint64_t *ids, size_t nids,
			     const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
			     uint64_t max_samples, bool presence, size_t *done,
			     const int64_t **t_ms, const double **v, size_t *n_out);

/*
 * A selection read batch by batch, with the next batch decoded while the caller works on the
 * current one (docs/store-format.md, "Reading on several cores"): what a loop of
 * store_read_windows_batch() over ids[0..nids) gives, in the same batches, but when the store
 * has decode helpers each call to store_read_scan_next() also walks the batch after the one it
 * returns and hands its chunks to them, so on two cores the engine's walk over one batch and the
 * decoding of the next overlap. Reads too small for the helpers, and 'presence' reads, decode on
 * the calling thread as before.
 *
 * store_read_scan_begin() starts it: ids, the windows (checked: -EINVAL as
 * store_read_windows()) and n_out (nids entries) are borrowed until store_read_scan_end();
 * 'max_samples' and 'presence' as for store_read_windows_batch(). One scan per reader; a new
 * one, store_read_windows*() and store_reader_end() end the one in progress.
 *
 * store_read_scan_next() returns the next batch: series ids[*first .. *first + *count), n_out[i]
 * samples each, consecutive in *t_ms / *v, borrowed until the next call on 'r'. *count is 0 once
 * every series was returned. Errors as store_read_windows(), for the batch it would have
 * returned (-EINVAL without a scan); after one, end the scan.
 *
 * store_read_scan_end() waits for the helpers to finish the batch read ahead (they read the
 * transaction's pages): call it, or store_reader_end(), before ending the query. No-op without
 * a scan. All three: the thread that began 'r'.
 */
int store_read_scan_begin(struct store_reader *r, const uint64_t *ids, size_t nids,
			  const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
			  uint64_t max_samples, bool presence, size_t *n_out);
int store_read_scan_next(struct store_reader *r, size_t *first, size_t *count,
			 const int64_t **t_ms, const double **v);
void store_read_scan_end(struct store_reader *r);

/* Call fn for every label name in sorted order (for /api/v1/labels); the name is borrowed for
 * the call. A non-zero return from fn stops and is returned; otherwise 0 or a store error. */
int store_label_names(struct store_reader *r, int (*fn)(void *ctx, const char *name), void *ctx);
/* Call fn for every value of label 'name' in sorted order (/api/v1/label/NAME/values); returns
 * as store_label_names(). */
int store_label_values(struct store_reader *r, const char *name,
		       int (*fn)(void *ctx, const char *value), void *ctx);

/* ---- the error catalog (store/catalog.c; layout in docs/store-format.md) ---- */

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
 * caller counts it). 'e' (core/model.h; its 'previous' is not kept) is borrowed for the call.
 * Writer thread; the agent calls it from the tailer's exception callback with the parser's
 * report as it is.
 */
int store_catalog_buf_add(struct store_catalog_buf *cb, const struct logged_exception *e);
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

/* Which catalog records store_catalog_list() reads. */
struct store_catalog_filter {
	int64_t since_ms;  /* last seen at or after this */
	int64_t until_ms;  /* first seen at or before this (INT64_MAX: no bound) */
	bool new_only;     /* first seen at or after since_ms too */
	size_t limit;      /* at most this many, the most recently seen (0: no limit) */
};

/*
 * Call fn for every fingerprint 'f' selects (borrowed for the call), in its own read transaction,
 * most recent last_seen first (ties by fingerprint). The one reader of the catalog: `deploywatch
 * errors`, /api/v1/errors (query/api.h) and the judge's new exceptions. A non-zero return from
 * fn stops and is returned. Returns 0, STORE_E_CORRUPT for a record that does not decode, or an
 * LMDB error. Any thread.
 */
int store_catalog_list(struct store *st, const struct store_catalog_filter *f,
		       int (*fn)(void *ctx, const struct store_catalog_entry *e), void *ctx);
/*
 * The sample entry of one fingerprint, decompressed into 'out' (replacing its contents).
 * Returns 0, -ENOENT, -EINVAL (not a fingerprint) or STORE_E_CORRUPT. Any thread.
 */
int store_catalog_sample(struct store *st, const char *fingerprint, struct buf *out);

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

#endif
