/* http_reply.c - the little of HTTP/1.1 the probes need: a chat completion request to send,
 * and the status and framing of the answer that comes back. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cjson/cJSON.h>
#include "probe.h"

/* The value of header name in the head's header lines, NUL-free; NULL when absent. */
static const char *header_value(const char *head, size_t head_len, const char *name, size_t *value_len)
{
	size_t name_len = strlen(name);
	const char *end = head + head_len, *line = memchr(head, '\n', head_len);

	while (line && ++line < end) {
		const char *eol = memchr(line, '\n', end - line), *v;

		if (!eol)
			break;
		if ((size_t)(eol - line) > name_len && !strncasecmp(line, name, name_len) && line[name_len] == ':') {
			v = line + name_len + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			*value_len = eol - v;
			while (*value_len && (v[*value_len - 1] == '\r' || v[*value_len - 1] == ' '))
				(*value_len)--;
			return v;
		}
		line = eol;
	}
	return NULL;
}

int http_reply_parse(const char *buf, size_t len, struct http_reply *reply)
{
	const char *blank = memmem(buf, len, "\r\n\r\n", 4), *v;
	size_t head_len, v_len;

	if (!blank)
		return -EAGAIN;
	head_len = blank - buf + 4;
	if (head_len < 12 || strncmp(buf, "HTTP/1.", 7) || buf[8] != ' ')
		return -EBADMSG;
	reply->status = atoi(buf + 9);
	reply->head_len = head_len;
	reply->content_length = -1;
	reply->close = false;
	v = header_value(buf, head_len, "Content-Length", &v_len);
	if (v)
		reply->content_length = strtol(v, NULL, 10);
	v = header_value(buf, head_len, "Connection", &v_len);
	if (v && v_len == 5 && !strncasecmp(v, "close", 5))
		reply->close = true;
	return 0;
}

char *chat_request(const char *host, const char *model, const char *content, int max_tokens, size_t *len)
{
	cJSON *body = cJSON_CreateObject(), *messages, *message;
	char *text = NULL, *req = NULL;
	int n;

	if (!body || !cJSON_AddStringToObject(body, "model", model))
		goto out;
	messages = cJSON_AddArrayToObject(body, "messages");
	message = cJSON_CreateObject();
	if (!messages || !message || !cJSON_AddItemToArray(messages, message)) {
		cJSON_Delete(message);
		goto out;
	}
	if (!cJSON_AddStringToObject(message, "role", "user") || !cJSON_AddStringToObject(message, "content", content) ||
	    !cJSON_AddNumberToObject(body, "max_tokens", max_tokens))
		goto out;
	text = cJSON_PrintUnformatted(body);
	if (!text)
		goto out;
	n = asprintf(&req,
		     "POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
		     "Content-Length: %zu\r\n\r\n%s",
		     host, strlen(text), text);
	if (n < 0)
		req = NULL;
	else
		*len = n;
out:
	free(text);
	cJSON_Delete(body);
	return req;
}
