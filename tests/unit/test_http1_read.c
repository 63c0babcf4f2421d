/* test_http1_read.c - the HTTP/1.1 request reader: framing, smuggling refusals, limits, Expect,
 * pipelining under every split of the input. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "l7/http1.h"

#define S(lit) lit, sizeof(lit) - 1

/* Feeds data in pieces of `step` bytes (0: all at once) and returns the first result that
 * is not NEED_MORE/HEAD_DONE, or the last one; *taken is what the reader consumed. */
static int feed_steps(struct ilb_http_reader *r, const char *data, size_t len, size_t step, size_t *taken,
		      int *head_done)
{
	size_t off = 0;
	int res = ILB_HTTP_NEED_MORE;

	*head_done = 0;
	while (off < len) {
		size_t n = step && step < len - off ? step : len - off, used;

		res = ilb_http_feed(r, data + off, n, &used);
		if (res == ILB_HTTP_HEAD_DONE)
			(*head_done)++;
		if (res == ILB_HTTP_DONE || res == ILB_HTTP_ERROR) {
			off += used;
			break;
		}
		assert_int_equal(used, n);
		off += used;
	}
	*taken = off;
	return res;
}

static int parse_one(struct ilb_http_reader *r, const char *data, size_t len, size_t step)
{
	size_t taken;
	int head_done;

	return feed_steps(r, data, len, step, &taken, &head_done);
}

/* --- a plain request --- */

static void test_post_with_content_length(void **state)
{
	static const char in[] = "POST /v1/chat/completions?x=1 HTTP/1.1\r\n"
				 "Host: gw.example:8888\r\n"
				 "Content-Type:  application/json \t\r\n"
				 "x-gateway-inference-objective: chat-prio\r\n"
				 "Content-Length: 13\r\n"
				 "\r\n"
				 "{\"model\":\"m\"}";
	struct ilb_http_reader r;
	size_t used;

	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S(in), &used), ILB_HTTP_DONE);
	assert_int_equal(used, sizeof(in) - 1);
	assert_string_equal(r.req.method, "POST");
	assert_string_equal(r.req.target, "/v1/chat/completions?x=1");
	assert_int_equal(r.req.target_len, strlen("/v1/chat/completions?x=1"));
	assert_ptr_equal(r.req.path, r.req.target);
	assert_int_equal(r.req.path_len, strlen("/v1/chat/completions"));
	assert_int_equal(r.req.http_major, 1);
	assert_int_equal(r.req.http_minor, 1);
	assert_true(r.req.keep_alive);
	assert_true(r.req.has_content_length);
	assert_int_equal(r.req.content_length, 13);
	assert_false(r.req.chunked);
	assert_false(r.req.expect_continue);
	assert_string_equal(r.req.host, "gw.example:8888");
	assert_string_equal(r.req.objective, "chat-prio");
	assert_int_equal(r.req.n_headers, 4);
	assert_string_equal(r.req.headers[1].name, "Content-Type");
	assert_string_equal(r.req.headers[1].value, "application/json");
	assert_int_equal(r.req.headers[1].value_len, strlen("application/json"));
	assert_string_equal(ilb_http_req_header(&r.req, "content-type"), "application/json");
	assert_null(ilb_http_req_header(&r.req, "accept"));
	assert_int_equal(r.req.body_len, 13);
	assert_string_equal(r.req.body, "{\"model\":\"m\"}");
	/* done stays done and takes nothing until the next request is asked for */
	assert_int_equal(ilb_http_feed(&r, "GET", 3, &used), ILB_HTTP_DONE);
	assert_int_equal(used, 0);
	ilb_http_reader_free(&r);
}

static void test_get_without_body(void **state)
{
	struct ilb_http_reader r;
	size_t used;

	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S("GET /v1/models HTTP/1.1\r\nHost: a\r\n\r\n"), &used), ILB_HTTP_DONE);
	assert_string_equal(r.req.method, "GET");
	assert_int_equal(r.req.body_len, 0);
	assert_string_equal(r.req.body, "");
	assert_false(r.req.has_content_length);
	assert_null(r.req.objective);
	ilb_http_reader_free(&r);
}

/* --- refusals --- */

struct bad_case {
	const char *desc;
	const char *in;
	int status;
};

#define POST_TE "POST / HTTP/1.1\r\nHost: a\r\n"

static const struct bad_case bad_cases[] = {
	{ "CL with TE", POST_TE "Content-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400 },
	{ "TE with CL", POST_TE "Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 400 },
	{ "duplicate CL, same value", POST_TE "Content-Length: 3\r\nContent-Length: 3\r\n\r\nabc", 400 },
	{ "duplicate CL, other value", POST_TE "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400 },
	{ "CL list", POST_TE "Content-Length: 3, 3\r\n\r\nabc", 400 },
	{ "CL with sign", POST_TE "Content-Length: +3\r\n\r\nabc", 400 },
	{ "CL negative", POST_TE "Content-Length: -1\r\n\r\n", 400 },
	{ "CL hex", POST_TE "Content-Length: 0x3\r\n\r\nabc", 400 },
	{ "CL empty", POST_TE "Content-Length: \r\n\r\n", 400 },
	{ "CL overflow", POST_TE "Content-Length: 99999999999999999999999\r\n\r\n", 400 },
	{ "TE chunked then gzip", POST_TE "Transfer-Encoding: chunked, gzip\r\n\r\n", 400 },
	{ "TE chunked twice", POST_TE "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE chunked in two fields", POST_TE "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
	  400 },
	{ "TE chunked then other field", POST_TE "Transfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n", 400 },
	{ "TE quoted", POST_TE "Transfer-Encoding: \"chunked\"\r\n\r\n0\r\n\r\n", 400 },
	{ "TE empty element", POST_TE "Transfer-Encoding: , chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE vertical tab", POST_TE "Transfer-Encoding: \x0b" "chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE name with space", POST_TE "Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE chunked with parameter", POST_TE "Transfer-Encoding: chunked;x=1\r\n\r\n0\r\n\r\n", 400 },
	{ "TE in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
	{ "TE gzip", POST_TE "Transfer-Encoding: gzip\r\n\r\n", 501 },
	{ "TE gzip, chunked", POST_TE "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501 },
	{ "TE xchunked", POST_TE "Transfer-Encoding: xchunked\r\n\r\n", 501 },
	{ "TE identity", POST_TE "Transfer-Encoding: identity\r\n\r\n", 501 },
	{ "chunk size not hex", POST_TE "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400 },
	{ "chunk size 0x", POST_TE "Transfer-Encoding: chunked\r\n\r\n0x3\r\nabc\r\n0\r\n\r\n", 400 },
	{ "chunk size overflow", POST_TE "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n", 400 },
	{ "chunk size space", POST_TE "Transfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n0\r\n\r\n", 400 },
	{ "chunk data too long", POST_TE "Transfer-Encoding: chunked\r\n\r\n3\r\nabcd\r\n0\r\n\r\n", 400 },
	{ "chunk size bare LF", POST_TE "Transfer-Encoding: chunked\r\n\r\n3\nabc\r\n0\r\n\r\n", 400 },
	{ "chunk data bare LF", POST_TE "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n", 400 },
	{ "last chunk bare LF", POST_TE "Transfer-Encoding: chunked\r\n\r\n0\n\r\n", 400 },
	{ "trailer end bare LF", POST_TE "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\n", 400 },
	{ "trailer bare LF", POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\n\r\n", 400 },
	{ "trailer obs-fold", POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n z\r\n\r\n", 400 },
	{ "request line bare LF", "GET / HTTP/1.1\nHost: a\r\n\r\n", 400 },
	{ "header bare LF", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", 400 },
	{ "head end bare LF", "GET / HTTP/1.1\r\nHost: a\r\n\n", 400 },
	{ "bare CR in value", "GET / HTTP/1.1\r\nHost: a\rX: b\r\n\r\n", 400 },
	{ "bare CR ending the head", "GET / HTTP/1.1\r\nHost: a\r\n\rX", 400 },
	{ "NUL in value", "GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400 },
	{ "NUL in target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n  b\r\n\r\n", 400 },
	{ "obs-fold with tab", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", 400 },
	{ "space before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400 },
	{ "space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400 },
	{ "empty field name", "GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400 },
	{ "empty trailer name", POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\n: x\r\n\r\n", 400 },
	{ "invalid field char", "GET / HTTP/1.1\r\nHost: a\r\nX(y): 1\r\n\r\n", 400 },
	{ "control char in value", "GET / HTTP/1.1\r\nHost: a\x01\r\n\r\n", 400 },
	{ "DEL in value", "GET / HTTP/1.1\r\nHost: a\x7f\r\n\r\n", 400 },
	{ "control char in target", "GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "unknown method", "FETCH / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "lower-case method", "get / HTTP/1.1\r\nHost: a\r\n\r\n", 400 },
	{ "no version (HTTP/0.9)", "GET /\r\nHost: a\r\n\r\n", 505 },
	{ "bad version", "GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400 },
	{ "no Host in HTTP/1.1", "GET / HTTP/1.1\r\n\r\n", 400 },
	{ "two Hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400 },
	{ "Expect other", "POST / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\nx", 417 },
	{ "HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505 },
	{ "HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", 400 },
	{ "HTTP/0.9 form", "GET / HTTP/0.9\r\nHost: a\r\n\r\n", 505 },
	{ "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505 },
	{ "CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501 },
};

static void test_refusals(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		/* the NUL cases have a NUL inside: their length comes from the last CRLFCRLF */
		size_t len = strlen(c->in);

		if (strstr(c->desc, "NUL"))
			len += strlen(c->in + len + 1) + 1;
		for (size_t step = 0; step <= 3; step++) {
			struct ilb_http_reader r;
			size_t used;
			int res;

			ilb_http_reader_init(&r, NULL);
			res = parse_one(&r, c->in, len, step);
			if (res != ILB_HTTP_ERROR || r.err_status != c->status)
				fail_msg("%s (step %zu): expected error %d, got result %d status %d (%s)", c->desc, step,
					 c->status, res, r.err_status, r.err_reason ? r.err_reason : "");
			assert_non_null(r.err_reason);
			assert_true(strlen(r.err_reason) > 0);
			/* an error sticks */
			assert_int_equal(ilb_http_feed(&r, "x", 1, &used), ILB_HTTP_ERROR);
			assert_int_equal(used, 0);
			ilb_http_reader_free(&r);
		}
	}
}

/* --- limits --- */

static const struct ilb_http_limits small = { .max_line = 64, .max_head = 256, .max_headers = 4, .max_body = 100 };

static char *make_request(const char *target, int n_headers, size_t value_len, const char *tail)
{
	char *buf = malloc(8192);
	size_t len = 0;

	len += sprintf(buf + len, "POST %s HTTP/1.1\r\nHost: a\r\n", target);
	for (int i = 0; i < n_headers; i++) {
		len += sprintf(buf + len, "X-%d: ", i);
		memset(buf + len, 'v', value_len);
		len += value_len;
		len += sprintf(buf + len, "\r\n");
	}
	sprintf(buf + len, "%s", tail);
	return buf;
}

static int parse_with(const struct ilb_http_limits *lim, const char *in, size_t step, int *status)
{
	struct ilb_http_reader r;
	int res;

	ilb_http_reader_init(&r, lim);
	res = parse_one(&r, in, strlen(in), step);
	*status = r.err_status;
	ilb_http_reader_free(&r);
	return res;
}

static void expect_result(const struct ilb_http_limits *lim, const char *in, int want_res, int want_status,
			  const char *what)
{
	for (size_t step = 0; step <= 2; step++) {
		int status, res = parse_with(lim, in, step, &status);

		if (res != want_res || (want_res == ILB_HTTP_ERROR && status != want_status))
			fail_msg("%s (step %zu): expected %d/%d, got %d/%d", what, step, want_res, want_status, res,
				 status);
	}
}

/* expect_result on a request to "/" with n_headers fields X-i of value_len bytes, then tail. */
static void expect_with_headers(const struct ilb_http_limits *lim, int n_headers, size_t value_len, const char *tail,
				int want_res, int want_status, const char *what)
{
	char *in = make_request("/", n_headers, value_len, tail);

	expect_result(lim, in, want_res, want_status, what);
	free(in);
}

static void test_limit_request_line(void **state)
{
	/* "POST " + target + " HTTP/1.1" is exactly max_line, then one more */
	char target[64];
	char *in;

	memset(target, 'a', sizeof(target));
	target[0] = '/';
	target[64 - 14] = '\0';
	in = make_request(target, 0, 0, "\r\n");
	assert_int_equal(strchr(in, '\r') - in, 64);
	expect_result(&small, in, ILB_HTTP_DONE, 0, "request line of max_line");
	free(in);
	target[64 - 14] = 'a';
	target[64 - 13] = '\0';
	in = make_request(target, 0, 0, "\r\n");
	expect_result(&small, in, ILB_HTTP_ERROR, 414, "request line over max_line");
	free(in);
}

static void test_limit_header_line(void **state)
{
	/* "X-0: " + value is a line of 5 + value_len */
	expect_with_headers(&small, 1, 59, "\r\n", ILB_HTTP_DONE, 0, "header line of max_line");
	expect_with_headers(&small, 1, 60, "\r\n", ILB_HTTP_ERROR, 431, "header line over max_line");
}

static void test_limit_head(void **state)
{
	/* 26 ("POST / HTTP/1.1\r\nHost: a\r\n") + 4 * (5 + v + 2) + 2 */
	const struct ilb_http_limits lim = { .max_line = 64, .max_head = 26 + 4 * 57 + 2, .max_headers = 5,
					     .max_body = 100 };
	char *in = make_request("/", 4, 50, "\r\n");

	assert_int_equal(strlen(in), lim.max_head);
	expect_result(&lim, in, ILB_HTTP_DONE, 0, "head of max_head");
	free(in);
	expect_with_headers(&lim, 4, 51, "\r\n", ILB_HTTP_ERROR, 431, "head over max_head");
	/* a head that never ends is refused once max_head bytes are in */
	expect_with_headers(&lim, 4, 50, "X-5: 1", ILB_HTTP_ERROR, 431, "endless head");
}

static void test_limit_header_count(void **state)
{
	/* Host is one of the max_headers */
	expect_with_headers(&small, 3, 1, "\r\n", ILB_HTTP_DONE, 0, "max_headers fields");
	expect_with_headers(&small, 4, 1, "\r\n", ILB_HTTP_ERROR, 431, "more than max_headers fields");
}

static void test_limit_body(void **state)
{
	char in[512], body[102];
	struct ilb_http_reader r;
	size_t used;

	memset(body, 'b', sizeof(body));
	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n%.100s", body);
	expect_result(&small, in, ILB_HTTP_DONE, 0, "body of max_body");
	/* refused from Content-Length alone, before any body byte */
	ilb_http_reader_init(&r, &small);
	assert_int_equal(ilb_http_feed(&r, S("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n"), &used),
			 ILB_HTTP_ERROR);
	assert_int_equal(r.err_status, 413);
	ilb_http_reader_free(&r);
	/* chunked: by the chunk size, before its data */
	ilb_http_reader_init(&r, &small);
	assert_int_equal(ilb_http_feed(&r, S(POST_TE "Transfer-Encoding: chunked\r\n\r\n32\r\n"), &used),
			 ILB_HTTP_HEAD_DONE);
	assert_int_equal(ilb_http_feed(&r, body, 50, &used), ILB_HTTP_NEED_MORE);
	assert_int_equal(ilb_http_feed(&r, S("\r\n33\r\n"), &used), ILB_HTTP_ERROR);
	assert_int_equal(r.err_status, 413);
	ilb_http_reader_free(&r);
	snprintf(in, sizeof(in), POST_TE "Transfer-Encoding: chunked\r\n\r\n32\r\n%.50s\r\n32\r\n%.50s\r\n0\r\n\r\n", body,
		 body);
	expect_result(&small, in, ILB_HTTP_DONE, 0, "chunked body of max_body");
}

static void test_limit_chunk_line(void **state)
{
	char in[512];

	/* a chunk extension as long as a header line may be, then one byte more */
	snprintf(in, sizeof(in), POST_TE "Transfer-Encoding: chunked\r\n\r\n1;%062d\r\nx\r\n0\r\n\r\n", 0);
	expect_result(&small, in, ILB_HTTP_DONE, 0, "chunk line of max_line");
	snprintf(in, sizeof(in), POST_TE "Transfer-Encoding: chunked\r\n\r\n1;%063d\r\nx\r\n0\r\n\r\n", 0);
	expect_result(&small, in, ILB_HTTP_ERROR, 400, "chunk line over max_line");
	/* trailers count against max_headers */
	snprintf(in, sizeof(in), POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n");
	expect_result(&small, in, ILB_HTTP_ERROR, 431, "too many trailers");
	/* and their bytes against max_head: four lines of 63 bytes each */
	snprintf(in, sizeof(in), POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\n%s", "");
	for (int i = 0; i < 4; i++)
		snprintf(in + strlen(in), sizeof(in) - strlen(in), "%c: %060d\r\n", 'A' + i, 0);
	strcat(in, "\r\n");
	expect_result(&small, in, ILB_HTTP_ERROR, 431, "trailers over max_head");
	/* without the last one */
	in[strlen(in) - 67] = '\0';
	strcat(in, "\r\n");
	expect_result(&small, in, ILB_HTTP_DONE, 0, "trailers under max_head");
}

/* --- Expect --- */

static void test_expect_continue(void **state)
{
	struct ilb_http_reader r;
	size_t used;

	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\n"), &used),
			 ILB_HTTP_NEED_MORE);
	assert_int_equal(ilb_http_feed(&r, S("Content-Length: 4\r\n\r\nab"), &used), ILB_HTTP_HEAD_DONE);
	assert_int_equal(used, strlen("Content-Length: 4\r\n\r\nab"));
	assert_true(r.req.expect_continue);
	/* the head fields are there already, for the caller to route or refuse early */
	assert_string_equal(r.req.target, "/");
	assert_int_equal(r.req.content_length, 4);
	/* only once */
	assert_int_equal(ilb_http_feed(&r, "c", 1, &used), ILB_HTTP_NEED_MORE);
	assert_int_equal(ilb_http_feed(&r, "d", 1, &used), ILB_HTTP_DONE);
	assert_string_equal(r.req.body, "abcd");
	ilb_http_reader_next(&r);

	/* the body came with the head: no HEAD_DONE, straight to DONE */
	assert_int_equal(ilb_http_feed(&r, S("POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
					    "Content-Length: 2\r\n\r\nab"),
				       &used),
			 ILB_HTTP_DONE);
	assert_true(r.req.expect_continue);
	ilb_http_reader_next(&r);

	/* HTTP/1.0 clients do not wait for 100: the field is ignored */
	assert_int_equal(ilb_http_feed(&r, S("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
				       &used),
			 ILB_HTTP_HEAD_DONE);
	assert_false(r.req.expect_continue);
	ilb_http_reader_free(&r);
	assert_string_equal(ILB_HTTP_100_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

/* An idle kept-alive connection gives its buffers back; the next request reads as the first. */
static void test_idle_releases_buffers(void **state)
{
	struct ilb_http_reader r;
	size_t used;

	(void)state;
	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S("POST /v1/completions HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nab"),
				       &used),
			 ILB_HTTP_DONE);
	assert_non_null(r.req.arena);
	ilb_http_reader_idle(&r);
	assert_null(r.req.arena);
	assert_null(r.req.headers);
	assert_null(r.req.body_buf);
	assert_null(r.p.offs);
	assert_int_equal(ilb_http_feed(&r, S("POST /v1/chat/completions HTTP/1.1\r\nHost: b\r\nX-A: 1\r\n"
					    "Content-Length: 3\r\n\r\nxyz"),
				       &used),
			 ILB_HTTP_DONE);
	assert_string_equal(r.req.target, "/v1/chat/completions");
	assert_string_equal(ilb_http_req_header(&r.req, "x-a"), "1");
	assert_string_equal(r.req.body, "xyz");
	ilb_http_reader_free(&r);
}

/* --- chunked bodies --- */

static void test_chunked_body(void **state)
{
	static const char in[] = POST_TE "Transfer-Encoding: Chunked \r\n\r\n"
					 "5;ext=1\r\nhello\r\n"
					 "1\r\n \r\n"
					 "00005\r\nworld\r\n"
					 "0\r\nX-Trailer: t\r\n\r\n";
	for (size_t step = 0; step <= 3; step++) {
		struct ilb_http_reader r;

		ilb_http_reader_init(&r, NULL);
		assert_int_equal(parse_one(&r, S(in), step), ILB_HTTP_DONE);
		assert_true(r.req.chunked);
		assert_false(r.req.has_content_length);
		assert_int_equal(r.req.body_len, 11);
		assert_string_equal(r.req.body, "hello world");
		/* trailers are dropped, not added to the head */
		assert_int_equal(r.req.n_headers, 2);
		assert_null(ilb_http_req_header(&r.req, "x-trailer"));
		ilb_http_reader_free(&r);
	}
}

static void test_chunked_empty(void **state)
{
	struct ilb_http_reader r;
	size_t used;

	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S(POST_TE "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"), &used),
			 ILB_HTTP_DONE);
	assert_int_equal(r.req.body_len, 0);
	assert_string_equal(r.req.body, "");
	ilb_http_reader_free(&r);
}

/* --- keep-alive --- */

static void test_keep_alive_rules(void **state)
{
	static const struct {
		const char *in;
		bool keep_alive;
	} cases[] = {
		{ "GET / HTTP/1.1\r\nHost: a\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo, close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: x-foo\r\nConnection: close\r\n\r\n", false },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", true },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", false },
		{ "GET / HTTP/1.0\r\nHost: a\r\nKeep-Alive: timeout=5\r\n\r\n", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ilb_http_reader r;
		size_t used;

		ilb_http_reader_init(&r, NULL);
		assert_int_equal(ilb_http_feed(&r, cases[i].in, strlen(cases[i].in), &used), ILB_HTTP_DONE);
		if (r.req.keep_alive != cases[i].keep_alive)
			fail_msg("case %zu: keep_alive %d, expected %d", i, r.req.keep_alive, cases[i].keep_alive);
		ilb_http_reader_free(&r);
	}
}

static void test_absolute_form(void **state)
{
	static const struct {
		const char *target, *path, *forward;
	} cases[] = {
		{ "http://gw:8888/v1/completions?x=1", "/v1/completions?x=1", "/v1/completions?x=1" },
		{ "HTTPS://gw/v1/chat/completions", "/v1/chat/completions", "/v1/chat/completions" },
		{ "http://gw", "", "/" },
		{ "http://gw?x", "?x", "/?x" },
		{ "*", "*", "*" },
		{ "/v1/models", "/v1/models", "/v1/models" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ilb_http_reader r;
		char in[256], want[256], buf[512];
		size_t used;
		ssize_t n;

		snprintf(in, sizeof(in), "OPTIONS %s HTTP/1.1\r\nHost: gw\r\n\r\n", cases[i].target);
		ilb_http_reader_init(&r, NULL);
		assert_int_equal(ilb_http_feed(&r, in, strlen(in), &used), ILB_HTTP_DONE);
		assert_string_equal(r.req.target, cases[i].target);
		assert_string_equal(r.req.path, cases[i].path);
		assert_int_equal(r.req.path_len, strcspn(cases[i].path, "?"));
		n = ilb_http_write_head(&r.req, 0, NULL, 0, buf, sizeof(buf));
		assert_true(n > 0);
		buf[n] = '\0';
		snprintf(want, sizeof(want), "OPTIONS %s HTTP/1.1\r\nHost: gw\r\nConnection: keep-alive\r\n\r\n",
			 cases[i].forward);
		assert_string_equal(buf, want);
		ilb_http_reader_free(&r);
	}
}

static void test_http10(void **state)
{
	struct ilb_http_reader r;
	size_t used;

	ilb_http_reader_init(&r, NULL);
	/* no Host needed; a body needs Content-Length */
	assert_int_equal(ilb_http_feed(&r, S("POST /v1/completions HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"), &used),
			 ILB_HTTP_DONE);
	assert_int_equal(r.req.http_minor, 0);
	assert_null(r.req.host);
	assert_string_equal(r.req.body, "{}");
	ilb_http_reader_free(&r);
}

/* --- pipelining: the same requests whatever the split --- */

static const char pipeline[] = "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
			       "GET /b?q HTTP/1.1\r\nHost: h\r\n\r\n"
			       "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "3\r\nabc\r\n2;x\r\nde\r\n0\r\nT: 1\r\n\r\n"
			       "POST /d HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n"
			       "Connection: close\r\n\r\nxyz";

static const char *const pipeline_want[] = {
	"POST /a ka=1 ch=0 ex=0 n=2 body=hello",
	"GET /b?q ka=1 ch=0 ex=0 n=1 body=",
	"POST /c ka=1 ch=1 ex=0 n=2 body=abcde",
	"POST /d ka=0 ch=0 ex=1 n=4 body=xyz",
};

#define MAX_SEEN 8

struct seen {
	int n;
	char s[MAX_SEEN][128];
};

/* Feeds the pieces between the cut offsets (cuts ascending, ending with len). */
static void run_pipeline(const char *data, const size_t *cuts, size_t n_cuts, struct seen *seen)
{
	struct ilb_http_reader r;
	size_t start = 0;

	memset(seen, 0, sizeof(*seen));
	ilb_http_reader_init(&r, NULL);
	for (size_t c = 0; c < n_cuts; c++) {
		size_t off = start, end = cuts[c];

		while (off < end) {
			size_t used;
			int res = ilb_http_feed(&r, data + off, end - off, &used);

			assert_true(used <= end - off);
			assert_int_not_equal(res, ILB_HTTP_ERROR);
			off += used;
			if (res != ILB_HTTP_DONE) {
				assert_int_equal(off, end);
				break;
			}
			assert_true(seen->n < MAX_SEEN);
			snprintf(seen->s[seen->n++], sizeof(seen->s[0]), "%s %s ka=%d ch=%d ex=%d n=%zu body=%s",
				 r.req.method, r.req.target, r.req.keep_alive, r.req.chunked, r.req.expect_continue,
				 r.req.n_headers, r.req.body);
			ilb_http_reader_next(&r);
		}
		start = end;
	}
	ilb_http_reader_free(&r);
}

static void check_seen(const struct seen *seen, const char *how)
{
	if (seen->n != 4)
		fail_msg("%s: %d requests, expected 4", how, seen->n);
	for (int i = 0; i < 4; i++)
		if (strcmp(seen->s[i], pipeline_want[i]))
			fail_msg("%s: request %d is \"%s\", expected \"%s\"", how, i, seen->s[i], pipeline_want[i]);
}

static void test_pipeline_whole(void **state)
{
	size_t len = sizeof(pipeline) - 1;
	struct seen seen;

	run_pipeline(pipeline, &len, 1, &seen);
	check_seen(&seen, "whole");
}

static void test_pipeline_every_split(void **state)
{
	size_t len = sizeof(pipeline) - 1;
	char how[32];

	for (size_t i = 1; i < len; i++) {
		size_t cuts[2] = { i, len };
		struct seen seen;

		run_pipeline(pipeline, cuts, 2, &seen);
		snprintf(how, sizeof(how), "split at %zu", i);
		check_seen(&seen, how);
	}
}

static void test_pipeline_byte_by_byte(void **state)
{
	size_t len = sizeof(pipeline) - 1, *cuts = malloc(len * sizeof(*cuts));
	struct seen seen;

	for (size_t i = 0; i < len; i++)
		cuts[i] = i + 1;
	run_pipeline(pipeline, cuts, len, &seen);
	check_seen(&seen, "byte by byte");
	free(cuts);
}

static void test_pipeline_random_splits(void **state)
{
	size_t len = sizeof(pipeline) - 1, cuts[64];
	unsigned seed = 12345;
	char how[48];

	for (int round = 0; round < 500; round++) {
		size_t n = 0, off = 0;
		struct seen seen;

		while (off < len && n < 63) {
			off += 1 + rand_r(&seed) % 40;
			cuts[n++] = off < len ? off : len;
		}
		if (cuts[n - 1] != len)
			cuts[n++] = len;
		run_pipeline(pipeline, cuts, n, &seen);
		snprintf(how, sizeof(how), "random round %d", round);
		check_seen(&seen, how);
	}
}

/* The refusal does not depend on the split either. */
static void test_refusals_random_splits(void **state)
{
	unsigned seed = 7;

	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = strlen(c->in);

		if (strstr(c->desc, "NUL"))
			continue;
		for (int round = 0; round < 20; round++) {
			struct ilb_http_reader r;
			size_t off = 0, used;
			int res = ILB_HTTP_NEED_MORE;

			ilb_http_reader_init(&r, NULL);
			while (off < len && res != ILB_HTTP_ERROR && res != ILB_HTTP_DONE) {
				size_t n = 1 + rand_r(&seed) % 16;

				if (n > len - off)
					n = len - off;
				res = ilb_http_feed(&r, c->in + off, n, &used);
				off += used;
			}
			if (res != ILB_HTTP_ERROR || r.err_status != c->status)
				fail_msg("%s, round %d: got %d status %d", c->desc, round, res, r.err_status);
			ilb_http_reader_free(&r);
		}
	}
}

/* A reader reused for many requests keeps working and frees a big body buffer. */
static void test_reuse(void **state)
{
	struct ilb_http_reader r;
	char *big = malloc(200000 + 128);
	int len;

	len = sprintf(big, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n");
	memset(big + len, 'z', 200000);
	ilb_http_reader_init(&r, NULL);
	for (int i = 0; i < 3; i++) {
		size_t used;

		assert_int_equal(ilb_http_feed(&r, big, len + 200000, &used), ILB_HTTP_DONE);
		assert_int_equal(r.req.body_len, 200000);
		ilb_http_reader_next(&r);
		assert_null(r.req.body_buf);
		assert_int_equal(ilb_http_feed(&r, S("GET /x HTTP/1.1\r\nHost: h\r\n\r\n"), &used), ILB_HTTP_DONE);
		assert_string_equal(r.req.target, "/x");
		ilb_http_reader_next(&r);
	}
	ilb_http_reader_free(&r);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_post_with_content_length),
		cmocka_unit_test(test_get_without_body),
		cmocka_unit_test(test_idle_releases_buffers),
		cmocka_unit_test(test_refusals),
		cmocka_unit_test(test_limit_request_line),
		cmocka_unit_test(test_limit_header_line),
		cmocka_unit_test(test_limit_head),
		cmocka_unit_test(test_limit_header_count),
		cmocka_unit_test(test_limit_body),
		cmocka_unit_test(test_limit_chunk_line),
		cmocka_unit_test(test_expect_continue),
		cmocka_unit_test(test_chunked_body),
		cmocka_unit_test(test_chunked_empty),
		cmocka_unit_test(test_keep_alive_rules),
		cmocka_unit_test(test_absolute_form),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_pipeline_whole),
		cmocka_unit_test(test_pipeline_every_split),
		cmocka_unit_test(test_pipeline_byte_by_byte),
		cmocka_unit_test(test_pipeline_random_splits),
		cmocka_unit_test(test_refusals_random_splits),
		cmocka_unit_test(test_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
