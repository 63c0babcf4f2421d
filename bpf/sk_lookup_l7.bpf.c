/* sk_lookup_l7 - connections to an L7 VIP go to the agent's listening socket, whatever
 * the destination address in the VIP set; the agent binds none of them. With no live
 * agent it selects nothing: xdp_steer has already decided fail-open (L4 to the pool) or
 * fail-close (the stack finds no listener and answers RST). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "inferlb.h"
#include "l7_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define IPPROTO_TCP_ 6
#define AF_INET_ 2
#define AF_INET6_ 10

SEC("sk_lookup")
int sk_lookup_l7(struct bpf_sk_lookup *ctx)
{
	struct vip_key k = { .proto = IPPROTO_TCP_ };
	struct vip_value *vip;
	struct bpf_sock *sk;
	__u32 zero = 0;
	long err;

	if (ctx->protocol != IPPROTO_TCP_)
		return SK_PASS;
	if (ctx->family == AF_INET_) {
		k.family = ILB_AF_INET;
		__u32 a4 = ctx->local_ip4; /* context fields are read whole */

		__builtin_memcpy(k.addr, &a4, 4);
	} else if (ctx->family == AF_INET6_) {
		k.family = ILB_AF_INET6;
		__u32 a6[4] = { ctx->local_ip6[0], ctx->local_ip6[1], ctx->local_ip6[2], ctx->local_ip6[3] };

		__builtin_memcpy(k.addr, a6, 16);
	} else {
		return SK_PASS;
	}
	k.port = bpf_htons((__u16)ctx->local_port);
	vip = bpf_map_lookup_elem(&vips, &k);
	if (!vip || vip->lane != ILB_LANE_L7)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&l7_listen, &zero);
	if (!sk) {
		stat_inc(ILB_STAT_L7_NO_LISTENER);
		return SK_PASS;
	}
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	stat_inc(err ? ILB_STAT_L7_NO_LISTENER : ILB_STAT_L7_ASSIGNED);
	return SK_PASS;
}
