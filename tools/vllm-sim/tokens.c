/* tokens.c - token counting, generated answer text and prompt block hashing.
 * Every generated token is exactly SIM_CHARS_PER_TOKEN characters, so the
 * ~4-characters-per-token rule counts answers back to what was generated. */
#include <string.h>
#include <xxhash.h>

#include "config.h"
#include "tokens.h"

int tok_count(size_t chars)
{
	size_t n = (chars + SIM_CHARS_PER_TOKEN - 1) / SIM_CHARS_PER_TOKEN;
	return n ? (int)n : 1;
}

uint64_t tok_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Four-character pieces that read like text: " the", " gpu", "ing." ... */
static const char *const vocab[] = {
	" the", " and", " for", " you", " can", " one", " two", " new", " way", " use",
	" gpu", " kv ", " run", " set", " not", " all", " any", " may", " now", " our",
	" pod", " key", " map", " top", " low", " end", " day", " see", " get", " how",
	"ing ", "ed, ", "er. ", " is ", " to ", " of ", " in ", " a b", " it ", " on ",
};

#define NVOCAB (sizeof(vocab) / sizeof(vocab[0]))

void tok_generate(uint64_t seed, int ntok, char *out)
{
	uint64_t s = seed;
	for (int i = 0; i < ntok; i++)
		memcpy(out + (size_t)i * SIM_CHARS_PER_TOKEN, vocab[tok_rand(&s) % NVOCAB], SIM_CHARS_PER_TOKEN);
	out[(size_t)ntok * SIM_CHARS_PER_TOKEN] = 0;
}

uint64_t tok_hash(const void *p, size_t len, uint64_t seed)
{
	return XXH64(p, len, seed);
}

int tok_block_hashes(const char *root, const char *prompt, size_t len, int block_tokens,
		     uint64_t *out, int max)
{
	size_t bchars = (size_t)block_tokens * SIM_CHARS_PER_TOKEN;
	uint64_t h = tok_hash(root, strlen(root), 0);
	int n = 0;

	for (size_t off = 0; off + bchars <= len && n < max; off += bchars) {
		h = tok_hash(prompt + off, bchars, h);
		out[n++] = h;
	}
	return n;
}
