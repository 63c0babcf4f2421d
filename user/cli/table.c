/* table.c - collects cells as strings, then prints them padded to the widest cell of each
 * column, so no column width has to be guessed in advance. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include "table.h"

struct table {
	const struct table_col *cols;
	int n_cols;
	int n_rows, cap_rows;
	char **cells; /* n_rows * n_cols, row major */
	int next_col; /* where the next cell of the current row goes */
};

struct table *table_new(const struct table_col *cols, int n_cols)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->cols = cols;
	t->n_cols = n_cols;
	t->next_col = n_cols;
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (int i = 0; i < t->n_rows * t->n_cols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int table_row(struct table *t)
{
	if (t->n_rows == t->cap_rows) {
		int cap = t->cap_rows ? t->cap_rows * 2 : 16;
		char **cells = realloc(t->cells, sizeof(*cells) * cap * t->n_cols);

		if (!cells)
			return -ENOMEM;
		t->cells = cells;
		t->cap_rows = cap;
	}
	memset(&t->cells[t->n_rows * t->n_cols], 0, sizeof(char *) * t->n_cols);
	t->n_rows++;
	t->next_col = 0;
	return 0;
}

int table_cell(struct table *t, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (t->next_col >= t->n_cols)
		return -EINVAL;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	t->cells[(t->n_rows - 1) * t->n_cols + t->next_col++] = s;
	return 0;
}

int table_rows(const struct table *t)
{
	return t->n_rows;
}

static const char *cell_at(const struct table *t, int row, int col)
{
	const char *s = t->cells[row * t->n_cols + col];

	return s ? s : "";
}

void table_print(const struct table *t, FILE *out, const char *indent)
{
	int width[t->n_cols];

	for (int c = 0; c < t->n_cols; c++) {
		width[c] = strlen(t->cols[c].header);
		for (int r = 0; r < t->n_rows; r++) {
			int w = strlen(cell_at(t, r, c));

			if (w > width[c])
				width[c] = w;
		}
	}
	for (int r = -1; r < t->n_rows; r++) {
		fputs(indent ? indent : "", out);
		for (int c = 0; c < t->n_cols; c++) {
			const char *s = r < 0 ? t->cols[c].header : cell_at(t, r, c);
			bool last = c == t->n_cols - 1;

			if (t->cols[c].right)
				fprintf(out, "%*s", width[c], s);
			else if (last) /* no trailing blanks */
				fputs(s, out);
			else
				fprintf(out, "%-*s", width[c], s);
			if (!last)
				fputs("  ", out);
		}
		fputc('\n', out);
	}
}
