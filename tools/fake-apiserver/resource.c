/* resource.c - the resource table and the discovery documents built from it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "resource.h"

static const char *const pod_fields[] = {
	"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
	"spec.hostNetwork", "status.phase", "status.podIP",
	"status.nominatedNodeName", NULL,
};
static const char *const ns_fields[] = { "status.phase", NULL };
static const char *const no_fields[] = { NULL };

#define GIE "inference.networking.k8s.io"
#define GIEX "inference.networking.x-k8s.io"
#define GW "gateway.networking.k8s.io"
#define KN "serving.knative.dev"
#define KNI "networking.internal.knative.dev"

#define RES(g, v, p, s, k, ns, bi, sn, cat, f, bm)                                             \
	{ .group = g, .version = v, .plural = p, .singular = s, .kind = k, .namespaced = ns,       \
	  .builtin = bi, .short_names = sn, .categories = cat, .fields = f, .bookmark_extra = bm }

/* Every kind the agent reads, at the group/version it reads it. */
struct kres resources[] = {
	RES("", "v1", "pods", "pod", "Pod", true, true, "po", "all", pod_fields,
	  ",\"spec\":{\"containers\":null},\"status\":{}"),
	RES("", "v1", "configmaps", "configmap", "ConfigMap", true, true, "cm", NULL, no_fields, ""),
	RES("", "v1", "endpoints", "endpoints", "Endpoints", true, true, "ep", NULL, no_fields, ""),
	RES("", "v1", "namespaces", "namespace", "Namespace", false, true, "ns", NULL, ns_fields,
	  ",\"spec\":{},\"status\":{}"),
	RES(GIE, "v1", "inferencepools", "inferencepool", "InferencePool", true, false, "infpool", NULL, no_fields, ""),
	RES(GIEX, "v1alpha2", "inferencepools", "inferencepool", "InferencePool", true, false, NULL, NULL, no_fields, ""),
	RES(GIEX, "v1alpha2", "inferenceobjectives", "inferenceobjective", "InferenceObjective", true, false, NULL, NULL, no_fields, ""),
	RES(GIEX, "v1alpha2", "inferencemodelrewrites", "inferencemodelrewrite", "InferenceModelRewrite", true, false, NULL, NULL, no_fields, ""),
	RES(GIEX, "v1alpha2", "inferencemodels", "inferencemodel", "InferenceModel", true, false, NULL, NULL, no_fields, ""),
	RES(GW, "v1", "gatewayclasses", "gatewayclass", "GatewayClass", false, false, "gc", "gateway-api", no_fields, ""),
	RES(GW, "v1", "gateways", "gateway", "Gateway", true, false, "gtw", "gateway-api", no_fields, ""),
	RES(GW, "v1", "httproutes", "httproute", "HTTPRoute", true, false, NULL, "gateway-api", no_fields, ""),
	RES(KN, "v1", "services", "service", "Service", true, false, "kservice,ksvc", "all,knative,serving", no_fields, ""),
	RES(KN, "v1", "configurations", "configuration", "Configuration", true, false, "config,cfg", "all,knative,serving", no_fields, ""),
	RES(KN, "v1", "revisions", "revision", "Revision", true, false, "rev", "all,knative,serving", no_fields, ""),
	RES(KN, "v1", "routes", "route", "Route", true, false, "rt", "all,knative,serving", no_fields, ""),
	RES(KNI, "v1alpha1", "serverlessservices", "serverlessservice", "ServerlessService", true, false, "sks",
	  "knative-internal,networking", no_fields, ""),
};
int n_resources = (int)(sizeof(resources) / sizeof(resources[0]));

static const char *const verbs[] = { "get", "list", "watch" };

void res_init(void)
{
	for (int i = 0; i < n_resources; i++) {
		struct kres *r = &resources[i];

		if (r->group[0])
			snprintf(r->api_version, sizeof(r->api_version), "%s/%s", r->group, r->version);
		else
			snprintf(r->api_version, sizeof(r->api_version), "%s", r->version);
		snprintf(r->list_kind, sizeof(r->list_kind), "%sList", r->kind);
		r->idx = i;
	}
}

const struct kres *res_by_kind(const char *api_version, const char *kind)
{
	for (int i = 0; i < n_resources; i++)
		if (!strcmp(resources[i].api_version, api_version) && !strcmp(resources[i].kind, kind))
			return &resources[i];
	return NULL;
}

const struct kres *res_by_name(const char *name)
{
	const struct kres *found = NULL;

	for (int i = 0; i < n_resources; i++) {
		const struct kres *r = &resources[i];
		char full[160];

		snprintf(full, sizeof(full), "%s/%s/%s", r->group, r->version, r->plural);
		if (!strcmp(full, name) || !strcmp(full[0] == '/' ? full + 1 : full, name))
			return r;
		/* The first match wins: core kinds come first, as kubectl prefers them. */
		if (!found && (!strcasecmp(r->kind, name) || !strcmp(r->plural, name) ||
			       !strcmp(r->singular, name)))
			found = r;
	}
	return found;
}

const struct kres *res_by_path(const char *group, const char *version, const char *plural)
{
	for (int i = 0; i < n_resources; i++)
		if (!strcmp(resources[i].group, group) && !strcmp(resources[i].version, version) &&
		    !strcmp(resources[i].plural, plural))
			return &resources[i];
	return NULL;
}

bool res_group_version_known(const char *group, const char *version)
{
	for (int i = 0; i < n_resources; i++)
		if (!strcmp(resources[i].group, group) && (!version || !strcmp(resources[i].version, version)))
			return true;
	return false;
}

bool res_field_supported(const struct kres *r, const char *field)
{
	if (!strcmp(field, "metadata.name") || !strcmp(field, "metadata.namespace"))
		return true;
	for (const char *const *f = r->fields; *f; f++)
		if (!strcmp(*f, field))
			return true;
	return false;
}

static void add_csv(cJSON *obj, const char *name, const char *csv)
{
	cJSON *arr;
	char buf[128], *save = NULL, *tok;

	if (!csv)
		return;
	arr = cJSON_AddArrayToObject(obj, name);
	snprintf(buf, sizeof(buf), "%s", csv);
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		cJSON_AddItemToArray(arr, cJSON_CreateString(tok));
}

static void add_verbs(cJSON *obj)
{
	cJSON *arr = cJSON_AddArrayToObject(obj, "verbs");

	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		cJSON_AddItemToArray(arr, cJSON_CreateString(verbs[i]));
}

cJSON *disc_api_versions(const char *server_addr)
{
	cJSON *o = cJSON_CreateObject(), *arr, *cidr;

	cJSON_AddStringToObject(o, "kind", "APIVersions");
	arr = cJSON_AddArrayToObject(o, "versions");
	cJSON_AddItemToArray(arr, cJSON_CreateString("v1"));
	arr = cJSON_AddArrayToObject(o, "serverAddressByClientCIDRs");
	cidr = cJSON_CreateObject();
	cJSON_AddStringToObject(cidr, "clientCIDR", "0.0.0.0/0");
	cJSON_AddStringToObject(cidr, "serverAddress", server_addr);
	cJSON_AddItemToArray(arr, cidr);
	return o;
}

/* The versions of a group in table order; the first one is the preferred version. */
static cJSON *group_obj(const char *group)
{
	cJSON *g = cJSON_CreateObject(), *vers, *v;
	const char *seen[8];
	int nseen = 0;

	cJSON_AddStringToObject(g, "name", group);
	vers = cJSON_AddArrayToObject(g, "versions");
	for (int i = 0; i < n_resources; i++) {
		const struct kres *r = &resources[i];
		bool dup = false;

		if (strcmp(r->group, group))
			continue;
		for (int j = 0; j < nseen; j++)
			dup |= !strcmp(seen[j], r->version);
		if (dup || nseen == 8)
			continue;
		seen[nseen++] = r->version;
		v = cJSON_CreateObject();
		cJSON_AddStringToObject(v, "groupVersion", r->api_version);
		cJSON_AddStringToObject(v, "version", r->version);
		cJSON_AddItemToArray(vers, v);
		if (nseen == 1)
			cJSON_AddItemToObject(g, "preferredVersion", cJSON_Duplicate(v, 1));
	}
	/* preferredVersion follows versions in the real output. */
	v = cJSON_DetachItemFromObjectCaseSensitive(g, "preferredVersion");
	if (v)
		cJSON_AddItemToObject(g, "preferredVersion", v);
	return g;
}

cJSON *disc_api_groups(void)
{
	cJSON *o = cJSON_CreateObject(), *groups;

	cJSON_AddStringToObject(o, "kind", "APIGroupList");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	groups = cJSON_AddArrayToObject(o, "groups");
	for (int i = 0; i < n_resources; i++) {
		bool first = true;

		if (!resources[i].group[0])
			continue;
		for (int j = 0; j < i; j++)
			first &= strcmp(resources[j].group, resources[i].group) != 0;
		if (first)
			cJSON_AddItemToArray(groups, group_obj(resources[i].group));
	}
	return o;
}

cJSON *disc_api_group(const char *group)
{
	cJSON *g = group_obj(group), *o = cJSON_CreateObject(), *it;

	cJSON_AddStringToObject(o, "kind", "APIGroup");
	cJSON_AddStringToObject(o, "apiVersion", "v1");
	while ((it = g->child)) {
		cJSON_DetachItemViaPointer(g, it);
		cJSON_AddItemToObject(o, it->string, it);
	}
	cJSON_Delete(g);
	return o;
}

cJSON *disc_resource_list(const char *group, const char *version)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	char gv[96];

	if (group[0])
		snprintf(gv, sizeof(gv), "%s/%s", group, version);
	else
		snprintf(gv, sizeof(gv), "%s", version);
	cJSON_AddStringToObject(o, "kind", "APIResourceList");
	if (group[0])
		cJSON_AddStringToObject(o, "apiVersion", "v1");
	cJSON_AddStringToObject(o, "groupVersion", gv);
	arr = cJSON_AddArrayToObject(o, "resources");
	for (int i = 0; i < n_resources; i++) {
		const struct kres *r = &resources[i];
		cJSON *e;

		if (strcmp(r->group, group) || strcmp(r->version, version))
			continue;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "name", r->plural);
		cJSON_AddStringToObject(e, "singularName", r->singular);
		cJSON_AddBoolToObject(e, "namespaced", r->namespaced);
		cJSON_AddStringToObject(e, "kind", r->kind);
		add_verbs(e);
		add_csv(e, "shortNames", r->short_names);
		add_csv(e, "categories", r->categories);
		cJSON_AddItemToArray(arr, e);
	}
	return o;
}

static cJSON *agg_version(const char *group, const char *version)
{
	cJSON *v = cJSON_CreateObject(), *arr;

	cJSON_AddStringToObject(v, "version", version);
	arr = cJSON_AddArrayToObject(v, "resources");
	for (int i = 0; i < n_resources; i++) {
		const struct kres *r = &resources[i];
		cJSON *e, *rk;

		if (strcmp(r->group, group) || strcmp(r->version, version))
			continue;
		e = cJSON_CreateObject();
		cJSON_AddStringToObject(e, "resource", r->plural);
		rk = cJSON_AddObjectToObject(e, "responseKind");
		cJSON_AddStringToObject(rk, "group", r->group);
		cJSON_AddStringToObject(rk, "version", r->version);
		cJSON_AddStringToObject(rk, "kind", r->kind);
		cJSON_AddStringToObject(e, "scope", r->namespaced ? "Namespaced" : "Cluster");
		cJSON_AddStringToObject(e, "singularResource", r->singular);
		add_verbs(e);
		add_csv(e, "shortNames", r->short_names);
		add_csv(e, "categories", r->categories);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddStringToObject(v, "freshness", "Current");
	return v;
}

cJSON *disc_aggregated(bool core, const char *api_version)
{
	cJSON *o = cJSON_CreateObject(), *items;

	cJSON_AddStringToObject(o, "kind", "APIGroupDiscoveryList");
	cJSON_AddStringToObject(o, "apiVersion", api_version);
	cJSON_AddObjectToObject(o, "metadata");
	items = cJSON_AddArrayToObject(o, "items");
	for (int i = 0; i < n_resources; i++) {
		const struct kres *r = &resources[i];
		cJSON *g, *md, *vers;
		bool first = true;

		if (core != !r->group[0])
			continue;
		for (int j = 0; j < i; j++)
			first &= strcmp(resources[j].group, r->group) != 0;
		if (!first)
			continue;
		g = cJSON_CreateObject();
		md = cJSON_AddObjectToObject(g, "metadata");
		if (r->group[0])
			cJSON_AddStringToObject(md, "name", r->group);
		cJSON_AddNullToObject(md, "creationTimestamp");
		vers = cJSON_AddArrayToObject(g, "versions");
		for (int j = i; j < n_resources; j++) {
			bool vfirst = true;

			if (strcmp(resources[j].group, r->group))
				continue;
			for (int k = i; k < j; k++)
				vfirst &= !(strcmp(resources[k].group, r->group) == 0 &&
					    strcmp(resources[k].version, resources[j].version) == 0);
			if (vfirst)
				cJSON_AddItemToArray(vers, agg_version(r->group, resources[j].version));
		}
		cJSON_AddItemToArray(items, g);
	}
	return o;
}
