/* http1.h - the L7 lane's HTTP/1.1 request reader (http1_read.c), head re-serialiser and
 * response builder (http1_write.c).
 *
 * The reader takes a client connection's bytes as they arrive and yields one request at a
 * time, copied out (head and body), so the caller can drop what was consumed. It is built on
 * llhttp and stricter than llhttp where framing could be read two ways (request smuggling):
 * every refusal names the status to answer before closing the connection.
 *
 * Refused with 400: what llhttp refuses (bad request line, invalid token or value chars, NUL,
 * Content-Length with Transfer-Encoding, duplicate or invalid Content-Length, bad chunk size,
 * chunked not last), and beyond it a bare LF or bare CR anywhere in the head or the chunk
 * framing, obs-fold (a header or trailer line starting with SP/HTAB), an empty field name, an
 * empty or non-token Transfer-Encoding element, chunked applied twice, Transfer-Encoding in
 * HTTP/1.0, a missing (HTTP/1.1) or repeated Host. 414: request line longer than max_line.
 * 431: a header line longer than max_line, a head longer than max_head, more than max_headers
 * fields (trailers count too), trailers longer than max_head. 413: a body over max_body (from
 * Content-Length before any body byte is read). 417: an Expect other than 100-continue.
 * 501: a transfer coding other than chunked, CONNECT. 505: an HTTP version other than 1.0 and
 * 1.1 (and the HTTP/2 preface). */
#ifndef ILB_HTTP1_H
#define ILB_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "llhttp.h"

/* A token character (RFC 9110 5.6.2): what field names and transfer codings are made of. */
static inline bool ilb_http_is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

struct ilb_http_limits {
	size_t max_line; /* request line, each header line, each chunk-size/trailer line */
	size_t max_head; /* request line + headers, CRLFs included */
	size_t max_headers; /* header fields (and trailer fields) */
	size_t max_body; /* after dechunking */
};

#define ILB_HTTP_LIMITS_DEFAULT \
	((struct ilb_http_limits){ .max_line = 8 << 10, .max_head = 32 << 10, .max_headers = 100, .max_body = 16 << 20 })

/* Strings are NUL-terminated too; a value has its surrounding SP/HTAB removed. */
struct ilb_http_header {
	const char *name;
	const char *value;
	size_t name_len;
	size_t value_len;
};

/* One request. Pointers stay valid until the request is reset or freed. */
struct ilb_http_req {
	const char *method; /* "POST", static */
	const char *target; /* request-target as sent */
	size_t target_len;
	/* The target without scheme and authority when it came in absolute-form (from a client
	 * that takes us for a proxy), else the target; path_len stops before '?' or '#'. */
	const char *path;
	size_t path_len;
	uint8_t http_major, http_minor;
	bool keep_alive; /* the client may send another request after this one */
	bool has_content_length;
	bool chunked;
	bool expect_continue; /* "Expect: 100-continue" on an HTTP/1.1 request */
	uint64_t content_length; /* as sent; 0 without one */
	const char *host; /* NULL when absent */
	const char *objective; /* x-gateway-inference-objective (first one), or NULL */
	struct ilb_http_header *headers; /* in arrival order, trailers not included */
	size_t n_headers;
	const char *body; /* dechunked and NUL-terminated (the NUL not counted), "" when empty */
	size_t body_len;
	/* storage */
	char *arena; /* the strings above */
	size_t arena_len, arena_cap;
	size_t headers_cap;
	char *body_buf;
	size_t body_cap;
};

enum ilb_http_result {
	ILB_HTTP_ERROR = -1, /* answer reader.err_status (reason in err_reason) and close */
	ILB_HTTP_NEED_MORE = 0,
	ILB_HTTP_HEAD_DONE = 1, /* as NEED_MORE; the head has just been read, the body is still to come */
	ILB_HTTP_DONE = 2, /* reader.req is complete */
};

/* Per-request parse state; the reader's own. */
struct ilb_http_parse {
	int phase;
	size_t head_bytes;
	size_t line_len; /* in the head scan, or the chunk framing scan */
	unsigned lines;
	char prev;
	const char *scan_from; /* first byte of the chunk framing not yet scanned */
	size_t *offs; /* name and value offsets into the arena, two per header */
	size_t field_off, value_off, target_off, host_off, objective_off;
	size_t field_len, framing_run, n_trailers;
	unsigned n_host, n_cl, n_te;
	bool te_bad, te_unknown, te_after_chunked, te_chunked_twice, te_chunked;
	bool in_field, in_trailers, conn_close, conn_keep_alive, expect, scan_failed;
	int expect_bad;
};

struct ilb_http_reader {
	llhttp_t parser;
	struct ilb_http_limits limits;
	struct ilb_http_req req;
	int err_status; /* with ILB_HTTP_ERROR: 400, 413, 414, 417, 431, 501, 505 (500: out of memory) */
	const char *err_reason; /* static, short */
	struct ilb_http_parse p;
};

void ilb_http_req_init(struct ilb_http_req *req);
/* Empties req; keeps its buffers, except a large body buffer. */
void ilb_http_req_reset(struct ilb_http_req *req);
void ilb_http_req_free(struct ilb_http_req *req);
/* The first value of the header called name (any case), or NULL. */
const char *ilb_http_req_header(const struct ilb_http_req *req, const char *name);

/* limits NULL: ILB_HTTP_LIMITS_DEFAULT. */
void ilb_http_reader_init(struct ilb_http_reader *r, const struct ilb_http_limits *limits);
/* After DONE: empty reader.req and read the connection's next request. */
void ilb_http_reader_next(struct ilb_http_reader *r);
/* As ilb_http_reader_next, and the buffers go back to the allocator: a kept-alive connection
 * waiting for its next request costs its state only (thousands of them sit idle). */
void ilb_http_reader_idle(struct ilb_http_reader *r);
void ilb_http_reader_free(struct ilb_http_reader *r);

/* Reads from data; *consumed is how many bytes were taken (copied as needed). On DONE the
 * bytes after *consumed belong to the next request (pipelining): feed them after
 * ilb_http_reader_next(). On NEED_MORE and HEAD_DONE all of len was taken. HEAD_DONE comes
 * once per request, only when its body has not fully arrived with the head; it is the moment
 * to answer ILB_HTTP_100_CONTINUE when req.expect_continue. Once DONE or ERROR, further
 * calls return the same and take nothing. */
enum ilb_http_result ilb_http_feed(struct ilb_http_reader *r, const char *data, size_t len, size_t *consumed);

#define ILB_HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"

/* Writes the head to send to the backend: the client's request line (the target in
 * origin-form: "/" and path for an absolute-form target), its headers except
 * hop-by-hop ones (Connection, Keep-Alive, Proxy-Connection, TE, Transfer-Encoding, Trailer,
 * Upgrade, Expect, and those the Connection header names, Host excepted), Content-Length,
 * and headers named in extra; then extra, "Content-Length: body_len" (when the request had
 * framing or body_len > 0), "Connection: keep-alive" and the blank line. Returns the length;
 * -ENOSPC when cap is too small, -EINVAL when an extra header holds CR, LF or NUL or a
 * name is not a token. */
ssize_t ilb_http_write_head(const struct ilb_http_req *req, size_t body_len, const struct ilb_http_header *extra,
			    size_t n_extra, char *buf, size_t cap);

struct ilb_http_resp {
	int status;
	const char *reason; /* NULL: ilb_http_status_reason(status) */
	const char *content_type; /* NULL: none sent */
	const char *body;
	size_t body_len;
	bool keep_alive;
	const struct ilb_http_header *extra; /* e.g. Retry-After */
	size_t n_extra;
};

/* A complete HTTP/1.1 response with Content-Length and Connection. Returns the length;
 * -ENOSPC or -EINVAL as ilb_http_write_head(). */
ssize_t ilb_http_write_response(const struct ilb_http_resp *resp, char *buf, size_t cap);

/* The reason phrase of status ("Too Many Requests"), "Unknown" for one not in the table. */
const char *ilb_http_status_reason(int status);

#endif
