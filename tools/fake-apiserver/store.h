/* store.h - the objects, one global resourceVersion counter across all kinds (as etcd
 * keeps), and the history of events that watches replay from.
 *
 * Everything here runs under store_lock(): the admin thread changes objects, the HTTP
 * thread reads them and the main thread ticks watch timers. */
#ifndef FAS_STORE_H
#define FAS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "resource.h"

/* One version of one object; immutable once stored, shared by the store and history. */
struct kobj {
	int refs;
	const struct kres *res;
	char *ns;		/* "" for cluster-scoped kinds */
	char *name;
	uint64_t rv;
	cJSON *json;		/* with apiVersion and kind */
	char *text;		/* json, compact */
	char *item_text;	/* as a list item: without apiVersion/kind for builtin types */
};

enum ev_type { EV_ADDED, EV_MODIFIED, EV_DELETED };

struct kevent {
	uint64_t rv;
	enum ev_type type;
	struct kobj *obj;	/* for DELETED: the last state, at the deletion's resourceVersion */
	struct kobj *prev;	/* NULL for ADDED */
};

struct apply_result {
	char op[12];		/* created, updated, unchanged */
	char kind[64];
	char ns[254];
	char name[254];
	uint64_t rv;
};

struct fas_stats {
	unsigned long requests, lists, gets, watches, watches_active, discovery;
	unsigned long unauthorized, forbidden, errors, bookmarks, events_sent, dropped, stalled;
};

extern struct fas_stats stats;

void store_lock(void);
void store_unlock(void);

int store_init(uint64_t start_rv, size_t history_max);
uint64_t store_rv(void);
/* Events at or before this resourceVersion are gone. */
uint64_t store_compacted(void);

/* Create or replace one object (a kind: List is applied item by item by the caller). */
int store_apply(const cJSON *doc, struct apply_result *res, char *err, size_t errlen);
/* -ENOENT when there is no such object. */
int store_delete(const struct kres *r, const char *ns, const char *name, uint64_t *rv);
/* Forgets events up to rv (0: everything so far). Returns the new compacted rv. */
uint64_t store_compact(uint64_t rv);

/* The objects of r (in namespace ns, or all when ns is NULL) as they were at resourceVersion
 * at (0: now), sorted by namespace and name, each with a reference the caller drops with
 * kobj_put. -ESTALE when at is compacted, -ERANGE when it is in the future. */
int store_list(const struct kres *r, const char *ns, uint64_t at, struct kobj ***out, size_t *n);
struct kobj *store_get(const struct kres *r, const char *ns, const char *name);
/* The events after rv, oldest first; valid until the lock is dropped. */
size_t store_events_after(uint64_t rv, const struct kevent **evs);
size_t store_count(const struct kres *r);

void kobj_put(struct kobj *o);
void kobjs_put(struct kobj **v, size_t n);

#endif
