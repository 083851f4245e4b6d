#include "store/chunk.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"

/*
 * The chunk codec. The layout is in docs/chunk-format.md; in short:
 *
 *   header   version byte, uvarint n, zigzag varint first_ts, uvarint (last_ts - first_ts)
 *   times    one mode byte; a fixed interval needs nothing more, otherwise an integer sequence
 *   values   one mode byte; a constant (8 raw bytes), decimal mantissas (an integer sequence with
 *            a shared decimal exponent, a common step and a list of raw exceptions), the same
 *            plus a sequence of ulp corrections (float sums that drifted off their decimal), or
 *            Gorilla XOR
 *
 * An "integer sequence" predicts each element from the previous ones (order 0: a straight line,
 * order 1: the previous value plus a fixed step, order 2: the previous step repeated), zig-zags
 * the residuals and stores them as nothing (all zero), Rice codes or zero runs. The encoder sees
 * the whole block, prices every combination and writes the cheapest, so the decoder only
 * follows the mode bytes. All arithmetic on sequences is modulo 2^64, so any int64 input
 * round-trips and garbage input never reaches signed overflow.
 *
 * The file, in order: small helpers; writing (a scratch buffer); reading (every access
 * bounds-checked); integer sequences (prediction, residual coders, pricing); values (constant,
 * decimal mantissas with their corrections, Gorilla XOR); the public functions (encode, decode,
 * peek).
 */

#define CHUNK_VERSION 1

enum { TS_CONST = 0, TS_SEQ = 1 };
enum { VAL_CONST = 0, VAL_DECIMAL = 1, VAL_XOR = 2, VAL_DECIMAL_CORR = 3 };
enum { SEQ_ZERO = 0, SEQ_RICE = 1, SEQ_RLE = 2 };

#define SEQ_MAX_ORDER 2
/* Rice quotients from this size on are escaped to an explicit bit length: caps a garbage
 * chunk's unary run and an outlier's cost at 24 + 6 + 63 bits. */
#define RICE_QMAX 24
/* Decimal values carry at most this many digits after the point; 10^k is exact in a double. */
#define DEC_MAX_DIGITS 15
/* Mantissas stay within +-2^53 so that (double)m is exact. */
#define DEC_MAX_MANTISSA 9007199254740992.0

static const double pow10_tab[DEC_MAX_DIGITS + 1] = {
	1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
};

/* ---- small helpers ---- */

/* A double's bits and back, inline in the decoder's loops (bits_double() is a call away). */
static void store_u64(double *slot, uint64_t u)
{
	memcpy(slot, &u, sizeof(u));
}

static uint64_t load_u64(const double *slot)
{
	uint64_t u;

	memcpy(&u, slot, sizeof(u));
	return u;
}

static uint64_t zigzag(uint64_t r)
{
	return (r << 1) ^ (0 - (r >> 63));
}

static uint64_t unzigzag(uint64_t u)
{
	return (u >> 1) ^ (0 - (u & 1));
}


static unsigned bit_length(uint64_t u)
{
	return u ? 64 - (unsigned)__builtin_clzll(u) : 0;
}

static size_t uvarint_len(uint64_t u)
{
	size_t n = 1;

	while (u >= 0x80) {
		u >>= 7;
		n++;
	}
	return n;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
	while (b) {
		uint64_t t = a % b;

		a = b;
		b = t;
	}
	return a;
}

/* ---- writing: a scratch buffer that only fails if the process is out of memory ---- */

struct wr {
	struct buf *b;
	int err;           /* first error from the buffer; writing stops being useful after it */
	unsigned acc;      /* pending bits of a bit stream, MSB first */
	unsigned nacc;     /* number of pending bits (0..7) */
};

static void wr_byte(struct wr *w, uint8_t c)
{
	int err = buf_append(w->b, &c, 1);

	if (err && !w->err)
		w->err = err;
}

static void wr_uvarint(struct wr *w, uint64_t u)
{
	uint8_t tmp[10];
	size_t n = 0;
	int err;

	while (u >= 0x80) {
		tmp[n++] = (uint8_t)(u | 0x80);
		u >>= 7;
	}
	tmp[n++] = (uint8_t)u;
	err = buf_append(w->b, tmp, n);
	if (err && !w->err)
		w->err = err;
}

static void wr_raw64(struct wr *w, uint64_t u)
{
	for (int i = 0; i < 8; i++)
		wr_byte(w, (uint8_t)(u >> (8 * i)));
}

/* Append the low 'nb' (0..64) bits of 'v', most significant first. */
static void wr_bits(struct wr *w, uint64_t v, unsigned nb)
{
	while (nb) {
		unsigned take = 8 - w->nacc;

		if (take > nb)
			take = nb;
		w->acc = (w->acc << take) | (unsigned)((v >> (nb - take)) & ((1u << take) - 1));
		w->nacc += take;
		nb -= take;
		if (w->nacc == 8) {
			wr_byte(w, (uint8_t)w->acc);
			w->acc = 0;
			w->nacc = 0;
		}
	}
}

/* Pad a bit stream to the next byte boundary. */
static void wr_flush_bits(struct wr *w)
{
	if (w->nacc)
		wr_bits(w, 0, 8 - w->nacc);
}

/* ---- reading: every access is bounds-checked ---- */

struct rd {
	const uint8_t *p;
	size_t len;
	size_t pos;        /* next byte */
	size_t bitpos;     /* next bit inside a bit stream, counted from p[0] */
};

static int rd_byte(struct rd *r, uint8_t *c)
{
	if (r->pos >= r->len)
		return -EINVAL;
	*c = r->p[r->pos++];
	return 0;
}

static int rd_uvarint(struct rd *r, uint64_t *out)
{
	uint64_t u = 0;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		uint8_t c;

		if (rd_byte(r, &c))
			return -EINVAL;
		if (shift == 63 && c > 1)
			return -EINVAL; /* more than 64 bits */
		u |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = u;
			return 0;
		}
	}
	return -EINVAL;
}

static int rd_raw64(struct rd *r, uint64_t *out)
{
	uint64_t u = 0;

	if (r->len - r->pos < 8)
		return -EINVAL;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)r->p[r->pos + i] << (8 * i);
	r->pos += 8;
	*out = u;
	return 0;
}

/* Start a bit stream at the current byte. */
static void rd_bits_begin(struct rd *r)
{
	r->bitpos = r->pos * 8;
}

/* End a bit stream: continue with the byte after its last (padded) bit. */
static void rd_bits_end(struct rd *r)
{
	r->pos = (r->bitpos + 7) / 8;
}

static int rd_bits(struct rd *r, unsigned nb, uint64_t *out)
{
	uint64_t v = 0;

	if (nb > r->len * 8 - r->bitpos)
		return -EINVAL;
	while (nb) {
		unsigned off = (unsigned)(r->bitpos & 7);
		unsigned avail = 8 - off;
		unsigned take = avail < nb ? avail : nb;
		unsigned byte = r->p[r->bitpos >> 3];

		v = (v << take) | ((byte >> (avail - take)) & ((1u << take) - 1));
		r->bitpos += take;
		nb -= take;
	}
	*out = v;
	return 0;
}

static int rd_bit(struct rd *r, unsigned *bit)
{
	if (r->bitpos >= r->len * 8)
		return -EINVAL;
	*bit = (r->p[r->bitpos >> 3] >> (7 - (r->bitpos & 7))) & 1;
	r->bitpos++;
	return 0;
}

/* ---- integer sequences ---- */

/*
 * The prediction for element i given the two previous elements (x[-1] = 'base',
 * x[-2] = base - d0) — the same function on both sides, modulo 2^64.
 */
static uint64_t seq_predict(int order, uint64_t d0, uint64_t base, size_t i, uint64_t p1,
			    uint64_t p2)
{
	switch (order) {
	case 0:
		return base + (uint64_t)(i + 1) * d0;
	case 1:
		return p1 + d0;
	default:
		return p1 + (p1 - p2);
	}
}

static void seq_residuals(const uint64_t *x, size_t m, uint64_t base, int order, uint64_t d0,
			  uint64_t *u)
{
	uint64_t p1 = base, p2 = base - d0;

	for (size_t i = 0; i < m; i++) {
		u[i] = zigzag(x[i] - seq_predict(order, d0, base, i, p1, p2));
		p2 = p1;
		p1 = x[i];
	}
}

static size_t rice_bits(const uint64_t *u, size_t m, unsigned k)
{
	size_t bits = 0;

	for (size_t i = 0; i < m; i++) {
		uint64_t q = u[i] >> k;

		if (q < RICE_QMAX)
			bits += (size_t)q + 1 + k;
		else
			bits += RICE_QMAX + 6 + bit_length(u[i]) - 1;
	}
	return bits;
}

struct seq_choice {
	int order;
	uint64_t d0;
	int coding;
	unsigned k;        /* Rice parameter */
	size_t bytes;      /* encoded size, mode byte and d0 included */
};

/* Price the residuals 'u' under every coding; keep the cheapest in 'c'. */
static void seq_price(const uint64_t *u, size_t m, int order, uint64_t d0, struct seq_choice *c)
{
	uint64_t sum = 0;
	size_t nz = 0, rle = 0, gap = 0, lens[65] = { 0 }, seen = 0;
	struct seq_choice best = { order, d0, SEQ_ZERO, 0, 0 };

	for (size_t i = 0; i < m; i++) {
		if (u[i]) {
			rle += uvarint_len(gap) + uvarint_len(u[i]);
			gap = 0;
			nz++;
		} else {
			gap++;
		}
		sum = u[i] > UINT64_MAX - sum ? UINT64_MAX : sum + u[i];
		lens[bit_length(u[i])]++;
	}
	if (nz) {
		/*
		 * The best Rice parameter sits near log2 of the typical residual. The mean alone
		 * is pulled up by a single counter reset, so the median's bit length is tried too.
		 */
		unsigned kmean = bit_length(sum / m), kmed = 0;

		while (kmed < 64 && (seen += lens[kmed]) * 2 < m)
			kmed++;
		best.coding = SEQ_RLE;
		best.bytes = uvarint_len(nz) + rle;
		for (unsigned k = 0; k <= 63; k++) {
			size_t bytes;

			if (!(k + 2 >= kmean && k <= kmean + 1) && !(k + 1 >= kmed && k <= kmed + 2))
				continue;
			bytes = 1 + (rice_bits(u, m, k) + 7) / 8;
			if (bytes < best.bytes) {
				best.coding = SEQ_RICE;
				best.k = k;
				best.bytes = bytes;
			}
		}
	}
	best.bytes += 1 + uvarint_len(zigzag(d0));
	if (c->bytes == 0 || best.bytes < c->bytes)
		*c = best;
}

/*
 * Write x[0..m-1] (m >= 1), which follows 'base', as an integer sequence. 'u' is scratch for m
 * entries.
 */
static void seq_encode(struct wr *w, const uint64_t *x, size_t m, uint64_t base, uint64_t *u)
{
	struct seq_choice c = { 0 };
	uint64_t mean = (x[m - 1] - base) / m;
	size_t gap = 0, nz = 0;

	/* Signed mean of the steps: the difference may be negative for values. */
	if ((int64_t)(x[m - 1] - base) < 0)
		mean = 0 - ((base - x[m - 1]) / m);

	for (int order = 0; order <= SEQ_MAX_ORDER; order++) {
		seq_residuals(x, m, base, order, mean, u);
		seq_price(u, m, order, mean, &c);
		if (order == 1 && mean != 0) {
			/* A flat counter with bursts: a zero step leaves only the bursts. */
			seq_residuals(x, m, base, 1, 0, u);
			seq_price(u, m, 1, 0, &c);
		}
	}

	seq_residuals(x, m, base, c.order, c.d0, u);
	wr_byte(w, (uint8_t)(c.order << 4 | c.coding));
	wr_uvarint(w, zigzag(c.d0));
	switch (c.coding) {
	case SEQ_ZERO:
		break;
	case SEQ_RICE:
		wr_byte(w, (uint8_t)c.k);
		for (size_t i = 0; i < m; i++) {
			uint64_t q = u[i] >> c.k;

			if (q < RICE_QMAX) {
				wr_bits(w, ((1ull << q) - 1) << 1, (unsigned)q + 1);
				wr_bits(w, u[i], c.k);
			} else {
				unsigned len = bit_length(u[i]);

				wr_bits(w, (1ull << RICE_QMAX) - 1, RICE_QMAX);
				wr_bits(w, len - 1, 6);
				wr_bits(w, u[i], len - 1);
			}
		}
		wr_flush_bits(w);
		break;
	case SEQ_RLE:
		for (size_t i = 0; i < m; i++)
			nz += u[i] != 0;
		wr_uvarint(w, nz);
		for (size_t i = 0; i < m; i++) {
			if (!u[i]) {
				gap++;
				continue;
			}
			wr_uvarint(w, gap);
			wr_uvarint(w, u[i]);
			gap = 0;
		}
		break;
	}
}

/* Streaming decoder for one integer sequence of m elements. */
struct seq_dec {
	struct rd *r;
	int order, coding;
	unsigned k;
	uint64_t d0, base, p1, p2;
	size_t i, m;
	uint64_t nz_left, gap_left;
};

static int seq_dec_begin(struct seq_dec *s, struct rd *r, size_t m, uint64_t base)
{
	uint8_t mode, k;
	uint64_t d0z;

	if (rd_byte(r, &mode) || rd_uvarint(r, &d0z))
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->r = r;
	s->order = mode >> 4;
	s->coding = mode & 0x0f;
	s->d0 = unzigzag(d0z);
	s->base = base;
	s->p1 = base;
	s->p2 = base - s->d0;
	s->m = m;
	if (s->order > SEQ_MAX_ORDER)
		return -EINVAL;
	switch (s->coding) {
	case SEQ_ZERO:
		return 0;
	case SEQ_RICE:
		if (rd_byte(r, &k) || k > 63)
			return -EINVAL;
		s->k = k;
		rd_bits_begin(r);
		return 0;
	case SEQ_RLE:
		if (rd_uvarint(r, &s->nz_left) || s->nz_left > m)
			return -EINVAL;
		if (s->nz_left && (rd_uvarint(r, &s->gap_left) || s->gap_left >= m))
			return -EINVAL;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * The 64 bits of the stream from the current bit on, when 8 bytes from the current byte lie
 * inside the chunk (at least 57 of them are the stream's then); false near the end, where the
 * bit-by-bit reader takes over.
 */
static inline bool rd_peek64(const struct rd *r, uint64_t *w)
{
	size_t byte = r->bitpos >> 3;
	uint64_t v;

	if (byte + 8 > r->len)
		return false;
	memcpy(&v, r->p + byte, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	v = __builtin_bswap64(v); /* the stream is most significant bit first */
#endif
	*w = v << (r->bitpos & 7);
	return true;
}

static int seq_dec_residual(struct seq_dec *s, uint64_t *u)
{
	uint64_t q = 0, low, w;
	unsigned bit = 1;

	switch (s->coding) {
	case SEQ_RICE:
		/*
		 * The common case in one step: the unary quotient's ones counted at once, then the
		 * k low bits, when all of it lies in the next 57 bits. Exactly what the loop below
		 * reads, bit for bit.
		 */
		if (rd_peek64(s->r, &w) && ~w) {
			unsigned ones = (unsigned)__builtin_clzll(~w);

			if (ones < RICE_QMAX && ones + 1 + s->k <= 57) {
				low = s->k ? (w << (ones + 1)) >> (64 - s->k) : 0;
				*u = ((uint64_t)ones << s->k) | low;
				s->r->bitpos += ones + 1 + s->k;
				return 0;
			}
		}
		while (q < RICE_QMAX) {
			if (rd_bit(s->r, &bit))
				return -EINVAL;
			if (!bit)
				break;
			q++;
		}
		if (!bit) {
			if (rd_bits(s->r, s->k, &low))
				return -EINVAL;
			*u = (q << s->k) | low;
			return 0;
		}
		if (rd_bits(s->r, 6, &q) || rd_bits(s->r, (unsigned)q, &low))
			return -EINVAL;
		*u = (1ull << q) | low;
		return 0;
	case SEQ_RLE:
		if (s->gap_left) {
			s->gap_left--;
			*u = 0;
			return 0;
		}
		if (!s->nz_left) {
			*u = 0;
			return 0;
		}
		if (rd_uvarint(s->r, u) || !*u)
			return -EINVAL;
		if (--s->nz_left && (rd_uvarint(s->r, &s->gap_left) || s->gap_left >= s->m))
			return -EINVAL;
		return 0;
	default:
		*u = 0;
		return 0;
	}
}

static int seq_dec_next(struct seq_dec *s, uint64_t *x)
{
	uint64_t u;

	if (s->i >= s->m || seq_dec_residual(s, &u))
		return -EINVAL;
	*x = seq_predict(s->order, s->d0, s->base, s->i, s->p1, s->p2) + unzigzag(u);
	s->p2 = s->p1;
	s->p1 = *x;
	s->i++;
	return 0;
}

/*
 * Several Rice residuals per lookup, for order-1 sequences with a small k (counters at a steady
 * rate: histogram buckets, log and request counters): the next RICE_TAB_BITS bits of the stream
 * index a table that says how many whole residuals they begin with (up to 4), how many bits
 * those take, each one's value (zigzag undone) and their sum. One load replaces up to four rounds
 * of "count the ones, take k bits, shift": those rounds are one long dependency chain through
 * the bit position, which bounded the clz loop below at about 7 cycles a residual.
 *
 * An entry, in 64 bits: bytes 0-3 the residuals r0..r3 (int8; |r| <= 80 at k = 4), bits 32-35
 * the bits used, bits 36-39 the count (0: the first residual does not fit, the clz loop reads
 * it), bits 48-63 the sum of the residuals (int16). Built once, at the first decode that
 * wants them (pthread_once: no caller sets anything up, and a process that never decodes such a
 * chunk — most CLI commands — never pays the ~0.2 ms).
 */
#define RICE_TAB_BITS 10
#define RICE_TAB_MAXK 4

static uint64_t rice_tab[RICE_TAB_MAXK + 1][1u << RICE_TAB_BITS];
/* Test hook (chunk_test_rice_tables()): false decodes with the clz loop alone. */
static bool rice_tab_on = true;

static pthread_once_t rice_tab_once = PTHREAD_ONCE_INIT;

static void rice_tab_init(void)
{
	for (unsigned k = 0; k <= RICE_TAB_MAXK; k++) {
		for (unsigned idx = 0; idx < (1u << RICE_TAB_BITS); idx++) {
			unsigned pos = 0, c = 0;
			int sum = 0;
			uint64_t e = 0;

			while (c < 4) {
				unsigned q = 0;
				uint64_t u;
				int r;

				/* bit b of the window is (idx >> (RICE_TAB_BITS - 1 - b)) & 1 */
				while (pos + q < RICE_TAB_BITS &&
				       ((idx >> (RICE_TAB_BITS - 1 - pos - q)) & 1))
					q++;
				if (pos + q + 1 + k > RICE_TAB_BITS)
					break;
				u = (uint64_t)q << k;
				if (k)
					u |= (idx >> (RICE_TAB_BITS - pos - q - 1 - k)) &
					     ((1u << k) - 1);
				r = (int)(int64_t)unzigzag(u);
				e |= (uint64_t)(uint8_t)(int8_t)r << (8 * c);
				sum += r;
				pos += q + 1 + k;
				c++;
			}
			e |= (uint64_t)pos << 32 | (uint64_t)c << 36 |
			     (uint64_t)(uint16_t)(int16_t)sum << 48;
			rice_tab[k][idx] = e;
		}
	}
}

void chunk_test_rice_tables(bool on)
{
	rice_tab_on = on;
}

/*
 * The Rice fast path of seq_dec_many() for one prediction order (a constant, so each order gets
 * its own loop): the state in locals, the unary quotient's ones counted at once, the k low bits
 * taken with two shifts (no branch for k = 0). Stops at the first residual that is not in the
 * common case (an escape, a run of 24 ones, the end of the chunk), which the
 * caller then reads bit by bit. Returns how many elements it wrote.
 */
/*
 * What rice_run() writes for element value v: v itself into x (OUT_RAW), or a decimal body's
 * value into vd, (double)(int64_t)(m0 + g * v), divided by 10^k when k > 0 (OUT_DEC,
 * OUT_DEC_K): dec_decode()'s conversion done as each mantissa comes out, without a pass over an
 * intermediate array.
 */
enum { OUT_RAW, OUT_DEC, OUT_DEC_K };

struct seq_out {
	uint64_t *x;
	double *vd;
	uint64_t m0, g;
	double p10;
};

static inline __attribute__((always_inline)) void
seq_put(const struct seq_out *o, const int out, size_t j, uint64_t v)
{
	if (out == OUT_RAW)
		o->x[j] = v;
	else if (out == OUT_DEC)
		o->vd[j] = (double)(int64_t)(o->m0 + o->g * v);
	else
		o->vd[j] = (double)(int64_t)(o->m0 + o->g * v) / o->p10;
}

static inline __attribute__((always_inline)) size_t
rice_run(struct seq_dec *s, const struct seq_out *o, size_t cnt, const int order, const int out)
{
	const uint8_t *p = s->r->p;
	size_t bitpos = s->r->bitpos, len = s->r->len, i = s->i, j = 0;
	uint64_t d0 = s->d0, base = s->base, p1 = s->p1, p2 = s->p2;
	unsigned k = s->k;
	const uint64_t *tab = NULL;

	if (order == 1 && k <= RICE_TAB_MAXK && rice_tab_on) {
		pthread_once(&rice_tab_once, rice_tab_init);
		tab = rice_tab[k];
	}

	/*
	 * w holds the stream's next 'avail' bits, most significant first (the bits below them are
	 * zeros, not stream): residuals are taken from it by shifting, and it is refilled from the
	 * chunk only when the next residual may not fit, so a run of small residuals costs no load
	 * each.
	 */
	while (j < cnt) {
		size_t byte = bitpos >> 3;
		uint64_t w;
		unsigned avail;
		bool fresh;

		if (byte >= len)
			break;
		if (byte + 8 <= len) {
			memcpy(&w, p + byte, 8);
			avail = 64 - (unsigned)(bitpos & 7);
		} else {
			/* The chunk's last bytes, zeros after them: 'avail' stops at its end, so
			 * the zeros are never taken for stream (a chunk's last residuals, ~8 % of
			 * them, would otherwise go bit by bit). */
			uint8_t tail[8] = { 0 };

			memcpy(tail, p + byte, len - byte);
			memcpy(&w, tail, 8);
			avail = (unsigned)(len - byte) * 8 - (unsigned)(bitpos & 7);
		}
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		w = __builtin_bswap64(w); /* the stream is most significant bit first */
#endif
		w <<= bitpos & 7;
		fresh = true;
		while (j < cnt) {
			uint64_t u, v;
			unsigned ones, used;

			/* Room for four: an entry's four values are written whatever its count. */
			if (tab && avail >= RICE_TAB_BITS && cnt - j >= 4) {
				uint64_t e = tab[w >> (64 - RICE_TAB_BITS)];
				unsigned nb = (unsigned)(e >> 32) & 15, c = (unsigned)(e >> 36) & 15;

				if (c) {
					uint64_t v0 = p1 + d0 + (uint64_t)(int64_t)(int8_t)e;
					uint64_t v1 = v0 + d0 + (uint64_t)(int64_t)(int8_t)(e >> 8);
					uint64_t v2 = v1 + d0 + (uint64_t)(int64_t)(int8_t)(e >> 16);

					uint64_t v3 = v2 + d0 + (uint64_t)(int64_t)(int8_t)(e >> 24);

					if (out != OUT_DEC_K) {
						/* cheap: all four, whatever the count */
						seq_put(o, out, j, v0);
						seq_put(o, out, j + 1, v1);
						seq_put(o, out, j + 2, v2);
						seq_put(o, out, j + 3, v3);
					} else {
						/* a division each: only the values decoded */
						seq_put(o, out, j, v0);
						if (c > 1)
							seq_put(o, out, j + 1, v1);
						if (c > 2)
							seq_put(o, out, j + 2, v2);
						if (c > 3)
							seq_put(o, out, j + 3, v3);
					}
					p1 += (uint64_t)c * d0 + (uint64_t)(int64_t)(int16_t)(e >> 48);
					w <<= nb;
					avail -= nb;
					bitpos += nb;
					fresh = false;
					i += c;
					j += c;
					continue;
				}
			}
			if (!~w)
				break;
			ones = (unsigned)__builtin_clzll(~w);
			used = ones + 1 + k;
			/* On fresh bits (avail >= 57) exactly the old one-residual fast path's test */
			if (ones >= RICE_QMAX || used > avail || used > 57)
				break;
			u = ((uint64_t)ones << k) | (((w << (ones + 1)) >> 1) >> (63 - k));
			w <<= used;
			avail -= used;
			bitpos += used;
			fresh = false;
			if (order == 0)
				v = base + (uint64_t)(i + 1) * d0;
			else if (order == 1)
				v = p1 + d0;
			else
				v = p1 + (p1 - p2);
			v += unzigzag(u);
			p2 = p1;
			p1 = v;
			i++;
			seq_put(o, out, j++, v);
		}
		/* Done, or a residual that does not fit even fresh bits: the slow path's. Else
		 * refill and go on. */
		if (j == cnt || fresh)
			break;
	}
	/* The table path (order 1 only) leaves p2 behind: order 1 never reads it. */
	s->r->bitpos = bitpos;
	s->p1 = p1;
	s->p2 = p2;
	s->i = i;
	return j;
}

/* cnt elements whose residuals are all zero (a ZERO sequence, an RLE run): the predictions. */
static void zero_run(struct seq_dec *s, uint64_t *x, size_t cnt)
{
	uint64_t p1 = s->p1, p2 = s->p2, d0 = s->d0, base = s->base, v;
	size_t i = s->i;

	for (size_t j = 0; j < cnt; j++, i++) {
		if (s->order == 0)
			v = base + (uint64_t)(i + 1) * d0;
		else if (s->order == 1)
			v = p1 + d0;
		else
			v = p1 + (p1 - p2);
		p2 = p1;
		p1 = v;
		x[j] = v;
	}
	s->p1 = p1;
	s->p2 = p2;
	s->i = i;
}

/*
 * The next cnt elements into x: seq_dec_next()'s work in runs. Rice residuals go through
 * rice_run() (a chunk's values are mostly one long run of those), the zeros of ZERO and RLE
 * sequences through zero_run(); anything else (an escape, the end of a stream, an RLE value)
 * one at a time.
 */
static int seq_dec_many(struct seq_dec *s, uint64_t *x, size_t cnt)
{
	struct seq_out o = { 0 };
	size_t j = 0, z;

	if (cnt > s->m - s->i)
		return -EINVAL;
	while (j < cnt) {
		switch (s->coding) {
		case SEQ_RICE:
			o.x = x + j;
			switch (s->order) {
			case 0: j += rice_run(s, &o, cnt - j, 0, OUT_RAW); break;
			case 1: j += rice_run(s, &o, cnt - j, 1, OUT_RAW); break;
			default: j += rice_run(s, &o, cnt - j, 2, OUT_RAW); break;
			}
			break;
		case SEQ_RLE:
			/* gap_left zeros before the next nonzero residual; none left: all zero */
			z = s->nz_left ? s->gap_left : cnt - j;
			z = z < cnt - j ? z : cnt - j;
			zero_run(s, x + j, z);
			if (s->nz_left)
				s->gap_left -= z;
			j += z;
			break;
		default:
			zero_run(s, x + j, cnt - j);
			j = cnt;
			break;
		}
		if (j == cnt)
			break;
		if (seq_dec_next(s, &x[j]))
			return -EINVAL;
		j++;
	}
	return 0;
}

/* After the last element: everything announced was consumed; continue after the sequence. */
static int seq_dec_end(struct seq_dec *s)
{
	if (s->coding == SEQ_RICE)
		rd_bits_end(s->r);
	if (s->nz_left || s->gap_left)
		return -EINVAL;
	return 0;
}

/*
 * The next cnt elements y of a decimal body's mantissa sequence, as the values they stand for
 * (vals[j] = (double)(int64_t)(m0 + g * y), / p10 when k > 0): an order-1 Rice sequence (a
 * counter) converts inside rice_run(), anything else goes through seq_dec_many() 256 at a time.
 */
static int seq_dec_many_dec(struct seq_dec *s, double *vals, size_t cnt, uint64_t m0, uint64_t g,
			    unsigned k, double p10)
{
	struct seq_out o = { .vd = vals, .m0 = m0, .g = g, .p10 = p10 };
	const int out = k ? OUT_DEC_K : OUT_DEC;
	size_t j = 0;
	uint64_t y;

	if (cnt > s->m - s->i)
		return -EINVAL;
	if (s->coding != SEQ_RICE || s->order != 1) {
		for (size_t i = 0; i < cnt;) {
			uint64_t ys[256];
			size_t n = cnt - i < 256 ? cnt - i : 256;

			if (seq_dec_many(s, ys, n))
				return -EINVAL;
			for (size_t t = 0; t < n; t++)
				seq_put(&o, out, i + t, ys[t]);
			i += n;
		}
		return 0;
	}
	while (j < cnt) {
		struct seq_out at = o;

		at.vd = vals + j;
		j += k ? rice_run(s, &at, cnt - j, 1, OUT_DEC_K) : rice_run(s, &at, cnt - j, 1, OUT_DEC);
		if (j == cnt)
			break;
		/* an escape, or the end of the stream: one residual the careful way */
		if (seq_dec_next(s, &y))
			return -EINVAL;
		seq_put(&o, out, j++, y);
	}
	return 0;
}

/* ---- values ---- */

/* The double that mantissa m with k digits after the point stands for: the same expression on
 * both sides. Division by an exact power of ten is correctly rounded. */
static double dec_value(int64_t m, unsigned k)
{
	return k ? (double)m / pow10_tab[k] : (double)m;
}

/* Is v exactly m / 10^k for some |m| <= 2^53? */
static bool dec_try(double v, unsigned k, int64_t *m)
{
	double s = v * pow10_tab[k];

	if (!(fabs(s) <= DEC_MAX_MANTISSA))
		return false; /* also NaN */
	*m = llround(s);
	return double_bits(dec_value(*m, k)) == double_bits(v);
}

static void xor_encode(struct wr *w, const double *vals, size_t n)
{
	uint64_t prev = double_bits(vals[0]);
	unsigned plead = 65, ptrail = 0; /* 65: no window yet */

	wr_byte(w, VAL_XOR);
	wr_raw64(w, prev);
	for (size_t i = 1; i < n; i++) {
		uint64_t cur = double_bits(vals[i]), x = cur ^ prev;
		unsigned lead, trail;

		prev = cur;
		if (!x) {
			wr_bits(w, 0, 1);
			continue;
		}
		lead = (unsigned)__builtin_clzll(x);
		trail = (unsigned)__builtin_ctzll(x);
		if (plead <= 64 && lead >= plead && trail >= ptrail) {
			wr_bits(w, 2, 2);
			wr_bits(w, x >> ptrail, 64 - plead - ptrail);
			continue;
		}
		wr_bits(w, 3, 2);
		wr_bits(w, lead, 6);
		wr_bits(w, 63 - lead - trail, 6);
		wr_bits(w, x >> trail, 64 - lead - trail);
		plead = lead;
		ptrail = trail;
	}
	wr_flush_bits(w);
}

static int xor_decode(struct rd *r, double *vals, size_t n)
{
	uint64_t prev, x;
	unsigned plead = 65, ptrail = 0, bit;

	if (rd_raw64(r, &prev))
		return -EINVAL;
	store_u64(&vals[0], prev);
	rd_bits_begin(r);
	for (size_t i = 1; i < n; i++) {
		if (rd_bit(r, &bit))
			return -EINVAL;
		if (bit) {
			if (rd_bit(r, &bit))
				return -EINVAL;
			if (!bit) {
				if (plead > 64 || rd_bits(r, 64 - plead - ptrail, &x))
					return -EINVAL;
				prev ^= x << ptrail;
			} else {
				uint64_t lead, sig;

				if (rd_bits(r, 6, &lead) || rd_bits(r, 6, &sig))
					return -EINVAL;
				sig++;
				if (lead + sig > 64 || rd_bits(r, (unsigned)sig, &x))
					return -EINVAL;
				plead = (unsigned)lead;
				ptrail = (unsigned)(64 - lead - sig);
				prev ^= x << ptrail;
			}
		}
		store_u64(&vals[i], prev);
	}
	rd_bits_end(r);
	return 0;
}

/*
 * The ulp distance that turns the decimal m / 10^k into v: bit patterns of doubles of one sign
 * are ordered like integers, so a float sum that drifted a few ulps from its decimal value costs
 * a small correction instead of a full XOR.
 */
static uint64_t dec_correction(double v, int64_t m, unsigned k)
{
	return double_bits(v) - double_bits(dec_value(m, k));
}

/*
 * Encode 'vals' as decimal mantissas with k digits; values that are not (NaN, -0, too many
 * digits) go to the exception list. With 'corr', every finite value within range is kept as the
 * nearest mantissa plus a correction sequence (VAL_DECIMAL_CORR). Returns false if no value fits
 * at this k. 'mk' holds each value's fewest digits (-1: none); scratch arrays hold n entries.
 */
static bool dec_encode(struct wr *w, const double *vals, const signed char *mk, size_t n,
		       unsigned k, bool corr, uint64_t *mant, uint64_t *cor, bool *exc,
		       uint64_t *u)
{
	size_t first = n, nexc = 0;
	uint64_t g = 0, m0;
	size_t last_exc;

	for (size_t i = 0; i < n; i++) {
		int64_t m = 0;

		if (corr) {
			double sc = vals[i] * pow10_tab[k];

			exc[i] = !(fabs(sc) <= DEC_MAX_MANTISSA);
			if (!exc[i]) {
				m = llround(sc);
				cor[i] = dec_correction(vals[i], m, k);
			}
		} else {
			exc[i] = !(mk[i] >= 0 && (unsigned)mk[i] <= k && dec_try(vals[i], k, &m));
		}
		if (exc[i]) {
			nexc++;
			continue;
		}
		mant[i] = (uint64_t)m;
		if (first == n)
			first = i;
	}
	if (first == n)
		return false;
	/* Exceptions repeat their neighbour's mantissa so they cost nothing in the sequence. */
	for (size_t i = 0; i < n; i++) {
		if (exc[i]) {
			mant[i] = i < first ? mant[first] : mant[i - 1];
			if (corr)
				cor[i] = i < first ? cor[first] : cor[i - 1];
		}
	}
	m0 = mant[0];
	for (size_t i = 1; i < n; i++) {
		uint64_t d = mant[i] - mant[i - 1];

		g = gcd_u64(g, (int64_t)d < 0 ? 0 - d : d);
	}
	if (!g)
		g = 1;

	wr_byte(w, corr ? VAL_DECIMAL_CORR : VAL_DECIMAL);
	wr_byte(w, (uint8_t)k);
	wr_uvarint(w, zigzag(m0));
	wr_uvarint(w, g);
	wr_uvarint(w, nexc);
	last_exc = 0;
	for (size_t i = 0, seen = 0; i < n; i++) {
		if (!exc[i])
			continue;
		wr_uvarint(w, seen ? i - last_exc - 1 : i);
		wr_raw64(w, double_bits(vals[i]));
		last_exc = i;
		seen++;
	}
	if (n > 1) {
		/* y[i] = (m[i] - m0) / g, exact by construction; y[0] = 0 is implied. */
		for (size_t i = 0; i < n; i++)
			mant[i] = (uint64_t)(((int64_t)(mant[i] - m0)) / (int64_t)g);
		seq_encode(w, mant + 1, n - 1, 0, u);
	}
	if (corr)
		seq_encode(w, cor, n, 0, u);
	return true;
}

/* The exceptions' raw bits over values [0, m); the list was validated by dec_decode. */
static void dec_exceptions(double *vals, size_t m, struct rd *exc, uint64_t nexc)
{
	uint64_t gap = 0, bits = 0;

	for (uint64_t j = 0, pos = 0; j < nexc; j++) {
		rd_uvarint(exc, &gap);
		rd_raw64(exc, &bits);
		pos += gap;
		if (pos >= m)
			break;
		store_u64(&vals[pos], bits);
		pos++;
	}
}

/*
 * Without corrections, one pass: mantissas to doubles, then the exceptions. With them, two
 * passes: the mantissas first (kept as integers in the value slots), then, once the mantissa
 * sequence's end is known, the corrections, the conversion to doubles and the exceptions.
 * Only values [0, m) are produced (m <= n): without corrections the mantissa sequence stops
 * there; with them it must be read to its end to reach the corrections.
 */
static int dec_decode(struct rd *r, double *vals, size_t n, size_t m, bool corr)
{
	uint8_t k;
	uint64_t m0z, g, nexc, gap = 0, bits = 0, c = 0;
	size_t nm = corr ? n : m;
	struct rd exc;
	struct seq_dec s;

	if (rd_byte(r, &k) || k > DEC_MAX_DIGITS || rd_uvarint(r, &m0z) || rd_uvarint(r, &g) ||
	    !g || rd_uvarint(r, &nexc) || nexc > n)
		return -EINVAL;
	/* Walk the exception list once to find where the sequence starts; replay it below. */
	exc = *r;
	for (uint64_t j = 0, pos = 0; j < nexc; j++) {
		if (rd_uvarint(r, &gap) || gap >= n - pos || rd_raw64(r, &bits))
			return -EINVAL;
		pos += gap + 1;
	}
	if (n > 1 && seq_dec_begin(&s, r, n - 1, 0))
		return -EINVAL;
	if (!corr) {
		/* One pass: each run of mantissas straight to doubles (the divisor hoisted). */
		double p10 = pow10_tab[k];

		if (m)
			vals[0] = dec_value((int64_t)unzigzag(m0z), k);
		if (m > 1 && seq_dec_many_dec(&s, vals + 1, m - 1, unzigzag(m0z), g, k, p10))
			return -EINVAL;
		if (m == n && n > 1 && seq_dec_end(&s))
			return -EINVAL;
		dec_exceptions(vals, m, &exc, nexc);
		return 0;
	}
	if (nm)
		store_u64(&vals[0], unzigzag(m0z));
	for (size_t i = 1; i < nm;) {
		uint64_t ys[256];
		size_t cnt = nm - i < 256 ? nm - i : 256;

		if (seq_dec_many(&s, ys, cnt))
			return -EINVAL;
		for (size_t j = 0; j < cnt; j++)
			store_u64(&vals[i + j], unzigzag(m0z) + g * ys[j]);
		i += cnt;
	}
	if (n > 1 && seq_dec_end(&s))
		return -EINVAL;
	if (corr && seq_dec_begin(&s, r, n, 0))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (corr && seq_dec_next(&s, &c))
			return -EINVAL;
		if (i >= m)
			continue; /* the corrections are read to the end; the values stop at m */
		vals[i] = dec_value((int64_t)load_u64(&vals[i]), k);
		if (c)
			store_u64(&vals[i], load_u64(&vals[i]) + c);
	}
	if (corr && seq_dec_end(&s))
		return -EINVAL;
	dec_exceptions(vals, m, &exc, nexc);
	return 0;
}

/*
 * The digit count for the correction mode: the fewest digits at which at least 12 of 16 values
 * spread over the block sit within 2^20 ulps of their decimal (the others may be resets, -0 or
 * specials). Float sums of millisecond durations land on 3; values with no decimal structure
 * land nowhere (-1).
 */
static int dec_corr_digits(const double *vals, size_t n)
{
	for (unsigned k = 0; k <= DEC_MAX_DIGITS; k++) {
		size_t close = 0;

		for (size_t j = 0; j < 16; j++) {
			double v = vals[j * (n - 1) / 15], sc = v * pow10_tab[k];

			if (fabs(sc) <= DEC_MAX_MANTISSA &&
			    zigzag(dec_correction(v, llround(sc), k)) < (1u << 21))
				close++;
		}
		if (close >= 12)
			return (int)k;
	}
	return -1;
}

/* Fewest digits after the point for each value; -1 when none up to DEC_MAX_DIGITS. */
static void dec_digits(const double *vals, size_t n, signed char *mk, size_t hist[])
{
	for (size_t i = 0; i < n; i++) {
		int64_t m;

		mk[i] = -1;
		for (unsigned k = 0; k <= DEC_MAX_DIGITS; k++) {
			if (dec_try(vals[i], k, &m)) {
				mk[i] = (signed char)k;
				hist[k]++;
				break;
			}
		}
	}
}

static int values_encode(struct wr *w, const double *vals, size_t n)
{
	struct buf best, tmp;
	struct wr bw, tw;
	size_t hist[DEC_MAX_DIGITS + 1] = { 0 };
	unsigned cand[3];
	size_t ncand = 0, covered = 0, total = 0;
	signed char *mk;
	uint64_t *mant, *cor, *u;
	bool *exc;
	bool constant = true;
	int err;

	for (size_t i = 1; i < n && constant; i++)
		constant = double_bits(vals[i]) == double_bits(vals[0]);
	buf_init(&best, 0);
	buf_init(&tmp, 0);
	bw = (struct wr){ .b = &best };
	/* A constant is 8 raw bytes, unless a short decimal (a zero) is cheaper still. */
	if (constant) {
		wr_byte(&bw, VAL_CONST);
		wr_raw64(&bw, double_bits(vals[0]));
	} else {
		xor_encode(&bw, vals, n);
	}

	mk = xmalloc(n * sizeof(*mk));
	mant = xmalloc(n * sizeof(*mant));
	cor = xmalloc(n * sizeof(*cor));
	u = xmalloc(n * sizeof(*u));
	exc = xmalloc(n * sizeof(*exc));
	dec_digits(vals, n, mk, hist);
	for (unsigned k = 0; k <= DEC_MAX_DIGITS; k++)
		total += hist[k];
	/*
	 * Candidate digit counts: the fewest that cover 90 % and 99 % of the decimal values (the
	 * rest become exceptions) and the most any value needs. Usually all three are the same.
	 */
	for (unsigned k = 0; k <= DEC_MAX_DIGITS && total; k++) {
		size_t before = covered;

		covered += hist[k];
		if (!hist[k])
			continue;
		if ((before * 10 < total * 9 && covered * 10 >= total * 9) ||
		    (before * 100 < total * 99 && covered * 100 >= total * 99) || covered == total)
			cand[ncand++] = k;
		if (covered == total)
			break;
	}
	for (size_t c = 0; c <= ncand; c++) {
		int kc = c < ncand ? (int)cand[c] : -1;

		/* Last, when some values are not short decimals: mantissas with corrections. */
		if (c == ncand && total < n)
			kc = dec_corr_digits(vals, n);
		if (kc < 0)
			continue;
		buf_reset(&tmp);
		tw = (struct wr){ .b = &tmp };
		if (!dec_encode(&tw, vals, mk, n, (unsigned)kc, c == ncand, mant, cor, exc, u) ||
		    tw.err)
			continue;
		if (tmp.len < best.len) {
			struct buf t = best;

			best = tmp;
			tmp = t;
		}
	}
	free(mk);
	free(mant);
	free(cor);
	free(u);
	free(exc);

	err = bw.err;
	if (!err) {
		err = buf_append(w->b, best.data, best.len);
		if (err && !w->err)
			w->err = err;
	}
	buf_release(&best);
	buf_release(&tmp);
	return w->err;
}

/* ---- public ---- */

static int header_decode(struct rd *r, size_t *n, int64_t *first, uint64_t *span)
{
	uint8_t version;
	uint64_t cnt, fz;

	if (rd_byte(r, &version) || version != CHUNK_VERSION || rd_uvarint(r, &cnt) || cnt < 1 ||
	    cnt > CHUNK_MAX_SAMPLES || rd_uvarint(r, &fz) || rd_uvarint(r, span))
		return -EINVAL;
	*n = (size_t)cnt;
	*first = (int64_t)unzigzag(fz);
	if (cnt == 1 ? *span != 0 : *span < cnt - 1)
		return -EINVAL;
	/* first + span must not pass INT64_MAX. */
	if (*span > (uint64_t)INT64_MAX - (uint64_t)*first)
		return -EINVAL;
	return 0;
}

int chunk_encode(const int64_t *ts, const double *vals, size_t n, struct buf *out)
{
	struct buf scratch;
	struct wr w;
	uint64_t span, step;
	bool regular = true;
	int err;

	if (!ts || !vals || !out || n < 1 || n > CHUNK_MAX_SAMPLES)
		return -EINVAL;
	for (size_t i = 1; i < n; i++) {
		if (ts[i] <= ts[i - 1])
			return -EINVAL;
	}
	span = (uint64_t)ts[n - 1] - (uint64_t)ts[0];
	step = n > 1 ? span / (n - 1) : 0;
	for (size_t i = 1; i < n && regular; i++)
		regular = (uint64_t)ts[i] - (uint64_t)ts[i - 1] == step;

	buf_init(&scratch, 0);
	w = (struct wr){ .b = &scratch };
	wr_byte(&w, CHUNK_VERSION);
	wr_uvarint(&w, n);
	wr_uvarint(&w, zigzag((uint64_t)ts[0]));
	wr_uvarint(&w, span);
	if (regular) {
		wr_byte(&w, TS_CONST);
	} else {
		uint64_t *u = xmalloc(n * sizeof(*u));

		wr_byte(&w, TS_SEQ);
		/* int64_t and uint64_t share a representation; the sequence works modulo 2^64. */
		seq_encode(&w, (const uint64_t *)(const void *)(ts + 1), n - 1, (uint64_t)ts[0], u);
		free(u);
	}
	err = values_encode(&w, vals, n);
	if (!err)
		err = buf_append(out, scratch.data, scratch.len);
	buf_release(&scratch);
	return err;
}

int chunk_peek(const uint8_t *data, size_t len, size_t *n, int64_t *first_ts, int64_t *last_ts)
{
	struct rd r = { .p = data, .len = data ? len : 0 };
	size_t cnt;
	int64_t first;
	uint64_t span;

	if (header_decode(&r, &cnt, &first, &span))
		return -EINVAL;
	if (n)
		*n = cnt;
	if (first_ts)
		*first_ts = first;
	if (last_ts)
		*last_ts = (int64_t)((uint64_t)first + span);
	return 0;
}

static int times_decode(struct rd *r, int64_t *ts, size_t n, int64_t first, uint64_t span)
{
	uint8_t mode;
	struct seq_dec s;

	if (rd_byte(r, &mode))
		return -EINVAL;
	ts[0] = first;
	if (mode == TS_CONST) {
		uint64_t step = n > 1 ? span / (n - 1) : 0;

		if (n > 1 && span % (n - 1))
			return -EINVAL;
		/*
		 * Two timestamps per 16-byte store (the loop is bound by stores: every sample of
		 * a regular series comes through here). Modulo 2^64 as the sequence arithmetic:
		 * v holds first + i * step and first + (i + 1) * step.
		 */
		{
			typedef uint64_t u64x2 __attribute__((vector_size(16)));
			u64x2 v = { (uint64_t)first + step, (uint64_t)first + 2 * step };
			u64x2 inc = { 2 * step, 2 * step };
			size_t i = 1;

			for (; i + 1 < n; i += 2) {
				memcpy(&ts[i], &v, sizeof(v));
				v += inc;
			}
			if (i < n)
				ts[i] = (int64_t)((uint64_t)first + i * step);
		}
		return 0;
	}
	if (mode != TS_SEQ || n < 2 || seq_dec_begin(&s, r, n - 1, (uint64_t)first))
		return -EINVAL;
	/* int64_t and uint64_t may alias; the sequence works modulo 2^64. */
	if (seq_dec_many(&s, (uint64_t *)(void *)(ts + 1), n - 1))
		return -EINVAL;
	for (size_t i = 1; i < n; i++)
		if (ts[i] <= ts[i - 1])
			return -EINVAL;
	if (seq_dec_end(&s) || (uint64_t)ts[n - 1] - (uint64_t)first != span)
		return -EINVAL;
	return 0;
}

/* A chunk's header, its timestamps into ts[] (cap of them) and the value mode byte: 0, -EINVAL
 * for a damaged chunk, -ENOSPC for more samples than cap. */
static int times_and_mode(struct rd *r, int64_t *ts, size_t cap, size_t *cnt, int64_t *first,
			  uint64_t *span, uint8_t *mode)
{
	if (header_decode(r, cnt, first, span))
		return -EINVAL;
	if (*cnt > cap)
		return -ENOSPC;
	if (times_decode(r, ts, *cnt, *first, *span) || rd_byte(r, mode))
		return -EINVAL;
	return 0;
}

/*
 * Decode the samples at or before 'to_ts' (all of them with INT64_MAX): the timestamps all (a
 * sequence must be read to its end to find the values), the values only as far as needed. Only
 * a chunk decoded to its end is checked for trailing bytes.
 */
static int decode(const uint8_t *data, size_t len, int64_t *ts, double *vals, size_t cap,
		  int64_t to_ts, size_t *n)
{
	struct rd r = { .p = data, .len = data ? len : 0 };
	size_t cnt, m;
	int64_t first;
	uint64_t span, bits;
	uint8_t mode;
	int err;

	if (!ts || !vals || !n)
		return -EINVAL;
	err = times_and_mode(&r, ts, cap, &cnt, &first, &span, &mode);
	if (err)
		return err;
	m = cnt;
	if ((int64_t)((uint64_t)first + span) > to_ts) { /* the last timestamp, as times_decode */
		size_t lo = 0, hi = cnt; /* the first index past to_ts */

		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (ts[mid] <= to_ts)
				lo = mid + 1;
			else
				hi = mid;
		}
		m = lo;
	}
	switch (mode) {
	case VAL_CONST:
		if (rd_raw64(&r, &bits))
			return -EINVAL;
		for (size_t i = 0; i < m; i++)
			store_u64(&vals[i], bits);
		err = 0;
		break;
	case VAL_DECIMAL:
	case VAL_DECIMAL_CORR:
		err = dec_decode(&r, vals, cnt, m, mode == VAL_DECIMAL_CORR);
		break;
	case VAL_XOR:
		err = m ? xor_decode(&r, vals, m) : 0;
		break;
	default:
		err = -EINVAL;
	}
	/* Trailing bytes mean the chunk is not what we wrote. */
	if (err || (m == cnt && r.pos != len))
		return -EINVAL;
	*n = m;
	return 0;
}

int chunk_decode(const uint8_t *data, size_t len, int64_t *ts, double *vals, size_t cap, size_t *n)
{
	return decode(data, len, ts, vals, cap, INT64_MAX, n);
}

int chunk_decode_until(const uint8_t *data, size_t len, int64_t to_ts, int64_t *ts,
		       double *vals, size_t cap, size_t *n)
{
	return decode(data, len, ts, vals, cap, to_ts, n);
}

/* Keep only the stale markers of a decoded body; the rest becomes 0.0. */
static void presence_of(double *vals, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (load_u64(&vals[i]) != MODEL_STALE_NAN_BITS)
			vals[i] = 0.0;
}

int chunk_decode_presence(const uint8_t *data, size_t len, int64_t *ts, double *vals, size_t cap,
			  size_t *n)
{
	struct rd r = { .p = data, .len = data ? len : 0 };
	size_t cnt;
	int64_t first;
	uint64_t span, bits, k, m0z, g, nexc, gap, pos = 0;
	uint8_t mode, digits;
	int err;

	if (!ts || !vals || !n)
		return -EINVAL;
	err = times_and_mode(&r, ts, cap, &cnt, &first, &span, &mode);
	if (err)
		return err;
	switch (mode) {
	case VAL_CONST:
		if (rd_raw64(&r, &bits) || r.pos != len)
			return -EINVAL;
		for (size_t i = 0; i < cnt; i++)
			vals[i] = 0.0;
		if (bits == MODEL_STALE_NAN_BITS)
			for (size_t i = 0; i < cnt; i++)
				store_u64(&vals[i], bits);
		break;
	case VAL_DECIMAL:
		/* m / 10^k is finite for every mantissa: only an exception can be a NaN. */
		if (rd_byte(&r, &digits) || digits > DEC_MAX_DIGITS || rd_uvarint(&r, &m0z) ||
		    rd_uvarint(&r, &g) || !g || rd_uvarint(&r, &nexc) || nexc > cnt)
			return -EINVAL;
		for (size_t i = 0; i < cnt; i++)
			vals[i] = 0.0;
		for (k = 0; k < nexc; k++) {
			if (rd_uvarint(&r, &gap) || gap >= cnt - pos || rd_raw64(&r, &bits))
				return -EINVAL;
			pos += gap;
			if (bits == MODEL_STALE_NAN_BITS)
				store_u64(&vals[pos], bits);
			pos++;
		}
		break;
	default:
		if (chunk_decode(data, len, ts, vals, cap, &cnt))
			return -EINVAL;
		presence_of(vals, cnt);
		break;
	}
	*n = cnt;
	return 0;
}
