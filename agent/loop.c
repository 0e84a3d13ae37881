// SPDX-License-Identifier: BSD-2-Clause
/* The loop: watch events update the cache and mark the state dirty; once every type has
 * been listed, a dirty state is reconciled (see main.c for the whole picture). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
#include <uthash.h>

#include "kinds.h"
#include "log.h"

/* ---- one pass ---- */


/* /readyz: the maps match the cluster, every configured attachment is in force, and
 * the watches are current (cut off from the API server for longer than
 * --not-ready-after, the agent says so; the maps keep forwarding). */
static void update_readiness(struct agent *a)
{
	static char last_why[512];
	bool now = a->ready && attach_complete(&a->f.at) && !a->stale;
	char why[512];

	if (now) {
		if (a->ready_published)
			return;
		a->ready_published = true;
		last_why[0] = '\0';
		metrics_set_ready(a->m, true, NULL);
		bs_info("msg=\"ready: the maps match the cluster and every attachment is in force\" attachments=%zu",
			a->f.at.n);
	} else {
		if (a->ready && a->stale)
			snprintf(why, sizeof(why), "no watch current for %llds (--not-ready-after): cut off from the API "
				 "server; the data path keeps forwarding", (long long)(a->stale_ms / 1000));
		else if (a->ready)
			attach_missing(&a->f.at, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "waiting for the first full sync");
		if (!a->ready_published && !strcmp(why, last_why))
			return;
		a->ready_published = false;
		snprintf(last_why, sizeof(last_why), "%s", why);
		metrics_set_ready(a->m, false, why);
		bs_warn("msg=\"not ready\" why=\"%s\"", why);
	}
	a->next_metrics_ns = 0; /* publish at once */
}

static void reconcile_pass(struct agent *a, uint64_t now)
{
	struct reconcile_run_opts ro = {
		.full = a->full,
		.allow_remove = a->synced,
		.batch_start_ns = a->batch_start_ns,
		.on_write = agent_on_write,
		.ctx = a,
		.owner_kind = CACHE_HTTPROUTE,
	};
	struct desired *d = &a->cur;
	const char **keys = NULL;
	size_t n_keys = 0;
	struct str_entry *r, *tmp;
	bool whole = a->full || !a->have_cur || a->desired_full ||
		     a->n_affected * AFFECTED_FULL_DIV > cache_count(a->cache, CACHE_HTTPROUTE);
	int rc = 1;

	a->dopts.now_ns = now;
	if (!whole && a->n_affected) {
		keys = calloc(a->n_affected, sizeof(*keys));
		if (keys) {
			HASH_ITER(hh, a->affected, r, tmp)
				keys[n_keys++] = r->key;
			rc = desired_update(a->cache, &a->dopts, d, keys, n_keys);
		}
		if (rc) { /* not exact incrementally, or no memory: the whole state */
			free(keys);
			keys = NULL;
			n_keys = 0;
		}
	} else if (!whole) {
		rc = 0; /* a retry: the desired state is as it was */
	}
	if (rc) {
		if (a->have_cur)
			desired_free(d);
		a->have_cur = false;
		rc = desired_compute(a->cache, &a->dopts, d);
		if (rc) {
			bs_err("msg=\"cannot compute the desired state\" err=%s", strerror(-rc));
			return; /* still dirty: tried again next turn */
		}
		a->have_cur = true;
		whole = true;
	}
	ro.owners = keys;
	ro.n_owners = n_keys;
	rc = reconcile_run(a->rec, d, &ro, &a->last);
	/* What the maps serve now: the status claims only these. A frontend the maps
	 * served stays served while it is desired (entries a pass recomputed start false),
	 * so a partial pass looks up only those not known to be there. */
	for (size_t i = 0; i < d->n_fe; i++)
		if (!d->fe[i].in_maps)
			d->fe[i].in_maps = reconciler_owns(a->rec, &d->fe[i].spec.key) ||
					   (d->fe[i].blocked && reconciler_last_good(a->rec, &d->fe[i].spec.key));
	report_problems(a, d);
	report_rollouts(a);
	a->passes++;
	if (a->last.not_owned)
		a->not_owned_at_start = a->last.not_owned;
	hist_observe(&a->pass_seconds, (double)(mono_ns() - now) / 1e9);
	if (rc == -EAGAIN) {
		a->retry_backoff_ns = a->retry_backoff_ns ? a->retry_backoff_ns * 2 : RETRY_MIN_NS;
		if (a->retry_backoff_ns > RETRY_MAX_NS)
			a->retry_backoff_ns = RETRY_MAX_NS;
		a->retry_at_ns = now + a->retry_backoff_ns;
		a->retry_pending = true;
		bs_warn("msg=\"some frontend writes failed; retrying\" failed=%zu retry_in_ms=%llu", a->last.failed,
			(unsigned long long)(a->retry_backoff_ns / MS_NS));
	} else if (rc) {
		bs_err("msg=\"reconcile pass failed\" err=%s", strerror(-rc));
		a->retry_at_ns = now + RETRY_MIN_NS;
		a->retry_pending = true;
	} else {
		a->retry_backoff_ns = 0;
		a->retry_pending = false;
	}
	bs_debug("msg=\"reconcile pass\" full=%d desired=%zu blocked=%zu checked=%zu applied=%zu unchanged=%zu "
		 "removed=%zu failed=%zu owned=%zu info_writes=%zu info_failed=%zu problems=%zu",
		 a->full, a->last.desired, a->last.blocked, a->last.checked, a->last.applied, a->last.unchanged,
		 a->last.removed, a->last.failed, a->last.owned, a->last.info_writes, a->last.info_failed, d->n_pr);
	if (!a->ready && !rc) {
		a->ready = true;
		bs_info("msg=\"the maps match the cluster\" frontends=%zu owned=%zu not_owned=%zu problems=%zu",
			a->last.desired, a->last.owned, a->last.not_owned, d->n_pr);
		update_readiness(a);
	}
	status_write_after_pass(a, whole);
	if (agent_metrics_due(a, now, a->last.applied || a->last.removed || a->last.failed || whole ||
				a->next_metrics_ns == 0)) {
		agent_publish_metrics(a, d);
		a->next_metrics_ns = now + METRICS_EVERY_NS;
	}
	free(keys);
	str_clear(&a->affected);
	a->n_affected = 0;
	a->desired_full = false;
	a->dirty = false;
	a->full = false;
	a->batch_start_ns = 0;
	/* A whole pass frees as much as it allocates: hand the free pages back. */
	if (whole)
		malloc_trim(0);
}

/* Readiness follows the watches (see update_readiness). */
static void check_stale(struct agent *a)
{
	int64_t stale_ms = kube_client_stale_ms(a->kc);
	bool stale = (uint64_t)stale_ms * MS_NS > a->f.stale_after_ns;

	a->stale_ms = stale_ms;
	if (!a->ready || stale == a->stale)
		return;
	a->stale = stale;
	if (!stale)
		bs_info("msg=\"every watch is current again\"");
	update_readiness(a);
}

void agent_loop(struct agent *a, volatile sig_atomic_t *stop)
{
	int rc;

	a->next_full_ns = mono_ns() + a->f.resync_ns;
	while (!*stop) {
		uint64_t now, exp;

		/* Status checks queued and a write slot free: turn again at once. */
		rc = kube_client_run(a->kc, a->status_queue && a->status_in_flight < STATUS_MAX_IN_FLIGHT ? 0
											  : LOOP_TICK_MS);
		if (rc && rc != -EINTR)
			bs_debug("msg=\"kube client loop\" err=%s", strerror(-rc));
		now = mono_ns();
		metrics_heartbeat(a->m, now, HEALTH_TIMEOUT_NS);
		if (attach_tick(&a->f.at, a->dp, a->f.xdp_mode, now)) {
			update_readiness(a);
			a->next_metrics_ns = 0;
		}
		check_stale(a);
		if (!a->synced && kube_client_synced(a->kc)) {
			a->synced = true;
			a->full = true;
			malloc_trim(0); /* the list bodies are gone: return their pages */
			a->batch_start_ns = 0; /* the first pass is no event's latency */
			agent_mark_dirty(a, now, false);
			bs_info("msg=\"every type listed; reconciling\" httproutes=%zu gateways=%zu rollouts=%zu services=%zu "
				"endpointslices=%zu",
				cache_count(a->cache, CACHE_HTTPROUTE), cache_count(a->cache, CACHE_GATEWAY),
				cache_count(a->cache, CACHE_ROLLOUT), cache_count(a->cache, CACHE_SERVICE),
				cache_count(a->cache, CACHE_ENDPOINTSLICE));
		}
		if (!a->synced) {
			if (now >= a->next_metrics_ns) {
				agent_publish_metrics(a, NULL);
				a->next_metrics_ns = now + METRICS_EVERY_NS;
			}
			continue;
		}
		exp = cache_next_expiry(a->cache, a->f.drain_timeout_ns);
		if (exp && now >= exp && cache_expire(a->cache, now, a->f.drain_timeout_ns) > 0) {
			a->desired_full = true;
			agent_mark_dirty(a, now, false);
		}
		/* An endpoint grace ends: its group's share is refused from now on. */
		exp = cache_next_grace_end(a->cache, a->f.endpoint_grace_ns, a->grace_done_ns);
		if (a->f.endpoint_grace_ns && exp && now >= exp) {
			a->grace_done_ns = exp;
			a->desired_full = true;
			agent_mark_dirty(a, now, false);
		}
		if (now >= a->next_full_ns) {
			a->full = true;
			agent_mark_dirty(a, now, false);
			a->next_full_ns = now + a->f.resync_ns;
		}
		if (a->retry_pending && now >= a->retry_at_ns)
			agent_mark_dirty(a, now, false);
		if (a->dirty)
			reconcile_pass(a, now);
		else if (agent_metrics_due(a, now, false)) {
			/* Refresh counters from time to time (rollout and client stats). */
			agent_publish_metrics(a, a->have_cur ? &a->cur : NULL);
			a->next_metrics_ns = now + METRICS_EVERY_NS;
		}
		if (a->status_queue)
			status_pump(a, STATUS_CHECKS_PER_TURN);
		grace_tick(a->grace, a->dp);
	}
}
