/* SPDX-License-Identifier: BSD-2-Clause */
/* A small packet builder and checker for BPF_PROG_TEST_RUN fixtures: frames are described
 * by named fields (addresses as strings, ports, flags), never raw hex, and checksums of
 * output frames are recomputed from scratch. Header-only; used by tests and benchmarks. */
#ifndef BS_PKTGEN_H
#define BS_PKTGEN_H

#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

enum pkt_csum {
	PKT_CSUM_FULL = 0, /* finished checksum, as from a wire */
	PKT_CSUM_SEED = 1, /* CHECKSUM_PARTIAL seed: folded pseudo-header sum, not complemented */
	PKT_CSUM_NONE = 2, /* UDP over IPv4 without checksum (0) */
};

struct pkt_spec {
	int ipv;               /* 4 or 6 */
	const char *src, *dst; /* addresses */
	uint16_t sport, dport; /* host order */
	uint8_t proto;         /* 6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6 */
	uint8_t tcp_flags;     /* 0x02 SYN, 0x10 ACK, 0x01 FIN, 0x04 RST */
	uint32_t seq, ack;
	uint16_t vlan;         /* 802.1Q id, 0 = untagged */
	uint16_t svlan;        /* 802.1ad (QinQ) outer id before the 802.1Q tag, 0 = none */
	int ip_opt_len;        /* IPv4 option bytes (multiple of 4, <= 40) */
	int tcp_opt_len;       /* TCP option bytes (multiple of 4, <= 40) */
	int payload_len;
	enum pkt_csum csum;
	bool fragment;         /* IPv4: MF set; IPv6: a fragment header */
};

#define PKT_MAX 2048

static inline uint32_t pkt_sum(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static inline uint16_t pkt_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* Pseudo-header sum (host-order arithmetic over big-endian words). */
static inline uint32_t pkt_pseudo(int ipv, const uint8_t *src, const uint8_t *dst, uint8_t proto, uint32_t l4len)
{
	int alen = ipv == 4 ? 4 : 16;
	uint32_t sum = pkt_sum(src, alen, 0);

	sum = pkt_sum(dst, alen, sum);
	sum += proto;
	sum += l4len & 0xffff;
	sum += l4len >> 16;
	return sum;
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

/* Build the frame; returns its length (0 on a bad spec). */
static inline size_t pkt_build(const struct pkt_spec *s, uint8_t *buf)
{
	static const uint8_t dmac[6] = { 0x02, 0, 0, 0, 0, 0x01 }, smac[6] = { 0x02, 0, 0, 0, 0, 0x02 };
	uint8_t src[16] = {}, dst[16] = {};
	size_t off = 0, l3, l4, l4len, hl;
	int fam = s->ipv == 4 ? AF_INET : AF_INET6;

	if (inet_pton(fam, s->src, src) != 1 || inet_pton(fam, s->dst, dst) != 1)
		return 0;
	memset(buf, 0, PKT_MAX);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	off = 12;
	if (s->svlan) {
		put16(buf + off, 0x88a8);
		put16(buf + off + 2, s->svlan);
		off += 4;
	}
	if (s->vlan) {
		put16(buf + off, 0x8100);
		put16(buf + off + 2, s->vlan);
		off += 4;
	}
	put16(buf + off, s->ipv == 4 ? 0x0800 : 0x86dd);
	off += 2;
	l3 = off;

	if (s->proto == 6)
		hl = 20 + s->tcp_opt_len;
	else if (s->proto == 17)
		hl = 8;
	else
		hl = 8; /* ICMP echo header */
	l4len = hl + s->payload_len;

	if (s->ipv == 4) {
		size_t ihl = 20 + s->ip_opt_len;

		buf[l3] = 0x40 | (ihl / 4);
		put16(buf + l3 + 2, ihl + l4len);
		put16(buf + l3 + 4, 0x1234);
		put16(buf + l3 + 6, s->fragment ? 0x2000 : 0x4000); /* MF, or DF */
		buf[l3 + 8] = 64;
		buf[l3 + 9] = s->proto;
		memcpy(buf + l3 + 12, src, 4);
		memcpy(buf + l3 + 16, dst, 4);
		for (int i = 0; i < s->ip_opt_len; i++)
			buf[l3 + 20 + i] = 0x01; /* NOP options */
		put16(buf + l3 + 10, ~pkt_fold(pkt_sum(buf + l3, ihl, 0)));
		l4 = l3 + ihl;
	} else {
		buf[l3] = 0x60;
		put16(buf + l3 + 4, l4len + (s->fragment ? 8 : 0));
		buf[l3 + 6] = s->fragment ? 44 : s->proto;
		buf[l3 + 7] = 64;
		memcpy(buf + l3 + 8, src, 16);
		memcpy(buf + l3 + 24, dst, 16);
		l4 = l3 + 40;
		if (s->fragment) {
			buf[l4] = s->proto;
			put16(buf + l4 + 2, 1); /* offset 0, M flag */
			l4 += 8;
		}
	}

	if (s->proto == 6) {
		put16(buf + l4, s->sport);
		put16(buf + l4 + 2, s->dport);
		put32(buf + l4 + 4, s->seq);
		put32(buf + l4 + 8, s->ack);
		buf[l4 + 12] = (uint8_t)((hl / 4) << 4);
		buf[l4 + 13] = s->tcp_flags;
		put16(buf + l4 + 14, 64240);
		if (s->tcp_opt_len >= 4) { /* MSS 1460, then NOPs */
			buf[l4 + 20] = 2;
			buf[l4 + 21] = 4;
			put16(buf + l4 + 22, 1460);
			for (int i = 4; i < s->tcp_opt_len; i++)
				buf[l4 + 20 + i] = 0x01;
		}
	} else if (s->proto == 17) {
		put16(buf + l4, s->sport);
		put16(buf + l4 + 2, s->dport);
		put16(buf + l4 + 4, l4len);
	} else {
		buf[l4] = s->ipv == 4 ? 8 : 128; /* echo request */
	}
	for (int i = 0; i < s->payload_len; i++)
		buf[l4 + hl + i] = (uint8_t)('a' + i % 26);

	if (s->proto == 6 || s->proto == 17) {
		size_t csum_off = l4 + (s->proto == 6 ? 16 : 6);
		uint32_t pseudo = pkt_pseudo(s->ipv, src, dst, s->proto, l4len);

		if (s->csum == PKT_CSUM_SEED) {
			put16(buf + csum_off, pkt_fold(pseudo));
		} else if (s->csum == PKT_CSUM_FULL) {
			uint16_t c = ~pkt_fold(pkt_sum(buf + l4, l4len, pseudo));

			put16(buf + csum_off, (s->proto == 17 && c == 0) ? 0xffff : c);
		}
	}
	return l4 + l4len;
}

/* What a test reads back from an output frame. */
struct pkt_view {
	int ipv;
	size_t l3, l4, len;
	uint8_t proto;
	char src[64], dst[64];
	uint16_t sport, dport;
	uint8_t tcp_flags;
	uint32_t seq, ack;
	uint16_t l4_csum;
	bool ip_csum_ok; /* IPv4 header checksum verifies (true for IPv6) */
	bool l4_csum_ok; /* full L4 checksum verifies from scratch */
	bool l4_seed_ok; /* L4 field equals the pseudo-header seed of the current headers */
	uint8_t smac[6], dmac[6];
};

static inline bool pkt_view(const uint8_t *buf, size_t len, struct pkt_view *v)
{
	size_t off = 12, l4len;
	uint16_t et;

	memset(v, 0, sizeof(*v));
	v->len = len;
	if (len < 14)
		return false;
	memcpy(v->dmac, buf, 6);
	memcpy(v->smac, buf + 6, 6);
	et = get16(buf + off);
	for (int tags = 0; tags < 2 && (et == 0x8100 || et == 0x88a8); tags++) {
		off += 4;
		et = get16(buf + off);
	}
	off += 2;
	v->l3 = off;
	if (et == 0x0800) {
		size_t ihl = (buf[off] & 0xf) * 4;

		v->ipv = 4;
		v->proto = buf[off + 9];
		inet_ntop(AF_INET, buf + off + 12, v->src, sizeof(v->src));
		inet_ntop(AF_INET, buf + off + 16, v->dst, sizeof(v->dst));
		v->ip_csum_ok = pkt_fold(pkt_sum(buf + off, ihl, 0)) == 0xffff;
		v->l4 = off + ihl;
		l4len = get16(buf + off + 2) - ihl;
	} else if (et == 0x86dd) {
		v->ipv = 6;
		v->proto = buf[off + 6];
		inet_ntop(AF_INET6, buf + off + 8, v->src, sizeof(v->src));
		inet_ntop(AF_INET6, buf + off + 24, v->dst, sizeof(v->dst));
		v->ip_csum_ok = true;
		v->l4 = off + 40;
		l4len = get16(buf + off + 4);
	} else {
		return false;
	}
	if (v->l4 + l4len > len)
		return false;
	if (v->proto == 6 || v->proto == 17) {
		const uint8_t *sa = buf + v->l3 + (v->ipv == 4 ? 12 : 8);
		const uint8_t *da = buf + v->l3 + (v->ipv == 4 ? 16 : 24);
		uint32_t pseudo = pkt_pseudo(v->ipv, sa, da, v->proto, l4len);
		size_t csum_off = v->l4 + (v->proto == 6 ? 16 : 6);

		v->sport = get16(buf + v->l4);
		v->dport = get16(buf + v->l4 + 2);
		v->l4_csum = get16(buf + csum_off);
		v->l4_csum_ok = pkt_fold(pkt_sum(buf + v->l4, l4len, pseudo)) == 0xffff;
		v->l4_seed_ok = v->l4_csum == pkt_fold(pseudo);
		if (v->proto == 6) {
			v->seq = get32(buf + v->l4 + 4);
			v->ack = get32(buf + v->l4 + 8);
			v->tcp_flags = buf[v->l4 + 13];
		}
	}
	return true;
}

#endif
