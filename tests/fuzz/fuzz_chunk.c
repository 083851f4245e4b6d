/*
 * Fuzz target: the chunk decoder. Any input must decode or fail with -EINVAL, never read out of
 * bounds; whatever decodes must be a valid run (strictly increasing timestamps that agree with
 * chunk_peek) and must survive a re-encode bit for bit; chunk_decode_until() at a cut inside
 * it must give the same samples up to the cut.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "store/chunk.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t ts[CHUNK_MAX_SAMPLES], ts2[CHUNK_MAX_SAMPLES];
static double vals[CHUNK_MAX_SAMPLES], vals2[CHUNK_MAX_SAMPLES];
static int64_t ts_ref[CHUNK_MAX_SAMPLES];
static double vals_ref[CHUNK_MAX_SAMPLES];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf b;
	size_t n = 0, n2 = 0, pn = 0;
	int64_t first = 0, last = 0;
	size_t nref = 0;
	int rc, rc_ref;

	chunk_test_rice_tables(false);
	rc_ref = chunk_decode(data, size, ts_ref, vals_ref, CHUNK_MAX_SAMPLES, &nref);
	chunk_test_rice_tables(true);
	rc = chunk_decode(data, size, ts, vals, CHUNK_MAX_SAMPLES, &n);
	if (rc != rc_ref || (!rc && (n != nref || memcmp(ts, ts_ref, n * sizeof(*ts)) ||
				     memcmp(vals, vals_ref, n * sizeof(*vals)))))
		abort();
	if (rc == -EINVAL)
		return 0;
	if (rc != 0 || n < 1 || n > CHUNK_MAX_SAMPLES)
		abort();
	for (size_t i = 1; i < n; i++) {
		if (ts[i] <= ts[i - 1])
			abort();
	}
	if (chunk_peek(data, size, &pn, &first, &last) || pn != n || first != ts[0] ||
	    last != ts[n - 1])
		abort();
	buf_init(&b, 0);
	if (chunk_encode(ts, vals, n, &b) ||
	    chunk_decode((const uint8_t *)b.data, b.len, ts2, vals2, CHUNK_MAX_SAMPLES, &n2) ||
	    n2 != n || memcmp(ts, ts2, n * sizeof(*ts)) || memcmp(vals, vals2, n * sizeof(*vals)))
		abort();
	buf_release(&b);
	{
		int64_t cut = ts[n / 2];

		if (chunk_decode_until(data, size, cut, ts2, vals2, CHUNK_MAX_SAMPLES, &n2) ||
		    n2 != n / 2 + 1 || memcmp(ts, ts2, n2 * sizeof(*ts)) ||
		    memcmp(vals, vals2, n2 * sizeof(*vals)))
			abort();
	}
	return 0;
}
