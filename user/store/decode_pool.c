/* decode_pool.c - InferencePool, inference.networking.k8s.io/v1 and the legacy
 * inference.networking.x-k8s.io/v1alpha2, plus the inferlb.io/vip annotations. */
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

static int dec_selector_v1(struct dec *d, const cJSON *spec, struct ilb_pool *pool)
{
	const cJSON *selector;
	int err = dec_object(d, spec, "spec", "selector", true, &selector);

	if (err < 0)
		return err;
	err = dec_string_map(d, selector, "spec.selector", "matchLabels", true, &pool->selector);
	if (err < 0)
		return err;
	/* an empty selector would select every pod of the namespace */
	if (pool->selector.count == 0)
		return dec_fail(d, "spec.selector.matchLabels", "must not be empty");
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

int dec_pool_v1(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	static const char *const protocols[] = { "http", "kubernetes.io/h2c", NULL };
	struct ilb_pool *pool = &out->pool;
	const cJSON *spec, *ref;
	int protocol = 0, err;

	err = dec_meta(d, json, &pool->meta);
	if (err)
		return err;
	err = dec_object(d, json, "", "spec", true, &spec);
	if (err < 0)
		return err;
	if (dec_selector_v1(d, spec, pool) || dec_target_ports_v1(d, spec, pool))
		return -EINVAL;
	err = dec_enum(d, spec, "spec", "appProtocol", false, protocols, &protocol);
	if (err < 0)
		return err;
	snprintf(pool->app_protocol, sizeof(pool->app_protocol), "%s", protocols[protocol]);
	err = dec_object(d, spec, "spec", "endpointPickerRef", false, &ref);
	if (err > 0)
		err = dec_epp_ref(d, ref, "spec.endpointPickerRef", pool);
	if (err < 0)
		return err;
	return dec_vip(d, pool);
}

int dec_pool_legacy(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_pool *pool = &out->pool;
	const cJSON *spec, *ref;
	long long number;
	int err;

	pool->legacy = true;
	err = dec_meta(d, json, &pool->meta);
	if (err)
		return err;
	err = dec_object(d, json, "", "spec", true, &spec);
	if (err < 0)
		return err;
	err = dec_string_map(d, spec, "spec", "selector", true, &pool->selector);
	if (err < 0)
		return err;
	if (pool->selector.count == 0)
		return dec_fail(d, "spec.selector", "must not be empty");
	if (dec_int(d, spec, "spec", "targetPortNumber", true, 1, 65535, &number) < 0)
		return -EINVAL;
	add_target_port(d, pool, number, "spec.targetPortNumber");
	snprintf(pool->app_protocol, sizeof(pool->app_protocol), "http");
	err = dec_object(d, spec, "spec", "extensionRef", false, &ref);
	if (err > 0)
		err = dec_epp_ref(d, ref, "spec.extensionRef", pool);
	if (err < 0)
		return err;
	return dec_vip(d, pool);
}
