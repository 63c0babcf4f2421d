/* config.h - the simulator's settings, filled from the command line by main.c.
 * Times are in simulated units; --time-scale maps them to wall-clock time. */
#ifndef VLLM_SIM_CONFIG_H
#define VLLM_SIM_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

/* Characters per token: the simulator has no tokenizer, so it counts ~4 chars
 * per token, which is close to what BPE tokenizers give on English text. */
#define SIM_CHARS_PER_TOKEN 4

enum sim_engine_kind {
	SIM_ENGINE_VLLM,
	SIM_ENGINE_SGLANG,
	SIM_ENGINE_TRTLLM,
};

struct sim_lora {
	char *name;
	char *path;
};

#define SIM_MAX_NAMES 32

struct sim_config {
	const char *host;
	int port;
	const char *model;		/* --model: weights path or hub id */
	const char *served[SIM_MAX_NAMES];
	int n_served;			/* served[0] is the primary name */
	struct sim_lora loras[SIM_MAX_NAMES];
	int n_loras;
	int max_loras;
	int max_num_seqs;
	int num_gpu_blocks;
	int block_size;			/* tokens per KV block */
	int max_model_len;
	double time_scale;		/* wall seconds per simulated second; 0 = instant */
	uint64_t seed;
	enum sim_engine_kind engine;
	bool legacy_metrics;
	/* The GPU cost model, in simulated time. */
	double prefill_us_per_token;	/* per prompt token that misses the prefix cache */
	double decode_step_us;		/* one forward pass over the batch */
	double decode_us_per_seq;	/* extra per sequence in the batch */
	double lora_load_us;		/* first use of an adapter on this pod */
	int out_len_min;		/* natural answer length when max_tokens does not cut it */
	int out_len_max;
	int verbose;
};

#endif
