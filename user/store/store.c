/* store.c - the object model's plumbing: labels, addresses, deep copies and equality of
 * decoded objects, and the store that keeps them by kind, namespace and name. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

const char *ilb_kind_name(enum ilb_kind kind)
{
	static const char *const names[ILB_KIND__COUNT] = {
		[ILB_KIND_NONE] = "None",
		[ILB_KIND_POD] = "Pod",
		[ILB_KIND_POOL] = "InferencePool",
		[ILB_KIND_OBJECTIVE] = "InferenceObjective",
		[ILB_KIND_MODEL_REWRITE] = "InferenceModelRewrite",
		[ILB_KIND_INFERENCE_MODEL] = "InferenceModel",
		[ILB_KIND_GATEWAY] = "Gateway",
		[ILB_KIND_HTTPROUTE] = "HTTPRoute",
		[ILB_KIND_KSERVICE] = "Service",
		[ILB_KIND_KN_DOMAIN] = "ConfigMap",
		[ILB_KIND_KN_SKS] = "ServerlessService",
		[ILB_KIND_KN_ENDPOINTS] = "Endpoints",
	};

	if ((unsigned)kind >= ILB_KIND__COUNT)
		return "Unknown";
	return names[kind];
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

/* ---- free and copy ---- */

static void free_targets(struct ilb_weighted_model **targets, int *n)
{
	free(*targets);
	*targets = NULL;
	*n = 0;
}

void ilb_object_free(struct ilb_object *obj)
{
	if (!obj)
		return;
	switch (obj->kind) {
	case ILB_KIND_POOL:
		ilb_labels_free(&obj->pool.selector);
		break;
	case ILB_KIND_INFERENCE_MODEL:
		free_targets(&obj->model.targets, &obj->model.n_targets);
		break;
	case ILB_KIND_MODEL_REWRITE:
		for (int i = 0; i < obj->rewrite.n_rules; i++)
			free_targets(&obj->rewrite.rules[i].targets, &obj->rewrite.rules[i].n_targets);
		free(obj->rewrite.rules);
		break;
	case ILB_KIND_HTTPROUTE:
		for (int i = 0; i < obj->route.n_rules; i++) {
			free(obj->route.rules[i].matches);
			free(obj->route.rules[i].backends);
		}
		free(obj->route.rules);
		free(obj->route.parents);
		free(obj->route.hostnames);
		break;
	case ILB_KIND_KSERVICE:
		free(obj->kservice.traffic);
		break;
	case ILB_KIND_KN_DOMAIN:
		ilb_kn_domain_free_rules(&obj->kn_domain);
		break;
	default:
		break;
	}
	if (obj->kind != ILB_KIND_NONE) {
		ilb_labels_free(&obj->meta.labels);
		ilb_labels_free(&obj->meta.annotations);
	}
	memset(obj, 0, sizeof(*obj));
}

/* Duplicates n elements of size each; NULL only on failure when n > 0. */
static void *dup_array(const void *src, int n, size_t size)
{
	void *copy;

	if (n <= 0 || !src)
		return NULL;
	copy = malloc(n * size);
	if (copy)
		memcpy(copy, src, n * size);
	return copy;
}

#define DUP_OR_FAIL(dst, src, n)                                            \
	do {                                                                \
		(dst) = dup_array((src), (n), sizeof(*(src)));              \
		if ((n) > 0 && !(dst))                                      \
			goto nomem;                                         \
	} while (0)

/* Zeroes every owned pointer (and its count) in a shallow copy so that a failed deep copy
 * can be released with ilb_object_free without touching the source. */
static void detach_pointers(struct ilb_object *obj)
{
	obj->meta.labels = (struct ilb_labels){ 0 };
	obj->meta.annotations = (struct ilb_labels){ 0 };
	switch (obj->kind) {
	case ILB_KIND_POOL:
		obj->pool.selector = (struct ilb_labels){ 0 };
		break;
	case ILB_KIND_INFERENCE_MODEL:
		obj->model.targets = NULL;
		obj->model.n_targets = 0;
		break;
	case ILB_KIND_MODEL_REWRITE:
		obj->rewrite.rules = NULL;
		obj->rewrite.n_rules = 0;
		break;
	case ILB_KIND_HTTPROUTE:
		obj->route.parents = NULL;
		obj->route.n_parents = 0;
		obj->route.hostnames = NULL;
		obj->route.n_hostnames = 0;
		obj->route.rules = NULL;
		obj->route.n_rules = 0;
		break;
	case ILB_KIND_KSERVICE:
		obj->kservice.traffic = NULL;
		obj->kservice.n_traffic = 0;
		break;
	case ILB_KIND_KN_DOMAIN:
		obj->kn_domain.rules = NULL;
		obj->kn_domain.n_rules = 0;
		break;
	default:
		break;
	}
}

static int copy_rewrite(struct ilb_model_rewrite *dst, const struct ilb_model_rewrite *src)
{
	if (src->n_rules <= 0)
		return 0;
	dst->rules = calloc(src->n_rules, sizeof(*dst->rules));
	if (!dst->rules)
		return -ENOMEM;
	dst->n_rules = src->n_rules;
	for (int i = 0; i < src->n_rules; i++) {
		const struct ilb_rewrite_rule *from = &src->rules[i];
		struct ilb_rewrite_rule *to = &dst->rules[i];

		memcpy(to->match_model, from->match_model, sizeof(to->match_model));
		DUP_OR_FAIL(to->targets, from->targets, from->n_targets);
		to->n_targets = from->n_targets;
	}
	return 0;
nomem:
	return -ENOMEM;
}

static int copy_route(struct ilb_httproute *dst, const struct ilb_httproute *src)
{
	DUP_OR_FAIL(dst->parents, src->parents, src->n_parents);
	dst->n_parents = src->n_parents;
	DUP_OR_FAIL(dst->hostnames, src->hostnames, src->n_hostnames);
	dst->n_hostnames = src->n_hostnames;
	if (src->n_rules <= 0)
		return 0;
	dst->rules = calloc(src->n_rules, sizeof(*dst->rules));
	if (!dst->rules)
		return -ENOMEM;
	dst->n_rules = src->n_rules;
	for (int i = 0; i < src->n_rules; i++) {
		const struct ilb_route_rule *from = &src->rules[i];
		struct ilb_route_rule *to = &dst->rules[i];

		DUP_OR_FAIL(to->matches, from->matches, from->n_matches);
		to->n_matches = from->n_matches;
		DUP_OR_FAIL(to->backends, from->backends, from->n_backends);
		to->n_backends = from->n_backends;
	}
	return 0;
nomem:
	return -ENOMEM;
}

int ilb_object_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	int err;

	*dst = *src;
	detach_pointers(dst);
	err = ilb_labels_copy(&dst->meta.labels, &src->meta.labels);
	if (!err)
		err = ilb_labels_copy(&dst->meta.annotations, &src->meta.annotations);
	if (err)
		goto fail;
	switch (src->kind) {
	case ILB_KIND_POOL:
		err = ilb_labels_copy(&dst->pool.selector, &src->pool.selector);
		break;
	case ILB_KIND_INFERENCE_MODEL:
		DUP_OR_FAIL(dst->model.targets, src->model.targets, src->model.n_targets);
		dst->model.n_targets = src->model.n_targets;
		break;
	case ILB_KIND_MODEL_REWRITE:
		err = copy_rewrite(&dst->rewrite, &src->rewrite);
		break;
	case ILB_KIND_HTTPROUTE:
		err = copy_route(&dst->route, &src->route);
		break;
	case ILB_KIND_KSERVICE:
		DUP_OR_FAIL(dst->kservice.traffic, src->kservice.traffic, src->kservice.n_traffic);
		dst->kservice.n_traffic = src->kservice.n_traffic;
		break;
	case ILB_KIND_KN_DOMAIN:
		err = ilb_kn_domain_copy_rules(&dst->kn_domain, &src->kn_domain);
		break;
	default:
		break;
	}
	if (err)
		goto fail;
	return 0;
nomem:
	err = -ENOMEM;
fail:
	ilb_object_free(dst);
	return err;
}

/* ---- equality ---- */

#define STR_EQ(a, b) (strncmp((a), (b), sizeof(a)) == 0)

static bool meta_equal(const struct ilb_meta *a, const struct ilb_meta *b)
{
	return STR_EQ(a->ns, b->ns) && STR_EQ(a->name, b->name) && STR_EQ(a->uid, b->uid) &&
	       ilb_labels_equal(&a->labels, &b->labels) && ilb_labels_equal(&a->annotations, &b->annotations);
}

static bool pod_equal(const struct ilb_pod *a, const struct ilb_pod *b)
{
	if (a->n_ips != b->n_ips || a->ready != b->ready || a->terminating != b->terminating ||
	    a->n_ports != b->n_ports || !STR_EQ(a->node_name, b->node_name))
		return false;
	for (int i = 0; i < a->n_ips; i++)
		if (!ilb_addr_equal(&a->ips[i], &b->ips[i]))
			return false;
	for (int i = 0; i < a->n_ports; i++)
		if (a->ports[i].port != b->ports[i].port || !STR_EQ(a->ports[i].name, b->ports[i].name))
			return false;
	return true;
}

static bool pool_equal(const struct ilb_pool *a, const struct ilb_pool *b)
{
	if (a->legacy != b->legacy || a->n_target_ports != b->n_target_ports ||
	    a->failure_mode != b->failure_mode || !STR_EQ(a->app_protocol, b->app_protocol) ||
	    !STR_EQ(a->epp_name, b->epp_name) || !ilb_labels_equal(&a->selector, &b->selector))
		return false;
	for (int i = 0; i < a->n_target_ports; i++)
		if (a->target_ports[i] != b->target_ports[i])
			return false;
	if (a->has_vip != b->has_vip || a->queue_proxy_port != b->queue_proxy_port ||
	    !STR_EQ(a->derived_from, b->derived_from))
		return false;
	return !a->has_vip || (ilb_addr_equal(&a->vip, &b->vip) && a->vip_port == b->vip_port &&
			       a->vip_proto == b->vip_proto);
}

static bool pool_ref_equal(const struct ilb_pool_ref *a, const struct ilb_pool_ref *b)
{
	return STR_EQ(a->group, b->group) && STR_EQ(a->kind, b->kind) && STR_EQ(a->name, b->name);
}

static bool targets_equal(const struct ilb_weighted_model *a, int na, const struct ilb_weighted_model *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (a[i].weight != b[i].weight || !STR_EQ(a[i].name, b[i].name))
			return false;
	return true;
}

static bool rewrite_equal(const struct ilb_model_rewrite *a, const struct ilb_model_rewrite *b)
{
	if (!pool_ref_equal(&a->pool_ref, &b->pool_ref) || a->n_rules != b->n_rules)
		return false;
	for (int i = 0; i < a->n_rules; i++) {
		const struct ilb_rewrite_rule *ra = &a->rules[i], *rb = &b->rules[i];

		if (!STR_EQ(ra->match_model, rb->match_model) ||
		    !targets_equal(ra->targets, ra->n_targets, rb->targets, rb->n_targets))
			return false;
	}
	return true;
}

static bool gateway_equal(const struct ilb_gateway *a, const struct ilb_gateway *b)
{
	if (!STR_EQ(a->class_name, b->class_name) || a->n_listeners != b->n_listeners ||
	    a->n_addresses != b->n_addresses)
		return false;
	for (int i = 0; i < a->n_listeners; i++) {
		const struct ilb_listener *la = &a->listeners[i], *lb = &b->listeners[i];

		if (la->port != lb->port || !STR_EQ(la->name, lb->name) || !STR_EQ(la->protocol, lb->protocol))
			return false;
	}
	for (int i = 0; i < a->n_addresses; i++)
		if (!ilb_addr_equal(&a->addresses[i], &b->addresses[i]))
			return false;
	return true;
}

static bool route_rule_equal(const struct ilb_route_rule *a, const struct ilb_route_rule *b)
{
	if (a->n_matches != b->n_matches || a->n_backends != b->n_backends)
		return false;
	for (int i = 0; i < a->n_matches; i++) {
		const struct ilb_route_match *ma = &a->matches[i], *mb = &b->matches[i];

		if (ma->path_type != mb->path_type || !STR_EQ(ma->path, mb->path) || !STR_EQ(ma->method, mb->method))
			return false;
	}
	for (int i = 0; i < a->n_backends; i++) {
		const struct ilb_backend_ref *ba = &a->backends[i], *bb = &b->backends[i];

		if (ba->port != bb->port || ba->weight != bb->weight || !STR_EQ(ba->group, bb->group) ||
		    !STR_EQ(ba->kind, bb->kind) || !STR_EQ(ba->ns, bb->ns) || !STR_EQ(ba->name, bb->name))
			return false;
	}
	return true;
}

static bool route_equal(const struct ilb_httproute *a, const struct ilb_httproute *b)
{
	if (a->n_parents != b->n_parents || a->n_hostnames != b->n_hostnames || a->n_rules != b->n_rules)
		return false;
	for (int i = 0; i < a->n_parents; i++) {
		const struct ilb_parent_ref *pa = &a->parents[i], *pb = &b->parents[i];

		if (pa->port != pb->port || !STR_EQ(pa->ns, pb->ns) || !STR_EQ(pa->name, pb->name) ||
		    !STR_EQ(pa->section, pb->section))
			return false;
	}
	for (int i = 0; i < a->n_hostnames; i++)
		if (!STR_EQ(a->hostnames[i], b->hostnames[i]))
			return false;
	for (int i = 0; i < a->n_rules; i++)
		if (!route_rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

bool ilb_object_equal(const struct ilb_object *a, const struct ilb_object *b)
{
	if (a->kind != b->kind || !meta_equal(&a->meta, &b->meta))
		return false;
	switch (a->kind) {
	case ILB_KIND_POD:
		return pod_equal(&a->pod, &b->pod);
	case ILB_KIND_POOL:
		return pool_equal(&a->pool, &b->pool);
	case ILB_KIND_OBJECTIVE:
		return a->objective.priority == b->objective.priority &&
		       a->objective.has_priority == b->objective.has_priority &&
		       STR_EQ(a->objective.derived_from, b->objective.derived_from) &&
		       pool_ref_equal(&a->objective.pool_ref, &b->objective.pool_ref);
	case ILB_KIND_MODEL_REWRITE:
		return rewrite_equal(&a->rewrite, &b->rewrite);
	case ILB_KIND_INFERENCE_MODEL:
		return STR_EQ(a->model.model_name, b->model.model_name) &&
		       a->model.criticality == b->model.criticality &&
		       pool_ref_equal(&a->model.pool_ref, &b->model.pool_ref) &&
		       targets_equal(a->model.targets, a->model.n_targets, b->model.targets, b->model.n_targets);
	case ILB_KIND_GATEWAY:
		return gateway_equal(&a->gateway, &b->gateway);
	case ILB_KIND_HTTPROUTE:
		return route_equal(&a->route, &b->route);
	case ILB_KIND_KSERVICE:
		return ilb_kservice_equal(&a->kservice, &b->kservice);
	case ILB_KIND_KN_DOMAIN:
		return ilb_kn_domain_equal(&a->kn_domain, &b->kn_domain);
	case ILB_KIND_KN_SKS:
		return ilb_kn_sks_equal(&a->kn_sks, &b->kn_sks);
	case ILB_KIND_KN_ENDPOINTS:
		return ilb_kn_endpoints_equal(&a->kn_endpoints, &b->kn_endpoints);
	default:
		return true;
	}
}

/* ---- the store ---- */

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
	if (obj->kind == ILB_KIND_KSERVICE) {
		err = ilb_kservice_sync(store, copy->meta.ns, copy->meta.name);
		if (err)
			return err;
	}
	return 1;
}

static const char *derived_from(const struct ilb_object *obj)
{
	if (obj->kind == ILB_KIND_POOL)
		return obj->pool.derived_from;
	if (obj->kind == ILB_KIND_OBJECTIVE)
		return obj->objective.derived_from;
	return "";
}

static int store_remove(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name,
			bool derived)
{
	char ns_copy[ILB_NS_MAX], name_copy[ILB_NAME_MAX];
	struct kind_table *t;
	bool written, kservice = kind == ILB_KIND_KSERVICE;
	int idx;

	if (!store || !kind_valid(kind) || !ns || !name)
		return 0;
	t = &store->kinds[kind];
	idx = table_find(t, ns, name);
	if (idx < 0 || (derived_from(t->items[idx])[0] != '\0') != derived)
		return 0;
	written = (kind == ILB_KIND_POOL || kind == ILB_KIND_OBJECTIVE) && !derived;
	/* the caller's strings may be the object's own */
	snprintf(ns_copy, sizeof(ns_copy), "%s", ns);
	snprintf(name_copy, sizeof(name_copy), "%s", name);
	ilb_object_free(t->items[idx]);
	free(t->items[idx]);
	memmove(&t->items[idx], &t->items[idx + 1], (t->count - idx - 1) * sizeof(*t->items));
	t->count--;
	store->generation++;
	/* a Service's pools go with it; a written pool gone may uncover a derived one */
	if (kservice)
		ilb_kservice_sync(store, ns_copy, name_copy);
	else if (written)
		ilb_kservice_sync(store, ns_copy, NULL);
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
