/* sk_skb_splice - the verdict program of `l7_backends`: response bytes from a pod go
 * straight to the client socket paired with it (egress redirect), so a streamed response
 * never enters user space. No stream parser (strparser caps a message at sk_rcvbuf): each
 * skb is read as it comes, and the response's HTTP/1.1 framing (Content-Length or chunked)
 * is followed across skbs in `l7_streams`, so the agent learns where the response ends
 * and both connections stay alive for the next request.
 *
 * Only the head and chunk-size lines are read byte by byte; body and chunk data are
 * skipped by length. Anything the kernel cannot follow, and any socket without a stream,
 * is passed to the agent (SK_PASS), which reads it itself. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "inferlb.h"
#include "l7_maps.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Internal flag: the status line has been read. */
#define STREAM_STATUS_READ (1u << 8)
/* The longest chunk-size line (16 hex digits) and head line the program follows. */
#define MAX_CHUNK_DIGITS 16
#define MAX_LINE 65535
#define MAX_STEPS (1u << 20)

/* The names matched, packed 8 characters to a word, low byte first: constants in the
 * instructions rather than read-only data. */
#define CONTENT_LENGTH_LEN 14 /* "content-length" */
#define TRANSFER_ENCODING_LEN 17 /* "transfer-encoding" */
#define CHUNKED_LEN 7 /* "chunked" */

static __always_inline __u64 pack8(const char *t)
{
	__u64 w = 0;

	for (int i = 7; i >= 0; i--)
		w = w << 8 | (__u8)t[i];
	return w;
}

static __always_inline __u8 char_at(__u64 w0, __u64 w1, __u64 w2, __u32 n)
{
	__u64 w = n < 8 ? w0 : n < 16 ? w1 : w2;

	return (w >> (8 * (n & 7))) & 0xff;
}

static __always_inline __u8 content_length_at(__u32 n)
{
	return char_at(pack8("content-"), pack8("length\0\0"), 0, n);
}

static __always_inline __u8 transfer_encoding_at(__u32 n)
{
	return char_at(pack8("transfer"), pack8("-encodin"), pack8("g\0\0\0\0\0\0\0"), n);
}

static __always_inline __u8 chunked_at(__u32 n)
{
	return char_at(pack8("chunked\0"), 0, 0, n);
}

struct walk {
	struct __sk_buff *skb;
	__u32 off, len;
	struct l7_stream s;
};

static __always_inline __u8 lower(__u8 c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static __always_inline int hex_value(__u8 c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The empty line after the head: decide how the body is framed. */
static __always_inline void head_end(struct l7_stream *s)
{
	if (s->status >= 100 && s->status < 200 && s->status != 101) {
		/* An interim response (100 Continue): the final head follows. */
		s->status = 0;
		s->flags &= ~(STREAM_STATUS_READ | ILB_STREAM_CHUNKED | ILB_STREAM_HAS_LENGTH);
		s->length = 0;
		return;
	}
	s->line_len = 0;
	if ((s->flags & ILB_STREAM_NO_BODY) || s->status == 204 || s->status == 304) {
		s->state = ILB_RESP_DONE;
	} else if (s->flags & ILB_STREAM_CHUNKED) {
		s->state = ILB_RESP_CHUNK_SIZE;
		s->length = 0;
	} else if (s->flags & ILB_STREAM_HAS_LENGTH) {
		s->remaining = s->length;
		s->state = s->length ? ILB_RESP_BODY_LENGTH : ILB_RESP_DONE;
	} else {
		s->state = ILB_RESP_UNTIL_CLOSE;
	}
}

/* The end of one head line: settle the field it carried. */
static __always_inline void head_line_end(struct l7_stream *s)
{
	if (!(s->flags & STREAM_STATUS_READ)) {
		s->flags |= STREAM_STATUS_READ;
		if (s->status < 100 || s->status > 999)
			s->state = ILB_RESP_ERROR;
	} else if (s->field & ILB_FIELD_VALUE_CL) {
		s->flags |= ILB_STREAM_HAS_LENGTH;
	} else if ((s->field & ILB_FIELD_VALUE_TE) && s->token == CHUNKED_LEN) {
		s->flags |= ILB_STREAM_CHUNKED;
	}
	s->line_len = 0;
	s->field = ILB_FIELD_CONTENT_LENGTH | ILB_FIELD_TRANSFER_ENCODING;
	s->token = 0;
}

static __always_inline void head_byte(struct l7_stream *s, __u8 c)
{
	__u32 n = s->line_len;

	if (c == '\r')
		return;
	if (c == '\n') {
		if (n == 0 && (s->flags & STREAM_STATUS_READ))
			head_end(s);
		else
			head_line_end(s);
		return;
	}
	if (n < MAX_LINE)
		s->line_len = n + 1;
	if (!(s->flags & STREAM_STATUS_READ)) {
		/* "HTTP/1.1 200 OK": the code is bytes 9..11 */
		if (n >= 9 && n <= 11) {
			if (c < '0' || c > '9')
				s->state = ILB_RESP_ERROR;
			s->status = s->status * 10 + (c - '0');
		}
		return;
	}
	if (s->field & ILB_FIELD_VALUE_CL) {
		if (c >= '0' && c <= '9') {
			s->length = s->length * 10 + (c - '0');
			if (s->length > (1ULL << 48))
				s->state = ILB_RESP_ERROR;
		} else if (c != ' ' && c != '\t') {
			s->state = ILB_RESP_ERROR;
		}
		return;
	}
	if (s->field & ILB_FIELD_VALUE_TE) {
		__u32 t = s->token;

		c = lower(c);
		if (t == CHUNKED_LEN)
			s->token = c == ' ' || c == '\t' ? t : (c == 'c');
		else if (t < CHUNKED_LEN && c == chunked_at(t))
			s->token = t + 1;
		else
			s->token = c == 'c';
		return;
	}
	if (n >= 32)
		return;
	c = lower(c);
	if (s->field & ILB_FIELD_CONTENT_LENGTH) {
		if (n == CONTENT_LENGTH_LEN && c == ':') {
			s->field = ILB_FIELD_VALUE_CL;
			s->length = 0;
			return;
		}
		if (n >= CONTENT_LENGTH_LEN || c != content_length_at(n))
			s->field &= ~ILB_FIELD_CONTENT_LENGTH;
	}
	if (s->field & ILB_FIELD_TRANSFER_ENCODING) {
		if (n == TRANSFER_ENCODING_LEN && c == ':') {
			s->field = ILB_FIELD_VALUE_TE;
			s->token = 0;
			return;
		}
		if (n >= TRANSFER_ENCODING_LEN || c != transfer_encoding_at(n))
			s->field &= ~ILB_FIELD_TRANSFER_ENCODING;
	}
}

/* A chunk-size line "1a;ext\r\n"; `length` accumulates the size. */
static __always_inline void chunk_size_byte(struct l7_stream *s, __u8 c)
{
	int v;

	if (c == '\r')
		return;
	if (c == '\n') {
		if (s->line_len == 0) {
			s->state = ILB_RESP_ERROR;
		} else if (s->length == 0) {
			s->state = ILB_RESP_TRAILER;
		} else {
			s->remaining = s->length + 2; /* the data and its CRLF */
			s->state = ILB_RESP_CHUNK_DATA;
		}
		s->line_len = 0;
		s->length = 0;
		return;
	}
	if (s->state == ILB_RESP_CHUNK_EXT)
		return;
	if (c == ';' || c == ' ' || c == '\t') {
		s->state = s->line_len ? ILB_RESP_CHUNK_EXT : ILB_RESP_ERROR;
		return;
	}
	v = hex_value(c);
	if (v < 0 || s->line_len >= MAX_CHUNK_DIGITS) {
		s->state = ILB_RESP_ERROR;
		return;
	}
	s->length = s->length * 16 + v;
	s->line_len++;
}

static __always_inline void trailer_byte(struct l7_stream *s, __u8 c)
{
	if (c == '\r')
		return;
	if (c == '\n') {
		if (s->line_len == 0)
			s->state = ILB_RESP_DONE;
		s->line_len = 0;
		return;
	}
	if (s->line_len < MAX_LINE)
		s->line_len++;
}

/* One step of bpf_loop: skip a run of body bytes, or read one framing byte. */
static long walk_step(__u32 i, struct walk *w)
{
	struct l7_stream *s = &w->s;
	__u8 c;

	if (w->off >= w->len)
		return 1;
	switch (s->state) {
	case ILB_RESP_BODY_LENGTH:
	case ILB_RESP_CHUNK_DATA: {
		__u64 take = w->len - w->off;

		if (take > s->remaining)
			take = s->remaining;
		w->off += take;
		s->remaining -= take;
		if (s->remaining == 0)
			s->state = s->state == ILB_RESP_BODY_LENGTH ? ILB_RESP_DONE : ILB_RESP_CHUNK_SIZE;
		return 0;
	}
	case ILB_RESP_HEAD:
	case ILB_RESP_CHUNK_SIZE:
	case ILB_RESP_CHUNK_EXT:
	case ILB_RESP_TRAILER:
		break;
	default: /* until close, done, error: nothing more to follow */
		return 1;
	}
	if (bpf_skb_load_bytes(w->skb, w->off, &c, 1)) {
		s->state = ILB_RESP_ERROR;
		return 1;
	}
	w->off++;
	if (s->state == ILB_RESP_HEAD)
		head_byte(s, c);
	else if (s->state == ILB_RESP_TRAILER)
		trailer_byte(s, c);
	else
		chunk_size_byte(s, c);
	return 0;
}

static __always_inline void emit(__u32 kind, __u64 cookie, const struct l7_stream *s, __u64 now)
{
	struct l7_event *ev = bpf_ringbuf_reserve(&l7_events, sizeof(*ev), 0);

	if (!ev)
		return;
	ev->kind = kind;
	ev->status = s->status;
	ev->stream_id = s->stream_id;
	ev->backend_cookie = cookie;
	ev->bytes = s->bytes;
	ev->first_byte_ns = s->first_byte_ns;
	ev->ts_ns = now;
	bpf_ringbuf_submit(ev, 0);
}

SEC("sk_skb")
int sk_skb_splice(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	struct l7_stream *st = bpf_map_lookup_elem(&l7_streams, &cookie);
	struct walk w = { .skb = skb, .len = skb->len };
	__u64 now = bpf_ktime_get_ns();
	long verdict;

	if (!st || st->state == ILB_RESP_IDLE || st->state == ILB_RESP_DONE || st->state == ILB_RESP_ERROR) {
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	w.s = *st;
	if (!w.s.first_byte_ns) {
		w.s.first_byte_ns = now;
		emit(ILB_L7_EV_FIRST_BYTE, cookie, &w.s, now);
	}
	bpf_loop(w.len < MAX_STEPS ? w.len + 1 : MAX_STEPS, walk_step, &w, 0);
	if (w.s.state == ILB_RESP_ERROR) {
		/* The agent reads these bytes and ends the exchange itself. */
		st->state = ILB_RESP_ERROR;
		emit(ILB_L7_EV_ERROR, cookie, &w.s, now);
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	w.s.bytes += w.len;
	verdict = bpf_sk_redirect_hash(skb, &l7_clients, &w.s.client_cookie, 0);
	if (verdict != SK_PASS) {
		if (!(w.s.flags & ILB_STREAM_CLIENT_GONE))
			emit(ILB_L7_EV_CLIENT_GONE, cookie, &w.s, now);
		w.s.flags |= ILB_STREAM_CLIENT_GONE;
		*st = w.s;
		stat_inc(ILB_STAT_L7_CLIENT_GONE);
		return SK_DROP;
	}
	*st = w.s;
	stat_inc(ILB_STAT_L7_REDIRECT);
	if (w.s.state == ILB_RESP_DONE) {
		stat_inc(ILB_STAT_L7_RESPONSES);
		emit(ILB_L7_EV_DONE, cookie, &w.s, now);
	}
	return SK_PASS;
}
