/* tick.c - the agent's period (every scrape interval, and after a source changed): the
 * heartbeat, the reconciler (membership when the store changed; each backend's load into the
 * health array every time), and a new routing table for the L7 lane only when the objects
 * it is built from changed. Loads reach the lane through the health array, not the table. */
#include <stdio.h>
#include <string.h>
#include "agent.h"
#include "kern/l7_vips.h"
#include "l7/route.h"
#include "source/kube.h"
#include "store/store.h"

/* Configuration: rebuilt when the store or the reconciler's membership moved. */
static void update_routes(struct ilb_agent *a, uint64_t gen, bool membership)
{
	struct ilb_route_table *t = a->routes;
	int err;

	if (!t || membership || t->generation != gen) {
		t = ilb_route_build(a->store, &a->rec, a->vip.family ? &a->vip : NULL);
		if (!t)
			return; /* out of memory: the lane keeps its table, the next tick tries again */
		ilb_route_put(a->routes);
		a->routes = t;
		ilb_route_get(t);
		ilb_l7_set_table(a->l7, t);
	}
	if (membership || a->ticks % 20 == 0) {
		err = ilb_l7_vips_sync(&a->maps, a->nl, t, &a->rec);
		if (err)
			snprintf(a->last_error, sizeof(a->last_error), "L7 listeners: %s", strerror(-err));
	}
}

void ilb_agent_tick(struct ilb_agent *a)
{
	uint64_t gen = ilb_store_generation(a->store);
	/* until every source has listed, an empty store would withdraw what a restart adopted */
	bool membership = (gen != a->reconciled_generation || !a->synced) && (!a->kube || ilb_kube_synced(a->kube));
	int err;

	ilb_maps_heartbeat(&a->maps);
	err = ilb_reconcile(&a->rec, a->store, membership);
	if (err)
		snprintf(a->last_error, sizeof(a->last_error), "reconcile: %s", strerror(-err));
	if (membership) {
		a->reconciled_generation = gen;
		a->synced = true;
	}
	a->ticks++;
	if (a->l7)
		update_routes(a, gen, membership);
}
