/* neigh.h - the next hop of a backend, from the kernel's routing and neighbour tables
 * over netlink (libmnl): egress interface, its MAC, and the neighbour's MAC. */
#ifndef ILB_NEIGH_H
#define ILB_NEIGH_H

#include <stdbool.h>
#include <stdint.h>
#include "store/store.h"

struct ilb_nexthop {
	uint32_t ifindex;
	uint8_t src_mac[6];
	uint8_t dst_mac[6]; /* all zero while unresolved */
};

struct ilb_netlink;

struct ilb_netlink *ilb_netlink_open(void);
void ilb_netlink_close(struct ilb_netlink *nl);
/* Resolves dst; when the neighbour is not known yet, asks the kernel to resolve it and
 * returns -EAGAIN (with ifindex and src_mac filled). */
int ilb_nexthop_resolve(struct ilb_netlink *nl, const struct ilb_addr *dst, struct ilb_nexthop *out);

/* Adds (or removes) a local route for addr on lo, so that connections to it are delivered
 * on this node, where sk_lookup hands them to the agent (the L7 VIPs). */
int ilb_netlink_local_route(struct ilb_netlink *nl, const struct ilb_addr *addr, bool add);

#endif
