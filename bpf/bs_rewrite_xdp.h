/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: packet rewrites for the XDP entry point — destination NAT with incremental
 * checksums and the RST answer to a refused SYN. XDP sees frames from a wire, so every
 * L4 checksum is a full one and plain RFC 1624 arithmetic is exact. */
#ifndef BS_REWRITE_XDP_H
#define BS_REWRITE_XDP_H

#include "bs_parse.h"
#include "bs_csum.h"

/* Largest offsets the parser can produce (QinQ + IPv6 / IPv4 with options), for the verifier. */
#define BS_MAX_L3_OFF (14 + 4 * BS_MAX_VLAN_TAGS)
#define BS_MAX_L4_OFF (BS_MAX_L3_OFF + 60)

/* Rewrite the destination (dst=1) or source (dst=0) address and port. 0 or -1. */
static __always_inline int bs_xdp_rewrite(void *data, void *data_end, const struct bs_pkt *p, int dst,
					  const __be32 *addr, __be16 port)
{
	__u32 l3 = p->l3_off, l4 = p->l4_off, delta = 0;

	if (l3 > BS_MAX_L3_OFF || l4 > BS_MAX_L4_OFF)
		return -1;
	if (p->flow.family == BS_AF_INET) {
		struct iphdr *ip = data + l3;
		__be32 *a;

		if ((void *)(ip + 1) > data_end)
			return -1;
		a = dst ? &ip->daddr : &ip->saddr;
		delta = bs_csum_delta32(0, *a, addr[0]);
		ip->check = bs_csum_apply(ip->check, delta);
		*a = addr[0];
	} else {
		struct ipv6hdr *ip6 = data + l3;
		__be32 *a;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		a = dst ? ip6->daddr.in6_u.u6_addr32 : ip6->saddr.in6_u.u6_addr32;
#pragma unroll
		for (int i = 0; i < 4; i++) {
			delta = bs_csum_delta32(delta, a[i], addr[i]);
			a[i] = addr[i];
		}
	}

	if (p->flow.proto == IPPROTO_TCP) {
		struct tcphdr *t = data + l4;
		__be16 *pp;

		if ((void *)(t + 1) > data_end)
			return -1;
		pp = dst ? &t->dest : &t->source;
		delta = bs_csum_delta16(delta, *pp, port);
		*pp = port;
		t->check = bs_csum_apply(t->check, delta);
	} else {
		struct udphdr *u = data + l4;
		__be16 *pp;

		if ((void *)(u + 1) > data_end)
			return -1;
		pp = dst ? &u->dest : &u->source;
		delta = bs_csum_delta16(delta, *pp, port);
		*pp = port;
		/* IPv4 UDP without checksum stays without; a computed 0 is sent as 0xffff. */
		if (u->check || p->flow.family == BS_AF_INET6) {
			__u16 c = bs_csum_apply(u->check, delta);

			u->check = c ? c : 0xffff;
		}
	}
	return 0;
}

/* Turn a SYN into the RST|ACK that refuses it, addressed back to the sender. 0 or -1. */
static __always_inline int bs_xdp_build_rst(struct xdp_md *ctx, const struct bs_pkt *p)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 l3 = p->l3_off, l4 = p->l4_off, sum = 0;
	int want = (int)l4 + (int)sizeof(struct tcphdr);
	struct ethhdr *eth;
	struct tcphdr *t;
	__u8 mac[ETH_ALEN];

	if (l3 > BS_MAX_L3_OFF || l4 > BS_MAX_L4_OFF)
		return -1;
	if (data_end - data > want && bpf_xdp_adjust_tail(ctx, want - (int)(data_end - data)))
		return -1;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;

	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(mac, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, mac, ETH_ALEN);

	t = data + l4;
	if ((void *)(t + 1) > data_end)
		return -1;
	if (p->flow.family == BS_AF_INET) {
		struct iphdr *ip = data + l3;
		__u32 ihl_words;

		if ((void *)(ip + 1) > data_end)
			return -1;
		ip->saddr = p->flow.daddr[0];
		ip->daddr = p->flow.saddr[0];
		ip->ttl = 64;
		ip->tot_len = bpf_htons(l4 - l3 + sizeof(*t));
		ip->check = 0;
		ihl_words = ip->ihl * 2;
		/* The header is at most 60 bytes: sum it word by word, each read bounds-checked. */
#pragma unroll
		for (int i = 0; i < 30; i++) {
			__u16 *w = (__u16 *)ip + i;

			if (i >= ihl_words || (void *)(w + 1) > data_end)
				break;
			sum += *w;
		}
		ip->check = bs_csum_fold(sum);
		sum = (p->flow.saddr[0] & 0xffff) + (p->flow.saddr[0] >> 16) + (p->flow.daddr[0] & 0xffff) +
		      (p->flow.daddr[0] >> 16);
	} else {
		struct ipv6hdr *ip6 = data + l3;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__builtin_memcpy(&ip6->saddr, p->flow.daddr, 16);
		__builtin_memcpy(&ip6->daddr, p->flow.saddr, 16);
		ip6->hop_limit = 64;
		ip6->payload_len = bpf_htons(sizeof(*t));
		sum = bs_csum_words((const __u16 *)p->flow.saddr, 8) + bs_csum_words((const __u16 *)p->flow.daddr, 8);
	}
	sum += bpf_htons(IPPROTO_TCP) + bpf_htons(sizeof(*t));

	t->source = p->flow.dport;
	t->dest = p->flow.sport;
	t->ack_seq = bpf_htonl(p->seq + 1 + p->l4_payload);
	t->seq = 0;
	((__u8 *)t)[12] = 5 << 4; /* doff 5, no options */
	((__u8 *)t)[BS_TCP_FLAGS_OFF] = BS_TCP_RST | BS_TCP_ACK;
	t->window = 0;
	t->urg_ptr = 0;
	t->check = 0;
	sum += bs_csum_words((const __u16 *)t, sizeof(*t) / 2);
	t->check = bs_csum_fold(sum);
	return 0;
}

#endif
