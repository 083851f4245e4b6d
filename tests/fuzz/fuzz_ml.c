/*
 * Fuzz target: multiline assembly alone. The first byte picks the format and the entry cap; each
 * line's first byte is the time step and the action (push, tick, flush). Checks the invariants
 * the tailer relies on: entries never exceed the cap, their end offsets and the committable
 * offset never go backwards, the committable offset never passes the last line pushed, and
 * nothing pushed is lost (every byte offset up to the last push is covered after a flush).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/logp_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
	size_t cap;
	uint64_t last_end;
};

static int on_entry(void *ctx, const struct ml_entry *e)
{
	struct st *s = ctx;

	if (e->len > s->cap || e->end_offset < s->last_end || (e->cut && e->len == 0 && s->cap))
		abort();
	s->last_end = e->end_offset;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const formats[] = { "laravel", "mysql-error", "mysql-slow", "nginx",
					       "regex" };
	struct st s = { 0, 0 };
	struct ml_options opt;
	struct ml *m;
	uint64_t off = 0, committed = 0;
	int64_t now = 0;
	size_t i = 1;

	if (size < 1)
		return 0;
	opt.max_entry = 16 + (size_t)(data[0] >> 3) * 37;
	opt.idle_ms = 50;
	s.cap = opt.max_entry;
	m = ml_new(logp_format_find(formats[data[0] % 5]), &opt);
	while (i < size) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t len = nl ? (size_t)(nl - data - i) : size - i;
		uint8_t ctl = len ? data[i] : 0;
		uint64_t c;

		off += len + 1;
		now += ctl & 0x3f;
		if (ml_push(m, (const char *)data + i, len, off, now, on_entry, &s))
			abort();
		if ((ctl & 0xc0) == 0x40)
			ml_tick(m, now, on_entry, &s);
		else if ((ctl & 0xc0) == 0x80)
			ml_flush(m, on_entry, &s);
		c = ml_committable_offset(m);
		if (c < committed || c > off)
			abort();
		committed = c;
		i += len + 1;
	}
	ml_flush(m, on_entry, &s);
	if (ml_committable_offset(m) != off || (off && s.last_end != off))
		abort();
	ml_free(m);
	return 0;
}
