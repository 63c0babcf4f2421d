/* api.c - the kube-apiserver side: authentication, routing, discovery, get and list.
 * Watches are handed to watch.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include "api.h"
#include "http.h"
#include "resource.h"
#include "selector.h"
#include "store.h"
#include "watch.h"

#define ANONYMOUS "system:anonymous"

static const struct api_opts *opts;
static char server_addr[80];
static struct MHD_Connection **held;	/* requests waiting out a stall */
static size_t n_held, cap_held;

struct target {
	const struct kres *res;
	const char *ns;		/* NULL: all namespaces */
	const char *name;	/* NULL: the collection */
	bool watch_path;	/* the deprecated /watch/ prefix */
	char buf[1024];
};

static const char *res_display(const struct kres *r, char *buf, size_t len)
{
	if (r->group[0])
		snprintf(buf, len, "%s.%s", r->plural, r->group);
	else
		snprintf(buf, len, "%s", r->plural);
	return buf;
}

static cJSON *res_details(const struct kres *r, const char *name)
{
	cJSON *d = cJSON_CreateObject();

	if (name)
		cJSON_AddStringToObject(d, "name", name);
	if (r->group[0])
		cJSON_AddStringToObject(d, "group", r->group);
	cJSON_AddStringToObject(d, "kind", r->plural);
	return d;
}

static enum MHD_Result not_found_path(struct MHD_Connection *c, struct req_ctx *ctx)
{
	return http_status(c, ctx, 404, "NotFound", "the server could not find the requested resource",
			   cJSON_CreateObject());
}

static enum MHD_Result invalid(struct MHD_Connection *c, struct req_ctx *ctx, const char *field,
			       const char *msg)
{
	cJSON *d = cJSON_CreateObject(), *causes, *cause;
	char full[512];

	snprintf(full, sizeof(full), "ListOptions.meta.k8s.io \"\" is invalid: %s: Forbidden: %s", field, msg);
	cJSON_AddStringToObject(d, "group", "meta.k8s.io");
	cJSON_AddStringToObject(d, "kind", "ListOptions");
	causes = cJSON_AddArrayToObject(d, "causes");
	cause = cJSON_CreateObject();
	cJSON_AddStringToObject(cause, "reason", "FieldValueForbidden");
	cJSON_AddStringToObject(cause, "message", msg);
	cJSON_AddStringToObject(cause, "field", field);
	cJSON_AddItemToArray(causes, cause);
	return http_status(c, ctx, 422, "Invalid", full, d);
}

static enum MHD_Result forbidden(struct MHD_Connection *c, struct req_ctx *ctx, const char *user,
				 const char *verb, const struct target *t, const char *path)
{
	char msg[1024], rd[160];

	stats.forbidden++;
	if (!t) {
		snprintf(msg, sizeof(msg), "forbidden: User \"%s\" cannot get path \"%s\"", user, path);
		return http_status(c, ctx, 403, "Forbidden", msg, cJSON_CreateObject());
	}
	res_display(t->res, rd, sizeof(rd));
	snprintf(msg, sizeof(msg), "%s%s%s%s is forbidden: User \"%s\" cannot %s resource \"%s\" in API group \"%s\"%s%s%s",
		 rd, t->name ? " \"" : "", t->name ? t->name : "", t->name ? "\"" : "", user, verb,
		 t->res->plural, t->res->group, t->ns ? " in the namespace \"" : " at the cluster scope",
		 t->ns ? t->ns : "", t->ns ? "\"" : "");
	return http_status(c, ctx, 403, "Forbidden", msg, res_details(t->res, t->name));
}

/* Splits /api/v1/... and /apis/G/V/... into resource, namespace and name.
 * Returns 1 for a resource path, 0 for a discovery path answered here, -1 for 404. */
static int parse_path(const char *url, struct target *t, const char **group, const char **version,
		      int *nsegs)
{
	char *segs[12], *save = NULL, *tok;
	int n = 0, i;
	const char *plural;

	memset(t, 0, sizeof(*t));
	snprintf(t->buf, sizeof(t->buf), "%s", url);
	for (tok = strtok_r(t->buf, "/", &save); tok && n < 12; tok = strtok_r(NULL, "/", &save))
		segs[n++] = tok;
	if (tok)
		return -1;
	*nsegs = n;
	if (n >= 1 && !strcmp(segs[0], "api")) {
		*group = "";
		*version = n >= 2 ? segs[1] : NULL;
		i = 2;
	} else if (n >= 1 && !strcmp(segs[0], "apis")) {
		*group = n >= 2 ? segs[1] : NULL;
		*version = n >= 3 ? segs[2] : NULL;
		i = 3;
	} else {
		return -1;
	}
	if (n <= i)
		return 0;
	if (!strcmp(segs[i], "watch")) {
		t->watch_path = true;
		i++;
	}
	if (n - i >= 3 && !strcmp(segs[i], "namespaces")) {
		t->ns = segs[i + 1];
		i += 2;
	}
	if (i >= n)
		return -1;
	plural = segs[i++];
	if (i < n)
		t->name = segs[i++];
	/* The status subresource reads as the object itself. */
	if (i < n && !(t->name && i + 1 == n && !strcmp(segs[i], "status")))
		return -1;
	t->res = res_by_path(*group, *version, plural);
	if (!t->res || (t->ns && !t->res->namespaced))
		return -1;
	return 1;
}

static const struct api_user *authenticate(struct MHD_Connection *c, bool *anonymous)
{
	const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	size_t len;

	*anonymous = false;
	if (!h) {
		*anonymous = opts->anonymous;
		return NULL;
	}
	if (strncasecmp(h, "Bearer ", 7))
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	len = strlen(h);
	while (len && (h[len - 1] == ' ' || h[len - 1] == '\t'))
		len--;
	for (int i = 0; i < opts->n_users; i++)
		if (strlen(opts->users[i].token) == len && !memcmp(opts->users[i].token, h, len))
			return &opts->users[i];
	return NULL;
}

/* "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" and friends:
 * returns the apiVersion to answer with, or NULL for the legacy documents. */
static const char *aggregated_wanted(struct MHD_Connection *c)
{
	const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	char buf[1024], *save = NULL, *range;

	if (!accept)
		return NULL;
	snprintf(buf, sizeof(buf), "%s", accept);
	for (range = strtok_r(buf, ",", &save); range; range = strtok_r(NULL, ",", &save)) {
		if (!strstr(range, "as=APIGroupDiscoveryList") || !strstr(range, "g=apidiscovery.k8s.io"))
			continue;
		if (strstr(range, "v=v2beta1"))
			return "apidiscovery.k8s.io/v2beta1";
		if (strstr(range, "v=v2"))
			return "apidiscovery.k8s.io/v2";
	}
	return NULL;
}

static enum MHD_Result discovery(struct MHD_Connection *c, struct req_ctx *ctx, const char *url,
				 const char *group, const char *version, int nsegs)
{
	const char *agg = aggregated_wanted(c);
	cJSON *doc = NULL;

	stats.discovery++;
	if (nsegs == 1 && agg) {
		struct MHD_Response *r;
		char ctype[128], *text;
		enum MHD_Result ret;

		doc = disc_aggregated(!strcmp(url, "/api") || !strcmp(url, "/api/"), agg);
		text = doc ? cJSON_PrintUnformatted(doc) : NULL;
		cJSON_Delete(doc);
		if (!text)
			return MHD_NO;
		snprintf(ctype, sizeof(ctype), "application/json;g=apidiscovery.k8s.io;v=%s;as=APIGroupDiscoveryList",
			 strrchr(agg, '/') + 1);
		r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
		if (!r) {
			free(text);
			return MHD_NO;
		}
		http_add_headers(r, ctype);
		MHD_add_response_header(r, "Vary", "Accept");
		ctx->code = 200;
		ret = MHD_queue_response(c, 200, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (nsegs == 1 && !strncmp(url, "/api", 4) && (url[4] == '\0' || url[4] == '/'))
		doc = disc_api_versions(server_addr);
	else if (nsegs == 1)
		doc = disc_api_groups();
	else if (nsegs == 2 && group && group[0] && res_group_version_known(group, NULL))
		doc = disc_api_group(group);
	else if (((nsegs == 2 && group && !group[0]) || nsegs == 3) && version &&
		 res_group_version_known(group, version))
		doc = disc_resource_list(group, version);
	if (!doc)
		return not_found_path(c, ctx);
	return http_reply_json(c, ctx, 200, doc);
}

static enum MHD_Result version_doc(struct MHD_Connection *c, struct req_ctx *ctx)
{
	cJSON *v = cJSON_CreateObject();
	char minor[16] = "32";

	sscanf(opts->version, "v%*u.%15[0-9]", minor);
	cJSON_AddStringToObject(v, "major", "1");
	cJSON_AddStringToObject(v, "minor", minor);
	cJSON_AddStringToObject(v, "gitVersion", opts->version);
	cJSON_AddStringToObject(v, "gitCommit", "0000000000000000000000000000000000000000");
	cJSON_AddStringToObject(v, "gitTreeState", "clean");
	cJSON_AddStringToObject(v, "buildDate", "2025-01-01T00:00:00Z");
	cJSON_AddStringToObject(v, "goVersion", "go1.23.6");
	cJSON_AddStringToObject(v, "compiler", "gc");
	cJSON_AddStringToObject(v, "platform", "linux/amd64");
	return http_reply_json(c, ctx, 200, v);
}

/* Parses labelSelector and fieldSelector (plus metadata.name for a named watch). */
static int selectors(struct MHD_Connection *c, const struct target *t, struct selector **ls,
		     struct selector **fs, char *err, size_t errlen)
{
	const char *l = http_arg(c, "labelSelector"), *f = http_arg(c, "fieldSelector");
	char fbuf[1024];
	int ret;

	*ls = *fs = NULL;
	if (t->name) {
		snprintf(fbuf, sizeof(fbuf), "metadata.name=%s%s%s", t->name, f && *f ? "," : "", f ? f : "");
		f = fbuf;
	}
	ret = selector_parse_labels(l, ls, err, errlen);
	if (ret)
		return ret;
	ret = selector_parse_fields(f, fs, err, errlen);
	if (ret)
		goto fail;
	for (int i = 0; i < (*fs)->n; i++) {
		const char *key = (*fs)->reqs[i].key;

		if (res_field_supported(t->res, key))
			continue;
		if (t->res->builtin)
			snprintf(err, errlen, "field label not supported: %s", key);
		else
			snprintf(err, errlen, "\"%s\" is not a known field selector: only \"metadata.name\", "
				 "\"metadata.namespace\"", key);
		ret = -EINVAL;
		goto fail;
	}
	return 0;
fail:
	selector_free(*ls);
	selector_free(*fs);
	*ls = *fs = NULL;
	return ret;
}

static enum MHD_Result get_one(struct MHD_Connection *c, struct req_ctx *ctx, const struct target *t)
{
	struct kobj *o;
	char msg[600], rd[160];
	enum MHD_Result ret;

	store_lock();
	stats.gets++;
	o = store_get(t->res, t->ns ? t->ns : "", t->name);
	if (!o) {
		store_unlock();
		snprintf(msg, sizeof(msg), "%s \"%s\" not found", res_display(t->res, rd, sizeof(rd)), t->name);
		return http_status(c, ctx, 404, "NotFound", msg, res_details(t->res, t->name));
	}
	store_unlock();
	if (http_arg_bool(c, "pretty") == 1) {
		ret = http_reply_json(c, ctx, 200, cJSON_Duplicate(o->json, 1));
	} else {
		struct sbuf b = { 0 };

		sbuf_adds(&b, o->text);
		sbuf_adds(&b, "\n");
		ret = b.oom ? MHD_NO : http_reply(c, ctx, 200, "application/json", b.p, b.len);
		sbuf_free(&b);
	}
	store_lock();
	kobj_put(o);
	store_unlock();
	return ret;
}

/* Continue tokens look like the real ones: base64url of {"v","rv","start"}. */
static char *make_continue(uint64_t rv, const struct kobj *last)
{
	struct sbuf b = { 0 }, key = { 0 };
	char *tok;

	if (last->ns[0])
		sbuf_printf(&key, "%s/", last->ns);
	sbuf_adds(&key, last->name);
	sbuf_add(&key, "\\u0000", 6);
	sbuf_printf(&b, "{\"v\":\"meta.k8s.io/v1\",\"rv\":%llu,\"start\":\"%s\"}", (unsigned long long)rv,
		    key.p ? key.p : "");
	sbuf_free(&key);
	tok = b.oom ? NULL : b64url_encode(b.p, b.len);
	sbuf_free(&b);
	return tok;
}

static int parse_continue(const char *tok, uint64_t *rv, char *ns, size_t nslen, char *name, size_t namelen)
{
	size_t len;
	char *raw = b64url_decode(tok, &len), *slash;
	cJSON *j = raw ? cJSON_ParseWithLength(raw, len) : NULL;
	const cJSON *jrv = cJSON_GetObjectItemCaseSensitive(j, "rv");
	const char *start = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "start"));
	int ret = -EINVAL;

	free(raw);
	if (!cJSON_IsNumber(jrv) || !start || jrv->valuedouble < 1)
		goto out;
	*rv = (uint64_t)jrv->valuedouble;
	slash = strchr(start, '/');
	if (slash) {
		snprintf(ns, nslen, "%.*s", (int)(slash - start), start);
		snprintf(name, namelen, "%s", slash + 1);
	} else {
		ns[0] = '\0';
		snprintf(name, namelen, "%s", start);
	}
	ret = 0;
out:
	cJSON_Delete(j);
	return ret;
}

static bool obj_selected(const struct kobj *o, const struct selector *ls, const struct selector *fs)
{
	return selector_match_labels(ls, o->json) && selector_match_fields(fs, o->json);
}

static enum MHD_Result list(struct MHD_Connection *c, struct req_ctx *ctx, const struct target *t,
			    struct selector *ls, struct selector *fs, uint64_t rv, const char *rv_match,
			    bool explicit_zero)
{
	const char *cont = http_arg(c, "continue"), *lim = http_arg(c, "limit");
	char cns[254] = "", cname[254] = "", msg[300];
	uint64_t at = 0, limit = 0, list_rv;
	struct kobj **objs = NULL;
	size_t n = 0, sent = 0, remaining = 0;
	struct sbuf b = { 0 };
	char *tok = NULL;
	bool have_start = false;
	enum MHD_Result ret;
	int err;

	if (lim && *lim && parse_u64(lim, &limit))
		return http_status(c, ctx, 400, "BadRequest", "limit: Invalid value: must be a number", NULL);
	if (cont && *cont) {
		if (rv && !explicit_zero)
			return http_status(c, ctx, 400, "BadRequest",
					   "specifying resource version is not allowed when using continue", NULL);
		if (rv_match && *rv_match)
			return invalid(c, ctx, "resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided");
		if (parse_continue(cont, &at, cns, sizeof(cns), cname, sizeof(cname)))
			return http_status(c, ctx, 400, "BadRequest", "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)", NULL);
		have_start = true;
	} else if (rv && ((rv_match && !strcmp(rv_match, "Exact")) || (limit && (!rv_match || !*rv_match)))) {
		at = rv;	/* a paged list at a given version reads exactly that version */
	}
	/* The watch cache serves resourceVersion=0 whole, ignoring limit. */
	if (explicit_zero && !have_start)
		limit = 0;

	store_lock();
	stats.lists++;
	if (!at && rv > store_rv()) {
		cJSON *d, *causes, *cause;

		snprintf(msg, sizeof(msg), "Too large resource version: %llu, current: %llu",
			 (unsigned long long)rv, (unsigned long long)store_rv());
		store_unlock();
		d = cJSON_CreateObject();
		causes = cJSON_AddArrayToObject(d, "causes");
		cause = cJSON_CreateObject();
		cJSON_AddStringToObject(cause, "reason", "ResourceVersionTooLarge");
		cJSON_AddStringToObject(cause, "message", "Too large resource version");
		cJSON_AddItemToArray(causes, cause);
		cJSON_AddNumberToObject(d, "retryAfterSeconds", 1);
		return http_status(c, ctx, 504, "Timeout", msg, d);
	}
	err = store_list(t->res, t->ns, at, &objs, &n);
	list_rv = at ? at : store_rv();
	store_unlock();
	if (err == -ESTALE)
		return http_status(c, ctx, 410, "Expired", have_start ?
				   "The provided continue parameter is too old to display a consistent list result. "
				   "You can start a new list without the continue parameter." :
				   "The resourceVersion for the provided list is too old.", NULL);
	if (err == -ERANGE) {
		snprintf(msg, sizeof(msg), "Too large resource version: %llu, current: %llu",
			 (unsigned long long)at, (unsigned long long)list_rv);
		return http_status(c, ctx, 504, "Timeout", msg, NULL);
	}
	if (err)
		return MHD_NO;

	sbuf_adds(&b, "{\"kind\":");
	sbuf_json_str(&b, t->res->list_kind);
	sbuf_adds(&b, ",\"apiVersion\":");
	sbuf_json_str(&b, t->res->api_version);
	sbuf_printf(&b, ",\"metadata\":{\"resourceVersion\":\"%llu\"", (unsigned long long)list_rv);
	{
		struct sbuf items = { 0 };
		const struct kobj *last = NULL;

		for (size_t i = 0; i < n; i++) {
			const struct kobj *o = objs[i];
			int cmp;

			if (have_start) {
				cmp = strcmp(o->ns, cns);
				if (cmp < 0 || (!cmp && strcmp(o->name, cname) <= 0))
					continue;
			}
			if (!obj_selected(o, ls, fs))
				continue;
			if (limit && sent == limit) {
				remaining++;
				continue;
			}
			sbuf_adds(&items, sent ? "," : "");
			sbuf_adds(&items, o->item_text);
			sent++;
			last = o;
		}
		if (remaining && last) {
			tok = make_continue(list_rv, last);
			if (tok)
				sbuf_printf(&b, ",\"continue\":\"%s\"", tok);
			/* Only an unfiltered list knows how many remain. */
			if ((!ls || !ls->n) && (!fs || !fs->n))
				sbuf_printf(&b, ",\"remainingItemCount\":%zu", remaining);
		}
		sbuf_adds(&b, "},\"items\":[");
		if (items.p)
			sbuf_add(&b, items.p, items.len);
		b.oom |= items.oom;
		sbuf_free(&items);
	}
	sbuf_adds(&b, "]}\n");
	free(tok);
	store_lock();
	kobjs_put(objs, n);
	store_unlock();
	if (b.oom) {
		sbuf_free(&b);
		return MHD_NO;
	}
	if (http_arg_bool(c, "pretty") == 1)
		ret = http_reply_json(c, ctx, 200, cJSON_Parse(b.p));
	else
		ret = http_reply(c, ctx, 200, "application/json", b.p, b.len);
	sbuf_free(&b);
	return ret;
}

static enum MHD_Result watch(struct MHD_Connection *c, struct req_ctx *ctx, const struct target *t,
			     struct selector *ls, struct selector *fs, uint64_t rv, const char *rv_match)
{
	struct watch_req req = {
		.res = t->res, .ns = t->ns, .lsel = ls, .fsel = fs, .rv = rv,
		.bookmarks = http_arg_bool(c, "allowWatchBookmarks") == 1,
		.send_initial = http_arg_bool(c, "sendInitialEvents"),
	};
	const char *to = http_arg(c, "timeoutSeconds");
	struct MHD_Response *r;
	enum MHD_Result ret;
	uint64_t secs;

	if (to && *to) {
		if (parse_u64(to, &secs)) {
			selector_free(ls);
			selector_free(fs);
			return http_status(c, ctx, 400, "BadRequest", "timeoutSeconds: Invalid value: must be a number", NULL);
		}
		req.timeout = (double)secs;
	}
	if (req.send_initial >= 0 || (rv_match && *rv_match)) {
		const char *why = NULL, *field = "sendInitialEvents";

		if (req.send_initial < 0) {
			field = "resourceVersionMatch";
			why = "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided";
		} else if (!rv_match || strcmp(rv_match, "NotOlderThan")) {
			field = "resourceVersionMatch";
			why = "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan";
		} else if (!req.bookmarks) {
			field = "allowWatchBookmarks";
			why = "sendInitialEvents requires setting allowWatchBookmarks to true";
		}
		if (why) {
			selector_free(ls);
			selector_free(fs);
			return invalid(c, ctx, field, why);
		}
	}
	store_lock();
	r = watch_start(c, &req);
	store_unlock();
	selector_free(req.lsel);
	selector_free(req.fsel);
	if (!r)
		return MHD_NO;
	http_add_headers(r, "application/json");
	ctx->code = 200;
	ret = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result resource(struct MHD_Connection *c, struct req_ctx *ctx, const struct target *t,
				const char *user, bool may_read)
{
	const char *rvs = http_arg(c, "resourceVersion"), *rv_match = http_arg(c, "resourceVersionMatch");
	bool is_watch = t->watch_path || http_arg_bool(c, "watch") == 1;
	const char *verb = is_watch ? "watch" : t->name ? "get" : "list";
	struct selector *ls, *fs;
	char err[300];
	uint64_t rv = 0;

	if (!may_read)
		return forbidden(c, ctx, user, verb, t, NULL);
	if (!is_watch && t->name)
		return get_one(c, ctx, t);
	if (rvs && *rvs && parse_u64(rvs, &rv)) {
		snprintf(err, sizeof(err), "invalid resource version: \"%.200s\"", rvs);
		return http_status(c, ctx, 400, "BadRequest", err, NULL);
	}
	if (!is_watch) {
		if (rv_match && *rv_match && (!rvs || !*rvs))
			return invalid(c, ctx, "resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided");
		if (rv_match && *rv_match && strcmp(rv_match, "Exact") && strcmp(rv_match, "NotOlderThan"))
			return invalid(c, ctx, "resourceVersionMatch", "unsupported value");
		if (rv_match && !strcmp(rv_match, "Exact") && rvs && !strcmp(rvs, "0"))
			return invalid(c, ctx, "resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"");
		if (http_arg(c, "sendInitialEvents"))
			return invalid(c, ctx, "sendInitialEvents", "sendInitialEvents is forbidden for list");
	}
	if (selectors(c, t, &ls, &fs, err, sizeof(err)))
		return http_status(c, ctx, 400, "BadRequest", err, NULL);
	if (is_watch)
		return watch(c, ctx, t, ls, fs, rv, rv_match);
	{
		enum MHD_Result ret = list(c, ctx, t, ls, fs, rv, rv_match, rvs && !strcmp(rvs, "0"));

		selector_free(ls);
		selector_free(fs);
		return ret;
	}
}

static bool public_path(const char *url)
{
	static const char *const pub[] = { "/version", "/healthz", "/livez", "/readyz", NULL };

	for (const char *const *p = pub; *p; p++) {
		size_t n = strlen(*p);

		if (!strncmp(url, *p, n) && (!url[n] || url[n] == '/'))
			return true;
	}
	return false;
}

/* Holds the request until the stall is over; MHD calls the handler again on resume. */
static bool hold_if_stalled(struct MHD_Connection *c, struct req_ctx *ctx)
{
	bool held_now = false;

	store_lock();
	if (stall_until > now_mono()) {
		if (n_held == cap_held) {
			size_t cap = cap_held ? cap_held * 2 : 16;
			struct MHD_Connection **v = realloc(held, cap * sizeof(*v));

			if (!v)
				goto out;
			held = v;
			cap_held = cap;
		}
		held[n_held++] = c;
		if (!ctx->stalled)
			stats.stalled++;
		ctx->stalled = true;
		MHD_suspend_connection(c);
		held_now = true;
	}
out:
	store_unlock();
	return held_now;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			       const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	struct req_ctx *ctx = *con_cls;
	const struct api_user *u;
	bool anonymous, get = !strcmp(method, "GET") || !strcmp(method, "HEAD");
	const char *group = NULL, *ver = NULL, *user;
	struct target t;
	int kind, nsegs = 0;

	if (!ctx)
		return MHD_NO;
	if (!ctx->started) {
		ctx->started = true;
		return MHD_YES;
	}
	if (*upload_size) {	/* nothing here accepts a body */
		*upload_size = 0;
		return MHD_YES;
	}
	if (hold_if_stalled(c, ctx))
		return MHD_YES;
	__atomic_fetch_add(&stats.requests, 1, __ATOMIC_RELAXED);

	u = authenticate(c, &anonymous);
	if (!u && !anonymous) {
		stats.unauthorized++;
		return http_status(c, ctx, 401, "Unauthorized", "Unauthorized", NULL);
	}
	user = u ? u->name : ANONYMOUS;
	if (public_path(url)) {
		if (!get)
			return http_status(c, ctx, 405, "MethodNotAllowed",
					   "the server does not allow this method on the requested resource", cJSON_CreateObject());
		if (!strcmp(url, "/version") || !strcmp(url, "/version/"))
			return version_doc(c, ctx);
		return http_reply(c, ctx, 200, "text/plain; charset=utf-8", "ok", 2);
	}
	kind = parse_path(url, &t, &group, &ver, &nsegs);
	if (kind < 0)
		return not_found_path(c, ctx);
	if (anonymous && kind == 0)
		return forbidden(c, ctx, user, "get", NULL, url);
	if (!get)
		return http_status(c, ctx, 405, "MethodNotAllowed",
				   "the server does not allow this method on the requested resource", cJSON_CreateObject());
	if (kind == 0)
		return discovery(c, ctx, url, group, ver, nsegs);
	return resource(c, ctx, &t, user, !anonymous && !u->denied);
}

void api_tick(double now)
{
	if (!n_held || stall_until > now)
		return;
	api_release_all();
}

void api_release_all(void)
{
	for (size_t i = 0; i < n_held; i++)
		MHD_resume_connection(held[i]);
	n_held = 0;
}

struct MHD_Daemon *api_start(const struct api_opts *o)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			     MHD_USE_ERROR_LOG;
	struct MHD_Daemon *d;

	opts = o;
	if (inet_pton(AF_INET, o->bind, &sa.sin_addr) != 1) {
		fprintf(stderr, "fake-apiserver: --bind %s: not an IPv4 address\n", o->bind);
		return NULL;
	}
	snprintf(server_addr, sizeof(server_addr), "%s:%d", o->bind, o->port);
	if (o->cert)
		flags |= MHD_USE_TLS;
	d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, handler, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_URI_LOG_CALLBACK, http_uri_log, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, http_completed, (void *)"api",
			     MHD_OPTION_UNESCAPE_CALLBACK, http_unescape, NULL,
			     MHD_OPTION_CONNECTION_LIMIT, 4096U,
			     o->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, o->cert,
			     MHD_OPTION_HTTPS_MEM_KEY, o->key,
			     MHD_OPTION_END);
	return d;
}
