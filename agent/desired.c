// SPDX-License-Identifier: BSD-2-Clause
/* Desired frontends from the cache: see desired.h for the rules. */
#include "desired.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>
#include "dp_writer.h"
#include "kinds.h"

#define GW_GROUP "gateway.networking.k8s.io"
#define MAX_PARENTS 32 /* Gateway API: at most 32 parentRefs */

static const char *const reason_names[DR_NREASONS] = {
	[DR_INVALID] = "Invalid",
	[DR_NO_FRONTENDS] = "NoFrontends",
	[DR_PARENT_NOT_FOUND] = "ParentNotFound",
	[DR_RULE_SKIPPED] = "UnsupportedValue",
	[DR_RULE_SHADOWED] = "RuleShadowed",
	[DR_NO_L4_RULE] = "NoL4Rule",
	[DR_INVALID_KIND] = "InvalidKind",
	[DR_BACKEND_NOT_FOUND] = "BackendNotFound",
	[DR_PORT_NOT_FOUND] = "PortNotFound",
	[DR_NO_ENDPOINTS] = "NoEndpoints",
	[DR_NO_READY_ENDPOINTS] = "NoReadyEndpoints",
	[DR_TOO_MANY_GROUPS] = "TooManyBackendRefs",
	[DR_CONFLICT] = "FrontendConflict",
	[DR_WEIGHTS_MISSING] = "WeightsMissing",
	[DR_NOT_ALLOWED] = "NotAllowedByListeners",
	[DR_NO_MATCHING_HOSTNAME] = "NoMatchingListenerHostname",
	[DR_TLS_TERMINATED] = "TLSTerminatedByGateway",
	[DR_REF_NOT_PERMITTED] = "RefNotPermitted",
	[DR_L7_NOT_ENFORCED] = "L7NotEnforced",
	[DR_ENDPOINT_GRACE] = "EndpointGrace",
	[DR_DATAPATH_LIMIT] = "DataPathLimit",
};

const char *desired_reason_name(enum desired_reason r)
{
	return r < DR_NREASONS ? reason_names[r] : "Unknown";
}

static const char *kind_desc_type(enum cache_kind k)
{
	return kind_desc(k)->type;
}

static void copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* ---- output building ---- */

struct claim {
	UT_hash_handle hh;
	struct bs_frontend_key key;
	char owner[CACHE_KEY_MAX];
	enum cache_kind kind;
};

struct builder {
	const struct cache *c;
	const struct desired_opts *o;
	struct desired *d;
	size_t cap_fe, cap_pr, cap_routes;
	struct claim *claims;
	int err;
};

static void *grow(struct builder *b, void **arr, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return (char *)*arr + n * size;
	size_t ncap = *cap ? 2 * *cap : 16;
	void *p = realloc(*arr, ncap * size);

	if (!p) {
		b->err = -ENOMEM;
		return NULL;
	}
	memset((char *)p + *cap * size, 0, (ncap - *cap) * size);
	*arr = p;
	*cap = ncap;
	return (char *)p + n * size;
}

static void __attribute__((format(printf, 8, 9)))
problem(struct builder *b, enum cache_kind kind, const char *owner, int parent, int rule, enum desired_reason reason,
	bool blocking, const char *fmt, ...)
{
	struct desired_problem *p;
	char msg[sizeof(p->msg)];
	va_list ap;
	int n;

	n = snprintf(msg, sizeof(msg), "%s %s: ", cache_kind_name(kind), owner);
	va_start(ap, fmt);
	vsnprintf(msg + n, sizeof(msg) - (size_t)n, fmt, ap);
	va_end(ap);
	/* The same cause found twice (two frontends, two parents) is one problem. */
	for (size_t i = 0; i < b->d->n_pr; i++) {
		p = &b->d->pr[i];
		if (p->kind == kind && p->reason == reason && !strcmp(p->owner, owner) && !strcmp(p->msg, msg)) {
			p->blocking |= blocking;
			if (p->parent != parent)
				p->parent = -1;
			return;
		}
	}
	p = grow(b, (void **)&b->d->pr, &b->cap_pr, b->d->n_pr, sizeof(*p));
	if (!p)
		return;
	b->d->n_pr++;
	p->kind = kind;
	copy_str(p->owner, sizeof(p->owner), owner);
	p->parent = parent;
	p->rule = rule;
	p->reason = reason;
	p->blocking = blocking;
	copy_str(p->msg, sizeof(p->msg), msg);
}

static void key_from(struct bs_frontend_key *key, const struct k8s_ip *ip, uint16_t port, uint8_t proto)
{
	memset(key, 0, sizeof(*key));
	memcpy(key->addr, ip->addr, 16);
	key->port = htons(port);
	key->family = ip->family;
	key->proto = proto;
}

static const char *proto_name(uint8_t proto)
{
	return proto == IPPROTO_UDP ? "UDP" : proto == IPPROTO_TCP ? "TCP" : "SCTP";
}

static const char *family_name(uint8_t family)
{
	return family == BS_AF_INET6 ? "IPv6" : "IPv4";
}

/* ---- candidates: the frontends one object asks for ---- */

struct cand {
	struct bs_frontend_key key;
	int parent;
	bool blocked;
	struct bs_frontend_spec spec;
};

struct cands {
	struct cand *v;
	size_t n, cap;
};

static void cand_add(struct builder *b, struct cands *cs, const struct bs_frontend_key *key, int parent)
{
	struct cand *c;

	for (size_t i = 0; i < cs->n; i++)
		if (!memcmp(&cs->v[i].key, key, sizeof(*key)))
			return;
	c = grow(b, (void **)&cs->v, &cs->cap, cs->n, sizeof(*c));
	if (!c)
		return;
	cs->n++;
	c->key = *key;
	c->parent = parent;
}

static void cands_free(struct cands *cs)
{
	for (size_t i = 0; i < cs->n; i++)
		bs_frontend_spec_free(&cs->v[i].spec);
	free(cs->v);
}

/* The metadata of a frontend owned by route (NULL in rollout mode), linked to rollout ro
 * (NULL when none). */
static void info_fill(struct bs_frontend_info *fi, const char *route, const struct cache_entry *ro)
{
	const struct k8s_rollout *r = ro ? ro->good.rollout : NULL;

	memset(fi, 0, sizeof(*fi));
	fi->step = -1;
	if (route)
		copy_str(fi->route, sizeof(fi->route), route);
	if (!ro)
		return;
	copy_str(fi->rollout, sizeof(fi->rollout), ro->key);
	if (!ro->has_good)
		return;
	copy_str(fi->phase, sizeof(fi->phase), r->phase);
	fi->step = r->has_current_step ? r->current_step : -1;
	fi->n_steps = r->n_steps > INT32_MAX ? INT32_MAX : (int32_t)r->n_steps;
	fi->rollout_canary_weight = r->canary_weight.present && r->canary_weight.weight > 0
					    ? (uint32_t)r->canary_weight.weight : 0;
	fi->paused = r->n_pause_conditions || r->controller_pause;
	fi->aborted = r->abort;
}

/* Hand candidates over to the output, first claim wins. */
static void emit(struct builder *b, struct cands *cs, enum cache_kind kind, const char *owner,
		 const struct bs_frontend_info *info, size_t *n_emitted)
{
	for (size_t i = 0; i < cs->n; i++) {
		struct cand *c = &cs->v[i];
		struct desired_frontend *f;
		struct claim *cl;
		char fe[80];

		HASH_FIND(hh, b->claims, &c->key, sizeof(c->key), cl);
		if (cl) {
			dp_key_str(&c->key, fe, sizeof(fe));
			problem(b, kind, owner, c->parent, -1, DR_CONFLICT, false,
				"frontend %s is already programmed by %s %s; not programmed for this one", fe,
				cache_kind_name(cl->kind), cl->owner);
			continue;
		}
		cl = calloc(1, sizeof(*cl));
		f = grow(b, (void **)&b->d->fe, &b->cap_fe, b->d->n_fe, sizeof(*f));
		if (!cl || !f) {
			free(cl);
			b->err = -ENOMEM;
			return;
		}
		cl->key = c->key;
		cl->kind = kind;
		copy_str(cl->owner, sizeof(cl->owner), owner);
		HASH_ADD(hh, b->claims, key, sizeof(cl->key), cl);
		b->d->n_fe++;
		memset(f, 0, sizeof(*f));
		f->blocked = c->blocked;
		if (!c->blocked) {
			f->spec = c->spec; /* the backends move over */
			memset(&c->spec, 0, sizeof(c->spec));
		}
		f->spec.key = c->key;
		f->owner_kind = kind;
		copy_str(f->owner, sizeof(f->owner), owner);
		f->parent = c->parent;
		f->info = *info;
		(*n_emitted)++;
	}
}

/* The library's own check, so that what it would refuse (too many ready backends in a
 * group...) is a blocking problem of the route, reported in its status, and not a write
 * retried forever. Returns false (candidate blocked) when the spec cannot be held. */
static bool holdable(struct builder *b, enum cache_kind kind, const char *owner, int parent, int rule, struct cand *c)
{
	char err[256];

	if (!bs_spec_validate(&c->spec, err, sizeof(err)))
		return true;
	problem(b, kind, owner, parent, rule, DR_DATAPATH_LIMIT, true, "%s", err);
	c->blocked = true;
	bs_frontend_spec_free(&c->spec);
	memset(&c->spec, 0, sizeof(c->spec));
	return false;
}

/* ---- endpoints ---- */

struct be_list {
	struct bs_backend_spec *v;
	size_t n, cap;
	__u32 ready;
	bool grace;          /* no ready endpoint: the last ready ones bridge the gap */
};

static void be_add(struct builder *b, struct be_list *l, const uint8_t addr[16], uint8_t family, uint16_t port,
		   uint8_t state)
{
	struct bs_backend_spec *s = grow(b, (void **)&l->v, &l->cap, l->n, sizeof(*s));

	if (!s)
		return;
	l->n++;
	memset(s, 0, sizeof(*s));
	memcpy(s->addr, addr, 16);
	s->port = htons(port);
	s->family = family;
	s->state = state;
	l->ready += state == BS_BACKEND_READY;
}

/* Every endpoint of Service ns/svc behind its port sp, of one address family. */
static void collect_backends(struct builder *b, const char *ns, const char *svc, const struct k8s_service_port *sp,
			     uint8_t family, struct be_list *out)
{
	const struct cache_svc_eps *s = cache_svc_eps(b->c, ns, svc);
	const struct cache_entry *e;
	const struct cache_vanished *v;
	uint64_t since;

	if (!s)
		return;
	DL_FOREACH2(s->slices, e, svc_next) {
		const struct k8s_endpointslice *es = e->good.slice;
		const struct k8s_slice_port *p = NULL;

		for (size_t i = 0; i < es->n_ports && !p; i++)
			if (es->ports[i].has_port && es->ports[i].proto == sp->proto && !strcmp(es->ports[i].name, sp->name))
				p = &es->ports[i];
		if (!p)
			continue;
		for (size_t i = 0; i < es->n_endpoints; i++) {
			const struct k8s_endpoint *ep = &es->endpoints[i];
			/* ready: gets new connections. Anything else (terminating, serving while
			 * terminating, not ready yet) keeps its connections and gets no new ones. */
			uint8_t state = ep->ready && !ep->terminating ? BS_BACKEND_READY : BS_BACKEND_DRAINING;

			for (size_t a = 0; a < ep->n_addresses; a++)
				if (ep->addresses[a].ip.family == family)
					be_add(b, out, ep->addresses[a].ip.addr, family, p->port, state);
		}
	}
	for (v = s->vanished; v; v = v->hh.next) {
		if (v->id.family != family || v->id.proto != sp->proto || strcmp(v->id.port_name, sp->name))
			continue;
		if (b->o->now_ns - v->since_ns >= b->o->drain_timeout_ns)
			continue;
		be_add(b, out, v->id.addr, family, v->id.port, BS_BACKEND_DRAINING);
	}
	/* Endpoint grace: the Service lost its last ready endpoint moments ago (a selector
	 * switch empties a slice before it fills it again): those ready just before take new
	 * connections until the grace ends, instead of a refused share. */
	since = s->no_ready_since_ns[CACHE_FAM_IDX(family)];
	if (out->ready || !since || !b->o->endpoint_grace_ns || b->o->now_ns - since >= b->o->endpoint_grace_ns)
		return;
	for (v = s->last_ready; v; v = v->hh.next) {
		size_t i;

		if (v->id.family != family || v->id.proto != sp->proto || strcmp(v->id.port_name, sp->name))
			continue;
		for (i = 0; i < out->n; i++)
			if (!memcmp(out->v[i].addr, v->id.addr, 16) && out->v[i].port == htons(v->id.port))
				break;
		if (i < out->n) {
			out->v[i].state = BS_BACKEND_READY;
			out->ready++;
		} else {
			be_add(b, out, v->id.addr, family, v->id.port, BS_BACKEND_READY);
		}
		out->grace = true;
	}
}

static const struct k8s_service_port *service_port(const struct k8s_service *s, uint16_t port, uint8_t proto,
						   bool only_one_ok)
{
	const struct k8s_service_port *only = NULL;
	size_t n = 0;

	for (size_t i = 0; i < s->n_ports; i++) {
		if (s->ports[i].proto != proto)
			continue;
		if (s->ports[i].port == port)
			return &s->ports[i];
		only = &s->ports[i];
		n++;
	}
	return only_one_ok && n == 1 ? only : NULL;
}

/* One group of a candidate frontend: weight, name, backends. Returns false when the
 * frontend cannot be computed (the problem is recorded). */
struct group_ref {
	const char *ns;
	const char *svc;
	uint16_t port;       /* Service port number */
	bool port_fallback;  /* rollout mode: the Service's only port will do */
	uint32_t weight;
	const char *where;   /* "rules[0].backendRefs[1]" or "stableService" */
	bool refused;        /* not permitted: the group keeps its weight, gets no backend */
};

static bool fill_group(struct builder *b, enum cache_kind kind, const char *owner, int parent, int rule,
		       struct cand *c, const struct group_ref *gr)
{
	const struct cache_entry *se = cache_get(b->c, CACHE_SERVICE, gr->ns, gr->svc);
	const struct k8s_service_port *sp;
	struct bs_group_spec *g = &c->spec.groups[c->spec.n_groups];
	struct be_list bl = { 0 };
	char fe[80], name[CACHE_KEY_MAX];

	dp_key_str(&c->key, fe, sizeof(fe));
	if (gr->refused) {
		snprintf(name, sizeof(name), "%s/%s", gr->ns, gr->svc);
		copy_str(g->name, sizeof(g->name), name);
		g->weight = gr->weight;
		c->spec.n_groups++;
		return true;
	}
	if (!se || !se->has_good) {
		problem(b, kind, owner, parent, rule, DR_BACKEND_NOT_FOUND, true, "%s: service %s/%s not found",
			gr->where, gr->ns, gr->svc);
		return false;
	}
	sp = service_port(se->good.service, gr->port, c->key.proto, gr->port_fallback);
	if (!sp) {
		problem(b, kind, owner, parent, rule, DR_PORT_NOT_FOUND, true, "%s: service %s/%s has no %s port %u",
			gr->where, gr->ns, gr->svc, proto_name(c->key.proto), gr->port);
		return false;
	}
	collect_backends(b, gr->ns, gr->svc, sp, c->key.family, &bl);
	if (b->err) {
		free(bl.v);
		return false;
	}
	if (!bl.n && gr->weight) {
		problem(b, kind, owner, parent, rule, DR_NO_ENDPOINTS, true,
			"%s: service %s/%s has no %s endpoints for port %u (frontend %s keeps its last good backends)",
			gr->where, gr->ns, gr->svc, family_name(c->key.family), gr->port, fe);
		free(bl.v);
		return false;
	}
	if (bl.grace && gr->weight)
		problem(b, kind, owner, parent, rule, DR_ENDPOINT_GRACE, false,
			"%s: service %s/%s lost its last ready %s endpoint: the last ready ones get new connections "
			"for the endpoint grace (%llu ms), then its share is refused",
			gr->where, gr->ns, gr->svc, family_name(c->key.family),
			(unsigned long long)(b->o->endpoint_grace_ns / 1000000));
	if (bl.n && !bl.ready && gr->weight)
		problem(b, kind, owner, parent, rule, DR_NO_READY_ENDPOINTS, false,
			"%s: service %s/%s has no ready %s endpoint: new connections to its share are refused",
			gr->where, gr->ns, gr->svc, family_name(c->key.family));
	snprintf(name, sizeof(name), "%s/%s", gr->ns, gr->svc);
	copy_str(g->name, sizeof(g->name), name);
	g->weight = gr->weight;
	g->backends = bl.v;
	g->n_backends = (__u32)bl.n;
	c->spec.n_groups++;
	return true;
}

static uint8_t affinity_of(const struct builder *b, enum k8s_affinity a)
{
	if (a == K8S_AFFINITY_CLIENT)
		return BS_AFFINITY_CLIENT;
	if (a == K8S_AFFINITY_CONNECTION)
		return BS_AFFINITY_CONNECTION;
	return b->o->default_affinity;
}

/* ---- routes (HTTPRoute, GRPCRoute, TCPRoute, TLSRoute) ---- */

static const char *jstr(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static bool class_served(const struct builder *b, const char *cls)
{
	for (size_t i = 0; i < b->o->n_gateway_classes; i++)
		if (b->o->gateway_classes[i] && !strcmp(b->o->gateway_classes[i], cls))
			return true;
	return false;
}

static const struct k8s_gateway *served_gateway(const struct builder *b, const char *ns, const char *name)
{
	const struct cache_entry *g = cache_get(b->c, CACHE_GATEWAY, ns, name);

	return g && g->has_good && class_served(b, g->good.gateway->class_name) ? g->good.gateway : NULL;
}

static bool ref_served(const struct builder *b, const char *group, const char *kind, const char *ns, const char *name)
{
	if (!strcmp(kind, "Service") && (!group[0] || !strcmp(group, "core")))
		return true;
	return !strcmp(kind, "Gateway") && !strcmp(group, GW_GROUP) && served_gateway(b, ns, name);
}

/* Which parentRefs are bpfsplit's: read leniently from the latest version's raw JSON, so
 * that a route whose latest version was rejected can still be answered, and from the
 * good version, whose frontends stay in force while the latest is rejected. */
static uint32_t served_mask(const struct builder *b, const struct cache_entry *e)
{
	const struct k8s_httproute *r = e->good.route;
	const cJSON *ref;
	uint32_t mask = 0;
	int i = 0;

	cJSON_ArrayForEach(ref, e->parent_refs) {
		const char *group = jstr(ref, "group", GW_GROUP), *kind = jstr(ref, "kind", "Gateway");
		const char *ns = jstr(ref, "namespace", e->ns), *name = jstr(ref, "name", "");

		if (i >= MAX_PARENTS)
			break;
		if (e->has_frontends_ann || ref_served(b, group, kind, ns, name))
			mask |= 1u << i;
		i++;
	}
	if (e->error && e->has_good)
		for (size_t j = 0; j < r->n_parents && j < MAX_PARENTS; j++)
			if (ref_served(b, r->parents[j].group, r->parents[j].kind, r->parents[j].ns, r->parents[j].name))
				mask |= 1u << j;
	return mask;
}

/* The route kinds a listener carries by default, by protocol. */
static bool protocol_carries(const char *protocol, enum cache_kind kind)
{
	if (!strcmp(protocol, "HTTP") || !strcmp(protocol, "HTTPS"))
		return kind == CACHE_HTTPROUTE || kind == CACHE_GRPCROUTE;
	if (!strcmp(protocol, "TLS"))
		return kind == CACHE_TLSROUTE;
	if (!strcmp(protocol, "TCP"))
		return kind == CACHE_TCPROUTE;
	return false;
}

static bool kind_allowed(const struct k8s_listener *li, enum cache_kind kind)
{
	const char *type = k8s_route_kind_type(kind == CACHE_GRPCROUTE  ? K8S_ROUTE_GRPC
					       : kind == CACHE_TCPROUTE ? K8S_ROUTE_TCP
					       : kind == CACHE_TLSROUTE ? K8S_ROUTE_TLS
									: K8S_ROUTE_HTTP);

	if (!li->n_kinds)
		return protocol_carries(li->protocol, kind);
	for (size_t i = 0; i < li->n_kinds; i++)
		if (!strcmp(li->kinds[i].group, GW_GROUP) && !strcmp(li->kinds[i].kind, type))
			return true;
	return false;
}

static bool namespace_allowed(const struct builder *b, const struct k8s_listener *li, const char *gw_ns,
			      const char *route_ns)
{
	const struct cache_entry *ns;

	if (li->from == K8S_FROM_ALL)
		return true;
	if (li->from == K8S_FROM_SAME)
		return !strcmp(gw_ns, route_ns);
	ns = cache_get(b->c, CACHE_NAMESPACE, "", route_ns);
	return ns && ns->has_good && k8s_selector_matches(&li->selector, ns->good.ns->labels, ns->good.ns->n_labels);
}

/* A hostname (possibly "*.example.com") matches another: equal, or one's wildcard covers
 * the other's labels (at least one). */
static bool host_covers(const char *wild, const char *h)
{
	size_t lw, lh;

	if (!strcmp(wild, h))
		return true;
	if (strncmp(wild, "*.", 2))
		return false;
	lw = strlen(wild + 1);
	lh = strlen(h);
	return lh > lw && !strcmp(h + lh - lw, wild + 1);
}

static bool hostnames_intersect(const struct k8s_listener *li, const struct k8s_httproute *r)
{
	if (!li->hostname[0] || !r->n_hostnames)
		return true;
	for (size_t i = 0; i < r->n_hostnames; i++)
		if (host_covers(li->hostname, r->hostnames[i]) || host_covers(r->hostnames[i], li->hostname))
			return true;
	return false;
}

static const char *from_name(enum k8s_from f)
{
	return f == K8S_FROM_SAME  ? "its own namespace only (from: Same)"
	       : f == K8S_FROM_ALL ? "all namespaces"
				   : "the namespaces its selector matches only (from: Selector)";
}

/* parentRefs[i], a Gateway of a served class: the listeners it selects that take the
 * route give their addresses x port. When none does, the most specific reason is told. */
static void gateway_parent(struct builder *b, const struct cache_entry *e, size_t i, const struct k8s_parent_ref *p,
			   const struct k8s_gateway *g, struct cands *cs)
{
	const struct k8s_httproute *r = e->good.route;
	size_t n_ips = 0, n_named = 0, n_ok = 0;
	enum desired_reason why = DR_NREASONS;
	char whymsg[1200] = "";
	struct bs_frontend_key key;

	for (size_t a = 0; a < g->n_addresses; a++)
		n_ips += g->addresses[a].ip.family != 0;
	for (size_t l = 0; l < g->n_listeners; l++) {
		const struct k8s_listener *li = &g->listeners[l];
		uint8_t proto = !strcmp(li->protocol, "UDP") ? IPPROTO_UDP : IPPROTO_TCP;

		if (p->section_name[0] && strcmp(p->section_name, li->name))
			continue;
		if (p->port && p->port != li->port)
			continue;
		n_named++;
		if (!kind_allowed(li, e->kind)) {
			if (why == DR_NREASONS)
				snprintf(whymsg, sizeof(whymsg), "listener %s (%s, port %u) does not allow %s routes", li->name,
					 li->protocol, li->port, kind_desc_type(e->kind));
			if (why == DR_NREASONS)
				why = DR_NOT_ALLOWED;
			continue;
		}
		if (!namespace_allowed(b, li, g->meta.ns, e->ns)) {
			if (why == DR_NREASONS || (why == DR_NOT_ALLOWED && !strstr(whymsg, "namespace")))
				snprintf(whymsg, sizeof(whymsg),
					 "listener %s allows routes from %s; namespace %s is not allowed", li->name,
					 from_name(li->from), e->ns);
			why = DR_NOT_ALLOWED;
			continue;
		}
		if (!hostnames_intersect(li, r)) {
			snprintf(whymsg, sizeof(whymsg), "listener %s hostname %s matches none of the route's hostnames",
				 li->name, li->hostname);
			why = DR_NO_MATCHING_HOSTNAME;
			continue;
		}
		if (li->tls_mode == K8S_TLS_TERMINATE) {
			problem(b, e->kind, e->key, (int)i, -1, DR_TLS_TERMINATED, false,
				"parentRefs[%zu]: listener %s (%s, port %u) terminates TLS at the gateway; an L4 split "
				"cannot serve it: not programmed",
				i, li->name, li->protocol, li->port);
			if (why == DR_NREASONS)
				why = DR_TLS_TERMINATED;
			continue;
		}
		n_ok++;
		for (size_t a = 0; a < g->n_addresses; a++) {
			if (!g->addresses[a].ip.family)
				continue;
			key_from(&key, &g->addresses[a].ip, li->port, proto);
			cand_add(b, cs, &key, (int)i);
		}
	}
	if (!n_named)
		problem(b, e->kind, e->key, (int)i, -1, DR_NO_FRONTENDS, false,
			"parentRefs[%zu]: gateway %s/%s has no listener%s%s%s%.0u", i, p->ns, p->name,
			p->section_name[0] ? " named " : "", p->section_name, p->port ? " on port " : "", p->port);
	else if (!n_ok && why != DR_TLS_TERMINATED && why != DR_NREASONS)
		problem(b, e->kind, e->key, (int)i, -1, why, false, "parentRefs[%zu]: gateway %s/%s: %s", i, p->ns,
			p->name, whymsg);
	else if (n_ok && !n_ips)
		problem(b, e->kind, e->key, (int)i, -1, DR_NO_FRONTENDS, false,
			"parentRefs[%zu]: gateway %s/%s has no IP address in status.addresses yet", i, p->ns, p->name);
}

static void route_frontends(struct builder *b, const struct cache_entry *e, struct desired_route *dr,
			    struct cands *cs)
{
	const struct k8s_httproute *r = e->good.route;
	struct bs_frontend_key key;

	if (r->n_frontends) {
		for (size_t i = 0; i < r->n_frontends; i++) {
			key_from(&key, &r->frontends[i].ip, r->frontends[i].port, r->frontends[i].proto);
			cand_add(b, cs, &key, -1);
		}
		dr->parents_ok = dr->served_parents;
		return;
	}
	for (size_t i = 0; i < r->n_parents && i < MAX_PARENTS; i++) {
		const struct k8s_parent_ref *p = &r->parents[i];
		size_t before = cs->n;

		if (!strcmp(p->kind, "Service") && (!p->group[0] || !strcmp(p->group, "core"))) {
			const struct cache_entry *se = cache_get(b->c, CACHE_SERVICE, p->ns, p->name);
			const struct k8s_service *s;

			if (!se || !se->has_good) {
				problem(b, e->kind, e->key, (int)i, -1, DR_PARENT_NOT_FOUND, false,
					"parentRefs[%zu]: service %s/%s not found", i, p->ns, p->name);
				continue;
			}
			s = se->good.service;
			if (!s->n_cluster_ips) {
				problem(b, e->kind, e->key, (int)i, -1, DR_PARENT_NOT_FOUND, false,
					"parentRefs[%zu]: service %s/%s has no cluster IP%s", i, p->ns, p->name,
					s->headless ? " (headless)" : "");
				continue;
			}
			for (size_t a = 0; a < s->n_cluster_ips; a++) {
				for (size_t q = 0; q < s->n_ports; q++) {
					const struct k8s_service_port *sp = &s->ports[q];

					if (!s->cluster_ips[a].family || (p->port && sp->port != p->port))
						continue;
					if (sp->proto != IPPROTO_TCP && sp->proto != IPPROTO_UDP)
						continue;
					key_from(&key, &s->cluster_ips[a], sp->port, sp->proto);
					cand_add(b, cs, &key, (int)i);
				}
			}
			if (cs->n == before)
				problem(b, e->kind, e->key, (int)i, -1, DR_NO_FRONTENDS, false,
					"parentRefs[%zu]: service %s/%s has no TCP or UDP port%s%.0u", i, p->ns, p->name,
					p->port ? " " : "", p->port);
		} else if (!strcmp(p->kind, "Gateway") && !strcmp(p->group, GW_GROUP)) {
			const struct k8s_gateway *g = served_gateway(b, p->ns, p->name);

			if (!g)
				continue; /* not ours (or unknown): another controller answers for it */
			gateway_parent(b, e, i, p, g, cs);
		}
		if (cs->n > before)
			dr->parents_ok |= 1u << i;
	}
}

static const char *l7_what(unsigned int f, char *buf, size_t len)
{
	static const struct { unsigned int bit; const char *what; } names[] = {
		{ K8S_RULE_L7_PATH, "path matches" },   { K8S_RULE_L7_HEADERS, "header matches" },
		{ K8S_RULE_L7_QUERY, "query matches" }, { K8S_RULE_L7_METHOD, "method matches" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(f & names[i].bit) || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[i].what);
	}
	return buf;
}

static const char *details_what(unsigned int f, char *buf, size_t len)
{
	static const struct { unsigned int bit; const char *what; } names[] = {
		{ K8S_RULE_D_TIMEOUTS, "timeouts" },
		{ K8S_RULE_D_RETRY, "retry" },
		{ K8S_RULE_D_SESSION, "sessionPersistence" },
		{ K8S_RULE_D_HEADER_MOD, "header modifier filters" },
		{ K8S_RULE_D_MIRROR, "RequestMirror filters" },
		{ K8S_RULE_D_REWRITE, "URLRewrite filters" },
		{ K8S_RULE_D_REDIRECT, "RequestRedirect filters" },
		{ K8S_RULE_D_FILTER_OTHER, "other filters" },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!(f & names[i].bit) || off >= len)
			continue;
		off += (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", names[i].what);
	}
	return buf;
}

/* An entry's error without the "kind namespace/name: " its parser put first. */
static const char *cause_of(const struct cache_entry *e)
{
	const char *kind = cache_kind_name(e->kind);
	size_t kl = strlen(kind), nl = strlen(e->key);

	if (!strncmp(e->error, kind, kl) && e->error[kl] == ' ' && !strncmp(e->error + kl + 1, e->key, nl) &&
	    !strncmp(e->error + kl + 1 + nl, ": ", 2))
		return e->error + kl + 1 + nl + 2;
	return e->error;
}

/* A ReferenceGrant in the backend's namespace lets routes of this kind from the route's
 * namespace refer to Service name. */
static bool ref_granted(const struct builder *b, const struct cache_entry *e, const char *to_ns, const char *svc)
{
	const struct cache_entry *g;
	const char *type = kind_desc_type(e->kind);

	cache_for_each(b->c, CACHE_REFERENCEGRANT, g) {
		const struct k8s_refgrant *rg = g->good.grant;
		bool from = false, to = false;

		if (!g->has_good || strcmp(g->ns, to_ns))
			continue;
		for (size_t i = 0; i < rg->n_from && !from; i++)
			from = !strcmp(rg->from[i].group, GW_GROUP) && !strcmp(rg->from[i].kind, type) &&
			       !strcmp(rg->from[i].ns, e->ns);
		for (size_t i = 0; i < rg->n_to && !to; i++)
			to = !rg->to[i].group[0] && !strcmp(rg->to[i].kind, "Service") &&
			     (!rg->to[i].name[0] || !strcmp(rg->to[i].name, svc));
		if (from && to)
			return true;
	}
	return false;
}

static void route_compute(struct builder *b, const struct cache_entry *e, const struct cache_entry *rollout)
{
	struct bs_frontend_info info;
	struct desired_route *dr;
	struct cands cs = { 0 };
	const struct k8s_httproute *r = e->good.route;
	uint32_t mask = served_mask(b, e);
	bool route_blocked = false, refused[BS_MAX_GROUPS] = { false };
	char what[200], rname[K8S_SECTION_MAX + 8];
	size_t pr_before;
	int rule = -1;

	if (!mask && !e->has_frontends_ann && !(e->has_good && r->n_frontends))
		return; /* not ours */
	dr = grow(b, (void **)&b->d->routes, &b->cap_routes, b->d->n_routes, sizeof(*dr));
	if (!dr)
		return;
	b->d->n_routes++;
	memset(dr, 0, sizeof(*dr));
	dr->kind = e->kind;
	copy_str(dr->key, sizeof(dr->key), e->key);
	copy_str(dr->rollout, sizeof(dr->rollout), rollout ? rollout->key : "");
	dr->generation = e->generation;
	dr->served_parents = mask;
	dr->invalid = e->error != NULL;
	dr->has_good = e->has_good;
	dr->rule = -1;
	if (e->error) {
		const char *cause = cause_of(e);
		char msg[560];

		if (e->has_good)
			snprintf(msg, sizeof(msg), "%s (generation %lld stays in force)", cause,
				 (long long)r->meta.generation);
		else
			snprintf(msg, sizeof(msg), "%s", cause);
		problem(b, e->kind, e->key, -1, -1, DR_INVALID, !e->has_good, "%s", msg);
	}
	if (!e->has_good)
		return;

	pr_before = b->d->n_pr;
	route_frontends(b, e, dr, &cs);
	if (!cs.n) {
		if (b->d->n_pr == pr_before) /* no parent said why */
			problem(b, e->kind, e->key, -1, -1, DR_NO_FRONTENDS, false,
				"no frontend: no served parent gives an address (serve its GatewayClass with "
				"--gateway-class, or name frontends with the %s annotation)",
				K8S_ANN_FRONTENDS);
		goto out;
	}

	for (size_t i = 0; i < r->n_rules; i++) {
		const struct k8s_rule *ru = &r->rules[i];

		if (ru->name[0])
			snprintf(rname, sizeof(rname), " (%s)", ru->name);
		else
			rname[0] = '\0';
		if (ru->l7_flags) {
			problem(b, e->kind, e->key, -1, (int)i, DR_RULE_SKIPPED, false,
				"rules[%zu]%s: %s cannot be honoured at L4; rule skipped", i, rname,
				l7_what(ru->l7_flags, what, sizeof(what)));
			continue;
		}
		if (ru->l7_details && b->o->l7_details_refuse) {
			problem(b, e->kind, e->key, -1, (int)i, DR_RULE_SKIPPED, false,
				"rules[%zu]%s: %s cannot be enforced at L4 and the agent refuses L7 details "
				"(--l7-details=refuse); rule skipped",
				i, rname, details_what(ru->l7_details, what, sizeof(what)));
			continue;
		}
		if (rule >= 0) {
			problem(b, e->kind, e->key, -1, (int)i, DR_RULE_SHADOWED, false,
				"rules[%zu]%s: also matches all traffic; rules[%d] is the one programmed", i, rname, rule);
			continue;
		}
		rule = (int)i;
		if (ru->l7_details)
			problem(b, e->kind, e->key, -1, (int)i, DR_L7_NOT_ENFORCED, false,
				"rules[%zu]%s: %s not enforced at L4 (the weights are)", i, rname,
				details_what(ru->l7_details, what, sizeof(what)));
	}
	dr->rule = rule;
	if (rule < 0) {
		problem(b, e->kind, e->key, -1, -1, DR_NO_L4_RULE, true,
			"no rule matches all traffic (every rule needs L7 matching)");
		route_blocked = true;
	} else if (r->rules[rule].n_backends > BS_MAX_GROUPS) {
		problem(b, e->kind, e->key, -1, rule, DR_TOO_MANY_GROUPS, true, "rules[%d]: %zu backendRefs, at most %d",
			rule, r->rules[rule].n_backends, BS_MAX_GROUPS);
		route_blocked = true;
	} else {
		const struct k8s_rule *ru = &r->rules[rule];

		for (size_t k = 0; k < ru->n_backends; k++) {
			const struct k8s_backend_ref *br = &ru->backends[k];

			if (strcmp(br->kind, "Service") || br->group[0]) {
				problem(b, e->kind, e->key, -1, rule, DR_INVALID_KIND, true,
					"rules[%d].backendRefs[%zu]: kind %s%s%s is not supported (only Service)", rule,
					k, br->group, br->group[0] ? "/" : "", br->kind);
				route_blocked = true;
			} else if (!br->port) {
				problem(b, e->kind, e->key, -1, rule, DR_PORT_NOT_FOUND, true,
					"rules[%d].backendRefs[%zu]: port missing (required for a Service)", rule, k);
				route_blocked = true;
			} else if (strcmp(br->ns, e->ns) && !ref_granted(b, e, br->ns, br->name)) {
				problem(b, e->kind, e->key, -1, rule, DR_REF_NOT_PERMITTED, false,
					"rules[%d].backendRefs[%zu]: service %s/%s is in another namespace and no "
					"ReferenceGrant there allows it: its share (weight %u) is refused",
					rule, k, br->ns, br->name, br->weight);
				refused[k] = true;
			}
		}
	}

	for (size_t i = 0; i < cs.n && !b->err; i++) {
		struct cand *c = &cs.v[i];
		const struct k8s_rule *ru;

		if (route_blocked) {
			c->blocked = true;
			continue;
		}
		ru = &r->rules[rule];
		c->spec.key = c->key;
		c->spec.affinity = affinity_of(b, r->affinity);
		for (size_t k = 0; k < ru->n_backends; k++) {
			char where[64];
			struct group_ref gr = {
				.ns = ru->backends[k].ns,
				.svc = ru->backends[k].name,
				.port = ru->backends[k].port,
				.weight = ru->backends[k].weight,
				.where = where,
				.refused = refused[k],
			};

			snprintf(where, sizeof(where), "rules[%d].backendRefs[%zu]", rule, k);
			if (!fill_group(b, e->kind, e->key, c->parent, rule, c, &gr)) {
				c->blocked = true;
				bs_frontend_spec_free(&c->spec);
				memset(&c->spec, 0, sizeof(c->spec));
				break;
			}
		}
		if (!c->blocked && holdable(b, CACHE_HTTPROUTE, e->key, c->parent, rule, c))
			dp_spec_normalize(&c->spec);
	}
	info_fill(&info, e->key, rollout);
	emit(b, &cs, e->kind, e->key, &info, &dr->n_frontends);
out:
	cands_free(&cs);
}

/* ---- Rollouts ---- */

static void rollout_compute(struct builder *b, const struct cache_entry *e)
{
	const struct k8s_rollout *ro = e->good.rollout;
	struct bs_frontend_info info;
	struct cands cs = { 0 };
	struct bs_frontend_key key;
	size_t emitted = 0;
	bool blocked = false;

	if (e->error)
		problem(b, CACHE_ROLLOUT, e->key, -1, -1, DR_INVALID, !e->has_good, "%s%s", cause_of(e),
			e->has_good ? " (the last good version stays in force)" : "");
	if (!e->has_good || !e->n_ro_frontends)
		return;
	for (size_t i = 0; i < e->n_ro_frontends; i++) {
		key_from(&key, &e->ro_frontends[i].ip, e->ro_frontends[i].port, e->ro_frontends[i].proto);
		cand_add(b, &cs, &key, -1);
	}
	if (!ro->is_canary || !ro->stable_service[0]) {
		problem(b, CACHE_ROLLOUT, e->key, -1, -1, DR_BACKEND_NOT_FOUND, true,
			"strategy.canary.stableService not set: nothing to split between");
		blocked = true;
	} else if (!ro->stable_weight.present && !ro->canary_weight.present) {
		problem(b, CACHE_ROLLOUT, e->key, -1, -1, DR_WEIGHTS_MISSING, true,
			"status.canary.weights not written yet (Argo Rollouts has not reconciled it)");
		blocked = true;
	}
	for (size_t i = 0; i < cs.n && !b->err; i++) {
		struct cand *c = &cs.v[i];
		struct group_ref gr[2] = {
			{ e->ns, ro->stable_service, c->key.port ? ntohs(c->key.port) : 0, true,
			  (uint32_t)ro->stable_weight.weight, "stableService" },
			{ e->ns, ro->canary_service, c->key.port ? ntohs(c->key.port) : 0, true,
			  (uint32_t)ro->canary_weight.weight, "canaryService" },
		};

		if (blocked) {
			c->blocked = true;
			continue;
		}
		c->spec.key = c->key;
		c->spec.affinity = b->o->default_affinity;
		for (int g = 0; g < 2; g++) {
			if (!gr[g].svc[0])
				continue;
			if (!fill_group(b, CACHE_ROLLOUT, e->key, -1, -1, c, &gr[g])) {
				c->blocked = true;
				bs_frontend_spec_free(&c->spec);
				memset(&c->spec, 0, sizeof(c->spec));
				break;
			}
		}
		if (!c->blocked && holdable(b, CACHE_ROLLOUT, e->key, -1, -1, c))
			dp_spec_normalize(&c->spec);
	}
	info_fill(&info, NULL, e);
	emit(b, &cs, CACHE_ROLLOUT, e->key, &info, &emitted);
	cands_free(&cs);
}

/* ---- entry points ---- */

/* The Rollout whose Gateway API plugin names route kind/key, NULL when none. */
static const struct cache_entry *rollout_of(const struct cache_entry **ros, size_t n, enum cache_kind kind,
					    const char *key)
{
	char rk[CACHE_KEY_MAX];

	for (size_t i = 0; i < n; i++) {
		const struct k8s_rollout *ro = ros[i]->good.rollout;

		if (!ros[i]->has_good || !ro->has_gateway_plugin)
			continue;
		for (size_t j = 0; j < ro->n_routes; j++) {
			snprintf(rk, sizeof(rk), "%s/%s", ro->route_ns, ro->routes[j]);
			if (kind_of_route(ro->route_kinds[j]) == kind && !strcmp(rk, key))
				return ros[i];
		}
	}
	return NULL;
}

/* Route precedence: the oldest (creationTimestamp) first, then by namespace/name, then
 * by kind. */
static int route_order(const void *a, const void *b)
{
	const struct cache_entry *x = *(const struct cache_entry *const *)a, *y = *(const struct cache_entry *const *)b;
	int64_t cx = x->has_good ? x->good.route->meta.created : 0, cy = y->has_good ? y->good.route->meta.created : 0;
	int rc;

	if (cx != cy)
		return cx < cy ? -1 : 1;
	rc = strcmp(x->key, y->key);
	return rc ? rc : (int)x->kind - (int)y->kind;
}

/* Every route of every route kind, in precedence order (heap array, free()). */
static int routes_sorted(const struct cache *c, const struct cache_entry ***out, size_t *n)
{
	const struct cache_entry *e, **arr;
	size_t count = 0, i = 0;
	enum cache_kind k;

	for_each_route_kind(k)
		count += cache_count(c, k);
	arr = calloc(count ? count : 1, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	for_each_route_kind(k)
		cache_for_each(c, k, e)
			arr[i++] = e;
	qsort(arr, count, sizeof(*arr), route_order);
	*out = arr;
	*n = count;
	return 0;
}

int desired_compute(const struct cache *c, const struct desired_opts *o, struct desired *out)
{
	struct builder b = { .c = c, .o = o, .d = out };
	const struct cache_entry **routes = NULL, **ros = NULL;
	size_t n_routes = 0, n_ros = 0;
	struct claim *cl, *tmp;

	memset(out, 0, sizeof(*out));
	if (cache_sorted(c, CACHE_ROLLOUT, &ros, &n_ros) || routes_sorted(c, &routes, &n_routes)) {
		b.err = -ENOMEM;
		goto out;
	}
	if (o->weights_from == WEIGHTS_FROM_ROLLOUT) {
		for (size_t i = 0; i < n_ros && !b.err; i++)
			rollout_compute(&b, ros[i]);
	} else {
		for (size_t i = 0; i < n_routes && !b.err; i++)
			route_compute(&b, routes[i], rollout_of(ros, n_ros, routes[i]->kind, routes[i]->key));
	}
out:
	free(routes);
	free(ros);
	HASH_ITER(hh, b.claims, cl, tmp) {
		HASH_DEL(b.claims, cl);
		free(cl);
	}
	if (b.err) {
		desired_free(out);
		return b.err;
	}
	return 0;
}

void desired_free(struct desired *d)
{
	for (size_t i = 0; i < d->n_fe; i++)
		bs_frontend_spec_free(&d->fe[i].spec);
	free(d->fe);
	free(d->pr);
	free(d->routes);
	memset(d, 0, sizeof(*d));
}

const struct desired_route *desired_find_route(const struct desired *d, enum cache_kind kind, const char *key)
{
	for (size_t i = 0; i < d->n_routes; i++)
		if (d->routes[i].kind == kind && !strcmp(d->routes[i].key, key))
			return &d->routes[i];
	return NULL;
}

const struct desired_frontend *desired_find_frontend(const struct desired *d, const struct bs_frontend_key *key)
{
	for (size_t i = 0; i < d->n_fe; i++)
		if (!memcmp(&d->fe[i].spec.key, key, sizeof(*key)))
			return &d->fe[i];
	return NULL;
}

/* ---- incremental update ---- */

struct kset {
	UT_hash_handle hh;
	const char *k;
};

static void kset_free(struct kset **s)
{
	struct kset *e, *tmp;

	HASH_ITER(hh, *s, e, tmp) {
		HASH_DEL(*s, e);
		free(e);
	}
}

static bool kset_has(struct kset *s, const char *k)
{
	struct kset *e;

	HASH_FIND_STR(s, k, e);
	return e != NULL;
}

/* Append n elements of size from src to *arr (n_arr of them). */
static int append(void **arr, size_t *n_arr, const void *src, size_t n, size_t size)
{
	void *p;

	if (!n)
		return 0;
	p = realloc(*arr, (*n_arr + n) * size);
	if (!p)
		return -ENOMEM;
	memcpy((char *)p + *n_arr * size, src, n * size);
	*arr = p;
	*n_arr += n;
	return 0;
}

int desired_update(const struct cache *c, const struct desired_opts *o, struct desired *d, const char *const *keys,
		   size_t n_keys)
{
	struct desired tmp = { 0 };
	struct builder b = { .c = c, .o = o, .d = &tmp };
	const struct cache_entry **ros = NULL, **sel = NULL;
	size_t n_ros = 0, n_sel = 0, j;
	struct kset *set = NULL, *ks;
	struct claim *cl, *ct;
	int rc = 1;

	if (o->weights_from != WEIGHTS_FROM_HTTPROUTE)
		return 1;
	for (size_t i = 0; i < d->n_pr; i++)
		if (d->pr[i].reason == DR_CONFLICT)
			return 1; /* who wins a frontend depends on the other routes */
	if (!n_keys)
		return 0;
	sel = calloc(n_keys, sizeof(*sel));
	if (!sel)
		return -ENOMEM;
	for (size_t i = 0; i < n_keys; i++) {
		const struct cache_entry *e;
		char ns[K8S_NS_MAX];
		const char *slash = strchr(keys[i], '/');

		if (kset_has(set, keys[i]))
			continue;
		ks = calloc(1, sizeof(*ks));
		if (!ks) {
			rc = -ENOMEM;
			goto out;
		}
		ks->k = keys[i];
		HASH_ADD_KEYPTR(hh, set, ks->k, strlen(ks->k), ks);
		if (!slash || (size_t)(slash - keys[i]) >= sizeof(ns))
			continue;
		memcpy(ns, keys[i], (size_t)(slash - keys[i]));
		ns[slash - keys[i]] = '\0';
		e = cache_get(c, CACHE_HTTPROUTE, ns, slash + 1);
		if (e)
			sel[n_sel++] = e;
	}
	qsort(sel, n_sel, sizeof(*sel), route_order);
	if (cache_sorted(c, CACHE_ROLLOUT, &ros, &n_ros)) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_sel && !b.err; i++)
		route_compute(&b, sel[i], rollout_of(ros, n_ros, sel[i]->kind, sel[i]->key));
	if (b.err) {
		rc = b.err;
		goto out;
	}
	for (size_t i = 0; i < tmp.n_pr; i++)
		if (tmp.pr[i].reason == DR_CONFLICT)
			goto out; /* rc 1 */
	/* A frontend the recomputed routes claim that another route holds: full compute. */
	for (size_t i = 0; i < d->n_fe; i++) {
		HASH_FIND(hh, b.claims, &d->fe[i].spec.key, sizeof(d->fe[i].spec.key), cl);
		if (cl && (d->fe[i].owner_kind != CACHE_HTTPROUTE || !kset_has(set, d->fe[i].owner)))
			goto out; /* rc 1 */
	}
	/* Make room first, so that nothing fails once d is being changed. */
	if (tmp.n_fe) {
		struct desired_frontend *p = realloc(d->fe, (d->n_fe + tmp.n_fe) * sizeof(*d->fe));

		if (!p) {
			rc = -ENOMEM;
			goto out;
		}
		d->fe = p;
	}
	/* Drop the recomputed routes' old entries. Frontends and problems keep their order
	 * (a route's status lists them in it); for routes, the last entry fills each hole. */
	for (size_t i = j = 0; i < d->n_fe; i++) {
		if (d->fe[i].owner_kind == CACHE_HTTPROUTE && kset_has(set, d->fe[i].owner)) {
			bs_frontend_spec_free(&d->fe[i].spec);
			continue;
		}
		if (i != j)
			d->fe[j] = d->fe[i];
		j++;
	}
	d->n_fe = j;
	for (size_t i = j = 0; i < d->n_pr; i++) {
		if (d->pr[i].kind == CACHE_HTTPROUTE && kset_has(set, d->pr[i].owner))
			continue;
		if (i != j)
			d->pr[j] = d->pr[i];
		j++;
	}
	d->n_pr = j;
	for (size_t i = 0; i < d->n_routes;) {
		if (d->routes[i].kind == CACHE_HTTPROUTE && kset_has(set, d->routes[i].key)) {
			if (i != --d->n_routes)
				d->routes[i] = d->routes[d->n_routes];
			continue;
		}
		i++;
	}
	rc = 0;
out:
	if (!rc) {
		/* d's fe array has room; pr and routes may need to grow: on failure d misses
		 * the recomputed routes' problems or entries, and the caller recomputes it. */
		memcpy(d->fe + d->n_fe, tmp.fe, tmp.n_fe * sizeof(*tmp.fe));
		d->n_fe += tmp.n_fe;
		tmp.n_fe = 0; /* the backends moved */
		if (append((void **)&d->pr, &d->n_pr, tmp.pr, tmp.n_pr, sizeof(*tmp.pr)) ||
		    append((void **)&d->routes, &d->n_routes, tmp.routes, tmp.n_routes, sizeof(*tmp.routes)))
			rc = -ENOMEM;
	}
	desired_free(&tmp);
	HASH_ITER(hh, b.claims, cl, ct) {
		HASH_DEL(b.claims, cl);
		free(cl);
	}
	kset_free(&set);
	free(sel);
	free(ros);
	return rc;
}

bool desired_route_depends(const struct cache_entry *route, enum cache_kind kind, const char *ns, const char *name)
{
	const struct k8s_httproute *r = route->good.route;
	const cJSON *ref;

	if (kind == CACHE_SERVICE && route->has_good) {
		for (size_t i = 0; i < r->n_parents; i++)
			if (!strcmp(r->parents[i].kind, "Service") && !strcmp(r->parents[i].name, name) &&
			    !strcmp(r->parents[i].ns, ns))
				return true;
		for (size_t i = 0; i < r->n_rules; i++)
			for (size_t k = 0; k < r->rules[i].n_backends; k++)
				if (!strcmp(r->rules[i].backends[k].name, name) && !strcmp(r->rules[i].backends[k].ns, ns))
					return true;
		return false;
	}
	if (kind != CACHE_GATEWAY)
		return false;
	if (route->has_good)
		for (size_t i = 0; i < r->n_parents; i++)
			if (!strcmp(r->parents[i].kind, "Gateway") && !strcmp(r->parents[i].name, name) &&
			    !strcmp(r->parents[i].ns, ns))
				return true;
	cJSON_ArrayForEach(ref, route->parent_refs) {
		if (!strcmp(jstr(ref, "kind", "Gateway"), "Gateway") && !strcmp(jstr(ref, "name", ""), name) &&
		    !strcmp(jstr(ref, "namespace", route->ns), ns))
			return true;
	}
	return false;
}
