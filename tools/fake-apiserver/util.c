/* util.c - clocks, growing strings, durations, ids and base64. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static bool sbuf_grow(struct sbuf *b, size_t need)
{
	size_t cap;
	char *p;

	if (b->oom)
		return false;
	if (b->len + need + 1 <= b->cap)
		return true;
	cap = b->cap ? b->cap : 256;
	while (cap < b->len + need + 1)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sbuf_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void sbuf_adds(struct sbuf *b, const char *s)
{
	sbuf_add(b, s, strlen(s));
}

void sbuf_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_grow(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sbuf_json_str(struct sbuf *b, const char *s)
{
	const unsigned char *c;

	sbuf_add(b, "\"", 1);
	for (c = (const unsigned char *)s; *c; c++) {
		switch (*c) {
		case '"': sbuf_add(b, "\\\"", 2); break;
		case '\\': sbuf_add(b, "\\\\", 2); break;
		case '\n': sbuf_add(b, "\\n", 2); break;
		case '\r': sbuf_add(b, "\\r", 2); break;
		case '\t': sbuf_add(b, "\\t", 2); break;
		default:
			if (*c < 0x20)
				sbuf_printf(b, "\\u%04x", *c);
			else
				sbuf_add(b, (const char *)c, 1);
		}
	}
	sbuf_add(b, "\"", 1);
}

char *sbuf_take(struct sbuf *b, size_t *len)
{
	char *p;

	if (!sbuf_grow(b, 0)) {
		sbuf_free(b);
		return NULL;
	}
	if (!b->p) {
		b->p = calloc(1, 1);
		if (!b->p)
			return NULL;
	}
	p = b->p;
	if (len)
		*len = b->len;
	memset(b, 0, sizeof(*b));
	return p;
}

void sbuf_free(struct sbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void now_rfc3339(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void gen_uuid(char *buf, size_t len)
{
	unsigned char r[16];

	if (getrandom(r, sizeof(r), 0) != sizeof(r)) {
		for (size_t i = 0; i < sizeof(r); i++)
			r[i] = (unsigned char)random();
	}
	r[6] = (r[6] & 0x0f) | 0x40;	/* version 4 */
	r[8] = (r[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	snprintf(buf, len, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
		 r[13], r[14], r[15]);
}

int parse_duration(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (!*end || !strcmp(end, "s"))
		*out = v;
	else if (!strcmp(end, "ms"))
		*out = v / 1000;
	else if (!strcmp(end, "m"))
		*out = v * 60;
	else if (!strcmp(end, "h"))
		*out = v * 3600;
	else
		return -EINVAL;
	return 0;
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int read_file(const char *path, char **out, size_t *len)
{
	struct sbuf b = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		sbuf_add(&b, chunk, (size_t)n);
	}
	*out = sbuf_take(&b, len);
	if (!*out)
		err = -ENOMEM;
out:
	close(fd);
	if (err)
		sbuf_free(&b);
	return err;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *b64url_encode(const char *in, size_t len)
{
	const unsigned char *s = (const unsigned char *)in;
	char *out = malloc(len / 3 * 4 + 5), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64[s[i] >> 2];
		*o++ = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64[((s[i + 1] & 15) << 2) | (s[i + 2] >> 6)];
		*o++ = b64[s[i + 2] & 63];
	}
	if (len - i == 1) {
		*o++ = b64[s[i] >> 2];
		*o++ = b64[(s[i] & 3) << 4];
	} else if (len - i == 2) {
		*o++ = b64[s[i] >> 2];
		*o++ = b64[((s[i] & 3) << 4) | (s[i + 1] >> 4)];
		*o++ = b64[(s[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

char *b64url_decode(const char *in, size_t *len)
{
	size_t n = strlen(in), o = 0;
	unsigned int acc = 0;
	int bits = 0;
	char *out = malloc(n * 3 / 4 + 2);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *p = in[i] ? strchr(b64, in[i]) : NULL;

		if (in[i] == '=')
			break;
		if (!p) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*len = o;
	return out;
}
