/*
 * Adding matchers to every vector selector of an expression, as Prometheus's label-enforcing
 * proxies do: the judge's fleet mode uses it to judge some hosts (instance=~"web-.*") with checks
 * written for all of them. The text is edited where the parser saw each selector, so the rest of
 * the expression stays byte for byte as written, and the result is parsed again: what comes out
 * is valid PromQL or an error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "query/promql.h"
#include "query/promql_int.h"

/* Selector positions collected from the tree; far more than any expression has. */
#define REWRITE_MAX_SELECTORS 4096

struct sels {
	size_t pos[REWRITE_MAX_SELECTORS];
	size_t n;
	bool overflow;
};

static void collect(const struct promql_node *n, struct sels *s)
{
	if (!n)
		return;
	switch (n->kind) {
	case NODE_VECTOR_SEL:
		if (s->n == REWRITE_MAX_SELECTORS)
			s->overflow = true;
		else
			s->pos[s->n++] = n->pos;
		return;
	case NODE_NUMBER:
	case NODE_STRING:
		return;
	case NODE_MATRIX_SEL:
	case NODE_SUBQUERY:
	case NODE_PAREN:
	case NODE_UNARY:
		collect(n->expr, s);
		return;
	case NODE_BINARY:
		collect(n->lhs, s);
		collect(n->rhs, s);
		return;
	case NODE_CALL:
		for (size_t i = 0; i < n->nargs; i++)
			collect(n->args[i], s);
		return;
	case NODE_AGGR:
		collect(n->param, s);
		collect(n->expr, s);
		return;
	}
}

static int cmp_pos(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == ':';
}

/* Past blanks and # comments, as the lexer skips them. */
static size_t skip_blank(const char *s, size_t i)
{
	for (;;) {
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			i++;
		else if (s[i] == '#')
			while (s[i] && s[i] != '\n')
				i++;
		else
			return i;
	}
}

int promql_add_matchers(const char *expr, const char *extra, struct buf *out, char *err,
			size_t errlen)
{
	struct promql_expr *e = NULL;
	struct matcher *m = NULL;
	struct sels *s;
	struct buf sel;
	size_t nm = 0, done = 0, base = out->len;
	int rc;

	/* the matchers alone must be a selector's inside: {extra} */
	buf_init(&sel, PROMQL_MAX_QUERY_LEN + 3);
	rc = buf_printf(&sel, "{%s}", extra);
	if (!rc && promql_parse_selector(sel.data, &m, &nm, err, errlen))
		rc = PROMQL_E_BAD_DATA;
	buf_release(&sel);
	promql_matchers_free(m, nm);
	if (rc) {
		if (rc == -E2BIG)
			snprintf(err, errlen, "matchers longer than %d bytes", PROMQL_MAX_QUERY_LEN);
		return PROMQL_E_BAD_DATA;
	}
	rc = promql_parse(expr, &e, err, errlen);
	if (rc)
		return rc;
	s = xcalloc(1, sizeof(*s));
	collect(e->root, s);
	promql_expr_free(e);
	if (s->overflow) {
		snprintf(err, errlen, "more than %d selectors", REWRITE_MAX_SELECTORS);
		free(s);
		return PROMQL_E_BAD_DATA;
	}
	qsort(s->pos, s->n, sizeof(s->pos[0]), cmp_pos);
	for (size_t k = 0; k < s->n && !rc; k++) {
		size_t start = s->pos[k], brace = start;

		rc = buf_append(out, expr + done, start - done);
		if (rc)
			break;
		if (expr[start] != '{') {
			size_t end = start;

			while (name_char(expr[end]))
				end++;
			brace = skip_blank(expr, end);
			if (expr[brace] != '{') {
				/* a bare metric name: name{extra} */
				rc = buf_append(out, expr + start, end - start);
				if (!rc)
					rc = buf_printf(out, "{%s}", extra);
				done = end;
				continue;
			}
			rc = buf_append(out, expr + start, brace - start);
			if (rc)
				break;
		}
		/* {a="b"} becomes {extra,a="b"} (and {} {extra,}: a trailing comma is allowed) */
		rc = buf_printf(out, "{%s,", extra);
		done = brace + 1;
	}
	free(s);
	if (!rc)
		rc = buf_puts(out, expr + done);
	if (rc) {
		snprintf(err, errlen, "the rewritten expression is over %zu bytes", out->max);
		return PROMQL_E_BAD_DATA;
	}
	/* what the edit made must parse: the caller sends it on as it is */
	rc = promql_parse(out->data + base, &e, err, errlen);
	promql_expr_free(e);
	return rc;
}
