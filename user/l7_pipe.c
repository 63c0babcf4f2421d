/* l7_pipe.c - the L7 lane's splice(2) path: where a backend socket cannot go into the
 * sockmap (an older kernel, or --splice=pipe), the agent moves the response itself through
 * a pipe, pod socket -> pipe -> client socket, without copying the body into user space.
 * Only the framing (head, chunk-size lines) is peeked at, by the same code sk_skb_splice
 * runs in the kernel (bpf/framing.h), so both paths end a response at the same byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "../bpf/framing.h"
#include "l7_conn.h"
#include "log.h"
#include "maps.h"

#define PIPE_CHUNK 65536

int l7_pipe_arm(struct l7_backend *b, bool head_request)
{
	if (b->pipe[0] < 0 && pipe2(b->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	memset(&b->framing, 0, sizeof(b->framing));
	b->framing.state = ILB_RESP_HEAD;
	b->framing.flags = head_request ? ILB_STREAM_NO_BODY : 0;
	b->in_pipe = 0;
	return 0;
}

/* The client cannot take more now: wait until it can. */
static void wait_client(struct ilb_l7 *l7, struct l7_client *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLRDHUP | (on ? EPOLLOUT : 0), .data.ptr = c };

	epoll_ctl(l7->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void finish(struct ilb_l7 *l7, struct l7_backend *b, struct l7_client *c, bool clean, bool pod_closed)
{
	uint32_t id = b->id;

	wait_client(l7, c, false);
	if (!clean) {
		atomic_fetch_add(&l7->stats.counter[ILB_L7_BAD_GATEWAY], 1);
		l7_backend_release(l7, b, false);
		if (c->agent_bytes == c->agent_bytes_at_send)
			l7_client_error(l7, c, 502, "the model server's response could not be read", false, NULL);
		else
			l7_client_close(l7, c);
		return;
	}
	if (id < ILB_MAX_BACKENDS)
		atomic_fetch_add(&l7->stats.backend[id].responses, 1);
	if (pod_closed)
		c->keep_alive = false;
	l7_backend_release(l7, b, !pod_closed);
	l7_client_response_done(l7, c, 0);
}

/* Moves what can move now: pipe to client first, then socket to pipe by framing. */
void l7_pipe_pump(struct ilb_l7 *l7, struct l7_backend *b)
{
	struct l7_client *c = b->client;
	struct l7_stream *s = &b->framing;
	char peek[4096];

	while (c) {
		ssize_t n;

		if (b->in_pipe) {
			n = splice(b->pipe[0], NULL, c->fd, NULL, b->in_pipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n < 0 && errno == EAGAIN) {
				wait_client(l7, c, true);
				return;
			}
			if (n <= 0) {
				atomic_fetch_add(&l7->stats.counter[ILB_L7_CLIENT_GONE], 1);
				l7_backend_release(l7, b, false);
				l7_client_close(l7, c);
				return;
			}
			b->in_pipe -= n;
			c->agent_bytes += n;
			continue;
		}
		wait_client(l7, c, false);
		if (s->state == ILB_RESP_DONE) {
			finish(l7, b, c, true, false);
			return;
		}
		if (s->state == ILB_RESP_ERROR) {
			finish(l7, b, c, false, false);
			return;
		}
		if (framing_in_data(s)) {
			size_t want = s->state == ILB_RESP_UNTIL_CLOSE || s->remaining > PIPE_CHUNK ? PIPE_CHUNK :
												       s->remaining;

			n = splice(b->fd, NULL, b->pipe[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		} else {
			ssize_t k, got = recv(b->fd, peek, sizeof(peek), MSG_PEEK | MSG_DONTWAIT);

			if (got <= 0) {
				n = got;
				goto moved;
			}
			/* Framing bytes up to the first byte of data (or the end of the response). */
			for (k = 0; k < got && !framing_in_data(s) && s->state != ILB_RESP_DONE &&
				    s->state != ILB_RESP_ERROR;
			     k++)
				framing_byte(s, (uint8_t)peek[k]);
			if (s->state == ILB_RESP_ERROR) {
				finish(l7, b, c, false, false);
				return;
			}
			n = splice(b->fd, NULL, b->pipe[1], NULL, k, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n >= 0 && n < k) {
				/* the pipe took less than was read: read those bytes again next time */
				pr_warn("l7: pipe took %zd of %zd framing bytes", n, k);
				s->state = ILB_RESP_ERROR;
			}
			goto counted;
		}
moved:
		if (n > 0 && framing_in_data(s) && s->state != ILB_RESP_UNTIL_CLOSE) {
			s->remaining -= n;
			if (!s->remaining)
				s->state = s->state == ILB_RESP_BODY_LENGTH ? ILB_RESP_DONE : ILB_RESP_CHUNK_SIZE;
		}
counted:
		if (n < 0 && errno == EAGAIN)
			return;
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			/* the pod closed: the end of an unframed body, else a cut response */
			finish(l7, b, c, s->state == ILB_RESP_UNTIL_CLOSE, true);
			return;
		}
		if (!s->first_byte_ns) {
			s->first_byte_ns = ilb_now_ns();
			if (b->id < ILB_MAX_BACKENDS && s->first_byte_ns > c->sent_ns)
				atomic_fetch_add(&l7->stats.backend[b->id].ttft_ns_sum, s->first_byte_ns - c->sent_ns);
		}
		s->bytes += n;
		b->in_pipe += n;
	}
}
