/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's Kubernetes client: one list-then-watch per resource type, all driven by
 * one libcurl multi event loop (no thread per watch), plus the few writes the agent makes
 * (HTTPRoute status). It hands the caller parsed-JSON events; it knows nothing of
 * HTTPRoutes or splits. TLS is always verified. */
#ifndef BS_KUBE_CLIENT_H
#define BS_KUBE_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "k8s/kubeconfig.h"

struct kube_client;

/* A resource type to follow, e.g. { "gateway.networking.k8s.io", "v1", "httproutes" };
 * group "" is the core API (/api/v1). Cluster-wide list/watch. */
struct kube_resource {
	const char *group;
	const char *version;
	const char *plural;
	/* Other versions to try, in order, when the server does not serve this one (404):
	 * NULL-terminated, or NULL. Status writes use the version being watched. */
	const char *const *more_versions;
};

enum kube_event_kind {
	KUBE_EV_RESYNC_BEGIN, /* a (re)list starts: objects not re-announced before RESYNC_END are gone */
	KUBE_EV_UPSERT,       /* an object exists with this content (list item, ADDED or MODIFIED) */
	KUBE_EV_DELETE,       /* an object was deleted (object: its last state) */
	KUBE_EV_RESYNC_END,   /* the list is complete; the cache of this type is whole again */
	KUBE_EV_UNAVAILABLE,  /* the type cannot be listed (404: CRD not installed, 403): reported once */
};

/* object is only valid during the call; resource_idx is the index given to kube_client_watch. */
typedef void (*kube_event_fn)(void *ctx, int resource_idx, enum kube_event_kind kind, const cJSON *object);

struct kube_client_opts {
	const struct k8s_config *config;   /* server, CA, credentials; the client keeps a pointer */
	int request_timeout_ms;            /* lists, writes, connects (default 10000) */
	int watch_timeout_s;               /* timeoutSeconds asked of the server (default 300) */
	int stall_timeout_ms;              /* no byte, not even a bookmark, for this long: restart (default 90000) */
	int page_limit;                    /* list page size (default 500) */
	size_t max_event_bytes;            /* larger events are reported and force a relist (default 4 MiB) */
	int backoff_min_ms, backoff_max_ms;/* reconnect backoff with jitter (defaults 200, 30000) */
	int unavailable_retry_ms;          /* retry of a 404/403 type (default 60000) */
};

int kube_client_new(const struct kube_client_opts *opts, struct kube_client **out);
void kube_client_free(struct kube_client *kc);

/* Follow a type; events go to fn. Returns its index or -errno. Call before the loop runs. */
int kube_client_watch(struct kube_client *kc, const struct kube_resource *res, kube_event_fn fn, void *ctx);

/* Run the event loop for up to timeout_ms (transfers, timers, backoff); returns early,
 * right after the pass that delivered events. 0 or -errno. */
int kube_client_run(struct kube_client *kc, int timeout_ms);

/* True once every followed type has completed its first list (or is UNAVAILABLE). */
bool kube_client_synced(const struct kube_client *kc);

/* Apply a merge patch (RFC 7386 JSON text) to the status of a namespaced object of a
 * followed type: GET the object, merge, PUT it to the status subresource (the "update"
 * verb: least privilege). A metadata.resourceVersion in the patch is a precondition
 * (409 when the object moved on). Asynchronous; done(ctx, http_status, err) runs in the loop. */
typedef void (*kube_write_done_fn)(void *ctx, int http_status, const char *err);
int kube_client_update_status(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			     const char *name, const char *patch_json, kube_write_done_fn done, void *ctx);

/* How long the least current type has gone without a working watch or a successful
 * answer (ms); 0 when every type is being watched. */
int64_t kube_client_stale_ms(const struct kube_client *kc);

/* Counters for /metrics. */
struct kube_client_stats {
	uint64_t lists, watches, events, relists_410, reconnects, errors, throttled_429, token_reloads;
};
void kube_client_get_stats(const struct kube_client *kc, struct kube_client_stats *out);

#endif
