/* cmd_backends.c - `inferlb backends [POOL]`, `inferlb drain POD`, `inferlb undrain POD`:
 * the pods behind each pool with their live load, and taking one out of rotation. */
#include <string.h>
#include <cjson/cJSON.h>
#include "agent_query.h"
#include "cli.h"
#include "fields.h"
#include "params.h"

struct backends_cfg {
	const char *pool;
};

static const struct ilb_option backends_options[] = {
	ILB_OPT(struct backends_cfg, pool, .type = ILB_OPT_STRING, .name = "POOL",
		.flags = ILB_OPT_POSITIONAL, .help = "only this pool: \"namespace/name\" or \"name\""),
	{ 0 },
};

const struct cli_spec backends_spec = {
	.name = "backends",
	.summary = "List the pods behind each pool: state, queue, running, KV cache, score, scrape age.",
	.options = backends_options,
	.accepts_show_verb = 1,
};

struct drain_cfg {
	const char *pod;
};

static const struct ilb_option drain_options[] = {
	ILB_OPT(struct drain_cfg, pod, .type = ILB_OPT_STRING, .name = "POD",
		.flags = ILB_OPT_POSITIONAL | ILB_OPT_REQUIRED, .help = "the pod, \"namespace/name\""),
	{ 0 },
};

const struct cli_spec drain_spec = {
	.name = "drain",
	.summary = "Stop sending new connections and requests to POD; its open ones finish.",
	.options = drain_options,
};

const struct cli_spec undrain_spec = {
	.name = "undrain",
	.summary = "Let POD take new connections and requests again.",
	.options = drain_options,
};

static const struct table_col backend_cols[] = {
	{ "POOL", false }, { "POD", false }, { "IP:PORT", false }, { "STATE", false }, { "QUEUE", true }, { "RUN", true },
	{ "KV%", true }, { "SCORE", true }, { "AGE", true }, { "INFL", true }, { "CONNS", true },
};

static void add_backend_row(struct table *t, const cJSON *b)
{
	const char *ip = jstr(b, "ip", "?");
	char age[32];

	table_cell(t, "%s", jstr(b, "pool", "?"));
	table_cell(t, "%s", jstr(b, "pod", "?"));
	if (strchr(ip, ':'))
		table_cell(t, "[%s]:%.0f", ip, jnum(b, "port", 0));
	else
		table_cell(t, "%s:%.0f", ip, jnum(b, "port", 0));
	table_cell(t, "%s", jstr(b, "state", "?"));
	table_cell(t, "%.0f", jnum(b, "queue", 0));
	table_cell(t, "%.0f", jnum(b, "running", 0));
	table_cell(t, "%.1f", jnum(b, "kv", 0) * 100);
	table_cell(t, "%.0f", jnum(b, "score", 0));
	table_cell(t, "%s", fmt_age_ms(jnum(b, "metrics_age_ms", -1), age, sizeof(age)));
	table_cell(t, "%.0f", jnum(b, "in_flight", 0));
	table_cell(t, "%.0f", jnum(b, "active_conns", 0));
}

int do_backends(int argc, char **argv)
{
	struct backends_cfg cfg = { 0 };
	cJSON *resp = NULL;
	int rc = cli_parse_or_exit(&backends_spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	if (agent_query("backends", cfg.pool ? "pool" : NULL, cfg.pool, &resp))
		return CLI_EXIT_ERROR;
	rc = print_list(resp, "backends", backend_cols, sizeof(backend_cols) / sizeof(backend_cols[0]),
			add_backend_row, "No backends.");
	cJSON_Delete(resp);
	return rc ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

/* A pod name is namespace/name: both parts present, one slash. */
static bool valid_pod_name(const char *pod)
{
	const char *slash = strchr(pod, '/');

	return slash && slash != pod && slash[1] && !strchr(slash + 1, '/');
}

static int set_draining(const struct cli_spec *spec, const char *cmd, bool draining, int argc,
			char **argv)
{
	struct drain_cfg cfg = { 0 };
	struct json_writer *w;
	cJSON *resp = NULL;
	int rc = cli_parse_or_exit(spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	if (!valid_pod_name(cfg.pod))
		return cli_usage_error("%s: POD must be \"namespace/name\", not '%s'", cmd, cfg.pod);
	if (agent_query(cmd, "pod", cfg.pod, &resp))
		return CLI_EXIT_ERROR;
	cJSON_Delete(resp);

	if (cli.json) {
		w = cli_json_open();
		if (!w)
			return CLI_EXIT_ERROR;
		jw_start_object(w);
		jw_string_field(w, "pod", cfg.pod);
		jw_bool_field(w, "draining", draining);
		jw_end_object(w);
		jw_destroy(&w);
	} else if (draining) {
		printf("%s: draining; open connections and requests finish, no new ones arrive\n", cfg.pod);
	} else {
		printf("%s: no longer draining; it takes new connections and requests when ready\n",
		       cfg.pod);
	}
	return CLI_EXIT_OK;
}

int do_drain(int argc, char **argv)
{
	return set_draining(&drain_spec, "drain", true, argc, argv);
}

int do_undrain(int argc, char **argv)
{
	return set_draining(&undrain_spec, "undrain", false, argc, argv);
}
