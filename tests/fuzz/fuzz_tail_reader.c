/*
 * Fuzz target: the tailer's line reader and record decoder. The first byte picks max_line, the
 * second how the rest is split into reads. Checks what the parsers and the exposition rely on:
 * every line given is valid UTF-8 without NUL bytes, at most max_line bytes before repair, end
 * offsets strictly increase and never pass the bytes fed, and any split gives the same lines as
 * one whole feed. The same bytes are also decoded as an offset record (must never crash).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "collector/tail_int.h"
#include "core/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct st {
	size_t max_line;
	uint64_t last_end;
	uint64_t fed;
	struct buf out;
};

static int on_line(void *ctx, const char *line, size_t len, uint64_t end, bool cut)
{
	struct st *s = ctx;

	if (!model_utf8_valid(line, len) || memchr(line, 0, len) || len > 3 * s->max_line ||
	    end <= s->last_end || end > s->fed || (cut && len == 0))
		abort();
	s->last_end = end;
	buf_append(&s->out, line, len);
	buf_printf(&s->out, "|%llu%c\n", (unsigned long long)end, cut ? '!' : '.');
	return 0;
}

static void run(const uint8_t *data, size_t size, size_t max_line, uint8_t split, struct buf *out)
{
	struct tail_reader r;
	struct st s = { .max_line = max_line };
	size_t pos = 0, step = 1;

	buf_init(&s.out, 0);
	tail_reader_init(&r, 0, max_line);
	while (pos < size) {
		size_t n = split ? (step * split) % 13 + 1 : size - pos;

		if (n > size - pos)
			n = size - pos;
		s.fed += n;
		if (tail_reader_feed(&r, (const char *)data + pos, n, on_line, &s))
			abort();
		pos += n;
		step++;
	}
	if (r.offset != size)
		abort();
	tail_reader_finish(&r, on_line, &s);
	tail_reader_release(&r);
	*out = s.out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tail_record rec;
	struct buf whole, split;
	size_t max_line;

	if (size < 2)
		return 0;
	(void)tail_record_decode(data, size, &rec);
	max_line = (size_t)data[0] % 64 + 1;
	run(data + 2, size - 2, max_line, 0, &whole);
	run(data + 2, size - 2, max_line, data[1] | 1, &split);
	if (whole.len != split.len || memcmp(whole.data ? whole.data : "", split.data ? split.data : "",
					     whole.len))
		abort();
	buf_release(&whole);
	buf_release(&split);
	return 0;
}
