/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* The keyed flow hash, as plain portable C so the BPF programs and userspace
 * (tests, the CLI's "which backend would this flow get") compute the same value.
 * HalfSipHash-1-3 over the ten 32-bit words of a bs_flow_key (64-bit key),
 * then a second, derived hash for the position in a Maglev table. */
#ifndef BPFSPLIT_FLOW_HASH_H
#define BPFSPLIT_FLOW_HASH_H

#include <linux/types.h>
#include "maps.h"

#define BS_HASH_WORDS (sizeof(struct bs_flow_key) / 4)

#define BS_ROTL32(x, b) (__u32)(((x) << (b)) | ((x) >> (32 - (b))))

#define BS_SIPROUND(v0, v1, v2, v3)                                                 \
	do {                                                                        \
		v0 += v1; v1 = BS_ROTL32(v1, 5); v1 ^= v0; v0 = BS_ROTL32(v0, 16);  \
		v2 += v3; v3 = BS_ROTL32(v3, 8); v3 ^= v2;                          \
		v0 += v3; v3 = BS_ROTL32(v3, 7); v3 ^= v0;                          \
		v2 += v1; v1 = BS_ROTL32(v1, 13); v1 ^= v2; v2 = BS_ROTL32(v2, 16); \
	} while (0)

/* HalfSipHash-1-3 of BS_HASH_WORDS words with key (k0, k1). */
static inline __u32 bs_hash_words(const __u32 *w, __u32 k0, __u32 k1)
{
	__u32 v0 = k0, v1 = k1, v2 = 0x6c796765 ^ k0, v3 = 0x74656462 ^ k1;
	__u32 i, b = (__u32)(BS_HASH_WORDS * 4) << 24;

#ifdef __clang__
#pragma unroll
#endif
	for (i = 0; i < BS_HASH_WORDS; i++) {
		v3 ^= w[i];
		BS_SIPROUND(v0, v1, v2, v3);
		v0 ^= w[i];
	}
	v3 ^= b;
	BS_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	BS_SIPROUND(v0, v1, v2, v3);
	BS_SIPROUND(v0, v1, v2, v3);
	BS_SIPROUND(v0, v1, v2, v3);
	return v1 ^ v3;
}

/* The hash that picks the group: of the 5-tuple, or of the client address only.
 * The key is copied into a word array, never read through a cast: a struct read as
 * 32-bit words breaks strict aliasing, and gcc then drops field writes. */
static inline __u32 bs_flow_hash(const struct bs_flow_key *flow, __u8 affinity, const __u32 key[4])
{
	struct bs_flow_key k = {};
	__u32 w[BS_HASH_WORDS];

	if (affinity == BS_AFFINITY_CLIENT) {
		__builtin_memcpy(k.saddr, flow->saddr, sizeof(k.saddr));
		k.family = flow->family;
	} else {
		__builtin_memcpy(&k, flow, sizeof(k));
	}
	__builtin_memcpy(w, &k, sizeof(w));
	return bs_hash_words(w, key[0], key[1]);
}

/* Position in a group's Maglev table, derived from the group hash (murmur3 finaliser,
 * keyed by key[2]) so that flows confined to one group's hash range still spread evenly. */
static inline __u32 bs_maglev_mix(__u32 group_hash, const __u32 key[4])
{
	__u32 h = group_hash ^ key[2];

	h ^= h >> 16;
	h *= 0x85ebca6b;
	h ^= h >> 13;
	h *= 0xc2b2ae35;
	h ^= h >> 16;
	return h;
}

static inline __u32 bs_maglev_slot(__u32 group_hash, const __u32 key[4])
{
	return bs_maglev_mix(group_hash, key) % BS_MAGLEV_SIZE;
}

/* The same position in a large table (bs_maglev_large). */
static inline __u32 bs_maglev_slot_large(__u32 group_hash, const __u32 key[4])
{
	return bs_maglev_mix(group_hash, key) % BS_MAGLEV_LARGE_SIZE;
}

#endif
