/* sse.h - server-sent events framing, and what an OpenAI response or stream chunk says:
 * whether it carries content, its usage and its error. */
#ifndef LOADGEN_SSE_H
#define LOADGEN_SSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct sse {
	struct buf line; /* a line split across reads */
	struct buf data; /* data: lines of the event being read */
};

typedef void (*sse_event_fn)(void *ctx, const char *data, size_t len);

/* Feeds body bytes; calls fn once per complete event with its joined data lines. */
void sse_feed(struct sse *s, const char *p, size_t n, sse_event_fn fn, void *ctx);
/* End of body: an event not closed by a blank line still counts. */
void sse_end(struct sse *s, sse_event_fn fn, void *ctx);
void sse_reset(struct sse *s);
void sse_free(struct sse *s);

struct oai_info {
	bool content;	  /* a non-empty content, reasoning or text delta */
	bool usage;
	uint32_t prompt_tokens, completion_tokens;
	bool error;
	char error_msg[160];
};

/* Parses one chunk or whole response body. Returns -EINVAL when it is not JSON. */
int oai_parse(const char *json, size_t len, struct oai_info *out);

#endif
