/* cmd_flows.c - `inferlb flows`: the L4 lane's connections, read straight from the pinned
 * conntrack map (no agent needed), most recently active first. */
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cli.h"
#include "fields.h"
#include "params.h"
#include "pinned.h"
#include "table.h"

#define FLOWS_DEFAULT_LIMIT 100

struct flows_cfg {
	unsigned int limit;
};

static const struct ilb_option flows_options[] = {
	ILB_OPT(struct flows_cfg, limit, .type = ILB_OPT_UINT, .name = "limit", .short_name = 'n',
		.metavar = "N", .help = "show at most N flows, most recent first (default 100, 0: all)"),
	{ 0 },
};

const struct cli_spec flows_spec = {
	.name = "flows",
	.summary = "List the L4 connections in the pinned conntrack map: client, VIP, pod, age.",
	.options = flows_options,
	.accepts_show_verb = 1,
};

struct flow {
	struct flow_key key;
	struct flow_value val;
};

struct flow_list {
	struct flow *items;
	size_t n, cap;
};

static int flow_list_add(struct flow_list *l, const struct flow_key *k, const struct flow_value *v)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct flow *items = realloc(l->items, cap * sizeof(*items));

		if (!items)
			return -ENOMEM;
		l->items = items;
		l->cap = cap;
	}
	l->items[l->n].key = *k;
	l->items[l->n].val = *v;
	l->n++;
	return 0;
}

static int by_last_seen_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct flow *)a)->val.last_seen_ns;
	uint64_t y = ((const struct flow *)b)->val.last_seen_ns;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Collects the forward entries; reply entries mirror them and would count each flow twice. */
static int collect_forward_flows(int conntrack_fd, struct flow_list *out)
{
	struct flow_key key, next;
	struct flow_value val;
	void *prev = NULL;
	int err;

	while (!bpf_map_get_next_key(conntrack_fd, prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(conntrack_fd, &key, &val))
			continue; /* evicted or closed meanwhile */
		if (val.flags & ILB_FLOW_REPLY)
			continue;
		err = flow_list_add(out, &key, &val);
		if (err)
			return err;
	}
	return errno == ENOENT ? 0 : -errno;
}

static const char *proto_name(uint8_t proto, char *buf, size_t len)
{
	if (proto == IPPROTO_TCP)
		snprintf(buf, len, "tcp");
	else if (proto == IPPROTO_UDP)
		snprintf(buf, len, "udp");
	else
		snprintf(buf, len, "%u", proto);
	return buf;
}

/* The text forms of one flow, shared by both printers. */
struct flow_view {
	char client[64], vip[64], backend[64], proto[8];
	uint32_t backend_id;
	double age_ms;
	bool closed;
};

static void describe_flow(const struct flow *f, int backends_fd, uint64_t now_ns, struct flow_view *v)
{
	const struct flow_key *k = &f->key;
	struct backend b;

	fmt_addr_port(k->family, k->saddr, ntohs(k->sport), v->client, sizeof(v->client));
	fmt_addr_port(k->family, k->daddr, ntohs(k->dport), v->vip, sizeof(v->vip));
	v->backend_id = f->val.backend_id;
	if (backends_fd >= 0 && !bpf_map_lookup_elem(backends_fd, &v->backend_id, &b) &&
	    b.state != ILB_BACKEND_EMPTY)
		fmt_addr_port(b.family, b.addr, ntohs(b.port), v->backend, sizeof(v->backend));
	else
		snprintf(v->backend, sizeof(v->backend), "?");
	proto_name(k->proto, v->proto, sizeof(v->proto));
	v->age_ms = now_ns > f->val.last_seen_ns ? (now_ns - f->val.last_seen_ns) / 1e6 : 0;
	v->closed = f->val.flags & ILB_FLOW_CLOSED;
}

static void show_flow_json(struct json_writer *w, const struct flow_view *v)
{
	jw_start_object(w);
	jw_string_field(w, "client", v->client);
	jw_string_field(w, "vip", v->vip);
	jw_string_field(w, "backend", v->backend);
	jw_uint_field(w, "backend_id", v->backend_id);
	jw_string_field(w, "proto", v->proto);
	jw_uint_field(w, "age_ms", (uint64_t)v->age_ms);
	jw_bool_field(w, "closed", v->closed);
	jw_end_object(w);
}

static void show_flow_plain(struct table *t, const struct flow_view *v)
{
	char age[32];

	table_cell(t, "%s", v->client);
	table_cell(t, "%s", v->vip);
	table_cell(t, "%s (%u)", v->backend, v->backend_id);
	table_cell(t, "%s", v->proto);
	table_cell(t, "%s", fmt_age_ms(v->age_ms, age, sizeof(age)));
	table_cell(t, "%s", v->closed ? "closed" : "-");
}

static int print_flows(const struct flow_list *flows, size_t limit, int backends_fd)
{
	static const struct table_col cols[] = {
		{ "CLIENT", false }, { "VIP", false }, { "BACKEND (ID)", false }, { "PROTO", false }, { "AGE", true }, { "STATE", false },
	};
	size_t shown = limit && limit < flows->n ? limit : flows->n;
	uint64_t now = 0;
	struct json_writer *w = NULL;
	struct table *t = NULL;
	struct timespec ts;
	struct flow_view v;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns() */
	now = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	if (cli.json) {
		w = cli_json_open();
		if (!w)
			return -ENOMEM;
		jw_start_object(w);
		jw_name(w, "flows");
		jw_start_array(w);
	} else {
		t = table_new(cols, sizeof(cols) / sizeof(cols[0]));
		if (!t)
			return -ENOMEM;
	}
	for (size_t i = 0; i < shown; i++) {
		describe_flow(&flows->items[i], backends_fd, now, &v);
		if (w)
			show_flow_json(w, &v);
		else if (!table_row(t))
			show_flow_plain(t, &v);
	}
	if (w) {
		jw_end_array(w);
		jw_uint_field(w, "total", flows->n);
		jw_uint_field(w, "shown", shown);
		jw_end_object(w);
		jw_destroy(&w);
		return 0;
	}
	if (shown)
		table_print(t, stdout, NULL);
	printf("%zu flow%s", flows->n, flows->n == 1 ? "" : "s");
	if (shown < flows->n)
		printf(" (%zu most recent shown; --limit 0 shows all)", shown);
	printf("\n");
	table_free(t);
	return 0;
}

int do_flows(int argc, char **argv)
{
	struct flows_cfg cfg = { .limit = FLOWS_DEFAULT_LIMIT };
	struct flow_list flows = { 0 };
	int conntrack_fd = -1, backends_fd = -1, err;
	char err_msg[512];
	int rc = cli_parse_or_exit(&flows_spec, &cfg, argc, argv);

	if (rc >= 0)
		return rc;
	rc = CLI_EXIT_ERROR;
	conntrack_fd = pinned_open("conntrack", err_msg, sizeof(err_msg));
	if (conntrack_fd < 0) {
		cli_error("%s", err_msg);
		goto out;
	}
	/* without it flows still print, only the pod's address is unknown */
	backends_fd = pinned_open("backends", err_msg, sizeof(err_msg));
	err = collect_forward_flows(conntrack_fd, &flows);
	if (err) {
		cli_error("reading %s/conntrack: %s", cli.pin_dir, strerror(-err));
		goto out;
	}
	qsort(flows.items, flows.n, sizeof(*flows.items), by_last_seen_desc);
	err = print_flows(&flows, cfg.limit, backends_fd);
	if (err) {
		cli_error("%s", strerror(-err));
		goto out;
	}
	rc = CLI_EXIT_OK;
out:
	free(flows.items);
	if (backends_fd >= 0)
		close(backends_fd);
	if (conntrack_fd >= 0)
		close(conntrack_fd);
	return rc;
}
