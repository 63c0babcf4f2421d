/* l7_kern.h - the kernel side of the L7 lane as the agent drives it: sk_lookup_l7 on the
 * node's network namespace (a pinned link), sk_skb_splice as the verdict of `l7_backends`,
 * the listener slot, socket pairing and the `l7_events` ring buffer. */
#ifndef ILB_L7_KERN_H
#define ILB_L7_KERN_H

#include <stdbool.h>
#include <stdint.h>
#include "inferlb.h"

struct ring_buffer;

struct ilb_l7_kern {
	char pin_dir[200];
	int listen_map, backends_map, clients_map, slots_map, state_map, events_map;
	int verdict_fd;
	bool lookup_adopted;
	/* `l7_stream_state`, mapped: a stream is armed and ended with stores, not syscalls */
	struct l7_stream *streams;
	/* free slots, first in first out: a slot freed while a verdict may still be writing
	 * to it on another CPU is the last to be handed out again */
	uint32_t *free_slots;
	uint32_t free_head, n_free;
};

/* Loads both programs against the pinned maps (created by ilb_maps_open), attaches the
 * verdict to `l7_backends` and sk_lookup_l7 to the current network namespace. */
int ilb_l7_kern_open(struct ilb_l7_kern *k, const char *pin_dir);
void ilb_l7_kern_close(struct ilb_l7_kern *k);
/* True when the L7 lane's pinned maps under pin_dir are of another version's shape. */
bool ilb_l7_kern_pins_stale(const char *pin_dir);
/* Removes the sk_lookup link (used by --cleanup; the maps go with ilb_maps_unpin). */
void ilb_l7_kern_detach(const char *pin_dir);

/* Puts the agent's listening socket in slot 0 of `l7_listen`. */
int ilb_l7_kern_set_listener(struct ilb_l7_kern *k, int fd);
uint64_t ilb_socket_cookie(int fd);
/* Client sockets: redirect targets. */
int ilb_l7_kern_add_client(struct ilb_l7_kern *k, int fd, uint64_t cookie);
int ilb_l7_kern_del_client(struct ilb_l7_kern *k, uint64_t cookie);
/* Backend sockets: their bytes go through sk_skb_splice from now on, followed in the stream
 * slot *slot (idle until armed). */
int ilb_l7_kern_add_backend(struct ilb_l7_kern *k, int fd, uint64_t cookie, uint32_t *slot);
int ilb_l7_kern_del_backend(struct ilb_l7_kern *k, uint64_t cookie, uint32_t slot);
/* Arms a backend's slot for one response, streamed to the client `client_cookie` (or, when
 * at most inline_max bytes, carried in ring events: see struct l7_stream); -EPROTO when the
 * pod sent bytes nobody asked for since its last response. */
int ilb_l7_kern_stream_start(struct ilb_l7_kern *k, uint32_t slot, uint64_t client_cookie, uint64_t stream_id,
			     bool head_request, uint32_t inline_max);
/* A copy of the slot's stream as the verdict program left it. */
void ilb_l7_kern_stream_get(const struct ilb_l7_kern *k, uint32_t slot, struct l7_stream *out);
/* The response ended: the slot idles for the connection's next request. -EPROTO when the
 * response did not end cleanly or bytes followed it: the connection must not be reused. */
int ilb_l7_kern_stream_end(struct ilb_l7_kern *k, uint32_t slot);
/* True while a kept connection's slot has seen nothing since its last response. */
bool ilb_l7_kern_stream_idle(const struct ilb_l7_kern *k, uint32_t slot);

#endif
