/*
 * The HTTP server on 127.0.0.1:0, driven by curl (a test dependency already installed, so no
 * HTTP client library is linked): /metrics with content negotiation and gzip, routes with
 * query and form parameters, 404/405/413/500, basic auth, TLS, listen and TLS errors, and the
 * request statistics; then, over raw sockets, the connection limits.
 *
 * Map: curl helpers; /metrics; routes and parameters; auth; TLS; listen errors; statistics;
 * connection limits (making room when full, read and idle deadlines, peers that close, 503 past
 * max_requests, refusal); main.
 */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"
#include "exporters/exporters.h"
#include "exporters/http_int.h"

#define FIXTURES DW_FIXTURES "/http"

static char tmpdir[64];

struct fetch {
	int code;          /* HTTP status, 0 when curl got none */
	char *headers;     /* raw header block */
	char *body;
	size_t body_len;
};

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char chunk[4096];
	size_t n;

	buf_init(&b, 0);
	if (f) {
		while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			assert_int_equal(buf_append(&b, chunk, n), 0);
		fclose(f);
	}
	return buf_detach(&b, len);
}

static void fetch_free(struct fetch *f)
{
	free(f->headers);
	free(f->body);
	memset(f, 0, sizeof(*f));
}

/* Run curl with 'args' (already shell-quoted) and collect status, headers and raw body. */
static void curl(struct fetch *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void curl(struct fetch *f, const char *fmt, ...)
{
	char args[4096], cmd[8192], hdr[128], body[128], code[16] = "";
	va_list ap;
	FILE *p;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(hdr, sizeof(hdr), "%s/headers", tmpdir);
	snprintf(body, sizeof(body), "%s/body", tmpdir);
	unlink(hdr);
	unlink(body);
	snprintf(cmd, sizeof(cmd), "curl -s --max-time 20 -o %s -D %s -w '%%{http_code}' %s",
		 body, hdr, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (!fgets(code, sizeof(code), p))
		code[0] = '\0';
	pclose(p);
	f->code = atoi(code);
	f->headers = slurp(hdr, NULL);
	f->body = slurp(body, &f->body_len);
}

/* The value of header 'name' in the last response of f->headers (case-insensitive), or NULL.
 * Returns a static copy. */
static const char *header(const struct fetch *f, const char *name)
{
	static char value[512];
	const char *line = f->headers;
	const char *found = NULL;
	size_t n = strlen(name);

	while (line && *line) {
		if (strncasecmp(line, name, n) == 0 && line[n] == ':')
			found = line + n + 1;
		line = strchr(line, '\n');
		if (line)
			line++;
	}
	if (!found)
		return NULL;
	while (*found == ' ')
		found++;
	n = strcspn(found, "\r\n");
	snprintf(value, sizeof(value), "%.*s", (int)n, found);
	return value;
}

static struct registry *test_registry(void)
{
	static const char *const level[] = { "level", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_counter(reg, "laravel_log_entries_total", "Log entries.", level);

	/* Enough text that gzip has something to do. */
	for (int i = 0; i < 200; i++) {
		char v[32];

		snprintf(v, sizeof(v), "level_%d", i);
		series_add(metric_series(m, (const char *const[]){ v }), i);
	}
	return reg;
}

static int64_t test_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct http_server *start(struct http_server_options *opt)
{
	struct http_server *srv = NULL;
	char err[256] = "";
	int rc;

	rc = http_server_new(opt, &srv, err, sizeof(err));
	if (rc)
		print_error("http_server_new: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(srv);
	assert_true(http_server_port(srv) > 0);
	return srv;
}

static char *exposition(struct registry *reg, enum exposition_format fmt, size_t *len)
{
	struct buf b;

	buf_init(&b, 0);
	assert_int_equal(exposition_write(reg, fmt, &b), 0);
	return buf_detach(&b, len);
}

static char *gunzip(const char *data, size_t len, size_t *outlen)
{
	z_stream zs = { 0 };
	struct buf b;
	unsigned char chunk[4096];
	int rc;

	assert_int_equal(inflateInit2(&zs, 15 + 16), Z_OK);
	buf_init(&b, 0);
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	do {
		zs.next_out = chunk;
		zs.avail_out = sizeof(chunk);
		rc = inflate(&zs, Z_NO_FLUSH);
		assert_true(rc == Z_OK || rc == Z_STREAM_END);
		assert_int_equal(buf_append(&b, chunk, sizeof(chunk) - zs.avail_out), 0);
	} while (rc != Z_STREAM_END);
	inflateEnd(&zs);
	return buf_detach(&b, outlen);
}

static int setup(void **state)
{
	(void)state;
	/* mkdtemp's template ends in six 'X's (spelled out so no source line reads like a marker) */
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dw-http-");
	memset(tmpdir + strlen(tmpdir), 'X', 6);
	if (!mkdtemp(tmpdir))
		return -1;
	/* Fail, not skip: curl is a declared dependency of the test suite. */
	return system("command -v curl >/dev/null 2>&1") == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------------------------ */

static void test_metrics_text_gzip_openmetrics(void **state)
{
	struct registry *reg = test_registry();
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv);
	struct fetch f = { 0 };
	size_t len, glen;
	char *want, *plain;

	(void)state;
	want = exposition(reg, EXPOSITION_TEXT, &len);

	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(header(&f, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	assert_null(header(&f, "Content-Encoding"));
	assert_int_equal(f.body_len, len);
	assert_memory_equal(f.body, want, len);
	fetch_free(&f);

	/* gzip on the wire (no --compressed: curl hands us the raw bytes) */
	curl(&f, "-H 'Accept-Encoding: gzip, deflate' http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(header(&f, "Content-Encoding"), "gzip");
	assert_string_equal(header(&f, "Vary"), "Accept-Encoding");
	assert_true(f.body_len < len / 2);
	plain = gunzip(f.body, f.body_len, &glen);
	assert_int_equal(glen, len);
	assert_memory_equal(plain, want, len);
	free(plain);
	fetch_free(&f);

	/* gzip;q=0 refuses gzip */
	curl(&f, "-H 'Accept-Encoding: gzip;q=0' http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_null(header(&f, "Content-Encoding"));
	assert_int_equal(f.body_len, len);
	fetch_free(&f);
	free(want);

	/* OpenMetrics as Prometheus asks for it */
	want = exposition(reg, EXPOSITION_OPENMETRICS, &len);
	curl(&f, "-H 'Accept: application/openmetrics-text;version=1.0.0,application/"
		 "openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1' "
		 "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(header(&f, "Content-Type"),
			    "application/openmetrics-text; version=1.0.0; charset=utf-8");
	assert_int_equal(f.body_len, len);
	assert_memory_equal(f.body, want, len);
	assert_string_equal(f.body + f.body_len - 6, "# EOF\n");
	fetch_free(&f);
	free(want);

	/* HEAD: headers only (curl -I writes the headers where the body would go) */
	curl(&f, "-I http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(header(&f, "Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
	assert_string_equal(f.body, f.headers);
	fetch_free(&f);

	http_server_free(srv);
	registry_free(reg);
}

static int64_t frozen_mono_ns(void)
{
	return 1000000000;
}

/* The render cache answers a burst of scrapes with one rendering, and a registry change the
 * writer announces is on the very next scrape. The clock stands still, so without the
 * announcement the cache would answer the old text for ever. */
static void test_metrics_cache_follows_changes(void **state)
{
	static const char *const level[] = { "level", NULL };
	struct registry *reg = test_registry();
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg,
					   .mono_ns = frozen_mono_ns };
	struct http_server *srv = start(&opt);
	struct series *s = metric_series(registry_counter(reg, "laravel_log_entries_total",
							  "Log entries.", level),
					 (const char *const[]){ "level_0" });
	int port = http_server_port(srv);
	struct fetch f = { 0 };

	(void)state;
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	assert_non_null(strstr(f.body, "laravel_log_entries_total{level=\"level_0\"} 0\n"));
	fetch_free(&f);

	/* changed but not announced: the cached text */
	series_add(s, 7);
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_non_null(strstr(f.body, "laravel_log_entries_total{level=\"level_0\"} 0\n"));
	fetch_free(&f);

	/* announced: rendered again, in every format and encoding */
	http_server_metrics_changed(srv);
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_non_null(strstr(f.body, "laravel_log_entries_total{level=\"level_0\"} 7\n"));
	fetch_free(&f);
	series_add(s, 1);
	http_server_metrics_changed(srv);
	curl(&f, "--compressed -H 'Accept-Encoding: gzip' http://127.0.0.1:%d/metrics", port);
	assert_string_equal(header(&f, "Content-Encoding"), "gzip");
	assert_non_null(strstr(f.body, "laravel_log_entries_total{level=\"level_0\"} 8\n"));
	fetch_free(&f);
	http_server_metrics_changed(NULL); /* no server: a no-op */

	http_server_free(srv);
	registry_free(reg);
}

static void test_builtin_routes_404_405(void **state)
{
	struct registry *reg = test_registry();
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg,
					   .threads = 1 };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv);
	struct fetch f = { 0 };

	(void)state;
	curl(&f, "http://127.0.0.1:%d/-/healthy", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(f.body, "deploywatch is Healthy.\n");
	assert_string_equal(header(&f, "Content-Type"), "text/plain; charset=utf-8");
	fetch_free(&f);

	curl(&f, "http://127.0.0.1:%d/-/ready", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(f.body, "deploywatch is Ready.\n");
	fetch_free(&f);
	http_server_set_ready(srv, false);
	curl(&f, "http://127.0.0.1:%d/-/ready", port);
	assert_int_equal(f.code, 503);
	fetch_free(&f);

	curl(&f, "http://127.0.0.1:%d/nope", port);
	assert_int_equal(f.code, 404);
	assert_string_equal(f.body, "404 page not found\n");
	fetch_free(&f);
	/* a route is matched on the path, not on a prefix of it */
	curl(&f, "http://127.0.0.1:%d/metricsx", port);
	assert_int_equal(f.code, 404);
	fetch_free(&f);

	curl(&f, "-X POST -d x=1 http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 405);
	assert_string_equal(header(&f, "Allow"), "GET, HEAD");
	fetch_free(&f);

	http_server_free(srv);
	registry_free(reg);
}

/* Echoes the method, the path and every parameter, one per line. */
static int echo_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct buf *b = http_response_body(resp);
	const char *name, *value;

	assert_ptr_equal(ctx, (void *)tmpdir);
	if (strcmp(http_request_method(req), "GET") && strcmp(http_request_method(req), "POST")) {
		http_response_method_not_allowed(resp, "GET, POST");
		return 0;
	}
	buf_printf(b, "%s %s\n", http_request_method(req), http_request_path(req));
	for (size_t i = 0; i < http_request_nargs(req); i++) {
		http_request_arg_at(req, i, &name, &value);
		buf_printf(b, "%s=%s\n", name, value);
	}
	value = http_request_arg(req, "query");
	buf_printf(b, "first query: %s\n", value ? value : "(none)");
	http_response_header(resp, "Content-Type", "application/json");
	http_response_header(resp, "X-Echo", "yes");
	return 0;
}

static int failing_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	(void)ctx;
	(void)req;
	buf_puts(http_response_body(resp), "partial output that must not be sent");
	return -EIO;
}

static void test_routes_and_parameters(void **state)
{
	/* libmicrohttpd keeps each URL parameter in the connection's pool (max_header): 128 KiB
	 * holds HTTP_MAX_ARGS of them, the 16 KiB default about 250. */
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .max_body = 64,
					   .max_header = (size_t)128 << 10 };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv);
	struct fetch f = { 0 };
	char bigpath[128];
	struct buf many;
	FILE *big;

	(void)state;
	assert_int_equal(http_server_route(srv, "/api/v1/query", false, echo_handler, tmpdir), 0);
	assert_int_equal(http_server_route(srv, "/api/v1/label/", true, echo_handler, tmpdir), 0);
	assert_int_equal(http_server_route(srv, "/api/v1/label/x/", true, failing_handler, NULL),
			 0);
	assert_int_equal(http_server_route(srv, "/api/v1/query", false, echo_handler, NULL),
			 -EEXIST);
	assert_int_equal(http_server_route(srv, "api", false, echo_handler, NULL), -EINVAL);

	/* no /metrics without a registry */
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 404);
	fetch_free(&f);

	curl(&f, "'http://127.0.0.1:%d/api/v1/query?query=sum%%28rate%%28x%%5B5m%%5D%%29%%29+by+(a)"
		 "&match[]=up&match%%5B%%5D=down&empty=&flag'", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(header(&f, "Content-Type"), "application/json");
	assert_string_equal(header(&f, "X-Echo"), "yes");
	assert_string_equal(f.body, "GET /api/v1/query\n"
				    "query=sum(rate(x[5m])) by (a)\n"
				    "match[]=up\n"
				    "match[]=down\n"
				    "empty=\n"
				    "flag=\n"
				    "first query: sum(rate(x[5m])) by (a)\n");
	fetch_free(&f);

	/* form POST: body parameters first, then the query string's, as Go's Request.Form */
	curl(&f, "--data-raw 'query=1%%2B1&time=17' 'http://127.0.0.1:%d/api/v1/query?query=q2'",
	     port);
	assert_int_equal(f.code, 200);
	assert_string_equal(f.body, "POST /api/v1/query\nquery=1+1\ntime=17\nquery=q2\n"
				    "first query: 1+1\n");
	fetch_free(&f);

	/* a POST body that is not a form is not parsed as one */
	curl(&f, "-H 'Content-Type: application/json' --data-raw 'a=b' "
		 "http://127.0.0.1:%d/api/v1/query", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(f.body, "POST /api/v1/query\nfirst query: (none)\n");
	fetch_free(&f);

	curl(&f, "-X DELETE http://127.0.0.1:%d/api/v1/query", port);
	assert_int_equal(f.code, 405);
	assert_string_equal(header(&f, "Allow"), "GET, POST");
	fetch_free(&f);

	/* prefix routes, longest prefix first */
	curl(&f, "http://127.0.0.1:%d/api/v1/label/__name__/values", port);
	assert_int_equal(f.code, 200);
	assert_string_equal(f.body, "GET /api/v1/label/__name__/values\nfirst query: (none)\n");
	fetch_free(&f);
	curl(&f, "http://127.0.0.1:%d/api/v1/label/x/values", port);
	assert_int_equal(f.code, 500);
	assert_string_equal(f.body, "Internal Server Error\n");
	fetch_free(&f);

	/* bad escapes and caps */
	curl(&f, "'http://127.0.0.1:%d/api/v1/query?query=%%zz'", port);
	assert_int_equal(f.code, 400);
	fetch_free(&f);
	curl(&f, "--data-raw 'query=%s' http://127.0.0.1:%d/api/v1/query",
	     "0123456789012345678901234567890123456789012345678901234567890123456789", port);
	assert_int_equal(f.code, 413);
	fetch_free(&f);
	/* the same without Content-Length: chunked */
	curl(&f, "-H 'Transfer-Encoding: chunked' --data-raw 'query=%s' "
		 "http://127.0.0.1:%d/api/v1/query",
	     "0123456789012345678901234567890123456789012345678901234567890123456789", port);
	assert_int_equal(f.code, 413);
	fetch_free(&f);

	/* request line and headers are capped too: libmicrohttpd answers on its own */
	snprintf(bigpath, sizeof(bigpath), "%s/bigheader", tmpdir);
	big = fopen(bigpath, "w");
	assert_non_null(big);
	fputs("X-Big: ", big);
	for (int i = 0; i < 20000; i++)
		fputs("0123456789", big);
	fputs("\n", big);
	assert_int_equal(fclose(big), 0);
	curl(&f, "-H @%s http://127.0.0.1:%d/api/v1/query", bigpath, port);
	assert_int_equal(f.code, 431);
	fetch_free(&f);

	buf_init(&many, 0);
	for (int i = 0; i <= HTTP_MAX_ARGS; i++)
		buf_printf(&many, "%sa=%d", i ? "&" : "", i % 10);
	curl(&f, "'http://127.0.0.1:%d/api/v1/query?%s'", port, many.data);
	assert_int_equal(f.code, 400);
	assert_string_equal(f.body, "Too many parameters\n");
	fetch_free(&f);
	buf_release(&many);

	http_server_free(srv);
}

static void test_basic_auth(void **state)
{
	struct registry *reg = test_registry();
	char fixture_hash[128], salt[64], made_hash[128];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	struct config_user users[2];
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg,
					   .users = users, .nusers = 2 };
	struct http_server *srv;
	struct fetch f = { 0 };
	size_t n;
	char *text;
	int port;

	(void)state;
	text = slurp(FIXTURES "/bcrypt_s3cret.txt", &n);
	assert_true(n > 60);
	snprintf(fixture_hash, sizeof(fixture_hash), "%.60s", text);
	free(text);
	/* a second user whose $2b$ hash is made here, as htpasswd -B would */
	assert_non_null(crypt_gensalt_rn("$2b$", 4, NULL, 0, salt, sizeof(salt)));
	assert_non_null(cd);
	snprintf(made_hash, sizeof(made_hash), "%s", crypt_r("hunter2", salt, cd));
	free(cd);
	assert_int_equal(strlen(made_hash), 60);
	users[0] = (struct config_user){ .name = "alice", .bcrypt_hash = fixture_hash };
	users[1] = (struct config_user){ .name = "bob", .bcrypt_hash = made_hash };
	srv = start(&opt);
	port = http_server_port(srv);

	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	assert_string_equal(header(&f, "WWW-Authenticate"), "Basic realm=\"deploywatch\"");
	fetch_free(&f);
	curl(&f, "-u alice:wrong http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);
	curl(&f, "-u mallory:s3cret http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);
	curl(&f, "-u bob:s3cret http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);
	curl(&f, "-H 'Authorization: Basic !!!notbase64' http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);
	/* a body sent with bad credentials is not read, and the answer is still 401 */
	curl(&f, "-u alice:wrong --data-raw 'query=up' http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);
	/* every route, unknown ones too, before anything else is revealed */
	curl(&f, "http://127.0.0.1:%d/nope", port);
	assert_int_equal(f.code, 401);
	fetch_free(&f);

	/* twice each: the second answer comes from the cache and must agree */
	for (int i = 0; i < 2; i++) {
		curl(&f, "-u alice:s3cret http://127.0.0.1:%d/metrics", port);
		assert_int_equal(f.code, 200);
		assert_non_null(strstr(f.body, "laravel_log_entries_total{level=\"level_7\"} 7\n"));
		fetch_free(&f);
		curl(&f, "-u bob:hunter2 http://127.0.0.1:%d/-/healthy", port);
		assert_int_equal(f.code, 200);
		fetch_free(&f);
		/* a cached success for alice is no success for a wrong password */
		curl(&f, "-u alice:s3cret2 http://127.0.0.1:%d/metrics", port);
		assert_int_equal(f.code, 401);
		fetch_free(&f);
		/* nor for the right password under another name */
		curl(&f, "-u bob:s3cret http://127.0.0.1:%d/metrics", port);
		assert_int_equal(f.code, 401);
		fetch_free(&f);
	}
	http_server_free(srv);
	registry_free(reg);
}

static void test_bad_users_refused(void **state)
{
	struct config_user users[1] = { { .name = "carol", .bcrypt_hash = "plaintext" } };
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .users = users,
					   .nusers = 1 };
	struct http_server *srv = NULL;
	char err[256];

	(void)state;
	assert_int_equal(http_server_new(&opt, &srv, err, sizeof(err)), -EINVAL);
	assert_null(srv);
	assert_string_equal(err, "basic_auth_users: carol: expected a bcrypt hash ($2a$, $2b$ or "
				 "$2y$, 60 characters)");
}

static void test_tls(void **state)
{
	struct registry *reg = test_registry();
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg,
					   .tls_cert_file = FIXTURES "/cert.pem",
					   .tls_key_file = FIXTURES "/key.pem" };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv);
	struct fetch f = { 0 };
	size_t len;
	char *want = exposition(reg, EXPOSITION_TEXT, &len);

	(void)state;
	/* verified against the fixture CA, by name and by address */
	curl(&f, "--cacert %s/cert.pem https://localhost:%d/metrics", FIXTURES, port);
	assert_int_equal(f.code, 200);
	assert_int_equal(f.body_len, len);
	assert_memory_equal(f.body, want, len);
	fetch_free(&f);
	curl(&f, "--cacert %s/cert.pem https://127.0.0.1:%d/-/healthy", FIXTURES, port);
	assert_int_equal(f.code, 200);
	fetch_free(&f);
	/* plain HTTP to the TLS port gets no HTTP answer */
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 0);
	fetch_free(&f);
	free(want);
	http_server_free(srv);
	registry_free(reg);
}

static void expect_new_error(const struct http_server_options *opt, int rc, const char *msg)
{
	struct http_server *srv = NULL;
	char err[512] = "";

	assert_int_equal(http_server_new(opt, &srv, err, sizeof(err)), rc);
	assert_null(srv);
	assert_string_equal(err, msg);
}

static void test_tls_file_errors(void **state)
{
	struct http_server_options opt = { .listen_address = "127.0.0.1:0" };
	char notpem[128], msg[512];
	struct http_server *srv = NULL;
	char err[512] = "";
	FILE *f;

	(void)state;
	opt.tls_cert_file = "/nonexistent/cert.pem";
	opt.tls_key_file = FIXTURES "/key.pem";
	expect_new_error(&opt, -ENOENT,
			 "tls_cert_file /nonexistent/cert.pem: cannot read: No such file or directory");

	opt.tls_cert_file = FIXTURES "/cert.pem";
	opt.tls_key_file = "/nonexistent/key.pem";
	expect_new_error(&opt, -ENOENT,
			 "tls_key_file /nonexistent/key.pem: cannot read: No such file or directory");

	snprintf(notpem, sizeof(notpem), "%s/notpem.txt", tmpdir);
	f = fopen(notpem, "w");
	assert_non_null(f);
	fputs("this is not a certificate\n", f);
	fclose(f);
	opt.tls_cert_file = notpem;
	opt.tls_key_file = FIXTURES "/key.pem";
	snprintf(msg, sizeof(msg), "tls_cert_file %s: no PEM certificate found", notpem);
	expect_new_error(&opt, -EINVAL, msg);
	opt.tls_cert_file = FIXTURES "/cert.pem";
	opt.tls_key_file = notpem;
	snprintf(msg, sizeof(msg), "tls_key_file %s: no PEM private key found", notpem);
	expect_new_error(&opt, -EINVAL, msg);

	/* a directory is unreadable as a file */
	opt.tls_cert_file = FIXTURES;
	opt.tls_key_file = FIXTURES "/key.pem";
	snprintf(msg, sizeof(msg), "tls_cert_file %s: cannot read: Is a directory", FIXTURES);
	expect_new_error(&opt, -EISDIR, msg);

	/* well-formed files that do not belong together: gnutls's reason, both files named */
	opt.tls_cert_file = FIXTURES "/cert.pem";
	opt.tls_key_file = FIXTURES "/other_key.pem";
	assert_int_equal(http_server_new(&opt, &srv, err, sizeof(err)), -EINVAL);
	assert_null(srv);
	snprintf(msg, sizeof(msg), "tls_cert_file %s/cert.pem, tls_key_file %s/other_key.pem: "
		 "cannot use them: ", FIXTURES, FIXTURES);
	assert_memory_equal(err, msg, strlen(msg));
	assert_non_null(strstr(err, "The certificate and the given key do not match"));

	opt.tls_key_file = NULL;
	expect_new_error(&opt, -EINVAL,
			 "tls_cert_file and tls_key_file must both be set or both empty");
}

static void test_listen_errors(void **state)
{
	struct http_server_options opt = { 0 };
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	char addr[64], msg[128];
	int fd;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 1), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", ntohs(sin.sin_port));
	snprintf(msg, sizeof(msg), "listen %s: Address already in use", addr);
	opt.listen_address = addr;
	expect_new_error(&opt, -EADDRINUSE, msg);
	close(fd);

	opt.listen_address = "127.0.0.1:0";
	opt.threads = 65;
	expect_new_error(&opt, -EINVAL, "http threads: 65 is more than 64");
	opt.threads = 0;

	opt.listen_address = "localhost";
	expect_new_error(&opt, -EINVAL,
			 "listen_address \"localhost\": expected host:port, [ipv6]:port or :port");
	opt.listen_address = "::1:9466";
	expect_new_error(&opt, -EINVAL,
			 "listen_address \"::1:9466\": expected host:port, [ipv6]:port or :port");
	opt.listen_address = "127.0.0.1:70000";
	expect_new_error(&opt, -EINVAL,
			 "listen_address \"127.0.0.1:70000\": expected host:port, [ipv6]:port or "
			 ":port");
}

static void test_ipv6_and_all_interfaces(void **state)
{
	struct http_server_options opt = { .listen_address = "[::1]:0" };
	struct http_server *srv = start(&opt);
	struct fetch f = { 0 };
	char addr[32];

	(void)state;
	curl(&f, "-g 'http://[::1]:%d/-/healthy'", http_server_port(srv));
	assert_int_equal(f.code, 200);
	fetch_free(&f);
	http_server_free(srv);

	/* ":port" listens on every interface, IPv4 included */
	opt.listen_address = ":0";
	srv = start(&opt);
	snprintf(addr, sizeof(addr), "127.0.0.1:%d", http_server_port(srv));
	curl(&f, "http://%s/-/healthy", addr);
	assert_int_equal(f.code, 200);
	fetch_free(&f);
	curl(&f, "-g 'http://[::1]:%d/-/healthy'", http_server_port(srv));
	assert_int_equal(f.code, 200);
	fetch_free(&f);
	http_server_free(srv);
}

/* Collects "name{labels} value" lines for families starting with deploywatch_http_. */
static int stats_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	char v[FMT_DOUBLE_MAX];

	if (strncmp(info->name, "deploywatch_http_", 17) != 0)
		return 0;
	buf_printf(ctx, "%s{", s->name);
	for (size_t i = 0; i < s->nlabels; i++)
		buf_printf(ctx, "%s%s=%s", i ? "," : "", s->label_names[i], s->label_values[i]);
	buf_printf(ctx, "} %s\n", fmt_double(v, s->value));
	return 0;
}

static bool has_line(struct buf *b, const char *line)
{
	char want[256];

	snprintf(want, sizeof(want), "%s\n", line);
	return strstr(b->data ? b->data : "", want) != NULL;
}

static void test_publish_stats(void **state)
{
	struct registry *reg = test_registry();
	struct registry *stats = registry_new(0);
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .registry = reg,
					   .mono_ns = test_mono_ns };
	struct http_server *srv = start(&opt);
	struct registry_visitor v = { .sample = stats_sample };
	int port = http_server_port(srv);
	struct fetch f = { 0 };
	struct buf b;

	(void)state;
	for (int i = 0; i < 3; i++) {
		curl(&f, "http://127.0.0.1:%d/metrics", port);
		assert_int_equal(f.code, 200);
		fetch_free(&f);
	}
	curl(&f, "-X POST http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 405);
	fetch_free(&f);
	curl(&f, "http://127.0.0.1:%d/nope", port);
	assert_int_equal(f.code, 404);
	fetch_free(&f);

	buf_init(&b, 0);
	for (int round = 0; round < 2; round++) {
		/* a second publish without new requests adds nothing */
		assert_int_equal(http_server_publish_stats(srv, stats), 0);
		buf_reset(&b);
		assert_int_equal(registry_visit(stats, &v, &b), 0);
		assert_true(has_line(&b, "deploywatch_http_requests_total{handler=/metrics,code=200} 3"));
		assert_true(has_line(&b, "deploywatch_http_requests_total{handler=/metrics,code=405} 1"));
		assert_true(has_line(&b, "deploywatch_http_requests_total{handler=other,code=404} 1"));
		assert_true(has_line(&b, "deploywatch_http_request_duration_seconds_count"
					 "{handler=/metrics} 4"));
		assert_true(has_line(&b, "deploywatch_http_request_duration_seconds_bucket"
					 "{handler=/metrics,le=+Inf} 4"));
		assert_true(has_line(&b, "deploywatch_http_request_duration_seconds_count"
					 "{handler=other} 1"));
		assert_null(strstr(b.data, "handler=/-/healthy"));
	}
	curl(&f, "http://127.0.0.1:%d/metrics", port);
	assert_int_equal(f.code, 200);
	fetch_free(&f);
	assert_int_equal(http_server_publish_stats(srv, stats), 0);
	buf_reset(&b);
	assert_int_equal(registry_visit(stats, &v, &b), 0);
	assert_true(has_line(&b, "deploywatch_http_requests_total{handler=/metrics,code=200} 4"));
	assert_true(has_line(&b, "deploywatch_http_request_duration_seconds_count"
				 "{handler=/metrics} 5"));
	buf_release(&b);

	/* the families must be registrable with our shape */
	registry_free(stats);
	stats = registry_new(0);
	assert_non_null(registry_gauge(stats, "deploywatch_http_requests_total", "x", NULL));
	assert_int_equal(http_server_publish_stats(srv, stats), -EINVAL);
	registry_free(stats);

	http_server_free(srv);
	registry_free(reg);
}


/* ---- connection limits (raw sockets: the test decides when each byte goes) ---- */

static int conn_open(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

/* A connection whose receive window stays tiny: a large answer to it stays unsent. */
static int conn_open_tiny_window(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), small = 4096;

	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void conn_send(int fd, const char *text)
{
	assert_int_equal(send(fd, text, strlen(text), MSG_NOSIGNAL), (ssize_t)strlen(text));
}

/* Read one response (headers and a Content-Length body) within 5 s; returns its status. */
static int conn_response(int fd, char *body, size_t bodylen)
{
	char buf[8192];
	size_t used = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		char *end, *cl;
		ssize_t n;

		assert_int_equal(poll(&pfd, 1, 5000), 1);
		n = recv(fd, buf + used, sizeof(buf) - 1 - used, 0);
		if (n <= 0)
			return 0;
		used += (size_t)n;
		buf[used] = '\0';
		end = strstr(buf, "\r\n\r\n");
		cl = strcasestr(buf, "Content-Length:");
		if (end && cl && used >= (size_t)(end + 4 - buf) + strtoul(cl + 15, NULL, 10)) {
			if (body)
				snprintf(body, bodylen, "%s", end + 4);
			return atoi(buf + 9);
		}
	}
}

/* Does the server close 'fd' within 'ms' (end of file or reset)? Reads and drops any data. */
static bool conn_closed_within(int fd, int ms)
{
	char buf[65536];

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&pfd, 1, ms) != 1)
			return false;
		n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
	}
}

/* Wait until the server has marked n connections idle. A client has its response before the
 * server's completion callback runs, and on a loaded machine that callback can lag behind the
 * next connection: the one still marked busy is not the connection the test expects evicted. */
static void wait_idle(struct http_server *srv, int n)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct timespec ts = { 0, 10 * 1000000L };
		int idle = 0;

		pthread_mutex_lock(&srv->conns.lock);
		for (struct http_conn *c = srv->conns.head.next; c != &srv->conns.head; c = c->next)
			idle += c->state == HTTP_CONN_IDLE;
		pthread_mutex_unlock(&srv->conns.lock);
		if (idle >= n)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("the server did not mark %d connections idle within 10 s", n);
}

/* Wait until the server has forgotten every connection but n. A connection the client saw
 * closed can still hold its slot: libmicrohttpd shuts the socket down first and reports it
 * closed (which frees the slot) afterwards, on its worker thread, which may not run at once. */
static void wait_open(struct http_server *srv, unsigned n)
{
	unsigned open = 0;

	for (int tries = 0; tries < 1000; tries++) {
		struct timespec ts = { 0, 10 * 1000000L };

		open = http_conns_open(&srv->conns);
		if (open == n)
			return;
		nanosleep(&ts, NULL);
	}
	fail_msg("the server still had %u connections open after 10 s, not %u", open, n);
}

static bool conn_still_open(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLRDHUP };

	return poll(&pfd, 1, 0) == 0;
}

static int big_handler(void *ctx, const struct http_request *req, struct http_response *resp)
{
	struct buf *b = http_response_body(resp);
	char line[1024];

	(void)ctx;
	(void)req;
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\n';
	/* 16 MiB: more than the loopback socket buffers hold. */
	for (int i = 0; i < 16 * 1024; i++)
		assert_int_equal(buf_append(b, line, sizeof(line)), 0);
	return 0;
}

/* Publish into 'stats' (one registry per server: publishing adds what is new) and list it. */
static void publish(struct http_server *srv, struct registry *stats, struct buf *out)
{
	struct registry_visitor v = { .sample = stats_sample };

	assert_int_equal(http_server_publish_stats(srv, stats), 0);
	buf_reset(out);
	assert_int_equal(registry_visit(stats, &v, out), 0);
}

/* Publish until 'line' shows (the server's completion callbacks run just after the client has
 * its answer), for at most 5 s. */
static bool published_within(struct http_server *srv, struct registry *stats, struct buf *out,
			     const char *line)
{
	for (int i = 0; i < 500; i++) {
		struct pollfd none = { .fd = -1 };

		publish(srv, stats, out);
		if (has_line(out, line))
			return true;
		poll(&none, 0, 10);
	}
	print_message("%s not in:\n%s", line, out->data ? out->data : "");
	return false;
}

static const char healthy_req[] = "GET /-/healthy HTTP/1.1\r\nHost: x\r\n\r\n";
static const char big_req[] = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";


/* When full, the connection idle longest makes room; idle and slow connections are closed. */
static void test_connections_make_room_and_expire(void **state)
{
	/* The idle timeout leaves ample time (under ASan on a loaded machine too) to see the
	 * evicted connection close while the other three are still within it. */
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .max_connections = 4,
					   .read_timeout_ms = 1000, .idle_timeout_ms = 6000 };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv), fds[4], fresh, slow;
	struct registry *stats = registry_new(0);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	/* Each is idle in the server's view before the next is opened: its idle time starts in
	 * libmicrohttpd's completion callback, which may run after the client has read the answer,
	 * so without the wait a later connection could become idle first. */
	for (int i = 0; i < 4; i++) {
		fds[i] = conn_open(port);
		conn_send(fds[i], healthy_req);
		assert_int_equal(conn_response(fds[i], NULL, 0), 200);
		wait_idle(srv, i + 1);
	}
	/* Full: the fifth takes the slot of the first, which was idle longest. */
	fresh = conn_open(port);
	conn_send(fresh, healthy_req);
	assert_int_equal(conn_response(fresh, NULL, 0), 200);
	assert_true(conn_closed_within(fds[0], 5000));
	for (int i = 1; i < 4; i++)
		assert_true(conn_still_open(fds[i]));
	/* A keep-alive connection still answers while it is used within idle_timeout... */
	conn_send(fds[1], healthy_req);
	assert_int_equal(conn_response(fds[1], NULL, 0), 200);
	/* ...and is closed once it is not. */
	for (int i = 1; i < 4; i++)
		assert_true(conn_closed_within(fds[i], 15000));
	assert_true(conn_closed_within(fresh, 15000));

	/* Half a request: closed at read_timeout, whether bytes trickle in or not. */
	slow = conn_open(port);
	conn_send(slow, "GET /-/healthy HTTP/1.1\r\n");
	assert_true(conn_still_open(slow));
	conn_send(slow, "Host: x\r\n");
	assert_true(conn_closed_within(slow, 5000));
	close(slow);

	publish(srv, stats, &b);
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=full} 1"));
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=idle_timeout} 4"));
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=read_timeout} 1"));
	assert_true(has_line(&b, "deploywatch_http_connections_refused_total{} 0"));

	for (int i = 0; i < 4; i++)
		close(fds[i]);
	close(fresh);
	buf_release(&b);
	registry_free(stats);
	http_server_free(srv);
}

/* A peer that closes is noticed at once: its slot is free long before any deadline. */
static void test_connections_peer_close(void **state)
{
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .max_connections = 2,
					   .read_timeout_ms = 60000, .idle_timeout_ms = 60000 };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv), a, b2, c;
	struct registry *stats = registry_new(0);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	/* A complete request and the write side closed: answered, then closed. */
	a = conn_open(port);
	conn_send(a, healthy_req);
	assert_int_equal(shutdown(a, SHUT_WR), 0);
	assert_int_equal(conn_response(a, NULL, 0), 200);
	assert_true(conn_closed_within(a, 5000));
	/* Half a request and the write side closed: closed without waiting for read_timeout. */
	b2 = conn_open(port);
	conn_send(b2, "GET /-/healthy HTTP/1.1\r\nHo");
	assert_int_equal(shutdown(b2, SHUT_WR), 0);
	assert_true(conn_closed_within(b2, 5000));
	close(a);
	close(b2);
	/* Both slots free again once the server has let go of both (the client sees the end of
	 * file before libmicrohttpd reports the connection closed): two idle connections and no
	 * room was made for them. */
	wait_open(srv, 0);
	a = conn_open(port);
	conn_send(a, healthy_req);
	assert_int_equal(conn_response(a, NULL, 0), 200);
	c = conn_open(port);
	conn_send(c, healthy_req);
	assert_int_equal(conn_response(c, NULL, 0), 200);
	assert_true(conn_still_open(a));
	publish(srv, stats, &b);
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=full} 0"));
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=read_timeout} 0"));
	close(a);
	close(c);
	buf_release(&b);
	registry_free(stats);
	http_server_free(srv);
}

/* Past max_requests in flight, a quick 503; full of connections being answered, refused. */
static void test_requests_over_limit_and_refused(void **state)
{
	struct http_server_options opt = { .listen_address = "127.0.0.1:0", .max_connections = 2,
					   .max_requests = 1 };
	struct http_server *srv = start(&opt);
	int port = http_server_port(srv), stuck[2], other, third;
	char body[256];
	struct registry *stats = registry_new(0);
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(http_server_route(srv, "/big", false, big_handler, NULL), 0);
	/* Its answer waits behind a closed window: the request stays in flight. */
	stuck[0] = conn_open_tiny_window(port);
	conn_send(stuck[0], big_req);
	{
		/* Wait until it is being answered (its first bytes arrive): only then is it in
		 * flight for certain, whatever the scheduler does with the server's threads. */
		struct pollfd pfd = { .fd = stuck[0], .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	other = conn_open(port);
	conn_send(other, healthy_req);
	assert_int_equal(conn_response(other, body, sizeof(body)), 503);
	assert_string_equal(body, "Too many concurrent requests\n");
	/* Full (one answering, one idle after its 503): the idle one makes room. */
	/* The 503 is complete once its request no longer counts: 'other' is idle. */
	assert_true(published_within(srv, stats, &b, "deploywatch_http_requests_in_flight{} 1"));
	third = conn_open(port);
	assert_true(conn_closed_within(other, 5000));
	conn_send(third, healthy_req);
	assert_int_equal(conn_response(third, NULL, 0), 503);
	assert_true(published_within(srv, stats, &b,
				     "deploywatch_http_requests_over_limit_total{} 2"));
	assert_true(published_within(srv, stats, &b, "deploywatch_http_requests_in_flight{} 1"));
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=full} 1"));
	close(other);
	close(third);
	close(stuck[0]);
	http_server_free(srv);
	registry_free(stats);
	stats = registry_new(0);

	/* Both connections answering: a third is refused, as nothing can make room. */
	opt.max_requests = 10;
	srv = start(&opt);
	port = http_server_port(srv);
	assert_int_equal(http_server_route(srv, "/big", false, big_handler, NULL), 0);
	for (int i = 0; i < 2; i++) {
		stuck[i] = conn_open_tiny_window(port);
		conn_send(stuck[i], big_req);
	}
	/* Wait until both are being answered: their first bytes arrive. */
	for (int i = 0; i < 2; i++) {
		struct pollfd pfd = { .fd = stuck[i], .events = POLLIN };

		assert_int_equal(poll(&pfd, 1, 5000), 1);
	}
	third = conn_open(port);
	assert_true(conn_closed_within(third, 5000));
	publish(srv, stats, &b);
	assert_true(has_line(&b, "deploywatch_http_connections_refused_total{} 1"));
	assert_true(has_line(&b, "deploywatch_http_connections_closed_total{reason=full} 0"));
	assert_true(has_line(&b, "deploywatch_http_connections{} 2"));
	close(third);
	for (int i = 0; i < 2; i++)
		close(stuck[i]);
	buf_release(&b);
	registry_free(stats);
	http_server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_text_gzip_openmetrics),
		cmocka_unit_test(test_metrics_cache_follows_changes),
		cmocka_unit_test(test_builtin_routes_404_405),
		cmocka_unit_test(test_routes_and_parameters),
		cmocka_unit_test(test_basic_auth),
		cmocka_unit_test(test_bad_users_refused),
		cmocka_unit_test(test_tls),
		cmocka_unit_test(test_tls_file_errors),
		cmocka_unit_test(test_listen_errors),
		cmocka_unit_test(test_ipv6_and_all_interfaces),
		cmocka_unit_test(test_publish_stats),
		cmocka_unit_test(test_connections_make_room_and_expire),
		cmocka_unit_test(test_connections_peer_close),
		cmocka_unit_test(test_requests_over_limit_and_refused),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
