/*
 * Batches: the canonical bytes of a label set (the series' identity on disk) and the in-memory
 * batch of samples and caller records that store_commit() writes in one transaction.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- canonical label bytes ---- */

int store_canon_labels(const struct label *labels, size_t n, struct buf *out)
{
	struct label sorted[STORE_MAX_LABELS];
	size_t m = 0;
	bool have_name = false;

	if (n > STORE_MAX_LABELS)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		size_t nl, vl;

		if (!labels[i].name || !labels[i].value)
			return -EINVAL;
		nl = strlen(labels[i].name);
		vl = strlen(labels[i].value);
		if (nl > STORE_MAX_NAME_LEN || nl + 1 + vl > STORE_MAX_POSTING_KEY ||
		    !model_label_name_valid(labels[i].name, nl))
			return -EINVAL;
		if (strcmp(labels[i].name, MODEL_NAME_LABEL) == 0) {
			if (!model_metric_name_valid(labels[i].value, vl))
				return -EINVAL;
			have_name = true;
		}
		if (!vl)
			continue;
		/* Insertion sort: at most STORE_MAX_LABELS entries. */
		size_t j = m++;
		while (j > 0 && model_label_cmp(&sorted[j - 1], &labels[i]) > 0) {
			sorted[j] = sorted[j - 1];
			j--;
		}
		sorted[j] = labels[i];
	}
	if (!have_name)
		return -EINVAL;
	for (size_t i = 1; i < m; i++)
		if (strcmp(sorted[i - 1].name, sorted[i].name) == 0)
			return -EINVAL;
	for (size_t i = 0; i < m; i++) {
		if (buf_append(out, sorted[i].name, strlen(sorted[i].name) + 1) ||
		    buf_append(out, sorted[i].value, strlen(sorted[i].value) + 1))
			return -EINVAL;
	}
	return 0;
}

int store_canon_split(const char *canon, size_t len, struct label *out, size_t max)
{
	size_t n = 0, i = 0;

	if (!len || canon[len - 1] != '\0')
		return STORE_E_CORRUPT;
	while (i < len) {
		const char *name = canon + i;
		const char *value;

		i += strlen(name) + 1;
		if (i >= len || n >= max)
			return STORE_E_CORRUPT;
		value = canon + i;
		i += strlen(value) + 1;
		out[n].name = name;
		out[n].value = value;
		n++;
	}
	return (int)n;
}
/* ---- batches ---- */

struct store_batch *store_batch_new(void)
{
	struct store_batch *b = xcalloc(1, sizeof(*b));

	buf_init(&b->scratch, STORE_MAX_CANON_LEN);
	b->horizon_ms = INT64_MIN;
	return b;
}

void store_batch_set_horizon(struct store_batch *b, int64_t t_ms)
{
	b->horizon_ms = t_ms;
}

void store_batch_set_all_or_nothing(struct store_batch *b, bool on)
{
	b->all_or_nothing = on;
}

void store_batch_clear(struct store_batch *b)
{
	for (size_t i = 0; i < b->nseries; i++)
		free(b->series[i].canon);
	for (size_t i = 0; i < b->nmeta; i++) {
		free(b->meta[i].key);
		free(b->meta[i].val);
	}
	b->nseries = 0;
	b->nsamples = 0;
	b->nmeta = 0;
	store_catalog_buf_clear(b->catalog);
	if (b->tab)
		memset(b->tab, 0, (b->tmask + 1) * sizeof(*b->tab));
}

void store_batch_free(struct store_batch *b)
{
	if (!b)
		return;
	store_batch_clear(b);
	free(b->series);
	free(b->tab);
	free(b->samples);
	free(b->meta);
	store_catalog_buf_free(b->catalog);
	buf_release(&b->scratch);
	free(b);
}

size_t store_batch_len(const struct store_batch *b)
{
	return b->nsamples;
}

static void batch_rehash(struct store_batch *b, size_t nbuckets)
{
	free(b->tab);
	b->tab = xcalloc(nbuckets, sizeof(*b->tab));
	b->tmask = nbuckets - 1;
	for (size_t i = 0; i < b->nseries; i++) {
		size_t h = b->series[i].hash & b->tmask;

		b->series[i].next = b->tab[h];
		b->tab[h] = (uint32_t)(i + 1);
	}
}

int store_batch_add_canon(struct store_batch *b, const char *canon, size_t clen,
			  enum metric_type type, int64_t t_ms, double v)
{
	uint64_t h = store_canon_hash(canon, clen);
	uint32_t idx = 0;

	if (b->nsamples >= STORE_MAX_BATCH_SAMPLES)
		return -E2BIG;
	if (b->tab) {
		for (uint32_t k = b->tab[h & b->tmask]; k; k = b->series[k - 1].next) {
			struct bseries *s = &b->series[k - 1];

			if (s->hash == h && s->clen == clen && !memcmp(s->canon, canon, clen)) {
				idx = k;
				break;
			}
		}
	}
	if (!idx) {
		struct bseries *s;

		if (b->nseries == b->series_cap) {
			b->series_cap = b->series_cap ? b->series_cap * 2 : 64;
			b->series = xrealloc(b->series, b->series_cap * sizeof(*b->series));
		}
		s = &b->series[b->nseries++];
		s->canon = xmalloc(clen);
		memcpy(s->canon, canon, clen);
		s->clen = clen;
		s->hash = h;
		s->type = type;
		s->count = 0;
		idx = (uint32_t)b->nseries;
		if (!b->tab || b->nseries > b->tmask + 1) {
			batch_rehash(b, b->tab ? (b->tmask + 1) * 2 : 64);
		} else {
			s->next = b->tab[h & b->tmask];
			b->tab[h & b->tmask] = idx;
		}
	}
	if (b->nsamples == b->samples_cap) {
		b->samples_cap = b->samples_cap ? b->samples_cap * 2 : 256;
		b->samples = xrealloc(b->samples, b->samples_cap * sizeof(*b->samples));
	}
	b->samples[b->nsamples].sidx = idx - 1;
	b->samples[b->nsamples].t = t_ms;
	b->samples[b->nsamples].v = v;
	b->nsamples++;
	return 0;
}

int store_batch_add(struct store_batch *b, const struct label *labels, size_t n,
		    enum metric_type type, int64_t t_ms, double v)
{
	int err;

	buf_reset(&b->scratch);
	err = store_canon_labels(labels, n, &b->scratch);
	if (err)
		return err;
	return store_batch_add_canon(b, b->scratch.data, b->scratch.len, type, t_ms, v);
}

void store_batch_drop_oldest(struct store_batch *b, size_t k)
{
	if (k >= b->nsamples) {
		b->nsamples = 0;
		return;
	}
	memmove(b->samples, b->samples + k, (b->nsamples - k) * sizeof(*b->samples));
	b->nsamples -= k;
}

int store_batch_put_meta(struct store_batch *b, const char *key, const void *val, size_t len)
{
	size_t kl = strlen(key);
	struct bmeta *m = NULL;

	if (!kl || kl > STORE_MAX_META_KEY || len > STORE_MAX_META_VAL)
		return -EINVAL;
	/* The last record for a key wins: a retried batch carries the newest offsets. */
	for (size_t i = 0; i < b->nmeta; i++)
		if (!strcmp(b->meta[i].key, key))
			m = &b->meta[i];
	if (!m) {
		if (b->nmeta == b->meta_cap) {
			b->meta_cap = b->meta_cap ? b->meta_cap * 2 : 8;
			b->meta = xrealloc(b->meta, b->meta_cap * sizeof(*b->meta));
		}
		m = &b->meta[b->nmeta++];
		m->key = xstrdup(key);
	} else {
		free(m->val);
	}
	m->val = xmalloc(len);
	if (len)
		memcpy(m->val, val, len);
	m->len = len;
	return 0;
}
