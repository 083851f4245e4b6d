/*
 * The PromQL engine from tables: every tests/promql/NAME.test file is run twice, once over an
 * in-memory source and once over a real store in a temporary directory (through
 * promql_source_store_init), and must give the same expected results both times.
 *
 * The format (our own, in the spirit of Prometheus's promql/testdata):
 *
 *   # comment
 *   load 1m                       series, one sample per interval starting at 0
 *     up{job="a"} 1 2 _ 4 stale 0+10x3 5x2
 *                                 _ no sample, stale a stale marker, a+bxN N+1 values from a
 *                                 in steps of b, axN the value a N+1 times
 *   clear                         forget all series
 *   eval instant at 10m EXPR      then one line per expected series: LABELS VALUE
 *     {job="a"} 3                 (order does not matter)
 *     up{job="b"} NaN
 *   eval_ordered instant at 10m EXPR    the same, in this order
 *   eval instant at 10m EXPR      a scalar: "scalar V"; a string: "string TEXT";
 *                                 a range vector: LABELS V@T V@T ... (T in seconds)
 *   eval range from 0 to 10m step 1m EXPR
 *     {job="a"} 1 2 _ 4 ...       one value per step, _ for none
 *   eval_fail instant at 0 EXPR   must fail; optional lines "error TEXT" (exact message) and
 *   eval_fail range from 0 to 1m step 1m EXPR       "type bad_data|execution|timeout|..."
 *   limit max_samples N           limits for the following evals (0: default)
 *   limit lookback 1m
 *   limit deadline_passed 1       a deadline already past (0: none)
 *   limit cancelled 1             a cancel check that says stop (0: none)
 *
 * Times are durations (10m, 1h30m) or plain seconds. Values compare equal when both are NaN, or
 * both infinite with the same sign, or within 1e-9 relative (or 1e-12 absolute).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/model.h"
#include "query/promql.h"
#include "query/promql_int.h"
#include "store/store.h"
#include "store/store_int.h" /* store_test_set_read_batch() */

#ifndef DW_PROMQL_TESTS
#define DW_PROMQL_TESTS "tests/promql"
#endif

/* ---- the in-memory source ---- */

struct mseries {
	struct label *labels;
	size_t nlabels;
	int64_t *t;
	double *v;
	size_t n;
};

struct memsrc {
	struct mseries *s;
	size_t n;
};

static bool series_matches(const struct mseries *s, const struct matcher *m, size_t nm)
{
	for (size_t i = 0; i < nm; i++) {
		struct model_matcher_prog *p;
		const char *v = model_labels_get(s->labels, s->nlabels, m[i].name);
		bool ok;

		if (model_matcher_compile(&m[i], &p, NULL, 0))
			return false;
		ok = model_matcher_matches(p, v ? v : "", v ? strlen(v) : 0);
		model_matcher_prog_free(p);
		if (!ok)
			return false;
	}
	return true;
}

static int mem_select(void *ctx, const struct matcher *m, size_t nm, int64_t from, int64_t to,
		      enum promql_want want, uint64_t max_samples,
		      int (*fn)(void *sink, const struct promql_source_series *s), void *sink,
		      char *err, size_t errlen)
{
	struct memsrc *ms = ctx;

	(void)err;
	(void)errlen;
	for (size_t i = 0; i < ms->n; i++) {
		const struct mseries *s = &ms->s[i];
		struct promql_source_series out = { s->labels, s->nlabels, NULL, NULL, 0 };
		size_t lo = 0, hi;
		int rc;

		if (!series_matches(s, m, nm))
			continue;
		while (lo < s->n && s->t[lo] < from)
			lo++;
		hi = lo;
		while (hi < s->n && s->t[hi] <= to)
			hi++;
		if (hi == lo)
			continue;
		if (want != PROMQL_WANT_LABELS) {
			if (hi - lo > max_samples)
				return PROMQL_E_TOO_MANY_SAMPLES;
			out.t_ms = s->t + lo;
			out.v = s->v + lo;
			out.nsamples = hi - lo;
		}
		rc = fn(sink, &out);
		if (rc)
			return rc;
	}
	return 0;
}

static int mem_label_names(void *ctx, const struct matcher *m, size_t nm, int64_t from,
			   int64_t to, int (*fn)(void *sink, const char *name), void *sink,
			   char *err, size_t errlen)
{
	(void)ctx, (void)m, (void)nm, (void)from, (void)to, (void)fn, (void)sink, (void)err;
	(void)errlen;
	return -ENOTSUP;
}

static int mem_label_values(void *ctx, const char *name, const struct matcher *m, size_t nm,
			    int64_t from, int64_t to, int (*fn)(void *sink, const char *value),
			    void *sink, char *err, size_t errlen)
{
	(void)ctx, (void)name, (void)m, (void)nm, (void)from, (void)to, (void)fn, (void)sink;
	(void)err, (void)errlen;
	return -ENOTSUP;
}

static const struct promql_source_ops mem_ops = { mem_select, mem_label_names, mem_label_values,
						     NULL };

static void memsrc_clear(struct memsrc *ms)
{
	for (size_t i = 0; i < ms->n; i++) {
		for (size_t j = 0; j < ms->s[i].nlabels; j++) {
			free((char *)ms->s[i].labels[j].name);
			free((char *)ms->s[i].labels[j].value);
		}
		free(ms->s[i].labels);
		free(ms->s[i].t);
		free(ms->s[i].v);
	}
	free(ms->s);
	ms->s = NULL;
	ms->n = 0;
}

/* ---- parsing the test files ---- */

struct run {
	const char *file;
	int line;          /* the line being read */
	int at;            /* the line a failure is reported at */
	bool use_store;
	struct memsrc mem;
	char dir[256];
	struct store *st;
	struct promql_limits lim;
	int failures;
};

static void __attribute__((format(printf, 2, 3))) failf(struct run *r, const char *fmt, ...)
{
	va_list ap;

	fprintf(stdout, "%s:%d [%s]: ", r->file, r->at, r->use_store ? "store" : "memory");
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	r->failures++;
}

static bool always_cancelled(void *ctx)
{
	(void)ctx;
	return true;
}

static bool parse_time(const char *s, int64_t *ms)
{
	char *end;
	double v;

	if (promql_parse_duration(s, strlen(s), ms))
		return true;
	v = strtod(s, &end);
	if (*end || end == s)
		return false;
	*ms = (int64_t)llround(v * 1000);
	return true;
}

static bool parse_value(const char *s, double *v)
{
	char *end;

	if (!strcmp(s, "stale")) {
		*v = model_stale_nan();
		return true;
	}
	if (!strcmp(s, "NaN")) {
		*v = NAN;
		return true;
	}
	if (!strcmp(s, "Inf") || !strcmp(s, "+Inf")) {
		*v = INFINITY;
		return true;
	}
	if (!strcmp(s, "-Inf")) {
		*v = -INFINITY;
		return true;
	}
	*v = strtod(s, &end);
	return *s && !*end;
}

/* Split "LABELS rest": the label part ends after its closing brace, or at white space. */
static char *split_labels(char *line, char **rest)
{
	char *p;

	while (*line == ' ' || *line == '\t')
		line++;
	p = line;
	while (*p && *p != ' ' && *p != '\t' && *p != '{')
		p++;
	if (*p == '{') {
		char q = 0;

		for (p++; *p; p++) {
			if (q) {
				if (*p == '\\' && p[1])
					p++;
				else if (*p == q)
					q = 0;
				continue;
			}
			if (*p == '"' || *p == '\'' || *p == '`')
				q = *p;
			else if (*p == '}') {
				p++;
				break;
			}
		}
	}
	if (*p)
		*p++ = '\0';
	*rest = p;
	return line;
}

/* Labels from a selector-like text: all matchers must be equalities; "{}" is the empty set. */
static bool parse_labels(const char *s, struct label **out, size_t *n)
{
	struct matcher *m;
	size_t nm;
	char err[256];

	*out = NULL;
	*n = 0;
	if (!strcmp(s, "{}"))
		return true;
	if (promql_parse_selector(s, &m, &nm, err, sizeof(err))) {
		printf("bad labels %s: %s\n", s, err);
		return false;
	}
	*out = xcalloc(nm + 1, sizeof(**out));
	for (size_t i = 0; i < nm; i++) {
		if (!m[i].value[0])
			continue;
		(*out)[*n].name = xstrdup(m[i].name);
		(*out)[*n].value = xstrdup(m[i].value);
		(*n)++;
	}
	promql_matchers_free(m, nm);
	model_labels_sort(*out, *n);
	return true;
}

static void labels_free(struct label *l, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)l[i].name);
		free((char *)l[i].value);
	}
	free(l);
}

static void load_line(struct run *r, char *line, int64_t interval)
{
	char *rest, *tok, *save;
	struct mseries s = { 0 };
	size_t cap = 0;
	int64_t t = 0;
	char *sel = split_labels(line, &rest);

	if (!parse_labels(sel, &s.labels, &s.nlabels)) {
		failf(r, "bad series %s", sel);
		return;
	}
	for (tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		double a, b = 0, v;
		long cnt = 0;
		char *x = strchr(tok, 'x');

		if (x) {
			char *plus;

			*x = '\0';
			cnt = strtol(x + 1, NULL, 10);
			plus = strchr(tok + 1, '+');
			if (!plus)
				plus = strchr(tok + 1, '-');
			if (plus) {
				b = strtod(plus, NULL);
				*plus = '\0';
			}
		}
		if (!strcmp(tok, "_")) {
			t += interval * (cnt + 1);
			continue;
		}
		if (!parse_value(tok, &a)) {
			failf(r, "bad value %s", tok);
			return;
		}
		for (long i = 0; i <= cnt; i++) {
			v = model_is_stale(a) ? a : a + b * (double)i;
			if (s.n == cap) {
				cap = cap ? cap * 2 : 64;
				s.t = xrealloc(s.t, cap * sizeof(*s.t));
				s.v = xrealloc(s.v, cap * sizeof(*s.v));
			}
			s.t[s.n] = t;
			s.v[s.n] = v;
			s.n++;
			t += interval;
		}
	}
	r->mem.s = xrealloc(r->mem.s, (r->mem.n + 1) * sizeof(*r->mem.s));
	r->mem.s[r->mem.n++] = s;
}

/* Write the in-memory series into a fresh store (the store path of the same tests). */
static void sync_store(struct run *r)
{
	struct store_options opt = { 0 };
	struct store_batch *b;
	char err[256];
	int rc;

	if (r->st) {
		store_close(r->st);
		r->st = NULL;
	}
	snprintf(r->dir, sizeof(r->dir), "/tmp/dw-promql-test-XXXXXX");
	assert_non_null(mkdtemp(r->dir));
	opt.path = r->dir;
	opt.retention_ms = INT64_MAX / 4;
	opt.decode_helpers = 2;
	rc = store_open(&opt, &r->st, err, sizeof(err));
	if (rc)
		fail_msg("store_open: %s", err);
	/* Tiny read batches handed to the helpers: every table runs through the store's batched,
	 * read-ahead, multi-threaded path, and must give the in-memory source's answers. */
	store_test_set_read_batch(r->st, 7, 2);
	b = store_batch_new();
	for (size_t i = 0; i < r->mem.n; i++)
		for (size_t j = 0; j < r->mem.s[i].n; j++)
			assert_int_equal(store_batch_add(b, r->mem.s[i].labels, r->mem.s[i].nlabels,
							 METRIC_GAUGE, r->mem.s[i].t[j],
							 r->mem.s[i].v[j]),
					 0);
	assert_int_equal(store_commit(r->st, b, NULL), 0);
	store_batch_free(b);
}

static void store_cleanup(struct run *r)
{
	char cmd[300];

	if (!r->st)
		return;
	store_close(r->st);
	r->st = NULL;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
	if (system(cmd) != 0)
		printf("could not remove %s\n", r->dir);
}

static bool value_eq(double a, double b)
{
	if (isnan(a) || isnan(b))
		return isnan(a) && isnan(b);
	if (isinf(a) || isinf(b))
		return a == b;
	if (fabs(a - b) <= 1e-12)
		return true;
	return fabs(a - b) <= 1e-9 * fmax(fabs(a), fabs(b));
}

struct expect {
	struct label *labels;
	size_t nlabels;
	double *v;         /* values (range: per step; matrix: points) */
	int64_t *t;        /* matrix points' times */
	bool *present;
	size_t n;
	bool used;
};

static void fmt_labels(struct buf *b, const struct label *l, size_t n)
{
	buf_putc(b, '{');
	for (size_t i = 0; i < n; i++) {
		buf_printf(b, "%s%s=", i ? "," : "", l[i].name);
		promql_quote(b, l[i].value, strlen(l[i].value));
	}
	buf_putc(b, '}');
}

static void dump_result(const struct promql_result *res)
{
	struct buf b;
	char num[FMT_DOUBLE_MAX];

	buf_init(&b, 0);
	buf_printf(&b, "  got %s:", promql_type_name(res->type));
	if (res->type == PROMQL_TYPE_SCALAR)
		buf_printf(&b, " %s", fmt_double(num, res->scalar.v));
	for (size_t i = 0; i < res->nseries; i++) {
		buf_puts(&b, "\n    ");
		fmt_labels(&b, res->series[i].labels, res->series[i].nlabels);
		for (size_t j = 0; j < res->series[i].npoints; j++)
			buf_printf(&b, " %s@%lld", fmt_double(num, res->series[i].points[j].v),
				   (long long)res->series[i].points[j].t_ms);
	}
	printf("%s\n", b.data);
	buf_release(&b);
}

struct eval_case {
	bool range, ordered, fail;
	int64_t start, end, step;
	char *expr;
	struct expect *ex;
	size_t nex;
	bool have_scalar, have_string;
	double scalar;
	char *string;
	char *error;
	char *type;
	int line;
};

static void check_result(struct run *r, struct eval_case *c, const struct promql_result *res)
{
	bool ok = true;

	if (c->have_scalar) {
		if (res->type != PROMQL_TYPE_SCALAR || !value_eq(res->scalar.v, c->scalar))
			ok = false;
	} else if (c->have_string) {
		if (res->type != PROMQL_TYPE_STRING || strcmp(res->string, c->string))
			ok = false;
	} else {
		size_t npresent = 0;

		if (res->type == PROMQL_TYPE_SCALAR || res->type == PROMQL_TYPE_STRING)
			ok = false;
		for (size_t i = 0; i < c->nex; i++)
			c->ex[i].used = false;
		for (size_t i = 0; ok && i < res->nseries; i++) {
			const struct promql_series *s = &res->series[i];
			struct expect *e = NULL;

			if (c->ordered) {
				e = i < c->nex ? &c->ex[i] : NULL;
				if (e && model_labels_cmp(e->labels, e->nlabels, s->labels, s->nlabels))
					e = NULL;
			} else {
				for (size_t j = 0; j < c->nex && !e; j++)
					if (!c->ex[j].used &&
					    !model_labels_cmp(c->ex[j].labels, c->ex[j].nlabels,
							      s->labels, s->nlabels))
						e = &c->ex[j];
			}
			if (!e) {
				ok = false;
				break;
			}
			e->used = true;
			if (c->range) {
				size_t j = 0, nsteps = (size_t)((c->end - c->start) / c->step) + 1;

				/* exactly the expected steps, each with its value */
				for (size_t k = 0; ok && k < nsteps; k++) {
					int64_t t = c->start + (int64_t)k * c->step;
					bool want = k < e->n && e->present[k];
					bool got = j < s->npoints && s->points[j].t_ms == t;

					if (want != got || (got && !value_eq(s->points[j].v, e->v[k])))
						ok = false;
					j += got;
				}
				if (j != s->npoints || e->n > nsteps)
					ok = false;
			} else if (res->type == PROMQL_TYPE_MATRIX) {
				if (s->npoints != e->n)
					ok = false;
				for (size_t j = 0; ok && j < e->n; j++)
					if (s->points[j].t_ms != e->t[j] ||
					    !value_eq(s->points[j].v, e->v[j]))
						ok = false;
			} else {
				if (s->npoints != 1 || s->points[0].t_ms != c->start ||
				    !value_eq(s->points[0].v, e->v[0]))
					ok = false;
			}
		}
		for (size_t i = 0; i < c->nex; i++)
			npresent += c->ex[i].used;
		if (npresent != c->nex)
			ok = false;
	}
	if (!ok) {
		r->at = c->line;
		failf(r, "wrong result for %s", c->expr);
		dump_result(res);
	}
}

static void run_case(struct run *r, struct eval_case *c)
{
	struct promql_expr *e = NULL;
	struct promql_result *res = NULL;
	struct promql_source src;
	struct store_reader *rd = NULL;
	char err[512] = "";
	int rc;

	r->at = c->line;
	rc = promql_parse(c->expr, &e, err, sizeof(err));
	if (!rc) {
		if (r->use_store) {
			assert_int_equal(store_reader_begin(r->st, &rd), 0);
			promql_source_store_init(&src, rd);
		} else {
			src.ops = &mem_ops;
			src.ctx = &r->mem;
		}
		if (c->range)
			rc = promql_eval_range(e, &src, c->start, c->end, c->step, &r->lim, &res, err,
					       sizeof(err));
		else
			rc = promql_eval_instant(e, &src, c->start, &r->lim, &res, err,
						 sizeof(err));
		if (rd)
			store_reader_end(rd);
	}
	if (c->fail) {
		if (!rc) {
			failf(r, "expected an error for %s", c->expr);
			dump_result(res);
		} else {
			if (c->error && strcmp(err, c->error))
				failf(r, "%s:\n  got error  %s\n  want error %s", c->expr, err,
				      c->error);
			if (c->type && strcmp(promql_error_type(rc), c->type))
				failf(r, "%s: got error type %s, want %s (%s)", c->expr,
				      promql_error_type(rc), c->type, err);
		}
	} else if (rc) {
		failf(r, "%s: unexpected error: %s", c->expr, err);
	} else {
		check_result(r, c, res);
	}
	promql_result_free(res);
	promql_expr_free(e);
}

static void case_free(struct eval_case *c)
{
	for (size_t i = 0; i < c->nex; i++) {
		labels_free(c->ex[i].labels, c->ex[i].nlabels);
		free(c->ex[i].v);
		free(c->ex[i].t);
		free(c->ex[i].present);
	}
	free(c->ex);
	free(c->expr);
	free(c->string);
	free(c->error);
	free(c->type);
	memset(c, 0, sizeof(*c));
}

/* Parse "instant at T EXPR" or "range from A to B step S EXPR". */
static bool parse_eval_head(struct run *r, char *s, struct eval_case *c)
{
	char w1[32], w2[32], w3[32];
	int n = 0;

	if (sscanf(s, "instant at %31s %n", w1, &n) == 1 && n) {
		c->range = false;
		if (!parse_time(w1, &c->start))
			return false;
		c->end = c->start;
		c->expr = xstrdup(s + n);
		return true;
	}
	if (sscanf(s, "range from %31s to %31s step %31s %n", w1, w2, w3, &n) == 3 && n) {
		c->range = true;
		if (!parse_time(w1, &c->start) || !parse_time(w2, &c->end) ||
		    !parse_time(w3, &c->step))
			return false;
		c->expr = xstrdup(s + n);
		return true;
	}
	failf(r, "bad eval line");
	return false;
}

static void expect_line(struct run *r, struct eval_case *c, char *line)
{
	char *rest, *tok, *save, *sel;
	struct expect e = { 0 };
	size_t cap = 0;

	while (*line == ' ' || *line == '\t')
		line++;
	if (!strncmp(line, "scalar ", 7)) {
		c->have_scalar = parse_value(line + 7, &c->scalar);
		return;
	}
	if (!strncmp(line, "string ", 7)) {
		c->have_string = true;
		c->string = xstrdup(line + 7);
		return;
	}
	if (!strncmp(line, "error ", 6)) {
		c->error = xstrdup(line + 6);
		return;
	}
	if (!strncmp(line, "type ", 5)) {
		c->type = xstrdup(line + 5);
		return;
	}
	sel = split_labels(line, &rest);
	if (!parse_labels(sel, &e.labels, &e.nlabels)) {
		failf(r, "bad labels");
		return;
	}
	for (tok = strtok_r(rest, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		char *at = strchr(tok, '@');

		if (e.n == cap) {
			cap = cap ? cap * 2 : 16;
			e.v = xrealloc(e.v, cap * sizeof(*e.v));
			e.t = xrealloc(e.t, cap * sizeof(*e.t));
			e.present = xrealloc(e.present, cap * sizeof(*e.present));
		}
		e.t[e.n] = 0;
		if (at) {
			*at = '\0';
			if (!parse_time(at + 1, &e.t[e.n]))
				failf(r, "bad time %s", at + 1);
		}
		e.present[e.n] = strcmp(tok, "_") != 0;
		if (e.present[e.n] && !parse_value(tok, &e.v[e.n]))
			failf(r, "bad value %s", tok);
		e.n++;
	}
	c->ex = xrealloc(c->ex, (c->nex + 1) * sizeof(*c->ex));
	c->ex[c->nex++] = e;
}

static void run_file(const char *path, bool use_store, int *failures)
{
	FILE *f = fopen(path, "r");
	struct run r = { .file = path, .use_store = use_store };
	struct eval_case c = { 0 };
	bool in_case = false, loading = false, dirty = true; /* the store starts empty */
	int64_t interval = 0;
	char line[8192];

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		bool indented = line[0] == ' ' || line[0] == '\t';

		r.line++;
		r.at = r.line;
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (indented && len && strspn(line, " \t") < len && line[strspn(line, " \t")] != '#') {
			if (loading) {
				load_line(&r, line, interval);
				dirty = true;
			} else if (in_case) {
				expect_line(&r, &c, line);
			}
			continue;
		}
		if (in_case) {
			if (use_store && dirty) {
				sync_store(&r);
				dirty = false;
			}
			run_case(&r, &c);
			case_free(&c);
			in_case = false;
		}
		loading = false;
		if (!len || line[0] == '#')
			continue;
		if (!strncmp(line, "load ", 5)) {
			if (!parse_time(line + 5, &interval))
				failf(&r, "bad interval");
			loading = true;
		} else if (!strcmp(line, "clear")) {
			memsrc_clear(&r.mem);
			dirty = true;
		} else if (!strncmp(line, "eval", 4)) {
			char *sp = strchr(line, ' ');

			if (!sp)
				continue;
			*sp = '\0';
			c.ordered = !strcmp(line, "eval_ordered");
			c.fail = !strcmp(line, "eval_fail");
			c.line = r.line;
			if (parse_eval_head(&r, sp + 1, &c))
				in_case = true;
		} else if (!strncmp(line, "limit ", 6)) {
			char what[32];
			char val[32];

			if (sscanf(line + 6, "%31s %31s", what, val) == 2) {
				int64_t ms;

				if (!strcmp(what, "max_samples"))
					r.lim.max_samples = strtoull(val, NULL, 10);
				else if (!strcmp(what, "lookback") && parse_time(val, &ms))
					r.lim.lookback_ms = ms;
				else if (!strcmp(what, "deadline_passed"))
					/* 1 ns after the monotonic clock's start: always past */
					r.lim.deadline_ns = atoi(val) ? 1 : 0;
				else if (!strcmp(what, "cancelled"))
					r.lim.cancelled = atoi(val) ? always_cancelled : NULL;
				else
					failf(&r, "bad limit");
			}
		} else {
			failf(&r, "unknown command: %s", line);
		}
	}
	if (in_case) {
		if (use_store && dirty)
			sync_store(&r);
		run_case(&r, &c);
		case_free(&c);
	}
	fclose(f);
	memsrc_clear(&r.mem);
	store_cleanup(&r);
	*failures += r.failures;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_files(void **state)
{
	const bool use_store = *state != NULL;
	DIR *d = opendir(DW_PROMQL_TESTS);
	struct dirent *de;
	char *names[256];
	size_t n = 0;
	int failures = 0;

	assert_non_null(d);
	while ((de = readdir(d)) && n < 256) {
		size_t len = strlen(de->d_name);

		if (len > 5 && !strcmp(de->d_name + len - 5, ".test")) {
			char path[1024];

			snprintf(path, sizeof(path), "%s/%s", DW_PROMQL_TESTS, de->d_name);
			names[n++] = xstrdup(path);
		}
	}
	closedir(d);
	assert_true(n > 0);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		run_file(names[i], use_store, &failures);
		free(names[i]);
	}
	assert_int_equal(failures, 0);
}

/* ---- the store source's own functions ---- */

struct collect {
	struct buf b;
	size_t series, samples;
};

static int collect_str(void *sink, const char *s)
{
	struct collect *c = sink;

	buf_printf(&c->b, "%s,", s);
	return 0;
}

static int collect_series(void *sink, const struct promql_source_series *s)
{
	struct collect *c = sink;

	c->series++;
	c->samples += s->nsamples;
	for (size_t i = 0; i < s->nsamples; i++)
		buf_printf(&c->b, "%s@%lld=%g,", model_labels_get(s->labels, s->nlabels, "i"),
			   (long long)s->t_ms[i], s->v[i]);
	return 0;
}

static int stop_at_first(void *sink, const struct promql_source_series *s)
{
	(void)sink;
	(void)s;
	return 42;
}

static void test_store_source(void **state)
{
	struct run r = { .file = "store source" };
	struct store_batch *b = store_batch_new();
	struct store_reader *rd;
	struct promql_source src;
	struct label l1[] = { { "__name__", "m" }, { "i", "1" }, { "job", "a" } };
	struct label l2[] = { { "__name__", "m" }, { "i", "2" }, { "job", "b" } };
	struct label l3[] = { { "__name__", "other" }, { "i", "3" }, { "zone", "z" } };
	struct matcher mm[] = { { "__name__", MATCH_EQ, "m" } };
	struct matcher mjob[] = { { "job", MATCH_RE, "a|b" }, { "i", MATCH_NEQ, "2" } };
	struct matcher mall[] = { { "__name__", MATCH_RE, ".+" } };
	struct matcher mbad[] = { { "i", MATCH_RE, "(" } };
	struct matcher mempty[] = { { "i", MATCH_EQ, "" } };
	struct collect c = { 0 };
	char err[256];

	(void)state;
	sync_store(&r); /* an empty store in a temp dir */
	for (int t = 0; t < 5; t++) {
		assert_int_equal(store_batch_add(b, l1, 3, METRIC_GAUGE, t * 1000, t), 0);
		assert_int_equal(store_batch_add(b, l2, 3, METRIC_GAUGE, t * 1000, 10 + t), 0);
	}
	assert_int_equal(store_batch_add(b, l3, 3, METRIC_COUNTER, 9000, 7), 0);
	assert_int_equal(store_commit(r.st, b, NULL), 0);
	store_batch_free(b);
	assert_int_equal(store_reader_begin(r.st, &rd), 0);
	promql_source_store_init(&src, rd);

	/* samples in [1s, 3s] of both m series, in time order */
	buf_init(&c.b, 0);
	assert_int_equal(src.ops->select(src.ctx, mm, 1, 1000, 3000, true, 100, collect_series, &c,
					 err, sizeof(err)),
			 0);
	assert_int_equal(c.series, 2);
	assert_string_equal(c.b.data, "1@1000=1,1@2000=2,1@3000=3,2@1000=11,2@2000=12,2@3000=13,");
	/* without samples; a time range with no samples selects nothing */
	c.series = c.samples = 0;
	assert_int_equal(src.ops->select(src.ctx, mm, 1, INT64_MIN, INT64_MAX, false, 0,
					 collect_series, &c, err, sizeof(err)),
			 0);
	assert_int_equal(c.series, 2);
	assert_int_equal(c.samples, 0);
	c.series = 0;
	assert_int_equal(src.ops->select(src.ctx, mm, 1, 6000, 8000, true, 100, collect_series, &c,
					 err, sizeof(err)),
			 0);
	assert_int_equal(c.series, 0);
	/* the sample bound of one call, a callback's stop, a bad regex */
	assert_int_equal(src.ops->select(src.ctx, mm, 1, INT64_MIN, INT64_MAX, true, 4,
					 collect_series, &c, err, sizeof(err)),
			 PROMQL_E_TOO_MANY_SAMPLES);
	assert_int_equal(src.ops->select(src.ctx, mm, 1, INT64_MIN, INT64_MAX, true, 100,
					 stop_at_first, &c, err, sizeof(err)),
			 42);
	assert_int_equal(src.ops->select(src.ctx, mbad, 1, INT64_MIN, INT64_MAX, true, 100,
					 collect_series, &c, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "regex"));
	assert_int_equal(src.ops->select(src.ctx, mempty, 1, INT64_MIN, INT64_MAX, true, 100,
					 collect_series, &c, err, sizeof(err)),
			 -EINVAL);

	/* label names and values: all, then of matching series */
	buf_reset(&c.b);
	assert_int_equal(src.ops->label_names(src.ctx, NULL, 0, INT64_MIN, INT64_MAX, collect_str,
					      &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.b.data, "__name__,i,job,zone,");
	buf_reset(&c.b);
	assert_int_equal(src.ops->label_names(src.ctx, mall, 1, 8000, INT64_MAX, collect_str, &c,
					      err, sizeof(err)),
			 0);
	assert_string_equal(c.b.data, "__name__,i,zone,");
	buf_reset(&c.b);
	assert_int_equal(src.ops->label_values(src.ctx, "i", NULL, 0, INT64_MIN, INT64_MAX,
					       collect_str, &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.b.data, "1,2,3,");
	buf_reset(&c.b);
	assert_int_equal(src.ops->label_values(src.ctx, "i", mjob, 2, INT64_MIN, INT64_MAX,
					       collect_str, &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.b.data, "1,");
	buf_reset(&c.b);
	assert_int_equal(src.ops->label_values(src.ctx, "__name__", mall, 1, INT64_MIN, INT64_MAX,
					       collect_str, &c, err, sizeof(err)),
			 0);
	assert_string_equal(c.b.data, "m,other,");

	/* A result owns all it points to: it outlives the reader, the store and the expression. */
	{
		struct promql_expr *e;
		struct promql_result *res;

		assert_int_equal(promql_parse("sum by (job) (m)", &e, err, sizeof(err)), 0);
		assert_int_equal(promql_expr_type(e), PROMQL_TYPE_VECTOR);
		assert_int_equal(promql_eval_instant(e, &src, 4000, NULL, &res, err, sizeof(err)), 0);
		store_reader_end(rd);
		promql_expr_free(e);
		store_cleanup(&r);
		assert_int_equal(res->type, PROMQL_TYPE_VECTOR);
		assert_int_equal(res->nseries, 2);
		assert_string_equal(res->series[0].labels[0].value, "a");
		assert_true(res->series[0].points[0].v == 4);
		assert_true(res->samples_loaded >= 2);
		promql_result_free(res);
	}
	buf_release(&c.b);
	memsrc_clear(&r.mem);
}

static void test_api_names(void **state)
{
	struct promql_expr *e;
	char err[128];

	(void)state;
	assert_string_equal(promql_type_name(PROMQL_TYPE_SCALAR), "scalar");
	assert_string_equal(promql_type_name(PROMQL_TYPE_VECTOR), "vector");
	assert_string_equal(promql_type_name(PROMQL_TYPE_MATRIX), "matrix");
	assert_string_equal(promql_type_name(PROMQL_TYPE_STRING), "string");
	assert_string_equal(promql_error_type(PROMQL_E_BAD_DATA), "bad_data");
	assert_string_equal(promql_error_type(PROMQL_E_EXECUTION), "execution");
	assert_string_equal(promql_error_type(PROMQL_E_TOO_MANY_SAMPLES), "execution");
	assert_string_equal(promql_error_type(PROMQL_E_TIMEOUT), "timeout");
	assert_string_equal(promql_error_type(PROMQL_E_CANCELED), "canceled");
	assert_string_equal(promql_error_type(PROMQL_E_SOURCE), "internal");
	assert_non_null(strstr(err_str(PROMQL_E_TIMEOUT), "timed out"));
	/* Grafana's health check is a scalar; a range selector is a matrix. */
	assert_int_equal(promql_parse("1+1", &e, err, sizeof(err)), 0);
	assert_int_equal(promql_expr_type(e), PROMQL_TYPE_SCALAR);
	promql_expr_free(e);
	assert_int_equal(promql_parse("up[5m]", &e, err, sizeof(err)), 0);
	assert_int_equal(promql_expr_type(e), PROMQL_TYPE_MATRIX);
	promql_expr_free(e);
	assert_int_equal(promql_parse("\"x\"", &e, err, sizeof(err)), 0);
	assert_int_equal(promql_expr_type(e), PROMQL_TYPE_STRING);
	promql_expr_free(e);
	/* a zero-length error buffer is allowed; nesting and length are capped */
	assert_int_equal(promql_parse("(", &e, NULL, 0), PROMQL_E_BAD_DATA);
	assert_null(e);
	{
		struct buf b;

		buf_init(&b, 0);
		for (int i = 0; i < PROMQL_MAX_DEPTH + 1; i++)
			buf_putc(&b, '(');
		buf_putc(&b, '1');
		for (int i = 0; i < PROMQL_MAX_DEPTH + 1; i++)
			buf_putc(&b, ')');
		assert_int_equal(promql_parse(b.data, &e, err, sizeof(err)), PROMQL_E_BAD_DATA);
		assert_non_null(strstr(err, "nests too deeply"));
		/* a long chain nests as deeply as parentheses do */
		buf_reset(&b);
		buf_putc(&b, '1');
		for (int i = 0; i < PROMQL_MAX_DEPTH + 1; i++)
			buf_puts(&b, "+1");
		assert_int_equal(promql_parse(b.data, &e, err, sizeof(err)), PROMQL_E_BAD_DATA);
		assert_non_null(strstr(err, "nests too deeply"));
		buf_reset(&b);
		buf_putc(&b, '1');
		for (int i = 0; i < PROMQL_MAX_DEPTH / 2; i++)
			buf_puts(&b, "+1");
		assert_int_equal(promql_parse(b.data, &e, err, sizeof(err)), 0);
		promql_expr_free(e);
		buf_reset(&b);
		for (int i = 0; i <= PROMQL_MAX_QUERY_LEN; i++)
			buf_putc(&b, '1');
		assert_int_equal(promql_parse(b.data, &e, err, sizeof(err)), PROMQL_E_BAD_DATA);
		assert_non_null(strstr(err, "query too long"));
		buf_release(&b);
	}
}

/* ---- rate, increase and resets over overlapping windows ---- */

/* An oracle written from Prometheus 2.42's documented extrapolatedRate and resets, walking
 * each window's samples (what range_series did before it found each series' resets once).
 * Returns false when the function gives nothing for the window. */
static bool oracle(const char *fn, const int64_t *t, const double *v, size_t n, int64_t from,
		   int64_t to, int64_t range, double *out)
{
	size_t lo = 0, hi;
	double result, last = 0, to_start, to_end, sampled, avg, interval, factor;

	while (lo < n && t[lo] < from)
		lo++;
	hi = lo;
	while (hi < n && t[hi] <= to)
		hi++;
	if (hi == lo)
		return false;
	if (!strcmp(fn, "resets")) {
		double c = 0;

		for (size_t i = lo + 1; i < hi; i++)
			c += v[i] < v[i - 1];
		*out = c;
		return true;
	}
	if (hi - lo < 2)
		return false;
	result = v[hi - 1] - v[lo];
	for (size_t i = lo; i < hi; i++) {
		if (v[i] < last)
			result += last;
		last = v[i];
	}
	to_start = (double)(t[lo] - from) / 1000;
	to_end = (double)(to - t[hi - 1]) / 1000;
	sampled = (double)(t[hi - 1] - t[lo]) / 1000;
	avg = sampled / (double)(hi - lo - 1);
	if (result > 0 && v[lo] >= 0 && sampled * (v[lo] / result) < to_start)
		to_start = sampled * (v[lo] / result);
	interval = sampled + (to_start < avg * 1.1 ? to_start : avg / 2) +
		   (to_end < avg * 1.1 ? to_end : avg / 2);
	factor = interval / sampled;
	if (!strcmp(fn, "rate"))
		factor /= (double)range / 1000;
	*out = result * factor;
	return true;
}

static bool same_bits(double a, double b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof(a)) == 0;
}

static void test_sliding_rate(void **state)
{
	static const char *const fns[] = { "rate", "increase", "resets" };
	static const char *const ranges[] = { "5m", "3m", "1m", "20s" };
	static const int64_t range_ms[] = { 300000, 180000, 60000, 20000 };
	static const int64_t steps[] = { 60000, 17000, 300000 };
	struct memsrc ms = { 0 };
	struct promql_source src = { &mem_ops, &ms };
	struct promql_limits lim = { .max_samples = 10000000, .max_points = 11000,
				     .lookback_ms = 300000 };
	uint64_t seed = 42;
	size_t checked = 0, with_resets = 0;

	(void)state;
	/* Four counters over 2 h: frequent resets (also to negative values), NaN, stale
	 * markers, gaps longer than every range (single-sample and empty windows), ties. */
	ms.n = 4;
	ms.s = calloc(ms.n, sizeof(*ms.s));
	for (size_t i = 0; i < ms.n; i++) {
		struct mseries *se = &ms.s[i];
		double c = 0;
		int64_t t = 0;
		char id[24];

		snprintf(id, sizeof(id), "%zu", i);
		se->nlabels = 2;
		se->labels = calloc(2, sizeof(*se->labels));
		se->labels[0].name = strdup("__name__");
		se->labels[0].value = strdup("c");
		se->labels[1].name = strdup("id");
		se->labels[1].value = strdup(id);
		se->t = calloc(2000, sizeof(*se->t));
		se->v = calloc(2000, sizeof(*se->v));
		while (se->n < 2000 && t < 7200000) {
			unsigned r;

			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			r = (unsigned)(seed >> 33);
			t += i == 3 ? 15000 : 1000 * (int64_t)(1 + r % 29);
			if (r % 97 == 0)
				t += 700000; /* a gap longer than any range */
			if (r % 7 == 0)
				c = (double)(r % 50) - (i == 2 ? 20 : 0); /* a reset */
			else
				c += (double)(r % 1000) / 7;
			se->t[se->n] = t;
			se->v[se->n] = r % 89 == 0 ? NAN : r % 83 == 0 ? model_stale_nan() : c;
			se->n++;
		}
	}
	for (size_t f = 0; f < 3; f++) {
		for (size_t g = 0; g < 4; g++) {
			for (size_t st = 0; st < 3; st++) {
				struct promql_expr *e;
				struct promql_result *res;
				char q[64], err[256];
				int rc;

				snprintf(q, sizeof(q), "%s(c[%s])", fns[f], ranges[g]);
				assert_int_equal(promql_parse(q, &e, err, sizeof(err)), 0);
				rc = promql_eval_range(e, &src, 3000, 7300000, steps[st], &lim, &res,
						       err, sizeof(err));
				assert_int_equal(rc, 0);
				for (size_t i = 0; i < ms.n; i++) {
					const struct mseries *se = &ms.s[i];
					const struct promql_series *rs = NULL;
					int64_t tt[2000];
					double vv[2000];
					size_t n = 0, p = 0;

					/* the windows never hold stale markers */
					for (size_t j = 0; j < se->n; j++) {
						if (model_is_stale(se->v[j]))
							continue;
						tt[n] = se->t[j];
						vv[n++] = se->v[j];
					}
					for (size_t k = 0; k < res->nseries; k++)
						if (!strcmp(model_labels_get(res->series[k].labels,
									     res->series[k].nlabels,
									     "id"),
							    se->labels[1].value))
							rs = &res->series[k];
					for (int64_t at = 3000; at <= 7300000; at += steps[st]) {
						double want;

						if (!oracle(fns[f], tt, vv, n, at - range_ms[g], at,
							    range_ms[g], &want))
							continue;
						assert_non_null(rs);
						assert_true(p < rs->npoints);
						assert_int_equal(rs->points[p].t_ms, at);
						if (!same_bits(rs->points[p].v, want))
							fail_msg("%s id=%zu at %lld: %.17g, want "
								 "%.17g", q, i, (long long)at,
								 rs->points[p].v, want);
						with_resets += !strcmp(fns[f], "resets") &&
							       rs->points[p].v > 0;
						p++;
						checked++;
					}
					assert_int_equal(p, rs ? rs->npoints : 0);
				}
				promql_result_free(res);
				promql_expr_free(e);
			}
		}
	}
	/* the data reached every case: many windows, many of them with resets */
	assert_true(checked > 10000);
	assert_true(with_resets > 1000);
	memsrc_clear(&ms);
}

static int memory_setup(void **state)
{
	*state = NULL;
	return 0;
}

static int store_setup(void **state)
{
	*state = (void *)1;
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_files, memory_setup),
		cmocka_unit_test_setup(test_files, store_setup),
		cmocka_unit_test(test_store_source),
		cmocka_unit_test(test_api_names),
		cmocka_unit_test(test_sliding_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
