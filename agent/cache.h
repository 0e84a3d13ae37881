/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's cache: the last good version of every object that steers a split
 * (routes, Gateways, Rollouts, Services, EndpointSlices, Namespaces, ReferenceGrants:
 * the kinds of kinds.c), parsed once, plus the
 * endpoints that vanished from their Service's slices and still drain.
 *
 * A version that fails to parse does not replace the last good one: the entry keeps
 * the good version and records the error, so the split stays as it was and the problem
 * can be reported. Time is passed in (monotonic ns), so the cache is deterministic. */
#ifndef BS_AGENT_CACHE_H
#define BS_AGENT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>
#include <cjson/cJSON.h>
#include "k8s/objects.h"

/* "namespace/name" */
#define CACHE_KEY_MAX (K8S_NS_MAX + K8S_NAME_MAX)

enum cache_kind {
	CACHE_HTTPROUTE = 0,
	CACHE_GATEWAY,
	CACHE_ROLLOUT,
	CACHE_SERVICE,
	CACHE_ENDPOINTSLICE,
	CACHE_GRPCROUTE,
	CACHE_TCPROUTE,
	CACHE_TLSROUTE,
	CACHE_NAMESPACE,
	CACHE_REFERENCEGRANT,
	CACHE_NKINDS,
};

struct cache_entry {
	UT_hash_handle hh;
	enum cache_kind kind;
	/* Strings owned by the entry (never NULL; "" when empty). */
	char *key;                 /* "namespace/name" ("name" when cluster-scoped) */
	char *ns;
	char *name;
	char *rv;                  /* latest resourceVersion seen, good or not */
	int64_t generation;        /* latest metadata.generation seen */
	char *error;               /* why the latest version was rejected; NULL when it parsed */
	uint64_t content_hash;     /* the latest version but its status and resourceVersion (0: unknown) */
	bool has_good;             /* good holds the last version that parsed */
	bool seen;                 /* announced since the last resync began */
	/* The parsed object of the entry's kind, allocated with the entry (zeroed while
	 * !has_good), so an entry costs the size of its own kind only. */
	union {
		struct k8s_httproute *route;
		struct k8s_gateway *gateway;
		struct k8s_rollout *rollout;
		struct k8s_service *service;
		struct k8s_endpointslice *slice;
		struct k8s_namespace *ns;
		struct k8s_refgrant *grant;
		void *any;
	} good;
	/* Routes (every route kind): the latest spec.parentRefs and status.parents verbatim (NULL when
	 * absent), whether the latest carries the frontends annotation. */
	cJSON *parent_refs;
	cJSON *status_parents;
	bool has_frontends_ann;
	/* Rollout: bpfsplit.io/frontends of the good version. */
	struct k8s_frontend *ro_frontends;
	size_t n_ro_frontends;
	/* EndpointSlice: the Service it belongs to ("ns/name" of the good version), and
	 * its place in that Service's list of slices. */
	char *svc_key;             /* never NULL; "" when none */
	struct cache_entry *svc_prev, *svc_next;
};

/* An endpoint of a Service: one address with one port of a slice. */
struct cache_ep_id {
	uint8_t family;            /* BS_AF_INET / BS_AF_INET6 */
	uint8_t proto;             /* IPPROTO_* */
	uint16_t port;             /* host order */
	uint8_t addr[16];
	char port_name[K8S_PORTNAME_MAX];
};

/* An endpoint that left every slice of its Service: draining until the drain timeout. */
struct cache_vanished {
	UT_hash_handle hh;
	struct cache_ep_id id;     /* the hash key: zero-filled before use */
	uint64_t since_ns;
};

/* Slices and vanished endpoints of one Service (keyed "ns/service"). */
struct cache_svc_eps {
	UT_hash_handle hh;
	char key[CACHE_KEY_MAX];
	struct cache_entry *slices; /* utlist DL list through svc_prev/svc_next */
	struct cache_vanished *vanished;
	/* Per address family ([0] IPv4, [1] IPv6; a family's slices change one at a time):
	 * when the Service's last ready endpoint went (0: it has ready ones, or never had),
	 * and which were ready just before: they bridge the gap for the endpoint grace. */
	uint64_t no_ready_since_ns[2];
	struct cache_vanished *last_ready;
};

struct cache {
	struct cache_entry *by_kind[CACHE_NKINDS];
	struct cache_svc_eps *eps;
	uint64_t version;          /* bumped by every change that can move a split or a status */
	bool unavailable[CACHE_NKINDS]; /* the type cannot be listed (CRD missing, forbidden) */
};

struct cache *cache_new(void);
void cache_free(struct cache *c);

const char *cache_kind_name(enum cache_kind k); /* "httproute", ... */

/* An object exists with this content. Returns 1 when something changed, 0 when not
 * (same resourceVersion), -ENOMEM. A version that does not parse is rejected: the last
 * good version stays, the entry records the cause, and err receives one line naming the
 * object and the cause when that cause is new for the entry (err[0] is '\0' otherwise,
 * so a status-only update of a bad object is not reported twice). */
int cache_upsert(struct cache *c, enum cache_kind k, const cJSON *obj, uint64_t now_ns, char *err, size_t errlen);
/* An object is gone. 1 when it was known, 0 otherwise. */
int cache_delete(struct cache *c, enum cache_kind k, const cJSON *obj, uint64_t now_ns);
/* A (re)list of kind k begins / is complete: entries not announced in between are gone.
 * cache_resync_end returns how many were dropped. */
void cache_resync_begin(struct cache *c, enum cache_kind k);
int cache_resync_end(struct cache *c, enum cache_kind k, uint64_t now_ns);

/* Forget vanished endpoints older than drain_timeout_ns. Returns how many. */
int cache_expire(struct cache *c, uint64_t now_ns, uint64_t drain_timeout_ns);
/* When the next vanished endpoint expires (monotonic ns), 0 when none. */
uint64_t cache_next_expiry(const struct cache *c, uint64_t drain_timeout_ns);

/* Index of no_ready_since_ns for an address family. */
#define CACHE_FAM_IDX(family) ((family) == 10 /* AF_INET6 */)

/* The earliest end of an endpoint grace (no_ready_since + grace_ns) later than after_ns,
 * 0 when none. */
uint64_t cache_next_grace_end(const struct cache *c, uint64_t grace_ns, uint64_t after_ns);

const struct cache_entry *cache_get(const struct cache *c, enum cache_kind k, const char *ns, const char *name);
/* Record what cache_entry.content_hash says (the cache itself never reads it). */
void cache_set_content_hash(struct cache *c, enum cache_kind k, const char *ns, const char *name, uint64_t h);
const struct cache_svc_eps *cache_svc_eps(const struct cache *c, const char *ns, const char *name);
size_t cache_count(const struct cache *c, enum cache_kind k);
/* Entries of kind k sorted by key (a heap array of pointers, free()); *n of them. */
int cache_sorted(const struct cache *c, enum cache_kind k, const struct cache_entry ***out, size_t *n);

#define cache_for_each(c, k, e) for ((e) = (c)->by_kind[k]; (e); (e) = (e)->hh.next)

#endif
