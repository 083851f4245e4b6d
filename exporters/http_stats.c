/*
 * Request statistics: request threads add to per-route atomics; the registry's writer thread
 * copies what changed into the registry (http_server_publish_stats).
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdio.h>

#include "exporters/http_int.h"

/* Request duration buckets: client_golang's defaults, which the usual dashboards expect. */
static const double http_duration_bounds[HTTP_DURATION_NBOUNDS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10
};


void http_stats_record(struct http_server *srv, struct http_route_stats *st, unsigned code,
			 int64_t start_ns)
{
	size_t i;

	for (i = 0; i < HTTP_STATS_CODE_SLOTS; i++) {
		unsigned c = atomic_load_explicit(&st->codes[i].code, memory_order_acquire);

		if (c == 0) {
			unsigned expected = 0;

			if (atomic_compare_exchange_strong(&st->codes[i].code, &expected, code))
				c = code;
			else
				c = expected;
		}
		if (c == code) {
			atomic_fetch_add_explicit(&st->codes[i].count, 1, memory_order_relaxed);
			break;
		}
	}
	if (i == HTTP_STATS_CODE_SLOTS)
		atomic_fetch_add_explicit(&st->other_codes, 1, memory_order_relaxed);

	if (srv->mono_ns) {
		int64_t ns = srv->mono_ns() - start_ns;
		double s;
		size_t b;

		if (ns < 0)
			ns = 0;
		s = (double)ns / 1e9;
		for (b = 0; b < HTTP_DURATION_NBOUNDS && s > http_duration_bounds[b]; b++)
			;
		/* Sum before count, so a publisher that reads count then sum never sees a count
		 * without its time. */
		atomic_fetch_add_explicit(&st->buckets[b].sum_ns, (uint64_t)ns, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->buckets[b].count, 1, memory_order_release);
	}
}

static void publish_route(struct metric *mreq, struct metric *mdur, const char *handler,
			  struct http_route_stats *st)
{
	char code[16];
	uint64_t now;

	for (size_t i = 0; i < HTTP_STATS_CODE_SLOTS; i++) {
		unsigned c = atomic_load_explicit(&st->codes[i].code, memory_order_acquire);

		if (!c)
			break;
		now = atomic_load_explicit(&st->codes[i].count, memory_order_relaxed);
		if (now == st->codes[i].published)
			continue;
		snprintf(code, sizeof(code), "%u", c);
		series_add(metric_series(mreq, (const char *const[]){ handler, code }),
			   (double)(now - st->codes[i].published));
		st->codes[i].published = now;
	}
	now = atomic_load_explicit(&st->other_codes, memory_order_relaxed);
	if (now != st->other_published) {
		series_add(metric_series(mreq, (const char *const[]){ handler, "other" }),
			   (double)(now - st->other_published));
		st->other_published = now;
	}

	/*
	 * The registry takes histogram observations one by one, so each bucket's new requests are
	 * observed at their mean duration: bucket counts stay exact, the sum exact up to rounding,
	 * and the mean of values inside a bucket lies inside it (clamped against the races).
	 */
	for (size_t b = 0; b <= HTTP_DURATION_NBOUNDS; b++) {
		struct http_duration_bucket *bk = &st->buckets[b];
		uint64_t count = atomic_load_explicit(&bk->count, memory_order_acquire);
		uint64_t sum = atomic_load_explicit(&bk->sum_ns, memory_order_relaxed);
		uint64_t d = count - bk->published_count;
		double mean, lo = b ? http_duration_bounds[b - 1] : 0;
		struct series *s;

		if (!d)
			continue;
		mean = (double)(sum - bk->published_sum_ns) / (double)d / 1e9;
		if (b < HTTP_DURATION_NBOUNDS && mean > http_duration_bounds[b])
			mean = http_duration_bounds[b];
		if (b && mean <= lo)
			mean = nextafter(lo, INFINITY);
		s = metric_series(mdur, (const char *const[]){ handler });
		for (uint64_t k = 0; k < d; k++)
			series_observe(s, mean);
		bk->published_count = count;
		bk->published_sum_ns = sum;
	}
}

/* Add what 'counter' gained since '*published' to 's'. */
static void publish_counter(struct series *s, _Atomic uint64_t *counter, uint64_t *published)
{
	uint64_t now = atomic_load_explicit(counter, memory_order_relaxed);

	if (now != *published)
		series_add(s, (double)(now - *published));
	*published = now;
}

static int publish_connections(struct http_server *srv, struct registry *reg)
{
	static const char *const reason_labels[] = { "reason", NULL };
	struct http_conns *cs = &srv->conns;
	struct metric *open, *refused, *closed, *in_flight, *over;

	open = registry_gauge(reg, "deploywatch_http_connections",
			      "HTTP connections open.", NULL);
	refused = registry_counter(reg, "deploywatch_http_connections_refused_total",
				   "HTTP connections refused: web.max_connections open, every one "
				   "being answered.", NULL);
	closed = registry_counter(reg, "deploywatch_http_connections_closed_total",
				  "HTTP connections closed by the server: idle past web.idle_timeout, "
				  "request incomplete past web.read_timeout, or to make room when "
				  "web.max_connections were open (full).", reason_labels);
	in_flight = registry_gauge(reg, "deploywatch_http_requests_in_flight",
				   "HTTP requests received and not yet answered.", NULL);
	over = registry_counter(reg, "deploywatch_http_requests_over_limit_total",
				"HTTP requests answered 503 because web.max_requests were in flight.",
				NULL);
	if (!open || !refused || !closed || !in_flight || !over)
		return -EINVAL;
	series_set(metric_series(open, NULL), http_conns_open(cs));
	series_set(metric_series(in_flight, NULL),
		   atomic_load_explicit(&srv->in_flight, memory_order_relaxed));
	publish_counter(metric_series(refused, NULL), &cs->refused, &srv->published_refused);
	publish_counter(metric_series(closed, (const char *const[]){ "idle_timeout" }),
			&cs->closed_idle, &srv->published_idle);
	publish_counter(metric_series(closed, (const char *const[]){ "read_timeout" }),
			&cs->closed_slow, &srv->published_slow);
	publish_counter(metric_series(closed, (const char *const[]){ "full" }),
			&cs->closed_full, &srv->published_full);
	publish_counter(metric_series(over, NULL), &srv->over_limit, &srv->published_over_limit);
	return 0;
}

int http_server_publish_stats(struct http_server *srv, struct registry *reg)
{
	static const char *const req_labels[] = { "handler", "code", NULL };
	static const char *const dur_labels[] = { "handler", NULL };
	struct metric *mreq, *mdur;
	size_t n;

	if (!srv)
		return 0;
	mreq = registry_counter(reg, "deploywatch_http_requests_total",
				"HTTP requests answered, by route and status code.", req_labels);
	mdur = registry_histogram(reg, "deploywatch_http_request_duration_seconds",
				  "Time taken to answer HTTP requests, by route.", dur_labels,
				  http_duration_bounds, HTTP_DURATION_NBOUNDS);
	if (!mreq || !mdur)
		return -EINVAL;
	n = atomic_load_explicit(&srv->nroutes, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		publish_route(mreq, mdur, srv->routes[i].path, &srv->routes[i].stats);
	publish_route(mreq, mdur, "other", &srv->unrouted);
	return publish_connections(srv, reg);
}

