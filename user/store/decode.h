/* decode.h - private to the decoders (each kind's file): typed, validated reads of JSON fields
 * that name the failing field path in the error, as the API server's messages do. A kind's
 * decoder gets out zeroed with its kind set; the caller frees out on error. */
#ifndef ILB_DECODE_H
#define ILB_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>

#include "kind.h"

struct dec {
	char *err;
	size_t errlen;
};

#define DEC_PATH_MAX 192
#define ARRAY_LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Writes "PATH: reason" into the error buffer; returns -EINVAL. */
int dec_fail(struct dec *d, const char *path, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "parent.key", or "key" at the top. */
void dec_path(char *buf, size_t len, const char *parent, const char *key);
/* "parent[index]" */
void dec_index(char *buf, size_t len, const char *parent, int index);

/* The field, or NULL when absent or null (the API server treats both alike). */
const cJSON *dec_field(const cJSON *parent, const char *key);
/* Each reader returns 1 when the field is present, 0 when absent or null (an error if
 * required), or -EINVAL for a wrong type or value. */
int dec_object(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       const cJSON **out);
/* An array of at most max items. */
int dec_array(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, int max,
	      const cJSON **out);
/* A string that fits len (with its NUL); min_len 1 rejects "". */
int dec_string(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	       size_t min_len, char *buf, size_t len);
int dec_int(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required, long long min,
	    long long max, long long *out);
/* One of values (NULL-terminated); *out is its index. */
int dec_enum(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
	     const char *const *values, int *out);
/* A map of strings to strings. */
int dec_string_map(struct dec *d, const cJSON *parent, const char *path, const char *key, bool required,
		   struct ilb_labels *out);
/* Item i of an array, which must be an object. */
int dec_item_object(struct dec *d, const cJSON *array, const char *path, int index, const cJSON **out);

/* metadata: name (required), namespace ("default" when absent), uid, resourceVersion,
 * labels and annotations. */
int dec_meta(struct dec *d, const cJSON *json, struct ilb_meta *meta);
/* dec_meta, then spec, which must be there; 0 or -errno. */
int dec_meta_spec(struct dec *d, const cJSON *json, struct ilb_meta *meta, const cJSON **spec);

#endif
