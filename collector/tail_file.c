/*
 * A followed file's identity, its committed record, and the line reader.
 *
 * Identity is device + inode + a hash of the first bytes: inodes are reused after a delete
 * (Filebeat #34419), and a file truncated and rewritten in place keeps its inode, so the inode
 * alone cannot tell; the first bytes of a log (a timestamp) can.
 */
#include "collector/tail_int.h"

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Bytes read per pread: large enough that a busy file costs few system calls. */
#define READ_CHUNK ((size_t)64 << 10)
#define RECORD_VERSION 1

int tail_id_take(int fd, const struct stat *st, struct tail_id *id, char *out)
{
	char buf[TAIL_SIG_MAX], *head = out ? out : buf;
	size_t want = st->st_size < (off_t)TAIL_SIG_MAX ? (size_t)st->st_size : TAIL_SIG_MAX;
	ssize_t n = want ? pread(fd, head, want, 0) : 0;

	if (n < 0)
		return -errno;
	id->dev = (uint64_t)st->st_dev;
	id->ino = (uint64_t)st->st_ino;
	id->sig_len = (uint32_t)n;
	id->sig = model_fnv1a(MODEL_FNV1A_INIT, head, (size_t)n);
	return 0;
}

/* The identity's first half, shared by tail_id_matches and tail_id_verify: false when the file
 * is another inode or shorter than the signature; else *n the signature's bytes read into 'buf'
 * (0 when the identity has none, which matches). */
static bool read_sig(int fd, const struct stat *st, const struct tail_id *id,
		     char buf[TAIL_SIG_MAX], size_t *n)
{
	*n = 0;
	if ((uint64_t)st->st_dev != id->dev || (uint64_t)st->st_ino != id->ino ||
	    st->st_size < (off_t)id->sig_len)
		return false;
	if (!id->sig_len)
		return true;
	if (pread(fd, buf, id->sig_len, 0) != (ssize_t)id->sig_len)
		return false;
	*n = id->sig_len;
	return true;
}

bool tail_id_matches(int fd, const struct stat *st, const struct tail_id *id)
{
	char head[TAIL_SIG_MAX];
	size_t n;

	if (!read_sig(fd, st, id, head, &n))
		return false;
	return n == 0 || model_fnv1a(MODEL_FNV1A_INIT, head, n) == id->sig;
}

static bool same_id(const struct tail_id *a, const struct tail_id *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->sig_len == b->sig_len && a->sig == b->sig;
}

bool tail_id_verify(int fd, const struct stat *st, const struct tail_id *id,
		    struct tail_head *head)
{
	char buf[TAIL_SIG_MAX];
	size_t n;

	if (!read_sig(fd, st, id, buf, &n))
		return false;
	if (n == 0)
		return true;
	if (same_id(&head->id, id))
		return memcmp(buf, head->bytes, n) == 0;
	if (model_fnv1a(MODEL_FNV1A_INIT, buf, n) != id->sig)
		return false;
	head->id = *id;
	memcpy(head->bytes, buf, n);
	return true;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* Layout: version(1) pad(3) sig_len(4) dev ino sig offset tick_ms (8 each). */
size_t tail_record_encode(const struct tail_record *r, uint8_t out[TAIL_RECORD_SIZE])
{
	memset(out, 0, TAIL_RECORD_SIZE);
	out[0] = RECORD_VERSION;
	out[4] = (uint8_t)r->id.sig_len;
	out[5] = (uint8_t)(r->id.sig_len >> 8);
	out[6] = (uint8_t)(r->id.sig_len >> 16);
	out[7] = (uint8_t)(r->id.sig_len >> 24);
	put_le64(out + 8, r->id.dev);
	put_le64(out + 16, r->id.ino);
	put_le64(out + 24, r->id.sig);
	put_le64(out + 32, r->offset);
	put_le64(out + 40, (uint64_t)r->tick_ms);
	return TAIL_RECORD_SIZE;
}

int tail_record_decode(const void *data, size_t len, struct tail_record *r)
{
	const uint8_t *p = data;

	if (len != TAIL_RECORD_SIZE || p[0] != RECORD_VERSION)
		return -EINVAL;
	r->id.sig_len = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			(uint32_t)p[7] << 24;
	if (r->id.sig_len > TAIL_SIG_MAX)
		return -EINVAL;
	r->id.dev = get_le64(p + 8);
	r->id.ino = get_le64(p + 16);
	r->id.sig = get_le64(p + 24);
	r->offset = get_le64(p + 32);
	r->tick_ms = (int64_t)get_le64(p + 40);
	return 0;
}

void tail_record_key(const char *source, const char *path, char out[TAIL_KEY_MAX])
{
	int n = snprintf(out, TAIL_KEY_MAX, "tail/%s/%s", source, path);

	/* A path too long for the store's key: its tail and a hash of the whole keep it unique. */
	if (n < 0 || n >= TAIL_KEY_MAX) {
		uint64_t h = model_fnv1a(MODEL_FNV1A_INIT, path, strlen(path));
		size_t plen = strlen(path);
		const char *tail = path + (plen > 100 ? plen - 100 : 0);

		snprintf(out, TAIL_KEY_MAX, "tail/%.64s/#%016llx/%s", source, (unsigned long long)h,
			 tail);
	}
}

bool tail_content_key(const char *source, const char *head, size_t len, const char *origin,
		      char out[TAIL_KEY_MAX])
{
	const char *nl = memchr(head, '\n', len);
	unsigned long long h;
	size_t n;

	if (!nl)
		return false;
	n = (size_t)(nl - head) + 1;
	h = (unsigned long long)model_fnv1a(MODEL_FNV1A_INIT, head, n);
	if (origin)
		snprintf(out, TAIL_KEY_MAX, "counted/%.120s/%016llx-%zu/%016llx", source, h, n,
			 (unsigned long long)model_fnv1a(MODEL_FNV1A_INIT, origin, strlen(origin)));
	else
		snprintf(out, TAIL_KEY_MAX, "counted/%.150s/%016llx-%zu", source, h, n);
	return true;
}

bool tail_content_key_fd(const char *source, int fd, const char *origin, char out[TAIL_KEY_MAX])
{
	char head[TAIL_SIG_MAX];
	ssize_t n = pread(fd, head, sizeof(head), 0);

	return n > 0 && tail_content_key(source, head, (size_t)n, origin, out);
}

/* Whether record 'rec' is of the content 'head' begins with. */
static bool content_matches(const struct tail_record *rec, const char *head, size_t len)
{
	return rec->id.sig_len && rec->id.sig_len <= len &&
	       model_fnv1a(MODEL_FNV1A_INIT, head, rec->id.sig_len) == rec->id.sig;
}

int tail_content_find(const char *source, const char *head, size_t len, const struct stat *st,
		      const char *const *origins, size_t n, tail_get_fn get, void *ctx,
		      struct tail_record *rec, char key[TAIL_KEY_MAX])
{
	char k[TAIL_KEY_MAX];
	struct tail_record r;
	struct buf b;
	int found = -ENOENT;

	if (!get)
		return -ENOENT;
	buf_init(&b, 64);
	for (size_t i = 0; i <= n; i++) {
		bool same_file;

		if (!tail_content_key(source, head, len, i < n ? origins[i] : NULL, k))
			break;
		buf_reset(&b);
		if (get(ctx, k, &b) || tail_record_decode(b.data, b.len, &r) ||
		    !content_matches(&r, head, len))
			continue;
		same_file = st && r.id.dev == (uint64_t)st->st_dev && r.id.ino == (uint64_t)st->st_ino;
		if (found < 0 || same_file) {
			found = (int)i;
			*rec = r;
			memcpy(key, k, TAIL_KEY_MAX);
		}
		if (same_file)
			break;
	}
	buf_release(&b);
	return found;
}

size_t tail_origins_by_name(const char *path, const char *pattern, char **out, size_t max)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	size_t n = 0;

	for (const char *p = base + 1; *p && n < max; p++) {
		char *cand;

		if (*p != '.' && *p != '-')
			continue;
		cand = xstrndup(path, (size_t)(p - path));
		if (fnmatch(pattern, cand, FNM_PATHNAME) == 0)
			out[n++] = cand;
		else
			free(cand);
	}
	return n;
}

/* ---- the line reader ---- */

void tail_reader_init(struct tail_reader *r, uint64_t offset, size_t max_line)
{
	memset(r, 0, sizeof(*r));
	r->max_line = max_line ? max_line : TAIL_DEFAULT_MAX_LINE;
	/* One byte of slack for the terminating NUL the buffer keeps. */
	buf_init(&r->line, r->max_line + 1);
	buf_init(&r->fixed, 3 * r->max_line + 1);
	r->offset = r->line_start = offset;
}

void tail_reader_release(struct tail_reader *r)
{
	buf_release(&r->line);
	buf_release(&r->fixed);
}

void tail_reader_reset(struct tail_reader *r, uint64_t offset)
{
	buf_reset(&r->line);
	r->cutting = false;
	r->offset = r->line_start = offset;
	r->head_len = 0;
}

void tail_reader_seed_head(struct tail_reader *r, const char *bytes, size_t len)
{
	if (len > TAIL_SIG_MAX)
		len = TAIL_SIG_MAX;
	memcpy(r->head, bytes, len);
	r->head_len = (uint32_t)len;
}

/* Keep the bytes of a read that lie in the head, when they continue what is kept. */
static void keep_head(struct tail_reader *r, const char *data, size_t n, uint64_t at)
{
	size_t len;

	if (at >= TAIL_SIG_MAX || at > r->head_len)
		return;
	len = TAIL_SIG_MAX - (size_t)at < n ? TAIL_SIG_MAX - (size_t)at : n;
	memcpy(r->head + at, data, len);
	if (at + len > r->head_len)
		r->head_len = (uint32_t)(at + len);
}

bool tail_id_extend(struct tail_id *id, const struct tail_reader *r)
{
	if (r->head_len <= id->sig_len)
		return true;
	if (model_fnv1a(MODEL_FNV1A_INIT, r->head, id->sig_len) != id->sig)
		return false;
	id->sig_len = r->head_len;
	id->sig = model_fnv1a(MODEL_FNV1A_INIT, r->head, r->head_len);
	return true;
}

/* Whether every byte is ASCII and not NUL, eight at a time: most log lines, which then need no
 * UTF-8 decoding at all. */
static bool plain_ascii(const char *s, size_t n)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	size_t i = 0;

	/* Four words a round, tested once: (w - ones) & ~w & highs is non-zero iff w has a NUL */
	for (; i + 32 <= n; i += 32) {
		uint64_t w[4], any = 0;

		memcpy(w, s + i, 32);
		for (int k = 0; k < 4; k++)
			any |= w[k] | ((w[k] - ones) & ~w[k]);
		if (any & highs)
			return false;
	}
	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, s + i, 8);
		if ((w & highs) || ((w - ones) & ~w & highs))
			return false;
	}
	for (; i < n; i++)
		if ((unsigned char)s[i] - 1u >= 0x7fu)
			return false;
	return true;
}

/* NUL bytes and invalid UTF-8 become U+FFFD, so no label made from a line breaks an exposition. */
static const char *repair(struct tail_reader *r, const char *line, size_t *len)
{
	static const char fffd[] = "\xef\xbf\xbd";
	const unsigned char *p = (const unsigned char *)line;
	size_t i = 0, n = *len;

	if (plain_ascii(line, n) || (!memchr(line, 0, n) && model_utf8_valid(line, n)))
		return line;
	buf_reset(&r->fixed);
	while (i < n) {
		size_t size = 1;
		long cp = p[i] < 0x80 ? p[i] : model_utf8_decode(p + i, n - i, &size);

		if (cp <= 0 || size == 0) {
			buf_append(&r->fixed, fffd, 3);
			i++;
			continue;
		}
		buf_append(&r->fixed, p + i, size);
		i += size;
	}
	r->repaired++;
	*len = r->fixed.len;
	return r->fixed.data;
}

static int emit(struct tail_reader *r, const char *line, size_t len, uint64_t end, bool cut,
		tail_line_fn fn, void *ctx)
{
	line = repair(r, line, &len);
	r->lines++;
	if (cut)
		r->long_lines++;
	return fn(ctx, line, len, end, cut);
}

int tail_reader_feed(struct tail_reader *r, const char *data, size_t len, tail_line_fn fn,
		     void *ctx)
{
	size_t pos = 0;
	int err;

	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t seg = nl ? (size_t)(nl - (data + pos)) : len - pos;
		const char *line = r->line.data;
		size_t line_len;
		bool cut;
		uint64_t end;

		if (nl && r->line.len == 0 && !r->cutting) {
			/* The whole line is in 'data': no copy. */
			line = data + pos;
			cut = seg > r->max_line;
			line_len = cut ? r->max_line : seg;
		} else {
			if (!r->cutting) {
				size_t room = r->max_line - r->line.len;

				buf_append(&r->line, data + pos, seg > room ? room : seg);
				r->cutting = seg > room;
			}
			if (!nl) {
				r->offset += seg;
				return 0;
			}
			line = r->line.data;
			line_len = r->line.len;
			cut = r->cutting;
		}
		end = r->offset + seg + 1;
		r->offset = end;
		pos += seg + 1;
		err = emit(r, line ? line : "", line_len, end, cut, fn, ctx);
		if (r->line.len)
			buf_reset(&r->line);
		r->cutting = false;
		r->line_start = end;
		if (err)
			return err;
	}
	return 0;
}

int tail_reader_finish(struct tail_reader *r, tail_line_fn fn, void *ctx)
{
	int err;

	if (r->offset == r->line_start)
		return 0;
	err = emit(r, r->line.len ? r->line.data : "", r->line.len, r->offset, r->cutting, fn, ctx);
	buf_reset(&r->line);
	r->cutting = false;
	r->line_start = r->offset;
	return err;
}

ssize_t tail_reader_read(struct tail_reader *r, int fd, size_t budget, tail_line_fn fn, void *ctx,
			 bool (*check)(void *ctx))
{
	static char chunk[READ_CHUNK];
	size_t total = 0;

	r->stale = false;
	while (total < budget) {
		size_t want = budget - total < READ_CHUNK ? budget - total : READ_CHUNK;
		ssize_t n = pread(fd, chunk, want, (off_t)r->offset);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return total ? (ssize_t)total : -errno;
		}
		if (n == 0)
			break;
		if (check && !check(ctx)) {
			/* Rewritten under us: these bytes may be the new file's, at the old offset. */
			r->stale = true;
			break;
		}
		total += (size_t)n;
		keep_head(r, chunk, (size_t)n, r->offset);
		if (tail_reader_feed(r, chunk, (size_t)n, fn, ctx))
			break;
		/* A short read of a regular file is its end for now: no second call to learn it. */
		if ((size_t)n < want)
			break;
	}
	return (ssize_t)total;
}
