/* oai.c - OpenAI request bodies with cJSON: the routing fields, the text for prefix
 * hashing, the model rewrite; and the error and /v1/models bodies the agent answers with.
 *
 * Only what routing needs is checked; the model server validates the rest, so a body it
 * would refuse is still forwarded and refused there. */
#include "oai.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE 1024

enum ilb_oai_api ilb_oai_api_from_path(const char *path, size_t len)
{
	static const struct {
		const char *path;
		enum ilb_oai_api api;
	} paths[] = {
		{ "/v1/completions", ILB_OAI_COMPLETIONS },
		{ "/v1/chat/completions", ILB_OAI_CHAT },
		{ "/v1/embeddings", ILB_OAI_EMBEDDINGS },
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (len == strlen(paths[i].path) && !memcmp(path, paths[i].path, len))
			return paths[i].api;
	return ILB_OAI_OTHER;
}

/* --- the prompt text --- */

struct text {
	char *p;
	size_t len, cap;
	bool oom;
};

static void text_put(struct text *t, const char *s, size_t n)
{
	if (t->oom)
		return;
	if (t->len + n + 1 > t->cap) {
		size_t cap = t->cap ? t->cap : 256;
		char *p;

		while (cap < t->len + n + 1)
			cap *= 2;
		p = realloc(t->p, cap);
		if (!p) {
			t->oom = true;
			return;
		}
		t->p = p;
		t->cap = cap;
	}
	memcpy(t->p + t->len, s, n);
	t->len += n;
	t->p[t->len] = '\0';
}

static void text_str(struct text *t, const char *s)
{
	text_put(t, s, strlen(s));
}

static void text_token(struct text *t, double v)
{
	char tmp[48];
	int n;

	/* token ids are integers; anything else is still written the same way every time */
	if (isfinite(v) && v == floor(v) && fabs(v) < 1e18)
		n = snprintf(tmp, sizeof(tmp), "%lld,", (long long)v);
	else
		n = snprintf(tmp, sizeof(tmp), "%.17g,", v);
	text_put(t, tmp, (size_t)n);
}

static void add_content(struct text *t, const cJSON *content)
{
	const cJSON *part;

	if (cJSON_IsString(content)) {
		text_str(t, content->valuestring);
		return;
	}
	cJSON_ArrayForEach(part, content) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(part, "text");

		if (cJSON_IsString(part))
			text_str(t, part->valuestring);
		else if (cJSON_IsObject(part) && cJSON_IsString(s))
			text_str(t, s->valuestring);
	}
}

static void add_message(struct text *t, const cJSON *m)
{
	const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
	const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");

	if (cJSON_IsString(role))
		text_str(t, role->valuestring);
	text_put(t, ":", 1);
	if (cJSON_IsString(content) || cJSON_IsArray(content))
		add_content(t, content);
	text_put(t, "\n", 1);
}

static void add_messages(struct text *t, const cJSON *messages)
{
	const cJSON *m;

	if (!cJSON_IsArray(messages))
		return;
	cJSON_ArrayForEach(m, messages)
		if (cJSON_IsObject(m))
			add_message(t, m);
}

/* A prompt or input: a string, token ids, or a list of those (messages too, for APIs that
 * take them under "input"). */
static void add_prompt(struct text *t, const cJSON *v)
{
	const cJSON *el, *tok;
	bool first = true;

	if (cJSON_IsString(v)) {
		text_str(t, v->valuestring);
		return;
	}
	if (!cJSON_IsArray(v))
		return;
	cJSON_ArrayForEach(el, v) {
		if (cJSON_IsNumber(el)) {
			text_token(t, el->valuedouble);
			continue;
		}
		if (!first)
			text_put(t, "\n", 1);
		first = false;
		if (cJSON_IsString(el)) {
			text_str(t, el->valuestring);
		} else if (cJSON_IsArray(el)) {
			cJSON_ArrayForEach(tok, el)
				if (cJSON_IsNumber(tok))
					text_token(t, tok->valuedouble);
		} else if (cJSON_IsObject(el)) {
			add_message(t, el);
		}
	}
}

static void build_prompt(struct text *t, const cJSON *root, enum ilb_oai_api api)
{
	const cJSON *messages = cJSON_GetObjectItemCaseSensitive(root, "messages");
	const cJSON *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt");
	const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");

	switch (api) {
	case ILB_OAI_CHAT:
		add_messages(t, messages);
		break;
	case ILB_OAI_COMPLETIONS:
		add_prompt(t, prompt);
		break;
	case ILB_OAI_EMBEDDINGS:
		add_prompt(t, input);
		break;
	case ILB_OAI_OTHER:
		if (messages)
			add_messages(t, messages);
		else if (prompt)
			add_prompt(t, prompt);
		else
			add_prompt(t, input);
		break;
	}
	text_put(t, "", 0); /* "" rather than NULL when there was nothing */
}

/* --- parsing --- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The first top-level key given twice, or NULL. cJSON keeps the first, Python's json the
 * last: a model server must not see another model than the one we routed on. */
static const char *duplicate_key(const cJSON *root, int *err)
{
	const cJSON *it;
	const char **keys, *dup = NULL;
	size_t n = 0;

	*err = 0;
	cJSON_ArrayForEach(it, root)
		n++;
	if (n < 2)
		return NULL;
	keys = malloc(n * sizeof(*keys));
	if (!keys) {
		*err = -ENOMEM;
		return NULL;
	}
	n = 0;
	cJSON_ArrayForEach(it, root)
		keys[n++] = it->string;
	qsort(keys, n, sizeof(*keys), cmp_str);
	for (size_t i = 1; i < n && !dup; i++)
		if (!strcmp(keys[i - 1], keys[i]))
			dup = keys[i];
	free(keys);
	return dup;
}

/* null and absent are false; anything but a boolean is an error */
static int get_bool(const cJSON *obj, const char *name, bool *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);

	*out = false;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsBool(v))
		return -EINVAL;
	*out = cJSON_IsTrue(v);
	return 0;
}

static int check_fields(struct ilb_oai_req *req, char *msg, size_t msg_len)
{
	const cJSON *model = cJSON_GetObjectItemCaseSensitive(req->root, "model");
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(req->root, "stream_options");
	const char *dup;
	int err;

	dup = duplicate_key(req->root, &err);
	if (err)
		return err;
	if (dup) {
		snprintf(msg, msg_len, "The key '%.64s' appears more than once in the request body.", dup);
		return -EINVAL;
	}
	if (!model) {
		snprintf(msg, msg_len, "you must provide a model parameter");
		return -EINVAL;
	}
	if (!cJSON_IsString(model) || !model->valuestring[0]) {
		snprintf(msg, msg_len, "'model' must be a non-empty string");
		return -EINVAL;
	}
	req->model = model->valuestring;
	if (get_bool(req->root, "stream", &req->stream)) {
		snprintf(msg, msg_len, "'stream' must be a boolean");
		return -EINVAL;
	}
	if (so && !cJSON_IsNull(so) && !cJSON_IsObject(so)) {
		snprintf(msg, msg_len, "'stream_options' must be an object");
		return -EINVAL;
	}
	if (cJSON_IsObject(so) && get_bool(so, "include_usage", &req->include_usage)) {
		snprintf(msg, msg_len, "'stream_options.include_usage' must be a boolean");
		return -EINVAL;
	}
	return 0;
}

int ilb_oai_parse(struct ilb_oai_req *req, enum ilb_oai_api api, const char *body, size_t len, char *msg,
		  size_t msg_len)
{
	struct text t = { 0 };
	const char *end = NULL;
	int err = -EINVAL;
	char dummy[1];

	memset(req, 0, sizeof(*req));
	if (!msg || !msg_len) {
		msg = dummy;
		msg_len = sizeof(dummy);
	}
	msg[0] = '\0';
	req->root = len ? cJSON_ParseWithLengthOpts(body, len, &end, false) : NULL;
	if (!req->root) {
		if (end && end >= body && end <= body + len)
			snprintf(msg, msg_len, "The request body is not valid JSON (error at byte %zu).",
				 (size_t)(end - body));
		else
			snprintf(msg, msg_len, "The request body is not valid JSON.");
		goto fail;
	}
	while (end < body + len && *end && strchr(" \t\r\n", *end))
		end++;
	if (end != body + len) {
		snprintf(msg, msg_len, "The request body has data after its JSON value (at byte %zu).",
			 (size_t)(end - body));
		goto fail;
	}
	if (!cJSON_IsObject(req->root)) {
		snprintf(msg, msg_len, "The request body must be a JSON object.");
		goto fail;
	}
	err = check_fields(req, msg, msg_len);
	if (err)
		goto fail;
	build_prompt(&t, req->root, api);
	if (t.oom) {
		err = -ENOMEM;
		goto fail;
	}
	req->prompt = t.p;
	req->prompt_len = t.len;
	req->body = body;
	req->body_len = len;
	return 0;
fail:
	if (err == -ENOMEM)
		snprintf(msg, msg_len, "out of memory");
	free(t.p);
	cJSON_Delete(req->root);
	memset(req, 0, sizeof(*req));
	return err;
}

void ilb_oai_req_free(struct ilb_oai_req *req)
{
	cJSON_Delete(req->root);
	free(req->prompt);
	memset(req, 0, sizeof(*req));
}

ssize_t ilb_oai_rewrite_model(struct ilb_oai_req *req, const char *new_model, const char **out, char **alloc)
{
	char *printed;

	*out = NULL;
	*alloc = NULL;
	if (!req->root || !req->model || !new_model)
		return -EINVAL;
	if (strcmp(new_model, req->model)) {
		cJSON *s = cJSON_CreateString(new_model);

		/* replacing keeps the key's place among the others */
		if (!s)
			return -ENOMEM;
		if (!cJSON_ReplaceItemInObjectCaseSensitive(req->root, "model", s)) {
			cJSON_Delete(s);
			return -ENOMEM;
		}
		req->model = s->valuestring;
		req->rewritten = true;
	}
	if (!req->rewritten) {
		*out = req->body;
		return (ssize_t)req->body_len;
	}
	printed = cJSON_PrintUnformatted(req->root);
	if (!printed)
		return -ENOMEM;
	*out = *alloc = printed;
	return (ssize_t)strlen(printed);
}

/* --- errors and listings --- */

static const struct {
	int status;
	const char *type;
} error_types[] = {
	{ 400, "BadRequestError" },
	{ 404, "NotFoundError" },
	{ 405, "MethodNotAllowedError" },
	{ 408, "RequestTimeoutError" },
	{ 413, "ContentTooLargeError" },
	{ 414, "URITooLongError" },
	{ 417, "ExpectationFailedError" },
	{ 429, "RateLimitError" },
	{ 431, "RequestHeaderFieldsTooLargeError" },
	{ 500, "InternalServerError" },
	{ 501, "NotImplementedError" },
	{ 502, "BadGatewayError" },
	{ 503, "ServiceUnavailableError" },
	{ 504, "GatewayTimeoutError" },
	{ 505, "HTTPVersionNotSupportedError" },
};

const char *ilb_oai_error_type(int status)
{
	for (size_t i = 0; i < sizeof(error_types) / sizeof(error_types[0]); i++)
		if (error_types[i].status == status)
			return error_types[i].type;
	return "Error";
}

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* Copies src into dst (MAX_MESSAGE + 1 bytes), whole characters only, bad bytes as '?'. */
static void clean_message(char *dst, const char *src)
{
	const unsigned char *s = (const unsigned char *)src;
	size_t n = strlen(src), i = 0, o = 0;

	while (i < n) {
		size_t len = utf8_seq(s + i, n - i);

		if (o + (len ? len : 1) > MAX_MESSAGE)
			break;
		if (len) {
			memcpy(dst + o, s + i, len);
			o += len;
			i += len;
		} else {
			dst[o++] = '?';
			i++;
		}
	}
	dst[o] = '\0';
}

ssize_t ilb_oai_error_body(char *buf, size_t cap, int status, const char *fmt, ...)
{
	cJSON *root = NULL, *error;
	char *raw = NULL, msg[MAX_MESSAGE + 1], *printed = NULL;
	ssize_t ret = -ENOMEM;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&raw, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	clean_message(msg, raw);
	root = cJSON_CreateObject();
	error = cJSON_AddObjectToObject(root, "error");
	if (!error || !cJSON_AddStringToObject(error, "message", msg) ||
	    !cJSON_AddStringToObject(error, "type", ilb_oai_error_type(status)) || !cJSON_AddNullToObject(error, "param") ||
	    !cJSON_AddNumberToObject(error, "code", status))
		goto out;
	printed = cJSON_PrintUnformatted(root);
	if (!printed)
		goto out;
	ret = (ssize_t)strlen(printed);
	if ((size_t)ret + 1 > cap) {
		ret = -ENOSPC;
		goto out;
	}
	memcpy(buf, printed, (size_t)ret + 1);
out:
	free(printed);
	cJSON_Delete(root);
	free(raw);
	return ret;
}

char *ilb_oai_models_json(const struct ilb_oai_model *models, size_t n)
{
	cJSON *root = cJSON_CreateObject(), *data;
	char *out = NULL;

	if (!root || !cJSON_AddStringToObject(root, "object", "list"))
		goto out;
	data = cJSON_AddArrayToObject(root, "data");
	if (!data)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct ilb_oai_model *m = &models[i];
		cJSON *o = cJSON_CreateObject();

		if (!o)
			goto out;
		if (!cJSON_AddItemToArray(data, o)) {
			cJSON_Delete(o);
			goto out;
		}
		if (!cJSON_AddStringToObject(o, "id", m->id) || !cJSON_AddStringToObject(o, "object", "model") ||
		    !cJSON_AddNumberToObject(o, "created", (double)m->created) ||
		    !cJSON_AddStringToObject(o, "owned_by", m->owned_by ? m->owned_by : "") ||
		    !cJSON_AddStringToObject(o, "root", m->root ? m->root : m->id) ||
		    !(m->parent ? cJSON_AddStringToObject(o, "parent", m->parent) : cJSON_AddNullToObject(o, "parent")))
			goto out;
	}
	out = cJSON_PrintUnformatted(root);
out:
	cJSON_Delete(root);
	return out;
}
