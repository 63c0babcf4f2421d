/* cli.h - what every command of the inferlb CLI shares: the global options, the error and
 * JSON output conventions, exit codes, and the noun table types. */
#ifndef ILB_CLI_H
#define ILB_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include "json_writer.h"

#define CLI_NAME "inferlb"
#define CLI_DEFAULT_SOCKET "/run/inferlb/agent.sock"

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_ERROR = 1,
	CLI_EXIT_USAGE = 2,
};

struct cli_globals {
	bool json;
	bool pretty;
	const char *socket_path;
	const char *pin_dir;
	int verbose;
};

extern struct cli_globals cli;

struct cli_spec;

/* One noun of the command line. */
struct cli_cmd {
	const char *name;
	int (*func)(int argc, char **argv); /* argv[0] is the command's own name */
	const struct cli_spec *spec; /* its options and summary, for the help */
};

/* Runs the command whose name argv[0] is, or unambiguously begins. */
int cli_cmd_select(const struct cli_cmd *cmds, int argc, char **argv);

/* Reports a failure once: {"error":"..."} on stdout in JSON mode, "Error: ..." on stderr
 * otherwise. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A command-line mistake: one line on what, then "Use --help". Returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Only "Use --help", after getopt has printed the mistake itself. */
void cli_usage_hint(void);

/* A writer on stdout honouring -p; NULL (after an error message) when out of memory. */
struct json_writer *cli_json_open(void);

/* The commands and their option tables. */
extern const struct cli_spec status_spec, pools_spec, backends_spec, objectives_spec, drain_spec,
	undrain_spec, flows_spec, stats_spec, top_spec;
int do_status(int argc, char **argv);
int do_pools(int argc, char **argv);
int do_backends(int argc, char **argv);
int do_objectives(int argc, char **argv);
int do_drain(int argc, char **argv);
int do_undrain(int argc, char **argv);
int do_flows(int argc, char **argv);
int do_stats(int argc, char **argv);
int do_top(int argc, char **argv);

#endif
