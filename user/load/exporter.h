/* exporter.h - the agent's HTTP endpoint for Prometheus (/metrics) and probes
 * (/healthz, /readyz). The text is rendered when scraped, by the owner's callback on the
 * exporter's thread: nothing is rendered for a Prometheus that does not come. */
#ifndef ILB_EXPORTER_H
#define ILB_EXPORTER_H

#include <stdbool.h>
#include <stdio.h>

struct ilb_exporter;

struct ilb_exporter_ops {
	/* Writes the Prometheus text of one scrape to out (under the owner's lock). */
	void (*render)(void *ctx, FILE *out);
	/* Whether the sources have synced: /readyz. */
	bool (*ready)(void *ctx);
	void *ctx;
};

/* addr: "IP:PORT". */
struct ilb_exporter *ilb_exporter_start(const char *addr, const struct ilb_exporter_ops *ops);
void ilb_exporter_stop(struct ilb_exporter *e);

#endif
