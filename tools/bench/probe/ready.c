/* ready.c - `row7-probe ready`: flips one pod between NotReady and Ready (ready_source.c)
 * and times each sample from the moment of the change to:
 *   noticed  the change reaching an independent watcher (the floor)
 *   kernel   the pod's backend id in the pool's active set in the pinned maps (every ~0.3 ms)
 *   l4       a fresh SYN to the L4 VIP answered (a new connection every 1 ms from the client
 *            namespace; the pool has no other ready pod, so XDP drops every SYN until then)
 *   l7       a request through the L7 gateway answered 200 (one at a time on a kept-alive
 *            connection, 1 ms apart; 503 while no pod is ready)
 * and, when the pod goes NotReady, down: until the kernel's set no longer holds it.
 * One JSON line per sample. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include "probe.h"
#include "ready.h"

#define MAX_PENDING_SYNS 8192
#define FIRST_READY_S 15

struct ready_opts {
	const char *mode, *file, *pin_dir, *pool, *client_netns, *vip, *gw, *host, *model, *cold_neigh;
	struct kube_endpoint kube;
	struct pod pod;
	int vip_port, gw_port, samples;
	double timeout_s, gap_ms;
};

/* Sockets made in the client's network namespace, the probe itself staying in the node's. */
struct netns {
	int own, client; /* -1: no namespace given, sockets are made here */
};

/* The L7 lane's probe: one kept-alive connection, one request at a time. */
struct l7_probe {
	const struct netns *ns;
	struct sockaddr_in addr;
	char *req;
	size_t req_len;
	int fd;
	bool busy;
	int last_status;
	char buf[65536];
	size_t len;
	cJSON *errors; /* connections that ended without an answer, with the status before */
};

/* One sample's results, NaN while not reached. */
struct sample {
	double down, noticed, kernel, l4, l7;
	int syns;
};

static int parse_ready_opts(int argc, char **argv, struct ready_opts *o)
{
	const struct probe_opt opts[] = {
		{ "mode", OPT_STR, &o->mode, "manifests|kube", true },
		{ "pin-dir", OPT_STR, &o->pin_dir, "DIR", true },
		{ "pool", OPT_STR, &o->pool, "NS/NAME", true },
		{ "pod", OPT_STR, &o->pod.name, "NAME", true },
		{ "pod-ip", OPT_STR, &o->pod.ip, "IP", true },
		{ "app", OPT_STR, &o->pod.app, "LABEL", true },
		{ "vip", OPT_STR, &o->vip, "IP", true },
		{ "gw", OPT_STR, &o->gw, "IP", true },
		{ "host", OPT_STR, &o->host, "HOST", true },
		{ "model", OPT_STR, &o->model, "MODEL", true },
		{ "file", OPT_STR, &o->file, "PATH (manifests)", false },
		{ "admin", OPT_STR, &o->kube.admin, "URL (kube)", false },
		{ "api", OPT_STR, &o->kube.api, "URL (kube)", false },
		{ "token", OPT_STR, &o->kube.token_file, "FILE (kube)", false },
		{ "ca", OPT_STR, &o->kube.ca_file, "FILE (kube)", false },
		{ "vip-port", OPT_INT, &o->vip_port, "N", false },
		{ "gw-port", OPT_INT, &o->gw_port, "N", false },
		{ "client-netns", OPT_STR, &o->client_netns, "PATH", false },
		{ "samples", OPT_INT, &o->samples, "N", false },
		{ "timeout", OPT_NUM, &o->timeout_s, "S", false },
		{ "gap-ms", OPT_NUM, &o->gap_ms, "MS", false },
		{ "cold-neigh", OPT_STR, &o->cold_neigh, "DEV", false },
	};
	int err;

	*o = (struct ready_opts){ .vip_port = 80, .gw_port = 8888, .samples = 50, .timeout_s = 3, .gap_ms = 30 };
	err = parse_opts("ready", argc, argv, opts, OPTS_N(opts));
	if (err)
		return err;
	if (!strcmp(o->mode, "manifests") ? !o->file
	    : !strcmp(o->mode, "kube")	  ? !o->kube.admin || !o->kube.api || !o->kube.token_file || !o->kube.ca_file
					  : true) {
		fprintf(stderr, "row7-probe ready: --mode manifests wants --file; --mode kube --admin, --api, --token and --ca\n");
		return -EINVAL;
	}
	return 0;
}

/* ---- sockets in the client's namespace ---- */

static int netns_open(struct netns *ns, const char *client)
{
	ns->own = ns->client = -1;
	if (!client)
		return 0;
	ns->own = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	ns->client = open(client, O_RDONLY | O_CLOEXEC);
	return ns->own < 0 || ns->client < 0 ? -errno : 0;
}

static void netns_close(struct netns *ns)
{
	if (ns->own >= 0)
		close(ns->own);
	if (ns->client >= 0)
		close(ns->client);
}

/* A TCP socket in the client's namespace (a socket keeps the namespace it was made in). */
static int netns_socket(const struct netns *ns, int flags)
{
	int fd, err;

	if (ns->client < 0) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
		return fd < 0 ? -errno : fd;
	}
	if (setns(ns->client, CLONE_NEWNET))
		return -errno;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
	err = fd < 0 ? -errno : 0;
	if (setns(ns->own, CLONE_NEWNET)) {
		err = -errno;
		if (fd >= 0)
			close(fd);
	}
	return err ?: fd;
}

static int sockaddr_of(struct sockaddr_in *sa, const char *ip, int port)
{
	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port) };
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* ---- the L7 probe ---- */

static void l7_close(struct l7_probe *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->busy = false;
}

static void l7_error(struct l7_probe *p, const char *what, int err)
{
	char line[96];

	snprintf(line, sizeof(line), "%d:%s%s%s", p->last_status, what ?: "", what ? ":" : "",
		 err ? strerrorname_np(err) ?: "error" : "closed");
	cJSON_AddItemToArray(p->errors, cJSON_CreateString(line));
	l7_close(p);
}

/* Sends the request, connecting first when the last connection ended. */
static int l7_send(struct l7_probe *p)
{
	struct timeval two_s = { .tv_sec = 2 };
	int fd = p->fd;

	if (fd < 0) {
		p->last_status = 0;
		fd = netns_socket(p->ns, 0);
		if (fd < 0)
			return fd;
		p->fd = fd;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &two_s, sizeof(two_s)); /* bounds connect() */
		if (connect(fd, (struct sockaddr *)&p->addr, sizeof(p->addr)))
			return -errno;
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
	p->len = 0;
	if (send(fd, p->req, p->req_len, MSG_NOSIGNAL) != (ssize_t)p->req_len)
		return errno ? -errno : -EIO;
	p->busy = true;
	return 0;
}

/* Reads what is there: the status of a whole answer, 0 when the connection ended without
 * one (counted in errors), -EAGAIN while the answer is incomplete. */
static int l7_on_readable(struct l7_probe *p)
{
	struct http_reply reply;
	ssize_t n = recv(p->fd, p->buf + p->len, sizeof(p->buf) - p->len, 0);
	int err;

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return -EAGAIN;
	if (n <= 0) { /* reset or closed: the next probe connects again */
		l7_error(p, NULL, n < 0 ? errno : 0);
		return 0;
	}
	p->len += n;
	err = http_reply_parse(p->buf, p->len, &reply);
	if (err == -EAGAIN && p->len < sizeof(p->buf))
		return -EAGAIN;
	if (err) { /* a head too long, or not HTTP */
		l7_error(p, "head", err == -EAGAIN ? EMSGSIZE : -err);
		return 0;
	}
	p->last_status = reply.status;
	if (reply.content_length < 0 || reply.close) {
		l7_close(p);
		return reply.status;
	}
	if (p->len - reply.head_len < (size_t)reply.content_length)
		return -EAGAIN;
	p->busy = false;
	return reply.status;
}

/* ---- one sample ---- */

struct prober {
	const struct ready_opts *o;
	struct netns ns;
	struct pool_sets sets;
	struct pod_source *src;
	struct l7_probe l7;
	struct sockaddr_in vip;
	uint32_t pool_id, backend_id;
	int pending[MAX_PENDING_SYNS]; /* SYNs sent, not answered yet */
	int n_pending;
};

static void close_pending(struct prober *p)
{
	for (int i = 0; i < p->n_pending; i++)
		close(p->pending[i]);
	p->n_pending = 0;
}

/* A fresh connection to the VIP: its SYN goes out now. */
static void send_syn(struct prober *p, struct sample *s)
{
	int fd;

	if (p->n_pending == MAX_PENDING_SYNS)
		return;
	fd = netns_socket(&p->ns, SOCK_NONBLOCK);
	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&p->vip, sizeof(p->vip)) && errno != EINPROGRESS) {
		close(fd);
		return;
	}
	p->pending[p->n_pending++] = fd;
	s->syns++;
}

static void cold_neighbour(const char *ip, const char *dev)
{
	char *argv[] = { "ip", "neigh", "del", (char *)ip, "dev", (char *)dev, NULL };
	posix_spawn_file_actions_t fa;
	int status;
	pid_t pid;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	if (!posix_spawnp(&pid, "ip", &fa, NULL, argv, environ))
		waitpid(pid, &status, 0);
	posix_spawn_file_actions_destroy(&fa);
}

/* The pod NotReady, until the kernel's set no longer holds it (s->down stays NaN when it
 * still does after the timeout). */
static int take_down(struct prober *p, struct sample *s)
{
	double t0, deadline;
	int err = pod_source_set_ready(p->src, false, &t0);

	if (err)
		return err;
	deadline = t0 + p->o->timeout_s * 1e3;
	while (now_ms() < deadline) {
		if (!pool_sets_has(&p->sets, p->pool_id, p->backend_id)) {
			s->down = now_ms() - t0;
			break;
		}
		sleep_s(0.0003);
	}
	return 0;
}

/* The pod Ready, and every lane probed until each answers (or the timeout). */
static int bring_up(struct prober *p, struct sample *s)
{
	struct pollfd pfds[MAX_PENDING_SYNS + 2];
	double t0, next_syn = 0, next_l7 = 0;
	const struct timespec tick = { .tv_nsec = 300000 };
	int err = pod_source_set_ready(p->src, true, &t0);

	if (err)
		return err;
	while (now_ms() - t0 < p->o->timeout_s * 1e3) {
		double t = now_ms();
		int n = 0, l7_slot = -1, syn_slot;

		if (isnan(s->noticed) && !isnan(pod_source_noticed(p->src)))
			s->noticed = pod_source_noticed(p->src) - t0;
		if (isnan(s->kernel) && pool_sets_has(&p->sets, p->pool_id, p->backend_id))
			s->kernel = now_ms() - t0;
		if (isnan(s->l4) && t >= next_syn) {
			send_syn(p, s);
			next_syn = t + 1;
		}
		if (isnan(s->l7) && !p->l7.busy && t >= next_l7) {
			err = l7_send(&p->l7);
			if (err) {
				l7_error(&p->l7, "send", -err);
				next_l7 = t + 1;
			}
		}

		/* the source's fd wakes the loop, which reads it at the top */
		if (isnan(s->noticed) && pod_source_fd(p->src) >= 0)
			pfds[n++] = (struct pollfd){ .fd = pod_source_fd(p->src), .events = POLLIN };
		if (p->l7.busy) {
			l7_slot = n;
			pfds[n++] = (struct pollfd){ .fd = p->l7.fd, .events = POLLIN };
		}
		syn_slot = n;
		for (int i = 0; i < p->n_pending; i++)
			pfds[n++] = (struct pollfd){ .fd = p->pending[i], .events = POLLOUT };
		if (ppoll(pfds, n, &tick, NULL) <= 0)
			goto check;

		if (l7_slot >= 0 && pfds[l7_slot].revents) {
			int status = l7_on_readable(&p->l7);

			if (status != -EAGAIN) {
				if (status == 200) {
					s->l7 = now_ms() - t0;
					l7_close(&p->l7);
				}
				next_l7 = now_ms() + 1;
			}
		}
		/* a SYN answered; one refused or unreachable is dropped */
		for (int i = p->n_pending - 1; i >= 0; i--) {
			int so_error = 0;
			socklen_t len = sizeof(so_error);

			if (!pfds[syn_slot + i].revents)
				continue;
			getsockopt(p->pending[i], SOL_SOCKET, SO_ERROR, &so_error, &len);
			if (!so_error && isnan(s->l4))
				s->l4 = now_ms() - t0;
			close(p->pending[i]);
			p->pending[i] = p->pending[--p->n_pending];
		}
check:
		if (!isnan(s->l4))
			close_pending(p);
		if (!isnan(s->noticed) && !isnan(s->kernel) && !isnan(s->l4) && !isnan(s->l7))
			break;
	}
	close_pending(p);
	if (p->l7.busy)
		l7_close(&p->l7);
	return 0;
}

static void add_ms(cJSON *out, const char *key, double ms)
{
	json_add_number(out, key, isnan(ms) ? NAN : round_to(ms, 3));
}

static int run_sample(struct prober *p, int i)
{
	struct sample s = { .down = NAN, .noticed = NAN, .kernel = NAN, .l4 = NAN, .l7 = NAN };
	cJSON *out = cJSON_CreateObject();
	int err = -ENOMEM;

	if (!out)
		return err;
	cJSON_AddNumberToObject(out, "i", i);
	err = take_down(p, &s);
	if (err) {
		fprintf(stderr, "row7-probe: making the pod NotReady: %s\n", strerror(-err));
		goto out;
	}
	if (isnan(s.down)) {
		cJSON_AddStringToObject(out, "error", "the pod never left the kernel's set");
		goto print;
	}
	/* let the L7 table follow and the agent settle; a random phase against its 50 ms tick */
	sleep_s(p->o->gap_ms / 1e3 + drand48() * 0.05);
	if (p->o->cold_neigh) /* a pod the node has never talked to: its address not in the neighbour table */
		cold_neighbour(p->o->pod.ip, p->o->cold_neigh);
	l7_close(&p->l7);
	err = bring_up(p, &s);
	if (err) {
		fprintf(stderr, "row7-probe: making the pod Ready: %s\n", strerror(-err));
		goto out;
	}
	add_ms(out, "down_ms", s.down);
	add_ms(out, "noticed_ms", s.noticed);
	add_ms(out, "kernel_ms", s.kernel);
	add_ms(out, "l4_ms", s.l4);
	add_ms(out, "l7_ms", s.l7);
	cJSON_AddNumberToObject(out, "syns", s.syns);
	if (cJSON_GetArraySize(p->l7.errors)) {
		cJSON_AddItemToObject(out, "l7_errors", p->l7.errors);
		p->l7.errors = cJSON_CreateArray();
	}
print:
	err = print_json_line(out);
out:
	cJSON_Delete(out);
	return err;
}

/* The first Ready: the pool's id and the pod's backend id, as the kernel has them. */
static int first_ready(struct prober *p)
{
	double t0, deadline;
	int err = pod_source_set_ready(p->src, true, &t0);

	if (err)
		return err;
	deadline = now_ms() + FIRST_READY_S * 1e3;
	while (now_ms() < deadline) {
		if (!p->pool_id)
			p->pool_id = pool_sets_find_pool(&p->sets, p->o->pool);
		if (p->pool_id) {
			p->backend_id = pool_sets_find_backend(&p->sets, p->pool_id, p->o->pod.ip);
			if (p->backend_id && pool_sets_has(&p->sets, p->pool_id, p->backend_id)) {
				fprintf(stderr, "row7-probe: pool %s id %u, backend %u\n", p->o->pool, p->pool_id,
					p->backend_id);
				return 0;
			}
		}
		sleep_s(0.01);
	}
	fprintf(stderr, "row7-probe: pod %s never became ready in pool %s\n", p->o->pod.ip, p->o->pool);
	return -ETIMEDOUT;
}

int cmd_ready(int argc, char **argv)
{
	struct ready_opts o;
	struct prober *p = NULL;
	char err_msg[512];
	int err;

	if (parse_ready_opts(argc, argv, &o))
		return 2;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return 1;
	srand48(time(NULL) ^ getpid());
	p = calloc(1, sizeof(*p));
	err = -ENOMEM;
	if (!p)
		goto out;
	p->o = &o;
	p->ns.own = p->ns.client = -1;
	p->sets.maps.pools = p->sets.maps.pool_backends = p->sets.maps.backends = -1;
	p->l7.fd = -1;
	p->l7.ns = &p->ns;
	p->l7.errors = cJSON_CreateArray();
	p->l7.req = chat_request(o.host, o.model, "Ready?", 4, &p->l7.req_len);
	if (!p->l7.errors || !p->l7.req)
		goto out;
	err = sockaddr_of(&p->vip, o.vip, o.vip_port) ?: sockaddr_of(&p->l7.addr, o.gw, o.gw_port);
	if (err) {
		fprintf(stderr, "row7-probe: --vip and --gw want IPv4 addresses\n");
		goto out;
	}
	err = netns_open(&p->ns, o.client_netns);
	if (err) {
		fprintf(stderr, "row7-probe: the network namespace %s: %s\n", o.client_netns, strerror(-err));
		goto out;
	}
	err = pool_sets_open(&p->sets, o.pin_dir, err_msg, sizeof(err_msg));
	if (!err)
		err = !strcmp(o.mode, "manifests") ? pod_source_manifests(&p->src, o.file, &o.pod, err_msg, sizeof(err_msg))
						   : pod_source_kube(&p->src, &o.kube, &o.pod, err_msg, sizeof(err_msg));
	if (err) {
		fprintf(stderr, "row7-probe: %s\n", err_msg);
		goto out;
	}

	err = first_ready(p);
	for (int i = 0; !err && i < o.samples; i++)
		err = run_sample(p, i);
out:
	if (err == -ENOMEM)
		fprintf(stderr, "row7-probe: out of memory\n");
	if (p) {
		pod_source_free(p->src);
		pool_sets_close(&p->sets);
		netns_close(&p->ns);
		l7_close(&p->l7);
		cJSON_Delete(p->l7.errors);
		free(p->l7.req);
		free(p);
	}
	curl_global_cleanup();
	return err ? 1 : 0;
}
