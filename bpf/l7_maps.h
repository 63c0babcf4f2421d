/* This file contains the maps of the L7 lane, pinned by name next to the L4 ones. */
#ifndef ILB_BPF_L7_MAPS_H
#define ILB_BPF_L7_MAPS_H

#include "maps.h"

/* Slot 0: the agent's listening socket, where sk_lookup_l7 sends VIP connections. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_listen SEC(".maps");

/* Backend sockets by cookie; sk_skb_splice is attached to this map as its verdict. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, ILB_MAX_L7_STREAMS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_backends SEC(".maps");

/* Client sockets by cookie, the redirect targets. No program: the agent reads requests. */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, ILB_MAX_L7_STREAMS);
	__type(key, __u64);
	__type(value, __u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_clients SEC(".maps");

/* Backend socket cookie -> its slot in `l7_stream_state`, set once per connection. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ILB_MAX_L7_STREAMS);
	__type(key, __u64);
	__type(value, __u32);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_stream_slots SEC(".maps");

/* The response each backend connection is streaming and where to, by slot. Memory-mapped
 * by the agent, which arms and ends a stream with plain stores instead of a syscall. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, ILB_MAX_L7_STREAMS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct l7_stream);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_stream_state SEC(".maps");

/* First byte and end of each response, for the agent (struct l7_event). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} l7_events SEC(".maps");

#endif
