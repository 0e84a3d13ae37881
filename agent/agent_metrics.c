// SPDX-License-Identifier: BSD-2-Clause
/* The agent's /metrics text: its own state, published by the loop, and the data-path
 * counters, read at scrape time from the listener's thread. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "health_metrics.h"
#include "kinds.h"
#include "log.h"

void agent_on_write(void *ctx, const struct bs_frontend_key *key, enum reconcile_action action, const char *owner,
		     uint64_t done_ns)
{
	struct agent *a = ctx;

	if (action == RA_APPLIED) {
		a->writes_applied++;
		if (a->batch_start_ns && done_ns > a->batch_start_ns)
			hist_observe(&a->event_to_map, (double)(done_ns - a->batch_start_ns) / 1e9);
	} else if (action == RA_REMOVED) {
		a->writes_removed++;
	} else {
		a->writes_failed++;
	}
}

/* One metric family per call, so that each family's samples stay together. */
enum spec_metric { SM_WEIGHT, SM_READY, SM_DRAINING };

static void render_spec(struct mbuf *b, enum spec_metric what, const char *fe, const char *owner,
			const struct bs_frontend_spec *s, bool blocked)
{
	for (__u32 g = 0; g < s->n_groups; g++) {
		__u32 ready = 0, draining = 0;

		for (__u32 i = 0; i < s->groups[g].n_backends; i++) {
			if (s->groups[g].backends[i].state == BS_BACKEND_READY)
				ready++;
			else
				draining++;
		}
		mbuf_printf(b, "%s{", what == SM_WEIGHT ? "bpfsplit_agent_group_weight" : "bpfsplit_agent_group_backends");
		mbuf_label(b, "frontend", fe, true);
		mbuf_label(b, "group", s->groups[g].name, false);
		if (what == SM_WEIGHT) {
			mbuf_label(b, "owner", owner, false);
			mbuf_printf(b, ",index=\"%u\",last_good=\"%s\"} %u\n", g, blocked ? "true" : "false",
				    s->groups[g].weight);
		} else {
			mbuf_printf(b, ",state=\"%s\"} %u\n", what == SM_READY ? "ready" : "draining",
				    what == SM_READY ? ready : draining);
		}
	}
}

static void render_frontends(struct agent *a, struct mbuf *b, const struct desired *d, enum spec_metric what)
{
	for (size_t i = 0; i < d->n_fe; i++) {
		const struct desired_frontend *f = &d->fe[i];
		const struct bs_frontend_spec *s = f->blocked ? reconciler_last_good(a->rec, &f->spec.key) : &f->spec;
		char fe[80], owner[CACHE_KEY_MAX + 16];

		if (!s)
			continue;
		dp_key_str(&f->spec.key, fe, sizeof(fe));
		snprintf(owner, sizeof(owner), "%s/%s", cache_kind_name(f->owner_kind), f->owner);
		render_spec(b, what, fe, owner, s, f->blocked);
	}
}

/* The rollout families, one at a time. */
static void render_rollouts(struct agent *a, struct mbuf *b, int family)
{
	const struct cache_entry *e;

	cache_for_each(a->cache, CACHE_ROLLOUT, e) {
		const struct k8s_rollout *ro = e->good.rollout;

		if (!e->has_good || !ro->is_canary)
			continue;
		if (family == 0) {
			mbuf_printf(b, "bpfsplit_agent_rollout_step{");
			mbuf_label(b, "namespace", e->ns, true);
			mbuf_label(b, "rollout", e->name, false);
			mbuf_printf(b, ",of=\"index\"} %d\n", ro->has_current_step ? ro->current_step : -1);
			mbuf_printf(b, "bpfsplit_agent_rollout_step{");
			mbuf_label(b, "namespace", e->ns, true);
			mbuf_label(b, "rollout", e->name, false);
			mbuf_printf(b, ",of=\"count\"} %zu\n", ro->n_steps);
		} else if (family == 1) {
			mbuf_printf(b, "bpfsplit_agent_rollout_state{");
			mbuf_label(b, "namespace", e->ns, true);
			mbuf_label(b, "rollout", e->name, false);
			mbuf_printf(b, ",state=\"paused\"} %d\n", ro->n_pause_conditions > 0 || ro->controller_pause);
			mbuf_printf(b, "bpfsplit_agent_rollout_state{");
			mbuf_label(b, "namespace", e->ns, true);
			mbuf_label(b, "rollout", e->name, false);
			mbuf_printf(b, ",state=\"aborted\"} %d\n", ro->abort);
			mbuf_printf(b, "bpfsplit_agent_rollout_state{");
			mbuf_label(b, "namespace", e->ns, true);
			mbuf_label(b, "rollout", e->name, false);
			mbuf_label(b, "phase", ro->phase, false);
			mbuf_printf(b, ",state=\"phase\"} 1\n");
		} else {
			const struct k8s_rollout_weight *w[2] = { &ro->canary_weight, &ro->stable_weight };

			for (int i = 0; i < 2; i++) {
				if (!w[i]->present)
					continue;
				mbuf_printf(b, "bpfsplit_agent_rollout_weight{");
				mbuf_label(b, "namespace", e->ns, true);
				mbuf_label(b, "rollout", e->name, false);
				mbuf_printf(b, ",role=\"%s\"} %d\n", i ? "stable" : "canary", w[i]->weight);
			}
		}
	}
}

static void publish_metrics_now(struct agent *a, const struct desired *d);

void agent_publish_metrics(struct agent *a, const struct desired *d)
{
	uint64_t t0 = mono_ns();

	publish_metrics_now(a, d);
	a->metrics_at_ns = t0;
	a->metrics_cost_ns = mono_ns() - t0;
}

/* A refresh is due: every METRICS_EVERY_NS, or sooner after writes (wrote), never more
 * often than METRICS_COST_FACTOR x its cost. */
bool agent_metrics_due(const struct agent *a, uint64_t now, bool wrote)
{
	uint64_t gap = a->metrics_cost_ns * METRICS_COST_FACTOR;

	if (now < a->metrics_at_ns + gap)
		return false;
	return wrote || now >= a->next_metrics_ns;
}

static void publish_metrics_now(struct agent *a, const struct desired *d)
{
	struct mbuf b = { 0 };
	struct kube_client_stats ks = { 0 };
	size_t per_reason[DR_NREASONS] = { 0 };
	char classes[512] = "";

	for (size_t i = 0, off = 0; i < a->f.n_classes && off < sizeof(classes); i++)
		off += (size_t)snprintf(classes + off, sizeof(classes) - off, "%s%s", i ? "," : "", a->f.classes[i]);
	mbuf_printf(&b, "# HELP bpfsplit_agent_info The agent and how it runs.\n# TYPE bpfsplit_agent_info gauge\n"
			"bpfsplit_agent_info{");
	mbuf_label(&b, "version", BPFSPLIT_VERSION, true);
	mbuf_label(&b, "node", a->node, false);
	mbuf_label(&b, "weights_from", a->f.weights_from == WEIGHTS_FROM_ROLLOUT ? "rollout" : "httproute", false);
	mbuf_label(&b, "gateway_classes", classes, false);
	mbuf_label(&b, "pin_root", a->f.pin_root, false);
	mbuf_label(&b, "dry_run", a->f.dry_run ? "true" : "false", false);
	mbuf_printf(&b, "} 1\n");
	mbuf_printf(&b, "# HELP bpfsplit_agent_synced 1 once every watched type has been listed.\n"
			"# TYPE bpfsplit_agent_synced gauge\nbpfsplit_agent_synced %d\n", a->synced);
	mbuf_printf(&b, "# HELP bpfsplit_agent_ready 1 once the first full pass has brought the maps to the "
			"desired state and every configured attachment is in force.\n# TYPE bpfsplit_agent_ready "
			"gauge\nbpfsplit_agent_ready %d\n", a->ready_published);
	attach_render(&a->f.at, &b);

	mbuf_printf(&b, "# HELP bpfsplit_agent_watch_stale_seconds How long the least current watched type has "
			"gone without a working watch (0: all current).\n# TYPE bpfsplit_agent_watch_stale_seconds gauge\n"
			"bpfsplit_agent_watch_stale_seconds %.3f\n", (double)a->stale_ms / 1000.0);
	mbuf_printf(&b, "# HELP bpfsplit_agent_cache_objects Objects cached, by kind.\n"
			"# TYPE bpfsplit_agent_cache_objects gauge\n");
	for (int k = 0; k < CACHE_NKINDS; k++)
		if (a->idx_of[k] >= 0)
			mbuf_printf(&b, "bpfsplit_agent_cache_objects{kind=\"%s\"} %zu\n", cache_kind_name(k),
				    cache_count(a->cache, k));
	mbuf_printf(&b, "# HELP bpfsplit_agent_resource_unavailable 1 when a type cannot be listed (CRD missing, "
			"forbidden).\n# TYPE bpfsplit_agent_resource_unavailable gauge\n");
	for (int k = 0; k < CACHE_NKINDS; k++)
		if (a->idx_of[k] >= 0)
			mbuf_printf(&b, "bpfsplit_agent_resource_unavailable{kind=\"%s\"} %d\n", cache_kind_name(k),
				    a->unavailable[k]);
	mbuf_printf(&b, "# HELP bpfsplit_agent_kube_events_total Objects received (list items and watch events).\n"
			"# TYPE bpfsplit_agent_kube_events_total counter\n");
	for (int k = 0; k < CACHE_NKINDS; k++) {
		if (a->idx_of[k] < 0)
			continue;
		mbuf_printf(&b, "bpfsplit_agent_kube_events_total{kind=\"%s\",type=\"upsert\"} %llu\n", cache_kind_name(k),
			    (unsigned long long)a->events[k][EV_UPSERT]);
		mbuf_printf(&b, "bpfsplit_agent_kube_events_total{kind=\"%s\",type=\"delete\"} %llu\n", cache_kind_name(k),
			    (unsigned long long)a->events[k][EV_DELETE]);
	}
	mbuf_printf(&b, "# HELP bpfsplit_agent_objects_rejected_total Object versions that did not parse (the last "
			"good one stays).\n# TYPE bpfsplit_agent_objects_rejected_total counter\n");
	for (int k = 0; k < CACHE_NKINDS; k++)
		if (a->idx_of[k] >= 0)
			mbuf_printf(&b, "bpfsplit_agent_objects_rejected_total{kind=\"%s\"} %llu\n", cache_kind_name(k),
				    (unsigned long long)a->rejected[k]);
	if (a->kc)
		kube_client_get_stats(a->kc, &ks);
	mbuf_printf(&b,
		    "# HELP bpfsplit_agent_kube_requests_total Kubernetes client activity.\n"
		    "# TYPE bpfsplit_agent_kube_requests_total counter\n"
		    "bpfsplit_agent_kube_requests_total{type=\"list\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"watch\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"relist_410\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"reconnect\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"error\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"throttled_429\"} %llu\n"
		    "bpfsplit_agent_kube_requests_total{type=\"token_reload\"} %llu\n",
		    (unsigned long long)ks.lists, (unsigned long long)ks.watches, (unsigned long long)ks.relists_410,
		    (unsigned long long)ks.reconnects, (unsigned long long)ks.errors,
		    (unsigned long long)ks.throttled_429, (unsigned long long)ks.token_reloads);

	mbuf_printf(&b, "# HELP bpfsplit_agent_reconcile_passes_total Reconcile passes.\n"
			"# TYPE bpfsplit_agent_reconcile_passes_total counter\nbpfsplit_agent_reconcile_passes_total %llu\n",
		    (unsigned long long)a->passes);
	mbuf_printf(&b, "# HELP bpfsplit_agent_frontend_writes_total Frontend writes to the maps.\n"
			"# TYPE bpfsplit_agent_frontend_writes_total counter\n"
			"bpfsplit_agent_frontend_writes_total{result=\"applied\"} %llu\n"
			"bpfsplit_agent_frontend_writes_total{result=\"removed\"} %llu\n"
			"bpfsplit_agent_frontend_writes_total{result=\"failed\"} %llu\n",
		    (unsigned long long)a->writes_applied, (unsigned long long)a->writes_removed,
		    (unsigned long long)a->writes_failed);
	mbuf_printf(&b, "# HELP bpfsplit_agent_frontends Frontends after the last pass.\n"
			"# TYPE bpfsplit_agent_frontends gauge\n"
			"bpfsplit_agent_frontends{state=\"desired\"} %zu\n"
			"bpfsplit_agent_frontends{state=\"last_good_kept\"} %zu\n"
			"bpfsplit_agent_frontends{state=\"owned\"} %zu\n"
			"bpfsplit_agent_frontends{state=\"not_owned_seen_at_start\"} %zu\n",
		    a->last.desired, a->last.blocked, a->last.owned, a->not_owned_at_start);
	mbuf_printf(&b, "# HELP bpfsplit_agent_status_writes_total HTTPRoute status patches.\n"
			"# TYPE bpfsplit_agent_status_writes_total counter\n"
			"bpfsplit_agent_status_writes_total{result=\"ok\"} %llu\n"
			"bpfsplit_agent_status_writes_total{result=\"error\"} %llu\n",
		    (unsigned long long)a->status_ok, (unsigned long long)a->status_err);

	if (d) {
		for (size_t i = 0; i < d->n_pr; i++)
			per_reason[d->pr[i].reason]++;
		mbuf_printf(&b, "# HELP bpfsplit_agent_problems Problems found in the objects, by reason.\n"
				"# TYPE bpfsplit_agent_problems gauge\n");
		for (int r = 0; r < DR_NREASONS; r++)
			mbuf_printf(&b, "bpfsplit_agent_problems{reason=\"%s\"} %zu\n", desired_reason_name(r),
				    per_reason[r]);
		mbuf_printf(&b, "# HELP bpfsplit_agent_group_weight Weight of each group of each desired frontend "
				"(last_good: the frontend keeps its last good split).\n"
				"# TYPE bpfsplit_agent_group_weight gauge\n");
		render_frontends(a, &b, d, SM_WEIGHT);
		mbuf_printf(&b, "# HELP bpfsplit_agent_group_backends Backends of each group, by state.\n"
				"# TYPE bpfsplit_agent_group_backends gauge\n");
		render_frontends(a, &b, d, SM_READY);
		render_frontends(a, &b, d, SM_DRAINING);
	}

	mbuf_printf(&b, "# HELP bpfsplit_agent_rollout_step Argo Rollout: current step index and step count.\n"
			"# TYPE bpfsplit_agent_rollout_step gauge\n");
	render_rollouts(a, &b, 0);
	mbuf_printf(&b, "# HELP bpfsplit_agent_rollout_state Argo Rollout: paused, aborted, phase (1 = true).\n"
			"# TYPE bpfsplit_agent_rollout_state gauge\n");
	render_rollouts(a, &b, 1);
	mbuf_printf(&b, "# HELP bpfsplit_agent_rollout_weight Argo Rollout: status.canary.weights.\n"
			"# TYPE bpfsplit_agent_rollout_weight gauge\n");
	render_rollouts(a, &b, 2);
	hist_render(&b, "bpfsplit_agent_event_to_map_seconds",
		    "From receipt of the first watch event of a batch to the return of each map write it caused.",
		    &a->event_to_map);
	hist_render(&b, "bpfsplit_agent_reconcile_seconds",
		    "One reconcile pass: desired state, diff, writes (status writes are asynchronous).",
		    &a->pass_seconds);
	health_publish_roles(a);
	if (!b.oom)
		metrics_publish(a->m, b.s ? b.s : "");
	mbuf_free(&b);
}

/* Data-path counters, at scrape time, from the metrics thread (own pinned handle). */
static const struct {
	const char *name, *help;
} fe_families[] = {
	{ "bpfsplit_frontend_packets_total", "Data path: packets forwarded per frontend." },
	{ "bpfsplit_frontend_bytes_total", "Data path: bytes forwarded per frontend (L3 and up)." },
	{ "bpfsplit_frontend_new_connections_total", "Data path: connections chosen per frontend." },
	{ "bpfsplit_frontend_rejected_total", "Data path: new connections refused per frontend." },
};

struct scrape_ctx {
	struct mbuf *b;
	struct bs_dp *dp;
	int family;
};

static int scrape_fe(const struct bs_frontend_key *key, const struct bs_frontend *val, void *ctx)
{
	struct scrape_ctx *s = ctx;
	struct bs_counters c;
	__u64 v;
	char fe[80];

	if (bs_dp_frontend_counters(s->dp, val->id, &c))
		return 0;
	v = s->family == 0 ? c.packets : s->family == 1 ? c.bytes : s->family == 2 ? c.new_conns : c.rejected;
	dp_key_str(key, fe, sizeof(fe));
	mbuf_printf(s->b, "%s{frontend=\"%s\"} %llu\n", fe_families[s->family].name, fe, (unsigned long long)v);
	return 0;
}

void agent_scrape_datapath(void *ctx, struct mbuf *b)
{
	struct agent *a = ctx;
	struct scrape_ctx s = { b, NULL, 0 };
	__u64 reasons[BS_R_MAX];

	if (!a->scrape_dp && bs_dp_open_pinned_ro(a->f.pin_root, &a->scrape_dp)) {
		a->scrape_dp = NULL;
		return;
	}
	s.dp = a->scrape_dp;
	for (s.family = 0; s.family < 4; s.family++) {
		mbuf_printf(b, "# HELP %s %s\n# TYPE %s counter\n", fe_families[s.family].name, fe_families[s.family].help,
			    fe_families[s.family].name);
		bs_dp_for_each_frontend(s.dp, scrape_fe, &s);
	}
	if (!bs_dp_reason_counters(s.dp, reasons)) {
		mbuf_printf(b, "# HELP bpfsplit_datapath_packets_total Data path: packets by verdict reason.\n"
			       "# TYPE bpfsplit_datapath_packets_total counter\n");
		for (int r = 1; r < BS_R_MAX; r++)
			mbuf_printf(b, "bpfsplit_datapath_packets_total{reason=\"%s\"} %llu\n", bs_reason_name(r),
				    (unsigned long long)reasons[r]);
	}
	health_scrape(s.dp, a->f.metrics_per_backend, b);
}
