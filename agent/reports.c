// SPDX-License-Identifier: BSD-2-Clause
/* Logs of what changed in the cluster's objects: a problem when it appears and when it
 * goes, a Rollout when it moves (step, pause, abort, phase, weights). */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

void report_problems(struct agent *a, const struct desired *d)
{
	struct str_entry *now_set = NULL, *e, *tmp;
	char q[800];

	for (size_t i = 0; i < d->n_pr; i++) {
		const struct desired_problem *p = &d->pr[i];

		str_set(&now_set, p->msg, "");
		if (str_get(a->problems, p->msg))
			continue;
		a->problems_reported++;
		bs_log(p->reason == DR_RULE_SKIPPED || p->reason == DR_RULE_SHADOWED ? BS_LOG_INFO : BS_LOG_WARN,
		       "msg=\"%s\" kind=%s object=%s reason=%s effect=\"%s\" err=\"%s\"",
		       p->blocking ? "object problem; affected frontends keep their last good split"
				   : "object problem",
		       cache_kind_name(p->kind), p->owner, desired_reason_name(p->reason),
		       p->blocking ? "last good split kept" : p->reason == DR_RULE_SKIPPED ? "rule skipped" : "reported",
		       qv(q, sizeof(q), p->msg));
	}
	HASH_ITER(hh, a->problems, e, tmp) {
		if (!str_get(now_set, e->key))
			bs_info("msg=\"object problem resolved\" err=\"%s\"", qv(q, sizeof(q), e->key));
	}
	str_clear(&a->problems);
	a->problems = now_set;
}

/* ---- rollouts: one log line when a Rollout moves (step, pause, abort, phase, weights) ---- */

void report_rollouts(struct agent *a)
{
	const struct cache_entry *e;
	char now[256];

	cache_for_each(a->cache, CACHE_ROLLOUT, e) {
		const struct k8s_rollout *ro = e->good.rollout;
		const struct str_entry *was;

		if (!e->has_good || !ro->is_canary)
			continue;
		snprintf(now, sizeof(now), "step=%d/%zu phase=%s paused=%s aborted=%s canary_weight=%d stable_weight=%d",
			 ro->has_current_step ? ro->current_step : -1, ro->n_steps, ro->phase[0] ? ro->phase : "-",
			 ro->n_pause_conditions || ro->controller_pause ? "true" : "false", ro->abort ? "true" : "false",
			 ro->canary_weight.present ? ro->canary_weight.weight : -1,
			 ro->stable_weight.present ? ro->stable_weight.weight : -1);
		was = str_get(a->rollouts_seen, e->key);
		if (was && was->val && !strcmp(was->val, now))
			continue;
		bs_info("msg=\"rollout\" rollout=%s %s stable=%s canary=%s httproutes=%zu", e->key, now,
			ro->stable_service[0] ? ro->stable_service : "-", ro->canary_service[0] ? ro->canary_service : "-",
			ro->n_routes);
		str_set(&a->rollouts_seen, e->key, now);
	}
}
