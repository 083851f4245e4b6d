/*
 * deploywatch replay: one file's bytes through the same reader, assembler and parser as the
 * agent, stored at the entries' log time.
 *
 * Counted once: the first TAIL_SIG_MAX bytes identify the content. If the agent followed a file
 * that began with the same bytes (its path record) or a replay or rotation recorded it (its
 * "counted/" record), the bytes up to that record's offset were counted already and are skipped;
 * the rest is replayed and the record moves on, committed with the samples.
 */
#include "collector/tail_int.h"

#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logparse_int.h"
#include "core/config.h"
#include "core/log.h"
#include "core/registry.h"

/* Grid points held before the complete ones are handed out: bounds memory on a long file. */
#define REPLAY_EMIT_POINTS 4096

struct tail_replay {
	const struct config_source *src;
	struct logp *logp;
	struct ml *ml;
	struct ml_options mlopt;
	struct tail_reader rd;
	struct tail_time *tt;
	int64_t res;
	int64_t now;
	tail_get_fn get;
	void *get_ctx;
	char head[TAIL_SIG_MAX];
	size_t head_len;
	bool decided;
	struct tail_id id;      /* of the content: sig of the head */
	bool have_key;
	char key[TAIL_KEY_MAX]; /* the content record it was found under (tail_content_find) */
	char lkey[TAIL_KEY_MAX]; /* the content record without an origin */
	uint64_t skip;          /* bytes counted before */
	uint64_t fed;           /* bytes fed so far */
	int64_t max_t;          /* the latest event time */
	tail_exception_fn exception;
	void *exception_ctx;
	bool (*held)(void *ctx, const struct label *labels, size_t n, int64_t t_ms);
	void *held_ctx;
	tail_sample_fn fn;      /* during feed/finish */
	void *ctx;
	int fn_err;
	struct tail_replay_stats st;
};

static void r_event(struct tail_replay *r, struct series *s, double x, int64_t t_ms)
{
	r->st.events++;
	if (tail_time_note(r->tt, s, t_ms, x))
		r->st.late++;
	if (t_ms < r->st.first_ms)
		r->st.first_ms = t_ms;
	if (t_ms > r->st.last_ms)
		r->st.last_ms = t_ms;
	if (t_ms > r->max_t)
		r->max_t = t_ms;
}

static void r_counted(void *ctx, struct series *s, double delta, int64_t t_ms)
{
	r_event(ctx, s, delta, t_ms);
}

static void r_observed(void *ctx, struct series *s, double value, int64_t t_ms)
{
	r_event(ctx, s, value, t_ms);
}

static void r_unmatched(void *ctx, const char *text, size_t len)
{
	struct tail_replay *r = ctx;

	(void)text, (void)len;
	r->st.unmatched++;
}

static void r_exception(void *ctx, const struct logged_exception *x)
{
	struct tail_replay *r = ctx;

	if (r->exception)
		r->exception(r->exception_ctx, x);
}

/* The labels of a series' first sample name (a histogram's first bucket: its sample series are
 * written together, so one answers for all), for the caller's lookup. */
struct held_ctx {
	struct tail_replay *r;
	int64_t t;
	bool held;
};

static int held_sample(void *ctx, const struct metric_info *info, const struct sample_view *sv)
{
	struct held_ctx *h = ctx;
	struct label labels[REGISTRY_MAX_LABELS + 2];
	size_t n = tail_sample_labels(sv, labels);

	(void)info;
	h->held = h->r->held(h->r->held_ctx, labels, n, h->t);
	return 1; /* the first sample name answers */
}

static bool r_held(void *ctx, struct series *s, int64_t t_ms)
{
	static const struct registry_visitor v = { .sample = held_sample };
	struct held_ctx h = { .r = ctx, .t = t_ms };

	series_visit(s, &v, &h);
	return h.held;
}

void tail_replay_set_held(struct tail_replay *r,
			  bool (*held)(void *ctx, const struct label *labels, size_t n,
				       int64_t t_ms), void *ctx)
{
	r->held = held;
	r->held_ctx = ctx;
	tail_time_set_held(r->tt, held ? r_held : NULL, r);
}

void tail_replay_set_exception(struct tail_replay *r, tail_exception_fn fn, void *ctx)
{
	r->exception = fn;
	r->exception_ctx = ctx;
}

static int r_entry(void *ctx, const struct ml_entry *e)
{
	struct tail_replay *r = ctx;
	const struct logp_sink sink = { .counted = r_counted, .observed = r_observed,
					.exception = r_exception,
					.unmatched = r_unmatched, .ctx = r };

	r->st.entries++;
	/* An entry without a readable timestamp belongs with the one before it. */
	return logp_entry(r->logp, e->text, e->len, r->max_t > INT64_MIN ? r->max_t : r->now, &sink);
}

static int r_line(void *ctx, const char *line, size_t len, uint64_t end, bool cut)
{
	struct tail_replay *r = ctx;

	(void)cut;
	return ml_push(r->ml, line, len, end, r->now, r_entry, r);
}

int tail_replay_new(const struct config *cfg, const char *source, struct registry *reg,
		    int64_t res_ms, int64_t now_ms, tail_get_fn get, void *get_ctx,
		    struct tail_replay **out, char *err, size_t errlen)
{
	const struct config_source *src = NULL;
	struct tail_replay *r;
	int rc;

	for (size_t i = 0; i < cfg->nsources; i++)
		if (!strcmp(cfg->sources[i].name, source))
			src = &cfg->sources[i];
	if (!src) {
		snprintf(err, errlen, "no source named %s in %s", source, cfg->file);
		return -ENOENT;
	}
	r = xcalloc(1, sizeof(*r));
	r->src = src;
	r->get = get;
	r->get_ctx = get_ctx;
	r->res = res_ms;
	r->now = now_ms;
	r->max_t = INT64_MIN;
	r->st.first_ms = INT64_MAX;
	r->st.last_ms = INT64_MIN;
	rc = logp_new(cfg, src, reg, &r->logp, err, errlen);
	if (rc) {
		free(r);
		return rc;
	}
	r->mlopt.max_entry = cfg->tail.max_entry_size ? (size_t)cfg->tail.max_entry_size
						      : TAIL_DEFAULT_MAX_LINE;
	r->mlopt.idle_ms = cfg->tail.idle_timeout > 0 ? cfg->tail.idle_timeout : 1000;
	r->ml = ml_new(logp_get_format(r->logp), &r->mlopt);
	tail_reader_init(&r->rd, 0, cfg->tail.max_line_size ? (size_t)cfg->tail.max_line_size : 0);
	r->tt = tail_time_new(res_ms);
	*out = r;
	return 0;
}

void tail_replay_free(struct tail_replay *r)
{
	if (!r)
		return;
	tail_time_free(r->tt);
	tail_reader_release(&r->rd);
	ml_free(r->ml);
	logp_free(r->logp);
	free(r);
}

/* Most origins looked up for a replayed file: the source's followed paths. */
#define REPLAY_MAX_ORIGINS 512

/*
 * The head is complete: find how much of this content was counted already (by the agent, which
 * keeps a content record for every file it follows, under the path it followed it at, or by an
 * earlier replay). The replayed file's own name says nothing (a copy, a .gz anywhere): the
 * origins looked up are the paths the source's glob matches now, then the content alone.
 */
static void decide(struct tail_replay *r)
{
	struct tail_record rec;
	glob_t g = { 0 };
	size_t n = 0;

	r->decided = true;
	r->id.sig_len = (uint32_t)r->head_len;
	r->id.sig = model_fnv1a(MODEL_FNV1A_INIT, r->head, r->head_len);
	r->have_key = tail_content_key(r->src->name, r->head, r->head_len, NULL, r->lkey);
	memcpy(r->key, r->lkey, sizeof(r->key));
	if (!r->get || !r->have_key)
		return;
	if (glob(r->src->path, GLOB_NOSORT, NULL, &g) == 0)
		n = g.gl_pathc < REPLAY_MAX_ORIGINS ? g.gl_pathc : REPLAY_MAX_ORIGINS;
	if (tail_content_find(r->src->name, r->head, r->head_len, NULL,
			      (const char *const *)g.gl_pathv, n, r->get, r->get_ctx, &rec,
			      r->key) >= 0)
		r->skip = rec.offset;
	if (n || g.gl_pathv)
		globfree(&g);
	if (r->skip) {
		tail_reader_reset(&r->rd, r->skip);
		ml_set_offset(r->ml, r->skip);
	}
}

/* Bytes at file offset r->fed, past the head decision. */
static int process(struct tail_replay *r, const char *data, size_t len)
{
	uint64_t at = r->fed;
	int rc = 0;

	r->fed += len;
	r->st.bytes += len;
	if (r->fed <= r->skip) {
		r->st.skipped += len;
		return 0;
	}
	if (at < r->skip) {
		r->st.skipped += r->skip - at;
		data += r->skip - at;
		len -= (size_t)(r->skip - at);
	}
	rc = tail_reader_feed(&r->rd, data, len, r_line, r);
	if (!rc && tail_time_pending(r->tt) > REPLAY_EMIT_POINTS && r->max_t > INT64_MIN)
		rc = tail_time_emit_before(r->tt, r->max_t - r->max_t % r->res, r->fn, r->ctx);
	return rc;
}

int tail_replay_feed(struct tail_replay *r, const char *data, size_t len, tail_sample_fn fn,
		     void *ctx)
{
	r->fn = fn;
	r->ctx = ctx;
	if (!r->decided) {
		size_t take = len < TAIL_SIG_MAX - r->head_len ? len : TAIL_SIG_MAX - r->head_len;

		memcpy(r->head + r->head_len, data, take);
		r->head_len += take;
		data += take;
		len -= take;
		if (r->head_len < TAIL_SIG_MAX)
			return 0;
		decide(r);
		if (process(r, r->head, r->head_len))
			return -ECANCELED;
	}
	return len ? process(r, data, len) : 0;
}

int tail_replay_finish(struct tail_replay *r, tail_sample_fn fn, void *ctx)
{
	int rc;

	r->fn = fn;
	r->ctx = ctx;
	if (!r->decided) {
		decide(r);
		rc = process(r, r->head, r->head_len);
		if (rc)
			return rc;
	}
	if (r->fed > r->skip) {
		rc = tail_reader_finish(&r->rd, r_line, r);
		if (rc)
			return rc;
		rc = ml_flush(r->ml, r_entry, r);
		if (rc)
			return rc;
	}
	r->st.lines = r->rd.lines;
	r->st.long_lines = r->rd.long_lines;
	return tail_time_emit_before(r->tt, INT64_MAX, fn, ctx);
}

int tail_replay_flush(struct tail_replay *r, tail_sample_fn fn, void *ctx)
{
	return tail_time_emit_all(r->tt, fn, ctx);
}

int tail_replay_first_samples(struct tail_replay *r, tail_sample_fn fn, void *ctx)
{
	return tail_time_visit_first(r->tt, fn, ctx);
}

int tail_replay_records(struct tail_replay *r, tail_put_fn put, void *ctx)
{
	struct tail_record rec = { .id = r->id, .tick_ms = r->now };
	uint8_t val[TAIL_RECORD_SIZE];
	int rc;

	if (!r->decided || !r->have_key)
		return 0;

	rec.offset = ml_committable_offset(r->ml);
	if (rec.offset < r->skip)
		rec.offset = r->skip;
	tail_record_encode(&rec, val);
	rc = put(ctx, r->key, val, TAIL_RECORD_SIZE);
	if (!rc && strcmp(r->key, r->lkey))
		rc = put(ctx, r->lkey, val, TAIL_RECORD_SIZE);
	return rc;
}

void tail_replay_get_stats(const struct tail_replay *r, struct tail_replay_stats *out)
{
	*out = r->st;
	out->lines = r->rd.lines;
	out->long_lines = r->rd.long_lines;
}
