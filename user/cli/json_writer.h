/* json_writer.h - a small streaming JSON writer for the CLI's -j/-p output: the caller
 * opens and closes objects and arrays, the writer places commas, quotes and indentation. */
#ifndef ILB_CLI_JSON_WRITER_H
#define ILB_CLI_JSON_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct cJSON;
struct json_writer;

struct json_writer *jw_new(FILE *out, bool pretty);
/* Ends the document with a newline and frees the writer. */
void jw_destroy(struct json_writer **w);

void jw_start_object(struct json_writer *w);
void jw_end_object(struct json_writer *w);
void jw_start_array(struct json_writer *w);
void jw_end_array(struct json_writer *w);
/* The key of the next value inside an object. */
void jw_name(struct json_writer *w, const char *name);

void jw_string(struct json_writer *w, const char *s);
void jw_uint(struct json_writer *w, uint64_t v);
void jw_int(struct json_writer *w, int64_t v);
void jw_float(struct json_writer *w, double v);
void jw_bool(struct json_writer *w, bool v);
void jw_null(struct json_writer *w);
/* Writes a parsed value as it is: what the agent sent passes through unchanged. */
void jw_cjson(struct json_writer *w, const struct cJSON *item);

/* name + value in one call, for the common case inside an object. */
void jw_string_field(struct json_writer *w, const char *name, const char *s);
void jw_uint_field(struct json_writer *w, const char *name, uint64_t v);
void jw_int_field(struct json_writer *w, const char *name, int64_t v);
void jw_float_field(struct json_writer *w, const char *name, double v);
void jw_bool_field(struct json_writer *w, const char *name, bool v);

#endif
