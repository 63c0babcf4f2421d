/* top_view.c - gathers one refresh of `inferlb top` and renders it. The same rendering feeds
 * the ncurses screen and the plain periodic output, so both always show the same thing. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "ctl_client.h"
#include "fields.h"
#include "pinned.h"
#include "table.h"
#include "top_view.h"

static double monotonic_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void top_snapshot_take(struct top_snapshot *s)
{
	int fd, err;

	memset(s, 0, sizeof(*s));
	s->time_s = monotonic_s();
	err = ctl_call(cli.socket_path, "pools", NULL, NULL, &s->pools, s->agent_error,
		       sizeof(s->agent_error));
	if (!err)
		err = ctl_call(cli.socket_path, "backends", NULL, NULL, &s->backends, s->agent_error,
			       sizeof(s->agent_error));
	if (err) {
		cJSON_Delete(s->pools);
		s->pools = NULL;
	}

	fd = pinned_open("stats", s->stats_error, sizeof(s->stats_error));
	if (fd < 0)
		return;
	err = pinned_read_stats(fd, s->stats);
	close(fd);
	if (err)
		snprintf(s->stats_error, sizeof(s->stats_error), "reading %s/stats: %s", cli.pin_dir,
			 strerror(-err));
	else
		s->have_stats = true;
}

void top_snapshot_free(struct top_snapshot *s)
{
	cJSON_Delete(s->pools);
	cJSON_Delete(s->backends);
	s->pools = s->backends = NULL;
}

static const struct pod_counter *previous_pod(const struct top_history *h, const char *pod)
{
	for (size_t i = 0; h->valid && i < h->n_pods; i++)
		if (!strcmp(h->pods[i].pod, pod))
			return &h->pods[i];
	return NULL;
}

/* Picks per second since the last refresh; negative when unknown (first refresh, no counter,
 * or the counter went back because the agent restarted). */
static double picks_rate(const struct top_history *h, const struct top_snapshot *s, const cJSON *b)
{
	const struct pod_counter *prev = previous_pod(h, jstr(b, "pod", ""));
	double picks = jnum(b, "picks", -1), dt = s->time_s - h->time_s;

	if (!prev || picks < 0 || prev->picks < 0 || picks < prev->picks || dt <= 0)
		return -1;
	return (picks - prev->picks) / dt;
}

static double stat_rate(const struct top_history *h, const struct top_snapshot *s, int idx)
{
	double dt = s->time_s - h->time_s;

	if (!h->valid || !h->have_stats || !s->have_stats || dt <= 0 || s->stats[idx] < h->stats[idx])
		return -1;
	return (s->stats[idx] - h->stats[idx]) / dt;
}

static const struct table_col pod_cols[] = {
	{ "POD", false }, { "STATE", false }, { "QUEUE", true }, { "RUN", true }, { "KV%", true }, { "INFL", true },
	{ "PICKS/S", true }, { "AGE", true },
};

static void add_pod_row(struct table *t, const struct top_history *h, const struct top_snapshot *s,
			const cJSON *b)
{
	double rate = picks_rate(h, s, b);
	char age[32];

	if (table_row(t))
		return;
	table_cell(t, "%s", jstr(b, "pod", "?"));
	table_cell(t, "%s", jstr(b, "state", "?"));
	table_cell(t, "%.0f", jnum(b, "queue", 0));
	table_cell(t, "%.0f", jnum(b, "running", 0));
	table_cell(t, "%.1f", jnum(b, "kv", 0) * 100);
	table_cell(t, "%.0f", jnum(b, "in_flight", 0));
	if (rate >= 0)
		table_cell(t, "%.1f", rate);
	else
		table_cell(t, "-");
	table_cell(t, "%s", fmt_age_ms(jnum(b, "metrics_age_ms", -1), age, sizeof(age)));
}

/* Prints the pods of pool_name (all pods whose pool is not among the pools when NULL). */
static void render_pods(const struct top_history *h, const struct top_snapshot *s,
			const char *pool_name, FILE *out)
{
	struct table *t = table_new(pod_cols, sizeof(pod_cols) / sizeof(pod_cols[0]));
	const cJSON *b, *p;

	if (!t)
		return;
	cJSON_ArrayForEach(b, jarray(s->backends, "backends")) {
		const char *pool = jstr(b, "pool", "");
		bool known = false;

		if (pool_name) {
			if (strcmp(pool, pool_name))
				continue;
		} else {
			cJSON_ArrayForEach(p, jarray(s->pools, "pools")) {
				char name[512];

				snprintf(name, sizeof(name), "%s/%s", jstr(p, "namespace", ""), jstr(p, "name", ""));
				known |= !strcmp(name, pool);
			}
			if (known)
				continue;
		}
		add_pod_row(t, h, s, b);
	}
	if (table_rows(t))
		table_print(t, out, "  ");
	else if (pool_name)
		fprintf(out, "  no pods\n");
	table_free(t);
}

static void render_lanes(const struct top_history *h, const struct top_snapshot *s, FILE *out)
{
	static const struct table_col cols[] = { { "COUNTER", false }, { "TOTAL", true }, { "PER SEC", true } };
	struct table *t;

	if (!s->have_stats) {
		fprintf(out, "Lane counters: unavailable: %s\n", s->stats_error);
		return;
	}
	t = table_new(cols, 3);
	if (!t)
		return;
	for (int i = 0; i < ILB_STAT_MAX; i++) {
		double rate = stat_rate(h, s, i);

		if (!s->stats[i] || table_row(t)) /* zero counters would only push the rest away */
			continue;
		table_cell(t, "%s", ilb_stat_names[i]);
		table_cell(t, "%" PRIu64, s->stats[i]);
		if (rate >= 0)
			table_cell(t, "%.1f", rate);
		else
			table_cell(t, "-");
	}
	fprintf(out, "Lane counters (%s/stats):\n", cli.pin_dir);
	if (table_rows(t))
		table_print(t, out, "  ");
	else
		fprintf(out, "  all zero\n");
	table_free(t);
}

void top_render_text(const struct top_history *h, const struct top_snapshot *s, FILE *out)
{
	const cJSON *p;

	if (!s->pools || !s->backends) {
		fprintf(out, "Agent unreachable: %s (retrying every refresh)\n\n", s->agent_error);
	} else {
		if (!cJSON_GetArraySize(jarray(s->pools, "pools")))
			fprintf(out, "No pools.\n\n");
		cJSON_ArrayForEach(p, jarray(s->pools, "pools")) {
			char name[512];

			/* where its requests go when not to its pods: Knative's activator, or held */
			const char *via = jstr(p, "via", "pods");
			bool other = strcmp(via, "pods") != 0;

			snprintf(name, sizeof(name), "%s/%s", jstr(p, "namespace", "?"), jstr(p, "name", "?"));
			fprintf(out, "%s  vip %s  %s  ready %.0f/%.0f  concurrency %.0f  pending %.0f  sheds %.0f%s%s\n", name,
				or_dash(jstr(p, "vip", "")), jstr(p, "failure_mode", "?"), jnum(p, "ready", 0),
				jnum(p, "total", 0), jnum(p, "concurrency", 0), jnum(p, "pending", 0), jnum(p, "sheds", 0),
				other ? "  via " : "", other ? via : "");
			render_pods(h, s, name, out);
			fputc('\n', out);
		}
		render_pods(h, s, NULL, out);
	}
	render_lanes(h, s, out);
}

void top_render_json(const struct top_history *h, const struct top_snapshot *s, FILE *out)
{
	struct json_writer *w = jw_new(out, cli.pretty);
	const cJSON *b, *field;

	if (!w)
		return;
	jw_start_object(w);
	if (s->pools && s->backends) {
		jw_name(w, "pools");
		jw_cjson(w, jarray(s->pools, "pools"));
		jw_name(w, "backends");
		jw_start_array(w);
		cJSON_ArrayForEach(b, jarray(s->backends, "backends")) {
			double rate = picks_rate(h, s, b);

			jw_start_object(w);
			cJSON_ArrayForEach(field, b) {
				jw_name(w, field->string);
				jw_cjson(w, field);
			}
			jw_name(w, "picks_per_s");
			if (rate >= 0)
				jw_float(w, rate);
			else
				jw_null(w);
			jw_end_object(w);
		}
		jw_end_array(w);
	} else {
		jw_string_field(w, "agent_error", s->agent_error);
	}
	if (s->have_stats) {
		jw_name(w, "stats");
		jw_start_object(w);
		for (int i = 0; i < ILB_STAT_MAX; i++)
			jw_uint_field(w, ilb_stat_names[i], s->stats[i]);
		jw_end_object(w);
	} else {
		jw_string_field(w, "stats_error", s->stats_error);
	}
	jw_end_object(w);
	jw_destroy(&w);
}

void top_history_free(struct top_history *h)
{
	for (size_t i = 0; i < h->n_pods; i++)
		free(h->pods[i].pod);
	free(h->pods);
	h->pods = NULL;
	h->n_pods = 0;
	h->valid = false;
}

void top_history_update(struct top_history *h, const struct top_snapshot *s)
{
	const cJSON *backends = jarray(s->backends, "backends"), *b;
	int n = cJSON_GetArraySize(backends);
	struct pod_counter *pods = calloc(n ? n : 1, sizeof(*pods));
	size_t count = 0;

	if (!pods)
		return;
	cJSON_ArrayForEach(b, backends) {
		pods[count].pod = strdup(jstr(b, "pod", ""));
		if (!pods[count].pod)
			break;
		pods[count].picks = jnum(b, "picks", -1);
		count++;
	}
	top_history_free(h);
	h->pods = pods;
	h->n_pods = count;
	h->valid = true;
	h->time_s = s->time_s;
	h->have_stats = s->have_stats;
	memcpy(h->stats, s->stats, sizeof(h->stats));
}
