/* l7_schedule.c - the walk's schedule step: the pick among the pool's pods (or Knative's
 * activator, or the hold queue while a pool scales from zero), the request rewritten for
 * the pod picked, the pod's in-flight count, and the next-best pod when one fails. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "l7_conn.h"
#include "kern/maps.h"
#include "oai.h"
#include "route.h"

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
	struct l7_request *r = &c->req;
	const char *body = c->reader.req.body, *pool = r->table->pools[r->pool].name, *slash = strchr(pool, '/');
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
	if (r->via_activator && slash) {
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pool), pool);
		extra[n_extra++] = header("Knative-Serving-Namespace", ns);
		extra[n_extra++] = header("Knative-Serving-Revision", slash + 1);
	}
	cap = c->reader.req.arena_len + 1024 + (size_t)body_len;
	free(r->forward);
	r->forward = malloc(cap);
	if (!r->forward) {
		free(alloc);
		return -ENOMEM;
	}
	head_len = ilb_http_write_head(&c->reader.req, body_len, extra, n_extra, r->forward, cap);
	if (head_len < 0) {
		free(alloc);
		return (int)head_len;
	}
	if (body_len)
		memcpy(r->forward + head_len, body, body_len);
	r->forward_len = head_len + body_len;
	free(alloc);
	return 0;
}

/* A retry to another backend: the destination header names the first pick, so it is
 * rewritten (the rest of the request, its model rewrite included, stays). */
static void retarget_forward(struct l7_client *c, const struct ilb_rt_backend *be)
{
	char *old = c->req.forward, endpoint[80], *n;
	const char *hdr = old ? strstr(old, "x-gateway-destination-endpoint: ") : NULL, *eol;
	size_t pre, post_off, len;

	if (!hdr)
		return;
	eol = strstr(hdr, "\r\n");
	pre = hdr - old;
	post_off = eol - old;
	endpoint_text(be, endpoint, sizeof(endpoint));
	n = malloc(c->req.forward_len + 128);
	if (!n)
		return;
	memcpy(n, old, pre);
	len = pre + sprintf(n + pre, "x-gateway-destination-endpoint: %s", endpoint);
	memcpy(n + len, old + post_off, c->req.forward_len - post_off);
	c->req.forward_len = len + c->req.forward_len - post_off;
	free(old);
	c->req.forward = n;
}

/* The pick is made: the request is charged to its pod, then goes to it. */
static void dispatch(struct ilb_l7 *l7, struct l7_client *c, const struct ilb_rt_backend *be)
{
	struct l7_request *r = &c->req;

	l7_hold_release(l7, c);
	r->attempts++;
	r->backend_id = be->id;
	/* Counted at the pick, not once connected: every request picked while connections are
	 * still being made must see the ones before it. */
	atomic_fetch_add(&l7->stats.backend[be->id].inflight, 1);
	atomic_fetch_add(&l7->stats.backend[be->id].picks, 1);
	r->inflight_counted = true;
	for (int i = 0; i < r->n_pods; i++)
		if (r->pods[i].id == be->id)
			ilb_sched_commit(&l7->sched, &r->sreq, r->pods, r->n_pods, i);
	l7_backend_connect(l7, c, be);
}

/* The request leaves its pod's in-flight count (once, whatever ended it). */
void l7_inflight_leave(struct ilb_l7 *l7, struct l7_client *c)
{
	if (c->req.inflight_counted && c->req.backend_id < ILB_MAX_BACKENDS)
		atomic_fetch_sub(&l7->stats.backend[c->req.backend_id].inflight, 1);
	c->req.inflight_counted = false;
}

/* No ready pod, the revision's SKS in Proxy mode: to one of the activator's addresses (round
 * robin, another than `failed` on a retry), which holds the request until Knative has a pod,
 * as it does for Knative's own ingress. The agent's hold queue is not used. */
static void via_activator(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq, const char *model,
			  int failed)
{
	struct l7_request *r = &c->req;
	const struct ilb_rt_pool *pool = &r->table->pools[r->pool];
	int i = (int)(l7->activator_next++ % (uint32_t)pool->n_activator);

	if (i == failed)
		i = (i + 1) % pool->n_activator;
	r->via_activator = true;
	r->activator_index = i;
	if (failed < 0) {
		if (build_forward(l7, c, oreq, model, &pool->activator[i])) {
			l7_answer_error(l7, c, L7_UNCOUNTED, 500, "the request could not be rewritten", false, NULL);
			return;
		}
		l7_count(l7, ILB_L7_ACTIVATOR);
		if (pool->kernel_id < ILB_MAX_POOLS)
			atomic_fetch_add(&l7->stats.activated[pool->kernel_id], 1);
	} else {
		retarget_forward(c, &pool->activator[i]);
	}
	dispatch(l7, c, &pool->activator[i]);
}

/* No pod of a scaled-to-zero pool: the request waits (what its client sends meanwhile waits
 * in the socket: on_client stops reading it). */
static void hold(struct ilb_l7 *l7, struct l7_client *c)
{
	struct l7_request *r = &c->req;

	if (!r->hold.waiting) {
		r->hold.waiting = true;
		r->hold.seq = ++l7->hold_seq;
		r->hold.deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.hold_timeout_ms * 1000000;
		r->hold.pool = r->table->pools[r->pool].kernel_id;
		l7->n_held++;
		l7_count(l7, ILB_L7_HELD);
		if (r->hold.pool < ILB_MAX_POOLS)
			atomic_fetch_add(&l7->stats.pending[r->hold.pool], 1);
	}
	c->state = L7_HOLDING;
}

void l7_hold_release(struct ilb_l7 *l7, struct l7_client *c)
{
	if (!c->req.hold.waiting)
		return;
	c->req.hold.waiting = false;
	l7->n_held--;
	if (c->req.hold.pool < ILB_MAX_POOLS)
		atomic_fetch_sub(&l7->stats.pending[c->req.hold.pool], 1);
}

static int by_hold_seq(const void *a, const void *b)
{
	const struct l7_client *x = *(struct l7_client *const *)a, *y = *(struct l7_client *const *)b;

	return x->req.hold.seq < y->req.hold.seq ? -1 : x->req.hold.seq > y->req.hold.seq;
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

		if (now_ns > c->req.hold.deadline_ns) {
			l7_hold_release(l7, c);
			l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "no model server became ready in time", false, "30");
		} else if (retry) {
			struct l7_hold place = c->req.hold; /* the request starts again, still in the queue */

			l7_request_clear(c);
			c->req.hold = place;
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
	struct l7_request *r = &c->req;
	struct ilb_sched_result res;
	int rc;

	for (int i = 0; i < r->n_pods; i++)
		r->pods[i].inflight = atomic_load(&l7->stats.backend[r->pods[i].id].inflight);
	rc = failed < 0 ? ilb_sched_pick(&l7->sched, &r->sreq, r->pods, r->n_pods, ilb_now_ns(), &res) :
			  ilb_sched_next(&l7->sched, &r->sreq, r->pods, r->n_pods, failed, ilb_now_ns(), &res);
	if (rc == -EBUSY) {
		atomic_fetch_add(&l7->stats.sheds[r->table->pools[r->pool].kernel_id], 1);
		l7_answer_error(l7, c, ILB_L7_SHED, 429, res.reason ? res.reason : "the pool is saturated",
				r->keep_alive, "1");
		return;
	}
	if (rc == -ENOENT && failed < 0 && r->table->pools[r->pool].n_activator) {
		via_activator(l7, c, oreq, model, -1);
		return;
	}
	if (rc == -ENOENT && failed < 0 && r->table->pools[r->pool].hold &&
	    (r->hold.waiting || l7->n_held < l7->cfg.hold_max)) {
		hold(l7, c);
		return;
	}
	if (rc < 0) {
		l7_answer_error(l7, c, ILB_L7_NO_POD, 503, res.reason ? res.reason : "no ready model server",
				r->keep_alive, "1");
		return;
	}
	if (failed < 0) {
		if (build_forward(l7, c, oreq, model, &r->table->pools[r->pool].backends[rc])) {
			l7_answer_error(l7, c, L7_UNCOUNTED, 500, "the request could not be rewritten", false, NULL);
			return;
		}
	} else {
		retarget_forward(c, &r->table->pools[r->pool].backends[rc]);
	}
	dispatch(l7, c, &r->table->pools[r->pool].backends[rc]);
}

void l7_schedule(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq)
{
	pick_and_go(l7, c, oreq, c->req.model, -1);
}

/* The pod could not take the request: the next-best pod once, then 503. */
void l7_request_connect_failed(struct ilb_l7 *l7, struct l7_client *c)
{
	struct l7_request *r = &c->req;
	int failed = -1;

	if (r->backend)
		l7_backend_release(l7, r->backend, false);
	l7_inflight_leave(l7, c);
	if (r->via_activator) {
		if (r->attempts < 2 && r->table->pools[r->pool].n_activator > 1) {
			l7_count(l7, ILB_L7_RETRIES);
			via_activator(l7, c, NULL, r->model, r->activator_index);
			return;
		}
		l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "Knative's activator could not be reached", false, "1");
		return;
	}
	for (int i = 0; i < r->n_pods; i++)
		if (r->pods[i].id == r->backend_id)
			failed = i;
	if (r->attempts < 2 && failed >= 0 && r->n_pods > 1) {
		l7_count(l7, ILB_L7_RETRIES);
		pick_and_go(l7, c, NULL, r->model, failed);
		return;
	}
	l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "the model server could not be reached", false, "1");
}
