// SPDX-License-Identifier: BSD-2-Clause
/* BPF fixture tests of parsing edge cases, through the real entry points with
 * BPF_PROG_TEST_RUN: QinQ frames (802.1ad outer tag + 802.1Q inner tag) are rewritten
 * exactly like single-tagged ones, and a length field of 0 that is not BIG TCP (not GSO,
 * or not over 64 KiB) passes untouched. Checksums of every output are recomputed from scratch.
 * Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include "dp_fixture.h"

static uint16_t next_port = 30000;

struct out {
	int verdict;
	__u32 len;
	uint8_t buf[PKT_MAX];
	struct pkt_view v;
};

static void run_spec(enum bs_entry e, const struct pkt_spec *s, uint8_t *in, size_t *in_len, struct out *o)
{
	*in_len = pkt_build(s, in);
	assert_true(*in_len > 0);
	assert_int_equal(fx_run(e, in, *in_len, o->buf, sizeof(o->buf), &o->verdict, &o->len, NULL), 0);
	assert_true(pkt_view(o->buf, o->len, &o->v));
}

static struct pkt_spec syn(int ipv, uint16_t sport)
{
	struct pkt_spec s = { .ipv = ipv, .src = ipv == 4 ? FX_CLIENT4 : FX_CLIENT6, .dst = ipv == 4 ? FX_FE4 : FX_FE6,
			      .sport = sport, .dport = FX_FE_PORT, .proto = 6, .tcp_flags = 0x02, .seq = 7,
			      .tcp_opt_len = 20, .payload_len = 0 };
	return s;
}

static void assert_forwarded(enum bs_entry e, const struct pkt_spec *s, const struct out *o)
{
	assert_int_equal(o->verdict, fx_pass_verdict(e));
	assert_true(fx_is_backend(o->v.dst));
	assert_int_equal(o->v.dport, FX_BE_PORT);
	assert_string_equal(o->v.src, s->src);
	assert_int_equal(o->v.sport, s->sport);
	assert_true(o->v.ip_csum_ok);
	assert_true(o->v.l4_csum_ok);
}

/* ---- QinQ ---- */

/* The same flow as a single-tagged frame, then as a QinQ frame: both forwarded to the same
 * backend, and the QinQ output is the single-tagged output with the outer tag in front. */
static void qinq_is_rewritten_like_vlan(void **state)
{
	static const enum bs_entry entries[] = { BS_ENTRY_XDP, BS_ENTRY_TC_INGRESS };

	for (int ipv = 4; ipv <= 6; ipv += 2) {
		assert_int_equal(fx_split(ipv, "tcp"), 0);
		for (int i = 0; i < 2; i++) {
			for (int opts = 0; opts < 2; opts++) {
				struct pkt_spec s = syn(ipv, next_port++);
				uint8_t in1[PKT_MAX], in2[PKT_MAX];
				size_t l1, l2;
				struct out o1, o2;

				s.vlan = 42;
				s.ip_opt_len = opts && ipv == 4 ? 12 : 0;
				s.payload_len = opts ? 100 : 0;
				run_spec(entries[i], &s, in1, &l1, &o1);
				assert_forwarded(entries[i], &s, &o1);
				s.svlan = 100;
				run_spec(entries[i], &s, in2, &l2, &o2);
				assert_forwarded(entries[i], &s, &o2);
				assert_int_equal(l2, l1 + 4);
				assert_int_equal(o2.len, o1.len + 4);
				/* MACs, then the 802.1ad tag kept, then the rest as the single tag's. */
				assert_memory_equal(o2.buf, o1.buf, 12);
				assert_int_equal(get16(o2.buf + 12), 0x88a8);
				assert_int_equal(get16(o2.buf + 14), 100);
				assert_memory_equal(o2.buf + 16, o1.buf + 12, o1.len - 12);
			}
		}
	}
}

/* A reply inside QinQ leaves with the frontend's address, as an untagged one would. */
static void qinq_reply_is_translated_back(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		struct pkt_spec s = syn(ipv, next_port++), r;
		uint8_t in[PKT_MAX];
		size_t len;
		struct out o, back;
		char backend[64];

		assert_int_equal(fx_split(ipv, "tcp"), 0);
		s.svlan = 100;
		s.vlan = 42;
		run_spec(BS_ENTRY_TC_INGRESS, &s, in, &len, &o);
		assert_forwarded(BS_ENTRY_TC_INGRESS, &s, &o);
		snprintf(backend, sizeof(backend), "%s", o.v.dst);
		r = (struct pkt_spec){ .ipv = ipv, .src = backend, .dst = s.src, .sport = FX_BE_PORT, .dport = s.sport,
				       .proto = 6, .tcp_flags = 0x12, .seq = 9, .ack = 8, .tcp_opt_len = 20,
				       .svlan = 100, .vlan = 42, .payload_len = 33 };
		run_spec(BS_ENTRY_TC_EGRESS, &r, in, &len, &back);
		assert_int_equal(back.verdict, TC_ACT_OK);
		assert_string_equal(back.v.src, ipv == 4 ? FX_FE4 : FX_FE6);
		assert_int_equal(back.v.sport, FX_FE_PORT);
		assert_string_equal(back.v.dst, s.src);
		assert_int_equal(back.v.dport, s.sport);
		assert_true(back.v.ip_csum_ok);
		assert_true(back.v.l4_csum_ok);
	}
}

/* Three tags are more than the parser reads: passed untouched. */
static void three_tags_pass_unchanged(void **state)
{
	struct pkt_spec s = syn(4, next_port++);
	uint8_t in[PKT_MAX + 4], out[PKT_MAX + 4];
	size_t len;
	int verdict;
	__u32 out_len;

	assert_int_equal(fx_split(4, "tcp"), 0);
	s.svlan = 100;
	s.vlan = 42;
	len = pkt_build(&s, in);
	memmove(in + 20, in + 16, len - 16); /* a second 802.1Q tag after the first */
	put16(in + 16, 0x8100);
	put16(in + 18, 43);
	len += 4;
	for (int e = 0; e < 2; e++) {
		assert_int_equal(fx_run(e ? BS_ENTRY_TC_INGRESS : BS_ENTRY_XDP, in, len, out, sizeof(out), &verdict,
					&out_len, NULL),
				 0);
		assert_int_equal(verdict, fx_pass_verdict(e ? BS_ENTRY_TC_INGRESS : BS_ENTRY_XDP));
		assert_int_equal(out_len, len);
		assert_memory_equal(out, in, len);
	}
}

/* ---- BIG TCP ---- */

#define BIG_PAYLOAD 70000 /* the IP packet is then over 64 KiB */
#define BIG_MAX (BIG_PAYLOAD + 200)

/* A TCP segment with `payload` bytes of data, its IP length field 0 (IPv4 total length,
 * IPv6 payload length) when over 64 KiB, both checksums full and right over the real
 * length. Returns the frame length. */
static size_t big_frame(const struct pkt_spec *hdr, int payload, uint8_t *buf)
{
	struct pkt_spec s = *hdr;
	uint8_t tmp[PKT_MAX];
	size_t hlen, l3, l4, l4len, total;
	struct pkt_view v;
	const uint8_t *sa, *da;

	s.payload_len = 0;
	hlen = pkt_build(&s, tmp);
	assert_true(pkt_view(tmp, hlen, &v));
	l3 = v.l3;
	l4 = v.l4;
	memcpy(buf, tmp, hlen);
	for (int i = 0; i < payload; i++)
		buf[hlen + i] = (uint8_t)(i * 7 + 3);
	total = hlen + payload;
	l4len = total - l4;
	if (s.ipv == 4) {
		put16(buf + l3 + 2, total - l3 > 0xffff ? 0 : (uint16_t)(total - l3));
		put16(buf + l3 + 10, 0);
		put16(buf + l3 + 10, ~pkt_fold(pkt_sum(buf + l3, l4 - l3, 0)));
		sa = buf + l3 + 12;
		da = buf + l3 + 16;
	} else {
		put16(buf + l3 + 4, l4len > 0xffff ? 0 : (uint16_t)l4len);
		sa = buf + l3 + 8;
		da = buf + l3 + 24;
	}
	put16(buf + l4 + 16, 0);
	put16(buf + l4 + 16, ~pkt_fold(pkt_sum(buf + l4, l4len, pkt_pseudo(s.ipv, sa, da, 6, l4len))));
	return total;
}

static uint8_t big_in[BIG_MAX], big_out[BIG_MAX];

/* A GSO skb of the same connection: gso_size as a NIC's GRO or the stack's TSO sets it. */
static struct __sk_buff gso_ctx(void)
{
	struct __sk_buff c = { .gso_size = 1448, .gso_segs = (BIG_PAYLOAD + 1447) / 1448 };
	return c;
}

/* Length 0 is BIG TCP only where the packet really is over 64 KiB and GSO: otherwise
 * the packet is malformed and passes untouched, on every entry point. (Real BIG TCP
 * packets cannot go through BPF_PROG_TEST_RUN, which takes no skb over a page: they are
 * proven by tests/unit/test_bs_parse and, with real traffic, tests/e2e/test_big_tcp_e2e.py.) */
static void zero_length_without_big_tcp_passes_unchanged(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		struct pkt_spec s = syn(ipv, next_port++);
		struct __sk_buff ctx = gso_ctx();
		size_t len;
		__u32 out_len;
		int verdict;

		assert_int_equal(fx_split(ipv, "tcp"), 0);
		s.tcp_flags = 0x10;
		s.tcp_opt_len = 0;
		/* GSO, length field 0, but only 2000 bytes long: not BIG TCP. */
		len = big_frame(&s, 1000, big_in);
		put16(big_in + 14 + (ipv == 4 ? 2 : 4), 0);
		if (ipv == 4) {
			put16(big_in + 14 + 10, 0);
			put16(big_in + 14 + 10, ~pkt_fold(pkt_sum(big_in + 14, 20, 0)));
		}
		assert_int_equal(fx_run(BS_ENTRY_TC_INGRESS, big_in, len, big_out, sizeof(big_out), &verdict, &out_len,
					&ctx),
				 0);
		assert_int_equal(verdict, TC_ACT_OK);
		assert_int_equal(out_len, len);
		assert_memory_equal(big_out, big_in, len);
		assert_int_equal(fx_run(BS_ENTRY_XDP, big_in, len, big_out, sizeof(big_out), &verdict, &out_len, NULL), 0);
		assert_int_equal(verdict, XDP_PASS);
		assert_memory_equal(big_out, big_in, len);
	}
}

static int setup(void **state)
{
	return fx_open();
}

static int teardown(void **state)
{
	return fx_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(qinq_is_rewritten_like_vlan),
		cmocka_unit_test(qinq_reply_is_translated_back),
		cmocka_unit_test(three_tags_pass_unchanged),
		cmocka_unit_test(zero_length_without_big_tcp_passes_unchanged),
	};

	return cmocka_run_group_tests_name("bpf_parse_edges", tests, setup, teardown);
}
