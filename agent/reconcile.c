// SPDX-License-Identifier: BSD-2-Clause
/* Diff the desired state against the maps and write the difference: see reconcile.h. */
#include "reconcile.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include "log.h"

struct rec_fe {
	UT_hash_handle hh;
	struct bs_frontend_key key;
	/* Last good spec (backends owned), allocated for its n_groups groups only: read
	 * nothing beyond them. NULL when !has_good. */
	struct bs_frontend_spec *good;
	bool has_good;
	bool in_sync;                 /* the maps held good when last checked or written */
	bool owned;
	bool wanted;                  /* in this run's desired state */
	char owner[CACHE_KEY_MAX];
	enum cache_kind owner_kind;
	struct bs_frontend_info info; /* last info stored beside the maps */
	bool info_stored;             /* ... and the maps still hold it as far as we know */
	int info_err;                 /* last info write error, reported once */
};

struct reconciler {
	struct dp_writer *w;
	struct rec_fe *fes;
	bool listed;                  /* the first allow_remove run listed the maps */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int reconciler_new(struct dp_writer *w, struct reconciler **out)
{
	struct reconciler *r = calloc(1, sizeof(*r));

	if (!r)
		return -ENOMEM;
	r->w = w;
	*out = r;
	return 0;
}

static size_t spec_size(__u32 n_groups)
{
	return offsetof(struct bs_frontend_spec, groups) + (size_t)n_groups * sizeof(struct bs_group_spec);
}

static void good_free(struct rec_fe *f)
{
	if (f->good) {
		for (__u32 g = 0; g < f->good->n_groups; g++)
			free(f->good->groups[g].backends);
		free(f->good);
	}
	f->good = NULL;
	f->has_good = false;
}

static void rec_free(struct rec_fe *f)
{
	good_free(f);
	free(f);
}

void reconciler_free(struct reconciler *r)
{
	struct rec_fe *f, *tmp;

	if (!r)
		return;
	HASH_ITER(hh, r->fes, f, tmp) {
		HASH_DEL(r->fes, f);
		rec_free(f);
	}
	free(r);
}

static struct rec_fe *rec_find(const struct reconciler *r, const struct bs_frontend_key *key)
{
	struct rec_fe *f;

	HASH_FIND(hh, r->fes, key, sizeof(*key), f);
	return f;
}

bool reconciler_owns(const struct reconciler *r, const struct bs_frontend_key *key)
{
	const struct rec_fe *f = rec_find(r, key);

	return f && f->owned;
}

const struct bs_frontend_spec *reconciler_last_good(const struct reconciler *r, const struct bs_frontend_key *key)
{
	const struct rec_fe *f = rec_find(r, key);

	return f && f->has_good ? f->good : NULL;
}

/* Make spec (backends owned) f's good spec, stored compactly. Takes spec's backends
 * either way; -ENOMEM leaves f as it was. */
static int set_good(struct rec_fe *f, struct bs_frontend_spec *spec)
{
	__u32 n = spec->n_groups < BS_MAX_GROUPS ? spec->n_groups : BS_MAX_GROUPS;
	struct bs_frontend_spec *g = malloc(spec_size(n));

	if (!g) {
		bs_frontend_spec_free(spec);
		return -ENOMEM;
	}
	memcpy(g, spec, spec_size(n));
	g->n_groups = n;
	for (__u32 i = n; i < BS_MAX_GROUPS; i++)
		free(spec->groups[i].backends);
	good_free(f);
	f->good = g;
	f->has_good = true;
	memset(spec, 0, sizeof(*spec));
	return 0;
}

/* Make the maps hold f->good. Returns 0 (in sync, written or not) or -errno. */
static int sync_one(struct reconciler *r, struct rec_fe *f, const struct reconcile_run_opts *o,
		    struct reconcile_stats *st)
{
	struct bs_frontend_spec actual, full;
	char fe[80], sum[512], err[512] = "";
	uint64_t done;
	int rc;

	dp_key_str(&f->key, fe, sizeof(fe));
	st->checked++;
	rc = r->w->read(r->w, &f->key, &actual);
	if (!rc) {
		bool same = dp_spec_equal(&actual, f->good);

		bs_frontend_spec_free(&actual);
		if (same) {
			f->in_sync = true;
			f->owned = true;
			st->unchanged++;
			return 0;
		}
	} else if (rc != -ENOENT) {
		bs_debug("msg=\"cannot read frontend back; writing it\" frontend=%s err=%s", fe, strerror(-rc));
	}
	/* The writer gets a whole spec (groups beyond n_groups zeroed); backends shared. */
	memset(&full, 0, sizeof(full));
	memcpy(&full, f->good, spec_size(f->good->n_groups));
	rc = r->w->apply(r->w, &full, err, sizeof(err));
	done = o->clock_ns ? o->clock_ns() : mono_ns();
	dp_spec_summary(f->good, sum, sizeof(sum));
	if (rc) {
		f->in_sync = false;
		st->failed++;
		bs_err("msg=\"frontend write failed\" frontend=%s owner=%s/%s groups=\"%s\" err=\"%s\"", fe,
		       cache_kind_name(f->owner_kind), f->owner, sum, err[0] ? err : strerror(-rc));
		if (o->on_write)
			o->on_write(o->ctx, &f->key, RA_FAILED, f->owner, done);
		return rc;
	}
	f->in_sync = true;
	f->owned = true;
	f->info_stored = false; /* a frontend created afresh has none: store it again (a no-op if kept) */
	st->applied++;
	if (o->batch_start_ns && done > o->batch_start_ns)
		bs_info("msg=\"frontend applied\" frontend=%s owner=%s/%s groups=\"%s\" event_to_map_us=%llu", fe,
			cache_kind_name(f->owner_kind), f->owner, sum,
			(unsigned long long)((done - o->batch_start_ns) / 1000));
	else
		bs_info("msg=\"frontend applied\" frontend=%s owner=%s/%s groups=\"%s\"", fe,
			cache_kind_name(f->owner_kind), f->owner, sum);
	if (o->on_write)
		o->on_write(o->ctx, &f->key, RA_APPLIED, f->owner, done);
	return 0;
}

/* Store want beside the frontend f when it changed since it was last stored (every time on
 * full runs: the writer skips identical content). Only for frontends the maps hold. A
 * failure is reported once per cause and retried on the next run; it fails nothing else. */
static void sync_info(struct reconciler *r, struct rec_fe *f, const struct bs_frontend_info *want, bool full,
		      struct reconcile_stats *st)
{
	char fe[80];
	int rc;

	if (!f->in_sync || !r->w->info)
		return;
	if (f->info_stored && !full && !memcmp(&f->info, want, sizeof(*want)))
		return;
	dp_key_str(&f->key, fe, sizeof(fe));
	rc = r->w->info(r->w, &f->key, want);
	st->info_writes++;
	if (rc) {
		f->info_stored = false;
		st->info_failed++;
		if (rc != f->info_err)
			bs_warn("msg=\"cannot store the frontend's route and rollout for bpfsplit status; retrying\" "
				"frontend=%s owner=%s/%s err=%s",
				fe, cache_kind_name(f->owner_kind), f->owner, strerror(-rc));
		f->info_err = rc;
		return;
	}
	if (!f->info_stored || memcmp(&f->info, want, sizeof(*want)))
		bs_debug("msg=\"frontend info stored\" frontend=%s route=%s rollout=%s step=%d/%d phase=%s paused=%d "
			 "aborted=%d", fe, want->route[0] ? want->route : "-", want->rollout[0] ? want->rollout : "-",
			 want->step, want->n_steps, want->phase[0] ? want->phase : "-", want->paused, want->aborted);
	f->info = *want;
	f->info_stored = true;
	f->info_err = 0;
}

/* On the first run allowed to remove, say once which frontends in the maps are not ours. */
static void report_unowned(struct reconciler *r, struct reconcile_stats *st)
{
	struct bs_frontend_key *keys = NULL;
	size_t n = 0;
	char fe[80];

	if (r->w->list(r->w, &keys, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct rec_fe *f = rec_find(r, &keys[i]);

		if (f && (f->wanted || f->owned))
			continue;
		st->not_owned++;
		dp_key_str(&keys[i], fe, sizeof(fe));
		bs_info("msg=\"frontend in the maps is not in the desired state and was not written by this agent; "
			"left as is\" frontend=%s hint=\"remove it with: bpfsplit frontend remove %s\"", fe, fe);
	}
	free(keys);
}

/* The owner set of a partial run: a hash when large, a plain list when small. */
struct owner_set {
	struct owner_ent {
		UT_hash_handle hh;
		const char *k;
	} *h;
	const char *const *v;
	size_t n;
	enum cache_kind kind;
};

#define OWNER_SET_LINEAR 8

static int owner_set_init(struct owner_set *s, const struct reconcile_run_opts *o)
{
	memset(s, 0, sizeof(*s));
	s->v = o->owners;
	s->n = o->n_owners;
	s->kind = o->owner_kind;
	if (s->n <= OWNER_SET_LINEAR)
		return 0;
	for (size_t i = 0; i < s->n; i++) {
		struct owner_ent *e;

		HASH_FIND_STR(s->h, s->v[i], e);
		if (e)
			continue;
		e = calloc(1, sizeof(*e));
		if (!e)
			return -ENOMEM;
		e->k = s->v[i];
		HASH_ADD_KEYPTR(hh, s->h, e->k, strlen(e->k), e);
	}
	return 0;
}

static bool owner_set_has(const struct owner_set *s, enum cache_kind kind, const char *owner)
{
	struct owner_ent *e;

	if (kind != s->kind)
		return false;
	if (s->n <= OWNER_SET_LINEAR) {
		for (size_t i = 0; i < s->n; i++)
			if (!strcmp(s->v[i], owner))
				return true;
		return false;
	}
	HASH_FIND_STR(s->h, owner, e);
	return e != NULL;
}

static void owner_set_free(struct owner_set *s)
{
	struct owner_ent *e, *tmp;

	HASH_ITER(hh, s->h, e, tmp) {
		HASH_DEL(s->h, e);
		free(e);
	}
}

int reconcile_run(struct reconciler *r, const struct desired *d, const struct reconcile_run_opts *o,
		  struct reconcile_stats *st)
{
	struct rec_fe *f, *tmp;
	struct owner_set os;
	bool partial = !o->full && o->n_owners;
	char fe[80];
	int failed_rc = 0;

	memset(st, 0, sizeof(*st));
	if (o->full && r->w->verify && r->w->verify(r->w, true, &st->drift_found, &st->drift_repaired))
		bs_warn("msg=\"cannot read the maps back to verify them\"");
	if (partial && owner_set_init(&os, o)) {
		owner_set_free(&os);
		return -ENOMEM;
	}
	if (partial) {
		/* Frontends of other owners keep their state: counted, not looked at. */
		st->desired = d->n_fe;
		for (size_t i = 0; i < d->n_fe; i++)
			st->blocked += d->fe[i].blocked;
	}
	HASH_ITER(hh, r->fes, f, tmp)
		if (!partial || owner_set_has(&os, f->owner_kind, f->owner))
			f->wanted = false;

	for (size_t i = 0; i < d->n_fe; i++) {
		const struct desired_frontend *df = &d->fe[i];

		if (partial && !owner_set_has(&os, df->owner_kind, df->owner))
			continue;
		f = rec_find(r, &df->spec.key);
		if (!f) {
			f = calloc(1, sizeof(*f));
			if (!f) {
				if (partial)
					owner_set_free(&os);
				return -ENOMEM;
			}
			f->key = df->spec.key;
			HASH_ADD(hh, r->fes, key, sizeof(f->key), f);
		}
		f->wanted = true;
		f->owner_kind = df->owner_kind;
		snprintf(f->owner, sizeof(f->owner), "%s", df->owner);
		if (!partial)
			st->desired++;
		if (df->blocked) {
			if (!partial)
				st->blocked++;
			if (!f->has_good) {
				/* After a restart: what the maps hold is the last good spec. */
				struct bs_frontend_spec actual;

				if (r->w->read(r->w, &f->key, &actual) || set_good(f, &actual))
					continue; /* nothing to keep */
				f->in_sync = true;
				f->owned = true;
				dp_key_str(&f->key, fe, sizeof(fe));
				bs_info("msg=\"frontend kept as found in the maps until its problem is fixed\" frontend=%s "
					"owner=%s/%s", fe, cache_kind_name(f->owner_kind), f->owner);
				sync_info(r, f, &df->info, o->full, st);
				continue;
			}
		} else if (!f->has_good || !dp_spec_equal(f->good, &df->spec)) {
			struct bs_frontend_spec copy;

			if (dp_spec_copy(&copy, &df->spec) || set_good(f, &copy)) {
				if (partial)
					owner_set_free(&os);
				return -ENOMEM;
			}
			f->in_sync = false;
		}
		if ((!f->in_sync || o->full) && sync_one(r, f, o, st))
			failed_rc = -EAGAIN;
		sync_info(r, f, &df->info, o->full, st);
	}

	if (o->allow_remove && !r->listed && !partial) {
		report_unowned(r, st);
		r->listed = true;
	}
	HASH_ITER(hh, r->fes, f, tmp) {
		int rc;

		if (f->wanted || (partial && !owner_set_has(&os, f->owner_kind, f->owner))) {
			st->owned += f->owned;
			continue;
		}
		if (!f->owned) {
			HASH_DEL(r->fes, f);
			rec_free(f);
			continue;
		}
		if (!o->allow_remove) {
			st->owned++;
			continue;
		}
		dp_key_str(&f->key, fe, sizeof(fe));
		rc = r->w->remove(r->w, &f->key);
		if (rc && rc != -ENOENT) {
			st->failed++;
			st->owned++;
			failed_rc = -EAGAIN;
			bs_err("msg=\"frontend removal failed\" frontend=%s owner=%s/%s err=%s", fe,
			       cache_kind_name(f->owner_kind), f->owner, strerror(-rc));
			if (o->on_write)
				o->on_write(o->ctx, &f->key, RA_FAILED, f->owner, o->clock_ns ? o->clock_ns() : mono_ns());
			continue;
		}
		st->removed++;
		bs_info("msg=\"frontend removed\" frontend=%s owner=%s/%s reason=\"no longer desired\"", fe,
			cache_kind_name(f->owner_kind), f->owner);
		if (o->on_write)
			o->on_write(o->ctx, &f->key, RA_REMOVED, f->owner, o->clock_ns ? o->clock_ns() : mono_ns());
		HASH_DEL(r->fes, f);
		rec_free(f);
	}
	if (partial)
		owner_set_free(&os);
	return failed_rc;
}
