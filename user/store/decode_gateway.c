/* decode_gateway.c - Gateway API objects (gateway.networking.k8s.io v1 / v1beta1):
 * Gateway (listeners, addresses) and HTTPRoute (parents, hostnames, matches, backends), and
 * their rows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define MAX_PARENTS 32
#define MAX_HOSTNAMES 16
#define MAX_RULES 16
#define MAX_MATCHES 64
#define MAX_BACKENDS 16
#define MAX_WEIGHT 1000000

static int gateway_add_address(struct ilb_gateway *gw, const struct ilb_addr *addr)
{
	for (int i = 0; i < gw->n_addresses; i++)
		if (ilb_addr_equal(&gw->addresses[i], addr))
			return 0;
	if (gw->n_addresses < ARRAY_LEN(gw->addresses))
		gw->addresses[gw->n_addresses++] = *addr;
	return 0;
}

/* spec.addresses are the user's request and must be valid; status.addresses come from a
 * controller and may hold hostnames, which are skipped. */
static int dec_addresses(struct dec *d, const cJSON *parent, const char *path, bool strict, struct ilb_gateway *gw)
{
	const cJSON *list, *item;
	char p[DEC_PATH_MAX], ap[DEC_PATH_MAX], type[32], value[256];
	struct ilb_addr addr;
	int err = dec_array(d, parent, path, "addresses", false, 16, &list);

	if (err <= 0)
		return err;
	dec_path(p, sizeof(p), path, "addresses");
	for (int i = 0; i < cJSON_GetArraySize(list); i++) {
		snprintf(type, sizeof(type), "IPAddress");
		if (dec_item_object(d, list, p, i, &item) < 0)
			return -EINVAL;
		dec_index(ap, sizeof(ap), p, i);
		if (dec_string(d, item, ap, "type", false, 1, type, sizeof(type)) < 0 ||
		    dec_string(d, item, ap, "value", true, 1, value, sizeof(value)) < 0)
			return -EINVAL;
		if (strcmp(type, "IPAddress") != 0)
			continue;
		if (ilb_addr_parse(value, &addr)) {
			if (!strict)
				continue;
			dec_path(ap, sizeof(ap), ap, "value");
			return dec_fail(d, ap, "not an IP address: \"%.64s\"", value);
		}
		gateway_add_address(gw, &addr);
	}
	return 0;
}

static int dec_gateway(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_gateway *gw = &out->gateway;
	const cJSON *spec, *status, *listeners, *item;
	char p[DEC_PATH_MAX];
	long long port;
	int err;

	err = dec_meta_spec(d, json, &gw->meta, &spec);
	if (err)
		return err;
	err = dec_string(d, spec, "spec", "gatewayClassName", true, 1, gw->class_name, sizeof(gw->class_name));
	if (err < 0)
		return err;
	err = dec_array(d, spec, "spec", "listeners", true, ARRAY_LEN(gw->listeners), &listeners);
	if (err < 0)
		return err;
	if (cJSON_GetArraySize(listeners) == 0)
		return dec_fail(d, "spec.listeners", "must have at least one listener");
	for (int i = 0; i < cJSON_GetArraySize(listeners); i++) {
		struct ilb_listener *l = &gw->listeners[i];

		if (dec_item_object(d, listeners, "spec.listeners", i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "spec.listeners", i);
		if (dec_string(d, item, p, "name", true, 1, l->name, sizeof(l->name)) < 0 ||
		    dec_int(d, item, p, "port", true, 1, 65535, &port) < 0 ||
		    dec_string(d, item, p, "protocol", true, 1, l->protocol, sizeof(l->protocol)) < 0)
			return -EINVAL;
		l->port = (uint16_t)port;
		for (int j = 0; j < i; j++)
			if (strcmp(gw->listeners[j].name, l->name) == 0) {
				dec_path(p, sizeof(p), p, "name");
				return dec_fail(d, p, "duplicate listener name \"%s\"", l->name);
			}
		gw->n_listeners++;
	}
	err = dec_addresses(d, spec, "spec", true, gw);
	if (err < 0)
		return err;
	err = dec_object(d, json, "", "status", false, &status);
	if (err > 0)
		err = dec_addresses(d, status, "status", false, gw);
	return err < 0 ? err : 0;
}

/* ---- HTTPRoute ---- */

static int dec_parent_refs(struct dec *d, const cJSON *spec, struct ilb_httproute *route)
{
	const cJSON *list, *item;
	char p[DEC_PATH_MAX];
	long long port;
	int n, err = dec_array(d, spec, "spec", "parentRefs", false, MAX_PARENTS, &list);

	n = cJSON_GetArraySize(list);
	if (err <= 0 || n == 0)
		return err;
	route->parents = calloc(n, sizeof(*route->parents));
	if (!route->parents)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ilb_parent_ref *ref = &route->parents[i];

		if (dec_item_object(d, list, "spec.parentRefs", i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "spec.parentRefs", i);
		snprintf(ref->ns, sizeof(ref->ns), "%s", route->meta.ns);
		if (dec_string(d, item, p, "name", true, 1, ref->name, sizeof(ref->name)) < 0 ||
		    dec_string(d, item, p, "namespace", false, 1, ref->ns, sizeof(ref->ns)) < 0 ||
		    dec_string(d, item, p, "sectionName", false, 0, ref->section, sizeof(ref->section)) < 0)
			return -EINVAL;
		err = dec_int(d, item, p, "port", false, 1, 65535, &port);
		if (err < 0)
			return err;
		ref->port = err > 0 ? (uint16_t)port : 0;
		route->n_parents++;
	}
	return 0;
}

static int dec_hostnames(struct dec *d, const cJSON *spec, struct ilb_httproute *route)
{
	const cJSON *list, *item;
	char p[DEC_PATH_MAX];
	int n, err = dec_array(d, spec, "spec", "hostnames", false, MAX_HOSTNAMES, &list);

	n = cJSON_GetArraySize(list);
	if (err <= 0 || n == 0)
		return err;
	route->hostnames = calloc(n, sizeof(*route->hostnames));
	if (!route->hostnames)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		item = cJSON_GetArrayItem(list, i);
		dec_index(p, sizeof(p), "spec.hostnames", i);
		if (!cJSON_IsString(item) || !item->valuestring)
			return dec_fail(d, p, "must be a string");
		if (!item->valuestring[0] || strlen(item->valuestring) >= ILB_NAME_MAX)
			return dec_fail(d, p, "must be 1..%d characters", ILB_NAME_MAX - 1);
		snprintf(route->hostnames[i], ILB_NAME_MAX, "%s", item->valuestring);
		route->n_hostnames++;
	}
	return 0;
}

static int dec_match(struct dec *d, const cJSON *item, const char *path, struct ilb_route_match *m)
{
	static const char *const path_types[] = { "PathPrefix", "Exact", "RegularExpression", NULL };
	const cJSON *path_obj;
	char p[DEC_PATH_MAX];
	int type = 0, err;

	m->path_type = ILB_PATH_PREFIX;
	snprintf(m->path, sizeof(m->path), "/");
	err = dec_object(d, item, path, "path", false, &path_obj);
	if (err < 0)
		return err;
	dec_path(p, sizeof(p), path, "path");
	if (err > 0) {
		/* the array is indexed like enum ilb_path_match */
		if (dec_enum(d, path_obj, p, "type", false, path_types, &type) < 0 ||
		    dec_string(d, path_obj, p, "value", false, 1, m->path, sizeof(m->path)) < 0)
			return -EINVAL;
		m->path_type = (enum ilb_path_match)type;
		dec_path(p, sizeof(p), p, "value");
		if (m->path_type != ILB_PATH_REGEX && m->path[0] != '/')
			return dec_fail(d, p, "must start with /");
	}
	return dec_string(d, item, path, "method", false, 1, m->method, sizeof(m->method)) < 0 ? -EINVAL : 0;
}

static int dec_backend(struct dec *d, const cJSON *item, const char *path, const char *route_ns,
		       struct ilb_backend_ref *b)
{
	long long port, weight;
	int err;

	snprintf(b->kind, sizeof(b->kind), "Service");
	snprintf(b->ns, sizeof(b->ns), "%s", route_ns);
	if (dec_string(d, item, path, "name", true, 1, b->name, sizeof(b->name)) < 0 ||
	    dec_string(d, item, path, "group", false, 0, b->group, sizeof(b->group)) < 0 ||
	    dec_string(d, item, path, "kind", false, 1, b->kind, sizeof(b->kind)) < 0 ||
	    dec_string(d, item, path, "namespace", false, 1, b->ns, sizeof(b->ns)) < 0)
		return -EINVAL;
	err = dec_int(d, item, path, "port", false, 1, 65535, &port);
	if (err < 0)
		return err;
	b->port = err > 0 ? (uint16_t)port : 0;
	err = dec_int(d, item, path, "weight", false, 0, MAX_WEIGHT, &weight);
	if (err < 0)
		return err;
	b->weight = err > 0 ? (uint32_t)weight : 1;
	return 0;
}

static int dec_route_rule(struct dec *d, const cJSON *item, const char *path, struct ilb_httproute *route,
			  struct ilb_route_rule *rule)
{
	const cJSON *matches, *backends, *entry;
	char p[DEC_PATH_MAX], ep[DEC_PATH_MAX];
	int n, err;

	err = dec_array(d, item, path, "matches", false, MAX_MATCHES, &matches);
	if (err < 0)
		return err;
	n = cJSON_GetArraySize(matches);
	if (n > 0 && !(rule->matches = calloc(n, sizeof(*rule->matches))))
		return -ENOMEM;
	dec_path(p, sizeof(p), path, "matches");
	for (int i = 0; i < n; i++) {
		if (dec_item_object(d, matches, p, i, &entry) < 0)
			return -EINVAL;
		dec_index(ep, sizeof(ep), p, i);
		if (dec_match(d, entry, ep, &rule->matches[i]) < 0)
			return -EINVAL;
		rule->n_matches++;
	}
	err = dec_array(d, item, path, "backendRefs", false, MAX_BACKENDS, &backends);
	if (err < 0)
		return err;
	n = cJSON_GetArraySize(backends);
	if (n > 0 && !(rule->backends = calloc(n, sizeof(*rule->backends))))
		return -ENOMEM;
	dec_path(p, sizeof(p), path, "backendRefs");
	for (int i = 0; i < n; i++) {
		if (dec_item_object(d, backends, p, i, &entry) < 0)
			return -EINVAL;
		dec_index(ep, sizeof(ep), p, i);
		err = dec_backend(d, entry, ep, route->meta.ns, &rule->backends[i]);
		if (err < 0)
			return err;
		rule->n_backends++;
	}
	return 0;
}

static int dec_httproute(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_httproute *route = &out->route;
	const cJSON *spec, *rules, *item;
	char p[DEC_PATH_MAX];
	int n, err;

	err = dec_meta_spec(d, json, &route->meta, &spec);
	if (err)
		return err;
	if ((err = dec_parent_refs(d, spec, route)) < 0 || (err = dec_hostnames(d, spec, route)) < 0)
		return err;
	err = dec_array(d, spec, "spec", "rules", false, MAX_RULES, &rules);
	if (err < 0)
		return err;
	n = cJSON_GetArraySize(rules);
	if (n > 0 && !(route->rules = calloc(n, sizeof(*route->rules))))
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		if (dec_item_object(d, rules, "spec.rules", i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "spec.rules", i);
		/* counted before decoding, so that a partly decoded rule is freed too */
		route->n_rules++;
		err = dec_route_rule(d, item, p, route, &route->rules[i]);
		if (err < 0)
			return err;
	}
	return 0;
}

/* ---- the store's rows ---- */

static bool gateway_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_gateway *a = &x->gateway, *b = &y->gateway;

	if (!ILB_STR_EQ(a->class_name, b->class_name) || a->n_listeners != b->n_listeners ||
	    a->n_addresses != b->n_addresses)
		return false;
	for (int i = 0; i < a->n_listeners; i++) {
		const struct ilb_listener *la = &a->listeners[i], *lb = &b->listeners[i];

		if (la->port != lb->port || !ILB_STR_EQ(la->name, lb->name) || !ILB_STR_EQ(la->protocol, lb->protocol))
			return false;
	}
	for (int i = 0; i < a->n_addresses; i++)
		if (!ilb_addr_equal(&a->addresses[i], &b->addresses[i]))
			return false;
	return true;
}

const struct ilb_kind_def ilb_kind_gateway = {
	.kind = ILB_KIND_GATEWAY,
	.name = "Gateway",
	.versions = {
		{ "gateway.networking.k8s.io/v1", dec_gateway },
		{ "gateway.networking.k8s.io/v1beta1", dec_gateway },
	},
	.equal = gateway_equal,
};

static void route_free(struct ilb_object *obj)
{
	for (int i = 0; i < obj->route.n_rules; i++) {
		free(obj->route.rules[i].matches);
		free(obj->route.rules[i].backends);
	}
	free(obj->route.rules);
	free(obj->route.parents);
	free(obj->route.hostnames);
}

static int route_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	const struct ilb_httproute *from = &src->route;
	struct ilb_httproute *to = &dst->route;

	/* each made before the first that may fail: none of src's is left in dst */
	int err = ILB_COPY_ARRAY(to->parents, to->n_parents, from->parents, from->n_parents);
	int err_hostnames = ILB_COPY_ARRAY(to->hostnames, to->n_hostnames, from->hostnames, from->n_hostnames);
	int err_rules = ILB_ALLOC_ARRAY(to->rules, to->n_rules, from->n_rules);

	if (err || err_hostnames || err_rules)
		return -ENOMEM;
	for (int i = 0; i < to->n_rules; i++) {
		const struct ilb_route_rule *rf = &from->rules[i];
		struct ilb_route_rule *rt = &to->rules[i];

		if (ILB_COPY_ARRAY(rt->matches, rt->n_matches, rf->matches, rf->n_matches) ||
		    ILB_COPY_ARRAY(rt->backends, rt->n_backends, rf->backends, rf->n_backends))
			return -ENOMEM;
	}
	return 0;
}

static bool route_rule_equal(const struct ilb_route_rule *a, const struct ilb_route_rule *b)
{
	if (a->n_matches != b->n_matches || a->n_backends != b->n_backends)
		return false;
	for (int i = 0; i < a->n_matches; i++) {
		const struct ilb_route_match *ma = &a->matches[i], *mb = &b->matches[i];

		if (ma->path_type != mb->path_type || !ILB_STR_EQ(ma->path, mb->path) ||
		    !ILB_STR_EQ(ma->method, mb->method))
			return false;
	}
	for (int i = 0; i < a->n_backends; i++) {
		const struct ilb_backend_ref *ba = &a->backends[i], *bb = &b->backends[i];

		if (ba->port != bb->port || ba->weight != bb->weight || !ILB_STR_EQ(ba->group, bb->group) ||
		    !ILB_STR_EQ(ba->kind, bb->kind) || !ILB_STR_EQ(ba->ns, bb->ns) || !ILB_STR_EQ(ba->name, bb->name))
			return false;
	}
	return true;
}

static bool route_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_httproute *a = &x->route, *b = &y->route;

	if (a->n_parents != b->n_parents || a->n_hostnames != b->n_hostnames || a->n_rules != b->n_rules)
		return false;
	for (int i = 0; i < a->n_parents; i++) {
		const struct ilb_parent_ref *pa = &a->parents[i], *pb = &b->parents[i];

		if (pa->port != pb->port || !ILB_STR_EQ(pa->ns, pb->ns) || !ILB_STR_EQ(pa->name, pb->name) ||
		    !ILB_STR_EQ(pa->section, pb->section))
			return false;
	}
	for (int i = 0; i < a->n_hostnames; i++)
		if (!ILB_STR_EQ(a->hostnames[i], b->hostnames[i]))
			return false;
	for (int i = 0; i < a->n_rules; i++)
		if (!route_rule_equal(&a->rules[i], &b->rules[i]))
			return false;
	return true;
}

const struct ilb_kind_def ilb_kind_httproute = {
	.kind = ILB_KIND_HTTPROUTE,
	.name = "HTTPRoute",
	.versions = {
		{ "gateway.networking.k8s.io/v1", dec_httproute },
		{ "gateway.networking.k8s.io/v1beta1", dec_httproute },
	},
	.free = route_free,
	.copy = route_copy,
	.equal = route_equal,
};
