/* agent.h - the agent's state, shared by its loop (main.c), its period (tick.c) and its
 * views (views.c: control-socket answers and Prometheus text). */
#ifndef ILB_AGENT_H
#define ILB_AGENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "kern/l4.h"
#include "l7/l7.h"
#include "kern/l7_kern.h"
#include "kern/maps.h"
#include "kern/reconcile.h"

#define ILB_VERSION "0.1.0"
#define ILB_DEFAULT_SOCKET "/run/inferlb/agent.sock"

struct ilb_ctl;
struct ilb_exporter;
struct ilb_health;
struct ilb_kube;
struct ilb_manifests;
struct ilb_route_table;
struct ilb_scraper;
struct ilb_store;

struct ilb_agent {
	/* flags */
	char manifests_dir[256];
	char kubeconfig[256];
	bool in_cluster;
	char iface[32];
	enum ilb_xdp_mode xdp_mode;
	char pin_dir[200];
	char socket_path[108];
	char metrics_addr[64];
	unsigned scrape_interval_ms, stale_after_ms;
	bool detach, keep, cleanup;
	bool no_l7;
	struct ilb_addr vip; /* --vip: the address of Gateways that name none */
	struct ilb_l7_config l7_cfg;
	/* state: the loop changes it holding lock, the exporter's thread reads it holding lock */
	pthread_mutex_t lock;
	uint64_t start_ns;
	struct ilb_maps maps;
	struct ilb_l4 l4;
	bool l4_attached;
	struct ilb_store *store;
	struct ilb_manifests *manifests;
	struct ilb_kube *kube;
	struct ilb_scraper *scraper;
	struct ilb_reconciler rec;
	struct ilb_netlink *nl;
	struct ilb_l7_kern l7_kern;
	bool l7_kern_open;
	struct ilb_l7 *l7;
	struct ilb_health *health; /* each backend's load, which the L7 lane reads at pick time */
	struct ilb_route_table *routes; /* the table the L7 lane was last given */
	uint64_t ticks;
	struct ilb_ctl *ctl;
	struct ilb_exporter *exporter;
	uint64_t reconciled_generation;
	bool synced;
	char last_error[256];
};

/* One period: heartbeat, reconcile (membership when the store changed; loads into the
 * health array always), routes for the L7 lane when the objects changed. */
void ilb_agent_tick(struct ilb_agent *a);
/* Answers one control-socket request. */
cJSON *ilb_agent_handle(const char *cmd, const cJSON *req, void *ctx);
/* The Prometheus text, rendered when scraped (the exporter's thread, under a->lock). */
void ilb_agent_metrics(struct ilb_agent *a, FILE *out);

#endif
