/*
 * GET and POST /api/v1/deploys (query/api.h): the deploy markers in the Prometheus API's
 * envelope, beside the other /api/v1 handlers. The store keeps the markers (store/deploys.c:
 * store_deploy_list, store_deploy_put); this file only speaks HTTP's parameters and JSON.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/model.h"
#include "core/timeparse.h"
#include "query/api.h"
#include "store/store.h"

static const char *param(const char *const *names, const char *const *values, size_t n,
			  const char *name)
{
	for (size_t i = n; i-- > 0;)
		if (strcmp(names[i], name) == 0)
			return values[i];
	return NULL;
}

static void put_time(struct buf *b, int64_t ms)
{
	if (ms % 1000 == 0)
		buf_printf(b, "%lld", (long long)(ms / 1000));
	else
		buf_printf(b, "%lld.%03lld", (long long)(ms / 1000), (long long)llabs(ms % 1000));
}

static void put_deploy(struct buf *b, const struct store_deploy *d)
{
	buf_puts(b, "{\"name\":");
	buf_put_json_string(b, d->name);
	buf_puts(b, ",\"at\":");
	put_time(b, d->at_ms);
	buf_puts(b, ",\"created\":");
	put_time(b, d->created_ms);
	buf_puts(b, ",\"note\":");
	buf_put_json_string(b, d->note);
	buf_putc(b, '}');
}

static int api_error(struct buf *json, int status, const char *type, const char *msg)
{
	buf_printf(json, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
	buf_put_json_string(json, msg);
	buf_puts(json, "}");
	return status;
}

int promql_api_deploys(struct store *st, const char *method, const char *const *names,
		       const char *const *values, size_t n, int64_t now_ms, struct buf *json)
{
	if (strcmp(method, "GET") == 0) {
		struct store_deploy *v;
		size_t nv;
		int err = store_deploy_list(st, &v, &nv);

		if (err)
			return api_error(json, 500, "internal", err_str(err));
		buf_puts(json, "{\"status\":\"success\",\"data\":[");
		for (size_t i = 0; i < nv; i++) {
			if (i)
				buf_putc(json, ',');
			put_deploy(json, &v[i]);
		}
		buf_puts(json, "]}");
		free(v);
		return 200;
	}
	if (strcmp(method, "POST") == 0) {
		const char *name = param(names, values, n, "name");
		const char *at = param(names, values, n, "at");
		const char *note = param(names, values, n, "note");
		struct store_deploy d;
		int64_t at_ms = now_ms;
		int err;

		if (!name)
			return api_error(json, 400, "bad_data",
					 "name: missing; the marker is sent as form fields "
					 "(name=v2&at=T&note=TEXT), not JSON");
		if (!store_deploy_name_valid(name))
			return api_error(json, 400, "bad_data",
					 "name: expected 1 to 128 bytes of UTF-8 without control "
					 "characters");
		if (at && time_parse(at, &at_ms))
			return api_error(json, 400, "bad_data",
					 "at: expected an RFC 3339 time or Unix seconds");
		if (note && (strlen(note) > STORE_DEPLOY_MAX_NOTE ||
			     !model_utf8_valid(note, strlen(note))))
			return api_error(json, 400, "bad_data",
					 "note: expected at most 1024 bytes of UTF-8");
		err = store_deploy_put(st, name, at_ms, now_ms, note);
		if (err)
			return api_error(json, err == -EROFS ? 503 : 500, "internal",
					 err_str(err));
		memset(&d, 0, sizeof(d));
		snprintf(d.name, sizeof(d.name), "%s", name);
		snprintf(d.note, sizeof(d.note), "%s", note ? note : "");
		d.at_ms = at_ms;
		d.created_ms = now_ms;
		buf_puts(json, "{\"status\":\"success\",\"data\":");
		put_deploy(json, &d);
		buf_puts(json, "}");
		return 200;
	}
	return api_error(json, 405, "bad_data", "method not allowed: GET or POST");
}
