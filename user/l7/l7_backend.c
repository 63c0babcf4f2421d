/* l7_backend.c - the walk's backend step: the connection to a pod (connect, the idle pool of
 * kept connections, sending the request, a response's tail and the pod's hang-up). A
 * connection enters `l7_backends` once connected and before the request is written to it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "log.h"
#include "kern/maps.h"
#include "route.h"

static void backend_close(struct ilb_l7 *l7, struct l7_backend *b)
{
	if (b->in_map)
		ilb_l7_kern_del_backend(l7->kern, b->cookie, b->stream_slot);
	epoll_ctl(l7->epfd, EPOLL_CTL_DEL, b->fd, NULL);
	close(b->fd);
	if (b->pipe[0] >= 0) {
		close(b->pipe[0]);
		close(b->pipe[1]);
	}
	l7_defer_free(l7, &b->obj);
}

static void unlink_idle(struct ilb_l7 *l7, struct l7_backend *b)
{
	for (struct l7_backend **p = &l7->idle[b->id]; *p; p = &(*p)->next_idle) {
		if (*p == b) {
			*p = b->next_idle;
			return;
		}
	}
}

void l7_backend_release(struct ilb_l7 *l7, struct l7_backend *b, bool reuse)
{
	struct l7_client *c = b->client;
	int n_idle = 0;

	if (c) {
		l7_inflight_leave(l7, c);
		c->req.backend = NULL;
		b->client = NULL;
	}
	for (struct l7_backend *i = l7->idle[b->id]; i; i = i->next_idle)
		n_idle++;
	if (!reuse || !b->connected || n_idle >= L7_MAX_IDLE_PER_BACKEND || b->in_pipe ||
	    (b->in_map && ilb_l7_kern_stream_end(l7->kern, b->stream_slot))) {
		backend_close(l7, b);
		return;
	}
	b->idle_since_ns = ilb_now_ns();
	b->next_idle = l7->idle[b->id];
	l7->idle[b->id] = b;
	/* Idle: a close wakes the agent. Bytes nobody asked for do on the pipe path; on the
	 * sockmap the verdict program drops them and marks the slot, seen before reuse. */
	l7_watch(l7, b->fd, &b->obj, EPOLLRDHUP | (b->in_map ? 0 : EPOLLIN), false);
}

/* Writes what is left of the request; the response then streams in the kernel. */
static void backend_send(struct ilb_l7 *l7, struct l7_backend *b)
{
	struct l7_client *c = b->client;
	/* On the sockmap the verdict program takes every byte of the response: waking for
	 * them would only find an empty queue. The pipe path reads them itself. */
	uint32_t events = EPOLLRDHUP | (b->piped ? EPOLLIN : 0);

	while (b->out_off < c->req.forward_len) {
		ssize_t n = send(b->fd, c->req.forward + b->out_off, c->req.forward_len - b->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EAGAIN) {
			events |= EPOLLOUT;
			break;
		}
		if (n <= 0) {
			l7_request_connect_failed(l7, c);
			return;
		}
		b->out_off += n;
	}
	l7_watch(l7, b->fd, &b->obj, events, false);
}

/* Connected: into `l7_backends`, armed for this response, then the request goes out. */
static void backend_ready(struct ilb_l7 *l7, struct l7_backend *b)
{
	struct l7_client *c = b->client;
	int rc = 0;

	if (!b->in_map && !b->piped && !l7->cfg.splice_pipe) {
		rc = ilb_l7_kern_add_backend(l7->kern, b->fd, b->cookie, &b->stream_slot);
		b->in_map = rc == 0;
		if (rc && !l7->pipe_warned) {
			pr_warn("l7: the sockmap refuses backend sockets (%s): responses go through splice(2)",
				strerror(-rc));
			l7->pipe_warned = true;
		}
		b->piped = rc != 0;
		rc = 0;
	}
	if (l7->cfg.splice_pipe)
		b->piped = true;
	if (b->piped)
		rc = l7_pipe_arm(b, c->req.head_request);
	else
		rc = ilb_l7_kern_stream_start(l7->kern, b->stream_slot, c->cookie, c->req.stream_id,
					      c->req.head_request, l7->cfg.inline_max);
	if (rc) {
		pr_warn("l7: arming the backend connection: %s", strerror(-rc));
		l7_request_connect_failed(l7, c);
		return;
	}
	b->connected = true;
	c->state = L7_STREAMING;
	c->req.sent_ns = ilb_now_ns();
	c->req.ttft_counted = false;
	c->req.agent_bytes_at_send = c->agent_bytes;
	c->req.last_acked = 0;
	c->req.stall_since_ns = c->req.sent_ns;
	b->out_off = 0;
	backend_send(l7, b);
}

/* A kept connection to be's address, if one is idle; unconnected ones met are closed. */
static struct l7_backend *take_idle(struct ilb_l7 *l7, const struct ilb_rt_backend *be)
{
	struct l7_backend **p = &l7->idle[be->id], *b;

	while ((b = *p)) {
		if (!b->connected || (b->in_map && !ilb_l7_kern_stream_idle(l7->kern, b->stream_slot))) {
			*p = b->next_idle;
			backend_close(l7, b);
			continue;
		}
		if (b->port == be->port && ilb_addr_equal(&b->addr, &be->addr)) {
			*p = b->next_idle;
			b->next_idle = NULL;
			return b;
		}
		p = &b->next_idle;
	}
	return NULL;
}

void l7_backend_connect(struct ilb_l7 *l7, struct l7_client *c, const struct ilb_rt_backend *be)
{
	struct sockaddr_storage sa = { 0 };
	socklen_t sa_len;
	struct l7_backend *b;
	int one = 1;

	c->sequence++;
	c->req.stream_id = (uint64_t)c->slot | (uint64_t)c->sequence << 32;
	c->state = L7_CONNECTING;
	c->deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.connect_timeout_ms * 1000000;
	/* A kept connection to this pod, if one is idle. */
	b = take_idle(l7, be);
	if (b) {
		b->client = c;
		c->req.backend = b;
		backend_ready(l7, b);
		return;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		goto fail;
	b->obj.kind = L7_OBJ_BACKEND;
	b->id = be->id;
	b->addr = be->addr;
	b->port = be->port;
	b->pipe[0] = b->pipe[1] = -1;
	b->fd = socket(be->addr.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (b->fd < 0) {
		free(b);
		goto fail;
	}
	setsockopt(b->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (be->addr.family == 6) {
		struct sockaddr_in6 *s6 = (void *)&sa;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(be->port);
		memcpy(&s6->sin6_addr, be->addr.bytes, 16);
		sa_len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&sa;

		s4->sin_family = AF_INET;
		s4->sin_port = htons(be->port);
		memcpy(&s4->sin_addr, be->addr.bytes, 4);
		sa_len = sizeof(*s4);
	}
	b->cookie = ilb_socket_cookie(b->fd);
	b->client = c;
	c->req.backend = b;
	if (connect(b->fd, (void *)&sa, sa_len) && errno != EINPROGRESS) {
		c->req.backend = NULL;
		backend_close(l7, b);
		goto fail;
	}
	l7_watch(l7, b->fd, &b->obj, EPOLLOUT | EPOLLRDHUP, true);
	return;
fail:
	l7_request_connect_failed(l7, c);
}

/* The pod could not take the request: the next-best pod once, then 503. */
/* The response's last bytes, in the skb the kernel left us: to the client once the
 * kernel's have left, then the response is done. Read at once when the end event comes
 * (the skb is nearly always queued by then), else when the socket says so. */
void l7_backend_tail(struct ilb_l7 *l7, struct l7_backend *b)
{
	struct l7_client *c = b->client;
	char buf[16384];

	while (b->tail_left) {
		ssize_t n = recv(b->fd, buf, b->tail_left < sizeof(buf) ? b->tail_left : sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			l7_watch(l7, b->fd, &b->obj, EPOLLRDHUP | EPOLLIN, false);
			return;
		}
		if (n <= 0 || l7_client_write(l7, c, buf, n)) {
			l7_response_end(l7, c, L7_END_BROKEN, 0);
			return;
		}
		b->tail_left -= n;
	}
	l7_response_end(l7, c, L7_END_DONE_LAST, 0); /* what follows is nobody's */
}

void l7_on_backend(struct ilb_l7 *l7, struct l7_backend *b, uint32_t events)
{
	struct l7_client *c = b->client;

	if (!c) {
		/* An idle kept connection: the pod closed it, or sent what nobody asked for. */
		unlink_idle(l7, b);
		backend_close(l7, b);
		return;
	}
	if (!b->connected) {
		int err = 0;
		socklen_t len = sizeof(err);

		if ((events & (EPOLLERR | EPOLLHUP)) || getsockopt(b->fd, SOL_SOCKET, SO_ERROR, &err, &len) || err) {
			l7_request_connect_failed(l7, c);
			return;
		}
		backend_ready(l7, b);
		return;
	}
	if (events & EPOLLOUT) {
		backend_send(l7, b);
		return;
	}
	if (b->piped) {
		l7_pipe_pump(l7, b);
		return;
	}
	if ((events & EPOLLIN) && b->tail_left) {
		l7_backend_tail(l7, b);
		return;
	}
	if (events & EPOLLIN) {
		/* Bytes the kernel left to us: a response it could not follow (its event says so). */
		char buf[4096];

		while (recv(b->fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	}
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		struct l7_stream s = { 0 };

		ilb_l7_kern_stream_get(l7->kern, b->stream_slot, &s);
		if (s.state == ILB_RESP_DONE || s.state == ILB_RESP_UNSOLICITED)
			return; /* its end event is on the way */
		if (s.state == ILB_RESP_UNTIL_CLOSE) {
			/* A response without framing ends with the pod's close: so does the client's. */
			l7_response_end(l7, c, L7_END_HANGUP, s.bytes);
			return;
		}
		l7_response_end(l7, c, L7_END_POD_GONE, s.bytes);
	}
}

/* Kept connections idle for a minute are closed: the pod may be gone or scaled away. */
void l7_backends_tick(struct ilb_l7 *l7, uint64_t now_ns)
{
	for (int i = 0; i < ILB_MAX_BACKENDS; i++) {
		struct l7_backend **p = &l7->idle[i];

		while (*p) {
			struct l7_backend *b = *p;

			/* a minute idle, or bytes nobody asked for (the verdict program dropped them) */
			if (now_ns - b->idle_since_ns < 60000000000ull &&
			    (!b->in_map || ilb_l7_kern_stream_idle(l7->kern, b->stream_slot))) {
				p = &b->next_idle;
				continue;
			}
			*p = b->next_idle;
			backend_close(l7, b);
		}
	}
}

void l7_backends_free(struct ilb_l7 *l7)
{
	for (int i = 0; i < ILB_MAX_BACKENDS; i++) {
		while (l7->idle[i]) {
			struct l7_backend *b = l7->idle[i];

			l7->idle[i] = b->next_idle;
			backend_close(l7, b);
		}
		ilb_prefix_lru_free(l7->prefix[i]);
		l7->prefix[i] = NULL;
	}
}
