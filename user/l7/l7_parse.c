/* l7_parse.c - the walk's parse step: a client's bytes through the HTTP/1.1 reader until a
 * request is whole, what follows it kept for later (pipelining), the client's hang-up. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include "l7_conn.h"
#include "kern/maps.h"

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
		l7_count(l7, ILB_L7_REQUESTS);
		l7_request_start(l7, c);
	}
}

void l7_on_client(struct ilb_l7 *l7, struct l7_client *c, uint32_t events)
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
