/* framing.h - HTTP/1.1 response framing, one byte at a time, over struct l7_stream: the
 * status line, Content-Length and Transfer-Encoding in the head, then chunk-size lines and
 * trailers. Body and chunk data are skipped by the caller by length (`remaining`). Shared by
 * sk_skb_splice (in the kernel) and the agent's splice(2) path, so both follow a response
 * the same way. */
#ifndef ILB_FRAMING_H
#define ILB_FRAMING_H

#ifndef __BPF__
#include "inferlb.h"
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#endif

/* Internal flag: the status line has been read. */
#define STREAM_STATUS_READ (1u << 8)
/* The longest chunk-size line (16 hex digits) and head line the program follows. */
#define MAX_CHUNK_DIGITS 16
#define MAX_LINE 65535

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

/* True in the states where the caller skips `remaining` bytes (or all, until close). */
static __always_inline int framing_in_data(const struct l7_stream *s)
{
	return s->state == ILB_RESP_BODY_LENGTH || s->state == ILB_RESP_CHUNK_DATA || s->state == ILB_RESP_UNTIL_CLOSE;
}

/* Reads one framing byte in the states that read bytes. */
static __always_inline void framing_byte(struct l7_stream *s, __u8 c)
{
	if (s->state == ILB_RESP_HEAD)
		head_byte(s, c);
	else if (s->state == ILB_RESP_TRAILER)
		trailer_byte(s, c);
	else
		chunk_size_byte(s, c);
}

#endif
