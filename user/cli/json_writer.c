/* json_writer.c - streaming JSON output. Depth and "first element" are tracked per level so
 * that commas and pretty-print indentation come out right without building a tree. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "json_writer.h"

#define JW_MAX_DEPTH 64

struct json_writer {
	FILE *out;
	bool pretty;
	int depth;
	bool first[JW_MAX_DEPTH]; /* no element written yet at this level */
	bool after_name; /* a key was written: the value follows on the same line */
};

struct json_writer *jw_new(FILE *out, bool pretty)
{
	struct json_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->out = out;
	w->pretty = pretty;
	w->first[0] = true;
	return w;
}

void jw_destroy(struct json_writer **w)
{
	if (!*w)
		return;
	fputc('\n', (*w)->out);
	fflush((*w)->out);
	free(*w);
	*w = NULL;
}

static void newline_indent(struct json_writer *w)
{
	if (!w->pretty)
		return;
	fputc('\n', w->out);
	for (int i = 0; i < w->depth; i++)
		fputs("  ", w->out);
}

/* Everything a value needs before it: a comma and a line of its own, unless it follows a key. */
static void begin_value(struct json_writer *w)
{
	if (w->after_name) {
		w->after_name = false;
		return;
	}
	if (!w->first[w->depth])
		fputc(',', w->out);
	w->first[w->depth] = false;
	if (w->depth > 0)
		newline_indent(w);
}

static void write_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", out); break;
		case '\\': fputs("\\\\", out); break;
		case '\n': fputs("\\n", out); break;
		case '\r': fputs("\\r", out); break;
		case '\t': fputs("\\t", out); break;
		case '\b': fputs("\\b", out); break;
		case '\f': fputs("\\f", out); break;
		default:
			if (*p < 0x20)
				fprintf(out, "\\u%04x", *p);
			else
				fputc(*p, out);
		}
	}
	fputc('"', out);
}

static void open_level(struct json_writer *w, char c)
{
	begin_value(w);
	fputc(c, w->out);
	if (w->depth + 1 < JW_MAX_DEPTH)
		w->depth++;
	w->first[w->depth] = true;
}

static void close_level(struct json_writer *w, char c)
{
	bool empty = w->first[w->depth];

	if (w->depth > 0)
		w->depth--;
	if (!empty)
		newline_indent(w);
	fputc(c, w->out);
}

void jw_start_object(struct json_writer *w) { open_level(w, '{'); }
void jw_end_object(struct json_writer *w) { close_level(w, '}'); }
void jw_start_array(struct json_writer *w) { open_level(w, '['); }
void jw_end_array(struct json_writer *w) { close_level(w, ']'); }

void jw_name(struct json_writer *w, const char *name)
{
	begin_value(w);
	write_quoted(w->out, name);
	fputs(w->pretty ? ": " : ":", w->out);
	w->after_name = true;
}

void jw_string(struct json_writer *w, const char *s)
{
	begin_value(w);
	write_quoted(w->out, s);
}

void jw_uint(struct json_writer *w, uint64_t v)
{
	begin_value(w);
	fprintf(w->out, "%" PRIu64, v);
}

void jw_int(struct json_writer *w, int64_t v)
{
	begin_value(w);
	fprintf(w->out, "%" PRId64, v);
}

void jw_float(struct json_writer *w, double v)
{
	begin_value(w);
	if (!isfinite(v)) /* JSON has no NaN or infinity */
		fputs("null", w->out);
	else if (v == (double)(int64_t)v && fabs(v) < 1e15)
		fprintf(w->out, "%" PRId64, (int64_t)v);
	else
		fprintf(w->out, "%.10g", v);
}

void jw_bool(struct json_writer *w, bool v)
{
	begin_value(w);
	fputs(v ? "true" : "false", w->out);
}

void jw_null(struct json_writer *w)
{
	begin_value(w);
	fputs("null", w->out);
}

void jw_cjson(struct json_writer *w, const cJSON *item)
{
	const cJSON *child;

	if (!item) {
		jw_null(w);
		return;
	}
	if (cJSON_IsObject(item)) {
		jw_start_object(w);
		cJSON_ArrayForEach(child, item) {
			jw_name(w, child->string);
			jw_cjson(w, child);
		}
		jw_end_object(w);
	} else if (cJSON_IsArray(item)) {
		jw_start_array(w);
		cJSON_ArrayForEach(child, item)
			jw_cjson(w, child);
		jw_end_array(w);
	} else if (cJSON_IsString(item)) {
		jw_string(w, item->valuestring);
	} else if (cJSON_IsNumber(item)) {
		jw_float(w, item->valuedouble);
	} else if (cJSON_IsBool(item)) {
		jw_bool(w, cJSON_IsTrue(item));
	} else {
		jw_null(w);
	}
}

void jw_string_field(struct json_writer *w, const char *name, const char *s)
{
	jw_name(w, name);
	jw_string(w, s);
}

void jw_uint_field(struct json_writer *w, const char *name, uint64_t v)
{
	jw_name(w, name);
	jw_uint(w, v);
}

void jw_int_field(struct json_writer *w, const char *name, int64_t v)
{
	jw_name(w, name);
	jw_int(w, v);
}

void jw_float_field(struct json_writer *w, const char *name, double v)
{
	jw_name(w, name);
	jw_float(w, v);
}

void jw_bool_field(struct json_writer *w, const char *name, bool v)
{
	jw_name(w, name);
	jw_bool(w, v);
}
