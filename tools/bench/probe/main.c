/* main.c - row7-probe, the measuring side of bench row 7 (tools/bench/row7*.sh): one
 * subcommand per measurement, each printing JSON lines the scripts read.
 *
 *   ready  a pod flipped NotReady -> Ready: when the change is noticed, when the kernel holds
 *          it, when the L4 and L7 lanes answer through it (ready.c)
 *   conns  N kept-alive connections and the memory of the process that holds them (conns.c)
 *   sync   a fresh agent's initial sync: the control socket, the sources, the kernel's sets,
 *          its memory and CPU after (sync.c) */
#include <stdio.h>
#include <string.h>
#include "probe.h"

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
} commands[] = {
	{ "ready", cmd_ready },
	{ "conns", cmd_conns },
	{ "sync", cmd_sync },
};

int main(int argc, char **argv)
{
	if (argc >= 2)
		for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
			if (!strcmp(argv[1], commands[i].name))
				return commands[i].run(argc - 1, argv + 1);
	fprintf(stderr, "usage: row7-probe ready|conns|sync [OPTIONS] (each command's options: row7-probe CMD --help)\n");
	return 2;
}
