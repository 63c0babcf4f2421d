/* pinned.c - opens pinned maps by path and sums the per-CPU counters. A missing pin means
 * the agent never ran here (or another --pin-dir): the error says so. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli.h"
#include "pinned.h"

const char *const ilb_stat_names[ILB_STAT_MAX] = { ILB_STAT_NAMES };

/* A counter added to enum ilb_stat without a name would print as NULL. */
_Static_assert(sizeof((const char *[]){ ILB_STAT_NAMES }) / sizeof(const char *) == ILB_STAT_MAX,
	       "ILB_STAT_NAMES must name every enum ilb_stat counter");

int pinned_open(const char *name, char *err_msg, size_t err_len)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", cli.pin_dir, name);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		int err = -errno;

		snprintf(err_msg, err_len, "cannot open the pinned map %s: %s%s", path, strerror(-err),
			 err == -ENOENT ? " (has the agent run on this node?)" : "");
		return err;
	}
	return fd;
}

int pinned_read_stats(int stats_fd, uint64_t out[ILB_STAT_MAX])
{
	int n_cpus = libbpf_num_possible_cpus();
	uint64_t *per_cpu;
	int err = 0;

	if (n_cpus <= 0)
		return n_cpus ? n_cpus : -EINVAL;
	per_cpu = calloc(n_cpus, sizeof(*per_cpu)); /* __u64 values need no padding per CPU */
	if (!per_cpu)
		return -ENOMEM;
	for (uint32_t i = 0; i < ILB_STAT_MAX; i++) {
		out[i] = 0;
		if (bpf_map_lookup_elem(stats_fd, &i, per_cpu)) {
			err = -errno;
			break;
		}
		for (int cpu = 0; cpu < n_cpus; cpu++)
			out[i] += per_cpu[cpu];
	}
	free(per_cpu);
	return err;
}
