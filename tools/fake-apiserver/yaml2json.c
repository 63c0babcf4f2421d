/* yaml2json.c - libyaml documents to cJSON. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "yaml2json.h"

/* Aliases share nodes, so a small document can expand enormously: cap the output. */
#define MAX_NODES 1000000
#define MAX_DEPTH 100

struct conv {
	yaml_document_t *doc;
	long nodes;
	char *err;
	size_t errlen;
};

static bool word_in(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (!strcmp(s, *list))
			return true;
	return false;
}

static bool is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && s[2]) {
		for (s += 2; *s; s++)
			if (!isxdigit((unsigned char)*s))
				return false;
		return true;
	}
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s) && *s != '_')
			return false;
	return true;
}

static bool is_float(const char *s)
{
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	while (isdigit((unsigned char)*s)) {
		digits = true;
		s++;
	}
	if (*s == '.') {
		s++;
		while (isdigit((unsigned char)*s)) {
			digits = true;
			s++;
		}
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (!isdigit((unsigned char)*s))
			return false;
		while (isdigit((unsigned char)*s))
			s++;
	}
	return !*s;
}

static cJSON *scalar(const yaml_node_t *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const yes[] = { "true", "True", "TRUE", "y", "Y", "yes", "Yes", "YES",
					   "on", "On", "ON", NULL };
	static const char *const no[] = { "false", "False", "FALSE", "n", "N", "no", "No", "NO",
					  "off", "Off", "OFF", NULL };
	const char *s = (const char *)n->data.scalar.value;
	const char *tag = (const char *)n->tag;

	/* Quoted, literal and folded scalars are always strings. */
	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) {
		if (tag && !strcmp(tag, YAML_INT_TAG) && is_int(s))
			return cJSON_CreateNumber((double)strtoll(s, NULL, 0));
		return cJSON_CreateString(s);
	}
	if (word_in(s, nulls))
		return cJSON_CreateNull();
	if (word_in(s, yes))
		return cJSON_CreateBool(1);
	if (word_in(s, no))
		return cJSON_CreateBool(0);
	if (is_int(s)) {
		char clean[64];
		size_t j = 0;

		for (const char *c = s; *c && j + 1 < sizeof(clean); c++)
			if (*c != '_')
				clean[j++] = *c;
		clean[j] = '\0';
		return cJSON_CreateNumber((double)strtoll(clean, NULL, 0));
	}
	if (is_float(s))
		return cJSON_CreateNumber(strtod(s, NULL));
	return cJSON_CreateString(s);
}

static cJSON *convert(struct conv *c, yaml_node_t *n, int depth);

/* "<<: *base" copies the keys the mapping does not set itself. */
static int merge_into(struct conv *c, cJSON *obj, yaml_node_t *v, int depth)
{
	cJSON *src, *it;

	if (v->type == YAML_SEQUENCE_NODE) {
		for (yaml_node_item_t *i = v->data.sequence.items.start; i < v->data.sequence.items.top; i++)
			if (merge_into(c, obj, yaml_document_get_node(c->doc, *i), depth) < 0)
				return -EINVAL;
		return 0;
	}
	src = convert(c, v, depth + 1);
	if (!src)
		return -EINVAL;
	if (!cJSON_IsObject(src)) {
		cJSON_Delete(src);
		snprintf(c->err, c->errlen, "line %lu: merge key needs a mapping",
			 (unsigned long)v->start_mark.line + 1);
		return -EINVAL;
	}
	cJSON_ArrayForEach(it, src)
		if (!cJSON_GetObjectItemCaseSensitive(obj, it->string))
			cJSON_AddItemToObject(obj, it->string, cJSON_Duplicate(it, 1));
	cJSON_Delete(src);
	return 0;
}

static cJSON *convert(struct conv *c, yaml_node_t *n, int depth)
{
	cJSON *out = NULL, *v;

	if (!n)
		return cJSON_CreateNull();
	if (depth > MAX_DEPTH || ++c->nodes > MAX_NODES) {
		snprintf(c->err, c->errlen, "line %lu: document too deep or too large",
			 (unsigned long)n->start_mark.line + 1);
		return NULL;
	}
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return scalar(n);
	case YAML_SEQUENCE_NODE:
		out = cJSON_CreateArray();
		for (yaml_node_item_t *i = n->data.sequence.items.start; out && i < n->data.sequence.items.top; i++) {
			v = convert(c, yaml_document_get_node(c->doc, *i), depth + 1);
			if (!v)
				goto fail;
			cJSON_AddItemToArray(out, v);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = cJSON_CreateObject();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start; out && p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(c->doc, p->key);
			yaml_node_t *val = yaml_document_get_node(c->doc, p->value);
			const char *key;

			if (!k || k->type != YAML_SCALAR_NODE) {
				snprintf(c->err, c->errlen, "line %lu: mapping key is not a scalar",
					 (unsigned long)(k ? k->start_mark.line : n->start_mark.line) + 1);
				goto fail;
			}
			key = (const char *)k->data.scalar.value;
			if (!strcmp(key, "<<") && k->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
				if (merge_into(c, out, val, depth) < 0)
					goto fail;
				continue;
			}
			v = convert(c, val, depth + 1);
			if (!v)
				goto fail;
			/* Later keys win, as in encoding/json. */
			cJSON_DeleteItemFromObjectCaseSensitive(out, key);
			cJSON_AddItemToObject(out, key, v);
		}
		return out;
	default:
		return cJSON_CreateNull();
	}
fail:
	cJSON_Delete(out);
	return NULL;
}

static cJSON *json_text(const char *text, size_t len, char *err, size_t errlen)
{
	const char *end = NULL;
	cJSON *v, *arr;

	v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (!v) {
		snprintf(err, errlen, "invalid JSON near byte %ld", end ? (long)(end - text) : 0L);
		return NULL;
	}
	if (cJSON_IsArray(v))
		return v;
	arr = cJSON_CreateArray();
	if (!arr) {
		cJSON_Delete(v);
		return NULL;
	}
	cJSON_AddItemToArray(arr, v);
	return arr;
}

cJSON *yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct conv c = { .err = err, .errlen = errlen };
	cJSON *docs, *v;
	size_t i = 0;

	err[0] = '\0';
	while (i < len && isspace((unsigned char)text[i]))
		i++;
	if (i < len && (text[i] == '{' || text[i] == '['))
		return json_text(text + i, len - i, err, errlen);

	docs = cJSON_CreateArray();
	if (!docs || !yaml_parser_initialize(&parser)) {
		cJSON_Delete(docs);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	for (;;) {
		yaml_node_t *root;

		if (!yaml_parser_load(&parser, &doc)) {
			snprintf(err, errlen, "line %lu: %s", (unsigned long)parser.problem_mark.line + 1,
				 parser.problem ? parser.problem : "YAML error");
			goto fail;
		}
		root = yaml_document_get_root_node(&doc);
		if (!root) {
			yaml_document_delete(&doc);
			break;
		}
		c.doc = &doc;
		v = convert(&c, root, 0);
		yaml_document_delete(&doc);
		if (!v)
			goto fail;
		if (cJSON_IsNull(v))	/* an empty document between two "---" */
			cJSON_Delete(v);
		else
			cJSON_AddItemToArray(docs, v);
	}
	yaml_parser_delete(&parser);
	return docs;
fail:
	yaml_parser_delete(&parser);
	cJSON_Delete(docs);
	return NULL;
}
