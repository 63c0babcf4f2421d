/* buf.h - a growable byte buffer, used to build request bodies, SSE lines and reports.
 * Append failures are sticky: check buf.oom once at the end instead of after each call. */
#ifndef LOADGEN_BUF_H
#define LOADGEN_BUF_H

#include <stdbool.h>
#include <stddef.h>

struct buf {
	char *data;
	size_t len;
	size_t cap;
	bool oom;
};

int buf_reserve(struct buf *b, size_t extra);
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s[0..n) escaped for the inside of a JSON string, without quotes. */
void buf_add_json_chars(struct buf *b, const char *s, size_t n);
/* Appends s[0..n) as a quoted JSON string. */
void buf_add_json_str(struct buf *b, const char *s, size_t n);
void buf_reset(struct buf *b);
void buf_free(struct buf *b);

#endif
