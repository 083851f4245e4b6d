/*
 * The PromQL parser: recursive descent with precedence climbing, building the AST of
 * promql_int.h in the expression's arena and checking types as Prometheus 2.42's checkAST does,
 * with its messages. Precedence, lowest first: or; and unless; comparisons; + -; * / % atan2;
 * ^ (right-associative). A unary sign binds like * (so -a^b is -(a^b)).
 *
 * Also the entry for a lone series selector (promql_parse_selector, in selector.c).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "query/promql_int.h"

struct parser {
	struct promql_lexer l;
	struct promql_token tok;  /* the current token */
	struct promql_arena *a;
	int depth;
	bool nonempty;            /* the selector being parsed has a matcher not matching "" */
};

static const char *const aggr_names[] = {
	[AGGR_SUM] = "sum",         [AGGR_AVG] = "avg",
	[AGGR_COUNT] = "count",     [AGGR_MIN] = "min",
	[AGGR_MAX] = "max",         [AGGR_GROUP] = "group",
	[AGGR_STDDEV] = "stddev",   [AGGR_STDVAR] = "stdvar",
	[AGGR_TOPK] = "topk",       [AGGR_BOTTOMK] = "bottomk",
	[AGGR_COUNT_VALUES] = "count_values", [AGGR_QUANTILE] = "quantile",
};

int promql_aggr_lookup(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(aggr_names) / sizeof(aggr_names[0]); i++)
		if (strlen(aggr_names[i]) == len && !strncasecmp(aggr_names[i], s, len))
			return (int)i;
	return -1;
}

static bool failed(const struct parser *p)
{
	return p->l.failed;
}

static void next(struct parser *p)
{
	promql_lex_next(&p->l, &p->tok);
}

static bool tok_is(const struct parser *p, const char *word)
{
	size_t len = p->tok.end - p->tok.start;

	/* keywords are case-insensitive, as Prometheus's lexer lowers them */
	return p->tok.type == TOK_IDENT && strlen(word) == len &&
	       !strncasecmp(p->l.s + p->tok.start, word, len);
}

static void error_at(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void error_at(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	promql_lex_error(&p->l, pos, "%s", msg);
}

static void unexpected(struct parser *p, const char *context, const char *expected)
{
	promql_lex_unexpected(&p->l, &p->tok, context, expected);
}

static struct promql_node *node_new(struct parser *p, enum promql_node_kind kind, size_t pos)
{
	struct promql_node *n = promql_arena_zalloc(p->a, sizeof(*n));

	n->kind = kind;
	n->pos = pos;
	return n;
}

/* ---- selectors ---- */

static bool add_matcher(struct parser *p, struct promql_node *n, const struct promql_token *name,
			enum matcher_op op, const char *value, size_t max)
{
	if (n->nmatchers >= max) {
		error_at(p, name->start, "too many label matchers (at most %d)", PROMQL_MAX_MATCHERS);
		return false;
	}
	n->matchers = n->nmatchers ? n->matchers : promql_arena_array(p->a, PROMQL_MAX_MATCHERS,
								       sizeof(*n->matchers));
	n->matchers[n->nmatchers].name =
		promql_arena_strndup(p->a, p->l.s + name->start, name->end - name->start);
	n->matchers[n->nmatchers].op = op;
	n->matchers[n->nmatchers].value = promql_arena_strdup(p->a, value);
	/* Compiled here to report a bad regex at its matcher; the prog is not kept (an expression
	 * is shared between threads, a prog is not; the source compiles its own). */
	{
		struct model_matcher_prog *prog;
		char msg[200];

		if (model_matcher_compile(&n->matchers[n->nmatchers], &prog, msg, sizeof(msg))) {
			error_at(p, name->start, "%s", msg);
			return false;
		}
		if (!model_matcher_matches_empty(prog))
			p->nonempty = true;
		model_matcher_prog_free(prog);
	}
	n->nmatchers++;
	return true;
}

/* After '{': matchers up to and including '}'. */
static bool parse_matchers(struct parser *p, struct promql_node *n, size_t max)
{
	struct promql_token name;
	enum matcher_op op;

	for (;;) {
		next(p);
		if (p->tok.type == TOK_RBRACE)
			return true;
		if (p->tok.type != TOK_IDENT) {
			unexpected(p, "label matching", "identifier or \"}\"");
			return false;
		}
		name = p->tok;
		next(p);
		switch (p->tok.type) {
		case TOK_EQL: op = MATCH_EQ; break;
		case TOK_NEQ: op = MATCH_NEQ; break;
		case TOK_EQL_REGEX: op = MATCH_RE; break;
		case TOK_NEQ_REGEX: op = MATCH_NRE; break;
		default:
			unexpected(p, "label matching", "label matching operator");
			return false;
		}
		next(p);
		if (p->tok.type != TOK_STRING) {
			unexpected(p, "label matching", "string");
			return false;
		}
		if (!add_matcher(p, n, &name, op, p->l.str.data, max))
			return false;
		next(p);
		if (p->tok.type == TOK_RBRACE)
			return true;
		if (p->tok.type != TOK_COMMA) {
			unexpected(p, "label matching", "\",\" or \"}\"");
			return false;
		}
	}
}

/*
 * A vector selector at the current token (an identifier or '{'); on return the current token is
 * the one after it. The metric name becomes a __name__ matcher placed first. Regexes are compiled
 * (and the non-empty rule checked) with the model's matcher, as the store will run them.
 */
static struct promql_node *parse_vector_selector(struct parser *p)
{
	struct promql_node *n = node_new(p, NODE_VECTOR_SEL, p->tok.start);
	struct promql_token name = { TOK_EOF, 0, 0 };
	bool have_name = false, nonempty = false;

	n->type = PROMQL_TYPE_VECTOR;
	p->nonempty = false;
	if (p->tok.type == TOK_IDENT) {
		name = p->tok;
		have_name = true;
		next(p);
	}
	if (p->tok.type == TOK_LBRACE) {
		/* The metric name takes one of the PROMQL_MAX_MATCHERS slots. */
		if (!parse_matchers(p, n, PROMQL_MAX_MATCHERS - (have_name ? 1 : 0)))
			return NULL;
		next(p);
	}
	nonempty = p->nonempty;
	for (size_t i = 0; i < n->nmatchers; i++) {
		if (have_name && !strcmp(n->matchers[i].name, MODEL_NAME_LABEL)) {
			struct buf q1, q2;

			buf_init(&q1, 0);
			buf_init(&q2, 0);
			promql_quote(&q1, p->l.s + name.start, name.end - name.start);
			promql_quote(&q2, n->matchers[i].value, strlen(n->matchers[i].value));
			error_at(p, n->pos, "metric name must not be set twice: %s or %s", q1.data,
				 q2.data);
			buf_release(&q1);
			buf_release(&q2);
			return NULL;
		}
	}
	if (have_name) {
		struct matcher *m = promql_arena_array(p->a, n->nmatchers + 1, sizeof(*m));

		m[0].name = MODEL_NAME_LABEL;
		m[0].op = MATCH_EQ;
		m[0].value = promql_arena_strndup(p->a, p->l.s + name.start, name.end - name.start);
		if (n->nmatchers)
			memcpy(m + 1, n->matchers, n->nmatchers * sizeof(*m));
		n->matchers = m;
		n->nmatchers++;
		nonempty = true;
	}
	if (!nonempty) {
		error_at(p, n->pos, "vector selector must contain at least one non-empty matcher");
		return NULL;
	}
	return n;
}

/* ---- expressions ---- */

static struct promql_node *parse_expr(struct parser *p, int min_prec);

static bool parse_duration_tok(struct parser *p, int64_t *ms)
{
	if (p->tok.type != TOK_DURATION) {
		unexpected(p, NULL, "duration");
		return false;
	}
	if (!promql_parse_duration(p->l.s + p->tok.start, p->tok.end - p->tok.start, ms)) {
		error_at(p, p->tok.start, "not a valid duration string: \"%.*s\"",
			 (int)(p->tok.end - p->tok.start), p->l.s + p->tok.start);
		return false;
	}
	/* ranges, subquery steps and offsets alike, as Prometheus 2.42's parser */
	if (*ms == 0) {
		error_at(p, p->tok.start, "duration must be greater than 0");
		return false;
	}
	next(p);
	return true;
}

/* '(' label, ... ')' for by/without/on/ignoring/group_x; the current token is '('. */
static bool parse_labels(struct parser *p, const char ***out, size_t *n, const char *context)
{
	const char **v = NULL;
	size_t cnt = 0;

	if (p->tok.type != TOK_LPAREN) {
		unexpected(p, context, "\"(\"");
		return false;
	}
	next(p);
	v = promql_arena_array(p->a, PROMQL_MAX_MATCHERS, sizeof(*v));
	for (;;) {
		if (p->tok.type == TOK_RPAREN)
			break;
		if (p->tok.type != TOK_IDENT ||
		    !model_label_name_valid(p->l.s + p->tok.start, p->tok.end - p->tok.start)) {
			unexpected(p, context, "label");
			return false;
		}
		if (cnt >= PROMQL_MAX_MATCHERS) {
			error_at(p, p->tok.start, "too many labels in %s (at most %d)", context,
				 PROMQL_MAX_MATCHERS);
			return false;
		}
		v[cnt++] = promql_arena_strndup(p->a, p->l.s + p->tok.start,
						p->tok.end - p->tok.start);
		next(p);
		if (p->tok.type == TOK_COMMA) {
			next(p);
			continue;
		}
		if (p->tok.type != TOK_RPAREN) {
			unexpected(p, context, "\",\" or \")\"");
			return false;
		}
	}
	next(p);
	*out = v;
	*n = cnt;
	return true;
}

static bool expect_type(struct parser *p, const struct promql_node *n, enum promql_type want,
			const char *context)
{
	if (n->type == want)
		return true;
	error_at(p, n->pos, "expected type %s in %s, got %s", promql_type_doc(want), context,
		 promql_type_doc(n->type));
	return false;
}

static struct promql_node *parse_aggr(struct parser *p, int op)
{
	struct promql_node *n = node_new(p, NODE_AGGR, p->tok.start);
	struct promql_node *args[2];
	size_t nargs = 0, want;
	bool grouped = false;

	n->aggr = op;
	n->type = PROMQL_TYPE_VECTOR;
	next(p);
	if (tok_is(p, "by") || tok_is(p, "without")) {
		n->without = tok_is(p, "without");
		next(p);
		if (!parse_labels(p, &n->grouping, &n->ngrouping, "grouping opts"))
			return NULL;
		grouped = true;
	}
	if (p->tok.type != TOK_LPAREN) {
		unexpected(p, "aggregation", "\"(\"");
		return NULL;
	}
	next(p);
	if (p->tok.type == TOK_RPAREN) {
		error_at(p, n->pos, "no arguments for aggregate expression provided");
		return NULL;
	}
	for (;;) {
		struct promql_node *a = parse_expr(p, 0);

		if (!a)
			return NULL;
		if (nargs < 2)
			args[nargs] = a;
		nargs++;
		if (p->tok.type == TOK_COMMA) {
			next(p);
			continue;
		}
		if (p->tok.type != TOK_RPAREN) {
			unexpected(p, "aggregation", "\",\" or \")\"");
			return NULL;
		}
		next(p);
		break;
	}
	if (!grouped && (tok_is(p, "by") || tok_is(p, "without"))) {
		n->without = tok_is(p, "without");
		next(p);
		if (!parse_labels(p, &n->grouping, &n->ngrouping, "grouping opts"))
			return NULL;
	}
	want = (op == AGGR_TOPK || op == AGGR_BOTTOMK || op == AGGR_COUNT_VALUES ||
		op == AGGR_QUANTILE) ? 2 : 1;
	if (nargs != want) {
		error_at(p, n->pos,
			 "wrong number of arguments for aggregate expression provided, expected %zu, "
			 "got %zu", want, nargs);
		return NULL;
	}
	n->expr = args[want - 1];
	if (want == 2)
		n->param = args[0];
	if (n->expr->type != PROMQL_TYPE_VECTOR) {
		error_at(p, n->expr->pos, "expected type instant vector in aggregation expression, "
					  "got %s", promql_type_doc(n->expr->type));
		return NULL;
	}
	if (n->param) {
		enum promql_type pt = op == AGGR_COUNT_VALUES ? PROMQL_TYPE_STRING : PROMQL_TYPE_SCALAR;

		if (!expect_type(p, n->param, pt, "aggregation parameter"))
			return NULL;
		if (op == AGGR_COUNT_VALUES && n->param->kind == NODE_STRING &&
		    !model_label_name_valid(n->param->str, strlen(n->param->str))) {
			char q[512];

			error_at(p, n->param->pos, "invalid label name \"%s\"",
				 buf_escape(q, sizeof(q), n->param->str, strlen(n->param->str)));
			return NULL;
		}
	}
	return n;
}

static struct promql_node *parse_call(struct parser *p, const struct promql_func *f)
{
	struct promql_node *n = node_new(p, NODE_CALL, p->tok.start);
	struct promql_node *args[64];
	size_t nargs = 0;
	char ctx[64];
	int max = f->variadic ? -1 : f->nargs;

	n->func = f;
	n->type = f->ret;
	next(p); /* the name */
	next(p); /* '(' */
	while (p->tok.type != TOK_RPAREN) {
		struct promql_node *a = parse_expr(p, 0);

		if (!a)
			return NULL;
		if (nargs >= sizeof(args) / sizeof(args[0])) {
			error_at(p, a->pos, "too many arguments in call to \"%s\"", f->name);
			return NULL;
		}
		args[nargs++] = a;
		if (p->tok.type == TOK_COMMA) {
			next(p);
			continue;
		}
		if (p->tok.type != TOK_RPAREN) {
			unexpected(p, "function call", "\",\" or \")\"");
			return NULL;
		}
	}
	next(p);
	if (f->min_args == f->nargs && !f->variadic && (int)nargs != f->nargs) {
		error_at(p, n->pos, "expected %d argument(s) in call to \"%s\", got %zu", f->nargs,
			 f->name, nargs);
		return NULL;
	}
	if ((int)nargs < f->min_args) {
		error_at(p, n->pos, "expected at least %d argument(s) in call to \"%s\", got %zu",
			 f->min_args, f->name, nargs);
		return NULL;
	}
	if (max >= 0 && (int)nargs > max) {
		error_at(p, n->pos, "expected at most %d argument(s) in call to \"%s\", got %zu", max,
			 f->name, nargs);
		return NULL;
	}
	snprintf(ctx, sizeof(ctx), "call to function \"%s\"", f->name);
	for (size_t i = 0; i < nargs; i++) {
		int ti = (int)i < f->nargs ? (int)i : f->nargs - 1;

		if (!expect_type(p, args[i], f->args[ti], ctx))
			return NULL;
	}
	if (!strcmp(f->name, "round") && nargs == 1)
		n->func = promql_func_round1();
	n->nargs = nargs;
	n->args = promql_arena_array(p->a, nargs ? nargs : 1, sizeof(*n->args));
	memcpy(n->args, args, nargs * sizeof(*args));
	return n;
}

static bool is_keyword(const struct parser *p)
{
	/* by, without, offset, start and end may name a metric, as in Prometheus's grammar */
	static const char *const kw[] = {
		"on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "atan2",
	};

	for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
		if (tok_is(p, kw[i]))
			return true;
	return false;
}

static struct promql_node *parse_primary(struct parser *p)
{
	struct promql_node *n;
	size_t pos = p->tok.start;

	switch (p->tok.type) {
	case TOK_NUMBER:
		n = node_new(p, NODE_NUMBER, pos);
		n->type = PROMQL_TYPE_SCALAR;
		errno = 0;
		if (!promql_parse_number(p->l.s + pos, p->tok.end - pos, &n->num) ||
		    (errno == ERANGE && isinf(n->num))) {
			error_at(p, pos, "error parsing number: %.*s", (int)(p->tok.end - pos),
				 p->l.s + pos);
			return NULL;
		}
		next(p);
		return n;
	case TOK_STRING:
		n = node_new(p, NODE_STRING, pos);
		n->type = PROMQL_TYPE_STRING;
		n->str = promql_arena_strdup(p->a, p->l.str.data);
		next(p);
		return n;
	case TOK_LPAREN:
		next(p);
		n = node_new(p, NODE_PAREN, pos);
		n->expr = parse_expr(p, 0);
		if (!n->expr)
			return NULL;
		n->type = n->expr->type;
		if (p->tok.type != TOK_RPAREN) {
			unexpected(p, "paren expression", "\")\"");
			return NULL;
		}
		next(p);
		return n;
	case TOK_LBRACE:
		return parse_vector_selector(p);
	case TOK_IDENT: {
		const char *s = p->l.s + pos;
		size_t len = p->tok.end - pos;
		int aggr = promql_aggr_lookup(s, len);
		struct promql_lexer save = p->l;
		struct promql_token save_tok = p->tok;
		bool call;

		if (aggr >= 0)
			return parse_aggr(p, aggr);
		if (is_keyword(p)) {
			unexpected(p, NULL, NULL);
			return NULL;
		}
		/* A name followed by '(' is a call. Look one token ahead on a copy of the lexer (its
		 * string buffer is not touched by an identifier or a parenthesis). */
		next(p);
		call = p->tok.type == TOK_LPAREN;
		{
			struct buf keep = p->l.str;

			p->l = save;
			p->l.str = keep;
		}
		p->tok = save_tok;
		if (call) {
			const struct promql_func *f = promql_func_lookup(s, len);

			if (!f) {
				error_at(p, pos, "unknown function with name \"%.*s\"", (int)len, s);
				return NULL;
			}
			return parse_call(p, f);
		}
		return parse_vector_selector(p);
	}
	default:
		unexpected(p, NULL, NULL);
		return NULL;
	}
}

static bool parse_at(struct parser *p, struct promql_node *target, size_t pos)
{
	double sign = 1, v;

	next(p);
	if (tok_is(p, "start") || tok_is(p, "end")) {
		enum promql_at at = tok_is(p, "start") ? AT_START : AT_END;

		next(p);
		if (p->tok.type != TOK_LPAREN) {
			unexpected(p, "@", "timestamp");
			return false;
		}
		next(p);
		if (p->tok.type != TOK_RPAREN) {
			unexpected(p, "@", "\")\"");
			return false;
		}
		next(p);
		target->at = at;
		return true;
	}
	if (p->tok.type == TOK_ADD || p->tok.type == TOK_SUB) {
		sign = p->tok.type == TOK_SUB ? -1 : 1;
		next(p);
	}
	if (p->tok.type != TOK_NUMBER) {
		unexpected(p, "@", "timestamp");
		return false;
	}
	if (!promql_parse_number(p->l.s + p->tok.start, p->tok.end - p->tok.start, &v)) {
		error_at(p, p->tok.start, "error parsing number: %.*s",
			 (int)(p->tok.end - p->tok.start), p->l.s + p->tok.start);
		return false;
	}
	v *= sign;
	/* Milliseconds must fit int64, as Prometheus checks before converting. */
	if (isnan(v) || isinf(v) || v * 1000 >= 9.2233720368547758e18 ||
	    v * 1000 <= -9.2233720368547758e18) {
		/* Go's %f spells the infinities +Inf and -Inf */
		if (isinf(v) || isnan(v))
			error_at(p, pos, "timestamp out of bounds for @ modifier: %s",
				 isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
		else
			error_at(p, pos, "timestamp out of bounds for @ modifier: %f", v);
		return false;
	}
	target->at = AT_TIME;
	target->at_ms = (int64_t)llround(v * 1000);
	next(p);
	return true;
}

/* [range], [range:step], offset and @ after a primary expression. */
static struct promql_node *parse_postfix(struct parser *p, struct promql_node *e)
{
	for (;;) {
		if (failed(p))
			return NULL;
		if (p->tok.type == TOK_LBRACKET) {
			size_t pos = p->tok.start;
			int64_t range, step = 0;
			struct promql_node *n;

			next(p);
			if (!parse_duration_tok(p, &range))
				return NULL;
			if (p->tok.type == TOK_COLON) {
				next(p);
				if (p->tok.type == TOK_DURATION && !parse_duration_tok(p, &step))
					return NULL;
				if (p->tok.type != TOK_RBRACKET) {
					unexpected(p, "subquery selector", "\"]\"");
					return NULL;
				}
				next(p);
				if (e->type != PROMQL_TYPE_VECTOR) {
					error_at(p, e->pos, "subquery is only allowed on instant vector, "
							    "got %s instead",
						 promql_type_name(e->type));
					return NULL;
				}
				n = node_new(p, NODE_SUBQUERY, e->pos);
				n->type = PROMQL_TYPE_MATRIX;
				n->expr = e;
				n->range_ms = range;
				n->step_ms = step;
				e = n;
				continue;
			}
			if (p->tok.type != TOK_RBRACKET) {
				unexpected(p, "matrix selector", "\"]\"");
				return NULL;
			}
			next(p);
			if (e->kind != NODE_VECTOR_SEL) {
				error_at(p, pos, "ranges only allowed for vector selectors");
				return NULL;
			}
			if (e->has_offset || e->at != AT_NONE) {
				error_at(p, pos, "no offset modifiers allowed before range");
				return NULL;
			}
			n = node_new(p, NODE_MATRIX_SEL, e->pos);
			n->type = PROMQL_TYPE_MATRIX;
			n->expr = e;
			n->range_ms = range;
			e = n;
			continue;
		}
		if (tok_is(p, "offset") || p->tok.type == TOK_AT) {
			bool is_offset = p->tok.type != TOK_AT;
			struct promql_node *target = e;

			if (e->kind == NODE_MATRIX_SEL)
				target = e->expr;
			else if (e->kind != NODE_VECTOR_SEL && e->kind != NODE_SUBQUERY) {
				error_at(p, e->pos, "%s modifier must be preceded by an instant "
							  "vector selector or range vector selector or "
							  "a subquery", is_offset ? "offset" : "@");
				return NULL;
			}
			if (is_offset) {
				bool neg = false;
				int64_t off;

				if (target->has_offset) {
					error_at(p, e->pos, "offset may not be set multiple times");
					return NULL;
				}
				next(p);
				if (p->tok.type == TOK_SUB) {
					neg = true;
					next(p);
				}
				if (!parse_duration_tok(p, &off))
					return NULL;
				target->has_offset = true;
				target->offset_ms = neg ? -off : off;
			} else {
				if (target->at != AT_NONE) {
					error_at(p, e->pos,
						 "@ <timestamp> may not be set multiple times");
					return NULL;
				}
				if (!parse_at(p, target, e->pos))
					return NULL;
			}
			continue;
		}
		return e;
	}
}

static struct promql_node *parse_unary(struct parser *p)
{
	if (p->tok.type == TOK_ADD || p->tok.type == TOK_SUB) {
		enum promql_tok op = p->tok.type;
		size_t pos = p->tok.start;
		struct promql_node *e, *n;

		next(p);
		/* The operand binds tighter than * but not than ^: -a^b is -(a^b). */
		e = parse_expr(p, 6);
		if (!e)
			return NULL;
		if (e->kind == NODE_NUMBER) {
			if (op == TOK_SUB)
				e->num = -e->num;
			e->pos = pos;
			return e;
		}
		if (e->type != PROMQL_TYPE_SCALAR && e->type != PROMQL_TYPE_VECTOR) {
			error_at(p, pos, "unary expression only allowed on expressions of type scalar "
					 "or instant vector, got \"%s\"", promql_type_doc(e->type));
			return NULL;
		}
		n = node_new(p, NODE_UNARY, pos);
		n->op = op;
		n->expr = e;
		n->type = e->type;
		return n;
	}
	{
		struct promql_node *e = parse_primary(p);

		return e ? parse_postfix(p, e) : NULL;
	}
}

/* The binary operator at the current token and its precedence, or 0. */
static int binop_prec(const struct parser *p, enum promql_tok *op)
{
	switch (p->tok.type) {
	case TOK_ADD: *op = TOK_ADD; return 4;
	case TOK_SUB: *op = TOK_SUB; return 4;
	case TOK_MUL: *op = TOK_MUL; return 5;
	case TOK_DIV: *op = TOK_DIV; return 5;
	case TOK_MOD: *op = TOK_MOD; return 5;
	case TOK_POW: *op = TOK_POW; return 6;
	case TOK_EQLC: *op = TOK_EQLC; return 3;
	case TOK_NEQ: *op = TOK_NEQC; return 3;
	case TOK_LSS: *op = TOK_LSS; return 3;
	case TOK_LTE: *op = TOK_LTE; return 3;
	case TOK_GTR: *op = TOK_GTR; return 3;
	case TOK_GTE: *op = TOK_GTE; return 3;
	case TOK_IDENT:
		if (tok_is(p, "and")) { *op = TOK_LAND; return 2; }
		if (tok_is(p, "unless")) { *op = TOK_LUNLESS; return 2; }
		if (tok_is(p, "or")) { *op = TOK_LOR; return 1; }
		if (tok_is(p, "atan2")) { *op = TOK_ATAN2; return 5; }
		return 0;
	default:
		return 0;
	}
}

static const char *op_text(enum promql_tok op)
{
	switch (op) {
	case TOK_LAND: return "and";
	case TOK_LOR: return "or";
	case TOK_LUNLESS: return "unless";
	default: return "?";
	}
}

static bool is_set_op(enum promql_tok op)
{
	return op == TOK_LAND || op == TOK_LOR || op == TOK_LUNLESS;
}

/* bool, on/ignoring, group_left/group_right after a binary operator. */
static bool parse_bin_modifiers(struct parser *p, struct promql_node *n)
{
	struct promql_vmatch *vm = promql_arena_zalloc(p->a, sizeof(*vm));

	vm->card = CARD_ONE_TO_ONE;
	n->vm = vm;
	if (tok_is(p, "bool")) {
		n->return_bool = true;
		next(p);
	}
	if (tok_is(p, "on") || tok_is(p, "ignoring")) {
		vm->on = tok_is(p, "on");
		next(p);
		if (!parse_labels(p, &vm->labels, &vm->nlabels, "grouping opts"))
			return false;
		if (tok_is(p, "group_left") || tok_is(p, "group_right")) {
			vm->card = tok_is(p, "group_left") ? CARD_MANY_TO_ONE : CARD_ONE_TO_MANY;
			next(p);
			if (p->tok.type == TOK_LPAREN &&
			    !parse_labels(p, &vm->include, &vm->ninclude, "grouping opts"))
				return false;
		}
	}
	return true;
}

static bool check_binary(struct parser *p, struct promql_node *n, size_t op_pos)
{
	enum promql_type lt = n->lhs->type, rt = n->rhs->type;
	bool cmp = promql_tok_is_comparison(n->op);
	struct promql_vmatch *vm = n->vm;

	if (n->return_bool && !cmp) {
		error_at(p, op_pos, "bool modifier can only be used on comparison operators");
		return false;
	}
	if (cmp && !n->return_bool && lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) {
		error_at(p, op_pos, "comparisons between scalars must use BOOL modifier");
		return false;
	}
	if (is_set_op(n->op) && vm->card == CARD_ONE_TO_ONE)
		vm->card = CARD_MANY_TO_MANY;
	for (size_t i = 0; vm->on && i < vm->nlabels; i++)
		for (size_t j = 0; j < vm->ninclude; j++)
			if (!strcmp(vm->labels[i], vm->include[j])) {
				error_at(p, op_pos, "label \"%s\" must not occur in ON and GROUP "
						    "clause at once", vm->labels[i]);
				return false;
			}
	if (lt != PROMQL_TYPE_SCALAR && lt != PROMQL_TYPE_VECTOR) {
		error_at(p, n->lhs->pos, "binary expression must contain only scalar and instant "
					 "vector types");
		return false;
	}
	if (rt != PROMQL_TYPE_SCALAR && rt != PROMQL_TYPE_VECTOR) {
		error_at(p, n->rhs->pos, "binary expression must contain only scalar and instant "
					 "vector types");
		return false;
	}
	if (lt != PROMQL_TYPE_VECTOR || rt != PROMQL_TYPE_VECTOR) {
		if (vm->nlabels || vm->on || vm->card == CARD_MANY_TO_ONE ||
		    vm->card == CARD_ONE_TO_MANY) {
			if (vm->nlabels) {
				error_at(p, n->pos, "vector matching only allowed between instant "
						    "vectors");
				return false;
			}
		}
		n->vm = NULL;
	} else if (is_set_op(n->op)) {
		if (vm->card == CARD_ONE_TO_MANY || vm->card == CARD_MANY_TO_ONE) {
			error_at(p, n->pos, "no grouping allowed for \"%s\" operation", op_text(n->op));
			return false;
		}
	}
	if ((lt == PROMQL_TYPE_SCALAR || rt == PROMQL_TYPE_SCALAR) && is_set_op(n->op)) {
		error_at(p, n->pos, "set operator \"%s\" not allowed in binary scalar expression",
			 op_text(n->op));
		return false;
	}
	n->type = (lt == PROMQL_TYPE_SCALAR && rt == PROMQL_TYPE_SCALAR) ? PROMQL_TYPE_SCALAR
									  : PROMQL_TYPE_VECTOR;
	return true;
}

static struct promql_node *parse_expr(struct parser *p, int min_prec)
{
	struct promql_node *lhs;
	int chain = 0;

	if (++p->depth > PROMQL_MAX_DEPTH) {
		error_at(p, p->tok.start, "expression nests too deeply (more than %d levels)",
			 PROMQL_MAX_DEPTH);
		return NULL;
	}
	lhs = parse_unary(p);
	while (lhs && !failed(p)) {
		enum promql_tok op;
		int prec = binop_prec(p, &op);
		size_t op_pos = p->tok.start;
		struct promql_node *n;

		if (!prec || prec < min_prec)
			break;
		/* a chain a + b + c nests to the left: each link counts towards the depth the
		 * evaluator will recurse */
		if (++p->depth > PROMQL_MAX_DEPTH) {
			error_at(p, op_pos, "expression nests too deeply (more than %d levels)",
				 PROMQL_MAX_DEPTH);
			return NULL;
		}
		chain++;
		next(p);
		n = node_new(p, NODE_BINARY, lhs->pos);
		n->op = op;
		n->lhs = lhs;
		if (!parse_bin_modifiers(p, n))
			return NULL;
		n->rhs = parse_expr(p, op == TOK_POW ? prec : prec + 1);
		if (!n->rhs)
			return NULL;
		if (!check_binary(p, n, op_pos))
			return NULL;
		lhs = n;
	}
	p->depth -= 1 + chain;
	return failed(p) ? NULL : lhs;
}

int promql_parse(const char *input, struct promql_expr **out, char *err, size_t errlen)
{
	struct promql_expr *e;
	struct parser p = { 0 };
	size_t len = strlen(input);

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (len > PROMQL_MAX_QUERY_LEN) {
		if (errlen)
			snprintf(err, errlen, "query too long: %zu bytes (at most %d)", len,
				 PROMQL_MAX_QUERY_LEN);
		return PROMQL_E_BAD_DATA;
	}
	e = xcalloc(1, sizeof(*e));
	promql_arena_init(&e->arena);
	p.a = &e->arena;
	promql_lex_init(&p.l, input, len);
	next(&p);
	/* Nothing but blanks and comments: Prometheus's own message, at the start (1:1). */
	if (!failed(&p) && p.tok.type == TOK_EOF)
		error_at(&p, 0, "no expression found in input");
	else
		e->root = parse_expr(&p, 0);
	if (e->root && !failed(&p) && p.tok.type != TOK_EOF)
		unexpected(&p, NULL, NULL);
	if (!e->root && !failed(&p))
		error_at(&p, p.tok.start, "invalid expression");
	if (failed(&p)) {
		promql_lex_format_error(&p.l, err, errlen);
		promql_lex_release(&p.l);
		promql_expr_free(e);
		return PROMQL_E_BAD_DATA;
	}
	promql_lex_release(&p.l);
	*out = e;
	return 0;
}

enum promql_type promql_expr_type(const struct promql_expr *e)
{
	return e->root->type;
}

void promql_expr_free(struct promql_expr *e)
{
	if (!e)
		return;
	promql_arena_release(&e->arena);
	free(e);
}

int promql_parse_selector(const char *input, struct matcher **out, size_t *n, char *err,
			  size_t errlen)
{
	struct promql_arena a;
	struct parser p = { 0 };
	struct promql_node *sel = NULL;
	size_t len = strlen(input);

	*out = NULL;
	*n = 0;
	if (errlen)
		err[0] = '\0';
	if (len > PROMQL_MAX_SELECTOR_LEN) {
		if (errlen)
			snprintf(err, errlen, "selector too long: %zu bytes (at most %d)", len,
				 PROMQL_MAX_SELECTOR_LEN);
		return -EINVAL;
	}
	promql_arena_init(&a);
	p.a = &a;
	promql_lex_init(&p.l, input, len);
	next(&p);
	/* Keywords and function names are metric names here: only a selector can follow. */
	if (p.tok.type == TOK_IDENT || p.tok.type == TOK_LBRACE)
		sel = parse_vector_selector(&p);
	else
		unexpected(&p, NULL, NULL);
	if (sel && !failed(&p) && p.tok.type != TOK_EOF)
		unexpected(&p, NULL, NULL);
	if (failed(&p) || !sel) {
		promql_lex_format_error(&p.l, err, errlen);
		promql_lex_release(&p.l);
		promql_arena_release(&a);
		return -EINVAL;
	}
	*out = xcalloc(sel->nmatchers, sizeof(**out));
	for (size_t i = 0; i < sel->nmatchers; i++) {
		(*out)[i].name = xstrdup(sel->matchers[i].name);
		(*out)[i].op = sel->matchers[i].op;
		(*out)[i].value = xstrdup(sel->matchers[i].value);
	}
	*n = sel->nmatchers;
	promql_lex_release(&p.l);
	promql_arena_release(&a);
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
