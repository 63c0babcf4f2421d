/* inferlb.h - every struct and constant shared by the kernel programs and user space.
 * Fixed-width types only: this file is compiled by clang -target bpf and by gcc. */
#ifndef INFERLB_H
#define INFERLB_H

#ifdef __BPF__
/* vmlinux.h already provides the __u8..__u64 types */
#else
#include <linux/types.h>
#endif

#define ILB_PIN_DIR "/sys/fs/bpf/inferlb"

/* Capacities; every map is sized from these. */
#ifndef ILB_MAX_VIPS
#define ILB_MAX_VIPS 256
#endif
#ifndef ILB_MAX_POOLS
#define ILB_MAX_POOLS 32 /* each pool holds two Maglev rings of ILB_MAGLEV_SIZE */
#endif
#ifndef ILB_MAX_BACKENDS
#define ILB_MAX_BACKENDS 4096 /* backend ids, across all pools */
#endif
#ifndef ILB_MAX_POOL_BACKENDS
#define ILB_MAX_POOL_BACKENDS 512 /* per pool and generation */
#endif
#ifndef ILB_CONNTRACK_SIZE
#define ILB_CONNTRACK_SIZE 262144
#endif
/* Maglev ring size: a prime >= 100 x ILB_MAX_POOL_BACKENDS keeps every backend within
 * about 1% of an equal share (Maglev paper, section 3.4). */
#define ILB_MAGLEV_SIZE 65537

/* Cost of one active connection when comparing backends in power-of-two-choices,
 * in load-score units (a score is 0..ILB_SCORE_MAX). */
#define ILB_CONN_COST 16
#define ILB_SCORE_MAX 1000000

enum ilb_family {
	ILB_AF_INET = 4,
	ILB_AF_INET6 = 6,
};

enum ilb_lane {
	ILB_LANE_L4 = 1, /* connection level: XDP picks the pod */
	ILB_LANE_L7 = 2, /* request level: sk_lookup hands the connection to the agent */
};

/* vip_value.flags */
#define ILB_VIP_ADDR_ONLY (1u << 0) /* marker entry (port 0, proto 0): the address is a VIP */

/* pool_value.flags */
#define ILB_POOL_FAIL_OPEN (1u << 0)

enum ilb_backend_state {
	ILB_BACKEND_EMPTY = 0, /* id not in use */
	ILB_BACKEND_READY = 1,
	ILB_BACKEND_DRAINING = 2, /* keeps its flows, gets no new ones */
	ILB_BACKEND_DOWN = 3, /* left its pool; known flows still reach it */
};

/* The key of `vips`: what a client connects to. */
struct vip_key {
	__u8 family; /* enum ilb_family */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP, 0 in an address marker */
	__be16 port; /* network order, 0 in an address marker */
	__u8 addr[16]; /* IPv4 in the first 4 bytes, rest zero */
};

struct vip_value {
	__u32 pool_id;
	__u32 flags; /* ILB_VIP_* */
	__u32 lane; /* enum ilb_lane */
};

/* The value of `pools`. The agent builds a new backend set in the inactive generation of
 * `pool_backends` and `maglev`, then flips active_gen: one aligned 32-bit store. */
struct pool_value {
	__u32 active_gen; /* 0 or 1 */
	__u32 flags; /* ILB_POOL_* */
	__u32 backend_count[2]; /* ready backends in each generation */
	char name[96]; /* "namespace/name": lets a restarted agent find its pool ids again */
};

/* `pool_backends` and `maglev` are arrays of backend ids; these give the index of a slot. */
#define ILB_POOL_SLOT(pool, gen, slot) \
	(((pool) * 2u + (gen)) * ILB_MAX_POOL_BACKENDS + (slot))
#define ILB_MAGLEV_SLOT(pool, gen, slot) \
	(((pool) * 2u + (gen)) * ILB_MAGLEV_SIZE + (slot))

/* The value of `backends`, indexed by backend id. */
struct backend {
	__u8 family; /* enum ilb_family */
	__u8 state; /* enum ilb_backend_state */
	__be16 port; /* network order */
	__u8 addr[16];
	__u32 ifindex; /* where the frame leaves the node */
	__u8 dst_mac[6]; /* next hop, from the neighbour table */
	__u8 src_mac[6]; /* ifindex's own address */
	__u32 load_score; /* 0 (idle) .. ILB_SCORE_MAX (saturated), written by the agent */
	__u32 pool_id;
};

/* The key of `conntrack`: a 5-tuple as the packet carries it. A forward entry is keyed by
 * client -> VIP; a reply entry by pod -> client, so the TC program finds the VIP. */
struct flow_key {
	__u8 family;
	__u8 proto;
	__be16 sport;
	__be16 dport;
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

/* flow_value.flags */
#define ILB_FLOW_REPLY (1u << 0) /* a reply entry: rewrite source back to the VIP */
#define ILB_FLOW_CLOSED (1u << 1) /* FIN or RST seen: active count already released */
#define ILB_FLOW_COUNTED (1u << 2) /* holds one unit of backend_conns */

struct flow_value {
	__u32 backend_id;
	__u32 flags; /* ILB_FLOW_* */
	__u64 last_seen_ns; /* bpf_ktime_get_ns() */
	__u8 vip_addr[16]; /* reply entries: the source to restore */
	__be16 vip_port;
	__u16 pad;
	__u32 pool_id;
};

/* The value of `backend_conns`: active connections the kernel has sent to a backend. */
struct backend_conns {
	__s64 active;
};

/* Index into the per-CPU `stats` array. */
enum ilb_stat {
	ILB_STAT_RX = 0, /* frames seen by xdp_steer */
	ILB_STAT_PASS_NOT_VIP, /* not for a VIP: passed untouched */
	ILB_STAT_PASS_NOT_IP, /* neither IPv4 nor IPv6 */
	ILB_STAT_NEW_FLOW, /* SYN or first UDP datagram: a backend was picked */
	ILB_STAT_CONNTRACK_HIT, /* known flow */
	ILB_STAT_MAGLEV_FALLBACK, /* no conntrack entry, not a SYN: Maglev picked */
	ILB_STAT_FLOW_CLOSED, /* FIN/RST released an active connection */
	ILB_STAT_REDIRECT, /* XDP_REDIRECT / XDP_TX returned */
	ILB_STAT_REPLY_NAT, /* tc_reverse_nat restored the VIP */
	ILB_STAT_DROP_NO_BACKEND, /* pool has no ready backend */
	ILB_STAT_DROP_TRUNCATED, /* a header runs past the frame (to a VIP) */
	ILB_STAT_PASS_TRUNCATED, /* a header runs past the frame (not known to be ours) */
	ILB_STAT_DROP_BAD_IHL, /* IPv4 IHL < 5 or past the frame */
	ILB_STAT_IPV4_OPTIONS, /* IPv4 options skipped, frame steered */
	ILB_STAT_DROP_FRAGMENT, /* IPv4/IPv6 fragment to a VIP address */
	ILB_STAT_DROP_IPV6_EXT, /* IPv6 extension header to a VIP address */
	ILB_STAT_DROP_NO_NEIGH, /* backend next hop not resolved yet */
	ILB_STAT_FAIL_CLOSE, /* L7 VIP, agent gone, FailClose: passed to the stack, which refuses */
	ILB_STAT_L7_FAIL_OPEN, /* L7 VIP served as L4 while the agent is gone */
	ILB_STAT_PASS_L7, /* L7 VIP with a live agent: left to sk_lookup */
	ILB_STAT_L7_ASSIGNED, /* sk_lookup gave a connection to the agent's listener */
	ILB_STAT_L7_NO_LISTENER, /* sk_lookup: L7 VIP but no live agent socket */
	ILB_STAT_L7_REDIRECT, /* sk_skb: response bytes redirected to a client */
	ILB_STAT_L7_TO_AGENT, /* sk_skb: bytes left for the agent to read */
	ILB_STAT_L7_CLIENT_GONE, /* sk_skb: the client socket was gone, bytes dropped */
	ILB_STAT_L7_RESPONSES, /* sk_skb: responses that ended */
	ILB_STAT_L7_UNSOLICITED, /* sk_skb: bytes on a kept connection with no request: dropped */
	ILB_STAT_L7_INLINE, /* sk_skb: small responses carried to the agent in ring events */
	ILB_STAT_MAX,
};

/* Names for the CLI and the Prometheus exporter, in enum order. */
#define ILB_STAT_NAMES                                                                   \
	"rx", "pass_not_vip", "pass_not_ip", "new_flow", "conntrack_hit", "maglev_fallback", \
	"flow_closed", "redirect", "reply_nat", "drop_no_backend", "drop_truncated",           \
	"pass_truncated", "drop_bad_ihl", "ipv4_options", "drop_fragment", "drop_ipv6_ext",    \
	"drop_no_neigh", "fail_close", "l7_fail_open", "pass_l7", "l7_assigned", "l7_no_listener",  \
	"l7_redirect", "l7_to_agent", "l7_client_gone", "l7_responses",     \
	"l7_unsolicited", "l7_inline"

/* A new flow's first candidate is its Maglev slot, the second a random ready backend; the
 * second wins only when it is cheaper by more than this margin, so that most flows sit on
 * the pod Maglev gives them and keep it if their conntrack entry is ever lost. */
#define ILB_P2C_MARGIN (2 * ILB_CONN_COST)

/* Hash of a flow's client side (address, ports, protocol), the same in the kernel and in
 * user space: it picks the Maglev slot, so that a flow without conntrack keeps its pod. */
static inline __u32 ilb_flow_hash(const __u8 saddr[16], __be16 sport, __be16 dport, __u8 proto)
{
	__u32 h = 0x9e3779b9u ^ proto;

	for (int i = 0; i < 16; i += 4) {
		__u32 w = (__u32)saddr[i] | (__u32)saddr[i + 1] << 8 | (__u32)saddr[i + 2] << 16 |
			  (__u32)saddr[i + 3] << 24;

		h ^= w;
		h *= 0x85ebca6bu;
		h ^= h >> 13;
	}
	h ^= ((__u32)sport << 16) | dport;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

/* `heartbeat`, slot 0: the agent's last bpf_ktime_get_ns()-clock stamp (CLOCK_MONOTONIC). */
#define ILB_HEARTBEAT_TIMEOUT_NS 1000000000ULL


/* ---- L7 lane: sk_lookup hands VIP connections to the agent; sk_skb streams responses ---- */

#ifndef ILB_MAX_L7_STREAMS
#define ILB_MAX_L7_STREAMS 65536 /* backend sockets in `l7_backends`, and their streams */
#endif

/* Where sk_skb_splice is in reading one response (struct l7_stream.state). */
enum ilb_resp_state {
	ILB_RESP_IDLE = 0, /* no request in flight: bytes go to the agent */
	ILB_RESP_HEAD, /* status line and header fields */
	ILB_RESP_BODY_LENGTH, /* `remaining` body bytes (Content-Length) */
	ILB_RESP_CHUNK_SIZE, /* hex digits of a chunk size */
	ILB_RESP_CHUNK_EXT, /* chunk extension, up to LF */
	ILB_RESP_CHUNK_DATA, /* `remaining` bytes of chunk data and its CRLF */
	ILB_RESP_TRAILER, /* trailer fields after the last chunk, up to an empty line */
	ILB_RESP_UNTIL_CLOSE, /* no framing: the body ends when the pod closes */
	ILB_RESP_DONE, /* the response ended: the agent is told through `l7_events` */
	ILB_RESP_ERROR, /* framing the kernel cannot follow: bytes go to the agent */
	ILB_RESP_UNSOLICITED, /* bytes with no request in flight: dropped, the agent closes it */
};

/* l7_stream.flags */
#define ILB_STREAM_NO_BODY (1u << 0) /* a HEAD request: the response has no body */
#define ILB_STREAM_CHUNKED (1u << 1) /* Transfer-Encoding: chunked seen in the head */
#define ILB_STREAM_HAS_LENGTH (1u << 2) /* Content-Length seen in the head */
#define ILB_STREAM_CLIENT_GONE (1u << 3) /* a redirect found no client: told the agent once */
#define ILB_STREAM_INLINE (1u << 4) /* every byte of this (small) response goes in ring events */

/* The value of `l7_stream_state`, at the backend socket's slot (`l7_stream_slots`): where
 * its response bytes go and how far the response has come. The agent writes it before the
 * request; the verdict program advances it. */
struct l7_stream {
	__u64 client_cookie; /* key of the client socket in `l7_clients` */
	__u64 stream_id; /* the agent's id for this request, echoed in events */
	__u64 first_byte_ns; /* first response byte, bpf_ktime_get_ns(); 0 before */
	__u64 bytes; /* response bytes redirected to the client */
	__u64 remaining; /* body or chunk bytes still to come (chunk data includes its CRLF) */
	__u32 state; /* enum ilb_resp_state */
	__u32 flags; /* ILB_STREAM_* */
	__u32 status; /* the response's status code, once read */
	__u32 line_len; /* bytes of the current head or chunk-size line */
	__u32 field; /* head: which field name the line still matches (ILB_FIELD_*) */
	__u32 token; /* head: chars of "chunked" matched at the end of the value */
	/* A response of at most this many bytes (up to ILB_L7_INLINE_MAX) that ends in its
	 * first skb, or whose first skb holds its whole head and a Content-Length that keeps
	 * it under this, goes to the agent inside ring events (ILB_L7_EV_PART_INLINE,
	 * ILB_L7_EV_DONE_INLINE) rather than redirected; 0: every response is redirected. */
	__u32 inline_max;
	__u32 reserved;
	__u64 length; /* head: the Content-Length value */
};

/* struct l7_stream.field: candidates while a header field name is read */
#define ILB_FIELD_CONTENT_LENGTH (1u << 0)
#define ILB_FIELD_TRANSFER_ENCODING (1u << 1)
#define ILB_FIELD_VALUE_CL (1u << 2) /* in the value of Content-Length */
#define ILB_FIELD_VALUE_TE (1u << 3) /* in the value of Transfer-Encoding */

enum ilb_l7_event_kind {
	ILB_L7_EV_FIRST_BYTE = 1, /* the response began: time to first token */
	ILB_L7_EV_DONE = 2, /* the response ended: the client's connection is free */
	ILB_L7_EV_CLIENT_GONE = 3, /* a redirect found no client socket */
	ILB_L7_EV_ERROR = 4, /* framing the kernel cannot follow */
	ILB_L7_EV_DONE_TAIL = 5, /* the response ended inside an skb that more bytes follow:
				  * that skb is the agent's, which sends the first `tail` bytes */
	ILB_L7_EV_DONE_INLINE = 6, /* the response's last (or only) `tail` bytes follow the event
				    * in the ring (in all at most inline_max): the agent sends them */
	ILB_L7_EV_PART_INLINE = 7, /* the first `tail` bytes of such a response whose head came
				    * apart from its body; the rest follows in events too */
};

/* The largest response carried in PART_INLINE / DONE_INLINE events. Records of that size
 * take the ring's room only until the agent reads them, and its send of them is one syscall. */
#define ILB_L7_INLINE_MAX 4096

/* A record in the `l7_events` ring buffer. */
struct l7_event {
	__u32 kind; /* enum ilb_l7_event_kind */
	__u32 status;
	__u64 stream_id;
	__u64 backend_cookie;
	__u64 bytes;
	__u64 first_byte_ns;
	__u64 ts_ns;
	__u64 tail; /* DONE_TAIL: the response's bytes at the head of the skb left to the agent;
		     * PART_INLINE, DONE_INLINE: how many of its bytes follow the record */
};

#endif /* INFERLB_H */
