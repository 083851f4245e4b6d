/*
 * Fuzz target: the PromQL parser and evaluator. Any input must parse or fail with a positioned
 * message ("L:C: parse error: ..."); whatever parses is evaluated as an instant and a range query
 * over a few fixed series with a small sample limit, and must succeed or fail with one of the
 * engine's error codes — never crash, leak or run away.
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "query/promql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NS 4
#define NP 30

static struct label labels[NS][3] = {
	{ { "__name__", "up" }, { "instance", "a" }, { "job", "x" } },
	{ { "__name__", "up" }, { "instance", "b" }, { "job", "x" } },
	{ { "__name__", "req_total" }, { "code", "200" }, { "job", "x" } },
	{ { "__name__", "req_bucket" }, { "job", "y" }, { "le", "+Inf" } },
};
static int64_t ts[NP];
static double vs[NS][NP];

static void init_data(void)
{
	static int done;

	if (done)
		return;
	done = 1;
	for (int i = 0; i < NP; i++) {
		ts[i] = (int64_t)i * 60000;
		vs[0][i] = i % 2;
		vs[1][i] = i == 7 ? model_stale_nan() : (double)i;
		vs[2][i] = i == 12 ? 3 : (double)(i * 10);
		vs[3][i] = i == 5 ? NAN : i == 9 ? INFINITY : (double)i;
	}
}

static int fz_select(void *ctx, const struct matcher *m, size_t nm, int64_t from, int64_t to,
		     enum promql_want want, uint64_t max_samples,
		     int (*fn)(void *sink, const struct promql_source_series *s), void *sink,
		     char *err, size_t errlen)
{
	(void)ctx;
	for (int s = 0; s < NS; s++) {
		struct promql_source_series out = { labels[s], 3, NULL, NULL, 0 };
		bool ok = true;
		int lo = 0, hi, rc;

		for (size_t i = 0; i < nm && ok; i++) {
			struct model_matcher_prog *p;
			const char *v = model_labels_get(labels[s], 3, m[i].name);

			if (model_matcher_compile(&m[i], &p, err, errlen))
				return -EINVAL;
			ok = model_matcher_matches(p, v ? v : "", v ? strlen(v) : 0);
			model_matcher_prog_free(p);
		}
		if (!ok)
			continue;
		while (lo < NP && ts[lo] < from)
			lo++;
		hi = lo;
		while (hi < NP && ts[hi] <= to)
			hi++;
		if (hi == lo)
			continue;
		if (want != PROMQL_WANT_LABELS) {
			if ((uint64_t)(hi - lo) > max_samples)
				return PROMQL_E_TOO_MANY_SAMPLES;
			out.t_ms = ts + lo;
			out.v = vs[s] + lo;
			out.nsamples = (size_t)(hi - lo);
		}
		rc = fn(sink, &out);
		if (rc)
			return rc;
	}
	return 0;
}

static const struct promql_source_ops fz_ops = { fz_select, NULL, NULL, NULL };

static void check_code(int rc)
{
	switch (rc) {
	case 0:
	case PROMQL_E_BAD_DATA:
	case PROMQL_E_EXECUTION:
	case PROMQL_E_TOO_MANY_SAMPLES:
		return;
	default:
		abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct promql_source src = { &fz_ops, NULL };
	struct promql_limits lim = { .max_samples = 20000 };
	struct promql_expr *e;
	struct promql_result *r;
	char err[512], *s;
	unsigned line, col;
	int rc;

	if (memchr(data, '\0', size))
		return 0;
	init_data();
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	rc = promql_parse(s, &e, err, sizeof(err));
	if (rc) {
		if (rc != PROMQL_E_BAD_DATA || (sscanf(err, "%u:%u: parse error: ", &line, &col) != 2 &&
						strncmp(err, "query too long", 14)))
			abort();
		free(s);
		return 0;
	}
	rc = promql_eval_instant(e, &src, 10 * 60000, &lim, &r, err, sizeof(err));
	check_code(rc);
	if (!rc && r->type != promql_expr_type(e))
		abort();
	promql_result_free(r);
	if (promql_expr_type(e) == PROMQL_TYPE_SCALAR || promql_expr_type(e) == PROMQL_TYPE_VECTOR) {
		rc = promql_eval_range(e, &src, 0, 20 * 60000, 90000, &lim, &r, err, sizeof(err));
		check_code(rc);
		if (!rc && r->type != PROMQL_TYPE_MATRIX)
			abort();
		promql_result_free(r);
	}
	promql_expr_free(e);
	free(s);
	return 0;
}
