/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: packet rewrites for the tc entry points. Packets from local sockets or pods
 * carry CHECKSUM_PARTIAL seeds; only the skb checksum helpers update both those and
 * full checksums exactly (docs/datapath-notes.md, "Checksums"), so every change goes through them. */
#ifndef BS_REWRITE_TC_H
#define BS_REWRITE_TC_H

#include "bs_parse.h"

/* Largest header offset a tc rewrite touches (VLAN + IPv6 + ports), for the verifier. */
#define BS_PULL_MAX_OFF 128

/* Copy len (a constant) bytes into the packet at off with a direct write: the checksum
 * helpers have made the headers writable, and a write through the packet pointer costs
 * less than bpf_skb_store_bytes. Packet pointers are read afresh: helpers invalidate them. */
static __always_inline int bs_tc_store(struct __sk_buff *skb, __u32 off, const void *src, __u32 len)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;

	if (off > BS_PULL_MAX_OFF || data + off + len > data_end)
		return -1;
	__builtin_memcpy(data + off, src, len);
	return 0;
}

/* Rewrite the destination (dst=1) or source (dst=0) address and port. 0 or <0.
 * Checksums first, through the helpers (exact for CHECKSUM_PARTIAL seeds and full
 * checksums alike), then the bytes themselves. */
static __always_inline int bs_tc_rewrite(struct __sk_buff *skb, const struct bs_pkt *p, int dst,
					 const __be32 *addr, __be16 port)
{
	__u32 csum_off = p->l4_off + bs_l4_csum_off(p);
	__u64 mangle = p->flow.proto == IPPROTO_UDP ? BPF_F_MARK_MANGLED_0 : 0;
	const __be32 *old = dst ? p->flow.daddr : p->flow.saddr;
	__be16 old_port = dst ? p->flow.dport : p->flow.sport;
	__u32 port_off = p->l4_off + (dst ? 2 : 0);
	int err;

	if (p->flow.family == BS_AF_INET) {
		__u32 addr_off = p->l3_off + (dst ? offsetof(struct iphdr, daddr) : offsetof(struct iphdr, saddr));

		err = bpf_l4_csum_replace(skb, csum_off, old[0], addr[0], BPF_F_PSEUDO_HDR | mangle | 4);
		err = err ?: bpf_l3_csum_replace(skb, p->l3_off + offsetof(struct iphdr, check), old[0], addr[0], 4);
		err = err ?: bpf_l4_csum_replace(skb, csum_off, old_port, port, mangle | 2);
		err = err ?: bs_tc_store(skb, addr_off, addr, 4);
	} else {
		__u32 addr_off = p->l3_off + (dst ? offsetof(struct ipv6hdr, daddr) : offsetof(struct ipv6hdr, saddr));
		__s64 diff = bpf_csum_diff((__be32 *)old, 16, (__be32 *)addr, 16, 0);

		err = bpf_l4_csum_replace(skb, csum_off, 0, diff, BPF_F_PSEUDO_HDR | mangle);
		err = err ?: bpf_l4_csum_replace(skb, csum_off, old_port, port, mangle | 2);
		err = err ?: bs_tc_store(skb, addr_off, addr, 16);
	}
	err = err ?: bs_tc_store(skb, port_off, &port, 2);
	return err;
}

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* Send a translated packet on towards daddr without the node's stack (SNAT flows): its
 * stack would see a packet from one of its own addresses (SNAT forward) or to one of its
 * ports (replies, answered with a RST), and its conntrack only half of the flow. FIB
 * lookup, TTL/hop limit decrement, then redirect (the kernel resolves the neighbour when
 * the FIB does not know it yet). Returns a TC_ACT_* (TC_ACT_REDIRECT), or -1. */
static __always_inline int bs_tc_forward(struct __sk_buff *skb, const struct bs_pkt *p, const __be32 *saddr,
					 const __be32 *daddr)
{
	struct bpf_fib_lookup fib = {};
	__u32 l3 = p->l3_off;
	int r;

	fib.ifindex = skb->ingress_ifindex;
	fib.l4_protocol = p->flow.proto;
	if (p->flow.family == BS_AF_INET) {
		__u16 old_w, new_w;

		fib.family = AF_INET;
		fib.ipv4_src = saddr[0];
		fib.ipv4_dst = daddr[0];
		if (bpf_skb_load_bytes(skb, l3 + 8, &old_w, 2))
			return -1;
		if (((__u8 *)&old_w)[0] <= 1)
			return -1;
		new_w = old_w;
		((__u8 *)&new_w)[0] -= 1; /* ttl */
		if (bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), old_w, new_w, 2) ||
		    bpf_skb_store_bytes(skb, l3 + 8, &new_w, 2, 0))
			return -1;
	} else {
		__u8 hop;

		fib.family = AF_INET6;
		__builtin_memcpy(fib.ipv6_src, saddr, 16);
		__builtin_memcpy(fib.ipv6_dst, daddr, 16);
		if (bpf_skb_load_bytes(skb, l3 + offsetof(struct ipv6hdr, hop_limit), &hop, 1) || hop <= 1)
			return -1;
		hop -= 1;
		if (bpf_skb_store_bytes(skb, l3 + offsetof(struct ipv6hdr, hop_limit), &hop, 1, 0))
			return -1;
	}
	/* tot_len 0: the kernel checks the skb (GSO included) against the egress MTU. */
	r = bpf_fib_lookup(skb, &fib, sizeof(fib), 0);
	if (r == BPF_FIB_LKUP_RET_SUCCESS) {
		if (bpf_skb_store_bytes(skb, 0, fib.dmac, ETH_ALEN, 0) ||
		    bpf_skb_store_bytes(skb, ETH_ALEN, fib.smac, ETH_ALEN, 0))
			return -1;
		return bpf_redirect(fib.ifindex, 0);
	}
	if (r == BPF_FIB_LKUP_RET_NO_NEIGH)
		return bpf_redirect_neigh(fib.ifindex, NULL, 0, 0);
	return -1;
}

/* Turn a SYN (without payload) into the RST|ACK that refuses it, in place, then send
 * it back out of the interface it came in on. Header words that change are folded into
 * one data delta (applied only to full checksums by the helper) and one pseudo-header
 * length delta (applied to both forms). Returns a TC_ACT_* or -1. */
static __noinline int bs_tc_reject(struct __sk_buff *skb, const struct bs_pkt *p)
{
	__u32 l3 = p->l3_off, l4 = p->l4_off, csum_off = l4 + offsetof(struct tcphdr, check);
	__u16 old_hdr[10], new_hdr[10];
	__u32 opt[10] = {};
	__u32 delta = 0, doff, n_opt;
	__u8 macs[2 * ETH_ALEN], swapped[2 * ETH_ALEN];
	__be32 addrs[8];

	if (p->l4_payload)
		return -1;
	if (bpf_skb_load_bytes(skb, l4, old_hdr, sizeof(old_hdr)))
		return -1;
	doff = (((__u8 *)old_hdr)[12] >> 4) * 4;
	if (doff < 20 || doff > 60)
		return -1;
	n_opt = (doff - 20) / 4; /* option words, removed from the answer */
	for (int i = 0; i < 10; i++) {
		if (i >= n_opt)
			break;
		if (bpf_skb_load_bytes(skb, l4 + 20 + 4 * i, &opt[i], 4))
			return -1;
	}

	__builtin_memcpy(new_hdr, old_hdr, sizeof(new_hdr));
	new_hdr[0] = old_hdr[1]; /* ports swapped */
	new_hdr[1] = old_hdr[0];
	*(__be32 *)&new_hdr[2] = 0;                              /* seq */
	*(__be32 *)&new_hdr[4] = bpf_htonl(p->seq + 1);          /* ack */
	((__u8 *)new_hdr)[12] = 5 << 4;
	((__u8 *)new_hdr)[13] = BS_TCP_RST | BS_TCP_ACK;
	new_hdr[7] = 0;                                          /* window */
	new_hdr[9] = 0;                                          /* urgent pointer */
#pragma unroll
	for (int i = 0; i < 10; i++)
		if (i != 8) /* the checksum word itself */
			delta += (__u16)~old_hdr[i] + new_hdr[i];
	for (int i = 0; i < 10; i++)
		if (i < n_opt)
			delta += (__u16)~(opt[i] & 0xffff) + (__u16)~(opt[i] >> 16);
	delta = (delta & 0xffff) + (delta >> 16);
	delta = (delta & 0xffff) + (delta >> 16);

	if (bpf_l4_csum_replace(skb, csum_off, 0, delta, 0))
		return -1;
	if (bpf_l4_csum_replace(skb, csum_off, bpf_htons(p->l4_len), bpf_htons(20), BPF_F_PSEUDO_HDR | 2))
		return -1;
	/* Write the new header around the (already updated) checksum word. */
	if (bpf_skb_store_bytes(skb, l4, new_hdr, 16, 0) || bpf_skb_store_bytes(skb, l4 + 18, &new_hdr[9], 2, 0))
		return -1;

	if (p->flow.family == BS_AF_INET) {
		__u16 old_w, new_w;
		__be16 new_len = bpf_htons(l4 - l3 + 20);

		if (bpf_skb_load_bytes(skb, l3 + 2, &old_w, 2) ||
		    bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), old_w, new_len, 2) ||
		    bpf_skb_store_bytes(skb, l3 + 2, &new_len, 2, 0))
			return -1;
		if (bpf_skb_load_bytes(skb, l3 + 8, &old_w, 2))
			return -1;
		new_w = old_w;
		((__u8 *)&new_w)[0] = 64; /* ttl */
		if (bpf_l3_csum_replace(skb, l3 + offsetof(struct iphdr, check), old_w, new_w, 2) ||
		    bpf_skb_store_bytes(skb, l3 + 8, &new_w, 2, 0))
			return -1;
		addrs[0] = p->flow.daddr[0];
		addrs[1] = p->flow.saddr[0];
		if (bpf_skb_store_bytes(skb, l3 + offsetof(struct iphdr, saddr), addrs, 8, 0))
			return -1;
	} else {
		__be16 plen = bpf_htons(20);
		__u8 hop = 64;

		__builtin_memcpy(addrs, p->flow.daddr, 16);
		__builtin_memcpy(&addrs[4], p->flow.saddr, 16);
		if (bpf_skb_store_bytes(skb, l3 + offsetof(struct ipv6hdr, payload_len), &plen, 2, 0) ||
		    bpf_skb_store_bytes(skb, l3 + offsetof(struct ipv6hdr, hop_limit), &hop, 1, 0) ||
		    bpf_skb_store_bytes(skb, l3 + offsetof(struct ipv6hdr, saddr), addrs, 32, 0))
			return -1;
	}

	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)))
		return -1;
	__builtin_memcpy(swapped, macs + ETH_ALEN, ETH_ALEN);
	__builtin_memcpy(swapped + ETH_ALEN, macs, ETH_ALEN);
	if (bpf_skb_store_bytes(skb, 0, swapped, sizeof(swapped), 0))
		return -1;
	if (bpf_skb_change_tail(skb, l4 + 20, 0))
		return -1;
	return bpf_redirect(skb->ifindex, 0);
}

#endif
