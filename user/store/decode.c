/* decode.c - Kubernetes objects (JSON, as the API server or a manifest gives them) to
 * struct ilb_object: the dispatch through the table of kinds, typed field readers, metadata. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "decode.h"

/* ---- field readers ---- */

int dec_fail(struct dec *d, const char *path, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (!d->err || !d->errlen)
		return -EINVAL;
	if (path && path[0])
		n = snprintf(d->err, d->errlen, "%s: ", path);
	if (n < 0 || (size_t)n >= d->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(d->err + n, d->errlen - n, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Appends text at buf[*used], truncating at len; buf may already hold the parent. */
static void path_append(char *buf, size_t len, size_t *used, const char *text)
{
	size_t n = strlen(text);

	if (*used + 1 >= len)
		return;
	if (n > len - 1 - *used)
		n = len - 1 - *used;
	memmove(buf + *used, text, n);
	*used += n;
	buf[*used] = '\0';
}

static size_t path_start(char *buf, size_t len, const char *parent)
{
	size_t used = 0;

	if (!len)
		return 0;
	if (parent == buf)
		return strlen(buf);
	buf[0] = '\0';
	if (parent)
		path_append(buf, len, &used, parent);
	return used;
}

void dec_path(char *buf, size_t len, const char *parent, const char *key)
{
	size_t used = path_start(buf, len, parent);

	if (used)
		path_append(buf, len, &used, ".");
	path_append(buf, len, &used, key);
}

void dec_index(char *buf, size_t len, const char *parent, int index)
{
	char suffix[16];
	size_t used = path_start(buf, len, parent);

	snprintf(suffix, sizeof(suffix), "[%d]", index);
	path_append(buf, len, &used, suffix);
}

/* The field, or NULL when absent or null (the API server treats both alike). */
const cJSON *dec_field(const cJSON *parent, const char *key)
{
	const cJSON *item = parent ? cJSON_GetObjectItemCaseSensitive(parent, key) : NULL;

	return cJSON_IsNull(item) ? NULL : item;
}

/* The field at key, its path written into p; NULL when absent or null, with *ret 0 or, when
 * the field is required, the error. */
static const cJSON *lookup(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
			   char p[DEC_PATH_MAX], int *ret)
{
	const cJSON *item = dec_field(parent, key);

	dec_path(p, DEC_PATH_MAX, path, key);
	*ret = item || !required ? 0 : dec_fail(d, p, "required");
	return item;
}

/* An object, or an array of at most max items (max 0: any number). */
static int dec_container(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
			 bool array, int max, const cJSON **out)
{
	char p[DEC_PATH_MAX];
	int ret;
	const cJSON *item = lookup(d, parent, path, key, required, p, &ret);

	*out = NULL;
	if (!item)
		return ret;
	if (array ? !cJSON_IsArray(item) : !cJSON_IsObject(item))
		return dec_fail(d, p, array ? "must be a list" : "must be an object");
	if (max > 0 && cJSON_GetArraySize(item) > max)
		return dec_fail(d, p, "must have at most %d items", max);
	*out = item;
	return 1;
}

int dec_object(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       const cJSON **out)
{
	return dec_container(d, parent, path, key, required, false, 0, out);
}

int dec_array(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, int max,
	      const cJSON **out)
{
	return dec_container(d, parent, path, key, required, true, max, out);
}

int dec_string(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       size_t min_len, char *buf, size_t len)
{
	char p[DEC_PATH_MAX];
	int ret;
	const cJSON *item = lookup(d, parent, path, key, required, p, &ret);
	size_t n;

	if (!item)
		return ret;
	if (!cJSON_IsString(item) || !item->valuestring)
		return dec_fail(d, p, "must be a string");
	n = strlen(item->valuestring);
	if (n < min_len)
		return dec_fail(d, p, "must not be empty");
	if (n >= len)
		return dec_fail(d, p, "must be at most %zu characters", len - 1);
	memcpy(buf, item->valuestring, n + 1);
	return 1;
}

int dec_int(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, long long min,
	    long long max, long long *out)
{
	char p[DEC_PATH_MAX];
	int ret;
	const cJSON *item = lookup(d, parent, path, key, required, p, &ret);
	double v;

	if (!item)
		return ret;
	if (!cJSON_IsNumber(item))
		return dec_fail(d, p, "must be an integer");
	v = item->valuedouble;
	if (!isfinite(v) || v != floor(v))
		return dec_fail(d, p, "must be an integer");
	if (v < (double)min || v > (double)max)
		return dec_fail(d, p, "must be %lld..%lld", min, max);
	*out = (long long)v;
	return 1;
}

int dec_enum(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	     const char *const *values, int *out)
{
	char value[64], p[DEC_PATH_MAX], allowed[256] = "";
	size_t used = 0;
	int err = dec_string(d, parent, path, key, required, 0, value, sizeof(value));

	if (err <= 0)
		return err;
	for (int i = 0; values[i]; i++) {
		if (strcmp(values[i], value) == 0) {
			*out = i;
			return 1;
		}
	}
	for (int i = 0; values[i] && used < sizeof(allowed); i++)
		used += snprintf(allowed + used, sizeof(allowed) - used, "%s%s", i ? ", " : "", values[i]);
	dec_path(p, sizeof(p), path, key);
	return dec_fail(d, p, "must be one of %s", allowed);
}

int dec_string_map(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
		   struct ilb_labels *out)
{
	const cJSON *map, *entry;
	char p[DEC_PATH_MAX];
	int err = dec_object(d, parent, path, key, required, &map);

	if (err <= 0)
		return err;
	dec_path(p, sizeof(p), path, key);
	cJSON_ArrayForEach(entry, map) {
		if (!entry->string || !entry->string[0])
			return dec_fail(d, p, "keys must not be empty");
		if (!cJSON_IsString(entry) || !entry->valuestring) {
			char item_path[DEC_PATH_MAX + 64];

			snprintf(item_path, sizeof(item_path), "%s[%.60s]", p, entry->string);
			return dec_fail(d, item_path, "must be a string");
		}
		err = ilb_labels_set(out, entry->string, entry->valuestring);
		if (err) {
			dec_fail(d, p, "out of memory");
			return err;
		}
	}
	return 1;
}

int dec_item_object(struct dec *d, const cJSON *array, const char *path, int index, const cJSON **out)
{
	const cJSON *item = cJSON_GetArrayItem(array, index);
	char p[DEC_PATH_MAX];

	*out = item;
	if (cJSON_IsObject(item))
		return 1;
	dec_index(p, sizeof(p), path, index);
	return dec_fail(d, p, "must be an object");
}

/* ---- metadata ---- */

/* RFC 1123 label (dots_allowed false) or subdomain, as Kubernetes names are. */
static bool dns_name_valid(const char *s, bool dots_allowed)
{
	size_t n = strlen(s);

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');

		if (alnum)
			continue;
		if (i == 0 || i == n - 1)
			return false;
		if (c != '-' && !(dots_allowed && c == '.'))
			return false;
	}
	return true;
}

int dec_meta(struct dec *d, const cJSON *json, struct ilb_meta *meta)
{
	const cJSON *md;
	int err;

	err = dec_object(d, json, "", "metadata", true, &md);
	if (err < 0)
		return err;
	err = dec_string(d, md, "metadata", "name", true, 1, meta->name, sizeof(meta->name));
	if (err < 0)
		return err;
	if (!dns_name_valid(meta->name, true))
		return dec_fail(d, "metadata.name", "must be a lowercase RFC 1123 subdomain");
	err = dec_string(d, md, "metadata", "namespace", false, 0, meta->ns, sizeof(meta->ns));
	if (err < 0)
		return err;
	if (!meta->ns[0])
		snprintf(meta->ns, sizeof(meta->ns), "default");
	else if (strlen(meta->ns) > 63 || !dns_name_valid(meta->ns, false))
		return dec_fail(d, "metadata.namespace", "must be a lowercase RFC 1123 label");
	err = dec_string(d, md, "metadata", "uid", false, 0, meta->uid, sizeof(meta->uid));
	if (err >= 0)
		err = dec_string(d, md, "metadata", "resourceVersion", false, 0, meta->resource_version,
				 sizeof(meta->resource_version));
	if (err >= 0)
		err = dec_string_map(d, md, "metadata", "labels", false, &meta->labels);
	if (err >= 0)
		err = dec_string_map(d, md, "metadata", "annotations", false, &meta->annotations);
	return err < 0 ? err : 0;
}

int dec_meta_spec(struct dec *d, const cJSON *json, struct ilb_meta *meta, const cJSON **spec)
{
	int err = dec_meta(d, json, meta);

	*spec = NULL;
	if (!err)
		err = dec_object(d, json, "", "spec", true, spec);
	return err < 0 ? err : 0;
}

/* ---- dispatch ---- */

/* The decoder of (apiVersion, kind), with its kind in *out; NULL for one the agent does not
 * read, with *other_version set when it reads the kind in another version of the group. */
static const struct ilb_kind_version *find_version(const char *api_version, const char *kind, enum ilb_kind *out,
						   bool *other_version)
{
	size_t group_len = strcspn(api_version, "/");

	/* the two inference groups were renamed across versions: either one counts */
	*other_version = strncmp(api_version, "inference.networking.", 21) == 0 &&
			 (strcmp(kind, "InferencePool") == 0 || strcmp(kind, "InferenceObjective") == 0 ||
			  strcmp(kind, "InferenceModelRewrite") == 0 || strcmp(kind, "InferenceModel") == 0);
	for (int k = ILB_KIND_NONE + 1; k < ILB_KIND__COUNT; k++) {
		const struct ilb_kind_def *def = ilb_kind_def(k);

		if (strcmp(def->name, kind) != 0)
			continue;
		for (int v = 0; v < ILB_KIND_MAX_VERSIONS && def->versions[v].api_version; v++) {
			const char *known = def->versions[v].api_version;

			if (strcmp(known, api_version) == 0) {
				*out = def->kind;
				return &def->versions[v];
			}
			/* the same group in another version; the core group has v1 alone */
			if (api_version[group_len] && strlen(known) > group_len &&
			    strncmp(known, api_version, group_len + 1) == 0)
				*other_version = true;
		}
	}
	return NULL;
}

int ilb_decode(const cJSON *json, struct ilb_object *out, char *err, size_t errlen)
{
	struct dec d = { .err = err, .errlen = errlen };
	const struct ilb_kind_version *version;
	char api_version[128], kind[64];
	bool other_version;
	int ret;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	if (!cJSON_IsObject(json))
		return dec_fail(&d, NULL, "object: must be a mapping");
	if (dec_string(&d, json, "", "apiVersion", true, 1, api_version, sizeof(api_version)) < 0 ||
	    dec_string(&d, json, "", "kind", true, 1, kind, sizeof(kind)) < 0)
		return -EINVAL;
	version = find_version(api_version, kind, &out->kind, &other_version);
	if (version) {
		ret = version->decode(&d, json, out);
		if (ret < 0) {
			ilb_object_free(out);
			return ret;
		}
		return 0;
	}
	/* a kind we read, written with a version we do not: worth an error rather than silence */
	if (other_version)
		return dec_fail(&d, "apiVersion", "%s is not a supported version of %s", api_version, kind);
	return -ENOENT;
}
