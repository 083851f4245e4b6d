#ifndef DW_COLLECTOR_SYSTEM_INT_H
#define DW_COLLECTOR_SYSTEM_INT_H

/*
 * Private to collector/system*.c: the sampler's state and the helpers its source readers share.
 * One file per group of sources: system.c (lifecycle, errors, line reader, /proc/stat,
 * meminfo, loadavg), system_fs.c (mount table, statvfs), system_dev.c (diskstats, net/dev),
 * system_tcp.c (net/tcp{,6}), system_proc.c (process groups).
 */

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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

/*
 * A line reader over a file descriptor with a caller-provided fixed buffer: a file of any size
 * (/proc/net/tcp on a busy host is megabytes) is read in buffer-sized pieces, never whole.
 * Lines longer than the buffer are skipped and counted in 'toolong'.
 */
struct system_lines {
	int fd;
	char *buf;          /* borrowed, 'cap' bytes */
	size_t cap;
	size_t start;       /* first byte not yet returned */
	size_t end;         /* one past the last byte read */
	bool eof;
	bool skipping;      /* inside a line longer than the buffer */
	unsigned long toolong;
};

/* Open 'path' for reading lines into 'buf'. Returns 0 or -errno (nothing left open). */
int system_lines_open(struct system_lines *r, const char *path, char *buf, size_t cap);
/* The next line without its '\n', NUL-terminated, in *line (valid until the next call).
 * Returns 1, 0 at the end of the file, or -errno on a read error. */
int system_lines_next(struct system_lines *r, char **line);
void system_lines_close(struct system_lines *r);

/* Read at most 'cap' - 1 bytes of a small file into 'buf', NUL-terminated. Returns the length
 * or -errno. */
long system_read_small(const char *path, char *buf, size_t cap);

/* Parse a decimal unsigned integer after optional blanks; advances *p. False if none. */
bool system_parse_u64(const char **p, uint64_t *out);
/* Skip blanks (spaces and tabs). */
const char *system_skip_blanks(const char *p);

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
	bool failing;           /* statvfs() failed last pass (already logged) */
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
#define SYSTEM_DISK_NMETRICS 17
#define SYSTEM_NET_NMETRICS 16

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

	struct metric *errors;
	struct series *error_series[SYSTEM_SRC_COUNT]; /* never swept, so the pointers stay valid */
	bool failing[SYSTEM_SRC_COUNT];                /* logged, not yet recovered */

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
