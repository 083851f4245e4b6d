/*
 * Routes: the route table later modules add to, responses, dispatch of a complete request to its
 * route's handler, and the built-in routes /metrics, /-/healthy and /-/ready.
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>
#include <zlib.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "exporters/http_int.h"

#define LOG_COMP "http"

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

void http_response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = MHD_HTTP_OK;
	buf_init(&resp->body, HTTP_MAX_RESPONSE);
}

void http_response_release(struct http_response *resp)
{
	buf_release(&resp->body);
	for (size_t i = 0; i < resp->nheaders; i++) {
		free(resp->hname[i]);
		free(resp->hvalue[i]);
	}
	resp->nheaders = 0;
}

void http_response_status(struct http_response *resp, unsigned status)
{
	resp->status = status;
}

int http_response_header(struct http_response *resp, const char *name, const char *value)
{
	if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0) {
		for (size_t i = 0; i < resp->nheaders; i++) {
			if (strcasecmp(resp->hname[i], name) == 0) {
				free(resp->hvalue[i]);
				resp->hvalue[i] = xstrdup(value);
				return 0;
			}
		}
	}
	if (resp->nheaders >= HTTP_MAX_RESPONSE_HEADERS)
		return -E2BIG;
	if (strcasecmp(name, MHD_HTTP_HEADER_CONTENT_TYPE) == 0)
		resp->has_content_type = true;
	resp->hname[resp->nheaders] = xstrdup(name);
	resp->hvalue[resp->nheaders] = xstrdup(value);
	resp->nheaders++;
	return 0;
}

struct buf *http_response_body(struct http_response *resp)
{
	return &resp->body;
}

void http_response_text(struct http_response *resp, unsigned status, const char *fmt, ...)
{
	va_list ap;

	resp->status = status;
	buf_reset(&resp->body);
	http_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	va_start(ap, fmt);
	buf_vprintf(&resp->body, fmt, ap);
	va_end(ap);
}

void http_response_method_not_allowed(struct http_response *resp, const char *allow)
{
	http_response_text(resp, MHD_HTTP_METHOD_NOT_ALLOWED, "Method Not Allowed\n");
	http_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
}

/* True when an Accept-Encoding header accepts gzip (a "gzip" coding with q > 0). */
static bool accepts_gzip(const char *ae)
{
	while (ae && *ae) {
		const char *comma = strchr(ae, ',');
		const char *e = comma ? comma : ae + strlen(ae);
		const char *semi = memchr(ae, ';', (size_t)(e - ae));
		const char *ce = semi ? semi : e;

		while (ae < ce && (*ae == ' ' || *ae == '\t'))
			ae++;
		while (ce > ae && (ce[-1] == ' ' || ce[-1] == '\t'))
			ce--;
		if (((size_t)(ce - ae) == 4 && strncasecmp(ae, "gzip", 4) == 0) ||
		    ((size_t)(ce - ae) == 6 && strncasecmp(ae, "x-gzip", 6) == 0)) {
			const char *q = semi ? strstr(semi, "q=") : NULL;

			if (!q || q > e || strtod(q + 2, NULL) > 0)
				return true;
		}
		ae = comma ? comma + 1 : NULL;
	}
	return false;
}

int http_response_compress(struct http_response *resp, const struct http_request *req)
{
	unsigned char chunk[16384];
	z_stream zs = { 0 };
	struct buf out;
	int rc = 0, zrc;

	if (!resp->body.len ||
	    !accepts_gzip(http_request_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING)))
		return 0;
	/* Level 1: scrapes repeat every few seconds, and the text compresses well even so. */
	if (deflateInit2(&zs, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -ENOMEM;
	buf_init(&out, HTTP_MAX_RESPONSE);
	zs.next_in = (Bytef *)resp->body.data;
	zs.avail_in = (uInt)resp->body.len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		zrc = deflate(&zs, Z_FINISH);
		if (zrc == Z_STREAM_ERROR) {
			rc = -EIO;
			break;
		}
		rc = buf_append(&out, chunk, sizeof(chunk) - zs.avail_out);
	} while (!rc && zrc != Z_STREAM_END);
	deflateEnd(&zs);
	if (rc) {
		buf_release(&out);
		return rc;
	}
	buf_release(&resp->body);
	resp->body = out;
	http_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	http_response_header(resp, MHD_HTTP_HEADER_VARY, MHD_HTTP_HEADER_ACCEPT_ENCODING);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Dispatch                                                                                   */

struct http_route *http_route_find(struct http_server *srv, const char *path)
{
	size_t n = atomic_load_explicit(&srv->nroutes, memory_order_acquire);
	struct http_route *best = NULL;

	for (size_t i = 0; i < n; i++) {
		struct http_route *r = &srv->routes[i];

		if (!r->prefix && strcmp(r->path, path) == 0)
			return r;
		if (r->prefix && strncmp(r->path, path, r->len) == 0 &&
		    (!best || r->len > best->len))
			best = r;
	}
	return best;
}

/* Queue 'resp' on the connection, record the statistics. Consumes resp's contents. */
static enum MHD_Result send_response(struct http_request *req, struct http_response *resp)
{
	struct http_server *srv = req->srv;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	size_t len;
	char *body;

	if (!resp->has_content_type)
		http_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				     "text/plain; charset=utf-8");
	body = buf_detach(&resp->body, &len);
	mr = MHD_create_response_from_buffer_with_free_callback(len, body, free);
	if (!mr) {
		free(body);
		http_response_release(resp);
		return MHD_NO;
	}
	for (size_t i = 0; i < resp->nheaders; i++)
		if (MHD_add_response_header(mr, resp->hname[i], resp->hvalue[i]) != MHD_YES)
			log_warn(LOG_COMP, "dropped invalid response header %s for %s",
				 resp->hname[i], req->path);
	ret = MHD_queue_response(req->conn, resp->status, mr);
	MHD_destroy_response(mr);
	req->answered = true;
	http_stats_record(srv, req->route ? &req->route->stats : &srv->unrouted, resp->status,
		     req->start_ns);
	http_response_release(resp);
	return ret;
}

enum MHD_Result http_answer_text(struct http_request *req, unsigned status, const char *msg)
{
	struct http_response resp;

	http_response_init(&resp);
	http_response_text(&resp, status, "%s\n", msg);
	if (status == MHD_HTTP_UNAUTHORIZED)
		http_response_header(&resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				     "Basic realm=\"" HTTP_REALM "\"");
	return send_response(req, &resp);
}

enum MHD_Result http_dispatch(struct http_request *req)
{
	struct http_response resp;
	int err;

	if (req->body_too_large)
		return http_answer_text(req, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
	if (!req->route)
		return http_answer_text(req, MHD_HTTP_NOT_FOUND, "404 page not found");
	err = http_form_parse_args(req);
	if (err == -E2BIG)
		return http_answer_text(req, MHD_HTTP_BAD_REQUEST, "Too many parameters");
	if (err)
		return http_answer_text(req, MHD_HTTP_BAD_REQUEST, "Invalid URL escape in parameters");

	http_response_init(&resp);
	err = req->route->handler(req->route->ctx, req, &resp);
	if (err < 0) {
		log_error(LOG_COMP, "handler for %s %s failed: %s; answered 500", req->method,
			  req->path, err_str(err));
		http_response_release(&resp);
		return http_answer_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal Server Error");
	}
	return send_response(req, &resp);
}


/* ---------------------------------------------------------------------------------------- */
/* Built-in routes                                                                            */

static bool is_get(const struct http_request *req)
{
	return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

/* Caller holds the cache's lock. */
static void cache_drop(struct http_metrics_cache *mc)
{
	for (size_t i = 0; i < 2; i++)
		for (size_t j = 0; j < 2; j++) {
			free(mc->slot[i][j].data);
			mc->slot[i][j].data = NULL;
		}
}

/* A copy of the cached body for ('fmt', 'gz') into 'out' when it is fresh. */
static bool cache_get(struct http_metrics_cache *mc, enum exposition_format fmt, bool gz,
		      int64_t now, uint64_t gen, struct buf *out)
{
	bool hit = false;

	pthread_mutex_lock(&mc->lock);
	if (mc->slot[fmt][gz].data && mc->slot[fmt][gz].gen == gen &&
	    now - mc->slot[fmt][gz].at_ns < HTTP_METRICS_CACHE_NS)
		hit = buf_append(out, mc->slot[fmt][gz].data, mc->slot[fmt][gz].len) == 0;
	pthread_mutex_unlock(&mc->lock);
	return hit;
}

static void cache_put(struct http_metrics_cache *mc, enum exposition_format fmt, bool gz,
		      int64_t now, uint64_t gen, const struct buf *body)
{
	char *copy = xmalloc(body->len ? body->len : 1);

	memcpy(copy, body->data, body->len);
	pthread_mutex_lock(&mc->lock);
	free(mc->slot[fmt][gz].data);
	mc->slot[fmt][gz].data = copy;
	mc->slot[fmt][gz].len = body->len;
	mc->slot[fmt][gz].at_ns = now;
	mc->slot[fmt][gz].gen = gen;
	pthread_mutex_unlock(&mc->lock);
}

void http_metrics_cache_init(struct http_metrics_cache *mc)
{
	memset(mc, 0, sizeof(*mc));
	pthread_mutex_init(&mc->lock, NULL);
}

void http_metrics_cache_release(struct http_metrics_cache *mc)
{
	cache_drop(mc);
	pthread_mutex_destroy(&mc->lock);
}

void http_server_metrics_changed(struct http_server *srv)
{
	if (srv)
		atomic_fetch_add_explicit(&srv->metrics_cache.gen, 1, memory_order_release);
}

static int handle_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct http_server *srv = ctx;
	enum exposition_format fmt;
	int64_t now = srv->mono_ns ? srv->mono_ns() : clock_mono_ns();
	/* Read before rendering: a change made during the rendering leaves the copy stale. */
	uint64_t gen = atomic_load_explicit(&srv->metrics_cache.gen, memory_order_acquire);
	bool gz;
	int err;

	if (!is_get(req)) {
		http_response_method_not_allowed(resp, "GET, HEAD");
		return 0;
	}
	fmt = exposition_negotiate(http_request_header(req, MHD_HTTP_HEADER_ACCEPT));
	gz = accepts_gzip(http_request_header(req, MHD_HTTP_HEADER_ACCEPT_ENCODING));
	http_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, exposition_content_type(fmt));
	if (cache_get(&srv->metrics_cache, fmt, gz, now, gen, http_response_body(resp))) {
		if (gz && resp->body.len) {
			http_response_header(resp, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
			http_response_header(resp, MHD_HTTP_HEADER_VARY,
					     MHD_HTTP_HEADER_ACCEPT_ENCODING);
		}
		return 0;
	}
	err = exposition_write(srv->registry, fmt, http_response_body(resp));
	if (!err)
		err = http_response_compress(resp, req);
	if (err) {
		log_error(LOG_COMP, "cannot write /metrics: %s; answered 500", err_str(err));
		http_response_text(resp, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cannot write metrics: %s\n", err_str(err));
		return 0;
	}
	cache_put(&srv->metrics_cache, fmt, gz, now, gen, &resp->body);
	return 0;
}

static int handle_healthy(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	if (!is_get(req))
		http_response_method_not_allowed(resp, "GET, HEAD");
	else
		http_response_text(resp, MHD_HTTP_OK, "deploywatch is Healthy.\n");
	return 0;
}

static int handle_ready(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct http_server *srv = ctx;

	if (!is_get(req))
		http_response_method_not_allowed(resp, "GET, HEAD");
	else if (atomic_load(&srv->ready))
		http_response_text(resp, MHD_HTTP_OK, "deploywatch is Ready.\n");
	else
		http_response_text(resp, MHD_HTTP_SERVICE_UNAVAILABLE, "Service Unavailable\n");
	return 0;
}

void http_route_add_builtins(struct http_server *srv)
{
	if (srv->registry)
		http_server_route(srv, "/metrics", false, handle_metrics, srv);
	http_server_route(srv, "/-/healthy", false, handle_healthy, srv);
	http_server_route(srv, "/-/ready", false, handle_ready, srv);
}

void http_server_set_ready(struct http_server *srv, bool ready)
{
	atomic_store(&srv->ready, ready);
}

/* ---------------------------------------------------------------------------------------- */
/* Server                                                                                     */

int http_server_route(struct http_server *srv, const char *path, bool prefix,
		      http_handler_fn handler, void *ctx)
{
	size_t n = atomic_load_explicit(&srv->nroutes, memory_order_relaxed);
	struct http_route *r;

	if (!path || path[0] != '/' || !handler)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (srv->routes[i].prefix == prefix && strcmp(srv->routes[i].path, path) == 0)
			return -EEXIST;
	if (n >= HTTP_MAX_ROUTES)
		return -ENOSPC;
	r = &srv->routes[n];
	r->path = xstrdup(path);
	r->len = strlen(path);
	r->prefix = prefix;
	r->handler = handler;
	r->ctx = ctx;
	atomic_store_explicit(&srv->nroutes, n + 1, memory_order_release);
	return 0;
}

