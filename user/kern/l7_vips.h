/* l7_vips.h - the L7 listeners into kernel state: each gateway address and port becomes a
 * `vips` entry of the L7 lane (with the pool xdp_steer falls back to without the agent),
 * and each address a local route, so that sk_lookup sees its connections. */
#ifndef ILB_L7_VIPS_H
#define ILB_L7_VIPS_H

struct ilb_maps;
struct ilb_netlink;
struct ilb_reconciler;
struct ilb_route_table;

/* Brings `vips` (L7 entries) and the local routes in line with the table's listeners. */
int ilb_l7_vips_sync(struct ilb_maps *m, struct ilb_netlink *nl, const struct ilb_route_table *t,
		     const struct ilb_reconciler *rec);
/* Removes every L7 entry and its route (--cleanup, SIGTERM without --keep). */
void ilb_l7_vips_clear(struct ilb_maps *m, struct ilb_netlink *nl);

/* The same from the pinned `vips` map alone (--cleanup, with no agent state). */
void ilb_l7_vips_clear_pinned(const char *pin_dir, struct ilb_netlink *nl);

#endif
