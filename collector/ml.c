/*
 * Multiline assembly: lines in, entries out, as a pure function of the lines and 'now'.
 *
 * An entry begins at a line its format calls a start and is complete at the next start, at
 * ml_flush(), or when ml_tick() finds it idle for idle_ms since its *last* line (the timer
 * restarts with every line: Fluent Bit #9109 is the bug of not doing so). Lines that arrive with
 * no entry pending and are not starts (a log of continuation lines only, or the tail of an entry
 * that the idle timeout already emitted) form an entry of their own, which its parser reports as
 * unmatched: nothing is dropped silently.
 */
#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"
#include "core/buf.h"

struct ml {
	const struct logp_format *fmt;
	struct ml_options opt;
	/* The pending entry, max_entry bytes at most, NUL-terminated: its own array rather than a
	 * struct buf, so a line costs one memcpy, not two capped appends (the assembler copies
	 * every byte of the log). */
	char *text;
	size_t len, cap;
	bool pending;
	bool cut;               /* the pending entry lost bytes to max_entry */
	size_t nlines;          /* lines in the pending entry */
	bool first_was_start;   /* its first line was a start line */
	uint64_t start_offset;  /* file offset of the pending entry's first byte */
	uint64_t end_offset;    /* file offset past the last line pushed */
	bool have_offset;       /* end_offset is known (a line was pushed or ml_set_offset ran) */
	int64_t last_ms;        /* when the pending entry's last line was read */
};

struct ml *ml_new(const struct logp_format *fmt, const struct ml_options *opt)
{
	struct ml *m = xcalloc(1, sizeof(*m));

	m->fmt = fmt;
	m->opt = *opt;
	if (m->opt.max_entry == 0)
		m->opt.max_entry = ML_DEFAULT_MAX_ENTRY;
	if (m->opt.idle_ms <= 0)
		m->opt.idle_ms = ML_DEFAULT_IDLE_MS;
	return m;
}

void ml_free(struct ml *m)
{
	if (!m)
		return;
	free(m->text);
	free(m);
}

void ml_set_offset(struct ml *m, uint64_t offset)
{
	assert(!m->pending);
	m->end_offset = offset;
	m->have_offset = true;
}

/* Add sep (0 or 1) newlines and n bytes of 'line'; the caller keeps len within max_entry. */
static void ml_put(struct ml *m, size_t sep, const char *line, size_t n)
{
	size_t want = m->len + sep + n + 1;

	if (want > m->cap) {
		size_t cap = m->cap ? m->cap : 256;

		while (cap < want)
			cap *= 2;
		m->text = xrealloc(m->text, cap);
		m->cap = cap;
	}
	if (sep)
		m->text[m->len++] = '\n';
	memcpy(m->text + m->len, line, n);
	m->len += n;
	m->text[m->len] = '\0';
}

/* Append as much of 'line' as max_entry allows, with a '\n' before every line but the first. */
static void ml_append(struct ml *m, const char *line, size_t len)
{
	size_t room = m->opt.max_entry - m->len;
	size_t sep = m->nlines > 0;

	if (m->cut)
		return;
	if (sep + len > room) {
		m->cut = true;
		if (room > sep)
			ml_put(m, sep, line, room - sep);
		return;
	}
	ml_put(m, sep, line, len);
}

/* Emit the pending entry; on success nothing is pending. */
static int ml_emit(struct ml *m, ml_emit_fn emit, void *ctx)
{
	struct ml_entry e;
	int rc;

	if (!m->pending)
		return 0;
	e.text = m->text ? m->text : "";
	e.len = m->len;
	e.end_offset = m->end_offset;
	e.cut = m->cut;
	rc = emit ? emit(ctx, &e) : 0;
	if (rc)
		return rc;
	m->len = 0;
	if (m->text)
		m->text[0] = '\0';
	m->pending = false;
	m->cut = false;
	m->nlines = 0;
	return 0;
}

int ml_push(struct ml *m, const char *line, size_t len, uint64_t end_offset, int64_t now_ms,
	    ml_emit_fn emit, void *ctx)
{
	enum ml_start kind = m->fmt && m->fmt->line_start ? m->fmt->line_start(line, len) : ML_START;
	/* Where this line begins: exact after a previous line or ml_set_offset; otherwise worked
	 * out from its length (exact unless the tailer cut the line). */
	uint64_t line_start = m->have_offset ? m->end_offset
					     : (end_offset > len ? end_offset - len - 1 : 0);
	int rc;

	if (kind == ML_START_UNLESS_HEAD)
		kind = m->pending && m->nlines == 1 && m->first_was_start ? ML_CONT : ML_START;
	if (kind == ML_START && m->pending) {
		rc = ml_emit(m, emit, ctx);
		if (rc)
			return rc; /* nothing consumed: the caller may push this line again */
	}
	if (!m->pending) {
		m->pending = true;
		m->start_offset = line_start;
		m->first_was_start = kind == ML_START;
	}
	ml_append(m, line, len);
	m->nlines++;
	m->end_offset = end_offset;
	m->have_offset = true;
	m->last_ms = now_ms;
	/* Formats without a start pattern: every line is complete at once. */
	if (!m->fmt || !m->fmt->line_start)
		return ml_emit(m, emit, ctx);
	return 0;
}

int ml_tick(struct ml *m, int64_t now_ms, ml_emit_fn emit, void *ctx)
{
	if (!m->pending || now_ms - m->last_ms < m->opt.idle_ms)
		return 0;
	return ml_emit(m, emit, ctx);
}

int ml_flush(struct ml *m, ml_emit_fn emit, void *ctx)
{
	return ml_emit(m, emit, ctx);
}

int64_t ml_deadline(const struct ml *m)
{
	return m->pending ? m->last_ms + m->opt.idle_ms : INT64_MAX;
}

uint64_t ml_committable_offset(const struct ml *m)
{
	return m->pending ? m->start_offset : m->end_offset;
}
