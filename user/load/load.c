/* load.c - maps each engine's Prometheus metrics to struct ilb_pod_load, and the load score. */
#include "load.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inferlb.h"
#include "prom.h"

/* The design's saturation thresholds. */
#define SATURATION_QUEUE 5.0
#define SATURATION_KV 0.8

struct engine_metrics {
	const char *name;
	const char *waiting, *running, *kv, *kv_fallback;
};

static const struct engine_metrics engines[] = {
	[ILB_ENGINE_VLLM] = { "vllm", "vllm:num_requests_waiting", "vllm:num_requests_running",
			      "vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc" },
	[ILB_ENGINE_SGLANG] = { "sglang", "sglang:num_queue_reqs", "sglang:num_running_reqs",
				"sglang:token_usage", NULL },
	[ILB_ENGINE_TRTLLM] = { "trtllm", "trtllm_num_requests_waiting", "trtllm_num_requests_running",
				"trtllm_kv_cache_utilization", NULL },
};

enum ilb_engine ilb_engine_parse(const char *label)
{
	if (label)
		for (size_t i = 0; i < sizeof(engines) / sizeof(engines[0]); i++)
			if (!strcmp(label, engines[i].name))
				return (enum ilb_engine)i;
	return ILB_ENGINE_VLLM;
}

const char *ilb_engine_name(enum ilb_engine engine)
{
	if ((unsigned)engine >= sizeof(engines) / sizeof(engines[0]))
		return "unknown";
	return engines[engine].name;
}

struct mapping {
	const struct engine_metrics *names;
	struct ilb_pod_load *load;
	bool seen_waiting, seen_running, seen_kv, seen_kv_fallback, seen_lora;
	double kv_fallback;
	double lora_newest; /* value (a timestamp) of the lora_requests_info series kept */
};

/* Copies the comma-separated adapter names of list; blanks around names are dropped, as are
 * empty names and names too long to keep (a cut name could match another adapter). */
static int split_adapters(const char *list, char names[][64], int max)
{
	int n = 0;

	while (*list && n < max) {
		const char *start, *end;

		while (*list == ' ' || *list == '\t')
			list++;
		start = list;
		while (*list && *list != ',')
			list++;
		end = list;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		if (end > start && (size_t)(end - start) < sizeof(names[0])) {
			memcpy(names[n], start, (size_t)(end - start));
			names[n][end - start] = '\0';
			n++;
		}
		if (*list == ',')
			list++;
	}
	return n;
}

/* A non-negative int out of a label value; fallback when absent or not a number. */
static int label_int(const struct ilb_prom_sample *s, const char *label, int fallback)
{
	const char *v = ilb_prom_label(s, label);
	char *end;
	long n;

	if (!v || !*v)
		return fallback;
	errno = 0;
	n = strtol(v, &end, 10);
	if (errno || *end || n < 0 || n > INT32_MAX)
		return fallback;
	return (int)n;
}

static void take_lora(struct mapping *m, const struct ilb_prom_sample *s)
{
	const char *running = ilb_prom_label(s, "running_lora_adapters");
	const char *waiting = ilb_prom_label(s, "waiting_lora_adapters");

	/* several series can linger; the value is when each was last set, so the largest wins */
	if (isnan(s->value) || (m->seen_lora && s->value <= m->lora_newest))
		return;
	m->seen_lora = true;
	m->lora_newest = s->value;
	m->load->max_lora = label_int(s, "max_lora", -1);
	m->load->n_running_lora =
		running ? split_adapters(running, m->load->running_lora, ILB_MAX_LORA_NAMES) : 0;
	m->load->n_waiting_lora =
		waiting ? split_adapters(waiting, m->load->waiting_lora, ILB_MAX_LORA_NAMES) : 0;
}

/* A gauge series: NaN says nothing, a negative count is taken as zero. */
static double gauge(double v)
{
	return v > 0 ? v : 0;
}

static int on_sample(const struct ilb_prom_sample *s, void *ctx)
{
	struct mapping *m = ctx;
	const struct engine_metrics *names = m->names;
	const char *name = s->name;

	if (isnan(s->value) && strcmp(name, "vllm:lora_requests_info"))
		return 0;
	if (!strcmp(name, names->waiting)) {
		const char *model = ilb_prom_label(s, "model_name");

		m->load->waiting += gauge(s->value);
		m->seen_waiting = true;
		if (model && !m->load->model[0])
			snprintf(m->load->model, sizeof(m->load->model), "%s", model);
	} else if (!strcmp(name, names->running)) {
		m->load->running += gauge(s->value);
		m->seen_running = true;
	} else if (!strcmp(name, names->kv)) {
		m->load->kv_usage = fmax(m->load->kv_usage, gauge(s->value));
		m->seen_kv = true;
	} else if (names->kv_fallback && !strcmp(name, names->kv_fallback)) {
		m->kv_fallback = fmax(m->kv_fallback, gauge(s->value));
		m->seen_kv_fallback = true;
	} else if (!strcmp(name, "vllm:lora_requests_info")) {
		take_lora(m, s);
	} else if (!strcmp(name, "vllm:cache_config_info")) {
		m->load->block_size = label_int(s, "block_size", 0);
		m->load->num_gpu_blocks = label_int(s, "num_gpu_blocks", 0);
	}
	return 0;
}

int ilb_load_from_metrics(const char *text, size_t len, enum ilb_engine engine, struct ilb_pod_load *out,
			  char *err, size_t errlen)
{
	struct ilb_pod_load fresh = { .max_lora = -1 };
	struct mapping m = { .load = &fresh };
	struct ilb_prom_error perr;
	int ret;

	if ((unsigned)engine >= sizeof(engines) / sizeof(engines[0]))
		engine = ILB_ENGINE_VLLM;
	m.names = &engines[engine];
	ret = ilb_prom_parse(text, len, on_sample, &m, &perr);
	if (ret) {
		if (err && errlen)
			snprintf(err, errlen, "line %u: %s", perr.line, perr.msg);
		return -EINVAL;
	}
	if (!m.seen_kv && m.seen_kv_fallback) {
		fresh.kv_usage = m.kv_fallback;
		m.seen_kv = true;
	}
	/* queue and KV are what the scheduler decides on; without them the page is not a load */
	if (!m.seen_waiting || !m.seen_kv) {
		if (err && errlen)
			snprintf(err, errlen, "no %s in the %s metrics", !m.seen_waiting ? m.names->waiting : m.names->kv,
				 m.names->name);
		return -EINVAL;
	}
	if (fresh.kv_usage > 1)
		fresh.kv_usage = 1;
	fresh.scraped_ns = out->scraped_ns;
	fresh.errors = out->errors;
	*out = fresh;
	return 0;
}

static bool is_stale(const struct ilb_pod_load *load, uint64_t now_ns, uint64_t stale_ns)
{
	return !load->scraped_ns || (now_ns > load->scraped_ns && now_ns - load->scraped_ns > stale_ns);
}

/* A NaN (never produced by ilb_load_from_metrics) is read as the worst case. */
static double worst_if_nan(double v)
{
	return isnan(v) ? INFINITY : v;
}

bool ilb_load_saturated(const struct ilb_pod_load *load, uint64_t now_ns, uint64_t stale_ns)
{
	return is_stale(load, now_ns, stale_ns) || worst_if_nan(load->waiting) > SATURATION_QUEUE ||
	       worst_if_nan(load->kv_usage) > SATURATION_KV;
}

/*
 * Score, 0 (idle) .. ILB_SCORE_MAX (1,000,000). With q = waiting, r = running, kv = KV usage:
 *
 *   stale or never scraped:            1,000,000
 *   saturated (q > 5 or kv > 0.8):       900,000 + 100,000 * min(1, max((q - 5) / 5, (kv - 0.8) / 0.2))
 *   otherwise:                           450,000 * q / 5 + 300,000 * kv / 0.8 + 100,000 * r / (r + 32)
 *
 * The unsaturated sum stays below 850,000, so every saturated pod scores above every pod
 * that is not, and a pod 5 requests past the queue threshold (or with a full KV cache) scores
 * like a stale one. Queue weighs most (a queued request waits for a whole batch slot), KV
 * next (near full it forces preemption), and the running batch least, with diminishing
 * weight (a batch of 32 costs half its share): it slows each step but does not block.
 * The score does not decrease when any one input grows.
 */
uint32_t ilb_load_score(const struct ilb_pod_load *load, uint64_t now_ns, uint64_t stale_ns)
{
	double q = worst_if_nan(load->waiting), kv = worst_if_nan(load->kv_usage);
	double r = isnan(load->running) ? 0 : load->running;
	double score;

	if (is_stale(load, now_ns, stale_ns))
		return ILB_SCORE_MAX;
	q = q > 0 ? q : 0;
	kv = kv > 0 ? kv : 0;
	r = r > 0 ? r : 0;
	if (q > SATURATION_QUEUE || kv > SATURATION_KV) {
		double excess = fmax((q - SATURATION_QUEUE) / SATURATION_QUEUE,
				     (kv - SATURATION_KV) / (1 - SATURATION_KV));

		score = 900000 + 100000 * fmin(1, excess);
	} else {
		score = 450000 * q / SATURATION_QUEUE + 300000 * kv / SATURATION_KV;
		if (!isinf(r))
			score += 100000 * r / (r + 32);
		else
			score += 100000;
	}
	if (score > ILB_SCORE_MAX)
		score = ILB_SCORE_MAX;
	return (uint32_t)score;
}
