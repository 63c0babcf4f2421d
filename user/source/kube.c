/* kube.c - the Kubernetes source. One thread drives libcurl multi: per kind a paged list, then
 * a watch from the list's resourceVersion; what they say is queued as upserts, deletes and
 * whole-kind replacements that the agent's loop applies to the store (ilb_kube_process).
 *
 * Only a successful list replaces a kind's state, so an unreachable or refusing API server
 * never empties the store. Any error is retried with exponential backoff and jitter by
 * listing again (a restarted server may not know our resourceVersion); a watch that ends
 * cleanly resumes from its last resourceVersion, and 410 Gone lists again at once. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "kube_int.h"
#include "log.h"

#define LIST_PAGE 500
#define LIST_TIMEOUT_MS 60000L
#define CONNECT_TIMEOUT_MS 5000L
#define WATCH_MIN_S 300 /* like client-go, a watch asks for [5, 10) minutes */
#define BACKOFF_MAX_MS 15000u
#define STEADY_WATCH_MS 5000u /* a watch that lived this long resets the backoff */
#define MISSING_RETRY_MS 30000u
#define MAX_BODY (256u << 20)
#define MAX_TOKEN (64u << 10)

const struct kind_def kind_defs[KUBE_KINDS] = {
	{ "/api/v1/pods", "v1", "Pod", "pods", ILB_KIND_POD, NULL, false },
	{ "/apis/inference.networking.k8s.io/v1/inferencepools", "inference.networking.k8s.io/v1", "InferencePool",
	  "inferencepools.v1.inference.networking.k8s.io", ILB_KIND_POOL, NULL, false },
	{ "/apis/inference.networking.x-k8s.io/v1alpha2/inferencepools", "inference.networking.x-k8s.io/v1alpha2",
	  "InferencePool", "inferencepools.v1alpha2.inference.networking.x-k8s.io", ILB_KIND_POOL, NULL, false },
	{ "/apis/inference.networking.x-k8s.io/v1alpha2/inferenceobjectives",
	  "inference.networking.x-k8s.io/v1alpha2", "InferenceObjective",
	  "inferenceobjectives.v1alpha2.inference.networking.x-k8s.io", ILB_KIND_OBJECTIVE, NULL, false },
	{ "/apis/inference.networking.x-k8s.io/v1alpha2/inferencemodelrewrites",
	  "inference.networking.x-k8s.io/v1alpha2", "InferenceModelRewrite",
	  "inferencemodelrewrites.v1alpha2.inference.networking.x-k8s.io", ILB_KIND_MODEL_REWRITE, NULL, false },
	{ "/apis/inference.networking.x-k8s.io/v1alpha2/inferencemodels", "inference.networking.x-k8s.io/v1alpha2",
	  "InferenceModel", "inferencemodels.v1alpha2.inference.networking.x-k8s.io", ILB_KIND_INFERENCE_MODEL, NULL, false },
	{ "/apis/gateway.networking.k8s.io/v1/gateways", "gateway.networking.k8s.io/v1", "Gateway",
	  "gateways.v1.gateway.networking.k8s.io", ILB_KIND_GATEWAY, NULL, false },
	{ "/apis/gateway.networking.k8s.io/v1/httproutes", "gateway.networking.k8s.io/v1", "HTTPRoute",
	  "httproutes.v1.gateway.networking.k8s.io", ILB_KIND_HTTPROUTE, NULL, false },
	/* the seed's model servers: the store derives a pool from each annotated Service */
	{ "/apis/serving.knative.dev/v1/services", "serving.knative.dev/v1", "Service", "services.v1.serving.knative.dev",
	  ILB_KIND_KSERVICE, NULL, false },
	/* the domain of those Services' hosts: one ConfigMap, which is all the Role grants */
	{ "/api/v1/namespaces/" ILB_KN_DOMAIN_NS "/configmaps", "v1", "ConfigMap", "configmaps/" ILB_KN_DOMAIN_NAME,
	  ILB_KIND_KN_DOMAIN, "fieldSelector=metadata.name%3D" ILB_KN_DOMAIN_NAME "&", true },
	/* a revision scaled to zero: Proxy mode sends it to the activator, whose addresses are
	 * in the public Service's Endpoints (only Knative's public ones are listed) */
	{ "/apis/networking.internal.knative.dev/v1alpha1/serverlessservices", "networking.internal.knative.dev/v1alpha1",
	  "ServerlessService", "serverlessservices.v1alpha1.networking.internal.knative.dev", ILB_KIND_KN_SKS, NULL,
	  true },
	{ "/api/v1/endpoints", "v1", "Endpoints", "endpoints", ILB_KIND_KN_ENDPOINTS,
	  "labelSelector=" ILB_KN_LABEL_SERVICE_TYPE "%3DPublic&", true },
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Makes room for need items in *arr. */
static int grow(void **arr, int *cap, int need, size_t size)
{
	int n = *cap ? *cap : 16;
	void *p;

	if (need <= *cap)
		return 0;
	while (n < need)
		n *= 2;
	p = realloc(*arr, n * size);
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = n;
	return 0;
}

static const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	return cJSON_IsString(item) ? item->valuestring : NULL;
}

/* metadata.namespace ("default" when absent, as the decoders say) and metadata.name. */
static bool meta_ident(const cJSON *obj, struct ident *id)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");

	snprintf(id->ns, sizeof(id->ns), "%s", ns && ns[0] ? ns : "default");
	snprintf(id->name, sizeof(id->name), "%s", name ? name : "");
	return name && name[0];
}

static int compare_ident(const struct ident *a, const char *ns, const char *name)
{
	int c = strcmp(a->ns, ns);

	return c ? c : strcmp(a->name, name);
}

static int compare_idents(const void *a, const void *b)
{
	const struct ident *y = b;

	return compare_ident(a, y->ns, y->name);
}

/* ---- the watcher thread: queueing, errors ---- */

static void push(struct ilb_kube *k, struct op *op)
{
	uint64_t one = 1;

	pthread_mutex_lock(&k->lock);
	if (k->tail)
		k->tail->next = op;
	else
		k->head = op;
	k->tail = op;
	pthread_mutex_unlock(&k->lock);
	if (write(k->efd, &one, sizeof(one)) < 0)
		pr_debug("kubernetes: eventfd: %s", strerror(errno));
}

static struct op *new_op(struct resource *r, enum op_type type)
{
	struct op *op = calloc(1, sizeof(*op));

	if (op) {
		op->res = r - r->k->res;
		op->type = type;
	}
	return op;
}

/* Counts and logs an error once: repeats of the same message are quiet. */
static void note_error(struct ilb_kube *k, const char *who, const char *msg)
{
	pr_warn("kubernetes %s: %s", who, msg);
	pthread_mutex_lock(&k->lock);
	k->n_errors++;
	snprintf(k->last_error, sizeof(k->last_error), "%s: %s", who, msg);
	pthread_mutex_unlock(&k->lock);
}

static void forget_report(struct resource *r, const char *ns, const char *name)
{
	for (int i = 0; i < r->n_reported; i++) {
		if (compare_ident(&r->reported[i].id, ns, name))
			continue;
		free(r->reported[i].msg);
		r->reported[i] = r->reported[--r->n_reported];
		return;
	}
}

/* An object that does not decode: logged once per distinct reason, keeps its last good state. */
static void report_object(struct resource *r, const struct ident *id, const char *reason)
{
	char who[ILB_NS_MAX + ILB_NAME_MAX + 64];

	for (int i = 0; i < r->n_reported; i++)
		if (!compare_ident(&r->reported[i].id, id->ns, id->name) && !strcmp(r->reported[i].msg, reason))
			return;
	forget_report(r, id->ns, id->name);
	snprintf(who, sizeof(who), "%s %s/%s", r->def->kind, id->ns, id->name);
	note_error(r->k, who, reason);
	if (grow((void **)&r->reported, &r->cap_reported, r->n_reported + 1, sizeof(*r->reported)) == 0 &&
	    (r->reported[r->n_reported].msg = strdup(reason))) {
		r->reported[r->n_reported].id = *id;
		r->n_reported++;
	}
}

static void set_status(struct resource *r, const char *error, bool watching)
{
	pthread_mutex_lock(&r->k->lock);
	snprintf(r->error, sizeof(r->error), "%s", error);
	snprintf(r->shown_rv, sizeof(r->shown_rv), "%s", r->rv);
	r->watching = watching;
	pthread_mutex_unlock(&r->k->lock);
}

static void list_reset(struct resource *r)
{
	r->n_listed = 0;
	free(r->cont);
	r->cont = NULL;
}

/* curl's message without " after N ms", so that a repeated failure reads the same. */
static void curl_message(struct resource *r, CURLcode res, char *buf, size_t len)
{
	char *after;

	snprintf(buf, len, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(res));
	after = strstr(buf, " after ");
	if (after) {
		char *end = after + 7;

		while (*end >= '0' && *end <= '9')
			end++;
		if (!strncmp(end, " ms", 3))
			memmove(after, end + 3, strlen(end + 3) + 1);
	}
}

/* Lists again after the backoff, with jitter so that agents on every node spread out. */
static void back_off(struct ilb_kube *k, struct resource *r)
{
	unsigned half = r->backoff_ms / 2;

	r->phase = PH_WAIT;
	r->next_ms = now_ms() + half + rand_r(&k->seed) % (half + 1);
	r->backoff_ms = r->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : r->backoff_ms * 2;
}

/* Says what failed (once) and lists again after the backoff. */
static void retry(struct ilb_kube *k, struct resource *r, const char *msg)
{
	bool known = false;

	list_reset(r);
	set_status(r, msg, false);
	/* one line per distinct failure: a server that is down fails every kind alike */
	for (int i = 0; i < KUBE_KINDS && !known; i++)
		known = !strcmp(k->res[i].logged, msg);
	if (strcmp(r->logged, msg) && !known)
		note_error(k, r->def->name, msg);
	else
		pr_debug("kubernetes %s: %s", r->def->name, msg);
	snprintf(r->logged, sizeof(r->logged), "%s", msg);
	back_off(k, r);
}

/* "HTTP 401 Unauthorized: message" from the Status the API server answers errors with. */
static void status_message(struct resource *r, long code, char *buf, size_t len)
{
	cJSON *st = cJSON_ParseWithLength(r->body ? r->body : "", r->len);
	const char *reason = jstr(st, "reason"), *message = jstr(st, "message");

	if (reason && message && strcmp(reason, message))
		snprintf(buf, len, "HTTP %ld %s: %s", code, reason, message);
	else
		snprintf(buf, len, "HTTP %ld %s", code, reason ? reason : "");
	if (code == 401)
		snprintf(buf + strlen(buf), len - strlen(buf), " (the API server refused our token or certificate)");
	cJSON_Delete(st);
}

/* ---- the watcher thread: requests ---- */

/* The kubeconfig's token, or the token file's as it is now (service-account tokens rotate). */
static void load_token(struct ilb_kube *k)
{
	const char *file = k->creds.token_file;
	struct stat st = { 0 };
	char *text;
	FILE *f;
	size_t n;

	if (!file)
		return;
	if (stat(file, &st) == 0 && !k->token_reload && st.st_mtim.tv_sec == k->token_mtime.tv_sec &&
	    st.st_mtim.tv_nsec == k->token_mtime.tv_nsec)
		return;
	f = fopen(file, "re");
	text = malloc(MAX_TOKEN);
	n = f && text ? fread(text, 1, MAX_TOKEN - 1, f) : 0;
	if (f)
		fclose(f);
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
		n--;
	if (!n) {
		/* said once; requests go on with the last token read */
		if (!k->token_failing)
			pr_warn("kubernetes: token file %s: %s", file, f ? "empty" : strerror(errno));
		k->token_failing = true;
		free(text);
		return;
	}
	k->token_failing = false;
	text[n] = '\0';
	if (k->token && strcmp(k->token, text))
		pr_info("kubernetes: token file %s changed; using the new token", file);
	free(k->token);
	k->token = text;
	k->token_mtime = st.st_mtim;
	k->token_reload = false;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx);

static int set_tls(struct ilb_kube *k, CURL *e)
{
	const struct ilb_kube_creds *c = &k->creds;
	struct curl_blob ca = { c->ca_pem, c->ca_len, CURL_BLOB_COPY };
	struct curl_blob cert = { c->cert_pem, c->cert_len, CURL_BLOB_COPY };
	struct curl_blob key = { c->key_pem, c->key_len, CURL_BLOB_COPY };
	CURLcode rc = CURLE_OK;

	if (c->ca_file)
		rc = curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_pem && !rc)
		rc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &ca);
	if (c->cert_file && !rc)
		rc = curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file) ?: curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_pem && !rc)
		rc = curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &cert) ?: curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &key);
	if (c->insecure && !rc)
		rc = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L) ?: curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	return rc ? -EINVAL : 0;
}

/* Starts a list (page) or a watch; on failure, schedules a retry. */
static void start(struct ilb_kube *k, struct resource *r, enum phase phase)
{
	char *url = NULL, *cont = NULL, *auth = NULL;
	const char *query = r->def->query ? r->def->query : "";
	unsigned timeout = WATCH_MIN_S + rand_r(&k->seed) % WATCH_MIN_S;
	CURL *e = r->easy;
	int ok;

	load_token(k);
	if (phase == PH_LIST) {
		cont = r->cont ? curl_easy_escape(e, r->cont, 0) : NULL;
		ok = asprintf(&url, "%s%s?%slimit=%d%s%s", k->creds.server, r->def->path, query, LIST_PAGE,
			      cont ? "&continue=" : "", cont ? cont : "") >= 0;
		curl_free(cont);
	} else {
		ok = asprintf(&url, "%s%s?%swatch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%u",
			      k->creds.server, r->def->path, query, r->rv, timeout) >= 0;
	}
	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, phase == PH_LIST ? LIST_TIMEOUT_MS : (timeout + 30) * 1000L);
	curl_slist_free_all(r->headers);
	r->headers = curl_slist_append(NULL, "Accept: application/json");
	if (k->token && asprintf(&auth, "Authorization: Bearer %s", k->token) >= 0)
		r->headers = curl_slist_append(r->headers, auth);
	free(auth);
	r->len = 0;
	r->relist = false;
	r->stream_error[0] = '\0';
	r->errbuf[0] = '\0';
	r->stream_events = 0;
	r->from_list = false;
	if (!ok || !r->headers || set_tls(k, e)) {
		free(url);
		retry(k, r, "cannot set up the request (out of memory or a bad TLS setting)");
		return;
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "inferlb-agent");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
	/* a watch is quiet for long stretches: keepalives find a dead peer */
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	free(url);
	r->phase = phase;
	r->started_ms = now_ms();
	if (curl_multi_add_handle(k->multi, e) != CURLM_OK) {
		r->phase = PH_WAIT;
		retry(k, r, "cannot start a transfer");
		return;
	}
	if (phase == PH_WATCH)
		set_status(r, "", true);
}

/* Sets kind and apiVersion, which the items of a list of built-in objects lack. */
static void fill_type(const struct resource *r, cJSON *item)
{
	if (!cJSON_GetObjectItemCaseSensitive(item, "kind"))
		cJSON_AddStringToObject(item, "kind", r->def->kind);
	if (!cJSON_GetObjectItemCaseSensitive(item, "apiVersion"))
		cJSON_AddStringToObject(item, "apiVersion", r->def->api_version);
}

/* Decodes one object of a list page or of an event and queues it; a list also notes it. */
static int take_object(struct resource *r, cJSON *item, bool listing)
{
	struct ilb_object obj;
	char reason[256];
	struct ident id;
	struct op *op;
	int err;

	fill_type(r, item);
	if (!meta_ident(item, &id))
		return 0; /* nameless: the API server would not serve it */
	if (listing) {
		if (grow((void **)&r->listed, &r->cap_listed, r->n_listed + 1, sizeof(*r->listed)))
			return -ENOMEM;
		r->listed[r->n_listed++] = id;
	}
	err = ilb_decode(item, &obj, reason, sizeof(reason));
	if (err == -ENOENT)
		snprintf(reason, sizeof(reason), "%s is not a kind the agent reads", jstr(item, "kind"));
	if (err) {
		report_object(r, &id, reason);
		return 0;
	}
	forget_report(r, obj.meta.ns, obj.meta.name);
	/* a page is applied as it comes: a newer object is never wrong, and only the whole list
	 * (OP_REPLACE) may withdraw anything; the store need not hold the list twice */
	op = new_op(r, OP_UPSERT);
	if (!op) {
		ilb_object_free(&obj);
		return -ENOMEM;
	}
	op->obj = obj;
	push(r->k, op);
	return 0;
}

/* One watch event; non-zero ends the stream (relist or stream_error says why). */
static int on_event(struct resource *r, cJSON *ev)
{
	const char *type = jstr(ev, "type");
	cJSON *obj = cJSON_GetObjectItemCaseSensitive(ev, "object");
	const char *rv = jstr(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion");
	struct ident id;
	struct op *op;

	if (!type || !cJSON_IsObject(obj)) {
		snprintf(r->stream_error, sizeof(r->stream_error), "watch: malformed event");
		return -EINVAL;
	}
	if (!strcmp(type, "ERROR")) {
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(obj, "code");

		if (cJSON_IsNumber(code) && code->valueint == 410) {
			r->relist = true;
			return -ESTALE;
		}
		snprintf(r->stream_error, sizeof(r->stream_error), "watch: ERROR %d %s: %s",
			 cJSON_IsNumber(code) ? code->valueint : 0, jstr(obj, "reason") ?: "", jstr(obj, "message") ?: "");
		return -EIO;
	}
	if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED")) {
		if (take_object(r, obj, false))
			return -ENOMEM;
	} else if (!strcmp(type, "DELETED")) {
		if (meta_ident(obj, &id)) {
			forget_report(r, id.ns, id.name);
			op = new_op(r, OP_DELETE);
			if (!op)
				return -ENOMEM;
			op->id = id;
			push(r->k, op);
		}
	} else if (strcmp(type, "BOOKMARK")) {
		snprintf(r->stream_error, sizeof(r->stream_error), "watch: unknown event type %s", type);
		return -EINVAL;
	}
	if (rv && rv[0])
		snprintf(r->rv, sizeof(r->rv), "%s", rv);
	r->stream_events++;
	pthread_mutex_lock(&r->k->lock);
	r->events++;
	snprintf(r->shown_rv, sizeof(r->shown_rv), "%s", r->rv);
	pthread_mutex_unlock(&r->k->lock);
	return 0;
}

/* Length of the JSON object at the start of s, 0 while incomplete, -1 when it is not one. */
static long json_object_len(const char *s, size_t len)
{
	bool in_string = false, escaped = false;
	int depth = 0;

	if (len && s[0] != '{')
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (in_string) {
			if (escaped)
				escaped = false;
			else if (c == '\\')
				escaped = true;
			else if (c == '"')
				in_string = false;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return (long)i + 1;
		}
	}
	return 0;
}

/* Handles every complete event in the stream buffer; keeps the incomplete rest. */
static int drain_events(struct resource *r)
{
	size_t off = 0;
	int ret = 0;

	while (!ret) {
		long n;
		cJSON *ev;

		while (off < r->len && strchr(" \t\r\n", r->body[off]))
			off++;
		n = json_object_len(r->body + off, r->len - off);
		if (n == 0)
			break;
		ev = n > 0 ? cJSON_ParseWithLength(r->body + off, n) : NULL;
		if (!ev) {
			snprintf(r->stream_error, sizeof(r->stream_error), "watch: the stream is not JSON");
			return -EINVAL;
		}
		ret = on_event(r, ev);
		cJSON_Delete(ev);
		off += n;
	}
	memmove(r->body, r->body + off, r->len - off);
	r->len -= off;
	return ret;
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	struct resource *r = ctx;
	size_t n = size * nmemb;
	long code = 0;

	if (r->len + n + 1 > MAX_BODY) {
		snprintf(r->stream_error, sizeof(r->stream_error), "response larger than %u MiB", MAX_BODY >> 20);
		return 0;
	}
	if (r->len + n + 1 > r->cap) {
		size_t cap = r->cap ? r->cap : 65536;
		char *body;

		while (cap < r->len + n + 1)
			cap *= 2;
		body = realloc(r->body, cap);
		if (!body)
			return 0;
		r->body = body;
		r->cap = cap;
	}
	memcpy(r->body + r->len, ptr, n);
	r->len += n;
	r->body[r->len] = '\0';
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	if (r->phase == PH_WATCH && code == 200 && drain_events(r))
		return 0; /* aborts the transfer: finish() reads why */
	return n;
}

/* ---- the watcher thread: finished transfers ---- */

static void list_done(struct ilb_kube *k, struct resource *r)
{
	cJSON *json = cJSON_ParseWithLength(r->body ? r->body : "", r->len), *item;
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(json, "metadata");
	const char *cont = jstr(md, "continue"), *rv = jstr(md, "resourceVersion");
	struct op *op;

	if (!cJSON_IsObject(json) || !rv || !rv[0]) {
		cJSON_Delete(json);
		retry(k, r, "list: the answer is not a list with a resourceVersion");
		return;
	}
	cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(json, "items"))
	{
		if (take_object(r, item, true)) {
			cJSON_Delete(json);
			retry(k, r, "list: out of memory");
			return;
		}
	}
	snprintf(r->rv, sizeof(r->rv), "%s", rv);
	free(r->cont);
	r->cont = cont && cont[0] ? strdup(cont) : NULL;
	cJSON_Delete(json);
	if (r->cont) {
		start(k, r, PH_LIST);
		return;
	}
	op = new_op(r, OP_REPLACE);
	if (!op) {
		retry(k, r, "list: out of memory");
		return;
	}
	if (r->n_listed > 1)
		qsort(r->listed, r->n_listed, sizeof(*r->listed), compare_idents);
	/* the reports of objects that are gone are done with */
	for (int i = 0; i < r->n_reported;) {
		if (bsearch(&r->reported[i].id, r->listed, r->n_listed, sizeof(*r->listed), compare_idents)) {
			i++;
			continue;
		}
		free(r->reported[i].msg);
		r->reported[i] = r->reported[--r->n_reported];
	}
	op->listed = r->listed;
	op->n_listed = r->n_listed;
	r->listed = NULL;
	r->n_listed = r->cap_listed = 0;
	pr_info("kubernetes %s: listed %d objects at resourceVersion %s%s", r->def->name, op->n_listed, r->rv,
		r->logged[0] ? " (recovered)" : "");
	r->logged[0] = '\0';
	if (r->missing_logged)
		pr_info("kubernetes %s: now served by the API server", r->def->name);
	r->missing_logged = false;
	pthread_mutex_lock(&k->lock);
	r->lists++;
	pthread_mutex_unlock(&k->lock);
	push(k, op);
	start(k, r, PH_WATCH);
	r->from_list = true;
}

/* 404 on the kind: its CRD is not installed (yet); 403 on an optional kind: not granted.
 * Known empty; asked again slowly. */
static void kind_missing(struct ilb_kube *k, struct resource *r, long code)
{
	struct op *op = new_op(r, OP_REPLACE);

	list_reset(r);
	if (op) {
		op->missing = true;
		push(k, op);
	}
	if (!r->missing_logged && code == 403)
		pr_warn("kubernetes %s: not permitted (403: is deploy/%s applied?); taken as none, "
			"asking again every %u s", r->def->name,
			r->def->ilb_kind == ILB_KIND_KN_DOMAIN ? "15-knative-config-domain.yaml" : "10-rbac.yaml",
			MISSING_RETRY_MS / 1000);
	else if (!r->missing_logged)
		pr_warn("kubernetes %s: not served by the API server (404: is its CRD installed?); asking again every %u s",
			r->def->name, MISSING_RETRY_MS / 1000);
	r->missing_logged = true;
	r->logged[0] = '\0';
	set_status(r, code == 403 ? "not permitted (403)" : "not served (404)", false);
	r->phase = PH_WAIT;
	r->next_ms = now_ms() + MISSING_RETRY_MS;
}

static void finish(struct ilb_kube *k, struct resource *r, CURLcode res)
{
	enum phase phase = r->phase;
	char msg[512];
	long code = 0;

	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &code);
	curl_multi_remove_handle(k->multi, r->easy);
	r->phase = PH_WAIT;
	if (phase == PH_WATCH && now_ms() - r->started_ms >= STEADY_WATCH_MS)
		r->backoff_ms = BACKOFF_MIN_MS;
	if (r->relist || (code == 410 && (phase == PH_WATCH || r->cont))) {
		pr_info("kubernetes %s: resourceVersion %s is too old (410 Gone); listing again", r->def->name,
			phase == PH_WATCH ? r->rv : "of the continue token");
		list_reset(r);
		/* at once, unless the version a list just gave is already too old: no loop */
		if (phase == PH_WATCH && r->from_list && now_ms() - r->started_ms < 1000)
			back_off(k, r);
		else
			start(k, r, PH_LIST);
		return;
	}
	if (r->stream_error[0]) {
		retry(k, r, r->stream_error);
		return;
	}
	if (res != CURLE_OK) {
		/* "watch: " tells a broken stream from a server that cannot be reached */
		snprintf(msg, sizeof(msg), "%s", phase == PH_WATCH ? "watch: " : "");
		curl_message(r, res, msg + strlen(msg), sizeof(msg) - strlen(msg));
		retry(k, r, msg);
		return;
	}
	if ((code == 404 || (code == 403 && r->def->optional)) && phase == PH_LIST) {
		kind_missing(k, r, code);
		return;
	}
	if (code != 200) {
		if (code == 401)
			k->token_reload = true;
		status_message(r, code, msg, sizeof(msg));
		retry(k, r, msg);
		return;
	}
	if (phase == PH_LIST) {
		list_done(k, r);
	} else if (r->stream_events == 0 && now_ms() - r->started_ms < 1000) {
		retry(k, r, "watch: the stream ended at once");
	} else {
		set_status(r, "", false);
		start(k, r, PH_WATCH); /* the server's timeout: resume where it ended */
	}
}

void *kube_watcher_main(void *arg)
{
	struct ilb_kube *k = arg;

	for (int i = 0; i < KUBE_KINDS; i++)
		start(k, &k->res[i], PH_LIST);
	while (!atomic_load(&k->stopping)) {
		int running, left, wait = 1000;
		uint64_t now;
		CURLMsg *msg;

		curl_multi_perform(k->multi, &running);
		while ((msg = curl_multi_info_read(k->multi, &left))) {
			if (msg->msg != CURLMSG_DONE)
				continue;
			for (int i = 0; i < KUBE_KINDS; i++)
				if (k->res[i].easy == msg->easy_handle && k->res[i].phase != PH_WAIT)
					finish(k, &k->res[i], msg->data.result);
		}
		now = now_ms();
		for (int i = 0; i < KUBE_KINDS; i++) {
			struct resource *r = &k->res[i];

			if (r->phase != PH_WAIT)
				continue;
			if (now >= r->next_ms) {
				start(k, r, PH_LIST);
				wait = 0;
			} else if (r->next_ms - now < (uint64_t)wait) {
				wait = r->next_ms - now;
			}
		}
		curl_multi_poll(k->multi, NULL, 0, wait, NULL);
	}
	return NULL;
}
