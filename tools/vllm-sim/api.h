/* api.h - the OpenAI wire format as vLLM speaks it: request parsing, response
 * bodies, SSE chunks and error objects. */
#ifndef VLLM_SIM_API_H
#define VLLM_SIM_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum api_kind { API_CHAT, API_COMPLETION };

struct api_req {
	enum api_kind kind;
	char *model;		/* as the client named it; echoed back */
	int lora;		/* resolved adapter, -1 for the base model */
	bool stream;
	bool include_usage;
	bool ignore_eos;
	int max_tokens;		/* -1 when absent */
	uint64_t seed;
	char *prompt;		/* chat messages rendered through a chat template */
	size_t prompt_len;
};

/* A growable byte buffer. */
struct buf {
	char *p;
	size_t len, cap;
};

int buf_add(struct buf *b, const char *s, size_t n);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);

/* 0, -EINVAL (400, message in err) or -ENOENT (unknown model, 404). */
int api_parse(const struct sim_config *cfg, enum api_kind kind, const char *body, size_t len,
	      struct api_req *out, char *err, size_t errsz);
void api_req_free(struct api_req *r);

/* {"error":{"message","type","param","code"}}, malloc'd. */
char *api_error(const char *message, const char *type, int code);
char *api_models(const struct sim_config *cfg);
void api_make_id(const struct api_req *r, uint64_t n, char *out, size_t sz);

char *api_response(const struct api_req *r, const char *id, long created, const char *text,
		   int prompt_tokens, int completion_tokens, int cached_tokens, const char *finish);

/* SSE: the JSON prefix shared by every chunk of one response, then the events. */
char *api_chunk_prefix(const struct api_req *r, const char *id, long created);
int api_sse_role(struct buf *b, const char *prefix);
int api_sse_token(struct buf *b, const struct api_req *r, const char *prefix, const char *tok, size_t toklen,
		  const char *finish);
int api_sse_usage(struct buf *b, const char *prefix, int prompt_tokens, int completion_tokens, int cached);
int api_sse_done(struct buf *b);

#endif
