/* store.c - the Kubernetes object store: every decoded object by kind, namespace and name,
 * a generation that grows on each change, and each kind's row told of every change. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kind.h"

/* Objects of one kind, sorted by (namespace, name) so that lookups bisect and listings
 * come out in a stable order. */
struct kind_table {
	struct ilb_object **items;
	int count;
	int cap;
};

struct ilb_store {
	struct kind_table kinds[ILB_KIND__COUNT];
	uint64_t generation;
};

struct ilb_store *ilb_store_new(void)
{
	return calloc(1, sizeof(struct ilb_store));
}

void ilb_store_free(struct ilb_store *store)
{
	if (!store)
		return;
	for (int k = 0; k < ILB_KIND__COUNT; k++) {
		struct kind_table *t = &store->kinds[k];

		for (int i = 0; i < t->count; i++) {
			ilb_object_free(t->items[i]);
			free(t->items[i]);
		}
		free(t->items);
	}
	free(store);
}

static int compare_key(const struct ilb_meta *meta, const char *ns, const char *name)
{
	int c = strcmp(meta->ns, ns);

	return c ? c : strcmp(meta->name, name);
}

/* Returns the index of (ns, name), or -(insertion point) - 1 when absent. */
static int table_find(const struct kind_table *t, const char *ns, const char *name)
{
	int lo = 0, hi = t->count - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = compare_key(&t->items[mid]->meta, ns, name);

		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return -lo - 1;
}

static bool kind_valid(enum ilb_kind kind)
{
	return kind > ILB_KIND_NONE && kind < ILB_KIND__COUNT;
}

/* Tells every kind that follows changes; the first error is the caller's. */
static int tell_followers(struct ilb_store *store, const struct ilb_store_change *change)
{
	int err = 0;

	for (int k = ILB_KIND_NONE + 1; k < ILB_KIND__COUNT; k++) {
		const struct ilb_kind_def *def = ilb_kind_def(k);
		int ret = def && def->follow ? def->follow(store, change) : 0;

		if (!err)
			err = ret;
	}
	return err;
}

static bool is_derived(const struct ilb_object *obj)
{
	const struct ilb_kind_def *def = ilb_kind_def(obj->kind);

	return def && def->derived_from && def->derived_from(obj)[0] != '\0';
}

int ilb_store_apply(struct ilb_store *store, const struct ilb_object *obj)
{
	struct kind_table *t;
	struct ilb_object *copy;
	int idx, err;

	if (!store || !obj || !kind_valid(obj->kind) || !obj->meta.name[0])
		return -EINVAL;
	t = &store->kinds[obj->kind];
	idx = table_find(t, obj->meta.ns, obj->meta.name);
	if (idx >= 0 && ilb_object_equal(t->items[idx], obj)) {
		/* keep the newest resourceVersion without counting it as a change */
		memcpy(t->items[idx]->meta.resource_version, obj->meta.resource_version,
		       sizeof(obj->meta.resource_version));
		return 0;
	}
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	err = ilb_object_copy(copy, obj);
	if (err) {
		free(copy);
		return err;
	}
	if (idx >= 0) {
		ilb_object_free(t->items[idx]);
		free(t->items[idx]);
		t->items[idx] = copy;
	} else {
		idx = -idx - 1;
		if (t->count == t->cap) {
			int cap = t->cap ? t->cap * 2 : 16;
			struct ilb_object **items = realloc(t->items, cap * sizeof(*items));

			if (!items) {
				ilb_object_free(copy);
				free(copy);
				return -ENOMEM;
			}
			t->items = items;
			t->cap = cap;
		}
		memmove(&t->items[idx + 1], &t->items[idx], (t->count - idx) * sizeof(*t->items));
		t->items[idx] = copy;
		t->count++;
	}
	store->generation++;
	err = tell_followers(store, &(struct ilb_store_change){ .kind = obj->kind, .ns = copy->meta.ns,
							       .name = copy->meta.name,
							       .derived = is_derived(copy) });
	return err ? err : 1;
}

static int store_remove(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name,
			bool derived)
{
	char ns_copy[ILB_NS_MAX], name_copy[ILB_NAME_MAX];
	struct kind_table *t;
	int idx;

	if (!store || !kind_valid(kind) || !ns || !name)
		return 0;
	t = &store->kinds[kind];
	idx = table_find(t, ns, name);
	if (idx < 0 || is_derived(t->items[idx]) != derived)
		return 0;
	/* the caller's strings may be the object's own */
	snprintf(ns_copy, sizeof(ns_copy), "%s", ns);
	snprintf(name_copy, sizeof(name_copy), "%s", name);
	ilb_object_free(t->items[idx]);
	free(t->items[idx]);
	memmove(&t->items[idx], &t->items[idx + 1], (t->count - idx - 1) * sizeof(*t->items));
	t->count--;
	store->generation++;
	/* what follows has been removed already: an error leaves nothing to undo */
	tell_followers(store, &(struct ilb_store_change){ .kind = kind, .ns = ns_copy, .name = name_copy,
							  .removed = true, .derived = derived });
	return 1;
}

int ilb_store_delete(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name)
{
	return store_remove(store, kind, ns, name, false);
}

int ilb_store_delete_derived(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name)
{
	return store_remove(store, kind, ns, name, true);
}

uint64_t ilb_store_generation(const struct ilb_store *store)
{
	return store ? store->generation : 0;
}

int ilb_store_list(const struct ilb_store *store, enum ilb_kind kind, const struct ilb_object *const **out)
{
	if (!store || !kind_valid(kind)) {
		*out = NULL;
		return 0;
	}
	*out = (const struct ilb_object *const *)store->kinds[kind].items;
	return store->kinds[kind].count;
}

const struct ilb_object *ilb_store_get(const struct ilb_store *store, enum ilb_kind kind, const char *ns,
				       const char *name)
{
	int idx;

	if (!store || !kind_valid(kind) || !ns || !name)
		return NULL;
	idx = table_find(&store->kinds[kind], ns, name);
	return idx >= 0 ? store->kinds[kind].items[idx] : NULL;
}
