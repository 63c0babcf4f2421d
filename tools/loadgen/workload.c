/* workload.c - prompt text from a fixed vocabulary, lengths from seeded distributions,
 * and the JSON bodies of chat and completions requests. */
#include "workload.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Plain lower-case words: no escaping in JSON, and every tokenizer sees ordinary text. */
static const char *const vocab[] = {
	"the", "of", "and", "to", "in", "is", "that", "for", "it", "as", "was", "with", "be", "by",
	"on", "not", "he", "this", "are", "or", "his", "from", "at", "which", "but", "have", "an",
	"had", "they", "you", "were", "their", "one", "all", "we", "can", "her", "has", "there",
	"been", "if", "more", "when", "will", "would", "who", "so", "no", "time", "system", "model",
	"data", "network", "server", "request", "token", "cache", "memory", "kernel", "packet",
	"route", "queue", "load", "balance", "node", "cluster", "service", "latency", "answer",
	"question", "explain", "describe", "write", "code", "function", "value", "table", "list",
	"file", "number", "result", "error", "example", "first", "second", "third", "last", "next",
	"other", "many", "some", "each", "every", "between", "about", "after", "before", "under",
	"over", "through", "while", "where", "because", "since", "until", "again", "further",
	"then", "once", "here", "why", "how", "what", "which", "those", "these", "only", "own",
	"same", "than", "too", "very", "just", "also", "well", "back", "even", "still", "way",
	"take", "make", "give", "find", "tell", "ask", "work", "seem", "feel", "try", "leave",
	"call", "keep", "let", "begin", "help", "show", "hear", "play", "run", "move", "live",
	"believe", "bring", "happen", "provide", "sit", "stand", "lose", "pay", "meet", "include",
	"continue", "set", "learn", "change", "lead", "understand", "watch", "follow", "stop",
	"create", "speak", "read", "allow", "add", "spend", "grow", "open", "walk", "win", "offer",
	"remember", "love", "consider", "appear", "buy", "wait", "serve", "die", "send", "expect",
	"build", "stay", "fall", "cut", "reach", "kill", "remain", "suggest", "raise", "pass",
	"sell", "require", "report", "decide", "pull", "river", "mountain", "city", "garden",
	"history", "science", "music", "language", "paper", "window", "light", "water", "energy",
	"market", "policy", "theory", "method", "process", "design", "review", "summary", "detail",
};

#define N_VOCAB (sizeof(vocab) / sizeof(vocab[0]))

/* Appends exactly ntok * 4 characters of words. */
static void gen_text(struct buf *b, struct rng *r, size_t ntok)
{
	size_t want = ntok * LG_CHARS_PER_TOKEN, start = b->len;

	if (buf_reserve(b, want + 16))
		return;
	while (b->len - start < want) {
		const char *w = vocab[rng_below(r, N_VOCAB)];

		if (b->len > start)
			buf_add(b, " ", 1);
		buf_adds(b, w);
	}
	b->len = start + want;
	b->data[b->len] = '\0';
}

static uint32_t draw_len(struct rng *r, double mean, double sigma, uint32_t lo, uint32_t hi)
{
	double mu = log(mean) - sigma * sigma / 2;
	double v = round(rng_lognormal(r, mu, sigma));

	return v < lo ? lo : v > hi ? hi : (uint32_t)v;
}

static int pick_model(const struct workload *wl, struct rng *r)
{
	int n = wl->cfg->n_models;
	double u = rng_unit(r) * wl->cum_weight[n - 1];

	for (int i = 0; i < n - 1; i++)
		if (u < wl->cum_weight[i])
			return i;
	return n - 1;
}

/* Fisher-Yates over all (group, prompt) pairs: every pair once per pass, in seeded order,
 * so that a group's prompts are spread over the run rather than arriving back to back. */
static void shuffle_pairs(struct workload *wl)
{
	uint32_t n = (uint32_t)wl->cfg->groups * (uint32_t)wl->cfg->prompts_per_group;

	for (uint32_t i = 0; i < n; i++)
		wl->perm[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)rng_below(&wl->rng, i + 1), t = wl->perm[i];

		wl->perm[i] = wl->perm[j];
		wl->perm[j] = t;
	}
	wl->perm_pos = 0;
}

int workload_init(struct workload *wl, const struct lg_config *cfg)
{
	int n = cfg->n_models, err = -ENOMEM;
	double sum = 0;

	memset(wl, 0, sizeof(*wl));
	wl->cfg = cfg;
	rng_derive(&wl->rng, cfg->seed, 1, 0);
	wl->cum_weight = calloc((size_t)n, sizeof(double));
	if (!wl->cum_weight)
		goto out;
	for (int i = 0; i < n; i++)
		wl->cum_weight[i] = sum += cfg->models[i].weight;
	if (cfg->workload == WL_SHARED_PREFIX) {
		size_t g = (size_t)cfg->groups, pairs = g * (size_t)cfg->prompts_per_group;

		if (pairs > UINT32_MAX) {
			err = -E2BIG;
			goto out;
		}
		wl->group_model = calloc(g, sizeof(int));
		wl->sys_prompt = calloc(g, sizeof(char *));
		wl->perm = calloc(pairs, sizeof(uint32_t));
		if (!wl->group_model || !wl->sys_prompt || !wl->perm)
			goto out;
		/* A prefix is only cached per model, so a group keeps its model. */
		for (size_t i = 0; i < g; i++) {
			struct rng r;

			rng_derive(&r, cfg->seed, 2, i);
			wl->group_model[i] = pick_model(wl, &r);
		}
		shuffle_pairs(wl);
	}
	return 0;
out:
	workload_free(wl);
	return err;
}

static const char *system_prompt(struct workload *wl, int g)
{
	struct buf b = { 0 };
	struct rng r;

	if (wl->sys_prompt[g])
		return wl->sys_prompt[g];
	rng_derive(&r, wl->cfg->seed, 3, (uint64_t)g);
	gen_text(&b, &r, (size_t)wl->cfg->system_tokens);
	if (b.oom || !b.data) {
		buf_free(&b);
		return NULL;
	}
	wl->sys_prompt[g] = b.data;
	return b.data;
}

/* Fills wl->text with the user prompt and returns the system prompt (or NULL). */
static int gen_prompt(struct workload *wl, struct lg_spec *s, const char **sys)
{
	const struct lg_config *c = wl->cfg;
	struct rng r;
	uint32_t in;

	buf_reset(&wl->text);
	*sys = NULL;
	s->group = s->prompt = -1;
	switch (c->workload) {
	case WL_SHARED_PREFIX: {
		uint32_t pair;

		if (wl->perm_pos == (uint32_t)c->groups * (uint32_t)c->prompts_per_group)
			shuffle_pairs(wl);
		pair = wl->perm[wl->perm_pos++];
		s->group = (int)(pair / (uint32_t)c->prompts_per_group);
		s->prompt = (int)(pair % (uint32_t)c->prompts_per_group);
		s->model = wl->group_model[s->group];
		*sys = system_prompt(wl, s->group);
		if (!*sys)
			return -ENOMEM;
		/* A repeated pair repeats its question too: the whole prompt is then cached. */
		rng_derive(&r, c->seed, 4, pair);
		gen_text(&wl->text, &r, (size_t)c->question_tokens);
		s->in_tokens = (uint32_t)(c->system_tokens + c->question_tokens);
		s->max_tokens = c->output_tokens ? (uint32_t)c->output_tokens : 1000;
		break;
	}
	case WL_LONG_PROMPT:
		s->model = pick_model(wl, &wl->rng);
		gen_text(&wl->text, &wl->rng, (size_t)c->prompt_bytes / LG_CHARS_PER_TOKEN);
		s->in_tokens = (uint32_t)(c->prompt_bytes / LG_CHARS_PER_TOKEN);
		s->max_tokens = c->output_tokens ? (uint32_t)c->output_tokens : 128;
		break;
	case WL_SHAREGPT_LIKE:
	case WL_LORA_MIX:
		s->model = pick_model(wl, &wl->rng);
		in = draw_len(&wl->rng, SG_IN_MEAN, SG_IN_SIGMA, SG_IN_MIN, SG_IN_MAX);
		s->max_tokens = draw_len(&wl->rng, SG_OUT_MEAN, SG_OUT_SIGMA, SG_OUT_MIN, SG_OUT_MAX);
		if (c->output_tokens)
			s->max_tokens = (uint32_t)c->output_tokens;
		gen_text(&wl->text, &wl->rng, in);
		s->in_tokens = in;
		break;
	}
	return wl->text.oom ? -ENOMEM : 0;
}

int workload_next(struct workload *wl, struct lg_spec *s)
{
	const struct lg_config *c = wl->cfg;
	struct buf *b = &s->body;
	const char *sys;
	int err;

	s->index = wl->count++;
	err = gen_prompt(wl, s, &sys);
	if (err)
		return err;
	buf_reset(b);
	buf_adds(b, "{\"model\":");
	buf_add_json_str(b, c->models[s->model].name, strlen(c->models[s->model].name));
	if (c->api == API_CHAT) {
		buf_adds(b, ",\"messages\":[");
		if (sys) {
			buf_adds(b, "{\"role\":\"system\",\"content\":");
			buf_add_json_str(b, sys, strlen(sys));
			buf_adds(b, "},");
		}
		buf_adds(b, "{\"role\":\"user\",\"content\":");
		buf_add_json_str(b, wl->text.data, wl->text.len);
		buf_adds(b, "}]");
	} else {
		buf_adds(b, ",\"prompt\":\"");
		if (sys) {
			buf_add_json_chars(b, sys, strlen(sys));
			buf_adds(b, "\\n\\n");
		}
		buf_add_json_chars(b, wl->text.data, wl->text.len);
		buf_adds(b, "\"");
	}
	buf_addf(b, ",\"max_tokens\":%u", s->max_tokens);
	if (c->ignore_eos)
		buf_adds(b, ",\"ignore_eos\":true");
	if (c->stream)
		buf_adds(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
	else
		buf_adds(b, ",\"stream\":false}");
	return b->oom ? -ENOMEM : 0;
}

void workload_free(struct workload *wl)
{
	if (wl->sys_prompt)
		for (int i = 0; i < wl->cfg->groups; i++)
			free(wl->sys_prompt[i]);
	free(wl->sys_prompt);
	free(wl->group_model);
	free(wl->perm);
	free(wl->cum_weight);
	buf_free(&wl->text);
	memset(wl, 0, sizeof(*wl));
}
