/* util.h - small pieces shared by every part of fake-apiserver: clocks, growing
 * strings, durations, ids and base64. */
#ifndef FAS_UTIL_H
#define FAS_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;		/* sticky: one check at the end instead of one per append */
};

void sbuf_add(struct sbuf *b, const char *s, size_t n);
void sbuf_adds(struct sbuf *b, const char *s);
void sbuf_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. */
void sbuf_json_str(struct sbuf *b, const char *s);
/* Hands the buffer over (NUL-terminated) or NULL if an append failed. */
char *sbuf_take(struct sbuf *b, size_t *len);
void sbuf_free(struct sbuf *b);

double now_mono(void);
/* RFC 3339 UTC with second precision, as metav1.Time marshals. */
void now_rfc3339(char *buf, size_t len);
void gen_uuid(char *buf, size_t len);
/* "1.5", "500ms", "2s", "3m", "1h" -> seconds; -EINVAL on junk. */
int parse_duration(const char *s, double *out);
int parse_u64(const char *s, uint64_t *out);
/* Reads a whole file; returns -errno. */
int read_file(const char *path, char **out, size_t *len);

/* base64url without padding, like encoding/base64.RawURLEncoding. */
char *b64url_encode(const char *in, size_t len);
char *b64url_decode(const char *in, size_t *len);

#endif
