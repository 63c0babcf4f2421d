/* kvcache.c - block pool with a hash-indexed prefix cache and LRU eviction.
 * Not thread-safe: the engine calls it under its own lock. */
#include <errno.h>
#include <stdlib.h>

#include "kvcache.h"

struct block {
	uint64_t hash;
	int refs;
	int hashed;		/* present in the hash index */
	int hnext;		/* next block in the same hash bucket */
	int prev, next;		/* LRU list of evictable blocks (refs == 0, hashed) */
};

struct kvcache {
	struct block *b;
	int n;
	int *free_stack;	/* unhashed, unreferenced blocks */
	int nfree;
	int lru_head, lru_tail;	/* head is evicted first */
	int nlru;
	int *buckets;
	uint32_t mask;
	int used;
};

struct kvcache *kv_new(int nblocks)
{
	struct kvcache *kv = calloc(1, sizeof(*kv));
	uint32_t nb = 1;

	if (!kv)
		return NULL;
	while (nb < 2u * (uint32_t)nblocks)
		nb <<= 1;
	kv->n = nblocks;
	kv->b = calloc(nblocks, sizeof(*kv->b));
	kv->free_stack = malloc(sizeof(int) * nblocks);
	kv->buckets = malloc(sizeof(int) * nb);
	if (!kv->b || !kv->free_stack || !kv->buckets) {
		kv_free_all(kv);
		return NULL;
	}
	kv->mask = nb - 1;
	for (uint32_t i = 0; i < nb; i++)
		kv->buckets[i] = -1;
	/* Pop order low ids first, purely so that dumps read naturally. */
	for (int i = 0; i < nblocks; i++)
		kv->free_stack[i] = nblocks - 1 - i;
	kv->nfree = nblocks;
	kv->lru_head = kv->lru_tail = -1;
	return kv;
}

void kv_free_all(struct kvcache *kv)
{
	if (!kv)
		return;
	free(kv->b);
	free(kv->free_stack);
	free(kv->buckets);
	free(kv);
}

static int lookup(const struct kvcache *kv, uint64_t h)
{
	for (int i = kv->buckets[h & kv->mask]; i >= 0; i = kv->b[i].hnext)
		if (kv->b[i].hash == h)
			return i;
	return -1;
}

static void index_add(struct kvcache *kv, int id, uint64_t h)
{
	uint32_t bk = h & kv->mask;
	kv->b[id].hash = h;
	kv->b[id].hashed = 1;
	kv->b[id].hnext = kv->buckets[bk];
	kv->buckets[bk] = id;
}

static void index_del(struct kvcache *kv, int id)
{
	int *pp = &kv->buckets[kv->b[id].hash & kv->mask];
	while (*pp >= 0 && *pp != id)
		pp = &kv->b[*pp].hnext;
	if (*pp == id)
		*pp = kv->b[id].hnext;
	kv->b[id].hashed = 0;
}

static void lru_del(struct kvcache *kv, int id)
{
	struct block *x = &kv->b[id];
	if (x->prev >= 0)
		kv->b[x->prev].next = x->next;
	else
		kv->lru_head = x->next;
	if (x->next >= 0)
		kv->b[x->next].prev = x->prev;
	else
		kv->lru_tail = x->prev;
	kv->nlru--;
}

static void lru_push(struct kvcache *kv, int id)
{
	struct block *x = &kv->b[id];
	x->prev = kv->lru_tail;
	x->next = -1;
	if (kv->lru_tail >= 0)
		kv->b[kv->lru_tail].next = id;
	else
		kv->lru_head = id;
	kv->lru_tail = id;
	kv->nlru++;
}

/* A block nobody holds: never-hashed ones first, then the least recently used cached one. */
static int take_block(struct kvcache *kv)
{
	int id;
	if (kv->nfree > 0) {
		id = kv->free_stack[--kv->nfree];
	} else {
		id = kv->lru_head;
		lru_del(kv, id);
		index_del(kv, id);
	}
	kv->b[id].refs = 1;
	kv->used++;
	return id;
}

int kv_alloc(struct kvcache *kv, const uint64_t *hashes, int nhash, int nblocks, int *ids, int *hit)
{
	int hits = 0, hits_idle = 0;

	if (nhash > nblocks)
		nhash = nblocks;
	while (hits < nhash) {
		int id = lookup(kv, hashes[hits]);
		if (id < 0)
			break;
		ids[hits] = id;
		if (kv->b[id].refs == 0)
			hits_idle++;
		hits++;
	}
	/* Shared blocks that sat in the LRU stop being evictable once taken. */
	if (nblocks - hits > kv->nfree + kv->nlru - hits_idle)
		return -ENOSPC;

	for (int i = 0; i < hits; i++) {
		struct block *x = &kv->b[ids[i]];
		if (x->refs++ == 0) {
			lru_del(kv, ids[i]);
			kv->used++;
		}
	}
	for (int i = hits; i < nblocks; i++) {
		ids[i] = take_block(kv);
		/* A later block of the chain may survive an evicted parent; keep one copy. */
		if (i < nhash && lookup(kv, hashes[i]) < 0)
			index_add(kv, ids[i], hashes[i]);
	}
	*hit = hits;
	return 0;
}

void kv_release(struct kvcache *kv, const int *ids, int nblocks)
{
	for (int i = nblocks - 1; i >= 0; i--) {
		struct block *x = &kv->b[ids[i]];
		if (--x->refs > 0)
			continue;
		kv->used--;
		if (x->hashed)
			lru_push(kv, ids[i]);
		else
			kv->free_stack[kv->nfree++] = ids[i];
	}
}

int kv_used(const struct kvcache *kv)
{
	return kv->used;
}

int kv_total(const struct kvcache *kv)
{
	return kv->n;
}
