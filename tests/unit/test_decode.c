/* test_decode.c - YAML to JSON and JSON to objects: every kind from a realistic manifest,
 * every invalid field rejected with its path, other kinds ignored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>

#include "manifest_fixture.h"

static void assert_addr(const struct ilb_addr *addr, const char *expected)
{
	char buf[64];

	assert_string_equal(ilb_addr_format(addr, buf, sizeof(buf)), expected);
}

static void test_pool_v1(void **state)
{
	struct ilb_object obj;
	const struct ilb_pool *pool = &obj.pool;

	decode_fixture("pool-v1.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_POOL);
	assert_string_equal(pool->meta.ns, "default");
	assert_string_equal(pool->meta.name, "qwen-pool");
	assert_string_equal(pool->meta.uid, "5d3c1c36-6d3e-4a8e-9f0e-3d1b5a0e7c11");
	assert_string_equal(pool->meta.resource_version, "4711");
	assert_string_equal(ilb_labels_get(&pool->meta.labels, "release"), "qwen");
	assert_false(pool->legacy);
	assert_int_equal(pool->selector.count, 2);
	assert_string_equal(ilb_labels_get(&pool->selector, "release"), "qwen");
	assert_string_equal(ilb_labels_get(&pool->selector, "app"), "vllm");
	assert_int_equal(pool->n_target_ports, 2);
	assert_int_equal(pool->target_ports[0], 8000);
	assert_int_equal(pool->target_ports[1], 8001);
	assert_string_equal(pool->app_protocol, "http");
	assert_string_equal(pool->epp_name, "qwen-epp");
	assert_int_equal(pool->failure_mode, ILB_FAIL_OPEN);
	assert_true(pool->has_vip);
	assert_addr(&pool->vip, "10.96.0.50");
	assert_int_equal(pool->vip_port, 8000);
	assert_int_equal(pool->vip_proto, IPPROTO_UDP);
	ilb_object_free(&obj);
}

static void test_pool_legacy(void **state)
{
	struct ilb_object obj;
	const struct ilb_pool *pool = &obj.pool;

	decode_fixture("pool-legacy.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_POOL);
	assert_true(pool->legacy);
	assert_string_equal(pool->meta.ns, "llm");
	assert_int_equal(pool->selector.count, 1);
	assert_string_equal(ilb_labels_get(&pool->selector, "app"), "vllm-legacy");
	assert_int_equal(pool->n_target_ports, 1);
	assert_int_equal(pool->target_ports[0], 8080);
	assert_string_equal(pool->epp_name, "qwen-legacy-epp");
	assert_int_equal(pool->failure_mode, ILB_FAIL_CLOSE);
	assert_true(pool->has_vip);
	assert_int_equal(pool->vip.family, 6);
	assert_addr(&pool->vip, "fd00::50");
	assert_int_equal(pool->vip_port, 8080);
	assert_int_equal(pool->vip_proto, IPPROTO_TCP);
	ilb_object_free(&obj);
}

static void test_pool_defaults(void **state)
{
	const char *yaml = "apiVersion: inference.networking.k8s.io/v1\n"
			   "kind: InferencePool\n"
			   "metadata: {name: p}\n"
			   "spec:\n"
			   "  selector: {matchLabels: {app: x}}\n"
			   "  targetPorts: [{number: 8000}]\n";
	struct ilb_object obj;
	char err[256];

	assert_int_equal(decode_yaml_doc(yaml, 0, &obj, err, sizeof(err)), 0);
	assert_string_equal(obj.meta.ns, "default");
	assert_string_equal(obj.pool.app_protocol, "http");
	assert_int_equal(obj.pool.failure_mode, ILB_FAIL_CLOSE);
	assert_false(obj.pool.has_vip);
	assert_string_equal(obj.pool.epp_name, "");
	ilb_object_free(&obj);
}

static void test_objectives(void **state)
{
	struct ilb_object obj;

	decode_fixture("objective.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_OBJECTIVE);
	assert_string_equal(obj.objective.meta.name, "qwen-critical");
	assert_true(obj.objective.has_priority);
	assert_int_equal(obj.objective.priority, 10);
	assert_string_equal(obj.objective.pool_ref.group, "inference.networking.k8s.io");
	assert_string_equal(obj.objective.pool_ref.kind, "InferencePool");
	assert_string_equal(obj.objective.pool_ref.name, "qwen-pool");
	ilb_object_free(&obj);

	decode_fixture("objective.yaml", 1, &obj);
	assert_int_equal(obj.objective.priority, -1);
	assert_string_equal(obj.objective.meta.ns, "default");
	assert_string_equal(obj.objective.pool_ref.kind, "InferencePool");
	ilb_object_free(&obj);

	decode_fixture("objective.yaml", 2, &obj);
	assert_false(obj.objective.has_priority);
	assert_int_equal(obj.objective.priority, 0);
	ilb_object_free(&obj);
}

static void test_model_rewrite(void **state)
{
	struct ilb_object obj;
	const struct ilb_model_rewrite *rw = &obj.rewrite;

	decode_fixture("rewrite.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_MODEL_REWRITE);
	assert_string_equal(rw->pool_ref.name, "qwen-pool");
	/* two matches of the first rule become two rules, then the catch-all */
	assert_int_equal(rw->n_rules, 3);
	assert_string_equal(rw->rules[0].match_model, "qwen");
	assert_string_equal(rw->rules[1].match_model, "qwen-chat");
	assert_string_equal(rw->rules[2].match_model, "");
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rw->rules[i].n_targets, 2);
		assert_string_equal(rw->rules[i].targets[0].name, "/models/Qwen1.5-4B-Chat/");
		assert_int_equal(rw->rules[i].targets[0].weight, 90);
		assert_string_equal(rw->rules[i].targets[1].name, "qwen-lora-v2");
		assert_int_equal(rw->rules[i].targets[1].weight, 10);
	}
	assert_int_equal(rw->rules[2].n_targets, 1);
	assert_int_equal(rw->rules[2].targets[0].weight, 1);
	ilb_object_free(&obj);
}

static void test_inference_model(void **state)
{
	struct ilb_object obj;

	decode_fixture("model-legacy.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_INFERENCE_MODEL);
	assert_string_equal(obj.model.model_name, "qwen-chat");
	assert_int_equal(obj.model.criticality, ILB_CRIT_SHEDDABLE);
	assert_string_equal(obj.model.pool_ref.group, "inference.networking.x-k8s.io");
	assert_string_equal(obj.model.pool_ref.name, "qwen-pool");
	assert_int_equal(obj.model.n_targets, 2);
	assert_string_equal(obj.model.targets[1].name, "qwen-lora-b");
	assert_int_equal(obj.model.targets[1].weight, 50);
	ilb_object_free(&obj);
}

static void test_gateway(void **state)
{
	struct ilb_object obj;
	const struct ilb_gateway *gw = &obj.gateway;

	decode_fixture("gateway.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_GATEWAY);
	assert_string_equal(gw->meta.ns, "knative-serving");
	assert_string_equal(gw->class_name, "ack-gateway");
	assert_int_equal(gw->n_listeners, 2);
	assert_string_equal(gw->listeners[0].name, "default");
	assert_int_equal(gw->listeners[0].port, 80);
	assert_string_equal(gw->listeners[0].protocol, "HTTP");
	assert_string_equal(gw->listeners[1].name, "llm-gw");
	assert_int_equal(gw->listeners[1].port, 8888);
	/* the Hostname address is skipped */
	assert_int_equal(gw->n_addresses, 1);
	assert_addr(&gw->addresses[0], "47.1.2.198");
	ilb_object_free(&obj);
}

static void test_httproute(void **state)
{
	struct ilb_object obj;
	const struct ilb_httproute *route = &obj.route;
	const struct ilb_backend_ref *b;

	decode_fixture("httproute.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_HTTPROUTE);
	assert_int_equal(route->n_parents, 1);
	assert_string_equal(route->parents[0].ns, "knative-serving");
	assert_string_equal(route->parents[0].name, "knative-gateway");
	assert_string_equal(route->parents[0].section, "llm-gw");
	assert_int_equal(route->parents[0].port, 8888);
	assert_int_equal(route->n_hostnames, 1);
	assert_string_equal(route->hostnames[0], "qwen.default.example.com");
	assert_int_equal(route->n_rules, 2);
	assert_int_equal(route->rules[0].n_matches, 2);
	assert_int_equal(route->rules[0].matches[0].path_type, ILB_PATH_PREFIX);
	assert_string_equal(route->rules[0].matches[0].path, "/v1/");
	assert_string_equal(route->rules[0].matches[0].method, "POST");
	assert_int_equal(route->rules[0].matches[1].path_type, ILB_PATH_EXACT);
	assert_string_equal(route->rules[0].matches[1].method, "");
	b = &route->rules[0].backends[0];
	assert_string_equal(b->group, "inference.networking.k8s.io");
	assert_string_equal(b->kind, "InferencePool");
	assert_string_equal(b->ns, "default");
	assert_int_equal(b->port, 8000);
	assert_int_equal(b->weight, 3);
	assert_int_equal(route->rules[1].n_matches, 0);
	b = &route->rules[1].backends[0];
	assert_string_equal(b->kind, "Service");
	assert_string_equal(b->ns, "other");
	assert_int_equal(b->port, 0);
	assert_int_equal(b->weight, 1);
	ilb_object_free(&obj);
}

static void test_pods(void **state)
{
	struct ilb_object obj;
	const struct ilb_pod *pod = &obj.pod;

	decode_fixture("pods.yaml", 0, &obj);
	assert_int_equal(obj.kind, ILB_KIND_POD);
	assert_string_equal(pod->meta.name, "qwen-00001-deployment-7d9f-abcde");
	assert_string_equal(ilb_labels_get(&pod->meta.annotations, "autoscaling.knative.dev/target"), "2");
	assert_true(pod->ready);
	assert_false(pod->terminating);
	assert_string_equal(pod->node_name, "gpu-node-1");
	assert_int_equal(pod->n_ips, 2);
	assert_addr(&pod->ips[0], "10.0.1.5");
	assert_addr(&pod->ips[1], "fd00::105");
	assert_int_equal(pod->n_ports, 2);
	assert_string_equal(pod->ports[0].name, "http");
	assert_int_equal(pod->ports[0].port, 8000);
	assert_int_equal(pod->ports[1].port, 8012);
	ilb_object_free(&obj);

	decode_fixture("pods.yaml", 1, &obj);
	assert_false(pod->ready);
	assert_true(pod->terminating);
	assert_int_equal(pod->n_ips, 1);
	ilb_object_free(&obj);

	decode_fixture("pods.yaml", 2, &obj);
	assert_false(pod->ready);
	assert_int_equal(pod->n_ips, 0);
	assert_string_equal(pod->meta.ns, "default");
	ilb_object_free(&obj);
}

static void test_other_kinds_ignored(void **state)
{
	struct ilb_object obj;
	char err[256];
	char *text = fixture_read("seed-other-kinds.yaml", NULL);

	assert_non_null(text);
	for (int i = 0; i < 2; i++)
		assert_int_equal(decode_yaml_doc(text, i, &obj, err, sizeof(err)), -ENOENT);
	/* the Knative Service is read (test_knative.c) */
	assert_int_equal(decode_yaml_doc(text, 2, &obj, err, sizeof(err)), 0);
	assert_int_equal(obj.kind, ILB_KIND_KSERVICE);
	ilb_object_free(&obj);
	free(text);
	assert_int_equal(decode_yaml_doc("apiVersion: v1\nkind: Service\nmetadata: {name: s}\n", 0, &obj, err,
					 sizeof(err)),
			 -ENOENT);
	assert_int_equal(decode_yaml_doc("apiVersion: example.com/v1\nkind: InferencePool\nmetadata: {name: s}\n",
					 0, &obj, err, sizeof(err)),
			 -ENOENT);
}

static void test_unknown_fields_ignored(void **state)
{
	const char *yaml = "apiVersion: v1\nkind: Pod\n"
			   "metadata: {name: p, generateName: p-, finalizers: [x], ownerReferences: [{kind: RS}]}\n"
			   "spec: {nodeName: n, futureField: {a: [1, 2]}}\n"
			   "status: {podIP: 10.1.1.1, hostIP: 192.168.0.1, qosClass: Burstable}\n"
			   "extra: 5\n";
	struct ilb_object obj;
	char err[256];

	assert_int_equal(decode_yaml_doc(yaml, 0, &obj, err, sizeof(err)), 0);
	assert_int_equal(obj.pod.n_ips, 1);
	ilb_object_free(&obj);
}

/* ---- invalid fields: each names its path ---- */

#define POOL_HEAD "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\nmetadata: {name: p}\n"
#define POOL_OK_SPEC "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 8000}]}\n"
#define LEGACY_HEAD "apiVersion: inference.networking.x-k8s.io/v1alpha2\n"
#define POD_HEAD "apiVersion: v1\nkind: Pod\n"
#define GW_HEAD "apiVersion: gateway.networking.k8s.io/v1\n"

static const struct invalid_case invalid_cases[] = {
	{ "port 0", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 0}]}",
	  "spec.targetPorts[0].number: must be 1..65535" },
	{ "port as a string", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: \"80\"}]}",
	  "spec.targetPorts[0].number: must be an integer" },
	{ "port not whole", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80.5}]}",
	  "spec.targetPorts[0].number: must be an integer" },
	{ "duplicate port",
	  POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80}, {number: 80}]}",
	  "spec.targetPorts[1].number: duplicate port 80" },
	{ "nine ports",
	  POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 1}, {number: 2}, {number: 3}, "
		    "{number: 4}, {number: 5}, {number: 6}, {number: 7}, {number: 8}, {number: 9}]}",
	  "spec.targetPorts: must have at most 8 items" },
	{ "no ports", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: []}",
	  "spec.targetPorts: must have at least one port" },
	{ "port item not an object", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [8000]}",
	  "spec.targetPorts[0]: must be an object" },
	{ "no selector", POOL_HEAD "spec: {targetPorts: [{number: 80}]}", "spec.selector: required" },
	{ "no spec", POOL_HEAD, "spec: required" },
	{ "empty matchLabels", POOL_HEAD "spec: {selector: {matchLabels: {}}, targetPorts: [{number: 80}]}",
	  "spec.selector.matchLabels: must not be empty" },
	{ "label value not a string", POOL_HEAD "spec: {selector: {matchLabels: {app: 1}}, targetPorts: [{number: 80}]}",
	  "spec.selector.matchLabels[app]: must be a string" },
	{ "bad appProtocol", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80}], "
				       "appProtocol: grpc}",
	  "spec.appProtocol: must be one of http, kubernetes.io/h2c" },
	{ "bad failureMode", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80}], "
				       "endpointPickerRef: {name: e, port: {number: 9002}, failureMode: Maybe}}",
	  "spec.endpointPickerRef.failureMode: must be one of FailClose, FailOpen" },
	{ "picker without port", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80}], "
					   "endpointPickerRef: {name: e}}",
	  "spec.endpointPickerRef.port: required when kind is Service" },
	{ "picker without name", POOL_HEAD "spec: {selector: {matchLabels: {app: x}}, targetPorts: [{number: 80}], "
					   "endpointPickerRef: {port: {number: 9002}}}",
	  "spec.endpointPickerRef.name: required" },
	{ "bad vip",
	  "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	  "metadata: {name: p, annotations: {inferlb.io/vip: \"10.0.0.1\"}}\n" POOL_OK_SPEC,
	  "metadata.annotations[inferlb.io/vip]: must be IP:PORT" },
	{ "bare IPv6 vip",
	  "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	  "metadata: {name: p, annotations: {inferlb.io/vip: \"fd00::1:80\"}}\n" POOL_OK_SPEC,
	  "metadata.annotations[inferlb.io/vip]: must be IP:PORT" },
	{ "vip port 0",
	  "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	  "metadata: {name: p, annotations: {inferlb.io/vip: \"10.0.0.1:0\"}}\n" POOL_OK_SPEC,
	  "metadata.annotations[inferlb.io/vip]: must be IP:PORT" },
	{ "vip protocol SCTP",
	  "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	  "metadata: {name: p, annotations: {inferlb.io/vip: \"10.0.0.1:80\", inferlb.io/vip-protocol: SCTP}}\n"
		  POOL_OK_SPEC,
	  "metadata.annotations[inferlb.io/vip-protocol]: must be TCP or UDP" },
	{ "annotation value a number",
	  "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	  "metadata: {name: p, annotations: {priority: 1}}\n" POOL_OK_SPEC,
	  "metadata.annotations[priority]: must be a string" },
	{ "legacy port out of range", LEGACY_HEAD "kind: InferencePool\nmetadata: {name: p}\n"
						  "spec: {selector: {app: x}, targetPortNumber: 70000}",
	  "spec.targetPortNumber: must be 1..65535" },
	{ "legacy selector a list", LEGACY_HEAD "kind: InferencePool\nmetadata: {name: p}\n"
						"spec: {selector: [app], targetPortNumber: 80}",
	  "spec.selector: must be an object" },
	{ "no name", POD_HEAD "metadata: {namespace: default}", "metadata.name: required" },
	{ "no metadata", POD_HEAD "spec: {}", "metadata: required" },
	{ "name with capitals", POD_HEAD "metadata: {name: Qwen}", "metadata.name: must be a lowercase" },
	{ "name a number", POD_HEAD "metadata: {name: 123}", "metadata.name: must be a string" },
	{ "bad namespace", POD_HEAD "metadata: {name: p, namespace: a.b}", "metadata.namespace: must be a lowercase" },
	{ "labels a list", POD_HEAD "metadata: {name: p, labels: [a]}", "metadata.labels: must be an object" },
	{ "bad pod IP", POD_HEAD "metadata: {name: p}\nstatus: {podIP: 10.0.0.300}",
	  "status.podIP: not an IP address" },
	{ "bad pod IPs entry", POD_HEAD "metadata: {name: p}\nstatus: {podIPs: [{ip: 10.0.0.1}, {ip: nope}]}",
	  "status.podIPs[1].ip: not an IP address" },
	{ "bad containerPort", POD_HEAD "metadata: {name: p}\nspec: {containers: [{name: c, ports: [{containerPort: 0}]}]}",
	  "spec.containers[0].ports[0].containerPort: must be 1..65535" },
	{ "condition status a bool", POD_HEAD "metadata: {name: p}\nstatus: {conditions: [{type: Ready, status: true}]}",
	  "status.conditions[0].status: must be a string" },
	{ "priority not whole", LEGACY_HEAD "kind: InferenceObjective\nmetadata: {name: o}\n"
					    "spec: {priority: 1.5, poolRef: {name: p}}",
	  "spec.priority: must be an integer" },
	{ "objective without poolRef", LEGACY_HEAD "kind: InferenceObjective\nmetadata: {name: o}\nspec: {priority: 1}",
	  "spec.poolRef: required" },
	{ "objective poolRef without name", LEGACY_HEAD "kind: InferenceObjective\nmetadata: {name: o}\n"
							"spec: {poolRef: {kind: InferencePool}}",
	  "spec.poolRef.name: required" },
	{ "rewrite match type", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
					    "spec: {poolRef: {name: p}, rules: [{matches: [{model: {type: Prefix, value: a}}], "
					    "targets: [{modelRewrite: b}]}]}",
	  "spec.rules[0].matches[0].model.type: must be one of Exact" },
	{ "rewrite empty match value", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
						   "spec: {poolRef: {name: p}, rules: [{matches: [{model: {value: \"\"}}], "
						   "targets: [{modelRewrite: b}]}]}",
	  "spec.rules[0].matches[0].model.value: must not be empty" },
	{ "rewrite weight 0", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
					  "spec: {poolRef: {name: p}, rules: [{targets: [{modelRewrite: b, weight: 0}]}]}",
	  "spec.rules[0].targets[0].weight: must be 1..1000000" },
	{ "rewrite weights on some targets", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
							 "spec: {poolRef: {name: p}, rules: [{targets: [{modelRewrite: a, "
							 "weight: 5}, {modelRewrite: b}]}]}",
	  "spec.rules[0].targets[1].weight: must be set on every target or on none" },
	{ "rewrite without targets", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
						 "spec: {poolRef: {name: p}, rules: [{matches: []}]}",
	  "spec.rules[0].targets: required" },
	{ "rewrite without rules", LEGACY_HEAD "kind: InferenceModelRewrite\nmetadata: {name: r}\n"
					       "spec: {poolRef: {name: p}}",
	  "spec.rules: required" },
	{ "model criticality", LEGACY_HEAD "kind: InferenceModel\nmetadata: {name: m}\n"
					   "spec: {modelName: a, criticality: High, poolRef: {name: p}}",
	  "spec.criticality: must be one of Standard, Critical, Sheddable" },
	{ "model without modelName", LEGACY_HEAD "kind: InferenceModel\nmetadata: {name: m}\nspec: {poolRef: {name: p}}",
	  "spec.modelName: required" },
	{ "model target without name", LEGACY_HEAD "kind: InferenceModel\nmetadata: {name: m}\n"
						   "spec: {modelName: a, poolRef: {name: p}, targetModels: [{weight: 1}]}",
	  "spec.targetModels[0].name: required" },
	{ "listener port 0", GW_HEAD "kind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: "
				     "[{name: a, port: 80, protocol: HTTP}, {name: b, port: 0, protocol: HTTP}]}",
	  "spec.listeners[1].port: must be 1..65535" },
	{ "listener without protocol", GW_HEAD "kind: Gateway\nmetadata: {name: g}\n"
					       "spec: {gatewayClassName: c, listeners: [{name: a, port: 80}]}",
	  "spec.listeners[0].protocol: required" },
	{ "gateway without class", GW_HEAD "kind: Gateway\nmetadata: {name: g}\n"
					   "spec: {listeners: [{name: a, port: 80, protocol: HTTP}]}",
	  "spec.gatewayClassName: required" },
	{ "gateway address", GW_HEAD "kind: Gateway\nmetadata: {name: g}\nspec: {gatewayClassName: c, listeners: "
				     "[{name: a, port: 80, protocol: HTTP}], addresses: [{type: IPAddress, value: x}]}",
	  "spec.addresses[0].value: not an IP address" },
	{ "route path type", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\n"
				     "spec: {rules: [{matches: [{path: {type: Regexy, value: /}}]}]}",
	  "spec.rules[0].matches[0].path.type: must be one of PathPrefix, Exact, RegularExpression" },
	{ "route path without slash", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\n"
					      "spec: {rules: [{matches: [{path: {value: v1}}]}]}",
	  "spec.rules[0].matches[0].path.value: must start with /" },
	{ "route backend weight", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\n"
					  "spec: {rules: [{backendRefs: [{name: b, weight: -1}]}]}",
	  "spec.rules[0].backendRefs[0].weight: must be 0..1000000" },
	{ "route backend port", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\n"
					"spec: {rules: [{backendRefs: [{name: b, port: 65536}]}]}",
	  "spec.rules[0].backendRefs[0].port: must be 1..65535" },
	{ "route parentRefs a map", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\nspec: {parentRefs: {name: g}}",
	  "spec.parentRefs: must be a list" },
	{ "route hostname a number", GW_HEAD "kind: HTTPRoute\nmetadata: {name: r}\nspec: {hostnames: [5]}",
	  "spec.hostnames[0]: must be a string" },
	{ "unsupported version", "apiVersion: inference.networking.k8s.io/v1alpha1\nkind: InferencePool\n"
				 "metadata: {name: p}",
	  "apiVersion: inference.networking.k8s.io/v1alpha1 is not a supported version of InferencePool" },
	{ "no kind", "apiVersion: v1\nmetadata: {name: p}", "kind: required" },
	{ "kind a list", "apiVersion: v1\nkind: [Pod]\nmetadata: {name: p}", "kind: must be a string" },
	{ "not a mapping", "- a\n- b\n", "object: must be a mapping" },
};

static void test_invalid_fields(void **state)
{
	expect_invalid_cases(invalid_cases, sizeof(invalid_cases) / sizeof(invalid_cases[0]));
}

/* ---- YAML ---- */

static void test_yaml_scalars(void **state)
{
	const char *yaml = "int: 123\nneg: -7\nhex: 0x1f\nfloat: 1.5\nstr: \"123\"\nsingle: 'true'\n"
			   "t: true\nf: False\nn: null\ntilde: ~\nempty:\nyes_is_text: yes\nver: 1.10.3\n"
			   "lit: |\n  a\n  b\ntagged: !!str 42\nnum_tag: !!int \"42\"\n";
	char err[128];
	cJSON *docs = ilb_yaml_to_json(yaml, strlen(yaml), err, sizeof(err));
	cJSON *doc;

	assert_non_null(docs);
	doc = cJSON_GetArrayItem(docs, 0);
	assert_true(cJSON_IsNumber(cJSON_GetObjectItem(doc, "int")));
	assert_int_equal(cJSON_GetObjectItem(doc, "int")->valueint, 123);
	assert_int_equal(cJSON_GetObjectItem(doc, "neg")->valueint, -7);
	assert_int_equal(cJSON_GetObjectItem(doc, "hex")->valueint, 31);
	assert_true(cJSON_GetObjectItem(doc, "float")->valuedouble == 1.5);
	assert_string_equal(cJSON_GetObjectItem(doc, "str")->valuestring, "123");
	assert_string_equal(cJSON_GetObjectItem(doc, "single")->valuestring, "true");
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(doc, "t")));
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(doc, "f")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(doc, "n")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(doc, "tilde")));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(doc, "empty")));
	assert_string_equal(cJSON_GetObjectItem(doc, "yes_is_text")->valuestring, "yes");
	assert_string_equal(cJSON_GetObjectItem(doc, "ver")->valuestring, "1.10.3");
	assert_string_equal(cJSON_GetObjectItem(doc, "lit")->valuestring, "a\nb\n");
	assert_string_equal(cJSON_GetObjectItem(doc, "tagged")->valuestring, "42");
	assert_int_equal(cJSON_GetObjectItem(doc, "num_tag")->valueint, 42);
	cJSON_Delete(docs);
}

static void test_yaml_documents_and_aliases(void **state)
{
	const char *yaml = "---\n---\na: &base {x: 1, y: 2}\nb:\n  <<: *base\n  y: 3\nc: [*base]\n---\n~\n---\nz: 1\n";
	char err[128];
	int *lines = NULL;
	cJSON *docs = ilb_yaml_to_json_lines(yaml, strlen(yaml), &lines, err, sizeof(err));
	cJSON *doc, *b;

	assert_non_null(docs);
	/* the empty and null documents are skipped */
	assert_int_equal(cJSON_GetArraySize(docs), 2);
	assert_int_equal(lines[0], 2);
	assert_int_equal(lines[1], 10);
	doc = cJSON_GetArrayItem(docs, 0);
	b = cJSON_GetObjectItem(doc, "b");
	assert_int_equal(cJSON_GetObjectItem(b, "x")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(b, "y")->valueint, 3);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(doc, "c")), 1);
	free(lines);
	cJSON_Delete(docs);
}

static void test_yaml_errors(void **state)
{
	static const struct {
		const char *yaml;
		const char *expected;
	} cases[] = {
		{ "a: 1\nb: [1, 2\nc: 3\n", "line " },
		{ "a: 1\na: 2\n", "line 2: duplicate key \"a\"" },
		{ "a: *nope\n", "line 1: unknown anchor *nope" },
		{ "a: &a [*a]\n", "line 1: unknown anchor *a" },
		{ "? [a]\n: 1\n", "line 1: a mapping key must be a scalar" },
		{ "a: !!int abc\n", "line 1: \"abc\" is not a valid !!int" },
		{ "a: &a [1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\n"
		  "c: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n"
		  "e: [*d, *d, *d, *d, *d, *d, *d, *d]\n",
		  "line 4: document expands to too many nodes" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[256] = "";
		cJSON *docs = ilb_yaml_to_json(cases[i].yaml, strlen(cases[i].yaml), err, sizeof(err));

		if (docs)
			fail_msg("case %zu: expected an error \"%s\", got a result", i, cases[i].expected);
		if (strncmp(err, cases[i].expected, strlen(cases[i].expected)) != 0)
			fail_msg("case %zu: expected \"%s...\", got \"%s\"", i, cases[i].expected, err);
	}
}

static void test_yaml_deep_nesting_rejected(void **state)
{
	char yaml[512];
	char err[128];
	size_t n = 0;

	for (int i = 0; i < 100; i++)
		yaml[n++] = '[';
	for (int i = 0; i < 100; i++)
		yaml[n++] = ']';
	yaml[n] = '\0';
	assert_null(ilb_yaml_to_json(yaml, n, err, sizeof(err)));
	assert_non_null(strstr(err, "nesting deeper than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_v1),
		cmocka_unit_test(test_pool_legacy),
		cmocka_unit_test(test_pool_defaults),
		cmocka_unit_test(test_objectives),
		cmocka_unit_test(test_model_rewrite),
		cmocka_unit_test(test_inference_model),
		cmocka_unit_test(test_gateway),
		cmocka_unit_test(test_httproute),
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_other_kinds_ignored),
		cmocka_unit_test(test_unknown_fields_ignored),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_yaml_scalars),
		cmocka_unit_test(test_yaml_documents_and_aliases),
		cmocka_unit_test(test_yaml_errors),
		cmocka_unit_test(test_yaml_deep_nesting_rejected),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
