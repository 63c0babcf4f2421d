/* rng.h - seeded pseudo-random numbers (xoshiro256**) and the distributions the
 * workloads and the open loop draw from. Same seed, same sequence, on every machine. */
#ifndef LOADGEN_RNG_H
#define LOADGEN_RNG_H

#include <stdint.h>

struct rng {
	uint64_t s[4];
};

void rng_seed(struct rng *r, uint64_t seed);
/* Seeds r from a seed and a path of indices, so that e.g. group 7's system prompt
 * does not depend on how many draws happened before it. */
void rng_derive(struct rng *r, uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_u64(struct rng *r);
/* Uniform in (0, 1): never 0, so log() of it is finite. */
double rng_unit(struct rng *r);
uint64_t rng_below(struct rng *r, uint64_t n);
double rng_exp(struct rng *r, double mean);
double rng_normal(struct rng *r);
double rng_lognormal(struct rng *r, double mu, double sigma);

#endif
