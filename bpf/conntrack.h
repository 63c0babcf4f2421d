/* This file contains the conntrack rules shared by xdp_steer and tc_reverse_nat:
 * how a flow's two entries are written, and how a backend's active count is released
 * exactly once when either side sends FIN or RST. */
#ifndef ILB_BPF_CONNTRACK_H
#define ILB_BPF_CONNTRACK_H

#include "maps.h"
#include "parse.h"

static __always_inline void flow_key_from_packet(const struct packet *p, struct flow_key *k)
{
	k->family = p->family;
	k->proto = p->proto;
	k->sport = *p->sport;
	k->dport = *p->dport;
	k->pad = 0;
	packet_addr(p, false, k->saddr);
	packet_addr(p, true, k->daddr);
}

/* Releases the backend's active connection once, whichever side closes first. */
static __always_inline void flow_close(struct flow_value *fv)
{
	__u32 old;

	if (fv->flags & ILB_FLOW_CLOSED)
		return;
	old = __sync_fetch_and_or(&fv->flags, ILB_FLOW_CLOSED);
	if ((old & ILB_FLOW_CLOSED) || !(old & ILB_FLOW_COUNTED))
		return;
	__u32 id = fv->backend_id;
	struct backend_conns *bc = bpf_map_lookup_elem(&backend_conns, &id);

	if (bc)
		__sync_fetch_and_add(&bc->active, -1);
	stat_inc(ILB_STAT_FLOW_CLOSED);
}

/* Writes the forward entry (client -> VIP) and the reply entry (pod -> client) of a flow
 * just given to backend `id`. Returns 0 or the map's -errno. */
static __always_inline long flow_create(const struct flow_key *fwd, const struct backend *b,
						     __u32 id, __u32 pool_id, bool counted, __u64 now)
{
	struct flow_value fv = {
		.backend_id = id,
		.flags = counted ? ILB_FLOW_COUNTED : 0,
		.last_seen_ns = now,
		.pool_id = pool_id,
	};
	struct flow_key rev = {
		.family = fwd->family,
		.proto = fwd->proto,
		.sport = b->port,
		.dport = fwd->sport,
	};
	struct flow_value rv = {
		.backend_id = id,
		.flags = ILB_FLOW_REPLY,
		.last_seen_ns = now,
		.vip_port = fwd->dport,
		.pool_id = pool_id,
	};

	__builtin_memcpy(rev.saddr, b->addr, 16);
	__builtin_memcpy(rev.daddr, fwd->saddr, 16);
	__builtin_memcpy(rv.vip_addr, fwd->daddr, 16);
	__builtin_memcpy(fv.vip_addr, fwd->daddr, 16);
	fv.vip_port = fwd->dport;
	bpf_map_update_elem(&conntrack, &rev, &rv, BPF_ANY);
	return bpf_map_update_elem(&conntrack, fwd, &fv, BPF_ANY);
}

#endif
