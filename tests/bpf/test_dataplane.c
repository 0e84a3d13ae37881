// SPDX-License-Identifier: BSD-2-Clause
/* BPF fixture tests: crafted frames through both ingress entry points and the egress entry
 * point with BPF_PROG_TEST_RUN, against a data path loaded into a private pin root.
 * Every rewrite is checked by recomputing checksums from scratch. Needs root. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <arpa/inet.h>
#include "bpfsplit.h"
#include "bpfsplit/flow_hash.h"
#include "log.h"
#include "pktgen.h"
#include "tables.h"

#define FE4 "10.96.0.10"
#define FE6 "fd00:96::10"
#define CLIENT4 "10.200.0.2"
#define CLIENT6 "fd00:200::2"

static const char *const stable4[] = { "10.201.1.2", "10.201.2.2", "10.201.3.2" };
static const char *const canary4[] = { "10.201.4.2" };
static const char *const stable6[] = { "fd00:201:1::2", "fd00:201:2::2", "fd00:201:3::2" };
static const char *const canary6[] = { "fd00:201:4::2" };

static struct bs_dp *dp;
static char pin_root[64];
static uint16_t next_port = 20000;

/* ---- data path set-up ---- */

struct group_def {
	const char *name;
	__u32 weight;
	const char *const *addrs;
	int n;
	__u16 port;
	const char *draining; /* one address of addrs in state draining, or NULL */
};

static void apply_groups(const char *frontend, __u8 affinity, const struct group_def *g, int n_groups)
{
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec be[BS_MAX_GROUPS][8];
	char err[256];

	assert_int_equal(bs_frontend_key_parse(frontend, &spec.key), 0);
	spec.affinity = affinity;
	spec.n_groups = n_groups;
	for (int i = 0; i < n_groups; i++) {
		snprintf(spec.groups[i].name, sizeof(spec.groups[i].name), "%s", g[i].name);
		spec.groups[i].weight = g[i].weight;
		spec.groups[i].backends = be[i];
		spec.groups[i].n_backends = g[i].n;
		for (int b = 0; b < g[i].n; b++) {
			char ep[80];

			snprintf(ep, sizeof(ep), strchr(g[i].addrs[b], ':') ? "[%s]:%u" : "%s:%u", g[i].addrs[b], g[i].port);
			assert_int_equal(bs_endpoint_parse(ep, be[i][b].addr, &be[i][b].port, &be[i][b].family), 0);
			be[i][b].state = g[i].draining && !strcmp(g[i].draining, g[i].addrs[b]) ? BS_BACKEND_DRAINING
												  : BS_BACKEND_READY;
		}
	}
	if (bs_dp_apply(dp, &spec, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		fail();
	}
}

/* The usual split: stable (3 backends) and canary (1), on IPv4 or IPv6, TCP or UDP. */
static void split(int ipv, const char *proto, __u32 w_stable, __u32 w_canary, __u8 affinity)
{
	char fe[64];
	struct group_def g[2] = {
		{ "default/rollouts-demo-stable", w_stable, ipv == 4 ? stable4 : stable6, 3, 8080, NULL },
		{ "default/rollouts-demo-canary", w_canary, ipv == 4 ? canary4 : canary6, 1, 8080, NULL },
	};

	/* TCP frontends on port 80, UDP ones on 53. */
	snprintf(fe, sizeof(fe), ipv == 4 ? "%s:%d/%s" : "[%s]:%d/%s", ipv == 4 ? FE4 : FE6,
		 strcmp(proto, "udp") ? 80 : 53, proto);
	apply_groups(fe, affinity, g, 2);
}

static int setup_all(void **state)
{
	struct bs_dp_opts o = { .max_conns = 65536, .max_frontends = 1024, .max_backends = 1024, .max_tables = 1024 };

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-test-%d", getpid());
	o.pin_root = pin_root;
	if (bs_dp_open(&o, &dp)) {
		fprintf(stderr, "cannot load the data path (root and bpffs needed)\n");
		return -1;
	}
	return 0;
}

static int teardown_all(void **state)
{
	bs_dp_close(dp);
	return bs_dp_unpin_all(pin_root);
}

/* ---- running frames ---- */

struct result {
	int verdict;
	uint8_t out[PKT_MAX];
	__u32 out_len;
	struct pkt_view v;
	bool parsed;
};

static void run_frame(enum bs_entry entry, const uint8_t *in, size_t len, struct result *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = r->out,
		    .data_size_out = sizeof(r->out), .repeat = 1);
	int err = bpf_prog_test_run_opts(bs_dp_prog_fd(dp, entry), &opts);

	if (err)
		fprintf(stderr, "test run of %zu bytes on %s: %s\n", len, bs_entry_name(entry), strerror(-err));
	assert_int_equal(err, 0);
	r->verdict = opts.retval;
	r->out_len = opts.data_size_out;
	r->parsed = pkt_view(r->out, r->out_len, &r->v);
}

static void run(enum bs_entry entry, const struct pkt_spec *s, struct result *r)
{
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(s, in);

	assert_true(len > 0);
	run_frame(entry, in, len, r);
}

static int pass_verdict(enum bs_entry e)
{
	return e == BS_ENTRY_XDP ? XDP_PASS : TC_ACT_OK;
}

static struct pkt_spec syn(int ipv, uint16_t sport, uint32_t seq)
{
	struct pkt_spec s = { .ipv = ipv, .src = ipv == 4 ? CLIENT4 : CLIENT6, .dst = ipv == 4 ? FE4 : FE6,
			      .sport = sport, .dport = 80, .proto = 6, .tcp_flags = 0x02, .seq = seq,
			      .tcp_opt_len = 20 };
	return s;
}

static bool in_list(const char *addr, const char *const *list, int n)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(addr, list[i]))
			return true;
	return false;
}

/* Which group a forwarded frame went to: 0 stable, 1 canary, -1 neither. */
static int group_of(const struct result *r)
{
	if (r->v.ipv == 4)
		return in_list(r->v.dst, stable4, 3) ? 0 : in_list(r->v.dst, canary4, 1) ? 1 : -1;
	return in_list(r->v.dst, stable6, 3) ? 0 : in_list(r->v.dst, canary6, 1) ? 1 : -1;
}

/* A forwarded frame: destination rewritten to a backend :8080, source untouched, checksums
 * that verify from scratch (or, for seed input on tc, a correct seed). */
static void assert_forwarded(enum bs_entry e, const struct pkt_spec *in, const struct result *r, bool seed)
{
	assert_int_equal(r->verdict, pass_verdict(e));
	assert_true(r->parsed);
	assert_int_equal(r->v.dport, 8080);
	assert_int_equal(r->v.sport, in->sport);
	assert_string_equal(r->v.src, in->src);
	assert_true(group_of(r) >= 0);
	assert_true(r->v.ip_csum_ok);
	if (seed)
		assert_true(r->v.l4_seed_ok);
	else if (!(in->proto == 17 && in->csum == PKT_CSUM_NONE))
		assert_true(r->v.l4_csum_ok);
}

static void assert_unchanged(enum bs_entry e, const uint8_t *in, size_t len, const struct result *r)
{
	assert_int_equal(r->verdict, pass_verdict(e));
	assert_int_equal(r->out_len, len);
	assert_memory_equal(r->out, in, len);
}

static const enum bs_entry ingress[] = { BS_ENTRY_XDP, BS_ENTRY_TC_INGRESS };

/* ---- cases ---- */

static void syn_is_rewritten_to_the_right_group(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		for (int i = 0; i < 2; i++) {
			struct result r;
			struct pkt_spec s;

			split(ipv, "tcp", 100, 0, BS_AFFINITY_CONNECTION);
			for (int k = 0; k < 20; k++) {
				s = syn(ipv, next_port++, 1000 + k);
				run(ingress[i], &s, &r);
				assert_forwarded(ingress[i], &s, &r, false);
				assert_int_equal(group_of(&r), 0);
			}
			split(ipv, "tcp", 0, 100, BS_AFFINITY_CONNECTION);
			for (int k = 0; k < 20; k++) {
				s = syn(ipv, next_port++, 2000 + k);
				run(ingress[i], &s, &r);
				assert_forwarded(ingress[i], &s, &r, false);
				assert_int_equal(group_of(&r), 1);
			}
		}
	}
}

/* The group the data path must pick for this packet's flow at (w_stable, w_canary):
 * the shared flow hash with the key in force, then the weight thresholds. */
static int predicted_group(const struct pkt_spec *s, __u32 w_stable, __u32 w_canary, __u8 affinity)
{
	int af = s->ipv == 4 ? AF_INET : AF_INET6;
	__u32 weights[2] = { w_stable, w_canary };
	__u64 thresholds[BS_MAX_GROUPS] = {};
	struct bs_settings settings;
	struct bs_flow_key k = {};

	assert_int_equal(bs_dp_get_settings(dp, &settings), 0);
	k.family = s->ipv == 4 ? BS_AF_INET : BS_AF_INET6;
	assert_int_equal(inet_pton(af, s->src, k.saddr), 1);
	assert_int_equal(inet_pton(af, s->dst, k.daddr), 1);
	k.sport = htons(s->sport);
	k.dport = htons(s->dport);
	k.proto = s->proto;
	assert_int_equal(bs_thresholds(weights, 2, thresholds), 0);
	return (int)bs_group_of_hash(thresholds, 2, bs_flow_hash(&k, affinity, settings.hash_key));
}

static void split_follows_weights(void **state)
{
	/* 2000 SYNs at 70/30 from two clients: each lands in exactly the group that the
	 * shared flow hash and thresholds predict for its flow. */
	for (int i = 0; i < 2; i++) {
		int per_group[2] = {};
		struct result r;

		split(4, "tcp", 70, 30, BS_AFFINITY_CONNECTION);
		for (int k = 0; k < 2000; k++) {
			struct pkt_spec s = syn(4, (uint16_t)(10000 + k), 7);
			int want;

			s.src = k % 2 ? "10.200.0.3" : "10.200.0.4";
			want = predicted_group(&s, 70, 30, BS_AFFINITY_CONNECTION);
			run(ingress[i], &s, &r);
			assert_forwarded(ingress[i], &s, &r, false);
			assert_int_equal(group_of(&r), want);
			per_group[want]++;
		}
		/* The inputs are fixed, so this holds on every run; it guards the test itself. */
		assert_true(per_group[0] > 0 && per_group[1] > 0);
	}
}

static void later_packets_follow_the_record(void **state)
{
	for (int i = 0; i < 2; i++) {
		struct result r1, r2;
		struct pkt_spec s = syn(4, next_port++, 5000);

		split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r1);
		assert_forwarded(ingress[i], &s, &r1, false);
		/* Flip the weights both ways: the ACK keeps the SYN's backend. */
		split(4, "tcp", group_of(&r1) == 0 ? 0 : 100, group_of(&r1) == 0 ? 100 : 0, BS_AFFINITY_CONNECTION);
		s.tcp_flags = 0x10;
		s.seq = 5001;
		s.tcp_opt_len = 0;
		s.payload_len = 100;
		run(ingress[i], &s, &r2);
		assert_forwarded(ingress[i], &s, &r2, false);
		assert_string_equal(r2.v.dst, r1.v.dst);
	}
}

static void new_syn_on_reused_tuple_follows_new_weights(void **state)
{
	for (int i = 0; i < 2; i++) {
		uint16_t port = next_port++;
		struct pkt_spec s = syn(4, port, 100);
		struct result r;

		split(4, "tcp", 100, 0, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r);
		assert_int_equal(group_of(&r), 0);
		split(4, "tcp", 0, 100, BS_AFFINITY_CONNECTION);
		s.seq = 999999; /* a new connection on the same 5-tuple */
		run(ingress[i], &s, &r);
		assert_forwarded(ingress[i], &s, &r, false);
		assert_int_equal(group_of(&r), 1);
	}
}

static void retransmitted_syn_follows_its_record(void **state)
{
	for (int i = 0; i < 2; i++) {
		struct pkt_spec s = syn(4, next_port++, 4242);
		struct result r;

		split(4, "tcp", 100, 0, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r);
		assert_int_equal(group_of(&r), 0);
		split(4, "tcp", 0, 100, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r); /* same sequence number */
		assert_forwarded(ingress[i], &s, &r, false);
		assert_int_equal(group_of(&r), 0);
		/* ...even when new connections would now be refused. */
		split(4, "tcp", 0, 0, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r);
		assert_forwarded(ingress[i], &s, &r, false);
		assert_int_equal(group_of(&r), 0);
	}
}

static void untracked_packet_goes_where_its_syn_went(void **state)
{
	int fd = bs_dp_map_fd(dp, "bs_conns");

	for (int i = 0; i < 2; i++) {
		struct pkt_spec s = syn(4, next_port++, 77);
		struct bs_flow_key k = {};
		struct result r1, r2;

		split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r1);
		/* Lose the record, as an evicted or full table would. */
		inet_pton(AF_INET, CLIENT4, k.saddr);
		inet_pton(AF_INET, FE4, k.daddr);
		k.sport = htons(s.sport);
		k.dport = htons(80);
		k.family = BS_AF_INET;
		k.proto = 6;
		assert_int_equal(bpf_map_delete_elem(fd, &k), 0);
		s.tcp_flags = 0x10;
		s.tcp_opt_len = 0;
		run(ingress[i], &s, &r2);
		assert_forwarded(ingress[i], &s, &r2, false);
		assert_string_equal(r2.v.dst, r1.v.dst);
	}
}

static void reply_is_rewritten_back(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		struct pkt_spec s = syn(ipv, next_port++, 1);
		struct pkt_spec reply;
		struct result r, back;
		char backend[64];

		split(ipv, "tcp", 70, 30, BS_AFFINITY_CONNECTION);
		run(BS_ENTRY_TC_INGRESS, &s, &r);
		snprintf(backend, sizeof(backend), "%s", r.v.dst);
		reply = (struct pkt_spec){ .ipv = ipv, .src = backend, .dst = s.src, .sport = 8080, .dport = s.sport,
					   .proto = 6, .tcp_flags = 0x12, .seq = 9, .ack = 2, .tcp_opt_len = 20 };
		run(BS_ENTRY_TC_EGRESS, &reply, &back);
		assert_int_equal(back.verdict, TC_ACT_OK);
		assert_string_equal(back.v.src, ipv == 4 ? FE4 : FE6);
		assert_int_equal(back.v.sport, 80);
		assert_string_equal(back.v.dst, s.src);
		assert_int_equal(back.v.dport, s.sport);
		assert_true(back.v.ip_csum_ok);
		assert_true(back.v.l4_csum_ok);
	}
}

static void unknown_reply_passes_unchanged(void **state)
{
	struct pkt_spec s = { .ipv = 4, .src = "10.201.9.9", .dst = CLIENT4, .sport = 8080, .dport = 40000,
			      .proto = 6, .tcp_flags = 0x10 };
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(&s, in);
	struct result r;

	run_frame(BS_ENTRY_TC_EGRESS, in, len, &r);
	assert_unchanged(BS_ENTRY_TC_EGRESS, in, len, &r);
}

static void udp_with_and_without_checksum(void **state)
{
	for (int i = 0; i < 2; i++) {
		for (int ipv = 4; ipv <= 6; ipv += 2) {
			struct pkt_spec s = { .ipv = ipv, .src = ipv == 4 ? CLIENT4 : CLIENT6, .dst = ipv == 4 ? FE4 : FE6,
					      .sport = next_port++, .dport = 53, .proto = 17, .payload_len = 33 };
			struct result r;

			split(ipv, "udp", 50, 50, BS_AFFINITY_CONNECTION);
			run(ingress[i], &s, &r);
			assert_forwarded(ingress[i], &s, &r, false);
			if (ipv == 4) {
				s.csum = PKT_CSUM_NONE;
				s.sport = next_port++;
				run(ingress[i], &s, &r);
				assert_forwarded(ingress[i], &s, &r, false);
				assert_int_equal(r.v.l4_csum, 0); /* stays without checksum */
			}
		}
	}
}

static void vlan_and_ip_options(void **state)
{
	for (int i = 0; i < 2; i++) {
		struct pkt_spec s = syn(4, next_port++, 3);
		struct result r;

		split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
		s.vlan = 42;
		run(ingress[i], &s, &r);
		assert_forwarded(ingress[i], &s, &r, false);
		s = syn(4, next_port++, 3);
		s.ip_opt_len = 12;
		run(ingress[i], &s, &r);
		assert_forwarded(ingress[i], &s, &r, false);
		s = syn(6, next_port++, 3);
		s.vlan = 7;
		split(6, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
		run(ingress[i], &s, &r);
		assert_forwarded(ingress[i], &s, &r, false);
	}
}

static void other_traffic_passes_unchanged(void **state)
{
	struct pkt_spec cases[] = {
		/* not a frontend: other address, other port, other protocol's port */
		{ .ipv = 4, .src = CLIENT4, .dst = "10.96.0.11", .sport = 1234, .dport = 80, .proto = 6, .tcp_flags = 2 },
		{ .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = 1234, .dport = 81, .proto = 6, .tcp_flags = 2 },
		{ .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = 1234, .dport = 80, .proto = 17 },
		{ .ipv = 6, .src = CLIENT6, .dst = "fd00:96::11", .sport = 1234, .dport = 80, .proto = 6, .tcp_flags = 2 },
		/* ICMP to the frontend address */
		{ .ipv = 4, .src = CLIENT4, .dst = FE4, .proto = 1 },
		{ .ipv = 6, .src = CLIENT6, .dst = FE6, .proto = 58 },
		/* fragments */
		{ .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = 1234, .dport = 80, .proto = 6, .tcp_flags = 2, .fragment = true },
		{ .ipv = 6, .src = CLIENT6, .dst = FE6, .sport = 1234, .dport = 80, .proto = 6, .tcp_flags = 2, .fragment = true },
	};

	split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	split(6, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	for (int i = 0; i < 2; i++) {
		for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			uint8_t in[PKT_MAX];
			size_t len = pkt_build(&cases[c], in);
			struct result r;

			run_frame(ingress[i], in, len, &r);
			assert_unchanged(ingress[i], in, len, &r);
		}
	}
}

static void truncated_frames_pass_unchanged(void **state)
{
	struct pkt_spec s = syn(4, 1234, 1);
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(&s, in);

	split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	/* Cut inside the Ethernet, IPv4 and TCP headers. The test runner itself refuses
	 * tc frames that cut the IPv4 header; XDP takes them all. */
	for (size_t cut = 14; cut < len - 20 + 8; cut++) {
		struct result r;

		for (int i = 0; i < 2; i++) {
			if (cut < 14 + 20 && ingress[i] == BS_ENTRY_TC_INGRESS)
				continue;
			run_frame(ingress[i], in, cut, &r);
			assert_unchanged(ingress[i], in, cut, &r);
		}
	}
}

static void assert_rst(enum bs_entry e, const struct pkt_spec *s, const struct result *r)
{
	assert_int_equal(r->verdict, e == BS_ENTRY_XDP ? XDP_TX : TC_ACT_REDIRECT);
	assert_true(r->parsed);
	assert_string_equal(r->v.src, s->dst);
	assert_string_equal(r->v.dst, s->src);
	assert_int_equal(r->v.sport, s->dport);
	assert_int_equal(r->v.dport, s->sport);
	assert_int_equal(r->v.tcp_flags, 0x14); /* RST|ACK */
	assert_int_equal(r->v.ack, s->seq + 1);
	assert_int_equal(r->v.seq, 0);
	assert_true(r->v.ip_csum_ok);
	assert_true(r->v.l4_csum_ok);
	assert_int_equal(r->v.len, r->v.l4 + 20);
}

static void no_backend_and_zero_weights_answer_rst(void **state)
{
	struct group_def empty_canary[2] = {
		{ "stable", 0, stable4, 3, 8080, NULL },
		{ "canary", 100, canary4, 0, 8080, NULL },
	};
	struct group_def zero[2] = {
		{ "stable", 0, stable4, 3, 8080, NULL },
		{ "canary", 0, canary4, 1, 8080, NULL },
	};
	__u64 before[BS_R_MAX], after[BS_R_MAX];

	for (int i = 0; i < 2; i++) {
		for (int ipv = 4; ipv <= 6; ipv += 2) {
			struct pkt_spec s = syn(ipv, next_port++, 31337);
			struct result r;
			char fe[64];

			empty_canary[0].addrs = zero[0].addrs = ipv == 4 ? stable4 : stable6;
			empty_canary[1].addrs = zero[1].addrs = ipv == 4 ? canary4 : canary6;
			snprintf(fe, sizeof(fe), ipv == 4 ? "%s:80/tcp" : "[%s]:80/tcp", ipv == 4 ? FE4 : FE6);

			bs_dp_reason_counters(dp, before);
			apply_groups(fe, 0, empty_canary, 2);
			run(ingress[i], &s, &r);
			assert_rst(ingress[i], &s, &r);
			apply_groups(fe, 0, zero, 2);
			s.sport = next_port++;
			run(ingress[i], &s, &r);
			assert_rst(ingress[i], &s, &r);
			bs_dp_reason_counters(dp, after);
			assert_int_equal(after[BS_R_REJECT_NO_BACKEND] - before[BS_R_REJECT_NO_BACKEND], 1);
			assert_int_equal(after[BS_R_REJECT_ZERO_WEIGHT] - before[BS_R_REJECT_ZERO_WEIGHT], 1);
		}
	}
}

static void udp_without_backend_is_dropped(void **state)
{
	struct group_def zero[2] = {
		{ "stable", 0, stable4, 3, 8080, NULL },
		{ "canary", 0, canary4, 1, 8080, NULL },
	};

	apply_groups(FE4 ":53/udp", 0, zero, 2);
	for (int i = 0; i < 2; i++) {
		struct pkt_spec s = { .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = next_port++, .dport = 53, .proto = 17,
				      .payload_len = 10 };
		struct result r;

		run(ingress[i], &s, &r);
		assert_int_equal(r.verdict, ingress[i] == BS_ENTRY_XDP ? XDP_DROP : TC_ACT_SHOT);
	}
}

static void draining_backend_keeps_old_flows_gets_no_new(void **state)
{
	static const char *const one_green[] = { "10.201.1.2" };
	struct group_def only[2] = {
		{ "stable", 100, one_green, 1, 8080, NULL },
		{ "canary", 0, canary4, 1, 8080, NULL },
	};
	struct group_def drained[2] = {
		{ "stable", 100, stable4, 3, 8080, "10.201.1.2" },
		{ "canary", 0, canary4, 1, 8080, NULL },
	};

	for (int i = 0; i < 2; i++) {
		struct pkt_spec old = syn(4, next_port++, 11);
		struct result r;

		apply_groups(FE4 ":80/tcp", 0, only, 2);
		run(ingress[i], &old, &r);
		assert_string_equal(r.v.dst, "10.201.1.2");

		apply_groups(FE4 ":80/tcp", 0, drained, 2);
		for (int k = 0; k < 200; k++) {
			struct pkt_spec s = syn(4, next_port++, 12);

			run(ingress[i], &s, &r);
			assert_forwarded(ingress[i], &s, &r, false);
			assert_string_not_equal(r.v.dst, "10.201.1.2");
		}
		/* ...and even once the backend is gone from the Service entirely. */
		apply_groups(FE4 ":80/tcp", 0, (struct group_def[]){ { "stable", 100, stable4 + 1, 2, 8080, NULL },
								     { "canary", 0, canary4, 1, 8080, NULL } },
			     2);
		bs_dp_flush_retired(dp, true);
		old.tcp_flags = 0x10;
		old.tcp_opt_len = 0;
		old.payload_len = 10;
		run(ingress[i], &old, &r);
		assert_forwarded(ingress[i], &old, &r, false);
		assert_string_equal(r.v.dst, "10.201.1.2");
	}
}

static void client_affinity_keeps_one_client_on_one_backend(void **state)
{
	for (int i = 0; i < 2; i++) {
		char first[64] = "";
		struct result r;

		split(4, "tcp", 50, 50, BS_AFFINITY_CLIENT);
		for (int k = 0; k < 50; k++) {
			struct pkt_spec s = syn(4, next_port++, 5 + k);

			run(ingress[i], &s, &r);
			assert_forwarded(ingress[i], &s, &r, false);
			if (!k)
				snprintf(first, sizeof(first), "%s", r.v.dst);
			assert_string_equal(r.v.dst, first);
		}
	}
}

static void tc_full_checksums_stay_exact(void **state)
{
	/* BPF_PROG_TEST_RUN hands tc a CHECKSUM_NONE skb, so a seed-only field is updated
	 * as a full checksum would be; the end-to-end tests cover real CHECKSUM_PARTIAL
	 * traffic. Here: a full checksum on tc stays exact after the rewrite. */
	struct pkt_spec s = syn(4, next_port++, 8);
	struct result r;

	split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	run(BS_ENTRY_TC_INGRESS, &s, &r);
	assert_forwarded(BS_ENTRY_TC_INGRESS, &s, &r, false);
}

static void counters_count(void **state)
{
	struct bs_frontend_key key;
	struct bs_frontend_spec spec;
	struct bs_counters c0, c1;
	struct result r;
	__u64 before[BS_R_MAX], after[BS_R_MAX];
	int fd = bs_dp_map_fd(dp, "bs_frontends");
	struct bs_frontend fe;

	split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	assert_int_equal(bs_frontend_key_parse(FE4 ":80/tcp", &key), 0);
	assert_int_equal(bpf_map_lookup_elem(fd, &key, &fe), 0);
	assert_int_equal(bs_dp_read(dp, &key, &spec), 0);
	assert_int_equal(spec.n_groups, 2);
	assert_int_equal(spec.groups[0].weight, 50);
	bs_frontend_spec_free(&spec);
	bs_dp_frontend_counters(dp, fe.id, &c0);
	bs_dp_reason_counters(dp, before);
	for (int k = 0; k < 10; k++) {
		struct pkt_spec s = syn(4, next_port++, 8);

		run(BS_ENTRY_XDP, &s, &r);
	}
	bs_dp_frontend_counters(dp, fe.id, &c1);
	bs_dp_reason_counters(dp, after);
	assert_int_equal(c1.new_conns - c0.new_conns, 10);
	assert_int_equal(c1.packets - c0.packets, 10);
	assert_int_equal(after[BS_R_FWD_NEW] - before[BS_R_FWD_NEW], 10);
}

static void fin_retires_the_record_after_linger(void **state)
{
	struct bs_settings settings, quick;
	struct pkt_spec s = syn(4, next_port++, 600);
	struct bs_flow_key k = {};
	struct bs_conn c;
	struct result r;
	int fd = bs_dp_map_fd(dp, "bs_conns");

	split(4, "tcp", 50, 50, BS_AFFINITY_CONNECTION);
	assert_int_equal(bs_dp_get_settings(dp, &settings), 0);
	quick = settings;
	quick.linger_ns = 1000000; /* 1 ms */
	assert_int_equal(bs_dp_set_settings(dp, &quick), 0);

	run(BS_ENTRY_TC_INGRESS, &s, &r);
	inet_pton(AF_INET, CLIENT4, k.saddr);
	inet_pton(AF_INET, FE4, k.daddr);
	k.sport = htons(s.sport);
	k.dport = htons(80);
	k.family = BS_AF_INET;
	k.proto = 6;
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &c), 0);
	assert_false(c.flags & BS_CONN_F_CLOSING);
	/* An open connection survives a sweep. */
	usleep(2000);
	bs_dp_gc_conns(dp);
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &c), 0);

	s.tcp_flags = 0x11; /* FIN|ACK */
	s.tcp_opt_len = 0;
	run(BS_ENTRY_TC_INGRESS, &s, &r);
	assert_forwarded(BS_ENTRY_TC_INGRESS, &s, &r, false); /* still forwarded while lingering */
	assert_int_equal(bpf_map_lookup_elem(fd, &k, &c), 0);
	assert_true(c.flags & BS_CONN_F_CLOSING);
	usleep(2000);
	assert_true(bs_dp_gc_conns(dp) >= 1);
	assert_int_not_equal(bpf_map_lookup_elem(fd, &k, &c), 0);
	assert_int_equal(bs_dp_set_settings(dp, &settings), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(syn_is_rewritten_to_the_right_group),
		cmocka_unit_test(split_follows_weights),
		cmocka_unit_test(later_packets_follow_the_record),
		cmocka_unit_test(new_syn_on_reused_tuple_follows_new_weights),
		cmocka_unit_test(retransmitted_syn_follows_its_record),
		cmocka_unit_test(untracked_packet_goes_where_its_syn_went),
		cmocka_unit_test(reply_is_rewritten_back),
		cmocka_unit_test(unknown_reply_passes_unchanged),
		cmocka_unit_test(udp_with_and_without_checksum),
		cmocka_unit_test(vlan_and_ip_options),
		cmocka_unit_test(other_traffic_passes_unchanged),
		cmocka_unit_test(truncated_frames_pass_unchanged),
		cmocka_unit_test(no_backend_and_zero_weights_answer_rst),
		cmocka_unit_test(udp_without_backend_is_dropped),
		cmocka_unit_test(draining_backend_keeps_old_flows_gets_no_new),
		cmocka_unit_test(client_affinity_keeps_one_client_on_one_backend),
		cmocka_unit_test(tc_full_checksums_stay_exact),
		cmocka_unit_test(counters_count),
		cmocka_unit_test(fin_retires_the_record_after_linger),
	};

	return cmocka_run_group_tests_name("bpf_dataplane", tests, setup_all, teardown_all);
}
