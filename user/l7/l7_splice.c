/* l7_splice.c - the walk's kernel step: what sk_skb_splice reports of the responses it
 * streams (first byte, end, a tail or a small answer left to the agent, errors), and the
 * watch over a stream the kernel may not report on (a client that reads nothing). */
#include <netinet/in.h>
#include <linux/tcp.h>
#include <sys/socket.h>
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "log.h"

static struct l7_client *client_of_stream(struct ilb_l7 *l7, uint64_t stream_id)
{
	uint32_t slot = (uint32_t)stream_id;

	if (slot >= L7_MAX_CLIENTS || !l7->clients[slot] || l7->clients[slot]->req.stream_id != stream_id)
		return NULL;
	return l7->clients[slot];
}

static uint64_t tcp_acked(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? 0 : ti.tcpi_bytes_acked;
}

void l7_count_ttft(struct ilb_l7 *l7, struct l7_client *c, uint64_t first_byte_ns)
{
	if (c->req.ttft_counted || first_byte_ns <= c->req.sent_ns || c->req.backend_id >= ILB_MAX_BACKENDS)
		return;
	c->req.ttft_counted = true;
	atomic_fetch_add(&l7->stats.backend[c->req.backend_id].ttft_ns_sum, first_byte_ns - c->req.sent_ns);
}

int l7_on_kernel_event(void *ctx, void *data, size_t len)
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

/* A response the kernel streams, every tick: a client that stops reading (the kernel would
 * queue without limit; checked every 100 ticks, and only while bytes are waiting for it),
 * or an error event the ring lost. */
void l7_stream_tick(struct ilb_l7 *l7, struct l7_client *c, uint64_t now)
{
	struct l7_stream s = { 0 };
	uint64_t acked;

	if (c->req.done_when_flushed && now > c->deadline_ns) {
		/* the agent's bytes wait for a client that reads nothing */
		l7_response_end(l7, c, L7_END_STALLED, 0);
		return;
	}
	if (l7->ticks % 100 || !c->req.backend || c->req.backend->piped)
		return;
	ilb_l7_kern_stream_get(l7->kern, c->req.backend->stream_slot, &s);
	if (s.state == ILB_RESP_ERROR && !c->req.backend->tail_left) {
		/* Its error event was lost (a full ring): ended here as it would have been. */
		l7_response_end(l7, c, L7_END_UNREADABLE, s.bytes);
		return;
	}
	acked = tcp_acked(c->fd);
	if (acked != c->req.last_acked || acked >= c->kernel_bytes + c->agent_bytes + s.bytes) {
		c->req.last_acked = acked;
		c->req.stall_since_ns = now;
	} else if (now - c->req.stall_since_ns > (uint64_t)l7->cfg.stall_timeout_ms * 1000000) {
		pr_info("l7: closing a client that read nothing for %u ms", l7->cfg.stall_timeout_ms);
		l7_response_end(l7, c, L7_END_STALLED, 0);
	}
}
