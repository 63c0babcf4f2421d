/* l7.c - the L7 lane's request loop (see l7.h). One epoll loop on its own thread owns every
 * client and backend socket; the kernel streams responses, the loop only reads requests.
 *
 * A client connection is READING (its next request), CONNECTING (the request waits for a
 * backend connection), STREAMING (the kernel is sending the response) or CLOSING (waiting
 * for the bytes the kernel queued to reach TCP before it closes). Nothing is written to a
 * client by the agent, and no client is closed, while the kernel may still hold bytes for
 * it: closing a socket in a sockmap purges what is queued for it. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <bpf/libbpf.h>
#include "http1.h"
#include "l7.h"
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "log.h"
#include "kern/maps.h"
#include "oai.h"
#include "prefix.h"
#include "route.h"

const char *const ilb_l7_counter_names[ILB_L7__COUNT] = {
	"requests", "accepted", "bad_request", "not_found", "shed",	   "no_pod",
	"timeout",  "too_large", "bad_gateway", "client_gone", "stalled", "retries", "held",
	"activator",
};

void ilb_l7_config_default(struct ilb_l7_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_body = 16u << 20;
	cfg->inline_max = ILB_L7_INLINE_MAX;
	cfg->header_timeout_ms = 10000;
	cfg->idle_timeout_ms = 120000;
	cfg->stall_timeout_ms = 30000;
	cfg->connect_timeout_ms = 3000;
	cfg->policy = ILB_POLICY_SCHED;
	cfg->hold_max = 1024;
	cfg->hold_timeout_ms = 300000; /* a model server's cold start: image pull, weights load */
}

static void count(struct ilb_l7 *l7, enum ilb_l7_counter c)
{
	atomic_fetch_add(&l7->stats.counter[c], 1);
}

static int ep_set(struct ilb_l7 *l7, int fd, void *ptr, uint32_t events, bool add)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(l7->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

int l7_watch(struct ilb_l7 *l7, int fd, struct l7_object *obj, uint32_t events, bool add)
{
	int err;

	if (!add && obj->watching == events)
		return 0;
	err = ep_set(l7, fd, obj, events, add);
	if (!err)
		obj->watching = events;
	return err;
}

/* ---- client connections ---- */

static struct l7_client *client_of_stream(struct ilb_l7 *l7, uint64_t stream_id)
{
	uint32_t slot = (uint32_t)stream_id;

	if (slot >= L7_MAX_CLIENTS || !l7->clients[slot] || l7->clients[slot]->req.stream_id != stream_id)
		return NULL;
	return l7->clients[slot];
}

/* Bytes of this connection that TCP has taken: acked plus still in the send queue. */
static uint64_t tcp_taken(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return UINT64_MAX; /* the socket is gone: nothing left to wait for */
	return ti.tcpi_bytes_acked + (uint64_t)outq;
}

static uint64_t tcp_acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? 0 : ti.tcpi_bytes_acked;
}

/* True when every byte the kernel redirected to the client has reached its TCP queue.
 * What TCP took only grows: once it covers every byte, asking again costs nothing. */
static bool client_drained(struct l7_client *c)
{
	uint64_t need = c->kernel_bytes + c->agent_bytes;

	if (c->taken_seen >= need)
		return true;
	c->taken_seen = tcp_taken(c->fd);
	return c->taken_seen >= need;
}

void l7_client_free(struct ilb_l7 *l7, struct l7_client *c)
{
	l7_hold_release(l7, c);
	if (c->req.backend)
		l7_backend_release(l7, c->req.backend, false);
	ilb_l7_kern_del_client(l7->kern, c->cookie);
	epoll_ctl(l7->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	l7->clients[c->slot] = NULL;
	l7->n_slots_used--;
	atomic_fetch_sub(&l7->stats.connections, 1);
	ilb_http_reader_free(&c->reader);
	l7_request_clear(c);
	free(c->carry);
	free(c->out);
	l7_defer_free(l7, &c->obj);
}

void l7_defer_free(struct ilb_l7 *l7, struct l7_object *obj)
{
	obj->kind = L7_OBJ_DEAD;
	if (l7->n_dead == l7->cap_dead) {
		size_t cap = l7->cap_dead ? l7->cap_dead * 2 : 64;
		void **p = realloc(l7->dead, cap * sizeof(*p));

		if (!p) {
			free(obj); /* no room to defer: the batch's later events are for other objects */
			return;
		}
		l7->dead = p;
		l7->cap_dead = cap;
	}
	l7->dead[l7->n_dead++] = obj;
}

static void free_dead(struct ilb_l7 *l7)
{
	for (size_t i = 0; i < l7->n_dead; i++)
		free(l7->dead[i]);
	l7->n_dead = 0;
}

/* Closes once the kernel's bytes are out (or the deadline passes: a client that reads
 * nothing must not hold the connection forever). */
void l7_client_close(struct ilb_l7 *l7, struct l7_client *c)
{
	l7_hold_release(l7, c);
	if (c->req.backend)
		l7_backend_release(l7, c->req.backend, false);
	c->state = L7_CLOSING;
	c->deadline_ns = ilb_now_ns() + 5000000000ull;
	l7_watch(l7, c->fd, &c->obj, EPOLLRDHUP, false);
}

/* Queues bytes the agent itself sends (errors, 100 Continue); they leave once drained. */
int l7_client_write(struct ilb_l7 *l7, struct l7_client *c, const char *data, size_t len)
{
	char *p = realloc(c->out, c->out_len + len);

	if (!p)
		return -ENOMEM;
	memcpy(p + c->out_len, data, len);
	c->out = p;
	c->out_len += len;
	l7_client_flush(l7, c);
	return 0;
}

void l7_client_flush(struct ilb_l7 *l7, struct l7_client *c)
{
	while (c->out_off < c->out_len && client_drained(c)) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n <= 0)
			break;
		c->out_off += n;
		c->agent_bytes += n;
		c->taken_seen += n; /* drained before, so TCP holds every byte up to these */
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->req.done_when_flushed) {
			c->req.done_when_flushed = false;
			l7_response_end(l7, c, L7_END_ANSWERED, 0);
		}
	}
}

/* The port the connection was made to: sk_lookup hands the agent connections to any VIP. */
static uint16_t local_port(int fd)
{
	struct sockaddr_storage local;
	socklen_t len = sizeof(local);

	if (getsockname(fd, (struct sockaddr *)&local, &len))
		return 0;
	return ntohs(local.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&local)->sin6_port :
						   ((struct sockaddr_in *)&local)->sin_port);
}

static void on_accept(struct ilb_l7 *l7)
{
	for (;;) {
		int fd = accept4(l7->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct l7_client *c;

		if (fd < 0)
			return;
		c = calloc(1, sizeof(*c));
		if (!c || l7->n_slots_used >= L7_MAX_CLIENTS) {
			free(c);
			close(fd);
			continue;
		}
		/* Nagle would hold back small SSE chunks and inflate inter-token latency. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->obj.kind = L7_OBJ_CLIENT;
		c->fd = fd;
		c->cookie = ilb_socket_cookie(fd);
		c->local_port = local_port(fd);
		l7->n_slots_used++;
		while (l7->clients[l7->next_slot])
			l7->next_slot = (l7->next_slot + 1) % L7_MAX_CLIENTS;
		c->slot = l7->next_slot;
		l7->clients[c->slot] = c;
		c->state = L7_READING;
		c->deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.idle_timeout_ms * 1000000;
		c->header_deadline_ns = 0;
		ilb_http_reader_init(&c->reader, &l7->limits);
		atomic_fetch_add(&l7->stats.connections, 1);
		count(l7, ILB_L7_ACCEPTED);
		if (ilb_l7_kern_add_client(l7->kern, fd, c->cookie) ||
		    l7_watch(l7, fd, &c->obj, EPOLLIN | EPOLLRDHUP, true)) {
			pr_warn("l7: client socket: %s", strerror(errno));
			l7_client_free(l7, c);
		}
	}
}

/* Feeds bytes to the reader; on a complete request hands it to l7_request_start. */
static void client_feed(struct ilb_l7 *l7, struct l7_client *c, const char *data, size_t len)
{
	while (len && c->state == L7_READING) {
		size_t used = 0;
		enum ilb_http_result r = ilb_http_feed(&c->reader, data, len, &used);

		if (!c->header_deadline_ns)
			c->header_deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.header_timeout_ms * 1000000;
		if (r == ILB_HTTP_ERROR) {
			l7_answer_error(l7, c, c->reader.err_status == 413 ? ILB_L7_TOO_LARGE : ILB_L7_BAD_REQUEST,
					c->reader.err_status, c->reader.err_reason, false, NULL);
			return;
		}
		if (r == ILB_HTTP_HEAD_DONE && c->reader.req.expect_continue)
			l7_client_write(l7, c, ILB_HTTP_100_CONTINUE, strlen(ILB_HTTP_100_CONTINUE));
		data += used;
		len -= used;
		if (r != ILB_HTTP_DONE)
			continue;
		/* Keep what follows (a pipelined request) until this one is answered. */
		if (len) {
			char *p = malloc(len);

			if (!p) {
				l7_client_close(l7, c);
				return;
			}
			memcpy(p, data, len);
			free(c->carry);
			c->carry = p;
			c->carry_len = len;
			len = 0;
		}
		c->header_deadline_ns = 0;
		count(l7, ILB_L7_REQUESTS);
		l7_request_start(l7, c);
	}
}

static void on_client(struct ilb_l7 *l7, struct l7_client *c, uint32_t events)
{
	char buf[65536];

	if (c->state == L7_CLOSING) {
		if (events & (EPOLLHUP | EPOLLERR))
			l7_client_free(l7, c);
		else if (events & EPOLLRDHUP)
			/* The client is done sending; what is left of ours drains on the tick. A
			 * half-close would otherwise be reported on every wait until then. */
			l7_watch(l7, c->fd, &c->obj, 0, false);
		return;
	}
	if ((events & EPOLLOUT) && c->state == L7_STREAMING && c->req.backend && c->req.backend->piped) {
		l7_pipe_pump(l7, c->req.backend);
		return;
	}
	if ((events & EPOLLIN) && c->state == L7_READING) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

		if (n > 0) {
			client_feed(l7, c, buf, n);
			return;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		events |= EPOLLRDHUP; /* EOF */
	} else if ((events & EPOLLIN) && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
		/* Bytes before this response ended (a pipelined request): they wait in the socket
		 * until it has. Reading stays armed while a request is served, since a client
		 * that sends only after its answer, the common case, then costs no syscall. */
		l7_watch(l7, c->fd, &c->obj, c->obj.watching & ~EPOLLIN, false);
		return;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		/* The pod stops being charged for a response nobody reads. */
		if (c->state == L7_STREAMING || c->state == L7_CONNECTING || c->state == L7_HOLDING)
			l7_response_end(l7, c, L7_END_CLIENT_GONE, 0);
		else
			l7_client_free(l7, c);
	}
}

/* The response is over and the connection kept: its next request, which may be waiting
 * already (pipelined). */
void l7_client_read_next(struct ilb_l7 *l7, struct l7_client *c)
{
	c->state = L7_READING;
	c->deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.idle_timeout_ms * 1000000;
	ilb_http_reader_idle(&c->reader);
	l7_watch(l7, c->fd, &c->obj, EPOLLIN | EPOLLRDHUP, false);
	if (c->carry) {
		char *data = c->carry;
		size_t len = c->carry_len;

		c->carry = NULL;
		c->carry_len = 0;
		client_feed(l7, c, data, len);
		free(data);
	}
}

/* ---- kernel events ---- */

void l7_count_ttft(struct ilb_l7 *l7, struct l7_client *c, uint64_t first_byte_ns)
{
	if (c->req.ttft_counted || first_byte_ns <= c->req.sent_ns || c->req.backend_id >= ILB_MAX_BACKENDS)
		return;
	c->req.ttft_counted = true;
	atomic_fetch_add(&l7->stats.backend[c->req.backend_id].ttft_ns_sum, first_byte_ns - c->req.sent_ns);
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct ilb_l7 *l7 = ctx;
	const struct l7_event *ev = data;
	struct l7_client *c;

	if (len < sizeof(*ev))
		return 0;
	c = client_of_stream(l7, ev->stream_id);
	if (!c || !c->req.backend || c->req.backend->cookie != ev->backend_cookie)
		return 0; /* a stream already ended by the agent */
	switch (ev->kind) {
	case ILB_L7_EV_FIRST_BYTE:
		l7_count_ttft(l7, c, ev->first_byte_ns);
		break;
	case ILB_L7_EV_DONE:
		l7_count_ttft(l7, c, ev->first_byte_ns); /* a response in one skb has no first-byte event */
		l7_response_end(l7, c, L7_END_DONE, ev->bytes);
		break;
	case ILB_L7_EV_DONE_TAIL:
		/* The last skb is ours to read (l7_on_backend): the response's part of it goes
		 * to the client after the kernel's bytes. */
		l7_count_ttft(l7, c, ev->first_byte_ns);
		c->kernel_bytes += ev->bytes;
		c->req.backend->tail_left = ev->tail;
		l7_backend_tail(l7, c->req.backend);
		break;
	case ILB_L7_EV_PART_INLINE:
	case ILB_L7_EV_DONE_INLINE:
		/* A small response, in the events: the agent sends it, behind what the kernel
		 * still holds for this client; at its end the pod's connection is kept. */
		if (ev->tail > len - sizeof(*ev)) {
			/* a record shorter than it says: never the kernel's, yet not a reason to hang */
			l7_response_end(l7, c, L7_END_UNREADABLE, 0);
			break;
		}
		l7_count_ttft(l7, c, ev->first_byte_ns);
		if (l7_client_write(l7, c, (const char *)(ev + 1), ev->tail)) {
			l7_response_end(l7, c, L7_END_CUT, 0);
			break;
		}
		if (ev->kind == ILB_L7_EV_DONE_INLINE)
			l7_response_end(l7, c, L7_END_DONE, 0);
		break;
	case ILB_L7_EV_CLIENT_GONE:
		l7_response_end(l7, c, L7_END_CLIENT_GONE, 0);
		break;
	case ILB_L7_EV_ERROR:
		l7_response_end(l7, c, L7_END_UNREADABLE, ev->bytes);
		break;
	}
	return 0;
}

/* ---- housekeeping ---- */

static void tick(struct ilb_l7 *l7)
{
	uint64_t now = ilb_now_ns();
	struct ilb_route_table *next = NULL;

	l7->ticks++;
	pthread_mutex_lock(&l7->lock);
	next = l7->next_table;
	l7->next_table = NULL;
	pthread_mutex_unlock(&l7->lock);
	if (next) {
		ilb_route_put(l7->table);
		l7->table = next;
	}
	for (int i = 0; i < L7_MAX_CLIENTS; i++) {
		struct l7_client *c = l7->clients[i];

		if (!c)
			continue;
		if (c->out_len)
			l7_client_flush(l7, c);
		switch (c->state) {
		case L7_CLOSING:
			if ((!c->out_len && client_drained(c)) || now > c->deadline_ns) {
				shutdown(c->fd, SHUT_WR);
				l7_client_free(l7, c);
			}
			break;
		case L7_READING:
			if (c->header_deadline_ns && now > c->header_deadline_ns) {
				l7_answer_error(l7, c, ILB_L7_TIMEOUT, 408, "the request did not arrive in time", false, NULL);
			} else if (!c->header_deadline_ns && now > c->deadline_ns) {
				l7_client_close(l7, c);
			}
			break;
		case L7_HOLDING:
			break; /* l7_hold_tick */
		case L7_CONNECTING:
			if (now > c->deadline_ns)
				l7_request_connect_failed(l7, c);
			break;
		case L7_STREAMING: {
			/* A client that stops reading: the kernel would queue without limit. Checked
			 * every 100 ticks, and only while bytes are waiting for it. */
			struct l7_stream s = { 0 };
			uint64_t acked;

			if (c->req.done_when_flushed && now > c->deadline_ns) {
				/* the agent's bytes wait for a client that reads nothing */
				l7_response_end(l7, c, L7_END_STALLED, 0);
				break;
			}
			if (l7->ticks % 100 || !c->req.backend || c->req.backend->piped)
				break;
			ilb_l7_kern_stream_get(l7->kern, c->req.backend->stream_slot, &s);
			if (s.state == ILB_RESP_ERROR && !c->req.backend->tail_left) {
				/* Its error event was lost (a full ring): ended here as it would have been. */
				l7_response_end(l7, c, L7_END_UNREADABLE, s.bytes);
				break;
			}
			acked = tcp_acked(c->fd);
			if (acked != c->req.last_acked || acked >= c->kernel_bytes + c->agent_bytes + s.bytes) {
				c->req.last_acked = acked;
				c->req.stall_since_ns = now;
			} else if (now - c->req.stall_since_ns > (uint64_t)l7->cfg.stall_timeout_ms * 1000000) {
				pr_info("l7: closing a client that read nothing for %u ms", l7->cfg.stall_timeout_ms);
				l7_response_end(l7, c, L7_END_STALLED, 0);
			}
			break;
		}
		}
	}
	l7_backends_tick(l7, now);
	l7_hold_tick(l7, now);
}

static void *l7_main(void *arg)
{
	struct ilb_l7 *l7 = arg;
	struct epoll_event events[64];

	while (!atomic_load(&l7->stop)) {
		int n = epoll_wait(l7->epfd, events, 64, -1);

		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;

			if (p == &l7->listen_fd) {
				on_accept(l7);
			} else if (p == &l7->timer_fd) {
				uint64_t ticks;

				if (read(l7->timer_fd, &ticks, sizeof(ticks)) > 0)
					tick(l7);
			} else if (p == &l7->ring) {
				ring_buffer__consume(l7->ring);
			} else if (p == &l7->wake_fd) {
				uint64_t v;

				if (read(l7->wake_fd, &v, sizeof(v)) < 0)
					continue;
			} else if (((struct l7_object *)p)->kind == L7_OBJ_CLIENT) {
				on_client(l7, p, events[i].events);
			} else if (((struct l7_object *)p)->kind == L7_OBJ_BACKEND) {
				l7_on_backend(l7, p, events[i].events);
			}
		}
		free_dead(l7);
	}
	return NULL;
}

static int listen_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	/* Bound to loopback only: sk_lookup brings it the VIP connections. */
	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

struct ilb_l7 *ilb_l7_start(const struct ilb_l7_config *cfg, struct ilb_l7_kern *kern)
{
	struct ilb_l7 *l7 = calloc(1, sizeof(*l7));
	struct itimerspec period = { .it_interval.tv_nsec = 10000000, .it_value.tv_nsec = 10000000 };
	struct ilb_sched_config sc;

	if (!l7)
		return NULL;
	l7->cfg = *cfg;
	l7->kern = kern;
	l7->limits = ILB_HTTP_LIMITS_DEFAULT;
	l7->limits.max_body = cfg->max_body;
	l7->listen_fd = l7->timer_fd = l7->wake_fd = l7->epfd = -1;
	pthread_mutex_init(&l7->lock, NULL);
	ilb_sched_config_default(&sc);
	sc.policy = cfg->policy;
	sc.seed = ilb_now_ns();
	if (ilb_sched_init(&l7->sched, &sc))
		goto fail;
	l7->epfd = epoll_create1(EPOLL_CLOEXEC);
	l7->listen_fd = listen_socket();
	l7->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l7->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l7->ring = ring_buffer__new(kern->events_map, on_event, l7, NULL);
	if (l7->epfd < 0 || l7->listen_fd < 0 || l7->timer_fd < 0 || l7->wake_fd < 0 || !l7->ring)
		goto fail;
	if (ilb_l7_kern_set_listener(kern, l7->listen_fd)) {
		pr_warn("l7: listener into l7_listen: %s", strerror(errno));
		goto fail;
	}
	timerfd_settime(l7->timer_fd, 0, &period, NULL);
	ep_set(l7, l7->listen_fd, &l7->listen_fd, EPOLLIN, true);
	ep_set(l7, l7->timer_fd, &l7->timer_fd, EPOLLIN, true);
	ep_set(l7, l7->wake_fd, &l7->wake_fd, EPOLLIN, true);
	ep_set(l7, ring_buffer__epoll_fd(l7->ring), &l7->ring, EPOLLIN, true);
	if (pthread_create(&l7->thread, NULL, l7_main, l7))
		goto fail;
	l7->running = true;
	return l7;
fail:
	pr_warn("l7: starting the request loop: %s", strerror(errno));
	ilb_l7_stop(l7);
	return NULL;
}

void ilb_l7_set_table(struct ilb_l7 *l7, struct ilb_route_table *t)
{
	struct ilb_route_table *old;

	pthread_mutex_lock(&l7->lock);
	old = l7->next_table;
	l7->next_table = t;
	pthread_mutex_unlock(&l7->lock);
	ilb_route_put(old);
}

const struct ilb_l7_stats *ilb_l7_stats(const struct ilb_l7 *l7)
{
	return l7 ? &l7->stats : NULL;
}

void ilb_l7_stop(struct ilb_l7 *l7)
{
	uint64_t one = 1;

	if (!l7)
		return;
	if (l7->running) {
		atomic_store(&l7->stop, true);
		if (write(l7->wake_fd, &one, sizeof(one)) < 0)
			pr_warn("l7: waking the loop: %s", strerror(errno));
		pthread_join(l7->thread, NULL);
	}
	for (int i = 0; i < L7_MAX_CLIENTS; i++)
		if (l7->clients[i])
			l7_client_free(l7, l7->clients[i]);
	l7_backends_free(l7);
	free_dead(l7);
	free(l7->dead);
	ring_buffer__free(l7->ring);
	int fds[] = { l7->listen_fd, l7->timer_fd, l7->wake_fd, l7->epfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ilb_route_put(l7->table);
	ilb_route_put(l7->next_table);
	ilb_sched_free(&l7->sched);
	pthread_mutex_destroy(&l7->lock);
	free(l7);
}
