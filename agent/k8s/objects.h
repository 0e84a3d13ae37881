/* SPDX-License-Identifier: BSD-2-Clause */
/* Kubernetes objects as the agent sees them: only the fields that steer the split,
 * parsed from cJSON into plain C structs, with defaults applied and ranges checked.
 *
 * Every parse function returns 0 or -errno (-EINVAL for a malformed or out-of-range
 * object, -ENOMEM) and, on error, writes into err a message that names the object
 * and the cause, e.g.
 *   httproute default/web: rules[0].backendRefs[1].weight 2000000 out of range 0..1000000
 * Field paths under spec drop the "spec." prefix; status fields keep "status.".
 * Unknown fields are ignored. A struct filled by a parse function owns heap memory
 * only through its arrays; release it with the matching *_free(), which is safe on
 * a zeroed struct and on a struct whose parse failed (parse functions clean up
 * after themselves and leave the struct zeroed on error). */
#ifndef BPFSPLIT_K8S_OBJECTS_H
#define BPFSPLIT_K8S_OBJECTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

/* Field bounds (bytes, NUL included), from Kubernetes validation:
 * names of namespaced objects are DNS subdomains (253), namespaces DNS labels (63). */
#define K8S_NS_MAX 64
#define K8S_NAME_MAX 254
#define K8S_UID_MAX 64
#define K8S_RV_MAX 128      /* resourceVersion: opaque; etcd's are <= 20 digits */
#define K8S_GROUP_MAX 254
#define K8S_KIND_MAX 64
#define K8S_PORTNAME_MAX 64 /* IANA_SVC_NAME is 15, Gateway API SectionName 253: see SECTION */
#define K8S_SECTION_MAX 254
#define K8S_SHORT_MAX 64    /* phases, pod-template hashes, protocol names, address types */
#define K8S_PROTO_NAME_MAX 256 /* Gateway API listener ProtocolType, up to 255 */
#define K8S_IPSTR_MAX 46    /* INET6_ADDRSTRLEN */
#define K8S_ADDR_MAX 254    /* an endpoint or Gateway address: IP or hostname */

/* Weights Gateway API accepts for one backendRef (inclusive). */
#define K8S_WEIGHT_MAX 1000000

/* Annotations read from HTTPRoutes. */
#define K8S_ANN_FRONTENDS "bpfsplit.io/frontends"
#define K8S_ANN_AFFINITY "bpfsplit.io/affinity"
/* Label Argo's Gateway API plugin sets while a canary is in progress. */
#define K8S_LABEL_ARGO_CANARY "rollouts.argoproj.io/gatewayapi-canary"
/* Label naming an EndpointSlice's Service. */
#define K8S_LABEL_SERVICE_NAME "kubernetes.io/service-name"
/* Argo Rollouts traffic-router plugin this agent follows. */
#define K8S_ARGO_GATEWAY_PLUGIN "argoproj-labs/gatewayAPI"

/* An IP address in the layout of the BPF maps: family AF_INET/AF_INET6 (BS_AF_*),
 * 16 bytes in network order, IPv4 in bytes 0..3 and the rest zero. */
struct k8s_ip {
	uint8_t family; /* 0: not an IP (e.g. an FQDN endpoint) */
	uint8_t addr[16];
};

/* One frontend from the bpfsplit.io/frontends annotation. */
struct k8s_frontend {
	struct k8s_ip ip;
	uint16_t port;  /* host order, 1..65535 */
	uint8_t proto;  /* IPPROTO_TCP or IPPROTO_UDP */
};

/* Common metadata. */
struct k8s_meta {
	char ns[K8S_NS_MAX];      /* "" for cluster-scoped objects */
	char name[K8S_NAME_MAX];  /* never empty after a successful parse */
	char uid[K8S_UID_MAX];
	char resource_version[K8S_RV_MAX]; /* opaque: compare for equality only */
	int64_t generation;       /* 0 when absent (built-in types without it) */
	int64_t created;          /* creationTimestamp, seconds since the epoch; 0 when absent */
};

/* The API server's Status object (error bodies, watch ERROR events). */
struct k8s_status {
	int code;                 /* HTTP code, e.g. 410; 0 when absent */
	char status[K8S_SHORT_MAX]; /* "Failure" / "Success" */
	char reason[K8S_SHORT_MAX]; /* e.g. "Expired", "Gone", "NotFound" */
	char message[512];        /* truncated to fit */
};

/* ---- HTTPRoute (gateway.networking.k8s.io/v1) ---- */

enum k8s_affinity {
	K8S_AFFINITY_UNSET = 0,   /* no annotation: the agent's default applies */
	K8S_AFFINITY_CONNECTION,  /* "connection": hash of the 5-tuple */
	K8S_AFFINITY_CLIENT,      /* "client": hash of the client address */
};

struct k8s_parent_ref {
	char group[K8S_GROUP_MAX];    /* default "gateway.networking.k8s.io"; "" = core (Service) */
	char kind[K8S_KIND_MAX];      /* default "Gateway" */
	char ns[K8S_NS_MAX];          /* default: the route's namespace */
	char name[K8S_NAME_MAX];
	char section_name[K8S_SECTION_MAX]; /* "" when absent */
	uint16_t port;                /* 0 when absent */
};

struct k8s_backend_ref {
	char group[K8S_GROUP_MAX];    /* default "" (core) */
	char kind[K8S_KIND_MAX];      /* default "Service" */
	char ns[K8S_NS_MAX];          /* default: the route's namespace */
	char name[K8S_NAME_MAX];
	uint16_t port;                /* 0 when absent (the reconciler reports it for Services) */
	uint32_t weight;              /* 0..K8S_WEIGHT_MAX, default 1 */
	unsigned int filter_details;  /* backendRefs[].filters, as K8S_RULE_D_* bits */
};

/* Why a rule selects only part of the traffic (bits of k8s_rule.l7_flags): L4 cannot
 * honour such a rule at all. */
enum k8s_rule_l7_flags {
	K8S_RULE_L7_PATH = 1 << 0,    /* a path other than PathPrefix "/" */
	K8S_RULE_L7_HEADERS = 1 << 1, /* HTTP or gRPC header matches */
	K8S_RULE_L7_QUERY = 1 << 2,
	K8S_RULE_L7_METHOD = 1 << 3,  /* HTTP method or gRPC service/method matches */
};

/* Per-request details of a rule that L4 cannot enforce but that do not change which
 * traffic the rule takes (bits of k8s_rule.l7_details): its weights still apply. */
enum k8s_rule_l7_details {
	K8S_RULE_D_TIMEOUTS = 1 << 0,
	K8S_RULE_D_RETRY = 1 << 1,
	K8S_RULE_D_SESSION = 1 << 2,  /* sessionPersistence */
	K8S_RULE_D_HEADER_MOD = 1 << 3, /* Request/ResponseHeaderModifier filters */
	K8S_RULE_D_MIRROR = 1 << 4,   /* RequestMirror filters */
	K8S_RULE_D_REWRITE = 1 << 5,  /* URLRewrite filters */
	K8S_RULE_D_REDIRECT = 1 << 6, /* RequestRedirect filters */
	K8S_RULE_D_FILTER_OTHER = 1 << 7, /* ExtensionRef, CORS, other filters */
};

struct k8s_rule {
	char name[K8S_SECTION_MAX];   /* "" when absent */
	struct k8s_backend_ref *backends;
	size_t n_backends;
	unsigned int l7_flags;        /* 0: every match is "all traffic" */
	unsigned int l7_details;      /* per-request details L4 does not enforce */
};

struct k8s_route_parent_status {
	char controller_name[K8S_SECTION_MAX];
	size_t n_conditions;
};

/* The route kinds Argo Rollouts' Gateway API plugin drives; all parse into k8s_httproute. */
enum k8s_route_kind {
	K8S_ROUTE_HTTP = 0,
	K8S_ROUTE_GRPC,
	K8S_ROUTE_TCP,
	K8S_ROUTE_TLS,
};

#define K8S_MAX_HOSTNAMES 16          /* Gateway API: at most 16 hostnames per route */

struct k8s_httproute {
	struct k8s_meta meta;
	enum k8s_route_kind kind;
	char (*hostnames)[K8S_ADDR_MAX]; /* spec.hostnames (HTTP, GRPC, TLS), lower case */
	size_t n_hostnames;
	enum k8s_affinity affinity;
	char *frontends_raw;          /* bpfsplit.io/frontends annotation, NULL when absent */
	struct k8s_frontend *frontends; /* ... parsed */
	size_t n_frontends;
	bool argo_canary_in_progress; /* label rollouts.argoproj.io/gatewayapi-canary=in-progress */
	struct k8s_parent_ref *parents;
	size_t n_parents;
	struct k8s_rule *rules;
	size_t n_rules;
	struct k8s_route_parent_status *status_parents;
	size_t n_status_parents;
};

/* ---- Gateway (gateway.networking.k8s.io/v1) ---- */

/* A label selector: every requirement must hold. matchLabels k: v is In [v]. */
enum k8s_selector_op { K8S_SEL_IN, K8S_SEL_NOT_IN, K8S_SEL_EXISTS, K8S_SEL_DOES_NOT_EXIST };

#define K8S_LABEL_MAX 318             /* prefix (253) + "/" + name (63) + NUL */
#define K8S_LABEL_VALUE_MAX 64

struct k8s_selector_req {
	char key[K8S_LABEL_MAX];
	enum k8s_selector_op op;
	char (*values)[K8S_LABEL_VALUE_MAX];
	size_t n_values;
};

struct k8s_selector {
	struct k8s_selector_req *reqs;
	size_t n_reqs;
};

/* A label of an object. */
struct k8s_label {
	char key[K8S_LABEL_MAX];
	char value[K8S_LABEL_VALUE_MAX];
};

/* True when labels satisfy every requirement of sel. */
bool k8s_selector_matches(const struct k8s_selector *sel, const struct k8s_label *labels, size_t n_labels);

enum k8s_from { K8S_FROM_SAME = 0, K8S_FROM_ALL, K8S_FROM_SELECTOR };
enum k8s_tls_mode { K8S_TLS_NONE = 0, K8S_TLS_TERMINATE, K8S_TLS_PASSTHROUGH };

struct k8s_route_group_kind {
	char group[K8S_GROUP_MAX];    /* default "gateway.networking.k8s.io" */
	char kind[K8S_KIND_MAX];
};

#define K8S_MAX_ALLOWED_KINDS 8       /* Gateway API: at most 8 */

struct k8s_listener {
	char name[K8S_SECTION_MAX];
	uint16_t port;
	char protocol[K8S_PROTO_NAME_MAX]; /* "HTTP", "HTTPS", "TCP", "UDP", "TLS", ... */
	char hostname[K8S_ADDR_MAX];  /* "" when absent (any); lower case */
	enum k8s_tls_mode tls_mode;   /* tls.mode; default Terminate when tls is set */
	enum k8s_from from;           /* allowedRoutes.namespaces.from, default Same */
	struct k8s_selector selector; /* ... .selector, for Selector */
	struct k8s_route_group_kind kinds[K8S_MAX_ALLOWED_KINDS]; /* allowedRoutes.kinds */
	size_t n_kinds;               /* 0: the kinds the protocol implies */
};

struct k8s_gateway_address {
	char type[K8S_SECTION_MAX];   /* default "IPAddress" */
	char value[K8S_ADDR_MAX];
	struct k8s_ip ip;             /* family 0 unless type is IPAddress and value an IP */
};

struct k8s_gateway {
	struct k8s_meta meta;
	char class_name[K8S_NAME_MAX];
	struct k8s_listener *listeners;
	size_t n_listeners;
	struct k8s_gateway_address *addresses; /* status.addresses */
	size_t n_addresses;
};

/* ---- Namespace (v1) ---- */

struct k8s_namespace {
	struct k8s_meta meta;
	struct k8s_label *labels;     /* kubernetes.io/metadata.name always included */
	size_t n_labels;
};

/* ---- ReferenceGrant (gateway.networking.k8s.io/v1beta1) ---- */

struct k8s_grant_from {
	char group[K8S_GROUP_MAX];
	char kind[K8S_KIND_MAX];
	char ns[K8S_NS_MAX];
};

struct k8s_grant_to {
	char group[K8S_GROUP_MAX];    /* "" = core */
	char kind[K8S_KIND_MAX];
	char name[K8S_NAME_MAX];      /* "" = every object of the kind */
};

struct k8s_refgrant {
	struct k8s_meta meta;
	struct k8s_grant_from *from;
	size_t n_from;
	struct k8s_grant_to *to;
	size_t n_to;
};

/* ---- Rollout (argoproj.io/v1alpha1), canary strategy ---- */

enum k8s_step_type {
	K8S_STEP_OTHER = 0,           /* analysis, experiment, setCanaryScale, setHeaderRoute, ... */
	K8S_STEP_SET_WEIGHT,
	K8S_STEP_PAUSE,
};

struct k8s_rollout_step {
	enum k8s_step_type type;
	int32_t weight;               /* SET_WEIGHT: 0..K8S_WEIGHT_MAX (Argo: up to maxTrafficWeight, 100 by default) */
	int64_t pause_s;              /* PAUSE: seconds; -1 = until promoted */
};

struct k8s_rollout_weight {
	bool present;
	int32_t weight;
	char service_name[K8S_NAME_MAX];
	char pod_template_hash[K8S_SHORT_MAX];
};

struct k8s_rollout {
	struct k8s_meta meta;
	bool is_canary;               /* spec.strategy.canary present */
	char canary_service[K8S_NAME_MAX];
	char stable_service[K8S_NAME_MAX];
	struct k8s_rollout_step *steps;
	size_t n_steps;
	/* trafficRouting.plugins["argoproj-labs/gatewayAPI"] */
	bool has_gateway_plugin;
	char route_ns[K8S_NS_MAX];    /* plugin's namespace, default the rollout's */
	char (*routes)[K8S_NAME_MAX]; /* httpRoute(s), grpcRoute(s), tcpRoute(s), tlsRoute(s) names */
	enum k8s_route_kind *route_kinds; /* ... and their kinds, same order */
	size_t n_routes;
	/* status */
	bool has_current_step;
	int32_t current_step;         /* currentStepIndex (== n_steps when done) */
	size_t n_pause_conditions;
	bool controller_pause;
	bool abort;
	char phase[K8S_SHORT_MAX];
	char stable_rs[K8S_SHORT_MAX];
	char current_pod_hash[K8S_SHORT_MAX];
	struct k8s_rollout_weight canary_weight; /* status.canary.weights.canary */
	struct k8s_rollout_weight stable_weight; /* status.canary.weights.stable */
};

/* ---- Service (v1) ---- */

struct k8s_service_port {
	char name[K8S_PORTNAME_MAX];
	uint16_t port;
	uint8_t proto;                /* IPPROTO_TCP (default), IPPROTO_UDP, IPPROTO_SCTP */
	uint16_t target_port;         /* numeric targetPort; 0 when named or absent */
	char target_port_name[K8S_PORTNAME_MAX]; /* named targetPort; "" when numeric */
};

struct k8s_service {
	struct k8s_meta meta;
	bool headless;                /* clusterIP "None" */
	char (*cluster_ip_strs)[K8S_IPSTR_MAX]; /* spec.clusterIPs (or clusterIP) */
	struct k8s_ip *cluster_ips;   /* ... parsed, same order */
	size_t n_cluster_ips;
	struct k8s_service_port *ports;
	size_t n_ports;
	bool has_selector;            /* spec.selector non-empty */
};

/* ---- EndpointSlice (discovery.k8s.io/v1) ---- */

enum k8s_address_type {
	K8S_ADDR_UNKNOWN = 0,
	K8S_ADDR_IPV4,
	K8S_ADDR_IPV6,
	K8S_ADDR_FQDN,
};

struct k8s_slice_port {
	char name[K8S_PORTNAME_MAX];  /* "" when absent */
	bool has_port;                /* absent port means "all ports" */
	uint16_t port;
	uint8_t proto;                /* default IPPROTO_TCP */
};

struct k8s_endpoint_addr {
	char str[K8S_ADDR_MAX];
	struct k8s_ip ip;             /* family 0 for FQDN slices */
};

struct k8s_endpoint {
	struct k8s_endpoint_addr *addresses;
	size_t n_addresses;
	/* conditions after defaulting (discovery/v1): ready nil = true, serving nil = ready,
	 * terminating nil = false */
	bool ready;
	bool serving;
	bool terminating;
	char node_name[K8S_NAME_MAX];
	char target_kind[K8S_KIND_MAX];
	char target_name[K8S_NAME_MAX];
};

struct k8s_endpointslice {
	struct k8s_meta meta;
	char service_name[K8S_NAME_MAX]; /* label kubernetes.io/service-name; "" when absent */
	enum k8s_address_type address_type;
	struct k8s_slice_port *ports;
	size_t n_ports;
	struct k8s_endpoint *endpoints;
	size_t n_endpoints;
};

/* ---- Lists and watch events ---- */

/* A LIST response. root owns the JSON; items point into it. */
struct k8s_list {
	cJSON *root;
	const cJSON **items;          /* items[i] belongs to root */
	size_t n_items;
	char resource_version[K8S_RV_MAX];
	char *continue_token;         /* NULL when absent or "" */
	struct k8s_status status;     /* filled when the body was a Status (then -EINVAL) */
};

enum k8s_event_type {
	K8S_EVENT_ADDED = 1,
	K8S_EVENT_MODIFIED,
	K8S_EVENT_DELETED,
	K8S_EVENT_BOOKMARK,
	K8S_EVENT_ERROR,
};

/* One watch event. root owns the JSON; object points into it. */
struct k8s_watch_event {
	cJSON *root;
	enum k8s_event_type type;
	const cJSON *object;
	char resource_version[K8S_RV_MAX]; /* object.metadata.resourceVersion, "" for ERROR */
	struct k8s_status status;     /* ERROR events: the Status inside */
};

/* ---- functions ---- */

int k8s_meta_parse(const cJSON *obj, const char *kind, struct k8s_meta *m, char *err, size_t errlen);

int k8s_httproute_parse(const cJSON *obj, struct k8s_httproute *r, char *err, size_t errlen);
/* GRPCRoute, TCPRoute, TLSRoute: the same struct, kind set; what the kind lacks stays empty. */
int k8s_route_parse(const cJSON *obj, enum k8s_route_kind kind, struct k8s_httproute *r, char *err, size_t errlen);
const char *k8s_route_kind_type(enum k8s_route_kind kind); /* "HTTPRoute", ... */
void k8s_httproute_free(struct k8s_httproute *r);

int k8s_namespace_parse(const cJSON *obj, struct k8s_namespace *ns, char *err, size_t errlen);
void k8s_namespace_free(struct k8s_namespace *ns);

int k8s_refgrant_parse(const cJSON *obj, struct k8s_refgrant *g, char *err, size_t errlen);
void k8s_refgrant_free(struct k8s_refgrant *g);

int k8s_gateway_parse(const cJSON *obj, struct k8s_gateway *g, char *err, size_t errlen);
void k8s_gateway_free(struct k8s_gateway *g);

int k8s_rollout_parse(const cJSON *obj, struct k8s_rollout *ro, char *err, size_t errlen);
void k8s_rollout_free(struct k8s_rollout *ro);

int k8s_service_parse(const cJSON *obj, struct k8s_service *s, char *err, size_t errlen);
void k8s_service_free(struct k8s_service *s);

int k8s_endpointslice_parse(const cJSON *obj, struct k8s_endpointslice *es, char *err, size_t errlen);
void k8s_endpointslice_free(struct k8s_endpointslice *es);

/* Status object (an error body or a watch ERROR's object). */
int k8s_status_parse(const cJSON *obj, struct k8s_status *st, char *err, size_t errlen);

/* JSON text of a LIST response (not NUL-terminated necessarily). A Status body
 * fills l->status and fails with -EINVAL; check l->status.code (410: relist). */
int k8s_list_parse(const char *json, size_t len, struct k8s_list *l, char *err, size_t errlen);
void k8s_list_free(struct k8s_list *l);

/* One line of a watch stream. An ERROR event returns 0 with ev->status filled. */
int k8s_watch_event_parse(const char *json, size_t len, struct k8s_watch_event *ev,
			  char *err, size_t errlen);
void k8s_watch_event_free(struct k8s_watch_event *ev);
const char *k8s_event_type_str(enum k8s_event_type t);

/* "10.96.0.10:80/TCP,[fd00::a]:80/UDP": comma-separated, /PROTO optional (TCP).
 * On success *out is a heap array of *n entries (free()); errors name the item. */
int k8s_frontends_parse(const char *s, struct k8s_frontend **out, size_t *n, char *err, size_t errlen);

/* A bare IPv4 or IPv6 address (no brackets, no zone). 0 or -EINVAL. */
int k8s_ip_parse(const char *s, struct k8s_ip *ip);

#endif
