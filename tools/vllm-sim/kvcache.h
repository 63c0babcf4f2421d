/* kvcache.h - the paged KV cache: a pool of fixed-size blocks and a prefix cache
 * over block hashes. Freed blocks that hold a hashed prefix stay reusable until evicted (LRU). */
#ifndef VLLM_SIM_KVCACHE_H
#define VLLM_SIM_KVCACHE_H

#include <stdint.h>

struct kvcache;

struct kvcache *kv_new(int nblocks);
void kv_free_all(struct kvcache *kv);

/* Takes nblocks blocks for one sequence. The first nhash of them cover full prompt
 * blocks with the given chain hashes; a leading run that is cached is shared. Fills
 * ids[nblocks] and *hit with the number of shared blocks. -ENOSPC when the pool
 * cannot hold the sequence now. */
int kv_alloc(struct kvcache *kv, const uint64_t *hashes, int nhash, int nblocks, int *ids, int *hit);

/* Gives a sequence's blocks back; hashed ones become evictable, last block first
 * so that shared prefixes outlive the tails that hang off them. */
void kv_release(struct kvcache *kv, const int *ids, int nblocks);

/* Blocks held by running sequences. */
int kv_used(const struct kvcache *kv);
int kv_total(const struct kvcache *kv);

#endif
