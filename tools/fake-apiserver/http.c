/* http.c - per-request state, replies and Status objects. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http.h"

bool http_verbose;

void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct req_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx)
		ctx->uri = strdup(uri);
	return ctx;
}

void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe)
{
	struct req_ctx *ctx = *con_cls;

	if (!ctx)
		return;
	if (http_verbose)
		fprintf(stderr, "%s %s %d%s\n", (const char *)cls, ctx->uri ? ctx->uri : "?", ctx->code,
			toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (closed early)");
	sbuf_free(&ctx->body);
	free(ctx->uri);
	free(ctx);
	*con_cls = NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t http_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (*r == '%' && hexval(r[1]) >= 0 && hexval(r[2]) >= 0) {
			*w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
			r += 3;
		} else if (*r == '+') {
			*w++ = ' ';
			r++;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return (size_t)(w - s);
}

const char *http_arg(struct MHD_Connection *c, const char *name)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
}

int http_arg_bool(struct MHD_Connection *c, const char *name)
{
	const char *v = http_arg(c, name);

	if (!v)
		return -1;
	return !strcmp(v, "1") || !strcasecmp(v, "true") || !strcmp(v, "t");
}

void http_add_headers(struct MHD_Response *r, const char *ctype)
{
	char id[40];

	gen_uuid(id, sizeof(id));
	MHD_add_response_header(r, "Audit-Id", id);
	MHD_add_response_header(r, "Cache-Control", "no-cache, private");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
}

enum MHD_Result http_reply(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
			   const char *ctype, const char *text, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	http_add_headers(r, ctype);
	if (ctx)
		ctx->code = (int)code;
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result http_reply_json(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
				cJSON *v)
{
	int pretty = http_arg_bool(c, "pretty");
	char *text = v ? (pretty == 1 ? cJSON_Print(v) : cJSON_PrintUnformatted(v)) : NULL;
	enum MHD_Result ret;
	struct sbuf b = { 0 };

	cJSON_Delete(v);
	if (!text)
		return MHD_NO;
	sbuf_adds(&b, text);
	sbuf_adds(&b, "\n");	/* encoding/json's Encoder ends every document with one */
	free(text);
	if (b.oom) {
		sbuf_free(&b);
		return MHD_NO;
	}
	ret = http_reply(c, ctx, code, "application/json", b.p, b.len);
	sbuf_free(&b);
	return ret;
}

enum MHD_Result http_status(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
			    const char *reason, const char *message, cJSON *details)
{
	cJSON *s = cJSON_CreateObject();

	if (!s) {
		cJSON_Delete(details);
		return MHD_NO;
	}
	cJSON_AddStringToObject(s, "kind", "Status");
	cJSON_AddStringToObject(s, "apiVersion", "v1");
	cJSON_AddObjectToObject(s, "metadata");
	cJSON_AddStringToObject(s, "status", "Failure");
	cJSON_AddStringToObject(s, "message", message);
	cJSON_AddStringToObject(s, "reason", reason);
	if (details)
		cJSON_AddItemToObject(s, "details", details);
	cJSON_AddNumberToObject(s, "code", code);
	return http_reply_json(c, ctx, code, s);
}
