/* cmd_status.c - `inferlb status`: the agent's version and uptime, its sources, both lanes
 * and the last error, in one screen an operator reads first. */
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "agent_query.h"
#include "cli.h"
#include "fields.h"
#include "params.h"

struct status_cfg {
	int unused;
};

const struct cli_spec status_spec = {
	.name = "status",
	.summary = "Show the agent: version, uptime, sources, lanes and the last error.",
	.accepts_show_verb = 1,
};

static void show_status_json(const cJSON *resp)
{
	struct json_writer *w = cli_json_open();
	const cJSON *item;

	if (!w)
		return;
	jw_start_object(w);
	cJSON_ArrayForEach(item, resp) {
		if (!strcmp(item->string, "ok")) /* the envelope, not the state */
			continue;
		jw_name(w, item->string);
		jw_cjson(w, item);
	}
	jw_end_object(w);
	jw_destroy(&w);
}

static void print_l7_listeners(const cJSON *l7)
{
	const cJSON *listeners = jarray(l7, "listeners"), *l;
	const char *sep = "";

	if (!cJSON_GetArraySize(listeners)) {
		printf(", no listener");
		return;
	}
	printf(", listening on ");
	cJSON_ArrayForEach(l, listeners) {
		if (cJSON_IsString(l)) {
			printf("%s%s", sep, l->valuestring);
			sep = ", ";
		}
	}
}

/* A source that lists kinds one by one (the Kubernetes API): where each one stands. */
static void print_source_kinds(const cJSON *source)
{
	static const struct table_col cols[] = {
		{ "RESOURCE", false }, { "SYNCED", false }, { "WATCHING", false }, { "OBJECTS", true },
		{ "RESOURCEVERSION", false }, { "ERROR", false },
	};
	struct table *t;
	const cJSON *kind;

	if (!cJSON_GetArraySize(jarray(source, "kinds")))
		return;
	t = table_new(cols, sizeof(cols) / sizeof(cols[0]));
	if (!t)
		return;
	cJSON_ArrayForEach(kind, jarray(source, "kinds")) {
		if (table_row(t))
			break;
		table_cell(t, "%s", jstr(kind, "name", "?"));
		table_cell(t, "%s", jbool(kind, "missing", false) ? "no CRD" : jbool(kind, "synced", false) ? "yes" : "no");
		table_cell(t, "%s", jbool(kind, "watching", false) ? "yes" : "no");
		table_cell(t, "%.0f", jnum(kind, "objects", 0));
		table_cell(t, "%s", or_dash(jstr(kind, "resource_version", "")));
		table_cell(t, "%s", or_dash(jstr(kind, "error", "")));
	}
	printf("\n%s kinds:\n", jstr(source, "kind", "?"));
	table_print(t, stdout, "  ");
	table_free(t);
}

static void show_status_plain(const cJSON *resp)
{
	static const struct table_col source_cols[] = {
		{ "KIND", false }, { "LOCATION", false }, { "SYNCED", false }, { "OBJECTS", true }, { "ERRORS", true },
		{ "LAST ERROR", false },
	};
	const cJSON *lanes = jobject(resp, "lanes");
	const cJSON *l4 = jobject(lanes, "l4"), *l7 = jobject(lanes, "l7");
	const cJSON *source;
	struct table *sources;
	char uptime[32];

	printf("Agent:       inferlb %s, up %s\n", jstr(resp, "version", "?"),
	       fmt_duration_s(jnum(resp, "uptime_s", 0), uptime, sizeof(uptime)));
	printf("Pin dir:     %s%s\n", jstr(resp, "pin_dir", "?"),
	       jbool(resp, "adopted", false) ? " (pinned maps adopted at start)" : "");

	if (l4 && jstr(l4, "iface", "")[0])
		printf("L4 lane:     %s, XDP %s, %s\n", jstr(l4, "iface", ""), jstr(l4, "xdp_mode", "?"),
		       jbool(l4, "attached", false) ? "attached" : "NOT attached");
	else
		printf("L4 lane:     no interface\n");
	if (l7 && jbool(l7, "enabled", false)) {
		printf("L7 lane:     enabled");
		print_l7_listeners(l7);
		printf("\n");
	} else {
		printf("L7 lane:     disabled\n");
	}
	printf("Last error:  %s\n", jstr(resp, "last_error", "")[0] ? jstr(resp, "last_error", "") : "none");

	sources = table_new(source_cols, sizeof(source_cols) / sizeof(source_cols[0]));
	if (!sources)
		return;
	cJSON_ArrayForEach(source, jarray(resp, "sources")) {
		if (table_row(sources))
			break;
		table_cell(sources, "%s", jstr(source, "kind", "?"));
		table_cell(sources, "%s", or_dash(jstr(source, "location", "")));
		table_cell(sources, "%s", jbool(source, "synced", false) ? "yes" : "no");
		table_cell(sources, "%.0f", jnum(source, "objects", 0));
		table_cell(sources, "%.0f", jnum(source, "errors", 0));
		table_cell(sources, "%s", or_dash(jstr(source, "last_error", "")));
	}
	printf("\nSources:\n");
	if (table_rows(sources))
		table_print(sources, stdout, "  ");
	else
		printf("  none\n");
	table_free(sources);
	cJSON_ArrayForEach(source, jarray(resp, "sources"))
		print_source_kinds(source);
}

int do_status(int argc, char **argv)
{
	struct status_cfg cfg = { 0 };
	cJSON *resp = NULL;
	int rc = cli_parse_or_exit(&status_spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	if (agent_query("status", NULL, NULL, &resp))
		return CLI_EXIT_ERROR;
	if (cli.json)
		show_status_json(resp);
	else
		show_status_plain(resp);
	cJSON_Delete(resp);
	return CLI_EXIT_OK;
}
