/* decode_knative.c - Knative serving.knative.dev/v1 Services, and the InferencePools and
 * InferenceObjectives the store derives from one annotated knative.aliyun.com/ai-gateway:
 * the decoder, and the Service's row, which keeps those in line with each change (kn_derive.c). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "knative.h"

#define AI_GATEWAY "knative.aliyun.com/ai-gateway"
#define AI_GATEWAY_PRIORITY "knative.aliyun.com/ai-gateway-inference-priority"
#define SCALE_PREFIX "autoscaling.knative.dev/"

#define DEFAULT_PORT 8080 /* Knative's $PORT when the container declares none */
#define MAX_TRAFFIC 32
#define MAX_CONCURRENCY 1000

/* ---- small parsers ---- */

static bool parse_long(const char *text, long long min, long long max, long long *out)
{
	char *end;
	long long v;

	if (!text[0] || text[0] == ' ')
		return false;
	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

/* "<key>" of metadata.annotations at path ("metadata" or "spec.template.metadata"). */
static void annotation_path(char *buf, size_t len, const char *path, const char *key)
{
	snprintf(buf, len, "%s.annotations[%s]", path, key);
}

/* Copies the host of a URL ("http://host[:port][/path]") into buf; false if there is none. */
static bool url_host(const char *url, char *buf, size_t len)
{
	const char *start = strstr(url, "://"), *end;
	size_t n;

	if (!start)
		return false;
	start += 3;
	end = start + strcspn(start, ":/?#");
	n = end - start;
	if (n == 0 || n >= len)
		return false;
	memcpy(buf, start, n);
	buf[n] = '\0';
	return true;
}

static bool dns_label_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > 63)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			continue;
		if (c != '-' || i == 0 || i == n - 1)
			return false;
	}
	return true;
}

/* ---- the revision template ---- */

/* One autoscaling annotation, SCALE_PREFIX NAME (or its older spelling OLD_NAME): from the
 * template, else from the Service itself. *path is where it was found, for errors. */
static const char *scale_annotation(const struct ilb_labels *template, const struct ilb_labels *service,
				    const char *name, const char *old_name, char *path, size_t len)
{
	const struct ilb_labels *where[] = { template, service };
	const char *names[] = { name, old_name };
	char key[64];

	for (int w = 0; w < 2; w++) {
		for (int k = 0; k < 2 && names[k]; k++) {
			const char *value;

			snprintf(key, sizeof(key), SCALE_PREFIX "%s", names[k]);
			value = ilb_labels_get(where[w], key);
			if (value) {
				annotation_path(path, len, w == 0 ? "spec.template.metadata" : "metadata", key);
				return value;
			}
		}
	}
	return NULL;
}

static int dec_scale_int(struct dec *d, const struct ilb_labels *template, const struct ilb_labels *service,
			 const char *name, const char *old_name, int32_t *out)
{
	char p[DEC_PATH_MAX];
	const char *value = scale_annotation(template, service, name, old_name, p, sizeof(p));
	long long v;

	*out = -1;
	if (!value)
		return 0;
	if (!parse_long(value, 0, INT32_MAX, &v))
		return dec_fail(d, p, "must be a non-negative integer, got \"%.32s\"", value);
	*out = (int32_t)v;
	return 0;
}

static int dec_autoscaling(struct dec *d, const struct ilb_labels *template, struct ilb_kservice *ks)
{
	const struct ilb_labels *service = &ks->meta.annotations;
	char p[DEC_PATH_MAX];
	const char *value;
	int err;

	value = scale_annotation(template, service, "metric", NULL, p, sizeof(p));
	if (value) {
		if (!value[0] || strlen(value) >= sizeof(ks->scale_metric))
			return dec_fail(d, p, "must be a metric name such as concurrency or rps");
		snprintf(ks->scale_metric, sizeof(ks->scale_metric), "%s", value);
	}
	value = scale_annotation(template, service, "target", NULL, p, sizeof(p));
	if (value) {
		char *end;
		double v = strtod(value, &end);

		if (!value[0] || *end || !isfinite(v) || v <= 0)
			return dec_fail(d, p, "must be a positive number, got \"%.32s\"", value);
		ks->scale_target = v;
	}
	err = dec_scale_int(d, template, service, "min-scale", "minScale", &ks->min_scale);
	if (!err)
		err = dec_scale_int(d, template, service, "max-scale", "maxScale", &ks->max_scale);
	if (err)
		return err;
	/* max-scale 0 means no limit */
	if (ks->min_scale > 0 && ks->max_scale > 0 && ks->min_scale > ks->max_scale) {
		annotation_path(p, sizeof(p), "spec.template.metadata", SCALE_PREFIX "min-scale");
		return dec_fail(d, p, "%d is more than max-scale %d", ks->min_scale, ks->max_scale);
	}
	return 0;
}

/* The serving container: the one that declares a port (Knative allows one, with one port). */
static int dec_serving_port(struct dec *d, const cJSON *spec, struct ilb_kservice *ks)
{
	static const int reserved[] = { 8012, 8013, 8022, 9090, 9091 }; /* queue-proxy's */
	const cJSON *containers, *container, *ports, *port;
	char cpath[DEC_PATH_MAX], p[DEC_PATH_MAX], name[16];
	int err, found = -1;
	long long number;

	err = dec_array(d, spec, "spec.template.spec", "containers", true, 0, &containers);
	if (err < 0)
		return err;
	if (cJSON_GetArraySize(containers) == 0)
		return dec_fail(d, "spec.template.spec.containers", "must have at least one container");
	ks->container_port = DEFAULT_PORT;
	snprintf(ks->app_protocol, sizeof(ks->app_protocol), "http");
	for (int c = 0; c < cJSON_GetArraySize(containers); c++) {
		if (dec_item_object(d, containers, "spec.template.spec.containers", c, &container) < 0)
			return -EINVAL;
		dec_index(cpath, sizeof(cpath), "spec.template.spec.containers", c);
		err = dec_array(d, container, cpath, "ports", false, 1, &ports);
		if (err < 0)
			return err;
		if (err == 0 || cJSON_GetArraySize(ports) == 0)
			continue;
		dec_path(p, sizeof(p), cpath, "ports");
		if (found >= 0)
			return dec_fail(d, p, "only one container may declare a port (container %d does)", found);
		found = c;
		dec_index(p, sizeof(p), p, 0);
		if (dec_item_object(d, ports, p, 0, &port) < 0)
			return -EINVAL;
		name[0] = '\0';
		if (dec_int(d, port, p, "containerPort", true, 1, 65535, &number) < 0 ||
		    dec_string(d, port, p, "name", false, 0, name, sizeof(name)) < 0)
			return -EINVAL;
		for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
			if (number == reserved[i]) {
				dec_path(p, sizeof(p), p, "containerPort");
				return dec_fail(d, p, "%lld is reserved for Knative's queue-proxy", number);
			}
		}
		if (name[0] && strcmp(name, "http1") != 0 && strcmp(name, "h2c") != 0) {
			dec_path(p, sizeof(p), p, "name");
			return dec_fail(d, p, "must be http1 or h2c");
		}
		ks->container_port = (uint16_t)number;
		if (strcmp(name, "h2c") == 0)
			snprintf(ks->app_protocol, sizeof(ks->app_protocol), "kubernetes.io/h2c");
	}
	return 0;
}

/* spec.template: the revision template's name (when the user pins it), port and scaling. */
static int dec_template(struct dec *d, const cJSON *json, struct ilb_kservice *ks, char *rev_name, size_t len)
{
	struct ilb_labels annotations = { 0 };
	const cJSON *spec, *template, *md, *tspec;
	long long concurrency = 0;
	int err;

	err = dec_object(d, json, "", "spec", true, &spec);
	if (err >= 0)
		err = dec_object(d, spec, "spec", "template", true, &template);
	if (err >= 0)
		err = dec_object(d, template, "spec.template", "metadata", false, &md);
	if (err > 0)
		err = dec_string(d, md, "spec.template.metadata", "name", false, 0, rev_name, len);
	if (err >= 0 && md)
		err = dec_string_map(d, md, "spec.template.metadata", "annotations", false, &annotations);
	if (err >= 0)
		err = dec_object(d, template, "spec.template", "spec", true, &tspec);
	if (err >= 0)
		err = dec_serving_port(d, tspec, ks);
	if (err >= 0)
		err = dec_int(d, tspec, "spec.template.spec", "containerConcurrency", false, 0, MAX_CONCURRENCY,
			      &concurrency);
	if (err >= 0) {
		ks->container_concurrency = (uint32_t)concurrency;
		err = dec_autoscaling(d, &annotations, ks);
	}
	ilb_labels_free(&annotations);
	/* Knative's rule: a pinned revision name is "<service>-<suffix>" */
	if (err >= 0 && rev_name[0] &&
	    (strncmp(rev_name, ks->meta.name, strlen(ks->meta.name)) != 0 || rev_name[strlen(ks->meta.name)] != '-'))
		err = dec_fail(d, "spec.template.metadata.name", "must start with the Service's name and a dash");
	return err < 0 ? err : 0;
}

/* ---- traffic ---- */

/* spec.traffic (strict: as Knative's webhook validates it) or status.traffic (as written). */
static int dec_traffic(struct dec *d, const cJSON *parent, const char *parent_path, bool strict,
		       struct ilb_kservice *ks)
{
	const cJSON *list, *item;
	char path[DEC_PATH_MAX], p[DEC_PATH_MAX];
	long long percent, sum = 0;
	int err, n;

	dec_path(path, sizeof(path), parent_path, "traffic");
	err = dec_array(d, parent, parent_path, "traffic", false, MAX_TRAFFIC, &list);
	if (err <= 0 || (n = cJSON_GetArraySize(list)) == 0)
		return err;
	free(ks->traffic);
	ks->n_traffic = 0;
	ks->traffic = calloc(n, sizeof(*ks->traffic));
	if (!ks->traffic)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ilb_kn_traffic *t = &ks->traffic[i];
		char url[512] = "";
		const cJSON *latest;

		ks->n_traffic = i + 1;
		if (dec_item_object(d, list, path, i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), path, i);
		percent = 0;
		if (dec_string(d, item, p, "revisionName", false, 0, t->revision, sizeof(t->revision)) < 0 ||
		    dec_string(d, item, p, "tag", false, 0, t->tag, sizeof(t->tag)) < 0 ||
		    dec_int(d, item, p, "percent", false, 0, 100, &percent) < 0 ||
		    dec_string(d, item, p, "url", false, 0, url, sizeof(url)) < 0)
			return -EINVAL;
		/* Knative writes each tag's URL in status.traffic */
		if (url[0] && t->tag[0])
			url_host(url, t->host, sizeof(t->host));
		t->percent = (uint32_t)percent;
		sum += percent;
		latest = cJSON_GetObjectItemCaseSensitive(item, "latestRevision");
		if (latest && !cJSON_IsNull(latest) && !cJSON_IsBool(latest)) {
			dec_path(p, sizeof(p), p, "latestRevision");
			return dec_fail(d, p, "must be true or false");
		}
		/* Knative's default: a target without a revision follows the latest one */
		t->latest = cJSON_IsBool(latest) ? cJSON_IsTrue(latest) : !t->revision[0];
		if (strict && t->latest && t->revision[0]) {
			dec_path(p, sizeof(p), p, "latestRevision");
			return dec_fail(d, p, "must be false when revisionName is set");
		}
		if (strict && !t->latest && !t->revision[0]) {
			dec_path(p, sizeof(p), p, "revisionName");
			return dec_fail(d, p, "required when latestRevision is false");
		}
		if (t->tag[0] && !dns_label_valid(t->tag)) {
			dec_path(p, sizeof(p), p, "tag");
			return dec_fail(d, p, "must be a lowercase RFC 1123 label");
		}
		for (int j = 0; strict && t->tag[0] && j < i; j++) {
			if (strcmp(ks->traffic[j].tag, t->tag) == 0) {
				dec_path(p, sizeof(p), p, "tag");
				return dec_fail(d, p, "duplicate tag \"%s\"", t->tag);
			}
		}
	}
	if (strict && sum != 100)
		return dec_fail(d, path, "percents must add up to 100, not %lld", sum);
	return 1;
}

/* ---- status, hosts and the pools each target goes to ---- */

static void add_host(struct ilb_kservice *ks, const char *host)
{
	if (!host[0] || ks->n_hosts >= ILB_KN_MAX_HOSTS)
		return;
	for (int i = 0; i < ks->n_hosts; i++)
		if (strcmp(ks->hosts[i], host) == 0)
			return;
	snprintf(ks->hosts[ks->n_hosts++], sizeof(ks->hosts[0]), "%s", host);
}

static int dec_status(struct dec *d, const cJSON *json, struct ilb_kservice *ks, char *url_host_out,
		      char *address_host_out, size_t len)
{
	const cJSON *status, *address;
	char url[512] = "";
	int err;

	err = dec_object(d, json, "", "status", false, &status);
	if (err <= 0)
		return err;
	err = dec_string(d, status, "status", "latestReadyRevisionName", false, 0, ks->latest_ready,
			 sizeof(ks->latest_ready));
	if (err >= 0)
		err = dec_string(d, status, "status", "url", false, 0, url, sizeof(url));
	if (err < 0)
		return err;
	if (url[0])
		url_host(url, url_host_out, len);
	err = dec_object(d, status, "status", "address", false, &address);
	if (err > 0) {
		url[0] = '\0';
		err = dec_string(d, address, "status.address", "url", false, 0, url, sizeof(url));
		if (url[0])
			url_host(url, address_host_out, len);
	}
	if (err < 0)
		return err;
	/* what the Route actually does, once Knative has resolved it */
	return dec_traffic(d, status, "status", false, ks) < 0 ? -EINVAL : 0;
}

static void resolve_targets(struct ilb_kservice *ks, const char *template_rev)
{
	const char *name = ks->meta.name;

	if (ks->n_traffic == 0) {
		ks->traffic = calloc(1, sizeof(*ks->traffic));
		if (!ks->traffic)
			return;
		ks->n_traffic = 1;
		ks->traffic[0].latest = true;
		ks->traffic[0].percent = 100;
	}
	for (int i = 0; i < ks->n_traffic; i++) {
		struct ilb_kn_traffic *t = &ks->traffic[i];

		if (!t->revision[0] && t->latest)
			ilb_format_whole(t->revision, sizeof(t->revision), "%s",
				     ks->latest_ready[0] ? ks->latest_ready : template_rev);
		/* a revision not known yet: every pod of the Service (a tag without a status URL
		 * gets its host from config-domain when the route table is built) */
		ilb_format_whole(t->pool, sizeof(t->pool), "%s", t->revision[0] ? t->revision : name);
	}
}

static int dec_kservice(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_kservice *ks = &out->kservice;
	char template_rev[ILB_NAME_MAX] = "", status_host[ILB_NAME_MAX] = "", address_host[ILB_NAME_MAX] = "";
	char host[ILB_NAME_MAX], p[DEC_PATH_MAX];
	const char *value;
	const cJSON *spec;
	long long priority;
	int err;

	err = dec_meta(d, json, &ks->meta);
	if (err)
		return err;
	ks->min_scale = ks->max_scale = -1;
	value = ilb_labels_get(&ks->meta.annotations, AI_GATEWAY);
	/* other Services are kept by name only: the agent routes none of them */
	ks->inference = value && strcmp(value, "inference") == 0;
	if (!ks->inference)
		return 0;
	/* it becomes the first label of its host names */
	if (!dns_label_valid(ks->meta.name))
		return dec_fail(d, "metadata.name", "must be a lowercase RFC 1123 label of at most 63 characters");
	value = ilb_labels_get(&ks->meta.annotations, AI_GATEWAY_PRIORITY);
	if (value) {
		annotation_path(p, sizeof(p), "metadata", AI_GATEWAY_PRIORITY);
		if (!parse_long(value, INT32_MIN, INT32_MAX, &priority))
			return dec_fail(d, p, "must be an integer, got \"%.32s\"", value);
		ks->priority = (int32_t)priority;
		ks->has_priority = true;
	}
	err = dec_template(d, json, ks, template_rev, sizeof(template_rev));
	if (err)
		return err;
	spec = cJSON_GetObjectItemCaseSensitive(json, "spec");
	err = dec_traffic(d, spec, "spec", true, ks);
	if (err >= 0)
		err = dec_status(d, json, ks, status_host, address_host, sizeof(status_host));
	if (err < 0)
		return err;
	resolve_targets(ks, template_rev);
	if (!ks->traffic)
		return dec_fail(d, NULL, "out of memory");
	/* <name>.<ns>.<domain> is the route table's: config-domain may change under the Service */
	ilb_format_whole(host, sizeof(host), "%s.%s.svc.cluster.local", ks->meta.name, ks->meta.ns);
	add_host(ks, host);
	add_host(ks, status_host);
	add_host(ks, address_host);
	return 0;
}

/* ---- the store's row ---- */

static void kservice_free(struct ilb_object *obj)
{
	free(obj->kservice.traffic);
}

static int kservice_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	return ILB_COPY_ARRAY(dst->kservice.traffic, dst->kservice.n_traffic, src->kservice.traffic,
			      src->kservice.n_traffic);
}

static bool kservice_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_kservice *a = &x->kservice, *b = &y->kservice;

	if (a->inference != b->inference || a->priority != b->priority || a->has_priority != b->has_priority ||
	    a->container_port != b->container_port || strcmp(a->app_protocol, b->app_protocol) != 0 ||
	    a->container_concurrency != b->container_concurrency || strcmp(a->scale_metric, b->scale_metric) != 0 ||
	    a->scale_target != b->scale_target || a->min_scale != b->min_scale || a->max_scale != b->max_scale ||
	    strcmp(a->latest_ready, b->latest_ready) != 0 || a->n_hosts != b->n_hosts ||
	    a->n_traffic != b->n_traffic)
		return false;
	for (int i = 0; i < a->n_hosts; i++)
		if (strcmp(a->hosts[i], b->hosts[i]) != 0)
			return false;
	for (int i = 0; i < a->n_traffic; i++) {
		const struct ilb_kn_traffic *x = &a->traffic[i], *y = &b->traffic[i];

		if (x->latest != y->latest || x->percent != y->percent || strcmp(x->revision, y->revision) != 0 ||
		    strcmp(x->tag, y->tag) != 0 || strcmp(x->host, y->host) != 0 || strcmp(x->pool, y->pool) != 0)
			return false;
	}
	return true;
}

/* A Service's pools come and go with it; a written pool or objective gone may uncover one a
 * Service derives. */
static int kservice_follow(struct ilb_store *store, const struct ilb_store_change *change)
{
	if (change->kind == ILB_KIND_KSERVICE)
		return ilb_kservice_sync(store, change->ns, change->name);
	if ((change->kind == ILB_KIND_POOL || change->kind == ILB_KIND_OBJECTIVE) && change->removed &&
	    !change->derived)
		return ilb_kservice_sync(store, change->ns, NULL);
	return 0;
}

const struct ilb_kind_def ilb_kind_kservice = {
	.kind = ILB_KIND_KSERVICE,
	.name = "Service",
	.versions = { { "serving.knative.dev/v1", dec_kservice } },
	.free = kservice_free,
	.copy = kservice_copy,
	.equal = kservice_equal,
	.follow = kservice_follow,
};
