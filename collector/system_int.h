#ifndef DW_COLLECTOR_SYSTEM_INT_H
#define DW_COLLECTOR_SYSTEM_INT_H

/*
 * Private to collector/system*.c: the sampler's state and the helpers its source readers share.
 * One file per group of sources: system.c (lifecycle, errors, /proc/stat, meminfo, loadavg),
 * system_fs.c (mount table, statvfs), system_dev.c (diskstats, net/dev), system_tcp.c
 * (net/tcp{,6}), system_proc.c (process groups); system_parse.c holds the pure parsers of all
 * of them. Files are read through the I/O leaf (io_int.h: the seam, the line reader, the latch).
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "collector/io_int.h"

struct metric;
struct registry;

/* Where an error came from: the value of deploywatch_sampler_errors_total's "source" label. */
enum system_source {
	SYSTEM_SRC_STAT,
	SYSTEM_SRC_MEMINFO,
	SYSTEM_SRC_LOADAVG,
	SYSTEM_SRC_MOUNTS,
	SYSTEM_SRC_FILESYSTEM,
	SYSTEM_SRC_DISKSTATS,
	SYSTEM_SRC_NETDEV,
	SYSTEM_SRC_TCP,
	SYSTEM_SRC_TCP6,
	SYSTEM_SRC_PROCESSES,
	SYSTEM_SRC_COUNT
};

/* The longest line any reader accepts. /proc/stat's "intr" line on a big host is longer; it is
 * skipped, which is fine because nothing here reads it. */
#define SYSTEM_LINE_MAX ((size_t)64 << 10)
/* Label values longer than this (device names, mount points) are refused and counted. */
#define SYSTEM_LABEL_MAX 1024
/* At most this many /proc/meminfo fields become families; the kernel has about 60. */
#define SYSTEM_MEMINFO_MAX 256
/* At most this many processes are examined per pass (pid_max is 4194304 on 64-bit). */
#define SYSTEM_PIDS_MAX ((size_t)1 << 18)

/* ---- the /proc parsers (system_parse.c) ----
 *
 * Pure functions from the kernel's text to a struct: no file, registry or sampler. A line
 * parser returns 1 for a parsed line, 0 for a line that carries no data (a header, a blank line,
 * the aggregate "cpu" line) and -EINVAL for a malformed one, which the sampler counts. Parsers
 * taking a 'char *line' cut it in place, and the struct points into it.
 */

/* Parse a decimal unsigned integer after optional blanks; advances *p. False if none or on
 * overflow. */
bool system_parse_u64(const char **p, uint64_t *out);
/* Skip blanks (spaces and tabs). */
const char *system_skip_blanks(const char *p);

/* A "cpuN ..." line of /proc/stat: the CPU number and its 4 to 10 tick counters. */
struct system_cpu_line {
	char cpu[16];
	uint64_t v[10];         /* user nice system idle iowait irq softirq steal guest guest_nice */
	size_t nv;
};
int system_parse_cpu_line(const char *line, struct system_cpu_line *out);

/* A /proc/meminfo line: "Active(anon):  1544 kB". */
struct system_meminfo_line {
	char *field;            /* "Active(anon)", in the line */
	uint64_t value;
	bool kb;                /* the value is in kB (bytes = value * 1024) */
};
int system_parse_meminfo_line(char *line, struct system_meminfo_line *out);
/* node_exporter's metric name for a meminfo field, without the node_memory_ prefix:
 * "Active(anon)" -> "Active_anon_bytes" ('bytes'), "HugePages_Total" -> "HugePages_Total".
 * False when the field cannot form a name or 'len' is too small. */
bool system_meminfo_name(const char *field, bool bytes, char *out, size_t len);

/* /proc/loadavg's three averages. Returns 0 or -EINVAL. */
int system_parse_loadavg(const char *text, double load[3]);

/* A mount table line (<proc>/self/mountinfo or <proc>/mounts), its \ooo escapes undone. */
struct system_mount {
	char *mountpoint;
	char *device;
	const char *fstype;
	const char *options;    /* the mount options, "rw,noatime" */
};
int system_parse_mountinfo_line(char *line, struct system_mount *out);
int system_parse_mounts_line(char *line, struct system_mount *out);

#define SYSTEM_DISK_NMETRICS 17
#define SYSTEM_NET_NMETRICS 16

/* A /proc/diskstats line: the device and its 11 to 17 numbers. */
struct system_disk_line {
	char *device;
	uint64_t v[SYSTEM_DISK_NMETRICS];
	size_t nv;
};
int system_parse_diskstats_line(char *line, struct system_disk_line *out);

/* A /proc/net/dev line: the interface and its 16 counters. */
struct system_netdev_line {
	char *device;
	uint64_t v[SYSTEM_NET_NMETRICS];
};
int system_parse_netdev_line(char *line, struct system_netdev_line *out);

/* A /proc/net/tcp (addr_digits 8) or tcp6 (32) line: the two ports and the state. */
struct system_tcp_line {
	unsigned lport, rport;
	unsigned state;         /* include/net/tcp_states.h: 1 is ESTABLISHED */
};
int system_parse_tcp_line(const char *line, size_t addr_digits, struct system_tcp_line *out);

/* What the sampler reads of /proc/PID/stat (proc(5)). */
struct system_pid_stat {
	char comm[64];
	uint64_t utime, stime;  /* ticks */
	uint64_t starttime;     /* ticks after boot */
	uint64_t vsize;         /* bytes */
	uint64_t rss;           /* pages */
};
/* Returns 0 or -EINVAL. */
int system_parse_pid_stat(const char *text, struct system_pid_stat *out);

/* A filesystem to report: one configured mount point. */
struct statvfs;
struct fs_probe;

struct system_fs {
	char *mountpoint;       /* as configured: the value of the "mountpoint" label */
	char *stat_path;        /* rootfs_path + mountpoint: what statvfs() is called on */
	size_t match_len;       /* length of the mount point matched in this pass's mount table */
	bool found;             /* a mount containing 'mountpoint' was found in this pass */
	bool exact;             /* ... and it is mounted exactly there */
	bool readonly;          /* its mount options hold "ro" */
	struct latch failing;   /* statvfs() is failing (logged once) */
	struct fs_probe *stuck; /* a statvfs() still blocked on its thread (a hung NFS server), or
				 * NULL; no new one is started for this mount until it returns */
	bool warned_not_mount;  /* logged that it is not a mount point of its own */
	char device[SYSTEM_LABEL_MAX];
	char fstype[SYSTEM_LABEL_MAX];
};

/* A configured process group: processes whose name is 'name'. */
struct system_group {
	char *name;             /* the "groupname" label */
	uint64_t base_utime;    /* ticks of processes that have left the group (exited or exec'd) */
	uint64_t base_stime;
	/* Seconds added so that a counter restored from the store after an agent restart
	 * (registry_seed_counter) continues from its stored value instead of dropping. */
	double offset_user, offset_system;
	bool offsets_known;     /* set on the first pass that reports the group */
	/* accumulated during a pass */
	uint64_t utime, stime;  /* ticks of the live members */
	uint64_t rss_pages;
	uint64_t vsize;         /* bytes */
	unsigned nprocs;
};

/* A process seen in the previous pass, kept sorted by pid. */
struct system_proc {
	int pid;
	int group;              /* index into groups, or -1 */
	uint64_t starttime;     /* ticks after boot: tells a reused pid from the same process */
	uint64_t comm_hash;     /* of its name: a changed name (exec) re-evaluates the group */
	uint64_t utime, stime;  /* ticks, as last seen */
};

enum { SYSTEM_FS_SIZE, SYSTEM_FS_FREE, SYSTEM_FS_AVAIL, SYSTEM_FS_FILES, SYSTEM_FS_FILES_FREE,
       SYSTEM_FS_READONLY, SYSTEM_FS_DEVICE_ERROR, SYSTEM_FS_NMETRICS };

struct system_meminfo {
	char *field;            /* as in /proc/meminfo, e.g. "Active(anon)" */
	struct metric *m;
};

struct system_sampler {
	struct registry *reg;
	char *proc;             /* proc_path without trailing '/' */
	char *rootfs;           /* rootfs_path without trailing '/' ("" for "/") */
	long user_hz;           /* sysconf(_SC_CLK_TCK): /proc/stat and /proc/<pid>/stat ticks */
	long page_size;
	char *line;             /* SYSTEM_LINE_MAX bytes shared by the readers */
	const struct io_ops *io; /* every file read goes through it (tests: system_test_set_io) */

	struct metric *errors;
	struct series *error_series[SYSTEM_SRC_COUNT]; /* never swept, so the pointers stay valid */
	struct latch failing[SYSTEM_SRC_COUNT];        /* logged, not yet recovered */

	struct metric *cpu, *cpu_guest;
	struct metric *load[3];
	struct system_meminfo *mem;
	size_t nmem;

	struct metric *fs_metric[SYSTEM_FS_NMETRICS];
	struct system_fs *fs;
	size_t nfs;
	/* statvfs() runs on a thread of its own and is given up on after this long, so a hung
	 * network filesystem cannot stop the collector. Tests replace the call itself. */
	int (*statvfs_fn)(const char *path, struct statvfs *st);
	int statvfs_timeout_ms;

	struct metric *disk[SYSTEM_DISK_NMETRICS];
	pcre2_code *disk_exclude;
	pcre2_match_data *disk_md;
	struct metric *net[SYSTEM_NET_NMETRICS];

	struct metric *tcp;
	uint16_t *ports;        /* configured, deduplicated */
	size_t nports;
	uint64_t port_bits[65536 / 64];
	uint64_t *count_local, *count_remote;  /* per port, during a pass */
	bool tcp_netlink;       /* count through sock_diag (live /proc only), see system_tcp.c */

	struct metric *proc_cpu, *proc_mem, *proc_num;
	struct system_group *groups;
	size_t ngroups;
	struct system_proc *procs, *procs_next;  /* previous pass, and the one being built */
	size_t nprocs, procs_cap;
	int *pids;
	size_t pids_cap;
};

/* Count a failure of 'src' in this pass. The message ('fmt': what failed, naming the path and
 * the reason) is logged only when the source was not already failing. */
void system_source_failed(struct system_sampler *s, enum system_source src, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The source read fine this pass: log its recovery if it was failing. */
void system_source_ok(struct system_sampler *s, enum system_source src);
/* Format "<root>/<rel>" into 'out'. Returns 0 or -ENAMETOOLONG. */
int system_path(char *out, size_t len, const char *root, const char *rel);

/* Per-file setup (registering families) and one pass over the file. The pass functions report
 * their own errors through system_source_failed/ok and sweep their families. */
int system_fs_init(struct system_sampler *s, char *const *mountpoints, size_t n);
/* Tests only: read every file through 'io' (borrowed until the sampler is freed), so a test
 * injects EACCES or ENOENT for a path. The process listing (opendir) is not behind it. */
void system_test_set_io(struct system_sampler *s, const struct io_ops *io);
/* Tests only: replace statvfs() and its timeout (milliseconds). */
void system_test_set_statvfs(struct system_sampler *s,
			     int (*fn)(const char *path, struct statvfs *st), int timeout_ms);
void system_fs_sample(struct system_sampler *s);
void system_fs_release(struct system_sampler *s);

int system_dev_init(struct system_sampler *s);
void system_dev_sample(struct system_sampler *s);
void system_dev_release(struct system_sampler *s);

int system_tcp_init(struct system_sampler *s, const uint16_t *ports, size_t n);
void system_tcp_sample(struct system_sampler *s);
void system_tcp_release(struct system_sampler *s);

int system_proc_init(struct system_sampler *s, char *const *names, size_t n);
void system_proc_sample(struct system_sampler *s);
void system_proc_release(struct system_sampler *s);

#endif
