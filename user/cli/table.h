/* table.h - aligned text tables for the plain output: cells are collected first, then each
 * column is as wide as its widest cell (the way kubectl prints). */
#ifndef ILB_CLI_TABLE_H
#define ILB_CLI_TABLE_H

#include <stdbool.h>
#include <stdio.h>

struct table_col {
	const char *header;
	bool right; /* numbers align right */
};

struct table;

struct table *table_new(const struct table_col *cols, int n_cols);
void table_free(struct table *t);
/* Starts a row; the cells follow in column order. */
int table_row(struct table *t);
int table_cell(struct table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int table_rows(const struct table *t);
/* Prints the header and the rows, each line prefixed with indent. */
void table_print(const struct table *t, FILE *out, const char *indent);

#endif
