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
	const char *body = c->reader.req.body, *pool = c->req.table->pools[c->req.pool].name, *slash = strchr(pool, '/');
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
	if (c->req.via_activator && slash) {
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pool), pool);
		extra[n_extra++] = header("Knative-Serving-Namespace", ns);
		extra[n_extra++] = header("Knative-Serving-Revision", slash + 1);
	}
	cap = c->reader.req.arena_len + 1024 + (size_t)body_len;
	free(c->req.forward);
	c->req.forward = malloc(cap);
	if (!c->req.forward) {
		free(alloc);
		return -ENOMEM;
	}
	head_len = ilb_http_write_head(&c->reader.req, body_len, extra, n_extra, c->req.forward, cap);
	if (head_len < 0) {
		free(alloc);
		return (int)head_len;
	}
	if (body_len)
		memcpy(c->req.forward + head_len, body, body_len);
	c->req.forward_len = head_len + body_len;
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
	l7_hold_release(l7, c);
	c->req.attempts++;
	c->req.backend_id = be->id;
	/* Counted at the pick, not once connected: every request picked while connections are
	 * still being made must see the ones before it. */
	atomic_fetch_add(&l7->stats.backend[be->id].inflight, 1);
	atomic_fetch_add(&l7->stats.backend[be->id].picks, 1);
	c->req.inflight_counted = true;
	for (int i = 0; i < c->req.n_pods; i++)
		if (c->req.pods[i].id == be->id)
			ilb_sched_commit(&l7->sched, &c->req.sreq, c->req.pods, c->req.n_pods, i);
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
	const struct ilb_rt_pool *pool = &c->req.table->pools[c->req.pool];
	int i = (int)(l7->activator_next++ % (uint32_t)pool->n_activator);

	if (i == failed)
		i = (i + 1) % pool->n_activator;
	c->req.via_activator = true;
	c->req.activator_index = i;
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
	if (!c->req.hold.waiting) {
		c->req.hold.waiting = true;
		c->req.hold.seq = ++l7->hold_seq;
		c->req.hold.deadline_ns = ilb_now_ns() + (uint64_t)l7->cfg.hold_timeout_ms * 1000000;
		c->req.hold.pool = c->req.table->pools[c->req.pool].kernel_id;
		l7->n_held++;
		l7_count(l7, ILB_L7_HELD);
		if (c->req.hold.pool < ILB_MAX_POOLS)
			atomic_fetch_add(&l7->stats.pending[c->req.hold.pool], 1);
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
	struct ilb_sched_result res;
	int rc;

	for (int i = 0; i < c->req.n_pods; i++)
		c->req.pods[i].inflight = atomic_load(&l7->stats.backend[c->req.pods[i].id].inflight);
	rc = failed < 0 ? ilb_sched_pick(&l7->sched, &c->req.sreq, c->req.pods, c->req.n_pods, ilb_now_ns(), &res) :
			  ilb_sched_next(&l7->sched, &c->req.sreq, c->req.pods, c->req.n_pods, failed, ilb_now_ns(), &res);
	if (rc == -EBUSY) {
		atomic_fetch_add(&l7->stats.sheds[c->req.table->pools[c->req.pool].kernel_id], 1);
		l7_answer_error(l7, c, ILB_L7_SHED, 429, res.reason ? res.reason : "the pool is saturated",
				c->req.keep_alive, "1");
		return;
	}
	if (rc == -ENOENT && failed < 0 && c->req.table->pools[c->req.pool].n_activator) {
		via_activator(l7, c, oreq, model, -1);
		return;
	}
	if (rc == -ENOENT && failed < 0 && c->req.table->pools[c->req.pool].hold &&
	    (c->req.hold.waiting || l7->n_held < l7->cfg.hold_max)) {
		hold(l7, c);
		return;
	}
	if (rc < 0) {
		l7_answer_error(l7, c, ILB_L7_NO_POD, 503, res.reason ? res.reason : "no ready model server",
				c->req.keep_alive, "1");
		return;
	}
	if (failed < 0) {
		if (build_forward(l7, c, oreq, model, &c->req.table->pools[c->req.pool].backends[rc])) {
			l7_answer_error(l7, c, L7_UNCOUNTED, 500, "the request could not be rewritten", false, NULL);
			return;
		}
	} else {
		retarget_forward(c, &c->req.table->pools[c->req.pool].backends[rc]);
	}
	dispatch(l7, c, &c->req.table->pools[c->req.pool].backends[rc]);
}

void l7_schedule(struct ilb_l7 *l7, struct l7_client *c, struct ilb_oai_req *oreq)
{
	pick_and_go(l7, c, oreq, c->req.model, -1);
}

/* The pod could not take the request: the next-best pod once, then 503. */
void l7_request_connect_failed(struct ilb_l7 *l7, struct l7_client *c)
{
	int failed = -1;

	if (c->req.backend)
		l7_backend_release(l7, c->req.backend, false);
	l7_inflight_leave(l7, c);
	if (c->req.via_activator) {
		if (c->req.attempts < 2 && c->req.table->pools[c->req.pool].n_activator > 1) {
			l7_count(l7, ILB_L7_RETRIES);
			via_activator(l7, c, NULL, c->req.model, c->req.activator_index);
			return;
		}
		l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "Knative's activator could not be reached", false, "1");
		return;
	}
	for (int i = 0; i < c->req.n_pods; i++)
		if (c->req.pods[i].id == c->req.backend_id)
			failed = i;
	if (c->req.attempts < 2 && failed >= 0 && c->req.n_pods > 1) {
		l7_count(l7, ILB_L7_RETRIES);
		pick_and_go(l7, c, NULL, c->req.model, failed);
		return;
	}
	l7_answer_error(l7, c, ILB_L7_NO_POD, 503, "the model server could not be reached", false, "1");
}
