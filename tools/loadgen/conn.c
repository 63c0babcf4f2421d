/* conn.c - the client side of one HTTP/1.1 connection. llhttp does the framing (chunked,
 * Content-Length, close-delimited); this file times the bytes and reads the OpenAI payloads. */
#include "conn.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "engine.h"

/* Whole (non-streamed) bodies are kept up to this size to read their usage. */
#define BODY_KEEP_MAX (4u << 20)

static llhttp_settings_t settings;
static char rbuf[64 * 1024];

static struct conn *conn_of(llhttp_t *p)
{
	return p->data;
}

static int on_message_begin(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	c->msg_done = c->sse = false;
	buf_reset(&c->hname);
	buf_reset(&c->hval);
	buf_reset(&c->body);
	sse_reset(&c->sse_st);
	return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->hname.len < 64)
		buf_add(&c->hname, at, n);
	return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->hval.len < 256)
		buf_add(&c->hval, at, n);
	return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	/* Streamed bodies are told apart by their type, not by what was asked: an error answer
	 * to a streaming request is plain JSON. */
	if (c->hname.len == 12 && !strncasecmp(c->hname.data, "content-type", 12))
		c->sse = c->hval.len >= 17 && !strncasecmp(c->hval.data, "text/event-stream", 17);
	buf_reset(&c->hname);
	buf_reset(&c->hval);
	return 0;
}

static int on_headers_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	if (c->req)
		c->req->rec.status = p->status_code;
	return 0;
}

static void on_event(void *ctx, const char *data, size_t n)
{
	struct conn *c = ctx;
	struct lg_record *rec = &c->req->rec;
	struct oai_info info;

	if (n == 6 && !memcmp(data, "[DONE]", 6))
		return;
	if (oai_parse(data, n, &info))
		return;
	if (info.content) {
		rec->chunks++;
		if (rec->t_first_token < 0)
			rec->t_first_token = c->now;
	}
	if (info.usage) {
		rec->usage = true;
		rec->in_tokens = info.prompt_tokens;
		rec->out_tokens = info.completion_tokens;
	}
	if (info.error && !c->stream_err) {
		c->stream_err = true;
		memcpy(c->err_msg, info.error_msg, sizeof(c->err_msg));
	}
}

static int on_body(llhttp_t *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->sse)
		sse_feed(&c->sse_st, at, n, on_event, c);
	else if (c->body.len + n <= BODY_KEEP_MAX)
		buf_add(&c->body, at, n);
	return 0;
}

static int on_message_complete(llhttp_t *p)
{
	struct conn *c = conn_of(p);

	/* An interim 1xx answer is followed by the real one. */
	if (p->status_code >= 100 && p->status_code < 200)
		return 0;
	c->msg_done = true;
	c->keepalive = llhttp_should_keep_alive(p);
	/* Stop here: the request is finished outside the parser's callbacks. */
	return HPE_PAUSED;
}

void conn_global_init(void)
{
	llhttp_settings_init(&settings);
	settings.on_message_begin = on_message_begin;
	settings.on_header_field = on_header_field;
	settings.on_header_value = on_header_value;
	settings.on_header_value_complete = on_header_value_complete;
	settings.on_headers_complete = on_headers_complete;
	settings.on_body = on_body;
	settings.on_message_complete = on_message_complete;
}

static void set_events(struct conn *c, uint32_t ev)
{
	struct epoll_event e = { .events = ev, .data.ptr = c };

	if (ev != c->events && !epoll_ctl(c->eng->epfd, EPOLL_CTL_MOD, c->fd, &e))
		c->events = ev;
}

struct conn *conn_open(struct engine *e, const struct sockaddr *sa, socklen_t salen, int *err)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	int one = 1;

	if (!c) {
		*err = -ENOMEM;
		return NULL;
	}
	c->eng = e;
	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	/* Requests go out in one write; Nagle would only hold back a tail segment. */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, sa, salen) && errno != EINPROGRESS)
		goto fail;
	c->state = C_CONNECTING;
	c->events = EPOLLOUT;
	ev = (struct epoll_event){ .events = c->events, .data.ptr = c };
	if (epoll_ctl(e->epfd, EPOLL_CTL_ADD, c->fd, &ev))
		goto fail;
	llhttp_init(&c->parser, HTTP_RESPONSE, &settings);
	c->parser.data = c;
	e->st->conns_opened++;
	return c;
fail:
	*err = -errno;
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return NULL;
}

void conn_destroy(struct conn *c)
{
	engine_conn_gone(c->eng, c);
	close(c->fd);
	buf_free(&c->hname);
	buf_free(&c->hval);
	buf_free(&c->body);
	sse_free(&c->sse_st);
	free(c);
}

/* Ends the attached request. The connection survives only a complete response that allows
 * keep-alive; a request that died unanswered on a reused connection is sent again once,
 * since the server may have closed that connection just as the request went out. */
static void conn_finish(struct conn *c, enum lg_err err)
{
	struct engine *e = c->eng;
	struct lg_req *r = c->req;
	struct lg_record *rec = &r->rec;
	bool keep = c->keepalive && (err == LG_OK || err == LG_ERR_STATUS || err == LG_ERR_STREAM);
	bool retry = (err == LG_ERR_IO || err == LG_ERR_PARSE) && c->served > 0 && !rec->bytes_recv &&
		     !r->retried;

	c->req = NULL;
	rec->t_done = engine_clock(e);
	rec->reused = c->served > 0;
	rec->err = err;
	if (!rec->usage && rec->stream)
		rec->out_tokens = rec->chunks;
	if (err == LG_ERR_STATUS || err == LG_ERR_STREAM)
		stats_error_sample(e->st, err == LG_ERR_STREAM ? -1 : rec->status, c->err_msg,
				   strlen(c->err_msg));
	c->served++;
	if (keep) {
		engine_conn_idle(e, c);
	} else {
		/* a whole answer that did not allow keep-alive: the server chose to close */
		if (err == LG_OK || err == LG_ERR_STATUS || err == LG_ERR_STREAM)
			e->st->conns_closed_by_server++;
		conn_destroy(c);
	}
	engine_req_done(e, r, retry);
}

/* A whole response: read its usage or error message, then decide its outcome. */
static void conn_complete(struct conn *c)
{
	struct lg_record *rec = &c->req->rec;
	enum lg_err err;

	c->err_msg[0] = '\0';
	if (c->sse) {
		c->now = engine_clock(c->eng);
		sse_end(&c->sse_st, on_event, c);
	} else if (c->body.len) {
		struct oai_info info;

		if (!oai_parse(c->body.data, c->body.len, &info)) {
			if (info.usage) {
				rec->usage = true;
				rec->in_tokens = info.prompt_tokens;
				rec->out_tokens = info.completion_tokens;
			}
			if (info.error)
				memcpy(c->err_msg, info.error_msg, sizeof(c->err_msg));
		} else if (rec->status >= 300) {
			/* not JSON: keep the start of the text as the sample */
			size_t n = c->body.len < sizeof(c->err_msg) - 1 ? c->body.len : sizeof(c->err_msg) - 1;

			memcpy(c->err_msg, c->body.data, n);
			c->err_msg[n] = '\0';
		}
	}
	if (rec->status < 200 || rec->status >= 300)
		err = LG_ERR_STATUS;
	else
		err = c->stream_err ? LG_ERR_STREAM : LG_OK;
	conn_finish(c, err);
}

static void conn_flush(struct conn *c)
{
	struct lg_req *r = c->req;

	while (r->off < r->wire.len) {
		ssize_t n = send(c->fd, r->wire.data + r->off, r->wire.len - r->off, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				set_events(c, EPOLLIN | EPOLLOUT);
				return;
			}
			conn_finish(c, LG_ERR_IO);
			return;
		}
		r->off += (size_t)n;
		r->rec.bytes_sent += (uint64_t)n;
	}
	set_events(c, EPOLLIN);
}

void conn_start(struct conn *c, struct lg_req *r)
{
	c->req = r;
	c->stream_err = false;
	c->keepalive = false;
	c->msg_done = false;
	c->err_msg[0] = '\0';
	r->off = 0;
	r->rec.t_send = engine_clock(c->eng);
	if (c->state == C_OPEN)
		conn_flush(c);
}

static void conn_readable(struct conn *c)
{
	for (;;) {
		ssize_t n = recv(c->fd, rbuf, sizeof(rbuf), 0);
		llhttp_errno_t perr;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return;
			break;
		}
		if (n == 0)
			break;
		if (!c->req) {
			/* bytes nobody asked for: the connection can no longer be trusted */
			conn_destroy(c);
			return;
		}
		c->now = engine_clock(c->eng);
		if (c->req->rec.t_first_byte < 0)
			c->req->rec.t_first_byte = c->now;
		c->req->rec.bytes_recv += (uint64_t)n;
		perr = llhttp_execute(&c->parser, rbuf, (size_t)n);
		if (perr == HPE_PAUSED) {
			/* anything after the response would be an answer to nothing */
			if (llhttp_get_error_pos(&c->parser) != rbuf + n)
				c->keepalive = false;
			llhttp_resume(&c->parser);
			conn_complete(c);
			return;
		}
		if (perr != HPE_OK) {
			conn_finish(c, LG_ERR_PARSE);
			return;
		}
		/* A short read drained the socket; epoll is level-triggered and will say when
		 * more comes, which saves the recv() that would only return EAGAIN. */
		if ((size_t)n < sizeof(rbuf))
			return;
	}
	/* EOF or a reset: ends a close-delimited body, anything else cut short is an error */
	if (!c->req) {
		c->eng->st->conns_closed_by_server++;
		conn_destroy(c);
		return;
	}
	if (llhttp_finish(&c->parser) == HPE_PAUSED && c->msg_done) {
		c->keepalive = false;
		conn_complete(c);
		return;
	}
	conn_finish(c, LG_ERR_IO);
}

void conn_event(struct conn *c, uint32_t events)
{
	if (c->state == C_CONNECTING) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr) {
			if (c->req)
				conn_finish(c, LG_ERR_CONNECT);
			else
				conn_destroy(c);
			return;
		}
		c->state = C_OPEN;
		if (c->req)
			conn_flush(c);
		return;
	}
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
		conn_readable(c);
		return;
	}
	if ((events & EPOLLOUT) && c->req)
		conn_flush(c);
}

void conn_abort(struct conn *c, enum lg_err err)
{
	c->keepalive = false;
	conn_finish(c, err);
}
