/* The table runner: see table.h. */
#include "table.h"

#include <ctype.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Decode the quoted word starting after the opening quote at *p into 'out'. Returns the decoded
 * length, or -1 for a bad escape or a missing closing quote. */
static long decode_quoted(const char **p, char *out)
{
	const char *q = *p;
	size_t n = 0;

	for (;;) {
		char c = *q++;

		if (c == '\0' || c == '\n')
			return -1;
		if (c == '"')
			break;
		if (c == '\\') {
			c = *q++;
			switch (c) {
			case '\\': case '"': break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'x': {
				char hex[3] = { q[0], q[1], '\0' };

				if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
					return -1;
				c = (char)strtol(hex, NULL, 16);
				q += 2;
				break;
			}
			default:
				return -1;
			}
		}
		out[n++] = c;
	}
	out[n] = '\0';
	*p = q;
	return (long)n;
}

static void parse_line(struct table *t, char *text, unsigned lineno)
{
	struct table_row r = { .line = lineno };
	const char *p = text;

	for (;;) {
		const char *start;
		char *w;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0' || (*p == '#' && r.nword == 0))
			break;
		if (r.nword == TABLE_MAX_WORDS)
			fail_msg("%s:%u: more than %d words", t->path, lineno, TABLE_MAX_WORDS);
		w = malloc(strlen(p) + 1);
		if (!w)
			abort();
		if (*p == '"') {
			long n;

			p++;
			n = decode_quoted(&p, w);
			if (n < 0)
				fail_msg("%s:%u: bad quoted word", t->path, lineno);
			r.len[r.nword] = (size_t)n;
		} else {
			start = p;
			while (*p && *p != ' ' && *p != '\t')
				p++;
			memcpy(w, start, (size_t)(p - start));
			w[p - start] = '\0';
			r.len[r.nword] = (size_t)(p - start);
		}
		r.word[r.nword++] = w;
	}
	if (r.nword == 0)
		return;
	t->rows = realloc(t->rows, (t->nrows + 1) * sizeof(*t->rows));
	if (!t->rows)
		abort();
	t->rows[t->nrows++] = r;
}

void table_load(struct table *t, const char *path)
{
	char *line = NULL;
	size_t cap = 0;
	unsigned lineno = 0;
	ssize_t n;
	FILE *f;

	memset(t, 0, sizeof(*t));
	t->path = strdup(path);
	f = fopen(path, "r");
	if (!f)
		fail_msg("cannot open %s: %s", path, strerror(errno));
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		parse_line(t, line, lineno);
	}
	free(line);
	fclose(f);
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows; i++)
		for (size_t j = 0; j < t->rows[i].nword; j++)
			free(t->rows[i].word[j]);
	free(t->rows);
	free(t->path);
}

size_t table_run(const struct table *t, const char *kind, table_case_fn *fn)
{
	size_t ran = 0, failed = 0;

	for (size_t i = 0; i < t->nrows; i++) {
		const struct table_row *r = &t->rows[i];
		char msg[512] = "";

		if (strcmp(r->word[0], kind) != 0)
			continue;
		ran++;
		if (!fn(r, msg, sizeof(msg))) {
			failed++;
			print_error("%s:%u: %s: %s\n", t->path, r->line, kind, msg);
		}
	}
	if (ran == 0)
		fail_msg("%s: no rows of kind %s", t->path, kind);
	if (failed)
		fail_msg("%s: %zu of %zu %s rows failed", t->path, failed, ran, kind);
	return ran;
}

static void need_word(const struct table_row *r, size_t i)
{
	if (i >= r->nword)
		fail_msg("line %u: %s: word %zu is missing", r->line, r->word[0], i);
}

unsigned long long table_u64(const struct table_row *r, size_t i)
{
	unsigned long long v;
	char *end;

	need_word(r, i);
	errno = 0;
	v = strtoull(r->word[i], &end, 0);
	if (errno || end == r->word[i] || *end || r->word[i][0] == '-')
		fail_msg("line %u: word %zu (%s) is not an unsigned number", r->line, i, r->word[i]);
	return v;
}

long long table_i64(const struct table_row *r, size_t i)
{
	long long v;
	char *end;

	need_word(r, i);
	errno = 0;
	v = strtoll(r->word[i], &end, 0);
	if (errno || end == r->word[i] || *end)
		fail_msg("line %u: word %zu (%s) is not a number", r->line, i, r->word[i]);
	return v;
}

bool table_is(const struct table_row *r, size_t i, const char *s)
{
	need_word(r, i);
	return strcmp(r->word[i], s) == 0;
}
