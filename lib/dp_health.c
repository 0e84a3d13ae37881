// SPDX-License-Identifier: BSD-2-Clause
/* Reading connection health (bs_health) back: per-CPU values summed per key; a frontend
 * id given to a new frontend starts without its previous owner's entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "dp_internal.h"

static void health_sum(const struct bs_health *per_cpu, int ncpus, struct bs_health *out)
{
	const __u64 *in = (const __u64 *)per_cpu;
	__u64 *o = (__u64 *)out;
	size_t n = sizeof(*out) / sizeof(__u64);

	memset(out, 0, sizeof(*out));
	for (int c = 0; c < ncpus; c++)
		for (size_t i = 0; i < n; i++)
			o[i] += in[c * n + i];
}

int bs_dp_health(struct bs_dp *dp, const struct bs_health_key *key, struct bs_health *out)
{
	struct bs_health *per_cpu = calloc(dp->ncpus, sizeof(*per_cpu));
	int err = 0;

	if (!per_cpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_HEALTH], key, per_cpu))
		err = -errno;
	else
		health_sum(per_cpu, dp->ncpus, out);
	free(per_cpu);
	return err;
}

int bs_dp_for_each_health(struct bs_dp *dp,
			  int (*fn)(const struct bs_health_key *, const struct bs_health *, void *), void *ctx)
{
	struct bs_health_key key, next, *prev = NULL;
	struct bs_health *per_cpu = calloc(dp->ncpus, sizeof(*per_cpu));
	struct bs_health sum;
	int ret = 0;

	if (!per_cpu)
		return -ENOMEM;
	while (!bpf_map_get_next_key(dp->fd[BS_MAP_HEALTH], prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_HEALTH], &key, per_cpu))
			continue;
		health_sum(per_cpu, dp->ncpus, &sum);
		ret = fn(&key, &sum, ctx);
		if (ret)
			break;
	}
	free(per_cpu);
	return ret;
}

void bs_dp_health_forget(struct bs_dp *dp, __u32 frontend_id)
{
	struct bs_health_key key, next, *prev = NULL;

	/* Deleting while walking may restart the walk; the map holds only what traffic made. */
	while (!bpf_map_get_next_key(dp->fd[BS_MAP_HEALTH], prev, &next)) {
		key = next;
		if (key.frontend_id == frontend_id && !bpf_map_delete_elem(dp->fd[BS_MAP_HEALTH], &key)) {
			prev = NULL;
			continue;
		}
		prev = &key;
	}
}
