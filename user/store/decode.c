/* decode.c - Kubernetes objects (JSON, as the API server or a manifest gives them) to
 * struct ilb_object: the kind dispatch, typed field readers, metadata and Pods. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

/* ---- field readers ---- */

int dec_fail(struct dec *d, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!d->err || !d->errlen)
		return -EINVAL;
	if (path && path[0])
		n = snprintf(d->err, d->errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= d->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(d->err + n, d->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Appends text at buf[*used], truncating at len; buf may already hold the parent. */
static void path_append(char *buf, size_t len, size_t *used, const char *text)
{
	size_t n = strlen(text);

	if (*used + 1 >= len)
		return;
	if (n > len - 1 - *used)
		n = len - 1 - *used;
	memmove(buf + *used, text, n);
	*used += n;
	buf[*used] = '\0';
}

static size_t path_start(char *buf, size_t len, const char *parent)
{
	size_t used = 0;

	if (!len)
		return 0;
	if (parent == buf)
		return strlen(buf);
	buf[0] = '\0';
	if (parent)
		path_append(buf, len, &used, parent);
	return used;
}

void dec_path(char *buf, size_t len, const char *parent, const char *key)
{
	size_t used = path_start(buf, len, parent);

	if (used)
		path_append(buf, len, &used, ".");
	path_append(buf, len, &used, key);
}

void dec_index(char *buf, size_t len, const char *parent, int index)
{
	char suffix[16];
	size_t used = path_start(buf, len, parent);

	snprintf(suffix, sizeof(suffix), "[%d]", index);
	path_append(buf, len, &used, suffix);
}

/* The field, or NULL when absent or null (the API server treats both alike). */
static const cJSON *field(const cJSON *parent, const char *key)
{
	const cJSON *item = parent ? cJSON_GetObjectItemCaseSensitive(parent, key) : NULL;

	return cJSON_IsNull(item) ? NULL : item;
}

static int absent(struct dec *d, const char *path, const char *key, bool required)
{
	char p[DEC_PATH_MAX];

	if (!required)
		return 0;
	dec_path(p, sizeof(p), path, key);
	return dec_fail(d, p, "required");
}

int dec_object(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       const cJSON **out)
{
	const cJSON *item = field(parent, key);
	char p[DEC_PATH_MAX];

	*out = NULL;
	if (!item)
		return absent(d, path, key, required);
	if (!cJSON_IsObject(item)) {
		dec_path(p, sizeof(p), path, key);
		return dec_fail(d, p, "must be an object");
	}
	*out = item;
	return 1;
}

int dec_array(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, int max,
	      const cJSON **out)
{
	const cJSON *item = field(parent, key);
	char p[DEC_PATH_MAX];

	*out = NULL;
	if (!item)
		return absent(d, path, key, required);
	dec_path(p, sizeof(p), path, key);
	if (!cJSON_IsArray(item))
		return dec_fail(d, p, "must be a list");
	if (max > 0 && cJSON_GetArraySize(item) > max)
		return dec_fail(d, p, "must have at most %d items", max);
	*out = item;
	return 1;
}

int dec_string(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       size_t min_len, char *buf, size_t len)
{
	const cJSON *item = field(parent, key);
	char p[DEC_PATH_MAX];
	size_t n;

	if (!item)
		return absent(d, path, key, required);
	dec_path(p, sizeof(p), path, key);
	if (!cJSON_IsString(item) || !item->valuestring)
		return dec_fail(d, p, "must be a string");
	n = strlen(item->valuestring);
	if (n < min_len)
		return dec_fail(d, p, "must not be empty");
	if (n >= len)
		return dec_fail(d, p, "must be at most %zu characters", len - 1);
	memcpy(buf, item->valuestring, n + 1);
	return 1;
}

int dec_int(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, long long min,
	    long long max, long long *out)
{
	const cJSON *item = field(parent, key);
	char p[DEC_PATH_MAX];
	double v;

	if (!item)
		return absent(d, path, key, required);
	dec_path(p, sizeof(p), path, key);
	if (!cJSON_IsNumber(item))
		return dec_fail(d, p, "must be an integer");
	v = item->valuedouble;
	if (!isfinite(v) || v != floor(v))
		return dec_fail(d, p, "must be an integer");
	if (v < (double)min || v > (double)max)
		return dec_fail(d, p, "must be %lld..%lld", min, max);
	*out = (long long)v;
	return 1;
}

int dec_enum(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	     const char *const *values, int *out)
{
	char value[64], p[DEC_PATH_MAX], allowed[256] = "";
	size_t used = 0;
	int err = dec_string(d, parent, path, key, required, 0, value, sizeof(value));

	if (err <= 0)
		return err;
	for (int i = 0; values[i]; i++) {
		if (strcmp(values[i], value) == 0) {
			*out = i;
			return 1;
		}
	}
	for (int i = 0; values[i] && used < sizeof(allowed); i++)
		used += snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", values[i]);
	dec_path(p, sizeof(p), path, key);
	return dec_fail(d, p, "must be one of %s", allowed);
}

int dec_string_map(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
		   struct ilb_labels *out)
{
	const cJSON *map, *entry;
	char p[DEC_PATH_MAX];
	int err = dec_object(d, parent, path, key, required, &map);

	if (err <= 0)
		return err;
	dec_path(p, sizeof(p), path, key);
	cJSON_ArrayForEach(entry, map) {
		if (!entry->string || !entry->string[0])
			return dec_fail(d, p, "keys must not be empty");
		if (!cJSON_IsString(entry) || !entry->valuestring) {
			char item_path[DEC_PATH_MAX + 64];

			snprintf(item_path, sizeof(item_path), "%s[%.60s]", p, entry->string);
			return dec_fail(d, item_path, "must be a string");
		}
		err = ilb_labels_set(out, entry->string, entry->valuestring);
		if (err) {
			dec_fail(d, p, "out of memory");
			return err;
		}
	}
	return 1;
}

int dec_item_object(struct dec *d, const cJSON *array, const char *path, int index, const cJSON **out)
{
	const cJSON *item = cJSON_GetArrayItem(array, index);
	char p[DEC_PATH_MAX];

	*out = item;
	if (cJSON_IsObject(item))
		return 1;
	dec_index(p, sizeof(p), path, index);
	return dec_fail(d, p, "must be an object");
}

/* ---- metadata ---- */

/* RFC 1123 label (dots_allowed false) or subdomain, as Kubernetes names are. */
static bool dns_name_valid(const char *s, bool dots_allowed)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (alnum)
			continue;
		if (i == 0 || i == n - 1)
			return false;
		if (c != '-' && !(dots_allowed && c == '.'))
			return false;
	}
	return true;
}

int dec_meta(struct dec *d, const cJSON *json, struct ilb_meta *meta)
{
	const cJSON *md;
	int err;

	err = dec_object(d, json, "", "metadata", true, &md);
	if (err < 0)
		return err;
	err = dec_string(d, md, "metadata", "name", true, 1, meta->name, sizeof(meta->name));
	if (err < 0)
		return err;
	if (!dns_name_valid(meta->name, true))
		return dec_fail(d, "metadata.name", "must be a lowercase RFC 1123 subdomain");
	err = dec_string(d, md, "metadata", "namespace", false, 0, meta->ns, sizeof(meta->ns));
	if (err < 0)
		return err;
	if (!meta->ns[0])
		snprintf(meta->ns, sizeof(meta->ns), "default");
	else if (strlen(meta->ns) > 63 || !dns_name_valid(meta->ns, false))
		return dec_fail(d, "metadata.namespace", "must be a lowercase RFC 1123 label");
	err = dec_string(d, md, "metadata", "uid", false, 0, meta->uid, sizeof(meta->uid));
	if (err >= 0)
		err = dec_string(d, md, "metadata", "resourceVersion", false, 0, meta->resource_version,
				 sizeof(meta->resource_version));
	if (err >= 0)
		err = dec_string_map(d, md, "metadata", "labels", false, &meta->labels);
	if (err >= 0)
		err = dec_string_map(d, md, "metadata", "annotations", false, &meta->annotations);
	return err < 0 ? err : 0;
}

/* ---- Pod ---- */

static int pod_add_ip(struct dec *d, struct ilb_pod *pod, const char *text, const char *path)
{
	struct ilb_addr addr;

	if (ilb_addr_parse(text, &addr))
		return dec_fail(d, path, "not an IP address: \"%.64s\"", text);
	for (int i = 0; i < pod->n_ips; i++)
		if (ilb_addr_equal(&pod->ips[i], &addr))
			return 0;
	/* a pod has one address per family at most; further ones are ignored */
	if (pod->n_ips < (int)(sizeof(pod->ips) / sizeof(pod->ips[0])))
		pod->ips[pod->n_ips++] = addr;
	return 0;
}

static int pod_ports(struct dec *d, const cJSON *spec, struct ilb_pod *pod)
{
	const cJSON *containers, *container, *ports, *port;
	char cpath[DEC_PATH_MAX], ppath[DEC_PATH_MAX], p[DEC_PATH_MAX];
	long long number;
	int err;

	err = dec_array(d, spec, "spec", "containers", false, 0, &containers);
	if (err <= 0)
		return err;
	for (int c = 0; c < cJSON_GetArraySize(containers); c++) {
		err = dec_item_object(d, containers, "spec.containers", c, &container);
		if (err < 0)
			return err;
		dec_index(cpath, sizeof(cpath), "spec.containers", c);
		err = dec_array(d, container, cpath, "ports", false, 0, &ports);
		if (err < 0)
			return err;
		dec_path(ppath, sizeof(ppath), cpath, "ports");
		for (int i = 0; err > 0 && i < cJSON_GetArraySize(ports); i++) {
			struct ilb_container_port scratch = { 0 }, *cp = &scratch;

			if (dec_item_object(d, ports, ppath, i, &port) < 0)
				return -EINVAL;
			/* only the first ports fit; the rest are still validated */
			if (pod->n_ports < (int)(sizeof(pod->ports) / sizeof(pod->ports[0])))
				cp = &pod->ports[pod->n_ports];
			dec_index(p, sizeof(p), ppath, i);
			if (dec_int(d, port, p, "containerPort", true, 1, 65535, &number) < 0 ||
			    dec_string(d, port, p, "name", false, 0, cp->name, sizeof(cp->name)) < 0)
				return -EINVAL;
			cp->port = (uint16_t)number;
			if (cp != &scratch)
				pod->n_ports++;
		}
	}
	return 0;
}

static int pod_status(struct dec *d, const cJSON *status, struct ilb_pod *pod)
{
	const cJSON *ips, *conditions, *item;
	char text[64], p[DEC_PATH_MAX];
	int err;

	err = dec_string(d, status, "status", "podIP", false, 0, text, sizeof(text));
	if (err < 0)
		return err;
	if (err > 0 && text[0] && pod_add_ip(d, pod, text, "status.podIP"))
		return -EINVAL;
	err = dec_array(d, status, "status", "podIPs", false, 0, &ips);
	for (int i = 0; err > 0 && i < cJSON_GetArraySize(ips); i++) {
		if (dec_item_object(d, ips, "status.podIPs", i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "status.podIPs", i);
		if (dec_string(d, item, p, "ip", true, 1, text, sizeof(text)) < 0)
			return -EINVAL;
		dec_path(p, sizeof(p), p, "ip");
		if (pod_add_ip(d, pod, text, p))
			return -EINVAL;
	}
	if (err < 0)
		return err;
	err = dec_array(d, status, "status", "conditions", false, 0, &conditions);
	for (int i = 0; err > 0 && i < cJSON_GetArraySize(conditions); i++) {
		char type[64] = "", value[16] = "";

		if (dec_item_object(d, conditions, "status.conditions", i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "status.conditions", i);
		if (dec_string(d, item, p, "type", true, 1, type, sizeof(type)) < 0 ||
		    dec_string(d, item, p, "status", true, 1, value, sizeof(value)) < 0)
			return -EINVAL;
		if (strcmp(type, "Ready") == 0)
			pod->ready = strcmp(value, "True") == 0;
	}
	return err < 0 ? err : 0;
}

int dec_pod(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_pod *pod = &out->pod;
	const cJSON *md, *spec, *status;
	int err;

	err = dec_meta(d, json, &pod->meta);
	if (err)
		return err;
	md = cJSON_GetObjectItemCaseSensitive(json, "metadata");
	pod->terminating = field(md, "deletionTimestamp") != NULL;
	err = dec_object(d, json, "", "spec", false, &spec);
	if (err < 0)
		return err;
	err = dec_string(d, spec, "spec", "nodeName", false, 0, pod->node_name, sizeof(pod->node_name));
	if (err < 0)
		return err;
	err = pod_ports(d, spec, pod);
	if (err < 0)
		return err;
	err = dec_object(d, json, "", "status", false, &status);
	if (err < 0)
		return err;
	return pod_status(d, status, pod);
}

/* ---- dispatch ---- */

struct kind_decoder {
	const char *api_version;
	const char *kind;
	enum ilb_kind ilb_kind;
	int (*decode)(struct dec *d, const cJSON *json, struct ilb_object *out);
};

static const struct kind_decoder decoders[] = {
	{ "v1", "Pod", ILB_KIND_POD, dec_pod },
	{ "inference.networking.k8s.io/v1", "InferencePool", ILB_KIND_POOL, dec_pool_v1 },
	{ "inference.networking.x-k8s.io/v1alpha2", "InferencePool", ILB_KIND_POOL, dec_pool_legacy },
	{ "inference.networking.x-k8s.io/v1alpha2", "InferenceObjective", ILB_KIND_OBJECTIVE, dec_objective },
	{ "inference.networking.x-k8s.io/v1alpha2", "InferenceModelRewrite", ILB_KIND_MODEL_REWRITE,
	  dec_model_rewrite },
	{ "inference.networking.x-k8s.io/v1alpha2", "InferenceModel", ILB_KIND_INFERENCE_MODEL,
	  dec_inference_model },
	{ "gateway.networking.k8s.io/v1", "Gateway", ILB_KIND_GATEWAY, dec_gateway },
	{ "gateway.networking.k8s.io/v1beta1", "Gateway", ILB_KIND_GATEWAY, dec_gateway },
	{ "gateway.networking.k8s.io/v1", "HTTPRoute", ILB_KIND_HTTPROUTE, dec_httproute },
	{ "gateway.networking.k8s.io/v1beta1", "HTTPRoute", ILB_KIND_HTTPROUTE, dec_httproute },
	{ "serving.knative.dev/v1", "Service", ILB_KIND_KSERVICE, dec_kservice },
	{ "v1", "ConfigMap", ILB_KIND_KN_DOMAIN, dec_kn_domain }, /* config-domain only */
	{ "networking.internal.knative.dev/v1alpha1", "ServerlessService", ILB_KIND_KN_SKS, dec_kn_sks },
	{ "v1", "Endpoints", ILB_KIND_KN_ENDPOINTS, dec_kn_endpoints }, /* Knative's public ones only */
};

#define N_DECODERS (sizeof(decoders) / sizeof(decoders[0]))

/* A kind we read, written with a version we do not: worth an error rather than silence. */
static bool known_group_and_kind(const char *api_version, const char *kind)
{
	size_t group_len = strcspn(api_version, "/");

	if (!api_version[group_len])
		return false; /* core group: only v1 exists */
	for (size_t i = 0; i < N_DECODERS; i++) {
		const char *known = decoders[i].api_version;

		if (strcmp(decoders[i].kind, kind) == 0 && strlen(known) > group_len &&
		    strncmp(known, api_version, group_len + 1) == 0)
			return true;
	}
	/* the two inference groups were renamed across versions: either one counts */
	return strncmp(api_version, "inference.networking.", 21) == 0 &&
	       (strcmp(kind, "InferencePool") == 0 || strcmp(kind, "InferenceObjective") == 0 ||
		strcmp(kind, "InferenceModelRewrite") == 0 || strcmp(kind, "InferenceModel") == 0);
}

int ilb_decode(const cJSON *json, struct ilb_object *out, char *err, size_t errlen)
{
	struct dec d = { .err = err, .errlen = errlen };
	char api_version[128], kind[64];
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!cJSON_IsObject(json))
		return dec_fail(&d, NULL, "object: must be a mapping");
	if (dec_string(&d, json, "", "apiVersion", true, 1, api_version, sizeof(api_version)) < 0 ||
	    dec_string(&d, json, "", "kind", true, 1, kind, sizeof(kind)) < 0)
		return -EINVAL;
	for (size_t i = 0; i < N_DECODERS; i++) {
		if (strcmp(decoders[i].api_version, api_version) != 0 || strcmp(decoders[i].kind, kind) != 0)
			continue;
		out->kind = decoders[i].ilb_kind;
		ret = decoders[i].decode(&d, json, out);
		if (ret < 0) {
			ilb_object_free(out);
			return ret;
		}
		return 0;
	}
	if (known_group_and_kind(api_version, kind))
		return dec_fail(&d, "apiVersion", "%s is not a supported version of %s", api_version, kind);
	return -ENOENT;
}
