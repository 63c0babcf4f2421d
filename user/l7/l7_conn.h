/* l7_conn.h - the L7 loop's own state and the steps of a request's walk, one file each:
 *   l7.c           the loop: the epoll thread, events to their step, the 10 ms tick
 *   l7_listener.c  listener: accepted connections, the client connection's life and timers
 *   l7_parse.c     parse: the client's bytes through the HTTP/1.1 reader, pipelined carry
 *   l7_resolve.c   resolve: the gateway's own paths, OpenAI body, route to a pool and pods
 *   l7_schedule.c  schedule: the pick (or activator, or hold queue), in-flight, retries
 *   l7_backend.c   backend: the pod connection, kept idle per pod; the request sent on it
 *   l7_splice.c    kernel splice: sk_skb_splice's events on the responses it streams
 *   l7_pipe.c      the splice(2) path instead, where the sockmap cannot take the pod socket
 *   l7_end.c       the end: every response ends through l7_response_end
 * One owner per object: l7_listener.c the client connection, l7_resolve.c the request on it
 * (struct l7_request), l7_backend.c the backend connection. Not for other modules. */
#ifndef ILB_L7_CONN_H
#define ILB_L7_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "http1.h"
#include "l7.h"
#include "store/store.h"
#include "prefix.h"
#include "sched.h"

#define L7_MAX_CLIENTS 16384
#define L7_MAX_IDLE_PER_BACKEND 64

/* DEAD: freed during this epoll batch; its memory goes at the end of the batch, so a later
 * event of the same batch that points at it is skipped rather than read after free. */
enum l7_obj_kind { L7_OBJ_DEAD = 0, L7_OBJ_CLIENT = 1, L7_OBJ_BACKEND = 2 };

/* Both connection kinds start with this, so an epoll event can tell them apart. */
struct l7_object {
	enum l7_obj_kind kind;
	uint32_t watching; /* the epoll events asked for, so that asking again costs nothing */
};

/* A client connection is READING (its next request), HOLDING (the request waits for a pod
 * of a pool scaled to zero), CONNECTING (it waits for a backend connection), STREAMING (the
 * kernel is sending the response) or CLOSING (waiting for the bytes the kernel queued to
 * reach TCP before it closes). */
enum l7_client_state { L7_READING = 0, L7_HOLDING, L7_CONNECTING, L7_STREAMING, L7_CLOSING };

struct l7_backend;
struct ilb_rt_backend;

/* The request's place in the hold queue (scale from zero: held until a pod is ready, in
 * arrival order). */
struct l7_hold {
	bool waiting;
	uint32_t pool; /* kernel pool id, for the pending count */
	uint64_t seq, deadline_ns;
};

/* The request being served on a client connection, from its parse to its response's end:
 * what l7_request_clear frees and resets. */
struct l7_request {
	bool keep_alive;
	bool head_request;
	char model[ILB_MODEL_NAME_MAX];
	char *prompt;
	/* resolved */
	struct ilb_route_table *table; /* the table the request was routed with, held */
	int pool;
	struct ilb_sched_pod *pods;
	int n_pods;
	struct ilb_sched_req sreq;
	struct ilb_prefix_blocks blocks;
	struct l7_hold hold;
	/* sent to Knative's activator (no ready pod, SKS in Proxy mode): activator[index] */
	bool via_activator;
	int activator_index;
	/* scheduled */
	int attempts;
	uint32_t backend_id;
	bool inflight_counted; /* backend_id's in-flight count holds this request */
	char *forward; /* head and body for the backend */
	size_t forward_len;
	/* at the backend, then streaming */
	struct l7_backend *backend;
	uint64_t stream_id; /* slot | sequence << 32 */
	uint64_t sent_ns;
	uint64_t agent_bytes_at_send; /* the client's agent_bytes when the request went to the pod */
	bool ttft_counted; /* this response's first byte is in its pod's TTFT sum */
	uint64_t last_acked, stall_since_ns;
	bool done_when_flushed; /* the response ends once the agent's bytes (out) have left */
};

/* A client connection: what outlives each request on it. */
struct l7_client {
	struct l7_object obj;
	int fd;
	uint64_t cookie;
	uint32_t slot;
	uint16_t local_port; /* the VIP port it came to (HTTPRoute sectionName) */
	enum l7_client_state state;
	struct ilb_http_reader reader;
	uint64_t deadline_ns; /* idle, connect or close deadline, by state */
	uint64_t header_deadline_ns; /* a request has begun: its head must be complete by then */
	char *carry; /* bytes after the request being served (pipelining) */
	size_t carry_len;
	char *out; /* the agent's own bytes waiting for the kernel's to drain */
	size_t out_len, out_off;
	uint64_t kernel_bytes; /* redirected by sk_skb_splice, over every response so far */
	uint64_t agent_bytes; /* written by the agent (its own answers, and spliced responses) */
	uint64_t taken_seen; /* bytes TCP had taken when last asked, or since sent by the agent */
	uint32_t sequence; /* of the streams so far: each gets a stream_id of its own */
	struct l7_request req;
};

struct l7_backend {
	struct l7_object obj;
	int fd;
	uint64_t cookie;
	uint32_t id; /* backend id */
	struct ilb_addr addr; /* where it is connected: an id may name another address later, */
	uint16_t port;	      /* and every activator address goes by one id */
	bool connected, in_map;
	uint32_t stream_slot; /* in `l7_stream_state`, while in_map */
	uint64_t tail_left; /* the response's last bytes, in an skb the kernel left to the agent */
	struct l7_client *client; /* the request it serves, NULL when idle */
	size_t out_off; /* of client->forward written */
	struct l7_backend *next_idle;
	uint64_t idle_since_ns;
	/* the splice(2) path */
	bool piped; /* not in the sockmap: the agent moves the response */
	int pipe[2];
	size_t in_pipe;
	bool client_full; /* waiting for the client's EPOLLOUT */
	struct l7_stream framing;
};

struct ilb_l7 {
	struct ilb_l7_config cfg;
	struct ilb_http_limits limits;
	struct ilb_l7_kern *kern;
	int epfd, listen_fd, timer_fd, wake_fd;
	struct ring_buffer *ring;
	pthread_t thread;
	bool running;
	atomic_bool stop;
	pthread_mutex_t lock; /* guards next_table */
	struct ilb_route_table *table, *next_table;
	struct ilb_sched sched;
	struct l7_client *clients[L7_MAX_CLIENTS];
	uint32_t next_slot, n_slots_used;
	uint64_t ticks;
	bool pipe_warned;
	uint64_t hold_seq;
	unsigned n_held;
	uint32_t activator_next; /* round robin over a revision's activator addresses */
	const struct ilb_route_table *hold_table; /* the table the held requests last tried */
	void **dead; /* objects to free after the current epoll batch */
	size_t n_dead, cap_dead;
	struct l7_backend *idle[ILB_MAX_BACKENDS]; /* kept connections per backend id */
	struct ilb_prefix_lru *prefix[ILB_MAX_BACKENDS];
	struct ilb_l7_stats stats;
};

/* How a response ends (l7_response_end). */
enum l7_end {
	L7_END_ANSWERED, /* the agent answered the request itself */
	L7_END_DONE, /* whole: the pod's connection is kept for another request */
	L7_END_DONE_LAST, /* whole: the pod's connection closes (what follows is nobody's) */
	L7_END_POD_CLOSED, /* whole up to the pod's close (no framing): the client's closes too */
	/* the same on the sockmap, seen only as the pod's hang-up: the kernel sends no end event,
	 * and the pod's response count does not hold it */
	L7_END_HANGUP,
	L7_END_UNREADABLE, /* unfinished, the framing broken: 502 if nothing of it reached the client */
	L7_END_POD_GONE, /* unfinished, the pod closed: 502 if nothing of it reached the client */
	L7_END_BROKEN, /* a tail that could not be passed on: a bad gateway, the client closed */
	L7_END_CUT, /* the agent could not keep the response's bytes: the client closed */
	L7_END_CLIENT_UNREACHABLE, /* the client took no more (pipe path): gone, closed */
	L7_END_CLIENT_GONE, /* the client left: freed at once */
	L7_END_STALLED, /* the client read nothing for too long: freed */
};

/* An answer of the agent's own that no counter holds. */
#define L7_UNCOUNTED ILB_L7__COUNT

static inline void l7_count(struct ilb_l7 *l7, enum ilb_l7_counter counter)
{
	if (counter < ILB_L7__COUNT)
		atomic_fetch_add(&l7->stats.counter[counter], 1);
}

/* l7.c */
void l7_defer_free(struct ilb_l7 *l7, struct l7_object *obj);
/* Adds fd to the loop (add) or changes what it waits for; a change to what it already
 * waits for is no syscall. */
int l7_watch(struct ilb_l7 *l7, int fd, struct l7_object *obj, uint32_t events, bool add);

/* l7_listener.c */
void l7_on_accept(struct ilb_l7 *l7);
/* Closes once the kernel's bytes are out (or a deadline passes). */
void l7_client_close(struct ilb_l7 *l7, struct l7_client *c);
void l7_client_free(struct ilb_l7 *l7, struct l7_client *c);
/* Queues bytes the agent itself sends; they leave once the kernel's have drained. */
int l7_client_write(struct ilb_l7 *l7, struct l7_client *c, const char *data, size_t len);
void l7_client_flush(struct ilb_l7 *l7, struct l7_client *c);
void l7_client_tick(struct ilb_l7 *l7, struct l7_client *c, uint64_t now);

/* l7_parse.c */
void l7_on_client(struct ilb_l7 *l7, struct l7_client *c, uint32_t events);
/* The response is over and the connection kept: it reads its next request. */
void l7_client_read_next(struct ilb_l7 *l7, struct l7_client *c);

/* l7_resolve.c */
void l7_request_start(struct ilb_l7 *l7, struct l7_client *c);
void l7_request_clear(struct l7_client *c);

/* l7_schedule.c */
struct ilb_oai_req;
/* Picks a pod for the resolved request and sends it there, or answers 429/503. */
void l7_schedule(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq);
/* The pod could not take the request: the next-best pod once, then 503. */
void l7_request_connect_failed(struct ilb_l7 *l7, struct l7_client *c);
/* The request leaves its pod's in-flight count (once, whatever ended it). */
void l7_inflight_leave(struct ilb_l7 *l7, struct l7_client *c);
/* The request leaves the hold queue (dispatched, answered, or its client gone). */
void l7_hold_release(struct ilb_l7 *l7, struct l7_client *c);
/* Tries every held request again in arrival order; answers 503 past the deadline. */
void l7_hold_tick(struct ilb_l7 *l7, uint64_t now_ns);

/* l7_backend.c */
/* The request (already charged to its pod) goes to be: a kept connection if one is idle. */
void l7_backend_connect(struct ilb_l7 *l7, struct l7_client *c, const struct ilb_rt_backend *be);
/* Detaches a backend connection from its request: back to the idle list when `reuse`
 * (its response ended cleanly), closed otherwise. Releases the pod's in-flight count. */
void l7_backend_release(struct ilb_l7 *l7, struct l7_backend *b, bool reuse);
void l7_on_backend(struct ilb_l7 *l7, struct l7_backend *b, uint32_t events);
/* Sends b->tail_left bytes the kernel left in b's socket to its client, then ends the
 * response and closes the connection (bytes nobody asked for follow them). */
void l7_backend_tail(struct ilb_l7 *l7, struct l7_backend *b);
void l7_backends_tick(struct ilb_l7 *l7, uint64_t now_ns);
void l7_backends_free(struct ilb_l7 *l7);

/* l7_splice.c */
/* The ring buffer's callback: one event of sk_skb_splice about a response it streams. */
int l7_on_kernel_event(void *ctx, void *data, size_t len);
/* The response's first byte came at first_byte_ns: its time to first token goes into its
 * pod's sum, once per response (the kernel's events and the pipe path alike). */
void l7_count_ttft(struct ilb_l7 *l7, struct l7_client *c, uint64_t first_byte_ns);
void l7_stream_tick(struct ilb_l7 *l7, struct l7_client *c, uint64_t now);

/* l7_pipe.c */
int l7_pipe_arm(struct l7_backend *b, bool head_request);
void l7_pipe_pump(struct ilb_l7 *l7, struct l7_backend *b);

/* l7_end.c */
/* The one place a response ends: counts it, releases its pod (connection and in-flight
 * count), answers or closes the client as `how` says, and resets the connection for its
 * next request. kernel_bytes: what the kernel redirected of it and no event counted yet. */
void l7_response_end(struct ilb_l7 *l7, struct l7_client *c, enum l7_end how, uint64_t kernel_bytes);
/* The agent answers with an OpenAI-style error, counted under `counter` (L7_UNCOUNTED:
 * none): the connection then reads its next request when keep_alive, else closes. */
void l7_answer_error(struct ilb_l7 *l7, struct l7_client *c, enum ilb_l7_counter counter, int status,
		     const char *message, bool keep_alive, const char *retry_after);

#endif
