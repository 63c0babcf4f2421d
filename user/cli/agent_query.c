/* agent_query.c - the shared path of status, pools, backends, objectives and drain: ask,
 * report a failure once, print rows in the chosen format. */
#include <errno.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "agent_query.h"
#include "cli.h"
#include "ctl_client.h"
#include "fields.h"

int agent_query(const char *cmd, const char *arg_name, const char *arg_value, cJSON **resp)
{
	char err_msg[512];
	int err;

	err = ctl_call(cli.socket_path, cmd, arg_name, arg_value, resp, err_msg, sizeof(err_msg));
	if (err)
		cli_error("%s", err_msg);
	return err;
}

int print_list(const cJSON *resp, const char *key, const struct table_col *cols, int n_cols,
	       row_plain_fn add_row, const char *empty_text)
{
	const cJSON *rows = jarray(resp, key), *row;
	struct json_writer *w = NULL;
	struct table *t = NULL;
	int err = 0;

	if (cli.json) {
		w = cli_json_open();
		if (!w)
			return -ENOMEM;
		jw_start_array(w);
	} else {
		t = table_new(cols, n_cols);
		if (!t) {
			cli_error("out of memory");
			return -ENOMEM;
		}
	}
	cJSON_ArrayForEach(row, rows) {
		if (!cJSON_IsObject(row))
			continue;
		if (w) {
			jw_cjson(w, row);
		} else if (table_row(t)) {
			err = -ENOMEM;
			break;
		} else {
			add_row(t, row);
		}
	}
	if (w) {
		jw_end_array(w);
		jw_destroy(&w);
		return 0;
	}
	if (err)
		cli_error("out of memory");
	else if (!table_rows(t))
		printf("%s\n", empty_text);
	else
		table_print(t, stdout, NULL);
	table_free(t);
	return err;
}
