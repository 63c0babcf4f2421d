/* sse.c - SSE per the WHATWG event-stream rules that servers rely on (CRLF or LF line ends,
 * multi-line data joined with '\n', blank line dispatches), and OpenAI chunk contents via cJSON. */
#include "sse.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static void sse_line(struct sse *s, const char *l, size_t n, sse_event_fn fn, void *ctx)
{
	if (n && l[n - 1] == '\r')
		n--;
	if (!n) {
		if (s->data.len)
			fn(ctx, s->data.data, s->data.len);
		buf_reset(&s->data);
		return;
	}
	/* Other fields (event:, id:, retry:) and comments do not matter to the measurements. */
	if (n < 5 || memcmp(l, "data:", 5))
		return;
	l += 5;
	n -= 5;
	if (n && *l == ' ') {
		l++;
		n--;
	}
	if (s->data.len)
		buf_add(&s->data, "\n", 1);
	buf_add(&s->data, l, n);
}

void sse_feed(struct sse *s, const char *p, size_t n, sse_event_fn fn, void *ctx)
{
	while (n) {
		const char *nl = memchr(p, '\n', n);
		size_t take = nl ? (size_t)(nl - p) : n;

		if (!nl) {
			buf_add(&s->line, p, n);
			return;
		}
		/* Lines wholly inside this read are parsed in place, without a copy. */
		if (s->line.len) {
			buf_add(&s->line, p, take);
			sse_line(s, s->line.data, s->line.len, fn, ctx);
			buf_reset(&s->line);
		} else {
			sse_line(s, p, take, fn, ctx);
		}
		p += take + 1;
		n -= take + 1;
	}
}

void sse_end(struct sse *s, sse_event_fn fn, void *ctx)
{
	if (s->line.len) {
		sse_line(s, s->line.data, s->line.len, fn, ctx);
		buf_reset(&s->line);
	}
	sse_line(s, "", 0, fn, ctx);
}

void sse_reset(struct sse *s)
{
	buf_reset(&s->line);
	buf_reset(&s->data);
}

void sse_free(struct sse *s)
{
	buf_free(&s->line);
	buf_free(&s->data);
}

static bool nonempty_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) && v->valuestring[0];
}

static uint32_t get_u32(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) && v->valuedouble > 0 ? (uint32_t)v->valuedouble : 0;
}

int oai_parse(const char *json, size_t len, struct oai_info *out)
{
	cJSON *root = cJSON_ParseWithLength(json, len);
	const cJSON *choices, *ch, *usage, *err;

	memset(out, 0, sizeof(*out));
	if (!root)
		return -EINVAL;
	/* chat chunks carry delta.content (or reasoning_content), completions carry text,
	 * whole chat responses carry message.content */
	choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
	cJSON_ArrayForEach(ch, choices) {
		const cJSON *d = cJSON_GetObjectItemCaseSensitive(ch, "delta");
		const cJSON *m = cJSON_GetObjectItemCaseSensitive(ch, "message");

		if (nonempty_str(ch, "text") || nonempty_str(d, "content") ||
		    nonempty_str(d, "reasoning_content") || nonempty_str(d, "reasoning") ||
		    nonempty_str(m, "content"))
			out->content = true;
	}
	usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
	if (cJSON_IsObject(usage)) {
		out->usage = true;
		out->prompt_tokens = get_u32(usage, "prompt_tokens");
		out->completion_tokens = get_u32(usage, "completion_tokens");
	}
	err = cJSON_GetObjectItemCaseSensitive(root, "error");
	if (err && !cJSON_IsNull(err)) {
		const cJSON *msg = cJSON_IsObject(err) ? cJSON_GetObjectItemCaseSensitive(err, "message") : err;

		out->error = true;
		if (cJSON_IsString(msg))
			snprintf(out->error_msg, sizeof(out->error_msg), "%s", msg->valuestring);
	}
	cJSON_Delete(root);
	return 0;
}
