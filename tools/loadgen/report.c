/* report.c - text and JSON summaries fed by one pass over the records (struct summary),
 * so the two can never disagree; JSON is written by hand to keep key order stable. */
#include "report.h"

#include <errno.h>
#include <string.h>

#include "buf.h"

static const char *const metric_key[M_MAX] = { "ttft_ms", "tpot_ms", "e2e_ms" };
static const char *const metric_label[M_MAX] = { "TTFT", "TPOT", "E2E" };

struct summary {
	size_t total, ok;
	size_t by_err[LG_ERR_MAX];
	struct lg_status_count status[LG_MAX_STATUS]; /* the HTTP statuses of LG_ERR_STATUS */
	int n_status;
	uint64_t in_tokens, out_tokens, bytes_sent, bytes_recv;
	double elapsed_s, req_per_s, out_tok_per_s, in_tok_per_s, offered_qps;
	struct lg_dist dist[M_MAX];
};

static void count_status(struct summary *s, int status)
{
	struct lg_status_count *row = lg_status_row(s->status, &s->n_status, status);

	if (row)
		row->count++;
}

static void summarize(const struct lg_stats *st, struct summary *s)
{
	memset(s, 0, sizeof(*s));
	s->total = st->n;
	for (size_t i = 0; i < st->n; i++) {
		const struct lg_record *r = &st->recs[i];

		s->by_err[r->err]++;
		if (r->err == LG_ERR_STATUS)
			count_status(s, r->status);
		s->bytes_sent += r->bytes_sent;
		s->bytes_recv += r->bytes_recv;
		if (r->err != LG_OK)
			continue;
		s->ok++;
		s->in_tokens += r->in_tokens;
		s->out_tokens += r->out_tokens;
	}
	s->elapsed_s = (double)st->t_end / 1e9;
	if (s->elapsed_s > 0) {
		s->req_per_s = (double)s->ok / s->elapsed_s;
		s->out_tok_per_s = (double)s->out_tokens / s->elapsed_s;
		s->in_tok_per_s = (double)s->in_tokens / s->elapsed_s;
	}
	/* arrivals after the first over the time they took: the rate actually offered */
	if (st->issued > 1 && st->last_sched > 0)
		s->offered_qps = (double)(st->issued - 1) / ((double)st->last_sched / 1e9);
	for (int m = 0; m < M_MAX; m++)
		stats_dist(st, m, -1, &s->dist[m]);
}

static void describe_load(FILE *f, const struct lg_config *c)
{
	if (c->qps > 0)
		fprintf(f, "open loop %g req/s", c->qps);
	else
		fprintf(f, "closed loop, concurrency %d", c->concurrency);
	if (c->qps > 0 && c->concurrency > 0)
		fprintf(f, " (at most %d in flight)", c->concurrency);
}

void report_text(FILE *f, const struct lg_config *cfg, const struct lg_stats *st)
{
	struct summary s;

	summarize(st, &s);
	fprintf(f, "loadgen: %s, %s, %s, %zu requests in %.2f s\n", workload_name(cfg->workload),
		cfg->stream ? "streaming" : "not streaming", cfg->url ? cfg->url : "-", s.total,
		s.elapsed_s);
	fprintf(f, "load:       ");
	describe_load(f, cfg);
	if (s.offered_qps > 0)
		fprintf(f, ", offered %.1f req/s", s.offered_qps);
	fprintf(f, "\nrequests:   %zu ok, %zu failed\n", s.ok, s.total - s.ok);
	if (s.total > s.ok) {
		fprintf(f, "errors:    ");
		for (int i = 0; i < s.n_status; i++)
			fprintf(f, " http %d: %zu;", s.status[i].status, s.status[i].count);
		for (int e = LG_ERR_CONNECT; e < LG_ERR_MAX; e++)
			if (s.by_err[e])
				fprintf(f, " %s: %zu;", lg_err_name(e), s.by_err[e]);
		fprintf(f, "\n");
		for (int i = 0; i < st->n_status; i++)
			if (st->status[i].msg[0])
				fprintf(f, "            %d: %s\n", st->status[i].status, st->status[i].msg);
	}
	fprintf(f, "throughput: %.2f req/s, %.1f output tok/s, %.1f input tok/s\n", s.req_per_s,
		s.out_tok_per_s, s.in_tok_per_s);
	fprintf(f, "%-10s %8s %10s %10s %10s %10s %10s %10s\n", "ms", "n", "mean", "p50", "p90", "p99",
		"min", "max");
	for (int m = 0; m < M_MAX; m++) {
		const struct lg_dist *d = &s.dist[m];

		fprintf(f, "%-10s %8zu %10.2f %10.2f %10.2f %10.2f %10.2f %10.2f\n", metric_label[m], d->n,
			d->mean, d->p50, d->p90, d->p99, d->min, d->max);
	}
	if (cfg->n_models > 1) {
		for (int i = 0; i < cfg->n_models; i++) {
			struct lg_dist d;
			size_t n = 0;

			for (size_t j = 0; j < st->n; j++)
				n += st->recs[j].model == i;
			stats_dist(st, M_TTFT, i, &d);
			fprintf(f, "model %s: %zu requests, %zu ok, TTFT p50 %.2f p99 %.2f ms\n",
				cfg->models[i].name, n, d.n, d.p50, d.p99);
		}
	}
}

static void json_dist(struct buf *b, const char *key, const struct lg_dist *d)
{
	buf_addf(b, "\"%s\":{\"n\":%zu,\"mean\":%.3f,\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
		    "\"min\":%.3f,\"max\":%.3f}",
		 key, d->n, d->mean, d->p50, d->p90, d->p99, d->min, d->max);
}

static void json_config(struct buf *b, const struct lg_config *c)
{
	buf_adds(b, "\"config\":{\"url\":");
	if (c->url)
		buf_add_json_str(b, c->url, strlen(c->url));
	else
		buf_adds(b, "null");
	buf_addf(b, ",\"workload\":\"%s\",\"mode\":\"%s\",\"qps\":%g,\"concurrency\":%d,"
		    "\"duration_s\":%g,\"requests\":%ld,\"stream\":%s,\"seed\":%llu,\"timeout_s\":%g",
		 workload_name(c->workload), c->qps > 0 ? "open" : "closed", c->qps, c->concurrency,
		 c->duration, c->requests, c->stream ? "true" : "false", (unsigned long long)c->seed,
		 c->timeout);
	if (c->workload == WL_SHARED_PREFIX)
		buf_addf(b, ",\"groups\":%d,\"prompts_per_group\":%d,\"system_tokens\":%d,"
			    "\"question_tokens\":%d",
			 c->groups, c->prompts_per_group, c->system_tokens, c->question_tokens);
	if (c->workload == WL_LONG_PROMPT)
		buf_addf(b, ",\"prompt_bytes\":%ld", c->prompt_bytes);
	buf_addf(b, ",\"output_tokens\":%d,\"models\":[", c->output_tokens);
	for (int i = 0; i < c->n_models; i++) {
		buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		buf_add_json_str(b, c->models[i].name, strlen(c->models[i].name));
		buf_addf(b, ",\"weight\":%g}", c->models[i].weight);
	}
	buf_adds(b, "]}");
}

static void json_models(struct buf *b, const struct lg_config *c, const struct lg_stats *st)
{
	buf_adds(b, ",\"models\":[");
	for (int i = 0; i < c->n_models; i++) {
		size_t n = 0, ok = 0;

		for (size_t j = 0; j < st->n; j++) {
			n += st->recs[j].model == i;
			ok += st->recs[j].model == i && st->recs[j].err == LG_OK;
		}
		buf_adds(b, i ? ",{\"name\":" : "{\"name\":");
		buf_add_json_str(b, c->models[i].name, strlen(c->models[i].name));
		buf_addf(b, ",\"requests\":%zu,\"ok\":%zu", n, ok);
		for (int m = 0; m < M_MAX; m++) {
			struct lg_dist d;

			stats_dist(st, m, i, &d);
			buf_adds(b, ",");
			json_dist(b, metric_key[m], &d);
		}
		buf_adds(b, "}");
	}
	buf_adds(b, "]");
}

static int write_out(const char *path, const struct buf *b)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	int err = 0;

	if (!f)
		goto fail;
	if (fwrite(b->data, 1, b->len, f) != b->len)
		err = -EIO;
	if (f != stdout && fclose(f))
		err = -EIO;
	if (!err)
		return 0;
fail:
	err = err ? err : -errno;
	fprintf(stderr, "loadgen: %s: %s\n", path, strerror(-err));
	return err;
}

int report_json(const char *path, const struct lg_config *cfg, const struct lg_stats *st)
{
	struct buf b = { 0 };
	struct summary s;
	int err;

	summarize(st, &s);
	buf_adds(&b, "{");
	json_config(&b, cfg);
	buf_addf(&b, ",\"duration_s\":%.3f,\"requests\":{\"issued\":%llu,\"total\":%zu,\"ok\":%zu,"
		     "\"failed\":%zu}",
		 s.elapsed_s, (unsigned long long)st->issued, s.total, s.ok, s.total - s.ok);
	buf_addf(&b, ",\"errors\":{\"total\":%zu,\"by_status\":{", s.total - s.ok);
	for (int i = 0; i < s.n_status; i++)
		buf_addf(&b, "%s\"%d\":%zu", i ? "," : "", s.status[i].status, s.status[i].count);
	buf_adds(&b, "}");
	for (int e = LG_ERR_CONNECT; e < LG_ERR_MAX; e++)
		buf_addf(&b, ",\"%s\":%zu", lg_err_name(e), s.by_err[e]);
	buf_adds(&b, "},\"error_samples\":{");
	for (int i = 0, first = 1; i < st->n_status; i++) {
		if (!st->status[i].msg[0])
			continue;
		buf_addf(&b, "%s\"%d\":", first ? "" : ",", st->status[i].status);
		buf_add_json_str(&b, st->status[i].msg, strlen(st->status[i].msg));
		first = 0;
	}
	buf_addf(&b, "},\"throughput\":{\"req_per_s\":%.3f,\"output_tokens_per_s\":%.3f,"
		     "\"input_tokens_per_s\":%.3f,\"offered_qps\":%.3f}",
		 s.req_per_s, s.out_tok_per_s, s.in_tok_per_s, s.offered_qps);
	for (int m = 0; m < M_MAX; m++) {
		buf_adds(&b, ",");
		json_dist(&b, metric_key[m], &s.dist[m]);
	}
	buf_addf(&b, ",\"tokens\":{\"input\":%llu,\"output\":%llu}",
		 (unsigned long long)s.in_tokens, (unsigned long long)s.out_tokens);
	buf_addf(&b, ",\"bytes\":{\"sent\":%llu,\"received\":%llu}",
		 (unsigned long long)s.bytes_sent, (unsigned long long)s.bytes_recv);
	buf_addf(&b, ",\"connections\":{\"opened\":%llu,\"closed_by_server\":%llu,\"retries\":%llu}",
		 (unsigned long long)st->conns_opened, (unsigned long long)st->conns_closed_by_server,
		 (unsigned long long)st->retries);
	json_models(&b, cfg, st);
	buf_adds(&b, "}\n");
	err = b.oom ? -ENOMEM : write_out(path, &b);
	buf_free(&b);
	return err;
}

static void json_ms(struct buf *b, const char *key, double v)
{
	if (v < 0)
		buf_addf(b, ",\"%s\":null", key);
	else
		buf_addf(b, ",\"%s\":%.3f", key, v);
}

int report_records(const char *path, const struct lg_config *cfg, const struct lg_stats *st)
{
	struct buf b = { 0 };
	int err;

	for (size_t i = 0; i < st->n && !b.oom; i++) {
		const struct lg_record *r = &st->recs[i];
		const char *model = cfg->models[r->model].name;

		buf_addf(&b, "{\"index\":%llu,\"model\":", (unsigned long long)r->index);
		buf_add_json_str(&b, model, strlen(model));
		if (r->group >= 0)
			buf_addf(&b, ",\"group\":%d,\"prompt\":%d", r->group, r->prompt);
		buf_addf(&b, ",\"status\":%d,\"error\":\"%s\",\"reused\":%s", r->status,
			 lg_err_name(r->err), r->reused ? "true" : "false");
		json_ms(&b, "t_sched_ms", (double)r->t_sched / 1e6);
		json_ms(&b, "queue_ms", r->t_send >= 0 ? (double)(r->t_send - r->t_sched) / 1e6 : -1);
		json_ms(&b, "ttft_ms", record_metric(r, M_TTFT));
		json_ms(&b, "tpot_ms", record_metric(r, M_TPOT));
		json_ms(&b, "e2e_ms", record_metric(r, M_E2E));
		buf_addf(&b, ",\"in_tokens\":%u,\"out_tokens\":%u,\"max_tokens\":%u,\"chunks\":%u,"
			     "\"bytes_sent\":%llu,\"bytes_recv\":%llu}\n",
			 r->in_tokens, r->out_tokens, r->max_tokens, r->chunks,
			 (unsigned long long)r->bytes_sent, (unsigned long long)r->bytes_recv);
	}
	err = b.oom ? -ENOMEM : write_out(path, &b);
	buf_free(&b);
	return err;
}
