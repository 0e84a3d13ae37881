// SPDX-License-Identifier: BSD-2-Clause
/* Threshold and Maglev table builders (see tables.h). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "bpfsplit/flow_hash.h"
#include "tables.h"

int bs_thresholds(const __u32 *weights, __u32 n, __u64 *thresholds)
{
	__u64 total = 0, cum = 0;

	if (n > BS_MAX_GROUPS)
		return -EINVAL;
	for (__u32 i = 0; i < n; i++) {
		if (weights[i] > BS_MAX_WEIGHT)
			return -EINVAL;
		total += weights[i];
	}
	for (__u32 i = 0; i < n; i++) {
		cum += weights[i];
		/* total <= 16e6 < 2^24, so 2^32 * cum fits in 64 bits. */
		thresholds[i] = total ? (cum << 32) / total : 0;
	}
	return 0;
}

__u32 bs_group_of_hash(const __u64 *thresholds, __u32 n, __u32 hash)
{
	for (__u32 i = 0; i < n; i++)
		if ((__u64)hash < thresholds[i])
			return i;
	return n;
}

static int member_cmp(const void *a, const void *b)
{
	const struct bs_maglev_member *x = a, *y = b;
	int c;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	c = memcmp(x->addr, y->addr, sizeof(x->addr));
	if (c)
		return c;
	return memcmp(&x->port, &y->port, sizeof(x->port));
}

/* The two per-member hashes of Maglev (offset, skip), from the member's address with
 * fixed keys: the same on every node whatever the flow-hash key. */
static void member_hashes(const struct bs_maglev_member *m, __u32 size, __u32 *offset, __u32 *skip)
{
	struct bs_flow_key k = {};
	__u32 w[BS_HASH_WORDS];

	memcpy(k.saddr, m->addr, sizeof(k.saddr));
	k.sport = m->port;
	k.family = m->family;
	memcpy(w, &k, sizeof(w)); /* never read a struct through a __u32 cast: strict aliasing */
	*offset = bs_hash_words(w, 0x6d61676c, 0x65763031) % size;
	*skip = bs_hash_words(w, 0x736b6970, 0x30313233) % (size - 1) + 1;
}

int bs_maglev_build(struct bs_maglev_member *members, __u32 n, struct bs_maglev_table *table)
{
	return bs_maglev_build_slots(members, n, table->backend_ids, BS_MAGLEV_SIZE);
}

int bs_maglev_build_slots(struct bs_maglev_member *members, __u32 n, __u32 *slots, __u32 size)
{
	__u32 *offset, *skip, *next, filled = 0;
	int err = 0;

	if (n == 0 || n > size || size < 2)
		return -EINVAL;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	if (!offset || !skip || !next) {
		err = -ENOMEM;
		goto out;
	}
	qsort(members, n, sizeof(*members), member_cmp);
	for (__u32 i = 0; i < n; i++)
		member_hashes(&members[i], size, &offset[i], &skip[i]);

	/* Slots are marked empty with UINT32_MAX (member index space), then mapped to ids. */
	for (__u32 s = 0; s < size; s++)
		slots[s] = UINT32_MAX;
	while (filled < size) {
		for (__u32 i = 0; i < n && filled < size; i++) {
			__u32 c;

			do {
				c = (__u32)(((__u64)offset[i] + (__u64)next[i] * skip[i]) % size);
				next[i]++;
			} while (slots[c] != UINT32_MAX);
			slots[c] = i;
			filled++;
		}
	}
	for (__u32 s = 0; s < size; s++)
		slots[s] = members[slots[s]].id;
out:
	free(offset);
	free(skip);
	free(next);
	return err;
}
