/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: ones'-complement checksum arithmetic for XDP, where packets come from a
 * wire and carry full checksums (tc uses the skb helpers instead; see docs/datapath-notes.md). */
#ifndef BS_CSUM_H
#define BS_CSUM_H

#include <linux/types.h>

static __always_inline __u16 bs_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Accumulate the change from old to new 16-bit words (RFC 1624, eqn. 3). */
static __always_inline __u32 bs_csum_delta16(__u32 acc, __u16 old, __u16 new)
{
	return acc + (__u16)~old + new;
}

static __always_inline __u32 bs_csum_delta32(__u32 acc, __u32 old, __u32 new)
{
	acc = bs_csum_delta16(acc, old & 0xffff, new & 0xffff);
	return bs_csum_delta16(acc, old >> 16, new >> 16);
}

/* Apply an accumulated delta to a checksum field (full checksum, network order as stored). */
static __always_inline __u16 bs_csum_apply(__u16 check, __u32 delta)
{
	return bs_csum_fold((__u16)~check + delta);
}

/* Sum of 16-bit words, for checksums computed from scratch (bounded by max_words). */
static __always_inline __u32 bs_csum_words(const __u16 *w, __u32 n_words)
{
	__u32 sum = 0;

	for (__u32 i = 0; i < n_words; i++)
		sum += w[i];
	return sum;
}

#endif
