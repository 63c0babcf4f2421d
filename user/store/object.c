/* object.c - decoded objects whatever their kind: the table of kinds (each row in its kind's
 * file), labels, addresses, and the copy, equality and free that go through a kind's row. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

/* ---- the kinds ---- */

static const struct ilb_kind_def *const kinds[ILB_KIND__COUNT] = {
	[ILB_KIND_POD] = &ilb_kind_pod,
	[ILB_KIND_POOL] = &ilb_kind_pool,
	[ILB_KIND_OBJECTIVE] = &ilb_kind_objective,
	[ILB_KIND_MODEL_REWRITE] = &ilb_kind_model_rewrite,
	[ILB_KIND_INFERENCE_MODEL] = &ilb_kind_inference_model,
	[ILB_KIND_GATEWAY] = &ilb_kind_gateway,
	[ILB_KIND_HTTPROUTE] = &ilb_kind_httproute,
	[ILB_KIND_KSERVICE] = &ilb_kind_kservice,
	[ILB_KIND_KN_DOMAIN] = &ilb_kind_kn_domain,
	[ILB_KIND_KN_SKS] = &ilb_kind_kn_sks,
	[ILB_KIND_KN_ENDPOINTS] = &ilb_kind_kn_endpoints,
};

const struct ilb_kind_def *ilb_kind_def(enum ilb_kind kind)
{
	if (kind <= ILB_KIND_NONE || kind >= ILB_KIND__COUNT)
		return NULL;
	return kinds[kind];
}

const char *ilb_kind_name(enum ilb_kind kind)
{
	const struct ilb_kind_def *def = ilb_kind_def(kind);

	if (kind == ILB_KIND_NONE)
		return "None";
	return def ? def->name : "Unknown";
}

/* ---- labels ---- */

const char *ilb_labels_get(const struct ilb_labels *labels, const char *key)
{
	for (int i = 0; i < labels->count; i++)
		if (strcmp(labels->items[i].key, key) == 0)
			return labels->items[i].value;
	return NULL;
}

int ilb_labels_set(struct ilb_labels *labels, const char *key, const char *value)
{
	char *value_copy = strdup(value);
	char *key_copy = NULL;
	struct ilb_kv *items;

	if (!value_copy)
		return -ENOMEM;
	for (int i = 0; i < labels->count; i++) {
		if (strcmp(labels->items[i].key, key) == 0) {
			free(labels->items[i].value);
			labels->items[i].value = value_copy;
			return 0;
		}
	}
	key_copy = strdup(key);
	items = realloc(labels->items, (labels->count + 1) * sizeof(*items));
	if (!key_copy || !items) {
		if (items)
			labels->items = items;
		free(key_copy);
		free(value_copy);
		return -ENOMEM;
	}
	items[labels->count].key = key_copy;
	items[labels->count].value = value_copy;
	labels->items = items;
	labels->count++;
	return 0;
}

void ilb_labels_free(struct ilb_labels *labels)
{
	for (int i = 0; i < labels->count; i++) {
		free(labels->items[i].key);
		free(labels->items[i].value);
	}
	free(labels->items);
	labels->items = NULL;
	labels->count = 0;
}

int ilb_labels_copy(struct ilb_labels *dst, const struct ilb_labels *src)
{
	dst->items = NULL;
	dst->count = 0;
	for (int i = 0; i < src->count; i++) {
		int err = ilb_labels_set(dst, src->items[i].key, src->items[i].value);

		if (err) {
			ilb_labels_free(dst);
			return err;
		}
	}
	return 0;
}

bool ilb_labels_equal(const struct ilb_labels *a, const struct ilb_labels *b)
{
	if (a->count != b->count)
		return false;
	/* keys are unique within a set, so a one-way check with equal counts suffices */
	for (int i = 0; i < a->count; i++) {
		const char *value = ilb_labels_get(b, a->items[i].key);

		if (!value || strcmp(value, a->items[i].value) != 0)
			return false;
	}
	return true;
}

/* ---- addresses ---- */

int ilb_addr_parse(const char *text, struct ilb_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, out->bytes) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, text, out->bytes) == 1) {
		out->family = 6;
		return 0;
	}
	memset(out, 0, sizeof(*out));
	return -EINVAL;
}

const char *ilb_addr_format(const struct ilb_addr *addr, char *buf, size_t len)
{
	int af = addr->family == 4 ? AF_INET : addr->family == 6 ? AF_INET6 : 0;

	if (!len)
		return buf;
	if (!af || !inet_ntop(af, addr->bytes, buf, len))
		snprintf(buf, len, "-");
	return buf;
}

bool ilb_addr_equal(const struct ilb_addr *a, const struct ilb_addr *b)
{
	if (a->family != b->family)
		return false;
	if (a->family == 4)
		return memcmp(a->bytes, b->bytes, 4) == 0;
	if (a->family == 6)
		return memcmp(a->bytes, b->bytes, 16) == 0;
	return true;
}

/* ---- copy, equality, free ---- */

void *ilb_memdup(const void *src, int n, size_t size)
{
	void *copy;

	if (n <= 0 || !src)
		return NULL;
	copy = malloc(n * size);
	if (copy)
		memcpy(copy, src, n * size);
	return copy;
}

void ilb_object_free(struct ilb_object *obj)
{
	const struct ilb_kind_def *def;

	if (!obj)
		return;
	def = ilb_kind_def(obj->kind);
	if (def && def->free)
		def->free(obj);
	if (obj->kind != ILB_KIND_NONE) {
		ilb_labels_free(&obj->meta.labels);
		ilb_labels_free(&obj->meta.annotations);
	}
	memset(obj, 0, sizeof(*obj));
}

int ilb_object_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	const struct ilb_kind_def *def = ilb_kind_def(src->kind);
	int err = 0;

	*dst = *src;
	dst->meta.labels = (struct ilb_labels){ 0 };
	dst->meta.annotations = (struct ilb_labels){ 0 };
	if (def && def->copy)
		err = def->copy(dst, src);
	if (!err)
		err = ilb_labels_copy(&dst->meta.labels, &src->meta.labels);
	if (!err)
		err = ilb_labels_copy(&dst->meta.annotations, &src->meta.annotations);
	if (err)
		ilb_object_free(dst);
	return err;
}

static bool meta_equal(const struct ilb_meta *a, const struct ilb_meta *b)
{
	return ILB_STR_EQ(a->ns, b->ns) && ILB_STR_EQ(a->name, b->name) && ILB_STR_EQ(a->uid, b->uid) &&
	       ilb_labels_equal(&a->labels, &b->labels) && ilb_labels_equal(&a->annotations, &b->annotations);
}

bool ilb_object_equal(const struct ilb_object *a, const struct ilb_object *b)
{
	const struct ilb_kind_def *def = ilb_kind_def(a->kind);

	if (a->kind != b->kind || !meta_equal(&a->meta, &b->meta))
		return false;
	return !def || !def->equal || def->equal(a, b);
}

bool ilb_format_whole(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		buf[0] = '\0';
		return false;
	}
	return true;
}
