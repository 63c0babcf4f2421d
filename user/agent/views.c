/* views.c - what the agent shows: control-socket answers (status, pools, backends,
 * objectives, drain) and the Prometheus text, both read from the reconciler's state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent.h"
#include "l7/route.h"
#include "ctl.h"
#include "source/kube.h"
#include "log.h"
#include "source/manifest.h"
#include "store/store.h"

static const char *state_name(uint8_t state)
{
	switch (state) {
	case ILB_BACKEND_READY:
		return "ready";
	case ILB_BACKEND_DRAINING:
		return "draining";
	case ILB_BACKEND_DOWN:
		return "down";
	}
	return "empty";
}

static void vip_text(const struct vip_key *k, char *buf, size_t len)
{
	struct ilb_addr a = { .family = k->family };
	char ip[46];

	memcpy(a.bytes, k->addr, 16);
	ilb_addr_format(&a, ip, sizeof(ip));
	snprintf(buf, len, k->family == ILB_AF_INET6 ? "[%s]:%u" : "%s:%u", ip, (unsigned)__builtin_bswap16(k->port));
}

/* The L7 lane's figures: what an HPA or KEDA scales on (in-flight, concurrency per pool). */
static void export_l7(struct ilb_agent *a, FILE *out)
{
	const struct ilb_l7_stats *st = ilb_l7_stats(a->l7);
	static const struct {
		const char *name, *help, *type;
	} per_pod[] = {
		{ "inferlb_pod_in_flight_requests", "Requests the L7 lane has sent to the pod and not seen answered.", "gauge" },
		{ "inferlb_pod_picks_total", "Requests the scheduler sent to the pod.", "counter" },
		{ "inferlb_pod_responses_total", "Responses of the pod that ended (streamed in the kernel).", "counter" },
		{ "inferlb_pod_ttft_seconds_sum", "Time from request sent to first response byte, summed.", "counter" },
	};

	for (size_t m = 0; m < sizeof(per_pod) / sizeof(per_pod[0]); m++) {
		fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", per_pod[m].name, per_pod[m].help, per_pod[m].name,
			per_pod[m].type);
		for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
			const struct ilb_backend_view *v = &a->rec.backends[id];
			const struct ilb_l7_backend_stats *b = &st->backend[id];
			double value = m == 0 ? atomic_load(&b->inflight) :
				       m == 1 ? atomic_load(&b->picks) :
				       m == 2 ? atomic_load(&b->responses) : atomic_load(&b->ttft_ns_sum) / 1e9;

			if (v->state != ILB_BACKEND_EMPTY)
				fprintf(out, "%s{pool=\"%s\",pod=\"%s\"} %.9g\n", per_pod[m].name,
					a->rec.pools[v->pool_id].name, v->pod, value);
		}
	}
	fprintf(out, "# HELP inferlb_pool_concurrency Requests in flight to the pool's pods.\n"
		     "# TYPE inferlb_pool_concurrency gauge\n");
	for (int p = 1; p < ILB_MAX_POOLS; p++) {
		unsigned sum = 0;

		if (!a->rec.pools[p].in_use)
			continue;
		for (int id = 1; id < ILB_MAX_BACKENDS; id++)
			if (a->rec.backends[id].state != ILB_BACKEND_EMPTY && (int)a->rec.backends[id].pool_id == p)
				sum += atomic_load(&st->backend[id].inflight);
		fprintf(out, "inferlb_pool_concurrency{pool=\"%s\"} %u\n", a->rec.pools[p].name, sum);
	}
	fprintf(out, "# HELP inferlb_pool_pending_requests Requests waiting for a pod of the pool (scale from zero).\n"
		     "# TYPE inferlb_pool_pending_requests gauge\n");
	for (int p = 1; p < ILB_MAX_POOLS; p++)
		if (a->rec.pools[p].in_use)
			fprintf(out, "inferlb_pool_pending_requests{pool=\"%s\"} %u\n", a->rec.pools[p].name,
				atomic_load(&st->pending[p]));
	fprintf(out, "# HELP inferlb_pool_activator_requests_total Requests sent to Knative's activator "
		     "(the revision had no ready pod, its ServerlessService in Proxy mode).\n"
		     "# TYPE inferlb_pool_activator_requests_total counter\n");
	for (int p = 1; p < ILB_MAX_POOLS; p++)
		if (a->rec.pools[p].in_use)
			fprintf(out, "inferlb_pool_activator_requests_total{pool=\"%s\"} %lu\n", a->rec.pools[p].name,
				atomic_load(&st->activated[p]));
	fprintf(out, "# HELP inferlb_l7_events_total L7 lane requests and refusals by kind.\n"
		     "# TYPE inferlb_l7_events_total counter\n");
	for (int i = 0; i < ILB_L7__COUNT; i++)
		fprintf(out, "inferlb_l7_events_total{kind=\"%s\"} %lu\n", ilb_l7_counter_names[i],
			atomic_load(&st->counter[i]));
}

void ilb_agent_metrics(struct ilb_agent *a, FILE *out)
{
	uint64_t stats[ILB_STAT_MAX];
	uint64_t now = ilb_now_ns();

	fprintf(out, "# HELP inferlb_backend_active_connections Connections the L4 lane has open to the pod.\n"
		     "# TYPE inferlb_backend_active_connections gauge\n");
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		const struct ilb_backend_view *v = &a->rec.backends[id];

		if (v->state == ILB_BACKEND_EMPTY)
			continue;
		fprintf(out, "inferlb_backend_active_connections{pool=\"%s\",pod=\"%s\"} %lld\n",
			a->rec.pools[v->pool_id].name, v->pod, (long long)ilb_maps_backend_active(&a->maps, id));
	}
	fprintf(out, "# HELP inferlb_backend_load_score Load score the XDP lane compares (0 idle .. %d).\n"
		     "# TYPE inferlb_backend_load_score gauge\n", ILB_SCORE_MAX);
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		const struct ilb_backend_view *v = &a->rec.backends[id];

		if (v->state != ILB_BACKEND_EMPTY)
			fprintf(out, "inferlb_backend_load_score{pool=\"%s\",pod=\"%s\"} %u\n",
				a->rec.pools[v->pool_id].name, v->pod, v->score);
	}
	fprintf(out, "# HELP inferlb_backend_scrape_age_seconds Age of the pod's last good /metrics scrape.\n"
		     "# TYPE inferlb_backend_scrape_age_seconds gauge\n");
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		const struct ilb_backend_view *v = &a->rec.backends[id];

		if (v->state != ILB_BACKEND_EMPTY && v->load.scraped_ns)
			fprintf(out, "inferlb_backend_scrape_age_seconds{pool=\"%s\",pod=\"%s\"} %.3f\n",
				a->rec.pools[v->pool_id].name, v->pod, (now - v->load.scraped_ns) / 1e9);
	}
	fprintf(out, "# HELP inferlb_pool_ready_backends Ready backends of the pool.\n"
		     "# TYPE inferlb_pool_ready_backends gauge\n");
	for (int id = 1; id < ILB_MAX_POOLS; id++)
		if (a->rec.pools[id].in_use)
			fprintf(out, "inferlb_pool_ready_backends{pool=\"%s\"} %d\n", a->rec.pools[id].name,
				a->rec.pools[id].ready);
	if (a->l7)
		export_l7(a, out);
	fprintf(out, "# HELP inferlb_datapath_packets_total Data-path counters by reason.\n"
		     "# TYPE inferlb_datapath_packets_total counter\n");
	if (!ilb_maps_stats(&a->maps, stats))
		for (int i = 0; i < ILB_STAT_MAX; i++)
			fprintf(out, "inferlb_datapath_packets_total{reason=\"%s\"} %llu\n", ilb_stat_name(i),
				(unsigned long long)stats[i]);
}
static cJSON *view_status(struct ilb_agent *a)
{
	cJSON *res = cJSON_CreateObject(), *sources = cJSON_AddArrayToObject(res, "sources");
	cJSON *lanes = cJSON_AddObjectToObject(res, "lanes"), *l4 = cJSON_AddObjectToObject(lanes, "l4");
	cJSON *l7 = cJSON_AddObjectToObject(lanes, "l7");

	cJSON_AddStringToObject(res, "version", ILB_VERSION);
	cJSON_AddNumberToObject(res, "uptime_s", (double)(ilb_now_ns() - a->start_ns) / 1e9);
	cJSON_AddStringToObject(res, "pin_dir", a->pin_dir);
	cJSON_AddBoolToObject(res, "adopted", a->maps.adopted);
	if (a->manifests) {
		cJSON *src = cJSON_CreateObject();
		int objects = 0;

		for (int k = ILB_KIND_NONE + 1; k < ILB_KIND__COUNT; k++) {
			const struct ilb_object *const *list;

			objects += ilb_store_list(a->store, k, &list);
		}
		cJSON_AddStringToObject(src, "kind", "manifests");
		cJSON_AddStringToObject(src, "location", a->manifests_dir);
		cJSON_AddBoolToObject(src, "synced", a->synced);
		cJSON_AddNumberToObject(src, "objects", objects);
		cJSON_AddNumberToObject(src, "errors", ilb_manifests_errors(a->manifests));
		const char *last = ilb_manifests_last_error(a->manifests);
		cJSON_AddStringToObject(src, "last_error", last ? last : "");
		cJSON_AddItemToArray(sources, src);
	}
	if (a->kube)
		cJSON_AddItemToArray(sources, ilb_kube_status(a->kube));
	cJSON_AddStringToObject(l4, "iface", a->iface);
	cJSON_AddStringToObject(l4, "xdp_mode", a->iface[0] ? ilb_xdp_mode_name(a->xdp_mode) : "");
	cJSON_AddBoolToObject(l4, "attached", a->l4_attached);
	cJSON_AddBoolToObject(l7, "enabled", a->l7 != NULL);
	cJSON *listeners = cJSON_AddArrayToObject(l7, "listeners");

	if (a->l7) {
		const struct ilb_l7_stats *st = ilb_l7_stats(a->l7);
		struct ilb_route_table *t = ilb_route_build(a->store, &a->rec, a->vip.family ? &a->vip : NULL);

		for (int i = 0; t && i < t->n_listeners; i++) {
			char ip[64], text[80];

			ilb_addr_format(&t->listeners[i].addr, ip, sizeof(ip));
			snprintf(text, sizeof(text), t->listeners[i].addr.family == 6 ? "[%s]:%u" : "%s:%u", ip,
				 t->listeners[i].port);
			cJSON_AddItemToArray(listeners, cJSON_CreateString(text));
		}
		ilb_route_put(t);
		cJSON_AddStringToObject(l7, "policy", ilb_policy_name(a->l7_cfg.policy));
		cJSON_AddNumberToObject(l7, "connections", atomic_load(&st->connections));
		cJSON_AddNumberToObject(l7, "requests", atomic_load(&st->counter[ILB_L7_REQUESTS]));
	}
	cJSON_AddStringToObject(res, "last_error", a->last_error);
	return res;
}

/* Where a request to the pool goes now: "pods" with a ready one, else for a Knative
 * revision "activator" (its SKS in Proxy mode with ready addresses) or "hold", else "none"
 * (503); with the SKS's mode, the activator's addresses and the requests sent to them. */
static void add_pool_route(struct ilb_agent *a, cJSON *p, int id, const struct ilb_object *obj)
{
	bool derived = obj && obj->pool.derived_from[0];
	struct ilb_kn_activator act = { 0 };
	const char *via;

	if (derived)
		ilb_kn_activator_get(a->store, obj->meta.ns, obj->meta.name, &act);
	via = a->rec.pools[id].ready > 0 ? "pods" : act.n_endpoints ? "activator" : derived ? "hold" : "none";
	cJSON_AddStringToObject(p, "via", via);
	cJSON_AddStringToObject(p, "sks_mode", !act.has_sks ? "" : act.mode == ILB_KN_SKS_PROXY ? "Proxy" : "Serve");
	cJSON_AddNumberToObject(p, "activator_endpoints", act.n_endpoints);
	cJSON_AddNumberToObject(p, "activator_requests",
				a->l7 ? (double)atomic_load(&ilb_l7_stats(a->l7)->activated[id]) : 0);
}

static cJSON *view_pools(struct ilb_agent *a)
{
	cJSON *res = cJSON_CreateObject(), *pools = cJSON_AddArrayToObject(res, "pools");

	for (int id = 1; id < ILB_MAX_POOLS; id++) {
		const struct ilb_pool_view *pv = &a->rec.pools[id];
		cJSON *p;
		char vip[80] = "";
		const char *slash = strchr(pv->name, '/');

		if (!pv->in_use)
			continue;
		if (pv->has_vip)
			vip_text(&pv->vip, vip, sizeof(vip));
		p = cJSON_CreateObject();
		cJSON_AddItemToObject(p, "namespace", cJSON_CreateString(""));
		if (slash) {
			char ns[ILB_NS_MAX];

			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pv->name), pv->name);
			cJSON_ReplaceItemInObject(p, "namespace", cJSON_CreateString(ns));
		}
		cJSON_AddStringToObject(p, "name", slash ? slash + 1 : pv->name);
		cJSON_AddNumberToObject(p, "id", id);
		cJSON_AddStringToObject(p, "vip", vip);
		cJSON_AddStringToObject(p, "failure_mode", pv->flags & ILB_POOL_FAIL_OPEN ? "FailOpen" : "FailClose");
		cJSON_AddNumberToObject(p, "ready", pv->ready);
		cJSON_AddNumberToObject(p, "total", pv->total);
		unsigned concurrency = 0;
		const struct ilb_object *obj = NULL;

		if (slash) {
			char ns[ILB_NS_MAX];

			snprintf(ns, sizeof(ns), "%.*s", (int)(slash - pv->name), pv->name);
			obj = ilb_store_get(a->store, ILB_KIND_POOL, ns, slash + 1);
		}
		for (int b = 1; a->l7 && b < ILB_MAX_BACKENDS; b++)
			if (a->rec.backends[b].state != ILB_BACKEND_EMPTY && (int)a->rec.backends[b].pool_id == id)
				concurrency += atomic_load(&ilb_l7_stats(a->l7)->backend[b].inflight);
		cJSON_AddNumberToObject(p, "concurrency", concurrency);
		cJSON_AddStringToObject(p, "derived_from", obj ? obj->pool.derived_from : "");
		cJSON_AddNumberToObject(p, "pending", a->l7 ? atomic_load(&ilb_l7_stats(a->l7)->pending[id]) : 0);
		cJSON_AddNumberToObject(p, "sheds", a->l7 ? (double)atomic_load(&ilb_l7_stats(a->l7)->sheds[id]) : 0);
		add_pool_route(a, p, id, obj);
		cJSON_AddItemToArray(pools, p);
	}
	return res;
}

static bool pool_matches(const char *pool_name, const char *filter)
{
	const char *slash = strchr(pool_name, '/');

	return !filter || !*filter || !strcmp(pool_name, filter) || (slash && !strcmp(slash + 1, filter));
}

static cJSON *view_backends(struct ilb_agent *a, const char *filter)
{
	cJSON *res = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(res, "backends");
	uint64_t now = ilb_now_ns();

	if (filter && *filter) {
		bool known = false;

		for (int id = 1; id < ILB_MAX_POOLS; id++)
			if (a->rec.pools[id].in_use && pool_matches(a->rec.pools[id].name, filter))
				known = true;
		if (!known) {
			cJSON_Delete(res);
			return ilb_ctl_error("no pool named %s", filter);
		}
	}
	for (int id = 1; id < ILB_MAX_BACKENDS; id++) {
		const struct ilb_backend_view *v = &a->rec.backends[id];
		char ip[46];
		cJSON *b;

		if (v->state == ILB_BACKEND_EMPTY || !pool_matches(a->rec.pools[v->pool_id].name, filter))
			continue;
		b = cJSON_CreateObject();
		ilb_addr_format(&v->addr, ip, sizeof(ip));
		cJSON_AddStringToObject(b, "pool", a->rec.pools[v->pool_id].name);
		cJSON_AddStringToObject(b, "pod", v->pod);
		cJSON_AddNumberToObject(b, "id", id);
		cJSON_AddStringToObject(b, "ip", ip);
		cJSON_AddNumberToObject(b, "port", v->port);
		cJSON_AddStringToObject(b, "state", state_name(v->state));
		cJSON_AddNumberToObject(b, "queue", v->load.waiting);
		cJSON_AddNumberToObject(b, "running", v->load.running);
		cJSON_AddNumberToObject(b, "kv", v->load.kv_usage);
		cJSON_AddNumberToObject(b, "score", v->score);
		cJSON_AddNumberToObject(b, "metrics_age_ms",
					v->load.scraped_ns ? (double)((now - v->load.scraped_ns) / 1000000) : -1);
		cJSON_AddNumberToObject(b, "in_flight",
					a->l7 ? atomic_load(&ilb_l7_stats(a->l7)->backend[v->id].inflight) : 0);
		cJSON_AddNumberToObject(b, "picks",
					a->l7 ? (double)atomic_load(&ilb_l7_stats(a->l7)->backend[v->id].picks) : 0);
		cJSON_AddNumberToObject(b, "active_conns", (double)ilb_maps_backend_active(&a->maps, id));
		cJSON_AddBoolToObject(b, "resolved", v->resolved);
		cJSON_AddItemToArray(list, b);
	}
	return res;
}

/* The model names routed to the objective's pool, and the rewrites applied there. */
static void objective_models(struct ilb_agent *a, const struct ilb_objective *o, cJSON *models, cJSON *rewrites)
{
	const struct ilb_object *const *objs;
	int n = ilb_store_list(a->store, ILB_KIND_INFERENCE_MODEL, &objs);

	for (int i = 0; i < n; i++) {
		const struct ilb_inference_model *m = &objs[i]->model;

		if (!strcmp(m->meta.ns, o->meta.ns) && !strcmp(m->pool_ref.name, o->pool_ref.name))
			cJSON_AddItemToArray(models, cJSON_CreateString(m->model_name));
	}
	n = ilb_store_list(a->store, ILB_KIND_MODEL_REWRITE, &objs);
	for (int i = 0; i < n; i++) {
		const struct ilb_model_rewrite *rw = &objs[i]->rewrite;

		if (strcmp(rw->meta.ns, o->meta.ns) || strcmp(rw->pool_ref.name, o->pool_ref.name))
			continue;
		for (int r = 0; r < rw->n_rules; r++) {
			char text[1024];
			int len = snprintf(text, sizeof(text), "%s ->", rw->rules[r].match_model[0] ? rw->rules[r].match_model : "*");

			for (int t = 0; t < rw->rules[r].n_targets && len > 0 && len < (int)sizeof(text); t++)
				len += snprintf(text + len, sizeof(text) - len, " %s (%u)", rw->rules[r].targets[t].name,
						rw->rules[r].targets[t].weight);
			cJSON_AddItemToArray(rewrites, cJSON_CreateString(text));
			if (rw->rules[r].match_model[0])
				cJSON_AddItemToArray(models, cJSON_CreateString(rw->rules[r].match_model));
		}
	}
}

static cJSON *view_objectives(struct ilb_agent *a)
{
	cJSON *res = cJSON_CreateObject(), *list = cJSON_AddArrayToObject(res, "objectives");
	const struct ilb_object *const *objs;
	int n = ilb_store_list(a->store, ILB_KIND_OBJECTIVE, &objs);

	for (int i = 0; i < n; i++) {
		const struct ilb_objective *o = &objs[i]->objective;
		cJSON *item = cJSON_CreateObject();

		cJSON_AddStringToObject(item, "namespace", o->meta.ns);
		cJSON_AddStringToObject(item, "name", o->meta.name);
		cJSON_AddStringToObject(item, "pool", o->pool_ref.name);
		cJSON_AddNumberToObject(item, "priority", o->priority);
		cJSON_AddStringToObject(item, "derived_from", o->derived_from);
		objective_models(a, o, cJSON_AddArrayToObject(item, "models"), cJSON_AddArrayToObject(item, "rewrites"));
		cJSON_AddItemToArray(list, item);
	}
	return res;
}

cJSON *ilb_agent_handle(const char *cmd, const cJSON *req, void *ctx)
{
	struct ilb_agent *a = ctx;
	const cJSON *arg;

	if (!strcmp(cmd, "status"))
		return view_status(a);
	if (!strcmp(cmd, "pools"))
		return view_pools(a);
	if (!strcmp(cmd, "backends")) {
		arg = cJSON_GetObjectItemCaseSensitive(req, "pool");
		return view_backends(a, cJSON_IsString(arg) ? arg->valuestring : NULL);
	}
	if (!strcmp(cmd, "objectives"))
		return view_objectives(a);
	if (!strcmp(cmd, "drain") || !strcmp(cmd, "undrain")) {
		bool drain = !strcmp(cmd, "drain");
		int err;

		arg = cJSON_GetObjectItemCaseSensitive(req, "pod");
		if (!cJSON_IsString(arg))
			return ilb_ctl_error("%s needs \"pod\": \"namespace/name\"", cmd);
		err = ilb_reconciler_drain(&a->rec, arg->valuestring, drain);
		if (err == -ENOENT)
			return ilb_ctl_error("no backend for pod %s", arg->valuestring);
		if (err)
			return ilb_ctl_error("%s %s: %s", cmd, arg->valuestring, strerror(-err));
		a->synced = false; /* the next tick republishes the ready sets */
		ilb_agent_tick(a);
		pr_info("%s %s", drain ? "draining" : "undrained", arg->valuestring);
		return cJSON_CreateObject();
	}
	return ilb_ctl_error("unknown command \"%s\"", cmd);
}
