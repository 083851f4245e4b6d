/*
 * dw_gen_dataset: a deterministic benchmark dataset shaped like this agent's output, written as
 * OpenMetrics text with timestamps — the input of `promtool tsdb create-blocks-from openmetrics`
 * and of dw_chunk_bench.
 *
 * Families appear once each (# HELP, # TYPE, then their samples), every series' samples in time
 * order, and the file ends with # EOF. The whole dataset is computed in memory first because some
 * series are derived from others (idle CPU is what the other modes leave, histogram buckets and
 * request counters come from the same simulated requests).
 *
 * The shapes follow what a small Laravel + MySQL host produces: CPU seconds at USER_HZ = 100
 * granularity, memory in pages, load averages with two decimals, counters with Poisson noise on
 * a daily traffic curve, log counters that are flat with bursts, latency sums accumulated in
 * floating point from millisecond request times.
 */

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define GEN_MAX_SERIES 65536

struct gen_family {
	const char *name;     /* family name (counters without _total) */
	const char *type;     /* counter, gauge, histogram */
	const char *help;
	size_t first, count;  /* its series, contiguous */
};

struct gen_series {
	size_t family;
	char *name;           /* sample name: with _total, _bucket, _sum, _count */
	char *labels;         /* "a=\"b\",c=\"d\"" without braces; instance first */
	int decimals;         /* digits printed; -1: shortest text that reads back exactly */
	double *v;            /* one value per step */
};

struct gen {
	size_t steps;
	int interval;         /* seconds */
	int64_t start;        /* seconds */
	uint64_t rng;
	struct gen_family *fam;
	size_t nfam, capfam;
	struct gen_series *ser;
	size_t nser, capser;
	const char *instance;
	int64_t *ts_ms;       /* the tick times, shared by every series of the host */
};

/* ---- randomness: splitmix64, seeded per group so groups do not disturb each other ---- */

static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double unif(struct gen *g)
{
	return ((double)(rnd(g) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(struct gen *g)
{
	return sqrt(-2.0 * log(unif(g))) * cos(2.0 * M_PI * unif(g));
}

static uint64_t poisson(struct gen *g, double lambda)
{
	if (lambda <= 0)
		return 0;
	if (lambda > 40) {
		double x = lambda + sqrt(lambda) * normal(g);

		return x < 0 ? 0 : (uint64_t)llround(x);
	}
	double l = exp(-lambda), p = 1.0;
	uint64_t k = 0;

	do {
		k++;
		p *= unif(g);
	} while (p > l);
	return k - 1;
}

static void reseed(struct gen *g, uint64_t seed, uint64_t group)
{
	g->rng = seed * 0x2545f4914f6cdd1dull + group * 0x9e3779b97f4a7c15ull + 1;
}

/* Traffic relative to the daily mean: low at night, a peak in the afternoon, quieter weekends. */
static double traffic(const struct gen *g, size_t i)
{
	double t = (double)(g->start + (int64_t)i * g->interval);
	double day = fmod(t, 86400.0) / 86400.0;
	int weekday = (int)(fmod(t / 86400.0 + 3.0, 7.0)); /* 1970-01-01 was a Thursday */
	double f = 1.0 + 0.7 * sin(2.0 * M_PI * (day - 0.375));

	if (weekday >= 5)
		f *= 0.6;
	return f < 0.05 ? 0.05 : f;
}

/* ---- registration ---- */

static size_t family(struct gen *g, const char *name, const char *type, const char *help)
{
	if (g->nfam == g->capfam) {
		g->capfam = g->capfam ? g->capfam * 2 : 64;
		g->fam = xrealloc(g->fam, g->capfam * sizeof(*g->fam));
	}
	g->fam[g->nfam] = (struct gen_family){ name, type, help, g->nser, 0 };
	return g->nfam++;
}

/* A new series of the last family; returns its value array. */
static double *series(struct gen *g, const char *suffix, int decimals, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static double *series(struct gen *g, const char *suffix, int decimals, const char *fmt, ...)
{
	struct gen_family *f = &g->fam[g->nfam - 1];
	struct gen_series *s;
	struct buf b;
	va_list ap;

	if (g->nser >= GEN_MAX_SERIES) {
		fprintf(stderr, "dw_gen_dataset: more than %d series\n", GEN_MAX_SERIES);
		exit(1);
	}
	if (g->nser == g->capser) {
		g->capser = g->capser ? g->capser * 2 : 256;
		g->ser = xrealloc(g->ser, g->capser * sizeof(*g->ser));
	}
	s = &g->ser[g->nser++];
	f->count++;
	s->family = g->nfam - 1;
	buf_init(&b, 0);
	buf_printf(&b, "%s%s", f->name, suffix);
	s->name = buf_detach(&b, NULL);
	buf_init(&b, 0);
	buf_printf(&b, "instance=\"%s\"", g->instance);
	buf_putc(&b, ',');
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	/* No extra labels: drop the separator again (OpenMetrics allows no trailing comma). */
	if (b.data[b.len - 1] == ',')
		b.data[--b.len] = '\0';
	s->labels = buf_detach(&b, NULL);
	s->decimals = decimals;
	s->v = xcalloc(g->steps, sizeof(double));
	return s->v;
}

/* ---- the host ---- */

static const char *const cpu_modes[] = { "idle", "iowait", "irq", "nice", "softirq", "steal",
					 "system", "user" };

static void gen_cpu(struct gen *g, uint64_t seed)
{
	double *v[2][8];
	double hz = 100.0 * g->interval; /* ticks per CPU per step */

	family(g, "node_cpu_seconds", "counter", "Seconds the CPUs spent in each mode.");
	for (int c = 0; c < 2; c++)
		for (int m = 0; m < 8; m++)
			v[c][m] = series(g, "_total", 2, "cpu=\"%d\",mode=\"%s\"", c, cpu_modes[m]);
	reseed(g, seed, 1);
	for (int c = 0; c < 2; c++) {
		/* Ticks since boot, 20 days ago, at a typical mix. */
		static const double share[8] = { 0.85, 0.004, 0, 0.0003, 0.003, 0.002, 0.03, 0.11 };
		uint64_t ticks[8];

		for (int m = 0; m < 8; m++)
			ticks[m] = (uint64_t)(share[m] * 100.0 * 86400 * 20) + rnd(g) % 1000;
		for (size_t i = 0; i < g->steps; i++) {
			double load = traffic(g, i);
			double user = hz * (0.02 + 0.09 * load), used = 0;
			uint64_t d[8];

			d[7] = poisson(g, user);
			d[6] = poisson(g, user * 0.3);
			d[1] = poisson(g, hz * 0.003 * load);
			d[2] = 0;
			d[3] = rnd(g) % 400 == 0 ? poisson(g, 20) : 0;
			d[4] = poisson(g, hz * 0.002 * load);
			d[5] = poisson(g, hz * 0.002);
			for (int m = 1; m < 8; m++)
				used += (double)d[m];
			/* The kernel's tick accounting jitters by a tick or two per interval. */
			d[0] = (uint64_t)(hz - used > 0 ? hz - used : 0) + rnd(g) % 3;
			for (int m = 0; m < 8; m++) {
				ticks[m] += d[m];
				v[c][m][i] = (double)ticks[m] / 100.0;
			}
		}
	}
}

static void gen_memory(struct gen *g, uint64_t seed)
{
	static const struct {
		const char *name;
		double base;      /* pages */
		double walk;      /* pages per step, standard deviation */
		double revert;    /* pull back towards base per step */
	} mem[] = {
		{ "node_memory_MemTotal_bytes", 2037081, 0, 0 },
		{ "node_memory_MemFree_bytes", 210000, 60, 0.01 },
		{ "node_memory_MemAvailable_bytes", 1150000, 50, 0.01 },
		{ "node_memory_Buffers_bytes", 45000, 2, 0.002 },
		{ "node_memory_Cached_bytes", 900000, 20, 0.002 },
		{ "node_memory_Active_bytes", 700000, 30, 0.005 },
		{ "node_memory_Inactive_bytes", 800000, 15, 0.005 },
		{ "node_memory_Dirty_bytes", 300, 40, 0.2 },
		{ "node_memory_Shmem_bytes", 30000, 1, 0.01 },
		{ "node_memory_Slab_bytes", 60000, 3, 0.01 },
		{ "node_memory_SReclaimable_bytes", 40000, 3, 0.01 },
		{ "node_memory_PageTables_bytes", 6000, 4, 0.05 },
		{ "node_memory_Committed_AS_bytes", 1500000, 80, 0.02 },
		{ "node_memory_SwapTotal_bytes", 524288, 0, 0 },
		{ "node_memory_SwapFree_bytes", 520000, 0, 0 },
	};

	for (size_t k = 0; k < sizeof(mem) / sizeof(mem[0]); k++) {
		double *v, x = mem[k].base;

		family(g, mem[k].name, "gauge", "Memory information field, in bytes.");
		v = series(g, "", 0, "%s", "");
		reseed(g, seed, 100 + k);
		for (size_t i = 0; i < g->steps; i++) {
			x += mem[k].walk * normal(g) + mem[k].revert * (mem[k].base - x);
			/* Swap moves a few pages once in a long while. */
			if (mem[k].walk == 0 && mem[k].base != 2037081 && mem[k].base != 524288 &&
			    rnd(g) % 5000 == 0)
				x -= (double)(rnd(g) % 64);
			if (x < 0)
				x = 0;
			v[i] = 4096.0 * floor(x);
		}
	}
}

static void gen_load(struct gen *g, uint64_t seed)
{
	static const char *const names[3] = { "node_load1", "node_load5", "node_load15" };
	static const double minutes[3] = { 1, 5, 15 };
	double *v[3], avg[3] = { 0.3, 0.3, 0.3 };

	for (int k = 0; k < 3; k++) {
		family(g, names[k], "gauge", "Load average.");
		v[k] = series(g, "", 2, "%s", "");
	}
	reseed(g, seed, 200);
	for (size_t i = 0; i < g->steps; i++) {
		double runnable = (double)poisson(g, 0.5 * traffic(g, i));

		for (int k = 0; k < 3; k++) {
			double e = exp(-(double)g->interval / (60.0 * minutes[k]));

			avg[k] = avg[k] * e + runnable * (1 - e);
			v[k][i] = round(avg[k] * 100.0) / 100.0;
		}
	}
}

static void gen_filesystem(struct gen *g, uint64_t seed)
{
	static const struct {
		const char *dev, *fs, *mnt;
		double size, used, files;  /* blocks of 4 KiB, inodes */
		double write;              /* blocks per step */
	} fs[] = {
		{ "/dev/vda1", "ext4", "/", 10321208, 4200000, 2621440, 3 },
		{ "/dev/vdb1", "ext4", "/var/lib/mysql", 25800000, 9000000, 1638400, 12 },
		{ "/dev/vda15", "vfat", "/boot/efi", 27000, 1500, 0, 0 },
	};
	static const char *const metric[5] = {
		"node_filesystem_size_bytes", "node_filesystem_avail_bytes",
		"node_filesystem_free_bytes", "node_filesystem_files",
		"node_filesystem_files_free",
	};
	double *v[5][3];

	for (int m = 0; m < 5; m++) {
		family(g, metric[m], "gauge", "Filesystem information.");
		for (int f = 0; f < 3; f++)
			v[m][f] = series(g, "", 0, "device=\"%s\",fstype=\"%s\",mountpoint=\"%s\"",
					 fs[f].dev, fs[f].fs, fs[f].mnt);
	}
	for (int f = 0; f < 3; f++) {
		double used = fs[f].used, inodes = fs[f].files * 0.2;

		reseed(g, seed, 300 + (uint64_t)f);
		for (size_t i = 0; i < g->steps; i++) {
			used += (double)poisson(g, fs[f].write * traffic(g, i));
			/* Log rotation frees space once a day. */
			if ((g->start + (int64_t)i * g->interval) % 86400 == 6 * 3600)
				used -= fs[f].write * 8640 * 0.9;
			if (fs[f].files > 0 && rnd(g) % 30 == 0)
				inodes += (double)(rnd(g) % 5) - 1.5 > 0 ? 1 : -1;
			v[0][f][i] = 4096.0 * fs[f].size;
			v[1][f][i] = 4096.0 * (fs[f].size * 0.95 - used);
			v[2][f][i] = 4096.0 * (fs[f].size - used);
			v[3][f][i] = fs[f].files;
			v[4][f][i] = fs[f].files - floor(inodes);
		}
	}
}

static void gen_disk(struct gen *g, uint64_t seed)
{
	static const char *const dev[2] = { "vda", "vdb" };
	static const double weight[2] = { 1.0, 3.0 };
	double *rb[2], wb[2], *wbv[2], *rc[2], *wc[2], *io[2], *rt[2], *wt[2];

	family(g, "node_disk_read_bytes", "counter", "Bytes read successfully.");
	for (int d = 0; d < 2; d++)
		rb[d] = series(g, "_total", 0, "device=\"%s\"", dev[d]);
	family(g, "node_disk_written_bytes", "counter", "Bytes written successfully.");
	for (int d = 0; d < 2; d++)
		wbv[d] = series(g, "_total", 0, "device=\"%s\"", dev[d]);
	family(g, "node_disk_reads_completed", "counter", "Reads completed successfully.");
	for (int d = 0; d < 2; d++)
		rc[d] = series(g, "_total", 0, "device=\"%s\"", dev[d]);
	family(g, "node_disk_writes_completed", "counter", "Writes completed successfully.");
	for (int d = 0; d < 2; d++)
		wc[d] = series(g, "_total", 0, "device=\"%s\"", dev[d]);
	family(g, "node_disk_io_time_seconds", "counter", "Seconds spent doing I/Os.");
	for (int d = 0; d < 2; d++)
		io[d] = series(g, "_total", 3, "device=\"%s\"", dev[d]);
	family(g, "node_disk_read_time_seconds", "counter", "Seconds spent by all reads.");
	for (int d = 0; d < 2; d++)
		rt[d] = series(g, "_total", 3, "device=\"%s\"", dev[d]);
	family(g, "node_disk_write_time_seconds", "counter", "Seconds spent by all writes.");
	for (int d = 0; d < 2; d++)
		wt[d] = series(g, "_total", 3, "device=\"%s\"", dev[d]);
	for (int d = 0; d < 2; d++) {
		double r = 1e9 * weight[d], rcn = 5e4 * weight[d], wcn = 9e5 * weight[d];
		double iot = 2e4 * weight[d], rtt = 3e3 * weight[d], wtt = 4e4 * weight[d];

		wb[d] = 4e10 * weight[d];
		reseed(g, seed, 400 + (uint64_t)d);
		for (size_t i = 0; i < g->steps; i++) {
			double t = traffic(g, i);
			uint64_t reads = rnd(g) % 8 == 0 ? poisson(g, 3 * weight[d]) : 0;
			uint64_t writes = poisson(g, 6 * weight[d] * t);

			rcn += (double)reads;
			wcn += (double)writes;
			r += 512.0 * (double)(reads * (8 + rnd(g) % 24));
			wb[d] += 4096.0 * (double)(writes * (1 + rnd(g) % 6));
			iot += (double)(reads + writes) * (double)(1 + rnd(g) % 3);
			rtt += (double)reads * (double)(1 + rnd(g) % 4);
			wtt += (double)writes * (double)(1 + rnd(g) % 6);
			rb[d][i] = r;
			wbv[d][i] = wb[d];
			rc[d][i] = rcn;
			wc[d][i] = wcn;
			io[d][i] = iot / 1000.0;
			rt[d][i] = rtt / 1000.0;
			wt[d][i] = wtt / 1000.0;
		}
	}
}

static void gen_network(struct gen *g, uint64_t seed, const double *requests)
{
	static const char *const dev[3] = { "eth0", "lo", "docker0" };
	static const char *const fam[8] = {
		"node_network_receive_bytes", "node_network_transmit_bytes",
		"node_network_receive_packets", "node_network_transmit_packets",
		"node_network_receive_errs", "node_network_transmit_errs",
		"node_network_receive_drop", "node_network_transmit_drop",
	};
	double *v[8][3];

	for (int f = 0; f < 8; f++) {
		family(g, fam[f], "counter", "Network device statistic.");
		for (int d = 0; d < 3; d++)
			v[f][d] = series(g, "_total", 0, "device=\"%s\"", dev[d]);
	}
	for (int d = 0; d < 3; d++) {
		double acc[8] = { 0 };

		reseed(g, seed, 500 + (uint64_t)d);
		for (int f = 0; f < 8; f++)
			acc[f] = f < 4 ? (double)(rnd(g) % 1000000000) : (double)(rnd(g) % 50);
		for (size_t i = 0; i < g->steps; i++) {
			double req = requests[i];
			uint64_t rxp, txp;

			if (d == 0) {
				rxp = poisson(g, req * 8 + 30);
				txp = poisson(g, req * 12 + 25);
				acc[0] += (double)rxp * (double)(60 + rnd(g) % 600);
				acc[1] += (double)txp * (double)(200 + rnd(g) % 1300);
			} else if (d == 1) {
				/* mysql and redis on loopback */
				rxp = poisson(g, req * 6 + 10);
				txp = rxp;
				acc[0] += (double)rxp * (double)(100 + rnd(g) % 900);
				acc[1] = acc[0];
			} else {
				rxp = 0;
				txp = rnd(g) % 360 == 0 ? 1 : 0;
				acc[1] += (double)txp * 90;
			}
			acc[2] += (double)rxp;
			acc[3] += (double)txp;
			if (d == 0 && rnd(g) % 20000 == 0)
				acc[6] += (double)(1 + rnd(g) % 3);
			for (int f = 0; f < 8; f++)
				v[f][d][i] = acc[f];
		}
	}
}

static void gen_misc_host(struct gen *g, uint64_t seed)
{
	static const int ports[3] = { 3306, 80, 443 };
	static const double conns[3] = { 12, 4, 25 };
	double *tcp[3], *running, *blocked, *ctx, *intr, *forks, *boot;
	double c = 8e8, in = 6e8, fk = 2e6;

	family(g, "node_tcp_established_connections", "gauge",
	       "Established TCP connections by local port.");
	for (int p = 0; p < 3; p++)
		tcp[p] = series(g, "", 0, "port=\"%d\"", ports[p]);
	family(g, "node_procs_running", "gauge", "Processes in runnable state.");
	running = series(g, "", 0, "%s", "");
	family(g, "node_procs_blocked", "gauge", "Processes blocked waiting for I/O.");
	blocked = series(g, "", 0, "%s", "");
	family(g, "node_context_switches", "counter", "Context switches.");
	ctx = series(g, "_total", 0, "%s", "");
	family(g, "node_intr", "counter", "Interrupts serviced.");
	intr = series(g, "_total", 0, "%s", "");
	family(g, "node_forks", "counter", "Forks since boot.");
	forks = series(g, "_total", 0, "%s", "");
	family(g, "node_boot_time_seconds", "gauge", "Node boot time, in unixtime.");
	boot = series(g, "", 0, "%s", "");

	reseed(g, seed, 600);
	for (size_t i = 0; i < g->steps; i++) {
		double t = traffic(g, i);

		for (int p = 0; p < 3; p++)
			tcp[p][i] = (double)poisson(g, conns[p] * t);
		running[i] = (double)(1 + poisson(g, 0.3 * t));
		blocked[i] = rnd(g) % 50 == 0 ? 1 : 0;
		c += (double)poisson(g, 1500.0 * g->interval * (0.5 + 0.5 * t));
		in += (double)poisson(g, 1000.0 * g->interval * (0.6 + 0.4 * t));
		fk += (double)poisson(g, 0.8 * g->interval * t);
		ctx[i] = c;
		intr[i] = in;
		forks[i] = fk;
		boot[i] = (double)(g->start - 20 * 86400 + 37);
	}
}

/* ---- the application ---- */

static const double duration_le[11] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

struct code_share {
	const char *code;
	double share;
};

static const struct code_share get_codes[] = {
	{ "200", 0.90 }, { "301", 0.01 }, { "302", 0.02 }, { "304", 0.03 }, { "403", 0.002 },
	{ "404", 0.035 }, { "500", 0.002 }, { "502", 0.0005 }, { "503", 0.0005 },
};

static const struct code_share post_codes[] = {
	{ "200", 0.70 }, { "201", 0.05 }, { "204", 0.02 }, { "302", 0.15 }, { "401", 0.01 },
	{ "419", 0.02 }, { "422", 0.04 }, { "429", 0.005 }, { "500", 0.005 },
};

#define N_GET (sizeof(get_codes) / sizeof(get_codes[0]))
#define N_POST (sizeof(post_codes) / sizeof(post_codes[0]))

/* Requests per step (both methods), for the network model. */
static double *gen_http(struct gen *g, uint64_t seed)
{
	static const char *const methods[2] = { "GET", "POST" };
	static const double rate[2] = { 4.0, 0.8 }; /* per second at the daily mean */
	double *req_count[2][16], *bucket[2][12], *sum[2], *count[2];
	double *total = xcalloc(g->steps, sizeof(double));

	family(g, "http_requests", "counter", "HTTP requests by status code and method.");
	for (int m = 0; m < 2; m++) {
		size_t nc = m ? N_POST : N_GET;

		for (size_t k = 0; k < nc; k++)
			req_count[m][k] = series(g, "_total", 0, "code=\"%s\",method=\"%s\"",
						 m ? post_codes[k].code : get_codes[k].code,
						 methods[m]);
	}
	family(g, "http_request_duration_seconds", "histogram",
	       "HTTP request latency from the access log.");
	for (int m = 0; m < 2; m++) {
		for (int b = 0; b < 12; b++) {
			char le[32];

			if (b < 11)
				snprintf(le, sizeof(le), "%g", duration_le[b]);
			else
				snprintf(le, sizeof(le), "+Inf");
			bucket[m][b] = series(g, "_bucket", 0, "method=\"%s\",le=\"%s\"",
					      methods[m], le);
		}
		sum[m] = series(g, "_sum", -1, "method=\"%s\"", methods[m]);
		count[m] = series(g, "_count", 0, "method=\"%s\"", methods[m]);
	}

	for (int m = 0; m < 2; m++) {
		const struct code_share *codes = m ? post_codes : get_codes;
		size_t nc = m ? N_POST : N_GET;
		double cnt[16] = { 0 }, bk[12] = { 0 }, s = 0, n = 0;

		reseed(g, seed, 700 + (uint64_t)m);
		for (size_t i = 0; i < g->steps; i++) {
			uint64_t nreq = poisson(g, rate[m] * g->interval * traffic(g, i));

			for (uint64_t r = 0; r < nreq; r++) {
				double u = unif(g), acc = 0;
				/* log-normal around 80 ms (GET) / 200 ms (POST), in whole ms */
				double ms = round(exp(log(m ? 200.0 : 80.0) + 0.8 * normal(g)));
				size_t k;

				for (k = 0; k + 1 < nc; k++) {
					acc += codes[k].share;
					if (u < acc)
						break;
				}
				cnt[k]++;
				if (ms < 1)
					ms = 1;
				s += ms / 1000.0;
				n++;
				for (int b = 0; b < 12; b++)
					if (b == 11 || ms / 1000.0 <= duration_le[b])
						bk[b]++;
			}
			total[i] += (double)nreq;
			for (size_t k = 0; k < nc; k++)
				req_count[m][k][i] = cnt[k];
			for (int b = 0; b < 12; b++)
				bucket[m][b][i] = bk[b];
			sum[m][i] = s;
			count[m][i] = n;
		}
	}
	return total;
}

/* Flat counters with bursts: a background rate plus incidents that last a few minutes. */
static void flat_bursty(struct gen *g, double *v, size_t steps, double rate, double burst_prob,
			double burst_rate)
{
	double acc = 0;
	size_t burst_left = 0;

	for (size_t i = 0; i < steps; i++) {
		if (!burst_left && unif(g) < burst_prob)
			burst_left = 3 + rnd(g) % 30;
		acc += (double)poisson(g, rate);
		if (burst_left) {
			acc += (double)poisson(g, burst_rate);
			burst_left--;
		}
		v[i] = acc;
	}
}

/* The slow log's Query_time has microseconds; the sum accumulates them in floating point. */
static void gen_slow_histogram(struct gen *g, const double *slow)
{
	static const double le[7] = { 1, 2, 5, 10, 30, 60, 120 };
	double *bucket[8], *sum, *count, bk[8] = { 0 }, s = 0;

	family(g, "mysql_slow_query_duration_seconds", "histogram",
	       "Query_time of slow log entries.");
	for (int b = 0; b < 8; b++) {
		if (b < 7)
			bucket[b] = series(g, "_bucket", 0, "le=\"%g\"", le[b]);
		else
			bucket[b] = series(g, "_bucket", 0, "le=\"+Inf\"");
	}
	sum = series(g, "_sum", -1, "%s", "");
	count = series(g, "_count", 0, "%s", "");
	for (size_t i = 0; i < g->steps; i++) {
		double prev = i ? slow[i - 1] : 0;

		for (double q = prev; q < slow[i]; q++) {
			double us = round(1e6 * (1.0 + 3.0 * -log(unif(g))));

			s += us / 1e6;
			for (int b = 0; b < 8; b++)
				if (b == 7 || us / 1e6 <= le[b])
					bk[b]++;
		}
		for (int b = 0; b < 8; b++)
			bucket[b][i] = bk[b];
		sum[i] = s;
		count[i] = slow[i];
	}
}

/* Kernel counters node_exporter exposes untyped, a few more gauges, and the agent's own. */
static void gen_kernel_and_self(struct gen *g, uint64_t seed)
{
	static const struct {
		const char *name, *type, *labels;
		double start, rate;   /* per second at the daily mean; rate < 0: gauge level */
		int decimals;
	} m[] = {
		{ "node_vmstat_pgfault", "unknown", "", 4e9, 2500, 0 },
		{ "node_vmstat_pgmajfault", "unknown", "", 9e4, 0.002, 0 },
		{ "node_vmstat_pswpin", "unknown", "", 1200, 0, 0 },
		{ "node_vmstat_pswpout", "unknown", "", 3400, 0, 0 },
		{ "node_vmstat_oom_kill", "unknown", "", 0, 0, 0 },
		{ "node_netstat_Tcp_InSegs", "unknown", "", 3e8, 60, 0 },
		{ "node_netstat_Tcp_OutSegs", "unknown", "", 3.2e8, 70, 0 },
		{ "node_netstat_Tcp_RetransSegs", "unknown", "", 4e4, 0.01, 0 },
		{ "node_sockstat_TCP_inuse", "gauge", "", 40, -1, 0 },
		{ "node_sockstat_TCP_tw", "gauge", "", 60, -1, 0 },
		{ "node_sockstat_UDP_inuse", "gauge", "", 4, -1, 0 },
		{ "node_filefd_allocated", "gauge", "", 2300, -1, 0 },
	};
	static const char *const sources[3] = { "laravel", "nginx", "mysql" };
	static const double lines[3] = { 1.6, 5.0, 0.03 };
	double *v, *commits, *written, *rss, *cpu, *tail[3];
	double c = 0, w = 0, r = 3500, cp = 0, tl[3] = { 0 };

	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		double x = m[k].start;

		family(g, m[k].name, m[k].type, "Kernel statistic.");
		v = series(g, "", m[k].decimals, "%s", m[k].labels);
		reseed(g, seed, 1200 + k);
		for (size_t i = 0; i < g->steps; i++) {
			double t = traffic(g, i);

			if (m[k].rate >= 0)
				x += (double)poisson(g, m[k].rate * g->interval * t);
			else
				x = (double)poisson(g, m[k].start * (0.5 + 0.5 * t));
			v[i] = x;
		}
	}
	family(g, "deploywatch_store_commits", "counter", "Store transactions committed.");
	commits = series(g, "_total", 0, "%s", "");
	family(g, "deploywatch_store_samples_written", "counter", "Samples written to the store.");
	written = series(g, "_total", 0, "%s", "");
	family(g, "deploywatch_tail_lines", "counter", "Lines read per source.");
	for (int k = 0; k < 3; k++)
		tail[k] = series(g, "_total", 0, "source=\"%s\"", sources[k]);
	family(g, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	rss = series(g, "", 0, "%s", "");
	family(g, "process_cpu_seconds", "counter", "User and system CPU time spent.");
	cpu = series(g, "_total", 2, "%s", "");
	reseed(g, seed, 1300);
	for (size_t i = 0; i < g->steps; i++) {
		double t = traffic(g, i);

		c += 1;
		w += (double)g->nser;
		r += (double)((int)(rnd(g) % 5) - 2) * (rnd(g) % 20 == 0);
		cp += (double)poisson(g, 0.05 * g->interval * t);
		for (int k = 0; k < 3; k++) {
			tl[k] += (double)poisson(g, lines[k] * g->interval * t);
			tail[k][i] = tl[k];
		}
		commits[i] = c;
		written[i] = w;
		rss[i] = 4096.0 * (r < 1000 ? 1000 : r);
		cpu[i] = cp / 100.0;
	}
}

static void gen_logs(struct gen *g, uint64_t seed)
{
	static const struct {
		const char *level;
		double rate, burst_prob, burst_rate;   /* per step */
	} levels[] = {
		{ "emergency", 0, 0.00001, 0.5 }, { "alert", 0, 0.00001, 0.5 },
		{ "critical", 0, 0.00005, 1 },    { "error", 0.005, 0.0005, 2 },
		{ "warning", 0.05, 0.0005, 3 },   { "notice", 0.01, 0, 0 },
		{ "info", 1.5, 0.001, 5 },        { "debug", 0, 0, 0 },
	};
	static const char *const classes[] = {
		"Illuminate\\\\Database\\\\QueryException",
		"Illuminate\\\\Auth\\\\AuthenticationException",
		"Illuminate\\\\Validation\\\\ValidationException",
		"Symfony\\\\Component\\\\HttpKernel\\\\Exception\\\\NotFoundHttpException",
		"GuzzleHttp\\\\Exception\\\\ConnectException",
		"ErrorException",
		"Illuminate\\\\Session\\\\TokenMismatchException",
		"RedisException",
		"PDOException",
		"App\\\\Exceptions\\\\PaymentGatewayException",
	};
	static const struct {
		const char *level, *subsystem;
		double rate, burst_prob;
	} mysql[] = {
		{ "Note", "Server", 0.001, 0.0002 }, { "Warning", "Server", 0.0005, 0.0002 },
		{ "Warning", "InnoDB", 0.0001, 0.0001 }, { "Error", "Server", 0, 0.00002 },
	};
	const size_t nl = sizeof(levels) / sizeof(levels[0]);
	const size_t nc = sizeof(classes) / sizeof(classes[0]);
	const size_t nm = sizeof(mysql) / sizeof(mysql[0]);
	double *v;

	family(g, "laravel_log_entries", "counter", "Laravel log entries by level.");
	for (size_t k = 0; k < nl; k++) {
		v = series(g, "_total", 0, "level=\"%s\"", levels[k].level);
		reseed(g, seed, 800 + k);
		flat_bursty(g, v, g->steps, levels[k].rate, levels[k].burst_prob,
			    levels[k].burst_rate);
	}
	family(g, "laravel_exceptions", "counter", "Logged exceptions by outermost class.");
	for (size_t k = 0; k < nc; k++) {
		v = series(g, "_total", 0, "class=\"%s\"", classes[k]);
		reseed(g, seed, 900 + k);
		flat_bursty(g, v, g->steps, 0.002 / (double)(k + 1), 0.0003 / (double)(k + 1), 2);
	}
	family(g, "mysql_error_log_entries", "counter", "MySQL error log entries.");
	for (size_t k = 0; k < nm; k++) {
		v = series(g, "_total", 0, "level=\"%s\",subsystem=\"%s\"", mysql[k].level,
			   mysql[k].subsystem);
		reseed(g, seed, 1000 + k);
		flat_bursty(g, v, g->steps, mysql[k].rate, mysql[k].burst_prob, 2);
	}
	family(g, "mysql_slow_queries", "counter", "Queries in the MySQL slow log.");
	v = series(g, "_total", 0, "%s", "");
	reseed(g, seed, 1100);
	flat_bursty(g, v, g->steps, 0.02, 0.0005, 4);
	gen_slow_histogram(g, v);
}

/* ---- output ---- */

static void print_value(FILE *f, double v, int decimals)
{
	char tmp[FMT_DOUBLE_MAX];

	if (decimals >= 0)
		fprintf(f, "%.*f", decimals, v);
	else
		fputs(fmt_double(tmp, v), f);
}

static void print_ts(FILE *f, int64_t ms)
{
	if (ms % 1000)
		fprintf(f, " %lld.%03lld\n", (long long)(ms / 1000), (long long)(ms % 1000));
	else
		fprintf(f, " %lld\n", (long long)(ms / 1000));
}

/* Family by family across hosts: OpenMetrics forbids a family appearing twice. */
static int write_openmetrics(const struct gen *hosts, size_t nhosts, FILE *f)
{
	for (size_t fi = 0; fi < hosts[0].nfam; fi++) {
		const struct gen_family *fm = &hosts[0].fam[fi];

		fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", fm->name, fm->help, fm->name, fm->type);
		for (size_t h = 0; h < nhosts; h++) {
			const struct gen *g = &hosts[h];
			const struct gen_family *hf = &g->fam[fi];

			for (size_t s = hf->first; s < hf->first + hf->count; s++) {
				const struct gen_series *se = &g->ser[s];

				for (size_t i = 0; i < g->steps; i++) {
					fprintf(f, "%s{%s} ", se->name, se->labels);
					print_value(f, se->v[i], se->decimals);
					print_ts(f, g->ts_ms[i]);
				}
			}
		}
	}
	fputs("# EOF\n", f);
	return ferror(f) ? -EIO : 0;
}

static void gen_free(struct gen *g)
{
	for (size_t s = 0; s < g->nser; s++) {
		free(g->ser[s].name);
		free(g->ser[s].labels);
		free(g->ser[s].v);
	}
	free(g->ser);
	free(g->fam);
	free(g->ts_ms);
}

static void usage(FILE *f)
{
	fputs("usage: dw_gen_dataset [--days N] [--interval S] [--series-scale K] [--seed N]\n"
	      "                      [--start UNIX_SECONDS] [--jitter-ms MS] [--out FILE]\n"
	      "Writes a deterministic agent-shaped dataset (about 200 series per scale unit) as\n"
	      "OpenMetrics text with timestamps, ready for\n"
	      "`promtool tsdb create-blocks-from openmetrics FILE DIR` and dw_chunk_bench.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "interval", required_argument, NULL, 'i' },
		{ "series-scale", required_argument, NULL, 's' },
		{ "seed", required_argument, NULL, 'S' },
		{ "start", required_argument, NULL, 't' },
		{ "out", required_argument, NULL, 'o' },
		{ "jitter-ms", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	double days = 7;
	long interval = 10, scale = 1, jitter_ms = 0;
	unsigned long long seed = 42;
	long long start = 1700000000;
	const char *out = NULL;
	FILE *f = stdout;
	struct gen *hosts;
	char *instances;
	int c, err;

	while ((c = getopt_long(argc, argv, "d:i:s:S:t:o:j:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			days = strtod(optarg, NULL);
			break;
		case 'i':
			interval = strtol(optarg, NULL, 10);
			break;
		case 's':
			scale = strtol(optarg, NULL, 10);
			break;
		case 'S':
			seed = strtoull(optarg, NULL, 10);
			break;
		case 't':
			start = strtoll(optarg, NULL, 10);
			break;
		case 'o':
			out = optarg;
			break;
		case 'j':
			jitter_ms = strtol(optarg, NULL, 10);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (!(days > 0 && days <= 366) || interval < 1 || interval > 86400 || scale < 1 ||
	    scale > 100 || jitter_ms < 0 || jitter_ms >= interval * 1000 || optind != argc) {
		usage(stderr);
		return 64;
	}
	start -= start % interval;
	if (out && !(f = fopen(out, "w"))) {
		fprintf(stderr, "dw_gen_dataset: %s: %s\n", out, strerror(errno));
		return 73;
	}

	/* Every host in memory at once (about 100 MB per host for 7 days at 10 s), because the
	 * output is ordered by family across hosts. */
	hosts = xcalloc((size_t)scale, sizeof(*hosts));
	instances = xcalloc((size_t)scale, 32);
	for (long h = 0; h < scale; h++) {
		struct gen *g = &hosts[h];
		uint64_t hseed = seed + (uint64_t)h * 1000003;
		double *requests;

		snprintf(instances + 32 * h, 32, "app-%ld", h + 1);
		g->instance = instances + 32 * h;
		g->interval = (int)interval;
		g->start = start;
		g->steps = (size_t)(days * 86400.0 / (double)interval);
		gen_cpu(g, hseed);
		gen_memory(g, hseed);
		gen_load(g, hseed);
		gen_filesystem(g, hseed);
		gen_disk(g, hseed);
		gen_misc_host(g, hseed);
		requests = gen_http(g, hseed);
		gen_network(g, hseed, requests);
		free(requests);
		gen_logs(g, hseed);
		gen_kernel_and_self(g, hseed);
		g->ts_ms = xmalloc(g->steps * sizeof(*g->ts_ms));
		/* The agent stamps each tick with the time it ran: aligned unless --jitter-ms. */
		reseed(g, hseed, 1400);
		for (size_t i = 0; i < g->steps; i++) {
			int64_t late = 0;

			if (jitter_ms)
				late = (int64_t)(rnd(g) % (uint64_t)(jitter_ms + 1));
			g->ts_ms[i] = (g->start + (int64_t)i * g->interval) * 1000 + late;
		}
	}
	fprintf(stderr, "dw_gen_dataset: %zu series x %zu samples\n", hosts[0].nser * (size_t)scale,
		hosts[0].steps);
	err = write_openmetrics(hosts, (size_t)scale, f);
	for (long h = 0; h < scale; h++)
		gen_free(&hosts[h]);
	free(hosts);
	free(instances);
	if (f != stdout && fclose(f) && !err)
		err = -EIO;
	if (err) {
		fprintf(stderr, "dw_gen_dataset: write failed\n");
		return 74;
	}
	return 0;
}
