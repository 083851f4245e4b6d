/*
 * Fleet mode: the judge's checks evaluated by a Prometheus server through its HTTP API
 * (/api/v1/query and /api/v1/query_range, form POST), with libcurl for the transport and jansson
 * for the responses. libcurl is loaded with dlopen when fleet mode starts, not linked: linked, its
 * ~20 shared libraries (GnuTLS, nghttp2, Kerberos, LDAP, ...) were mapped into every deploywatch
 * process, the agent included (idle RSS +2.4 MB, +12 ms CPU per start; docs/judge.md). It plugs into the judge as a struct judge_backend and folds results exactly
 * as the local backend does (judge_fold: NaN skipped, sum or maximum), so a check gives the same
 * number whether its series come from this host's store or from the fleet's Prometheus.
 *
 * Transport code, so it lives in cli/ (the only module that talks to the outside world as a
 * client); docs/judge.md describes fleet mode.
 */
#include <ctype.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli/cli.h"
#include "core/buf.h"
#include "core/err.h"
#include "query/judge.h"
#include "query/promql.h"
#include "store/store.h"

/* A response larger than this is refused: a judge query folds to one number per step, so only a
 * runaway expression (a selector over the whole fleet without aggregation) comes near it. */
#define PROM_MAX_RESPONSE ((size_t)32 << 20)
/* The longest form body sent (the expressions are capped at 8 KiB by the judge). */
#define PROM_MAX_REQUEST ((size_t)64 << 10)
#define PROM_MAX_URL 2048
#define PROM_MAX_PASSWORD 4096

/*
 * The libcurl functions this file calls, resolved by dlsym. Their types come from <curl/curl.h>
 * (__typeof__ of curl's own declarations), so a mismatch is a compile error, not a crash. Calls
 * go through lc.easy_setopt(...) and not the curl_easy_setopt macro: the macro's type checks are
 * lost, so every long option is passed as a long explicitly.
 */
static struct {
	void *handle; /* never dlclosed: a one-shot command, and GnuTLS keeps atexit state */
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_global_cleanup) *global_cleanup;
	__typeof__(curl_easy_init) *easy_init;
	__typeof__(curl_easy_cleanup) *easy_cleanup;
	__typeof__(curl_easy_setopt) *easy_setopt;
	__typeof__(curl_easy_perform) *easy_perform;
	__typeof__(curl_easy_getinfo) *easy_getinfo;
	__typeof__(curl_easy_strerror) *easy_strerror;
	__typeof__(curl_easy_escape) *easy_escape;
	__typeof__(curl_free) *free;
} lc;

/* The GnuTLS flavour first: the soname of Debian's libcurl3-gnutls, which the build's
 * libcurl4-gnutls-dev headers describe; then the OpenSSL flavour (libcurl4), same API. */
static const char *const curl_sonames[] = { "libcurl-gnutls.so.4", "libcurl.so.4" };

/* Load libcurl once per process. Returns 0, or -ELIBACC with one line in 'err' naming the
 * package to install. Main thread (fleet mode's set-up). */
static int load_curl(char *err, size_t errlen)
{
	const char *missing = NULL;
	char first[256] = "";
	void *h = NULL;

	if (lc.handle)
		return 0;
	for (size_t i = 0; !h && i < sizeof(curl_sonames) / sizeof(curl_sonames[0]); i++) {
		h = dlopen(curl_sonames[i], RTLD_NOW | RTLD_LOCAL);
		if (!h && i == 0) /* the first one's reason: the package the error names */
			snprintf(first, sizeof(first), "%s", dlerror());
	}
	if (!h) {
		snprintf(err, errlen, "fleet mode needs libcurl, which cannot be loaded (%.200s): "
				      "apt-get install libcurl3-gnutls", first);
		return -ELIBACC;
	}
#define LC_SYM(field, name)                                             \
	do {                                                            \
		lc.field = (__typeof__(lc.field))dlsym(h, name);        \
		if (!lc.field && !missing)                              \
			missing = name;                                 \
	} while (0)
	LC_SYM(global_init, "curl_global_init");
	LC_SYM(global_cleanup, "curl_global_cleanup");
	LC_SYM(easy_init, "curl_easy_init");
	LC_SYM(easy_cleanup, "curl_easy_cleanup");
	LC_SYM(easy_setopt, "curl_easy_setopt");
	LC_SYM(easy_perform, "curl_easy_perform");
	LC_SYM(easy_getinfo, "curl_easy_getinfo");
	LC_SYM(easy_strerror, "curl_easy_strerror");
	LC_SYM(easy_escape, "curl_easy_escape");
	LC_SYM(free, "curl_free");
#undef LC_SYM
	if (missing) {
		snprintf(err, errlen, "the libcurl found has no %s: apt-get install libcurl3-gnutls",
			 missing);
		dlclose(h);
		memset(&lc, 0, sizeof(lc));
		return -ELIBACC;
	}
	lc.handle = h;
	return 0;
}

_Static_assert(sizeof(((struct cli_prom_deploy *)0)->name) == STORE_DEPLOY_MAX_NAME + 1,
	       "a deploy name as the store caps it");

struct cli_prom {
	CURL *curl;
	char *base;        /* the URL without trailing slashes */
	char *userpwd;     /* "user:password" for basic auth; NULL: none */
	int64_t timeout_ms;
	char *selector;    /* matchers added to every vector selector; NULL: none */
	struct buf resp;   /* the last response's body */
	bool too_big;      /* the last response passed PROM_MAX_RESPONSE */
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct cli_prom *p = ctx;

	if (buf_append(&p->resp, data, size * n)) {
		p->too_big = true;
		return 0; /* curl stops with CURLE_WRITE_ERROR */
	}
	return size * n;
}

int cli_prom_read_password(const char *path, char *out, size_t outlen, char *err, size_t errlen)
{
	ssize_t n;
	size_t len = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read the password file: %s", path, err_str(rc));
		return rc;
	}
	while ((n = read(fd, out + len, outlen - 1 - len)) > 0 && len + (size_t)n < outlen - 1)
		len += (size_t)n;
	if (n < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot read the password file: %s", path, err_str(rc));
	} else if (n > 0) {
		rc = -E2BIG;
		snprintf(err, errlen, "%s: the password file is over %zu bytes", path, outlen - 2);
	}
	close(fd);
	if (rc)
		return rc;
	out[len] = '\0';
	/* one trailing line end, as `echo secret > file` writes it, is not part of the password */
	if (len && out[len - 1] == '\n')
		out[--len] = '\0';
	if (len && out[len - 1] == '\r')
		out[--len] = '\0';
	if (strlen(out) != len) {
		snprintf(err, errlen, "%s: the password file holds a NUL byte", path);
		return -EINVAL;
	}
	return 0;
}

int cli_prom_new(const struct cli_prom_options *o, struct cli_prom **out, char *err,
		 size_t errlen)
{
	struct cli_prom *p;
	const char *host;
	char *selector = NULL;
	size_t len;

	*out = NULL;
	len = strlen(o->url);
	host = strncmp(o->url, "http://", 7) == 0    ? o->url + 7
	       : strncmp(o->url, "https://", 8) == 0 ? o->url + 8
						     : NULL;
	if (!host || !*host || *host == '/' || len > PROM_MAX_URL) {
		snprintf(err, errlen, "'%.200s' is not an http:// or https:// URL of at most %d bytes",
			 o->url, PROM_MAX_URL);
		return -EINVAL;
	}
	if (memchr(host, '@', strcspn(host, "/"))) {
		/* it would be printed in every error message and visible in ps */
		snprintf(err, errlen, "the URL carries a user: give it with --prometheus-user and "
				      "the password in --prometheus-password-file instead");
		return -EINVAL;
	}
	if (o->password && !o->username) {
		snprintf(err, errlen, "a password without a user (--prometheus-user)");
		return -EINVAL;
	}
	if (o->selector) {
		size_t n = strlen(o->selector);
		char *sel = o->selector[0] == '{' && n > 1 && o->selector[n - 1] == '}'
				    ? xstrndup(o->selector + 1, n - 2)
				    : xstrdup(o->selector);
		struct buf b;
		char perr[200];
		int rc;

		buf_init(&b, 0);
		rc = promql_add_matchers("up", sel, &b, perr, sizeof(perr));
		buf_release(&b);
		if (rc) {
			snprintf(err, errlen, "--selector '%.200s': %s", o->selector, perr);
			free(sel);
			return -EINVAL;
		}
		selector = sel;
	}
	if (load_curl(err, errlen)) {
		free(selector);
		return -ELIBACC;
	}
	if (lc.global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(err, errlen, "libcurl failed to initialise");
		free(selector);
		return -ENOMEM;
	}
	p = xcalloc(1, sizeof(*p));
	p->selector = selector;
	p->curl = lc.easy_init();
	if (!p->curl) {
		free(p->selector);
		free(p);
		lc.global_cleanup();
		snprintf(err, errlen, "libcurl failed to initialise");
		return -ENOMEM;
	}
	while (len > 0 && o->url[len - 1] == '/')
		len--;
	p->base = xstrndup(o->url, len);
	p->timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 30000;
	if (o->username) {
		struct buf b;

		buf_init(&b, 2 * PROM_MAX_PASSWORD);
		buf_printf(&b, "%s:%s", o->username, o->password ? o->password : "");
		p->userpwd = buf_detach(&b, NULL);
		buf_release(&b);
	}
	buf_init(&p->resp, PROM_MAX_RESPONSE);

	/* the URL was checked, but a redirect or a future default must not reach file:// either;
	 * the fallback soname may be a libcurl older than 7.85 that lacks the option */
	if (lc.easy_setopt(p->curl, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK) {
		snprintf(err, errlen, "the libcurl loaded is older than 7.85 (no "
				      "CURLOPT_PROTOCOLS_STR): apt-get install libcurl3-gnutls");
		cli_prom_free(p);
		return -ELIBACC;
	}
	lc.easy_setopt(p->curl, CURLOPT_NOSIGNAL, 1L);
	lc.easy_setopt(p->curl, CURLOPT_WRITEFUNCTION, on_body);
	lc.easy_setopt(p->curl, CURLOPT_WRITEDATA, p);
	lc.easy_setopt(p->curl, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
	lc.easy_setopt(p->curl, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)(p->timeout_ms < 10000 ? p->timeout_ms : 10000));
	lc.easy_setopt(p->curl, CURLOPT_USERAGENT, "deploywatch-judge");
	lc.easy_setopt(p->curl, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl decodes */
	if (p->userpwd) {
		lc.easy_setopt(p->curl, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		lc.easy_setopt(p->curl, CURLOPT_USERPWD, p->userpwd);
	}
	if (o->ca_file)
		lc.easy_setopt(p->curl, CURLOPT_CAINFO, o->ca_file);
	if (o->insecure) {
		lc.easy_setopt(p->curl, CURLOPT_SSL_VERIFYPEER, 0L);
		lc.easy_setopt(p->curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	*out = p;
	return 0;
}

void cli_prom_free(struct cli_prom *p)
{
	if (!p)
		return;
	lc.easy_cleanup(p->curl);
	if (p->userpwd) {
		explicit_bzero(p->userpwd, strlen(p->userpwd));
		free(p->userpwd);
	}
	free(p->base);
	free(p->selector);
	buf_release(&p->resp);
	free(p);
	lc.global_cleanup();
}

/* The first line of a non-JSON body, printable ASCII only, for an error message. */
static void body_line(const struct buf *b, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < b->len && o + 1 < outlen && o < 120; i++) {
		unsigned char c = (unsigned char)b->data[i];

		if (c == '\n' || c == '\r')
			break;
		out[o++] = isprint(c) ? (char)c : '?';
	}
	out[o] = '\0';
}

/*
 * POST the form 'form' to base + 'path'. Returns 0 with *root (json_decref it) and *data (its
 * "data" member, borrowed from *root), or an error with one line in 'err': the transport's, the
 * HTTP status with Prometheus's errorType and error, or what was wrong with the response. The
 * line names the path, not the URL: it becomes a check's reason, where room is short, and the URL
 * is the same for every check.
 */
static int prom_post(struct cli_prom *p, const char *path, const char *form, json_t **root,
		     json_t **data, char *err, size_t errlen)
{
	char url[PROM_MAX_URL + 64], cerr[CURL_ERROR_SIZE] = "", line[128];
	const char *status, *etype, *emsg;
	json_error_t jerr;
	long http = 0;
	CURLcode cc;
	int code;
	json_t *j;

	*root = *data = NULL;
	snprintf(url, sizeof(url), "%s%s", p->base, path);
	buf_reset(&p->resp);
	p->too_big = false;
	lc.easy_setopt(p->curl, CURLOPT_URL, url);
	lc.easy_setopt(p->curl, CURLOPT_POSTFIELDS, form);
	lc.easy_setopt(p->curl, CURLOPT_ERRORBUFFER, cerr);
	cc = lc.easy_perform(p->curl);
	lc.easy_setopt(p->curl, CURLOPT_ERRORBUFFER, NULL);
	if (cc != CURLE_OK) {
		if (p->too_big) {
			snprintf(err, errlen, "%s: response over %zu MiB", path, PROM_MAX_RESPONSE >> 20);
			return -E2BIG;
		}
		snprintf(err, errlen, "%s: %s%s", path, cerr[0] ? cerr : lc.easy_strerror(cc),
			 cc == CURLE_PEER_FAILED_VERIFICATION
				 ? " (--prometheus-ca FILE names the CA that signed it)"
				 : "");
		return cc == CURLE_OPERATION_TIMEDOUT	? -ETIMEDOUT
		       : cc == CURLE_COULDNT_CONNECT	? -ECONNREFUSED
		       : cc == CURLE_COULDNT_RESOLVE_HOST ? -EHOSTUNREACH
							  : -EIO;
	}
	lc.easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &http);
	if (http == 401 || http == 403) {
		body_line(&p->resp, line, sizeof(line));
		snprintf(err, errlen, "%s: HTTP %ld %s: %s", path, http, line[0] ? line : "refused",
			 p->userpwd ? "wrong user or password" : "it needs --prometheus-user and a "
								 "password");
		return -EACCES;
	}
	j = json_loadb(p->resp.data ? p->resp.data : "", p->resp.len, 0, &jerr);
	status = json_string_value(json_object_get(j, "status"));
	if (!j || !status) {
		body_line(&p->resp, line, sizeof(line));
		if (http == 200)
			snprintf(err, errlen, "%s: not a Prometheus API response (%s)", path,
				 j ? "no status" : jerr.text);
		else
			snprintf(err, errlen, "%s: HTTP %ld: %s", path, http,
				 line[0] ? line : "(empty body)");
		json_decref(j);
		return http == 200 ? -EPROTO : -EIO;
	}
	if (strcmp(status, "success") != 0 || http != 200) {
		/* Prometheus's own error: its type and message, e.g. bad_data: 1:5: parse error */
		etype = json_string_value(json_object_get(j, "errorType"));
		emsg = json_string_value(json_object_get(j, "error"));
		code = etype && strcmp(etype, "bad_data") == 0	 ? PROMQL_E_BAD_DATA
		       : etype && strcmp(etype, "timeout") == 0 ? PROMQL_E_TIMEOUT
								: PROMQL_E_EXECUTION;
		snprintf(err, errlen, "%s: %s (HTTP %ld)", etype ? etype : "error",
			 emsg ? emsg : "no message", http);
		json_decref(j); /* etype and emsg belong to it */
		return code;
	}
	*data = json_object_get(j, "data");
	if (!json_is_object(*data)) {
		snprintf(err, errlen, "%s: a success without data", path);
		json_decref(j);
		*data = NULL;
		return -EPROTO;
	}
	*root = j;
	return 0;
}

/* Build the form body: query=EXPR (with the selector's matchers added) plus the extra
 * "&name=value" text 'rest'. */
static int form_query(struct cli_prom *p, const char *expr, const char *rest, struct buf *b,
		      char *err, size_t errlen)
{
	struct buf sel;
	char *q;
	int rc;

	if (p->selector) {
		buf_init(&sel, PROM_MAX_REQUEST);
		rc = promql_add_matchers(expr, p->selector, &sel, err, errlen);
		q = rc ? NULL : lc.easy_escape(p->curl, sel.data, (int)sel.len);
		buf_release(&sel);
		if (rc)
			return rc; /* the message says why: a parse error, or too long */
	} else {
		q = lc.easy_escape(p->curl, expr, 0);
	}
	if (!q) {
		snprintf(err, errlen, "cannot encode the expression");
		return -ENOMEM;
	}
	/* Prometheus cancels at once on timeout=0s: never less than a second */
	rc = buf_printf(b, "query=%s%s&timeout=%llds", q, rest,
			(long long)(p->timeout_ms < 1000 ? 1 : p->timeout_ms / 1000));
	lc.free(q);
	if (rc)
		snprintf(err, errlen, "expression over %zu bytes encoded", PROM_MAX_REQUEST);
	return rc;
}

/* A sample value as the API writes it: a JSON string, "NaN", "+Inf" and "-Inf" included. */
static bool sample_value(const json_t *s, double *v)
{
	const char *t = json_string_value(s);
	char *end;

	if (!t || !*t)
		return false;
	*v = strtod(t, &end);
	return *end == '\0';
}

/* A sample [time, "value"]: the time in milliseconds and the value. */
static bool sample_pair(const json_t *pair, int64_t *t_ms, double *v)
{
	const json_t *t = json_array_get(pair, 0);

	/* a time past the year 300,000 is no Prometheus's: refuse it before llround */
	if (json_array_size(pair) != 2 || !json_is_number(t) ||
	    !(fabs(json_number_value(t)) < 1e13) || !sample_value(json_array_get(pair, 1), v))
		return false;
	*t_ms = llround(json_number_value(t) * 1000);
	return true;
}

/* Seconds with milliseconds, as the API takes times and steps. */
static const char *secs(int64_t ms, char *out, size_t outlen)
{
	lldiv_t d = lldiv((long long)ms, 1000);

	if (d.rem < 0) {
		d.quot--;
		d.rem += 1000;
	}
	snprintf(out, outlen, "%lld.%03lld", d.quot, d.rem);
	return out;
}

typedef int (*vector_fn)(void *ctx, const json_t *metric, double v);

/*
 * The instant query 'expr' at 't_ms'. A vector calls 'each' per series (with its labels); a scalar
 * calls it once with no labels and sets *scalar. A matrix or a string is refused as the local
 * backend refuses them. Returns 0 or an error with one line in 'err'.
 */
static int prom_instant(struct cli_prom *p, const char *expr, int64_t t_ms, vector_fn each,
			void *ctx, bool *scalar, char *err, size_t errlen)
{
	char rest[64], ts[32];
	const char *type;
	json_t *root, *data, *result;
	struct buf form;
	int64_t t;
	double v;
	size_t i;
	int rc;

	*scalar = false;
	buf_init(&form, PROM_MAX_REQUEST);
	snprintf(rest, sizeof(rest), "&time=%s", secs(t_ms, ts, sizeof(ts)));
	rc = form_query(p, expr, rest, &form, err, errlen);
	if (!rc)
		rc = prom_post(p, "/api/v1/query", form.data, &root, &data, err, errlen);
	buf_release(&form);
	if (rc)
		return rc;
	type = json_string_value(json_object_get(data, "resultType"));
	result = json_object_get(data, "result");
	if (type && strcmp(type, "scalar") == 0) {
		if (!sample_pair(result, &t, &v))
			goto bad;
		*scalar = true;
		rc = each(ctx, NULL, v);
	} else if (type && strcmp(type, "vector") == 0 && json_is_array(result)) {
		json_t *s;

		json_array_foreach(result, i, s) {
			if (!json_is_object(json_object_get(s, "metric")) ||
			    !sample_pair(json_object_get(s, "value"), &t, &v))
				goto bad;
			rc = each(ctx, json_object_get(s, "metric"), v);
			if (rc)
				break;
		}
	} else if (type && (strcmp(type, "matrix") == 0 || strcmp(type, "string") == 0)) {
		snprintf(err, errlen, "expected an instant vector or a scalar, got %s", type);
		rc = PROMQL_E_BAD_DATA;
	} else {
		goto bad;
	}
	json_decref(root);
	return rc;
bad:
	snprintf(err, errlen, "/api/v1/query: a result that is not Prometheus's");
	json_decref(root);
	return -EPROTO;
}

struct fold_ctx {
	double *v;
	bool sum;
	size_t n;
};

/* As the local backend: a scalar (no labels) is taken as it is and counts as one series; each
 * series of a vector is folded. */
static int fold_one(void *ctx, const json_t *metric, double v)
{
	struct fold_ctx *f = ctx;

	if (metric)
		judge_fold(f->v, v, f->sum);
	else
		*f->v = v;
	f->n++;
	return 0;
}

static int remote_instant(void *ctx, const char *expr, int64_t t_ms, bool sum, double *v,
			  size_t *nseries, char *err, size_t errlen)
{
	struct fold_ctx f = { v, sum, 0 };
	bool scalar;
	int rc;

	rc = prom_instant(ctx, expr, t_ms, fold_one, &f, &scalar, err, errlen);
	if (!rc)
		*nseries = f.n;
	return rc;
}

/* judge_backend.range: the points at start_ms + k * step_ms folded into v[k], as the local
 * backend folds a range evaluation's matrix. */
static int remote_range(void *ctx, const char *expr, int64_t start_ms, int64_t step_ms, size_t n,
			bool sum, double *v, char *err, size_t errlen)
{
	struct cli_prom *p = ctx;
	char rest[128], a[32], b[32], c[32];
	const char *type;
	json_t *root, *data, *result, *s;
	struct buf form;
	size_t i;
	int rc;

	if (n == 0 || step_ms <= 0)
		return 0;
	buf_init(&form, PROM_MAX_REQUEST);
	snprintf(rest, sizeof(rest), "&start=%s&end=%s&step=%s", secs(start_ms, a, sizeof(a)),
		 secs(start_ms + (int64_t)(n - 1) * step_ms, b, sizeof(b)),
		 secs(step_ms, c, sizeof(c)));
	rc = form_query(p, expr, rest, &form, err, errlen);
	if (!rc)
		rc = prom_post(p, "/api/v1/query_range", form.data, &root, &data, err, errlen);
	buf_release(&form);
	if (rc)
		return rc;
	type = json_string_value(json_object_get(data, "resultType"));
	result = json_object_get(data, "result");
	if (!type || strcmp(type, "matrix") != 0 || !json_is_array(result)) {
		json_decref(root);
		return 0; /* as the local backend: only a matrix has points to fold */
	}
	json_array_foreach(result, i, s) {
		const json_t *values = json_object_get(s, "values");
		const json_t *pair;
		size_t k;

		json_array_foreach(values, k, pair) {
			int64_t t, off;
			double x;

			if (!sample_pair(pair, &t, &x)) {
				snprintf(err, errlen, "/api/v1/query_range: a result that is "
						      "not Prometheus's");
				json_decref(root);
				return -EPROTO;
			}
			off = t - start_ms;
			if (off >= 0 && off % step_ms == 0 && (size_t)(off / step_ms) < n)
				judge_fold(&v[off / step_ms], x, sum);
		}
	}
	json_decref(root);
	return 0;
}

void cli_prom_backend(struct cli_prom *p, struct judge_backend *be)
{
	be->instant = remote_instant;
	be->range = remote_range;
	be->ctx = p;
}

static int ignore(void *ctx, const json_t *metric, double v)
{
	(void)ctx;
	(void)metric;
	(void)v;
	return 0;
}

int cli_prom_probe(struct cli_prom *p, int64_t t_ms, char *err, size_t errlen)
{
	bool scalar;

	return prom_instant(p, "time()", t_ms, ignore, NULL, &scalar, err, errlen);
}

struct find_ctx {
	int64_t before_ms;
	struct cli_prom_deploy *d;
	bool found;
};

static int pick_deploy(void *ctx, const json_t *metric, double v)
{
	struct find_ctx *f = ctx;
	const char *name = json_string_value(json_object_get(metric, "deploy"));
	int64_t at;

	if (!name || !isfinite(v) || fabs(v) > 1e14)
		return 0;
	at = llround(v * 1000);
	if (at > f->before_ms || (f->found && at < f->d->at_ms) || strlen(name) >= sizeof(f->d->name))
		return 0;
	f->found = true;
	f->d->at_ms = at;
	snprintf(f->d->name, sizeof(f->d->name), "%s", name);
	return 0;
}

int cli_prom_find_deploy(struct cli_prom *p, const char *name, int64_t t_ms,
			 struct cli_prom_deploy *out, char *err, size_t errlen)
{
	struct find_ctx f = { name ? INT64_MAX : t_ms, out, false };
	struct buf q;
	bool scalar;
	int rc;

	/* every agent exports each of its markers; the same deploy on several hosts is its latest
	 * time (the window starts when the last host has the new release) */
	buf_init(&q, 1024);
	buf_puts(&q, "max by (deploy) (deploywatch_deploy_timestamp_seconds");
	if (name) {
		buf_puts(&q, "{deploy=");
		if (promql_quote(&q, name, strlen(name))) {
			buf_release(&q);
			snprintf(err, errlen, "the deploy name is too long");
			return -E2BIG;
		}
		buf_puts(&q, "}");
	}
	buf_puts(&q, ")");
	rc = prom_instant(p, q.data, t_ms, pick_deploy, &f, &scalar, err, errlen);
	buf_release(&q);
	if (rc)
		return rc;
	if (!f.found) {
		if (name)
			snprintf(err, errlen, "no deploy marker named '%s' in the Prometheus at "
					      "the judgement time (deploywatch_deploy_timestamp_"
					      "seconds); --deploy-at T gives the deploy's time", name);
		else
			snprintf(err, errlen, "no deploy marker in the Prometheus at the judgement "
					      "time (deploywatch_deploy_timestamp_seconds): mark the "
					      "deploy on the hosts, or give --deploy-at T");
		return -ENOENT;
	}
	return 0;
}
