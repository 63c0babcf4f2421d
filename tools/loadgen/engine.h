/* engine.h - the single-threaded epoll loop: issues requests open or closed loop, hands them
 * to pooled connections, enforces timeouts and collects the records. */
#ifndef LOADGEN_ENGINE_H
#define LOADGEN_ENGINE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "conn.h"
#include "flags.h"
#include "rng.h"
#include "stats.h"
#include "workload.h"

struct conn_list {
	struct conn *head;
	size_t n;
};

struct engine {
	const struct lg_config *cfg;
	struct workload *wl;
	struct lg_stats *st;
	int epfd;
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct buf head; /* request line and headers up to Content-Length */
	int64_t t0;	 /* CLOCK_MONOTONIC at start */
	int64_t now;	 /* since t0, refreshed every loop turn */

	struct conn_list idle, busy;
	size_t max_conns;
	struct lg_req *pend_head, *pend_tail;
	size_t npending;

	uint64_t issued;
	int64_t next_arrival;
	int64_t last_sched;
	struct rng arrivals;
	bool stop;
	FILE *dump;
	struct lg_spec spec;
};

int engine_init(struct engine *e, const struct lg_config *cfg, struct workload *wl,
		struct lg_stats *st);
/* Runs until the bound is reached and every request has ended (or *interrupted is set). */
int engine_run(struct engine *e, volatile int *interrupted);
void engine_free(struct engine *e);

/* Called by conn.c. */
int64_t engine_clock(struct engine *e);
void engine_req_done(struct engine *e, struct lg_req *r, bool retry);
void engine_conn_idle(struct engine *e, struct conn *c);
void engine_conn_gone(struct engine *e, struct conn *c);

#endif
