/* admin.c - how tests drive the server: apply and delete objects, compact history,
 * drop or end watch streams, stall, and read counters. Plain HTTP on loopback. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "admin.h"
#include "api.h"
#include "http.h"
#include "store.h"
#include "watch.h"
#include "yaml2json.h"

#define MAX_BODY (16 << 20)

static cJSON *result_json(const struct apply_result *r)
{
	cJSON *o = cJSON_CreateObject();
	char rv[32];

	snprintf(rv, sizeof(rv), "%llu", (unsigned long long)r->rv);
	cJSON_AddStringToObject(o, "op", r->op);
	cJSON_AddStringToObject(o, "kind", r->kind);
	if (r->ns[0])
		cJSON_AddStringToObject(o, "namespace", r->ns);
	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "resourceVersion", rv);
	return o;
}

/* Applies each document; "kind: ...List" documents item by item. Under the store lock. */
static int apply_docs(const cJSON *docs, cJSON *results, char *err, size_t errlen)
{
	const cJSON *doc;
	struct apply_result r;
	int n = 0, ret;

	cJSON_ArrayForEach(doc, docs) {
		const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "kind"));
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");

		if (kind && strlen(kind) > 4 && !strcmp(kind + strlen(kind) - 4, "List") && cJSON_IsArray(items)) {
			ret = apply_docs(items, results, err, errlen);
			if (ret < 0)
				return ret;
			n += ret;
			continue;
		}
		if (!cJSON_IsObject(doc)) {
			snprintf(err, errlen, "document %d is not an object", n + 1);
			return -EINVAL;
		}
		memset(&r, 0, sizeof(r));
		ret = store_apply(doc, &r, err, errlen);
		if (ret < 0)
			return ret;
		if (results)
			cJSON_AddItemToArray(results, result_json(&r));
		n++;
	}
	return n;
}

static int load_file(const char *path)
{
	char *text = NULL, err[300];
	size_t len;
	cJSON *docs;
	int ret;

	ret = read_file(path, &text, &len);
	if (ret < 0) {
		fprintf(stderr, "fake-apiserver: %s: %s\n", path, strerror(-ret));
		return ret;
	}
	docs = yaml_to_json(text, len, err, sizeof(err));
	free(text);
	if (!docs) {
		fprintf(stderr, "fake-apiserver: %s: %s\n", path, err);
		return -EINVAL;
	}
	store_lock();
	ret = apply_docs(docs, NULL, err, sizeof(err));
	store_unlock();
	cJSON_Delete(docs);
	if (ret < 0)
		fprintf(stderr, "fake-apiserver: %s: %s\n", path, err);
	return ret;
}

static int manifest_name(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	if (d->d_name[0] == '.')
		return 0;
	return (n > 5 && !strcmp(d->d_name + n - 5, ".yaml")) || (n > 4 && !strcmp(d->d_name + n - 4, ".yml")) ||
	       (n > 5 && !strcmp(d->d_name + n - 5, ".json"));
}

int admin_load_path(const char *path)
{
	struct dirent **ents;
	struct stat st;
	int n, total = 0, ret = 0;

	if (stat(path, &st) < 0) {
		ret = -errno;
		fprintf(stderr, "fake-apiserver: %s: %s\n", path, strerror(errno));
		return ret;
	}
	if (!S_ISDIR(st.st_mode))
		return load_file(path);
	n = scandir(path, &ents, manifest_name, alphasort);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char full[4096];

		snprintf(full, sizeof(full), "%s/%s", path, ents[i]->d_name);
		if (ret >= 0) {
			int r = load_file(full);

			if (r < 0)
				ret = r;
			else
				total += r;
		}
		free(ents[i]);
	}
	free(ents);
	return ret < 0 ? ret : total;
}

static enum MHD_Result reply_obj(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code, cJSON *o)
{
	return http_reply_json(c, ctx, code, o);
}

static enum MHD_Result reply_err(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "error", msg);
	return reply_obj(c, ctx, code, o);
}

static enum MHD_Result do_apply(struct MHD_Connection *c, struct req_ctx *ctx)
{
	char err[300] = "";
	cJSON *docs, *out, *results;
	int ret;

	docs = yaml_to_json(ctx->body.p ? ctx->body.p : "", ctx->body.len, err, sizeof(err));
	if (!docs)
		return reply_err(c, ctx, 400, err);
	out = cJSON_CreateObject();
	results = cJSON_AddArrayToObject(out, "results");
	store_lock();
	ret = apply_docs(docs, results, err, sizeof(err));
	store_unlock();
	cJSON_Delete(docs);
	if (ret < 0) {
		cJSON_AddStringToObject(out, "error", err);
		return reply_obj(c, ctx, ret == -ENOMEM ? 500 : 400, out);
	}
	return reply_obj(c, ctx, 200, out);
}

static const struct kres *lookup_kind(const char *api_version, const char *kind)
{
	if (!kind)
		return NULL;
	return api_version && *api_version ? res_by_kind(api_version, kind) : res_by_name(kind);
}

static enum MHD_Result do_delete(struct MHD_Connection *c, struct req_ctx *ctx)
{
	const char *kind = http_arg(c, "kind"), *ns = http_arg(c, "namespace"), *name = http_arg(c, "name");
	const struct kres *r;
	cJSON *out, *arr, *docs = NULL, *doc;
	char err[300];
	uint64_t rv;
	int ret = 0;

	out = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(out, "deleted");
	if (!kind && ctx->body.len) {	/* the objects of a YAML body, by kind and name */
		docs = yaml_to_json(ctx->body.p, ctx->body.len, err, sizeof(err));
		if (!docs) {
			cJSON_Delete(out);
			return reply_err(c, ctx, 400, err);
		}
	} else if (!kind || !name) {
		cJSON_Delete(out);
		return reply_err(c, ctx, 400, "kind and name are required");
	}
	store_lock();
	if (docs) {
		cJSON_ArrayForEach(doc, docs) {
			const cJSON *md = cJSON_GetObjectItemCaseSensitive(doc, "metadata");

			r = lookup_kind(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "apiVersion")),
					cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "kind")));
			name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
			ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
			if (!r || !name) {
				ret = -EINVAL;
				break;
			}
			ret = store_delete(r, ns, name, &rv);
			if (ret)
				break;
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		}
	} else {
		r = lookup_kind(http_arg(c, "apiVersion"), kind);
		ret = r ? store_delete(r, ns, name, &rv) : -EINVAL;
		if (!ret)
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
	}
	if (!ret) {
		char buf[32];

		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)store_rv());
		cJSON_AddStringToObject(out, "resourceVersion", buf);
	}
	store_unlock();
	cJSON_Delete(docs);
	if (ret == -ENOENT) {
		cJSON_Delete(out);
		return reply_err(c, ctx, 404, "not found");
	}
	if (ret) {
		cJSON_Delete(out);
		return reply_err(c, ctx, 400, ret == -EINVAL ? "unknown kind or missing name" : strerror(-ret));
	}
	return reply_obj(c, ctx, 200, out);
}

static enum MHD_Result do_stats(struct MHD_Connection *c, struct req_ctx *ctx)
{
	cJSON *o = cJSON_CreateObject(), *objs;
	char buf[32];

	store_lock();
	cJSON_AddNumberToObject(o, "requests", (double)stats.requests);
	cJSON_AddNumberToObject(o, "lists", (double)stats.lists);
	cJSON_AddNumberToObject(o, "gets", (double)stats.gets);
	cJSON_AddNumberToObject(o, "watches", (double)stats.watches);
	cJSON_AddNumberToObject(o, "watchesActive", (double)watch_count());
	cJSON_AddNumberToObject(o, "discovery", (double)stats.discovery);
	cJSON_AddNumberToObject(o, "unauthorized", (double)stats.unauthorized);
	cJSON_AddNumberToObject(o, "forbidden", (double)stats.forbidden);
	cJSON_AddNumberToObject(o, "eventsSent", (double)stats.events_sent);
	cJSON_AddNumberToObject(o, "bookmarks", (double)stats.bookmarks);
	cJSON_AddNumberToObject(o, "watchesDropped", (double)stats.dropped);
	cJSON_AddNumberToObject(o, "stalledRequests", (double)stats.stalled);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)store_rv());
	cJSON_AddStringToObject(o, "resourceVersion", buf);
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)store_compacted());
	cJSON_AddStringToObject(o, "compactedResourceVersion", buf);
	objs = cJSON_AddObjectToObject(o, "objects");
	for (int i = 0; i < n_resources; i++) {
		if (store_count(&resources[i])) {
			char key[160];

			snprintf(key, sizeof(key), "%s%s%s", resources[i].plural, resources[i].group[0] ? "." : "",
				 resources[i].group);
			cJSON_AddNumberToObject(objs, key, (double)store_count(&resources[i]));
		}
	}
	store_unlock();
	return reply_obj(c, ctx, 200, o);
}

static enum MHD_Result dispatch(struct MHD_Connection *c, struct req_ctx *ctx, const char *url, bool post)
{
	cJSON *o;
	char buf[32];
	int n;

	if (!strcmp(url, "/admin/stats") || !strcmp(url, "/admin/healthz"))
		return !strcmp(url, "/admin/stats") ? do_stats(c, ctx) : http_reply(c, ctx, 200, "text/plain", "ok", 2);
	if (!post)
		return reply_err(c, ctx, 405, "use POST");
	if (!strcmp(url, "/admin/apply"))
		return do_apply(c, ctx);
	if (!strcmp(url, "/admin/delete"))
		return do_delete(c, ctx);
	o = cJSON_CreateObject();
	store_lock();
	if (!strcmp(url, "/admin/compact")) {
		uint64_t rv = 0;
		const char *a = http_arg(c, "resourceVersion");

		if (a && parse_u64(a, &rv)) {
			store_unlock();
			cJSON_Delete(o);
			return reply_err(c, ctx, 400, "resourceVersion must be a number");
		}
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)store_compact(rv));
		cJSON_AddStringToObject(o, "compactedResourceVersion", buf);
	} else if (!strcmp(url, "/admin/drop-watches")) {
		n = watch_close_all(http_arg_bool(c, "clean") != 1);
		cJSON_AddNumberToObject(o, "closed", n);
	} else if (!strcmp(url, "/admin/bookmark")) {
		cJSON_AddNumberToObject(o, "sent", watch_bookmark_all());
	} else if (!strcmp(url, "/admin/stall")) {
		const char *s = http_arg(c, "seconds");
		double secs = 0;

		if (s && parse_duration(s, &secs)) {
			store_unlock();
			cJSON_Delete(o);
			return reply_err(c, ctx, 400, "seconds must be a duration");
		}
		stall_until = secs > 0 ? now_mono() + secs : 0;
		if (!secs) {	/* ending a stall early lets everything go at once */
			api_tick(now_mono());
			watch_tick(now_mono());
		}
		cJSON_AddNumberToObject(o, "seconds", secs);
	} else {
		store_unlock();
		cJSON_Delete(o);
		return reply_err(c, ctx, 404, "no such admin endpoint");
	}
	store_unlock();
	return reply_obj(c, ctx, 200, o);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req_ctx *ctx = *con_cls;

	if (!ctx)
		return MHD_NO;
	if (!ctx->started) {
		ctx->started = true;
		return MHD_YES;
	}
	if (*upload_size) {
		if (ctx->body.len + *upload_size > MAX_BODY)
			return MHD_NO;
		sbuf_add(&ctx->body, upload, *upload_size);
		*upload_size = 0;
		return ctx->body.oom ? MHD_NO : MHD_YES;
	}
	return dispatch(c, ctx, url, !strcmp(method, "POST") || !strcmp(method, "PUT"));
}

struct MHD_Daemon *admin_start(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG,
				(uint16_t)port, NULL, NULL, handler, NULL,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
				MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, NULL,
				MHD_OPTION_NOTIFY_COMPLETED, http_completed, (void *)"admin",
				MHD_OPTION_END);
}
