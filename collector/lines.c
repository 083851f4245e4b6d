/* The line reader: see io_int.h. */
#include "collector/io_int.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

int lines_open(struct lines *r, const struct io_ops *io, const char *path, char *buf, size_t cap)
{
	int fd = io->open(path, O_RDONLY);

	if (fd < 0)
		return fd;
	lines_attach(r, io, fd, buf, cap);
	r->owns_fd = true;
	return 0;
}

void lines_attach(struct lines *r, const struct io_ops *io, int fd, char *buf, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->io = io;
	r->fd = fd;
	r->buf = buf;
	r->cap = cap;
}

int lines_next(struct lines *r, char **line)
{
	for (;;) {
		char *nl = memchr(r->buf + r->start, '\n', r->end - r->start);
		ssize_t n;

		if (nl) {
			char *begin = r->buf + r->start;

			*nl = '\0';
			r->start = (size_t)(nl - r->buf) + 1;
			if (r->skipping) {
				/* The tail of an over-long line: drop it. */
				r->skipping = false;
				continue;
			}
			*line = begin;
			return 1;
		}
		if (r->eof) {
			if (r->start < r->end && !r->skipping) {
				r->buf[r->end] = '\0';
				*line = r->buf + r->start;
				r->start = r->end;
				return 1;
			}
			return 0;
		}
		if (r->start > 0) {
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap - 1) {
			/* No newline in a full buffer: skip this line up to its end. */
			if (!r->skipping)
				r->toolong++;
			r->skipping = true;
			r->end = 0;
		}
		n = r->io->read(r->fd, r->buf + r->end, r->cap - 1 - r->end);
		if (n < 0)
			return (int)n;
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
	}
}

void lines_close(struct lines *r)
{
	if (r->owns_fd && r->fd >= 0)
		close(r->fd);
	r->fd = -1;
	r->owns_fd = false;
}
