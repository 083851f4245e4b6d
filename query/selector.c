/*
 * Series selectors (Prometheus's parser.ParseMetricSelector): a small lexer with two states,
 * outside and inside braces, feeding a recursive-descent parser. Messages and positions copy
 * Prometheus 2.42's so that an operator sees the same text from deploywatch and from promtool.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "query/promql.h"

enum tok_type {
	T_EOF,
	T_IDENT,
	T_NUMBER,
	T_STRING,
	T_LBRACE,
	T_RBRACE,
	T_COMMA,
	T_EQ,
	T_NEQ,
	T_RE,
	T_NRE,
	T_PUNCT, /* any other single operator character: only ever "unexpected" */
};

struct token {
	enum tok_type type;
	size_t start;   /* byte offset of the token in the input */
	size_t end;     /* one past its last byte */
};

struct sel_parser {
	const char *s;
	size_t len;
	size_t pos;
	bool in_braces;
	struct buf value;      /* the decoded value of the last T_STRING */
	char *err;
	size_t errlen;
	bool failed;
	struct matcher *m;
	size_t n;
	bool have_name;        /* a metric name came first: it takes one of the matcher slots */
};

/* ---- quoting, shared with the dump command through promql.h ---- */

/* Decode one UTF-8 sequence at s (len > 0). Returns the code point, or -1 for an invalid byte
 * (then *size is 1). */
static long utf8_decode(const unsigned char *s, size_t len, size_t *size)
{
	unsigned long cp;
	size_t need;

	*size = 1;
	if (s[0] < 0x80)
		return s[0];
	if ((s[0] & 0xe0) == 0xc0) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		need = 4;
		cp = s[0] & 0x07;
	} else {
		return -1;
	}
	if (len < need)
		return -1;
	for (size_t i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF are invalid, as in Go. */
	if ((need == 2 && cp < 0x80) || (need == 3 && cp < 0x800) || (need == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
		return -1;
	*size = need;
	return (long)cp;
}

/* Go's unicode.IsPrint, approximated: the C0 and C1 controls and the few format and separator
 * characters a label value might plausibly hold are not printable. */
static bool rune_printable(long cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return false;
	return cp != 0xad && cp != 0x2028 && cp != 0x2029 && cp != 0xfeff &&
	       !(cp >= 0x200b && cp <= 0x200f);
}

int promql_quote(struct buf *out, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, size;
	int err = buf_putc(out, '"');

	while (!err && i < len) {
		long cp = utf8_decode(p + i, len - i, &size);

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
			else if (!rune_printable(cp))
				err = buf_printf(out, "\\u%04lx", (unsigned long)cp);
			else
				err = buf_append(out, p + i, size);
		}
		i += size;
	}
	return err ? err : buf_putc(out, '"');
}

/* ---- errors ---- */

static void __attribute__((format(printf, 3, 4)))
sel_error(struct sel_parser *p, size_t pos, const char *fmt, ...)
{
	size_t line = 1, last_nl = (size_t)-1, col;
	int k;
	va_list ap;

	if (p->failed)
		return;
	p->failed = true;
	if (!p->errlen)
		return;
	for (size_t i = 0; i < pos && i < p->len; i++) {
		if (p->s[i] == '\n') {
			line++;
			last_nl = i;
		}
	}
	col = pos - last_nl; /* last_nl == -1 wraps: col = pos + 1 */
	k = snprintf(p->err, p->errlen, "%zu:%zu: parse error: ", line, col);
	if (k < 0 || (size_t)k >= p->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
	va_end(ap);
}

/* A rune as Go's %q prints it: 'x', '\n', '\x01', with the quote escaped. */
static void rune_q(char out[32], const char *s, size_t len)
{
	size_t size;
	long cp = len ? utf8_decode((const unsigned char *)s, len, &size) : -1;

	if (cp == '\'' || cp == '\\')
		snprintf(out, 32, "'\\%c'", (char)cp);
	else if (cp == '\n')
		snprintf(out, 32, "'\\n'");
	else if (cp == '\t')
		snprintf(out, 32, "'\\t'");
	else if (cp < 0)
		snprintf(out, 32, "'\\ufffd'");
	else if (cp < 0x20 || cp == 0x7f)
		snprintf(out, 32, "'\\x%02lx'", (unsigned long)cp);
	else if (!rune_printable(cp))
		snprintf(out, 32, "'\\u%04lx'", (unsigned long)cp);
	else
		snprintf(out, 32, "'%.*s'", (int)size, s);
}

/* A rune as Go's %#U prints it: U+0071 'q', or U+000A for one that is not printable. */
static void rune_u(char out[40], const char *s, size_t len)
{
	size_t size;
	long cp = len ? utf8_decode((const unsigned char *)s, len, &size) : -1;

	if (cp < 0)
		cp = 0xfffd, s = "\xef\xbf\xbd", size = 3;
	if (rune_printable(cp))
		snprintf(out, 40, "U+%04lX '%.*s'", (unsigned long)cp, (int)size, s);
	else
		snprintf(out, 40, "U+%04lX", (unsigned long)cp);
}

/* "unexpected X" where X names a token as Prometheus's parser does. 'context' may be NULL. */
static void unexpected(struct sel_parser *p, const struct token *t, const char *context)
{
	struct buf q;
	const char *in = context ? " in label matching, expected " : "";

	buf_init(&q, 0);
	switch (t->type) {
	case T_EOF:
		sel_error(p, t->start, "unexpected end of input%s%s", in, context ? context : "");
		break;
	case T_IDENT:
	case T_NUMBER:
	case T_STRING:
		promql_quote(&q, p->s + t->start, t->end - t->start);
		sel_error(p, t->start, "unexpected %s %s%s%s",
			  t->type == T_IDENT ? "identifier" : t->type == T_NUMBER ? "number" : "string",
			  q.data, in, context ? context : "");
		break;
	default:
		sel_error(p, t->start, "unexpected \"%.*s\"%s%s", (int)(t->end - t->start),
			  p->s + t->start, in, context ? context : "");
	}
	buf_release(&q);
}

/* ---- lexer ---- */

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static bool is_alpha(char c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int digit_val(char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return 16;
}

static void put_utf8(struct buf *b, unsigned long cp)
{
	char u[4];

	if (cp < 0x80) {
		buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xc0 | cp >> 6);
		u[1] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xe0 | cp >> 12);
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 3);
	} else {
		u[0] = (char)(0xf0 | cp >> 18);
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (char)(0x80 | (cp & 0x3f));
		buf_append(b, u, 4);
	}
}

/* One escape sequence after the backslash at p->pos - 1, appended to p->value decoded. Errors are
 * reported at the string's start, as Prometheus's lexer does. Returns false on error. */
static bool lex_escape(struct sel_parser *p, size_t start, char quote)
{
	unsigned long x = 0, max;
	int n, base;
	char c, u[40];

	if (p->pos >= p->len) {
		sel_error(p, start, "escape sequence not terminated");
		return false;
	}
	c = p->s[p->pos++];
	switch (c) {
	case 'a': buf_putc(&p->value, '\a'); return true;
	case 'b': buf_putc(&p->value, '\b'); return true;
	case 'f': buf_putc(&p->value, '\f'); return true;
	case 'n': buf_putc(&p->value, '\n'); return true;
	case 'r': buf_putc(&p->value, '\r'); return true;
	case 't': buf_putc(&p->value, '\t'); return true;
	case 'v': buf_putc(&p->value, '\v'); return true;
	case '\\': buf_putc(&p->value, '\\'); return true;
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		n = 3, base = 8, max = 255;
		p->pos--; /* the first digit is part of the number */
		break;
	case 'x':
		n = 2, base = 16, max = 255;
		break;
	case 'u':
		n = 4, base = 16, max = 0x10ffff;
		break;
	case 'U':
		n = 8, base = 16, max = 0x10ffff;
		break;
	default:
		if (c == quote) {
			buf_putc(&p->value, c);
			return true;
		}
		rune_u(u, p->s + p->pos - 1, p->len - p->pos + 1);
		sel_error(p, start, "unknown escape sequence %s", u);
		return false;
	}
	for (; n > 0; n--) {
		int d;

		if (p->pos >= p->len) {
			sel_error(p, start, "escape sequence not terminated");
			return false;
		}
		d = digit_val(p->s[p->pos]);
		if (d >= base) {
			rune_u(u, p->s + p->pos, p->len - p->pos);
			sel_error(p, start, "illegal character %s in escape sequence", u);
			return false;
		}
		x = x * (unsigned long)base + (unsigned long)d;
		p->pos++;
	}
	if (x > max || (x >= 0xd800 && x < 0xe000)) {
		sel_error(p, start, "escape sequence is an invalid Unicode code point");
		return false;
	}
	if (c == 'u' || c == 'U')
		put_utf8(&p->value, x);
	else
		buf_putc(&p->value, (char)x);
	return true;
}

/* A quoted string starting at p->pos; its decoded value goes to p->value. */
static bool lex_string(struct sel_parser *p, struct token *t)
{
	size_t start = p->pos;
	char quote = p->s[p->pos++];

	buf_reset(&p->value);
	for (;;) {
		char c;

		if (p->pos >= p->len) {
			sel_error(p, start, quote == '`' ? "unterminated raw string"
							 : "unterminated quoted string");
			return false;
		}
		c = p->s[p->pos++];
		if (c == quote)
			break;
		if (quote != '`' && c == '\\') {
			if (!lex_escape(p, start, quote))
				return false;
			continue;
		}
		if (quote != '`' && c == '\n') {
			sel_error(p, start, "unterminated quoted string");
			return false;
		}
		buf_putc(&p->value, c);
	}
	if (p->value.len && memchr(p->value.data, '\0', p->value.len)) {
		sel_error(p, start, "label value contains a NUL byte");
		return false;
	}
	t->type = T_STRING;
	t->end = p->pos;
	return true;
}

/* The next token. Returns false (with the error reported) for a lexer error. */
static bool lex(struct sel_parser *p, struct token *t)
{
	char c, q[32];

	for (;;) {
		while (p->pos < p->len && is_space(p->s[p->pos]))
			p->pos++;
		/* Comments run to the end of the line, outside braces only. */
		if (p->in_braces || p->pos >= p->len || p->s[p->pos] != '#')
			break;
		while (p->pos < p->len && p->s[p->pos] != '\n')
			p->pos++;
	}
	t->start = p->pos;
	t->end = p->pos + 1;
	if (p->pos >= p->len) {
		t->type = T_EOF;
		t->end = p->pos;
		if (p->in_braces) {
			sel_error(p, p->pos, "unexpected end of input inside braces");
			return false;
		}
		return true;
	}
	c = p->s[p->pos];
	if (c == '"' || c == '\'' || c == '`')
		return lex_string(p, t);
	if (is_alpha(c) || (!p->in_braces && c == ':')) {
		while (p->pos < p->len && (is_alpha(p->s[p->pos]) || is_digit(p->s[p->pos]) ||
					   (!p->in_braces && p->s[p->pos] == ':')))
			p->pos++;
		t->end = p->pos;
		t->type = T_IDENT;
		if (!p->in_braces && t->end - t->start == 3 &&
		    (strncasecmp(p->s + t->start, "inf", 3) == 0 ||
		     strncasecmp(p->s + t->start, "nan", 3) == 0))
			t->type = T_NUMBER;
		return true;
	}
	p->pos++;
	if (p->in_braces) {
		switch (c) {
		case ',':
			t->type = T_COMMA;
			return true;
		case '}':
			t->type = T_RBRACE;
			p->in_braces = false;
			return true;
		case '=':
			t->type = T_EQ;
			if (p->pos < p->len && p->s[p->pos] == '~') {
				t->type = T_RE;
				t->end = ++p->pos;
			}
			return true;
		case '!':
			if (p->pos < p->len && (p->s[p->pos] == '=' || p->s[p->pos] == '~')) {
				t->type = p->s[p->pos] == '=' ? T_NEQ : T_NRE;
				t->end = ++p->pos;
				return true;
			}
			rune_q(q, p->s + p->pos, p->len - p->pos);
			sel_error(p, t->start, "unexpected character after '!' inside braces: %s",
				  p->pos < p->len ? q : "EOF");
			return false;
		case '{':
			sel_error(p, t->start, "unexpected left brace '{'");
			return false;
		default:
			rune_q(q, p->s + t->start, p->len - t->start);
			sel_error(p, t->start, "unexpected character inside braces: %s", q);
			return false;
		}
	}
	if (c == '{') {
		t->type = T_LBRACE;
		p->in_braces = true;
		return true;
	}
	if (is_digit(c) || c == '.') {
		while (p->pos < p->len && (is_alpha(p->s[p->pos]) || is_digit(p->s[p->pos]) ||
					   p->s[p->pos] == '.'))
			p->pos++;
		t->end = p->pos;
		t->type = T_NUMBER;
		return true;
	}
	if (strchr("()[],=+-*/%^@<>!", c)) {
		t->type = T_PUNCT;
		return true;
	}
	rune_q(q, p->s + t->start, p->len - t->start);
	sel_error(p, t->start, "unexpected character: %s", q);
	return false;
}

/* ---- parser ---- */

static bool matches_empty(const pcre2_code *re)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc = pcre2_match(re, (PCRE2_SPTR) "", 0, 0, 0, md, NULL);

	pcre2_match_data_free(md);
	return rc >= 0;
}

/* Whether matcher m matches the empty string (and therefore series without the label). */
static bool matcher_matches_empty(const struct matcher *m, const pcre2_code *re)
{
	switch (m->op) {
	case MATCH_EQ:
		return m->value[0] == '\0';
	case MATCH_NEQ:
		return m->value[0] != '\0';
	case MATCH_RE:
		return matches_empty(re);
	case MATCH_NRE:
		return !matches_empty(re);
	}
	return false;
}

static bool add_matcher(struct sel_parser *p, const struct token *name, enum matcher_op op,
			bool *nonempty)
{
	struct matcher *m;
	pcre2_code *re = NULL;

	if (p->n + p->have_name >= PROMQL_MAX_MATCHERS) {
		sel_error(p, name->start, "too many label matchers (at most %d)", PROMQL_MAX_MATCHERS);
		return false;
	}
	if (op == MATCH_RE || op == MATCH_NRE) {
		PCRE2_SIZE off;
		int code;
		PCRE2_UCHAR msg[160];

		re = pcre2_compile((PCRE2_SPTR)(p->value.data ? p->value.data : ""), p->value.len,
				   PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &code, &off, NULL);
		if (!re) {
			pcre2_get_error_message(code, msg, sizeof(msg));
			sel_error(p, name->start, "error parsing regexp: %s at offset %zu: `%s`",
				  (const char *)msg, (size_t)off, p->value.data ? p->value.data : "");
			return false;
		}
	}
	p->m = xrealloc(p->m, (p->n + 1) * sizeof(*p->m));
	m = &p->m[p->n++];
	m->name = xstrndup(p->s + name->start, name->end - name->start);
	m->op = op;
	m->value = xstrndup(p->value.data ? p->value.data : "", p->value.len);
	if (!matcher_matches_empty(m, re))
		*nonempty = true;
	pcre2_code_free(re);
	return true;
}

static bool parse_matchers(struct sel_parser *p, bool *nonempty)
{
	struct token t, name;
	enum matcher_op op;

	for (;;) {
		if (!lex(p, &name))
			return false;
		if (name.type == T_RBRACE)
			return true;
		if (name.type != T_IDENT) {
			unexpected(p, &name, "identifier or \"}\"");
			return false;
		}
		if (!lex(p, &t))
			return false;
		switch (t.type) {
		case T_EQ: op = MATCH_EQ; break;
		case T_NEQ: op = MATCH_NEQ; break;
		case T_RE: op = MATCH_RE; break;
		case T_NRE: op = MATCH_NRE; break;
		default:
			unexpected(p, &t, "label matching operator");
			return false;
		}
		if (!lex(p, &t))
			return false;
		if (t.type != T_STRING) {
			unexpected(p, &t, "string");
			return false;
		}
		if (!add_matcher(p, &name, op, nonempty))
			return false;
		if (!lex(p, &t))
			return false;
		if (t.type == T_RBRACE)
			return true;
		if (t.type != T_COMMA) {
			unexpected(p, &t, "\",\" or \"}\"");
			return false;
		}
	}
}

static bool parse(struct sel_parser *p)
{
	struct token t, name = { T_EOF, 0, 0 };
	bool nonempty = false, have_name = false;
	size_t sel_start;

	if (!lex(p, &t))
		return false;
	sel_start = t.start;
	if (t.type == T_IDENT) {
		name = t;
		have_name = true;
		p->have_name = true;
		if (!lex(p, &t))
			return false;
	}
	if (t.type == T_LBRACE) {
		if (!parse_matchers(p, &nonempty))
			return false;
		if (!lex(p, &t))
			return false;
	} else if (!have_name) {
		unexpected(p, &t, NULL);
		return false;
	}
	if (t.type != T_EOF) {
		unexpected(p, &t, NULL);
		return false;
	}
	if (have_name) {
		struct buf q1, q2;
		struct matcher *m;

		for (size_t i = 0; i < p->n; i++) {
			if (strcmp(p->m[i].name, "__name__"))
				continue;
			buf_init(&q1, 0);
			buf_init(&q2, 0);
			promql_quote(&q1, p->s + name.start, name.end - name.start);
			promql_quote(&q2, p->m[i].value, strlen(p->m[i].value));
			sel_error(p, sel_start, "metric name must not be set twice: %s or %s", q1.data,
				  q2.data);
			buf_release(&q1);
			buf_release(&q2);
			return false;
		}
		p->m = xrealloc(p->m, (p->n + 1) * sizeof(*p->m));
		memmove(p->m + 1, p->m, p->n * sizeof(*p->m));
		m = &p->m[0];
		m->name = xstrdup("__name__");
		m->op = MATCH_EQ;
		m->value = xstrndup(p->s + name.start, name.end - name.start);
		p->n++;
		nonempty = true;
	}
	if (!nonempty) {
		sel_error(p, sel_start, "vector selector must contain at least one non-empty matcher");
		return false;
	}
	return true;
}

int promql_parse_selector(const char *input, struct matcher **out, size_t *n, char *err,
			  size_t errlen)
{
	struct sel_parser p = {
		.s = input,
		.len = strlen(input),
		.err = err,
		.errlen = errlen,
	};
	bool ok;

	*out = NULL;
	*n = 0;
	if (errlen)
		err[0] = '\0';
	if (p.len > PROMQL_MAX_SELECTOR_LEN) {
		if (errlen)
			snprintf(err, errlen, "selector too long: %zu bytes (at most %d)", p.len,
				 PROMQL_MAX_SELECTOR_LEN);
		return -EINVAL;
	}
	buf_init(&p.value, PROMQL_MAX_SELECTOR_LEN + 8);
	ok = parse(&p);
	buf_release(&p.value);
	if (!ok) {
		promql_matchers_free(p.m, p.n);
		return -EINVAL;
	}
	*out = p.m;
	*n = p.n;
	return 0;
}

void promql_matchers_free(struct matcher *m, size_t n)
{
	if (!m)
		return;
	for (size_t i = 0; i < n; i++) {
		free((char *)m[i].name);
		free((char *)m[i].value);
	}
	free(m);
}
