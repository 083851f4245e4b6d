/*
 * The request side of a handler's view: form decoding (the query string and form POST bodies,
 * as Go's Request.Form, which the Prometheus API uses) and the request accessors.
 */
#include "exporters/exporters.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <microhttpd.h>

#include "exporters/http_int.h"

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

int http_form_parse_args(struct http_request *req)
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

