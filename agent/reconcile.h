/* SPDX-License-Identifier: BSD-2-Clause */
/* The reconciler: brings the data path to the desired state through a dp_writer,
 * writing only what differs, one frontend at a time (each write atomic).
 *
 * Level-triggered: each run takes the whole desired state. A frontend whose desired
 * spec is unchanged since the last run and was in the maps then is skipped; the others
 * (and every frontend on a full run) are compared with the writer's view of the maps
 * (its registry, mirrored from the pins; not a fresh read of the maps) and written only
 * when they differ. A blocked frontend (its route has a problem) keeps its last good spec:
 * the one last applied, or, after a restart, what the maps already hold.
 *
 * Ownership: the agent removes only frontends it owns, and owns a frontend once it is in
 * its desired set and the maps hold it (written by this process, or found equal to the
 * desired spec). Frontends in the maps that were never in the desired set since the
 * agent started (the CLI's, or left over from a route deleted while the agent was down)
 * are left alone and logged once; ownership itself is not stored beside the maps.
 * Removals happen only on runs with allow_remove (after the first full sync of every
 * type).
 *
 * A full run first reads the maps themselves back (the writer's verify: split, thresholds,
 * tables, backend slots) and repairs what differs from what was written: drift made
 * behind the agent's back, which comparing specs alone cannot see.
 *
 * Beside each frontend the maps hold, the reconciler stores the desired frontend's info
 * (route, Rollout, step, phase) through the writer's info op, when it changed since it
 * was last stored (and on full runs, where the writer skips identical content). */
#ifndef BS_AGENT_RECONCILE_H
#define BS_AGENT_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "desired.h"
#include "dp_writer.h"

struct reconciler;

enum reconcile_action {
	RA_APPLIED,   /* written: the maps now serve the desired (or last good) spec */
	RA_REMOVED,   /* an owned frontend no longer desired was removed */
	RA_FAILED,    /* a write failed: retried on the next run */
};

/* Called for each write the run made, as it completes. */
typedef void (*reconcile_write_fn)(void *ctx, const struct bs_frontend_key *key, enum reconcile_action action,
				   const char *owner, uint64_t done_ns);

struct reconcile_run_opts {
	bool full;               /* read back every desired frontend, not only those that changed */
	bool allow_remove;       /* every type has been listed once: owned leftovers may go */
	uint64_t batch_start_ns; /* receipt of the first event of this batch (0: unknown), for logs */
	reconcile_write_fn on_write;
	void *ctx;
	uint64_t (*clock_ns)(void); /* monotonic clock for done_ns; NULL: CLOCK_MONOTONIC */
	/* Partial run (after desired_update): only the frontends owned by these objects
	 * (owner keys of owner_kind) are considered, desired ones written when changed and
	 * owned ones no longer desired removed; every other frontend is left as it is.
	 * Ignored on full runs. n_owners 0: the whole desired state. */
	const char *const *owners;
	size_t n_owners;
	enum cache_kind owner_kind;
};

struct reconcile_stats {
	size_t desired;        /* frontends in the desired state */
	size_t blocked;        /* ... of which keep their last good spec */
	size_t checked;        /* read back from the maps */
	size_t applied;        /* written */
	size_t unchanged;      /* read back and found equal */
	size_t removed;
	size_t failed;
	size_t not_owned;      /* present in the maps, not desired, not ours: left alone */
	size_t owned;          /* frontends the agent owns after the run */
	size_t info_writes;    /* info (route, rollout, step) handed to the writer */
	size_t info_failed;    /* ... that failed (retried on the next run; not counted in failed) */
	size_t drift_found;    /* full runs: differences between the maps and what was written */
	size_t drift_repaired; /* ... written again */
};

int reconciler_new(struct dp_writer *w, struct reconciler **out);
void reconciler_free(struct reconciler *r);

/* One pass. Returns 0 when the maps now match (failed == 0), -EAGAIN when some write
 * failed (they are retried on the next run), -ENOMEM. */
int reconcile_run(struct reconciler *r, const struct desired *d, const struct reconcile_run_opts *o,
		  struct reconcile_stats *st);

/* True when the agent owns key (for tests and metrics). */
bool reconciler_owns(const struct reconciler *r, const struct bs_frontend_key *key);
/* The last good spec kept for key, NULL when none. */
const struct bs_frontend_spec *reconciler_last_good(const struct reconciler *r, const struct bs_frontend_key *key);

#endif
