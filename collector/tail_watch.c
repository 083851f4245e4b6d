/*
 * inotify through libinotifytools: the only file that touches it.
 *
 * libinotifytools keeps the watch table (path <-> watch descriptor) and sets the watches up, but
 * its inotifytools_next_event() can only block (a timeout of 0 or less waits for ever, a positive
 * one waits whole seconds), and the agent's event loop must poll the inotify descriptor together
 * with its timer and signals. So the descriptor the library opened is found once, made
 * non-blocking, and its events are read here directly; the library only adds and removes
 * watches.
 */
#include "collector/tail_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inotifytools/inotifytools.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "core/buf.h"

#define DIR_EVENTS (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_MODIFY | IN_ATTRIB | \
		    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR)
/* A file's writes are seen through its directory's IN_MODIFY (one event per write, not two); its
 * own watch says when it moves, goes or changes access. */
#define FILE_EVENTS (IN_ATTRIB | IN_MOVE_SELF | IN_DELETE_SELF)

struct tail_watch {
	int fd;
};

/* libinotifytools is process-wide: one tail_watch at a time. */
static bool watch_in_use;

/*
 * The inotify descriptor libinotifytools opened. It is the process's only inotify instance (this
 * file is the only user of inotify, one tail_watch at a time), so it is found by what it is, not
 * by comparing fd numbers before and after: the HTTP threads open and close sockets meanwhile.
 */
static int find_inotify_fd(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int found = -1;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char link[64], path[64];
		ssize_t n;
		int fd;

		if (de->d_name[0] == '.')
			continue;
		fd = atoi(de->d_name);
		if (fd == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = 0;
		if (!strcmp(link, "anon_inode:inotify")) {
			found = fd;
			break;
		}
	}
	closedir(d);
	return found >= 0 ? found : -ENOENT;
}

int tail_watch_new(struct tail_watch **out)
{
	struct tail_watch *w;
	int fd;

	if (watch_in_use)
		return -EBUSY;
	if (!inotifytools_initialize())
		return -(inotifytools_error() ? inotifytools_error() : EMFILE);
	fd = find_inotify_fd();
	if (fd < 0) {
		inotifytools_cleanup();
		return fd;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		int err = -errno;

		inotifytools_cleanup();
		return err;
	}
	w = xcalloc(1, sizeof(*w));
	w->fd = fd;
	watch_in_use = true;
	*out = w;
	return 0;
}

void tail_watch_free(struct tail_watch *w)
{
	if (!w)
		return;
	inotifytools_cleanup();
	watch_in_use = false;
	free(w);
}

int tail_watch_fd(const struct tail_watch *w)
{
	return w->fd;
}

static int add(const char *path, int events)
{
	int wd;

	if (!inotifytools_watch_file(path, events))
		return -(inotifytools_error() ? inotifytools_error() : EINVAL);
	wd = inotifytools_wd_from_filename(path);
	if (wd < 0) {
		/* The library files a directory's watch under its name with a '/' appended. */
		char slash[4096];

		if ((size_t)snprintf(slash, sizeof(slash), "%s/", path) < sizeof(slash))
			wd = inotifytools_wd_from_filename(slash);
	}
	return wd >= 0 ? wd : -ENOENT;
}

int tail_watch_dir(struct tail_watch *w, const char *path)
{
	(void)w;
	return add(path, DIR_EVENTS);
}

int tail_watch_file(struct tail_watch *w, const char *path)
{
	(void)w;
	return add(path, FILE_EVENTS);
}

void tail_watch_remove(struct tail_watch *w, int wd)
{
	(void)w;
	if (wd >= 0)
		inotifytools_remove_watch_by_wd(wd);
}

int tail_watch_drain(struct tail_watch *w, tail_watch_fn fn, void *ctx)
{
	char events[16384] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t n = read(w->fd, events, sizeof(events));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? 0 : -errno;
		}
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off + (ssize_t)sizeof(struct inotify_event) <= n;) {
			const struct inotify_event *ev = (const void *)(events + off);
			const char *name = ev->len ? ev->name : NULL;

			if (ev->mask & IN_Q_OVERFLOW)
				fn(ctx, -1, TAIL_EV_OVERFLOW, NULL, 0);
			else if (ev->mask & IN_MODIFY)
				fn(ctx, ev->wd, TAIL_EV_MODIFIED, name, 0);
			else if (ev->mask & IN_MOVED_FROM)
				fn(ctx, ev->wd, TAIL_EV_MOVED_FROM, name, ev->cookie);
			else if (ev->mask & IN_MOVED_TO)
				fn(ctx, ev->wd, TAIL_EV_MOVED_TO, name, ev->cookie);
			else
				fn(ctx, ev->wd, TAIL_EV_CHANGED, name, 0);
			off += (ssize_t)sizeof(struct inotify_event) + ev->len;
		}
		/* A read that left room for another event emptied the queue: no second read() to
		 * hear EAGAIN (one syscall less per wake-up). An event queued meanwhile keeps the
		 * descriptor readable for the next poll. */
		if ((size_t)n + sizeof(struct inotify_event) + NAME_MAX + 1 <= sizeof(events))
			return 0;
	}
}
