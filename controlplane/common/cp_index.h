/*
 * cp_index: an item of the caller's array found by its key in one probe sequence, not by
 * a walk over every item. The archiver finds a feed by its stream key (per stream of each
 * XREADGROUP reply), the book role a tracked master by its id (per member of decp:masters
 * each second): walks made both quadratic in masters (3,000 masters: 9M compares a
 * second in the book role).
 *
 * Open addressing, linear probing, a power-of-two table kept at most half full; a slot
 * holds an item's index + 1 (0: empty). The caller owns the items (an array it may
 * realloc), appends them at index n and may empty them all (n back to 0); it cannot take
 * one out. The index follows lazily: cp_index_find is given the caller's current count
 * and first adds the items appended since the last call (all of them again after the
 * items were emptied or the table grew). An emptying is seen by a call whose n is below the
last call's, so a caller that empties its items looks one up before it appends again
(both callers look an item up before appending it, so as not to add it twice).
 *
 * The caller supplies two functions, both given `owner` (a pointer that stays valid while
 * the items move, such as the struct that holds the array): the hash of item i, which
 * must equal the hash the caller passes to cp_index_find for that item's key, and
 * whether item i has a key.
 *
 * Threading: none inside; an index belongs to the thread that owns its items.
 */
#ifndef DECP_CP_INDEX_H
#define DECP_CP_INDEX_H

#include <stdbool.h>
#include <stdint.h>

struct cp_index {
	uint32_t (*hash)(const void *owner, unsigned int item);
	bool (*is)(const void *owner, unsigned int item, const void *key);
	const void *owner;
	unsigned int *slot;     /* item index + 1, 0: empty */
	unsigned int slots;     /* a power of two (0: no table yet) */
	unsigned int n;         /* items 0 .. n - 1 are in the table */
};

/* Initialise an empty index (no allocation). */
void cp_index_init(struct cp_index *x, const void *owner,
		   uint32_t (*hash)(const void *owner, unsigned int item),
		   bool (*is)(const void *owner, unsigned int item, const void *key));

/*
 * The item among 0 .. n - 1 for which is(owner, item, key) holds, hash being the hash of
 * key; n when there is none. n is the caller's current count of items: those appended
 * since the last call are added first (n below the last call's: the items were emptied,
 * the table is refilled). Out of memory to grow the table: a walk over the n items, the
 * same answer (the table is tried again at the next call).
 */
unsigned int cp_index_find(struct cp_index *x, unsigned int n, uint32_t hash,
			   const void *key);

/* Free the table; the index is empty again (cp_index_init's state). */
void cp_index_free(struct cp_index *x);

/* Hashes for the caller's two functions: FNV-1a of a string; a 64-bit key's bits mixed
 * so that sequential ids spread over the table's low bits. */
uint32_t cp_index_hash_str(const char *s);
uint32_t cp_index_hash_u64(uint64_t v);

#endif
