#ifndef DW_EXPORTERS_EXPORTERS_H
#define DW_EXPORTERS_EXPORTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"

/*
 * exporters: the registry as Prometheus text / OpenMetrics, and the HTTP server (libmicrohttpd)
 * that serves it together with any routes later modules register (the PromQL API, judge).
 *
 * Threads: the server answers requests on its own thread pool. Those threads only read the
 * registry (registry_visit); the server's own request statistics are plain atomics that the
 * registry's writer thread copies into the registry with http_server_publish_stats().
 */

/* ---------------------------------------------------------------------------------------- */
/* Exposition formats                                                                         */

enum exposition_format {
	EXPOSITION_TEXT,        /* Prometheus text format 0.0.4 */
	EXPOSITION_OPENMETRICS, /* OpenMetrics 1.0.0 */
};

/*
 * Write every family of 'reg' in format 'fmt', appending to 'out' (which the caller owns and
 * initialised). HELP and TYPE lines for every family, also for those without series; samples
 * as registry_visit() shows them. Label values and help text that are not valid UTF-8 are
 * repaired (U+FFFD) so one bad byte from a log line cannot make the whole scrape unparseable.
 * OpenMetrics: counters are announced without their "_total" suffix and their samples carry
 * it; the output ends with "# EOF".
 * Returns 0, or -E2BIG when 'out' would exceed its maximum (out then holds a truncated text
 * that must not be served). Any thread (reader of the registry).
 */
int exposition_write(struct registry *reg, enum exposition_format fmt, struct buf *out);

/*
 * Content negotiation for /metrics: EXPOSITION_OPENMETRICS when the Accept header prefers
 * application/openmetrics-text (no version, 0.0.1 or 1.0.0) over the text format, else
 * EXPOSITION_TEXT. Quality values are honoured; ties go to the earlier media range. NULL or
 * unparseable headers give EXPOSITION_TEXT. Pure.
 */
enum exposition_format exposition_negotiate(const char *accept_header);

/* The Content-Type header value for 'fmt', e.g. "text/plain; version=0.0.4; charset=utf-8".
 * A static string. */
const char *exposition_content_type(enum exposition_format fmt);

/* ---------------------------------------------------------------------------------------- */
/* HTTP server                                                                                */

struct http_server;
struct http_request;  /* borrowed by a handler for the duration of its call */
struct http_response; /* likewise */

#define HTTP_DEFAULT_LISTEN "127.0.0.1:9466"
#define HTTP_DEFAULT_THREADS 2
#define HTTP_MAX_THREADS 64
#define HTTP_DEFAULT_MAX_BODY ((size_t)1 << 20)      /* request bodies (form POSTs) */
/* Request line + headers, per connection. It is libmicrohttpd's per-connection memory pool,
 * which it zeroes whole for every connection: at 128 KiB, 1,000 connections cost 0.56 s of CPU
 * and 128 MiB; at 16 KiB, 0.12 s and 16 MiB. Longer PromQL queries go in a POST body. */
#define HTTP_DEFAULT_MAX_HEADER ((size_t)16 << 10)
/* Stack of each worker thread: deep PromQL expressions recurse (~2 KiB a level). */
#define HTTP_THREAD_STACK ((size_t)8 << 20)
#define HTTP_MAX_RESPONSE ((size_t)256 << 20)        /* any response body */
#define HTTP_MAX_ARGS 1000                           /* query + form parameters per request */
#define HTTP_MAX_ROUTES 64
#define HTTP_MAX_RESPONSE_HEADERS 16
#define HTTP_REALM "deploywatch"
/* Connection limits (web.max_connections, web.max_requests, web.read_timeout,
 * web.idle_timeout). The idle timeout keeps a Prometheus scraper's connection across a 15 s
 * scrape interval; a request arrives in one packet from any HTTP client, so 10 s is generous. */
#define HTTP_DEFAULT_MAX_CONNECTIONS 1024
#define HTTP_MAX_CONNECTIONS 65536
#define HTTP_DEFAULT_MAX_REQUESTS 40                 /* node_exporter's --web.max-requests */
#define HTTP_MAX_REQUESTS 10000
#define HTTP_DEFAULT_READ_TIMEOUT_MS 10000
#define HTTP_DEFAULT_IDLE_TIMEOUT_MS 20000

struct http_server_options {
	/* "127.0.0.1:9466", "[::1]:0", ":9466" (all interfaces, IPv6 and IPv4), "localhost:9466";
	 * port 0 picks a free port (see http_server_port). NULL: HTTP_DEFAULT_LISTEN. */
	const char *listen_address;
	/* PEM files; both set: HTTPS. Both NULL or "": plain HTTP. Read during http_server_new. */
	const char *tls_cert_file;
	const char *tls_key_file;
	/* Basic-auth users (name -> bcrypt hash, as cfg->web.users). Copied. nusers 0: no auth. */
	const struct config_user *users;
	size_t nusers;
	/* Request threads; 0: HTTP_DEFAULT_THREADS; at most HTTP_MAX_THREADS. */
	unsigned threads;
	/* Caps; 0: the defaults above. */
	size_t max_body;
	size_t max_header;
	/* Open connections. When full, a new connection takes the slot of the one idle longest,
	 * else of the one waiting longest for its request; only when every connection is being
	 * answered is it refused. Lowered (with a warning) to fit RLIMIT_NOFILE. */
	unsigned max_connections;
	/* Requests in flight (any route, from their headers until the answer is sent); past it a
	 * request is answered 503 at once. */
	unsigned max_requests;
	/* A request must arrive in full within read_timeout_ms (a connection's first request
	 * counts from the accept); a keep-alive connection is closed after idle_timeout_ms without
	 * one. <= 0: the defaults. */
	int64_t read_timeout_ms;
	int64_t idle_timeout_ms;
	/* Served on /metrics. Borrowed: must outlive the server. NULL: no /metrics route. */
	struct registry *registry;
	/* Monotonic clock in nanoseconds for request durations (pass clock_mono_ns from cli/),
	 * also the age of the /metrics render cache. NULL: durations are not measured and the
	 * duration histogram stays empty; the cache ages by clock_mono_ns. */
	int64_t (*mono_ns)(void);
};

/*
 * Bind 'opt->listen_address', load the TLS files, and start serving on opt->threads threads
 * (libmicrohttpd's epoll workers) plus one thread that closes connections past their deadlines:
 * /metrics (when opt->registry is set), /-/healthy and /-/ready; every other path is 404 until
 * a route is added. On success *out is the server (free with http_server_free) and 0 is
 * returned. On failure returns a negative errno (-EADDRINUSE, -EACCES, -ENOENT, -EINVAL ...)
 * and writes one line into 'err' naming what failed, e.g.
 *   "listen 127.0.0.1:9466: Address already in use"
 *   "tls_cert_file /etc/dw/cert.pem: cannot read: No such file or directory"
 * 'opt' and everything it points to is borrowed for the call only, except opt->registry.
 * Any thread.
 */
int http_server_new(const struct http_server_options *opt, struct http_server **out,
		    char *err, size_t errlen);

/*
 * Check a TLS certificate and key as http_server_new() would, without listening: both readable,
 * both PEM, and a pair gnutls accepts. Returns 0, or a negative errno with one line in 'err'
 * naming the file and the cause (the same messages as http_server_new). For check-config.
 */
int http_tls_validate(const char *cert_file, const char *key_file, char *err, size_t errlen);

/* Stop accepting, finish the requests in progress, free everything. NULL is a no-op. */
void http_server_free(struct http_server *srv);

/* /-/ready answers 200 when ready (the default), 503 otherwise: for the time the agent needs
 * before its answers mean anything (the store opening). Any thread. */
void http_server_set_ready(struct http_server *srv, bool ready);

/* The TCP port the server is bound to (the chosen one when the address said port 0). */
int http_server_port(const struct http_server *srv);

/*
 * A route handler. Fill 'resp' (status defaults to 200, Content-Type to text/plain) and return
 * 0; a negative return is logged and answered with 500 (whatever was put in 'resp' is
 * dropped). Called on a request thread, concurrently with other requests: 'ctx' must be safe
 * for that. 'req' and 'resp' are borrowed for the call.
 */
typedef int (*http_handler_fn)(void *ctx, const struct http_request *req,
			       struct http_response *resp);

/*
 * Route requests for 'path' to 'handler' with 'ctx'. prefix=false: the path must match
 * exactly; prefix=true: any path starting with 'path' (e.g. "/api/v1/label/"). An exact
 * route wins over prefixes, a longer prefix over a shorter one. Basic auth, when configured,
 * is checked before the handler runs; the handler checks the method itself
 * (http_response_method_not_allowed). 'path' is copied; 'ctx' is borrowed for the server's
 * life. May be called while the server is serving, from one thread at a time.
 * Returns 0, -EEXIST for a path already routed the same way, -ENOSPC past HTTP_MAX_ROUTES,
 * -EINVAL for a path not starting with '/'.
 */
int http_server_route(struct http_server *srv, const char *path, bool prefix,
		      http_handler_fn handler, void *ctx);

/*
 * Copy the server's request statistics into 'reg' as
 *   deploywatch_http_requests_total{handler,code}           (counter)
 *   deploywatch_http_request_duration_seconds{handler}     (histogram)
 *   deploywatch_http_connections                             (gauge, open now)
 *   deploywatch_http_connections_refused_total               (counter)
 *   deploywatch_http_connections_closed_total{reason}        (counter: idle_timeout,
 *                                                             read_timeout, full)
 *   deploywatch_http_requests_in_flight                      (gauge)
 *   deploywatch_http_requests_over_limit_total               (counter, answered 503)
 * where handler is the route path ("other" for unrouted paths). Adds what happened since the
 * previous call, so counters seeded from the store continue. Call from the registry's writer
 * thread (the collector's tick). A server that replaces another (config reload) continues the
 * same series. 'srv' NULL is a no-op returning 0. Returns 0, or -EINVAL when the families are
 * registered in 'reg' with another shape.
 */
int http_server_publish_stats(struct http_server *srv, struct registry *reg);

/*
 * The registry changed (the tailer counted lines, a tick sampled the host): the next /metrics
 * renders afresh instead of answering from the render cache, so a counter change is visible at
 * once, not up to HTTP_METRICS_CACHE_NS later. Between two changes a burst of scrapes still
 * shares one rendering. One atomic increment, no lock: call it from the registry's writer
 * thread after each batch of changes. 'srv' NULL is a no-op.
 */
void http_server_metrics_changed(struct http_server *srv);

/* --- requests ---------------------------------------------------------------------------- */

/* "GET", "POST", "HEAD" ... */
const char *http_request_method(const struct http_request *req);
/* The path, percent-decoded, without the query string. */
const char *http_request_path(const struct http_request *req);
/* A request header (case-insensitive name), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);
/*
 * Parameters: the form body of a POST with Content-Type application/x-www-form-urlencoded,
 * followed by the URL's query string, both decoded ('+' is a space, %XX a byte), in order,
 * repeated names kept (match[]=a&match[]=b), as Go's Request.Form, which the Prometheus API
 * uses. http_request_arg returns the first value for 'name' or NULL.
 */
const char *http_request_arg(const struct http_request *req, const char *name);
size_t http_request_nargs(const struct http_request *req);
/* The i-th parameter, i < http_request_nargs(). */
void http_request_arg_at(const struct http_request *req, size_t i, const char **name,
			 const char **value);
/* The raw request body (NUL-terminated past *len), empty for none. */
const char *http_request_body(const struct http_request *req, size_t *len);

/* --- responses --------------------------------------------------------------------------- */

/* Set the status code (default 200). */
void http_response_status(struct http_response *resp, unsigned status);
/* Add a header (both strings copied). "Content-Type" replaces the default. Returns 0 or
 * -E2BIG past HTTP_MAX_RESPONSE_HEADERS. */
int http_response_header(struct http_response *resp, const char *name, const char *value);
/* The body to append to; its maximum is HTTP_MAX_RESPONSE. */
struct buf *http_response_body(struct http_response *resp);
/* Replace the body with a text/plain message and set 'status'. */
void http_response_text(struct http_response *resp, unsigned status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* 405 Method Not Allowed with "Allow: <allow>" (e.g. "GET, POST"). */
void http_response_method_not_allowed(struct http_response *resp, const char *allow);
/*
 * gzip the body if 'req' accepts gzip (Accept-Encoding) and the body is not empty, adding
 * Content-Encoding: gzip and Vary: Accept-Encoding. Call last, after the body is complete.
 * Returns 0 (also when nothing was done) or -E2BIG.
 */
int http_response_compress(struct http_response *resp, const struct http_request *req);

#endif
