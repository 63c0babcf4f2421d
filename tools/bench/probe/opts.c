/* opts.c - the subcommands' options from one table each: parsed with getopt_long, checked
 * for the required ones, and the usage line written from the same table. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "probe.h"

#define OPT_VAL0 256

static void usage(const char *cmd, const struct probe_opt *opts, size_t n)
{
	int col = fprintf(stderr, "usage: row7-probe %s", cmd);

	for (size_t i = 0; i < n; i++) {
		char word[128];
		int len = snprintf(word, sizeof(word), " %s--%s%s%s%s", opts[i].required ? "" : "[", opts[i].name,
				   opts[i].value ? " " : "", opts[i].value ?: "", opts[i].required ? "" : "]");

		if (col + len > 96)
			col = fprintf(stderr, "\n        ") - 1;
		col += fprintf(stderr, "%s", word);
	}
	fprintf(stderr, "\n");
}

/* Stores one option's value; exits on a number that is not one. */
static void store(const struct probe_opt *opt, const char *arg)
{
	char *end;
	double v;

	switch (opt->kind) {
	case OPT_STR:
		*(const char **)opt->dest = arg;
		return;
	case OPT_OFF:
		*(bool *)opt->dest = false;
		return;
	case OPT_INT:
	case OPT_NUM:
		errno = 0;
		v = strtod(arg, &end);
		if (errno || end == arg || *end) {
			fprintf(stderr, "row7-probe: --%s wants a number, not '%s'\n", opt->name, arg);
			exit(2);
		}
		if (opt->kind == OPT_INT)
			*(int *)opt->dest = (int)v;
		else
			*(double *)opt->dest = v;
		return;
	}
}

int parse_opts(const char *cmd, int argc, char **argv, const struct probe_opt *opts, size_t n)
{
	struct option *long_opts = calloc(n + 1, sizeof(*long_opts));
	bool *seen = calloc(n, sizeof(*seen));
	int c, err = 0;

	if (!long_opts || !seen) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		long_opts[i] = (struct option){ opts[i].name, opts[i].kind == OPT_OFF ? no_argument : required_argument,
						NULL, OPT_VAL0 + (int)i };
	/* each option comes back as OPT_VAL0 + its index, clear of getopt's '?' */
	while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
		if (c < OPT_VAL0 || (size_t)(c - OPT_VAL0) >= n) {
			err = -EINVAL;
			goto out;
		}
		store(&opts[c - OPT_VAL0], optarg);
		seen[c - OPT_VAL0] = true;
	}
	for (size_t i = 0; i < n; i++)
		if (opts[i].required && !seen[i])
			err = -EINVAL;
out:
	if (err == -EINVAL)
		usage(cmd, opts, n);
	free(seen);
	free(long_opts);
	return err;
}
