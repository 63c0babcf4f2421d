/* watch.c - watch streams.
 *
 * Each stream is a chunked MHD response whose reader drains the watcher's queue. With
 * nothing to send the reader suspends the connection (MHD would otherwise call it again
 * at once, spinning); whoever queues something resumes it. Both happen under the store
 * lock, so a resume never precedes its suspend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"
#include "watch.h"

struct chunk {
	struct chunk *next;
	size_t len, off;
	char data[];
};

enum wstate { W_OPEN, W_ENDING, W_ABORT };

struct watcher {
	struct watcher *prev, *next;
	struct MHD_Connection *conn;
	const struct kres *res;
	char *ns;
	struct selector *lsel, *fsel;
	bool bookmarks;
	uint64_t rv;		/* every event up to here is queued */
	struct chunk *head, *tail;
	size_t queued;		/* bytes waiting in head..tail */
	double deadline, next_bookmark;
	enum wstate state;
	bool suspended;
};

/* A client this far behind is cut off, as the apiserver drops a watcher whose buffer
 * fills up; it will have to re-list or resume from its last resourceVersion. */
#define MAX_QUEUED (16u << 20)

static struct watcher *watchers;
static int n_watchers;
static double def_timeout = 1800, bm_interval = 60;
double stall_until;

void watch_config(double default_timeout, double bookmark_interval)
{
	def_timeout = default_timeout;
	bm_interval = bookmark_interval;
}

int watch_count(void)
{
	return n_watchers;
}

static void push(struct watcher *w, struct sbuf *line)
{
	struct chunk *c;

	if (line->oom || w->queued + line->len > MAX_QUEUED) {
		sbuf_free(line);
		w->state = W_ABORT;	/* better a broken stream than a silently missing event */
		return;
	}
	w->queued += line->len;
	c = malloc(sizeof(*c) + line->len);
	if (!c) {
		sbuf_free(line);
		w->state = W_ABORT;
		return;
	}
	c->next = NULL;
	c->len = line->len;
	c->off = 0;
	memcpy(c->data, line->p, line->len);
	sbuf_free(line);
	if (w->tail)
		w->tail->next = c;
	else
		w->head = c;
	w->tail = c;
}

static void push_event(struct watcher *w, const char *type, const char *obj_text)
{
	struct sbuf b = { 0 };

	sbuf_printf(&b, "{\"type\":\"%s\",\"object\":%s}\n", type, obj_text);
	push(w, &b);
	stats.events_sent++;
}

static void push_bookmark(struct watcher *w, bool initial_end)
{
	const struct kres *r = w->res;
	struct sbuf b = { 0 };

	w->rv = store_rv();
	sbuf_adds(&b, "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":");
	sbuf_json_str(&b, r->kind);
	sbuf_adds(&b, ",\"apiVersion\":");
	sbuf_json_str(&b, r->api_version);
	sbuf_printf(&b, ",\"metadata\":{\"resourceVersion\":\"%llu\"", (unsigned long long)w->rv);
	/* Typed objects marshal their zero creationTimestamp as null. */
	if (r->builtin)
		sbuf_adds(&b, ",\"creationTimestamp\":null");
	if (initial_end)
		sbuf_adds(&b, ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}");
	sbuf_adds(&b, "}");
	sbuf_adds(&b, r->bookmark_extra);
	sbuf_adds(&b, "}}\n");
	push(w, &b);
	stats.bookmarks++;
}

static void wake(struct watcher *w)
{
	if (w->suspended) {
		w->suspended = false;
		MHD_resume_connection(w->conn);
	}
}

static bool matches(const struct watcher *w, const struct kobj *o)
{
	if (!o || o->res != w->res)
		return false;
	if (w->ns && strcmp(w->ns, o->ns))
		return false;
	return selector_match_labels(w->lsel, o->json) && selector_match_fields(w->fsel, o->json);
}

/* An object moving into the selection is ADDED for this watch, one moving out DELETED. */
static void deliver(struct watcher *w, const struct kevent *ev)
{
	bool now = matches(w, ev->obj), before = matches(w, ev->prev);

	if (ev->obj->res != w->res || ev->rv <= w->rv)
		return;
	w->rv = ev->rv;
	switch (ev->type) {
	case EV_ADDED:
		if (now)
			push_event(w, "ADDED", ev->obj->text);
		break;
	case EV_MODIFIED:
		if (now && before)
			push_event(w, "MODIFIED", ev->obj->text);
		else if (now)
			push_event(w, "ADDED", ev->obj->text);
		else if (before)
			push_event(w, "DELETED", ev->obj->text);
		break;
	case EV_DELETED:
		if (before || now)
			push_event(w, "DELETED", ev->obj->text);
		break;
	}
}

void watch_notify(const struct kevent *ev)
{
	for (struct watcher *w = watchers; w; w = w->next) {
		if (w->state != W_OPEN)
			continue;
		deliver(w, ev);
		if (w->head && stall_until <= now_mono())
			wake(w);
	}
}

static ssize_t reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct watcher *w = cls;
	ssize_t n = 0;

	store_lock();
	if (w->state == W_ABORT) {
		n = MHD_CONTENT_READER_END_WITH_ERROR;
		goto out;
	}
	if (stall_until > now_mono())
		goto suspend;
	while (w->head && (size_t)n < max) {
		struct chunk *c = w->head;
		size_t take = c->len - c->off;

		if (take > max - (size_t)n)
			take = max - (size_t)n;
		memcpy(buf + n, c->data + c->off, take);
		n += (ssize_t)take;
		c->off += take;
		w->queued -= take;
		if (c->off == c->len) {
			w->head = c->next;
			if (!w->head)
				w->tail = NULL;
			free(c);
		}
	}
	if (n)
		goto out;
	if (w->state == W_ENDING) {
		n = MHD_CONTENT_READER_END_OF_STREAM;
		goto out;
	}
suspend:
	w->suspended = true;
	MHD_suspend_connection(w->conn);
out:
	store_unlock();
	return n;
}

/* What a watcher owns: its queued chunks, selectors and namespace. */
static void watcher_destroy(struct watcher *w)
{
	struct chunk *c;

	while ((c = w->head)) {
		w->head = c->next;
		free(c);
	}
	selector_free(w->lsel);
	selector_free(w->fsel);
	free(w->ns);
	free(w);
}

static void watcher_free(void *cls)
{
	struct watcher *w = cls;

	store_lock();
	if (w->prev)
		w->prev->next = w->next;
	else
		watchers = w->next;
	if (w->next)
		w->next->prev = w->prev;
	n_watchers--;
	stats.watches_active = (unsigned long)n_watchers;
	store_unlock();
	watcher_destroy(w);
}

static void initial_events(struct watcher *w, bool end_bookmark)
{
	struct kobj **objs;
	size_t n;

	if (store_list(w->res, w->ns, 0, &objs, &n) == 0) {
		for (size_t i = 0; i < n; i++)
			if (matches(w, objs[i]))
				push_event(w, "ADDED", objs[i]->text);
		kobjs_put(objs, n);
	}
	w->rv = store_rv();
	if (end_bookmark)
		push_bookmark(w, true);
}

struct MHD_Response *watch_start(struct MHD_Connection *conn, struct watch_req *req)
{
	struct watcher *w = calloc(1, sizeof(*w));
	struct MHD_Response *resp;
	double now = now_mono();
	bool initial;

	if (!w)
		goto fail;
	w->conn = conn;
	w->res = req->res;
	w->lsel = req->lsel;
	w->fsel = req->fsel;
	req->lsel = req->fsel = NULL;
	w->bookmarks = req->bookmarks;
	if (req->ns) {
		w->ns = strdup(req->ns);
		if (!w->ns)
			goto fail;
	}
	/* sendInitialEvents defaults to true only for "" and "0", the legacy semantics. */
	initial = req->send_initial >= 0 ? req->send_initial : req->rv == 0;
	if (initial) {
		initial_events(w, req->send_initial == 1 && w->bookmarks);
	} else if (req->rv && req->rv < store_compacted()) {
		struct sbuf b = { 0 };

		sbuf_printf(&b, "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"apiVersion\":\"v1\","
			    "\"metadata\":{},\"status\":\"Failure\",\"message\":\"too old resource version: "
			    "%llu (%llu)\",\"reason\":\"Expired\",\"code\":410}}\n",
			    (unsigned long long)req->rv, (unsigned long long)store_compacted());
		push(w, &b);
		w->state = w->state == W_ABORT ? W_ABORT : W_ENDING;
	} else if (req->rv) {
		const struct kevent *evs;
		size_t n = store_events_after(req->rv, &evs);

		w->rv = req->rv;
		for (size_t i = 0; i < n; i++)
			deliver(w, &evs[i]);
		if (w->rv < store_rv() && req->rv <= store_rv())
			w->rv = store_rv();
	} else {
		w->rv = store_rv();
	}
	w->deadline = now + (req->timeout > 0 ? req->timeout : def_timeout * (1 + drand48()));
	w->next_bookmark = now + bm_interval;
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 32 * 1024, reader, w, watcher_free);
	if (!resp)
		goto fail;
	w->next = watchers;
	if (watchers)
		watchers->prev = w;
	watchers = w;
	n_watchers++;
	stats.watches++;
	stats.watches_active = (unsigned long)n_watchers;
	return resp;
fail:
	if (w)
		watcher_destroy(w);
	return NULL;
}

void watch_tick(double now)
{
	bool stalled = stall_until > now;

	for (struct watcher *w = watchers; w; w = w->next) {
		if (w->state == W_OPEN && now >= w->deadline) {
			/* The watch cache sends a last bookmark as the timeout expires. */
			if (w->bookmarks)
				push_bookmark(w, false);
			w->state = W_ENDING;
		} else if (w->state == W_OPEN && w->bookmarks && now >= w->next_bookmark) {
			push_bookmark(w, false);
			w->next_bookmark = now + bm_interval;
		}
		if (w->state == W_ABORT || (!stalled && (w->head || w->state != W_OPEN)))
			wake(w);
	}
}

int watch_close_all(bool abrupt)
{
	int n = 0;

	for (struct watcher *w = watchers; w; w = w->next) {
		if (w->state == W_ABORT)
			continue;
		w->state = abrupt ? W_ABORT : W_ENDING;
		n++;
		wake(w);
	}
	if (abrupt)
		stats.dropped += (unsigned long)n;
	return n;
}

int watch_bookmark_all(void)
{
	int n = 0;

	for (struct watcher *w = watchers; w; w = w->next) {
		if (w->state != W_OPEN || !w->bookmarks)
			continue;
		push_bookmark(w, false);
		n++;
		if (stall_until <= now_mono())
			wake(w);
	}
	return n;
}
