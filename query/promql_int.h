#ifndef DW_QUERY_PROMQL_INT_H
#define DW_QUERY_PROMQL_INT_H

/*
 * PromQL internals shared by the lexer, the parser, the function table and the evaluator. Only
 * query/ and tests/ include this header.
 *
 *   arena.c       per-query / per-expression bump allocator
 *   lex.c         tokens (Prometheus's promql/parser/lex.go) and Go string literals
 *   parse.c       recursive-descent parser with Prometheus's type checks; the selector entry
 *   selector.c    promql_parse_selector() and promql_quote()
 *   functions.c   the one table of functions and their implementations
 *   eval.c        the evaluator: selectors, subqueries, calls, results, limits
 *   binop.c       binary operators and vector matching
 *   aggr.c        aggregations
 *   source_store.c the source over the store
 */

#include <setjmp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/model.h"
#include "query/promql.h"

/* ---- arena ---- */

/* A bump allocator: many small allocations, all freed at once. Out of memory aborts. */
struct promql_arena {
	struct promql_arena_block *head;
	size_t total; /* bytes allocated in blocks, for statistics */
};

void promql_arena_init(struct promql_arena *a);
/* Free every block. The arena may be reused after promql_arena_init(). */
void promql_arena_release(struct promql_arena *a);
/* 'n' bytes aligned for any type, uninitialised (zeroed with _zalloc). */
void *promql_arena_alloc(struct promql_arena *a, size_t n);
void *promql_arena_zalloc(struct promql_arena *a, size_t n);
/* n * size bytes, aborting on overflow. */
void *promql_arena_array(struct promql_arena *a, size_t n, size_t size);
char *promql_arena_strndup(struct promql_arena *a, const char *s, size_t n);
char *promql_arena_strdup(struct promql_arena *a, const char *s);

/* ---- tokens ---- */

enum promql_tok {
	TOK_EOF,
	TOK_ERROR,
	TOK_IDENT,     /* names, keywords, metric names with ':' */
	TOK_NUMBER,
	TOK_DURATION,
	TOK_STRING,
	TOK_LPAREN,
	TOK_RPAREN,
	TOK_LBRACE,
	TOK_RBRACE,
	TOK_LBRACKET,
	TOK_RBRACKET,
	TOK_COMMA,
	TOK_COLON,
	TOK_AT,
	TOK_EQL,       /* = (matchers) */
	TOK_NEQ,
	TOK_EQL_REGEX,
	TOK_NEQ_REGEX,
	/* binary operators */
	TOK_ADD,
	TOK_SUB,
	TOK_MUL,
	TOK_DIV,
	TOK_MOD,
	TOK_POW,
	TOK_ATAN2,
	TOK_EQLC,      /* == */
	TOK_NEQC,      /* != as comparison (lexed as TOK_NEQ, converted by the parser) */
	TOK_LSS,
	TOK_LTE,
	TOK_GTR,
	TOK_GTE,
	TOK_LAND,
	TOK_LOR,
	TOK_LUNLESS,
};

struct promql_token {
	enum promql_tok type;
	size_t start; /* byte offset in the input */
	size_t end;
};

struct promql_lexer {
	const char *s;
	size_t len;
	size_t pos;
	bool in_braces;
	bool in_brackets;
	int paren_depth;
	struct buf str;     /* the decoded value of the last TOK_STRING */
	/* the first error: position and message (without the "line:col: parse error: " part) */
	bool failed;
	size_t err_pos;
	char err[256];
};

void promql_lex_init(struct promql_lexer *l, const char *s, size_t len);
void promql_lex_release(struct promql_lexer *l);
/* The next token; on a lexer error TOK_ERROR with l->failed set. */
void promql_lex_next(struct promql_lexer *l, struct promql_token *t);
/* Record the first error at byte 'pos' (later ones are ignored). */
void promql_lex_error(struct promql_lexer *l, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* "unexpected X[ in CONTEXT][, expected EXPECTED]" for token t, naming it as Prometheus does. */
void promql_lex_unexpected(struct promql_lexer *l, const struct promql_token *t,
			   const char *context, const char *expected);
/* Write "L:C: parse error: MSG" for the recorded error into err (errlen bytes, may be 0). */
void promql_lex_format_error(const struct promql_lexer *l, char *err, size_t errlen);
/* Parse a Prometheus duration ("1h30m", "5m", "100ms") of 'len' bytes into ms. */
bool promql_parse_duration(const char *s, size_t len, int64_t *ms);
/* Parse a number token as Go's strconv.ParseFloat (hex, Inf, NaN, exponents). */
bool promql_parse_number(const char *s, size_t len, double *v);
/* The documented name of a value type for messages: "instant vector", "range vector", ... */
const char *promql_type_doc(enum promql_type t);
/* Go's unicode.IsPrint, approximated (promql_quote and messages). */
bool promql_rune_printable(long cp);

/* ---- the AST ---- */

enum promql_node_kind {
	NODE_NUMBER,
	NODE_STRING,
	NODE_VECTOR_SEL,
	NODE_MATRIX_SEL, /* expr: the vector selector that carries offset and @ */
	NODE_SUBQUERY,
	NODE_PAREN,
	NODE_UNARY,
	NODE_BINARY,
	NODE_CALL,
	NODE_AGGR,
};

enum promql_at { AT_NONE, AT_TIME, AT_START, AT_END };

enum promql_card { CARD_ONE_TO_ONE, CARD_MANY_TO_ONE, CARD_ONE_TO_MANY, CARD_MANY_TO_MANY };

/* on/ignoring and group_left/group_right of a binary operator between two vectors. */
struct promql_vmatch {
	enum promql_card card;
	bool on;               /* on(...) given; else ignoring(...) (or nothing) */
	const char **labels;   /* the on / ignoring labels */
	size_t nlabels;
	const char **include;  /* group_x(...) labels, taken from the "one" side */
	size_t ninclude;
};

struct promql_func;

struct promql_node {
	enum promql_node_kind kind;
	enum promql_type type;
	size_t pos;                 /* byte offset where the node starts */
	double num;                 /* NUMBER */
	const char *str;            /* STRING */
	/* VECTOR_SEL */
	struct matcher *matchers;   /* metric name first when given */
	size_t nmatchers;
	/* VECTOR_SEL and SUBQUERY: the modifiers */
	int64_t offset_ms;
	bool has_offset;
	enum promql_at at;
	int64_t at_ms;
	/* MATRIX_SEL, SUBQUERY */
	int64_t range_ms;
	int64_t step_ms;            /* SUBQUERY: 0 for the default */
	/* MATRIX_SEL, SUBQUERY, PAREN, UNARY, AGGR: the operand */
	struct promql_node *expr;
	enum promql_tok op;         /* UNARY, BINARY; AGGR: the aggregator */
	/* BINARY */
	struct promql_node *lhs, *rhs;
	bool return_bool;
	struct promql_vmatch *vm;   /* both sides vectors */
	/* CALL */
	const struct promql_func *func;
	struct promql_node **args;
	size_t nargs;
	/* AGGR */
	int aggr;                   /* enum promql_aggr */
	struct promql_node *param;
	const char **grouping;
	size_t ngrouping;
	bool without;
};

enum promql_aggr {
	AGGR_SUM,
	AGGR_AVG,
	AGGR_COUNT,
	AGGR_MIN,
	AGGR_MAX,
	AGGR_GROUP,
	AGGR_STDDEV,
	AGGR_STDVAR,
	AGGR_TOPK,
	AGGR_BOTTOMK,
	AGGR_COUNT_VALUES,
	AGGR_QUANTILE,
};

struct promql_expr {
	struct promql_arena arena;
	struct promql_node *root;
};

/* The aggregator named s (len bytes), or -1. */
int promql_aggr_lookup(const char *s, size_t len);

/* ---- evaluation ---- */

/*
 * Values are evaluated over all steps at once, as Prometheus's rangeEval does: a scalar is one
 * double per step, an instant vector a set of series each with one double per step where a step
 * without a sample holds PROMQL_ABSENT. A range vector (only ever a function argument or the
 * result of an instant query) is a set of series with their raw samples.
 */
#define PROMQL_ABSENT_BITS 0x7ff0000000000003ULL

struct promql_vseries {
	struct label *labels; /* sorted by model_label_cmp, arena-owned */
	size_t nlabels;
	double *v;            /* nsteps values, PROMQL_ABSENT_BITS where absent */
};

struct promql_rseries {
	struct label *labels;
	size_t nlabels;
	int64_t *t;
	double *v;
	size_t n;
};

struct promql_value {
	enum promql_type type;
	double *scalar;                 /* SCALAR: nsteps values */
	struct promql_vseries *vs;      /* VECTOR */
	size_t nvs;
	struct promql_rseries *rs;      /* MATRIX */
	size_t nrs;
	const char *str;                /* STRING */
};

/* A series collector: distinct label sets, each with values over the steps; reports two values
 * for one label set at one step. Insertion-ordered. */
struct promql_outset {
	struct promql_vseries *s;
	uint64_t *hash;
	size_t n, cap;
	int32_t *table;                 /* open addressing, indexes into s */
	size_t tcap;
};

struct promql_ev;

/* Label sets to dense indexes (groups, matching signatures). The label arrays are borrowed. */
struct promql_lsmap {
	const struct label **l;
	size_t *nl;
	uint64_t *hash;
	size_t n, cap;
	int32_t *table;
	size_t tcap;
};

void promql_lsmap_init(struct promql_lsmap *m);
/* The index of the label set (sorted), added when new. */
size_t promql_lsmap_get(struct promql_ev *ev, struct promql_lsmap *m, const struct label *l,
			size_t n);
void promql_lsmap_release(struct promql_lsmap *m);
/* Labels printed as Prometheus's labels.String(): {a="x", b="y"} (into the arena). */
const char *promql_labels_str(struct promql_ev *ev, const struct label *l, size_t n);

struct promql_ev {
	const struct promql_source *src;
	struct promql_arena *a;        /* the result's arena: everything lives until the end */
	int64_t start, end, interval;  /* the current evaluation: start + k * interval <= end */
	size_t nsteps;
	int64_t q_start, q_end;        /* the query's, for @ start() / end() */
	struct promql_limits lim;
	uint64_t samples;              /* held now (loaded raw samples) */
	uint64_t loaded;
	uint64_t peak;
	uint64_t poll;                 /* work done: calls to promql_ev_poll, samples held */
	uint64_t next_check;           /* poll at which the clock is read next */
	int code;                      /* the error, once failed */
	char *err;
	size_t errlen;
	jmp_buf jb;
};

/* Stop evaluation with 'code' and a message (longjmp to the top). */
void promql_ev_fail(struct promql_ev *ev, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* Check deadline and cancellation now and then (cheap to call in inner loops): one unit of
 * work; the clock is read once per 1024 units. */
void promql_ev_poll(struct promql_ev *ev);
/* The same for 'units' of work done at once (a loop over that many steps or samples just run):
 * the clock is read when 1024 units have passed since its last reading. */
void promql_ev_work(struct promql_ev *ev, uint64_t units);
/* Account for 'n' more samples held; fails with PROMQL_E_TOO_MANY_SAMPLES past the limit. Each
 * sample held is a unit of work for the deadline too, so a node that fills millions of steps
 * (a subquery at a fine resolution) checks the clock as it goes. */
void promql_ev_hold(struct promql_ev *ev, uint64_t n);
/* An instant vector selector; with 'timestamps' the values are the samples' times in seconds. */
void promql_eval_selector(struct promql_ev *ev, const struct promql_node *sel, bool timestamps,
			  struct promql_value *out);
/* Evaluate a node over the current steps. */
void promql_ev_eval(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out);
/* The time of step k. */
static inline int64_t promql_ev_ts(const struct promql_ev *ev, size_t k)
{
	return ev->start + (int64_t)k * ev->interval;
}

double promql_absent(void);
static inline bool promql_is_absent(double v)
{
	union {
		double d;
		uint64_t u;
	} x = { .d = v };
	return x.u == PROMQL_ABSENT_BITS;
}

/* A new vseries value array (nsteps) all absent. */
double *promql_ev_values(struct promql_ev *ev);

void promql_outset_init(struct promql_outset *o);
/* The slot of label set 'labels' (sorted; copied into the arena when new). */
struct promql_vseries *promql_outset_get(struct promql_ev *ev, struct promql_outset *o,
					 const struct label *labels, size_t n);
/* Put v at step k in slot s; fails "vector cannot contain metrics with the same labelset" (or
 * 'dupmsg' when not NULL) when the slot already has a value there. */
void promql_outset_put(struct promql_ev *ev, struct promql_vseries *s, size_t k, double v,
		       const char *dupmsg);
void promql_outset_release(struct promql_outset *o);
/* Make 'out' the instant-vector value holding o's series (copied into the arena), and release
 * 'o': how every operator and function that builds a vector ends. */
void promql_outset_finish(struct promql_ev *ev, struct promql_outset *o, struct promql_value *out);

/* Label helpers over arena memory. */
struct label *promql_labels_drop_name(struct promql_ev *ev, const struct label *l, size_t n,
				      size_t *out_n);
/* The labels of l that are (keep=true) / are not (keep=false) in names[]; __name__ also dropped
 * when drop_name. */
struct label *promql_labels_filter(struct promql_ev *ev, const struct label *l, size_t n,
				   const char *const *names, size_t nnames, bool keep, bool drop_name,
				   size_t *out_n);
/* l with label name set to value (removed when value is empty), sorted. */
struct label *promql_labels_set(struct promql_ev *ev, const struct label *l, size_t n,
				const char *name, const char *value, size_t *out_n);

/* Binary operators and aggregations (binop.c, aggr.c). */
void promql_eval_binary(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out);
void promql_eval_aggr(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out);
/* One scalar binary operation as Prometheus's vectorElemBinop: value and whether to keep it. */
double promql_binop_apply(enum promql_tok op, double l, double r, bool *keep);
bool promql_tok_is_comparison(enum promql_tok op);

/* ---- functions ---- */

/* One window of a range vector at one step, for the *_over_time family and rate. */
struct promql_window {
	const int64_t *t;
	const double *v;
	size_t n;                /* >= 1 */
	int64_t ts;              /* the step's time (before offset) */
	int64_t range_start;     /* the window's bounds, after offset and @ */
	int64_t range_end;
	int64_t range_ms;
	const double *sargs;     /* the scalar arguments at this step, in argument order */
	/* Counter resets inside the window, for the functions with promql_func.resets: when
	 * 'resets_known', reset_prev[0..nresets) are v[i - 1] for each i >= 1 of the window with
	 * v[i] < v[i - 1], in order (found once per series by the caller, so overlapping windows
	 * do not walk their samples again); else the function walks the window itself. */
	bool resets_known;
	const double *reset_prev;
	size_t nresets;
};

enum promql_func_kind {
	FUNC_ELEM,    /* f(value, scalar args) per sample; drops __name__ */
	FUNC_RANGE,   /* f(window) per series and step; drops __name__ except last_over_time */
	FUNC_SPECIAL, /* its own evaluation */
};

#define PROMQL_FUNC_MAX_ARGS 8

struct promql_func {
	const char *name;
	enum promql_type args[PROMQL_FUNC_MAX_ARGS];
	int nargs;                 /* the types given in args[] */
	int min_args;              /* fewer is an error */
	bool variadic;             /* the last type repeats */
	enum promql_type ret;
	enum promql_func_kind kind;
	double (*elem)(double v, const double *sargs);
	bool (*range)(const struct promql_window *w, double *out);
	void (*special)(struct promql_ev *ev, const struct promql_node *call,
			struct promql_value *out);
	bool keep_name;            /* FUNC_RANGE: last_over_time keeps __name__ */
	bool presence;             /* FUNC_RANGE: reads w->n only, never the values, so the
				    * source may skip decoding them (PROMQL_WANT_PRESENCE) */
	bool resets;               /* FUNC_RANGE: reads the window's counter resets, which the
				    * caller may give (promql_window.resets_known) */
};

/* The function named s (len bytes), or NULL. */
const struct promql_func *promql_func_lookup(const char *s, size_t len);
/* round() called with one argument (to the nearest 1). */
const struct promql_func *promql_func_round1(void);
/* Prometheus's quantile() over n values (sorted in place, NaN first). */
double promql_quantile(double q, double *v, size_t n);

/* Evaluate a call (eval.c drives FUNC_ELEM and FUNC_RANGE; special ones in functions.c). */
void promql_eval_call(struct promql_ev *ev, const struct promql_node *n, struct promql_value *out);
/* Work on one series of a range argument; r and its arrays are valid only for the call. */
typedef void (*promql_series_fn)(struct promql_ev *ev, void *ctx, const struct promql_rseries *r);
/* A range-vector argument (matrix selector or subquery) for all steps: each series is passed to
 * fn once (streamed from the source for a selector), and *te holds the end of each step's window
 * [te - range, te]. With 'presence' fn reads the samples' count and times only, never their
 * values (stale markers are gone either way), so a selector asks the source for
 * PROMQL_WANT_PRESENCE. */
void promql_range_arg_each(struct promql_ev *ev, const struct promql_node *n, bool presence,
			   int64_t **te,
			   int64_t *range_ms, promql_series_fn fn, void *ctx);
/* The labels absent() / absent_over_time() give for argument n. */
struct label *promql_absent_labels(struct promql_ev *ev, const struct promql_node *n,
				   size_t *out_n);

/* Go's strconv.FormatFloat(v, 'f', -1, 64), for count_values. */
void promql_format_float_f(char *out, size_t outlen, double v);

#endif
