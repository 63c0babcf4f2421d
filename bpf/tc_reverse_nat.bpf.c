/* tc_reverse_nat - replies from a pod leave with the VIP as their source again: the
 * reply entry xdp_steer wrote in conntrack gives the VIP. Runs at the egress of the
 * node's uplink (or the ingress of pod-facing devices); FIN/RST from the pod release the
 * backend's active count through the flow's forward entry. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "inferlb.h"
#include "maps.h"
#include "parse.h"
#include "conntrack.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define TC_ACT_OK 0
#define BPF_F_PSEUDO_HDR_FLAG (1ULL << 4)

/* Closes the flow whose reply this is: its forward key is client -> VIP. */
static __always_inline void close_forward(const struct flow_key *reply, const struct flow_value *rv)
{
	struct flow_key fwd = {
		.family = reply->family,
		.proto = reply->proto,
		.sport = reply->dport,
		.dport = rv->vip_port,
	};
	struct flow_value *fv;

	__builtin_memcpy(fwd.saddr, reply->daddr, 16);
	__builtin_memcpy(fwd.daddr, rv->vip_addr, 16);
	fv = bpf_map_lookup_elem(&conntrack, &fwd);
	if (fv)
		flow_close(fv);
}

SEC("tc")
int tc_reverse_nat(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	struct packet p = {};
	struct flow_key k;
	struct flow_value *rv;
	__u32 l3_off, csum_off, sport_off;
	__u64 csum_flags;
	__u8 tcp_flags;
	__be16 old_port, new_port;

	if (parse_frame(data, data_end, &p) != PARSE_OK)
		return TC_ACT_OK;
	flow_key_from_packet(&p, &k);
	rv = bpf_map_lookup_elem(&conntrack, &k);
	if (!rv || !(rv->flags & ILB_FLOW_REPLY))
		return TC_ACT_OK;

	tcp_flags = p.tcp_flags;
	l3_off = p.ip4 ? (void *)p.ip4 - data : (void *)p.ip6 - data;
	csum_off = (void *)p.l4_csum - data;
	sport_off = (void *)p.sport - data;
	old_port = *p.sport;
	new_port = rv->vip_port;
	/* A UDP datagram sent without a checksum keeps none. */
	bool l4_csum = !(p.udp && *p.l4_csum == 0);
	csum_flags = BPF_F_PSEUDO_HDR_FLAG | (p.udp ? BPF_F_MARK_MANGLED_0 : 0);

	if (p.family == ILB_AF_INET) {
		__u32 old_addr = p.ip4->saddr, new_addr;

		__builtin_memcpy(&new_addr, rv->vip_addr, 4);
		if (l4_csum)
			bpf_l4_csum_replace(skb, csum_off, old_addr, new_addr, csum_flags | 4);
		bpf_l3_csum_replace(skb, l3_off + offsetof(struct iphdr, check), old_addr, new_addr, 4);
		bpf_skb_store_bytes(skb, l3_off + offsetof(struct iphdr, saddr), &new_addr, 4, 0);
	} else {
		__u8 old_addr[16], new_addr[16];

		__builtin_memcpy(old_addr, k.saddr, 16);
		__builtin_memcpy(new_addr, rv->vip_addr, 16);
		__s64 diff = bpf_csum_diff((__be32 *)old_addr, 16, (__be32 *)new_addr, 16, 0);
		if (l4_csum)
			bpf_l4_csum_replace(skb, csum_off, 0, diff, csum_flags);
		bpf_skb_store_bytes(skb, l3_off + offsetof(struct ipv6hdr, saddr), new_addr, 16, 0);
	}
	if (l4_csum)
		bpf_l4_csum_replace(skb, csum_off, old_port, new_port, (p.udp ? BPF_F_MARK_MANGLED_0 : 0) | 2);
	bpf_skb_store_bytes(skb, sport_off, &new_port, 2, 0);
	stat_inc(ILB_STAT_REPLY_NAT);

	if (tcp_flags & (TCP_FIN | TCP_RST))
		close_forward(&k, rv);
	return TC_ACT_OK;
}
