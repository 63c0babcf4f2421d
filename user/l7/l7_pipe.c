/* l7_pipe.c - the L7 lane's splice(2) path: where a backend socket cannot go into the
 * sockmap (an older kernel, or --splice=pipe), the agent moves the response itself through
 * a pipe, pod socket -> pipe -> client socket, without copying the body into user space.
 * Only the framing (head, chunk-size lines) is peeked at, by the same code sk_skb_splice
 * runs in the kernel (include/framing.h), so both paths end a response at the same byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include "framing.h"
#include "l7_conn.h"
#include "log.h"
#include "kern/maps.h"

/* Bytes gathered in the pipe before they move on: one splice to the client carries every
 * chunk (and its framing) that arrived together, not a splice per piece. */
#define PIPE_FILL 65536
#define PEEK_SIZE 16384

int l7_pipe_arm(struct l7_backend *b, bool head_request)
{
	if (b->pipe[0] < 0 && pipe2(b->pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	memset(&b->framing, 0, sizeof(b->framing));
	b->framing.state = ILB_RESP_HEAD;
	b->framing.flags = head_request ? ILB_STREAM_NO_BODY : 0;
	b->in_pipe = 0;
	b->client_full = false;
	return 0;
}

/* The client cannot take more now: wait until it can. */
static void wait_client(struct ilb_l7 *l7, struct l7_client *c, bool on)
{
	l7_watch(l7, c->fd, &c->obj, (c->obj.watching & EPOLLIN) | EPOLLRDHUP | (on ? EPOLLOUT : 0), false);
}

static void finish(struct ilb_l7 *l7, struct l7_client *c, enum l7_end how)
{
	wait_client(l7, c, false);
	l7_response_end(l7, c, how, 0);
}

/* n bytes of body or chunk data went by: past the last, the response or its chunk ends. */
static void data_taken(struct l7_stream *s, uint64_t n)
{
	s->remaining -= n;
	if (!s->remaining)
		s->state = s->state == ILB_RESP_BODY_LENGTH ? ILB_RESP_DONE : ILB_RESP_CHUNK_SIZE;
}

static bool ended(const struct l7_stream *s)
{
	return s->state == ILB_RESP_DONE || s->state == ILB_RESP_ERROR;
}

/* Follows the framing over bytes already peeked, data skipped by `remaining`: returns how
 * many of them belong to this response (all up to its end, or the byte found wrong). */
static size_t frame_span(struct l7_stream *s, const char *buf, size_t len)
{
	size_t k = 0;

	while (k < len && !ended(s)) {
		if (s->state == ILB_RESP_UNTIL_CLOSE)
			return len;
		if (framing_in_data(s)) {
			size_t skip = len - k < s->remaining ? len - k : (size_t)s->remaining;

			data_taken(s, skip);
			k += skip;
			continue;
		}
		framing_byte(s, (uint8_t)buf[k++]);
	}
	return k;
}

/* Moves one piece pod socket -> pipe, at most `room` bytes: a long body straight, anything
 * shorter through a peek that follows its framing. Returns bytes moved, 0 when the pod
 * closed, -1 with errno (EAGAIN: nothing more yet), or 0 with the state ILB_RESP_ERROR. */
static ssize_t fill_once(struct ilb_l7 *l7, struct l7_backend *b, char *peek, size_t room)
{
	struct l7_client *c = b->client;
	struct l7_stream *s = &b->framing;
	ssize_t n;

	if (framing_in_data(s) && (s->state == ILB_RESP_UNTIL_CLOSE || s->remaining > PEEK_SIZE)) {
		size_t want = s->state != ILB_RESP_UNTIL_CLOSE && s->remaining < room ? s->remaining : room;

		n = splice(b->fd, NULL, b->pipe[1], NULL, want, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n > 0 && s->state != ILB_RESP_UNTIL_CLOSE)
			data_taken(s, n);
	} else {
		struct l7_stream before = *s;
		ssize_t got = recv(b->fd, peek, room < PEEK_SIZE ? room : PEEK_SIZE, MSG_PEEK | MSG_DONTWAIT);
		size_t k;

		if (got <= 0)
			return got;
		k = frame_span(s, peek, got);
		if (s->state == ILB_RESP_ERROR)
			return 0;
		n = splice(b->fd, NULL, b->pipe[1], NULL, k, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n >= 0 && (size_t)n < k) {
			/* the pipe took less than was read: follow the framing over those bytes only */
			*s = before;
			frame_span(s, peek, n);
		}
		if (n == 0) {
			errno = EAGAIN; /* nothing moved though the socket had bytes: try again on the next wakeup */
			return -1;
		}
	}
	if (n <= 0)
		return n;
	if (!s->first_byte_ns) {
		s->first_byte_ns = ilb_now_ns();
		l7_count_ttft(l7, c, s->first_byte_ns);
	}
	s->bytes += n;
	b->in_pipe += n;
	return n;
}

/* Moves what can move now: what the pod has sent gathered in the pipe, then the pipe to
 * the client, until the pod has nothing more, the client can take nothing more, or the
 * response ends. */
void l7_pipe_pump(struct ilb_l7 *l7, struct l7_backend *b)
{
	struct l7_client *c = b->client;
	struct l7_stream *s = &b->framing;
	bool pod_empty = false, pod_closed = false;
	char peek[PEEK_SIZE];

	while (c) {
		while (b->in_pipe) {
			ssize_t n = splice(b->pipe[0], NULL, c->fd, NULL, b->in_pipe, SPLICE_F_NONBLOCK | SPLICE_F_MOVE);

			if (n < 0 && errno == EAGAIN) {
				if (!b->client_full)
					wait_client(l7, c, true);
				b->client_full = true;
				return;
			}
			if (n <= 0) {
				l7_response_end(l7, c, L7_END_CLIENT_UNREACHABLE, 0);
				return;
			}
			b->in_pipe -= n;
			c->agent_bytes += n;
		}
		if (b->client_full) {
			wait_client(l7, c, false);
			b->client_full = false;
		}
		if (s->state == ILB_RESP_DONE) {
			finish(l7, c, L7_END_DONE);
			return;
		}
		if (s->state == ILB_RESP_ERROR) {
			finish(l7, c, L7_END_UNREADABLE);
			return;
		}
		if (pod_closed) {
			/* the end of an unframed body, else a cut response */
			finish(l7, c, s->state == ILB_RESP_UNTIL_CLOSE ? L7_END_POD_CLOSED : L7_END_UNREADABLE);
			return;
		}
		if (pod_empty)
			return;
		ssize_t n = 1;

		while (n > 0 && b->in_pipe < PIPE_FILL && !ended(s))
			n = fill_once(l7, b, peek, PIPE_FILL - b->in_pipe);
		if (n < 0 && errno == EAGAIN)
			pod_empty = true;
		else if (n <= 0 && s->state != ILB_RESP_ERROR)
			pod_closed = true;
	}
}
