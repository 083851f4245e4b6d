/*
 * Go's strconv.Quote for label values: how PromQL messages, `dump` and the API print strings.
 * The series-selector parser itself is the expression parser's selector rule (parse.c).
 */
#include <stdbool.h>
#include <stddef.h>

#include "core/buf.h"
#include "core/model.h"
#include "query/promql_int.h"

int promql_quote(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, size;
	int err = buf_putc(out, '"');

	while (!err && i < len) {
		long cp = model_utf8_decode(p + i, len - i, &size);

		switch (cp) {
		case '"':
			err = buf_puts(out, "\\\"");
			break;
		case '\\':
			err = buf_puts(out, "\\\\");
			break;
		case '\a':
			err = buf_puts(out, "\\a");
			break;
		case '\b':
			err = buf_puts(out, "\\b");
			break;
		case '\f':
			err = buf_puts(out, "\\f");
			break;
		case '\n':
			err = buf_puts(out, "\\n");
			break;
		case '\r':
			err = buf_puts(out, "\\r");
			break;
		case '\t':
			err = buf_puts(out, "\\t");
			break;
		case '\v':
			err = buf_puts(out, "\\v");
			break;
		default:
			if (cp < 0 || cp < 0x20 || cp == 0x7f)
				err = buf_printf(out, "\\x%02x", p[i]);
			else if (!promql_rune_printable(cp))
				err = buf_printf(out, "\\u%04lx", (unsigned long)cp);
			else
				err = buf_append(out, p + i, size);
		}
		i += size;
	}
	return err ? err : buf_putc(out, '"');
}
