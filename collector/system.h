#ifndef DW_COLLECTOR_SYSTEM_H
#define DW_COLLECTOR_SYSTEM_H

/*
 * The host sampler: reads /proc (and statvfs) and mirrors what it finds into the metrics
 * registry under node_exporter 1.5's metric names, labels and units, so that dashboards and
 * alert rules written for node_exporter work unchanged; process groups use process-exporter's
 * names. The full list of metrics, labels and source files is in docs/metrics.md.
 *
 * Every path is relative to the configured roots (cfg->system.proc_path, .rootfs_path), so
 * tests point the sampler at fixture trees. One exception: with proc_path "/proc" itself,
 * TCP connections are counted through a sock_diag netlink dump instead of /proc/net/tcp, which
 * costs the kernel far more (see system_tcp.c). A file that is missing or unreadable never fails a
 * pass: its series are left out (swept), the failure is counted in
 * deploywatch_sampler_errors_total{source="..."} and logged once when it starts failing and
 * once when it recovers, never on every tick.
 *
 * Threads: everything here runs on the collector (registry writer) thread.
 */

struct config;
struct registry;
struct system_sampler;

/*
 * Create a sampler for cfg->system (proc_path, rootfs_path, filesystems, tcp_ports, processes)
 * and register its metric families in 'reg'. 'cfg' is borrowed for the duration of the call
 * only (what is needed is copied); 'reg' is borrowed until system_sampler_free() and must
 * outlive the sampler. Nothing is read from /proc yet.
 * Returns 0 and *out (free with system_sampler_free()), or -EINVAL (logged here, naming the
 * offending value; *out untouched) when a family name is already registered in 'reg' with
 * another shape, a filesystem is not an absolute path, a path is too long, or a process name is
 * empty or holds '/'. Out of memory aborts.
 */
int system_sampler_new(const struct config *cfg, struct registry *reg,
		       struct system_sampler **out);

/*
 * One sampling pass: read every source, set the registry's series to what the kernel reports,
 * and sweep the series that were not seen in this pass (a removed disk or network device, a
 * source that could not be read). Configured mount points, ports and process groups always
 * have series while their source is readable (a group with no process reports
 * num_procs 0 and keeps its CPU counters). Unreadable sources are counted and logged as
 * described above, never returned.
 * Returns 0. Collector thread; no other thread may write to the sampler's families meanwhile.
 */
int system_sample(struct system_sampler *s);

/* Free the sampler. Its series stay in the registry. NULL is a no-op. */
void system_sampler_free(struct system_sampler *s);

#endif
