/* kn_derive.c - the InferencePool and InferenceObjective the store derives for each target
 * of a Knative Service annotated knative.aliyun.com/ai-gateway: made, updated and withdrawn
 * with the Service, and never over an object of the same name that a source wrote. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "knative.h"

#define LABEL_SERVICE "serving.knative.dev/service"
#define LABEL_REVISION "serving.knative.dev/revision"
#define QUEUE_PROXY_PORT 8012 /* Knative's queue-proxy, in front of every revision's pods */

static void derived_tag(char *buf, size_t len, const char *ns, const char *name)
{
	snprintf(buf, len, "Service %s/%s", ns, name);
}

/* The pools a Service stands for: one per target that takes traffic or has a tag's host. */
static bool wants_pool(const struct ilb_kservice *ks, int i)
{
	const struct ilb_kn_traffic *t = &ks->traffic[i];

	if (t->percent == 0 && !t->tag[0])
		return false;
	for (int j = 0; j < i; j++)
		if (strcmp(ks->traffic[j].pool, t->pool) == 0 && (ks->traffic[j].percent || ks->traffic[j].tag[0]))
			return false;
	return true;
}

static int derive_pair(const struct ilb_kservice *ks, const struct ilb_kn_traffic *t, const char *tag,
		       struct ilb_object *pool_obj, struct ilb_object *objective_obj)
{
	struct ilb_pool *pool = &pool_obj->pool;
	struct ilb_objective *objective = &objective_obj->objective;
	int err;

	pool_obj->kind = ILB_KIND_POOL;
	snprintf(pool->meta.ns, sizeof(pool->meta.ns), "%s", ks->meta.ns);
	snprintf(pool->meta.name, sizeof(pool->meta.name), "%s", t->pool);
	err = ilb_labels_set(&pool->meta.labels, LABEL_SERVICE, ks->meta.name);
	if (!err && t->revision[0])
		err = ilb_labels_set(&pool->selector, LABEL_REVISION, t->revision);
	else if (!err)
		err = ilb_labels_set(&pool->selector, LABEL_SERVICE, ks->meta.name);
	if (err)
		return err;
	pool->target_ports[0] = ks->container_port;
	pool->n_target_ports = 1;
	snprintf(pool->app_protocol, sizeof(pool->app_protocol), "%s", ks->app_protocol);
	/* there is no picker to lose: the pods are plain HTTP servers, as Knative's own ingress
	 * sees them, so the L4 lane may serve them when the agent is gone */
	pool->failure_mode = ILB_FAIL_OPEN;
	pool->queue_proxy_port = QUEUE_PROXY_PORT;
	snprintf(pool->derived_from, sizeof(pool->derived_from), "%s", tag);

	objective_obj->kind = ILB_KIND_OBJECTIVE;
	snprintf(objective->meta.ns, sizeof(objective->meta.ns), "%s", ks->meta.ns);
	snprintf(objective->meta.name, sizeof(objective->meta.name), "%s", t->pool);
	err = ilb_labels_set(&objective->meta.labels, LABEL_SERVICE, ks->meta.name);
	if (err)
		return err;
	objective->priority = ks->priority;
	objective->has_priority = ks->has_priority;
	snprintf(objective->pool_ref.group, sizeof(objective->pool_ref.group), "inference.networking.k8s.io");
	snprintf(objective->pool_ref.kind, sizeof(objective->pool_ref.kind), "InferencePool");
	snprintf(objective->pool_ref.name, sizeof(objective->pool_ref.name), "%s", t->pool);
	snprintf(objective->derived_from, sizeof(objective->derived_from), "%s", tag);
	return 0;
}

static void free_objects(struct ilb_object *objs, int n)
{
	for (int i = 0; i < n; i++)
		ilb_object_free(&objs[i]);
	free(objs);
}

/* Fills *out (malloc'd) with the Service's pools and objectives, in pairs; returns the count. */
static int derive(const struct ilb_kservice *ks, struct ilb_object **out)
{
	struct ilb_object *objs;
	char tag[ILB_DERIVED_MAX];
	int n = 0, err;

	*out = NULL;
	if (!ks || !ks->inference || ks->n_traffic == 0)
		return 0;
	objs = calloc(2 * ks->n_traffic, sizeof(*objs));
	if (!objs)
		return -ENOMEM;
	derived_tag(tag, sizeof(tag), ks->meta.ns, ks->meta.name);
	for (int i = 0; i < ks->n_traffic; i++) {
		if (!wants_pool(ks, i))
			continue;
		err = derive_pair(ks, &ks->traffic[i], tag, &objs[n], &objs[n + 1]);
		n += 2;
		if (err) {
			free_objects(objs, n);
			return err;
		}
	}
	*out = objs;
	return n;
}

static const char *object_derived_from(const struct ilb_object *obj)
{
	return obj->kind == ILB_KIND_POOL ? obj->pool.derived_from : obj->objective.derived_from;
}

/* Removes what the store holds from this Service and it no longer derives. */
static int withdraw_stale(struct ilb_store *store, const char *ns, const char *tag, const struct ilb_object *keep,
			  int n_keep)
{
	static const enum ilb_kind kinds[] = { ILB_KIND_POOL, ILB_KIND_OBJECTIVE };

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		const struct ilb_object *const *list;
		int n = ilb_store_list(store, kinds[k], &list), n_stale = 0;
		char (*stale)[ILB_NAME_MAX] = calloc(n ? n : 1, sizeof(*stale));

		if (!stale)
			return -ENOMEM;
		for (int i = 0; i < n; i++) {
			bool kept = false;

			if (strcmp(list[i]->meta.ns, ns) != 0 || strcmp(object_derived_from(list[i]), tag) != 0)
				continue;
			for (int j = 0; j < n_keep && !kept; j++)
				kept = keep[j].kind == kinds[k] && strcmp(keep[j].meta.name, list[i]->meta.name) == 0;
			if (!kept)
				snprintf(stale[n_stale++], sizeof(stale[0]), "%s", list[i]->meta.name);
		}
		/* removed after the walk: the list changes under each removal */
		for (int i = 0; i < n_stale; i++)
			ilb_store_delete_derived(store, kinds[k], ns, stale[i]);
		free(stale);
	}
	return 0;
}

static int sync_one(struct ilb_store *store, const char *ns, const char *name)
{
	const struct ilb_object *svc = ilb_store_get(store, ILB_KIND_KSERVICE, ns, name);
	struct ilb_object *objs;
	char tag[ILB_DERIVED_MAX];
	int n, err = 0;

	derived_tag(tag, sizeof(tag), ns, name);
	n = derive(svc ? &svc->kservice : NULL, &objs);
	if (n < 0)
		return n;
	for (int i = 0; i < n && !err; i++) {
		const struct ilb_object *existing = ilb_store_get(store, objs[i].kind, ns, objs[i].meta.name);

		/* one a source wrote, or another Service's, stays */
		if (existing && strcmp(object_derived_from(existing), tag) != 0)
			continue;
		err = ilb_store_apply(store, &objs[i]);
		err = err < 0 ? err : 0;
	}
	if (!err)
		err = withdraw_stale(store, ns, tag, objs, n);
	free_objects(objs, n);
	return err;
}

int ilb_kservice_sync(struct ilb_store *store, const char *ns, const char *name)
{
	const struct ilb_object *const *list;
	char (*names)[ILB_NAME_MAX];
	int n, n_names = 0, err = 0;

	if (name)
		return sync_one(store, ns, name);
	n = ilb_store_list(store, ILB_KIND_KSERVICE, &list);
	names = calloc(n ? n : 1, sizeof(*names));
	if (!names)
		return -ENOMEM;
	for (int i = 0; i < n; i++)
		if (strcmp(list[i]->meta.ns, ns) == 0)
			snprintf(names[n_names++], sizeof(names[0]), "%s", list[i]->meta.name);
	for (int i = 0; i < n_names && !err; i++)
		err = sync_one(store, ns, names[i]);
	free(names);
	return err;
}
