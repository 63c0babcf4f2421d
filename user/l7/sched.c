/* sched.c - per-request pod choice for the L7 lane: admission, filters (ready, saturation,
 * LoRA), the weighted scorers, a random tie-break; and the baseline policies for benchmarks. */
#include "sched.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A queue or in-flight count beyond any real one; keeps NaN and infinity out of the scores. */
#define COUNT_CAP 1e9
/* Totals are sums of a few weighted fractions; closer than this they are a tie. */
#define TIE_EPS 1e-9

static const char *const policy_names[ILB_POLICY__COUNT] = {
	[ILB_POLICY_SCHED] = "sched",
	[ILB_POLICY_ROUND_ROBIN] = "round-robin",
	[ILB_POLICY_RANDOM] = "random",
	[ILB_POLICY_LEAST_REQUEST] = "least-request",
};

static const char *const scorer_names[ILB_SCORER__COUNT] = {
	[ILB_SCORER_QUEUE] = "queue",
	[ILB_SCORER_KV] = "kv-cache",
	[ILB_SCORER_PREFIX] = "prefix-cache",
	[ILB_SCORER_LORA] = "lora-affinity",
	[ILB_SCORER_INFLIGHT] = "in-flight",
};

static const char reason_no_pod[] = "no ready pod";
static const char reason_shed[] = "pool saturated: no pod with fresh metrics, queue <= 5 and KV usage <= 0.8";
static const char reason_ok[] = "admitted";
static const char reason_ok_saturated[] = "admitted while the pool is saturated (priority >= 0)";

/* Never scraped: ilb_load_saturated reads scraped_ns 0 as stale. */
static const struct ilb_pod_load no_load = { .max_lora = -1 };

int ilb_policy_parse(const char *name, enum ilb_policy *out)
{
	if (name)
		for (int i = 0; i < ILB_POLICY__COUNT; i++)
			if (!strcmp(name, policy_names[i])) {
				*out = (enum ilb_policy)i;
				return 0;
			}
	return -EINVAL;
}

const char *ilb_policy_name(enum ilb_policy policy)
{
	return (unsigned)policy < ILB_POLICY__COUNT ? policy_names[policy] : "unknown";
}

const char *ilb_scorer_name(enum ilb_scorer scorer)
{
	return (unsigned)scorer < ILB_SCORER__COUNT ? scorer_names[scorer] : "unknown";
}

int ilb_admit_http_status(enum ilb_admit admit)
{
	switch (admit) {
	case ILB_ADMIT_OK:
		return 200;
	case ILB_ADMIT_SHED:
		return 429;
	case ILB_ADMIT_NO_POD:
		return 503;
	}
	return 500;
}

void ilb_sched_config_default(struct ilb_sched_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->policy = ILB_POLICY_SCHED;
	cfg->weight[ILB_SCORER_QUEUE] = 2;
	cfg->weight[ILB_SCORER_KV] = 2;
	cfg->weight[ILB_SCORER_PREFIX] = 3;
	cfg->weight[ILB_SCORER_LORA] = 1;
	cfg->weight[ILB_SCORER_INFLIGHT] = 1;
	cfg->stale_ns = ILB_SCHED_DEFAULT_STALE_NS;
	cfg->prefix_max_blocks = ILB_PREFIX_DEFAULT_MAX_BLOCKS;
}

int ilb_sched_init(struct ilb_sched *s, const struct ilb_sched_config *cfg)
{
	memset(s, 0, sizeof(*s));
	if (cfg)
		s->cfg = *cfg;
	else
		ilb_sched_config_default(&s->cfg);
	if ((unsigned)s->cfg.policy >= ILB_POLICY__COUNT)
		return -EINVAL;
	for (int i = 0; i < ILB_SCORER__COUNT; i++)
		if (!isfinite(s->cfg.weight[i]) || s->cfg.weight[i] < 0)
			return -EINVAL;
	if (!s->cfg.stale_ns)
		s->cfg.stale_ns = ILB_SCHED_DEFAULT_STALE_NS;
	s->rng = s->cfg.seed;
	return 0;
}

void ilb_sched_free(struct ilb_sched *s)
{
	if (!s)
		return;
	ilb_prefix_blocks_free(&s->scratch);
	free(s->eval);
	free(s->view);
	free(s->view_load);
	s->eval = NULL;
	s->view = NULL;
	s->view_load = NULL;
	s->eval_cap = s->view_cap = 0;
}

/* splitmix64: any seed, 0 included, gives a full-period sequence */
static uint64_t next_rand(struct ilb_sched *s)
{
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* uniform in [0, n) for the small n met here (the bias is below 2^-32 * n) */
static uint32_t rand_below(struct ilb_sched *s, uint32_t n)
{
	return (uint32_t)(((next_rand(s) >> 32) * (uint64_t)n) >> 32);
}

static bool eligible(const struct ilb_sched_pod *p)
{
	return p->ready && !p->draining && !p->excluded;
}

static const struct ilb_pod_load *load_of(const struct ilb_sched_pod *p)
{
	return p->load ? p->load : &no_load;
}

static bool fresh_unsaturated(const struct ilb_sched *s, const struct ilb_sched_pod *p, uint64_t now_ns)
{
	struct ilb_pod_load copy;

	if (p->health) /* ilb_sched_admit called on its own: nothing copied yet */
		return !ilb_load_saturated(ilb_health_read(p->health, &copy) ? &copy : &no_load, now_ns,
					   s->cfg.stale_ns);
	return !ilb_load_saturated(load_of(p), now_ns, s->cfg.stale_ns);
}

/* The pods with the loads of this moment: those that read a health slot get a copy of it,
 * taken once here. Returns pods itself when none does, NULL when out of memory. */
static const struct ilb_sched_pod *loads_now(struct ilb_sched *s, const struct ilb_sched_pod *pods, int n)
{
	bool any = false;

	for (int i = 0; i < n; i++)
		any |= pods[i].health != NULL;
	if (!any)
		return pods;
	if (n > s->view_cap) {
		struct ilb_sched_pod *view = realloc(s->view, (size_t)n * sizeof(*view));
		struct ilb_pod_load *load;

		if (!view)
			return NULL;
		s->view = view;
		load = realloc(s->view_load, (size_t)n * sizeof(*load));
		if (!load)
			return NULL;
		s->view_load = load;
		s->view_cap = n;
	}
	for (int i = 0; i < n; i++) {
		s->view[i] = pods[i];
		if (!pods[i].health)
			continue;
		s->view[i].load = ilb_health_read(pods[i].health, &s->view_load[i]) ? &s->view_load[i] : NULL;
		s->view[i].health = NULL;
	}
	return s->view;
}

static double clamp_count(double v)
{
	if (isnan(v) || v > COUNT_CAP)
		return COUNT_CAP;
	return v > 0 ? v : 0;
}

/* The agent's own in-flight requests join the queue: between two scrapes (50 ms) the
 * metrics do not show what was just sent, and a burst would all go to one pod. */
static double queue_of(const struct ilb_sched_pod *p)
{
	return clamp_count(load_of(p)->waiting) + p->inflight;
}

static double kv_of(const struct ilb_sched_pod *p)
{
	double kv = load_of(p)->kv_usage;

	if (isnan(kv) || kv > 1)
		return 1;
	return kv > 0 ? kv : 0;
}

static bool has_adapter(const struct ilb_sched_req *req)
{
	return req->adapter && *req->adapter;
}

static bool name_in(const char names[][64], int n, const char *name)
{
	for (int i = 0; i < n && i < ILB_MAX_LORA_NAMES; i++)
		if (!strcmp(names[i], name))
			return true;
	return false;
}

static bool lora_active(const struct ilb_pod_load *l, const char *adapter)
{
	return name_in(l->running_lora, l->n_running_lora, adapter);
}

static bool lora_free_slot(const struct ilb_pod_load *l)
{
	return l->max_lora > 0 && l->n_running_lora < l->max_lora;
}

static double lora_score(const struct ilb_pod_load *l, const char *adapter)
{
	if (lora_active(l, adapter))
		return 1;
	if (lora_free_slot(l))
		return 0.8;
	if (name_in(l->waiting_lora, l->n_waiting_lora, adapter))
		return 0.6;
	return 0;
}

/* Max-min normalisation over the candidates: the least loaded scores 1, the most 0. */
static double spread_score(double v, double lo, double hi)
{
	return hi > lo ? (hi - v) / (hi - lo) : 1;
}

static const struct ilb_prefix_blocks *request_blocks(struct ilb_sched *s, const struct ilb_sched_req *req)
{
	if (req->blocks)
		return req->blocks;
	/* out of memory costs the prefix affinity of this request, not the request */
	if (ilb_prefix_hash_blocks(req->model, req->prompt, req->prompt_len, s->cfg.prefix_max_blocks,
				   &s->scratch) < 0)
		s->scratch.n = 0;
	return &s->scratch;
}

static int evaluate(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods,
		    int n, uint64_t now_ns, struct ilb_sched_eval *ev, size_t *n_blocks)
{
	double qlo = INFINITY, qhi = -INFINITY, flo = INFINITY, fhi = -INFINITY;
	bool adapter = has_adapter(req), any_fresh = false, any_fits = false;
	const struct ilb_prefix_blocks *blocks;
	int count = 0;

	for (int i = 0; i < n; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		for (int k = 0; k < ILB_SCORER__COUNT; k++)
			ev[i].score[k] = -1;
		ev[i].candidate = eligible(&pods[i]);
		if (ev[i].candidate && fresh_unsaturated(s, &pods[i], now_ns))
			any_fresh = true;
	}
	/* saturation first: an adapter already loaded on a pod with a long queue is worth less
	 * than loading it on an idle pod */
	for (int i = 0; any_fresh && i < n; i++)
		if (ev[i].candidate && !fresh_unsaturated(s, &pods[i], now_ns))
			ev[i].candidate = false;
	if (adapter) {
		bool any_active = false;

		/* as GIE's LoRA affinity filter: the unsaturated pods running the adapter, else
		 * those that can load it at once, else all */
		for (int i = 0; i < n; i++) {
			if (!ev[i].candidate)
				continue;
			any_active |= lora_active(load_of(&pods[i]), req->adapter);
			any_fits |= lora_free_slot(load_of(&pods[i]));
		}
		for (int i = 0; i < n; i++) {
			const struct ilb_pod_load *l = load_of(&pods[i]);

			if (!ev[i].candidate)
				continue;
			if (any_active ? !lora_active(l, req->adapter) : any_fits && !lora_free_slot(l))
				ev[i].candidate = false;
		}
	}
	for (int i = 0; i < n; i++) {
		double q = queue_of(&pods[i]), f = pods[i].inflight;

		if (!ev[i].candidate)
			continue;
		count++;
		qlo = fmin(qlo, q);
		qhi = fmax(qhi, q);
		flo = fmin(flo, f);
		fhi = fmax(fhi, f);
	}
	blocks = request_blocks(s, req);
	*n_blocks = blocks->n;
	for (int i = 0; i < n; i++) {
		const struct ilb_sched_pod *p = &pods[i];
		double *sc = ev[i].score;

		if (!ev[i].candidate)
			continue;
		sc[ILB_SCORER_QUEUE] = spread_score(queue_of(p), qlo, qhi);
		sc[ILB_SCORER_KV] = 1 - kv_of(p);
		ev[i].prefix_matched = ilb_prefix_match(p->prefix, blocks->hash, blocks->n);
		sc[ILB_SCORER_PREFIX] = blocks->n ? (double)ev[i].prefix_matched / (double)blocks->n : 0;
		if (adapter)
			sc[ILB_SCORER_LORA] = lora_score(load_of(p), req->adapter);
		sc[ILB_SCORER_INFLIGHT] = spread_score(p->inflight, flo, fhi);
		for (int k = 0; k < ILB_SCORER__COUNT; k++)
			if (sc[k] >= 0)
				ev[i].total += s->cfg.weight[k] * sc[k];
	}
	return count;
}

static bool valid_args(const struct ilb_sched *s, const struct ilb_sched_req *req, const void *pods, int n)
{
	return s && req && n >= 0 && (pods || !n);
}

int ilb_sched_explain(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods,
		      int n, uint64_t now_ns, struct ilb_sched_eval *out)
{
	size_t n_blocks;

	if (!valid_args(s, req, pods, n) || (!out && n))
		return -EINVAL;
	pods = loads_now(s, pods, n);
	if (!pods)
		return -ENOMEM;
	return evaluate(s, req, pods, n, now_ns, out, &n_blocks);
}

enum ilb_admit ilb_sched_admit(const struct ilb_sched *s, const struct ilb_sched_req *req,
			       const struct ilb_sched_pod *pods, int n, uint64_t now_ns, const char **reason)
{
	bool any = false, fresh = false;
	enum ilb_admit admit = ILB_ADMIT_OK;
	const char *why = reason_ok;

	for (int i = 0; i < n && !fresh; i++) {
		if (!eligible(&pods[i]))
			continue;
		any = true;
		fresh = fresh_unsaturated(s, &pods[i], now_ns);
	}
	if (!any) {
		admit = ILB_ADMIT_NO_POD;
		why = reason_no_pod;
	} else if (!fresh && s->cfg.policy == ILB_POLICY_SCHED) {
		if (req->priority < 0) {
			admit = ILB_ADMIT_SHED;
			why = reason_shed;
		} else {
			why = reason_ok_saturated;
		}
	}
	if (reason)
		*reason = why;
	return admit;
}

/* Reservoir sampling over the maxima: each of k tied pods is kept with probability 1/k. */
struct best {
	int index;
	int tied;
	double value;
};

static void consider(struct ilb_sched *s, struct best *b, int i, double value)
{
	if (b->index < 0 || value > b->value + TIE_EPS) {
		b->index = i;
		b->tied = 1;
		b->value = value;
	} else if (value >= b->value - TIE_EPS) {
		b->tied++;
		if (rand_below(s, (uint32_t)b->tied) == 0)
			b->index = i;
	}
}

static int pick_scored(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods,
		       int n, uint64_t now_ns, struct ilb_sched_result *out)
{
	struct best b = { .index = -1 };

	if (n > s->eval_cap) {
		struct ilb_sched_eval *ev = realloc(s->eval, (size_t)n * sizeof(*ev));

		if (!ev)
			return -ENOMEM;
		s->eval = ev;
		s->eval_cap = n;
	}
	out->candidates = evaluate(s, req, pods, n, now_ns, s->eval, &out->prefix_blocks);
	for (int i = 0; i < n; i++)
		if (s->eval[i].candidate)
			consider(s, &b, i, s->eval[i].total);
	if (b.index >= 0)
		out->winner = s->eval[b.index];
	out->tied = b.tied;
	return b.index;
}

/* The next id after the last committed one, wrapping: follows pods by id, not by their
 * place in the array, so a pod joining or leaving does not restart the cycle. */
static int pick_round_robin(struct ilb_sched *s, const struct ilb_sched_pod *pods, int n)
{
	int next = -1, first = -1;

	for (int i = 0; i < n; i++) {
		if (!eligible(&pods[i]))
			continue;
		if (first < 0 || pods[i].id < pods[first].id)
			first = i;
		if (s->rr_started && pods[i].id > s->rr_last && (next < 0 || pods[i].id < pods[next].id))
			next = i;
	}
	return next >= 0 ? next : first;
}

int ilb_sched_pick(struct ilb_sched *s, const struct ilb_sched_req *req, const struct ilb_sched_pod *pods, int n,
		   uint64_t now_ns, struct ilb_sched_result *out)
{
	struct best b = { .index = -1 };
	int index;

	if (!valid_args(s, req, pods, n) || !out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	out->index = -1;
	for (int k = 0; k < ILB_SCORER__COUNT; k++)
		out->winner.score[k] = -1;
	pods = loads_now(s, pods, n);
	if (!pods)
		return -ENOMEM;
	out->admit = ilb_sched_admit(s, req, pods, n, now_ns, &out->reason);
	if (out->admit == ILB_ADMIT_NO_POD)
		return -ENOENT;
	if (out->admit == ILB_ADMIT_SHED)
		return -EBUSY;

	switch (s->cfg.policy) {
	case ILB_POLICY_SCHED:
		index = pick_scored(s, req, pods, n, now_ns, out);
		break;
	case ILB_POLICY_ROUND_ROBIN:
		index = pick_round_robin(s, pods, n);
		break;
	case ILB_POLICY_RANDOM:
	case ILB_POLICY_LEAST_REQUEST:
		for (int i = 0; i < n; i++)
			if (eligible(&pods[i]))
				consider(s, &b, i, s->cfg.policy == ILB_POLICY_RANDOM ? 0 : -(double)pods[i].inflight);
		index = b.index;
		out->tied = b.tied;
		break;
	default:
		return -EINVAL;
	}
	if (index < 0)
		return index; /* -ENOMEM; admission saw an eligible pod, so every policy finds one */
	if (s->cfg.policy != ILB_POLICY_SCHED) {
		for (int i = 0; i < n; i++)
			out->candidates += eligible(&pods[i]);
	}
	out->index = index;
	out->id = pods[index].id;
	return index;
}

int ilb_sched_next(struct ilb_sched *s, const struct ilb_sched_req *req, struct ilb_sched_pod *pods, int n,
		   int failed, uint64_t now_ns, struct ilb_sched_result *out)
{
	if (!pods || failed < 0 || failed >= n)
		return -EINVAL;
	pods[failed].excluded = true;
	return ilb_sched_pick(s, req, pods, n, now_ns, out);
}

int ilb_sched_commit(struct ilb_sched *s, const struct ilb_sched_req *req, struct ilb_sched_pod *pods, int n,
		     int index)
{
	const struct ilb_prefix_blocks *blocks;

	if (!valid_args(s, req, pods, n) || index < 0 || index >= n)
		return -EINVAL;
	s->rr_last = pods[index].id;
	s->rr_started = true;
	/* every policy records, so switching policy at run time finds the LRUs current */
	if (!pods[index].prefix)
		return 0;
	blocks = request_blocks(s, req);
	return ilb_prefix_record(pods[index].prefix, blocks->hash, blocks->n);
}
