/* engine.c - one thread, one epoll set. Arrivals are scheduled on CLOCK_MONOTONIC with
 * nanosecond waits (epoll_pwait2), so the open loop keeps its Poisson timing at high rates;
 * latencies count from the scheduled arrival, so a backed-up client cannot hide queueing. */
#include "engine.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define NS_PER_S 1000000000LL
/* Timeouts are checked on this tick: a scan of the busy list, cheap next to the I/O. */
#define TICK_NS (10 * 1000 * 1000LL)
#define MAX_EVENTS 512

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

int64_t engine_clock(struct engine *e)
{
	return mono_ns() - e->t0;
}

static void list_add(struct conn_list *l, struct conn *c)
{
	c->list = l;
	c->prev = NULL;
	c->next = l->head;
	if (l->head)
		l->head->prev = c;
	l->head = c;
	l->n++;
}

static void list_del(struct conn *c)
{
	struct conn_list *l = c->list;

	if (!l)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	l->n--;
	c->list = NULL;
	c->prev = c->next = NULL;
}

void engine_conn_idle(struct engine *e, struct conn *c)
{
	list_del(c);
	list_add(&e->idle, c);
}

void engine_conn_gone(struct engine *e, struct conn *c)
{
	(void)e;
	list_del(c);
}

static void req_free(struct lg_req *r)
{
	buf_free(&r->wire);
	free(r);
}

static void pend_push(struct engine *e, struct lg_req *r, bool front)
{
	r->next = NULL;
	if (!e->pend_head) {
		e->pend_head = e->pend_tail = r;
	} else if (front) {
		r->next = e->pend_head;
		e->pend_head = r;
	} else {
		e->pend_tail->next = r;
		e->pend_tail = r;
	}
	e->npending++;
}

static struct lg_req *pend_pop(struct engine *e)
{
	struct lg_req *r = e->pend_head;

	if (r) {
		e->pend_head = r->next;
		if (!e->pend_head)
			e->pend_tail = NULL;
		e->npending--;
	}
	return r;
}

void engine_req_done(struct engine *e, struct lg_req *r, bool retry)
{
	if (retry) {
		struct lg_record *rec = &r->rec;

		e->st->retries++;
		r->retried = true;
		rec->t_first_byte = rec->t_first_token = -1;
		rec->bytes_sent = rec->bytes_recv = 0;
		rec->chunks = 0;
		pend_push(e, r, true);
		return;
	}
	if (stats_add(e->st, &r->rec))
		e->stop = true;
	req_free(r);
}

static void build_head(struct engine *e)
{
	const struct lg_config *c = e->cfg;

	buf_addf(&e->head, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: inferlb-loadgen\r\n"
			   "Content-Type: application/json\r\nAccept: %s\r\n",
		 c->path ? c->path : "/v1/chat/completions", c->host_hdr ? c->host_hdr : "localhost",
		 c->stream ? "text/event-stream" : "application/json");
	for (int i = 0; i < c->n_headers; i++)
		buf_addf(&e->head, "%s\r\n", c->headers[i]);
}

/* Generates the next request of the workload, with its arrival time. */
static int issue(struct engine *e, int64_t t_sched)
{
	struct lg_req *r;
	int err;

	err = workload_next(e->wl, &e->spec);
	if (err)
		return err;
	if (e->dump) {
		fwrite(e->spec.body.data, 1, e->spec.body.len, e->dump);
		fputc('\n', e->dump);
	}
	e->issued++;
	e->last_sched = t_sched;
	if (e->cfg->dry_run)
		return 0;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	buf_add(&r->wire, e->head.data, e->head.len);
	buf_addf(&r->wire, "Content-Length: %zu\r\n\r\n", e->spec.body.len);
	buf_add(&r->wire, e->spec.body.data, e->spec.body.len);
	if (r->wire.oom) {
		req_free(r);
		return -ENOMEM;
	}
	r->rec = (struct lg_record){
		.index = e->spec.index,
		.model = e->spec.model,
		.group = e->spec.group,
		.prompt = e->spec.prompt,
		.stream = e->cfg->stream,
		.t_sched = t_sched,
		.t_send = -1,
		.t_first_byte = -1,
		.t_first_token = -1,
		.t_done = -1,
		.in_tokens = e->spec.in_tokens,
		.max_tokens = e->spec.max_tokens,
	};
	pend_push(e, r, false);
	return 0;
}

static bool bound_reached(struct engine *e, int64_t t)
{
	const struct lg_config *c = e->cfg;

	return (c->requests && e->issued >= (uint64_t)c->requests) ||
	       (c->duration > 0 && t >= (int64_t)(c->duration * NS_PER_S));
}

static int issue_due(struct engine *e)
{
	const struct lg_config *c = e->cfg;
	int err = 0;

	if (c->qps > 0) {
		while (!e->stop && !err) {
			/* stop as soon as the next arrival falls past the bound, not when it is due */
			if (bound_reached(e, e->next_arrival)) {
				e->stop = true;
				break;
			}
			if (e->next_arrival > e->now)
				break;
			err = issue(e, e->next_arrival);
			e->next_arrival += (int64_t)(rng_exp(&e->arrivals, 1.0 / c->qps) * NS_PER_S);
		}
		return err;
	}
	while (!e->stop && e->busy.n + e->npending < (size_t)c->concurrency && !err) {
		if (bound_reached(e, e->now)) {
			e->stop = true;
			break;
		}
		err = issue(e, e->now);
	}
	return err;
}

static void record_failure(struct engine *e, struct lg_req *r, enum lg_err err)
{
	r->rec.err = err;
	r->rec.t_done = e->now;
	engine_req_done(e, r, false);
}

/* Puts waiting requests on idle connections, opening new ones up to the cap. */
static void dispatch(struct engine *e)
{
	size_t cap = e->cfg->concurrency > 0 ? (size_t)e->cfg->concurrency : e->max_conns;

	while (e->pend_head && e->busy.n < cap) {
		struct lg_req *r = pend_pop(e);
		struct conn *c = e->idle.head;
		int err = 0;

		r->deadline = e->now + (int64_t)(e->cfg->timeout * NS_PER_S);
		if (c) {
			list_del(c);
		} else {
			if (e->idle.n + e->busy.n >= e->max_conns && e->idle.head)
				conn_destroy(e->idle.head);
			c = conn_open(e, (struct sockaddr *)&e->addr, e->addrlen, &err);
			if (!c) {
				r->rec.t_send = e->now;
				record_failure(e, r, LG_ERR_CONNECT);
				continue;
			}
		}
		list_add(&e->busy, c);
		conn_start(c, r);
	}
}

static void check_timeouts(struct engine *e)
{
	struct conn *c = e->busy.head, *next;

	for (; c; c = next) {
		next = c->next;
		if (c->req && e->now >= c->req->deadline)
			conn_abort(c, LG_ERR_TIMEOUT);
	}
}

static void cancel_all(struct engine *e)
{
	struct lg_req *r;

	while (e->busy.head) {
		struct conn *c = e->busy.head;

		r = c->req;
		c->req = NULL;
		conn_destroy(c);
		if (r)
			req_free(r);
	}
	while ((r = pend_pop(e)))
		req_free(r);
}

static int resolve(struct engine *e)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(e->cfg->addr, e->cfg->port, &hints, &res);

	if (rc) {
		fprintf(stderr, "loadgen: %s:%s: %s\n", e->cfg->addr, e->cfg->port, gai_strerror(rc));
		return -EINVAL;
	}
	memcpy(&e->addr, res->ai_addr, res->ai_addrlen);
	e->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int engine_init(struct engine *e, const struct lg_config *cfg, struct workload *wl,
		struct lg_stats *st)
{
	struct rlimit rl;
	int err = 0;

	memset(e, 0, sizeof(*e));
	e->cfg = cfg;
	e->wl = wl;
	e->st = st;
	e->epfd = -1;
	rng_derive(&e->arrivals, cfg->seed, 5, 0);
	/* Every stream is a socket: take all the descriptors we may. */
	if (!getrlimit(RLIMIT_NOFILE, &rl)) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	e->max_conns = rl.rlim_cur > 64 ? rl.rlim_cur - 32 : 32;
	if (cfg->dump_path) {
		e->dump = strcmp(cfg->dump_path, "-") ? fopen(cfg->dump_path, "w") : stdout;
		if (!e->dump) {
			err = -errno;
			fprintf(stderr, "loadgen: %s: %s\n", cfg->dump_path, strerror(errno));
			goto out;
		}
	}
	if (cfg->dry_run)
		return 0;
	conn_global_init();
	err = resolve(e);
	if (err)
		goto out;
	e->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (e->epfd < 0) {
		err = -errno;
		goto out;
	}
	build_head(e);
	if (e->head.oom)
		err = -ENOMEM;
out:
	if (err)
		engine_free(e);
	return err;
}

static int run_dry(struct engine *e)
{
	int err = 0;

	while (!err && e->issued < (uint64_t)e->cfg->requests)
		err = issue(e, 0);
	return err;
}

int engine_run(struct engine *e, volatile int *interrupted)
{
	struct epoll_event ev[MAX_EVENTS];
	int64_t next_tick;
	int err = 0;

	e->t0 = mono_ns();
	if (e->cfg->dry_run)
		return run_dry(e);
	e->next_arrival = 0;
	next_tick = TICK_NS;
	for (;;) {
		int64_t wait;
		struct timespec ts;
		int n;

		e->now = engine_clock(e);
		err = issue_due(e);
		if (err)
			break;
		dispatch(e);
		if (e->now >= next_tick) {
			check_timeouts(e);
			next_tick = e->now + TICK_NS;
			dispatch(e);
		}
		if (e->stop && !e->busy.n && !e->npending)
			break;
		wait = next_tick - e->now;
		if (e->cfg->qps > 0 && !e->stop && e->next_arrival - e->now < wait)
			wait = e->next_arrival - e->now;
		if (wait < 0)
			wait = 0;
		ts.tv_sec = wait / NS_PER_S;
		ts.tv_nsec = wait % NS_PER_S;
		n = epoll_pwait2(e->epfd, ev, MAX_EVENTS, &ts, NULL);
		if (*interrupted) {
			cancel_all(e);
			break;
		}
		if (n < 0 && errno != EINTR) {
			err = -errno;
			break;
		}
		for (int i = 0; i < n; i++)
			conn_event(ev[i].data.ptr, ev[i].events);
	}
	e->st->t_end = engine_clock(e);
	e->st->issued = e->issued;
	e->st->last_sched = e->last_sched;
	return err;
}

void engine_free(struct engine *e)
{
	cancel_all(e);
	while (e->idle.head)
		conn_destroy(e->idle.head);
	if (e->dump && e->dump != stdout)
		fclose(e->dump);
	e->dump = NULL;
	if (e->epfd >= 0)
		close(e->epfd);
	e->epfd = -1;
	buf_free(&e->head);
	buf_free(&e->spec.body);
}
