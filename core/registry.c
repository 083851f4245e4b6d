#include "core/registry.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/model.h"

/*
 * Layout: the registry owns an array of families; each family owns its series in creation order
 * plus an open-addressing hash table (pointers into that array) keyed by the label values.
 *
 * Concurrency: exactly one writer thread. Structure (families, series arrays, hash tables) is
 * changed only under the write lock; the writer may read structure without the lock because no
 * one else changes it. Readers take the read lock for a whole visit. Values are 64-bit atomics.
 */

struct series {
	struct metric *family;
	char **values;                  /* one per label name, owned */
	uint64_t hash;
	bool written;                   /* writer only: set by add/set/observe, cleared by sweep */
	_Atomic uint64_t bits;          /* counter/gauge value as double bits */
	_Atomic uint64_t *buckets;      /* histogram: nbounds + 1 non-cumulative counts, owned */
	_Atomic uint64_t sum_bits;      /* histogram: sum of observations as double bits */
	_Atomic uint64_t count;         /* histogram: number of observations */
};

struct metric {
	struct registry *reg;
	char *name;
	char *help;
	enum metric_type type;
	size_t nlabels;
	char **label_names;             /* owned */
	double *bounds;                 /* histogram upper bounds, owned */
	size_t nbounds;
	char (*bound_text)[FMT_DOUBLE_MAX]; /* the same, formatted for "le", owned */

	struct series **series;         /* creation order, owned; the overflow series is not here */
	size_t nseries;
	size_t series_cap;
	struct series **table;          /* hash table of 'series' entries, size a power of two */
	size_t table_cap;
	struct series *overflow;        /* NULL until the family first overflows */
	_Atomic uint64_t overflow_count;
};

struct seed {
	char *key;                      /* canonical series key, see seed_key() */
	double value;
};

struct registry {
	pthread_rwlock_t lock;
	unsigned max_series;
	struct metric **metrics;
	size_t nmetrics;
	size_t metrics_cap;
	struct seed *seeds;             /* open-addressing table, NULL key = empty */
	size_t nseeds;
	size_t seeds_cap;
};

/* The label-value hash of a series: model_fnv1a over the strings, each followed by a 0xff byte
 * (as model_labels_hash does for name/value pairs) so ("a","bc") and ("ab","c") differ. */
static uint64_t hash_strings(const char *const *v, size_t n)
{
	static const unsigned char sep = 0xff;
	uint64_t h = MODEL_FNV1A_INIT;

	for (size_t i = 0; i < n; i++) {
		h = model_fnv1a(h, v[i], strlen(v[i]));
		h = model_fnv1a(h, &sep, 1);
	}
	return h;
}

struct registry *registry_new(unsigned max_series)
{
	struct registry *reg = xcalloc(1, sizeof(*reg));
	pthread_rwlockattr_t attr;

	/* Prefer the writer: a steady stream of scrapes must not starve the collector. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&reg->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	reg->max_series = max_series ? max_series : REGISTRY_DEFAULT_MAX_SERIES;
	return reg;
}

static void series_free(struct series *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->family->nlabels; i++)
		free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

static void metric_free(struct metric *m)
{
	for (size_t i = 0; i < m->nseries; i++)
		series_free(m->series[i]);
	series_free(m->overflow);
	for (size_t i = 0; i < m->nlabels; i++)
		free(m->label_names[i]);
	free(m->label_names);
	free(m->series);
	free(m->table);
	free(m->bounds);
	free(m->bound_text);
	free(m->name);
	free(m->help);
	free(m);
}

void registry_free(struct registry *reg)
{
	if (!reg)
		return;
	for (size_t i = 0; i < reg->nmetrics; i++)
		metric_free(reg->metrics[i]);
	for (size_t i = 0; i < reg->seeds_cap; i++)
		free(reg->seeds[i].key);
	free(reg->seeds);
	free(reg->metrics);
	pthread_rwlock_destroy(&reg->lock);
	free(reg);
}

static bool valid_metric_name(const char *s)
{
	return s && model_metric_name_valid(s, strlen(s));
}

/*
 * A family's label names follow the model's rule, and the registry refuses the reserved "__"
 * names explicitly (the store accepts them, since a stored series carries __name__): every
 * series the registry makes is exposed with __name__ beside these labels, so a user label
 * named __name__ would collide with it, and Prometheus drops other "__" labels from targets
 * after relabelling, so such a label would never reach a query.
 */
static bool valid_label_name(const char *s)
{
	return s && model_label_name_valid(s, strlen(s)) && !model_label_name_reserved(s);
}

static size_t count_names(const char *const *names)
{
	size_t n = 0;

	while (names && names[n])
		n++;
	return n;
}

/* Does the registered family 'm' have exactly this shape? */
static bool same_shape(const struct metric *m, enum metric_type type, const char *const *names,
		       size_t nlabels, const double *bounds, size_t nbounds)
{
	if (m->type != type || m->nlabels != nlabels || m->nbounds != nbounds)
		return false;
	for (size_t i = 0; i < nlabels; i++)
		if (strcmp(m->label_names[i], names[i]) != 0)
			return false;
	for (size_t i = 0; i < nbounds; i++)
		if (m->bounds[i] != bounds[i])
			return false;
	return true;
}

static struct metric *registry_add(struct registry *reg, enum metric_type type, const char *name,
				   const char *help, const char *const *label_names,
				   const double *bounds, size_t nbounds)
{
	size_t nlabels = count_names(label_names);
	struct metric *m;

	if (!valid_metric_name(name) || strlen(name) > REGISTRY_MAX_NAME || nlabels > REGISTRY_MAX_LABELS ||
	    nbounds > REGISTRY_MAX_BUCKETS)
		return NULL;
	for (size_t i = 0; i < nlabels; i++) {
		if (!valid_label_name(label_names[i]) ||
		    (type == METRIC_HISTOGRAM && strcmp(label_names[i], "le") == 0))
			return NULL;
		for (size_t j = 0; j < i; j++)
			if (strcmp(label_names[i], label_names[j]) == 0)
				return NULL;
	}
	for (size_t i = 0; i < nbounds; i++)
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return NULL;

	for (size_t i = 0; i < reg->nmetrics; i++) {
		m = reg->metrics[i];
		if (strcmp(m->name, name) == 0)
			return same_shape(m, type, label_names, nlabels, bounds, nbounds) ? m : NULL;
	}

	m = xcalloc(1, sizeof(*m));
	m->reg = reg;
	m->name = xstrdup(name);
	m->help = xstrdup(help ? help : "");
	m->type = type;
	m->nlabels = nlabels;
	m->label_names = xcalloc(nlabels ? nlabels : 1, sizeof(char *));
	for (size_t i = 0; i < nlabels; i++)
		m->label_names[i] = xstrdup(label_names[i]);
	if (type == METRIC_HISTOGRAM) {
		m->nbounds = nbounds;
		m->bounds = xcalloc(nbounds ? nbounds : 1, sizeof(double));
		m->bound_text = xcalloc(nbounds + 1, sizeof(*m->bound_text));
		for (size_t i = 0; i < nbounds; i++) {
			m->bounds[i] = bounds[i];
			fmt_double(m->bound_text[i], bounds[i]);
		}
		strcpy(m->bound_text[nbounds], "+Inf");
	}

	pthread_rwlock_wrlock(&reg->lock);
	if (reg->nmetrics == reg->metrics_cap) {
		reg->metrics_cap = reg->metrics_cap ? reg->metrics_cap * 2 : 16;
		reg->metrics = xrealloc(reg->metrics, reg->metrics_cap * sizeof(*reg->metrics));
	}
	reg->metrics[reg->nmetrics++] = m;
	pthread_rwlock_unlock(&reg->lock);
	return m;
}

struct metric *registry_counter(struct registry *reg, const char *name, const char *help,
				const char *const *label_names)
{
	return registry_add(reg, METRIC_COUNTER, name, help, label_names, NULL, 0);
}

struct metric *registry_gauge(struct registry *reg, const char *name, const char *help,
			      const char *const *label_names)
{
	return registry_add(reg, METRIC_GAUGE, name, help, label_names, NULL, 0);
}

struct metric *registry_histogram(struct registry *reg, const char *name, const char *help,
				  const char *const *label_names, const double *bounds,
				  size_t nbounds)
{
	return registry_add(reg, METRIC_HISTOGRAM, name, help, label_names, bounds, nbounds);
}

/* ---- seeds: counters continuing from their stored value ---- */

/* name \xff label=value \xff ... with labels in the model's order: independent of the order
 * the caller gives them in. */
static char *seed_key(const char *name, size_t n, const char *const *names,
		      const char *const *values)
{
	struct label labels[REGISTRY_MAX_LABELS];
	struct buf b;

	for (size_t i = 0; i < n; i++) {
		labels[i].name = names[i];
		labels[i].value = values[i];
	}
	model_labels_sort(labels, n);
	buf_init(&b, 0);
	buf_puts(&b, name);
	for (size_t i = 0; i < n; i++)
		buf_printf(&b, "\xff%s=%s", labels[i].name, labels[i].value);
	return buf_detach(&b, NULL);
}

static struct seed *seed_slot(struct seed *table, size_t cap, const char *key)
{
	const char *one[1] = { key };
	size_t i = hash_strings(one, 1) & (cap - 1);

	while (table[i].key && strcmp(table[i].key, key) != 0)
		i = (i + 1) & (cap - 1);
	return &table[i];
}

int registry_seed_counter(struct registry *reg, const char *name, size_t nlabels,
			  const char *const *names, const char *const *values, double value)
{
	struct seed *slot;
	char *key;

	if (nlabels > REGISTRY_MAX_LABELS || !name)
		return -EINVAL;
	if ((reg->nseeds + 1) * 2 > reg->seeds_cap) {
		size_t cap = reg->seeds_cap ? reg->seeds_cap * 2 : 64;
		struct seed *table = xcalloc(cap, sizeof(*table));

		for (size_t i = 0; i < reg->seeds_cap; i++)
			if (reg->seeds[i].key)
				*seed_slot(table, cap, reg->seeds[i].key) = reg->seeds[i];
		free(reg->seeds);
		reg->seeds = table;
		reg->seeds_cap = cap;
	}
	key = seed_key(name, nlabels, names, values);
	slot = seed_slot(reg->seeds, reg->seeds_cap, key);
	if (slot->key) {
		free(key);
	} else {
		slot->key = key;
		reg->nseeds++;
	}
	slot->value = value;

	/* The series may exist already (registered before seeding): start it now if untouched. */
	for (size_t i = 0; i < reg->nmetrics; i++) {
		struct metric *m = reg->metrics[i];

		if (m->type != METRIC_COUNTER || strcmp(m->name, name) != 0)
			continue;
		for (size_t j = 0; j < m->nseries; j++) {
			struct series *s = m->series[j];
			char *k = seed_key(m->name, m->nlabels, (const char *const *)m->label_names,
					   (const char *const *)s->values);

			if (strcmp(k, slot->key) == 0 && atomic_load(&s->bits) == double_bits(0.0))
				atomic_store(&s->bits, double_bits(value));
			free(k);
		}
	}
	return 0;
}

static double seed_lookup(struct registry *reg, const struct metric *m, const char *const *values)
{
	struct seed *slot;
	double value = 0.0;
	char *key;

	if (!reg->nseeds || m->type != METRIC_COUNTER)
		return 0.0;
	key = seed_key(m->name, m->nlabels, (const char *const *)m->label_names, values);
	slot = seed_slot(reg->seeds, reg->seeds_cap, key);
	if (slot->key && isfinite(slot->value) && slot->value > 0) {
		value = slot->value;
		/* A seed is the value the series had when the agent stopped: it applies once. A series
		 * swept and created again later is a new series and starts at 0. */
		slot->value = 0.0;
	}
	free(key);
	return value;
}

/* The label values of seed key 'key' (see seed_key) in the order of m's label names, into
 * 'values' (pointers into '*copy', which the caller frees). False when the key is another
 * family's or names other labels. */
static bool seed_values(const struct metric *m, const char *key, char **copy,
			const char *values[REGISTRY_MAX_LABELS])
{
	size_t nlen = strlen(m->name), found = 0;
	char *save = NULL, *part;

	*copy = NULL;
	if (strncmp(key, m->name, nlen) != 0 || (key[nlen] != '\0' && key[nlen] != '\xff'))
		return false;
	for (size_t i = 0; i < m->nlabels; i++)
		values[i] = NULL;
	/* Label values are UTF-8, which never holds the byte 0xff: a safe separator. */
	*copy = xstrdup(key + nlen);
	for (part = strtok_r(*copy, "\xff", &save); part; part = strtok_r(NULL, "\xff", &save)) {
		char *eq = strchr(part, '=');
		size_t i;

		if (!eq)
			return false;
		*eq = '\0';
		for (i = 0; i < m->nlabels && strcmp(m->label_names[i], part) != 0; i++)
			;
		if (i == m->nlabels || values[i])
			return false;
		values[i] = eq + 1;
		found++;
	}
	return found == m->nlabels;
}

size_t metric_create_seeded(struct metric *m)
{
	struct registry *reg = m->reg;
	size_t created = 0;

	if (m->type != METRIC_COUNTER || !reg->nseeds)
		return 0;
	for (size_t i = 0; i < reg->seeds_cap; i++) {
		const char *values[REGISTRY_MAX_LABELS];
		bool overflow = m->nlabels > 0;
		char *copy = NULL;

		if (!reg->seeds[i].key || !(reg->seeds[i].value > 0) ||
		    !seed_values(m, reg->seeds[i].key, &copy, values)) {
			free(copy);
			continue;
		}
		for (size_t k = 0; k < m->nlabels; k++)
			overflow = overflow && !strcmp(values[k], REGISTRY_OVERFLOW_VALUE);
		/* The overflow series is made when the family overflows again (and takes its seed
		 * then): made here it would be an ordinary series with the overflow's labels. */
		if (!overflow && m->nseries < reg->max_series) {
			metric_series(m, values);
			created++;
		}
		free(copy);
	}
	return created;
}

/* ---- series ---- */

static bool series_matches(const struct series *s, const char *const *values, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return false;
	return true;
}

static void table_insert(struct series **table, size_t cap, struct series *s)
{
	size_t i = s->hash & (cap - 1);

	while (table[i])
		i = (i + 1) & (cap - 1);
	table[i] = s;
}

/* Rebuild the hash table from the series array with room for 'want' series. Under write lock. */
static void table_rebuild(struct metric *m, size_t want)
{
	size_t cap = 16;

	while (cap < want * 2)
		cap *= 2;
	free(m->table);
	m->table = xcalloc(cap, sizeof(*m->table));
	m->table_cap = cap;
	for (size_t i = 0; i < m->nseries; i++)
		table_insert(m->table, cap, m->series[i]);
}

static struct series *series_create(struct metric *m, const char *const *values, uint64_t hash)
{
	struct series *s = xcalloc(1, sizeof(*s));

	s->family = m;
	s->hash = hash;
	s->values = xcalloc(m->nlabels ? m->nlabels : 1, sizeof(char *));
	for (size_t i = 0; i < m->nlabels; i++)
		s->values[i] = xstrdup(values[i]);
	if (m->type == METRIC_HISTOGRAM) {
		s->buckets = xcalloc(m->nbounds + 1, sizeof(*s->buckets));
		atomic_init(&s->sum_bits, double_bits(0.0));
	}
	atomic_init(&s->bits, double_bits(seed_lookup(m->reg, m, values)));
	return s;
}

struct series *metric_series(struct metric *m, const char *const *label_values)
{
	static const char *const no_values[1] = { "" };
	const char *const *values = m->nlabels ? label_values : no_values;
	uint64_t hash = hash_strings(values, m->nlabels);
	struct registry *reg = m->reg;
	struct series *s;

	/* Lookup without the lock: only this (the writer) thread changes the table. */
	if (m->table_cap) {
		for (size_t i = hash & (m->table_cap - 1); m->table[i]; i = (i + 1) & (m->table_cap - 1)) {
			s = m->table[i];
			if (s->hash == hash && series_matches(s, values, m->nlabels))
				return s;
		}
	}

	if (m->nseries >= reg->max_series) {
		atomic_fetch_add(&m->overflow_count, 1);
		if (!m->overflow) {
			const char *ov[REGISTRY_MAX_LABELS];

			for (size_t i = 0; i < m->nlabels; i++)
				ov[i] = REGISTRY_OVERFLOW_VALUE;
			s = series_create(m, ov, hash_strings(ov, m->nlabels));
			pthread_rwlock_wrlock(&reg->lock);
			m->overflow = s;
			pthread_rwlock_unlock(&reg->lock);
		}
		return m->overflow;
	}

	s = series_create(m, values, hash);
	pthread_rwlock_wrlock(&reg->lock);
	if (m->nseries == m->series_cap) {
		m->series_cap = m->series_cap ? m->series_cap * 2 : 8;
		m->series = xrealloc(m->series, m->series_cap * sizeof(*m->series));
	}
	m->series[m->nseries++] = s;
	if ((m->nseries + 1) * 2 > m->table_cap)
		table_rebuild(m, m->nseries + 1);
	else
		table_insert(m->table, m->table_cap, s);
	pthread_rwlock_unlock(&reg->lock);
	return s;
}

void series_add(struct series *s, double delta)
{
	uint64_t old, new;

	if (s->family->type == METRIC_HISTOGRAM || (s->family->type == METRIC_COUNTER && !(delta >= 0)))
		return;
	s->written = true;
	old = atomic_load(&s->bits);
	do {
		new = double_bits(bits_double(old) + delta);
	} while (!atomic_compare_exchange_weak(&s->bits, &old, new));
}

void series_set(struct series *s, double value)
{
	if (s->family->type == METRIC_HISTOGRAM)
		return;
	s->written = true;
	atomic_store(&s->bits, double_bits(value));
}

void series_observe(struct series *s, double value)
{
	const struct metric *m = s->family;
	size_t b = 0;
	uint64_t old, new;

	if (m->type != METRIC_HISTOGRAM)
		return;
	s->written = true;
	/* First bucket whose upper bound holds the value; NaN and overflow land in +Inf. */
	while (b < m->nbounds && !(value <= m->bounds[b]))
		b++;
	atomic_fetch_add(&s->buckets[b], 1);
	old = atomic_load(&s->sum_bits);
	do {
		new = double_bits(bits_double(old) + value);
	} while (!atomic_compare_exchange_weak(&s->sum_bits, &old, new));
	atomic_fetch_add(&s->count, 1);
}

double series_value(const struct series *s)
{
	if (s->family->type == METRIC_HISTOGRAM)
		return (double)atomic_load(&((struct series *)s)->count);
	return bits_double(atomic_load(&((struct series *)s)->bits));
}

size_t metric_sweep(struct metric *m)
{
	struct registry *reg = m->reg;
	struct series *dead_overflow = NULL;
	size_t kept = 0, removed = 0;
	struct series **dead;

	dead = xcalloc(m->nseries + 1, sizeof(*dead));
	pthread_rwlock_wrlock(&reg->lock);
	for (size_t i = 0; i < m->nseries; i++) {
		struct series *s = m->series[i];

		if (s->written) {
			s->written = false;
			m->series[kept++] = s;
		} else {
			dead[removed++] = s;
		}
	}
	m->nseries = kept;
	if (m->overflow) {
		if (m->overflow->written) {
			m->overflow->written = false;
		} else {
			dead_overflow = m->overflow;
			m->overflow = NULL;
		}
	}
	if (removed)
		table_rebuild(m, m->nseries + 1);
	pthread_rwlock_unlock(&reg->lock);

	for (size_t i = 0; i < removed; i++)
		series_free(dead[i]);
	free(dead);
	if (dead_overflow) {
		series_free(dead_overflow);
		removed++;
	}
	return removed;
}

/* ---- reading ---- */

static int visit_series(const struct metric *m, const struct metric_info *info, struct series *s,
			const struct registry_visitor *v, void *ctx)
{
	const char *names[REGISTRY_MAX_LABELS + 1];
	const char *values[REGISTRY_MAX_LABELS + 1];
	struct sample_view sv = { .name = m->name, .nlabels = m->nlabels,
				  .label_names = names, .label_values = values };
	char name[REGISTRY_MAX_NAME + sizeof("_bucket")];
	uint64_t cumulative = 0;
	int err;

	for (size_t i = 0; i < m->nlabels; i++) {
		names[i] = m->label_names[i];
		values[i] = s->values[i];
	}
	if (m->type != METRIC_HISTOGRAM) {
		sv.value = bits_double(atomic_load(&s->bits));
		return v->sample(ctx, info, &sv);
	}

	/* Buckets are read one by one, so a concurrent observation may make _count differ from
	 * the +Inf bucket by one for a moment; each value on its own is never torn. */
	snprintf(name, sizeof(name), "%s_bucket", m->name);
	sv.name = name;
	sv.nlabels = m->nlabels + 1;
	names[m->nlabels] = "le";
	for (size_t b = 0; b <= m->nbounds; b++) {
		cumulative += atomic_load(&s->buckets[b]);
		values[m->nlabels] = m->bound_text[b];
		sv.value = (double)cumulative;
		err = v->sample(ctx, info, &sv);
		if (err)
			return err;
	}
	sv.nlabels = m->nlabels;
	snprintf(name, sizeof(name), "%s_sum", m->name);
	sv.value = bits_double(atomic_load(&s->sum_bits));
	err = v->sample(ctx, info, &sv);
	if (err)
		return err;
	snprintf(name, sizeof(name), "%s_count", m->name);
	sv.value = (double)atomic_load(&s->count);
	return v->sample(ctx, info, &sv);
}

/* The registry's own health: series per family and overflowed label sets per family. */
static int visit_self(struct registry *reg, const struct registry_visitor *v, void *ctx)
{
	static const char *const names[1] = { "metric" };
	struct metric_info series_info = {
		.name = "deploywatch_series",
		.help = "Series currently held per metric family, the overflow series included.",
		.type = METRIC_GAUGE,
		.nseries = reg->nmetrics,
	};
	struct metric_info overflow_info = {
		.name = "deploywatch_series_overflow_total",
		.help = "Label sets that exceeded limits.max_series_per_metric and were counted in the "
			"family's overflow series instead.",
		.type = METRIC_COUNTER,
		.nseries = reg->nmetrics,
	};
	int err;

	for (int pass = 0; pass < 2; pass++) {
		const struct metric_info *info = pass ? &overflow_info : &series_info;

		if (v->family) {
			err = v->family(ctx, info);
			if (err)
				return err;
		}
		for (size_t i = 0; i < reg->nmetrics; i++) {
			const struct metric *m = reg->metrics[i];
			const char *values[1] = { m->name };
			struct sample_view sv = { .name = info->name, .nlabels = 1,
						  .label_names = names, .label_values = values };

			sv.value = pass ? (double)atomic_load(&((struct metric *)m)->overflow_count)
					: (double)(m->nseries + (m->overflow ? 1 : 0));
			err = v->sample(ctx, info, &sv);
			if (err)
				return err;
		}
	}
	return 0;
}

int registry_visit(struct registry *reg, const struct registry_visitor *v, void *ctx)
{
	int err = 0;

	pthread_rwlock_rdlock(&reg->lock);
	for (size_t i = 0; i < reg->nmetrics && !err; i++) {
		struct metric *m = reg->metrics[i];
		struct metric_info info = { .name = m->name, .help = m->help, .type = m->type,
					    .nseries = m->nseries + (m->overflow ? 1 : 0) };

		if (v->family)
			err = v->family(ctx, &info);
		for (size_t j = 0; j < m->nseries && !err; j++)
			err = visit_series(m, &info, m->series[j], v, ctx);
		if (!err && m->overflow)
			err = visit_series(m, &info, m->overflow, v, ctx);
	}
	if (!err)
		err = visit_self(reg, v, ctx);
	pthread_rwlock_unlock(&reg->lock);
	return err;
}

int series_visit(struct series *s, const struct registry_visitor *v, void *ctx)
{
	const struct metric *m = s->family;
	struct metric_info info = { .name = m->name, .help = m->help, .type = m->type,
				    .nseries = m->nseries + (m->overflow ? 1 : 0) };

	return visit_series(m, &info, s, v, ctx);
}

const struct metric *series_metric(const struct series *s)
{
	return s->family;
}

enum metric_type metric_type_of(const struct metric *m)
{
	return m->type;
}
