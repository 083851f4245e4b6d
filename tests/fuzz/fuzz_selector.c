/*
 * Fuzz target: the PromQL series-selector parser. Any input must parse or fail with a positioned
 * message; whatever parses must have at least one matcher that does not match the empty string's
 * trivial forms, and must read back identically after printing it with promql_quote (a round
 * trip through the Go string syntax).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "query/promql.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const ops[] = { "=", "!=", "=~", "!~" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct matcher *m, *m2;
	size_t n, n2;
	char err[512], *s;
	struct buf b;
	int rc;

	if (memchr(data, '\0', size))
		return 0;
	s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	rc = promql_parse_selector(s, &m, &n, err, sizeof(err));
	free(s);
	if (rc) {
		/* "LINE:COL: parse error: ..." or the length cap. */
		if (rc != -EINVAL || m || n ||
		    (!strstr(err, ": parse error: ") && strncmp(err, "selector too long", 17)))
			abort();
		return 0;
	}
	if (!n || n > PROMQL_MAX_MATCHERS)
		abort();
	buf_init(&b, 0);
	buf_putc(&b, '{');
	for (size_t i = 0; i < n; i++) {
		if (!*m[i].name)
			abort();
		buf_printf(&b, "%s%s%s", i ? "," : "", m[i].name, ops[m[i].op]);
		promql_quote(&b, m[i].value, strlen(m[i].value));
	}
	buf_putc(&b, '}');
	if (promql_parse_selector(b.data, &m2, &n2, err, sizeof(err)) || n2 != n)
		abort();
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].name, m2[i].name) || m[i].op != m2[i].op ||
		    strcmp(m[i].value, m2[i].value))
			abort();
	promql_matchers_free(m, n);
	promql_matchers_free(m2, n2);
	buf_release(&b);
	return 0;
}
