/*
 * Fuzz target: the host sampler's /proc parsers. The input is split at NUL bytes into the files
 * of a /proc tree (stat, meminfo, loadavg, diskstats, net/dev, self/mountinfo, net/tcp,
 * net/tcp6, and one process's stat and cmdline), written under a private temporary directory;
 * the sampler then reads that tree twice (the second pass exercises sweeping and counters that
 * must not go backwards). Whatever the kernel, or a corrupted fixture, puts there must never
 * crash it.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "collector/system.h"
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
