#ifndef DW_STORE_CHUNK_H
#define DW_STORE_CHUNK_H

/*
 * The chunk codec: a pure function pair that turns a run of one series' samples into bytes and
 * back. No I/O, no LMDB. The byte layout is documented in docs/chunk-format.md.
 *
 * Lossless for every double: NaN payloads (Prometheus's stale marker 0x7ff0000000000002), ±Inf
 * and -0 survive bit for bit. Timestamps are milliseconds, strictly increasing within a chunk.
 * The encoder picks the cheapest encoding for the run it is given (samples at a fixed interval,
 * integer-valued and decimal-valued floats, flat counters), so the store re-encodes its open
 * head chunk from the samples it keeps in memory rather than appending bit by bit.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

#define CHUNK_MAX_SAMPLES 4096

/* Encode n (1..CHUNK_MAX_SAMPLES) samples, appending the bytes to 'out'. Returns 0, -EINVAL if
 * n is out of range or timestamps are not strictly increasing, -E2BIG if 'out' is full. */
int chunk_encode(const int64_t *ts, const double *vals, size_t n, struct buf *out);

/* The number of samples and the first and last timestamp, read from the header without decoding
 * the body. Any pointer may be NULL. Returns 0 or -EINVAL for a malformed chunk. */
int chunk_peek(const uint8_t *data, size_t len, size_t *n, int64_t *first_ts, int64_t *last_ts);

/* Decode all samples into ts/vals, which hold 'cap' entries. Sets *n. Returns 0, -EINVAL for a
 * malformed or truncated chunk (never reads past 'len'), -ENOSPC if cap is too small. */
int chunk_decode(const uint8_t *data, size_t len, int64_t *ts, double *vals, size_t cap, size_t *n);

/*
 * chunk_decode(), but only the samples at or before 'to_ts' (*n of them, 0..count): a window
 * that ends inside a chunk decodes its values no further than it needs. The timestamps are all
 * decoded, so ts must still hold the chunk's count. Errors as chunk_decode(); a prefix is not
 * checked for trailing bytes (the rest of the body is not read).
 */
int chunk_decode_until(const uint8_t *data, size_t len, int64_t to_ts, int64_t *ts,
		       double *vals, size_t cap, size_t *n);

/*
 * chunk_decode() for a caller that needs the timestamps and only which samples are stale markers
 * (count_over_time, present_over_time): vals[i] is the stale marker (MODEL_STALE_NAN_BITS) where
 * sample i is one, else 0.0. A plain decimal body can only hold a NaN among its raw exceptions,
 * so its mantissa sequence is not decoded at all, nor is a constant's; a body with corrections
 * or an XOR body is decoded in full first. Errors as chunk_decode(), except that the parts not
 * decoded are not checked (a damaged mantissa sequence goes unnoticed here).
 */
int chunk_decode_presence(const uint8_t *data, size_t len, int64_t *ts, double *vals, size_t cap,
			  size_t *n);

/*
 * Test hook: with 'on' false the decoder reads Rice residuals one at a time (the decoder before
 * the lookup tables of docs/chunk-format.md, "Decoding"), so tests can compare both bit for bit.
 * Default true. Not for use while another thread decodes.
 */
void chunk_test_rice_tables(bool on);

#endif
