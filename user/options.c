/* options.c - option tables into getopt_long and back out as help: storing a value by its
 * type, the getopt entries of a table, the help lines. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "options.h"

#define MAX_OPTIONS 64
#define OPT_VAL_BASE 0x100 /* getopt values above any short letter */

bool ilb_option_takes_value(const struct ilb_option *o)
{
	return o->type == ILB_OPT_FUNC ? o->metavar != NULL : o->type != ILB_OPT_BOOL;
}

int ilb_option_store(const struct ilb_option *o, void *cfg, const char *arg, char *why, size_t why_len)
{
	void *field = (char *)cfg + o->offset;
	unsigned long v;
	char *end;

	if (why_len)
		why[0] = '\0';
	switch (o->type) {
	case ILB_OPT_BOOL:
		*(bool *)field = true;
		return 0;
	case ILB_OPT_STRING:
		*(const char **)field = arg;
		return 0;
	case ILB_OPT_TEXT:
		snprintf(field, o->size, "%s", arg);
		return 0;
	case ILB_OPT_UINT:
		errno = 0;
		v = strtoul(arg, &end, 0);
		if (errno || end == arg || *end || arg[0] == '-' || v > UINT_MAX)
			return -EINVAL;
		*(unsigned int *)field = v;
		return 0;
	case ILB_OPT_FUNC:
		return o->parse(arg, field, why, why_len);
	case ILB_OPT_END:
		break;
	}
	return -EINVAL;
}

struct option ilb_option_getopt(const struct ilb_option *o, int val_base, int i)
{
	return (struct option){ o->name, ilb_option_takes_value(o) ? required_argument : no_argument, NULL,
				val_base + i };
}

void ilb_option_shortopt(const struct ilb_option *o, char *shortopts, size_t len)
{
	size_t l = strlen(shortopts);

	if (!o->short_name || l + 3 > len)
		return;
	shortopts[l++] = o->short_name;
	if (ilb_option_takes_value(o))
		shortopts[l++] = ':';
	shortopts[l] = '\0';
}

void ilb_option_print(FILE *out, int width, char short_name, const char *name, const char *metavar,
		      const char *help)
{
	char left[80];
	int n;

	if (short_name)
		n = snprintf(left, sizeof(left), "-%c, --%s", short_name, name);
	else
		n = snprintf(left, sizeof(left), "    --%s", name);
	if (metavar && n > 0 && n < (int)sizeof(left))
		snprintf(left + n, sizeof(left) - n, " %s", metavar);
	fprintf(out, "  %-*s ", width, left);
	for (const char *nl; (nl = strchr(help, '\n')); help = nl + 1)
		fprintf(out, "%.*s\n  %-*s ", (int)(nl - help), help, width, "");
	fprintf(out, "%s\n", help);
}

int ilb_options_parse(const struct ilb_option *opts, void *cfg, int argc, char **argv)
{
	struct option longopts[MAX_OPTIONS + 2] = { 0 };
	char shortopts[2 * MAX_OPTIONS + 4] = "h", why[160];
	int n = 0, opt;

	for (; opts[n].type != ILB_OPT_END && n < MAX_OPTIONS; n++) {
		longopts[n] = ilb_option_getopt(&opts[n], OPT_VAL_BASE, n);
		ilb_option_shortopt(&opts[n], shortopts, sizeof(shortopts));
	}
	longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
	optind = 0;
	opterr = 1;
	while ((opt = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		const struct ilb_option *o = NULL;

		if (opt == 'h')
			return ILB_OPTIONS_HELP;
		if (opt >= OPT_VAL_BASE)
			o = &opts[opt - OPT_VAL_BASE];
		for (int i = 0; !o && i < n; i++)
			if (opts[i].short_name && opts[i].short_name == opt)
				o = &opts[i];
		if (!o) { /* getopt has said what it did not understand */
			fprintf(stderr, "Use --help\n");
			return -EINVAL;
		}
		if (ilb_option_store(o, cfg, optarg, why, sizeof(why))) {
			fprintf(stderr, "Error: --%s: %s\nUse --help\n", o->name,
				why[0] ? why : "invalid value");
			return -EINVAL;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "Error: unexpected argument \"%s\"\nUse --help\n", argv[optind]);
		return -EINVAL;
	}
	return 0;
}

void ilb_options_print(const struct ilb_option *opts, int width, FILE *out)
{
	for (int i = 0; opts[i].type != ILB_OPT_END; i++)
		ilb_option_print(out, width, opts[i].short_name, opts[i].name, opts[i].metavar, opts[i].help);
	ilb_option_print(out, width, 'h', "help", NULL, "show this help");
}
