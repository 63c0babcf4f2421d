/* workload.h - turns the seed and the workload flags into request bodies.
 * Request i is the same for the same flags and seed, whatever the timing of the run. */
#ifndef LOADGEN_WORKLOAD_H
#define LOADGEN_WORKLOAD_H

#include <stdint.h>

#include "buf.h"
#include "flags.h"
#include "rng.h"

/* Approximate characters per token, so that N tokens is 4N characters of text. */
#define LG_CHARS_PER_TOKEN 4

/* sharegpt-like length distributions: lognormal, mean = exp(mu + sigma^2/2), then capped.
 * Input: mean 250 tokens, median 152; output: mean 200, median 133. ShareGPT's own lengths
 * are right-skewed the same way (a long tail of pasted documents and long answers). */
#define SG_IN_MEAN 250.0
#define SG_IN_SIGMA 1.0
#define SG_IN_MIN 4
#define SG_IN_MAX 4096
#define SG_OUT_MEAN 200.0
#define SG_OUT_SIGMA 0.9
#define SG_OUT_MIN 1
#define SG_OUT_MAX 2048

struct lg_spec {
	uint64_t index;
	int model;
	int group;  /* shared-prefix group, else -1 */
	int prompt; /* shared-prefix prompt within the group, else -1 */
	uint32_t in_tokens;  /* as generated: characters / 4 */
	uint32_t max_tokens;
	struct buf body;
};

struct workload {
	const struct lg_config *cfg;
	struct rng rng;
	uint64_t count;
	double *cum_weight;
	int *group_model;
	char **sys_prompt; /* per group, built on first use */
	uint32_t *perm;	   /* shared-prefix order of (group, prompt) pairs */
	uint32_t perm_pos;
	struct buf text;
};

int workload_init(struct workload *wl, const struct lg_config *cfg);
/* Generates the next request into spec (whose body buffer is reused). */
int workload_next(struct workload *wl, struct lg_spec *spec);
void workload_free(struct workload *wl);

#endif
