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
 * unpinned or detached. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "bpfsplit.h"
#include "cache.h"
#include "desired.h"
#include "dp_writer.h"
#include "k8s/kubeconfig.h"
#include "kube_client.h"
#include "log.h"
#include "metrics.h"
#include "reconcile.h"
#include "route_status.h"

#ifndef BPFSPLIT_VERSION
#define BPFSPLIT_VERSION "0.1.0"
#endif

#define SEC_NS 1000000000ull
#define MS_NS 1000000ull

/* How long one turn of the loop waits for the API (ms): the coalescing window, and the
 * upper bound of the delay between an event and the pass it triggers. */
#define LOOP_TICK_MS 50
/* Defaults of the flags (seconds). */
#define DEFAULT_DRAIN_TIMEOUT_S 300
#define DEFAULT_RESYNC_S 60
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
#define MAX_ATTACH 32

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * SEC_NS + (uint64_t)ts.tv_nsec;
}

static void rfc3339_now(char *buf, size_t len)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A value for a quoted log field: double quotes become single ones. */
static const char *qv(char *buf, size_t len, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < len; i++)
		buf[i] = s[i] == '"' ? '\'' : s[i] == '\n' ? ' ' : s[i];
	buf[i] = '\0';
	return buf;
}

/* ---- flags ---- */

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
		"  --resync DUR            read every frontend back from the maps this often and repair\n"
		"                          drift (default %ds)\n"
		"  --no-status             do not write HTTPRoute status (problems are still logged)\n"
		"\n"
		"Data path:\n"
		"  --pin-root DIR          bpffs folder of the pinned maps (default %s).\n"
		"                          Pinned maps are reused; existing connections are kept\n"
		"  --attach ENTRY:IFACE    attach an entry point (xdp, tc-ingress, tc-egress) to an\n"
		"                          interface and pin the link (repeatable). Optional: the\n"
		"                          bpfsplit CLI can attach too; links stay when the agent stops\n"
		"  --interfaces IF[,IF]    shorthand: on each, the ingress entry its driver calls for\n"
		"                          (xdp on a wire, tc-ingress on veth/bridge...) and tc-egress\n"
		"  --xdp-mode MODE         auto (default), native or generic\n"
		"  --dry-run               compute and log what would be written, touch no map (no root)\n"
		"\n"
		"Operation:\n"
		"  --metrics-addr ADDR     listen address for /metrics, /healthz, /readyz (default :9090;\n"
		"                          HOST:PORT, [V6]:PORT, port 0 picks one; \"off\" disables)\n"
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
		DEFAULT_DRAIN_TIMEOUT_S, DEFAULT_RESYNC_S, BS_DEFAULT_PIN_ROOT);
}

/* "300", "300s", "5m", "1h", "1500ms" -> ns. */
static int parse_duration_ns(const char *s, uint64_t *out)
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

static int add_attach(struct flags *f, const char *ifname, enum bs_entry entry, bool auto_ingress)
{
	struct attach_req *a;

	if (f->n_attach >= MAX_ATTACH || !ifname[0] || strlen(ifname) >= sizeof(a->ifname))
		return -EINVAL;
	a = &f->attach[f->n_attach++];
	snprintf(a->ifname, sizeof(a->ifname), "%s", ifname);
	a->entry = entry;
	a->auto_ingress = auto_ingress;
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
	OPT_RESYNC, OPT_NO_STATUS, OPT_DRY_RUN, OPT_XDP_MODE, OPT_AFFINITY, OPT_VERSION,
};

/* 0: go on; >0: exit with that status (help printed or usage error). */
static int parse_flags(int argc, char **argv, struct flags *f)
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
		{ "xdp-mode", required_argument, NULL, OPT_XDP_MODE },
		{ "affinity", required_argument, NULL, OPT_AFFINITY },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, OPT_VERSION },
		{ 0 },
	};
	char *list, *save, *tok;
	int c;

	memset(f, 0, sizeof(*f));
	f->pin_root = BS_DEFAULT_PIN_ROOT;
	f->metrics_addr = ":9090";
	f->drain_timeout_ns = DEFAULT_DRAIN_TIMEOUT_S * SEC_NS;
	f->resync_ns = DEFAULT_RESYNC_S * SEC_NS;
	f->write_status = true;
	f->default_affinity = BS_AFFINITY_CONNECTION;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "vh", opts, NULL)) != -1) {
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
			list = optarg;
			for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (add_attach(f, tok, BS_ENTRY_XDP, true) || add_attach(f, tok, BS_ENTRY_TC_EGRESS, false))
					return bad_flag("--interfaces", tok, "bad interface name or too many");
			}
			break;
		case OPT_ATTACH: {
			char *colon = strchr(optarg, ':');
			enum bs_entry entry;

			if (!colon)
				return bad_flag("--attach", optarg, "expected ENTRY:IFACE, e.g. xdp:eth0");
			*colon = '\0';
			if (bs_entry_parse(optarg, &entry)) {
				*colon = ':';
				return bad_flag("--attach", optarg, "entry must be xdp, tc-ingress or tc-egress");
			}
			if (add_attach(f, colon + 1, entry, false)) {
				*colon = ':';
				return bad_flag("--attach", optarg, "bad interface name or too many");
			}
			break;
		}
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
		case OPT_NODE_NAME:
			f->node_name = optarg;
			break;
		case OPT_NO_STATUS:
			f->write_status = false;
			break;
		case OPT_DRY_RUN:
			f->dry_run = true;
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
	if (optind < argc) {
		fprintf(stderr, "bpfsplit-agent: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return 2;
	}
	if (f->dry_run && f->n_attach) {
		fprintf(stderr, "bpfsplit-agent: --dry-run touches no data path: drop --attach/--interfaces\n");
		return 2;
	}
	return 0;
}

/* ---- the agent ---- */

struct str_entry {
	UT_hash_handle hh;
	char *key;
	char *val;
};

static void str_set(struct str_entry **h, const char *key, const char *val)
{
	struct str_entry *e;

	HASH_FIND_STR(*h, key, e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			return;
		}
		HASH_ADD_KEYPTR(hh, *h, e->key, strlen(e->key), e);
	}
	free(e->val);
	e->val = val ? strdup(val) : NULL;
}

static const struct str_entry *str_get(struct str_entry *h, const char *key)
{
	struct str_entry *e;

	HASH_FIND_STR(h, key, e);
	return e;
}

static void str_del(struct str_entry **h, const char *key)
{
	struct str_entry *e;

	HASH_FIND_STR(*h, key, e);
	if (!e)
		return;
	HASH_DEL(*h, e);
	free(e->key);
	free(e->val);
	free(e);
}

static void str_clear(struct str_entry **h)
{
	struct str_entry *e, *tmp;

	HASH_ITER(hh, *h, e, tmp) {
		HASH_DEL(*h, e);
		free(e->key);
		free(e->val);
		free(e);
	}
}

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
	struct reconciler *rec;
	struct metrics *m;
	struct desired_opts dopts;

	bool synced, ready, dirty, full, retry_pending;
	uint64_t batch_start_ns, next_full_ns, retry_at_ns, retry_backoff_ns, next_metrics_ns;

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

static const struct kube_resource resources[CACHE_NKINDS] = {
	[CACHE_HTTPROUTE] = { "gateway.networking.k8s.io", "v1", "httproutes" },
	[CACHE_GATEWAY] = { "gateway.networking.k8s.io", "v1", "gateways" },
	[CACHE_ROLLOUT] = { "argoproj.io", "v1alpha1", "rollouts" },
	[CACHE_SERVICE] = { "", "v1", "services" },
	[CACHE_ENDPOINTSLICE] = { "discovery.k8s.io", "v1", "endpointslices" },
};

static void mark_dirty(struct agent *a, uint64_t now, bool from_event)
{
	if (from_event && !a->batch_start_ns)
		a->batch_start_ns = now; /* the first event of the batch */
	a->dirty = true;
}

/* ---- affected routes: what a pass after watch events recomputes ---- */

static void affect_route(struct agent *a, const char *key)
{
	if (str_get(a->affected, key))
		return;
	str_set(&a->affected, key, NULL);
	a->n_affected++;
}

/* Routes that depend on object kind ns/name (a Service, its EndpointSlices, a Gateway). */
static void affect_dependents(struct agent *a, enum cache_kind kind, const char *ns, const char *name)
{
	const struct cache_entry *e;

	cache_for_each(a->cache, CACHE_HTTPROUTE, e)
		if (desired_route_depends(e, kind, ns, name))
			affect_route(a, e->key);
}

/* "ns/name" -> the routes of that Service. */
static void affect_service_key(struct agent *a, const char *svc_key)
{
	const char *slash = strchr(svc_key, '/');
	char ns[K8S_NS_MAX];

	if (!slash || !svc_key[0] || (size_t)(slash - svc_key) >= sizeof(ns))
		return;
	memcpy(ns, svc_key, (size_t)(slash - svc_key));
	ns[slash - svc_key] = '\0';
	affect_dependents(a, CACHE_SERVICE, ns, slash + 1);
}

/* What an object change touches, noted before (old version) and after it (new one). */
static void note_affected(struct agent *a, enum cache_kind k, const cJSON *obj)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "namespace"));
	const char *name = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(md, "name"));
	const struct cache_entry *e;
	char key[CACHE_KEY_MAX];

	if (!name)
		return;
	if (!ns)
		ns = "";
	switch (k) {
	case CACHE_HTTPROUTE:
		snprintf(key, sizeof(key), "%s/%s", ns, name);
		affect_route(a, key);
		break;
	case CACHE_SERVICE:
	case CACHE_GATEWAY:
		affect_dependents(a, k, ns, name);
		break;
	case CACHE_ENDPOINTSLICE:
		e = cache_get(a->cache, k, ns, name);
		if (e && e->has_good)
			affect_service_key(a, e->svc_key);
		break;
	case CACHE_ROLLOUT:
		e = cache_get(a->cache, k, ns, name);
		if (a->f.weights_from != WEIGHTS_FROM_HTTPROUTE) {
			a->desired_full = true;
		} else if (e && e->has_good) {
			for (size_t j = 0; j < e->good.rollout->n_routes; j++) {
				snprintf(key, sizeof(key), "%s/%s", e->good.rollout->route_ns, e->good.rollout->routes[j]);
				affect_route(a, key);
			}
		}
		break;
	default:
		a->desired_full = true;
		break;
	}
}

static void on_event(void *ctx, int idx, enum kube_event_kind kind, const cJSON *obj)
{
	struct agent *a = ctx;
	enum cache_kind k = a->kind_of[idx];
	uint64_t now = mono_ns();
	char err[768], q[768];
	int rc;

	switch (kind) {
	case KUBE_EV_RESYNC_BEGIN:
		cache_resync_begin(a->cache, k);
		a->unavailable[k] = false;
		break;
	case KUBE_EV_UPSERT:
		a->events[k][EV_UPSERT]++;
		if (a->synced)
			note_affected(a, k, obj); /* what the old version touched */
		rc = cache_upsert(a->cache, k, obj, now, err, sizeof(err));
		if (err[0]) {
			a->rejected[k]++;
			/* Routes and Rollouts: the pass reports it (once, with its effect) if ours. */
			bs_log(k == CACHE_HTTPROUTE || k == CACHE_ROLLOUT ? BS_LOG_DEBUG : BS_LOG_WARN,
			       "msg=\"object rejected; its last good version stays in force\" kind=%s err=\"%s\"",
			       cache_kind_name(k), qv(q, sizeof(q), err));
		}
		if (rc == -ENOMEM) {
			bs_err("msg=\"out of memory caching an object\" kind=%s", cache_kind_name(k));
			a->desired_full = true;
		}
		if (rc > 0) {
			if (a->synced)
				note_affected(a, k, obj); /* and what the new one touches */
			mark_dirty(a, now, true);
		}
		break;
	case KUBE_EV_DELETE:
		a->events[k][EV_DELETE]++;
		if (a->synced)
			note_affected(a, k, obj);
		if (cache_delete(a->cache, k, obj, now) > 0)
			mark_dirty(a, now, true);
		break;
	case KUBE_EV_RESYNC_END:
		if (cache_resync_end(a->cache, k, now) > 0) {
			a->desired_full = true; /* objects gone while the watch was down */
			mark_dirty(a, now, true);
		}
		break;
	case KUBE_EV_UNAVAILABLE:
		a->unavailable[k] = true;
		a->cache->unavailable[k] = true;
		break;
	}
}

/* ---- status writes ---- */

struct status_req {
	struct agent *a;
	char key[CACHE_KEY_MAX];
};

static void pump_statuses(struct agent *a, size_t max_checks);

static void status_done(void *ctx, int http_status, const char *err)
{
	struct status_req *r = ctx;
	struct agent *a = r->a;
	char q[512];

	if (a->status_in_flight)
		a->status_in_flight--;
	if (http_status >= 200 && http_status < 300 && !err) {
		a->status_ok++;
		bs_debug("msg=\"route status written\" httproute=%s", r->key);
	} else {
		a->status_err++;
		/* Forget what was sent: the next pass may try again (409: the route changed
		 * meanwhile and its event brings the next pass). */
		str_del(&a->status_sent, r->key);
		if (http_status == 409)
			bs_debug("msg=\"route status write conflicted; retried with the newer version\" httproute=%s",
				 r->key);
		else
			bs_warn("msg=\"cannot write route status\" httproute=%s http_status=%d err=\"%s\"%s", r->key,
				http_status, qv(q, sizeof(q), err ? err : ""),
				http_status == 403 ? " hint=\"grant update on httproutes/status\"" : "");
	}
	free(r);
	if (!a->stopping)
		pump_statuses(a, STATUS_CHECKS_PER_TURN); /* the slot is free: next one */
}

static bool status_wanted(const struct agent *a)
{
	return a->f.write_status && a->f.weights_from == WEIGHTS_FROM_HTTPROUTE && a->idx_of[CACHE_HTTPROUTE] >= 0;
}

/* Queue the status check of a route (once: the patch is computed when its turn comes). */
static void queue_status(struct agent *a, const char *key)
{
	if (!str_get(a->status_queue, key))
		str_set(&a->status_queue, key, NULL);
}

/* Start the status writes that are due, at most STATUS_MAX_IN_FLIGHT at once, looking at
 * no more than max_checks queued routes (most need no write). */
static void pump_statuses(struct agent *a, size_t max_checks)
{
	struct str_entry *q, *qtmp;
	const struct desired *d = &a->cur;
	char now[32] = "";

	if (!a->have_cur)
		return;
	HASH_ITER(hh, a->status_queue, q, qtmp) {
		const struct cache_entry *e;
		const struct desired_route *dr;
		const struct str_entry *sent;
		struct status_req *req;
		const char *slash = strchr(q->key, '/');
		char ns[K8S_NS_MAX], *patch = NULL;

		if (a->status_in_flight >= STATUS_MAX_IN_FLIGHT || !max_checks)
			break;
		max_checks--;
		e = NULL;
		if (slash && (size_t)(slash - q->key) < sizeof(ns)) {
			memcpy(ns, q->key, (size_t)(slash - q->key));
			ns[slash - q->key] = '\0';
			e = cache_get(a->cache, CACHE_HTTPROUTE, ns, slash + 1);
		}
		str_del(&a->status_queue, q->key);
		if (!e)
			continue;
		if (!now[0])
			rfc3339_now(now, sizeof(now));
		dr = desired_find_route(d, e->key);
		if (!dr && !route_status_has_entry(e, ROUTE_STATUS_CONTROLLER))
			continue;
		if (route_status_patch(e, d, dr, ROUTE_STATUS_CONTROLLER, now, &patch) || !patch)
			continue;
		sent = str_get(a->status_sent, e->key);
		/* The same patch (same resourceVersion, same content) is already on its way. */
		if (sent && sent->val && !strcmp(sent->val, patch)) {
			free(patch);
			continue;
		}
		req = calloc(1, sizeof(*req));
		if (!req) {
			free(patch);
			continue;
		}
		req->a = a;
		snprintf(req->key, sizeof(req->key), "%s", e->key);
		if (kube_client_update_status(a->kc, &resources[CACHE_HTTPROUTE], e->ns, e->name, patch, status_done,
					     req)) {
			bs_warn("msg=\"cannot start route status write\" httproute=%s", e->key);
			free(req);
		} else {
			a->status_in_flight++;
			str_set(&a->status_sent, e->key, patch);
			bs_debug("msg=\"writing route status\" httproute=%s", e->key);
		}
		free(patch);
	}
}

/* After a pass: queue the routes whose status may have moved (all on a whole pass). */
static void write_statuses(struct agent *a, bool all)
{
	const struct cache_entry *e;
	struct str_entry *r, *tmp;

	if (!status_wanted(a))
		return;
	if (all) {
		cache_for_each(a->cache, CACHE_HTTPROUTE, e)
			queue_status(a, e->key);
	} else {
		HASH_ITER(hh, a->affected, r, tmp)
			queue_status(a, r->key);
	}
	pump_statuses(a, STATUS_CHECKS_PER_TURN);
}

/* ---- problems: one log line when one appears, one when it goes ---- */

static void log_problems(struct agent *a, const struct desired *d)
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

static void log_rollouts(struct agent *a)
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

/* ---- metrics ---- */

static void on_write(void *ctx, const struct bs_frontend_key *key, enum reconcile_action action, const char *owner,
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

static void publish_metrics(struct agent *a, const struct desired *d)
{
	uint64_t t0 = mono_ns();

	publish_metrics_now(a, d);
	a->metrics_at_ns = t0;
	a->metrics_cost_ns = mono_ns() - t0;
}

/* A refresh is due: every METRICS_EVERY_NS, or sooner after writes (wrote), never more
 * often than METRICS_COST_FACTOR x its cost. */
static bool metrics_due(const struct agent *a, uint64_t now, bool wrote)
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
			"desired state.\n# TYPE bpfsplit_agent_ready gauge\nbpfsplit_agent_ready %d\n", a->ready);

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

static void scrape_datapath(void *ctx, struct mbuf *b)
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
}

/* ---- one pass ---- */

static void reconcile_pass(struct agent *a, uint64_t now)
{
	struct reconcile_run_opts ro = {
		.full = a->full,
		.allow_remove = a->synced,
		.batch_start_ns = a->batch_start_ns,
		.on_write = on_write,
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
	log_problems(a, d);
	log_rollouts(a);
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
		metrics_set_ready(a->m, true, NULL);
		bs_info("msg=\"ready: the maps match the cluster\" frontends=%zu owned=%zu not_owned=%zu problems=%zu",
			a->last.desired, a->last.owned, a->last.not_owned, d->n_pr);
		a->next_metrics_ns = 0; /* publish at once */
	}
	write_statuses(a, whole);
	if (metrics_due(a, now, a->last.applied || a->last.removed || a->last.failed || whole ||
				a->next_metrics_ns == 0)) {
		publish_metrics(a, d);
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

/* ---- set-up ---- */

static int load_config(struct agent *a)
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

static int open_datapath(struct agent *a)
{
	struct bs_dp_opts o = { .pin_root = a->f.pin_root, .claim_agent = true };
	char how[64];
	int rc;

	if (a->f.dry_run) {
		bs_info("msg=\"dry run: no map is written\"");
		return dp_writer_mem_new(&a->w);
	}
	rc = bs_dp_open(&o, &a->dp);
	if (rc) {
		bs_err("msg=\"cannot open the data path\" pin_root=%s err=%s hint=\"run as root with bpffs mounted, "
		       "or use --dry-run\"",
		       a->f.pin_root, strerror(-rc));
		return rc;
	}
	for (size_t i = 0; i < a->f.n_attach; i++) {
		struct attach_req *r = &a->f.attach[i];
		enum bs_entry entry = r->entry;
		char why[128] = "";

		if (r->auto_ingress && bs_entry_auto(r->ifname, &entry, why, sizeof(why)))
			entry = BS_ENTRY_XDP;
		rc = bs_dp_attach(a->dp, r->ifname, entry, a->f.xdp_mode, how, sizeof(how));
		if (rc) {
			bs_err("msg=\"cannot attach\" ifname=%s entry=%s err=%s", r->ifname, bs_entry_name(entry),
			       strerror(-rc));
			return rc;
		}
		bs_info("msg=\"attached\" ifname=%s entry=%s how=\"%s\"%s%s%s", r->ifname, bs_entry_name(entry), how,
			why[0] ? " why=\"" : "", why, why[0] ? "\"" : "");
	}
	return dp_writer_bpf_new(a->dp, &a->w);
}

static int watch_types(struct agent *a)
{
	bool want[CACHE_NKINDS] = { false };

	want[CACHE_SERVICE] = want[CACHE_ENDPOINTSLICE] = want[CACHE_ROLLOUT] = true;
	if (a->f.weights_from == WEIGHTS_FROM_HTTPROUTE) {
		want[CACHE_HTTPROUTE] = true;
		want[CACHE_GATEWAY] = a->f.n_classes > 0;
	}
	for (int k = 0; k < CACHE_NKINDS; k++) {
		int idx;

		a->idx_of[k] = -1;
		if (!want[k])
			continue;
		idx = kube_client_watch(a->kc, &resources[k], on_event, a);
		if (idx < 0) {
			bs_err("msg=\"cannot watch\" resource=%s err=%s", resources[k].plural, strerror(-idx));
			return idx;
		}
		if (idx >= CACHE_NKINDS)
			return -ERANGE;
		a->idx_of[k] = idx;
		a->kind_of[idx] = (enum cache_kind)k;
	}
	return 0;
}

static void node_name(struct agent *a)
{
	const char *n = a->f.node_name ? a->f.node_name : getenv("NODE_NAME");

	if (n && n[0])
		snprintf(a->node, sizeof(a->node), "%s", n);
	else if (gethostname(a->node, sizeof(a->node) - 1))
		snprintf(a->node, sizeof(a->node), "unknown");
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
	node_name(a);
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
	if (load_config(a))
		goto out;
	if (strcmp(a->f.metrics_addr, "off") && strcmp(a->f.metrics_addr, "")) {
		if (metrics_start(a->f.metrics_addr, &a->m))
			goto out;
		metrics_set_ready(a->m, false, "waiting for the first list of every type");
		metrics_heartbeat(a->m, mono_ns(), HEALTH_TIMEOUT_NS);
		if (!a->f.dry_run)
			metrics_set_scrape(a->m, scrape_datapath, a);
		bs_info("msg=\"serving /metrics, /healthz, /readyz\" addr=%s port=%u", a->f.metrics_addr,
			metrics_port(a->m));
	}
	if (open_datapath(a))
		goto out;
	if (reconciler_new(a->w, &a->rec))
		goto out;
	ko.config = &a->cfg;
	rc = kube_client_new(&ko, &a->kc);
	if (rc) {
		bs_err("msg=\"cannot set up the Kubernetes client\" server=%s err=%s", a->cfg.server ? a->cfg.server : "",
		       strerror(-rc));
		goto out;
	}
	if (watch_types(a))
		goto out;
	bs_info("msg=\"watching\" server=%s", a->cfg.server ? a->cfg.server : "");
	publish_metrics(a, NULL);

	a->next_full_ns = mono_ns() + a->f.resync_ns;
	while (!stop_signal) {
		uint64_t now, exp;

		/* Status checks queued and a write slot free: turn again at once. */
		rc = kube_client_run(a->kc, a->status_queue && a->status_in_flight < STATUS_MAX_IN_FLIGHT ? 0
											  : LOOP_TICK_MS);
		if (rc && rc != -EINTR)
			bs_debug("msg=\"kube client loop\" err=%s", strerror(-rc));
		now = mono_ns();
		metrics_heartbeat(a->m, now, HEALTH_TIMEOUT_NS);
		if (!a->synced && kube_client_synced(a->kc)) {
			a->synced = true;
			a->full = true;
			malloc_trim(0); /* the list bodies are gone: return their pages */
			a->batch_start_ns = 0; /* the first pass is no event's latency */
			mark_dirty(a, now, false);
			bs_info("msg=\"every type listed; reconciling\" httproutes=%zu gateways=%zu rollouts=%zu services=%zu "
				"endpointslices=%zu",
				cache_count(a->cache, CACHE_HTTPROUTE), cache_count(a->cache, CACHE_GATEWAY),
				cache_count(a->cache, CACHE_ROLLOUT), cache_count(a->cache, CACHE_SERVICE),
				cache_count(a->cache, CACHE_ENDPOINTSLICE));
		}
		if (!a->synced) {
			if (now >= a->next_metrics_ns) {
				publish_metrics(a, NULL);
				a->next_metrics_ns = now + METRICS_EVERY_NS;
			}
			continue;
		}
		exp = cache_next_expiry(a->cache, a->f.drain_timeout_ns);
		if (exp && now >= exp && cache_expire(a->cache, now, a->f.drain_timeout_ns) > 0) {
			a->desired_full = true;
			mark_dirty(a, now, false);
		}
		if (now >= a->next_full_ns) {
			a->full = true;
			mark_dirty(a, now, false);
			a->next_full_ns = now + a->f.resync_ns;
		}
		if (a->retry_pending && now >= a->retry_at_ns)
			mark_dirty(a, now, false);
		if (a->dirty)
			reconcile_pass(a, now);
		else if (metrics_due(a, now, false)) {
			/* Refresh counters from time to time (rollout and client stats). */
			publish_metrics(a, a->have_cur ? &a->cur : NULL);
			a->next_metrics_ns = now + METRICS_EVERY_NS;
		}
		if (a->status_queue)
			pump_statuses(a, STATUS_CHECKS_PER_TURN);
		if (a->dp)
			bs_dp_flush_retired(a->dp, false);
	}
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
