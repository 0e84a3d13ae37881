// SPDX-License-Identifier: BSD-2-Clause
/* The agent's cache of Kubernetes objects: last good versions, errors of rejected
 * versions, and the endpoints that left their Service and still drain. */
#include "cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utlist.h>
#include "kinds.h"

const char *cache_kind_name(enum cache_kind k)
{
	return kind_desc(k)->name;
}

struct cache *cache_new(void)
{
	return calloc(1, sizeof(struct cache));
}

static void key_of(char *key, const char *ns, const char *name)
{
	snprintf(key, CACHE_KEY_MAX, "%s%s%s", ns, ns[0] ? "/" : "", name);
}

static void good_free(enum cache_kind k, struct cache_entry *e)
{
	if (!e->has_good)
		return;
	kind_desc(k)->free(e->good.any);
	memset(e->good.any, 0, kind_desc(k)->size);
	e->has_good = false;
}

/* The empty string of entries' optional strings (never freed). */
static char no_str[1];

static void str_release(char **s)
{
	if (*s != no_str)
		free(*s);
	*s = no_str;
}

/* *dst = a heap copy of src ("" shares no_str). 0 or -ENOMEM (*dst unchanged). */
static int str_set(char **dst, const char *src)
{
	char *n = no_str;

	if (src[0]) {
		n = strdup(src);
		if (!n)
			return -ENOMEM;
	}
	str_release(dst);
	*dst = n;
	return 0;
}

static void entry_free(struct cache_entry *e)
{
	str_release(&e->rv);
	str_release(&e->svc_key);
	good_free(e->kind, e);
	free(e->good.any);
	free(e->error);
	cJSON_Delete(e->parent_refs);
	cJSON_Delete(e->status_parents);
	free(e->ro_frontends);
	free(e);
}

/* ---- endpoints of a Service, and those that vanished ---- */

struct ep_node {
	UT_hash_handle hh;
	struct cache_ep_id id;
};

static void ep_set_free(struct ep_node **set)
{
	struct ep_node *n, *tmp;

	HASH_ITER(hh, *set, n, tmp) {
		HASH_DEL(*set, n);
		free(n);
	}
}

static int ep_set_collect_ready(const struct cache_svc_eps *s, struct ep_node **set, bool ready_only)
{
	const struct cache_entry *e;

	*set = NULL;
	if (!s)
		return 0;
	DL_FOREACH2(s->slices, e, svc_next) {
		const struct k8s_endpointslice *es = e->good.slice;

		for (size_t i = 0; i < es->n_endpoints; i++) {
			const struct k8s_endpoint *ep = &es->endpoints[i];

			if (ready_only && !(ep->ready && !ep->terminating))
				continue;
			for (size_t a = 0; a < ep->n_addresses; a++) {
				if (!ep->addresses[a].ip.family)
					continue;
				for (size_t p = 0; p < es->n_ports; p++) {
					struct ep_node *n, *found;

					if (!es->ports[p].has_port)
						continue;
					n = calloc(1, sizeof(*n));
					if (!n) {
						ep_set_free(set);
						return -ENOMEM;
					}
					n->id.family = ep->addresses[a].ip.family;
					n->id.proto = es->ports[p].proto;
					n->id.port = es->ports[p].port;
					memcpy(n->id.addr, ep->addresses[a].ip.addr, 16);
					snprintf(n->id.port_name, sizeof(n->id.port_name), "%s", es->ports[p].name);
					HASH_FIND(hh, *set, &n->id, sizeof(n->id), found);
					if (found) {
						free(n);
						continue;
					}
					HASH_ADD(hh, *set, id, sizeof(n->id), n);
				}
			}
		}
	}
	return 0;
}

static int ep_set_collect(const struct cache_svc_eps *s, struct ep_node **set)
{
	return ep_set_collect_ready(s, set, false);
}

static void vanished_free(struct cache_vanished **h)
{
	struct cache_vanished *v, *tmp;

	HASH_ITER(hh, *h, v, tmp) {
		HASH_DEL(*h, v);
		free(v);
	}
}

static bool has_family(struct ep_node *set, uint8_t family)
{
	struct ep_node *n;

	for (n = set; n; n = n->hh.next)
		if (n->id.family == family)
			return true;
	return false;
}

static void last_ready_drop(struct cache_svc_eps *s, uint8_t family)
{
	struct cache_vanished *v, *tmp;

	HASH_ITER(hh, s->last_ready, v, tmp) {
		if (v->id.family != family)
			continue;
		HASH_DEL(s->last_ready, v);
		free(v);
	}
	s->no_ready_since_ns[CACHE_FAM_IDX(family)] = 0;
}

/* The endpoint grace: when a slice change leaves the Service without a ready endpoint of
 * an address family, remember those of that family ready before (ready_before) and since
 * when. */
static void svc_track_ready(struct cache_svc_eps *s, struct ep_node *ready_before, uint64_t now_ns)
{
	static const uint8_t families[2] = { 2 /* AF_INET */, 10 /* AF_INET6 */ };
	struct ep_node *after = NULL, *n, *tmp;

	if (ep_set_collect_ready(s, &after, true))
		return;
	for (int f = 0; f < 2; f++) {
		uint8_t fam = families[f];

		if (has_family(after, fam)) {
			last_ready_drop(s, fam);
		} else if (has_family(ready_before, fam)) {
			last_ready_drop(s, fam);
			s->no_ready_since_ns[f] = now_ns ? now_ns : 1;
			HASH_ITER(hh, ready_before, n, tmp) {
				struct cache_vanished *v;

				if (n->id.family != fam || !(v = calloc(1, sizeof(*v))))
					continue;
				v->id = n->id;
				v->since_ns = now_ns;
				HASH_ADD(hh, s->last_ready, id, sizeof(v->id), v);
			}
		}
	}
	ep_set_free(&after);
}

static struct cache_svc_eps *svc_get(struct cache *c, const char *key, bool create)
{
	struct cache_svc_eps *s;

	HASH_FIND_STR(c->eps, key, s);
	if (s || !create)
		return s;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	snprintf(s->key, sizeof(s->key), "%s", key);
	HASH_ADD_STR(c->eps, key, s);
	return s;
}

static void svc_gc(struct cache *c, struct cache_svc_eps *s)
{
	if (s && !s->slices && !s->vanished && !s->last_ready) {
		HASH_DEL(c->eps, s);
		free(s);
	}
}

/* Endpoints in before but in none of the Service's slices now start draining; those
 * back in a slice stop. */
static void svc_track(struct cache_svc_eps *s, struct ep_node *before, uint64_t now_ns)
{
	struct ep_node *after = NULL, *n, *tmp, *found;
	struct cache_vanished *v;

	if (ep_set_collect(s, &after))
		return; /* out of memory: vanished endpoints are simply forgotten */
	HASH_ITER(hh, before, n, tmp) {
		HASH_FIND(hh, after, &n->id, sizeof(n->id), found);
		if (found)
			continue;
		HASH_FIND(hh, s->vanished, &n->id, sizeof(n->id), v);
		if (v)
			continue;
		v = calloc(1, sizeof(*v));
		if (!v)
			continue;
		v->id = n->id;
		v->since_ns = now_ns;
		HASH_ADD(hh, s->vanished, id, sizeof(v->id), v);
	}
	HASH_ITER(hh, after, n, tmp) {
		HASH_FIND(hh, s->vanished, &n->id, sizeof(n->id), v);
		if (v) {
			HASH_DEL(s->vanished, v);
			free(v);
		}
	}
	ep_set_free(&after);
}

/* Replace a slice's good version (next NULL: the slice is gone), keeping each Service's
 * list of slices and its vanished endpoints up to date. */
static int slice_replace(struct cache *c, struct cache_entry *e, struct k8s_endpointslice *next, uint64_t now_ns)
{
	char new_key[CACHE_KEY_MAX] = "";
	struct cache_svc_eps *olds = NULL, *news = NULL;
	char *nk = no_str;
	struct ep_node *before_old = NULL, *before_new = NULL, *ready_old = NULL, *ready_new = NULL;

	if (next && next->service_name[0])
		key_of(new_key, e->ns, next->service_name);
	if (e->has_good && e->svc_key[0])
		olds = svc_get(c, e->svc_key, false);
	if (new_key[0]) {
		nk = strdup(new_key);
		news = nk ? svc_get(c, new_key, true) : NULL;
		if (!news) {
			free(nk);
			return -ENOMEM;
		}
	}
	ep_set_collect(olds, &before_old);
	ep_set_collect_ready(olds, &ready_old, true);
	if (news && news != olds) {
		ep_set_collect(news, &before_new);
		ep_set_collect_ready(news, &ready_new, true);
	}

	if (olds)
		DL_DELETE2(olds->slices, e, svc_prev, svc_next);
	e->svc_prev = e->svc_next = NULL;
	good_free(CACHE_ENDPOINTSLICE, e);
	str_release(&e->svc_key);
	if (next) {
		*e->good.slice = *next;
		e->has_good = true;
		e->svc_key = nk;
		if (news)
			DL_APPEND2(news->slices, e, svc_prev, svc_next);
	}
	if (olds) {
		svc_track(olds, before_old, now_ns);
		svc_track_ready(olds, ready_old, now_ns);
	}
	if (news && news != olds) {
		svc_track(news, before_new, now_ns);
		svc_track_ready(news, ready_new, now_ns);
	}
	ep_set_free(&before_old);
	ep_set_free(&before_new);
	ep_set_free(&ready_old);
	ep_set_free(&ready_new);
	if (olds != news)
		svc_gc(c, olds);
	svc_gc(c, news);
	return 0;
}

int cache_expire(struct cache *c, uint64_t now_ns, uint64_t drain_timeout_ns)
{
	struct cache_svc_eps *s, *stmp;
	struct cache_vanished *v, *vtmp;
	int n = 0;

	HASH_ITER(hh, c->eps, s, stmp) {
		HASH_ITER(hh, s->vanished, v, vtmp) {
			if (now_ns - v->since_ns < drain_timeout_ns)
				continue;
			HASH_DEL(s->vanished, v);
			free(v);
			n++;
		}
		if (s->no_ready_since_ns[0] && now_ns - s->no_ready_since_ns[0] >= drain_timeout_ns)
			last_ready_drop(s, 2);
		if (s->no_ready_since_ns[1] && now_ns - s->no_ready_since_ns[1] >= drain_timeout_ns)
			last_ready_drop(s, 10);
		svc_gc(c, s);
	}
	if (n)
		c->version++;
	return n;
}

uint64_t cache_next_grace_end(const struct cache *c, uint64_t grace_ns, uint64_t after_ns)
{
	const struct cache_svc_eps *s;
	uint64_t next = 0;

	for (s = c->eps; s; s = s->hh.next) {
		for (int f = 0; f < 2; f++) {
			uint64_t end = s->no_ready_since_ns[f] + grace_ns;

			if (s->no_ready_since_ns[f] && end > after_ns && (!next || end < next))
				next = end;
		}
	}
	return next;
}

uint64_t cache_next_expiry(const struct cache *c, uint64_t drain_timeout_ns)
{
	const struct cache_svc_eps *s;
	const struct cache_vanished *v;
	uint64_t next = 0;

	for (s = c->eps; s; s = s->hh.next)
		for (v = s->vanished; v; v = v->hh.next)
			if (!next || v->since_ns + drain_timeout_ns < next)
				next = v->since_ns + drain_timeout_ns;
	return next;
}

/* ---- entries ---- */

static struct cache_entry *find(const struct cache *c, enum cache_kind k, const char *key)
{
	struct cache_entry *e;

	HASH_FIND_STR(c->by_kind[k], key, e);
	return e;
}

const struct cache_entry *cache_get(const struct cache *c, enum cache_kind k, const char *ns, const char *name)
{
	char key[CACHE_KEY_MAX];

	key_of(key, ns, name);
	return find(c, k, key);
}

void cache_set_content_hash(struct cache *c, enum cache_kind k, const char *ns, const char *name, uint64_t h)
{
	char key[CACHE_KEY_MAX];
	struct cache_entry *e;

	key_of(key, ns, name);
	e = (struct cache_entry *)find(c, k, key);
	if (e)
		e->content_hash = h;
}

const struct cache_svc_eps *cache_svc_eps(const struct cache *c, const char *ns, const char *name)
{
	char key[CACHE_KEY_MAX];
	struct cache_svc_eps *s;

	key_of(key, ns, name);
	HASH_FIND_STR(c->eps, key, s);
	return s;
}

size_t cache_count(const struct cache *c, enum cache_kind k)
{
	return HASH_COUNT(c->by_kind[k]);
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct cache_entry *const *)a)->key, (*(const struct cache_entry *const *)b)->key);
}

int cache_sorted(const struct cache *c, enum cache_kind k, const struct cache_entry ***out, size_t *n)
{
	const struct cache_entry *e, **arr;
	size_t i = 0, count = cache_count(c, k);

	arr = calloc(count ? count : 1, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	cache_for_each(c, k, e)
		arr[i++] = e;
	qsort(arr, count, sizeof(*arr), entry_cmp);
	*out = arr;
	*n = count;
	return 0;
}

/* A string annotation of a raw object, NULL when absent or not a string. */
static const char *annotation(const cJSON *obj, const char *key)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const cJSON *an = cJSON_GetObjectItemCaseSensitive(md, "annotations");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(an, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static cJSON *dup_path(const cJSON *obj, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, a), b);

	return v && !cJSON_IsNull(v) ? cJSON_Duplicate(v, 1) : NULL;
}

/* Parse obj as kind k into p (a zeroed buffer of the kind's size). A Rollout's
 * frontends annotation is parsed with it. */
static int parse(enum cache_kind k, const cJSON *obj, void *p, struct k8s_frontend **fes, size_t *n_fes, char *err,
		 size_t errlen)
{
	const struct kind_desc *kd = kind_desc(k);
	struct k8s_rollout *ro = p;
	const char *ann;
	char ferr[512];
	int rc;

	rc = kd->parse(obj, p, err, errlen);
	if (rc || k != CACHE_ROLLOUT)
		return rc;
	ann = annotation(obj, K8S_ANN_FRONTENDS);
	if (!ann)
		return 0;
	rc = k8s_frontends_parse(ann, fes, n_fes, ferr, sizeof(ferr));
	if (rc) {
		snprintf(err, errlen, "rollout %s/%s: annotation %s: %s", ro->meta.ns, ro->meta.name, K8S_ANN_FRONTENDS,
			 ferr);
		k8s_rollout_free(ro);
	}
	return rc;
}

static void parsed_free(enum cache_kind k, void *p)
{
	struct cache_entry tmp = { .kind = k, .has_good = true, .good.any = p };

	good_free(k, &tmp);
}

int cache_upsert(struct cache *c, enum cache_kind k, const cJSON *obj, uint64_t now_ns, char *err, size_t errlen)
{
	struct k8s_frontend *fes = NULL;
	struct cache_entry *e;
	struct k8s_meta m;
	void *p = NULL; /* the parsed object, of the kind's size */
	size_t n_fes = 0;
	char key[CACHE_KEY_MAX];
	bool created = false;
	int rc;

	err[0] = '\0';
	if (k >= CACHE_NKINDS)
		return -EINVAL;
	if (k8s_meta_parse(obj, kind_desc(k)->type, &m, err, errlen))
		return 0; /* nameless: nothing to key it by; err says why */
	key_of(key, m.ns, m.name);
	e = find(c, k, key);
	if (e && m.resource_version[0] && !strcmp(e->rv, m.resource_version)) {
		e->seen = true;
		return 0;
	}
	if (!e) {
		size_t lk = strlen(key) + 1, ln = strlen(m.ns) + 1, lm = strlen(m.name) + 1;

		/* The entry, then its key, namespace and name. */
		e = calloc(1, sizeof(*e) + lk + ln + lm);
		if (!e)
			return -ENOMEM;
		e->rv = e->svc_key = no_str;
		e->key = (char *)(e + 1);
		e->ns = e->key + lk;
		e->name = e->ns + ln;
		memcpy(e->key, key, lk);
		memcpy(e->ns, m.ns, ln);
		memcpy(e->name, m.name, lm);
		e->good.any = calloc(1, kind_desc(k)->size);
		if (!e->good.any) {
			free(e);
			return -ENOMEM;
		}
		e->kind = k;
		created = true;
	}
	p = calloc(1, kind_desc(k)->size);
	if (!p) {
		if (created)
			entry_free(e);
		return -ENOMEM;
	}
	rc = parse(k, obj, p, &fes, &n_fes, err, errlen);
	if (rc == -ENOMEM) {
		free(p);
		if (created)
			entry_free(e);
		return -ENOMEM;
	}
	if (rc) {
		if (!err[0])
			snprintf(err, errlen, "%s %s: rejected (%s)", kind_desc(k)->name, key, strerror(-rc));
		if (e->error && !strcmp(e->error, err)) {
			err[0] = '\0'; /* the same cause again (e.g. a status-only update): not news */
		} else {
			free(e->error);
			e->error = strdup(err);
		}
	} else if (k == CACHE_ENDPOINTSLICE) {
		rc = slice_replace(c, e, p, now_ns);
		if (rc) {
			parsed_free(k, p);
			free(p);
			if (created)
				entry_free(e);
			return rc;
		}
		free(e->error);
		e->error = NULL;
	} else {
		good_free(k, e);
		memcpy(e->good.any, p, kind_desc(k)->size);
		e->has_good = true;
		free(e->error);
		e->error = NULL;
		if (k == CACHE_ROLLOUT) {
			free(e->ro_frontends);
			e->ro_frontends = fes;
			e->n_ro_frontends = n_fes;
		}
	}
	free(p); /* its contents moved into the entry, or it failed and holds nothing */
	if (kind_desc(k)->is_route) {
		cJSON_Delete(e->parent_refs);
		cJSON_Delete(e->status_parents);
		e->parent_refs = dup_path(obj, "spec", "parentRefs");
		e->status_parents = dup_path(obj, "status", "parents");
		e->has_frontends_ann = annotation(obj, K8S_ANN_FRONTENDS) != NULL;
	}
	if (strcmp(e->rv, m.resource_version) && str_set(&e->rv, m.resource_version))
		str_release(&e->rv); /* out of memory: the next version is simply parsed again */
	e->generation = m.generation;
	e->seen = true;
	if (created)
		HASH_ADD_KEYPTR(hh, c->by_kind[k], e->key, strlen(e->key), e);
	c->version++;
	return 1;
}

static void entry_remove(struct cache *c, struct cache_entry *e, uint64_t now_ns)
{
	if (e->kind == CACHE_ENDPOINTSLICE)
		slice_replace(c, e, NULL, now_ns);
	HASH_DEL(c->by_kind[e->kind], e);
	entry_free(e);
	c->version++;
}

int cache_delete(struct cache *c, enum cache_kind k, const cJSON *obj, uint64_t now_ns)
{
	struct cache_entry *e;
	struct k8s_meta m;
	char key[CACHE_KEY_MAX], err[256];

	if (k >= CACHE_NKINDS || k8s_meta_parse(obj, kind_desc(k)->type, &m, err, sizeof(err)))
		return 0;
	key_of(key, m.ns, m.name);
	e = find(c, k, key);
	if (!e)
		return 0;
	entry_remove(c, e, now_ns);
	return 1;
}

void cache_resync_begin(struct cache *c, enum cache_kind k)
{
	struct cache_entry *e;

	if (k >= CACHE_NKINDS)
		return;
	c->unavailable[k] = false;
	cache_for_each(c, k, e)
		e->seen = false;
}

int cache_resync_end(struct cache *c, enum cache_kind k, uint64_t now_ns)
{
	struct cache_entry *e, *tmp;
	int n = 0;

	if (k >= CACHE_NKINDS)
		return 0;
	HASH_ITER(hh, c->by_kind[k], e, tmp) {
		if (e->seen)
			continue;
		entry_remove(c, e, now_ns);
		n++;
	}
	return n;
}

void cache_free(struct cache *c)
{
	struct cache_entry *e, *tmp;
	struct cache_svc_eps *s, *stmp;
	struct cache_vanished *v, *vtmp;

	if (!c)
		return;
	for (int k = 0; k < CACHE_NKINDS; k++) {
		HASH_ITER(hh, c->by_kind[k], e, tmp) {
			HASH_DEL(c->by_kind[k], e);
			entry_free(e);
		}
	}
	HASH_ITER(hh, c->eps, s, stmp) {
		HASH_ITER(hh, s->vanished, v, vtmp) {
			HASH_DEL(s->vanished, v);
			free(v);
		}
		vanished_free(&s->last_ready);
		HASH_DEL(c->eps, s);
		free(s);
	}
	free(c);
}
