/*
 * The decode pool: helper threads that decode the chunks of one large read alongside the
 * reading thread (docs/store-format.md, "Reading on several cores").
 *
 * Why this is safe with LMDB: a read transaction's handle belongs to one thread, but the pages
 * mdb_get() and cursors return are plain read-only memory of the map and stay valid until that
 * transaction ends. The reading thread alone uses the transaction (cursor walk, head lookup); it
 * hands the helpers (chunk pointer, length, destination) items, waits until every item is
 * decoded, and only then may end the transaction. The helpers touch no LMDB function, no cursor
 * and no transaction, so one read sees one snapshot, however many threads decode it. The map
 * cannot be resized under them either: a resize waits for this process's open transactions
 * (store.c's map_lock), and the reading thread's stays open throughout.
 *
 * A batch of a read is one job, no per-sample synchronisation: store_pool_submit() queues it and
 * returns, store_pool_wait() has the submitter claim what is left and wait for the rest. A scan
 * (store_read_scan_next()) submits the next batch before handing the current one to the engine,
 * so the helpers decode while the engine works; a plain read submits and waits at once (a
 * fork/join). The submitter claims items too, so a busy pool never makes a read slower than
 * decoding it alone, and two queries reading at once share the helpers.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "store/chunk.h"

/* Polls of the queue before a helper sleeps (a pause each: roughly 100 us in all). */
#define STORE_POOL_SPIN 2000

struct store_pool {
	pthread_mutex_t mu;
	pthread_cond_t work;    /* helpers: a job was queued, or stop */
	pthread_cond_t done;    /* submitters: some job's last item finished */
	struct store_pool_job *head, *tail;
	bool stop;              /* written atomically (read by spinning helpers) */
	unsigned long queued;   /* jobs queued so far; written atomically, under mu */
	pthread_t *threads;
	size_t nthreads;
};

/* Decode one item into its destination; a failure is kept in the item for the submitter. */
static void decode_item(struct store_decode_item *it)
{
	size_t got = 0;

	int rc = it->presence ? chunk_decode_presence(it->data, it->len, it->t, it->v, it->n, &got)
			      : chunk_decode(it->data, it->len, it->t, it->v, it->n, &got);

	if (rc || got != it->n)
		it->failed = true;
}

/*
 * Claim the next items of the queue's first job, under the mutex: about a share of what is left
 * per worker (guided scheduling: large claims first, single items near the end, so the workers
 * finish together without a lock per chunk). Unlinks the job once it has nothing left to claim.
 */
static struct store_pool_job *claim(struct store_pool *p, size_t workers, size_t *from, size_t *to)
{
	struct store_pool_job *j = p->head;
	size_t left, take;

	if (!j)
		return NULL;
	left = j->n - j->next;
	take = left / (2 * workers);
	take = take ? take : 1;
	*from = j->next;
	*to = j->next + take;
	j->next = *to;
	if (j->next == j->n) {
		p->head = j->link;
		if (!p->head)
			p->tail = NULL;
	}
	return j;
}

/* Decode the claimed items outside the lock, then count them finished. Called with mu held. */
static void run_claim(struct store_pool *p, struct store_pool_job *j, size_t from, size_t to)
{
	pthread_mutex_unlock(&p->mu);
	for (size_t i = from; i < to; i++)
		decode_item(&j->items[i]);
	pthread_mutex_lock(&p->mu);
	/* atomic: a submitter may poll it without the lock (store_pool_wait()) */
	if (__atomic_add_fetch(&j->finished, to - from, __ATOMIC_RELEASE) == j->n)
		pthread_cond_broadcast(&p->done);
}

/*
 * With the mutex held and no job queued: poll for one for a short while (unlocked) before
 * sleeping. A query reads its series one after another, each a job; waking a sleeping thread
 * costs tens of microseconds (more on a virtual machine), about what a series' decode takes.
 * Returns true when a job may be there (mutex held again either way).
 */
static bool spin_for_work(struct store_pool *p)
{
	unsigned long seen = p->queued;

	pthread_mutex_unlock(&p->mu);
	for (int i = 0; i < STORE_POOL_SPIN; i++) {
		if (__atomic_load_n(&p->queued, __ATOMIC_RELAXED) != seen ||
		    __atomic_load_n(&p->stop, __ATOMIC_RELAXED))
			break;
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#endif
	}
	pthread_mutex_lock(&p->mu);
	return p->head || p->stop;
}

static void *helper_main(void *arg)
{
	struct store_pool *p = arg;

	pthread_mutex_lock(&p->mu);
	while (!p->stop) {
		struct store_pool_job *j;
		size_t from, to;

		j = claim(p, p->nthreads + 1, &from, &to);
		if (!j) {
			if (spin_for_work(p))
				continue;
			pthread_cond_wait(&p->work, &p->mu);
			continue;
		}
		run_claim(p, j, from, to);
	}
	pthread_mutex_unlock(&p->mu);
	return NULL;
}

/* Helpers for a default pool: one fewer than the online CPUs (the reader is the other), at most
 * STORE_DECODE_MAX_HELPERS. */
static size_t default_helpers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	if (cpus <= 1)
		return 0;
	return (size_t)cpus - 1 < STORE_DECODE_MAX_HELPERS ? (size_t)cpus - 1
							   : STORE_DECODE_MAX_HELPERS;
}

/* The pool of 'st', started at the first large read; NULL when it has no helpers. */
static struct store_pool *pool_get(struct store *st)
{
	struct store_pool *p;
	size_t want;

	pthread_mutex_lock(&st->pool_lock);
	if (st->pool || st->pool_tried) {
		p = st->pool;
		pthread_mutex_unlock(&st->pool_lock);
		return p;
	}
	st->pool_tried = true;
	want = st->decode_helpers < 0 ? 0
	       : st->decode_helpers ? (size_t)st->decode_helpers : default_helpers();
	if (want > STORE_DECODE_MAX_HELPERS)
		want = STORE_DECODE_MAX_HELPERS;
	if (!want) {
		pthread_mutex_unlock(&st->pool_lock);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	p->threads = xcalloc(want, sizeof(*p->threads));
	/* Helpers read nthreads under mu: they wait here until it is final. */
	pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < want; i++) {
		int rc = pthread_create(&p->threads[p->nthreads], NULL, helper_main, p);

		if (rc) {
			/* Fewer helpers (or none) only make reads slower, never wrong. */
			log_warn("store", "decode pool: cannot start a helper thread: %s",
				 strerror(rc));
			break;
		}
		p->nthreads++;
	}
	pthread_mutex_unlock(&p->mu);
	st->pool = p;
	pthread_mutex_unlock(&st->pool_lock);
	return p;
}

void store_pool_stop(struct store *st)
{
	struct store_pool *p = st->pool;

	if (!p)
		return;
	pthread_mutex_lock(&p->mu);
	__atomic_store_n(&p->stop, true, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->threads);
	free(p);
	st->pool = NULL;
}

bool store_pool_may_help(struct store *st)
{
	struct store_pool *p = pool_get(st);

	return p && p->nthreads;
}

bool store_pool_submit(struct store *st, struct store_pool_job *job,
		       struct store_decode_item *items, size_t n, size_t nsamples)
{
	struct store_pool *p = NULL;

	*job = (struct store_pool_job){ .items = items, .n = n };
	if (n > 1 && nsamples >= st->parallel_min_samples)
		p = pool_get(st);
	if (!p || !p->nthreads)
		return false;
	job->pool = p;
	pthread_mutex_lock(&p->mu);
	if (p->tail)
		p->tail->link = job;
	else
		p->head = job;
	p->tail = job;
	__atomic_add_fetch(&p->queued, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	return true;
}

int store_pool_wait(struct store_pool_job *job)
{
	struct store_pool *p = job->pool;

	if (!p) {
		for (size_t i = 0; i < job->n; i++)
			decode_item(&job->items[i]);
	} else {
		pthread_mutex_lock(&p->mu);
		/* Work on this job alongside the helpers; other jobs are their owners' to claim. */
		while (job->next < job->n) {
			size_t from = job->next, to;
			size_t left = job->n - job->next, take = left / (2 * (p->nthreads + 1));

			take = take ? take : 1;
			to = from + take;
			job->next = to;
			if (job->next == job->n) {
				/* unlink: the job may sit anywhere in the queue */
				struct store_pool_job **pp = &p->head, *prev = NULL;

				while (*pp != job) {
					prev = *pp;
					pp = &(*pp)->link;
				}
				*pp = job->link;
				if (p->tail == job)
					p->tail = prev;
			}
			run_claim(p, job, from, to);
		}
		/*
		 * What is left is the helpers' last claims, a chunk or two each (the claims shrink
		 * towards the end): poll for them a little before sleeping, since sleeping and
		 * being woken costs tens of microseconds on a virtual machine, once per batch.
		 */
		if (job->finished < job->n) {
			pthread_mutex_unlock(&p->mu);
			for (int i = 0; i < STORE_POOL_SPIN &&
					__atomic_load_n(&job->finished, __ATOMIC_ACQUIRE) < job->n;
			     i++) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#endif
			}
			pthread_mutex_lock(&p->mu);
		}
		while (job->finished < job->n)
			pthread_cond_wait(&p->done, &p->mu);
		pthread_mutex_unlock(&p->mu);
		job->pool = NULL;
	}
	for (size_t i = 0; i < job->n; i++)
		if (job->items[i].failed)
			return STORE_E_CORRUPT;
	return 0;
}

int store_pool_decode(struct store *st, struct store_decode_item *items, size_t n,
		      size_t nsamples)
{
	struct store_pool_job job;

	store_pool_submit(st, &job, items, n, nsamples);
	return store_pool_wait(&job);
}
