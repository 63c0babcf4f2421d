/* load.h - per-pod load from a model server's Prometheus /metrics, and the load score the
 * XDP lane compares. Metric names per engine (vLLM, SGLang, TRT-LLM). */
#ifndef ILB_LOAD_H
#define ILB_LOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ilb_engine {
	ILB_ENGINE_VLLM = 0,
	ILB_ENGINE_SGLANG,
	ILB_ENGINE_TRTLLM,
};

#define ILB_MAX_LORA_NAMES 16

struct ilb_pod_load {
	double waiting; /* requests queued */
	double running; /* requests in the running batch */
	double kv_usage; /* 0..1 */
	int max_lora; /* -1 unknown */
	int n_running_lora, n_waiting_lora;
	char running_lora[ILB_MAX_LORA_NAMES][64];
	char waiting_lora[ILB_MAX_LORA_NAMES][64];
	int block_size, num_gpu_blocks; /* from cache_config_info, 0 unknown */
	char model[256]; /* the model_name label of the queue metric: the base model served */
	uint64_t scraped_ns; /* CLOCK_MONOTONIC of the last good scrape, 0 never */
	uint64_t errors; /* failed scrapes */
};

/* "vllm", "sglang", "trtllm" (the pod label); unknown or NULL gives vLLM. */
enum ilb_engine ilb_engine_parse(const char *label);
const char *ilb_engine_name(enum ilb_engine engine);

/* Reads the engine's metrics out of a Prometheus text body into *out (scraped_ns and
 * errors untouched). Returns 0, or -EINVAL with a reason in err when the text is malformed. */
int ilb_load_from_metrics(const char *text, size_t len, enum ilb_engine engine, struct ilb_pod_load *out,
			  char *err, size_t errlen);

/* The score written to struct backend.load_score: 0 idle .. ILB_SCORE_MAX saturated.
 * A pod whose last good scrape is older than stale_ns (or never) scores ILB_SCORE_MAX. */
uint32_t ilb_load_score(const struct ilb_pod_load *load, uint64_t now_ns, uint64_t stale_ns);
/* Saturated as the scheduler sees it: stale, or queue > 5, or kv > 0.8. */
bool ilb_load_saturated(const struct ilb_pod_load *load, uint64_t now_ns, uint64_t stale_ns);

#endif
