// SPDX-License-Identifier: BSD-2-Clause
/* The in-memory registries of frontends and backends, rebuilt from the pins: at open,
 * and whenever another writer has moved bs_state.write_gen since our last look. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "dp_internal.h"
#include "log.h"

void bs_dp_registry_clear(struct bs_dp *dp)
{
	struct bs_be_entry *be, *btmp;
	struct bs_fe_entry *fe, *ftmp;

	HASH_ITER(hh, dp->be_by_addr, be, btmp) {
		HASH_DEL(dp->be_by_addr, be);
	}
	if (dp->be_by_id) {
		for (__u32 i = 0; i < dp->max_backends; i++) {
			free(dp->be_by_id[i]);
			dp->be_by_id[i] = NULL;
		}
	}
	HASH_ITER(hh, dp->fe_by_key, fe, ftmp) {
		HASH_DEL(dp->fe_by_key, fe);
		free(fe->members);
		free(fe);
	}
	if (dp->fe_id_used)
		memset(dp->fe_id_used, 0, dp->max_frontends);
}

/* The backend array is read in batches: one syscall per 4096 slots, not one per slot
 * (a CLI command opens the pins and syncs every time). */
#define SYNC_BATCH 4096

static int add_backend(struct bs_dp *dp, __u32 id, const struct bs_backend *be)
{
	struct bs_be_entry *e;

	if (!id || !be->family || id >= dp->max_backends)
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->be = *be;
	e->id = id;
	dp->be_by_id[id] = e;
	HASH_ADD(hh, dp->be_by_addr, be, offsetof(struct bs_backend, state), e);
	return 0;
}

static int sync_backends(struct bs_dp *dp)
{
	__u32 *keys = calloc(SYNC_BATCH, sizeof(*keys)), out_batch = 0, *in_batch = NULL;
	struct bs_backend *vals = calloc(SYNC_BATCH, sizeof(*vals));
	int err = 0;

	if (!keys || !vals) {
		err = -ENOMEM;
		goto out;
	}
	for (;;) {
		__u32 count = SYNC_BATCH;
		int rc = bpf_map_lookup_batch(dp->fd[BS_MAP_BACKENDS], in_batch, &out_batch, keys, vals, &count, NULL);

		if (rc && errno != ENOENT) {
			err = -errno;
			break;
		}
		for (__u32 i = 0; !err && i < count; i++)
			err = add_backend(dp, keys[i], &vals[i]);
		if (err || rc) /* ENOENT: that was the last batch */
			break;
		in_batch = &out_batch;
	}
	if (err == -EINVAL || err == -EOPNOTSUPP) {
		/* No batch support: one slot at a time. */
		struct bs_backend be;

		bs_dp_registry_clear(dp);
		err = 0;
		for (__u32 id = 1; !err && id < dp->max_backends; id++) {
			if (bpf_map_lookup_elem(dp->fd[BS_MAP_BACKENDS], &id, &be))
				err = -errno;
			else
				err = add_backend(dp, id, &be);
		}
	}
out:
	free(keys);
	free(vals);
	return err;
}

static int sync_frontends(struct bs_dp *dp)
{
	struct bs_frontend_key key, next, *prev = NULL;

	while (!bpf_map_get_next_key(dp->fd[BS_MAP_FRONTENDS], prev, &next)) {
		struct bs_fe_entry *e = calloc(1, sizeof(*e));

		if (!e)
			return -ENOMEM;
		key = next;
		prev = &key;
		e->key = key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], &key, &e->fe)) {
			free(e);
			continue; /* deleted meanwhile */
		}
		{
			struct bs_fe_split slot = {};

			bpf_map_lookup_elem(dp->fd[BS_MAP_FE_SPLITS], &e->fe.id, &slot);
			e->split_id = slot.split_id;
		}
		if (e->fe.id < dp->max_frontends)
			dp->fe_id_used[e->fe.id] = 1;
		HASH_ADD(hh, dp->fe_by_key, key, sizeof(e->key), e);
	}
	return 0;
}

static struct bs_fe_entry *fe_by_id(struct bs_dp *dp, __u32 id)
{
	struct bs_fe_entry *e, *tmp;

	HASH_ITER(hh, dp->fe_by_key, e, tmp)
		if (e->fe.id == id)
			return e;
	return NULL;
}

static int sync_groups(struct bs_dp *dp)
{
	struct bs_group_key key, next, *prev = NULL;
	struct bs_group_info info;

	while (!bpf_map_get_next_key(dp->fd[BS_MAP_GROUPS], prev, &next)) {
		struct bs_fe_entry *e;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_GROUPS], &key, &info))
			continue;
		e = fe_by_id(dp, key.frontend_id);
		if (!e || key.group >= BS_MAX_GROUPS)
			continue; /* orphan: left by an interrupted write; overwritten on reuse */
		e->groups[key.group] = info;
		if (key.group + 1 > e->n_groups)
			e->n_groups = key.group + 1;
	}
	return 0;
}

static int sync_members(struct bs_dp *dp)
{
	struct bs_member_key key, next, *prev = NULL;
	struct bs_member m;

	while (!bpf_map_get_next_key(dp->fd[BS_MAP_MEMBERS], prev, &next)) {
		struct bs_member_rec *grown;
		struct bs_fe_entry *e;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_MEMBERS], &key, &m))
			continue;
		e = fe_by_id(dp, key.frontend_id);
		if (!e || key.backend_id >= dp->max_backends || !dp->be_by_id[key.backend_id])
			continue;
		grown = realloc(e->members, (e->n_members + 1) * sizeof(*grown));
		if (!grown)
			return -ENOMEM;
		e->members = grown;
		e->members[e->n_members++] = (struct bs_member_rec){ key.backend_id, key.group, m.state };
		dp->be_by_id[key.backend_id]->refs++;
	}
	return 0;
}

/* Splits and tables that no frontend names are left by an interrupted writer: retire them. */
static void retire_orphans(struct bs_dp *dp, enum bs_map_idx map)
{
	__u32 key, next, *prev = NULL;

	while (!bpf_map_get_next_key(dp->fd[map], prev, &next)) {
		struct bs_fe_entry *e, *tmp;
		bool used = false;

		key = next;
		prev = &key;
		HASH_ITER(hh, dp->fe_by_key, e, tmp) {
			if (map == BS_MAP_SPLITS && e->split_id == key)
				used = true;
			for (__u32 g = 0; map == BS_MAP_MAGLEV && g < e->n_groups; g++)
				if (e->groups[g].table_id == key)
					used = true;
		}
		if (!used)
			bs_retire(dp, map, key);
	}
}

int bs_dp_sync(struct bs_dp *dp)
{
	struct bs_state st = {};
	__u32 zero = 0;
	int err;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st))
		return -errno;
	bs_dp_registry_clear(dp);
	err = sync_backends(dp);
	err = err ?: sync_frontends(dp);
	err = err ?: sync_groups(dp);
	err = err ?: sync_members(dp);
	if (err)
		return err;
	retire_orphans(dp, BS_MAP_SPLITS);
	retire_orphans(dp, BS_MAP_MAGLEV);
	for (__u32 id = 1; id < dp->max_backends; id++)
		if (dp->be_by_id[id] && !dp->be_by_id[id]->refs && !dp->be_by_id[id]->dying) {
			dp->be_by_id[id]->dying = true;
			bs_retire(dp, BS_MAP_BACKENDS, id);
		}
	dp->seen_gen = st.write_gen;
	return 0;
}
