/* exporter.h - the agent's HTTP endpoint for Prometheus (/metrics) and probes
 * (/healthz, /readyz). The agent's loop publishes a finished text; requests never wait on it. */
#ifndef ILB_EXPORTER_H
#define ILB_EXPORTER_H

#include <stdbool.h>

struct ilb_exporter;

/* addr: "IP:PORT". */
struct ilb_exporter *ilb_exporter_start(const char *addr);
void ilb_exporter_publish(struct ilb_exporter *e, const char *metrics_text, bool ready);
void ilb_exporter_stop(struct ilb_exporter *e);

#endif
