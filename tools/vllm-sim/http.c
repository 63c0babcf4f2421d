/* http.c - routes, request bodies and responses. Generation requests are handed to the
 * engine and their connection is suspended until it has something to send: the whole
 * answer, or for SSE each new batch of tokens, so thousands of streams cost no threads. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "http.h"

#define MAX_BODY (64u << 20)

struct http_server {
	struct MHD_Daemon *d;
	const struct sim_config *cfg;
	struct engine *eng;
	struct metrics *m;
	uint64_t next_id;	/* only touched on the server thread */
};

enum route { R_UNKNOWN, R_MODELS, R_CHAT, R_COMPLETIONS, R_HEALTH, R_METRICS };

/* Per request on a connection; freed when the request completes. */
struct conn_ctx {
	struct http_server *srv;
	enum route route;
	struct buf body;
	bool too_big;
	struct api_req api;
	struct sim_req *req;	/* once submitted */
	char id[64];
	long created;
};

/* One SSE response; lives as long as the library holds the response. */
struct sse {
	struct MHD_Connection *conn;
	struct sim_req *req;
	struct api_req api;
	char *prefix;
	struct buf out;
	size_t off;
	int sent;		/* tokens already framed */
	bool head_sent, tail_sent;
};

void http_wake(void *waiter)
{
	MHD_resume_connection(waiter);
}

static enum MHD_Result send_body(struct MHD_Connection *conn, unsigned int status, char *body,
				 const char *ctype)
{
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!body)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *conn, unsigned int status, char *body)
{
	return send_body(conn, status, body, "application/json");
}

static enum MHD_Result send_error(struct MHD_Connection *conn, unsigned int status, const char *msg,
				  const char *type)
{
	return send_json(conn, status, api_error(msg, type, (int)status));
}

static enum route route_of(const char *url)
{
	static const struct { const char *path; enum route r; } table[] = {
		{ "/v1/models", R_MODELS },
		{ "/v1/chat/completions", R_CHAT },
		{ "/v1/completions", R_COMPLETIONS },
		{ "/health", R_HEALTH },
		{ "/metrics", R_METRICS },
	};
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (!strcmp(url, table[i].path))
			return table[i].r;
	return R_UNKNOWN;
}

static void sse_free(void *cls)
{
	struct sse *s = cls;
	sim_req_put(s->req);
	api_req_free(&s->api);
	free(s->prefix);
	buf_free(&s->out);
	free(s);
}

/* Frames every token the engine has produced since the last call. Called with r->lock held. */
static int sse_fill(struct sse *s)
{
	struct sim_req *r = s->req;
	int err = 0;

	if (!s->head_sent && s->api.kind == API_CHAT)
		err = api_sse_role(&s->out, s->prefix);
	s->head_sent = true;
	while (!err && s->sent < r->produced) {
		const char *fin = s->sent + 1 == r->out_tokens ? r->finish : NULL;
		err = api_sse_token(&s->out, &s->api, s->prefix, r->text + (size_t)s->sent * SIM_CHARS_PER_TOKEN,
				    SIM_CHARS_PER_TOKEN, fin);
		s->sent++;
	}
	if (!err && s->sent == r->out_tokens && !s->tail_sent) {
		if (s->api.include_usage)
			err = api_sse_usage(&s->out, s->prefix, r->prompt_tokens, r->out_tokens, r->cached_tokens);
		if (!err)
			err = api_sse_done(&s->out);
		s->tail_sent = true;
	}
	return err;
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse *s = cls;
	struct sim_req *r = s->req;
	(void)pos;

	if (s->off == s->out.len) {
		s->off = s->out.len = 0;
		pthread_mutex_lock(&r->lock);
		if (sse_fill(s)) {
			pthread_mutex_unlock(&r->lock);
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (!s->out.len) {
			if (s->tail_sent) {
				pthread_mutex_unlock(&r->lock);
				return MHD_CONTENT_READER_END_OF_STREAM;
			}
			/* Park until the engine's next token; the lock orders this before its wake. */
			r->waiter = s->conn;
			r->suspended = true;
			MHD_suspend_connection(s->conn);
			pthread_mutex_unlock(&r->lock);
			return 0;
		}
		pthread_mutex_unlock(&r->lock);
	}
	size_t n = s->out.len - s->off;
	if (n > max)
		n = max;
	memcpy(buf, s->out.p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

static enum MHD_Result reply_stream(struct MHD_Connection *conn, struct conn_ctx *ctx)
{
	struct sse *s = calloc(1, sizeof(*s));
	struct MHD_Response *resp;
	enum MHD_Result ret;

	if (!s)
		return MHD_NO;
	s->conn = conn;
	s->req = ctx->req;
	sim_req_get(s->req);
	s->api = ctx->api;
	memset(&ctx->api, 0, sizeof(ctx->api));
	s->prefix = api_chunk_prefix(&s->api, ctx->id, ctx->created);
	if (!s->prefix) {
		sse_free(s);
		return MHD_NO;
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, s, sse_free);
	if (!resp) {
		sse_free(s);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ret = MHD_queue_response(conn, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_full(struct MHD_Connection *conn, struct conn_ctx *ctx)
{
	struct sim_req *r = ctx->req;

	pthread_mutex_lock(&r->lock);
	int cached = r->cached_tokens;
	pthread_mutex_unlock(&r->lock);
	return send_json(conn, MHD_HTTP_OK, api_response(&ctx->api, ctx->id, ctx->created, r->text, r->prompt_tokens,
							 r->out_tokens, cached, r->finish));
}

/* Answers when the request is ready (done, or for SSE its first token, so that the
 * headers arrive with the first token as time-to-first-token); else parks the connection. */
static enum MHD_Result reply_or_park(struct MHD_Connection *conn, struct conn_ctx *ctx)
{
	struct sim_req *r = ctx->req;

	pthread_mutex_lock(&r->lock);
	bool ready = r->done || (ctx->api.stream && r->produced > 0);
	if (!ready) {
		r->waiter = conn;
		r->suspended = true;
		MHD_suspend_connection(conn);
		pthread_mutex_unlock(&r->lock);
		return MHD_YES;
	}
	pthread_mutex_unlock(&r->lock);
	return ctx->api.stream ? reply_stream(conn, ctx) : reply_full(conn, ctx);
}

static enum MHD_Result start_generation(struct MHD_Connection *conn, struct conn_ctx *ctx)
{
	struct http_server *srv = ctx->srv;
	char err[512];
	int rc;

	if (ctx->too_big)
		return send_error(conn, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", "BadRequestError");
	rc = api_parse(srv->cfg, ctx->route == R_CHAT ? API_CHAT : API_COMPLETION, ctx->body.p ? ctx->body.p : "",
		       ctx->body.len, &ctx->api, err, sizeof(err));
	if (rc == -ENOENT)
		return send_error(conn, MHD_HTTP_NOT_FOUND, err, "NotFoundError");
	if (rc == -ENOMEM)
		return MHD_NO;
	if (rc)
		return send_error(conn, MHD_HTTP_BAD_REQUEST, err, "BadRequestError");

	struct sim_req *r = sim_req_new();
	if (!r)
		return MHD_NO;
	r->prompt = ctx->api.prompt;
	r->prompt_len = ctx->api.prompt_len;
	ctx->api.prompt = NULL;
	r->lora = ctx->api.lora;
	r->max_tokens = ctx->api.max_tokens;
	r->ignore_eos = ctx->api.ignore_eos;
	r->seed = ctx->api.seed;
	ctx->req = r;
	api_make_id(&ctx->api, ++srv->next_id, ctx->id, sizeof(ctx->id));
	ctx->created = (long)time(NULL);

	rc = engine_submit(srv->eng, r);
	if (rc == -E2BIG) {
		int want = r->prompt_tokens + (r->max_tokens > 0 ? r->max_tokens : 0);
		snprintf(err, sizeof(err),
			 "This model's maximum context length is %d tokens. However, you requested %d tokens "
			 "(%d in the messages, %d in the completion). Please reduce the length of the messages "
			 "or completion.", srv->cfg->max_model_len, want, r->prompt_tokens,
			 r->max_tokens > 0 ? r->max_tokens : 0);
		return send_error(conn, MHD_HTTP_BAD_REQUEST, err, "BadRequestError");
	}
	if (rc)
		return send_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, strerror(-rc), "InternalServerError");
	if (srv->cfg->verbose)
		fprintf(stderr, "vllm-sim: %s model=%s prompt_tokens=%d out_tokens=%d stream=%d\n", ctx->id,
			ctx->api.model, r->prompt_tokens, r->out_tokens, ctx->api.stream);
	return reply_or_park(conn, ctx);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn, struct http_server *srv)
{
	struct engine_stats st;
	size_t len;

	engine_stats(srv->eng, &st);
	char *text = metrics_render(srv->m, &st, &len);
	return send_body(conn, MHD_HTTP_OK, text, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload_data, size_t *upload_size, void **req_cls)
{
	struct http_server *srv = cls;
	struct conn_ctx *ctx = *req_cls;
	(void)version;

	if (!ctx) {
		ctx = calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		ctx->srv = srv;
		ctx->route = route_of(url);
		*req_cls = ctx;
		return MHD_YES;
	}
	if (*upload_size) {
		if (ctx->body.len + *upload_size > MAX_BODY)
			ctx->too_big = true;
		else if (buf_add(&ctx->body, upload_data, *upload_size))
			return MHD_NO;
		*upload_size = 0;
		return MHD_YES;
	}
	if (ctx->req)	/* resumed by the engine */
		return reply_or_park(conn, ctx);

	bool get = !strcmp(method, MHD_HTTP_METHOD_GET), post = !strcmp(method, MHD_HTTP_METHOD_POST);
	switch (ctx->route) {
	case R_MODELS:
		if (!get)
			break;
		return send_json(conn, MHD_HTTP_OK, api_models(srv->cfg));
	case R_HEALTH:
		if (!get)
			break;
		return send_body(conn, MHD_HTTP_OK, strdup(""), "application/json");
	case R_METRICS:
		if (!get)
			break;
		return serve_metrics(conn, srv);
	case R_CHAT:
	case R_COMPLETIONS:
		if (!post)
			break;
		return start_generation(conn, ctx);
	default:
		return send_json(conn, MHD_HTTP_NOT_FOUND, strdup("{\"detail\":\"Not Found\"}"));
	}
	return send_json(conn, MHD_HTTP_METHOD_NOT_ALLOWED, strdup("{\"detail\":\"Method Not Allowed\"}"));
}

/* The client is gone or the request is answered: stop the engine waking this connection. */
static void completed(void *cls, struct MHD_Connection *conn, void **req_cls, enum MHD_RequestTerminationCode toe)
{
	struct conn_ctx *ctx = *req_cls;
	(void)cls;
	(void)conn;
	(void)toe;

	if (!ctx)
		return;
	if (ctx->req) {
		engine_cancel(ctx->req);
		sim_req_put(ctx->req);
	}
	api_req_free(&ctx->api);
	buf_free(&ctx->body);
	free(ctx);
	*req_cls = NULL;
}

int http_start(const struct sim_config *cfg, struct engine *eng, struct metrics *m, struct http_server **out)
{
	struct http_server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_storage ss;
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (!srv)
		return -ENOMEM;
	srv->cfg = cfg;
	srv->eng = eng;
	srv->m = m;

	memset(&ss, 0, sizeof(ss));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, cfg->host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(cfg->port);
	} else if (inet_pton(AF_INET6, cfg->host, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(cfg->port);
		flags |= MHD_USE_IPv6;
	} else {
		free(srv);
		return -EINVAL;
	}

	errno = 0;
	srv->d = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, handle, srv,
				  MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				  MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
				  MHD_OPTION_CONNECTION_LIMIT, (unsigned int)60000,
				  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)600,
				  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
				  MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned int)4096,
				  MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1,
				  MHD_OPTION_END);
	if (!srv->d) {
		int err = errno ? -errno : -EADDRINUSE;
		free(srv);
		return err;
	}
	*out = srv;
	return 0;
}
