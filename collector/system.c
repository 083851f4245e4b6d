/*
 * The host sampler's lifecycle, its error accounting, the shared line reader, and the three
 * simplest sources: /proc/stat (CPU), /proc/meminfo and /proc/loadavg.
 */
#include "collector/system.h"
#include "collector/system_int.h"

#include "core/buf.h"
#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"

#include <errno.h>
#include <fcntl.h>
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

int system_lines_open(struct system_lines *r, const char *path, char *buf, size_t cap)
{
	memset(r, 0, sizeof(*r));
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0)
		return -errno;
	r->buf = buf;
	r->cap = cap;
	return 0;
}

int system_lines_next(struct system_lines *r, char **line)
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
		n = read(r->fd, r->buf + r->end, r->cap - 1 - r->end);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
	}
}

void system_lines_close(struct system_lines *r)
{
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

long system_read_small(const char *path, char *buf, size_t cap)
{
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	while (len < cap - 1) {
		ssize_t n = read(fd, buf + len, cap - 1 - len);

		if (n < 0) {
			int err = -errno;

			if (errno == EINTR)
				continue;
			close(fd);
			return err;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	return (long)len;
}

const char *system_skip_blanks(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

bool system_parse_u64(const char **p, uint64_t *out)
{
	const char *q = system_skip_blanks(*p);
	uint64_t v = 0;

	if (*q < '0' || *q > '9')
		return false;
	for (; *q >= '0' && *q <= '9'; q++) {
		unsigned d = (unsigned)(*q - '0');

		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*p = q;
	*out = v;
	return true;
}

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
	if (s->failing[src])
		return;
	s->failing[src] = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn(COMPONENT, "%s; its metrics are left out, counted in "
		 "deploywatch_sampler_errors_total{source=\"%s\"} and not logged again until it "
		 "recovers", msg, source_names[src]);
}

void system_source_ok(struct system_sampler *s, enum system_source src)
{
	if (!s->failing[src])
		return;
	s->failing[src] = false;
	log_info(COMPONENT, "source %s is readable again", source_names[src]);
}

/* ---- /proc/stat ---- */

static const char *const cpu_modes[] = {
	"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
};

static void sample_stat(struct system_sampler *s)
{
	struct system_lines r;
	char path[PATH_MAX];
	char *line;
	unsigned ncpu = 0, bad = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "stat");
	if (!err)
		err = system_lines_open(&r, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_STAT, "cannot open %s/stat: %s", s->proc,
				     strerror(-err));
		goto out_sweep;
	}
	while ((err = system_lines_next(&r, &line)) > 0) {
		/* "cpuN user nice system idle iowait irq softirq steal guest guest_nice"; the
		 * aggregate "cpu " line is not exported (node_exporter sums per CPU too). */
		char cpu[16];
		const char *p;
		uint64_t v[10];
		size_t nv = 0, len;

		if (strncmp(line, "cpu", 3) != 0 || line[3] < '0' || line[3] > '9')
			continue;
		len = strspn(line + 3, "0123456789");
		if (len >= sizeof(cpu) || (line[3 + len] != ' ' && line[3 + len] != '\t')) {
			bad++;
			continue;
		}
		memcpy(cpu, line + 3, len);
		cpu[len] = '\0';
		p = line + 3 + len;
		while (nv < 10 && system_parse_u64(&p, &v[nv]))
			nv++;
		/* Kernels since 2.6.33 print all ten; 2.6.11+ at least eight. */
		if (nv < 4) {
			bad++;
			continue;
		}
		for (size_t i = 0; i < nv && i < 8; i++) {
			const char *labels[2] = { cpu, cpu_modes[i] };

			series_set(metric_series(s->cpu, labels), (double)v[i] / (double)s->user_hz);
		}
		if (nv >= 9) {
			const char *labels[2] = { cpu, "user" };

			series_set(metric_series(s->cpu_guest, labels), (double)v[8] / (double)s->user_hz);
		}
		if (nv >= 10) {
			const char *labels[2] = { cpu, "nice" };

			series_set(metric_series(s->cpu_guest, labels), (double)v[9] / (double)s->user_hz);
		}
		ncpu++;
	}
	system_lines_close(&r);
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

/*
 * node_exporter's names: "Active(anon):  1544 kB" -> node_memory_Active_anon_bytes (the value
 * times 1024); a field without a unit keeps its name and value: HugePages_Total ->
 * node_memory_HugePages_Total. Returns false for a field that cannot form a metric name.
 */
static bool meminfo_name(const char *field, bool bytes, char *out, size_t len)
{
	size_t n = 0;
	int w;

	for (const char *p = field; *p; p++) {
		char c = *p;

		if (c == '(') {
			c = '_';
		} else if (c == ')') {
			continue;
		} else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			     (c >= '0' && c <= '9') || c == '_')) {
			return false;
		}
		if (n + 1 >= len)
			return false;
		out[n++] = c;
	}
	if (n == 0)
		return false;
	out[n] = '\0';
	w = snprintf(out + n, len - n, "%s", bytes ? "_bytes" : "");
	return w >= 0 && (size_t)w < len - n;
}

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
	if (s->nmem >= SYSTEM_MEMINFO_MAX || !meminfo_name(field, bytes, shortname, sizeof(shortname)))
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
	struct system_lines r;
	char path[PATH_MAX];
	char *line;
	unsigned bad = 0, nread = 0;
	size_t hint = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "meminfo");
	if (!err)
		err = system_lines_open(&r, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_MEMINFO, "cannot open %s/meminfo: %s", s->proc,
				     strerror(-err));
		goto out_sweep;
	}
	while ((err = system_lines_next(&r, &line)) > 0) {
		char *colon = strchr(line, ':');
		const char *p;
		struct metric *m;
		uint64_t v;
		bool kb;

		if (!colon)
			continue;
		*colon = '\0';
		p = colon + 1;
		if (!system_parse_u64(&p, &v)) {
			bad++;
			continue;
		}
		p = system_skip_blanks(p);
		kb = strcmp(p, "kB") == 0;
		if (!kb && *p) {
			bad++;
			continue;
		}
		m = meminfo_family(s, line, kb, &hint);
		if (!m) {
			bad++;
			continue;
		}
		series_set(metric_series(m, NULL), kb ? (double)v * 1024.0 : (double)v);
		nread++;
	}
	system_lines_close(&r);
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
	char *p, *end;
	long n;
	int err;

	err = system_path(path, sizeof(path), s->proc, "loadavg");
	n = err ? err : system_read_small(path, text, sizeof(text));
	if (n < 0) {
		system_source_failed(s, SYSTEM_SRC_LOADAVG, "cannot read %s/loadavg: %s", s->proc,
				     strerror((int)-n));
		goto out_sweep;
	}
	/* "0.18 0.11 0.03 1/89 4936": strtod is locale-dependent, but the agent never calls
	 * setlocale(), so the decimal point is '.'. */
	p = text;
	for (int i = 0; i < 3; i++) {
		load[i] = strtod(p, &end);
		if (end == p || (*end != ' ' && *end != '\n' && *end != '\0')) {
			system_source_failed(s, SYSTEM_SRC_LOADAVG, "%s: unexpected content \"%.40s\"",
					     path, text);
			goto out_sweep;
		}
		p = end;
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
