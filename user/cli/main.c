/* main.c - the inferlb operator CLI: global options, the noun table and the error
 * conventions every command follows. Commands live in cmd_*.c and top*.c. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "inferlb.h"
#include "log.h"
#include "params.h"

struct cli_globals cli = {
	.socket_path = CLI_DEFAULT_SOCKET,
	.pin_dir = ILB_PIN_DIR,
};

static int do_help(int argc, char **argv);

static const struct cli_spec help_spec = {
	.name = "help",
	.summary = "Show the commands, or the help of one command.",
};

static const struct cli_cmd commands[] = {
	{ "status", do_status, &status_spec },
	{ "pools", do_pools, &pools_spec },
	{ "backends", do_backends, &backends_spec },
	{ "objectives", do_objectives, &objectives_spec },
	{ "flows", do_flows, &flows_spec },
	{ "stats", do_stats, &stats_spec },
	{ "drain", do_drain, &drain_spec },
	{ "undrain", do_undrain, &undrain_spec },
	{ "top", do_top, &top_spec },
	{ "help", do_help, &help_spec },
	{ 0 },
};

void cli_error(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (cli.json) {
		struct json_writer *w = jw_new(stdout, cli.pretty);

		if (w) {
			jw_start_object(w);
			jw_string_field(w, "error", msg);
			jw_end_object(w);
			jw_destroy(&w);
			return;
		}
	}
	fprintf(stderr, "Error: %s\n", msg);
}

void cli_usage_hint(void)
{
	fprintf(stderr, "Use --help\n");
}

int cli_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", CLI_NAME);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cli_usage_hint();
	return CLI_EXIT_USAGE;
}

struct json_writer *cli_json_open(void)
{
	struct json_writer *w = jw_new(stdout, cli.pretty);

	if (!w)
		fprintf(stderr, "Error: %s\n", strerror(ENOMEM));
	return w;
}

int cli_cmd_select(const struct cli_cmd *cmds, int argc, char **argv)
{
	const struct cli_cmd *match = NULL;
	size_t len = strlen(argv[0]);
	int n_matches = 0;

	for (const struct cli_cmd *c = cmds; c->name; c++)
		if (!strcmp(c->name, argv[0]))
			return c->func(argc, argv);
	for (const struct cli_cmd *c = cmds; c->name; c++) {
		if (len && !strncmp(c->name, argv[0], len)) {
			match = c;
			n_matches++;
		}
	}
	if (n_matches == 1)
		return match->func(argc, argv);
	if (n_matches > 1) {
		char names[256] = "";

		for (const struct cli_cmd *c = cmds; c->name; c++)
			if (!strncmp(c->name, argv[0], len))
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
					 names[0] ? ", " : "", c->name);
		return cli_usage_error("ambiguous command '%s': %s", argv[0], names);
	}
	return cli_usage_error("unknown command '%s'", argv[0]);
}

static void print_usage(FILE *out)
{
	fprintf(out, "Usage: %s [global options] COMMAND [options] [ARGS]\n\n", CLI_NAME);
	fprintf(out, "  Inspect and steer the inferlb load balancer on this node.\n\n");
	fprintf(out, "Commands (any unambiguous prefix works; 'show' / 'list' may follow a noun):\n");
	for (const struct cli_cmd *c = commands; c->name; c++)
		fprintf(out, "  %-12s %s\n", c->name, c->spec->summary);
	fputc('\n', out);
	cli_print_global_options(out);
	fprintf(out, "\n'%s COMMAND --help' shows the options of one command.\n", CLI_NAME);
	fprintf(out, "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

static int do_help(int argc, char **argv)
{
	if (argc < 2) {
		print_usage(stdout);
		return CLI_EXIT_OK;
	}
	for (const struct cli_cmd *c = commands; c->name; c++) {
		if (!strncmp(c->name, argv[1], strlen(argv[1]))) {
			cli_print_help(c->spec, stdout);
			return CLI_EXIT_OK;
		}
	}
	return cli_usage_error("unknown command '%s'", argv[1]);
}

int main(int argc, char **argv)
{
	bool want_help;
	int first;

	ilb_log_level = ILB_LOG_WARN;
	first = cli_parse_globals(argc, argv, &want_help);
	if (first < 0)
		return CLI_EXIT_USAGE;
	if (want_help) {
		print_usage(stdout);
		return CLI_EXIT_OK;
	}
	if (first >= argc) {
		print_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	return cli_cmd_select(commands, argc - first, argv + first);
}
