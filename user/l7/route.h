/* route.h - the L7 lane's view of the world, built by the agent's main thread from the
 * store and the reconciler and handed to the L7 thread whole: which pool a request goes to
 * (Host and path through HTTPRoutes and Knative Services, or the model name), the model it
 * is rewritten to, its priority, and each pool's pods. A table is configuration: it is built
 * when objects change, never changed once built, and a newer one replaces it. The pods'
 * loads are health, read through each pod's slot in the health array (load/health.h). */
#ifndef ILB_ROUTE_H
#define ILB_ROUTE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "load/health.h"
#include "load/load.h"
#include "store/store.h"

struct ilb_reconciler;

/* Kernel backend ids start at 1: the activator's addresses all go by 0. */
#define ILB_RT_ACTIVATOR_ID 0

struct ilb_rt_backend {
	uint32_t id; /* the backend id, as in the kernel maps (ILB_RT_ACTIVATOR_ID: the activator) */
	struct ilb_addr addr;
	uint16_t port;
	bool ready, draining;
	char pod[ILB_NS_MAX + ILB_NAME_MAX];
	const struct ilb_health_slot *health; /* its latest load; NULL: none (the activator) */
};

struct ilb_rt_pool {
	char name[ILB_NS_MAX + ILB_NAME_MAX]; /* "ns/name" */
	struct ilb_rt_backend *backends;
	int n_backends;
	int32_t priority; /* of the objective naming this pool (0 without one) */
	uint32_t kernel_id; /* the pool's id in the maps, 0 when it has none yet */
	bool hold; /* derived from a Knative Service: requests wait for a pod (scale from zero) */
	/* Knative's activator: the revision's public Endpoints while its ServerlessService is in
	 * Proxy mode. With no ready pod a request goes there, as Knative's ingress sends it,
	 * rather than wait; none in Serve mode, without an SKS or without a ready address. */
	struct ilb_rt_backend *activator;
	int n_activator;
};

/* A weighted choice among pools (HTTPRoute backendRefs, Knative traffic). */
struct ilb_rt_split {
	int pool[8];
	uint32_t weight[8];
	int n;
};

struct ilb_rt_host {
	char host[ILB_NAME_MAX]; /* lower case; "*.example.com" for a wildcard */
	char path[256]; /* prefix, "/" = any */
	bool exact;
	uint16_t port; /* listener port, 0 = any */
	struct ilb_rt_split split;
};

struct ilb_rt_model {
	char model[ILB_MODEL_NAME_MAX];
	int pool; /* -1: any pool the Host picked */
	int32_t priority;
	bool has_priority;
	struct ilb_weighted_model *targets; /* rewrite; NULL = keep the name */
	int n_targets;
};

struct ilb_rt_objective {
	char name[ILB_NAME_MAX];
	int32_t priority;
};

/* An L7 listener: a gateway address and port that sk_lookup sends to the agent. */
struct ilb_rt_listener {
	struct ilb_addr addr;
	uint16_t port;
	int fail_open_pool; /* the pool xdp_steer falls back to without the agent; -1 none */
};

struct ilb_route_table {
	atomic_int refs;
	uint64_t generation;
	struct ilb_rt_pool *pools;
	int n_pools;
	struct ilb_rt_host *hosts;
	int n_hosts;
	struct ilb_rt_model *models;
	int n_models;
	struct ilb_rt_objective *objectives;
	int n_objectives;
	struct ilb_rt_listener *listeners;
	int n_listeners;
};

/* Builds a table from the store; backend ids and their health slots from the reconciler;
 * `vip`, when set, is the address of every Gateway that has none. Returns NULL on allocation
 * failure. */
struct ilb_route_table *ilb_route_build(const struct ilb_store *store, const struct ilb_reconciler *rec,
					const struct ilb_addr *vip);
void ilb_route_get(struct ilb_route_table *t);
void ilb_route_put(struct ilb_route_table *t);

/* The backend's latest load, copied whole into *copy (zero when never scraped). Returns copy. */
const struct ilb_pod_load *ilb_rt_backend_load(const struct ilb_rt_backend *be, struct ilb_pod_load *copy);
/* Every pod's latest load, in table order (each pool's backends in turn), for a caller that
 * keeps pointers into them a while; free() it. NULL when out of memory. */
struct ilb_pod_load *ilb_route_loads(const struct ilb_route_table *t);

enum ilb_route_status {
	ILB_ROUTE_OK = 0,
	ILB_ROUTE_NO_HOST, /* a Host header that no route names: 404 */
	ILB_ROUTE_NO_MODEL, /* a model no pool serves: 404 */
};

struct ilb_route_result {
	int pool;
	const char *model; /* the model to forward: the request's, or a rewrite target */
	int32_t priority;
};

/* Resolves one request. `host` may be NULL (no Host header); `objective` is the value of
 * x-gateway-inference-objective or NULL; `rnd` a random 32-bit value for weighted choices. */
enum ilb_route_status ilb_route_resolve(const struct ilb_route_table *t, const char *host, const char *path,
					uint16_t port, const char *model, const char *objective, uint32_t rnd,
					struct ilb_route_result *out);

#endif
