/* api.c - OpenAI-compatible request parsing and response bodies, with the fields and
 * error objects vLLM's server produces, so that real clients read them unchanged. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "tokens.h"

int buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	char small[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n < sizeof(small))
		return buf_add(b, small, n);

	char *big = malloc(n + 1);
	if (!big)
		return -ENOMEM;
	va_start(ap, fmt);
	vsnprintf(big, n + 1, fmt, ap);
	va_end(ap);
	int err = buf_add(b, big, n);
	free(big);
	return err;
}

void buf_free(struct buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static bool is_int(const cJSON *v)
{
	return cJSON_IsNumber(v) && v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 1e15;
}

/* Resolves the requested name to the base model or an adapter; vLLM serves the
 * first name when the request does not give one. */
static int resolve_model(const struct sim_config *c, const char *name, int *lora)
{
	for (int i = 0; i < c->n_served; i++)
		if (!strcmp(name, c->served[i])) {
			*lora = -1;
			return 0;
		}
	for (int i = 0; i < c->n_loras; i++)
		if (!strcmp(name, c->loras[i].name)) {
			*lora = i;
			return 0;
		}
	return -ENOENT;
}

static int render_content(struct buf *b, const cJSON *content)
{
	if (cJSON_IsString(content))
		return buf_add(b, content->valuestring, strlen(content->valuestring));
	if (cJSON_IsNull(content) || !content)
		return 0;
	if (!cJSON_IsArray(content))
		return -EINVAL;
	const cJSON *part;
	cJSON_ArrayForEach(part, content) {
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");
		if (cJSON_IsString(t) && buf_add(b, t->valuestring, strlen(t->valuestring)))
			return -ENOMEM;
	}
	return 0;
}

/* A ChatML-style template: what the prefix cache sees is the templated text, so a
 * shared system prompt gives shared leading blocks as it does on a real server. */
static int render_chat(const cJSON *msgs, struct buf *b, char *err, size_t errsz)
{
	const cJSON *m;

	if (!cJSON_IsArray(msgs) || !cJSON_GetArraySize(msgs)) {
		snprintf(err, errsz, "'messages' must be a non-empty list");
		return -EINVAL;
	}
	cJSON_ArrayForEach(m, msgs) {
		const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
		if (!cJSON_IsObject(m) || !cJSON_IsString(role)) {
			snprintf(err, errsz, "each message needs a 'role'");
			return -EINVAL;
		}
		if (buf_printf(b, "<|im_start|>%s\n", role->valuestring) ||
		    render_content(b, cJSON_GetObjectItemCaseSensitive(m, "content")) ||
		    buf_printf(b, "<|im_end|>\n")) {
			snprintf(err, errsz, "message 'content' must be a string or a list of parts");
			return -EINVAL;
		}
	}
	return buf_printf(b, "<|im_start|>assistant\n");
}

/* Token-id prompts become one fixed-width piece per id, so counts stay exact. */
static int render_prompt(const cJSON *p, struct buf *b, char *err, size_t errsz)
{
	if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
		const cJSON *first = cJSON_GetArrayItem(p, 0);
		if (cJSON_IsString(first))
			p = first;	/* several prompts: the first one is answered */
		else if (cJSON_IsArray(first))
			p = first;
	}
	if (cJSON_IsString(p))
		return buf_add(b, p->valuestring, strlen(p->valuestring));
	if (cJSON_IsArray(p) && cJSON_GetArraySize(p) > 0) {
		const cJSON *id;
		cJSON_ArrayForEach(id, p) {
			if (!is_int(id))
				goto bad;
			if (buf_printf(b, "%04lld", (long long)id->valuedouble % 10000))
				return -ENOMEM;
		}
		return 0;
	}
bad:
	snprintf(err, errsz, "'prompt' must be a string, a list of strings or a list of token ids");
	return -EINVAL;
}

int api_parse(const struct sim_config *cfg, enum api_kind kind, const char *body, size_t len,
	      struct api_req *out, char *err, size_t errsz)
{
	struct buf prompt = { 0 };
	const cJSON *v;
	int ret = -EINVAL;

	memset(out, 0, sizeof(*out));
	out->kind = kind;
	out->max_tokens = -1;
	out->lora = -1;

	cJSON *j = cJSON_ParseWithLength(body, len);
	if (!j) {
		snprintf(err, errsz, "JSON decode error: the request body is not valid JSON");
		return -EINVAL;
	}
	if (!cJSON_IsObject(j)) {
		snprintf(err, errsz, "the request body must be a JSON object");
		goto out;
	}

	v = cJSON_GetObjectItemCaseSensitive(j, "model");
	if (v && !cJSON_IsNull(v) && !cJSON_IsString(v)) {
		snprintf(err, errsz, "'model' must be a string");
		goto out;
	}
	out->model = strdup(cJSON_IsString(v) ? v->valuestring : cfg->served[0]);
	if (!out->model) {
		ret = -ENOMEM;
		goto out;
	}

	v = cJSON_GetObjectItemCaseSensitive(j, "stream");
	if (v && !cJSON_IsNull(v) && !cJSON_IsBool(v)) {
		snprintf(err, errsz, "'stream' must be a boolean");
		goto out;
	}
	out->stream = cJSON_IsTrue(v);

	v = cJSON_GetObjectItemCaseSensitive(j, "stream_options");
	if (v && !cJSON_IsNull(v)) {
		if (!out->stream) {
			snprintf(err, errsz, "Stream options can only be defined when `stream=True`.");
			goto out;
		}
		out->include_usage = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "include_usage"));
	}

	/* Chat's newer max_completion_tokens wins over max_tokens. */
	v = kind == API_CHAT ? cJSON_GetObjectItemCaseSensitive(j, "max_completion_tokens") : NULL;
	if (!v || cJSON_IsNull(v))
		v = cJSON_GetObjectItemCaseSensitive(j, "max_tokens");
	if (v && !cJSON_IsNull(v)) {
		if (!is_int(v) || v->valuedouble < 1) {
			snprintf(err, errsz, "max_tokens must be at least 1, got %g.",
				 cJSON_IsNumber(v) ? v->valuedouble : 0.0);
			goto out;
		}
		out->max_tokens = v->valuedouble > 1e9 ? 1000000000 : (int)v->valuedouble;
	}
	out->ignore_eos = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "ignore_eos"));
	v = cJSON_GetObjectItemCaseSensitive(j, "seed");
	if (is_int(v))
		out->seed = (uint64_t)(int64_t)v->valuedouble;

	if (kind == API_CHAT)
		ret = render_chat(cJSON_GetObjectItemCaseSensitive(j, "messages"), &prompt, err, errsz);
	else
		ret = render_prompt(cJSON_GetObjectItemCaseSensitive(j, "prompt"), &prompt, err, errsz);
	if (ret)
		goto out;
	if (!prompt.p && buf_add(&prompt, "", 0)) {
		ret = -ENOMEM;
		goto out;
	}
	out->prompt = prompt.p;
	out->prompt_len = prompt.len;
	prompt.p = NULL;

	/* The model is checked last, as vLLM validates the body before routing it. */
	ret = resolve_model(cfg, out->model, &out->lora);
	if (ret)
		snprintf(err, errsz, "The model `%s` does not exist.", out->model);
out:
	buf_free(&prompt);
	cJSON_Delete(j);
	return ret;
}

void api_req_free(struct api_req *r)
{
	free(r->model);
	free(r->prompt);
	memset(r, 0, sizeof(*r));
}

char *api_error(const char *message, const char *type, int code)
{
	cJSON *j = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(j, "error");
	char *s = NULL;

	if (e && cJSON_AddStringToObject(e, "message", message) && cJSON_AddStringToObject(e, "type", type) &&
	    cJSON_AddNullToObject(e, "param") && cJSON_AddNumberToObject(e, "code", code))
		s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

static cJSON *model_card(const struct sim_config *c, const char *id, const char *root, const char *parent)
{
	cJSON *m = cJSON_CreateObject();
	cJSON_AddStringToObject(m, "id", id);
	cJSON_AddStringToObject(m, "object", "model");
	cJSON_AddNumberToObject(m, "created", (double)time(NULL));
	cJSON_AddStringToObject(m, "owned_by", "vllm");
	cJSON_AddStringToObject(m, "root", root);
	if (parent)
		cJSON_AddStringToObject(m, "parent", parent);
	else
		cJSON_AddNullToObject(m, "parent");
	cJSON_AddNumberToObject(m, "max_model_len", c->max_model_len);
	cJSON_AddArrayToObject(m, "permission");
	return m;
}

char *api_models(const struct sim_config *c)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "object", "list");
	cJSON *data = cJSON_AddArrayToObject(j, "data");

	for (int i = 0; i < c->n_served; i++)
		cJSON_AddItemToArray(data, model_card(c, c->served[i], c->model, NULL));
	for (int i = 0; i < c->n_loras; i++)
		cJSON_AddItemToArray(data, model_card(c, c->loras[i].name, c->loras[i].path, c->served[0]));
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

void api_make_id(const struct api_req *r, uint64_t n, char *out, size_t sz)
{
	uint64_t s = n * 0x2545f4914f6cdd1dULL + (uint64_t)time(NULL);
	uint64_t a = tok_rand(&s), b = tok_rand(&s);
	snprintf(out, sz, "%s-%016llx%016llx", r->kind == API_CHAT ? "chatcmpl" : "cmpl",
		 (unsigned long long)a, (unsigned long long)b);
}

static cJSON *usage_obj(int prompt, int completion, int cached)
{
	cJSON *u = cJSON_CreateObject();
	cJSON_AddNumberToObject(u, "prompt_tokens", prompt);
	cJSON_AddNumberToObject(u, "total_tokens", prompt + completion);
	cJSON_AddNumberToObject(u, "completion_tokens", completion);
	cJSON *d = cJSON_AddObjectToObject(u, "prompt_tokens_details");
	cJSON_AddNumberToObject(d, "cached_tokens", cached);
	return u;
}

char *api_response(const struct api_req *r, const char *id, long created, const char *text,
		   int prompt_tokens, int completion_tokens, int cached_tokens, const char *finish)
{
	cJSON *j = cJSON_CreateObject();
	cJSON_AddStringToObject(j, "id", id);
	cJSON_AddStringToObject(j, "object", r->kind == API_CHAT ? "chat.completion" : "text_completion");
	cJSON_AddNumberToObject(j, "created", (double)created);
	cJSON_AddStringToObject(j, "model", r->model);
	cJSON *choices = cJSON_AddArrayToObject(j, "choices");
	cJSON *c = cJSON_CreateObject();
	cJSON_AddItemToArray(choices, c);
	cJSON_AddNumberToObject(c, "index", 0);
	if (r->kind == API_CHAT) {
		cJSON *msg = cJSON_AddObjectToObject(c, "message");
		cJSON_AddStringToObject(msg, "role", "assistant");
		cJSON_AddStringToObject(msg, "content", text);
		cJSON_AddArrayToObject(msg, "tool_calls");
	} else {
		cJSON_AddStringToObject(c, "text", text);
	}
	cJSON_AddNullToObject(c, "logprobs");
	cJSON_AddStringToObject(c, "finish_reason", finish);
	cJSON_AddNullToObject(c, "stop_reason");
	cJSON_AddItemToObject(j, "usage", usage_obj(prompt_tokens, completion_tokens, cached_tokens));
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	return s;
}

char *api_chunk_prefix(const struct api_req *r, const char *id, long created)
{
	cJSON *m = cJSON_CreateString(r->model);
	char *model = cJSON_PrintUnformatted(m), *out = NULL;
	cJSON_Delete(m);
	if (!model)
		return NULL;
	if (asprintf(&out, "data: {\"id\":\"%s\",\"object\":\"%s\",\"created\":%ld,\"model\":%s,\"choices\":[", id,
		     r->kind == API_CHAT ? "chat.completion.chunk" : "text_completion", created, model) < 0)
		out = NULL;
	free(model);
	return out;
}

int api_sse_role(struct buf *b, const char *prefix)
{
	return buf_printf(b, "%s{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
			     "\"logprobs\":null,\"finish_reason\":null}]}\n\n", prefix);
}

/* Generated tokens never hold characters that JSON must escape. */
int api_sse_token(struct buf *b, const struct api_req *r, const char *prefix, const char *tok, size_t toklen,
		  const char *finish)
{
	char fin[32] = "null";
	if (finish)
		snprintf(fin, sizeof(fin), "\"%s\"", finish);
	if (r->kind == API_CHAT)
		return buf_printf(b, "%s{\"index\":0,\"delta\":{\"content\":\"%.*s\"},\"logprobs\":null,"
				     "\"finish_reason\":%s}]}\n\n", prefix, (int)toklen, tok, fin);
	return buf_printf(b, "%s{\"index\":0,\"text\":\"%.*s\",\"logprobs\":null,\"finish_reason\":%s,"
			     "\"stop_reason\":null}]}\n\n", prefix, (int)toklen, tok, fin);
}

int api_sse_usage(struct buf *b, const char *prefix, int prompt, int completion, int cached)
{
	return buf_printf(b, "%s],\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d,\"completion_tokens\":%d,"
			     "\"prompt_tokens_details\":{\"cached_tokens\":%d}}}\n\n",
			  prefix, prompt, prompt + completion, completion, cached);
}

int api_sse_done(struct buf *b)
{
	return buf_add(b, "data: [DONE]\n\n", 14);
}
