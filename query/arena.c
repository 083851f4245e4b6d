/*
 * The bump allocator behind "one arena per query, freed in one place": parse trees and query
 * results are made of many small pieces whose lifetimes all end together.
 */
#include <stdlib.h>
#include <string.h>

#include "query/promql_int.h"

struct promql_arena_block {
	struct promql_arena_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

#define ARENA_MIN_BLOCK ((size_t)16 << 10)
#define ARENA_MAX_BLOCK ((size_t)4 << 20)

void promql_arena_init(struct promql_arena *a)
{
	a->head = NULL;
	a->total = 0;
}

void promql_arena_release(struct promql_arena *a)
{
	struct promql_arena_block *b = a->head;

	while (b) {
		struct promql_arena_block *next = b->next;

		free(b);
		b = next;
	}
	a->head = NULL;
	a->total = 0;
}

void *promql_arena_alloc(struct promql_arena *a, size_t n)
{
	struct promql_arena_block *b = a->head;
	size_t size;

	n = (n + 15) & ~(size_t)15;
	if (!n)
		n = 16;
	if (b && b->size - b->used >= n) {
		void *p = b->data + b->used;

		b->used += n;
		return p;
	}
	/* Blocks grow with the arena (fewer mallocs for big queries); a large request gets a block
	 * of its own, linked behind the current one so the current block's free space is kept. */
	size = a->total / 2;
	if (size < ARENA_MIN_BLOCK)
		size = ARENA_MIN_BLOCK;
	if (size > ARENA_MAX_BLOCK)
		size = ARENA_MAX_BLOCK;
	if (n > size / 4) {
		struct promql_arena_block *big = xmalloc(sizeof(*big) + n);

		big->size = big->used = n;
		a->total += n;
		if (b) {
			big->next = b->next;
			b->next = big;
		} else {
			big->next = NULL;
			a->head = big;
		}
		return big->data;
	}
	b = xmalloc(sizeof(*b) + size);
	b->size = size;
	b->used = n;
	b->next = a->head;
	a->head = b;
	a->total += size;
	return b->data;
}

void *promql_arena_zalloc(struct promql_arena *a, size_t n)
{
	void *p = promql_arena_alloc(a, n);

	memset(p, 0, n);
	return p;
}

void *promql_arena_array(struct promql_arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		abort();
	return promql_arena_alloc(a, n * size);
}

char *promql_arena_strndup(struct promql_arena *a, const char *s, size_t n)
{
	char *p = promql_arena_alloc(a, n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *promql_arena_strdup(struct promql_arena *a, const char *s)
{
	return promql_arena_strndup(a, s, strlen(s));
}
