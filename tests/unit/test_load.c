/* test_load.c - engine metric pages to struct ilb_pod_load, and the load score. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "inferlb.h"
#include "load/load.h"

#define MS 1000000ull

/* Shaped like vLLM's v1 /metrics: two engines (data parallel), histograms, info gauges, and
 * three lora_requests_info series of which the newest (largest value) is not the first. */
static const char vllm_page[] =
	"# HELP python_gc_objects_collected_total Objects collected during gc\n"
	"# TYPE python_gc_objects_collected_total counter\n"
	"python_gc_objects_collected_total{generation=\"0\"} 12345.0\n"
	"# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
	"# TYPE vllm:num_requests_running gauge\n"
	"vllm:num_requests_running{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 7.0\n"
	"vllm:num_requests_running{engine=\"1\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 5.0\n"
	"# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
	"# TYPE vllm:num_requests_waiting gauge\n"
	"vllm:num_requests_waiting{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 2.0\n"
	"vllm:num_requests_waiting{engine=\"1\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 1.0\n"
	"# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.\n"
	"# TYPE vllm:kv_cache_usage_perc gauge\n"
	"vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 0.41\n"
	"vllm:kv_cache_usage_perc{engine=\"1\",model_name=\"meta-llama/Llama-3.1-8B-Instruct\"} 0.57\n"
	"# HELP vllm:lora_requests_info Running stats on lora requests.\n"
	"# TYPE vllm:lora_requests_info gauge\n"
	"vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"sql-lora\","
	"waiting_lora_adapters=\"\"} 1.7123456780e+09\n"
	"vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"sql-lora, tweet-lora\","
	"waiting_lora_adapters=\"chat-lora\"} 1.7123456795e+09\n"
	"vllm:lora_requests_info{max_lora=\"4\",running_lora_adapters=\"\",waiting_lora_adapters=\"\"} "
	"1.7123456701e+09\n"
	"# HELP vllm:cache_config_info Information of the LLMEngine CacheConfig\n"
	"# TYPE vllm:cache_config_info gauge\n"
	"vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
	"gpu_memory_utilization=\"0.9\",num_cpu_blocks=\"0\",num_gpu_blocks=\"27910\"} 1.0\n"
	"# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.\n"
	"# TYPE vllm:time_to_first_token_seconds histogram\n"
	"vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"0.001\",model_name=\"m\"} 0.0\n"
	"vllm:time_to_first_token_seconds_bucket{engine=\"0\",le=\"+Inf\",model_name=\"m\"} 42.0\n"
	"vllm:time_to_first_token_seconds_count{engine=\"0\",model_name=\"m\"} 42.0\n"
	"vllm:time_to_first_token_seconds_sum{engine=\"0\",model_name=\"m\"} 3.14\n";

/* Older vLLM (v0): gpu_cache_usage_perc, one series per model_name. */
static const char vllm_v0_page[] =
	"# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage. 1 means 100 percent usage.\n"
	"# TYPE vllm:gpu_cache_usage_perc gauge\n"
	"vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.25\n"
	"vllm:gpu_cache_usage_perc{model_name=\"b\"} 0.75\n"
	"vllm:num_requests_waiting{model_name=\"a\"} 4.0\n"
	"vllm:num_requests_running{model_name=\"a\"} 3.0\n";

static const char sglang_page[] =
	"# HELP sglang:num_running_reqs The number of running requests.\n"
	"# TYPE sglang:num_running_reqs gauge\n"
	"sglang:num_running_reqs{model_name=\"qwen\"} 12.0\n"
	"# HELP sglang:num_queue_reqs The number of requests in the waiting queue.\n"
	"# TYPE sglang:num_queue_reqs gauge\n"
	"sglang:num_queue_reqs{model_name=\"qwen\"} 6.0\n"
	"# HELP sglang:token_usage The token usage.\n"
	"# TYPE sglang:token_usage gauge\n"
	"sglang:token_usage{model_name=\"qwen\"} 0.33\n"
	"sglang:gen_throughput{model_name=\"qwen\"} 812.5\n";

static const char trtllm_page[] =
	"# TYPE trtllm_num_requests_waiting gauge\n"
	"trtllm_num_requests_waiting{model=\"ensemble\",version=\"1\"} 1\n"
	"# TYPE trtllm_num_requests_running gauge\n"
	"trtllm_num_requests_running{model=\"ensemble\",version=\"1\"} 8\n"
	"# TYPE trtllm_kv_cache_utilization gauge\n"
	"trtllm_kv_cache_utilization{model=\"ensemble\",version=\"1\"} 0.9\n";

static int load_page(const char *page, enum ilb_engine engine, struct ilb_pod_load *out)
{
	char err[160] = "";
	int ret = ilb_load_from_metrics(page, strlen(page), engine, out, err, sizeof(err));

	if (ret)
		print_message("# %s\n", err);
	return ret;
}

static void test_engine_names(void **state)
{
	(void)state;
	assert_int_equal(ilb_engine_parse("vllm"), ILB_ENGINE_VLLM);
	assert_int_equal(ilb_engine_parse("sglang"), ILB_ENGINE_SGLANG);
	assert_int_equal(ilb_engine_parse("trtllm"), ILB_ENGINE_TRTLLM);
	assert_int_equal(ilb_engine_parse("something"), ILB_ENGINE_VLLM);
	assert_int_equal(ilb_engine_parse(NULL), ILB_ENGINE_VLLM);
	assert_string_equal(ilb_engine_name(ILB_ENGINE_SGLANG), "sglang");
	assert_string_equal(ilb_engine_name(ilb_engine_parse(ilb_engine_name(ILB_ENGINE_TRTLLM))), "trtllm");
}

static void test_vllm_page(void **state)
{
	struct ilb_pod_load load = { .scraped_ns = 77, .errors = 3 };

	(void)state;
	assert_int_equal(load_page(vllm_page, ILB_ENGINE_VLLM, &load), 0);
	/* queue and running sum over the engines; KV is the fuller one */
	assert_true(load.waiting == 3);
	assert_true(load.running == 12);
	assert_true(fabs(load.kv_usage - 0.57) < 1e-12);
	assert_int_equal(load.block_size, 16);
	assert_int_equal(load.num_gpu_blocks, 27910);
	/* untouched by a parse */
	assert_true(load.scraped_ns == 77);
	assert_true(load.errors == 3);
}

static void test_vllm_lora_newest_series(void **state)
{
	struct ilb_pod_load load = { 0 };

	(void)state;
	assert_int_equal(load_page(vllm_page, ILB_ENGINE_VLLM, &load), 0);
	assert_int_equal(load.max_lora, 4);
	assert_int_equal(load.n_running_lora, 2);
	assert_string_equal(load.running_lora[0], "sql-lora");
	assert_string_equal(load.running_lora[1], "tweet-lora");
	assert_int_equal(load.n_waiting_lora, 1);
	assert_string_equal(load.waiting_lora[0], "chat-lora");
}

static void test_lora_absent_and_limits(void **state)
{
	static char page[4096];
	struct ilb_pod_load load = { 0 };
	size_t n = 0;

	(void)state;
	assert_int_equal(load_page(vllm_v0_page, ILB_ENGINE_VLLM, &load), 0);
	assert_int_equal(load.max_lora, -1);
	assert_int_equal(load.n_running_lora, 0);
	assert_int_equal(load.block_size, 0);

	/* more names than kept, an empty name, and one too long to keep */
	n += (size_t)snprintf(page + n, sizeof(page) - n, "vllm:num_requests_waiting 0\nvllm:kv_cache_usage_perc 0\n"
							  "vllm:lora_requests_info{running_lora_adapters=\",");
	for (int i = 0; i < ILB_MAX_LORA_NAMES + 4; i++)
		n += (size_t)snprintf(page + n, sizeof(page) - n, "a%d,", i);
	n += (size_t)snprintf(page + n, sizeof(page) - n, "\",waiting_lora_adapters=\"%0100d,w\"} 5\n", 0);
	assert_int_equal(load_page(page, ILB_ENGINE_VLLM, &load), 0);
	assert_int_equal(load.n_running_lora, ILB_MAX_LORA_NAMES);
	assert_string_equal(load.running_lora[0], "a0");
	assert_string_equal(load.running_lora[ILB_MAX_LORA_NAMES - 1], "a15");
	assert_int_equal(load.n_waiting_lora, 1);
	assert_string_equal(load.waiting_lora[0], "w");
	assert_int_equal(load.max_lora, -1); /* no max_lora label */
}

static void test_vllm_v0_fallback(void **state)
{
	struct ilb_pod_load load = { 0 };
	const char *both = "vllm:num_requests_waiting 1\nvllm:gpu_cache_usage_perc 0.9\n"
			   "vllm:kv_cache_usage_perc 0.2\n";

	(void)state;
	assert_int_equal(load_page(vllm_v0_page, ILB_ENGINE_VLLM, &load), 0);
	assert_true(load.waiting == 4);
	assert_true(load.running == 3);
	assert_true(load.kv_usage == 0.75);
	/* the newer name wins when both are there */
	assert_int_equal(load_page(both, ILB_ENGINE_VLLM, &load), 0);
	assert_true(load.kv_usage == 0.2);
}

static void test_sglang_page(void **state)
{
	struct ilb_pod_load load = { 0 };

	(void)state;
	assert_int_equal(load_page(sglang_page, ILB_ENGINE_SGLANG, &load), 0);
	assert_true(load.waiting == 6);
	assert_true(load.running == 12);
	assert_true(load.kv_usage == 0.33);
	assert_int_equal(load.max_lora, -1);
	/* read as vLLM, the page holds none of vLLM's metrics */
	assert_int_equal(load_page(sglang_page, ILB_ENGINE_VLLM, &load), -EINVAL);
}

static void test_trtllm_page(void **state)
{
	struct ilb_pod_load load = { 0 };

	(void)state;
	assert_int_equal(load_page(trtllm_page, ILB_ENGINE_TRTLLM, &load), 0);
	assert_true(load.waiting == 1);
	assert_true(load.running == 8);
	assert_true(load.kv_usage == 0.9);
}

static void test_bad_pages_keep_values(void **state)
{
	struct ilb_pod_load load = { 0 };
	char err[160];
	const char *broken = "vllm:num_requests_waiting 1\nvllm:kv_cache_usage_perc{a=\"x} 0.5\n";
	const char *no_kv = "vllm:num_requests_waiting 1\n";
	const char *no_queue = "vllm:kv_cache_usage_perc 0.1\n";

	(void)state;
	assert_int_equal(load_page(vllm_page, ILB_ENGINE_VLLM, &load), 0);
	assert_int_equal(ilb_load_from_metrics(broken, strlen(broken), ILB_ENGINE_VLLM, &load, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "line 2"));
	assert_true(load.waiting == 3); /* the previous values stay */
	assert_int_equal(load.n_running_lora, 2);
	assert_int_equal(ilb_load_from_metrics(no_kv, strlen(no_kv), ILB_ENGINE_VLLM, &load, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "vllm:kv_cache_usage_perc"));
	assert_int_equal(
		ilb_load_from_metrics(no_queue, strlen(no_queue), ILB_ENGINE_VLLM, &load, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "vllm:num_requests_waiting"));
	assert_int_equal(ilb_load_from_metrics("", 0, ILB_ENGINE_VLLM, &load, NULL, 0), -EINVAL);
}

static void test_odd_values(void **state)
{
	struct ilb_pod_load load = { 0 };
	const char *page = "vllm:num_requests_waiting{e=\"0\"} NaN\nvllm:num_requests_waiting{e=\"1\"} -2\n"
			   "vllm:num_requests_waiting{e=\"2\"} 2\nvllm:kv_cache_usage_perc 1.7\n"
			   "vllm:num_requests_running +Inf\n";

	(void)state;
	assert_int_equal(load_page(page, ILB_ENGINE_VLLM, &load), 0);
	assert_true(load.waiting == 2); /* NaN skipped, negative as zero */
	assert_true(load.kv_usage == 1); /* clamped */
	assert_true(isinf(load.running));
	load.scraped_ns = 1;
	assert_int_equal(ilb_load_score(&load, 1, 200 * MS), ILB_SCORE_MAX);
}

static struct ilb_pod_load fresh_load(double waiting, double running, double kv)
{
	struct ilb_pod_load load = { .waiting = waiting, .running = running, .kv_usage = kv, .scraped_ns = 1000 * MS };

	return load;
}

static uint32_t score_of(double waiting, double running, double kv)
{
	struct ilb_pod_load load = fresh_load(waiting, running, kv);

	return ilb_load_score(&load, 1000 * MS + 10 * MS, 200 * MS);
}

static void test_score_bounds(void **state)
{
	(void)state;
	assert_int_equal(score_of(0, 0, 0), 0);
	assert_true(score_of(0, 1, 0) > 0);
	assert_int_equal(score_of(10, 0, 0), ILB_SCORE_MAX);
	assert_int_equal(score_of(1000, 1000, 1), ILB_SCORE_MAX);
	assert_int_equal(score_of(0, 0, 1), ILB_SCORE_MAX);
	assert_int_equal(score_of(1e300, 1e300, 1e300), ILB_SCORE_MAX);
	assert_int_equal(score_of(-1, -1, -1), 0);
	/* every saturated pod above every pod that is not */
	assert_true(score_of(5, 1e9, 0.8) < score_of(5.01, 0, 0));
	assert_true(score_of(5, 1e9, 0.8) < score_of(0, 0, 0.801));
	/* documented points */
	assert_int_equal(score_of(5, 0, 0), 450000);
	assert_int_equal(score_of(0, 0, 0.8), 300000);
	assert_int_equal(score_of(0, 32, 0), 50000);
	assert_int_equal(score_of(7.5, 0, 0), 950000);
}

static void test_score_monotonic(void **state)
{
	static const double queues[] = { 0, 0.5, 1, 2, 4, 5, 5.5, 6, 8, 10, 20, 1e6 };
	static const double runs[] = { 0, 1, 4, 16, 32, 64, 256, 1e6 };
	static const double kvs[] = { 0, 0.1, 0.3, 0.5, 0.79, 0.8, 0.81, 0.9, 0.99, 1 };
	const size_t nq = sizeof(queues) / sizeof(queues[0]), nr = sizeof(runs) / sizeof(runs[0]),
		     nk = sizeof(kvs) / sizeof(kvs[0]);

	(void)state;
	for (size_t q = 0; q < nq; q++)
		for (size_t r = 0; r < nr; r++)
			for (size_t k = 0; k < nk; k++) {
				uint32_t s = score_of(queues[q], runs[r], kvs[k]);

				assert_true(s <= ILB_SCORE_MAX);
				if (q + 1 < nq && score_of(queues[q + 1], runs[r], kvs[k]) < s)
					fail_msg("queue %g -> %g lowers the score", queues[q], queues[q + 1]);
				if (r + 1 < nr && score_of(queues[q], runs[r + 1], kvs[k]) < s)
					fail_msg("running %g -> %g lowers the score", runs[r], runs[r + 1]);
				if (k + 1 < nk && score_of(queues[q], runs[r], kvs[k + 1]) < s)
					fail_msg("kv %g -> %g lowers the score", kvs[k], kvs[k + 1]);
			}
	/* strictly growing below saturation */
	assert_true(score_of(1, 0, 0) < score_of(2, 0, 0));
	assert_true(score_of(0, 1, 0) < score_of(0, 2, 0));
	assert_true(score_of(0, 0, 0.1) < score_of(0, 0, 0.2));
}

static void test_score_stale(void **state)
{
	struct ilb_pod_load load = fresh_load(0, 0, 0);
	uint64_t scraped = load.scraped_ns;

	(void)state;
	assert_int_equal(ilb_load_score(&load, scraped + 200 * MS, 200 * MS), 0);
	assert_false(ilb_load_saturated(&load, scraped + 200 * MS, 200 * MS));
	assert_int_equal(ilb_load_score(&load, scraped + 201 * MS, 200 * MS), ILB_SCORE_MAX);
	assert_true(ilb_load_saturated(&load, scraped + 201 * MS, 200 * MS));
	/* a reading taken after now (another thread's clock read) is fresh */
	assert_int_equal(ilb_load_score(&load, scraped - 5 * MS, 200 * MS), 0);
	load.scraped_ns = 0; /* never scraped */
	assert_int_equal(ilb_load_score(&load, 5 * MS, 200 * MS), ILB_SCORE_MAX);
	assert_true(ilb_load_saturated(&load, 5 * MS, 200 * MS));
}

static void test_saturated(void **state)
{
	struct ilb_pod_load load;
	uint64_t now = 1000 * MS;

	(void)state;
	load = fresh_load(5, 100, 0.8);
	assert_false(ilb_load_saturated(&load, now, 200 * MS));
	load = fresh_load(6, 0, 0);
	assert_true(ilb_load_saturated(&load, now, 200 * MS));
	load = fresh_load(0, 0, 0.81);
	assert_true(ilb_load_saturated(&load, now, 200 * MS));
	load = fresh_load(NAN, 0, 0);
	assert_true(ilb_load_saturated(&load, now, 200 * MS));
	assert_int_equal(ilb_load_score(&load, now, 200 * MS), ILB_SCORE_MAX);
	load = fresh_load(0, NAN, 0);
	assert_int_equal(ilb_load_score(&load, now, 200 * MS), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_engine_names),
		cmocka_unit_test(test_vllm_page),
		cmocka_unit_test(test_vllm_lora_newest_series),
		cmocka_unit_test(test_lora_absent_and_limits),
		cmocka_unit_test(test_vllm_v0_fallback),
		cmocka_unit_test(test_sglang_page),
		cmocka_unit_test(test_trtllm_page),
		cmocka_unit_test(test_bad_pages_keep_values),
		cmocka_unit_test(test_odd_values),
		cmocka_unit_test(test_score_bounds),
		cmocka_unit_test(test_score_monotonic),
		cmocka_unit_test(test_score_stale),
		cmocka_unit_test(test_saturated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
