/* test_route.c - the priority a request resolves to: the objective it names, its Knative
 * Service's annotation, or 0 (as the Inference Extension treats a request with no objective). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "manifest_fixture.h"
#include "l7/route.h"

static const char pool_yaml[] = "apiVersion: inference.networking.k8s.io/v1\n"
				"kind: InferencePool\n"
				"metadata: {name: chat, namespace: default}\n"
				"spec:\n"
				"  selector: {matchLabels: {app: chat}}\n"
				"  targetPorts: [{number: 8000}]\n";

#define OBJECTIVE(name, priority)                                                                    \
	"apiVersion: inference.networking.x-k8s.io/v1alpha2\n"                                       \
	"kind: InferenceObjective\n"                                                                 \
	"metadata: {name: " name ", namespace: default}\n"                                           \
	"spec: {priority: " priority ", poolRef: {name: chat}}\n"

#define KSERVICE(name, priority)                                                                     \
	"apiVersion: serving.knative.dev/v1\n"                                                       \
	"kind: Service\n"                                                                            \
	"metadata:\n"                                                                                \
	"  name: " name "\n"                                                                         \
	"  namespace: default\n"                                                                     \
	"  annotations:\n"                                                                           \
	"    knative.aliyun.com/ai-gateway: inference\n"                                             \
	"    knative.aliyun.com/ai-gateway-inference-priority: \"" priority "\"\n"                   \
	"spec:\n"                                                                                    \
	"  template:\n"                                                                              \
	"    spec:\n"                                                                                \
	"      containers:\n"                                                                        \
	"      - image: vllm\n"                                                                      \
	"        ports: [{containerPort: 8000}]\n"

static void apply(struct ilb_store *store, const char *yaml)
{
	struct ilb_object obj;
	char err[256];

	if (decode_yaml_doc(yaml, 0, &obj, err, sizeof(err)))
		fail_msg("decode: %s", err);
	assert_int_equal(ilb_store_apply(store, &obj), 1);
	ilb_object_free(&obj);
}

/* The priority of a request to HOST (or by model name when NULL) naming OBJECTIVE (or none). */
static int32_t priority_of(const struct ilb_store *store, const char *host, const char *objective)
{
	struct ilb_route_table *t = ilb_route_build(store, NULL, NULL);
	struct ilb_route_result r;
	int32_t priority;

	assert_non_null(t);
	assert_int_equal(ilb_route_resolve(t, host, "/v1/completions", 8888, "m", objective, 0, &r), ILB_ROUTE_OK);
	priority = r.priority;
	ilb_route_put(t);
	return priority;
}

static void test_no_objective_is_priority_zero(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	apply(store, pool_yaml);
	assert_int_equal(priority_of(store, NULL, NULL), 0);
	/* a sheddable objective on the pool does not make the pool's other traffic sheddable */
	apply(store, OBJECTIVE("free", "-1"));
	apply(store, OBJECTIVE("paid", "2"));
	assert_int_equal(priority_of(store, NULL, NULL), 0);
	assert_int_equal(priority_of(store, NULL, "free"), -1);
	assert_int_equal(priority_of(store, NULL, "paid"), 2);
	/* an objective the table does not know leaves the default */
	assert_int_equal(priority_of(store, NULL, "nobody"), 0);
	ilb_store_free(store);
}

static void test_knative_annotation_gives_its_hosts_priority(void **state)
{
	struct ilb_store *store = ilb_store_new();

	assert_non_null(store);
	apply(store, KSERVICE("qwen", "1"));
	apply(store, KSERVICE("batch", "-1"));
	assert_int_equal(priority_of(store, "qwen.default.example.com", NULL), 1);
	assert_int_equal(priority_of(store, "batch.default.example.com", NULL), -1);
	ilb_store_free(store);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_objective_is_priority_zero),
		cmocka_unit_test(test_knative_annotation_gives_its_hosts_priority),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
