/*
 * The HTTP server: libmicrohttpd with an internal thread pool, a route table later modules add
 * to, basic auth, /metrics, /-/healthy, /-/ready, and request statistics kept in atomics.
 *
 * Request life in libmicrohttpd: the URI log callback runs first and creates our
 * struct http_request (it sees the raw URI, whose query string we decode ourselves so that '+'
 * means a space as in Go's url.ParseQuery); the access handler is then called once with the
 * headers (auth and size checks), once per chunk of body, and once more at the end, when the
 * route's handler runs; the completion callback frees the request.
 *
 * The listening socket is ours (bound before libmicrohttpd starts) so that a port in use is
 * reported as "listen ADDR: Address already in use" and port 0 can be read back.
 */
#include "exporters/exporters.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>
#include <zlib.h>

#include "core/log.h"
#include "exporters/http_int.h"

#define LOG_COMP "http"
#define TLS_FILE_MAX ((size_t)1 << 20)
#define STATS_CODE_SLOTS 16
#define CONNECTION_LIMIT 256
#define CONNECTION_TIMEOUT_S 60

/* Request duration buckets: client_golang's defaults, which the usual dashboards expect. */
static const double duration_bounds[] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };
#define NBOUNDS (sizeof(duration_bounds) / sizeof(duration_bounds[0]))

/*
 * Per-route statistics. Request threads only add to the atomics; the 'published' fields belong
 * to the one thread that calls http_server_publish_stats().
 */
struct code_slot {
	_Atomic unsigned code;     /* HTTP status; 0: free slot */
	_Atomic uint64_t count;
	uint64_t published;
};

struct duration_bucket {
	_Atomic uint64_t count;    /* observations in this bucket only (not cumulative) */
	_Atomic uint64_t sum_ns;   /* their total */
	uint64_t published_count;
	uint64_t published_sum_ns;
};

struct route_stats {
	struct code_slot codes[STATS_CODE_SLOTS];
	_Atomic uint64_t other_codes;  /* statuses that found no free slot */
	uint64_t other_published;
	struct duration_bucket buckets[NBOUNDS + 1]; /* the last one is +Inf */
};

struct route {
	char *path;                /* owned */
	size_t len;
	bool prefix;
	http_handler_fn handler;
	void *ctx;                 /* borrowed */
	struct route_stats stats;
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
	struct route routes[HTTP_MAX_ROUTES];
	_Atomic size_t nroutes;
	struct route_stats unrouted; /* "other" */
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
	bool answered;
	struct route *route;       /* NULL: unrouted */
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

/* ---------------------------------------------------------------------------------------- */
/* Errors and logging                                                                         */

/* Collects libmicrohttpd's messages while a daemon starts, to put the reason in 'err'. */
struct mhd_log_sink {
	bool capture;
	char last[1024];
};

__attribute__((format(printf, 2, 0)))
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	struct mhd_log_sink *sink = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == '.'))
		msg[--n] = '\0';
	if (sink && sink->capture) {
		size_t used = strlen(sink->last);

		/* Keep them all: the last one is often just "Failed to initialize TLS support". */
		snprintf(sink->last + used, sizeof(sink->last) - used, "%s%s", used ? "; " : "", msg);
		return;
	}
	log_warn(LOG_COMP, "%s", msg);
}

static const char *errstr(int errnum, char *tmp, size_t tmplen)
{
	return strerror_r(errnum, tmp, tmplen);
}

/* ---------------------------------------------------------------------------------------- */
/* Listening socket                                                                           */

/* Split "host:port", "[v6]:port" or ":port" into its parts. Returns 0 or -EINVAL. */
static int split_address(const char *addr, char *host, size_t hostlen, char *port,
			 size_t portlen)
{
	const char *colon, *hs = addr, *he;
	size_t n;

	if (addr[0] == '[') {
		he = strchr(addr, ']');
		if (!he || he[1] != ':')
			return -EINVAL;
		hs = addr + 1;
		colon = he + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon)
			return -EINVAL;
		he = colon;
		if (memchr(addr, ':', (size_t)(colon - addr)))
			return -EINVAL; /* a bare IPv6 address needs brackets */
	}
	n = (size_t)(he - hs);
	if (n >= hostlen)
		return -EINVAL;
	memcpy(host, hs, n);
	host[n] = '\0';
	n = strlen(colon + 1);
	if (n == 0 || n > 5 || n >= portlen)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)colon[1 + i]))
			return -EINVAL;
	memcpy(port, colon + 1, n + 1);
	if (atoi(port) > 65535)
		return -EINVAL;
	return 0;
}

/* A non-blocking listening socket bound to 'sa'. Returns the fd or -errno. */
static int listen_on(const struct sockaddr *sa, socklen_t salen, bool dual_stack)
{
	int fd, one = 1, zero = 0, err;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* SO_REUSEADDR lets a restarted agent bind while old connections sit in TIME_WAIT; on
	 * Linux it does not let two servers listen on one port. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (dual_stack)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (bind(fd, sa, salen) < 0 || listen(fd, 128) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* Bind 'addr'. Returns the fd or a negative errno with 'err' filled in. */
static int bind_address(const char *addr, char *err, size_t errlen)
{
	char host[256], port[8], tmp[128];
	struct addrinfo hints = { 0 }, *res, *ai;
	int fd = -EINVAL, rc;

	if (split_address(addr, host, sizeof(host), port, sizeof(port))) {
		snprintf(err, errlen,
			 "listen_address \"%s\": expected host:port, [ipv6]:port or :port", addr);
		return -EINVAL;
	}
	if (!host[0]) {
		/* All interfaces, as Go's net.Listen(":port") does: one dual-stack IPv6 socket,
		 * or IPv4 only on hosts without IPv6. */
		struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = in6addr_any,
					     .sin6_port = htons((uint16_t)atoi(port)) };
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = INADDR_ANY,
					   .sin_port = htons((uint16_t)atoi(port)) };

		fd = listen_on((struct sockaddr *)&sin6, sizeof(sin6), true);
		if (fd == -EAFNOSUPPORT)
			fd = listen_on((struct sockaddr *)&sin, sizeof(sin), false);
	} else {
		hints.ai_family = AF_UNSPEC;
		hints.ai_socktype = SOCK_STREAM;
		hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
		rc = getaddrinfo(host, port, &hints, &res);
		if (rc) {
			const char *why = rc == EAI_SYSTEM ? errstr(errno, tmp, sizeof(tmp))
							   : gai_strerror(rc);

			snprintf(err, errlen, "listen %s: %s", addr, why);
			return -EADDRNOTAVAIL;
		}
		for (ai = res; ai; ai = ai->ai_next) {
			fd = listen_on(ai->ai_addr, ai->ai_addrlen, false);
			if (fd >= 0)
				break;
		}
		freeaddrinfo(res);
	}
	if (fd < 0)
		snprintf(err, errlen, "listen %s: %s", addr, errstr(-fd, tmp, sizeof(tmp)));
	return fd;
}

static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls);

/* ---------------------------------------------------------------------------------------- */
/* TLS files                                                                                  */

/* Read a whole PEM file (at most TLS_FILE_MAX) into a new string. */
static int read_pem(const char *what, const char *path, const char *marker, char **out,
		    char *err, size_t errlen)
{
	char tmp[128];
	struct buf b;
	char chunk[4096];
	ssize_t n;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s %s: cannot read: %s", what, path,
			 errstr(errno, tmp, sizeof(tmp)));
		return rc;
	}
	buf_init(&b, TLS_FILE_MAX);
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(err, errlen, "%s %s: cannot read: %s", what, path,
				 errstr(errno, tmp, sizeof(tmp)));
			goto out;
		}
		if (n == 0)
			break;
		if (buf_append(&b, chunk, (size_t)n)) {
			rc = -EFBIG;
			snprintf(err, errlen, "%s %s: larger than %zu bytes", what, path,
				 TLS_FILE_MAX);
			goto out;
		}
	}
	if (!b.data || !strstr(b.data, marker)) {
		rc = -EINVAL;
		snprintf(err, errlen, "%s %s: no PEM %s found", what, path,
			 strstr(marker, "CERTIFICATE") ? "certificate" : "private key");
		goto out;
	}
	*out = buf_detach(&b, NULL);
out:
	close(fd);
	buf_release(&b);
	return rc;
}

/*
 * Let libmicrohttpd (gnutls) load the pair once without a socket, so that a bad file or a key
 * that does not match the certificate is reported before anything is bound.
 */
static int check_tls(const char *cert_path, const char *key_path, const char *cert,
		     const char *key, char *err, size_t errlen)
{
	struct mhd_log_sink sink = { .capture = true };
	struct MHD_Daemon *d;

	d = MHD_start_daemon(MHD_USE_TLS | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0,
			     NULL, NULL, on_request, NULL,
			     MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, &sink,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_HTTPS_MEM_CERT, cert,
			     MHD_OPTION_END);
	if (!d) {
		snprintf(err, errlen, "tls_cert_file %s, tls_key_file %s: cannot use them: %s",
			 cert_path, key_path, sink.last[0] ? sink.last : "rejected by gnutls");
		return -EINVAL;
	}
	MHD_stop_daemon(d);
	return 0;
}

/* Free a private key's PEM text after wiping it. NULL is a no-op. */
static void free_key(char *key)
{
	if (key)
		explicit_bzero(key, strlen(key));
	free(key);
}

/* Read both PEM files and check that gnutls accepts the pair. On success the caller owns
 * *cert and *key (free()); on failure both are NULL and 'err' says which file and why. */
static int load_tls(const char *cert_path, const char *key_path, char **cert, char **key,
		    char *err, size_t errlen)
{
	int rc;

	*cert = *key = NULL;
	rc = read_pem("tls_cert_file", cert_path, "-----BEGIN CERTIFICATE-----", cert, err, errlen);
	if (!rc)
		rc = read_pem("tls_key_file", key_path, "PRIVATE KEY-----", key, err, errlen);
	if (!rc)
		rc = check_tls(cert_path, key_path, *cert, *key, err, errlen);
	if (rc) {
		free(*cert);
		free_key(*key);
		*cert = *key = NULL;
	}
	return rc;
}

int http_tls_validate(const char *cert_file, const char *key_file, char *err, size_t errlen)
{
	char *cert, *key;
	int rc = load_tls(cert_file, key_file, &cert, &key, err, errlen);

	free(cert);
	free_key(key);
	return rc;
}

/* ---------------------------------------------------------------------------------------- */
/* Statistics                                                                                 */

static void stats_record(struct http_server *srv, struct route_stats *st, unsigned code,
			 int64_t start_ns)
{
	size_t i;

	for (i = 0; i < STATS_CODE_SLOTS; i++) {
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
	if (i == STATS_CODE_SLOTS)
		atomic_fetch_add_explicit(&st->other_codes, 1, memory_order_relaxed);

	if (srv->mono_ns) {
		int64_t ns = srv->mono_ns() - start_ns;
		double s;
		size_t b;

		if (ns < 0)
			ns = 0;
		s = (double)ns / 1e9;
		for (b = 0; b < NBOUNDS && s > duration_bounds[b]; b++)
			;
		/* Sum before count, so a publisher that reads count then sum never sees a count
		 * without its time. */
		atomic_fetch_add_explicit(&st->buckets[b].sum_ns, (uint64_t)ns, memory_order_relaxed);
		atomic_fetch_add_explicit(&st->buckets[b].count, 1, memory_order_release);
	}
}

static void publish_route(struct metric *mreq, struct metric *mdur, const char *handler,
			  struct route_stats *st)
{
	char code[16];
	uint64_t now;

	for (size_t i = 0; i < STATS_CODE_SLOTS; i++) {
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
	for (size_t b = 0; b <= NBOUNDS; b++) {
		struct duration_bucket *bk = &st->buckets[b];
		uint64_t count = atomic_load_explicit(&bk->count, memory_order_acquire);
		uint64_t sum = atomic_load_explicit(&bk->sum_ns, memory_order_relaxed);
		uint64_t d = count - bk->published_count;
		double mean, lo = b ? duration_bounds[b - 1] : 0;
		struct series *s;

		if (!d)
			continue;
		mean = (double)(sum - bk->published_sum_ns) / (double)d / 1e9;
		if (b < NBOUNDS && mean > duration_bounds[b])
			mean = duration_bounds[b];
		if (b && mean <= lo)
			mean = nextafter(lo, INFINITY);
		s = metric_series(mdur, (const char *const[]){ handler });
		for (uint64_t k = 0; k < d; k++)
			series_observe(s, mean);
		bk->published_count = count;
		bk->published_sum_ns = sum;
	}
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
				  duration_bounds, NBOUNDS);
	if (!mreq || !mdur)
		return -EINVAL;
	n = atomic_load_explicit(&srv->nroutes, memory_order_acquire);
	for (size_t i = 0; i < n; i++)
		publish_route(mreq, mdur, srv->routes[i].path, &srv->routes[i].stats);
	publish_route(mreq, mdur, "other", &srv->unrouted);
	return 0;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                   */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decode a form component of 'n' bytes ('+' is a space). NULL for a bad or %00 escape. */
static char *form_decode(const char *s, size_t n)
{
	char *out = xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%') {
			int hi, lo;

			if (i + 2 >= n) {
				free(out);
				return NULL;
			}
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				free(out);
				return NULL;
			}
			*o++ = (char)(hi * 16 + lo);
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/* Append the parameters of "a=1&b=2" (n bytes) to req->args. Returns 0, -EINVAL, -E2BIG. */
static int parse_form(struct http_request *req, const char *s, size_t n)
{
	const char *end = s + n;

	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *pe = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(pe - s));
		char *name, *value;

		if (pe > s) {
			if (req->nargs >= HTTP_MAX_ARGS)
				return -E2BIG;
			name = form_decode(s, (size_t)((eq ? eq : pe) - s));
			value = eq ? form_decode(eq + 1, (size_t)(pe - eq - 1)) : xstrdup("");
			if (!name || !value) {
				free(name);
				free(value);
				return -EINVAL;
			}
			if (req->nargs % 16 == 0)
				req->args = xrealloc(req->args,
						     (req->nargs + 16) * sizeof(*req->args));
			req->args[req->nargs].name = name;
			req->args[req->nargs].value = value;
			req->nargs++;
		}
		s = pe + 1;
	}
	return 0;
}

static bool is_form_content(const char *ctype)
{
	static const char form[] = "application/x-www-form-urlencoded";
	size_t n = sizeof(form) - 1;

	return ctype && strncasecmp(ctype, form, n) == 0 &&
	       (ctype[n] == '\0' || ctype[n] == ';' || ctype[n] == ' ');
}

static int parse_args(struct http_request *req)
{
	const char *q = strchr(req->uri, '?');
	int err;

	/* Body first, then the query string, as Go's Request.Form orders them. */
	if (strcmp(req->method, "POST") == 0 &&
	    is_form_content(http_request_header(req, MHD_HTTP_HEADER_CONTENT_TYPE))) {
		err = parse_form(req, req->body.data ? req->body.data : "", req->body.len);
		if (err)
			return err;
	}
	if (q) {
		const char *hash = strchr(q, '#');

		return parse_form(req, q + 1, hash ? (size_t)(hash - q - 1) : strlen(q + 1));
	}
	return 0;
}

const char *http_request_method(const struct http_request *req)
{
	return req->method;
}

const char *http_request_path(const struct http_request *req)
{
	return req->path;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *http_request_arg(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nargs; i++)
		if (strcmp(req->args[i].name, name) == 0)
			return req->args[i].value;
	return NULL;
}

size_t http_request_nargs(const struct http_request *req)
{
	return req->nargs;
}

void http_request_arg_at(const struct http_request *req, size_t i, const char **name,
			 const char **value)
{
	*name = req->args[i].name;
	*value = req->args[i].value;
}

const char *http_request_body(const struct http_request *req, size_t *len)
{
	if (len)
		*len = req->body.len;
	return req->body.data ? req->body.data : "";
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                  */

static void response_init(struct http_response *resp)
{
	memset(resp, 0, sizeof(*resp));
	resp->status = MHD_HTTP_OK;
	buf_init(&resp->body, HTTP_MAX_RESPONSE);
}

static void response_release(struct http_response *resp)
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

static struct route *find_route(struct http_server *srv, const char *path)
{
	size_t n = atomic_load_explicit(&srv->nroutes, memory_order_acquire);
	struct route *best = NULL;

	for (size_t i = 0; i < n; i++) {
		struct route *r = &srv->routes[i];

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
		response_release(resp);
		return MHD_NO;
	}
	for (size_t i = 0; i < resp->nheaders; i++)
		if (MHD_add_response_header(mr, resp->hname[i], resp->hvalue[i]) != MHD_YES)
			log_warn(LOG_COMP, "dropped invalid response header %s for %s",
				 resp->hname[i], req->path);
	ret = MHD_queue_response(req->conn, resp->status, mr);
	MHD_destroy_response(mr);
	req->answered = true;
	stats_record(srv, req->route ? &req->route->stats : &srv->unrouted, resp->status,
		     req->start_ns);
	response_release(resp);
	return ret;
}

static enum MHD_Result answer_text(struct http_request *req, unsigned status, const char *msg)
{
	struct http_response resp;

	response_init(&resp);
	http_response_text(&resp, status, "%s\n", msg);
	if (status == MHD_HTTP_UNAUTHORIZED)
		http_response_header(&resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				     "Basic realm=\"" HTTP_REALM "\"");
	return send_response(req, &resp);
}

static enum MHD_Result dispatch(struct http_request *req)
{
	struct http_response resp;
	int err;

	if (req->body_too_large)
		return answer_text(req, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
	if (!req->route)
		return answer_text(req, MHD_HTTP_NOT_FOUND, "404 page not found");
	err = parse_args(req);
	if (err == -E2BIG)
		return answer_text(req, MHD_HTTP_BAD_REQUEST, "Too many parameters");
	if (err)
		return answer_text(req, MHD_HTTP_BAD_REQUEST, "Invalid URL escape in parameters");

	response_init(&resp);
	err = req->route->handler(req->route->ctx, req, &resp);
	if (err < 0) {
		log_error(LOG_COMP, "handler for %s %s failed: %s; answered 500", req->method,
			  req->path, strerror(-err));
		response_release(&resp);
		return answer_text(req, MHD_HTTP_INTERNAL_SERVER_ERROR, "Internal Server Error");
	}
	return send_response(req, &resp);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct http_server *srv = cls;
	struct http_request *req = xcalloc(1, sizeof(*req));

	(void)conn;
	req->srv = srv;
	req->uri = xstrdup(uri ? uri : "/");
	req->start_ns = srv->mono_ns ? srv->mono_ns() : 0;
	buf_init(&req->body, srv->max_body);
	return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct http_request *req = *con_cls;

	(void)cls;
	(void)conn;
	(void)toe;
	if (!req)
		return;
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
		req->route = find_route(srv, url);
		if (srv->auth && !http_auth_check(srv->auth, http_request_header(
					 req, MHD_HTTP_HEADER_AUTHORIZATION)))
			return answer_text(req, MHD_HTTP_UNAUTHORIZED, "Unauthorized");
		clen = http_request_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (clen && strtoull(clen, NULL, 10) > srv->max_body)
			return answer_text(req, MHD_HTTP_CONTENT_TOO_LARGE, "Request body too large");
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* A chunked body can grow past the cap: read and drop the rest, answer 413. */
		if (!req->body_too_large &&
		    buf_append(&req->body, upload_data, *upload_data_size)) {
			req->body_too_large = true;
			buf_release(&req->body);
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return dispatch(req);
}

/* ---------------------------------------------------------------------------------------- */
/* Built-in routes                                                                            */

static bool is_get(const struct http_request *req)
{
	return strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0;
}

static int handle_metrics(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct http_server *srv = ctx;
	enum exposition_format fmt;
	int err;

	if (!is_get(req)) {
		http_response_method_not_allowed(resp, "GET, HEAD");
		return 0;
	}
	fmt = exposition_negotiate(http_request_header(req, MHD_HTTP_HEADER_ACCEPT));
	err = exposition_write(srv->registry, fmt, http_response_body(resp));
	if (err) {
		log_error(LOG_COMP, "cannot write /metrics: %s; answered 500", strerror(-err));
		http_response_text(resp, MHD_HTTP_INTERNAL_SERVER_ERROR,
				   "cannot write metrics: %s\n", strerror(-err));
		return 0;
	}
	http_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, exposition_content_type(fmt));
	return http_response_compress(resp, req);
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
	struct route *r;

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
	struct MHD_OptionItem ops[16];
	struct http_server *srv;
	unsigned flags;
	size_t nops = 0;
	int fd, rc;

	srv = xcalloc(1, sizeof(*srv));
	srv->listen_address = xstrdup(addr);
	srv->registry = opt->registry;
	srv->mono_ns = opt->mono_ns;
	srv->max_body = opt->max_body ? opt->max_body : HTTP_DEFAULT_MAX_BODY;
	atomic_init(&srv->nroutes, 0);
	atomic_init(&srv->ready, true);

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
		rc = load_tls(opt->tls_cert_file, opt->tls_key_file, &srv->tls_cert, &srv->tls_key,
			      err, errlen);
		if (rc)
			goto out_free;
	}
	if (opt->nusers) {
		rc = http_auth_new(opt->users, opt->nusers, &srv->auth, err, errlen);
		if (rc)
			goto out_free;
	}

	fd = bind_address(addr, err, errlen);
	if (fd < 0) {
		rc = fd;
		goto out_free;
	}
	srv->port = bound_port(fd);

	if (srv->registry)
		http_server_route(srv, "/metrics", false, handle_metrics, srv);
	http_server_route(srv, "/-/healthy", false, handle_healthy, srv);
	http_server_route(srv, "/-/ready", false, handle_ready, srv);

	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
	if (srv->tls_cert)
		flags |= MHD_USE_TLS;
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_EXTERNAL_LOGGER,
					       (intptr_t)on_mhd_log, NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_LISTEN_SOCKET, fd, NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_URI_LOG_CALLBACK,
					       (intptr_t)on_uri, srv };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_NOTIFY_COMPLETED,
					       (intptr_t)on_completed, srv };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_LIMIT, CONNECTION_LIMIT, NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_TIMEOUT,
					       CONNECTION_TIMEOUT_S, NULL };
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_CONNECTION_MEMORY_LIMIT,
					       (intptr_t)(opt->max_header ? opt->max_header :
							  HTTP_DEFAULT_MAX_HEADER), NULL };
	if (threads > 1)
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_THREAD_POOL_SIZE, threads, NULL };
	if (srv->tls_cert) {
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key };
		ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert };
	}
	ops[nops++] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };

	srv->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				       MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (!srv->daemon) {
		/* Whether libmicrohttpd closed the socket it was given depends on where it failed;
		 * close it only if the descriptor is still our listener. Its reason went to the
		 * log. */
		int acc = 0;
		socklen_t alen = sizeof(acc);

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) == 0 && acc &&
		    bound_port(fd) == srv->port)
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
	if (srv->daemon)
		MHD_stop_daemon(srv->daemon);
	n = atomic_load(&srv->nroutes);
	for (size_t i = 0; i < n; i++)
		free(srv->routes[i].path);
	http_auth_free(srv->auth);
	free_key(srv->tls_key);
	free(srv->tls_cert);
	free(srv->listen_address);
	free(srv);
}
