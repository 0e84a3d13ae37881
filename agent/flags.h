/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's command line: what it serves, how it reaches the API, where the maps are. */
#ifndef BS_AGENT_FLAGS_H
#define BS_AGENT_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "attach.h"
#include "bpfsplit.h"
#include "desired.h"

/* Defaults of the flags (seconds). */
#define DEFAULT_DRAIN_TIMEOUT_S 300
#define DEFAULT_RESYNC_S 60
#define DEFAULT_ENDPOINT_GRACE_MS 5000
#define DEFAULT_STALE_AFTER_S 60
#define DEFAULT_API_BACKOFF_MAX_MS 2000

struct flags {
	const char *kubeconfig, *server, *token_file, *ca_file, *context, *pin_root, *metrics_addr, *node_name;
	const char *classes[DESIRED_MAX_CLASSES];
	size_t n_classes;
	enum weights_from weights_from;
	uint64_t drain_timeout_ns, resync_ns;
	uint64_t endpoint_grace_ns;  /* --endpoint-grace */
	uint64_t stale_after_ns;     /* --not-ready-after: /readyz fails when no watch is current */
	bool l7_details_refuse;      /* --l7-details=refuse */
	uint64_t api_backoff_max_ns; /* --api-backoff-max */
	uint8_t default_affinity;
	struct attachments at;     /* --attach, --interfaces (attach.c) */
	struct bs_dp_opts sizes;   /* --max-* (sizes.c) */
	enum bs_xdp_mode xdp_mode;
	bool dry_run, write_status;
	bool metrics_per_backend; /* --metrics-per-backend: bpfsplit_backend_* series */
	bool ui;                  /* --ui: /ui and /ui/data.json on the metrics port */
	int verbose;
};

/* 0: go on; 1: exit 0 (help or version printed); >1: exit with that status (usage error). */
int parse_flags(int argc, char **argv, struct flags *f);
/* "300", "300s", "5m", "1h", "1500ms" -> ns. 0 or -EINVAL. */
int parse_duration_ns(const char *s, uint64_t *out);

#endif
