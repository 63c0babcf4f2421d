/* test_prefix.c - prompt block hashes (the xxhash64 chain) and the per-pod LRU of hashes:
 * chain properties, eviction order, O(1) behaviour at a million inserts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <xxhash.h>

#include "l7/prefix.h"

static char *make_text(size_t len, unsigned seed)
{
	char *t = malloc(len + 1);

	assert_non_null(t);
	for (size_t i = 0; i < len; i++)
		t[i] = (char)('a' + (i * 7 + seed * 13 + i / 5) % 26);
	t[len] = '\0';
	return t;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void test_blocks_are_an_xxh64_chain_seeded_by_model(void **state)
{
	struct ilb_prefix_blocks b = { 0 };
	char *text = make_text(3 * ILB_PREFIX_BLOCK, 1);
	uint64_t h;

	(void)state;
	assert_int_equal(ilb_prefix_hash_blocks("llama", text, 3 * ILB_PREFIX_BLOCK, 0, &b), 3);
	h = XXH64("llama", 5, 0);
	for (int i = 0; i < 3; i++) {
		h = XXH64(text + i * ILB_PREFIX_BLOCK, ILB_PREFIX_BLOCK, h);
		assert_true(b.hash[i] == h);
	}
	/* NULL model hashes like "" */
	assert_int_equal(ilb_prefix_hash_blocks(NULL, text, ILB_PREFIX_BLOCK, 0, &b), 1);
	assert_true(b.hash[0] == XXH64(text, ILB_PREFIX_BLOCK, XXH64("", 0, 0)));
	ilb_prefix_blocks_free(&b);
	free(text);
}

static void test_partial_block_and_limit(void **state)
{
	struct ilb_prefix_blocks b = { 0 };
	char *text = make_text(1000, 2);

	(void)state;
	/* 1000 = 15 * 64 + 40: the trailing 40 bytes are no block */
	assert_int_equal(ilb_prefix_hash_blocks("m", text, 1000, 0, &b), 15);
	assert_int_equal(b.n, 15);
	assert_int_equal(ilb_prefix_hash_blocks("m", text, 1000, 4, &b), 4);
	assert_int_equal(b.n, 4);
	assert_int_equal(ilb_prefix_hash_blocks("m", text, 63, 0, &b), 0);
	assert_int_equal(ilb_prefix_hash_blocks("m", NULL, 500, 0, &b), 0);
	assert_int_equal(b.n, 0);
	ilb_prefix_blocks_free(&b);
	free(text);
}

static void test_same_text_other_model_matches_nothing(void **state)
{
	struct ilb_prefix_blocks a = { 0 }, b = { 0 };
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(1024);
	char *text = make_text(6000, 3);

	(void)state;
	assert_non_null(lru);
	assert_int_equal(ilb_prefix_hash_blocks("llama-8b", text, 6000, 0, &a), 93);
	assert_int_equal(ilb_prefix_hash_blocks("llama-70b", text, 6000, 0, &b), 93);
	assert_int_equal(ilb_prefix_record(lru, a.hash, a.n), 0);
	assert_int_equal(ilb_prefix_match(lru, a.hash, a.n), 93);
	assert_int_equal(ilb_prefix_match(lru, b.hash, b.n), 0);
	for (size_t i = 0; i < b.n; i++)
		assert_false(ilb_prefix_lru_contains(lru, b.hash[i]));
	ilb_prefix_lru_free(lru);
	ilb_prefix_blocks_free(&a);
	ilb_prefix_blocks_free(&b);
	free(text);
}

static void test_change_in_block_k_matches_k_blocks(void **state)
{
	static const size_t ks[] = { 0, 1, 7, 40, 92 };
	struct ilb_prefix_blocks a = { 0 }, b = { 0 };
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(1024);
	char *text = make_text(6000, 4);

	(void)state;
	assert_non_null(lru);
	ilb_prefix_hash_blocks("m", text, 6000, 0, &a);
	assert_int_equal(ilb_prefix_record(lru, a.hash, a.n), 0);
	for (size_t t = 0; t < sizeof(ks) / sizeof(ks[0]); t++) {
		size_t k = ks[t];
		char saved = text[k * ILB_PREFIX_BLOCK + 17];

		text[k * ILB_PREFIX_BLOCK + 17] = '#';
		ilb_prefix_hash_blocks("m", text, 6000, 0, &b);
		text[k * ILB_PREFIX_BLOCK + 17] = saved;
		if (ilb_prefix_match(lru, b.hash, b.n) != k)
			fail_msg("a change in block %zu: expected %zu matched, got %zu", k, k,
				 ilb_prefix_match(lru, b.hash, b.n));
		/* every later block differs too: the chain carries the change forward */
		for (size_t i = k; i < b.n; i++)
			assert_false(ilb_prefix_lru_contains(lru, b.hash[i]));
	}
	ilb_prefix_lru_free(lru);
	ilb_prefix_blocks_free(&a);
	ilb_prefix_blocks_free(&b);
	free(text);
}

static void test_lru_evicts_least_recent_at_capacity(void **state)
{
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(4);

	(void)state;
	assert_non_null(lru);
	assert_int_equal(ilb_prefix_lru_capacity(lru), 4);
	for (uint64_t k = 1; k <= 4; k++)
		assert_int_equal(ilb_prefix_lru_insert(lru, k), 1);
	assert_int_equal(ilb_prefix_lru_count(lru), 4);
	/* a lookup does not refresh; an insert of a present key does */
	assert_true(ilb_prefix_lru_contains(lru, 1));
	assert_int_equal(ilb_prefix_lru_insert(lru, 2), 0);
	assert_int_equal(ilb_prefix_lru_insert(lru, 5), 1); /* evicts 1 */
	assert_false(ilb_prefix_lru_contains(lru, 1));
	assert_int_equal(ilb_prefix_lru_insert(lru, 6), 1); /* evicts 3: 2 was refreshed */
	assert_false(ilb_prefix_lru_contains(lru, 3));
	assert_true(ilb_prefix_lru_contains(lru, 2));
	assert_true(ilb_prefix_lru_contains(lru, 4));
	assert_true(ilb_prefix_lru_contains(lru, 5));
	assert_true(ilb_prefix_lru_contains(lru, 6));
	assert_int_equal(ilb_prefix_lru_count(lru), 4);
	/* key 0 is a key like any other */
	assert_int_equal(ilb_prefix_lru_insert(lru, 0), 1);
	assert_true(ilb_prefix_lru_contains(lru, 0));
	assert_false(ilb_prefix_lru_contains(lru, 4));

	ilb_prefix_lru_clear(lru);
	assert_int_equal(ilb_prefix_lru_count(lru), 0);
	assert_false(ilb_prefix_lru_contains(lru, 0));
	assert_int_equal(ilb_prefix_lru_insert(lru, 5), 1);
	assert_true(ilb_prefix_lru_contains(lru, 5));
	ilb_prefix_lru_free(lru);
}

static void test_record_evicts_a_prefix_tail_first(void **state)
{
	struct ilb_prefix_blocks a = { 0 }, b = { 0 };
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(10);
	char *ta = make_text(10 * ILB_PREFIX_BLOCK, 5), *tb = make_text(4 * ILB_PREFIX_BLOCK, 6);

	(void)state;
	assert_non_null(lru);
	ilb_prefix_hash_blocks("m", ta, 10 * ILB_PREFIX_BLOCK, 0, &a);
	ilb_prefix_hash_blocks("m", tb, 4 * ILB_PREFIX_BLOCK, 0, &b);
	assert_int_equal(ilb_prefix_record(lru, a.hash, a.n), 0);
	assert_int_equal(ilb_prefix_record(lru, b.hash, b.n), 0);
	/* four of a's blocks made room: its last four, so its first six still match */
	assert_int_equal(ilb_prefix_match(lru, a.hash, a.n), 6);
	assert_int_equal(ilb_prefix_match(lru, b.hash, b.n), 4);
	ilb_prefix_lru_free(lru);
	ilb_prefix_blocks_free(&a);
	ilb_prefix_blocks_free(&b);
	free(ta);
	free(tb);
}

static void test_million_inserts_constant_time(void **state)
{
	const uint32_t cap = ILB_PREFIX_DEFAULT_CAPACITY;
	const uint64_t n = 1000000;
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(0);
	struct timespec t0;
	double plain, aligned;

	(void)state;
	assert_non_null(lru);
	assert_int_equal(ilb_prefix_lru_capacity(lru), cap);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t k = 0; k < n; k++)
		assert_int_equal(ilb_prefix_lru_insert(lru, XXH64(&k, sizeof(k), 0)), 1);
	plain = seconds_since(&t0);
	assert_int_equal(ilb_prefix_lru_count(lru), cap);
	for (uint64_t k = n - cap; k < n; k++)
		assert_true(ilb_prefix_lru_contains(lru, XXH64(&k, sizeof(k), 0)));
	for (uint64_t k = 0; k < n - cap; k += 997)
		assert_false(ilb_prefix_lru_contains(lru, XXH64(&k, sizeof(k), 0)));

	/* keys equal in their low 32 bits: a table indexed by the raw low bits would chain them
	 * all into one bucket and turn this loop quadratic */
	ilb_prefix_lru_clear(lru);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint64_t k = 0; k < n; k++)
		assert_int_equal(ilb_prefix_lru_insert(lru, k << 32), 1);
	aligned = seconds_since(&t0);
	assert_int_equal(ilb_prefix_lru_count(lru), cap);
	print_message("# 1e6 inserts at capacity %u: %.3f s hashed keys, %.3f s aligned keys\n", cap, plain,
		      aligned);
	/* generous bounds for a shared 2-core machine; a linear chain walk would take minutes */
	assert_true(plain < 5.0);
	assert_true(aligned < 5.0);
	ilb_prefix_lru_free(lru);
}

static void test_grows_to_a_large_capacity(void **state)
{
	const uint32_t cap = 1u << 20;
	struct ilb_prefix_lru *lru = ilb_prefix_lru_new(cap);

	(void)state;
	assert_non_null(lru);
	for (uint64_t k = 0; k < 1000000; k++)
		assert_int_equal(ilb_prefix_lru_insert(lru, k * 0x9e3779b97f4a7c15ull), 1);
	assert_int_equal(ilb_prefix_lru_count(lru), 1000000);
	for (uint64_t k = 0; k < 1000000; k += 101)
		assert_true(ilb_prefix_lru_contains(lru, k * 0x9e3779b97f4a7c15ull));
	ilb_prefix_lru_free(lru);
}

static void test_lru_limits_and_null(void **state)
{
	struct ilb_prefix_lru *lru;
	uint64_t h = 42;

	(void)state;
	errno = 0;
	assert_null(ilb_prefix_lru_new(UINT32_MAX));
	assert_int_equal(errno, EINVAL);
	/* a pod without an LRU matches nothing */
	assert_int_equal(ilb_prefix_match(NULL, &h, 1), 0);
	lru = ilb_prefix_lru_new(0);
	assert_non_null(lru);
	assert_int_equal(ilb_prefix_match(lru, &h, 1), 0);
	assert_int_equal(ilb_prefix_match(lru, NULL, 0), 0);
	assert_int_equal(ilb_prefix_record(lru, NULL, 0), 0);
	assert_int_equal(ilb_prefix_lru_count(lru), 0);
	ilb_prefix_lru_free(lru);
	ilb_prefix_lru_free(NULL);
	ilb_prefix_blocks_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_blocks_are_an_xxh64_chain_seeded_by_model),
		cmocka_unit_test(test_partial_block_and_limit),
		cmocka_unit_test(test_same_text_other_model_matches_nothing),
		cmocka_unit_test(test_change_in_block_k_matches_k_blocks),
		cmocka_unit_test(test_lru_evicts_least_recent_at_capacity),
		cmocka_unit_test(test_record_evicts_a_prefix_tail_first),
		cmocka_unit_test(test_million_inserts_constant_time),
		cmocka_unit_test(test_grows_to_a_large_capacity),
		cmocka_unit_test(test_lru_limits_and_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
