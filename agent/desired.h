/* SPDX-License-Identifier: BSD-2-Clause */
/* The desired data path, computed from the cache and nothing else: which frontends the
 * cluster asks for, each with its weighted groups and their backends, plus the problems
 * found on the way (for logs, metrics and the HTTPRoute status). Pure: same cache, same
 * options, same answer; no I/O, no clock (now is an option).
 *
 * Where frontends come from (--weights-from=httproute, the default):
 *   - the HTTPRoute annotation bpfsplit.io/frontends names them outright (and then only
 *     those: parentRefs give none);
 *   - otherwise each parentRef: a Service (Gateway API mesh pattern) gives its cluster IPs
 *     x its ports (only parentRef.port when set); a Gateway whose GatewayClass is served
 *     (--gateway-class) gives its status.addresses x the port of each listener the
 *     parentRef selects (sectionName, port, or all of them).
 * A Gateway parent attaches to the listeners its sectionName/port select that allow the
 * route: the listener's allowedRoutes kinds (by default those its protocol carries:
 * HTTP/HTTPS -> HTTPRoute, GRPCRoute; TLS -> TLSRoute; TCP -> TCPRoute) and namespaces
 * (Same, All, Selector over the Namespace's labels), and a hostname intersecting the
 * route's. A listener that terminates TLS (HTTPS, TLS mode Terminate) is never
 * programmed (reported); TLS Passthrough listeners are L4 and served.
 * Groups: the route's first rule that L4 can honour (matches all traffic), one group per
 * backendRef, in order, named "namespace/service". Rules with header, query, method or
 * path matches are skipped and reported. Timeouts, retries and filters on that rule are
 * not enforced and reported (the weights are programmed), unless l7_details_refuse
 * makes them skip the rule too. A backendRef to another namespace needs a ReferenceGrant
 * there; without one its group gets its weight and no backend (its share is refused).
 * Backends: the endpoints of the group's Service from every EndpointSlice labelled with
 * it, of the frontend's address family, on the slice port named like the Service port
 * whose number is the backendRef's port: ready (conditions.ready) or draining (not
 * ready: terminating, or not ready yet), plus endpoints that vanished from the slices
 * less than drain_timeout ago, as draining.
 *
 * With --weights-from=rollout, a Rollout's annotation bpfsplit.io/frontends names the
 * frontends, and its status.canary.weights split them between its stableService and
 * canaryService (port: the Service port numbered like the frontend, else its only port).
 *
 * Two routes naming the same frontend: the oldest (creationTimestamp), then the first by
 * namespace/name, keeps it; the other gets a problem. A problem is "blocking" when it stops a frontend from being computed
 * correctly (missing Service, unknown backend kind, no endpoints at all, ...): such a
 * frontend is emitted with blocked set and no spec, and the reconciler keeps its last
 * good spec. A route whose latest version was rejected is computed from its last good
 * version (so endpoint changes still flow) and carries an "invalid" problem. */
#ifndef BS_AGENT_DESIRED_H
#define BS_AGENT_DESIRED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bpfsplit.h"
#include "cache.h"

enum weights_from {
	WEIGHTS_FROM_HTTPROUTE = 0,
	WEIGHTS_FROM_ROLLOUT,
};

#define DESIRED_MAX_CLASSES 8

struct desired_opts {
	const char *gateway_classes[DESIRED_MAX_CLASSES]; /* served GatewayClasses */
	size_t n_gateway_classes;
	enum weights_from weights_from;
	uint8_t default_affinity;   /* BS_AFFINITY_*, when a route has no bpfsplit.io/affinity */
	uint64_t now_ns;            /* monotonic, the clock of the cache's vanished endpoints */
	uint64_t drain_timeout_ns;  /* how long a vanished endpoint stays draining */
	bool l7_details_refuse;     /* a rule with L7 details (timeouts, filters) is skipped, not programmed */
	uint64_t endpoint_grace_ns; /* a group that lost every ready endpoint keeps them this long */
};

/* Why; each maps to a condition of the route's status (see route_status.c). */
enum desired_reason {
	DR_INVALID = 0,        /* the latest version was rejected (malformed, out of range) */
	DR_NO_FRONTENDS,       /* nothing to program: no address, no listener, ... */
	DR_PARENT_NOT_FOUND,   /* a Service parent does not exist or has no cluster IP */
	DR_RULE_SKIPPED,       /* an L7 rule cannot be honoured at L4 (warning) */
	DR_RULE_SHADOWED,      /* a second all-traffic rule: only the first counts (warning) */
	DR_NO_L4_RULE,         /* no rule matches all traffic */
	DR_INVALID_KIND,       /* a backendRef that is not a core Service */
	DR_BACKEND_NOT_FOUND,  /* a backendRef's Service does not exist */
	DR_PORT_NOT_FOUND,     /* backendRef port missing, or not a port of the Service */
	DR_NO_ENDPOINTS,       /* a weighted group has no endpoint at all */
	DR_NO_READY_ENDPOINTS, /* a weighted group has endpoints, none ready (warning) */
	DR_TOO_MANY_GROUPS,    /* more backendRefs than BS_MAX_GROUPS */
	DR_CONFLICT,           /* another route already programs this frontend */
	DR_WEIGHTS_MISSING,    /* rollout mode: status.canary.weights not written yet */
	DR_NOT_ALLOWED,        /* no listener of the parent allows this route (kind, namespace) */
	DR_NO_MATCHING_HOSTNAME, /* the route's hostnames match no listener's */
	DR_TLS_TERMINATED,     /* a listener terminates TLS: L4 cannot serve it (warning) */
	DR_REF_NOT_PERMITTED,  /* a cross-namespace backendRef without a ReferenceGrant: share refused */
	DR_L7_NOT_ENFORCED,    /* the programmed rule's timeouts/filters are not enforced (warning) */
	DR_ENDPOINT_GRACE,     /* a group lost every ready endpoint: the last ones bridge the gap (warning) */
	DR_DATAPATH_LIMIT,     /* the spec is more than the data path holds (bs_spec_validate) */
	DR_NREASONS,
};

struct desired_problem {
	enum cache_kind kind;       /* CACHE_HTTPROUTE or CACHE_ROLLOUT */
	char owner[CACHE_KEY_MAX];  /* "namespace/name" of that object */
	int parent;                 /* parentRefs index concerned, -1: every parent */
	int rule;                   /* rules index concerned, -1: none */
	enum desired_reason reason;
	bool blocking;              /* some frontend keeps its last good spec because of it */
	char msg[640];              /* "httproute default/web: rules[1] (x): ..." */
};

struct desired_frontend {
	struct bs_frontend_spec spec; /* key always set; groups only when !blocked (backends owned) */
	bool blocked;
	enum cache_kind owner_kind;
	char owner[CACHE_KEY_MAX];
	int parent;                 /* parentRefs index it comes from, -1: annotation */
	bool in_maps;               /* set after a pass: the maps serve it (desired or last good spec) */
	/* Where it comes from, stored beside the maps for `bpfsplit status`: the route
	 * ("" in --weights-from=rollout), the Rollout linked to it ("" when none) and that
	 * Rollout's step, phase, pause, abort and canary weight. Zero-filled beyond the
	 * strings; updated_unix_ns is 0 (the writer stamps it). */
	struct bs_frontend_info info;
};

/* One HTTPRoute bpfsplit answers for (its status is ours to write). */
struct desired_route {
	enum cache_kind kind;       /* CACHE_HTTPROUTE, CACHE_GRPCROUTE, ... */
	char key[CACHE_KEY_MAX];
	int64_t generation;         /* latest seen */
	uint32_t served_parents;    /* bit i: parentRefs[i] is a parent bpfsplit serves */
	uint32_t parents_ok;        /* bit i: parentRefs[i] gave at least one frontend */
	bool invalid;               /* latest version rejected */
	bool has_good;
	int rule;                   /* rule programmed, -1: none */
	size_t n_frontends;
	char rollout[CACHE_KEY_MAX];/* Rollout that drives it ("" when none) */
};

struct desired {
	struct desired_frontend *fe;
	size_t n_fe;
	struct desired_problem *pr;
	size_t n_pr;
	struct desired_route *routes;
	size_t n_routes;
};

/* 0 or -ENOMEM. out is filled whatever the problems; free it with desired_free. */
int desired_compute(const struct cache *c, const struct desired_opts *o, struct desired *out);
void desired_free(struct desired *d);

/* Incremental update after a batch of events: recompute only the HTTPRoutes named in
 * keys ("namespace/name", in the cache or gone from it) and keep every other route's part
 * of d, which must come from desired_compute (or desired_update) over the same options.
 * Entries of the recomputed routes move to the end of d's arrays; otherwise d ends as
 * desired_compute would leave it (same frontends, problems and routes, in another order).
 * Returns 0 when d was updated, 1 when an incremental update cannot be exact (rollout
 * mode; a frontend claimed by two routes before or after) and the caller must run
 * desired_compute instead (d untouched), -ENOMEM (d must be recomputed). */
int desired_update(const struct cache *c, const struct desired_opts *o, struct desired *d, const char *const *keys,
		   size_t n_keys);

/* True when route's desired part can change with object kind ns/name (CACHE_SERVICE: a
 * Service parent or backendRef, whose EndpointSlices count as the Service; CACHE_GATEWAY:
 * a Gateway parent, of the good or the latest version). Rollouts link routes by name: the
 * Rollout's own httpRoutes say which. */
bool desired_route_depends(const struct cache_entry *route, enum cache_kind kind, const char *ns, const char *name);

const char *desired_reason_name(enum desired_reason r); /* "BackendNotFound", ... */
/* Lookups by key, NULL when absent. */
const struct desired_route *desired_find_route(const struct desired *d, enum cache_kind kind, const char *key);
const struct desired_frontend *desired_find_frontend(const struct desired *d, const struct bs_frontend_key *key);

#endif
