// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit-agent: watch the Kubernetes API and keep the BPF maps equal to what the
 * cluster says. One thread runs everything that touches state (the libcurl event loop,
 * the cache, the reconciler, status writes); libmicrohttpd serves /metrics, /healthz and
 * /readyz from its own thread out of a snapshot the loop publishes.
 *
 * The loop: watch events update the cache and mark the state dirty; once every type has
 * been listed, a dirty state is reconciled: the desired frontends are computed from the
 * whole cache, diffed against the maps and only the difference written, each frontend
 * atomically. Events that arrive together (delivered by one pass of the client's loop,
 * which returns as soon as it delivered any) are one batch: one pass, at most one write
 * per frontend. LOOP_TICK_MS bounds how long the loop sleeps when nothing happens.
 *
 * Latency: the time from receipt of a batch's first watch event by this process to the
 * return of the map write it caused is logged with every write (event_to_map_us) and
 * kept as the histogram bpfsplit_agent_event_to_map_seconds. The API server's own delay
 * before the event reaches us is not included (managedFields times have 1 s resolution).
 *
 * On SIGTERM/SIGINT the agent stops; the data path keeps forwarding: nothing is
 * unpinned or detached.
 *
 * Files, one concern each: flags.c (command line), setup.c (API config, data path,
 * watches), kinds.c (one descriptor per Kubernetes kind), events.c (watch events into
 * the cache), loop.c (the loop and one pass), status_queue.c (route status writes),
 * reports.c (problem and rollout logs), agent_metrics.c (/metrics text). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "log.h"

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static const double latency_bounds[] = { 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5 };
static const double pass_bounds[] = { 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5 };

int main(int argc, char **argv)
{
	static struct agent agent;
	struct agent *a = &agent;
	struct kube_client_opts ko = { 0 };
	struct sigaction sa = { 0 };
	int rc, status = 1;

	rc = parse_flags(argc, argv, &a->f);
	if (rc)
		return rc == 1 ? 0 : rc;
	bs_log_set_level(a->f.verbose ? BS_LOG_DEBUG : BS_LOG_INFO);
	bs_log_capture_libbpf();
	agent_node_name(a);
	hist_init(&a->event_to_map, latency_bounds, sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	hist_init(&a->pass_seconds, pass_bounds, sizeof(pass_bounds) / sizeof(pass_bounds[0]));
	for (int k = 0; k < CACHE_NKINDS; k++)
		a->idx_of[k] = -1;

	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	for (size_t i = 0; i < a->f.n_classes; i++)
		a->dopts.gateway_classes[i] = a->f.classes[i];
	a->dopts.n_gateway_classes = a->f.n_classes;
	a->dopts.weights_from = a->f.weights_from;
	a->dopts.default_affinity = a->f.default_affinity;
	a->dopts.drain_timeout_ns = a->f.drain_timeout_ns;
	a->dopts.endpoint_grace_ns = a->f.endpoint_grace_ns;
	a->dopts.l7_details_refuse = a->f.l7_details_refuse;

	bs_info("msg=\"starting\" version=%s node=%s weights_from=%s gateway_classes=%zu pin_root=%s drain_timeout_s=%llu "
		"dry_run=%d",
		BPFSPLIT_VERSION, a->node, a->f.weights_from == WEIGHTS_FROM_ROLLOUT ? "rollout" : "httproute",
		a->f.n_classes, a->f.pin_root, (unsigned long long)(a->f.drain_timeout_ns / SEC_NS), a->f.dry_run);
	if (a->f.weights_from == WEIGHTS_FROM_HTTPROUTE && !a->f.n_classes)
		bs_info("msg=\"no --gateway-class: Gateway parents are not served; Service parents and the "
			"bpfsplit.io/frontends annotation still give frontends\"");

	a->cache = cache_new();
	if (!a->cache)
		goto out;
	if (agent_load_config(a))
		goto out;
	if (strcmp(a->f.metrics_addr, "off") && strcmp(a->f.metrics_addr, "")) {
		if (metrics_start(a->f.metrics_addr, &a->m))
			goto out;
		metrics_set_ready(a->m, false, "waiting for the first list of every type");
		metrics_heartbeat(a->m, mono_ns(), HEALTH_TIMEOUT_NS);
		if (!a->f.dry_run)
			metrics_set_scrape(a->m, agent_scrape_datapath, a);
		if (a->f.ui && !a->f.dry_run)
			metrics_set_page(a->m, agent_ui_page, a);
		bs_info("msg=\"serving /metrics, /healthz, /readyz\" addr=%s port=%u", a->f.metrics_addr,
			metrics_port(a->m));
	}
	if (agent_open_datapath(a))
		goto out;
	if (reconciler_new(a->w, &a->rec))
		goto out;
	if (grace_start(&a->grace))
		bs_warn("msg=\"freeing retired entries waits on the loop\"");
	ko.config = &a->cfg;
	ko.backoff_max_ms = (int)(a->f.api_backoff_max_ns / 1000000);
	rc = kube_client_new(&ko, &a->kc);
	if (rc) {
		bs_err("msg=\"cannot set up the Kubernetes client\" server=%s err=%s", a->cfg.server ? a->cfg.server : "",
		       strerror(-rc));
		goto out;
	}
	if (agent_watch_types(a))
		goto out;
	bs_info("msg=\"watching\" server=%s", a->cfg.server ? a->cfg.server : "");
	agent_publish_metrics(a, NULL);

	agent_loop(a, &stop_signal);
	bs_info("msg=\"stopping: the data path keeps forwarding (maps stay pinned, links attached)\" signal=%d",
		(int)stop_signal);
	status = 0;
out:
	a->stopping = true;
	kube_client_free(a->kc);
	metrics_stop(a->m);
	if (a->scrape_dp)
		bs_dp_close(a->scrape_dp);
	reconciler_free(a->rec);
	if (a->w)
		a->w->destroy(a->w);
	grace_stop(a->grace);
	bs_dp_close(a->dp); /* closes fds, frees what was retired; unpins nothing */
	cache_free(a->cache);
	if (a->have_cur)
		desired_free(&a->cur);
	str_clear(&a->affected);
	str_clear(&a->status_queue);
	str_clear(&a->problems);
	str_clear(&a->status_sent);
	str_clear(&a->rollouts_seen);
	k8s_config_free(&a->cfg);
	return status;
}

