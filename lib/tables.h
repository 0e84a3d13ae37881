/* SPDX-License-Identifier: BSD-2-Clause */
/* Table builders in plain C: cumulative weight thresholds for a split and the Maglev
 * lookup table of a group. Deterministic, so every node builds the same tables. */
#ifndef BS_TABLES_H
#define BS_TABLES_H

#include <linux/types.h>
#include "bpfsplit/maps.h"

/* T_i = floor(2^32 * sum_{j<=i} w_j / sum w); all zero when every weight is zero.
 * Returns 0, or -EINVAL for n > BS_MAX_GROUPS or a weight above BS_MAX_WEIGHT. */
int bs_thresholds(const __u32 *weights, __u32 n, __u64 *thresholds);

/* The group a 32-bit hash falls in, or n when none (the BPF rule, for tests and the CLI). */
__u32 bs_group_of_hash(const __u64 *thresholds, __u32 n, __u32 hash);

/* One backend as the Maglev builder sees it: its address identifies it on every node. */
struct bs_maglev_member {
	__be32 addr[4];
	__be16 port;
	__u8 family;
	__u32 id; /* what the table slots hold (the node-local backend id) */
};

/* Fill table->backend_ids with the ids of members (n >= 1), order-independent:
 * members are sorted by address first. Returns 0 or -EINVAL/-ENOMEM. */
int bs_maglev_build(struct bs_maglev_member *members, __u32 n, struct bs_maglev_table *table);
/* The same for a table of size slots (prime): BS_MAGLEV_LARGE_SIZE for large tables. */
int bs_maglev_build_slots(struct bs_maglev_member *members, __u32 n, __u32 *slots, __u32 size);
/* The table size for a group of n ready backends. */
static inline __u32 bs_maglev_size_for(__u32 n_ready)
{
	return n_ready > BS_MAGLEV_SMALL_MAX_READY ? BS_MAGLEV_LARGE_SIZE : BS_MAGLEV_SIZE;
}

#endif
