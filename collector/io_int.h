#ifndef DW_COLLECTOR_IO_INT_H
#define DW_COLLECTOR_IO_INT_H

/*
 * Private to collector/: the I/O leaf that the host sampler (system*.c) and the log tailer
 * (tail*.c) share. It knows nothing about metrics or the registry.
 *
 *  - struct io_ops (io.c): the seam for open/read/stat. Every file the collector opens and
 *    reads goes through one, so tests inject EACCES, ENOENT or a failing read for one path (and
 *    a rotation race, for the tailer) without root or a special filesystem. io_real is the real
 *    system calls. (The sampler's process listing uses opendir, statvfs has a seam of its own
 *    because it runs on a thread with a deadline, and sock_diag is a socket, not a file.)
 *  - struct lines (lines.c): a line reader over a file descriptor with a caller-provided fixed
 *    buffer, so a file of any size is read in buffer-sized pieces, never whole.
 *  - struct latch (latch.c): "log once when it starts failing, once when it recovers", never on
 *    every attempt.
 *
 * Threads: none of it is shared; each reader or latch belongs to one thread. io_real may be
 * used from any thread.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/types.h>

/* ---- the seam ---- */

/*
 * File operations, each returning a negative errno instead of setting errno (EINTR is retried
 * inside, never returned). A test copies io_real, replaces what it wants to fail, and hands its
 * struct to the code under test; the struct must outlive every reader that uses it.
 */
struct io_ops {
	/* open(path, flags | O_CLOEXEC): a file descriptor, or -errno. */
	int (*open)(const char *path, int flags);
	/* read(fd, buf, len): bytes read (0 at end of file), or -errno. */
	ssize_t (*read)(int fd, void *buf, size_t len);
	/* stat(path): 0, or -errno. */
	int (*stat)(const char *path, struct stat *st);
	/* fstat(fd): 0, or -errno (the identity of an open file: device and inode). */
	int (*fstat)(int fd, struct stat *st);
};

/* The real system calls. */
extern const struct io_ops io_real;

/*
 * Read at most 'cap' - 1 bytes of a small file ('path', through 'io') into 'buf', NUL-terminated.
 * Returns the length, or -errno from open or read (nothing left open). 'cap' >= 1.
 */
long io_read_small(const struct io_ops *io, const char *path, char *buf, size_t cap);

/* ---- the line reader ---- */

/*
 * Reads lines from a file descriptor into a fixed buffer. A line longer than the buffer (less
 * one byte for the NUL) is skipped to its end and counted in 'toolong': readers of /proc never
 * need such a line, and it must not stop the lines after it.
 */
struct lines {
	const struct io_ops *io;
	int fd;
	bool owns_fd;       /* lines_open opened it: lines_close closes it */
	char *buf;          /* borrowed, 'cap' bytes */
	size_t cap;
	size_t start;       /* first byte not yet returned */
	size_t end;         /* one past the last byte read */
	bool eof;
	bool skipping;      /* inside a line longer than the buffer */
	unsigned long toolong;
};

/* Open 'path' (through 'io', borrowed until lines_close) for reading lines into 'buf' ('cap' >= 2
 * bytes, borrowed until lines_close). Returns 0 or -errno (nothing left open). */
int lines_open(struct lines *r, const struct io_ops *io, const char *path, char *buf, size_t cap);
/* Read lines from 'fd', which stays the caller's (lines_close does not close it), from its
 * current offset. Never fails. */
void lines_attach(struct lines *r, const struct io_ops *io, int fd, char *buf, size_t cap);
/*
 * The next line without its '\n', NUL-terminated, in *line (inside the buffer, valid until the
 * next call). A last line without '\n' is returned too. Returns 1, 0 at the end of the file, or
 * -errno from read.
 */
int lines_next(struct lines *r, char **line);
/* Close what lines_open opened. Safe to call twice. */
void lines_close(struct lines *r);

/* ---- the failure latch ---- */

/* Whether something (a source, a file) is in a run of failures. Zero-initialised: not failing. */
struct latch {
	bool failing;
};

/* Record a failure. True when it starts a run of failures: the caller logs it now, and not on
 * the failures that follow. */
bool latch_fail(struct latch *l);
/* Record a success. True when it ends a run of failures: the caller logs the recovery now. */
bool latch_ok(struct latch *l);

#endif
