/* fuzz_http1.c - libFuzzer harness: the request reader on any bytes, in random splits, with
 * small limits. Beyond memory errors it checks what the reader promises: consumed bytes,
 * body length against Content-Length, the same requests and verdict whatever the split, and
 * that the head written for the backend reads back as the same request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "l7/http1.h"

#define MAX_TRACE 64

struct trace {
	int n;
	struct {
		int res, status;
		uint64_t hash;
		size_t at;
	} e[MAX_TRACE];
};

static const struct ilb_http_limits limits[2] = {
	{ .max_line = 64, .max_head = 256, .max_headers = 8, .max_body = 512 },
	{ .max_line = 1024, .max_head = 2048, .max_headers = 32, .max_body = 4096 },
};

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t req_hash(const struct ilb_http_req *req)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t flags[4] = { req->keep_alive, req->chunked, req->expect_continue, req->http_minor };

	h = fnv(h, req->method, strlen(req->method));
	h = fnv(h, req->target, req->target_len + 1);
	h = fnv(h, flags, sizeof(flags));
	for (size_t i = 0; i < req->n_headers; i++) {
		h = fnv(h, req->headers[i].name, req->headers[i].name_len + 1);
		h = fnv(h, req->headers[i].value, req->headers[i].value_len + 1);
	}
	return fnv(h, req->body, req->body_len);
}

static void check_req(const struct ilb_http_req *req, const struct ilb_http_limits *lim)
{
	if (!req->method || !req->target || strlen(req->target) != req->target_len || req->path < req->target ||
	    req->path + req->path_len > req->target + req->target_len)
		abort();
	if (req->http_major != 1 || req->http_minor > 1 || req->n_headers > lim->max_headers)
		abort();
	if (req->body_len > lim->max_body || !req->body || req->body[req->body_len] != '\0')
		abort();
	if (req->has_content_length && (req->chunked || req->body_len != req->content_length))
		abort();
	if (!req->has_content_length && !req->chunked && req->body_len != 0)
		abort();
	if (req->http_minor == 1 && !req->host)
		abort();
	for (size_t i = 0; i < req->n_headers; i++) {
		const struct ilb_http_header *h = &req->headers[i];

		if (strlen(h->name) != h->name_len || strlen(h->value) != h->value_len || !h->name_len)
			abort();
		if (strpbrk(h->value, "\r\n"))
			abort();
	}
}

/* The head written for the backend, with the body, is one complete request again. */
static void check_round_trip(const struct ilb_http_req *req)
{
	static char buf[1 << 17];
	const struct ilb_http_header extra = { .name = "x-gateway-destination-endpoint", .value = "10.0.0.1:8000" };
	struct ilb_http_reader r;
	size_t used;
	ssize_t n;
	bool slash;

	n = ilb_http_write_head(req, req->body_len, &extra, 1, buf, sizeof(buf) - req->body_len);
	if (n < 0)
		abort();
	memcpy(buf + n, req->body, req->body_len);
	ilb_http_reader_init(&r, NULL);
	if (ilb_http_feed(&r, buf, n + req->body_len, &used) != ILB_HTTP_DONE || used != n + req->body_len)
		abort();
	/* sent in origin-form: "http://host?q" arrives as "/?q" */
	slash = req->path != req->target && *req->path != '/';
	if (slash ? r.req.path[0] != '/' || strcmp(r.req.path + 1, req->path) : strcmp(r.req.path, req->path))
		abort();
	if (strcmp(r.req.method, req->method) ||
	    r.req.http_minor != req->http_minor || !r.req.keep_alive || r.req.chunked || r.req.expect_continue ||
	    r.req.body_len != req->body_len || memcmp(r.req.body, req->body, req->body_len))
		abort();
	if (strcmp(ilb_http_req_header(&r.req, "x-gateway-destination-endpoint"), "10.0.0.1:8000"))
		abort();
	ilb_http_reader_free(&r);
}

static int same(const struct trace *a, const struct trace *b)
{
	if (a->n != b->n)
		return 0;
	for (int i = 0; i < a->n; i++)
		if (a->e[i].res != b->e[i].res || a->e[i].status != b->e[i].status || a->e[i].hash != b->e[i].hash ||
		    a->e[i].at != b->e[i].at)
			return 0;
	return 1;
}

static void record(struct trace *t, int res, int status, uint64_t hash, size_t at)
{
	if (t->n == MAX_TRACE)
		return;
	t->e[t->n].res = res;
	t->e[t->n].status = status;
	t->e[t->n].hash = hash;
	t->e[t->n].at = at;
	t->n++;
}

/* split 0: all at once */
static void run(const char *data, size_t size, const struct ilb_http_limits *lim, unsigned seed, int split,
		struct trace *t)
{
	struct ilb_http_reader r;
	size_t off = 0;
	int head_dones = 0, res = ILB_HTTP_NEED_MORE;

	memset(t, 0, sizeof(*t));
	ilb_http_reader_init(&r, lim);
	while (off < size && res != ILB_HTTP_ERROR) {
		size_t end = split ? off + 1 + rand_r(&seed) % (split == 1 ? 4 : 64) : size;

		if (end > size)
			end = size;
		while (off < end) {
			size_t used = (size_t)-1;

			res = ilb_http_feed(&r, data + off, end - off, &used);
			if (used > end - off)
				abort();
			off += used;
			if (res == ILB_HTTP_ERROR) {
				if (!r.err_reason || !r.err_reason[0])
					abort();
				switch (r.err_status) {
				case 400: case 413: case 414: case 417: case 431: case 500: case 501: case 505:
					break;
				default:
					abort();
				}
				record(t, res, r.err_status, 0, 0);
				break;
			}
			if (res == ILB_HTTP_DONE) {
				check_req(&r.req, lim);
				check_round_trip(&r.req);
				record(t, res, 0, req_hash(&r.req), off);
				ilb_http_reader_next(&r);
				head_dones = 0;
				continue;
			}
			/* NEED_MORE and HEAD_DONE take everything; HEAD_DONE once per request */
			if (off != end || (res == ILB_HTTP_HEAD_DONE && ++head_dones > 1))
				abort();
		}
	}
	if (res != ILB_HTTP_ERROR)
		record(t, ILB_HTTP_NEED_MORE, 0, 0, off);
	ilb_http_reader_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct trace whole, split;
	const struct ilb_http_limits *lim;
	unsigned seed;
	char *text;

	if (size < 2)
		return 0;
	lim = &limits[data[0] & 1];
	seed = data[0] >> 1 | (unsigned)data[1] << 7;
	/* an exact-size copy, so reading one byte past the input is caught */
	text = malloc(size - 2 ? size - 2 : 1);
	if (!text)
		return 0;
	memcpy(text, data + 2, size - 2);
	run(text, size - 2, lim, seed, 0, &whole);
	for (int mode = 1; mode <= 2; mode++) {
		run(text, size - 2, lim, seed, mode, &split);
		if (!same(&whole, &split))
			abort();
	}
	free(text);
	return 0;
}
