/* prom.c - strict Prometheus text format 0.0.4 parser; see prom.h for what it accepts. */
#include "prom.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The longest value or timestamp token taken; longer ones are refused rather than cut. */
#define MAX_NUMBER_TOKEN 128

struct cursor {
	const char *p, *end; /* the current line, without its line end */
	unsigned line;
	struct ilb_prom_error *err;
	/* the sample being read: its strings go to scratch */
	char scratch[ILB_PROM_MAX_SAMPLE];
	size_t used;
	struct ilb_prom_label labels[ILB_PROM_MAX_LABELS];
	int n_labels;
};

__attribute__((format(printf, 2, 3))) static int fail(struct cursor *c, const char *fmt, ...)
{
	va_list ap;

	if (c->err) {
		c->err->line = c->line;
		va_start(ap, fmt);
		vsnprintf(c->err->msg, sizeof(c->err->msg), fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_name_start(char ch, bool colon_ok)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_' || (colon_ok && ch == ':');
}

static bool is_name_char(char ch, bool colon_ok)
{
	return is_name_start(ch, colon_ok) || (ch >= '0' && ch <= '9');
}

static void skip_blanks(struct cursor *c)
{
	while (c->p < c->end && is_blank(*c->p))
		c->p++;
}

static bool at_end(const struct cursor *c)
{
	return c->p >= c->end;
}

/* Reads a run of non-blank characters. */
static size_t read_word(struct cursor *c, const char **word)
{
	*word = c->p;
	while (c->p < c->end && !is_blank(*c->p))
		c->p++;
	return (size_t)(c->p - *word);
}

/* Reads a metric name (colons allowed) or a label name; returns its length, 0 if none. */
static size_t read_name(struct cursor *c, bool colon_ok, const char **name)
{
	*name = c->p;
	if (at_end(c) || !is_name_start(*c->p, colon_ok))
		return 0;
	while (c->p < c->end && is_name_char(*c->p, colon_ok))
		c->p++;
	return (size_t)(c->p - *name);
}

static char *scratch_reserve(struct cursor *c, size_t n)
{
	char *at;

	if (n > sizeof(c->scratch) - c->used)
		return NULL;
	at = c->scratch + c->used;
	c->used += n;
	return at;
}

static const char *scratch_copy(struct cursor *c, const char *s, size_t n)
{
	char *at = scratch_reserve(c, n + 1);

	if (!at)
		return NULL;
	memcpy(at, s, n);
	at[n] = '\0';
	return at;
}

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char b = s[i];
		size_t more;
		uint32_t cp;

		if (b < 0x80) {
			i++;
			continue;
		}
		if (b >= 0xc2 && b <= 0xdf) {
			more = 1;
			cp = b & 0x1f;
		} else if (b >= 0xe0 && b <= 0xef) {
			more = 2;
			cp = b & 0x0f;
		} else if (b >= 0xf0 && b <= 0xf4) {
			more = 3;
			cp = b & 0x07;
		} else {
			return false;
		}
		if (n - i <= more)
			return false;
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((more == 2 && cp < 0x800) || (more == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += more + 1;
	}
	return true;
}

/* After the opening quote: unescapes up to the closing quote into scratch. */
static int read_label_value(struct cursor *c, const char *label, struct ilb_prom_label *out)
{
	/* the unescaped value is never longer than the raw one */
	const char *close = c->p;
	char *dst, *start;

	while (close < c->end && *close != '"') {
		if (*close == '\\' && close + 1 < c->end)
			close++;
		close++;
	}
	if (close >= c->end)
		return fail(c, "unterminated value of label \"%s\"", label);
	start = dst = scratch_reserve(c, (size_t)(close - c->p) + 1);
	if (!dst)
		return fail(c, "sample longer than %d bytes", ILB_PROM_MAX_SAMPLE);
	for (; c->p < close; c->p++) {
		char ch = *c->p;

		if (ch != '\\') {
			*dst++ = ch;
			continue;
		}
		switch (*++c->p) {
		case '\\':
			*dst++ = '\\';
			break;
		case '"':
			*dst++ = '"';
			break;
		case 'n':
			*dst++ = '\n';
			break;
		default:
			return fail(c, "bad escape \"\\%c\" in value of label \"%s\"", *c->p, label);
		}
	}
	c->p++; /* the closing quote */
	*dst = '\0';
	out->value = start;
	out->value_len = (size_t)(dst - start);
	if (!utf8_valid((const unsigned char *)start, out->value_len))
		return fail(c, "value of label \"%s\" is not UTF-8", label);
	return 0;
}

/* After "{": the label pairs up to and including "}". */
static int read_labels(struct cursor *c)
{
	for (;;) {
		struct ilb_prom_label *label;
		const char *name;
		size_t n;
		int ret;

		skip_blanks(c);
		if (!at_end(c) && *c->p == '}') {
			c->p++;
			return 0;
		}
		n = read_name(c, false, &name);
		if (!n)
			return at_end(c) ? fail(c, "unterminated label set") : fail(c, "bad label name");
		if (c->n_labels == ILB_PROM_MAX_LABELS)
			return fail(c, "more than %d labels", ILB_PROM_MAX_LABELS);
		label = &c->labels[c->n_labels];
		label->name = scratch_copy(c, name, n);
		if (!label->name)
			return fail(c, "sample longer than %d bytes", ILB_PROM_MAX_SAMPLE);
		for (int i = 0; i < c->n_labels; i++)
			if (!strcmp(c->labels[i].name, label->name))
				return fail(c, "duplicate label \"%s\"", label->name);
		skip_blanks(c);
		if (at_end(c) || *c->p != '=')
			return fail(c, "expected '=' after label \"%s\"", label->name);
		c->p++;
		skip_blanks(c);
		if (at_end(c) || *c->p != '"')
			return fail(c, "expected '\"' to open the value of label \"%s\"", label->name);
		c->p++;
		ret = read_label_value(c, label->name, label);
		if (ret)
			return ret;
		c->n_labels++;
		skip_blanks(c);
		if (at_end(c))
			return fail(c, "unterminated label set");
		if (*c->p == ',')
			c->p++;
		else if (*c->p != '}')
			return fail(c, "expected ',' or '}' after the value of label \"%s\"", label->name);
	}
}

static bool word_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && !strncasecmp(s, word, n);
}

/* Decimal floats only (no hex, no digit separators), or the special words. */
static int parse_value(struct cursor *c, const char *s, size_t n, double *out)
{
	char buf[MAX_NUMBER_TOKEN + 1];
	size_t i = 0, digits = 0;
	const char *body = s;
	size_t body_n = n;

	if (n && (s[0] == '+' || s[0] == '-')) {
		body++;
		body_n--;
	}
	if (word_is(body, body_n, "inf") || word_is(body, body_n, "infinity")) {
		*out = s[0] == '-' ? -INFINITY : INFINITY;
		return 0;
	}
	if (word_is(s, n, "nan")) {
		*out = NAN;
		return 0;
	}
	if (n > MAX_NUMBER_TOKEN)
		return fail(c, "value longer than %d characters", MAX_NUMBER_TOKEN);
	if (i < n && (s[i] == '+' || s[i] == '-'))
		i++;
	for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
		digits++;
	if (i < n && s[i] == '.')
		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			digits++;
	if (!digits)
		goto bad;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t exp_digits = 0;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++)
			exp_digits++;
		if (!exp_digits)
			goto bad;
	}
	if (i != n)
		goto bad;
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	if (isinf(*out))
		return fail(c, "value \"%s\" out of range", buf);
	return 0;
bad:
	return fail(c, "bad value \"%.*s\"", (int)(n < 40 ? n : 40), s);
}

static int parse_timestamp(struct cursor *c, const char *s, size_t n, int64_t *out)
{
	size_t i = 0;
	bool negative = false;
	uint64_t v = 0, limit;

	if (n && (s[0] == '+' || s[0] == '-')) {
		negative = s[0] == '-';
		i++;
	}
	if (i == n)
		goto bad;
	limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	for (; i < n; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			goto bad;
		d = (unsigned)(s[i] - '0');
		if (v > (limit - d) / 10)
			return fail(c, "timestamp out of range");
		v = v * 10 + d;
	}
	*out = negative ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
bad:
	return fail(c, "bad timestamp \"%.*s\" (integer milliseconds)", (int)(n < 40 ? n : 40), s);
}

/* The docstring of HELP: only \\ and \n may be escaped. */
static int check_help_text(struct cursor *c)
{
	for (const char *q = c->p; q < c->end; q++) {
		if (*q != '\\')
			continue;
		if (q + 1 >= c->end || (q[1] != '\\' && q[1] != 'n'))
			return fail(c, "bad escape in HELP text");
		q++;
	}
	return 0;
}

/* After "#": HELP and TYPE are checked; any other comment is skipped. */
static int parse_comment(struct cursor *c)
{
	static const char *const types[] = { "counter", "gauge", "histogram", "summary", "untyped" };
	const char *word, *name, *type;
	size_t n, type_n;
	bool help;

	skip_blanks(c);
	n = read_word(c, &word);
	help = n == 4 && !memcmp(word, "HELP", 4);
	if (!help && !(n == 4 && !memcmp(word, "TYPE", 4)))
		return 0;
	skip_blanks(c);
	n = read_name(c, true, &name);
	if (!n || (!at_end(c) && !is_blank(*c->p)))
		return fail(c, "bad metric name in %s line", help ? "HELP" : "TYPE");
	skip_blanks(c);
	if (help)
		return check_help_text(c);
	type_n = read_word(c, &type);
	skip_blanks(c);
	if (!at_end(c))
		return fail(c, "garbage after the type in TYPE line");
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == type_n && !memcmp(type, types[i], type_n))
			return 0;
	return type_n ? fail(c, "unknown metric type \"%.*s\"", (int)(type_n < 40 ? type_n : 40), type)
		      : fail(c, "missing metric type in TYPE line");
}

static int parse_sample(struct cursor *c, ilb_prom_sample_fn on_sample, void *ctx)
{
	struct ilb_prom_sample sample = { .line = c->line };
	const char *name, *word;
	size_t n;
	int ret;

	c->used = 0;
	c->n_labels = 0;
	n = read_name(c, true, &name);
	if (!n)
		return fail(c, "bad metric name");
	sample.name = scratch_copy(c, name, n);
	if (!sample.name)
		return fail(c, "sample longer than %d bytes", ILB_PROM_MAX_SAMPLE);
	skip_blanks(c);
	if (!at_end(c) && *c->p == '{') {
		c->p++;
		ret = read_labels(c);
		if (ret)
			return ret;
	} else if (!at_end(c) && c->p == name + n) {
		return fail(c, "bad character '%c' in metric name", *c->p);
	}
	skip_blanks(c);
	if (at_end(c))
		return fail(c, "missing value");
	n = read_word(c, &word);
	ret = parse_value(c, word, n, &sample.value);
	if (ret)
		return ret;
	skip_blanks(c);
	if (!at_end(c)) {
		n = read_word(c, &word);
		ret = parse_timestamp(c, word, n, &sample.timestamp_ms);
		if (ret)
			return ret;
		sample.has_timestamp = true;
		skip_blanks(c);
		if (!at_end(c))
			return fail(c, "garbage after the timestamp");
	}
	sample.labels = c->labels;
	sample.n_labels = c->n_labels;
	if (!on_sample)
		return 0;
	ret = on_sample(&sample, ctx);
	if (ret)
		fail(c, "stopped by the sample callback (%d)", ret);
	return ret;
}

static int parse_line(struct cursor *c, ilb_prom_sample_fn on_sample, void *ctx)
{
	size_t n = (size_t)(c->end - c->p);

	if (memchr(c->p, '\0', n))
		return fail(c, "NUL byte");
	if (memchr(c->p, '\r', n))
		return fail(c, "carriage return inside a line");
	skip_blanks(c);
	if (at_end(c))
		return 0;
	if (*c->p == '#') {
		c->p++;
		return parse_comment(c);
	}
	return parse_sample(c, on_sample, ctx);
}

int ilb_prom_parse(const char *text, size_t len, ilb_prom_sample_fn on_sample, void *ctx,
		   struct ilb_prom_error *err)
{
	struct cursor c = { .line = 1, .err = err };
	const char *p = text, *end = text + len;
	int ret;

	if (err) {
		err->line = 0;
		err->msg[0] = '\0';
	}
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));

		c.p = p;
		c.end = eol ? eol : end;
		if (eol && c.end > p && c.end[-1] == '\r')
			c.end--;
		ret = parse_line(&c, on_sample, ctx);
		if (ret)
			return ret;
		if (!eol)
			return fail(&c, "last line has no line feed");
		p = eol + 1;
		c.line++;
	}
	return 0;
}

const char *ilb_prom_label(const struct ilb_prom_sample *sample, const char *name)
{
	for (int i = 0; i < sample->n_labels; i++)
		if (!strcmp(sample->labels[i].name, name))
			return sample->labels[i].value;
	return NULL;
}
