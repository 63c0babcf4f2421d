/* test_scrape.c - the scraper against a real HTTP server on 127.0.0.1 (libmicrohttpd). */
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "inferlb.h"
#include "load/scrape.h"

#define MS 1000000ull

/* The server: "/fail" answers 500, "/b" serves body_b, anything else serves body with
 * status. Every answer waits delay_ms first, or 1.5 s on "/slow". */
struct server {
	struct MHD_Daemon *daemon;
	unsigned port;
	pthread_mutex_t lock;
	char body[4096], body_b[4096];
	unsigned status;
	atomic_uint delay_ms;
	atomic_uint requests, connections;
	atomic_uint active, max_active; /* requests being answered now, and the most at once */
	atomic_bool quitting;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void vllm_body(char *out, size_t len, int waiting, int running, double kv)
{
	snprintf(out, len,
		 "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
		 "# TYPE vllm:num_requests_waiting gauge\n"
		 "vllm:num_requests_waiting{engine=\"0\",model_name=\"m\"} %d.0\n"
		 "# TYPE vllm:num_requests_running gauge\n"
		 "vllm:num_requests_running{engine=\"0\",model_name=\"m\"} %d.0\n"
		 "# TYPE vllm:kv_cache_usage_perc gauge\n"
		 "vllm:kv_cache_usage_perc{engine=\"0\",model_name=\"m\"} %g\n",
		 waiting, running, kv);
}

static void server_set(struct server *srv, int waiting, int running, double kv, unsigned status)
{
	pthread_mutex_lock(&srv->lock);
	vllm_body(srv->body, sizeof(srv->body), waiting, running, kv);
	srv->status = status;
	pthread_mutex_unlock(&srv->lock);
}

static void server_set_raw(struct server *srv, const char *body)
{
	pthread_mutex_lock(&srv->lock);
	snprintf(srv->body, sizeof(srv->body), "%s", body);
	pthread_mutex_unlock(&srv->lock);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **req_ctx)
{
	struct server *srv = cls;
	char body[4096];
	unsigned status, delay_ms;
	struct MHD_Response *resp;
	enum MHD_Result ret;

	(void)method, (void)version, (void)upload, (void)upload_size;
	/* answering on the first call, before MHD has seen the whole request, makes it close */
	if (!*req_ctx) {
		*req_ctx = srv;
		return MHD_YES;
	}
	atomic_fetch_add(&srv->requests, 1);
	unsigned now_active = atomic_fetch_add(&srv->active, 1) + 1, seen = atomic_load(&srv->max_active);

	while (now_active > seen && !atomic_compare_exchange_weak(&srv->max_active, &seen, now_active))
		;
	delay_ms = !strcmp(url, "/slow") ? 1500 : atomic_load(&srv->delay_ms);
	for (unsigned waited = 0; waited < delay_ms && !atomic_load(&srv->quitting); waited += 5)
		sleep_ms(5);
	pthread_mutex_lock(&srv->lock);
	snprintf(body, sizeof(body), "%s", !strcmp(url, "/b") ? srv->body_b : srv->body);
	status = !strcmp(url, "/fail") ? 500 : srv->status;
	pthread_mutex_unlock(&srv->lock);
	atomic_fetch_sub(&srv->active, 1);
	resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
			  enum MHD_ConnectionNotificationCode code)
{
	struct server *srv = cls;

	(void)conn, (void)socket_ctx;
	if (code == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&srv->connections, 1);
}

static struct server *server_start(void)
{
	struct server *srv = calloc(1, sizeof(*srv));
	struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	const union MHD_DaemonInfo *info;

	assert_non_null(srv);
	pthread_mutex_init(&srv->lock, NULL);
	server_set(srv, 0, 0, 0, 200);
	vllm_body(srv->body_b, sizeof(srv->body_b), 9, 9, 0.09);
	/* a thread per connection, so a slow answer holds up no other */
	srv->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
				       NULL, answer, srv, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_NOTIFY_CONNECTION,
				       on_connection, srv, MHD_OPTION_CONNECTION_LIMIT, 2048u,
				       MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
	assert_non_null(srv->daemon);
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	assert_non_null(info);
	srv->port = info->port;
	assert_true(srv->port > 0);
	return srv;
}

static void server_stop(struct server *srv)
{
	if (srv->daemon) {
		atomic_store(&srv->quitting, true);
		MHD_stop_daemon(srv->daemon);
		srv->daemon = NULL;
	}
}

static void server_free(struct server *srv)
{
	server_stop(srv);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

static struct ilb_scrape_target target(const struct server *srv, const char *key, const char *path)
{
	struct ilb_scrape_target t = { .engine = ILB_ENGINE_VLLM };

	snprintf(t.key, sizeof(t.key), "%s", key);
	snprintf(t.url, sizeof(t.url), "http://127.0.0.1:%u%s", srv->port, path);
	return t;
}

static struct ilb_pod_load get(struct ilb_scraper *s, const char *key)
{
	struct ilb_pod_load load;

	assert_int_equal(ilb_scraper_get(s, key, &load), 0);
	return load;
}

/* Polls until key's load shows `waiting` from a good scrape; returns the ms it took, or -1. */
static int wait_waiting(struct ilb_scraper *s, const char *key, double waiting, unsigned max_ms)
{
	uint64_t start = now_ns();

	while (now_ns() - start < max_ms * MS) {
		struct ilb_pod_load load = get(s, key);

		if (load.scraped_ns && load.waiting == waiting)
			return (int)((now_ns() - start) / MS);
		sleep_ms(2);
	}
	return -1;
}

static int wait_errors(struct ilb_scraper *s, const char *key, uint64_t errors, unsigned max_ms)
{
	uint64_t start = now_ns();

	while (now_ns() - start < max_ms * MS) {
		if (get(s, key).errors >= errors)
			return (int)((now_ns() - start) / MS);
		sleep_ms(2);
	}
	return -1;
}

static void test_values_arrive(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 500);
	struct ilb_scrape_target t = target(srv, "ns/pod-a", "/metrics");
	struct ilb_pod_load load;
	int took;

	(void)state;
	assert_non_null(s);
	assert_int_equal(ilb_scraper_get(s, "ns/pod-a", &load), -ENOENT);
	server_set(srv, 2, 3, 0.25, 200);
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	assert_true(wait_waiting(s, "ns/pod-a", 2, 2000) >= 0);
	load = get(s, "ns/pod-a");
	assert_true(load.running == 3 && load.kv_usage == 0.25);
	assert_true(load.errors == 0);
	assert_true(now_ns() - load.scraped_ns < 200 * MS);

	/* a change on the server shows within a few intervals */
	server_set(srv, 4, 1, 0.5, 200);
	took = wait_waiting(s, "ns/pod-a", 4, 2000);
	print_message("# change seen after %d ms (interval 20 ms)\n", took);
	assert_true(took >= 0 && took < 100);
	/* and it keeps being fresh */
	sleep_ms(100);
	load = get(s, "ns/pod-a");
	assert_true(now_ns() - load.scraped_ns < 60 * MS);
	assert_true(ilb_load_score(&load, now_ns(), 200 * MS) < ILB_SCORE_MAX);

	ilb_scraper_stop(s);
	server_free(srv);
}

static void test_stale_when_server_stops(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 100);
	struct ilb_scrape_target t = target(srv, "pod", "/metrics");
	struct ilb_pod_load before, after;

	(void)state;
	server_set(srv, 1, 2, 0.3, 200);
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	assert_true(wait_waiting(s, "pod", 1, 2000) >= 0);
	server_stop(srv);
	sleep_ms(30); /* lets the request of the current round end */
	before = get(s, "pod");
	sleep_ms(300);
	after = get(s, "pod");
	assert_true(after.scraped_ns == before.scraped_ns);
	assert_true(after.errors >= before.errors + 5);
	assert_true(after.waiting == 1 && after.kv_usage == 0.3); /* the last values stay */
	assert_int_equal(ilb_load_score(&after, now_ns(), 200 * MS), ILB_SCORE_MAX);
	assert_true(ilb_load_saturated(&after, now_ns(), 200 * MS));

	ilb_scraper_stop(s);
	server_free(srv);
}

static void test_bad_answers_count_as_errors(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 500);
	struct ilb_scrape_target t = target(srv, "pod", "/metrics");
	struct ilb_pod_load good, now;
	char why[128];

	(void)state;
	server_set(srv, 3, 0, 0.1, 200);
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	assert_true(wait_waiting(s, "pod", 3, 2000) >= 0);

	server_set(srv, 4, 0, 0.1, 503);
	good = get(s, "pod");
	assert_true(wait_errors(s, "pod", good.errors + 3, 2000) >= 0);
	now = get(s, "pod");
	assert_true(now.waiting == 3); /* a 503 body is not read */
	assert_true(now.scraped_ns <= good.scraped_ns + 40 * MS); /* at most a scrape already done */
	assert_int_equal(ilb_scraper_last_error(s, "pod", why, sizeof(why)), 0);
	assert_non_null(strstr(why, "503"));

	server_set_raw(srv, "vllm:num_requests_waiting 7\nvllm:kv_cache_usage_perc{a=\"b} 1\n");
	pthread_mutex_lock(&srv->lock);
	srv->status = 200;
	pthread_mutex_unlock(&srv->lock);
	good = get(s, "pod");
	assert_true(wait_errors(s, "pod", good.errors + 3, 2000) >= 0);
	now = get(s, "pod");
	assert_true(now.waiting == 3);
	assert_int_equal(ilb_scraper_last_error(s, "pod", why, sizeof(why)), 0);
	assert_non_null(strstr(why, "line 2"));

	/* recovers, and the error is cleared */
	server_set(srv, 5, 0, 0.1, 200);
	assert_true(wait_waiting(s, "pod", 5, 2000) >= 0);
	assert_int_equal(ilb_scraper_last_error(s, "pod", why, sizeof(why)), 0);
	assert_string_equal(why, "");
	assert_int_equal(ilb_scraper_last_error(s, "nope", why, sizeof(why)), -ENOENT);

	ilb_scraper_stop(s);
	server_free(srv);
}

static void test_set_targets_keeps_state(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 500);
	struct ilb_scrape_target first[] = { target(srv, "a", "/metrics"), target(srv, "f", "/fail"),
					     target(srv, "b", "/b") };
	struct ilb_scrape_target second[3];
	struct ilb_pod_load a_before, f_before, load;

	(void)state;
	server_set(srv, 1, 1, 0.1, 200);
	assert_int_equal(ilb_scraper_set_targets(s, first, 3), 0);
	assert_true(wait_waiting(s, "a", 1, 2000) >= 0);
	assert_true(wait_waiting(s, "b", 9, 2000) >= 0);
	assert_true(wait_errors(s, "f", 2, 2000) >= 0);

	/* b leaves, c comes, a and f stay (listed in another order) */
	second[0] = target(srv, "c", "/metrics");
	second[1] = target(srv, "f", "/fail");
	second[2] = target(srv, "a", "/metrics");
	server_set(srv, 100, 1, 0.1, 200); /* a's next scrape would show 100 */
	a_before = get(s, "a");
	f_before = get(s, "f");
	assert_int_equal(ilb_scraper_set_targets(s, second, 3), 0);
	load = get(s, "a");
	assert_true(load.scraped_ns >= a_before.scraped_ns && load.scraped_ns);
	assert_true(load.errors == 0);
	assert_true(get(s, "f").errors >= f_before.errors);
	assert_int_equal(ilb_scraper_get(s, "b", &load), -ENOENT);
	assert_true(wait_waiting(s, "c", 100, 2000) >= 0);
	assert_true(wait_waiting(s, "a", 100, 2000) >= 0);

	/* a key that stays may change its URL */
	second[2] = target(srv, "a", "/b");
	assert_int_equal(ilb_scraper_set_targets(s, second, 3), 0);
	assert_true(wait_waiting(s, "a", 9, 2000) >= 0);

	/* refused: duplicate keys, an empty key; the set stays as it was */
	second[1] = target(srv, "c", "/metrics");
	assert_int_equal(ilb_scraper_set_targets(s, second, 3), -EINVAL);
	second[1] = target(srv, "", "/metrics");
	assert_int_equal(ilb_scraper_set_targets(s, second, 3), -EINVAL);
	assert_int_equal(ilb_scraper_set_targets(s, NULL, -1), -EINVAL);
	assert_int_equal(ilb_scraper_get(s, "f", &load), 0);

	/* empty set */
	assert_int_equal(ilb_scraper_set_targets(s, NULL, 0), 0);
	assert_int_equal(ilb_scraper_get(s, "a", &load), -ENOENT);

	ilb_scraper_stop(s);
	server_free(srv);
}

static void test_timeout_honoured(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 100);
	struct ilb_scrape_target t = target(srv, "slow", "/metrics");
	struct ilb_pod_load load;
	char why[128];
	int took;

	(void)state;
	atomic_store(&srv->delay_ms, 2000);
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	took = wait_errors(s, "slow", 1, 1000);
	print_message("# first timeout after %d ms (timeout 100 ms)\n", took);
	assert_true(took >= 80 && took < 300);
	/* one request at a time: the next starts at the round after the timeout */
	took = wait_errors(s, "slow", 3, 1000);
	assert_true(took >= 0);
	load = get(s, "slow");
	assert_true(load.scraped_ns == 0);
	assert_int_equal(ilb_scraper_last_error(s, "slow", why, sizeof(why)), 0);
	assert_non_null(strcasestr(why, "timeout"));
	assert_true(atomic_load(&srv->requests) <= load.errors + 1);

	/* answers within the timeout go through */
	atomic_store(&srv->delay_ms, 10);
	server_set(srv, 6, 0, 0, 200);
	assert_true(wait_waiting(s, "slow", 6, 2000) >= 0);

	ilb_scraper_stop(s);
	server_free(srv);
}

static void test_connection_reuse(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(10, 500);
	struct ilb_scrape_target t = target(srv, "pod", "/metrics");
	uint64_t start = now_ns();
	unsigned requests, connections;

	(void)state;
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	while (atomic_load(&srv->requests) < 60 && now_ns() - start < 5000 * MS)
		sleep_ms(5);
	requests = atomic_load(&srv->requests);
	connections = atomic_load(&srv->connections);
	print_message("# %u requests over %u connections\n", requests, connections);
	assert_true(requests >= 60);
	assert_true(connections <= 2);

	ilb_scraper_stop(s);
	server_free(srv);
}

/* Gives the scraper n targets ns/pod-NNNN on srv and waits up to timeout_ms for every one to
 * have been scraped once (polling every poll_ms); returns how many were. */
static int scrape_many(struct ilb_scraper *s, const struct server *srv, struct ilb_scrape_target *targets, int n,
		       unsigned timeout_ms, unsigned poll_ms)
{
	uint64_t start;
	int fresh = 0;

	for (int i = 0; i < n; i++) {
		char key[32];

		snprintf(key, sizeof(key), "ns/pod-%04d", i);
		targets[i] = target(srv, key, "/metrics");
	}
	assert_int_equal(ilb_scraper_set_targets(s, targets, n), 0);
	start = now_ns();
	while (fresh < n && now_ns() - start < timeout_ms * MS) {
		fresh = 0;
		for (int i = 0; i < n; i++)
			fresh += get(s, targets[i].key).scraped_ns != 0;
		sleep_ms(poll_ms);
	}
	return fresh;
}

static void test_many_targets(void **state)
{
	enum { N = 256 };
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(50, 500);
	static struct ilb_scrape_target targets[N];
	uint64_t oldest = 0, errors = 0;
	unsigned requests_before;

	(void)state;
	server_set(srv, 2, 2, 0.2, 200);
	assert_int_equal(scrape_many(s, srv, targets, N, 3000, 10), N);

	/* steady state: every pod stays within the 200 ms staleness limit */
	requests_before = atomic_load(&srv->requests);
	sleep_ms(500);
	for (int i = 0; i < N; i++) {
		struct ilb_pod_load load = get(s, targets[i].key);
		uint64_t age = now_ns() - load.scraped_ns;

		oldest = age > oldest ? age : oldest;
		if (load.errors) {
			char why[128];

			ilb_scraper_last_error(s, targets[i].key, why, sizeof(why));
			print_message("# %s: %llu errors, last: %s\n", targets[i].key,
				      (unsigned long long)load.errors, why);
			errors += load.errors;
		}
	}
	print_message("# %d targets: %u requests in 500 ms, oldest reading %llu ms, %u connections, "
		      "%llu errors\n",
		      N, atomic_load(&srv->requests) - requests_before, (unsigned long long)(oldest / MS),
		      atomic_load(&srv->connections), (unsigned long long)errors);
	/* a rare timeout on a loaded machine is allowed; staleness is not */
	assert_true(errors < N / 16);
	assert_true(oldest < 200 * MS);
	assert_true(atomic_load(&srv->connections) <= 2 * N);

	ilb_scraper_stop(s);
	server_free(srv);
}

/* More pods than answer within a round: a bounded number of scrapes is in flight (the rest
 * wait their turn in the agent, not in a pod's queue until they time out), and every pod
 * is still scraped. */
static void test_in_flight_bounded(void **state)
{
	enum { N = 1024 };
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(50, 250);
	static struct ilb_scrape_target targets[N];
	uint64_t start;
	int fresh = 0;

	(void)state;
	atomic_store(&srv->delay_ms, 20);
	start = now_ns();
	fresh = scrape_many(s, srv, targets, N, 10000, 20);
	print_message("# %d targets answering in 20 ms: all scraped after %llu ms, at most %u at once\n", N,
		      (unsigned long long)((now_ns() - start) / MS), atomic_load(&srv->max_active));
	assert_int_equal(fresh, N);
	assert_true(atomic_load(&srv->max_active) <= 256);

	ilb_scraper_stop(s);
	server_free(srv);
}

static void count_round(void *ctx)
{
	atomic_fetch_add((atomic_uint *)ctx, 1);
}

static void test_on_round(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 500);
	struct ilb_scrape_target t = target(srv, "pod", "/metrics");
	atomic_uint rounds = 0;

	(void)state;
	ilb_scraper_on_round(s, count_round, &rounds);
	assert_int_equal(ilb_scraper_set_targets(s, &t, 1), 0);
	sleep_ms(300);
	print_message("# %u rounds in 300 ms at 20 ms\n", atomic_load(&rounds));
	assert_true(atomic_load(&rounds) >= 5 && atomic_load(&rounds) <= 20);

	/* a pod slower than the interval does not hold the rounds back */
	{
		struct ilb_scrape_target two[] = { t, target(srv, "slow", "/slow") };

		assert_int_equal(ilb_scraper_set_targets(s, two, 2), 0);
		sleep_ms(50);
		atomic_store(&rounds, 0);
		sleep_ms(300);
		print_message("# %u rounds in 300 ms with a pod answering in 1.5 s\n", atomic_load(&rounds));
		assert_true(atomic_load(&rounds) >= 5 && atomic_load(&rounds) <= 20);
	}
	ilb_scraper_on_round(s, NULL, NULL);

	ilb_scraper_stop(s);
	server_free(srv);
}

/* Stopping with requests in flight returns at once and leaks nothing (ASan builds). */
static void test_stop_in_flight(void **state)
{
	struct server *srv = server_start();
	struct ilb_scraper *s = ilb_scraper_start(20, 5000);
	struct ilb_scrape_target targets[] = { target(srv, "a", "/metrics"), target(srv, "b", "/metrics") };
	uint64_t start;

	(void)state;
	atomic_store(&srv->delay_ms, 3000);
	assert_int_equal(ilb_scraper_set_targets(s, targets, 2), 0);
	while (atomic_load(&srv->requests) < 2)
		sleep_ms(5);
	/* a removed target with its request in flight */
	assert_int_equal(ilb_scraper_set_targets(s, targets, 1), 0);
	sleep_ms(30);
	start = now_ns();
	ilb_scraper_stop(s);
	assert_true(now_ns() - start < 500 * MS);
	ilb_scraper_stop(NULL);
	server_free(srv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values_arrive),
		cmocka_unit_test(test_stale_when_server_stops),
		cmocka_unit_test(test_bad_answers_count_as_errors),
		cmocka_unit_test(test_set_targets_keeps_state),
		cmocka_unit_test(test_timeout_honoured),
		cmocka_unit_test(test_connection_reuse),
		cmocka_unit_test(test_many_targets),
		cmocka_unit_test(test_in_flight_bounded),
		cmocka_unit_test(test_on_round),
		cmocka_unit_test(test_stop_in_flight),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
