// SPDX-License-Identifier: BSD-2-Clause
/* Writing frontends: the update protocol. New Maglev tables and the new split are
 * written under fresh ids, the frontend is switched to them with one map update, and
 * what they replace is freed after a grace period. A packet sees the old or the new
 * configuration, never a mix. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/membarrier.h>
#include <time.h>
#include <bpf/bpf.h>
#include "dp_internal.h"
#include "log.h"
#include "tables.h"

void bs_retire(struct bs_dp *dp, enum bs_map_idx map, __u32 id)
{
	struct bs_retired *r = calloc(1, sizeof(*r));

	if (!r) /* leaks one entry of the map rather than freeing it early */
		return;
	r->map = map;
	r->id = id;
	r->at_ns = bs_now_ns();
	r->next = dp->retired;
	dp->retired = r;
	dp->n_retired++;
}

static void free_retired(struct bs_dp *dp, struct bs_retired *r)
{
	if (r->map == BS_MAP_BACKENDS) {
		struct bs_be_entry *e = r->id < dp->max_backends ? dp->be_by_id[r->id] : NULL;
		struct bs_backend none = {};

		/* Named again since it was retired: it lives on. */
		if (!e || !e->dying)
			return;
		bpf_map_update_elem(dp->fd[BS_MAP_BACKENDS], &r->id, &none, BPF_ANY);
		HASH_DEL(dp->be_by_addr, e);
		free(e);
		dp->be_by_id[r->id] = NULL;
	} else {
		bpf_map_delete_elem(dp->fd[r->map], &r->id);
	}
}

/* Wait until every BPF program run that started before now has finished: an RCU grace
 * period, through membarrier(MEMBARRIER_CMD_GLOBAL), which calls synchronize_rcu().
 * Programs run as RCU readers; in softirq they finish within microseconds, but a
 * preemptible run (BPF_PROG_TEST_RUN, PREEMPT_RT) can last longer than any timer.
 * Returns false when the kernel has no membarrier: then the time grace alone holds. */
static bool rcu_grace_period(void)
{
	return syscall(__NR_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) == 0;
}

int bs_dp_flush_retired(struct bs_dp *dp, bool wait)
{
	struct bs_retired **pp = &dp->retired;
	__u64 now = bs_now_ns();
	bool due = false;
	int n = 0;

	if (wait && dp->retired) {
		struct timespec ts = { 0, BS_GRACE_NS };

		nanosleep(&ts, NULL);
		now = bs_now_ns();
	}
	for (struct bs_retired *r = dp->retired; r && !due; r = r->next)
		due = now - r->at_ns >= BS_GRACE_NS;
	if (!due)
		return 0;
	/* One grace period covers every entry retired before it: wait for one only every
	 * BS_GP_EVERY_NS, or sooner when many entries wait (maps have caps). */
	if (!wait && now - dp->last_gp_ns < BS_GP_EVERY_NS && dp->n_retired < BS_GP_BATCH)
		return 0;
	rcu_grace_period();
	dp->last_gp_ns = bs_now_ns();
	while (*pp) {
		struct bs_retired *r = *pp;

		if (now - r->at_ns < BS_GRACE_NS) {
			pp = &r->next;
			continue;
		}
		free_retired(dp, r);
		*pp = r->next;
		free(r);
		dp->n_retired--;
		n++;
	}
	return n;
}

/* Take the writers' lock and catch up with writes made by other processes. */
static int write_begin(struct bs_dp *dp)
{
	struct bs_state st;
	__u32 zero = 0;
	int err;

	if (flock(dp->root_fd, LOCK_EX))
		return -errno;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st)) {
		err = -errno;
		goto fail;
	}
	if (st.write_gen != dp->seen_gen) {
		err = bs_dp_sync(dp);
		if (err)
			goto fail;
	}
	/* Freeing waits for an RCU grace period (milliseconds): never ahead of a write
	 * unless the maps' caps press; the agent's loop and bs_dp_close() flush the rest. */
	if (dp->n_retired >= BS_GP_BATCH)
		bs_dp_flush_retired(dp, false);
	return 0;
fail:
	flock(dp->root_fd, LOCK_UN);
	return err;
}

static void write_end(struct bs_dp *dp)
{
	struct bs_state st;
	__u32 zero = 0;

	if (!bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st)) {
		st.write_gen++;
		if (!bpf_map_update_elem(dp->fd[BS_MAP_STATE], &zero, &st, BPF_ANY))
			dp->seen_gen = st.write_gen;
	}
	flock(dp->root_fd, LOCK_UN);
}

/* A fresh id for bs_splits or bs_maglev: not 0, not present in the map. */
static int alloc_id(struct bs_dp *dp, enum bs_map_idx map, __u32 *id)
{
	struct bs_state st;
	__u32 zero = 0, *next;
	char probe[sizeof(struct bs_maglev_table)];

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st))
		return -errno;
	next = map == BS_MAP_SPLITS ? &st.next_split_id : &st.next_table_id;
	for (__u32 tries = 0; tries < 1u << 20; tries++) {
		__u32 cand = (*next)++;

		if (cand == BS_ID_NONE)
			continue;
		if (bpf_map_lookup_elem(dp->fd[map], &cand, probe) && errno == ENOENT) {
			*id = cand;
			return bpf_map_update_elem(dp->fd[BS_MAP_STATE], &zero, &st, BPF_ANY) ? -errno : 0;
		}
	}
	return -ENOSPC;
}

static void zero_counters(struct bs_dp *dp, enum bs_map_idx map, __u32 id)
{
	struct bs_counters *zeros = calloc(dp->ncpus, sizeof(*zeros));

	if (zeros)
		bpf_map_update_elem(dp->fd[map], &id, zeros, BPF_ANY);
	free(zeros);
}

static int alloc_frontend_id(struct bs_dp *dp, __u32 *id)
{
	for (__u32 i = 1; i < dp->max_frontends; i++) {
		if (!dp->fe_id_used[i]) {
			dp->fe_id_used[i] = 1;
			zero_counters(dp, BS_MAP_FE_STATS, i);
			bpf_map_delete_elem(dp->fd[BS_MAP_FE_INFO], &i); /* a previous owner's */
			bs_dp_health_forget(dp, i);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The registry entry of a backend, created (and written to bs_backends) if new. */
static int backend_get(struct bs_dp *dp, const struct bs_backend_spec *b, struct bs_be_entry **out)
{
	struct bs_backend want = {};
	struct bs_be_entry *e;

	memcpy(want.addr, b->addr, sizeof(want.addr));
	want.port = b->port;
	want.family = b->family;
	HASH_FIND(hh, dp->be_by_addr, &want, offsetof(struct bs_backend, state), e);
	if (e) {
		e->dying = false; /* a retired backend named again keeps its id and counters */
		if (e->be.state != b->state) {
			/* Informational for bpftool readers; the tables decide. Only the state byte
			 * changes, so a reader sees the address and port whole either way. */
			e->be.state = b->state;
			bpf_map_update_elem(dp->fd[BS_MAP_BACKENDS], &e->id, &e->be, BPF_ANY);
		}
		*out = e;
		return 0;
	}
	for (__u32 id = 1; id < dp->max_backends; id++) {
		if (dp->be_by_id[id])
			continue;
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		want.state = b->state;
		e->be = want;
		e->id = id;
		zero_counters(dp, BS_MAP_BE_STATS, id);
		/* Written before any table can name it. */
		if (bpf_map_update_elem(dp->fd[BS_MAP_BACKENDS], &id, &want, BPF_ANY)) {
			int err = -errno;

			free(e);
			return err;
		}
		dp->be_by_id[id] = e;
		HASH_ADD(hh, dp->be_by_addr, be, offsetof(struct bs_backend, state), e);
		*out = e;
		return 0;
	}
	return -ENOSPC;
}

static int validate(const struct bs_frontend_spec *spec, char *err, size_t len)
{
	char fe[80];

	bs_frontend_key_format(&spec->key, fe, sizeof(fe));
	if (spec->key.family != BS_AF_INET && spec->key.family != BS_AF_INET6) {
		snprintf(err, len, "frontend %s: unknown address family %u", fe, spec->key.family);
		return -EINVAL;
	}
	if (spec->key.proto != 6 && spec->key.proto != 17) {
		snprintf(err, len, "frontend %s: protocol %u is neither TCP nor UDP", fe, spec->key.proto);
		return -EINVAL;
	}
	if (spec->n_groups > BS_MAX_GROUPS) {
		snprintf(err, len, "frontend %s: %u groups, at most %d allowed", fe, spec->n_groups, BS_MAX_GROUPS);
		return -EINVAL;
	}
	if (spec->affinity > BS_AFFINITY_CLIENT) {
		snprintf(err, len, "frontend %s: unknown affinity mode %u", fe, spec->affinity);
		return -EINVAL;
	}
	for (__u32 g = 0; g < spec->n_groups; g++) {
		const struct bs_group_spec *gs = &spec->groups[g];
		__u32 ready = 0;

		if (gs->weight > BS_MAX_WEIGHT) {
			snprintf(err, len, "frontend %s: group %u (%s): weight %u out of range 0..%d", fe, g, gs->name,
				 gs->weight, BS_MAX_WEIGHT);
			return -EINVAL;
		}
		for (__u32 i = 0; i < gs->n_backends; i++) {
			const struct bs_backend_spec *b = &gs->backends[i];
			char ep[64];

			bs_endpoint_format(b->addr, b->port, b->family, ep, sizeof(ep));
			if (b->family != spec->key.family) {
				snprintf(err, len, "frontend %s: group %u (%s): backend %s: address family differs from the frontend's",
					 fe, g, gs->name, ep);
				return -EINVAL;
			}
			if (!b->port) {
				snprintf(err, len, "frontend %s: group %u (%s): backend %s: port 0", fe, g, gs->name, ep);
				return -EINVAL;
			}
			if (b->state != BS_BACKEND_READY && b->state != BS_BACKEND_DRAINING) {
				snprintf(err, len, "frontend %s: group %u (%s): backend %s: unknown state %u", fe, g, gs->name,
					 ep, b->state);
				return -EINVAL;
			}
			ready += b->state == BS_BACKEND_READY;
		}
		if (ready > BS_MAGLEV_SIZE / 10) {
			snprintf(err, len, "frontend %s: group %u (%s): %u ready backends, at most %d for an even spread",
				 fe, g, gs->name, ready, BS_MAGLEV_SIZE / 10);
			return -EINVAL;
		}
	}
	return 0;
}

/* Build, or reuse from the old split when identical, the table of one group's ready
 * backends. *table_id is BS_ID_NONE when the group has none. */
static int group_table(struct bs_dp *dp, const struct bs_member_rec *members, __u32 n_members, __u32 group,
		       __u32 old_table, __u32 *table_id, bool *reused)
{
	struct bs_maglev_member *mm = calloc(n_members ? n_members : 1, sizeof(*mm));
	struct bs_maglev_table *tbl = malloc(sizeof(*tbl)), *old = malloc(sizeof(*old));
	__u32 n = 0;
	int err = 0;

	*table_id = BS_ID_NONE;
	*reused = false;
	if (!mm || !tbl || !old) {
		err = -ENOMEM;
		goto out;
	}
	for (__u32 i = 0; i < n_members; i++) {
		const struct bs_be_entry *e = dp->be_by_id[members[i].backend_id];
		bool dup = false;

		if (members[i].group != group || members[i].state != BS_BACKEND_READY)
			continue;
		for (__u32 j = 0; j < n; j++)
			dup |= mm[j].id == e->id;
		if (dup)
			continue;
		memcpy(mm[n].addr, e->be.addr, sizeof(mm[n].addr));
		mm[n].port = e->be.port;
		mm[n].family = e->be.family;
		mm[n].id = e->id;
		n++;
	}
	if (!n)
		goto out;
	err = bs_maglev_build(mm, n, tbl);
	if (err)
		goto out;
	if (old_table && !bpf_map_lookup_elem(dp->fd[BS_MAP_MAGLEV], &old_table, old) && !memcmp(old, tbl, sizeof(*tbl))) {
		*table_id = old_table;
		*reused = true;
		goto out;
	}
	err = alloc_id(dp, BS_MAP_MAGLEV, table_id);
	if (!err && bpf_map_update_elem(dp->fd[BS_MAP_MAGLEV], table_id, tbl, BPF_NOEXIST))
		err = -errno;
out:
	free(mm);
	free(tbl);
	free(old);
	return err;
}

static void member_refs(struct bs_dp *dp, const struct bs_member_rec *m, __u32 n, int delta)
{
	for (__u32 i = 0; i < n; i++) {
		struct bs_be_entry *e = dp->be_by_id[m[i].backend_id];

		if (!e)
			continue;
		e->refs += delta;
		if (!e->refs && !e->dying) {
			e->dying = true;
			bs_retire(dp, BS_MAP_BACKENDS, e->id);
		}
	}
}

static bool member_in(const struct bs_member_rec *set, __u32 n, const struct bs_member_rec *m)
{
	for (__u32 i = 0; i < n; i++)
		if (set[i].backend_id == m->backend_id && set[i].group == m->group)
			return true;
	return false;
}

/* Bring bs_groups and bs_members in line with the frontend's new groups and members. */
static void write_meta(struct bs_dp *dp, struct bs_fe_entry *fe, const struct bs_group_info *groups, __u32 n_groups,
		       struct bs_member_rec *members, __u32 n_members)
{
	for (__u32 g = 0; g < n_groups; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		bpf_map_update_elem(dp->fd[BS_MAP_GROUPS], &k, &groups[g], BPF_ANY);
	}
	for (__u32 g = n_groups; g < fe->n_groups; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		bpf_map_delete_elem(dp->fd[BS_MAP_GROUPS], &k);
	}
	for (__u32 i = 0; i < fe->n_members; i++) {
		struct bs_member_key k = { fe->fe.id, fe->members[i].backend_id, fe->members[i].group };

		if (!member_in(members, n_members, &fe->members[i]))
			bpf_map_delete_elem(dp->fd[BS_MAP_MEMBERS], &k);
	}
	for (__u32 i = 0; i < n_members; i++) {
		struct bs_member_key k = { fe->fe.id, members[i].backend_id, members[i].group };
		struct bs_member v = { .state = members[i].state };

		bpf_map_update_elem(dp->fd[BS_MAP_MEMBERS], &k, &v, BPF_ANY);
	}
	/* New references first, then the old dropped: a backend in both never hits zero. */
	member_refs(dp, members, n_members, +1);
	member_refs(dp, fe->members, fe->n_members, -1);
	free(fe->members);
	fe->members = members;
	fe->n_members = n_members;
	if (n_groups) /* a removal passes no groups (NULL): memcpy from NULL is undefined */
		memcpy(fe->groups, groups, sizeof(fe->groups[0]) * n_groups);
	fe->n_groups = n_groups;
}

static int apply_locked(struct bs_dp *dp, const struct bs_frontend_spec *spec, char *errbuf, size_t errlen)
{
	struct bs_group_info groups[BS_MAX_GROUPS] = {};
	__u32 weights[BS_MAX_GROUPS], n_members = 0, new_tables[BS_MAX_GROUPS] = {};
	bool reused[BS_MAX_GROUPS] = {}, created = false;
	struct bs_member_rec *members = NULL;
	struct bs_split split = {}, old_split;
	struct bs_fe_entry *fe;
	__u32 new_split;
	char fe_name[80];
	int err = 0;

	bs_frontend_key_format(&spec->key, fe_name, sizeof(fe_name));
	HASH_FIND(hh, dp->fe_by_key, &spec->key, sizeof(spec->key), fe);
	if (!fe) {
		fe = calloc(1, sizeof(*fe));
		if (!fe)
			return -ENOMEM;
		fe->key = spec->key;
		err = alloc_frontend_id(dp, &fe->fe.id);
		if (err) {
			snprintf(errbuf, errlen, "frontend %s: no free frontend id (table full)", fe_name);
			free(fe);
			return err;
		}
		created = true;
	}

	/* 1. Backends: every one named gets an id, ready or draining. */
	for (__u32 g = 0; g < spec->n_groups; g++)
		n_members += spec->groups[g].n_backends;
	members = calloc(n_members ? n_members : 1, sizeof(*members));
	if (!members) {
		err = -ENOMEM;
		goto fail;
	}
	n_members = 0;
	for (__u32 g = 0; g < spec->n_groups; g++) {
		for (__u32 i = 0; i < spec->groups[g].n_backends; i++) {
			const struct bs_backend_spec *b = &spec->groups[g].backends[i];
			struct bs_member_rec m = { 0, g, b->state };
			struct bs_be_entry *e = NULL;

			err = backend_get(dp, b, &e);
			if (err) {
				snprintf(errbuf, errlen, "frontend %s: no free backend id (table full)", fe_name);
				goto fail;
			}
			m.backend_id = e->id;
			if (member_in(members, n_members, &m))
				continue;
			members[n_members++] = m;
		}
	}

	/* 2. Tables, then the split, under fresh ids. */
	for (__u32 g = 0; g < spec->n_groups; g++) {
		__u32 old_table = g < fe->n_groups ? fe->groups[g].table_id : BS_ID_NONE;

		err = group_table(dp, members, n_members, g, old_table, &new_tables[g], &reused[g]);
		if (err == -E2BIG || err == -ENOSPC) {
			snprintf(errbuf, errlen, "frontend %s: group %u: the Maglev table map is full (load the data path "
				 "with a larger --max-tables)", fe_name, g);
			goto fail;
		} else if (err) {
			snprintf(errbuf, errlen, "frontend %s: group %u: cannot write its table: %s", fe_name, g,
				 strerror(-err));
			goto fail;
		}
		weights[g] = spec->groups[g].weight;
		groups[g].weight = weights[g];
		groups[g].table_id = new_tables[g];
		snprintf(groups[g].name, sizeof(groups[g].name), "%s", spec->groups[g].name);
		split.tables[g] = new_tables[g];
	}
	split.n_groups = spec->n_groups;
	split.affinity = spec->affinity;
	err = bs_thresholds(weights, spec->n_groups, split.thresholds);
	if (err)
		goto fail;

	new_split = fe->split_id;
	if (created || bpf_map_lookup_elem(dp->fd[BS_MAP_SPLITS], &fe->split_id, &old_split) ||
	    memcmp(&old_split, &split, sizeof(split))) {
		struct bs_fe_split slot = {};

		err = alloc_id(dp, BS_MAP_SPLITS, &new_split);
		if (!err && bpf_map_update_elem(dp->fd[BS_MAP_SPLITS], &new_split, &split, BPF_NOEXIST))
			err = -errno;
		/* 3. The switch: one aligned 4-byte store into the frontend's array slot (array
		 * values stay in place; a hash update would recycle an element a program may be
		 * reading). A new frontend's key is inserted after its slot is set. */
		slot.split_id = new_split;
		if (!err && bpf_map_update_elem(dp->fd[BS_MAP_FE_SPLITS], &fe->fe.id, &slot, BPF_ANY))
			err = -errno;
		if (!err && created && bpf_map_update_elem(dp->fd[BS_MAP_FRONTENDS], &spec->key, &fe->fe, BPF_NOEXIST))
			err = -errno;
		if (err) {
			snprintf(errbuf, errlen, "frontend %s: cannot switch to the new split: %s", fe_name,
				 err == -E2BIG || err == -ENOSPC ? "the split map is full (load the data path with a "
								   "larger --max-splits)"
								 : strerror(-err));
			if (new_split != fe->split_id)
				bpf_map_delete_elem(dp->fd[BS_MAP_SPLITS], &new_split);
			goto fail;
		}
		/* 4. What the switch replaced goes after the grace period. */
		if (!created && fe->split_id)
			bs_retire(dp, BS_MAP_SPLITS, fe->split_id);
	}
	for (__u32 g = 0; g < fe->n_groups; g++) {
		bool kept = false;

		for (__u32 h = 0; h < spec->n_groups; h++)
			kept |= new_tables[h] == fe->groups[g].table_id;
		if (fe->groups[g].table_id && !kept)
			bs_retire(dp, BS_MAP_MAGLEV, fe->groups[g].table_id);
	}
	fe->split_id = new_split;
	if (created)
		HASH_ADD(hh, dp->fe_by_key, key, sizeof(fe->key), fe);
	write_meta(dp, fe, groups, spec->n_groups, members, n_members);
	return 0;

fail:
	for (__u32 g = 0; g < spec->n_groups; g++)
		if (new_tables[g] && !reused[g])
			bpf_map_delete_elem(dp->fd[BS_MAP_MAGLEV], &new_tables[g]);
	/* Backends created for this write and named by nothing: retire them. */
	for (__u32 id = 1; id < dp->max_backends; id++) {
		struct bs_be_entry *e = dp->be_by_id[id];

		if (e && !e->refs && !e->dying) {
			e->dying = true;
			bs_retire(dp, BS_MAP_BACKENDS, id);
		}
	}
	free(members);
	if (created) {
		dp->fe_id_used[fe->fe.id] = 0;
		free(fe);
	}
	return err;
}

int bs_dp_apply(struct bs_dp *dp, const struct bs_frontend_spec *spec, char *errbuf, size_t errlen)
{
	char scratch[256];
	int err;

	if (!errbuf) {
		errbuf = scratch;
		errlen = sizeof(scratch);
	}
	errbuf[0] = '\0';
	err = validate(spec, errbuf, errlen);
	if (err)
		return err;
	err = write_begin(dp);
	if (err) {
		snprintf(errbuf, errlen, "pin root %s: cannot lock or read the data path: %s", dp->root, strerror(-err));
		return err;
	}
	err = apply_locked(dp, spec, errbuf, errlen);
	write_end(dp);
	return err;
}

int bs_dp_remove(struct bs_dp *dp, const struct bs_frontend_key *key)
{
	struct bs_fe_entry *fe;
	int err = write_begin(dp);

	if (err)
		return err;
	HASH_FIND(hh, dp->fe_by_key, key, sizeof(*key), fe);
	if (!fe) {
		err = -ENOENT;
		goto out;
	}
	if (bpf_map_delete_elem(dp->fd[BS_MAP_FRONTENDS], key)) {
		err = -errno;
		goto out;
	}
	if (fe->split_id)
		bs_retire(dp, BS_MAP_SPLITS, fe->split_id);
	{
		struct bs_fe_split none = {};

		/* The key is gone; a program that found it a moment ago reads "no split". */
		bpf_map_update_elem(dp->fd[BS_MAP_FE_SPLITS], &fe->fe.id, &none, BPF_ANY);
	}
	for (__u32 g = 0; g < fe->n_groups; g++)
		if (fe->groups[g].table_id)
			bs_retire(dp, BS_MAP_MAGLEV, fe->groups[g].table_id);
	write_meta(dp, fe, NULL, 0, NULL, 0);
	bpf_map_delete_elem(dp->fd[BS_MAP_FE_INFO], &fe->fe.id);
	dp->fe_id_used[fe->fe.id] = 0;
	HASH_DEL(dp->fe_by_key, fe);
	free(fe);
out:
	write_end(dp);
	return err;
}

int bs_dp_set_info(struct bs_dp *dp, const struct bs_frontend_key *key, const struct bs_frontend_info *info)
{
	struct bs_frontend fe;
	struct bs_frontend_info cur;
	int err = 0;

	/* Under the writers' lock: a concurrent remove must not leave info behind. */
	if (flock(dp->root_fd, LOCK_EX))
		return -errno;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], key, &fe))
		err = -errno;
	/* Unchanged (the timestamp aside): no write. */
	else if (!bpf_map_lookup_elem(dp->fd[BS_MAP_FE_INFO], &fe.id, &cur) &&
		 !memcmp(&cur, info, offsetof(struct bs_frontend_info, updated_unix_ns)))
		err = 0;
	else if (bpf_map_update_elem(dp->fd[BS_MAP_FE_INFO], &fe.id, info, BPF_ANY))
		err = -errno;
	flock(dp->root_fd, LOCK_UN);
	return err;
}

int bs_dp_get_info(struct bs_dp *dp, __u32 frontend_id, struct bs_frontend_info *out)
{
	return bpf_map_lookup_elem(dp->fd[BS_MAP_FE_INFO], &frontend_id, out) ? -errno : 0;
}

int bs_dp_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	struct bs_fe_entry *fe;
	struct bs_split split;
	int err = write_begin(dp); /* for a consistent view; nothing is written */

	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	HASH_FIND(hh, dp->fe_by_key, key, sizeof(*key), fe);
	if (!fe) {
		err = -ENOENT;
		goto out;
	}
	out->key = *key;
	out->n_groups = fe->n_groups;
	if (!bpf_map_lookup_elem(dp->fd[BS_MAP_SPLITS], &fe->split_id, &split))
		out->affinity = split.affinity;
	for (__u32 g = 0; g < fe->n_groups; g++) {
		struct bs_group_spec *gs = &out->groups[g];

		snprintf(gs->name, sizeof(gs->name), "%s", fe->groups[g].name);
		gs->weight = fe->groups[g].weight;
		gs->backends = calloc(fe->n_members ? fe->n_members : 1, sizeof(*gs->backends));
		if (!gs->backends) {
			err = -ENOMEM;
			bs_frontend_spec_free(out);
			goto out;
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
		}
	}
out:
	flock(dp->root_fd, LOCK_UN);
	return err;
}

void bs_frontend_spec_free(struct bs_frontend_spec *spec)
{
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++) {
		free(spec->groups[g].backends);
		spec->groups[g].backends = NULL;
		spec->groups[g].n_backends = 0;
	}
}

int bs_dp_frontend_split(struct bs_dp *dp, __u32 frontend_id, __u32 *split_id)
{
	struct bs_fe_split slot;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_FE_SPLITS], &frontend_id, &slot))
		return -errno;
	*split_id = slot.split_id;
	return 0;
}

int bs_dp_for_each_frontend(struct bs_dp *dp,
			    int (*fn)(const struct bs_frontend_key *, const struct bs_frontend *, void *), void *ctx)
{
	struct bs_frontend_key key, next, *prev = NULL;
	struct bs_frontend val;
	int ret;

	while (!bpf_map_get_next_key(dp->fd[BS_MAP_FRONTENDS], prev, &next)) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], &key, &val))
			continue;
		ret = fn(&key, &val, ctx);
		if (ret)
			return ret;
	}
	return 0;
}
