/* route.c - builds the L7 routing table from the store and resolves requests against it. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kern/reconcile.h"
#include "store/knative.h"
#include "route.h"

#define GROW(arr, n, cap)                                                        \
	do {                                                                     \
		if ((n) == (cap)) {                                              \
			void *p_ = realloc((arr), ((cap) ? (cap) * 2 : 8) * sizeof(*(arr))); \
			if (!p_)                                                 \
				goto nomem;                                      \
			(arr) = p_;                                              \
			(cap) = (cap) ? (cap) * 2 : 8;                           \
		}                                                                \
	} while (0)

static int find_pool(const struct ilb_route_table *t, const char *ns, const char *name)
{
	char full[ILB_NS_MAX + ILB_NAME_MAX];

	snprintf(full, sizeof(full), "%s/%s", ns, name);
	for (int i = 0; i < t->n_pools; i++)
		if (!strcmp(t->pools[i].name, full))
			return i;
	return -1;
}

static int32_t criticality_priority(enum ilb_criticality c)
{
	return c == ILB_CRIT_CRITICAL ? 1 : c == ILB_CRIT_SHEDDABLE ? -1 : 0;
}

/* A revision's activator addresses (kn_activator.c), when its SKS is in Proxy mode. */
static int add_activator(struct ilb_rt_pool *p, const struct ilb_store *store, const struct ilb_meta *meta)
{
	struct ilb_kn_activator act;
	int n = ilb_kn_activator_get(store, meta->ns, meta->name, &act);

	if (n <= 0)
		return 0;
	p->activator = calloc(n, sizeof(*p->activator));
	if (!p->activator)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ilb_rt_backend *rb = &p->activator[i];
		char ip[46];

		rb->id = ILB_RT_ACTIVATOR_ID;
		rb->addr = act.endpoints[i].addr;
		rb->port = act.endpoints[i].port;
		rb->ready = true;
		ilb_addr_format(&rb->addr, ip, sizeof(ip));
		snprintf(rb->pod, sizeof(rb->pod), "activator %s", ip);
	}
	p->n_activator = n;
	return 0;
}

static int add_pools(struct ilb_route_table *t, const struct ilb_store *store, const struct ilb_reconciler *rec)
{
	const struct ilb_object *const *objs;
	int n = ilb_store_list(store, ILB_KIND_POOL, &objs);

	t->pools = calloc(n > 0 ? n : 1, sizeof(*t->pools));
	if (!t->pools)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct ilb_rt_pool *p = &t->pools[t->n_pools++];
		int id, cap = 0;

		snprintf(p->name, sizeof(p->name), "%s/%s", objs[i]->meta.ns, objs[i]->meta.name);
		p->hold = objs[i]->pool.derived_from[0] != '\0';
		if (p->hold && add_activator(p, store, &objs[i]->meta))
			goto nomem;
		id = rec ? ilb_reconciler_find_pool(rec, p->name) : -1;
		if (id < 0)
			continue;
		p->kernel_id = id;
		for (int b = 1; b < ILB_MAX_BACKENDS; b++) {
			const struct ilb_backend_view *v = &rec->backends[b];

			if ((int)v->pool_id != id || (v->state != ILB_BACKEND_READY && v->state != ILB_BACKEND_DRAINING))
				continue;
			GROW(p->backends, p->n_backends, cap);
			struct ilb_rt_backend *rb = &p->backends[p->n_backends++];

			rb->id = v->id;
			rb->addr = v->addr;
			rb->port = v->port;
			rb->ready = v->state == ILB_BACKEND_READY;
			rb->draining = v->state == ILB_BACKEND_DRAINING;
			snprintf(rb->pod, sizeof(rb->pod), "%s", v->pod);
			rb->health = ilb_health_slot(rec->health, v->id);
		}
	}
	return 0;
nomem:
	return -ENOMEM;
}

static int add_objectives(struct ilb_route_table *t, const struct ilb_store *store)
{
	const struct ilb_object *const *objs;
	int n = ilb_store_list(store, ILB_KIND_OBJECTIVE, &objs);

	t->objectives = calloc(n > 0 ? n : 1, sizeof(*t->objectives));
	if (!t->objectives)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		const struct ilb_objective *o = &objs[i]->objective;
		int pool = find_pool(t, o->meta.ns, o->pool_ref.name);

		snprintf(t->objectives[i].name, sizeof(t->objectives[i].name), "%s", o->meta.name);
		t->objectives[i].priority = o->priority;
		/* A request names its objective in a header; one that names none has priority 0,
		 * whatever objectives its pool has. Only a Knative Service's own objective (derived
		 * with its pool, one per pool) speaks for every request its hosts route there. */
		if (pool >= 0 && o->derived_from[0])
			t->pools[pool].priority = o->priority;
	}
	t->n_objectives = n > 0 ? n : 0;
	return 0;
}

/* The store changes under the L7 thread: the table keeps its own copy of each list. */
static int copy_targets(struct ilb_rt_model *rm, const struct ilb_weighted_model *src, int n)
{
	if (n <= 0)
		return 0;
	rm->targets = malloc(n * sizeof(*src));
	if (!rm->targets)
		return -ENOMEM;
	memcpy(rm->targets, src, n * sizeof(*src));
	rm->n_targets = n;
	return 0;
}

static int add_models(struct ilb_route_table *t, const struct ilb_store *store)
{
	const struct ilb_object *const *objs;
	int cap = 0, n;

	n = ilb_store_list(store, ILB_KIND_INFERENCE_MODEL, &objs);
	for (int i = 0; i < n; i++) {
		const struct ilb_inference_model *m = &objs[i]->model;

		GROW(t->models, t->n_models, cap);
		struct ilb_rt_model *rm = &t->models[t->n_models++];

		memset(rm, 0, sizeof(*rm));
		snprintf(rm->model, sizeof(rm->model), "%s", m->model_name);
		rm->pool = find_pool(t, m->meta.ns, m->pool_ref.name);
		rm->priority = criticality_priority(m->criticality);
		rm->has_priority = true;
		if (copy_targets(rm, m->targets, m->n_targets))
			goto nomem;
	}
	n = ilb_store_list(store, ILB_KIND_MODEL_REWRITE, &objs);
	for (int i = 0; i < n; i++) {
		const struct ilb_model_rewrite *rw = &objs[i]->rewrite;

		for (int r = 0; r < rw->n_rules; r++) {
			GROW(t->models, t->n_models, cap);
			struct ilb_rt_model *rm = &t->models[t->n_models++];

			memset(rm, 0, sizeof(*rm));
			snprintf(rm->model, sizeof(rm->model), "%s", rw->rules[r].match_model);
			rm->pool = find_pool(t, rw->meta.ns, rw->pool_ref.name);
			if (copy_targets(rm, rw->rules[r].targets, rw->rules[r].n_targets))
				goto nomem;
		}
	}
	return 0;
nomem:
	return -ENOMEM;
}

static void lower_copy(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < len; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/* One Host of a Knative Service; a name too long to be whole is no host. */
static int add_kn_host(struct ilb_route_table *t, int *cap, const char *host, const struct ilb_rt_split *split)
{
	if (!host[0])
		return 0;
	GROW(t->hosts, t->n_hosts, *cap);
	struct ilb_rt_host *rh = &t->hosts[t->n_hosts++];

	memset(rh, 0, sizeof(*rh));
	lower_copy(rh->host, sizeof(rh->host), host);
	strcpy(rh->path, "/");
	rh->split = *split;
	return 0;
nomem:
	return -ENOMEM;
}

/* Knative Services: the decoded hosts (svc.cluster.local, status URLs) and, with the domain
 * config-domain gives the Service's labels now, <name>.<ns>.<domain> and each tag's
 * <tag>-<name>.<ns>.<domain> (unless Knative wrote the tag's URL). Computed here rather than
 * when decoding so that a change of config-domain alone moves every Service. */
static int add_kservices(struct ilb_route_table *t, const struct ilb_store *store)
{
	const struct ilb_kn_domain *cfg = ilb_kn_domain_get(store);
	const struct ilb_object *const *objs;
	int cap = t->n_hosts, n = ilb_store_list(store, ILB_KIND_KSERVICE, &objs), err = 0;
	char host[ILB_NAME_MAX];

	for (int i = 0; i < n && !err; i++) {
		const struct ilb_kservice *ks = &objs[i]->kservice;
		const char *domain = ilb_kn_domain_for(cfg, &ks->meta.labels);
		struct ilb_rt_split all = { 0 };

		if (!ks->inference)
			continue;
		for (int tr = 0; tr < ks->n_traffic && !err; tr++) {
			const struct ilb_kn_traffic *kt = &ks->traffic[tr];
			int pool = find_pool(t, ks->meta.ns, kt->pool);
			struct ilb_rt_split one = { .pool = { pool }, .weight = { 1 }, .n = 1 };

			if (pool < 0)
				continue;
			if (kt->percent && all.n < 8) {
				all.pool[all.n] = pool;
				all.weight[all.n++] = kt->percent;
			}
			/* a tag reaches its revision whatever its percent (0 is the usual canary) */
			if (!kt->tag[0])
				continue;
			if (kt->host[0])
				snprintf(host, sizeof(host), "%s", kt->host);
			else
				ilb_format_whole(host, sizeof(host), "%s-%s.%s.%s", kt->tag, ks->meta.name, ks->meta.ns, domain);
			err = add_kn_host(t, &cap, host, &one);
		}
		if (!all.n || err)
			continue;
		ilb_format_whole(host, sizeof(host), "%s.%s.%s", ks->meta.name, ks->meta.ns, domain);
		err = add_kn_host(t, &cap, host, &all);
		for (int h = 0; h < ks->n_hosts && !err; h++)
			if (strcasecmp(ks->hosts[h], host) != 0)
				err = add_kn_host(t, &cap, ks->hosts[h], &all);
	}
	return err;
}

static int add_routes(struct ilb_route_table *t, const struct ilb_store *store)
{
	const struct ilb_object *const *objs;
	int cap = 0, n = ilb_store_list(store, ILB_KIND_HTTPROUTE, &objs);

	for (int i = 0; i < n; i++) {
		const struct ilb_httproute *r = &objs[i]->route;
		int n_hosts = r->n_hostnames ? r->n_hostnames : 1;

		for (int h = 0; h < n_hosts; h++) {
			for (int ru = 0; ru < r->n_rules; ru++) {
				const struct ilb_route_rule *rule = &r->rules[ru];
				int n_matches = rule->n_matches ? rule->n_matches : 1;

				for (int m = 0; m < n_matches; m++) {
					GROW(t->hosts, t->n_hosts, cap);
					struct ilb_rt_host *rh = &t->hosts[t->n_hosts++];

					memset(rh, 0, sizeof(*rh));
					lower_copy(rh->host, sizeof(rh->host), r->n_hostnames ? r->hostnames[h] : "*");
					snprintf(rh->path, sizeof(rh->path), "%s",
						 rule->n_matches && rule->matches[m].path[0] ? rule->matches[m].path : "/");
					rh->exact = rule->n_matches && rule->matches[m].path_type == ILB_PATH_EXACT;
					rh->port = r->n_parents ? r->parents[0].port : 0;
					for (int b = 0; b < rule->n_backends && rh->split.n < 8; b++) {
						const struct ilb_backend_ref *br = &rule->backends[b];
						int pool;

						if (strcmp(br->kind, "InferencePool"))
							continue;
						pool = find_pool(t, br->ns[0] ? br->ns : r->meta.ns, br->name);
						if (pool < 0)
							continue;
						rh->split.pool[rh->split.n] = pool;
						rh->split.weight[rh->split.n++] = br->weight;
					}
				}
			}
		}
	}
	return add_kservices(t, store);
nomem:
	return -ENOMEM;
}

static const char *annotation(const struct ilb_meta *meta, const char *key)
{
	return ilb_labels_get(&meta->annotations, key);
}

static int add_listeners(struct ilb_route_table *t, const struct ilb_store *store, const struct ilb_addr *vip)
{
	const struct ilb_object *const *objs;
	int cap = 0, n = ilb_store_list(store, ILB_KIND_GATEWAY, &objs);

	for (int i = 0; i < n; i++) {
		const struct ilb_gateway *g = &objs[i]->gateway;
		const char *ann = annotation(&g->meta, "inferlb.io/vip");
		struct ilb_addr addr = { 0 };

		if (ann && ilb_addr_parse(ann, &addr))
			memset(&addr, 0, sizeof(addr));
		if (!addr.family && g->n_addresses)
			addr = g->addresses[0];
		if (!addr.family && vip)
			addr = *vip;
		if (!addr.family)
			continue;
		for (int l = 0; l < g->n_listeners; l++) {
			if (strcasecmp(g->listeners[l].protocol, "HTTP"))
				continue;
			GROW(t->listeners, t->n_listeners, cap);
			struct ilb_rt_listener *rl = &t->listeners[t->n_listeners++];

			rl->addr = addr;
			rl->port = g->listeners[l].port;
			rl->fail_open_pool = t->n_hosts && t->hosts[0].split.n ? t->hosts[0].split.pool[0] :
					     t->n_pools ? 0 : -1;
		}
	}
	return 0;
nomem:
	return -ENOMEM;
}

struct ilb_route_table *ilb_route_build(const struct ilb_store *store, const struct ilb_reconciler *rec,
					const struct ilb_addr *vip)
{
	struct ilb_route_table *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	atomic_init(&t->refs, 1);
	t->generation = ilb_store_generation(store);
	if (add_pools(t, store, rec) || add_objectives(t, store) || add_models(t, store) || add_routes(t, store) ||
	    add_listeners(t, store, vip)) {
		ilb_route_put(t);
		return NULL;
	}
	return t;
}

void ilb_route_get(struct ilb_route_table *t)
{
	atomic_fetch_add(&t->refs, 1);
}

void ilb_route_put(struct ilb_route_table *t)
{
	if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
		return;
	for (int i = 0; i < t->n_pools; i++) {
		free(t->pools[i].backends);
		free(t->pools[i].activator);
	}
	for (int i = 0; i < t->n_models; i++)
		free(t->models[i].targets);
	free(t->pools);
	free(t->objectives);
	free(t->models);
	free(t->hosts);
	free(t->listeners);
	free(t);
}

const struct ilb_pod_load *ilb_rt_backend_load(const struct ilb_rt_backend *be, struct ilb_pod_load *copy)
{
	if (be->health)
		ilb_health_read(be->health, copy);
	else
		memset(copy, 0, sizeof(*copy));
	return copy;
}

struct ilb_pod_load *ilb_route_loads(const struct ilb_route_table *t)
{
	struct ilb_pod_load *loads;
	size_t n = 0, k = 0;

	for (int p = 0; p < t->n_pools; p++)
		n += t->pools[p].n_backends;
	loads = calloc(n ? n : 1, sizeof(*loads));
	for (int p = 0; loads && p < t->n_pools; p++)
		for (int b = 0; b < t->pools[p].n_backends; b++)
			ilb_rt_backend_load(&t->pools[p].backends[b], &loads[k++]);
	return loads;
}

static bool host_matches(const char *pattern, const char *host)
{
	if (!strcmp(pattern, "*"))
		return true;
	if (pattern[0] == '*' && pattern[1] == '.') {
		const char *dot = strchr(host, '.');

		return dot && !strcmp(dot, pattern + 1);
	}
	return !strcmp(pattern, host);
}

static bool path_matches(const struct ilb_rt_host *h, const char *path)
{
	size_t n = strlen(h->path);

	if (h->exact)
		return !strcmp(h->path, path);
	return !strncmp(h->path, path, n) && (n == 1 || path[n] == '\0' || path[n] == '/' || h->path[n - 1] == '/');
}

static int split_pick(const struct ilb_rt_split *s, uint32_t rnd)
{
	uint64_t total = 0, at;

	for (int i = 0; i < s->n; i++)
		total += s->weight[i];
	if (!s->n || !total)
		return s->n ? s->pool[0] : -1;
	at = rnd % total;
	for (int i = 0; i < s->n; i++) {
		if (at < s->weight[i])
			return s->pool[i];
		at -= s->weight[i];
	}
	return s->pool[s->n - 1];
}

/* A Host that is an address literal names no route: such requests go by model. */
static bool host_is_literal(const char *host)
{
	struct ilb_addr a;
	char tmp[ILB_NAME_MAX];
	size_t n = strlen(host);

	if (host[0] == '[')
		return true;
	if (n >= sizeof(tmp))
		return false;
	memcpy(tmp, host, n + 1);
	return ilb_addr_parse(tmp, &a) == 0;
}

static const struct ilb_rt_model *find_model(const struct ilb_route_table *t, const char *model, int pool)
{
	const struct ilb_rt_model *any = NULL;

	for (int i = 0; i < t->n_models; i++) {
		const struct ilb_rt_model *m = &t->models[i];

		if (strcmp(m->model, model))
			continue;
		if (pool < 0 || m->pool == pool)
			return m;
		if (m->pool < 0)
			any = m;
	}
	return any;
}

enum ilb_route_status ilb_route_resolve(const struct ilb_route_table *t, const char *host, const char *path,
					uint16_t port, const char *model, const char *objective, uint32_t rnd,
					struct ilb_route_result *out)
{
	char h[ILB_NAME_MAX] = "";
	const struct ilb_rt_host *best = NULL;
	const struct ilb_rt_model *m;
	bool named_hosts = false;

	out->pool = -1;
	out->model = model;
	out->priority = 0;
	if (host) {
		lower_copy(h, sizeof(h), host);
		char *colon = h[0] == '[' ? strstr(h, "]:") : strrchr(h, ':');

		if (colon)
			*(colon[0] == ']' ? colon + 1 : colon) = '\0';
		if (host_is_literal(h))
			h[0] = '\0';
	}
	for (int i = 0; i < t->n_hosts; i++) {
		const struct ilb_rt_host *rh = &t->hosts[i];

		named_hosts |= strcmp(rh->host, "*") != 0;
		if (rh->port && port && rh->port != port)
			continue;
		if (!host_matches(rh->host, h[0] ? h : "*") || !path_matches(rh, path ? path : "/"))
			continue;
		/* exact host beats a wildcard; a longer path beats a shorter one */
		if (!best || (best->host[0] == '*' && rh->host[0] != '*') ||
		    ((best->host[0] == '*') == (rh->host[0] == '*') && strlen(rh->path) > strlen(best->path)))
			best = rh;
	}
	if (best)
		out->pool = split_pick(&best->split, rnd);
	else if (h[0] && named_hosts)
		return ILB_ROUTE_NO_HOST;

	m = find_model(t, model, out->pool);
	if (out->pool < 0) {
		if (m && m->pool >= 0)
			out->pool = m->pool;
		else if (t->n_pools == 1)
			out->pool = 0;
		else
			return ILB_ROUTE_NO_MODEL;
	}
	if (m && m->n_targets) {
		struct ilb_rt_split s = { 0 };

		for (int i = 0; i < m->n_targets && i < 8; i++) {
			s.pool[i] = i;
			s.weight[i] = m->targets[i].weight;
			s.n++;
		}
		out->model = m->targets[split_pick(&s, rnd >> 8)].name;
	}
	out->priority = t->pools[out->pool].priority;
	if (m && m->has_priority)
		out->priority = m->priority;
	if (objective) {
		for (int i = 0; i < t->n_objectives; i++)
			if (!strcmp(t->objectives[i].name, objective))
				out->priority = t->objectives[i].priority;
	}
	return ILB_ROUTE_OK;
}
