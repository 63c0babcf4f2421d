/* options.h - option tables: one table per program or command drives both the getopt_long
 * parsing into its config struct and its generated --help (the CLI's commands, the agent). */
#ifndef ILB_OPTIONS_H
#define ILB_OPTIONS_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

enum ilb_opt_type {
	ILB_OPT_END = 0,
	ILB_OPT_BOOL, /* bool, set by the flag */
	ILB_OPT_UINT, /* unsigned int */
	ILB_OPT_STRING, /* const char *, pointing into argv */
	ILB_OPT_TEXT, /* char[size], a copy */
	ILB_OPT_FUNC, /* parse() stores it; takes a value when metavar is set */
};

#define ILB_OPT_POSITIONAL (1u << 0) /* taken from the arguments in table order */
#define ILB_OPT_REQUIRED (1u << 1)

struct ilb_option {
	enum ilb_opt_type type;
	const char *name; /* long option, or the placeholder of a positional ("POD") */
	char short_name;
	unsigned flags;
	size_t offset; /* into the config struct */
	size_t size; /* ILB_OPT_TEXT: of the array */
	/* ILB_OPT_FUNC: stores arg (NULL without a value) into field; 0, or -EINVAL with why
	 * the value is refused in why ("expected ..."). */
	int (*parse)(const char *arg, void *field, char *why, size_t why_len);
	const char *metavar; /* shown after an option that takes a value */
	const char *help; /* a '\n' goes on under the first line */
};

#define ILB_OPT(cfg_type, field, ...) { .offset = offsetof(cfg_type, field), __VA_ARGS__ }

/* The result of ilb_options_parse beyond 0 (parsed). */
#define ILB_OPTIONS_HELP 1 /* -h or --help was given: print the help, exit 0 */

bool ilb_option_takes_value(const struct ilb_option *o);
/* Stores arg into cfg as o says. Returns 0 or -EINVAL, with why for ILB_OPT_FUNC. */
int ilb_option_store(const struct ilb_option *o, void *cfg, const char *arg, char *why, size_t why_len);
/* getopt_long's entry for table entry i: its value is val_base + i. */
struct option ilb_option_getopt(const struct ilb_option *o, int val_base, int i);
/* Appends o's short letter (and ':' when it takes a value) to shortopts. */
void ilb_option_shortopt(const struct ilb_option *o, char *shortopts, size_t len);
/* One help line: "-x, --name METAVAR" or "    --name METAVAR", padded to width, then the help. */
void ilb_option_print(FILE *out, int width, char short_name, const char *name, const char *metavar,
		      const char *help);

/* A program whose arguments are options only (plus -h, --help): parses argv into cfg.
 * Returns 0, ILB_OPTIONS_HELP, or -EINVAL after printing the mistake and "Use --help". */
int ilb_options_parse(const struct ilb_option *opts, void *cfg, int argc, char **argv);
/* The table's options, one help line each, and -h, --help. */
void ilb_options_print(const struct ilb_option *opts, int width, FILE *out);

#endif
