/* kn_domain.c - Knative's config-domain ConfigMap (knative-serving/config-domain): which
 * domain each Knative Service's hosts end in. The decoder keeps the ConfigMap's rules; the
 * route table asks ilb_kn_domain_for each time it is built, so that a change of the
 * ConfigMap moves every Service's hosts without touching the Services. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"
#include "knative.h"
#include "source/manifest.h"

#define EXAMPLE_KEY "_example" /* Knative's documentation key, never a domain */
#define LABEL_VISIBILITY "networking.knative.dev/visibility"
#define MAX_RULES 64

/* A DNS name as hosts end in it: dot-separated lowercase labels. */
static bool domain_valid(const char *s)
{
	size_t n = strlen(s), label = 0;

	if (n == 0 || n >= ILB_NAME_MAX - 64 || s[0] == '.' || s[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)) || ++label > 63)
			return false;
	}
	return true;
}

/* One data value: YAML that is empty or a mapping with an optional "selector" of labels.
 * Knative unmarshals it into a struct with that one field, so other keys are ignored. */
static int dec_rule_value(struct dec *d, const char *path, const char *value, struct ilb_kn_domain_rule *rule)
{
	char reason[160];
	const cJSON *doc;
	cJSON *docs;
	int err = 0;

	if (value[strspn(value, " \t\r\n")] == '\0')
		return 0;
	docs = ilb_yaml_to_json(value, strlen(value), reason, sizeof(reason));
	if (!docs)
		return dec_fail(d, path, "not YAML: %s", reason);
	doc = cJSON_GetArrayItem(docs, 0);
	if (cJSON_GetArraySize(docs) > 1)
		err = dec_fail(d, path, "must be one YAML document");
	else if (doc && !cJSON_IsNull(doc) && !cJSON_IsObject(doc))
		err = dec_fail(d, path, "must be a mapping with a selector");
	else if (doc && cJSON_IsObject(doc))
		err = dec_string_map(d, doc, path, "selector", false, &rule->selector);
	cJSON_Delete(docs);
	return err < 0 ? err : 0;
}

static int add_rule(struct ilb_kn_domain *cfg, const char *domain, struct ilb_kn_domain_rule **out)
{
	struct ilb_kn_domain_rule *rules = realloc(cfg->rules, (cfg->n_rules + 1) * sizeof(*rules));

	if (!rules)
		return -ENOMEM;
	cfg->rules = rules;
	*out = &rules[cfg->n_rules++];
	memset(*out, 0, sizeof(**out));
	snprintf((*out)->domain, sizeof((*out)->domain), "%s", domain);
	return 0;
}

/* v1 ConfigMap: only knative-serving/config-domain is read; any other is -ENOENT, a kind
 * the agent does not read, so that manifests may hold ConfigMaps of their own. */
static int dec_kn_domain(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_kn_domain *cfg = &out->kn_domain;
	struct ilb_labels data = { 0 };
	struct ilb_kn_domain_rule *rule;
	char path[DEC_PATH_MAX];
	bool has_default = false;
	int err;

	err = dec_meta(d, json, &cfg->meta);
	if (err)
		return err;
	if (strcmp(cfg->meta.ns, ILB_KN_DOMAIN_NS) != 0 || strcmp(cfg->meta.name, ILB_KN_DOMAIN_NAME) != 0)
		return -ENOENT;
	err = dec_string_map(d, json, "", "data", false, &data);
	if (err < 0)
		goto out;
	err = 0;
	if (data.count > MAX_RULES) {
		err = dec_fail(d, "data", "at most %d domains", MAX_RULES);
		goto out;
	}
	for (int i = 0; i < data.count; i++) {
		const char *key = data.items[i].key;

		if (strcmp(key, EXAMPLE_KEY) == 0)
			continue;
		snprintf(path, sizeof(path), "data[%.64s]", key);
		if (!domain_valid(key)) {
			err = dec_fail(d, path, "must be a lowercase DNS domain");
			goto out;
		}
		err = add_rule(cfg, key, &rule);
		if (!err)
			err = dec_rule_value(d, path, data.items[i].value, rule);
		if (err)
			goto out;
		has_default |= rule->selector.count == 0;
	}
	/* Knative's rule: without a default of the ConfigMap's own, example.com still is one */
	if (!has_default)
		err = add_rule(cfg, ILB_KN_DEFAULT_DOMAIN, &rule);
out:
	ilb_labels_free(&data);
	return err;
}

const char *ilb_kn_domain_for(const struct ilb_kn_domain *cfg, const struct ilb_labels *labels)
{
	const char *domain = NULL, *visibility = ilb_labels_get(labels, LABEL_VISIBILITY);
	int specificity = -1;

	if (visibility && strcmp(visibility, "cluster-local") == 0)
		return ILB_KN_CLUSTER_DOMAIN;
	if (!cfg)
		return ILB_KN_DEFAULT_DOMAIN;
	for (int i = 0; i < cfg->n_rules; i++) {
		const struct ilb_kn_domain_rule *r = &cfg->rules[i];
		bool match = true;

		for (int s = 0; s < r->selector.count && match; s++) {
			const char *v = ilb_labels_get(labels, r->selector.items[s].key);

			match = v && strcmp(v, r->selector.items[s].value) == 0;
		}
		if (!match || r->selector.count < specificity)
			continue;
		if (r->selector.count > specificity || strcmp(r->domain, domain) < 0) {
			domain = r->domain;
			specificity = r->selector.count;
		}
	}
	/* the decoder always leaves a default; only rules made otherwise may lack one */
	return domain ? domain : ILB_KN_DEFAULT_DOMAIN;
}

const struct ilb_kn_domain *ilb_kn_domain_get(const struct ilb_store *store)
{
	const struct ilb_object *obj = ilb_store_get(store, ILB_KIND_KN_DOMAIN, ILB_KN_DOMAIN_NS, ILB_KN_DOMAIN_NAME);

	return obj ? &obj->kn_domain : NULL;
}

/* ---- the store's row ---- */

static void domain_free(struct ilb_object *obj)
{
	struct ilb_kn_domain *cfg = &obj->kn_domain;

	for (int i = 0; i < cfg->n_rules; i++)
		ilb_labels_free(&cfg->rules[i].selector);
	free(cfg->rules);
}

static int domain_copy(struct ilb_object *dst_obj, const struct ilb_object *src_obj)
{
	const struct ilb_kn_domain *src = &src_obj->kn_domain;
	struct ilb_kn_domain *dst = &dst_obj->kn_domain;
	int err = ILB_ALLOC_ARRAY(dst->rules, dst->n_rules, src->n_rules);

	/* a selector not copied yet is empty: a failed copy frees what it made */
	for (int i = 0; !err && i < dst->n_rules; i++) {
		memcpy(dst->rules[i].domain, src->rules[i].domain, sizeof(dst->rules[i].domain));
		err = ilb_labels_copy(&dst->rules[i].selector, &src->rules[i].selector);
	}
	return err;
}

static bool domain_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_kn_domain *a = &x->kn_domain, *b = &y->kn_domain;

	if (a->n_rules != b->n_rules)
		return false;
	/* the decoder writes the rules in the ConfigMap's key order, which the API keeps sorted */
	for (int i = 0; i < a->n_rules; i++)
		if (strcmp(a->rules[i].domain, b->rules[i].domain) != 0 ||
		    !ilb_labels_equal(&a->rules[i].selector, &b->rules[i].selector))
			return false;
	return true;
}

const struct ilb_kind_def ilb_kind_kn_domain = {
	.kind = ILB_KIND_KN_DOMAIN,
	.name = "ConfigMap", /* config-domain only */
	.versions = { { "v1", dec_kn_domain } },
	.free = domain_free,
	.copy = domain_copy,
	.equal = domain_equal,
};
