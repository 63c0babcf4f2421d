/* health.h - each backend's latest load, by backend id, apart from the routing table: the
 * agent writes a slot in place as scrapes land, the L7 thread copies it whole when it picks.
 * A slot is a seqlock (one writer, readers retry a copy the writer overlapped), so a reader
 * never sees half of one scrape and half of the next, and the table need not be rebuilt to
 * carry fresh loads. */
#ifndef ILB_HEALTH_H
#define ILB_HEALTH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "inferlb.h"
#include "load.h"

struct ilb_health_slot {
	atomic_uint seq; /* odd while the writer is copying */
	struct ilb_pod_load load;
};

struct ilb_health {
	struct ilb_health_slot slot[ILB_MAX_BACKENDS]; /* index = backend id */
};

/* Zeroed (every slot never scraped); NULL on allocation failure. */
struct ilb_health *ilb_health_new(void);
void ilb_health_free(struct ilb_health *h);
/* One writer only (the agent's loop). Ids out of range are ignored. */
void ilb_health_store(struct ilb_health *h, uint32_t id, const struct ilb_pod_load *load);
/* Copies the slot's load into *out whole; false when never scraped (scraped_ns 0). */
bool ilb_health_read(const struct ilb_health_slot *slot, struct ilb_pod_load *out);
/* The slot of a backend id, NULL without a health array or out of range. */
const struct ilb_health_slot *ilb_health_slot(const struct ilb_health *h, uint32_t id);

#endif
