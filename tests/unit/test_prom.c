/* test_prom.c - the Prometheus text parser over valid and malformed pages. */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "load/prom.h"

#define MAX_SEEN 16

struct seen_sample {
	char name[64];
	int n_labels;
	char label_names[4][32];
	char label_values[4][64];
	double value;
	bool has_timestamp;
	int64_t timestamp_ms;
	unsigned line;
};

struct seen {
	int n;
	struct seen_sample s[MAX_SEEN];
};

static int record(const struct ilb_prom_sample *sample, void *ctx)
{
	struct seen *seen = ctx;
	struct seen_sample *out;

	if (seen->n == MAX_SEEN)
		return 0;
	out = &seen->s[seen->n++];
	snprintf(out->name, sizeof(out->name), "%s", sample->name);
	out->n_labels = sample->n_labels;
	for (int i = 0; i < sample->n_labels && i < 4; i++) {
		snprintf(out->label_names[i], sizeof(out->label_names[i]), "%s", sample->labels[i].name);
		snprintf(out->label_values[i], sizeof(out->label_values[i]), "%s", sample->labels[i].value);
		assert_int_equal(strlen(sample->labels[i].value), sample->labels[i].value_len);
	}
	out->value = sample->value;
	out->has_timestamp = sample->has_timestamp;
	out->timestamp_ms = sample->timestamp_ms;
	out->line = sample->line;
	return 0;
}

static int parse(const char *text, struct seen *seen, struct ilb_prom_error *err)
{
	memset(seen, 0, sizeof(*seen));
	return ilb_prom_parse(text, strlen(text), record, seen, err);
}

/* Valid pages: how many samples, and the first sample's name, value and first label. */
struct valid_case {
	const char *what, *text;
	int samples;
	const char *name;
	double value;
	const char *label, *label_value;
};

static const struct valid_case valid_cases[] = {
	{ "empty page", "", 0, NULL, 0, NULL, NULL },
	{ "blank lines only", "\n\n  \n\t\n", 0, NULL, 0, NULL, NULL },
	{ "plain sample", "up 1\n", 1, "up", 1, NULL, NULL },
	{ "name with colons", "vllm:num_requests_waiting 3\n", 1, "vllm:num_requests_waiting", 3, NULL, NULL },
	{ "HELP, TYPE, comment",
	  "# HELP x A help \\\\ text\\nwith escapes.\n# TYPE x gauge\n# just a comment\n#\nx 2.5\n", 1, "x",
	  2.5, NULL, NULL },
	{ "HELP without text", "# HELP x\nx 1\n", 1, "x", 1, NULL, NULL },
	{ "labels", "m{a=\"1\",b=\"two\"} 7\n", 1, "m", 7, "a", "1" },
	{ "trailing comma", "m{a=\"1\",} 7\n", 1, "m", 7, "a", "1" },
	{ "empty label set", "m{} 7\n", 1, "m", 7, NULL, NULL },
	{ "escapes in label value", "m{a=\"q\\\"b\\\\s\\nn\"} 1\n", 1, "m", 1, "a", "q\"b\\s\nn" },
	{ "empty label value", "m{a=\"\"} 1\n", 1, "m", 1, "a", "" },
	{ "UTF-8 label value", "m{a=\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"} 1\n", 1, "m", 1, "a",
	  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
	{ "braces and comma inside a value", "m{a=\"x,}{=y\"} 1\n", 1, "m", 1, "a", "x,}{=y" },
	{ "blanks between tokens", "  m \t{ a = \"1\" , b=\"2\" }\t 3   \n", 1, "m", 3, "a", "1" },
	{ "exponent", "m 1.5e+03\n", 1, "m", 1500, NULL, NULL },
	{ "negative exponent", "m -2E-2\n", 1, "m", -0.02, NULL, NULL },
	{ "leading dot", "m .5\n", 1, "m", 0.5, NULL, NULL },
	{ "trailing dot", "m 5.\n", 1, "m", 5, NULL, NULL },
	{ "plus sign", "m +4\n", 1, "m", 4, NULL, NULL },
	{ "+Inf", "m +Inf\n", 1, "m", INFINITY, NULL, NULL },
	{ "-Inf", "m -Inf\n", 1, "m", -INFINITY, NULL, NULL },
	{ "Inf", "m Inf\n", 1, "m", INFINITY, NULL, NULL },
	{ "timestamp", "m 1 1712345678901\n", 1, "m", 1, NULL, NULL },
	{ "negative timestamp", "m 1 -5\n", 1, "m", 1, NULL, NULL },
	{ "CRLF line ends", "# TYPE m gauge\r\nm{a=\"b\"} 1\r\n\r\nn 2\r\n", 2, "m", 1, "a", "b" },
	{ "histogram page",
	  "# HELP h_seconds Latency.\n# TYPE h_seconds histogram\n"
	  "h_seconds_bucket{le=\"0.1\"} 1\nh_seconds_bucket{le=\"+Inf\"} 3\n"
	  "h_seconds_sum 0.42\nh_seconds_count 3\n",
	  4, "h_seconds_bucket", 1, "le", "0.1" },
	{ "no blank before value after labels", "m{a=\"1\"}2\n", 1, "m", 2, "a", "1" },
	{ "#HELP without a blank", "#HELP m text\nm 1\n", 1, "m", 1, NULL, NULL },
};

static void test_valid_pages(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *c = &valid_cases[i];
		struct ilb_prom_error err;
		struct seen seen;
		int ret = parse(c->text, &seen, &err);

		if (ret)
			fail_msg("%s: rejected at line %u: %s", c->what, err.line, err.msg);
		if (seen.n != c->samples)
			fail_msg("%s: %d samples, expected %d", c->what, seen.n, c->samples);
		if (!c->samples)
			continue;
		assert_string_equal(seen.s[0].name, c->name);
		if (isinf(c->value))
			assert_true(isinf(seen.s[0].value) && signbit(seen.s[0].value) == signbit(c->value));
		else
			assert_true(fabs(seen.s[0].value - c->value) < 1e-12);
		if (c->label) {
			assert_true(seen.s[0].n_labels >= 1);
			assert_string_equal(seen.s[0].label_names[0], c->label);
			assert_string_equal(seen.s[0].label_values[0], c->label_value);
		}
	}
}

static void test_sample_details(void **state)
{
	struct ilb_prom_error err;
	struct seen seen;

	(void)state;
	assert_int_equal(parse("# c\n\nm{a=\"1\",b=\"2\"} NaN 1712345678901\nn -0\n", &seen, &err), 0);
	assert_int_equal(seen.n, 2);
	assert_int_equal(seen.s[0].line, 3);
	assert_int_equal(seen.s[0].n_labels, 2);
	assert_string_equal(seen.s[0].label_names[1], "b");
	assert_string_equal(seen.s[0].label_values[1], "2");
	assert_true(isnan(seen.s[0].value));
	assert_true(seen.s[0].has_timestamp);
	assert_true(seen.s[0].timestamp_ms == 1712345678901LL);
	assert_int_equal(seen.s[1].line, 4);
	assert_false(seen.s[1].has_timestamp);

	/* the extreme timestamps */
	assert_int_equal(parse("m 1 9223372036854775807\nm 1 -9223372036854775808\n", &seen, &err), 0);
	assert_true(seen.s[0].timestamp_ms == INT64_MAX);
	assert_true(seen.s[1].timestamp_ms == INT64_MIN);
}

/* Malformed pages: the line the error must name and a word of its message. */
struct invalid_case {
	const char *what, *text;
	unsigned line;
	const char *msg;
};

static const struct invalid_case invalid_cases[] = {
	{ "name starting with a digit", "ok 1\n1m 1\n", 2, "metric name" },
	{ "dash in a name", "# c\nmy-metric 1\n", 2, "metric name" },
	{ "unterminated label value", "m 1\nm{a=\"x} 1\n", 2, "unterminated" },
	{ "backslash at the end of a value", "m{a=\"x\\\n", 1, "unterminated" },
	{ "unterminated label set", "m{a=\"x\"\n", 1, "unterminated label set" },
	{ "bad escape", "a 1\nb 2\nm{a=\"\\t\"} 1\n", 3, "escape" },
	{ "duplicate label", "m{a=\"1\",a=\"2\"} 1\n", 1, "duplicate" },
	{ "bad label name", "m{1a=\"1\"} 1\n", 1, "label name" },
	{ "colon in a label name", "m{a:b=\"1\"} 1\n", 1, "'='" },
	{ "missing =", "m{a \"1\"} 1\n", 1, "'='" },
	{ "unquoted label value", "m{a=1} 1\n", 1, "'\"'" },
	{ "no comma between labels", "m{a=\"1\" b=\"2\"} 1\n", 1, "','" },
	{ "two commas", "m{a=\"1\",,b=\"2\"} 1\n", 1, "label name" },
	{ "missing value", "m\n", 1, "missing value" },
	{ "missing value after labels", "x 1\nm{a=\"1\"}\n", 2, "missing value" },
	{ "garbage value", "m abc\n", 1, "bad value" },
	{ "garbage after value", "m 1 2 3\n", 1, "garbage" },
	{ "garbage in the value", "m 1x\n", 1, "bad value" },
	{ "hex value", "m 0x10\n", 1, "bad value" },
	{ "bare exponent", "m 1e\n", 1, "bad value" },
	{ "lone dot", "m .\n", 1, "bad value" },
	{ "signed NaN", "m -NaN\n", 1, "bad value" },
	{ "value out of range", "m 1e999\n", 1, "out of range" },
	{ "float timestamp", "m 1 1.5\n", 1, "timestamp" },
	{ "timestamp out of range", "m 1 9223372036854775808\n", 1, "timestamp out of range" },
	{ "no final line feed", "a 1\nb 2", 2, "line feed" },
	{ "NUL byte", NULL, 2, "NUL" },
	{ "bare CR", "a 1\nb\r2\n", 2, "carriage return" },
	{ "CR inside a label value", "m{a=\"x\ry\"} 1\n", 1, "carriage return" },
	{ "invalid UTF-8", "m{a=\"\xc3\x28\"} 1\n", 1, "UTF-8" },
	{ "overlong UTF-8", "m{a=\"\xc0\xaf\"} 1\n", 1, "UTF-8" },
	{ "surrogate in UTF-8", "m{a=\"\xed\xa0\x80\"} 1\n", 1, "UTF-8" },
	{ "truncated UTF-8", "m{a=\"\xe2\x82\"} 1\n", 1, "UTF-8" },
	{ "unknown TYPE", "# TYPE m gaugee\nm 1\n", 1, "unknown metric type" },
	{ "TYPE without type", "# TYPE m\n", 1, "missing metric type" },
	{ "TYPE with garbage", "# TYPE m gauge extra\n", 1, "garbage" },
	{ "TYPE with a bad name", "# TYPE 9m gauge\n", 1, "metric name" },
	{ "HELP with a bad escape", "# HELP m bad \\x escape\n", 1, "escape" },
	{ "HELP without a name", "# HELP\n", 1, "metric name" },
	{ "a lone brace", "}\n", 1, "metric name" },
};

static void test_invalid_pages(void **state)
{
	static const char nul_page[] = "a 1\nb\0 2\n";

	(void)state;
	for (size_t i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]); i++) {
		const struct invalid_case *c = &invalid_cases[i];
		const char *text = c->text ? c->text : nul_page;
		size_t len = c->text ? strlen(c->text) : sizeof(nul_page) - 1;
		struct ilb_prom_error err;
		struct seen seen = { 0 };
		int ret = ilb_prom_parse(text, len, record, &seen, &err);

		if (ret != -EINVAL)
			fail_msg("%s: returned %d, expected -EINVAL", c->what, ret);
		if (err.line != c->line)
			fail_msg("%s: error on line %u (%s), expected line %u", c->what, err.line, err.msg, c->line);
		if (!strstr(err.msg, c->msg))
			fail_msg("%s: message \"%s\" lacks \"%s\"", c->what, err.msg, c->msg);
	}
}

static void test_too_many_labels(void **state)
{
	char text[2048];
	size_t n = 0;
	struct ilb_prom_error err;
	struct seen seen;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n, "m{");
	for (int i = 0; i < ILB_PROM_MAX_LABELS; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "l%d=\"v\",", i);
	snprintf(text + n, sizeof(text) - n, "} 1\n");
	assert_int_equal(parse(text, &seen, &err), 0);
	assert_int_equal(seen.s[0].n_labels, ILB_PROM_MAX_LABELS);

	snprintf(text + n, sizeof(text) - n, "extra=\"v\"} 1\n");
	assert_int_equal(parse(text, &seen, &err), -EINVAL);
	assert_int_equal(err.line, 1);
	assert_non_null(strstr(err.msg, "more than"));
}

static void test_oversized_sample(void **state)
{
	static char text[ILB_PROM_MAX_SAMPLE + 64];
	struct ilb_prom_error err;
	struct seen seen;

	(void)state;
	memset(text, 'a', sizeof(text));
	memcpy(text, "m{a=\"", 5);
	memcpy(text + sizeof(text) - 6, "\"} 1\n", 6);
	assert_int_equal(parse(text, &seen, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "longer than"));
}

static int stop_at_second(const struct ilb_prom_sample *sample, void *ctx)
{
	int *count = ctx;

	(void)sample;
	return ++*count == 2 ? 42 : 0;
}

static void test_callback_stops(void **state)
{
	const char *text = "a 1\nb 2\nc 3\n";
	struct ilb_prom_error err;
	int count = 0;

	(void)state;
	assert_int_equal(ilb_prom_parse(text, strlen(text), stop_at_second, &count, &err), 42);
	assert_int_equal(count, 2);
	assert_int_equal(err.line, 2);
	/* a NULL callback only validates */
	assert_int_equal(ilb_prom_parse(text, strlen(text), NULL, NULL, NULL), 0);
	assert_int_equal(ilb_prom_parse("m{\n", 3, NULL, NULL, NULL), -EINVAL);
}

static int check_label_lookup(const struct ilb_prom_sample *sample, void *ctx)
{
	(void)ctx;
	assert_string_equal(ilb_prom_label(sample, "b"), "two");
	assert_string_equal(ilb_prom_label(sample, "a"), "one");
	assert_null(ilb_prom_label(sample, "c"));
	return 0;
}

static void test_label_lookup(void **state)
{
	const char *text = "m{a=\"one\",b=\"two\"} 1\n";

	(void)state;
	assert_int_equal(ilb_prom_parse(text, strlen(text), check_label_lookup, NULL, NULL), 0);
}

/* The text is read only within len: a page cut short is not read past its end. */
static void test_length_bounded(void **state)
{
	const char *text = "a 1\nb 2\n";
	struct seen seen = { 0 };

	(void)state;
	assert_int_equal(ilb_prom_parse(text, 4, record, &seen, NULL), 0);
	assert_int_equal(seen.n, 1);
	assert_int_equal(ilb_prom_parse(text, 6, record, &seen, NULL), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid_pages),	 cmocka_unit_test(test_sample_details),
		cmocka_unit_test(test_invalid_pages),	 cmocka_unit_test(test_too_many_labels),
		cmocka_unit_test(test_oversized_sample), cmocka_unit_test(test_callback_stops),
		cmocka_unit_test(test_label_lookup),	 cmocka_unit_test(test_length_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
