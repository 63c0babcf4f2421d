/* kube_sync.c - the Kubernetes source on the agent's loop: applies what the watcher thread
 * queued to the store, keeping each kind's own view so that a fresh list can replace it; its
 * status; start and stop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "kube_int.h"
#include "log.h"

static int compare_names(const char *ns_a, const char *name_a, const char *ns_b, const char *name_b)
{
	int c = strcmp(ns_a, ns_b);

	return c ? c : strcmp(name_a, name_b);
}

static int compare_idents(const void *a, const void *b)
{
	const struct ident *x = a, *y = b;

	return compare_names(x->ns, x->name, y->ns, y->name);
}

static void op_free(struct op *op)
{
	ilb_object_free(&op->obj);
	free(op->listed);
	free(op);
}

static int upsert(struct ilb_kube *k, struct resource *r, const struct ilb_object *obj)
{
	int ret = ilb_store_apply(r->shadow, obj);

	if (ret >= 0)
		ret = ilb_store_apply(k->store, obj);
	if (ret < 0)
		pr_warn("kubernetes %s %s/%s: %s", r->def->kind, obj->meta.ns, obj->meta.name, strerror(-ret));
	return ret > 0;
}

static int withdraw(struct ilb_kube *k, struct resource *r, const char *ns, const char *name)
{
	enum ilb_kind kind = r->def->ilb_kind;

	if (ilb_store_delete(r->shadow, kind, ns, name) <= 0)
		return 0;
	/* InferencePool comes in two versions: the other one may still define it */
	for (int i = 0; i < KUBE_KINDS; i++) {
		const struct ilb_object *other;

		if (&k->res[i] == r || k->res[i].def->ilb_kind != kind)
			continue;
		other = ilb_store_get(k->res[i].shadow, kind, ns, name);
		if (other)
			return ilb_store_apply(k->store, other) > 0;
	}
	return ilb_store_delete(k->store, kind, ns, name) > 0;
}

static bool listed(const struct op *op, const char *ns, const char *name)
{
	struct ident id = { 0 };

	snprintf(id.ns, sizeof(id.ns), "%s", ns);
	snprintf(id.name, sizeof(id.name), "%s", name);
	return bsearch(&id, op->listed, op->n_listed, sizeof(*op->listed), compare_idents);
}

/* A fresh list, whose objects came before it as upserts: what it lacks is withdrawn. */
static int replace(struct ilb_kube *k, struct resource *r, struct op *op)
{
	const struct ilb_object *const *have;
	struct ident *gone;
	int n, n_gone = 0, changes = 0;

	n = ilb_store_list(r->shadow, r->def->ilb_kind, &have);
	/* the list is only valid until the store changes: collect first, withdraw after */
	gone = calloc(n ? n : 1, sizeof(*gone));
	if (!gone)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (listed(op, have[i]->meta.ns, have[i]->meta.name))
			continue;
		snprintf(gone[n_gone].ns, sizeof(gone->ns), "%s", have[i]->meta.ns);
		snprintf(gone[n_gone].name, sizeof(gone->name), "%s", have[i]->meta.name);
		n_gone++;
	}
	for (int i = 0; i < n_gone; i++)
		changes += withdraw(k, r, gone[i].ns, gone[i].name);
	if (n_gone)
		pr_info("kubernetes %s: %d objects gone since the last list", r->def->name, n_gone);
	free(gone);
	r->synced = true;
	r->missing = op->missing;
	return changes;
}

int ilb_kube_process(struct ilb_kube *k)
{
	struct op *op, *next;
	uint64_t count;
	int changes = 0, ret;

	if (!k)
		return -EINVAL;
	if (read(k->efd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		return -errno;
	pthread_mutex_lock(&k->lock);
	op = k->head;
	k->head = k->tail = NULL;
	pthread_mutex_unlock(&k->lock);
	for (; op; op = next) {
		struct resource *r = &k->res[op->res];

		next = op->next;
		switch (op->type) {
		case OP_UPSERT:
			changes += upsert(k, r, &op->obj);
			break;
		case OP_DELETE:
			changes += withdraw(k, r, op->id.ns, op->id.name);
			break;
		case OP_REPLACE:
			ret = replace(k, r, op);
			changes += ret > 0 ? ret : 0;
			break;
		}
		op_free(op);
	}
	return changes;
}

int ilb_kube_fd(const struct ilb_kube *k)
{
	return k ? k->efd : -1;
}

bool ilb_kube_synced(const struct ilb_kube *k)
{
	for (int i = 0; k && i < KUBE_KINDS; i++)
		if (!k->res[i].synced)
			return false;
	return true;
}

cJSON *ilb_kube_status(struct ilb_kube *k)
{
	cJSON *src = cJSON_CreateObject(), *kinds;
	int objects = 0;

	cJSON_AddStringToObject(src, "kind", "kubernetes");
	cJSON_AddStringToObject(src, "location", k->creds.origin ? k->creds.origin : "");
	cJSON_AddBoolToObject(src, "synced", ilb_kube_synced(k));
	kinds = cJSON_AddArrayToObject(src, "kinds");
	pthread_mutex_lock(&k->lock);
	for (int i = 0; i < KUBE_KINDS; i++) {
		struct resource *r = &k->res[i];
		const struct ilb_object *const *list;
		cJSON *item = cJSON_CreateObject();
		int n = ilb_store_list(r->shadow, r->def->ilb_kind, &list);

		objects += n;
		cJSON_AddStringToObject(item, "name", r->def->name);
		cJSON_AddBoolToObject(item, "synced", r->synced);
		cJSON_AddBoolToObject(item, "missing", r->missing);
		cJSON_AddBoolToObject(item, "watching", r->watching);
		cJSON_AddNumberToObject(item, "objects", n);
		cJSON_AddStringToObject(item, "resource_version", r->shown_rv);
		cJSON_AddNumberToObject(item, "lists", r->lists);
		cJSON_AddNumberToObject(item, "events", r->events);
		cJSON_AddStringToObject(item, "error", r->error);
		cJSON_AddItemToArray(kinds, item);
	}
	cJSON_AddNumberToObject(src, "objects", objects);
	cJSON_AddNumberToObject(src, "errors", k->n_errors);
	cJSON_AddStringToObject(src, "last_error", k->last_error);
	pthread_mutex_unlock(&k->lock);
	return src;
}

struct ilb_kube *ilb_kube_start(struct ilb_kube_creds *creds, struct ilb_store *store)
{
	struct ilb_kube *k = calloc(1, sizeof(*k));
	int err = -ENOMEM;

	if (!k)
		return NULL;
	pthread_mutex_init(&k->lock, NULL);
	k->creds = *creds;
	memset(creds, 0, sizeof(*creds));
	k->store = store;
	k->seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	k->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (k->efd < 0) {
		err = -errno;
		goto fail;
	}
	if (k->creds.token && !(k->token = strdup(k->creds.token)))
		goto fail;
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		goto fail;
	k->multi = curl_multi_init();
	if (!k->multi)
		goto fail;
	for (int i = 0; i < KUBE_KINDS; i++) {
		struct resource *r = &k->res[i];

		r->def = &kind_defs[i];
		r->k = k;
		r->backoff_ms = BACKOFF_MIN_MS;
		r->easy = curl_easy_init();
		r->shadow = ilb_store_new();
		if (!r->easy || !r->shadow)
			goto fail;
	}
	err = -pthread_create(&k->thread, NULL, kube_watcher_main, k);
	if (err)
		goto fail;
	k->started = true;
	pr_info("kubernetes: watching %d kinds through %s", KUBE_KINDS, k->creds.origin);
	return k;
fail:
	ilb_kube_stop(k);
	errno = -err;
	return NULL;
}

void ilb_kube_stop(struct ilb_kube *k)
{
	struct op *op, *next;

	if (!k)
		return;
	if (k->started) {
		atomic_store(&k->stopping, true);
		curl_multi_wakeup(k->multi);
		pthread_join(k->thread, NULL);
	}
	for (int i = 0; i < KUBE_KINDS; i++) {
		struct resource *r = &k->res[i];

		if (r->easy) {
			if (r->phase != PH_WAIT)
				curl_multi_remove_handle(k->multi, r->easy);
			curl_easy_cleanup(r->easy);
		}
		curl_slist_free_all(r->headers);
		free(r->body);
		free(r->cont);
		free(r->listed);
		for (int j = 0; j < r->n_reported; j++)
			free(r->reported[j].msg);
		free(r->reported);
		if (r->shadow)
			ilb_store_free(r->shadow);
	}
	if (k->multi) {
		curl_multi_cleanup(k->multi);
		curl_global_cleanup();
	}
	for (op = k->head; op; op = next) {
		next = op->next;
		op_free(op);
	}
	if (k->efd >= 0)
		close(k->efd);
	free(k->token);
	ilb_kube_creds_free(&k->creds);
	pthread_mutex_destroy(&k->lock);
	free(k);
}
