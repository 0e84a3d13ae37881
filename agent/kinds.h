/* SPDX-License-Identifier: BSD-2-Clause */
/* One descriptor per Kubernetes kind the agent follows: where the API serves it, how
 * its objects are parsed and freed, and which routes a change of one of them touches.
 * A new kind is one entry in kinds.c plus its parser in k8s/objects.c; the cache, the
 * watch set-up, the event handler and the metrics walk this table. */
#ifndef BS_AGENT_KINDS_H
#define BS_AGENT_KINDS_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "cache.h"
#include "kube_client.h"

/* What a change touches is handed back through these. */
struct kind_affect {
	const struct cache *cache;
	bool rollout_mode;           /* --weights-from=rollout: Rollouts drive frontends */
	void (*route)(void *ctx, enum cache_kind route_kind, const char *key); /* recompute this route */
	void (*all)(void *ctx);      /* recompute the whole desired state */
	void *ctx;
};

struct kind_desc {
	const char *name;            /* "httproute": logs and metric labels */
	const char *type;            /* "HTTPRoute": the object's kind, in messages */
	struct kube_resource res;    /* API group, version, plural */
	size_t size;                 /* the parsed struct */
	int (*parse)(const cJSON *obj, void *out, char *err, size_t errlen);
	void (*free)(void *parsed);
	bool is_route;               /* a route kind: owns frontends, gets a status */
	/* The routes a change of object ns/name touches (e: its cache entry, NULL when not
	 * cached). Called before and after the change. */
	void (*affects)(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e, const char *ns,
			const char *name);
};

const struct kind_desc *kind_desc(enum cache_kind k);
/* The cache kind of a route kind (K8S_ROUTE_TCP -> CACHE_TCPROUTE). */
enum cache_kind kind_of_route(enum k8s_route_kind rk);

#define for_each_route_kind(k)                                                                                        \
	for ((k) = 0; (k) < CACHE_NKINDS; (k)++)                                                                      \
		if (kind_desc(k)->is_route)

#endif
