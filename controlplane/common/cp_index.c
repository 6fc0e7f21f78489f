/* cp_index: items found by key through an open-addressing table. Design in cp_index.h. */
#include "cp_index.h"

#include <stdlib.h>
#include <string.h>

#define FIRST_SLOTS 128u

void cp_index_init(struct cp_index *x, const void *owner,
		   uint32_t (*hash)(const void *owner, unsigned int item),
		   bool (*is)(const void *owner, unsigned int item, const void *key))
{
	memset(x, 0, sizeof(*x));
	x->owner = owner;
	x->hash = hash;
	x->is = is;
}

/* Bring the table up to items 0 .. n - 1. 0, or -1 out of memory (the table as it was). */
static int sync(struct cp_index *x, unsigned int n)
{
	if (x->n > n) {   /* emptied since: refilled */
		memset(x->slot, 0, x->slots * sizeof(*x->slot));
		x->n = 0;
	}
	if ((uint64_t)n * 2 > x->slots) {   /* at most half full */
		unsigned int slots = x->slots ? x->slots : FIRST_SLOTS;
		while ((uint64_t)n * 2 > slots)
			slots *= 2;
		unsigned int *t = calloc(slots, sizeof(*t));
		if (t == NULL)
			return -1;
		free(x->slot);
		x->slot = t;
		x->slots = slots;
		x->n = 0;
	}
	for (; x->n < n; x->n++) {
		unsigned int i = x->hash(x->owner, x->n) & (x->slots - 1);
		while (x->slot[i] != 0)
			i = (i + 1) & (x->slots - 1);
		x->slot[i] = x->n + 1;
	}
	return 0;
}

unsigned int cp_index_find(struct cp_index *x, unsigned int n, uint32_t hash,
			   const void *key)
{
	if (sync(x, n) != 0) {
		unsigned int k = 0;
		while (k < n && !x->is(x->owner, k, key))
			k++;
		return k;
	}
	if (x->slots == 0)
		return n;
	for (unsigned int i = hash & (x->slots - 1); x->slot[i] != 0;
	     i = (i + 1) & (x->slots - 1))
		if (x->is(x->owner, x->slot[i] - 1, key))
			return x->slot[i] - 1;
	return n;
}

void cp_index_free(struct cp_index *x)
{
	free(x->slot);
	x->slot = NULL;
	x->slots = x->n = 0;
}

uint32_t cp_index_hash_str(const char *s)
{
	uint32_t h = 2166136261u;   /* FNV-1a */
	for (; *s != '\0'; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

uint32_t cp_index_hash_u64(uint64_t v)
{
	/* Fibonacci hashing: the product's upper half depends on every bit of v */
	return (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> 32);
}
