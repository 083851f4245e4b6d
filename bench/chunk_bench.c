/*
 * dw_chunk_bench FILE: how small and how fast the chunk codec is on a dataset written by
 * dw_gen_dataset (OpenMetrics text with timestamps, each series' samples contiguous and in time
 * order), read with the import parser deploywatch import uses.
 *
 * For each chunk size it encodes every series in consecutive chunks, decodes them again and
 * checks every sample bit for bit, then prints bytes per sample overall and per metric name,
 * encode and decode throughput, what a zlib stage on top would save, and what re-encoding the
 * store's open head chunk at every tick costs.
 */

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zlib.h>

#include "core/buf.h"
#include "store/chunk.h"
#include "store/import.h"
#include "store/store.h"

#define BENCH_MAX_SIZES 8
#define BENCH_MAX_KEY 4096
#define BENCH_MAX_NAMES 512

struct name_stat {
	char name[128];
	uint64_t samples;
	uint64_t bytes[BENCH_MAX_SIZES];
};

struct bench {
	size_t sizes[BENCH_MAX_SIZES];
	size_t nsizes;
	uint64_t samples, series;
	uint64_t bytes[BENCH_MAX_SIZES], zbytes[BENCH_MAX_SIZES], chunks[BENCH_MAX_SIZES];
	double enc_s[BENCH_MAX_SIZES], dec_s[BENCH_MAX_SIZES];
	double head_s;         /* time spent re-encoding growing head chunks */
	uint64_t head_encodes; /* number of such encodes */
	uint64_t mismatches;
	struct name_stat names[BENCH_MAX_NAMES];
	size_t nnames;
	int64_t *ts, *ts_out;
	double *vals, *vals_out;
	size_t cap;
	struct buf out;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static struct name_stat *name_stat(struct bench *b, const char *name)
{
	for (size_t i = 0; i < b->nnames; i++) {
		if (!strcmp(b->names[i].name, name))
			return &b->names[i];
	}
	if (b->nnames == BENCH_MAX_NAMES)
		return NULL;
	snprintf(b->names[b->nnames].name, sizeof(b->names[0].name), "%s", name);
	return &b->names[b->nnames++];
}

/* Encode k samples from 'off' as one chunk of size class 's', decode and compare. */
static void bench_chunk(struct bench *b, struct name_stat *ns, const char *name, size_t s,
			size_t off, size_t k)
{
	static uint8_t zout[1 << 20];
	uLongf zlen = sizeof(zout);
	size_t got = 0;
	double t0, t1, t2;
	int err;

	buf_reset(&b->out);
	t0 = now_s();
	err = chunk_encode(b->ts + off, b->vals + off, k, &b->out);
	t1 = now_s();
	if (err) {
		fprintf(stderr, "dw_chunk_bench: %s: encode failed: %d\n", name, err);
		exit(1);
	}
	err = chunk_decode((uint8_t *)b->out.data, b->out.len, b->ts_out, b->vals_out,
			   CHUNK_MAX_SAMPLES, &got);
	t2 = now_s();
	if (err || got != k || memcmp(b->ts_out, b->ts + off, k * sizeof(int64_t)) ||
	    memcmp(b->vals_out, b->vals + off, k * sizeof(double)))
		b->mismatches++;
	b->enc_s[s] += t1 - t0;
	b->dec_s[s] += t2 - t1;
	b->bytes[s] += b->out.len;
	b->chunks[s]++;
	if (ns)
		ns->bytes[s] += b->out.len;
	/* A zlib stage that is used only when it saves at least 10 %, plus a flag byte. */
	if (compress2(zout, &zlen, (const Bytef *)b->out.data, b->out.len, 6) == Z_OK &&
	    zlen * 10 <= b->out.len * 9)
		b->zbytes[s] += zlen + 1;
	else
		b->zbytes[s] += b->out.len + 1;
}

/* Encode one series in chunks of every size, and time its first head chunk's growth. */
static void bench_series(struct bench *b, const char *name, size_t n)
{
	struct name_stat *ns = name_stat(b, name);
	size_t head = b->sizes[0] < n ? b->sizes[0] : n;
	double t0;

	b->series++;
	b->samples += n;
	if (ns)
		ns->samples += n;
	for (size_t s = 0; s < b->nsizes; s++) {
		for (size_t off = 0; off < n; off += b->sizes[s])
			bench_chunk(b, ns, name, s, off,
				    n - off < b->sizes[s] ? n - off : b->sizes[s]);
	}

	/* The store re-encodes its open head chunk at every tick, from 1 sample to full. */
	t0 = now_s();
	for (size_t k = 1; k <= head; k++) {
		buf_reset(&b->out);
		if (chunk_encode(b->ts, b->vals, k, &b->out))
			b->mismatches++;
	}
	b->head_s += now_s() - t0;
	b->head_encodes += head;
}

/* The series being read: its labels as "name\0value\0..." and its samples in b->ts/b->vals. */
struct reading {
	struct bench *b;
	char key[BENCH_MAX_KEY];
	size_t key_len;
	size_t n;
	unsigned long malformed;
};

/* Write the sample's labels as "name\0value\0..." into 'out'; returns the length or 0 if too long. */
static size_t series_key(const struct store_import_sample *x, char *out, size_t cap)
{
	size_t len = 0;

	for (size_t i = 0; i < x->nlabels; i++) {
		size_t nl = strlen(x->labels[i].name) + 1, vl = strlen(x->labels[i].value) + 1;

		if (len + nl + vl > cap)
			return 0;
		memcpy(out + len, x->labels[i].name, nl);
		memcpy(out + len + nl, x->labels[i].value, vl);
		len += nl + vl;
	}
	return len;
}

/* One sample from the project's own import parser; a series ends where its labels change. */
static int read_sample(void *ctx, size_t line, const struct store_import_sample *x)
{
	struct reading *r = ctx;
	struct bench *b = r->b;
	char key[BENCH_MAX_KEY];
	size_t len = series_key(x, key, sizeof(key));

	if (!len) {
		fprintf(stderr, "dw_chunk_bench: line %zu: label set longer than %d bytes\n", line,
			BENCH_MAX_KEY);
		return -E2BIG;
	}
	if (len != r->key_len || memcmp(key, r->key, len) || (r->n && x->t_ms <= b->ts[r->n - 1])) {
		/* The name of the finished series is the first value in its key. */
		if (r->n)
			bench_series(b, r->key + sizeof("__name__"), r->n);
		r->n = 0;
		memcpy(r->key, key, len);
		r->key_len = len;
	}
	if (r->n == b->cap) {
		b->cap *= 2;
		b->ts = xrealloc(b->ts, b->cap * sizeof(*b->ts));
		b->vals = xrealloc(b->vals, b->cap * sizeof(*b->vals));
	}
	b->ts[r->n] = x->t_ms;
	b->vals[r->n] = x->v;
	r->n++;
	return 0;
}

static void read_malformed(void *ctx, size_t line, const char *msg)
{
	struct reading *r = ctx;

	fprintf(stderr, "dw_chunk_bench: line %zu: %s\n", line, msg);
	r->malformed++;
}

static void usage(FILE *f)
{
	fputs("usage: dw_chunk_bench [--chunk N]... FILE\n"
	      "Encodes every series of FILE (from dw_gen_dataset) in chunks of N samples\n"
	      "(default: 120, 360, 720, 2048, 4096) and prints bytes/sample and throughput.\n", f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "chunk", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench b;
	static struct reading r;
	static char data[1 << 16];
	struct store_import_parser *parser;
	size_t len;
	FILE *f;
	int c, err = 0;
	double t_start;

	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (b.nsizes == BENCH_MAX_SIZES) {
				usage(stderr);
				return 64;
			}
			b.sizes[b.nsizes] = strtoul(optarg, NULL, 10);
			if (b.sizes[b.nsizes] < 1 || b.sizes[b.nsizes] > CHUNK_MAX_SAMPLES) {
				fprintf(stderr, "dw_chunk_bench: chunk size 1..%d\n",
					CHUNK_MAX_SAMPLES);
				return 64;
			}
			b.nsizes++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	if (optind + 1 != argc) {
		usage(stderr);
		return 64;
	}
	if (!b.nsizes) {
		static const size_t def[] = { 120, 360, 720, 2048, 4096 };

		memcpy(b.sizes, def, sizeof(def));
		b.nsizes = sizeof(def) / sizeof(def[0]);
	}
	f = fopen(argv[optind], "r");
	if (!f) {
		fprintf(stderr, "dw_chunk_bench: %s: %s\n", argv[optind], strerror(errno));
		return 66;
	}
	r.b = &b;
	buf_init(&b.out, 0);
	b.cap = 1 << 16;
	b.ts = xmalloc(b.cap * sizeof(*b.ts));
	b.vals = xmalloc(b.cap * sizeof(*b.vals));
	b.ts_out = xmalloc(CHUNK_MAX_SAMPLES * sizeof(*b.ts_out));
	b.vals_out = xmalloc(CHUNK_MAX_SAMPLES * sizeof(*b.vals_out));

	t_start = now_s();
	parser = store_import_parser_new(STORE_IMPORT_AUTO, read_sample, read_malformed, &r);
	while (!err && (len = fread(data, 1, sizeof(data), f)) > 0)
		err = store_import_parser_feed(parser, data, len);
	if (!err)
		err = store_import_parser_finish(parser);
	store_import_parser_free(parser);
	if (err || r.malformed) {
		fprintf(stderr, "dw_chunk_bench: %s: cannot read the dataset\n", argv[optind]);
		return 65;
	}
	if (r.n)
		bench_series(&b, r.key + sizeof("__name__"), r.n);
	fclose(f);
	if (!b.samples) {
		fprintf(stderr, "dw_chunk_bench: no samples\n");
		return 65;
	}

	printf("dataset: %" PRIu64 " series, %" PRIu64 " samples (%.1f s including parsing)\n\n",
	       b.series, b.samples, now_s() - t_start);
	printf("%-10s %10s %12s %12s %14s %14s\n", "chunk", "chunks", "B/sample", "+zlib",
	       "encode/s", "decode/s");
	for (size_t s = 0; s < b.nsizes; s++)
		printf("%-10zu %10" PRIu64 " %12.4f %12.4f %14.3e %14.3e\n", b.sizes[s],
		       b.chunks[s], (double)b.bytes[s] / (double)b.samples,
		       (double)b.zbytes[s] / (double)b.samples, (double)b.samples / b.enc_s[s],
		       (double)b.samples / b.dec_s[s]);
	printf("\nhead chunk re-encoded at every tick (chunk of %zu): %.2f us per tick per "
	       "series\n", b.sizes[0], b.head_s / (double)b.head_encodes * 1e6);

	printf("\nB/sample per metric name:\n%-48s %10s", "name", "samples");
	for (size_t s = 0; s < b.nsizes; s++)
		printf(" %8zu", b.sizes[s]);
	printf("\n");
	for (size_t i = 0; i < b.nnames; i++) {
		printf("%-48s %10" PRIu64, b.names[i].name, b.names[i].samples);
		for (size_t s = 0; s < b.nsizes; s++)
			printf(" %8.4f", (double)b.names[i].bytes[s] / (double)b.names[i].samples);
		printf("\n");
	}
	if (b.mismatches) {
		printf("\nFAILED: %" PRIu64 " chunks did not round-trip\n", b.mismatches);
		return 1;
	}
	printf("\nall chunks round-trip bit for bit\n");
	free(b.ts);
	free(b.vals);
	free(b.ts_out);
	free(b.vals_out);
	buf_release(&b.out);
	return 0;
}
