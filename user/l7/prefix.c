/* prefix.c - prompt block hashes (xxhash64 chain) and the per-pod LRU of hashes sent to it,
 * a hash table of index chains over a node array plus an index-linked recency list. */
#include "prefix.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <xxhash.h>

#define NIL UINT32_MAX
#define MIN_ALLOC 1024u
#define MAX_CAPACITY (1u << 30)

int ilb_prefix_hash_blocks(const char *model, const char *text, size_t len, size_t max_blocks,
			   struct ilb_prefix_blocks *out)
{
	size_t n = text ? len / ILB_PREFIX_BLOCK : 0;
	uint64_t seed;

	if (max_blocks && n > max_blocks)
		n = max_blocks;
	if (n > out->cap) {
		uint64_t *hash = realloc(out->hash, n * sizeof(*hash));

		if (!hash)
			return -ENOMEM;
		out->hash = hash;
		out->cap = n;
	}
	if (!model)
		model = "";
	/* seeding by the model keeps two models' identical prompts apart: their caches are not shared */
	seed = XXH64(model, strlen(model), 0);
	for (size_t i = 0; i < n; i++) {
		seed = XXH64(text + i * ILB_PREFIX_BLOCK, ILB_PREFIX_BLOCK, seed);
		out->hash[i] = seed;
	}
	out->n = n;
	return (int)n;
}

void ilb_prefix_blocks_free(struct ilb_prefix_blocks *blocks)
{
	if (!blocks)
		return;
	free(blocks->hash);
	memset(blocks, 0, sizeof(*blocks));
}

struct node {
	uint64_t key;
	uint32_t newer, older; /* recency list */
	uint32_t chain; /* next node in the same bucket */
};

struct ilb_prefix_lru {
	uint32_t capacity;
	uint32_t count; /* nodes [0, count) are in use */
	uint32_t alloc; /* nodes allocated */
	uint32_t newest, oldest;
	uint32_t mask; /* buckets - 1 */
	uint64_t salt;
	uint32_t *bucket;
	struct node *node;
};

/* Keys come from prompts a client chooses and XXH64 is unkeyed: without a secret salt
 * before the mixing, crafted prompts could pile their blocks into one bucket. */
static uint32_t bucket_of(const struct ilb_prefix_lru *lru, uint64_t key)
{
	key ^= lru->salt;
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdull;
	key ^= key >> 33;
	key *= 0xc4ceb9fe1a85ec53ull;
	key ^= key >> 33;
	return (uint32_t)key & lru->mask;
}

struct ilb_prefix_lru *ilb_prefix_lru_new(uint32_t capacity)
{
	struct ilb_prefix_lru *lru;

	if (!capacity)
		capacity = ILB_PREFIX_DEFAULT_CAPACITY;
	if (capacity > MAX_CAPACITY) {
		errno = EINVAL;
		return NULL;
	}
	lru = calloc(1, sizeof(*lru));
	if (!lru)
		return NULL;
	lru->capacity = capacity;
	lru->newest = lru->oldest = NIL;
	if (getrandom(&lru->salt, sizeof(lru->salt), GRND_NONBLOCK) != sizeof(lru->salt))
		lru->salt = XXH64(&lru, sizeof(lru), (uint64_t)(uintptr_t)lru); /* ASLR is better than nothing */
	return lru;
}

void ilb_prefix_lru_free(struct ilb_prefix_lru *lru)
{
	if (!lru)
		return;
	free(lru->bucket);
	free(lru->node);
	free(lru);
}

void ilb_prefix_lru_clear(struct ilb_prefix_lru *lru)
{
	lru->count = 0;
	lru->newest = lru->oldest = NIL;
	if (lru->bucket)
		memset(lru->bucket, 0xff, ((size_t)lru->mask + 1) * sizeof(*lru->bucket));
}

uint32_t ilb_prefix_lru_count(const struct ilb_prefix_lru *lru)
{
	return lru->count;
}

uint32_t ilb_prefix_lru_capacity(const struct ilb_prefix_lru *lru)
{
	return lru->capacity;
}

static uint32_t find(const struct ilb_prefix_lru *lru, uint64_t key)
{
	if (!lru->bucket)
		return NIL;
	for (uint32_t i = lru->bucket[bucket_of(lru, key)]; i != NIL; i = lru->node[i].chain)
		if (lru->node[i].key == key)
			return i;
	return NIL;
}

bool ilb_prefix_lru_contains(const struct ilb_prefix_lru *lru, uint64_t hash)
{
	return find(lru, hash) != NIL;
}

/* Grows nodes and buckets together (doubling, so amortised O(1)); a pod that only ever sees
 * short prompts does not pay for the full capacity. Buckets >= nodes keeps chains short. */
static int grow(struct ilb_prefix_lru *lru)
{
	uint32_t alloc = lru->alloc ? lru->alloc * 2 : MIN_ALLOC, buckets = 1;
	struct node *node;
	uint32_t *bucket;

	if (alloc > lru->capacity)
		alloc = lru->capacity;
	while (buckets < alloc)
		buckets *= 2;
	node = realloc(lru->node, (size_t)alloc * sizeof(*node));
	if (!node)
		return -ENOMEM;
	lru->node = node;
	lru->alloc = alloc;
	if (buckets == lru->mask + 1 && lru->bucket)
		return 0;
	bucket = malloc((size_t)buckets * sizeof(*bucket));
	if (!bucket)
		return -ENOMEM; /* the nodes grew but stay unused until a later grow succeeds */
	memset(bucket, 0xff, (size_t)buckets * sizeof(*bucket));
	free(lru->bucket);
	lru->bucket = bucket;
	lru->mask = buckets - 1;
	for (uint32_t i = 0; i < lru->count; i++) {
		uint32_t b = bucket_of(lru, node[i].key);

		node[i].chain = bucket[b];
		bucket[b] = i;
	}
	return 0;
}

static void unlink_recency(struct ilb_prefix_lru *lru, uint32_t i)
{
	struct node *n = &lru->node[i];

	if (n->newer != NIL)
		lru->node[n->newer].older = n->older;
	else
		lru->newest = n->older;
	if (n->older != NIL)
		lru->node[n->older].newer = n->newer;
	else
		lru->oldest = n->newer;
}

static void push_newest(struct ilb_prefix_lru *lru, uint32_t i)
{
	struct node *n = &lru->node[i];

	n->newer = NIL;
	n->older = lru->newest;
	if (lru->newest != NIL)
		lru->node[lru->newest].newer = i;
	lru->newest = i;
	if (lru->oldest == NIL)
		lru->oldest = i;
}

static void unlink_chain(struct ilb_prefix_lru *lru, uint32_t i)
{
	uint32_t *link = &lru->bucket[bucket_of(lru, lru->node[i].key)];

	while (*link != i)
		link = &lru->node[*link].chain;
	*link = lru->node[i].chain;
}

int ilb_prefix_lru_insert(struct ilb_prefix_lru *lru, uint64_t hash)
{
	uint32_t i = find(lru, hash), b;
	int err;

	if (i != NIL) {
		if (lru->newest != i) {
			unlink_recency(lru, i);
			push_newest(lru, i);
		}
		return 0;
	}
	if (lru->count < lru->capacity) {
		if (lru->count == lru->alloc || !lru->bucket) {
			err = grow(lru);
			if (err)
				return err;
		}
		i = lru->count++;
	} else {
		i = lru->oldest;
		unlink_recency(lru, i);
		unlink_chain(lru, i);
	}
	b = bucket_of(lru, hash);
	lru->node[i].key = hash;
	lru->node[i].chain = lru->bucket[b];
	lru->bucket[b] = i;
	push_newest(lru, i);
	return 1;
}

size_t ilb_prefix_match(const struct ilb_prefix_lru *lru, const uint64_t *hash, size_t n)
{
	size_t i = 0;

	if (!lru)
		return 0;
	while (i < n && find(lru, hash[i]) != NIL)
		i++;
	return i;
}

int ilb_prefix_record(struct ilb_prefix_lru *lru, const uint64_t *hash, size_t n)
{
	/* last block first: eviction then takes a prefix's tail before its head, and a chain
	 * that lost its head would match nothing at all */
	for (size_t i = n; i-- > 0;) {
		int ret = ilb_prefix_lru_insert(lru, hash[i]);

		if (ret < 0)
			return ret;
	}
	return 0;
}
