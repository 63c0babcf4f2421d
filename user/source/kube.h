/* kube.h - the Kubernetes source: list + watch of every kind the agent reads, over HTTPS on
 * its own thread (libcurl multi), applied to the store on the agent's loop as manifests are. */
#ifndef ILB_KUBE_H
#define ILB_KUBE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "store/store.h"

#define ILB_KUBE_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* How to reach and authenticate to the API server. Strings are malloc'd or NULL. */
struct ilb_kube_creds {
	char *server; /* https://host:port[/prefix], no trailing slash */
	char *origin; /* where these came from, for logs and status */
	char *ca_file, *cert_file, *key_file;
	char *ca_pem, *cert_pem, *key_pem; /* the *-data fields, decoded */
	size_t ca_len, cert_len, key_len;
	char *token;
	char *token_file; /* re-read when it changes (projected tokens rotate) */
	bool insecure; /* insecure-skip-tls-verify */
};

/* The current context of a kubeconfig file. Returns 0, or -errno with a reason in err. */
int ilb_kube_creds_kubeconfig(const char *path, struct ilb_kube_creds *out, char *err, size_t errlen);
/* KUBERNETES_SERVICE_HOST/_PORT and the service account's token and CA under sa_dir
 * (ILB_KUBE_SA_DIR). Returns 0, or -errno with a reason in err. */
int ilb_kube_creds_in_cluster(const char *sa_dir, struct ilb_kube_creds *out, char *err, size_t errlen);
void ilb_kube_creds_free(struct ilb_kube_creds *c);
/* Decodes base64 (whitespace ignored) into a malloc'd, NUL-terminated buffer.
 * Returns it with its length in *len, or NULL (errno EINVAL or ENOMEM). */
char *ilb_base64_decode(const char *text, size_t *len);

struct ilb_kube;

/* Starts the watcher thread; takes creds over (they are zeroed). NULL with errno on error. */
struct ilb_kube *ilb_kube_start(struct ilb_kube_creds *creds, struct ilb_store *store);
/* Readable when changes are waiting for ilb_kube_process. */
int ilb_kube_fd(const struct ilb_kube *k);
/* On the store's thread: applies what the API server said since the last call.
 * Returns the number of objects changed in the store. */
int ilb_kube_process(struct ilb_kube *k);
/* True once every kind has been listed (a kind whose CRD is missing counts as empty). */
bool ilb_kube_synced(const struct ilb_kube *k);
/* The source as `inferlb status` shows it, with one entry per kind. */
cJSON *ilb_kube_status(struct ilb_kube *k);
void ilb_kube_stop(struct ilb_kube *k);

#endif
