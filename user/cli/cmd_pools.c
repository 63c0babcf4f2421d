/* cmd_pools.c - `inferlb pools` and `inferlb objectives`: what the agent resolved from the
 * InferencePool and InferenceObjective objects it watches. */
#include <string.h>
#include <cjson/cJSON.h>
#include "agent_query.h"
#include "cli.h"
#include "fields.h"
#include "params.h"

struct list_cfg {
	int unused;
};

const struct cli_spec pools_spec = {
	.name = "pools",
	.summary = "List the InferencePools: VIP, failure mode, ready pods, concurrency, where requests go.",
	.accepts_show_verb = 1,
};

const struct cli_spec objectives_spec = {
	.name = "objectives",
	.summary = "List the InferenceObjectives: pool, priority, models and rewrites.",
	.accepts_show_verb = 1,
};

static const struct table_col pool_cols[] = {
	{ "POOL", false }, { "ID", true }, { "VIP", false }, { "FAILURE", false }, { "READY", true },
	{ "CONCURRENCY", true }, { "PENDING", true }, { "DERIVED FROM", false }, { "VIA", false },
};

static void add_pool_row(struct table *t, const cJSON *pool)
{
	table_cell(t, "%s/%s", jstr(pool, "namespace", "?"), jstr(pool, "name", "?"));
	table_cell(t, "%.0f", jnum(pool, "id", 0));
	table_cell(t, "%s", or_dash(jstr(pool, "vip", "")));
	table_cell(t, "%s", jstr(pool, "failure_mode", "?"));
	table_cell(t, "%.0f/%.0f", jnum(pool, "ready", 0), jnum(pool, "total", 0));
	table_cell(t, "%.0f", jnum(pool, "concurrency", 0));
	table_cell(t, "%.0f", jnum(pool, "pending", 0));
	table_cell(t, "%s", or_dash(jstr(pool, "derived_from", "")));
	/* pods, activator (Knative's, the revision scaled to zero), hold, or none */
	table_cell(t, "%s", jstr(pool, "via", "-"));
}

/* Joins an array of strings with sep into buf; "-" when empty. */
static const char *join_strings(const cJSON *arr, const char *sep, char *buf, size_t len)
{
	const cJSON *s;
	size_t used = 0;

	buf[0] = '\0';
	cJSON_ArrayForEach(s, arr) {
		if (!cJSON_IsString(s) || used >= len)
			continue;
		used += snprintf(buf + used, len - used, "%s%s", used ? sep : "", s->valuestring);
	}
	return buf[0] ? buf : "-";
}

static const struct table_col objective_cols[] = {
	{ "OBJECTIVE", false }, { "POOL", false }, { "PRIORITY", true }, { "MODELS", false }, { "REWRITES", false },
};

static void add_objective_row(struct table *t, const cJSON *obj)
{
	char models[1024], rewrites[2048];

	table_cell(t, "%s/%s", jstr(obj, "namespace", "?"), jstr(obj, "name", "?"));
	table_cell(t, "%s", or_dash(jstr(obj, "pool", "")));
	table_cell(t, "%.0f", jnum(obj, "priority", 0));
	table_cell(t, "%s", join_strings(jarray(obj, "models"), ",", models, sizeof(models)));
	table_cell(t, "%s", join_strings(jarray(obj, "rewrites"), "; ", rewrites, sizeof(rewrites)));
}

static int list_command(const struct cli_spec *spec, int argc, char **argv, const char *key,
			const struct table_col *cols, int n_cols, row_plain_fn add_row,
			const char *empty_text)
{
	struct list_cfg cfg = { 0 };
	cJSON *resp = NULL;
	int rc = cli_parse_or_exit(spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	if (agent_query(key, NULL, NULL, &resp))
		return CLI_EXIT_ERROR;
	rc = print_list(resp, key, cols, n_cols, add_row, empty_text);
	cJSON_Delete(resp);
	return rc ? CLI_EXIT_ERROR : CLI_EXIT_OK;
}

int do_pools(int argc, char **argv)
{
	return list_command(&pools_spec, argc, argv, "pools", pool_cols,
			    sizeof(pool_cols) / sizeof(pool_cols[0]), add_pool_row, "No pools.");
}

int do_objectives(int argc, char **argv)
{
	return list_command(&objectives_spec, argc, argv, "objectives", objective_cols,
			    sizeof(objective_cols) / sizeof(objective_cols[0]), add_objective_row,
			    "No objectives.");
}
