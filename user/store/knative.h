/* knative.h - what the agent asks of Knative's objects in the store: the pools and objectives
 * a Service stands for, the domain of its hosts, and a revision's activator. */
#ifndef ILB_KNATIVE_H
#define ILB_KNATIVE_H

#include "store.h"

/* Brings the pools and objectives derived from the Knative Service ns/name (every Service of
 * ns when name is NULL) in line with it: adds and updates them, removes the ones it no longer
 * stands for, and leaves alone an object of the same name that a source wrote, which wins.
 * The store runs it on every change of a Service (decode_knative.c). Returns 0 or -errno. */
int ilb_kservice_sync(struct ilb_store *store, const char *ns, const char *name);

/* The domain of a Service with these labels under cfg (NULL: no config-domain), by Knative's
 * rule: svc.cluster.local for networking.knative.dev/visibility: cluster-local, else the
 * matching selector with the most labels (ties: the smallest domain name). kn_domain.c */
const char *ilb_kn_domain_for(const struct ilb_kn_domain *cfg, const struct ilb_labels *labels);
/* The store's config-domain, or NULL. */
const struct ilb_kn_domain *ilb_kn_domain_get(const struct ilb_store *store);

/* Where a Knative revision's requests go while it has no ready pod, as Knative's ingress
 * sends them: the activator's addresses (the public Endpoints of the revision's SKS) when the
 * SKS is in Proxy mode. Pointers into the store, valid until it changes. */
struct ilb_kn_activator {
	bool has_sks;
	enum ilb_kn_sks_mode mode;
	const struct ilb_kn_endpoint *endpoints; /* NULL unless Proxy mode with ready addresses */
	int n_endpoints;
};

/* Fills *out for the revision ns/name (the name of its derived pool); returns n_endpoints.
 * kn_activator.c */
int ilb_kn_activator_get(const struct ilb_store *store, const char *ns, const char *name,
			 struct ilb_kn_activator *out);

#endif
