/* l7_kern.c - loads and attaches the L7 lane's programs and keeps its socket maps. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "l7_kern.h"
#include "log.h"
#include "maps.h"
#include "sk_lookup_l7.skel.h"
#include "sk_skb_splice.skel.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

static void link_path(char *buf, size_t len, const char *pin_dir)
{
	snprintf(buf, len, "%s/link_sk_lookup", pin_dir);
}

/* sk_lookup_l7 on this network namespace through a pinned link, adopted on restart. */
static int attach_lookup(struct ilb_l7_kern *k)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = k->pin_dir);
	struct sk_lookup_l7 *skel = NULL;
	char path[320];
	int netns = -1, link_fd, err;

	link_path(path, sizeof(path), k->pin_dir);
	link_fd = bpf_obj_get(path);
	if (link_fd >= 0) {
		close(link_fd);
		k->lookup_adopted = true;
		return 0;
	}
	skel = sk_lookup_l7__open_opts(&opts);
	if (!skel)
		return -errno;
	err = sk_lookup_l7__load(skel);
	if (err)
		goto out;
	netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (netns < 0) {
		err = -errno;
		goto out;
	}
	link_fd = bpf_link_create(bpf_program__fd(skel->progs.sk_lookup_l7), netns, BPF_SK_LOOKUP, NULL);
	if (link_fd < 0) {
		err = -errno;
		goto out;
	}
	err = bpf_obj_pin(link_fd, path) ? -errno : 0;
	close(link_fd);
out:
	if (err)
		pr_warn("attaching sk_lookup_l7: %s", strerror(-err));
	if (netns >= 0)
		close(netns);
	sk_lookup_l7__destroy(skel);
	return err;
}

/* The verdict program on `l7_backends`. Attaching again replaces the previous agent's. */
static int attach_verdict(struct ilb_l7_kern *k)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = k->pin_dir);
	struct sk_skb_splice *skel = sk_skb_splice__open_opts(&opts);
	int err;

	if (!skel)
		return -errno;
	err = sk_skb_splice__load(skel);
	if (err)
		goto out;
	k->verdict_fd = dup(bpf_program__fd(skel->progs.sk_skb_splice));
	k->backends_map = dup(bpf_map__fd(skel->maps.l7_backends));
	k->clients_map = dup(bpf_map__fd(skel->maps.l7_clients));
	k->slots_map = dup(bpf_map__fd(skel->maps.l7_stream_slots));
	k->state_map = dup(bpf_map__fd(skel->maps.l7_stream_state));
	k->events_map = dup(bpf_map__fd(skel->maps.l7_events));
	k->listen_map = dup(bpf_map__fd(skel->maps.l7_listen));
	if (bpf_prog_attach(k->verdict_fd, k->backends_map, BPF_SK_SKB_VERDICT, 0))
		err = -errno;
out:
	if (err)
		pr_warn("loading sk_skb_splice: %s", strerror(-err));
	sk_skb_splice__destroy(skel);
	return err;
}

#define STATE_BYTES ((size_t)ILB_MAX_L7_STREAMS * sizeof(struct l7_stream))

/* Slots of backend sockets a previous agent left: those sockets closed with it (the
 * sockhash dropped them), their slot entries did not. */
static void forget_dead_slots(struct ilb_l7_kern *k)
{
	uint64_t key, next, cookie, *dead = calloc(ILB_MAX_L7_STREAMS, sizeof(*dead));
	size_t n = 0;
	void *prev = NULL;

	if (!dead)
		return;
	while (n < ILB_MAX_L7_STREAMS && !bpf_map_get_next_key(k->slots_map, prev, &next)) {
		if (bpf_map_lookup_elem(k->backends_map, &next, &cookie))
			dead[n++] = next;
		key = next;
		prev = &key;
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(k->slots_map, &dead[i]);
	free(dead);
}

static int map_streams(struct ilb_l7_kern *k)
{
	void *p = mmap(NULL, STATE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, k->state_map, 0);

	if (p == MAP_FAILED)
		return -errno;
	k->streams = p;
	k->free_slots = calloc(ILB_MAX_L7_STREAMS, sizeof(*k->free_slots));
	if (!k->free_slots)
		return -ENOMEM;
	for (uint32_t i = 0; i < ILB_MAX_L7_STREAMS; i++)
		k->free_slots[i] = i;
	k->free_head = 0;
	k->n_free = ILB_MAX_L7_STREAMS;
	forget_dead_slots(k);
	return 0;
}

int ilb_l7_kern_open(struct ilb_l7_kern *k, const char *pin_dir)
{
	int err;

	memset(k, 0, sizeof(*k));
	k->listen_map = k->backends_map = k->clients_map = k->slots_map = k->state_map = k->events_map =
		k->verdict_fd = -1;
	snprintf(k->pin_dir, sizeof(k->pin_dir), "%s", pin_dir);
	err = attach_verdict(k);
	if (!err)
		err = map_streams(k);
	if (!err)
		err = attach_lookup(k);
	if (err)
		ilb_l7_kern_close(k);
	return err;
}

void ilb_l7_kern_close(struct ilb_l7_kern *k)
{
	int *fds[] = { &k->listen_map, &k->backends_map, &k->clients_map, &k->slots_map, &k->state_map,
		       &k->events_map, &k->verdict_fd };

	if (k->streams)
		munmap(k->streams, STATE_BYTES);
	k->streams = NULL;
	free(k->free_slots);
	k->free_slots = NULL;
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

bool ilb_l7_kern_pins_stale(const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct sk_skb_splice *splice = sk_skb_splice__open_opts(&opts);
	struct sk_lookup_l7 *lookup = sk_lookup_l7__open_opts(&opts);
	int stale = 0;

	if (splice)
		stale += ilb_maps_count_stale(splice->obj);
	if (lookup)
		stale += ilb_maps_count_stale(lookup->obj);
	sk_skb_splice__destroy(splice);
	sk_lookup_l7__destroy(lookup);
	return stale > 0;
}

void ilb_l7_kern_detach(const char *pin_dir)
{
	char path[320];
	int fd;

	link_path(path, sizeof(path), pin_dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		bpf_link_detach(fd);
		close(fd);
	}
	unlink(path);
}

int ilb_l7_kern_set_listener(struct ilb_l7_kern *k, int fd)
{
	uint32_t zero = 0;
	uint64_t value = (uint64_t)fd;

	return bpf_map_update_elem(k->listen_map, &zero, &value, BPF_ANY) ? -errno : 0;
}

uint64_t ilb_socket_cookie(int fd)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	return getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &len) ? 0 : cookie;
}

static int sock_add(int map, int fd, uint64_t cookie)
{
	uint64_t value = (uint64_t)fd;

	return bpf_map_update_elem(map, &cookie, &value, BPF_NOEXIST) ? -errno : 0;
}

static int sock_del(int map, uint64_t cookie)
{
	return bpf_map_delete_elem(map, &cookie) && errno != ENOENT ? -errno : 0;
}

int ilb_l7_kern_add_client(struct ilb_l7_kern *k, int fd, uint64_t cookie)
{
	return sock_add(k->clients_map, fd, cookie);
}

int ilb_l7_kern_del_client(struct ilb_l7_kern *k, uint64_t cookie)
{
	return sock_del(k->clients_map, cookie);
}

int ilb_l7_kern_add_backend(struct ilb_l7_kern *k, int fd, uint64_t cookie, uint32_t *slot)
{
	uint32_t s;
	int err;

	if (!k->n_free)
		return -ENOSPC;
	s = k->free_slots[k->free_head];
	memset(&k->streams[s], 0, sizeof(k->streams[s]));
	if (bpf_map_update_elem(k->slots_map, &cookie, &s, BPF_ANY))
		return -errno;
	err = sock_add(k->backends_map, fd, cookie);
	if (err) {
		bpf_map_delete_elem(k->slots_map, &cookie);
		return err;
	}
	k->free_head = (k->free_head + 1) % ILB_MAX_L7_STREAMS;
	k->n_free--;
	*slot = s;
	return 0;
}

int ilb_l7_kern_del_backend(struct ilb_l7_kern *k, uint64_t cookie, uint32_t slot)
{
	int err = sock_del(k->backends_map, cookie);

	bpf_map_delete_elem(k->slots_map, &cookie);
	if (slot < ILB_MAX_L7_STREAMS && k->n_free < ILB_MAX_L7_STREAMS) {
		k->free_slots[(k->free_head + k->n_free) % ILB_MAX_L7_STREAMS] = slot;
		k->n_free++;
	}
	return err;
}

int ilb_l7_kern_stream_start(struct ilb_l7_kern *k, uint32_t slot, uint64_t client_cookie, uint64_t stream_id,
			     bool head_request, uint32_t inline_max)
{
	struct l7_stream *s = &k->streams[slot];
	uint32_t idle = ILB_RESP_IDLE;

	/* While the slot is idle the verdict program only ever stores its state. */
	s->client_cookie = client_cookie;
	s->stream_id = stream_id;
	s->first_byte_ns = s->bytes = s->remaining = s->length = 0;
	s->flags = head_request ? ILB_STREAM_NO_BODY : 0;
	s->status = s->line_len = s->field = s->token = 0;
	s->inline_max = inline_max;
	return __atomic_compare_exchange_n(&s->state, &idle, ILB_RESP_HEAD, false, __ATOMIC_RELEASE,
					   __ATOMIC_RELAXED) ?
		       0 :
		       -EPROTO;
}

void ilb_l7_kern_stream_get(const struct ilb_l7_kern *k, uint32_t slot, struct l7_stream *out)
{
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	*out = k->streams[slot];
}

int ilb_l7_kern_stream_end(struct ilb_l7_kern *k, uint32_t slot)
{
	uint32_t done = ILB_RESP_DONE;

	return __atomic_compare_exchange_n(&k->streams[slot].state, &done, ILB_RESP_IDLE, false, __ATOMIC_ACQ_REL,
					   __ATOMIC_RELAXED) ?
		       0 :
		       -EPROTO;
}

bool ilb_l7_kern_stream_idle(const struct ilb_l7_kern *k, uint32_t slot)
{
	return __atomic_load_n(&k->streams[slot].state, __ATOMIC_ACQUIRE) == ILB_RESP_IDLE;
}
