/* top_view.h - what `inferlb top` shows: one snapshot per refresh (the agent's pools and
 * backends, the pinned lane counters) rendered as text or JSON, with rates against the last. */
#ifndef ILB_CLI_TOP_VIEW_H
#define ILB_CLI_TOP_VIEW_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "inferlb.h"

struct cJSON;

struct top_snapshot {
	double time_s; /* CLOCK_MONOTONIC */
	struct cJSON *pools, *backends; /* the agent's responses; NULL when it did not answer */
	char agent_error[512];
	bool have_stats;
	uint64_t stats[ILB_STAT_MAX];
	char stats_error[512];
};

struct pod_counter {
	char *pod;
	double picks;
};

/* What the previous refresh saw, for per-second rates. */
struct top_history {
	bool valid;
	double time_s;
	struct pod_counter *pods;
	size_t n_pods;
	bool have_stats;
	uint64_t stats[ILB_STAT_MAX];
};

void top_snapshot_take(struct top_snapshot *s);
void top_snapshot_free(struct top_snapshot *s);

void top_render_text(const struct top_history *h, const struct top_snapshot *s, FILE *out);
void top_render_json(const struct top_history *h, const struct top_snapshot *s, FILE *out);

/* Remembers s as the base of the next refresh's rates. */
void top_history_update(struct top_history *h, const struct top_snapshot *s);
void top_history_free(struct top_history *h);

#endif
