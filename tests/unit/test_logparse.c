/*
 * The log parsers from tables.
 *
 * tests/fixtures/logs/cases.txt runs each fixture log through the real assembler (ml) and parser
 * (logp) and compares the registry afterwards with counts worked out by hand (grep/awk, written
 * beside each case). Its format, one directive a line:
 *
 *   case FILE            a fixture under tests/fixtures/logs/ (or "-" for the inline lines)
 *   yaml TEXT            one line of the configuration; the first source is the one parsed
 *   line TEXT            an inline log line (with "-"); \n \t \\ escapes
 *   expect SAMPLE VALUE  a sample "name{a="x",b="y"}" (labels in family order, le last) or one of
 *                        @entries @unmatched @exceptions @fingerprints @cut @tmin @tmax
 *   error TEXT           logp_new must fail with a message starting with TEXT, so TEXT holds
 *                        the whole "case.yml:LINE:COL: KEY: " prefix
 *   exc TEXT             the last exception seen was "class|message|location|previous"
 *   end
 *
 * Every family named in a case's expectations is checked completely: a non-zero sample of it
 * that is not expected fails the case, so an extra series cannot hide.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "collector/logp_int.h"
#include "core/buf.h"
#include "core/config.h"
#include "core/registry.h"

/* ---- helpers ---- */

static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	struct buf b;
	char tmp[65536];
	size_t n;

	if (!f)
		fail_msg("cannot open %s", path);
	buf_init(&b, 0);
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		assert_int_equal(buf_append(&b, tmp, n), 0);
	fclose(f);
	return buf_detach(&b, len);
}

struct run {
	struct buf fps;   /* distinct fingerprints, one per line */
	size_t entries, unmatched, exceptions, fingerprints, cut;
	int64_t tmin, tmax;
	struct logp *p;
	struct logp_sink sink;
	struct buf last_exc; /* "class|message|location|previous" of the last exception */
};

static void on_time(struct run *r, int64_t t)
{
	if (t < r->tmin)
		r->tmin = t;
	if (t > r->tmax)
		r->tmax = t;
}

static void on_counted(void *ctx, struct series *s, double d, int64_t t)
{
	(void)s, (void)d;
	on_time(ctx, t);
}

static void on_observed(void *ctx, struct series *s, double v, int64_t t)
{
	(void)s, (void)v;
	on_time(ctx, t);
}

static void on_exception(void *ctx, const struct logged_exception *e)
{
	struct run *r = ctx;
	char line[40];

	r->exceptions++;
	assert_int_equal(strlen(e->fingerprint), 32);
	snprintf(line, sizeof(line), "%s\n", e->fingerprint);
	if (!r->fps.data || !strstr(r->fps.data, line)) {
		buf_puts(&r->fps, line);
		r->fingerprints++;
	}
	buf_reset(&r->last_exc);
	buf_printf(&r->last_exc, "%s|%s|%s|%s", e->class_name, e->message, e->location,
		   e->previous);
}

static void on_unmatched(void *ctx, const char *text, size_t len)
{
	(void)text, (void)len;
	((struct run *)ctx)->unmatched++;
}

static int on_entry(void *ctx, const struct ml_entry *e)
{
	struct run *r = ctx;

	r->entries++;
	r->cut += e->cut;
	return logp_entry(r->p, e->text, e->len, 0, &r->sink);
}

/* Registry samples as lines 'name{a="x"} value'. */
static int dump_sample(void *ctx, const struct metric_info *info, const struct sample_view *s)
{
	char v[FMT_DOUBLE_MAX];

	(void)info;
	buf_puts(ctx, s->name);
	if (s->nlabels) {
		buf_putc(ctx, '{');
		for (size_t i = 0; i < s->nlabels; i++)
			buf_printf(ctx, "%s%s=\"%s\"", i ? "," : "", s->label_names[i],
				   s->label_values[i]);
		buf_putc(ctx, '}');
	}
	buf_printf(ctx, " %s\n", fmt_double(v, s->value));
	return 0;
}

static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			*o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : *s;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* ---- the case runner ---- */

struct tcase {
	int line;
	char file[256];
	struct buf yaml, inline_lines, expects, error, exc;
};

static int run_case(struct tcase *c)
{
	static const struct registry_visitor dumper = { NULL, dump_sample };
	struct config *cfg = NULL;
	struct registry *reg = registry_new(0);
	struct run r = { 0 };
	char err[512], path[512];
	struct ml_options opt = { 0, 0 };
	struct ml *m;
	struct buf got;
	char *data, *line, *save = NULL;
	size_t len;
	int failures = 0, rc;

	r.tmin = INT64_MAX;
	r.tmax = INT64_MIN;
	buf_init(&r.fps, 0);
	buf_init(&r.last_exc, 0);
	buf_init(&got, 0);
	if (config_parse("case.yml", c->yaml.data ? c->yaml.data : "", c->yaml.len, &cfg, err,
			 sizeof(err)))
		fail_msg("cases.txt:%d: config: %s", c->line, err);
	rc = logp_new(cfg, &cfg->sources[0], reg, &r.p, err, sizeof(err));
	if (c->error.len) {
		if (rc == 0 || strncmp(err, c->error.data, c->error.len) != 0) {
			printf("cases.txt:%d: expected logp_new to fail with \"%s\", got %d \"%s\"\n",
			       c->line, c->error.data, rc, rc ? err : "");
			failures++;
		}
		goto out;
	}
	if (rc)
		fail_msg("cases.txt:%d: logp_new: %s", c->line, err);
	r.sink = (struct logp_sink){ on_counted, on_observed, on_exception, on_unmatched, &r };
	m = ml_new(logp_get_format(r.p), &opt);
	if (strcmp(c->file, "-") == 0) {
		data = buf_detach(&c->inline_lines, &len);
	} else {
		snprintf(path, sizeof(path), "%s/logs/%s", DW_FIXTURES, c->file);
		data = read_file(path, &len);
	}
	{
		size_t off = 0;

		while (off < len) {
			char *nl = memchr(data + off, '\n', len - off);
			size_t l = nl ? (size_t)(nl - data - off) : len - off;

			assert_int_equal(ml_push(m, data + off, l, off + l + 1, 0, on_entry, &r), 0);
			off += l + 1;
		}
	}
	assert_int_equal(ml_flush(m, on_entry, &r), 0);
	ml_free(m);
	free(data);
	buf_putc(&got, '\n'); /* every sample line, the first too, follows a '\n' */
	registry_visit(reg, &dumper, &got);

	/* expectations */
	{
		char *copy = xstrdup(c->expects.data);

	for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' ');
		const char *key = line;
		double want, have = NAN;

		*sp = '\0';
		want = strtod(sp + 1, NULL);
		if (key[0] == '@') {
			if (strcmp(key, "@entries") == 0)
				have = (double)r.entries;
			else if (strcmp(key, "@unmatched") == 0)
				have = (double)r.unmatched;
			else if (strcmp(key, "@exceptions") == 0)
				have = (double)r.exceptions;
			else if (strcmp(key, "@fingerprints") == 0)
				have = (double)r.fingerprints;
			else if (strcmp(key, "@cut") == 0)
				have = (double)r.cut;
			else if (strcmp(key, "@tmin") == 0)
				have = (double)r.tmin;
			else if (strcmp(key, "@tmax") == 0)
				have = (double)r.tmax;
			else
				fail_msg("cases.txt:%d: unknown %s", c->line, key);
		} else {
			char pat[1024];
			const char *f;

			snprintf(pat, sizeof(pat), "\n%s ", key);
			f = strstr(got.data, pat);
			if (f)
				have = strtod(f + strlen(pat), NULL);
			if (!f)
				have = 0; /* a series never created holds 0 */
		}
		if (fabs(have - want) > 1e-9 * fabs(want)) {
			printf("cases.txt:%d (%s): %s = %.17g, expected %.17g\n", c->line, c->file,
			       key, have, want);
			failures++;
		}
		*sp = ' ';
	}
		free(copy);
	}
	/* completeness: every non-zero sample of an expected family is expected */
	save = NULL;
	for (line = strtok_r(got.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *sp = strrchr(line, ' '), name[256];
		size_t nl = strcspn(line, "{ ");
		char needle[300], needle2[300];

		if (nl >= sizeof(name) || strtod(sp + 1, NULL) == 0)
			continue;
		memcpy(name, line, nl);
		name[nl] = '\0';
		snprintf(needle, sizeof(needle), "\n%s{", name);
		snprintf(needle2, sizeof(needle2), "\n%s ", name);
		if (!strstr(c->expects.data, needle) && !strstr(c->expects.data, needle2))
			continue;
		*sp = '\0';
		{
			char full[1100];

			snprintf(full, sizeof(full), "\n%s ", line);
			if (!strstr(c->expects.data, full)) {
				printf("cases.txt:%d (%s): unexpected sample %s %s\n", c->line,
				       c->file, line, sp + 1);
				failures++;
			}
		}
		*sp = ' ';
	}
	if (c->exc.len && strcmp(c->exc.data, r.last_exc.data ? r.last_exc.data : "") != 0) {
		printf("cases.txt:%d: last exception\n  got  %s\n  want %s\n", c->line,
		       r.last_exc.data ? r.last_exc.data : "", c->exc.data);
		failures++;
	}
	if (failures)
		printf("cases.txt:%d: registry:\n%s", c->line, got.data ? got.data : "");
	logp_free(r.p);
out:
	registry_free(reg);
	config_free(cfg);
	buf_release(&r.fps);
	buf_release(&r.last_exc);
	buf_release(&got);
	return failures;
}

static void test_cases(void **state)
{
	char path[512], *data, *line, *save = NULL;
	size_t len;
	int lineno = 0, failures = 0, ncases = 0;
	struct tcase c;
	bool in_case = false;

	(void)state;
	snprintf(path, sizeof(path), "%s/logs/cases.txt", DW_FIXTURES);
	data = read_file(path, &len);
	/* strtok_r would merge empty lines: walk by hand to keep line numbers */
	for (line = data; line && *line; line = save) {
		char *nl = strchr(line, '\n');

		save = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (strncmp(line, "case ", 5) == 0) {
			memset(&c, 0, sizeof(c));
			c.line = lineno;
			snprintf(c.file, sizeof(c.file), "%s", line + 5);
			buf_init(&c.yaml, 0);
			buf_init(&c.inline_lines, 0);
			buf_init(&c.expects, 0);
			buf_putc(&c.expects, '\n');
			buf_init(&c.error, 0);
			buf_init(&c.exc, 0);
			in_case = true;
		} else if (!in_case) {
			fail_msg("cases.txt:%d: outside a case", lineno);
		} else if (strncmp(line, "yaml ", 5) == 0) {
			buf_printf(&c.yaml, "%s\n", line + 5);
		} else if (strncmp(line, "line ", 5) == 0) {
			unescape(line + 5);
			buf_printf(&c.inline_lines, "%s\n", line + 5);
		} else if (strncmp(line, "expect ", 7) == 0) {
			buf_printf(&c.expects, "%s\n", line + 7);
		} else if (strncmp(line, "exc ", 4) == 0) {
			buf_puts(&c.exc, line + 4);
		} else if (strncmp(line, "error ", 6) == 0) {
			buf_puts(&c.error, line + 6);
		} else if (strcmp(line, "end") == 0) {
			failures += run_case(&c);
			ncases++;
			buf_release(&c.yaml);
			buf_release(&c.inline_lines);
			buf_release(&c.expects);
			buf_release(&c.error);
			buf_release(&c.exc);
			in_case = false;
		} else {
			fail_msg("cases.txt:%d: unknown directive: %s", lineno, line);
		}
	}
	free(data);
	assert_true(ncases > 0);
	if (failures)
		fail_msg("%d expectation(s) failed in %d cases", failures, ncases);
}

/* Message normalisation and in-app paths, from tables. */
static void test_fingerprint_pieces(void **state)
{
	static const struct {
		const char *in, *want;
	} msgs[] = {
		{ "Undefined array key \"qty\"", "Undefined array key \"?\"" },
		{ "SQLSTATE[42S02]: Base table or view not found: 1146 Table 'cyh.orders' doesn't "
		  "exist (SQL: select * from `orders` where `id` = 4 limit 1)",
		  "SQLSTATE[42S02]: Base table or view not found: N Table '?' doesn't exist (SQL: "
		  "select * from `orders` where `id` = N limit N)" },
		{ "took 0.25s at 0x7ffd1234, user O'Brien", "took Ns at N, user O'Brien" },
		{ "Base64 and utf8 stay, 42 goes", "Base64 and utf8 stay, N goes" },
		{ "timeout after 30s, 1882ms, 12MB; 1st try, code 42S02",
		  "timeout after Ns, Nms, NMB; 1st try, code 42S02" },
		{ "unterminated 'quote", "unterminated 'quote" },
		{ "", "" },
	};
	static const struct {
		const char *path, *root, *rel;
		bool in_app;
	} paths[] = {
		{ "/var/www/cyh/app/Http/Kernel.php", "/var/www/cyh", "app/Http/Kernel.php", true },
		{ "/var/www/cyh/releases/20261127170000/app/X.php", "/var/www/cyh", "app/X.php", true },
		{ "/var/www/cyh/current/../releases/7/app/X.php", "/var/www/cyh", "app/X.php", true },
		{ "/var/www/cyh/vendor/laravel/framework/src/A.php", "/var/www/cyh",
		  "vendor/laravel/framework/src/A.php", false },
		{ "/var/www/cyh/releases/3/vendor/a/B.php", "/var/www/cyh", "vendor/a/B.php", false },
		{ "/var/www/cyh/artisan", "/var/www/cyh", "artisan", false },
		{ "/var/www/cyh/public/index.php", "/var/www/cyh", "public/index.php", false },
		{ "/srv/other/app/X.php", "/var/www/cyh", "/srv/other/app/X.php", false },
		{ "/srv/app/X.php", NULL, "/srv/app/X.php", true },
		{ "/srv/vendor/a/B.php", NULL, "/srv/vendor/a/B.php", false },
		{ "/srv/releases/12/app/X.php", NULL, "app/X.php", true },
		{ "/srv/public/index.php", NULL, "/srv/public/index.php", false },
	};
	int failures = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++) {
		char *got = fp_normalise_message(msgs[i].in, strlen(msgs[i].in));

		if (strcmp(got, msgs[i].want) != 0) {
			printf("normalise \"%s\":\n  got  \"%s\"\n  want \"%s\"\n", msgs[i].in,
			       got, msgs[i].want);
			failures++;
		}
		free(got);
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		char rel[256];
		bool in_app = fp_frame_in_app(paths[i].path, strlen(paths[i].path), paths[i].root,
					      rel, sizeof(rel));

		if (in_app != paths[i].in_app || strcmp(rel, paths[i].rel) != 0) {
			printf("path %s (root %s): got %s %d, want %s %d\n", paths[i].path,
			       paths[i].root ? paths[i].root : "-", rel, in_app, paths[i].rel,
			       paths[i].in_app);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
}

/*
 * Fingerprints are stored (the catalog's keys, "new since the deploy"): the hash must never
 * change under an optimisation. Pinned here from its definition (docs/formats.md): two 64-bit
 * FNV-1a hashes, from MODEL_FNV1A_INIT and from it xor 0x9e3779b97f4a7c15, over the class, the
 * SQLSTATE, and then (no in-app frame) the normalised message, each followed by a 0xff byte;
 * worked out apart from the code (a few lines of Python).
 */
static void test_fingerprint_pinned(void **state)
{
	struct fp_input in = { .class_name = "App\\Boom", .message = "boom 42",
			       .message_len = 7 };
	struct fp_result r;

	(void)state;
	fp_compute(&in, &r);
	assert_string_equal(r.message, "boom N");
	assert_string_equal(r.fingerprint, "3142b0eff47a7af9f949508cadca749e");
	fp_result_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_fingerprint_pieces),
		cmocka_unit_test(test_fingerprint_pinned),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
