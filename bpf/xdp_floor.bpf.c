/* xdp_floor - the parse-and-pass floor the XDP lane is measured against: the same
 * parser as xdp_steer and one stats increment, then XDP_PASS. Used by `make bench-xdp`. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "inferlb.h"
#include "parse.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_stats SEC(".maps");

SEC("xdp")
int xdp_floor(struct xdp_md *ctx)
{
	struct packet p = {};
	__u32 zero = 0;
	__u64 *v;

	parse_frame((void *)(long)ctx->data, (void *)(long)ctx->data_end, &p);
	v = bpf_map_lookup_elem(&floor_stats, &zero);
	if (v)
		*v += 1;
	return XDP_PASS;
}
