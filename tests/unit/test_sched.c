/* test_sched.c - the L7 scheduler: each scorer on known values, weights, the tie-break,
 * prefix affinity, LoRA affinity, filters, admission (429/503), in-flight bridging between
 * scrapes, loads read from health slots at pick time, retries, and the baseline policies. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "l7/sched.h"

#define MS 1000000ull
#define NOW (1000000ull * MS) /* an arbitrary CLOCK_MONOTONIC instant */
#define MAXP 8

/* A pool of up to MAXP pods, each with its load and its prefix LRU. */
struct pool {
	int n;
	struct ilb_pod_load load[MAXP];
	struct ilb_sched_pod pod[MAXP];
	struct ilb_sched sched;
};

static struct pool *pool_new(int n, enum ilb_policy policy, uint64_t seed)
{
	struct pool *p = calloc(1, sizeof(*p));
	struct ilb_sched_config cfg;

	assert_non_null(p);
	p->n = n;
	for (int i = 0; i < n; i++) {
		p->load[i] = (struct ilb_pod_load){ .max_lora = -1, .scraped_ns = NOW - 10 * MS };
		p->pod[i] = (struct ilb_sched_pod){ .id = 100 + (uint32_t)i, .ready = true, .load = &p->load[i] };
		p->pod[i].prefix = ilb_prefix_lru_new(4096);
		assert_non_null(p->pod[i].prefix);
	}
	ilb_sched_config_default(&cfg);
	cfg.policy = policy;
	cfg.seed = seed;
	assert_int_equal(ilb_sched_init(&p->sched, &cfg), 0);
	return p;
}

static void pool_free(struct pool *p)
{
	for (int i = 0; i < p->n; i++)
		ilb_prefix_lru_free(p->pod[i].prefix);
	ilb_sched_free(&p->sched);
	free(p);
}

/* Only scorer k counts. */
static void only_weight(struct pool *p, enum ilb_scorer k)
{
	for (int i = 0; i < ILB_SCORER__COUNT; i++)
		p->sched.cfg.weight[i] = i == (int)k ? 1 : 0;
}

static int pick(struct pool *p, const struct ilb_sched_req *req, struct ilb_sched_result *res)
{
	return ilb_sched_pick(&p->sched, req, p->pod, p->n, NOW, res);
}

/* Picks and commits; the caller's in-flight count grows when `hold` (the request has not
 * been answered by the next pick). */
static int send(struct pool *p, const struct ilb_sched_req *req, bool hold)
{
	struct ilb_sched_result res;
	int i = pick(p, req, &res);

	if (i < 0)
		fail_msg("pick failed: %d (%s)", i, res.reason);
	assert_int_equal(ilb_sched_commit(&p->sched, req, p->pod, p->n, i), 0);
	if (hold)
		p->pod[i].inflight++;
	return i;
}

static void assert_near(double got, double want, const char *what)
{
	if (fabs(got - want) > 1e-9)
		fail_msg("%s: expected %.6f, got %.6f", what, want, got);
}

static void test_names_status_and_config(void **state)
{
	struct ilb_sched_config cfg;
	struct ilb_sched s;
	enum ilb_policy p;

	(void)state;
	assert_int_equal(ilb_policy_parse("sched", &p), 0);
	assert_int_equal(p, ILB_POLICY_SCHED);
	assert_int_equal(ilb_policy_parse("round-robin", &p), 0);
	assert_int_equal(p, ILB_POLICY_ROUND_ROBIN);
	assert_int_equal(ilb_policy_parse("random", &p), 0);
	assert_int_equal(p, ILB_POLICY_RANDOM);
	assert_int_equal(ilb_policy_parse("least-request", &p), 0);
	assert_int_equal(p, ILB_POLICY_LEAST_REQUEST);
	assert_int_equal(ilb_policy_parse("fastest", &p), -EINVAL);
	assert_int_equal(ilb_policy_parse(NULL, &p), -EINVAL);
	for (int i = 0; i < ILB_POLICY__COUNT; i++) {
		assert_int_equal(ilb_policy_parse(ilb_policy_name((enum ilb_policy)i), &p), 0);
		assert_int_equal(p, i);
	}
	assert_string_equal(ilb_scorer_name(ILB_SCORER_PREFIX), "prefix-cache");
	assert_int_equal(ilb_admit_http_status(ILB_ADMIT_OK), 200);
	assert_int_equal(ilb_admit_http_status(ILB_ADMIT_SHED), 429);
	assert_int_equal(ilb_admit_http_status(ILB_ADMIT_NO_POD), 503);

	ilb_sched_config_default(&cfg);
	assert_true(cfg.weight[ILB_SCORER_QUEUE] == 2 && cfg.weight[ILB_SCORER_KV] == 2 &&
		    cfg.weight[ILB_SCORER_PREFIX] == 3 && cfg.weight[ILB_SCORER_LORA] == 1 &&
		    cfg.weight[ILB_SCORER_INFLIGHT] == 1);
	assert_true(cfg.stale_ns == 200 * MS);
	cfg.weight[ILB_SCORER_KV] = -1;
	assert_int_equal(ilb_sched_init(&s, &cfg), -EINVAL);
	cfg.weight[ILB_SCORER_KV] = NAN;
	assert_int_equal(ilb_sched_init(&s, &cfg), -EINVAL);
	cfg.weight[ILB_SCORER_KV] = 2;
	cfg.policy = ILB_POLICY__COUNT;
	assert_int_equal(ilb_sched_init(&s, &cfg), -EINVAL);
	assert_int_equal(ilb_sched_init(&s, NULL), 0);
	assert_int_equal(s.cfg.policy, ILB_POLICY_SCHED);
	ilb_sched_free(&s);
}

static void test_queue_scorer(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_eval ev[4];

	(void)state;
	p->load[0].waiting = 0;
	p->load[1].waiting = 2;
	p->load[2].waiting = 4;
	p->load[3].waiting = 1;
	p->pod[3].inflight = 2; /* queue 1 + 2 of the agent's own = 3 */
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev), 4);
	assert_near(ev[0].score[ILB_SCORER_QUEUE], 1, "queue 0 of 0..4");
	assert_near(ev[1].score[ILB_SCORER_QUEUE], 0.5, "queue 2 of 0..4");
	assert_near(ev[2].score[ILB_SCORER_QUEUE], 0, "queue 4 of 0..4");
	assert_near(ev[3].score[ILB_SCORER_QUEUE], 0.25, "queue 1 + 2 in flight of 0..4");
	/* all equal: every pod scores 1 */
	for (int i = 0; i < 4; i++) {
		p->load[i].waiting = 3;
		p->pod[i].inflight = 0;
	}
	ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev);
	for (int i = 0; i < 4; i++)
		assert_near(ev[i].score[ILB_SCORER_QUEUE], 1, "equal queues");
	pool_free(p);
}

static void test_kv_scorer(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_eval ev[3];
	struct ilb_sched_result res;

	(void)state;
	p->load[0].kv_usage = 0.25;
	p->load[1].kv_usage = 0.0;
	p->load[2].kv_usage = 0.75;
	ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev);
	assert_near(ev[0].score[ILB_SCORER_KV], 0.75, "kv 0.25");
	assert_near(ev[1].score[ILB_SCORER_KV], 1, "kv 0");
	assert_near(ev[2].score[ILB_SCORER_KV], 0.25, "kv 0.75");
	only_weight(p, ILB_SCORER_KV);
	assert_int_equal(pick(p, &req, &res), 1);
	assert_near(res.winner.total, 1, "winner total with kv weight 1");
	pool_free(p);
}

static void test_inflight_scorer(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_eval ev[3];

	(void)state;
	p->pod[0].inflight = 2;
	p->pod[1].inflight = 0;
	p->pod[2].inflight = 1;
	ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev);
	assert_near(ev[0].score[ILB_SCORER_INFLIGHT], 0, "2 in flight of 0..2");
	assert_near(ev[1].score[ILB_SCORER_INFLIGHT], 1, "0 in flight");
	assert_near(ev[2].score[ILB_SCORER_INFLIGHT], 0.5, "1 in flight");
	pool_free(p);
}

static void test_prefix_scorer(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_prefix_blocks b = { 0 };
	char prompt[4 * ILB_PREFIX_BLOCK + 10];
	struct ilb_sched_req req = { .model = "m", .prompt = prompt, .prompt_len = sizeof(prompt) };
	struct ilb_sched_eval ev[3];
	struct ilb_sched_result res;

	(void)state;
	memset(prompt, 'x', sizeof(prompt));
	assert_int_equal(ilb_prefix_hash_blocks("m", prompt, sizeof(prompt), 0, &b), 4);
	ilb_prefix_record(p->pod[0].prefix, b.hash, 2); /* the first half */
	ilb_prefix_record(p->pod[1].prefix, b.hash + 1, 3); /* no first block: no prefix */
	ilb_prefix_lru_free(p->pod[2].prefix);
	p->pod[2].prefix = NULL;
	ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev);
	assert_near(ev[0].score[ILB_SCORER_PREFIX], 0.5, "2 of 4 blocks");
	assert_int_equal(ev[0].prefix_matched, 2);
	assert_near(ev[1].score[ILB_SCORER_PREFIX], 0, "blocks 1..3 without block 0");
	assert_near(ev[2].score[ILB_SCORER_PREFIX], 0, "no LRU");
	/* precomputed hashes give the same answer */
	req.blocks = &b;
	assert_int_equal(pick(p, &req, &res), 0);
	assert_int_equal(res.prefix_blocks, 4);
	assert_near(res.winner.score[ILB_SCORER_PREFIX], 0.5, "winner's prefix score");
	/* commit records every block on the chosen pod only */
	assert_int_equal(ilb_sched_commit(&p->sched, &req, p->pod, 3, 0), 0);
	assert_int_equal(ilb_prefix_match(p->pod[0].prefix, b.hash, 4), 4);
	assert_int_equal(ilb_prefix_match(p->pod[1].prefix, b.hash, 4), 0);
	/* a prompt shorter than a block has no blocks: prefix 0 everywhere */
	req.blocks = NULL;
	req.prompt_len = 10;
	ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev);
	assert_near(ev[0].score[ILB_SCORER_PREFIX], 0, "short prompt");
	ilb_prefix_blocks_free(&b);
	pool_free(p);
}

static void test_lora_scorer_values_and_order(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m", .adapter = "sql" };
	struct ilb_sched_eval ev[4];
	struct ilb_sched_result res;

	(void)state;
	for (int i = 0; i < 4; i++)
		p->load[i].max_lora = 2;
	/* 0: sql running; 1: a free slot; 2: sql waiting, slots full; 3: slots full, no sql */
	p->load[0].n_running_lora = 2;
	strcpy(p->load[0].running_lora[0], "chat");
	strcpy(p->load[0].running_lora[1], "sql");
	p->load[1].n_running_lora = 1;
	strcpy(p->load[1].running_lora[0], "chat");
	p->load[2].n_running_lora = 2;
	strcpy(p->load[2].running_lora[0], "a");
	strcpy(p->load[2].running_lora[1], "b");
	p->load[2].n_waiting_lora = 1;
	strcpy(p->load[2].waiting_lora[0], "sql");
	p->load[3].n_running_lora = 2;
	strcpy(p->load[3].running_lora[0], "a");
	strcpy(p->load[3].running_lora[1], "b");

	/* the filter keeps the pods running it */
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev), 1);
	assert_true(ev[0].candidate && !ev[1].candidate && !ev[2].candidate && !ev[3].candidate);
	assert_near(ev[0].score[ILB_SCORER_LORA], 1, "active");
	assert_int_equal(pick(p, &req, &res), 0);
	assert_near(res.winner.score[ILB_SCORER_LORA], 1, "winner's lora score");

	/* without pod 0, those that can load it at once: the free slot */
	p->pod[0].ready = false;
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev), 1);
	assert_near(ev[1].score[ILB_SCORER_LORA], 0.8, "free slot");
	assert_int_equal(pick(p, &req, &res), 1);
	/* none fits: all kept, and waiting beats nothing */
	p->pod[1].ready = false;
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev), 2);
	assert_near(ev[2].score[ILB_SCORER_LORA], 0.6, "waiting");
	assert_near(ev[3].score[ILB_SCORER_LORA], 0, "neither");
	assert_int_equal(pick(p, &req, &res), 2);

	/* no adapter: the scorer does not apply */
	req.adapter = NULL;
	ilb_sched_explain(&p->sched, &req, p->pod, 4, NOW, ev);
	assert_near(ev[2].score[ILB_SCORER_LORA], -1, "no adapter");
	assert_near(ev[2].total, ev[3].total, "no adapter, equal loads");
	pool_free(p);
}

/* The pod that has the adapter running keeps getting it, with requests in flight, over an
 * idle pod with a free slot, until it saturates. */
static void test_lora_affinity_outweighs_a_few_in_flight(void **state)
{
	struct pool *p = pool_new(2, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m", .adapter = "sql" };
	struct ilb_sched_result res;

	(void)state;
	for (int i = 0; i < 2; i++)
		p->load[i].max_lora = 1;
	p->load[1].n_running_lora = 1;
	strcpy(p->load[1].running_lora[0], "sql");
	p->load[1].running = 1;
	p->pod[1].inflight = 1;
	for (int k = 0; k < 3; k++) {
		assert_int_equal(pick(p, &req, &res), 1);
		p->pod[1].inflight++;
	}
	p->load[1].waiting = 6; /* saturated: over the queue threshold */
	assert_int_equal(pick(p, &req, &res), 0);
	pool_free(p);
}

static void test_weights_decide_between_queue_and_kv(void **state)
{
	struct pool *p = pool_new(2, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_result res;

	(void)state;
	/* 0: short queue, fuller cache; 1: longer queue, emptier cache */
	p->load[0].waiting = 0;
	p->load[0].kv_usage = 0.7;
	p->load[1].waiting = 4;
	p->load[1].kv_usage = 0.1;
	p->sched.cfg.weight[ILB_SCORER_QUEUE] = 3;
	p->sched.cfg.weight[ILB_SCORER_KV] = 1;
	assert_int_equal(pick(p, &req, &res), 0);
	/* queue 1 * 3 + kv 0.3 * 1 + prefix 0 + in-flight 1 * 1 */
	assert_near(res.winner.total, 3 + 0.3 + 1, "winner total");
	assert_near(res.winner.score[ILB_SCORER_QUEUE], 1, "winner queue");
	assert_near(res.winner.score[ILB_SCORER_KV], 0.3, "winner kv");
	p->sched.cfg.weight[ILB_SCORER_QUEUE] = 0.5;
	p->sched.cfg.weight[ILB_SCORER_KV] = 3;
	assert_int_equal(pick(p, &req, &res), 1);
	assert_near(res.winner.total, 0 + 0.9 * 3 + 1, "winner total");
	assert_int_equal(res.candidates, 2);
	assert_int_equal(res.tied, 1);
	pool_free(p);
}

static void test_ties_are_broken_at_random(void **state)
{
	struct pool *p = pool_new(5, ILB_POLICY_SCHED, 42), *q = pool_new(5, ILB_POLICY_SCHED, 42);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_result res;
	int count[5] = { 0 };

	(void)state;
	for (int i = 0; i < 1000; i++) {
		int a = pick(p, &req, &res);

		assert_int_equal(res.tied, 5);
		assert_in_range(a, 0, 4);
		count[a]++;
		/* the same seed gives the same sequence */
		assert_int_equal(pick(q, &req, &res), a);
	}
	for (int i = 0; i < 5; i++)
		if (count[i] < 130 || count[i] > 270)
			fail_msg("pod %d picked %d times of 1000 among 5 tied, expected about 200", i, count[i]);
	pool_free(p);
	pool_free(q);
}

/* A system prompt of `len` bytes, then a question that differs per request. */
static char *prompt_with(const char *system, int question, size_t *len)
{
	size_t n = strlen(system) + 64;
	char *s = malloc(n);

	assert_non_null(s);
	*len = (size_t)snprintf(s, n, "%sQuestion %d: what is %d times %d?", system, question, question, question + 3);
	return s;
}

static void test_shared_system_prompt_lands_on_one_pod(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_SCHED, 7);
	char *system = malloc(6001);
	int first = -1;

	(void)state;
	assert_non_null(system);
	for (int i = 0; i < 6000; i++)
		system[i] = (char)('a' + (i * 31 + i / 7) % 26);
	system[6000] = '\0';
	for (int r = 0; r < 100; r++) {
		size_t len;
		char *prompt = prompt_with(system, r, &len);
		struct ilb_sched_req req = { .model = "m", .prompt = prompt, .prompt_len = len };
		int i = send(p, &req, false);

		if (first < 0)
			first = i;
		else if (i != first)
			fail_msg("request %d went to pod %d, the system prompt is cached on pod %d", r, i, first);
		free(prompt);
	}
	free(system);
	pool_free(p);
}

static void test_different_prompts_spread(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_SCHED, 7);
	int count[4] = { 0 };

	(void)state;
	for (int r = 0; r < 100; r++) {
		char prompt[600];
		int len = snprintf(prompt, sizeof(prompt), "Conversation %d. ", r);
		struct ilb_sched_req req = { .model = "m", .prompt = prompt };

		while (len < 500)
			len += snprintf(prompt + len, sizeof(prompt) - (size_t)len, "lorem %d ipsum ", r * len);
		req.prompt_len = (size_t)len;
		count[send(p, &req, false)]++;
	}
	for (int i = 0; i < 4; i++)
		if (count[i] < 10)
			fail_msg("pod %d got %d of 100 unrelated prompts", i, count[i]);
	pool_free(p);
}

static void test_inflight_spreads_a_burst_between_scrapes(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_SCHED, 3);
	int count[4] = { 0 };

	(void)state;
	/* 20 requests, none answered, metrics unchanged (all idle) */
	for (int r = 0; r < 20; r++) {
		char prompt[200];
		int len = snprintf(prompt, sizeof(prompt), "%03d unrelated request text that fills more than one block "
							   "of sixty-four bytes ......",
				   r);
		struct ilb_sched_req req = { .model = "m", .prompt = prompt, .prompt_len = (size_t)len };

		count[send(p, &req, true)]++;
	}
	for (int i = 0; i < 4; i++)
		if (count[i] != 5)
			fail_msg("pod %d got %d of a burst of 20 over 4 idle pods, expected 5", i, count[i]);
	pool_free(p);
}

static void test_saturated_pods_are_filtered(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_prefix_blocks b = { 0 };
	char prompt[640];
	struct ilb_sched_req req = { .model = "m", .prompt = prompt, .prompt_len = sizeof(prompt), .blocks = &b };
	struct ilb_sched_eval ev[3];
	struct ilb_sched_result res;

	(void)state;
	memset(prompt, 'p', sizeof(prompt));
	ilb_prefix_hash_blocks("m", prompt, sizeof(prompt), 0, &b);
	/* 0 has the whole prefix but a queue of 6; 1 has it too but stale metrics; 2 is busy
	 * and not saturated */
	ilb_prefix_record(p->pod[0].prefix, b.hash, b.n);
	ilb_prefix_record(p->pod[1].prefix, b.hash, b.n);
	p->load[0].waiting = 6;
	p->load[1].scraped_ns = NOW - 201 * MS;
	p->load[2].waiting = 5;
	p->load[2].kv_usage = 0.8;
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev), 1);
	assert_true(!ev[0].candidate && !ev[1].candidate && ev[2].candidate);
	assert_int_equal(pick(p, &req, &res), 2);
	assert_int_equal(res.admit, ILB_ADMIT_OK);
	assert_string_equal(res.reason, "admitted");
	/* KV above 0.8 saturates as well */
	p->load[2].kv_usage = 0.81;
	p->load[2].waiting = 0;
	assert_int_equal(ilb_sched_explain(&p->sched, &req, p->pod, 3, NOW, ev), 3);
	ilb_prefix_blocks_free(&b);
	pool_free(p);
}

static void test_saturated_pool_sheds_only_sheddable(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m", .priority = -1 };
	struct ilb_sched_result res;
	const char *reason;

	(void)state;
	for (int i = 0; i < 3; i++)
		p->load[i].waiting = 6 + i;
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	assert_int_equal(res.admit, ILB_ADMIT_SHED);
	assert_int_equal(ilb_admit_http_status(res.admit), 429);
	assert_int_equal(res.index, -1);
	assert_non_null(strstr(res.reason, "saturated"));
	assert_int_equal(ilb_sched_admit(&p->sched, &req, p->pod, 3, NOW, &reason), ILB_ADMIT_SHED);
	/* standard and critical requests still go, to the least loaded */
	req.priority = 0;
	assert_int_equal(pick(p, &req, &res), 0);
	assert_int_equal(res.admit, ILB_ADMIT_OK);
	assert_string_equal(res.reason, "admitted while the pool is saturated (priority >= 0)");
	assert_int_equal(res.candidates, 3);
	req.priority = 5;
	assert_int_equal(pick(p, &req, &res), 0);
	/* one pod below the thresholds lifts the saturation */
	p->load[2].waiting = 5;
	req.priority = -1;
	assert_int_equal(pick(p, &req, &res), 2);
	assert_int_equal(res.admit, ILB_ADMIT_OK);
	/* ... unless it is draining */
	p->pod[2].draining = true;
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	pool_free(p);
}

static void test_stale_metrics_count_as_saturated(void **state)
{
	struct pool *p = pool_new(2, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m", .priority = -1 };
	struct ilb_sched_result res;

	(void)state;
	/* idle, but scraped 300 ms ago, and never */
	p->load[0].scraped_ns = NOW - 300 * MS;
	p->pod[1].load = NULL;
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	assert_int_equal(res.admit, ILB_ADMIT_SHED);
	/* 200 ms is still fresh; past it is not */
	p->load[0].scraped_ns = NOW - 200 * MS;
	assert_int_equal(pick(p, &req, &res), 0);
	p->load[0].scraped_ns = NOW - 200 * MS - 1;
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	/* the threshold is the config's */
	p->sched.cfg.stale_ns = 500 * MS;
	assert_int_equal(pick(p, &req, &res), 0);
	pool_free(p);
}

/* Pods that read their load from health slots: each pick sees the slot as it is then (a
 * newer scrape moves the next pick without new pods), with the same staleness rule. */
static void test_loads_are_read_from_health_slots_at_pick_time(void **state)
{
	struct pool *p = pool_new(2, ILB_POLICY_SCHED, 1);
	struct ilb_health *h = ilb_health_new();
	struct ilb_sched_req req = { .model = "m", .priority = -1 };
	struct ilb_sched_result res;

	(void)state;
	assert_non_null(h);
	only_weight(p, ILB_SCORER_QUEUE);
	for (int i = 0; i < 2; i++) {
		p->pod[i].load = NULL;
		p->pod[i].health = ilb_health_slot(h, p->pod[i].id);
	}
	/* never scraped: stale, so saturated, and a Sheddable request is shed */
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	p->load[0].waiting = 4;
	p->load[1].waiting = 1;
	ilb_health_store(h, p->pod[0].id, &p->load[0]);
	ilb_health_store(h, p->pod[1].id, &p->load[1]);
	assert_int_equal(pick(p, &req, &res), 1);
	p->load[1].waiting = 5;
	ilb_health_store(h, p->pod[1].id, &p->load[1]);
	assert_int_equal(pick(p, &req, &res), 0);
	/* past 200 ms the slot's scrape is stale like any other */
	p->load[0].scraped_ns = p->load[1].scraped_ns = NOW - 200 * MS - 1;
	ilb_health_store(h, p->pod[0].id, &p->load[0]);
	ilb_health_store(h, p->pod[1].id, &p->load[1]);
	assert_int_equal(pick(p, &req, &res), -EBUSY);
	ilb_health_free(h);
	pool_free(p);
}

static void test_no_ready_pod_is_503(void **state)
{
	for (int policy = 0; policy < ILB_POLICY__COUNT; policy++) {
		struct pool *p = pool_new(3, (enum ilb_policy)policy, 1);
		struct ilb_sched_req req = { .model = "m", .priority = 10 };
		struct ilb_sched_result res;

		(void)state;
		p->pod[0].ready = false;
		p->pod[1].draining = true;
		p->pod[2].ready = false;
		assert_int_equal(pick(p, &req, &res), -ENOENT);
		assert_int_equal(res.admit, ILB_ADMIT_NO_POD);
		assert_int_equal(ilb_admit_http_status(res.admit), 503);
		assert_string_equal(res.reason, "no ready pod");
		assert_int_equal(ilb_sched_pick(&p->sched, &req, p->pod, 0, NOW, &res), -ENOENT);
		assert_int_equal(ilb_sched_pick(&p->sched, &req, NULL, 3, NOW, &res), -EINVAL);
		pool_free(p);
	}
}

static void test_retry_takes_the_next_best(void **state)
{
	struct pool *p = pool_new(3, ILB_POLICY_SCHED, 1);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_result res;

	(void)state;
	p->load[0].waiting = 1;
	p->load[1].waiting = 0;
	p->load[2].waiting = 3;
	assert_int_equal(pick(p, &req, &res), 1);
	assert_int_equal(res.id, 101);
	assert_int_equal(ilb_sched_next(&p->sched, &req, p->pod, 3, 1, NOW, &res), 0);
	assert_int_equal(ilb_sched_next(&p->sched, &req, p->pod, 3, 0, NOW, &res), 2);
	assert_int_equal(ilb_sched_next(&p->sched, &req, p->pod, 3, 2, NOW, &res), -ENOENT);
	assert_int_equal(res.admit, ILB_ADMIT_NO_POD);
	assert_int_equal(ilb_sched_next(&p->sched, &req, p->pod, 3, 3, NOW, &res), -EINVAL);
	pool_free(p);
}

static void test_round_robin_cycles_by_id(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_ROUND_ROBIN, 1);
	static const uint32_t ids[] = { 7, 3, 9, 5 };
	static const uint32_t want[] = { 3, 5, 7, 9, 3, 5, 7, 9 };
	struct ilb_sched_req req = { .model = "m", .priority = -1 };
	struct ilb_sched_result res;

	(void)state;
	for (int i = 0; i < 4; i++) {
		p->pod[i].id = ids[i];
		p->load[i].waiting = 10; /* saturated: the baselines do not shed */
	}
	p->pod[0].inflight = 9; /* and ignore load */
	for (int r = 0; r < 8; r++) {
		int i = send(p, &req, false);

		if (p->pod[i].id != want[r])
			fail_msg("round-robin step %d: expected id %u, got %u", r, want[r], p->pod[i].id);
	}
	/* after 9 comes 3; with 5 draining, 3 then 7 */
	p->pod[3].draining = true;
	assert_int_equal(p->pod[send(p, &req, false)].id, 3);
	assert_int_equal(p->pod[send(p, &req, false)].id, 7);
	/* a retry after 9 fails goes on to 3 */
	assert_int_equal(pick(p, &req, &res), 2);
	assert_int_equal(ilb_sched_next(&p->sched, &req, p->pod, 4, 2, NOW, &res), 1);
	assert_true(res.winner.score[ILB_SCORER_QUEUE] == -1); /* baselines do not score */
	pool_free(p);
}

static void test_least_request_picks_fewest_in_flight(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_LEAST_REQUEST, 9);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_result res;
	int count[4] = { 0 };

	(void)state;
	p->pod[0].inflight = 3;
	p->pod[1].inflight = 1;
	p->pod[2].inflight = 2;
	p->pod[3].inflight = 1;
	p->load[1].waiting = 50; /* metrics do not count */
	for (int r = 0; r < 200; r++)
		count[pick(p, &req, &res)]++;
	assert_int_equal(count[0] + count[2], 0);
	assert_true(count[1] > 60 && count[3] > 60);
	assert_int_equal(res.tied, 2);
	/* the caller's counts follow the picks: a burst evens them out */
	for (int r = 0; r < 5; r++)
		send(p, &req, true);
	for (int i = 0; i < 4; i++)
		assert_int_equal(p->pod[i].inflight, 3);
	pool_free(p);
}

static void test_random_covers_all(void **state)
{
	struct pool *p = pool_new(4, ILB_POLICY_RANDOM, 11);
	struct ilb_sched_req req = { .model = "m" };
	struct ilb_sched_result res;
	int count[4] = { 0 };

	(void)state;
	p->load[0].waiting = 100;
	p->pod[1].inflight = 100;
	p->pod[2].ready = false;
	for (int r = 0; r < 600; r++)
		count[pick(p, &req, &res)]++;
	assert_int_equal(count[2], 0);
	for (int i = 0; i < 4; i++)
		if (i != 2 && (count[i] < 140 || count[i] > 260))
			fail_msg("random: pod %d got %d of 600 over 3 pods", i, count[i]);
	assert_int_equal(res.candidates, 3);
	pool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_status_and_config),
		cmocka_unit_test(test_queue_scorer),
		cmocka_unit_test(test_kv_scorer),
		cmocka_unit_test(test_inflight_scorer),
		cmocka_unit_test(test_prefix_scorer),
		cmocka_unit_test(test_lora_scorer_values_and_order),
		cmocka_unit_test(test_lora_affinity_outweighs_a_few_in_flight),
		cmocka_unit_test(test_weights_decide_between_queue_and_kv),
		cmocka_unit_test(test_ties_are_broken_at_random),
		cmocka_unit_test(test_shared_system_prompt_lands_on_one_pod),
		cmocka_unit_test(test_different_prompts_spread),
		cmocka_unit_test(test_inflight_spreads_a_burst_between_scrapes),
		cmocka_unit_test(test_saturated_pods_are_filtered),
		cmocka_unit_test(test_saturated_pool_sheds_only_sheddable),
		cmocka_unit_test(test_stale_metrics_count_as_saturated),
		cmocka_unit_test(test_loads_are_read_from_health_slots_at_pick_time),
		cmocka_unit_test(test_no_ready_pod_is_503),
		cmocka_unit_test(test_retry_takes_the_next_best),
		cmocka_unit_test(test_round_robin_cycles_by_id),
		cmocka_unit_test(test_least_request_picks_fewest_in_flight),
		cmocka_unit_test(test_random_covers_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
