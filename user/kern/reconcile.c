/* reconcile.c - the one place that writes membership into the kernel. Ids are stable:
 * a backend keeps its id while it exists and for a grace period after it leaves (its
 * established flows still name it in conntrack); a pool keeps its id by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <xxhash.h>
#include "log.h"
#include "maglev.h"
#include "neigh.h"
#include "reconcile.h"
#include "load/health.h"
#include "load/scrape.h"

#define RESOLVE_INTERVAL_NS 1000000000ull
#define MAX_DRAINED 256

static void pod_key(const struct ilb_pod *pod, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", pod->meta.ns, pod->meta.name);
}

int ilb_reconciler_init(struct ilb_reconciler *r, struct ilb_maps *maps, struct ilb_netlink *nl,
			struct ilb_scraper *scraper, uint64_t stale_ns)
{
	struct vip_key key, next;
	const struct vip_key *prev = NULL;

	memset(r, 0, sizeof(*r));
	r->maps = maps;
	r->nl = nl;
	r->scraper = scraper;
	r->stale_ns = stale_ns;
	r->grace_ns = 600ull * 1000000000ull;
	r->backends = calloc(ILB_MAX_BACKENDS, sizeof(*r->backends));
	r->drained = calloc(MAX_DRAINED, sizeof(*r->drained));
	if (!r->backends || !r->drained)
		return -ENOMEM;

	/* Adopt: pool names, backends and VIPs as the last agent left them. */
	for (uint32_t id = 1; id < ILB_MAX_POOLS; id++) {
		struct pool_value pv;

		if (ilb_maps_pool_get(maps, id, &pv) || !pv.name[0])
			continue;
		r->pools[id].in_use = true;
		snprintf(r->pools[id].name, sizeof(r->pools[id].name), "%s", pv.name);
		r->pools[id].flags = pv.flags;
	}
	for (uint32_t id = 1; id < ILB_MAX_BACKENDS; id++) {
		struct backend b;
		struct ilb_backend_view *v = &r->backends[id];

		if (ilb_maps_backend_get(maps, id, &b) || b.state == ILB_BACKEND_EMPTY)
			continue;
		v->id = id;
		v->pool_id = b.pool_id;
		v->addr.family = b.family;
		memcpy(v->addr.bytes, b.addr, 16);
		v->port = ntohs(b.port);
		v->state = b.state;
		v->score = b.load_score;
		v->resolved = b.dst_mac[0] | b.dst_mac[1] | b.dst_mac[2] | b.dst_mac[3] | b.dst_mac[4] | b.dst_mac[5];
	}
	while (bpf_map_get_next_key(maps->vips, prev, &next) == 0) {
		struct vip_value val;

		key = next;
		prev = &key;
		if (key.port == 0 || bpf_map_lookup_elem(maps->vips, &key, &val) || val.pool_id >= ILB_MAX_POOLS)
			continue;
		if (val.lane == ILB_LANE_L4) {
			r->pools[val.pool_id].has_vip = true;
			r->pools[val.pool_id].vip = key;
		}
	}
	return 0;
}

void ilb_reconciler_free(struct ilb_reconciler *r)
{
	free(r->backends);
	free(r->drained);
	r->backends = NULL;
	r->drained = NULL;
}

int ilb_reconciler_find_pool(const struct ilb_reconciler *r, const char *name)
{
	for (int id = 1; id < ILB_MAX_POOLS; id++)
		if (r->pools[id].in_use && !strcmp(r->pools[id].name, name))
			return id;
	return -ENOENT;
}

static int alloc_pool(struct ilb_reconciler *r, const char *name)
{
	for (int id = 1; id < ILB_MAX_POOLS; id++) {
		if (r->pools[id].in_use)
			continue;
		memset(&r->pools[id], 0, sizeof(r->pools[id]));
		r->pools[id].in_use = true;
		memcpy(r->pools[id].name, name, strnlen(name, sizeof(r->pools[id].name) - 1));
		return id;
	}
	return -ENOSPC;
}

static bool is_drained(const struct ilb_reconciler *r, const char *pod)
{
	for (int i = 0; i < r->n_drained; i++)
		if (!strcmp(r->drained[i], pod))
			return true;
	return false;
}

int ilb_reconciler_drain(struct ilb_reconciler *r, const char *pod, bool drain)
{
	bool found = false;

	for (int id = 1; id < ILB_MAX_BACKENDS; id++)
		if (r->backends[id].state != ILB_BACKEND_EMPTY && !strcmp(r->backends[id].pod, pod))
			found = true;
	if (!found)
		return -ENOENT;
	if (drain && !is_drained(r, pod)) {
		if (r->n_drained == MAX_DRAINED)
			return -ENOSPC;
		snprintf(r->drained[r->n_drained++], sizeof(r->drained[0]), "%s", pod);
	} else if (!drain) {
		for (int i = 0; i < r->n_drained; i++)
			if (!strcmp(r->drained[i], pod))
				memmove(&r->drained[i], &r->drained[i + 1], (--r->n_drained - i) * sizeof(r->drained[0]));
	}
	return 0;
}

static int find_backend(const struct ilb_reconciler *r, uint32_t pool_id, const struct ilb_addr *addr, uint16_t port)
{
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		const struct ilb_backend_view *v = &r->backends[id];

		if (v->state != ILB_BACKEND_EMPTY && v->pool_id == pool_id && v->port == port &&
		    v->addr.family == addr->family && !memcmp(v->addr.bytes, addr->bytes, 16))
			return id;
	}
	return -ENOENT;
}

static int alloc_backend(struct ilb_reconciler *r)
{
	for (int id = 1; id < ILB_MAX_BACKENDS; id++)
		if (r->backends[id].state == ILB_BACKEND_EMPTY)
			return id;
	return -ENOSPC;
}

static void format_identity(const struct ilb_backend_view *v, char *buf, size_t len)
{
	char ip[46];

	ilb_addr_format(&v->addr, ip, sizeof(ip));
	snprintf(buf, len, "%s:%u", ip, v->port);
}

/* Writes the backend entry when anything the kernel reads changed. */
static int write_backend(struct ilb_reconciler *r, struct ilb_backend_view *v, const struct ilb_nexthop *hop)
{
	struct backend b = { 0 }, cur;

	b.family = v->addr.family;
	b.state = v->state;
	b.port = htons(v->port);
	memcpy(b.addr, v->addr.bytes, 16);
	b.load_score = v->score;
	b.pool_id = v->pool_id;
	if (hop) {
		b.ifindex = hop->ifindex;
		memcpy(b.src_mac, hop->src_mac, 6);
		memcpy(b.dst_mac, hop->dst_mac, 6);
	} else if (!ilb_maps_backend_get(r->maps, v->id, &cur)) {
		b.ifindex = cur.ifindex;
		memcpy(b.src_mac, cur.src_mac, 6);
		memcpy(b.dst_mac, cur.dst_mac, 6);
	}
	if (!ilb_maps_backend_get(r->maps, v->id, &cur) && !memcmp(&cur, &b, sizeof(b)))
		return 0;
	return ilb_maps_backend_set(r->maps, v->id, &b);
}

/* Publishes a pool's ready set and ring when they differ from what the kernel has. */
static int publish_pool(struct ilb_reconciler *r, uint32_t pool_id)
{
	static uint32_t ring[ILB_MAGLEV_SIZE], cur_ring[ILB_MAGLEV_SIZE];
	uint32_t ready[ILB_MAX_POOL_BACKENDS], cur[ILB_MAX_POOL_BACKENDS];
	struct ilb_maglev_backend members[ILB_MAX_POOL_BACKENDS];
	char identities[ILB_MAX_POOL_BACKENDS][56];
	struct ilb_pool_view *pv = &r->pools[pool_id];
	struct pool_value kernel;
	int n_ready = 0, n_members = 0, n_cur, err;
	uint64_t ring_hash;

	for (uint32_t id = 1; id < ILB_MAX_BACKENDS; id++) {
		struct ilb_backend_view *v = &r->backends[id];

		if (v->state == ILB_BACKEND_EMPTY || v->pool_id != pool_id || v->state == ILB_BACKEND_DOWN)
			continue;
		if (n_members == ILB_MAX_POOL_BACKENDS)
			break;
		format_identity(v, identities[n_members], sizeof(identities[0]));
		members[n_members] = (struct ilb_maglev_backend){ .id = id, .identity = identities[n_members] };
		n_members++;
		if (v->state == ILB_BACKEND_READY && v->resolved)
			ready[n_ready++] = id;
	}
	pv->ready = n_ready;
	pv->total = n_members;
	err = ilb_maglev_build(members, n_members, ring);
	if (err)
		return err;
	ring_hash = XXH64(ring, sizeof(ring), 0);
	n_cur = ilb_maps_pool_ready(r->maps, pool_id, cur, ILB_MAX_POOL_BACKENDS);
	/* The ring is compared with the one this agent published; only an adopted pool's is
	 * read back from the kernel, once. */
	if (!ilb_maps_pool_get(r->maps, pool_id, &kernel) && !strcmp(kernel.name, pv->name) &&
	    kernel.flags == pv->flags && n_cur == n_ready && !memcmp(cur, ready, n_ready * sizeof(*ready)) &&
	    (pv->ring_known ? pv->ring_hash == ring_hash
			    : !ilb_maps_pool_ring(r->maps, pool_id, cur_ring) && !memcmp(cur_ring, ring, sizeof(ring)))) {
		pv->ring_hash = ring_hash;
		pv->ring_known = true;
		return 0;
	}
	err = ilb_maps_pool_publish(r->maps, pool_id, pv->flags, ready, n_ready, ring);
	if (!err) {
		pv->ring_hash = ring_hash;
		pv->ring_known = true;
		/* The name rides along so that a restarted agent finds this id again. */
		if (!ilb_maps_pool_get(r->maps, pool_id, &kernel)) {
			snprintf(kernel.name, sizeof(kernel.name), "%s", pv->name);
			bpf_map_update_elem(r->maps->pools, &pool_id, &kernel, BPF_ANY);
		}
		r->changes++;
		pr_debug("pool %s: %d ready of %d", pv->name, n_ready, n_members);
	}
	return err;
}

static void vip_key_of(const struct ilb_pool *pool, struct vip_key *k)
{
	memset(k, 0, sizeof(*k));
	k->family = pool->vip.family;
	k->proto = pool->vip_proto ? pool->vip_proto : IPPROTO_TCP;
	k->port = htons(pool->vip_port);
	memcpy(k->addr, pool->vip.bytes, 16);
}

static int sync_vip(struct ilb_reconciler *r, uint32_t pool_id, const struct ilb_pool *pool)
{
	struct ilb_pool_view *pv = &r->pools[pool_id];
	struct vip_key k;
	struct vip_value val = { .pool_id = pool_id, .lane = ILB_LANE_L4, .flags = 0 };
	int err = 0;

	if (pool && pool->has_vip) {
		vip_key_of(pool, &k);
		if (pv->has_vip && !memcmp(&pv->vip, &k, sizeof(k)))
			return 0;
		if (pv->has_vip)
			ilb_maps_vip_del(r->maps, &pv->vip);
		err = ilb_maps_vip_set(r->maps, &k, &val);
		if (!err) {
			pv->has_vip = true;
			pv->vip = k;
		}
		return err;
	}
	if (pv->has_vip) {
		err = ilb_maps_vip_del(r->maps, &pv->vip);
		pv->has_vip = false;
	}
	return err;
}

/* Membership: pools and their endpoints from the store. */
static int sync_membership(struct ilb_reconciler *r, const struct ilb_store *store, uint64_t now)
{
	const struct ilb_object *const *pools;
	bool seen_pool[ILB_MAX_POOLS] = { false };
	bool *seen_backend = calloc(ILB_MAX_BACKENDS, sizeof(bool));
	int n_pools = ilb_store_list(store, ILB_KIND_POOL, &pools), err = 0;
	struct ilb_scrape_target *targets = NULL;
	int n_targets = 0, cap_targets = 0;

	if (!seen_backend)
		return -ENOMEM;
	for (int i = 0; i < n_pools; i++) {
		const struct ilb_pool *pool = &pools[i]->pool;
		struct ilb_endpoint *eps = NULL;
		char name[ILB_NS_MAX + ILB_NAME_MAX];
		int pool_id, n;

		snprintf(name, sizeof(name), "%s/%s", pool->meta.ns, pool->meta.name);
		name[sizeof(r->pools[0].name) - 1] = '\0'; /* the kernel keeps 95 bytes of it */
		pool_id = ilb_reconciler_find_pool(r, name);
		if (pool_id < 0)
			pool_id = alloc_pool(r, name);
		if (pool_id < 0) {
			pr_warn("pool %s: no free pool id (at most %d pools)", name, ILB_MAX_POOLS - 1);
			err = err ?: pool_id;
			continue;
		}
		seen_pool[pool_id] = true;
		r->pools[pool_id].flags = pool->failure_mode == ILB_FAIL_OPEN ? ILB_POOL_FAIL_OPEN : 0;
		n = ilb_pool_endpoints(store, pool, &eps);
		for (int e = 0; e < n; e++) {
			int id = find_backend(r, pool_id, &eps[e].addr, eps[e].traffic_port);
			struct ilb_backend_view *v;

			if (id < 0)
				id = alloc_backend(r);
			if (id < 0) {
				err = err ?: id;
				break;
			}
			v = &r->backends[id];
			if (v->state == ILB_BACKEND_EMPTY) {
				memset(v, 0, sizeof(*v));
				v->id = id;
				v->pool_id = pool_id;
				v->addr = eps[e].addr;
				v->port = eps[e].traffic_port;
				v->score = ILB_SCORE_MAX;
			}
			pod_key(eps[e].pod, v->pod, sizeof(v->pod));
			v->metrics_port = eps[e].port;
			v->state = is_drained(r, v->pod) ? ILB_BACKEND_DRAINING : ILB_BACKEND_READY;
			v->down_since_ns = 0;
			seen_backend[id] = true;

			if (n_targets == cap_targets) {
				cap_targets = cap_targets ? cap_targets * 2 : 16;
				targets = realloc(targets, cap_targets * sizeof(*targets));
			}
			struct ilb_scrape_target *t = &targets[n_targets++];
			char ip[64];

			memset(t, 0, sizeof(*t));
			ilb_addr_format(&v->addr, ip, sizeof(ip));
			snprintf(t->key, sizeof(t->key), "%u", id);
			snprintf(t->url, sizeof(t->url), v->addr.family == 6 ? "http://[%s]:%u/metrics" : "http://%s:%u/metrics",
				 ip, v->metrics_port ? v->metrics_port : v->port);
			t->engine = ilb_engine_parse(eps[e].engine);
		}
		free(eps);
		int vip_err = sync_vip(r, pool_id, pool);

		err = err ?: vip_err;
	}
	for (int id = 1; id < ILB_MAX_POOLS; id++) {
		if (!r->pools[id].in_use || seen_pool[id])
			continue;
		pr_info("pool %s removed", r->pools[id].name);
		sync_vip(r, id, NULL);
		ilb_maps_pool_clear(r->maps, id);
		memset(&r->pools[id], 0, sizeof(r->pools[id]));
	}
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		struct ilb_backend_view *v = &r->backends[id];

		if (v->state == ILB_BACKEND_EMPTY || seen_backend[id])
			continue;
		if (v->state != ILB_BACKEND_DOWN) {
			/* Its flows keep going through conntrack; new ones go elsewhere. */
			v->state = ILB_BACKEND_DOWN;
			v->down_since_ns = now;
			pr_info("backend %u (%s) left its pool", id, v->pod);
		} else if (v->down_since_ns && now - v->down_since_ns > r->grace_ns) {
			struct backend empty = { 0 };

			ilb_maps_backend_set(r->maps, id, &empty);
			memset(v, 0, sizeof(*v));
		}
	}
	if (r->scraper)
		ilb_scraper_set_targets(r->scraper, targets, n_targets);
	free(targets);
	free(seen_backend);
	return err;
}

int ilb_reconcile(struct ilb_reconciler *r, const struct ilb_store *store, bool membership)
{
	uint64_t now = ilb_now_ns();
	bool resolve = membership || now - r->last_resolve_ns > RESOLVE_INTERVAL_NS;
	bool dirty[ILB_MAX_POOLS] = { false };
	int err = 0;

	if (membership) {
		err = sync_membership(r, store, now);
		for (int id = 1; id < ILB_MAX_POOLS; id++)
			dirty[id] = r->pools[id].in_use;
	}
	if (resolve)
		r->last_resolve_ns = now;

	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		struct ilb_backend_view *v = &r->backends[id];
		struct ilb_nexthop hop;
		char key[16];
		bool was_resolved = v->resolved;
		int rc;

		if (v->state == ILB_BACKEND_EMPTY)
			continue;
		snprintf(key, sizeof(key), "%d", id);
		if (r->scraper && ilb_scraper_get(r->scraper, key, &v->load) == 0)
			v->score = ilb_load_score(&v->load, now, r->stale_ns);
		else
			v->score = ILB_SCORE_MAX;
		ilb_health_store(r->health, id, &v->load);
		/* An unresolved next hop is asked again every call (each scrape period): the
		 * kick's ARP/ND answer takes a millisecond, the full pass a second. */
		if ((resolve || !v->resolved) && v->state != ILB_BACKEND_DOWN && r->nl) {
			rc = ilb_nexthop_resolve(r->nl, &v->addr, &hop);
			v->resolved = rc == 0;
			rc = write_backend(r, v, rc == 0 || rc == -EAGAIN ? &hop : NULL);
		} else {
			rc = write_backend(r, v, NULL);
		}
		err = err ?: rc;
		if (was_resolved != v->resolved && v->pool_id < ILB_MAX_POOLS)
			dirty[v->pool_id] = true;
	}
	for (int id = 1; id < ILB_MAX_POOLS; id++) {
		if (!dirty[id] || !r->pools[id].in_use)
			continue;
		int rc = publish_pool(r, id);

		err = err ?: rc;
	}
	return err;
}
