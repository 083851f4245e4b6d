/*
 * Process groups with process-exporter's metric names (namedprocess_namegroup_*), so its
 * dashboards work: CPU seconds, memory and process count of the processes whose name is one of
 * system.processes.
 *
 * A group's CPU counter is the sum over its live processes plus what its exited processes had
 * used when last seen. Each process is tracked across passes by pid and start time (a reused
 * pid is a new process); when one disappears, or leaves the group by exec'ing something else,
 * its last seen ticks move into the group's base, so the counter never goes backwards. After an
 * agent restart the counter continues from its stored value (see set_group_series).
 */
#include "collector/system_int.h"

#include "core/buf.h"
#include "core/log.h"
#include "core/model.h"
#include "core/registry.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "system"

/* The kernel's TASK_COMM_LEN less its NUL: longer names are cut to this in comm. */
#define COMM_LEN 15
#define GROUP_NAME_MAX 255

int system_proc_init(struct system_sampler *s, char *const *names, size_t n)
{
	static const char *const cpu_labels[] = { "groupname", "mode", NULL };
	static const char *const mem_labels[] = { "groupname", "memtype", NULL };
	static const char *const num_labels[] = { "groupname", NULL };

	s->proc_cpu = registry_counter(s->reg, "namedprocess_namegroup_cpu_seconds_total",
				       "Cpu user usage in seconds", cpu_labels);
	s->proc_mem = registry_gauge(s->reg, "namedprocess_namegroup_memory_bytes",
				     "number of bytes of memory in use", mem_labels);
	s->proc_num = registry_gauge(s->reg, "namedprocess_namegroup_num_procs",
				     "number of processes in this group", num_labels);
	if (!s->proc_cpu || !s->proc_mem || !s->proc_num) {
		log_error(COMPONENT, "cannot register the namedprocess_namegroup_* metrics: "
			  "registered before with another shape");
		return -EINVAL;
	}
	s->groups = xcalloc(n ? n : 1, sizeof(*s->groups));
	for (size_t i = 0; i < n; i++) {
		bool dup = false;
		size_t len = strlen(names[i]);

		if (len == 0 || len > GROUP_NAME_MAX || strchr(names[i], '/')) {
			log_error(COMPONENT, "system.processes: \"%s\" is not a process name (1 to %d "
				  "bytes, no '/')", names[i], GROUP_NAME_MAX);
			return -EINVAL;
		}
		for (size_t j = 0; j < s->ngroups; j++)
			dup |= strcmp(s->groups[j].name, names[i]) == 0;
		if (!dup)
			s->groups[s->ngroups++].name = xstrdup(names[i]);
	}
	return 0;
}

void system_proc_release(struct system_sampler *s)
{
	for (size_t i = 0; i < s->ngroups; i++)
		free(s->groups[i].name);
	free(s->groups);
	free(s->procs);
	free(s->procs_next);
	free(s->pids);
	s->groups = NULL;
	s->procs = s->procs_next = NULL;
	s->pids = NULL;
	s->ngroups = s->nprocs = s->procs_cap = s->pids_cap = 0;
}

/* Read <proc>/<pid>/stat. False for a process that is gone or a line that does not parse. */
static bool read_stat(struct system_sampler *s, const char *pid, struct system_pid_stat *ps)
{
	char path[PATH_MAX], text[2048];

	if (snprintf(path, sizeof(path), "%s/%s/stat", s->proc, pid) >= (int)sizeof(path))
		return false;
	if (io_read_small(s->io, path, text, sizeof(text)) <= 0)
		return false;
	return system_parse_pid_stat(text, ps) == 0;
}

static bool comm_matches(const char *comm, const char *name)
{
	size_t len = strlen(name);

	if (strcmp(comm, name) == 0)
		return true;
	/* comm holds only the first 15 bytes of a longer name. */
	return len > COMM_LEN && strlen(comm) == COMM_LEN && strncmp(comm, name, COMM_LEN) == 0;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

static int group_by_name(const struct system_sampler *s, const char *name)
{
	for (size_t g = 0; g < s->ngroups; g++)
		if (strcmp(name, s->groups[g].name) == 0)
			return (int)g;
	return -1;
}

/*
 * The group of a process, or -1. By comm first; then by the base name of argv[0], because comm
 * can differ from the name an operator knows (php-fpm's comm is "php-fpm8.2"). Daemons that set
 * their title put "name: role" into argv[0] ("php-fpm: pool www", "nginx: worker process"), so
 * argv[0] is also tried cut at ": " and at the first blank.
 */
static int match_group(struct system_sampler *s, const char *pid, const char *comm)
{
	char path[PATH_MAX], argv0[4096], cut[4096];
	static const char *const seps[] = { ": ", " " };
	long n;
	int g;

	for (size_t i = 0; i < s->ngroups; i++)
		if (comm_matches(comm, s->groups[i].name))
			return (int)i;
	if (snprintf(path, sizeof(path), "%s/%s/cmdline", s->proc, pid) >= (int)sizeof(path))
		return -1;
	n = io_read_small(s->io, path, argv0, sizeof(argv0));
	if (n <= 0)
		return -1;      /* a kernel thread, a zombie, or gone */
	g = group_by_name(s, base_name(argv0));
	for (size_t i = 0; g < 0 && i < sizeof(seps) / sizeof(seps[0]); i++) {
		char *at;

		memcpy(cut, argv0, strlen(argv0) + 1);
		at = strstr(cut, seps[i]);
		if (!at)
			continue;
		*at = '\0';
		g = group_by_name(s, base_name(cut));
	}
	return g;
}

/* Tells a process that exec'd (a changed name) from the one seen last pass. */
static uint64_t hash_comm(const char *comm)
{
	return model_fnv1a(MODEL_FNV1A_INIT, comm, strlen(comm));
}

/* A process left its group (exited, or exec'd into another name): keep what it used. */
static void fold(struct system_sampler *s, const struct system_proc *p)
{
	if (p->group < 0)
		return;
	s->groups[p->group].base_utime += p->utime;
	s->groups[p->group].base_stime += p->stime;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The pids under <proc>, sorted. Returns the count, or -errno if the directory cannot be read. */
static long list_pids(struct system_sampler *s, bool *truncated)
{
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	d = opendir(s->proc);
	if (!d)
		return -errno;
	*truncated = false;
	while ((de = readdir(d)) != NULL) {
		char *end;
		long pid;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end || pid <= 0 || pid > INT_MAX)
			continue;
		if (n == SYSTEM_PIDS_MAX) {
			*truncated = true;
			break;
		}
		if (n == s->pids_cap) {
			s->pids_cap = s->pids_cap ? s->pids_cap * 2 : 256;
			s->pids = xrealloc(s->pids, s->pids_cap * sizeof(*s->pids));
		}
		s->pids[n++] = (int)pid;
	}
	closedir(d);
	if (n > 1)
		qsort(s->pids, n, sizeof(*s->pids), cmp_int);
	return (long)n;
}

static void set_group_series(struct system_sampler *s)
{
	double hz = (double)s->user_hz;

	for (size_t g = 0; g < s->ngroups; g++) {
		struct system_group *grp = &s->groups[g];
		const char *user[2] = { grp->name, "user" }, *sys[2] = { grp->name, "system" };
		const char *res[2] = { grp->name, "resident" }, *virt[2] = { grp->name, "virtual" };
		const char *num[1] = { grp->name };
		struct series *su = metric_series(s->proc_cpu, user);
		struct series *ss = metric_series(s->proc_cpu, sys);
		double u = (double)(grp->base_utime + grp->utime) / hz;
		double st = (double)(grp->base_stime + grp->stime) / hz;

		if (!grp->offsets_known) {
			/* A new series starts at 0, or at the value the store had for it before
			 * the agent restarted: continue from there. */
			grp->offsets_known = true;
			if (series_value(su) > u)
				grp->offset_user = series_value(su) - u;
			if (series_value(ss) > st)
				grp->offset_system = series_value(ss) - st;
		}
		series_set(su, grp->offset_user + u);
		series_set(ss, grp->offset_system + st);
		series_set(metric_series(s->proc_mem, res),
			   (double)grp->rss_pages * (double)s->page_size);
		series_set(metric_series(s->proc_mem, virt), (double)grp->vsize);
		series_set(metric_series(s->proc_num, num), (double)grp->nprocs);
	}
}

void system_proc_sample(struct system_sampler *s)
{
	struct system_proc *tmp;
	size_t j = 0, nnext = 0;
	bool truncated = false;
	long npids;

	if (s->ngroups == 0)
		return;
	npids = list_pids(s, &truncated);
	if (npids < 0) {
		/* Nothing is known about the processes: keep the tracking as it is and leave the
		 * group series out until the directory is readable again. */
		system_source_failed(s, SYSTEM_SRC_PROCESSES, "cannot list %s: %s", s->proc,
				     strerror((int)-npids));
		goto out_sweep;
	}
	if (truncated)
		system_source_failed(s, SYSTEM_SRC_PROCESSES, "%s: more than %zu processes; the "
				     "rest are not counted", s->proc, SYSTEM_PIDS_MAX);
	else
		system_source_ok(s, SYSTEM_SRC_PROCESSES);
	if ((size_t)npids > s->procs_cap) {
		s->procs_cap = (size_t)npids;
		s->procs = xrealloc(s->procs, s->procs_cap * sizeof(*s->procs));
		s->procs_next = xrealloc(s->procs_next, s->procs_cap * sizeof(*s->procs_next));
	}
	for (size_t g = 0; g < s->ngroups; g++) {
		struct system_group *grp = &s->groups[g];

		grp->utime = grp->stime = grp->rss_pages = grp->vsize = 0;
		grp->nprocs = 0;
	}

	/* Both the listing and the previous pass are sorted by pid: walk them together. */
	for (long i = 0; i < npids; i++) {
		int pid = s->pids[i];
		const struct system_proc *old = NULL;
		struct system_proc *cur;
		struct system_pid_stat ps;
		char pidstr[16];
		uint64_t ch;
		int group;

		while (j < s->nprocs && s->procs[j].pid < pid)
			fold(s, &s->procs[j++]);
		if (j < s->nprocs && s->procs[j].pid == pid)
			old = &s->procs[j++];
		snprintf(pidstr, sizeof(pidstr), "%d", pid);
		/* Gone since readdir(): not an error, the normal life of processes. */
		if (!read_stat(s, pidstr, &ps)) {
			if (old)
				fold(s, old);
			continue;
		}
		ch = hash_comm(ps.comm);
		if (old && old->starttime == ps.starttime && old->comm_hash == ch)
			group = old->group;
		else
			group = match_group(s, pidstr, ps.comm);
		if (old && (old->starttime != ps.starttime || old->group != group))
			fold(s, old);

		cur = &s->procs_next[nnext++];
		cur->pid = pid;
		cur->group = group;
		cur->starttime = ps.starttime;
		cur->comm_hash = ch;
		cur->utime = ps.utime;
		cur->stime = ps.stime;
		if (group >= 0) {
			struct system_group *grp = &s->groups[group];

			grp->utime += ps.utime;
			grp->stime += ps.stime;
			grp->rss_pages += ps.rss;
			grp->vsize += ps.vsize;
			grp->nprocs++;
		}
	}
	while (j < s->nprocs)
		fold(s, &s->procs[j++]);
	tmp = s->procs;
	s->procs = s->procs_next;
	s->procs_next = tmp;
	s->nprocs = nnext;
	set_group_series(s);
out_sweep:
	metric_sweep(s->proc_cpu);
	metric_sweep(s->proc_mem);
	metric_sweep(s->proc_num);
}
