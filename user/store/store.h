/* store.h - the Kubernetes object store: the objects the agent reads (InferencePool,
 * InferenceObjective, Pods, ...), decoded once from JSON whatever the source (YAML manifests
 * or the Kubernetes API), and the store that keeps them by kind, namespace and name. */
#ifndef ILB_STORE_H
#define ILB_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define ILB_NS_MAX 64
#define ILB_NAME_MAX 254
#define ILB_MODEL_NAME_MAX 256
#define ILB_MAX_TARGET_PORTS 8
#define ILB_DERIVED_MAX (ILB_NS_MAX + ILB_NAME_MAX + 16)

enum ilb_kind {
	ILB_KIND_NONE = 0,
	ILB_KIND_POD,
	ILB_KIND_POOL, /* InferencePool, v1 or legacy v1alpha2 */
	ILB_KIND_OBJECTIVE, /* InferenceObjective */
	ILB_KIND_MODEL_REWRITE, /* InferenceModelRewrite */
	ILB_KIND_INFERENCE_MODEL, /* legacy v1alpha2 InferenceModel */
	ILB_KIND_GATEWAY,
	ILB_KIND_HTTPROUTE,
	ILB_KIND_KSERVICE, /* Knative serving.knative.dev/v1 Service */
	ILB_KIND_KN_DOMAIN, /* Knative's config-domain ConfigMap (knative-serving/config-domain) */
	ILB_KIND_KN_SKS, /* Knative's ServerlessService (networking.internal.knative.dev/v1alpha1) */
	ILB_KIND_KN_ENDPOINTS, /* v1 Endpoints of a Knative public Service */
	ILB_KIND__COUNT,
};

struct ilb_addr {
	uint8_t family; /* 4 or 6, 0 = none */
	uint8_t bytes[16];
};

struct ilb_kv {
	char *key;
	char *value;
};

struct ilb_labels {
	struct ilb_kv *items;
	int count;
};

struct ilb_meta {
	char ns[ILB_NS_MAX];
	char name[ILB_NAME_MAX];
	char uid[64];
	char resource_version[32];
	struct ilb_labels labels;
	struct ilb_labels annotations;
};

struct ilb_container_port {
	char name[64];
	uint16_t port;
};

struct ilb_pod {
	struct ilb_meta meta;
	struct ilb_addr ips[2]; /* status.podIPs (podIP first) */
	int n_ips;
	bool ready; /* condition Ready=True */
	bool terminating; /* metadata.deletionTimestamp set */
	char node_name[ILB_NAME_MAX];
	struct ilb_container_port ports[16]; /* every container's ports */
	int n_ports;
};

enum ilb_failure_mode {
	ILB_FAIL_CLOSE = 0, /* the upstream default */
	ILB_FAIL_OPEN = 1,
};

struct ilb_pool {
	struct ilb_meta meta;
	bool legacy; /* inference.networking.x-k8s.io/v1alpha2 */
	struct ilb_labels selector; /* matchLabels */
	uint16_t target_ports[ILB_MAX_TARGET_PORTS];
	int n_target_ports;
	char app_protocol[32];
	char epp_name[ILB_NAME_MAX]; /* endpointPickerRef.name, informational */
	enum ilb_failure_mode failure_mode;
	/* annotation inferlb.io/vip: "IP:PORT" (IPv6 as "[IP]:PORT") gives an L4 VIP */
	bool has_vip;
	struct ilb_addr vip;
	uint16_t vip_port;
	uint8_t vip_proto; /* IPPROTO_TCP unless inferlb.io/vip-protocol: UDP */
	/* set when the agent made the pool itself: "Service ns/name" for a Knative Service */
	char derived_from[ILB_DERIVED_MAX];
	/* Knative's queue-proxy port (8012): a pod that declares it takes requests there, so
	 * that Knative's autoscaler counts them; the target port still serves /metrics. 0 = none */
	uint16_t queue_proxy_port;
};

struct ilb_pool_ref {
	char group[64];
	char kind[64];
	char name[ILB_NAME_MAX];
};

struct ilb_weighted_model {
	char name[ILB_MODEL_NAME_MAX];
	uint32_t weight;
};

struct ilb_objective {
	struct ilb_meta meta;
	int32_t priority; /* spec.priority, 0 when absent */
	bool has_priority;
	struct ilb_pool_ref pool_ref;
	char derived_from[ILB_DERIVED_MAX]; /* as in struct ilb_pool */
};

enum ilb_criticality {
	ILB_CRIT_STANDARD = 0,
	ILB_CRIT_CRITICAL,
	ILB_CRIT_SHEDDABLE,
};

struct ilb_inference_model {
	struct ilb_meta meta;
	char model_name[ILB_MODEL_NAME_MAX];
	enum ilb_criticality criticality;
	struct ilb_pool_ref pool_ref;
	struct ilb_weighted_model *targets;
	int n_targets;
};

struct ilb_rewrite_rule {
	char match_model[ILB_MODEL_NAME_MAX]; /* exact match on the request's model; "" = any */
	struct ilb_weighted_model *targets;
	int n_targets;
};

struct ilb_model_rewrite {
	struct ilb_meta meta;
	struct ilb_pool_ref pool_ref;
	struct ilb_rewrite_rule *rules;
	int n_rules;
};

struct ilb_listener {
	char name[64];
	uint16_t port;
	char protocol[16];
};

struct ilb_gateway {
	struct ilb_meta meta;
	char class_name[ILB_NAME_MAX];
	struct ilb_listener listeners[16];
	int n_listeners;
	struct ilb_addr addresses[4]; /* spec.addresses and status.addresses (IP type) */
	int n_addresses;
};

struct ilb_parent_ref {
	char ns[ILB_NS_MAX]; /* defaults to the route's namespace */
	char name[ILB_NAME_MAX];
	char section[64];
	uint16_t port; /* 0 = any */
};

struct ilb_backend_ref {
	char group[64];
	char kind[64]; /* "InferencePool", "Service", ... */
	char ns[ILB_NS_MAX];
	char name[ILB_NAME_MAX];
	uint16_t port;
	uint32_t weight; /* default 1 */
};

enum ilb_path_match {
	ILB_PATH_PREFIX = 0, /* the Gateway API default, "/" */
	ILB_PATH_EXACT,
	ILB_PATH_REGEX, /* kept, matched as never (not supported) */
};

struct ilb_route_match {
	enum ilb_path_match path_type;
	char path[256];
	char method[16]; /* "" = any */
};

struct ilb_route_rule {
	struct ilb_route_match *matches;
	int n_matches; /* 0 = match everything */
	struct ilb_backend_ref *backends;
	int n_backends;
};

struct ilb_httproute {
	struct ilb_meta meta;
	struct ilb_parent_ref *parents;
	int n_parents;
	char (*hostnames)[ILB_NAME_MAX];
	int n_hostnames;
	struct ilb_route_rule *rules;
	int n_rules;
};

/* One entry of a Knative Service's traffic (status.traffic when the Service has a status,
 * else spec.traffic; none written means 100% to the latest revision). */
struct ilb_kn_traffic {
	char revision[ILB_NAME_MAX]; /* "" = the latest revision, not known yet */
	bool latest; /* latestRevision: follows new revisions */
	uint32_t percent;
	char tag[64];
	/* the tag's URL host in status.traffic; "" without one: then the route table gives the
	 * tag <tag>-<name>.<ns>.<domain> with the domain config-domain names at the time */
	char host[ILB_NAME_MAX];
	char pool[ILB_NAME_MAX]; /* the derived InferencePool that serves this target */
};

#define ILB_KN_MAX_HOSTS 4
#define ILB_KN_DEFAULT_DOMAIN "example.com" /* Knative's default without a config-domain */
#define ILB_KN_CLUSTER_DOMAIN "svc.cluster.local"
#define ILB_KN_DOMAIN_NS "knative-serving"
#define ILB_KN_DOMAIN_NAME "config-domain"

/* serving.knative.dev/v1 Service. Annotated knative.aliyun.com/ai-gateway: inference, the
 * store derives from it an InferencePool per revision it routes to (per Service while the
 * revisions are not known) and an InferenceObjective per pool. */
struct ilb_kservice {
	struct ilb_meta meta;
	bool inference; /* the annotation is set; nothing below is read otherwise */
	int32_t priority; /* knative.aliyun.com/ai-gateway-inference-priority, 0 when absent */
	bool has_priority;
	uint16_t container_port; /* the serving container's port; 8080 when it declares none */
	char app_protocol[32]; /* "kubernetes.io/h2c" for a port named h2c, else "http" */
	uint32_t container_concurrency; /* 0 = unlimited */
	/* autoscaling.knative.dev/{metric,target,min-scale,max-scale} of the template */
	char scale_metric[16]; /* "" = Knative's default (concurrency) */
	double scale_target; /* 0 = unset */
	int32_t min_scale, max_scale; /* -1 = unset */
	char latest_ready[ILB_NAME_MAX]; /* status.latestReadyRevisionName */
	/* <name>.<ns>.svc.cluster.local and the hosts of status.url and status.address.url when
	 * they differ; <name>.<ns>.<domain> is not here: the route table adds it from the
	 * config-domain of the time, so that a change of the ConfigMap moves every Service */
	char hosts[ILB_KN_MAX_HOSTS][ILB_NAME_MAX];
	int n_hosts;
	struct ilb_kn_traffic *traffic;
	int n_traffic;
};

/* One domain of Knative's config-domain: Services whose labels hold every selector pair get
 * it (an empty selector: every Service, the default domain). */
struct ilb_kn_domain_rule {
	char domain[ILB_NAME_MAX];
	struct ilb_labels selector;
};

/* The ConfigMap knative-serving/config-domain, as Knative reads it: the data key "_example"
 * is skipped, and example.com is the default when no key has an empty selector. */
struct ilb_kn_domain {
	struct ilb_meta meta;
	struct ilb_kn_domain_rule *rules;
	int n_rules;
};

/* Knative's ServerlessService spec.mode: Serve sends a revision's traffic to its pods, Proxy
 * to the activator (scaled to zero, or the activator kept in the path). */
enum ilb_kn_sks_mode {
	ILB_KN_SKS_SERVE = 0,
	ILB_KN_SKS_PROXY,
};

/* networking.internal.knative.dev/v1alpha1 ServerlessService, named after its revision: which
 * of the two the revision's public Service (status.serviceName) points at. */
struct ilb_kn_sks {
	struct ilb_meta meta;
	enum ilb_kn_sks_mode mode; /* spec.mode */
	bool h2c; /* spec.protocolType h2c; http1 otherwise */
	char service_name[ILB_NAME_MAX]; /* status.serviceName, "" until Knative has made it */
};

#define ILB_KN_MAX_ENDPOINTS 16
#define ILB_KN_LABEL_SERVICE_TYPE "networking.internal.knative.dev/serviceType"

/* One address of an Endpoints and the port of it that speaks HTTP/1.1. */
struct ilb_kn_endpoint {
	struct ilb_addr addr;
	uint16_t port;
};

/* v1 Endpoints of a Knative public Service (labelled networking.internal.knative.dev/
 * serviceType: Public; other Endpoints are not read). Knative's SKS controller writes them:
 * the activator's addresses in Proxy mode, the pods' in Serve mode. */
struct ilb_kn_endpoints {
	struct ilb_meta meta;
	/* subsets[].addresses, each with its subset's port named "http" (Knative's HTTP/1.1 port
	 * name) or else numbered 8012; the first ILB_KN_MAX_ENDPOINTS */
	struct ilb_kn_endpoint ready[ILB_KN_MAX_ENDPOINTS];
	int n_ready;
	int n_not_ready; /* subsets[].notReadyAddresses, counted */
};

/* One decoded object of any kind. */
struct ilb_object {
	enum ilb_kind kind;
	union {
		struct ilb_meta meta; /* first member of every kind */
		struct ilb_pod pod;
		struct ilb_pool pool;
		struct ilb_objective objective;
		struct ilb_model_rewrite rewrite;
		struct ilb_inference_model model;
		struct ilb_gateway gateway;
		struct ilb_httproute route;
		struct ilb_kservice kservice;
		struct ilb_kn_domain kn_domain;
		struct ilb_kn_sks kn_sks;
		struct ilb_kn_endpoints kn_endpoints;
	};
};

/* Decodes one Kubernetes object (as the API server or a manifest gives it).
 * Returns 0, -ENOENT for a kind the agent does not read (not an error), or -EINVAL with a
 * reason naming the field in err. Objects without metadata.namespace get "default". */
int ilb_decode(const cJSON *json, struct ilb_object *out, char *err, size_t errlen);
const char *ilb_kind_name(enum ilb_kind kind);
void ilb_object_free(struct ilb_object *obj);
int ilb_object_copy(struct ilb_object *dst, const struct ilb_object *src);
const char *ilb_labels_get(const struct ilb_labels *labels, const char *key);

/* Parses "1.2.3.4" or "fd00::1"; returns 0 or -EINVAL. */
int ilb_addr_parse(const char *text, struct ilb_addr *out);
/* snprintf that leaves buf empty when the text does not fit: a cut name (a host, a pool
 * derived from a revision) names nothing. False when it did not fit. */
bool ilb_format_whole(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Formats into buf (at least 46 bytes). */
const char *ilb_addr_format(const struct ilb_addr *addr, char *buf, size_t len);

/* The store: every object by kind, namespace and name. `generation` grows on each change,
 * so a consumer can tell whether it must reconcile. */
struct ilb_store;

struct ilb_store *ilb_store_new(void);
void ilb_store_free(struct ilb_store *store);
/* Inserts or replaces (a deep copy is kept). Returns 1 if it changed anything, 0 if equal. */
int ilb_store_apply(struct ilb_store *store, const struct ilb_object *obj);
/* Returns 1 if an object was removed, 0 if there was none or it is one the store derived
 * (those go with their Service). */
int ilb_store_delete(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name);
uint64_t ilb_store_generation(const struct ilb_store *store);
/* Objects of a kind in a stable order (namespace, name); valid until the next change. */
int ilb_store_list(const struct ilb_store *store, enum ilb_kind kind, const struct ilb_object *const **out);
const struct ilb_object *ilb_store_get(const struct ilb_store *store, enum ilb_kind kind, const char *ns,
				       const char *name);

/* Removes an object the store derived; ilb_store_delete refuses those, so that a source
 * that withdraws what it no longer sees cannot take a Service's pools with it. */
int ilb_store_delete_derived(struct ilb_store *store, enum ilb_kind kind, const char *ns, const char *name);

/* A backend of a pool: one ready pod address and one target port. */
struct ilb_endpoint {
	const struct ilb_pod *pod;
	struct ilb_addr addr;
	uint16_t port; /* the target port: the model server, where its /metrics is */
	uint16_t traffic_port; /* where requests go: the queue-proxy's port when the pool
				  has one and the pod declares it (Knative), else port */
	char engine[16]; /* label inference.networking.k8s.io/engine-type, default "vllm" */
};

/* True when the pod's namespace equals the pool's and every matchLabels pair is on it. */
bool ilb_selector_matches(const struct ilb_pool *pool, const struct ilb_pod *pod);
/* Fills *out (malloc'd, caller frees) with the pool's backends: matching pods that are Ready,
 * have an IP and are not terminating, one per target port, in a stable order.
 * Returns the count or -errno. */
int ilb_pool_endpoints(const struct ilb_store *store, const struct ilb_pool *pool, struct ilb_endpoint **out);

/* Helpers for the decoders and tests. */
/* Adds key=value, or replaces the value of an existing key. Returns 0 or -ENOMEM. */
int ilb_labels_set(struct ilb_labels *labels, const char *key, const char *value);
void ilb_labels_free(struct ilb_labels *labels);
int ilb_labels_copy(struct ilb_labels *dst, const struct ilb_labels *src);
/* Same pairs, whatever their order. */
bool ilb_labels_equal(const struct ilb_labels *a, const struct ilb_labels *b);
bool ilb_addr_equal(const struct ilb_addr *a, const struct ilb_addr *b);
/* Field-by-field equality; metadata.resourceVersion is not compared (it changes on writes
 * the agent does not read). */
bool ilb_object_equal(const struct ilb_object *a, const struct ilb_object *b);

#endif
