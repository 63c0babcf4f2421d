/* metrics.c - /metrics in the Prometheus text format, named and labelled as each
 * engine does (checked against real vLLM, SGLang and TRT-LLM output), and the
 * histograms and counters that back it. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

/* vLLM's bucket boundaries, so dashboards built for it read the simulator too. */
static const double ttft_le[] = { 0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
				  1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0 };
static const double tpot_le[] = { 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75,
				  1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0 };
static const double e2e_le[] = { 0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
				 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0 };

#define MAX_BUCKETS 24

struct histo {
	const double *le;
	int n;
	unsigned long long counts[MAX_BUCKETS];	/* non-cumulative; summed on render */
	unsigned long long total;
	double sum;
};

enum { FIN_STOP, FIN_LENGTH, FIN_ABORT, FIN_N };
static const char *const fin_names[FIN_N] = { "stop", "length", "abort" };

struct metrics {
	const struct sim_config *cfg;
	pthread_mutex_t lock;
	struct histo ttft, tpot, e2e, queue;
	unsigned long long prompt_tokens, gen_tokens, pc_queries, pc_hits;
	unsigned long long finished[FIN_N];
	char *model_label;	/* escaped model_name label value */
};

static void histo_init(struct histo *h, const double *le, int n)
{
	memset(h, 0, sizeof(*h));
	h->le = le;
	h->n = n;
}

static void histo_observe(struct histo *h, double v)
{
	int i = 0;
	while (i < h->n && v > h->le[i])
		i++;
	if (i < h->n)
		h->counts[i]++;
	h->total++;
	h->sum += v;
}

/* Label values escape backslash, quote and newline. */
static char *escape_label(const char *s)
{
	char *out = malloc(strlen(s) * 2 + 1), *p = out;
	if (!out)
		return NULL;
	for (; *s; s++) {
		if (*s == '\\' || *s == '"') {
			*p++ = '\\';
			*p++ = *s;
		} else if (*s == '\n') {
			*p++ = '\\';
			*p++ = 'n';
		} else {
			*p++ = *s;
		}
	}
	*p = 0;
	return out;
}

struct metrics *metrics_new(const struct sim_config *cfg)
{
	struct metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->cfg = cfg;
	pthread_mutex_init(&m->lock, NULL);
	histo_init(&m->ttft, ttft_le, sizeof(ttft_le) / sizeof(double));
	histo_init(&m->tpot, tpot_le, sizeof(tpot_le) / sizeof(double));
	histo_init(&m->e2e, e2e_le, sizeof(e2e_le) / sizeof(double));
	histo_init(&m->queue, e2e_le, sizeof(e2e_le) / sizeof(double));
	m->model_label = escape_label(cfg->served[0]);
	if (!m->model_label) {
		free(m);
		return NULL;
	}
	return m;
}

void metrics_request_done(struct metrics *m, double ttft, double tpot, double e2e, double queue,
			  int prompt_tokens, int gen_tokens, int cached_tokens, const char *finish)
{
	(void)cached_tokens;
	pthread_mutex_lock(&m->lock);
	if (ttft >= 0)
		histo_observe(&m->ttft, ttft);
	if (tpot >= 0 && gen_tokens > 1)
		histo_observe(&m->tpot, tpot);
	histo_observe(&m->e2e, e2e);
	histo_observe(&m->queue, queue);
	m->prompt_tokens += prompt_tokens;
	m->gen_tokens += gen_tokens;
	for (int i = 0; i < FIN_N; i++)
		if (!strcmp(finish, fin_names[i]))
			m->finished[i]++;
	pthread_mutex_unlock(&m->lock);
}

void metrics_prefix_query(struct metrics *m, int queried, int hits)
{
	pthread_mutex_lock(&m->lock);
	m->pc_queries += queried;
	m->pc_hits += hits;
	pthread_mutex_unlock(&m->lock);
}

/* Numbers as Python's prometheus_client prints them: "3.0", "0.25", "+Inf". */
static const char *num(char *buf, size_t sz, double v)
{
	if (isinf(v))
		snprintf(buf, sz, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, sz, "%.1f", v);
	else
		snprintf(buf, sz, "%.10g", v);
	return buf;
}

struct out {
	FILE *f;
	const char *labels;	/* common labels, e.g. engine="0",model_name="x" */
};

static void head(struct out *o, const char *name, const char *type, const char *help)
{
	fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct out *o, const char *name, const char *help, double v)
{
	char b[64];
	head(o, name, "gauge", help);
	fprintf(o->f, "%s{%s} %s\n", name, o->labels, num(b, sizeof(b), v));
}

/* prometheus_client names the family without _total and the sample with it. */
static void counter(struct out *o, const char *name, const char *help, double v)
{
	char b[64];
	head(o, name, "counter", help);
	fprintf(o->f, "%s_total{%s} %s\n", name, o->labels, num(b, sizeof(b), v));
}

static void histogram(struct out *o, const char *name, const char *help, const struct histo *h)
{
	char b[64], le[32];
	unsigned long long cum = 0;

	head(o, name, "histogram", help);
	for (int i = 0; i < h->n; i++) {
		cum += h->counts[i];
		fprintf(o->f, "%s_bucket{%s,le=\"%s\"} %s\n", name, o->labels, num(le, sizeof(le), h->le[i]),
			num(b, sizeof(b), (double)cum));
	}
	fprintf(o->f, "%s_bucket{%s,le=\"+Inf\"} %s\n", name, o->labels, num(b, sizeof(b), (double)h->total));
	fprintf(o->f, "%s_count{%s} %s\n", name, o->labels, num(b, sizeof(b), (double)h->total));
	fprintf(o->f, "%s_sum{%s} %s\n", name, o->labels, num(b, sizeof(b), h->sum));
}

static void render_vllm(struct out *o, struct metrics *m, const struct engine_stats *st, double kv)
{
	const struct sim_config *c = m->cfg;
	char b[64];

	gauge(o, "vllm:num_requests_running", "Number of requests in model execution batches.", st->running);
	gauge(o, "vllm:num_requests_waiting", "Number of requests waiting to be processed.", st->waiting);
	gauge(o, "vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kv);
	if (c->legacy_metrics)
		gauge(o, "vllm:gpu_cache_usage_perc", "GPU KV-cache usage. 1 means 100 percent usage.", kv);
	counter(o, "vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
		(double)m->pc_queries);
	counter(o, "vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.",
		(double)m->pc_hits);
	counter(o, "vllm:prompt_tokens", "Number of prefill tokens processed.", (double)m->prompt_tokens);
	counter(o, "vllm:generation_tokens", "Number of generation tokens processed.", (double)m->gen_tokens);

	head(o, "vllm:request_success", "counter", "Count of successfully processed requests.");
	for (int i = 0; i < FIN_N; i++)
		fprintf(o->f, "vllm:request_success_total{%s,finished_reason=\"%s\"} %s\n", o->labels,
			fin_names[i], num(b, sizeof(b), (double)m->finished[i]));

	histogram(o, "vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", &m->ttft);
	histogram(o, "vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.",
		  &m->tpot);
	histogram(o, "vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", &m->e2e);
	histogram(o, "vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
		  &m->queue);

	/* The value is a wall-clock timestamp so that readers can pick the newest sample. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	char *run = escape_label(st->running_loras), *wait = escape_label(st->waiting_loras);
	head(o, "vllm:lora_requests_info", "gauge", "Running stats on lora requests.");
	fprintf(o->f, "vllm:lora_requests_info{%s,max_lora=\"%d\",running_lora_adapters=\"%s\","
		      "waiting_lora_adapters=\"%s\"} %.6f\n",
		o->labels, c->max_loras, run ? run : "", wait ? wait : "", now.tv_sec + now.tv_nsec / 1e9);
	free(run);
	free(wait);

	head(o, "vllm:cache_config_info", "gauge", "Information of the LLMEngine CacheConfig");
	fprintf(o->f, "vllm:cache_config_info{block_size=\"%d\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
		      "%s,gpu_memory_utilization=\"0.9\",num_cpu_blocks=\"0\",num_gpu_blocks=\"%d\"} 1.0\n",
		c->block_size, o->labels, c->num_gpu_blocks);
}

static void render_sglang(struct out *o, struct metrics *m, const struct engine_stats *st, double kv)
{
	double rate = m->pc_queries ? (double)m->pc_hits / (double)m->pc_queries : 0;

	gauge(o, "sglang:num_running_reqs", "The number of running requests.", st->running);
	gauge(o, "sglang:num_queue_reqs", "The number of requests in the waiting queue.", st->waiting);
	gauge(o, "sglang:token_usage", "The token usage.", kv);
	gauge(o, "sglang:cache_hit_rate", "The prefix cache hit rate.", rate);
	counter(o, "sglang:prompt_tokens", "Number of prefill tokens processed.", (double)m->prompt_tokens);
	counter(o, "sglang:generation_tokens", "Number of generation tokens processed.", (double)m->gen_tokens);
	histogram(o, "sglang:time_to_first_token_seconds", "Histogram of time to first token in seconds.",
		  &m->ttft);
	histogram(o, "sglang:time_per_output_token_seconds", "Histogram of time per output token in seconds.",
		  &m->tpot);
	histogram(o, "sglang:e2e_request_latency_seconds", "Histogram of End-to-end request latency in seconds",
		  &m->e2e);
}

static void render_trtllm(struct out *o, struct metrics *m, const struct engine_stats *st, double kv)
{
	double rate = m->pc_queries ? (double)m->pc_hits / (double)m->pc_queries : 0;

	gauge(o, "trtllm_num_requests_running", "Number of requests currently running.", st->running);
	gauge(o, "trtllm_num_requests_waiting", "Number of requests waiting to be scheduled.", st->waiting);
	gauge(o, "trtllm_kv_cache_utilization", "KV cache utilization, 0 to 1.", kv);
	gauge(o, "trtllm_kv_cache_hit_rate", "KV cache reuse hit rate, 0 to 1.", rate);
	histogram(o, "trtllm_time_to_first_token_seconds", "Histogram of time to first token in seconds.",
		  &m->ttft);
}

char *metrics_render(struct metrics *m, const struct engine_stats *st, size_t *len)
{
	char *buf = NULL, *labels = NULL;
	struct out o;
	int err;
	double kv = st->kv_total ? (double)st->kv_used / st->kv_total : 0;

	/* vLLM tags each series with the engine index as well as the model. */
	if (m->cfg->engine == SIM_ENGINE_VLLM)
		err = asprintf(&labels, "engine=\"0\",model_name=\"%s\"", m->model_label);
	else
		err = asprintf(&labels, "model_name=\"%s\"", m->model_label);
	if (err < 0)
		return NULL;
	o.labels = labels;
	o.f = open_memstream(&buf, len);
	if (!o.f) {
		free(labels);
		return NULL;
	}

	pthread_mutex_lock(&m->lock);
	switch (m->cfg->engine) {
	case SIM_ENGINE_SGLANG:
		render_sglang(&o, m, st, kv);
		break;
	case SIM_ENGINE_TRTLLM:
		render_trtllm(&o, m, st, kv);
		break;
	default:
		render_vllm(&o, m, st, kv);
	}
	pthread_mutex_unlock(&m->lock);
	free(labels);
	if (fclose(o.f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
