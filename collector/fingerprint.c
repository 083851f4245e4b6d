/*
 * Exception fingerprints: what stays the same when the same bug is logged again, after a deploy
 * moved it to another release directory and shifted its lines, and differs between two bugs that
 * throw the same class.
 *
 * The fingerprint hashes the class, the SQLSTATE for QueryException/PDOException (a missing table
 * and a refused connection are different bugs), and the top FP_FRAMES in-app frames as
 * "path:function" (Sentry's rule, ../shared/ANCHORS.md): the path relative to the application
 * root with releases/<stamp>/ stripped, no line numbers, no arguments. vendor/, artisan and
 * public/index.php are not in-app. With no in-app frame, the normalised message stands in.
 *
 * PHP prints a frame as "#i FILE(LINE): FUNCTION()" where FUNCTION is the function *called* from
 * FILE; the function *running* in FILE is the one of the frame below (#i+1), and the function
 * running at the throw site ("at FILE:LINE") is frame #0's. The pairs hashed are those.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "collector/logp_int.h"
#include "core/buf.h"

#define FP_FRAMES 3
#define FP_MAX_MESSAGE 1024
#define FP_MAX_PATH 512
#define FP_MAX_FUNC 256
#define FP_MAX_TRACE_FRAMES 200

static bool fp_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool fp_is_word(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || fp_is_digit(c);
}

/* A unit right after a number: a short run of letters from the list, then a non-word byte. */
static bool fp_unit(const char *s, size_t n)
{
	static const char *const units[] = { "ms", "us", "ns", "s", "m", "h", "d", "b", "kb",
					     "mb", "gb", "tb", "k", "x" };
	size_t k = 0;

	while (k < n && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z')))
		k++;
	if (k == 0 || k > 2 || (k < n && fp_is_word(s[k])))
		return false;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strlen(units[i]) == k && strncasecmp(units[i], s, k) == 0)
			return true;
	return false;
}

/* Whether msg[i] (i > 0) is copied as it is: it starts neither a quoted value nor a number, the
 * two cases fp_normalise_message rewrites (both begin only after a non-word byte). */
static bool fp_plain_next(const char *msg, size_t i)
{
	char c = msg[i];

	if (c != '\'' && c != '"' && !fp_is_digit(c))
		return true;
	return fp_is_word(msg[i - 1]);
}

char *fp_normalise_message(const char *msg, size_t len)
{
	struct buf b;
	size_t i = 0;
	size_t n;

	buf_init(&b, 0);
	while (i < len && b.len < FP_MAX_MESSAGE) {
		char c = msg[i];

		if ((c == '\'' || c == '"') && (i == 0 || !fp_is_word(msg[i - 1]))) {
			/* a quoted value: up to the same quote (not past the line) */
			const char *q = memchr(msg + i + 1, c, len - i - 1);
			const char *nl = memchr(msg + i + 1, '\n', len - i - 1);

			if (q && (!nl || q < nl)) {
				const char qv[3] = { c, '?', c };

				buf_append(&b, qv, 3);
				i = (size_t)(q - msg) + 1;
				continue;
			}
		}
		if (fp_is_digit(c) && (i == 0 || !fp_is_word(msg[i - 1]))) {
			/* a number (with a fraction, or 0x hex): N */
			bool hex = c == '0' && i + 1 < len && (msg[i + 1] == 'x' || msg[i + 1] == 'X');

			n = hex ? i + 2 : i;
			while (n < len && (fp_is_digit(msg[n]) || msg[n] == '.' ||
					   (hex && ((msg[n] >= 'a' && msg[n] <= 'f') ||
						    (msg[n] >= 'A' && msg[n] <= 'F')))))
				n++;
			/* "42S02", "1st": digits glued to letters are a word, not a number; but
			 * "30s", "1882ms", "12MB" are numbers with a unit */
			if (n < len && fp_is_word(msg[n]) && !fp_unit(msg + n, len - n)) {
				buf_append(&b, msg + i, n - i);
				i = n;
				continue;
			}
			buf_putc(&b, 'N');
			i = n;
			continue;
		}
		/* A run of bytes that start neither a quoted value nor a number, copied whole (as
		 * far as the cap allows: the loop stops at FP_MAX_MESSAGE, as a byte-wise copy would). */
		n = i + 1;
		while (n < len && n - i < FP_MAX_MESSAGE - b.len && fp_plain_next(msg, n))
			n++;
		buf_append(&b, msg + i, n - i);
		i = n;
	}
	return buf_detach(&b, &n);
}

/* Strip "releases/<stamp>/" at the start of 'p' (Laravel deployers: Envoyer, Deployer). */
static const char *fp_strip_release(const char *p, const char *end)
{
	if (end - p > 9 && memcmp(p, "releases/", 9) == 0) {
		const char *s = memchr(p + 9, '/', (size_t)(end - p - 9));

		if (s)
			return s + 1;
	}
	return p;
}

bool fp_frame_in_app(const char *path, size_t len, const char *app_root, char *out, size_t outlen)
{
	const char *p = path, *end = path + len, *r;
	size_t rl = app_root ? strlen(app_root) : 0;
	bool under_root = false, vendor = false;
	size_t n;

	if (rl && len > rl && memcmp(path, app_root, rl) == 0 && path[rl] == '/') {
		p = path + rl + 1;
		under_root = true;
	}
	/* The release directory, wherever the root points (a "current" symlink resolves to it),
	 * and whether a vendor/ directory comes first: one byte loop over the path (short and full
	 * of '/', where a memchr per slash costs more than it saves). */
	for (r = p; end - r >= 8; r++) {
		const char *s;

		if (r[0] != '/')
			continue;
		if (r[1] == 'v' && memcmp(r, "/vendor/", 8) == 0)
			vendor = true;
		if (r[1] == 'r' && end - r >= 10 && memcmp(r, "/releases/", 10) == 0 &&
		    (s = memchr(r + 10, '/', (size_t)(end - r - 10)))) {
			p = s + 1;
			under_root = true;
			break;
		}
	}
	p = fp_strip_release(p, end);
	n = (size_t)(end - p);
	if (outlen) {
		size_t c = n < outlen - 1 ? n : outlen - 1;

		memcpy(out, p, c);
		out[c] = '\0';
	}
	if (app_root && !under_root)
		return false;
	if (!app_root && p == path && vendor)
		return false;
	if ((n >= 7 && memcmp(p, "vendor/", 7) == 0) || (n == 7 && memcmp(p, "artisan", 7) == 0) ||
	    (n == 16 && memcmp(p, "public/index.php", 16) == 0))
		return false;
	if (n >= 17 && memcmp(p + n - 17, "/public/index.php", 17) == 0 && !app_root)
		return false;
	if (n >= 8 && memcmp(p + n - 8, "/artisan", 8) == 0 && !app_root)
		return false;
	return n > 0 && p[0] != '[';
}

/* Frame i's function: up to its '(' with JSON's doubled backslashes undone. */
static void fp_function(const char *s, size_t n, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < n && s[i] != '(' && o + 1 < outlen; i++) {
		if (s[i] == '\\' && i + 1 < n && s[i + 1] == '\\')
			i++;
		out[o++] = s[i];
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

struct fp_frame {
	const char *path; /* NULL for [internal function] and {main} */
	size_t path_len;
	const char *func;
	size_t func_len;
};

/* The next frame of the trace at *t (up to end), moving *t past it: "#i PATH(LINE): FUNC",
 * "#i [internal function]: FUNC" or "#i {main}"; lines that are not frames are skipped. Frames
 * are taken one at a time because fp_compute mostly stops after the top few. */
static bool fp_next_frame(const char **t, const char *end, struct fp_frame *fr)
{
	while (*t < end) {
		const char *line = *t, *eol = memchr(line, '\n', (size_t)(end - line));
		const char *le = eol ? eol : end, *sp, *colon;

		*t = le + 1;
		if (*line == '#' && (sp = memchr(line, ' ', (size_t)(le - line)))) {
			const char *body = sp + 1;

			memset(fr, 0, sizeof(*fr));
			colon = logp_find(body, (size_t)(le - body), "): ", 3);
			if (colon && body[0] == '/') {
				const char *paren = colon;

				while (paren > body && *paren != '(')
					paren--;
				fr->path = body;
				fr->path_len = (size_t)(paren - body);
				fr->func = colon + 3;
				fr->func_len = (size_t)(le - colon - 3);
			} else if ((colon = logp_find(body, (size_t)(le - body), ": ", 2))) {
				fr->func = colon + 2;
				fr->func_len = (size_t)(le - colon - 2);
			} else {
				fr->func = body;
				fr->func_len = (size_t)(le - body);
			}
			return true;
		}
	}
	return false;
}

/* "SQLSTATE[xxxxx]" in the message, for the two classes whose message carries one. */
static size_t fp_sqlstate(const char *cls, const char *msg, size_t len, const char **out)
{
	const char *s;
	size_t cl = strlen(cls);

	if (!((cl >= 14 && strcmp(cls + cl - 14, "QueryException") == 0) ||
	      (cl >= 12 && strcmp(cls + cl - 12, "PDOException") == 0)))
		return 0;
	s = msg ? logp_find(msg, len, "SQLSTATE[", 9) : NULL;
	if (!s || len - (size_t)(s - msg) < 15 || s[14] != ']')
		return 0;
	*out = s + 9;
	return 5;
}

/* h as 16 lowercase hex digits (what "%016llx" prints), without printf's parsing per call. */
static void fp_hex(uint64_t h, char out[16])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = 15; i >= 0; i--, h >>= 4)
		out[i] = digits[h & 15];
}

/* Both halves of the fingerprint, FNV-1a (model_fnv1a) over d[0..l) and then the 0xff
 * separator, in one loop: the two multiply chains are independent, so the CPU runs them side by
 * side instead of one after the other (the same hashes as two model_fnv1a calls each). */
static void fp_feed_pair(uint64_t *h1, uint64_t *h2, const char *d, size_t l)
{
	const unsigned char *p = (const unsigned char *)d;
	uint64_t a = *h1, b = *h2;

	for (size_t i = 0; i < l; i++) {
		a = (a ^ p[i]) * 0x100000001b3ULL;
		b = (b ^ p[i]) * 0x100000001b3ULL;
	}
	*h1 = (a ^ 0xffu) * 0x100000001b3ULL;
	*h2 = (b ^ 0xffu) * 0x100000001b3ULL;
}

void fp_compute(const struct fp_input *in, struct fp_result *out)
{
	const char *cursor = in->trace, *tend = in->trace ? in->trace + in->trace_len : NULL;
	struct fp_frame prev = { 0 }, cur = { 0 };
	size_t parsed = 0;
	bool have_cur = false;
	uint64_t h1 = MODEL_FNV1A_INIT, h2 = MODEL_FNV1A_INIT ^ 0x9e3779b97f4a7c15ULL;
	const char *sql = NULL;
	size_t sql_len = fp_sqlstate(in->class_name, in->message, in->message_len, &sql);
	/* rel ":" func, then room for the separator: rel is cut to FP_MAX_PATH - 1 bytes and func
	 * to FP_MAX_FUNC - 1, so an item is never cut */
	char item[FP_MAX_PATH + FP_MAX_FUNC + 2];
	char *loc = NULL;
	int in_app = 0;

	out->message = fp_normalise_message(in->message ? in->message : "", in->message_len);
#define FP_FEED(d, l) fp_feed_pair(&h1, &h2, (d), (l))
	FP_FEED(in->class_name, strlen(in->class_name));
	FP_FEED(sql ? sql : "", sql_len);
	if (cursor && parsed < FP_MAX_TRACE_FRAMES && (have_cur = fp_next_frame(&cursor, tend, &cur)))
		parsed++;
	/* Locations, top first: the throw site, then the file of each frame; frame i's file runs
	 * the function of frame i+1 (and the throw site the function of frame 0). */
	for (size_t i = 0; in_app < FP_FRAMES; i++) {
		const char *path;
		size_t plen, rl;

		if (i > 0) {
			/* frame i-1 is the one read last; none: past the last frame */
			if (!have_cur)
				break;
			prev = cur;
			have_cur = parsed < FP_MAX_TRACE_FRAMES && fp_next_frame(&cursor, tend, &cur);
			if (have_cur)
				parsed++;
		}
		path = i == 0 ? in->throw_file : prev.path;
		plen = i == 0 ? in->throw_file_len : prev.path_len;
		if (!path)
			continue;
		if (i == 0) {
			/* "FILE:LINE" */
			const char *c = path + plen;

			while (c > path && c[-1] != ':')
				c--;
			if (c > path)
				plen = (size_t)(c - 1 - path);
		}
		if (!fp_frame_in_app(path, plen, in->app_root, item, FP_MAX_PATH))
			continue;
		rl = strlen(item);
		item[rl++] = ':';
		item[rl] = '\0';
		if (have_cur)
			fp_function(cur.func, cur.func_len, item + rl, FP_MAX_FUNC);
		rl += strlen(item + rl);
		fp_feed_pair(&h1, &h2, item, rl);
		/* Shown as "FILE:FUNCTION", or "FILE" when no frame names the function (an exception
		 * logged without a stack trace); the fingerprint keeps hashing "FILE:" as before. */
		if (in_app == 0)
			loc = xstrndup(item, item[rl - 1] == ':' ? rl - 1 : rl);
		in_app++;
	}
	if (in_app == 0)
		FP_FEED(out->message, strlen(out->message));
#undef FP_FEED
	fp_hex(h1, out->fingerprint);
	fp_hex(h2, out->fingerprint + 16);
	out->fingerprint[32] = '\0';
	out->location = loc ? loc : xstrdup("");
}

void fp_result_release(struct fp_result *r)
{
	free(r->message);
	free(r->location);
	r->message = r->location = NULL;
}
