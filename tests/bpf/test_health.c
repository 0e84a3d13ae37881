// SPDX-License-Identifier: BSD-2-Clause
/* Connection health (bs_health) through BPF_PROG_TEST_RUN: the test sends every SYN,
 * SYN-ACK, FIN and RST itself, so every counter is checked exactly, per group (the
 * shared flow hash predicts each connection's group) and per backend within a group.
 * Established packets must not move any of them. Needs root. */
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

#define CLIENT "10.200.0.2"

static const char *const stable4[] = { "10.201.1.2", "10.201.2.2", "10.201.3.2" };
static const char *const canary4[] = { "10.201.4.2" };

static struct bs_dp *dp;
static char pin_root[64];
static char extra_root[64]; /* a second data path's, removed by the teardown whatever happens */
static uint16_t next_port = 30000;
static int next_fe = 1;

struct group_def {
	const char *name;
	__u32 weight;
	const char *const *addrs;
	int n;
	bool draining; /* every backend draining: the group has weight but no ready backend */
};

struct find {
	struct bs_frontend_key k;
	__u32 id;
};

static int find_cb(const struct bs_frontend_key *k, const struct bs_frontend *v, void *ctx)
{
	struct find *f = ctx;

	if (!memcmp(k, &f->k, sizeof(*k)))
		f->id = v->id;
	return 0;
}

static __u32 frontend_id(const struct bs_frontend_key *key)
{
	struct find f = { *key, 0 };

	bs_dp_for_each_frontend(dp, find_cb, &f);
	assert_int_not_equal(f.id, 0);
	return f.id;
}

/* A fresh frontend (its own address) with these groups; returns its id. */
static __u32 frontend(char *fe_addr, size_t len, const struct group_def *g, int n_groups)
{
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec be[BS_MAX_GROUPS][8];
	char fe[64], err[256];

	snprintf(fe_addr, len, "10.96.1.%d", next_fe++);
	snprintf(fe, sizeof(fe), "%s:80/tcp", fe_addr);
	assert_int_equal(bs_frontend_key_parse(fe, &spec.key), 0);
	spec.n_groups = n_groups;
	for (int i = 0; i < n_groups; i++) {
		snprintf(spec.groups[i].name, sizeof(spec.groups[i].name), "%s", g[i].name);
		spec.groups[i].weight = g[i].weight;
		spec.groups[i].backends = be[i];
		spec.groups[i].n_backends = g[i].n;
		for (int b = 0; b < g[i].n; b++) {
			char ep[80];

			snprintf(ep, sizeof(ep), "%s:8080", g[i].addrs[b]);
			assert_int_equal(bs_endpoint_parse(ep, be[i][b].addr, &be[i][b].port, &be[i][b].family), 0);
			be[i][b].state = g[i].draining ? BS_BACKEND_DRAINING : BS_BACKEND_READY;
		}
	}
	if (bs_dp_apply(dp, &spec, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		fail();
	}
	return frontend_id(&spec.key);
}

static int setup_all(void **state)
{
	struct bs_dp_opts o = { .max_conns = 65536, .max_frontends = 1024, .max_backends = 1024, .max_tables = 1024 };

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-health-%d", getpid());
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
	if (extra_root[0])
		bs_dp_unpin_all(extra_root);
	return bs_dp_unpin_all(pin_root);
}

struct result {
	int verdict;
	uint8_t out[PKT_MAX];
	__u32 out_len;
	struct pkt_view v;
};

static void run(enum bs_entry entry, const struct pkt_spec *s, struct result *r)
{
	uint8_t in[PKT_MAX];
	size_t len = pkt_build(s, in);
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = r->out,
		    .data_size_out = sizeof(r->out), .repeat = 1);

	assert_true(len > 0);
	assert_int_equal(bpf_prog_test_run_opts(bs_dp_prog_fd(dp, entry), &opts), 0);
	r->verdict = opts.retval;
	r->out_len = opts.data_size_out;
	pkt_view(r->out, r->out_len, &r->v);
}

static struct pkt_spec tcp(const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags,
			   uint32_t seq, uint32_t ack, int payload)
{
	struct pkt_spec s = { .ipv = 4, .src = src, .dst = dst, .sport = sport, .dport = dport, .proto = 6,
			      .tcp_flags = flags, .seq = seq, .ack = ack, .payload_len = payload };
	return s;
}

/* The group the data path must pick for this client port at these weights. */
static int predicted_group(const char *fe, uint16_t sport, const __u32 *weights, int n)
{
	__u64 thresholds[BS_MAX_GROUPS] = {};
	struct bs_settings settings;
	struct bs_flow_key k = { .family = BS_AF_INET, .proto = 6 };

	assert_int_equal(bs_dp_get_settings(dp, &settings), 0);
	assert_int_equal(inet_pton(AF_INET, CLIENT, k.saddr), 1);
	assert_int_equal(inet_pton(AF_INET, fe, k.daddr), 1);
	k.sport = htons(sport);
	k.dport = htons(80);
	assert_int_equal(bs_thresholds(weights, (__u32)n, thresholds), 0);
	return (int)bs_group_of_hash(thresholds, (__u32)n, bs_flow_hash(&k, BS_AFFINITY_CONNECTION, settings.hash_key));
}

static struct bs_health health(__u32 fe_id, __u16 group, __u32 backend_id)
{
	struct bs_health_key k = { .frontend_id = fe_id, .group = group, .backend_id = backend_id };
	struct bs_health h = {};
	int err = bs_dp_health(dp, &k, &h);

	assert_true(err == 0 || err == -ENOENT);
	return h;
}

/* Sum of the per-backend entries of one group: must equal the group aggregate. */
struct sum_ctx {
	__u32 fe_id;
	__u16 group;
	struct bs_health sum;
	int n;
};

static int sum_backends(const struct bs_health_key *k, const struct bs_health *h, void *arg)
{
	struct sum_ctx *s = arg;
	const __u64 *in = (const __u64 *)h;
	__u64 *o = (__u64 *)&s->sum;

	if (k->frontend_id != s->fe_id || k->group != s->group || !k->backend_id)
		return 0;
	for (size_t i = 0; i < sizeof(*h) / 8; i++)
		o[i] += in[i];
	s->n++;
	return 0;
}

static void assert_backends_add_up(__u32 fe_id, __u16 group)
{
	struct sum_ctx s = { .fe_id = fe_id, .group = group };
	struct bs_health agg = health(fe_id, group, 0);

	assert_int_equal(bs_dp_for_each_health(dp, sum_backends, &s), 0);
	assert_true(s.n >= 1);
	assert_memory_equal(&s.sum, &agg, sizeof(agg));
}

static __u64 hist_total(const struct bs_health *h)
{
	__u64 n = 0;

	for (int i = 0; i < BS_HS_BUCKETS; i++)
		n += h->handshake_hist[i];
	return n;
}

/* N connections at 70/30: each gets its SYN-ACK; the canary's backend resets each one
 * right after the handshake (nothing sent: RST seq = ISN + 1); the stable ones carry data
 * both ways and close with FINs. Exact counts per group, per backend, and none moved by
 * the established packets. */
static void canary_resets_counted_exactly(void **state)
{
	static const struct group_def g[2] = {
		{ "default/stable", 70, stable4, 3, false },
		{ "default/canary", 30, canary4, 1, false },
	};
	static const __u32 w[2] = { 70, 30 };
	const enum bs_entry ingress[] = { BS_ENTRY_XDP, BS_ENTRY_TC_INGRESS };

	for (int e = 0; e < 2; e++) {
		char fe[32];
		__u32 id = frontend(fe, sizeof(fe), g, 2);
		int n[2] = {};
		const int N = 200;

		for (int c = 0; c < N; c++) {
			uint16_t sport = next_port++;
			uint32_t cseq = 1000u * c + 7, sisn = 5000000u + 13u * c;
			int want = predicted_group(fe, sport, w, 2);
			struct pkt_spec s = tcp(CLIENT, fe, sport, 80, 0x02, cseq, 0, 0);
			struct result r;
			char backend[64];

			run(ingress[e], &s, &r);
			assert_int_equal(r.v.dport, 8080);
			snprintf(backend, sizeof(backend), "%s", r.v.dst);
			assert_string_equal(backend, want ? canary4[0] : r.v.dst);
			assert_true(want || strcmp(backend, canary4[0]));
			n[want]++;
			/* SYN-ACK, then the client's ACK and data: established. */
			s = tcp(backend, CLIENT, 8080, sport, 0x12, sisn, cseq + 1, 0);
			run(BS_ENTRY_TC_EGRESS, &s, &r);
			assert_string_equal(r.v.src, fe);
			s = tcp(CLIENT, fe, sport, 80, 0x10, cseq + 1, sisn + 1, 0);
			run(ingress[e], &s, &r);
			s = tcp(CLIENT, fe, sport, 80, 0x18, cseq + 1, sisn + 1, 100);
			run(ingress[e], &s, &r);
			if (want) {
				s = tcp(backend, CLIENT, 8080, sport, 0x14, sisn + 1, cseq + 101, 0);
				run(BS_ENTRY_TC_EGRESS, &s, &r);
				/* The client's own RST answering it: not a second reset or close. */
				s = tcp(CLIENT, fe, sport, 80, 0x04, cseq + 101, 0, 0);
				run(ingress[e], &s, &r);
			} else {
				s = tcp(backend, CLIENT, 8080, sport, 0x18, sisn + 1, cseq + 101, 500);
				run(BS_ENTRY_TC_EGRESS, &s, &r);
				s = tcp(backend, CLIENT, 8080, sport, 0x11, sisn + 501, cseq + 101, 0);
				run(BS_ENTRY_TC_EGRESS, &s, &r);
				s = tcp(CLIENT, fe, sport, 80, 0x11, cseq + 101, sisn + 502, 0);
				run(ingress[e], &s, &r);
				/* Retransmitted FIN: counted once. */
				run(ingress[e], &s, &r);
			}
		}
		assert_true(n[0] > 0 && n[1] > 0);
		for (int grp = 0; grp < 2; grp++) {
			struct bs_health h = health(id, (__u16)grp, 0);

			assert_int_equal(h.new_conns, n[grp]);
			assert_int_equal(h.handshakes, n[grp]);
			assert_int_equal(hist_total(&h), n[grp]);
			assert_true(h.handshake_ns_sum > 0);
			assert_int_equal(h.closed, n[grp]);
			assert_int_equal(h.backend_resets, grp ? n[grp] : 0);
			assert_int_equal(h.failed, grp ? n[grp] : 0);
			assert_int_equal(h.resets_before_reply, grp ? n[grp] : 0);
			assert_int_equal(h.bytes_to_backend, grp ? 0 : 100ull * n[grp]);
			assert_int_equal(h.bytes_from_backend, grp ? 0 : 500ull * n[grp]);
			assert_int_equal(h.syn_retransmits, 0);
			assert_int_equal(h.handshake_timeouts, 0);
			assert_int_equal(h.refused_no_backend + h.refused_zero_weight, 0);
			assert_backends_add_up(id, (__u16)grp);
		}
	}
}

/* A reset after the backend sent data is a reset, not a reset before any reply byte;
 * a RST answering the SYN (port closed) is both, with no handshake. */
static void reset_after_reply_and_refused_handshake(void **state)
{
	static const struct group_def g[1] = { { "default/one", 1, canary4, 1, false } };
	char fe[32];
	__u32 id = frontend(fe, sizeof(fe), g, 1);
	uint16_t p1 = next_port++, p2 = next_port++;
	struct pkt_spec s;
	struct result r;
	struct bs_health h;

	s = tcp(CLIENT, fe, p1, 80, 0x02, 10, 0, 0);
	run(BS_ENTRY_TC_INGRESS, &s, &r);
	s = tcp(canary4[0], CLIENT, 8080, p1, 0x12, 900, 11, 0);
	run(BS_ENTRY_TC_EGRESS, &s, &r);
	s = tcp(canary4[0], CLIENT, 8080, p1, 0x18, 901, 11, 40);
	run(BS_ENTRY_TC_EGRESS, &s, &r);
	s = tcp(canary4[0], CLIENT, 8080, p1, 0x14, 941, 11, 0);
	run(BS_ENTRY_TC_EGRESS, &s, &r);

	s = tcp(CLIENT, fe, p2, 80, 0x02, 20, 0, 0);
	run(BS_ENTRY_XDP, &s, &r);
	s = tcp(canary4[0], CLIENT, 8080, p2, 0x14, 0, 21, 0);
	run(BS_ENTRY_TC_EGRESS, &s, &r);

	h = health(id, 0, 0);
	assert_int_equal(h.new_conns, 2);
	assert_int_equal(h.handshakes, 1);
	assert_int_equal(h.backend_resets, 2);
	assert_int_equal(h.resets_before_reply, 1);
	assert_int_equal(h.failed, 2);
	assert_int_equal(h.closed, 2);
}

/* A retransmitted SYN is counted; one that comes BS_HS_TIMEOUT_NS after the first with no
 * SYN-ACK counts the handshake as timed out, once; a retransmit after the SYN-ACK does not. */
static void syn_retransmits_and_handshake_timeout(void **state)
{
	static const struct group_def g[1] = { { "default/one", 1, canary4, 1, false } };
	char fe[32];
	__u32 id = frontend(fe, sizeof(fe), g, 1);
	uint16_t p1 = next_port++, p2 = next_port++;
	struct pkt_spec s1 = tcp(CLIENT, fe, p1, 80, 0x02, 77, 0, 0);
	struct pkt_spec s2 = tcp(CLIENT, fe, p2, 80, 0x02, 88, 0, 0);
	struct pkt_spec sa;
	struct result r;
	struct bs_health h;

	run(BS_ENTRY_TC_INGRESS, &s1, &r);
	run(BS_ENTRY_TC_INGRESS, &s1, &r);          /* quick retransmit: no timeout yet */
	run(BS_ENTRY_XDP, &s2, &r);
	sa = tcp(canary4[0], CLIENT, 8080, p2, 0x12, 1, 89, 0);
	run(BS_ENTRY_TC_EGRESS, &sa, &r);             /* p2 completes its handshake */
	usleep((BS_HS_TIMEOUT_NS / 1000) + 50000);
	run(BS_ENTRY_TC_INGRESS, &s1, &r);          /* p1: still no SYN-ACK -> timed out */
	run(BS_ENTRY_TC_INGRESS, &s1, &r);          /* counted once */
	run(BS_ENTRY_XDP, &s2, &r);                 /* p2 had its SYN-ACK: retransmit only */

	h = health(id, 0, 0);
	assert_int_equal(h.new_conns, 2);
	assert_int_equal(h.syn_retransmits, 4);
	assert_int_equal(h.handshake_timeouts, 1);
	assert_int_equal(h.failed, 1);
	assert_int_equal(h.handshakes, 1);
	assert_backends_add_up(id, 0);
}

/* Handshake latency: a SYN-ACK sent at least 50 ms after its SYN is counted with at least
 * that latency, in a bucket whose upper bound is 50 ms or more (a lower bound: the test
 * controls the delay's minimum, not its maximum). */
static void handshake_latency_lands_in_its_bucket(void **state)
{
	static const struct group_def g[1] = { { "default/one", 1, canary4, 1, false } };
	const __u64 delay_ns = 50ULL * 1000 * 1000;
	char fe[32];
	__u32 id = frontend(fe, sizeof(fe), g, 1);
	uint16_t p1 = next_port++;
	struct pkt_spec s = tcp(CLIENT, fe, p1, 80, 0x02, 5, 0, 0);
	struct result r;
	struct bs_health h;
	int first = -1;

	run(BS_ENTRY_TC_INGRESS, &s, &r);
	usleep(delay_ns / 1000);
	s = tcp(canary4[0], CLIENT, 8080, p1, 0x12, 70, 6, 0);
	run(BS_ENTRY_TC_EGRESS, &s, &r);
	run(BS_ENTRY_TC_EGRESS, &s, &r); /* a retransmitted SYN-ACK is not a second handshake */
	h = health(id, 0, 0);
	assert_int_equal(h.handshakes, 1);
	assert_true(h.handshake_ns_sum >= delay_ns);
	for (int i = 0; i < BS_HS_BUCKETS && first < 0; i++)
		if (h.handshake_hist[i])
			first = i;
	assert_int_equal(hist_total(&h), 1);
	assert_true(first == BS_HS_BUCKETS - 1 || (BS_HS_BUCKET0_NS << first) >= delay_ns);
}

/* Refusals: a group with weight and only draining backends refuses under its own index;
 * a frontend whose weights are all 0 refuses under BS_HEALTH_NO_GROUP. Exactly N each;
 * non-SYN packets without a record are not connection attempts. */
static void refusals_counted_by_reason(void **state)
{
	static const struct group_def nb[2] = {
		{ "default/stable", 0, stable4, 3, false },
		{ "default/canary", 100, canary4, 1, true },
	};
	static const struct group_def zw[2] = {
		{ "default/stable", 0, stable4, 3, false },
		{ "default/canary", 0, canary4, 1, false },
	};
	char fe1[32], fe2[32];
	__u32 id1 = frontend(fe1, sizeof(fe1), nb, 2), id2 = frontend(fe2, sizeof(fe2), zw, 2);
	struct result r;
	const int N = 37;

	for (int c = 0; c < N; c++) {
		struct pkt_spec s = tcp(CLIENT, fe1, next_port++, 80, 0x02, 5, 0, 0);

		run(c % 2 ? BS_ENTRY_XDP : BS_ENTRY_TC_INGRESS, &s, &r);
		s.dst = fe2;
		run(c % 2 ? BS_ENTRY_XDP : BS_ENTRY_TC_INGRESS, &s, &r);
		s.tcp_flags = 0x10; /* stray ACK: dropped, not counted */
		run(BS_ENTRY_XDP, &s, &r);
	}
	assert_int_equal(health(id1, 1, 0).refused_no_backend, N);
	assert_int_equal(health(id1, 1, 0).new_conns, 0);
	assert_int_equal(health(id1, 0, 0).refused_no_backend, 0);
	assert_int_equal(health(id2, BS_HEALTH_NO_GROUP, 0).refused_zero_weight, N);
	assert_int_equal(health(id2, BS_HEALTH_NO_GROUP, 0).refused_no_backend, 0);
}

/* One backend listed by both groups: its connections are told apart by group. */
static void backend_in_both_groups_counted_per_group(void **state)
{
	static const struct group_def g[2] = {
		{ "default/stable", 50, canary4, 1, false },
		{ "default/canary", 50, canary4, 1, false },
	};
	static const __u32 w[2] = { 50, 50 };
	char fe[32];
	__u32 id = frontend(fe, sizeof(fe), g, 2);
	int n[2] = {};
	struct result r;
	__u32 be_id = 0;

	for (int c = 0; c < 100; c++) {
		uint16_t sport = next_port++;
		struct pkt_spec s = tcp(CLIENT, fe, sport, 80, 0x02, 3, 0, 0);

		n[predicted_group(fe, sport, w, 2)]++;
		run(BS_ENTRY_TC_INGRESS, &s, &r);
	}
	for (__u32 b = 1; b < 1024 && !be_id; b++) {
		struct bs_backend be;
		char a[INET_ADDRSTRLEN];

		if (bs_dp_backend(dp, b, &be) == 0 && inet_ntop(AF_INET, be.addr, a, sizeof(a)) &&
		    !strcmp(a, canary4[0]))
			be_id = b;
	}
	assert_int_not_equal(be_id, 0);
	assert_int_equal(health(id, 0, be_id).new_conns, n[0]);
	assert_int_equal(health(id, 1, be_id).new_conns, n[1]);
	assert_int_equal(n[0] + n[1], 100);
}

/* A frontend id handed to a new frontend starts without the old one's health. */
static void reused_frontend_id_starts_clean(void **state)
{
	static const struct group_def g[1] = { { "default/one", 1, canary4, 1, false } };
	struct bs_frontend_key key;
	char fe[32], k[64];
	__u32 id = frontend(fe, sizeof(fe), g, 1), id2;
	struct pkt_spec s = tcp(CLIENT, fe, next_port++, 80, 0x02, 3, 0, 0);
	struct result r;

	run(BS_ENTRY_TC_INGRESS, &s, &r);
	assert_int_equal(health(id, 0, 0).new_conns, 1);
	snprintf(k, sizeof(k), "%s:80/tcp", fe);
	assert_int_equal(bs_frontend_key_parse(k, &key), 0);
	assert_int_equal(bs_dp_remove(dp, &key), 0);
	id2 = frontend(fe, sizeof(fe), g, 1);
	assert_int_equal(id2, id);
	assert_int_equal(health(id2, 0, 0).new_conns, 0);
}

/* Programs loaded with no_backend_health count the group aggregates only: no entry per
 * backend is made (each would cost 232 bytes per CPU). */
static void no_backend_health_records_groups_only(void **state)
{
	static const struct group_def g[1] = { { "default/one", 1, canary4, 1, false } };
	struct bs_dp_opts o = { .max_conns = 4096, .max_frontends = 64, .max_backends = 64, .max_tables = 64,
				.no_backend_health = true };
	struct bs_dp *saved = dp, *nb;
	char fe[32];
	struct sum_ctx sc;
	struct result r;
	__u32 id;

	snprintf(extra_root, sizeof(extra_root), "/sys/fs/bpf/bs-health-nb-%d", getpid());
	o.pin_root = extra_root;
	assert_int_equal(bs_dp_open(&o, &nb), 0);
	dp = nb; /* the helpers use dp; the teardown closes the first one only */
	id = frontend(fe, sizeof(fe), g, 1);
	for (int c = 0; c < 5; c++) {
		struct pkt_spec s = tcp(CLIENT, fe, next_port++, 80, 0x02, 9, 0, 0);

		run(c % 2 ? BS_ENTRY_XDP : BS_ENTRY_TC_INGRESS, &s, &r);
	}
	assert_int_equal(health(id, 0, 0).new_conns, 5);
	sc = (struct sum_ctx){ .fe_id = id, .group = 0 };
	assert_int_equal(bs_dp_for_each_health(dp, sum_backends, &sc), 0);
	assert_int_equal(sc.n, 0);
	dp = saved;
	bs_dp_close(nb);
	bs_dp_unpin_all(extra_root);
	extra_root[0] = 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(canary_resets_counted_exactly),
		cmocka_unit_test(reset_after_reply_and_refused_handshake),
		cmocka_unit_test(syn_retransmits_and_handshake_timeout),
		cmocka_unit_test(handshake_latency_lands_in_its_bucket),
		cmocka_unit_test(refusals_counted_by_reason),
		cmocka_unit_test(backend_in_both_groups_counted_per_group),
		cmocka_unit_test(reused_frontend_id_starts_clean),
		cmocka_unit_test(no_backend_health_records_groups_only),
	};

	return cmocka_run_group_tests_name("bpf_health", tests, setup_all, teardown_all);
}
