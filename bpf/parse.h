/* This file contains the frame parser of the XDP lane: Ethernet (one VLAN tag), IPv4
 * (options skipped), IPv6 (no extension headers), TCP and UDP, with the verdict rule for
 * each malformed class (see parse_frame). */
#ifndef ILB_BPF_PARSE_H
#define ILB_BPF_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include "inferlb.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IP_MF 0x2000
#define IP_OFFSET 0x1FFF
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_ACK 0x10

/* What parse_frame found. */
enum parse_result {
	PARSE_OK = 0, /* an IPv4/IPv6 TCP/UDP packet, l4 header in bounds */
	PARSE_NOT_IP, /* pass */
	PARSE_L3_TRUNCATED, /* pass: the stack validates and drops it */
	PARSE_BAD_IHL, /* IHL < 5 or past the frame: drop if to a VIP address */
	PARSE_FRAGMENT, /* drop if to a VIP address: no ports to steer by */
	PARSE_IPV6_EXT, /* drop if to a VIP address */
	PARSE_OTHER_PROTO, /* ICMP and the rest: pass */
	PARSE_L4_TRUNCATED, /* drop if to a VIP address */
};

struct packet {
	struct ethhdr *eth;
	struct iphdr *ip4;
	struct ipv6hdr *ip6;
	struct tcphdr *tcp;
	struct udphdr *udp;
	__u16 *l4_csum; /* TCP or UDP checksum field */
	__be16 *sport, *dport;
	__u8 family; /* 4 or 6 */
	__u8 proto;
	__u8 tcp_flags;
	__u8 ip_options; /* IPv4 header longer than 20 bytes */
};

static __always_inline enum parse_result parse_l4(struct packet *p, void *l4, void *data_end)
{
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *tcp = l4;

		if ((void *)(tcp + 1) > data_end)
			return PARSE_L4_TRUNCATED;
		p->tcp = tcp;
		p->l4_csum = (__u16 *)&tcp->check;
		p->sport = &tcp->source;
		p->dport = &tcp->dest;
		p->tcp_flags = ((__u8 *)tcp)[13];
		return PARSE_OK;
	}
	if (p->proto == IPPROTO_UDP) {
		struct udphdr *udp = l4;

		if ((void *)(udp + 1) > data_end)
			return PARSE_L4_TRUNCATED;
		p->udp = udp;
		p->l4_csum = (__u16 *)&udp->check;
		p->sport = &udp->source;
		p->dport = &udp->dest;
		return PARSE_OK;
	}
	return PARSE_OTHER_PROTO;
}

static __always_inline bool ipv6_is_ext(__u8 nexthdr)
{
	switch (nexthdr) {
	case 0: /* hop-by-hop */
	case 43: /* routing */
	case 44: /* fragment */
	case 50: /* ESP */
	case 51: /* AH */
	case 60: /* destination options */
	case 135: /* mobility */
	case 139: /* HIP */
	case 140: /* shim6 */
		return true;
	}
	return false;
}

/* Fills *p. On PARSE_BAD_IHL, PARSE_FRAGMENT, PARSE_IPV6_EXT, PARSE_L4_TRUNCATED and
 * PARSE_OTHER_PROTO, p->ip4 or p->ip6 is set so the caller can ask whether the destination
 * is a VIP address before it decides. */
static __always_inline enum parse_result parse_frame(void *data, void *data_end, struct packet *p)
{
	struct ethhdr *eth = data;
	void *l3;
	__u16 proto;

	if ((void *)(eth + 1) > data_end)
		return PARSE_L3_TRUNCATED;
	p->eth = eth;
	proto = eth->h_proto;
	l3 = eth + 1;
	if (proto == bpf_htons(ETH_P_8021Q) || proto == bpf_htons(ETH_P_8021AD)) {
		struct vlan_hdr *vlan = l3;

		if ((void *)(vlan + 1) > data_end)
			return PARSE_L3_TRUNCATED;
		proto = vlan->h_vlan_encapsulated_proto;
		l3 = vlan + 1;
	}

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = l3;
		__u32 ihl_bytes;

		if ((void *)(ip + 1) > data_end)
			return PARSE_L3_TRUNCATED;
		p->ip4 = ip;
		p->family = ILB_AF_INET;
		p->proto = ip->protocol;
		ihl_bytes = ip->ihl * 4;
		if (ihl_bytes < sizeof(*ip) || (void *)ip + ihl_bytes > data_end)
			return PARSE_BAD_IHL;
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return PARSE_FRAGMENT;
		p->ip_options = ihl_bytes > sizeof(*ip);
		return parse_l4(p, (void *)ip + ihl_bytes, data_end);
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = l3;

		if ((void *)(ip6 + 1) > data_end)
			return PARSE_L3_TRUNCATED;
		p->ip6 = ip6;
		p->family = ILB_AF_INET6;
		p->proto = ip6->nexthdr;
		if (ip6->nexthdr == 44)
			return PARSE_FRAGMENT;
		if (ipv6_is_ext(ip6->nexthdr))
			return PARSE_IPV6_EXT;
		return parse_l4(p, ip6 + 1, data_end);
	}
	return PARSE_NOT_IP;
}

/* Copies the packet's destination (dst = true) or source address into a 16-byte field. */
static __always_inline void packet_addr(const struct packet *p, bool dst, __u8 *out)
{
	if (p->ip4) {
		__u32 a = dst ? p->ip4->daddr : p->ip4->saddr;

		__builtin_memcpy(out, &a, 4);
		__builtin_memset(out + 4, 0, 12);
	} else if (p->ip6) {
		if (dst)
			__builtin_memcpy(out, &p->ip6->daddr, 16);
		else
			__builtin_memcpy(out, &p->ip6->saddr, 16);
	}
}

#endif
