// SPDX-License-Identifier: BSD-2-Clause
/* Watch events: into the cache, and the routes they touch noted for the next pass. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "log.h"

void agent_mark_dirty(struct agent *a, uint64_t now, bool from_event)
{
	if (from_event && !a->batch_start_ns)
		a->batch_start_ns = now; /* the first event of the batch */
	a->dirty = true;
}

/* ---- affected routes: what a pass after watch events recomputes ---- */

static void affect_route(void *ctx, enum cache_kind route_kind, const char *key)
{
	struct agent *a = ctx;

	/* Passes recompute HTTPRoutes incrementally; the other route kinds, fewer, whole. */
	if (route_kind != CACHE_HTTPROUTE) {
		a->desired_full = true;
		return;
	}
	if (str_get(a->affected, key))
		return;
	str_set(&a->affected, key, NULL);
	a->n_affected++;
}

static void affect_all(void *ctx)
{
	struct agent *a = ctx;

	a->desired_full = true;
}

/* What an object change touches, noted before (old version) and after it (new one). */
static void note_affected(struct agent *a, enum cache_kind k, const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const struct kind_affect ax = {
		.cache = a->cache,
		.rollout_mode = a->f.weights_from != WEIGHTS_FROM_HTTPROUTE,
		.route = affect_route,
		.all = affect_all,
		.ctx = a,
	};

	if (!name)
		return;
	if (!ns)
		ns = "";
	if (kind_desc(k)->affects)
		kind_desc(k)->affects(&ax, k, cache_get(a->cache, k, ns, name), ns, name);
	else
		a->desired_full = true;
}

void agent_on_event(void *ctx, int idx, enum kube_event_kind kind, const cJSON *obj)
{
	struct agent *a = ctx;
	enum cache_kind k = a->kind_of[idx];
	uint64_t now = mono_ns();
	char err[768], q[768];
	int rc;

	switch (kind) {
	case KUBE_EV_RESYNC_BEGIN:
		cache_resync_begin(a->cache, k);
		a->unavailable[k] = false;
		break;
	case KUBE_EV_UPSERT:
		a->events[k][EV_UPSERT]++;
		if (a->synced)
			note_affected(a, k, obj); /* what the old version touched */
		rc = cache_upsert(a->cache, k, obj, now, err, sizeof(err));
		if (err[0]) {
			a->rejected[k]++;
			/* Routes and Rollouts: the pass reports it (once, with its effect) if ours. */
			bs_log(kind_desc(k)->is_route || k == CACHE_ROLLOUT ? BS_LOG_DEBUG : BS_LOG_WARN,
			       "msg=\"object rejected; its last good version stays in force\" kind=%s err=\"%s\"",
			       cache_kind_name(k), qv(q, sizeof(q), err));
		}
		if (rc == -ENOMEM) {
			bs_err("msg=\"out of memory caching an object\" kind=%s", cache_kind_name(k));
			a->desired_full = true;
		}
		if (rc > 0) {
			if (a->synced)
				note_affected(a, k, obj); /* and what the new one touches */
			agent_mark_dirty(a, now, true);
		}
		break;
	case KUBE_EV_DELETE:
		a->events[k][EV_DELETE]++;
		if (a->synced)
			note_affected(a, k, obj);
		if (cache_delete(a->cache, k, obj, now) > 0)
			agent_mark_dirty(a, now, true);
		break;
	case KUBE_EV_RESYNC_END:
		if (cache_resync_end(a->cache, k, now) > 0) {
			a->desired_full = true; /* objects gone while the watch was down */
			agent_mark_dirty(a, now, true);
		}
		break;
	case KUBE_EV_UNAVAILABLE:
		a->unavailable[k] = true;
		a->cache->unavailable[k] = true;
		break;
	}
}

