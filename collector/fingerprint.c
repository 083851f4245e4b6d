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
				buf_putc(&b, c);
				buf_putc(&b, '?');
				buf_putc(&b, c);
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
				while (i < n)
					buf_putc(&b, msg[i++]);
				continue;
			}
			buf_putc(&b, 'N');
			i = n;
			continue;
		}
		buf_putc(&b, c);
		i++;
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
	bool under_root = false;
	size_t n;

	if (rl && len > rl && memcmp(path, app_root, rl) == 0 && path[rl] == '/') {
		p = path + rl + 1;
		under_root = true;
	}
	/* The release directory, wherever the root points (a "current" symlink resolves to it). */
	for (r = p; (r = memmem(r, (size_t)(end - r), "/releases/", 10)); r++) {
		const char *s = memchr(r + 10, '/', (size_t)(end - r - 10));

		if (s) {
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
	if (!app_root && p == path && memmem(p, n, "/vendor/", 8))
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

/* Split the trace into frames "#i PATH(LINE): FUNC" / "#i [internal function]: FUNC" / "#i {main}". */
static size_t fp_frames(const char *t, size_t len, struct fp_frame *fr, size_t max)
{
	const char *end = t + len;
	size_t n = 0;

	while (t < end && n < max) {
		const char *eol = memchr(t, '\n', (size_t)(end - t));
		const char *le = eol ? eol : end, *sp, *colon;

		if (*t == '#' && (sp = memchr(t, ' ', (size_t)(le - t)))) {
			const char *body = sp + 1;

			memset(&fr[n], 0, sizeof(fr[n]));
			colon = memmem(body, (size_t)(le - body), "): ", 3);
			if (colon && body[0] == '/') {
				const char *paren = colon;

				while (paren > body && *paren != '(')
					paren--;
				fr[n].path = body;
				fr[n].path_len = (size_t)(paren - body);
				fr[n].func = colon + 3;
				fr[n].func_len = (size_t)(le - colon - 3);
			} else if ((colon = memmem(body, (size_t)(le - body), ": ", 2))) {
				fr[n].func = colon + 2;
				fr[n].func_len = (size_t)(le - colon - 2);
			} else {
				fr[n].func = body;
				fr[n].func_len = (size_t)(le - body);
			}
			n++;
		}
		t = le + 1;
	}
	return n;
}

/* "SQLSTATE[xxxxx]" in the message, for the two classes whose message carries one. */
static size_t fp_sqlstate(const char *cls, const char *msg, size_t len, const char **out)
{
	const char *s;
	size_t cl = strlen(cls);

	if (!((cl >= 14 && strcmp(cls + cl - 14, "QueryException") == 0) ||
	      (cl >= 12 && strcmp(cls + cl - 12, "PDOException") == 0)))
		return 0;
	s = msg ? memmem(msg, len, "SQLSTATE[", 9) : NULL;
	if (!s || len - (size_t)(s - msg) < 15 || s[14] != ']')
		return 0;
	*out = s + 9;
	return 5;
}

void fp_compute(const struct fp_input *in, struct fp_result *out)
{
	struct fp_frame frames[FP_MAX_TRACE_FRAMES];
	size_t nframes = in->trace ? fp_frames(in->trace, in->trace_len, frames,
					      FP_MAX_TRACE_FRAMES)
				   : 0;
	uint64_t h1 = MODEL_FNV1A_INIT, h2 = MODEL_FNV1A_INIT ^ 0x9e3779b97f4a7c15ULL;
	const char *sql = NULL;
	size_t sql_len = fp_sqlstate(in->class_name, in->message, in->message_len, &sql);
	struct buf loc;
	int in_app = 0;
	size_t n;

	buf_init(&loc, 0);
	out->message = fp_normalise_message(in->message ? in->message : "", in->message_len);
#define FP_FEED(d, l)                                          \
	do {                                                   \
		h1 = model_fnv1a(h1, (d), (l));                \
		h2 = model_fnv1a(h2, (d), (l));                \
		h1 = model_fnv1a(h1, "\xff", 1);               \
		h2 = model_fnv1a(h2, "\xff", 1);               \
	} while (0)
	FP_FEED(in->class_name, strlen(in->class_name));
	FP_FEED(sql ? sql : "", sql_len);
	/* Locations, top first: the throw site, then the file of each frame; frame i's file runs
	 * the function of frame i+1 (and the throw site the function of frame 0). */
	for (size_t i = 0; i <= nframes && in_app < FP_FRAMES; i++) {
		const char *path = i == 0 ? in->throw_file : frames[i - 1].path;
		size_t plen = i == 0 ? in->throw_file_len : frames[i - 1].path_len;
		char rel[FP_MAX_PATH], func[FP_MAX_FUNC], item[FP_MAX_PATH + FP_MAX_FUNC + 2];
		int il;

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
		if (!fp_frame_in_app(path, plen, in->app_root, rel, sizeof(rel)))
			continue;
		func[0] = '\0';
		if (i < nframes)
			fp_function(frames[i].func, frames[i].func_len, func, sizeof(func));
		il = snprintf(item, sizeof(item), "%s:%s", rel, func);
		FP_FEED(item, (size_t)il);
		if (in_app == 0)
			buf_puts(&loc, item);
		in_app++;
	}
	if (in_app == 0)
		FP_FEED(out->message, strlen(out->message));
#undef FP_FEED
	snprintf(out->fingerprint, sizeof(out->fingerprint), "%016llx%016llx",
		 (unsigned long long)h1, (unsigned long long)h2);
	out->location = loc.data ? buf_detach(&loc, &n) : xstrdup("");
	buf_release(&loc);
}

void fp_result_release(struct fp_result *r)
{
	free(r->message);
	free(r->location);
	r->message = r->location = NULL;
}
