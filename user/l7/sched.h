/* sched.h - the L7 scheduler, GIE's Endpoint Picker in C: per request, admission (503, 429),
 * filters, weighted scorers summed, and a max-score pick with a random tie-break. */
#ifndef ILB_SCHED_H
#define ILB_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "load/health.h"
#include "load/load.h"
#include "prefix.h"

#define ILB_SCHED_DEFAULT_STALE_NS (200ull * 1000000) /* as the agent's --stale-after */

/* The pick policy; everything but SCHED is a baseline for benchmarks. */
enum ilb_policy {
	ILB_POLICY_SCHED = 0, /* filters + scorers */
	ILB_POLICY_ROUND_ROBIN, /* next pod id after the last committed one */
	ILB_POLICY_RANDOM,
	ILB_POLICY_LEAST_REQUEST, /* fewest of the agent's in-flight requests */
	ILB_POLICY__COUNT,
};

enum ilb_scorer {
	ILB_SCORER_QUEUE = 0, /* (maxQ - q) / (maxQ - minQ), q = waiting + agent in-flight */
	ILB_SCORER_KV, /* 1 - KV usage */
	ILB_SCORER_PREFIX, /* matched leading blocks / blocks */
	ILB_SCORER_LORA, /* 1 active, 0.8 free slot, 0.6 waiting, 0; only for an adapter */
	ILB_SCORER_INFLIGHT, /* (maxF - f) / (maxF - minF) over the agent's in-flight */
	ILB_SCORER__COUNT,
};

enum ilb_admit {
	ILB_ADMIT_OK = 0,
	ILB_ADMIT_SHED, /* 429: pool saturated and priority < 0 (Sheddable) */
	ILB_ADMIT_NO_POD, /* 503: no ready pod */
};

struct ilb_sched_config {
	enum ilb_policy policy;
	double weight[ILB_SCORER__COUNT]; /* >= 0; default queue 2, kv 2, prefix 3, lora 1, inflight 1 */
	uint64_t stale_ns; /* metrics older than this count as saturated; 0 = 200 ms */
	size_t prefix_max_blocks; /* blocks hashed per request, 0 = all */
	uint64_t seed; /* tie-break and random policy */
};

/* Not thread-safe: one per thread, or callers serialise. */
struct ilb_sched {
	struct ilb_sched_config cfg;
	uint64_t rng;
	uint32_t rr_last; /* id of the last committed pod */
	bool rr_started;
	struct ilb_prefix_blocks scratch; /* for requests that come without their hashes */
	struct ilb_sched_eval *eval;
	int eval_cap;
	/* the pods of one call with their loads copied out of their health slots */
	struct ilb_sched_pod *view;
	struct ilb_pod_load *view_load;
	int view_cap;
};

/* One candidate pod, as the caller sees it at the time of the request. */
struct ilb_sched_pod {
	uint32_t id; /* stable across requests (the backend id); round-robin orders by it */
	bool ready; /* Ready and not terminating */
	bool draining;
	bool excluded; /* failed for this request already (set by ilb_sched_next) */
	const struct ilb_pod_load *load; /* latest scrape, NULL = none yet (stale) */
	/* when set, where the pod's load lives instead (health.h): copied once per call, so
	 * admission and every scorer of one pick see the same scrape, and the latest one */
	const struct ilb_health_slot *health;
	uint32_t inflight; /* the agent's requests on the pod not yet answered */
	struct ilb_prefix_lru *prefix; /* NULL: this pod never scores on prefix */
};

struct ilb_sched_req {
	const char *model;
	const char *adapter; /* LoRA adapter, NULL or "" = none */
	const char *prompt;
	size_t prompt_len;
	int32_t priority; /* < 0 is Sheddable */
	/* the prompt's hashes from ilb_prefix_hash_blocks with this model, so that a pick, its
	 * retries and the commit hash once; NULL: each call hashes prompt itself */
	const struct ilb_prefix_blocks *blocks;
};

/* One pod's evaluation. score[] is in [0,1], -1 for a scorer not applied (LoRA without an
 * adapter); total is the weighted sum, 0 when not a candidate. */
struct ilb_sched_eval {
	bool candidate; /* survived the filters */
	double score[ILB_SCORER__COUNT];
	double total;
	size_t prefix_matched;
};

struct ilb_sched_result {
	int index; /* into pods, -1 when none */
	uint32_t id;
	enum ilb_admit admit;
	const char *reason; /* static text, for logs and error bodies */
	struct ilb_sched_eval winner; /* all -1 and 0 for the baseline policies */
	size_t prefix_blocks; /* the request's */
	int candidates; /* after the filters */
	int tied; /* pods that shared the best total */
};

void ilb_sched_config_default(struct ilb_sched_config *cfg);
/* cfg NULL gives the defaults. Returns 0 or -EINVAL (negative or non-finite weight, policy). */
int ilb_sched_init(struct ilb_sched *s, const struct ilb_sched_config *cfg);
void ilb_sched_free(struct ilb_sched *s);

/* "sched", "round-robin", "random", "least-request". Returns 0 or -EINVAL. */
int ilb_policy_parse(const char *name, enum ilb_policy *out);
const char *ilb_policy_name(enum ilb_policy policy);
const char *ilb_scorer_name(enum ilb_scorer scorer);
/* 200, 429, 503 */
int ilb_admit_http_status(enum ilb_admit admit);

/* Admission alone: NO_POD when no pod is ready (and neither draining nor excluded); SHED when
 * none of those has fresh metrics with queue <= 5 and KV <= 0.8 and priority < 0 (the
 * policy SCHED only: the baselines do not shed). reason may be NULL. */
enum ilb_admit ilb_sched_admit(const struct ilb_sched *s, const struct ilb_sched_req *req,
			       const struct ilb_sched_pod *pods, int n, uint64_t now_ns, const char **reason);

/* Picks a pod. Returns its index, or -ENOENT (503), -EBUSY (429), -ENOMEM, -EINVAL; *out
 * is filled in every case but -EINVAL. Nothing is recorded: call ilb_sched_commit once the request is
 * sent. */
int ilb_sched_pick(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods, int n,
		   uint64_t now_ns, struct ilb_sched_result *out);
/* After pods[failed] could not be reached: marks it excluded and picks the next best among
 * the others. Exclusions stay on the array, so repeated retries skip every failed pod. */
int ilb_sched_next(struct ilb_sched *s, const struct ilb_sched_req *req, struct ilb_sched_pod *pods, int n,
		   int failed, uint64_t now_ns, struct ilb_sched_result *out);
/* The request went to pods[index]: its prefix LRU learns the request's blocks and the
 * round-robin cursor moves to it. The caller counts in-flight requests itself.
 * Returns 0, -EINVAL or -ENOMEM. */
int ilb_sched_commit(struct ilb_sched *s, const struct ilb_sched_req *req, struct ilb_sched_pod *pods, int n,
		     int index);

/* The SCHED filters and scorers over every pod, whatever the policy, into out[0..n) (for
 * debugging views and tests). Returns the number of candidates, -EINVAL or -ENOMEM. */
int ilb_sched_explain(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods,
		      int n, uint64_t now_ns, struct ilb_sched_eval *out);

#endif
