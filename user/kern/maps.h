/* maps.h - the agent's hold on the kernel state: the pinned maps under the pin directory
 * (created on first start, adopted on every later one) and typed writers for them. */
#ifndef ILB_MAPS_H
#define ILB_MAPS_H

#include <stdbool.h>
#include <stdint.h>
#include "inferlb.h"

struct xdp_steer;

struct ilb_maps {
	char pin_dir[256];
	struct xdp_steer *skel; /* loaded once so that every map exists and is pinned */
	bool adopted; /* the maps were already pinned: a restart */
	int vips, pools, pool_backends, backends, backend_conns, maglev, conntrack, stats, heartbeat;
};

/* Mounts bpffs at /sys/fs/bpf when it is not, creates pin_dir and loads or adopts the maps. */
int ilb_maps_open(struct ilb_maps *m, const char *pin_dir);
void ilb_maps_close(struct ilb_maps *m);
/* Maps pinned for obj (opened with a pin root) whose shape differs from obj's: an agent of
 * another version pinned them, and loading obj would fail on them. Each is logged. */
struct bpf_object;
int ilb_maps_count_stale(struct bpf_object *obj);
/* True when the L4 lane's pinned maps under pin_dir are of another version's shape. */
bool ilb_maps_pins_stale(const char *pin_dir);
/* Removes every pin under pin_dir (the maps go when their last user does) and the directory. */
int ilb_maps_unpin(const char *pin_dir);

/* Writes a VIP and its address marker (the address alone, for the malformed-frame rules). */
int ilb_maps_vip_set(struct ilb_maps *m, const struct vip_key *key, const struct vip_value *val);
/* Removes a VIP; the marker goes when no other VIP uses the address. */
int ilb_maps_vip_del(struct ilb_maps *m, const struct vip_key *key);

int ilb_maps_backend_set(struct ilb_maps *m, uint32_t id, const struct backend *b);
int ilb_maps_backend_get(struct ilb_maps *m, uint32_t id, struct backend *b);
int64_t ilb_maps_backend_active(struct ilb_maps *m, uint32_t id);

/* Publishes a pool's backend set: writes ready ids and the Maglev ring (ILB_MAGLEV_SIZE ids,
 * or NULL to keep the ring empty) into the inactive generation, then flips active_gen. */
int ilb_maps_pool_publish(struct ilb_maps *m, uint32_t pool_id, uint32_t flags, const uint32_t *ready_ids,
			  int n_ready, const uint32_t *ring);
int ilb_maps_pool_get(struct ilb_maps *m, uint32_t pool_id, struct pool_value *out);
/* Reads the active generation's ready ids into ids (at most max). Returns the count. */
int ilb_maps_pool_ready(struct ilb_maps *m, uint32_t pool_id, uint32_t *ids, int max);
/* Reads the active ring into ring (ILB_MAGLEV_SIZE entries). */
int ilb_maps_pool_ring(struct ilb_maps *m, uint32_t pool_id, uint32_t *ring);
int ilb_maps_pool_clear(struct ilb_maps *m, uint32_t pool_id);

/* Stamps the heartbeat with CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns). */
int ilb_maps_heartbeat(struct ilb_maps *m);
/* Sums the per-CPU counters. */
int ilb_maps_stats(struct ilb_maps *m, uint64_t out[ILB_STAT_MAX]);
const char *ilb_stat_name(int idx);

uint64_t ilb_now_ns(void);

#endif
