/* sync.c - `row7-probe sync`: a fresh agent's initial list of many pods. From --t0 (when the
 * bench started the agent) until its sources report synced (the control socket's `status`,
 * as `inferlb status -j` asks it) and each pool PREFIX1..PREFIXn holds --expect ready
 * backends in the kernel; then its memory, the kernel's sets read back in full, and after
 * --settle seconds its memory, CPU and the pods it has scraped. One JSON line. */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "cli/ctl_client.h"
#include "probe.h"

#define MAX_PROBLEMS 10

struct sync_opts {
	double t0;
	int pid;
	const char *socket, *pin_dir, *ns, *prefix;
	int pools, expect;
	double timeout_s, poll_s, status_every_s, settle_s, fresh_ms;
};

/* What one look at the pinned maps found: the pools' ids once seen, their counts. */
struct kernel_view {
	struct pool_sets sets;
	bool open;
	char (*names)[128];
	uint32_t *ids;
	int *counts;
};

struct sync_times {
	double socket_s, synced_s, kernel_s;
	long rss_synced_kb;
};

static int parse_sync_opts(int argc, char **argv, struct sync_opts *o)
{
	const struct probe_opt opts[] = {
		{ "t0", OPT_NUM, &o->t0, "EPOCH_S", true },
		{ "pid", OPT_INT, &o->pid, "PID", true },
		{ "socket", OPT_STR, &o->socket, "PATH", true },
		{ "pin-dir", OPT_STR, &o->pin_dir, "DIR", true },
		{ "pool-prefix", OPT_STR, &o->prefix, "PREFIX", true },
		{ "pools", OPT_INT, &o->pools, "N", true },
		{ "expect", OPT_INT, &o->expect, "N", true },
		{ "namespace", OPT_STR, &o->ns, "NS", false },
		{ "timeout", OPT_NUM, &o->timeout_s, "S", false },
		{ "poll", OPT_NUM, &o->poll_s, "S", false },
		{ "status-every", OPT_NUM, &o->status_every_s, "S", false },
		{ "settle", OPT_NUM, &o->settle_s, "S", false },
		{ "fresh-ms", OPT_NUM, &o->fresh_ms, "MS", false },
	};
	int err;

	*o = (struct sync_opts){ .ns = "default", .timeout_s = 120, .poll_s = 0.002, .status_every_s = 0.01,
				 .settle_s = 3, .fresh_ms = 1000 };
	err = parse_opts("sync", argc, argv, opts, OPTS_N(opts));
	if (!err && (o->pid <= 0 || o->pools < 1 || o->pools >= ILB_MAX_POOLS || o->expect < 0)) {
		fprintf(stderr, "row7-probe sync: --pid, --pools (1 .. %d) or --expect out of range\n", ILB_MAX_POOLS - 1);
		err = -EINVAL;
	}
	return err;
}

/* The agent's sources, from one `status`: 1 when every one reports synced, 0 when not,
 * -errno when the agent did not answer. */
static int sources_synced(const char *socket, cJSON **status)
{
	const cJSON *sources, *src;
	char err[256];
	int ret;

	ret = ctl_call(socket, "status", NULL, NULL, status, err, sizeof(err));
	if (ret)
		return ret;
	sources = cJSON_GetObjectItemCaseSensitive(*status, "sources");
	if (!cJSON_IsArray(sources) || !cJSON_GetArraySize(sources))
		return 0;
	cJSON_ArrayForEach(src, sources)
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(src, "synced")))
			return 0;
	return 1;
}

/* Looks at the pools' counts; true when every pool holds expect. */
static bool kernel_complete(struct kernel_view *k, const struct sync_opts *o)
{
	char err[256];
	bool all = true;

	if (!k->open) {
		if (pool_sets_open(&k->sets, o->pin_dir, err, sizeof(err)))
			return false; /* not pinned yet */
		k->open = true;
	}
	for (int i = 0; i < o->pools; i++) {
		if (!k->ids[i])
			k->ids[i] = pool_sets_find_pool(&k->sets, k->names[i]);
		k->counts[i] = k->ids[i] ? pool_sets_count(&k->sets, k->ids[i]) : -1;
		if (k->counts[i] != o->expect)
			all = false;
	}
	return all;
}

/* Until both the sources and the kernel are synced: 0, or -ETIMEDOUT / -ESRCH with the
 * reason in err. */
static int wait_synced(const struct sync_opts *o, struct kernel_view *k, struct sync_times *t, char *err,
		       size_t err_len)
{
	double next_status = 0;
	cJSON *status = NULL;

	for (;;) {
		double now = wall_s();

		if (now - o->t0 > o->timeout_s) {
			int n = snprintf(err, err_len, "not synced after %g s; kernel sets", o->timeout_s);

			for (int i = 0; i < o->pools && n > 0 && (size_t)n < err_len; i++)
				n += snprintf(err + n, err_len - n, " %s %d", k->names[i], k->counts[i]);
			return -ETIMEDOUT;
		}
		if (kill(o->pid, 0) && errno == ESRCH) {
			snprintf(err, err_len, "the agent exited");
			return -ESRCH;
		}
		if (isnan(t->synced_s) && now >= next_status) {
			int synced = sources_synced(o->socket, &status);

			next_status = now + o->status_every_s;
			if (synced >= 0) {
				double at = wall_s() - o->t0;

				if (isnan(t->socket_s))
					t->socket_s = round_to(at, 4);
				if (synced) {
					t->synced_s = round_to(at, 4);
					t->rss_synced_kb = proc_status_kb(o->pid, "VmRSS");
				}
			}
			cJSON_Delete(status);
			status = NULL;
		}
		if (isnan(t->kernel_s) && kernel_complete(k, o))
			t->kernel_s = round_to(wall_s() - o->t0, 4);
		if (!isnan(t->synced_s) && !isnan(t->kernel_s))
			return 0;
		sleep_s(o->poll_s);
	}
}

struct addr_key {
	uint8_t family;
	uint8_t addr[16];
};

static int addr_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct addr_key));
}

static void problem(cJSON *problems, const char *fmt, const char *pool, long a, long b)
{
	char line[256];

	if (cJSON_GetArraySize(problems) >= MAX_PROBLEMS)
		return;
	snprintf(line, sizeof(line), fmt, pool, a, b);
	cJSON_AddItemToArray(problems, cJSON_CreateString(line));
}

/* Reads every pool's ready set back (pool_backends -> backends): distinct ids, state ready,
 * the right pool, distinct addresses; the problems found go into out, with the counts. */
static int verify_sets(struct kernel_view *k, const struct sync_opts *o, cJSON *out)
{
	uint32_t ids[ILB_MAX_POOL_BACKENDS], max = k->sets.max_backends;
	long distinct_ids = 0, distinct_addrs = 0, in_use = 0;
	struct addr_key *addrs = calloc(max, sizeof(*addrs));
	bool *seen = calloc(max, sizeof(*seen));
	cJSON *problems = cJSON_CreateArray();
	size_t n_addrs = 0;
	struct backend b;
	int err = -ENOMEM;

	if (!addrs || !seen || !problems)
		goto out;
	for (int i = 0; i < o->pools; i++) {
		uint32_t pool_id = k->ids[i];
		int n;

		if (!pool_id) {
			problem(problems, "%s: no pool", k->names[i], 0, 0);
			continue;
		}
		n = ilb_maps_pool_ready(&k->sets.maps, pool_id, ids, ILB_MAX_POOL_BACKENDS);
		if (n != o->expect)
			problem(problems, "%s: %ld ready ids, not %ld", k->names[i], n, o->expect);
		for (int j = 0; j < n; j++) {
			uint32_t id = ids[j];

			if (id >= max) {
				problem(problems, "%s: backend %ld out of range", k->names[i], id, 0);
				continue;
			}
			if (seen[id])
				problem(problems, "%s: backend %ld twice", k->names[i], id, 0);
			else
				distinct_ids++;
			seen[id] = true;
			if (ilb_maps_backend_get(&k->sets.maps, id, &b) || b.state != ILB_BACKEND_READY ||
			    b.pool_id != pool_id) {
				problem(problems, "%s: backend %ld not ready in this pool", k->names[i], id, 0);
				continue;
			}
			addrs[n_addrs].family = b.family;
			memcpy(addrs[n_addrs].addr, b.addr, sizeof(b.addr));
			n_addrs++;
		}
	}
	qsort(addrs, n_addrs, sizeof(*addrs), addr_cmp);
	for (size_t i = 0; i < n_addrs; i++)
		if (!i || addr_cmp(&addrs[i], &addrs[i - 1]))
			distinct_addrs++;
	for (uint32_t id = 1; id < max; id++)
		if (!ilb_maps_backend_get(&k->sets.maps, id, &b) && b.state != ILB_BACKEND_EMPTY)
			in_use++;
	cJSON_AddNumberToObject(out, "kernel_ready", distinct_ids);
	cJSON_AddNumberToObject(out, "kernel_distinct_addrs", distinct_addrs);
	cJSON_AddNumberToObject(out, "kernel_backends_in_use", in_use);
	cJSON_AddItemToObject(out, "problems", problems);
	problems = NULL;
	err = 0;
out:
	cJSON_Delete(problems);
	free(seen);
	free(addrs);
	return err;
}

/* {kind: objects} of the first source, for the kinds that hold any. */
static void add_source_objects(const char *socket, cJSON *out)
{
	cJSON *status = NULL, *objects = cJSON_AddObjectToObject(out, "source_objects");
	const cJSON *src, *kind;
	char err[256];

	if (!objects || ctl_call(socket, "status", NULL, NULL, &status, err, sizeof(err)))
		return;
	src = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(status, "sources"), 0);
	cJSON_ArrayForEach(kind, cJSON_GetObjectItemCaseSensitive(src, "kinds")) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(kind, "name");
		const cJSON *n = cJSON_GetObjectItemCaseSensitive(kind, "objects");

		if (cJSON_IsString(name) && cJSON_IsNumber(n) && n->valuedouble)
			cJSON_AddNumberToObject(objects, name->valuestring, n->valuedouble);
	}
	cJSON_Delete(status);
}

/* The agent's own view of its pods: how many it has scraped at all, and lately. */
static void add_scraped(const char *socket, double fresh_ms, cJSON *out)
{
	long backends = 0, once = 0, fresh = 0;
	cJSON *resp = NULL;
	const cJSON *b;
	char err[256];

	if (ctl_call(socket, "backends", NULL, NULL, &resp, err, sizeof(err))) {
		cJSON_AddStringToObject(out, "backends_error", err);
		return;
	}
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(resp, "backends")) {
		const cJSON *age = cJSON_GetObjectItemCaseSensitive(b, "metrics_age_ms");
		double ms = cJSON_IsNumber(age) ? age->valuedouble : -1;

		backends++;
		once += ms >= 0;
		fresh += ms >= 0 && ms < fresh_ms;
	}
	cJSON_AddNumberToObject(out, "agent_backends", backends);
	cJSON_AddNumberToObject(out, "scraped_once", once);
	cJSON_AddNumberToObject(out, "scraped_fresh", fresh);
	cJSON_Delete(resp);
}

/* After sync: memory, the kernel read back, and the agent over --settle seconds. */
static int after_sync(const struct sync_opts *o, struct kernel_view *k, cJSON *out)
{
	long ticks0, ticks1;
	double w0, w1;
	int err;

	cJSON_AddNumberToObject(out, "rss_sync_kb", proc_status_kb(o->pid, "VmRSS"));
	err = verify_sets(k, o, out);
	if (err)
		return err;
	add_source_objects(o->socket, out);
	ticks0 = proc_cpu_ticks(o->pid);
	w0 = wall_s();
	sleep_s(o->settle_s);
	ticks1 = proc_cpu_ticks(o->pid);
	w1 = wall_s();
	cJSON_AddNumberToObject(out, "rss_settled_kb", proc_status_kb(o->pid, "VmRSS"));
	cJSON_AddNumberToObject(out, "hwm_kb", proc_status_kb(o->pid, "VmHWM"));
	cJSON_AddNumberToObject(out, "settle_s", o->settle_s);
	json_add_number(out, "cpu_settle_pct",
			ticks0 < 0 || ticks1 < 0 ? NAN
						 : round_to((ticks1 - ticks0) / (double)sysconf(_SC_CLK_TCK) / (w1 - w0) * 100, 1));
	add_scraped(o->socket, o->fresh_ms, out);
	return 0;
}

int cmd_sync(int argc, char **argv)
{
	struct sync_times t = { .socket_s = NAN, .synced_s = NAN, .kernel_s = NAN, .rss_synced_kb = -1 };
	struct kernel_view k = { 0 };
	struct sync_opts o;
	cJSON *out = NULL;
	char err_msg[1024];
	int err;

	if (parse_sync_opts(argc, argv, &o))
		return 2;
	k.names = calloc(o.pools, sizeof(*k.names));
	k.ids = calloc(o.pools, sizeof(*k.ids));
	k.counts = calloc(o.pools, sizeof(*k.counts));
	out = cJSON_CreateObject();
	err = -ENOMEM;
	if (!k.names || !k.ids || !k.counts || !out)
		goto out;
	for (int i = 0; i < o.pools; i++) {
		snprintf(k.names[i], sizeof(k.names[i]), "%s/%s%d", o.ns, o.prefix, i + 1);
		k.counts[i] = -1;
	}

	err = wait_synced(&o, &k, &t, err_msg, sizeof(err_msg));
	cJSON_AddNumberToObject(out, "pools", o.pools);
	cJSON_AddNumberToObject(out, "expect_per_pool", o.expect);
	json_add_number(out, "socket_s", t.socket_s);
	json_add_number(out, "synced_s", t.synced_s);
	json_add_number(out, "kernel_s", t.kernel_s);
	if (t.rss_synced_kb >= 0)
		cJSON_AddNumberToObject(out, "rss_synced_kb", t.rss_synced_kb);
	if (err) {
		cJSON_AddStringToObject(out, "error", err_msg);
		print_json_line(out);
		goto out;
	}
	cJSON_AddNumberToObject(out, "sync_s", fmax(t.synced_s, t.kernel_s));
	err = after_sync(&o, &k, out);
	if (!err)
		err = print_json_line(out);
out:
	if (err == -ENOMEM)
		fprintf(stderr, "row7-probe sync: out of memory\n");
	cJSON_Delete(out);
	if (k.open)
		pool_sets_close(&k.sets);
	free(k.counts);
	free(k.ids);
	free(k.names);
	return err ? 1 : 0;
}
