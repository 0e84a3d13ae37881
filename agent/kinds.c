// SPDX-License-Identifier: BSD-2-Clause
/* The table of followed kinds. */
#include "kinds.h"

#include <stdio.h>
#include <string.h>
#include "desired.h"

/* Typed parse/free functions behind the table's void * signatures. */
#define KIND_OPS(kind)                                                                                                \
	static int parse_##kind(const cJSON *obj, void *out, char *err, size_t errlen)                               \
	{                                                                                                            \
		return k8s_##kind##_parse(obj, out, err, errlen);                                                    \
	}                                                                                                            \
	static void free_##kind(void *p)                                                                             \
	{                                                                                                            \
		k8s_##kind##_free(p);                                                                                \
	}
KIND_OPS(httproute)
KIND_OPS(gateway)
KIND_OPS(rollout)
KIND_OPS(service)
KIND_OPS(endpointslice)
KIND_OPS(namespace)
KIND_OPS(refgrant)

#define ROUTE_OPS(kind, K)                                                                                            \
	static int parse_##kind(const cJSON *obj, void *out, char *err, size_t errlen)                               \
	{                                                                                                            \
		return k8s_route_parse(obj, K, out, err, errlen);                                                    \
	}
ROUTE_OPS(grpcroute, K8S_ROUTE_GRPC)
ROUTE_OPS(tcproute, K8S_ROUTE_TCP)
ROUTE_OPS(tlsroute, K8S_ROUTE_TLS)

/* Anything may change: namespace labels (listener selectors), grants (cross-namespace
 * backendRefs). Both change rarely. */
static void affects_all(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e, const char *ns,
			const char *name)
{
	ax->all(ax->ctx);
}

/* A route: itself. */
static void affects_route(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e,
			  const char *ns, const char *name)
{
	char key[CACHE_KEY_MAX];

	snprintf(key, sizeof(key), "%s/%s", ns, name);
	ax->route(ax->ctx, k, key);
}

/* Routes that name the object (a Service parent or backend, a Gateway parent). */
static void affects_dependents(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e,
			       const char *ns, const char *name)
{
	const struct cache_entry *r;
	enum cache_kind rk;

	for_each_route_kind(rk)
		cache_for_each(ax->cache, rk, r)
			if (desired_route_depends(r, k, ns, name))
				ax->route(ax->ctx, rk, r->key);
}

/* A slice: the routes of its Service. */
static void affects_slice(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e,
			  const char *ns, const char *name)
{
	const char *slash;
	char sns[K8S_NS_MAX];

	if (!e || !e->has_good)
		return;
	slash = strchr(e->svc_key, '/');
	if (!slash || !e->svc_key[0] || (size_t)(slash - e->svc_key) >= sizeof(sns))
		return;
	memcpy(sns, e->svc_key, (size_t)(slash - e->svc_key));
	sns[slash - e->svc_key] = '\0';
	affects_dependents(ax, CACHE_SERVICE, NULL, sns, slash + 1);
}

/* A Rollout: the routes its plugin config names (all of them in rollout mode). */
static void affects_rollout(const struct kind_affect *ax, enum cache_kind k, const struct cache_entry *e,
			    const char *ns, const char *name)
{
	char key[CACHE_KEY_MAX];

	if (ax->rollout_mode) {
		ax->all(ax->ctx);
		return;
	}
	if (!e || !e->has_good)
		return;
	for (size_t j = 0; j < e->good.rollout->n_routes; j++) {
		snprintf(key, sizeof(key), "%s/%s", e->good.rollout->route_ns, e->good.rollout->routes[j]);
		ax->route(ax->ctx, kind_of_route(e->good.rollout->route_kinds[j]), key);
	}
}

/* TLSRoute graduated to v1; clusters with older CRDs serve v1alpha3 or v1alpha2. */
static const char *const tls_versions[] = { "v1alpha3", "v1alpha2", NULL };

static const struct kind_desc table[CACHE_NKINDS] = {
	[CACHE_HTTPROUTE] = { "httproute", "HTTPRoute", { "gateway.networking.k8s.io", "v1", "httproutes" },
			      sizeof(struct k8s_httproute), parse_httproute,
			      free_httproute, true, affects_route },
	[CACHE_GATEWAY] = { "gateway", "Gateway", { "gateway.networking.k8s.io", "v1", "gateways" },
			    sizeof(struct k8s_gateway), parse_gateway,
			    free_gateway, false, affects_dependents },
	[CACHE_ROLLOUT] = { "rollout", "Rollout", { "argoproj.io", "v1alpha1", "rollouts" },
			    sizeof(struct k8s_rollout), parse_rollout,
			    free_rollout, false, affects_rollout },
	[CACHE_SERVICE] = { "service", "Service", { "", "v1", "services" }, sizeof(struct k8s_service),
			    parse_service, free_service,
			    false, affects_dependents },
	[CACHE_ENDPOINTSLICE] = { "endpointslice", "EndpointSlice", { "discovery.k8s.io", "v1", "endpointslices" },
				  sizeof(struct k8s_endpointslice),
				  parse_endpointslice,
				  free_endpointslice, false, affects_slice },
	[CACHE_GRPCROUTE] = { "grpcroute", "GRPCRoute", { "gateway.networking.k8s.io", "v1", "grpcroutes" },
			      sizeof(struct k8s_httproute), parse_grpcroute, free_httproute, true, affects_route },
	[CACHE_TCPROUTE] = { "tcproute", "TCPRoute", { "gateway.networking.k8s.io", "v1alpha2", "tcproutes" },
			     sizeof(struct k8s_httproute), parse_tcproute, free_httproute, true, affects_route },
	[CACHE_TLSROUTE] = { "tlsroute", "TLSRoute", { "gateway.networking.k8s.io", "v1", "tlsroutes", tls_versions },
			     sizeof(struct k8s_httproute), parse_tlsroute, free_httproute, true, affects_route },
	[CACHE_NAMESPACE] = { "namespace", "Namespace", { "", "v1", "namespaces" }, sizeof(struct k8s_namespace),
			      parse_namespace, free_namespace, false, affects_all },
	[CACHE_REFERENCEGRANT] = { "referencegrant", "ReferenceGrant",
				   { "gateway.networking.k8s.io", "v1beta1", "referencegrants" },
				   sizeof(struct k8s_refgrant), parse_refgrant, free_refgrant, false, affects_all },
};

enum cache_kind kind_of_route(enum k8s_route_kind rk)
{
	switch (rk) {
	case K8S_ROUTE_GRPC:
		return CACHE_GRPCROUTE;
	case K8S_ROUTE_TCP:
		return CACHE_TCPROUTE;
	case K8S_ROUTE_TLS:
		return CACHE_TLSROUTE;
	default:
		return CACHE_HTTPROUTE;
	}
}

const struct kind_desc *kind_desc(enum cache_kind k)
{
	static const struct kind_desc none = { "?", "?" };

	return (unsigned)k < CACHE_NKINDS ? &table[k] : &none;
}
