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

/* Decimal digits of an unsigned integer, written backwards from 'end'. Returns the start. */
static char *format_u64(char *end, uint64_t u)
{
	*--end = '\0';
	do {
		*--end = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	return end;
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
 * fmt_double's 16- and 17-digit case for 1e-4 <= |v| < 1e15 (where %g prints no exponent),
 * exactly, in 128-bit integers: v = M / 2^s, so v * 10^k = M * 10^k / 2^s (under 2^120 for
 * k <= 20, s <= 66) is rounded to the nearest integer m with its exact remainder, as printf
 * rounds; the 16 digits are kept when m / 10^k lies strictly inside v's rounding interval
 * (|m * 2^s - M * 10^k| < 10^k / 2, so strtod reads v back), else the 17 are. Writes what
 * "%.16g" / "%.17g" print (trailing zeros dropped). Returns the length, or 0 where printf
 * decides: an exact tie in the rounding (half-even or half-up is printf's business), a
 * power of two (its rounding interval is narrower below), anything outside the range.
 */
/*
 * Write m / 10^k as %g does without an exponent ("-" when 'neg', the integer part, then the
 * fraction without its trailing zeros) into 'out', NUL-terminated. Returns the length.
 */
static int put_fixed(char *out, bool neg, uint64_t m, int k)
{
	char digits[24];
	int len = 0, tz = 0, o = 0;

	do {
		digits[len++] = (char)('0' + m % 10);
		m /= 10;
	} while (m);
	/* digits[] holds m backwards; the low k of them are the fraction, and %g drops its
	 * trailing zeros (tz of them). */
	while (tz < k && tz < len && digits[tz] == '0')
		tz++;
	if (neg)
		out[o++] = '-';
	if (len > k) {
		for (int i = len - 1; i >= k; i--)
			out[o++] = digits[i];
	} else {
		out[o++] = '0';
	}
	if (tz < k) {
		out[o++] = '.';
		for (int i = k - 1; i >= tz; i--)
			out[o++] = i < len ? digits[i] : '0';
	}
	out[o] = '\0';
	return o;
}

static int fmt_fixed_exact(char *out, double v)
{
	/* 10^-4 .. 10^15 as doubles, for the first guess of the exponent */
	static const double pow10_tab_d[20] = { 1e-4, 1e-3, 1e-2, 1e-1, 1e0, 1e1, 1e2, 1e3, 1e4,
						1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
						1e14, 1e15 };
	uint64_t bits, mant;
	unsigned __int128 num, m, rem, half, diff;
	int s, e10 = -4, k;

	memcpy(&bits, &v, sizeof(bits));
	mant = (bits & ((1ull << 52) - 1)) | (1ull << 52);
	s = 1075 - (int)((bits >> 52) & 0x7ff);
	if (mant == 1ull << 52 || s < 1 || s > 66 || !(fabs(v) >= 1e-4 && fabs(v) < 1e15))
		return 0;
	/* e10 = floor(log10(|v|)): a guess from doubles (10^-j is inexact as one), then the
	 * exact comparisons settle it */
	while (e10 < 14 && fabs(v) >= pow10_tab_d[e10 + 1 + 4])
		e10++;
	while (e10 > -4 && !ge_pow10(mant, s, e10))
		e10--;
	while (e10 < 14 && ge_pow10(mant, s, e10 + 1))
		e10++;
	for (int prec = 16; prec <= 17; prec++) {
		k = prec - 1 - e10; /* 1..20 */
		num = (unsigned __int128)mant * pow10_u128(k);
		m = num >> s;
		rem = num - (m << s);
		half = (unsigned __int128)1 << (s - 1);
		if (rem == half)
			return 0;
		if (rem > half)
			m++;
		if (prec == 16) {
			diff = (m << s) > num ? (m << s) - num : num - (m << s);
			if (2 * diff >= pow10_u128(k)) /* a tie reads back to the even one: 17 */
				continue;
		}
		return put_fixed(out, signbit(v), (uint64_t)m, k);
	}
	return 0;
}

/*
 * fmt_double's 16- and 17-digit case for 1e-4 <= |v| < 1e15 (where %g prints no exponent),
 * in 64-bit long double arithmetic instead of printf's multi-precision: the 16 digits when
 * they read back to v, else the 17 (what "%.16g" / "%.17g" print, trailing zeros dropped).
 * v * 10^k is off by at most one rounding of a 64-bit mantissa (10^k is exact there for
 * k <= 27), far below the digit that decides; when the decision is closer than a safe margin
 * (a digit near a half, the 16 digits near the edge of v's rounding interval) this returns 0
 * and the caller asks printf. Returns the length written, or 0.
 */
static int fmt_fixed_long(char *out, double v)
{
	long double a = fabsl((long double)v), p = 1.0L;
	int e10 = 0, k;

	/* a power of two has a narrower rounding interval below it: printf decides those */
	if (LDBL_MANT_DIG < 64 || frexp(v, &k) == 0.5 || frexp(v, &k) == -0.5)
		return 0;
	/* e10 = floor(log10(a)), by exact comparisons: 10^j (j <= 15) and a * 10^j (j <= 4: 53 +
	 * 10 bits) are exact in a 64-bit mantissa, 10^-j is not */
	while (e10 < 14 && a >= p * 10.0L) {
		p *= 10.0L;
		e10++;
	}
	if (a < 1.0L) {
		do {
			p *= 10.0L;
			e10--;
		} while (e10 > -4 && a * p < 1.0L);
		if (a * p < 1.0L)
			return 0;
	}
	for (int prec = 16; prec <= 17; prec++) {
		long double scale = 1.0L, sc, m, half_ulp;

		k = prec - 1 - e10; /* 1..21: 10^k exact in a long double */
		for (int i = 0; i < k; i++)
			scale *= 10.0L;
		sc = a * scale;
		/* sc < 1e17 < 2^57: sc + 0.5 is exact, and the cast truncates (ties are refused
		 * below, so rounding half up is as good as printf's rounding here) */
		m = (long double)(uint64_t)(sc + 0.5L);
		if (fabsl(fabsl(sc - m) - 0.5L) < 0.01L)
			return 0;
		if (prec == 16) {
			/* Does the 16-digit m / 10^k read back to v: within half an ulp of v? */
			half_ulp = ldexpl(1.0L, ilogb(v) - 53) * scale;
			if (fabsl(fabsl(m - sc) - half_ulp) < 0.01L * half_ulp + 0.01L)
				return 0;
			if (fabsl(m - sc) > half_ulp)
				continue;
		}
		return put_fixed(out, signbit(v), (uint64_t)m, k);
	}
	return 0;
}

char *fmt_double(char out[FMT_DOUBLE_MAX], double v)
{
	if (isnan(v))
		return strcpy(out, "NaN");
	if (isinf(v))
		return strcpy(out, v > 0 ? "+Inf" : "-Inf");
	/* Most sample values are whole numbers (bytes, counts): print those digit by digit. -0
	 * keeps its sign, as Go's formatting does. */
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		char tmp[24], *digits = format_u64(tmp + sizeof(tmp), (uint64_t)fabs(v));

		out[0] = '-';
		strcpy(out + (signbit(v) ? 1 : 0), digits);
		return out;
	}
	/*
	 * Decimals of up to 15 digits (rates, averages, 0.95): the smallest k with v == m / 10^k,
	 * m below 10^15 (k <= 19 reaches 15 digits from 1e-4 on), is exactly what "%.15g" prints
	 * below (rounding v to 15 digits lands on m / 10^k, and %g drops the trailing zeros),
	 * written out without printf's multi-precision arithmetic. m / 10^k, a division of two
	 * exact doubles, rounds as strtod reads the text,
	 * so the test is the round-trip test. Below 1e-4 %g switches to an exponent: not here.
	 */
	if (fabs(v) >= 1e-4 && fabs(v) < 1e15) {
		/* 10^k up to 10^19: exact as doubles (5^19 < 2^53) and as uint64_t */
		static const double p10[20] = { 1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9,
						 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17,
						 1e18, 1e19 };
		uint64_t u10[20];

		u10[0] = 1;
		for (int i = 1; i < 20; i++)
			u10[i] = u10[i - 1] * 10;
		double a = fabs(v);

		int k = 0;

		/*
		 * Only the most digits need a test: if v is m / 10^j for some j, it is also
		 * (m * 10^(K - j)) / 10^K at the largest K with v * 10^K < 1e15 (the same real
		 * number, so the same double, and v * 10^K rounds to exactly that mantissa: its
		 * error stays below a quarter), and two decimals of at most 15 digits never share a
		 * double, so the trailing zeros of the mantissa found at K lead to the smallest j.
		 * One division instead of one per candidate.
		 */
		while (k < 19 && a * p10[k + 1] < 1e15)
			k++;
		if (k >= 1) {
			/* below 2^50, x + 0.5 is exact: the nearest integer without a libm call (a
			 * tie is no decimal of k digits either way) */
			double m = (double)(uint64_t)(a * p10[k] + 0.5);
			uint64_t um = (uint64_t)m, frac;
			char tmp[24], *o = out, *ip;

			if (m / p10[k] != a)
				goto not_short;
			while (k > 1 && um % 10 == 0) {
				um /= 10;
				k--;
			}
			frac = um % u10[k];
			if (signbit(v))
				*o++ = '-';
			ip = format_u64(tmp + sizeof(tmp), um / u10[k]);
			o = stpcpy(o, ip);
			*o++ = '.';
			for (int d = k - 1; d >= 0; d--) {
				o[d] = (char)('0' + frac % 10);
				frac /= 10;
			}
			o[k] = '\0';
			return out;
		}
	}
not_short:
	if (fabs(v) >= 1e-4 && fabs(v) < 1e15) {
		int n = fmt_fixed_exact(out, v);

		if (n > 0 || (n = fmt_fixed_long(out, v)) > 0)
			return out;
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
