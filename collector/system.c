/*
 * The host sampler's lifecycle, its error accounting, and the three simplest sources: /proc/stat (CPU), /proc/meminfo and /proc/loadavg.
 */
#include "collector/system.h"
#include "collector/system_int.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMPONENT "system"

static const char *const source_names[SYSTEM_SRC_COUNT] = {
	[SYSTEM_SRC_STAT] = "stat",
	[SYSTEM_SRC_MEMINFO] = "meminfo",
	[SYSTEM_SRC_LOADAVG] = "loadavg",
	[SYSTEM_SRC_MOUNTS] = "mounts",
	[SYSTEM_SRC_FILESYSTEM] = "filesystem",
	[SYSTEM_SRC_DISKSTATS] = "diskstats",
	[SYSTEM_SRC_NETDEV] = "netdev",
	[SYSTEM_SRC_TCP] = "tcp",
	[SYSTEM_SRC_TCP6] = "tcp6",
	[SYSTEM_SRC_PROCESSES] = "processes",
};

/* ---- helpers shared by the readers ---- */

int system_path(char *out, size_t len, const char *root, const char *rel)
{
	int n = snprintf(out, len, "%s/%s", root, rel);

	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

void system_source_failed(struct system_sampler *s, enum system_source src, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	series_add(s->error_series[src], 1);
	if (!latch_fail(&s->failing[src]))
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn(COMPONENT, "%s; its metrics are left out, counted in "
		 "deploywatch_sampler_errors_total{source=\"%s\"} and not logged again until it "
		 "recovers", msg, source_names[src]);
}

void system_source_ok(struct system_sampler *s, enum system_source src)
{
	if (!latch_ok(&s->failing[src]))
		return;
	log_info(COMPONENT, "source %s is readable again", source_names[src]);
}

/* ---- /proc/stat ---- */

static const char *const cpu_modes[] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};

static void sample_stat(struct system_sampler *s)
{
	struct lines r;
	char path[PATH_MAX];
	char *line;
	unsigned ncpu = 0, bad = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "stat");
	if (!err)
		err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_STAT, "cannot open %s/stat: %s", s->proc,
				     strerror(-err));
		goto out_sweep;
	}
	while ((err = lines_next(&r, &line)) > 0) {
		/* The aggregate "cpu " line is not exported (node_exporter sums per CPU too). */
		struct system_cpu_line c;
		int rc = system_parse_cpu_line(line, &c);

		if (rc < 0)
			bad++;
		if (rc <= 0)
			continue;
		for (size_t i = 0; i < c.nv && i < 8; i++) {
			const char *labels[2] = { c.cpu, cpu_modes[i] };

			series_set(metric_series(s->cpu, labels), (double)c.v[i] / (double)s->user_hz);
		}
		if (c.nv >= 9) {
			const char *labels[2] = { c.cpu, "user" };

			series_set(metric_series(s->cpu_guest, labels),
				   (double)c.v[8] / (double)s->user_hz);
		}
		if (c.nv >= 10) {
			const char *labels[2] = { c.cpu, "nice" };

			series_set(metric_series(s->cpu_guest, labels),
				   (double)c.v[9] / (double)s->user_hz);
		}
		ncpu++;
	}
	lines_close(&r);
	if (err < 0)
		system_source_failed(s, SYSTEM_SRC_STAT, "cannot read %s: %s", path, strerror(-err));
	else if (bad || ncpu == 0)
		system_source_failed(s, SYSTEM_SRC_STAT, "%s: %u malformed cpu lines, %u cpus read",
				     path, bad, ncpu);
	else
		system_source_ok(s, SYSTEM_SRC_STAT);
out_sweep:
	metric_sweep(s->cpu);
	metric_sweep(s->cpu_guest);
}

/* ---- /proc/meminfo ---- */

/* The family of a meminfo field, registered on first sight under node_exporter's name
 * (system_meminfo_name). NULL for a field that cannot form a metric name. */
static struct metric *meminfo_family(struct system_sampler *s, const char *field, bool bytes,
				     size_t *hint)
{
	char name[160], shortname[128], help[192];
	struct metric *m;

	/* Fields come in the same order every pass: try where the last one was found first. */
	if (*hint < s->nmem && strcmp(s->mem[*hint].field, field) == 0)
		return s->mem[(*hint)++].m;
	for (size_t i = 0; i < s->nmem; i++) {
		if (strcmp(s->mem[i].field, field) == 0) {
			*hint = i + 1;
			return s->mem[i].m;
		}
	}
	if (s->nmem >= SYSTEM_MEMINFO_MAX || !system_meminfo_name(field, bytes, shortname, sizeof(shortname)))
		return NULL;
	snprintf(name, sizeof(name), "node_memory_%s", shortname);
	snprintf(help, sizeof(help), "Memory information field %s.", shortname);
	m = registry_gauge(s->reg, name, help, NULL);
	if (!m)
		return NULL;
	s->mem = xrealloc(s->mem, (s->nmem + 1) * sizeof(*s->mem));
	s->mem[s->nmem].field = xstrdup(field);
	s->mem[s->nmem].m = m;
	*hint = ++s->nmem;
	return m;
}

static void sample_meminfo(struct system_sampler *s)
{
	struct lines r;
	char path[PATH_MAX];
	char *line;
	unsigned bad = 0, nread = 0;
	size_t hint = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "meminfo");
	if (!err)
		err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_MEMINFO, "cannot open %s/meminfo: %s", s->proc,
				     strerror(-err));
		goto out_sweep;
	}
	while ((err = lines_next(&r, &line)) > 0) {
		struct system_meminfo_line f;
		struct metric *m;
		int rc = system_parse_meminfo_line(line, &f);

		if (rc < 0)
			bad++;
		if (rc <= 0)
			continue;
		m = meminfo_family(s, f.field, f.kb, &hint);
		if (!m) {
			bad++;
			continue;
		}
		series_set(metric_series(m, NULL), f.kb ? (double)f.value * 1024.0 : (double)f.value);
		nread++;
	}
	lines_close(&r);
	if (err < 0)
		system_source_failed(s, SYSTEM_SRC_MEMINFO, "cannot read %s: %s", path,
				     strerror(-err));
	else if (bad || nread == 0)
		system_source_failed(s, SYSTEM_SRC_MEMINFO,
				     "%s: %u fields not understood, %u read", path, bad, nread);
	else
		system_source_ok(s, SYSTEM_SRC_MEMINFO);
out_sweep:
	for (size_t i = 0; i < s->nmem; i++)
		metric_sweep(s->mem[i].m);
}

/* ---- /proc/loadavg ---- */

static void sample_loadavg(struct system_sampler *s)
{
	char path[PATH_MAX], text[256];
	double load[3];
	long n;
	int err;

	err = system_path(path, sizeof(path), s->proc, "loadavg");
	n = err ? err : io_read_small(s->io, path, text, sizeof(text));
	if (n < 0) {
		system_source_failed(s, SYSTEM_SRC_LOADAVG, "cannot read %s/loadavg: %s", s->proc,
				     strerror((int)-n));
		goto out_sweep;
	}
	if (system_parse_loadavg(text, load) < 0) {
		system_source_failed(s, SYSTEM_SRC_LOADAVG, "%s: unexpected content \"%.40s\"", path,
				     text);
		goto out_sweep;
	}
	for (int i = 0; i < 3; i++)
		series_set(metric_series(s->load[i], NULL), load[i]);
	system_source_ok(s, SYSTEM_SRC_LOADAVG);
out_sweep:
	for (int i = 0; i < 3; i++)
		metric_sweep(s->load[i]);
}

/* ---- lifecycle ---- */

/* A configured root without its trailing slashes ("/" becomes ""), so that root + "/" + rel
 * never doubles a slash. */
static char *root_dup(const char *root, const char *dflt)
{
	size_t n;

	if (!root || !*root)
		root = dflt;
	n = strlen(root);
	while (n > 0 && root[n - 1] == '/')
		n--;
	return xstrndup(root, n);
}

int system_sampler_new(const struct config *cfg, struct registry *reg,
		       struct system_sampler **out)
{
	static const char *const cpu_labels[] = { "cpu", "mode", NULL };
	static const char *const source_label[] = { "source", NULL };
	static const char *const load_names[3] = { "node_load1", "node_load5", "node_load15" };
	static const char *const load_help[3] = {
		"1m load average.", "5m load average.", "15m load average.",
	};
	struct system_sampler *s = xcalloc(1, sizeof(*s));
	int err;

	s->reg = reg;
	s->proc = root_dup(cfg->system.proc_path, "/proc");
	s->rootfs = root_dup(cfg->system.rootfs_path, "/");
	if (strlen(s->proc) > PATH_MAX / 2 || strlen(s->rootfs) > PATH_MAX / 2) {
		log_error(COMPONENT, "system.proc_path or system.rootfs_path is longer than %d bytes",
			  PATH_MAX / 2);
		err = -EINVAL;
		goto out_free;
	}
	s->user_hz = sysconf(_SC_CLK_TCK);
	if (s->user_hz <= 0)
		s->user_hz = 100;
	s->page_size = sysconf(_SC_PAGESIZE);
	if (s->page_size <= 0)
		s->page_size = 4096;
	s->line = xmalloc(SYSTEM_LINE_MAX);
	s->io = &io_real;

	err = -EINVAL;
	s->errors = registry_counter(reg, "deploywatch_sampler_errors_total",
				     "Host sampler passes in which a source could not be read or "
				     "understood, by source.", source_label);
	s->cpu = registry_counter(reg, "node_cpu_seconds_total",
				  "Seconds the CPUs spent in each mode.", cpu_labels);
	s->cpu_guest = registry_counter(reg, "node_cpu_guest_seconds_total",
					"Seconds the CPUs spent in guests (VMs) for each mode.",
					cpu_labels);
	if (!s->errors || !s->cpu || !s->cpu_guest)
		goto out_registry;
	for (int i = 0; i < 3; i++) {
		s->load[i] = registry_gauge(reg, load_names[i], load_help[i], NULL);
		if (!s->load[i])
			goto out_registry;
	}
	for (int i = 0; i < SYSTEM_SRC_COUNT; i++) {
		const char *v[1] = { source_names[i] };

		/* Created at 0 up front so that increase() sees the first error. */
		s->error_series[i] = metric_series(s->errors, v);
	}

	err = system_fs_init(s, cfg->system.filesystems, cfg->system.nfilesystems);
	if (!err)
		err = system_dev_init(s);
	if (!err)
		err = system_tcp_init(s, cfg->system.tcp_ports, cfg->system.ntcp_ports);
	if (!err)
		err = system_proc_init(s, cfg->system.processes, cfg->system.nprocesses);
	if (err)
		goto out_free;
	*out = s;
	return 0;

out_registry:
	log_error(COMPONENT, "cannot register the host metrics: a family of the same name is "
		  "already registered with another type or labels");
out_free:
	system_sampler_free(s);
	return err;
}

void system_test_set_io(struct system_sampler *s, const struct io_ops *io)
{
	s->io = io;
}

int system_sample(struct system_sampler *s)
{
	sample_stat(s);
	sample_meminfo(s);
	sample_loadavg(s);
	system_fs_sample(s);
	system_dev_sample(s);
	system_tcp_sample(s);
	system_proc_sample(s);
	return 0;
}

void system_sampler_free(struct system_sampler *s)
{
	if (!s)
		return;
	system_proc_release(s);
	system_tcp_release(s);
	system_dev_release(s);
	system_fs_release(s);
	for (size_t i = 0; i < s->nmem; i++)
		free(s->mem[i].field);
	free(s->mem);
	free(s->line);
	free(s->rootfs);
	free(s->proc);
	free(s);
}
