/* The real file operations behind the I/O seam: see io_int.h. */
#include "collector/io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int real_open(const char *path, int flags)
{
	int fd;

	do
		fd = open(path, flags | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	return fd < 0 ? -errno : fd;
}

static ssize_t real_read(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int real_stat(const char *path, struct stat *st)
{
	return stat(path, st) < 0 ? -errno : 0;
}

static int real_fstat(int fd, struct stat *st)
{
	return fstat(fd, st) < 0 ? -errno : 0;
}

const struct io_ops io_real = {
	.open = real_open,
	.read = real_read,
	.stat = real_stat,
	.fstat = real_fstat,
};

long io_read_small(const struct io_ops *io, const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = io->open(path, O_RDONLY);

	if (fd < 0)
		return fd;
	while (len < cap - 1) {
		ssize_t n = io->read(fd, buf + len, cap - 1 - len);

		if (n < 0) {
			close(fd);
			return (long)n;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}
