// SPDX-License-Identifier: BSD-2-Clause
/* Reading the data path back: per-CPU counters summed, backends, connection records,
 * and the sweep that retires records of closed connections. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include "dp_internal.h"

static int sum_counters(struct bs_dp *dp, enum bs_map_idx map, __u32 id, struct bs_counters *out)
{
	struct bs_counters *per_cpu = calloc(dp->ncpus, sizeof(*per_cpu));
	int err = 0;

	if (!per_cpu)
		return -ENOMEM;
	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(dp->fd[map], &id, per_cpu)) {
		err = -errno;
		goto out;
	}
	for (int c = 0; c < dp->ncpus; c++) {
		out->packets += per_cpu[c].packets;
		out->bytes += per_cpu[c].bytes;
		out->new_conns += per_cpu[c].new_conns;
		out->rejected += per_cpu[c].rejected;
	}
out:
	free(per_cpu);
	return err;
}

int bs_dp_frontend_counters(struct bs_dp *dp, __u32 frontend_id, struct bs_counters *out)
{
	return sum_counters(dp, BS_MAP_FE_STATS, frontend_id, out);
}

int bs_dp_backend_counters(struct bs_dp *dp, __u32 backend_id, struct bs_counters *out)
{
	return sum_counters(dp, BS_MAP_BE_STATS, backend_id, out);
}

int bs_dp_reason_counters(struct bs_dp *dp, __u64 out[BS_R_MAX])
{
	struct bs_reason_counter *per_cpu = calloc(dp->ncpus, sizeof(*per_cpu));

	if (!per_cpu)
		return -ENOMEM;
	for (__u32 r = 0; r < BS_R_MAX; r++) {
		out[r] = 0;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_REASONS], &r, per_cpu))
			continue;
		for (int c = 0; c < dp->ncpus; c++)
			out[r] += per_cpu[c].packets;
	}
	free(per_cpu);
	return 0;
}

int bs_dp_backend(struct bs_dp *dp, __u32 backend_id, struct bs_backend *out)
{
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_BACKENDS], &backend_id, out))
		return -errno;
	return out->family ? 0 : -ENOENT;
}

int bs_dp_for_each_conn(struct bs_dp *dp, int (*fn)(const struct bs_flow_key *, const struct bs_conn *, void *),
			void *ctx)
{
	struct bs_flow_key key, next, *prev = NULL;
	struct bs_conn val;
	int ret;

	while (!bpf_map_get_next_key(dp->fd[BS_MAP_CONNS], prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_CONNS], &key, &val))
			continue;
		ret = fn(&key, &val, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

struct gc_ctx {
	struct bs_dp *dp;
	__u64 now, linger, snat_hold;
	struct bs_flow_key *victims;
	struct bs_conn *vals;
	size_t n, cap;
};

static int gc_collect(const struct bs_flow_key *k, const struct bs_conn *c, void *arg)
{
	struct gc_ctx *g = arg;

	if (!(c->flags & BS_CONN_F_CLOSING) || g->now - c->last_ns < g->linger)
		return 0;
	if (c->nat_mode == BS_NAT_SNAT && g->now - c->last_ns < g->snat_hold)
		return 0; /* its port stays held for the backend's TIME_WAIT */
	if (g->n == g->cap) {
		size_t cap = g->cap ? 2 * g->cap : 256;
		void *nk = realloc(g->victims, cap * sizeof(*g->victims));
		void *nv = nk ? realloc(g->vals, cap * sizeof(*g->vals)) : NULL;

		if (nk)
			g->victims = nk;
		if (!nv)
			return -ENOMEM;
		g->vals = nv;
		g->cap = cap;
	}
	g->victims[g->n] = *k;
	g->vals[g->n] = *c;
	g->n++;
	return 0;
}

int bs_dp_gc_conns(struct bs_dp *dp)
{
	struct gc_ctx g = { .dp = dp };
	struct bs_settings s;
	struct timespec ts;
	int err, n = 0;

	err = bs_dp_get_settings(dp, &s);
	if (err)
		return err;
	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	g.now = (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	g.linger = s.linger_ns;
	g.snat_hold = bs_dp_snat_hold_ns(dp);
	err = bs_dp_for_each_conn(dp, gc_collect, &g);
	for (size_t i = 0; !err && i < g.n; i++) {
		struct bs_flow_key r = {};
		struct bs_conn now;

		/* Re-check: a new SYN may have replaced the record since it was read. */
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_CONNS], &g.victims[i], &now) || now.created_ns != g.vals[i].created_ns)
			continue;
		bpf_map_delete_elem(dp->fd[BS_MAP_CONNS], &g.victims[i]);
		memcpy(r.saddr, now.backend_addr, sizeof(r.saddr));
		memcpy(r.daddr, g.victims[i].saddr, sizeof(r.daddr));
		r.sport = now.backend_port;
		r.dport = g.victims[i].sport;
		r.family = g.victims[i].family;
		r.proto = g.victims[i].proto;
		bpf_map_delete_elem(dp->fd[BS_MAP_RNAT], &r);
		n++;
	}
	free(g.victims);
	free(g.vals);
	if (!err)
		bs_dp_gc_snat(dp); /* SNAT ports of the records just retired */
	return err ? err : n;
}
