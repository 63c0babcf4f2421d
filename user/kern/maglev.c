/* maglev.c - builds a Maglev ring. Backends are sorted by identity first so that the ring
 * does not depend on the order the sources listed them in. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>
#include "inferlb.h"
#include "maglev.h"

struct perm {
	uint32_t id;
	const char *identity;
	uint64_t offset, skip, next;
};

static int by_identity(const void *a, const void *b)
{
	return strcmp(((const struct perm *)a)->identity, ((const struct perm *)b)->identity);
}

int ilb_maglev_build(const struct ilb_maglev_backend *backends, int n, uint32_t *ring)
{
	const uint64_t m = ILB_MAGLEV_SIZE;
	struct perm *p;
	uint64_t filled = 0;

	memset(ring, 0, m * sizeof(*ring));
	if (n <= 0)
		return 0;
	p = calloc(n, sizeof(*p));
	if (!p)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		size_t len = strlen(backends[i].identity);

		p[i].id = backends[i].id;
		p[i].identity = backends[i].identity;
		p[i].offset = XXH64(backends[i].identity, len, 0x6d61676c) % m;
		p[i].skip = XXH64(backends[i].identity, len, 0x65763031) % (m - 1) + 1;
	}
	qsort(p, n, sizeof(*p), by_identity);

	/* Each backend in turn takes the next free slot of its own permutation. */
	while (filled < m) {
		for (int i = 0; i < n && filled < m; i++) {
			uint64_t slot;

			do {
				slot = (p[i].offset + p[i].next * p[i].skip) % m;
				p[i].next++;
			} while (ring[slot]);
			ring[slot] = p[i].id;
			filled++;
		}
	}
	free(p);
	return 0;
}
