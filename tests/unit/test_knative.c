/* test_knative.c - Knative Services: the seed's Service decoded as the guide writes it, the
 * pool and objective the store derives from it, traffic, tags, hosts, and every bad field. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "manifest_fixture.h"
#include "l7/route.h"

/* Step 4 of the deployment guide (../shared/seed/), byte for byte but for the indentation. */
static const char seed_service[] =
	"apiVersion: serving.knative.dev/v1\n"
	"kind: Service\n"
	"metadata:\n"
	"  name: qwen\n"
	"  namespace: default\n"
	"  annotations:\n"
	"    # Enable the AI inference gateway.\n"
	"    knative.aliyun.com/ai-gateway: inference          \n"
	"    knative.aliyun.com/ai-gateway-inference-priority: \"1\"\n"
	"  labels:\n"
	"    release: qwen\n"
	"spec:\n"
	"  template:\n"
	"    metadata:\n"
	"      annotations:\n"
	"        # Autoscaling metric: concurrency.\n"
	"        autoscaling.knative.dev/metric: \"concurrency\" \n"
	"        # Target concurrency.\n"
	"        autoscaling.knative.dev/target: \"2\"           \n"
	"        # Maximum number of instances.\n"
	"        autoscaling.knative.dev/max-scale: \"3\"        \n"
	"        # Minimum number of instances. For large models, a minimum of 1 is recommended to keep an "
	"instance warm and avoid request timeouts on cold starts.\n"
	"        autoscaling.knative.dev/min-scale: \"1\"        \n"
	"      labels:\n"
	"        release: qwen\n"
	"    spec:\n"
	"      containers:\n"
	"      - name: vllm-container\n"
	"        image: ac2-registry.cn-hangzhou.cr.aliyuncs.com/ac2/vllm:0.4.1-ubuntu22.04\n"
	"        command:\n"
	"        - sh\n"
	"        - -c\n"
	"        - python3 -m vllm.entrypoints.openai.api_server --port 8080 --trust-remote-code --model "
	"/models/Qwen1.5-4B-Chat/ --gpu-memory-utilization 0.95 --max-model-len 8192 --dtype half\n"
	"        ports:\n"
	"        - containerPort: 8080\n"
	"        readinessProbe:\n"
	"          tcpSocket:\n"
	"            port: 8080\n"
	"          initialDelaySeconds: 15\n"
	"          periodSeconds: 5\n"
	"        resources:\n"
	"          limits:\n"
	"            cpu: \"32\"\n"
	"            memory: 64Gi\n"
	"            # Request GPU resources.\n"
	"            nvidia.com/gpu: \"1\" \n"
	"          requests:\n"
	"            cpu: \"8\"\n"
	"            memory: 32Gi\n"
	"            nvidia.com/gpu: \"1\"\n"
	"        volumeMounts:\n"
	"        # The mount path must match the model parameter in the startup command.\n"
	"        - mountPath: /models/Qwen1.5-4B-Chat \n"
	"          name: llm-model\n"
	"      volumes:\n"
	"      - name: llm-model\n"
	"        persistentVolumeClaim:\n"
	"          claimName: llm-model\n";

#define KSVC_HEAD "apiVersion: serving.knative.dev/v1\nkind: Service\n"
#define ANNOTATED "metadata: {name: qwen, annotations: {knative.aliyun.com/ai-gateway: inference}}\n"
#define TEMPLATE "  template: {spec: {containers: [{image: vllm, ports: [{containerPort: 8080}]}]}}\n"

static void decode_ok(const char *yaml, struct ilb_object *obj)
{
	char err[256] = "";
	int ret = decode_yaml_doc(yaml, 0, obj, err, sizeof(err));

	if (ret != 0)
		fail_msg("expected 0, got %d (%s)", ret, err);
	assert_int_equal(obj->kind, ILB_KIND_KSERVICE);
}

static void apply_yaml(struct ilb_store *store, const char *yaml, int expected)
{
	struct ilb_object obj;

	decode_ok(yaml, &obj);
	assert_int_equal(ilb_store_apply(store, &obj), expected);
	ilb_object_free(&obj);
}

static int count(const struct ilb_store *store, enum ilb_kind kind)
{
	const struct ilb_object *const *list;

	return ilb_store_list(store, kind, &list);
}

static const struct ilb_pool *get_pool(const struct ilb_store *store, const char *name)
{
	const struct ilb_object *obj = ilb_store_get(store, ILB_KIND_POOL, "default", name);

	return obj ? &obj->pool : NULL;
}

static const struct ilb_objective *get_objective(const struct ilb_store *store, const char *name)
{
	const struct ilb_object *obj = ilb_store_get(store, ILB_KIND_OBJECTIVE, "default", name);

	return obj ? &obj->objective : NULL;
}

/* ---- decoding ---- */

static void test_seed_service_decodes(void **state)
{
	struct ilb_object obj;
	const struct ilb_kservice *ks = &obj.kservice;

	decode_ok(seed_service, &obj);
	assert_string_equal(ks->meta.ns, "default");
	assert_string_equal(ks->meta.name, "qwen");
	assert_true(ks->inference);
	assert_true(ks->has_priority);
	assert_int_equal(ks->priority, 1);
	assert_int_equal(ks->container_port, 8080);
	assert_string_equal(ks->app_protocol, "http");
	assert_int_equal(ks->container_concurrency, 0);
	assert_string_equal(ks->scale_metric, "concurrency");
	assert_true(ks->scale_target == 2.0);
	assert_int_equal(ks->min_scale, 1);
	assert_int_equal(ks->max_scale, 3);
	/* <name>.<ns>.<domain> is the route table's, from config-domain (test_hosts_follow_...) */
	assert_int_equal(ks->n_hosts, 1);
	assert_string_equal(ks->hosts[0], "qwen.default.svc.cluster.local");
	/* no traffic written: everything to the latest revision, not known from the Service alone */
	assert_int_equal(ks->n_traffic, 1);
	assert_true(ks->traffic[0].latest);
	assert_int_equal(ks->traffic[0].percent, 100);
	assert_string_equal(ks->traffic[0].revision, "");
	assert_string_equal(ks->traffic[0].pool, "qwen");
	ilb_object_free(&obj);
}

static void test_missing_annotation_decodes_as_not_inference(void **state)
{
	static const char *const yamls[] = {
		KSVC_HEAD "metadata: {name: hello}\nspec:\n" TEMPLATE,
		/* not read at all, so a Service the agent does not route cannot fail */
		KSVC_HEAD "metadata: {name: hello, annotations: {knative.aliyun.com/ai-gateway: \"true\"}}\n"
			  "spec: {template: {spec: {containers: []}}}\n",
		KSVC_HEAD "metadata: {name: hello, annotations: {knative.aliyun.com/ai-gateway-inference-priority: x}}\n",
	};

	for (size_t i = 0; i < sizeof(yamls) / sizeof(yamls[0]); i++) {
		struct ilb_object obj;

		decode_ok(yamls[i], &obj);
		assert_false(obj.kservice.inference);
		assert_int_equal(obj.kservice.n_traffic, 0);
		assert_int_equal(obj.kservice.n_hosts, 0);
		ilb_object_free(&obj);
	}
}

static void test_defaults(void **state)
{
	const char *yaml = KSVC_HEAD ANNOTATED "spec: {template: {spec: {containers: [{image: a}, {image: b}]}}}\n";
	struct ilb_object obj;

	decode_ok(yaml, &obj);
	assert_false(obj.kservice.has_priority);
	assert_int_equal(obj.kservice.priority, 0);
	/* Knative's $PORT when no container declares one */
	assert_int_equal(obj.kservice.container_port, 8080);
	assert_string_equal(obj.kservice.scale_metric, "");
	assert_true(obj.kservice.scale_target == 0);
	assert_int_equal(obj.kservice.min_scale, -1);
	assert_int_equal(obj.kservice.max_scale, -1);
	ilb_object_free(&obj);
}

static void test_port_scaling_and_old_annotation_names(void **state)
{
	const char *yaml = KSVC_HEAD "metadata:\n"
				     "  name: llm\n"
				     "  namespace: models\n"
				     "  labels: {networking.knative.dev/visibility: cluster-local}\n"
				     "  annotations:\n"
				     "    knative.aliyun.com/ai-gateway: inference\n"
				     "    knative.aliyun.com/ai-gateway-inference-priority: \"-5\"\n"
				     "    autoscaling.knative.dev/metric: rps\n"
				     "spec:\n"
				     "  template:\n"
				     "    metadata: {annotations: {autoscaling.knative.dev/minScale: \"0\", "
				     "autoscaling.knative.dev/maxScale: \"10\", autoscaling.knative.dev/target: \"0.5\"}}\n"
				     "    spec:\n"
				     "      containerConcurrency: 4\n"
				     "      containers:\n"
				     "      - {name: sidecar, image: s}\n"
				     "      - {name: model, image: m, ports: [{name: h2c, containerPort: 9000}]}\n";
	struct ilb_object obj;
	const struct ilb_kservice *ks = &obj.kservice;

	decode_ok(yaml, &obj);
	assert_int_equal(ks->priority, -5);
	assert_int_equal(ks->container_port, 9000);
	assert_string_equal(ks->app_protocol, "kubernetes.io/h2c");
	assert_int_equal(ks->container_concurrency, 4);
	/* the Service's own annotation when the template has none */
	assert_string_equal(ks->scale_metric, "rps");
	assert_true(ks->scale_target == 0.5);
	assert_int_equal(ks->min_scale, 0);
	assert_int_equal(ks->max_scale, 10);
	assert_int_equal(ks->n_hosts, 1);
	assert_string_equal(ks->hosts[0], "llm.models.svc.cluster.local");
	ilb_object_free(&obj);
}

static void test_traffic_split_and_tags(void **state)
{
	const char *yaml = KSVC_HEAD ANNOTATED "spec:\n"
				     "  template:\n"
				     "    metadata: {name: qwen-v2}\n"
				     "    spec: {containers: [{image: vllm}]}\n"
				     "  traffic:\n"
				     "  - {revisionName: qwen-v1, percent: 70}\n"
				     "  - {latestRevision: true, percent: 30, tag: canary}\n"
				     "  - {revisionName: qwen-v0, percent: 0, tag: old}\n"
				     "  - {revisionName: qwen-unused, percent: 0}\n";
	struct ilb_object obj;
	const struct ilb_kservice *ks = &obj.kservice;

	decode_ok(yaml, &obj);
	assert_int_equal(ks->n_traffic, 4);
	assert_string_equal(ks->traffic[0].revision, "qwen-v1");
	assert_false(ks->traffic[0].latest);
	assert_int_equal(ks->traffic[0].percent, 70);
	assert_string_equal(ks->traffic[0].pool, "qwen-v1");
	assert_string_equal(ks->traffic[0].host, "");
	/* the latest revision is the one the template pins */
	assert_string_equal(ks->traffic[1].revision, "qwen-v2");
	assert_true(ks->traffic[1].latest);
	assert_string_equal(ks->traffic[1].pool, "qwen-v2");
	/* a tag without a status URL: its host comes from config-domain in the route table */
	assert_string_equal(ks->traffic[1].tag, "canary");
	assert_string_equal(ks->traffic[1].host, "");
	assert_string_equal(ks->traffic[2].tag, "old");
	ilb_object_free(&obj);
}

static void test_status_wins_over_spec(void **state)
{
	const char *yaml = KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "status:\n"
				     "  url: http://qwen.default.models.example.org\n"
				     "  address: {url: \"http://qwen.default.svc.cluster.local\"}\n"
				     "  latestReadyRevisionName: qwen-00002\n"
				     "  traffic:\n"
				     "  - {revisionName: qwen-00002, latestRevision: true, percent: 100}\n"
				     "  - {revisionName: qwen-00001, latestRevision: false, percent: 0, tag: prev,\n"
				     "     url: \"http://prev-qwen.default.models.example.org\"}\n";
	struct ilb_object obj;
	const struct ilb_kservice *ks = &obj.kservice;

	decode_ok(yaml, &obj);
	assert_string_equal(ks->latest_ready, "qwen-00002");
	assert_int_equal(ks->n_hosts, 2);
	assert_string_equal(ks->hosts[0], "qwen.default.svc.cluster.local");
	assert_string_equal(ks->hosts[1], "qwen.default.models.example.org");
	assert_int_equal(ks->n_traffic, 2);
	assert_string_equal(ks->traffic[0].pool, "qwen-00002");
	assert_string_equal(ks->traffic[1].pool, "qwen-00001");
	/* the tag's URL as Knative wrote it, with its domain */
	assert_string_equal(ks->traffic[1].host, "prev-qwen.default.models.example.org");
	ilb_object_free(&obj);

	/* no status.traffic yet: spec's latest target resolves to the latest ready revision */
	decode_ok(KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "status: {latestReadyRevisionName: qwen-00007}\n", &obj);
	assert_string_equal(obj.kservice.traffic[0].pool, "qwen-00007");
	ilb_object_free(&obj);
}

/* ---- bad fields: each named by its path ---- */

#define META_WITH(extra)                                                                            \
	KSVC_HEAD "metadata: {name: qwen, annotations: {knative.aliyun.com/ai-gateway: inference" extra \
		  "}}\n"
#define WITH_TRAFFIC(list) KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "  traffic: " list "\n"
#define WITH_SCALE(annotations)                                                               \
	KSVC_HEAD ANNOTATED "spec: {template: {metadata: {annotations: {" annotations "}}, spec: " \
			    "{containers: [{image: a}]}}}\n"
#define WITH_CONTAINERS(list) KSVC_HEAD ANNOTATED "spec: {template: {spec: {containers: " list "}}}\n"

static const struct invalid_case invalid_cases[] = {
	{ "priority a word", META_WITH(", knative.aliyun.com/ai-gateway-inference-priority: high") "spec:\n" TEMPLATE,
	  "metadata.annotations[knative.aliyun.com/ai-gateway-inference-priority]: must be an integer, got \"high\"" },
	{ "priority a fraction", META_WITH(", knative.aliyun.com/ai-gateway-inference-priority: \"1.5\"") "spec:\n" TEMPLATE,
	  "metadata.annotations[knative.aliyun.com/ai-gateway-inference-priority]: must be an integer, got \"1.5\"" },
	{ "priority empty", META_WITH(", knative.aliyun.com/ai-gateway-inference-priority: \"\"") "spec:\n" TEMPLATE,
	  "metadata.annotations[knative.aliyun.com/ai-gateway-inference-priority]: must be an integer" },
	{ "priority past int32", META_WITH(", knative.aliyun.com/ai-gateway-inference-priority: \"2147483648\"") "spec:\n" TEMPLATE,
	  "metadata.annotations[knative.aliyun.com/ai-gateway-inference-priority]: must be an integer" },
	{ "name with a dot", KSVC_HEAD "metadata: {name: q.w, annotations: {knative.aliyun.com/ai-gateway: inference}}\n",
	  "metadata.name: must be a lowercase RFC 1123 label" },
	{ "no spec", KSVC_HEAD ANNOTATED, "spec: required" },
	{ "no template", KSVC_HEAD ANNOTATED "spec: {}\n", "spec.template: required" },
	{ "no containers", KSVC_HEAD ANNOTATED "spec: {template: {spec: {}}}\n", "spec.template.spec.containers: required" },
	{ "empty containers", WITH_CONTAINERS("[]"), "spec.template.spec.containers: must have at least one container" },
	{ "two ports", WITH_CONTAINERS("[{ports: [{containerPort: 1}, {containerPort: 2}]}]"),
	  "spec.template.spec.containers[0].ports: must have at most 1 items" },
	{ "two containers with ports", WITH_CONTAINERS("[{ports: [{containerPort: 1}]}, {ports: [{containerPort: 2}]}]"),
	  "spec.template.spec.containers[1].ports: only one container may declare a port" },
	{ "queue-proxy's port", WITH_CONTAINERS("[{ports: [{containerPort: 8012}]}]"),
	  "spec.template.spec.containers[0].ports[0].containerPort: 8012 is reserved for Knative's queue-proxy" },
	{ "port 0", WITH_CONTAINERS("[{ports: [{containerPort: 0}]}]"),
	  "spec.template.spec.containers[0].ports[0].containerPort: must be 1..65535" },
	{ "port name", WITH_CONTAINERS("[{ports: [{containerPort: 80, name: grpc}]}]"),
	  "spec.template.spec.containers[0].ports[0].name: must be http1 or h2c" },
	{ "concurrency", KSVC_HEAD ANNOTATED "spec: {template: {spec: {containerConcurrency: -1, containers: [{}]}}}\n",
	  "spec.template.spec.containerConcurrency: must be 0..1000" },
	{ "revision name", KSVC_HEAD ANNOTATED "spec: {template: {metadata: {name: other-1}, spec: {containers: [{}]}}}\n",
	  "spec.template.metadata.name: must start with the Service's name and a dash" },
	{ "revision name without dash", KSVC_HEAD ANNOTATED "spec: {template: {metadata: {name: qwen1}, spec: {containers: [{}]}}}\n",
	  "spec.template.metadata.name: must start with the Service's name and a dash" },
	{ "min-scale a word", WITH_SCALE("autoscaling.knative.dev/min-scale: one"),
	  "spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: must be a non-negative integer, got \"one\"" },
	{ "old maxScale negative", WITH_SCALE("autoscaling.knative.dev/maxScale: \"-1\""),
	  "spec.template.metadata.annotations[autoscaling.knative.dev/maxScale]: must be a non-negative integer" },
	{ "min above max", WITH_SCALE("autoscaling.knative.dev/min-scale: \"4\", autoscaling.knative.dev/max-scale: \"3\""),
	  "spec.template.metadata.annotations[autoscaling.knative.dev/min-scale]: 4 is more than max-scale 3" },
	{ "target zero", WITH_SCALE("autoscaling.knative.dev/target: \"0\""),
	  "spec.template.metadata.annotations[autoscaling.knative.dev/target]: must be a positive number, got \"0\"" },
	{ "target a word", WITH_SCALE("autoscaling.knative.dev/target: lots"),
	  "spec.template.metadata.annotations[autoscaling.knative.dev/target]: must be a positive number" },
	{ "service metric empty",
	  KSVC_HEAD "metadata: {name: qwen, annotations: {knative.aliyun.com/ai-gateway: inference, "
		    "autoscaling.knative.dev/metric: \"\"}}\nspec:\n" TEMPLATE,
	  "metadata.annotations[autoscaling.knative.dev/metric]: must be a metric name" },
	{ "percents short of 100", WITH_TRAFFIC("[{revisionName: qwen-1, percent: 60}, {latestRevision: true, percent: 30}]"),
	  "spec.traffic: percents must add up to 100, not 90" },
	{ "percent above 100", WITH_TRAFFIC("[{latestRevision: true, percent: 101}]"),
	  "spec.traffic[0].percent: must be 0..100" },
	{ "latest with a revision", WITH_TRAFFIC("[{revisionName: qwen-1, latestRevision: true, percent: 100}]"),
	  "spec.traffic[0].latestRevision: must be false when revisionName is set" },
	{ "pinned without a revision", WITH_TRAFFIC("[{latestRevision: false, percent: 100}]"),
	  "spec.traffic[0].revisionName: required when latestRevision is false" },
	{ "latestRevision a string", WITH_TRAFFIC("[{latestRevision: \"yes\", percent: 100}]"),
	  "spec.traffic[0].latestRevision: must be true or false" },
	{ "duplicate tag", WITH_TRAFFIC("[{revisionName: qwen-1, percent: 50, tag: a}, {percent: 50, tag: a}]"),
	  "spec.traffic[1].tag: duplicate tag \"a\"" },
	{ "tag with capitals", WITH_TRAFFIC("[{percent: 100, tag: Canary}]"),
	  "spec.traffic[0].tag: must be a lowercase RFC 1123 label" },
	{ "traffic a map", WITH_TRAFFIC("{percent: 100}"), "spec.traffic: must be a list" },
	{ "status traffic percent", KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "status: {traffic: [{percent: 200}]}\n",
	  "status.traffic[0].percent: must be 0..100" },
	{ "status url a number", KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "status: {url: 5}\n",
	  "status.url: must be a string" },
	{ "unsupported version", "apiVersion: serving.knative.dev/v1beta1\nkind: Service\nmetadata: {name: q}\n",
	  "apiVersion: serving.knative.dev/v1beta1 is not a supported version of Service" },
};

static void test_invalid_fields(void **state)
{
	expect_invalid_cases(invalid_cases, sizeof(invalid_cases) / sizeof(invalid_cases[0]));
}

/* ---- what the store derives ---- */

static void test_seed_service_derives_pool_and_objective(void **state)
{
	struct ilb_store *store = ilb_store_new();
	const struct ilb_pool *pool;
	const struct ilb_objective *objective;
	struct ilb_endpoint *eps;
	struct ilb_object pod;
	char err[256];

	apply_yaml(store, seed_service, 1);
	assert_int_equal(count(store, ILB_KIND_KSERVICE), 1);
	assert_int_equal(count(store, ILB_KIND_POOL), 1);
	assert_int_equal(count(store, ILB_KIND_OBJECTIVE), 1);
	pool = get_pool(store, "qwen");
	assert_non_null(pool);
	assert_string_equal(pool->derived_from, "Service default/qwen");
	assert_int_equal(pool->selector.count, 1);
	assert_string_equal(ilb_labels_get(&pool->selector, "serving.knative.dev/service"), "qwen");
	assert_int_equal(pool->n_target_ports, 1);
	assert_int_equal(pool->target_ports[0], 8080);
	assert_int_equal(pool->queue_proxy_port, 8012);
	assert_string_equal(pool->app_protocol, "http");
	assert_int_equal(pool->failure_mode, ILB_FAIL_OPEN);
	assert_false(pool->has_vip);
	objective = get_objective(store, "qwen");
	assert_non_null(objective);
	assert_string_equal(objective->derived_from, "Service default/qwen");
	assert_true(objective->has_priority);
	assert_int_equal(objective->priority, 1);
	assert_string_equal(objective->pool_ref.name, "qwen");
	assert_string_equal(objective->pool_ref.kind, "InferencePool");
	assert_string_equal(objective->pool_ref.group, "inference.networking.k8s.io");

	/* a pod Knative made for the Service is a backend of the derived pool, as of any pool */
	assert_int_equal(decode_yaml_doc("apiVersion: v1\nkind: Pod\nmetadata:\n  name: qwen-00001-deployment-1\n"
					 "  labels: {serving.knative.dev/service: qwen, "
					 "serving.knative.dev/revision: qwen-00001}\n"
					 "spec: {containers: [{ports: [{containerPort: 8080}]}]}\n"
					 "status: {podIP: 198.19.1.2, conditions: [{type: Ready, status: \"True\"}]}\n",
					 0, &pod, err, sizeof(err)),
			 0);
	assert_int_equal(ilb_store_apply(store, &pod), 1);
	ilb_object_free(&pod);
	assert_int_equal(ilb_pool_endpoints(store, get_pool(store, "qwen"), &eps), 1);
	assert_int_equal(eps[0].port, 8080);
	free(eps);

	/* the same Service again changes nothing */
	apply_yaml(store, seed_service, 0);
	ilb_store_free(store);
}

static void test_missing_annotation_derives_nothing(void **state)
{
	struct ilb_store *store = ilb_store_new();
	uint64_t gen;

	apply_yaml(store, KSVC_HEAD "metadata: {name: hello}\nspec:\n" TEMPLATE, 1);
	assert_int_equal(count(store, ILB_KIND_POOL), 0);
	assert_int_equal(count(store, ILB_KIND_OBJECTIVE), 0);

	/* annotated later: the pool appears; the annotation removed: it goes */
	apply_yaml(store, KSVC_HEAD "metadata: {name: hello, annotations: {knative.aliyun.com/ai-gateway: inference}}\n"
				    "spec:\n" TEMPLATE,
		   1);
	assert_non_null(get_pool(store, "hello"));
	assert_non_null(get_objective(store, "hello"));
	gen = ilb_store_generation(store);
	apply_yaml(store, KSVC_HEAD "metadata: {name: hello}\nspec:\n" TEMPLATE, 1);
	assert_int_equal(count(store, ILB_KIND_POOL), 0);
	assert_int_equal(count(store, ILB_KIND_OBJECTIVE), 0);
	assert_true(ilb_store_generation(store) > gen);
	ilb_store_free(store);
}

static void test_revisions_get_their_own_pools(void **state)
{
	const char *split = KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "status:\n"
				    "  latestReadyRevisionName: qwen-00002\n"
				    "  traffic:\n"
				    "  - {revisionName: qwen-00001, percent: 70}\n"
				    "  - {revisionName: qwen-00002, latestRevision: true, percent: 30}\n";
	struct ilb_store *store = ilb_store_new();
	const struct ilb_pool *pool;

	/* first the Service alone: one pool for all its pods */
	apply_yaml(store, KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE, 1);
	assert_non_null(get_pool(store, "qwen"));

	/* then with its revisions known: a pool per revision, the Service's pool gone */
	apply_yaml(store, split, 1);
	assert_int_equal(count(store, ILB_KIND_POOL), 2);
	assert_int_equal(count(store, ILB_KIND_OBJECTIVE), 2);
	assert_null(get_pool(store, "qwen"));
	assert_null(get_objective(store, "qwen"));
	pool = get_pool(store, "qwen-00001");
	assert_non_null(pool);
	assert_int_equal(pool->selector.count, 1);
	assert_string_equal(ilb_labels_get(&pool->selector, "serving.knative.dev/revision"), "qwen-00001");
	assert_string_equal(pool->derived_from, "Service default/qwen");
	assert_non_null(get_pool(store, "qwen-00002"));
	assert_string_equal(get_objective(store, "qwen-00002")->pool_ref.name, "qwen-00002");

	/* the Service deleted: everything it stood for goes */
	assert_int_equal(ilb_store_delete(store, ILB_KIND_KSERVICE, "default", "qwen"), 1);
	assert_int_equal(count(store, ILB_KIND_POOL), 0);
	assert_int_equal(count(store, ILB_KIND_OBJECTIVE), 0);
	ilb_store_free(store);
}

static void test_written_objects_win(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_object written;
	char err[256];

	apply_yaml(store, seed_service, 1);
	/* a source's own pool of the same name replaces the derived one... */
	assert_int_equal(decode_yaml_doc("apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
					 "metadata: {name: qwen}\n"
					 "spec: {selector: {matchLabels: {app: qwen}}, targetPorts: [{number: 8000}]}\n",
					 0, &written, err, sizeof(err)),
			 0);
	assert_int_equal(ilb_store_apply(store, &written), 1);
	assert_string_equal(get_pool(store, "qwen")->derived_from, "");
	assert_int_equal(get_pool(store, "qwen")->target_ports[0], 8000);
	/* ...and stays when the Service changes */
	apply_yaml(store, KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE, 1);
	assert_string_equal(get_pool(store, "qwen")->derived_from, "");
	/* gone, it uncovers the derived one again */
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POOL, "default", "qwen"), 1);
	assert_string_equal(get_pool(store, "qwen")->derived_from, "Service default/qwen");
	assert_int_equal(get_pool(store, "qwen")->target_ports[0], 8080);
	/* a source cannot delete a derived object: it goes with its Service */
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POOL, "default", "qwen"), 0);
	assert_int_equal(ilb_store_delete(store, ILB_KIND_OBJECTIVE, "default", "qwen"), 0);
	assert_non_null(get_pool(store, "qwen"));
	assert_int_equal(ilb_store_delete_derived(store, ILB_KIND_POOL, "default", "qwen"), 1);
	assert_null(get_pool(store, "qwen"));
	/* a written object is no derived one */
	assert_int_equal(ilb_store_apply(store, &written), 1);
	assert_int_equal(ilb_store_delete_derived(store, ILB_KIND_POOL, "default", "qwen"), 0);
	ilb_object_free(&written);
	ilb_store_free(store);
}

static void test_copy_and_equality(void **state)
{
	struct ilb_object a, b, copy;

	decode_ok(KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "  traffic: [{revisionName: qwen-1, percent: 50}, "
				      "{percent: 50, tag: next}]\n",
		  &a);
	assert_int_equal(ilb_object_copy(&copy, &a), 0);
	assert_true(ilb_object_equal(&a, &copy));
	assert_ptr_not_equal(copy.kservice.traffic, a.kservice.traffic);
	decode_ok(KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "  traffic: [{revisionName: qwen-1, percent: 40}, "
				      "{percent: 60, tag: next}]\n",
		  &b);
	assert_false(ilb_object_equal(&a, &b));
	ilb_object_free(&a);
	ilb_object_free(&b);
	ilb_object_free(&copy);
}

/* ---- config-domain: the domain of the hosts, followed when it changes ---- */

#define CONFIG_DOMAIN "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-domain, namespace: knative-serving}\n"

static void decode_config_domain(const char *data, struct ilb_object *obj)
{
	char yaml[1024], err[256] = "";
	int ret;

	snprintf(yaml, sizeof(yaml), CONFIG_DOMAIN "%s", data);
	ret = decode_yaml_doc(yaml, 0, obj, err, sizeof(err));
	if (ret != 0)
		fail_msg("expected 0, got %d (%s)", ret, err);
	assert_int_equal(obj->kind, ILB_KIND_KN_DOMAIN);
}

static void labels_of(struct ilb_labels *labels, const char *k1, const char *v1, const char *k2, const char *v2)
{
	memset(labels, 0, sizeof(*labels));
	if (k1)
		assert_int_equal(ilb_labels_set(labels, k1, v1), 0);
	if (k2)
		assert_int_equal(ilb_labels_set(labels, k2, v2), 0);
}

static void test_config_domain_decodes(void **state)
{
	struct ilb_object obj, copy;
	struct ilb_labels none, app, both, local;
	char err[256];

	labels_of(&none, NULL, NULL, NULL, NULL);
	labels_of(&app, "app", "secret", "release", "qwen");
	labels_of(&both, "app", "secret", "tier", "gpu");
	labels_of(&local, "networking.knative.dev/visibility", "cluster-local", NULL, NULL);
	/* without a ConfigMap: Knative's example.com, cluster-local Services their cluster's */
	assert_string_equal(ilb_kn_domain_for(NULL, &none), "example.com");
	assert_string_equal(ilb_kn_domain_for(NULL, &local), "svc.cluster.local");

	decode_config_domain("data:\n"
			     "  _example: \"ignored: true\"\n"
			     "  example.org: \"\"\n"
			     "  models.internal: |\n"
			     "    selector:\n"
			     "      app: secret\n"
			     "  gpu.example.net: \"selector: {app: secret, tier: gpu}\"\n",
			     &obj);
	assert_int_equal(obj.kn_domain.n_rules, 3);
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &none), "example.org");
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &app), "models.internal");
	/* the most specific selector wins */
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &both), "gpu.example.net");
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &local), "svc.cluster.local");
	assert_int_equal(ilb_object_copy(&copy, &obj), 0);
	assert_true(ilb_object_equal(&obj, &copy));
	ilb_object_free(&copy);
	ilb_object_free(&obj);

	/* every domain has a selector: example.com stays the default, as in Knative */
	decode_config_domain("data: {models.internal: \"selector: {app: secret}\"}\n", &obj);
	assert_int_equal(obj.kn_domain.n_rules, 2);
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &none), "example.com");
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &app), "models.internal");
	ilb_object_free(&obj);
	/* two defaults: the smaller name, whatever the order */
	decode_config_domain("data: {b.example: \"\", a.example: \"\"}\n", &obj);
	assert_string_equal(ilb_kn_domain_for(&obj.kn_domain, &none), "a.example");
	ilb_object_free(&obj);

	/* other ConfigMaps are not read */
	assert_int_equal(decode_yaml_doc("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config-domain}\n", 0,
					 &obj, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(decode_yaml_doc(CONFIG_DOMAIN "data: {example.org: \"selector: [app]\"}\n", 0, &obj, err,
					 sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "data[example.org]"));
	assert_int_equal(decode_yaml_doc(CONFIG_DOMAIN "data: {Bad_Domain: \"\"}\n", 0, &obj, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "data[Bad_Domain]"));
	ilb_labels_free(&app);
	ilb_labels_free(&both);
	ilb_labels_free(&local);
}

/* The pool a Host reaches in a table built from the store now ("" for a 404). */
static void expect_host(const struct ilb_store *store, const char *host, const char *pool)
{
	struct ilb_route_table *t = ilb_route_build(store, NULL, NULL);
	struct ilb_route_result r;
	enum ilb_route_status st;

	assert_non_null(t);
	st = ilb_route_resolve(t, host, "/v1/completions", 8888, "m", NULL, 0, &r);
	if (!pool[0] && st != ILB_ROUTE_NO_HOST)
		fail_msg("%s: expected no route, got %d (pool %s)", host, st, r.pool >= 0 ? t->pools[r.pool].name : "-");
	if (pool[0] && (st != ILB_ROUTE_OK || strcmp(t->pools[r.pool].name, pool) != 0))
		fail_msg("%s: expected %s, got %d (pool %s)", host, pool, st, r.pool >= 0 ? t->pools[r.pool].name : "-");
	ilb_route_put(t);
}

static void apply_config_domain(struct ilb_store *store, const char *data)
{
	struct ilb_object obj;

	decode_config_domain(data, &obj);
	assert_int_equal(ilb_store_apply(store, &obj), 1);
	ilb_object_free(&obj);
}

static void test_hosts_follow_config_domain(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	apply_yaml(store, seed_service, 1);
	/* no config-domain: the seed's curl */
	expect_host(store, "qwen.default.example.com", "default/qwen");
	expect_host(store, "qwen.default.svc.cluster.local", "default/qwen");
	expect_host(store, "qwen.default.example.org", "");

	/* a default domain: every Service moves, with no change to the Service */
	apply_config_domain(store, "data: {example.org: \"\"}\n");
	expect_host(store, "qwen.default.example.org:8888", "default/qwen");
	expect_host(store, "qwen.default.example.com", "");
	expect_host(store, "qwen.default.svc.cluster.local", "default/qwen");

	/* a selector on the seed's label release: qwen */
	apply_config_domain(store, "data: {example.org: \"\", qwen.ai: \"selector: {release: qwen}\"}\n");
	expect_host(store, "qwen.default.qwen.ai", "default/qwen");
	expect_host(store, "qwen.default.example.org", "");

	/* the ConfigMap gone: example.com again */
	assert_int_equal(ilb_store_delete(store, ILB_KIND_KN_DOMAIN, "knative-serving", "config-domain"), 1);
	expect_host(store, "qwen.default.example.com", "default/qwen");
	expect_host(store, "qwen.default.qwen.ai", "");
	ilb_store_free(store);
}

static void test_tag_hosts(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	apply_yaml(store,
		   KSVC_HEAD ANNOTATED "spec:\n" TEMPLATE "  traffic:\n"
				       "  - {revisionName: qwen-v1, percent: 100}\n"
				       "  - {revisionName: qwen-v2, percent: 0, tag: canary}\n",
		   1);
	expect_host(store, "qwen.default.example.com", "default/qwen-v1");
	/* a tag at 0% still reaches its revision */
	expect_host(store, "canary-qwen.default.example.com", "default/qwen-v2");
	apply_config_domain(store, "data: {example.org: \"\"}\n");
	expect_host(store, "canary-qwen.default.example.org", "default/qwen-v2");
	expect_host(store, "canary-qwen.default.example.com", "");

	/* cluster-local: the cluster's domain only, whatever config-domain says */
	apply_yaml(store,
		   KSVC_HEAD "metadata: {name: qwen, labels: {networking.knative.dev/visibility: cluster-local}, "
			     "annotations: {knative.aliyun.com/ai-gateway: inference}}\n"
			     "spec:\n" TEMPLATE "  traffic:\n"
			     "  - {revisionName: qwen-v1, percent: 100}\n"
			     "  - {revisionName: qwen-v2, percent: 0, tag: canary}\n",
		   1);
	expect_host(store, "qwen.default.svc.cluster.local", "default/qwen-v1");
	expect_host(store, "canary-qwen.default.svc.cluster.local", "default/qwen-v2");
	expect_host(store, "qwen.default.example.org", "");
	expect_host(store, "canary-qwen.default.example.org", "");
	ilb_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seed_service_decodes),
		cmocka_unit_test(test_missing_annotation_decodes_as_not_inference),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_port_scaling_and_old_annotation_names),
		cmocka_unit_test(test_traffic_split_and_tags),
		cmocka_unit_test(test_status_wins_over_spec),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_seed_service_derives_pool_and_objective),
		cmocka_unit_test(test_missing_annotation_derives_nothing),
		cmocka_unit_test(test_revisions_get_their_own_pools),
		cmocka_unit_test(test_written_objects_win),
		cmocka_unit_test(test_copy_and_equality),
		cmocka_unit_test(test_config_domain_decodes),
		cmocka_unit_test(test_hosts_follow_config_domain),
		cmocka_unit_test(test_tag_hosts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
