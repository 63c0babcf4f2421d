/* tokens.h - the simulator's stand-in for a tokenizer: ~4 characters per token,
 * deterministic generated text, and the prompt's KV block hashes. */
#ifndef VLLM_SIM_TOKENS_H
#define VLLM_SIM_TOKENS_H

#include <stddef.h>
#include <stdint.h>

int tok_count(size_t chars);

/* splitmix64: small, fast, and good enough for reproducible text. */
uint64_t tok_rand(uint64_t *state);

/* Fills out (ntok * SIM_CHARS_PER_TOKEN + 1 bytes) with ntok tokens of text. */
void tok_generate(uint64_t seed, int ntok, char *out);

/* Chain hashes of the prompt's full blocks, rooted at the model or adapter name as
 * vLLM salts LoRA blocks. Returns how many were written (at most max). */
int tok_block_hashes(const char *root, const char *prompt, size_t len, int block_tokens,
		     uint64_t *out, int max);

uint64_t tok_hash(const void *p, size_t len, uint64_t seed);

#endif
