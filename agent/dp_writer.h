/* SPDX-License-Identifier: BSD-2-Clause */
/* The one door from the agent's reconciler to the data path: apply a frontend's spec,
 * remove a frontend, read one back, list them, store where a frontend comes from. Two
 * implementations: over libbpfsplit (the pinned maps) and in memory (unit tests,
 * --dry-run), so that the reconciler's logic runs without root. Also the spec helpers
 * both sides need: copy, normalise, compare, format. Functions return 0 or -errno. */
#ifndef BS_AGENT_DP_WRITER_H
#define BS_AGENT_DP_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bpfsplit.h"

struct dp_writer {
	/* Make the data path serve spec, atomically for this frontend; a no-op when it
	 * already does. On error nothing changed and err names the frontend and the cause. */
	int (*apply)(struct dp_writer *w, const struct bs_frontend_spec *spec, char *err, size_t errlen);
	/* Stop serving a frontend (connections keep their records). -ENOENT if unknown. */
	int (*remove)(struct dp_writer *w, const struct bs_frontend_key *key);
	/* What the data path serves for key (backends allocated: bs_frontend_spec_free).
	 * -ENOENT if unknown. */
	int (*read)(struct dp_writer *w, const struct bs_frontend_key *key, struct bs_frontend_spec *out);
	/* Every frontend key present; *keys is a heap array (free()). */
	int (*list)(struct dp_writer *w, struct bs_frontend_key **keys, size_t *n);
	/* Store info beside the frontend key (route, rollout, step... for `bpfsplit status`),
	 * stamped with the time of the write; a no-op when the same is stored (the stamp
	 * aside). -ENOENT if the frontend is unknown. Removing a frontend removes its info. */
	int (*info)(struct dp_writer *w, const struct bs_frontend_key *key, const struct bs_frontend_info *info);
	/* Read the maps back and compare them with what was written (frontend, split,
	 * thresholds, tables, backend slots, metadata); log each difference and, with repair,
	 * write the frontends concerned again. *found and *repaired count differences. NULL
	 * for writers without maps (in memory). */
	int (*verify)(struct dp_writer *w, bool repair, size_t *found, size_t *repaired);
	void (*destroy)(struct dp_writer *w);
};

/* Over libbpfsplit. The writer borrows dp (the caller closes it after destroying w). */
int dp_writer_bpf_new(struct bs_dp *dp, struct dp_writer **out);

/* In memory: what "the maps" hold is a table of specs in the process. */
int dp_writer_mem_new(struct dp_writer **out);

struct dp_writer_mem_stats {
	uint64_t applies;         /* apply calls */
	uint64_t applies_changed; /* ... that changed what is served */
	uint64_t removes;         /* remove calls that removed something */
	uint64_t reads;
	uint64_t lists;
	uint64_t failures;        /* calls failed on purpose (dp_writer_mem_fail) */
	uint64_t infos;           /* info calls */
	uint64_t infos_changed;   /* ... that changed what is stored */
};
void dp_writer_mem_get_stats(struct dp_writer *w, struct dp_writer_mem_stats *out);
void dp_writer_mem_reset_stats(struct dp_writer *w);
/* Make the next count apply calls fail with err (key NULL: any frontend). */
void dp_writer_mem_fail(struct dp_writer *w, const struct bs_frontend_key *key, int err, unsigned int count);
/* How many times apply changed key (0 when never applied). */
uint64_t dp_writer_mem_apply_count(struct dp_writer *w, const struct bs_frontend_key *key);
size_t dp_writer_mem_size(struct dp_writer *w);
/* The info stored for key; -ENOENT when none. */
int dp_writer_mem_get_info(struct dp_writer *w, const struct bs_frontend_key *key, struct bs_frontend_info *out);

/* ---- spec helpers ---- */

/* Deep copy (dst's old arrays are not freed: pass a zeroed or freed dst). */
int dp_spec_copy(struct bs_frontend_spec *dst, const struct bs_frontend_spec *src);
/* Sort each group's backends by (family, address, port) and merge duplicates (ready wins). */
void dp_spec_normalize(struct bs_frontend_spec *spec);
/* Same key, affinity, groups (name, weight) in order, and backends with states, as sets. */
bool dp_spec_equal(const struct bs_frontend_spec *a, const struct bs_frontend_spec *b);
/* "default/rollouts-demo-stable=70(3 ready),default/rollouts-demo-canary=30(1 ready,1 draining)" */
void dp_spec_summary(const struct bs_frontend_spec *spec, char *buf, size_t len);
/* "10.96.0.10:80/tcp" */
void dp_key_str(const struct bs_frontend_key *key, char *buf, size_t len);

#endif
