/* l7_vips.c - L7 listeners into `vips` and local routes. */
#include <errno.h>
#include <ifaddrs.h>
#include <stdbool.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "l7_vips.h"
#include "log.h"
#include "maps.h"
#include "neigh.h"
#include "reconcile.h"
#include "l7/route.h"

/* An address of one of the node's interfaces already has its local route: leave it be. */
static bool addr_is_assigned(const struct ilb_addr *a)
{
	struct ifaddrs *list, *i;
	bool found = false;

	if (getifaddrs(&list))
		return false;
	for (i = list; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, "lo") == 0)
			continue;
		if (i->ifa_addr->sa_family == AF_INET && a->family == 4)
			found = !memcmp(&((struct sockaddr_in *)i->ifa_addr)->sin_addr, a->bytes, 4);
		else if (i->ifa_addr->sa_family == AF_INET6 && a->family == 6)
			found = !memcmp(&((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr, a->bytes, 16);
	}
	freeifaddrs(list);
	return found;
}

static void addr_of_key(const struct vip_key *k, struct ilb_addr *a)
{
	a->family = k->family;
	memcpy(a->bytes, k->addr, 16);
}

/* L7 entries now in the map, at most max. */
static int current_l7(struct ilb_maps *m, struct vip_key *keys, int max)
{
	struct vip_key key, next;
	const struct vip_key *prev = NULL;
	int n = 0;

	while (n < max && bpf_map_get_next_key(m->vips, prev, &next) == 0) {
		struct vip_value val;

		key = next;
		prev = &key;
		if (key.port && !bpf_map_lookup_elem(m->vips, &key, &val) && val.lane == ILB_LANE_L7)
			keys[n++] = key;
	}
	return n;
}

int ilb_l7_vips_sync(struct ilb_maps *m, struct ilb_netlink *nl, const struct ilb_route_table *t,
		     const struct ilb_reconciler *rec)
{
	struct vip_key old[ILB_MAX_VIPS], want[ILB_MAX_VIPS];
	int n_old = current_l7(m, old, ILB_MAX_VIPS), n_want = 0, err = 0;

	for (int i = 0; i < t->n_listeners && n_want < ILB_MAX_VIPS; i++) {
		const struct ilb_rt_listener *l = &t->listeners[i];
		struct vip_key *k = &want[n_want++];
		struct vip_value val = { .lane = ILB_LANE_L7 };
		struct vip_value cur;
		int pool = l->fail_open_pool >= 0 ? ilb_reconciler_find_pool(rec, t->pools[l->fail_open_pool].name) : -1;

		memset(k, 0, sizeof(*k));
		k->family = l->addr.family;
		k->proto = IPPROTO_TCP;
		k->port = htons(l->port);
		memcpy(k->addr, l->addr.bytes, 16);
		val.pool_id = pool > 0 ? (uint32_t)pool : 0;
		if (!bpf_map_lookup_elem(m->vips, k, &cur) && !memcmp(&cur, &val, sizeof(val)))
			continue;
		int rc = ilb_maps_vip_set(m, k, &val);

		if (!rc && nl && !addr_is_assigned(&l->addr)) {
			rc = ilb_netlink_local_route(nl, &l->addr, true);
			if (rc)
				pr_warn("l7: local route for the gateway address: %s", strerror(-rc));
		}
		err = err ?: rc;
	}
	for (int i = 0; i < n_old; i++) {
		bool keep = false, addr_used = false;

		for (int j = 0; j < n_want; j++) {
			keep |= !memcmp(&old[i], &want[j], sizeof(old[i]));
			addr_used |= !memcmp(old[i].addr, want[j].addr, 16);
		}
		if (keep)
			continue;
		ilb_maps_vip_del(m, &old[i]);
		if (!addr_used && nl) {
			struct ilb_addr a;

			addr_of_key(&old[i], &a);
			if (!addr_is_assigned(&a))
				ilb_netlink_local_route(nl, &a, false);
		}
	}
	return err;
}

void ilb_l7_vips_clear(struct ilb_maps *m, struct ilb_netlink *nl)
{
	struct vip_key keys[ILB_MAX_VIPS];
	int n = current_l7(m, keys, ILB_MAX_VIPS);

	for (int i = 0; i < n; i++) {
		struct ilb_addr a;

		ilb_maps_vip_del(m, &keys[i]);
		addr_of_key(&keys[i], &a);
		if (nl && !addr_is_assigned(&a))
			ilb_netlink_local_route(nl, &a, false);
	}
}

void ilb_l7_vips_clear_pinned(const char *pin_dir, struct ilb_netlink *nl)
{
	struct ilb_maps m = { 0 };
	char path[320];

	snprintf(path, sizeof(path), "%s/vips", pin_dir);
	m.vips = bpf_obj_get(path);
	if (m.vips < 0)
		return;
	ilb_l7_vips_clear(&m, nl);
	close(m.vips);
}
