/* l7_end.c - the walk's last step: every response ends here, whoever saw its end (a kernel
 * event, the pod's tail or hang-up, the pipe path, the agent's own answer, the client). */
#include <string.h>
#include "l7_conn.h"
#include "kern/maps.h"
#include "oai.h"

/* An OpenAI-style error, then the connection closes unless keep_alive. */
static void write_error(struct ilb_l7 *l7, struct l7_client *c, int status, const char *message, bool keep_alive,
			const char *retry_after)
{
	char body[8192], buf[9216];
	struct ilb_http_header extra = { .name = "Retry-After", .value = retry_after, .name_len = 11,
					 .value_len = retry_after ? strlen(retry_after) : 0 };
	ssize_t body_len = ilb_oai_error_body(body, sizeof(body), status, "%s", message);
	struct ilb_http_resp resp = {
		.status = status,
		.content_type = "application/json",
		.body = body,
		.body_len = body_len > 0 ? (size_t)body_len : 0,
		.keep_alive = keep_alive,
		.extra = retry_after ? &extra : NULL,
		.n_extra = retry_after ? 1 : 0,
	};
	ssize_t n = ilb_http_write_response(&resp, buf, sizeof(buf));

	if (n > 0)
		l7_client_write(l7, c, buf, n);
	if (!keep_alive)
		l7_client_close(l7, c);
}

/* The connection is done with this response: it reads its next request, or closes. */
static void response_over(struct ilb_l7 *l7, struct l7_client *c, uint64_t kernel_bytes)
{
	bool keep_alive = c->req.keep_alive;

	l7_hold_release(l7, c);
	c->kernel_bytes += kernel_bytes;
	if (c->out_len && keep_alive) {
		/* The agent's own bytes (an error, an answer's tail) still wait for the kernel's:
		 * the next request waits for them, or its answer could overtake them. */
		c->req.done_when_flushed = true;
		c->state = L7_STREAMING;
		c->deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.stall_timeout_ms * 1000000;
		return;
	}
	l7_request_clear(c);
	if (!keep_alive) {
		l7_client_close(l7, c);
		return;
	}
	l7_client_read_next(l7, c);
}

/* The pod's response ends unfinished: a 502 when nothing of it has reached the client,
 * else the client's close (a second answer inside the first one's body would be garbage). */
static void response_failed(struct ilb_l7 *l7, struct l7_client *c, uint64_t kernel_bytes, const char *message)
{
	l7_count(l7, ILB_L7_BAD_GATEWAY);
	c->kernel_bytes += kernel_bytes;
	if (c->req.backend)
		l7_backend_release(l7, c->req.backend, false);
	if (kernel_bytes == 0 && c->agent_bytes == c->req.agent_bytes_at_send)
		write_error(l7, c, 502, message, false, NULL);
	else
		l7_client_close(l7, c);
}

/* The response ends with its client's connection: the pod is let go, the client closed. */
static void close_client(struct ilb_l7 *l7, struct l7_client *c)
{
	if (c->req.backend)
		l7_backend_release(l7, c->req.backend, false);
	l7_client_close(l7, c);
}

void l7_response_end(struct ilb_l7 *l7, struct l7_client *c, enum l7_end how, uint64_t kernel_bytes)
{
	switch (how) {
	case L7_END_ANSWERED:
		break;
	case L7_END_DONE:
	case L7_END_DONE_LAST:
	case L7_END_POD_CLOSED:
		if (c->req.backend_id < ILB_MAX_BACKENDS)
			atomic_fetch_add(&l7->stats.backend[c->req.backend_id].responses, 1);
		/* fallthrough */
	case L7_END_HANGUP:
		if (how == L7_END_POD_CLOSED || how == L7_END_HANGUP)
			c->req.keep_alive = false;
		if (c->req.backend)
			l7_backend_release(l7, c->req.backend, how == L7_END_DONE);
		break;
	case L7_END_UNREADABLE:
		response_failed(l7, c, kernel_bytes, "the model server's response could not be read");
		return;
	case L7_END_POD_GONE:
		response_failed(l7, c, kernel_bytes, "the model server closed the connection");
		return;
	case L7_END_BROKEN:
	case L7_END_CLIENT_UNREACHABLE:
		l7_count(l7, how == L7_END_BROKEN ? ILB_L7_BAD_GATEWAY : ILB_L7_CLIENT_GONE);
		/* fallthrough */
	case L7_END_CUT:
		close_client(l7, c);
		return;
	case L7_END_CLIENT_GONE:
	case L7_END_STALLED:
		l7_count(l7, how == L7_END_STALLED ? ILB_L7_STALLED : ILB_L7_CLIENT_GONE);
		l7_client_free(l7, c);
		return;
	}
	response_over(l7, c, kernel_bytes);
}

void l7_answer_error(struct ilb_l7 *l7, struct l7_client *c, enum ilb_l7_counter counter, int status,
		     const char *message, bool keep_alive, const char *retry_after)
{
	l7_count(l7, counter);
	write_error(l7, c, status, message, keep_alive, retry_after);
	if (keep_alive)
		response_over(l7, c, 0);
}
