// SPDX-License-Identifier: BSD-2-Clause
/* Building the CLI's view of frontends, through the library only: bs_dp_read on a
 * read-only handle reads the maps (ids included), the counters come beside them. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include "view.h"

/* Backends in address order, so that every listing is stable. */
static int backend_cmp(const void *pa, const void *pb)
{
	const struct view_backend *a = pa, *b = pb;
	int c;

	if (a->spec.family != b->spec.family)
		return a->spec.family < b->spec.family ? -1 : 1;
	c = memcmp(a->spec.addr, b->spec.addr, sizeof(a->spec.addr));
	if (c)
		return c;
	return ntohs(a->spec.port) < ntohs(b->spec.port) ? -1 : ntohs(a->spec.port) > ntohs(b->spec.port);
}

static int build(struct bs_dp *dp, const struct bs_frontend_key *key, struct view_frontend *v)
{
	struct bs_frontend_spec spec;
	int err;

	memset(v, 0, sizeof(*v));
	err = bs_dp_read(dp, key, &spec);
	if (err)
		return err;
	v->key = *key;
	bs_frontend_key_format(key, v->name, sizeof(v->name));
	v->fe.id = spec.id;
	v->split_id = spec.split_id;
	v->affinity = spec.affinity;
	bs_dp_frontend_counters(dp, v->fe.id, &v->counters);
	v->has_info = !bs_dp_get_info(dp, v->fe.id, &v->info);
	if (v->has_info) { /* NUL-terminate whatever a writer left */
		v->info.route[sizeof(v->info.route) - 1] = '\0';
		v->info.rollout[sizeof(v->info.rollout) - 1] = '\0';
		v->info.phase[sizeof(v->info.phase) - 1] = '\0';
	}
	v->n_groups = spec.n_groups;
	for (__u32 g = 0; g < spec.n_groups; g++) {
		const struct bs_group_spec *gs = &spec.groups[g];
		struct view_group *vg = &v->groups[g];

		memcpy(vg->name, gs->name, sizeof(vg->name));
		vg->weight = gs->weight;
		vg->table_id = gs->table_id;
		v->weight_sum += gs->weight;
		view_health_read(dp, v->fe.id, g, BS_ID_NONE, &vg->health);
		vg->backends = calloc(gs->n_backends ? gs->n_backends : 1, sizeof(*vg->backends));
		if (!vg->backends) {
			err = -ENOMEM;
			goto out;
		}
		vg->n_backends = gs->n_backends;
		for (__u32 i = 0; i < gs->n_backends; i++) {
			struct view_backend *vb = &vg->backends[i];

			vb->spec = gs->backends[i];
			vb->id = gs->backends[i].id;
			if (vb->id) {
				bs_dp_backend_counters(dp, vb->id, &vb->counters);
				view_health_read(dp, v->fe.id, g, vb->id, &vb->health);
			}
			vg->n_ready += vb->spec.state == BS_BACKEND_READY;
		}
		qsort(vg->backends, vg->n_backends, sizeof(*vg->backends), backend_cmp);
	}
out:
	bs_frontend_spec_free(&spec);
	if (err)
		view_frontend_free(v);
	return err;
}

int view_frontend_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct view_frontend *v)
{
	return build(dp, key, v);
}

void view_frontend_free(struct view_frontend *v)
{
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++) {
		free(v->groups[g].backends);
		v->groups[g].backends = NULL;
	}
}

struct keys {
	struct bs_frontend_key *k;
	size_t n, cap;
};

static int collect_key(const struct bs_frontend_key *key, const struct bs_frontend *fe, void *ctx)
{
	struct keys *ks = ctx;

	if (ks->n == ks->cap) {
		size_t ncap = ks->cap ? 2 * ks->cap : 16;
		void *grown = realloc(ks->k, ncap * sizeof(*ks->k));

		if (!grown)
			return -ENOMEM;
		ks->k = grown;
		ks->cap = ncap;
	}
	ks->k[ks->n++] = *key;
	return 0;
}

int view_key_cmp(const struct bs_frontend_key *a, const struct bs_frontend_key *b)
{
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	return (int)a->proto - (int)b->proto;
}

static int key_qsort_cmp(const void *a, const void *b)
{
	return view_key_cmp(a, b);
}

int view_frontend_keys(struct bs_dp *dp, struct bs_frontend_key **keys, size_t *n)
{
	struct keys ks = {};
	int err = bs_dp_for_each_frontend(dp, collect_key, &ks);

	if (err) {
		free(ks.k);
		return err;
	}
	qsort(ks.k, ks.n, sizeof(*ks.k), key_qsort_cmp);
	*keys = ks.k;
	*n = ks.n;
	return 0;
}

int view_frontends_all(struct bs_dp *dp, struct view_frontend **out, size_t *n)
{
	struct keys ks = {};
	struct view_frontend *v = NULL;
	size_t got = 0;
	int err;

	*out = NULL;
	*n = 0;
	err = view_frontend_keys(dp, &ks.k, &ks.n);
	if (err)
		goto out;
	v = calloc(ks.n ? ks.n : 1, sizeof(*v));
	if (!v) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < ks.n; i++) {
		err = build(dp, &ks.k[i], &v[got]);
		if (err == -ENOENT) { /* removed since the listing */
			err = 0;
			continue;
		}
		if (err)
			goto out;
		got++;
	}
	*out = v;
	*n = got;
	v = NULL;
out:
	view_frontends_free(v, got);
	free(ks.k);
	return err;
}

void view_frontends_free(struct view_frontend *v, size_t n)
{
	if (!v)
		return;
	for (size_t i = 0; i < n; i++)
		view_frontend_free(&v[i]);
	free(v);
}

double view_share_pct(const struct view_frontend *v, __u32 group)
{
	return v->weight_sum ? 100.0 * v->groups[group].weight / v->weight_sum : 0.0;
}

/* ---- open connections ---- */

struct conn_slot_key {
	__u32 frontend_id;
	__u32 backend_id;
};

struct conn_slot {
	UT_hash_handle hh;
	struct conn_slot_key key;        /* backend_id 0: the frontend itself */
	struct view_frontend *fe;
	struct view_backend *be[BS_MAX_GROUPS]; /* the same backend may sit in several groups */
	unsigned int n_be;
};

struct conn_ctx {
	struct conn_slot *slots;
	__u64 now_ns, udp_idle_ns;
};

static int count_conn(const struct bs_flow_key *k, const struct bs_conn *c, void *arg)
{
	struct conn_ctx *cx = arg;
	struct conn_slot_key key = { c->frontend_id, 0 };
	struct conn_slot *s;

	if (c->flags & BS_CONN_F_CLOSING)
		return 0;
	if (k->proto == IPPROTO_UDP && cx->now_ns > c->last_ns && cx->now_ns - c->last_ns > cx->udp_idle_ns)
		return 0;
	HASH_FIND(hh, cx->slots, &key, sizeof(key), s);
	if (!s)
		return 0; /* a frontend removed since */
	s->fe->active_conns++;
	key.backend_id = c->backend_id;
	HASH_FIND(hh, cx->slots, &key, sizeof(key), s);
	/* The id names a backend of this frontend; the address guards against a slot reused
	 * since the record was made. */
	for (unsigned int i = 0; s && i < s->n_be; i++) {
		const struct bs_backend_spec *b = &s->be[i]->spec;

		if (b->family == c->family && b->port == c->backend_port && !memcmp(b->addr, c->backend_addr, 16)) {
			s->be[i]->active_conns++;
			break; /* counted once, in the first group listing it */
		}
	}
	return 0;
}

static struct conn_slot *slot_get(struct conn_ctx *cx, __u32 fe_id, __u32 be_id)
{
	struct conn_slot_key key = { fe_id, be_id };
	struct conn_slot *s;

	HASH_FIND(hh, cx->slots, &key, sizeof(key), s);
	if (s)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->key = key;
	HASH_ADD(hh, cx->slots, key, sizeof(s->key), s);
	return s;
}

int view_count_conns(struct bs_dp *dp, struct view_frontend *v, size_t n)
{
	struct conn_ctx cx = { 0 };
	struct conn_slot *s, *tmp;
	struct bs_settings set;
	struct timespec ts;
	int err = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of bpf_ktime_get_ns */
	cx.now_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	cx.udp_idle_ns = bs_dp_get_settings(dp, &set) ? BS_DEFAULT_UDP_IDLE_NS : set.udp_idle_ns;
	for (size_t f = 0; f < n && !err; f++) {
		v[f].active_conns = 0;
		s = slot_get(&cx, v[f].fe.id, 0);
		if (!s) {
			err = -ENOMEM;
			break;
		}
		s->fe = &v[f];
		for (__u32 g = 0; g < v[f].n_groups && !err; g++) {
			for (__u32 i = 0; i < v[f].groups[g].n_backends; i++) {
				struct view_backend *vb = &v[f].groups[g].backends[i];

				vb->active_conns = 0;
				if (vb->id == BS_ID_NONE)
					continue;
				s = slot_get(&cx, v[f].fe.id, vb->id);
				if (!s) {
					err = -ENOMEM;
					break;
				}
				if (s->n_be < BS_MAX_GROUPS)
					s->be[s->n_be++] = vb;
			}
		}
	}
	if (!err)
		err = bs_dp_for_each_conn(dp, count_conn, &cx);
	HASH_ITER(hh, cx.slots, s, tmp) {
		HASH_DEL(cx.slots, s);
		free(s);
	}
	return err;
}
