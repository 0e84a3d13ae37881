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

/* ---- status-only changes ---- */

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t hash_json(uint64_t h, const cJSON *j, int depth, bool top, bool meta)
{
	const cJSON *c;

	h = fnv(h, &j->type, sizeof(j->type));
	if (cJSON_IsString(j) && j->valuestring)
		return fnv(h, j->valuestring, strlen(j->valuestring) + 1);
	if (cJSON_IsNumber(j))
		return fnv(h, &j->valuedouble, sizeof(j->valuedouble));
	cJSON_ArrayForEach(c, j) {
		if (c->string) {
			/* Our own status writes come back as events that change only these. */
			if ((top && !strcmp(c->string, "status")) ||
			    (meta && (!strcmp(c->string, "resourceVersion") || !strcmp(c->string, "managedFields"))))
				continue;
			h = fnv(h, c->string, strlen(c->string) + 1);
		}
		h = hash_json(h, c, depth + 1, false, top && c->string && !strcmp(c->string, "metadata"));
	}
	return fnv(h, "}", 1);
}

/* A hash of an object but its status and resourceVersion; never 0. */
static uint64_t content_hash(const cJSON *obj)
{
	return hash_json(0xcbf29ce484222325ull, obj, 0, true, false) | 1;
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
	case KUBE_EV_UPSERT: {
		const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
		const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
		const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
		const struct cache_entry *old = name ? cache_get(a->cache, k, ns ? ns : "", name) : NULL;
		uint64_t h = k == CACHE_HTTPROUTE && name ? content_hash(obj) : 0;

		a->events[k][EV_UPSERT]++;
		/* An HTTPRoute whose status alone changed (our own status writes coming back):
		 * the desired state does not depend on it; only its status is checked again,
		 * without a pass on the loop that writes the maps. */
		if (a->synced && h && old && old->has_good && !old->error && old->content_hash == h) {
			rc = cache_upsert(a->cache, k, obj, now, err, sizeof(err));
			old = cache_get(a->cache, k, ns ? ns : "", name);
			if (rc >= 0 && old && old->has_good && !old->error && !err[0]) {
				if (rc > 0)
					status_check_route(a, k, old->key);
				break;
			}
			/* Not as expected (e.g. a malformed status rejected): the pass recomputes
			 * the route and reports it. */
			if (err[0])
				a->rejected[k]++;
			a->desired_full = true;
			agent_mark_dirty(a, now, true);
			break;
		}
		if (a->synced)
			note_affected(a, k, obj); /* what the old version touched */
		rc = cache_upsert(a->cache, k, obj, now, err, sizeof(err));
		if (h)
			cache_set_content_hash(a->cache, k, ns ? ns : "", name, h);
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
	}
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

