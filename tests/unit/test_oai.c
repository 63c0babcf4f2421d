/* test_oai.c - OpenAI request bodies: routing fields, prompt text, refusals, the model
 * rewrite, error bodies and the /v1/models listing. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "l7/oai.h"

static int parse(struct ilb_oai_req *req, enum ilb_oai_api api, const char *body, char *msg, size_t msg_len)
{
	return ilb_oai_parse(req, api, body, strlen(body), msg, msg_len);
}

static void test_api_from_path(void **state)
{
	assert_int_equal(ilb_oai_api_from_path("/v1/completions", 15), ILB_OAI_COMPLETIONS);
	assert_int_equal(ilb_oai_api_from_path("/v1/chat/completions", 20), ILB_OAI_CHAT);
	assert_int_equal(ilb_oai_api_from_path("/v1/embeddings", 14), ILB_OAI_EMBEDDINGS);
	/* path_len of a target with a query */
	assert_int_equal(ilb_oai_api_from_path("/v1/completions?x=1", 15), ILB_OAI_COMPLETIONS);
	assert_int_equal(ilb_oai_api_from_path("/v1/completions/", 16), ILB_OAI_OTHER);
	assert_int_equal(ilb_oai_api_from_path("/v1/completion", 14), ILB_OAI_OTHER);
	assert_int_equal(ilb_oai_api_from_path("", 0), ILB_OAI_OTHER);
}

/* --- accepted bodies and the prompt text --- */

struct good_case {
	const char *desc;
	enum ilb_oai_api api;
	const char *body;
	const char *model;
	bool stream, include_usage;
	const char *prompt;
};

static const struct good_case good_cases[] = {
	{ "completions, string prompt", ILB_OAI_COMPLETIONS,
	  "{\"model\":\"llama\",\"prompt\":\"Once upon\",\"max_tokens\":5}", "llama", false, false, "Once upon" },
	{ "completions, prompt list", ILB_OAI_COMPLETIONS, "{\"prompt\":[\"a\",\"b c\"],\"model\":\"m\"}", "m", false,
	  false, "a\nb c" },
	{ "completions, one-element list is the string", ILB_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[\"abc\"]}",
	  "m", false, false, "abc" },
	{ "completions, token ids", ILB_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[1,22,333]}", "m", false, false,
	  "1,22,333," },
	{ "completions, token id lists", ILB_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":[[1,2],[3]]}", "m", false,
	  false, "1,2,\n3," },
	{ "completions, no prompt", ILB_OAI_COMPLETIONS, "{\"model\":\"m\"}", "m", false, false, "" },
	{ "completions, prompt of another type", ILB_OAI_COMPLETIONS, "{\"model\":\"m\",\"prompt\":{\"x\":1}}", "m",
	  false, false, "" },
	{ "chat, string contents", ILB_OAI_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
	  "{\"role\":\"user\",\"content\":\"Hi\"}]}",
	  "m", false, false, "system:Be brief.\nuser:Hi\n" },
	{ "chat, content parts", ILB_OAI_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Look \"},"
	  "{\"type\":\"image_url\",\"image_url\":{\"url\":\"http://x/i.png\"}},{\"type\":\"text\",\"text\":\"here\"}]}]}",
	  "m", false, false, "user:Look here\n" },
	{ "chat, null content and no role", ILB_OAI_CHAT,
	  "{\"model\":\"m\",\"messages\":[{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},{\"content\":\"x\"}]}",
	  "m", false, false, "assistant:\n:x\n" },
	{ "chat, messages not a list", ILB_OAI_CHAT, "{\"model\":\"m\",\"messages\":\"hi\"}", "m", false, false, "" },
	{ "chat, stream with usage", ILB_OAI_CHAT,
	  "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":true},\"messages\":[]}", "m", true,
	  true, "" },
	{ "stream false, options null", ILB_OAI_CHAT, "{\"model\":\"m\",\"stream\":false,\"stream_options\":null}", "m",
	  false, false, "" },
	{ "stream null", ILB_OAI_CHAT, "{\"model\":\"m\",\"stream\":null}", "m", false, false, "" },
	{ "include_usage null", ILB_OAI_CHAT, "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":null}}",
	  "m", true, false, "" },
	{ "embeddings input", ILB_OAI_EMBEDDINGS, "{\"model\":\"e\",\"input\":[\"x\",\"y\"]}", "e", false, false,
	  "x\ny" },
	{ "other API takes messages first", ILB_OAI_OTHER,
	  "{\"model\":\"m\",\"prompt\":\"p\",\"messages\":[{\"role\":\"user\",\"content\":\"c\"}]}", "m", false, false,
	  "user:c\n" },
	{ "other API, input as messages", ILB_OAI_OTHER,
	  "{\"model\":\"m\",\"input\":[{\"role\":\"user\",\"content\":\"c\"}]}", "m", false, false, "user:c\n" },
	{ "unicode escapes", ILB_OAI_COMPLETIONS,
	  "{\"model\":\"caf\\u00e9\",\"prompt\":\"\\ud83d\\ude00 \\\"q\\\"\\n\\u4e2d\"}", "caf\xc3\xa9", false, false,
	  "\xf0\x9f\x98\x80 \"q\"\n\xe4\xb8\xad" },
	{ "raw UTF-8", ILB_OAI_CHAT, "{\"model\":\"m\xc3\xa9\",\"messages\":[{\"role\":\"user\",\"content\":\"\xe2\x82\xac\"}]}",
	  "m\xc3\xa9", false, false, "user:\xe2\x82\xac\n" },
	{ "whitespace around", ILB_OAI_CHAT, " \r\n\t{ \"model\" : \"m\" }\n ", "m", false, false, "" },
	{ "nested keys may repeat", ILB_OAI_CHAT, "{\"model\":\"m\",\"a\":{\"x\":1,\"x\":2}}", "m", false, false, "" },
	{ "key names are case-sensitive", ILB_OAI_CHAT, "{\"Model\":\"M\",\"model\":\"m\"}", "m", false, false, "" },
};

static void test_parse_good(void **state)
{
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]); i++) {
		const struct good_case *c = &good_cases[i];
		struct ilb_oai_req req;
		char msg[256];
		int err = parse(&req, c->api, c->body, msg, sizeof(msg));

		if (err)
			fail_msg("%s: error %d (%s)", c->desc, err, msg);
		if (strcmp(req.model, c->model) || req.stream != c->stream || req.include_usage != c->include_usage ||
		    strcmp(req.prompt, c->prompt))
			fail_msg("%s: got model \"%s\" stream %d usage %d prompt \"%s\"; expected \"%s\" %d %d \"%s\"",
				 c->desc, req.model, req.stream, req.include_usage, req.prompt, c->model, c->stream,
				 c->include_usage, c->prompt);
		assert_int_equal(req.prompt_len, strlen(c->prompt));
		assert_ptr_equal(req.body, c->body);
		assert_int_equal(req.body_len, strlen(c->body));
		ilb_oai_req_free(&req);
	}
}

/* The same messages always give the same text. */
static void test_prompt_deterministic(void **state)
{
	static const char body[] = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}";
	struct ilb_oai_req a, b;

	assert_int_equal(parse(&a, ILB_OAI_CHAT, body, NULL, 0), 0);
	assert_int_equal(parse(&b, ILB_OAI_CHAT, body, NULL, 0), 0);
	assert_string_equal(a.prompt, b.prompt);
	ilb_oai_req_free(&a);
	ilb_oai_req_free(&b);
}

/* --- refusals --- */

struct bad_case {
	const char *desc;
	const char *body;
	const char *msg_part;
};

static const struct bad_case bad_cases[] = {
	{ "empty body", "", "not valid JSON" },
	{ "bad JSON", "{\"model\":\"m\",}", "not valid JSON" },
	{ "unterminated", "{\"model\":\"m\"", "not valid JSON" },
	{ "bad escape", "{\"model\":\"\\x\"}", "not valid JSON" },
	{ "lone surrogate", "{\"model\":\"\\ud83d\"}", "not valid JSON" },
	{ "trailing data", "{\"model\":\"m\"} x", "after its JSON value" },
	{ "two values", "{\"model\":\"m\"}{}", "after its JSON value" },
	{ "array", "[{\"model\":\"m\"}]", "must be a JSON object" },
	{ "string", "\"model\"", "must be a JSON object" },
	{ "number", "42", "must be a JSON object" },
	{ "null", "null", "must be a JSON object" },
	{ "no model", "{\"prompt\":\"x\"}", "you must provide a model parameter" },
	{ "only a differently cased model", "{\"Model\":\"m\"}", "you must provide a model parameter" },
	{ "model null", "{\"model\":null}", "'model' must be a non-empty string" },
	{ "model number", "{\"model\":7}", "'model' must be a non-empty string" },
	{ "model list", "{\"model\":[\"m\"]}", "'model' must be a non-empty string" },
	{ "model empty", "{\"model\":\"\"}", "'model' must be a non-empty string" },
	{ "duplicate model", "{\"model\":\"cheap\",\"prompt\":\"x\",\"model\":\"expensive\"}", "'model' appears more than once" },
	{ "duplicate other key", "{\"model\":\"m\",\"stream\":false,\"stream\":true}", "'stream' appears more than once" },
	{ "stream string", "{\"model\":\"m\",\"stream\":\"true\"}", "'stream' must be a boolean" },
	{ "stream number", "{\"model\":\"m\",\"stream\":1}", "'stream' must be a boolean" },
	{ "stream_options string", "{\"model\":\"m\",\"stream_options\":\"x\"}", "'stream_options' must be an object" },
	{ "include_usage number", "{\"model\":\"m\",\"stream_options\":{\"include_usage\":1}}",
	  "'stream_options.include_usage' must be a boolean" },
};

static void test_parse_bad(void **state)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct ilb_oai_req req;
		char msg[256];
		int err = parse(&req, ILB_OAI_CHAT, c->body, msg, sizeof(msg));

		if (err != -EINVAL || !strstr(msg, c->msg_part))
			fail_msg("%s: got %d \"%s\", expected -EINVAL with \"%s\"", c->desc, err, msg, c->msg_part);
		assert_null(req.root);
		assert_null(req.prompt);
		/* freeing a failed parse is harmless */
		ilb_oai_req_free(&req);
	}
}

/* The length given is the end: no NUL needed, and bytes past it are not read. */
static void test_parse_length(void **state)
{
	static const char body[] = "{\"model\":\"m\"}garbage";
	struct ilb_oai_req req;

	assert_int_equal(ilb_oai_parse(&req, ILB_OAI_CHAT, body, 13, NULL, 0), 0);
	assert_string_equal(req.model, "m");
	ilb_oai_req_free(&req);
	assert_int_equal(ilb_oai_parse(&req, ILB_OAI_CHAT, body, 12, NULL, 0), -EINVAL);
}

/* --- rewrite --- */

static void test_rewrite_unchanged(void **state)
{
	static const char body[] = "{ \"model\" : \"m\", \"temperature\": 0.70 }";
	struct ilb_oai_req req;
	const char *out;
	char *alloc;

	assert_int_equal(parse(&req, ILB_OAI_CHAT, body, NULL, 0), 0);
	assert_int_equal(ilb_oai_rewrite_model(&req, "m", &out, &alloc), sizeof(body) - 1);
	/* the very bytes the client sent */
	assert_ptr_equal(out, body);
	assert_null(alloc);
	ilb_oai_req_free(&req);
}

static void test_rewrite_changed(void **state)
{
	static const char body[] = "{\"stream\":true,\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"h\\u00e9\\n\"}],"
				   "\"temperature\":0.5,\"max_tokens\":16,\"stop\":null,\"logit_bias\":{\"50256\":-100}}";
	static const char want[] = "{\"stream\":true,\"model\":\"a-much-longer-model-name/with-lora\",\"messages\":"
				   "[{\"role\":\"user\",\"content\":\"h\xc3\xa9\\n\"}],\"temperature\":0.5,"
				   "\"max_tokens\":16,\"stop\":null,\"logit_bias\":{\"50256\":-100}}";
	struct ilb_oai_req req;
	const char *out;
	char *alloc;
	ssize_t n;

	assert_int_equal(parse(&req, ILB_OAI_CHAT, body, NULL, 0), 0);
	n = ilb_oai_rewrite_model(&req, "a-much-longer-model-name/with-lora", &out, &alloc);
	assert_int_equal(n, sizeof(want) - 1);
	assert_non_null(alloc);
	assert_ptr_equal(out, alloc);
	assert_string_equal(out, want);
	assert_string_equal(req.model, "a-much-longer-model-name/with-lora");
	free(alloc);
	/* back to the first name: the tree has changed, so it is printed, not the old bytes */
	n = ilb_oai_rewrite_model(&req, "a", &out, &alloc);
	assert_true(n > 0);
	assert_non_null(alloc);
	assert_ptr_not_equal(out, body);
	assert_non_null(strstr(out, "\"model\":\"a\","));
	free(alloc);
	ilb_oai_req_free(&req);
}

static void test_rewrite_escapes(void **state)
{
	struct ilb_oai_req req;
	const char *out;
	char *alloc;

	assert_int_equal(parse(&req, ILB_OAI_CHAT, "{\"model\":\"m\"}", NULL, 0), 0);
	assert_true(ilb_oai_rewrite_model(&req, "q\"\\\n", &out, &alloc) > 0);
	assert_string_equal(out, "{\"model\":\"q\\\"\\\\\\n\"}");
	free(alloc);
	ilb_oai_req_free(&req);
}

/* --- error bodies --- */

static cJSON *error_of(const char *body, int status, const char *type, const char *message)
{
	cJSON *root = cJSON_Parse(body), *e;

	assert_non_null(root);
	assert_int_equal(cJSON_GetArraySize(root), 1);
	e = cJSON_GetObjectItemCaseSensitive(root, "error");
	assert_true(cJSON_IsObject(e));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "type")->valuestring, type);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(e, "code")->valueint, status);
	assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(e, "param")));
	if (message)
		assert_string_equal(cJSON_GetObjectItemCaseSensitive(e, "message")->valuestring, message);
	return root;
}

static void test_error_body_shape(void **state)
{
	char buf[8192];
	ssize_t n;

	n = ilb_oai_error_body(buf, sizeof(buf), 404, "The model `%s` does not exist.", "gpt-x");
	assert_true(n > 0);
	assert_int_equal(strlen(buf), n);
	assert_string_equal(buf, "{\"error\":{\"message\":\"The model `gpt-x` does not exist.\",\"type\":\"NotFoundError\","
				 "\"param\":null,\"code\":404}}");
	cJSON_Delete(error_of(buf, 404, "NotFoundError", "The model `gpt-x` does not exist."));
}

static void test_error_types(void **state)
{
	static const struct {
		int status;
		const char *type;
	} table[] = {
		{ 400, "BadRequestError" },      { 404, "NotFoundError" },
		{ 408, "RequestTimeoutError" },  { 413, "ContentTooLargeError" },
		{ 429, "RateLimitError" },       { 431, "RequestHeaderFieldsTooLargeError" },
		{ 500, "InternalServerError" },  { 503, "ServiceUnavailableError" },
		{ 505, "HTTPVersionNotSupportedError" }, { 418, "Error" },
	};
	char buf[8192];

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_string_equal(ilb_oai_error_type(table[i].status), table[i].type);
		assert_true(ilb_oai_error_body(buf, sizeof(buf), table[i].status, "x") > 0);
		cJSON_Delete(error_of(buf, table[i].status, table[i].type, "x"));
	}
}

static void test_error_escaping(void **state)
{
	char buf[8192];

	/* quotes, backslashes, control characters: escaped, and the body is still JSON */
	assert_true(ilb_oai_error_body(buf, sizeof(buf), 400, "bad \"%s\"", "a\\b\n\x01\t") > 0);
	assert_non_null(strstr(buf, "bad \\\"a\\\\b\\n\\u0001\\t\\\""));
	cJSON_Delete(error_of(buf, 400, "BadRequestError", "bad \"a\\b\n\x01\t\""));
	/* invalid UTF-8 from a client's model name becomes '?' */
	assert_true(ilb_oai_error_body(buf, sizeof(buf), 404, "m=%s", "a\xff\xc3\xa9\xc3(\xed\xa0\x80") > 0);
	cJSON_Delete(error_of(buf, 404, "NotFoundError", "m=a?\xc3\xa9?(???"));
}

static void test_error_long_message(void **state)
{
	char name[3000], buf[8192], want[1100];
	cJSON *root;
	const char *msg;
	size_t len;

	/* 2-byte characters after one ASCII byte: the 1 KiB cut falls inside a character */
	name[0] = 'x';
	for (int i = 0; i < 1400; i++)
		memcpy(name + 1 + 2 * i, "\xc3\xa9", 2);
	name[2801] = '\0';
	assert_true(ilb_oai_error_body(buf, sizeof(buf), 404, "%s", name) > 0);
	root = error_of(buf, 404, "NotFoundError", NULL);
	msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(root, "error"), "message")->valuestring;
	len = strlen(msg);
	assert_int_equal(len, 1023);
	memcpy(want, name, 1023);
	want[1023] = '\0';
	assert_string_equal(msg, want);
	cJSON_Delete(root);
	/* the worst case fits in 8 KiB: every byte escaped as \u00XX */
	memset(name, '\x01', 2000);
	name[2000] = '\0';
	assert_true(ilb_oai_error_body(buf, sizeof(buf), 400, "%s", name) > 6 * 1024);
	assert_int_equal(ilb_oai_error_body(buf, 64, 400, "%s", name), -ENOSPC);
}

/* --- /v1/models --- */

static void test_models_json(void **state)
{
	const struct ilb_oai_model models[] = {
		{ .id = "meta-llama/Llama-3.1-8B", .owned_by = "inferlb", .created = 1700000000 },
		{ .id = "sql-lora", .owned_by = "inferlb", .parent = "meta-llama/Llama-3.1-8B", .root = "/adapters/sql",
		  .created = 1700000001 },
	};
	char *s = ilb_oai_models_json(models, 2);
	cJSON *root, *data, *m;

	assert_non_null(s);
	assert_string_equal(s, "{\"object\":\"list\",\"data\":["
			       "{\"id\":\"meta-llama/Llama-3.1-8B\",\"object\":\"model\",\"created\":1700000000,"
			       "\"owned_by\":\"inferlb\",\"root\":\"meta-llama/Llama-3.1-8B\",\"parent\":null},"
			       "{\"id\":\"sql-lora\",\"object\":\"model\",\"created\":1700000001,\"owned_by\":\"inferlb\","
			       "\"root\":\"/adapters/sql\",\"parent\":\"meta-llama/Llama-3.1-8B\"}]}");
	root = cJSON_Parse(s);
	data = cJSON_GetObjectItemCaseSensitive(root, "data");
	assert_int_equal(cJSON_GetArraySize(data), 2);
	m = cJSON_GetArrayItem(data, 1);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(m, "parent")->valuestring, "meta-llama/Llama-3.1-8B");
	cJSON_Delete(root);
	free(s);
	s = ilb_oai_models_json(NULL, 0);
	assert_string_equal(s, "{\"object\":\"list\",\"data\":[]}");
	free(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_api_from_path),
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_prompt_deterministic),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_parse_length),
		cmocka_unit_test(test_rewrite_unchanged),
		cmocka_unit_test(test_rewrite_changed),
		cmocka_unit_test(test_rewrite_escapes),
		cmocka_unit_test(test_error_body_shape),
		cmocka_unit_test(test_error_types),
		cmocka_unit_test(test_error_escaping),
		cmocka_unit_test(test_error_long_message),
		cmocka_unit_test(test_models_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
