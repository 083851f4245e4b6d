/*
 * node_disk_* from /proc/diskstats and node_network_* from /proc/net/dev, with node_exporter
 * 1.5's names, units and default device filter.
 */
#include "collector/system_int.h"

#include "core/log.h"
#include "core/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#define COMPONENT "system"

/* node_exporter's --collector.diskstats.device-exclude default: partitions and pseudo devices,
 * so that bytes are not counted twice (sda and sda1) in a sum over devices. */
#define DISK_EXCLUDE "^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\\d+n\\d+p)\\d+$"

/* The 17 numbers after the device name (Documentation/admin-guide/iostats.rst); kernels before
 * 4.18 print the first 11, before 5.5 the first 15. */
static const struct {
	const char *name;
	const char *help;
	double scale;           /* sectors are 512 bytes whatever the device; times are ms */
	bool gauge;
} disk_fields[SYSTEM_DISK_NMETRICS] = {
	{ "node_disk_reads_completed_total",
	  "The total number of reads completed successfully.", 1, false },
	{ "node_disk_reads_merged_total", "The total number of reads merged.", 1, false },
	{ "node_disk_read_bytes_total", "The total number of bytes read successfully.", 512, false },
	{ "node_disk_read_time_seconds_total", "The total number of seconds spent by all reads.",
	  1e-3, false },
	{ "node_disk_writes_completed_total",
	  "The total number of writes completed successfully.", 1, false },
	{ "node_disk_writes_merged_total", "The number of writes merged.", 1, false },
	{ "node_disk_written_bytes_total", "The total number of bytes written successfully.", 512,
	  false },
	{ "node_disk_write_time_seconds_total",
	  "This is the total number of seconds spent by all writes.", 1e-3, false },
	{ "node_disk_io_now", "The number of I/Os currently in progress.", 1, true },
	{ "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", 1e-3, false },
	{ "node_disk_io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.",
	  1e-3, false },
	{ "node_disk_discards_completed_total",
	  "The total number of discards completed successfully.", 1, false },
	{ "node_disk_discards_merged_total", "The total number of discards merged.", 1, false },
	{ "node_disk_discarded_sectors_total",
	  "The total number of sectors discarded successfully.", 1, false },
	{ "node_disk_discard_time_seconds_total",
	  "This is the total number of seconds spent by all discards.", 1e-3, false },
	{ "node_disk_flush_requests_total",
	  "The total number of flush requests completed successfully", 1, false },
	{ "node_disk_flush_requests_time_seconds_total",
	  "This is the total number of seconds spent by all flush requests.", 1e-3, false },
};

/* /proc/net/dev's columns in order. */
static const char *const net_fields[SYSTEM_NET_NMETRICS] = {
	"receive_bytes", "receive_packets", "receive_errs", "receive_drop", "receive_fifo",
	"receive_frame", "receive_compressed", "receive_multicast",
	"transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop", "transmit_fifo",
	"transmit_colls", "transmit_carrier", "transmit_compressed",
};

int system_dev_init(struct system_sampler *s)
{
	static const char *const labels[] = { "device", NULL };
	PCRE2_SIZE erroff;
	int errcode;

	for (int i = 0; i < SYSTEM_DISK_NMETRICS; i++) {
		s->disk[i] = disk_fields[i].gauge ?
			registry_gauge(s->reg, disk_fields[i].name, disk_fields[i].help, labels) :
			registry_counter(s->reg, disk_fields[i].name, disk_fields[i].help, labels);
		if (!s->disk[i]) {
			log_error(COMPONENT, "cannot register %s: registered before with another "
				  "shape", disk_fields[i].name);
			return -EINVAL;
		}
	}
	for (int i = 0; i < SYSTEM_NET_NMETRICS; i++) {
		char name[64], help[96];

		snprintf(name, sizeof(name), "node_network_%s_total", net_fields[i]);
		snprintf(help, sizeof(help), "Network device statistic %s.", net_fields[i]);
		s->net[i] = registry_counter(s->reg, name, help, labels);
		if (!s->net[i]) {
			log_error(COMPONENT, "cannot register %s: registered before with another "
				  "shape", name);
			return -EINVAL;
		}
	}
	s->disk_exclude = pcre2_compile((PCRE2_SPTR)DISK_EXCLUDE, PCRE2_ZERO_TERMINATED, 0,
					&errcode, &erroff, NULL);
	if (!s->disk_exclude) {
		log_error(COMPONENT, "cannot compile the disk filter %s (error %d at %zu)",
			  DISK_EXCLUDE, errcode, (size_t)erroff);
		return -EINVAL;
	}
	s->disk_md = pcre2_match_data_create_from_pattern(s->disk_exclude, NULL);
	if (!s->disk_md)
		abort();
	return 0;
}

void system_dev_release(struct system_sampler *s)
{
	pcre2_match_data_free(s->disk_md);
	pcre2_code_free(s->disk_exclude);
	s->disk_md = NULL;
	s->disk_exclude = NULL;
}

static bool disk_excluded(struct system_sampler *s, const char *dev, size_t len)
{
	return pcre2_match(s->disk_exclude, (PCRE2_SPTR)dev, len, 0, 0, s->disk_md, NULL) >= 0;
}

static void sample_diskstats(struct system_sampler *s)
{
	struct lines r;
	char path[PATH_MAX];
	char *line;
	unsigned bad = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "diskstats");
	if (!err)
		err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_DISKSTATS, "cannot open %s/diskstats: %s",
				     s->proc, strerror(-err));
		return;
	}
	while ((err = lines_next(&r, &line)) > 0) {
		struct system_disk_line d;
		const char *labels[1];
		int rc = system_parse_diskstats_line(line, &d);

		if (rc < 0)
			bad++;
		if (rc <= 0 || disk_excluded(s, d.device, strlen(d.device)))
			continue;
		labels[0] = d.device;
		for (size_t i = 0; i < d.nv; i++)
			series_set(metric_series(s->disk[i], labels),
				   (double)d.v[i] * disk_fields[i].scale);
	}
	lines_close(&r);
	if (err < 0)
		system_source_failed(s, SYSTEM_SRC_DISKSTATS, "cannot read %s: %s", path,
				     strerror(-err));
	else if (bad)
		system_source_failed(s, SYSTEM_SRC_DISKSTATS, "%s: %u malformed lines", path, bad);
	else
		system_source_ok(s, SYSTEM_SRC_DISKSTATS);
}

static void sample_netdev(struct system_sampler *s)
{
	struct lines r;
	char path[PATH_MAX];
	char *line;
	unsigned bad = 0;
	int err;

	err = system_path(path, sizeof(path), s->proc, "net/dev");
	if (!err)
		err = lines_open(&r, s->io, path, s->line, SYSTEM_LINE_MAX);
	if (err) {
		system_source_failed(s, SYSTEM_SRC_NETDEV, "cannot open %s/net/dev: %s", s->proc,
				     strerror(-err));
		return;
	}
	while ((err = lines_next(&r, &line)) > 0) {
		struct system_netdev_line d;
		const char *labels[1];
		int rc = system_parse_netdev_line(line, &d);

		if (rc < 0)
			bad++;
		if (rc <= 0)
			continue;
		labels[0] = d.device;
		for (size_t i = 0; i < SYSTEM_NET_NMETRICS; i++)
			series_set(metric_series(s->net[i], labels), (double)d.v[i]);
	}
	lines_close(&r);
	if (err < 0)
		system_source_failed(s, SYSTEM_SRC_NETDEV, "cannot read %s: %s", path,
				     strerror(-err));
	else if (bad)
		system_source_failed(s, SYSTEM_SRC_NETDEV, "%s: %u malformed lines", path, bad);
	else
		system_source_ok(s, SYSTEM_SRC_NETDEV);
}

void system_dev_sample(struct system_sampler *s)
{
	sample_diskstats(s);
	sample_netdev(s);
	for (int i = 0; i < SYSTEM_DISK_NMETRICS; i++)
		metric_sweep(s->disk[i]);
	for (int i = 0; i < SYSTEM_NET_NMETRICS; i++)
		metric_sweep(s->net[i]);
}
