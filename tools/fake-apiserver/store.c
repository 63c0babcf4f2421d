/* store.c - objects, the global resourceVersion and the event history. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"
#include "util.h"
#include "watch.h"

struct bucket {
	struct kobj **objs;	/* sorted by (ns, name) */
	size_t n, cap;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct bucket *buckets;
static struct kevent *hist;
static size_t hist_n, hist_cap, hist_max;
static uint64_t cur_rv, compacted_rv;

struct fas_stats stats;

void store_lock(void)
{
	pthread_mutex_lock(&mu);
}

void store_unlock(void)
{
	pthread_mutex_unlock(&mu);
}

int store_init(uint64_t start_rv, size_t history_max)
{
	buckets = calloc((size_t)n_resources, sizeof(*buckets));
	if (!buckets)
		return -ENOMEM;
	cur_rv = compacted_rv = start_rv;
	hist_max = history_max ? history_max : 1;
	return 0;
}

uint64_t store_rv(void)
{
	return cur_rv;
}

uint64_t store_compacted(void)
{
	return compacted_rv;
}

void kobj_put(struct kobj *o)
{
	if (!o || --o->refs > 0)
		return;
	cJSON_Delete(o->json);
	free(o->text);
	free(o->item_text);
	free(o->ns);
	free(o->name);
	free(o);
}

void kobjs_put(struct kobj **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kobj_put(v[i]);
	free(v);
}

static int key_cmp(const char *ns1, const char *n1, const char *ns2, const char *n2)
{
	int c = strcmp(ns1, ns2);

	return c ? c : strcmp(n1, n2);
}

/* Index of the object, or of where it would go (with *found false). */
static size_t bucket_find(const struct bucket *b, const char *ns, const char *name, bool *found)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int c = key_cmp(b->objs[mid]->ns, b->objs[mid]->name, ns, name);

		if (!c) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

/* Takes ownership of json. */
static struct kobj *kobj_new(const struct kres *r, cJSON *json, uint64_t rv)
{
	struct kobj *o = calloc(1, sizeof(*o));
	cJSON *md = cJSON_GetObjectItemCaseSensitive(json, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	struct sbuf prefix = { 0 };

	if (!o)
		goto fail;
	o->refs = 1;
	o->res = r;
	o->rv = rv;
	o->json = json;
	o->ns = strdup(ns ? ns : "");
	o->name = strdup(name ? name : "");
	o->text = cJSON_PrintUnformatted(json);
	if (!o->ns || !o->name || !o->text)
		goto fail;
	/* Typed lists print items without apiVersion/kind; the object always starts with them. */
	sbuf_adds(&prefix, "{\"apiVersion\":");
	sbuf_json_str(&prefix, r->api_version);
	sbuf_adds(&prefix, ",\"kind\":");
	sbuf_json_str(&prefix, r->kind);
	sbuf_adds(&prefix, ",");
	if (prefix.oom)
		goto fail;
	if (r->builtin && !strncmp(o->text, prefix.p, prefix.len)) {
		o->item_text = malloc(strlen(o->text) - prefix.len + 2);
		if (!o->item_text)
			goto fail;
		o->item_text[0] = '{';
		strcpy(o->item_text + 1, o->text + prefix.len);
	} else {
		o->item_text = strdup(o->text);
		if (!o->item_text)
			goto fail;
	}
	sbuf_free(&prefix);
	return o;
fail:
	sbuf_free(&prefix);
	if (o) {
		o->json = NULL;
		kobj_put(o);
	}
	cJSON_Delete(json);
	return NULL;
}

static void history_trim(void)
{
	size_t drop;

	if (hist_n <= hist_max)
		return;
	drop = hist_n - hist_max;
	for (size_t i = 0; i < drop; i++) {
		kobj_put(hist[i].obj);
		kobj_put(hist[i].prev);
	}
	compacted_rv = hist[drop - 1].rv;
	memmove(hist, hist + drop, (hist_n - drop) * sizeof(*hist));
	hist_n -= drop;
}

/* Records the event (taking the caller's references) and tells the watches. */
static int record(enum ev_type type, struct kobj *obj, struct kobj *prev)
{
	struct kevent *ev;

	if (hist_n == hist_cap) {
		size_t cap = hist_cap ? hist_cap * 2 : 256;

		ev = realloc(hist, cap * sizeof(*hist));
		if (!ev)
			return -ENOMEM;
		hist = ev;
		hist_cap = cap;
	}
	ev = &hist[hist_n++];
	ev->rv = obj->rv;
	ev->type = type;
	ev->obj = obj;
	ev->prev = prev;
	watch_notify(ev);
	history_trim();
	return 0;
}

/* ObjectMeta members in the order Go marshals them; anything else follows. */
static const char *const meta_order[] = {
	"name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
	"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
	"annotations", "ownerReferences", "finalizers", "managedFields", NULL,
};

static cJSON *ordered_meta(cJSON *md)
{
	cJSON *out = cJSON_CreateObject(), *it;

	for (const char *const *k = meta_order; *k; k++) {
		it = cJSON_DetachItemFromObjectCaseSensitive(md, *k);
		if (it)
			cJSON_AddItemToObject(out, *k, it);
	}
	while ((it = md->child)) {
		cJSON_DetachItemViaPointer(md, it);
		cJSON_AddItemToObject(out, it->string, it);
	}
	cJSON_Delete(md);
	return out;
}

static void set_str(cJSON *obj, const char *key, const char *val)
{
	cJSON_DeleteItemFromObjectCaseSensitive(obj, key);
	cJSON_AddStringToObject(obj, key, val);
}

static const char *meta_str(const cJSON *obj, const char *key)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(obj, "metadata"), key));
}

/* The object as the server stores it: apiVersion and kind first, server-set metadata
 * filled in (kept from the old version on update), at resourceVersion rv. */
static cJSON *normalize(const cJSON *doc, const struct kres *r, const struct kobj *old, uint64_t rv)
{
	cJSON *out = cJSON_CreateObject(), *md, *it;
	char buf[64];

	if (!out)
		return NULL;
	cJSON_AddStringToObject(out, "apiVersion", r->api_version);
	cJSON_AddStringToObject(out, "kind", r->kind);
	md = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(doc, "metadata"), 1);
	if (!md)
		md = cJSON_CreateObject();
	cJSON_DeleteItemFromObjectCaseSensitive(md, "selfLink");
	if (r->namespaced) {
		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace")))
			set_str(md, "namespace", "default");
	} else {
		cJSON_DeleteItemFromObjectCaseSensitive(md, "namespace");
	}
	if (old) {
		set_str(md, "uid", meta_str(old->json, "uid"));
		set_str(md, "creationTimestamp", meta_str(old->json, "creationTimestamp"));
	} else {
		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "uid"))) {
			gen_uuid(buf, sizeof(buf));
			set_str(md, "uid", buf);
		}
		if (!cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "creationTimestamp"))) {
			now_rfc3339(buf, sizeof(buf));
			set_str(md, "creationTimestamp", buf);
		}
	}
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)rv);
	set_str(md, "resourceVersion", buf);
	cJSON_DeleteItemFromObjectCaseSensitive(md, "generation");
	/* Custom resources count spec changes in metadata.generation. */
	if (!r->builtin) {
		double gen = 1;

		if (old) {
			const cJSON *og = cJSON_GetObjectItemCaseSensitive(old->json, "metadata");

			og = cJSON_GetObjectItemCaseSensitive(og, "generation");
			gen = cJSON_IsNumber(og) ? og->valuedouble : 1;
			if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(doc, "spec"),
					   cJSON_GetObjectItemCaseSensitive(old->json, "spec"), 1))
				gen++;
		}
		cJSON_AddNumberToObject(md, "generation", gen);
	}
	cJSON_AddItemToObject(out, "metadata", ordered_meta(md));
	cJSON_ArrayForEach(it, doc) {
		if (!it->string || !strcmp(it->string, "apiVersion") || !strcmp(it->string, "kind") ||
		    !strcmp(it->string, "metadata"))
			continue;
		cJSON_AddItemToObject(out, it->string, cJSON_Duplicate(it, 1));
	}
	return out;
}

int store_apply(const cJSON *doc, struct apply_result *res, char *err, size_t errlen)
{
	const char *av = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "apiVersion"));
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "kind"));
	const char *name = meta_str(doc, "name"), *ns = meta_str(doc, "namespace");
	const char *gen_name = meta_str(doc, "generateName");
	const struct kres *r;
	struct bucket *b;
	struct kobj *old = NULL, *obj;
	cJSON *json;
	char gen_buf[254];
	bool found;
	size_t i;
	int ret;

	if (!av || !kind) {
		snprintf(err, errlen, "object has no apiVersion or kind");
		return -EINVAL;
	}
	r = res_by_kind(av, kind);
	if (!r) {
		snprintf(err, errlen, "no resource for %s %s", av, kind);
		return -ENOENT;
	}
	if ((!name || !name[0]) && gen_name) {
		char suffix[40];

		gen_uuid(suffix, sizeof(suffix));
		snprintf(gen_buf, sizeof(gen_buf), "%.240s%.5s", gen_name, suffix);
		name = gen_buf;
	}
	if (!name || !name[0]) {
		snprintf(err, errlen, "%s has no metadata.name", kind);
		return -EINVAL;
	}
	if (!r->namespaced || !ns || !ns[0])
		ns = r->namespaced ? "default" : "";
	b = &buckets[r->idx];
	i = bucket_find(b, ns, name, &found);
	if (found)
		old = b->objs[i];

	/* A copy with the name we settled on, so generateName lands in the stored object. */
	json = cJSON_Duplicate(doc, 1);
	if (!json)
		return -ENOMEM;
	if (!cJSON_GetObjectItemCaseSensitive(json, "metadata"))
		cJSON_AddObjectToObject(json, "metadata");
	set_str(cJSON_GetObjectItemCaseSensitive(json, "metadata"), "name", name);
	if (r->namespaced)
		set_str(cJSON_GetObjectItemCaseSensitive(json, "metadata"), "namespace", ns);

	snprintf(res->kind, sizeof(res->kind), "%s", kind);
	snprintf(res->ns, sizeof(res->ns), "%s", ns);
	snprintf(res->name, sizeof(res->name), "%s", name);
	if (old) {
		/* Same content at the old version: no write, no event, as with a no-op update. */
		cJSON *same = normalize(json, r, old, old->rv);
		bool unchanged = same && cJSON_Compare(same, old->json, 1);

		cJSON_Delete(same);
		if (unchanged) {
			cJSON_Delete(json);
			snprintf(res->op, sizeof(res->op), "unchanged");
			res->rv = old->rv;
			return 0;
		}
	}
	obj = kobj_new(r, normalize(json, r, old, cur_rv + 1), cur_rv + 1);
	cJSON_Delete(json);
	if (!obj || !obj->json) {
		kobj_put(obj);
		return -ENOMEM;
	}
	if (!old && b->n == b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 16;
		struct kobj **v = realloc(b->objs, cap * sizeof(*v));

		if (!v) {
			kobj_put(obj);
			return -ENOMEM;
		}
		b->objs = v;
		b->cap = cap;
	}
	cur_rv++;
	if (old) {
		b->objs[i] = obj;	/* the store's reference to old moves to the event */
	} else {
		memmove(b->objs + i + 1, b->objs + i, (b->n - i) * sizeof(*b->objs));
		b->objs[i] = obj;
		b->n++;
	}
	obj->refs++;
	ret = record(old ? EV_MODIFIED : EV_ADDED, obj, old);
	snprintf(res->op, sizeof(res->op), old ? "updated" : "created");
	res->rv = obj->rv;
	return ret;
}

int store_delete(const struct kres *r, const char *ns, const char *name, uint64_t *rv)
{
	struct bucket *b = &buckets[r->idx];
	struct kobj *old, *obj;
	cJSON *json;
	char buf[32];
	bool found;
	size_t i;

	if (!r->namespaced || !ns)
		ns = r->namespaced ? "default" : "";
	i = bucket_find(b, ns, name, &found);
	if (!found)
		return -ENOENT;
	old = b->objs[i];
	/* The DELETED event carries the last state at the deletion's resourceVersion. */
	json = cJSON_Duplicate(old->json, 1);
	if (!json)
		return -ENOMEM;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)(cur_rv + 1));
	cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(json, "metadata"),
					       "resourceVersion", cJSON_CreateString(buf));
	obj = kobj_new(r, json, cur_rv + 1);
	if (!obj)
		return -ENOMEM;
	cur_rv++;
	memmove(b->objs + i, b->objs + i + 1, (b->n - i - 1) * sizeof(*b->objs));
	b->n--;
	*rv = cur_rv;
	return record(EV_DELETED, obj, old);
}

uint64_t store_compact(uint64_t rv)
{
	size_t drop = 0;

	if (!rv || rv > cur_rv)
		rv = cur_rv;
	while (drop < hist_n && hist[drop].rv <= rv) {
		kobj_put(hist[drop].obj);
		kobj_put(hist[drop].prev);
		drop++;
	}
	memmove(hist, hist + drop, (hist_n - drop) * sizeof(*hist));
	hist_n -= drop;
	if (rv > compacted_rv)
		compacted_rv = rv;
	return compacted_rv;
}

size_t store_events_after(uint64_t rv, const struct kevent **evs)
{
	size_t lo = 0, hi = hist_n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (hist[mid].rv <= rv)
			lo = mid + 1;
		else
			hi = mid;
	}
	*evs = hist + lo;
	return hist_n - lo;
}

size_t store_count(const struct kres *r)
{
	return buckets[r->idx].n;
}

struct kobj *store_get(const struct kres *r, const char *ns, const char *name)
{
	struct bucket *b = &buckets[r->idx];
	bool found;
	size_t i = bucket_find(b, r->namespaced ? ns : "", name, &found);

	if (!found)
		return NULL;
	b->objs[i]->refs++;
	return b->objs[i];
}

static int obj_cmp(const void *a, const void *b)
{
	const struct kobj *x = *(struct kobj *const *)a, *y = *(struct kobj *const *)b;

	return key_cmp(x->ns, x->name, y->ns, y->name);
}

/* State at an older version: start from now and undo, newest first, every event after it. */
static int list_at(const struct kres *r, uint64_t at, struct bucket *out)
{
	const struct kevent *evs;
	size_t n = store_events_after(at, &evs), i;
	struct bucket *b = &buckets[r->idx];

	out->cap = b->n + n + 1;
	out->objs = calloc(out->cap, sizeof(*out->objs));
	if (!out->objs)
		return -ENOMEM;
	memcpy(out->objs, b->objs, b->n * sizeof(*b->objs));
	out->n = b->n;
	for (i = n; i-- > 0;) {
		const struct kevent *ev = &evs[i];
		bool found;
		size_t j;

		if (ev->obj->res != r)
			continue;
		j = bucket_find(out, ev->obj->ns, ev->obj->name, &found);
		if (ev->type == EV_ADDED) {
			if (found) {
				memmove(out->objs + j, out->objs + j + 1, (out->n - j - 1) * sizeof(*out->objs));
				out->n--;
			}
		} else if (found) {
			out->objs[j] = ev->prev;
		} else {
			memmove(out->objs + j + 1, out->objs + j, (out->n - j) * sizeof(*out->objs));
			out->objs[j] = ev->prev;
			out->n++;
		}
	}
	return 0;
}

int store_list(const struct kres *r, const char *ns, uint64_t at, struct kobj ***out, size_t *n)
{
	struct bucket all = { 0 };
	size_t k = 0;
	int ret;

	if (at && at < compacted_rv)
		return -ESTALE;
	if (at > cur_rv)
		return -ERANGE;
	if (at && at < cur_rv) {
		ret = list_at(r, at, &all);
		if (ret)
			return ret;
	} else {
		all.n = buckets[r->idx].n;
		all.objs = malloc((all.n + 1) * sizeof(*all.objs));
		if (!all.objs)
			return -ENOMEM;
		memcpy(all.objs, buckets[r->idx].objs, all.n * sizeof(*all.objs));
	}
	for (size_t i = 0; i < all.n; i++) {
		if (ns && strcmp(all.objs[i]->ns, ns))
			continue;
		all.objs[i]->refs++;
		all.objs[k++] = all.objs[i];
	}
	qsort(all.objs, k, sizeof(*all.objs), obj_cmp);
	*out = all.objs;
	*n = k;
	return 0;
}
