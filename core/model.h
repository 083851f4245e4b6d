#ifndef DW_CORE_MODEL_H
#define DW_CORE_MODEL_H

/*
 * The data model every module shares, as Prometheus keeps model/labels apart from its storage:
 * labels and label sets, label matchers, metric types, the stale marker, the name rules, UTF-8,
 * the label-set hash, and the logged exception the log parsers report and the error catalog keeps. A module that needs a label or a matcher includes this header, never
 * another module's header for it.
 *
 * Everything here is pure and thread-safe, except that one compiled matcher
 * (struct model_matcher_prog) is used by one thread at a time.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- metric types ---- */

/*
 * A family's type, as the exposition formats name them. The numeric values are stored on disk
 * (store-format.md: the series record's type byte): append new types, never renumber.
 */
enum metric_type {
	METRIC_COUNTER = 0,
	METRIC_GAUGE = 1,
	METRIC_HISTOGRAM = 2,
	METRIC_SUMMARY = 3,
	METRIC_UNTYPED = 4, /* Prometheus text "untyped", OpenMetrics "unknown" */
};

/* "counter", "gauge", "histogram", "summary", "untyped"; "unknown" for a value outside the enum
 * (a type byte from a newer store). Static string. */
const char *model_metric_type_name(enum metric_type t);

/* ---- the stale marker ---- */

/* Prometheus's stale marker (value.StaleNaN): a NaN with this payload means "the series ended
 * here". Compare bits, never with ==: every NaN compares unequal. */
#define MODEL_STALE_NAN_BITS 0x7ff0000000000002ULL

/* The stale marker as a double. */
double model_stale_nan(void);
/* Is 'v' the stale marker (bit for bit; an ordinary NaN is not)? */
bool model_is_stale(double v);

/* ---- names ---- */

/* The label that carries the metric name in a label set. */
#define MODEL_NAME_LABEL "__name__"

/*
 * Prometheus's legacy name rules (model.IsValidMetricName / LabelName.IsValid, the rules of
 * Prometheus 2.42, which the exposition formats and PromQL's lexer use):
 *   metric name  [a-zA-Z_:][a-zA-Z0-9_:]*
 *   label name   [a-zA-Z_][a-zA-Z0-9_]*
 * 's' is 'len' bytes (need not be NUL-terminated); the empty name is invalid.
 */
bool model_metric_name_valid(const char *s, size_t len);
bool model_label_name_valid(const char *s, size_t len);

/*
 * Label names starting with "__" are reserved for Prometheus's internal use (__name__, and the
 * __meta_* / __address__ labels relabelling removes). They are valid names: a stored series has
 * __name__, and the store accepts any valid name. Producers of new series (the registry, log
 * rules, config) refuse reserved names for the labels they define, so no user-chosen label can
 * collide with __name__. NUL-terminated 's'.
 */
bool model_label_name_reserved(const char *s);

/* ---- labels and label sets ---- */

/* One label. The strings' lifetime is the owner's: each user of the type says whose they are. */
struct label {
	const char *name;
	const char *value;
};

/*
 * The order of labels in a label set everywhere in deploywatch (the store's canonical bytes,
 * dump, the query API): __name__ first, then byte order of the names. Returns <0, 0, >0.
 */
int model_label_cmp(const struct label *a, const struct label *b);
/* Sort 'n' labels in model_label_cmp order (stable; a label set is small). */
void model_labels_sort(struct label *labels, size_t n);
/* The value of label 'name' in 'labels' (any order), or NULL when absent. */
const char *model_labels_get(const struct label *labels, size_t n, const char *name);

/*
 * Compare two label sets, each sorted by model_label_cmp: names then values, pairwise, the shorter
 * set first when one is a prefix of the other. Returns <0, 0, >0.
 */
int model_labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb);

/* ---- hashing ---- */

/* 64-bit FNV-1a. Start with MODEL_FNV1A_INIT and feed bytes in any pieces. The store keeps hashes
 * of canonical label bytes on disk (store-format.md), so this function never changes. */
#define MODEL_FNV1A_INIT 0xcbf29ce484222325ULL
uint64_t model_fnv1a(uint64_t h, const void *data, size_t len);

/*
 * The label-set hash: FNV-1a over each name and value, each followed by a 0xff byte (which no
 * UTF-8 text contains, so ("a","bc") and ("ab","c") differ). The labels are hashed in the order
 * given: sort them first for a hash that ignores order. In-memory only (never stored).
 */
uint64_t model_labels_hash(const struct label *labels, size_t n);

/* ---- UTF-8 ---- */

/*
 * Decode the UTF-8 sequence at 's' (len > 0 bytes available). Returns the code point and sets
 * *size to its length, or returns -1 with *size = 1 for an invalid byte: a bad lead or
 * continuation byte, a cut-off sequence, an overlong form, a surrogate (U+D800..U+DFFF) or a code
 * point past U+10FFFF — Go's utf8.DecodeRune rules, which Prometheus applies.
 */
long model_utf8_decode(const unsigned char *s, size_t len, size_t *size);
/* Is 's' (len bytes) entirely valid UTF-8 by the rules above? NUL bytes are valid UTF-8. */
bool model_utf8_valid(const void *s, size_t len);

/* ---- label matchers ---- */

/* The four PromQL matcher operators: =, !=, =~, !~. */
enum matcher_op { MATCH_EQ, MATCH_NEQ, MATCH_RE, MATCH_NRE };

/* A label matcher as written. The strings' lifetime is the owner's. */
struct matcher {
	const char *name;
	enum matcher_op op;
	const char *value; /* the literal, or the regex for MATCH_RE / MATCH_NRE */
};

/* "=", "!=", "=~", "!~". Static string. */
const char *model_matcher_op_str(enum matcher_op op);

/* Longest regex accepted in a matcher. */
#define MODEL_MAX_REGEX_LEN 4096

/* A compiled matcher: the regex compiled once (PCRE2, with JIT when available). */
struct model_matcher_prog;

/*
 * Compile 'm' with Prometheus 2.42's semantics: a regex is fully anchored (`^(?:re)$`, where $
 * does not match before a final newline), UTF mode, and `.` does not match a newline (Go's RE2
 * default; Prometheus 3 turned (?s) on: a documented difference). The pattern must be at most
 * MODEL_MAX_REGEX_LEN bytes. 'm' is copied: it may go away after.
 * Returns 0 and *out (free with model_matcher_prog_free()), or -EINVAL with a message such as
 * `invalid regex for label job: missing closing parenthesis at offset 1` (for "(": offsets are
 * into the pattern as written) in 'err' (errlen bytes, may be 0). Any thread.
 */
int model_matcher_compile(const struct matcher *m, struct model_matcher_prog **out, char *err,
			  size_t errlen);

/*
 * Does the label value 'v' (len bytes; a missing label is the empty value "") satisfy the
 * matcher? Prometheus's rule: a series that lacks the label has it with the empty value, so
 * `x=""` and `x!~".+"` match series without x. Uses the prog's match data: one thread at a time
 * per prog.
 */
bool model_matcher_matches(struct model_matcher_prog *p, const char *v, size_t len);
/* Does the matcher match the empty value (so also series that lack the label)? */
bool model_matcher_matches_empty(const struct model_matcher_prog *p);
/* The matcher as compiled (its strings owned by the prog). */
const struct matcher *model_matcher_prog_matcher(const struct model_matcher_prog *p);
/* Free a compiled matcher. NULL is a no-op. */
void model_matcher_prog_free(struct model_matcher_prog *p);

/* ---- logged exceptions ---- */

/*
 * One exception a log entry carries: what the log parsers report (collector/) and what the error
 * catalog keeps (store/), one type on both sides of the seam, so the agent hands the parser's
 * report to store_catalog_buf_add() as it is (collector and store never include each other).
 * Ownership: nothing here is owned by the struct. Every pointer is borrowed from the reporter
 * (the parser's entry and its scratch buffers) for the duration of the one call that hands the
 * struct over (the parser's sink, the tailer's exception callback, store_catalog_buf_add); a
 * receiver that keeps anything copies it during that call. All strings are NUL-terminated.
 */
struct logged_exception {
	const char *fingerprint; /* 32 lowercase hex digits (128 bits; docs/formats.md) */
	const char *class_name;  /* outermost class, PHP spelling: Illuminate\Database\QueryException */
	const char *message;     /* normalised: numbers, quoted values and ids replaced */
	const char *location;    /* the top in-app frame as "file:function", or "" */
	const char *previous;    /* the previous exceptions' classes, outermost first, joined with
				  * ", "; "" when none (the catalog does not keep it) */
	const char *entry;       /* the whole entry, not NUL-terminated: the catalog's sample */
	size_t entry_len;
	int64_t t_ms;            /* the entry's log time, Unix milliseconds */
};

#endif
