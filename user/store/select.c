/* select.c - which pods belong to a pool: label selection in the pool's namespace, and the
 * pool's backends (one per ready pod address and target port). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store.h"

#define ENGINE_LABEL "inference.networking.k8s.io/engine-type"
#define DEFAULT_ENGINE "vllm"

bool ilb_selector_matches(const struct ilb_pool *pool, const struct ilb_pod *pod)
{
	if (strcmp(pool->meta.ns, pod->meta.ns) != 0)
		return false;
	/* an empty selector would take every pod of the namespace: select none instead */
	if (pool->selector.count == 0)
		return false;
	for (int i = 0; i < pool->selector.count; i++) {
		const char *value = ilb_labels_get(&pod->meta.labels, pool->selector.items[i].key);

		if (!value || strcmp(value, pool->selector.items[i].value) != 0)
			return false;
	}
	return true;
}

static bool pod_serves(const struct ilb_pod *pod)
{
	return pod->ready && !pod->terminating && pod->n_ips > 0 && pod->ips[0].family != 0;
}

int ilb_pool_endpoints(const struct ilb_store *store, const struct ilb_pool *pool, struct ilb_endpoint **out)
{
	const struct ilb_object *const *pods;
	struct ilb_endpoint *eps = NULL;
	int n_pods, count = 0, cap = 0;

	*out = NULL;
	if (!store || !pool)
		return -EINVAL;
	/* the store lists pods by (namespace, name), which keeps this order stable */
	n_pods = ilb_store_list(store, ILB_KIND_POD, &pods);
	for (int i = 0; i < n_pods; i++) {
		const struct ilb_pod *pod = &pods[i]->pod;
		const char *engine;

		if (!pod_serves(pod) || !ilb_selector_matches(pool, pod))
			continue;
		engine = ilb_labels_get(&pod->meta.labels, ENGINE_LABEL);
		if (!engine || !engine[0])
			engine = DEFAULT_ENGINE;
		for (int p = 0; p < pool->n_target_ports; p++) {
			struct ilb_endpoint *ep;

			if (count == cap) {
				int new_cap = cap ? cap * 2 : 16;
				struct ilb_endpoint *grown = realloc(eps, new_cap * sizeof(*grown));

				if (!grown) {
					free(eps);
					return -ENOMEM;
				}
				eps = grown;
				cap = new_cap;
			}
			ep = &eps[count++];
			memset(ep, 0, sizeof(*ep));
			ep->pod = pod;
			ep->addr = pod->ips[0];
			ep->port = pool->target_ports[p];
			ep->traffic_port = ep->port;
			/* Knative's concurrency autoscaler counts what passes its queue-proxy */
			for (int c = 0; pool->queue_proxy_port && c < pod->n_ports; c++)
				if (pod->ports[c].port == pool->queue_proxy_port)
					ep->traffic_port = pool->queue_proxy_port;
			snprintf(ep->engine, sizeof(ep->engine), "%s", engine);
		}
	}
	*out = eps;
	return count;
}
