/* maglev.h - Maglev consistent hashing (Eisenbud et al., NSDI'16): a ring of
 * ILB_MAGLEV_SIZE backend ids where every backend holds a near-equal share and a change of
 * one backend moves about 1/N of the slots. */
#ifndef ILB_MAGLEV_H
#define ILB_MAGLEV_H

#include <stdint.h>

struct ilb_maglev_backend {
	uint32_t id; /* written into the ring; never 0 */
	const char *identity; /* stable name hashed for the permutation, e.g. "10.0.0.1:8000" */
};

/* Fills ring[0..ILB_MAGLEV_SIZE) from n backends (ring all zero when n == 0).
 * The result depends only on the set of identities, not on their order. */
int ilb_maglev_build(const struct ilb_maglev_backend *backends, int n, uint32_t *ring);

#endif
