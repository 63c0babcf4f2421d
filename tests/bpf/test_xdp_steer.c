/* test_xdp_steer - packet fixtures for xdp_steer and tc_reverse_nat through
 * BPF_PROG_TEST_RUN: input frame -> expected verdict and output bytes, checksums checked
 * by building the expected frame from scratch. With --bench, measures ns per packet
 * (SYN, known flow) against the parse-and-pass floor, repeat = 1 in a loop. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include "inferlb.h"
#include "kern/maps.h"
#include "kern/maglev.h"
#include "xdp_steer.skel.h"
#include "tc_reverse_nat.skel.h"
#include "xdp_floor.skel.h"
#include "bpf/frame.h"
#include "bpf/tap.h"

static struct ilb_maps maps;
static struct tc_reverse_nat *rnat;
static int prog_fd, tc_fd;

static const uint8_t client_mac[6] = { 0x02, 0, 0, 0, 0, 0x01 };
static const uint8_t node_mac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
static const uint8_t pod_mac[6] = { 0x02, 0, 0, 0, 0, 0x10 };

#define VIP4 "10.0.0.100"
#define VIP4_EMPTY "10.0.0.101"
#define VIP4_DRAIN "10.0.0.102"
#define VIP6 "fd00::100"
#define CLIENT4 "10.9.0.1"
#define CLIENT6 "fd00:9::1"

enum { POOL_MAIN = 1, POOL_EMPTY = 2, POOL_V6 = 3, POOL_DRAIN = 4 };

static const char *const backend_ip[] = { NULL, "10.1.0.1", "10.1.0.2", "fd00:1::1", "10.1.0.4", "10.1.0.5",
					  "10.1.0.6" };

static void hexdump(const char *label, const uint8_t *p, size_t len)
{
	printf("#   %-9s", label);
	for (size_t i = 0; i < len; i++)
		printf("%02x%s", p[i], (i + 1) % 32 == 0 && i + 1 < len ? "\n#            " : "");
	putchar('\n');
}

static void spec_init(struct frame_spec *s, int family, const char *dst, uint16_t sport, uint16_t dport,
		      uint8_t flags)
{
	memset(s, 0, sizeof(*s));
	s->family = family;
	s->proto = IPPROTO_TCP;
	s->src = family == 4 ? CLIENT4 : CLIENT6;
	s->dst = dst;
	s->sport = sport;
	s->dport = dport;
	s->tcp_flags = flags;
	memcpy(s->src_mac, client_mac, 6);
	memcpy(s->dst_mac, node_mac, 6);
}

/* The frame xdp_steer should emit: the input rebuilt towards the backend. */
static size_t expect_dnat(uint8_t *buf, size_t cap, const struct frame_spec *in, int backend_id)
{
	struct frame_spec out = *in;

	out.dst = backend_ip[backend_id];
	out.dport = 8000;
	memcpy(out.src_mac, node_mac, 6);
	memcpy(out.dst_mac, pod_mac, 6);
	out.dst_mac[5] = 0x10 + backend_id;
	return frame_build(buf, cap, &out);
}

struct run_result {
	int verdict;
	uint8_t out[512];
	uint32_t out_len;
	uint32_t duration;
};

static int run_prog(int fd, const uint8_t *in, size_t len, struct run_result *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = r->out,
		    .data_size_out = sizeof(r->out), .repeat = 1);
	int err = bpf_prog_test_run_opts(fd, &opts);

	r->verdict = opts.retval;
	r->out_len = opts.data_size_out;
	r->duration = opts.duration;
	return err ? -errno : 0;
}

static const char *verdict_name(int v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT" };

	return v >= 0 && v <= 4 ? names[v] : "?";
}

/* Which backend a DNATed output went to, by its destination address; 0 if none. */
static int output_backend(const struct run_result *r, int family, bool vlan)
{
	size_t l3 = 14 + (vlan ? 4 : 0);
	char text[64];

	if (family == 4) {
		if (r->out_len < l3 + 20)
			return 0;
		inet_ntop(AF_INET, r->out + l3 + 16, text, sizeof(text));
	} else {
		if (r->out_len < l3 + 40)
			return 0;
		inet_ntop(AF_INET6, r->out + l3 + 24, text, sizeof(text));
	}
	for (int i = 1; i < (int)(sizeof(backend_ip) / sizeof(backend_ip[0])); i++)
		if (!strcmp(text, backend_ip[i]))
			return i;
	return 0;
}

static uint64_t stat_get(int idx)
{
	uint64_t all[ILB_STAT_MAX];

	ilb_maps_stats(&maps, all);
	return all[idx];
}

/* One fixture: input spec -> verdict, and expected output (DNAT to `backend`, or unchanged). */
static void fixture(const char *desc, const struct frame_spec *in, size_t truncate_to, int want_verdict,
		    int want_backend, int stat_idx)
{
	uint8_t input[512], want[512];
	size_t in_len = frame_build(input, sizeof(input), in), want_len;
	struct run_result r;
	uint64_t before = stat_idx >= 0 ? stat_get(stat_idx) : 0;
	bool pass;

	if (truncate_to)
		in_len = truncate_to;
	if (want_backend)
		want_len = expect_dnat(want, sizeof(want), in, want_backend);
	else
		memcpy(want, input, want_len = in_len);
	if (run_prog(prog_fd, input, in_len, &r)) {
		ok(false, "%s: test run failed: %s", desc, strerror(errno));
		return;
	}
	pass = r.verdict == want_verdict && r.out_len == want_len && !memcmp(r.out, want, want_len);
	if (stat_idx >= 0 && stat_get(stat_idx) != before + 1) {
		pass = false;
		printf("#   counter %s: expected %llu, got %llu\n", ilb_stat_name(stat_idx),
		       (unsigned long long)before + 1, (unsigned long long)stat_get(stat_idx));
	}
	ok(pass, "%s", desc);
	if (!pass) {
		printf("#   verdict: expected %s, got %s\n", verdict_name(want_verdict), verdict_name(r.verdict));
		hexdump("input", input, in_len);
		hexdump("expected", want, want_len);
		hexdump("actual", r.out, r.out_len);
	}
}

static struct backend make_backend(int id, uint32_t score, int state, int pool)
{
	struct backend b = { .state = state, .port = htons(8000), .ifindex = 1, .load_score = score, .pool_id = pool };
	bool v6 = strchr(backend_ip[id], ':') != NULL;

	b.family = v6 ? ILB_AF_INET6 : ILB_AF_INET;
	inet_pton(v6 ? AF_INET6 : AF_INET, backend_ip[id], b.addr);
	memcpy(b.dst_mac, pod_mac, 6);
	b.dst_mac[5] = 0x10 + id;
	memcpy(b.src_mac, node_mac, 6);
	return b;
}

static int set_vip(const char *addr, uint16_t port, int proto, int pool)
{
	struct vip_key k = { .proto = proto, .port = htons(port) };
	struct vip_value v = { .pool_id = pool, .lane = ILB_LANE_L4 };
	bool v6 = strchr(addr, ':') != NULL;

	k.family = v6 ? ILB_AF_INET6 : ILB_AF_INET;
	inet_pton(v6 ? AF_INET6 : AF_INET, addr, k.addr);
	return ilb_maps_vip_set(&maps, &k, &v);
}

static uint32_t ring[ILB_MAGLEV_SIZE];

static int publish(int pool, const uint32_t *ready, int n_ready, const uint32_t *ring_ids, int n_ring)
{
	struct ilb_maglev_backend mb[8];

	for (int i = 0; i < n_ring; i++)
		mb[i] = (struct ilb_maglev_backend){ .id = ring_ids[i], .identity = backend_ip[ring_ids[i]] };
	ilb_maglev_build(mb, n_ring, ring);
	return ilb_maps_pool_publish(&maps, pool, 0, ready, n_ready, ring);
}

static int setup(void)
{
	int err = 0;

	for (int id = 1; id <= 6; id++) {
		int pool = id <= 2 ? POOL_MAIN : id == 3 ? POOL_V6 : POOL_DRAIN;
		int state = id == 4 ? ILB_BACKEND_DRAINING : ILB_BACKEND_READY;
		struct backend b = make_backend(id, id == 2 ? 500000 : 0, state, pool);

		if (id == 5)
			b.load_score = 900000;
		if (id == 6)
			memset(b.dst_mac, 0, 6); /* next hop not resolved */
		err = err ?: ilb_maps_backend_set(&maps, id, &b);
	}
	err = err ?: publish(POOL_MAIN, (uint32_t[]){ 1, 2 }, 2, (uint32_t[]){ 1, 2 }, 2);
	err = err ?: publish(POOL_EMPTY, NULL, 0, NULL, 0);
	err = err ?: publish(POOL_V6, (uint32_t[]){ 3 }, 1, (uint32_t[]){ 3 }, 1);
	/* Backend 4 drains: it stays in the ring for its flows but leaves the ready set. */
	err = err ?: publish(POOL_DRAIN, (uint32_t[]){ 5 }, 1, (uint32_t[]){ 4, 5 }, 2);
	err = err ?: set_vip(VIP4, 80, IPPROTO_TCP, POOL_MAIN);
	err = err ?: set_vip(VIP4, 53, IPPROTO_UDP, POOL_MAIN);
	err = err ?: set_vip(VIP4_EMPTY, 80, IPPROTO_TCP, POOL_EMPTY);
	err = err ?: set_vip(VIP4_DRAIN, 80, IPPROTO_TCP, POOL_DRAIN);
	err = err ?: set_vip(VIP6, 80, IPPROTO_TCP, POOL_V6);
	return err;
}

static int send_and_pick(const struct frame_spec *s, struct run_result *r)
{
	uint8_t buf[512];
	size_t len = frame_build(buf, sizeof(buf), s);

	if (run_prog(prog_fd, buf, len, r) || (r->verdict != XDP_TX && r->verdict != XDP_REDIRECT))
		return 0;
	return output_backend(r, s->family, s->vlan);
}

/* Sends n SYNs to vip:80 from source ports first_port.. and counts them by backend (0: none). */
static void count_syns(const char *vip, uint16_t first_port, int n, int counts[8])
{
	struct frame_spec s;
	struct run_result r;

	memset(counts, 0, 8 * sizeof(counts[0]));
	for (int i = 0; i < n; i++) {
		spec_init(&s, 4, vip, first_port + i, 80, 0x02);
		counts[send_and_pick(&s, &r)]++;
	}
}

static void test_p2c(void)
{
	int counts[8];

	count_syns(VIP4, 10000, 64, counts);
	ok(counts[1] == 64, "64 SYNs go to the less loaded of two backends (expected 64 on backend 1, got %d/%d)",
	   counts[1], counts[2]);

	/* Equal load: the Maglev candidate wins, so both backends get flows. */
	struct backend b2 = make_backend(2, 0, ILB_BACKEND_READY, POOL_MAIN);
	ilb_maps_backend_set(&maps, 2, &b2);
	count_syns(VIP4, 11000, 200, counts);
	ok(counts[1] > 50 && counts[2] > 50, "equal load spreads new flows (backend 1: %d, backend 2: %d of 200)",
	   counts[1], counts[2]);
	b2.load_score = 500000;
	ilb_maps_backend_set(&maps, 2, &b2);
}

static void test_conntrack_and_close(void)
{
	struct frame_spec s;
	int64_t before, after_syn, after_fin, after_more;

	before = ilb_maps_backend_active(&maps, 1);
	spec_init(&s, 4, VIP4, 12000, 80, 0x02);
	fixture("SYN to a VIP is DNATed to backend 1 with valid checksums", &s, 0, XDP_TX, 1, ILB_STAT_NEW_FLOW);
	after_syn = ilb_maps_backend_active(&maps, 1);
	ok(after_syn == before + 1, "a SYN counts one active connection (expected %lld, got %lld)",
	   (long long)before + 1, (long long)after_syn);

	/* Make backend 2 the cheaper one: the known flow must not move. */
	struct backend b1 = make_backend(1, 900000, ILB_BACKEND_READY, POOL_MAIN);
	ilb_maps_backend_set(&maps, 1, &b1);
	spec_init(&s, 4, VIP4, 12000, 80, 0x10);
	s.payload = 100;
	fixture("a known flow follows its conntrack entry after the loads change", &s, 0, XDP_TX, 1,
		ILB_STAT_CONNTRACK_HIT);
	b1.load_score = 0;
	ilb_maps_backend_set(&maps, 1, &b1);

	spec_init(&s, 4, VIP4, 12000, 80, 0x11);
	fixture("FIN of a known flow is forwarded", &s, 0, XDP_TX, 1, ILB_STAT_FLOW_CLOSED);
	after_fin = ilb_maps_backend_active(&maps, 1);
	ok(after_fin == after_syn - 1, "FIN releases the active connection (expected %lld, got %lld)",
	   (long long)after_syn - 1, (long long)after_fin);
	fixture("a second FIN is forwarded", &s, 0, XDP_TX, 1, ILB_STAT_CONNTRACK_HIT);
	spec_init(&s, 4, VIP4, 12000, 80, 0x04);
	fixture("RST after FIN is forwarded", &s, 0, XDP_TX, 1, ILB_STAT_CONNTRACK_HIT);
	after_more = ilb_maps_backend_active(&maps, 1);
	ok(after_more == after_fin, "FIN then FIN then RST release it exactly once (expected %lld, got %lld)",
	   (long long)after_fin, (long long)after_more);
}

static void test_passes(void)
{
	struct frame_spec s;

	spec_init(&s, 4, "10.0.0.99", 13000, 80, 0x02);
	fixture("a frame to an address that is no VIP passes unchanged", &s, 0, XDP_PASS, 0, ILB_STAT_PASS_NOT_VIP);
	spec_init(&s, 4, VIP4, 13000, 81, 0x02);
	fixture("a frame to a VIP address on another port passes unchanged", &s, 0, XDP_PASS, 0,
		ILB_STAT_PASS_NOT_VIP);
	spec_init(&s, 4, VIP4, 13000, 80, 0x02);
	s.proto = 1; /* ICMP */
	fixture("ICMP to a VIP address passes unchanged", &s, 0, XDP_PASS, 0, ILB_STAT_PASS_NOT_VIP);
}

static void test_malformed(void)
{
	struct frame_spec s;
	uint8_t arp[60] = { 0 };
	struct run_result r;

	spec_init(&s, 4, VIP4, 14000, 80, 0x02);
	s.vlan = true;
	fixture("a truncated VLAN tag passes (truncated)", &s, 14 + 2, XDP_PASS, 0, ILB_STAT_PASS_TRUNCATED);
	s.vlan = false;
	fixture("a truncated IPv4 header passes (truncated)", &s, 14 + 12, XDP_PASS, 0, ILB_STAT_PASS_TRUNCATED);
	fixture("a truncated TCP header to a VIP is dropped", &s, 14 + 20 + 10, XDP_DROP, 0, ILB_STAT_DROP_TRUNCATED);
	s.ihl_override = 3;
	fixture("IHL < 5 to a VIP address is dropped", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_BAD_IHL);
	s.ihl_override = 15;
	s.payload = 0;
	fixture("IHL past the frame to a VIP address is dropped", &s, 14 + 20 + 20, XDP_DROP, 0,
		ILB_STAT_DROP_BAD_IHL);
	spec_init(&s, 4, VIP4, 14001, 80, 0x02);
	s.ip_option_words = 2;
	fixture("IPv4 options are skipped and the SYN is steered", &s, 0, XDP_TX, 1, ILB_STAT_IPV4_OPTIONS);
	spec_init(&s, 4, VIP4, 14002, 80, 0x02);
	s.fragment = true;
	fixture("an IPv4 fragment to a VIP address is dropped", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_FRAGMENT);
	spec_init(&s, 4, "10.0.0.99", 14002, 80, 0x02);
	s.fragment = true;
	fixture("an IPv4 fragment to another address passes", &s, 0, XDP_PASS, 0, ILB_STAT_PASS_NOT_VIP);
	spec_init(&s, 6, VIP6, 14003, 80, 0x02);
	s.ipv6_ext = true;
	fixture("an IPv6 extension header to a VIP address is dropped", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_IPV6_EXT);
	spec_init(&s, 6, VIP6, 14004, 80, 0x02);
	s.fragment = true;
	fixture("an IPv6 fragment to a VIP address is dropped", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_FRAGMENT);
	spec_init(&s, 4, VIP4, 14005, 80, 0x02);
	s.vlan = true;
	fixture("a VLAN-tagged SYN is steered with its tag kept", &s, 0, XDP_TX, 1, ILB_STAT_NEW_FLOW);

	memcpy(arp, node_mac, 6);
	arp[12] = 0x08, arp[13] = 0x06;
	uint64_t before = stat_get(ILB_STAT_PASS_NOT_IP);
	run_prog(prog_fd, arp, sizeof(arp), &r);
	ok(r.verdict == XDP_PASS && !memcmp(r.out, arp, sizeof(arp)) && stat_get(ILB_STAT_PASS_NOT_IP) == before + 1,
	   "ARP passes unchanged and is counted (verdict %s)", verdict_name(r.verdict));
}

static void test_ipv6_udp(void)
{
	struct frame_spec s;

	spec_init(&s, 6, VIP6, 15000, 80, 0x02);
	s.payload = 33;
	fixture("an IPv6 SYN is DNATed with a valid TCP checksum", &s, 0, XDP_TX, 3, ILB_STAT_NEW_FLOW);
	spec_init(&s, 4, VIP4, 15001, 53, 0);
	s.proto = IPPROTO_UDP;
	s.payload = 21;
	fixture("a first UDP datagram picks a backend, checksum updated", &s, 0, XDP_TX, 1, ILB_STAT_NEW_FLOW);
	fixture("the next datagram of the 5-tuple follows conntrack", &s, 0, XDP_TX, 1, ILB_STAT_CONNTRACK_HIT);
	spec_init(&s, 4, VIP4, 15002, 53, 0);
	s.proto = IPPROTO_UDP;
	s.udp_no_csum = true;
	fixture("a UDP datagram without checksum keeps none", &s, 0, XDP_TX, 1, ILB_STAT_NEW_FLOW);
}

static void test_maglev_fallback(void)
{
	struct frame_spec s;
	struct run_result r;
	struct flow_key k = { .family = ILB_AF_INET, .proto = IPPROTO_TCP };
	struct backend b2 = make_backend(2, 0, ILB_BACKEND_READY, POOL_MAIN);
	int first, again, ring_pick;

	ilb_maps_backend_set(&maps, 2, &b2); /* equal load: P2C keeps the Maglev candidate */
	spec_init(&s, 4, VIP4, 16000, 80, 0x02);
	first = send_and_pick(&s, &r);
	k.sport = htons(16000);
	k.dport = htons(80);
	inet_pton(AF_INET, CLIENT4, k.saddr);
	inet_pton(AF_INET, VIP4, k.daddr);
	ok(bpf_map_delete_elem(maps.conntrack, &k) == 0, "the flow's conntrack entry is deleted");
	ilb_maps_pool_ring(&maps, POOL_MAIN, ring);
	ring_pick = ring[ilb_flow_hash(k.saddr, k.sport, k.dport, k.proto) % ILB_MAGLEV_SIZE];

	spec_init(&s, 4, VIP4, 16000, 80, 0x10);
	uint64_t before = stat_get(ILB_STAT_MAGLEV_FALLBACK);
	again = send_and_pick(&s, &r);
	ok(again == ring_pick && stat_get(ILB_STAT_MAGLEV_FALLBACK) == before + 1,
	   "an ACK without conntrack goes to its Maglev slot (expected backend %d, got %d)", ring_pick, again);
	ok(again == first, "the flow keeps its pod across the lost entry (expected %d, got %d)", first, again);
	ok(bpf_map_lookup_elem(maps.conntrack, &k, &(struct flow_value){ 0 }) == 0,
	   "the fallback writes the entry again");
	b2.load_score = 500000;
	ilb_maps_backend_set(&maps, 2, &b2);
}

static void test_drain_and_empty(void)
{
	struct frame_spec s;
	int counts[8];

	count_syns(VIP4_DRAIN, 17000, 100, counts);
	ok(counts[4] == 0 && counts[5] == 100,
	   "a draining backend gets no SYN even when idle (expected 0/100, got %d/%d)", counts[4], counts[5]);

	/* A stale slot naming a draining backend is skipped by the state check. */
	publish(POOL_DRAIN, (uint32_t[]){ 4, 5 }, 2, (uint32_t[]){ 4, 5 }, 2);
	count_syns(VIP4_DRAIN, 17200, 100, counts);
	ok(counts[4] == 0 && counts[5] == 100, "a draining backend in the ready set is still skipped (got %d/%d)",
	   counts[4], counts[5]);

	spec_init(&s, 4, VIP4_EMPTY, 17500, 80, 0x02);
	fixture("a pool with no ready backend drops the SYN, counted", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_NO_BACKEND);

	/* Backend 6 has no resolved next hop. */
	publish(POOL_DRAIN, (uint32_t[]){ 6 }, 1, (uint32_t[]){ 6 }, 1);
	spec_init(&s, 4, VIP4_DRAIN, 17600, 80, 0x02);
	fixture("a backend without a resolved next hop drops, counted", &s, 0, XDP_DROP, 0, ILB_STAT_DROP_NO_NEIGH);
}

static void test_reverse_nat(void)
{
	struct frame_spec syn, reply, want;
	uint8_t in[512], exp[512];
	struct run_result r;
	size_t in_len, exp_len;
	int backend;
	int64_t active_before;

	spec_init(&syn, 4, VIP4, 18000, 80, 0x02);
	backend = send_and_pick(&syn, &r);
	active_before = ilb_maps_backend_active(&maps, backend);

	memset(&reply, 0, sizeof(reply));
	reply.family = 4;
	reply.proto = IPPROTO_TCP;
	reply.src = backend_ip[backend];
	reply.dst = CLIENT4;
	reply.sport = 8000;
	reply.dport = 18000;
	reply.tcp_flags = 0x12;
	reply.payload = 40;
	memcpy(reply.src_mac, pod_mac, 6);
	memcpy(reply.dst_mac, node_mac, 6);
	want = reply;
	want.src = VIP4;
	want.sport = 80;
	in_len = frame_build(in, sizeof(in), &reply);
	exp_len = frame_build(exp, sizeof(exp), &want);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = in_len, .data_out = r.out,
		    .data_size_out = sizeof(r.out), .repeat = 1);
	int err = bpf_prog_test_run_opts(tc_fd, &opts);
	bool pass = !err && opts.data_size_out == exp_len && !memcmp(r.out, exp, exp_len);

	ok(pass, "a reply from the pod leaves with the VIP as source and valid checksums");
	if (!pass) {
		hexdump("input", in, in_len);
		hexdump("expected", exp, exp_len);
		hexdump("actual", r.out, opts.data_size_out);
	}

	reply.tcp_flags = 0x11; /* FIN from the pod */
	in_len = frame_build(in, sizeof(in), &reply);
	for (int i = 0; i < 2; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, fin, .data_in = in, .data_size_in = in_len, .data_out = r.out,
			    .data_size_out = sizeof(r.out), .repeat = 1);
		bpf_prog_test_run_opts(tc_fd, &fin);
	}
	ok(ilb_maps_backend_active(&maps, backend) == active_before - 1,
	   "two FINs from the pod release the connection once (expected %lld, got %lld)",
	   (long long)active_before - 1, (long long)ilb_maps_backend_active(&maps, backend));

	reply.src = "10.1.0.77"; /* not a known flow */
	reply.tcp_flags = 0x10;
	in_len = frame_build(in, sizeof(in), &reply);
	LIBBPF_OPTS(bpf_test_run_opts, other, .data_in = in, .data_size_in = in_len, .data_out = r.out,
		    .data_size_out = sizeof(r.out), .repeat = 1);
	bpf_prog_test_run_opts(tc_fd, &other);
	ok(other.data_size_out == in_len && !memcmp(r.out, in, in_len), "traffic that is no reply leaves untouched");
}

enum flow_mode {
	FLOW_SAME, /* the same packet every run */
	FLOW_REUSED, /* the same SYN, its previous connection closed between runs (not timed) */
	FLOW_DISTINCT, /* a new 5-tuple every run: a conntrack insert on cold memory */
};

/* Marks the flow's forward entry closed, as its FIN would: its next SYN picks anew. */
static void close_flow(const struct frame_spec *s)
{
	struct flow_key k = { .family = 4, .proto = IPPROTO_TCP, .sport = htons(s->sport), .dport = htons(s->dport) };
	struct flow_value v;
	int fd = bpf_map__fd(maps.skel->maps.conntrack);

	inet_pton(AF_INET, s->src, k.saddr);
	inet_pton(AF_INET, s->dst, k.daddr);
	if (!bpf_map_lookup_elem(fd, &k, &v)) {
		v.flags |= ILB_FLOW_CLOSED;
		bpf_map_update_elem(fd, &k, &v, BPF_EXIST);
	}
}

/* Mean kernel-reported ns over `runs` single runs. */
static double measure(int fd, const struct frame_spec *base, int runs, enum flow_mode mode)
{
	struct frame_spec s = *base;
	uint8_t buf[512];
	struct run_result r;
	size_t len = frame_build(buf, sizeof(buf), &s);
	double total = 0;

	for (int i = 0; i < runs; i++) {
		if (mode == FLOW_DISTINCT) {
			s.sport = 1024 + (i % 60000);
			s.src = (i / 60000) % 2 ? "10.9.0.2" : CLIENT4;
			len = frame_build(buf, sizeof(buf), &s);
		}
		if (run_prog(fd, buf, len, &r))
			return -1;
		total += r.duration;
		if (mode == FLOW_REUSED)
			close_flow(&s);
	}
	return total / runs;
}

static int bench(int runs)
{
	struct xdp_floor *floor = xdp_floor__open_and_load();
	struct frame_spec syn, known, reused;
	double t_floor, t_syn, t_known, t_reused, t_floor2;

	if (!floor) {
		fprintf(stderr, "loading xdp_floor: %s\n", strerror(errno));
		return 1;
	}
	spec_init(&syn, 4, VIP4, 0, 80, 0x02);
	spec_init(&known, 4, VIP4, 40000, 80, 0x10);
	known.payload = 64;
	/* Establish the known flow once. */
	struct frame_spec first = known;
	first.tcp_flags = 0x02;
	struct run_result r;
	uint8_t buf[512];
	run_prog(prog_fd, buf, frame_build(buf, sizeof(buf), &first), &r);

	spec_init(&reused, 4, VIP4, 41000, 80, 0x02);
	t_floor = measure(bpf_program__fd(floor->progs.xdp_floor), &syn, runs, FLOW_SAME);
	t_known = measure(prog_fd, &known, runs, FLOW_SAME);
	t_reused = measure(prog_fd, &reused, runs, FLOW_REUSED);
	t_syn = measure(prog_fd, &syn, runs, FLOW_DISTINCT);
	t_floor2 = measure(bpf_program__fd(floor->progs.xdp_floor), &known, runs, FLOW_SAME);
	t_floor = (t_floor + t_floor2) / 2;
	printf("XDP fast path, BPF_PROG_TEST_RUN, repeat=1 x %d runs each, mean kernel-reported ns\n", runs);
	printf("%-44s %10s %10s %8s\n", "case", "ns/packet", "x floor", "goal");
	printf("%-44s %10.1f %10.2f %8s\n", "parse-and-pass floor", t_floor, 1.0, "-");
	printf("%-44s %10.1f %10.2f %8s\n", "known flow (conntrack hit)", t_known, t_known / t_floor, "<= 2.5");
	printf("%-44s %10.1f %10.2f %8s\n", "SYN, same 5-tuple, previous conn. closed", t_reused, t_reused / t_floor,
	       "<= 3.2");
	printf("%-44s %10.1f %10.2f %8s\n", "SYN, a new 5-tuple every run (cold insert)", t_syn, t_syn / t_floor, "-");
	printf("{\"floor_ns\":%.1f,\"known_ns\":%.1f,\"syn_reused_ns\":%.1f,\"syn_ns\":%.1f,\"known_ratio\":%.3f,"
	       "\"syn_reused_ratio\":%.3f,\"syn_ratio\":%.3f,\"runs\":%d}\n",
	       t_floor, t_known, t_reused, t_syn, t_known / t_floor, t_reused / t_floor, t_syn / t_floor, runs);
	xdp_floor__destroy(floor);
	return 0;
}

int main(int argc, char **argv)
{
	char pin_dir[128];
	int err, rc = 1;
	bool bench_mode = argc > 1 && !strcmp(argv[1], "--bench");

	if (!getenv("ILB_TEST_VERBOSE"))
		libbpf_set_print(NULL);
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/inferlb-test-%d", getpid());
	err = ilb_maps_open(&maps, pin_dir);
	if (err) {
		printf("not ok 1 - loading xdp_steer and its maps: %s\n", strerror(-err));
		goto out;
	}
	prog_fd = bpf_program__fd(maps.skel->progs.xdp_steer);
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	rnat = tc_reverse_nat__open_opts(&opts);
	if (!rnat || tc_reverse_nat__load(rnat)) {
		printf("not ok 1 - loading tc_reverse_nat: %s\n", strerror(errno));
		goto out;
	}
	tc_fd = bpf_program__fd(rnat->progs.tc_reverse_nat);
	err = setup();
	if (err) {
		printf("not ok 1 - writing the maps: %s\n", strerror(-err));
		goto out;
	}
	if (bench_mode) {
		rc = bench(argc > 2 ? atoi(argv[2]) : 200000);
		goto out;
	}
	test_p2c();
	test_conntrack_and_close();
	test_passes();
	test_malformed();
	test_ipv6_udp();
	test_maglev_fallback();
	test_drain_and_empty();
	test_reverse_nat();
	tap_summary();
	rc = test_failed ? 1 : 0;
out:
	tc_reverse_nat__destroy(rnat);
	ilb_maps_close(&maps);
	ilb_maps_unpin(pin_dir);
	return rc;
}
