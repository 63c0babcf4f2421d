/* kind.h - one row per kind of object the store holds, defined by the kind's own file: the
 * names it is written with, its decoders, and how to copy, compare and free what it owns.
 * A new kind is its value of enum ilb_kind and member of struct ilb_object (store.h), its
 * file with its row, and the row in object.c's list. */
#ifndef ILB_KIND_H
#define ILB_KIND_H

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

#include "store.h"

struct dec; /* decode.h */

/* One apiVersion of a kind and the decoder of it. */
struct ilb_kind_version {
	const char *api_version;
	int (*decode)(struct dec *d, const cJSON *json, struct ilb_object *out);
};

#define ILB_KIND_MAX_VERSIONS 3

/* A change of the store: an object applied (changed) or removed. */
struct ilb_store_change {
	enum ilb_kind kind;
	const char *ns;
	const char *name;
	bool removed;
	bool derived; /* an object the store made itself */
};

/* The functions may be NULL: for a kind that owns nothing beyond its metadata, compares
 * equal by its metadata alone, is never derived or follows nothing. */
struct ilb_kind_def {
	enum ilb_kind kind;
	const char *name; /* "kind" as written */
	/* the apiVersions the decoder reads, up to the first without one; written
	 * { "group/version", dec_x }, which tests/tools/test_deploy.sh reads to check the CRDs */
	struct ilb_kind_version versions[ILB_KIND_MAX_VERSIONS];
	/* frees what the object owns beyond its metadata */
	void (*free)(struct ilb_object *obj);
	/* dst is a shallow copy of src: replaces each pointer it shares with src by a copy of
	 * its own, or by NULL (count 0) when the copy fails, so that freeing dst is safe */
	int (*copy)(struct ilb_object *dst, const struct ilb_object *src);
	bool (*equal)(const struct ilb_object *a, const struct ilb_object *b);
	/* "" unless the store made the object from another one */
	const char *(*derived_from)(const struct ilb_object *obj);
	/* told of every change of the store, so that a kind that derives objects from others
	 * keeps them in line; returns 0 or -errno */
	int (*follow)(struct ilb_store *store, const struct ilb_store_change *change);
};

/* The rows, each in its kind's file; object.c lists them. */
extern const struct ilb_kind_def ilb_kind_pod; /* decode_pod.c */
extern const struct ilb_kind_def ilb_kind_pool; /* decode_pool.c */
/* decode_gie.c */
extern const struct ilb_kind_def ilb_kind_objective, ilb_kind_model_rewrite, ilb_kind_inference_model;
extern const struct ilb_kind_def ilb_kind_gateway, ilb_kind_httproute; /* decode_gateway.c */
extern const struct ilb_kind_def ilb_kind_kservice; /* decode_knative.c */
extern const struct ilb_kind_def ilb_kind_kn_domain; /* kn_domain.c */
extern const struct ilb_kind_def ilb_kind_kn_sks, ilb_kind_kn_endpoints; /* kn_activator.c */

/* The row of kind, or NULL for none. */
const struct ilb_kind_def *ilb_kind_def(enum ilb_kind kind);

/* Helpers for the rows. */
#define ILB_STR_EQ(a, b) (strncmp((a), (b), sizeof(a)) == 0)
/* A copy of n items of size each; NULL for none, or when out of memory. */
void *ilb_memdup(const void *src, int n, size_t size);
/* dst = a copy of src's n items and n_dst = n: 0, or -ENOMEM with dst NULL and n_dst 0. */
#define ILB_COPY_ARRAY(dst, n_dst, src, n)                                                  \
	(((dst) = ilb_memdup((src), (n), sizeof(*(src)))), ((n_dst) = (dst) ? (n) : 0),      \
	 ((n) > 0 && !(dst)) ? -ENOMEM : 0)

/* dst = n zeroed items and n_dst = n; as ILB_COPY_ARRAY otherwise. */
#define ILB_ALLOC_ARRAY(dst, n_dst, n)                                                      \
	(((dst) = (n) > 0 ? calloc((n), sizeof(*(dst))) : NULL), ((n_dst) = (dst) ? (n) : 0), \
	 ((n) > 0 && !(dst)) ? -ENOMEM : 0)

#endif
