/* kube_int.h - private to the Kubernetes source: kube.c (the watcher thread) and
 * kube_sync.c (applying to the store on the agent's loop, status, start and stop). */
#ifndef ILB_KUBE_INT_H
#define ILB_KUBE_INT_H

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include "kube.h"

#define KUBE_KINDS 12
#define BACKOFF_MIN_MS 200u

struct kind_def {
	const char *path, *api_version, *kind, *name;
	enum ilb_kind ilb_kind;
	const char *query; /* "key=value&" prepended to every list and watch query; NULL = none */
	/* 403 on a list means "none": the kind is not needed to route (config-domain, whose
	 * Role lives in a namespace that exists only with Knative; Knative's SKS and public
	 * Endpoints, without which a revision scaled to zero waits in the agent) */
	bool optional;
};

extern const struct kind_def kind_defs[KUBE_KINDS];

enum phase { PH_WAIT, PH_LIST, PH_WATCH };
enum op_type { OP_UPSERT, OP_DELETE, OP_REPLACE };

struct ident {
	char ns[ILB_NS_MAX];
	char name[ILB_NAME_MAX];
};

/* What the watcher thread hands to the agent's loop. */
struct op {
	struct op *next;
	int res;
	enum op_type type;
	bool missing; /* OP_REPLACE of a kind the server does not serve */
	struct ilb_object obj; /* OP_UPSERT */
	struct ident id; /* OP_DELETE */
	/* OP_REPLACE: every object of the fresh list, sorted (its valid objects came before as
	 * upserts, its invalid ones keep their last good state); the kind's others are gone */
	struct ident *listed;
	int n_listed;
};

struct reported {
	struct ident id;
	char *msg;
};

struct resource {
	const struct kind_def *def;
	struct ilb_kube *k;
	/* watcher thread only */
	CURL *easy;
	struct curl_slist *headers;
	char errbuf[CURL_ERROR_SIZE];
	enum phase phase;
	uint64_t next_ms, started_ms;
	unsigned backoff_ms;
	char *body;
	size_t len, cap;
	char rv[32];
	char *cont; /* continue token of the next page */
	struct ident *listed; /* what the pages listed so far hold */
	int n_listed, cap_listed;
	bool relist; /* the stream said 410: list again at once */
	bool from_list; /* this watch starts from a list's version, not a watch's */
	char stream_error[256];
	unsigned long stream_events;
	struct reported *reported; /* objects whose error was logged */
	int n_reported, cap_reported;
	char logged[256]; /* the kind's last logged error */
	bool missing_logged;
	/* under k->lock */
	bool watching;
	char error[256];
	char shown_rv[32];
	unsigned long lists, events;
	/* the agent's thread only */
	struct ilb_store *shadow; /* what this kind's API says, for replacements */
	bool synced, missing;
};

struct ilb_kube {
	struct ilb_kube_creds creds;
	struct ilb_store *store;
	int efd;
	pthread_t thread;
	bool started;
	CURLM *multi;
	atomic_bool stopping;
	struct resource res[KUBE_KINDS];
	/* watcher thread only */
	char *token;
	struct timespec token_mtime;
	bool token_reload, token_failing;
	unsigned seed;
	/* under lock */
	pthread_mutex_t lock;
	struct op *head, *tail;
	unsigned long n_errors;
	char last_error[768]; /* "who: message" */
};

void *kube_watcher_main(void *arg);

#endif
