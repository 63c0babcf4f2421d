/* ready.h - where `row7-probe ready` makes its change: a pod flipped between NotReady and
 * Ready in a manifests directory or on fake-apiserver, and an independent watcher of the same
 * source that times when the change can first be seen (the floor). */
#ifndef ROW7_READY_H
#define ROW7_READY_H

#include <stdbool.h>
#include <stddef.h>

struct pod {
	const char *name, *ip, *app;
};

struct kube_endpoint {
	const char *admin; /* fake-apiserver's admin URL: objects are applied there */
	const char *api; /* https://HOST:PORT of the API: the watch of our own */
	const char *token_file, *ca_file;
};

struct pod_source;

/* The pod's manifest file, rewritten and renamed into place; inotify on its directory. */
int pod_source_manifests(struct pod_source **out, const char *file, const struct pod *pod, char *err,
			 size_t err_len);
/* The pod applied on fake-apiserver's admin endpoint; a watch stream of our own on the pods. */
int pod_source_kube(struct pod_source **out, const struct kube_endpoint *kube, const struct pod *pod, char *err,
		    size_t err_len);
void pod_source_free(struct pod_source *s);

/* Makes the change; returns when it was made (now_ms()), or -errno. */
int pod_source_set_ready(struct pod_source *s, bool ready, double *t0);
/* When the watcher saw the last change (now_ms()), NaN while it has not. */
double pod_source_noticed(struct pod_source *s);
/* An fd that becomes readable when the watcher may have seen it, -1 when there is none. */
int pod_source_fd(const struct pod_source *s);

#endif
