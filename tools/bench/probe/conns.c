/* conns.c - `row7-probe conns`: N connections to HOST:PORT, then one request on each, kept
 * open; the VmRSS and open fds of the process under test (--pid) before, with N idle
 * connections, after one request each, and after they close. One JSON line. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "probe.h"

#define PHASE_S 60 /* connecting, and the requests, each end after this */

struct conns_opts {
	const char *addr, *host, *model;
	int port, n, window, pid;
	double settle_s;
	bool requests;
};

struct conn {
	int fd;
	char *buf; /* the answer so far, while a request is in flight */
	size_t len, cap;
};

static int parse_conns_opts(int argc, char **argv, struct conns_opts *o)
{
	const struct probe_opt opts[] = {
		{ "addr", OPT_STR, &o->addr, "IP", true },
		{ "port", OPT_INT, &o->port, "N", true },
		{ "pid", OPT_INT, &o->pid, "PID", true },
		{ "host-header", OPT_STR, &o->host, "HOST", true },
		{ "model", OPT_STR, &o->model, "MODEL", true },
		{ "n", OPT_INT, &o->n, "N", false },
		{ "window", OPT_INT, &o->window, "N", false },
		{ "settle", OPT_NUM, &o->settle_s, "S", false },
		{ "no-requests", OPT_OFF, &o->requests, NULL, false },
	};
	int err;

	*o = (struct conns_opts){ .n = 10000, .window = 256, .settle_s = 1, .requests = true };
	err = parse_opts("conns", argc, argv, opts, OPTS_N(opts));
	if (!err && (o->port <= 0 || o->pid <= 0 || o->n < 1 || o->window < 1)) {
		fprintf(stderr, "row7-probe conns: --port, --pid, --n or --window out of range\n");
		err = -EINVAL;
	}
	return err;
}

/* Each connection an fd here: the soft limit raised as far as the hard one allows. */
static void raise_fd_limit(int n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= (rlim_t)n + 256)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (rlim_t)n + 4096 ? (rlim_t)n + 4096 : rl.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/* Waits (up to timeout_s) until the process holds at least (more) or at most (!more) want fds. */
static void wait_fds(pid_t pid, long want, bool more, double timeout_s)
{
	double end = now_ms() + timeout_s * 1e3;

	while (now_ms() < end) {
		long n = proc_fd_count(pid);

		if (more ? n >= want : n <= want)
			return;
		sleep_s(0.05);
	}
}

static void add_proc(cJSON *out, const char *rss, const char *fds, pid_t pid)
{
	cJSON_AddNumberToObject(out, rss, proc_status_kb(pid, "VmRSS"));
	cJSON_AddNumberToObject(out, fds, proc_fd_count(pid));
}

/* Opens o->n connections, at most o->window connecting at once; the open ones in conns.
 * pending[k] is the k-th socket while it connects. */
static int connect_all(const struct conns_opts *o, int ep, struct conn *conns, int *connected, cJSON *out)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(o->port) };
	struct epoll_event evs[256], ev = { .events = EPOLLOUT };
	int *pending = malloc(o->n * sizeof(*pending)), started = 0, in_flight = 0, errors = 0;
	double t0 = now_ms();

	if (!pending)
		return -ENOMEM;
	inet_pton(AF_INET, o->addr, &sa.sin_addr);
	*connected = 0;
	while ((started < o->n || in_flight) && now_ms() - t0 < PHASE_S * 1e3) {
		int n;

		while (started < o->n && in_flight < o->window) {
			int k = started++, fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

			pending[k] = -1;
			if (fd < 0 || (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EINPROGRESS)) {
				errors++;
				if (fd >= 0)
					close(fd);
				continue;
			}
			pending[k] = fd;
			ev.data.u32 = k;
			epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
			in_flight++;
		}
		n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			int k = evs[i].data.u32, fd = pending[k], so_error = 0;
			socklen_t len = sizeof(so_error);

			pending[k] = -1;
			epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
			in_flight--;
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &len);
			if (so_error) {
				errors++;
				close(fd);
				continue;
			}
			conns[(*connected)++].fd = fd;
		}
	}
	/* still connecting after PHASE_S: not held, not counted */
	for (int k = 0; k < started; k++)
		if (pending[k] >= 0)
			close(pending[k]);
	free(pending);
	cJSON_AddNumberToObject(out, "connected", *connected);
	cJSON_AddNumberToObject(out, "connect_errors", errors);
	cJSON_AddNumberToObject(out, "connect_s", round_to((now_ms() - t0) / 1e3, 3));
	return 0;
}

/* Reads what is there of c's answer: 1 once it is whole (*ok when 200), 0 while it is not,
 * -errno when the connection failed or the answer is not HTTP. */
static int read_answer(struct conn *c, bool *ok)
{
	struct http_reply reply;
	ssize_t n;
	int err;

	if (c->cap - c->len < 4096) {
		char *grown = realloc(c->buf, c->cap ? c->cap * 2 : 8192);

		if (!grown)
			return -ENOMEM;
		c->buf = grown;
		c->cap = c->cap ? c->cap * 2 : 8192;
	}
	n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -ECONNRESET;
	c->len += n;
	err = http_reply_parse(c->buf, c->len, &reply);
	if (err)
		return err == -EAGAIN ? 0 : err;
	if (reply.content_length > 0 && c->len - reply.head_len < (size_t)reply.content_length)
		return 0;
	*ok = reply.status == 200;
	return 1;
}

/* One request on each open connection, o->window in flight; the connections stay open. */
static int request_all(const struct conns_opts *o, int ep, struct conn *conns, int connected, cJSON *out)
{
	struct epoll_event evs[256], ev = { .events = EPOLLIN };
	int next = 0, in_flight = 0, ok = 0, bad = 0;
	size_t req_len;
	char *req = chat_request(o->host, o->model, "Explain Kubernetes in one sentence.", 50, &req_len);
	double t0 = now_ms();

	if (!req)
		return -ENOMEM;
	while ((next < connected || in_flight) && now_ms() - t0 < PHASE_S * 1e3) {
		int n;

		while (next < connected && in_flight < o->window) {
			struct conn *c = &conns[next];

			ev.data.u32 = next++;
			if (send(c->fd, req, req_len, MSG_NOSIGNAL) != (ssize_t)req_len) {
				bad++;
				continue;
			}
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			in_flight++;
		}
		n = epoll_wait(ep, evs, 256, 50);
		for (int i = 0; i < n; i++) {
			struct conn *c = &conns[evs[i].data.u32];
			bool answered_ok = false;
			int done = read_answer(c, &answered_ok);

			if (!done)
				continue;
			if (done > 0 && answered_ok)
				ok++;
			else
				bad++;
			epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
			free(c->buf);
			c->buf = NULL;
			c->len = c->cap = 0;
			in_flight--;
		}
	}
	free(req);
	cJSON_AddNumberToObject(out, "responses_200", ok);
	cJSON_AddNumberToObject(out, "request_errors", bad + in_flight);
	cJSON_AddNumberToObject(out, "request_s", round_to((now_ms() - t0) / 1e3, 3));
	return 0;
}

/* A connection the peer has not closed: nothing to read yet, or data waiting. */
static bool still_open(int fd)
{
	char byte;
	ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);

	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

int cmd_conns(int argc, char **argv)
{
	struct conn *conns = NULL;
	struct conns_opts o;
	cJSON *out = NULL;
	int ep = -1, connected = 0, err;
	long fds0;

	if (parse_conns_opts(argc, argv, &o))
		return 2;
	raise_fd_limit(o.n);
	conns = calloc(o.n, sizeof(*conns));
	out = cJSON_CreateObject();
	ep = epoll_create1(EPOLL_CLOEXEC);
	err = -ENOMEM;
	if (!conns || !out)
		goto out;
	if (ep < 0) {
		err = -errno;
		goto out;
	}
	cJSON_AddNumberToObject(out, "n", o.n);
	sleep_s(0.3);
	fds0 = proc_fd_count(o.pid);
	add_proc(out, "rss0_kb", "fds0", o.pid);

	err = connect_all(&o, ep, conns, &connected, out);
	if (err)
		goto out;
	/* until the process under test has accepted them all (or stopped accepting) */
	wait_fds(o.pid, fds0 + connected, true, 10);
	sleep_s(o.settle_s);
	add_proc(out, "rss1_kb", "fds1", o.pid);

	if (o.requests) {
		int open = 0;

		err = request_all(&o, ep, conns, connected, out);
		if (err)
			goto out;
		sleep_s(o.settle_s);
		add_proc(out, "rss2_kb", "fds2", o.pid);
		for (int i = 0; i < connected; i++)
			open += still_open(conns[i].fd);
		cJSON_AddNumberToObject(out, "open_after_requests", open);
	}

	for (int i = 0; i < connected; i++) {
		close(conns[i].fd);
		conns[i].fd = -1;
	}
	connected = 0;
	wait_fds(o.pid, fds0 + 70, false, 10);
	sleep_s(o.settle_s);
	add_proc(out, "rss3_kb", "fds3", o.pid);
	err = print_json_line(out);
out:
	if (err)
		fprintf(stderr, "row7-probe conns: %s\n", strerror(-err));
	for (int i = 0; i < connected; i++) {
		close(conns[i].fd);
		free(conns[i].buf);
	}
	if (ep >= 0)
		close(ep);
	cJSON_Delete(out);
	free(conns);
	return err ? 1 : 0;
}
