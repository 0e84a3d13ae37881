// SPDX-License-Identifier: BSD-2-Clause
/* The data path's packet parser (bpf/bs_parse.h) compiled as plain C and run on frames in
 * user space: the cases a BPF_PROG_TEST_RUN cannot reach on every kernel (BIG TCP skbs
 * over a page) and the offsets it must find behind VLAN and QinQ tags. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdlib.h>
#include <cmocka.h>
#include "../bpf/pktgen.h" /* glibc's netinet/in.h first: linux/in.h then defers to it */
#include <linux/bpf.h>
#pragma GCC diagnostic ignored "-Wunknown-pragmas" /* the BPF unroll hints */
#include "../../bpf/bs_parse.h"

#define BIG 70000

/* Two bytes in, as the kernel aligns packets (NET_IP_ALIGN): the IP header 4-byte aligned. */
static uint8_t frame_buf[BIG + 202] __attribute__((aligned(4)));
static uint8_t *const frame = frame_buf + 2;

/* A TCP segment (client -> 10.96.0.10:80) with `payload` bytes, its IP length field
 * set to 0 when the packet is over 64 KiB, as BIG TCP builds it. */
static size_t big_tcp(int ipv, int svlan, int vlan, int payload)
{
	struct pkt_spec s = { .ipv = ipv, .src = ipv == 4 ? "10.200.0.2" : "fd00:200::2",
			      .dst = ipv == 4 ? "10.96.0.10" : "fd00:96::10", .sport = 4000, .dport = 80, .proto = 6,
			      .tcp_flags = 0x10, .svlan = svlan, .vlan = vlan };
	uint8_t tmp[PKT_MAX];
	size_t hlen = pkt_build(&s, tmp);
	size_t l3 = 14 + (svlan ? 4 : 0) + (vlan ? 4 : 0);
	size_t total = hlen + payload;

	memcpy(frame, tmp, hlen);
	memset(frame + hlen, 'x', payload);
	if (ipv == 4)
		put16(frame + l3 + 2, total - l3 > 0xffff ? 0 : total - l3);
	else
		put16(frame + l3 + 4, total - l3 - 40 > 0xffff ? 0 : total - l3 - 40);
	return total;
}

static void big_tcp_length_comes_from_the_skb(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		for (int tags = 0; tags <= 2; tags++) {
			size_t len = big_tcp(ipv, tags == 2 ? 100 : 0, tags ? 42 : 0, BIG);
			size_t l3 = 14 + 4 * tags, l4 = l3 + (ipv == 4 ? 20 : 40);
			struct bs_pkt p = {};

			/* Only the headers are in the linear area, as on a real GSO skb. */
			assert_int_equal(bs_parse_len(frame, frame + l4 + 20, len, 1448, &p), 0);
			assert_int_equal(p.l3_off, l3);
			assert_int_equal(p.l4_off, l4);
			assert_int_equal(p.l4_len, len - l4);
			assert_int_equal(p.l4_payload, BIG);
			assert_int_equal(p.flow.family, ipv == 4 ? BS_AF_INET : BS_AF_INET6);
			assert_int_equal(ntohs(p.flow.dport), 80);
			/* The same bytes without GSO, or on XDP: a malformed length, truncated. */
			memset(&p, 0, sizeof(p));
			assert_int_equal(bs_parse_len(frame, frame + l4 + 20, len, 0, &p), BS_R_PASS_TRUNCATED);
			memset(&p, 0, sizeof(p));
			assert_int_equal(bs_parse(frame, frame + len, &p), BS_R_PASS_TRUNCATED);
		}
	}
}

/* IPv6 BIG TCP with the jumbo hop-by-hop header, as Linux 6.18 hands it to tc: payload
 * length 0, next header 0, then {TCP, 0, 0xC2, 4, jumbo length} before the TCP header. */
static size_t jumbo(int tags, int payload, uint32_t *jumbo_len)
{
	size_t len = big_tcp(6, tags == 2 ? 100 : 0, tags ? 42 : 0, payload);
	size_t l3 = 14 + 4 * tags, l4 = l3 + 40;

	memmove(frame + l4 + 8, frame + l4, len - l4);
	frame[l3 + 6] = 0;
	put16(frame + l3 + 4, 0);
	frame[l4] = 6;
	frame[l4 + 1] = 0;
	frame[l4 + 2] = 0xc2;
	frame[l4 + 3] = 4;
	*jumbo_len = (uint32_t)(len + 8 - l4);
	put32(frame + l4 + 4, *jumbo_len);
	return len + 8;
}

static void ipv6_jumbo_header_is_parsed(void **state)
{
	for (int tags = 0; tags <= 2; tags++) {
		uint32_t jlen;
		size_t len = jumbo(tags, BIG, &jlen), l3 = 14 + 4 * tags;
		struct bs_pkt p = {};

		/* With GSO or without (a true RFC 2675 jumbogram): the header says the length. */
		for (int gso = 0; gso < 2; gso++) {
			memset(&p, 0, sizeof(p));
			assert_int_equal(bs_parse_len(frame, frame + l3 + 48 + 20, len, gso ? 1448 : 0, &p), 0);
			assert_int_equal(p.l4_off, l3 + 48);
			assert_int_equal(p.l4_len, jlen - 8);
			assert_int_equal(p.l4_payload, BIG);
			assert_int_equal(p.flow.proto, 6);
			assert_int_equal(ntohs(p.flow.dport), 80);
		}
		/* A jumbo length past the packet's end: truncated. */
		put32(frame + l3 + 44, jlen + 1);
		memset(&p, 0, sizeof(p));
		assert_int_equal(bs_parse_len(frame, frame + l3 + 68, len, 1448, &p), BS_R_PASS_TRUNCATED);
		/* Jumbo length not over 64 KiB (RFC 2675 forbids it), or another option: not parsed. */
		put32(frame + l3 + 44, 0xffff);
		memset(&p, 0, sizeof(p));
		assert_int_equal(bs_parse_len(frame, frame + l3 + 68, len, 1448, &p), BS_R_PASS_L4_UNSUPPORTED);
		put32(frame + l3 + 44, jlen);
		frame[l3 + 42] = 0x05; /* router alert */
		memset(&p, 0, sizeof(p));
		assert_int_equal(bs_parse_len(frame, frame + l3 + 68, len, 1448, &p), BS_R_PASS_L4_UNSUPPORTED);
	}
}

static void zero_length_that_is_not_big_passes(void **state)
{
	for (int ipv = 4; ipv <= 6; ipv += 2) {
		/* 60000 bytes: the field could say it, so 0 is not BIG TCP. */
		size_t len = big_tcp(ipv, 0, 0, 60000);
		struct bs_pkt p = {};

		put16(frame + 14 + (ipv == 4 ? 2 : 4), 0);
		assert_int_equal(bs_parse_len(frame, frame + len, len, 1448, &p), BS_R_PASS_TRUNCATED);
		/* UDP with length 0 and GSO (UDP GSO has no BIG variant): truncated. */
		len = big_tcp(ipv, 0, 0, BIG);
		frame[14 + (ipv == 4 ? 9 : 6)] = 17;
		memset(&p, 0, sizeof(p));
		assert_int_equal(bs_parse_len(frame, frame + len, len, 1448, &p), BS_R_PASS_TRUNCATED);
	}
}

static void qinq_and_vlan_offsets(void **state)
{
	for (int tags = 0; tags <= 2; tags++) {
		size_t len = big_tcp(4, tags == 2 ? 100 : 0, tags ? 42 : 0, 100);
		struct bs_pkt p = {};

		assert_int_equal(bs_parse(frame, frame + len, &p), 0);
		assert_int_equal(p.l3_off, 14 + 4 * tags);
		assert_int_equal(p.l4_payload, 100);
	}
	/* An 802.1ad outer tag over an 802.1ad inner one is parsed too (old QinQ practice). */
	{
		size_t len = big_tcp(6, 100, 42, 100);
		struct bs_pkt p = {};

		put16(frame + 16, 0x88a8);
		assert_int_equal(bs_parse(frame, frame + len, &p), 0);
		assert_int_equal(p.l3_off, 22);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(big_tcp_length_comes_from_the_skb),
		cmocka_unit_test(ipv6_jumbo_header_is_parsed),
		cmocka_unit_test(zero_length_that_is_not_big_passes),
		cmocka_unit_test(qinq_and_vlan_offsets),
	};

	return cmocka_run_group_tests_name("bs_parse", tests, NULL, NULL);
}
