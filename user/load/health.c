/* health.c - the per-backend load array: seqlock slots written by the agent's loop and
 * copied whole by the L7 thread. */
#include <stdlib.h>
#include <string.h>
#include "health.h"

struct ilb_health *ilb_health_new(void)
{
	return calloc(1, sizeof(struct ilb_health));
}

void ilb_health_free(struct ilb_health *h)
{
	free(h);
}

const struct ilb_health_slot *ilb_health_slot(const struct ilb_health *h, uint32_t id)
{
	return h && id < ILB_MAX_BACKENDS ? &h->slot[id] : NULL;
}

void ilb_health_store(struct ilb_health *h, uint32_t id, const struct ilb_pod_load *load)
{
	struct ilb_health_slot *s;
	unsigned seq;

	if (!h || id >= ILB_MAX_BACKENDS)
		return;
	s = &h->slot[id];
	seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
	atomic_store_explicit(&s->seq, seq + 1, memory_order_relaxed);
	/* the odd count is visible before any byte of the new load */
	atomic_thread_fence(memory_order_release);
	memcpy(&s->load, load, sizeof(s->load));
	atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

bool ilb_health_read(const struct ilb_health_slot *slot, struct ilb_pod_load *out)
{
	unsigned before, after;

	do {
		before = atomic_load_explicit(&slot->seq, memory_order_acquire);
		memcpy(out, &slot->load, sizeof(*out));
		/* the copy is done before the count is read again */
		atomic_thread_fence(memory_order_acquire);
		after = atomic_load_explicit(&slot->seq, memory_order_relaxed);
	} while ((before & 1) || before != after);
	return out->scraped_ns != 0;
}
