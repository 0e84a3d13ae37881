// SPDX-License-Identifier: BSD-2-Clause
/* HTTPRoute status writes: a queue of routes to check, at most STATUS_MAX_IN_FLIGHT
 * writes at once; each patch is computed when its turn comes, from the state then. */
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
	char key[CACHE_KEY_MAX];
};

static void status_done(void *ctx, int http_status, const char *err)
{
	struct status_req *r = ctx;
	struct agent *a = r->a;
	char q[512];

	if (a->status_in_flight)
		a->status_in_flight--;
	if (http_status >= 200 && http_status < 300 && !err) {
		a->status_ok++;
		bs_debug("msg=\"route status written\" httproute=%s", r->key);
	} else {
		a->status_err++;
		/* Forget what was sent: the next pass may try again (409: the route changed
		 * meanwhile and its event brings the next pass). */
		str_del(&a->status_sent, r->key);
		if (http_status == 409)
			bs_debug("msg=\"route status write conflicted; retried with the newer version\" httproute=%s",
				 r->key);
		else
			bs_warn("msg=\"cannot write route status\" httproute=%s http_status=%d err=\"%s\"%s", r->key,
				http_status, qv(q, sizeof(q), err ? err : ""),
				http_status == 403 ? " hint=\"grant update on httproutes/status\"" : "");
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
static void queue_status(struct agent *a, const char *key)
{
	if (!str_get(a->status_queue, key))
		str_set(&a->status_queue, key, NULL);
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
		const char *slash = strchr(q->key, '/');
		char ns[K8S_NS_MAX], *patch = NULL;

		if (a->status_in_flight >= STATUS_MAX_IN_FLIGHT || !max_checks)
			break;
		max_checks--;
		e = NULL;
		if (slash && (size_t)(slash - q->key) < sizeof(ns)) {
			memcpy(ns, q->key, (size_t)(slash - q->key));
			ns[slash - q->key] = '\0';
			e = cache_get(a->cache, CACHE_HTTPROUTE, ns, slash + 1);
		}
		str_del(&a->status_queue, q->key);
		if (!e)
			continue;
		if (!now[0])
			rfc3339_now(now, sizeof(now));
		dr = desired_find_route(d, e->key);
		if (!dr && !route_status_has_entry(e, ROUTE_STATUS_CONTROLLER))
			continue;
		if (route_status_patch(e, d, dr, ROUTE_STATUS_CONTROLLER, now, &patch) || !patch)
			continue;
		sent = str_get(a->status_sent, e->key);
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
		snprintf(req->key, sizeof(req->key), "%s", e->key);
		if (kube_client_update_status(a->kc, &kind_desc(CACHE_HTTPROUTE)->res, e->ns, e->name, patch, status_done,
					     req)) {
			bs_warn("msg=\"cannot start route status write\" httproute=%s", e->key);
			free(req);
		} else {
			a->status_in_flight++;
			str_set(&a->status_sent, e->key, patch);
			bs_debug("msg=\"writing route status\" httproute=%s", e->key);
		}
		free(patch);
	}
}

void status_write_after_pass(struct agent *a, bool all)
{
	const struct cache_entry *e;
	struct str_entry *r, *tmp;

	if (!status_wanted(a))
		return;
	if (all) {
		cache_for_each(a->cache, CACHE_HTTPROUTE, e)
			queue_status(a, e->key);
	} else {
		HASH_ITER(hh, a->affected, r, tmp)
			queue_status(a, r->key);
	}
	status_pump(a, STATUS_CHECKS_PER_TURN);
}
