/*
 * The PromQL source over the local store: store_select() for the series, store_read_windows()
 * decoding chunks into arrays the engine then walks by index.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "query/promql.h"
#include "store/store.h"

/*
 * The series of the selection, each with its samples inside the windows (unless 'want' is
 * PROMQL_WANT_LABELS; with PROMQL_WANT_PRESENCE most values are not decoded), read
 * by a store scan (store_read_scan_begin()) into the reader's arrays: decoded chunks land where
 * the engine reads them, no copy per sample. A batch of series is decoded at once, then handed
 * over one series at a time; meanwhile the store's helpers decode the next batch, so the
 * engine's work and the decoding overlap on two cores.
 */
static int read_series(struct store_reader *r, const struct matcher *m, size_t nm,
		       const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
		       enum promql_want want, uint64_t max_samples,
		       int (*fn)(void *sink, const struct promql_source_series *s), void *sink,
		       char *err, size_t errlen)
{
	struct store_series_set *set;
	uint64_t *ids = NULL;
	size_t *ns = NULL, len;
	bool with_samples;
	int rc;

	rc = store_select(r, m, nm, from_ms[0], to_ms[nwin - 1], &set, err, errlen);
	if (rc)
		return rc;
	len = store_series_set_len(set);
	with_samples = want != PROMQL_WANT_LABELS && from_ms[0] <= to_ms[0] && len;
	if (with_samples) {
		ids = xmalloc(len * sizeof(*ids));
		ns = xmalloc(len * sizeof(*ns));
		for (size_t i = 0; i < len; i++)
			ids[i] = store_series_set_id(set, i);
	}
	if (with_samples)
		rc = store_read_scan_begin(r, ids, len, from_ms, to_ms, nwin, max_samples,
					   want == PROMQL_WANT_PRESENCE, ns);
	for (size_t i = 0; i < len && !rc;) {
		const int64_t *t = NULL;
		const double *v = NULL;
		size_t first = i, done = 1, off = 0;

		if (with_samples) {
			rc = store_read_scan_next(r, &first, &done, &t, &v);
			if (rc == -E2BIG)
				rc = PROMQL_E_TOO_MANY_SAMPLES;
			if (rc)
				break;
			if (first != i || !done) {
				rc = PROMQL_E_SOURCE; /* the store skipped or lost series */
				break;
			}
		}
		for (size_t j = i; j < i + done && !rc; j++) {
			struct promql_source_series s = { 0 };

			s.labels = store_series_set_labels(set, j, &s.nlabels);
			if (with_samples) {
				s.nsamples = ns[j];
				s.t_ms = s.nsamples ? t + off : NULL;
				s.v = s.nsamples ? v + off : NULL;
				off += ns[j];
				if (!s.nsamples && nwin > 1)
					continue; /* in the span, but in none of the windows */
			}
			rc = fn(sink, &s);
		}
		i += done;
	}
	/* Before the selection goes: the helpers may be decoding a batch read ahead. */
	if (with_samples)
		store_read_scan_end(r);
	free(ids);
	free(ns);
	store_series_set_free(set);
	return rc;
}

static int store_src_select(void *ctx, const struct matcher *m, size_t nm, int64_t from_ms,
			    int64_t to_ms, enum promql_want want, uint64_t max_samples,
			    int (*fn)(void *sink, const struct promql_source_series *s),
			    void *sink, char *err, size_t errlen)
{
	return read_series(ctx, m, nm, &from_ms, &to_ms, 1, want, max_samples, fn, sink,
			   err, errlen);
}

static int store_src_select_windows(void *ctx, const struct matcher *m, size_t nm,
				    const int64_t *from_ms, const int64_t *to_ms, size_t nwin,
				    enum promql_want want, uint64_t max_samples,
				    int (*fn)(void *sink, const struct promql_source_series *s),
				    void *sink, char *err, size_t errlen)
{
	if (!nwin)
		return 0;
	return read_series(ctx, m, nm, from_ms, to_ms, nwin, want, max_samples, fn, sink, err,
			   errlen);
}

/* A sorted set of distinct strings, for names and values gathered from matching series. */
struct strset {
	char **v;
	size_t n, cap;
};

static void strset_add(struct strset *s, const char *str)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->n++] = xstrdup(str);
}

static int strp_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort, then call fn once per distinct string; frees the set. */
static int strset_emit(struct strset *s, int (*fn)(void *sink, const char *str), void *sink)
{
	int rc = 0;

	qsort(s->v, s->n, sizeof(*s->v), strp_cmp);
	for (size_t i = 0; i < s->n && !rc; i++)
		if (i == 0 || strcmp(s->v[i], s->v[i - 1]))
			rc = fn(sink, s->v[i]);
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = s->cap = 0;
	return rc;
}

struct label_gather {
	struct strset set;
	const char *name; /* NULL: gather names; else the values of this label */
};

static int gather_series(void *sink, const struct promql_source_series *s)
{
	struct label_gather *g = sink;

	for (size_t i = 0; i < s->nlabels; i++) {
		if (!g->name)
			strset_add(&g->set, s->labels[i].name);
		else if (!strcmp(s->labels[i].name, g->name))
			strset_add(&g->set, s->labels[i].value);
	}
	return 0;
}

static int gather(struct store_reader *r, const char *name, const struct matcher *m, size_t nm,
		  int64_t from_ms, int64_t to_ms, int (*fn)(void *sink, const char *str),
		  void *sink, char *err, size_t errlen)
{
	struct label_gather g = { .name = name };
	int rc;

	rc = store_src_select(r, m, nm, from_ms, to_ms, PROMQL_WANT_LABELS, 0, gather_series, &g,
			      err, errlen);
	if (rc) {
		for (size_t i = 0; i < g.set.n; i++)
			free(g.set.v[i]);
		free(g.set.v);
		return rc;
	}
	return strset_emit(&g.set, fn, sink);
}

static int store_src_label_names(void *ctx, const struct matcher *m, size_t nm, int64_t from_ms,
				 int64_t to_ms, int (*fn)(void *sink, const char *name),
				 void *sink, char *err, size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!nm)
		return store_label_names(ctx, fn, sink);
	return gather(ctx, NULL, m, nm, from_ms, to_ms, fn, sink, err, errlen);
}

static int store_src_label_values(void *ctx, const char *name, const struct matcher *m,
				  size_t nm, int64_t from_ms, int64_t to_ms,
				  int (*fn)(void *sink, const char *value), void *sink, char *err,
				  size_t errlen)
{
	if (errlen)
		err[0] = '\0';
	if (!nm)
		return store_label_values(ctx, name, fn, sink);
	return gather(ctx, name, m, nm, from_ms, to_ms, fn, sink, err, errlen);
}

static const struct promql_source_ops store_source_ops = {
	.select = store_src_select,
	.select_windows = store_src_select_windows,
	.label_names = store_src_label_names,
	.label_values = store_src_label_values,
};

void promql_source_store_init(struct promql_source *src, struct store_reader *r)
{
	src->ops = &store_source_ops;
	src->ctx = r;
}
