/*
 * The YAML configuration (see core/config.h and docs/config.md).
 *
 * Two passes. First libyaml's event parser builds a small tree of our own (ynode): that keeps
 * every node's line and column for error messages, lets us refuse aliases (no billion laughs:
 * an alias is an error, never an expansion) and puts hard caps on size, node count and depth
 * before any of the configuration is looked at. Then a schema-driven walk over the tree fills
 * struct config, key table by key table, stopping at the first error with the key path, the
 * expected form and what was found.
 *
 * Divisions, in order: error messages (cfg_fail, quoting what was found); key paths; the YAML
 * tree (events to ynode, the caps); scalar values (strings, numbers, durations, sizes, booleans);
 * mappings driven by key tables; validators (entry names, time zones, listen addresses, bcrypt);
 * then one division per top-level section (storage, web, sources, rules, system, judge, limits
 * and log_level); last the public functions (config_parse, config_load_file, config_free...).
 */
#include "core/config.h"

#include "core/buf.h"
#include "core/model.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

#define CONFIG_MAX_BYTES ((size_t)1 << 20)   /* the whole file */
#define CONFIG_MAX_NODES 100000               /* scalars, sequences and mappings */
#define CONFIG_MAX_DEPTH 32                   /* nesting; the schema needs 4 */
#define CONFIG_MAX_STRING 4096                /* any one value (paths, patterns, expressions) */
#define CONFIG_MAX_ITEMS 256                  /* entries in any one list or user table */
#define CONFIG_MAX_NAME 64                    /* source and check names */
#define CONFIG_MAX_COMM 15                    /* TASK_COMM_LEN - 1: what /proc/PID/comm holds */
#define CONFIG_MAX_SERIES_LIMIT 1000000
#define CONFIG_MAX_WEB_CONNECTIONS 65536      /* exporters.h: HTTP_MAX_CONNECTIONS */
#define CONFIG_MAX_WEB_REQUESTS 10000         /* exporters.h: HTTP_MAX_REQUESTS */

#define EMBEDDED_NAME "<embedded default>"

/* Room for one quoted value in a message: 48 input bytes, each at most 4 bytes escaped. */
#define GOT_MAX 208
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

enum ynode_kind { YNODE_SCALAR, YNODE_SEQUENCE, YNODE_MAPPING };

/* One node of the parsed YAML document. */
struct ynode {
	enum ynode_kind kind;
	unsigned long line, col;  /* 1-based position where the node starts */
	char *value;              /* scalars: owned text, NUL-terminated; NULL otherwise */
	size_t len;               /* bytes in value (escapes can put NULs inside) */
	bool plain;               /* scalar written without quotes or block indicators */
	struct ynode **kids;      /* sequence items, or mapping key, value, key, value ... */
	size_t nkids;
	size_t capkids;
};

/* State of one config_parse call. */
struct cfg_parser {
	const char *file;         /* borrowed: the name used in messages */
	char *err;                /* borrowed: the caller's message buffer (may be NULL) */
	size_t errlen;
	size_t nnodes;            /* nodes built so far, against CONFIG_MAX_NODES */
	char path[256];           /* key path of the value being read, "storage.retention" */
	size_t pathlen;
	const struct ynode *rules_node; /* the rules sequence, for checks after the whole walk */
};

/* ---- error messages ---- */

/*
 * The one formatter of configuration errors, for those found while parsing (cfg_fail) and those
 * found later by the collector (config_source_error, config_rule_error): write
 * "FILE:LINE:COL: KEY: message" into 'err'. Always returns -EINVAL.
 */
static int __attribute__((format(printf, 7, 0)))
cfg_vformat(char *err, size_t errlen, const char *file, unsigned long line, unsigned long col,
	    const char *key, const char *fmt, va_list ap)
{
	int n;

	if (!err || errlen == 0)
		return -EINVAL;
	n = snprintf(err, errlen, "%s:%lu:%lu: %s: ", file, line, col, key);
	if (n >= 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	return -EINVAL;
}

/* Write "FILE:LINE:COL: PATH: message" into the caller's buffer. Always returns -EINVAL. */
static int __attribute__((format(printf, 4, 5)))
cfg_fail(struct cfg_parser *p, unsigned long line, unsigned long col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_vformat(p->err, p->errlen, p->file, line, col, p->pathlen ? p->path : "(top level)",
		    fmt, ap);
	va_end(ap);
	return -EINVAL;
}

#define cfg_fail_at(p, node, ...) cfg_fail((p), (node)->line, (node)->col, __VA_ARGS__)

static bool ynode_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->kind != YNODE_SCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->value, nulls[i]) == 0)
			return true;
	return false;
}

/*
 * 'len' bytes of 's' as a double-quoted string escaped by buf_escape (control bytes as \xNN, so
 * a value cannot move the terminal), shortened to 48 bytes of input (never inside a UTF-8
 * sequence) with "..." when longer. 'outlen' must be at least GOT_MAX.
 */
static void cfg_quote(const char *s, size_t len, char *out, size_t outlen)
{
	char shown[GOT_MAX - 6]; /* 48 bytes escaped are at most 192 */
	size_t end = len < 48 ? len : 48;

	while (end < len && end > 0 && ((unsigned char)s[end] & 0xc0) == 0x80)
		end--;
	snprintf(out, outlen, "\"%s%s\"", buf_escape(shown, sizeof(shown), s, end),
		 end < len ? "..." : "");
}

/* How a node reads in "got ...": the quoted scalar, "null", "a sequence", "a mapping". */
static const char *cfg_got(const struct ynode *n, char *buf, size_t len)
{
	if (n->kind == YNODE_SEQUENCE)
		return "a sequence";
	if (n->kind == YNODE_MAPPING)
		return "a mapping";
	if (ynode_is_null(n))
		return "null";
	cfg_quote(n->value, n->len, buf, len);
	return buf;
}


/* ---- key paths ---- */

/* Append a segment to the key path; returns the old length for cfg_path_pop. */
static size_t __attribute__((format(printf, 2, 3))) cfg_path_push(struct cfg_parser *p,
								 const char *fmt, ...)
{
	size_t old = p->pathlen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->path + p->pathlen, sizeof(p->path) - p->pathlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		p->pathlen += (size_t)n;
	if (p->pathlen >= sizeof(p->path))
		p->pathlen = sizeof(p->path) - 1;
	return old;
}

/* Push ".key" (or "key" at the top), escaped by buf_escape (control bytes as \xNN). */
static size_t cfg_path_key(struct cfg_parser *p, const char *key, size_t keylen)
{
	char clean[80];

	buf_escape(clean, sizeof(clean), key, keylen);
	return cfg_path_push(p, "%s%s", p->pathlen ? "." : "", clean);
}

static void cfg_path_pop(struct cfg_parser *p, size_t old)
{
	p->pathlen = old;
	p->path[old] = '\0';
}

/* ---- the YAML tree ---- */

static void ynode_free(struct ynode *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		ynode_free(n->kids[i]);
	free(n->kids);
	free(n->value);
	free(n);
}

static void ynode_append(struct ynode *parent, struct ynode *kid)
{
	if (parent->nkids == parent->capkids) {
		parent->capkids = parent->capkids ? parent->capkids * 2 : 8;
		parent->kids = xrealloc(parent->kids, parent->capkids * sizeof(*parent->kids));
	}
	parent->kids[parent->nkids++] = kid;
}

/* The value under 'key' in mapping 'map', or NULL. */
static const struct ynode *ynode_get(const struct ynode *map, const char *key)
{
	size_t klen = strlen(key);

	if (!map || map->kind != YNODE_MAPPING)
		return NULL;
	for (size_t i = 0; i + 1 < map->nkids; i += 2) {
		const struct ynode *k = map->kids[i];

		if (k->kind == YNODE_SCALAR && k->len == klen && memcmp(k->value, key, klen) == 0)
			return map->kids[i + 1];
	}
	return NULL;
}

/* Rebuild p->path from the builder's stack, to place a YAML syntax error. */
static void cfg_path_from_stack(struct cfg_parser *p, struct ynode **stack, size_t depth)
{
	cfg_path_pop(p, 0);
	for (size_t i = 0; i < depth; i++) {
		const struct ynode *n = stack[i];
		bool deepest = i + 1 == depth;

		if (n->kind == YNODE_SEQUENCE) {
			cfg_path_push(p, "[%zu]", deepest ? n->nkids : n->nkids - 1);
		} else if (n->kind == YNODE_MAPPING) {
			/* The key whose value is open: the last one, or the one before a nested
			 * value (none when the deepest mapping is between pairs). */
			size_t k = n->nkids - 1;

			if (n->nkids % 2 == 0)
				k = deepest ? n->nkids : n->nkids - 2;
			if (k < n->nkids && n->kids[k]->kind == YNODE_SCALAR)
				cfg_path_key(p, n->kids[k]->value, n->kids[k]->len);
		}
	}
}

/* Line and column (1-based) of byte 'off' in 'text', for reader errors that carry no mark. */
static void cfg_offset_position(const char *text, size_t len, size_t off, unsigned long *line,
				unsigned long *col)
{
	*line = 1;
	*col = 1;
	for (size_t i = 0; i < off && i < len; i++) {
		if (text[i] == '\n') {
			++*line;
			*col = 1;
		} else {
			++*col;
		}
	}
}

static int cfg_yaml_error(struct cfg_parser *p, const yaml_parser_t *yp, const char *text,
			  size_t len)
{
	unsigned long line = yp->problem_mark.line + 1, col = yp->problem_mark.column + 1;
	const char *problem = yp->problem ? yp->problem : "an unknown error";

	if (yp->error == YAML_MEMORY_ERROR) {
		fprintf(stderr, "deploywatch: out of memory parsing YAML\n");
		abort();
	}
	if (yp->error == YAML_READER_ERROR) {
		cfg_offset_position(text, len, yp->problem_offset, &line, &col);
		return cfg_fail(p, line, col, "expected valid UTF-8 YAML text, got \"%s\"",
				problem);
	}
	if (yp->context)
		return cfg_fail(p, line, col, "expected valid YAML, got \"%s\" %s at %zu:%zu",
				problem, yp->context, yp->context_mark.line + 1,
				yp->context_mark.column + 1);
	return cfg_fail(p, line, col, "expected valid YAML, got \"%s\"", problem);
}

/*
 * Parse 'text' into a tree. *root is NULL for a stream with no document (an empty file).
 * Returns 0 or -EINVAL with the message written.
 */
static int ytree_build(struct cfg_parser *p, const char *text, size_t len, struct ynode **root)
{
	struct ynode *stack[CONFIG_MAX_DEPTH];
	size_t depth = 0;
	int ndocs = 0, err = 0;
	bool done = false;
	yaml_parser_t yp;
	yaml_event_t ev;

	*root = NULL;
	if (!yaml_parser_initialize(&yp)) {
		fprintf(stderr, "deploywatch: out of memory starting the YAML parser\n");
		abort();
	}
	yaml_parser_set_input_string(&yp, (const unsigned char *)text, len);
	while (!done && !err) {
		struct ynode *n = NULL;

		if (!yaml_parser_parse(&yp, &ev)) {
			cfg_path_from_stack(p, stack, depth);
			err = cfg_yaml_error(p, &yp, text, len);
			break;
		}
		switch (ev.type) {
		case YAML_DOCUMENT_START_EVENT:
			if (++ndocs > 1)
				err = cfg_fail(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
					       "expected a single YAML document, got a second one");
			break;
		case YAML_ALIAS_EVENT:
			cfg_path_from_stack(p, stack, depth);
			err = cfg_fail(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
				       "expected a value written out, got an alias (*%s): "
				       "anchors and aliases are not supported",
				       (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (++p->nnodes > CONFIG_MAX_NODES) {
				cfg_path_from_stack(p, stack, depth);
				err = cfg_fail(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
					       "expected at most %d YAML nodes, got more",
					       CONFIG_MAX_NODES);
				break;
			}
			if (ev.type != YAML_SCALAR_EVENT && depth == CONFIG_MAX_DEPTH) {
				cfg_path_from_stack(p, stack, depth);
				err = cfg_fail(p, ev.start_mark.line + 1, ev.start_mark.column + 1,
					       "expected at most %d levels of nesting, got more",
					       CONFIG_MAX_DEPTH);
				break;
			}
			n = xcalloc(1, sizeof(*n));
			n->line = ev.start_mark.line + 1;
			n->col = ev.start_mark.column + 1;
			if (ev.type == YAML_SCALAR_EVENT) {
				n->kind = YNODE_SCALAR;
				n->len = ev.data.scalar.length;
				n->value = xstrndup((const char *)ev.data.scalar.value, n->len);
				n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
			} else {
				n->kind = ev.type == YAML_SEQUENCE_START_EVENT ? YNODE_SEQUENCE :
										 YNODE_MAPPING;
			}
			if (depth)
				ynode_append(stack[depth - 1], n);
			else
				*root = n;
			if (n->kind != YNODE_SCALAR)
				stack[depth++] = n;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&yp);
	cfg_path_pop(p, 0);
	if (err) {
		ynode_free(*root);
		*root = NULL;
	}
	return err;
}

/* ---- scalar values ---- */

/*
 * Read a string into *dst (replacing what was there). 'what' describes the expected form.
 * With 'optional', null and "" mean "not set" (*dst = NULL).
 */
static int cfg_string(struct cfg_parser *p, const struct ynode *n, char **dst, const char *what,
		      bool optional)
{
	char got[GOT_MAX];

	if (n->kind != YNODE_SCALAR || (ynode_is_null(n) && !optional))
		return cfg_fail_at(p, n, "expected %s, got %s", what, cfg_got(n, got, sizeof(got)));
	if (n->len == 0 || ynode_is_null(n)) {
		if (!optional)
			return cfg_fail_at(p, n, "expected %s, got an empty string", what);
		free(*dst);
		*dst = NULL;
		return 0;
	}
	if (strlen(n->value) != n->len)
		return cfg_fail_at(p, n, "expected %s, got text with a NUL byte", what);
	if (n->len > CONFIG_MAX_STRING)
		return cfg_fail_at(p, n, "expected %s of at most %d bytes, got %zu bytes", what,
				   CONFIG_MAX_STRING, n->len);
	free(*dst);
	*dst = xstrndup(n->value, n->len);
	return 0;
}

#define DURATION_FORM "a duration such as 30s, 5m, 2h or 7d"

/* Read a duration of at least 'min' milliseconds. */
static int cfg_duration(struct cfg_parser *p, const struct ynode *n, dw_millis *dst, dw_millis min)
{
	char got[GOT_MAX], minbuf[32];
	dw_millis v;

	if (n->kind != YNODE_SCALAR || ynode_is_null(n) || strlen(n->value) != n->len ||
	    duration_parse(n->value, &v))
		return cfg_fail_at(p, n, "expected " DURATION_FORM ", got %s",
				   cfg_got(n, got, sizeof(got)));
	if (v < min)
		return cfg_fail_at(p, n, "expected a duration of at least %s, got %s",
				   duration_format(min, minbuf, sizeof(minbuf)),
				   cfg_got(n, got, sizeof(got)));
	*dst = v;
	return 0;
}

/* Read a plain decimal integer in [min, max]; 'what' describes it. */
static int cfg_uint(struct cfg_parser *p, const struct ynode *n, unsigned long min,
		    unsigned long max, const char *what, unsigned long *dst)
{
	char got[GOT_MAX];
	unsigned long v = 0;
	bool ok = n->kind == YNODE_SCALAR && n->plain && n->len > 0 && n->len <= 10;

	for (size_t i = 0; ok && i < n->len; i++) {
		if (n->value[i] < '0' || n->value[i] > '9')
			ok = false;
		else
			v = v * 10 + (unsigned long)(n->value[i] - '0');
	}
	if (n->kind == YNODE_SCALAR && !n->plain)
		return cfg_fail_at(p, n, "expected %s, got the quoted string %s (write numbers "
				   "without quotes)", what, cfg_got(n, got, sizeof(got)));
	if (!ok || v < min || v > max)
		return cfg_fail_at(p, n, "expected %s, got %s", what, cfg_got(n, got, sizeof(got)));
	*dst = v;
	return 0;
}

/* Is 's' one of 'names'? Sets *idx. */
static bool cfg_lookup(const struct ynode *n, const char *const *names, size_t count, size_t *idx)
{
	if (n->kind != YNODE_SCALAR || strlen(n->value) != n->len)
		return false;
	for (size_t i = 0; i < count; i++) {
		if (strcmp(n->value, names[i]) == 0) {
			*idx = i;
			return true;
		}
	}
	return false;
}

/* Join 'names' with ", " for messages. */
static void cfg_join(const char *const *names, size_t count, char *out, size_t outlen)
{
	size_t o = 0;

	out[0] = '\0';
	for (size_t i = 0; i < count && o < outlen; i++) {
		int n = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", names[i]);

		if (n < 0)
			break;
		o += (size_t)n;
	}
}

/* ---- mappings, driven by key tables ---- */

struct cfg_key {
	const char *name;
	int (*set)(struct cfg_parser *p, const struct ynode *value, void *obj);
};

/*
 * Walk mapping 'n', calling each key's setter with 'obj'. Null is an empty mapping. Unknown,
 * duplicate and non-scalar keys are errors. *seen gets a bit per key index that was present.
 */
static int cfg_mapping(struct cfg_parser *p, const struct ynode *n, const struct cfg_key *keys,
		       size_t nkeys, void *obj, uint32_t *seen)
{
	/* Key tables are static and at most 32 long (one bit of 'seen' each). */
	const char *names[32];
	unsigned long first_line[32] = { 0 };
	char got[GOT_MAX], list[512];
	int err = 0;

	*seen = 0;
	for (size_t j = 0; j < nkeys; j++)
		names[j] = keys[j].name;
	cfg_join(names, nkeys, list, sizeof(list));
	if (ynode_is_null(n))
		return 0;
	if (n->kind != YNODE_MAPPING)
		return cfg_fail_at(p, n, "expected a mapping with the keys %s, got %s", list,
				   cfg_got(n, got, sizeof(got)));
	for (size_t i = 0; i + 1 < n->nkids && !err; i += 2) {
		const struct ynode *k = n->kids[i], *v = n->kids[i + 1];
		size_t j, old;

		if (k->kind != YNODE_SCALAR)
			return cfg_fail_at(p, k, "expected one of the keys %s, got %s as a key",
					   list, cfg_got(k, got, sizeof(got)));
		old = cfg_path_key(p, k->value, k->len);
		if (!cfg_lookup(k, names, nkeys, &j))
			err = cfg_fail_at(p, k, "expected one of the keys %s, got %s", list,
					  cfg_got(k, got, sizeof(got)));
		else if (*seen & (UINT32_C(1) << j))
			err = cfg_fail_at(p, k, "expected each key once, got %s again (first at "
					  "line %lu)", cfg_got(k, got, sizeof(got)), first_line[j]);
		else {
			*seen |= UINT32_C(1) << j;
			first_line[j] = k->line;
			err = keys[j].set(p, v, obj);
		}
		if (!err)
			cfg_path_pop(p, old);
	}
	return err;
}

/* A required key 'key' (index 'idx' of the table) absent from mapping 'n'. */
static int cfg_require(struct cfg_parser *p, const struct ynode *n, uint32_t seen, size_t idx,
		       const char *key, const char *what)
{
	if (seen & (UINT32_C(1) << idx))
		return 0;
	cfg_path_key(p, key, strlen(key));
	return cfg_fail_at(p, n, "expected %s, got no \"%s\" key", what, key);
}

/* A sequence node: null is empty; not a sequence, or over CONFIG_MAX_ITEMS entries, fails. */
static int cfg_sequence(struct cfg_parser *p, const struct ynode *n, const char *what,
			size_t *count)
{
	char got[GOT_MAX];

	*count = 0;
	if (ynode_is_null(n))
		return 0;
	if (n->kind != YNODE_SEQUENCE)
		return cfg_fail_at(p, n, "expected %s, got %s", what, cfg_got(n, got, sizeof(got)));
	if (n->nkids > CONFIG_MAX_ITEMS)
		return cfg_fail_at(p, n, "expected at most %d entries, got %zu", CONFIG_MAX_ITEMS,
				   n->nkids);
	*count = n->nkids;
	return 0;
}

/* ---- validators ---- */

/*
 * The name of a configuration entry (a source, a check): [a-zA-Z_][a-zA-Z0-9_-]*, at most
 * CONFIG_MAX_NAME bytes. Not a Prometheus name: these names are label values and CLI words,
 * where '-' reads naturally ("nginx-access"), so this rule is the config's own.
 */
static bool cfg_valid_entry_name(const char *s)
{
	size_t len = strlen(s);

	if (len == 0 || len > CONFIG_MAX_NAME)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '-'))
			return false;
	}
	return true;
}

/* "UTC" or an IANA zone name shape (Europe/Madrid, America/Argentina/Buenos_Aires, Etc/GMT+3). */
static bool cfg_valid_timezone(const char *s)
{
	size_t len = strlen(s);
	bool seg_start = true;

	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '/') {
			if (seg_start)
				return false;
			seg_start = true;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_' || c == '+' || c == '-' || (c == '.' && !seg_start)))
			return false;
		seg_start = false;
	}
	return !seg_start;
}

/* "host:port", ":port" or "[v6]:port" with a port 0..65535 (0: any free port, for tests). */
static bool cfg_valid_listen(const char *s)
{
	const char *colon = strrchr(s, ':');
	const char *port;
	unsigned long v = 0;

	if (!colon)
		return false;
	port = colon + 1;
	if (!*port || strlen(port) > 5)
		return false;
	for (const char *c = port; *c; c++) {
		if (*c < '0' || *c > '9')
			return false;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v > 65535)
		return false;
	if (s[0] == '[')
		return colon > s + 2 && colon[-1] == ']' &&
		       !memchr(s + 1, ']', (size_t)(colon - s - 2));
	for (const char *c = s; c < colon; c++)
		if (*c == ':' || *c == '[' || *c == ']' || *c == ' ' || *c == '/')
			return false;
	return true;
}

/* "$2a$" / "$2b$" / "$2y$", a two-digit cost 04..31, '$', 53 characters of bcrypt's base64. */
static bool cfg_valid_bcrypt(const char *s, size_t len)
{
	int cost;

	if (len != 60 || s[0] != '$' || s[1] != '2' ||
	    (s[2] != 'a' && s[2] != 'b' && s[2] != 'y') || s[3] != '$' || s[4] < '0' ||
	    s[4] > '9' || s[5] < '0' || s[5] > '9' || s[6] != '$')
		return false;
	cost = (s[4] - '0') * 10 + (s[5] - '0');
	if (cost < 4 || cost > 31)
		return false;
	for (size_t i = 7; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '/'))
			return false;
	}
	return true;
}

/* ---- storage ---- */

static int set_storage_path(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->storage.path,
			  "a directory path for the LMDB environment", false);
}

static int set_storage_retention(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->storage.retention, 1000);
}

static int set_storage_sample_interval(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->storage.sample_interval, 1000);
}

/* The smallest limit that holds a store's fixed records and a few chunks. */
#define STORAGE_MIN_SIZE ((uint64_t)1 << 20)

static int set_storage_max_size(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	uint64_t size;

	if (v->kind != YNODE_SCALAR || ynode_is_null(v) || strlen(v->value) != v->len ||
	    size_parse(v->value, &size) || (size && size < STORAGE_MIN_SIZE))
		return cfg_fail_at(p, v, "expected a size of at least 1MB such as 512MB or 10GB "
				   "(powers of two, as Prometheus's retention.size), or 0 for no "
				   "limit, got %s", cfg_got(v, got, sizeof(got)));
	((struct config *)obj)->storage.max_size = size;
	return 0;
}

static const struct cfg_key storage_keys[] = {
	{ "path", set_storage_path },
	{ "retention", set_storage_retention },
	{ "sample_interval", set_storage_sample_interval },
	{ "max_size", set_storage_max_size },
};

static int set_storage(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	const struct ynode *at;
	char a[32], got[GOT_MAX];
	uint32_t seen;
	int err;

	err = cfg_mapping(p, v, storage_keys, ARRAY_SIZE(storage_keys), cfg, &seen);
	if (err || cfg->storage.retention >= cfg->storage.sample_interval)
		return err;
	/* Blame whichever of the two the file set (retention if both). */
	at = ynode_get(v, "retention");
	if (at) {
		cfg_path_key(p, "retention", 9);
		return cfg_fail_at(p, at,
				   "expected a duration no shorter than sample_interval (%s), "
				   "got %s",
				   duration_format(cfg->storage.sample_interval, a, 32),
				   cfg_got(at, got, sizeof(got)));
	}
	at = ynode_get(v, "sample_interval");
	cfg_path_key(p, "sample_interval", 15);
	return cfg_fail_at(p, at, "expected a duration no longer than retention (%s), got %s",
			   duration_format(cfg->storage.retention, a, 32),
			   cfg_got(at, got, sizeof(got)));
}

/* ---- web ---- */

static int set_web_listen_address(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	static const char what[] = "host:port, :port or [ipv6]:port";
	struct config *cfg = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &cfg->web.listen_address, what, false);
	if (!err && !cfg_valid_listen(cfg->web.listen_address))
		err = cfg_fail_at(p, v, "expected %s, got %s", what, cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_web_tls_cert_file(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->web.tls_cert_file,
			  "a path to a PEM certificate file", true);
}

static int set_web_tls_key_file(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->web.tls_key_file,
			  "a path to a PEM private key file", true);
}

#define BCRYPT_FORM "a bcrypt hash ($2a$, $2b$ or $2y$, a cost 04 to 31, '$' and 53 characters)"

static int set_web_basic_auth_users(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	char got[GOT_MAX];

	if (ynode_is_null(v))
		return 0;
	if (v->kind != YNODE_MAPPING)
		return cfg_fail_at(p, v, "expected a mapping of user name to bcrypt hash, got %s",
				   cfg_got(v, got, sizeof(got)));
	if (v->nkids / 2 > CONFIG_MAX_ITEMS)
		return cfg_fail_at(p, v, "expected at most %d users, got %zu", CONFIG_MAX_ITEMS,
				   v->nkids / 2);
	cfg->web.users = xcalloc(v->nkids / 2, sizeof(*cfg->web.users));
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const struct ynode *k = v->kids[i], *h = v->kids[i + 1];
		struct config_user *u;
		size_t old;

		if (k->kind != YNODE_SCALAR || ynode_is_null(k) || strlen(k->value) != k->len ||
		    k->len > CONFIG_MAX_NAME || strpbrk(k->value, ":\r\n\t"))
			return cfg_fail_at(p, k,
					   "expected a user name (up to %d characters, no ':'), "
					   "got %s",
					   CONFIG_MAX_NAME, cfg_got(k, got, sizeof(got)));
		old = cfg_path_key(p, k->value, k->len);
		for (size_t j = 0; j < cfg->web.nusers; j++)
			if (strcmp(cfg->web.users[j].name, k->value) == 0)
				return cfg_fail_at(p, k, "expected each user once, got %s again",
						   cfg_got(k, got, sizeof(got)));
		/* Never echo the value: a plaintext password put here by mistake stays secret. */
		if (h->kind != YNODE_SCALAR)
			return cfg_fail_at(p, h, "expected " BCRYPT_FORM ", got %s",
					   cfg_got(h, got, sizeof(got)));
		if (!cfg_valid_bcrypt(h->value, h->len))
			return cfg_fail_at(p, h,
					   "expected " BCRYPT_FORM ", got a %zu-character value "
					   "that is not one",
					   h->len);
		u = &cfg->web.users[cfg->web.nusers++];
		u->name = xstrdup(k->value);
		u->bcrypt_hash = xstrdup(h->value);
		cfg_path_pop(p, old);
	}
	return 0;
}

static int set_web_max_connections(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, CONFIG_MAX_WEB_CONNECTIONS, "an integer 1 to 65536", &n);

	if (!err)
		((struct config *)obj)->web.max_connections = (unsigned)n;
	return err;
}

static int set_web_max_requests(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, CONFIG_MAX_WEB_REQUESTS, "an integer 1 to 10000", &n);

	if (!err)
		((struct config *)obj)->web.max_requests = (unsigned)n;
	return err;
}

static int set_web_read_timeout(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->web.read_timeout, 1000);
}

static int set_web_idle_timeout(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->web.idle_timeout, 1000);
}

static const struct cfg_key web_keys[] = {
	{ "listen_address", set_web_listen_address },
	{ "tls_cert_file", set_web_tls_cert_file },
	{ "tls_key_file", set_web_tls_key_file },
	{ "basic_auth_users", set_web_basic_auth_users },
	{ "max_connections", set_web_max_connections },
	{ "max_requests", set_web_max_requests },
	{ "read_timeout", set_web_read_timeout },
	{ "idle_timeout", set_web_idle_timeout },
};

static int set_web(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	uint32_t seen;
	int err;

	err = cfg_mapping(p, v, web_keys, ARRAY_SIZE(web_keys), cfg, &seen);
	if (err)
		return err;
	if (cfg->web.tls_cert_file && !cfg->web.tls_key_file) {
		cfg_path_key(p, "tls_key_file", 12);
		return cfg_fail_at(p, v, "expected a private key file to go with tls_cert_file, "
				   "got none");
	}
	if (cfg->web.tls_key_file && !cfg->web.tls_cert_file) {
		cfg_path_key(p, "tls_cert_file", 13);
		return cfg_fail_at(p, v, "expected a certificate file to go with tls_key_file, "
				   "got none");
	}
	return 0;
}

/* ---- sources ---- */

/* Where 'key' of mapping 'item' has its value; the mapping's own position when the key is absent
 * (or 'key' is NULL), as cfg_require points a missing key at its mapping. */
static struct config_pos cfg_pos_of(const struct ynode *item, const char *key)
{
	const struct ynode *v = key ? ynode_get(item, key) : NULL;

	if (!v)
		v = item;
	return (struct config_pos){ .line = v->line, .col = v->col };
}

static const char *const format_names[] = {
	[SOURCE_LARAVEL] = "laravel",
	[SOURCE_MYSQL_ERROR] = "mysql-error",
	[SOURCE_MYSQL_SLOW] = "mysql-slow",
	[SOURCE_NGINX] = "nginx",
	[SOURCE_REGEX] = "regex",
};

#define NFORMATS (sizeof(format_names) / sizeof(format_names[0]))

#define NAME_FORM "a name of letters, digits, '_' and '-' starting with a letter or '_'"

static int set_source_name(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_source *s = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &s->name, NAME_FORM, false);
	if (!err && !cfg_valid_entry_name(s->name))
		err = cfg_fail_at(p, v, "expected " NAME_FORM ", got %s",
				  cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_source_path(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_source *)obj)->path, "a file path or glob", false);
}

static int set_source_format(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_source *s = obj;
	char got[GOT_MAX], list[128];
	size_t idx;

	if (!cfg_lookup(v, format_names, NFORMATS, &idx)) {
		cfg_join(format_names, NFORMATS, list, sizeof(list));
		return cfg_fail_at(p, v, "expected one of %s, got %s", list,
				   cfg_got(v, got, sizeof(got)));
	}
	s->format = (enum source_format)idx;
	return 0;
}

static int set_source_timezone(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	static const char what[] = "UTC or an IANA time zone name such as Europe/Madrid";
	struct config_source *s = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &s->timezone, what, false);
	if (!err && !cfg_valid_timezone(s->timezone))
		err = cfg_fail_at(p, v, "expected %s, got %s", what, cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_source_app_root(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_source *s = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &s->app_root, "an absolute directory path", true);
	if (!err && s->app_root && s->app_root[0] != '/')
		err = cfg_fail_at(p, v, "expected an absolute directory path, got %s",
				  cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_source_regex(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_source *)obj)->regex,
			  "a PCRE2 pattern with named groups", false);
}

enum { SRC_NAME, SRC_PATH, SRC_FORMAT, SRC_TIMEZONE, SRC_APP_ROOT, SRC_REGEX, SRC_NKEYS };

static const struct cfg_key source_keys[] = {
	[SRC_NAME] = { "name", set_source_name },
	[SRC_PATH] = { "path", set_source_path },
	[SRC_FORMAT] = { "format", set_source_format },
	[SRC_TIMEZONE] = { "timezone", set_source_timezone },
	[SRC_APP_ROOT] = { "app_root", set_source_app_root },
	[SRC_REGEX] = { "regex", set_source_regex },
};

/* One source: keys, required keys, regex only with format regex, a unique name. */
static int cfg_source(struct cfg_parser *p, const struct ynode *item, struct config *cfg,
		      struct config_source *s)
{
	char got[GOT_MAX];
	uint32_t seen;
	int err;

	err = cfg_mapping(p, item, source_keys, SRC_NKEYS, s, &seen);
	if (!err) {
		s->at.entry = cfg_pos_of(item, NULL);
		s->at.name = cfg_pos_of(item, "name");
		s->at.path = cfg_pos_of(item, "path");
		s->at.format = cfg_pos_of(item, "format");
		s->at.timezone = cfg_pos_of(item, "timezone");
		s->at.app_root = cfg_pos_of(item, "app_root");
		s->at.regex = cfg_pos_of(item, "regex");
	}
	if (!err && ynode_is_null(item))
		return cfg_fail_at(p, item,
				   "expected a mapping with name, path and format, got null");
	if (!err)
		err = cfg_require(p, item, seen, SRC_NAME, "name", NAME_FORM);
	if (!err)
		err = cfg_require(p, item, seen, SRC_PATH, "path", "a file path or glob");
	if (!err)
		err = cfg_require(p, item, seen, SRC_FORMAT, "format",
				  "one of laravel, mysql-error, mysql-slow, nginx, regex");
	if (err)
		return err;
	if (!s->timezone)
		s->timezone = xstrdup("UTC");
	if (s->format == SOURCE_REGEX && !s->regex)
		return cfg_require(p, item, 0, SRC_REGEX, "regex",
				   "a PCRE2 pattern, since format is regex");
	if (s->format != SOURCE_REGEX && s->regex) {
		const struct ynode *r = ynode_get(item, "regex");

		cfg_path_key(p, "regex", 5);
		return cfg_fail_at(p, r, "expected no regex for format %s (only format regex takes "
				   "one), got %s", format_names[s->format],
				   cfg_got(r, got, sizeof(got)));
	}
	for (size_t i = 0; cfg->sources + i < s; i++) {
		if (strcmp(cfg->sources[i].name, s->name) == 0) {
			const struct ynode *n = ynode_get(item, "name");

			cfg_path_key(p, "name", 4);
			return cfg_fail_at(p, n,
					   "expected a name unique among sources, got %s again "
					   "(first in sources[%zu])",
					   cfg_got(n, got, sizeof(got)), i);
		}
	}
	return 0;
}

static int set_sources(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	size_t count;
	int err;

	err = cfg_sequence(p, v, "a list of sources (mappings with name, path and format)", &count);
	if (err || count == 0)
		return err;
	cfg->sources = xcalloc(count, sizeof(*cfg->sources));
	for (size_t i = 0; i < count; i++) {
		size_t old = cfg_path_push(p, "[%zu]", i);

		cfg->nsources++;
		err = cfg_source(p, v->kids[i], cfg, &cfg->sources[i]);
		if (err)
			return err;
		cfg_path_pop(p, old);
	}
	return 0;
}

/* ---- rules ---- */

static void cfg_rule_positions(struct config_rule *r, const struct ynode *item)
{
	r->at.entry = cfg_pos_of(item, NULL);
	r->at.name = cfg_pos_of(item, "name");
	r->at.source = cfg_pos_of(item, "source");
	r->at.regex = cfg_pos_of(item, "regex");
	r->at.help = cfg_pos_of(item, "help");
	r->at.type = cfg_pos_of(item, "type");
	r->at.value = cfg_pos_of(item, "value");
	r->at.buckets = cfg_pos_of(item, "buckets");
}

#define METRIC_FORM "a metric name matching [a-zA-Z_:][a-zA-Z0-9_:]*"

static int set_rule_name(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_rule *r = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &r->name, METRIC_FORM, false);
	if (!err && !model_metric_name_valid(r->name, strlen(r->name)))
		err = cfg_fail_at(p, v, "expected " METRIC_FORM ", got %s",
				  cfg_got(v, got, sizeof(got)));
	/* The agent's own metrics; a rule there could take a family the agent registers later. */
	else if (!err && !strncmp(r->name, "deploywatch_", 12))
		err = cfg_fail_at(p, v, "expected a metric name outside deploywatch_ (the agent's own "
				  "metrics), got %s", cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_rule_source(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_rule *)obj)->source, "the name of a source",
			  false);
}

static int set_rule_regex(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_rule *)obj)->regex,
			  "a PCRE2 pattern; named groups become labels", false);
}

static int set_rule_help(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_rule *)obj)->help, "a line of help text", true);
}

static int set_rule_type(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	static const char *const names[] = { "counter", "histogram" };
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, names, 2, &idx))
		return cfg_fail_at(p, v, "expected one of counter, histogram, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config_rule *)obj)->type = (enum rule_type)idx;
	return 0;
}

static int set_rule_value(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_rule *)obj)->value,
			  "the name of a named group of the regex holding a number", false);
}

#define BUCKETS_FORM "a list of strictly increasing finite numbers such as [0.1, 0.5, 1]"

/* Histogram bounds: 1..CONFIG_MAX_RULE_BUCKETS finite numbers, strictly increasing. */
static int set_rule_buckets(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_rule *r = obj;
	char got[GOT_MAX];
	size_t count;
	int err;

	err = cfg_sequence(p, v, BUCKETS_FORM, &count);
	if (err)
		return err;
	if (count == 0 || count > CONFIG_MAX_RULE_BUCKETS)
		return cfg_fail_at(p, v, "expected " BUCKETS_FORM " (1 to %d of them), got %zu",
				   CONFIG_MAX_RULE_BUCKETS, count);
	free(r->buckets);
	r->buckets = xcalloc(count, sizeof(*r->buckets));
	r->nbuckets = 0;
	for (size_t i = 0; i < count; i++) {
		const struct ynode *n = v->kids[i];
		char *end = NULL;
		double d = 0;

		if (n->kind == YNODE_SCALAR && n->plain && n->len > 0 && n->len < 64 &&
		    strlen(n->value) == n->len) {
			errno = 0;
			d = strtod(n->value, &end);
		}
		if (!end || *end || errno || !isfinite(d) || (i > 0 && d <= r->buckets[i - 1])) {
			cfg_path_push(p, "[%zu]", i);
			return cfg_fail_at(p, n, "expected " BUCKETS_FORM ", got %s",
					   cfg_got(n, got, sizeof(got)));
		}
		r->buckets[i] = d;
		r->nbuckets++;
	}
	return 0;
}

enum {
	RULE_NAME, RULE_SOURCE, RULE_REGEX, RULE_HELP, RULE_TYPE, RULE_VALUE, RULE_BUCKETS,
	RULE_NKEYS
};

static const struct cfg_key rule_keys[] = {
	[RULE_NAME] = { "name", set_rule_name },
	[RULE_SOURCE] = { "source", set_rule_source },
	[RULE_REGEX] = { "regex", set_rule_regex },
	[RULE_HELP] = { "help", set_rule_help },
	[RULE_TYPE] = { "type", set_rule_type },
	[RULE_VALUE] = { "value", set_rule_value },
	[RULE_BUCKETS] = { "buckets", set_rule_buckets },
};

static int set_rules(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	size_t count;
	int err;

	err = cfg_sequence(p, v, "a list of rules (mappings with name, source and regex)", &count);
	if (err || count == 0)
		return err;
	p->rules_node = v;
	cfg->rules = xcalloc(count, sizeof(*cfg->rules));
	for (size_t i = 0; i < count; i++) {
		const struct ynode *item = v->kids[i];
		size_t old = cfg_path_push(p, "[%zu]", i);
		uint32_t seen;

		cfg->nrules++;
		err = cfg_mapping(p, item, rule_keys, RULE_NKEYS, &cfg->rules[i], &seen);
		if (!err)
			cfg_rule_positions(&cfg->rules[i], item);
		if (!err && ynode_is_null(item))
			err = cfg_fail_at(p, item,
					  "expected a mapping with name, source and regex, "
					  "got null");
		if (!err)
			err = cfg_require(p, item, seen, RULE_NAME, "name", METRIC_FORM);
		if (!err)
			err = cfg_require(p, item, seen, RULE_SOURCE, "source",
					  "the name of a source");
		if (!err)
			err = cfg_require(p, item, seen, RULE_REGEX, "regex", "a PCRE2 pattern");
		if (!err && cfg->rules[i].type == RULE_HISTOGRAM)
			err = cfg_require(p, item, seen, RULE_VALUE, "value",
					  "the named group to observe, since type is histogram");
		if (!err && cfg->rules[i].type != RULE_HISTOGRAM && (seen & (1u << RULE_BUCKETS))) {
			const struct ynode *b = ynode_get(item, "buckets");

			cfg_path_key(p, "buckets", 7);
			err = cfg_fail_at(p, b, "expected no buckets for a counter (only type "
					  "histogram takes them), got a list");
		}
		if (err)
			return err;
		cfg_path_pop(p, old);
	}
	return 0;
}

/* After the whole file: every rule's source names a source (sources may come after rules). */
static int cfg_check_rule_sources(struct cfg_parser *p, const struct config *cfg)
{
	char got[GOT_MAX], list[512];
	const char *names[CONFIG_MAX_ITEMS];

	for (size_t i = 0; i < cfg->nsources; i++)
		names[i] = cfg->sources[i].name;
	cfg_join(names, cfg->nsources, list, sizeof(list));
	for (size_t i = 0; i < cfg->nrules; i++) {
		const struct ynode *n;
		size_t j;

		for (j = 0; j < cfg->nsources; j++)
			if (strcmp(cfg->sources[j].name, cfg->rules[i].source) == 0)
				break;
		if (j < cfg->nsources)
			continue;
		n = ynode_get(p->rules_node->kids[i], "source");
		cfg_path_push(p, "rules[%zu].source", i);
		if (cfg->nsources == 0)
			return cfg_fail_at(p, n, "expected the name of a source, got %s, and no "
					   "sources are configured", cfg_got(n, got, sizeof(got)));
		return cfg_fail_at(p, n, "expected the name of a source (%s), got %s", list,
				   cfg_got(n, got, sizeof(got)));
	}
	return 0;
}

/* ---- system ---- */

static void cfg_free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/*
 * A list of strings into *arr / *n (replacing the default). 'check' validates one entry; 'what'
 * describes one entry.
 */
static int cfg_string_list(struct cfg_parser *p, const struct ynode *v, char ***arr, size_t *n,
			   const char *what, bool (*check)(const char *))
{
	char got[GOT_MAX], listwhat[256];
	size_t count;
	int err;

	snprintf(listwhat, sizeof(listwhat), "a list of %s", what);
	err = cfg_sequence(p, v, listwhat, &count);
	if (err)
		return err;
	cfg_free_strings(*arr, *n);
	*arr = xcalloc(count, sizeof(**arr));
	*n = 0;
	for (size_t i = 0; i < count; i++) {
		size_t old = cfg_path_push(p, "[%zu]", i);

		err = cfg_string(p, v->kids[i], &(*arr)[i], what, false);
		if (err)
			return err;
		++*n;
		if (!check((*arr)[i]))
			return cfg_fail_at(p, v->kids[i], "expected %s, got %s", what,
					   cfg_got(v->kids[i], got, sizeof(got)));
		cfg_path_pop(p, old);
	}
	return 0;
}

static bool cfg_is_absolute(const char *s)
{
	return s[0] == '/';
}

static bool cfg_is_comm(const char *s)
{
	return strlen(s) <= CONFIG_MAX_COMM && !strchr(s, '/');
}

static int set_system_filesystems(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;

	return cfg_string_list(p, v, &cfg->system.filesystems, &cfg->system.nfilesystems,
			       "absolute mount points", cfg_is_absolute);
}

static int set_system_tcp_ports(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	size_t count;
	int err;

	err = cfg_sequence(p, v, "a list of TCP port numbers 1 to 65535", &count);
	if (err)
		return err;
	free(cfg->system.tcp_ports);
	cfg->system.tcp_ports = xcalloc(count, sizeof(*cfg->system.tcp_ports));
	cfg->system.ntcp_ports = 0;
	for (size_t i = 0; i < count; i++) {
		size_t old = cfg_path_push(p, "[%zu]", i);
		unsigned long port = 0;

		err = cfg_uint(p, v->kids[i], 1, 65535, "a TCP port number 1 to 65535", &port);
		if (err)
			return err;
		cfg->system.tcp_ports[cfg->system.ntcp_ports++] = (uint16_t)port;
		cfg_path_pop(p, old);
	}
	return 0;
}

static int set_system_processes(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;

	return cfg_string_list(p, v, &cfg->system.processes, &cfg->system.nprocesses,
			       "process names as in /proc/PID/comm (at most 15 characters)",
			       cfg_is_comm);
}

static int set_system_proc_path(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->system.proc_path,
			  "the directory where procfs is mounted", false);
}

static int set_system_sys_path(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->system.sys_path,
			  "the directory where sysfs is mounted", false);
}

static int set_system_rootfs_path(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->system.rootfs_path,
			  "the directory of the host's root file system", false);
}

static const struct cfg_key system_keys[] = {
	{ "filesystems", set_system_filesystems },
	{ "tcp_ports", set_system_tcp_ports },
	{ "processes", set_system_processes },
	{ "proc_path", set_system_proc_path },
	{ "sys_path", set_system_sys_path },
	{ "rootfs_path", set_system_rootfs_path },
};

static int set_system(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, system_keys, ARRAY_SIZE(system_keys), obj, &seen);
}

/* ---- judge ---- */

static int set_judge_baseline(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->judge.baseline, 1000);
}

static int set_judge_window(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->judge.window, 1000);
}

static int set_check_name(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config_check *c = obj;
	char got[GOT_MAX];
	int err;

	err = cfg_string(p, v, &c->name, NAME_FORM, false);
	if (!err && !cfg_valid_entry_name(c->name))
		err = cfg_fail_at(p, v, "expected " NAME_FORM ", got %s",
				  cfg_got(v, got, sizeof(got)));
	return err;
}

static int set_check_expr(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_check *)obj)->expr,
			  "a PromQL expression with its comparison", false);
}

static int set_check_description(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_check *)obj)->description,
			  "a line of text", true);
}

/* Read a finite number in [min, max]; 'what' describes it. */
static int cfg_number(struct cfg_parser *p, const struct ynode *n, double min, double max,
		      const char *what, double *dst)
{
	char got[GOT_MAX], *end = NULL;
	double d = 0;

	if (n->kind == YNODE_SCALAR && n->plain && n->len > 0 && n->len < 64 &&
	    strlen(n->value) == n->len) {
		errno = 0;
		d = strtod(n->value, &end);
	}
	if (!end || *end || errno || !isfinite(d) || d < min || d > max)
		return cfg_fail_at(p, n, "expected %s, got %s", what, cfg_got(n, got, sizeof(got)));
	*dst = d;
	return 0;
}

static const char *const check_kinds[] = { "alert", "count", "value" };

static int set_check_kind(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, check_kinds, 3, &idx))
		return cfg_fail_at(p, v, "expected alert, count or value, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config_check *)obj)->kind = (enum config_check_kind)idx;
	return 0;
}

static const char *const severities[] = { "critical", "warning" };

static int set_check_severity(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, severities, 2, &idx))
		return cfg_fail_at(p, v, "expected critical or warning, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config_check *)obj)->warning = idx == 1;
	return 0;
}

static int set_check_exposure(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config_check *)obj)->exposure,
			  "a PromQL expression counting requests over $range", true);
}

static int set_check_max(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_number(p, v, -1e300, 1e300, "a number", &((struct config_check *)obj)->max);
}

static int set_check_max_ratio(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_number(p, v, 1, 1e6, "a ratio of at least 1 such as 1.5",
			  &((struct config_check *)obj)->max_ratio);
}

static int set_check_min_events(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_number(p, v, 0, 1e9, "a count from 0 to 1e9",
			  &((struct config_check *)obj)->min_events);
}

enum {
	CHECK_NAME, CHECK_EXPR, CHECK_DESCRIPTION, CHECK_KIND, CHECK_SEVERITY, CHECK_EXPOSURE,
	CHECK_MAX, CHECK_MAX_RATIO, CHECK_MIN_EVENTS, CHECK_NKEYS
};

static const struct cfg_key check_keys[] = {
	[CHECK_NAME] = { "name", set_check_name },
	[CHECK_EXPR] = { "expr", set_check_expr },
	[CHECK_DESCRIPTION] = { "description", set_check_description },
	[CHECK_KIND] = { "kind", set_check_kind },
	[CHECK_SEVERITY] = { "severity", set_check_severity },
	[CHECK_EXPOSURE] = { "exposure", set_check_exposure },
	[CHECK_MAX] = { "max", set_check_max },
	[CHECK_MAX_RATIO] = { "max_ratio", set_check_max_ratio },
	[CHECK_MIN_EVENTS] = { "min_events", set_check_min_events },
};

static int set_judge_checks(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	char got[GOT_MAX];
	size_t count;
	int err;

	err = cfg_sequence(p, v, "a list of checks (mappings with name and expr)", &count);
	if (err || count == 0)
		return err;
	cfg->judge.checks = xcalloc(count, sizeof(*cfg->judge.checks));
	for (size_t i = 0; i < count; i++) {
		const struct ynode *item = v->kids[i];
		struct config_check *c = &cfg->judge.checks[i];
		size_t old = cfg_path_push(p, "[%zu]", i);
		uint32_t seen;

		cfg->judge.nchecks++;
		c->max = NAN;
		c->max_ratio = NAN;
		c->min_events = 5;
		err = cfg_mapping(p, item, check_keys, CHECK_NKEYS, c, &seen);
		if (!err && ynode_is_null(item))
			err = cfg_fail_at(p, item,
					  "expected a mapping with name and expr, got null");
		if (!err)
			err = cfg_require(p, item, seen, CHECK_NAME, "name", NAME_FORM);
		if (!err)
			err = cfg_require(p, item, seen, CHECK_EXPR, "expr",
					  "a PromQL expression with its comparison");
		if (err)
			return err;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(cfg->judge.checks[j].name, c->name) == 0) {
				const struct ynode *n = ynode_get(item, "name");

				cfg_path_key(p, "name", 4);
				return cfg_fail_at(p, n,
						   "expected a name unique among checks, got %s "
						   "again (first in judge.checks[%zu])",
						   cfg_got(n, got, sizeof(got)), j);
			}
		}
		cfg_path_pop(p, old);
	}
	return 0;
}

static int set_judge_warmup(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->judge.warmup, 0);
}

static int set_judge_lookback(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->judge.lookback, 1000);
}

static int set_judge_alpha(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_number(p, v, 1e-9, 0.5, "a significance level from 1e-9 to 0.5 such as 0.01",
			  &((struct config *)obj)->judge.alpha);
}

static int set_judge_min_traffic(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_number(p, v, 0, 1e12, "a count such as 10",
			  &((struct config *)obj)->judge.min_traffic);
}

static int set_judge_traffic(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->judge.traffic,
			  "a PromQL expression counting requests over $range", true);
}

static const char *const new_exception_modes[] = { "fail", "warn", "off" };

static int set_judge_new_exceptions(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, new_exception_modes, 3, &idx))
		return cfg_fail_at(p, v, "expected fail, warn or off, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config *)obj)->judge.new_exceptions = (unsigned)idx;
	return 0;
}

static int set_judge_new_exception_min(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, 1000000, "an integer 1 to 1000000", &n);

	if (!err)
		((struct config *)obj)->judge.new_exception_min_count = (unsigned)n;
	return err;
}

static int set_judge_watch_paths(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;

	return cfg_string_list(p, v, &cfg->judge.watch_paths, &cfg->judge.nwatch_paths,
			       "absolute paths", cfg_is_absolute);
}

static int set_prom_url(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	const char *what = "an http:// or https:// URL of a Prometheus server, without a user";
	char got[GOT_MAX];
	const char *host;
	int err;

	err = cfg_string(p, v, &cfg->judge.prometheus.url, what, true);
	if (err || !cfg->judge.prometheus.url)
		return err;
	host = cfg->judge.prometheus.url;
	if (strncmp(host, "http://", 7) == 0)
		host += 7;
	else if (strncmp(host, "https://", 8) == 0)
		host += 8;
	else
		host = NULL;
	/* a password in the URL would end up in logs and error messages: password_file instead */
	if (!host || !*host || *host == '/' || memchr(host, '@', strcspn(host, "/")))
		return cfg_fail_at(p, v, "expected %s, got %s", what, cfg_got(v, got, sizeof(got)));
	return 0;
}

static int set_prom_username(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->judge.prometheus.username,
			  "a user name for basic auth", true);
}

static int set_prom_password_file(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->judge.prometheus.password_file,
			  "the path of a file holding the basic auth password", true);
}

static int set_prom_ca_file(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->judge.prometheus.ca_file,
			  "the path of a PEM file of CA certificates", true);
}

static const char *const booleans[] = { "false", "true" };

static int set_prom_insecure(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, booleans, 2, &idx))
		return cfg_fail_at(p, v, "expected true or false, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config *)obj)->judge.prometheus.insecure_skip_verify = idx == 1;
	return 0;
}

static int set_prom_timeout(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->judge.prometheus.timeout, 1000);
}

static int set_prom_selector(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_string(p, v, &((struct config *)obj)->judge.prometheus.selector,
			  "label matchers such as instance=~\"web-.*\"", true);
}

static const struct cfg_key prom_keys[] = {
	{ "url", set_prom_url },
	{ "username", set_prom_username },
	{ "password_file", set_prom_password_file },
	{ "ca_file", set_prom_ca_file },
	{ "insecure_skip_verify", set_prom_insecure },
	{ "timeout", set_prom_timeout },
	{ "selector", set_prom_selector },
};

static int set_judge_prometheus(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, prom_keys, ARRAY_SIZE(prom_keys), obj, &seen);
}

static const struct cfg_key judge_keys[] = {
	{ "baseline", set_judge_baseline },
	{ "window", set_judge_window },
	{ "checks", set_judge_checks },
	{ "warmup", set_judge_warmup },
	{ "lookback", set_judge_lookback },
	{ "alpha", set_judge_alpha },
	{ "min_traffic", set_judge_min_traffic },
	{ "traffic", set_judge_traffic },
	{ "new_exceptions", set_judge_new_exceptions },
	{ "new_exception_min_count", set_judge_new_exception_min },
	{ "watch_paths", set_judge_watch_paths },
	{ "prometheus", set_judge_prometheus },
};

static int set_judge(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, judge_keys, ARRAY_SIZE(judge_keys), obj, &seen);
}

/* ---- limits, log_level ---- */

static int set_limits_max_series(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err;

	err = cfg_uint(p, v, 1, CONFIG_MAX_SERIES_LIMIT, "an integer 1 to 1000000", &n);
	if (!err)
		((struct config *)obj)->limits.max_series_per_metric = (unsigned)n;
	return err;
}

static const struct cfg_key limits_keys[] = {
	{ "max_series_per_metric", set_limits_max_series },
};

static int set_limits(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, limits_keys, ARRAY_SIZE(limits_keys), obj, &seen);
}

/* ---- query ---- */

/* Caps on the caps: a typo must not turn a limit into no limit. */
#define QUERY_MAX_POINTS_LIMIT 1000000UL
#define QUERY_MAX_SAMPLES_LIMIT 1000000000UL
#define QUERY_MAX_CONCURRENT_LIMIT 64UL
#define QUERY_MIN_REQUEST_SIZE ((uint64_t)1 << 10)
#define QUERY_MAX_REQUEST_SIZE ((uint64_t)64 << 20)

static int set_query_max_points(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, QUERY_MAX_POINTS_LIMIT, "an integer 1 to 1000000", &n);

	if (!err)
		((struct config *)obj)->query.max_points_per_series = n;
	return err;
}

static int set_query_max_samples(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, QUERY_MAX_SAMPLES_LIMIT, "an integer 1 to 1000000000", &n);

	if (!err)
		((struct config *)obj)->query.max_samples = n;
	return err;
}

static int set_query_timeout(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->query.timeout, 1);
}

static int set_query_max_request_size(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	uint64_t size;

	if (v->kind != YNODE_SCALAR || ynode_is_null(v) || strlen(v->value) != v->len ||
	    size_parse(v->value, &size) || size < QUERY_MIN_REQUEST_SIZE ||
	    size > QUERY_MAX_REQUEST_SIZE)
		return cfg_fail_at(p, v, "expected a size from 1KB to 64MB such as 1MB, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config *)obj)->query.max_request_size = (size_t)size;
	return 0;
}

static int set_query_max_concurrent(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	unsigned long n = 0;
	int err = cfg_uint(p, v, 1, QUERY_MAX_CONCURRENT_LIMIT, "an integer 1 to 64", &n);

	if (!err)
		((struct config *)obj)->query.max_concurrent = (unsigned)n;
	return err;
}

static const struct cfg_key query_keys[] = {
	{ "max_points_per_series", set_query_max_points },
	{ "max_samples", set_query_max_samples },
	{ "timeout", set_query_timeout },
	{ "max_request_size", set_query_max_request_size },
	{ "max_concurrent", set_query_max_concurrent },
};

static int set_query(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, query_keys, ARRAY_SIZE(query_keys), obj, &seen);
}

/* ---- tail ---- */

/* Bounds of the tail sizes: a line must hold a stack frame; a cap must stay a cap. */
#define TAIL_MIN_SIZE ((uint64_t)1 << 10)
#define TAIL_MAX_SIZE ((uint64_t)256 << 20)

static int cfg_tail_size(struct cfg_parser *p, const struct ynode *v, uint64_t *dst)
{
	char got[GOT_MAX];
	uint64_t size;

	if (v->kind != YNODE_SCALAR || ynode_is_null(v) || strlen(v->value) != v->len ||
	    size_parse(v->value, &size) || size < TAIL_MIN_SIZE || size > TAIL_MAX_SIZE)
		return cfg_fail_at(p, v, "expected a size from 1KB to 256MB such as 1MB, got %s",
				   cfg_got(v, got, sizeof(got)));
	*dst = size;
	return 0;
}

static int set_tail_max_line(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_tail_size(p, v, &((struct config *)obj)->tail.max_line_size);
}

static int set_tail_max_entry(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_tail_size(p, v, &((struct config *)obj)->tail.max_entry_size);
}

static int set_tail_idle(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->tail.idle_timeout, 10);
}

static int set_tail_check(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	return cfg_duration(p, v, &((struct config *)obj)->tail.check_interval, 100);
}

static const char *const start_ats[] = { "beginning", "end" };

static int set_tail_start_at(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, start_ats, 2, &idx))
		return cfg_fail_at(p, v, "expected beginning or end, got %s",
				   cfg_got(v, got, sizeof(got)));
	((struct config *)obj)->tail.start_at_end = idx == 1;
	return 0;
}

static const struct cfg_key tail_keys[] = {
	{ "max_line_size", set_tail_max_line },
	{ "max_entry_size", set_tail_max_entry },
	{ "idle_timeout", set_tail_idle },
	{ "check_interval", set_tail_check },
	{ "start_at", set_tail_start_at },
};

static int set_tail(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	uint32_t seen;

	return cfg_mapping(p, v, tail_keys, ARRAY_SIZE(tail_keys), obj, &seen);
}

static const char *const log_levels[] = { "debug", "info", "warn", "error" };

static int set_log_level(struct cfg_parser *p, const struct ynode *v, void *obj)
{
	struct config *cfg = obj;
	char got[GOT_MAX];
	size_t idx;

	if (!cfg_lookup(v, log_levels, 4, &idx))
		return cfg_fail_at(p, v, "expected one of debug, info, warn, error, got %s",
				   cfg_got(v, got, sizeof(got)));
	free(cfg->log_level);
	cfg->log_level = xstrdup(log_levels[idx]);
	return 0;
}

static const struct cfg_key top_keys[] = {
	{ "storage", set_storage },
	{ "web", set_web },
	{ "sources", set_sources },
	{ "rules", set_rules },
	{ "system", set_system },
	{ "judge", set_judge },
	{ "limits", set_limits },
	{ "tail", set_tail },
	{ "log_level", set_log_level },
	{ "query", set_query },
};

/* ---- public ---- */

/* A config holding every default, as documented in core/config.h. */
static struct config *config_defaults(const char *file)
{
	struct config *cfg = xcalloc(1, sizeof(*cfg));

	cfg->file = xstrdup(file);
	cfg->storage.path = xstrdup("./data");
	cfg->storage.retention = 30 * 24 * 3600 * (dw_millis)1000;
	cfg->storage.sample_interval = 10 * 1000;
	cfg->web.listen_address = xstrdup("127.0.0.1:9466");
	cfg->web.max_connections = 1024;
	cfg->web.max_requests = 40;
	cfg->web.read_timeout = 10 * 1000;
	cfg->web.idle_timeout = 20 * 1000;
	cfg->system.filesystems = xcalloc(1, sizeof(char *));
	cfg->system.filesystems[0] = xstrdup("/");
	cfg->system.nfilesystems = 1;
	cfg->system.proc_path = xstrdup("/proc");
	cfg->system.sys_path = xstrdup("/sys");
	cfg->system.rootfs_path = xstrdup("/");
	cfg->judge.baseline = 30 * 60 * 1000;
	cfg->judge.window = 30 * 60 * 1000;
	cfg->judge.warmup = 60 * 1000;
	cfg->judge.lookback = 7LL * 24 * 60 * 60 * 1000;
	cfg->judge.alpha = 0.01;
	cfg->judge.min_traffic = 10;
	cfg->judge.new_exception_min_count = 3;
	cfg->judge.prometheus.timeout = 30 * 1000;
	cfg->limits.max_series_per_metric = 2000;
	cfg->tail.max_line_size = (uint64_t)1 << 20;
	cfg->tail.max_entry_size = (uint64_t)1 << 20;
	cfg->tail.idle_timeout = 1000;
	cfg->tail.check_interval = 1000;
	cfg->query.max_points_per_series = 11000;
	cfg->query.max_samples = 5000000;
	cfg->query.timeout = 30 * 1000;
	cfg->query.max_request_size = (size_t)1 << 20;
	cfg->query.max_concurrent = 4;
	cfg->log_level = xstrdup("info");
	return cfg;
}

/*
 * Parse YAML 'text' ('len' bytes, need not be NUL-terminated). See core/config.h for the
 * contract. Pure apart from allocation; any thread.
 */
int config_parse(const char *file, const char *text, size_t len, struct config **out,
		 char *err, size_t errlen)
{
	struct cfg_parser p = { .file = file, .err = err, .errlen = errlen };
	struct ynode *root = NULL;
	struct config *cfg;
	uint32_t seen;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (len > CONFIG_MAX_BYTES)
		return cfg_fail(&p, 1, 1, "expected a file of at most %zu bytes, got %zu bytes",
				CONFIG_MAX_BYTES, len);
	rc = ytree_build(&p, text, len, &root);
	if (rc)
		return rc;
	cfg = config_defaults(file);
	rc = 0;
	if (root)
		rc = cfg_mapping(&p, root, top_keys, ARRAY_SIZE(top_keys), cfg,
				 &seen);
	if (!rc)
		rc = cfg_check_rule_sources(&p, cfg);
	ynode_free(root);
	if (rc) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/*
 * Read 'path' (at most CONFIG_MAX_BYTES are accepted) and parse it. Blocks on the read; any
 * thread. See core/config.h.
 */
int config_load_file(const char *path, struct config **out, char *err, size_t errlen)
{
	size_t cap = CONFIG_MAX_BYTES + 1, len = 0;
	char *text;
	int fd, rc;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		goto out_fail;
	}
	/* Read one byte past the cap so that config_parse can tell "too big" from "exactly max". */
	text = xmalloc(cap);
	while (len < cap) {
		ssize_t n = read(fd, text + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			free(text);
			close(fd);
			goto out_fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	rc = config_parse(path, text, len, out, err, errlen);
	free(text);
	return rc;

out_fail:
	if (err && errlen)
		snprintf(err, errlen, "%s: cannot read: %s", path, strerror(-rc));
	return rc;
}

/* Parse the embedded default. See core/config.h. */
int config_load_default(struct config **out, char *err, size_t errlen)
{
	return config_parse(EMBEDDED_NAME, config_embedded_default, strlen(config_embedded_default),
			    out, err, errlen);
}

/* ---- errors found after parsing ---- */

/* A key of an entry and where its position is kept, for the errors found after parsing. */
struct cfg_pos_key {
	const char *key;
	size_t off;               /* offsetof the entry's struct config_pos */
};

static const struct cfg_pos_key source_pos_keys[] = {
	{ "name", offsetof(struct config_source, at.name) },
	{ "path", offsetof(struct config_source, at.path) },
	{ "format", offsetof(struct config_source, at.format) },
	{ "timezone", offsetof(struct config_source, at.timezone) },
	{ "app_root", offsetof(struct config_source, at.app_root) },
	{ "regex", offsetof(struct config_source, at.regex) },
};

static const struct cfg_pos_key rule_pos_keys[] = {
	{ "name", offsetof(struct config_rule, at.name) },
	{ "source", offsetof(struct config_rule, at.source) },
	{ "regex", offsetof(struct config_rule, at.regex) },
	{ "help", offsetof(struct config_rule, at.help) },
	{ "type", offsetof(struct config_rule, at.type) },
	{ "value", offsetof(struct config_rule, at.value) },
	{ "buckets", offsetof(struct config_rule, at.buckets) },
};

/*
 * "FILE:LINE:COL: LIST[I].KEY: message" for entry 'entry' (I of a list named 'list'), whose
 * mapping's position is 'entry_at' and whose keys' positions are found through 'keys'.
 */
static int __attribute__((format(printf, 11, 0)))
cfg_entry_error(const struct config *cfg, const char *list, size_t index, const void *entry,
		struct config_pos entry_at, const struct cfg_pos_key *keys, size_t nkeys,
		const char *key, char *err, size_t errlen, const char *fmt, va_list ap)
{
	struct config_pos at = entry_at;
	char path[96];

	for (size_t i = 0; key && i < nkeys; i++)
		if (strcmp(keys[i].key, key) == 0)
			memcpy(&at, (const char *)entry + keys[i].off, sizeof(at));
	if (key)
		snprintf(path, sizeof(path), "%s[%zu].%s", list, index, key);
	else
		snprintf(path, sizeof(path), "%s[%zu]", list, index);
	return cfg_vformat(err, errlen, cfg->file, at.line, at.col, path, fmt, ap);
}

int config_source_error(const struct config *cfg, const struct config_source *src,
			const char *key, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	/* The key path needs the index: a source from elsewhere is a bug in the caller. */
	assert(src >= cfg->sources && src < cfg->sources + cfg->nsources);
	va_start(ap, fmt);
	cfg_entry_error(cfg, "sources", (size_t)(src - cfg->sources), src, src->at.entry,
			source_pos_keys, ARRAY_SIZE(source_pos_keys), key, err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int config_rule_error(const struct config *cfg, const struct config_rule *rule, const char *key,
		      char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	assert(rule >= cfg->rules && rule < cfg->rules + cfg->nrules);
	va_start(ap, fmt);
	cfg_entry_error(cfg, "rules", (size_t)(rule - cfg->rules), rule, rule->at.entry,
			rule_pos_keys, ARRAY_SIZE(rule_pos_keys), key, err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Free everything 'cfg' owns, then 'cfg'. NULL is a no-op. */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	free(cfg->file);
	free(cfg->storage.path);
	free(cfg->web.listen_address);
	free(cfg->web.tls_cert_file);
	free(cfg->web.tls_key_file);
	for (size_t i = 0; i < cfg->web.nusers; i++) {
		free(cfg->web.users[i].name);
		free(cfg->web.users[i].bcrypt_hash);
	}
	free(cfg->web.users);
	for (size_t i = 0; i < cfg->nsources; i++) {
		struct config_source *s = &cfg->sources[i];

		free(s->name);
		free(s->path);
		free(s->timezone);
		free(s->app_root);
		free(s->regex);
	}
	free(cfg->sources);
	for (size_t i = 0; i < cfg->nrules; i++) {
		free(cfg->rules[i].name);
		free(cfg->rules[i].source);
		free(cfg->rules[i].regex);
		free(cfg->rules[i].help);
		free(cfg->rules[i].value);
		free(cfg->rules[i].buckets);
	}
	free(cfg->rules);
	cfg_free_strings(cfg->system.filesystems, cfg->system.nfilesystems);
	free(cfg->system.tcp_ports);
	cfg_free_strings(cfg->system.processes, cfg->system.nprocesses);
	free(cfg->system.proc_path);
	free(cfg->system.sys_path);
	free(cfg->system.rootfs_path);
	for (size_t i = 0; i < cfg->judge.nchecks; i++) {
		free(cfg->judge.checks[i].name);
		free(cfg->judge.checks[i].expr);
		free(cfg->judge.checks[i].description);
		free(cfg->judge.checks[i].exposure);
	}
	free(cfg->judge.checks);
	free(cfg->judge.traffic);
	cfg_free_strings(cfg->judge.watch_paths, cfg->judge.nwatch_paths);
	free(cfg->judge.prometheus.url);
	free(cfg->judge.prometheus.username);
	free(cfg->judge.prometheus.password_file);
	free(cfg->judge.prometheus.ca_file);
	free(cfg->judge.prometheus.selector);
	free(cfg->log_level);
	free(cfg);
}

/* The YAML name of a format; "unknown" for a value outside the enum. Pure; any thread. */
const char *config_format_name(enum source_format f)
{
	if ((unsigned)f >= NFORMATS)
		return "unknown";
	return format_names[f];
}
