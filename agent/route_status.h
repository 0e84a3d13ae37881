/* SPDX-License-Identifier: BSD-2-Clause */
/* The route status bpfsplit writes (HTTPRoute, GRPCRoute, TCPRoute, TLSRoute): one
 * status.parents entry per parentRef it serves, owned by controllerName
 * "bpfsplit.io/agent", with the conditions
 *   Accepted          True/Accepted, naming only the frontends the maps serve; or False
 *                     with UnsupportedValue (the route as written was rejected, no rule
 *                     matches all traffic, the only listener terminates TLS),
 *                     NoMatchingParent (this parent gives no frontend),
 *                     NotAllowedByListeners (allowedRoutes kinds or namespaces),
 *                     NoMatchingListenerHostname or FrontendConflict (an older route
 *                     programs its frontends);
 *   ResolvedRefs      True/ResolvedRefs, or False with InvalidKind, BackendNotFound,
 *                     NoEndpoints, RefNotPermitted, UnsupportedValue;
 *   PartiallyInvalid  True/UnsupportedValue, "Dropped Rule(s): ...", when rules were
 *                     skipped (L7 matches, a second all-traffic rule); absent otherwise;
 *   bpfsplit.io/L7NotEnforced  True/UnsupportedValue when the programmed rule carries
 *                     timeouts, retries or filters L4 does not enforce (its weights are).
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
#define ROUTE_STATUS_MAX_CONDS 4
/* Timeouts, filters... on the programmed rule that L4 does not enforce. */
#define ROUTE_STATUS_L7_CONDITION "bpfsplit.io/L7NotEnforced"

struct route_condition {
	char type[32];
	char status[8];          /* "True" / "False" */
	char reason[40];
	char message[ROUTE_STATUS_MSG_MAX];
};

/* The conditions of our entry for parentRefs[parent] of route dr. Returns how many. */
size_t route_status_conditions(const struct desired *d, const struct desired_route *dr, int parent,
			       struct route_condition out[ROUTE_STATUS_MAX_CONDS]);

/* The merge patch (JSON text, free()) that makes route's status say what d says about
 * it; dr NULL: the route is not ours (any entry of ours is dropped). *patch is NULL when
 * the status already says exactly that. now: RFC 3339 time for new transitions.
 * 0 or -ENOMEM. */
int route_status_patch(const struct cache_entry *route, const struct desired *d, const struct desired_route *dr,
		       const char *controller, const char *now, char **patch);

/* True when the route's status carries an entry of controller. */
bool route_status_has_entry(const struct cache_entry *route, const char *controller);

#endif
