/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's command line: what it serves, how it reaches the API, where the maps are. */
#ifndef BS_AGENT_FLAGS_H
#define BS_AGENT_FLAGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "bpfsplit.h"
#include "desired.h"

/* Defaults of the flags (seconds). */
#define DEFAULT_DRAIN_TIMEOUT_S 300
#define DEFAULT_RESYNC_S 60
#define MAX_ATTACH 32

struct attach_req {
	char ifname[32];
	enum bs_entry entry;
	bool auto_ingress; /* from --interfaces: the ingress entry chosen by driver */
};

struct flags {
	const char *kubeconfig, *server, *token_file, *ca_file, *context, *pin_root, *metrics_addr, *node_name;
	const char *classes[DESIRED_MAX_CLASSES];
	size_t n_classes;
	enum weights_from weights_from;
	uint64_t drain_timeout_ns, resync_ns;
	uint8_t default_affinity;
	struct attach_req attach[MAX_ATTACH];
	size_t n_attach;
	enum bs_xdp_mode xdp_mode;
	bool dry_run, write_status;
	int verbose;
};

/* 0: go on; 1: exit 0 (help or version printed); >1: exit with that status (usage error). */
int parse_flags(int argc, char **argv, struct flags *f);
/* "300", "300s", "5m", "1h", "1500ms" -> ns. 0 or -EINVAL. */
int parse_duration_ns(const char *s, uint64_t *out);

#endif
