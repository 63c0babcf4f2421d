/* l7.c - the L7 lane's request loop (see l7.h): one epoll loop on its own thread owns every
 * client and backend socket and hands each event to the step of the walk it belongs to
 * (l7_conn.h); the 10 ms tick swaps in a new route table and runs the timers. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/libbpf.h>
#include "l7_conn.h"
#include "kern/l7_kern.h"
#include "kern/maps.h"
#include "log.h"
#include "route.h"

const char *const ilb_l7_counter_names[ILB_L7__COUNT] = {
	"requests", "accepted", "bad_request", "not_found", "shed",	   "no_pod",
	"timeout",  "too_large", "bad_gateway", "client_gone", "stalled", "retries", "held",
	"activator",
};

void ilb_l7_config_default(struct ilb_l7_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_body = 16u << 20;
	cfg->inline_max = ILB_L7_INLINE_MAX;
	cfg->header_timeout_ms = 10000;
	cfg->idle_timeout_ms = 120000;
	cfg->stall_timeout_ms = 30000;
	cfg->connect_timeout_ms = 3000;
	cfg->policy = ILB_POLICY_SCHED;
	cfg->hold_max = 1024;
	cfg->hold_timeout_ms = 300000; /* a model server's cold start: image pull, weights load */
}

static int ep_set(struct ilb_l7 *l7, int fd, void *ptr, uint32_t events, bool add)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(l7->epfd, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev) ? -errno : 0;
}

int l7_watch(struct ilb_l7 *l7, int fd, struct l7_object *obj, uint32_t events, bool add)
{
	int err;

	if (!add && obj->watching == events)
		return 0;
	err = ep_set(l7, fd, obj, events, add);
	if (!err)
		obj->watching = events;
	return err;
}

void l7_defer_free(struct ilb_l7 *l7, struct l7_object *obj)
{
	obj->kind = L7_OBJ_DEAD;
	if (l7->n_dead == l7->cap_dead) {
		size_t cap = l7->cap_dead ? l7->cap_dead * 2 : 64;
		void **p = realloc(l7->dead, cap * sizeof(*p));

		if (!p) {
			free(obj); /* no room to defer: the batch's later events are for other objects */
			return;
		}
		l7->dead = p;
		l7->cap_dead = cap;
	}
	l7->dead[l7->n_dead++] = obj;
}

static void free_dead(struct ilb_l7 *l7)
{
	for (size_t i = 0; i < l7->n_dead; i++)
		free(l7->dead[i]);
	l7->n_dead = 0;
}

static void tick(struct ilb_l7 *l7)
{
	uint64_t now = ilb_now_ns();
	struct ilb_route_table *next = NULL;

	l7->ticks++;
	pthread_mutex_lock(&l7->lock);
	next = l7->next_table;
	l7->next_table = NULL;
	pthread_mutex_unlock(&l7->lock);
	if (next) {
		ilb_route_put(l7->table);
		l7->table = next;
	}
	for (int i = 0; i < L7_MAX_CLIENTS; i++)
		if (l7->clients[i])
			l7_client_tick(l7, l7->clients[i], now);
	l7_backends_tick(l7, now);
	l7_hold_tick(l7, now);
}

static void *l7_main(void *arg)
{
	struct ilb_l7 *l7 = arg;
	struct epoll_event events[64];

	while (!atomic_load(&l7->stop)) {
		int n = epoll_wait(l7->epfd, events, 64, -1);

		for (int i = 0; i < n; i++) {
			void *p = events[i].data.ptr;

			if (p == &l7->listen_fd) {
				l7_on_accept(l7);
			} else if (p == &l7->timer_fd) {
				uint64_t ticks;

				if (read(l7->timer_fd, &ticks, sizeof(ticks)) > 0)
					tick(l7);
			} else if (p == &l7->ring) {
				ring_buffer__consume(l7->ring);
			} else if (p == &l7->wake_fd) {
				uint64_t v;

				if (read(l7->wake_fd, &v, sizeof(v)) < 0)
					continue;
			} else if (((struct l7_object *)p)->kind == L7_OBJ_CLIENT) {
				l7_on_client(l7, p, events[i].events);
			} else if (((struct l7_object *)p)->kind == L7_OBJ_BACKEND) {
				l7_on_backend(l7, p, events[i].events);
			}
		}
		free_dead(l7);
	}
	return NULL;
}

static int listen_socket(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	/* Bound to loopback only: sk_lookup brings it the VIP connections. */
	if (fd < 0 || bind(fd, (void *)&sa, sizeof(sa)) || listen(fd, 4096)) {
		int err = -errno;

		if (fd >= 0)
			close(fd);
		return err;
	}
	return fd;
}

struct ilb_l7 *ilb_l7_start(const struct ilb_l7_config *cfg, struct ilb_l7_kern *kern)
{
	struct ilb_l7 *l7 = calloc(1, sizeof(*l7));
	struct itimerspec period = { .it_interval.tv_nsec = 10000000, .it_value.tv_nsec = 10000000 };
	struct ilb_sched_config sc;

	if (!l7)
		return NULL;
	l7->cfg = *cfg;
	l7->kern = kern;
	l7->limits = ILB_HTTP_LIMITS_DEFAULT;
	l7->limits.max_body = cfg->max_body;
	l7->listen_fd = l7->timer_fd = l7->wake_fd = l7->epfd = -1;
	pthread_mutex_init(&l7->lock, NULL);
	ilb_sched_config_default(&sc);
	sc.policy = cfg->policy;
	sc.seed = ilb_now_ns();
	if (ilb_sched_init(&l7->sched, &sc))
		goto fail;
	l7->epfd = epoll_create1(EPOLL_CLOEXEC);
	l7->listen_fd = listen_socket();
	l7->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	l7->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	l7->ring = ring_buffer__new(kern->events_map, l7_on_kernel_event, l7, NULL);
	if (l7->epfd < 0 || l7->listen_fd < 0 || l7->timer_fd < 0 || l7->wake_fd < 0 || !l7->ring)
		goto fail;
	if (ilb_l7_kern_set_listener(kern, l7->listen_fd)) {
		pr_warn("l7: listener into l7_listen: %s", strerror(errno));
		goto fail;
	}
	timerfd_settime(l7->timer_fd, 0, &period, NULL);
	ep_set(l7, l7->listen_fd, &l7->listen_fd, EPOLLIN, true);
	ep_set(l7, l7->timer_fd, &l7->timer_fd, EPOLLIN, true);
	ep_set(l7, l7->wake_fd, &l7->wake_fd, EPOLLIN, true);
	ep_set(l7, ring_buffer__epoll_fd(l7->ring), &l7->ring, EPOLLIN, true);
	if (pthread_create(&l7->thread, NULL, l7_main, l7))
		goto fail;
	l7->running = true;
	return l7;
fail:
	pr_warn("l7: starting the request loop: %s", strerror(errno));
	ilb_l7_stop(l7);
	return NULL;
}

void ilb_l7_set_table(struct ilb_l7 *l7, struct ilb_route_table *t)
{
	struct ilb_route_table *old;

	pthread_mutex_lock(&l7->lock);
	old = l7->next_table;
	l7->next_table = t;
	pthread_mutex_unlock(&l7->lock);
	ilb_route_put(old);
}

const struct ilb_l7_stats *ilb_l7_stats(const struct ilb_l7 *l7)
{
	return l7 ? &l7->stats : NULL;
}

void ilb_l7_stop(struct ilb_l7 *l7)
{
	uint64_t one = 1;

	if (!l7)
		return;
	if (l7->running) {
		atomic_store(&l7->stop, true);
		if (write(l7->wake_fd, &one, sizeof(one)) < 0)
			pr_warn("l7: waking the loop: %s", strerror(errno));
		pthread_join(l7->thread, NULL);
	}
	for (int i = 0; i < L7_MAX_CLIENTS; i++)
		if (l7->clients[i])
			l7_client_free(l7, l7->clients[i]);
	l7_backends_free(l7);
	free_dead(l7);
	free(l7->dead);
	ring_buffer__free(l7->ring);
	int fds[] = { l7->listen_fd, l7->timer_fd, l7->wake_fd, l7->epfd };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	ilb_route_put(l7->table);
	ilb_route_put(l7->next_table);
	ilb_sched_free(&l7->sched);
	pthread_mutex_destroy(&l7->lock);
	free(l7);
}
