// SPDX-License-Identifier: BSD-2-Clause
/* Route status writes (every route kind): a queue of routes to check, at most
 * STATUS_MAX_IN_FLIGHT writes at once; each patch is computed when its turn comes, from
 * the state then. Queue keys are "kind:namespace/name". */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kinds.h"
#include "log.h"
#include "route_status.h"

struct status_req {
	struct agent *a;
	enum cache_kind kind;
	char key[CACHE_KEY_MAX];     /* "namespace/name" */
	char qkey[CACHE_KEY_MAX + 24]; /* "kind:namespace/name" */
};

static void qkey_of(char *out, size_t len, enum cache_kind kind, const char *key)
{
	snprintf(out, len, "%s:%s", cache_kind_name(kind), key);
}

static void status_done(void *ctx, int http_status, const char *err)
{
	struct status_req *r = ctx;
	struct agent *a = r->a;
	char q[512];

	if (a->status_in_flight)
		a->status_in_flight--;
	if (http_status >= 200 && http_status < 300 && !err) {
		a->status_ok++;
		bs_debug("msg=\"route status written\" %s=%s", cache_kind_name(r->kind), r->key);
	} else {
		a->status_err++;
		/* Forget what was sent: the next pass may try again (409: the route changed
		 * meanwhile and its event brings the next pass). */
		str_del(&a->status_sent, r->qkey);
		if (http_status == 409)
			bs_debug("msg=\"route status write conflicted; retried with the newer version\" %s=%s",
				 cache_kind_name(r->kind), r->key);
		else
			bs_warn("msg=\"cannot write route status\" %s=%s http_status=%d err=\"%s\"%s",
				cache_kind_name(r->kind), r->key, http_status, qv(q, sizeof(q), err ? err : ""),
				http_status == 403 ? " hint=\"grant update on the route kind's /status\"" : "");
	}
	free(r);
	if (!a->stopping)
		status_pump(a, STATUS_CHECKS_PER_TURN); /* the slot is free: next one */
}

static bool status_wanted(const struct agent *a)
{
	return a->f.write_status && a->f.weights_from == WEIGHTS_FROM_HTTPROUTE && a->idx_of[CACHE_HTTPROUTE] >= 0;
}

/* Queue the status check of a route (once: the patch is computed when its turn comes). */
static void queue_status(struct agent *a, enum cache_kind kind, const char *key)
{
	char qk[CACHE_KEY_MAX + 24];

	qkey_of(qk, sizeof(qk), kind, key);
	if (!str_get(a->status_queue, qk))
		str_set(&a->status_queue, qk, NULL);
}

/* "kind:ns/name" -> the cached route, NULL when gone. */
static const struct cache_entry *queued_route(const struct agent *a, const char *qk)
{
	const char *colon = strchr(qk, ':'), *slash;
	char ns[K8S_NS_MAX];
	enum cache_kind k;

	if (!colon)
		return NULL;
	slash = strchr(colon + 1, '/');
	if (!slash || (size_t)(slash - colon - 1) >= sizeof(ns))
		return NULL;
	memcpy(ns, colon + 1, (size_t)(slash - colon - 1));
	ns[slash - colon - 1] = '\0';
	for_each_route_kind(k)
		if (!strncmp(qk, cache_kind_name(k), (size_t)(colon - qk)) && !cache_kind_name(k)[colon - qk])
			return cache_get(a->cache, k, ns, slash + 1);
	return NULL;
}

/* Start the status writes that are due, at most STATUS_MAX_IN_FLIGHT at once, looking at
 * no more than max_checks queued routes (most need no write). */
void status_pump(struct agent *a, size_t max_checks)
{
	struct str_entry *q, *qtmp;
	const struct desired *d = &a->cur;
	char now[32] = "";

	if (!a->have_cur)
		return;
	HASH_ITER(hh, a->status_queue, q, qtmp) {
		const struct cache_entry *e;
		const struct desired_route *dr;
		const struct str_entry *sent;
		struct status_req *req;
		char qk[CACHE_KEY_MAX + 24], *patch = NULL;

		if (a->status_in_flight >= STATUS_MAX_IN_FLIGHT || !max_checks)
			break;
		max_checks--;
		e = queued_route(a, q->key);
		snprintf(qk, sizeof(qk), "%s", q->key);
		str_del(&a->status_queue, q->key);
		if (!e)
			continue;
		if (!now[0])
			rfc3339_now(now, sizeof(now));
		dr = desired_find_route(d, e->kind, e->key);
		if (!dr && !route_status_has_entry(e, ROUTE_STATUS_CONTROLLER))
			continue;
		if (route_status_patch(e, d, dr, ROUTE_STATUS_CONTROLLER, now, &patch) || !patch)
			continue;
		sent = str_get(a->status_sent, qk);
		/* The same patch (same resourceVersion, same content) is already on its way. */
		if (sent && sent->val && !strcmp(sent->val, patch)) {
			free(patch);
			continue;
		}
		req = calloc(1, sizeof(*req));
		if (!req) {
			free(patch);
			continue;
		}
		req->a = a;
		req->kind = e->kind;
		snprintf(req->key, sizeof(req->key), "%s", e->key);
		snprintf(req->qkey, sizeof(req->qkey), "%s", qk);
		if (kube_client_update_status(a->kc, &kind_desc(e->kind)->res, e->ns, e->name, patch, status_done, req)) {
			bs_warn("msg=\"cannot start route status write\" %s=%s", cache_kind_name(e->kind), e->key);
			free(req);
		} else {
			a->status_in_flight++;
			str_set(&a->status_sent, qk, patch);
			bs_debug("msg=\"writing route status\" %s=%s", cache_kind_name(e->kind), e->key);
		}
		free(patch);
	}
}

void status_write_after_pass(struct agent *a, bool all)
{
	const struct cache_entry *e;
	struct str_entry *r, *tmp;
	enum cache_kind k;

	if (!status_wanted(a))
		return;
	if (all) {
		for_each_route_kind(k)
			cache_for_each(a->cache, k, e)
				queue_status(a, k, e->key);
	} else {
		/* A partial pass recomputes HTTPRoutes only (other kinds make it whole). */
		HASH_ITER(hh, a->affected, r, tmp)
			queue_status(a, CACHE_HTTPROUTE, r->key);
	}
	status_pump(a, STATUS_CHECKS_PER_TURN);
}

void status_check_route(struct agent *a, enum cache_kind kind, const char *key)
{
	if (!status_wanted(a))
		return;
	queue_status(a, kind, key);
	status_pump(a, STATUS_CHECKS_PER_TURN);
}
