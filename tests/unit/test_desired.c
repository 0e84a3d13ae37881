// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/cache.c and agent/desired.c: the reference objects of
 * tests/fixtures/k8s go into the cache, and the desired frontends that come out are
 * checked field by field. Reference folder: $BPFSPLIT_K8S_REFERENCE, default
 * tests/fixtures/k8s (relative to the repository root, where the tests run). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "desired.h"
#include "dp_writer.h"

#include "reference.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)
#define DRAIN (300 * SEC)

/* ---- fixtures ---- */

/* Upsert a reference object; asserts it was accepted. */
static void put_obj(struct cache *c, enum cache_kind k, cJSON *obj, uint64_t now)
{
	char err[512];
	int rc = cache_upsert(c, k, obj, now, err, sizeof(err));

	if (err[0])
		fail_msg("rejected: %s", err);
	assert_true(rc >= 0);
}

static void put(struct cache *c, enum cache_kind k, const char *file)
{
	cJSON *j = ref_load(file);

	put_obj(c, k, j, T0);
	cJSON_Delete(j);
}

/* Set a string at a dotted path ("metadata.resourceVersion"), creating objects. */
static void set_str(cJSON *o, const char *path, const char *val)
{
	char buf[256], *save = NULL, *tok, *next;

	snprintf(buf, sizeof(buf), "%s", path);
	tok = strtok_r(buf, ".", &save);
	while ((next = strtok_r(NULL, ".", &save))) {
		cJSON *child = cJSON_GetObjectItemCaseSensitive(o, tok);

		if (!child)
			child = cJSON_AddObjectToObject(o, tok);
		o = child;
		tok = next;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(o, tok);
	cJSON_AddStringToObject(o, tok, val);
}

static cJSON *backend_ref(cJSON *route, int rule, int k)
{
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(route, "spec"), "rules");

	return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rules, rule), "backendRefs"), k);
}

static void set_num(cJSON *o, const char *key, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddNumberToObject(o, key, v);
}

/* The seed scenario at 30%: route, Gateway, both Services, both slices. */
static struct cache *seed(const char *route_file)
{
	struct cache *c = cache_new();

	assert_non_null(c);
	put(c, CACHE_HTTPROUTE, route_file);
	put(c, CACHE_GATEWAY, "gateway-agentgateway-proxy.json");
	put(c, CACHE_SERVICE, "service-stable.json");
	put(c, CACHE_SERVICE, "service-canary.json");
	put(c, CACHE_ENDPOINTSLICE, "endpointslice-stable.json");
	put(c, CACHE_ENDPOINTSLICE, "endpointslice-canary-30.json");
	return c;
}

static struct desired_opts opts_gw(void)
{
	struct desired_opts o = { 0 };

	o.gateway_classes[0] = "agentgateway";
	o.n_gateway_classes = 1;
	o.weights_from = WEIGHTS_FROM_HTTPROUTE;
	o.default_affinity = BS_AFFINITY_CONNECTION;
	o.now_ns = T0;
	o.drain_timeout_ns = DRAIN;
	return o;
}

static void compute(struct cache *c, const struct desired_opts *o, struct desired *d)
{
	assert_int_equal(desired_compute(c, o, d), 0);
}

static void key_of(const char *s, struct bs_frontend_key *k)
{
	assert_int_equal(bs_frontend_key_parse(s, k), 0);
}

static const struct desired_frontend *fe_of(const struct desired *d, const char *s)
{
	struct bs_frontend_key k;
	const struct desired_frontend *f;

	key_of(s, &k);
	f = desired_find_frontend(d, &k);
	if (!f)
		fail_msg("frontend %s not in the desired state (%zu frontends)", s, d->n_fe);
	return f;
}

static void assert_backend(const struct bs_backend_spec *b, const char *ep, uint8_t state)
{
	char buf[64];

	bs_endpoint_format(b->addr, b->port, b->family, buf, sizeof(buf));
	assert_string_equal(buf, ep);
	assert_int_equal(b->state, state);
}

static const struct desired_problem *problem_of(const struct desired *d, enum desired_reason r)
{
	for (size_t i = 0; i < d->n_pr; i++)
		if (d->pr[i].reason == r)
			return &d->pr[i];
	return NULL;
}

static void dump_problems(const struct desired *d)
{
	for (size_t i = 0; i < d->n_pr; i++)
		print_message("problem: %s %s\n", desired_reason_name(d->pr[i].reason), d->pr[i].msg);
}

/* ---- tests ---- */

/* canary-30 route + Services + slices: one frontend (the Gateway address x listener
 * port), stable 70 with its 3 green endpoints ready on 8080, canary 30 with 1. */
static void test_canary30(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_frontend *f;
	const struct desired_route *dr;

	compute(c, &o, &d);
	dump_problems(&d);
	assert_int_equal(d.n_pr, 0);
	assert_int_equal(d.n_fe, 1);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_false(f->blocked);
	assert_int_equal(f->owner_kind, CACHE_HTTPROUTE);
	assert_string_equal(f->owner, "default/argo-rollouts-http-route");
	assert_int_equal(f->parent, 0);
	assert_int_equal(f->spec.affinity, BS_AFFINITY_CONNECTION);
	assert_int_equal(f->spec.n_groups, 2);
	assert_string_equal(f->spec.groups[0].name, "default/rollouts-demo-stable");
	assert_int_equal(f->spec.groups[0].weight, 70);
	assert_int_equal(f->spec.groups[0].n_backends, 3);
	assert_backend(&f->spec.groups[0].backends[0], "10.244.1.12:8080", BS_BACKEND_READY);
	assert_backend(&f->spec.groups[0].backends[1], "10.244.1.13:8080", BS_BACKEND_READY);
	assert_backend(&f->spec.groups[0].backends[2], "10.244.2.9:8080", BS_BACKEND_READY);
	assert_string_equal(f->spec.groups[1].name, "default/rollouts-demo-canary");
	assert_int_equal(f->spec.groups[1].weight, 30);
	assert_int_equal(f->spec.groups[1].n_backends, 1);
	assert_backend(&f->spec.groups[1].backends[0], "10.244.2.15:8080", BS_BACKEND_READY);

	assert_int_equal(d.n_routes, 1);
	dr = desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route");
	assert_non_null(dr);
	assert_int_equal(dr->served_parents, 1);
	assert_int_equal(dr->parents_ok, 1);
	assert_int_equal(dr->rule, 0);
	assert_int_equal(dr->generation, 3);
	assert_false(dr->invalid);
	assert_int_equal(dr->n_frontends, 1);
	assert_string_equal(dr->rollout, ""); /* no Rollout in the cache */
	desired_free(&d);
	cache_free(c);
}

/* Right after kubectl apply, CRD defaulting gives both refs weight 1: a 50/50 split. */
static void test_defaulted(void **state)
{
	struct cache *c = seed("httproute-as-applied-defaulted.json");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_frontend *f;

	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_int_equal(f->spec.n_groups, 2);
	assert_int_equal(f->spec.groups[0].weight, 1);
	assert_int_equal(f->spec.groups[1].weight, 1);
	desired_free(&d);
	cache_free(c);
}

/* weight absent in a hand-written manifest: 1. */
static void test_weight_absent_defaults_to_1(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;

	cJSON_DeleteItemFromObjectCaseSensitive(backend_ref(r, 0, 1), "weight");
	set_str(r, "metadata.resourceVersion", "900001");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1].weight, 1);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* setHeaderRoute adds a header-matching rule: skipped and reported, the default rule applied. */
static void test_header_route(void **state)
{
	struct cache *c = seed("httproute-canary-30-with-header-route.json");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_frontend *f;
	const struct desired_problem *p;

	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 1);
	p = problem_of(&d, DR_RULE_SKIPPED);
	assert_non_null(p);
	assert_false(p->blocking);
	assert_int_equal(p->rule, 1);
	assert_int_equal(p->kind, CACHE_HTTPROUTE);
	assert_string_equal(p->owner, "default/argo-rollouts-http-route");
	assert_non_null(strstr(p->msg, "httproute default/argo-rollouts-http-route: rules[1] (canary-header-route)"));
	assert_non_null(strstr(p->msg, "header matches"));
	assert_non_null(strstr(p->msg, "rule skipped"));
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_false(f->blocked);
	assert_int_equal(f->spec.n_groups, 2);
	assert_int_equal(f->spec.groups[0].weight, 70);
	assert_int_equal(f->spec.groups[1].weight, 30);
	assert_int_equal(desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route")->rule, 0);
	desired_free(&d);
	cache_free(c);
}

/* A route whose only rule needs L7: nothing programmed, reported as blocking. */
static void test_only_l7_rule(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30-with-header-route.json");
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "spec"), "rules");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_problem *p;

	cJSON_DeleteItemFromArray(rules, 0);
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	p = problem_of(&d, DR_NO_L4_RULE);
	assert_non_null(p);
	assert_true(p->blocking);
	assert_non_null(problem_of(&d, DR_RULE_SKIPPED));
	assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* ready:false, serving:true, terminating:true -> draining; its neighbour stays ready. */
static void test_terminating_is_draining(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct bs_group_spec *g;

	put(c, CACHE_ENDPOINTSLICE, "endpointslice-canary-terminating.json");
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1];
	assert_int_equal(g->n_backends, 2);
	assert_backend(&g->backends[0], "10.244.1.18:8080", BS_BACKEND_READY);
	assert_backend(&g->backends[1], "10.244.2.15:8080", BS_BACKEND_DRAINING);
	desired_free(&d);
	cache_free(c);
}

/* More ready endpoints in a group than the data path holds: the library's own check
 * (bs_spec_validate) makes it a blocking problem of the route, not a write retried
 * forever; one fewer is fine. */
static void test_more_ready_than_the_data_path_holds(void **state)
{
	for (int extra = 0; extra < 2; extra++) {
		struct cache *c = seed("httproute-canary-30.json");
		struct desired_opts o = opts_gw();
		cJSON *slice = ref_load("endpointslice-stable.json");
		cJSON *eps = cJSON_GetObjectItemCaseSensitive(slice, "endpoints");
		cJSON *first = cJSON_GetArrayItem(eps, 0);
		const struct desired_problem *p;
		struct desired d;
		int n = BS_MAX_READY_PER_GROUP + extra;

		while (cJSON_GetArraySize(eps) > 1)
			cJSON_DeleteItemFromArray(eps, 1);
		for (int i = 1; i < n; i++) {
			cJSON *ep = cJSON_Duplicate(first, 1);
			char a[32];

			snprintf(a, sizeof(a), "10.245.%d.%d", i / 200, 1 + i % 200);
			cJSON_ReplaceItemInArray(cJSON_GetObjectItemCaseSensitive(ep, "addresses"), 0, cJSON_CreateString(a));
			cJSON_DeleteItemFromObjectCaseSensitive(ep, "targetRef");
			cJSON_AddItemToArray(eps, ep);
		}
		set_str(slice, "metadata.resourceVersion", "999001");
		put_obj(c, CACHE_ENDPOINTSLICE, slice, T0);
		cJSON_Delete(slice);
		compute(c, &o, &d);
		p = problem_of(&d, DR_DATAPATH_LIMIT);
		if (!extra) {
			assert_null(p);
			assert_false(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
			const struct bs_group_spec *g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[0];
			int ready = 0;

			for (__u32 i = 0; i < g->n_backends; i++) /* the two removed from the slice drain */
				ready += g->backends[i].state == BS_BACKEND_READY;
			assert_int_equal(ready, n);
		} else {
			if (!p)
				dump_problems(&d);
			assert_non_null(p);
			assert_true(p->blocking);
			char want[64];

			snprintf(want, sizeof(want), "%d ready backends, at most %d", n, BS_MAX_READY_PER_GROUP);
			assert_non_null(strstr(p->msg, want));
			assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
			assert_string_equal(desired_reason_name(p->reason), "DataPathLimit");
		}
		desired_free(&d);
		cache_free(c);
	}
}

/* Promotion: the stable slice switches to orange endpoints; the green ones vanish from
 * it (not marked terminating). They drain for the drain timeout, then are forgotten. */
static void test_vanished_endpoints_drain_then_go(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	char *text = ref_slurp("watch-endpointslice-stable-promotion.jsonl", NULL);
	cJSON *ev = cJSON_Parse(text);
	const struct bs_group_spec *g;
	struct desired d;
	uint64_t t1 = T0 + 5 * SEC;

	assert_non_null(ev);
	put_obj(c, CACHE_ENDPOINTSLICE, cJSON_GetObjectItemCaseSensitive(ev, "object"), t1);
	assert_int_equal(cache_next_expiry(c, DRAIN), t1 + DRAIN);

	o.now_ns = t1 + 1;
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[0];
	assert_int_equal(g->n_backends, 6);
	assert_backend(&g->backends[0], "10.244.1.12:8080", BS_BACKEND_DRAINING);
	assert_backend(&g->backends[1], "10.244.1.13:8080", BS_BACKEND_DRAINING);
	assert_backend(&g->backends[2], "10.244.1.18:8080", BS_BACKEND_READY);
	assert_backend(&g->backends[3], "10.244.2.9:8080", BS_BACKEND_DRAINING);
	assert_backend(&g->backends[4], "10.244.2.15:8080", BS_BACKEND_READY);
	assert_backend(&g->backends[5], "10.244.2.16:8080", BS_BACKEND_READY);
	desired_free(&d);

	/* Just before the timeout: still draining, nothing expires. */
	o.now_ns = t1 + DRAIN - 1;
	assert_int_equal(cache_expire(c, o.now_ns, DRAIN), 0);
	compute(c, &o, &d);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[0].n_backends, 6);
	desired_free(&d);

	/* At the timeout: desired drops them even before the cache forgets them... */
	o.now_ns = t1 + DRAIN;
	compute(c, &o, &d);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[0].n_backends, 3);
	desired_free(&d);
	/* ... and the cache forgets them. */
	assert_int_equal(cache_expire(c, o.now_ns, DRAIN), 3);
	assert_int_equal(cache_next_expiry(c, DRAIN), 0);
	compute(c, &o, &d);
	g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[0];
	assert_int_equal(g->n_backends, 3);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(g->backends[i].state, BS_BACKEND_READY);
	desired_free(&d);
	cJSON_Delete(ev);
	free(text);
	cache_free(c);
}

/* An endpoint that comes back before the timeout is ready again, not draining. */
static void test_vanished_endpoint_returns(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *s = ref_load("endpointslice-canary-30.json");
	cJSON *eps = cJSON_DetachItemFromObjectCaseSensitive(s, "endpoints");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct bs_group_spec *g;

	cJSON_AddItemToObject(s, "endpoints", cJSON_CreateArray());
	set_str(s, "metadata.resourceVersion", "900010");
	put_obj(c, CACHE_ENDPOINTSLICE, s, T0 + SEC);
	o.now_ns = T0 + 2 * SEC;
	compute(c, &o, &d);
	g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1];
	assert_int_equal(g->n_backends, 1);
	assert_backend(&g->backends[0], "10.244.2.15:8080", BS_BACKEND_DRAINING);
	/* weight 30 but nothing ready: applied, reported as a warning */
	assert_non_null(problem_of(&d, DR_NO_READY_ENDPOINTS));
	assert_false(problem_of(&d, DR_NO_READY_ENDPOINTS)->blocking);
	desired_free(&d);

	cJSON_DeleteItemFromObjectCaseSensitive(s, "endpoints");
	cJSON_AddItemToObject(s, "endpoints", eps);
	set_str(s, "metadata.resourceVersion", "900011");
	put_obj(c, CACHE_ENDPOINTSLICE, s, T0 + 3 * SEC);
	assert_int_equal(cache_next_expiry(c, DRAIN), 0);
	compute(c, &o, &d);
	g = &fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1];
	assert_int_equal(g->n_backends, 1);
	assert_backend(&g->backends[0], "10.244.2.15:8080", BS_BACKEND_READY);
	desired_free(&d);
	cJSON_Delete(s);
	cache_free(c);
}

/* Deleting a slice (or dropping it in a relist) drains its endpoints too. */
static void test_slice_deleted_and_relist(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *s = ref_load("endpointslice-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;

	/* A relist that no longer has the canary slice. */
	cache_resync_begin(c, CACHE_ENDPOINTSLICE);
	put(c, CACHE_ENDPOINTSLICE, "endpointslice-stable.json");
	assert_int_equal(cache_resync_end(c, CACHE_ENDPOINTSLICE, T0 + SEC), 1);
	assert_int_equal(cache_count(c, CACHE_ENDPOINTSLICE), 1);
	o.now_ns = T0 + SEC;
	compute(c, &o, &d);
	assert_backend(&fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1].backends[0], "10.244.2.15:8080",
		       BS_BACKEND_DRAINING);
	desired_free(&d);
	/* After the timeout the canary has no endpoint at all: blocking problem. */
	o.now_ns = T0 + SEC + DRAIN;
	cache_expire(c, o.now_ns, DRAIN);
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_NO_ENDPOINTS));
	assert_true(problem_of(&d, DR_NO_ENDPOINTS)->blocking);
	assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
	desired_free(&d);
	/* Put back and delete through a watch DELETE. */
	put_obj(c, CACHE_ENDPOINTSLICE, s, T0 + 400 * SEC);
	assert_int_equal(cache_delete(c, CACHE_ENDPOINTSLICE, s, T0 + 401 * SEC), 1);
	assert_int_equal(cache_next_expiry(c, DRAIN), T0 + 401 * SEC + DRAIN);
	cJSON_Delete(s);
	cache_free(c);
}

/* A weight out of range is rejected by the parser: the last good version stays in
 * force and the problem is reported. */
static void test_weight_out_of_range_keeps_last_good(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	const struct desired_problem *p;
	const struct desired_frontend *f;
	const struct desired_route *dr;
	struct desired d;
	char err[512];

	set_num(backend_ref(r, 0, 1), "weight", 2000000);
	set_str(r, "metadata.resourceVersion", "900002");
	set_num(cJSON_GetObjectItemCaseSensitive(r, "metadata"), "generation", 4);
	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, r, T0, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "httproute default/argo-rollouts-http-route"));
	assert_non_null(strstr(err, "2000000"));
	/* The same bad version again (a relist): no news. */
	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, r, T0, err, sizeof(err)), 0);

	compute(c, &o, &d);
	p = problem_of(&d, DR_INVALID);
	assert_non_null(p);
	assert_false(p->blocking);
	assert_non_null(strstr(p->msg, "out of range"));
	assert_non_null(strstr(p->msg, "generation 3 stays in force"));
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_false(f->blocked);
	assert_int_equal(f->spec.groups[0].weight, 70);
	assert_int_equal(f->spec.groups[1].weight, 30);
	dr = desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route");
	assert_true(dr->invalid);
	assert_int_equal(dr->generation, 4);
	desired_free(&d);

	/* Fixed: the problem goes, the new weights apply. */
	set_num(backend_ref(r, 0, 1), "weight", 40);
	set_str(r, "metadata.resourceVersion", "900003");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.groups[1].weight, 40);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* Bad from the very first version: nothing to keep, the problem is blocking. */
static void test_invalid_route_without_good_version(void **state)
{
	struct cache *c = cache_new();
	cJSON *r = ref_load("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	const struct desired_route *dr;
	struct desired d;
	char err[512];

	put(c, CACHE_GATEWAY, "gateway-agentgateway-proxy.json");
	set_num(backend_ref(r, 0, 0), "weight", -1);
	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, r, T0, err, sizeof(err)), 1);
	assert_true(err[0]);
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 0);
	assert_non_null(problem_of(&d, DR_INVALID));
	assert_true(problem_of(&d, DR_INVALID)->blocking);
	dr = desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route");
	assert_non_null(dr); /* ours: its Gateway parent is of the served class */
	assert_int_equal(dr->served_parents, 1);
	assert_false(dr->has_good);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* A missing backend Service: blocking, the frontend keeps its last good spec. */
static void test_missing_service(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *s = ref_load("service-canary.json");
	struct desired_opts o = opts_gw();
	const struct desired_problem *p;
	struct desired d;

	assert_int_equal(cache_delete(c, CACHE_SERVICE, s, T0), 1);
	compute(c, &o, &d);
	p = problem_of(&d, DR_BACKEND_NOT_FOUND);
	assert_non_null(p);
	assert_true(p->blocking);
	assert_non_null(strstr(p->msg, "rules[0].backendRefs[1]: service default/rollouts-demo-canary not found"));
	assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
	desired_free(&d);
	cJSON_Delete(s);
	cache_free(c);
}

/* backendRef of another kind: InvalidKind, blocking. */
static void test_unknown_backend_kind(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;

	set_str(backend_ref(r, 0, 1), "kind", "ServiceImport");
	set_str(backend_ref(r, 0, 1), "group", "multicluster.x-k8s.io");
	set_str(r, "metadata.resourceVersion", "900004");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_INVALID_KIND));
	assert_non_null(strstr(problem_of(&d, DR_INVALID_KIND)->msg, "multicluster.x-k8s.io/ServiceImport"));
	assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* A backendRef port the Service does not have. */
static void test_port_not_found(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;

	set_num(backend_ref(r, 0, 0), "port", 81);
	set_str(r, "metadata.resourceVersion", "900005");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_PORT_NOT_FOUND));
	assert_non_null(strstr(problem_of(&d, DR_PORT_NOT_FOUND)->msg, "has no TCP port 81"));
	assert_true(fe_of(&d, "172.18.255.200:80/tcp")->blocked);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* A weight-0 group needs no endpoints (the canary before it has pods, after promotion). */
static void test_weight0_group_without_endpoints(void **state)
{
	struct cache *c = seed("httproute-steady-state.json");
	cJSON *s = ref_load("endpointslice-canary-30.json");
	struct desired_opts o = opts_gw();
	const struct desired_frontend *f;
	struct desired d;

	cache_delete(c, CACHE_ENDPOINTSLICE, s, T0);
	o.now_ns = T0 + DRAIN; /* the vanished canary endpoint has expired */
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_false(f->blocked);
	assert_int_equal(f->spec.groups[0].weight, 100);
	assert_int_equal(f->spec.groups[1].weight, 0);
	assert_int_equal(f->spec.groups[1].n_backends, 0);
	desired_free(&d);
	cJSON_Delete(s);
	cache_free(c);
}

/* Without --gateway-class the reference route is not ours: no frontend, no problem, no status. */
static void test_gateway_class_not_served(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;

	o.n_gateway_classes = 0;
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 0);
	assert_int_equal(d.n_pr, 0);
	assert_int_equal(d.n_routes, 0);
	desired_free(&d);
	o.gateway_classes[0] = "other";
	o.n_gateway_classes = 1;
	compute(c, &o, &d);
	assert_int_equal(d.n_routes, 0);
	desired_free(&d);
	cache_free(c);
}

/* A Gateway without an address yet: nothing to program, reported for that parent. */
static void test_gateway_without_address(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *g = ref_load("gateway-agentgateway-proxy.json");
	struct desired_opts o = opts_gw();
	const struct desired_problem *p;
	struct desired d;

	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "status"), "addresses");
	set_str(g, "metadata.resourceVersion", "900006");
	put_obj(c, CACHE_GATEWAY, g, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 0);
	p = problem_of(&d, DR_NO_FRONTENDS);
	assert_non_null(p);
	assert_int_equal(p->parent, 0);
	assert_non_null(strstr(p->msg, "has no IP address in status.addresses"));
	assert_int_equal(desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route")->parents_ok, 0);
	desired_free(&d);
	cJSON_Delete(g);
	cache_free(c);
}

/* The frontends annotation names frontends outright, IPv4 and IPv6; backends of each
 * family come from the slices of that family. */
static void test_annotation_dual_stack(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	cJSON *s6 = ref_load("endpointslice-canary-30.json");
	cJSON *addrs;
	struct desired_opts o = opts_gw();
	const struct desired_frontend *f4, *f6;
	const struct desired_problem *p;
	struct desired d;

	o.n_gateway_classes = 0; /* the annotation alone makes the route ours */
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "metadata"), "annotations");
	cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(r, "metadata"), "annotations");
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "metadata"),
								  "annotations"),
				K8S_ANN_FRONTENDS, "10.96.0.10:80/TCP,[fd00::a]:80/TCP");
	set_str(r, "metadata.resourceVersion", "900007");
	put_obj(c, CACHE_HTTPROUTE, r, T0);

	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 2);
	f4 = fe_of(&d, "10.96.0.10:80/tcp");
	assert_false(f4->blocked);
	assert_int_equal(f4->parent, -1);
	assert_int_equal(f4->spec.groups[0].n_backends, 3);
	/* No IPv6 endpoints yet: the IPv6 frontend is blocked and reported. */
	f6 = fe_of(&d, "[fd00::a]:80/tcp");
	assert_true(f6->blocked);
	p = problem_of(&d, DR_NO_ENDPOINTS);
	assert_non_null(p);
	assert_non_null(strstr(p->msg, "no IPv6 endpoints"));
	desired_free(&d);

	/* Add IPv6 slices for both Services. */
	set_str(s6, "addressType", "IPv6");
	set_str(s6, "metadata.name", "rollouts-demo-canary-v6");
	addrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(s6, "endpoints"), 0),
						 "addresses");
	cJSON_ReplaceItemInArray(addrs, 0, cJSON_CreateString("fd00:10:244::f"));
	put_obj(c, CACHE_ENDPOINTSLICE, s6, T0);
	set_str(s6, "metadata.name", "rollouts-demo-stable-v6");
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(s6, "metadata"), "labels");
	cJSON_AddObjectToObject(cJSON_GetObjectItemCaseSensitive(s6, "metadata"), "labels");
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(s6, "metadata"),
								  "labels"),
				K8S_LABEL_SERVICE_NAME, "rollouts-demo-stable");
	cJSON_ReplaceItemInArray(addrs, 0, cJSON_CreateString("fd00:10:244::1"));
	put_obj(c, CACHE_ENDPOINTSLICE, s6, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	f6 = fe_of(&d, "[fd00::a]:80/tcp");
	assert_false(f6->blocked);
	assert_int_equal(f6->spec.groups[0].n_backends, 1);
	assert_backend(&f6->spec.groups[0].backends[0], "[fd00:10:244::1]:8080", BS_BACKEND_READY);
	assert_backend(&f6->spec.groups[1].backends[0], "[fd00:10:244::f]:8080", BS_BACKEND_READY);
	f4 = fe_of(&d, "10.96.0.10:80/tcp");
	assert_int_equal(f4->spec.groups[0].n_backends, 3);
	assert_int_equal(f4->spec.groups[1].n_backends, 1);
	desired_free(&d);
	cJSON_Delete(s6);
	cJSON_Delete(r);
	cache_free(c);
}

/* The Gateway API mesh pattern: a Service parent gives its cluster IP x its ports. */
static void test_service_parent(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	cJSON *svc = ref_load("service-stable.json");
	cJSON *ref = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "spec"), "parentRefs"), 0);
	struct desired_opts o = opts_gw();
	const struct desired_frontend *f;
	struct desired d;

	set_str(svc, "metadata.name", "rollouts-demo");
	set_str(svc, "spec.clusterIP", "10.96.0.50");
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(svc, "spec"), "clusterIPs");
	put_obj(c, CACHE_SERVICE, svc, T0);
	set_str(ref, "group", "");
	set_str(ref, "kind", "Service");
	set_str(ref, "name", "rollouts-demo");
	set_str(ref, "namespace", "default");
	set_str(r, "metadata.resourceVersion", "900008");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	o.n_gateway_classes = 0;
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	assert_int_equal(d.n_fe, 1);
	f = fe_of(&d, "10.96.0.50:80/tcp");
	assert_int_equal(f->parent, 0);
	assert_int_equal(f->spec.groups[0].weight, 70);
	desired_free(&d);

	/* The parent Service disappears: reported, nothing programmed. */
	cache_delete(c, CACHE_SERVICE, svc, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 0);
	assert_non_null(problem_of(&d, DR_PARENT_NOT_FOUND));
	desired_free(&d);
	cJSON_Delete(svc);
	cJSON_Delete(r);
	cache_free(c);
}

/* Two routes naming one frontend: the first by namespace/name keeps it. */
static void test_conflict(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-as-applied-defaulted.json");
	struct desired_opts o = opts_gw();
	const struct desired_problem *p;
	struct desired d;

	set_str(r, "metadata.name", "zz-second-route");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 1);
	assert_string_equal(fe_of(&d, "172.18.255.200:80/tcp")->owner, "default/argo-rollouts-http-route");
	p = problem_of(&d, DR_CONFLICT);
	assert_non_null(p);
	assert_string_equal(p->owner, "default/zz-second-route");
	assert_non_null(strstr(p->msg, "already programmed by httproute default/argo-rollouts-http-route"));
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* Rollouts are linked to their HTTPRoute. */
static void test_rollout_link(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	const struct cache_entry *e;
	struct desired d;

	put(c, CACHE_ROLLOUT, "rollout-paused-step1-weight30.json");
	e = cache_get(c, CACHE_ROLLOUT, "default", "rollouts-demo");
	assert_non_null(e);
	assert_int_equal(e->good.rollout->current_step, 1);
	assert_string_equal(e->good.rollout->phase, "Paused");
	compute(c, &o, &d);
	assert_string_equal(desired_find_route(&d, CACHE_HTTPROUTE, "default/argo-rollouts-http-route")->rollout,
			    "default/rollouts-demo");
	desired_free(&d);
	cache_free(c);
}

/* The info stored beside each frontend for `bpfsplit status`: the route, the Rollout
 * linked to it and that Rollout's status, following the Rollout as it moves. */
static void test_frontend_info(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	const struct desired_frontend *f;
	struct bs_frontend_info zero;
	struct desired d;
	cJSON *ro;

	/* No Rollout yet: the route only, step unknown. */
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_string_equal(f->info.route, "default/argo-rollouts-http-route");
	assert_string_equal(f->info.rollout, "");
	assert_string_equal(f->info.phase, "");
	assert_int_equal(f->info.step, -1);
	assert_int_equal(f->info.n_steps, 0);
	assert_int_equal(f->info.paused, 0);
	assert_int_equal(f->info.updated_unix_ns, 0);
	desired_free(&d);

	/* Paused at step 1 of 6, 30% canary. */
	put(c, CACHE_ROLLOUT, "rollout-paused-step1-weight30.json");
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_string_equal(f->info.route, "default/argo-rollouts-http-route");
	assert_string_equal(f->info.rollout, "default/rollouts-demo");
	assert_int_equal(f->info.step, 1);
	assert_int_equal(f->info.n_steps, 6);
	assert_string_equal(f->info.phase, "Paused");
	assert_int_equal(f->info.paused, 1);
	assert_int_equal(f->info.aborted, 0);
	assert_int_equal(f->info.rollout_canary_weight, 30);
	/* Zero-filled beyond the strings: equal content compares equal byte for byte. */
	memset(&zero, 0, sizeof(zero));
	assert_memory_equal(f->info.pad, zero.pad, sizeof(zero.pad));
	assert_true(memchr(f->info.phase, '\0', sizeof(f->info.phase)) != NULL);
	for (size_t i = strlen(f->info.phase); i < sizeof(f->info.phase); i++)
		assert_int_equal(f->info.phase[i], 0);
	desired_free(&d);

	/* Argo moves on: step 3, no longer paused, 60%. */
	ro = ref_load("rollout-paused-step1-weight30.json");
	{
		cJSON *st = cJSON_GetObjectItemCaseSensitive(ro, "status");

		set_num(st, "currentStepIndex", 3);
		set_str(ro, "status.phase", "Progressing");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "pauseConditions");
		cJSON_DeleteItemFromObjectCaseSensitive(st, "controllerPause");
		set_num(cJSON_GetObjectItemCaseSensitive(
				cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "canary"), "weights"),
				"canary"),
			"weight", 60);
	}
	set_str(ro, "metadata.resourceVersion", "900020");
	put_obj(c, CACHE_ROLLOUT, ro, T0);
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_int_equal(f->info.step, 3);
	assert_int_equal(f->info.n_steps, 6);
	assert_string_equal(f->info.phase, "Progressing");
	assert_int_equal(f->info.paused, 0);
	assert_int_equal(f->info.rollout_canary_weight, 60);
	desired_free(&d);
	cJSON_Delete(ro);

	/* Aborted. */
	put(c, CACHE_ROLLOUT, "rollout-aborted.json");
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_string_equal(f->info.rollout, "default/rollouts-demo");
	assert_int_equal(f->info.step, 0);
	assert_string_equal(f->info.phase, "Degraded");
	assert_int_equal(f->info.aborted, 1);
	assert_int_equal(f->info.rollout_canary_weight, 0);
	desired_free(&d);
	cache_free(c);
}

/* --weights-from=rollout: the Rollout's status.canary.weights split the frontend its
 * annotation names. */
static void test_weights_from_rollout(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *ro = ref_load("rollout-paused-step1-weight30.json");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(ro, "metadata");
	struct desired_opts o = opts_gw();
	const struct desired_frontend *f;
	struct desired d;

	o.weights_from = WEIGHTS_FROM_ROLLOUT;
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(md, "annotations"), K8S_ANN_FRONTENDS,
				"10.96.183.41:80/TCP");
	put_obj(c, CACHE_ROLLOUT, ro, T0);
	compute(c, &o, &d);
	assert_int_equal(d.n_pr, 0);
	assert_int_equal(d.n_routes, 0); /* routes are not read in this mode */
	assert_int_equal(d.n_fe, 1);
	f = fe_of(&d, "10.96.183.41:80/tcp");
	assert_int_equal(f->owner_kind, CACHE_ROLLOUT);
	assert_string_equal(f->owner, "default/rollouts-demo");
	assert_int_equal(f->spec.n_groups, 2);
	assert_string_equal(f->spec.groups[0].name, "default/rollouts-demo-stable");
	assert_int_equal(f->spec.groups[0].weight, 70);
	assert_int_equal(f->spec.groups[0].n_backends, 3);
	assert_string_equal(f->spec.groups[1].name, "default/rollouts-demo-canary");
	assert_int_equal(f->spec.groups[1].weight, 30);
	assert_int_equal(f->spec.groups[1].n_backends, 1);
	/* The split comes from the Rollout: no route in its info. */
	assert_string_equal(f->info.route, "");
	assert_string_equal(f->info.rollout, "default/rollouts-demo");
	assert_int_equal(f->info.step, 1);
	assert_int_equal(f->info.n_steps, 6);
	assert_string_equal(f->info.phase, "Paused");
	desired_free(&d);

	/* No weights written yet: blocking problem. */
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(ro, "status"), "canary");
	set_str(ro, "metadata.resourceVersion", "900009");
	put_obj(c, CACHE_ROLLOUT, ro, T0);
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_WEIGHTS_MISSING));
	assert_true(fe_of(&d, "10.96.183.41:80/tcp")->blocked);
	desired_free(&d);
	cJSON_Delete(ro);
	cache_free(c);
}

/* The affinity annotation and the agent default. */
static void test_affinity(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	cJSON *r = ref_load("httproute-canary-30.json");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(r, "metadata");
	struct desired_opts o = opts_gw();
	struct desired d;

	o.default_affinity = BS_AFFINITY_CLIENT;
	compute(c, &o, &d);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.affinity, BS_AFFINITY_CLIENT);
	desired_free(&d);
	cJSON_AddItemToObject(md, "annotations", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(md, "annotations"), K8S_ANN_AFFINITY, "connection");
	set_str(r, "metadata.resourceVersion", "900012");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	assert_int_equal(fe_of(&d, "172.18.255.200:80/tcp")->spec.affinity, BS_AFFINITY_CONNECTION);
	desired_free(&d);
	cJSON_Delete(r);
	cache_free(c);
}

/* Unchanged resourceVersion: the cache says nothing changed (relists are cheap). */
static void test_cache_unchanged_and_kinds(void **state)
{
	struct cache *c = cache_new();
	cJSON *r = ref_load("httproute-canary-30.json");
	cJSON *l = ref_load("endpointslice-list.json");
	const cJSON *it;
	char err[256];
	uint64_t v;

	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, r, T0, err, sizeof(err)), 1);
	v = c->version;
	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, r, T0, err, sizeof(err)), 0);
	assert_int_equal(c->version, v);
	/* A Service sent where a route is expected is refused by kind. */
	cJSON *s = ref_load("service-stable.json");
	assert_int_equal(cache_upsert(c, CACHE_HTTPROUTE, s, T0, err, sizeof(err)), 0);
	assert_non_null(strstr(err, "want HTTPRoute"));
	/* List items of built-in kinds carry no kind: accepted. */
	cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(l, "items"))
		assert_int_equal(cache_upsert(c, CACHE_ENDPOINTSLICE, it, T0, err, sizeof(err)), 1);
	assert_int_equal(cache_count(c, CACHE_ENDPOINTSLICE), 2);
	assert_non_null(cache_svc_eps(c, "default", "rollouts-demo-stable"));
	assert_string_equal(cache_kind_name(CACHE_ENDPOINTSLICE), "endpointslice");
	cJSON_Delete(s);
	cJSON_Delete(l);
	cJSON_Delete(r);
	cache_free(c);
}

/* ---- incremental update ---- */

/* Route "default/mesh-i" whose parent is Service fe-i (cluster IP 10.96.1.i) and whose
 * backends are the seed's stable / canary Services at weights w / 100 - w. */
static void put_mesh(struct cache *c, int i, int parent_svc, int w, const char *rv)
{
	cJSON *r = ref_load("httproute-canary-30.json");
	cJSON *svc = ref_load("service-stable.json");
	cJSON *ref = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "spec"), "parentRefs"), 0);
	char name[64], ip[32];

	snprintf(name, sizeof(name), "fe-%d", i);
	snprintf(ip, sizeof(ip), "10.96.1.%d", i);
	set_str(svc, "metadata.name", name);
	set_str(svc, "metadata.resourceVersion", rv);
	set_str(svc, "spec.clusterIP", ip);
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(svc, "spec"), "clusterIPs");
	put_obj(c, CACHE_SERVICE, svc, T0);
	snprintf(name, sizeof(name), "fe-%d", parent_svc);
	set_str(ref, "group", "");
	set_str(ref, "kind", "Service");
	set_str(ref, "name", name);
	set_str(ref, "namespace", "default");
	snprintf(name, sizeof(name), "mesh-%d", i);
	set_str(r, "metadata.name", name);
	set_str(r, "metadata.resourceVersion", rv);
	set_num(backend_ref(r, 0, 0), "weight", w);
	set_num(backend_ref(r, 0, 1), "weight", 100 - w);
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	cJSON_Delete(svc);
	cJSON_Delete(r);
}

/* a (updated incrementally) holds what b (computed whole) holds, in any order. */
static void assert_same_desired(const struct desired *a, const struct desired *b)
{
	assert_int_equal(a->n_fe, b->n_fe);
	assert_int_equal(a->n_pr, b->n_pr);
	assert_int_equal(a->n_routes, b->n_routes);
	for (size_t i = 0; i < b->n_fe; i++) {
		const struct desired_frontend *x = desired_find_frontend(a, &b->fe[i].spec.key);

		assert_non_null(x);
		assert_string_equal(x->owner, b->fe[i].owner);
		assert_int_equal(x->blocked, b->fe[i].blocked);
		assert_int_equal(x->parent, b->fe[i].parent);
		assert_true(x->blocked || dp_spec_equal(&x->spec, &b->fe[i].spec));
		assert_memory_equal(&x->info, &b->fe[i].info, sizeof(x->info));
	}
	for (size_t i = 0; i < b->n_routes; i++) {
		const struct desired_route *x = desired_find_route(a, CACHE_HTTPROUTE, b->routes[i].key);

		assert_non_null(x);
		assert_memory_equal(x, &b->routes[i], sizeof(*x));
	}
	for (size_t i = 0; i < b->n_pr; i++) {
		bool found = false;

		for (size_t j = 0; j < a->n_pr && !found; j++)
			found = !memcmp(&a->pr[j], &b->pr[i], sizeof(a->pr[j]));
		assert_true(found);
	}
}

static void test_incremental_update(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d, full;
	const char *k1[] = { "default/mesh-1" }, *k2[] = { "default/mesh-2", "default/mesh-4" },
		   *k3[] = { "default/mesh-3" };

	for (int i = 0; i < 6; i++)
		put_mesh(c, i, i, 70, "1");
	compute(c, &o, &d);
	assert_int_equal(d.n_fe, 7); /* six mesh routes and the seed's Gateway route */

	/* A weight change: only that route is recomputed; the rest stays. */
	put_mesh(c, 1, 1, 20, "2");
	assert_int_equal(desired_update(c, &o, &d, k1, 1), 0);
	compute(c, &o, &full);
	assert_same_desired(&d, &full);
	assert_int_equal(fe_of(&d, "10.96.1.1:80/tcp")->spec.groups[0].weight, 20);
	desired_free(&full);

	/* A route deleted, another whose backend Service is gone (blocked, with a problem). */
	{
		cJSON *r = ref_load("httproute-canary-30.json");

		set_str(r, "metadata.name", "mesh-2");
		cache_delete(c, CACHE_HTTPROUTE, r, T0);
		cJSON_Delete(r);
	}
	put_mesh(c, 4, 4, 50, "3");
	{
		cJSON *r = ref_load("httproute-canary-30.json");
		cJSON *ref = cJSON_GetArrayItem(
			cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(r, "spec"), "parentRefs"), 0);

		set_str(ref, "group", "");
		set_str(ref, "kind", "Service");
		set_str(ref, "name", "fe-4");
		set_str(ref, "namespace", "default");
		set_str(r, "metadata.name", "mesh-4");
		set_str(r, "metadata.resourceVersion", "4");
		set_str(backend_ref(r, 0, 1), "name", "no-such-service");
		put_obj(c, CACHE_HTTPROUTE, r, T0);
		cJSON_Delete(r);
	}
	assert_int_equal(desired_update(c, &o, &d, k2, 2), 0);
	compute(c, &o, &full);
	assert_same_desired(&d, &full);
	assert_true(fe_of(&d, "10.96.1.4:80/tcp")->blocked);
	assert_non_null(problem_of(&d, DR_BACKEND_NOT_FOUND));
	desired_free(&full);

	/* mesh-3 now claims mesh-0's frontend: who wins depends on both, so no incremental
	 * answer (d untouched); the whole computation reports the conflict. */
	put_mesh(c, 3, 0, 70, "5");
	assert_int_equal(desired_update(c, &o, &d, k3, 1), 1);
	assert_int_equal(fe_of(&d, "10.96.1.3:80/tcp")->spec.groups[0].weight, 70);
	desired_free(&d);
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_CONFLICT));
	/* ... and while a conflict stands, every update is a whole one. */
	assert_int_equal(desired_update(c, &o, &d, k1, 1), 1);
	desired_free(&d);

	/* Rollout mode: never incremental. */
	o.weights_from = WEIGHTS_FROM_ROLLOUT;
	compute(c, &o, &d);
	assert_int_equal(desired_update(c, &o, &d, k1, 1), 1);
	desired_free(&d);
	cache_free(c);
}

/* The seed route as another route: name, creation time, resourceVersion. */
static void put_route_copy(struct cache *c, const char *ns, const char *name, const char *created, const char *rv)
{
	cJSON *r = ref_load("httproute-canary-30.json");

	set_str(r, "metadata.namespace", ns);
	set_str(r, "metadata.name", name);
	set_str(r, "metadata.creationTimestamp", created);
	set_str(r, "metadata.resourceVersion", rv);
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	cJSON_Delete(r);
}

/* Two routes on one listener: the oldest keeps the frontend, then namespace/name; an
 * incremental update cannot decide it (the whole computation does). */
static void test_precedence_by_creation_time(void **state)
{
	struct cache *c = seed("httproute-canary-30.json"); /* created 2026-09-01T09:00:03Z */
	struct desired_opts o = opts_gw();
	struct desired d;
	const char *k[] = { "default/zzz-old" };
	const struct desired_problem *p;

	put_route_copy(c, "default", "aaa-new", "2026-10-01T00:00:00Z", "9");
	compute(c, &o, &d);
	assert_string_equal(fe_of(&d, "172.18.255.200:80/tcp")->owner, "default/argo-rollouts-http-route");
	p = problem_of(&d, DR_CONFLICT);
	assert_non_null(p);
	assert_string_equal(p->owner, "default/aaa-new");
	put_route_copy(c, "default", "zzz-old", "2026-08-01T00:00:00Z", "10");
	assert_int_equal(desired_update(c, &o, &d, k, 1), 1);
	desired_free(&d);
	compute(c, &o, &d);
	assert_string_equal(fe_of(&d, "172.18.255.200:80/tcp")->owner, "default/zzz-old");
	/* same age as the seed route: namespace/name decides */
	put_route_copy(c, "default", "zzz-old", "2026-09-01T09:00:03Z", "11");
	desired_free(&d);
	compute(c, &o, &d);
	assert_string_equal(fe_of(&d, "172.18.255.200:80/tcp")->owner, "default/argo-rollouts-http-route");
	desired_free(&d);
	cache_free(c);
}

/* A backendRef to another namespace: refused share without a ReferenceGrant there, served
 * with one. */
static void test_reference_grant(void **state)
{
	struct cache *c = cache_new();
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_frontend *f;
	cJSON *r = ref_load("httproute-canary-30.json"), *g;

	put(c, CACHE_GATEWAY, "gateway-agentgateway-proxy.json");
	put(c, CACHE_SERVICE, "service-stable.json");
	put(c, CACHE_SERVICE, "service-canary.json");
	put(c, CACHE_ENDPOINTSLICE, "endpointslice-stable.json");
	put(c, CACHE_ENDPOINTSLICE, "endpointslice-canary-30.json");
	set_str(r, "metadata.namespace", "apps");
	set_str(backend_ref(r, 0, 0), "namespace", "default");
	set_str(backend_ref(r, 0, 1), "namespace", "default");
	put_obj(c, CACHE_HTTPROUTE, r, T0);
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_false(f->blocked);
	assert_int_equal(f->spec.n_groups, 2);
	assert_int_equal(f->spec.groups[0].weight, 70);
	assert_int_equal(f->spec.groups[0].n_backends, 0);
	assert_int_equal(f->spec.groups[1].n_backends, 0);
	assert_non_null(problem_of(&d, DR_REF_NOT_PERMITTED));
	desired_free(&d);

	g = cJSON_Parse("{\"kind\":\"ReferenceGrant\",\"metadata\":{\"name\":\"g\",\"namespace\":\"default\","
			"\"resourceVersion\":\"1\"},\"spec\":{\"from\":[{\"group\":\"gateway.networking.k8s.io\","
			"\"kind\":\"HTTPRoute\",\"namespace\":\"apps\"}],\"to\":[{\"group\":\"\",\"kind\":\"Service\","
			"\"name\":\"rollouts-demo-stable\"}]}}");
	put_obj(c, CACHE_REFERENCEGRANT, g, T0);
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_int_equal(f->spec.groups[0].n_backends, 3); /* granted by name */
	assert_int_equal(f->spec.groups[1].n_backends, 0); /* not this one */
	desired_free(&d);
	cJSON_Delete(g);
	cJSON_Delete(r);
	cache_free(c);
}

/* A Service's slice empties: its last ready endpoints take new connections for the grace,
 * then the share is refused; ready endpoints end the grace. */
static void test_endpoint_grace(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	struct desired_opts o = opts_gw();
	struct desired d;
	const struct desired_frontend *f;
	cJSON *s = ref_load("endpointslice-stable.json");

	o.endpoint_grace_ns = 5 * SEC;
	cJSON_ReplaceItemInObjectCaseSensitive(s, "endpoints", cJSON_CreateArray());
	set_str(s, "metadata.resourceVersion", "77");
	put_obj(c, CACHE_ENDPOINTSLICE, s, T0 + SEC);
	o.now_ns = T0 + 2 * SEC;
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_int_equal(f->spec.groups[0].n_backends, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->spec.groups[0].backends[i].state, BS_BACKEND_READY);
	assert_non_null(problem_of(&d, DR_ENDPOINT_GRACE));
	assert_null(problem_of(&d, DR_NO_READY_ENDPOINTS));
	desired_free(&d);
	assert_int_equal(cache_next_grace_end(c, o.endpoint_grace_ns, 0), T0 + 6 * SEC);

	o.now_ns = T0 + 6 * SEC; /* the grace is over: drained, refused */
	compute(c, &o, &d);
	f = fe_of(&d, "172.18.255.200:80/tcp");
	assert_int_equal(f->spec.groups[0].n_backends, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(f->spec.groups[0].backends[i].state, BS_BACKEND_DRAINING);
	assert_null(problem_of(&d, DR_ENDPOINT_GRACE));
	assert_non_null(problem_of(&d, DR_NO_READY_ENDPOINTS));
	desired_free(&d);

	o.endpoint_grace_ns = 0; /* disabled */
	o.now_ns = T0 + 2 * SEC;
	compute(c, &o, &d);
	assert_non_null(problem_of(&d, DR_NO_READY_ENDPOINTS));
	desired_free(&d);
	cJSON_Delete(s);
	cache_free(c);
}

/* Which routes an object change touches: Service parents and backends, Gateway parents. */
static void test_route_depends(void **state)
{
	struct cache *c = seed("httproute-canary-30.json");
	const struct cache_entry *gw_route, *mesh;

	put_mesh(c, 1, 1, 70, "1");
	gw_route = cache_get(c, CACHE_HTTPROUTE, "default", "argo-rollouts-http-route");
	mesh = cache_get(c, CACHE_HTTPROUTE, "default", "mesh-1");
	assert_non_null(gw_route);
	assert_non_null(mesh);
	assert_true(desired_route_depends(mesh, CACHE_SERVICE, "default", "fe-1"));
	assert_true(desired_route_depends(mesh, CACHE_SERVICE, "default", "rollouts-demo-stable"));
	assert_true(desired_route_depends(mesh, CACHE_SERVICE, "default", "rollouts-demo-canary"));
	assert_false(desired_route_depends(mesh, CACHE_SERVICE, "default", "fe-2"));
	assert_false(desired_route_depends(mesh, CACHE_SERVICE, "other", "fe-1"));
	assert_false(desired_route_depends(mesh, CACHE_GATEWAY, "kgateway-system", "agentgateway-proxy"));
	assert_true(desired_route_depends(gw_route, CACHE_GATEWAY, "kgateway-system", "agentgateway-proxy"));
	assert_false(desired_route_depends(gw_route, CACHE_GATEWAY, "default", "agentgateway-proxy"));
	assert_true(desired_route_depends(gw_route, CACHE_SERVICE, "default", "rollouts-demo-stable"));
	assert_false(desired_route_depends(gw_route, CACHE_SERVICE, "default", "fe-1"));
	cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canary30),
		cmocka_unit_test(test_defaulted),
		cmocka_unit_test(test_weight_absent_defaults_to_1),
		cmocka_unit_test(test_header_route),
		cmocka_unit_test(test_only_l7_rule),
		cmocka_unit_test(test_terminating_is_draining),
		cmocka_unit_test(test_more_ready_than_the_data_path_holds),
		cmocka_unit_test(test_vanished_endpoints_drain_then_go),
		cmocka_unit_test(test_vanished_endpoint_returns),
		cmocka_unit_test(test_slice_deleted_and_relist),
		cmocka_unit_test(test_weight_out_of_range_keeps_last_good),
		cmocka_unit_test(test_invalid_route_without_good_version),
		cmocka_unit_test(test_missing_service),
		cmocka_unit_test(test_unknown_backend_kind),
		cmocka_unit_test(test_port_not_found),
		cmocka_unit_test(test_weight0_group_without_endpoints),
		cmocka_unit_test(test_gateway_class_not_served),
		cmocka_unit_test(test_gateway_without_address),
		cmocka_unit_test(test_precedence_by_creation_time),
		cmocka_unit_test(test_reference_grant),
		cmocka_unit_test(test_endpoint_grace),
		cmocka_unit_test(test_annotation_dual_stack),
		cmocka_unit_test(test_service_parent),
		cmocka_unit_test(test_conflict),
		cmocka_unit_test(test_rollout_link),
		cmocka_unit_test(test_frontend_info),
		cmocka_unit_test(test_weights_from_rollout),
		cmocka_unit_test(test_affinity),
		cmocka_unit_test(test_cache_unchanged_and_kinds),
		cmocka_unit_test(test_incremental_update),
		cmocka_unit_test(test_route_depends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
