/* This file contains incremental Internet checksum updates (RFC 1624) for rewriting
 * addresses and ports in place, without summing the packet again. */
#ifndef ILB_BPF_CSUM_H
#define ILB_BPF_CSUM_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

static __always_inline __u16 csum_fold64(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* HC' = ~(~HC + ~m + m') over `words` 32-bit words (1 for IPv4, 4 for IPv6). */
static __always_inline void csum_replace_words(__u16 *csum, const __u32 *from, const __u32 *to, int words)
{
	__u64 sum = (__u16)~*csum;

#pragma unroll
	for (int i = 0; i < 4; i++) {
		if (i >= words)
			break;
		sum += (__u32)~from[i];
		sum += to[i];
	}
	*csum = ~csum_fold64(sum);
}

static __always_inline void csum_replace16(__u16 *csum, __u16 from, __u16 to)
{
	__u64 sum = (__u16)~*csum;

	sum += (__u16)~from;
	sum += to;
	*csum = ~csum_fold64(sum);
}

#endif
