#ifndef DW_COLLECTOR_TAIL_INT_H
#define DW_COLLECTOR_TAIL_INT_H

/*
 * Private to collector/: the tailer's pieces, one job per file.
 *
 *   tail_watch.c  the only file that touches libinotifytools: watches, raw events
 *   tail_file.c   file identity (dev + inode + a hash of the first bytes), the offset record,
 *                 the line reader (cuts over-long lines, repairs NUL and invalid UTF-8)
 *   tail_time.c   log time: per series, the values at earlier grid points, emitted before the
 *                 appender's own sample at 'now'
 *   tail.c        sources, globs, rotation, the pipeline reader -> ml -> logp, self-metrics
 *   tail_replay.c one file read to its end at log time (deploywatch replay)
 *
 * Collector thread only.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "collector/tail.h"
#include "core/buf.h"
#include "core/model.h"

struct registry;
struct series;

/* ---- identity and the offset record (tail_file.c) ---- */

/* Bytes at the start of a file whose hash tells a reused inode from the file we knew. */
#define TAIL_SIG_MAX 1024

/* Who a file is: device and inode, and a hash of its first sig_len bytes. */
struct tail_id {
	uint64_t dev;
	uint64_t ino;
	uint32_t sig_len;   /* bytes hashed: min(size, TAIL_SIG_MAX) when it was taken */
	uint64_t sig;       /* FNV-1a of those bytes (model_fnv1a) */
};

/*
 * Take the identity of the open file 'fd' (stat 'st'): reads up to TAIL_SIG_MAX bytes from
 * offset 0 with pread; 'head' (TAIL_SIG_MAX bytes, or NULL) receives them, so a reader can be
 * seeded with them (tail_reader_seed_head). Returns 0 or -errno.
 */
int tail_id_take(int fd, const struct stat *st, struct tail_id *id, char *head);
/*
 * Whether 'fd' (stat 'st') is still the file 'id' names: same device and inode, at least
 * id->sig_len bytes long, and the same hash of them. A file truncated and rewritten in place
 * (copytruncate) fails the hash; a reused inode too.
 */
bool tail_id_matches(int fd, const struct stat *st, const struct tail_id *id);

/* The bytes an identity was taken from, kept by a followed file: the check before each of its
 * reads then compares them (memcmp) instead of hashing a KiB on every wake-up. */
struct tail_head {
	struct tail_id id;      /* the identity 'bytes' hashed to; all zero: nothing kept yet */
	char bytes[TAIL_SIG_MAX];
};
/*
 * tail_id_matches, keeping in 'head' the bytes that matched 'id' the first time (by hash); later
 * checks of the same 'id' compare the file's first bytes with them. The same answers (a compare
 * is, if anything, stricter than a hash). 'head' starts zeroed; one per file.
 */
bool tail_id_verify(int fd, const struct stat *st, const struct tail_id *id,
		    struct tail_head *head);

/* What is committed per followed path: the file's identity, the offset of the last complete
 * entry, and the tick time it was committed with. */
struct tail_record {
	struct tail_id id;
	uint64_t offset;
	int64_t tick_ms;
};

#define TAIL_RECORD_SIZE 48
/* Encode into 'out' (little endian, a version byte first). Returns TAIL_RECORD_SIZE. */
size_t tail_record_encode(const struct tail_record *r, uint8_t out[TAIL_RECORD_SIZE]);
/* Decode; -EINVAL for a record of another size or version (then it is ignored and logged). */
int tail_record_decode(const void *data, size_t len, struct tail_record *r);
/* The store key of a source's path: "tail/<source>/<path>", cut to fit the store's key cap
 * with a hash of the path. 'out' holds TAIL_KEY_MAX bytes. */
#define TAIL_KEY_MAX 200
void tail_record_key(const char *source, const char *path, char out[TAIL_KEY_MAX]);

/*
 * The key of a file's content record, which says how far the content was counted whatever its
 * name (renamed, copied, compressed and replayed): "counted/<source>/<FNV-1a of the first line
 * as 16 hex digits>-<its length>", and with 'origin' (the followed path the content lived at;
 * NULL: none known) "/<FNV-1a of origin as 16 hex digits>" after it. The first line is fixed once
 * written, unlike the first KiB of a file that is still growing. Two files can begin with the
 * same line (a boot banner): the origin keeps their records apart, the key without it (written
 * too, last writer wins) serves a copy whose origin cannot be told. 'head' holds the file's first
 * bytes; returns false when it has no complete line (nothing of it can have been counted). 'out'
 * holds TAIL_KEY_MAX bytes.
 */
bool tail_content_key(const char *source, const char *head, size_t len, const char *origin,
		      char out[TAIL_KEY_MAX]);
/* The same for an open file: reads its first TAIL_SIG_MAX bytes with pread. */
bool tail_content_key_fd(const char *source, int fd, const char *origin, char out[TAIL_KEY_MAX]);
/*
 * Find how far the content whose first bytes are 'head' (len of them, at most TAIL_SIG_MAX) was
 * counted: the content records under each of the 'n' candidate origins, then the one without an
 * origin. A record counts only if its signature matches head (its sig_len first bytes hash to its
 * sig): the record of another file that begins with the same line does not. Among several, the
 * one whose device and inode are 'st''s (NULL: unknown) wins (a rename keeps the inode), else the
 * first. Returns the index of the origin it was found under (n: none), or -ENOENT; *rec and 'key'
 * (TAIL_KEY_MAX bytes) are set.
 */
int tail_content_find(const char *source, const char *head, size_t len, const struct stat *st,
		      const char *const *origins, size_t n, tail_get_fn get, void *ctx,
		      struct tail_record *rec, char key[TAIL_KEY_MAX]);
/*
 * Origins a rotated file's name suggests: each prefix of its base name ending before a '.' or
 * '-' ("laravel.log.3" -> "laravel", "laravel.log") that, in the same directory, matches the
 * glob 'pattern'. Returns how many were put into out[] (each malloc'd: the caller frees them),
 * at most 'max'.
 */
size_t tail_origins_by_name(const char *path, const char *pattern, char **out, size_t max);

/* ---- the line reader (tail_file.c) ---- */

/*
 * One complete line, without its newline, borrowed for the duration of the call. 'end' is the
 * file offset just past its newline. 'cut': the line was longer than the reader's max_line and
 * only its first max_line bytes are given. Returns 0 to go on, non-zero to stop.
 */
typedef int (*tail_line_fn)(void *ctx, const char *line, size_t len, uint64_t end, bool cut);

struct tail_reader {
	uint64_t offset;      /* file offset of the next byte fed */
	uint64_t line_start;  /* file offset where the pending partial line begins */
	struct buf line;      /* the pending partial line (at most max_line bytes) */
	struct buf fixed;     /* scratch for a repaired line */
	size_t max_line;
	bool cutting;         /* the pending line passed max_line: the rest is skipped */
	uint64_t lines, long_lines, repaired;
	/* The file's first head_len bytes (at most TAIL_SIG_MAX) as this reader read them from
	 * offset 0 on, or as seeded from the identity it started with: what the identity may grow
	 * to cover (tail_id_extend). */
	char head[TAIL_SIG_MAX];
	uint32_t head_len;
	bool stale;           /* the last tail_reader_read's check said the file changed */
};

/* A reader whose next byte is at 'offset'. max_line 0: TAIL_DEFAULT_MAX_LINE. */
void tail_reader_init(struct tail_reader *r, uint64_t offset, size_t max_line);
void tail_reader_release(struct tail_reader *r);
/* Forget the partial line and the head, and restart at 'offset' (a truncated file, a new
 * file). */
void tail_reader_reset(struct tail_reader *r, uint64_t offset);
/* The file's first 'len' bytes are 'bytes' (taken with the identity the reader starts with);
 * bytes it reads later at those offsets replace them. */
void tail_reader_seed_head(struct tail_reader *r, const char *bytes, size_t len);
/*
 * Grow 'id' to cover the first bytes 'r' has (r->head_len, when more than id->sig_len), so that
 * a followed file's identity covers what was read of it, never bytes only seen later. An
 * identity taken while the file was shorter than TAIL_SIG_MAX (empty just after a
 * copytruncate) and grown from whatever the file held at the next look would take on a
 * rewritten file's bytes and miss the rewrite: the next copytruncate's lines were lost.
 * Returns false, 'id' unchanged, when r's head does not begin with the bytes 'id' covers (the
 * file was rewritten between the check before the read and the read: the next check sees it).
 */
bool tail_id_extend(struct tail_id *id, const struct tail_reader *r);
/*
 * Split 'data' (len bytes that follow the previous ones) into lines for 'fn'. A line with NUL
 * bytes or invalid UTF-8 is given repaired (each bad byte becomes U+FFFD) and counted in
 * r->repaired. Returns 0 or fn's non-zero return (the bytes after that line are not consumed:
 * r->offset says where to go on).
 */
int tail_reader_feed(struct tail_reader *r, const char *data, size_t len, tail_line_fn fn,
		     void *ctx);
/* End of input (replay): give a last line that has no newline. Returns as feed. */
int tail_reader_finish(struct tail_reader *r, tail_line_fn fn, void *ctx);
/*
 * Read from 'fd' at r->offset (pread) up to 'budget' bytes and feed them. After each pread and
 * before its bytes are fed, 'check' (NULL: none) is asked whether the file is still the one
 * they were meant to come from; if not, they are dropped unfed, r->stale is set and reading
 * stops. Checking after the read closes the window a check before it leaves: a copytruncate
 * and new writes past our offset between the check and the read gave the new file's bytes at
 * the old offset. Returns the number of bytes fed (0 at end of file or when stale), or -errno.
 */
ssize_t tail_reader_read(struct tail_reader *r, int fd, size_t budget, tail_line_fn fn, void *ctx,
			 bool (*check)(void *ctx));

/* ---- log time (tail_time.c) ---- */

struct sample_view;
struct label;
/* The labels of registry sample 'sv', __name__ first, into out[] (REGISTRY_MAX_LABELS + 2 of
 * them; pointers borrowed from 'sv'). Returns how many. */
size_t tail_sample_labels(const struct sample_view *sv, struct label *out);

/*
 * Values of series at earlier grid points. Events are noted with the grid point at or after
 * their log time (ceil to 'res_ms'); at each tick the values at grid points before the tick are
 * emitted in time order, before the appender's own snapshot at the tick. An event at or before
 * the last tick is late: it is already in the registry's value, so the tick's sample counts it.
 */
struct tail_time;

struct tail_time *tail_time_new(int64_t res_ms);
void tail_time_free(struct tail_time *tt);
/*
 * Replay: 'held' (NULL: none) says whether the store already holds a sample of series 's' at or
 * after t_ms; a new series' zero (one grid step before its first event) is then left out, the
 * stored sample being the starting point already. Called once per series, when it is noted first.
 */
void tail_time_set_held(struct tail_time *tt, bool (*held)(void *ctx, struct series *s,
							  int64_t t_ms), void *ctx);
/* Nothing committed before this time is written over (after a restart: the stored tick time). */
void tail_time_set_floor(struct tail_time *tt, int64_t t_ms);
/*
 * Series 's' was just changed by an event at log time t_ms (the registry already holds the new
 * value): 'x' is a counter's delta or a histogram's observed value. Returns true when the event
 * is late (its grid point is at or before the last tick or the floor): the registry's value, and
 * so the next tick's sample, still counts it.
 */
bool tail_time_note(struct tail_time *tt, struct series *s, int64_t t_ms, double x);
/*
 * The agent's tick: emit, for every noted series, its value at each noted grid point before
 * 'tick_ms', oldest first, through 'fn' (label sets with __name__ first); forget every point and
 * take the series' current values (the tick's own sample) as the next base.
 */
int tail_time_emit(struct tail_time *tt, int64_t tick_ms, tail_sample_fn fn, void *ctx);
/*
 * Replay: emit the grid points before 'bound' (INT64_MAX: all) and keep the later ones, which
 * later entries may still add to. Events before bound - res are late from now on.
 */
int tail_time_emit_before(struct tail_time *tt, int64_t bound, tail_sample_fn fn, void *ctx);
/*
 * Replay's commit: emit every grid point noted so far, as tail_time_emit_before(INT64_MAX) does,
 * and make events at or before the latest of them late from now on (they count at the next
 * point), so what is emitted is final: a record committed with it may say these entries are
 * counted.
 */
int tail_time_emit_all(struct tail_time *tt, tail_sample_fn fn, void *ctx);
/*
 * Call 'fn' once per sample name of every series emitted so far (each bucket, _sum and _count of
 * a histogram) with its earliest emitted sample: its time and value (the zero stored before a
 * new series' first event counts). Returns 0 or fn's non-zero return.
 */
int tail_time_visit_first(struct tail_time *tt, tail_sample_fn fn, void *ctx);
/* Grid points waiting (for replay's batching). */
size_t tail_time_pending(const struct tail_time *tt);

/* ---- inotify (tail_watch.c) ---- */

/* What an inotify event says, in the tailer's terms. */
enum tail_watch_kind {
	TAIL_EV_MODIFIED,   /* a watched file, or a file in a watched directory, grew or shrank */
	TAIL_EV_CHANGED,    /* a name appeared or went; a file moved, lost or changed access */
	TAIL_EV_MOVED_FROM, /* a name in a watched directory was renamed ('cookie' pairs it) */
	TAIL_EV_MOVED_TO,   /* ... to this name */
	TAIL_EV_OVERFLOW,   /* the kernel's queue overflowed: events were lost */
};

typedef void (*tail_watch_fn)(void *ctx, int wd, enum tail_watch_kind kind, const char *name,
			      uint32_t cookie);

struct tail_watch;

/* Start inotify (once per process: libinotifytools is process-wide). Returns 0 or -errno. */
int tail_watch_new(struct tail_watch **out);
void tail_watch_free(struct tail_watch *w);
/* The descriptor to poll for readability. */
int tail_watch_fd(const struct tail_watch *w);
/* Watch a directory (names in it) or a file. Returns the watch descriptor or -errno. */
int tail_watch_dir(struct tail_watch *w, const char *path);
int tail_watch_file(struct tail_watch *w, const char *path);
/* Stop watching 'wd' (a file no longer followed). */
void tail_watch_remove(struct tail_watch *w, int wd);
/* Read every queued event without blocking and call fn for each. Returns 0 or -errno. */
int tail_watch_drain(struct tail_watch *w, tail_watch_fn fn, void *ctx);

/* ---- exceptions (tail.c) ---- */


#endif
