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
#include "idset.h"
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

/* Splits and tables the registry says are live (the caller holds the lock, caught up). */
static int live_sets(struct bs_dp *dp, struct bs_idset *splits, struct bs_idset *tables)
{
	struct bs_fe_entry *fe, *tmp;
	int err = 0;

	HASH_ITER(hh, dp->fe_by_key, fe, tmp) {
		if (fe->split_id)
			err = err ?: bs_idset_put(splits, fe->split_id, 1);
		for (__u32 g = 0; g < fe->n_groups; g++)
			if (fe->groups[g].table_id)
				err = err ?: bs_idset_put(tables, fe->groups[g].table_id, 1);
	}
	return err;
}

/* Free one retired entry unless it is live again: a backend named since, a split or
 * table id that a frontend uses (ids are checked, not trusted). Returns 1 when freed. */
static int free_retired(struct bs_dp *dp, struct bs_retired *r, const struct bs_idset *splits,
			const struct bs_idset *tables)
{
	if (r->map == BS_MAP_BACKENDS) {
		struct bs_be_entry *e = r->id < dp->max_backends ? dp->be_by_id[r->id] : NULL;
		struct bs_backend none = {};

		if (!e || !e->dying || e->refs)
			return 0;
		if (bpf_map_update_elem(dp->fd[BS_MAP_BACKENDS], &r->id, &none, BPF_ANY))
			return 0;
		HASH_DEL(dp->be_by_addr, e);
		free(e);
		dp->be_by_id[r->id] = NULL;
		if (r->id - 1 < dp->be_id_hint) /* the next search starts after the hint */
			dp->be_id_hint = r->id - 1;
		return 1;
	}
	if (bs_idset_get(r->map == BS_MAP_SPLITS ? splits : tables, r->id)) /* tables: both maps */
		return 0;
	return bpf_map_delete_elem(dp->fd[r->map], &r->id) ? 0 : 1;
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

static bool any_due(struct bs_dp *dp, __u64 now)
{
	for (struct bs_retired *r = dp->retired; r; r = r->next)
		if (now - r->at_ns >= BS_GRACE_NS)
			return true;
	return false;
}

/* Free the entries whose time grace is over and that were retired before gp_start_ns,
 * the start of an RCU grace period that has ended (UINT64_MAX: one just ended). */
static int free_due(struct bs_dp *dp, __u64 now, __u64 gp_start_ns)
{
	struct bs_idset splits = { 0 }, tables = { 0 };
	struct bs_retired **pp = &dp->retired;
	int n = 0;

	if (live_sets(dp, &splits, &tables)) {
		n = -ENOMEM;
		goto out;
	}
	while (*pp) {
		struct bs_retired *r = *pp;

		if (now - r->at_ns < BS_GRACE_NS || r->at_ns >= gp_start_ns) {
			pp = &r->next;
			continue;
		}
		n += free_retired(dp, r, &splits, &tables);
		*pp = r->next;
		free(r);
		dp->n_retired--;
	}
out:
	bs_idset_free(&splits);
	bs_idset_free(&tables);
	return n;
}

int bs_flush_locked(struct bs_dp *dp, bool wait)
{
	__u64 now = bs_now_ns();

	if (wait && dp->retired) {
		struct timespec ts = { 0, BS_GRACE_NS };

		nanosleep(&ts, NULL);
		now = bs_now_ns();
	}
	if (!any_due(dp, now))
		return 0;
	rcu_grace_period();
	dp->last_gp_ns = bs_now_ns();
	return free_due(dp, now, UINT64_MAX);
}

bool bs_dp_retired_due(struct bs_dp *dp)
{
	return !dp->ro && dp->retired && any_due(dp, bs_now_ns());
}

void bs_dp_grace_period(void)
{
	rcu_grace_period();
}

int bs_dp_flush_retired_after(struct bs_dp *dp, __u64 gp_start_ns)
{
	int n, err;

	if (dp->ro || !dp->retired)
		return 0;
	err = bs_write_lock(dp, true);
	if (err)
		return err;
	n = free_due(dp, bs_now_ns(), gp_start_ns);
	bs_write_unlock(dp);
	return n;
}

/* Only writers free, only under the writers' lock, only after catching up with every
 * other writer (a backend id retired here may have been freed and reused by another
 * process since); every free bumps write_gen so that the others catch up in turn. */
int bs_dp_flush_retired(struct bs_dp *dp, bool wait)
{
	__u64 now = bs_now_ns();
	int n, err;

	if (dp->ro || !dp->retired)
		return 0;
	if (!wait && (!any_due(dp, now) ||
		      (now - dp->last_gp_ns < BS_GP_EVERY_NS && dp->n_retired < BS_GP_BATCH)))
		return 0;
	err = bs_write_lock(dp, true);
	if (err)
		return err;
	n = bs_flush_locked(dp, wait);
	bs_write_unlock(dp);
	return n;
}

static int set_gen(struct bs_dp *dp, bool odd)
{
	struct bs_state st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st))
		return -errno;
	/* Odd while a write is under way: a writer that dies mid-write leaves it odd, and the
	 * next one then looks for what it left (orphan tables). Every step changes it. */
	st.write_gen += (st.write_gen & 1) == odd ? 2 : 1;
	if (bpf_map_update_elem(dp->fd[BS_MAP_STATE], &zero, &st, BPF_ANY))
		return -errno;
	dp->seen_gen = st.write_gen;
	return 0;
}

int bs_write_lock(struct bs_dp *dp, bool mutate)
{
	struct bs_state st;
	__u32 zero = 0;
	int err;

	if (dp->ro)
		return -EROFS;
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
	if (mutate) {
		err = set_gen(dp, true);
		if (err)
			goto fail;
	}
	dp->locked = true;
	dp->mutating = mutate;
	return 0;
fail:
	flock(dp->root_fd, LOCK_UN);
	return err;
}

void bs_write_unlock(struct bs_dp *dp)
{
	if (dp->mutating)
		set_gen(dp, false);
	dp->locked = dp->mutating = false;
	flock(dp->root_fd, LOCK_UN);
}

/* Take the writers' lock, catch up, and free what presses on the caps. */
static int write_begin(struct bs_dp *dp)
{
	int err = bs_write_lock(dp, true);

	/* Freeing waits for an RCU grace period (milliseconds): never ahead of a write
	 * unless the maps' caps press; the agent's loop and bs_dp_close() flush the rest. */
	if (!err && dp->n_retired >= BS_GP_BATCH)
		bs_flush_locked(dp, false);
	return err;
}

static void write_end(struct bs_dp *dp)
{
	bs_write_unlock(dp);
}

/* A fresh id for bs_splits, bs_maglev or bs_maglev_large (BS_TABLE_LARGE set): not 0,
 * not present in the map. Small table and split ids never have BS_TABLE_LARGE. */
static int alloc_id(struct bs_dp *dp, enum bs_map_idx map, __u32 *id)
{
	struct bs_state st;
	__u32 zero = 0, *next;
	void *probe = malloc(sizeof(struct bs_maglev_table_large));
	int err = -ENOSPC;

	if (!probe)
		return -ENOMEM;
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st)) {
		free(probe);
		return -errno;
	}
	next = map == BS_MAP_SPLITS ? &st.next_split_id : &st.next_table_id;
	for (__u32 tries = 0; tries < 1u << 20; tries++) {
		__u32 cand = (*next)++ & ~BS_TABLE_LARGE;

		if (cand == BS_ID_NONE)
			continue;
		if (map == BS_MAP_MAGLEV_LARGE)
			cand |= BS_TABLE_LARGE;
		if (bpf_map_lookup_elem(dp->fd[map], &cand, probe) && errno == ENOENT) {
			*id = cand;
			err = bpf_map_update_elem(dp->fd[BS_MAP_STATE], &zero, &st, BPF_ANY) ? -errno : 0;
			break;
		}
	}
	free(probe);
	return err;
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
	for (__u32 n = 1; n < dp->max_frontends; n++) {
		__u32 i = 1 + (dp->fe_id_hint + n - 1) % (dp->max_frontends - 1);

		if (!dp->fe_id_used[i]) {
			dp->fe_id_used[i] = 1;
			dp->fe_id_hint = i;
			zero_counters(dp, BS_MAP_FE_STATS, i);
			bpf_map_delete_elem(dp->fd[BS_MAP_FE_INFO], &i); /* a previous owner's */
			bs_dp_health_forget(dp, i);
			*id = i;
			return 0;
		}
	}
	return -ENOSPC;
}

/* The registry entry of a backend, created (and written to bs_backends) if new. With
 * force, an existing backend's slot is written again (repair). */
static int backend_get(struct bs_dp *dp, const struct bs_backend_spec *b, bool force, struct bs_be_entry **out)
{
	struct bs_backend want = {};
	struct bs_be_entry *e;

	memcpy(want.addr, b->addr, sizeof(want.addr));
	want.port = b->port;
	want.family = b->family;
	HASH_FIND(hh, dp->be_by_addr, &want, offsetof(struct bs_backend, state), e);
	if (e) {
		e->dying = false; /* a retired backend named again keeps its id and counters */
		if (e->be.state != b->state || force) {
			/* Informational for bpftool readers; the tables decide. Only the state byte
			 * changes, so a reader sees the address and port whole either way. */
			e->be.state = b->state;
			if (bpf_map_update_elem(dp->fd[BS_MAP_BACKENDS], &e->id, &e->be, BPF_ANY))
				return -errno;
		}
		*out = e;
		return 0;
	}
	for (__u32 n = 1; n < dp->max_backends; n++) {
		__u32 id = 1 + (dp->be_id_hint + n - 1) % (dp->max_backends - 1);

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
		dp->be_id_hint = id;
		HASH_ADD(hh, dp->be_by_addr, be, offsetof(struct bs_backend, state), e);
		*out = e;
		return 0;
	}
	return -ENOSPC;
}

/* Build, or reuse from the old split when identical, the table of one group's ready
 * backends: a small table, or a large one for more than BS_MAGLEV_SMALL_MAX_READY.
 * *table_id is BS_ID_NONE when the group has none; *which says the map written. */
static int group_table(struct bs_dp *dp, const struct bs_member_rec *members, __u32 n_members, __u32 group,
		       __u32 old_table, __u32 *table_id, bool *reused, enum bs_map_idx *which, __u64 *sum)
{
	struct bs_maglev_member *mm = calloc(n_members ? n_members : 1, sizeof(*mm));
	__u32 *tbl = NULL, *old = NULL, n = 0, size;
	int err = 0;

	*table_id = BS_ID_NONE;
	*reused = false;
	if (!mm) {
		err = -ENOMEM;
		goto out;
	}
	/* members holds each (backend, group) once. */
	for (__u32 i = 0; i < n_members; i++) {
		const struct bs_be_entry *e = dp->be_by_id[members[i].backend_id];

		if (members[i].group != group || members[i].state != BS_BACKEND_READY)
			continue;
		memcpy(mm[n].addr, e->be.addr, sizeof(mm[n].addr));
		mm[n].port = e->be.port;
		mm[n].family = e->be.family;
		mm[n].id = e->id;
		n++;
	}
	if (!n)
		goto out;
	size = bs_maglev_size_for(n);
	*which = size == BS_MAGLEV_SIZE ? BS_MAP_MAGLEV : BS_MAP_MAGLEV_LARGE;
	tbl = malloc(size * sizeof(*tbl));
	old = malloc(size * sizeof(*old));
	if (!tbl || !old) {
		err = -ENOMEM;
		goto out;
	}
	err = bs_maglev_build_slots(mm, n, tbl, size);
	if (err)
		goto out;
	*sum = bs_slots_sum(tbl, size);
	if (old_table && bs_table_map(old_table) == *which &&
	    !bpf_map_lookup_elem(dp->fd[*which], &old_table, old) && !memcmp(old, tbl, size * sizeof(*tbl))) {
		*table_id = old_table;
		*reused = true;
		goto out;
	}
	err = alloc_id(dp, *which, table_id);
	if (!err && bpf_map_update_elem(dp->fd[*which], table_id, tbl, BPF_NOEXIST))
		err = -errno;
	if (err)
		*table_id = BS_ID_NONE;
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

/* (backend, group) pairs, sorted, so that set questions are binary searches. */
int bs_member_cmp(const void *pa, const void *pb)
{
	const struct bs_member_rec *a = pa, *b = pb;

	if (a->backend_id != b->backend_id)
		return a->backend_id < b->backend_id ? -1 : 1;
	return a->group < b->group ? -1 : a->group > b->group;
}

static const struct bs_member_rec *member_find(const struct bs_member_rec *set, __u32 n, const struct bs_member_rec *m)
{
	return n ? bsearch(m, set, n, sizeof(*set), bs_member_cmp) : NULL;
}

/* The cap of a map and a sentence saying which --max-* raises it. */
static void full_msg(struct bs_dp *dp, enum bs_map_idx map, const char *fe_name, char *errbuf, size_t errlen)
{
	static const char *const fix[BS_MAP_COUNT] = {
		[BS_MAP_BACKENDS] = "--max-backends",
		[BS_MAP_MEMBERS] = "--max-members (one entry per backend of each group of each frontend)",
		[BS_MAP_GROUPS] = "--max-frontends (bs_groups holds 16 entries per frontend)",
		[BS_MAP_SPLITS] = "--max-splits",
		[BS_MAP_MAGLEV] = "--max-tables",
		[BS_MAP_MAGLEV_LARGE] = "--max-large-tables",
		[BS_MAP_FRONTENDS] = "--max-frontends",
	};
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	bpf_obj_get_info_by_fd(dp->fd[map], &info, &len);
	snprintf(errbuf, errlen,
		 "frontend %s: map %s is full (%u entries); nothing serving traffic changed: load the data path "
		 "with a larger %s",
		 fe_name, bs_map_names[map], info.max_entries, fix[map] ? fix[map] : "size");
}

static bool is_full(int err)
{
	return err == -E2BIG || err == -ENOSPC || err == -ENOMEM;
}

/* What a write added to the metadata maps before its switch: removed again if the write
 * fails, so that bs_members never names a backend the registry does not count. */
struct meta_undo {
	struct bs_member_key *members;
	__u32 n_members;
	struct bs_group_key groups[BS_MAX_GROUPS];
	__u32 n_groups;
};

static void meta_rollback(struct bs_dp *dp, struct meta_undo *u)
{
	for (__u32 i = 0; i < u->n_members; i++)
		bpf_map_delete_elem(dp->fd[BS_MAP_MEMBERS], &u->members[i]);
	for (__u32 i = 0; i < u->n_groups; i++)
		bpf_map_delete_elem(dp->fd[BS_MAP_GROUPS], &u->groups[i]);
	u->n_members = u->n_groups = 0;
}

/* Before the switch: add the members and groups the new configuration has and the old
 * one lacks. Every write is checked; a full map fails the apply with nothing changed.
 * (A process that syncs between here and the switch counts the new members too: the
 * metadata is always a superset of what live tables name.) */
static int meta_before(struct bs_dp *dp, const struct bs_fe_entry *fe, const struct bs_group_info *groups,
		       __u32 n_groups, const struct bs_member_rec *members, __u32 n_members, bool force,
		       struct meta_undo *u, enum bs_map_idx *failed)
{
	u->members = calloc(n_members ? n_members : 1, sizeof(*u->members));
	if (!u->members)
		return -ENOMEM;
	for (__u32 i = 0; i < n_members; i++) {
		struct bs_member_key k = { fe->fe.id, members[i].backend_id, members[i].group };
		struct bs_member v = { .state = members[i].state };
		bool had = member_find(fe->members, fe->n_members, &members[i]);

		if (had && !force)
			continue;
		if (bpf_map_update_elem(dp->fd[BS_MAP_MEMBERS], &k, &v, BPF_ANY)) {
			*failed = BS_MAP_MEMBERS;
			return -errno;
		}
		if (!had)
			u->members[u->n_members++] = k;
	}
	for (__u32 g = force ? 0 : fe->n_groups; g < n_groups; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		if (bpf_map_update_elem(dp->fd[BS_MAP_GROUPS], &k, &groups[g], BPF_ANY)) {
			*failed = BS_MAP_GROUPS;
			return -errno;
		}
		if (g >= fe->n_groups)
			u->groups[u->n_groups++] = k;
	}
	return 0;
}

/* After the switch: rewrite the groups that existed, drop what the new configuration no
 * longer has, update member states. Existing keys only: a full map cannot fail these. */
static int meta_after(struct bs_dp *dp, const struct bs_fe_entry *fe, const struct bs_group_info *groups,
		      __u32 n_groups, const struct bs_member_rec *members, __u32 n_members)
{
	int err = 0;

	for (__u32 g = 0; g < n_groups && g < fe->n_groups; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		if (bpf_map_update_elem(dp->fd[BS_MAP_GROUPS], &k, &groups[g], BPF_ANY))
			err = err ?: -errno;
	}
	for (__u32 g = n_groups; g < fe->n_groups; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		bpf_map_delete_elem(dp->fd[BS_MAP_GROUPS], &k);
	}
	for (__u32 i = 0; i < fe->n_members; i++) {
		struct bs_member_key k = { fe->fe.id, fe->members[i].backend_id, fe->members[i].group };
		const struct bs_member_rec *now = member_find(members, n_members, &fe->members[i]);
		struct bs_member v = { .state = now ? now->state : 0 };

		if (!now)
			bpf_map_delete_elem(dp->fd[BS_MAP_MEMBERS], &k);
		else if (now->state != fe->members[i].state &&
			 bpf_map_update_elem(dp->fd[BS_MAP_MEMBERS], &k, &v, BPF_ANY))
			err = err ?: -errno;
	}
	return err;
}

/* The registry takes the new members and groups: new references first, then the old
 * dropped, so that a backend in both never hits zero. */
static void registry_take(struct bs_dp *dp, struct bs_fe_entry *fe, const struct bs_group_info *groups,
			  __u32 n_groups, struct bs_member_rec *members, __u32 n_members)
{
	member_refs(dp, members, n_members, +1);
	member_refs(dp, fe->members, fe->n_members, -1);
	free(fe->members);
	fe->members = members;
	fe->n_members = n_members;
	memset(fe->groups, 0, sizeof(fe->groups));
	if (n_groups) /* a removal passes no groups (NULL): memcpy from NULL is undefined */
		memcpy(fe->groups, groups, sizeof(fe->groups[0]) * n_groups);
	fe->n_groups = n_groups;
}

/* Write spec. With force (repair), tables and the split are written afresh and every
 * backend slot again, even when the maps look equal. */
static int apply_locked(struct bs_dp *dp, const struct bs_frontend_spec *spec, bool force, char *errbuf,
			size_t errlen)
{
	struct bs_group_info groups[BS_MAX_GROUPS] = {};
	__u32 weights[BS_MAX_GROUPS], n_members = 0, new_tables[BS_MAX_GROUPS] = {};
	__u64 sums[BS_MAX_GROUPS] = {};
	bool reused[BS_MAX_GROUPS] = {}, created = false, switched = false;
	struct bs_member_rec *members = NULL;
	struct bs_split split = {}, old_split;
	struct meta_undo undo = { 0 };
	enum bs_map_idx failed = BS_MAP_COUNT;
	struct bs_fe_entry *fe;
	__u32 new_split = 0; /* 0: none allocated yet (the failure path reads it) */
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
			full_msg(dp, BS_MAP_FRONTENDS, fe_name, errbuf, errlen);
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
			struct bs_be_entry *e = NULL;

			err = backend_get(dp, b, force, &e);
			if (err) {
				if (err == -ENOSPC)
					full_msg(dp, BS_MAP_BACKENDS, fe_name, errbuf, errlen);
				else
					snprintf(errbuf, errlen, "frontend %s: cannot write a backend to bs_backends: %s",
						 fe_name, strerror(-err));
				goto fail;
			}
			members[n_members++] = (struct bs_member_rec){ e->id, g, b->state };
		}
	}
	/* Each (backend, group) once; a backend listed twice in a group is ready if either is. */
	qsort(members, n_members, sizeof(*members), bs_member_cmp);
	{
		__u32 out = 0;

		for (__u32 i = 0; i < n_members; i++) {
			if (out && !bs_member_cmp(&members[out - 1], &members[i])) {
				if (members[i].state == BS_BACKEND_READY)
					members[out - 1].state = BS_BACKEND_READY;
				continue;
			}
			members[out++] = members[i];
		}
		n_members = out;
	}

	/* 2. Tables, then the split, under fresh ids. */
	for (__u32 g = 0; g < spec->n_groups; g++) {
		__u32 old_table = g < fe->n_groups && !force ? fe->groups[g].table_id : BS_ID_NONE;

		enum bs_map_idx which = BS_MAP_MAGLEV;

		err = group_table(dp, members, n_members, g, old_table, &new_tables[g], &reused[g], &which, &sums[g]);
		if (is_full(err) && err != -ENOMEM) {
			failed = which;
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
	if (created || force || bpf_map_lookup_elem(dp->fd[BS_MAP_SPLITS], &fe->split_id, &old_split) ||
	    memcmp(&old_split, &split, sizeof(split))) {
		err = alloc_id(dp, BS_MAP_SPLITS, &new_split);
		if (!err && bpf_map_update_elem(dp->fd[BS_MAP_SPLITS], &new_split, &split, BPF_NOEXIST))
			err = -errno;
		if (err) {
			if (is_full(err))
				failed = BS_MAP_SPLITS;
			else
				snprintf(errbuf, errlen, "frontend %s: cannot write its split: %s", fe_name, strerror(-err));
			new_split = BS_ID_NONE;
			goto fail;
		}
	}

	/* 3. Metadata the new configuration adds, checked, before anything can name it. */
	err = meta_before(dp, fe, groups, spec->n_groups, members, n_members, force, &undo, &failed);
	if (err)
		goto fail;

	/* 4. The switch: one aligned 4-byte store into the frontend's array slot (array
	 * values stay in place; a hash update would recycle an element a program may be
	 * reading). A new frontend's key is inserted after its slot is set. */
	if (new_split != fe->split_id) {
		struct bs_fe_split slot = { new_split };

		if (bpf_map_update_elem(dp->fd[BS_MAP_FE_SPLITS], &fe->fe.id, &slot, BPF_ANY)) {
			err = -errno;
			snprintf(errbuf, errlen, "frontend %s: cannot switch to the new split: %s", fe_name, strerror(-err));
			goto fail;
		}
		switched = true;
	}
	if (created && bpf_map_update_elem(dp->fd[BS_MAP_FRONTENDS], &spec->key, &fe->fe, BPF_NOEXIST)) {
		struct bs_fe_split none = {};

		err = -errno;
		bpf_map_update_elem(dp->fd[BS_MAP_FE_SPLITS], &fe->fe.id, &none, BPF_ANY);
		if (is_full(err))
			failed = BS_MAP_FRONTENDS;
		else
			snprintf(errbuf, errlen, "frontend %s: cannot insert its key: %s", fe_name, strerror(-err));
		goto fail;
	}

	/* 5. What the switch replaced goes after the grace period. */
	if (switched && !created && fe->split_id)
		bs_retire(dp, BS_MAP_SPLITS, fe->split_id);
	for (__u32 g = 0; g < fe->n_groups; g++) {
		bool kept = false;

		for (__u32 h = 0; h < spec->n_groups; h++)
			kept |= new_tables[h] == fe->groups[g].table_id;
		if (fe->groups[g].table_id && !kept)
			bs_retire(dp, bs_table_map(fe->groups[g].table_id), fe->groups[g].table_id);
	}
	err = meta_after(dp, fe, groups, spec->n_groups, members, n_members);
	if (err)
		bs_warn("msg=\"frontend written; its metadata could not be updated in place\" frontend=%s err=%s",
			fe_name, strerror(-err));
	free(undo.members);
	fe->split_id = new_split;
	fe->affinity = spec->affinity;
	if (created) {
		HASH_ADD(hh, dp->fe_by_key, key, sizeof(fe->key), fe);
		dp->fe_by_id[fe->fe.id] = fe;
	}
	registry_take(dp, fe, groups, spec->n_groups, members, n_members);
	memcpy(fe->table_sum, sums, sizeof(fe->table_sum));
	return 0;

fail:
	if (failed != BS_MAP_COUNT) {
		full_msg(dp, failed, fe_name, errbuf, errlen);
		err = -ENOSPC;
	}
	meta_rollback(dp, &undo);
	free(undo.members);
	if (new_split && new_split != fe->split_id)
		bpf_map_delete_elem(dp->fd[BS_MAP_SPLITS], &new_split);
	/* Never switched to: no program can have read them. */
	for (__u32 g = 0; g < spec->n_groups; g++)
		if (new_tables[g] && !reused[g])
			bpf_map_delete_elem(dp->fd[bs_table_map(new_tables[g])], &new_tables[g]);
	/* Backends created for this write and named by nothing: retire them. */
	for (__u32 i = 0; i < n_members; i++) {
		struct bs_be_entry *e = dp->be_by_id[members[i].backend_id];

		if (e && !e->refs && !e->dying) {
			e->dying = true;
			bs_retire(dp, BS_MAP_BACKENDS, e->id);
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
	err = bs_spec_validate(spec, errbuf, errlen);
	if (err)
		return err;
	err = write_begin(dp);
	if (err) {
		snprintf(errbuf, errlen, "pin root %s: cannot %s the data path: %s", dp->root,
			 err == -EROFS ? "write through a read-only handle to" : "lock or read", strerror(-err));
		return err;
	}
	err = apply_locked(dp, spec, false, errbuf, errlen);
	if (err == -ENOSPC && dp->retired) {
		/* Full, but entries wait to be freed: free them (a grace period) and try again. */
		if (bs_flush_locked(dp, true) > 0) {
			errbuf[0] = '\0';
			err = apply_locked(dp, spec, false, errbuf, errlen);
		}
	}
	write_end(dp);
	return err;
}

/* Write a frontend again from what the registry believes, every table and slot afresh. */
int bs_repair_locked(struct bs_dp *dp, const struct bs_frontend_key *key, char *errbuf, size_t errlen)
{
	struct bs_frontend_spec spec;
	struct bs_fe_entry *fe;
	int err;

	HASH_FIND(hh, dp->fe_by_key, key, sizeof(*key), fe);
	if (!fe)
		return -ENOENT;
	err = bs_registry_spec(dp, fe, &spec);
	if (err)
		return err;
	err = apply_locked(dp, &spec, true, errbuf, errlen);
	bs_frontend_spec_free(&spec);
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
			bs_retire(dp, bs_table_map(fe->groups[g].table_id), fe->groups[g].table_id);
	/* Every group key, also those an interrupted write may have left beyond the split. */
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++) {
		struct bs_group_key k = { fe->fe.id, g };

		bpf_map_delete_elem(dp->fd[BS_MAP_GROUPS], &k);
	}
	fe->n_groups = 0;
	meta_after(dp, fe, NULL, 0, NULL, 0);
	registry_take(dp, fe, NULL, 0, NULL, 0);
	bpf_map_delete_elem(dp->fd[BS_MAP_FE_INFO], &fe->fe.id);
	dp->fe_id_used[fe->fe.id] = 0;
	dp->fe_by_id[fe->fe.id] = NULL;
	if (fe->fe.id - 1 < dp->fe_id_hint)
		dp->fe_id_hint = fe->fe.id - 1;
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

	if (dp->ro)
		return -EROFS;
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

/* A writer's read is what it believes it wrote (caught up with the other writers);
 * bs_dp_verify compares that with the maps. A read-only handle reads the maps. */
int bs_dp_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	struct bs_fe_entry *fe;
	int err;

	if (dp->ro)
		return bs_ro_read(dp, key, out);
	err = bs_write_lock(dp, false); /* for a consistent view; nothing is written */
	if (err)
		return err;
	memset(out, 0, sizeof(*out));
	HASH_FIND(hh, dp->fe_by_key, key, sizeof(*key), fe);
	err = fe ? bs_registry_spec(dp, fe, out) : -ENOENT;
	bs_write_unlock(dp);
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

int bs_dp_frontend_id(struct bs_dp *dp, const struct bs_frontend_key *key, __u32 *id)
{
	struct bs_frontend fe;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], key, &fe))
		return -errno;
	*id = fe.id;
	return 0;
}

int bs_dp_group_info(struct bs_dp *dp, __u32 frontend_id, __u32 group, struct bs_group_info *out)
{
	struct bs_group_key k = { frontend_id, group };

	return bpf_map_lookup_elem(dp->fd[BS_MAP_GROUPS], &k, out) ? -errno : 0;
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
