/* yaml.c - YAML streams (multi-document, via libyaml's event parser) to cJSON, with the
 * YAML 1.2 core schema for plain scalars, anchors/aliases, merge keys and hard limits. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "manifest.h"

#define MAX_DEPTH 64
#define MAX_ANCHORS 1024
#define TAG_PREFIX "tag:yaml.org,2002:"

/* Anchors keep their own copy: the node itself may be consumed as a key or a merge. */
struct anchor {
	char *name;
	cJSON *value;
};

struct frame {
	cJSON *container;
	char *anchor;
	char *key; /* a mapping's key waiting for its value */
	cJSON *merges; /* values of "<<" keys, applied when the mapping ends */
	int line;
};

struct builder {
	struct frame stack[MAX_DEPTH];
	int depth;
	cJSON *root;
	bool have_root;
	struct anchor anchors[MAX_ANCHORS];
	int n_anchors;
	/* nodes left to build: aliases could otherwise expand a small file exponentially */
	size_t budget;
	char *err;
	size_t errlen;
};

static int fail(struct builder *b, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct builder *b, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!b->err || !b->errlen)
		return -EINVAL;
	n = snprintf(b->err, b->errlen, "line %d: ", line);
	if (n >= 0 && (size_t)n < b->errlen) {
		va_start(ap, fmt);
		vsnprintf(b->err + n, b->errlen - n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static void clear_anchors(struct builder *b)
{
	for (int i = 0; i < b->n_anchors; i++) {
		free(b->anchors[i].name);
		cJSON_Delete(b->anchors[i].value);
	}
	b->n_anchors = 0;
}

static void clear_stack(struct builder *b)
{
	while (b->depth > 0) {
		struct frame *f = &b->stack[--b->depth];

		cJSON_Delete(f->container);
		cJSON_Delete(f->merges);
		free(f->anchor);
		free(f->key);
	}
	cJSON_Delete(b->root);
	b->root = NULL;
	b->have_root = false;
}

/* ---- scalars ---- */

static bool is_decimal_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_float(const char *s)
{
	bool digits = false;

	if (*s == '-' || *s == '+')
		s++;
	while (*s >= '0' && *s <= '9')
		s++, digits = true;
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9')
			s++, digits = true;
	}
	if (!digits)
		return false;
	if (*s == 'e' || *s == 'E') {
		s++;
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	return *s == '\0';
}

static bool is_radix_int(const char *s, int *base)
{
	const char *digits;

	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'o') || !s[2])
		return false;
	*base = s[1] == 'x' ? 16 : 8;
	for (digits = s + 2; *digits; digits++) {
		char c = *digits;
		bool ok = *base == 16 ? ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))
				      : (c >= '0' && c <= '7');
		if (!ok)
			return false;
	}
	return true;
}

static bool one_of(const char *s, const char *a, const char *b, const char *c)
{
	return strcmp(s, a) == 0 || strcmp(s, b) == 0 || strcmp(s, c) == 0;
}

/* The core schema; anything else (including YAML 1.1's yes/no/on/off) is a string. */
static cJSON *resolve_plain(const char *s)
{
	int base;

	if (!*s || one_of(s, "null", "Null", "NULL") || strcmp(s, "~") == 0)
		return cJSON_CreateNull();
	if (one_of(s, "true", "True", "TRUE"))
		return cJSON_CreateTrue();
	if (one_of(s, "false", "False", "FALSE"))
		return cJSON_CreateFalse();
	if (is_decimal_int(s) || is_float(s)) {
		double v = strtod(s, NULL);

		/* JSON has no infinities: an out-of-range number stays text */
		return isfinite(v) ? cJSON_CreateNumber(v) : cJSON_CreateString(s);
	}
	if (is_radix_int(s, &base))
		return cJSON_CreateNumber((double)strtoull(s + 2, NULL, base));
	return cJSON_CreateString(s);
}

static int scalar_to_json(struct builder *b, const yaml_event_t *ev, cJSON **out)
{
	const char *value = (const char *)ev->data.scalar.value;
	const char *tag = (const char *)ev->data.scalar.tag;
	int line = (int)ev->start_mark.line + 1;

	if (strlen(value) != ev->data.scalar.length)
		return fail(b, line, "NUL character in a scalar");
	*out = NULL;
	if (tag && strncmp(tag, TAG_PREFIX, strlen(TAG_PREFIX)) == 0) {
		const char *type = tag + strlen(TAG_PREFIX);
		cJSON *resolved;

		if (strcmp(type, "str") == 0) {
			*out = cJSON_CreateString(value);
		} else if (strcmp(type, "int") == 0 || strcmp(type, "float") == 0 || strcmp(type, "bool") == 0 ||
			   strcmp(type, "null") == 0) {
			resolved = resolve_plain(value);
			bool fits = resolved && ((type[0] == 'i' || type[0] == 'f') ? cJSON_IsNumber(resolved)
						 : type[0] == 'b'			   ? cJSON_IsBool(resolved)
											   : cJSON_IsNull(resolved));
			if (!fits) {
				cJSON_Delete(resolved);
				return fail(b, line, "\"%.64s\" is not a valid !!%s", value, type);
			}
			*out = resolved;
		}
	}
	if (!*out) {
		/* quoted, literal and folded scalars are always strings */
		if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && (!tag || ev->data.scalar.plain_implicit))
			*out = resolve_plain(value);
		else
			*out = cJSON_CreateString(value);
	}
	return *out ? 0 : -ENOMEM;
}

/* ---- tree building ---- */

/* Counts nodes and depth of item, stopping once the count passes limit. */
static void measure(const cJSON *item, int level, size_t limit, size_t *count, int *depth)
{
	const cJSON *child;

	(*count)++;
	if (level > *depth)
		*depth = level;
	if (*count > limit)
		return;
	cJSON_ArrayForEach(child, item)
	{
		measure(child, level + 1, limit, count, depth);
		if (*count > limit)
			return;
	}
}

/* Takes name (owned); value is copied. */
static int register_anchor(struct builder *b, char *name, const cJSON *value, int line)
{
	cJSON *copy;

	if (!name)
		return 0;
	copy = cJSON_Duplicate(value, 1);
	if (!copy) {
		free(name);
		return -ENOMEM;
	}
	/* a redefined anchor replaces the old one for later aliases */
	for (int i = 0; i < b->n_anchors; i++) {
		if (strcmp(b->anchors[i].name, name) == 0) {
			free(b->anchors[i].name);
			cJSON_Delete(b->anchors[i].value);
			b->anchors[i] = (struct anchor){ name, copy };
			return 0;
		}
	}
	if (b->n_anchors == MAX_ANCHORS) {
		free(name);
		cJSON_Delete(copy);
		return fail(b, line, "more than %d anchors", MAX_ANCHORS);
	}
	b->anchors[b->n_anchors++] = (struct anchor){ name, copy };
	return 0;
}

/* Copies the merge sources' keys that the mapping does not set itself; earlier sources win. */
static int apply_merges(struct frame *f)
{
	const cJSON *source, *entry;
	cJSON *sources = f->merges;

	if (!sources)
		return 0;
	cJSON_ArrayForEach(source, sources)
	{
		cJSON_ArrayForEach(entry, source)
		{
			cJSON *copy;

			if (cJSON_GetObjectItemCaseSensitive(f->container, entry->string))
				continue;
			copy = cJSON_Duplicate(entry, 1);
			if (!copy)
				return -ENOMEM;
			cJSON_AddItemToObject(f->container, entry->string, copy);
		}
	}
	return 0;
}

static int add_merge_source(struct builder *b, struct frame *f, cJSON *value, int line)
{
	cJSON *item;

	if (!f->merges && !(f->merges = cJSON_CreateArray())) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	if (cJSON_IsObject(value)) {
		cJSON_AddItemToArray(f->merges, value);
		return 0;
	}
	if (cJSON_IsArray(value)) {
		cJSON_ArrayForEach(item, value)
		{
			if (!cJSON_IsObject(item)) {
				cJSON_Delete(value);
				return fail(b, line, "merge key \"<<\" takes a mapping or a list of mappings");
			}
		}
		while (value->child)
			cJSON_AddItemToArray(f->merges, cJSON_DetachItemViaPointer(value, value->child));
		cJSON_Delete(value);
		return 0;
	}
	cJSON_Delete(value);
	return fail(b, line, "merge key \"<<\" takes a mapping or a list of mappings");
}

/* Hands a finished node (owned) to its parent: a document root, a list item, a mapping
 * key (scalars only) or a mapping value. */
static int attach(struct builder *b, cJSON *value, bool plain_merge_key, int line)
{
	struct frame *f;
	char *key;

	if (b->depth == 0) {
		b->root = value;
		b->have_root = true;
		return 0;
	}
	f = &b->stack[b->depth - 1];
	if (cJSON_IsArray(f->container)) {
		cJSON_AddItemToArray(f->container, value);
		return 0;
	}
	if (!f->key) {
		const char *text = cJSON_IsString(value) ? value->valuestring : NULL;
		char *printed = NULL;

		if (cJSON_IsObject(value) || cJSON_IsArray(value)) {
			cJSON_Delete(value);
			return fail(b, line, "a mapping key must be a scalar");
		}
		if (!text)
			text = printed = cJSON_PrintUnformatted(value);
		/* "<<" marks a merge only as a plain scalar; a tab keeps it apart from real keys */
		f->key = text ? strdup(plain_merge_key && strcmp(text, "<<") == 0 ? "\t<<" : text) : NULL;
		free(printed);
		cJSON_Delete(value);
		return f->key ? 0 : -ENOMEM;
	}
	key = f->key;
	f->key = NULL;
	if (strcmp(key, "\t<<") == 0) {
		free(key);
		return add_merge_source(b, f, value, line);
	}
	if (cJSON_GetObjectItemCaseSensitive(f->container, key)) {
		int err = fail(b, line, "duplicate key \"%.64s\"", key);

		free(key);
		cJSON_Delete(value);
		return err;
	}
	cJSON_AddItemToObject(f->container, key, value);
	free(key);
	return 0;
}

static int take_budget(struct builder *b, size_t nodes, int line)
{
	if (nodes > b->budget)
		return fail(b, line, "document expands to too many nodes (aliases)");
	b->budget -= nodes;
	return 0;
}

static int start_container(struct builder *b, const yaml_event_t *ev, bool mapping)
{
	const yaml_char_t *anchor = mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor;
	int line = (int)ev->start_mark.line + 1;
	struct frame *f;
	int err;

	if (b->depth == MAX_DEPTH)
		return fail(b, line, "nesting deeper than %d", MAX_DEPTH);
	err = take_budget(b, 1, line);
	if (err)
		return err;
	f = &b->stack[b->depth];
	memset(f, 0, sizeof(*f));
	f->line = line;
	f->container = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
	if (anchor)
		f->anchor = strdup((const char *)anchor);
	if (!f->container || (anchor && !f->anchor)) {
		cJSON_Delete(f->container);
		free(f->anchor);
		return -ENOMEM;
	}
	b->depth++;
	return 0;
}

static int end_container(struct builder *b, const yaml_event_t *ev)
{
	struct frame f = b->stack[--b->depth];
	int line = (int)ev->start_mark.line + 1;
	int err = apply_merges(&f);

	cJSON_Delete(f.merges);
	free(f.key);
	if (err) {
		cJSON_Delete(f.container);
		free(f.anchor);
		return err;
	}
	err = register_anchor(b, f.anchor, f.container, line);
	if (err) {
		cJSON_Delete(f.container);
		return err;
	}
	return attach(b, f.container, false, f.line);
}

static int on_alias(struct builder *b, const yaml_event_t *ev)
{
	const char *name = (const char *)ev->data.alias.anchor;
	int line = (int)ev->start_mark.line + 1;
	size_t count = 0;
	int depth = 0, err;
	cJSON *copy;

	for (int i = b->n_anchors - 1; i >= 0; i--) {
		if (strcmp(b->anchors[i].name, name) != 0)
			continue;
		measure(b->anchors[i].value, 0, b->budget, &count, &depth);
		err = take_budget(b, count, line);
		if (err)
			return err;
		if (b->depth + depth >= MAX_DEPTH)
			return fail(b, line, "alias *%.64s nests deeper than %d", name, MAX_DEPTH);
		copy = cJSON_Duplicate(b->anchors[i].value, 1);
		if (!copy)
			return -ENOMEM;
		return attach(b, copy, false, line);
	}
	return fail(b, line, "unknown anchor *%.64s", name);
}

static int on_scalar(struct builder *b, const yaml_event_t *ev)
{
	int line = (int)ev->start_mark.line + 1;
	char *anchor = NULL;
	cJSON *value;
	int err = take_budget(b, 1, line);

	if (!err)
		err = scalar_to_json(b, ev, &value);
	if (err)
		return err;
	if (ev->data.scalar.anchor && !(anchor = strdup((const char *)ev->data.scalar.anchor))) {
		cJSON_Delete(value);
		return -ENOMEM;
	}
	err = register_anchor(b, anchor, value, line);
	if (err) {
		cJSON_Delete(value);
		return err;
	}
	return attach(b, value, ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE, line);
}

/* Returns 1 at the end of the stream, 0 to go on, or -errno. */
static int on_event(struct builder *b, const yaml_event_t *ev, cJSON *docs, int **lines, int *n_lines)
{
	switch (ev->type) {
	case YAML_DOCUMENT_START_EVENT:
		clear_stack(b);
		clear_anchors(b);
		if (lines) {
			int *grown = realloc(*lines, (*n_lines + 1) * sizeof(int));

			if (!grown)
				return -ENOMEM;
			*lines = grown;
			(*lines)[*n_lines] = (int)ev->start_mark.line + 1;
		}
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		/* empty documents (a stray "---") carry nothing and are skipped */
		if (b->have_root && !cJSON_IsNull(b->root)) {
			cJSON_AddItemToArray(docs, b->root);
			b->root = NULL;
			if (lines)
				(*n_lines)++;
		}
		clear_stack(b);
		clear_anchors(b);
		return 0;
	case YAML_SCALAR_EVENT:
		return on_scalar(b, ev);
	case YAML_SEQUENCE_START_EVENT:
		return start_container(b, ev, false);
	case YAML_MAPPING_START_EVENT:
		return start_container(b, ev, true);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		return end_container(b, ev);
	case YAML_ALIAS_EVENT:
		return on_alias(b, ev);
	case YAML_STREAM_END_EVENT:
		return 1;
	default:
		return 0;
	}
}

cJSON *ilb_yaml_to_json_lines(const char *text, size_t len, int **lines, char *err, size_t errlen)
{
	struct builder *b = calloc(1, sizeof(*b));
	yaml_parser_t parser;
	cJSON *docs = cJSON_CreateArray();
	int n_lines = 0, ret = 0;

	if (err && errlen)
		err[0] = '\0';
	if (lines)
		*lines = NULL;
	if (!b || !docs || !yaml_parser_initialize(&parser)) {
		free(b);
		cJSON_Delete(docs);
		if (err && errlen)
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	b->err = err;
	b->errlen = errlen;
	b->budget = 4 * len + 1024;
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	while (ret == 0) {
		yaml_event_t ev;

		if (!yaml_parser_parse(&parser, &ev)) {
			ret = fail(b, (int)parser.problem_mark.line + 1, "%s%s%s",
				   parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
				   parser.context ? parser.context : "");
			break;
		}
		ret = on_event(b, &ev, docs, lines, &n_lines);
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&parser);
	clear_stack(b);
	clear_anchors(b);
	free(b);
	if (ret < 0) {
		if (ret == -ENOMEM && err && errlen)
			snprintf(err, errlen, "out of memory");
		cJSON_Delete(docs);
		if (lines) {
			free(*lines);
			*lines = NULL;
		}
		return NULL;
	}
	return docs;
}

cJSON *ilb_yaml_to_json(const char *text, size_t len, char *err, size_t errlen)
{
	return ilb_yaml_to_json_lines(text, len, NULL, err, errlen);
}
