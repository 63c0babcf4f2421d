/* stats.c - request records and percentiles.
 * Records are kept whole (about 120 bytes each) so that percentiles are exact, not sketched. */
#include "stats.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const err_names[LG_ERR_MAX] = {
	[LG_OK] = "ok",	      [LG_ERR_STATUS] = "status", [LG_ERR_CONNECT] = "connect",
	[LG_ERR_TIMEOUT] = "timeout", [LG_ERR_IO] = "io",	  [LG_ERR_PARSE] = "parse",
	[LG_ERR_STREAM] = "stream",
};

const char *lg_err_name(enum lg_err e)
{
	return e < LG_ERR_MAX ? err_names[e] : "?";
}

int stats_add(struct lg_stats *s, const struct lg_record *r)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		struct lg_record *p = realloc(s->recs, cap * sizeof(*p));

		if (!p)
			return -ENOMEM;
		s->recs = p;
		s->cap = cap;
	}
	s->recs[s->n++] = *r;
	return 0;
}

struct lg_status_count *lg_status_row(struct lg_status_count *rows, int *n, int status)
{
	for (int i = 0; i < *n; i++)
		if (rows[i].status == status)
			return &rows[i];
	if (*n == LG_MAX_STATUS)
		return NULL;
	memset(&rows[*n], 0, sizeof(rows[*n]));
	rows[*n].status = status;
	return &rows[(*n)++];
}

void stats_error_sample(struct lg_stats *s, int status, const char *msg, size_t len)
{
	struct lg_status_count *row = lg_status_row(s->status, &s->n_status, status);

	if (!row)
		return;
	row->count++;
	if (!row->msg[0] && msg && len) {
		if (len >= sizeof(row->msg))
			len = sizeof(row->msg) - 1;
		memcpy(row->msg, msg, len);
		row->msg[len] = '\0';
	}
}

double record_metric(const struct lg_record *r, enum lg_metric m)
{
	int64_t first = r->stream ? r->t_first_token : r->t_first_byte;
	double ttft, e2e;

	if (r->err != LG_OK)
		return -1;
	e2e = (double)(r->t_done - r->t_sched) / 1e6;
	ttft = first >= 0 ? (double)(first - r->t_sched) / 1e6 : -1;
	switch (m) {
	case M_TTFT:
		return ttft;
	case M_E2E:
		return e2e;
	case M_TPOT:
		/* a whole response arrives at once: its first byte says nothing about decoding */
		if (!r->stream || ttft < 0 || r->out_tokens < 2)
			return -1;
		return (e2e - ttft) / (r->out_tokens - 1);
	default:
		return -1;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Linear interpolation between the closest ranks, as numpy's default: p50 of {1,2} is 1.5. */
double percentile(const double *v, size_t n, double p)
{
	double rank, frac;
	size_t lo;

	if (!n)
		return 0;
	rank = p / 100.0 * (double)(n - 1);
	lo = (size_t)rank;
	if (lo >= n - 1)
		return v[n - 1];
	frac = rank - (double)lo;
	return v[lo] + (v[lo + 1] - v[lo]) * frac;
}

int stats_dist(const struct lg_stats *s, enum lg_metric m, int model, struct lg_dist *d)
{
	double *v = malloc((s->n ? s->n : 1) * sizeof(double)), sum = 0;
	size_t n = 0;

	memset(d, 0, sizeof(*d));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		double x;

		if (model >= 0 && s->recs[i].model != model)
			continue;
		x = record_metric(&s->recs[i], m);
		if (x >= 0) {
			v[n++] = x;
			sum += x;
		}
	}
	if (n) {
		qsort(v, n, sizeof(double), cmp_double);
		d->n = n;
		d->mean = sum / (double)n;
		d->min = v[0];
		d->max = v[n - 1];
		d->p50 = percentile(v, n, 50);
		d->p90 = percentile(v, n, 90);
		d->p99 = percentile(v, n, 99);
	}
	free(v);
	return 0;
}

void stats_free(struct lg_stats *s)
{
	free(s->recs);
	memset(s, 0, sizeof(*s));
}
