/* test_http1_write.c - the heads the L7 lane sends backends and the responses it writes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "l7/http1.h"

#define S(lit) lit, sizeof(lit) - 1

/* --- the head sent to the backend --- */

static void test_write_head(void **state)
{
	static const char in[] = "POST /v1/completions HTTP/1.1\r\n"
				 "Host: gw\r\n"
				 "Connection: keep-alive, X-Hop, host\r\n"
				 "Keep-Alive: timeout=5\r\n"
				 "Proxy-Connection: keep-alive\r\n"
				 "TE: trailers\r\n"
				 "Upgrade: h2c\r\n"
				 "Expect: 100-continue\r\n"
				 "Trailer: X-T\r\n"
				 "X-Hop: 1\r\n"
				 "x-gateway-destination-endpoint: 6.6.6.6:1\r\n"
				 "Authorization: Bearer k\r\n"
				 "Transfer-Encoding: chunked\r\n"
				 "Accept: */*\r\n"
				 "\r\n"
				 "2\r\n{}\r\n0\r\n\r\n";
	static const char want[] = "POST /v1/completions HTTP/1.1\r\n"
				   "Host: gw\r\n"
				   "Authorization: Bearer k\r\n"
				   "Accept: */*\r\n"
				   "x-gateway-destination-endpoint: 10.1.2.3:8000\r\n"
				   "Content-Length: 17\r\n"
				   "Connection: keep-alive\r\n"
				   "\r\n";
	const struct ilb_http_header extra[] = {
		{ .name = "x-gateway-destination-endpoint", .value = "10.1.2.3:8000" },
	};
	struct ilb_http_reader r;
	char buf[1024];
	size_t used;
	ssize_t n;

	ilb_http_reader_init(&r, NULL);
	assert_int_equal(ilb_http_feed(&r, S(in), &used), ILB_HTTP_DONE);
	n = ilb_http_write_head(&r.req, 17, extra, 1, buf, sizeof(buf));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, n);
	/* too small a buffer, at every size */
	for (size_t cap = 0; cap < sizeof(want) - 1; cap++)
		assert_int_equal(ilb_http_write_head(&r.req, 17, extra, 1, buf, cap), -ENOSPC);
	ilb_http_reader_free(&r);
}

static void test_write_head_plain(void **state)
{
	struct ilb_http_reader r;
	const struct ilb_http_header bad[] = { { .name = "X", .value = "a\r\nInjected: 1" } };
	const struct ilb_http_header bad_name[] = { { .name = "X Y", .value = "1" } };
	char buf[512];
	size_t used;
	ssize_t n;

	ilb_http_reader_init(&r, NULL);
	/* HTTP/1.0 stays 1.0; a GET without framing gets no Content-Length */
	assert_int_equal(ilb_http_feed(&r, S("GET /v1/models HTTP/1.0\r\nAccept:  a \r\n\r\n"), &used), ILB_HTTP_DONE);
	n = ilb_http_write_head(&r.req, 0, NULL, 0, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "GET /v1/models HTTP/1.0\r\nAccept: a\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(ilb_http_write_head(&r.req, 0, bad, 1, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(ilb_http_write_head(&r.req, 0, bad_name, 1, buf, sizeof(buf)), -EINVAL);
	ilb_http_reader_next(&r);
	/* the client's Content-Length is replaced by the new length */
	assert_int_equal(ilb_http_feed(&r, S("POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 2\r\n\r\n{}"), &used),
			 ILB_HTTP_DONE);
	n = ilb_http_write_head(&r.req, 25, NULL, 0, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 25\r\nConnection: keep-alive\r\n\r\n");
	ilb_http_reader_free(&r);
}

/* --- responses --- */

static void test_write_response(void **state)
{
	static const char body[] = "{\"error\":{}}";
	static const char want[] = "HTTP/1.1 429 Too Many Requests\r\n"
				   "Content-Type: application/json\r\n"
				   "Content-Length: 12\r\n"
				   "Retry-After: 1\r\n"
				   "Connection: close\r\n"
				   "\r\n"
				   "{\"error\":{}}";
	const struct ilb_http_header retry = { .name = "Retry-After", .value = "1" };
	struct ilb_http_resp resp = {
		.status = 429,
		.content_type = "application/json",
		.body = body,
		.body_len = sizeof(body) - 1,
		.extra = &retry,
		.n_extra = 1,
	};
	char buf[256];
	ssize_t n;

	n = ilb_http_write_response(&resp, buf, sizeof(buf));
	assert_int_equal(n, sizeof(want) - 1);
	assert_memory_equal(buf, want, n);
	assert_int_equal(ilb_http_write_response(&resp, buf, sizeof(want) - 2), -ENOSPC);

	resp = (struct ilb_http_resp){ .status = 200, .reason = "Fine", .keep_alive = true };
	n = ilb_http_write_response(&resp, buf, sizeof(buf));
	assert_true(n > 0);
	buf[n] = '\0';
	assert_string_equal(buf, "HTTP/1.1 200 Fine\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n");
	resp.reason = "Fine\r\nX: 1";
	assert_int_equal(ilb_http_write_response(&resp, buf, sizeof(buf)), -EINVAL);
}

static void test_status_reasons(void **state)
{
	assert_string_equal(ilb_http_status_reason(400), "Bad Request");
	assert_string_equal(ilb_http_status_reason(404), "Not Found");
	assert_string_equal(ilb_http_status_reason(413), "Content Too Large");
	assert_string_equal(ilb_http_status_reason(431), "Request Header Fields Too Large");
	assert_string_equal(ilb_http_status_reason(503), "Service Unavailable");
	assert_string_equal(ilb_http_status_reason(299), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_head),
		cmocka_unit_test(test_write_head_plain),
		cmocka_unit_test(test_write_response),
		cmocka_unit_test(test_status_reasons),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
