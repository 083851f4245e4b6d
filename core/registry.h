#ifndef DW_CORE_REGISTRY_H
#define DW_CORE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/model.h"

/*
 * The metrics registry: metric families (counter, gauge, histogram) with fixed label names, and
 * their series, one per combination of label values.
 *
 * Threads: one writer thread (the collector) creates series and changes values; any number of
 * reader threads (HTTP, the store appender) call registry_visit(). Values are stored as 64-bit
 * atomics, so a reader never sees a torn double; creating or sweeping series takes the
 * registry's write lock, which readers hold only for the duration of one visit.
 *
 * Cardinality: each family holds at most 'max_series' series. Label values that would create one
 * more go to a single overflow series whose every label value is REGISTRY_OVERFLOW_VALUE, and
 * deploywatch_series_overflow_total{metric="..."} counts them. Nothing is dropped silently.
 */

#define REGISTRY_MAX_LABELS 8
#define REGISTRY_MAX_BUCKETS 32
#define REGISTRY_MAX_NAME 200
#define REGISTRY_OVERFLOW_VALUE "__overflow__"
#define REGISTRY_DEFAULT_MAX_SERIES 2000

struct registry;
struct metric;
struct series;

/* A new empty registry; 'max_series' per family (0: REGISTRY_DEFAULT_MAX_SERIES). Free with
 * registry_free(). Aborts on out of memory. */
struct registry *registry_new(unsigned max_series);
/* Free the registry, its families and series. No visit may be running. NULL is a no-op. */
void registry_free(struct registry *reg);

/*
 * Register a family, or return the one already registered under 'name' if its type, label names
 * and buckets match. 'label_names' is NULL-terminated (NULL or empty for none), at most
 * REGISTRY_MAX_LABELS; strings are copied. Returns NULL if 'name' is registered with another
 * shape or the arguments are invalid (a programmer error: the caller logs it). Writer thread.
 * The returned pointer lives as long as the registry.
 */
struct metric *registry_counter(struct registry *reg, const char *name, const char *help,
				const char *const *label_names);
struct metric *registry_gauge(struct registry *reg, const char *name, const char *help,
			      const char *const *label_names);
/* 'bounds': strictly increasing finite upper bounds, at most REGISTRY_MAX_BUCKETS; +Inf implied. */
struct metric *registry_histogram(struct registry *reg, const char *name, const char *help,
				  const char *const *label_names, const double *bounds,
				  size_t nbounds);

/*
 * The series of 'm' for 'label_values' (one per label name, in registration order; NULL when the
 * family has no labels), created at 0 if new. When the family is full, the overflow series.
 * Never NULL. Writer thread. The pointer stays valid until metric_sweep() removes the series or
 * the registry is freed; a caller that sweeps must look series up again after each sweep.
 */
struct series *metric_series(struct metric *m, const char *const *label_values);

/* Counter or gauge: add 'delta' (a counter ignores negative deltas). Writer thread. */
void series_add(struct series *s, double delta);
/* Counter or gauge: set the value. For counters that mirror a kernel counter. Writer thread. */
void series_set(struct series *s, double value);
/* Histogram: count one observation. Writer thread. */
void series_observe(struct series *s, double value);
/* Current value of a counter or gauge (histograms: the count). Any thread. */
double series_value(const struct series *s);

/*
 * Remove the series of 'm' that were not written (add/set/observe) since the previous sweep, for
 * families whose label sets come and go (mounts, network devices, processes). Writer thread.
 * Returns the number removed.
 */
size_t metric_sweep(struct metric *m);

/*
 * Start a counter series at 'value' instead of 0 when it is created later (or now, if it exists
 * and is still 0): how counters continue from their stored value after a restart. 'names' and
 * 'values' are the series' labels without __name__, in any order. Writer thread, before the
 * collector starts. Seeds may name families not registered yet: they are kept and applied when
 * the series is created. Returns 0, or -EINVAL for more than REGISTRY_MAX_LABELS labels.
 */
int registry_seed_counter(struct registry *reg, const char *name, size_t nlabels,
			  const char *const *names, const char *const *values, double value);

/*
 * Create now every series of counter family 'm' that a seed names (registry_seed_counter), at
 * its seeded value, instead of at its next event: a family counted from log events whose series
 * saw no event since a restart is then on /metrics and in the store from the first tick, its
 * value continuing, rather than absent until something happens. Not for families whose label
 * sets come and go with the host (a seed of a vanished device would bring it back). Seeds of the
 * overflow series and past the family's series cap are left to be taken lazily. Writer thread,
 * after the seeds are loaded. Returns the number of series created.
 */
size_t metric_create_seeded(struct metric *m);

/* What a visitor is shown of a family. All pointers borrowed for the duration of the callback. */
struct metric_info {
	const char *name;
	const char *help;
	enum metric_type type;
	size_t nseries;
};

/*
 * One sample as Prometheus's data model sees it: histograms expand to name_bucket{...,le="x"}
 * (cumulative), name_sum and name_count. Labels are in family order with "le" last; there is no
 * __name__ label. All pointers are borrowed for the duration of the callback.
 */
struct sample_view {
	const char *name;
	size_t nlabels;
	const char *const *label_names;
	const char *const *label_values;
	double value;
};

/* Callbacks for registry_visit(); a non-zero return stops the visit and is returned. */
struct registry_visitor {
	int (*family)(void *ctx, const struct metric_info *info); /* may be NULL */
	int (*sample)(void *ctx, const struct metric_info *info, const struct sample_view *s);
};

/*
 * Call 'v' for every family (in registration order) and each of its samples (in creation order),
 * holding the registry's read lock. Families with no series are still shown to v->family.
 * The registry's own self-metrics (deploywatch_series_overflow_total, deploywatch_series) are
 * included. Any thread. Returns 0 or the first non-zero callback result.
 */
int registry_visit(struct registry *reg, const struct registry_visitor *v, void *ctx);

/*
 * Call v->sample for each sample of one series, as registry_visit() shows them (a histogram's
 * cumulative buckets, then _sum and _count); v->family is not called. For the writer that
 * records a series' values at a log timestamp (collector/tail_time.c). Writer thread only: it
 * takes no lock, since only the writer changes the registry's structure. Returns 0 or the first
 * non-zero callback result.
 */
int series_visit(struct series *s, const struct registry_visitor *v, void *ctx);
/* The family of series 's' (for its type and name). Writer thread. */
const struct metric *series_metric(const struct series *s);
/* The type of family 'm'. Any thread. */
enum metric_type metric_type_of(const struct metric *m);

#endif
