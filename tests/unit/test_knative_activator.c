/* test_knative_activator.c - Knative's activator: ServerlessServices and the public Endpoints
 * as Knative writes them, every bad field by path, and the route table sending a revision to
 * the activator's addresses only while its SKS is in Proxy mode. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "manifest_fixture.h"
#include "l7/route.h"
#include "store/knative.h"

/* As Knative's revision reconciler makes it for qwen-00001, and its SKS reconciler fills the
 * status in (kubectl get sks -o yaml, trimmed of managedFields). */
#define SKS_HEAD                                                                                       \
	"apiVersion: networking.internal.knative.dev/v1alpha1\n"                                       \
	"kind: ServerlessService\n"                                                                    \
	"metadata:\n"                                                                                  \
	"  name: qwen-00001\n"                                                                         \
	"  namespace: default\n"                                                                       \
	"  labels:\n"                                                                                  \
	"    serving.knative.dev/revision: qwen-00001\n"                                               \
	"    serving.knative.dev/service: qwen\n"                                                      \
	"  ownerReferences:\n"                                                                         \
	"  - {apiVersion: serving.knative.dev/v1, kind: Revision, name: qwen-00001, controller: true}\n"

static const char sks_proxy[] = SKS_HEAD
	"spec:\n"
	"  mode: Proxy\n"
	"  numActivators: 2\n"
	"  objectRef: {apiVersion: apps/v1, kind: Deployment, name: qwen-00001-deployment}\n"
	"  protocolType: http1\n"
	"status:\n"
	"  conditions:\n"
	"  - {type: ActivatorEndpointsPopulated, status: \"True\", reason: ActivatorEndpointsPopulated}\n"
	"  - {type: EndpointsPopulated, status: \"False\", reason: NoHealthyBackends}\n"
	"  - {type: Ready, status: \"False\", reason: NoHealthyBackends}\n"
	"  observedGeneration: 1\n"
	"  privateServiceName: qwen-00001-private\n"
	"  serviceName: qwen-00001\n";

#define EPS_HEAD                                                                                       \
	"apiVersion: v1\n"                                                                             \
	"kind: Endpoints\n"                                                                            \
	"metadata:\n"                                                                                  \
	"  name: qwen-00001\n"                                                                         \
	"  namespace: default\n"                                                                       \
	"  labels:\n"                                                                                  \
	"    networking.internal.knative.dev/serverlessservice: qwen-00001\n"                          \
	"    networking.internal.knative.dev/serviceType: Public\n"                                    \
	"    serving.knative.dev/revision: qwen-00001\n"

/* Two activator pods (the subset Knative's SKS controller copies, its ports filtered to the
 * HTTP/1.1 one) and a third one not ready. */
static const char eps_activator[] = EPS_HEAD
	"subsets:\n"
	"- addresses:\n"
	"  - ip: 10.244.0.12\n"
	"    nodeName: node-a\n"
	"    targetRef: {kind: Pod, name: activator-7d9f-abcde, namespace: knative-serving}\n"
	"  - ip: 10.244.1.7\n"
	"    targetRef: {kind: Pod, name: activator-7d9f-fghij, namespace: knative-serving}\n"
	"  notReadyAddresses:\n"
	"  - ip: 10.244.2.3\n"
	"  ports:\n"
	"  - {name: http, port: 8012, protocol: TCP}\n";

static int decode(const char *yaml, struct ilb_object *obj, char *err, size_t len)
{
	return decode_yaml_doc(yaml, 0, obj, err, len);
}

static void decode_ok(const char *yaml, struct ilb_object *obj)
{
	char err[256] = "";
	int ret = decode(yaml, obj, err, sizeof(err));

	if (ret != 0)
		fail_msg("expected 0, got %d (%s)", ret, err);
}

static void apply(struct ilb_store *store, const char *yaml, int expected)
{
	struct ilb_object obj;

	decode_ok(yaml, &obj);
	assert_int_equal(ilb_store_apply(store, &obj), expected);
	ilb_object_free(&obj);
}

static void assert_addr(const struct ilb_addr *addr, const char *text)
{
	char buf[64];

	assert_string_equal(ilb_addr_format(addr, buf, sizeof(buf)), text);
}

/* ---- decoding ---- */

static void test_sks_decodes(void **state)
{
	struct ilb_object obj;

	decode_ok(sks_proxy, &obj);
	assert_int_equal(obj.kind, ILB_KIND_KN_SKS);
	assert_string_equal(obj.meta.ns, "default");
	assert_string_equal(obj.meta.name, "qwen-00001");
	assert_int_equal(obj.kn_sks.mode, ILB_KN_SKS_PROXY);
	assert_false(obj.kn_sks.h2c);
	assert_string_equal(obj.kn_sks.service_name, "qwen-00001");
	assert_string_equal(ilb_kind_name(obj.kind), "ServerlessService");
	ilb_object_free(&obj);

	/* new: no status yet, Serve mode, h2c */
	decode_ok(SKS_HEAD "spec: {mode: Serve, protocolType: h2c, objectRef: {kind: Deployment, name: d}}\n", &obj);
	assert_int_equal(obj.kn_sks.mode, ILB_KN_SKS_SERVE);
	assert_true(obj.kn_sks.h2c);
	assert_string_equal(obj.kn_sks.service_name, "");
	ilb_object_free(&obj);
}

static void test_endpoints_decode(void **state)
{
	struct ilb_object obj;

	decode_ok(eps_activator, &obj);
	assert_int_equal(obj.kind, ILB_KIND_KN_ENDPOINTS);
	assert_string_equal(ilb_kind_name(obj.kind), "Endpoints");
	assert_int_equal(obj.kn_endpoints.n_ready, 2);
	assert_addr(&obj.kn_endpoints.ready[0].addr, "10.244.0.12");
	assert_int_equal(obj.kn_endpoints.ready[0].port, 8012);
	assert_addr(&obj.kn_endpoints.ready[1].addr, "10.244.1.7");
	assert_int_equal(obj.kn_endpoints.n_not_ready, 1);
	ilb_object_free(&obj);

	/* the port named http wins over 8012; an unnamed 8012 does; an h2c subset's "http2"
	 * (8013) gives no address the L7 lane can use; no subsets at all (scaled away) */
	decode_ok(EPS_HEAD "subsets:\n"
			   "- addresses: [{ip: 10.0.0.1}]\n"
			   "  ports: [{name: metrics, port: 8012}, {name: http, port: 9000}]\n"
			   "- addresses: [{ip: \"fd00::2\"}]\n"
			   "  ports: [{port: 8012}]\n"
			   "- addresses: [{ip: 10.0.0.3}]\n"
			   "  ports: [{name: http2, port: 8013}]\n"
			   "- addresses: [{ip: 10.0.0.4}]\n"
			   "  ports: [{name: http, port: 8012, protocol: UDP}]\n",
		  &obj);
	assert_int_equal(obj.kn_endpoints.n_ready, 2);
	assert_addr(&obj.kn_endpoints.ready[0].addr, "10.0.0.1");
	assert_int_equal(obj.kn_endpoints.ready[0].port, 9000);
	assert_addr(&obj.kn_endpoints.ready[1].addr, "fd00::2");
	assert_int_equal(obj.kn_endpoints.ready[1].port, 8012);
	ilb_object_free(&obj);
	decode_ok(EPS_HEAD, &obj);
	assert_int_equal(obj.kn_endpoints.n_ready, 0);
	ilb_object_free(&obj);
}

static void test_other_endpoints_are_not_read(void **state)
{
	struct ilb_object obj;
	char err[256];

	/* a Service's own Endpoints, and Knative's private ones */
	assert_int_equal(decode("apiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes}\n"
				"subsets: [{addresses: [{ip: 10.0.0.1}], ports: [{name: https, port: 6443}]}]\n",
				&obj, err, sizeof(err)),
			 -ENOENT);
	assert_int_equal(decode("apiVersion: v1\nkind: Endpoints\nmetadata: {name: qwen-00001-private, labels: "
				"{networking.internal.knative.dev/serviceType: Private}}\n",
				&obj, err, sizeof(err)),
			 -ENOENT);
}

static const struct invalid_case invalid_cases[] = {
	{ "sks without a mode", SKS_HEAD "spec: {objectRef: {kind: Deployment, name: d}}\n", "spec.mode: required" },
	{ "sks mode unknown", SKS_HEAD "spec: {mode: Burst}\n", "spec.mode: must be one of Serve, Proxy" },
	{ "sks protocol unknown", SKS_HEAD "spec: {mode: Proxy, protocolType: grpc}\n",
	  "spec.protocolType: must be one of http1, h2c" },
	{ "sks without a spec", SKS_HEAD, "spec: required" },
	{ "sks serviceName a number", SKS_HEAD "spec: {mode: Proxy}\nstatus: {serviceName: 7}\n",
	  "status.serviceName: must be a string" },
	{ "endpoints address not an IP",
	  EPS_HEAD "subsets: [{addresses: [{ip: 10.0.0.1}, {ip: 10.0.0}], ports: [{name: http, port: 8012}]}]\n",
	  "subsets[0].addresses[1].ip: not an IP address: \"10.0.0\"" },
	{ "endpoints address without an IP", EPS_HEAD "subsets: [{addresses: [{hostname: a}]}]\n",
	  "subsets[0].addresses[0].ip: required" },
	{ "endpoints not-ready address not an IP", EPS_HEAD "subsets: [{notReadyAddresses: [{ip: x}]}]\n",
	  "subsets[0].notReadyAddresses[0].ip: not an IP address: \"x\"" },
	{ "endpoints port out of range", EPS_HEAD "subsets: [{ports: [{name: http, port: 70000}]}]\n",
	  "subsets[0].ports[0].port: must be 1..65535" },
	{ "endpoints port without a number", EPS_HEAD "subsets: [{ports: [{name: http}]}]\n",
	  "subsets[0].ports[0].port: required" },
	{ "endpoints subsets a map", EPS_HEAD "subsets: {addresses: []}\n", "subsets: must be a list" },
};

static void test_invalid_fields(void **state)
{
	check_invalid_cases(invalid_cases, sizeof(invalid_cases) / sizeof(invalid_cases[0]));
}

static void test_copy_and_equality(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	apply(store, sks_proxy, 1);
	apply(store, sks_proxy, 0);
	apply(store, SKS_HEAD "spec: {mode: Serve}\nstatus: {serviceName: qwen-00001}\n", 1);
	apply(store, eps_activator, 1);
	apply(store, eps_activator, 0);
	apply(store, EPS_HEAD "subsets: [{addresses: [{ip: 10.244.0.12}], ports: [{name: http, port: 8012}]}]\n", 1);
	ilb_store_free(store);
}

/* ---- the activator of a revision ---- */

#define KSVC_QWEN                                                                                      \
	"apiVersion: serving.knative.dev/v1\nkind: Service\n"                                           \
	"metadata: {name: qwen, annotations: {knative.aliyun.com/ai-gateway: inference}}\n"             \
	"spec:\n"                                                                                       \
	"  template: {metadata: {name: qwen-00001}, spec: {containers: [{image: vllm}]}}\n"

static const struct ilb_rt_pool *route_pool(const struct ilb_route_table *t, const char *name)
{
	for (int i = 0; i < t->n_pools; i++)
		if (strcmp(t->pools[i].name, name) == 0)
			return &t->pools[i];
	fail_msg("no pool %s", name);
	return NULL;
}

/* The activator addresses the route table gives the pool: "ip:port ..." ("" for none). */
static void expect_activator(const struct ilb_store *store, const char *pool, const char *expected)
{
	struct ilb_route_table *t = ilb_route_build(store, NULL, NULL);
	const struct ilb_rt_pool *p;
	char got[256] = "", ip[64];
	size_t used = 0;

	assert_non_null(t);
	p = route_pool(t, pool);
	for (int i = 0; i < p->n_activator; i++) {
		assert_int_equal(p->activator[i].id, ILB_RT_ACTIVATOR_ID);
		assert_true(p->activator[i].ready);
		ilb_addr_format(&p->activator[i].addr, ip, sizeof(ip));
		used += snprintf(got + used, sizeof(got) - used, "%s%s:%u", i ? " " : "", ip, p->activator[i].port);
	}
	if (strcmp(got, expected) != 0)
		fail_msg("%s: expected \"%s\", got \"%s\"", pool, expected, got);
	ilb_route_put(t);
}

static void test_activator_of_a_revision(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_kn_activator act;

	assert_non_null(store);
	apply(store, KSVC_QWEN, 1);
	/* no SKS yet: the revision waits in the agent as before */
	assert_int_equal(ilb_kn_activator_get(store, "default", "qwen-00001", &act), 0);
	assert_false(act.has_sks);
	expect_activator(store, "default/qwen-00001", "");

	/* Proxy mode, its public Endpoints not there yet */
	apply(store, sks_proxy, 1);
	assert_int_equal(ilb_kn_activator_get(store, "default", "qwen-00001", &act), 0);
	assert_true(act.has_sks);
	assert_int_equal(act.mode, ILB_KN_SKS_PROXY);
	expect_activator(store, "default/qwen-00001", "");

	/* the activator's two ready addresses */
	apply(store, eps_activator, 1);
	assert_int_equal(ilb_kn_activator_get(store, "default", "qwen-00001", &act), 2);
	expect_activator(store, "default/qwen-00001", "10.244.0.12:8012 10.244.1.7:8012");

	/* Serve mode: Knative's public Endpoints are the pods now, which the pool has itself */
	apply(store, SKS_HEAD "spec: {mode: Serve}\nstatus: {serviceName: qwen-00001}\n", 1);
	assert_int_equal(ilb_kn_activator_get(store, "default", "qwen-00001", &act), 0);
	assert_int_equal(act.mode, ILB_KN_SKS_SERVE);
	expect_activator(store, "default/qwen-00001", "");

	/* Proxy again, the public Service named in status; then the Endpoints without addresses */
	apply(store, sks_proxy, 1);
	expect_activator(store, "default/qwen-00001", "10.244.0.12:8012 10.244.1.7:8012");
	apply(store, EPS_HEAD "subsets: [{notReadyAddresses: [{ip: 10.244.0.12}], ports: [{name: http, port: 8012}]}]\n",
	      1);
	expect_activator(store, "default/qwen-00001", "");
	apply(store, eps_activator, 1);
	assert_int_equal(ilb_store_delete(store, ILB_KIND_KN_ENDPOINTS, "default", "qwen-00001"), 1);
	expect_activator(store, "default/qwen-00001", "");

	/* an SKS without status.serviceName (not reconciled yet) names no public Service */
	apply(store, eps_activator, 1);
	apply(store, SKS_HEAD "spec: {mode: Proxy}\n", 1);
	expect_activator(store, "default/qwen-00001", "");
	ilb_store_free(store);
}

static void test_only_knative_pools_use_it(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	/* an InferencePool of the revision's name that a source wrote wins over the derived one,
	 * and is no Knative revision: its requests are never sent to the activator */
	apply(store,
	      "apiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n"
	      "metadata: {name: qwen-00001, namespace: default}\n"
	      "spec: {selector: {matchLabels: {app: qwen}}, targetPorts: [{number: 8000}], "
	      "endpointPickerRef: {name: epp, port: {number: 9002}}}\n",
	      1);
	apply(store, KSVC_QWEN, 1);
	apply(store, sks_proxy, 1);
	apply(store, eps_activator, 1);
	expect_activator(store, "default/qwen-00001", "");
	/* written pool gone: the derived one takes the activator */
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POOL, "default", "qwen-00001"), 1);
	expect_activator(store, "default/qwen-00001", "10.244.0.12:8012 10.244.1.7:8012");
	ilb_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sks_decodes),
		cmocka_unit_test(test_endpoints_decode),
		cmocka_unit_test(test_other_endpoints_are_not_read),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_copy_and_equality),
		cmocka_unit_test(test_activator_of_a_revision),
		cmocka_unit_test(test_only_knative_pools_use_it),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
