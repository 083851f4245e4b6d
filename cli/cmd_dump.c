/* deploywatch dump: print stored samples the way `promtool tsdb dump` does. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/timeparse.h"
#include "query/promql.h"
#include "store/store.h"

#define DUMP_MAX_MATCH 64
#define DUMP_SERIES_PER_TXN 256

struct dump_series {
	struct buf line;   /* "{labels} " prefix of every line of the series */
	FILE *out;
};

static void dump_usage(FILE *out)
{
	fprintf(out, "Usage: deploywatch dump [-c FILE] [--match SELECTOR]... [--from T] [--to T]\n"
		     "\n"
		     "Print every stored sample of the selected series, one per line, as `promtool tsdb\n"
		     "dump` does: {__name__=\"up\", instance=\"x\"} 1 1700000000000 (labels sorted with\n"
		     "__name__ first, the value, the timestamp in milliseconds). Series are in label-set\n"
		     "order, samples in time order. Reads the store read-only: safe while the agent writes.\n"
		     "\n"
		     "Exit codes: 0 ok, 64 bad arguments or selector, 65 not a deploywatch store,\n"
		     "66 no store at storage.path, 74 read error, 78 bad configuration.\n"
		     "\n"
		     "Options:\n"
		     "  -c, --config FILE       configuration file (default: the embedded configuration)\n"
		     "  -m, --match SELECTOR    series selector, repeatable (a union); default all series\n"
		     "      --from T            first timestamp (RFC 3339 or Unix seconds), inclusive\n"
		     "      --to T              last timestamp, inclusive\n"
		     "  -h, --help              show this help\n");
}

/*
 * 'v' as Go's strconv.FormatFloat(v, 'g', -1, 64) prints it, which `promtool tsdb dump` uses:
 * the shortest digits that read back to v, in exponent form when the decimal exponent is below
 * -4 or at least 6 (or at least the digit count when that is smaller and the number is whole):
 * 1.6e+09, 1.23456789e+08, 2.097152e+06, but 123456 and 0.0001. NaN and ±Inf as "NaN", "+Inf",
 * "-Inf". 'out' holds at least 40 bytes.
 */
static const char *fmt_go_g(char out[40], double v)
{
	char e[40], digits[24];
	int p, exp, nd = 0, dp, eprec;
	const char *m;

	if (v != v)
		return "NaN";
	if (v > 1.7976931348623157e308)
		return "+Inf";
	if (v < -1.7976931348623157e308)
		return "-Inf";
	/* The shortest %.*e that round-trips: its digits and exponent. */
	for (p = 0; p < 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p, v);
		if (strtod(e, NULL) == v)
			break;
	}
	m = e + (e[0] == '-');
	for (const char *q = m; *q && *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			digits[nd++] = *q;
	exp = atoi(strchr(e, 'e') + 1);
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	if (v == 0)
		return signbit(v) ? "-0" : "0";
	dp = exp + 1;
	eprec = 6;
	if (eprec > nd && nd >= dp)
		eprec = nd;
	if (exp < -4 || exp >= eprec) {
		/* d[.ddd]e±XX, at least two exponent digits */
		snprintf(out, 40, "%s%c%s%se%c%02d", v < 0 ? "-" : "", digits[0], nd > 1 ? "." : "",
			 digits + 1, exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
		return out;
	}
	snprintf(out, 40, "%.*f", nd - dp > 0 ? nd - dp : 0, v);
	return out;
}

static int print_sample(void *ctx, int64_t t, double v)
{
	struct dump_series *d = ctx;
	char num[40];

	if (fprintf(d->out, "%s %s %lld\n", d->line.data, fmt_go_g(num, v), (long long)t) < 0)
		return -EIO;
	return 0;
}

static void series_prefix(struct buf *b, const struct label *l, size_t n)
{
	buf_reset(b);
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, "%s%s=", i ? ", " : "", l[i].name);
		promql_quote(b, l[i].value, strlen(l[i].value));
	}
	buf_putc(b, '}');
}

/* Series ids of all sets, merged in label order without duplicates (a union of selectors). */
struct pick {
	struct store_series_set *set;
	size_t i;
};

int cmd_dump(int argc, char **argv)
{
	static const struct option options[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "match", required_argument, NULL, 'm' },
		{ "from", required_argument, NULL, 'F' },
		{ "to", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = NULL, *sels[DUMP_MAX_MATCH];
	struct store_series_set *sets[DUMP_MAX_MATCH] = { 0 };
	size_t pos[DUMP_MAX_MATCH] = { 0 }, nsel = 0, since_renew = 0;
	int64_t from = INT64_MIN, to = INT64_MAX;
	struct dump_series d;
	struct store_reader *r = NULL;
	struct config *cfg;
	struct store *st;
	char err[1024];
	int opt, rc, code = EXIT_OK;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":c:m:h", options, NULL)) != -1) {
		switch (opt) {
		case 'c':
			path = optarg;
			break;
		case 'm':
			if (nsel >= DUMP_MAX_MATCH)
				return cli_usage_error("dump", "at most %d --match options",
						       DUMP_MAX_MATCH);
			sels[nsel++] = optarg;
			break;
		case 'F':
		case 'T':
			if (time_parse(optarg, opt == 'F' ? &from : &to))
				return cli_usage_error("dump", "--%s: '%s' is not a time (RFC 3339 such "
						       "as 2026-11-27T17:20:00Z, or Unix seconds)",
						       opt == 'F' ? "from" : "to", optarg);
			break;
		case 'h':
			dump_usage(stdout);
			return EXIT_OK;
		case ':':
			return cli_usage_error("dump", "option '%s' needs a value", argv[optind - 1]);
		default:
			return cli_usage_error("dump", "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("dump", "unexpected argument '%s'", argv[optind]);
	if (from > to)
		return cli_usage_error("dump", "--from is after --to");
	if (!nsel)
		sels[nsel++] = "{__name__=~\".+\"}";

	rc = cli_load_config(path, &cfg);
	if (rc)
		return rc;
	rc = cli_open_store_read("dump", cfg, &st);
	if (rc) {
		config_free(cfg);
		return rc;
	}
	rc = store_reader_begin(st, &r);
	if (rc) {
		fprintf(stderr, "deploywatch dump: %s: %s\n", cfg->storage.path,
			store_last_lmdb_error(st, rc, err, sizeof(err)));
		code = EXIT_IOERR;
		goto out_close;
	}
	for (size_t k = 0; k < nsel; k++) {
		struct matcher *m;
		size_t nm;

		if (promql_parse_selector(sels[k], &m, &nm, err, sizeof(err))) {
			code = cli_usage_error("dump", "--match '%s': %s", sels[k], err);
			goto out_sets;
		}
		rc = store_select(r, m, nm, from, to, &sets[k], err, sizeof(err));
		promql_matchers_free(m, nm);
		if (rc) {
			code = cli_usage_error("dump", "--match '%s': %s", sels[k], err);
			goto out_sets;
		}
	}
	buf_init(&d.line, 0);
	d.out = stdout;
	/* Merge the sorted sets: every series once, in label order. */
	for (;;) {
		const struct label *best = NULL, *l;
		size_t nbest = 0, n, bk = 0;

		for (size_t k = 0; k < nsel; k++) {
			if (pos[k] >= store_series_set_len(sets[k]))
				continue;
			l = store_series_set_labels(sets[k], pos[k], &n);
			if (!best || model_labels_cmp(l, n, best, nbest) < 0) {
				best = l;
				nbest = n;
				bk = k;
			}
		}
		if (!best)
			break;
		series_prefix(&d.line, best, nbest);
		rc = store_read_samples(r, store_series_set_id(sets[bk], pos[bk]), from, to,
					print_sample, &d);
		if (rc) {
			fprintf(stderr, "deploywatch dump: %s: %s\n", cfg->storage.path,
				store_last_lmdb_error(st, rc, err, sizeof(err)));
			code = EXIT_IOERR;
			break;
		}
		for (size_t k = 0; k < nsel; k++) {
			if (pos[k] >= store_series_set_len(sets[k]))
				continue;
			l = store_series_set_labels(sets[k], pos[k], &n);
			if (model_labels_cmp(l, n, best, nbest) == 0 && k != bk)
				pos[k]++;
		}
		pos[bk]++;
		/* A long dump must not pin one snapshot for its whole run while the agent writes
		 * (LMDB cannot reuse pages a reader still sees): take a fresh one now and then. The
		 * series sets own their copies, and a series deleted meanwhile just reads empty. */
		if (++since_renew >= DUMP_SERIES_PER_TXN) {
			since_renew = 0;
			store_reader_end(r);
			r = NULL;
			rc = store_reader_begin(st, &r);
			if (rc) {
				fprintf(stderr, "deploywatch dump: %s: %s\n", cfg->storage.path,
					store_last_lmdb_error(st, rc, err, sizeof(err)));
				code = EXIT_IOERR;
				break;
			}
		}
	}
	buf_release(&d.line);
	if (fflush(stdout) || ferror(stdout)) {
		fprintf(stderr, "deploywatch dump: write error: %s\n", strerror(errno));
		code = EXIT_IOERR;
	}
out_sets:
	for (size_t k = 0; k < nsel; k++)
		store_series_set_free(sets[k]);
	store_reader_end(r);
out_close:
	store_close(st);
	config_free(cfg);
	return code;
}
