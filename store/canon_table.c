/* The chained hash table over canonical label bytes that the store's in-memory indexes share. */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/buf.h"

#define CANON_TABLE_MIN_BUCKETS 256

struct canon_node *canon_table_find(const struct canon_table *t, const char *canon, size_t clen,
				    uint64_t hash)
{
	if (!t->tab)
		return NULL;
	for (struct canon_node *n = t->tab[hash & t->mask]; n; n = n->next)
		if (n->hash == hash && n->clen == clen && !memcmp(n->canon, canon, clen))
			return n;
	return NULL;
}

static void canon_table_grow(struct canon_table *t)
{
	size_t nb = t->tab ? (t->mask + 1) * 2 : CANON_TABLE_MIN_BUCKETS;
	struct canon_node **tab = xcalloc(nb, sizeof(*tab));

	for (size_t i = 0; t->tab && i <= t->mask; i++) {
		struct canon_node *n = t->tab[i], *next;

		for (; n; n = next) {
			next = n->next;
			n->next = tab[n->hash & (nb - 1)];
			tab[n->hash & (nb - 1)] = n;
		}
	}
	free(t->tab);
	t->tab = tab;
	t->mask = nb - 1;
}

void canon_table_insert(struct canon_table *t, struct canon_node *node)
{
	if (!t->tab || t->n >= t->mask + 1)
		canon_table_grow(t);
	node->next = t->tab[node->hash & t->mask];
	t->tab[node->hash & t->mask] = node;
	t->n++;
}

void canon_table_remove_if(struct canon_table *t, bool (*drop)(struct canon_node *, void *),
			   void *ctx)
{
	for (size_t i = 0; t->tab && i <= t->mask; i++) {
		struct canon_node **link = &t->tab[i];

		while (*link) {
			struct canon_node *n = *link, *next = n->next;

			if (drop(n, ctx)) {
				*link = next;
				t->n--;
			} else {
				link = &n->next;
			}
		}
	}
}

void canon_table_visit(const struct canon_table *t, void (*fn)(struct canon_node *, void *),
		       void *ctx)
{
	for (size_t i = 0; t->tab && i <= t->mask; i++)
		for (struct canon_node *n = t->tab[i], *next; n; n = next) {
			next = n->next;
			fn(n, ctx);
		}
}

void canon_table_release(struct canon_table *t)
{
	free(t->tab);
	t->tab = NULL;
	t->mask = 0;
	t->n = 0;
}
