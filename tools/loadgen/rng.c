/* rng.c - xoshiro256** seeded through splitmix64 (the generator's authors' recommendation).
 * libc rand() is not used: its sequence differs between libcs, and runs must be reproducible. */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

void rng_seed(struct rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

void rng_derive(struct rng *r, uint64_t seed, uint64_t a, uint64_t b)
{
	uint64_t x = seed;
	uint64_t m = splitmix64(&x);

	m ^= a * 0xd6e8feb86659fd93ULL;
	x = m;
	m = splitmix64(&x) ^ (b * 0xa0761d6478bd642fULL);
	rng_seed(r, m);
}

uint64_t rng_u64(struct rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

double rng_unit(struct rng *r)
{
	return ((rng_u64(r) >> 11) + 0.5) * 0x1.0p-53;
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
	/* Lemire's multiply-shift; the bias at our n (< 2^32) is far below anything measurable. */
	return n ? (uint64_t)(((unsigned __int128)rng_u64(r) * n) >> 64) : 0;
}

double rng_exp(struct rng *r, double mean)
{
	return -mean * log(rng_unit(r));
}

double rng_normal(struct rng *r)
{
	/* Box-Muller, one value per call: simpler than caching the pair, and still deterministic. */
	double u = rng_unit(r), v = rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double rng_lognormal(struct rng *r, double mu, double sigma)
{
	return exp(mu + sigma * rng_normal(r));
}
