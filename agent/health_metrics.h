/* SPDX-License-Identifier: BSD-2-Clause */
/* Connection health per version (bs_health) for /metrics and the /ui data: a snapshot
 * read at scrape time, rows per frontend x group (and per backend), labelled with the
 * route, the Rollout and the group's role in it. */
#ifndef BS_AGENT_HEALTH_METRICS_H
#define BS_AGENT_HEALTH_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include "bpfsplit.h"
#include "metrics.h"

struct agent;

/* Loop thread: which Services are a Rollout's stable and canary (from the cache). */
void health_publish_roles(struct agent *a);

struct health_snapshot {
	void *priv;
};

struct health_row_view {
	__u32 frontend_id;
	const char *frontend, *ns, *route, *rollout;
	const char *group;   /* "stable", "canary", the Service when no Rollout names it, "none" */
	const char *service; /* the group's "namespace/name" as in the maps */
	const char *backend; /* "addr:port" for a backend row, NULL for a group aggregate */
	unsigned group_index;
	__u32 weight;
	__u64 weight_sum;
	const struct bs_health *h;
};

/* Listener thread: read every frontend's groups (and backends when per_backend). */
int health_collect(struct bs_dp *dp, bool per_backend, struct health_snapshot *out);
size_t health_rows(const struct health_snapshot *snap);
int health_row(const struct health_snapshot *snap, size_t i, struct health_row_view *v);
void health_render(const struct health_snapshot *snap, bool per_backend, struct mbuf *b);
void health_snapshot_free(struct health_snapshot *snap);
/* collect + render + free */
void health_scrape(struct bs_dp *dp, bool per_backend, struct mbuf *b);

#endif
