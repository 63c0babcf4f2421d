/* reconcile.h - turns the store (pools, pods) and the scraped load into kernel state:
 * stable pool and backend ids, backend entries, ready sets and Maglev rings, VIPs. */
#ifndef ILB_RECONCILE_H
#define ILB_RECONCILE_H

#include <stdbool.h>
#include <stdint.h>
#include "inferlb.h"
#include "load/load.h"
#include "maps.h"
#include "store/store.h"

struct ilb_health;
struct ilb_netlink;
struct ilb_scraper;

struct ilb_backend_view {
	uint32_t id;
	uint32_t pool_id;
	char pod[ILB_NS_MAX + ILB_NAME_MAX]; /* "ns/name" */
	struct ilb_addr addr;
	uint16_t port; /* where requests and connections go */
	uint16_t metrics_port; /* where /metrics is scraped, 0 = port */
	uint8_t state; /* enum ilb_backend_state */
	bool resolved; /* next hop known */
	uint32_t score;
	struct ilb_pod_load load;
	uint64_t down_since_ns;
};

struct ilb_pool_view {
	bool in_use;
	char name[96]; /* "ns/name" */
	bool has_vip;
	struct vip_key vip;
	uint32_t flags; /* ILB_POOL_* */
	int ready, total;
	/* the Maglev ring of the active generation, as published: reading it back from the
	 * kernel costs ILB_MAGLEV_SIZE lookups (tens of ms) per pool and membership change */
	uint64_t ring_hash;
	bool ring_known;
};

struct ilb_reconciler {
	struct ilb_maps *maps;
	struct ilb_netlink *nl;
	struct ilb_scraper *scraper;
	struct ilb_health *health; /* where each backend's load is published for the L7 lane; NULL: nowhere */
	uint64_t stale_ns;
	uint64_t grace_ns; /* how long a removed backend's id stays reserved for its flows */
	uint64_t last_resolve_ns;
	struct ilb_pool_view pools[ILB_MAX_POOLS];
	struct ilb_backend_view *backends; /* ILB_MAX_BACKENDS, index = id */
	char (*drained)[ILB_NS_MAX + ILB_NAME_MAX];
	int n_drained;
	uint64_t changes; /* backend-set publications so far */
};

/* Reads back what a previous agent left in the maps, so ids stay the same. */
int ilb_reconciler_init(struct ilb_reconciler *r, struct ilb_maps *maps, struct ilb_netlink *nl,
			struct ilb_scraper *scraper, uint64_t stale_ns);
void ilb_reconciler_free(struct ilb_reconciler *r);
/* Brings the maps in line with the store; membership work only when `membership` is set,
 * loads (into the health array), scores and next hops every call. Returns 0 or the first -errno met (the rest still runs). */
int ilb_reconcile(struct ilb_reconciler *r, const struct ilb_store *store, bool membership);
int ilb_reconciler_drain(struct ilb_reconciler *r, const char *pod, bool drain);
int ilb_reconciler_find_pool(const struct ilb_reconciler *r, const char *name);

#endif
