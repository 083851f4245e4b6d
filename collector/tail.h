#ifndef DW_COLLECTOR_TAIL_H
#define DW_COLLECTOR_TAIL_H

/*
 * The log tailer: follows the configured sources' files (globs; rotation by rename+create,
 * copytruncate, delete and recreate, a re-pointed symlink; files that appear later), assembles
 * entries and parses them into the registry, at the entries' log time.
 *
 * Exactly once: the offset of each file's last complete entry is handed to the caller as a
 * record (tail_records) to be written in the same store transaction as the samples its lines
 * produced; after a restart the tailer resumes at the records it is given (tail_options.get).
 * The collector never sees the store: cli/ passes these callbacks through.
 *
 * Threads: everything here runs on the collector thread, the registry's only writer.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/model.h"

struct config;
struct registry;
struct tail;
struct tail_replay;

#define TAIL_DEFAULT_MAX_LINE ((size_t)1 << 20)

/* A sample for the store (labels: __name__ first, borrowed for the call). Non-zero stops. */
typedef int (*tail_sample_fn)(void *ctx, const struct label *labels, size_t n,
			      enum metric_type type, int64_t t_ms, double v);
/* A record for the store (store_batch_put_meta). Non-zero stops. */
typedef int (*tail_put_fn)(void *ctx, const char *key, const void *val, size_t len);
/* Read a record into 'out': 0, or -ENOENT when there is none, or another -errno. */
typedef int (*tail_get_fn)(void *ctx, const char *key, struct buf *out);
/* Visit the records whose keys start with 'prefix' (store_scan_meta's contract). */
typedef int (*tail_scan_fn)(void *ctx, const char *prefix,
			    int (*fn)(void *fctx, const char *key, const void *val, size_t len),
			    void *fctx);

/*
 * Called for each exception an entry carries, with the parser's report as it is ('e' borrowed for
 * the call: struct logged_exception in core/model.h). The agent hands it to the store's catalog
 * (store_catalog_buf_add) so it is committed in the same transaction as the samples and offsets
 * of its entry. Collector thread.
 */
typedef void (*tail_exception_fn)(void *ctx, const struct logged_exception *e);

struct tail_options {
	const struct config *cfg; /* sources, rules and tail: keys; borrowed until tail_free() */
	struct registry *reg;     /* borrowed until tail_free() */
	int64_t res_ms;           /* the store's sample resolution (storage.sample_interval) */
	tail_get_fn get;          /* the committed records; called only inside tail_new() */
	tail_scan_fn scan;        /* the same by key prefix (NULL: paths gone while the agent was
				   * down are not looked for); called only inside tail_new() */
	void *get_ctx;            /* for get and scan */
	tail_exception_fn exception; /* may be NULL: exceptions are only counted */
	void *exception_ctx;
};

/*
 * Start following every source of opt->cfg: registers the parsers' families and the tailer's
 * self-metrics (deploywatch_tail_*) in opt->reg, sets up inotify, opens the files that exist and
 * positions each at its committed record (a file without one: tail.start_at). Nothing is read
 * yet. Returns 0 and *out, or a negative errno / -EINVAL with one line in 'err' (inotify
 * unavailable, a rule that does not compile). Free with tail_free(). Collector thread.
 */
int tail_new(const struct tail_options *opt, int64_t now_ms, struct tail **out, char *err,
	     size_t errlen);
/* Close every file and watch. Pending entries are dropped (call tail_shutdown first to count
 * them). NULL is a no-op. */
void tail_free(struct tail *t);
/* The descriptor to poll for readability (inotify). */
int tail_fd(const struct tail *t);
/*
 * Do the tailer's work: take inotify's events, read what files gained, follow rotations, retry
 * files that could not be opened, re-check every file when the periodic check is due, complete
 * entries that have been idle. Reads at most a bounded amount per file per call so a huge file
 * never starves the tick; tail_deadline() is then 'now'. Errors are counted and logged here.
 * Returns whether inotify had events (a file is being written: the caller may let the next
 * lines gather before it calls again). Collector thread.
 */
bool tail_process(struct tail *t, int64_t now_ms);
/* The next time tail_process() must run even without an inotify event. */
int64_t tail_deadline(const struct tail *t);
/* When the earliest pending multi-line entry completes by its idle timeout (INT64_MAX: none is
 * pending). */
int64_t tail_entries_deadline(const struct tail *t);
/* Shutting down: read what is left and complete every pending entry, so the last records say
 * every byte read was counted. */
void tail_shutdown(struct tail *t, int64_t now_ms);
/*
 * Before the appender snapshots the registry at 'tick_ms': give the samples of events logged at
 * earlier grid points (oldest first), so the store holds them at their log time; the appender's
 * own sample at 'tick_ms' follows. Non-zero from 'fn' stops and is returned.
 */
int tail_before_tick(struct tail *t, int64_t tick_ms, tail_sample_fn fn, void *ctx);
/* The records to commit with the tick's samples: one per followed path. Returns 0 or put's
 * non-zero return. */
int tail_records(struct tail *t, int64_t tick_ms, tail_put_fn put, void *ctx);

/* ---- replay (deploywatch replay) ---- */

struct tail_replay_stats {
	uint64_t bytes;         /* bytes fed, skipped ones included */
	uint64_t skipped;       /* bytes already counted (by the agent or an earlier replay) */
	uint64_t lines;
	uint64_t entries;
	uint64_t events;        /* counter increments and histogram observations */
	uint64_t late;          /* events older than what was already emitted */
	uint64_t unmatched;
	uint64_t long_lines;
	int64_t first_ms, last_ms; /* time span of the events; INT64_MAX/INT64_MIN when none */
};

/*
 * Replay one file's bytes for source 'source' of 'cfg' at their log time, at resolution 'res_ms'.
 * 'get' (may be NULL) reads the store's records: the bytes the agent or an earlier replay already
 * counted for a file with the same first bytes are skipped. 'now_ms' stands for the time of
 * entries before the first one with a timestamp. Returns 0, -ENOENT (no such source, message in
 * 'err') or -EINVAL (a rule that does not compile). 'cfg' and 'reg' are borrowed until
 * tail_replay_free(). Free with tail_replay_free() (NULL is a no-op). One thread.
 */
int tail_replay_new(const struct config *cfg, const char *source, struct registry *reg,
		    int64_t res_ms, int64_t now_ms, tail_get_fn get, void *get_ctx,
		    struct tail_replay **out, char *err, size_t errlen);
/*
 * A store lookup for the replay, before the first feed: 'held' (NULL: none) says whether the
 * store holds a sample of the series with 'labels' (n pairs, __name__ first, borrowed for the
 * call) at or after t_ms. A series whose value before its first event is 0 (new, or a histogram,
 * which starts again at 0) gets a zero sample one grid step before that event so increase() sees
 * it; when the store already holds a sample there or later, that sample is the starting point
 * and the zero, which the store would refuse, is left out.
 */
void tail_replay_set_held(struct tail_replay *r,
			  bool (*held)(void *ctx, const struct label *labels, size_t n,
				       int64_t t_ms), void *ctx);
/* Send the replayed entries' exceptions to 'fn' (NULL: none), before the first feed. */
void tail_replay_set_exception(struct tail_replay *r, tail_exception_fn fn, void *ctx);
/* Free the replay (samples not handed out yet are dropped). NULL is a no-op. */
void tail_replay_free(struct tail_replay *r);
/*
 * Feed the next 'len' bytes of the file. Samples of grid points that are complete go to 'fn'
 * as they are; the caller commits them with tail_replay_records()'s record. Returns 0 or fn's
 * non-zero return.
 */
int tail_replay_feed(struct tail_replay *r, const char *data, size_t len, tail_sample_fn fn,
		     void *ctx);
/* End of the file: the last line and entry, and every remaining sample. */
int tail_replay_finish(struct tail_replay *r, tail_sample_fn fn, void *ctx);
/*
 * Before a commit in the middle of the file: hand every sample noted so far to 'fn', so the
 * record of tail_replay_records() (the offset of the last complete entry) and the samples
 * committed with it agree. Later events at or before the latest sample handed out count at the
 * next grid point (late). Returns 0 or fn's non-zero return.
 */
int tail_replay_flush(struct tail_replay *r, tail_sample_fn fn, void *ctx);
/*
 * The earliest sample handed out so far for each stored series (each sample name of a
 * histogram), through 'fn': what a store that already holds samples of that series at or after
 * it would refuse. Returns 0 or fn's non-zero return. Complete after tail_replay_finish().
 */
int tail_replay_first_samples(struct tail_replay *r, tail_sample_fn fn, void *ctx);
/* The record that says how far this file was counted, to commit with the samples given so far. */
int tail_replay_records(struct tail_replay *r, tail_put_fn put, void *ctx);
/* The counts so far (complete after tail_replay_finish()). */
void tail_replay_get_stats(const struct tail_replay *r, struct tail_replay_stats *out);

#endif
