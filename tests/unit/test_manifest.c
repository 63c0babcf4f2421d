/* test_manifest.c - the manifests source on a temporary directory: initial load with
 * broken files, edits seen through inotify applying only the difference, last good state
 * of an object that turns invalid, removed files. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <unistd.h>

#include "manifest_fixture.h"

struct env {
	char dir[64];
	struct ilb_store *store;
	struct ilb_manifests *m;
};

static void write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* As editors save: a temporary file renamed over the old one. */
static void replace_file(const char *dir, const char *name, const char *text)
{
	char tmp[256], path[256], tmp_name[128];

	snprintf(tmp_name, sizeof(tmp_name), "%s.tmp~", name);
	write_file(dir, tmp_name, text);
	snprintf(tmp, sizeof(tmp), "%s/%s", dir, tmp_name);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(rename(tmp, path), 0);
}

static void copy_fixture(const char *dir, const char *name)
{
	char *text = fixture_read(name, NULL);

	assert_non_null(text);
	write_file(dir, name, text);
	free(text);
}

static void remove_file(const char *dir, const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

/* Waits for the inotify fd (events are queued by the time the writer's call returns) and
 * processes them; returns what ilb_manifests_process returned. */
static int wait_and_process(struct env *e)
{
	struct pollfd pfd = { .fd = ilb_manifests_fd(e->m), .events = POLLIN };

	assert_int_equal(poll(&pfd, 1, 2000), 1);
	return ilb_manifests_process(e->m);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));

	if (!e)
		return -1;
	snprintf(e->dir, sizeof(e->dir), "/tmp/ilb-manifests-XXXXXX");
	if (!mkdtemp(e->dir))
		return -1;
	e->store = ilb_store_new();
	*state = e;
	return e->store ? 0 : -1;
}

static int teardown(void **state)
{
	struct env *e = *state;

	ilb_manifests_close(e->m);
	ilb_store_free(e->store);
	nftw(e->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(e);
	return 0;
}

static int count(const struct env *e, enum ilb_kind kind)
{
	const struct ilb_object *const *list;

	return ilb_store_list(e->store, kind, &list);
}

#define OBJECTIVE(name, priority)                                                                            \
	"apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\nmetadata: {name: " name \
	"}\nspec: {priority: " priority ", poolRef: {name: qwen-pool}}\n"

static void test_load_directory_with_broken_files(void **state)
{
	struct env *e = *state;

	copy_fixture(e->dir, "pool-v1.yaml");
	copy_fixture(e->dir, "pods.yaml");
	copy_fixture(e->dir, "gateway.yaml");
	copy_fixture(e->dir, "seed-other-kinds.yaml");
	write_file(e->dir, "broken.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n");
	write_file(e->dir, "mixed.yml",
		   OBJECTIVE("good", "1") "---\n" OBJECTIVE("bad", "high") "---\n"
					  "apiVersion: v1\nkind: Pod\nmetadata: {labels: {a: b}}\n");
	/* neither a manifest name nor a visible file: not read */
	write_file(e->dir, "notes.txt", "not: [yaml");
	write_file(e->dir, ".hidden.yaml", "not: [yaml");

	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	/* seed-other-kinds.yaml's Knative Service adds a derived pool and objective, "qwen" */
	assert_int_equal(count(e, ILB_KIND_POOL), 2);
	assert_int_equal(count(e, ILB_KIND_POD), 3);
	assert_int_equal(count(e, ILB_KIND_GATEWAY), 1);
	assert_int_equal(count(e, ILB_KIND_OBJECTIVE), 2);
	assert_non_null(ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "good"));
	assert_non_null(ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen"));
	/* broken.yaml (syntax), mixed.yml's bad objective and its nameless pod */
	assert_int_equal(ilb_manifests_errors(e->m), 3);
	assert_non_null(strstr(ilb_manifests_last_error(e->m), "mixed.yml: line "));
	assert_non_null(strstr(ilb_manifests_last_error(e->m), "Pod: metadata.name: required"));
}

static void test_errors_name_file_and_object(void **state)
{
	struct env *e = *state;
	char expected[256];

	write_file(e->dir, "a.yaml", OBJECTIVE("bad", "high"));
	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	snprintf(expected, sizeof(expected),
		 "manifest %s/a.yaml: object InferenceObjective default/bad: spec.priority: must be an integer",
		 e->dir);
	assert_string_equal(ilb_manifests_last_error(e->m), expected);

	write_file(e->dir, "b.yaml", "a: 1\n b: 2\n");
	assert_int_equal(wait_and_process(e), 0);
	snprintf(expected, sizeof(expected), "manifest %s/b.yaml: line 2:", e->dir);
	assert_non_null(strstr(ilb_manifests_last_error(e->m), expected));
	assert_int_equal(ilb_manifests_errors(e->m), 2);
}

static void test_edit_applies_only_the_difference(void **state)
{
	struct env *e = *state;
	const struct ilb_object *pool_before, *kept_before, *changed;
	uint64_t generation;

	copy_fixture(e->dir, "pool-v1.yaml");
	write_file(e->dir, "objectives.yaml",
		   OBJECTIVE("kept", "1") "---\n" OBJECTIVE("changed", "2") "---\n" OBJECTIVE("dropped", "3"));
	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	assert_int_equal(count(e, ILB_KIND_OBJECTIVE), 3);
	pool_before = ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen-pool");
	kept_before = ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "kept");
	generation = ilb_store_generation(e->store);

	replace_file(e->dir, "objectives.yaml",
		     OBJECTIVE("kept", "1") "---\n" OBJECTIVE("changed", "20") "---\n" OBJECTIVE("added", "4"));
	/* changed, dropped and added: three; kept is untouched */
	assert_int_equal(wait_and_process(e), 3);
	assert_int_equal(ilb_store_generation(e->store), generation + 3);
	assert_int_equal(count(e, ILB_KIND_OBJECTIVE), 3);
	assert_null(ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "dropped"));
	assert_non_null(ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "added"));
	changed = ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "changed");
	assert_int_equal(changed->objective.priority, 20);
	/* unchanged objects are the very same entries */
	assert_ptr_equal(ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "kept"), kept_before);
	assert_ptr_equal(ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen-pool"), pool_before);

	/* saving the same content again changes nothing */
	generation = ilb_store_generation(e->store);
	write_file(e->dir, "objectives.yaml",
		   OBJECTIVE("kept", "1") "---\n" OBJECTIVE("changed", "20") "---\n" OBJECTIVE("added", "4"));
	assert_int_equal(wait_and_process(e), 0);
	assert_int_equal(ilb_store_generation(e->store), generation);
	assert_int_equal(ilb_manifests_errors(e->m), 0);
}

static void test_invalid_object_keeps_last_good_state(void **state)
{
	struct env *e = *state;
	const struct ilb_object *pool;
	char *text = fixture_read("pool-v1.yaml", NULL);
	char *port;

	assert_non_null(text);
	write_file(e->dir, "pool.yaml", text);
	write_file(e->dir, "other.yaml", OBJECTIVE("o", "1"));
	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	assert_non_null(ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen-pool"));

	/* port 8000 becomes 0: rejected, the pool keeps its ports */
	port = strstr(text, "number: 8000");
	assert_non_null(port);
	memcpy(port, "number:    0", 12);
	replace_file(e->dir, "pool.yaml", text);
	assert_int_equal(wait_and_process(e), 0);
	assert_int_equal(ilb_manifests_errors(e->m), 1);
	assert_non_null(strstr(ilb_manifests_last_error(e->m),
			       "pool.yaml: object InferencePool default/qwen-pool: spec.targetPorts[0].number: must be "
			       "1..65535"));
	pool = ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen-pool");
	assert_non_null(pool);
	assert_int_equal(pool->pool.target_ports[0], 8000);

	/* the same error on the next save is not reported again */
	write_file(e->dir, "pool.yaml", text);
	assert_int_equal(wait_and_process(e), 0);
	assert_int_equal(ilb_manifests_errors(e->m), 1);

	/* a broken file keeps its objects too */
	write_file(e->dir, "other.yaml", "apiVersion: [\n");
	assert_int_equal(wait_and_process(e), 0);
	assert_int_equal(ilb_manifests_errors(e->m), 2);
	assert_non_null(ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "o"));

	/* fixed: applied */
	memcpy(port, "number: 7000", 12);
	replace_file(e->dir, "pool.yaml", text);
	assert_int_equal(wait_and_process(e), 1);
	pool = ilb_store_get(e->store, ILB_KIND_POOL, "default", "qwen-pool");
	assert_int_equal(pool->pool.target_ports[0], 7000);
	free(text);
}

static void test_removed_file_removes_its_objects(void **state)
{
	struct env *e = *state;

	copy_fixture(e->dir, "pods.yaml");
	copy_fixture(e->dir, "pool-v1.yaml");
	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	assert_int_equal(count(e, ILB_KIND_POD), 3);

	remove_file(e->dir, "pods.yaml");
	assert_int_equal(wait_and_process(e), 3);
	assert_int_equal(count(e, ILB_KIND_POD), 0);
	assert_int_equal(count(e, ILB_KIND_POOL), 1);

	/* moved out of the directory's manifests (renamed away): gone too */
	{
		char from[256], to[256];

		snprintf(from, sizeof(from), "%s/pool-v1.yaml", e->dir);
		snprintf(to, sizeof(to), "%s/pool-v1.yaml.disabled", e->dir);
		assert_int_equal(rename(from, to), 0);
		assert_int_equal(wait_and_process(e), 1);
		assert_int_equal(count(e, ILB_KIND_POOL), 0);
		/* and back */
		assert_int_equal(rename(to, from), 0);
		assert_int_equal(wait_and_process(e), 1);
		assert_int_equal(count(e, ILB_KIND_POOL), 1);
	}
}

static void test_new_file_and_shared_object(void **state)
{
	struct env *e = *state;
	const struct ilb_object *obj;

	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	assert_int_equal(count(e, ILB_KIND_OBJECTIVE), 0);

	write_file(e->dir, "one.yaml", OBJECTIVE("shared", "1"));
	assert_int_equal(wait_and_process(e), 1);
	replace_file(e->dir, "two.yaml", OBJECTIVE("shared", "2"));
	assert_int_equal(wait_and_process(e), 1);
	obj = ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "shared");
	assert_int_equal(obj->objective.priority, 2);
	/* the other file still defines it: its version comes back */
	remove_file(e->dir, "two.yaml");
	assert_int_equal(wait_and_process(e), 1);
	obj = ilb_store_get(e->store, ILB_KIND_OBJECTIVE, "default", "shared");
	assert_non_null(obj);
	assert_int_equal(obj->objective.priority, 1);
	remove_file(e->dir, "one.yaml");
	assert_int_equal(wait_and_process(e), 1);
	assert_int_equal(count(e, ILB_KIND_OBJECTIVE), 0);
}

static void test_list_kind(void **state)
{
	struct env *e = *state;

	write_file(e->dir, "list.yaml",
		   "apiVersion: v1\nkind: List\nitems:\n"
		   "- {apiVersion: v1, kind: Pod, metadata: {name: a}, status: {podIP: 10.0.0.1}}\n"
		   "- {apiVersion: v1, kind: Pod, metadata: {name: b}, status: {podIP: 10.0.0.2}}\n");
	e->m = ilb_manifests_open(e->dir, e->store);
	assert_non_null(e->m);
	assert_int_equal(count(e, ILB_KIND_POD), 2);
}

static void test_open_missing_directory(void **state)
{
	struct env *e = *state;
	char missing[128];

	snprintf(missing, sizeof(missing), "%s/nope", e->dir);
	assert_null(ilb_manifests_open(missing, e->store));
	assert_int_equal(errno, ENOENT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_directory_with_broken_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_errors_name_file_and_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edit_applies_only_the_difference, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_object_keeps_last_good_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_file_removes_its_objects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_file_and_shared_object, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_kind, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_missing_directory, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
