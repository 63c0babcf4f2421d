/* prefix.h - what the prefix-cache scorer needs: a request's block hashes (an xxhash64 chain
 * over 64-byte blocks of the prompt, seeded by the model name) and, per pod, an LRU of the
 * block hashes it was sent, as a stand-in for what its KV cache still holds. */
#ifndef ILB_PREFIX_H
#define ILB_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ILB_PREFIX_BLOCK 64 /* bytes of prompt text per block */
#define ILB_PREFIX_DEFAULT_CAPACITY 32768 /* blocks remembered per pod */
#define ILB_PREFIX_DEFAULT_MAX_BLOCKS 256 /* blocks hashed per request (16 KiB of prompt) */

/* A request's block hashes, in prompt order. Reusable: hashing again overwrites. */
struct ilb_prefix_blocks {
	uint64_t *hash;
	size_t n, cap;
};

/* Hashes the full 64-byte blocks of text (a trailing partial block is left out: a model
 * server caches whole blocks only), at most max_blocks of them (0 = no limit). Block 0 is
 * seeded with XXH64 of the model name (NULL = ""), block i with the hash of block i-1, so a
 * hash stands for the whole prefix up to its block. Returns the block count or -ENOMEM. */
int ilb_prefix_hash_blocks(const char *model, const char *text, size_t len, size_t max_blocks,
			   struct ilb_prefix_blocks *out);
void ilb_prefix_blocks_free(struct ilb_prefix_blocks *blocks);

/* Bounded LRU set of block hashes: hash table plus a doubly linked recency list, O(1)
 * lookup and insert. Memory grows with use up to the capacity. */
struct ilb_prefix_lru;

/* capacity 0 gives ILB_PREFIX_DEFAULT_CAPACITY. NULL with errno EINVAL or ENOMEM. */
struct ilb_prefix_lru *ilb_prefix_lru_new(uint32_t capacity);
void ilb_prefix_lru_free(struct ilb_prefix_lru *lru);
/* Forgets every hash (the pod restarted: its cache is empty). */
void ilb_prefix_lru_clear(struct ilb_prefix_lru *lru);
/* Lookup only: does not refresh the entry. */
bool ilb_prefix_lru_contains(const struct ilb_prefix_lru *lru, uint64_t hash);
/* Makes hash the most recent, evicting the least recent at capacity.
 * Returns 1 when added, 0 when it was there, -ENOMEM. */
int ilb_prefix_lru_insert(struct ilb_prefix_lru *lru, uint64_t hash);
uint32_t ilb_prefix_lru_count(const struct ilb_prefix_lru *lru);
uint32_t ilb_prefix_lru_capacity(const struct ilb_prefix_lru *lru);

/* How many leading hashes of hash[0..n) the LRU holds (it stops at the first miss). */
size_t ilb_prefix_match(const struct ilb_prefix_lru *lru, const uint64_t *hash, size_t n);
/* Records every hash, the first block ending up the most recent. Returns 0 or -ENOMEM. */
int ilb_prefix_record(struct ilb_prefix_lru *lru, const uint64_t *hash, size_t n);

#endif
