/* http1_write.c - what the L7 lane writes in HTTP/1.1: a request head for a backend, a response. */
#include "http1.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* --- writing heads --- */

struct out {
	char *buf;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->cap - o->len) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static void puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void putf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	put(o, tmp, n < 0 ? 0 : (size_t)n);
}

static bool header_ok(const struct ilb_http_header *h)
{
	if (!h->name || !h->value || !h->name[0])
		return false;
	for (const char *c = h->name; *c; c++)
		if (!ilb_http_is_tchar(*c))
			return false;
	return !strpbrk(h->value, "\r\n");
}

static void put_header(struct out *o, const char *name, const char *value)
{
	puts_(o, name);
	put(o, ": ", 2);
	puts_(o, value);
	put(o, "\r\n", 2);
}

static const char *const hop_by_hop[] = {
	"connection", "keep-alive", "proxy-connection", "te", "transfer-encoding",
	"trailer", "upgrade", "expect", "content-length",
};

/* Does a Connection header of req name this header? Host is kept whatever it says. */
static bool named_by_connection(const struct ilb_http_req *req, const struct ilb_http_header *h)
{
	if (!strcasecmp(h->name, "host"))
		return false;
	for (size_t i = 0; i < req->n_headers; i++) {
		const char *v = req->headers[i].value;

		if (strcasecmp(req->headers[i].name, "connection"))
			continue;
		while (*v) {
			size_t n;

			v += strspn(v, ", \t");
			n = strcspn(v, ", \t");
			if (n && n == h->name_len && !strncasecmp(v, h->name, n))
				return true;
			v += n;
		}
	}
	return false;
}

static bool dropped(const struct ilb_http_req *req, const struct ilb_http_header *h,
		    const struct ilb_http_header *extra, size_t n_extra)
{
	for (size_t i = 0; i < sizeof(hop_by_hop) / sizeof(hop_by_hop[0]); i++)
		if (!strcasecmp(h->name, hop_by_hop[i]))
			return true;
	/* the gateway's own headers replace any the client sent */
	for (size_t i = 0; i < n_extra; i++)
		if (!strcasecmp(h->name, extra[i].name))
			return true;
	return named_by_connection(req, h);
}

ssize_t ilb_http_write_head(const struct ilb_http_req *req, size_t body_len, const struct ilb_http_header *extra,
			    size_t n_extra, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };

	if (!req->method || !req->target || !req->path)
		return -EINVAL;
	for (size_t i = 0; i < n_extra; i++)
		if (!header_ok(&extra[i]))
			return -EINVAL;
	puts_(&o, req->method);
	/* an origin server is sent the origin-form, "http://host" being "/" */
	put(&o, " /", req->path != req->target && *req->path != '/' ? 2 : 1);
	put(&o, req->path, req->target_len - (req->path - req->target));
	putf(&o, " HTTP/%u.%u\r\n", req->http_major, req->http_minor);
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct ilb_http_header *h = &req->headers[i];

		if (!dropped(req, h, extra, n_extra))
			put_header(&o, h->name, h->value);
	}
	for (size_t i = 0; i < n_extra; i++)
		put_header(&o, extra[i].name, extra[i].value);
	if (req->has_content_length || req->chunked || body_len)
		putf(&o, "Content-Length: %zu\r\n", body_len);
	puts_(&o, "Connection: keep-alive\r\n\r\n");
	return o.full ? -ENOSPC : (ssize_t)o.len;
}

/* --- responses --- */

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 100, "Continue" }, { 200, "OK" }, { 204, "No Content" }, { 400, "Bad Request" },
	{ 401, "Unauthorized" }, { 403, "Forbidden" }, { 404, "Not Found" }, { 405, "Method Not Allowed" },
	{ 408, "Request Timeout" }, { 411, "Length Required" }, { 413, "Content Too Large" },
	{ 414, "URI Too Long" }, { 415, "Unsupported Media Type" }, { 417, "Expectation Failed" },
	{ 422, "Unprocessable Content" }, { 429, "Too Many Requests" },
	{ 431, "Request Header Fields Too Large" }, { 500, "Internal Server Error" },
	{ 501, "Not Implemented" }, { 502, "Bad Gateway" }, { 503, "Service Unavailable" },
	{ 504, "Gateway Timeout" }, { 505, "HTTP Version Not Supported" },
};

const char *ilb_http_status_reason(int status)
{
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

ssize_t ilb_http_write_response(const struct ilb_http_resp *resp, char *buf, size_t cap)
{
	struct out o = { .buf = buf, .cap = cap };
	const char *reason = resp->reason ? resp->reason : ilb_http_status_reason(resp->status);

	if (resp->status < 100 || resp->status > 999 || strpbrk(reason, "\r\n") ||
	    (resp->content_type && strpbrk(resp->content_type, "\r\n")) || (resp->body_len && !resp->body))
		return -EINVAL;
	for (size_t i = 0; i < resp->n_extra; i++)
		if (!header_ok(&resp->extra[i]))
			return -EINVAL;
	putf(&o, "HTTP/1.1 %d ", resp->status);
	puts_(&o, reason);
	put(&o, "\r\n", 2);
	if (resp->content_type)
		put_header(&o, "Content-Type", resp->content_type);
	putf(&o, "Content-Length: %zu\r\n", resp->body_len);
	for (size_t i = 0; i < resp->n_extra; i++)
		put_header(&o, resp->extra[i].name, resp->extra[i].value);
	puts_(&o, resp->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
	if (resp->body_len)
		put(&o, resp->body, resp->body_len);
	return o.full ? -ENOSPC : (ssize_t)o.len;
}
