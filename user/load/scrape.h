/* scrape.h - scrapes every pod's /metrics on one thread with libcurl multi
 * (connection reuse, per-request timeout) and keeps the latest load of each. */
#ifndef ILB_SCRAPE_H
#define ILB_SCRAPE_H

#include <stddef.h>
#include <stdint.h>
#include "load.h"

struct ilb_scraper;

struct ilb_scrape_target {
	char key[128]; /* caller's identity of the pod, e.g. "ns/name" */
	char url[160]; /* http://IP:PORT/metrics */
	enum ilb_engine engine;
};

/* interval and timeout in milliseconds. The scraper runs on its own thread. */
struct ilb_scraper *ilb_scraper_start(unsigned interval_ms, unsigned timeout_ms);
/* Replaces the target set; targets that stay keep their load and connections. */
int ilb_scraper_set_targets(struct ilb_scraper *s, const struct ilb_scrape_target *targets, int n);
/* Copies the latest load of key; -ENOENT when unknown. */
int ilb_scraper_get(struct ilb_scraper *s, const char *key, struct ilb_pod_load *out);
/* Optional: called on the scraper thread after each round (for the agent to wake up). */
void ilb_scraper_on_round(struct ilb_scraper *s, void (*cb)(void *ctx), void *ctx);
void ilb_scraper_stop(struct ilb_scraper *s);

/* Why the last scrape of key failed ("" after a good one) into buf; -ENOENT when unknown. */
int ilb_scraper_last_error(struct ilb_scraper *s, const char *key, char *buf, size_t len);

#endif
