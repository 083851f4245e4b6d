/*
 * node_filesystem_*: the configured mount points, their device and type from the mount table
 * (<proc>/self/mountinfo, or <proc>/mounts on kernels without it), their sizes from statvfs()
 * on rootfs_path + mount point.
 */
#include "collector/system_int.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/registry.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#define COMPONENT "system"
/* node_exporter gives up on a mount after 5 s too (--collector.filesystem.mount-timeout). */
#define STATVFS_TIMEOUT_MS 5000
#define STATVFS_STACK ((size_t)64 << 10)

/*
 * One statvfs() call on a detached thread. Shared by the sampler and the thread: the last of
 * the two to let go frees it, so a call that never returns costs one blocked thread and this,
 * never a crash or a stall of the collector.
 */
struct fs_probe {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int refs;                /* 2 while both hold it */
	bool done;
	int err;                 /* 0 or the errno of a failed call */
	struct statvfs st;
	int (*fn)(const char *path, struct statvfs *st);
	char path[];
};

/* Let go of 'p', whose mutex the caller holds; frees it if it was the last reference. */
static void probe_put(struct fs_probe *p)
{
	bool last = --p->refs == 0;

	pthread_mutex_unlock(&p->mu);
	if (last) {
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
	}
}

static void *probe_main(void *arg)
{
	struct fs_probe *p = arg;
	struct statvfs st;
	int err = p->fn(p->path, &st) ? errno : 0;

	pthread_mutex_lock(&p->mu);
	p->st = st;
	p->err = err;
	p->done = true;
	pthread_cond_signal(&p->cv);
	probe_put(p);
	return NULL;
}

/*
 * statvfs(path) given up on after s->statvfs_timeout_ms. Returns 0 with *st filled, the errno
 * of a failed call, or ETIMEDOUT with *stuck set to the call still running (the caller owns
 * that reference: see probe_finished).
 */
static int statvfs_timed(struct system_sampler *s, const char *path, struct statvfs *st,
			 struct fs_probe **stuck)
{
	size_t len = strlen(path) + 1;
	struct fs_probe *p = xcalloc(1, sizeof(*p) + len);
	struct timespec deadline;
	pthread_condattr_t ca;
	pthread_attr_t attr;
	pthread_t thread;
	int err;

	memcpy(p->path, path, len);
	p->fn = s->statvfs_fn;
	p->refs = 2;
	pthread_mutex_init(&p->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, STATVFS_STACK);
	err = pthread_create(&thread, &attr, probe_main, p);
	pthread_attr_destroy(&attr);
	if (err) {
		/* No thread to be had: ask directly rather than report nothing. */
		pthread_cond_destroy(&p->cv);
		pthread_mutex_destroy(&p->mu);
		free(p);
		return s->statvfs_fn(path, st) ? errno : 0;
	}

	/* A deadline for a blocking call, not a reading of the time that logic depends on. */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += s->statvfs_timeout_ms / 1000;
	deadline.tv_nsec += (long)(s->statvfs_timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&p->mu);
	while (!p->done && pthread_cond_timedwait(&p->cv, &p->mu, &deadline) != ETIMEDOUT)
		;
	if (!p->done) {
		pthread_mutex_unlock(&p->mu);
		*stuck = p;
		return ETIMEDOUT;
	}
	*st = p->st;
	err = p->err;
	probe_put(p);
	return err;
}

/* Has the call that timed out returned since? Then let go of it. */
static bool probe_finished(struct fs_probe *p)
{
	pthread_mutex_lock(&p->mu);
	if (!p->done) {
		pthread_mutex_unlock(&p->mu);
		return false;
	}
	probe_put(p);
	return true;
}

void system_test_set_statvfs(struct system_sampler *s,
			     int (*fn)(const char *path, struct statvfs *st), int timeout_ms)
{
	s->statvfs_fn = fn;
	s->statvfs_timeout_ms = timeout_ms;
}

static const struct {
	const char *name;
	const char *help;
} fs_families[SYSTEM_FS_NMETRICS] = {
	[SYSTEM_FS_SIZE] = { "node_filesystem_size_bytes", "Filesystem size in bytes." },
	[SYSTEM_FS_FREE] = { "node_filesystem_free_bytes", "Filesystem free space in bytes." },
	[SYSTEM_FS_AVAIL] = { "node_filesystem_avail_bytes",
			      "Filesystem space available to non-root users in bytes." },
	[SYSTEM_FS_FILES] = { "node_filesystem_files", "Filesystem total file nodes." },
	[SYSTEM_FS_FILES_FREE] = { "node_filesystem_files_free",
				   "Filesystem total free file nodes." },
	[SYSTEM_FS_READONLY] = { "node_filesystem_readonly", "Filesystem read-only status." },
	[SYSTEM_FS_DEVICE_ERROR] = { "node_filesystem_device_error",
				     "Whether an error occurred while getting statistics for the "
				     "given device." },
};

int system_fs_init(struct system_sampler *s, char *const *mountpoints, size_t n)
{
	static const char *const labels[] = { "device", "fstype", "mountpoint", NULL };
	char path[PATH_MAX];

	for (int i = 0; i < SYSTEM_FS_NMETRICS; i++) {
		s->fs_metric[i] = registry_gauge(s->reg, fs_families[i].name, fs_families[i].help,
						 labels);
		if (!s->fs_metric[i]) {
			log_error(COMPONENT, "cannot register %s: registered before with another "
				  "shape", fs_families[i].name);
			return -EINVAL;
		}
	}
	s->statvfs_fn = statvfs;
	s->statvfs_timeout_ms = STATVFS_TIMEOUT_MS;
	s->fs = xcalloc(n ? n : 1, sizeof(*s->fs));
	for (size_t i = 0; i < n; i++) {
		const char *mp = mountpoints[i];
		size_t len = strlen(mp);
		bool dup = false;

		/* "/var/lib/mysql/" is the mount point "/var/lib/mysql". */
		while (len > 1 && mp[len - 1] == '/')
			len--;
		if (mp[0] != '/' || len >= SYSTEM_LABEL_MAX) {
			log_error(COMPONENT, "system.filesystems: \"%s\" is not an absolute path of "
				  "at most %d bytes", mp, SYSTEM_LABEL_MAX - 1);
			return -EINVAL;
		}
		for (size_t j = 0; j < s->nfs; j++)
			dup |= strlen(s->fs[j].mountpoint) == len &&
			       memcmp(s->fs[j].mountpoint, mp, len) == 0;
		if (dup)
			continue;
		if (snprintf(path, sizeof(path), "%s%.*s", s->rootfs, (int)len, mp) >=
		    (int)sizeof(path)) {
			log_error(COMPONENT, "system.filesystems: \"%s\" under system.rootfs_path "
				  "is longer than PATH_MAX", mp);
			return -EINVAL;
		}
		s->fs[s->nfs].mountpoint = xstrndup(mp, len);
		/* rootfs "" + "/" is "/"; rootfs "/host" + "/" is "/host/". */
		s->fs[s->nfs].stat_path = xstrdup(path);
		s->nfs++;
	}
	return 0;
}

void system_fs_release(struct system_sampler *s)
{
	for (size_t i = 0; i < s->nfs; i++) {
		/* A call still blocked frees its probe when it returns. */
		if (s->fs[i].stuck) {
			pthread_mutex_lock(&s->fs[i].stuck->mu);
			probe_put(s->fs[i].stuck);
		}
		free(s->fs[i].mountpoint);
		free(s->fs[i].stat_path);
	}
	free(s->fs);
	s->fs = NULL;
	s->nfs = 0;
}

static bool has_option(const char *options, const char *opt)
{
	size_t len = strlen(opt);

	for (const char *p = options; p; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, opt, len) == 0 && (p[len] == ',' || p[len] == '\0'))
			return true;
	}
	return false;
}

/* True when 'path' lies on the mount at 'mp': equal, or below it. */
static bool mount_covers(const char *mp, size_t mplen, const char *path)
{
	if (mplen == 1 && mp[0] == '/')
		return true;
	return strncmp(path, mp, mplen) == 0 && (path[mplen] == '/' || path[mplen] == '\0');
}

/* One mount: remember it for every configured mount point it is (or contains). The kernel lists
 * mounts in the order they were made, so a later mount on the same point hides an earlier one. */
static void fs_consider(struct system_sampler *s, const struct system_mount *m)
{
	const char *mp = m->mountpoint;
	size_t mplen = strlen(mp);

	for (size_t i = 0; i < s->nfs; i++) {
		struct system_fs *fs = &s->fs[i];
		bool exact = strcmp(mp, fs->mountpoint) == 0;

		if (!exact && (fs->exact || mplen < fs->match_len ||
			       !mount_covers(mp, mplen, fs->mountpoint)))
			continue;
		fs->found = true;
		fs->exact = exact;
		fs->match_len = mplen;
		fs->readonly = has_option(m->options, "ro");
		snprintf(fs->device, sizeof(fs->device), "%s", m->device);
		snprintf(fs->fstype, sizeof(fs->fstype), "%s", m->fstype);
	}
}

/* Read the mount table. Returns 0 or -errno for the file in 'path'. */
static int read_mounts(struct system_sampler *s, char *path, size_t pathlen, unsigned *bad)
{
	struct lines r;
	bool mountinfo = true;
	char *line;
	int err;

	err = system_path(path, pathlen, s->proc, "self/mountinfo");
	if (!err)
		err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err == -ENOENT) {
		mountinfo = false;
		err = system_path(path, pathlen, s->proc, "mounts");
		if (!err)
			err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	}
	if (err)
		return err;
	while ((err = lines_next(&r, &line)) > 0) {
		struct system_mount m;

		if ((mountinfo ? system_parse_mountinfo_line(line, &m) :
				 system_parse_mounts_line(line, &m)) < 0) {
			(*bad)++;
			continue;
		}
		fs_consider(s, &m);
	}
	lines_close(&r);
	return err < 0 ? err : 0;
}

static void fs_set(struct system_sampler *s, int which, const char *const *labels, double v)
{
	series_set(metric_series(s->fs_metric[which], labels), v);
}

void system_fs_sample(struct system_sampler *s)
{
	char path[PATH_MAX];
	unsigned bad = 0, missing = 0;
	int err;

	if (s->nfs == 0)
		goto out_sweep;
	for (size_t i = 0; i < s->nfs; i++) {
		s->fs[i].found = false;
		s->fs[i].exact = false;
		s->fs[i].match_len = 0;
	}
	err = read_mounts(s, path, sizeof(path), &bad);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_MOUNTS, "cannot read the mount table %s: %s",
				     path, strerror(-err));
		goto out_sweep;
	}
	if (bad)
		system_source_failed(s, SYSTEM_SRC_MOUNTS, "%s: %u malformed lines", path, bad);
	else
		system_source_ok(s, SYSTEM_SRC_MOUNTS);

	for (size_t i = 0; i < s->nfs; i++)
		missing += !s->fs[i].found;
	if (!missing)
		system_source_ok(s, SYSTEM_SRC_FILESYSTEM);
	for (size_t i = 0; i < s->nfs; i++) {
		struct system_fs *fs = &s->fs[i];
		const char *labels[3] = { fs->device, fs->fstype, fs->mountpoint };
		struct statvfs st;
		double frsize;

		if (!fs->found) {
			/* Only possible when the table has no "/" (a broken or partial one). */
			system_source_failed(s, SYSTEM_SRC_FILESYSTEM, "%s: no mount contains %s",
					     path, fs->mountpoint);
			continue;
		}
		if (!fs->exact && !fs->warned_not_mount) {
			fs->warned_not_mount = true;
			log_info(COMPONENT, "%s is not a mount point; reporting the filesystem that "
				 "holds it (%s, %s) under mountpoint=\"%s\"", fs->mountpoint,
				 fs->device, fs->fstype, fs->mountpoint);
		}
		if (fs->stuck && !probe_finished(fs->stuck)) {
			/* Still blocked since an earlier pass: do not pile up threads on it. */
			fs_set(s, SYSTEM_FS_DEVICE_ERROR, labels, 1);
			series_add(s->error_series[SYSTEM_SRC_FILESYSTEM], 1);
			continue;
		}
		fs->stuck = NULL;
		err = statvfs_timed(s, fs->stat_path, &st, &fs->stuck);
		if (err) {
			fs_set(s, SYSTEM_FS_DEVICE_ERROR, labels, 1);
			series_add(s->error_series[SYSTEM_SRC_FILESYSTEM], 1);
			if (!latch_fail(&fs->failing))
				continue;
			if (err == ETIMEDOUT)
				log_warn(COMPONENT, "statvfs %s did not answer within %d ms (a hung "
					 "network filesystem?); reporting node_filesystem_device_error "
					 "1 for it and not asking again until that call returns",
					 fs->stat_path, s->statvfs_timeout_ms);
			else
				log_warn(COMPONENT, "statvfs %s: %s; reporting "
					 "node_filesystem_device_error 1 for it, not logged again "
					 "until it recovers", fs->stat_path, strerror(err));
			continue;
		}
		if (latch_ok(&fs->failing))
			log_info(COMPONENT, "statvfs %s works again", fs->stat_path);
		frsize = (double)(st.f_frsize ? st.f_frsize : st.f_bsize);
		fs_set(s, SYSTEM_FS_SIZE, labels, (double)st.f_blocks * frsize);
		fs_set(s, SYSTEM_FS_FREE, labels, (double)st.f_bfree * frsize);
		fs_set(s, SYSTEM_FS_AVAIL, labels, (double)st.f_bavail * frsize);
		fs_set(s, SYSTEM_FS_FILES, labels, (double)st.f_files);
		fs_set(s, SYSTEM_FS_FILES_FREE, labels, (double)st.f_ffree);
		fs_set(s, SYSTEM_FS_READONLY, labels,
		       fs->readonly || (st.f_flag & ST_RDONLY) ? 1 : 0);
		fs_set(s, SYSTEM_FS_DEVICE_ERROR, labels, 0);
	}
out_sweep:
	for (int i = 0; i < SYSTEM_FS_NMETRICS; i++)
		metric_sweep(s->fs_metric[i]);
}
