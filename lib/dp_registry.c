// SPDX-License-Identifier: BSD-2-Clause
/* The in-memory registries of frontends and backends, rebuilt from the pins by writers:
 * at open, and whenever another writer has moved bs_state.write_gen since our last look.
 * Every map is read once, in batches, and frontends are indexed by id: O(frontends +
 * members). What is live is what the programs can reach: bs_fe_splits names the split,
 * the split names the tables. The metadata maps (bs_groups, bs_members) only add names,
 * weights and draining members; they never decide what is freed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "dp_internal.h"
#include "idset.h"
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
	if (dp->fe_by_id)
		memset(dp->fe_by_id, 0, dp->max_frontends * sizeof(*dp->fe_by_id));
}

static int sync_backends(struct bs_dp *dp)
{
	struct bs_backend *vals = NULL;
	__u32 *keys = NULL;
	size_t n;
	int err = bs_map_read_all(dp->fd[BS_MAP_BACKENDS], sizeof(*keys), sizeof(*vals), (void **)&keys,
				  (void **)&vals, &n);

	for (size_t i = 0; !err && i < n; i++) {
		struct bs_be_entry *e;

		if (!keys[i] || !vals[i].family || keys[i] >= dp->max_backends)
			continue;
		e = calloc(1, sizeof(*e));
		if (!e) {
			err = -ENOMEM;
			break;
		}
		e->be = vals[i];
		e->id = keys[i];
		dp->be_by_id[keys[i]] = e;
		HASH_ADD(hh, dp->be_by_addr, be, offsetof(struct bs_backend, state), e);
	}
	free(keys);
	free(vals);
	return err;
}

struct split_rec {
	__u32 id;
	struct bs_split split;
};

/* Frontends, the split each is switched to, and the split's groups and tables. */
static int sync_frontends(struct bs_dp *dp, struct bs_idset *live_splits, struct bs_idset *live_tables)
{
	struct bs_frontend_key *fkeys = NULL;
	struct bs_frontend *fvals = NULL;
	struct bs_fe_split *slots = NULL;
	struct bs_split *svals = NULL;
	__u32 *skeys = NULL, *slot_keys = NULL;
	struct bs_idset split_at = { 0 };
	size_t nf = 0, ns = 0, nslots = 0;
	int err;

	err = bs_map_read_all(dp->fd[BS_MAP_FRONTENDS], sizeof(*fkeys), sizeof(*fvals), (void **)&fkeys,
			      (void **)&fvals, &nf);
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_FE_SPLITS], sizeof(*slot_keys), sizeof(*slots),
				     (void **)&slot_keys, (void **)&slots, &nslots);
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_SPLITS], sizeof(*skeys), sizeof(*svals), (void **)&skeys,
				     (void **)&svals, &ns);
	/* split id -> its index + 1 in svals */
	for (size_t i = 0; !err && i < ns; i++)
		err = bs_idset_put(&split_at, skeys[i], (__u32)i + 1);
	for (size_t i = 0; !err && i < nf; i++) {
		__u32 id = fvals[i].id, at;
		struct bs_fe_entry *e;

		if (!id || id >= dp->max_frontends || dp->fe_by_id[id])
			continue; /* not one of ours, or a duplicate id: left alone */
		e = calloc(1, sizeof(*e));
		if (!e) {
			err = -ENOMEM;
			break;
		}
		e->key = fkeys[i];
		e->fe = fvals[i];
		/* bs_fe_splits is an array: the batch returns index i at position i. */
		if (id < nslots && slot_keys[id] == id) {
			e->split_id = slots[id].split_id;
		} else {
			struct bs_fe_split slot = {};

			bpf_map_lookup_elem(dp->fd[BS_MAP_FE_SPLITS], &id, &slot);
			e->split_id = slot.split_id;
		}
		at = e->split_id ? bs_idset_get(&split_at, e->split_id) : 0;
		if (at) {
			const struct bs_split *sp = &svals[at - 1];

			e->affinity = sp->affinity;
			e->n_groups = sp->n_groups <= BS_MAX_GROUPS ? sp->n_groups : BS_MAX_GROUPS;
			for (__u32 g = 0; g < e->n_groups; g++) {
				e->groups[g].table_id = sp->tables[g];
				if (sp->tables[g])
					err = err ?: bs_idset_put(live_tables, sp->tables[g], 1);
			}
			err = err ?: bs_idset_put(live_splits, e->split_id, 1);
		}
		dp->fe_id_used[id] = 1;
		dp->fe_by_id[id] = e;
		HASH_ADD(hh, dp->fe_by_key, key, sizeof(e->key), e);
	}
	/* Splits no frontend is switched to: left by an interrupted writer. */
	for (size_t i = 0; !err && i < ns; i++)
		if (!bs_idset_get(live_splits, skeys[i]))
			bs_retire(dp, BS_MAP_SPLITS, skeys[i]);
	bs_idset_free(&split_at);
	free(fkeys);
	free(fvals);
	free(slot_keys);
	free(slots);
	free(skeys);
	free(svals);
	return err;
}

static int sync_groups(struct bs_dp *dp)
{
	struct bs_group_key *keys = NULL;
	struct bs_group_info *vals = NULL;
	size_t n;
	int err = bs_map_read_all(dp->fd[BS_MAP_GROUPS], sizeof(*keys), sizeof(*vals), (void **)&keys,
				  (void **)&vals, &n);

	for (size_t i = 0; !err && i < n; i++) {
		struct bs_fe_entry *e = keys[i].frontend_id < dp->max_frontends ? dp->fe_by_id[keys[i].frontend_id] : NULL;

		if (!e || keys[i].group >= e->n_groups)
			continue; /* beyond the live split: left by an interrupted write, rewritten on reuse */
		e->groups[keys[i].group].weight = vals[i].weight;
		memcpy(e->groups[keys[i].group].name, vals[i].name, sizeof(vals[i].name));
		e->groups[keys[i].group].name[BS_GROUP_NAME_LEN - 1] = '\0';
	}
	free(keys);
	free(vals);
	return err;
}

static int sync_members(struct bs_dp *dp)
{
	struct bs_member_key *keys = NULL;
	struct bs_member *vals = NULL;
	size_t n;
	int err = bs_map_read_all(dp->fd[BS_MAP_MEMBERS], sizeof(*keys), sizeof(*vals), (void **)&keys,
				  (void **)&vals, &n);
	struct bs_fe_entry *e, *tmp;

	/* Count per frontend, allocate once, fill. */
	for (int pass = 0; !err && pass < 2; pass++) {
		for (size_t i = 0; i < n; i++) {
			__u32 f = keys[i].frontend_id, b = keys[i].backend_id;

			e = f < dp->max_frontends ? dp->fe_by_id[f] : NULL;
			if (!e || b >= dp->max_backends || !dp->be_by_id[b] || keys[i].group >= BS_MAX_GROUPS)
				continue;
			if (!pass) {
				e->n_members++;
				continue;
			}
			e->members[e->n_members++] = (struct bs_member_rec){ b, keys[i].group, vals[i].state };
			dp->be_by_id[b]->refs++;
		}
		if (pass)
			break;
		HASH_ITER(hh, dp->fe_by_key, e, tmp) {
			e->members = e->n_members ? calloc(e->n_members, sizeof(*e->members)) : NULL;
			if (e->n_members && !e->members) {
				err = -ENOMEM;
				break;
			}
			e->n_members = 0;
		}
	}
	HASH_ITER(hh, dp->fe_by_key, e, tmp)
		if (e->n_members > 1)
			qsort(e->members, e->n_members, sizeof(*e->members), bs_member_cmp);
	free(keys);
	free(vals);
	return err;
}

/* Tables no live split names: left by an interrupted writer. Only keys are needed, and
 * a table is 4 KiB: walk the keys. */
static void retire_orphan_tables(struct bs_dp *dp, const struct bs_idset *live_tables)
{
	static const enum bs_map_idx maps[] = { BS_MAP_MAGLEV, BS_MAP_MAGLEV_LARGE };

	for (int m = 0; m < 2; m++) {
		__u32 key, next, *prev = NULL;

		while (!bpf_map_get_next_key(dp->fd[maps[m]], prev, &next)) {
			key = next;
			prev = &key;
			if (!bs_idset_get(live_tables, key))
				bs_retire(dp, maps[m], key);
		}
	}
}

int bs_dp_sync(struct bs_dp *dp)
{
	struct bs_idset live_splits = { 0 }, live_tables = { 0 };
	struct bs_state st = {};
	__u32 zero = 0;
	int err;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st))
		return -errno;
	/* What we retired is retired again below if it is still unused: the list is rebuilt
	 * from the pins, without duplicates, and nothing on it can be live. */
	while (dp->retired) {
		struct bs_retired *r = dp->retired;

		dp->retired = r->next;
		free(r);
	}
	dp->n_retired = 0;
	bs_dp_registry_clear(dp);
	err = sync_backends(dp);
	err = err ?: sync_frontends(dp, &live_splits, &live_tables);
	err = err ?: sync_groups(dp);
	err = err ?: sync_members(dp);
	if (!err && (st.write_gen & 1))
		retire_orphan_tables(dp, &live_tables);
	bs_idset_free(&live_splits);
	bs_idset_free(&live_tables);
	if (err)
		return err;
	/* Backends no member names: a backend a live table names is always a member (members
	 * are written before the switch that makes a table live, and removed after). */
	for (__u32 id = 1; id < dp->max_backends; id++)
		if (dp->be_by_id[id] && !dp->be_by_id[id]->refs && !dp->be_by_id[id]->dying) {
			dp->be_by_id[id]->dying = true;
			bs_retire(dp, BS_MAP_BACKENDS, id);
		}
	dp->seen_gen = st.write_gen;
	return 0;
}

int bs_retire_orphan_tables(struct bs_dp *dp)
{
	struct bs_idset live = { 0 };
	struct bs_fe_entry *fe, *tmp;
	int err = 0;

	HASH_ITER(hh, dp->fe_by_key, fe, tmp)
		for (__u32 g = 0; g < fe->n_groups; g++)
			if (fe->groups[g].table_id)
				err = err ?: bs_idset_put(&live, fe->groups[g].table_id, 1);
	if (!err)
		retire_orphan_tables(dp, &live);
	bs_idset_free(&live);
	return err;
}

int bs_registry_spec(struct bs_dp *dp, const struct bs_fe_entry *fe, struct bs_frontend_spec *out)
{
	memset(out, 0, sizeof(*out));
	out->key = fe->key;
	out->n_groups = fe->n_groups;
	out->affinity = fe->affinity;
	out->id = fe->fe.id;
	out->split_id = fe->split_id;
	for (__u32 g = 0; g < fe->n_groups; g++) {
		struct bs_group_spec *gs = &out->groups[g];

		gs->table_id = fe->groups[g].table_id;
		snprintf(gs->name, sizeof(gs->name), "%s", fe->groups[g].name);
		gs->weight = fe->groups[g].weight;
		gs->backends = calloc(fe->n_members ? fe->n_members : 1, sizeof(*gs->backends));
		if (!gs->backends) {
			bs_frontend_spec_free(out);
			return -ENOMEM;
		}
		for (__u32 i = 0; i < fe->n_members; i++) {
			const struct bs_be_entry *e = dp->be_by_id[fe->members[i].backend_id];
			struct bs_backend_spec *b;

			if (fe->members[i].group != g || !e)
				continue;
			b = &gs->backends[gs->n_backends++];
			memcpy(b->addr, e->be.addr, sizeof(b->addr));
			b->port = e->be.port;
			b->family = e->be.family;
			b->state = fe->members[i].state;
			b->id = e->id;
		}
	}
	return 0;
}
