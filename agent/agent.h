/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's state, shared by the files of its one thread: events (events.c), the
 * pass (loop.c), status writes (status_queue.c), logs of problems and rollouts
 * (reports.c), metrics rendering (agent_metrics.c), set-up (setup.c). */
#ifndef BS_AGENT_AGENT_H
#define BS_AGENT_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bpfsplit.h"
#include "cache.h"
#include "desired.h"
#include "dp_writer.h"
#include "flags.h"
#include "grace.h"
#include "k8s/kubeconfig.h"
#include "kube_client.h"
#include "metrics.h"
#include "reconcile.h"
#include "strmap.h"

#ifndef BPFSPLIT_VERSION
#define BPFSPLIT_VERSION "0.1.0"
#endif

#define SEC_NS 1000000000ull
#define MS_NS 1000000ull

/* How long one turn of the loop waits for the API (ms): the coalescing window, and the
 * upper bound of the delay between an event and the pass it triggers. */
#define LOOP_TICK_MS 50
/* /healthz fails when the loop has not turned for this long. */
#define HEALTH_TIMEOUT_NS (30 * SEC_NS)
/* Retry of failed writes: first after 1 s, doubling to 30 s. */
#define RETRY_MIN_NS (1 * SEC_NS)
#define RETRY_MAX_NS (30 * SEC_NS)
/* How often the metrics snapshot is refreshed when nothing happens. A pass that wrote
 * refreshes it too, but rendering at 10,000 routes takes tens of milliseconds during
 * which events wait: refreshes are spaced by METRICS_COST_FACTOR times the last render's
 * duration at least (at most ~1% of the loop's time). */
#define METRICS_EVERY_NS (2 * SEC_NS)
#define METRICS_COST_FACTOR 100
/* Status writes in flight at once; the others wait in a queue (one entry per route:
 * the patch is computed when its turn comes, from the state then). */
#define STATUS_MAX_IN_FLIGHT 4
/* Queued routes looked at per turn of the loop (most need no write). */
#define STATUS_CHECKS_PER_TURN 32
/* More affected routes than 1/AFFECTED_FULL_DIV of all: compute the desired state whole. */
#define AFFECTED_FULL_DIV 8

enum { EV_UPSERT, EV_DELETE, EV_NTYPES };

struct agent {
	struct flags f;
	char node[256];
	struct k8s_config cfg;
	struct kube_client *kc;
	enum cache_kind kind_of[CACHE_NKINDS];
	int idx_of[CACHE_NKINDS]; /* -1: not watched */
	struct cache *cache;
	struct bs_dp *dp;
	struct dp_writer *w;
	struct grace *grace;         /* RCU grace periods off the loop (NULL: inline) */
	struct reconciler *rec;
	struct metrics *m;
	struct desired_opts dopts;

	bool synced, ready, dirty, full, retry_pending;
	bool ready_published;         /* /readyz: maps match (ready) and every attachment in force */
	uint64_t batch_start_ns, next_full_ns, retry_at_ns, retry_backoff_ns, next_metrics_ns;
	uint64_t grace_done_ns;       /* endpoint graces ending up to this time were acted on */
	bool stale;                   /* no watch current for --not-ready-after: /readyz fails */
	int64_t stale_ms;

	/* The desired state of the last pass, kept between passes: a pass after watch events
	 * recomputes only the routes they affect (desired_update). */
	struct desired cur;
	bool have_cur;
	struct str_entry *affected;   /* route key -> NULL: routes to recompute in the next pass */
	size_t n_affected;
	bool desired_full;            /* the next pass computes the desired state whole */
	bool stopping;
	/* status writes: routes whose status to check, in order; writes in flight */
	struct str_entry *status_queue;
	size_t status_in_flight;

	struct str_entry *problems;   /* message -> "" : problems currently reported */
	struct str_entry *status_sent;/* route key -> last patch sent */
	struct str_entry *rollouts_seen; /* rollout key -> its state as last logged */

	/* counters for /metrics */
	uint64_t events[CACHE_NKINDS][EV_NTYPES], rejected[CACHE_NKINDS], passes, writes_applied, writes_removed,
		writes_failed, status_ok, status_err, problems_reported;
	bool unavailable[CACHE_NKINDS];
	struct histogram event_to_map, pass_seconds;
	struct reconcile_stats last;
	size_t not_owned_at_start;    /* frontends in the maps, not ours, at the first full pass */

	/* data-path counters, read from the metrics thread with a handle of its own */
	struct bs_dp *scrape_dp;
	uint64_t metrics_cost_ns, metrics_at_ns; /* last render: duration, start */
};


/* clock and text */
uint64_t mono_ns(void);
void rfc3339_now(char *buf, size_t len);
/* A value for a quoted log field: double quotes become single ones. */
const char *qv(char *buf, size_t len, const char *s);

/* events.c */
void agent_mark_dirty(struct agent *a, uint64_t now, bool from_event);
void agent_on_event(void *ctx, int idx, enum kube_event_kind kind, const cJSON *obj);

/* status_queue.c */
void status_pump(struct agent *a, size_t max_checks);
/* After a pass: queue the routes whose status may have moved (all on a whole pass). */
void status_write_after_pass(struct agent *a, bool all);
/* A route whose status alone changed: check its status without a pass. */
void status_check_route(struct agent *a, enum cache_kind kind, const char *key);

/* reports.c */
void report_problems(struct agent *a, const struct desired *d);
void report_rollouts(struct agent *a);

/* agent_metrics.c */
void agent_on_write(void *ctx, const struct bs_frontend_key *key, enum reconcile_action action, const char *owner,
		    uint64_t done_ns);
void agent_publish_metrics(struct agent *a, const struct desired *d);
bool agent_metrics_due(const struct agent *a, uint64_t now, bool wrote);
void agent_scrape_datapath(void *ctx, struct mbuf *b);

/* ui.c: /ui and /ui/data.json (--ui), a metrics_page_fn */
bool agent_ui_page(void *ctx, const char *url, struct mbuf *out, const char **type);

/* setup.c */
int agent_load_config(struct agent *a);
int agent_open_datapath(struct agent *a);
int agent_watch_types(struct agent *a);
void agent_node_name(struct agent *a);

/* loop.c */
/* Runs until *stop is set. */
void agent_loop(struct agent *a, volatile sig_atomic_t *stop);

#endif
