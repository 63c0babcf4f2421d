/* metrics.h - Prometheus text exposition with the engine's own metric names
 * (vLLM, SGLang or TRT-LLM), plus the latency histograms the engine feeds. */
#ifndef VLLM_SIM_METRICS_H
#define VLLM_SIM_METRICS_H

#include <stddef.h>

#include "config.h"

struct metrics;

/* A point-in-time view of the engine, taken under its lock. */
struct engine_stats {
	int running;
	int waiting;
	int kv_used;
	int kv_total;
	char running_loras[512];	/* comma-separated adapter names */
	char waiting_loras[512];
};

struct metrics *metrics_new(const struct sim_config *cfg);

/* Simulated seconds. */
void metrics_request_done(struct metrics *m, double ttft, double tpot, double e2e, double queue,
			  int prompt_tokens, int gen_tokens, int cached_tokens, const char *finish);
void metrics_prefix_query(struct metrics *m, int queried_tokens, int hit_tokens);

/* Renders /metrics into a malloc'd buffer. */
char *metrics_render(struct metrics *m, const struct engine_stats *st, size_t *len);

#endif
