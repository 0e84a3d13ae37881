// SPDX-License-Identifier: BSD-2-Clause
/* Parse Kubernetes objects (cJSON trees) into the plain structs of objects.h.
 * One pattern throughout: look a field up, check its type and range, apply the
 * API's default, copy it into a bounded field; on the first problem format one
 * message that names the object and the field path, free what was built, return. */
#include "k8s/objects.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Parse context: what to name in messages, and where to write them. */
struct pctx {
	const char *kind;            /* lower-case kind for messages */
	const struct k8s_meta *meta; /* filled as the parse goes; names the object */
	char *err;
	size_t errlen;
};

/* Messages must never be truncated silently into garbage: build the cause first,
 * then prefix it with the object's name. */
static int __attribute__((format(printf, 2, 3))) fail(struct pctx *c, const char *fmt, ...)
{
	char cause[768];
	va_list ap;

	if (!c->err || !c->errlen)
		return -EINVAL;
	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	if (c->meta && c->meta->name[0] && c->meta->ns[0])
		snprintf(c->err, c->errlen, "%s %s/%s: %s", c->kind, c->meta->ns, c->meta->name, cause);
	else if (c->meta && c->meta->name[0])
		snprintf(c->err, c->errlen, "%s %s: %s", c->kind, c->meta->name, cause);
	else if (c->meta && c->meta->ns[0])
		snprintf(c->err, c->errlen, "%s %s/?: %s", c->kind, c->meta->ns, cause);
	else
		snprintf(c->err, c->errlen, "%s: %s", c->kind, cause);
	return -EINVAL;
}

static int oom(struct pctx *c)
{
	if (c->err && c->errlen)
		snprintf(c->err, c->errlen, "%s: out of memory", c->kind);
	return -ENOMEM;
}

static const char *type_name(const cJSON *v)
{
	if (cJSON_IsString(v))
		return "string";
	if (cJSON_IsNumber(v))
		return "number";
	if (cJSON_IsBool(v))
		return "bool";
	if (cJSON_IsArray(v))
		return "array";
	if (cJSON_IsObject(v))
		return "object";
	return "null";
}

/* Field paths for messages ("rules[0].backendRefs[1]"). They are short and
 * built from our own literals; a cut one would still name the field well enough. */
static const char * __attribute__((format(printf, 3, 4))) pathf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return buf;
}

/* "parent.key", or "key" at the top. */
static const char *join(char *buf, size_t cap, const char *path, const char *key)
{
	return pathf(buf, cap, "%s%s%s", path, path[0] ? "." : "", key);
}

#define PATH_MAX_LEN 256

/* A field; JSON null counts as absent, as it does for the API server's decoder. */
static const cJSON *field(const cJSON *o, const char *key)
{
	const cJSON *v;

	if (!cJSON_IsObject(o))
		return NULL;
	v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNull(v) ? NULL : v;
}

enum { OPT = 0, REQ = 1 };

/* A string field copied into out[cap]. Absent: dflt (or error when required).
 * A required field must also be non-empty. */
static int get_str(struct pctx *c, const cJSON *o, const char *path, const char *key,
		   char *out, size_t cap, int required, const char *dflt)
{
	const cJSON *v = field(o, key);
	char p[PATH_MAX_LEN];
	size_t n;

	if (!v) {
		if (required)
			return fail(c, "%s missing", join(p, sizeof(p), path, key));
		snprintf(out, cap, "%s", dflt ? dflt : "");
		return 0;
	}
	if (!cJSON_IsString(v))
		return fail(c, "%s: want string, got %s", join(p, sizeof(p), path, key), type_name(v));
	n = strlen(v->valuestring);
	if (required && n == 0)
		return fail(c, "%s empty", join(p, sizeof(p), path, key));
	if (n >= cap)
		return fail(c, "%s too long (%zu bytes, max %zu)", join(p, sizeof(p), path, key), n, cap - 1);
	memcpy(out, v->valuestring, n + 1);
	return 0;
}

/* A string that may be cut to fit (free text such as Status messages). */
static void get_str_trunc(const cJSON *o, const char *key, char *out, size_t cap)
{
	const cJSON *v = field(o, key);

	snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

/* JSON numbers arrive as doubles; whole ones below 2^63 convert exactly.
 * (A cast, so that no libm is needed.) */
static bool is_whole(double d)
{
	if (!isfinite(d))
		return false;
	if (d <= -9.2e18 || d >= 9.2e18)
		return true; /* beyond 2^53 every double is whole; the range check rejects it */
	return (double)(int64_t)d == d;
}

/* An integer field in [min, max]. *present says whether it was there. */
static int get_int(struct pctx *c, const cJSON *o, const char *path, const char *key,
		   int64_t min, int64_t max, bool *present, int64_t *out)
{
	const cJSON *v = field(o, key);
	char p[PATH_MAX_LEN];
	double d;

	*present = false;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return fail(c, "%s: want integer, got %s", join(p, sizeof(p), path, key), type_name(v));
	d = v->valuedouble;
	if (!is_whole(d))
		return fail(c, "%s %g not an integer", join(p, sizeof(p), path, key), d);
	if (d < (double)min || d > (double)max)
		return fail(c, "%s %.0f out of range %lld..%lld", join(p, sizeof(p), path, key), d,
			    (long long)min, (long long)max);
	*present = true;
	*out = (int64_t)d;
	return 0;
}

static int get_bool(struct pctx *c, const cJSON *o, const char *path, const char *key,
		    bool *present, bool *out)
{
	const cJSON *v = field(o, key);
	char p[PATH_MAX_LEN];

	*present = false;
	if (!v)
		return 0;
	if (!cJSON_IsBool(v))
		return fail(c, "%s: want bool, got %s", join(p, sizeof(p), path, key), type_name(v));
	*present = true;
	*out = cJSON_IsTrue(v);
	return 0;
}

/* An object field; absent gives NULL (or an error when required). */
static int get_obj(struct pctx *c, const cJSON *o, const char *path, const char *key,
		   int required, const cJSON **out)
{
	const cJSON *v = field(o, key);
	char p[PATH_MAX_LEN];

	*out = NULL;
	if (!v)
		return required ? fail(c, "%s missing", join(p, sizeof(p), path, key)) : 0;
	if (!cJSON_IsObject(v))
		return fail(c, "%s: want object, got %s", join(p, sizeof(p), path, key), type_name(v));
	*out = v;
	return 0;
}

/* An array field; absent gives NULL and *n = 0. */
static int get_arr(struct pctx *c, const cJSON *o, const char *path, const char *key,
		   const cJSON **out, size_t *n)
{
	const cJSON *v = field(o, key);
	char p[PATH_MAX_LEN];

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	if (!cJSON_IsArray(v))
		return fail(c, "%s: want array, got %s", join(p, sizeof(p), path, key), type_name(v));
	*out = v;
	*n = (size_t)cJSON_GetArraySize(v);
	return 0;
}

/* A port number 1..65535; 0 in *port when absent. */
static int get_port(struct pctx *c, const cJSON *o, const char *path, const char *key,
		    int required, uint16_t *port)
{
	char p[PATH_MAX_LEN];
	bool present;
	int64_t v = 0;
	int rc;

	*port = 0;
	rc = get_int(c, o, path, key, 1, 65535, &present, &v);
	if (rc)
		return rc;
	if (!present && required)
		return fail(c, "%s missing", join(p, sizeof(p), path, key));
	*port = (uint16_t)v;
	return 0;
}

/* A non-empty array field of a map: JSON objects whose keys are all strings. */
static bool nonempty(const cJSON *v)
{
	if (cJSON_IsArray(v) || cJSON_IsObject(v))
		return v->child != NULL;
	return v != NULL && !cJSON_IsNull(v);
}

/* Item i of an array needs to be an object. */
static int want_item_obj(struct pctx *c, const cJSON *it, const char *path)
{
	if (!cJSON_IsObject(it))
		return fail(c, "%s: want object, got %s", path, type_name(it));
	return 0;
}

/* Allocate n zeroed elements into ptr; n == 0 gives NULL, which is not an error.
 * An expression, so it chains with the other field helpers. */
#define ALLOC_N(c, ptr, n) \
	(((ptr) = (n) ? calloc((n), sizeof(*(ptr))) : NULL), ((n) && !(ptr)) ? oom(c) : 0)

/* L4 protocol names used by Services and EndpointSlices; absent = TCP. */
static int get_proto(struct pctx *c, const cJSON *o, const char *path, uint8_t *proto)
{
	char s[K8S_SHORT_MAX];
	char p[PATH_MAX_LEN];
	int rc;

	rc = get_str(c, o, path, "protocol", s, sizeof(s), OPT, "TCP");
	if (rc)
		return rc;
	if (!strcmp(s, "TCP"))
		*proto = IPPROTO_TCP;
	else if (!strcmp(s, "UDP"))
		*proto = IPPROTO_UDP;
	else if (!strcmp(s, "SCTP"))
		*proto = IPPROTO_SCTP;
	else
		return fail(c, "%s \"%s\" unknown (TCP, UDP, SCTP)", join(p, sizeof(p), path, "protocol"), s);
	return 0;
}

int k8s_ip_parse(const char *s, struct k8s_ip *ip)
{
	memset(ip, 0, sizeof(*ip));
	if (!s || strlen(s) >= K8S_IPSTR_MAX)
		return -EINVAL;
	if (inet_pton(AF_INET, s, ip->addr) == 1) {
		ip->family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, ip->addr) == 1) {
		ip->family = AF_INET6;
		return 0;
	}
	memset(ip, 0, sizeof(*ip));
	return -EINVAL;
}

/* ---- metadata ---- */

static void lower(char *dst, size_t cap, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < cap && src[i]; i++)
		dst[i] = (char)tolower((unsigned char)src[i]);
	dst[i] = '\0';
}

/* "2026-09-01T09:00:03Z" (fractions and offsets accepted) -> seconds since the epoch. */
static int rfc3339_parse(const char *s, int64_t *out)
{
	struct tm tm = { 0 };
	const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	long off = 0;

	if (!rest)
		return -EINVAL;
	if (*rest == '.')
		for (rest++; isdigit((unsigned char)*rest); rest++)
			;
	if ((*rest == '+' || *rest == '-') && strlen(rest) == 6 && rest[3] == ':')
		off = (rest[0] == '-' ? -1 : 1) * (atol(rest + 1) * 3600 + atol(rest + 4) * 60);
	else if (strcmp(rest, "Z") && strcmp(rest, "z"))
		return -EINVAL;
	*out = (int64_t)timegm(&tm) - off;
	return 0;
}

static int meta_parse(struct pctx *c, const cJSON *obj, const char *kind, struct k8s_meta *m)
{
	const cJSON *md, *k;
	char ts[64];
	bool present;
	int rc;

	memset(m, 0, sizeof(*m));
	c->meta = m;
	if (!cJSON_IsObject(obj))
		return fail(c, "not a JSON object (%s)", obj ? type_name(obj) : "nothing");
	/* Items of built-in lists carry no kind (kubernetes#3030); when one is
	 * given it must be the one expected, so a mix-up is caught early. */
	k = field(obj, "kind");
	if (k && (!cJSON_IsString(k) || strcmp(k->valuestring, kind)))
		return fail(c, "kind %s%s%s, want %s", cJSON_IsString(k) ? "\"" : "",
			    cJSON_IsString(k) ? k->valuestring : type_name(k),
			    cJSON_IsString(k) ? "\"" : "", kind);
	rc = get_obj(c, obj, "", "metadata", REQ, &md);
	if (rc)
		return rc;
	rc = get_str(c, md, "metadata", "namespace", m->ns, sizeof(m->ns), OPT, NULL);
	if (rc)
		return rc;
	rc = get_str(c, md, "metadata", "name", m->name, sizeof(m->name), REQ, NULL);
	if (rc)
		return rc;
	rc = get_str(c, md, "metadata", "uid", m->uid, sizeof(m->uid), OPT, NULL);
	if (rc)
		return rc;
	rc = get_str(c, md, "metadata", "resourceVersion", m->resource_version,
		     sizeof(m->resource_version), OPT, NULL);
	if (rc)
		return rc;
	rc = get_str(c, md, "metadata", "creationTimestamp", ts, sizeof(ts), OPT, NULL);
	if (rc)
		return rc;
	if (ts[0] && rfc3339_parse(ts, &m->created))
		return fail(c, "metadata.creationTimestamp \"%s\": want RFC 3339 time", ts);
	return get_int(c, md, "metadata", "generation", 0, INT64_MAX / 2, &present, &m->generation);
}

int k8s_meta_parse(const cJSON *obj, const char *kind, struct k8s_meta *m, char *err, size_t errlen)
{
	char lk[K8S_KIND_MAX];
	struct pctx c = { lk, NULL, err, errlen };
	int rc;

	lower(lk, sizeof(lk), kind);
	rc = meta_parse(&c, obj, kind, m);
	if (rc)
		memset(m, 0, sizeof(*m));
	return rc;
}

/* A string-valued entry of metadata.labels or metadata.annotations. */
static int get_meta_map_str(struct pctx *c, const cJSON *obj, const char *map, const char *key,
			    const cJSON **out)
{
	const cJSON *md = field(obj, "metadata"), *m, *v;

	*out = NULL;
	m = field(md, map);
	if (!m)
		return 0;
	if (!cJSON_IsObject(m))
		return fail(c, "metadata.%s: want object, got %s", map, type_name(m));
	v = field(m, key);
	if (!v)
		return 0;
	if (!cJSON_IsString(v))
		return fail(c, "metadata.%s[%s]: want string, got %s", map, key, type_name(v));
	*out = v;
	return 0;
}

/* ---- HTTPRoute ---- */

static int parent_ref_parse(struct pctx *c, const cJSON *o, const char *path, const char *route_ns,
			    struct k8s_parent_ref *p)
{
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_str(c, o, path, "group", p->group, sizeof(p->group), OPT, "gateway.networking.k8s.io")) ||
	    (rc = get_str(c, o, path, "kind", p->kind, sizeof(p->kind), OPT, "Gateway")) ||
	    (rc = get_str(c, o, path, "namespace", p->ns, sizeof(p->ns), OPT, route_ns)) ||
	    (rc = get_str(c, o, path, "name", p->name, sizeof(p->name), REQ, NULL)) ||
	    (rc = get_str(c, o, path, "sectionName", p->section_name, sizeof(p->section_name), OPT, NULL)))
		return rc;
	return get_port(c, o, path, "port", OPT, &p->port);
}

/* The K8S_RULE_D_* bits of a filters array (rule or backendRef). */
static unsigned int filter_details(const cJSON *filters)
{
	static const struct { const char *type; unsigned int bit; } known[] = {
		{ "RequestHeaderModifier", K8S_RULE_D_HEADER_MOD }, { "ResponseHeaderModifier", K8S_RULE_D_HEADER_MOD },
		{ "RequestMirror", K8S_RULE_D_MIRROR },             { "URLRewrite", K8S_RULE_D_REWRITE },
		{ "RequestRedirect", K8S_RULE_D_REDIRECT },
	};
	const cJSON *f;
	unsigned int bits = 0;

	if (!cJSON_IsArray(filters))
		return 0;
	cJSON_ArrayForEach(f, filters) {
		const cJSON *t = field(f, "type");
		unsigned int bit = K8S_RULE_D_FILTER_OTHER;

		for (size_t i = 0; cJSON_IsString(t) && i < sizeof(known) / sizeof(known[0]); i++)
			if (!strcmp(t->valuestring, known[i].type))
				bit = known[i].bit;
		bits |= bit;
	}
	return bits;
}

static int backend_ref_parse(struct pctx *c, const cJSON *o, const char *path, const char *route_ns,
			     struct k8s_backend_ref *b)
{
	bool present;
	int64_t w = 1;
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_str(c, o, path, "group", b->group, sizeof(b->group), OPT, "")) ||
	    (rc = get_str(c, o, path, "kind", b->kind, sizeof(b->kind), OPT, "Service")) ||
	    (rc = get_str(c, o, path, "namespace", b->ns, sizeof(b->ns), OPT, route_ns)) ||
	    (rc = get_str(c, o, path, "name", b->name, sizeof(b->name), REQ, NULL)) ||
	    (rc = get_port(c, o, path, "port", OPT, &b->port)) ||
	    (rc = get_int(c, o, path, "weight", 0, K8S_WEIGHT_MAX, &present, &w)))
		return rc;
	/* The CRD defaults weight to 1; hand-written manifests may omit it. */
	b->weight = present ? (uint32_t)w : 1;
	b->filter_details = filter_details(field(o, "filters"));
	return 0;
}

/* What a match asks beyond "all traffic" (PathPrefix "/", the default). */
static int match_flags(struct pctx *c, const cJSON *m, const char *path, unsigned int *flags)
{
	char p[PATH_MAX_LEN], type[K8S_SHORT_MAX], value[1100]; /* path values: <= 1024 */
	const cJSON *pathobj;
	int rc;

	if ((rc = want_item_obj(c, m, path)) ||
	    (rc = get_obj(c, m, path, "path", OPT, &pathobj)))
		return rc;
	if (pathobj) {
		join(p, sizeof(p), path, "path");
		if ((rc = get_str(c, pathobj, p, "type", type, sizeof(type), OPT, "PathPrefix")) ||
		    (rc = get_str(c, pathobj, p, "value", value, sizeof(value), OPT, "/")))
			return rc;
		if (strcmp(type, "PathPrefix") || strcmp(value, "/"))
			*flags |= K8S_RULE_L7_PATH;
	}
	if (nonempty(field(m, "headers")))
		*flags |= K8S_RULE_L7_HEADERS;
	if (nonempty(field(m, "method")) && cJSON_IsObject(field(m, "method")))
		*flags |= K8S_RULE_L7_METHOD; /* gRPC service/method */
	if (nonempty(field(m, "queryParams")))
		*flags |= K8S_RULE_L7_QUERY;
	if (nonempty(field(m, "method")))
		*flags |= K8S_RULE_L7_METHOD;
	return 0;
}

static int rule_parse(struct pctx *c, const cJSON *o, const char *path, const char *route_ns,
		      struct k8s_rule *r)
{
	char p[PATH_MAX_LEN];
	const cJSON *arr, *it;
	size_t n, i;
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_str(c, o, path, "name", r->name, sizeof(r->name), OPT, NULL)))
		return rc;

	if ((rc = get_arr(c, o, path, "matches", &arr, &n)))
		return rc;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "%s.matches[%zu]", path, i++);
		if ((rc = match_flags(c, it, p, &r->l7_flags)))
			return rc;
	}
	r->l7_details = filter_details(field(o, "filters"));
	if (nonempty(field(o, "timeouts")))
		r->l7_details |= K8S_RULE_D_TIMEOUTS;
	if (nonempty(field(o, "retry")))
		r->l7_details |= K8S_RULE_D_RETRY;
	if (nonempty(field(o, "sessionPersistence")))
		r->l7_details |= K8S_RULE_D_SESSION;

	if ((rc = get_arr(c, o, path, "backendRefs", &arr, &n)) ||
	    (rc = ALLOC_N(c, r->backends, n)))
		return rc;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "%s.backendRefs[%zu]", path, i);
		if ((rc = backend_ref_parse(c, it, p, route_ns, &r->backends[i])))
			return rc;
		r->l7_details |= r->backends[i].filter_details;
		r->n_backends = ++i;
	}
	return 0;
}

static int route_annotations(struct pctx *c, const cJSON *obj, struct k8s_httproute *r)
{
	const cJSON *v;
	char ferr[512];
	int rc;

	if ((rc = get_meta_map_str(c, obj, "annotations", K8S_ANN_AFFINITY, &v)))
		return rc;
	if (v) {
		if (!strcmp(v->valuestring, "connection"))
			r->affinity = K8S_AFFINITY_CONNECTION;
		else if (!strcmp(v->valuestring, "client"))
			r->affinity = K8S_AFFINITY_CLIENT;
		else
			return fail(c, "annotation %s \"%s\": want \"connection\" or \"client\"",
				    K8S_ANN_AFFINITY, v->valuestring);
	}
	if ((rc = get_meta_map_str(c, obj, "annotations", K8S_ANN_FRONTENDS, &v)))
		return rc;
	if (v) {
		r->frontends_raw = strdup(v->valuestring);
		if (!r->frontends_raw)
			return oom(c);
		rc = k8s_frontends_parse(v->valuestring, &r->frontends, &r->n_frontends, ferr, sizeof(ferr));
		if (rc == -ENOMEM)
			return oom(c);
		if (rc)
			return fail(c, "annotation %s: %s", K8S_ANN_FRONTENDS, ferr);
	}
	if ((rc = get_meta_map_str(c, obj, "labels", K8S_LABEL_ARGO_CANARY, &v)))
		return rc;
	r->argo_canary_in_progress = v && !strcmp(v->valuestring, "in-progress");
	return 0;
}

static const char *const route_types[] = {
	[K8S_ROUTE_HTTP] = "HTTPRoute", [K8S_ROUTE_GRPC] = "GRPCRoute",
	[K8S_ROUTE_TCP] = "TCPRoute",   [K8S_ROUTE_TLS] = "TLSRoute",
};
static const char *const route_lower[] = {
	[K8S_ROUTE_HTTP] = "httproute", [K8S_ROUTE_GRPC] = "grpcroute",
	[K8S_ROUTE_TCP] = "tcproute",   [K8S_ROUTE_TLS] = "tlsroute",
};

const char *k8s_route_kind_type(enum k8s_route_kind kind)
{
	return (unsigned)kind <= K8S_ROUTE_TLS ? route_types[kind] : "?";
}

int k8s_httproute_parse(const cJSON *obj, struct k8s_httproute *r, char *err, size_t errlen)
{
	return k8s_route_parse(obj, K8S_ROUTE_HTTP, r, err, errlen);
}

int k8s_route_parse(const cJSON *obj, enum k8s_route_kind kind, struct k8s_httproute *r, char *err, size_t errlen)
{
	struct pctx c = { (unsigned)kind <= K8S_ROUTE_TLS ? route_lower[kind] : "route", NULL, err, errlen };
	const cJSON *spec, *status, *arr, *it;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	memset(r, 0, sizeof(*r));
	if ((unsigned)kind > K8S_ROUTE_TLS)
		return -EINVAL;
	r->kind = kind;
	if ((rc = meta_parse(&c, obj, route_types[kind], &r->meta)) ||
	    (rc = route_annotations(&c, obj, r)) ||
	    (rc = get_obj(&c, obj, "", "spec", REQ, &spec)))
		goto out;

	if ((rc = get_arr(&c, spec, "", "hostnames", &arr, &n)))
		goto out;
	if (n > K8S_MAX_HOSTNAMES) {
		rc = fail(&c, "hostnames: %zu entries, at most %d", n, K8S_MAX_HOSTNAMES);
		goto out;
	}
	if ((rc = ALLOC_N(&c, r->hostnames, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		if (!cJSON_IsString(it) || !it->valuestring[0] || strlen(it->valuestring) >= K8S_ADDR_MAX) {
			rc = fail(&c, "hostnames[%zu]: want a host name of 1..253 bytes", i);
			goto out;
		}
		lower(r->hostnames[i], K8S_ADDR_MAX, it->valuestring);
		r->n_hostnames = ++i;
	}

	if ((rc = get_arr(&c, spec, "", "parentRefs", &arr, &n)) ||
	    (rc = ALLOC_N(&c, r->parents, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "parentRefs[%zu]", i);
		if ((rc = parent_ref_parse(&c, it, p, r->meta.ns, &r->parents[i])))
			goto out;
		r->n_parents = ++i;
	}

	if ((rc = get_arr(&c, spec, "", "rules", &arr, &n)) ||
	    (rc = ALLOC_N(&c, r->rules, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "rules[%zu]", i);
		/* Count the rule before parsing it so a failure frees its backends. */
		r->n_rules = i + 1;
		if ((rc = rule_parse(&c, it, p, r->meta.ns, &r->rules[i])))
			goto out;
		i++;
	}

	if ((rc = get_obj(&c, obj, "", "status", OPT, &status)) ||
	    (rc = get_arr(&c, status, "status", "parents", &arr, &n)) ||
	    (rc = ALLOC_N(&c, r->status_parents, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_route_parent_status *ps = &r->status_parents[i];
		const cJSON *conds;
		size_t nc;

		pathf(p, sizeof(p), "status.parents[%zu]", i);
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "controllerName", ps->controller_name,
				  sizeof(ps->controller_name), OPT, NULL)) ||
		    (rc = get_arr(&c, it, p, "conditions", &conds, &nc)))
			goto out;
		ps->n_conditions = nc;
		r->n_status_parents = ++i;
	}
out:
	if (rc)
		k8s_httproute_free(r);
	return rc;
}

void k8s_httproute_free(struct k8s_httproute *r)
{
	size_t i;

	if (!r)
		return;
	for (i = 0; i < r->n_rules; i++)
		free(r->rules[i].backends);
	free(r->rules);
	free(r->parents);
	free(r->status_parents);
	free(r->frontends);
	free(r->frontends_raw);
	free(r->hostnames);
	memset(r, 0, sizeof(*r));
}

/* ---- label selectors ---- */

static int selector_parse(struct pctx *c, const cJSON *o, const char *path, struct k8s_selector *sel)
{
	const cJSON *ml, *me, *it, *v;
	char p[PATH_MAX_LEN], op[K8S_SHORT_MAX];
	size_t n_ml = 0, n_me = 0, i = 0;
	int rc;

	ml = field(o, "matchLabels");
	if (ml && !cJSON_IsObject(ml))
		return fail(c, "%s.matchLabels: want object, got %s", path, type_name(ml));
	n_ml = ml ? (size_t)cJSON_GetArraySize(ml) : 0;
	if ((rc = get_arr(c, o, path, "matchExpressions", &me, &n_me)) || (rc = ALLOC_N(c, sel->reqs, n_ml + n_me)))
		return rc;
	cJSON_ArrayForEach(it, ml) {
		struct k8s_selector_req *q = &sel->reqs[i];

		if (!cJSON_IsString(it) || strlen(it->string) >= sizeof(q->key) ||
		    strlen(it->valuestring) >= K8S_LABEL_VALUE_MAX)
			return fail(c, "%s.matchLabels[%s]: want a label value", path, it->string);
		snprintf(q->key, sizeof(q->key), "%s", it->string);
		q->op = K8S_SEL_IN;
		if ((rc = ALLOC_N(c, q->values, 1)))
			return rc;
		snprintf(q->values[0], K8S_LABEL_VALUE_MAX, "%s", it->valuestring);
		q->n_values = 1;
		sel->n_reqs = ++i;
	}
	cJSON_ArrayForEach(it, me) {
		struct k8s_selector_req *q = &sel->reqs[i];
		const cJSON *vals;
		size_t nv, j = 0;

		pathf(p, sizeof(p), "%s.matchExpressions[%zu]", path, i - n_ml);
		if ((rc = want_item_obj(c, it, p)) || (rc = get_str(c, it, p, "key", q->key, sizeof(q->key), REQ, NULL)) ||
		    (rc = get_str(c, it, p, "operator", op, sizeof(op), REQ, NULL)) ||
		    (rc = get_arr(c, it, p, "values", &vals, &nv)) || (rc = ALLOC_N(c, q->values, nv)))
			return rc;
		sel->n_reqs = ++i;
		if (!strcmp(op, "In"))
			q->op = K8S_SEL_IN;
		else if (!strcmp(op, "NotIn"))
			q->op = K8S_SEL_NOT_IN;
		else if (!strcmp(op, "Exists"))
			q->op = K8S_SEL_EXISTS;
		else if (!strcmp(op, "DoesNotExist"))
			q->op = K8S_SEL_DOES_NOT_EXIST;
		else
			return fail(c, "%s.operator \"%s\": want In, NotIn, Exists or DoesNotExist", p, op);
		cJSON_ArrayForEach(v, vals) {
			if (!cJSON_IsString(v) || strlen(v->valuestring) >= K8S_LABEL_VALUE_MAX)
				return fail(c, "%s.values[%zu]: want a label value", p, j);
			snprintf(q->values[j], K8S_LABEL_VALUE_MAX, "%s", v->valuestring);
			q->n_values = ++j;
		}
	}
	return 0;
}

static void selector_free(struct k8s_selector *sel)
{
	for (size_t i = 0; i < sel->n_reqs; i++)
		free(sel->reqs[i].values);
	free(sel->reqs);
	memset(sel, 0, sizeof(*sel));
}

bool k8s_selector_matches(const struct k8s_selector *sel, const struct k8s_label *labels, size_t n_labels)
{
	for (size_t i = 0; i < sel->n_reqs; i++) {
		const struct k8s_selector_req *q = &sel->reqs[i];
		const char *val = NULL;
		bool in = false;

		for (size_t l = 0; l < n_labels && !val; l++)
			if (!strcmp(labels[l].key, q->key))
				val = labels[l].value;
		for (size_t v = 0; val && v < q->n_values && !in; v++)
			in = !strcmp(q->values[v], val);
		if ((q->op == K8S_SEL_IN && !in) || (q->op == K8S_SEL_NOT_IN && in) || (q->op == K8S_SEL_EXISTS && !val) ||
		    (q->op == K8S_SEL_DOES_NOT_EXIST && val))
			return false;
	}
	return true;
}

/* ---- Gateway ---- */

/* tls, allowedRoutes and hostname of a listener. */
static int listener_extra_parse(struct pctx *c, const cJSON *it, const char *path, struct k8s_listener *l)
{
	const cJSON *tls, *ar, *nsobj, *kinds, *sel, *k;
	char p[PATH_MAX_LEN], q[PATH_MAX_LEN], mode[K8S_SHORT_MAX], from[K8S_SHORT_MAX], host[K8S_ADDR_MAX];
	size_t nk, i = 0;
	int rc;

	if ((rc = get_str(c, it, path, "hostname", host, sizeof(host), OPT, NULL)) ||
	    (rc = get_obj(c, it, path, "tls", OPT, &tls)))
		return rc;
	lower(l->hostname, sizeof(l->hostname), host);
	if (tls) {
		join(p, sizeof(p), path, "tls");
		if ((rc = get_str(c, tls, p, "mode", mode, sizeof(mode), OPT, "Terminate")))
			return rc;
		if (!strcmp(mode, "Terminate"))
			l->tls_mode = K8S_TLS_TERMINATE;
		else if (!strcmp(mode, "Passthrough"))
			l->tls_mode = K8S_TLS_PASSTHROUGH;
		else
			return fail(c, "%s.mode \"%s\": want Terminate or Passthrough", p, mode);
	} else if (!strcmp(l->protocol, "HTTPS") || !strcmp(l->protocol, "TLS")) {
		l->tls_mode = K8S_TLS_TERMINATE; /* the API's default */
	}
	if ((rc = get_obj(c, it, path, "allowedRoutes", OPT, &ar)))
		return rc;
	join(p, sizeof(p), path, "allowedRoutes");
	if ((rc = get_obj(c, ar, p, "namespaces", OPT, &nsobj)))
		return rc;
	join(q, sizeof(q), p, "namespaces");
	if ((rc = get_str(c, nsobj, q, "from", from, sizeof(from), OPT, "Same")) ||
	    (rc = get_obj(c, nsobj, q, "selector", OPT, &sel)))
		return rc;
	if (!strcmp(from, "Same"))
		l->from = K8S_FROM_SAME;
	else if (!strcmp(from, "All"))
		l->from = K8S_FROM_ALL;
	else if (!strcmp(from, "Selector"))
		l->from = K8S_FROM_SELECTOR;
	else
		return fail(c, "%s.from \"%s\": want Same, All or Selector", q, from);
	if (l->from == K8S_FROM_SELECTOR) {
		if (!sel)
			return fail(c, "%s.selector missing (from: Selector)", q);
		join(q, sizeof(q), q, "selector");
		if ((rc = selector_parse(c, sel, q, &l->selector)))
			return rc;
	}
	if ((rc = get_arr(c, ar, p, "kinds", &kinds, &nk)))
		return rc;
	if (nk > K8S_MAX_ALLOWED_KINDS)
		return fail(c, "%s.kinds: %zu entries, at most %d", p, nk, K8S_MAX_ALLOWED_KINDS);
	cJSON_ArrayForEach(k, kinds) {
		pathf(q, sizeof(q), "%s.kinds[%zu]", p, i);
		if ((rc = want_item_obj(c, k, q)) ||
		    (rc = get_str(c, k, q, "group", l->kinds[i].group, sizeof(l->kinds[i].group), OPT,
				  "gateway.networking.k8s.io")) ||
		    (rc = get_str(c, k, q, "kind", l->kinds[i].kind, sizeof(l->kinds[i].kind), REQ, NULL)))
			return rc;
		l->n_kinds = ++i;
	}
	return 0;
}

int k8s_gateway_parse(const cJSON *obj, struct k8s_gateway *g, char *err, size_t errlen)
{
	struct pctx c = { "gateway", NULL, err, errlen };
	const cJSON *spec, *status, *arr, *it;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = meta_parse(&c, obj, "Gateway", &g->meta)) ||
	    (rc = get_obj(&c, obj, "", "spec", REQ, &spec)) ||
	    (rc = get_str(&c, spec, "", "gatewayClassName", g->class_name, sizeof(g->class_name), REQ, NULL)) ||
	    (rc = get_arr(&c, spec, "", "listeners", &arr, &n)) ||
	    (rc = ALLOC_N(&c, g->listeners, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_listener *l = &g->listeners[i];

		pathf(p, sizeof(p), "listeners[%zu]", i);
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "name", l->name, sizeof(l->name), REQ, NULL)) ||
		    (rc = get_port(&c, it, p, "port", REQ, &l->port)) ||
		    (rc = get_str(&c, it, p, "protocol", l->protocol, sizeof(l->protocol), REQ, NULL)))
			goto out;
		g->n_listeners = ++i;
		if ((rc = listener_extra_parse(&c, it, p, l)))
			goto out;
	}

	if ((rc = get_obj(&c, obj, "", "status", OPT, &status)) ||
	    (rc = get_arr(&c, status, "status", "addresses", &arr, &n)) ||
	    (rc = ALLOC_N(&c, g->addresses, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_gateway_address *a = &g->addresses[i];

		pathf(p, sizeof(p), "status.addresses[%zu]", i);
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "type", a->type, sizeof(a->type), OPT, "IPAddress")) ||
		    (rc = get_str(&c, it, p, "value", a->value, sizeof(a->value), REQ, NULL)))
			goto out;
		if (!strcmp(a->type, "IPAddress") && k8s_ip_parse(a->value, &a->ip)) {
			rc = fail(&c, "%s.value \"%s\" not an IP address", p, a->value);
			goto out;
		}
		g->n_addresses = ++i;
	}
out:
	if (rc)
		k8s_gateway_free(g);
	return rc;
}

void k8s_gateway_free(struct k8s_gateway *g)
{
	if (!g)
		return;
	for (size_t i = 0; i < g->n_listeners; i++)
		selector_free(&g->listeners[i].selector);
	free(g->listeners);
	free(g->addresses);
	memset(g, 0, sizeof(*g));
}

/* ---- Namespace ---- */

#define K8S_LABEL_NS_NAME "kubernetes.io/metadata.name"

int k8s_namespace_parse(const cJSON *obj, struct k8s_namespace *ns, char *err, size_t errlen)
{
	struct pctx c = { "namespace", NULL, err, errlen };
	const cJSON *labels, *it;
	size_t n = 0, i = 0;
	bool has_name = false;
	int rc;

	memset(ns, 0, sizeof(*ns));
	if ((rc = meta_parse(&c, obj, "Namespace", &ns->meta)))
		goto out;
	labels = field(field(obj, "metadata"), "labels");
	if (labels && !cJSON_IsObject(labels)) {
		rc = fail(&c, "metadata.labels: want object, got %s", type_name(labels));
		goto out;
	}
	n = labels ? (size_t)cJSON_GetArraySize(labels) : 0;
	if ((rc = ALLOC_N(&c, ns->labels, n + 1)))
		goto out;
	cJSON_ArrayForEach(it, labels) {
		if (!cJSON_IsString(it) || strlen(it->string) >= K8S_LABEL_MAX ||
		    strlen(it->valuestring) >= K8S_LABEL_VALUE_MAX) {
			rc = fail(&c, "metadata.labels[%s]: want a label value", it->string);
			goto out;
		}
		snprintf(ns->labels[i].key, K8S_LABEL_MAX, "%s", it->string);
		snprintf(ns->labels[i].value, K8S_LABEL_VALUE_MAX, "%s", it->valuestring);
		has_name |= !strcmp(it->string, K8S_LABEL_NS_NAME);
		ns->n_labels = ++i;
	}
	/* The API server sets it on every namespace (immutable). */
	if (!has_name) {
		snprintf(ns->labels[i].key, K8S_LABEL_MAX, "%s", K8S_LABEL_NS_NAME);
		memcpy(ns->labels[i].value, ns->meta.name, strnlen(ns->meta.name, K8S_LABEL_VALUE_MAX - 1));
		ns->n_labels = ++i;
	}
out:
	if (rc)
		k8s_namespace_free(ns);
	return rc;
}

void k8s_namespace_free(struct k8s_namespace *ns)
{
	if (!ns)
		return;
	free(ns->labels);
	memset(ns, 0, sizeof(*ns));
}

/* ---- ReferenceGrant ---- */

int k8s_refgrant_parse(const cJSON *obj, struct k8s_refgrant *g, char *err, size_t errlen)
{
	struct pctx c = { "referencegrant", NULL, err, errlen };
	const cJSON *spec, *arr, *it;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	memset(g, 0, sizeof(*g));
	if ((rc = meta_parse(&c, obj, "ReferenceGrant", &g->meta)) ||
	    (rc = get_obj(&c, obj, "", "spec", REQ, &spec)) ||
	    (rc = get_arr(&c, spec, "", "from", &arr, &n)) || (rc = ALLOC_N(&c, g->from, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_grant_from *f = &g->from[i];

		pathf(p, sizeof(p), "from[%zu]", i);
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "group", f->group, sizeof(f->group), OPT, NULL)) ||
		    (rc = get_str(&c, it, p, "kind", f->kind, sizeof(f->kind), REQ, NULL)) ||
		    (rc = get_str(&c, it, p, "namespace", f->ns, sizeof(f->ns), REQ, NULL)))
			goto out;
		g->n_from = ++i;
	}
	if ((rc = get_arr(&c, spec, "", "to", &arr, &n)) || (rc = ALLOC_N(&c, g->to, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_grant_to *t = &g->to[i];

		pathf(p, sizeof(p), "to[%zu]", i);
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "group", t->group, sizeof(t->group), OPT, NULL)) ||
		    (rc = get_str(&c, it, p, "kind", t->kind, sizeof(t->kind), REQ, NULL)) ||
		    (rc = get_str(&c, it, p, "name", t->name, sizeof(t->name), OPT, NULL)))
			goto out;
		g->n_to = ++i;
	}
out:
	if (rc)
		k8s_refgrant_free(g);
	return rc;
}

void k8s_refgrant_free(struct k8s_refgrant *g)
{
	if (!g)
		return;
	free(g->from);
	free(g->to);
	memset(g, 0, sizeof(*g));
}

/* ---- Rollout ---- */

/* Argo's pause duration: an integer (seconds) or a Go duration string such as
 * "30s", "1h30m", "500ms"; digits alone mean seconds too. Sub-second parts round down. */
static int parse_duration(const char *s, int64_t *secs)
{
	static const struct { const char *u; int64_t ns; } units[] = {
		{ "ns", 1 }, { "us", 1000 }, { "\xc2\xb5s", 1000 }, { "ms", 1000000 },
		{ "s", 1000000000LL }, { "m", 60000000000LL }, { "h", 3600000000000LL },
	};
	int64_t total = 0;
	const char *q = s;
	size_t i;

	if (!*s)
		return -EINVAL;
	if (strspn(s, "0123456789") == strlen(s)) {
		if (strlen(s) > 12)
			return -EINVAL;
		*secs = strtoll(s, NULL, 10);
		return 0;
	}
	while (*q) {
		int64_t num = 0;
		size_t best = 0, blen = 0;

		if (!isdigit((unsigned char)*q))
			return -EINVAL;
		while (isdigit((unsigned char)*q)) {
			if (num > 1000000000LL)
				return -EINVAL;
			num = num * 10 + (*q++ - '0');
		}
		for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
			size_t l = strlen(units[i].u);

			if (!strncmp(q, units[i].u, l) && l > blen) {
				best = i;
				blen = l;
			}
		}
		if (!blen)
			return -EINVAL;
		/* "m" vs "ms": the longest unit that matches wins. */
		q += blen;
		if (num > INT64_MAX / units[best].ns || total > INT64_MAX - num * units[best].ns)
			return -EINVAL;
		total += num * units[best].ns;
	}
	*secs = total / 1000000000LL;
	return 0;
}

static int step_parse(struct pctx *c, const cJSON *o, const char *path, struct k8s_rollout_step *s)
{
	const cJSON *pause, *dur;
	char p[PATH_MAX_LEN];
	bool present;
	int64_t v;
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_int(c, o, path, "setWeight", 0, K8S_WEIGHT_MAX, &present, &v)))
		return rc;
	if (present) {
		s->type = K8S_STEP_SET_WEIGHT;
		s->weight = (int32_t)v;
		return 0;
	}
	/* "pause": {} (until promoted) or {"duration": ...}. */
	if (!field(o, "pause")) {
		s->type = K8S_STEP_OTHER;
		return 0;
	}
	s->type = K8S_STEP_PAUSE;
	s->pause_s = -1;
	if ((rc = get_obj(c, o, path, "pause", OPT, &pause)))
		return rc;
	dur = field(pause, "duration");
	join(p, sizeof(p), path, "pause.duration");
	if (!dur)
		return 0;
	if (cJSON_IsNumber(dur)) {
		if (!is_whole(dur->valuedouble) || dur->valuedouble < 0 || dur->valuedouble > 1e12)
			return fail(c, "%s %g not a whole number of seconds", p, dur->valuedouble);
		s->pause_s = (int64_t)dur->valuedouble;
		return 0;
	}
	if (!cJSON_IsString(dur))
		return fail(c, "%s: want string or integer, got %s", p, type_name(dur));
	if (parse_duration(dur->valuestring, &s->pause_s))
		return fail(c, "%s \"%s\" not a duration", p, dur->valuestring);
	return 0;
}

static int rollout_weight_parse(struct pctx *c, const cJSON *weights, const char *key,
				struct k8s_rollout_weight *w)
{
	char p[PATH_MAX_LEN];
	const cJSON *o;
	int64_t v = 0;
	int rc;

	pathf(p, sizeof(p), "status.canary.weights.%s", key);
	if ((rc = get_obj(c, weights, "status.canary.weights", key, OPT, &o)) || !o)
		return rc;
	if ((rc = get_int(c, o, p, "weight", 0, K8S_WEIGHT_MAX, &w->present, &v)) ||
	    (rc = get_str(c, o, p, "serviceName", w->service_name, sizeof(w->service_name), OPT, NULL)) ||
	    (rc = get_str(c, o, p, "podTemplateHash", w->pod_template_hash,
			  sizeof(w->pod_template_hash), OPT, NULL)))
		return rc;
	w->weight = (int32_t)v;
	return 0;
}

static int rollout_plugin_parse(struct pctx *c, const cJSON *canary, struct k8s_rollout *ro)
{
	/* The plugin's keys for each route kind it drives: one name, or a list of {name}. */
	static const struct {
		const char *one, *many;
		enum k8s_route_kind kind;
	} keys[] = {
		{ "httpRoute", "httpRoutes", K8S_ROUTE_HTTP },
		{ "grpcRoute", "grpcRoutes", K8S_ROUTE_GRPC },
		{ "tcpRoute", "tcpRoutes", K8S_ROUTE_TCP },
		{ "tlsRoute", "tlsRoutes", K8S_ROUTE_TLS },
	};
	const char *base = "strategy.canary.trafficRouting.plugins";
	char p[PATH_MAX_LEN], ip[PATH_MAX_LEN];
	const cJSON *tr, *plugins, *gw, *arr, *it;
	size_t n, i, total = 0;
	int rc;

	if ((rc = get_obj(c, canary, "strategy.canary", "trafficRouting", OPT, &tr)) ||
	    (rc = get_obj(c, tr, "strategy.canary.trafficRouting", "plugins", OPT, &plugins)))
		return rc;
	gw = field(plugins, K8S_ARGO_GATEWAY_PLUGIN);
	if (!gw)
		return 0;
	pathf(p, sizeof(p), "%s[\"%s\"]", base, K8S_ARGO_GATEWAY_PLUGIN);
	if ((rc = want_item_obj(c, gw, p)) ||
	    (rc = get_str(c, gw, p, "namespace", ro->route_ns, sizeof(ro->route_ns), OPT, ro->meta.ns)))
		return rc;
	ro->has_gateway_plugin = true;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if ((rc = get_arr(c, gw, p, keys[k].many, &arr, &n)))
			return rc;
		total += n + (field(gw, keys[k].one) != NULL);
	}
	if ((rc = ALLOC_N(c, ro->routes, total)) || (rc = ALLOC_N(c, ro->route_kinds, total)))
		return rc;
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		if (field(gw, keys[k].one)) {
			if ((rc = get_str(c, gw, p, keys[k].one, ro->routes[ro->n_routes], sizeof(ro->routes[0]), REQ,
					  NULL)))
				return rc;
			ro->route_kinds[ro->n_routes++] = keys[k].kind;
		}
		get_arr(c, gw, p, keys[k].many, &arr, &n);
		i = 0;
		cJSON_ArrayForEach(it, arr) {
			pathf(ip, sizeof(ip), "%s.%s[%zu]", p, keys[k].many, i++);
			if ((rc = want_item_obj(c, it, ip)) ||
			    (rc = get_str(c, it, ip, "name", ro->routes[ro->n_routes], sizeof(ro->routes[0]), REQ, NULL)))
				return rc;
			ro->route_kinds[ro->n_routes++] = keys[k].kind;
		}
	}
	return 0;
}

static int rollout_status_parse(struct pctx *c, const cJSON *obj, struct k8s_rollout *ro)
{
	const cJSON *status, *arr, *canary, *weights;
	bool present;
	int64_t v = 0;
	size_t n;
	int rc;

	if ((rc = get_obj(c, obj, "", "status", OPT, &status)) || !status)
		return rc;
	if ((rc = get_int(c, status, "status", "currentStepIndex", 0, INT32_MAX, &ro->has_current_step, &v)))
		return rc;
	ro->current_step = (int32_t)v;
	if ((rc = get_arr(c, status, "status", "pauseConditions", &arr, &n)))
		return rc;
	ro->n_pause_conditions = n;
	if ((rc = get_bool(c, status, "status", "controllerPause", &present, &ro->controller_pause)) ||
	    (rc = get_bool(c, status, "status", "abort", &present, &ro->abort)) ||
	    (rc = get_str(c, status, "status", "phase", ro->phase, sizeof(ro->phase), OPT, NULL)) ||
	    (rc = get_str(c, status, "status", "stableRS", ro->stable_rs, sizeof(ro->stable_rs), OPT, NULL)) ||
	    (rc = get_str(c, status, "status", "currentPodHash", ro->current_pod_hash,
			  sizeof(ro->current_pod_hash), OPT, NULL)) ||
	    (rc = get_obj(c, status, "status", "canary", OPT, &canary)) ||
	    (rc = get_obj(c, canary, "status.canary", "weights", OPT, &weights)) ||
	    (rc = rollout_weight_parse(c, weights, "canary", &ro->canary_weight)) ||
	    (rc = rollout_weight_parse(c, weights, "stable", &ro->stable_weight)))
		return rc;
	return 0;
}

int k8s_rollout_parse(const cJSON *obj, struct k8s_rollout *ro, char *err, size_t errlen)
{
	struct pctx c = { "rollout", NULL, err, errlen };
	const cJSON *spec, *strategy, *canary, *arr, *it;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	memset(ro, 0, sizeof(*ro));
	if ((rc = meta_parse(&c, obj, "Rollout", &ro->meta)) ||
	    (rc = get_obj(&c, obj, "", "spec", REQ, &spec)) ||
	    (rc = get_obj(&c, spec, "", "strategy", OPT, &strategy)) ||
	    (rc = get_obj(&c, strategy, "strategy", "canary", OPT, &canary)))
		goto out;
	if (canary) {
		ro->is_canary = true;
		if ((rc = get_str(&c, canary, "strategy.canary", "canaryService", ro->canary_service,
				  sizeof(ro->canary_service), OPT, NULL)) ||
		    (rc = get_str(&c, canary, "strategy.canary", "stableService", ro->stable_service,
				  sizeof(ro->stable_service), OPT, NULL)) ||
		    (rc = get_arr(&c, canary, "strategy.canary", "steps", &arr, &n)) ||
		    (rc = ALLOC_N(&c, ro->steps, n)))
			goto out;
		i = 0;
		cJSON_ArrayForEach(it, arr) {
			pathf(p, sizeof(p), "strategy.canary.steps[%zu]", i);
			if ((rc = step_parse(&c, it, p, &ro->steps[i])))
				goto out;
			ro->n_steps = ++i;
		}
		if ((rc = rollout_plugin_parse(&c, canary, ro)))
			goto out;
	}
	rc = rollout_status_parse(&c, obj, ro);
out:
	if (rc)
		k8s_rollout_free(ro);
	return rc;
}

void k8s_rollout_free(struct k8s_rollout *ro)
{
	if (!ro)
		return;
	free(ro->steps);
	free(ro->routes);
	free(ro->route_kinds);
	memset(ro, 0, sizeof(*ro));
}

/* ---- Service ---- */

static int service_ips_parse(struct pctx *c, const cJSON *spec, struct k8s_service *s)
{
	const cJSON *arr, *it, *one;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	/* clusterIPs supersedes clusterIP (dual-stack); older objects have only the latter. */
	if ((rc = get_arr(c, spec, "", "clusterIPs", &arr, &n)))
		return rc;
	one = arr ? NULL : field(spec, "clusterIP");
	if (one) {
		if (!cJSON_IsString(one))
			return fail(c, "clusterIP: want string, got %s", type_name(one));
		n = 1;
	}
	if ((rc = ALLOC_N(c, s->cluster_ips, n)) ||
	    (rc = ALLOC_N(c, s->cluster_ip_strs, n)))
		return rc;
	for (i = 0, it = arr ? arr->child : one; it && i < n; i++, it = arr ? it->next : NULL) {
		pathf(p, sizeof(p), arr ? "clusterIPs[%zu]" : "clusterIP", i);
		if (!cJSON_IsString(it))
			return fail(c, "%s: want string, got %s", p, type_name(it));
		if (!strcmp(it->valuestring, "None")) {
			s->headless = true;
			continue;
		}
		if (!it->valuestring[0]) /* ExternalName: no cluster IP */
			continue;
		if (k8s_ip_parse(it->valuestring, &s->cluster_ips[s->n_cluster_ips]))
			return fail(c, "%s \"%s\" not an IP address", p, it->valuestring);
		snprintf(s->cluster_ip_strs[s->n_cluster_ips], K8S_IPSTR_MAX, "%s", it->valuestring);
		s->n_cluster_ips++;
	}
	return 0;
}

static int service_port_parse(struct pctx *c, const cJSON *o, const char *path, struct k8s_service_port *sp)
{
	char p[PATH_MAX_LEN];
	const cJSON *tp;
	bool present;
	int64_t v;
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_str(c, o, path, "name", sp->name, sizeof(sp->name), OPT, NULL)) ||
	    (rc = get_port(c, o, path, "port", REQ, &sp->port)) ||
	    (rc = get_proto(c, o, path, &sp->proto)))
		return rc;
	/* targetPort is an IntOrString; the API server defaults it to port. */
	tp = field(o, "targetPort");
	if (!tp) {
		sp->target_port = sp->port;
	} else if (cJSON_IsString(tp)) {
		if ((rc = get_str(c, o, path, "targetPort", sp->target_port_name,
				  sizeof(sp->target_port_name), REQ, NULL)))
			return rc;
	} else if (cJSON_IsNumber(tp)) {
		if ((rc = get_int(c, o, path, "targetPort", 1, 65535, &present, &v)))
			return rc;
		sp->target_port = (uint16_t)v;
	} else {
		return fail(c, "%s: want integer or string, got %s", join(p, sizeof(p), path, "targetPort"),
			    type_name(tp));
	}
	return 0;
}

int k8s_service_parse(const cJSON *obj, struct k8s_service *s, char *err, size_t errlen)
{
	struct pctx c = { "service", NULL, err, errlen };
	const cJSON *spec, *arr, *it, *sel;
	char p[PATH_MAX_LEN];
	size_t n, i;
	int rc;

	memset(s, 0, sizeof(*s));
	if ((rc = meta_parse(&c, obj, "Service", &s->meta)) ||
	    (rc = get_obj(&c, obj, "", "spec", REQ, &spec)) ||
	    (rc = service_ips_parse(&c, spec, s)) ||
	    (rc = get_arr(&c, spec, "", "ports", &arr, &n)) ||
	    (rc = ALLOC_N(&c, s->ports, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "ports[%zu]", i);
		if ((rc = service_port_parse(&c, it, p, &s->ports[i])))
			goto out;
		s->n_ports = ++i;
	}
	if ((rc = get_obj(&c, spec, "", "selector", OPT, &sel)))
		goto out;
	s->has_selector = sel && sel->child;
out:
	if (rc)
		k8s_service_free(s);
	return rc;
}

void k8s_service_free(struct k8s_service *s)
{
	if (!s)
		return;
	free(s->cluster_ips);
	free(s->cluster_ip_strs);
	free(s->ports);
	memset(s, 0, sizeof(*s));
}

/* ---- EndpointSlice ---- */

static int endpoint_parse(struct pctx *c, const cJSON *o, const char *path,
			  enum k8s_address_type at, struct k8s_endpoint *e)
{
	char p[PATH_MAX_LEN], cp[PATH_MAX_LEN];
	const cJSON *arr, *it, *conds, *tref;
	bool ready = true, serving = false, terminating = false;
	bool has_ready, has_serving, has_term;
	size_t n, i;
	int rc;

	if ((rc = want_item_obj(c, o, path)) ||
	    (rc = get_arr(c, o, path, "addresses", &arr, &n)))
		return rc;
	if (!n)
		return fail(c, "%s missing", join(p, sizeof(p), path, "addresses"));
	if ((rc = ALLOC_N(c, e->addresses, n)))
		return rc;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_endpoint_addr *a = &e->addresses[i];

		pathf(p, sizeof(p), "%s.addresses[%zu]", path, i);
		if (!cJSON_IsString(it))
			return fail(c, "%s: want string, got %s", p, type_name(it));
		if (strlen(it->valuestring) >= sizeof(a->str))
			return fail(c, "%s too long", p);
		snprintf(a->str, sizeof(a->str), "%s", it->valuestring);
		if (at != K8S_ADDR_FQDN) {
			int want = at == K8S_ADDR_IPV4 ? AF_INET : AF_INET6;

			if (k8s_ip_parse(a->str, &a->ip) || a->ip.family != want)
				return fail(c, "%s \"%s\" not an %s address", p, a->str,
					    want == AF_INET ? "IPv4" : "IPv6");
		}
		e->n_addresses = ++i;
	}

	/* discovery/v1 defaulting: ready nil = true; serving nil defers to ready
	 * (newer API docs say "true"; deferring differs only when ready is false,
	 * where "not serving" is the safe reading); terminating nil = false. */
	join(cp, sizeof(cp), path, "conditions");
	if ((rc = get_obj(c, o, path, "conditions", OPT, &conds)) ||
	    (rc = get_bool(c, conds, cp, "ready", &has_ready, &ready)) ||
	    (rc = get_bool(c, conds, cp, "serving", &has_serving, &serving)) ||
	    (rc = get_bool(c, conds, cp, "terminating", &has_term, &terminating)))
		return rc;
	e->ready = has_ready ? ready : true;
	e->serving = has_serving ? serving : e->ready;
	e->terminating = has_term ? terminating : false;

	join(p, sizeof(p), path, "targetRef");
	if ((rc = get_str(c, o, path, "nodeName", e->node_name, sizeof(e->node_name), OPT, NULL)) ||
	    (rc = get_obj(c, o, path, "targetRef", OPT, &tref)) ||
	    (rc = get_str(c, tref, p, "kind", e->target_kind, sizeof(e->target_kind), OPT, NULL)) ||
	    (rc = get_str(c, tref, p, "name", e->target_name, sizeof(e->target_name), OPT, NULL)))
		return rc;
	return 0;
}

int k8s_endpointslice_parse(const cJSON *obj, struct k8s_endpointslice *es, char *err, size_t errlen)
{
	struct pctx c = { "endpointslice", NULL, err, errlen };
	const cJSON *arr, *it, *svc;
	char p[PATH_MAX_LEN], at[K8S_SHORT_MAX];
	bool present;
	int64_t v;
	size_t n, i;
	int rc;

	memset(es, 0, sizeof(*es));
	if ((rc = meta_parse(&c, obj, "EndpointSlice", &es->meta)) ||
	    (rc = get_meta_map_str(&c, obj, "labels", K8S_LABEL_SERVICE_NAME, &svc)) ||
	    (rc = get_str(&c, obj, "", "addressType", at, sizeof(at), REQ, NULL)))
		goto out;
	if (svc)
		snprintf(es->service_name, sizeof(es->service_name), "%s", svc->valuestring);
	if (!strcmp(at, "IPv4"))
		es->address_type = K8S_ADDR_IPV4;
	else if (!strcmp(at, "IPv6"))
		es->address_type = K8S_ADDR_IPV6;
	else if (!strcmp(at, "FQDN"))
		es->address_type = K8S_ADDR_FQDN;
	else {
		rc = fail(&c, "addressType \"%s\" unknown (IPv4, IPv6, FQDN)", at);
		goto out;
	}

	if ((rc = get_arr(&c, obj, "", "ports", &arr, &n)) ||
	    (rc = ALLOC_N(&c, es->ports, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		struct k8s_slice_port *sp = &es->ports[i];

		pathf(p, sizeof(p), "ports[%zu]", i);
		v = 0;
		if ((rc = want_item_obj(&c, it, p)) ||
		    (rc = get_str(&c, it, p, "name", sp->name, sizeof(sp->name), OPT, NULL)) ||
		    (rc = get_int(&c, it, p, "port", 1, 65535, &present, &v)) ||
		    (rc = get_proto(&c, it, p, &sp->proto)))
			goto out;
		sp->has_port = present;
		sp->port = (uint16_t)v;
		es->n_ports = ++i;
	}

	if ((rc = get_arr(&c, obj, "", "endpoints", &arr, &n)) ||
	    (rc = ALLOC_N(&c, es->endpoints, n)))
		goto out;
	i = 0;
	cJSON_ArrayForEach(it, arr) {
		pathf(p, sizeof(p), "endpoints[%zu]", i);
		/* Count first so that a failure frees this endpoint's addresses too. */
		es->n_endpoints = i + 1;
		if ((rc = endpoint_parse(&c, it, p, es->address_type, &es->endpoints[i])))
			goto out;
		i++;
	}
out:
	if (rc)
		k8s_endpointslice_free(es);
	return rc;
}

void k8s_endpointslice_free(struct k8s_endpointslice *es)
{
	size_t i;

	if (!es)
		return;
	for (i = 0; i < es->n_endpoints; i++)
		free(es->endpoints[i].addresses);
	free(es->endpoints);
	free(es->ports);
	memset(es, 0, sizeof(*es));
}

/* ---- Status, lists, watch events ---- */

static int status_parse(struct pctx *c, const cJSON *obj, struct k8s_status *st)
{
	bool present;
	int64_t code = 0;
	int rc;

	memset(st, 0, sizeof(*st));
	if (!cJSON_IsObject(obj))
		return fail(c, "Status: want object, got %s", obj ? type_name(obj) : "nothing");
	rc = get_int(c, obj, "", "code", 0, 999, &present, &code);
	if (rc)
		return rc;
	st->code = (int)code;
	get_str_trunc(obj, "status", st->status, sizeof(st->status));
	get_str_trunc(obj, "reason", st->reason, sizeof(st->reason));
	get_str_trunc(obj, "message", st->message, sizeof(st->message));
	return 0;
}

int k8s_status_parse(const cJSON *obj, struct k8s_status *st, char *err, size_t errlen)
{
	struct pctx c = { "status", NULL, err, errlen };

	return status_parse(&c, obj, st);
}

/* Parse a whole JSON text, with trailing bytes other than whitespace an error. */
static int parse_json(struct pctx *c, const char *json, size_t len, cJSON **out)
{
	const char *end = NULL;
	size_t i;

	*out = NULL;
	if (!json || !len)
		return fail(c, "empty body");
	*out = cJSON_ParseWithLengthOpts(json, len, &end, 0);
	if (!*out) {
		if (end && end >= json && end <= json + len)
			return fail(c, "malformed JSON near byte %zu of %zu", (size_t)(end - json), len);
		return fail(c, "malformed JSON");
	}
	for (i = (size_t)(end - json); i < len; i++) {
		if (!isspace((unsigned char)json[i])) {
			cJSON_Delete(*out);
			*out = NULL;
			return fail(c, "trailing bytes after JSON at byte %zu", i);
		}
	}
	return 0;
}

int k8s_list_parse(const char *json, size_t len, struct k8s_list *l, char *err, size_t errlen)
{
	struct pctx c = { "list", NULL, err, errlen };
	const cJSON *kind, *md, *items, *it, *cont;
	size_t n, i;
	int rc;

	memset(l, 0, sizeof(*l));
	if ((rc = parse_json(&c, json, len, &l->root)))
		goto out;
	if (!cJSON_IsObject(l->root)) {
		rc = fail(&c, "want object, got %s", type_name(l->root));
		goto out;
	}
	kind = field(l->root, "kind");
	if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "Status")) {
		if (!(rc = status_parse(&c, l->root, &l->status)))
			rc = fail(&c, "Status %d %s: %s", l->status.code, l->status.reason, l->status.message);
		goto out;
	}
	if ((rc = get_obj(&c, l->root, "", "metadata", OPT, &md)) ||
	    (rc = get_str(&c, md, "metadata", "resourceVersion", l->resource_version,
			  sizeof(l->resource_version), OPT, NULL)))
		goto out;
	cont = field(md, "continue");
	if (cont && !cJSON_IsString(cont)) {
		rc = fail(&c, "metadata.continue: want string, got %s", type_name(cont));
		goto out;
	}
	if (cont && cont->valuestring[0]) {
		l->continue_token = strdup(cont->valuestring);
		if (!l->continue_token) {
			rc = oom(&c);
			goto out;
		}
	}
	/* A Go nil slice serialises as null: an empty list. */
	if ((rc = get_arr(&c, l->root, "", "items", &items, &n)) ||
	    (rc = ALLOC_N(&c, l->items, n)))
		goto out;
	if (!items && !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(l->root, "items"))) {
		rc = fail(&c, "items missing");
		goto out;
	}
	i = 0;
	cJSON_ArrayForEach(it, items) {
		if (!cJSON_IsObject(it)) {
			rc = fail(&c, "items[%zu]: want object, got %s", i, type_name(it));
			goto out;
		}
		l->items[i++] = it;
	}
	l->n_items = i;
out:
	if (rc) {
		struct k8s_status st = l->status;

		k8s_list_free(l);
		l->status = st;
	}
	return rc;
}

void k8s_list_free(struct k8s_list *l)
{
	if (!l)
		return;
	cJSON_Delete(l->root);
	free(l->items);
	free(l->continue_token);
	memset(l, 0, sizeof(*l));
}

static const char *const event_names[] = {
	[K8S_EVENT_ADDED] = "ADDED",
	[K8S_EVENT_MODIFIED] = "MODIFIED",
	[K8S_EVENT_DELETED] = "DELETED",
	[K8S_EVENT_BOOKMARK] = "BOOKMARK",
	[K8S_EVENT_ERROR] = "ERROR",
};

const char *k8s_event_type_str(enum k8s_event_type t)
{
	if ((unsigned)t < sizeof(event_names) / sizeof(event_names[0]) && event_names[t])
		return event_names[t];
	return "UNKNOWN";
}

int k8s_watch_event_parse(const char *json, size_t len, struct k8s_watch_event *ev,
			  char *err, size_t errlen)
{
	struct pctx c = { "watch event", NULL, err, errlen };
	char type[K8S_SHORT_MAX];
	const cJSON *md;
	unsigned t;
	int rc;

	memset(ev, 0, sizeof(*ev));
	if ((rc = parse_json(&c, json, len, &ev->root)))
		goto out;
	if (!cJSON_IsObject(ev->root)) {
		rc = fail(&c, "want object, got %s", type_name(ev->root));
		goto out;
	}
	if ((rc = get_str(&c, ev->root, "", "type", type, sizeof(type), REQ, NULL)) ||
	    (rc = get_obj(&c, ev->root, "", "object", REQ, &ev->object)))
		goto out;
	for (t = K8S_EVENT_ADDED; t <= K8S_EVENT_ERROR; t++)
		if (!strcmp(type, event_names[t]))
			break;
	if (t > K8S_EVENT_ERROR) {
		rc = fail(&c, "type \"%s\" unknown", type);
		goto out;
	}
	ev->type = (enum k8s_event_type)t;
	if (ev->type == K8S_EVENT_ERROR) {
		rc = status_parse(&c, ev->object, &ev->status);
		goto out;
	}
	if ((rc = get_obj(&c, ev->object, "object", "metadata", OPT, &md)) ||
	    (rc = get_str(&c, md, "object.metadata", "resourceVersion", ev->resource_version,
			  sizeof(ev->resource_version), ev->type == K8S_EVENT_BOOKMARK ? REQ : OPT, NULL)))
		goto out;
out:
	if (rc)
		k8s_watch_event_free(ev);
	return rc;
}

void k8s_watch_event_free(struct k8s_watch_event *ev)
{
	if (!ev)
		return;
	cJSON_Delete(ev->root);
	memset(ev, 0, sizeof(*ev));
}

/* ---- bpfsplit.io/frontends ---- */

static int frontend_parse(char *item, struct k8s_frontend *f, char *cause, size_t cap)
{
	char *addr, *portstr, *proto, *end;
	unsigned long port;

	memset(f, 0, sizeof(*f));
	if (item[0] == '[') {
		addr = item + 1;
		end = strchr(addr, ']');
		if (!end) {
			snprintf(cause, cap, "missing ']'");
			return -EINVAL;
		}
		*end = '\0';
		if (end[1] != ':') {
			snprintf(cause, cap, "want [IPv6]:port");
			return -EINVAL;
		}
		portstr = end + 2;
		if (k8s_ip_parse(addr, &f->ip) || f->ip.family != AF_INET6) {
			snprintf(cause, cap, "\"%s\" not an IPv6 address", addr);
			return -EINVAL;
		}
	} else {
		addr = item;
		end = strchr(item, ':');
		if (!end) {
			snprintf(cause, cap, "port missing (want ADDR:PORT[/PROTO])");
			return -EINVAL;
		}
		if (strchr(end + 1, ':')) {
			snprintf(cause, cap, "IPv6 addresses need brackets: [ADDR]:PORT");
			return -EINVAL;
		}
		*end = '\0';
		portstr = end + 1;
		if (k8s_ip_parse(addr, &f->ip) || f->ip.family != AF_INET) {
			snprintf(cause, cap, "\"%s\" not an IPv4 address", addr);
			return -EINVAL;
		}
	}
	proto = strchr(portstr, '/');
	if (proto)
		*proto++ = '\0';
	if (!portstr[0] || strspn(portstr, "0123456789") != strlen(portstr) || strlen(portstr) > 5) {
		snprintf(cause, cap, "port \"%s\" not a number", portstr);
		return -EINVAL;
	}
	port = strtoul(portstr, NULL, 10);
	if (port < 1 || port > 65535) {
		snprintf(cause, cap, "port %lu out of range 1..65535", port);
		return -EINVAL;
	}
	f->port = (uint16_t)port;
	if (!proto || !strcasecmp(proto, "TCP")) {
		f->proto = IPPROTO_TCP;
	} else if (!strcasecmp(proto, "UDP")) {
		f->proto = IPPROTO_UDP;
	} else {
		snprintf(cause, cap, "protocol \"%s\" unknown (TCP, UDP)", proto);
		return -EINVAL;
	}
	return 0;
}

int k8s_frontends_parse(const char *s, struct k8s_frontend **out, size_t *n, char *err, size_t errlen)
{
	struct k8s_frontend *list = NULL;
	size_t count = 1, i = 0;
	char *copy = NULL, *item, *next, cause[256];
	const char *q;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (!s)
		s = "";
	for (q = s; *q; q++)
		count += *q == ',';
	copy = strdup(s);
	list = calloc(count, sizeof(*list));
	if (!copy || !list) {
		rc = -ENOMEM;
		if (err && errlen)
			snprintf(err, errlen, "frontends: out of memory");
		goto out;
	}
	for (item = copy; item; item = next, i++) {
		char *e, shown[128];

		next = strchr(item, ',');
		if (next)
			*next++ = '\0';
		while (isspace((unsigned char)*item))
			item++;
		for (e = item + strlen(item); e > item && isspace((unsigned char)e[-1]); e--)
			*(e - 1) = '\0';
		snprintf(shown, sizeof(shown), "%s", item);
		if (!item[0]) {
			snprintf(cause, sizeof(cause), "empty");
			rc = -EINVAL;
		} else {
			rc = frontend_parse(item, &list[i], cause, sizeof(cause));
		}
		if (rc) {
			if (err && errlen)
				snprintf(err, errlen, "item %zu \"%s\": %s", i + 1, shown, cause);
			goto out;
		}
	}
out:
	free(copy);
	if (rc) {
		free(list);
		return rc;
	}
	*out = list;
	*n = i;
	return 0;
}
