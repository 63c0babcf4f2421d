/* This file contains the address and port rewrite of the XDP lane (DNAT to a backend),
 * with incremental IPv4 header and TCP/UDP pseudo-header checksum updates. */
#ifndef ILB_BPF_NAT_H
#define ILB_BPF_NAT_H

#include "csum.h"
#include "parse.h"

/* Rewrites destination address and port to the backend's. The frame must be of the
 * backend's family (the agent never mixes families in one pool). */
static __always_inline void dnat_to_backend(struct packet *p, const struct backend *b)
{
	bool udp_no_csum = p->udp && *p->l4_csum == 0;

	if (p->ip4) {
		__u32 old = p->ip4->daddr, new;

		__builtin_memcpy(&new, b->addr, 4);
		csum_replace_words((__u16 *)&p->ip4->check, &old, &new, 1);
		if (!udp_no_csum)
			csum_replace_words(p->l4_csum, &old, &new, 1);
		p->ip4->daddr = new;
	} else {
		__u32 old[4], new[4];

		__builtin_memcpy(old, &p->ip6->daddr, 16);
		__builtin_memcpy(new, b->addr, 16);
		csum_replace_words(p->l4_csum, old, new, 4);
		__builtin_memcpy(&p->ip6->daddr, new, 16);
	}
	if (!udp_no_csum)
		csum_replace16(p->l4_csum, *p->dport, b->port);
	*p->dport = b->port;
	/* In UDP a computed 0 is sent as all ones: 0 means "no checksum". */
	if (p->udp && !udp_no_csum && *p->l4_csum == 0)
		*p->l4_csum = 0xffff;
}

#endif
