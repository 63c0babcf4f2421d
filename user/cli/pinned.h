/* pinned.h - reading the maps the agent pins under --pin-dir, for the commands that work
 * without the agent (flows, stats, the lane counters of top). */
#ifndef ILB_CLI_PINNED_H
#define ILB_CLI_PINNED_H

#include <stddef.h>
#include <stdint.h>
#include "inferlb.h"

/* Opens <pin-dir>/<name>. Returns the fd, or -errno with a one-line reason in err. */
int pinned_open(const char *name, char *err, size_t err_len);
/* Sums the per-CPU `stats` counters of an open map. */
int pinned_read_stats(int stats_fd, uint64_t out[ILB_STAT_MAX]);
/* Names of the counters, in enum ilb_stat order. */
extern const char *const ilb_stat_names[ILB_STAT_MAX];

#endif
