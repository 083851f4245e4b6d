/*
 * The PromQL lexer, following Prometheus 2.42's promql/parser/lex.go: the same token boundaries,
 * the same error texts and positions. Three modes: statements, inside braces (label matchers) and
 * inside brackets (durations and the subquery colon). Strings are Go string literals.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/promql_int.h"

/* Longest decoded string literal: the whole query is capped anyway. */
#define LEX_MAX_STRING (PROMQL_MAX_QUERY_LEN + 16)

void promql_lex_init(struct promql_lexer *l, const char *s, size_t len)
{
	memset(l, 0, sizeof(*l));
	l->s = s;
	l->len = len;
	buf_init(&l->str, LEX_MAX_STRING);
}

void promql_lex_release(struct promql_lexer *l)
{
	buf_release(&l->str);
}

void promql_lex_error(struct promql_lexer *l, size_t pos, const char *fmt, ...)
{
	va_list ap;

	if (l->failed)
		return;
	l->failed = true;
	l->err_pos = pos;
	va_start(ap, fmt);
	vsnprintf(l->err, sizeof(l->err), fmt, ap);
	va_end(ap);
}

void promql_lex_format_error(const struct promql_lexer *l, char *err, size_t errlen)
{
	size_t line = 1, last_nl = (size_t)-1;

	if (!errlen)
		return;
	for (size_t i = 0; i < l->err_pos && i < l->len; i++) {
		if (l->s[i] == '\n') {
			line++;
			last_nl = i;
		}
	}
	/* last_nl == (size_t)-1 wraps: the column is err_pos + 1 */
	snprintf(err, errlen, "%zu:%zu: parse error: %s", line, l->err_pos - last_nl, l->err);
}

/* Go's unicode.IsPrint, approximated: the C0 and C1 controls and the few format and separator
 * characters a label value might plausibly hold are not printable. */
bool promql_rune_printable(long cp)
{
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0))
		return false;
	return cp != 0xad && cp != 0x2028 && cp != 0x2029 && cp != 0xfeff &&
	       !(cp >= 0x200b && cp <= 0x200f);
}

/* A rune as Go's %q prints it: 'x', '\n', '\x01', with the quote escaped. */
static void rune_q(char out[32], const char *s, size_t len)
{
	size_t size = 1;
	long cp = len ? model_utf8_decode((const unsigned char *)s, len, &size) : -1;

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
	else if (!promql_rune_printable(cp))
		snprintf(out, 32, "'\\u%04lx'", (unsigned long)cp);
	else
		snprintf(out, 32, "'%.*s'", (int)size, s);
}

/* A rune as Go's %#U prints it: U+0071 'q', or U+000A for one that is not printable. */
static void rune_u(char out[40], const char *s, size_t len)
{
	size_t size = 1;
	long cp = len ? model_utf8_decode((const unsigned char *)s, len, &size) : -1;

	if (cp < 0)
		cp = 0xfffd, s = "\xef\xbf\xbd", size = 3;
	if (promql_rune_printable(cp))
		snprintf(out, 40, "U+%04lX '%.*s'", (unsigned long)cp, (int)size, s);
	else
		snprintf(out, 40, "U+%04lX", (unsigned long)cp);
}

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

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
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

/* One escape sequence after the backslash at l->pos - 1, appended to l->str decoded. Errors are
 * reported at the string's start, as Prometheus's lexer does. Returns false on error. */
static bool lex_escape(struct promql_lexer *l, size_t start, char quote)
{
	unsigned long x = 0, max;
	int n, base;
	char c, u[40];

	if (l->pos >= l->len) {
		promql_lex_error(l, start, "escape sequence not terminated");
		return false;
	}
	c = l->s[l->pos++];
	switch (c) {
	case 'a': buf_putc(&l->str, '\a'); return true;
	case 'b': buf_putc(&l->str, '\b'); return true;
	case 'f': buf_putc(&l->str, '\f'); return true;
	case 'n': buf_putc(&l->str, '\n'); return true;
	case 'r': buf_putc(&l->str, '\r'); return true;
	case 't': buf_putc(&l->str, '\t'); return true;
	case 'v': buf_putc(&l->str, '\v'); return true;
	case '\\': buf_putc(&l->str, '\\'); return true;
	case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		n = 3, base = 8, max = 255;
		l->pos--; /* the first digit is part of the number */
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
			buf_putc(&l->str, c);
			return true;
		}
		rune_u(u, l->s + l->pos - 1, l->len - l->pos + 1);
		promql_lex_error(l, start, "unknown escape sequence %s", u);
		return false;
	}
	for (; n > 0; n--) {
		int d;

		if (l->pos >= l->len) {
			promql_lex_error(l, start, "escape sequence not terminated");
			return false;
		}
		d = digit_val(l->s[l->pos]);
		if (d >= base) {
			rune_u(u, l->s + l->pos, l->len - l->pos);
			promql_lex_error(l, start, "illegal character %s in escape sequence", u);
			return false;
		}
		x = x * (unsigned long)base + (unsigned long)d;
		l->pos++;
	}
	if (x > max || (x >= 0xd800 && x < 0xe000)) {
		promql_lex_error(l, start, "escape sequence is an invalid Unicode code point");
		return false;
	}
	if (c == 'u' || c == 'U')
		put_utf8(&l->str, x);
	else
		buf_putc(&l->str, (char)x);
	return true;
}

/* A quoted string starting at l->pos; its decoded value goes to l->str. */
static void lex_string(struct promql_lexer *l, struct promql_token *t)
{
	size_t start = l->pos;
	char quote = l->s[l->pos++];

	buf_reset(&l->str);
	t->type = TOK_ERROR;
	for (;;) {
		char c;

		if (l->pos >= l->len) {
			promql_lex_error(l, start, quote == '`' ? "unterminated raw string"
								: "unterminated quoted string");
			return;
		}
		c = l->s[l->pos++];
		if (c == quote)
			break;
		if (quote != '`' && c == '\\') {
			if (!lex_escape(l, start, quote))
				return;
			continue;
		}
		if (quote != '`' && c == '\n') {
			promql_lex_error(l, start, "unterminated quoted string");
			return;
		}
		buf_putc(&l->str, c);
	}
	/* A C string cannot carry a NUL: label values, regexes and names are C strings here. */
	if (l->str.len && memchr(l->str.data, '\0', l->str.len)) {
		promql_lex_error(l, start, "label value contains a NUL byte");
		return;
	}
	if (!l->str.data)
		buf_puts(&l->str, "");
	t->type = TOK_STRING;
	t->end = l->pos;
}

/* Inside braces: names, matcher operators, strings, commas. */
static void lex_braces(struct promql_lexer *l, struct promql_token *t)
{
	char c = l->s[l->pos], q[32];

	if (c == '"' || c == '\'' || c == '`') {
		lex_string(l, t);
		return;
	}
	if (is_alpha(c)) {
		while (l->pos < l->len && is_alnum(l->s[l->pos]))
			l->pos++;
		t->end = l->pos;
		t->type = TOK_IDENT;
		return;
	}
	l->pos++;
	t->type = TOK_ERROR;
	switch (c) {
	case ',':
		t->type = TOK_COMMA;
		return;
	case '}':
		t->type = TOK_RBRACE;
		l->in_braces = false;
		return;
	case '=':
		t->type = TOK_EQL;
		if (l->pos < l->len && l->s[l->pos] == '~') {
			t->type = TOK_EQL_REGEX;
			t->end = ++l->pos;
		}
		return;
	case '!':
		if (l->pos < l->len && (l->s[l->pos] == '=' || l->s[l->pos] == '~')) {
			t->type = l->s[l->pos] == '=' ? TOK_NEQ : TOK_NEQ_REGEX;
			t->end = ++l->pos;
			return;
		}
		rune_q(q, l->s + l->pos, l->len - l->pos);
		promql_lex_error(l, t->start, "unexpected character after '!' inside braces: %s",
				 l->pos < l->len ? q : "EOF");
		return;
	case '{':
		promql_lex_error(l, t->start, "unexpected left brace '{'");
		return;
	default:
		rune_q(q, l->s + t->start, l->len - t->start);
		promql_lex_error(l, t->start, "unexpected character inside braces: %s", q);
	}
}

static bool accept(struct promql_lexer *l, const char *valid)
{
	if (l->pos < l->len && l->s[l->pos] && strchr(valid, l->s[l->pos])) {
		l->pos++;
		return true;
	}
	return false;
}

static void accept_run(struct promql_lexer *l, const char *valid)
{
	while (accept(l, valid))
		;
}

/* A number, or a duration when a unit follows the digits (lexNumberOrDuration). */
static void lex_number(struct promql_lexer *l, struct promql_token *t)
{
	const char *digits = "0123456789";

	if (accept(l, "0") && accept(l, "xX"))
		digits = "0123456789abcdefABCDEF";
	accept_run(l, digits);
	if (accept(l, "."))
		accept_run(l, digits);
	if (accept(l, "eE")) {
		accept(l, "+-");
		accept_run(l, "0123456789");
	}
	if (l->pos >= l->len || !is_alnum(l->s[l->pos])) {
		if (l->in_brackets) {
			/* inside brackets only durations (Prometheus's lexDuration) */
			t->type = TOK_ERROR;
			promql_lex_error(l, t->start, "missing unit character in duration");
			return;
		}
		t->type = TOK_NUMBER;
		t->end = l->pos;
		return;
	}
	if (l->in_brackets && (l->pos >= l->len || !strchr("smhdwy", l->s[l->pos]))) {
		t->type = TOK_ERROR;
		promql_lex_error(l, t->start, "bad duration syntax: \"%.*s\"",
				 (int)(l->pos - t->start), l->s + t->start);
		return;
	}
	/* A unit, then optionally more number+unit pairs: 1h30m, 100ms. The text in the message
	 * ends where Prometheus's scanner stopped: after the character that broke a complete
	 * duration, before one that broke a unit. */
	if (accept(l, "smhdwy")) {
		bool ok = true;

		accept(l, "s");
		while (accept(l, "0123456789")) {
			accept_run(l, "0123456789");
			if (!accept(l, "smhdw")) {
				ok = false;
				break;
			}
			accept(l, "s");
		}
		if (ok && (l->pos >= l->len || !is_alnum(l->s[l->pos]))) {
			t->type = TOK_DURATION;
			t->end = l->pos;
			return;
		}
		if (ok && l->pos < l->len)
			l->pos++;
	}
	t->type = TOK_ERROR;
	promql_lex_error(l, t->start, "bad %s syntax: \"%.*s\"",
			 l->in_brackets ? "duration" : "number or duration", (int)(l->pos - t->start),
			 l->s + t->start);
}

void promql_lex_next(struct promql_lexer *l, struct promql_token *t)
{
	char c, q[32];

	if (l->failed) {
		t->type = TOK_ERROR;
		t->start = t->end = l->err_pos;
		return;
	}
	for (;;) {
		while (l->pos < l->len && is_space(l->s[l->pos]))
			l->pos++;
		/* Comments run to the end of the line, outside braces only. */
		if (l->in_braces || l->pos >= l->len || l->s[l->pos] != '#')
			break;
		while (l->pos < l->len && l->s[l->pos] != '\n')
			l->pos++;
	}
	t->start = l->pos;
	t->end = l->pos + 1;
	if (l->pos >= l->len) {
		t->type = TOK_EOF;
		t->end = l->pos;
		if (l->in_braces)
			promql_lex_error(l, l->pos, "unexpected end of input inside braces");
		else if (l->paren_depth > 0)
			promql_lex_error(l, l->pos, "unclosed left parenthesis");
		else if (l->in_brackets)
			promql_lex_error(l, l->pos, "unclosed left bracket");
		if (l->failed)
			t->type = TOK_ERROR;
		return;
	}
	if (l->in_braces) {
		lex_braces(l, t);
		return;
	}
	c = l->s[l->pos];
	if (c == '"' || c == '\'' || c == '`') {
		lex_string(l, t);
		return;
	}
	if (is_digit(c) || (c == '.' && l->pos + 1 < l->len && is_digit(l->s[l->pos + 1]))) {
		lex_number(l, t);
		return;
	}
	if (is_alpha(c) || (c == ':' && !l->in_brackets)) {
		while (l->pos < l->len && (is_alnum(l->s[l->pos]) || l->s[l->pos] == ':'))
			l->pos++;
		t->end = l->pos;
		t->type = TOK_IDENT;
		if (t->end - t->start == 3 && (strncasecmp(l->s + t->start, "inf", 3) == 0 ||
					       strncasecmp(l->s + t->start, "nan", 3) == 0))
			t->type = TOK_NUMBER;
		return;
	}
	l->pos++;
	t->type = TOK_ERROR;
	switch (c) {
	case ',': t->type = TOK_COMMA; return;
	case '*': t->type = TOK_MUL; return;
	case '/': t->type = TOK_DIV; return;
	case '%': t->type = TOK_MOD; return;
	case '+': t->type = TOK_ADD; return;
	case '-': t->type = TOK_SUB; return;
	case '^': t->type = TOK_POW; return;
	case '@': t->type = TOK_AT; return;
	case ':': t->type = TOK_COLON; return; /* inside brackets */
	case '=':
		if (accept(l, "=")) {
			t->type = TOK_EQLC;
			t->end = l->pos;
		} else if (l->pos < l->len && l->s[l->pos] == '~') {
			rune_q(q, l->s + l->pos, l->len - l->pos);
			promql_lex_error(l, t->start, "unexpected character after '=': %s", q);
		} else {
			t->type = TOK_EQL;
		}
		return;
	case '!':
		if (!accept(l, "=")) {
			rune_q(q, l->s + l->pos, l->len - l->pos);
			promql_lex_error(l, t->start, "unexpected character after '!': %s",
					 l->pos < l->len ? q : "EOF");
			return;
		}
		t->type = TOK_NEQ;
		t->end = l->pos;
		return;
	case '<':
	case '>':
		t->type = c == '<' ? TOK_LSS : TOK_GTR;
		if (accept(l, "=")) {
			t->type = c == '<' ? TOK_LTE : TOK_GTE;
			t->end = l->pos;
		}
		return;
	case '(':
		t->type = TOK_LPAREN;
		l->paren_depth++;
		return;
	case ')':
		if (--l->paren_depth < 0) {
			/* reported just after the parenthesis, as Prometheus's lexer does */
			promql_lex_error(l, l->pos, "unexpected right parenthesis ')'");
			return;
		}
		t->type = TOK_RPAREN;
		return;
	case '{':
		t->type = TOK_LBRACE;
		l->in_braces = true;
		return;
	case '[':
		if (l->in_brackets) {
			promql_lex_error(l, t->start, "unexpected left bracket '['");
			return;
		}
		t->type = TOK_LBRACKET;
		l->in_brackets = true;
		return;
	case ']':
		if (!l->in_brackets) {
			promql_lex_error(l, t->start, "unexpected right bracket ']'");
			return;
		}
		t->type = TOK_RBRACKET;
		l->in_brackets = false;
		return;
	default:
		rune_q(q, l->s + t->start, l->len - t->start);
		promql_lex_error(l, t->start, "unexpected character: %s", q);
	}
}

/* ---- naming tokens in messages (Prometheus's Item.desc) ---- */

static const char *const keywords[] = {
	"offset", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
	"start", "end",
};

static void quote_trunc(struct buf *b, const char *s, size_t len)
{
	/* Go's %.10q: at most 10 runes, then "..." */
	size_t i = 0, runes = 0, size;

	while (i < len && runes < 10) {
		model_utf8_decode((const unsigned char *)s + i, len - i, &size);
		i += size;
		runes++;
	}
	promql_quote(b, s, i);
	if (i < len)
		buf_puts(b, "...");
}

void promql_lex_unexpected(struct promql_lexer *l, const struct promql_token *t,
			   const char *context, const char *expected)
{
	struct buf b;
	const char *s = l->s + t->start;
	size_t len = t->end - t->start;

	if (l->failed || t->type == TOK_ERROR)
		return;
	buf_init(&b, 0);
	buf_puts(&b, "unexpected ");
	switch (t->type) {
	case TOK_EOF:
		buf_puts(&b, "end of input");
		break;
	case TOK_IDENT: {
		bool kw = false;

		if (!l->in_braces) {
			if (promql_aggr_lookup(s, len) >= 0) {
				buf_printf(&b, "<aggr:%.*s>", (int)len, s);
				break;
			}
			if ((len == 3 && !strncasecmp(s, "and", 3)) ||
			    (len == 2 && !strncasecmp(s, "or", 2)) ||
			    (len == 6 && !strncasecmp(s, "unless", 6)) ||
			    (len == 5 && !strncasecmp(s, "atan2", 5))) {
				buf_printf(&b, "<op:%.*s>", (int)len, s);
				break;
			}
			for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
				if (strlen(keywords[i]) == len && !strncasecmp(keywords[i], s, len))
					kw = true;
		}
		if (kw) {
			buf_printf(&b, "<%.*s>", (int)len, s);
			break;
		}
		buf_puts(&b, memchr(s, ':', len) ? "metric identifier " : "identifier ");
		promql_quote(&b, s, len);
		break;
	}
	case TOK_NUMBER:
	case TOK_DURATION:
	case TOK_STRING:
		buf_puts(&b, t->type == TOK_NUMBER ? "number " :
			     t->type == TOK_DURATION ? "duration " : "string ");
		quote_trunc(&b, s, len);
		break;
	case TOK_ADD: case TOK_SUB: case TOK_MUL: case TOK_DIV: case TOK_MOD: case TOK_POW:
	case TOK_EQLC: case TOK_NEQ: case TOK_NEQC: case TOK_LSS: case TOK_LTE: case TOK_GTR:
	case TOK_GTE: case TOK_EQL_REGEX: case TOK_NEQ_REGEX:
		buf_printf(&b, "<op:%.*s>", (int)len, s);
		break;
	default:
		buf_printf(&b, "\"%.*s\"", (int)len, s);
	}
	if (context)
		buf_printf(&b, " in %s", context);
	if (expected)
		buf_printf(&b, ", expected %s", expected);
	promql_lex_error(l, t->start, "%s", b.data);
	buf_release(&b);
}

/* ---- literals ---- */

bool promql_parse_duration(const char *s, size_t len, int64_t *ms)
{
	/* Prometheus's model.ParseDuration: units in this order, each at most once. */
	static const struct {
		const char *unit;
		int64_t ms;
	} units[] = {
		{ "y", 365LL * 24 * 3600 * 1000 }, { "w", 7LL * 24 * 3600 * 1000 },
		{ "d", 24LL * 3600 * 1000 },       { "h", 3600LL * 1000 },
		{ "m", 60LL * 1000 },              { "s", 1000 },
		{ "ms", 1 },
	};
	size_t i = 0, next_unit = 0;
	int64_t total = 0;

	if (len == 0)
		return false;
	if (len == 1 && s[0] == '0') {
		*ms = 0;
		return true;
	}
	while (i < len) {
		int64_t n = 0;
		size_t u, ulen;

		if (!is_digit(s[i]))
			return false;
		while (i < len && is_digit(s[i])) {
			if (n > INT64_MAX / 10)
				return false;
			n = n * 10 + (s[i++] - '0');
		}
		ulen = 0;
		while (i + ulen < len && !is_digit(s[i + ulen]))
			ulen++;
		for (u = next_unit; u < sizeof(units) / sizeof(units[0]); u++)
			if (strlen(units[u].unit) == ulen && !strncmp(units[u].unit, s + i, ulen))
				break;
		if (u == sizeof(units) / sizeof(units[0]))
			return false;
		if (n > (INT64_MAX - total) / units[u].ms)
			return false;
		total += n * units[u].ms;
		next_unit = u + 1;
		i += ulen;
	}
	*ms = total;
	return true;
}

bool promql_parse_number(const char *s, size_t len, double *v)
{
	char tmp[128], *end;

	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	if (!strcasecmp(tmp, "inf") || !strcasecmp(tmp, "+inf")) {
		*v = INFINITY;
		return true;
	}
	if (!strcasecmp(tmp, "nan")) {
		*v = NAN;
		return true;
	}
	/* Hex integers and floats, decimal floats: strtod reads them as ParseFloat does. A hex
	 * mantissa without a 'p' exponent is an integer for Go (0x1F), which strtod also accepts. */
	errno = 0;
	*v = strtod(tmp, &end);
	if (*end)
		return false;
	return true;
}

const char *promql_type_doc(enum promql_type t)
{
	switch (t) {
	case PROMQL_TYPE_SCALAR:
		return "scalar";
	case PROMQL_TYPE_VECTOR:
		return "instant vector";
	case PROMQL_TYPE_MATRIX:
		return "range vector";
	case PROMQL_TYPE_STRING:
		return "string";
	case PROMQL_TYPE_NONE:
		break;
	}
	return "none";
}
