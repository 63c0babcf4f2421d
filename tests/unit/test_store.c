/* test_store.c - the store (apply, delete, generation, equality, order, deep copies),
 * selector matching and a pool's endpoints. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "manifest_fixture.h"

/* A pod built field by field, as a source other than YAML would. */
static void make_pod(struct ilb_object *obj, const char *ns, const char *name, const char *ip, bool ready)
{
	memset(obj, 0, sizeof(*obj));
	obj->kind = ILB_KIND_POD;
	snprintf(obj->pod.meta.ns, sizeof(obj->pod.meta.ns), "%s", ns);
	snprintf(obj->pod.meta.name, sizeof(obj->pod.meta.name), "%s", name);
	assert_int_equal(ilb_labels_set(&obj->pod.meta.labels, "app", "vllm"), 0);
	if (ip) {
		assert_int_equal(ilb_addr_parse(ip, &obj->pod.ips[0]), 0);
		obj->pod.n_ips = 1;
	}
	obj->pod.ready = ready;
}

static void make_pool(struct ilb_object *obj, const char *ns, const char *name, int n_ports)
{
	memset(obj, 0, sizeof(*obj));
	obj->kind = ILB_KIND_POOL;
	snprintf(obj->pool.meta.ns, sizeof(obj->pool.meta.ns), "%s", ns);
	snprintf(obj->pool.meta.name, sizeof(obj->pool.meta.name), "%s", name);
	assert_int_equal(ilb_labels_set(&obj->pool.selector, "app", "vllm"), 0);
	for (int i = 0; i < n_ports; i++)
		obj->pool.target_ports[obj->pool.n_target_ports++] = 8000 + i;
}

static void apply_and_free(struct ilb_store *store, struct ilb_object *obj, int expected)
{
	assert_int_equal(ilb_store_apply(store, obj), expected);
	ilb_object_free(obj);
}

static void test_apply_get_delete_generation(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_object pod;
	const struct ilb_object *got;

	assert_non_null(store);
	assert_int_equal(ilb_store_generation(store), 0);
	make_pod(&pod, "default", "a", "10.0.0.1", true);
	assert_int_equal(ilb_store_apply(store, &pod), 1);
	assert_int_equal(ilb_store_generation(store), 1);
	/* the same object again changes nothing */
	assert_int_equal(ilb_store_apply(store, &pod), 0);
	assert_int_equal(ilb_store_generation(store), 1);
	/* a new resourceVersion alone is kept but is no change */
	snprintf(pod.meta.resource_version, sizeof(pod.meta.resource_version), "99");
	assert_int_equal(ilb_store_apply(store, &pod), 0);
	got = ilb_store_get(store, ILB_KIND_POD, "default", "a");
	assert_non_null(got);
	assert_string_equal(got->meta.resource_version, "99");
	/* a real change */
	pod.pod.ready = false;
	assert_int_equal(ilb_store_apply(store, &pod), 1);
	assert_int_equal(ilb_store_generation(store), 2);
	got = ilb_store_get(store, ILB_KIND_POD, "default", "a");
	assert_false(got->pod.ready);
	/* a label change is a change */
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "app", "sglang"), 0);
	assert_int_equal(ilb_store_apply(store, &pod), 1);
	ilb_object_free(&pod);

	assert_null(ilb_store_get(store, ILB_KIND_POD, "default", "b"));
	assert_null(ilb_store_get(store, ILB_KIND_POOL, "default", "a"));
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POD, "default", "b"), 0);
	assert_int_equal(ilb_store_generation(store), 3);
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POD, "default", "a"), 1);
	assert_int_equal(ilb_store_generation(store), 4);
	assert_null(ilb_store_get(store, ILB_KIND_POD, "default", "a"));
	ilb_store_free(store);
}

static void test_store_keeps_deep_copies(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_object obj;
	const struct ilb_object *got;

	decode_fixture("rewrite.yaml", 0, &obj);
	assert_int_equal(ilb_store_apply(store, &obj), 1);
	/* the caller's object is its own: changing or freeing it leaves the store alone */
	snprintf(obj.rewrite.rules[0].targets[0].name, ILB_MODEL_NAME_MAX, "changed");
	assert_int_equal(ilb_labels_set(&obj.meta.labels, "x", "y"), 0);
	got = ilb_store_get(store, ILB_KIND_MODEL_REWRITE, "default", "qwen-canary");
	assert_non_null(got);
	assert_string_equal(got->rewrite.rules[0].targets[0].name, "/models/Qwen1.5-4B-Chat/");
	assert_int_equal(got->meta.labels.count, 0);
	assert_int_equal(ilb_store_apply(store, &obj), 1);
	ilb_object_free(&obj);
	got = ilb_store_get(store, ILB_KIND_MODEL_REWRITE, "default", "qwen-canary");
	assert_string_equal(got->rewrite.rules[0].targets[0].name, "changed");
	ilb_store_free(store);
}

/* Every fixture kind: decoded twice, equal; copied, equal; the copy survives the original. */
static void test_equality_and_copy_of_every_kind(void **state)
{
	static const char *const fixtures[] = { "pool-v1.yaml",	  "pool-legacy.yaml", "objective.yaml",
						"rewrite.yaml",	  "model-legacy.yaml", "gateway.yaml",
						"httproute.yaml", "pods.yaml" };

	for (size_t i = 0; i < sizeof(fixtures) / sizeof(fixtures[0]); i++) {
		struct ilb_object a, b, copy;

		decode_fixture(fixtures[i], 0, &a);
		decode_fixture(fixtures[i], 0, &b);
		assert_true(ilb_object_equal(&a, &b));
		assert_int_equal(ilb_object_copy(&copy, &a), 0);
		ilb_object_free(&a);
		assert_true(ilb_object_equal(&copy, &b));
		/* one field off makes them differ */
		copy.meta.name[0] = 'z';
		assert_false(ilb_object_equal(&copy, &b));
		ilb_object_free(&copy);
		ilb_object_free(&b);
	}
}

static void test_equality_sees_nested_fields(void **state)
{
	struct ilb_object a, b;

	decode_fixture("httproute.yaml", 0, &a);
	decode_fixture("httproute.yaml", 0, &b);
	b.route.rules[0].backends[0].weight = 4;
	assert_false(ilb_object_equal(&a, &b));
	b.route.rules[0].backends[0].weight = 3;
	assert_true(ilb_object_equal(&a, &b));
	snprintf(b.route.rules[0].matches[1].path, sizeof(b.route.rules[0].matches[1].path), "/v2");
	assert_false(ilb_object_equal(&a, &b));
	ilb_object_free(&a);
	ilb_object_free(&b);

	decode_fixture("pool-v1.yaml", 0, &a);
	decode_fixture("pool-v1.yaml", 0, &b);
	b.pool.vip_port = 1;
	assert_false(ilb_object_equal(&a, &b));
	b.pool.vip_port = a.pool.vip_port;
	assert_int_equal(ilb_labels_set(&b.pool.selector, "app", "other"), 0);
	assert_false(ilb_object_equal(&a, &b));
	ilb_object_free(&a);
	ilb_object_free(&b);
}

static void test_list_is_sorted(void **state)
{
	struct ilb_store *store = ilb_store_new();
	static const char *const keys[][2] = { { "b", "x" }, { "a", "z" }, { "b", "a" }, { "a", "a" }, { "c", "m" } };
	static const char *const sorted[][2] = { { "a", "a" }, { "a", "z" }, { "b", "a" }, { "b", "x" }, { "c", "m" } };
	const struct ilb_object *const *list;
	struct ilb_object pod;

	for (int i = 0; i < 5; i++) {
		make_pod(&pod, keys[i][0], keys[i][1], "10.0.0.1", true);
		apply_and_free(store, &pod, 1);
	}
	assert_int_equal(ilb_store_list(store, ILB_KIND_POD, &list), 5);
	for (int i = 0; i < 5; i++) {
		assert_string_equal(list[i]->meta.ns, sorted[i][0]);
		assert_string_equal(list[i]->meta.name, sorted[i][1]);
	}
	assert_int_equal(ilb_store_list(store, ILB_KIND_POOL, &list), 0);
	assert_int_equal(ilb_store_delete(store, ILB_KIND_POD, "b", "a"), 1);
	assert_int_equal(ilb_store_list(store, ILB_KIND_POD, &list), 4);
	assert_string_equal(list[2]->meta.name, "x");
	ilb_store_free(store);
}

static void test_apply_rejects_nameless(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_object obj = { .kind = ILB_KIND_POD };

	assert_int_equal(ilb_store_apply(store, &obj), -EINVAL);
	obj.kind = ILB_KIND_NONE;
	snprintf(obj.meta.name, sizeof(obj.meta.name), "x");
	assert_int_equal(ilb_store_apply(store, &obj), -EINVAL);
	ilb_store_free(store);
}

static void test_addr_parse_format(void **state)
{
	struct ilb_addr addr;
	char buf[64];

	assert_int_equal(ilb_addr_parse("192.168.1.2", &addr), 0);
	assert_int_equal(addr.family, 4);
	assert_string_equal(ilb_addr_format(&addr, buf, sizeof(buf)), "192.168.1.2");
	assert_int_equal(ilb_addr_parse("FD00:0::1", &addr), 0);
	assert_int_equal(addr.family, 6);
	assert_string_equal(ilb_addr_format(&addr, buf, sizeof(buf)), "fd00::1");
	assert_int_equal(ilb_addr_parse("10.0.0", &addr), -EINVAL);
	assert_int_equal(addr.family, 0);
	assert_int_equal(ilb_addr_parse("", &addr), -EINVAL);
	assert_string_equal(ilb_addr_format(&addr, buf, sizeof(buf)), "-");
}

static void test_selector_matches(void **state)
{
	struct ilb_object pool, pod;

	make_pool(&pool, "default", "p", 1);
	assert_int_equal(ilb_labels_set(&pool.pool.selector, "tier", "gpu"), 0);
	make_pod(&pod, "default", "a", "10.0.0.1", true);
	/* one label of two is not enough */
	assert_false(ilb_selector_matches(&pool.pool, &pod.pod));
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "tier", "gpu"), 0);
	assert_true(ilb_selector_matches(&pool.pool, &pod.pod));
	/* extra labels on the pod do not matter */
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "extra", "1"), 0);
	assert_true(ilb_selector_matches(&pool.pool, &pod.pod));
	/* values must be equal */
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "tier", "cpu"), 0);
	assert_false(ilb_selector_matches(&pool.pool, &pod.pod));
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "tier", "gpu"), 0);
	/* never across namespaces */
	snprintf(pod.meta.ns, sizeof(pod.meta.ns), "other");
	assert_false(ilb_selector_matches(&pool.pool, &pod.pod));
	ilb_object_free(&pod);
	ilb_object_free(&pool);
}

static void test_pool_endpoints(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_endpoint *eps;
	struct ilb_object pool, pod;
	char buf[64];
	int n;

	make_pool(&pool, "default", "p", 2);
	make_pod(&pod, "default", "ready-b", "10.0.0.2", true);
	assert_int_equal(ilb_labels_set(&pod.meta.labels, "inference.networking.k8s.io/engine-type", "sglang"), 0);
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "default", "ready-a", "fd00::1", true);
	assert_int_equal(ilb_addr_parse("10.0.0.9", &pod.pod.ips[1]), 0);
	pod.pod.n_ips = 2;
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "default", "not-ready", "10.0.0.3", false);
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "default", "terminating", "10.0.0.4", true);
	pod.pod.terminating = true;
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "default", "no-ip", NULL, true);
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "other", "elsewhere", "10.0.0.5", true);
	apply_and_free(store, &pod, 1);
	make_pod(&pod, "default", "unlabelled", "10.0.0.6", true);
	ilb_labels_free(&pod.meta.labels);
	apply_and_free(store, &pod, 1);

	n = ilb_pool_endpoints(store, &pool.pool, &eps);
	assert_int_equal(n, 4);
	/* pods in (namespace, name) order, each with every target port */
	assert_string_equal(eps[0].pod->meta.name, "ready-a");
	assert_string_equal(ilb_addr_format(&eps[0].addr, buf, sizeof(buf)), "fd00::1");
	assert_int_equal(eps[0].port, 8000);
	assert_string_equal(eps[0].engine, "vllm");
	assert_string_equal(eps[1].pod->meta.name, "ready-a");
	assert_int_equal(eps[1].port, 8001);
	assert_string_equal(eps[2].pod->meta.name, "ready-b");
	assert_string_equal(ilb_addr_format(&eps[2].addr, buf, sizeof(buf)), "10.0.0.2");
	assert_int_equal(eps[2].port, 8000);
	assert_string_equal(eps[2].engine, "sglang");
	assert_int_equal(eps[3].port, 8001);
	free(eps);

	/* a pool in another namespace sees only that namespace */
	ilb_object_free(&pool);
	make_pool(&pool, "other", "p", 1);
	n = ilb_pool_endpoints(store, &pool.pool, &eps);
	assert_int_equal(n, 1);
	assert_string_equal(eps[0].pod->meta.name, "elsewhere");
	free(eps);

	/* no matching pods: zero and no array */
	ilb_labels_free(&pool.pool.selector);
	assert_int_equal(ilb_labels_set(&pool.pool.selector, "app", "none"), 0);
	assert_int_equal(ilb_pool_endpoints(store, &pool.pool, &eps), 0);
	assert_null(eps);
	ilb_object_free(&pool);
	ilb_store_free(store);
}

static void test_endpoints_from_manifests(void **state)
{
	struct ilb_store *store = ilb_store_new();
	struct ilb_object obj;
	struct ilb_endpoint *eps;
	const struct ilb_object *pool;

	for (int i = 0; i < 3; i++) {
		decode_fixture("pods.yaml", i, &obj);
		apply_and_free(store, &obj, 1);
	}
	decode_fixture("pool-v1.yaml", 0, &obj);
	apply_and_free(store, &obj, 1);
	pool = ilb_store_get(store, ILB_KIND_POOL, "default", "qwen-pool");
	/* only the ready pod with an IP; the terminating and pending ones are out */
	assert_int_equal(ilb_pool_endpoints(store, &pool->pool, &eps), 2);
	assert_string_equal(eps[0].pod->meta.name, "qwen-00001-deployment-7d9f-abcde");
	assert_int_equal(eps[0].port, 8000);
	assert_int_equal(eps[1].port, 8001);
	assert_string_equal(eps[0].engine, "sglang");
	free(eps);
	ilb_store_free(store);
}

static void test_labels(void **state)
{
	struct ilb_labels a = { 0 }, b = { 0 };

	assert_int_equal(ilb_labels_set(&a, "x", "1"), 0);
	assert_int_equal(ilb_labels_set(&a, "y", "2"), 0);
	assert_int_equal(ilb_labels_set(&b, "y", "2"), 0);
	assert_int_equal(ilb_labels_set(&b, "x", "1"), 0);
	/* order does not matter */
	assert_true(ilb_labels_equal(&a, &b));
	assert_int_equal(ilb_labels_set(&b, "x", "3"), 0);
	assert_int_equal(b.count, 2);
	assert_string_equal(ilb_labels_get(&b, "x"), "3");
	assert_false(ilb_labels_equal(&a, &b));
	assert_null(ilb_labels_get(&b, "z"));
	ilb_labels_free(&b);
	assert_int_equal(ilb_labels_copy(&b, &a), 0);
	assert_true(ilb_labels_equal(&a, &b));
	ilb_labels_free(&a);
	ilb_labels_free(&b);
	assert_int_equal(a.count, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_apply_get_delete_generation),
		cmocka_unit_test(test_store_keeps_deep_copies),
		cmocka_unit_test(test_equality_and_copy_of_every_kind),
		cmocka_unit_test(test_equality_sees_nested_fields),
		cmocka_unit_test(test_list_is_sorted),
		cmocka_unit_test(test_apply_rejects_nameless),
		cmocka_unit_test(test_addr_parse_format),
		cmocka_unit_test(test_selector_matches),
		cmocka_unit_test(test_pool_endpoints),
		cmocka_unit_test(test_endpoints_from_manifests),
		cmocka_unit_test(test_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
