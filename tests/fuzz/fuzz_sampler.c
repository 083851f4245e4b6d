/*
 * Fuzz target: the host sampler's /proc parsers. The input is split at NUL bytes into the files
 * of a /proc tree (stat, meminfo, loadavg, diskstats, net/dev, self/mountinfo, net/tcp,
 * net/tcp6, and one process's stat and cmdline), written under a private temporary directory;
 * the sampler then reads that tree twice (the second pass exercises sweeping and counters that
 * must not go backwards). Whatever the kernel, or a corrupted fixture, puts there must never
 * crash it. Every line of the input also goes straight to each pure parser (system_parse.c),
 * so a parser meets lines that its own file's reader would never hand it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/system.h"
#include "collector/system_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const files[] = {
	"stat", "meminfo", "loadavg", "diskstats", "net/dev", "self/mountinfo",
	"net/tcp", "net/tcp6", "4242/stat", "4242/cmdline",
};

static char root[64];

static void write_file(const char *rel, const uint8_t *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/proc/%s", root, rel);
	f = fopen(path, "wb");
	if (!f)
		abort();
	if (n && fwrite(p, 1, n, f) != n)
		abort();
	fclose(f);
}

/* Leave nothing behind in /tmp. */
static void remove_tree(void)
{
	static const char *const dirs[] = { "proc/4242", "proc/self", "proc/net", "proc", "" };
	char path[256];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		snprintf(path, sizeof(path), "%s/proc/%s", root, files[i]);
		unlink(path);
	}
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		rmdir(path);
	}
}

static void make_tree(void)
{
	static const char *const dirs[] = { "proc", "proc/net", "proc/self", "proc/4242" };
	char path[256];

	snprintf(root, sizeof(root), "/tmp/dw-fuzz-sampler-%d", (int)getpid());
	mkdir(root, 0700);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", root, dirs[i]);
		if (mkdir(path, 0700) && errno != EEXIST)
			abort();
	}
	atexit(remove_tree);
}

/* One line (NUL-terminated, at most SYSTEM_LINE_MAX bytes like the reader's) through every
 * parser, each on its own copy since some cut the line in place. */
static void parse_line(const char *line, size_t len)
{
	char *copy = malloc(len + 1);
	struct system_cpu_line cpu;
	struct system_meminfo_line mem;
	struct system_mount mount;
	struct system_disk_line disk;
	struct system_netdev_line net;
	struct system_tcp_line tcp;
	struct system_pid_stat ps;
	double load[3];
	char name[128];

	if (!copy)
		abort();
#define FRESH() (memcpy(copy, line, len), copy[len] = '\0', copy)
	(void)system_parse_cpu_line(FRESH(), &cpu);
	if (system_parse_meminfo_line(FRESH(), &mem) > 0)
		(void)system_meminfo_name(mem.field, mem.kb, name, sizeof(name));
	(void)system_parse_loadavg(FRESH(), load);
	(void)system_parse_mountinfo_line(FRESH(), &mount);
	(void)system_parse_mounts_line(FRESH(), &mount);
	(void)system_parse_diskstats_line(FRESH(), &disk);
	(void)system_parse_netdev_line(FRESH(), &net);
	(void)system_parse_tcp_line(FRESH(), 8, &tcp);
	(void)system_parse_tcp_line(FRESH(), 32, &tcp);
	(void)system_parse_pid_stat(FRESH(), &ps);
#undef FRESH
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const processes[] = { "php-fpm8.2", "nginx" };
	static const uint16_t ports[] = { 3306 };
	static const char *const filesystems[] = { "/" };
	struct system_sampler *s;
	struct registry *reg;
	struct config cfg;
	char proc[128];
	size_t start = 0;

	if (!root[0]) {
		make_tree();
		log_set_level(LOG_ERROR + 1); /* the sampler logs unreadable sources: keep quiet */
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const uint8_t *nul = start < size ? memchr(data + start, 0, size - start) : NULL;
		size_t end = nul ? (size_t)(nul - data) : size;

		write_file(files[i], data + start, end - start);
		start = end < size ? end + 1 : size;
	}

	for (size_t at = 0; at < size; ) {
		const uint8_t *nl = memchr(data + at, '\n', size - at);
		size_t end = nl ? (size_t)(nl - data) : size;

		if (end - at < SYSTEM_LINE_MAX)
			parse_line((const char *)data + at, end - at);
		at = end + 1;
	}

	memset(&cfg, 0, sizeof(cfg));
	snprintf(proc, sizeof(proc), "%s/proc", root);
	cfg.system.proc_path = proc;
	cfg.system.sys_path = root;
	cfg.system.rootfs_path = root;
	cfg.system.filesystems = (char **)filesystems;
	cfg.system.nfilesystems = 1;
	cfg.system.tcp_ports = (uint16_t *)ports;
	cfg.system.ntcp_ports = 1;
	cfg.system.processes = (char **)processes;
	cfg.system.nprocesses = 2;

	reg = registry_new(0);
	if (system_sampler_new(&cfg, reg, &s) != 0)
		abort();
	system_sample(s);
	system_sample(s);
	system_sampler_free(s);
	registry_free(reg);
	return 0;
}
