// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer harness: the data path's packet parser (bpf/bs_parse.h) compiled as plain C.
 * The frame sits in a buffer of exactly its size, so ASan catches any read the parser's
 * bounds checks let past the end (the verifier forbids those in the kernel; here they
 * would show as a wrong check). The first two bytes choose the skb's length beyond the
 * linear data and its GSO size. A parsed packet must have its L4 header inside the
 * frame, consistent lengths, and the addresses and ports at the offsets it reports. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../bpf/pktgen.h"
#include <linux/bpf.h>
#pragma GCC diagnostic ignored "-Wunknown-pragmas"
#include "../../bpf/bs_parse.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_pkt p = {};
	uint8_t *frame;
	size_t len;
	__u32 pkt_len, gso;
	int r;

	if (size < 2)
		return 0;
	len = size - 2;
	pkt_len = len + (data[0] & 0x80 ? 70000u * (data[0] & 0x7f) / 127 : 0);
	gso = data[1] & 1 ? 1448 : 0;
	/* Two bytes in, as the kernel aligns packets (NET_IP_ALIGN): the IP header is then
	 * 4-byte aligned. The end is exact. */
	frame = (uint8_t *)malloc(len + 2) + 2;
	memcpy(frame, data + 2, len);
	r = bs_parse_len(frame, frame + len, pkt_len, gso, &p);
	if (!r) {
		__u32 hdr = p.flow.proto == 6 ? 20 : 8;

		CHECK(p.flow.proto == 6 || p.flow.proto == 17);
		CHECK(p.l3_off >= 14 && p.l3_off <= 14 + 4 * BS_MAX_VLAN_TAGS);
		CHECK(p.l4_off >= p.l3_off + 20 && p.l4_off + hdr <= len);
		CHECK(p.l4_payload <= p.l4_len);
		CHECK(p.l4_len <= pkt_len - p.l4_off);
		CHECK(!memcmp(&p.flow.sport, frame + p.l4_off, 2));
		CHECK(!memcmp(&p.flow.dport, frame + p.l4_off + 2, 2));
		if (p.flow.family == BS_AF_INET) {
			CHECK(p.l4_off - p.l3_off == (frame[p.l3_off] & 0xfu) * 4);
			CHECK(!memcmp(p.flow.daddr, frame + p.l3_off + 16, 4));
		} else {
			/* 40, or 48 past a BIG TCP jumbo hop-by-hop header (payload length 0,
			 * next header 0). */
			bool jumbo = frame[p.l3_off + 6] == 0 && !frame[p.l3_off + 4] && !frame[p.l3_off + 5];

			CHECK(p.flow.family == BS_AF_INET6 && p.l4_off == p.l3_off + (jumbo ? 48 : 40));
			CHECK(!memcmp(p.flow.daddr, frame + p.l3_off + 24, 16));
		}
	} else {
		CHECK(r > 0 && r < BS_R_MAX);
	}
	free(frame - 2);
	return 0;
}
