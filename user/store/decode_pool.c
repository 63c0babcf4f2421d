/* decode_pool.c - InferencePool, inference.networking.k8s.io/v1 and the legacy
 * inference.networking.x-k8s.io/v1alpha2, plus the inferlb.io/vip annotations; its row. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "decode.h"

#define VIP_ANNOTATION "inferlb.io/vip"
#define VIP_PROTOCOL_ANNOTATION "inferlb.io/vip-protocol"
#define VIP_PATH "metadata.annotations[" VIP_ANNOTATION "]"
#define VIP_PROTOCOL_PATH "metadata.annotations[" VIP_PROTOCOL_ANNOTATION "]"

static const char *const failure_modes[] = { "FailClose", "FailOpen", NULL };

/* "IP:PORT", IPv6 as "[IP]:PORT". */
static int parse_host_port(const char *text, struct ilb_addr *addr, uint16_t *port)
{
	char host[64];
	const char *port_text;
	size_t host_len;
	char *end;
	long value;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host_len = close - text - 1;
		text++;
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');

		/* a bare IPv6 address has several colons and needs its brackets */
		if (!colon || strchr(text, ':') != colon)
			return -EINVAL;
		host_len = colon - text;
		port_text = colon + 1;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, host_len);
	host[host_len] = '\0';
	if (ilb_addr_parse(host, addr))
		return -EINVAL;
	if (port_text[0] < '0' || port_text[0] > '9')
		return -EINVAL;
	value = strtol(port_text, &end, 10);
	if (*end || value < 1 || value > 65535)
		return -EINVAL;
	*port = (uint16_t)value;
	return 0;
}

static int dec_vip(struct dec *d, struct ilb_pool *pool)
{
	const char *vip = ilb_labels_get(&pool->meta.annotations, VIP_ANNOTATION);
	const char *proto = ilb_labels_get(&pool->meta.annotations, VIP_PROTOCOL_ANNOTATION);

	if (!vip) {
		if (proto)
			return dec_fail(d, VIP_PROTOCOL_PATH, "set without " VIP_ANNOTATION);
		return 0;
	}
	if (parse_host_port(vip, &pool->vip, &pool->vip_port))
		return dec_fail(d, VIP_PATH, "must be IP:PORT (IPv6 as [IP]:PORT), got \"%.64s\"", vip);
	pool->vip_proto = IPPROTO_TCP;
	if (proto) {
		if (strcasecmp(proto, "UDP") == 0)
			pool->vip_proto = IPPROTO_UDP;
		else if (strcasecmp(proto, "TCP") != 0)
			return dec_fail(d, VIP_PROTOCOL_PATH, "must be TCP or UDP");
	}
	pool->has_vip = true;
	return 0;
}

static int add_target_port(struct dec *d, struct ilb_pool *pool, long long number, const char *path)
{
	for (int i = 0; i < pool->n_target_ports; i++)
		if (pool->target_ports[i] == number)
			return dec_fail(d, path, "duplicate port %lld", number);
	pool->target_ports[pool->n_target_ports++] = (uint16_t)number;
	return 0;
}

/* A selector of labels at path.key, which must not be empty: it would select every pod of
 * the namespace. */
static int dec_selector(struct dec *d, const cJSON *parent, const char *path, const char *key, struct ilb_pool *pool)
{
	char p[DEC_PATH_MAX];
	int err = dec_string_map(d, parent, path, key, true, &pool->selector);

	if (err < 0)
		return err;
	dec_path(p, sizeof(p), path, key);
	if (pool->selector.count == 0)
		return dec_fail(d, p, "must not be empty");
	return 0;
}

static int dec_target_ports_v1(struct dec *d, const cJSON *spec, struct ilb_pool *pool)
{
	const cJSON *ports, *port;
	char p[DEC_PATH_MAX];
	long long number;
	int err = dec_array(d, spec, "spec", "targetPorts", true, ILB_MAX_TARGET_PORTS, &ports);

	if (err < 0)
		return err;
	if (cJSON_GetArraySize(ports) == 0)
		return dec_fail(d, "spec.targetPorts", "must have at least one port");
	for (int i = 0; i < cJSON_GetArraySize(ports); i++) {
		if (dec_item_object(d, ports, "spec.targetPorts", i, &port) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "spec.targetPorts", i);
		if (dec_int(d, port, p, "number", true, 1, 65535, &number) < 0)
			return -EINVAL;
		dec_path(p, sizeof(p), p, "number");
		if (add_target_port(d, pool, number, p))
			return -EINVAL;
	}
	return 0;
}

static int dec_epp_ref(struct dec *d, const cJSON *ref, const char *path, struct ilb_pool *pool)
{
	char kind[64] = "Service", group[64], p[DEC_PATH_MAX];
	const cJSON *port;
	long long number;
	int mode = ILB_FAIL_CLOSE, err, has_port;

	err = dec_string(d, ref, path, "name", true, 1, pool->epp_name, sizeof(pool->epp_name));
	if (err >= 0)
		err = dec_string(d, ref, path, "kind", false, 0, kind, sizeof(kind));
	if (err >= 0)
		err = dec_string(d, ref, path, "group", false, 0, group, sizeof(group));
	if (err >= 0)
		err = dec_enum(d, ref, path, "failureMode", false, failure_modes, &mode);
	if (err < 0)
		return err;
	pool->failure_mode = mode == 1 ? ILB_FAIL_OPEN : ILB_FAIL_CLOSE;
	if (pool->legacy) {
		return dec_int(d, ref, path, "portNumber", false, 1, 65535, &number) < 0 ? -EINVAL : 0;
	}
	has_port = dec_object(d, ref, path, "port", false, &port);
	if (has_port < 0)
		return has_port;
	dec_path(p, sizeof(p), path, "port");
	if (has_port && dec_int(d, port, p, "number", true, 1, 65535, &number) < 0)
		return -EINVAL;
	if (!has_port && (!kind[0] || strcmp(kind, "Service") == 0))
		return dec_fail(d, p, "required when kind is Service");
	return 0;
}

/* Metadata and spec, the version's own spec fields, then the endpoint picker's reference
 * (spec.REF_KEY) and the VIP annotations, which both versions share. */
static int dec_pool(struct dec *d, const cJSON *json, struct ilb_pool *pool, const char *ref_key,
		    int (*dec_spec)(struct dec *d, const cJSON *spec, struct ilb_pool *pool))
{
	const cJSON *spec, *ref;
	char p[DEC_PATH_MAX];
	int err;

	err = dec_meta_spec(d, json, &pool->meta, &spec);
	if (!err)
		err = dec_spec(d, spec, pool);
	if (err >= 0)
		err = dec_object(d, spec, "spec", ref_key, false, &ref);
	dec_path(p, sizeof(p), "spec", ref_key);
	if (err > 0)
		err = dec_epp_ref(d, ref, p, pool);
	if (err < 0)
		return err;
	return dec_vip(d, pool);
}

static const char *const protocols[] = { "http", "kubernetes.io/h2c", NULL };

static int dec_spec_v1(struct dec *d, const cJSON *spec, struct ilb_pool *pool)
{
	const cJSON *selector;
	int protocol = 0, err;

	err = dec_object(d, spec, "spec", "selector", true, &selector);
	if (err >= 0)
		err = dec_selector(d, selector, "spec.selector", "matchLabels", pool);
	if (err < 0 || dec_target_ports_v1(d, spec, pool))
		return -EINVAL;
	err = dec_enum(d, spec, "spec", "appProtocol", false, protocols, &protocol);
	if (err < 0)
		return err;
	snprintf(pool->app_protocol, sizeof(pool->app_protocol), "%s", protocols[protocol]);
	return 0;
}

static int dec_spec_legacy(struct dec *d, const cJSON *spec, struct ilb_pool *pool)
{
	long long number;
	int err = dec_selector(d, spec, "spec", "selector", pool);

	if (err < 0)
		return err;
	if (dec_int(d, spec, "spec", "targetPortNumber", true, 1, 65535, &number) < 0)
		return -EINVAL;
	add_target_port(d, pool, number, "spec.targetPortNumber");
	snprintf(pool->app_protocol, sizeof(pool->app_protocol), "http");
	return 0;
}

static int dec_pool_v1(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	return dec_pool(d, json, &out->pool, "endpointPickerRef", dec_spec_v1);
}

static int dec_pool_legacy(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	out->pool.legacy = true;
	return dec_pool(d, json, &out->pool, "extensionRef", dec_spec_legacy);
}

/* ---- the store's row ---- */

static void pool_free(struct ilb_object *obj)
{
	ilb_labels_free(&obj->pool.selector);
}

static int pool_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	return ilb_labels_copy(&dst->pool.selector, &src->pool.selector);
}

static bool pool_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_pool *a = &x->pool, *b = &y->pool;

	if (a->legacy != b->legacy || a->n_target_ports != b->n_target_ports ||
	    a->failure_mode != b->failure_mode || !ILB_STR_EQ(a->app_protocol, b->app_protocol) ||
	    !ILB_STR_EQ(a->epp_name, b->epp_name) || !ilb_labels_equal(&a->selector, &b->selector))
		return false;
	for (int i = 0; i < a->n_target_ports; i++)
		if (a->target_ports[i] != b->target_ports[i])
			return false;
	if (a->has_vip != b->has_vip || a->queue_proxy_port != b->queue_proxy_port ||
	    !ILB_STR_EQ(a->derived_from, b->derived_from))
		return false;
	return !a->has_vip || (ilb_addr_equal(&a->vip, &b->vip) && a->vip_port == b->vip_port &&
			       a->vip_proto == b->vip_proto);
}

static const char *pool_derived_from(const struct ilb_object *obj)
{
	return obj->pool.derived_from;
}

const struct ilb_kind_def ilb_kind_pool = {
	.kind = ILB_KIND_POOL,
	.name = "InferencePool",
	.versions = {
		{ "inference.networking.k8s.io/v1", dec_pool_v1 },
		{ "inference.networking.x-k8s.io/v1alpha2", dec_pool_legacy },
	},
	.free = pool_free,
	.copy = pool_copy,
	.equal = pool_equal,
	.derived_from = pool_derived_from,
};
