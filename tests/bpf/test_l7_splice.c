/* test_l7_splice - sk_skb_splice on real TCP sockets over loopback in a private network
 * namespace: a "pod" answers on a backend socket that sits in `l7_backends`, and its
 * response must arrive byte for byte on the paired client connection, with the end of
 * the response (Content-Length, chunked, 100 Continue, HEAD) reported in `l7_events`. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "inferlb.h"
#include "kern/maps.h"
#include "kern/l7_kern.h"
#include "bpf/tap.h"

static struct ilb_maps maps;
static struct ilb_l7_kern kern;
static struct ring_buffer *ring;
static struct l7_event events[64];
static int n_events;

/* The bytes the PART_INLINE and DONE_INLINE events carried since inline_len was last zeroed */
static char inline_data[ILB_L7_INLINE_MAX];
static size_t inline_len;

static int on_event(void *ctx, void *data, size_t len)
{
	const struct l7_event *ev = data;

	if (len >= sizeof(*ev) && (ev->kind == ILB_L7_EV_DONE_INLINE || ev->kind == ILB_L7_EV_PART_INLINE) &&
	    ev->tail <= len - sizeof(*ev) && inline_len + ev->tail <= sizeof(inline_data)) {
		memcpy(inline_data + inline_len, ev + 1, ev->tail);
		inline_len += ev->tail;
	}
	if (len >= sizeof(struct l7_event) && n_events < 64)
		memcpy(&events[n_events++], data, sizeof(struct l7_event));
	return 0;
}

/* A connected pair over loopback: *a connects, *b is the accepted end. */
static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (l < 0 || bind(l, (void *)&sa, sizeof(sa)) || listen(l, 4) || getsockname(l, (void *)&sa, &len))
		return -errno;
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(*a, (void *)&sa, sizeof(sa)))
		return -errno;
	*b = accept(l, NULL, NULL);
	close(l);
	setsockopt(*a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*b, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return *b < 0 ? -errno : 0;
}

struct exchange {
	int user, client; /* the user's end, and the agent's end of the client connection */
	int backend, pod; /* the agent's end of the backend connection, and the pod's end */
	uint64_t client_cookie, backend_cookie;
	uint32_t slot; /* the backend's in `l7_stream_state` */
};

static int exchange_open_inline(struct exchange *x, uint64_t stream_id, bool head, uint32_t inline_max)
{
	if (tcp_pair(&x->user, &x->client) || tcp_pair(&x->backend, &x->pod))
		return -1;
	x->client_cookie = ilb_socket_cookie(x->client);
	x->backend_cookie = ilb_socket_cookie(x->backend);
	if (ilb_l7_kern_add_client(&kern, x->client, x->client_cookie) ||
	    ilb_l7_kern_add_backend(&kern, x->backend, x->backend_cookie, &x->slot))
		return -1;
	return ilb_l7_kern_stream_start(&kern, x->slot, x->client_cookie, stream_id, head, inline_max);
}

static int exchange_open(struct exchange *x, uint64_t stream_id, bool head)
{
	return exchange_open_inline(x, stream_id, head, 0);
}

static void exchange_close(struct exchange *x)
{
	ilb_l7_kern_del_backend(&kern, x->backend_cookie, x->slot);
	ilb_l7_kern_del_client(&kern, x->client_cookie);
	close(x->user);
	close(x->client);
	close(x->backend);
	close(x->pod);
}

/* Reads from fd until `want` bytes or 2 s of silence. */
static size_t read_all(int fd, char *buf, size_t want)
{
	size_t got = 0;

	while (got < want) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) <= 0)
			break;
		n = recv(fd, buf + got, want - got, 0);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

static void poll_events(void)
{
	for (int i = 0; i < 20; i++) {
		ring_buffer__poll(ring, 50);
	}
}

static int count_events(uint64_t id, uint32_t kind)
{
	int n = 0;

	for (int i = 0; i < n_events; i++)
		n += events[i].stream_id == id && events[i].kind == kind;
	return n;
}

static uint32_t stream_state(const struct exchange *x)
{
	struct l7_stream s;

	ilb_l7_kern_stream_get(&kern, x->slot, &s);
	return s.state;
}

/* The pod writes `parts` one by one (a pause between, so they arrive as separate skbs);
 * the user must read exactly their concatenation and the stream must end as expected. */
static void check_response(const char *desc, uint64_t id, bool head, const char *const *parts, int n_parts,
			   uint32_t want_state)
{
	struct exchange x;
	char want[8192] = "", got[8192];
	size_t len;

	if (exchange_open(&x, id, head)) {
		ok(false, "%s: setting up sockets: %s", desc, strerror(errno));
		return;
	}
	for (int i = 0; i < n_parts; i++) {
		strcat(want, parts[i]);
		if (send(x.pod, parts[i], strlen(parts[i]), 0) < 0)
			break;
		usleep(20000);
	}
	len = read_all(x.user, got, strlen(want));
	poll_events();
	ok(len == strlen(want) && !memcmp(got, want, len), "%s: the client reads the response byte for byte (%zu of %zu)",
	   desc, len, strlen(want));
	ok(stream_state(&x) == want_state && count_events(id, ILB_L7_EV_DONE) == (want_state == ILB_RESP_DONE),
	   "%s: stream state %u (expected %u), %d end events", desc, stream_state(&x), want_state,
	   count_events(id, ILB_L7_EV_DONE));
	exchange_close(&x);
}

static void test_framings(void)
{
	const char *cl[] = { "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n",
			     "{\"a\":", "\"bcd\"}" };
	const char *chunked[] = { "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
				  "e\r\ndata: {\"x\":1}\n\r\n", "E\r\ndata: {\"x\":2}\n\r\n",
				  "d\r\ndata: [DONE]\n\r\n", "0\r\n\r\n" };
	const char *split[] = { "HTTP/1.1 200 OK\r\nTransfer-Encod", "ing: gzip, Chunked \r\n\r\n5;ext=1\r\nhel",
				"lo\r\n0\r\n", "X-Trailer: 1\r\n\r\n" };
	const char *cont[] = { "HTTP/1.1 100 Continue\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	const char *head_req[] = { "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n" };
	const char *no_content[] = { "HTTP/1.1 204 No Content\r\nServer: x\r\n\r\n" };
	const char *partial[] = { "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", "12345" };
	const char *chunk_open[] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", "3\r\nabc\r\n" };
	const char *until_close[] = { "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n", "body" };

	check_response("Content-Length in two writes", 1, false, cl, 3, ILB_RESP_DONE);
	check_response("chunked SSE, one chunk per write", 2, false, chunked, 5, ILB_RESP_DONE);
	check_response("head split mid-name, TE list ending in chunked, extension and trailer", 3, false, split, 4,
		       ILB_RESP_DONE);
	check_response("100 Continue then the final response", 4, false, cont, 2, ILB_RESP_DONE);
	check_response("a HEAD request's response has no body", 5, true, head_req, 1, ILB_RESP_DONE);
	check_response("204 has no body", 6, false, no_content, 1, ILB_RESP_DONE);
	check_response("half a Content-Length body is not the end", 7, false, partial, 2, ILB_RESP_BODY_LENGTH);
	check_response("chunked without the last chunk is not the end", 8, false, chunk_open, 2,
		       ILB_RESP_CHUNK_SIZE);
	check_response("no length: the body lasts until the pod closes", 9, false, until_close, 2,
		       ILB_RESP_UNTIL_CLOSE);
}

static void test_malformed(void)
{
	const char *bad[] = { "HTTP/1.1 200 OK\r\nContent-Length: 12x\r\n\r\n" };
	const char *bad_chunk[] = { "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n" };
	const char *bad_status[] = { "garbage\r\n\r\n" };
	const char *const *cases[] = { bad, bad_chunk, bad_status };
	const char *names[] = { "invalid Content-Length", "invalid chunk size", "no status line" };

	for (int i = 0; i < 3; i++) {
		struct exchange x;
		char buf[256];
		ssize_t n;

		if (exchange_open(&x, 20 + i, false)) {
			ok(false, "%s: setting up sockets", names[i]);
			continue;
		}
		send(x.pod, cases[i][0], strlen(cases[i][0]), 0);
		usleep(50000);
		n = recv(x.backend, buf, sizeof(buf), MSG_DONTWAIT);
		poll_events();
		ok(stream_state(&x) == ILB_RESP_ERROR && n == (ssize_t)strlen(cases[i][0]) &&
			   count_events(20 + i, ILB_L7_EV_ERROR) == 1,
		   "%s: the bytes stay with the agent (read %zd), state %u, one error event", names[i], n,
		   stream_state(&x));
		exchange_close(&x);
	}
}

static void test_big_and_gone(void)
{
	size_t body = 8u << 20, total, got = 0;
	char head[128];
	char *buf = malloc(body + 256), *in = malloc(body + 256);
	struct exchange x;
	pid_t pid;

	if (!buf || !in || exchange_open(&x, 30, false)) {
		ok(false, "8 MiB response: setting up");
		return;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
	total = strlen(head) + body;
	memcpy(buf, head, strlen(head));
	for (size_t i = 0; i < body; i++)
		buf[strlen(head) + i] = (char)(i * 2654435761u >> 13);
	pid = fork();
	if (pid == 0) {
		size_t off = 0;

		while (off < total) {
			ssize_t n = send(x.pod, buf + off, total - off, 0);

			if (n <= 0)
				_exit(1);
			off += n;
		}
		_exit(0);
	}
	got = read_all(x.user, in, total);
	poll_events();
	ok(got == total && !memcmp(in, buf, total) && count_events(30, ILB_L7_EV_DONE) == 1,
	   "8 MiB response arrives byte for byte and ends once (%zu of %zu bytes)", got, total);
	exchange_close(&x);
	waitpid(pid, NULL, 0);

	/* The client leaves mid-stream: the pod's next bytes find no client. */
	if (exchange_open(&x, 31, false)) {
		ok(false, "client gone: setting up");
		goto out;
	}
	send(x.pod, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", 47, 0);
	usleep(20000);
	ilb_l7_kern_del_client(&kern, x.client_cookie);
	send(x.pod, "3\r\nabc\r\n", 8, 0);
	usleep(50000);
	poll_events();
	ok(count_events(31, ILB_L7_EV_CLIENT_GONE) == 1, "a client gone mid-stream is reported once (%d events)",
	   count_events(31, ILB_L7_EV_CLIENT_GONE));
	exchange_close(&x);
out:
	free(buf);
	free(in);
}

static const struct l7_event *find_event(uint64_t id, uint32_t kind)
{
	for (int i = 0; i < n_events; i++)
		if (events[i].stream_id == id && events[i].kind == kind)
			return &events[i];
	return NULL;
}

/* A response in one write ends in one skb: its end event carries the first-byte time and
 * no first-byte event is sent; a streamed one sends one first-byte event. */
static void test_first_byte(void)
{
	const char *one = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	const struct l7_event *done;
	struct exchange x;
	char buf[128];

	if (exchange_open(&x, 40, false)) {
		ok(false, "first byte: setting up");
		return;
	}
	send(x.pod, one, strlen(one), 0);
	read_all(x.user, buf, strlen(one));
	poll_events();
	done = find_event(40, ILB_L7_EV_DONE);
	ok(done && done->first_byte_ns > 0 && done->first_byte_ns <= done->ts_ns && !find_event(40, ILB_L7_EV_FIRST_BYTE),
	   "a response in one skb: its end event carries the first byte (%llu ns), no first-byte event",
	   done ? (unsigned long long)done->first_byte_ns : 0ULL);
	exchange_close(&x);
}

static void poll_for_end(uint64_t id);

/* A small response that arrives whole comes to the agent in its end event, not to the
 * client; a larger one, or one in two skbs, is redirected as any other. */
static void test_inline(void)
{
	static char big[3072];
	const char *small = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\nok";
	const char *parts[] = { "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", "hello" };
	const struct { const char *desc; const char *resp; uint32_t inline_max; bool inlined; } cases[] = {
		{ "a short response, inline up to 4096", small, ILB_L7_INLINE_MAX, true },
		{ "a longer response, inline up to 4096", big, ILB_L7_INLINE_MAX, true },
		{ "a short response, inline up to 20", small, 20, false },
		{ "a longer response, inline up to 1024", big, 1024, false },
	};
	struct exchange x;
	char got[4096];
	ssize_t n;
	int head = snprintf(big, sizeof(big), "HTTP/1.1 200 OK\r\nContent-Length: 2900\r\n\r\n");

	memset(big + head, 'x', 2900);
	big[head + 2900] = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].resp);
		uint64_t id = 70 + i;

		n_events = 0;
		inline_len = 0;
		if (exchange_open_inline(&x, id, false, cases[i].inline_max)) {
			ok(false, "%s: setting up", cases[i].desc);
			continue;
		}
		send(x.pod, cases[i].resp, len, 0);
		poll_for_end(id);
		if (cases[i].inlined) {
			usleep(20000);
			n = recv(x.user, got, sizeof(got), MSG_DONTWAIT);
			ok(n < 0 && count_events(id, ILB_L7_EV_DONE_INLINE) == 1 && count_events(id, ILB_L7_EV_DONE) == 0 &&
				   inline_len == len && !memcmp(inline_data, cases[i].resp, len) &&
				   stream_state(&x) == ILB_RESP_DONE && ilb_l7_kern_stream_end(&kern, x.slot) == 0,
			   "%s: the end event carries it byte for byte (%zu of %zu), the client gets nothing from the "
			   "kernel (recv %zd), the connection can be kept",
			   cases[i].desc, inline_len, len, n);
		} else {
			n = read_all(x.user, got, len);
			ok(n == (ssize_t)len && !memcmp(got, cases[i].resp, len) && count_events(id, ILB_L7_EV_DONE) == 1 &&
				   count_events(id, ILB_L7_EV_DONE_INLINE) == 0,
			   "%s: redirected to the client (%zd of %zu), one end event", cases[i].desc, n, len);
		}
		exchange_close(&x);
	}
	/* The head alone, then the body: both in events when the head's Content-Length keeps the
	 * whole under inline_max; redirected when it does not; bytes after the body are nobody's. */
	struct {
		const char *desc, *head, *body;
		uint32_t want_state;
		bool inlined;
	} split[] = {
		{ "a small response whose head comes alone", parts[0], parts[1], ILB_RESP_DONE, true },
		{ "... with bytes after its body", parts[0], "helloGARBAGE", ILB_RESP_UNSOLICITED, true },
		{ "a head alone whose Content-Length is over inline_max", "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
		  big, ILB_RESP_BODY_LENGTH, false },
	};
	for (size_t i = 0; i < sizeof(split) / sizeof(split[0]); i++) {
		uint64_t id = 80 + i;
		size_t head_len = strlen(split[i].head), body_len = strlen(split[i].body);
		size_t want = split[i].inlined ? head_len + (i == 1 ? 5 : body_len) : head_len + body_len;

		n_events = 0;
		inline_len = 0;
		if (exchange_open_inline(&x, id, false, ILB_L7_INLINE_MAX)) {
			ok(false, "%s: setting up", split[i].desc);
			continue;
		}
		send(x.pod, split[i].head, head_len, 0);
		usleep(20000);
		send(x.pod, split[i].body, body_len, 0);
		usleep(20000);
		poll_events();
		if (split[i].inlined) {
			char expect[256];

			snprintf(expect, sizeof(expect), "%s%.*s", split[i].head, (int)(want - head_len), split[i].body);
			n = recv(x.user, got, sizeof(got), MSG_DONTWAIT);
			ok(n < 0 && inline_len == want && !memcmp(inline_data, expect, want) &&
				   count_events(id, ILB_L7_EV_PART_INLINE) == 1 && count_events(id, ILB_L7_EV_DONE_INLINE) == 1 &&
				   stream_state(&x) == split[i].want_state,
			   "%s: its head and body come in two events (%zu of %zu bytes), none to the client from the kernel "
			   "(recv %zd), state %u",
			   split[i].desc, inline_len, want, n, stream_state(&x));
		} else {
			n = read_all(x.user, got, want);
			ok(n == (ssize_t)want && inline_len == 0 && stream_state(&x) == split[i].want_state,
			   "%s: redirected (%zd of %zu bytes), nothing in events, state %u", split[i].desc, n, want,
			   stream_state(&x));
		}
		exchange_close(&x);
	}
}

/* Bytes a pod sends with no request in flight are dropped, not handed to anyone, and the
 * slot says so: the agent must not reuse that connection. */
static void test_unsolicited(void)
{
	const char *resp = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct exchange x;
	uint32_t first_slot;
	char buf[128];
	ssize_t n;
	int rc;

	if (exchange_open(&x, 50, false)) {
		ok(false, "unsolicited: setting up");
		return;
	}
	first_slot = x.slot;
	send(x.pod, resp, strlen(resp), 0);
	read_all(x.user, buf, strlen(resp));
	poll_events();
	rc = ilb_l7_kern_stream_end(&kern, x.slot);
	ok(rc == 0 && ilb_l7_kern_stream_idle(&kern, x.slot), "a clean end idles the slot (%d)", rc);
	send(x.pod, "HTTP/1.1 408 Request Timeout\r\n\r\n", 34, 0);
	usleep(50000);
	n = recv(x.user, buf, sizeof(buf), MSG_DONTWAIT);
	ok(n < 0 && errno == EAGAIN, "bytes on an idle connection reach no client (recv %zd)", n);
	n = recv(x.backend, buf, sizeof(buf), MSG_DONTWAIT);
	ok(n < 0 && errno == EAGAIN && stream_state(&x) == ILB_RESP_UNSOLICITED && !ilb_l7_kern_stream_idle(&kern, x.slot),
	   "they are dropped and the slot marked unsolicited (state %u, recv %zd)", stream_state(&x), n);
	rc = ilb_l7_kern_stream_start(&kern, x.slot, x.client_cookie, 51, false, 0);
	ok(rc == -EPROTO, "such a connection cannot be armed again (%d)", rc);
	exchange_close(&x);

	/* The same after a response's end, before the agent has idled the slot. */
	if (exchange_open(&x, 52, false)) {
		ok(false, "unsolicited after the end: setting up");
		return;
	}
	ok(x.slot != first_slot, "a freed slot is not handed out again at once (%u then %u)", first_slot, x.slot);
	send(x.pod, resp, strlen(resp), 0);
	read_all(x.user, buf, strlen(resp));
	send(x.pod, "extra", 5, 0);
	usleep(50000);
	n = recv(x.user, buf, sizeof(buf), MSG_DONTWAIT);
	rc = ilb_l7_kern_stream_end(&kern, x.slot);
	ok(n < 0 && rc == -EPROTO, "bytes after the end are not the client's, and the end is not clean (recv %zd, %d)", n,
	   rc);
	exchange_close(&x);
}

static int count_ends(uint64_t id)
{
	return count_events(id, ILB_L7_EV_DONE) + count_events(id, ILB_L7_EV_DONE_TAIL) +
	       count_events(id, ILB_L7_EV_DONE_INLINE);
}

/* Bytes of fd that TCP has taken: acked or in its send queue. */
static uint64_t tcp_taken(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) || ioctl(fd, SIOCOUTQ, &outq))
		return 0;
	return ti.tcpi_bytes_acked + (uint64_t)outq;
}

/* What the agent does when a response ends inside an skb that more bytes follow (the
 * kernel leaves that skb on the backend socket): once the kernel's bytes have left for the
 * client, the response's part of the skb goes to the client, the rest nowhere. */
static void agent_tail(struct exchange *x, uint64_t id)
{
	const struct l7_event *ev = find_event(id, ILB_L7_EV_DONE_TAIL);
	char buf[65536];
	uint64_t left;

	if (!ev)
		return;
	for (int i = 0; i < 1000 && tcp_taken(x->client) < ev->bytes; i++)
		usleep(1000);
	for (left = ev->tail; left;) {
		struct pollfd p = { .fd = x->backend, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 1000) <= 0)
			return;
		n = recv(x->backend, buf, left < sizeof(buf) ? left : sizeof(buf), 0);
		if (n <= 0 || send(x->client, buf, n, 0) != n)
			return;
		left -= n;
	}
}

/* Until the stream's end event (either kind), 1 s at most. */
static void poll_for_end(uint64_t id)
{
	for (int i = 0; i < 100 && !count_ends(id); i++)
		ring_buffer__poll(ring, 10);
}

/* A large answer and bytes after it in one write: the end falls inside a big skb with
 * page fragments, which is cut there. */
static void test_trailing_in_large_skb(void)
{
	size_t body = 1u << 20, total, got;
	char head[96], *buf = malloc(body + 256), *in = malloc(body + 256);
	struct exchange x;
	ssize_t extra;
	pid_t pid;

	if (!buf || !in || exchange_open(&x, 60, false)) {
		ok(false, "trailing bytes in a large skb: setting up");
		goto out;
	}
	snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", body);
	total = strlen(head) + body;
	memcpy(buf, head, strlen(head));
	memset(buf + strlen(head), 'x', body);
	memcpy(buf + total, "EXTRA", 5);
	pid = fork();
	if (pid == 0) {
		size_t off = 0;

		while (off < total + 5) {
			ssize_t n = send(x.pod, buf + off, total + 5 - off, 0);

			if (n <= 0)
				_exit(1);
			off += n;
		}
		_exit(0);
	}
	poll_for_end(60);
	agent_tail(&x, 60);
	got = read_all(x.user, in, total);
	usleep(20000);
	extra = recv(x.user, in, 64, MSG_DONTWAIT);
	ok(got == total && extra < 0 && count_ends(60) == 1 && stream_state(&x) == ILB_RESP_UNSOLICITED,
	   "1 MiB answer and bytes after it in one write: the client reads exactly the answer (%zu of %zu, %zd more), "
	   "state %u, %d end events (%d with the tail left to the agent), %d errors", got, total, extra, stream_state(&x),
	   count_ends(60), count_events(60, ILB_L7_EV_DONE_TAIL), count_events(60, ILB_L7_EV_ERROR));
	exchange_close(&x);
	waitpid(pid, NULL, 0);
out:
	free(buf);
	free(in);
}

/* ---- random responses: the end is found at exactly the last byte ---- */

static unsigned rnd_state = 12345;

static unsigned rnd(unsigned n)
{
	rnd_state = rnd_state * 1103515245u + 12345u;
	return (rnd_state >> 8) % n;
}

static size_t put(char *buf, size_t off, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static size_t put(char *buf, size_t off, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	off += vsprintf(buf + off, fmt, ap);
	va_end(ap);
	return off;
}

/* Printable filler with line breaks and CRLFs inside, as header values and bodies have. */
static size_t filler(char *buf, size_t off, size_t n, bool newlines)
{
	for (size_t i = 0; i < n; i++) {
		unsigned r = rnd(40);

		buf[off++] = newlines && r == 0 ? '\n' : newlines && r == 1 ? '\r' : (char)('a' + rnd(26));
	}
	return off;
}

static const char *mixed_case(const char *name, char *out)
{
	size_t i;

	for (i = 0; name[i]; i++)
		out[i] = name[i] >= 'a' && name[i] <= 'z' && rnd(2) ? (char)(name[i] - 32) : name[i];
	out[i] = 0;
	return out;
}

/* One response: a head of random fields (decoys that look like the framing fields among
 * them), then a Content-Length or chunked body of random bytes. */
static size_t random_response(char *buf)
{
	bool chunked = rnd(2);
	size_t off = 0, body = rnd(3000);
	char name[32];
	int fields = rnd(8);

	off = put(buf, off, "HTTP/1.1 %d %s\r\n", rnd(5) ? 200 : 404, rnd(2) ? "OK" : "Some Longer Reason Phrase");
	for (int i = 0; i <= fields; i++) {
		switch (rnd(9)) {
		case 0:
			off = put(buf, off, "X-Content-Length: 7\r\n");
			break;
		case 1:
			off = put(buf, off, "%s: 9\r\n", mixed_case("content-lengthx", name));
			break;
		case 2:
			off = put(buf, off, "Transfer-Encodings: chunked\r\n");
			break;
		case 3: /* names that share eight or more bytes with the framing fields */
			off = put(buf, off, "%s: 5\r\n", mixed_case("content-lengt", name));
			break;
		case 4:
			off = put(buf, off, "%s: text/plain\r\n", mixed_case("content-type", name));
			break;
		case 5:
			off = put(buf, off, "%s: chunked\r\n", mixed_case(rnd(2) ? "transfer-encodinx" : "transfer", name));
			break;
		default:
			off = put(buf, off, "X-F%d: ", i);
			off = filler(buf, off, rnd(rnd(2) ? 12 : 300), false);
			off = put(buf, off, "\r\n");
		}
		if (i == fields / 2)
			off = chunked ? put(buf, off, "%s:%schunked\r\n", mixed_case("transfer-encoding", name),
					    rnd(2) ? " gzip, " : " ") :
					put(buf, off, "%s: %zu\r\n", mixed_case("content-length", name), body);
	}
	off = put(buf, off, "\r\n");
	if (!chunked)
		return filler(buf, off, body, true);
	while (body) {
		size_t n = 1 + rnd(body < 700 ? body : 700);

		off = put(buf, off, "%zx", n);
		if (!rnd(4)) {
			off = put(buf, off, ";ext=");
			off = filler(buf, off, rnd(40), false);
		}
		off = put(buf, off, "\r\n");
		off = filler(buf, off, n, true);
		off = put(buf, off, "\r\n");
		body -= n;
	}
	off = put(buf, off, "0\r\n");
	if (rnd(2))
		off = put(buf, off, "X-Trailer: %d\r\n", rnd(100));
	return put(buf, off, "\r\n");
}

static void test_random_responses(void)
{
	static char resp[16384], got[16384];
	int cases = 300, exact = 0, tails = 0;

	for (int i = 0; i < cases; i++) {
		size_t len = random_response(resp), off = 0, n;
		struct exchange x;
		ssize_t extra;

		memcpy(resp + len, "GARBAGE", 7);
		n_events = 0;
		if (exchange_open(&x, 1000 + i, false))
			break;
		/* In up to four writes, the garbage with the last: it must not reach the client. */
		while (off < len + 7) {
			size_t part = off + 7 >= len ? len + 7 - off : 1 + rnd(len + 7 - off);

			if (send(x.pod, resp + off, part, 0) < 0)
				break;
			off += part;
			if (rnd(3) == 0)
				usleep(1000);
		}
		poll_for_end(1000 + i);
		tails += count_events(1000 + i, ILB_L7_EV_DONE_TAIL);
		agent_tail(&x, 1000 + i);
		n = read_all(x.user, got, len);
		usleep(2000);
		extra = recv(x.user, got + n, sizeof(got) - n, MSG_DONTWAIT);
		if (n == len && !memcmp(got, resp, len) && extra < 0 && count_ends(1000 + i) == 1 &&
		    stream_state(&x) == ILB_RESP_UNSOLICITED)
			exact++;
		else if (exact == i)
			printf("# case %d: read %zu of %zu, %zd more, state %u, %d end events\n", i, n, len, extra,
			       stream_state(&x), count_ends(1000 + i));
		exchange_close(&x);
	}
	ok(exact == cases && tails > 0 && tails < cases,
	   "%d of %d random responses (decoy fields, CRLFs in values and bodies, chunk extensions, trailers, random "
	   "writes, bytes after the end) end at exactly their last byte (%d in an skb left to the agent)",
	   exact, cases, tails);
}

int main(void)
{
	char pin_dir[128];
	int rc = 1;

	if (!getenv("ILB_TEST_VERBOSE"))
		libbpf_set_print(NULL);
	if (unshare(CLONE_NEWNET)) {
		printf("not ok 1 - a private network namespace: %s\n", strerror(errno));
		goto done;
	}
	system("ip link set lo up");
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/inferlb-test-l7-%d", getpid());
	if (ilb_maps_open(&maps, pin_dir) || ilb_l7_kern_open(&kern, pin_dir)) {
		printf("not ok 1 - loading the L7 programs and maps: %s\n", strerror(errno));
		goto out;
	}
	ring = ring_buffer__new(kern.events_map, on_event, NULL, NULL);
	ok(ring != NULL, "the l7_events ring buffer opens");
	if (!ring)
		goto out;
	test_framings();
	test_malformed();
	test_big_and_gone();
	test_first_byte();
	test_inline();
	test_unsolicited();
	test_trailing_in_large_skb();
	test_random_responses();
	rc = test_failed ? 1 : 0;
out:
	ring_buffer__free(ring);
	ilb_l7_kern_detach(pin_dir);
	ilb_l7_kern_close(&kern);
	ilb_maps_close(&maps);
	ilb_maps_unpin(pin_dir);
done:
	tap_summary();
	return rc;
}
