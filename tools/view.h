/* SPDX-License-Identifier: BSD-2-Clause */
/* A read-only view of frontends as the CLI shows them: the spec read back with
 * bs_dp_read, plus what the spec does not carry (frontend id, table ids, backend ids,
 * the route and rollout stored beside the frontend), the counters of each and, on
 * request, the open connections of each backend. */
#ifndef BS_VIEW_H
#define BS_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <cjson/cJSON.h>
#include "bpfsplit.h"

struct view_backend {
	struct bs_backend_spec spec;  /* address, port, family, state in this group */
	__u32 id;                     /* key in bs_backends; BS_ID_NONE if not found */
	struct bs_counters counters;  /* of the backend over every frontend naming it */
	__u64 active_conns;           /* open connection records of this frontend to it (view_count_conns) */
	struct bs_health health;      /* connection health of this backend in this group of this frontend */
};

struct view_group {
	char name[BS_GROUP_NAME_LEN];
	__u32 weight;
	__u32 table_id; /* BS_ID_NONE: no ready backend */
	__u32 n_backends;
	__u32 n_ready;
	struct view_backend *backends;
	struct bs_health health;      /* connection health of the group (bs_health aggregate) */
};

struct view_frontend {
	struct bs_frontend_key key;
	char name[80];       /* "10.96.0.10:80/tcp" */
	struct bs_frontend fe; /* id */
	__u32 split_id;        /* from bs_fe_splits */
	__u8 affinity;
	struct bs_counters counters;
	__u64 weight_sum;
	__u32 n_groups;
	struct view_group groups[BS_MAX_GROUPS];
	bool has_info;                /* bs_fe_info holds where it comes from (else: written by hand) */
	struct bs_frontend_info info;
	__u64 active_conns;           /* open connection records of this frontend, any backend */
};

/* One frontend; -ENOENT if unknown. Free with view_frontend_free. */
int view_frontend_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct view_frontend *v);
void view_frontend_free(struct view_frontend *v);

/* Every frontend key, sorted (free *keys). */
int view_frontend_keys(struct bs_dp *dp, struct bs_frontend_key **keys, size_t *n);

/* Every frontend, sorted by address, port and protocol. Free with view_frontends_free. */
int view_frontends_all(struct bs_dp *dp, struct view_frontend **out, size_t *n);
void view_frontends_free(struct view_frontend *v, size_t n);

/* Count the open connection records (TCP not closing, UDP not idle) of each frontend and
 * each of its backends, in one pass over bs_conns. */
int view_count_conns(struct bs_dp *dp, struct view_frontend *v, size_t n);

/* Share of a group's weight in percent (0 when every weight is 0). */
double view_share_pct(const struct view_frontend *v, __u32 group);

/* Order of frontend keys used everywhere in the CLI. */
int view_key_cmp(const struct bs_frontend_key *a, const struct bs_frontend_key *b);

/* Connection health (view_health.c). New connections (TCP and UDP) counted by h, minus
 * those counted by prev when given (a window). */
void view_health_read(struct bs_dp *dp, __u32 fe_id, __u32 group, __u32 backend_id, struct bs_health *out);
__u64 view_health_new(const struct bs_health *h, const struct bs_health *prev);
/* Failed connections over the same span. */
__u64 view_health_failed(const struct bs_health *h, const struct bs_health *prev);
/* Quantile q (0..1) of the handshake latency in seconds over the span, interpolated within
 * its histogram bucket as Prometheus does; -1 when no handshake was seen. */
double view_handshake_quantile(const struct bs_health *h, const struct bs_health *prev, double q);

/* Rendering (view_print.c): JSON object, or a plain block with one row per backend. */
cJSON *view_frontend_json(const struct view_frontend *v);
void view_frontend_print(const struct view_frontend *v);

#endif
