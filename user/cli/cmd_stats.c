/* cmd_stats.c - `inferlb stats`: the data path's counters summed over CPUs, read from the
 * pinned `stats` map (no agent needed), with drops grouped by reason. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"
#include "params.h"
#include "pinned.h"
#include "table.h"

#define DROP_PREFIX "drop_"

struct stats_cfg {
	int unused;
};

const struct cli_spec stats_spec = {
	.name = "stats",
	.summary = "Show the data path's counters (pinned `stats` map) and drops by reason.",
	.accepts_show_verb = 1,
};

static bool is_drop(int idx)
{
	return !strncmp(ilb_stat_names[idx], DROP_PREFIX, strlen(DROP_PREFIX));
}

static void show_stats_json(const uint64_t v[ILB_STAT_MAX])
{
	struct json_writer *w = cli_json_open();
	uint64_t drops = 0;

	if (!w)
		return;
	jw_start_object(w);
	jw_name(w, "counters");
	jw_start_object(w);
	for (int i = 0; i < ILB_STAT_MAX; i++)
		jw_uint_field(w, ilb_stat_names[i], v[i]);
	jw_end_object(w);
	jw_name(w, "drops");
	jw_start_object(w);
	for (int i = 0; i < ILB_STAT_MAX; i++) {
		if (!is_drop(i))
			continue;
		jw_uint_field(w, ilb_stat_names[i] + strlen(DROP_PREFIX), v[i]);
		drops += v[i];
	}
	jw_end_object(w);
	jw_uint_field(w, "drops_total", drops);
	jw_end_object(w);
	jw_destroy(&w);
}

static void show_stats_plain(const uint64_t v[ILB_STAT_MAX])
{
	static const struct table_col counter_cols[] = { { "COUNTER", false }, { "VALUE", true } };
	static const struct table_col drop_cols[] = { { "REASON", false }, { "DROPS", true } };
	struct table *counters = table_new(counter_cols, 2), *drops = table_new(drop_cols, 2);
	uint64_t total = 0;

	if (!counters || !drops)
		goto out;
	for (int i = 0; i < ILB_STAT_MAX; i++) {
		if (table_row(counters))
			goto out;
		table_cell(counters, "%s", ilb_stat_names[i]);
		table_cell(counters, "%" PRIu64, v[i]);
		if (!is_drop(i))
			continue;
		if (table_row(drops))
			goto out;
		table_cell(drops, "%s", ilb_stat_names[i] + strlen(DROP_PREFIX));
		table_cell(drops, "%" PRIu64, v[i]);
		total += v[i];
	}
	if (!table_row(drops)) {
		table_cell(drops, "total");
		table_cell(drops, "%" PRIu64, total);
	}
	table_print(counters, stdout, NULL);
	printf("\nDrops by reason:\n");
	table_print(drops, stdout, "  ");
out:
	table_free(counters);
	table_free(drops);
}

int do_stats(int argc, char **argv)
{
	struct stats_cfg cfg = { 0 };
	uint64_t values[ILB_STAT_MAX];
	char err_msg[512];
	int fd, err, rc = cli_parse_or_exit(&stats_spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	fd = pinned_open("stats", err_msg, sizeof(err_msg));
	if (fd < 0) {
		cli_error("%s", err_msg);
		return CLI_EXIT_ERROR;
	}
	err = pinned_read_stats(fd, values);
	close(fd);
	if (err) {
		cli_error("reading %s/stats: %s", cli.pin_dir, strerror(-err));
		return CLI_EXIT_ERROR;
	}
	if (cli.json)
		show_stats_json(values);
	else
		show_stats_plain(values);
	return CLI_EXIT_OK;
}
