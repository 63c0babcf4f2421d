/* l7_request.c - one request through the L7 lane: the gateway's own paths, the OpenAI body,
 * route, admission and pick, then the backend connection (kept per pod and reused), which
 * enters `l7_backends` once connected and before the request is written to it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "log.h"
#include "kern/maps.h"
#include "oai.h"
#include "route.h"

static void count(struct ilb_l7 *l7, enum ilb_l7_counter c)
{
	atomic_fetch_add(&l7->stats.counter[c], 1);
}

void l7_request_clear(struct l7_client *c)
{
	free(c->forward);
	c->forward = NULL;
	c->forward_len = 0;
	free(c->pods);
	c->pods = NULL;
	c->n_pods = 0;
	free(c->prompt);
	c->prompt = NULL;
	ilb_prefix_blocks_free(&c->blocks);
	ilb_route_put(c->table);
	c->table = NULL;
	memset(&c->sreq, 0, sizeof(c->sreq));
	c->attempts = 0;
	c->via_activator = false;
	c->pool = -1;
}

static void respond(struct ilb_l7 *l7, struct l7_client *c, int status, const char *type, const char *body,
		    size_t len)
{
	char head[65536];
	struct ilb_http_resp resp = {
		.status = status, .content_type = type, .body = body, .body_len = len, .keep_alive = c->keep_alive
	};
	ssize_t n = len < sizeof(head) - 512 ? ilb_http_write_response(&resp, head, sizeof(head)) : -ENOSPC;

	if (n > 0)
		l7_client_write(l7, c, head, n);
	if (!c->keep_alive) {
		l7_client_close(l7, c);
		return;
	}
	l7_client_response_done(l7, c, 0);
}

/* GET /v1/models: every model and adapter the gateway can route. */
static void list_models(struct ilb_l7 *l7, struct l7_client *c)
{
	const struct ilb_route_table *t = l7->table;
	struct ilb_oai_model *m = calloc(t->n_models + 64, sizeof(*m));
	size_t n = 0;
	char *json;

	if (!m) {
		l7_client_error(l7, c, 500, "out of memory", false, NULL);
		return;
	}
	for (int i = 0; i < t->n_models; i++) {
		bool seen = false;

		for (size_t j = 0; j < n; j++)
			seen |= !strcmp(m[j].id, t->models[i].model);
		if (!seen && t->models[i].model[0])
			m[n++] = (struct ilb_oai_model){ .id = t->models[i].model, .owned_by = "inferlb",
							 .created = time(NULL) };
	}
	/* The base model each pod serves (its metrics' model_name), and the adapters pods
	 * report running or waiting, with that model as their parent. */
	struct ilb_pod_load *loads = ilb_route_loads(t); /* the names below point into it */

	for (int p = 0, k = 0; loads && p < t->n_pools; p++) {
		for (int b = 0; b < t->pools[p].n_backends; b++) {
			const struct ilb_pod_load *ld = &loads[k++];
			bool seen = !ld->model[0];

			for (size_t j = 0; j < n; j++)
				seen |= !strcmp(m[j].id, ld->model);
			if (!seen && n < (size_t)t->n_models + 64)
				m[n++] = (struct ilb_oai_model){ .id = ld->model, .owned_by = "vllm", .created = time(NULL) };

			for (int a = 0; a < ld->n_running_lora + ld->n_waiting_lora && a < 2 * ILB_MAX_LORA_NAMES; a++) {
				const char *name = a < ld->n_running_lora ? ld->running_lora[a] :
									   ld->waiting_lora[a - ld->n_running_lora];
				bool seen = false;

				for (size_t j = 0; j < n; j++)
					seen |= !strcmp(m[j].id, name);
				if (!seen && n < (size_t)t->n_models + 64)
					m[n++] = (struct ilb_oai_model){ .id = name, .owned_by = "vllm",
									 .parent = ld->model[0] ? ld->model : NULL,
									 .created = time(NULL) };
			}
		}
	}
	json = ilb_oai_models_json(m, n);
	free(m);
	free(loads);
	if (!json) {
		l7_client_error(l7, c, 500, "out of memory", false, NULL);
		return;
	}
	respond(l7, c, 200, "application/json", json, strlen(json));
	free(json);
}

/* The request names a LoRA adapter when a pod of the pool reports it. */
static bool is_adapter(const struct ilb_rt_pool *pool, const char *model)
{
	for (int b = 0; b < pool->n_backends; b++) {
		struct ilb_pod_load copy;
		const struct ilb_pod_load *ld = ilb_rt_backend_load(&pool->backends[b], &copy);

		for (int a = 0; a < ld->n_running_lora && a < ILB_MAX_LORA_NAMES; a++)
			if (!strcmp(ld->running_lora[a], model))
				return true;
		for (int a = 0; a < ld->n_waiting_lora && a < ILB_MAX_LORA_NAMES; a++)
			if (!strcmp(ld->waiting_lora[a], model))
				return true;
	}
	return false;
}

static struct ilb_http_header header(const char *name, const char *value)
{
	return (struct ilb_http_header){ .name = name, .value = value, .name_len = strlen(name),
					 .value_len = strlen(value) };
}

static void endpoint_text(const struct ilb_rt_backend *be, char *buf, size_t len)
{
	char ip[64];

	ilb_addr_format(&be->addr, ip, sizeof(ip));
	snprintf(buf, len, be->addr.family == 6 ? "[%s]:%u" : "%s:%u", ip, be->port);
}

static int build_forward(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq, const char *model,
			 const struct ilb_rt_backend *be)
{
	const char *body = c->reader.req.body, *pool = c->table->pools[c->pool].name, *slash = strchr(pool, '/');
	char *alloc = NULL, endpoint[80], ns[ILB_NS_MAX];
	ssize_t body_len = c->reader.req.body_len;
	struct ilb_http_header extra[3];
	size_t n_extra = 1;
	ssize_t head_len;
	size_t cap;

	if (oreq && strcmp(model, oreq->model)) {
		body_len = ilb_oai_rewrite_model(oreq, model, &body, &alloc);
		if (body_len < 0)
			return (int)body_len;
	}
	endpoint_text(be, endpoint, sizeof(endpoint));
	extra[0] = header("x-gateway-destination-endpoint", endpoint);
	/* Knative's ingress names the revision to the activator in these two (a client's own
	 * are replaced); the Host stays the client's */
	if (c->via_activator && slash) {
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pool), pool);
		extra[n_extra++] = header("Knative-Serving-Namespace", ns);
		extra[n_extra++] = header("Knative-Serving-Revision", slash + 1);
	}
	cap = c->reader.req.arena_len + 1024 + (size_t)body_len;
	free(c->forward);
	c->forward = malloc(cap);
	if (!c->forward) {
		free(alloc);
		return -ENOMEM;
	}
	head_len = ilb_http_write_head(&c->reader.req, body_len, extra, n_extra, c->forward, cap);
	if (head_len < 0) {
		free(alloc);
		return (int)head_len;
	}
	if (body_len)
		memcpy(c->forward + head_len, body, body_len);
	c->forward_len = head_len + body_len;
	free(alloc);
	return 0;
}

/* A retry to another backend: the destination header names the first pick, so it is
 * rewritten (the rest of the request, its model rewrite included, stays). */
static void retarget_forward(struct l7_client *c, const struct ilb_rt_backend *be)
{
	char *old = c->forward, endpoint[80], *n;
	const char *hdr = old ? strstr(old, "x-gateway-destination-endpoint: ") : NULL, *eol;
	size_t pre, post_off, len;

	if (!hdr)
		return;
	eol = strstr(hdr, "\r\n");
	pre = hdr - old;
	post_off = eol - old;
	endpoint_text(be, endpoint, sizeof(endpoint));
	n = malloc(c->forward_len + 128);
	if (!n)
		return;
	memcpy(n, old, pre);
	len = pre + sprintf(n + pre, "x-gateway-destination-endpoint: %s", endpoint);
	memcpy(n + len, old + post_off, c->forward_len - post_off);
	c->forward_len = len + c->forward_len - post_off;
	free(old);
	c->forward = n;
}

static void backend_connect(struct ilb_l7 *l7, struct l7_client *c, const struct ilb_rt_backend *be);

/* No ready pod, the revision's SKS in Proxy mode: to one of the activator's addresses (round
 * robin, another than `failed` on a retry), which holds the request until Knative has a pod,
 * as it does for Knative's own ingress. The agent's hold queue is not used. */
static void via_activator(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq, const char *model,
			  int failed)
{
	const struct ilb_rt_pool *pool = &c->table->pools[c->pool];
	int i = (int)(l7->activator_next++ % (uint32_t)pool->n_activator);

	if (i == failed)
		i = (i + 1) % pool->n_activator;
	c->via_activator = true;
	c->activator_index = i;
	if (failed < 0) {
		if (build_forward(l7, c, oreq, model, &pool->activator[i])) {
			l7_client_error(l7, c, 500, "the request could not be rewritten", false, NULL);
			return;
		}
		count(l7, ILB_L7_ACTIVATOR);
		if (pool->kernel_id < ILB_MAX_POOLS)
			atomic_fetch_add(&l7->stats.activated[pool->kernel_id], 1);
	} else {
		retarget_forward(c, &pool->activator[i]);
	}
	backend_connect(l7, c, &pool->activator[i]);
}

/* No pod of a scaled-to-zero pool: the request waits (what its client sends meanwhile waits
 * in the socket: on_client stops reading it). */
static void hold(struct ilb_l7 *l7, struct l7_client *c)
{
	if (!c->held) {
		c->held = true;
		c->hold_seq = ++l7->hold_seq;
		c->hold_deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.hold_timeout_ms * 1000000;
		c->held_pool = c->table->pools[c->pool].kernel_id;
		l7->n_held++;
		count(l7, ILB_L7_HELD);
		if (c->held_pool < ILB_MAX_POOLS)
			atomic_fetch_add(&l7->stats.pending[c->held_pool], 1);
	}
	c->state = L7_HOLDING;
}

void l7_hold_release(struct ilb_l7 *l7, struct l7_client *c)
{
	if (!c->held)
		return;
	c->held = false;
	l7->n_held--;
	if (c->held_pool < ILB_MAX_POOLS)
		atomic_fetch_sub(&l7->stats.pending[c->held_pool], 1);
}

static int by_hold_seq(const void *a, const void *b)
{
	const struct l7_client *x = *(struct l7_client *const *)a, *y = *(struct l7_client *const *)b;

	return x->hold_seq < y->hold_seq ? -1 : x->hold_seq > y->hold_seq;
}

void l7_hold_tick(struct ilb_l7 *l7, uint64_t now_ns)
{
	struct l7_client **held;
	unsigned n = 0;
	bool retry = l7->table != l7->hold_table;

	if (!l7->n_held)
		return;
	held = malloc(l7->n_held * sizeof(*held));
	if (!held)
		return;
	for (int i = 0; i < L7_MAX_CLIENTS && n < l7->n_held; i++)
		if (l7->clients[i] && l7->clients[i]->state == L7_HOLDING)
			held[n++] = l7->clients[i];
	qsort(held, n, sizeof(*held), by_hold_seq);
	l7->hold_table = l7->table;
	for (unsigned i = 0; i < n; i++) {
		struct l7_client *c = held[i];

		if (now_ns > c->hold_deadline_ns) {
			l7_hold_release(l7, c);
			count(l7, ILB_L7_NO_POD);
			l7_client_error(l7, c, 503, "no model server became ready in time", false, "30");
		} else if (retry) {
			l7_request_clear(c);
			c->state = L7_READING;
			l7_request_start(l7, c);
		}
	}
	free(held);
}

/* Picks (or re-picks after a failure) and starts the connection. */
static void pick_and_go(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq, const char *model,
			int failed)
{
	struct ilb_sched_result res;
	int rc;

	for (int i = 0; i < c->n_pods; i++)
		c->pods[i].inflight = atomic_load(&l7->stats.backend[c->pods[i].id].inflight);
	rc = failed < 0 ? ilb_sched_pick(&l7->sched, &c->sreq, c->pods, c->n_pods, ilb_now_ns(), &res) :
			  ilb_sched_next(&l7->sched, &c->sreq, c->pods, c->n_pods, failed, ilb_now_ns(), &res);
	if (rc == -EBUSY) {
		count(l7, ILB_L7_SHED);
		atomic_fetch_add(&l7->stats.sheds[c->table->pools[c->pool].kernel_id], 1);
		l7_client_error(l7, c, 429, res.reason ? res.reason : "the pool is saturated", c->keep_alive, "1");
		if (c->keep_alive)
			l7_client_response_done(l7, c, 0);
		return;
	}
	if (rc == -ENOENT && failed < 0 && c->table->pools[c->pool].n_activator) {
		via_activator(l7, c, oreq, model, -1);
		return;
	}
	if (rc == -ENOENT && failed < 0 && c->table->pools[c->pool].hold &&
	    (c->held || l7->n_held < l7->cfg.hold_max)) {
		hold(l7, c);
		return;
	}
	if (rc < 0) {
		count(l7, ILB_L7_NO_POD);
		l7_client_error(l7, c, 503, res.reason ? res.reason : "no ready model server", c->keep_alive, "1");
		if (c->keep_alive)
			l7_client_response_done(l7, c, 0);
		return;
	}
	if (failed < 0) {
		if (build_forward(l7, c, oreq, model, &c->table->pools[c->pool].backends[rc])) {
			l7_client_error(l7, c, 500, "the request could not be rewritten", false, NULL);
			return;
		}
	} else {
		retarget_forward(c, &c->table->pools[c->pool].backends[rc]);
	}
	backend_connect(l7, c, &c->table->pools[c->pool].backends[rc]);
}

void l7_request_start(struct ilb_l7 *l7, struct l7_client *c)
{
	const struct ilb_http_req *req = &c->reader.req;
	const struct ilb_route_table *t = l7->table;
	struct ilb_oai_req oreq = { 0 };
	struct ilb_route_result route;
	enum ilb_route_status rs;
	char msg[256], path[512];
	uint16_t port;
	int rc;

	c->keep_alive = req->keep_alive;
	c->head_request = !strcmp(req->method, "HEAD");
	c->pool = -1;
	snprintf(path, sizeof(path), "%.*s", (int)(req->path_len < sizeof(path) ? req->path_len : sizeof(path) - 1),
		 req->path);
	port = c->local_port;
	if (!t) {
		count(l7, ILB_L7_NO_POD);
		l7_client_error(l7, c, 503, "the gateway has no routes yet", false, "1");
		return;
	}
	if (!strcmp(req->method, "GET") && !strcmp(path, "/v1/models")) {
		list_models(l7, c);
		return;
	}
	if (!strcmp(req->method, "GET") && (!strcmp(path, "/health") || !strcmp(path, "/healthz"))) {
		respond(l7, c, 200, "text/plain", "ok\n", 3);
		return;
	}
	rc = ilb_oai_parse(&oreq, ilb_oai_api_from_path(path, strlen(path)), req->body ? req->body : "", req->body_len,
			   msg, sizeof(msg));
	if (rc) {
		count(l7, ILB_L7_BAD_REQUEST);
		l7_client_error(l7, c, rc == -ENOMEM ? 500 : 400, rc == -ENOMEM ? "out of memory" : msg, c->keep_alive,
				NULL);
		if (c->keep_alive)
			l7_client_response_done(l7, c, 0);
		return;
	}
	rs = ilb_route_resolve(t, req->host, path, port, oreq.model, req->objective, (uint32_t)random(), &route);
	if (rs != ILB_ROUTE_OK) {
		count(l7, ILB_L7_NOT_FOUND);
		if (rs == ILB_ROUTE_NO_HOST)
			snprintf(msg, sizeof(msg), "No route for host `%.100s`.", req->host);
		else
			snprintf(msg, sizeof(msg), "The model `%.200s` does not exist.", oreq.model);
		ilb_oai_req_free(&oreq);
		l7_client_error(l7, c, 404, msg, c->keep_alive, NULL);
		if (c->keep_alive)
			l7_client_response_done(l7, c, 0);
		return;
	}
	const struct ilb_rt_pool *pool = &t->pools[route.pool];

	/* the request keeps its table: pods[].health and the pick's index point into it */
	ilb_route_get(l7->table);
	c->table = l7->table;
	c->pool = route.pool;
	snprintf(c->model, sizeof(c->model), "%s", route.model);
	c->prompt = oreq.prompt ? strdup(oreq.prompt) : NULL;
	c->pods = calloc(pool->n_backends ? pool->n_backends : 1, sizeof(*c->pods));
	if (!c->pods) {
		ilb_oai_req_free(&oreq);
		l7_client_error(l7, c, 500, "out of memory", false, NULL);
		return;
	}
	c->n_pods = pool->n_backends;
	for (int i = 0; i < pool->n_backends; i++) {
		const struct ilb_rt_backend *be = &pool->backends[i];

		if (!l7->prefix[be->id])
			l7->prefix[be->id] = ilb_prefix_lru_new(0);
		c->pods[i] = (struct ilb_sched_pod){ .id = be->id, .ready = be->ready, .draining = be->draining,
						     .health = be->health,
						     .prefix = l7->prefix[be->id] };
	}
	c->sreq.model = c->model;
	c->sreq.adapter = is_adapter(pool, c->model) ? c->model : NULL;
	c->sreq.prompt = c->prompt ? c->prompt : "";
	c->sreq.prompt_len = c->prompt ? strlen(c->prompt) : 0;
	c->sreq.priority = route.priority;
	if (ilb_prefix_hash_blocks(c->model, c->sreq.prompt, c->sreq.prompt_len, ILB_PREFIX_DEFAULT_MAX_BLOCKS,
				   &c->blocks) >= 0)
		c->sreq.blocks = &c->blocks;
	pick_and_go(l7, c, &oreq, c->model, -1);
	ilb_oai_req_free(&oreq);
}

/* ---- backend connections ---- */

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

/* The request leaves its pod's in-flight count (once, whatever ended it). */
static void inflight_leave(struct ilb_l7 *l7, struct l7_client *c)
{
	if (c->inflight_counted && c->backend_id < ILB_MAX_BACKENDS)
		atomic_fetch_sub(&l7->stats.backend[c->backend_id].inflight, 1);
	c->inflight_counted = false;
}

void l7_backend_release(struct ilb_l7 *l7, struct l7_backend *b, bool reuse)
{
	struct l7_client *c = b->client;
	int n_idle = 0;

	if (c) {
		inflight_leave(l7, c);
		c->backend = NULL;
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

	while (b->out_off < c->forward_len) {
		ssize_t n = send(b->fd, c->forward + b->out_off, c->forward_len - b->out_off, MSG_NOSIGNAL);

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
		rc = l7_pipe_arm(b, c->head_request);
	else
		rc = ilb_l7_kern_stream_start(l7->kern, b->stream_slot, c->cookie, c->stream_id, c->head_request,
					      l7->cfg.inline_max);
	if (rc) {
		pr_warn("l7: arming the backend connection: %s", strerror(-rc));
		l7_request_connect_failed(l7, c);
		return;
	}
	b->connected = true;
	c->state = L7_STREAMING;
	c->sent_ns = ilb_now_ns();
	c->ttft_counted = false;
	c->agent_bytes_at_send = c->agent_bytes;
	c->last_acked = 0;
	c->stall_since_ns = c->sent_ns;
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

static void backend_connect(struct ilb_l7 *l7, struct l7_client *c, const struct ilb_rt_backend *be)
{
	struct sockaddr_storage sa = { 0 };
	socklen_t sa_len;
	struct l7_backend *b;
	int one = 1;

	l7_hold_release(l7, c);
	c->attempts++;
	c->backend_id = be->id;
	/* Counted at the pick, not once connected: every request picked while connections are
	 * still being made must see the ones before it. */
	atomic_fetch_add(&l7->stats.backend[be->id].inflight, 1);
	atomic_fetch_add(&l7->stats.backend[be->id].picks, 1);
	c->inflight_counted = true;
	for (int i = 0; i < c->n_pods; i++)
		if (c->pods[i].id == be->id)
			ilb_sched_commit(&l7->sched, &c->sreq, c->pods, c->n_pods, i);
	c->sequence++;
	c->stream_id = (uint64_t)c->slot | (uint64_t)c->sequence << 32;
	c->state = L7_CONNECTING;
	c->deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.connect_timeout_ms * 1000000;
	/* A kept connection to this pod, if one is idle. */
	b = take_idle(l7, be);
	if (b) {
		b->client = c;
		c->backend = b;
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
	c->backend = b;
	if (connect(b->fd, (void *)&sa, sa_len) && errno != EINPROGRESS) {
		c->backend = NULL;
		backend_close(l7, b);
		goto fail;
	}
	l7_watch(l7, b->fd, &b->obj, EPOLLOUT | EPOLLRDHUP, true);
	return;
fail:
	l7_request_connect_failed(l7, c);
}

/* The pod could not take the request: the next-best pod once, then 503. */
void l7_request_connect_failed(struct ilb_l7 *l7, struct l7_client *c)
{
	int failed = -1;

	if (c->backend) {
		struct l7_backend *b = c->backend;

		c->backend = NULL;
		b->client = NULL;
		backend_close(l7, b);
	}
	inflight_leave(l7, c);
	if (c->via_activator) {
		if (c->attempts < 2 && c->table->pools[c->pool].n_activator > 1) {
			count(l7, ILB_L7_RETRIES);
			via_activator(l7, c, NULL, c->model, c->activator_index);
			return;
		}
		count(l7, ILB_L7_NO_POD);
		l7_client_error(l7, c, 503, "Knative's activator could not be reached", false, "1");
		return;
	}
	for (int i = 0; i < c->n_pods; i++)
		if (c->pods[i].id == c->backend_id)
			failed = i;
	if (c->attempts < 2 && failed >= 0 && c->n_pods > 1) {
		count(l7, ILB_L7_RETRIES);
		pick_and_go(l7, c, NULL, c->model, failed);
		return;
	}
	count(l7, ILB_L7_NO_POD);
	l7_client_error(l7, c, 503, "the model server could not be reached", false, "1");
}

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
			count(l7, ILB_L7_BAD_GATEWAY);
			l7_backend_release(l7, b, false);
			l7_client_close(l7, c);
			return;
		}
		b->tail_left -= n;
	}
	if (c->backend_id < ILB_MAX_BACKENDS)
		atomic_fetch_add(&l7->stats.backend[c->backend_id].responses, 1);
	l7_backend_release(l7, b, false); /* what follows is nobody's */
	l7_client_response_done(l7, c, 0);
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
			c->keep_alive = false;
			l7_backend_release(l7, b, false);
			l7_client_response_done(l7, c, s.bytes);
			return;
		}
		l7_response_failed(l7, c, s.bytes, "the model server closed the connection");
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
