/* manifest.h - the embedded default source: a directory of Kubernetes YAML manifests,
 * loaded into the store and reloaded on change (inotify), applying only the difference. */
#ifndef ILB_MANIFEST_H
#define ILB_MANIFEST_H

#include <cjson/cJSON.h>
#include "store/store.h"

struct ilb_manifests;

/* Converts one YAML stream (possibly several documents) to a cJSON array of documents.
 * Returns the array or NULL with a reason ("line N: ...") in err. */
cJSON *ilb_yaml_to_json(const char *text, size_t len, char *err, size_t errlen);

/* Opens DIR, loads every *.yaml / *.yml into store and starts watching it. */
struct ilb_manifests *ilb_manifests_open(const char *dir, struct ilb_store *store);
/* The inotify descriptor, for the caller's poll/epoll loop. */
int ilb_manifests_fd(const struct ilb_manifests *m);
/* Called when the fd is readable: reloads changed files and applies the difference.
 * Returns the number of objects changed, or -errno. */
int ilb_manifests_process(struct ilb_manifests *m);
/* Errors reported so far (each broken file/object is logged once, by file and object). */
unsigned long ilb_manifests_errors(const struct ilb_manifests *m);
const char *ilb_manifests_last_error(const struct ilb_manifests *m);
void ilb_manifests_close(struct ilb_manifests *m);

/* As ilb_yaml_to_json; also stores in *lines (malloc'd, caller frees, one per document of
 * the array) the 1-based line where each document starts. */
cJSON *ilb_yaml_to_json_lines(const char *text, size_t len, int **lines, char *err, size_t errlen);

#endif
