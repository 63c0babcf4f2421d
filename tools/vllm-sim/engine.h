/* engine.h - the simulated GPU: a continuous-batching scheduler over a running batch
 * and a waiting queue, with a paged KV cache, a prefix cache and LoRA slots. */
#ifndef VLLM_SIM_ENGINE_H
#define VLLM_SIM_ENGINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"

struct engine;

/* One generation request. Shared by the HTTP side and the engine, freed on the last put. */
struct sim_req {
	pthread_mutex_t lock;	/* guards the "shared" fields below */
	int refs;

	/* Set by the HTTP side before submit, read-only afterwards. */
	char *prompt;
	size_t prompt_len;
	int lora;		/* index into cfg->loras, -1 for the base model */
	int max_tokens;		/* -1 when the request did not say */
	bool ignore_eos;
	uint64_t seed;

	/* Set by engine_submit, read-only afterwards. */
	int prompt_tokens;
	int out_tokens;
	char *text;		/* out_tokens tokens of answer */
	const char *finish;	/* "stop" or "length" */

	/* Shared. */
	int produced;		/* tokens generated so far */
	int cached_tokens;	/* prompt tokens served from the prefix cache */
	bool done;
	bool cancelled;
	bool suspended;		/* the HTTP side waits for progress; wake it */
	void *waiter;

	/* Engine-private, under the engine's lock. */
	struct sim_req *prev, *next;
	uint64_t *hashes;
	int nhash;
	int *blocks;
	int nblocks;
	int64_t t_arrival, t_sched, t_first;
};

struct sim_req *sim_req_new(void);
void sim_req_get(struct sim_req *r);
void sim_req_put(struct sim_req *r);

/* wake(waiter) is called with r->lock held when a suspended request makes progress. */
struct engine *engine_new(const struct sim_config *cfg, struct metrics *m, void (*wake)(void *waiter));
int engine_start(struct engine *e);
void engine_stop(struct engine *e);

/* Queues r (taking a reference). -E2BIG when prompt plus output cannot fit the
 * model length or the whole KV cache; r->prompt_tokens says how long the prompt was. */
int engine_submit(struct engine *e, struct sim_req *r);

/* Marks r abandoned by its client; the engine frees its slot at the next step. */
void engine_cancel(struct sim_req *r);

void engine_stats(struct engine *e, struct engine_stats *st);

#endif
