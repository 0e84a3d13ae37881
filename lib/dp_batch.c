// SPDX-License-Identifier: BSD-2-Clause
/* Reading a whole map in batches: one syscall per BATCH entries instead of two per entry,
 * so that opening a data path of 65,536 frontends costs milliseconds, not seconds. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "dp_internal.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524 /* the kernel's, not in userspace headers */
#endif

#define BATCH 4096

static int grow(void **keys, void **vals, size_t ks, size_t vs, size_t *cap, size_t need)
{
	size_t ncap = *cap ? *cap : BATCH;
	void *k, *v;

	while (ncap < need)
		ncap *= 2;
	if (ncap == *cap)
		return 0;
	k = realloc(*keys, ncap * ks);
	if (!k)
		return -ENOMEM;
	*keys = k;
	v = realloc(*vals, ncap * vs);
	if (!v)
		return -ENOMEM;
	*vals = v;
	*cap = ncap;
	return 0;
}

/* One key at a time: kernels or map types without batch operations. */
static int read_one_by_one(int fd, size_t ks, size_t vs, void **keys, void **vals, size_t *n, size_t *cap)
{
	char prev[64], next[64];
	bool first = true;

	*n = 0;
	while (!bpf_map_get_next_key(fd, first ? NULL : prev, next)) {
		int err = grow(keys, vals, ks, vs, cap, *n + 1);

		if (err)
			return err;
		memcpy(prev, next, ks);
		first = false;
		if (bpf_map_lookup_elem(fd, next, (char *)*vals + *n * vs))
			continue; /* deleted meanwhile */
		memcpy((char *)*keys + *n * ks, next, ks);
		(*n)++;
	}
	return 0;
}

int bs_map_read_all(int fd, size_t ks, size_t vs, void **keys, void **vals, size_t *n)
{
	__u64 token[8], *in = NULL; /* the kernel's batch cursor: a bucket or an array index */
	size_t cap = 0;
	int err = 0;

	*keys = *vals = NULL;
	*n = 0;
	if (ks > sizeof(token) || ks > 64)
		return -EINVAL;
	for (;;) {
		__u32 count = BATCH;
		int rc;

		err = grow(keys, vals, ks, vs, &cap, *n + BATCH);
		if (err)
			break;
		rc = bpf_map_lookup_batch(fd, in, token, (char *)*keys + *n * ks, (char *)*vals + *n * vs, &count, NULL);
		if (rc && errno != ENOENT) {
			err = -errno;
			break;
		}
		*n += count;
		if (rc) /* ENOENT: that was the last batch */
			break;
		in = token;
	}
	if (err == -EINVAL || err == -EOPNOTSUPP || err == -ENOTSUPP)
		err = read_one_by_one(fd, ks, vs, keys, vals, n, &cap);
	if (err) {
		free(*keys);
		free(*vals);
		*keys = *vals = NULL;
		*n = 0;
	}
	return err;
}
