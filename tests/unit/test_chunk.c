#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "store/chunk.h"

/* ---- helpers ---- */

static uint64_t rng_state;

/* splitmix64: a fixed seed gives the same series on every run and every platform. */
static uint64_t rng(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static double rng_unit(void)
{
	return (double)(rng() >> 11) / 9007199254740992.0;
}

static double from_bits(uint64_t b)
{
	double v;

	memcpy(&v, &b, sizeof(v));
	return v;
}

static uint64_t to_bits(double v)
{
	uint64_t b;

	memcpy(&b, &v, sizeof(b));
	return b;
}

static int64_t ts_buf[CHUNK_MAX_SAMPLES];
static double val_buf[CHUNK_MAX_SAMPLES];
static int64_t ts_out[CHUNK_MAX_SAMPLES];
static double val_out[CHUNK_MAX_SAMPLES];

/*
 * chunk_decode_until() at cuts around a few samples (just before one, exactly at one, past the
 * last): the prefix up to the cut, bit for bit, and nothing after it.
 */
static void decode_prefixes(const uint8_t *p, size_t len, const int64_t *ts, const double *vals,
			    size_t n)
{
	size_t at[] = { 0, 1, n / 3, n / 2, n > 1 ? n - 2 : 0, n - 1 };

	for (size_t c = 0; c < sizeof(at) / sizeof(at[0]); c++) {
		size_t i = at[c] < n ? at[c] : n - 1;

		for (int64_t d = -1; d <= 0; d++) {
			int64_t cut;
			size_t want = d ? i : i + 1, got = 99999;

			if (d && ts[i] == INT64_MIN)
				continue;
			cut = ts[i] + d;
			assert_int_equal(chunk_decode_until(p, len, cut, ts_out, val_out,
							    CHUNK_MAX_SAMPLES, &got), 0);
			assert_int_equal(got, want);
			assert_memory_equal(ts_out, ts, want * sizeof(*ts));
			assert_memory_equal(val_out, vals, want * sizeof(*vals));
		}
	}
	{
		size_t got = 0;

		assert_int_equal(chunk_decode_until(p, len, INT64_MAX, ts_out, val_out,
						    CHUNK_MAX_SAMPLES, &got), 0);
		assert_int_equal(got, n);
		assert_memory_equal(val_out, vals, n * sizeof(*vals));
	}
}

/*
 * chunk_decode_presence(): the same timestamps, and each value the stale marker exactly where
 * the sample is one, else 0.0 — for every mode (a decimal body's stale markers are among its
 * exceptions, read without the mantissas).
 */
static void check_presence(const uint8_t *p, size_t len, const int64_t *ts, const double *vals,
			   size_t n)
{
	size_t got = 0;

	assert_int_equal(chunk_decode_presence(p, len, ts_out, val_out, CHUNK_MAX_SAMPLES, &got),
			 0);
	assert_int_equal(got, n);
	assert_memory_equal(ts_out, ts, n * sizeof(*ts));
	for (size_t i = 0; i < n; i++) {
		bool stale = to_bits(vals[i]) == 0x7ff0000000000002ull;

		if (stale ? to_bits(val_out[i]) != 0x7ff0000000000002ull
			  : to_bits(val_out[i]) != to_bits(0.0))
			fail_msg("presence: sample %zu of %zu: %016llx for %016llx", i, n,
				 (unsigned long long)to_bits(val_out[i]),
				 (unsigned long long)to_bits(vals[i]));
	}
	if (n > 1)
		assert_int_equal(chunk_decode_presence(p, len, ts_out, val_out, n - 1, &got),
				 -ENOSPC);
}

/* Encode, decode, peek and compare bit for bit; returns the encoded size. */
static size_t roundtrip(const int64_t *ts, const double *vals, size_t n)
{
	struct buf b;
	size_t got = 0, pn = 0, len;
	int64_t first = 0, last = 0;

	buf_init(&b, 0);
	assert_int_equal(chunk_encode(ts, vals, n, &b), 0);
	assert_true(b.len > 0);
	assert_int_equal(chunk_peek((const uint8_t *)b.data, b.len, &pn, &first, &last), 0);
	assert_int_equal(pn, n);
	assert_true(first == ts[0]);
	assert_true(last == ts[n - 1]);
	assert_int_equal(chunk_decode((const uint8_t *)b.data, b.len, ts_out, val_out,
				      CHUNK_MAX_SAMPLES, &got), 0);
	assert_int_equal(got, n);
	assert_memory_equal(ts_out, ts, n * sizeof(*ts));
	assert_memory_equal(val_out, vals, n * sizeof(*vals));
	decode_prefixes((const uint8_t *)b.data, b.len, ts, vals, n);
	check_presence((const uint8_t *)b.data, b.len, ts, vals, n);
	len = b.len;
	buf_release(&b);
	return len;
}

static void regular_ts(int64_t start, int64_t step, size_t n)
{
	for (size_t i = 0; i < n; i++)
		ts_buf[i] = start + (int64_t)i * step;
}

/* ---- tests ---- */

/* The exact bytes of a tiny chunk: pins the on-disk format of docs/chunk-format.md. */
static void test_golden_bytes(void **state)
{
	static const uint8_t want[] = {
		0x01,             /* version */
		0x03,             /* n */
		0xd0, 0x0f,       /* zigzag(1000) */
		0xd0, 0x0f,       /* span 2000 */
		0x00,             /* times: fixed interval */
		0x01,             /* values: decimal */
		0x00,             /* 0 digits */
		0x02,             /* zigzag(m0 = 1) */
		0x01,             /* step gcd 1 */
		0x00,             /* no exceptions */
		0x00, 0x02,       /* sequence: order 0 (line), all residuals zero, d0 = 1 */
	};
	int64_t ts[3] = { 1000, 2000, 3000 };
	double v[3] = { 1, 2, 3 };
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(chunk_encode(ts, v, 3, &b), 0);
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));
	buf_release(&b);
}

static void test_single_and_max(void **state)
{
	size_t len;

	(void)state;
	ts_buf[0] = 1700000000000;
	val_buf[0] = 42.5;
	roundtrip(ts_buf, val_buf, 1);
	ts_buf[0] = INT64_MIN;
	val_buf[0] = from_bits(0x7ff0000000000002ull);
	roundtrip(ts_buf, val_buf, 1);

	/* A full chunk of a regular counter: one line of mantissas, a handful of bytes. */
	regular_ts(1700000000000, 10000, CHUNK_MAX_SAMPLES);
	for (size_t i = 0; i < CHUNK_MAX_SAMPLES; i++)
		val_buf[i] = 1000.0 + 5.0 * (double)i;
	len = roundtrip(ts_buf, val_buf, CHUNK_MAX_SAMPLES);
	assert_true(len <= 24);
}

static void test_special_floats(void **state)
{
	static const uint64_t specials[] = {
		0x7ff0000000000002ull, /* Prometheus stale marker */
		0x7ff8000000000001ull, /* quiet NaN, default Prometheus NaN */
		0x7ff8000000000000ull, 0xfff8000000000000ull, 0x7ff4000000000123ull,
		0xfff0000000000001ull, 0x7ff0000000000000ull, /* +Inf */
		0xfff0000000000000ull,                         /* -Inf */
		0x8000000000000000ull,                         /* -0 */
		0x0000000000000000ull, 0x0000000000000001ull, /* smallest subnormal */
		0x000fffffffffffffull, 0x7fefffffffffffffull, /* largest finite */
		0xffefffffffffffffull,
	};
	size_t ns = sizeof(specials) / sizeof(specials[0]);

	(void)state;
	/* All specials in a row: the XOR path. */
	regular_ts(0, 1000, ns);
	for (size_t i = 0; i < ns; i++)
		val_buf[i] = from_bits(specials[i]);
	roundtrip(ts_buf, val_buf, ns);

	/* Each special inside a decimal gauge: the exception path, at start, middle and end. */
	for (size_t s = 0; s < ns; s++) {
		for (size_t where = 0; where < 3; where++) {
			size_t n = 300, at = where == 0 ? 0 : where == 1 ? n / 2 : n - 1;

			regular_ts(1700000000000, 10000, n);
			for (size_t i = 0; i < n; i++)
				val_buf[i] = (double)(100 + (int)(rng() % 50)) / 100.0;
			val_buf[at] = from_bits(specials[s]);
			roundtrip(ts_buf, val_buf, n);
		}
	}

	/* A constant stale series and a counter that ends in a stale marker. */
	regular_ts(1700000000000, 10000, 100);
	for (size_t i = 0; i < 100; i++)
		val_buf[i] = from_bits(0x7ff0000000000002ull);
	assert_int_equal(roundtrip(ts_buf, val_buf, 100), 21); /* 12 header + 1 + 8 raw */
	for (size_t i = 0; i < 100; i++)
		val_buf[i] = (double)i * 3;
	val_buf[99] = from_bits(0x7ff0000000000002ull);
	/* the marker is one exception (gap + 8 raw bytes); the counter stays one straight line */
	assert_true(roundtrip(ts_buf, val_buf, 100) <= 34);
	assert_int_equal(to_bits(val_out[99]), 0x7ff0000000000002ull);
}

enum shape {
	SHAPE_COUNTER_RESETS, SHAPE_CONSTANT, SHAPE_NOISY, SHAPE_DECIMAL, SHAPE_NEAR_2_53,
	SHAPE_HUGE, SHAPE_TINY, SHAPE_FLAT_BURSTS, SHAPE_RANDOM_BITS, SHAPE_MIXED_DIGITS,
	SHAPE_NEGATIVE, SHAPE_FLOAT_SUM, SHAPE_COUNT
};

static void fill_values(enum shape shape, size_t n)
{
	double acc = 0;

	for (size_t i = 0; i < n; i++) {
		switch (shape) {
		case SHAPE_COUNTER_RESETS:
			acc = (rng() % 97 == 0) ? 0 : acc + (double)(rng() % 1000);
			val_buf[i] = acc;
			break;
		case SHAPE_CONSTANT:
			val_buf[i] = 12345.678;
			break;
		case SHAPE_NOISY:
			val_buf[i] = 50.0 + 10.0 * (rng_unit() - 0.5);
			break;
		case SHAPE_DECIMAL:
			acc += (double)(rng() % 300);
			val_buf[i] = acc / 100.0;
			break;
		case SHAPE_NEAR_2_53:
			val_buf[i] = 9007199254740992.0 + (double)(int64_t)(rng() % 64) * 2 -
				     64.0;
			break;
		case SHAPE_HUGE:
			val_buf[i] = ldexp(1.0 + rng_unit(), 900 + (int)(rng() % 100));
			break;
		case SHAPE_TINY:
			val_buf[i] = (double)(rng() % 1000) / 1e9;
			break;
		case SHAPE_FLAT_BURSTS:
			if (rng() % 50 == 0)
				acc += (double)(1 + rng() % 20);
			val_buf[i] = acc;
			break;
		case SHAPE_RANDOM_BITS:
			val_buf[i] = from_bits(rng());
			break;
		case SHAPE_MIXED_DIGITS:
			val_buf[i] = rng() % 10 == 0 ? rng_unit() : (double)(rng() % 1000) / 10.0;
			break;
		case SHAPE_NEGATIVE:
			val_buf[i] = -(double)(rng() % 100000) / 1000.0;
			break;
		case SHAPE_FLOAT_SUM:
			/* a histogram _sum: millisecond durations added up in floating point, with
			 * a reset to -0 and a negative stretch to cross signs */
			acc += (double)(rng() % 5000) / 1000.0;
			if (i == n / 3)
				acc = -0.0;
			val_buf[i] = i > n / 2 && i < n / 2 + 5 ? -acc : acc;
			break;
		case SHAPE_COUNT:
			break;
		}
	}
}

static void fill_times(int kind, size_t n)
{
	switch (kind) {
	case 0:
		regular_ts(1700000000000, 10000, n);
		break;
	case 1: /* jitter of a few milliseconds around a 10 s tick */
		for (size_t i = 0; i < n; i++)
			ts_buf[i] = 1700000000000 + (int64_t)i * 10000 + (int64_t)(rng() % 7);
		break;
	case 2: /* irregular gaps */
		ts_buf[0] = 1700000000000;
		for (size_t i = 1; i < n; i++)
			ts_buf[i] = ts_buf[i - 1] + 1 + (int64_t)(rng() % 100000);
		break;
	case 3: /* negative, crossing zero */
		ts_buf[0] = -(int64_t)n * 500;
		for (size_t i = 1; i < n; i++)
			ts_buf[i] = ts_buf[i - 1] + 1 + (int64_t)(rng() % 1000);
		break;
	case 4: /* the extremes of int64 with huge gaps */
		ts_buf[0] = INT64_MIN;
		for (size_t i = 1; i < n; i++)
			ts_buf[i] = ts_buf[i - 1] + (int64_t)((uint64_t)INT64_MAX / n * 2 / 1);
		if (n > 1)
			ts_buf[n - 1] = INT64_MAX;
		break;
	default: /* gaps of 1 ms and a long pause */
		for (size_t i = 0; i < n; i++)
			ts_buf[i] = (int64_t)i + (i >= n / 2 ? 86400000 : 0);
		break;
	}
}

static void test_random_shapes(void **state)
{
	static const size_t sizes[] = { 1, 2, 3, 7, 120, 360, 1000, CHUNK_MAX_SAMPLES };

	(void)state;
	rng_state = 1;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (int shape = 0; shape < SHAPE_COUNT; shape++) {
			for (int tk = 0; tk < 6; tk++) {
				fill_times(tk, sizes[s]);
				fill_values((enum shape)shape, sizes[s]);
				roundtrip(ts_buf, val_buf, sizes[s]);
			}
		}
	}
}

/* Every shape with stale markers sprinkled in (a decimal body holds them as exceptions). */
static void test_stale_shapes(void **state)
{
	(void)state;
	rng_state = 3;
	for (int shape = 0; shape < SHAPE_COUNT; shape++) {
		for (size_t n = 2; n <= 720; n *= 3) {
			regular_ts(1700000000000, 10000, n);
			fill_values((enum shape)shape, n);
			for (size_t i = shape % 3; i < n; i += 1 + i % 17)
				val_buf[i] = from_bits(0x7ff0000000000002ull);
			roundtrip(ts_buf, val_buf, n);
		}
	}
}

/* The shapes the store sees most must stay small: these bounds fail if a mode stops firing. */
static void test_compression(void **state)
{
	size_t n = 360, len;
	double acc = 0;

	(void)state;
	rng_state = 7;
	regular_ts(1700000000000, 10000, n);
	/* flat log counter with three bursts */
	for (size_t i = 0; i < n; i++) {
		if (i == 50 || i == 51 || i == 300)
			acc += 3;
		val_buf[i] = acc;
	}
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len <= 32);
	/* load average, 2 decimals, random walk of a few hundredths */
	acc = 42;
	for (size_t i = 0; i < n; i++) {
		acc += (double)(int)(rng() % 7) - 3;
		if (acc < 0)
			acc = 0;
		val_buf[i] = acc / 100.0;
	}
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len < n / 2);
	/* memory bytes, multiples of 4096 with noise of a few pages */
	acc = 2e9;
	for (size_t i = 0; i < n; i++) {
		acc += 4096.0 * (double)((int)(rng() % 9) - 4);
		val_buf[i] = acc;
	}
	/* steps of -4..4 pages: ~3.2 bits of entropy; 14 bits more each without the page gcd */
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len < n * 3 / 5);
	/* a float sum of millisecond durations: mantissas with small ulp corrections, not XOR */
	acc = 0;
	for (size_t i = 0; i < n; i++) {
		for (int r = 0; r < 40; r++)
			acc += (double)(20 + rng() % 200) / 1000.0;
		val_buf[i] = acc;
	}
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len < n * 5 / 2);
	/* a busy counter with one reset: the reset must not inflate every other residual */
	acc = 5e8;
	for (size_t i = 0; i < n; i++) {
		acc = i == n / 2 ? 0 : acc + 1000 + (double)(rng() % 64);
		val_buf[i] = acc;
	}
	/* ~8 bits per step; a Rice parameter sized by the reset would take ~2 bytes per step */
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len < n * 5 / 4);
	/* the worst case the store must budget for: random bits at random timestamps */
	ts_buf[0] = INT64_MIN / 2;
	for (size_t i = 0; i < CHUNK_MAX_SAMPLES; i++) {
		if (i)
			ts_buf[i] = ts_buf[i - 1] + 1 + (int64_t)(rng() >> 13);
		val_buf[i] = from_bits(rng());
	}
	len = roundtrip(ts_buf, val_buf, CHUNK_MAX_SAMPLES);
	assert_true(len <= 48 + 22 * (size_t)CHUNK_MAX_SAMPLES);
	regular_ts(1700000000000, 10000, n);
	/* constant value: header only */
	for (size_t i = 0; i < n; i++)
		val_buf[i] = 3.0;
	/* 12 header + 1 + 7 decimal with an all-zero sequence: less than 8 raw bytes */
	len = roundtrip(ts_buf, val_buf, n);
	assert_true(len <= 21);
}

/* The value mode byte of a chunk with regular timestamps (docs/chunk-format.md). */
static int value_mode(const struct buf *b)
{
	const uint8_t *p = (const uint8_t *)b->data;
	size_t pos = 1;

	for (int field = 0; field < 3; field++) {
		while (p[pos] & 0x80)
			pos++;
		pos++;
	}
	assert_int_equal(p[pos], 0); /* times: fixed interval */
	return p[pos + 1];
}

/* Each value encoding is chosen for the data it exists for. */
static void test_modes(void **state)
{
	struct {
		int shape;   /* enum shape, or -1: constant stale marker, -2: constant -1.5 */
		int mode;    /* 0 const, 1 decimal, 2 xor, 3 decimal with corrections */
	} cases[] = {
		{ -1, 0 }, { -2, 1 }, { SHAPE_DECIMAL, 1 }, { SHAPE_FLAT_BURSTS, 1 },
		{ SHAPE_NEGATIVE, 1 },
		{ SHAPE_TINY, 1 }, { SHAPE_RANDOM_BITS, 2 }, { SHAPE_HUGE, 2 },
		{ SHAPE_FLOAT_SUM, 3 },
	};
	size_t n = 500;

	(void)state;
	rng_state = 5;
	regular_ts(1700000000000, 10000, n);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct buf b;

		if (cases[c].shape < 0) {
			for (size_t i = 0; i < n; i++)
				val_buf[i] = cases[c].shape == -1 ? from_bits(0x7ff0000000000002ull)
								  : -1.5;
		} else {
			fill_values((enum shape)cases[c].shape, n);
		}
		buf_init(&b, 0);
		assert_int_equal(chunk_encode(ts_buf, val_buf, n, &b), 0);
		assert_int_equal(value_mode(&b), cases[c].mode);
		buf_release(&b);
	}
}

static void test_encode_invalid(void **state)
{
	int64_t ts[3] = { 10, 20, 20 };
	double v[3] = { 1, 2, 3 };
	struct buf b;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(chunk_encode(ts, v, 0, &b), -EINVAL);
	assert_int_equal(chunk_encode(ts, v, 3, &b), -EINVAL); /* equal timestamps */
	ts[2] = 15;
	assert_int_equal(chunk_encode(ts, v, 3, &b), -EINVAL); /* decreasing */
	assert_int_equal(chunk_encode(ts_buf, val_buf, CHUNK_MAX_SAMPLES + 1, &b), -EINVAL);
	assert_int_equal(chunk_encode(NULL, v, 1, &b), -EINVAL);
	assert_int_equal(chunk_encode(ts, NULL, 1, &b), -EINVAL);
	assert_int_equal(chunk_encode(ts, v, 1, NULL), -EINVAL);
	assert_int_equal(b.len, 0);
	buf_release(&b);
}

static void test_encode_appends_and_e2big(void **state)
{
	int64_t ts[3] = { 1000, 2000, 3000 };
	double v[3] = { 1, 2, 3 };
	struct buf b;
	size_t n;

	(void)state;
	buf_init(&b, 0);
	assert_int_equal(buf_puts(&b, "prefix"), 0);
	assert_int_equal(chunk_encode(ts, v, 3, &b), 0);
	assert_int_equal(b.len, 6 + 14);
	assert_memory_equal(b.data, "prefix", 6);
	assert_int_equal(chunk_decode((uint8_t *)b.data + 6, b.len - 6, ts_out, val_out, 3, &n), 0);
	assert_int_equal(n, 3);
	buf_release(&b);

	/* 13 bytes do not hold the 14-byte chunk: refused, nothing appended. */
	buf_init(&b, 13);
	assert_int_equal(chunk_encode(ts, v, 3, &b), -E2BIG);
	assert_int_equal(b.len, 0);
	buf_release(&b);
	buf_init(&b, 14);
	assert_int_equal(chunk_encode(ts, v, 3, &b), 0);
	buf_release(&b);
}

static void test_decode_enospc_and_peek(void **state)
{
	struct buf b;
	size_t n = 99, pn;
	int64_t first, last;

	(void)state;
	regular_ts(-5000, 250, 200);
	fill_values(SHAPE_DECIMAL, 200);
	buf_init(&b, 0);
	assert_int_equal(chunk_encode(ts_buf, val_buf, 200, &b), 0);
	assert_int_equal(chunk_decode((uint8_t *)b.data, b.len, ts_out, val_out, 199, &n),
			 -ENOSPC);
	assert_int_equal(n, 99); /* untouched on error */
	assert_int_equal(chunk_decode((uint8_t *)b.data, b.len, ts_out, val_out, 200, &n), 0);
	assert_int_equal(n, 200);
	/* Every pointer of peek may be NULL. */
	assert_int_equal(chunk_peek((uint8_t *)b.data, b.len, NULL, NULL, NULL), 0);
	assert_int_equal(chunk_peek((uint8_t *)b.data, b.len, &pn, NULL, NULL), 0);
	assert_int_equal(pn, 200);
	assert_int_equal(chunk_peek((uint8_t *)b.data, b.len, NULL, &first, &last), 0);
	assert_true(first == -5000);
	assert_true(last == -5000 + 199 * 250);
	assert_int_equal(chunk_peek(NULL, 0, &pn, NULL, NULL), -EINVAL);
	assert_int_equal(chunk_decode(NULL, 0, ts_out, val_out, 10, &n), -EINVAL);
	buf_release(&b);
}

/* A decode that succeeds on bytes we did not write must still give a sane result. */
static void check_tables_agree(const uint8_t *p, size_t len);

static void check_decode_sane(const uint8_t *p, size_t len)
{
	size_t n = 0, pn = 0;
	int64_t first = 0, last = 0;
	int err;

	check_tables_agree(p, len);
	err = chunk_decode(p, len, ts_out, val_out, CHUNK_MAX_SAMPLES, &n);
	assert_true(err == 0 || err == -EINVAL);
	if (err) {
		return;
	}
	assert_true(n >= 1 && n <= CHUNK_MAX_SAMPLES);
	for (size_t i = 1; i < n; i++)
		assert_true(ts_out[i] > ts_out[i - 1]);
	assert_int_equal(chunk_peek(p, len, &pn, &first, &last), 0);
	assert_int_equal(pn, n);
	assert_true(first == ts_out[0] && last == ts_out[n - 1]);
}

/* A set of chunks covering every mode, for the truncation and mutation tests. */
static size_t corpus(struct buf *chunks, size_t max)
{
	size_t k = 0;

	rng_state = 99;
	for (int shape = 0; shape < SHAPE_COUNT && k < max; shape++) {
		for (int tk = 0; tk < 6 && k < max; tk++) {
			size_t n = 1 + (size_t)(rng() % 80);

			fill_times(tk, n);
			fill_values((enum shape)shape, n);
			buf_init(&chunks[k], 0);
			assert_int_equal(chunk_encode(ts_buf, val_buf, n, &chunks[k]), 0);
			k++;
		}
	}
	return k;
}

static void test_truncated(void **state)
{
	struct buf chunks[SHAPE_COUNT * 6];
	size_t k = corpus(chunks, SHAPE_COUNT * 6), n;

	(void)state;
	for (size_t c = 0; c < k; c++) {
		const uint8_t *p = (const uint8_t *)chunks[c].data;
		uint8_t *copy;

		for (size_t len = 0; len < chunks[c].len; len++) {
			/* A private copy of exactly 'len' bytes so ASan catches any overread. */
			copy = malloc(len ? len : 1);
			memcpy(copy, p, len);
			assert_int_equal(chunk_decode(copy, len, ts_out, val_out, CHUNK_MAX_SAMPLES,
						      &n), -EINVAL);
			free(copy);
		}
		/* One byte too many is not our chunk either. */
		copy = malloc(chunks[c].len + 1);
		memcpy(copy, p, chunks[c].len);
		copy[chunks[c].len] = 0;
		assert_int_equal(chunk_decode(copy, chunks[c].len + 1, ts_out, val_out,
					      CHUNK_MAX_SAMPLES, &n), -EINVAL);
		free(copy);
		buf_release(&chunks[c]);
	}
}

static void test_mutations(void **state)
{
	static const uint8_t flips[] = { 0x01, 0x02, 0x10, 0x80, 0xff, 0x7f };
	struct buf chunks[SHAPE_COUNT * 6];
	size_t k = corpus(chunks, SHAPE_COUNT * 6);

	(void)state;
	for (size_t c = 0; c < k; c++) {
		size_t len = chunks[c].len;
		uint8_t *copy = malloc(len);

		for (size_t i = 0; i < len; i++) {
			for (size_t f = 0; f < sizeof(flips); f++) {
				memcpy(copy, chunks[c].data, len);
				copy[i] ^= flips[f];
				check_decode_sane(copy, len);
			}
			memcpy(copy, chunks[c].data, len);
			copy[i] = (uint8_t)rng();
			check_decode_sane(copy, len);
		}
		free(copy);
		buf_release(&chunks[c]);
	}
}

static void test_garbage(void **state)
{
	uint8_t *p;

	(void)state;
	rng_state = 12345;
	for (int iter = 0; iter < 200000; iter++) {
		size_t len = (size_t)(rng() % 64);

		p = malloc(len ? len : 1);
		for (size_t i = 0; i < len; i++)
			p[i] = (uint8_t)rng();
		/* Half the time a plausible header, so the bodies get exercised too. */
		if (len >= 4 && (iter & 1)) {
			p[0] = 1;
			p[1] = (uint8_t)(1 + rng() % 127);
		}
		check_decode_sane(p, len);
		free(p);
	}
}

/* ---- the Rice lookup tables against the residual-at-a-time decoder ---- */

/* Decode with the tables and without: the same result, the same samples bit for bit. */
static void check_tables_agree(const uint8_t *p, size_t len)
{
	static int64_t ts_ref[CHUNK_MAX_SAMPLES];
	static double val_ref[CHUNK_MAX_SAMPLES];
	size_t n = 0, nref = 0;
	int err, eref;

	chunk_test_rice_tables(false);
	eref = chunk_decode(p, len, ts_ref, val_ref, CHUNK_MAX_SAMPLES, &nref);
	chunk_test_rice_tables(true);
	err = chunk_decode(p, len, ts_out, val_out, CHUNK_MAX_SAMPLES, &n);
	assert_int_equal(err, eref);
	if (err)
		return;
	assert_int_equal(n, nref);
	assert_memory_equal(ts_out, ts_ref, n * sizeof(*ts_out));
	assert_memory_equal(val_out, val_ref, n * sizeof(*val_out));
}

/*
 * The Rice parameter of a chunk's value sequence when it is a decimal body with an order-1
 * Rice sequence (the tables' case), else -1: read from the layout of docs/chunk-format.md.
 */
static int order1_rice_k(const uint8_t *p, size_t len)
{
	size_t pos = 1;
	uint64_t nexc = 0;

	/* header: version, then n, zigzag(first), span */
	for (int f = 0; f < 3; f++)
		while (pos < len && (p[pos++] & 0x80))
			;
	if (pos + 2 > len || p[pos] != 0 /* TS_CONST */ || p[pos + 1] != 1 /* DECIMAL */)
		return -1;
	pos += 3; /* the two modes and the digit count */
	for (int f = 0; f < 3 && pos < len; f++) { /* m0, g, then the exception count */
		uint64_t u = 0;
		unsigned shift = 0;

		while (pos < len && (p[pos] & 0x80))
			u |= (uint64_t)(p[pos++] & 0x7f) << (shift += 7, shift - 7);
		if (pos < len)
			u |= (uint64_t)p[pos++] << shift;
		nexc = u;
	}
	for (uint64_t e = 0; e < nexc && pos < len; e++) {
		while (pos < len && (p[pos++] & 0x80))
			;
		pos += 8;
	}
	if (pos >= len || p[pos] != (1 << 4 | 1)) /* order 1, RICE */
		return -1;
	pos++;
	while (pos < len && (p[pos++] & 0x80)) /* d0 */
		;
	return pos < len ? p[pos] : -1;
}

/*
 * Counters at a steady rate with noise of every width the tables cover (Rice k = 0..4) and
 * wider, as integers and with two digits after the point (the decimal conversion done inside
 * the table steps, with and without a division), with resets (escapes) and flat stretches, at every length up to 300 (so the four-wide
 * table steps meet the end of the run and of the chunk everywhere): decoded with the tables,
 * exactly what the decoder without them gives, and what was encoded. Then every truncation
 * and a byte flip of each agree too.
 */
static void test_rice_tables(void **state)
{
	struct buf b;
	size_t seen[8] = { 0 }, seen_dec[8] = { 0 };

	(void)state;
	rng_state = 4242;
	buf_init(&b, 0);
	for (size_t n = 1; n <= 300; n++) {
		for (unsigned noise = 0; noise < 14; noise++) {
			double acc = (double)(rng() % 100000);
			/* half of them with two digits after the point (the values divided) */
			double div = noise >= 7 ? 100.0 : 1.0;
			uint64_t step = rng() % 50;
			int kk;

			regular_ts(1700000000000, 10000, n);
			for (size_t i = 0; i < n; i++) {
				unsigned wd = noise % 7;
				uint64_t r = wd ? rng() % (1u << (2 * wd - 1)) : 0;

				if (rng() % 211 == 0)
					acc = 0; /* a reset: an escape in the sequence */
				else if (wd != 6 || rng() % 3)
					acc += (double)(step + r);
				val_buf[i] = acc / div;
			}
			buf_reset(&b);
			assert_int_equal(chunk_encode(ts_buf, val_buf, n, &b), 0);
			kk = order1_rice_k((const uint8_t *)b.data, b.len);
			if (kk >= 0 && div > 1)
				seen_dec[kk < 7 ? kk : 7]++;
			else if (kk >= 0)
				seen[kk < 7 ? kk : 7]++;
			check_tables_agree((const uint8_t *)b.data, b.len);
			assert_int_equal(chunk_decode((const uint8_t *)b.data, b.len, ts_out, val_out,
						      CHUNK_MAX_SAMPLES, &(size_t){ 0 }), 0);
			assert_memory_equal(val_out, val_buf, n * sizeof(*val_out));
			if (n % 17 == 0) {
				uint8_t *copy = malloc(b.len);

				for (size_t len = 0; len < b.len; len++) {
					memcpy(copy, b.data, len);
					check_tables_agree(copy, len);
				}
				for (size_t i = 0; i < b.len; i++) {
					memcpy(copy, b.data, b.len);
					copy[i] ^= (uint8_t)(1u << (rng() % 8));
					check_tables_agree(copy, b.len);
				}
				free(copy);
			}
		}
	}
	buf_release(&b);
	/* The tables' case came up with every k they cover, and the wider ones too. */
	for (int kk = 0; kk <= 4; kk++)
		if (seen[kk] < 20 || seen_dec[kk] < 20)
			fail_msg("only %zu and %zu chunks with an order-1 Rice sequence at k = %d",
				 seen[kk], seen_dec[kk], kk);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_bytes),
		cmocka_unit_test(test_single_and_max),
		cmocka_unit_test(test_special_floats),
		cmocka_unit_test(test_random_shapes),
		cmocka_unit_test(test_stale_shapes),
		cmocka_unit_test(test_compression),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_encode_appends_and_e2big),
		cmocka_unit_test(test_decode_enospc_and_peek),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_rice_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
