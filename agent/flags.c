// SPDX-License-Identifier: BSD-2-Clause
/* The agent's flags: parsing, checks, --help. */
#include "flags.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sizes.h"

#ifndef BPFSPLIT_VERSION
#define BPFSPLIT_VERSION "0.1.0"
#endif

#define SEC_NS 1000000000ull

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: bpfsplit-agent [OPTIONS]\n"
		"\n"
		"Watch HTTPRoutes, Gateways, Rollouts, Services and EndpointSlices and keep the pinned\n"
		"bpfsplit maps equal to what the cluster says: per connection, new connections to a\n"
		"frontend are split between the stable and canary backends by the route's weights.\n"
		"\n"
		"Kubernetes API (first that applies: --server, --kubeconfig, in-cluster, ~/.kube/config):\n"
		"  --kubeconfig FILE       kubeconfig to read (default: $KUBECONFIG, ~/.kube/config)\n"
		"  --context NAME          kubeconfig context (default: its current-context)\n"
		"  --server URL            API server URL, e.g. https://10.96.0.1:443 (skips kubeconfig)\n"
		"  --token-file FILE       bearer token file, re-read when it changes (rotation)\n"
		"  --ca-file FILE          CA bundle to verify the API server (TLS is always verified)\n"
		"  --api-backoff-max DUR   longest wait between retries of a failed list or watch (default\n"
		"                          %dms, jittered; the first answer after an outage makes every\n"
		"                          type retry at once). Raise it on very large clusters\n"
		"\n"
		"What to serve:\n"
		"  --gateway-class NAME    serve Gateways of this GatewayClass: their status.addresses x\n"
		"                          listener ports become frontends (repeatable, or comma-separated).\n"
		"                          Without it only Service parents (mesh pattern) and the\n"
		"                          bpfsplit.io/frontends annotation give frontends\n"
		"  --weights-from SRC      httproute (default): HTTPRoute backendRef weights drive the\n"
		"                          split; rollout: a Rollout's status.canary.weights drive the\n"
		"                          frontends named by its bpfsplit.io/frontends annotation\n"
		"  --affinity MODE         default per-connection hash when a route has no\n"
		"                          bpfsplit.io/affinity annotation: connection (5-tuple,\n"
		"                          default) or client (client address only)\n"
		"  --drain-timeout DUR     how long an endpoint that vanished from its EndpointSlices\n"
		"                          stays a draining backend before it is forgotten (default %ds;\n"
		"                          e.g. 300, 90s, 5m). Terminating endpoints drain as long as\n"
		"                          their slices list them\n"
		"  --resync DUR            this often, read the maps back (split, thresholds, tables,\n"
		"                          backend slots), repair what differs from what was written,\n"
		"                          and rewrite every frontend that differs from the cluster\n"
		"                          (default %ds)\n"
		"  --endpoint-grace DUR    a weighted group that loses every ready endpoint keeps its last\n"
		"                          ready ones for new connections this long, to bridge a selector\n"
		"                          switch (default %dms; 0 disables); then its share is refused\n"
		"  --l7-details MODE       report (default): timeouts, retries and filters on the weighted\n"
		"                          rule are not enforced at L4, listed in the route status\n"
		"                          (bpfsplit.io/L7NotEnforced) and /metrics, and the weights are\n"
		"                          programmed; refuse: such a rule is skipped like an L7 match\n"
		"  --no-status             do not write route status (problems are still logged)\n"
		"\n"
		"Data path:\n"
		"  --pin-root DIR          bpffs folder of the pinned maps (default %s).\n"
		"                          Pinned maps are reused; existing connections are kept\n"
		"  --attach ENTRY:IFACE    attach an entry point (xdp, tc-ingress, tc-egress) to an\n"
		"                          interface and pin the link (repeatable). Optional: the\n"
		"                          bpfsplit CLI can attach too; links stay when the agent stops\n"
		"  --interfaces IF[,IF]    shorthand: on each, the ingress entry its driver calls for\n"
		"                          (xdp on a wire, tc-ingress on veth/bridge...) and tc-egress.\n"
		"                          \"auto\": the uplink, the interface of the default route.\n"
		"                          Attachments are checked every second: a lost one is attached\n"
		"                          again; /readyz waits until all are in force\n"
		"  --max-conns N, --max-frontends N, --max-backends N, --max-tables N, --max-splits N,\n"
		"  --max-members N, --max-large-tables N\n"
		"                          map sizes when the maps are created (as bpfsplit dataplane\n"
		"                          load; pinned maps keep theirs). Their kernel memory is charged\n"
		"                          to this process's memory cgroup: see docs/deploy.md\n"
		"  --xdp-mode MODE         auto (default), native or generic\n"
		"  --dry-run               compute and log what would be written; write nothing: no map,\n"
		"                          no HTTPRoute status (no root)\n"
		"\n"
		"Operation:\n"
		"  --metrics-addr ADDR     listen address for /metrics, /healthz, /readyz (default :9090;\n"
		"                          HOST:PORT, [V6]:PORT, port 0 picks one; \"off\" disables)\n"
		"  --not-ready-after DUR   /readyz fails when no watch has been current for this long\n"
		"                          (default %ds; the data path keeps forwarding meanwhile)\n"
		"  --metrics-per-backend   also record (in the programs this agent loads) and export\n"
		"                          connection health per backend (bpfsplit_backend_*; one series\n"
		"                          set and one per-CPU map entry per backend: mind the cost)\n"
		"  --ui                    serve a live page of every frontend on the metrics port: /ui\n"
		"                          (and its data, /ui/data.json). Off by default\n"
		"  --node-name NAME        this node's name, for logs and metrics (default $NODE_NAME,\n"
		"                          else the host name)\n"
		"  -v, --verbose           debug log output, libbpf's included (default: info)\n"
		"  -h, --help              this help\n"
		"      --version           print the version\n"
		"\n"
		"Logs are one event per line, key=value. Each map write logs event_to_map_us: from\n"
		"the receipt of the watch event (first of its batch) to the return of the write;\n"
		"/metrics has it as the histogram bpfsplit_agent_event_to_map_seconds.\n"
		"\n"
		"Ownership: the agent removes only frontends it owns: those in its desired state whose\n"
		"spec it wrote or found in the maps, and only after every type has been listed once.\n"
		"Frontends written by the CLI (never desired) are left alone.\n"
		"\n"
		"Examples:\n"
		"  bpfsplit-agent --gateway-class agentgateway --interfaces eth0\n"
		"  bpfsplit-agent --kubeconfig ~/.kube/config --gateway-class agentgateway \\\n"
		"      --attach xdp:eth0 --attach tc-egress:eth0 --metrics-addr 127.0.0.1:9090 -v\n"
		"  bpfsplit-agent --weights-from rollout --dry-run --metrics-addr off\n",
		DEFAULT_API_BACKOFF_MAX_MS, DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_RESYNC_S, DEFAULT_ENDPOINT_GRACE_MS,
		BS_DEFAULT_PIN_ROOT,
		DEFAULT_STALE_AFTER_S);
}

int parse_duration_ns(const char *s, uint64_t *out)
{
	char *end;
	double v = strtod(s, &end);
	double mult = 1e9;

	if (end == s || v < 0)
		return -EINVAL;
	if (!strcmp(end, "") || !strcmp(end, "s"))
		mult = 1e9;
	else if (!strcmp(end, "ms"))
		mult = 1e6;
	else if (!strcmp(end, "m"))
		mult = 60e9;
	else if (!strcmp(end, "h"))
		mult = 3600e9;
	else
		return -EINVAL;
	if (v * mult > 1e18)
		return -EINVAL;
	*out = (uint64_t)(v * mult);
	return 0;
}

static int bad_flag(const char *flag, const char *val, const char *want)
{
	fprintf(stderr, "bpfsplit-agent: %s \"%s\": %s (see --help)\n", flag, val, want);
	return 2;
}

enum {
	OPT_KUBECONFIG = 256, OPT_SERVER, OPT_TOKEN_FILE, OPT_CA_FILE, OPT_CONTEXT, OPT_PIN_ROOT, OPT_GATEWAY_CLASS,
	OPT_WEIGHTS_FROM, OPT_INTERFACES, OPT_ATTACH, OPT_METRICS_ADDR, OPT_DRAIN_TIMEOUT, OPT_NODE_NAME,
	OPT_RESYNC, OPT_NO_STATUS, OPT_DRY_RUN, OPT_XDP_MODE, OPT_AFFINITY, OPT_VERSION, OPT_SIZE, OPT_PER_BACKEND,
	OPT_UI, OPT_ENDPOINT_GRACE, OPT_L7_DETAILS, OPT_NOT_READY_AFTER, OPT_API_BACKOFF_MAX,
};

int parse_flags(int argc, char **argv, struct flags *f)
{
	static const struct option opts[] = {
		{ "kubeconfig", required_argument, NULL, OPT_KUBECONFIG },
		{ "server", required_argument, NULL, OPT_SERVER },
		{ "token-file", required_argument, NULL, OPT_TOKEN_FILE },
		{ "ca-file", required_argument, NULL, OPT_CA_FILE },
		{ "context", required_argument, NULL, OPT_CONTEXT },
		{ "pin-root", required_argument, NULL, OPT_PIN_ROOT },
		{ "gateway-class", required_argument, NULL, OPT_GATEWAY_CLASS },
		{ "weights-from", required_argument, NULL, OPT_WEIGHTS_FROM },
		{ "interfaces", required_argument, NULL, OPT_INTERFACES },
		{ "attach", required_argument, NULL, OPT_ATTACH },
		{ "metrics-addr", required_argument, NULL, OPT_METRICS_ADDR },
		{ "drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT },
		{ "node-name", required_argument, NULL, OPT_NODE_NAME },
		{ "resync", required_argument, NULL, OPT_RESYNC },
		{ "no-status", no_argument, NULL, OPT_NO_STATUS },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "metrics-per-backend", no_argument, NULL, OPT_PER_BACKEND },
		{ "ui", no_argument, NULL, OPT_UI },
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "affinity", required_argument, NULL, OPT_AFFINITY },
		{ "endpoint-grace", required_argument, NULL, OPT_ENDPOINT_GRACE },
		{ "l7-details", required_argument, NULL, OPT_L7_DETAILS },
		{ "not-ready-after", required_argument, NULL, OPT_NOT_READY_AFTER },
		{ "api-backoff-max", required_argument, NULL, OPT_API_BACKOFF_MAX },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ "max-conns", required_argument, NULL, OPT_SIZE },
		{ "max-frontends", required_argument, NULL, OPT_SIZE },
		{ "max-backends", required_argument, NULL, OPT_SIZE },
		{ "max-tables", required_argument, NULL, OPT_SIZE },
		{ "max-splits", required_argument, NULL, OPT_SIZE },
		{ "max-members", required_argument, NULL, OPT_SIZE },
		{ "max-large-tables", required_argument, NULL, OPT_SIZE },
		{ 0 },
	};
	const char *want;
	int idx = 0;
	char *list, *save, *tok;
	int c;

	memset(f, 0, sizeof(*f));
	f->pin_root = BS_DEFAULT_PIN_ROOT;
	f->metrics_addr = ":9090";
	f->drain_timeout_ns = DEFAULT_DRAIN_TIMEOUT_S * SEC_NS;
	f->resync_ns = DEFAULT_RESYNC_S * SEC_NS;
	f->endpoint_grace_ns = DEFAULT_ENDPOINT_GRACE_MS * 1000000ull;
	f->stale_after_ns = DEFAULT_STALE_AFTER_S * SEC_NS;
	f->api_backoff_max_ns = DEFAULT_API_BACKOFF_MAX_MS * 1000000ull;
	f->write_status = true;
	f->default_affinity = BS_AFFINITY_CONNECTION;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", opts, &idx)) != -1) {
		switch (c) {
		case OPT_KUBECONFIG:
			f->kubeconfig = optarg;
			break;
		case OPT_SERVER:
			f->server = optarg;
			break;
		case OPT_TOKEN_FILE:
			f->token_file = optarg;
			break;
		case OPT_CA_FILE:
			f->ca_file = optarg;
			break;
		case OPT_CONTEXT:
			f->context = optarg;
			break;
		case OPT_PIN_ROOT:
			if (!optarg[0])
				return bad_flag("--pin-root", optarg, "expected a folder on a bpffs");
			f->pin_root = optarg;
			break;
		case OPT_GATEWAY_CLASS:
			list = optarg;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (f->n_classes >= DESIRED_MAX_CLASSES)
					return bad_flag("--gateway-class", tok, "too many classes (at most 8)");
				f->classes[f->n_classes++] = tok;
			}
			break;
		case OPT_WEIGHTS_FROM:
			if (!strcmp(optarg, "httproute"))
				f->weights_from = WEIGHTS_FROM_HTTPROUTE;
			else if (!strcmp(optarg, "rollout"))
				f->weights_from = WEIGHTS_FROM_ROLLOUT;
			else
				return bad_flag("--weights-from", optarg, "expected httproute or rollout");
			break;
		case OPT_INTERFACES:
			if (attach_add_interfaces(&f->at, optarg, &want))
				return bad_flag("--interfaces", optarg, want);
			break;
		case OPT_ATTACH:
			if (attach_add_spec(&f->at, optarg, &want))
				return bad_flag("--attach", optarg, want);
			break;
		case OPT_SIZE:
			if (sizes_parse(opts[idx].name, optarg, &f->sizes)) {
				char flag[32];

				snprintf(flag, sizeof(flag), "--%s", opts[idx].name);
				return bad_flag(flag, optarg, "expected a number of entries, 1..1073741824");
			}
			break;
		case OPT_METRICS_ADDR:
			f->metrics_addr = optarg;
			break;
		case OPT_DRAIN_TIMEOUT:
			if (parse_duration_ns(optarg, &f->drain_timeout_ns))
				return bad_flag("--drain-timeout", optarg, "expected a duration: 300, 90s, 5m, 1h");
			break;
		case OPT_RESYNC:
			if (parse_duration_ns(optarg, &f->resync_ns) || f->resync_ns < SEC_NS)
				return bad_flag("--resync", optarg, "expected a duration of at least 1s");
			break;
		case OPT_ENDPOINT_GRACE:
			if (parse_duration_ns(optarg, &f->endpoint_grace_ns) || f->endpoint_grace_ns > 600 * SEC_NS)
				return bad_flag("--endpoint-grace", optarg, "expected a duration of at most 10m: 5s, 1500ms, 0");
			break;
		case OPT_L7_DETAILS:
			if (!strcmp(optarg, "report"))
				f->l7_details_refuse = false;
			else if (!strcmp(optarg, "refuse"))
				f->l7_details_refuse = true;
			else
				return bad_flag("--l7-details", optarg, "expected report or refuse");
			break;
		case OPT_NOT_READY_AFTER:
			if (parse_duration_ns(optarg, &f->stale_after_ns) || f->stale_after_ns < SEC_NS)
				return bad_flag("--not-ready-after", optarg, "expected a duration of at least 1s");
			break;
		case OPT_API_BACKOFF_MAX:
			if (parse_duration_ns(optarg, &f->api_backoff_max_ns) || f->api_backoff_max_ns < 200 * 1000000ull ||
			    f->api_backoff_max_ns > 600 * SEC_NS)
				return bad_flag("--api-backoff-max", optarg, "expected a duration from 200ms to 10m");
			break;
		case OPT_NODE_NAME:
			f->node_name = optarg;
			break;
		case OPT_NO_STATUS:
			f->write_status = false;
			break;
		case OPT_DRY_RUN:
			f->dry_run = true; /* and no status write: see below */
			break;
		case OPT_PER_BACKEND:
			f->metrics_per_backend = true;
			break;
		case OPT_UI:
			f->ui = true;
			break;
		case OPT_XDP_MODE:
			if (!strcmp(optarg, "auto"))
				f->xdp_mode = BS_XDP_AUTO;
			else if (!strcmp(optarg, "native"))
				f->xdp_mode = BS_XDP_NATIVE;
			else if (!strcmp(optarg, "generic"))
				f->xdp_mode = BS_XDP_GENERIC;
			else
				return bad_flag("--xdp-mode", optarg, "expected auto, native or generic");
			break;
		case OPT_AFFINITY:
			if (!strcmp(optarg, "connection"))
				f->default_affinity = BS_AFFINITY_CONNECTION;
			else if (!strcmp(optarg, "client"))
				f->default_affinity = BS_AFFINITY_CLIENT;
			else
				return bad_flag("--affinity", optarg, "expected connection or client");
			break;
		case 'v':
			f->verbose++;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case OPT_VERSION:
			printf("bpfsplit-agent %s\n", BPFSPLIT_VERSION);
			return 1;
		default:
			fprintf(stderr, "bpfsplit-agent: unknown option or missing value: %s (see --help)\n",
				argv[optind - 1]);
			return 2;
		}
	}
	if (f->dry_run)
		f->write_status = false; /* a dry run writes nothing, route status included */
	if (optind < argc) {
		fprintf(stderr, "bpfsplit-agent: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return 2;
	}
	if (f->dry_run && f->at.n) {
		fprintf(stderr, "bpfsplit-agent: --dry-run touches no data path: drop --attach/--interfaces\n");
		return 2;
	}
	return 0;
}

