/* main.c - loadgen: an open- or closed-loop load generator for OpenAI-compatible servers.
 * Wires flags, workload, engine and report; the logic lives in those modules. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "flags.h"
#include "report.h"
#include "stats.h"
#include "workload.h"

static volatile int interrupted;

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* Joins /var/run/netns/NAME before any socket exists, so that every connection (and the
 * name lookup) happens inside it. The process is single-threaded, so setns covers it all. */
static int enter_netns(const char *name)
{
	char path[256];
	int fd, err = 0;

	if (strchr(name, '/') || snprintf(path, sizeof(path), "/var/run/netns/%s", name) >= (int)sizeof(path))
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (setns(fd, CLONE_NEWNET))
		err = -errno;
	close(fd);
	return err;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_signal };
	struct lg_config cfg;
	struct workload wl = { 0 };
	struct lg_stats st = { 0 };
	struct engine eng = { .epfd = -1 };
	int err;

	err = flags_parse(&cfg, argc, argv);
	if (err)
		goto out_flags;
	if (cfg.netns) {
		err = enter_netns(cfg.netns);
		if (err) {
			fprintf(stderr, "loadgen: netns %s: %s\n", cfg.netns, strerror(-err));
			goto out_flags;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	err = workload_init(&wl, &cfg);
	if (err) {
		fprintf(stderr, "loadgen: workload: %s\n", strerror(-err));
		goto out_flags;
	}
	err = engine_init(&eng, &cfg, &wl, &st);
	if (err)
		goto out_wl;
	err = engine_run(&eng, &interrupted);
	if (err)
		fprintf(stderr, "loadgen: %s\n", strerror(-err));
	engine_free(&eng);
	if (cfg.dry_run)
		goto out_wl;
	if (!cfg.quiet)
		report_text(stdout, &cfg, &st);
	if (cfg.json_path && report_json(cfg.json_path, &cfg, &st) && !err)
		err = -EIO;
	if (cfg.records_path && report_records(cfg.records_path, &cfg, &st) && !err)
		err = -EIO;
out_wl:
	workload_free(&wl);
	stats_free(&st);
out_flags:
	flags_free(&cfg);
	if (err == 1)
		return EXIT_SUCCESS;
	return err ? EXIT_FAILURE : EXIT_SUCCESS;
}
