/*
 * GET /api/v1/errors (query/api.h): the error catalog in the Prometheus API's envelope, beside
 * the other /api/v1 handlers. The records come from store_catalog_list(), the catalog's one
 * reader, which `deploywatch errors` uses for its table too.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/timeparse.h"
#include "query/api.h"

#define ERRORS_DEFAULT_WINDOW_MS (3600 * 1000LL)
#define ERRORS_DEFAULT_LIMIT 1000
#define ERRORS_MAX_LIMIT 100000

/* RFC 3339 with milliseconds, UTC. */
static void json_time(struct buf *b, int64_t ms)
{
	int64_t s = ms >= 0 ? ms / 1000 : (ms - 999) / 1000;
	int64_t days = s >= 0 ? s / 86400 : (s - 86399) / 86400, sod = s - days * 86400;
	/* civil_from_days (Howard Hinnant) */
	int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t y = yoe + era * 400, doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;

	y += m <= 2;
	buf_printf(b, "\"%04lld-%02lld-%02lldT%02lld:%02lld:%02lld.%03lldZ\"", (long long)y,
		   (long long)m, (long long)d, (long long)(sod / 3600), (long long)(sod / 60 % 60),
		   (long long)(sod % 60), (long long)(ms - s * 1000));
}

struct rows {
	struct buf *json;
	size_t n;
};

static int errors_row(void *ctx, const struct store_catalog_entry *e)
{
	struct rows *r = ctx;
	struct buf *b = r->json;

	buf_puts(b, r->n++ ? ",{" : "{");
	buf_puts(b, "\"fingerprint\":");
	buf_put_json_string(b, e->fingerprint);
	buf_puts(b, ",\"class\":");
	buf_put_json_string(b, e->class_name);
	buf_puts(b, ",\"message\":");
	buf_put_json_string(b, e->message);
	buf_puts(b, ",\"location\":");
	buf_put_json_string(b, e->location);
	buf_puts(b, ",\"first_seen\":");
	json_time(b, e->first_seen_ms);
	buf_puts(b, ",\"last_seen\":");
	json_time(b, e->last_seen_ms);
	buf_printf(b, ",\"count\":%llu}", (unsigned long long)e->count);
	return 0;
}

static int errors_fail(struct buf *json, int status, const char *type, const char *msg)
{
	buf_reset(json);
	buf_printf(json, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
	buf_put_json_string(json, msg);
	buf_putc(json, '}');
	return status;
}

int promql_api_errors(struct store *st, const char *const *names, const char *const *values,
		      size_t n, int64_t now_ms, struct buf *json)
{
	struct store_catalog_filter f = {
		.since_ms = now_ms - ERRORS_DEFAULT_WINDOW_MS,
		.until_ms = now_ms,
		.limit = ERRORS_DEFAULT_LIMIT,
	};
	struct rows rows = { json, 0 };
	char msg[256];
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *k = names[i], *v = values[i];

		if (strcmp(k, "start") == 0 || strcmp(k, "end") == 0) {
			if (time_parse(v, strcmp(k, "start") == 0 ? &f.since_ms : &f.until_ms)) {
				snprintf(msg, sizeof(msg), "invalid parameter \"%s\": cannot parse "
					 "\"%.64s\" to a valid timestamp", k, v);
				return errors_fail(json, 400, "bad_data", msg);
			}
		} else if (strcmp(k, "new") == 0) {
			if (strcmp(v, "true") && strcmp(v, "false") && strcmp(v, "1") &&
			    strcmp(v, "0")) {
				snprintf(msg, sizeof(msg), "invalid parameter \"new\": expected true "
					 "or false, got \"%.64s\"", v);
				return errors_fail(json, 400, "bad_data", msg);
			}
			f.new_only = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
		} else if (strcmp(k, "limit") == 0) {
			char *end;
			unsigned long l = strtoul(v, &end, 10);

			if (!*v || *end || l == 0 || l > ERRORS_MAX_LIMIT) {
				snprintf(msg, sizeof(msg), "invalid parameter \"limit\": expected "
					 "1 to 100000, got \"%.64s\"", v);
				return errors_fail(json, 400, "bad_data", msg);
			}
			f.limit = l;
		}
		/* other parameters are ignored, as Prometheus's API does */
	}
	if (f.until_ms < f.since_ms)
		return errors_fail(json, 400, "bad_data",
				   "invalid parameter \"end\": end timestamp must not be before start "
				   "time");
	buf_reset(json);
	buf_puts(json, "{\"status\":\"success\",\"data\":[");
	rc = store_catalog_list(st, &f, errors_row, &rows);
	if (rc < 0)
		return errors_fail(json, 500, "internal", err_str(rc));
	buf_puts(json, "]}");
	return 200;
}
