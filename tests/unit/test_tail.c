/*
 * The tailer's pure pieces from tables: the line reader (every case fed whole and byte by byte),
 * file identity against real temporary files, the offset record, and log time (the values a
 * series had at earlier grid points).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "collector/tail_int.h"
#include "core/buf.h"
#include "core/registry.h"

/* ---- the line reader ---- */

struct line_case {
	const char *name;
	const char *input;      /* fed as one piece and byte by byte */
	size_t input_len;       /* 0: strlen */
	size_t max_line;
	const char *want;       /* lines as "text@end" (cut lines "text@end!"), joined by '|' */
	uint64_t want_offset;   /* r->offset after the input */
};

static const struct line_case line_cases[] = {
	{ "two lines", "a\nbc\n", 0, 0, "a@2|bc@5", 5 },
	{ "partial last line waits", "a\nbc", 0, 0, "a@2", 4 },
	{ "empty lines", "\n\n", 0, 0, "@1|@2", 2 },
	{ "long line cut", "abcdefgh\nxy\n", 0, 4, "abcd@9!|xy@12", 12 },
	{ "exactly max", "abcd\n", 0, 4, "abcd@5", 5 },
	{ "long partial line", "abcdefgh", 0, 4, "", 8 },
	{ "NUL repaired", "a\0b\n", 4, 0, "a\xef\xbf\xbd" "b@4", 4 },
	{ "invalid UTF-8 repaired", "\xff" "x\n", 0, 0, "\xef\xbf\xbd" "x@3", 3 },
	{ "valid UTF-8 kept", "caf\xc3\xa9\n", 0, 0, "caf\xc3\xa9@6", 6 },
	{ "cut inside a character", "abc\xc3\xa9\n", 0, 4, "abc\xef\xbf\xbd@6!", 6 },
	{ "CR kept", "a\r\n", 0, 0, "a\r@3", 3 },
};

static int collect_line(void *ctx, const char *line, size_t len, uint64_t end, bool cut)
{
	struct buf *out = ctx;

	if (out->len)
		buf_putc(out, '|');
	buf_append(out, line, len);
	buf_printf(out, "@%llu%s", (unsigned long long)end, cut ? "!" : "");
	return 0;
}

static void test_reader_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(line_cases) / sizeof(line_cases[0]); i++) {
		const struct line_case *c = &line_cases[i];
		size_t len = c->input_len ? c->input_len : strlen(c->input);

		for (int bytewise = 0; bytewise < 2; bytewise++) {
			struct tail_reader r;
			struct buf out;

			buf_init(&out, 0);
			tail_reader_init(&r, 0, c->max_line);
			if (bytewise) {
				for (size_t k = 0; k < len; k++)
					assert_int_equal(tail_reader_feed(&r, c->input + k, 1,
									  collect_line, &out), 0);
			} else {
				assert_int_equal(tail_reader_feed(&r, c->input, len, collect_line, &out),
						 0);
			}
			if (strcmp(out.len ? out.data : "", c->want) != 0)
				fail_msg("%s (%s): got \"%s\", want \"%s\"", c->name,
					 bytewise ? "byte by byte" : "whole", out.len ? out.data : "",
					 c->want);
			assert_int_equal(r.offset, c->want_offset);
			tail_reader_release(&r);
			buf_release(&out);
		}
	}
}

static int stop_after_first(void *ctx, const char *line, size_t len, uint64_t end, bool cut)
{
	(void)line, (void)len, (void)end, (void)cut;
	(*(int *)ctx)++;
	return 7;
}

/* A callback that stops leaves the reader at the end of the line it was given. */
static void test_reader_stop(void **state)
{
	struct tail_reader r;
	int calls = 0;

	(void)state;
	tail_reader_init(&r, 100, 0);
	assert_int_equal(tail_reader_feed(&r, "ab\ncd\n", 6, stop_after_first, &calls), 7);
	assert_int_equal(calls, 1);
	assert_int_equal(r.offset, 103);
	tail_reader_release(&r);
}

/* Reading a real file: a 3 MiB line between two short ones, with a 1 MiB limit. */
static void test_reader_file(void **state)
{
	char path[] = "/tmp/dw-tail-XXXXXX";
	int fd = mkstemp(path);
	size_t big = (size_t)3 << 20;
	char *data = malloc(big + 16);
	struct tail_reader r;
	struct buf out;
	ssize_t n, total = 0;

	(void)state;
	assert_true(fd >= 0);
	memcpy(data, "x\n", 2);
	memset(data + 2, 'y', big);
	memcpy(data + 2 + big, "\nz\n", 3);
	assert_int_equal(write(fd, data, big + 5), (ssize_t)(big + 5));
	buf_init(&out, 0);
	tail_reader_init(&r, 0, 0);
	while ((n = tail_reader_read(&r, fd, (size_t)1 << 20, collect_line, &out, NULL)) > 0)
		total += n;
	assert_int_equal(n, 0);
	assert_int_equal(total, (ssize_t)(big + 5));
	assert_int_equal(r.lines, 3);
	assert_int_equal(r.long_lines, 1);
	assert_int_equal(out.len, 4 + TAIL_DEFAULT_MAX_LINE + strlen("@3145731!|z@3145733"));
	assert_string_equal(out.data + out.len - strlen("@3145731!|z@3145733"), "@3145731!|z@3145733");
	tail_reader_release(&r);
	buf_release(&out);
	free(data);
	close(fd);
	unlink(path);
}

/* ---- identity and records ---- */

static int write_file(const char *path, const char *text, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | flags, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return open(path, O_RDONLY);
}

static bool same_bytes(const char *a, const char *b, size_t n)
{
	return memcmp(a, b, n) == 0;
}

static void test_identity(void **state)
{
	char dir[] = "/tmp/dw-tailid-XXXXXX", a[64], b[64];
	struct tail_id id, id2;
	struct tail_head head = { 0 }, head2 = { 0 };
	struct stat st;
	int fd, fd2;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/a.log", dir);
	snprintf(b, sizeof(b), "%s/b.log", dir);
	fd = write_file(a, "2026-11-27 first line\n", O_TRUNC);
	fstat(fd, &st);
	assert_int_equal(tail_id_take(fd, &st, &id, NULL), 0);
	assert_int_equal(id.sig_len, 22);
	assert_true(tail_id_matches(fd, &st, &id));
	/* tail_id_verify answers the same: first by hash (keeping the bytes), then by compare */
	assert_true(tail_id_verify(fd, &st, &id, &head));
	assert_int_equal(head.id.sig, id.sig);
	assert_true(tail_id_verify(fd, &st, &id, &head));
	/* Growing keeps the identity. */
	close(write_file(a, "second\n", O_APPEND));
	fstat(fd, &st);
	assert_true(tail_id_matches(fd, &st, &id));
	assert_true(tail_id_verify(fd, &st, &id, &head));
	/* Truncated and rewritten in place (copytruncate): same inode, other first bytes. */
	close(write_file(a, "2026-11-28 other line\n", O_TRUNC));
	fstat(fd, &st);
	assert_false(tail_id_matches(fd, &st, &id));
	assert_false(tail_id_verify(fd, &st, &id, &head));  /* same length: the compare tells */
	assert_false(tail_id_verify(fd, &st, &id, &head2)); /* nothing kept: the hash tells */
	/* Truncated shorter than the signature. */
	assert_int_equal(truncate(a, 5), 0);
	fstat(fd, &st);
	assert_false(tail_id_matches(fd, &st, &id));
	assert_false(tail_id_verify(fd, &st, &id, &head));
	/* Another file with the same first bytes is still another file. */
	fd2 = write_file(b, "2026-11-27 first line\n", O_TRUNC);
	fstat(fd2, &st);
	assert_int_equal(tail_id_take(fd2, &st, &id2, NULL), 0);
	assert_int_equal(id2.sig, id.sig);
	assert_false(tail_id_matches(fd2, &st, &id));
	assert_false(tail_id_verify(fd2, &st, &id, &head));
	/* A new identity is verified by hash again, not against the bytes kept for the old one. */
	assert_true(tail_id_verify(fd2, &st, &id2, &head));
	assert_true(same_bytes(head.bytes, "2026-11-27 first line\n", 22));
	close(fd);
	close(fd2);
	unlink(a);
	unlink(b);
	rmdir(dir);
}

/*
 * The identity grows with what was read. An identity taken of an empty file (just after a
 * copytruncate), whose reader then read lines written after the look, covered none of them;
 * grown later from whatever the file held, it took on a rewritten file's bytes, and the next
 * copytruncate (same inode, bigger than the offset) went unseen: its lines were lost (seen in
 * integration_tail_rotation, 2 runs in 10).
 */
static void test_identity_grows_with_reads(void **state)
{
	char dir[] = "/tmp/dw-tailgrow-XXXXXX", a[64];
	const char *first = "[2026-11-30 10:00:00] production.ERROR: entry 1\n";
	const char *second = "[2026-11-30 10:00:01] production.ERROR: entry 2 of a longer file\n"
			     "[2026-11-30 10:00:02] production.ERROR: entry 3 of a longer file\n";
	struct tail_id id;
	struct tail_head head = { 0 };
	struct tail_reader r;
	struct buf out;
	struct stat st;
	char bytes[TAIL_SIG_MAX];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(a, sizeof(a), "%s/laravel.log", dir);
	fd = write_file(a, "", O_TRUNC);
	fstat(fd, &st);
	/* The look: empty. */
	assert_int_equal(tail_id_take(fd, &st, &id, bytes), 0);
	assert_int_equal(id.sig_len, 0);
	buf_init(&out, 0);
	tail_reader_init(&r, 0, 0);
	tail_reader_seed_head(&r, bytes, id.sig_len);
	/* Written after the look, read by the same pass. */
	close(write_file(a, first, O_APPEND));
	assert_int_equal(tail_reader_read(&r, fd, 1 << 20, collect_line, &out, NULL), (ssize_t)strlen(first));
	assert_int_equal(r.head_len, strlen(first));
	assert_true(tail_id_extend(&id, &r));
	assert_int_equal(id.sig_len, strlen(first));
	/* copytruncate, then the writer goes on past our offset before the next look. */
	close(write_file(a, second, O_TRUNC));
	fstat(fd, &st);
	assert_true((uint64_t)st.st_size > r.offset);
	assert_false(tail_id_verify(fd, &st, &id, &head));
	assert_false(tail_id_matches(fd, &st, &id));

	/* A head that does not begin with the identity's bytes does not grow it. */
	{
		struct tail_id old = id;

		tail_reader_reset(&r, 0);
		assert_int_equal(r.head_len, 0);
		assert_int_equal(tail_reader_read(&r, fd, 1 << 20, collect_line, &out, NULL),
				 (ssize_t)strlen(second));
		assert_false(tail_id_extend(&id, &r));
		assert_int_equal(id.sig_len, old.sig_len);
		assert_int_equal(id.sig, old.sig);
	}
	/* A reader that starts past the head (resumed) keeps only what was seeded. */
	tail_reader_reset(&r, 10);
	tail_reader_seed_head(&r, second, 10);
	assert_int_equal(tail_reader_read(&r, fd, 1 << 20, collect_line, &out, NULL),
			 (ssize_t)strlen(second) - 10);
	assert_int_equal(r.head_len, strlen(second));
	assert_true(same_bytes(r.head, second, strlen(second)));
	tail_reader_release(&r);
	buf_release(&out);
	close(fd);
	unlink(a);
	rmdir(dir);
}

static void test_record(void **state)
{
	const struct tail_record r = { .id = { .dev = 2049, .ino = 1234567890123ULL, .sig_len = 1024,
					       .sig = 0xfeedfacecafebeefULL },
				       .offset = 5000000000ULL, .tick_ms = 1764547200000LL };
	uint8_t buf[TAIL_RECORD_SIZE];
	struct tail_record back;
	char key[TAIL_KEY_MAX], key2[TAIL_KEY_MAX], longpath[400];

	(void)state;
	assert_int_equal(tail_record_encode(&r, buf), TAIL_RECORD_SIZE);
	assert_int_equal(tail_record_decode(buf, sizeof(buf), &back), 0);
	assert_int_equal(back.id.dev, r.id.dev);
	assert_int_equal(back.id.ino, r.id.ino);
	assert_int_equal(back.id.sig_len, r.id.sig_len);
	assert_int_equal(back.id.sig, r.id.sig);
	assert_int_equal(back.offset, r.offset);
	assert_int_equal(back.tick_ms, r.tick_ms);
	assert_int_equal(tail_record_decode(buf, sizeof(buf) - 1, &back), -EINVAL);
	buf[0] = 99;
	assert_int_equal(tail_record_decode(buf, sizeof(buf), &back), -EINVAL);

	tail_record_key("laravel", "/var/www/a/storage/logs/laravel.log", key);
	assert_string_equal(key, "tail/laravel//var/www/a/storage/logs/laravel.log");
	/* Paths too long for a key stay apart. */
	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	tail_record_key("s", longpath, key);
	longpath[0] = 'q';
	tail_record_key("s", longpath, key2);
	assert_true(strlen(key) < TAIL_KEY_MAX);
	assert_string_not_equal(key, key2);
}

/* ---- content records ---- */

/* A tiny store for tail_content_find: keys and 48-byte records. */
struct kv {
	char key[8][TAIL_KEY_MAX];
	uint8_t val[8][TAIL_RECORD_SIZE];
	size_t n;
};

static void kv_put(struct kv *kv, const char *key, const struct tail_record *r)
{
	size_t i;

	for (i = 0; i < kv->n && strcmp(kv->key[i], key); i++)
		;
	assert_true(i < 8);
	snprintf(kv->key[i], TAIL_KEY_MAX, "%s", key);
	tail_record_encode(r, kv->val[i]);
	if (i == kv->n)
		kv->n++;
}

static int kv_get(void *ctx, const char *key, struct buf *out)
{
	struct kv *kv = ctx;

	for (size_t i = 0; i < kv->n; i++) {
		if (!strcmp(kv->key[i], key)) {
			buf_reset(out);
			buf_append(out, kv->val[i], TAIL_RECORD_SIZE);
			return 0;
		}
	}
	return -ENOENT;
}

static struct tail_record content_record(const char *head, uint64_t ino, uint64_t offset)
{
	struct tail_record r = { .id = { .dev = 1, .ino = ino, .sig_len = (uint32_t)strlen(head) },
				 .offset = offset };

	r.id.sig = model_fnv1a(MODEL_FNV1A_INIT, head, strlen(head));
	return r;
}

/*
 * Two files whose first lines are the same (issue 9: they shared one record): each has its own
 * record under its origin; the record without an origin (last writer wins) is taken only for the
 * content it describes.
 */
static void test_content_records(void **state)
{
	const char *shop = "[boot] up\nshop 1\n", *blog = "[boot] up\nblog 1 longer\n";
	const char *origins[] = { "/l/blog.log", "/l/shop.log" };
	char k1[TAIL_KEY_MAX], k2[TAIL_KEY_MAX], k3[TAIL_KEY_MAX], key[TAIL_KEY_MAX];
	struct tail_record rec, rs = content_record(shop, 10, 17), rb = content_record(blog, 20, 24);
	struct stat st = { .st_dev = 1, .st_ino = 10 };
	struct kv kv = { .n = 0 };
	char *cand[8];
	size_t n;

	(void)state;
	assert_false(tail_content_key("app", "no newline", 10, NULL, k1));
	assert_true(tail_content_key("app", shop, strlen(shop), NULL, k1));
	assert_true(tail_content_key("app", blog, strlen(blog), NULL, k2));
	assert_string_equal(k1, k2); /* the same first line: the same key without an origin */
	assert_true(tail_content_key("app", shop, strlen(shop), origins[1], k2));
	assert_true(tail_content_key("app", blog, strlen(blog), origins[0], k3));
	assert_string_not_equal(k2, k3);
	assert_true(strncmp(k2, k1, strlen(k1)) == 0 && k2[strlen(k1)] == '/');

	assert_int_equal(tail_content_find("app", shop, strlen(shop), NULL, origins, 2, kv_get, &kv,
					   &rec, key), -ENOENT);
	kv_put(&kv, k2, &rs);
	kv_put(&kv, k3, &rb);
	kv_put(&kv, k1, &rb); /* blog wrote the shared key last */
	/* shop: found under its origin (index 1), not blog's record under the other. */
	assert_int_equal(tail_content_find("app", shop, strlen(shop), NULL, origins, 2, kv_get, &kv,
					   &rec, key), 1);
	assert_int_equal(rec.offset, 17);
	assert_string_equal(key, k2);
	/* No origin known: the shared key holds blog's record, whose signature is not shop's. */
	assert_int_equal(tail_content_find("app", shop, strlen(shop), NULL, NULL, 0, kv_get, &kv,
					   &rec, key), -ENOENT);
	assert_int_equal(tail_content_find("app", blog, strlen(blog), NULL, NULL, 0, kv_get, &kv,
					   &rec, key), 0);
	assert_int_equal(rec.offset, 24);
	assert_string_equal(key, k1);
	/* The same content under two origins: the record of the same inode wins. */
	kv_put(&kv, k3, &rs);
	assert_int_equal(tail_content_find("app", shop, strlen(shop), &st, origins, 2, kv_get, &kv,
					   &rec, key), 0);
	rs.id.ino = 11;
	rs.offset = 5;
	kv_put(&kv, k3, &rs);
	assert_int_equal(tail_content_find("app", shop, strlen(shop), &st, origins, 2, kv_get, &kv,
					   &rec, key), 1);
	assert_int_equal(rec.offset, 17);

	/* Origins from a rotated file's name: the prefixes the source's glob matches. */
	n = tail_origins_by_name("/l/laravel-2026-12-01.log.3", "/l/laravel*.log", cand, 8);
	assert_int_equal(n, 1);
	assert_string_equal(cand[0], "/l/laravel-2026-12-01.log");
	free(cand[0]);
	n = tail_origins_by_name("/l/a.log.1.gz", "/l/*.log", cand, 8);
	assert_int_equal(n, 1);
	assert_string_equal(cand[0], "/l/a.log");
	free(cand[0]);
	n = tail_origins_by_name("/l/access.log-20261201", "/l/*", cand, 8);
	assert_int_equal(n, 2);
	assert_string_equal(cand[0], "/l/access");
	assert_string_equal(cand[1], "/l/access.log");
	free(cand[0]);
	free(cand[1]);
	assert_int_equal(tail_origins_by_name("/l/other.txt", "/l/*.log", cand, 8), 0);
	assert_int_equal(tail_origins_by_name("/l/.hidden", "/l/*", cand, 8), 0);
}

/* ---- log time ---- */

struct emitted {
	char text[4096];
};

static int collect_sample(void *ctx, const struct label *labels, size_t n, enum metric_type type,
			  int64_t t_ms, double v)
{
	struct emitted *e = ctx;
	size_t len = strlen(e->text);

	(void)type;
	len += (size_t)snprintf(e->text + len, sizeof(e->text) - len, "%s%s", len ? " " : "",
				labels[0].value);
	for (size_t i = 1; i < n; i++)
		len += (size_t)snprintf(e->text + len, sizeof(e->text) - len, "%s%s=%s",
					i == 1 ? "{" : ",", labels[i].name, labels[i].value);
	snprintf(e->text + len, sizeof(e->text) - len, "%s@%lld=%g", n > 1 ? "}" : "",
		 (long long)t_ms, v);
	return 0;
}

/* An event as the parsers make one: change the registry, then tell the sink. */
static bool count(struct tail_time *tt, struct series *s, double d, int64_t t)
{
	series_add(s, d);
	return tail_time_note(tt, s, t, d);
}

static bool observe(struct tail_time *tt, struct series *s, double v, int64_t t)
{
	series_observe(s, v);
	return tail_time_note(tt, s, t, v);
}

static void test_time_counter(void **state)
{
	static const char *const lv[] = { "level", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_counter(reg, "log_entries_total", "h", lv);
	struct series *err = metric_series(m, (const char *[]){ "error" });
	struct tail_time *tt = tail_time_new(10000);
	struct emitted e = { "" };

	(void)state;
	series_add(err, 5); /* counted before: the base */
	assert_false(count(tt, err, 1, 3000));   /* grid 10000 */
	assert_false(count(tt, err, 2, 12000));  /* grid 20000 */
	assert_false(count(tt, err, 1, 20000));  /* on the grid point: 20000 */
	assert_false(count(tt, err, 1, 25000));  /* grid 30000: the tick's own sample holds it */
	assert_int_equal(tail_time_emit(tt, 30000, collect_sample, &e), 0);
	assert_string_equal(e.text, "log_entries_total{level=error}@10000=6 "
				    "log_entries_total{level=error}@20000=9");
	/* After the tick at 30000: an event of 25000 is late (the tick's sample counts it). */
	assert_true(count(tt, err, 1, 25000));
	assert_true(count(tt, err, 1, 30000));
	assert_false(count(tt, err, 1, 30001));
	e.text[0] = 0;
	assert_int_equal(tail_time_emit(tt, 50000, collect_sample, &e), 0);
	assert_string_equal(e.text, "log_entries_total{level=error}@40000=13");
	tail_time_free(tt);
	registry_free(reg);
}

static void test_time_histogram(void **state)
{
	static const double bounds[] = { 1, 5 };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_histogram(reg, "d_seconds", "h", NULL, bounds, 2);
	struct series *s = metric_series(m, NULL);
	struct tail_time *tt = tail_time_new(10000);
	struct emitted e = { "" };

	(void)state;
	observe(tt, s, 0.5, 3000);
	observe(tt, s, 3, 4000);
	observe(tt, s, 7, 14000);
	assert_int_equal(tail_time_emit(tt, 30000, collect_sample, &e), 0);
	/* created by its first observation: zeros one grid step before it */
	assert_string_equal(e.text,
			    "d_seconds_bucket{le=1}@0=0 d_seconds_bucket{le=5}@0=0 "
			    "d_seconds_bucket{le=+Inf}@0=0 d_seconds_sum@0=0 d_seconds_count@0=0 "
			    "d_seconds_bucket{le=1}@10000=1 d_seconds_bucket{le=5}@10000=2 "
			    "d_seconds_bucket{le=+Inf}@10000=2 d_seconds_sum@10000=3.5 "
			    "d_seconds_count@10000=2 "
			    "d_seconds_bucket{le=1}@20000=1 d_seconds_bucket{le=5}@20000=2 "
			    "d_seconds_bucket{le=+Inf}@20000=3 d_seconds_sum@20000=10.5 "
			    "d_seconds_count@20000=3");
	tail_time_free(tt);
	registry_free(reg);
}

/*
 * A counter created by its first event gets a zero one grid step before that event's point, so
 * increase() sees the first event; once, and never at or after the tick's own sample.
 */
static void test_time_first_event(void **state)
{
	static const char *const lv[] = { "class", NULL };
	struct registry *reg = registry_new(0);
	struct metric *m = registry_counter(reg, "exc_total", "h", lv);
	struct series *a = metric_series(m, (const char *[]){ "A" });
	struct series *b = metric_series(m, (const char *[]){ "B" });
	struct series *c = metric_series(m, (const char *[]){ "C" });
	struct tail_time *tt = tail_time_new(10000);
	struct emitted e = { "" };

	(void)state;
	tail_time_set_floor(tt, 20000);          /* the last tick stored */
	assert_false(count(tt, a, 1, 23000));    /* grid 30000: zero at the stored tick's time */
	assert_false(count(tt, a, 1, 31000));
	assert_false(count(tt, b, 1, 45000));    /* grid 50000 = the tick: its sample holds the 1 */
	assert_false(count(tt, c, 1, 71000));    /* after the tick (a skewed clock): zero before it */
	assert_int_equal(tail_time_emit(tt, 50000, collect_sample, &e), 0);
	/* series in the table's order: compare as a set of samples */
	assert_non_null(strstr(e.text, "exc_total{class=A}@20000=0 exc_total{class=A}@30000=1 "
				       "exc_total{class=A}@40000=2"));
	assert_non_null(strstr(e.text, "exc_total{class=B}@40000=0"));
	assert_non_null(strstr(e.text, "exc_total{class=C}@40000=0"));
	assert_int_equal(strlen(e.text), strlen("exc_total{class=A}@20000=0 exc_total{class=A}@30000=1 "
						"exc_total{class=A}@40000=2 exc_total{class=B}@40000=0 "
						"exc_total{class=C}@40000=0"));
	/* the next events of the same series add no zero */
	assert_false(count(tt, a, 1, 55000));
	e.text[0] = 0;
	assert_int_equal(tail_time_emit(tt, 70000, collect_sample, &e), 0);
	assert_string_equal(e.text, "exc_total{class=A}@60000=3");
	tail_time_free(tt);
	registry_free(reg);
}

/* Replay emits complete grid points and keeps the last, which later entries may add to. */
static void test_time_replay(void **state)
{
	struct registry *reg = registry_new(0);
	struct series *s = metric_series(registry_counter(reg, "c_total", "h", NULL), NULL);
	struct tail_time *tt = tail_time_new(1000);
	struct emitted e = { "" };

	(void)state;
	count(tt, s, 1, 100);
	count(tt, s, 1, 1500);
	assert_int_equal(tail_time_pending(tt), 2);
	assert_int_equal(tail_time_emit_before(tt, 2000, collect_sample, &e), 0);
	assert_string_equal(e.text, "c_total@0=0 c_total@1000=1");
	count(tt, s, 1, 1700);                  /* still grid 2000 */
	assert_true(count(tt, s, 1, 900));      /* grid 1000 is written: late, counted at 2000 */
	count(tt, s, 1, 2100);
	e.text[0] = 0;
	assert_int_equal(tail_time_emit_before(tt, INT64_MAX, collect_sample, &e), 0);
	assert_string_equal(e.text, "c_total@2000=4 c_total@3000=5");
	assert_int_equal(tail_time_pending(tt), 0);
	tail_time_free(tt);
	registry_free(reg);
}

/*
 * Replay's commit in the middle of a file: everything noted is emitted and final (a later event
 * of those points is late, at the next one); each series' earliest emitted sample, the zero of
 * a new series included, is what replay checks against the store.
 */
static void test_time_replay_flush_first(void **state)
{
	static const double bounds[] = { 1 };
	struct registry *reg = registry_new(0);
	struct series *c = metric_series(registry_counter(reg, "c_total", "h", NULL), NULL);
	struct series *h = metric_series(registry_histogram(reg, "d_seconds", "h", NULL, bounds, 1),
					 NULL);
	struct tail_time *tt = tail_time_new(1000);
	struct emitted e = { "" };

	(void)state;
	series_add(c, 4); /* continues from a stored value: no zero */
	count(tt, c, 1, 1500);
	count(tt, c, 1, 2500);
	observe(tt, h, 0.5, 2200);
	assert_int_equal(tail_time_emit_all(tt, collect_sample, &e), 0);
	assert_int_equal(tail_time_pending(tt), 0);
	assert_non_null(strstr(e.text, "c_total@2000=5 c_total@3000=6"));
	assert_non_null(strstr(e.text, "d_seconds_count@2000=0 d_seconds_bucket{le=1}@3000=1"));
	assert_true(count(tt, c, 1, 2900));      /* grid 3000 is final: late, at 4000 */
	assert_false(count(tt, c, 1, 3100));
	e.text[0] = 0;
	assert_int_equal(tail_time_emit_all(tt, collect_sample, &e), 0);
	assert_string_equal(e.text, "c_total@4000=8");
	assert_int_equal(tail_time_emit_all(tt, collect_sample, &e), 0); /* nothing noted */
	e.text[0] = 0;
	assert_int_equal(tail_time_visit_first(tt, collect_sample, &e), 0);
	assert_non_null(strstr(e.text, "c_total@2000=5"));
	assert_non_null(strstr(e.text, "d_seconds_bucket{le=1}@2000=0 d_seconds_bucket{le=+Inf}@2000=0 "
				       "d_seconds_sum@2000=0 d_seconds_count@2000=0"));
	assert_int_equal(strlen(e.text), strlen("c_total@2000=5 d_seconds_bucket{le=1}@2000=0 "
						"d_seconds_bucket{le=+Inf}@2000=0 d_seconds_sum@2000=0 "
						"d_seconds_count@2000=0"));
	tail_time_free(tt);
	registry_free(reg);
}

static bool held_before(void *ctx, struct series *s, int64_t t_ms)
{
	(void)s;
	return t_ms <= *(const int64_t *)ctx;
}

/* Replay into a store that holds the series up to 'last': no zero at or before it. */
static void test_time_held(void **state)
{
	struct registry *reg = registry_new(0);
	struct series *s = metric_series(registry_counter(reg, "c_total", "h", NULL), NULL);
	struct tail_time *tt = tail_time_new(1000);
	struct emitted e = { "" };
	int64_t last = 1000;

	(void)state;
	tail_time_set_held(tt, held_before, &last);
	count(tt, s, 1, 1500);                  /* grid 2000: the zero would be at 1000 */
	assert_int_equal(tail_time_emit_all(tt, collect_sample, &e), 0);
	assert_string_equal(e.text, "c_total@2000=1");
	tail_time_free(tt);
	tt = tail_time_new(1000);
	last = 999;                             /* held before the zero's time: the zero stays */
	tail_time_set_held(tt, held_before, &last);
	s = metric_series(registry_counter(reg, "d_total", "h", NULL), NULL);
	count(tt, s, 1, 1500);
	e.text[0] = 0;
	assert_int_equal(tail_time_emit_all(tt, collect_sample, &e), 0);
	assert_string_equal(e.text, "d_total@1000=0 d_total@2000=1");
	tail_time_free(tt);
	registry_free(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reader_table),
		cmocka_unit_test(test_reader_stop),
		cmocka_unit_test(test_reader_file),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_identity_grows_with_reads),
		cmocka_unit_test(test_record),
		cmocka_unit_test(test_content_records),
		cmocka_unit_test(test_time_counter),
		cmocka_unit_test(test_time_histogram),
		cmocka_unit_test(test_time_replay),
		cmocka_unit_test(test_time_replay_flush_first),
		cmocka_unit_test(test_time_held),
		cmocka_unit_test(test_time_first_event),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
