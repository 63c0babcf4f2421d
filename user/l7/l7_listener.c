/* l7_listener.c - the walk's first step: the connections sk_lookup hands the listener, and
 * each client connection's life (its queued bytes, its timers, its close). Nothing is written
 * to a client by the agent, and no client is closed, while the kernel may still hold bytes
 * for it: closing a socket in a sockmap purges what is queued for it. */
#include <errno.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "kern/maps.h"
#include "log.h"

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

void l7_on_accept(struct ilb_l7 *l7)
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
		l7_count(l7, ILB_L7_ACCEPTED);
		if (ilb_l7_kern_add_client(l7->kern, fd, c->cookie) ||
		    l7_watch(l7, fd, &c->obj, EPOLLIN | EPOLLRDHUP, true)) {
			pr_warn("l7: client socket: %s", strerror(errno));
			l7_client_free(l7, c);
		}
	}
}

/* A client connection's timers, every tick: its queued bytes, its close, its deadlines. */
void l7_client_tick(struct ilb_l7 *l7, struct l7_client *c, uint64_t now)
{
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
			/* Idle only once it has taken every byte of its answers: a client that
			 * pipelined requests may still be reading them. One that reads nothing
			 * is closed a stall timeout later. */
			if ((!c->out_len && client_drained(c)) ||
			    now > c->deadline_ns + (uint64_t)l7->cfg.stall_timeout_ms * 1000000)
				l7_client_close(l7, c);
		}
		break;
	case L7_HOLDING:
		break; /* l7_hold_tick */
	case L7_CONNECTING:
		if (now > c->deadline_ns)
			l7_request_connect_failed(l7, c);
		break;
	case L7_STREAMING:
		l7_stream_tick(l7, c, now);
		break;
	}
}
