// SPDX-License-Identifier: BSD-2-Clause
/* Reading the maps themselves: read-only handles (no registry) rebuild a frontend's spec
 * from the split, bs_groups, bs_members and bs_backends; and bs_dp_verify compares what
 * the programs would use with what the writer believes, and repairs on request. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "dp_internal.h"
#include "idset.h"
#include "log.h"
#include "tables.h"

/* ---- read-only handles ---- */

struct ro_member {
	struct bs_member_key k;
	struct bs_member v;
};

struct bs_ro_cache {
	__u64 gen;               /* bs_state.write_gen when bs_members was read */
	struct ro_member *m;     /* sorted by frontend id, group, backend id */
	size_t n;
};

static int ro_member_cmp(const void *pa, const void *pb)
{
	const struct ro_member *a = pa, *b = pb;

	if (a->k.frontend_id != b->k.frontend_id)
		return a->k.frontend_id < b->k.frontend_id ? -1 : 1;
	if (a->k.group != b->k.group)
		return a->k.group < b->k.group ? -1 : 1;
	return a->k.backend_id < b->k.backend_id ? -1 : a->k.backend_id > b->k.backend_id;
}

void bs_ro_cache_free(struct bs_dp *dp)
{
	if (!dp->ro_cache)
		return;
	free(dp->ro_cache->m);
	free(dp->ro_cache);
	dp->ro_cache = NULL;
}

static int read_gen(struct bs_dp *dp, __u64 *gen)
{
	struct bs_state st;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(dp->fd[BS_MAP_STATE], &zero, &st))
		return -errno;
	*gen = st.write_gen;
	return 0;
}

/* bs_members, read once per write generation (a listing of every frontend reads it once). */
static int ro_members(struct bs_dp *dp, __u64 gen)
{
	struct bs_member_key *keys = NULL;
	struct bs_member *vals = NULL;
	size_t n;
	int err;

	if (dp->ro_cache && dp->ro_cache->gen == gen)
		return 0;
	bs_ro_cache_free(dp);
	err = bs_map_read_all(dp->fd[BS_MAP_MEMBERS], sizeof(*keys), sizeof(*vals), (void **)&keys, (void **)&vals, &n);
	if (err)
		return err;
	dp->ro_cache = calloc(1, sizeof(*dp->ro_cache));
	if (dp->ro_cache)
		dp->ro_cache->m = calloc(n ? n : 1, sizeof(*dp->ro_cache->m));
	if (!dp->ro_cache || !dp->ro_cache->m) {
		free(keys);
		free(vals);
		bs_ro_cache_free(dp);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		dp->ro_cache->m[i] = (struct ro_member){ keys[i], vals[i] };
	qsort(dp->ro_cache->m, n, sizeof(*dp->ro_cache->m), ro_member_cmp);
	dp->ro_cache->n = n;
	dp->ro_cache->gen = gen;
	free(keys);
	free(vals);
	return 0;
}

static int ro_read_once(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	struct bs_frontend fe;
	struct bs_fe_split slot = {};
	struct bs_split split = {};
	const struct ro_member *m;
	size_t lo = 0, hi;

	memset(out, 0, sizeof(*out));
	if (bpf_map_lookup_elem(dp->fd[BS_MAP_FRONTENDS], key, &fe))
		return -errno;
	out->key = *key;
	out->id = fe.id;
	if (!bpf_map_lookup_elem(dp->fd[BS_MAP_FE_SPLITS], &fe.id, &slot) && slot.split_id &&
	    !bpf_map_lookup_elem(dp->fd[BS_MAP_SPLITS], &slot.split_id, &split)) {
		out->split_id = slot.split_id;
		out->affinity = split.affinity;
		out->n_groups = split.n_groups <= BS_MAX_GROUPS ? split.n_groups : BS_MAX_GROUPS;
	}
	/* The first member of this frontend: binary search. */
	hi = dp->ro_cache->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (dp->ro_cache->m[mid].k.frontend_id < fe.id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (__u32 g = 0; g < out->n_groups; g++) {
		struct bs_group_spec *gs = &out->groups[g];
		struct bs_group_key gk = { fe.id, g };
		struct bs_group_info gi;
		size_t first = lo, cnt = 0;

		gs->table_id = split.tables[g];
		if (!bpf_map_lookup_elem(dp->fd[BS_MAP_GROUPS], &gk, &gi)) {
			gs->weight = gi.weight;
			memcpy(gs->name, gi.name, sizeof(gs->name));
			gs->name[sizeof(gs->name) - 1] = '\0';
		}
		while (first < dp->ro_cache->n && dp->ro_cache->m[first].k.frontend_id == fe.id &&
		       dp->ro_cache->m[first].k.group < g)
			first++;
		for (m = &dp->ro_cache->m[first]; first + cnt < dp->ro_cache->n && m->k.frontend_id == fe.id &&
						   m->k.group == g;
		     m++)
			cnt++;
		gs->backends = calloc(cnt ? cnt : 1, sizeof(*gs->backends));
		if (!gs->backends) {
			bs_frontend_spec_free(out);
			return -ENOMEM;
		}
		for (size_t i = 0; i < cnt; i++) {
			const struct ro_member *r = &dp->ro_cache->m[first + i];
			struct bs_backend be;
			struct bs_backend_spec *b;

			if (bs_dp_backend(dp, r->k.backend_id, &be))
				continue; /* an empty slot: bs_dp_verify reports it */
			b = &gs->backends[gs->n_backends++];
			memcpy(b->addr, be.addr, sizeof(b->addr));
			b->port = be.port;
			b->family = be.family;
			b->state = r->v.state;
			b->id = r->k.backend_id;
		}
		lo = first + cnt;
	}
	return 0;
}

/* Without the lock a write may land while we read: read again (a few times) when the
 * write generation moved meanwhile. */
int bs_ro_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	int err = 0;

	for (int attempt = 0; attempt < 4; attempt++) {
		__u64 gen0 = 0, gen1 = 0;

		err = read_gen(dp, &gen0);
		if (!err && (gen0 & 1) && attempt < 3) { /* a write under way (or its writer died) */
			usleep(1000);
			continue;
		}
		err = err ?: ro_members(dp, gen0);
		err = err ?: ro_read_once(dp, key, out);
		if (err)
			return err;
		if (read_gen(dp, &gen1) || gen1 == gen0)
			return 0;
		bs_frontend_spec_free(out);
	}
	return ro_read_once(dp, key, out);
}

/* ---- verify ---- */

#define MAX_DIFFS_PER_FE 16

struct fe_diffs {
	struct bs_verify_diff d[MAX_DIFFS_PER_FE];
	unsigned int n;
};

static void add(struct fe_diffs *fd, const struct bs_fe_entry *fe, const char *what, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add(struct fe_diffs *fd, const struct bs_fe_entry *fe, const char *what, const char *fmt, ...)
{
	struct bs_verify_diff *d;
	va_list ap;

	if (fd->n == MAX_DIFFS_PER_FE)
		return;
	d = &fd->d[fd->n++];
	memset(d, 0, sizeof(*d));
	if (fe) {
		d->key = fe->key;
		d->frontend_id = fe->fe.id;
	}
	d->what = what;
	va_start(ap, fmt);
	vsnprintf(d->detail, sizeof(d->detail), fmt, ap);
	va_end(ap);
}

/* The table the registry's ready members of group g give (slots of the size their number
 * calls for, in want, which holds a large table); *n = how many, *size = its slots. */
static int expected_table(struct bs_dp *dp, const struct bs_fe_entry *fe, __u32 g, __u32 *want, __u32 *n,
			  __u32 *size)
{
	struct bs_maglev_member *mm = calloc(fe->n_members ? fe->n_members : 1, sizeof(*mm));
	int err = 0;

	*n = 0;
	if (!mm)
		return -ENOMEM;
	for (__u32 i = 0; i < fe->n_members; i++) {
		const struct bs_be_entry *e = dp->be_by_id[fe->members[i].backend_id];

		if (!e || fe->members[i].group != g || fe->members[i].state != BS_BACKEND_READY)
			continue;
		memcpy(mm[*n].addr, e->be.addr, sizeof(mm[*n].addr));
		mm[*n].port = e->be.port;
		mm[*n].family = e->be.family;
		mm[*n].id = e->id;
		(*n)++;
	}
	*size = bs_maglev_size_for(*n);
	if (*n)
		err = bs_maglev_build_slots(mm, *n, want, *size);
	free(mm);
	return err;
}

static void check_table(struct bs_dp *dp, struct bs_fe_entry *fe, __u32 g, __u32 table_id, __u32 *want,
			__u32 *have, struct fe_diffs *fd)
{
	__u32 n_ready, size, differ = 0, first = 0, before = fd->n;
	char ep[64];

	/* The same bytes as written (or as last verified): nothing to rebuild. */
	if (table_id && fe->table_sum[g] && !bpf_map_lookup_elem(dp->fd[bs_table_map(table_id)], &table_id, have) &&
	    bs_slots_sum(have, bs_table_slots(table_id)) == fe->table_sum[g])
		return;
	fe->table_sum[g] = 0;
	if (expected_table(dp, fe, g, want, &n_ready, &size)) {
		add(fd, fe, "table", "group %u: cannot build the expected table", g);
		return;
	}
	if (!table_id) {
		if (n_ready)
			add(fd, fe, "table", "group %u: no table, but %u ready backends", g, n_ready);
		return;
	}
	if (bpf_map_lookup_elem(dp->fd[bs_table_map(table_id)], &table_id, have)) {
		add(fd, fe, "table", "group %u: table %u is missing from %s", g, table_id,
		    bs_map_names[bs_table_map(table_id)]);
		return;
	}
	if (!n_ready) {
		add(fd, fe, "table", "group %u: table %u exists, but the group has no ready backend", g, table_id);
		return;
	}
	if (bs_table_slots(table_id) != size) {
		add(fd, fe, "table", "group %u: table %u has %u slots; %u ready backends need %u", g, table_id,
		    bs_table_slots(table_id), n_ready, size);
		return;
	}
	for (__u32 s = 0; s < size; s++) {
		if (want[s] != have[s] && !differ++)
			first = s;
	}
	if (differ)
		add(fd, fe, "table",
		    "group %u: table %u differs from the one its %u ready backends give in %u of %u slots (first: slot "
		    "%u holds backend id %u, expected %u)",
		    g, table_id, n_ready, differ, size, first, have[first], want[first]);
	/* Every backend id the live table names must have its slot filled (each id once:
	 * the expected members, plus whatever a differing table names). */
	struct bs_idset seen = { 0 };

	for (__u32 s = 0; s < size; s++) {
		__u32 id = have[s];
		struct bs_backend be;

		if (bs_idset_get(&seen, id) || (id && bs_idset_put(&seen, id, 1)))
			continue;
		if (bpf_map_lookup_elem(dp->fd[BS_MAP_BACKENDS], &id, &be) || !be.family) {
			ep[0] = '\0';
			if (id < dp->max_backends && dp->be_by_id[id])
				bs_endpoint_format(dp->be_by_id[id]->be.addr, dp->be_by_id[id]->be.port,
						   dp->be_by_id[id]->be.family, ep, sizeof(ep));
			add(fd, fe, "backend", "group %u: table %u names backend id %u, whose bs_backends slot is empty%s%s",
			    g, table_id, id, ep[0] ? " (the writer wrote " : "", ep[0] ? ep : "");
			if (ep[0])
				strncat(fd->d[fd->n - 1].detail, ")", sizeof(fd->d[0].detail) - strlen(fd->d[fd->n - 1].detail) - 1);
		}
	}
	bs_idset_free(&seen);
	if (fd->n == before)
		fe->table_sum[g] = bs_slots_sum(have, size);
}

/* The maps verify compares, each read once in batches (one syscall per thousands of
 * entries, not one per entry): only the tables are looked up one by one. */
struct grp_rec {
	struct bs_group_key k;
	struct bs_group_info v;
};

struct vsnap {
	__u32 *map_id;              /* [registry frontend id] -> id in bs_frontends + 1, 0: absent */
	__u32 *slot;                /* [frontend id] -> bs_fe_splits */
	__u32 n_slot;
	struct bs_split *splits;
	struct bs_idset split_at;   /* split id -> index + 1 */
	struct bs_backend *be;      /* [backend id] */
	__u32 n_be;
	struct ro_member *members;  /* sorted by frontend, group, backend */
	size_t n_members;
	struct grp_rec *groups;     /* sorted by frontend, group */
	size_t n_groups;
};

static int grp_cmp(const void *pa, const void *pb)
{
	const struct grp_rec *a = pa, *b = pb;

	if (a->k.frontend_id != b->k.frontend_id)
		return a->k.frontend_id < b->k.frontend_id ? -1 : 1;
	return a->k.group < b->k.group ? -1 : a->k.group > b->k.group;
}

static void vsnap_free(struct vsnap *v)
{
	free(v->map_id);
	free(v->slot);
	free(v->splits);
	bs_idset_free(&v->split_at);
	free(v->be);
	free(v->members);
	free(v->groups);
	memset(v, 0, sizeof(*v));
}

/* Read the maps; frontends the writer does not know are reported through x. */
static int vsnap_read(struct bs_dp *dp, struct vsnap *v, bs_verify_fn fn, void *ctx, int *extra)
{
	struct bs_frontend_key *fk = NULL;
	struct bs_frontend *fv = NULL;
	struct bs_member_key *mk = NULL;
	struct bs_member *mv = NULL;
	struct bs_group_key *gk = NULL;
	struct bs_group_info *gv = NULL;
	struct bs_fe_split *slots = NULL;
	__u32 *keys = NULL;
	size_t n = 0;
	int err;

	memset(v, 0, sizeof(*v));
	v->map_id = calloc(dp->max_frontends, sizeof(*v->map_id));
	if (!v->map_id)
		return -ENOMEM;
	err = bs_map_read_all(dp->fd[BS_MAP_FRONTENDS], sizeof(*fk), sizeof(*fv), (void **)&fk, (void **)&fv, &n);
	for (size_t i = 0; !err && i < n; i++) {
		struct bs_fe_entry *fe;

		HASH_FIND(hh, dp->fe_by_key, &fk[i], sizeof(fk[i]), fe);
		if (fe) {
			v->map_id[fe->fe.id] = fv[i].id + 1;
		} else {
			struct bs_verify_diff d = { .key = fk[i], .frontend_id = fv[i].id, .what = "frontend" };

			snprintf(d.detail, sizeof(d.detail), "in bs_frontends (id %u), unknown to the writer", fv[i].id);
			(*extra)++;
			if (fn)
				fn(&d, ctx);
		}
	}
	free(fk);
	free(fv);
	/* Arrays: the batch returns index i at position i. */
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_FE_SPLITS], sizeof(*keys), sizeof(*slots), (void **)&keys,
				     (void **)&slots, &n);
	if (!err) {
		v->slot = calloc(n ? n : 1, sizeof(*v->slot));
		for (size_t i = 0; v->slot && i < n; i++)
			if (keys[i] < n)
				v->slot[keys[i]] = slots[i].split_id;
		v->n_slot = (__u32)n;
		err = v->slot ? 0 : -ENOMEM;
	}
	free(keys);
	free(slots);
	keys = NULL;
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_SPLITS], sizeof(*keys), sizeof(*v->splits), (void **)&keys,
				     (void **)&v->splits, &n);
	for (size_t i = 0; !err && i < n; i++)
		err = bs_idset_put(&v->split_at, keys[i], (__u32)i + 1);
	free(keys);
	keys = NULL;
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_BACKENDS], sizeof(*keys), sizeof(*v->be), (void **)&keys,
				     (void **)&v->be, &n);
	if (!err) {
		v->n_be = (__u32)n;
		for (size_t i = 0; i < n; i++)
			if (keys[i] != i) /* not an array read in order: fall back to lookups */
				v->n_be = 0;
	}
	free(keys);
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_MEMBERS], sizeof(*mk), sizeof(*mv), (void **)&mk, (void **)&mv, &n);
	if (!err) {
		v->members = calloc(n ? n : 1, sizeof(*v->members));
		for (size_t i = 0; v->members && i < n; i++)
			v->members[i] = (struct ro_member){ mk[i], mv[i] };
		if (v->members)
			qsort(v->members, n, sizeof(*v->members), ro_member_cmp);
		v->n_members = n;
		err = v->members ? 0 : -ENOMEM;
	}
	free(mk);
	free(mv);
	err = err ?: bs_map_read_all(dp->fd[BS_MAP_GROUPS], sizeof(*gk), sizeof(*gv), (void **)&gk, (void **)&gv, &n);
	if (!err) {
		v->groups = calloc(n ? n : 1, sizeof(*v->groups));
		for (size_t i = 0; v->groups && i < n; i++)
			v->groups[i] = (struct grp_rec){ gk[i], gv[i] };
		if (v->groups)
			qsort(v->groups, n, sizeof(*v->groups), grp_cmp);
		v->n_groups = n;
		err = v->groups ? 0 : -ENOMEM;
	}
	free(gk);
	free(gv);
	if (err)
		vsnap_free(v);
	return err;
}

static bool snap_backend(struct bs_dp *dp, const struct vsnap *v, __u32 id, struct bs_backend *out)
{
	if (id < v->n_be) {
		*out = v->be[id];
		return true;
	}
	return !bpf_map_lookup_elem(dp->fd[BS_MAP_BACKENDS], &id, out);
}

static void check_frontend(struct bs_dp *dp, const struct vsnap *v, struct bs_fe_entry *fe, __u32 *want,
			   __u32 *have, struct fe_diffs *fd)
{
	__u32 split_id = fe->fe.id < v->n_slot ? v->slot[fe->fe.id] : 0, at;
	const struct bs_split *split;
	__u32 weights[BS_MAX_GROUPS] = {};
	__u64 thr[BS_MAX_GROUPS] = {};

	if (!v->map_id[fe->fe.id])
		add(fd, fe, "frontend", "missing from bs_frontends (the writer wrote id %u)", fe->fe.id);
	else if (v->map_id[fe->fe.id] - 1 != fe->fe.id)
		add(fd, fe, "frontend", "bs_frontends says id %u, the writer wrote id %u", v->map_id[fe->fe.id] - 1,
		    fe->fe.id);
	if (split_id != fe->split_id) {
		add(fd, fe, "split", "bs_fe_splits[%u] names split %u, the writer switched to split %u", fe->fe.id,
		    split_id, fe->split_id);
		return;
	}
	if (!fe->split_id)
		return;
	at = bs_idset_get(&v->split_at, fe->split_id);
	if (!at) {
		add(fd, fe, "split", "split %u is missing from bs_splits", fe->split_id);
		return;
	}
	split = &v->splits[at - 1];
	if (split->n_groups != fe->n_groups || split->affinity != fe->affinity) {
		add(fd, fe, "split", "split %u has %u groups, affinity %u; the writer wrote %u groups, affinity %u",
		    fe->split_id, split->n_groups, split->affinity, fe->n_groups, fe->affinity);
		return;
	}
	for (__u32 g = 0; g < fe->n_groups; g++)
		weights[g] = fe->groups[g].weight;
	bs_thresholds(weights, fe->n_groups, thr);
	for (__u32 g = 0; g < fe->n_groups; g++) {
		if (split->thresholds[g] != thr[g])
			add(fd, fe, "thresholds",
			    "split %u: group %u threshold %llu, the weights (%u of the total) give %llu", fe->split_id, g,
			    (unsigned long long)split->thresholds[g], weights[g], (unsigned long long)thr[g]);
		if (split->tables[g] != fe->groups[g].table_id)
			add(fd, fe, "table", "split %u: group %u names table %u, the writer wrote table %u", fe->split_id,
			    g, split->tables[g], fe->groups[g].table_id);
		else
			check_table(dp, fe, g, split->tables[g], want, have, fd);
	}
	/* Backend slots of every member, ready or draining, and the metadata beside them. */
	for (__u32 i = 0; i < fe->n_members; i++) {
		const struct bs_member_rec *m = &fe->members[i];
		const struct bs_be_entry *e = dp->be_by_id[m->backend_id];
		struct ro_member want_m = { { fe->fe.id, m->backend_id, m->group }, { 0 } };
		const struct ro_member *got;
		struct bs_backend be = {};
		char want_ep[64], have_ep[64];

		if (!e)
			continue;
		if (!snap_backend(dp, v, m->backend_id, &be) || !be.family || memcmp(be.addr, e->be.addr, sizeof(be.addr)) ||
		    be.port != e->be.port || be.family != e->be.family) {
			bs_endpoint_format(e->be.addr, e->be.port, e->be.family, want_ep, sizeof(want_ep));
			if (be.family)
				bs_endpoint_format(be.addr, be.port, be.family, have_ep, sizeof(have_ep));
			else
				snprintf(have_ep, sizeof(have_ep), "nothing");
			add(fd, fe, "backend", "backend id %u: bs_backends holds %s, the writer wrote %s", m->backend_id,
			    have_ep, want_ep);
		}
		got = v->n_members ? bsearch(&want_m, v->members, v->n_members, sizeof(*v->members), ro_member_cmp) : NULL;
		if (!got || got->v.state != m->state)
			add(fd, fe, "members", "group %u: backend id %u missing from bs_members or in another state",
			    m->group, m->backend_id);
	}
	for (__u32 g = 0; g < fe->n_groups; g++) {
		struct grp_rec want_g = { { fe->fe.id, g }, { 0 } };
		const struct grp_rec *gi =
			v->n_groups ? bsearch(&want_g, v->groups, v->n_groups, sizeof(*v->groups), grp_cmp) : NULL;

		if (!gi || gi->v.weight != fe->groups[g].weight || strncmp(gi->v.name, fe->groups[g].name, BS_GROUP_NAME_LEN))
			add(fd, fe, "groups", "group %u (%s, weight %u): bs_groups differs", g, fe->groups[g].name,
			    fe->groups[g].weight);
	}
}

int bs_dp_verify(struct bs_dp *dp, bool repair, bs_verify_fn fn, void *ctx)
{
	__u32 *want = malloc(sizeof(struct bs_maglev_table_large)), *have = malloc(sizeof(struct bs_maglev_table_large));
	struct vsnap snap;
	int extra = 0;
	struct fe_diffs *fd = calloc(1, sizeof(*fd));
	struct bs_fe_entry *fe, *tmp;
	int err, total = 0;

	if (dp->ro) {
		err = -EROFS; /* beliefs live in a writer's registry */
		goto out_free;
	}
	if (!want || !have || !fd) {
		err = -ENOMEM;
		goto out_free;
	}
	err = bs_write_lock(dp, repair);
	if (err)
		goto out_free;
	/* Tables no split names (a writer killed after writing them): freed in time. */
	if (repair)
		bs_retire_orphan_tables(dp);
	err = vsnap_read(dp, &snap, fn, ctx, &extra);
	if (err) {
		bs_write_unlock(dp);
		goto out_free;
	}
	HASH_ITER(hh, dp->fe_by_key, fe, tmp) {
		fd->n = 0;
		check_frontend(dp, &snap, fe, want, have, fd);
		if (!fd->n)
			continue;
		if (repair) {
			char errbuf[256] = "";
			int rc = bs_repair_locked(dp, &fe->key, errbuf, sizeof(errbuf));

			for (unsigned int i = 0; i < fd->n; i++)
				fd->d[i].repaired = !rc;
			if (rc)
				bs_err("msg=\"cannot repair a frontend\" frontend_id=%u err=\"%s\"", fd->d[0].frontend_id,
				       errbuf[0] ? errbuf : strerror(-rc));
		}
		total += fd->n;
		for (unsigned int i = 0; fn && i < fd->n; i++)
			fn(&fd->d[i], ctx);
	}
	total += extra;
	vsnap_free(&snap);
	bs_write_unlock(dp);
	err = total;
out_free:
	free(want);
	free(have);
	free(fd);
	return err;
}
