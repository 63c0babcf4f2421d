/* watch.h - watch streams: newline-delimited JSON events over chunked responses,
 * replayed from history, with bookmarks, timeouts and 410 for compacted versions. */
#ifndef FAS_WATCH_H
#define FAS_WATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <microhttpd.h>

#include "selector.h"
#include "store.h"

struct watch_req {
	const struct kres *res;
	const char *ns;			/* NULL: every namespace */
	struct selector *lsel, *fsel;	/* taken over by watch_start */
	uint64_t rv;			/* 0: unset or "0" */
	bool bookmarks;
	int send_initial;		/* -1 unset, 0 false, 1 true */
	double timeout;			/* seconds; 0: the server's default */
};

/* Seconds: the default timeout T (each watch gets a random one in [T, 2T), as
 * kube-apiserver spreads --min-request-timeout) and the bookmark period. */
void watch_config(double default_timeout, double bookmark_interval);
/* Under the store lock. Returns the streaming response to queue, or NULL. */
struct MHD_Response *watch_start(struct MHD_Connection *conn, struct watch_req *req);
/* Under the store lock: each stored event reaches every watch it concerns. */
void watch_notify(const struct kevent *ev);
/* Under the store lock, a few times a second: timeouts, bookmarks, end of a stall. */
void watch_tick(double now);
/* Closes every stream: abruptly (no terminating chunk) or cleanly. Returns the count. */
int watch_close_all(bool abrupt);
/* Sends a bookmark now on every stream that asked for them. Returns the count. */
int watch_bookmark_all(void);
int watch_count(void);

/* Until this monotonic time, streams hold their events and new requests wait. */
extern double stall_until;

#endif
