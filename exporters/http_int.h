#ifndef DW_EXPORTERS_HTTP_INT_H
#define DW_EXPORTERS_HTTP_INT_H

/*
 * Private to exporters/: the HTTP server's parts and what they share.
 *
 *   http.c        the daemon: libmicrohttpd's callbacks, start and stop
 *   http_listen.c the listening socket
 *   http_tls.c    the TLS files; libmicrohttpd's log messages
 *   http_auth.c   basic authentication
 *   http_form.c   form decoding and the request accessors
 *   http_route.c  the route table, responses, dispatch, the built-in routes
 *   http_stats.c  request statistics and their publication into the registry
 *   http_conn.c   connection limits: deadlines, making room when full, the reaper thread
 */

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "core/buf.h"
#include "core/config.h"
#include "exporters/exporters.h"

#define HTTP_STATS_CODE_SLOTS 16
#define HTTP_DURATION_NBOUNDS 11   /* request duration buckets, +Inf not counted */

/*
 * Per-route statistics. Request threads only add to the atomics; the 'published' fields belong
 * to the one thread that calls http_server_publish_stats().
 */
struct http_code_slot {
	_Atomic unsigned code;     /* HTTP status; 0: free slot */
	_Atomic uint64_t count;
	uint64_t published;
};

struct http_duration_bucket {
	_Atomic uint64_t count;    /* observations in this bucket only (not cumulative) */
	_Atomic uint64_t sum_ns;   /* their total */
	uint64_t published_count;
	uint64_t published_sum_ns;
};

struct http_route_stats {
	struct http_code_slot codes[HTTP_STATS_CODE_SLOTS];
	_Atomic uint64_t other_codes;  /* statuses that found no free slot */
	uint64_t other_published;
	struct http_duration_bucket buckets[HTTP_DURATION_NBOUNDS + 1]; /* the last one is +Inf */
};

struct http_route {
	char *path;                /* owned */
	size_t len;
	bool prefix;
	http_handler_fn handler;
	void *ctx;                 /* borrowed */
	struct http_route_stats stats;
};

/* Where http_mhd_log() sends libmicrohttpd's messages: NULL logs them as warnings;
 * capture=true collects them in 'last' (while a daemon starts, to explain a refusal);
 * capture=false logs one a minute as a warning and the others at debug level. */
struct http_log_sink {
	bool capture;
	char last[1024];
	_Atomic int64_t next_warn_ns;  /* clock_mono_ns before which messages go to debug */
	_Atomic uint64_t suppressed;   /* since the last warning */
};

/* A connection's state, for its deadline (http_conn.c). */
enum http_conn_state {
	HTTP_CONN_NEW,      /* accepted, no request line yet */
	HTTP_CONN_READING,  /* request line seen, request incomplete */
	HTTP_CONN_BUSY,     /* request complete, being answered */
	HTTP_CONN_IDLE,     /* keep-alive, between requests */
};

struct http_conn {
	struct http_conn *prev, *next; /* in http_conns.head's circular list */
	int fd;
	uint32_t serial;           /* tells a reused descriptor number from this connection */
	enum http_conn_state state;
	int64_t since_ns;          /* when its deadline started counting, clock_mono_ns */
	int64_t progress_ns;       /* its last change of state */
	int64_t peer_closed_ns;    /* when the peer's FIN was seen; 0: not seen */
	bool shut;                 /* we shut it down; libmicrohttpd has yet to close it */
};

/*
 * The connections, their states and the limits (http_conn.c). 'lock' guards the list and the
 * plain counts; the atomics are read by the publishing thread without it.
 */
struct http_conns {
	pthread_mutex_t lock;
	int epfd;                  /* the reaper's: every connection for EPOLLRDHUP, and 'stopfd' */
	int stopfd;                /* eventfd: tells the reaper to stop */
	pthread_t reaper;
	bool reaper_running;
	uint32_t next_serial;
	struct http_conn head;     /* list sentinel */
	size_t count;              /* connections in the list */
	size_t nshut;              /* of which shut down by us, not yet closed */
	size_t peak;               /* most connections since memory was last trimmed */
	unsigned max;              /* web.max_connections */
	int64_t read_timeout_ns;
	int64_t idle_timeout_ns;
	int64_t last_full_log_ns;  /* 0: never logged */
	unsigned long long full_events; /* since the last "full" log line */
	_Atomic uint64_t refused;      /* full, every connection busy: not accepted */
	_Atomic uint64_t closed_idle;  /* idle past idle_timeout */
	_Atomic uint64_t closed_slow;  /* request incomplete past read_timeout */
	_Atomic uint64_t closed_full;  /* closed to make room for a new connection */
};

/*
 * The /metrics text, kept for HTTP_METRICS_CACHE_NS or until the registry changes (its writer
 * raises 'gen' through http_server_metrics_changed): a burst of scrapes (1,000 clients at once)
 * then costs one rendering per format and encoding instead of one each, so a fresh client is
 * not queued behind a thousand renderings, and a counter the tailer just raised is never
 * answered stale.
 */
#define HTTP_METRICS_CACHE_NS (100 * (int64_t)1000000)
struct http_metrics_cache {
	pthread_mutex_t lock;
	_Atomic uint64_t gen;      /* registry changes seen; read before rendering */
	struct {
		char *data;            /* owned; NULL: empty */
		size_t len;
		int64_t at_ns;         /* clock_mono_ns when rendered */
		uint64_t gen;          /* 'gen' read before it was rendered */
	} slot[2][2];              /* [enum exposition_format][gzip] */
};

struct http_server {
	struct MHD_Daemon *daemon;
	int port;
	char *listen_address;      /* as configured, for messages */
	struct http_auth *auth;    /* NULL: no authentication */
	struct registry *registry; /* borrowed; NULL: no /metrics */
	int64_t (*mono_ns)(void);
	size_t max_body;
	char *tls_cert;            /* PEM contents, kept while the daemon runs */
	char *tls_key;
	atomic_bool ready;

	/* Routes are appended only: a route is fully written before 'nroutes' is raised (release),
	 * and request threads read 'nroutes' with acquire, so lookups need no lock. */
	struct http_route routes[HTTP_MAX_ROUTES];
	_Atomic size_t nroutes;
	struct http_route_stats unrouted; /* "other" */

	struct http_log_sink mhd_log; /* libmicrohttpd's messages while serving */
	struct http_metrics_cache metrics_cache;
	struct http_conns conns;
	bool conns_ready;          /* conns initialised (its lock and condition exist) */
	unsigned max_requests;     /* requests in flight before 503 */
	_Atomic unsigned in_flight;
	_Atomic uint64_t over_limit; /* answered 503 for max_requests */
	/* What http_server_publish_stats() last added; the publishing thread's own. */
	uint64_t published_refused, published_idle, published_slow, published_full;
	uint64_t published_over_limit;
};

struct http_arg {
	char *name;
	char *value;
};

struct http_request {
	struct http_server *srv;
	struct MHD_Connection *conn;
	char *uri;                 /* raw request target, owned */
	const char *method;        /* libmicrohttpd's, valid during the request */
	const char *path;
	int64_t start_ns;
	bool headers_done;
	bool body_too_large;
	bool over_limit;           /* past max_requests: answered 503 when complete */
	bool answered;
	bool in_flight;            /* counted in srv->in_flight until completed */
	struct http_route *route;       /* NULL: unrouted */
	struct buf body;
	struct http_arg *args;
	size_t nargs;
};

struct http_response {
	unsigned status;
	struct buf body;
	char *hname[HTTP_MAX_RESPONSE_HEADERS];
	char *hvalue[HTTP_MAX_RESPONSE_HEADERS];
	size_t nheaders;
	bool has_content_type;
};

/* ---- basic authentication (http_auth.c) ---- */

struct http_auth;

/*
 * Users 'users[0..n)' (name -> bcrypt hash, copied). Returns 0 and *out, or -EINVAL with 'err'
 * naming the user whose hash is not a bcrypt hash ($2a$, $2b$, $2y$). n must be > 0.
 */
int http_auth_new(const struct config_user *users, size_t n, struct http_auth **out,
		  char *err, size_t errlen);
/* NULL is a no-op. */
void http_auth_free(struct http_auth *auth);

/*
 * True when 'authorization' (the Authorization header, may be NULL) carries Basic credentials
 * of a configured user with the right password. The first success for a (user, password) costs
 * one bcrypt; later ones hit a cache keyed by the user and a salted SHA-256-crypt digest of the
 * password, compared in constant time. Checks that need a bcrypt are rate limited (a burst of 10,
 * then 2 per second, for all users together): past that they fail at once without one, so a
 * flood of wrong passwords cannot take the CPU. Any thread.
 */
bool http_auth_check(struct http_auth *auth, const char *authorization);

/* ---- listening socket (http_listen.c) ---- */

/* Bind and listen on 'addr' ("host:port", "[v6]:port", ":port"): a non-blocking socket.
 * Returns the fd, or a negative errno with one line in 'err'. */
int http_listen_bind(const char *addr, char *err, size_t errlen);
/* The local port of the bound socket 'fd', or -1. */
int http_listen_port(int fd);

/* ---- TLS and libmicrohttpd's log (http_tls.c) ---- */


/* MHD_OPTION_EXTERNAL_LOGGER callback; 'cls' is a struct http_log_sink or NULL. Any thread. */
void http_mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Read both PEM files and check that gnutls accepts the pair. On success the caller owns
 * *cert (free()) and *key (http_tls_free_key()); on failure both are NULL and 'err' says which
 * file and why. */
int http_tls_load(const char *cert_path, const char *key_path, char **cert, char **key,
		  char *err, size_t errlen);
/* Wipe and free a private key's PEM text. NULL is a no-op. */
void http_tls_free_key(char *key);

/* ---- requests (http_form.c) ---- */

/* Decode the form body (POST, application/x-www-form-urlencoded) and the query string into
 * req->args. Returns 0, -EINVAL for a bad escape, -E2BIG past HTTP_MAX_ARGS. */
int http_form_parse_args(struct http_request *req);

/* ---- routes and responses (http_route.c) ---- */

/* The route for 'path' (exact before the longest prefix), or NULL. Lock-free; any thread. */
struct http_route *http_route_find(struct http_server *srv, const char *path);
void http_metrics_cache_init(struct http_metrics_cache *mc);
void http_metrics_cache_release(struct http_metrics_cache *mc);
/* Add /metrics (when srv->registry is set), /-/healthy and /-/ready. */
void http_route_add_builtins(struct http_server *srv);
void http_response_init(struct http_response *resp);
void http_response_release(struct http_response *resp);
/* Answer 'req' with a text/plain 'msg' (401 adds WWW-Authenticate) and count it. */
enum MHD_Result http_answer_text(struct http_request *req, unsigned status, const char *msg);
/* Run the route's handler on a complete request and queue its response. */
enum MHD_Result http_dispatch(struct http_request *req);

/* ---- connections (http_conn.c) ---- */

/* Returns 0 or -errno (no descriptors left for the reaper's epoll). */
int http_conns_init(struct http_conns *cs, unsigned max_connections, int64_t read_timeout_ns,
		    int64_t idle_timeout_ns);
/* Start the reaper thread. Returns 0 or -errno. */
int http_conns_start(struct http_conns *cs);
/* Stop and join the reaper (a no-op when it never started). */
void http_conns_stop(struct http_conns *cs);
/* After the daemon has stopped. */
void http_conns_release(struct http_conns *cs);
/* MHD_OPTION_ACCEPT_POLICY_CALLBACK ('cls': the server): make room or refuse when full. */
enum MHD_Result http_conn_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen);
/* MHD_OPTION_NOTIFY_CONNECTION ('cls': the server): track connections opening and closing. */
void http_conn_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		      enum MHD_ConnectionNotificationCode code);
/* A request line arrived / the request is complete (or answered early) / it was answered. */
void http_conn_request_started(struct http_server *srv, struct MHD_Connection *conn);
void http_conn_request_complete(struct http_server *srv, struct MHD_Connection *conn);
void http_conn_request_done(struct http_server *srv, struct MHD_Connection *conn);
/* Connections open now. */
unsigned http_conns_open(struct http_conns *cs);

/* ---- statistics (http_stats.c) ---- */

/* Count one answer with 'code' on 'st', and its duration since 'start_ns' when the server
 * measures durations. Request threads. */
void http_stats_record(struct http_server *srv, struct http_route_stats *st, unsigned code,
		       int64_t start_ns);

#endif
