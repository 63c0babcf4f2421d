/* oai.h - the OpenAI API as the L7 lane sees it: the fields of a request body that route it,
 * the body re-serialised with another model, error bodies and the /v1/models listing.
 *
 * Error bodies are {"error":{"message":"...","type":"...","param":null,"code":N}}, code the
 * HTTP status, as vLLM's OpenAI server sends them; the type is the name of the exception the
 * openai Python client raises for the status, or the reason phrase in that style:
 *   400 BadRequestError            404 NotFoundError          405 MethodNotAllowedError
 *   408 RequestTimeoutError        413 ContentTooLargeError   414 URITooLongError
 *   417 ExpectationFailedError     429 RateLimitError         431 RequestHeaderFieldsTooLargeError
 *   500 InternalServerError        501 NotImplementedError    502 BadGatewayError
 *   503 ServiceUnavailableError    504 GatewayTimeoutError    505 HTTPVersionNotSupportedError
 * and "Error" for any other status. Messages the agent uses:
 *   404 "The model `NAME` does not exist."
 *   400 the parse error of ilb_oai_parse() */
#ifndef ILB_OAI_H
#define ILB_OAI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ilb_oai_api {
	ILB_OAI_OTHER = 0,
	ILB_OAI_COMPLETIONS, /* /v1/completions: "prompt" */
	ILB_OAI_CHAT, /* /v1/chat/completions: "messages" */
	ILB_OAI_EMBEDDINGS, /* /v1/embeddings: "input" */
};

/* The API of a request path (the target without its query). */
enum ilb_oai_api ilb_oai_api_from_path(const char *path, size_t len);

struct ilb_oai_req {
	cJSON *root; /* the parsed body, an object */
	const char *model; /* root's "model", never NULL after a successful parse */
	bool stream;
	bool include_usage; /* stream_options.include_usage */
	/* The text hashed for prefix-cache affinity, NUL-terminated, "" when there is none:
	 *   completions: "prompt"; a list's elements joined by "\n", token ids as "N," each;
	 *   chat: for each message, role ":" content "\n"; content a string, or the "text" of
	 *   each part in order (other parts add nothing);
	 *   embeddings: "input", as prompt;
	 *   other: "messages", else "prompt", else "input", as above. */
	char *prompt;
	size_t prompt_len;
	const char *body; /* the bytes parsed; not owned */
	size_t body_len;
	bool rewritten; /* the tree no longer matches body */
};

/* Parses body (len bytes, need not be NUL-terminated). Returns 0; -EINVAL when the request
 * must be answered 400, with the reason in msg: not JSON, not an object, a top-level key
 * given twice (parsers keep different ones), no "model" or not a non-empty string, "stream"
 * or "stream_options.include_usage" not a boolean (null is false), "stream_options" not an
 * object; or -ENOMEM. On failure req holds nothing to free. */
int ilb_oai_parse(struct ilb_oai_req *req, enum ilb_oai_api api, const char *body, size_t len, char *msg,
		  size_t msg_len);
void ilb_oai_req_free(struct ilb_oai_req *req);

/* The body to forward with "model" set to new_model. While the tree is unchanged and
 * new_model is the parsed model, that is the parsed bytes themselves: *out = req->body,
 * *alloc = NULL. Otherwise the tree (other fields, their order kept) is printed into a new
 * buffer: *out = *alloc, which the caller frees. Returns the length, or -ENOMEM. Numbers
 * outside a double's exact range may print differently from how the client wrote them. */
ssize_t ilb_oai_rewrite_model(struct ilb_oai_req *req, const char *new_model, const char **out, char **alloc);

/* The "type" of an error body for an HTTP status (the table above). */
const char *ilb_oai_error_type(int status);

/* An error body into buf (NUL-terminated). The message is printed from fmt, its invalid
 * UTF-8 replaced by '?' and cut at 1 KiB on a character boundary: it may quote a client's
 * model name. Returns the length; -ENOSPC when cap is too small (8 KiB never is), -ENOMEM. */
ssize_t ilb_oai_error_body(char *buf, size_t cap, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

struct ilb_oai_model {
	const char *id;
	const char *owned_by;
	const char *root; /* NULL: id */
	const char *parent; /* the base model of a LoRA adapter; NULL for a base model */
	int64_t created; /* unix seconds */
};

/* {"object":"list","data":[{"id","object":"model","created","owned_by","root","parent"},...]}
 * as a malloc'd string; NULL when out of memory. */
char *ilb_oai_models_json(const struct ilb_oai_model *models, size_t n);

#endif
