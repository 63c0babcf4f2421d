/* main.c - inferlb-agent: its flags (one option table for parsing and --help), and the wiring
 * of the sources, scraper, reconciler, lanes, control socket and exporter into one epoll loop. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>
#include "agent.h"
#include "ctl.h"
#include "load/exporter.h"
#include "load/health.h"
#include "source/kube.h"
#include "kern/l4.h"
#include "l7/l7.h"
#include "kern/l7_kern.h"
#include "kern/l7_vips.h"
#include "l7/route.h"
#include "log.h"
#include "options.h"
#include "source/manifest.h"
#include "kern/maps.h"
#include "kern/neigh.h"
#include "kern/reconcile.h"
#include "load/scrape.h"

/* ---- flags: one table for parsing and --help ---- */

/* arg as a whole decimal number within [min, max] into an unsigned field of `size` bytes;
 * -EINVAL with "expected <expected>, got ..." otherwise */
static int store_number(const char *arg, void *field, size_t size, unsigned long long min, unsigned long long max,
			const char *expected, char *why, size_t len)
{
	char *end;
	unsigned long long v = strtoull(arg, &end, 10);

	if (*end || v < min || v > max)
		return snprintf(why, len, "expected %s, got \"%s\"", expected, arg), -EINVAL;
	if (size == sizeof(unsigned))
		*(unsigned *)field = v;
	else
		*(size_t *)field = v;
	return 0;
}

static int parse_ms(const char *arg, void *field, char *why, size_t len)
{
	return store_number(arg, field, sizeof(unsigned), 1, 600000, "milliseconds (1..600000)", why, len);
}

static int parse_xdp_mode(const char *arg, void *field, char *why, size_t len)
{
	if (!strcmp(arg, "native"))
		*(enum ilb_xdp_mode *)field = ILB_XDP_NATIVE;
	else if (!strcmp(arg, "skb"))
		*(enum ilb_xdp_mode *)field = ILB_XDP_SKB;
	else
		return snprintf(why, len, "expected native or skb"), -EINVAL;
	return 0;
}

static int parse_vip(const char *arg, void *field, char *why, size_t len)
{
	if (ilb_addr_parse(arg, field))
		return snprintf(why, len, "expected an IPv4 or IPv6 address, got \"%s\"", arg), -EINVAL;
	return 0;
}

static int parse_max_body(const char *arg, void *field, char *why, size_t len)
{
	return store_number(arg, field, sizeof(size_t), 1, 1ull << 32, "bytes (1..4294967296)", why, len);
}

static int parse_policy(const char *arg, void *field, char *why, size_t len)
{
	if (ilb_policy_parse(arg, field))
		return snprintf(why, len, "expected sched, round-robin, random or least-request"), -EINVAL;
	return 0;
}

static int parse_hold_max(const char *arg, void *field, char *why, size_t len)
{
	return store_number(arg, field, sizeof(unsigned), 0, 1000000, "0..1000000", why, len);
}

static int parse_splice(const char *arg, void *field, char *why, size_t len)
{
	if (strcmp(arg, "sockmap") && strcmp(arg, "pipe"))
		return snprintf(why, len, "expected sockmap or pipe"), -EINVAL;
	*(bool *)field = !strcmp(arg, "pipe");
	return 0;
}

#define STR_(x) #x
#define STR(x) STR_(x)

static int parse_inline_max(const char *arg, void *field, char *why, size_t len)
{
	static const char expected[] = "bytes (0.." STR(ILB_L7_INLINE_MAX) ")";

	if (!*arg) /* not 0: a value is wanted */
		return snprintf(why, len, "expected %s, got \"\"", expected), -EINVAL;
	return store_number(arg, field, sizeof(unsigned), 0, ILB_L7_INLINE_MAX, expected, why, len);
}

static int more_verbose(const char *arg, void *field, char *why, size_t len)
{
	ilb_log_level++;
	return 0;
}

#define TEXT(field) .type = ILB_OPT_TEXT, .size = sizeof(((struct ilb_agent *)0)->field)
#define FUNC(fn) .type = ILB_OPT_FUNC, .parse = fn

static const struct ilb_option agent_options[] = {
	ILB_OPT(struct ilb_agent, manifests_dir, .name = "manifests", TEXT(manifests_dir), .metavar = "DIR",
		.help = "read InferencePools, Pods, ... from YAML files in DIR (reloaded on change)"),
	ILB_OPT(struct ilb_agent, kubeconfig, .name = "kubeconfig", TEXT(kubeconfig), .metavar = "FILE",
		.help = "list and watch them on the API server of FILE's current context"),
	ILB_OPT(struct ilb_agent, in_cluster, .name = "in-cluster", .type = ILB_OPT_BOOL,
		.help = "... on the API server of the pod's service account (the default when\n"
			"KUBERNETES_SERVICE_HOST is set and no other source is given)"),
	ILB_OPT(struct ilb_agent, iface, .name = "iface", TEXT(iface), .metavar = "IF",
		.help = "attach the L4 lane (XDP + TC) to the node's uplink IF"),
	ILB_OPT(struct ilb_agent, xdp_mode, .name = "xdp-mode", FUNC(parse_xdp_mode), .metavar = "MODE",
		.help = "native (default) or skb"),
	ILB_OPT(struct ilb_agent, pin_dir, .name = "pin-dir", TEXT(pin_dir), .metavar = "DIR",
		.help = "pinned maps and links (default " ILB_PIN_DIR ")"),
	ILB_OPT(struct ilb_agent, socket_path, .name = "socket", TEXT(socket_path), .metavar = "PATH",
		.help = "control socket (default " ILB_DEFAULT_SOCKET ")"),
	ILB_OPT(struct ilb_agent, metrics_addr, .name = "metrics-addr", TEXT(metrics_addr), .metavar = "IP:PORT",
		.help = "Prometheus /metrics, /healthz, /readyz (default 127.0.0.1:9464, \"off\")"),
	ILB_OPT(struct ilb_agent, scrape_interval_ms, .name = "scrape-interval", FUNC(parse_ms), .metavar = "MS",
		.help = "pod /metrics scrape period (default 50)"),
	ILB_OPT(struct ilb_agent, stale_after_ms, .name = "stale-after", FUNC(parse_ms), .metavar = "MS",
		.help = "a pod whose last good scrape is older counts as saturated (default 200)"),
	ILB_OPT(struct ilb_agent, detach, .name = "detach", .type = ILB_OPT_BOOL,
		.help = "program the data path once and exit, leaving it running"),
	ILB_OPT(struct ilb_agent, keep, .name = "keep", .type = ILB_OPT_BOOL,
		.help = "on SIGTERM/SIGINT leave the data path running (a restart adopts it)"),
	ILB_OPT(struct ilb_agent, cleanup, .name = "cleanup", .type = ILB_OPT_BOOL,
		.help = "remove every program, link and pinned map, then exit"),
	ILB_OPT(struct ilb_agent, no_l7, .name = "no-l7", .type = ILB_OPT_BOOL,
		.help = "no L7 lane (sk_lookup, the request loop)"),
	ILB_OPT(struct ilb_agent, vip, .name = "vip", FUNC(parse_vip), .metavar = "IP",
		.help = "the L7 gateway address of Gateways that name none (spec.addresses,\n"
			"annotation inferlb.io/vip)"),
	ILB_OPT(struct ilb_agent, l7_cfg.max_body, .name = "max-body", FUNC(parse_max_body), .metavar = "BYTES",
		.help = "largest request body the L7 lane reads (default 16777216): 413 beyond"),
	ILB_OPT(struct ilb_agent, l7_cfg.policy, .name = "l7-policy", FUNC(parse_policy), .metavar = "NAME",
		.help = "sched (default), round-robin, random or least-request"),
	ILB_OPT(struct ilb_agent, l7_cfg.header_timeout_ms, .name = "header-timeout", FUNC(parse_ms), .metavar = "MS",
		.help = "a request head must arrive within this, else 408 (default 10000)"),
	ILB_OPT(struct ilb_agent, l7_cfg.stall_timeout_ms, .name = "stall-timeout", FUNC(parse_ms), .metavar = "MS",
		.help = "a client that reads none of its response this long is closed (default 30000)"),
	ILB_OPT(struct ilb_agent, l7_cfg.idle_timeout_ms, .name = "idle-timeout", FUNC(parse_ms), .metavar = "MS",
		.help = "a kept-alive client connection with no request this long is closed (default 120000)"),
	ILB_OPT(struct ilb_agent, l7_cfg.hold_max, .name = "hold-max", FUNC(parse_hold_max), .metavar = "N",
		.help = "requests that may wait for a pod of a pool scaled to zero (default 1024)"),
	ILB_OPT(struct ilb_agent, l7_cfg.hold_timeout_ms, .name = "hold-timeout", FUNC(parse_ms), .metavar = "MS",
		.help = "how long one waits before 503 (default 300000: a model server's cold start)"),
	ILB_OPT(struct ilb_agent, l7_cfg.splice_pipe, .name = "splice", FUNC(parse_splice), .metavar = "MODE",
		.help = "sockmap (default: responses redirected in the kernel) or pipe (splice(2)\n"
			"through the agent, for kernels whose sockmap cannot be used)"),
	ILB_OPT(struct ilb_agent, l7_cfg.inline_max, .name = "inline-max", FUNC(parse_inline_max), .metavar = "BYTES",
		.help = "on the sockmap, a response of at most BYTES whose first piece holds it whole (or\n"
			"its whole head) comes to the agent in ring events and is sent from there\n"
			"(default and most 4096; 0: every response is redirected in the kernel)"),
	{ .name = "verbose", .short_name = 'v', FUNC(more_verbose), .help = "more logs (repeat for debug)" },
	{ 0 },
};

static void usage(FILE *out)
{
	fprintf(out, "Usage: inferlb-agent [OPTIONS]\n\nOptions:\n");
	ilb_options_print(agent_options, 26, out);
}

static int parse_args(struct ilb_agent *a, int argc, char **argv)
{
	int err;

	snprintf(a->pin_dir, sizeof(a->pin_dir), "%s", ILB_PIN_DIR);
	snprintf(a->socket_path, sizeof(a->socket_path), "%s", ILB_DEFAULT_SOCKET);
	snprintf(a->metrics_addr, sizeof(a->metrics_addr), "127.0.0.1:9464");
	a->scrape_interval_ms = 50;
	a->stale_after_ms = 200;
	ilb_l7_config_default(&a->l7_cfg);
	err = ilb_options_parse(agent_options, a, argc, argv);
	if (err == ILB_OPTIONS_HELP) {
		usage(stdout);
		exit(EXIT_SUCCESS);
	}
	if (err)
		return err;
	/* one source of truth: two would fight over the same objects */
	if (!!a->manifests_dir[0] + !!a->kubeconfig[0] + a->in_cluster > 1) {
		fprintf(stderr, "Error: --manifests, --kubeconfig and --in-cluster exclude each other\nUse --help\n");
		return -EINVAL;
	}
	if (!a->manifests_dir[0] && !a->kubeconfig[0] && getenv("KUBERNETES_SERVICE_HOST"))
		a->in_cluster = true;
	return 0;
}

static int cleanup_all(struct ilb_agent *a)
{
	int err = 0;

	struct ilb_netlink *nl = ilb_netlink_open();

	/* the L7 gateway addresses' local routes go with the VIPs that named them */
	ilb_l7_vips_clear_pinned(a->pin_dir, nl);
	ilb_netlink_close(nl);
	ilb_l7_kern_detach(a->pin_dir);
	if (a->iface[0])
		err = ilb_l4_detach(a->pin_dir, a->iface);
	err = err ?: ilb_maps_unpin(a->pin_dir);
	pr_info("removed the data path%s%s and %s", a->iface[0] ? " from " : "", a->iface, a->pin_dir);
	return err;
}

static int start_kube(struct ilb_agent *a)
{
	struct ilb_kube_creds creds;
	char reason[512];
	int err;

	if (a->kubeconfig[0])
		err = ilb_kube_creds_kubeconfig(a->kubeconfig, &creds, reason, sizeof(reason));
	else
		err = ilb_kube_creds_in_cluster(ILB_KUBE_SA_DIR, &creds, reason, sizeof(reason));
	if (err) {
		pr_warn("%s", reason);
		return err;
	}
	a->kube = ilb_kube_start(&creds, a->store);
	ilb_kube_creds_free(&creds);
	return a->kube ? 0 : -errno;
}

static void render_metrics(void *ctx, FILE *out)
{
	struct ilb_agent *a = ctx;

	pthread_mutex_lock(&a->lock);
	ilb_agent_metrics(a, out);
	pthread_mutex_unlock(&a->lock);
}

static bool sources_synced(void *ctx)
{
	struct ilb_agent *a = ctx;
	bool synced;

	pthread_mutex_lock(&a->lock);
	synced = a->synced;
	pthread_mutex_unlock(&a->lock);
	return synced;
}

static int add_fd(int epfd, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) ? -errno : 0;
}

static int run_loop(struct ilb_agent *a)
{
	struct itimerspec period = { 0 };
	struct epoll_event events[8];
	sigset_t mask;
	int epfd, tfd, sfd, err = 0;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || tfd < 0 || epfd < 0)
		return -errno;
	period.it_interval.tv_nsec = (long)a->scrape_interval_ms % 1000 * 1000000;
	period.it_interval.tv_sec = a->scrape_interval_ms / 1000;
	period.it_value = period.it_interval;
	timerfd_settime(tfd, 0, &period, NULL);
	add_fd(epfd, sfd);
	add_fd(epfd, tfd);
	if (a->ctl)
		add_fd(epfd, ilb_ctl_fd(a->ctl));
	if (a->manifests)
		add_fd(epfd, ilb_manifests_fd(a->manifests));
	if (a->kube)
		add_fd(epfd, ilb_kube_fd(a->kube));

	for (;;) {
		int n = epoll_wait(epfd, events, 8, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		pthread_mutex_lock(&a->lock);
		for (int i = 0; i < n; i++) {
			int fd = events[i].data.fd;

			if (fd == sfd) {
				struct signalfd_siginfo si;

				if (read(sfd, &si, sizeof(si)) == sizeof(si))
					pr_info("signal %u: stopping", si.ssi_signo);
				pthread_mutex_unlock(&a->lock);
				goto out;
			} else if (fd == tfd) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				ilb_agent_tick(a);
			} else if (a->ctl && fd == ilb_ctl_fd(a->ctl)) {
				ilb_ctl_process(a->ctl);
			} else if (a->manifests && fd == ilb_manifests_fd(a->manifests)) {
				if (ilb_manifests_process(a->manifests) > 0)
					ilb_agent_tick(a);
			} else if (a->kube && fd == ilb_kube_fd(a->kube)) {
				if (ilb_kube_process(a->kube) > 0)
					ilb_agent_tick(a);
			}
		}
		pthread_mutex_unlock(&a->lock);
	}
out:
	close(epfd);
	close(tfd);
	close(sfd);
	return err;
}

int main(int argc, char **argv)
{
	struct ilb_agent *a = calloc(1, sizeof(*a));
	struct ilb_netlink *nl = NULL;
	sigset_t stop_signals;
	int err;

	if (!a)
		return EXIT_FAILURE;
	pthread_mutex_init(&a->lock, NULL);
	if (parse_args(a, argc, argv)) {
		free(a);
		return 2;
	}
	if (ilb_log_level < ILB_LOG_DEBUG) {
		libbpf_set_print(NULL);
		libxdp_set_print(NULL);
	}
	if (a->cleanup) {
		err = cleanup_all(a);
		free(a);
		return err ? EXIT_FAILURE : EXIT_SUCCESS;
	}
	a->start_ns = ilb_now_ns();
	/* before any thread starts: a thread that has them unblocked would die of SIGTERM
	 * instead of letting the loop's signalfd stop the agent cleanly */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	if (ilb_maps_pins_stale(a->pin_dir) || ilb_l7_kern_pins_stale(a->pin_dir)) {
		/* An agent of another version left maps this one cannot load against: the data
		 * path starts afresh (L4 flows find their pod again through Maglev). */
		pr_warn("the data path under %s is another version's: replacing it", a->pin_dir);
		cleanup_all(a);
	}
	err = ilb_maps_open(&a->maps, a->pin_dir);
	if (err)
		goto out;
	pr_info("maps %s under %s", a->maps.adopted ? "adopted" : "created", a->pin_dir);
	if (a->iface[0]) {
		err = ilb_l4_attach(&a->l4, a->pin_dir, a->iface, a->xdp_mode);
		if (err)
			goto out;
		a->l4_attached = true;
	}
	a->store = ilb_store_new();
	nl = ilb_netlink_open();
	a->nl = nl;
	a->scraper = ilb_scraper_start(a->scrape_interval_ms, a->scrape_interval_ms * 4 > 1000 ? 1000 : a->scrape_interval_ms * 4 + 50);
	if (!a->store || !nl || !a->scraper) {
		err = -ENOMEM;
		goto out;
	}
	err = ilb_reconciler_init(&a->rec, &a->maps, nl, a->scraper, (uint64_t)a->stale_after_ms * 1000000);
	if (err)
		goto out;
	a->health = ilb_health_new();
	if (!a->health) {
		err = -ENOMEM;
		goto out;
	}
	a->rec.health = a->health;
	if (a->manifests_dir[0]) {
		a->manifests = ilb_manifests_open(a->manifests_dir, a->store);
		if (!a->manifests) {
			pr_warn("manifests %s: %s", a->manifests_dir, strerror(errno));
			err = -errno ?: -EINVAL;
			goto out;
		}
	}
	if (a->kubeconfig[0] || a->in_cluster) {
		err = start_kube(a);
		if (err)
			goto out;
	}
	if (!a->no_l7 && !a->detach) {
		err = ilb_l7_kern_open(&a->l7_kern, a->pin_dir);
		if (err)
			goto out;
		a->l7_kern_open = true;
		a->l7 = ilb_l7_start(&a->l7_cfg, &a->l7_kern);
		if (!a->l7) {
			err = -errno ?: -EINVAL;
			goto out;
		}
		pr_info("L7 lane: sk_lookup %s, request loop running (policy %s)",
			a->l7_kern.lookup_adopted ? "adopted" : "attached", ilb_policy_name(a->l7_cfg.policy));
	}
	ilb_agent_tick(a);
	if (a->detach) {
		pr_info("data path programmed; exiting and leaving it running");
		goto out;
	}
	a->ctl = ilb_ctl_open(a->socket_path, ilb_agent_handle, a);
	if (!a->ctl) {
		err = -errno;
		goto out;
	}
	if (strcmp(a->metrics_addr, "off")) {
		struct ilb_exporter_ops ops = { .render = render_metrics, .ready = sources_synced, .ctx = a };

		a->exporter = ilb_exporter_start(a->metrics_addr, &ops);
	}
	err = run_loop(a);
	/* before the state it reads goes */
	ilb_exporter_stop(a->exporter);
	a->exporter = NULL;
	ilb_l7_stop(a->l7);
	a->l7 = NULL;
	if (!a->keep && !err) {
		ilb_scraper_stop(a->scraper);
		a->scraper = NULL;
		err = cleanup_all(a);
	}
out:
	if (err)
		pr_warn("exiting: %s", strerror(-err));
	ilb_l7_stop(a->l7);
	ilb_route_put(a->routes);
	if (a->l7_kern_open)
		ilb_l7_kern_close(&a->l7_kern);
	ilb_exporter_stop(a->exporter);
	ilb_ctl_close(a->ctl);
	if (a->scraper)
		ilb_scraper_stop(a->scraper);
	if (a->manifests)
		ilb_manifests_close(a->manifests);
	ilb_kube_stop(a->kube);
	ilb_reconciler_free(&a->rec);
	ilb_health_free(a->health); /* after the L7 lane and its tables */
	ilb_netlink_close(nl);
	if (a->store)
		ilb_store_free(a->store);
	ilb_maps_close(&a->maps);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}
