/* decode_pod.c - v1 Pods: addresses, readiness, node and container ports, the store's row
 * for them. */
#include <errno.h>
#include <string.h>

#include "decode.h"

static int pod_add_ip(struct dec *d, struct ilb_pod *pod, const char *text, const char *path)
{
	struct ilb_addr addr;

	if (ilb_addr_parse(text, &addr))
		return dec_fail(d, path, "not an IP address: \"%.64s\"", text);
	for (int i = 0; i < pod->n_ips; i++)
		if (ilb_addr_equal(&pod->ips[i], &addr))
			return 0;
	/* a pod has one address per family at most; further ones are ignored */
	if (pod->n_ips < ARRAY_LEN(pod->ips))
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
			if (pod->n_ports < ARRAY_LEN(pod->ports))
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

static int dec_pod(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_pod *pod = &out->pod;
	const cJSON *md, *spec, *status;
	int err;

	err = dec_meta(d, json, &pod->meta);
	if (err)
		return err;
	md = cJSON_GetObjectItemCaseSensitive(json, "metadata");
	pod->terminating = dec_field(md, "deletionTimestamp") != NULL;
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

static bool pod_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_pod *a = &x->pod, *b = &y->pod;

	if (a->n_ips != b->n_ips || a->ready != b->ready || a->terminating != b->terminating ||
	    a->n_ports != b->n_ports || !ILB_STR_EQ(a->node_name, b->node_name))
		return false;
	for (int i = 0; i < a->n_ips; i++)
		if (!ilb_addr_equal(&a->ips[i], &b->ips[i]))
			return false;
	for (int i = 0; i < a->n_ports; i++)
		if (a->ports[i].port != b->ports[i].port || !ILB_STR_EQ(a->ports[i].name, b->ports[i].name))
			return false;
	return true;
}

const struct ilb_kind_def ilb_kind_pod = {
	.kind = ILB_KIND_POD,
	.name = "Pod",
	.versions = { { "v1", dec_pod } },
	.equal = pod_equal,
};
