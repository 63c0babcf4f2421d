/* sk_skb_splice - the verdict program of `l7_backends`: response bytes from a pod go
 * straight to the client socket paired with it (egress redirect), so a streamed response
 * never enters user space. No stream parser (strparser caps a message at sk_rcvbuf): each
 * skb is read as it comes, and the response's HTTP/1.1 framing (Content-Length or chunked)
 * is followed across skbs in `l7_stream_state`, so the agent learns where the response
 * ends and both connections stay alive for the next request.
 *
 * Only the head and chunk-size lines are read byte by byte; body and chunk data are
 * skipped by length. Anything the kernel cannot follow, and any socket without a stream,
 * is passed to the agent (SK_PASS), which reads it itself; a small response that arrives
 * whole goes to it inside its end event. Bytes on a kept connection with
 * no request in flight are dropped and the slot marked: the agent closes that connection
 * rather than reuse it, and need not watch idle connections for reading. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "inferlb.h"
#include "l7_maps.h"
#include "framing.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_STEPS (1u << 20)

struct walk {
	struct __sk_buff *skb;
	__u32 off, len;
	/* the 8 bytes at word_off, read with one helper call and taken a byte at a time */
	__u64 word;
	__u32 word_off, word_len;
	struct l7_stream s;
};

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "line_skip reads the first byte of a word as its lowest"
#endif

/* Where only the end of the line matters: the rest of the status line after its code, a
 * field that is neither Content-Length nor Transfer-Encoding, a chunk extension, a trailer. */
static __always_inline int line_skippable(const struct l7_stream *s)
{
	switch (s->state) {
	case ILB_RESP_HEAD:
		if (!(s->flags & STREAM_STATUS_READ))
			return s->line_len >= 12;
		return s->field == 0 && s->line_len > 0;
	case ILB_RESP_CHUNK_EXT:
		return 1;
	case ILB_RESP_TRAILER:
		return s->line_len > 0;
	default:
		return 0;
	}
}

/* Nonzero when a byte of v is c: the high bit of each zero byte of v ^ c..c (a borrow may
 * mark bytes above a true one too, which only matters for where, not whether). */
static __always_inline __u64 has_byte(__u64 v, __u8 c)
{
	__u64 x = v ^ (0x0101010101010101ULL * c);

	return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

/* Bytes before the next '\n' among the 8 at off, 8 if none: one helper call for eight
 * bytes of a header line instead of eight. The 8 bytes become the walk's word, so the
 * '\n' found is then read from it without another load. */
static __always_inline __u32 line_skip(struct walk *w)
{
	__u64 v, m;
	__u32 n = 0;

	if (bpf_skb_load_bytes(w->skb, w->off, &v, 8))
		return 0;
	w->word = v;
	w->word_off = w->off;
	w->word_len = 8;
	/* the lowest byte marked is the first '\n' (a borrow marks only bytes above it) */
	m = has_byte(v, '\n');
	if (!m)
		return 8;
	if (!(m & 0x80808080ULL)) {
		n += 4;
		m >>= 32;
	}
	if (!(m & 0x8080ULL)) {
		n += 2;
		m >>= 16;
	}
	if (!(m & 0x80ULL))
		n += 1;
	return n;
}

/* Lower-case letters match themselves and their capitals under `| 0x20`; other bytes must
 * match exactly, so only a letter's position of the mask has it. */
#define MASK_CONTENT_ 0x0020202020202020ULL /* "content-" */
#define MASK_LETTERS8 0x2020202020202020ULL /* "transfer" */
#define MASK_LENGTH_COLON 0x0000202020202020ULL /* "length:" */
#define MASK_ENCODIN 0x2020202020202000ULL /* "-encodin" */

/* Where the head's byte path would only learn the status code or which field a line is,
 * eight bytes (twelve for the status line) at a time, with the very result the byte path
 * would reach: taken only when the bytes hold no CR or LF, the one byte the byte path
 * treats apart. Returns the bytes consumed, 0 to leave them to the byte path. */
static __always_inline __u32 head_words(struct walk *w)
{
	struct l7_stream *s = &w->s;
	__u32 n = s->line_len, take = 8, code = 0;
	__u64 v;

	if (!(s->flags & STREAM_STATUS_READ)) {
		/* "HTTP/1.1 200": the code is bytes 9..11 */
		if (n != 0 || w->len - w->off < 16 || bpf_skb_load_bytes(w->skb, w->off, &v, 8))
			return 0;
		if (has_byte(v, '\r') || has_byte(v, '\n'))
			return 0;
		if (bpf_skb_load_bytes(w->skb, w->off + 8, &v, 8))
			return 0;
		v &= 0xffffffffULL; /* bytes 8..11 */
		if (has_byte(v | 0xffffffff00000000ULL, '\r') || has_byte(v | 0xffffffff00000000ULL, '\n'))
			return 0;
		for (int i = 1; i <= 3; i++) {
			__u8 c = v >> (8 * i);

			if (c < '0' || c > '9')
				s->state = ILB_RESP_ERROR;
			code = code * 10 + (c - '0');
		}
		s->status = s->status * 1000 + code;
		s->line_len = 12;
		w->off += 12;
		return 12;
	}
	if (!((n == 0 && s->field == (ILB_FIELD_CONTENT_LENGTH | ILB_FIELD_TRANSFER_ENCODING)) ||
	      (n == 8 && (s->field == ILB_FIELD_CONTENT_LENGTH || s->field == ILB_FIELD_TRANSFER_ENCODING))))
		return 0;
	if (bpf_skb_load_bytes(w->skb, w->off, &v, 8) || has_byte(v, '\r') || has_byte(v, '\n'))
		return 0;
	if (n == 0) {
		if ((v | MASK_CONTENT_) == pack8("content-"))
			s->field = ILB_FIELD_CONTENT_LENGTH;
		else if ((v | MASK_LETTERS8) == pack8("transfer"))
			s->field = ILB_FIELD_TRANSFER_ENCODING;
		else
			s->field = 0;
	} else if (s->field == ILB_FIELD_CONTENT_LENGTH) {
		take = 7;
		if (((v | MASK_LENGTH_COLON) & 0x00ffffffffffffffULL) == pack8("length:\0")) {
			s->field = ILB_FIELD_VALUE_CL;
			s->length = 0;
		} else {
			s->field = 0;
		}
	} else if ((v | MASK_ENCODIN) != pack8("-encodin")) {
		s->field = 0;
	}
	s->line_len = n + take;
	w->off += take;
	return take;
}

/* One step of bpf_loop: skip a run of body bytes or of a line's bytes, or read one
 * framing byte. */
static long walk_step(__u32 i, struct walk *w)
{
	struct l7_stream *s = &w->s;
	__u8 c;

	if (w->off >= w->len)
		return 1;
	if (w->len - w->off >= 8 && line_skippable(s)) {
		__u32 n = line_skip(w);

		if (n) {
			/* '\r' counts here, not in head_byte: the length only has to stay above 0 */
			w->off += n;
			s->line_len = s->line_len + n < MAX_LINE ? s->line_len + n : MAX_LINE;
			return 0;
		}
	}
	if (s->state == ILB_RESP_HEAD && head_words(w))
		return 0;
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
	if (w->off < w->word_off || w->off - w->word_off >= w->word_len) {
		w->word_len = w->len - w->off >= 8 ? 8 : 1;
		w->word_off = w->off;
		w->word = 0;
		if (bpf_skb_load_bytes(w->skb, w->off, &w->word, w->word_len == 8 ? 8 : 1)) {
			s->state = ILB_RESP_ERROR;
			return 1;
		}
	}
	c = w->word >> (8 * ((w->off - w->word_off) & 7));
	w->off++;
	framing_byte(s, c);
	return 0;
}

static __always_inline void event_fill(struct l7_event *ev, __u32 kind, __u64 cookie, const struct l7_stream *s,
				       __u64 now, __u64 tail)
{
	ev->kind = kind;
	ev->status = s->status;
	ev->stream_id = s->stream_id;
	ev->backend_cookie = cookie;
	ev->bytes = s->bytes;
	ev->first_byte_ns = s->first_byte_ns;
	ev->ts_ns = now;
	ev->tail = tail;
}

static __always_inline void emit(__u32 kind, __u64 cookie, const struct l7_stream *s, __u64 now, __u64 tail)
{
	struct l7_event *ev = bpf_ringbuf_reserve(&l7_events, sizeof(*ev), 0);

	if (!ev)
		return;
	event_fill(ev, kind, cookie, s, now, tail);
	bpf_ringbuf_submit(ev, 0);
}

/* Reserves a record of a constant size (the ring wants one) and copies the skb behind the
 * event; false when the ring is full. `room` is a power of two and 1 <= len <= room: the
 * length is written so that a verifier without that knowledge (6.1) sees it bounded too. */
#define RESERVE_INLINE(room, ev, skb, len)                                                                   \
	({                                                                                                   \
		bool ok_ = false;                                                                            \
		ev = bpf_ringbuf_reserve(&l7_events, sizeof(*ev) + (room), 0);                               \
		if (ev) {                                                                                    \
			ok_ = !bpf_skb_load_bytes(skb, 0, (void *)(ev + 1), 1 + ((len - 1) & ((room) - 1))); \
			if (!ok_)                                                                            \
				bpf_ringbuf_discard(ev, 0);                                                  \
		}                                                                                            \
		ok_;                                                                                         \
	})

/* A small response rides in ring events: the agent, awake for the end event anyway, sends
 * it from the ring with one syscall, where a redirect would wake the kworker that sends it,
 * and passing it would cost the agent a read. `len` bytes of the skb go behind an event of
 * `kind`, in records of two sizes, so a short answer does not take 4 KiB of the ring. The
 * stream's state `s` is stored in `st` before the event is submitted, so the agent never
 * sees the event first; a response's last event counts it. Returns 0 when the event is out
 * (the skb is then dropped), -1 when it could not be (the ring is full). A global function:
 * the verifier checks it once, not once per state of the walk. */
__noinline int deliver_inline(struct __sk_buff *skb, struct l7_stream *st, const struct l7_stream *s, __u32 kind,
			      __u32 len)
{
	struct l7_event *ev;

	if (!st || !s || len == 0 || len > skb->len || len > ILB_L7_INLINE_MAX)
		return -1;
	if (len <= 1024) {
		if (!RESERVE_INLINE(1024, ev, skb, len))
			return -1;
	} else {
		if (!RESERVE_INLINE(ILB_L7_INLINE_MAX, ev, skb, len))
			return -1;
	}
	event_fill(ev, kind, bpf_get_socket_cookie(skb), s, bpf_ktime_get_ns(), len);
	*st = *s;
	bpf_ringbuf_submit(ev, 0);
	if (kind == ILB_L7_EV_DONE_INLINE) {
		stat_inc(ILB_STAT_L7_RESPONSES);
		stat_inc(ILB_STAT_L7_INLINE);
	}
	return 0;
}

SEC("sk_skb")
int sk_skb_splice(struct __sk_buff *skb)
{
	__u64 cookie = bpf_get_socket_cookie(skb);
	__u32 *slot = bpf_map_lookup_elem(&l7_stream_slots, &cookie);
	struct l7_stream *st = slot ? bpf_map_lookup_elem(&l7_stream_state, slot) : NULL;
	struct walk w = { .skb = skb, .len = skb->len };
	__u64 now = bpf_ktime_get_ns();
	__u32 state;
	long verdict;

	if (!st) {
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	state = st->state;
	if (state == ILB_RESP_IDLE || state == ILB_RESP_DONE || state == ILB_RESP_UNSOLICITED) {
		/* Nobody asked for these: one store, which the agent's compare-and-swap sees. */
		st->state = ILB_RESP_UNSOLICITED;
		stat_inc(ILB_STAT_L7_UNSOLICITED);
		return SK_DROP;
	}
	if (state == ILB_RESP_ERROR) {
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	w.s = *st;
	if (!w.s.first_byte_ns)
		w.s.first_byte_ns = now;
	bpf_loop(w.len < MAX_STEPS ? w.len + 1 : MAX_STEPS, walk_step, &w, 0);
	/* The first byte is told apart only when the response goes on: a response that ends
	 * in its first skb carries its first-byte time in the end event. */
	if (!st->first_byte_ns && w.s.state != ILB_RESP_DONE)
		emit(ILB_L7_EV_FIRST_BYTE, cookie, &w.s, now, 0);
	if (w.s.state == ILB_RESP_ERROR) {
		/* The agent reads these bytes and ends the exchange itself. */
		st->state = ILB_RESP_ERROR;
		emit(ILB_L7_EV_ERROR, cookie, &w.s, now, 0);
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	if (w.s.flags & ILB_STREAM_INLINE) {
		/* A small response whose head came alone: the rest follows its head into events,
		 * up to its end; bytes after the end are nobody's and the connection is not kept. */
		bool done = w.s.state == ILB_RESP_DONE;

		if (done && w.off < w.len) {
			w.s.state = ILB_RESP_UNSOLICITED;
			stat_inc(ILB_STAT_L7_UNSOLICITED);
		}
		if (deliver_inline(skb, st, &w.s, done ? ILB_L7_EV_DONE_INLINE : ILB_L7_EV_PART_INLINE,
				   done ? w.off : w.len)) {
			/* the ring is full: these bytes cannot overtake the head the agent holds */
			st->state = ILB_RESP_ERROR;
		}
		return SK_DROP;
	}
	if (w.s.state == ILB_RESP_DONE && w.off < w.len) {
		/* The response ends inside this skb and bytes nobody asked for follow it. The
		 * skb cannot be cut (bpf_skb_change_tail refuses one whose headers lie before
		 * its data, as a received one's do): it goes to the agent, which sends the
		 * response's part itself; the connection is not reused. */
		st->state = ILB_RESP_UNSOLICITED;
		emit(ILB_L7_EV_DONE_TAIL, cookie, &w.s, now, w.off);
		stat_inc(ILB_STAT_L7_UNSOLICITED);
		stat_inc(ILB_STAT_L7_TO_AGENT);
		return SK_PASS;
	}
	if (w.s.bytes == 0 && w.len <= w.s.inline_max &&
	    (w.s.state == ILB_RESP_DONE ||
	     (!st->first_byte_ns && w.s.state == ILB_RESP_BODY_LENGTH && w.s.remaining <= w.s.inline_max - w.len))) {
		/* Whole in this skb, or its head here and a body that keeps it small. */
		bool done = w.s.state == ILB_RESP_DONE;

		if (!done)
			w.s.flags |= ILB_STREAM_INLINE;
		if (!deliver_inline(skb, st, &w.s, done ? ILB_L7_EV_DONE_INLINE : ILB_L7_EV_PART_INLINE, w.len))
			return SK_DROP; /* its bytes are in the event */
		w.s.flags &= ~ILB_STREAM_INLINE;
	}
	w.s.bytes += w.len;
	verdict = bpf_sk_redirect_hash(skb, &l7_clients, &w.s.client_cookie, 0);
	if (verdict != SK_PASS) {
		if (!(w.s.flags & ILB_STREAM_CLIENT_GONE))
			emit(ILB_L7_EV_CLIENT_GONE, cookie, &w.s, now, 0);
		w.s.flags |= ILB_STREAM_CLIENT_GONE;
		*st = w.s;
		stat_inc(ILB_STAT_L7_CLIENT_GONE);
		return SK_DROP;
	}
	*st = w.s;
	stat_inc(ILB_STAT_L7_REDIRECT);
	if (w.s.state == ILB_RESP_DONE) {
		stat_inc(ILB_STAT_L7_RESPONSES);
		emit(ILB_L7_EV_DONE, cookie, &w.s, now, 0);
	}
	return SK_PASS;
}
