#ifndef DW_STORE_STORE_INT_H
#define DW_STORE_STORE_INT_H

/*
 * Private to store/: the store's internals shared by store.c (open, transactions, map growth),
 * store_batch.c (canonical label bytes, batches), store_commit.c (the writer's heads, the commit),
 * store_retention.c, store_read.c (readers, select), store_appender.c and import.c. The on-disk layout these constants
 * describe is in docs/store-format.md; change both together.
 */

#include <lmdb.h>
#include <pthread.h>

#include "store/store.h"

#define STORE_FORMAT_MAGIC "DWSTORE"  /* 7 bytes + NUL: 8 bytes at the start of the record */
#define STORE_FORMAT_VERSION 1u
#define STORE_FORMAT_KEY "sys/format"
#define STORE_NEXT_ID_KEY "sys/next_id"
#define STORE_USER_PREFIX "user/"

#define STORE_DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define STORE_MAX_READERS 254

/* Ended readers kept for reuse, and the largest sample arrays one may keep (16 bytes a sample):
 * at most 2 x 2 MiB stay allocated after large queries. */
#define STORE_SPARE_READERS 2
#define STORE_SPARE_READER_SAMPLES ((size_t)1 << 17)

/* Caps on what input controls (label sets come from log lines through the registry). */
#define STORE_MAX_LABELS 32
#define STORE_MAX_NAME_LEN 128
#define STORE_MAX_POSTING_KEY 500     /* name \0 value: an LMDB key (511 bytes at most) */
#define STORE_MAX_CANON_LEN 2000      /* a series record stays well under an LMDB page */
#define STORE_MAX_META_KEY 200
#define STORE_MAX_META_VAL 1024
#define STORE_MAX_BATCH_SAMPLES ((size_t)1 << 22)

/* Head chunks are sealed at this many samples or when they would encode to more bytes. */
#define STORE_SEAL_SAMPLES 240
#define STORE_SEAL_BYTES 1024

/* The writer's cache of series it has written: more entries than this are dropped wholesale. */
#define STORE_WCACHE_MAX 100000

/* What the writer knows of one series: its id and the open head chunk's samples. */
/*
 * A record keyed by canonical label bytes, linked into a canon_table. It is embedded in the
 * record (the writer's cached series, the appender's per-tick key set); the record owns the key
 * bytes and frees itself.
 */
struct canon_node {
	struct canon_node *next;        /* hash chain */
	uint64_t hash;                  /* store_canon_hash() of the key */
	const char *canon;              /* the key bytes, owned by the embedding record */
	size_t clen;
};

/* A chained hash table of canon_nodes that doubles when it holds as many nodes as buckets. */
struct canon_table {
	struct canon_node **tab;        /* NULL until the first insert */
	size_t mask;
	size_t n;
};

/* The node with this key, or NULL. */
struct canon_node *canon_table_find(const struct canon_table *t, const char *canon, size_t clen,
				    uint64_t hash);
/* Link 'node' (its key fields set, its key not yet in the table). */
void canon_table_insert(struct canon_table *t, struct canon_node *node);
/* Unlink every node for which 'drop' returns true; 'drop' may free the node it drops. */
void canon_table_remove_if(struct canon_table *t, bool (*drop)(struct canon_node *, void *),
			   void *ctx);
/* Call 'fn' for every node. */
void canon_table_visit(const struct canon_table *t, void (*fn)(struct canon_node *, void *),
		       void *ctx);
/* Free the bucket array (the nodes must already be gone). */
void canon_table_release(struct canon_table *t);

#define container_of(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct wseries {
	struct canon_node node;         /* key: the owned canonical label bytes */
	uint64_t id;
	int64_t last_ts;        /* last stored timestamp; INT64_MIN when the series has none */
	int64_t *ts;            /* owned: the head chunk's samples, n of them */
	double *vals;
	size_t n, cap;
};

struct store {
	MDB_env *env;
	MDB_dbi meta, series, series_by_key, postings, chunks, heads;
	bool read_only;
	char *path;
	int64_t retention_ms;
	/*
	 * mdb_env_set_mapsize() may only run while this process has no transaction open: every
	 * transaction holds this lock shared, a map resize holds it exclusively.
	 */
	pthread_rwlock_t map_lock;
	size_t map_size;
	size_t max_map_size;    /* growth limit; SIZE_MAX in production, small in fault tests */

	/*
	 * The cause of the last error any thread noted (store_note_error()), for the handler's
	 * log line (store_last_lmdb_error()): the code it went with and one line of detail.
	 */
	pthread_mutex_t err_lock;
	int last_err;
	char last_detail[240];

	/*
	 * The decode pool (store_pool.c): started by the first read large enough to use it,
	 * stopped by store_close(). decode_helpers is store_options's; pool_tried: the start was
	 * attempted (a pool without helpers is never retried).
	 */
	pthread_mutex_t pool_lock;
	struct store_pool *pool;
	bool pool_tried;
	int decode_helpers;
	/* STORE_READ_BATCH_SAMPLES and STORE_PARALLEL_MIN_SAMPLES, smaller in tests
	 * (store_test_set_read_batch()) so that small data makes many batches. */
	size_t read_batch_samples;
	size_t parallel_min_samples;
	/* Ended readers kept with their arrays for the next ones (store_read.c), under
	 * pool_lock; freed by store_close(). */
	struct store_reader *spare_readers[STORE_SPARE_READERS];
	size_t nspare_readers;

	/* Writer thread only. */
	struct canon_table wcache; /* the writer's series (struct wseries), by label set */
	size_t expect_txnid;    /* id of our next write txn if nobody else wrote; 0: unknown */
	struct buf enc;         /* scratch for chunk encoding */
};

/* ---- the decode pool (store_pool.c; docs/store-format.md, "Reading on several cores") ---- */

/* A read decodes its chunks on several threads only from this many samples on: below it, the
 * hand-off to a helper costs about what it saves. */
#define STORE_PARALLEL_MIN_SAMPLES 8192
/* store_read_windows_batch() stops adding series once its arrays hold this many samples
 * (16 bytes each): a query holds one such batch at a time. */
#define STORE_READ_BATCH_SAMPLES ((size_t)1 << 16)
/* Helper threads at most, whatever the CPU count or the option says. */
#define STORE_DECODE_MAX_HELPERS 3

/*
 * One chunk to decode whole: 'data'/'len' point into the reading thread's LMDB transaction
 * (valid until it ends), the destination arrays hold exactly 'n' samples (the chunk's count,
 * from its header). 'failed' is set when the chunk does not decode to n samples.
 */
struct store_decode_item {
	const uint8_t *data;
	size_t len;
	int64_t *t;
	double *v;
	size_t n;
	size_t off;             /* the reader's: where in its arrays (t and v set from it) */
	uint64_t series;        /* the reader's: the series, for the note of a malformed chunk */
	bool presence;          /* only the stale markers among the values (chunk_decode_presence) */
	bool failed;
};

/*
 * One read's items handed to the decode pool, embedded in the reader (store_pool_submit() fills
 * it). The queue's fields are guarded by the pool's mutex.
 */
struct store_pool_job {
	struct store_decode_item *items;
	size_t n;
	size_t next;                    /* the first item nobody claimed yet */
	size_t finished;                /* items decoded (or failed): the job is done at n */
	struct store_pool_job *link;    /* the queue of jobs with items left to claim */
	struct store_pool *pool;        /* the pool it is queued on; NULL: not handed over */
};

/*
 * Hand the 'n' items (borrowed until store_pool_wait() returns; their destinations set) to the
 * store's helpers and return at once, when the read holds at least STORE_PARALLEL_MIN_SAMPLES
 * samples whose values are wanted ('nsamples') and the store has helpers (started here at the
 * first such read). Returns true when the job was handed over; false when nothing was (then
 * store_pool_wait() decodes every item on the calling thread). Either way the caller must call
 * store_pool_wait() once before the transaction the items point into ends: the helpers never
 * touch LMDB. The thread holding the read transaction; concurrent jobs share the helpers.
 */
bool store_pool_submit(struct store *st, struct store_pool_job *job,
		       struct store_decode_item *items, size_t n, size_t nsamples);
/*
 * Finish 'job': decode its items nobody claimed yet on the calling thread, then wait for the
 * helpers' claims. Returns 0, or STORE_E_CORRUPT when any item failed (the caller notes the
 * cause). The thread that submitted it.
 */
int store_pool_wait(struct store_pool_job *job);
/* False when no read of 'st' can be handed to helpers (none configured, none on one CPU, or
 * none could start): a scan then does not read ahead. Starts the helpers if they may be.
 * Any thread. */
bool store_pool_may_help(struct store *st);
/* store_pool_submit() and store_pool_wait() at once: a fork/join over the items. */
int store_pool_decode(struct store *st, struct store_decode_item *items, size_t n,
		      size_t nsamples);
/* Stop and join the helpers (store_close()); no read may be in progress. */
void store_pool_stop(struct store *st);
/* Free the spare readers (store_close()). */
void store_spare_readers_free(struct store *st);

/* One distinct series in a batch. */
struct bseries {
	char *canon;            /* owned canonical label bytes */
	size_t clen;
	uint64_t hash;
	enum metric_type type;
	uint32_t next;          /* hash chain within the batch: index + 1, 0 ends it */
	uint32_t count;         /* samples of this series in the batch (commit's scratch) */
};

struct bsample {
	uint32_t sidx;          /* index into the batch's series */
	int64_t t;
	double v;
};

struct bmeta {
	char *key;
	void *val;
	size_t len;
};

struct store_batch {
	struct bseries *series;
	size_t nseries, series_cap;
	uint32_t *tab;          /* hash buckets over series (index + 1), tmask + 1 of them */
	size_t tmask;
	struct bsample *samples;
	size_t nsamples, samples_cap;
	struct bmeta *meta;
	size_t nmeta, meta_cap;
	struct buf scratch;     /* canonical bytes of the label set being added */
	struct store_catalog_buf *catalog; /* error catalog records (catalog.c); NULL: none */
	int64_t horizon_ms;     /* store_batch_set_horizon: INT64_MIN until set */
	bool all_or_nothing;    /* store_batch_set_all_or_nothing */
};

/* FNV-1a (model_fnv1a), 64 bits: the series_by_key key and the in-memory hash tables. */
static inline uint64_t store_canon_hash(const char *canon, size_t len)
{
	return model_fnv1a(MODEL_FNV1A_INIT, canon, len);
}
/*
 * Canonical bytes of a label set: __name__ first, then by name, each "name\0value\0"; labels
 * with an empty value are left out (Prometheus: empty means absent). Validates names and caps.
 * Returns 0 or -EINVAL; the bytes are appended to 'out'.
 */
int store_canon_labels(const struct label *labels, size_t n, struct buf *out);
/* Split canonical bytes into at most 'max' labels pointing into 'canon'. Returns the count or
 * STORE_E_CORRUPT. */
int store_canon_split(const char *canon, size_t len, struct label *out, size_t max);
/* Add a sample for a series given by canonical bytes (already validated). */
int store_batch_add_canon(struct store_batch *b, const char *canon, size_t clen,
			  enum metric_type type, int64_t t_ms, double v);
/* Drop the oldest 'k' samples of the batch (the appender's pending cap). */
void store_batch_drop_oldest(struct store_batch *b, size_t k);
/* Empty the batch, keeping its allocations (after a successful commit). */
void store_batch_clear(struct store_batch *b);

/* Chunk keys: BE id ‖ BE (timestamp with the sign bit flipped), so keys sort by (id, time). */
void store_chunk_key(uint8_t key[16], uint64_t id, int64_t t);
void store_chunk_key_parse(const uint8_t key[16], uint64_t *id, int64_t *t);
void store_put_be64(uint8_t *p, uint64_t v);
uint64_t store_get_be64(const uint8_t *p);

/*
 * Map an LMDB or system error to this module's codes. It does not log: for STORE_E_LMDB and
 * STORE_E_CORRUPT it notes "what: LMDB's text" (store_note_error()) so that the code that
 * handles the error can log the cause once. A STORE_E_* code passes through unchanged (a deeper
 * function already noted its cause).
 */
int store_lmdb_err(struct store *st, int rc, const char *what);
/*
 * Note the cause of error 'err' (one line, printf format) for store_last_lmdb_error(), instead
 * of logging it where it happens: the caller that handles the error logs it once. Any thread.
 */
void store_note_error(struct store *st, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Begin a transaction, holding map_lock shared until store_txn_end(); adopts a map grown by
 * another process (MDB_MAP_RESIZED). Returns 0 or an error.
 */
int store_txn_begin(struct store *st, unsigned flags, MDB_txn **out);
/* Commit (commit true) or abort 'txn' and release map_lock. Returns mdb_txn_commit's code. */
int store_txn_end(struct store *st, MDB_txn *txn, bool commit);

/*
 * Visit the meta records whose keys start with 'prefix' (longer than it), in key order, in one
 * read transaction: fn(ctx, key, value) with LMDB's pages, valid only during the call. fn returns
 * 0 to go on, > 0 to stop early (not an error) or < 0 to stop with that error. Returns 0, fn's
 * error, or a store error naming 'what' (logged by the caller). Any thread.
 */
int store_meta_scan(struct store *st, const char *prefix, const char *what,
		    int (*fn)(void *ctx, const MDB_val *k, const MDB_val *d), void *ctx);

/*
 * The last sample of series 'id' in a transaction: 0 and *t, *v set, -ENOENT when the series has
 * no chunk, or an error.
 */
int store_last_sample(struct store *st, MDB_txn *txn, uint64_t id, int64_t *t, double *v);

/*
 * Returned by one commit or retention attempt after MDB_MAP_FULL (its transaction aborted):
 * grow the map with store_grow() and try again. Positive, so never confused with an error.
 */
#define STORE_RETRY_GROW 1
/* Double the map (up to max_map_size) after MDB_MAP_FULL. Returns 0, -ENOSPC or -EBUSY. */
int store_grow(struct store *st);

/*
 * The id of the series whose canonical label bytes are 'canon' (clen bytes, hash 'h' =
 * store_canon_hash()) in the index: 0 and *id, MDB_NOTFOUND, or an LMDB code.
 */
int store_series_find(struct store *st, MDB_txn *txn, const char *canon, size_t clen, uint64_t h,
		      uint64_t *id);

/* The open head chunk of series 'id': 0 and *d (valid until the transaction ends), or an LMDB
 * code (MDB_NOTFOUND: the series has no open head). */
int store_head_get(struct store *st, MDB_txn *txn, uint64_t id, MDB_val *d);
/* Forget every series the writer has cached (its heads are reloaded from disk when next used):
 * after a write whose outcome is unknown, or another writer's commit. Writer thread. */
void store_wcache_clear(struct store *st);
/* Forget the cached series whose id is in the sorted array 'ids' (retention deleted data). */
void store_wcache_drop_ids(struct store *st, const uint64_t *ids, size_t n);

/* The error catalog (catalog.c): write a batch's pending records inside the commit's
 * transaction (an LMDB code), and empty them after a successful commit. */
int store_catalog_write(struct store *st, MDB_txn *txn, const struct store_catalog_buf *cb);
void store_catalog_buf_clear(struct store_catalog_buf *cb);

/* Test hook: the samples a read batch stops at and the fewest a read hands to the helpers
 * (STORE_READ_BATCH_SAMPLES, STORE_PARALLEL_MIN_SAMPLES outside tests). Before any read. */
void store_test_set_read_batch(struct store *st, size_t batch_samples, size_t parallel_min);
/* Test hooks: the map's growth limit and its current size. */
void store_test_set_max_map_size(struct store *st, size_t max);
size_t store_test_map_size(const struct store *st);

#endif
