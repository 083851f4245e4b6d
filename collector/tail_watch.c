/*
 * inotify through libinotifytools: the only file that touches it.
 *
 * libinotifytools opens the inotify instance, but its inotifytools_next_event() can only block
 * (a timeout of 0 or less waits for ever, a positive one waits whole seconds), and the agent's
 * event loop must poll the inotify descriptor together with its timer and signals. So the
 * descriptor the library opened is found once, made non-blocking, and its events are read here
 * directly.
 *
 * Watches are added and removed on that descriptor directly too. The library learns of a watch
 * the kernel dropped (IN_IGNORED: the file was deleted, its file system unmounted) only from
 * events it reads itself, which it never does here; asked to remove such a watch, its
 * inotifytools_remove_watch_by_wd() prints "Failed to remove watch on PATH: Unknown error -1" to
 * stderr (it passes the -1 return value to strerror), fails, and keeps the stale entry, whose
 * path then maps a new file of the same name to the old watch descriptor. The wd that
 * inotify_add_watch() returns is the one its events carry, so no table is needed.
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
#include "core/log.h"

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

/* The same inode watched again (a second name for it) gets the same wd, as inotify(7) says. */
static int add(struct tail_watch *w, const char *path, uint32_t events)
{
	int wd = inotify_add_watch(w->fd, path, events);

	return wd >= 0 ? wd : -errno;
}

int tail_watch_dir(struct tail_watch *w, const char *path)
{
	return add(w, path, DIR_EVENTS);
}

int tail_watch_file(struct tail_watch *w, const char *path)
{
	return add(w, path, FILE_EVENTS);
}

void tail_watch_remove(struct tail_watch *w, int wd)
{
	if (wd < 0 || inotify_rm_watch(w->fd, wd) == 0)
		return;
	/* EINVAL: the kernel dropped the watch already (its file was deleted or its file system
	 * unmounted; the IN_IGNORED may still be queued). The wd came from add(), so that is the
	 * only way it can be invalid, and what the caller wanted is done. Anything else is a
	 * real failure and says so in the agent's log. */
	if (errno != EINVAL)
		log_warn("tail", "cannot remove inotify watch %d: %s", wd, strerror(errno));
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
