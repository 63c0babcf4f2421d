/* resource.h - the API resources served, their paths and their discovery documents. */
#ifndef FAS_RESOURCE_H
#define FAS_RESOURCE_H

#include <stdbool.h>
#include <cjson/cJSON.h>

struct kres {
	const char *group;		/* "" for the core group */
	const char *version;
	const char *plural;
	const char *singular;
	const char *kind;
	bool namespaced;
	/* Compiled-in types drop kind/apiVersion from list items and serialize empty
	 * fields in bookmarks; custom resources (unstructured) do neither. */
	bool builtin;
	const char *short_names;	/* comma-separated */
	const char *categories;
	/* Field selectors accepted besides metadata.name and metadata.namespace. */
	const char *const *fields;
	/* Extra JSON members of a bookmark object of this type. */
	const char *bookmark_extra;
	/* Filled in by res_init. */
	char api_version[96];
	char list_kind[64];
	int idx;
};

extern struct kres resources[];
extern int n_resources;

void res_init(void);
const struct kres *res_by_kind(const char *api_version, const char *kind);
/* By kind alone ("Pod") or by plural ("pods"), or "group/version/plural". */
const struct kres *res_by_name(const char *name);
const struct kres *res_by_path(const char *group, const char *version, const char *plural);
bool res_group_version_known(const char *group, const char *version);
bool res_field_supported(const struct kres *r, const char *field);

/* Discovery documents as served by kube-apiserver. */
cJSON *disc_api_versions(const char *server_addr);
cJSON *disc_api_groups(void);
cJSON *disc_api_group(const char *group);
cJSON *disc_resource_list(const char *group, const char *version);
/* Aggregated discovery (apidiscovery.k8s.io/v2 or v2beta1): core == true for /api. */
cJSON *disc_aggregated(bool core, const char *api_version);

#endif
