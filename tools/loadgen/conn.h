/* conn.h - one non-blocking HTTP/1.1 keep-alive connection to the target: writes a request,
 * parses the response with llhttp, times the first byte and the first token. */
#ifndef LOADGEN_CONN_H
#define LOADGEN_CONN_H

#include <llhttp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "buf.h"
#include "sse.h"
#include "stats.h"

struct engine;
struct conn_list;

/* A request from issue to record: the bytes on the wire and its measurements. */
struct lg_req {
	struct lg_req *next;
	struct buf wire;
	size_t off;
	struct lg_record rec;
	int64_t deadline;
	bool retried;
};

enum conn_state { C_CONNECTING, C_OPEN };

struct conn {
	int fd;
	enum conn_state state;
	uint32_t events;
	struct engine *eng;
	struct conn *prev, *next; /* in list: the engine's idle or busy list */
	struct conn_list *list;
	struct lg_req *req;
	uint32_t served;

	llhttp_t parser;
	int64_t now; /* time of the read being parsed */
	bool msg_done, keepalive, sse, stream_err;
	struct buf hname, hval, body;
	struct sse sse_st;
	char err_msg[160];
};

void conn_global_init(void);
/* Starts a non-blocking connect. Returns NULL and sets *err on failure. */
struct conn *conn_open(struct engine *e, const struct sockaddr *sa, socklen_t salen, int *err);
/* Hands r to an idle or connecting connection and starts writing it. */
void conn_start(struct conn *c, struct lg_req *r);
void conn_event(struct conn *c, uint32_t events);
/* Ends the request in flight with err (a timeout) and closes the connection. */
void conn_abort(struct conn *c, enum lg_err err);
/* Closes the connection; a request still attached is the caller's. */
void conn_destroy(struct conn *c);

#endif
