/*
 * The tailer: sources, globs, rotation, and the pipeline reader -> ml -> logp.
 *
 * Events are hints, the file system is the truth: an inotify event only says which source or
 * file to look at again, and looking again (sync_source) is idempotent — glob the path, compare
 * each name's device and inode with the file held open, read what is new. So a lost event
 * (queue overflow, a file system without inotify) costs latency until the periodic check, never
 * a line.
 *
 * Rotation: when a path names another file than the one held open (rename+create, delete and
 * recreate, a re-pointed symlink), the old file is read to its end and its pending entry
 * completed before the path's record moves to the new file; the old descriptor stays open for a
 * grace period in case a writer still appends to it. A file that shrinks, or whose first bytes
 * changed, was truncated in place (copytruncate) and is read again from 0.
 */
#include "collector/tail_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "collector/logparse_int.h"
#include "core/config.h"
#include "core/err.h"
#include "core/log.h"
#include "core/registry.h"

/* Bytes read from one file per tail_process() call: a 50 MiB line or a huge backlog never holds
 * up the tick; the loop comes back at once. */
#define READ_BUDGET ((size_t)4 << 20)
/* Files followed per source: a glob that matches a whole disk is cut here (and logged). */
#define MAX_FILES_PER_SOURCE 512
/* How long a rotated-away file stays open for writers that still append to it. */
#define DRAIN_GRACE_MS 5000
/* How often a draining file is read meanwhile: nothing we watch reports its writes. */
#define DRAIN_POLL_MS 100

struct tsource;

struct tfile {
	struct tsource *src;
	char *path;             /* the path followed; NULL once rotated away (draining) */
	char *dir, *base;       /* the path's directory and name, for directory events */
	int fd;                 /* -1: not open (missing, or an error being retried) */
	int wd;                 /* its own inotify watch, -1 when none */
	struct tail_id id;
	struct tail_head head;  /* the bytes of 'id', for the check of each read */
	const struct stat *read_st; /* during a read: the file's stat taken before it */
	struct tail_reader rd;
	struct ml *ml;
	int64_t drain_until;    /* draining: close after this */
	int64_t last_line_ms;   /* when the last line was read (idle timeout) */
	int64_t caught_up_ms;   /* when the offset last reached the end of the file */
	uint64_t last_size;     /* the file's size when last looked at (what a truncation lost) */
	int open_err;           /* the last open error, logged once until it changes */
	int read_err;           /* the last read error, logged once until it changes */
	bool seen;              /* sync: still matched by the glob */
	bool more;              /* the last read stopped at the budget: more is waiting */
	bool done;              /* drained and closed: goes once its last record is written */
	bool have_ckey;         /* ckey/lkey hold the content record's keys (tail_content_key) */
	bool rewritten;         /* draining, written over in place: its head is not its content */
	char *origin;           /* the followed path its content lived at (content key); NULL */
	char *real;             /* the file the path led to through symlinks, when not itself
				 * (recorded: a link re-pointed while the agent was down); NULL */
	char ckey[TAIL_KEY_MAX]; /* with the origin (lkey when there is none) */
	char lkey[TAIL_KEY_MAX]; /* without it */
	uint64_t lines_seen, long_seen, repaired_seen; /* reader counters already in the registry */
	struct series *m_lines, *m_bytes, *m_lag_bytes, *m_lag_seconds, *m_rotations,
		*m_truncations, *m_long, *m_repaired, *m_errors;
};

struct tsource {
	struct tail *t;
	const struct config_source *cfg;
	struct logp *logp;
	struct tfile **files;
	size_t nfiles, cap;
	bool dirty;             /* an event said: look at this source again */
	bool none_logged;       /* "matches no file yet" was logged */
	bool cap_logged;
	bool unmatched_logged;
	int64_t floor;          /* start-up: the latest tick committed for it (INT64_MIN: none) */
	struct series *m_entries, *m_unmatched, *m_late, *m_events, *m_files;
};

struct dwatch {
	char *path;
	int wd;
	uint64_t dev, ino;  /* the directory 'path' named when watched: a symlink on the way
			     * re-pointed (a `current` release swap) makes it name another */
};

/* A rename seen in a watched directory, looked at after the sources are synced. */
struct tmove {
	uint32_t cookie;
	int wd;
	char *from, *to;        /* names in the directory; 'to' NULL until IN_MOVED_TO */
};

#define MAX_MOVES 256

struct tail {
	const struct config *cfg;
	struct registry *reg;
	struct tail_watch *watch;
	struct tail_time *time;
	struct tsource *sources;
	size_t nsources;
	struct dwatch *dirs;
	size_t ndirs;
	struct tmove moves[MAX_MOVES];
	size_t nmoves;
	struct ml_options mlopt;
	size_t max_line;
	int64_t check_ms;       /* the periodic re-check */
	int64_t next_check;
	bool busy;              /* a file has more to read than one call's budget */
	unsigned events;        /* inotify events taken in the current tail_process() call */
	bool start_at_end;
	bool starting;          /* inside tail_new: records are read */
	tail_get_fn get;
	tail_scan_fn scan;
	void *get_ctx;
	tail_exception_fn exception;
	void *exception_ctx;
	int64_t now;            /* the current call's time, for callbacks */
	struct series *m_overflows;
	struct metric *f_lines, *f_bytes, *f_lag_bytes, *f_lag_seconds, *f_rotations,
		*f_truncations, *f_long, *f_repaired, *f_errors, *f_lost_files, *f_lost_bytes;
};

/* ---- self-metrics ---- */

static const char *const file_labels[] = { "source", "path", NULL };
static const char *const source_labels[] = { "source", NULL };

static void register_metrics(struct tail *t)
{
	struct registry *r = t->reg;
	struct metric *m;

	t->f_lines = registry_counter(r, "deploywatch_tail_lines_total",
				      "Lines read per file (a pending multi-line entry is read again "
				      "after a restart).", file_labels);
	t->f_bytes = registry_counter(r, "deploywatch_tail_bytes_total", "Bytes read per file.",
				      file_labels);
	t->f_lag_bytes = registry_gauge(r, "deploywatch_tail_lag_bytes",
					"Bytes written to the file and not read yet.", file_labels);
	t->f_lag_seconds = registry_gauge(r, "deploywatch_tail_lag_seconds",
					  "Seconds since the file was last read to its end, while "
					  "bytes are waiting; 0 when caught up.", file_labels);
	t->f_rotations = registry_counter(r, "deploywatch_tail_rotations_total",
					  "The path was found naming a new file (rename+create, "
					  "delete and recreate, a re-pointed symlink).", file_labels);
	t->f_truncations = registry_counter(r, "deploywatch_tail_truncations_total",
					    "The file shrank or was rewritten in place "
					    "(copytruncate); read again from the start.", file_labels);
	t->f_long = registry_counter(r, "deploywatch_tail_long_lines_total",
				     "Lines longer than tail.max_line_size, cut there.", file_labels);
	t->f_repaired = registry_counter(r, "deploywatch_tail_repaired_lines_total",
					 "Lines with NUL bytes or invalid UTF-8, repaired with "
					 "U+FFFD.", file_labels);
	t->f_errors = registry_counter(r, "deploywatch_tail_errors_total",
				       "Open and read errors per file (permission denied, I/O).",
				       file_labels);
	t->f_lost_files = registry_counter(r, "deploywatch_tail_lost_files_total",
					   "Files truncated, replaced or deleted before their end was "
					   "read, whose unread part was found in no rotated copy.",
					   file_labels);
	t->f_lost_bytes = registry_counter(r, "deploywatch_tail_lost_bytes_total",
					   "Bytes of those files known to be unread (a lower bound: what "
					   "was written after the last look is not known).", file_labels);
	/* A loss stays on /metrics across restarts (an alert on it must not go stale because the
	 * file it names is gone and never followed again). */
	if (t->f_lost_files)
		metric_create_seeded(t->f_lost_files);
	if (t->f_lost_bytes)
		metric_create_seeded(t->f_lost_bytes);
	m = registry_counter(r, "deploywatch_tail_inotify_overflows_total",
			     "Times inotify's queue overflowed; every file was checked again.", NULL);
	t->m_overflows = m ? metric_series(m, NULL) : NULL;
}

static struct series *path_series(struct metric *m, const struct tsource *src, const char *path)
{
	const char *values[] = { src->cfg->name, path, NULL };

	return m ? metric_series(m, values) : NULL;
}

static struct series *file_series(struct metric *m, const struct tfile *tf)
{
	return path_series(m, tf->src, tf->path);
}

static void add(struct series *s, double v)
{
	if (s && v)
		series_add(s, v);
}

static void set(struct series *s, double v)
{
	if (s)
		series_set(s, v);
}

static void register_source_metrics(struct tsource *src)
{
	struct registry *r = src->t->reg;
	const char *values[] = { src->cfg->name, NULL };
	struct metric *m;

	m = registry_counter(r, "deploywatch_tail_entries_total",
			     "Entries assembled and parsed per source.", source_labels);
	src->m_entries = m ? metric_series(m, values) : NULL;
	m = registry_counter(r, "deploywatch_tail_unmatched_entries_total",
			     "Entries that matched no pattern of the source's format.",
			     source_labels);
	src->m_unmatched = m ? metric_series(m, values) : NULL;
	m = registry_counter(r, "deploywatch_tail_late_events_total",
			     "Events logged before the last stored sample of their series: counted "
			     "in the current sample instead of at their log time.",
			     source_labels);
	src->m_late = m ? metric_series(m, values) : NULL;
	m = registry_counter(r, "deploywatch_tail_events_total",
			     "Counter increments and histogram observations made from entries.",
			     source_labels);
	src->m_events = m ? metric_series(m, values) : NULL;
	m = registry_gauge(r, "deploywatch_tail_files", "Files followed per source.",
			   source_labels);
	src->m_files = m ? metric_series(m, values) : NULL;
}

/* The key of a source's own record (its last tick), beside its paths' "tail/<source>/<path>". */
static void source_key(const struct tsource *src, char out[TAIL_KEY_MAX])
{
	snprintf(out, TAIL_KEY_MAX, "tailsrc/%.180s", src->cfg->name);
}

/* The key of the record naming the file 'path' led to through symlinks: "real/<source>/<path>"
 * (tail_record_key's shape, the same length). */
static void real_key(const struct tsource *src, const char *path, char out[TAIL_KEY_MAX])
{
	char k[TAIL_KEY_MAX];

	tail_record_key(src->cfg->name, path, k);
	snprintf(out, TAIL_KEY_MAX, "real/%s", k + strlen("tail/"));
}

/* The file 'path' led to at the last commit, when a real/ record says (into 'out'). */
static bool recorded_real(struct tail *t, struct tsource *src, const char *path, char *out,
			  size_t outlen)
{
	char key[TAIL_KEY_MAX];
	struct buf b;
	bool ok;

	real_key(src, path, key);
	buf_init(&b, 256);
	ok = t->get(t->get_ctx, key, &b) == 0 && b.len > 0 && b.len < outlen;
	if (ok) {
		memcpy(out, b.data, b.len);
		out[b.len] = '\0';
	}
	buf_release(&b);
	return ok;
}

/*
 * At start-up, 'real' (the file a symlinked path led to at the last commit) opened when it is
 * still the file 'rec' recorded (identity rec->id) and at least rec->offset long: a release swap
 * while the agent was down left it in the old release. Else -1.
 */
static int open_recorded(const char *real, const struct tail_record *rec)
{
	struct stat st;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd >= 0 && (fstat(fd, &st) < 0 || !tail_id_matches(fd, &st, &rec->id) ||
			(uint64_t)st.st_size < rec->offset)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static bool held(const struct tsource *src, const struct stat *st);
static void tfile_close(struct tail *t, struct tfile *tf);
static struct tfile *drain_file(struct tsource *src, const char *path, int fd,
			       const struct tail_id *id, uint64_t offset, const char *origin);

/*
 * Start-up, a symlinked path whose link was re-pointed while the agent was down: the file it led
 * to ('real') is no longer the one recorded (copytruncated, or replaced by a rename, while its
 * release's workers still wrote to it). What it holds now lived at the followed path and nobody
 * counted it: read it from its content record's offset, or from 0. 'except': the inode the path
 * leads to now.
 */
static void drain_old_real(struct tsource *src, const char *path, const char *real,
			   uint64_t except)
{
	struct tail *t = src->t;
	char head[TAIL_SIG_MAX], key[TAIL_KEY_MAX];
	const char *origins[1] = { path };
	struct tail_record rec;
	struct tail_id id;
	struct stat st;
	uint64_t from = 0;
	ssize_t n;
	int fd = open(real, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_ino == except ||
	    held(src, &st) || tail_id_take(fd, &st, &id, NULL) || !id.sig_len) {
		close(fd);
		return;
	}
	n = pread(fd, head, sizeof(head), 0);
	if (n > 0 && tail_content_find(src->cfg->name, head, (size_t)n, &st, origins, 1, t->get,
				       t->get_ctx, &rec, key) >= 0)
		from = rec.offset;
	log_info("tail", "%s: the file it led to before its symlink was re-pointed, %s, holds "
			 "lines written since; reading it from %llu", path, real,
		 (unsigned long long)from);
	drain_file(src, real, fd, &id, from, path);
}

/* Start-up: the source's last committed tick is the floor for what recover() reads. */
static void load_source_floor(struct tail *t, struct tsource *src)
{
	struct tail_record rec;
	char key[TAIL_KEY_MAX];
	struct buf b;

	if (!t->get)
		return;
	source_key(src, key);
	buf_init(&b, 64);
	if (t->get(t->get_ctx, key, &b) == 0 && tail_record_decode(b.data, b.len, &rec) == 0) {
		src->floor = rec.tick_ms;
		tail_time_set_floor(t->time, rec.tick_ms);
	}
	buf_release(&b);
}

/* ---- the pipeline ---- */

static void sink_counted(void *ctx, struct series *s, double delta, int64_t t_ms)
{
	struct tsource *src = ctx;

	add(src->m_events, 1);
	if (tail_time_note(src->t->time, s, t_ms, delta))
		add(src->m_late, 1);
}

static void sink_observed(void *ctx, struct series *s, double value, int64_t t_ms)
{
	struct tsource *src = ctx;

	add(src->m_events, 1);
	if (tail_time_note(src->t->time, s, t_ms, value))
		add(src->m_late, 1);
}

static void sink_unmatched(void *ctx, const char *text, size_t len)
{
	struct tsource *src = ctx;

	add(src->m_unmatched, 1);
	/* Once per source: the metric counts the rest. */
	if (!src->unmatched_logged)
		log_warn("tail", "source %s: an entry matches no pattern of format %s (counted in "
				 "deploywatch_tail_unmatched_entries_total; logged once): %.*s",
			 src->cfg->name, config_format_name(src->cfg->format), (int)(len > 120 ? 120 : len),
			 text);
	src->unmatched_logged = true;
}

static void sink_exception(void *ctx, const struct logged_exception *x)
{
	struct tsource *src = ctx;

	if (src->t->exception)
		src->t->exception(src->t->exception_ctx, x);
}

static int on_entry(void *ctx, const struct ml_entry *e)
{
	struct tfile *tf = ctx;
	struct tsource *src = tf->src;
	const struct logp_sink sink = { .counted = sink_counted, .observed = sink_observed,
					.exception = sink_exception,
					.unmatched = sink_unmatched, .ctx = src };

	add(src->m_entries, 1);
	return logp_entry(src->logp, e->text, e->len, src->t->now, &sink);
}

static int on_line(void *ctx, const char *line, size_t len, uint64_t end, bool cut)
{
	struct tfile *tf = ctx;

	(void)cut;
	tf->last_line_ms = tf->src->t->now;
	return ml_push(tf->ml, line, len, end, tf->src->t->now, on_entry, tf);
}

/* The offset every byte before which is counted. */
static uint64_t committable(const struct tfile *tf)
{
	return ml_committable_offset(tf->ml);
}

/* Move the reader's counters into the registry. */
static void publish(struct tfile *tf, int64_t now, off_t size)
{
	struct tail_reader *rd = &tf->rd;
	uint64_t lag = size > (off_t)rd->offset ? (uint64_t)size - rd->offset : 0;

	add(tf->m_lines, (double)(rd->lines - tf->lines_seen));
	add(tf->m_long, (double)(rd->long_lines - tf->long_seen));
	add(tf->m_repaired, (double)(rd->repaired - tf->repaired_seen));
	if (rd->long_lines != tf->long_seen)
		log_warn("tail", "%s: %llu line(s) longer than %zu bytes, cut there; tailing goes on",
			 tf->path ? tf->path : "(rotated file)",
			 (unsigned long long)(rd->long_lines - tf->long_seen), rd->max_line);
	if (rd->repaired != tf->repaired_seen)
		log_warn("tail", "%s: %llu line(s) with NUL bytes or invalid UTF-8, repaired",
			 tf->path ? tf->path : "(rotated file)",
			 (unsigned long long)(rd->repaired - tf->repaired_seen));
	tf->last_size = (uint64_t)size;
	tf->lines_seen = rd->lines;
	tf->long_seen = rd->long_lines;
	tf->repaired_seen = rd->repaired;
	if (!lag)
		tf->caught_up_ms = now;
	if (tf->path) {
		set(tf->m_lag_bytes, (double)lag);
		set(tf->m_lag_seconds, lag ? (double)(now - tf->caught_up_ms) / 1000.0 : 0);
	}
}

static void file_error(struct tfile *tf, int err, const char *what)
{
	if (err != tf->read_err)
		log_warn("tail", "cannot %s %s: %s; tailing goes on and retries", what,
			 tf->path ? tf->path : "(rotated file)", err_str(err));
	tf->read_err = err;
	add(tf->m_errors, 1);
}

static struct tfile *drain_file(struct tsource *src, const char *path, int fd,
			       const struct tail_id *id, uint64_t offset, const char *origin);
static gzFile find_gz_counterpart(const char *dir, const struct tail_id *id, char *found,
				  size_t flen);
static void drain_gz(struct tsource *src, const char *path, gzFile gz, const struct tail_id *id,
		     uint64_t offset, const char *origin);

/*
 * The unread end of tf's file is gone for good (truncated or replaced with no copy found, or
 * deleted while the agent was down): never silent, a log line and the lost-files counter; the
 * bytes are counted when known ('bytes' 0: not known).
 */
static void lost_at(struct tsource *src, const char *path, uint64_t offset, uint64_t bytes,
		    const char *how)
{
	add(path_series(src->t->f_lost_files, src, path), 1);
	add(path_series(src->t->f_lost_bytes, src, path), (double)bytes);
	if (bytes)
		log_warn("tail", "%s was %s before %llu byte(s) after offset %llu were read, and no "
				 "rotated copy beside it holds them: they are lost (counted in "
				 "deploywatch_tail_lost_bytes_total)", path, how,
			 (unsigned long long)bytes, (unsigned long long)offset);
	else
		log_warn("tail", "%s was %s and no rotated copy beside it holds what followed offset "
				 "%llu: anything written there after the last commit is lost (counted in "
				 "deploywatch_tail_lost_files_total)", path, how,
			 (unsigned long long)offset);
}

static void lost(struct tfile *tf, uint64_t bytes, const char *how)
{
	lost_at(tf->src, tf->path, tf->rd.offset, bytes, how);
}

static int find_counterpart(const char *dir, const struct tail_id *id, uint64_t offset,
			    uint64_t except, char *found, size_t flen);

/* Take tf's identity from its open file, and seed its reader with the bytes it covers (the
 * reader must be positioned first: positioning forgets the head). */
static void take_id(struct tfile *tf, const struct stat *st)
{
	char head[TAIL_SIG_MAX];

	if (tail_id_take(tf->fd, st, &tf->id, head) == 0)
		tail_reader_seed_head(&tf->rd, head, tf->id.sig_len);
}

/*
 * The file shrank or its first bytes changed: copytruncate. What was not read yet is in the copy
 * if it sits beside the file (logrotate's laravel.log.1): read it from there. Then complete the
 * pending entry and start over.
 */
static void truncated(struct tfile *tf, const struct stat *st)
{
	char found[4096];
	int cfd = find_counterpart(tf->dir, &tf->id, tf->rd.offset, (uint64_t)st->st_ino, found,
				   sizeof(found));
	gzFile gz = cfd < 0 ? find_gz_counterpart(tf->dir, &tf->id, found, sizeof(found)) : NULL;

	if (gz) {
		/* The copy was compressed at once (compress without delaycompress). */
		log_info("tail", "%s: reading the rest of the truncated file from its compressed "
				 "copy %s", tf->path, found);
		drain_gz(tf->src, tf->path, gz, &tf->id, ml_committable_offset(tf->ml), tf->path);
		ml_free(tf->ml);
		tf->ml = ml_new(logp_get_format(tf->src->logp), &tf->src->t->mlopt);
	} else if (cfd >= 0) {
		log_info("tail", "%s: reading the rest of the truncated file from its copy %s",
			 tf->path, found);
		/* The pending entry's lines are read again from the copy, at its start. */
		drain_file(tf->src, tf->path, cfd, &tf->id, ml_committable_offset(tf->ml), tf->path);
		ml_free(tf->ml);
		tf->ml = ml_new(logp_get_format(tf->src->logp), &tf->src->t->mlopt);
	} else if (tf->last_size > tf->rd.offset) {
		/* Truncated with bytes we had seen and not read, and no copy beside it holds them. */
		lost(tf, tf->last_size - tf->rd.offset, "truncated");
	}
	ml_flush(tf->ml, on_entry, tf);
	log_info("tail", "%s was truncated (%llu bytes, was read to %llu); reading it from the start",
		 tf->path, (unsigned long long)st->st_size, (unsigned long long)tf->rd.offset);
	tail_reader_reset(&tf->rd, 0);
	ml_set_offset(tf->ml, 0);
	tf->have_ckey = false;
	tf->last_size = 0;
	take_id(tf, st);
	add(tf->m_truncations, 1);
}

/* tail_reader_read's check: the file's first bytes are still those tf's identity names (a
 * 1 KiB pread from the page cache and a memcmp). */
static bool same_file(void *ctx)
{
	struct tfile *tf = ctx;

	return tail_id_verify(tf->fd, tf->read_st, &tf->id, &tf->head);
}

/*
 * A draining file (rotated away) only grows, for writers that have not reopened yet. Shorter
 * than what was read, or with other first bytes, it was written over in place: `cp laravel.log
 * laravel.log.1` onto the previous copy, whose new content is lines the followed file counted.
 * Reading on from our offset would count them twice: what the old content had is counted, its
 * pending entry completed, and the file closed without a content record (its first line is
 * not the content that was counted).
 */
static void drain_rewritten(struct tail *t, struct tfile *tf)
{
	log_info("tail", "a rotated file of %s being read to its end was written over in place "
			 "(another copy onto it): its new lines are the followed file's, not read "
			 "again", tf->origin ? tf->origin : "(unknown)");
	ml_flush(tf->ml, on_entry, tf);
	tf->rewritten = true;
	tfile_close(t, tf);
	tf->done = true;
}

/*
 * Read what the file gained, up to the budget. A file that shrank was truncated; one truncated
 * and written again past our offset (copytruncate under a busy writer) is caught by its first
 * bytes, compared after each read and before its bytes are used when 'verify', against
 * counting a new file's bytes read at the old offset. One truncated and written again to
 * exactly our offset has nothing to read, so no read checks it: its first bytes are compared
 * whenever a look finds it at our offset (a 1 KiB pread from the page cache per followed file
 * and look), or its new lines and its copy's unread rest would wait for the next write, and be
 * lost if the file were rotated again before one.
 */
static void read_file_v(struct tail *t, struct tfile *tf, bool verify)
{
	struct stat st;
	ssize_t n;

	if (tf->fd < 0)
		return;
	if (fstat(tf->fd, &st) < 0) {
		file_error(tf, -errno, "stat");
		return;
	}
	tf->read_st = &st;
	if (st.st_size < (off_t)tf->rd.offset ||
	    (verify && tf->rd.offset > 0 && st.st_size == (off_t)tf->rd.offset && !same_file(tf))) {
		if (!tf->path) {
			tf->read_st = NULL;
			drain_rewritten(t, tf);
			return;
		}
		truncated(tf, &st);
	}
	n = tail_reader_read(&tf->rd, tf->fd, READ_BUDGET, on_line, tf, verify ? same_file : NULL);
	if (n >= 0 && tf->rd.stale && !tf->path) {
		tf->read_st = NULL;
		drain_rewritten(t, tf);
		return;
	}
	if (n >= 0 && tf->rd.stale && fstat(tf->fd, &st) == 0) {
		truncated(tf, &st);
		n = tail_reader_read(&tf->rd, tf->fd, READ_BUDGET, on_line, tf, same_file);
	}
	tf->read_st = NULL;
	if (n < 0) {
		file_error(tf, (int)n, "read");
		return;
	}
	/* The identity grows with what was read, not with what the file holds at the next look. */
	tail_id_extend(&tf->id, &tf->rd);
	if (n > 0 && tf->read_err) {
		log_info("tail", "reading %s again", tf->path ? tf->path : "(rotated file)");
		tf->read_err = 0;
	}
	add(tf->m_bytes, (double)n);
	tf->more = (size_t)n >= READ_BUDGET;
	if (tf->more)
		t->busy = true;
	publish(tf, t->now, st.st_size);
}

static void read_file(struct tail *t, struct tfile *tf)
{
	read_file_v(t, tf, true);
}

/* Read to the end now, whatever the budget (rotation, shutdown). */
static void read_to_end(struct tail *t, struct tfile *tf)
{
	bool busy = t->busy;

	do {
		t->busy = false;
		read_file(t, tf);
	} while (t->busy);
	t->busy = busy;
}

/* ---- files ---- */

static void split_path(struct tfile *tf)
{
	char *a = xstrdup(tf->path), *b = xstrdup(tf->path);

	tf->dir = xstrdup(dirname(a));
	tf->base = xstrdup(basename(b));
	free(a);
	free(b);
}

static struct tfile *tfile_new(struct tsource *src, const char *path)
{
	struct tfile *tf = xcalloc(1, sizeof(*tf));
	struct tail *t = src->t;

	tf->src = src;
	tf->path = xstrdup(path);
	tf->origin = xstrdup(path);
	split_path(tf);
	tf->fd = -1;
	tf->wd = -1;
	tail_reader_init(&tf->rd, 0, t->max_line);
	tf->ml = ml_new(logp_get_format(src->logp), &t->mlopt);
	tf->m_lines = file_series(t->f_lines, tf);
	tf->m_bytes = file_series(t->f_bytes, tf);
	tf->m_lag_bytes = file_series(t->f_lag_bytes, tf);
	tf->m_lag_seconds = file_series(t->f_lag_seconds, tf);
	tf->m_rotations = file_series(t->f_rotations, tf);
	tf->m_truncations = file_series(t->f_truncations, tf);
	tf->m_long = file_series(t->f_long, tf);
	tf->m_repaired = file_series(t->f_repaired, tf);
	tf->m_errors = file_series(t->f_errors, tf);
	tf->caught_up_ms = t->now;
	if (src->nfiles == src->cap) {
		src->cap = src->cap ? src->cap * 2 : 4;
		src->files = xrealloc(src->files, src->cap * sizeof(*src->files));
	}
	src->files[src->nfiles++] = tf;
	return tf;
}

static bool wd_used(const struct tail *t, int wd, const struct tfile *except)
{
	for (size_t i = 0; i < t->nsources; i++)
		for (size_t j = 0; j < t->sources[i].nfiles; j++)
			if (t->sources[i].files[j] != except && t->sources[i].files[j]->wd == wd)
				return true;
	return false;
}

/*
 * The keys of tf's content record (tail_content_key), from its first line, once it has counted
 * something. Taken at the next record write, and at the latest when the file is closed: a file
 * drained and closed between two commits (a copytruncate's copy, read to its end) has no
 * descriptor left to take them from, and without its content record a restart read the copy
 * again from 0 and counted its lines twice.
 */
static void take_content_keys(struct tfile *tf)
{
	const char *source = tf->src->cfg->name;

	if (tf->have_ckey || tf->rewritten || tf->fd < 0 || committable(tf) == 0 ||
	    !tail_content_key_fd(source, tf->fd, NULL, tf->lkey))
		return;
	tf->have_ckey = true;
	if (!tf->origin || !tail_content_key_fd(source, tf->fd, tf->origin, tf->ckey))
		memcpy(tf->ckey, tf->lkey, sizeof(tf->ckey));
}

static void tfile_close(struct tail *t, struct tfile *tf)
{
	take_content_keys(tf);
	if (tf->wd >= 0 && !wd_used(t, tf->wd, tf))
		tail_watch_remove(t->watch, tf->wd);
	tf->wd = -1;
	if (tf->fd >= 0)
		close(tf->fd);
	tf->fd = -1;
}

static void tfile_free(struct tail *t, struct tfile *tf)
{
	tfile_close(t, tf);
	tail_reader_release(&tf->rd);
	ml_free(tf->ml);
	free(tf->path);
	free(tf->real);
	free(tf->origin);
	free(tf->dir);
	free(tf->base);
	free(tf);
}

static void tfile_remove(struct tsource *src, size_t i)
{
	tfile_free(src->t, src->files[i]);
	memmove(src->files + i, src->files + i + 1, (src->nfiles - i - 1) * sizeof(*src->files));
	src->nfiles--;
}

/* Start reading an open file at 'offset'. */
static void tfile_position(struct tfile *tf, uint64_t offset)
{
	tail_reader_reset(&tf->rd, offset);
	ml_set_offset(tf->ml, offset);
}

/*
 * Look in 'dir' for the file 'id' named, now under another name: renamed (same inode) or copied
 * (copytruncate: another inode, the same first bytes), at least 'offset' bytes long. The file
 * with inode 'except' (the one the path names now) is not it. Returns an open descriptor or -1.
 */
static int find_counterpart(const char *dir, const struct tail_id *id, uint64_t offset,
			    uint64_t except, char *found, size_t flen)
{
	char pattern[4096];
	glob_t g;
	int best = -1;
	bool best_same_inode = false;

	if (!id->sig_len)
		return -1;
	snprintf(pattern, sizeof(pattern), "%s/*", dir);
	if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
		return -1;
	for (size_t i = 0; i < g.gl_pathc && !best_same_inode; i++) {
		struct tail_id probe = *id;
		struct stat st;
		bool same_inode;
		int fd;

		if (stat(g.gl_pathv[i], &st) < 0 || !S_ISREG(st.st_mode) ||
		    (uint64_t)st.st_ino == except || (uint64_t)st.st_size < offset ||
		    st.st_size < (off_t)id->sig_len)
			continue;
		fd = open(g.gl_pathv[i], O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0)
			continue;
		same_inode = (uint64_t)st.st_ino == id->ino && (uint64_t)st.st_dev == id->dev;
		probe.dev = (uint64_t)st.st_dev;
		probe.ino = (uint64_t)st.st_ino;
		if (fstat(fd, &st) < 0 || !tail_id_matches(fd, &st, &probe)) {
			close(fd);
			continue;
		}
		if (best >= 0)
			close(best);
		best = fd;
		best_same_inode = same_inode;
		snprintf(found, flen, "%s", g.gl_pathv[i]);
	}
	globfree(&g);
	return best;
}

/*
 * A draining copy of 'tf' for an old file (rotated away): read it to the end, then close it.
 * 'path' names its series; 'origin' the followed path its content lived at (its content record's
 * key; NULL: not known).
 */
static struct tfile *drain_file(struct tsource *src, const char *path, int fd,
			       const struct tail_id *id, uint64_t offset, const char *origin)
{
	struct tail *t = src->t;
	struct tfile *old = tfile_new(src, path);
	struct stat st;

	free(old->origin);
	old->origin = origin ? xstrdup(origin) : NULL;

	/* The series carry the path; the file is no longer its path's. Its identity is the
	 * content's first bytes on the file it is read from (a copy is another inode), so the
	 * check of each read sees it written over in place. */
	free(old->path);
	old->path = NULL;
	old->fd = fd;
	old->id = *id;
	if (fstat(fd, &st) == 0) {
		old->id.dev = (uint64_t)st.st_dev;
		old->id.ino = (uint64_t)st.st_ino;
	}
	tfile_position(old, offset);
	read_to_end(t, old);
	ml_flush(old->ml, on_entry, old);
	old->drain_until = t->now + DRAIN_GRACE_MS;
	return old;
}

/* Bytes decompressed per gzread while a compressed copy is drained. */
#define GZ_CHUNK ((size_t)64 << 10)
/* Compressed files looked at per search: a directory of old archives is not read whole. */
#define MAX_GZ_PROBES 64

/*
 * Look in 'dir' for a gzip file whose decompressed first bytes are the content 'id' names: the
 * copy logrotate compressed at once (compress without delaycompress), the plain copy gone. Only
 * the first id->sig_len bytes of each are decompressed. Returns it open at its start, or NULL.
 */
static gzFile find_gz_counterpart(const char *dir, const struct tail_id *id, char *found,
				  size_t flen)
{
	char pattern[4096], head[TAIL_SIG_MAX];
	gzFile best = NULL;
	glob_t g;

	if (!id->sig_len)
		return NULL;
	snprintf(pattern, sizeof(pattern), "%s/*.gz", dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return NULL;
	for (size_t i = 0; i < g.gl_pathc && i < MAX_GZ_PROBES && !best; i++) {
		gzFile gz = gzopen(g.gl_pathv[i], "rb");
		int n;

		if (!gz)
			continue;
		n = gzread(gz, head, id->sig_len);
		if (n == (int)id->sig_len &&
		    model_fnv1a(MODEL_FNV1A_INIT, head, id->sig_len) == id->sig &&
		    gzrewind(gz) == 0) {
			best = gz;
			snprintf(found, flen, "%s", g.gl_pathv[i]);
		} else {
			gzclose(gz);
		}
	}
	globfree(&g);
	return best;
}

/*
 * drain_file for a compressed copy: decompress it from the start, skip to 'offset' (an offset
 * in the uncompressed file) and read the rest now; it is then done. Takes 'gz'.
 */
static void drain_gz(struct tsource *src, const char *path, gzFile gz, const struct tail_id *id,
		     uint64_t offset, const char *origin)
{
	struct tail *t = src->t;
	struct tfile *old = tfile_new(src, path);
	char *chunk = xmalloc(GZ_CHUNK);
	uint64_t at = 0, fed = 0;
	int n;

	free(old->path);
	old->path = NULL;
	free(old->origin);
	old->origin = origin ? xstrdup(origin) : NULL;
	old->id = *id;
	tfile_position(old, offset);
	while ((n = gzread(gz, chunk, (unsigned)GZ_CHUNK)) > 0) {
		uint64_t end = at + (uint64_t)n;

		if (at == 0 && tail_content_key(src->cfg->name, chunk, (size_t)n, NULL, old->lkey)) {
			/* No descriptor to take the keys from later: take them from the head. */
			old->have_ckey = true;
			if (!old->origin || !tail_content_key(src->cfg->name, chunk, (size_t)n,
							      old->origin, old->ckey))
				memcpy(old->ckey, old->lkey, sizeof(old->ckey));
		}
		if (end > offset) {
			size_t skip = at < offset ? (size_t)(offset - at) : 0;

			tail_reader_feed(&old->rd, chunk + skip, (size_t)n - skip, on_line, old);
			fed += (size_t)n - skip;
		}
		at = end;
	}
	if (n < 0) {
		int zerr;

		log_warn("tail", "cannot decompress %s: %s; what it holds past offset %llu is not "
				 "counted", path, gzerror(gz, &zerr), (unsigned long long)at);
	}
	gzclose(gz);
	free(chunk);
	add(old->m_bytes, (double)fed);
	publish(old, t->now, (off_t)at);
	ml_flush(old->ml, on_entry, old);
	old->drain_until = t->now;
}

/*
 * Start-up, a file with no record under its path: how far its content was counted anyway — a
 * file `deploywatch replay` backfilled before the agent first ran (the README's advice) has a
 * content record, and reading it from 0 counted it twice. 0 when none.
 */
static uint64_t counted_by_content(struct tfile *tf, int fd, const struct stat *st)
{
	struct tail *t = tf->src->t;
	char head[TAIL_SIG_MAX], key[TAIL_KEY_MAX];
	const char *origins[1] = { tf->path };
	struct tail_record rec;
	ssize_t n = pread(fd, head, sizeof(head), 0);

	if (n <= 0 || tail_content_find(tf->src->cfg->name, head, (size_t)n, st, origins, 1, t->get,
					t->get_ctx, &rec, key) < 0 ||
	    rec.offset > (uint64_t)st->st_size)
		return 0;
	log_info("tail", "%s: its first %llu bytes were counted already (replayed); reading it "
			 "from there", tf->path, (unsigned long long)rec.offset);
	return rec.offset;
}

/* Open tf->path; on success position it (a record at start-up, else 0 or the end). */
static void tfile_open(struct tail *t, struct tfile *tf, bool is_new)
{
	struct stat st;
	/* O_NOATIME: a log written all the time is newer than its access time at every read, so
	 * relatime would update (and the filesystem journal) the inode on each wake-up. Only the
	 * file's owner (or CAP_FOWNER) may ask for it: anyone else opens the usual way. */
	int fd = open(tf->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOATIME);
	uint64_t offset = 0;

	if (fd < 0 && errno == EPERM)
		fd = open(tf->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0) {
		int err = -errno;

		if (err != tf->open_err)
			log_warn("tail", "cannot open %s: %s; retrying every %llds", tf->path,
				 err_str(err), (long long)(t->check_ms / 1000 ? t->check_ms / 1000 : 1));
		tf->open_err = err;
		add(tf->m_errors, 1);
		return;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return;
	}
	if (tf->open_err)
		log_info("tail", "%s can be read again", tf->path);
	tf->open_err = 0;
	tf->fd = fd;
	free(tf->real);
	tf->real = realpath(tf->path, NULL);
	/* Not kept when the path is the file itself, or too long for a record (1 KiB). */
	if (tf->real && (!strcmp(tf->real, tf->path) || strlen(tf->real) > 1024)) {
		free(tf->real);
		tf->real = NULL;
	}
	if (t->starting && t->get) {
		struct tail_record rec;
		struct buf b;
		char key[TAIL_KEY_MAX];

		buf_init(&b, 4096);
		tail_record_key(tf->src->cfg->name, tf->path, key);
		if (t->get(t->get_ctx, key, &b) == 0) {
			if (tail_record_decode(b.data, b.len, &rec)) {
				log_warn("tail", "the stored position of %s cannot be read; reading the "
						 "file from the start", tf->path);
			} else {
				tail_time_set_floor(t->time, rec.tick_ms);
				if (rec.tick_ms > tf->src->floor)
					tf->src->floor = rec.tick_ms;
				if (tail_id_matches(fd, &st, &rec.id) &&
				    rec.offset <= (uint64_t)st.st_size) {
					offset = rec.offset;
				} else {
					char found[4096], real[4096], rdir[4096];
					/* The link re-pointed: the rotated copies are beside the old
					 * release's file, not in the directory the path names now. */
					bool moved = recorded_real(t, tf->src, tf->path, real,
								   sizeof(real)) &&
						     strcmp(real, tf->real ? tf->real : tf->path);
					const char *sdir = tf->dir;
					int rfd = moved ? open_recorded(real, &rec) : -1;
					int ofd;
					gzFile gz;

					if (rfd >= 0)
						snprintf(found, sizeof(found), "%s", real);
					if (moved) {
						char *c = xstrdup(real);

						snprintf(rdir, sizeof(rdir), "%s", dirname(c));
						free(c);
						sdir = rdir;
					}
					ofd = rfd >= 0 ? -1
						       : find_counterpart(sdir, &rec.id, rec.offset,
									  (uint64_t)st.st_ino, found,
									  sizeof(found));
					gz = rfd < 0 && ofd < 0
						     ? find_gz_counterpart(sdir, &rec.id, found,
									   sizeof(found))
						     : NULL;

					if (rfd >= 0) {
						log_info("tail", "%s leads to another file now (a symlink "
								 "on its path was re-pointed while stopped): "
								 "reading the one it led to, %s, from %llu",
							 tf->path, found,
							 (unsigned long long)rec.offset);
						drain_file(tf->src, tf->path, rfd, &rec.id, rec.offset,
							   tf->path);
					} else if (ofd >= 0) {
						log_info("tail", "%s was rotated to %s while stopped: "
								 "reading it from %llu", tf->path, found,
							 (unsigned long long)rec.offset);
						drain_file(tf->src, tf->path, ofd, &rec.id, rec.offset,
							   tf->path);
					} else if (gz) {
						log_info("tail", "%s was rotated and compressed to %s "
								 "while stopped: reading it from %llu",
							 tf->path, found,
							 (unsigned long long)rec.offset);
						drain_gz(tf->src, tf->path, gz, &rec.id, rec.offset,
							 tf->path);
					} else {
						tf->rd.offset = rec.offset;
						lost(tf, 0, "replaced or deleted while the agent was "
							 "stopped");
					}
					if (moved && rfd < 0)
						drain_old_real(tf->src, tf->path, real,
							       (uint64_t)st.st_ino);
				}
				is_new = true;
			}
		} else {
			offset = counted_by_content(tf, fd, &st);
		}
		buf_release(&b);
	}
	if (!is_new && t->start_at_end)
		offset = (uint64_t)st.st_size;
	tfile_position(tf, offset);
	take_id(tf, &st);
	tf->wd = tail_watch_file(t->watch, tf->path);
	if (tf->wd < 0)
		tf->wd = -1;
}

/* tf's path names another file now: finish the old one, follow the new one from 0. */
static void rotated(struct tail *t, struct tfile *tf)
{
	struct tsource *src = tf->src;
	struct tfile *old;

	read_to_end(t, tf);
	ml_flush(tf->ml, on_entry, tf);
	add(tf->m_rotations, 1);
	log_info("tail", "%s was rotated; following the new file", tf->path);
	/* The old file keeps reading for writers that have not reopened yet. */
	old = tfile_new(src, tf->path);
	old->fd = tf->fd;
	old->id = tf->id;
	old->have_ckey = tf->have_ckey;
	memcpy(old->ckey, tf->ckey, sizeof(old->ckey));
	memcpy(old->lkey, tf->lkey, sizeof(old->lkey));
	tf->have_ckey = false;
	tfile_position(old, tf->rd.offset);
	tail_reader_seed_head(&old->rd, tf->rd.head, tf->rd.head_len);
	free(old->path);
	old->path = NULL;
	old->wd = tf->wd;
	old->drain_until = t->now + DRAIN_GRACE_MS;
	/* The series stay with the path. */
	old->m_bytes = tf->m_bytes;
	old->m_lines = tf->m_lines;
	tf->fd = -1;
	tf->wd = -1;
	tfile_open(t, tf, true);
}

static bool dir_wd_used(const struct tail *t, int wd, size_t except)
{
	for (size_t k = 0; k < t->ndirs; k++)
		if (k != except && t->dirs[k].wd == wd)
			return true;
	return wd_used(t, wd, NULL);
}

/*
 * Watch directory 'path', or watch it again when it names another directory than when it was
 * watched: inotify watches the inode a path led to, so after a symlink on the path is re-pointed
 * the old watch sees the old release's directory and nothing of the new one.
 */
static void watch_dir(struct tail *t, const char *path)
{
	struct stat st;
	size_t k;
	int wd;

	if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return;
	for (k = 0; k < t->ndirs; k++)
		if (!strcmp(t->dirs[k].path, path))
			break;
	if (k < t->ndirs) {
		struct dwatch *d = &t->dirs[k];

		if (d->dev == (uint64_t)st.st_dev && d->ino == (uint64_t)st.st_ino)
			return;
		if (!dir_wd_used(t, d->wd, k))
			tail_watch_remove(t->watch, d->wd);
		log_info("tail", "%s names another directory now (a symlink on its path was "
				 "re-pointed); watching that one", path);
		wd = tail_watch_dir(t->watch, path);
		if (wd < 0) {
			free(d->path);
			t->dirs[k] = t->dirs[--t->ndirs];
			return;
		}
	} else {
		wd = tail_watch_dir(t->watch, path);
		if (wd < 0)
			return;
		t->dirs = xrealloc(t->dirs, (t->ndirs + 1) * sizeof(*t->dirs));
		k = t->ndirs++;
		t->dirs[k].path = xstrdup(path);
	}
	t->dirs[k].wd = wd;
	t->dirs[k].dev = (uint64_t)st.st_dev;
	t->dirs[k].ino = (uint64_t)st.st_ino;
}

/*
 * The directories holding the symlinks on 'path' (/var/www/app for /var/www/app/current/...):
 * re-pointing a link is a rename or create there, and the event makes the sources look again.
 */
static void watch_link_parents(struct tail *t, const char *path)
{
	char *copy = xstrdup(path);

	for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
		struct stat st;

		if (slash)
			*slash = '\0';
		if (lstat(copy, &st) == 0 && S_ISLNK(st.st_mode)) {
			char *parent = xstrdup(copy);

			watch_dir(t, dirname(parent));
			free(parent);
		}
		if (!slash)
			break;
		*slash = '/';
	}
	free(copy);
}

/* Directories of a source's glob, watched so new files are seen at once. */
static void watch_dirs(struct tail *t, struct tsource *src)
{
	char *copy = xstrdup(src->cfg->path);
	const char *dirpat = dirname(copy);
	glob_t g;

	if (glob(dirpat, GLOB_ONLYDIR | GLOB_NOSORT, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			watch_dir(t, g.gl_pathv[i]);
			watch_link_parents(t, g.gl_pathv[i]);
		}
		globfree(&g);
	}
	free(copy);
}

/* Look at a source again: glob, rotation, new and vanished files; read what is new. */
static void sync_source(struct tail *t, struct tsource *src)
{
	glob_t g = { 0 };
	size_t nmatch = 0, nfollowed = 0;
	int rc;

	src->dirty = false;
	watch_dirs(t, src);
	rc = glob(src->cfg->path, GLOB_NOSORT, NULL, &g);
	if (rc == 0)
		nmatch = g.gl_pathc;
	for (size_t i = 0; i < src->nfiles; i++)
		src->files[i]->seen = false;
	for (size_t i = 0; i < nmatch; i++) {
		const char *path = g.gl_pathv[i];
		struct tfile *tf = NULL;
		struct stat st;

		for (size_t j = 0; j < src->nfiles; j++)
			if (src->files[j]->path && !strcmp(src->files[j]->path, path))
				tf = src->files[j];
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
			if (tf)
				tf->seen = true; /* keep it until it is gone for good */
			continue;
		}
		if (!tf) {
			if (src->nfiles >= MAX_FILES_PER_SOURCE) {
				if (!src->cap_logged)
					log_warn("tail", "source %s: %s matches more than %d files; "
							 "following the first ones only", src->cfg->name,
						 src->cfg->path, MAX_FILES_PER_SOURCE);
				src->cap_logged = true;
				continue;
			}
			tf = tfile_new(src, path);
			if (!t->starting)
				log_info("tail", "source %s: following new file %s", src->cfg->name, path);
			tfile_open(t, tf, !t->starting);
		} else if (tf->fd < 0) {
			tfile_open(t, tf, true);
		} else {
			struct stat cur;

			if (fstat(tf->fd, &cur) == 0 &&
			    (cur.st_ino != st.st_ino || cur.st_dev != st.st_dev))
				rotated(t, tf);
		}
		tf->seen = true;
	}
	if (nmatch == 0 && !src->none_logged) {
		log_info("tail", "source %s: no file matches %s yet; following it when one appears",
			 src->cfg->name, src->cfg->path);
		src->none_logged = true;
	}
	globfree(&g);
	for (size_t i = 0; i < src->nfiles;) {
		struct tfile *tf = src->files[i];

		if (tf->path && !tf->seen) {
			/* Gone from the glob (deleted or moved away): read what is left, then drain. */
			log_info("tail", "%s is gone; reading it to its end", tf->path);
			add(tf->m_rotations, 1);
			read_to_end(t, tf);
			ml_flush(tf->ml, on_entry, tf);
			set(tf->m_lag_bytes, 0);
			free(tf->path);
			tf->path = NULL;
			tf->drain_until = t->now + DRAIN_GRACE_MS;
		}
		if (t->starting) {
			i++;
			continue;
		}
		read_file(t, tf);
		if (!tf->path && !tf->done && t->now >= tf->drain_until) {
			/* Closed now; removed once tail_records() wrote how far it was counted. */
			read_to_end(t, tf);
			ml_flush(tf->ml, on_entry, tf);
			tfile_close(t, tf);
			tf->done = true;
		}
		if (tf->done && t->now >= tf->drain_until + 60 * DRAIN_GRACE_MS) {
			/* No store takes records: do not keep it for ever. */
			tfile_remove(src, i);
			continue;
		}
		nfollowed += tf->path != NULL;
		i++;
	}
	if (!t->starting)
		set(src->m_files, (double)nfollowed);
}

static bool held(const struct tsource *src, const struct stat *st);

/* Compressed rotations are not text; replay reads them. */
static bool compressed(const char *name)
{
	static const char *const ext[] = { ".gz", ".bz2", ".xz", ".zst", ".lz4", ".Z" };
	size_t n = strlen(name);

	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		size_t e = strlen(ext[i]);

		if (n > e && !strcmp(name + n - e, ext[i]))
			return true;
	}
	return false;
}

/* Origins a rotated file's name suggests, at most (laravel-2026-12-01.log.3 has five). */
#define MAX_ORIGINS 8

/* Whether 'path' is a live file of any source (matches its glob): never a rotated copy. */
static bool followed_by_any(const struct tail *t, const char *path)
{
	for (size_t i = 0; i < t->nsources; i++)
		if (fnmatch(t->sources[i].cfg->path, path, FNM_PATHNAME) == 0)
			return true;
	return false;
}

/* Whether a file of 'src' (followed or draining) already reads the content whose first bytes
 * are 'head': a compressed copy drained at this start-up has no descriptor held() could see. */
static bool content_held(const struct tsource *src, const char *head, size_t n)
{
	char lkey[TAIL_KEY_MAX];

	if (!tail_content_key(src->cfg->name, head, n, NULL, lkey))
		return false;
	for (size_t j = 0; j < src->nfiles; j++)
		if (src->files[j]->have_ckey && !strcmp(src->files[j]->lkey, lkey))
			return true;
	return false;
}

/*
 * recover() for a compressed file: logrotate's compress without delaycompress, twice while the
 * agent was down, leaves the middle content only in a .gz no record names. Only a .gz whose name
 * says it was rotated from this source's path and that changed since the last commit (less a
 * minute) is opened; it is read from its content record's offset, or from 0 when it has none.
 */
static void recover_gz(struct tail *t, struct tsource *src, const char *path,
		       const struct stat *st)
{
	char *origins[MAX_ORIGINS], head[TAIL_SIG_MAX], key[TAIL_KEY_MAX];
	int64_t ctime_ms = (int64_t)st->st_ctim.tv_sec * 1000 + st->st_ctim.tv_nsec / 1000000;
	size_t no;
	struct tail_record rec;
	struct tail_id id;
	uint64_t from = 0;
	gzFile gz;
	int n, at;

	if (src->floor == INT64_MIN || ctime_ms < src->floor - 60000)
		return;
	no = tail_origins_by_name(path, src->cfg->path, origins, MAX_ORIGINS);
	if (!no)
		return;
	gz = gzopen(path, "rb");
	n = gz ? gzread(gz, head, sizeof(head)) : -1;
	if (n <= 0 || content_held(src, head, (size_t)n) || gzrewind(gz) != 0)
		goto out;
	at = tail_content_find(src->cfg->name, head, (size_t)n, st, (const char *const *)origins, no,
			       t->get, t->get_ctx, &rec, key);
	if (at >= 0)
		from = rec.offset;
	memset(&id, 0, sizeof(id));
	id.dev = (uint64_t)st->st_dev;
	id.ino = (uint64_t)st->st_ino;
	id.sig_len = (uint32_t)n;
	id.sig = model_fnv1a(MODEL_FNV1A_INIT, head, (size_t)n);
	log_info("tail", "source %s: %s was rotated and compressed while stopped and not fully "
			 "counted; reading it from %llu", src->cfg->name, path,
		 (unsigned long long)from);
	drain_gz(src, path, gz, &id, from, at >= 0 && (size_t)at < no ? origins[at] : origins[0]);
	gz = NULL;
out:
	if (gz)
		gzclose(gz);
	for (size_t k = 0; k < no; k++)
		free(origins[k]);
}

/*
 * Start-up after a crash: files rotated away beside the followed ones that this source's
 * records do not cover. A file with a "counted/" record (looked up under the origins its name
 * suggests, then by content alone; tail_content_find) goes on from its offset. One without any
 * record, whose name says it was rotated away from this source's path and whose name changed
 * after the last commit, lived at a followed path between two commits (every counted file is
 * recorded in the transaction of its counts), so it is read from its start. Older unrecorded
 * files predate the agent and are left to replay; another source's live files are never read.
 */
static void recover(struct tail *t, struct tsource *src)
{
	char *copy, pattern[4096];
	glob_t dirs, g;

	if (!t->get)
		return;
	copy = xstrdup(src->cfg->path);
	if (glob(dirname(copy), GLOB_ONLYDIR | GLOB_NOSORT, NULL, &dirs) != 0) {
		free(copy);
		return;
	}
	for (size_t d = 0; d < dirs.gl_pathc; d++) {
		snprintf(pattern, sizeof(pattern), "%s/*", dirs.gl_pathv[d]);
		if (glob(pattern, GLOB_NOSORT, NULL, &g) != 0)
			continue;
		for (size_t i = 0; i < g.gl_pathc; i++) {
			const char *path = g.gl_pathv[i];
			struct tail_record rec;
			char key[TAIL_KEY_MAX], head[TAIL_SIG_MAX];
			char *origins[MAX_ORIGINS];
			struct tail_id id;
			struct stat st;
			uint64_t from = 0;
			bool go = false;
			size_t no;
			ssize_t hn;
			int fd, at;

			if (followed_by_any(t, path) || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
			    held(src, &st))
				continue;
			if (compressed(path)) {
				size_t len = strlen(path);

				if (len > 3 && !strcmp(path + len - 3, ".gz"))
					recover_gz(t, src, path, &st);
				continue;
			}
			fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) < 0 || tail_id_take(fd, &st, &id, NULL) || !id.sig_len) {
				close(fd);
				continue;
			}
			hn = pread(fd, head, sizeof(head), 0);
			no = tail_origins_by_name(path, src->cfg->path, origins, MAX_ORIGINS);
			at = hn > 0 ? tail_content_find(src->cfg->name, head, (size_t)hn, &st,
							(const char *const *)origins, no, t->get,
							t->get_ctx, &rec, key)
				    : -ENOENT;
			if (at >= 0) {
				from = rec.offset;
				go = rec.offset < (uint64_t)st.st_size;
			} else if (src->floor != INT64_MIN && no > 0) {
				/* Unrecorded: read only a file whose name says it was rotated away from
				 * this source's path (laravel.log.1, laravel.log-20261201), never a
				 * neighbour that belongs to another source or to nobody (worker.log beside
				 * laravel.log, slow.log beside error.log). */
				int64_t ctime_ms = (int64_t)st.st_ctim.tv_sec * 1000 +
						   st.st_ctim.tv_nsec / 1000000;

				/* A minute of slack: a rename just before the commit's tick time. */
				go = ctime_ms >= src->floor - 60000;
			}
			if (!go) {
				for (size_t k = 0; k < no; k++)
					free(origins[k]);
				close(fd);
				continue;
			}
			log_info("tail", "source %s: %s was rotated while stopped and not fully "
					 "counted; reading it from %llu", src->cfg->name, path,
				 (unsigned long long)from);
			/* Its record goes on under the key it was found by, or the origin its name
			 * suggests. */
			drain_file(src, path, fd, &id, from,
				   at >= 0 && (size_t)at < no ? origins[at] : no ? origins[0] : NULL);
			for (size_t k = 0; k < no; k++)
				free(origins[k]);
		}
		globfree(&g);
	}
	globfree(&dirs);
	free(copy);
}

/* A path record found by gone_while_down(). */
struct gone {
	char *path;
	struct tail_record rec;
};

struct gone_list {
	const char *prefix;     /* "tail/<source>/" */
	struct gone *v;
	size_t n, cap;
};

static int gone_visit(void *ctx, const char *key, const void *val, size_t len)
{
	struct gone_list *l = ctx;
	const char *path = key + strlen(l->prefix);
	struct tail_record rec;

	/* A path too long for a key is kept as a hash: it cannot be looked for by name. */
	if (path[0] != '/' || tail_record_decode(val, len, &rec))
		return 0;
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
	}
	l->v[l->n].path = xstrdup(path);
	l->v[l->n].rec = rec;
	l->n++;
	return 0;
}

/*
 * Start-up, after the glob and recover(): a path the source followed at its last commit (its
 * record carries that commit's tick) that no longer exists went away while the agent was down —
 * a Laravel daily file deleted, or renamed out of the glob. Its unread part is read from the
 * file it was renamed to or its compressed copy when one is beside it (unless recover() already
 * holds it); otherwise the possible loss is counted and logged, as for a file replaced while
 * stopped. A path whose record is older than the last commit went away while the agent ran,
 * which read it to its end then.
 */
static void gone_while_down(struct tail *t, struct tsource *src)
{
	char prefix[TAIL_KEY_MAX];
	struct gone_list l = { .prefix = prefix };

	if (!t->scan || src->floor == INT64_MIN)
		return;
	snprintf(prefix, sizeof(prefix), "tail/%s/", src->cfg->name);
	if (strlen(prefix) >= TAIL_KEY_MAX - 2)
		return;
	if (t->scan(t->get_ctx, prefix, gone_visit, &l)) {
		/* Unreadable records: nothing is looked for (logged by the store). */
		for (size_t i = 0; i < l.n; i++)
			free(l.v[i].path);
		l.n = 0;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct gone *g = &l.v[i];
		char *copy = xstrdup(g->path), found[4096];
		const char *dir = dirname(copy);
		bool followed = false;
		struct stat st;
		gzFile gz;
		int fd;

		for (size_t j = 0; j < src->nfiles; j++)
			followed = followed || (src->files[j]->path &&
						!strcmp(src->files[j]->path, g->path));
		if (followed || g->rec.tick_ms < src->floor || lstat(g->path, &st) == 0)
			goto next;
		fd = recorded_real(t, src, g->path, found, sizeof(found))
			     ? open_recorded(found, &g->rec) : -1;
		if (fd < 0)
			fd = find_counterpart(dir, &g->rec.id, g->rec.offset, 0, found,
					      sizeof(found));
		if (fd >= 0) {
			if (fstat(fd, &st) == 0 && held(src, &st)) {
				close(fd);
				goto next;
			}
			log_info("tail", "%s was renamed to %s, or a symlink on its path re-pointed, "
					 "while stopped: reading it from %llu", g->path, found,
				 (unsigned long long)g->rec.offset);
			drain_file(src, g->path, fd, &g->rec.id, g->rec.offset, g->path);
		} else if ((gz = find_gz_counterpart(dir, &g->rec.id, found, sizeof(found)))) {
			char head[TAIL_SIG_MAX];
			int n = gzread(gz, head, sizeof(head));

			if (n <= 0 || content_held(src, head, (size_t)n) || gzrewind(gz) != 0) {
				gzclose(gz);
				goto next;
			}
			log_info("tail", "%s was renamed and compressed to %s while stopped: reading it "
					 "from %llu", g->path, found, (unsigned long long)g->rec.offset);
			drain_gz(src, g->path, gz, &g->rec.id, g->rec.offset, g->path);
		} else {
			lost_at(src, g->path, g->rec.offset, 0, "deleted while the agent was stopped");
		}
next:
		free(copy);
		free(g->path);
	}
	free(l.v);
}

/* ---- the tailer ---- */

static void note_move(struct tail *t, int wd, enum tail_watch_kind kind, const char *name,
		      uint32_t cookie)
{
	if (kind == TAIL_EV_MOVED_FROM) {
		struct tmove *m;

		if (t->nmoves == MAX_MOVES || !name)
			return; /* the periodic check still sees the rotation itself */
		m = &t->moves[t->nmoves++];
		m->cookie = cookie;
		m->wd = wd;
		m->from = xstrdup(name);
		m->to = NULL;
		return;
	}
	for (size_t i = 0; i < t->nmoves && name; i++) {
		if (t->moves[i].cookie == cookie && t->moves[i].wd == wd && !t->moves[i].to) {
			t->moves[i].to = xstrdup(name);
			return;
		}
	}
}

static void on_watch(void *ctx, int wd, enum tail_watch_kind kind, const char *name,
		     uint32_t cookie)
{
	struct tail *t = ctx;

	t->events++;
	if (kind == TAIL_EV_MOVED_FROM || kind == TAIL_EV_MOVED_TO) {
		note_move(t, wd, kind, name, cookie);
		kind = TAIL_EV_CHANGED;
	}

	if (kind == TAIL_EV_OVERFLOW) {
		add(t->m_overflows, 1);
		log_warn("tail", "inotify's queue overflowed; checking every file again");
		for (size_t i = 0; i < t->nsources; i++)
			t->sources[i].dirty = true;
		return;
	}
	for (size_t k = 0; k < t->ndirs; k++) {
		if (t->dirs[k].wd != wd)
			continue;
		/* A name in a watched directory: its sources look again, or a file grew. */
		for (size_t i = 0; i < t->nsources; i++) {
			struct tsource *src = &t->sources[i];

			if (kind == TAIL_EV_CHANGED) {
				src->dirty = true;
				continue;
			}
			for (size_t j = 0; j < src->nfiles && name; j++) {
				struct tfile *tf = src->files[j];

				if (tf->path && !strcmp(tf->dir, t->dirs[k].path) &&
				    !strcmp(tf->base, name))
					read_file_v(t, tf, true);
			}
		}
		if (kind == TAIL_EV_CHANGED && !name) {
			/* The directory itself went: watch it again when it comes back. */
			free(t->dirs[k].path);
			t->dirs[k] = t->dirs[--t->ndirs];
		}
		return;
	}
	for (size_t i = 0; i < t->nsources; i++) {
		struct tsource *src = &t->sources[i];

		for (size_t j = 0; j < src->nfiles; j++) {
			struct tfile *tf = src->files[j];

			if (tf->wd != wd)
				continue;
			if (kind == TAIL_EV_MODIFIED)
				read_file_v(t, tf, true);
			else
				src->dirty = true;
		}
	}
}

static void load_options(struct tail *t, const struct config *cfg)
{
	t->max_line = cfg->tail.max_line_size ? (size_t)cfg->tail.max_line_size
					      : TAIL_DEFAULT_MAX_LINE;
	t->mlopt.max_entry = cfg->tail.max_entry_size ? (size_t)cfg->tail.max_entry_size
						      : TAIL_DEFAULT_MAX_LINE;
	t->mlopt.idle_ms = cfg->tail.idle_timeout > 0 ? cfg->tail.idle_timeout : 1000;
	t->check_ms = cfg->tail.check_interval > 0 ? cfg->tail.check_interval : 1000;
	t->start_at_end = cfg->tail.start_at_end;
}

int tail_new(const struct tail_options *opt, int64_t now_ms, struct tail **out, char *err,
	     size_t errlen)
{
	struct tail *t = xcalloc(1, sizeof(*t));
	int rc;

	t->cfg = opt->cfg;
	t->reg = opt->reg;
	t->get = opt->get;
	t->scan = opt->scan;
	t->get_ctx = opt->get_ctx;
	t->exception = opt->exception;
	t->exception_ctx = opt->exception_ctx;
	t->now = now_ms;
	load_options(t, opt->cfg);
	t->time = tail_time_new(opt->res_ms);
	rc = tail_watch_new(&t->watch);
	if (rc) {
		snprintf(err, errlen, "cannot start inotify: %s", err_str(rc));
		goto out_free;
	}
	register_metrics(t);
	t->sources = xcalloc(opt->cfg->nsources ? opt->cfg->nsources : 1, sizeof(*t->sources));
	for (size_t i = 0; i < opt->cfg->nsources; i++) {
		struct tsource *src = &t->sources[i];

		src->t = t;
		src->cfg = &opt->cfg->sources[i];
		src->floor = INT64_MIN;
		rc = logp_new(opt->cfg, src->cfg, opt->reg, &src->logp, err, errlen);
		if (rc)
			goto out_free;
		t->nsources++;
		register_source_metrics(src);
	}
	t->starting = true;
	for (size_t i = 0; i < t->nsources; i++) {
		load_source_floor(t, &t->sources[i]);
		sync_source(t, &t->sources[i]);
		recover(t, &t->sources[i]);
		gone_while_down(t, &t->sources[i]);
	}
	t->starting = false;
	t->next_check = now_ms;
	*out = t;
	return 0;

out_free:
	tail_free(t);
	return rc;
}

void tail_free(struct tail *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nsources; i++) {
		struct tsource *src = &t->sources[i];

		while (src->nfiles)
			tfile_remove(src, src->nfiles - 1);
		free(src->files);
		logp_free(src->logp);
	}
	/* A source whose parser failed to build was not counted in nsources. */
	if (t->sources && t->cfg && t->nsources < t->cfg->nsources)
		logp_free(t->sources[t->nsources].logp);
	for (size_t k = 0; k < t->ndirs; k++)
		free(t->dirs[k].path);
	for (size_t i = 0; i < t->nmoves; i++) {
		free(t->moves[i].from);
		free(t->moves[i].to);
	}
	free(t->dirs);
	free(t->sources);
	tail_watch_free(t->watch);
	tail_time_free(t->time);
	free(t);
}

int tail_fd(const struct tail *t)
{
	return tail_watch_fd(t->watch);
}

/* Whether any file of 'src' is the file 'st' describes. */
static bool held(const struct tsource *src, const struct stat *st)
{
	for (size_t j = 0; j < src->nfiles; j++) {
		struct stat cur;

		if (src->files[j]->fd >= 0 && fstat(src->files[j]->fd, &cur) == 0 &&
		    cur.st_ino == st->st_ino && cur.st_dev == st->st_dev)
			return true;
	}
	return false;
}

/*
 * Renames seen since the last call. A file renamed away from a followed name that the tailer
 * never opened lived there only between two looks (rotations faster than the tailer woke): it
 * is read from its start under its old name, so rapid rotations lose nothing.
 */
static void process_moves(struct tail *t)
{
	for (size_t i = 0; i < t->nmoves; i++) {
		struct tmove *m = &t->moves[i];
		const char *dir = NULL;
		char from[4096], to[4096];

		for (size_t k = 0; k < t->ndirs; k++)
			if (t->dirs[k].wd == m->wd)
				dir = t->dirs[k].path;
		if (!dir || !m->to)
			goto next;
		snprintf(from, sizeof(from), "%s/%s", dir, m->from);
		snprintf(to, sizeof(to), "%s/%s", dir, m->to);
		for (size_t s = 0; s < t->nsources; s++) {
			struct tsource *src = &t->sources[s];
			struct tail_id id;
			struct stat st;
			int fd;

			if (fnmatch(src->cfg->path, from, FNM_PATHNAME) != 0 ||
			    fnmatch(src->cfg->path, to, FNM_PATHNAME) == 0)
				continue;
			fd = open(to, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
			if (fd < 0)
				continue;
			if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || held(src, &st) ||
			    tail_id_take(fd, &st, &id, NULL)) {
				close(fd);
				continue;
			}
			log_info("tail", "%s was rotated to %s before it was read; reading it from "
					 "there", from, to);
			drain_file(src, from, fd, &id, 0, from);
		}
next:
		free(m->from);
		free(m->to);
	}
	t->nmoves = 0;
}

/* Rotated away and still open for writers that have not reopened (DRAIN_GRACE_MS). */
static bool draining(const struct tfile *tf)
{
	return !tf->path && !tf->done && tf->fd >= 0;
}

bool tail_process(struct tail *t, int64_t now_ms)
{
	bool check = now_ms >= t->next_check;
	int rc;

	t->now = now_ms;
	t->busy = false;
	t->events = 0;
	rc = tail_watch_drain(t->watch, on_watch, t);
	if (rc)
		log_warn("tail", "cannot read inotify events: %s; relying on the periodic check",
			 err_str(rc));
	for (size_t i = 0; i < t->nsources; i++) {
		struct tsource *src = &t->sources[i];

		if (check || src->dirty) {
			sync_source(t, src);
			continue;
		}
		/* A file over its budget last time goes on now; a draining one is looked at on every
		 * pass: no watched name of ours leads to it any more (renamed away, or in the old
		 * release's directory after a `current` swap), so its late lines raise no event. */
		for (size_t j = 0; j < src->nfiles; j++)
			if (src->files[j]->more || draining(src->files[j]))
				read_file(t, src->files[j]);
	}
	process_moves(t);
	for (size_t i = 0; i < t->nsources; i++)
		for (size_t j = 0; j < t->sources[i].nfiles; j++)
			ml_tick(t->sources[i].files[j]->ml, now_ms, on_entry, t->sources[i].files[j]);
	if (check)
		t->next_check = now_ms + t->check_ms;
	return t->events > 0;
}

int64_t tail_deadline(const struct tail *t)
{
	int64_t d = t->next_check;

	if (t->busy)
		return t->now;
	for (size_t i = 0; i < t->nsources; i++) {
		for (size_t j = 0; j < t->sources[i].nfiles; j++) {
			const struct tfile *tf = t->sources[i].files[j];

			/* An entry waits for its idle timeout. */
			if (ml_deadline(tf->ml) < d)
				d = ml_deadline(tf->ml);
			if (draining(tf) && t->now + DRAIN_POLL_MS < d)
				d = t->now + DRAIN_POLL_MS;
		}
	}
	return d;
}

int64_t tail_entries_deadline(const struct tail *t)
{
	int64_t d = INT64_MAX;

	for (size_t i = 0; i < t->nsources; i++)
		for (size_t j = 0; j < t->sources[i].nfiles; j++)
			if (ml_deadline(t->sources[i].files[j]->ml) < d)
				d = ml_deadline(t->sources[i].files[j]->ml);
	return d;
}

void tail_shutdown(struct tail *t, int64_t now_ms)
{
	t->now = now_ms;
	for (size_t i = 0; i < t->nsources; i++) {
		for (size_t j = 0; j < t->sources[i].nfiles; j++) {
			struct tfile *tf = t->sources[i].files[j];

			read_to_end(t, tf);
			ml_flush(tf->ml, on_entry, tf);
		}
	}
}

int tail_before_tick(struct tail *t, int64_t tick_ms, tail_sample_fn fn, void *ctx)
{
	return tail_time_emit(t->time, tick_ms, fn, ctx);
}

int tail_records(struct tail *t, int64_t tick_ms, tail_put_fn put, void *ctx)
{
	for (size_t i = 0; i < t->nsources; i++) {
		struct tsource *src = &t->sources[i];
		struct tail_record srec = { .tick_ms = tick_ms };
		uint8_t sval[TAIL_RECORD_SIZE];
		char skey[TAIL_KEY_MAX];
		int serr;

		/* The source's own record: the start-up floor (recover) even when none of its
		 * paths exists then. */
		source_key(src, skey);
		tail_record_encode(&srec, sval);
		serr = put(ctx, skey, sval, TAIL_RECORD_SIZE);
		if (serr)
			return serr;

		for (size_t j = 0; j < src->nfiles;) {
			struct tfile *tf = src->files[j];
			struct tail_record rec = { .id = tf->id, .tick_ms = tick_ms };
			uint8_t val[TAIL_RECORD_SIZE];
			char key[TAIL_KEY_MAX];
			int err;

			if (tf->path && tf->fd < 0) {
				j++;
				continue;
			}
			rec.offset = committable(tf);
			tail_record_encode(&rec, val);
			if (tf->path) {
				tail_record_key(src->cfg->name, tf->path, key);
				err = put(ctx, key, val, TAIL_RECORD_SIZE);
				if (!err && tf->real) {
					real_key(src, tf->path, key);
					err = put(ctx, key, tf->real, strlen(tf->real));
				}
				if (err)
					return err;
			}
			/* By content too: the file is found again after renames and crashes, and a
			 * replay of it is not counted twice. */
			take_content_keys(tf);
			if (tf->have_ckey) {
				err = put(ctx, tf->ckey, val, TAIL_RECORD_SIZE);
				if (!err && strcmp(tf->ckey, tf->lkey))
					err = put(ctx, tf->lkey, val, TAIL_RECORD_SIZE);
				if (err)
					return err;
			}
			if (tf->done) {
				tfile_remove(src, j);
				continue;
			}
			j++;
		}
	}
	return 0;
}
