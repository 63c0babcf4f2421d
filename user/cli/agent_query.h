/* agent_query.h - what the commands that ask the agent share: one call that reports its own
 * failure, and a list printer that feeds the text table and the JSON array from one loop. */
#ifndef ILB_CLI_AGENT_QUERY_H
#define ILB_CLI_AGENT_QUERY_H

#include "table.h"

struct cJSON;

/* Asks the agent; on failure prints the one-line reason and returns -errno. */
int agent_query(const char *cmd, const char *arg_name, const char *arg_value, struct cJSON **resp);

/* Adds one row to a text table. */
typedef void (*row_plain_fn)(struct table *t, const struct cJSON *row);

/* Prints resp[key] (an array of objects): a JSON array of the objects as the agent sent them
 * with -j, else a table of cols filled by add_row, or empty_text when there is no row. */
int print_list(const struct cJSON *resp, const char *key, const struct table_col *cols, int n_cols,
	       row_plain_fn add_row, const char *empty_text);

#endif
