#ifndef DW_COLLECTOR_LOGP_INT_H
#define DW_COLLECTOR_LOGP_INT_H

/*
 * Private to the parsers (logp.c, fmt_*.c, rule.c, fingerprint.c, ml.c): the shape of a built-in
 * format and the helpers every format shares. The tailer sees only logparse_int.h.
 * Collector thread only; nothing here reads a file (except the zone file read once by
 * logp_tz_load at logp_new) or the clock.
 */

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <string.h>

#include "collector/logparse_int.h"
#include "core/config.h"

/* Caps on what one entry may make us do: PCRE2's backtracking and recursion limits (a rule's
 * regex on a hostile line fails to match instead of spinning), and label values. */
#define LOGP_MATCH_LIMIT 100000
#define LOGP_DEPTH_LIMIT 10000
#define LOGP_MAX_LABEL_VALUE 128 /* bytes; longer values are cut at a UTF-8 boundary */
#define LOGP_MAX_RULES 256

/*
 * The first occurrence of needle[0..nlen) in s[0..n), or NULL: memchr (vectorised) for the
 * needle's first byte, then one compare. glibc's memmem builds a shift table on every call, which
 * costs more than the search itself on the short haystacks (one frame, one line) and the needles
 * that start with a rare byte ('\n', '[', ')') the parsers look for. nlen > 0.
 */
static inline const char *logp_find(const char *s, size_t n, const char *needle, size_t nlen)
{
	const char *end = s + n;

	while ((size_t)(end - s) >= nlen) {
		const char *c = memchr(s, needle[0], (size_t)(end - s) - nlen + 1);

		if (!c)
			return NULL;
		if (memcmp(c + 1, needle + 1, nlen - 1) == 0)
			return c;
		s = c + 1;
	}
	return NULL;
}

struct metric;
struct registry;
/*
 * registry_counter for a family counted from log events. The series a previous run stored are
 * created at once at their stored values (metric_create_seeded): after a restart a quiet series
 * (no error logged since) stays on /metrics and in the store, continuing, instead of vanishing
 * until its next event. Histograms are not seeded (they restart at 0, a counter reset).
 */
struct metric *logp_counter(struct registry *reg, const char *name, const char *help,
			    const char *const *label_names);

/* What ml.c asks a format about each line. */
enum ml_start {
	ML_CONT,             /* belongs to the pending entry */
	ML_START,            /* starts a new entry */
	ML_START_UNLESS_HEAD, /* starts a new entry, unless the pending entry is a single line that
			       * was itself a start (MariaDB's slow log: "# User@Host" opens an entry
			       * when the "# Time" line above it was left out) */
};

struct logp_format {
	const char *name;           /* as in the config's format: key */
	enum source_format id;
	/* Classify one line; NULL: every line is an entry of its own. Pure. */
	enum ml_start (*line_start)(const char *line, size_t len);
	/* Register the format's families in p->reg and set p->fmt_state. -EINVAL with 'err'. */
	int (*init)(struct logp *p, char *err, size_t errlen);
	/* Free p->fmt_state (may be NULL). */
	void (*release)(struct logp *p);
	/* Parse one entry. Returns true when the entry had the format's shape (its events were
	 * counted), false for unmatched. */
	bool (*parse)(struct logp *p, const char *text, size_t len, int64_t fallback_ms,
		      const struct logp_sink *sink);
};

/* The built-in formats, one file each, registered in logp.c's table. */
extern const struct logp_format logp_fmt_laravel;
extern const struct logp_format logp_fmt_mysql_error;
extern const struct logp_format logp_fmt_mysql_slow;
extern const struct logp_format logp_fmt_nginx;
extern const struct logp_format logp_fmt_regex;

/* A source's timezone: the UTC offsets of a TZif file's transitions (tzfile(5), the 64-bit
 * part). Read once at logp_new; conversion is then pure and thread-safe (no TZ, no mktime). */
struct logp_tz {
	int64_t *trans;    /* transition times, UTC seconds, increasing */
	int32_t *offs;     /* UTC offset in effect from trans[i] */
	size_t n;
	int32_t first_off; /* offset before the first transition (and for UTC: 0, n == 0) */
};

struct rule;

struct logp {
	const struct logp_format *fmt;
	struct registry *reg;
	const struct config *cfg;        /* borrowed: valid during logp_new only */
	const struct config_source *src; /* borrowed: valid during logp_new only (an element of
					  * cfg->sources: errors name it with config_source_error) */
	char *source;            /* the source's name */
	char *app_root;          /* NULL when not set; no trailing '/' */
	struct logp_tz tz;
	void *fmt_state;         /* the format's own (compiled regexes, families) */
	struct rule **rules;     /* the config's rules naming this source */
	size_t nrules;
	pcre2_match_context *mctx; /* the match and depth limits, shared by every regex */
	pcre2_match_data *md;      /* one match data, big enough for any of the regexes */
	int64_t t_ms;              /* the time of the entry being parsed (the format sets it) */
};

/* Compile 'pattern' with PCRE2 (UTF, with JIT when the platform has it). On error returns NULL
 * with "what: PCRE2 message at offset N" in 'err', or "PCRE2 message at offset N" when 'what'
 * is NULL (a pattern from the config, whose error names the key; N counts bytes). */
pcre2_code *logp_compile(const char *pattern, uint32_t flags, const char *what, char *err,
			 size_t errlen);
/* Match 're' against text[0..len) under the source's limits; returns the pcre2 result (>0 on a
 * match, with p->md filled). Uses JIT when compiled. */
int logp_match(struct logp *p, const pcre2_code *re, const char *text, size_t len);
/* Group i of the last match as (pointer, length); false when unset. */
bool logp_group(const struct logp *p, int i, const char *text, const char **s, size_t *n);

/* Local civil time (in the source's zone) to UTC milliseconds. */
int64_t logp_local_ms(const struct logp *p, int year, int mon, int day, int hour, int min,
		      int sec, int ms);
/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
int64_t logp_days_from_civil(int y, int m, int d);
/* Load zone 'name' ("UTC" or an IANA name under /usr/share/zoneinfo, or $TZDIR). Returns 0, or
 * -EINVAL (or -errno when the file exists but cannot be read) with the reason in 'err', without
 * the zone's name ("cannot read PATH: REASON"): the caller names the setting. */
int logp_tz_load(struct logp_tz *tz, const char *name, char *err, size_t errlen);
void logp_tz_release(struct logp_tz *tz);

/*
 * Parse a timestamp at s (n bytes available): "YYYY-MM-DD HH:MM:SS" or with 'T', an optional
 * fraction (kept to the millisecond) and an optional zone "Z" or "+HH:MM" / "+HHMM"; without a
 * zone it is local time in the source's zone. Returns the bytes used (0: not a timestamp).
 */
size_t logp_parse_iso(const struct logp *p, const char *s, size_t n, int64_t *ms);
/* Parse exactly 'n' decimal digits at s; -1 when one is not a digit. */
int logp_digits(const char *s, size_t n);

/*
 * Make a label value safe for the registry and the exposition: at most LOGP_MAX_LABEL_VALUE
 * bytes (cut at a UTF-8 boundary), invalid UTF-8 and control bytes replaced by '?'. Writes a
 * NUL-terminated string into out (LOGP_MAX_LABEL_VALUE + 1 bytes). Returns out.
 */
char *logp_label_value(char out[LOGP_MAX_LABEL_VALUE + 1], const char *s, size_t n);

/* Count/observe and tell the sink. */
void logp_count(const struct logp_sink *sink, struct series *s, double delta, int64_t t_ms);
void logp_observe(const struct logp_sink *sink, struct series *s, double v, int64_t t_ms);

/* ---- rules (rule.c) ---- */

/* Compile config rule 'cr' (an element of cfg->rules): its regex, its named groups as label
 * names, its family in 'reg'. Returns 0, or -EINVAL with config_rule_error's line in 'err'
 * ("FILE:LINE:COL: rules[I].KEY: ..."; for a regex, PCRE2's message and offset). */
int rule_new(const struct config *cfg, const struct config_rule *cr, struct registry *reg,
	     struct rule **out, char *err, size_t errlen);
void rule_free(struct rule *r);
/* Apply the rule to one entry (cheap literal prefilter first). Returns true when it matched. */
bool rule_apply(struct rule *r, struct logp *p, const char *text, size_t len, int64_t t_ms,
		const struct logp_sink *sink);

/* ---- fingerprints (fingerprint.c) ---- */

/* What fingerprint.c needs to know of one Laravel exception entry. */
struct fp_input {
	const char *class_name;  /* outermost class, unescaped (borrowed) */
	const char *message;     /* the exception's message, unescaped (borrowed) */
	size_t message_len;
	const char *trace;       /* the outermost exception's "[stacktrace]" lines, raw (JSON-escaped
				  * as in the log); NULL when none */
	size_t trace_len;
	const char *throw_file;  /* "at FILE:LINE" of the outermost exception; NULL when none */
	size_t throw_file_len;
	const char *app_root;    /* the source's app_root or NULL */
};

/* What it produces. Strings owned by the struct: fp_result_release(). */
struct fp_result {
	char fingerprint[33];
	char *message;   /* normalised message */
	char *location;  /* "file:function" of the top in-app frame, or "" */
};

/* Compute the fingerprint of one exception. Pure. */
void fp_compute(const struct fp_input *in, struct fp_result *out);
void fp_result_release(struct fp_result *r);
/* Normalise a message: numbers -> N, quoted values -> '?', SQL parameters after (SQL: -> ?.
 * Returns a new string (free()). */
char *fp_normalise_message(const char *msg, size_t len);
/* Normalise a frame's path: strip app_root (or any /releases/<stamp>/ prefix up to and
 * including it), report whether it is in-app. Writes into out (NUL-terminated, cut to outlen). */
bool fp_frame_in_app(const char *path, size_t len, const char *app_root, char *out,
		     size_t outlen);

#endif
