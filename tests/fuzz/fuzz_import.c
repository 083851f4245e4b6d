/*
 * Fuzz target: the import parser (text format and OpenMetrics). Any input must parse without
 * reading out of bounds; every sample must carry a valid metric name first; line numbers must
 * never go backwards; and feeding the input in two pieces must give exactly the same callbacks
 * as feeding it whole (streaming may not change the result).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/import.h"
#include "store/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
	struct buf out;
	size_t last_line;
};

static void check_line(struct trace *t, size_t line)
{
	if (line < t->last_line || line == 0)
		abort();
	t->last_line = line;
}

static int on_sample(void *ctx, size_t line, const struct store_import_sample *s)
{
	struct trace *t = ctx;
	const char *name;

	check_line(t, line);
	if (s->nlabels < 1 || s->nlabels > STORE_IMPORT_MAX_LABELS + 1 ||
	    strcmp(s->labels[0].name, "__name__"))
		abort();
	name = s->labels[0].value;
	if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_:") !=
			      strlen(name) || (*name >= '0' && *name <= '9'))
		abort();
	buf_printf(&t->out, "%zu %d %lld", line, (int)s->type, (long long)s->t_ms);
	for (size_t i = 0; i < s->nlabels; i++)
		buf_printf(&t->out, " %s=%s", s->labels[i].name, s->labels[i].value);
	buf_append(&t->out, &s->v, sizeof(s->v));
	buf_putc(&t->out, '\n');
	return 0;
}

static void on_malformed(void *ctx, size_t line, const char *msg)
{
	struct trace *t = ctx;

	check_line(t, line);
	if (!*msg)
		abort();
	buf_printf(&t->out, "%zu E %s\n", line, msg);
}

static void run(enum store_import_format fmt, const uint8_t *data, size_t size, size_t cut,
		struct trace *t)
{
	struct store_import_parser *p = store_import_parser_new(fmt, on_sample, on_malformed, t);

	buf_init(&t->out, 0);
	t->last_line = 0;
	if (store_import_parser_feed(p, data, cut) || store_import_parser_feed(p, data + cut, size - cut) ||
	    store_import_parser_finish(p))
		abort();
	store_import_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum store_import_format fmts[] = {
		STORE_IMPORT_AUTO, STORE_IMPORT_TEXT, STORE_IMPORT_OPENMETRICS,
	};

	for (size_t i = 0; i < 3; i++) {
		struct trace whole, split;

		run(fmts[i], data, size, size, &whole);
		run(fmts[i], data, size, size / 2, &split);
		if (whole.out.len != split.out.len ||
		    (whole.out.len && memcmp(whole.out.data, split.out.data, whole.out.len)))
			abort();
		buf_release(&whole.out);
		buf_release(&split.out);
	}
	return 0;
}
