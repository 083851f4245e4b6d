/*
 * The judgement for people (a table read in five seconds: the verdict line first) and for
 * programs (JSON with every number, GET /api/v1/judge's body).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "query/api.h"
#include "query/judge.h"

/* Numbers for the table: NaN as "-", otherwise %g with 4 significant digits. */
static const char *num(char *out, size_t len, double v)
{
	if (isnan(v))
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.4g", v);
	return out;
}

/* Eight block heights; a gap where there is no point. The baseline | window boundary is a bar. */
static void spark(const double *v, struct buf *out)
{
	static const char *const blocks[] = { "\u2581", "\u2582", "\u2583", "\u2584",
					      "\u2585", "\u2586", "\u2587", "\u2588" };
	double lo = INFINITY, hi = -INFINITY;

	for (size_t i = 0; i < JUDGE_SPARK_POINTS; i++) {
		if (isnan(v[i]))
			continue;
		lo = fmin(lo, v[i]);
		hi = fmax(hi, v[i]);
	}
	for (size_t i = 0; i < JUDGE_SPARK_POINTS; i++) {
		if (i == JUDGE_SPARK_POINTS / 2)
			buf_putc(out, '|');
		if (isnan(v[i]))
			buf_putc(out, ' ');
		else if (hi <= lo)
			buf_puts(out, blocks[0]);
		else
			buf_puts(out, blocks[(int)((v[i] - lo) / (hi - lo) * 7.0 + 0.5)]);
	}
}

static void value_cell(char *out, size_t len, double v, double exposure, bool count,
		       bool requests)
{
	char a[16], b[16];

	if (count && !isnan(exposure))
		snprintf(out, len, "%s/%s%s", num(a, sizeof(a), v), num(b, sizeof(b), exposure),
			 requests ? "req" : "s");
	else
		num(out, len, v);
}

void judge_render_table(const struct judge_report *r, bool with_spark, struct buf *out)
{
	char a[48], b[48], t[32], p[32];

	buf_printf(out, "%s  deploy %s: %s\n", judge_result_name(r->verdict),
		   r->deploy ? r->deploy : "(none)", r->summary);
	buf_printf(out, "baseline %llds before the marker, window %llds after it (warm-up %llds)%s; "
			"traffic %s -> %s\n\n",
		   (long long)(r->opt.baseline_ms / 1000), (long long)(r->opt.window_ms / 1000),
		   (long long)(r->opt.warmup_ms / 1000),
		   r->window_complete ? "" : ", window still open", num(a, sizeof(a), r->base_traffic),
		   num(b, sizeof(b), r->win_traffic));
	buf_printf(out, "%-12s %-18s %-16s %-16s %-9s %-8s", "RESULT", "CHECK", "BASELINE", "WINDOW",
		   "LIMIT", "P");
	if (with_spark)
		buf_printf(out, " %-*s", JUDGE_SPARK_POINTS + 1, "BASELINE|WINDOW");
	buf_puts(out, " WHY\n");
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct judge_check_result *cr = &r->checks[i];
		bool count = cr->check->kind == JUDGE_KIND_COUNT;
		bool req = cr->check->exposure != NULL;

		value_cell(a, sizeof(a), cr->base_value, cr->base_exposure, count, req);
		value_cell(b, sizeof(b), cr->win_value, cr->win_exposure, count, req);
		if (count && !isnan(cr->threshold))
			snprintf(t, sizeof(t), "x%.3g", cr->threshold);
		else
			num(t, sizeof(t), cr->threshold);
		buf_printf(out, "%-12s %-18s %-16s %-16s %-9s %-8s", judge_result_name(cr->result),
			   cr->check->name, a, b, t, num(p, sizeof(p), cr->p_value));
		if (with_spark) {
			buf_putc(out, ' ');
			spark(cr->spark, out);
		}
		buf_printf(out, " %s\n", cr->reason);
		buf_printf(out, "%12s   %s\n", "", cr->check->expr);
	}
	if (r->new_exc_checked) {
		buf_printf(out, "\nnew exceptions since the marker (at least %llu occurrences): %zu%s\n",
			   (unsigned long long)r->opt.new_exception_min_count, r->nnew_exc,
			   r->nnew_exc && r->opt.new_exceptions_warn ? " (warning only)" : "");
		for (size_t i = 0; i < r->nnew_exc; i++) {
			const struct judge_new_exception *e = &r->new_exc[i];
			const char *s = e->sample ? e->sample : "";
			const char *nl = strchr(s, '\n');
			int len = (int)(nl ? nl - s : (ptrdiff_t)strlen(s));

			buf_printf(out, "  %s at %s  x%llu  %s\n", e->class_name,
				   e->location[0] ? e->location : "(no in-app frame)",
				   (unsigned long long)e->count, e->fingerprint);
			buf_printf(out, "    %.*s\n", len > 200 ? 200 : len, s);
		}
	}
}

static void json_num(struct buf *out, double v)
{
	char s[FMT_DOUBLE_MAX];

	if (isnan(v) || isinf(v))
		buf_puts(out, "null");
	else
		buf_puts(out, fmt_double(s, v));
}

static void json_str(struct buf *out, const char *s)
{
	if (s)
		promql_api_put_string(out, s);
	else
		buf_puts(out, "null");
}

void judge_render_json(const struct judge_report *r, struct buf *out)
{
	buf_puts(out, "{\"verdict\":");
	json_str(out, judge_result_name(r->verdict));
	buf_printf(out, ",\"exit_code\":%d,\"deploy\":", r->verdict == JUDGE_PASS ? 0
							 : r->verdict == JUDGE_FAIL ? 1 : 2);
	json_str(out, r->deploy);
	buf_puts(out, ",\"summary\":");
	json_str(out, r->summary);
	buf_puts(out, ",\"marker\":");
	promql_api_put_time(out, r->opt.marker_ms);
	buf_puts(out, ",\"evaluated_at\":");
	promql_api_put_time(out, r->opt.now_ms);
	buf_printf(out, ",\"baseline_seconds\":%lld,\"window_seconds\":%lld,\"warmup_seconds\":%lld,"
			"\"window_complete\":%s,\"alpha\":",
		   (long long)(r->opt.baseline_ms / 1000), (long long)(r->opt.window_ms / 1000),
		   (long long)(r->opt.warmup_ms / 1000), r->window_complete ? "true" : "false");
	json_num(out, r->opt.alpha);
	buf_puts(out, ",\"traffic\":{\"baseline\":");
	json_num(out, r->base_traffic);
	buf_puts(out, ",\"window\":");
	json_num(out, r->win_traffic);
	buf_puts(out, ",\"minimum\":");
	json_num(out, r->opt.min_traffic);
	buf_puts(out, "},\"checks\":[");
	for (size_t i = 0; i < r->nchecks; i++) {
		const struct judge_check_result *cr = &r->checks[i];
		static const char *const kinds[] = { "alert", "count", "value" };

		buf_puts(out, i ? ",{\"name\":" : "{\"name\":");
		json_str(out, cr->check->name);
		buf_puts(out, ",\"result\":");
		json_str(out, judge_result_name(cr->result));
		buf_puts(out, ",\"kind\":");
		json_str(out, kinds[cr->check->kind]);
		buf_puts(out, ",\"severity\":");
		json_str(out, cr->check->severity == JUDGE_SEV_CRITICAL ? "critical" : "warning");
		buf_puts(out, ",\"expr\":");
		json_str(out, cr->check->expr);
		buf_puts(out, ",\"exposure_expr\":");
		json_str(out, cr->check->exposure);
		buf_puts(out, ",\"description\":");
		json_str(out, cr->check->description);
		buf_puts(out, ",\"baseline\":");
		json_num(out, cr->base_value);
		buf_puts(out, ",\"window\":");
		json_num(out, cr->win_value);
		buf_puts(out, ",\"baseline_exposure\":");
		json_num(out, cr->base_exposure);
		buf_puts(out, ",\"window_exposure\":");
		json_num(out, cr->win_exposure);
		buf_puts(out, ",\"threshold\":");
		json_num(out, cr->threshold);
		buf_puts(out, ",\"p_value\":");
		json_num(out, cr->p_value);
		buf_puts(out, ",\"reason\":");
		json_str(out, cr->reason);
		buf_puts(out, ",\"series\":[");
		for (size_t k = 0; k < JUDGE_SPARK_POINTS; k++) {
			if (k)
				buf_putc(out, ',');
			json_num(out, cr->spark[k]);
		}
		buf_puts(out, "]}");
	}
	buf_printf(out, "],\"new_exceptions_checked\":%s,\"new_exceptions\":[",
		   r->new_exc_checked ? "true" : "false");
	for (size_t i = 0; i < r->nnew_exc; i++) {
		const struct judge_new_exception *e = &r->new_exc[i];

		buf_puts(out, i ? ",{\"fingerprint\":" : "{\"fingerprint\":");
		json_str(out, e->fingerprint);
		buf_puts(out, ",\"class\":");
		json_str(out, e->class_name);
		buf_puts(out, ",\"location\":");
		json_str(out, e->location);
		buf_puts(out, ",\"message\":");
		json_str(out, e->message);
		buf_printf(out, ",\"count\":%llu,\"first_seen\":", (unsigned long long)e->count);
		promql_api_put_time(out, e->first_seen_ms);
		buf_puts(out, ",\"sample\":");
		json_str(out, e->sample);
		buf_putc(out, '}');
	}
	buf_puts(out, "],\"elapsed_ms\":");
	json_num(out, r->elapsed_ms);
	buf_puts(out, ",\"cpu_ms\":");
	json_num(out, r->cpu_ms);
	buf_puts(out, "}\n");
}
