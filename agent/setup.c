// SPDX-License-Identifier: BSD-2-Clause
/* Set-up: the API's configuration, the data path, the watches, the node's name. */
#include "agent.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <unistd.h>

#include "kinds.h"
#include "log.h"
#include "sizes.h"

int agent_load_config(struct agent *a)
{
	const struct flags *f = &a->f;
	char err[768], path[PATH_MAX];
	int rc;

	if (f->server) {
		a->cfg.server = strdup(f->server);
		if (!a->cfg.server)
			return -ENOMEM;
		/* drop a trailing "/" like the kubeconfig loader does */
		size_t n = strlen(a->cfg.server);
		if (n > 1 && a->cfg.server[n - 1] == '/')
			a->cfg.server[n - 1] = '\0';
		a->cfg.ns = strdup("default");
	} else if (f->kubeconfig) {
		rc = k8s_kubeconfig_load(f->kubeconfig, f->context, &a->cfg, err, sizeof(err));
		if (rc) {
			bs_err("msg=\"cannot load kubeconfig\" err=\"%s\"", err);
			return rc;
		}
	} else if (getenv("KUBERNETES_SERVICE_HOST")) {
		rc = k8s_incluster_load(NULL, NULL, NULL, &a->cfg, err, sizeof(err));
		if (rc) {
			bs_err("msg=\"cannot load in-cluster config\" err=\"%s\"", err);
			return rc;
		}
	} else {
		rc = k8s_kubeconfig_default_path(path, sizeof(path));
		if (rc) {
			bs_err("msg=\"no Kubernetes API to talk to\" hint=\"use --kubeconfig, --server, or run in a pod\"");
			return rc;
		}
		rc = k8s_kubeconfig_load(path, f->context, &a->cfg, err, sizeof(err));
		if (rc) {
			bs_err("msg=\"cannot load kubeconfig\" err=\"%s\"", err);
			return rc;
		}
	}
	if (f->token_file) {
		free(a->cfg.token_file);
		a->cfg.token_file = strdup(f->token_file);
		if (!a->cfg.token_file)
			return -ENOMEM;
	}
	if (f->ca_file) {
		free(a->cfg.ca_file);
		free(a->cfg.ca_data.data);
		a->cfg.ca_data.data = NULL;
		a->cfg.ca_data.len = 0;
		a->cfg.ca_file = strdup(f->ca_file);
		if (!a->cfg.ca_file)
			return -ENOMEM;
	}
	return 0;
}

int agent_open_datapath(struct agent *a)
{
	struct bs_dp_opts o = a->f.sizes;
	int rc;

	o.pin_root = a->f.pin_root;
	o.claim_agent = true; /* one agent per pin root */
	/* Health per backend only when it is exported: per-CPU entries are costly on big nodes. */
	o.no_backend_health = !a->f.metrics_per_backend;
	if (a->f.dry_run) {
		bs_info("msg=\"dry run: no map is written\"");
		return dp_writer_mem_new(&a->w);
	}
	rc = bs_dp_open(&o, &a->dp);
	if (rc) {
		/* The library logged why (refused load: which capability, seccomp, lockdown, memory). */
		bs_err("msg=\"cannot open the data path\" pin_root=%s err=%s hint=\"%s\"", a->f.pin_root,
		       strerror(-rc),
		       rc == -ENOMEM ? "map sizes and the memory limit: docs/deploy.md"
				     : "see the reason logged above; --dry-run needs no data path");
		return rc;
	}
	sizes_report(a->dp, &o);
	/* Attach what can be now; what cannot is retried every second and keeps /readyz
	 * not ready meanwhile. */
	attach_sync(&a->f.at, a->dp, a->f.xdp_mode);
	return dp_writer_bpf_new(a->dp, &a->w);
}

int agent_watch_types(struct agent *a)
{
	bool want[CACHE_NKINDS] = { false };

	want[CACHE_SERVICE] = want[CACHE_ENDPOINTSLICE] = want[CACHE_ROLLOUT] = true;
	if (a->f.weights_from == WEIGHTS_FROM_HTTPROUTE) {
		want[CACHE_HTTPROUTE] = want[CACHE_GRPCROUTE] = want[CACHE_TCPROUTE] = want[CACHE_TLSROUTE] = true;
		want[CACHE_REFERENCEGRANT] = true;
		/* Gateways, and Namespaces for listeners that select namespaces by label. */
		want[CACHE_GATEWAY] = want[CACHE_NAMESPACE] = a->f.n_classes > 0;
	}
	for (int k = 0; k < CACHE_NKINDS; k++) {
		int idx;

		a->idx_of[k] = -1;
		if (!want[k])
			continue;
		idx = kube_client_watch(a->kc, &kind_desc(k)->res, agent_on_event, a);
		if (idx < 0) {
			bs_err("msg=\"cannot watch\" resource=%s err=%s", kind_desc(k)->res.plural, strerror(-idx));
			return idx;
		}
		if (idx >= CACHE_NKINDS)
			return -ERANGE;
		a->idx_of[k] = idx;
		a->kind_of[idx] = (enum cache_kind)k;
	}
	return 0;
}

void agent_node_name(struct agent *a)
{
	const char *n = a->f.node_name ? a->f.node_name : getenv("NODE_NAME");

	if (n && n[0])
		snprintf(a->node, sizeof(a->node), "%s", n);
	else if (gethostname(a->node, sizeof(a->node) - 1))
		snprintf(a->node, sizeof(a->node), "unknown");
}
