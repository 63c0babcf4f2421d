/* http1_read.c - the HTTP/1.1 request reader: llhttp, and the stricter checks around it.
 *
 * llhttp does the parsing; on top of it the head bytes, and the chunk framing of a chunked
 * body, are scanned for what llhttp lets through in its default (loose) build: bare LF,
 * obs-fold. The head is fed to llhttp at most max_head bytes at a time, so no limit depends
 * on how the client split its bytes. One llhttp state per request: a pause at message end
 * leaves the rest of the input to the next request. */
#include "http1.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { PH_HEAD, PH_BODY, PH_DONE, PH_ERROR };

/* A body buffer bigger than this is not kept between requests. */
#define KEEP_BODY_CAP (64u << 10)

#define NO_OFF ((size_t)-1)

void ilb_http_req_init(struct ilb_http_req *req)
{
	memset(req, 0, sizeof(*req));
}

void ilb_http_req_reset(struct ilb_http_req *req)
{
	struct ilb_http_req keep = *req;

	if (keep.body_cap > KEEP_BODY_CAP) {
		free(keep.body_buf);
		keep.body_buf = NULL;
		keep.body_cap = 0;
	}
	*req = (struct ilb_http_req){ .arena = keep.arena, .arena_cap = keep.arena_cap, .headers = keep.headers,
				      .headers_cap = keep.headers_cap, .body_buf = keep.body_buf,
				      .body_cap = keep.body_cap };
}

void ilb_http_req_free(struct ilb_http_req *req)
{
	free(req->arena);
	free(req->headers);
	free(req->body_buf);
	memset(req, 0, sizeof(*req));
}

const char *ilb_http_req_header(const struct ilb_http_req *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (!strcasecmp(req->headers[i].name, name))
			return req->headers[i].value;
	return NULL;
}

/* --- the reader's state and errors --- */

/* A later call replaces the verdict: the head scan runs after llhttp's callbacks over the
 * same bytes and stops at the first bad one, so its error is the earlier. */
static int fail(struct ilb_http_reader *r, int status, const char *reason)
{
	r->p.phase = PH_ERROR;
	r->err_status = status;
	r->err_reason = reason;
	return -1;
}

/* From inside an llhttp callback: stop the parser with our own status. */
static int cb_fail(llhttp_t *parser, int status, const char *reason)
{
	struct ilb_http_reader *r = parser->data;

	fail(r, status, reason);
	llhttp_set_error_reason(parser, reason);
	return HPE_USER;
}

static int arena_put(struct ilb_http_reader *r, const char *s, size_t n)
{
	struct ilb_http_req *req = &r->req;

	if (req->arena_len + n + 1 > req->arena_cap) {
		size_t cap = req->arena_cap ? req->arena_cap : 1024;
		char *a;

		/* the arena never holds more than the head, which is limited */
		if (req->arena_len + n + 1 > r->limits.max_head + 2)
			return -E2BIG;
		while (cap < req->arena_len + n + 1)
			cap *= 2;
		a = realloc(req->arena, cap);
		if (!a)
			return -ENOMEM;
		req->arena = a;
		req->arena_cap = cap;
	}
	memcpy(req->arena + req->arena_len, s, n);
	req->arena_len += n;
	return 0;
}

static int put_or_fail(llhttp_t *parser, const char *s, size_t n)
{
	struct ilb_http_reader *r = parser->data;
	int err = arena_put(r, s, n);

	if (err == -ENOMEM)
		return cb_fail(parser, 500, "out of memory");
	if (err)
		return cb_fail(parser, 431, "request head too large");
	return 0;
}

/* --- byte scans for what the loose llhttp build lets through --- */

static int scan_fail(struct ilb_http_reader *r, int status, const char *reason)
{
	r->p.scan_failed = true;
	return fail(r, status, reason);
}

/* Lines end in CRLF; no NUL; a line after the first (every framing line) does not start with
 * SP/HTAB, and none is longer than max_line; the framing between two chunks' data (so the
 * trailers) is no longer than max_head. Limits are checked here, byte by byte, rather than
 * in llhttp's span callbacks, whose calls depend on how the input was split. */
static int scan_bytes(struct ilb_http_reader *r, const char *s, size_t n, bool head)
{
	struct ilb_http_parse *p = &r->p;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		/* the trailers, in effect: chunk-size lines are short */
		if (!head && ++p->framing_run > r->limits.max_head)
			return scan_fail(r, 431, "trailers too large");
		if (c == '\n') {
			if (p->prev != '\r')
				return scan_fail(r, 400, "bare LF");
			if (p->line_len)
				p->lines++;
			p->line_len = 0;
		} else if (c == '\r') {
			if (p->prev == '\r')
				return scan_fail(r, 400, "bare CR");
		} else {
			if (p->prev == '\r')
				return scan_fail(r, 400, "bare CR");
			if (c == '\0')
				return scan_fail(r, 400, "NUL byte");
			/* in the chunk framing, every line is a header-like one */
			if (p->line_len == 0 && (p->lines > 0 || !head) && (c == ' ' || c == '\t'))
				return scan_fail(r, 400, "obs-fold or whitespace before a field");
			if (++p->line_len > r->limits.max_line) {
				if (!head)
					return scan_fail(r, 400, "chunk or trailer line too long");
				if (p->lines == 0)
					return scan_fail(r, 414, "request line too long");
				return scan_fail(r, 431, "header line too long");
			}
		}
		p->prev = c;
	}
	return 0;
}

/* The chunk framing between scan_from and end; body bytes are not scanned. */
static int scan_framing(struct ilb_http_reader *r, const char *end)
{
	int err = 0;

	if (r->p.scan_from && end > r->p.scan_from)
		err = scan_bytes(r, r->p.scan_from, end - r->p.scan_from, false);
	r->p.scan_from = end;
	return err;
}

/* --- header semantics --- */

static bool is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Calls fn on each comma-separated element of a list value, OWS trimmed; empty elements
 * included. */
static void each_element(const char *v, size_t len, void (*fn)(struct ilb_http_parse *, const char *, size_t),
			 struct ilb_http_parse *p)
{
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		if (i < len && v[i] != ',')
			continue;
		size_t a = start, b = i;

		while (a < b && is_ows(v[a]))
			a++;
		while (b > a && is_ows(v[b - 1]))
			b--;
		fn(p, v + a, b - a);
		start = i + 1;
	}
}

static void te_element(struct ilb_http_parse *p, const char *e, size_t n)
{
	size_t tok = 0;

	while (tok < n && e[tok] != ';')
		tok++;
	while (tok > 0 && is_ows(e[tok - 1]))
		tok--;
	if (tok == 0) {
		p->te_bad = true;
		return;
	}
	for (size_t i = 0; i < tok; i++)
		if (!ilb_http_is_tchar(e[i]))
			p->te_bad = true;
	if (p->te_chunked)
		p->te_after_chunked = true;
	if (tok == 7 && !strncasecmp(e, "chunked", 7)) {
		/* chunked takes no parameters */
		if (tok != n)
			p->te_bad = true;
		if (p->te_chunked)
			p->te_chunked_twice = true;
		p->te_chunked = true;
	} else {
		p->te_unknown = true;
	}
}

static void conn_element(struct ilb_http_parse *p, const char *e, size_t n)
{
	if (n == 5 && !strncasecmp(e, "close", 5))
		p->conn_close = true;
	else if (n == 10 && !strncasecmp(e, "keep-alive", 10))
		p->conn_keep_alive = true;
}

static bool name_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && !strncasecmp(name, want, len);
}

static void header_semantics(struct ilb_http_reader *r, const char *name, size_t name_len, const char *value,
			     size_t value_len)
{
	struct ilb_http_parse *p = &r->p;

	if (name_is(name, name_len, "content-length")) {
		p->n_cl++;
	} else if (name_is(name, name_len, "transfer-encoding")) {
		p->n_te++;
		each_element(value, value_len, te_element, p);
	} else if (name_is(name, name_len, "host")) {
		p->n_host++;
		p->host_off = p->value_off;
	} else if (name_is(name, name_len, "connection")) {
		each_element(value, value_len, conn_element, p);
	} else if (name_is(name, name_len, "expect")) {
		if (value_len == 12 && !strncasecmp(value, "100-continue", 12))
			p->expect = true;
		else
			p->expect_bad = 1;
	} else if (name_is(name, name_len, "x-gateway-inference-objective")) {
		if (p->objective_off == NO_OFF)
			p->objective_off = p->value_off;
	}
}

/* --- llhttp callbacks --- */

static int on_url(llhttp_t *parser, const char *at, size_t n)
{
	return put_or_fail(parser, at, n);
}

static int on_url_complete(llhttp_t *parser)
{
	struct ilb_http_reader *r = parser->data;

	r->req.target_len = r->req.arena_len - r->p.target_off;
	return put_or_fail(parser, "", 1);
}

static int on_header_field(llhttp_t *parser, const char *at, size_t n)
{
	struct ilb_http_reader *r = parser->data;

	r->p.field_len += n;
	if (r->p.in_trailers)
		return 0;
	if (!r->p.in_field) {
		r->p.in_field = true;
		r->p.field_off = r->req.arena_len;
	}
	return put_or_fail(parser, at, n);
}

static int grow_headers(struct ilb_http_reader *r)
{
	struct ilb_http_req *req = &r->req;
	size_t cap = req->headers_cap ? req->headers_cap * 2 : 16;
	struct ilb_http_header *h;
	size_t *offs;

	h = realloc(req->headers, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	req->headers = h;
	offs = realloc(r->p.offs, cap * 2 * sizeof(*offs));
	if (!offs)
		return -ENOMEM;
	r->p.offs = offs;
	req->headers_cap = cap;
	return 0;
}

static int on_header_field_complete(llhttp_t *parser)
{
	struct ilb_http_reader *r = parser->data;
	struct ilb_http_req *req = &r->req;
	struct ilb_http_header *h;

	/* the loose llhttp takes ": value" as a field without a name */
	if (r->p.field_len == 0)
		return cb_fail(parser, 400, "empty field name");
	r->p.field_len = 0;
	if (r->p.in_trailers) {
		if (++r->p.n_trailers > r->limits.max_headers)
			return cb_fail(parser, 431, "too many trailer fields");
		return 0;
	}
	r->p.in_field = false;
	if (req->n_headers >= r->limits.max_headers)
		return cb_fail(parser, 431, "too many header fields");
	/* both arrays are grown together, so offs always has room for headers_cap */
	if (req->n_headers == req->headers_cap || !r->p.offs) {
		if (grow_headers(r))
			return cb_fail(parser, 500, "out of memory");
	}
	h = &req->headers[req->n_headers];
	memset(h, 0, sizeof(*h));
	h->name_len = req->arena_len - r->p.field_off;
	r->p.offs[2 * req->n_headers] = r->p.field_off;
	if (put_or_fail(parser, "", 1))
		return HPE_USER;
	r->p.value_off = req->arena_len;
	return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t n)
{
	struct ilb_http_reader *r = parser->data;

	if (r->p.in_trailers)
		return 0;
	return put_or_fail(parser, at, n);
}

static int on_header_value_complete(llhttp_t *parser)
{
	struct ilb_http_reader *r = parser->data;
	struct ilb_http_req *req = &r->req;
	struct ilb_http_header *h;
	const char *name, *value;

	if (r->p.in_trailers)
		return 0;
	h = &req->headers[req->n_headers];
	/* llhttp drops leading OWS only */
	while (req->arena_len > r->p.value_off && is_ows(req->arena[req->arena_len - 1]))
		req->arena_len--;
	h->value_len = req->arena_len - r->p.value_off;
	r->p.offs[2 * req->n_headers + 1] = r->p.value_off;
	if (put_or_fail(parser, "", 1))
		return HPE_USER;
	name = req->arena + r->p.offs[2 * req->n_headers];
	value = req->arena + r->p.value_off;
	header_semantics(r, name, h->name_len, value, h->value_len);
	req->n_headers++;
	return 0;
}

static int check_head(struct ilb_http_reader *r, llhttp_t *parser)
{
	struct ilb_http_parse *p = &r->p;
	struct ilb_http_req *req = &r->req;
	bool v11;

	if (parser->http_major != 1 || parser->http_minor > 1)
		return cb_fail(parser, 505, "HTTP version not supported");
	v11 = parser->http_minor == 1;
	if (parser->method == HTTP_CONNECT)
		return cb_fail(parser, 501, "CONNECT not supported");
	if (p->n_host > 1)
		return cb_fail(parser, 400, "more than one Host");
	if (v11 && p->n_host == 0)
		return cb_fail(parser, 400, "no Host");
	if (p->n_te) {
		if (!v11)
			return cb_fail(parser, 400, "Transfer-Encoding in HTTP/1.0");
		if (p->n_cl)
			return cb_fail(parser, 400, "Content-Length with Transfer-Encoding");
		if (p->te_bad)
			return cb_fail(parser, 400, "malformed Transfer-Encoding");
		if (p->te_chunked_twice || p->te_after_chunked)
			return cb_fail(parser, 400, "chunked is not the last transfer coding");
		if (p->te_unknown)
			return cb_fail(parser, 501, "transfer coding not supported");
		if (!(parser->flags & F_CHUNKED))
			return cb_fail(parser, 400, "malformed Transfer-Encoding");
	}
	if (p->n_cl > 1 || (p->n_cl && !(parser->flags & F_CONTENT_LENGTH)))
		return cb_fail(parser, 400, "invalid Content-Length");
	if (v11 && p->expect_bad)
		return cb_fail(parser, 417, "unsupported expectation");
	if (p->n_cl && parser->content_length > r->limits.max_body)
		return cb_fail(parser, 413, "body too large");

	req->method = llhttp_method_name(parser->method);
	req->http_major = parser->http_major;
	req->http_minor = parser->http_minor;
	req->has_content_length = p->n_cl == 1;
	req->content_length = p->n_cl ? parser->content_length : 0;
	req->chunked = p->te_chunked;
	req->expect_continue = v11 && p->expect;
	req->keep_alive = v11 ? !p->conn_close : p->conn_keep_alive && !p->conn_close;
	return 0;
}

/* Now that the arena no longer moves, point the request's strings into it. */
static void point_strings(struct ilb_http_reader *r)
{
	struct ilb_http_req *req = &r->req;
	struct ilb_http_parse *p = &r->p;

	req->target = req->path = req->arena + p->target_off;
	if (!strncasecmp(req->target, "http://", 7) || !strncasecmp(req->target, "https://", 8)) {
		const char *authority = strstr(req->target, "://") + 3;

		req->path = authority + strcspn(authority, "/?#");
	}
	req->path_len = strcspn(req->path, "?#");
	req->host = p->host_off != NO_OFF ? req->arena + p->host_off : NULL;
	req->objective = p->objective_off != NO_OFF ? req->arena + p->objective_off : NULL;
	for (size_t i = 0; i < req->n_headers; i++) {
		req->headers[i].name = req->arena + p->offs[2 * i];
		req->headers[i].value = req->arena + p->offs[2 * i + 1];
	}
}

static int on_headers_complete(llhttp_t *parser)
{
	struct ilb_http_reader *r = parser->data;
	int err;

	/* an empty target still gets its NUL, so target_off is always a string */
	if (!r->req.arena || r->req.arena_len == 0) {
		if (put_or_fail(parser, "", 1))
			return HPE_USER;
	}
	err = check_head(r, parser);
	if (err)
		return err;
	point_strings(r);
	r->p.in_trailers = true;
	/* the pause tells ilb_http_feed where the head ends */
	return HPE_PAUSED;
}

static int reserve_body(struct ilb_http_reader *r, size_t want)
{
	struct ilb_http_req *req = &r->req;
	size_t cap = req->body_cap ? req->body_cap : 4096;
	char *b;

	if (want + 1 <= req->body_cap)
		return 0;
	while (cap < want + 1)
		cap *= 2;
	/* a Content-Length body never needs more than itself */
	if (req->has_content_length && cap > req->content_length + 1 && want <= req->content_length)
		cap = req->content_length + 1;
	b = realloc(req->body_buf, cap);
	if (!b)
		return -ENOMEM;
	req->body_buf = b;
	req->body_cap = cap;
	return 0;
}

static int on_chunk_header(llhttp_t *parser)
{
	struct ilb_http_reader *r = parser->data;

	if (parser->content_length > r->limits.max_body - r->req.body_len)
		return cb_fail(parser, 413, "body too large");
	return 0;
}

static int on_body(llhttp_t *parser, const char *at, size_t n)
{
	struct ilb_http_reader *r = parser->data;
	struct ilb_http_req *req = &r->req;

	if (scan_framing(r, at))
		return HPE_USER;
	r->p.scan_from = at + n;
	/* body bytes are not framing: the next framing line starts afresh */
	r->p.prev = '\n';
	r->p.line_len = r->p.framing_run = 0;
	if (n > r->limits.max_body - req->body_len)
		return cb_fail(parser, 413, "body too large");
	if (reserve_body(r, req->body_len + n))
		return cb_fail(parser, 500, "out of memory");
	memcpy(req->body_buf + req->body_len, at, n);
	req->body_len += n;
	return 0;
}

static int on_message_complete(llhttp_t *parser)
{
	return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
	.on_url = on_url,
	.on_url_complete = on_url_complete,
	.on_header_field = on_header_field,
	.on_header_field_complete = on_header_field_complete,
	.on_header_value = on_header_value,
	.on_header_value_complete = on_header_value_complete,
	.on_headers_complete = on_headers_complete,
	.on_chunk_header = on_chunk_header,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* --- the reader --- */

static void parse_reset(struct ilb_http_reader *r)
{
	size_t *offs = r->p.offs;

	memset(&r->p, 0, sizeof(r->p));
	r->p.offs = offs;
	r->p.phase = PH_HEAD;
	r->p.prev = '\n';
	r->p.host_off = r->p.objective_off = NO_OFF;
	r->err_status = 0;
	r->err_reason = NULL;
	llhttp_init(&r->parser, HTTP_REQUEST, &settings);
	r->parser.data = r;
}

void ilb_http_reader_init(struct ilb_http_reader *r, const struct ilb_http_limits *limits)
{
	memset(r, 0, sizeof(*r));
	r->limits = limits ? *limits : ILB_HTTP_LIMITS_DEFAULT;
	ilb_http_req_init(&r->req);
	parse_reset(r);
}

void ilb_http_reader_next(struct ilb_http_reader *r)
{
	ilb_http_req_reset(&r->req);
	parse_reset(r);
}

void ilb_http_reader_idle(struct ilb_http_reader *r)
{
	ilb_http_req_free(&r->req);
	free(r->p.offs);
	r->p.offs = NULL;
	parse_reset(r);
}

void ilb_http_reader_free(struct ilb_http_reader *r)
{
	ilb_http_req_free(&r->req);
	free(r->p.offs);
	r->p.offs = NULL;
}

static enum ilb_http_result llhttp_failed(struct ilb_http_reader *r, llhttp_errno_t err)
{
	if (r->p.phase == PH_ERROR)
		return ILB_HTTP_ERROR; /* a callback has said why */
	if (err == HPE_PAUSED_H2_UPGRADE)
		fail(r, 505, "HTTP/2 not supported");
	else
		fail(r, 400, llhttp_get_error_reason(&r->parser) ?: llhttp_errno_name(err));
	return ILB_HTTP_ERROR;
}

static void finish(struct ilb_http_reader *r)
{
	struct ilb_http_req *req = &r->req;

	r->p.phase = PH_DONE;
	if (req->body_len) {
		req->body_buf[req->body_len] = '\0';
		req->body = req->body_buf;
	} else {
		req->body = "";
	}
}

/* How far llhttp got: to the pause or the error, or through all of it. */
static size_t parsed(struct ilb_http_reader *r, llhttp_errno_t err, const char *from, size_t n)
{
	const char *pos = llhttp_get_error_pos(&r->parser);

	if (err == HPE_OK || !pos || pos < from || pos > from + n)
		return n;
	return pos - from;
}

enum ilb_http_result ilb_http_feed(struct ilb_http_reader *r, const char *data, size_t len, size_t *consumed)
{
	struct ilb_http_parse *p = &r->p;
	bool head_done = false;
	size_t off = 0;

	*consumed = 0;
	if (p->phase == PH_DONE)
		return ILB_HTTP_DONE;
	if (p->phase == PH_ERROR)
		return ILB_HTTP_ERROR;
	while (off < len) {
		llhttp_errno_t err;
		size_t n, used;

		if (p->phase == PH_HEAD) {
			n = len - off;
			if (n > r->limits.max_head - p->head_bytes)
				n = r->limits.max_head - p->head_bytes;
			if (n == 0) {
				fail(r, 431, "request head too large");
				return ILB_HTTP_ERROR;
			}
			err = llhttp_execute(&r->parser, data + off, n);
			used = parsed(r, err, data + off, n);
			/* the scan judges the bytes up to llhttp's stop, so its verdict is the earlier one */
			if (scan_bytes(r, data + off, used, true))
				return ILB_HTTP_ERROR;
			p->head_bytes += used;
			off += used;
			if (err != HPE_PAUSED) {
				if (err != HPE_OK)
					return llhttp_failed(r, err);
				continue;
			}
			if (!r->req.chunked && r->req.content_length == 0) {
				finish(r);
				*consumed = off;
				return ILB_HTTP_DONE;
			}
			llhttp_resume(&r->parser);
			p->phase = PH_BODY;
			p->prev = '\n';
			p->line_len = 0;
			head_done = true;
			continue;
		}

		p->scan_from = data + off;
		n = len - off;
		err = llhttp_execute(&r->parser, data + off, n);
		used = parsed(r, err, data + off, n);
		/* as in the head, the framing before a callback's refusal is judged first */
		if (!p->scan_failed)
			scan_framing(r, data + off + used);
		p->scan_from = NULL;
		if (p->phase == PH_ERROR)
			return ILB_HTTP_ERROR;
		off += used;
		if (err == HPE_PAUSED) {
			finish(r);
			*consumed = off;
			return ILB_HTTP_DONE;
		}
		if (err != HPE_OK)
			return llhttp_failed(r, err);
	}
	*consumed = off;
	return head_done ? ILB_HTTP_HEAD_DONE : ILB_HTTP_NEED_MORE;
}
