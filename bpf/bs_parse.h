/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: cursor-based packet parsing (Ethernet, up to two VLAN tags - 802.1Q, or QinQ
 * with an 802.1ad outer tag -, IPv4 with options, IPv6, TCP, UDP) into a struct bs_pkt of
 * offsets and the flow key. Every read is bounds-checked first; IP lengths above the MTU
 * are fine (GSO packets on tc/generic XDP), and so are BIG TCP packets over 64 KiB, whose
 * IP length field is 0 (see bs_big_tcp_len), with or without an IPv6 jumbo header. */
#ifndef BS_PARSE_H
#define BS_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>
#include "bpfsplit/maps.h"
#include "bpfsplit/reasons.h"

#ifndef ETH_P_8021Q
#define ETH_P_8021Q 0x8100
#endif
#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
#define BS_IP_MF 0x2000
#define BS_IP_OFFSET 0x1FFF
#define BS_NEXTHDR_FRAGMENT 44

struct bs_vlan_hdr {
	__be16 tci;
	__be16 encap_proto;
};

/* The hop-by-hop header of an IPv6 jumbogram as Linux's BIG TCP writes it: nothing but
 * the jumbo payload option (RFC 2675). Its length counts this header and what follows. */
struct bs_jumbo_hdr {
	__u8 nexthdr;
	__u8 hdrlen;    /* 0: 8 bytes */
	__u8 tlv_type;  /* BS_IPV6_TLV_JUMBO */
	__u8 tlv_len;   /* 4 */
	__be32 jumbo_len;
};

#define BS_NEXTHDR_HOP 0
#define BS_IPV6_TLV_JUMBO 0xC2

/* What the parser learned; offsets are from the start of the frame. */
struct bs_pkt {
	struct bs_flow_key flow; /* client -> destination as seen on the wire */
	__u32 l3_off;
	__u32 l4_off;
	__u32 l4_len;            /* L4 header + payload length, from the IP header */
	__u32 seq;               /* TCP sequence number, host order */
	__u32 l4_payload;        /* bytes after the L4 header */
	__u8 tcp_flags;          /* FIN 0x01 SYN 0x02 RST 0x04 ACK 0x10 */
	__u8 pad[3];
};

#define BS_TCP_FIN 0x01
#define BS_TCP_SYN 0x02
#define BS_TCP_RST 0x04
#define BS_TCP_ACK 0x10

/* Byte 13 of the TCP header holds the flags. */
#define BS_TCP_FLAGS_OFF 13

/* VLAN tags parsed before the EtherType: one 802.1Q tag, or QinQ (802.1ad outer tag and
 * 802.1Q inner tag, or two 802.1Q tags). A third tag is not parsed (BS_R_PASS_NOT_IP). */
#define BS_MAX_VLAN_TAGS 2

/* BIG TCP: Linux builds GSO TCP packets over 64 KiB with IPv4 total length 0, or IPv6
 * payload length 0. IPv6 ones carry a jumbo hop-by-hop header on the way (RFC 2675,
 * struct bs_jumbo_hdr: the stack adds it, the driver strips it) or, on kernels that no
 * longer add it, none. Without a length field to read, their length is the skb's.
 * Returns the L4 length for such a packet, or 0 when it is not one: not GSO, not TCP,
 * or not really longer than the field can say. */
static __always_inline __u32 bs_big_tcp_len(__u32 pkt_len, __u32 gso_size, __u32 l3_off, __u32 l3_hdr, __u8 proto)
{
	if (!gso_size || proto != IPPROTO_TCP || pkt_len <= l3_off + 0xFFFF)
		return 0;
	return pkt_len - l3_off - l3_hdr;
}

/* Parse the frame between data and data_end; pkt_len is the whole packet's length (the
 * skb's, which may extend past data_end) and gso_size its GSO segment size (0: not GSO).
 * Returns 0 when p describes a TCP or UDP packet, else the bs_reason to pass it with. */
static __always_inline int bs_parse_len(void *data, void *data_end, __u32 pkt_len, __u32 gso_size, struct bs_pkt *p)
{
	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);
	__u16 proto;
	__u8 l4proto;

	if ((void *)(eth + 1) > data_end)
		return BS_R_PASS_TRUNCATED;
	proto = eth->h_proto;
#pragma unroll
	for (int i = 0; i < BS_MAX_VLAN_TAGS; i++) {
		struct bs_vlan_hdr *vh = data + off;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > data_end)
			return BS_R_PASS_TRUNCATED;
		proto = vh->encap_proto;
		off += sizeof(*vh);
	}
	p->l3_off = off;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;
		__u32 ihl;

		if ((void *)(ip + 1) > data_end)
			return BS_R_PASS_TRUNCATED;
		ihl = ip->ihl * 4;
		if (ip->version != 4 || ihl < sizeof(*ip))
			return BS_R_PASS_TRUNCATED;
		if (data + off + ihl > data_end)
			return BS_R_PASS_TRUNCATED;
		if (ip->frag_off & bpf_htons(BS_IP_MF | BS_IP_OFFSET))
			return BS_R_PASS_FRAGMENT;
		l4proto = ip->protocol;
		p->l4_len = bpf_ntohs(ip->tot_len);
		if (!p->l4_len)
			p->l4_len = bs_big_tcp_len(pkt_len, gso_size, off, 0, l4proto);
		if (p->l4_len < ihl)
			return BS_R_PASS_TRUNCATED;
		p->flow.family = BS_AF_INET;
		p->flow.saddr[0] = ip->saddr;
		p->flow.daddr[0] = ip->daddr;
		off += ihl;
		p->l4_off = off;
		p->l4_len -= ihl;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end)
			return BS_R_PASS_TRUNCATED;
		if (ip6->version != 6)
			return BS_R_PASS_TRUNCATED;
		l4proto = ip6->nexthdr;
		if (l4proto == BS_NEXTHDR_FRAGMENT)
			return BS_R_PASS_FRAGMENT;
		p->flow.family = BS_AF_INET6;
		__builtin_memcpy(p->flow.saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->flow.daddr, &ip6->daddr, 16);
		p->l4_len = bpf_ntohs(ip6->payload_len); /* L4 length */
		if (!p->l4_len && l4proto == BS_NEXTHDR_HOP) {
			struct bs_jumbo_hdr *j = data + off + sizeof(*ip6);
			__u32 jlen;

			if ((void *)(j + 1) > data_end)
				return BS_R_PASS_TRUNCATED;
			jlen = bpf_ntohl(j->jumbo_len);
			/* Other hop-by-hop options stay unparsed (BS_R_PASS_L4_UNSUPPORTED). */
			if (!j->hdrlen && j->tlv_type == BS_IPV6_TLV_JUMBO && j->tlv_len == 4 && jlen > 0xFFFF) {
				l4proto = j->nexthdr;
				p->l4_len = jlen - sizeof(*j);
				off += sizeof(*j);
			}
		} else if (!p->l4_len) {
			p->l4_len = bs_big_tcp_len(pkt_len, gso_size, off, sizeof(*ip6), l4proto);
		}
		off += sizeof(*ip6);
		p->l4_off = off;
	} else {
		return BS_R_PASS_NOT_IP;
	}

	/* An IP length beyond the packet's end: cut short on the way (the stack drops it). */
	if (pkt_len < off || p->l4_len > pkt_len - off)
		return BS_R_PASS_TRUNCATED;
	p->flow.proto = l4proto;
	if (l4proto == IPPROTO_TCP) {
		struct tcphdr *tcp = data + off;
		__u32 doff;

		if ((void *)(tcp + 1) > data_end)
			return BS_R_PASS_TRUNCATED;
		doff = tcp->doff * 4;
		if (doff < sizeof(*tcp) || p->l4_len < doff)
			return BS_R_PASS_TRUNCATED;
		/* Options included: a frame cut inside them is truncated too. */
		if (data + off + doff > data_end)
			return BS_R_PASS_TRUNCATED;
		p->flow.sport = tcp->source;
		p->flow.dport = tcp->dest;
		p->seq = bpf_ntohl(tcp->seq);
		p->tcp_flags = ((__u8 *)tcp)[BS_TCP_FLAGS_OFF];
		p->l4_payload = p->l4_len - doff;
	} else if (l4proto == IPPROTO_UDP) {
		struct udphdr *udp = data + off;

		if ((void *)(udp + 1) > data_end)
			return BS_R_PASS_TRUNCATED;
		if (p->l4_len < sizeof(*udp))
			return BS_R_PASS_TRUNCATED;
		p->flow.sport = udp->source;
		p->flow.dport = udp->dest;
		p->l4_payload = p->l4_len - sizeof(*udp);
	} else {
		return BS_R_PASS_L4_UNSUPPORTED;
	}
	return 0;
}

/* A frame as XDP sees it: all of it between data and data_end, never GSO. */
static __always_inline int bs_parse(void *data, void *data_end, struct bs_pkt *p)
{
	return bs_parse_len(data, data_end, data_end - data, 0, p);
}

/* Headers tc may need in the linear area: QinQ Ethernet + IPv4 with options (the longest
 * IP header) + TCP with options. */
#define BS_PULL_LEN (14 + 4 * BS_MAX_VLAN_TAGS + 60 + 60)

/* Parse an skb, pulling headers into the linear area when they are not there yet. */
static __always_inline int bs_tc_parse(struct __sk_buff *skb, struct bs_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	int r = bs_parse_len(data, data_end, skb->len, skb->gso_size, p);

	if (r == BS_R_PASS_TRUNCATED && skb->len > data_end - data) {
		bpf_skb_pull_data(skb, skb->len < BS_PULL_LEN ? skb->len : BS_PULL_LEN);
		data = (void *)(long)skb->data;
		data_end = (void *)(long)skb->data_end;
		__builtin_memset(p, 0, sizeof(*p));
		r = bs_parse_len(data, data_end, skb->len, skb->gso_size, p);
	}
	return r;
}

/* Offset of the L4 checksum field from the L4 header. */
static __always_inline __u32 bs_l4_csum_off(const struct bs_pkt *p)
{
	return p->flow.proto == IPPROTO_TCP ? offsetof(struct tcphdr, check) : offsetof(struct udphdr, check);
}

#endif
