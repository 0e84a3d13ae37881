// SPDX-License-Identifier: BSD-2-Clause
/* SNAT through BPF_PROG_TEST_RUN: crafted frames with full checksums (as from a wire)
 * through the tc ingress entry point of a node in mode snat, in a network namespace of
 * this test's own (a veth uplink with the node's addresses and routes, so that the FIB
 * lookup answers). Every rewrite is checked by recomputing checksums from scratch: the
 * forward SYN goes to the predicted backend from the node's address and a port of the
 * range, the reply to that port comes back from the frontend to the client, both are
 * redirected (never handed to the node's stack) with the TTL decremented; the XDP entry
 * point passes packets of a SNAT node untouched. Needs root. */
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include "bpfsplit.h"
#include "log.h"
#include "pktgen.h"

#define NODE4 "10.0.0.11"
#define NODE6 "fd00:10::11"
#define CLIENT4 "192.168.100.2"
#define CLIENT6 "fd00:192::2"
#define FE4 "10.100.0.10"
#define FE6 "fd00:100::10"

static struct bs_dp *dp;
static char pin_root[64];
static int uplink;

static int setup_all(void **state)
{
	struct bs_dp_opts o = { .max_conns = 4096, .max_frontends = 64, .max_backends = 512, .max_tables = 64,
				.max_splits = 128 };
	struct bs_node_cfg node = { .nat_mode = BS_NAT_SNAT, .port_lo = 62000, .port_hi = 62999, .snat_hold_s = 60 };
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec be[2];
	char err[256];

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	if (unshare(CLONE_NEWNET) ||
	    system("ip link set lo up && ip link add bsd0 type veth peer name bsd1 && ip link set bsd0 up && ip link set bsd1 up && "
		   "ip addr add " NODE4 "/24 dev bsd0 && ip addr add " NODE6 "/64 dev bsd0 nodad && "
		   "ip route add 10.244.0.0/16 via 10.0.0.12 && ip route add default via 10.0.0.254 && "
		   "ip -6 route add fd00:244::/32 via fd00:10::12 && ip -6 route add default via fd00:10::254 && "
		   "sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1")) {
		fprintf(stderr, "cannot build the test's network namespace\n");
		return -1;
	}
	uplink = if_nametoindex("bsd0");
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-snat-%d", getpid());
	o.pin_root = pin_root;
	if (bs_dp_open(&o, &dp)) {
		fprintf(stderr, "cannot load the data path (root and bpffs needed)\n");
		return -1;
	}
	inet_pton(AF_INET, NODE4, &node.addr4);
	inet_pton(AF_INET6, NODE6, node.addr6);
	if (bs_dp_set_node(pin_root, &node))
		return -1;
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		memset(&spec, 0, sizeof(spec));
		if (bs_frontend_key_parse(ipv == 4 ? FE4 ":80/tcp" : "[" FE6 "]:80/tcp", &spec.key))
			return -1;
		spec.n_groups = 2;
		spec.groups[0] = (struct bs_group_spec){ .name = "stable", .weight = 70, .n_backends = 1, .backends = &be[0] };
		spec.groups[1] = (struct bs_group_spec){ .name = "canary", .weight = 30, .n_backends = 1, .backends = &be[1] };
		bs_endpoint_parse(ipv == 4 ? "10.244.2.10:8080" : "[fd00:244:2::10]:8080", be[0].addr, &be[0].port,
				  &be[0].family);
		bs_endpoint_parse(ipv == 4 ? "10.244.3.11:8080" : "[fd00:244:3::11]:8080", be[1].addr, &be[1].port,
				  &be[1].family);
		be[0].state = be[1].state = BS_BACKEND_READY;
		if (bs_dp_apply(dp, &spec, err, sizeof(err))) {
			fprintf(stderr, "apply: %s\n", err);
			return -1;
		}
	}
	return 0;
}

static int teardown_all(void **state)
{
	bs_dp_close(dp);
	return bs_dp_unpin_all(pin_root);
}

struct result {
	int verdict;
	uint8_t out[PKT_MAX];
	__u32 out_len;
	struct pkt_view v;
};

static void run(enum bs_entry entry, const struct pkt_spec *s, struct result *r, uint8_t *in, size_t *in_len)
{
	struct __sk_buff ctx = { .ingress_ifindex = uplink, .ifindex = uplink };
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_out = r->out, .data_size_out = sizeof(r->out), .repeat = 1);
	int err;

	*in_len = pkt_build(s, in);
	assert_true(*in_len > 0);
	opts.data_in = in;
	opts.data_size_in = *in_len;
	if (entry != BS_ENTRY_XDP) {
		opts.ctx_in = &ctx;
		opts.ctx_size_in = sizeof(ctx);
	}
	err = bpf_prog_test_run_opts(bs_dp_prog_fd(dp, entry), &opts);
	if (err)
		fprintf(stderr, "test run on %s: %s\n", bs_entry_name(entry), strerror(-err));
	assert_int_equal(err, 0);
	r->verdict = opts.retval;
	r->out_len = opts.data_size_out;
	assert_true(pkt_view(r->out, r->out_len, &r->v));
}

static __u64 reason(__u32 which)
{
	__u64 counts[BS_R_MAX];

	assert_int_equal(bs_dp_reason_counters(dp, counts), 0);
	return counts[which];
}

static void forward_and_reply(int ipv, uint16_t sport)
{
	const char *client = ipv == 4 ? CLIENT4 : CLIENT6, *fe = ipv == 4 ? FE4 : FE6;
	const char *node = ipv == 4 ? NODE4 : NODE6;
	struct pkt_spec syn = { .ipv = ipv, .src = client, .dst = fe, .sport = sport, .dport = 80, .proto = 6,
				.tcp_flags = 0x02, .seq = 1000 + sport, .tcp_opt_len = 20, .csum = PKT_CSUM_FULL };
	struct bs_flow_key f = {};
	struct bs_backend want;
	struct result fwd, rep;
	uint8_t in[PKT_MAX];
	size_t in_len;
	char ep[80], be_addr[64];
	__u32 group;
	__u8 fam;
	__u64 new0 = reason(BS_R_SNAT_NEW), rep0 = reason(BS_R_SNAT_REPLY);

	snprintf(ep, sizeof(ep), ipv == 4 ? "%s:%u" : "[%s]:%u", client, sport);
	assert_int_equal(bs_endpoint_parse(ep, f.saddr, &f.sport, &fam), 0);
	snprintf(ep, sizeof(ep), ipv == 4 ? "%s:80" : "[%s]:80", fe);
	assert_int_equal(bs_endpoint_parse(ep, f.daddr, &f.dport, &fam), 0);
	f.family = fam;
	f.proto = 6;
	assert_int_equal(bs_dp_predict(dp, &f, &group, &want), 0);
	bs_endpoint_format(want.addr, want.port, want.family, ep, sizeof(ep));

	/* Forward: destination the predicted backend, source the node and a port of its
	 * range, checksums exact from scratch, redirected, TTL one less. */
	run(BS_ENTRY_TC_INGRESS, &syn, &fwd, in, &in_len);
	assert_int_equal(fwd.verdict, TC_ACT_REDIRECT);
	snprintf(be_addr, sizeof(be_addr), ipv == 4 ? "%s:%u" : "[%s]:%u", fwd.v.dst, fwd.v.dport);
	assert_string_equal(be_addr, ep);
	assert_string_equal(fwd.v.src, node);
	assert_in_range(fwd.v.sport, 62000, 62999);
	assert_int_equal(fwd.v.seq, syn.seq);
	assert_true(fwd.v.ip_csum_ok);
	assert_true(fwd.v.l4_csum_ok);
	if (ipv == 4)
		assert_int_equal(fwd.out[fwd.v.l3 + 8], in[fwd.v.l3 + 8] - 1);
	else
		assert_int_equal(fwd.out[fwd.v.l3 + 7], in[fwd.v.l3 + 7] - 1);
	assert_int_equal(reason(BS_R_SNAT_NEW), new0 + 1);

	/* The reply to that port: back from the frontend to the client, exact checksums. */
	{
		struct pkt_spec synack = { .ipv = ipv, .src = fwd.v.dst, .dst = node, .sport = fwd.v.dport,
					   .dport = fwd.v.sport, .proto = 6, .tcp_flags = 0x12, .seq = 77,
					   .ack = syn.seq + 1, .tcp_opt_len = 20, .csum = PKT_CSUM_FULL };

		run(BS_ENTRY_TC_INGRESS, &synack, &rep, in, &in_len);
		assert_int_equal(rep.verdict, TC_ACT_REDIRECT);
		assert_string_equal(rep.v.src, fe);
		assert_int_equal(rep.v.sport, 80);
		assert_string_equal(rep.v.dst, client);
		assert_int_equal(rep.v.dport, sport);
		assert_true(rep.v.ip_csum_ok);
		assert_true(rep.v.l4_csum_ok);
		assert_int_equal(reason(BS_R_SNAT_REPLY), rep0 + 1);
	}

	/* The next packet of the flow follows its record: same backend, same port. */
	{
		struct pkt_spec ack = syn;
		struct result again;

		ack.tcp_flags = 0x10;
		ack.seq = syn.seq + 1;
		ack.ack = 78;
		run(BS_ENTRY_TC_INGRESS, &ack, &again, in, &in_len);
		assert_int_equal(again.verdict, TC_ACT_REDIRECT);
		assert_string_equal(again.v.dst, fwd.v.dst);
		assert_int_equal(again.v.sport, fwd.v.sport);
		assert_true(again.v.l4_csum_ok);
	}
}

static void ipv4_forward_reply_and_record(void **state)
{
	for (uint16_t p = 30000; p < 30040; p++)
		forward_and_reply(4, p);
}

static void ipv6_forward_reply_and_record(void **state)
{
	for (uint16_t p = 31000; p < 31040; p++)
		forward_and_reply(6, p);
}

/* Flows never share a port towards the same backend. */
static void ports_are_distinct(void **state)
{
	uint8_t seen[1000] = { 0 };
	uint8_t in[PKT_MAX];
	size_t in_len;

	for (uint16_t p = 32000; p < 32300; p++) {
		struct pkt_spec syn = { .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = p, .dport = 80, .proto = 6,
					.tcp_flags = 0x02, .seq = p, .tcp_opt_len = 20 };
		struct result r;

		run(BS_ENTRY_TC_INGRESS, &syn, &r, in, &in_len);
		assert_int_equal(r.verdict, TC_ACT_REDIRECT);
		if (strcmp(r.v.dst, "10.244.2.10"))
			continue; /* count per backend: ports are unique per backend */
		assert_int_equal(seen[r.v.sport - 62000], 0);
		seen[r.v.sport - 62000] = 1;
	}
}

/* A group too large for the small table (a large Maglev table): the shared selection and
 * bs_dp_predict still agree, flow by flow. */
static void large_group_is_predicted(void **state)
{
	static struct bs_backend_spec be[200];
	struct bs_frontend_spec spec = {};
	uint8_t in[PKT_MAX];
	size_t in_len;
	char err[256], ep[80];

	assert_int_equal(bs_frontend_key_parse("10.100.0.20:80/tcp", &spec.key), 0);
	spec.n_groups = 1;
	spec.groups[0] = (struct bs_group_spec){ .name = "many", .weight = 100, .n_backends = 200, .backends = be };
	for (int i = 0; i < 200; i++) {
		snprintf(ep, sizeof(ep), "10.244.%d.%d:8080", 10 + i / 100, 1 + i % 100);
		assert_int_equal(bs_endpoint_parse(ep, be[i].addr, &be[i].port, &be[i].family), 0);
		be[i].state = BS_BACKEND_READY;
	}
	if (bs_dp_apply(dp, &spec, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		fail();
	}
	for (uint16_t p = 34000; p < 34100; p++) {
		struct pkt_spec syn = { .ipv = 4, .src = CLIENT4, .dst = "10.100.0.20", .sport = p, .dport = 80,
					.proto = 6, .tcp_flags = 0x02, .seq = p, .tcp_opt_len = 20 };
		struct bs_flow_key f = {};
		struct bs_backend want;
		struct result r;
		char got[80];
		__u32 group;
		__u8 fam;

		snprintf(ep, sizeof(ep), CLIENT4 ":%u", p);
		assert_int_equal(bs_endpoint_parse(ep, f.saddr, &f.sport, &fam), 0);
		assert_int_equal(bs_endpoint_parse("10.100.0.20:80", f.daddr, &f.dport, &fam), 0);
		f.family = fam;
		f.proto = 6;
		assert_int_equal(bs_dp_predict(dp, &f, &group, &want), 0);
		bs_endpoint_format(want.addr, want.port, want.family, ep, sizeof(ep));
		run(BS_ENTRY_TC_INGRESS, &syn, &r, in, &in_len);
		assert_int_equal(r.verdict, TC_ACT_REDIRECT);
		snprintf(got, sizeof(got), "%s:%u", r.v.dst, r.v.dport);
		assert_string_equal(got, ep);
	}
}

/* The XDP entry point hands every packet of a SNAT node to tc untouched. */
static void xdp_passes_on_a_snat_node(void **state)
{
	struct pkt_spec syn = { .ipv = 4, .src = CLIENT4, .dst = FE4, .sport = 33000, .dport = 80, .proto = 6,
				.tcp_flags = 0x02, .seq = 5, .tcp_opt_len = 20 };
	uint8_t in[PKT_MAX];
	size_t in_len;
	struct result r;

	run(BS_ENTRY_XDP, &syn, &r, in, &in_len);
	assert_int_equal(r.verdict, XDP_PASS);
	assert_int_equal(r.out_len, in_len);
	assert_memory_equal(r.out, in, in_len);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ipv4_forward_reply_and_record),
		cmocka_unit_test(ipv6_forward_reply_and_record),
		cmocka_unit_test(ports_are_distinct),
		cmocka_unit_test(large_group_is_predicted),
		cmocka_unit_test(xdp_passes_on_a_snat_node),
	};

	return cmocka_run_group_tests_name("bpf_snat", tests, setup_all, teardown_all);
}
