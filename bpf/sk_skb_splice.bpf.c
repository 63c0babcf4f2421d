/* sk_skb_splice - the verdict program of `l7_backends`: response bytes from a pod go
 * straight to the client socket paired with it (egress redirect), so a streamed response
 * never enters user space. No stream parser (strparser caps a message at sk_rcvbuf): each
 * skb is read as it comes, and the response's HTTP/1.1 framing (Content-Length or chunked)
 * is followed across skbs in `l7_stream_state`, so the agent learns where the response
 * ends and both connections stay alive for the next request.
 *
 * Only the head and chunk-size lines are read byte by byte; body and chunk data are
 * skipped by length. Anything the kernel cannot follow, and any socket without a stream,
 * is passed to the agent (SK_PASS), which reads it itself. Bytes on a kept connection with
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

/* Bytes before the next '\n' among the 8 at off, 8 if none: one helper call for eight
 * bytes of a header line instead of eight. The 8 bytes become the walk's word, so the
 * '\n' found is then read from it without another load. */
static __always_inline __u32 line_skip(struct walk *w)
{
	__u64 v, x, m;
	__u32 n = 0;

	if (bpf_skb_load_bytes(w->skb, w->off, &v, 8))
		return 0;
	w->word = v;
	w->word_off = w->off;
	w->word_len = 8;
	x = v ^ 0x0a0a0a0a0a0a0a0aULL;
	/* high bit of each zero byte of x; the lowest one marks the first '\n' */
	m = (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
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

static __always_inline void emit(__u32 kind, __u64 cookie, const struct l7_stream *s, __u64 now, __u64 tail)
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
	ev->tail = tail;
	bpf_ringbuf_submit(ev, 0);
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
