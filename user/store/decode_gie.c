/* decode_gie.c - the Gateway API Inference Extension's per-model objects (v1alpha2):
 * InferenceObjective, InferenceModelRewrite and the legacy InferenceModel, and their rows. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define MAX_WEIGHT 1000000
#define MAX_TARGETS 64
#define MAX_REWRITE_RULES 128
#define MAX_FLAT_RULES 1024 /* rules once their matches are expanded */

static int dec_pool_ref(struct dec *d, const cJSON *spec, const char *default_group, struct ilb_pool_ref *ref)
{
	const cJSON *obj;
	int err = dec_object(d, spec, "spec", "poolRef", true, &obj);

	if (err < 0)
		return err;
	snprintf(ref->group, sizeof(ref->group), "%s", default_group);
	snprintf(ref->kind, sizeof(ref->kind), "InferencePool");
	err = dec_string(d, obj, "spec.poolRef", "name", true, 1, ref->name, sizeof(ref->name));
	if (err >= 0)
		err = dec_string(d, obj, "spec.poolRef", "group", false, 0, ref->group, sizeof(ref->group));
	if (err >= 0)
		err = dec_string(d, obj, "spec.poolRef", "kind", false, 1, ref->kind, sizeof(ref->kind));
	return err < 0 ? err : 0;
}

/* A list of {NAME_KEY, weight}. Weights are all set or all absent (then equal, 1 each). */
static int dec_targets(struct dec *d, const cJSON *list, const char *path, const char *name_key,
		       struct ilb_weighted_model **out, int *n_out)
{
	int n = cJSON_GetArraySize(list), n_weighted = 0;
	struct ilb_weighted_model *targets;
	char p[DEC_PATH_MAX];
	const cJSON *item;

	*out = NULL;
	*n_out = 0;
	if (n == 0)
		return 0;
	targets = calloc(n, sizeof(*targets));
	if (!targets)
		return -ENOMEM;
	/* owned by the caller's object from here on, so that its free releases them */
	*out = targets;
	*n_out = n;
	for (int i = 0; i < n; i++) {
		long long weight = 1;
		int has_weight;

		if (dec_item_object(d, list, path, i, &item) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), path, i);
		if (dec_string(d, item, p, name_key, true, 1, targets[i].name, sizeof(targets[i].name)) < 0)
			return -EINVAL;
		has_weight = dec_int(d, item, p, "weight", false, 1, MAX_WEIGHT, &weight);
		if (has_weight < 0)
			return has_weight;
		n_weighted += has_weight;
		targets[i].weight = (uint32_t)weight;
		if (n_weighted && n_weighted != i + 1) {
			dec_path(p, sizeof(p), p, "weight");
			return dec_fail(d, p, "must be set on every target or on none");
		}
	}
	return 0;
}

static int dec_objective(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_objective *objective = &out->objective;
	const cJSON *spec;
	long long priority;
	int err;

	err = dec_meta_spec(d, json, &objective->meta, &spec);
	if (err)
		return err;
	err = dec_int(d, spec, "spec", "priority", false, INT32_MIN, INT32_MAX, &priority);
	if (err < 0)
		return err;
	objective->has_priority = err > 0;
	objective->priority = err > 0 ? (int32_t)priority : 0;
	return dec_pool_ref(d, spec, "inference.networking.k8s.io", &objective->pool_ref);
}

/* Adds one flattened rule; its targets are copied so that each rule owns its own. */
static int add_rewrite_rule(struct ilb_model_rewrite *rw, const char *model, const struct ilb_weighted_model *targets,
			    int n_targets)
{
	struct ilb_rewrite_rule *rules, *rule;

	rules = realloc(rw->rules, (rw->n_rules + 1) * sizeof(*rules));
	if (!rules)
		return -ENOMEM;
	rw->rules = rules;
	rule = &rules[rw->n_rules];
	memset(rule, 0, sizeof(*rule));
	snprintf(rule->match_model, sizeof(rule->match_model), "%s", model);
	rule->targets = malloc(n_targets * sizeof(*targets));
	if (!rule->targets)
		return -ENOMEM;
	memcpy(rule->targets, targets, n_targets * sizeof(*targets));
	rule->n_targets = n_targets;
	rw->n_rules++;
	return 0;
}

/* The matches of one rule are OR'ed: each becomes a flattened rule with the same targets,
 * in order, which keeps "the first matching rule wins". No matches: one rule for any model. */
static int dec_rewrite_rule(struct dec *d, const cJSON *rule, const char *path, struct ilb_model_rewrite *rw)
{
	struct ilb_weighted_model *targets = NULL;
	const cJSON *matches, *list, *match, *model;
	char p[DEC_PATH_MAX], mp[DEC_PATH_MAX], value[ILB_MODEL_NAME_MAX];
	static const char *const match_types[] = { "Exact", NULL };
	int n_targets = 0, type, err, n_matches;

	err = dec_array(d, rule, path, "targets", true, MAX_TARGETS, &list);
	if (err < 0)
		return err;
	dec_path(p, sizeof(p), path, "targets");
	if (cJSON_GetArraySize(list) == 0)
		return dec_fail(d, p, "must have at least one target");
	err = dec_targets(d, list, p, "modelRewrite", &targets, &n_targets);
	if (err)
		goto out;
	err = dec_array(d, rule, path, "matches", false, MAX_TARGETS, &matches);
	if (err < 0)
		goto out;
	n_matches = cJSON_GetArraySize(matches);
	if (n_matches == 0)
		err = add_rewrite_rule(rw, "", targets, n_targets);
	dec_path(p, sizeof(p), path, "matches");
	for (int i = 0; err >= 0 && i < n_matches; i++) {
		err = dec_item_object(d, matches, p, i, &match);
		if (err < 0)
			break;
		dec_index(mp, sizeof(mp), p, i);
		err = dec_object(d, match, mp, "model", true, &model);
		if (err < 0)
			break;
		dec_path(mp, sizeof(mp), mp, "model");
		err = dec_enum(d, model, mp, "type", false, match_types, &type);
		if (err >= 0)
			err = dec_string(d, model, mp, "value", true, 1, value, sizeof(value));
		if (err >= 0 && rw->n_rules >= MAX_FLAT_RULES)
			err = dec_fail(d, "spec.rules", "more than %d matches in all", MAX_FLAT_RULES);
		if (err >= 0)
			err = add_rewrite_rule(rw, value, targets, n_targets);
	}
out:
	free(targets);
	return err < 0 ? err : 0;
}

static int dec_model_rewrite(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	struct ilb_model_rewrite *rw = &out->rewrite;
	const cJSON *spec, *rules, *rule;
	char p[DEC_PATH_MAX];
	int err;

	err = dec_meta_spec(d, json, &rw->meta, &spec);
	if (err)
		return err;
	err = dec_pool_ref(d, spec, "inference.networking.k8s.io", &rw->pool_ref);
	if (err < 0)
		return err;
	err = dec_array(d, spec, "spec", "rules", true, MAX_REWRITE_RULES, &rules);
	if (err < 0)
		return err;
	if (cJSON_GetArraySize(rules) == 0)
		return dec_fail(d, "spec.rules", "must have at least one rule");
	for (int i = 0; i < cJSON_GetArraySize(rules); i++) {
		if (dec_item_object(d, rules, "spec.rules", i, &rule) < 0)
			return -EINVAL;
		dec_index(p, sizeof(p), "spec.rules", i);
		err = dec_rewrite_rule(d, rule, p, rw);
		if (err < 0)
			return err;
	}
	return 0;
}

static int dec_inference_model(struct dec *d, const cJSON *json, struct ilb_object *out)
{
	static const char *const criticalities[] = { "Standard", "Critical", "Sheddable", NULL };
	struct ilb_inference_model *model = &out->model;
	const cJSON *spec, *targets;
	int criticality = 0, err;

	err = dec_meta_spec(d, json, &model->meta, &spec);
	if (err)
		return err;
	err = dec_string(d, spec, "spec", "modelName", true, 1, model->model_name, sizeof(model->model_name));
	if (err >= 0)
		err = dec_enum(d, spec, "spec", "criticality", false, criticalities, &criticality);
	if (err < 0)
		return err;
	/* the array is indexed like enum ilb_criticality */
	model->criticality = (enum ilb_criticality)criticality;
	err = dec_pool_ref(d, spec, "inference.networking.x-k8s.io", &model->pool_ref);
	if (err < 0)
		return err;
	err = dec_array(d, spec, "spec", "targetModels", false, MAX_TARGETS, &targets);
	if (err <= 0)
		return err;
	return dec_targets(d, targets, "spec.targetModels", "name", &model->targets, &model->n_targets);
}

/* ---- the store's rows ---- */

static bool pool_ref_equal(const struct ilb_pool_ref *a, const struct ilb_pool_ref *b)
{
	return ILB_STR_EQ(a->group, b->group) && ILB_STR_EQ(a->kind, b->kind) && ILB_STR_EQ(a->name, b->name);
}

static bool targets_equal(const struct ilb_weighted_model *a, int na, const struct ilb_weighted_model *b, int nb)
{
	if (na != nb)
		return false;
	for (int i = 0; i < na; i++)
		if (a[i].weight != b[i].weight || !ILB_STR_EQ(a[i].name, b[i].name))
			return false;
	return true;
}

static bool objective_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_objective *a = &x->objective, *b = &y->objective;

	return a->priority == b->priority && a->has_priority == b->has_priority &&
	       ILB_STR_EQ(a->derived_from, b->derived_from) && pool_ref_equal(&a->pool_ref, &b->pool_ref);
}

static const char *objective_derived_from(const struct ilb_object *obj)
{
	return obj->objective.derived_from;
}

const struct ilb_kind_def ilb_kind_objective = {
	.kind = ILB_KIND_OBJECTIVE,
	.name = "InferenceObjective",
	.versions = { { "inference.networking.x-k8s.io/v1alpha2", dec_objective } },
	.equal = objective_equal,
	.derived_from = objective_derived_from,
};

static void rewrite_free(struct ilb_object *obj)
{
	for (int i = 0; i < obj->rewrite.n_rules; i++)
		free(obj->rewrite.rules[i].targets);
	free(obj->rewrite.rules);
}

static int rewrite_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	const struct ilb_model_rewrite *from = &src->rewrite;
	struct ilb_model_rewrite *to = &dst->rewrite;

	if (ILB_ALLOC_ARRAY(to->rules, to->n_rules, from->n_rules))
		return -ENOMEM;
	for (int i = 0; i < to->n_rules; i++) {
		memcpy(to->rules[i].match_model, from->rules[i].match_model, sizeof(to->rules[i].match_model));
		if (ILB_COPY_ARRAY(to->rules[i].targets, to->rules[i].n_targets, from->rules[i].targets,
				   from->rules[i].n_targets))
			return -ENOMEM;
	}
	return 0;
}

static bool rewrite_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_model_rewrite *a = &x->rewrite, *b = &y->rewrite;

	if (!pool_ref_equal(&a->pool_ref, &b->pool_ref) || a->n_rules != b->n_rules)
		return false;
	for (int i = 0; i < a->n_rules; i++) {
		const struct ilb_rewrite_rule *ra = &a->rules[i], *rb = &b->rules[i];

		if (!ILB_STR_EQ(ra->match_model, rb->match_model) ||
		    !targets_equal(ra->targets, ra->n_targets, rb->targets, rb->n_targets))
			return false;
	}
	return true;
}

const struct ilb_kind_def ilb_kind_model_rewrite = {
	.kind = ILB_KIND_MODEL_REWRITE,
	.name = "InferenceModelRewrite",
	.versions = { { "inference.networking.x-k8s.io/v1alpha2", dec_model_rewrite } },
	.free = rewrite_free,
	.copy = rewrite_copy,
	.equal = rewrite_equal,
};

static void model_free(struct ilb_object *obj)
{
	free(obj->model.targets);
}

static int model_copy(struct ilb_object *dst, const struct ilb_object *src)
{
	return ILB_COPY_ARRAY(dst->model.targets, dst->model.n_targets, src->model.targets, src->model.n_targets);
}

static bool model_equal(const struct ilb_object *x, const struct ilb_object *y)
{
	const struct ilb_inference_model *a = &x->model, *b = &y->model;

	return ILB_STR_EQ(a->model_name, b->model_name) && a->criticality == b->criticality &&
	       pool_ref_equal(&a->pool_ref, &b->pool_ref) &&
	       targets_equal(a->targets, a->n_targets, b->targets, b->n_targets);
}

const struct ilb_kind_def ilb_kind_inference_model = {
	.kind = ILB_KIND_INFERENCE_MODEL,
	.name = "InferenceModel",
	.versions = { { "inference.networking.x-k8s.io/v1alpha2", dec_inference_model } },
	.free = model_free,
	.copy = model_copy,
	.equal = model_equal,
};
