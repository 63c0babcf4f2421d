/* main.c - fake-apiserver: a stand-in for kube-apiserver that speaks its list/watch
 * protocol over HTTPS, for testing clients without a cluster. Flags, startup, the timer
 * loop and shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "api.h"
#include "http.h"
#include "resource.h"
#include "store.h"
#include "util.h"
#include "watch.h"

enum {
	O_BIND = 1000, O_PORT, O_ADMIN_PORT, O_CERT, O_KEY, O_TOKEN_FILE, O_TOKEN, O_DENY, O_ANON,
	O_LOAD, O_WATCH_TIMEOUT, O_BOOKMARK, O_HISTORY, O_START_RV, O_VERSION, O_VERBOSE = 'v',
	O_HELP = 'h',
};

struct flag {
	const char *name;
	int has_arg;
	int key;
	const char *arg;
	const char *help;
};

static const struct flag flags[] = {
	{ "bind", 1, O_BIND, "ADDR", "IPv4 address to serve the API on (default 127.0.0.1)" },
	{ "port", 1, O_PORT, "PORT", "HTTPS port of the API (default 6443)" },
	{ "secure-port", 1, O_PORT, "PORT", "same as --port, kube-apiserver's name" },
	{ "admin-port", 1, O_ADMIN_PORT, "PORT", "plain-HTTP admin endpoint on 127.0.0.1 (default 6444, 0: off)" },
	{ "tls-cert-file", 1, O_CERT, "FILE", "server certificate, PEM (without it: plain HTTP)" },
	{ "tls-private-key-file", 1, O_KEY, "FILE", "server private key, PEM" },
	{ "token-auth-file", 1, O_TOKEN_FILE, "FILE", "bearer tokens, CSV: token,user,uid[,\"group1,group2\"]" },
	{ "token", 1, O_TOKEN, "TOKEN", "accept TOKEN as user \"admin\" (repeatable)" },
	{ "deny-user", 1, O_DENY, "USER", "USER may use discovery but gets 403 on resources (repeatable)" },
	{ "anonymous-auth", 0, O_ANON, NULL, "requests without a token act as system:anonymous (default: 401)" },
	{ "load", 1, O_LOAD, "PATH", "objects to start with: a YAML/JSON file or a directory of them (repeatable)" },
	{ "watch-timeout", 1, O_WATCH_TIMEOUT, "DUR", "watches without timeoutSeconds end after a random time in [DUR, 2*DUR) (default 30m)" },
	{ "bookmark-interval", 1, O_BOOKMARK, "DUR", "period of BOOKMARK events on watches that allow them (default 1m)" },
	{ "history", 1, O_HISTORY, "N", "events kept for watches to resume from; older versions get 410 (default 10000)" },
	{ "start-rv", 1, O_START_RV, "N", "resourceVersion before the first object (default 1000)" },
	{ "version-string", 1, O_VERSION, "V", "gitVersion reported by /version (default v1.32.4)" },
	{ "verbose", 0, O_VERBOSE, NULL, "log every request to stderr" },
	{ "help", 0, O_HELP, NULL, "show this help" },
};
#define N_FLAGS (sizeof(flags) / sizeof(flags[0]))

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: fake-apiserver [OPTION]...\n"
		   "Serves Kubernetes list/watch over HTTPS from objects loaded from YAML and changed\n"
		   "through the admin endpoint. DUR is seconds or a number with ms, s, m or h.\n\n");
	for (size_t i = 0; i < N_FLAGS; i++) {
		char left[64];

		snprintf(left, sizeof(left), "%s%c%s--%s%s%s", flags[i].key < 256 ? "-" : "  ",
			 flags[i].key < 256 ? flags[i].key : ' ', flags[i].key < 256 ? ", " : "  ",
			 flags[i].name, flags[i].arg ? " " : "", flags[i].arg ? flags[i].arg : "");
		fprintf(f, "  %-34s %s\n", left, flags[i].help);
	}
	fprintf(f, "\nAdmin endpoint (http://127.0.0.1:ADMIN_PORT):\n"
		   "  POST /admin/apply                 body: YAML or JSON objects (or a List); create or replace\n"
		   "  POST /admin/delete?kind=K&namespace=NS&name=N[&apiVersion=V]  (or the objects as a body)\n"
		   "  POST /admin/compact[?resourceVersion=N]  forget history: older versions get 410\n"
		   "  POST /admin/drop-watches[?clean=1]  close every watch stream (abruptly, or cleanly)\n"
		   "  POST /admin/bookmark              send a BOOKMARK on every watch that allows them\n"
		   "  POST /admin/stall?seconds=DUR     hold new requests and watch events (0: stop)\n"
		   "  GET  /admin/stats                 counters, resourceVersion, objects per resource\n");
}

static int add_user(struct api_opts *o, const char *token, const char *name)
{
	struct api_user *u = realloc(o->users, sizeof(*u) * (size_t)(o->n_users + 1));

	if (!u)
		return -ENOMEM;
	o->users = u;
	u = &o->users[o->n_users];
	u->token = strdup(token);
	u->name = strdup(name);
	u->denied = false;
	if (!u->token || !u->name)
		return -ENOMEM;
	o->n_users++;
	return 0;
}

/* kube-apiserver's --token-auth-file: token,user,uid[,"groups"]; only token and user matter. */
static int load_tokens(struct api_opts *o, const char *path)
{
	char *text, *line, *save = NULL;
	size_t len;
	int ret = read_file(path, &text, &len);

	if (ret < 0)
		return ret;
	for (line = strtok_r(text, "\r\n", &save); line; line = strtok_r(NULL, "\r\n", &save)) {
		char *tok = line, *user, *end;

		while (*tok == ' ')
			tok++;
		if (!*tok || *tok == '#')
			continue;
		user = strchr(tok, ',');
		if (!user) {
			ret = -EINVAL;
			break;
		}
		*user++ = '\0';
		end = strchr(user, ',');
		if (end)
			*end = '\0';
		ret = add_user(o, tok, user);
		if (ret < 0)
			break;
	}
	free(text);
	return ret < 0 ? ret : 0;
}

static void free_opts(struct api_opts *o)
{
	for (int i = 0; i < o->n_users; i++) {
		free(o->users[i].token);
		free(o->users[i].name);
	}
	free(o->users);
	free(o->cert);
	free(o->key);
}

static int parse_port(const char *s, int *out)
{
	uint64_t v;

	if (parse_u64(s, &v) || v > 65535)
		return -EINVAL;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct option longopts[N_FLAGS + 1];
	struct api_opts o = { .bind = "127.0.0.1", .port = 6443, .version = "v1.32.4" };
	const char *cert_file = NULL, *key_file = NULL, **loads = NULL, **deny = NULL;
	double watch_timeout = 1800, bookmark = 60;
	uint64_t history = 10000, start_rv = 1000;
	int admin_port = 6444, n_loads = 0, n_deny = 0, c, ret = 1;
	struct MHD_Daemon *api = NULL, *admin = NULL;
	struct sigaction sa = { .sa_handler = on_signal };

	memset(longopts, 0, sizeof(longopts));
	for (size_t i = 0; i < N_FLAGS; i++)
		longopts[i] = (struct option){ flags[i].name, flags[i].has_arg, NULL, flags[i].key };
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case O_BIND: o.bind = optarg; break;
		case O_PORT:
			if (parse_port(optarg, &o.port))
				goto bad;
			break;
		case O_ADMIN_PORT:
			if (parse_port(optarg, &admin_port))
				goto bad;
			break;
		case O_CERT: cert_file = optarg; break;
		case O_KEY: key_file = optarg; break;
		case O_TOKEN_FILE:
			if (load_tokens(&o, optarg) < 0) {
				fprintf(stderr, "fake-apiserver: cannot read tokens from %s\n", optarg);
				return 1;
			}
			break;
		case O_TOKEN:
			if (add_user(&o, optarg, "admin") < 0)
				return 1;
			break;
		case O_DENY:
		case O_LOAD: {
			const char ***v = c == O_DENY ? &deny : &loads;
			int *n = c == O_DENY ? &n_deny : &n_loads;
			const char **nv = realloc(*v, sizeof(*nv) * (size_t)(*n + 1));

			if (!nv)
				return 1;
			nv[(*n)++] = optarg;
			*v = nv;
			break;
		}
		case O_ANON: o.anonymous = true; break;
		case O_WATCH_TIMEOUT:
			if (parse_duration(optarg, &watch_timeout) || watch_timeout <= 0)
				goto bad;
			break;
		case O_BOOKMARK:
			if (parse_duration(optarg, &bookmark) || bookmark <= 0)
				goto bad;
			break;
		case O_HISTORY:
			if (parse_u64(optarg, &history) || !history)
				goto bad;
			break;
		case O_START_RV:
			if (parse_u64(optarg, &start_rv))
				goto bad;
			break;
		case O_VERSION: o.version = optarg; break;
		case O_VERBOSE: http_verbose = true; break;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fake-apiserver: unexpected argument %s\n", argv[optind]);
		return 2;
	}
	if (!!cert_file != !!key_file) {
		fprintf(stderr, "fake-apiserver: --tls-cert-file and --tls-private-key-file go together\n");
		return 2;
	}
	if (cert_file) {
		size_t len;

		if (read_file(cert_file, &o.cert, &len) < 0 || read_file(key_file, &o.key, &len) < 0) {
			fprintf(stderr, "fake-apiserver: cannot read the certificate or key\n");
			return 1;
		}
	}
	for (int i = 0; i < n_deny; i++)
		for (int j = 0; j < o.n_users; j++)
			if (!strcmp(o.users[j].name, deny[i]))
				o.users[j].denied = true;
	if (!o.n_users && !o.anonymous)
		fprintf(stderr, "fake-apiserver: no tokens: every request will get 401\n");

	srand48((long)time(NULL) ^ (long)getpid());
	res_init();
	if (store_init(start_rv, history) < 0)
		return 1;
	watch_config(watch_timeout, bookmark);
	for (int i = 0; i < n_loads; i++)
		if (admin_load_path(loads[i]) < 0)
			return 1;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	api = api_start(&o);
	if (!api) {
		fprintf(stderr, "fake-apiserver: cannot serve on %s:%d\n", o.bind, o.port);
		goto out;
	}
	if (admin_port) {
		admin = admin_start(admin_port);
		if (!admin) {
			fprintf(stderr, "fake-apiserver: cannot serve admin on 127.0.0.1:%d\n", admin_port);
			goto out;
		}
	}
	store_lock();
	fprintf(stderr, "fake-apiserver: serving %s://%s:%d (resourceVersion %llu)%s\n", o.cert ? "https" : "http",
		o.bind, o.port, (unsigned long long)store_rv(), admin ? ", admin on 127.0.0.1" : "");
	store_unlock();

	while (!stop) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };
		double now;

		nanosleep(&ts, NULL);
		now = now_mono();
		store_lock();
		api_tick(now);
		watch_tick(now);
		store_unlock();
	}
	ret = 0;
out:
	/* MHD must not be stopped with suspended connections: end the streams, free the held. */
	store_lock();
	stall_until = 0;
	watch_close_all(true);
	api_release_all();
	store_unlock();
	if (admin)
		MHD_stop_daemon(admin);
	if (api) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		nanosleep(&ts, NULL);
		MHD_stop_daemon(api);
	}
	free_opts(&o);
	free(loads);
	free(deny);
	return ret;
bad:
	fprintf(stderr, "fake-apiserver: bad value: %s (see --help)\n", optarg);
	return 2;
}
