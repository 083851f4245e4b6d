/*
 * Import: the pure parser on buffers (text format and OpenMetrics, histograms, escapes, special
 * floats, malformed lines with their exact line numbers, missing timestamps, caps, streaming in
 * arbitrary pieces), then a round trip into a temporary store read back through the read API,
 * including out-of-order refusals counted per series.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "core/buf.h"
#include "store/import.h"
#include "store/store.h"

/* ---- the parser on buffers ---- */

/* Everything the parser reported, one line per sample or error, in order. */
struct collect {
	struct buf out;
	int stop_after; /* sample() returns -ECANCELED after this many samples (0: never) */
	int nsamples;
};

static const char *type_name(enum metric_type t)
{
	return model_metric_type_name(t);
}

static int on_sample(void *ctx, size_t line, const struct store_import_sample *s)
{
	struct collect *c = ctx;
	char num[FMT_DOUBLE_MAX];

	buf_printf(&c->out, "%zu: %s{", line, s->labels[0].value);
	assert_string_equal(s->labels[0].name, "__name__");
	for (size_t i = 1; i < s->nlabels; i++)
		buf_printf(&c->out, "%s%s=\"%s\"", i > 1 ? "," : "", s->labels[i].name,
			   s->labels[i].value);
	buf_printf(&c->out, "} %s %lld %s\n", fmt_double(num, s->v), (long long)s->t_ms,
		   type_name(s->type));
	if (c->stop_after && ++c->nsamples >= c->stop_after)
		return -ECANCELED;
	return 0;
}

static void on_malformed(void *ctx, size_t line, const char *msg)
{
	struct collect *c = ctx;

	buf_printf(&c->out, "%zu: ERROR %s\n", line, msg);
}

/* Parse 'in' fed in pieces of 'piece' bytes (0: all at once) and compare with 'want'. */
static void parse_chunked(enum store_import_format fmt, const char *in, size_t piece,
			  const char *want, enum store_import_format want_fmt)
{
	struct collect c = { 0 };
	struct store_import_parser *p;
	size_t len = strlen(in);

	buf_init(&c.out, 0);
	p = store_import_parser_new(fmt, on_sample, on_malformed, &c);
	if (!piece)
		piece = len ? len : 1;
	for (size_t off = 0; off < len; off += piece)
		assert_int_equal(store_import_parser_feed(p, in + off, len - off < piece ? len - off : piece), 0);
	assert_int_equal(store_import_parser_finish(p), 0);
	if (strcmp(c.out.data ? c.out.data : "", want))
		fail_msg("input:\n%s\ngot:\n%s\nwant:\n%s", in, c.out.data ? c.out.data : "", want);
	assert_int_equal(store_import_parser_format(p), want_fmt);
	store_import_parser_free(p);
	buf_release(&c.out);
}

static void parse(enum store_import_format fmt, const char *in, const char *want,
		  enum store_import_format want_fmt)
{
	/* Whole, then byte by byte, then in 7-byte pieces: streaming must not change anything. */
	parse_chunked(fmt, in, 0, want, want_fmt);
	parse_chunked(fmt, in, 1, want, want_fmt);
	parse_chunked(fmt, in, 7, want, want_fmt);
}

static void test_text(void **state)
{
	(void)state;
	parse(STORE_IMPORT_AUTO,
	      "# HELP http_requests_total The total.\n"
	      "# TYPE http_requests_total counter\n"
	      "http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n"
	      "http_requests_total{method=\"post\",code=\"400\",} 3 1395066363000\n"
	      "\n"
	      "# a plain comment\n"
	      "metric_without_labels 12.47 1395066363000\n"
	      "  spaced  {  a = \"x\" , b=\"y\" }   -0.5   -1395066363000  \n"
	      "crlf 1 1395066363001\r\n"
	      "no_newline_at_end 2e3 1395066363002",
	      "3: http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000 counter\n"
	      "4: http_requests_total{method=\"post\",code=\"400\"} 3 1395066363000 counter\n"
	      "7: metric_without_labels{} 12.47 1395066363000 gauge\n"
	      "8: spaced{a=\"x\",b=\"y\"} -0.5 -1395066363000 gauge\n"
	      "9: crlf{} 1 1395066363001 gauge\n"
	      /* The text format ends every line with a newline: one without may be cut. */
	      "10: ERROR the input ends inside this line (no newline at the end): it may be cut "
	      "off, so it is not imported\n",
	      STORE_IMPORT_TEXT);
}

static void test_special_floats_and_escapes(void **state)
{
	(void)state;
	parse(STORE_IMPORT_TEXT,
	      "a NaN 1700000000000\n"
	      "a +Inf 1700000000001\n"
	      "a -Inf 1700000000002\n"
	      "a Inf 1700000000003\n"
	      "a 1.5e-7 1700000000004\n"
	      "b{path=\"C:\\\\dir\\\\file\",q=\"say \\\"hi\\\"\",nl=\"x\\ny\"} 1 1700000000000\n"
	      /* The text format keeps an unknown escape as written. */
	      "c{x=\"a\\tb\"} 1 1700000000000\n"
	      "d{u=\"caf\xc3\xa9\"} 1 1700000000000\n",
	      "1: a{} NaN 1700000000000 gauge\n"
	      "2: a{} +Inf 1700000000001 gauge\n"
	      "3: a{} -Inf 1700000000002 gauge\n"
	      "4: a{} +Inf 1700000000003 gauge\n"
	      "5: a{} 1.5e-07 1700000000004 gauge\n"
	      "6: b{path=\"C:\\dir\\file\",q=\"say \"hi\"\",nl=\"x\ny\"} 1 1700000000000 gauge\n"
	      "7: c{x=\"a\\tb\"} 1 1700000000000 gauge\n"
	      "8: d{u=\"caf\xc3\xa9\"} 1 1700000000000 gauge\n",
	      STORE_IMPORT_TEXT);
	/* OpenMetrics: \\, \" and \n are escapes; a backslash before any other character is
	 * kept with it, as promtool does (issue 7's input). */
	parse(STORE_IMPORT_OPENMETRICS,
	      "c{x=\"a\\tb\"} 1 1700000000\n"
	      "c{x=\"a\\\\b\",y=\"\\\"\\n\"} 1 1700000000\n"
	      "conn{app=\"MSC20\\AUCTI-orders\"} 5 1700000000\n"
	      "e{x=\"end\\\\\",y=\"\\u00e9\"} 1 1700000000\n"
	      "# EOF\n",
	      "1: c{x=\"a\\tb\"} 1 1700000000000 gauge\n"
	      "2: c{x=\"a\\b\",y=\"\"\n\"} 1 1700000000000 gauge\n"
	      "3: conn{app=\"MSC20\\AUCTI-orders\"} 5 1700000000000 gauge\n"
	      "4: e{x=\"end\\\",y=\"\\u00e9\"} 1 1700000000000 gauge\n",
	      STORE_IMPORT_OPENMETRICS);
	/* A backslash that escapes the closing quote leaves the value unterminated. */
	parse(STORE_IMPORT_OPENMETRICS, "a{v=\"x\\\"} 1 1700000000\n# EOF\n",
	      "1: ERROR unterminated label value\n", STORE_IMPORT_OPENMETRICS);
}

static void test_histogram_types(void **state)
{
	(void)state;
	parse(STORE_IMPORT_TEXT,
	      "# TYPE lat histogram\n"
	      "lat_bucket{le=\"0.5\"} 3 1000\n"
	      "lat_bucket{le=\"+Inf\"} 5 1000\n"
	      "lat_sum 2.25 1000\n"
	      "lat_count 5 1000\n"
	      "# TYPE rpc summary\n"
	      "rpc{quantile=\"0.9\"} 0.1 1000\n"
	      "rpc_sum 3 1000\n"
	      "rpc_count 7 1000\n"
	      "# TYPE up gauge\n"
	      "up 1 1000\n"
	      "# TYPE x untyped\n"
	      "x 1 1000\n"
	      "# TYPE c_total counter\n"
	      "c_total 4 1000\n"
	      /* A _bucket suffix of a family that is not a histogram is not a histogram. */
	      "up_bucket 1 1000\n",
	      "2: lat_bucket{le=\"0.5\"} 3 1000 histogram\n"
	      "3: lat_bucket{le=\"+Inf\"} 5 1000 histogram\n"
	      "4: lat_sum{} 2.25 1000 histogram\n"
	      "5: lat_count{} 5 1000 histogram\n"
	      "7: rpc{quantile=\"0.9\"} 0.1 1000 summary\n"
	      "8: rpc_sum{} 3 1000 summary\n"
	      "9: rpc_count{} 7 1000 summary\n"
	      "11: up{} 1 1000 gauge\n"
	      "13: x{} 1 1000 untyped\n"
	      "15: c_total{} 4 1000 counter\n"
	      "16: up_bucket{} 1 1000 gauge\n",
	      STORE_IMPORT_TEXT);
}

static void test_openmetrics(void **state)
{
	(void)state;
	/* promtool tsdb create-blocks-from openmetrics input: float seconds and # EOF. */
	parse(STORE_IMPORT_AUTO,
	      "# HELP req Requests.\n"
	      "# TYPE req counter\n"
	      "# UNIT req requests\n"
	      "req_total{code=\"200\"} 10 1700000000\n"
	      "req_total{code=\"200\"} 11 1700000000.123 # {trace_id=\"x\"} 1 1700000015\n"
	      "req_created{code=\"200\"} 1699999999 1700000000.5\n"
	      "# TYPE temp gauge\n"
	      "temp 21.5 1700000015.0\n"
	      "# TYPE g gaugehistogram\n"
	      "g_bucket{le=\"+Inf\"} 2 1.7e9\n"
	      "g_gcount 2 1700000000.0005\n"
	      "# EOF\n",
	      "4: req_total{code=\"200\"} 10 1700000000000 counter\n"
	      "5: req_total{code=\"200\"} 11 1700000000123 counter\n"
	      "6: req_created{code=\"200\"} 1699999999 1700000000500 counter\n"
	      "8: temp{} 21.5 1700000015000 gauge\n"
	      "10: g_bucket{le=\"+Inf\"} 2 1700000000000 histogram\n"
	      "11: g_gcount{} 2 1700000000001 histogram\n",
	      STORE_IMPORT_OPENMETRICS);
	/* Auto-detection from the timestamp alone: seconds below 1e11, milliseconds above. */
	parse(STORE_IMPORT_AUTO, "a 1 1700000000\n# EOF\n", "1: a{} 1 1700000000000 gauge\n",
	      STORE_IMPORT_OPENMETRICS);
	parse(STORE_IMPORT_AUTO, "a 1 1700000000.25\n# EOF\n", "1: a{} 1 1700000000250 gauge\n",
	      STORE_IMPORT_OPENMETRICS);
	parse(STORE_IMPORT_AUTO, "a 1 1700000000000\n", "1: a{} 1 1700000000000 gauge\n",
	      STORE_IMPORT_TEXT);
	/* A counter family with _total samples is OpenMetrics whatever the timestamp says. */
	parse(STORE_IMPORT_AUTO, "# TYPE r counter\nr_total 1 1700000000000\n# EOF\n",
	      "2: r_total{} 1 1700000000000000 counter\n", STORE_IMPORT_OPENMETRICS);
	/* Explicit text: integer milliseconds only. */
	parse(STORE_IMPORT_TEXT, "a 1 1700000000.5\n",
	      "1: ERROR invalid timestamp \"1700000000.5\" (text format: integer milliseconds)\n",
	      STORE_IMPORT_TEXT);
	/* Lines after # EOF, and OpenMetrics-only types in the text format, are malformed. */
	parse(STORE_IMPORT_OPENMETRICS, "a 1 1\n# EOF\nb 1 2\n",
	      "1: a{} 1 1000 gauge\n3: ERROR content after # EOF\n", STORE_IMPORT_OPENMETRICS);
	parse(STORE_IMPORT_TEXT, "# TYPE s stateset\ns 1 1\n",
	      "1: ERROR # TYPE s: type stateset is not valid in this format\n2: s{} 1 1 gauge\n",
	      STORE_IMPORT_TEXT);
}

/* Input that ends part-way: a sample line without its newline is never imported; OpenMetrics
 * without # EOF is reported as truncated (the complete lines before it are imported). */
static void test_truncated(void **state)
{
	(void)state;
	/* Issue 7: the copy stopped inside the last timestamp. */
	parse(STORE_IMPORT_OPENMETRICS,
	      "# TYPE disk_used gauge\n"
	      "disk_used{host=\"a\"} 1 1700000000\n"
	      "disk_used{host=\"b\"} 2 170000006",
	      "2: disk_used{host=\"a\"} 1 1700000000000 gauge\n"
	      "3: ERROR truncated input: it ends inside this line, without a newline and without "
	      "# EOF; the line is not imported\n",
	      STORE_IMPORT_OPENMETRICS);
	/* AUTO decides OpenMetrics from the first timestamp, then wants # EOF just the same. */
	parse(STORE_IMPORT_AUTO,
	      "# TYPE disk_used gauge\n"
	      "disk_used{host=\"a\"} 1 1700000000\n"
	      "disk_used{host=\"b\"} 2 170000006",
	      "2: disk_used{host=\"a\"} 1 1700000000000 gauge\n"
	      "3: ERROR truncated input: it ends inside this line, without a newline and without "
	      "# EOF; the line is not imported\n",
	      STORE_IMPORT_OPENMETRICS);
	/* Complete lines, no # EOF. */
	parse(STORE_IMPORT_OPENMETRICS, "a 1 1700000000\nb 2 1700000000\n",
	      "1: a{} 1 1700000000000 gauge\n2: b{} 2 1700000000000 gauge\n"
	      "2: ERROR truncated input: OpenMetrics ends with \"# EOF\", and this input stops "
	      "after this line without it\n",
	      STORE_IMPORT_OPENMETRICS);
	parse(STORE_IMPORT_OPENMETRICS, "",
	      "1: ERROR truncated input: OpenMetrics ends with \"# EOF\", and this input stops "
	      "after this line without it\n",
	      STORE_IMPORT_OPENMETRICS);
	/* "# EOF" may end without a newline; blank bytes after the last newline are no line. */
	parse(STORE_IMPORT_OPENMETRICS, "a 1 1700000000\n# EOF", "1: a{} 1 1700000000000 gauge\n",
	      STORE_IMPORT_OPENMETRICS);
	parse(STORE_IMPORT_OPENMETRICS, "a 1 1700000000\n# EOF\n  ",
	      "1: a{} 1 1700000000000 gauge\n", STORE_IMPORT_OPENMETRICS);
	/* A cut line after # EOF is content after # EOF. */
	parse(STORE_IMPORT_OPENMETRICS, "a 1 1700000000\n# EOF\nb 2 17",
	      "1: a{} 1 1700000000000 gauge\n3: ERROR content after # EOF\n",
	      STORE_IMPORT_OPENMETRICS);
	/* The text format has no end marker; its last line must end with a newline too. */
	parse(STORE_IMPORT_TEXT, "a 1 1700000000000\na 2 170000000",
	      "1: a{} 1 1700000000000 gauge\n"
	      "2: ERROR the input ends inside this line (no newline at the end): it may be cut "
	      "off, so it is not imported\n",
	      STORE_IMPORT_TEXT);
	parse(STORE_IMPORT_AUTO, "a 1 1700000000000\na 2 170000000",
	      "1: a{} 1 1700000000000 gauge\n"
	      "2: ERROR the input ends inside this line (no newline at the end): it may be cut "
	      "off, so it is not imported\n",
	      STORE_IMPORT_TEXT);
	/* A comment without its newline carries no sample: parsed as usual. */
	parse(STORE_IMPORT_TEXT, "a 1 1700000000000\n# TYPE a gauge",
	      "1: a{} 1 1700000000000 gauge\n", STORE_IMPORT_TEXT);
	parse(STORE_IMPORT_TEXT, "a 1 1700000000000\n# TYPE a bogus",
	      "1: a{} 1 1700000000000 gauge\n2: ERROR # TYPE a: unknown type \"bogus\"\n",
	      STORE_IMPORT_TEXT);
	/* AUTO with no sample at all decides nothing and wants nothing. */
	parse(STORE_IMPORT_AUTO, "# HELP a x\n", "", STORE_IMPORT_AUTO);
}

/* AUTO decides at the first sample; a later timestamp that is only sensible as milliseconds is
 * refused, never stored 1,000 times too late (a new user's case: "m 1 5000" then ms). */
static void test_auto_late_milliseconds(void **state)
{
	(void)state;
	parse(STORE_IMPORT_AUTO,
	      "m 1 5000\n"
	      "m 2 1700000000000\n"
	      "m 3 6000\n"
	      "# EOF\n",
	      "1: m{} 1 5000000 gauge\n"
	      "2: ERROR timestamp \"1700000000000\" is after the year 5138 as OpenMetrics seconds: the "
	      "input was detected as OpenMetrics at its first sample; give --format text if its "
	      "timestamps are milliseconds\n"
	      "3: m{} 3 6000000 gauge\n",
	      STORE_IMPORT_OPENMETRICS);
	/* Given explicitly, OpenMetrics keeps promtool's reading of the same timestamp. */
	parse(STORE_IMPORT_OPENMETRICS, "m 2 1700000000000\n# EOF\n",
	      "1: m{} 2 1700000000000000 gauge\n", STORE_IMPORT_OPENMETRICS);
}

static void test_malformed(void **state)
{
	(void)state;
	parse(STORE_IMPORT_TEXT,
	      "good 1 1000\n"                         /* 1 */
	      "no_ts 1\n"                             /* 2 */
	      "no_value\n"                            /* 3 */
	      "bad_value abc 1000\n"                  /* 4 */
	      "bad_ts 1 12x\n"                        /* 5 */
	      "trailing 1 1000 extra\n"               /* 6 */
	      "9starts_with_digit 1 1000\n"           /* 7 */
	      "x{a=\"unterminated} 1 1000\n"          /* 8 */
	      "x{a=\"1\",a=\"2\"} 1 1000\n"           /* 9 */
	      "x{a=unquoted} 1 1000\n"                /* 10 */
	      "x{a\"v\"} 1 1000\n"                    /* 11 */
	      "x{a=\"v\" b=\"w\"} 1 1000\n"           /* 12 */
	      "x{__name__=\"y\"} 1 1000\n"            /* 13 */
	      "x{a=\"\xff\"} 1 1000\n"                /* 14 */
	      "x{9=\"v\"} 1 1000\n"                   /* 15 */
	      "# TYPE t bogus\n"                      /* 16 */
	      "# TYPE 9t counter\n"                   /* 17 */
	      "x{a=\"v\"}1 1000\n"                    /* 18 */
	      "x{a=\"v\"\n"                           /* 19 */
	      "hexval 0x10 1000\n"                    /* 20 */
	      "cr 1\r 1000\n"                         /* 21: control bytes are echoed as \xNN */
	      "esc 1 17\x1b[31m00\n"                  /* 22 */
	      "# TYPE t \x07" "bell\n"                /* 23 */
	      "x\x01 1 1000\n"                        /* 24 */
	      "x\xc3\xa9 1 1000\n"                    /* 25: a whole character, not its lead byte */
	      "x\xff 1 1000\n"                        /* 26 */
	      "good 2 2000\n",                        /* 27 */
	      "1: good{} 1 1000 gauge\n"
	      "2: ERROR sample has no timestamp; import needs a timestamp on every sample\n"
	      "3: ERROR sample has no value\n"
	      "4: ERROR invalid sample value \"abc\"\n"
	      "5: ERROR invalid timestamp \"12x\" (text format: integer milliseconds)\n"
	      "6: ERROR unexpected text after the timestamp\n"
	      "7: ERROR expected a metric name or a comment\n"
	      "8: ERROR unterminated label value\n"
	      "9: ERROR duplicate label name \"a\"\n"
	      "10: ERROR expected a quoted value for label \"a\"\n"
	      "11: ERROR expected '=' after label name \"a\"\n"
	      "12: ERROR expected ',' or '}' after a label value\n"
	      "13: ERROR label __name__ inside braces\n"
	      "14: ERROR invalid UTF-8 in a label value\n"
	      "15: ERROR expected a label name at column 3\n"
	      "16: ERROR # TYPE t: unknown type \"bogus\"\n"
	      "17: ERROR # TYPE: invalid metric name\n"
	      "18: ERROR unexpected character '1' after the metric name\n"
	      "19: ERROR unexpected end of line inside braces\n"
	      "20: ERROR invalid sample value \"0x10\"\n"
	      "21: ERROR invalid sample value \"1\\x0d\"\n"
	      "22: ERROR invalid timestamp \"17\\x1b[31m00\" (text format: integer milliseconds)\n"
	      "23: ERROR # TYPE t: unknown type \"\\x07bell\"\n"
	      "24: ERROR unexpected character '\\x01' after the metric name\n"
	      "25: ERROR unexpected character '\xc3\xa9' after the metric name\n"
	      "26: ERROR unexpected character '\\xff' after the metric name\n"
	      "27: good{} 2 2000 gauge\n",
	      STORE_IMPORT_TEXT);
}

static void test_caps(void **state)
{
	struct buf in, want;
	struct collect c = { 0 };
	struct store_import_parser *p;

	(void)state;
	/* A line over the cap is one malformed line; the next line parses. */
	buf_init(&in, 0);
	buf_puts(&in, "a 1 1000\nlong{l=\"");
	for (size_t i = 0; i < STORE_IMPORT_MAX_LINE; i++)
		buf_putc(&in, 'v');
	buf_puts(&in, "\"} 1 1000\nb 2 1000\n");
	buf_init(&want, 0);
	buf_printf(&want, "1: a{} 1 1000 gauge\n2: ERROR line longer than %zu bytes\n"
			  "3: b{} 2 1000 gauge\n", STORE_IMPORT_MAX_LINE);
	parse_chunked(STORE_IMPORT_TEXT, in.data, 4096, want.data, STORE_IMPORT_TEXT);
	parse_chunked(STORE_IMPORT_TEXT, in.data, 0, want.data, STORE_IMPORT_TEXT);

	/* Labels per series. */
	buf_reset(&in);
	buf_puts(&in, "x{");
	for (int i = 0; i <= STORE_IMPORT_MAX_LABELS; i++)
		buf_printf(&in, "l%d=\"v\",", i);
	buf_puts(&in, "} 1 1000\n");
	buf_reset(&want);
	buf_printf(&want, "1: ERROR too many labels (at most %d)\n", STORE_IMPORT_MAX_LABELS);
	parse(STORE_IMPORT_TEXT, in.data, want.data, STORE_IMPORT_TEXT);

	/* A non-zero return from the sample callback stops the parser and is returned. */
	buf_init(&c.out, 0);
	c.stop_after = 2;
	p = store_import_parser_new(STORE_IMPORT_TEXT, on_sample, on_malformed, &c);
	assert_int_equal(store_import_parser_feed(p, "a 1 1\na 2 2\na 3 3\n", 18), -ECANCELED);
	assert_string_equal(c.out.data, "1: a{} 1 1 gauge\n2: a{} 2 2 gauge\n");
	store_import_parser_free(p);
	buf_release(&c.out);
	buf_release(&in);
	buf_release(&want);
}

/* ---- into a store ---- */

static int rm_cb(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

struct fixture {
	char dir[200];
	char path[256];
	struct buf errors;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	size_t len;

	snprintf(f->dir, sizeof(f->dir) - 7, "%s/dw-import-test-", tmp && *tmp ? tmp : "/tmp");
	len = strlen(f->dir);
	memset(f->dir + len, 'X', 6);
	f->dir[len + 6] = '\0';
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/data", f->dir);
	buf_init(&f->errors, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	buf_release(&f->errors);
	free(f);
	return 0;
}

static void record_error(void *ctx, size_t line, const char *msg)
{
	struct buf *b = ctx;

	buf_printf(b, "%zu: %s\n", line, msg);
}

static struct store *open_store(const char *path, bool ro)
{
	struct store_options o = { .path = path, .read_only = ro };
	struct store *st;
	char err[256];

	if (store_open(&o, &st, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	return st;
}

static void import_text(struct store *st, const char *in, size_t batch, struct buf *errors,
			struct store_import_stats *stats)
{
	struct store_import *imp = store_import_new(st, STORE_IMPORT_TEXT, batch, record_error,
						    errors);

	assert_int_equal(store_import_feed(imp, in, strlen(in)), 0);
	assert_int_equal(store_import_finish(imp), 0);
	store_import_get_stats(imp, stats);
	store_import_free(imp);
}

static int append_sample(void *ctx, int64_t t, double v)
{
	char num[FMT_DOUBLE_MAX];

	buf_printf(ctx, " %s@%lld", fmt_double(num, v), (long long)t);
	return 0;
}

/* Every series and sample of the store as text: "name{a=x} type: v@t v@t\n". */
static void read_all(const char *path, struct buf *out)
{
	struct store *st = open_store(path, true);
	struct matcher all = { "__name__", MATCH_RE, ".+" };
	struct store_series_set *set;
	struct store_reader *r;
	char err[256];

	buf_reset(out);
	assert_int_equal(store_reader_begin(st, &r), 0);
	assert_int_equal(store_select(r, &all, 1, INT64_MIN, INT64_MAX, &set, err, sizeof(err)), 0);
	for (size_t i = 0; i < store_series_set_len(set); i++) {
		size_t n;
		const struct label *l = store_series_set_labels(set, i, &n);

		buf_printf(out, "%s{", l[0].value);
		for (size_t k = 1; k < n; k++)
			buf_printf(out, "%s%s=%s", k > 1 ? "," : "", l[k].name, l[k].value);
		buf_printf(out, "} %s:", type_name(store_series_set_type(set, i)));
		assert_int_equal(store_read_samples(r, store_series_set_id(set, i), INT64_MIN,
						    INT64_MAX, append_sample, out), 0);
		buf_putc(out, '\n');
	}
	store_series_set_free(set);
	store_reader_end(r);
	store_close(st);
}

static void test_round_trip(void **state)
{
	struct fixture *f = *state;
	struct store_import_stats s;
	struct store *st = open_store(f->path, false);
	struct buf got;
	const char *in =
		"# TYPE lat histogram\n"
		"lat_bucket{le=\"1\"} 1 1000\n"
		"lat_bucket{le=\"+Inf\"} 2 1000\n"
		"lat_sum 0.5 1000\n"
		"lat_count 2 1000\n"
		"# TYPE c_total counter\n"
		"c_total{code=\"200\"} 1 1000\n"
		"c_total{code=\"200\"} 2 2000\n"
		"c_total{code=\"200\"} NaN 3000\n"
		"broken line\n"
		"g{empty=\"\"} -Inf 1000\n"
		"g{empty=\"\"} +Inf 2000\n";

	buf_init(&got, 0);
	/* A batch of 3 samples: several commits, series spanning them. */
	import_text(st, in, 3, &f->errors, &s);
	assert_string_equal(f->errors.data, "10: invalid sample value \"line\"\n");
	assert_int_equal(s.lines, 12);
	assert_int_equal(s.malformed, 1);
	assert_int_equal(s.samples, 9);
	assert_int_equal(s.samples_written, 9);
	assert_int_equal(s.out_of_order, 0);
	assert_int_equal(s.out_of_order_series, 0);
	assert_int_equal(s.series, 6);
	store_close(st);
	read_all(f->path, &got);
	/* The empty label is dropped, as in Prometheus. */
	assert_string_equal(got.data,
			    "c_total{code=200} counter: 1@1000 2@2000 NaN@3000\n"
			    "g{} gauge: -Inf@1000 +Inf@2000\n"
			    "lat_bucket{le=+Inf} histogram: 2@1000\n"
			    "lat_bucket{le=1} histogram: 1@1000\n"
			    "lat_count{} histogram: 2@1000\n"
			    "lat_sum{} histogram: 0.5@1000\n");
	buf_release(&got);
}

static void test_out_of_order(void **state)
{
	struct fixture *f = *state;
	struct store_import_stats s;
	struct store *st = open_store(f->path, false);
	struct buf before, after;
	const char *in = "a 1 1000\na 2 2000\nb 1 1000\nb 2 2000\nc 1 1000\n";

	buf_init(&before, 0);
	buf_init(&after, 0);
	import_text(st, in, 2, &f->errors, &s);
	assert_int_equal(s.samples_written, 5);
	store_close(st);
	read_all(f->path, &before);

	/* The same file again: everything refused, counted per series, nothing changed. */
	st = open_store(f->path, false);
	import_text(st, in, 2, &f->errors, &s);
	assert_int_equal(s.samples, 5);
	assert_int_equal(s.samples_written, 0);
	assert_int_equal(s.out_of_order, 5);
	assert_int_equal(s.out_of_order_series, 3);
	assert_int_equal(s.series, 3);

	/* Partly overlapping: a's 2000 refused, 3000 written; c new after; d is new;
	 * disorder inside the input (e) is refused too. */
	import_text(st, "a 9 2000\na 3 3000\nc 2 2000\nd 1 1000\ne 1 5000\ne 2 4000\n", 0,
		    &f->errors, &s);
	assert_int_equal(s.samples, 6);
	assert_int_equal(s.samples_written, 4);
	assert_int_equal(s.out_of_order, 2);
	assert_int_equal(s.out_of_order_series, 2);
	store_close(st);
	read_all(f->path, &after);
	assert_string_equal(before.data, "a{} gauge: 1@1000 2@2000\nb{} gauge: 1@1000 2@2000\n"
					 "c{} gauge: 1@1000\n");
	assert_string_equal(after.data, "a{} gauge: 1@1000 2@2000 3@3000\n"
					"b{} gauge: 1@1000 2@2000\n"
					"c{} gauge: 1@1000 2@2000\n"
					"d{} gauge: 1@1000\n"
					"e{} gauge: 1@5000\n");
	assert_null(f->errors.data);
	buf_release(&before);
	buf_release(&after);
}

/* Samples written older than now - retention are counted (the next retention step deletes
 * them); refused ones are not. How the input ended is in the stats, apart from malformed lines. */
static void test_expired_and_ending(void **state)
{
	struct fixture *f = *state;
	struct store_options o = { .path = f->path, .retention_ms = 10000 };
	struct store_import_stats s;
	struct store_import *imp;
	struct store *st;
	const char *in = "a 1 1000\na 2 50000\nb 1 49999\nc 1 60000\n";
	char err[256];

	if (store_open(&o, &st, err, sizeof(err)))
		fail_msg("store_open: %s", err);
	/* now 60000, retention 10 s: a@1000 and b@49999 are older than 50000; two commits */
	imp = store_import_new(st, STORE_IMPORT_TEXT, 2, record_error, &f->errors);
	store_import_set_now(imp, 60000);
	assert_int_equal(store_import_feed(imp, in, strlen(in)), 0);
	assert_int_equal(store_import_finish(imp), 0);
	store_import_get_stats(imp, &s);
	store_import_free(imp);
	assert_int_equal(s.samples_written, 4);
	assert_int_equal(s.expired, 2);
	assert_int_equal(s.ending, STORE_IMPORT_END_COMPLETE);

	/* again, plus one old and one recent sample that are new: only the old new one counts;
	 * the input ends without its newline: no malformed line, the ending says it */
	imp = store_import_new(st, STORE_IMPORT_TEXT, 0, record_error, &f->errors);
	store_import_set_now(imp, 60000);
	assert_int_equal(store_import_feed(imp, in, strlen(in)), 0);
	assert_int_equal(store_import_feed(imp, "d 1 2000\ne 1 59000\ne 2 59", 26), 0);
	assert_int_equal(store_import_finish(imp), 0);
	store_import_get_stats(imp, &s);
	store_import_free(imp);
	assert_int_equal(s.samples_written, 2);
	assert_int_equal(s.out_of_order, 4);
	assert_int_equal(s.expired, 1);
	assert_int_equal(s.malformed, 0);
	assert_int_equal(s.ending, STORE_IMPORT_END_CUT);
	assert_string_equal(f->errors.data, "7: the input ends inside this line (no newline at the "
					    "end): it may be cut off, so it is not imported\n");
	buf_reset(&f->errors);

	/* OpenMetrics without # EOF after a malformed line: one malformed line, ending NO_EOF */
	imp = store_import_new(st, STORE_IMPORT_OPENMETRICS, 0, record_error, &f->errors);
	assert_int_equal(store_import_feed(imp, "f 1 70\nf x 71\n", 14), 0);
	assert_int_equal(store_import_finish(imp), 0);
	store_import_get_stats(imp, &s);
	store_import_free(imp);
	assert_int_equal(s.samples_written, 1);
	assert_int_equal(s.expired, 0); /* no store_import_set_now: nothing counted */
	assert_int_equal(s.malformed, 1);
	assert_int_equal(s.ending, STORE_IMPORT_END_NO_EOF);
	store_close(st);
}

static void test_store_limits(void **state)
{
	struct fixture *f = *state;
	struct store_import_stats s;
	struct store *st = open_store(f->path, false);
	struct buf in;

	/* 40 labels parse (under the parser's cap) but the store holds at most 32. */
	buf_init(&in, 0);
	buf_puts(&in, "ok 1 1000\nwide{");
	for (int i = 0; i < 40; i++)
		buf_printf(&in, "l%d=\"v\",", i);
	buf_puts(&in, "} 1 1000\n");
	import_text(st, in.data, 0, &f->errors, &s);
	assert_string_equal(f->errors.data, "2: the store cannot hold this label set (at most 32 "
					    "labels, names up to 128 bytes, name and value up to "
					    "500 bytes)\n");
	assert_int_equal(s.malformed, 1);
	assert_int_equal(s.samples_written, 1);
	store_close(st);
	buf_release(&in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_special_floats_and_escapes),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_histogram_types),
		cmocka_unit_test(test_openmetrics),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_auto_late_milliseconds),
		cmocka_unit_test(test_caps),
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_and_ending, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
