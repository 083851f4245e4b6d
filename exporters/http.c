/*
 * The HTTP server: libmicrohttpd with an internal pool of epoll workers, a route table later
 * modules add to, basic auth, /metrics, /-/healthy, /-/ready, and request statistics kept in
 * atomics.
 *
 * Request life in libmicrohttpd: the accept-policy and connection callbacks (http_conn.c) decide
 * whether a new connection gets a slot and track it; the URI log callback runs first for each
 * request and creates our struct http_request (it sees the raw URI, whose query string we decode
 * ourselves so that '+' means a space as in Go's url.ParseQuery); the access handler is then
 * called once with the headers (the web.max_requests count, auth and size checks), once per
 * chunk of body, and once more at the end, when the route's handler runs; the completion
 * callback frees the request and leaves the connection idle.
 *
 * The other parts are listed in http_int.h.
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#include "core/err.h"
#include "core/log.h"
#include "exporters/http_int.h"

#define LOG_COMP "http"
/* Headroom over web.max_connections for libmicrohttpd's own limit, which must never be reached
 * (see http_conn.c): connections shut down but not yet closed, and accepts racing between
 * workers. */
#define MHD_LIMIT_SLACK 64
/* Descriptors left to the rest of the agent under RLIMIT_NOFILE. */
#define FDS_RESERVED 128
/* libmicrohttpd's inactivity timeout is this much longer than ours. */
#define MHD_TIMEOUT_EXTRA_S 10

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct http_request *req = xcalloc(1, sizeof(*req));

	http_conn_request_started(srv, conn);
	req->srv = srv;
	req->uri = xstrdup(uri ? uri : "/");
	req->start_ns = srv->mono_ns ? srv->mono_ns() : 0;
	buf_init(&req->body, srv->max_body);
	return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)toe;
	http_conn_request_done(srv, conn);
	if (!req)
		return;
	if (req->in_flight)
		atomic_fetch_sub_explicit(&srv->in_flight, 1, memory_order_relaxed);
	for (size_t i = 0; i < req->nargs; i++) {
		free(req->args[i].name);
		free(req->args[i].value);
	}
	free(req->args);
	buf_release(&req->body);
	free(req->uri);
	free(req);
	*con_cls = NULL;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request *req = *con_cls;

	(void)version;
	if (!req) /* the URI callback always runs first; this is only a safety net */
		*con_cls = req = on_uri(srv, url, conn);
	if (req->answered) {
		/* answered on the headers (401, 413): whatever body follows is dropped */
		*upload_data_size = 0;
		return MHD_YES;
	}

	if (!req->headers_done) {
		const char *clen;

		req->headers_done = true;
		req->conn = conn;
		req->method = method;
		req->path = url;
		req->route = http_route_find(srv, url);
		/* The cap counts every route, answered or not yet, until the answer is sent: a
		 * request waiting for a slow reader holds its response's memory. */
		req->in_flight = true;
		if (atomic_fetch_add_explicit(&srv->in_flight, 1, memory_order_relaxed) >=
		    srv->max_requests) {
			/* Answered once the request is in, with its body dropped, so that the
			 * connection stays usable (an answer on the headers closes it). */
			req->over_limit = true;
			return MHD_YES;
		}
		if (srv->auth && !http_auth_check(srv->auth, http_request_header(
					 req, MHD_HTTP_HEADER_AUTHORIZATION))) {
			http_conn_request_complete(srv, conn);
			return http_answer_text(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
		}
		clen = http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > srv->max_body) {
			http_conn_request_complete(srv, conn);
			return http_answer_text(req, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* A chunked body can grow past the cap: read and drop the rest, answer 413. */
		if (!req->body_too_large && !req->over_limit &&
		    buf_append(&req->body, upload_data, *upload_data_size)) {
			req->body_too_large = true;
			buf_release(&req->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	http_conn_request_complete(srv, conn);
	if (req->over_limit) {
		atomic_fetch_add_explicit(&srv->over_limit, 1, memory_order_relaxed);
		return http_answer_text(req, MHD_HTTP_SERVICE_UNAVAILABLE,
					"Too many concurrent requests");
	}
	return http_dispatch(req);
}


int http_server_port(const struct http_server *srv)
{
	return srv->port;
}

static bool is_set(const char *s)
{
	return s && s[0];
}

int http_server_new(const struct http_server_options *opt, struct http_server **out,
		    char *err, size_t errlen)
{
	const char *addr = is_set(opt->listen_address) ? opt->listen_address : HTTP_DEFAULT_LISTEN;
	unsigned threads = opt->threads ? opt->threads : HTTP_DEFAULT_THREADS;
	struct MHD_OptionItem ops[20];
	struct http_server *srv;
	int64_t read_ms, idle_ms;
	struct rlimit nofile;
	unsigned flags, max_conns;
	size_t nops = 0;
	int fd, rc;

	srv = xcalloc(1, sizeof(*srv));
	srv->listen_address = xstrdup(addr);
	srv->registry = opt->registry;
	srv->mono_ns = opt->mono_ns;
	srv->max_body = opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
	srv->max_requests = opt->max_requests ? opt->max_requests : HTTP_DEFAULT_MAX_REQUESTS;
	max_conns = opt->max_connections ? opt->max_connections : HTTP_DEFAULT_MAX_CONNECTIONS;
	read_ms = opt->read_timeout_ms > 0 ? opt->read_timeout_ms : HTTP_DEFAULT_READ_TIMEOUT_MS;
	idle_ms = opt->idle_timeout_ms > 0 ? opt->idle_timeout_ms : HTTP_DEFAULT_IDLE_TIMEOUT_MS;
	atomic_init(&srv->nroutes, 0);
	atomic_init(&srv->ready, true);
	atomic_init(&srv->in_flight, 0);
	http_metrics_cache_init(&srv->metrics_cache);
	rc = http_conns_init(&srv->conns, max_conns, read_ms * 1000000, idle_ms * 1000000);
	if (rc) {
		snprintf(err, errlen, "listen %s: cannot watch connections: %s", addr, err_str(rc));
		goto out_free;
	}
	srv->conns_ready = true;

	if (max_conns > HTTP_MAX_CONNECTIONS || srv->max_requests > HTTP_MAX_REQUESTS) {
		snprintf(err, errlen, "http limits: max_connections %u (at most %d), max_requests %u "
			 "(at most %d)", max_conns, HTTP_MAX_CONNECTIONS, srv->max_requests,
			 HTTP_MAX_REQUESTS);
		rc = -EINVAL;
		goto out_free;
	}
	/* A connection past the descriptor limit would fail in accept(), which stalls
	 * libmicrohttpd's listener as its own limit does: stay below, leaving the rest of the
	 * agent its share. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY &&
	    max_conns + MHD_LIMIT_SLACK + FDS_RESERVED > nofile.rlim_cur) {
		unsigned fit = nofile.rlim_cur > MHD_LIMIT_SLACK + FDS_RESERVED + 16
				       ? (unsigned)(nofile.rlim_cur - MHD_LIMIT_SLACK - FDS_RESERVED)
				       : 16;

		log_warn(LOG_COMP, "web.max_connections %u does not fit the open-file limit %llu; "
				   "serving at most %u connections", max_conns,
			 (unsigned long long)nofile.rlim_cur, fit);
		srv->conns.max = fit;
	}

	if (threads > HTTP_MAX_THREADS) {
		snprintf(err, errlen, "http threads: %u is more than %d", threads, HTTP_MAX_THREADS);
		rc = -EINVAL;
		goto out_free;
	}
	if (is_set(opt->tls_cert_file) != is_set(opt->tls_key_file)) {
		snprintf(err, errlen, "tls_cert_file and tls_key_file must both be set or both empty");
		rc = -EINVAL;
		goto out_free;
	}
	if (is_set(opt->tls_cert_file)) {
		rc = http_tls_load(opt->tls_cert_file, opt->tls_key_file, &srv->tls_cert, &srv->tls_key,
			      err, errlen);
		if (rc)
			goto out_free;
	}
	if (opt->nusers) {
		rc = http_auth_new(opt->users, opt->nusers, &srv->auth, err, errlen);
		if (rc)
			goto out_free;
	}

	fd = http_listen_bind(addr, err, errlen);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	srv->port = http_listen_port(fd);

	http_route_add_builtins(srv);
	rc = http_conns_start(&srv->conns);
	if (rc) {
		close(fd);
		snprintf(err, errlen, "listen %s: cannot start a thread: %s", addr, err_str(rc));
		goto out_free;
	}

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (srv->tls_cert)
		flags |= MHD_USE_TLS;
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER,
					       (intptr_t)http_mhd_log, &srv->mhd_log };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK,
					       (intptr_t)on_uri, srv };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
					       (intptr_t)on_completed, srv };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_CONNECTION,
					       (intptr_t)http_conn_notify, srv };
	/* Out of reach: each worker gets an equal share of this, and any one worker may hold
	 * every connection. */
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT,
					       (intptr_t)((srv->conns.max + MHD_LIMIT_SLACK) * threads),
					       NULL };
	/* Only a backstop for a response nobody reads (the reaper keeps the other deadlines). */
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					       (intptr_t)((read_ms > idle_ms ? read_ms : idle_ms) /
							  1000 + MHD_TIMEOUT_EXTRA_S), NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					       (intptr_t)(opt->max_header ? opt->max_header :
							  HTTP_DEFAULT_MAX_HEADER), NULL };
	if (threads > 1)
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
	/* The workers evaluate PromQL, which recurses once per level of an expression (up to
	 * PROMQL_MAX_DEPTH): a fixed stack, not the default that follows the process's
	 * RLIMIT_STACK (2 MiB when that is unlimited). Address space only until touched. */
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_STACK_SIZE, HTTP_THREAD_STACK,
					       NULL };
	if (srv->tls_cert) {
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key };
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert };
	}
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	srv->daemon = MHD_start_daemon(flags, 0, http_conn_accept, srv, on_request, srv,
				       MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!srv->daemon) {
		/* Whether libmicrohttpd closed the socket it was given depends on where it failed;
		 * close it only if the descriptor is still our listener. Its reason went to the
		 * log. */
		int acc = 0;
		socklen_t alen = sizeof(acc);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc &&
		    http_listen_port(fd) == srv->port)
			close(fd);
		snprintf(err, errlen, "listen %s: cannot start the HTTP server (see the log)", addr);
		rc = -EIO;
		goto out_free;
	}
	*out = srv;
	return 0;

out_free:
	http_server_free(srv);
	return rc;
}

void http_server_free(struct http_server *srv)
{
	size_t n;

	if (!srv)
		return;
	/* The reaper first: the daemon's stop reports every connection closed. */
	if (srv->conns_ready)
		http_conns_stop(&srv->conns);
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	if (srv->conns_ready)
		http_conns_release(&srv->conns);
	http_metrics_cache_release(&srv->metrics_cache);
	n = atomic_load(&srv->nroutes);
	for (size_t i = 0; i < n; i++)
		free(srv->routes[i].path);
	http_auth_free(srv->auth);
	http_tls_free_key(srv->tls_key);
	free(srv->tls_cert);
	free(srv->listen_address);
	free(srv);
}
