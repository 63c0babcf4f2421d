/* params.h - per-command option tables: one table drives parsing into the command's config
 * struct and the generated --help (required parameters, options, defaults). */
#ifndef ILB_CLI_PARAMS_H
#define ILB_CLI_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum cli_opt_type {
	CLI_OPT_END = 0,
	CLI_OPT_BOOL,
	CLI_OPT_UINT, /* unsigned int */
	CLI_OPT_STRING, /* const char * */
};

#define CLI_OPT_POSITIONAL (1u << 0) /* taken from the arguments in table order */
#define CLI_OPT_REQUIRED (1u << 1)

struct cli_option {
	enum cli_opt_type type;
	const char *name; /* long option, or the placeholder of a positional ("POD") */
	char short_name;
	unsigned flags;
	size_t offset; /* into the command's config struct */
	const char *metavar; /* shown after an option that takes a value */
	const char *help;
};

#define CLI_OPT(cfg_type, field, ...) { .offset = offsetof(cfg_type, field), __VA_ARGS__ }

struct cli_spec {
	const char *name; /* as typed: "backends" */
	const char *summary; /* one line for the command list and the help header */
	const struct cli_option *options; /* ends with a { 0 } entry; may be NULL */
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
