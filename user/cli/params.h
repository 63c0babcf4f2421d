/* params.h - the CLI's commands over option tables (options.h): one table drives parsing
 * into the command's config struct and the generated --help (required parameters, options),
 * with the global options accepted anywhere. */
#ifndef ILB_CLI_PARAMS_H
#define ILB_CLI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include "options.h"

struct cli_spec {
	const char *name; /* as typed: "backends" */
	const char *summary; /* one line for the command list and the help header */
	const struct ilb_option *options; /* ends with a { 0 } entry; may be NULL */
	int accepts_show_verb; /* "show" / "list" may follow the noun */
};

/* The result of cli_parse beyond 0 (parsed). */
#define CLI_PARSE_HELP 1 /* --help was printed: exit 0 */

/* Parses argv (argv[0] = the command) into cfg, global options included. Returns 0,
 * CLI_PARSE_HELP, or -EINVAL after printing the mistake and "Use --help". */
int cli_parse(const struct cli_spec *spec, void *cfg, int argc, char **argv);
void cli_print_help(const struct cli_spec *spec, FILE *out);
/* Parses the global options before the command. Returns the index of the command in argv
 * (argc when none), or -EINVAL after a usage message. */
int cli_parse_globals(int argc, char **argv, bool *want_help);
/* The global options, for the top-level help. */
void cli_print_global_options(FILE *out);

/* Parses and runs, returning the exit code when parsing ended the command (usage/help) or
 * -1 when the command should go on. */
static inline int cli_parse_or_exit(const struct cli_spec *spec, void *cfg, int argc, char **argv)
{
	int err = cli_parse(spec, cfg, argc, argv);

	if (err == CLI_PARSE_HELP)
		return 0;
	if (err)
		return 2;
	return -1;
}

#endif
