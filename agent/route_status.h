/* SPDX-License-Identifier: BSD-2-Clause */
/* The HTTPRoute status bpfsplit writes: one status.parents entry per parentRef it
 * serves, owned by controllerName "bpfsplit.io/agent", with the conditions
 *   Accepted          True/Accepted, or False with UnsupportedValue (the route as
 *                     written was rejected, or no rule matches all traffic),
 *                     NoMatchingParent (this parent gives no frontend) or
 *                     FrontendConflict (another route programs its frontends);
 *   ResolvedRefs      True/ResolvedRefs, or False with InvalidKind, BackendNotFound,
 *                     NoEndpoints, UnsupportedValue (the last good split stays in force);
 *   PartiallyInvalid  True/UnsupportedValue when rules were skipped (L7 matches,
 *                     filters, a second all-traffic rule); absent otherwise.
 * A merge patch of status.parents replaces the whole list, so the patch is rebuilt from
 * the route's current status: other controllers' entries are copied verbatim, ours
 * replaced. The patch carries metadata.resourceVersion, so a concurrent status write
 * makes it fail with 409 instead of being overwritten; the next event retries.
 * Pure: no I/O, the time is passed in. */
#ifndef BS_AGENT_ROUTE_STATUS_H
#define BS_AGENT_ROUTE_STATUS_H

#include <stddef.h>
#include "cache.h"
#include "desired.h"

#define ROUTE_STATUS_CONTROLLER "bpfsplit.io/agent"
#define ROUTE_STATUS_MSG_MAX 2048

struct route_condition {
	char type[32];
	char status[8];          /* "True" / "False" */
	char reason[40];
	char message[ROUTE_STATUS_MSG_MAX];
};

/* The conditions of our entry for parentRefs[parent] of route dr. Returns how many (<= 3). */
size_t route_status_conditions(const struct desired *d, const struct desired_route *dr, int parent,
			       struct route_condition out[3]);

/* The merge patch (JSON text, free()) that makes route's status say what d says about
 * it; dr NULL: the route is not ours (any entry of ours is dropped). *patch is NULL when
 * the status already says exactly that. now: RFC 3339 time for new transitions.
 * 0 or -ENOMEM. */
int route_status_patch(const struct cache_entry *route, const struct desired *d, const struct desired_route *dr,
		       const char *controller, const char *now, char **patch);

/* True when the route's status carries an entry of controller. */
bool route_status_has_entry(const struct cache_entry *route, const char *controller);

#endif
