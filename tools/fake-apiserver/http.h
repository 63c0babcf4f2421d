/* http.h - what the API and admin servers share: per-request state, replies, Status
 * objects and query parameters. */
#ifndef FAS_HTTP_H
#define FAS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <microhttpd.h>
#include <cjson/cJSON.h>

#include "util.h"

struct req_ctx {
	char *uri;		/* as sent, query included: for the log */
	struct sbuf body;
	bool started;
	bool stalled;		/* counted once, however often it is resumed */
	int code;		/* what was answered, for the log */
};

extern bool http_verbose;

/* MHD_OPTION_URI_LOG_CALLBACK: creates the req_ctx. */
void *http_uri_log(void *cls, const char *uri, struct MHD_Connection *c);
/* MHD_OPTION_NOTIFY_COMPLETED: logs and frees it. */
void http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
		    enum MHD_RequestTerminationCode toe);
/* MHD_OPTION_UNESCAPE_CALLBACK: %XX and, in queries, '+' for space (Go's url.Values). */
size_t http_unescape(void *cls, struct MHD_Connection *c, char *s);

const char *http_arg(struct MHD_Connection *c, const char *name);
/* "true"/"1" style flags as Go's strconv.ParseBool reads them; -1 when absent. */
int http_arg_bool(struct MHD_Connection *c, const char *name);

/* Queues text (copied) with the headers kube-apiserver sends. */
enum MHD_Result http_reply(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
			   const char *ctype, const char *text, size_t len);
/* Prints and queues a cJSON value (consumed); pretty when asked with ?pretty=true. */
enum MHD_Result http_reply_json(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
				cJSON *v);
/* A metav1.Status failure. details may be NULL (consumed). */
enum MHD_Result http_status(struct MHD_Connection *c, struct req_ctx *ctx, unsigned int code,
			    const char *reason, const char *message, cJSON *details);
void http_add_headers(struct MHD_Response *r, const char *ctype);

#endif
