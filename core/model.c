/* The shared data model: see model.h. */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "core/model.h"

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

const char *model_metric_type_name(enum metric_type t)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_GAUGE:
		return "gauge";
	case METRIC_HISTOGRAM:
		return "histogram";
	case METRIC_SUMMARY:
		return "summary";
	case METRIC_UNTYPED:
		return "untyped";
	}
	return "unknown";
}

double model_stale_nan(void)
{
	return bits_double(MODEL_STALE_NAN_BITS);
}

bool model_is_stale(double v)
{
	return double_bits(v) == MODEL_STALE_NAN_BITS;
}

/* ---- names ---- */

static bool name_start(char c, bool colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}

static bool name_valid(const char *s, size_t len, bool colon)
{
	if (len == 0 || !name_start(s[0], colon))
		return false;
	for (size_t i = 1; i < len; i++)
		if (!name_start(s[i], colon) && !(s[i] >= '0' && s[i] <= '9'))
			return false;
	return true;
}

bool model_metric_name_valid(const char *s, size_t len)
{
	return name_valid(s, len, true);
}

bool model_label_name_valid(const char *s, size_t len)
{
	return name_valid(s, len, false);
}

bool model_label_name_reserved(const char *s)
{
	return s[0] == '_' && s[1] == '_';
}

/* ---- labels ---- */

int model_label_cmp(const struct label *a, const struct label *b)
{
	bool an = strcmp(a->name, MODEL_NAME_LABEL) == 0, bn = strcmp(b->name, MODEL_NAME_LABEL) == 0;

	if (an != bn)
		return an ? -1 : 1;
	return strcmp(a->name, b->name);
}

void model_labels_sort(struct label *labels, size_t n)
{
	/* Insertion sort: stable, and label sets hold a few dozen labels at most. */
	for (size_t i = 1; i < n; i++) {
		struct label x = labels[i];
		size_t j = i;

		while (j > 0 && model_label_cmp(&labels[j - 1], &x) > 0) {
			labels[j] = labels[j - 1];
			j--;
		}
		labels[j] = x;
	}
}

const char *model_labels_get(const struct label *labels, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(labels[i].name, name) == 0)
			return labels[i].value;
	return NULL;
}

int model_labels_cmp(const struct label *a, size_t na, const struct label *b, size_t nb)
{
	for (size_t i = 0; i < na && i < nb; i++) {
		int c = model_label_cmp(&a[i], &b[i]);

		if (c)
			return c;
		c = strcmp(a[i].value, b[i].value);
		if (c)
			return c;
	}
	return na < nb ? -1 : na > nb ? 1 : 0;
}

/* ---- hashing ---- */

uint64_t model_fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

uint64_t model_labels_hash(const struct label *labels, size_t n)
{
	static const unsigned char sep = 0xff;
	uint64_t h = MODEL_FNV1A_INIT;

	for (size_t i = 0; i < n; i++) {
		h = model_fnv1a(h, labels[i].name, strlen(labels[i].name));
		h = model_fnv1a(h, &sep, 1);
		h = model_fnv1a(h, labels[i].value, strlen(labels[i].value));
		h = model_fnv1a(h, &sep, 1);
	}
	return h;
}

/* ---- UTF-8 ---- */

long model_utf8_decode(const unsigned char *s, size_t len, size_t *size)
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

bool model_utf8_valid(const void *data, size_t len)
{
	const unsigned char *s = data;
	size_t i = 0, size;

	while (i < len) {
		/* ASCII fast path: most label values and log text are plain ASCII. */
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if (model_utf8_decode(s + i, len - i, &size) < 0)
			return false;
		i += size;
	}
	return true;
}

/* ---- matchers ---- */

const char *model_matcher_op_str(enum matcher_op op)
{
	switch (op) {
	case MATCH_EQ:
		return "=";
	case MATCH_NEQ:
		return "!=";
	case MATCH_RE:
		return "=~";
	case MATCH_NRE:
		return "!~";
	}
	return "?";
}

struct model_matcher_prog {
	struct matcher m;        /* name and value owned */
	size_t vlen;
	pcre2_code *re;          /* MATCH_RE / MATCH_NRE only */
	pcre2_match_data *md;
	bool matches_empty;
};

int model_matcher_compile(const struct matcher *m, struct model_matcher_prog **out, char *err,
			  size_t errlen)
{
	struct model_matcher_prog *p;

	*out = NULL;
	if (!m->name || !m->value) {
		if (errlen)
			snprintf(err, errlen, "matcher without a name or value");
		return -EINVAL;
	}
	p = xcalloc(1, sizeof(*p));
	p->m.name = xstrdup(m->name);
	p->m.value = xstrdup(m->value);
	p->m.op = m->op;
	p->vlen = strlen(m->value);
	if (m->op == MATCH_RE || m->op == MATCH_NRE) {
		int ecode;
		PCRE2_SIZE eoff;

		if (p->vlen > MODEL_MAX_REGEX_LEN) {
			if (errlen)
				snprintf(err, errlen, "regex for label %s is longer than %d bytes",
					 m->name, MODEL_MAX_REGEX_LEN);
			model_matcher_prog_free(p);
			return -EINVAL;
		}
		/*
		 * Anchored like Prometheus's ^(?:re)$ through options, not by wrapping the text:
		 * a wrapper lets "a)|(b" close it early and compile where Go refuses it, and shifts
		 * error offsets. PCRE2_ENDANCHORED, unlike $, never matches before a final newline.
		 */
		p->re = pcre2_compile((PCRE2_SPTR)m->value, p->vlen,
				      PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_UTF, &ecode, &eoff,
				      NULL);
		if (!p->re) {
			PCRE2_UCHAR msg[120];

			pcre2_get_error_message(ecode, msg, sizeof(msg));
			if (errlen)
				snprintf(err, errlen, "invalid regex for label %s: %s at offset %zu",
					 m->name, (const char *)msg, (size_t)eoff);
			model_matcher_prog_free(p);
			return -EINVAL;
		}
		/* JIT is an optimisation: without it pcre2_match interprets. */
		pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE);
		p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
		if (!p->md) {
			fprintf(stderr, "deploywatch: out of memory for regex match data\n");
			abort();
		}
	}
	p->matches_empty = model_matcher_matches(p, "", 0);
	*out = p;
	return 0;
}

bool model_matcher_matches(struct model_matcher_prog *p, const char *v, size_t len)
{
	bool eq;

	switch (p->m.op) {
	case MATCH_EQ:
	case MATCH_NEQ:
		eq = p->vlen == len && !memcmp(p->m.value, v, len);
		return eq == (p->m.op == MATCH_EQ);
	case MATCH_RE:
	case MATCH_NRE: {
		int rc = pcre2_match(p->re, (PCRE2_SPTR)v, len, 0, 0, p->md, NULL);

		return (rc >= 0) == (p->m.op == MATCH_RE);
	}
	}
	return false;
}

bool model_matcher_matches_empty(const struct model_matcher_prog *p)
{
	return p->matches_empty;
}

const struct matcher *model_matcher_prog_matcher(const struct model_matcher_prog *p)
{
	return &p->m;
}

void model_matcher_prog_free(struct model_matcher_prog *p)
{
	if (!p)
		return;
	pcre2_match_data_free(p->md);
	pcre2_code_free(p->re);
	free((char *)p->m.name);
	free((char *)p->m.value);
	free(p);
}
