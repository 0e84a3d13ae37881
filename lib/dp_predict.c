// SPDX-License-Identifier: BSD-2-Clause
/* Which group and backend the data path gives a flow now: the BPF selection
 * (bs_pick_backend in bpf/bs_select.h) read back from the maps in C, with the same hash
 * (include/bpfsplit/flow_hash.h). Tests and the CLI use it to predict exact outcomes. */
#include <errno.h>
#include <string.h>
#include <bpf/bpf.h>
#include "bpfsplit/flow_hash.h"
#include "dp_internal.h"
#include "tables.h"

int bs_dp_predict(struct bs_dp *dp, const struct bs_flow_key *flow, __u32 *group, struct bs_backend *be)
{
	struct bs_frontend_key fk = {};
	struct bs_frontend fe;
	struct bs_settings s;
	struct bs_split split;
	static struct bs_maglev_table tbl;
	static struct bs_maglev_table_large big;
	__u32 split_id, h, g, bid;
	int err;

	memcpy(fk.addr, flow->daddr, sizeof(fk.addr));
	fk.port = flow->dport;
	fk.family = flow->family;
	fk.proto = flow->proto;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], &fk, &fe))
		return -ENOENT;
	err = bs_dp_frontend_split(dp, fe.id, &split_id);
	err = err ?: bs_dp_get_settings(dp, &s);
	if (err)
		return err;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_SPLITS], &split_id, &split))
		return -ENOENT;
	h = bs_flow_hash(flow, split.affinity, s.hash_key);
	g = bs_group_of_hash(split.thresholds, split.n_groups, h);
	if (g >= split.n_groups || !split.tables[g])
		return -ENODATA;
	if (split.tables[g] & BS_TABLE_LARGE) { /* a group of many backends: the large table */
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_MAGLEV_LARGE], &split.tables[g], &big))
			return -ENODATA;
		bid = big.backend_ids[bs_maglev_slot_large(h, s.hash_key)];
	} else {
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_MAGLEV], &split.tables[g], &tbl))
			return -ENODATA;
		bid = tbl.backend_ids[bs_maglev_slot(h, s.hash_key)];
	}
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_BACKENDS], &bid, be) || !be->family)
		return -ENODATA;
	*group = g;
	return 0;
}
