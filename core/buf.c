#include "core/buf.h"
#include "core/model.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "deploywatch: out of memory allocating %zu bytes\n", n);
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "deploywatch: out of memory allocating %zu x %zu bytes\n", n, size);
		abort();
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (!q) {
		fprintf(stderr, "deploywatch: out of memory reallocating %zu bytes\n", n);
		abort();
	}
	return q;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

uint64_t double_bits(double v)
{
	uint64_t bits;

	memcpy(&bits, &v, sizeof(bits));
	return bits;
}

double bits_double(uint64_t bits)
{
	double v;

	memcpy(&v, &bits, sizeof(v));
	return v;
}

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max ? max : BUF_DEFAULT_MAX;
}

void buf_release(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Room for 'extra' more bytes plus the NUL. */
int buf_reserve(struct buf *b, size_t extra)
{
	size_t need, cap;

	if (extra > b->max || b->len > b->max - extra)
		return -E2BIG;
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	if (cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	int err = buf_reserve(b, len);

	if (err)
		return err;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n, err;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0)
		return -EINVAL;
	err = buf_reserve(b, (size_t)n);
	if (err)
		return err;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int err;

	va_start(ap, fmt);
	err = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return err;
}

char *buf_detach(struct buf *b, size_t *len)
{
	char *p = b->data ? b->data : xstrdup("");

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}

/* "00" "01" .. "99": two digits per division, half the dependent divisions of one at a time
 * (a range answer formats tens of thousands of 16- and 17-digit values). */
static const char digit_pairs[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

char *fmt_u64_back(char *end, uint64_t u)
{
	while (u >= 100) {
		unsigned d = (unsigned)(u % 100);

		u /= 100;
		end -= 2;
		memcpy(end, digit_pairs + 2 * d, 2);
	}
	if (u >= 10) {
		end -= 2;
		memcpy(end, digit_pairs + 2 * u, 2);
	} else {
		*--end = (char)('0' + u);
	}
	return end;
}

/* Decimal digits of an unsigned integer, written backwards from 'end' (after a NUL). Returns
 * the start. */
static char *format_u64(char *end, uint64_t u)
{
	*--end = '\0';
	return fmt_u64_back(end, u);
}

/* 10^j for 0 <= j <= 20, as 128-bit integers (10^20 is past 64 bits). */
static unsigned __int128 pow10_u128(int j)
{
	static const uint64_t p[20] = {
		1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
		100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
		10000000000000ull, 100000000000000ull, 1000000000000000ull,
		10000000000000000ull, 100000000000000000ull, 1000000000000000000ull,
		10000000000000000000ull,
	};

	return j < 20 ? (unsigned __int128)p[j] : (unsigned __int128)p[19] * 10;
}

/* Is M / 2^s >= 10^j (-4 <= j <= 15), exactly? */
static bool ge_pow10(uint64_t mant, int s, int j)
{
	return j >= 0 ? (unsigned __int128)mant >= (pow10_u128(j) << s)
		      : (unsigned __int128)mant * pow10_u128(-j) >= ((unsigned __int128)1 << s);
}

/*
 * Write m / 10^k as %g does without an exponent ("-" when 'neg', the integer part, then the
 * fraction without its trailing zeros) into 'out', NUL-terminated. Returns the length.
 */
static int put_fixed(char *out, bool neg, uint64_t m, int k)
{
	/* built backwards from tmp + 48, then copied in one fixed-size piece of FMT_DOUBLE_MAX
	 * bytes, which 'out' holds (the text is at most 24 bytes: "-0.000" and 18 more digits) */
	char tmp[80], *p = tmp + 48;
	int len;

	/* %g drops the fraction's trailing zeros: drop them from m (m > 0, and m / 10^k is no
	 * integer, so this stops before k reaches 0) */
	if (k >= 8 && m % 100000000 == 0) {
		m /= 100000000;
		k -= 8;
	}
	if (k >= 4 && m % 10000 == 0) {
		m /= 10000;
		k -= 4;
	}
	while (k > 0 && m % 10 == 0) {
		m /= 10;
		k--;
	}
	*p = '\0';
	/* the fraction's k digits are m's lowest (zeros once m runs out), then the point */
	if (k > 0) {
		int i = k;

		for (; i >= 2; i -= 2) {
			p -= 2;
			memcpy(p, digit_pairs + 2 * (m % 100), 2);
			m /= 100;
		}
		if (i) {
			*--p = (char)('0' + m % 10);
			m /= 10;
		}
		*--p = '.';
	}
	/* the integer part: what is left of m, or 0 */
	p = fmt_u64_back(p, m);
	if (neg)
		*--p = '-';
	len = (int)(tmp + 48 - p);
	memcpy(out, p, FMT_DOUBLE_MAX); /* p + 32 <= tmp + 80: the NUL and some bytes after it */
	return len;
}

/*
 * fmt_double's case for 1e-4 <= |v| < 1e15 (where %g prints no exponent), exactly, in 128-bit
 * integers: v = M / 2^s, so v * 10^k = M * 10^k / 2^s (under 2^120 for k <= 20, s <= 66) is
 * rounded to the nearest integer m with its exact remainder, as printf rounds, for 15, 16 and
 * 17 significant digits in turn; the first m / 10^k that lies strictly inside v's rounding
 * interval (|m * 2^s - M * 10^k| < 10^k / 2, so strtod reads v back) is written, as "%.15g",
 * "%.16g" or "%.17g" print it (trailing zeros dropped). Returns the length, or 0 where printf
 * decides: an exact tie in the rounding (half-even or half-up is printf's business), a decimal
 * exactly half an ulp away, a power of two that is no short decimal, anything out of range.
 */
static int fmt_fixed_exact(char *out, double v)
{
	uint64_t bits, mant;
	unsigned __int128 num, m, rem, half, diff, p10;
	int s, e2, e10, k;
	bool pow2;

	memcpy(&bits, &v, sizeof(bits));
	mant = (bits & ((1ull << 52) - 1)) | (1ull << 52);
	s = 1075 - (int)((bits >> 52) & 0x7ff);
	if (s < 1 || s > 66 || !(fabs(v) >= 1e-4 && fabs(v) < 1e15))
		return 0;
	/* e10 = floor(log10(|v|)): |v| is in [2^e2, 2^(e2 + 1)), so e10 is floor(e2 * log10(2))
	 * (1233 / 4096, exact enough for |e2| < 1000) or one more; one exact comparison */
	e2 = 52 - s;
	e10 = (e2 * 1233 - (e2 < 0 ? 4095 : 0)) / 4096;
	if (e10 < -4)
		e10 = -4;
	if (e10 < 14 && ge_pow10(mant, s, e10 + 1))
		e10++;
	/* A power of two has a rounding interval half as wide below it: only its exact decimal
	 * (every one in this range has one of at most 15 digits) is decided here. */
	pow2 = mant == 1ull << 52;
	half = (unsigned __int128)1 << (s - 1);
	for (int prec = 15; prec <= 17; prec++) {
		k = prec - 1 - e10; /* 0..20 */
		p10 = pow10_u128(k);
		num = (unsigned __int128)mant * p10;
		m = num >> s;
		rem = num - (m << s);
		if (rem == half)
			return 0;
		if (rem > half) {
			m++;
			diff = (half << 1) - rem;
		} else {
			diff = rem;
		}
		if (pow2) {
			if (diff)
				return 0;
		} else if (prec < 17) {
			/* m / 10^k reads back to v when within half an ulp of it: |m * 2^s - num|
			 * < 10^k / 2. Exactly half: strtod's tie to even decides; printf does. */
			if (2 * diff == p10)
				return 0;
			if (2 * diff > p10)
				continue;
		}
		return put_fixed(out, signbit(v), (uint64_t)m, k);
	}
	return 0;
}

size_t fmt_double_n(char out[FMT_DOUBLE_MAX], double v)
{
	if (isnan(v)) {
		memcpy(out, "NaN", 4);
		return 3;
	}
	if (isinf(v)) {
		memcpy(out, v > 0 ? "+Inf" : "-Inf", 5);
		return 4;
	}
	/* Most sample values are whole numbers (bytes, counts): print those digit by digit. -0
	 * keeps its sign, as Go's formatting does. */
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		char tmp[24], *digits = format_u64(tmp + sizeof(tmp), (uint64_t)fabs(v));
		size_t neg = signbit(v) ? 1 : 0, len = (size_t)(tmp + sizeof(tmp) - 1 - digits);

		out[0] = '-';
		memcpy(out + neg, digits, len + 1);
		return neg + len;
	}
	/* 1e-4 <= |v| < 1e15, where %g prints no exponent: rates, averages, 0.95 */
	if (fabs(v) >= 1e-4 && fabs(v) < 1e15) {
		int n = fmt_fixed_exact(out, v);

		if (n > 0)
			return (size_t)n;
	}
	/* The shortest text that reads back to the same double. If one of at most 15 significant
	 * digits exists, "%.15g" prints exactly it (rounding v to 15 digits lands on it and %g drops
	 * the trailing zeros), so only 16 and 17 digits remain to try. */
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(out, FMT_DOUBLE_MAX, "%.*g", prec, v);
		if (prec == 17 || strtod(out, NULL) == v)
			break;
	}
	if (fabs(v) < 1e21 && v == floor(v) && strchr(out, 'e'))
		snprintf(out, FMT_DOUBLE_MAX, "%.0f", v);
	return strlen(out);
}

char *fmt_double(char out[FMT_DOUBLE_MAX], double v)
{
	fmt_double_n(out, v);
	return out;
}

int buf_put_json_string(struct buf *b, const char *s)
{
	int err = buf_putc(b, '"');

	for (; !err && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			err = buf_printf(b, "\\%c", c);
		else if (c == '\n')
			err = buf_puts(b, "\\n");
		else if (c == '\r')
			err = buf_puts(b, "\\r");
		else if (c == '\t')
			err = buf_puts(b, "\\t");
		else if (c < 0x20)
			err = buf_printf(b, "\\u%04x", c);
		else
			err = buf_putc(b, (char)c);
	}
	return err ? err : buf_putc(b, '"');
}

/* How buf_put_escaped shows the character at 's' (len > 0 bytes): into 'esc', *esclen bytes
 * (not NUL-terminated). Returns the input bytes it stands for. */
static size_t escape_one(const unsigned char *s, size_t len, char esc[12], size_t *esclen)
{
	size_t size;
	long cp;

	cp = model_utf8_decode(s, len, &size);
	if (cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp < 0xa0)) {
		/* C0 and C1 controls byte by byte: the two bytes of a C1 control both escaped */
		if (cp < 0x80)
			size = 1;
		for (size_t i = 0; i < size; i++)
			snprintf(esc + 4 * i, 5, "\\x%02x", s[i]);
		*esclen = 4 * size;
		return size;
	}
	memcpy(esc, s, size);
	*esclen = size;
	return size;
}

int buf_put_escaped(struct buf *b, const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t start = b->len, i = 0;
	char esc[12];
	size_t n;
	int err = 0;

	while (!err && i < len) {
		i += escape_one(p + i, len - i, esc, &n);
		err = buf_append(b, esc, n);
	}
	if (err) {
		b->len = start;
		if (b->data)
			b->data[start] = '\0';
	}
	return err;
}

char *buf_escape(char *out, size_t size, const void *s, size_t len)
{
	const unsigned char *p = s;
	size_t o = 0, i = 0, n, mark = 0;
	char esc[12];

	while (i < len) {
		size_t used = escape_one(p + i, len - i, esc, &n);

		if (o + 4 <= size)
			mark = o; /* the last boundary with room for "..." and the NUL */
		if (o + n + 1 > size)
			break;
		memcpy(out + o, esc, n);
		o += n;
		i += used;
	}
	if (i < len) {
		o = mark;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
