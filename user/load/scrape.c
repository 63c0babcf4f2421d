/* scrape.c - one thread drives libcurl multi over every target's /metrics.
 *
 * Each target keeps its easy handle and body buffer for its whole life, so a round costs no
 * allocation once the buffers have grown, and the multi handle's connection cache keeps one
 * idle keep-alive connection per pod between rounds. Only the scraper thread touches curl;
 * other threads reach the targets through `lock`, and removed targets are handed to the
 * thread (the retired list) which frees them, so a transfer never outlives its slot. */
#include "scrape.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A /metrics page bigger than this is refused: vLLM's is a few hundred kB at most. */
#define MAX_BODY (16u << 20)
#define DEFAULT_TIMEOUT_MS 1000u
/* Scrapes in flight at once. Past what the pods and this core can answer within the
 * timeout, more at once only makes every one of them time out; with a cap the others
 * wait here, due, and are started in turn as answers come back. */
#define MAX_IN_FLIGHT 256

struct slot {
	struct ilb_scrape_target target; /* under lock */
	struct ilb_pod_load load; /* under lock */
	char last_error[128]; /* under lock */
	/* the rest belongs to the scraper thread */
	CURL *easy;
	char applied_url[sizeof(((struct ilb_scrape_target *)0)->url)];
	enum ilb_engine request_engine;
	bool in_flight;
	bool due; /* its round came and it is not started yet */
	char *body;
	size_t body_len, body_cap;
	struct slot *next_retired;
};

struct ilb_scraper {
	pthread_t thread;
	pthread_mutex_t lock;
	CURLM *multi;
	struct curl_slist *headers;
	unsigned interval_ms, timeout_ms;
	/* under lock */
	struct slot **slots; /* sorted by key */
	int n_slots;
	struct slot *retired;
	bool stopping;
	void (*on_round)(void *ctx);
	void *on_round_ctx;
	/* scraper thread only */
	int in_flight;
	int cursor; /* where the next search for a due target starts */
	long max_connects;
};

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int key_cmp(const void *key, const void *elem)
{
	return strcmp(key, (*(struct slot *const *)elem)->target.key);
}

static struct slot *find_slot(struct slot **slots, int n, const char *key)
{
	struct slot **found;

	if (!n)
		return NULL;
	found = bsearch(key, slots, (size_t)n, sizeof(*slots), key_cmp);

	return found ? *found : NULL;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
	struct slot *slot = userdata;
	size_t n = size * nmemb;

	if (n > MAX_BODY - slot->body_len)
		return 0; /* curl fails the transfer with CURLE_WRITE_ERROR */
	if (slot->body_len + n > slot->body_cap) {
		size_t cap = slot->body_cap ? slot->body_cap : 16384;
		char *body;

		while (cap < slot->body_len + n)
			cap *= 2;
		body = realloc(slot->body, cap);
		if (!body)
			return 0;
		slot->body = body;
		slot->body_cap = cap;
	}
	memcpy(slot->body + slot->body_len, data, n);
	slot->body_len += n;
	return n;
}

static CURL *make_easy(struct ilb_scraper *s, struct slot *slot)
{
	CURL *easy = curl_easy_init();

	if (!easy)
		return NULL;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, slot);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, slot);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)s->timeout_ms);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	/* the classic text format, even from servers that could offer OpenMetrics */
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, s->headers);
	return easy;
}

/* Under lock, on the scraper thread. */
static void start_request(struct ilb_scraper *s, struct slot *slot)
{
	if (!slot->easy) {
		slot->easy = make_easy(s, slot);
		if (!slot->easy)
			goto failed;
	}
	if (strcmp(slot->applied_url, slot->target.url)) {
		if (curl_easy_setopt(slot->easy, CURLOPT_URL, slot->target.url) != CURLE_OK)
			goto failed;
		strcpy(slot->applied_url, slot->target.url);
	}
	slot->request_engine = slot->target.engine;
	slot->body_len = 0;
	if (curl_multi_add_handle(s->multi, slot->easy) != CURLM_OK)
		goto failed;
	slot->in_flight = true;
	s->in_flight++;
	return;
failed:
	slot->load.errors++;
	strcpy(slot->last_error, "could not start the request");
}

/* Decides what a finished transfer says about its pod. */
static void finish_request(struct ilb_scraper *s, struct slot *slot, CURLcode result)
{
	struct ilb_pod_load fresh = { 0 };
	char error[sizeof(slot->last_error)] = "";
	long status = 0;
	bool good = false;

	curl_multi_remove_handle(s->multi, slot->easy);
	slot->in_flight = false;
	s->in_flight--;
	if (result != CURLE_OK) {
		snprintf(error, sizeof(error), "%s", curl_easy_strerror(result));
	} else {
		curl_easy_getinfo(slot->easy, CURLINFO_RESPONSE_CODE, &status);
		if (status != 200)
			snprintf(error, sizeof(error), "HTTP status %ld", status);
		else
			good = !ilb_load_from_metrics(slot->body ? slot->body : "", slot->body_len,
						      slot->request_engine, &fresh, error, sizeof(error));
	}

	pthread_mutex_lock(&s->lock);
	if (good) {
		uint64_t errors = slot->load.errors;

		slot->load = fresh;
		slot->load.errors = errors;
		slot->load.scraped_ns = monotonic_ns();
		slot->last_error[0] = '\0';
	} else {
		slot->load.errors++;
		memcpy(slot->last_error, error, sizeof(error));
	}
	pthread_mutex_unlock(&s->lock);
}

static void free_slot(struct ilb_scraper *s, struct slot *slot)
{
	if (slot->easy) {
		if (slot->in_flight) {
			curl_multi_remove_handle(s->multi, slot->easy);
			s->in_flight--;
		}
		curl_easy_cleanup(slot->easy);
	}
	free(slot->body);
	free(slot);
}

/* Frees removed targets; under lock, on the scraper thread. */
static void reap_retired(struct ilb_scraper *s)
{
	while (s->retired) {
		struct slot *slot = s->retired;

		s->retired = slot->next_retired;
		free_slot(s, slot);
	}
}

/* Lets the connection cache hold one idle connection per target. */
static void size_connection_cache(struct ilb_scraper *s)
{
	long want = s->n_slots + 8;

	if (want != s->max_connects) {
		curl_multi_setopt(s->multi, CURLMOPT_MAXCONNECTS, want);
		s->max_connects = want;
	}
}

static void drain_messages(struct ilb_scraper *s)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(s->multi, &left))) {
		struct slot *slot = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&slot);
		if (slot)
			finish_request(s, slot, msg->data.result);
	}
}

/* Starts due targets, up to MAX_IN_FLIGHT, going round from where the last search ended
 * so that none waits behind the same others each time. Under lock. */
static void start_due(struct ilb_scraper *s)
{
	for (int seen = 0; seen < s->n_slots && s->in_flight < MAX_IN_FLIGHT; seen++) {
		struct slot *slot;

		if (s->cursor >= s->n_slots)
			s->cursor = 0;
		slot = s->slots[s->cursor++];
		if (slot->due && !slot->in_flight) {
			slot->due = false;
			start_request(s, slot);
		}
	}
}

/* Every interval, makes due each target that has no request in flight. on_round fires
 * when all requests of a round are done, or when the next round begins with some still in
 * flight (a pod that answers slowly holds back no one's news beyond one interval). */
static void *scraper_main(void *arg)
{
	struct ilb_scraper *s = arg;
	uint64_t interval_ns = (uint64_t)s->interval_ms * 1000000u;
	uint64_t next_round = monotonic_ns();
	bool round_open = false;

	for (;;) {
		void (*on_round)(void *ctx) = NULL;
		void *on_round_ctx = NULL;
		uint64_t now;
		bool new_round, round_done = false;
		int running, wait_ms;

		pthread_mutex_lock(&s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		reap_retired(s);
		size_connection_cache(s);
		now = monotonic_ns();
		new_round = now >= next_round;
		if (new_round) {
			/* a slow pod must not hold back the news of the others for its whole timeout */
			round_done = round_open;
			next_round += interval_ns;
			if (next_round <= now) /* fell behind: skip the missed rounds */
				next_round = now + interval_ns;
			round_open = true;
		}
		/* targets never scraped are due at once rather than at the next round */
		for (int i = 0; i < s->n_slots; i++) {
			struct slot *slot = s->slots[i];

			if (!slot->in_flight && (new_round || !slot->easy))
				slot->due = true;
		}
		start_due(s);
		on_round = s->on_round;
		on_round_ctx = s->on_round_ctx;
		pthread_mutex_unlock(&s->lock);

		if (round_done && on_round)
			on_round(on_round_ctx);
		curl_multi_perform(s->multi, &running);
		drain_messages(s);
		if (s->in_flight < MAX_IN_FLIGHT) {
			pthread_mutex_lock(&s->lock);
			start_due(s);
			pthread_mutex_unlock(&s->lock);
			/* what ends in here must be read now: no socket wakes the poll for it */
			curl_multi_perform(s->multi, &running);
			drain_messages(s);
		}
		if (round_open && !s->in_flight) {
			round_open = false;
			if (on_round)
				on_round(on_round_ctx);
		}

		now = monotonic_ns();
		wait_ms = next_round > now ? (int)((next_round - now + 999999) / 1000000) : 0;
		if (wait_ms > 1000)
			wait_ms = 1000;
		curl_multi_poll(s->multi, NULL, 0, wait_ms, NULL);
	}
	return NULL;
}

struct ilb_scraper *ilb_scraper_start(unsigned interval_ms, unsigned timeout_ms)
{
	struct ilb_scraper *s;
	int err;

	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		errno = ENOMEM;
		return NULL;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		err = ENOMEM;
		goto fail_global;
	}
	s->interval_ms = interval_ms ? interval_ms : 1;
	s->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
	s->max_connects = -1;
	err = pthread_mutex_init(&s->lock, NULL);
	if (err)
		goto fail_free;
	err = ENOMEM;
	s->multi = curl_multi_init();
	if (!s->multi)
		goto fail_mutex;
	s->headers = curl_slist_append(NULL, "Accept: text/plain;version=0.0.4");
	if (!s->headers)
		goto fail_multi;
	err = pthread_create(&s->thread, NULL, scraper_main, s);
	if (err)
		goto fail_headers;
	return s;

fail_headers:
	curl_slist_free_all(s->headers);
fail_multi:
	curl_multi_cleanup(s->multi);
fail_mutex:
	pthread_mutex_destroy(&s->lock);
fail_free:
	free(s);
fail_global:
	curl_global_cleanup();
	errno = err;
	return NULL;
}

static bool target_valid(const struct ilb_scrape_target *t)
{
	return t->key[0] && memchr(t->key, '\0', sizeof(t->key)) && t->url[0] &&
	       memchr(t->url, '\0', sizeof(t->url));
}

static int target_ptr_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct ilb_scrape_target *const *)a)->key,
		      (*(const struct ilb_scrape_target *const *)b)->key);
}

int ilb_scraper_set_targets(struct ilb_scraper *s, const struct ilb_scrape_target *targets, int n)
{
	const struct ilb_scrape_target **sorted = NULL;
	struct slot **next = NULL, **old;
	int n_old, ret = 0;

	if (n < 0 || (n && !targets))
		return -EINVAL;
	for (int i = 0; i < n; i++)
		if (!target_valid(&targets[i]))
			return -EINVAL;
	if (n) {
		sorted = calloc((size_t)n, sizeof(*sorted));
		next = calloc((size_t)n, sizeof(*next));
		if (!sorted || !next) {
			ret = -ENOMEM;
			goto out;
		}
		for (int i = 0; i < n; i++)
			sorted[i] = &targets[i];
		qsort(sorted, (size_t)n, sizeof(*sorted), target_ptr_cmp);
	}
	for (int i = 0; i + 1 < n; i++)
		if (!strcmp(sorted[i]->key, sorted[i + 1]->key)) {
			ret = -EINVAL;
			goto out;
		}

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < n; i++) {
		next[i] = find_slot(s->slots, s->n_slots, sorted[i]->key);
		if (next[i])
			continue;
		next[i] = calloc(1, sizeof(*next[i]));
		if (!next[i]) {
			/* undo: free only the slots made here, those the old set does not hold */
			for (int j = 0; j < i; j++)
				if (!find_slot(s->slots, s->n_slots, sorted[j]->key))
					free(next[j]);
			pthread_mutex_unlock(&s->lock);
			ret = -ENOMEM;
			goto out;
		}
		next[i]->load.max_lora = -1;
	}
	/* a target that stays keeps its load, handle and connection; its URL may change */
	for (int i = 0; i < n; i++)
		next[i]->target = *sorted[i];
	old = s->slots;
	n_old = s->n_slots;
	for (int i = 0; i < n_old; i++) {
		if (find_slot(next, n, old[i]->target.key))
			continue;
		old[i]->next_retired = s->retired;
		s->retired = old[i];
	}
	s->slots = next;
	s->n_slots = n;
	next = old;
	pthread_mutex_unlock(&s->lock);
	curl_multi_wakeup(s->multi);
out:
	free(sorted);
	free(next);
	return ret;
}

static struct slot *find_locked(struct ilb_scraper *s, const char *key)
{
	return key ? find_slot(s->slots, s->n_slots, key) : NULL;
}

int ilb_scraper_get(struct ilb_scraper *s, const char *key, struct ilb_pod_load *out)
{
	struct slot *slot;

	pthread_mutex_lock(&s->lock);
	slot = find_locked(s, key);
	if (slot)
		*out = slot->load;
	pthread_mutex_unlock(&s->lock);
	return slot ? 0 : -ENOENT;
}

int ilb_scraper_last_error(struct ilb_scraper *s, const char *key, char *buf, size_t len)
{
	struct slot *slot;

	pthread_mutex_lock(&s->lock);
	slot = find_locked(s, key);
	if (slot && len)
		snprintf(buf, len, "%s", slot->last_error);
	pthread_mutex_unlock(&s->lock);
	return slot ? 0 : -ENOENT;
}

void ilb_scraper_on_round(struct ilb_scraper *s, void (*cb)(void *ctx), void *ctx)
{
	pthread_mutex_lock(&s->lock);
	s->on_round = cb;
	s->on_round_ctx = ctx;
	pthread_mutex_unlock(&s->lock);
}

void ilb_scraper_stop(struct ilb_scraper *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_mutex_unlock(&s->lock);
	curl_multi_wakeup(s->multi);
	pthread_join(s->thread, NULL);

	reap_retired(s);
	for (int i = 0; i < s->n_slots; i++)
		free_slot(s, s->slots[i]);
	free(s->slots);
	curl_multi_cleanup(s->multi);
	curl_slist_free_all(s->headers);
	pthread_mutex_destroy(&s->lock);
	free(s);
	curl_global_cleanup();
}
