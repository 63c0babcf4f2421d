/* prom.h - a strict parser of the Prometheus text exposition format 0.0.4.
 *
 * One callback per sample, with the metric name, the labels (values unescaped and
 * NUL-terminated) and the value. Nothing is allocated: a sample's strings live in a
 * buffer on the parser's stack and are valid only during the callback.
 *
 * Accepted:
 *   - "# HELP name docstring" (escapes \\ and \n), "# TYPE name counter|gauge|histogram|
 *     summary|untyped", any other "#" line as a comment, blank lines;
 *   - samples: name [ "{" label="value" { "," label="value" } [ "," ] "}" ] value [ timestamp ]
 *     with names [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]*, label values in
 *     UTF-8 with the escapes \\ \" \n, spaces or tabs between tokens;
 *   - values: decimal floats with optional sign and exponent, NaN, Inf, +Inf, -Inf (the
 *     words in any case, as Go's ParseFloat takes them); timestamps: integer milliseconds;
 *   - LF line ends, and CRLF too (the CR is dropped): a proxy that rewrites line ends
 *     should not make a pod look dead.
 * Rejected, with the line number: a bad name, an unterminated or non-UTF-8 label value, a
 * bad escape, a duplicate label name, more than ILB_PROM_MAX_LABELS labels, a missing or
 * malformed value or timestamp, anything after the timestamp, a NUL byte, a CR that does not
 * end a line, a malformed HELP or TYPE line, and a last line without its line feed.
 * Not checked: the cross-line rules (one TYPE per family, TYPE before its samples, the
 * suffixes and "le"/"quantile" labels of histograms and summaries). */
#ifndef ILB_PROM_H
#define ILB_PROM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ILB_PROM_MAX_LABELS 32
/* Bytes available for one sample's name, label names and unescaped values together. */
#define ILB_PROM_MAX_SAMPLE 8192

struct ilb_prom_label {
	const char *name;
	const char *value; /* unescaped, NUL-terminated */
	size_t value_len;
};

struct ilb_prom_sample {
	const char *name;
	const struct ilb_prom_label *labels;
	int n_labels;
	double value;
	bool has_timestamp;
	int64_t timestamp_ms;
	unsigned line; /* 1-based */
};

struct ilb_prom_error {
	unsigned line; /* 1-based; 0 when the error is not tied to a line */
	char msg[128];
};

/* Returns non-zero to stop the parse; that value is then what ilb_prom_parse returns. */
typedef int (*ilb_prom_sample_fn)(const struct ilb_prom_sample *sample, void *ctx);

/* Parses len bytes of text (no NUL terminator needed). Returns 0; -EINVAL when the text is
 * malformed, with err (if not NULL) naming the line and the reason; or the callback's
 * non-zero return. on_sample may be NULL to only validate. */
int ilb_prom_parse(const char *text, size_t len, ilb_prom_sample_fn on_sample, void *ctx,
		   struct ilb_prom_error *err);

/* The value of the label called name, or NULL. */
const char *ilb_prom_label(const struct ilb_prom_sample *sample, const char *name);

#endif
