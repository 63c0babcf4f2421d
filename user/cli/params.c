/* params.c - parses a command's arguments from its option table (options.h) with
 * getopt_long (global options are accepted anywhere) and prints the help the same table
 * describes. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "inferlb.h"
#include "log.h"
#include "params.h"

#define MAX_OPTIONS 32
#define HELP_WIDTH 24 /* the option column */

/* Global options share the getopt value space with the command's; these sit above any char. */
enum {
	GLOBAL_SOCKET = 0x100,
	GLOBAL_PIN_DIR,
	COMMAND_OPT_BASE = 0x200, /* + index into the command table */
};

static const struct global_option {
	struct option opt;
	const char *metavar;
	const char *help;
} global_options[] = {
	{ { "json", no_argument, NULL, 'j' }, NULL, "JSON output" },
	{ { "pretty", no_argument, NULL, 'p' }, NULL, "pretty-printed JSON output (implies -j)" },
	{ { "socket", required_argument, NULL, GLOBAL_SOCKET }, "PATH",
	  "the agent's control socket (default " CLI_DEFAULT_SOCKET ")" },
	{ { "pin-dir", required_argument, NULL, GLOBAL_PIN_DIR }, "DIR",
	  "where the maps are pinned (default " ILB_PIN_DIR ")" },
	{ { "verbose", no_argument, NULL, 'v' }, NULL, "more log output; repeat for more" },
	{ { "help", no_argument, NULL, 'h' }, NULL, "show this help" },
};

/* Applies a global option; false when opt is not one. */
static bool apply_global(int opt, const char *arg)
{
	switch (opt) {
	case 'j':
		cli.json = true;
		return true;
	case 'p':
		cli.json = true;
		cli.pretty = true;
		return true;
	case GLOBAL_SOCKET:
		cli.socket_path = arg;
		return true;
	case GLOBAL_PIN_DIR:
		cli.pin_dir = arg;
		return true;
	case 'v':
		cli.verbose++;
		ilb_log_level = cli.verbose >= 2 ? ILB_LOG_DEBUG : ILB_LOG_INFO;
		return true;
	}
	return false;
}

static const char *display_name(const struct ilb_option *o, char *buf, size_t len)
{
	if (o->flags & ILB_OPT_POSITIONAL)
		snprintf(buf, len, "%s", o->name);
	else
		snprintf(buf, len, "--%s", o->name);
	return buf;
}

static bool is_verb(const char *arg, bool allow_prefix)
{
	static const char *const verbs[] = { "show", "list" };
	size_t len = strlen(arg);

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (!strcmp(arg, verbs[i]))
			return true;
		if (allow_prefix && len && !strncmp(arg, verbs[i], len))
			return true;
	}
	return false;
}

int cli_parse_globals(int argc, char **argv, bool *want_help)
{
	struct option longopts[sizeof(global_options) / sizeof(global_options[0]) + 1] = { 0 };
	int opt;

	for (size_t i = 0; i < sizeof(global_options) / sizeof(global_options[0]); i++)
		longopts[i] = global_options[i].opt;
	*want_help = false;
	optind = 0;
	/* "+": stop at the command's name; the command parses the rest, global options included */
	while ((opt = getopt_long(argc, argv, "+jpvh", longopts, NULL)) != -1) {
		if (opt == 'h') {
			*want_help = true;
			return optind;
		}
		if (!apply_global(opt, optarg)) {
			cli_usage_hint();
			return -EINVAL;
		}
	}
	return optind;
}

int cli_parse(const struct cli_spec *spec, void *cfg, int argc, char **argv)
{
	struct option longopts[MAX_OPTIONS + 1] = { 0 };
	char shortopts[2 * MAX_OPTIONS + 8] = "jpvh";
	const struct ilb_option *opts = spec->options;
	bool seen[MAX_OPTIONS] = { 0 };
	int n_long = 0, n_positional = 0, opt, i;
	char name[64], why[160];

	for (i = 0; i < (int)(sizeof(global_options) / sizeof(global_options[0])); i++)
		longopts[n_long++] = global_options[i].opt;
	for (i = 0; opts && opts[i].type != ILB_OPT_END && n_long < MAX_OPTIONS; i++) {
		if (opts[i].flags & ILB_OPT_POSITIONAL) {
			n_positional++;
			continue;
		}
		longopts[n_long++] = ilb_option_getopt(&opts[i], COMMAND_OPT_BASE, i);
		ilb_option_shortopt(&opts[i], shortopts, sizeof(shortopts));
	}

	optind = 0; /* GNU getopt: start afresh, argv[0] is the command */
	opterr = 1;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct ilb_option *o = NULL;

		if (opt == 'h') {
			cli_print_help(spec, stdout);
			return CLI_PARSE_HELP;
		}
		if (apply_global(opt, optarg))
			continue;
		if (opt >= COMMAND_OPT_BASE) {
			o = &opts[opt - COMMAND_OPT_BASE];
		} else {
			for (i = 0; opts && opts[i].type != ILB_OPT_END; i++)
				if (opts[i].short_name == opt && !(opts[i].flags & ILB_OPT_POSITIONAL))
					o = &opts[i];
		}
		if (!o) { /* getopt has said what it did not understand */
			cli_usage_hint();
			return -EINVAL;
		}
		if (ilb_option_store(o, cfg, optarg ? optarg : "", why, sizeof(why)))
			return cli_usage_error("invalid value '%s' for --%s", optarg, o->name), -EINVAL;
		seen[o - opts] = true;
	}

	if (spec->accepts_show_verb && optind < argc && is_verb(argv[optind], n_positional == 0))
		optind++;
	for (i = 0; opts && opts[i].type != ILB_OPT_END; i++) {
		if (!(opts[i].flags & ILB_OPT_POSITIONAL))
			continue;
		if (optind >= argc)
			break;
		if (ilb_option_store(&opts[i], cfg, argv[optind], why, sizeof(why)))
			return cli_usage_error("invalid %s '%s'", opts[i].name, argv[optind]), -EINVAL;
		seen[i] = true;
		optind++;
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]), -EINVAL;
	for (i = 0; opts && opts[i].type != ILB_OPT_END; i++)
		if ((opts[i].flags & ILB_OPT_REQUIRED) && !seen[i])
			return cli_usage_error("%s: missing %s", spec->name,
					       display_name(&opts[i], name, sizeof(name))),
			       -EINVAL;
	return 0;
}

void cli_print_global_options(FILE *out)
{
	fprintf(out, "Global options:\n");
	for (size_t i = 0; i < sizeof(global_options) / sizeof(global_options[0]); i++) {
		const struct global_option *g = &global_options[i];
		int val = g->opt.val;

		ilb_option_print(out, HELP_WIDTH, val < 0x100 ? (char)val : 0, g->opt.name, g->metavar, g->help);
	}
}

void cli_print_help(const struct cli_spec *spec, FILE *out)
{
	const struct ilb_option *opts = spec->options;
	bool has_options = false, has_positional = false;
	int i;

	fprintf(out, "Usage: %s %s%s [options]", CLI_NAME, spec->name,
		spec->accepts_show_verb ? " [show|list]" : "");
	for (i = 0; opts && opts[i].type != ILB_OPT_END; i++) {
		if (!(opts[i].flags & ILB_OPT_POSITIONAL)) {
			has_options = true;
			continue;
		}
		has_positional = true;
		if (opts[i].flags & ILB_OPT_REQUIRED)
			fprintf(out, " %s", opts[i].name);
		else
			fprintf(out, " [%s]", opts[i].name);
	}
	fprintf(out, "\n\n  %s\n\n", spec->summary);

	if (has_positional) {
		fprintf(out, "Parameters:\n");
		for (i = 0; opts[i].type != ILB_OPT_END; i++)
			if (opts[i].flags & ILB_OPT_POSITIONAL)
				fprintf(out, "  %-24s %s%s\n", opts[i].name, opts[i].help,
					opts[i].flags & ILB_OPT_REQUIRED ? " (required)" : "");
		fputc('\n', out);
	}
	if (has_options) {
		fprintf(out, "Options:\n");
		for (i = 0; opts[i].type != ILB_OPT_END; i++)
			if (!(opts[i].flags & ILB_OPT_POSITIONAL))
				ilb_option_print(out, HELP_WIDTH, opts[i].short_name, opts[i].name, opts[i].metavar,
						  opts[i].help);
		fputc('\n', out);
	}
	cli_print_global_options(out);
}
