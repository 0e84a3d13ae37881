/* SPDX-License-Identifier: BSD-2-Clause */
/* A small open-addressing map of non-zero 32-bit ids to non-zero 32-bit values, for
 * O(1) "is this id live" questions while syncing and freeing. Zeroed = empty. */
#ifndef BS_IDSET_H
#define BS_IDSET_H

#include <errno.h>
#include <stdlib.h>
#include <linux/types.h>

struct bs_idset {
	__u32 *keys, *vals;
	size_t cap, n; /* cap: a power of two, or 0 */
};

static inline size_t bs_idset_slot(__u32 id, size_t cap)
{
	return (size_t)((id * 2654435761u) & (cap - 1));
}

/* The value for id, 0 when absent. */
static inline __u32 bs_idset_get(const struct bs_idset *s, __u32 id)
{
	if (!s->cap || !id)
		return 0;
	for (size_t i = bs_idset_slot(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->keys[i] == id)
			return s->vals[i];
		if (!s->keys[i])
			return 0;
	}
}

static inline int bs_idset_put(struct bs_idset *s, __u32 id, __u32 val);

static inline int bs_idset_grow(struct bs_idset *s)
{
	struct bs_idset n = { calloc(s->cap ? 2 * s->cap : 64, sizeof(__u32)),
			      calloc(s->cap ? 2 * s->cap : 64, sizeof(__u32)), s->cap ? 2 * s->cap : 64, 0 };

	if (!n.keys || !n.vals) {
		free(n.keys);
		free(n.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++)
		if (s->keys[i])
			bs_idset_put(&n, s->keys[i], s->vals[i]);
	free(s->keys);
	free(s->vals);
	*s = n;
	return 0;
}

/* Set id's value (id and val non-zero). */
static inline int bs_idset_put(struct bs_idset *s, __u32 id, __u32 val)
{
	if (!id || !val)
		return -EINVAL;
	if ((s->n + 1) * 2 > s->cap && bs_idset_grow(s))
		return -ENOMEM;
	for (size_t i = bs_idset_slot(id, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->keys[i] == id) {
			s->vals[i] = val;
			return 0;
		}
		if (!s->keys[i]) {
			s->keys[i] = id;
			s->vals[i] = val;
			s->n++;
			return 0;
		}
	}
}

static inline void bs_idset_free(struct bs_idset *s)
{
	free(s->keys);
	free(s->vals);
	s->keys = s->vals = NULL;
	s->cap = s->n = 0;
}

#endif
