/* kn_activator.c - Knative's activator, as Knative's own ingress finds it: a revision's
 * ServerlessService (networking.internal.knative.dev/v1alpha1, named after the revision) says
 * whether its public Service points at the pods (Serve) or at the activator (Proxy), and the
 * public Service's Endpoints, which Knative's SKS controller writes, hold those addresses.
 * The route table sends a revision with no ready pod to them in Proxy mode. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"
#include "knative.h"

#define SERVICE_TYPE_PUBLIC "Public"
#define PORT_NAME_HTTP1 "http" /* Knative's name of the HTTP/1.1 port (h2c's is "http2") */
#define ACTIVATOR_HTTP1_PORT 8012

/* ---- ServerlessService ---- */

static int dec_kn_sks(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	static const char *const modes[] = { "Serve", "Proxy", NULL };
	static const char *const protocols[] = { "http1", "h2c", NULL };
	struct ilb_kn_sks *sks = &out->kn_sks;
	const cJSON *spec, *status;
	int err, mode = ILB_KN_SKS_SERVE, protocol = 0;

	/* what Knative's webhook requires: a spec with a mode, and a protocol it knows when one
	 * is given */
	err = dec_meta_spec(d, json, &sks->meta, &spec);
	if (!err)
		err = dec_enum(d, spec, "spec", "mode", true, modes, &mode);
	if (err >= 0)
		err = dec_enum(d, spec, "spec", "protocolType", false, protocols, &protocol);
	if (err >= 0)
		err = dec_object(d, json, "", "status", false, &status);
	if (err > 0)
		err = dec_string(d, status, "status", "serviceName", false, 0, sks->service_name,
				 sizeof(sks->service_name));
	if (err < 0)
		return err;
	sks->mode = mode;
	sks->h2c = protocol == 1;
	return 0;
}

static bool sks_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_kn_sks *a = &x->kn_sks, *b = &y->kn_sks;

	return a->mode == b->mode && a->h2c == b->h2c && strcmp(a->service_name, b->service_name) == 0;
}

const struct ilb_kind_def ilb_kind_kn_sks = {
	.kind = ILB_KIND_KN_SKS,
	.name = "ServerlessService",
	.versions = { { "networking.internal.knative.dev/v1alpha1", dec_kn_sks } },
	.equal = sks_equal,
};

/* ---- Endpoints ---- */

/* The subset's HTTP/1.1 port: the one named "http", else 8012; 0 when it has neither (an
 * h2c revision's "http2", which the L7 lane does not speak). */
static int subset_port(struct dec *d, const cJSON *subset, const char *path, uint16_t *out)
{
	const cJSON *ports, *port;
	char ppath[DEC_PATH_MAX], p[DEC_PATH_MAX];
	int err;

	*out = 0;
	err = dec_array(d, subset, path, "ports", false, 0, &ports);
	if (err <= 0)
		return err;
	dec_path(ppath, sizeof(ppath), path, "ports");
	for (int i = 0; i < cJSON_GetArraySize(ports); i++) {
		char name[64] = "", protocol[16] = "TCP";
		long long number;

		if (dec_item_object(d, ports, ppath, i, &port) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), ppath, i);
		if (dec_int(d, port, p, "port", true, 1, 65535, &number) < 0 ||
		    dec_string(d, port, p, "name", false, 0, name, sizeof(name)) < 0 ||
		    dec_string(d, port, p, "protocol", false, 0, protocol, sizeof(protocol)) < 0)
			return -EINVAL;
		if (strcmp(protocol, "TCP") != 0)
			continue;
		if (strcmp(name, PORT_NAME_HTTP1) == 0) {
			*out = (uint16_t)number;
			return 0;
		}
		if (number == ACTIVATOR_HTTP1_PORT && !*out)
			*out = (uint16_t)number;
	}
	return 0;
}

/* subsets[index].addresses (ready) or .notReadyAddresses: each must carry an IP. */
static int subset_addresses(struct dec *d, const cJSON *subset, const char *path, const char *key,
			    uint16_t port, struct ilb_kn_endpoints *eps, bool ready)
{
	const cJSON *list, *item;
	char lpath[DEC_PATH_MAX], p[DEC_PATH_MAX], ip[64];
	int err = dec_array(d, subset, path, key, false, 0, &list);

	if (err <= 0)
		return err;
	dec_path(lpath, sizeof(lpath), path, key);
	for (int i = 0; i < cJSON_GetArraySize(list); i++) {
		struct ilb_addr addr;

		if (dec_item_object(d, list, lpath, i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), lpath, i);
		if (dec_string(d, item, p, "ip", true, 1, ip, sizeof(ip)) < 0)
			return -EINVAL;
		if (ilb_addr_parse(ip, &addr)) {
			dec_path(p, sizeof(p), p, "ip");
			return dec_fail(d, p, "not an IP address: \"%.64s\"", ip);
		}
		if (!ready) {
			eps->n_not_ready++;
			continue;
		}
		/* an address without an HTTP/1.1 port cannot take a request; past the first
		 * ILB_KN_MAX_ENDPOINTS the activator has enough to share the load */
		if (!port || eps->n_ready >= ILB_KN_MAX_ENDPOINTS)
			continue;
		eps->ready[eps->n_ready].addr = addr;
		eps->ready[eps->n_ready].port = port;
		eps->n_ready++;
	}
	return 0;
}

/* v1 Endpoints: only a Knative public Service's are read (-ENOENT for any other, a kind the
 * agent does not read), as the Kubernetes source lists them by that label. */
static int dec_kn_endpoints(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_kn_endpoints *eps = &out->kn_endpoints;
	const cJSON *subsets, *subset;
	char path[DEC_PATH_MAX];
	const char *type;
	int err;

	err = dec_meta(d, json, &eps->meta);
	if (err)
		return err;
	type = ilb_labels_get(&eps->meta.labels, ILB_KN_LABEL_SERVICE_TYPE);
	if (!type || strcmp(type, SERVICE_TYPE_PUBLIC) != 0)
		return -ENOENT;
	err = dec_array(d, json, "", "subsets", false, 0, &subsets);
	for (int i = 0; err > 0 && i < cJSON_GetArraySize(subsets); i++) {
		uint16_t port;

		if (dec_item_object(d, subsets, "subsets", i, &subset) < 0)
			return -EINVAL;
		dec_index(path, sizeof(path), "subsets", i);
		if (subset_port(d, subset, path, &port) < 0 ||
		    subset_addresses(d, subset, path, "addresses", port, eps, true) < 0 ||
		    subset_addresses(d, subset, path, "notReadyAddresses", port, eps, false) < 0)
			return -EINVAL;
	}
	return err < 0 ? err : 0;
}

static bool endpoints_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_kn_endpoints *a = &x->kn_endpoints, *b = &y->kn_endpoints;

	if (a->n_ready != b->n_ready || a->n_not_ready != b->n_not_ready)
		return false;
	for (int i = 0; i < a->n_ready; i++)
		if (a->ready[i].port != b->ready[i].port || !ilb_addr_equal(&a->ready[i].addr, &b->ready[i].addr))
			return false;
	return true;
}

const struct ilb_kind_def ilb_kind_kn_endpoints = {
	.kind = ILB_KIND_KN_ENDPOINTS,
	.name = "Endpoints", /* Knative's public ones only */
	.versions = { { "v1", dec_kn_endpoints } },
	.equal = endpoints_equal,
};

/* ---- the activator of a revision ---- */

int ilb_kn_activator_get(const struct ilb_store *store, const char *ns, const char *name,
			 struct ilb_kn_activator *out)
{
	const struct ilb_object *sks = ilb_store_get(store, ILB_KIND_KN_SKS, ns, name), *eps;

	memset(out, 0, sizeof(*out));
	if (!sks)
		return 0;
	out->has_sks = true;
	out->mode = sks->kn_sks.mode;
	/* Serve mode: Knative's public Endpoints are the pods, which the pool already has */
	if (out->mode != ILB_KN_SKS_PROXY || !sks->kn_sks.service_name[0])
		return 0;
	eps = ilb_store_get(store, ILB_KIND_KN_ENDPOINTS, ns, sks->kn_sks.service_name);
	if (!eps || !eps->kn_endpoints.n_ready)
		return 0;
	out->endpoints = eps->kn_endpoints.ready;
	out->n_endpoints = eps->kn_endpoints.n_ready;
	return out->n_endpoints;
}
