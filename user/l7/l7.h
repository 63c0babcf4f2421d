/* l7.h - the L7 lane's request loop, on a thread of its own: accepts the connections
 * sk_lookup hands over, reads each request (HTTP/1.1 head, OpenAI JSON body), resolves,
 * admits and schedules it, writes it to the chosen pod over a kept backend connection, and
 * leaves the response to sk_skb_splice, which streams it to the client in the kernel.
 * The end of each response (from `l7_events`) frees the client's connection for its next
 * request, which is routed afresh. */
#ifndef ILB_L7_H
#define ILB_L7_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "inferlb.h"
#include "sched.h"

struct ilb_l7;
struct ilb_l7_kern;
struct ilb_route_table;

struct ilb_l7_config {
	size_t max_body; /* --max-body, 16 MiB */
	unsigned header_timeout_ms; /* a head must arrive within this (slowloris): 408 */
	unsigned idle_timeout_ms; /* keep-alive connections with no request are closed */
	unsigned stall_timeout_ms; /* a client that reads nothing of its response for this long is closed */
	unsigned connect_timeout_ms;
	enum ilb_policy policy; /* --l7-policy */
	bool splice_pipe; /* --splice=pipe: responses through splice(2), not the sockmap */
	unsigned inline_max; /* --inline-max: a response this small comes to the agent in ring events */
	unsigned hold_max; /* requests waiting for a pod of a scaled-to-zero pool, at most */
	unsigned hold_timeout_ms; /* how long one waits before 503 */
};

void ilb_l7_config_default(struct ilb_l7_config *cfg);

/* Per-backend figures the agent's views read while the L7 thread runs. */
struct ilb_l7_backend_stats {
	atomic_uint inflight;
	atomic_ulong picks;
	atomic_ulong responses;
	atomic_ulong ttft_ns_sum; /* time to first byte of each response, from the kernel stamp */
};

enum ilb_l7_counter {
	ILB_L7_REQUESTS = 0,
	ILB_L7_ACCEPTED, /* client connections */
	ILB_L7_BAD_REQUEST, /* 400 and the other refusals of the HTTP reader */
	ILB_L7_NOT_FOUND, /* 404: no route for the Host, or no pool for the model */
	ILB_L7_SHED, /* 429 */
	ILB_L7_NO_POD, /* 503 */
	ILB_L7_TIMEOUT, /* 408 */
	ILB_L7_TOO_LARGE, /* 413 */
	ILB_L7_BAD_GATEWAY, /* 502: a response the kernel could not follow, or a pod gone mid-response */
	ILB_L7_CLIENT_GONE, /* a client left mid-response */
	ILB_L7_STALLED, /* a client that stopped reading, closed */
	ILB_L7_RETRIES, /* connect failures retried on the next-best pod */
	ILB_L7_HELD, /* requests that waited for a pod (scale from zero) */
	ILB_L7_ACTIVATOR, /* requests sent to Knative's activator (a revision with no ready pod) */
	ILB_L7__COUNT,
};

struct ilb_l7_stats {
	atomic_ulong counter[ILB_L7__COUNT];
	atomic_uint connections;
	atomic_uint pending[ILB_MAX_POOLS]; /* requests waiting for a pod, by kernel pool id */
	atomic_ulong sheds[ILB_MAX_POOLS]; /* 429s, by kernel pool id: admission is per pool */
	atomic_ulong activated[ILB_MAX_POOLS]; /* requests sent to Knative's activator, by pool */
	struct ilb_l7_backend_stats backend[ILB_MAX_BACKENDS];
};

extern const char *const ilb_l7_counter_names[ILB_L7__COUNT];

/* Starts the thread: a listener in the kernel's `l7_listen` slot. */
struct ilb_l7 *ilb_l7_start(const struct ilb_l7_config *cfg, struct ilb_l7_kern *kern);
/* Hands a new routing table to the thread (which takes the reference). */
void ilb_l7_set_table(struct ilb_l7 *l7, struct ilb_route_table *t);
const struct ilb_l7_stats *ilb_l7_stats(const struct ilb_l7 *l7);
void ilb_l7_stop(struct ilb_l7 *l7);

#endif
