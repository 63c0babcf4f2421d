/* This file contains the maps every inferlb program shares, pinned by name under
 * /sys/fs/bpf/inferlb so that programs loaded apart (and a restarted agent) use one state. */
#ifndef ILB_BPF_MAPS_H
#define ILB_BPF_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "inferlb.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ILB_MAX_VIPS * 2); /* each VIP plus its address marker */
	__type(key, struct vip_key);
	__type(value, struct vip_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vips SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_POOLS);
	__type(key, __u32);
	__type(value, struct pool_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pools SEC(".maps");

/* ILB_POOL_SLOT(pool, gen, i) -> backend id, for i < pools[pool].backend_count[gen] */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_POOLS * 2 * ILB_MAX_POOL_BACKENDS);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} pool_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backends SEC(".maps");

/* Written only by the kernel (atomics), so the agent's backend updates cannot lose counts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct backend_conns);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} backend_conns SEC(".maps");

/* ILB_MAGLEV_SLOT(pool, gen, hash % ILB_MAGLEV_SIZE) -> backend id */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_POOLS * 2 * ILB_MAGLEV_SIZE);
	__type(key, __u32);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ILB_CONNTRACK_SIZE);
	/* One common LRU (each CPU still pops from a local free list): per-CPU lists rotate
	 * their active list on every insert, which made a SYN about 30% dearer here. */
	__type(key, struct flow_key);
	__type(value, struct flow_value);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} conntrack SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ILB_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} stats SEC(".maps");

/* Slot 0: the agent's last CLOCK_MONOTONIC stamp, for L7 fail-open. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} heartbeat SEC(".maps");

static __always_inline void stat_inc(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&stats, &idx);

	if (v)
		*v += 1;
}

#endif
