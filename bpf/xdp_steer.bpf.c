/* xdp_steer - the L4 lane: steers each new connection to a VIP to the less loaded of two
 * sampled backends, keeps it there through conntrack (Maglev when the entry is gone),
 * rewrites the destination and sends the frame out of the backend's interface.
 *
 * Malformed frames (counted by reason in `stats`):
 *   truncated Ethernet/VLAN/IP header, not IP    -> XDP_PASS (the stack validates and drops)
 *   to a VIP address: bad IHL, fragment, IPv6 extension header, truncated TCP/UDP
 *                                                -> XDP_DROP (nothing safe to steer by)
 *   to a VIP address: IPv4 options               -> options skipped, steered
 *   anything not for a VIP                       -> XDP_PASS untouched */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "inferlb.h"
#include "maps.h"
#include "parse.h"
#include "csum.h"
#include "nat.h"
#include "conntrack.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";


static __always_inline bool is_vip_addr(const struct packet *p)
{
	struct vip_key k = { .family = p->family };

	packet_addr(p, true, k.addr);
	return bpf_map_lookup_elem(&vips, &k) != NULL;
}

static __always_inline __u64 backend_cost(__u32 id, const struct backend *b)
{
	struct backend_conns *bc = bpf_map_lookup_elem(&backend_conns, &id);
	__s64 active = bc ? bc->active : 0;

	if (active < 0)
		active = 0;
	return (__u64)b->load_score + (__u64)active * ILB_CONN_COST;
}

static __always_inline bool backend_ready(__u32 id, struct backend **out)
{
	struct backend *b = bpf_map_lookup_elem(&backends, &id);

	*out = b;
	return b && b->state == ILB_BACKEND_READY;
}

/* The flow's Maglev slot in the pool's active ring: 0 when the ring is empty. */
static __always_inline __u32 maglev_lookup(__u32 pool_id, const struct pool_value *pool, const struct flow_key *k)
{
	__u32 h = ilb_flow_hash(k->saddr, k->sport, k->dport, k->proto);
	__u32 slot = ILB_MAGLEV_SLOT(pool_id, pool->active_gen & 1, h % ILB_MAGLEV_SIZE);
	__u32 *id = bpf_map_lookup_elem(&maglev, &slot);

	return id ? *id : 0; /* id 0 is never handed out */
}

/* Power of two choices for a new flow: the Maglev candidate and a random other ready
 * backend; the cheaper wins (see ILB_P2C_MARGIN). Returns the id, or -1 with no ready one. */
static __always_inline int pick_new(__u32 pool_id, const struct pool_value *pool, const struct flow_key *k)
{
	__u32 gen = pool->active_gen & 1;
	__u32 n = pool->backend_count[gen];
	__u32 first = maglev_lookup(pool_id, pool, k);
	__u32 i, slot, *second;
	struct backend *b1, *b2;
	bool ok1, ok2;

	if (n == 0)
		return -1;
	if (n > ILB_MAX_POOL_BACKENDS)
		n = ILB_MAX_POOL_BACKENDS;
	i = bpf_get_prandom_u32() % n;
	slot = ILB_POOL_SLOT(pool_id, gen, i);
	second = bpf_map_lookup_elem(&pool_backends, &slot);
	if (second && *second == first && n > 1) {
		i = i + 1 < n ? i + 1 : 0;
		slot = ILB_POOL_SLOT(pool_id, gen, i);
		second = bpf_map_lookup_elem(&pool_backends, &slot);
	}
	ok1 = first && backend_ready(first, &b1);
	ok2 = second && backend_ready(*second, &b2);
	if (ok1 && ok2)
		return backend_cost(*second, b2) + ILB_P2C_MARGIN < backend_cost(first, b1) ? (int)*second : (int)first;
	if (ok1)
		return first;
	if (ok2)
		return *second;
	return -1;
}

static __always_inline int pick_maglev(__u32 pool_id, const struct pool_value *pool, const struct flow_key *k)
{
	__u32 id = maglev_lookup(pool_id, pool, k);

	return id ? (int)id : -1;
}

/* Decides a frame that parse_frame could not fully parse. */
static __always_inline int verdict_malformed(const struct packet *p, enum parse_result r)
{
	switch (r) {
	case PARSE_NOT_IP:
		stat_inc(ILB_STAT_PASS_NOT_IP);
		return XDP_PASS;
	case PARSE_L3_TRUNCATED:
		stat_inc(ILB_STAT_PASS_TRUNCATED);
		return XDP_PASS;
	default:
		break;
	}
	if (!is_vip_addr(p)) {
		stat_inc(ILB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}
	switch (r) {
	case PARSE_BAD_IHL:
		stat_inc(ILB_STAT_DROP_BAD_IHL);
		return XDP_DROP;
	case PARSE_FRAGMENT:
		stat_inc(ILB_STAT_DROP_FRAGMENT);
		return XDP_DROP;
	case PARSE_IPV6_EXT:
		stat_inc(ILB_STAT_DROP_IPV6_EXT);
		return XDP_DROP;
	case PARSE_L4_TRUNCATED:
		stat_inc(ILB_STAT_DROP_TRUNCATED);
		return XDP_DROP;
	default: /* ICMP to a VIP address: the stack answers or drops it */
		stat_inc(ILB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}
}

static __always_inline bool agent_alive(void)
{
	__u32 zero = 0;
	__u64 *beat = bpf_map_lookup_elem(&heartbeat, &zero);

	return beat && *beat && bpf_ktime_get_ns() - *beat < ILB_HEARTBEAT_TIMEOUT_NS;
}

SEC("xdp")
int xdp_steer(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct packet p = {};
	struct vip_key vk = {};
	struct flow_key fk;
	struct vip_value *vip;
	struct pool_value *pool;
	struct flow_value *fv;
	struct backend *b;
	enum parse_result r;
	__u64 now;
	__u32 id, pool_id;
	int picked;

	stat_inc(ILB_STAT_RX);
	r = parse_frame(data, data_end, &p);
	if (r != PARSE_OK)
		return verdict_malformed(&p, r);

	vk.family = p.family;
	vk.proto = p.proto;
	vk.port = *p.dport;
	packet_addr(&p, true, vk.addr);
	vip = bpf_map_lookup_elem(&vips, &vk);
	if (!vip) {
		stat_inc(ILB_STAT_PASS_NOT_VIP);
		return XDP_PASS;
	}
	pool_id = vip->pool_id;
	pool = bpf_map_lookup_elem(&pools, &pool_id);
	if (!pool) {
		stat_inc(ILB_STAT_DROP_NO_BACKEND);
		return XDP_DROP;
	}
	if (p.ip_options)
		stat_inc(ILB_STAT_IPV4_OPTIONS);

	flow_key_from_packet(&p, &fk);
	now = bpf_ktime_get_ns();
	bool syn = p.tcp && (p.tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	fv = bpf_map_lookup_elem(&conntrack, &fk);
	if (vip->lane == ILB_LANE_L7 && (!fv || (syn && (fv->flags & ILB_FLOW_CLOSED)))) {
		/* A live agent takes L7 connections through sk_lookup; without it the pool's
		 * failureMode decides: FailOpen steers here as L4, FailClose lets the stack refuse.
		 * Flows steered while the agent was gone keep their pod when it returns. */
		if (agent_alive()) {
			stat_inc(ILB_STAT_PASS_L7);
			return XDP_PASS;
		}
		if (!(pool->flags & ILB_POOL_FAIL_OPEN)) {
			stat_inc(ILB_STAT_FAIL_CLOSE);
			return XDP_PASS;
		}
		stat_inc(ILB_STAT_L7_FAIL_OPEN);
	}
	if (fv && !(syn && (fv->flags & ILB_FLOW_CLOSED))) {
		stat_inc(ILB_STAT_CONNTRACK_HIT);
		id = fv->backend_id;
		/* Refresh the stamp at most once a second: a write per packet costs a cache line. */
		if (now - fv->last_seen_ns > 1000000000ULL)
			fv->last_seen_ns = now;
	} else {
		bool fresh = syn || p.udp;

		picked = fresh ? pick_new(pool_id, pool, &fk) : pick_maglev(pool_id, pool, &fk);
		if (picked < 0) {
			stat_inc(ILB_STAT_DROP_NO_BACKEND);
			return XDP_DROP;
		}
		id = picked;
		b = bpf_map_lookup_elem(&backends, &id);
		if (!b || b->state == ILB_BACKEND_EMPTY) {
			stat_inc(ILB_STAT_DROP_NO_BACKEND);
			return XDP_DROP;
		}
		/* TCP connections are counted until FIN/RST; UDP has no end to count to. */
		bool stored = !flow_create(&fk, b, id, pool_id, p.tcp != NULL, now);

		if (p.tcp && stored) {
			struct backend_conns *bc = bpf_map_lookup_elem(&backend_conns, &id);

			if (bc)
				__sync_fetch_and_add(&bc->active, 1);
		}
		/* Only a flow that ends on its first packet here needs its entry back. */
		fv = stored && (p.tcp_flags & (TCP_FIN | TCP_RST)) ? bpf_map_lookup_elem(&conntrack, &fk) : NULL;
		stat_inc(fresh ? ILB_STAT_NEW_FLOW : ILB_STAT_MAGLEV_FALLBACK);
	}

	b = bpf_map_lookup_elem(&backends, &id);
	if (!b || b->state == ILB_BACKEND_EMPTY) {
		stat_inc(ILB_STAT_DROP_NO_BACKEND);
		return XDP_DROP;
	}
	if (fv && (p.tcp_flags & (TCP_FIN | TCP_RST)))
		flow_close(fv);

	if (!(b->dst_mac[0] | b->dst_mac[1] | b->dst_mac[2] | b->dst_mac[3] | b->dst_mac[4] | b->dst_mac[5])) {
		stat_inc(ILB_STAT_DROP_NO_NEIGH);
		return XDP_DROP;
	}
	dnat_to_backend(&p, b);
	__builtin_memcpy(p.eth->h_dest, b->dst_mac, 6);
	__builtin_memcpy(p.eth->h_source, b->src_mac, 6);
	stat_inc(ILB_STAT_REDIRECT);
	if (b->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect(b->ifindex, 0);
}
