/* engine.c - the scheduler thread. Each step admits waiting requests into the batch
 * (KV blocks and LoRA slots permitting), costs prefill of the uncached prompt tokens
 * plus one decode pass whose time grows with the batch, then emits one token per sequence. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine.h"
#include "kvcache.h"
#include "tokens.h"

struct lora_slot {
	int lora;		/* adapter index, -1 when empty */
	int64_t last_used;
};

struct engine {
	const struct sim_config *cfg;
	struct metrics *m;
	void (*wake)(void *waiter);
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	bool started, stop;

	struct sim_req *wait_head, *wait_tail;
	int nwaiting;
	struct sim_req **running;
	int nrunning;
	struct kvcache *kv;
	struct lora_slot *slots;
	int *lora_running;	/* per adapter: requests in the batch */
	int *lora_waiting;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Wall-clock nanoseconds back to simulated seconds, so metrics read like a real GPU's. */
static double sim_seconds(const struct engine *e, int64_t ns)
{
	if (e->cfg->time_scale <= 0)
		return 0;
	return (double)ns / 1e9 / e->cfg->time_scale;
}

struct sim_req *sim_req_new(void)
{
	struct sim_req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	r->refs = 1;
	r->lora = -1;
	r->max_tokens = -1;
	return r;
}

void sim_req_get(struct sim_req *r)
{
	__atomic_add_fetch(&r->refs, 1, __ATOMIC_RELAXED);
}

void sim_req_put(struct sim_req *r)
{
	if (!r || __atomic_sub_fetch(&r->refs, 1, __ATOMIC_ACQ_REL))
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->prompt);
	free(r->text);
	free(r->hashes);
	free(r->blocks);
	free(r);
}

struct engine *engine_new(const struct sim_config *cfg, struct metrics *m, void (*wake)(void *))
{
	struct engine *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cfg = cfg;
	e->m = m;
	e->wake = wake;
	pthread_mutex_init(&e->lock, NULL);
	pthread_cond_init(&e->cond, NULL);
	e->running = calloc(cfg->max_num_seqs, sizeof(*e->running));
	e->kv = kv_new(cfg->num_gpu_blocks);
	e->slots = calloc(cfg->max_loras, sizeof(*e->slots));
	e->lora_running = calloc(cfg->n_loras + 1, sizeof(int));
	e->lora_waiting = calloc(cfg->n_loras + 1, sizeof(int));
	if (!e->running || !e->kv || !e->slots || !e->lora_running || !e->lora_waiting) {
		free(e->running);
		kv_free_all(e->kv);
		free(e->slots);
		free(e->lora_running);
		free(e->lora_waiting);
		free(e);
		return NULL;
	}
	for (int i = 0; i < cfg->max_loras; i++)
		e->slots[i].lora = -1;
	return e;
}

/* Answer length and text are fixed at submit from the seeds, so runs repeat exactly. */
static int prepare(struct engine *e, struct sim_req *r)
{
	const struct sim_config *c = e->cfg;
	uint64_t s = r->seed ^ c->seed ^ tok_hash(r->prompt, r->prompt_len, (uint64_t)(r->lora + 1));
	int natural = c->out_len_min + (int)(tok_rand(&s) % (uint64_t)(c->out_len_max - c->out_len_min + 1));
	int room = c->max_model_len - r->prompt_tokens;
	int out;

	r->finish = "stop";
	if (r->max_tokens > 0) {
		out = r->ignore_eos || natural > r->max_tokens ? r->max_tokens : natural;
		if (r->prompt_tokens + r->max_tokens > c->max_model_len)
			return -E2BIG;
		if (out == r->max_tokens)
			r->finish = "length";
	} else {
		if (room < 1)
			return -E2BIG;
		out = natural < room ? natural : room;
		if (out == room)
			r->finish = "length";
	}
	r->nblocks = (r->prompt_tokens + out + c->block_size - 1) / c->block_size;
	if (r->nblocks > c->num_gpu_blocks)
		return -E2BIG;

	r->out_tokens = out;
	r->text = malloc((size_t)out * SIM_CHARS_PER_TOKEN + 1);
	r->blocks = malloc(sizeof(int) * r->nblocks);
	int maxh = r->prompt_tokens / c->block_size;
	r->hashes = malloc(sizeof(uint64_t) * (maxh ? maxh : 1));
	if (!r->text || !r->blocks || !r->hashes)
		return -ENOMEM;
	tok_generate(s, out, r->text);
	const char *root = r->lora >= 0 ? c->loras[r->lora].name : c->served[0];
	r->nhash = tok_block_hashes(root, r->prompt, r->prompt_len, c->block_size, r->hashes, maxh);
	return 0;
}

int engine_submit(struct engine *e, struct sim_req *r)
{
	int err;

	r->prompt_tokens = tok_count(r->prompt_len);
	err = prepare(e, r);
	if (err)
		return err;
	r->t_arrival = now_ns();

	/* Instant mode: no GPU at all, for benchmarking whatever sits in front. */
	if (e->cfg->time_scale <= 0) {
		r->produced = r->out_tokens;
		r->done = true;
		metrics_request_done(e->m, 0, 0, 0, 0, r->prompt_tokens, r->out_tokens, 0, r->finish);
		return 0;
	}

	sim_req_get(r);
	pthread_mutex_lock(&e->lock);
	r->prev = e->wait_tail;
	r->next = NULL;
	if (e->wait_tail)
		e->wait_tail->next = r;
	else
		e->wait_head = r;
	e->wait_tail = r;
	e->nwaiting++;
	e->lora_waiting[r->lora + 1]++;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

void engine_cancel(struct sim_req *r)
{
	pthread_mutex_lock(&r->lock);
	r->cancelled = true;
	r->waiter = NULL;
	r->suspended = false;
	pthread_mutex_unlock(&r->lock);
}

static void wait_unlink(struct engine *e, struct sim_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		e->wait_head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		e->wait_tail = r->prev;
	r->prev = r->next = NULL;
	e->nwaiting--;
	e->lora_waiting[r->lora + 1]--;
}

/* Ends a request: wakes its waiter, records latencies and drops the engine's reference. */
static void finish(struct engine *e, struct sim_req *r, bool aborted, int64_t now)
{
	pthread_mutex_lock(&r->lock);
	r->done = true;
	if (r->suspended && r->waiter) {
		r->suspended = false;
		e->wake(r->waiter);
	}
	pthread_mutex_unlock(&r->lock);

	double e2e = sim_seconds(e, now - r->t_arrival);
	double queue = r->t_sched ? sim_seconds(e, r->t_sched - r->t_arrival) : e2e;
	double ttft = r->t_first ? sim_seconds(e, r->t_first - r->t_arrival) : -1;
	double tpot = r->t_first && r->produced > 1 ? sim_seconds(e, now - r->t_first) / (r->produced - 1) : -1;
	metrics_request_done(e->m, ttft, tpot, e2e, queue, r->prompt_tokens, r->produced, r->cached_tokens,
			     aborted ? "abort" : r->finish);
	sim_req_put(r);
}

static bool is_cancelled(struct sim_req *r)
{
	pthread_mutex_lock(&r->lock);
	bool c = r->cancelled;
	pthread_mutex_unlock(&r->lock);
	return c;
}

static int slot_of(const struct engine *e, int lora)
{
	for (int i = 0; i < e->cfg->max_loras; i++)
		if (e->slots[i].lora == lora)
			return i;
	return -1;
}

/* Picks a slot for an adapter: its own, an empty one, or the least recently used
 * one that no running request holds. -EBUSY when every slot is held. */
static int lora_pick(const struct engine *e, int lora)
{
	int best = -1;

	if (lora < 0)
		return 0;
	int s = slot_of(e, lora);
	if (s >= 0)
		return s;
	for (int i = 0; i < e->cfg->max_loras; i++) {
		int l = e->slots[i].lora;
		if (l < 0)
			return i;
		if (e->lora_running[l + 1] > 0)
			continue;
		if (best < 0 || e->slots[i].last_used < e->slots[best].last_used)
			best = i;
	}
	return best >= 0 ? best : -EBUSY;
}

/* Moves waiting requests into the batch in arrival order. A request whose adapter
 * has no slot is passed over (as vLLM does); one that does not fit the KV cache stops
 * admission so that big requests are not starved. Returns the step's extra cost. */
static double admit(struct engine *e, int64_t now)
{
	const struct sim_config *c = e->cfg;
	double cost_us = 0;
	struct sim_req *r = e->wait_head, *next;

	for (; r && e->nrunning < c->max_num_seqs; r = next) {
		next = r->next;
		bool load = false;
		int hit, slot;

		slot = lora_pick(e, r->lora);
		if (slot < 0)
			continue;
		if (kv_alloc(e->kv, r->hashes, r->nhash, r->nblocks, r->blocks, &hit))
			break;
		if (r->lora >= 0) {
			load = e->slots[slot].lora != r->lora;
			e->slots[slot].lora = r->lora;
			e->slots[slot].last_used = now;
		}
		wait_unlink(e, r);
		e->running[e->nrunning++] = r;
		e->lora_running[r->lora + 1]++;
		r->t_sched = now;

		/* A fully cached prompt still computes its last token. */
		int cached = hit * c->block_size;
		if (cached >= r->prompt_tokens)
			cached = r->prompt_tokens - 1;
		pthread_mutex_lock(&r->lock);
		r->cached_tokens = cached;
		pthread_mutex_unlock(&r->lock);
		metrics_prefix_query(e->m, r->prompt_tokens, cached);
		cost_us += (r->prompt_tokens - cached) * c->prefill_us_per_token;
		if (load)
			cost_us += c->lora_load_us;
	}
	return cost_us;
}

static void drop_cancelled(struct engine *e, int64_t now)
{
	struct sim_req *r, *next;

	for (r = e->wait_head; r; r = next) {
		next = r->next;
		if (is_cancelled(r)) {
			wait_unlink(e, r);
			finish(e, r, true, now);
		}
	}
}

/* One token for every sequence in the batch; finished ones leave it. */
static void advance(struct engine *e, int64_t now)
{
	int kept = 0;

	for (int i = 0; i < e->nrunning; i++) {
		struct sim_req *r = e->running[i];
		bool cancelled, done;

		pthread_mutex_lock(&r->lock);
		cancelled = r->cancelled;
		if (!cancelled) {
			if (r->produced++ == 0)
				r->t_first = now;
			if (r->suspended && r->waiter) {
				r->suspended = false;
				e->wake(r->waiter);
			}
		}
		done = cancelled || r->produced >= r->out_tokens;
		pthread_mutex_unlock(&r->lock);

		if (!done) {
			e->running[kept++] = r;
			continue;
		}
		kv_release(e->kv, r->blocks, r->nblocks);
		e->lora_running[r->lora + 1]--;
		finish(e, r, cancelled, now);
	}
	e->nrunning = kept;
}

static void *engine_main(void *arg)
{
	struct engine *e = arg;
	const struct sim_config *c = e->cfg;

	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		int64_t now = now_ns();

		drop_cancelled(e, now);
		double cost_us = admit(e, now);
		if (!e->nrunning) {
			pthread_cond_wait(&e->cond, &e->lock);
			continue;
		}
		cost_us += c->decode_step_us + c->decode_us_per_seq * e->nrunning;
		int64_t end = now + (int64_t)(cost_us * 1000 * c->time_scale);

		/* New arrivals queue up during the step and join at the next one. */
		pthread_mutex_unlock(&e->lock);
		struct timespec ts = { .tv_sec = end / 1000000000, .tv_nsec = end % 1000000000 };
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		pthread_mutex_lock(&e->lock);
		advance(e, now_ns());
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int engine_start(struct engine *e)
{
	int err = pthread_create(&e->thread, NULL, engine_main, e);
	if (err)
		return -err;
	e->started = true;
	return 0;
}

void engine_stop(struct engine *e)
{
	if (!e->started)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	pthread_join(e->thread, NULL);
	e->started = false;
}

static void lora_names(const struct engine *e, const int *count, char *out, size_t sz)
{
	size_t n = 0;
	out[0] = 0;
	for (int i = 0; i < e->cfg->n_loras; i++) {
		if (!count[i + 1])
			continue;
		int w = snprintf(out + n, sz - n, "%s%s", n ? "," : "", e->cfg->loras[i].name);
		if (w < 0 || (size_t)w >= sz - n)
			break;
		n += w;
	}
}

void engine_stats(struct engine *e, struct engine_stats *st)
{
	pthread_mutex_lock(&e->lock);
	st->running = e->nrunning;
	st->waiting = e->nwaiting;
	st->kv_used = kv_used(e->kv);
	st->kv_total = kv_total(e->kv);
	lora_names(e, e->lora_running, st->running_loras, sizeof(st->running_loras));
	lora_names(e, e->lora_waiting, st->waiting_loras, sizeof(st->waiting_loras));
	pthread_mutex_unlock(&e->lock);
}
