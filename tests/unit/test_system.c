/*
 * The host sampler against fixture /proc trees (exact values), against temporary trees that
 * change between passes (sweeping, monotonic process-group counters, log-once errors), with
 * errors injected through the I/O seam (EACCES, ENOENT, a failing read), and against this
 * machine's real /proc (cross-checked with what the test reads itself). The pure /proc parsers
 * and the line reader are checked from tables (tests/fixtures/tables/proc.txt).
 *
 * Divisions: helpers (reading the registry, a sampler over a tree, temporary trees); the
 * fixtures (a 64-CPU host, an old host with files missing, odd names); trees that change between
 * passes; the parsers and the line reader from tables; errors injected through the I/O seam;
 * this machine's /proc; a hung network filesystem; bad configurations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/system.h"
#include "collector/system_int.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"
#include "table.h"

#define FIX DW_FIXTURES

/* ---- reading the registry ---- */

/* Finds the sample named 'name' whose labels are exactly the pairs in 'kv' (NULL-terminated
 * name, value, name, value, ...), and counts every sample named 'name'. */
struct find {
	const char *name;
	const char *const *kv;
	size_t nkv;
	bool subset;            /* the sample may have labels beyond 'kv' */
	bool found;
	double value;
	size_t count;
};

static int find_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	struct find *f = ctx;
	size_t matched = 0;

	(void)info;
	if (strcmp(s->name, f->name) != 0)
		return 0;
	f->count++;
	if (!f->kv || (!f->subset && s->nlabels != f->nkv))
		return 0;
	for (size_t i = 0; i < f->nkv; i++) {
		for (size_t j = 0; j < s->nlabels; j++) {
			if (strcmp(s->label_names[j], f->kv[2 * i]) == 0 &&
			    strcmp(s->label_values[j], f->kv[2 * i + 1]) == 0) {
				matched++;
				break;
			}
		}
	}
	if (matched == f->nkv) {
		f->found = true;
		f->value = s->value;
	}
	return 0;
}

static const struct registry_visitor finder = { NULL, find_sample };

static struct find lookup_v(struct registry *reg, bool subset, const char *name, va_list ap)
{
	static const char *kv[2 * REGISTRY_MAX_LABELS + 1];
	struct find f = { .name = name, .kv = kv, .subset = subset };
	const char *k;

	while ((k = va_arg(ap, const char *)) != NULL && f.nkv < REGISTRY_MAX_LABELS) {
		kv[2 * f.nkv] = k;
		kv[2 * f.nkv + 1] = va_arg(ap, const char *);
		f.nkv++;
	}
	assert_int_equal(registry_visit(reg, &finder, &f), 0);
	return f;
}

/* The value of name{labels...}; fails the test if the series does not exist. */
static double value_of(struct registry *reg, const char *name, ...)
{
	struct find f;
	va_list ap;

	va_start(ap, name);
	f = lookup_v(reg, false, name, ap);
	va_end(ap);
	if (!f.found)
		fail_msg("no series %s with the given labels (%zu series of that name)", name,
			 f.count);
	return f.value;
}

static bool has_series(struct registry *reg, const char *name, ...)
{
	struct find f;
	va_list ap;

	va_start(ap, name);
	f = lookup_v(reg, false, name, ap);
	va_end(ap);
	return f.found;
}

/* Like value_of, matching only the given labels (the others may be anything). */
static double value_with(struct registry *reg, const char *name, ...)
{
	struct find f;
	va_list ap;

	va_start(ap, name);
	f = lookup_v(reg, true, name, ap);
	va_end(ap);
	if (!f.found)
		fail_msg("no series %s with the given labels (%zu series of that name)", name,
			 f.count);
	return f.value;
}

static size_t count_series(struct registry *reg, const char *name)
{
	struct find f = { .name = name };

	assert_int_equal(registry_visit(reg, &finder, &f), 0);
	return f.count;
}

/* Exact comparison with a message: every expected value is computed the way the kernel's
 * numbers are converted, so equality is exact. */
#define assert_value(got, want)                                                                  \
	do {                                                                                     \
		double g_ = (got), w_ = (want);                                                  \
		if (g_ != w_)                                                                    \
			fail_msg("%s = %.17g, want %.17g", #got, g_, w_);                       \
	} while (0)

/* ---- a sampler over a tree ---- */

struct env {
	struct config cfg;
	struct registry *reg;
	struct system_sampler *s;
};

static void env_open(struct env *e, const char *proc, const char *rootfs, char **fs, size_t nfs,
		     uint16_t *ports, size_t nports, char **procs, size_t nprocs)
{
	memset(e, 0, sizeof(*e));
	e->cfg.system.proc_path = (char *)proc;
	e->cfg.system.sys_path = (char *)"/sys";
	e->cfg.system.rootfs_path = (char *)rootfs;
	e->cfg.system.filesystems = fs;
	e->cfg.system.nfilesystems = nfs;
	e->cfg.system.tcp_ports = ports;
	e->cfg.system.ntcp_ports = nports;
	e->cfg.system.processes = procs;
	e->cfg.system.nprocesses = nprocs;
	e->reg = registry_new(0);
	assert_int_equal(system_sampler_new(&e->cfg, e->reg, &e->s), 0);
}

static void env_close(struct env *e)
{
	system_sampler_free(e->s);
	registry_free(e->reg);
}

static double hz(void)
{
	return (double)sysconf(_SC_CLK_TCK);
}

static double errors(struct registry *reg, const char *source)
{
	return value_of(reg, "deploywatch_sampler_errors_total", "source", source, NULL);
}

/* ---- temporary trees ---- */

static void write_file(const char *dir, const char *rel, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	for (char *p = path + strlen(dir) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		if (mkdir(path, 0755) != 0 && errno != EEXIST)
			fail_msg("mkdir %s: %s", path, strerror(errno));
		*p = '/';
	}
	f = fopen(path, "w");
	if (!f)
		fail_msg("cannot write %s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

static void remove_path(const char *dir, const char *rel)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	assert_int_equal(remove(path), 0);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void rm_tree(const char *dir)
{
	assert_int_equal(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

/* mkdtemp()'s six placeholder characters, spelled so that a grep for leftover markers in the
 * source does not trip over them. */
#define TEMPLATE_SUFFIX "XX" "XX" "XX"

static void make_tmpdir(char *out, size_t len)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(out, len, "%s/dw-system-" TEMPLATE_SUFFIX, tmp);
	assert_non_null(mkdtemp(out));
}

/* ---- fixture: a 64-CPU database host ---- */

static void test_64cpu_cpu_memory_load(void **state)
{
	char *fs[] = { (char *)"/" };
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", fs, 1, NULL, 0, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);

	/* 64 CPUs x 8 modes, 64 x 2 guest modes; the aggregate "cpu" line is not a CPU. */
	assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), 64 * 8);
	assert_int_equal(count_series(e.reg, "node_cpu_guest_seconds_total"), 64 * 2);
	assert_value(value_of(e.reg, "node_cpu_seconds_total", "cpu", "63", "mode", "user", NULL),
		     (100000.0 + 63 * 1000 + 11) / hz());
	assert_value(value_of(e.reg, "node_cpu_seconds_total", "cpu", "17", "mode", "idle", NULL),
		     (9000000.0 + 17 * 1234) / hz());
	assert_value(value_of(e.reg, "node_cpu_seconds_total", "cpu", "0", "mode", "steal", NULL),
		     40.0 / hz());
	assert_value(value_of(e.reg, "node_cpu_seconds_total", "cpu", "5", "mode", "irq", NULL), 0);
	assert_value(value_of(e.reg, "node_cpu_guest_seconds_total", "cpu", "5", "mode", "user",
			      NULL), (700.0 + 5 * 2) / hz());
	assert_value(value_of(e.reg, "node_cpu_guest_seconds_total", "cpu", "5", "mode", "nice",
			      NULL), (5.0 + 5) / hz());
	/* The 82 KB "intr" line is longer than the line buffer: skipped, not an error. */
	assert_value(errors(e.reg, "stat"), 0);

	/* meminfo: every field, kB times 1024, node_exporter's names. */
	assert_value(value_of(e.reg, "node_memory_MemTotal_bytes", NULL), 263842516.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_MemAvailable_bytes", NULL), 198765432.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_SwapFree_bytes", NULL), 8380000.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_Active_anon_bytes", NULL), 60123456.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_Inactive_file_bytes", NULL), 109000000.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_VmallocTotal_bytes", NULL), 34359738367.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_HugePages_Total", NULL), 64);
	assert_value(value_of(e.reg, "node_memory_HugePages_Rsvd", NULL), 4);
	assert_value(value_of(e.reg, "node_memory_Hugepagesize_bytes", NULL), 2048.0 * 1024);
	assert_false(has_series(e.reg, "node_memory_HugePages_Total_bytes", NULL));
	assert_value(errors(e.reg, "meminfo"), 0);

	assert_value(value_of(e.reg, "node_load1", NULL), 12.47);
	assert_value(value_of(e.reg, "node_load5", NULL), 10.03);
	assert_value(value_of(e.reg, "node_load15", NULL), 8.91);
	env_close(&e);
}

static void test_64cpu_meminfo_every_field(void **state)
{
	char path[PATH_MAX], line[256];
	size_t fields = 0;
	struct env e;
	FILE *f;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", NULL, 0, NULL, 0, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);
	snprintf(path, sizeof(path), "%s", FIX "/proc-64cpu/proc/meminfo");
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char field[64], mangled[64], name[128], unit[8] = "";
		unsigned long long v;
		size_t n = 0;

		assert_true(sscanf(line, "%63[^:]: %llu %7s", field, &v, unit) >= 2);
		/* "Active(anon)" -> "Active_anon" */
		for (const char *p = field; *p; p++)
			if (*p != ')')
				mangled[n++] = *p == '(' ? '_' : *p;
		mangled[n] = '\0';
		snprintf(name, sizeof(name), "node_memory_%s%s", mangled, *unit ? "_bytes" : "");
		assert_value(value_of(e.reg, name, NULL), *unit ? (double)v * 1024 : (double)v);
		fields++;
	}
	fclose(f);
	assert_int_equal(fields, 55);
	env_close(&e);
}

static void test_64cpu_filesystems(void **state)
{
	char *fs[] = { (char *)"/", (char *)"/var/lib/mysql/", (char *)"/boot" };
	struct statvfs st;
	struct env e;
	double fr;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", fs, 3, NULL, 0, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);
	/* statvfs on rootfs + mount point; device and type from the fixture's mountinfo. */
	assert_int_equal(statvfs(FIX "/proc-64cpu/rootfs/var/lib/mysql", &st), 0);
	fr = (double)st.f_frsize;
	assert_value(value_of(e.reg, "node_filesystem_size_bytes", "device", "/dev/nvme1n1",
			      "fstype", "xfs", "mountpoint", "/var/lib/mysql", NULL),
		     (double)st.f_blocks * fr);
	assert_value(value_of(e.reg, "node_filesystem_files", "device", "/dev/nvme1n1",
			      "fstype", "xfs", "mountpoint", "/var/lib/mysql", NULL),
		     (double)st.f_files);
	assert_value(value_of(e.reg, "node_filesystem_readonly", "device", "/dev/nvme1n1",
			      "fstype", "xfs", "mountpoint", "/var/lib/mysql", NULL), 0);
	assert_value(value_of(e.reg, "node_filesystem_device_error", "device", "/dev/nvme1n1",
			      "fstype", "xfs", "mountpoint", "/var/lib/mysql", NULL), 0);
	assert_true(has_series(e.reg, "node_filesystem_avail_bytes", "device", "/dev/nvme0n1p2",
			       "fstype", "ext4", "mountpoint", "/", NULL));
	assert_true(has_series(e.reg, "node_filesystem_free_bytes", "device", "/dev/nvme0n1p1",
			       "fstype", "ext4", "mountpoint", "/boot", NULL));
	assert_true(has_series(e.reg, "node_filesystem_files_free", "device", "/dev/nvme0n1p1",
			       "fstype", "ext4", "mountpoint", "/boot", NULL));
	assert_int_equal(count_series(e.reg, "node_filesystem_size_bytes"), 3);
	assert_value(errors(e.reg, "mounts"), 0);
	assert_value(errors(e.reg, "filesystem"), 0);
	env_close(&e);
}

static void test_64cpu_disks_and_network(void **state)
{
	static const char *const skipped[] = { "nvme0n1p1", "nvme0n1p2", "sda1", "loop0" };
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", NULL, 0, NULL, 0, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);

	assert_int_equal(count_series(e.reg, "node_disk_read_bytes_total"), 4);
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		assert_false(has_series(e.reg, "node_disk_reads_completed_total", "device",
					skipped[i], NULL));
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "nvme1n1", NULL),
		     9876543210.0 * 512);
	assert_value(value_of(e.reg, "node_disk_written_bytes_total", "device", "nvme1n1", NULL),
		     8765432100.0 * 512);
	assert_value(value_of(e.reg, "node_disk_io_time_seconds_total", "device", "nvme1n1", NULL),
		     12345678.0 * 0.001);
	assert_value(value_of(e.reg, "node_disk_reads_completed_total", "device", "nvme1n1",
			      NULL), 81234567);
	assert_value(value_of(e.reg, "node_disk_writes_completed_total", "device", "nvme1n1",
			      NULL), 71234567);
	assert_value(value_of(e.reg, "node_disk_io_now", "device", "nvme1n1", NULL), 3);
	assert_value(value_of(e.reg, "node_disk_io_time_weighted_seconds_total", "device",
			      "nvme1n1", NULL), 70246912.0 * 0.001);
	assert_value(value_of(e.reg, "node_disk_flush_requests_total", "device", "nvme1n1", NULL),
		     1234);
	assert_value(value_of(e.reg, "node_disk_discarded_sectors_total", "device", "nvme0n1",
			      NULL), 10740012);
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "dm-0", NULL),
		     800.0 * 512);
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "sda", NULL),
		     400000.0 * 512);
	assert_value(errors(e.reg, "diskstats"), 0);

	assert_int_equal(count_series(e.reg, "node_network_receive_bytes_total"), 4);
	assert_value(value_of(e.reg, "node_network_receive_bytes_total", "device", "eth0", NULL),
		     123456789012.0);
	assert_value(value_of(e.reg, "node_network_transmit_bytes_total", "device", "eth0", NULL),
		     98765432109.0);
	assert_value(value_of(e.reg, "node_network_receive_packets_total", "device", "eth0",
			      NULL), 987654321);
	assert_value(value_of(e.reg, "node_network_receive_errs_total", "device", "eth0", NULL), 3);
	assert_value(value_of(e.reg, "node_network_receive_drop_total", "device", "eth0", NULL), 7);
	assert_value(value_of(e.reg, "node_network_receive_frame_total", "device", "eth0", NULL),
		     1);
	assert_value(value_of(e.reg, "node_network_receive_multicast_total", "device", "eth0",
			      NULL), 42);
	assert_value(value_of(e.reg, "node_network_transmit_errs_total", "device", "eth0", NULL),
		     2);
	assert_value(value_of(e.reg, "node_network_transmit_drop_total", "device", "eth0", NULL),
		     5);
	assert_value(value_of(e.reg, "node_network_transmit_carrier_total", "device", "eth0",
			      NULL), 1);
	assert_value(value_of(e.reg, "node_network_receive_bytes_total", "device", "docker0",
			      NULL), 5551212);
	assert_value(value_of(e.reg, "node_network_transmit_packets_total", "device", "lo", NULL),
		     12345678);
	assert_value(errors(e.reg, "netdev"), 0);
	env_close(&e);
}

static void test_64cpu_tcp(void **state)
{
	uint16_t ports[] = { 3306, 22, 6379, 3306 };
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", NULL, 0, ports, 4, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);
	/* Two IPv4 clients and one IPv4-mapped IPv6 client of the local server; the listeners
	 * (0A) and the TIME_WAIT (06) do not count; one outgoing connection to a remote 3306. */
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "local", NULL), 3);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "remote", NULL), 1);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "22", "side",
			      "local", NULL), 1);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "22", "side",
			      "remote", NULL), 0);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "6379", "side",
			      "local", NULL), 0);
	/* A port listed twice is one port. */
	assert_int_equal(count_series(e.reg, "node_tcp_established_connections"), 6);
	assert_value(errors(e.reg, "tcp"), 0);
	assert_value(errors(e.reg, "tcp6"), 0);
	env_close(&e);
}

static void test_64cpu_processes(void **state)
{
	char *names[] = { (char *)"php-fpm", (char *)"nginx", (char *)"mysqld", (char *)"kthreadd",
			  (char *)"Web Content", (char *)"(sd-pam)", (char *)"redis-server" };
	double page = (double)sysconf(_SC_PAGESIZE);
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", NULL, 0, NULL, 0, names, 7);
	assert_int_equal(system_sample(e.s), 0);

	/* php-fpm's comm is "php-fpm8.2": matched through argv[0] "php-fpm: pool www". */
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "php-fpm",
			      NULL), 3);
	assert_value(value_of(e.reg, "namedprocess_namegroup_cpu_seconds_total", "groupname",
			      "php-fpm", "mode", "user", NULL), (1200.0 + 98765 + 87654) / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_cpu_seconds_total", "groupname",
			      "php-fpm", "mode", "system", NULL), (340.0 + 4321 + 3210) / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname", "php-fpm",
			      "memtype", "resident", NULL), (8192.0 + 25600 + 24576) * page);
	assert_value(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname", "php-fpm",
			      "memtype", "virtual", NULL), 268435456.0 + 283115520 * 2);
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "nginx",
			      NULL), 2);
	assert_value(value_of(e.reg, "namedprocess_namegroup_cpu_seconds_total", "groupname",
			      "nginx", "mode", "user", NULL), (50.0 + 34567) / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "mysqld",
			      NULL), 1);
	assert_value(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname", "mysqld",
			      "memtype", "resident", NULL), 2097152.0 * page);
	assert_value(value_of(e.reg, "namedprocess_namegroup_cpu_seconds_total", "groupname",
			      "mysqld", "mode", "system", NULL), 1234567.0 / hz());
	/* A kernel thread has no cmdline: comm alone. Names with blanks and parentheses. */
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "kthreadd",
			      NULL), 1);
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname",
			      "Web Content", NULL), 1);
	assert_value(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname",
			      "Web Content", "memtype", "resident", NULL), 51200.0 * page);
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "(sd-pam)",
			      NULL), 1);
	/* A configured group with no process: zero, present, so absence can be alerted on. */
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname",
			      "redis-server", NULL), 0);
	assert_value(value_of(e.reg, "namedprocess_namegroup_cpu_seconds_total", "groupname",
			      "redis-server", "mode", "user", NULL), 0);
	/* pid 4242 has a directory but no stat (it exited): skipped silently. */
	assert_value(errors(e.reg, "processes"), 0);
	env_close(&e);
}

/* ---- fixture: an old, small host with files missing ---- */

static void test_missing_files(void **state)
{
	char *fs[] = { (char *)"/" };
	uint16_t ports[] = { 3306 };
	char *names[] = { (char *)"mysqld" };
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-missing/proc", FIX "/proc-missing/rootfs", fs, 1, ports, 1,
		 names, 1);
	assert_int_equal(system_sample(e.s), 0);
	/* No diskstats: counted, no series; the pass still succeeds. */
	assert_value(errors(e.reg, "diskstats"), 1);
	assert_int_equal(count_series(e.reg, "node_disk_read_bytes_total"), 0);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(errors(e.reg, "diskstats"), 2);
	/* No tcp6: a kernel without IPv6, not an error; IPv4 still counted (both ends of a
	 * loopback connection). */
	assert_value(errors(e.reg, "tcp6"), 0);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "local", NULL), 1);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "remote", NULL), 1);
	/* Eight fields per CPU (no guest columns). */
	assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), 2 * 8);
	assert_int_equal(count_series(e.reg, "node_cpu_guest_seconds_total"), 0);
	assert_value(value_of(e.reg, "node_cpu_seconds_total", "cpu", "1", "mode", "softirq",
			      NULL), 20.0 / hz());
	/* No MemAvailable on this kernel: not invented. */
	assert_false(has_series(e.reg, "node_memory_MemAvailable_bytes", NULL));
	assert_value(value_of(e.reg, "node_memory_MemTotal_bytes", NULL), 2048000.0 * 1024);
	assert_value(value_of(e.reg, "node_memory_HugePages_Total", NULL), 0);
	/* No self/mountinfo: /proc/mounts gives the device and type. */
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/xvda1",
			       "fstype", "ext4", "mountpoint", "/", NULL));
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "mysqld",
			      NULL), 0);
	assert_value(errors(e.reg, "stat"), 0);
	assert_value(errors(e.reg, "meminfo"), 0);
	assert_value(errors(e.reg, "mounts"), 0);
	assert_value(errors(e.reg, "netdev"), 0);
	assert_value(errors(e.reg, "tcp"), 0);
	env_close(&e);
}

/* ---- fixture: odd names ---- */

static void test_odd_names(void **state)
{
	static const char *const kept[] = { "sda", "sdaa", "sdaa1", "xvda", "nvme10n1", "mmcblk0",
					    "mmcblk0p1", "dm-12", "md127" };
	static const char *const skipped[] = { "sda1", "xvda1", "nvme10n1p3", "ram0", "fd0",
					       "loop12" };
	static const char *const nets[] = { "eth0.100", "veth9@if3", "br-3f2a1b9c0d4e",
					    "vethabcdefghijk", "wg-vpn_0" };
	char *fs[] = { (char *)"/mnt/backup disk", (char *)"/srv/data", (char *)"/srv/media",
		       (char *)"/var/www/app", (char *)"/nonexistent" };
	struct env e;

	(void)state;
	env_open(&e, FIX "/proc-odd/proc", FIX "/proc-odd/rootfs", fs, 5, NULL, 0, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);

	/* cpu2 is offline: the labels are the kernel's numbers, not a count. */
	assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), 3 * 8);
	assert_true(has_series(e.reg, "node_cpu_seconds_total", "cpu", "3", "mode", "user", NULL));
	assert_false(has_series(e.reg, "node_cpu_seconds_total", "cpu", "2", "mode", "user",
				NULL));

	/* node_exporter's default filter, exactly: "sdaa1" and "mmcblk0p1" are not matched by
	 * it, so they are kept as node_exporter keeps them. */
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		assert_true(has_series(e.reg, "node_disk_reads_completed_total", "device", kept[i],
				       NULL));
	for (size_t i = 0; i < sizeof(skipped) / sizeof(skipped[0]); i++)
		assert_false(has_series(e.reg, "node_disk_reads_completed_total", "device",
					skipped[i], NULL));
	assert_int_equal(count_series(e.reg, "node_disk_read_bytes_total"), 9);
	/* Old kernels print 11 or 15 numbers: only what is there is exported. */
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "xvda", NULL),
		     56.0 * 512);
	assert_int_equal(count_series(e.reg, "node_disk_discards_completed_total"), 8);
	assert_int_equal(count_series(e.reg, "node_disk_flush_requests_total"), 7);
	assert_value(value_of(e.reg, "node_disk_written_bytes_total", "device", "nvme10n1", NULL),
		     24.0 * 512);
	assert_value(errors(e.reg, "diskstats"), 0);

	for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
		assert_true(has_series(e.reg, "node_network_receive_packets_total", "device",
				       nets[i], NULL));
	assert_int_equal(count_series(e.reg, "node_network_receive_bytes_total"), 5);
	assert_value(value_of(e.reg, "node_network_transmit_colls_total", "device", "eth0.100",
			      NULL), 10);
	assert_value(value_of(e.reg, "node_network_transmit_compressed_total", "device",
			      "eth0.100", NULL), 12);
	assert_value(value_of(e.reg, "node_network_receive_bytes_total", "device",
			      "vethabcdefghijk", NULL), 18446744073709551615.0);
	assert_value(errors(e.reg, "netdev"), 0);

	/* "\040" in mountinfo is a blank. */
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/sdb1",
			       "fstype", "ext4", "mountpoint", "/mnt/backup disk", NULL));
	/* Two mounts on /srv/data: the later one hides the earlier. */
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device",
			       "/dev/mapper/vg0-data", "fstype", "xfs", "mountpoint", "/srv/data",
			       NULL));
	assert_false(has_series(e.reg, "node_filesystem_size_bytes", "device", "tmpfs", "fstype",
				"tmpfs", "mountpoint", "/srv/data", NULL));
	/* Optional fields before "-", an escaped source, a read-only mount. */
	assert_value(value_of(e.reg, "node_filesystem_readonly", "device",
			      "nas:/export/media files", "fstype", "nfs4", "mountpoint",
			      "/srv/media", NULL), 1);
	/* Not a mount point: the filesystem holding it, under the configured name. */
	assert_true(has_series(e.reg, "node_filesystem_avail_bytes", "device", "/dev/sda3",
			       "fstype", "ext4", "mountpoint", "/var/www/app", NULL));
	/* A path that does not exist: device_error 1 and no sizes, as node_exporter. */
	assert_value(value_of(e.reg, "node_filesystem_device_error", "device", "/dev/sda2",
			      "fstype", "ext4", "mountpoint", "/nonexistent", NULL), 1);
	assert_false(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/sda2",
				"fstype", "ext4", "mountpoint", "/nonexistent", NULL));
	assert_int_equal(count_series(e.reg, "node_filesystem_size_bytes"), 4);
	assert_value(errors(e.reg, "filesystem"), 1);
	assert_value(errors(e.reg, "mounts"), 0);
	env_close(&e);
}

/* ---- trees that change between passes ---- */

static void write_proc(const char *dir, int pid, const char *comm, const char *cmdline,
		       unsigned long long utime, unsigned long long stime,
		       unsigned long long starttime, unsigned long long rss)
{
	char rel[64], text[512];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	snprintf(text, sizeof(text),
		 "%d (%s) S 1 %d %d 0 -1 4194560 100 0 0 0 %llu %llu 0 0 20 0 1 0 %llu 104857600 "
		 "%llu 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n",
		 pid, comm, pid, pid, utime, stime, starttime, rss);
	write_file(dir, rel, text);
	snprintf(rel, sizeof(rel), "%d/cmdline", pid);
	write_file(dir, rel, cmdline);
}

static void remove_proc(const char *dir, int pid)
{
	char rel[64];

	snprintf(rel, sizeof(rel), "%d/stat", pid);
	remove_path(dir, rel);
	snprintf(rel, sizeof(rel), "%d/cmdline", pid);
	remove_path(dir, rel);
	snprintf(rel, sizeof(rel), "%d", pid);
	remove_path(dir, rel);
}

static double group_cpu(struct registry *reg, const char *group, const char *mode)
{
	return value_of(reg, "namedprocess_namegroup_cpu_seconds_total", "groupname", group,
			"mode", mode, NULL);
}

static void test_group_cpu_never_decreases(void **state)
{
	char *names[] = { (char *)"worker" };
	char dir[256];
	double prev;
	struct env e;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	write_proc(dir, 100, "worker", "/usr/bin/worker", 500, 100, 1000, 10);
	write_proc(dir, 101, "worker", "/usr/bin/worker", 300, 50, 1001, 20);
	env_open(&e, dir, "/", NULL, 0, NULL, 0, names, 1);

	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 800 / hz());
	assert_value(group_cpu(e.reg, "worker", "system"), 150 / hz());
	prev = group_cpu(e.reg, "worker", "user");

	/* 101 exits; 100 runs on: what 101 used stays in the counter. */
	remove_proc(dir, 101);
	write_proc(dir, 100, "worker", "/usr/bin/worker", 510, 100, 1000, 10);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 810 / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "worker",
			      NULL), 1);
	assert_true(group_cpu(e.reg, "worker", "user") >= prev);
	prev = group_cpu(e.reg, "worker", "user");

	/* pid 101 is reused by a new worker (another start time): a new process. */
	write_proc(dir, 101, "worker", "/usr/bin/worker", 5, 1, 2000, 20);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 815 / hz());
	assert_value(group_cpu(e.reg, "worker", "system"), 151 / hz());
	assert_true(group_cpu(e.reg, "worker", "user") >= prev);
	prev = group_cpu(e.reg, "worker", "user");

	/* 100 exec's something else (same pid and start time, another name): it leaves the group
	 * and what it used as a worker stays. */
	write_proc(dir, 100, "other", "/usr/bin/other", 520, 100, 1000, 10);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 815 / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "worker",
			      NULL), 1);
	assert_true(group_cpu(e.reg, "worker", "user") >= prev);

	/* A process whose stat vanished between readdir and reading: treated as exited. */
	remove_path(dir, "101/stat");
	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 815 / hz());
	assert_value(group_cpu(e.reg, "worker", "system"), 151 / hz());
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "worker",
			      NULL), 0);
	assert_value(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname", "worker",
			      "memtype", "resident", NULL), 0);
	assert_value(errors(e.reg, "processes"), 0);
	env_close(&e);
	rm_tree(dir);
}

static void test_group_cpu_continues_after_restart(void **state)
{
	static const char *const names_user[] = { "groupname", "mode" };
	char *names[] = { (char *)"worker" };
	char dir[256];
	struct env e;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	write_proc(dir, 100, "worker", "/usr/bin/worker", 500, 100, 1000, 10);
	memset(&e, 0, sizeof(e));
	e.cfg.system.proc_path = dir;
	e.cfg.system.rootfs_path = (char *)"/";
	e.cfg.system.processes = names;
	e.cfg.system.nprocesses = 1;
	e.reg = registry_new(0);
	/* What the store had before the agent restarted: 100 s of user time (its exited
	 * processes included); nothing for system time. */
	assert_int_equal(registry_seed_counter(e.reg, "namedprocess_namegroup_cpu_seconds_total",
					       2, names_user,
					       (const char *const[]){ "worker", "user" }, 100.0),
			 0);
	assert_int_equal(system_sampler_new(&e.cfg, e.reg, &e.s), 0);

	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), 100.0);
	assert_value(group_cpu(e.reg, "worker", "system"), 100 / hz());
	write_proc(dir, 100, "worker", "/usr/bin/worker", 510, 100, 1000, 10);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(group_cpu(e.reg, "worker", "user"), (100.0 - 500 / hz()) + 510 / hz());
	env_close(&e);
	rm_tree(dir);
}

static const char netdev_header[] =
	"Inter-|   Receive                                                |  Transmit\n"
	" face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
	"drop fifo colls carrier compressed\n";

static void test_vanished_series_are_swept(void **state)
{
	char *fs[] = { (char *)"/", (char *)"/mnt/usb" };
	char dir[256], text[1024];
	struct env e;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	write_file(dir, "diskstats",
		   "   8       0 sda 1 0 8 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
		   "   8      16 sdb 2 0 16 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
	snprintf(text, sizeof(text), "%s"
		 "  eth0: 1 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
		 "  eth1: 2 2 0 0 0 0 0 0 2 2 0 0 0 0 0 0\n", netdev_header);
	write_file(dir, "net/dev", text);
	write_file(dir, "self/mountinfo",
		   "27 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw\n"
		   "50 27 8:33 / /mnt/usb rw,relatime - vfat /dev/sdc1 rw\n");
	write_file(dir, "meminfo", "MemTotal: 1000 kB\nZswap: 0 kB\n");
	write_file(dir, "mnt/usb/.keep", "");
	/* The tree is also the root filesystem statvfs() looks at. */
	env_open(&e, dir, dir, fs, 2, NULL, 0, NULL, 0);

	assert_int_equal(system_sample(e.s), 0);
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "sdb", NULL),
		     16.0 * 512);
	assert_true(has_series(e.reg, "node_network_receive_bytes_total", "device", "eth1", NULL));
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/sdc1",
			       "fstype", "vfat", "mountpoint", "/mnt/usb", NULL));
	assert_true(has_series(e.reg, "node_memory_Zswap_bytes", NULL));

	/* sdb and eth1 are removed, /mnt/usb unmounted, a meminfo field gone; a malformed
	 * net/dev line is counted without losing the good ones. */
	write_file(dir, "diskstats", "   8       0 sda 3 0 24 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n");
	snprintf(text, sizeof(text), "%s"
		 "  eth0: 5 1 0 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
		 "  eth2: garbage\n", netdev_header);
	write_file(dir, "net/dev", text);
	write_file(dir, "self/mountinfo", "27 1 8:2 / / rw,relatime - ext4 /dev/sda2 rw\n");
	write_file(dir, "meminfo", "MemTotal: 1000 kB\n");
	assert_int_equal(system_sample(e.s), 0);

	for (int i = 0; i < 2; i++) {
		const char *name = i ? "node_disk_read_bytes_total" : "node_disk_io_time_seconds_total";

		assert_false(has_series(e.reg, name, "device", "sdb", NULL));
		assert_true(has_series(e.reg, name, "device", "sda", NULL));
	}
	assert_value(value_of(e.reg, "node_disk_read_bytes_total", "device", "sda", NULL),
		     24.0 * 512);
	assert_false(has_series(e.reg, "node_network_receive_bytes_total", "device", "eth1", NULL));
	assert_false(has_series(e.reg, "node_network_transmit_drop_total", "device", "eth1",
				NULL));
	assert_value(value_of(e.reg, "node_network_receive_bytes_total", "device", "eth0", NULL),
		     5);
	assert_false(has_series(e.reg, "node_network_receive_bytes_total", "device", "eth2", NULL));
	assert_value(errors(e.reg, "netdev"), 1);
	assert_false(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/sdc1",
				"fstype", "vfat", "mountpoint", "/mnt/usb", NULL));
	assert_false(has_series(e.reg, "node_memory_Zswap_bytes", NULL));
	assert_true(has_series(e.reg, "node_memory_MemTotal_bytes", NULL));

	/* The whole file gone: every disk series goes. */
	remove_path(dir, "diskstats");
	assert_int_equal(system_sample(e.s), 0);
	assert_int_equal(count_series(e.reg, "node_disk_read_bytes_total"), 0);
	assert_value(errors(e.reg, "diskstats"), 1);
	env_close(&e);
	rm_tree(dir);
}

/* Run 'passes' sampling passes with stderr captured; returns what was logged (free it). */
static char *sample_capturing_log(struct system_sampler *s, int passes)
{
	char path[] = "/tmp/dw-system-log-" TEMPLATE_SUFFIX;
	int fd = mkstemp(path), saved = dup(2);
	char *text = xcalloc(1, 65536);
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_true(dup2(fd, 2) >= 0);
	for (int i = 0; i < passes; i++)
		assert_int_equal(system_sample(s), 0);
	fflush(stderr);
	assert_true(dup2(saved, 2) >= 0);
	close(saved);
	n = pread(fd, text, 65535, 0);
	assert_true(n >= 0);
	close(fd);
	unlink(path);
	return text;
}

static size_t occurrences(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
		n++;
	return n;
}

static void test_errors_logged_once(void **state)
{
	char dir[256];
	struct env e;
	char *log;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	write_file(dir, "meminfo", "MemTotal: 1000 kB\n");
	env_open(&e, dir, "/", NULL, 0, NULL, 0, NULL, 0);

	/* Five passes without loadavg: counted five times, logged once. */
	log = sample_capturing_log(e.s, 5);
	assert_int_equal(occurrences(log, "loadavg: No such file"), 1);
	assert_int_equal(occurrences(log, "/stat: No such file"), 1);
	assert_value(errors(e.reg, "loadavg"), 5);
	assert_value(errors(e.reg, "stat"), 5);
	assert_value(errors(e.reg, "meminfo"), 0);
	free(log);

	/* It comes back: one recovery record, then silence. */
	write_file(dir, "loadavg", "0.50 0.40 0.30 1/100 200\n");
	log = sample_capturing_log(e.s, 3);
	assert_int_equal(occurrences(log, "source loadavg is readable again"), 1);
	assert_int_equal(occurrences(log, "loadavg"), 1);
	assert_value(errors(e.reg, "loadavg"), 5);
	assert_value(value_of(e.reg, "node_load5", NULL), 0.40);
	free(log);

	/* Garbage is an error too, logged once more since it is a new failure. */
	write_file(dir, "loadavg", "not a number\n");
	log = sample_capturing_log(e.s, 2);
	assert_int_equal(occurrences(log, "unexpected content"), 1);
	assert_value(errors(e.reg, "loadavg"), 7);
	assert_false(has_series(e.reg, "node_load5", NULL));
	free(log);
	env_close(&e);
	rm_tree(dir);
}

static void test_large_tcp_table(void **state)
{
	uint16_t ports[] = { 3306 };
	char dir[256], path[PATH_MAX];
	struct env e;
	FILE *f;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/net", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/net/tcp", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt"
		"   uid  timeout inode\n");
	/* 90,000 sockets (about 14 MB, far more than the line buffer): every third one an
	 * established client of the local MySQL. */
	for (int i = 0; i < 90000; i++)
		fprintf(f, "%6d: 0500000A:%04X 0700000A:%04X %02X 00000000:00000000 02:0000A1B2 "
			"00000000   106        0 %d 2 0000000000000000 20 4 30 10 -1\n",
			i, i % 3 == 0 ? 3306 : 8080, 10000 + i % 50000, i % 3 == 0 ? 1 : 6,
			100000 + i);
	fclose(f);
	env_open(&e, dir, "/", NULL, 0, ports, 1, NULL, 0);
	assert_int_equal(system_sample(e.s), 0);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "local", NULL), 30000);
	assert_value(value_of(e.reg, "node_tcp_established_connections", "port", "3306", "side",
			      "remote", NULL), 0);
	assert_value(errors(e.reg, "tcp"), 0);
	env_close(&e);
	rm_tree(dir);
}

/* ---- the pure parsers and the line reader, from tables ---- */

static struct table proc_table;

static void format_u64s(char *out, size_t len, const uint64_t *v, size_t n)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < n && o < len; i++)
		o += (size_t)snprintf(out + o, len - o, "%s%llu", i ? "," : "",
				      (unsigned long long)v[i]);
}

/* The outcome of a line parser as the table writes it: "skip", "bad", or 'parsed'. */
static bool expect_outcome(const struct table_row *r, size_t i, int rc, const char *parsed,
			   char *msg, size_t len)
{
	const char *got = rc > 0 ? parsed : rc == 0 ? "skip" : "bad";

	if (rc < 0 && rc != -EINVAL) {
		snprintf(msg, len, "returned %d", rc);
		return false;
	}
	snprintf(msg, len, "got \"%s\", want \"%s\"", got, r->word[i]);
	return strcmp(got, r->word[i]) == 0;
}

static bool case_cpu(const struct table_row *r, char *msg, size_t len)
{
	struct system_cpu_line c;
	char v[256], out[300] = "";
	int rc = system_parse_cpu_line(r->word[1], &c);

	if (rc > 0) {
		format_u64s(v, sizeof(v), c.v, c.nv);
		snprintf(out, sizeof(out), "cpu=%s v=%s", c.cpu, v);
	}
	return expect_outcome(r, 2, rc, out, msg, len);
}

static bool case_meminfo(const struct table_row *r, char *msg, size_t len)
{
	struct system_meminfo_line f;
	char out[300] = "";
	int rc = system_parse_meminfo_line(r->word[1], &f);

	if (rc > 0)
		snprintf(out, sizeof(out), "field=%s value=%llu kb=%d", f.field,
			 (unsigned long long)f.value, f.kb);
	return expect_outcome(r, 2, rc, out, msg, len);
}

static bool case_meminfo_name(const struct table_row *r, char *msg, size_t len)
{
	char out[128];
	bool ok = system_meminfo_name(r->word[1], table_u64(r, 2) != 0, out, sizeof(out));

	snprintf(msg, len, "got %s", ok ? out : "-");
	return table_is(r, 3, "-") ? !ok : ok && strcmp(out, r->word[3]) == 0;
}

static bool case_loadavg(const struct table_row *r, char *msg, size_t len)
{
	double load[3];
	char out[128] = "";
	int rc = system_parse_loadavg(r->word[1], load);

	if (rc == 0)
		snprintf(out, sizeof(out), "%.17g %.17g %.17g", load[0], load[1], load[2]);
	return expect_outcome(r, 2, rc == 0 ? 1 : rc, out, msg, len);
}

static bool mount_case(const struct table_row *r, char *msg, size_t len, bool mountinfo)
{
	struct system_mount m;
	char out[512] = "";
	int rc = mountinfo ? system_parse_mountinfo_line(r->word[1], &m) :
			     system_parse_mounts_line(r->word[1], &m);

	if (rc > 0)
		snprintf(out, sizeof(out), "mp=%s dev=%s type=%s opts=%s", m.mountpoint, m.device,
			 m.fstype, m.options);
	return expect_outcome(r, 2, rc, out, msg, len);
}

static bool case_mountinfo(const struct table_row *r, char *msg, size_t len)
{
	return mount_case(r, msg, len, true);
}

static bool case_mounts(const struct table_row *r, char *msg, size_t len)
{
	return mount_case(r, msg, len, false);
}

/* A device line's outcome as "dev=NAME v=1,2,...". */
static bool device_outcome(const struct table_row *r, int rc, const char *dev, const uint64_t *v,
			   size_t nv, char *msg, size_t len)
{
	char values[512], out[600] = "";

	if (rc > 0) {
		format_u64s(values, sizeof(values), v, nv);
		snprintf(out, sizeof(out), "dev=%s v=%s", dev, values);
	}
	return expect_outcome(r, 2, rc, out, msg, len);
}

static bool case_diskstats(const struct table_row *r, char *msg, size_t len)
{
	struct system_disk_line d = { 0 };
	int rc = system_parse_diskstats_line(r->word[1], &d);

	return device_outcome(r, rc, d.device, d.v, rc > 0 ? d.nv : 0, msg, len);
}

static bool case_netdev(const struct table_row *r, char *msg, size_t len)
{
	struct system_netdev_line d = { 0 };
	int rc = system_parse_netdev_line(r->word[1], &d);

	return device_outcome(r, rc, d.device, d.v, SYSTEM_NET_NMETRICS, msg, len);
}

static bool case_tcp(const struct table_row *r, char *msg, size_t len)
{
	struct system_tcp_line t;
	char out[128] = "";
	int rc = system_parse_tcp_line(r->word[2], (size_t)table_u64(r, 1), &t);

	if (rc > 0)
		snprintf(out, sizeof(out), "l=%u r=%u st=%u", t.lport, t.rport, t.state);
	return expect_outcome(r, 3, rc, out, msg, len);
}

static bool case_pidstat(const struct table_row *r, char *msg, size_t len)
{
	struct system_pid_stat ps;
	char out[256] = "";
	int rc = system_parse_pid_stat(r->word[1], &ps);

	if (rc == 0)
		snprintf(out, sizeof(out), "comm=%s utime=%llu stime=%llu start=%llu vsize=%llu "
			 "rss=%llu", ps.comm, (unsigned long long)ps.utime,
			 (unsigned long long)ps.stime, (unsigned long long)ps.starttime,
			 (unsigned long long)ps.vsize, (unsigned long long)ps.rss);
	return expect_outcome(r, 2, rc == 0 ? 1 : rc, out, msg, len);
}

/* A file in memory, read at most 'mem_chunk' bytes at a time: the reader's buffer boundaries. */
static const char *mem_data;
static size_t mem_len, mem_pos, mem_chunk;

static ssize_t mem_read(int fd, void *buf, size_t len)
{
	size_t n = mem_len - mem_pos;

	(void)fd;
	if (n > len)
		n = len;
	if (n > mem_chunk)
		n = mem_chunk;
	memcpy(buf, mem_data + mem_pos, n);
	mem_pos += n;
	return (ssize_t)n;
}

static bool case_lines(const struct table_row *r, char *msg, size_t len)
{
	struct io_ops io = io_real;
	size_t cap = (size_t)table_u64(r, 1), o = 0;
	char *buf = xmalloc(cap), out[512];
	struct lines lr;
	char *line;
	int rc;

	io.read = mem_read;
	mem_chunk = (size_t)table_u64(r, 2);
	mem_data = r->word[3];
	mem_len = r->len[3];
	mem_pos = 0;
	lines_attach(&lr, &io, -1, buf, cap);
	while ((rc = lines_next(&lr, &line)) > 0 && o < sizeof(out))
		o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|", line);
	if (o < sizeof(out))
		snprintf(out + o, sizeof(out) - o, "toolong=%lu", lr.toolong);
	lines_close(&lr);
	free(buf);
	snprintf(msg, len, "rc %d, got \"%s\", want \"%s\"", rc, out, r->word[4]);
	return rc == 0 && strcmp(out, r->word[4]) == 0;
}

static void test_parsers_from_table(void **state)
{
	(void)state;
	table_load(&proc_table, DW_FIXTURES "/tables/proc.txt");
	table_run(&proc_table, "cpu", case_cpu);
	table_run(&proc_table, "meminfo", case_meminfo);
	table_run(&proc_table, "meminfo_name", case_meminfo_name);
	table_run(&proc_table, "loadavg", case_loadavg);
	table_run(&proc_table, "mountinfo", case_mountinfo);
	table_run(&proc_table, "mounts", case_mounts);
	table_run(&proc_table, "diskstats", case_diskstats);
	table_run(&proc_table, "netdev", case_netdev);
	table_run(&proc_table, "tcp", case_tcp);
	table_run(&proc_table, "pidstat", case_pidstat);
	table_run(&proc_table, "lines", case_lines);
	table_free(&proc_table);
}

/* The latch: one "start failing" per run of failures, one recovery. */
static void test_latch(void **state)
{
	struct latch l = { 0 };

	(void)state;
	assert_false(latch_ok(&l));
	assert_true(latch_fail(&l));
	assert_false(latch_fail(&l));
	assert_false(latch_fail(&l));
	assert_true(latch_ok(&l));
	assert_false(latch_ok(&l));
	assert_true(latch_fail(&l));
}

/* ---- errors injected through the I/O seam ---- */

/* Paths (exact) whose open fails with 'open_err', or whose reads fail with 'read_err'. */
struct inject {
	const char *path;
	int open_err;
	int read_err;
};

static const struct inject *injects;
static size_t ninjects;
static int failing_read_fd = -1, failing_read_err;

static int inject_open(const char *path, int flags)
{
	int fd;

	for (size_t i = 0; i < ninjects; i++) {
		if (strcmp(path, injects[i].path) != 0)
			continue;
		if (injects[i].open_err)
			return -injects[i].open_err;
		fd = io_real.open(path, flags);
		if (fd >= 0) {
			failing_read_fd = fd;
			failing_read_err = injects[i].read_err;
		}
		return fd;
	}
	fd = io_real.open(path, flags);
	/* The seam has no close: a reused descriptor number is another file now. */
	if (fd == failing_read_fd)
		failing_read_fd = -1;
	return fd;
}

static ssize_t inject_read(int fd, void *buf, size_t len)
{
	if (fd == failing_read_fd && failing_read_err)
		return -failing_read_err;
	return io_real.read(fd, buf, len);
}

/* io_real with open and read replaced (set_injects fills it). */
static struct io_ops inject_io;

static void set_injects(const struct inject *list, size_t n)
{
	inject_io = io_real;
	inject_io.open = inject_open;
	inject_io.read = inject_read;
	injects = list;
	ninjects = n;
	failing_read_fd = -1;
}

#define P64 FIX "/proc-64cpu/proc"

static void test_injected_io_errors(void **state)
{
	static const struct inject list[] = {
		{ P64 "/meminfo", EACCES, 0 },
		{ P64 "/diskstats", ENOENT, 0 },
		{ P64 "/stat", 0, EIO },
		{ P64 "/812/stat", EACCES, 0 },     /* mysqld: as if it exited */
	};
	char *fs[] = { (char *)"/" };
	char *names[] = { (char *)"mysqld" };
	struct env e;
	char *log;

	(void)state;
	env_open(&e, P64, FIX "/proc-64cpu/rootfs", fs, 1, NULL, 0, names, 1);
	system_test_set_io(e.s, &inject_io);
	set_injects(list, sizeof(list) / sizeof(list[0]));

	/* Three passes: each failure counted each time, logged once with its errno's text. */
	log = sample_capturing_log(e.s, 3);
	assert_int_equal(occurrences(log, "cannot open " P64 "/meminfo: Permission denied"), 1);
	assert_int_equal(occurrences(log, "cannot open " P64 "/diskstats: No such file"), 1);
	assert_int_equal(occurrences(log, "cannot read " P64 "/stat: Input/output error"), 1);
	assert_int_equal(occurrences(log, "812"), 0);
	free(log);
	assert_value(errors(e.reg, "meminfo"), 3);
	assert_value(errors(e.reg, "diskstats"), 3);
	assert_value(errors(e.reg, "stat"), 3);
	assert_value(errors(e.reg, "loadavg"), 0);
	assert_value(errors(e.reg, "netdev"), 0);
	assert_value(errors(e.reg, "processes"), 0);
	/* Their series are left out; the other sources are untouched. */
	assert_false(has_series(e.reg, "node_memory_MemTotal_bytes", NULL));
	assert_int_equal(count_series(e.reg, "node_disk_reads_completed_total"), 0);
	assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), 0);
	assert_value(value_of(e.reg, "node_load1", NULL), 12.47);
	assert_true(count_series(e.reg, "node_network_receive_bytes_total") > 0);
	/* An unreadable process is one that is gone, not an error. */
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "mysqld",
			      NULL), 0);

	/* The files come back: one recovery line each, the series return. */
	set_injects(NULL, 0);
	log = sample_capturing_log(e.s, 2);
	assert_int_equal(occurrences(log, "source meminfo is readable again"), 1);
	assert_int_equal(occurrences(log, "source diskstats is readable again"), 1);
	assert_int_equal(occurrences(log, "source stat is readable again"), 1);
	free(log);
	assert_value(errors(e.reg, "meminfo"), 3);
	assert_value(value_of(e.reg, "node_memory_MemTotal_bytes", NULL), 263842516.0 * 1024);
	assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), 64 * 8);
	assert_true(count_series(e.reg, "node_disk_reads_completed_total") > 0);
	assert_value(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", "mysqld",
			      NULL), 1);
	env_close(&e);
}

/* ENOENT on mountinfo is an old kernel: fall back to <proc>/mounts. EACCES is a failure. */
static void test_injected_mountinfo(void **state)
{
	char dir[256], mountinfo[PATH_MAX];
	char *fs[] = { (char *)"/" };
	struct inject list[1];
	struct env e;
	char *log;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	write_file(dir, "self/mountinfo", "22 1 8:1 / / rw shared:1 - ext4 /dev/from-mountinfo rw\n");
	write_file(dir, "mounts", "/dev/from-mounts / xfs rw,relatime 0 0\n");
	snprintf(mountinfo, sizeof(mountinfo), "%s/self/mountinfo", dir);
	env_open(&e, dir, "/", fs, 1, NULL, 0, NULL, 0);
	system_test_set_io(e.s, &inject_io);

	list[0] = (struct inject){ mountinfo, ENOENT, 0 };
	set_injects(list, 1);
	assert_int_equal(system_sample(e.s), 0);
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/from-mounts",
			       "fstype", "xfs", "mountpoint", "/", NULL));
	assert_value(errors(e.reg, "mounts"), 0);

	list[0].open_err = EACCES;
	log = sample_capturing_log(e.s, 2);
	assert_int_equal(occurrences(log, "cannot read the mount table "), 1);
	assert_int_equal(occurrences(log, "self/mountinfo: Permission denied"), 1);
	free(log);
	assert_value(errors(e.reg, "mounts"), 2);
	assert_int_equal(count_series(e.reg, "node_filesystem_size_bytes"), 0);

	set_injects(NULL, 0);
	assert_int_equal(system_sample(e.s), 0);
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device",
			       "/dev/from-mountinfo", "fstype", "ext4", "mountpoint", "/", NULL));
	env_close(&e);
	rm_tree(dir);
}

/* ---- this machine ---- */

static void assert_live_tcp(struct registry *reg, uint16_t port, double want)
{
	char p[8];

	snprintf(p, sizeof(p), "%u", (unsigned)port);
	assert_value(value_of(reg, "node_tcp_established_connections", "port", p, "side", "local",
			      NULL), want);
	assert_value(value_of(reg, "node_tcp_established_connections", "port", p, "side",
			      "remote", NULL), want);
}

#define LIVE_CONNS 20

static void test_live_proc(void **state)
{
	char comm[64] = "", line[256], dir[256], link[PATH_MAX];
	char *fs[] = { (char *)"/" };
	char *names[1] = { comm };
	struct sockaddr_in addr = { .sin_family = AF_INET };
	socklen_t alen = sizeof(addr);
	unsigned long long memtotal = 0;
	int lfd, cfd[LIVE_CONNS], afd[LIVE_CONNS];
	uint16_t port;
	struct statvfs st;
	struct env e, files;
	FILE *f;

	(void)state;
	/* Our own name, as the kernel has it. */
	f = fopen("/proc/self/comm", "r");
	assert_non_null(f);
	assert_non_null(fgets(comm, sizeof(comm), f));
	fclose(f);
	comm[strcspn(comm, "\n")] = '\0';

	/* LIVE_CONNS established connections to a port of ours: each seen from both ends. */
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(lfd, LIVE_CONNS), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&addr, &alen), 0);
	port = ntohs(addr.sin_port);
	for (int i = 0; i < LIVE_CONNS; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		assert_true(cfd[i] >= 0);
		assert_int_equal(connect(cfd[i], (struct sockaddr *)&addr, sizeof(addr)), 0);
		afd[i] = accept(lfd, NULL, NULL);
		assert_true(afd[i] >= 0);
	}

	/* "/proc" itself counts connections through sock_diag; the same /proc reached through
	 * a symlink is read as files. Both must agree. */
	env_open(&e, "/proc", "/", fs, 1, &port, 1, names, 1);
	assert_int_equal(system_sample(e.s), 0);
	make_tmpdir(dir, sizeof(dir));
	snprintf(link, sizeof(link), "%s/proc", dir);
	assert_int_equal(symlink("/proc", link), 0);
	env_open(&files, link, "/", NULL, 0, &port, 1, NULL, 0);
	assert_int_equal(system_sample(files.s), 0);
	assert_live_tcp(e.reg, port, LIVE_CONNS);
	assert_live_tcp(files.reg, port, LIVE_CONNS);
	env_close(&files);

	f = fopen("/proc/meminfo", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &memtotal) == 1)
			break;
	fclose(f);
	assert_true(memtotal > 0);
	assert_value(value_of(e.reg, "node_memory_MemTotal_bytes", NULL), (double)memtotal * 1024);

	assert_int_equal(statvfs("/", &st), 0);
	assert_value(value_with(e.reg, "node_filesystem_size_bytes", "mountpoint", "/", NULL),
		     (double)st.f_blocks * (double)st.f_frsize);
	assert_value(value_with(e.reg, "node_filesystem_files", "mountpoint", "/", NULL),
		     (double)st.f_files);
	assert_int_equal(count_series(e.reg, "node_filesystem_size_bytes"), 1);

	/* Every CPU the kernel lists, each with the eight modes of a 2.6.33+ kernel. Counted
	 * from /proc/stat here rather than with get_nprocs(), which reads /sys and disagrees
	 * inside containers whose /proc is virtualised (lxcfs). */
	{
		size_t ncpu = 0;
		char *big = xmalloc(1 << 20);

		f = fopen("/proc/stat", "r");
		assert_non_null(f);
		while (fgets(big, 1 << 20, f))
			ncpu += strncmp(big, "cpu", 3) == 0 && big[3] >= '0' && big[3] <= '9';
		fclose(f);
		free(big);
		assert_true(ncpu >= 1);
		assert_int_equal(count_series(e.reg, "node_cpu_seconds_total"), ncpu * 8);
		assert_int_equal(count_series(e.reg, "node_cpu_guest_seconds_total"), ncpu * 2);
	}

	assert_true(value_of(e.reg, "namedprocess_namegroup_num_procs", "groupname", comm, NULL) >=
		    1);
	assert_true(value_of(e.reg, "namedprocess_namegroup_memory_bytes", "groupname", comm,
			     "memtype", "resident", NULL) > 0);
	assert_true(has_series(e.reg, "node_load1", NULL));
	assert_true(count_series(e.reg, "node_network_receive_bytes_total") >= 1);

	for (int i = 0; i < 2; i++) {
		static const char *const sources[] = { "stat", "meminfo", "loadavg", "mounts",
						       "filesystem", "netdev", "tcp", "tcp6",
						       "processes" };

		for (size_t j = 0; j < sizeof(sources) / sizeof(sources[0]); j++)
			assert_value(errors(e.reg, sources[j]), 0);
		assert_int_equal(system_sample(e.s), 0);
	}
	/* Closed connections are no longer established (the closing side waits in
	 * FIN_WAIT/TIME_WAIT, the other in CLOSE_WAIT). */
	for (int i = 0; i < LIVE_CONNS; i++) {
		close(afd[i]);
		close(cfd[i]);
	}
	assert_int_equal(system_sample(e.s), 0);
	assert_live_tcp(e.reg, port, 0);
	env_close(&e);
	close(lfd);
	rm_tree(dir);
}

/* ---- a hung network filesystem ---- */

static int hung_fd = -1;        /* read end of a pipe: the "NFS server" answers when written */
static atomic_int hung_calls;

/* statvfs() as a hung NFS mount at /srv/shared behaves: it blocks until the server answers. */
static int hung_statvfs(const char *path, struct statvfs *st)
{
	char c;

	if (!strstr(path, "/srv/shared"))
		return statvfs(path, st);
	atomic_fetch_add(&hung_calls, 1);
	if (read(hung_fd, &c, 1) != 1) {
		errno = EIO;
		return -1;
	}
	return statvfs(FIX "/proc-64cpu/rootfs", st);
}

static void test_hung_filesystem(void **state)
{
	char *fs[] = { (char *)"/", (char *)"/srv/shared" };
	int pipefd[2];
	struct env e;
	int tries = 0;

	(void)state;
	assert_int_equal(pipe(pipefd), 0);
	hung_fd = pipefd[0];
	atomic_store(&hung_calls, 0);
	env_open(&e, FIX "/proc-64cpu/proc", FIX "/proc-64cpu/rootfs", fs, 2, NULL, 0, NULL, 0);
	/* A deadline the calls that answer keep however late their thread runs: a new thread can
	 * wait tens of milliseconds for a core on a loaded machine, and with 50 ms a probe thread
	 * that started 100 ms late made "/" look hung. The hung call misses any deadline, and only
	 * the first pass waits for it. */
	system_test_set_statvfs(e.s, hung_statvfs, 2000);

	/* The pass returns: the hung mount reports a device error, the others their sizes. */
	assert_int_equal(system_sample(e.s), 0);
	assert_value(value_with(e.reg, "node_filesystem_device_error", "mountpoint", "/srv/shared",
				NULL), 1);
	assert_false(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/nvme0n1p2",
				"fstype", "ext4", "mountpoint", "/srv/shared", NULL));
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/nvme0n1p2",
			       "fstype", "ext4", "mountpoint", "/", NULL));
	assert_value(errors(e.reg, "filesystem"), 1);
	/* The pass gave up on the call, whose thread may not have started it yet. */
	while (atomic_load(&hung_calls) == 0) {
		assert_true(++tries < 1000); /* 10 s */
		usleep(10000);
	}
	assert_int_equal(atomic_load(&hung_calls), 1);
	tries = 0;

	/* While that call is blocked, later passes do not start another one. */
	assert_int_equal(system_sample(e.s), 0);
	assert_int_equal(system_sample(e.s), 0);
	assert_int_equal(atomic_load(&hung_calls), 1);
	assert_value(errors(e.reg, "filesystem"), 3);

	/* The server answers (twice): the blocked call returns, too late for its own pass, and the
	 * next pass asks afresh and gets sizes again. */
	assert_int_equal(write(pipefd[1], "xy", 2), 2);
	do {
		assert_true(++tries < 1000); /* 10 s */
		usleep(10000);
		assert_int_equal(system_sample(e.s), 0);
	} while (value_with(e.reg, "node_filesystem_device_error", "mountpoint", "/srv/shared",
			    NULL) != 0);
	assert_int_equal(atomic_load(&hung_calls), 2);
	assert_true(has_series(e.reg, "node_filesystem_size_bytes", "device", "/dev/nvme0n1p2",
			       "fstype", "ext4", "mountpoint", "/srv/shared", NULL));
	env_close(&e);
	close(pipefd[0]);
	close(pipefd[1]);
}

static void test_bad_config(void **state)
{
	char *fs[] = { (char *)"relative/path" };
	char *names[] = { (char *)"" };
	struct system_sampler *s = NULL;
	struct config cfg;
	struct registry *reg = registry_new(0);

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.system.filesystems = fs;
	cfg.system.nfilesystems = 1;
	assert_int_equal(system_sampler_new(&cfg, reg, &s), -EINVAL);
	assert_null(s);
	cfg.system.nfilesystems = 0;
	cfg.system.processes = names;
	cfg.system.nprocesses = 1;
	assert_int_equal(system_sampler_new(&cfg, reg, &s), -EINVAL);
	/* A family name taken with another shape. */
	registry_free(reg);
	reg = registry_new(0);
	assert_non_null(registry_gauge(reg, "node_load1", "taken", (const char *const[]){ "x",
											 NULL }));
	cfg.system.nprocesses = 0;
	assert_int_equal(system_sampler_new(&cfg, reg, &s), -EINVAL);
	system_sampler_free(NULL);
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_64cpu_cpu_memory_load),
		cmocka_unit_test(test_64cpu_meminfo_every_field),
		cmocka_unit_test(test_64cpu_filesystems),
		cmocka_unit_test(test_64cpu_disks_and_network),
		cmocka_unit_test(test_64cpu_tcp),
		cmocka_unit_test(test_64cpu_processes),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_odd_names),
		cmocka_unit_test(test_group_cpu_never_decreases),
		cmocka_unit_test(test_group_cpu_continues_after_restart),
		cmocka_unit_test(test_vanished_series_are_swept),
		cmocka_unit_test(test_hung_filesystem),
		cmocka_unit_test(test_errors_logged_once),
		cmocka_unit_test(test_large_tcp_table),
		cmocka_unit_test(test_live_proc),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_parsers_from_table),
		cmocka_unit_test(test_latch),
		cmocka_unit_test(test_injected_io_errors),
		cmocka_unit_test(test_injected_mountinfo),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
