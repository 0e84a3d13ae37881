// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/route_status.c: the conditions of bpfsplit's status.parents entry
 * and the merge patch that writes it while keeping other controllers' entries.
 * Reference objects from $BPFSPLIT_K8S_REFERENCE (default tests/fixtures/k8s). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "desired.h"
#include "route_status.h"

#include "reference.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)
#define ROUTE_NS "default"
#define ROUTE_NAME "argo-rollouts-http-route"
#define NOW "2026-09-01T10:00:00Z"
#define LATER "2026-09-01T11:00:00Z"

static void put_obj(struct cache *c, enum cache_kind k, const cJSON *obj)
{
	char err[512];

	cache_upsert(c, k, obj, T0, err, sizeof(err));
}

static void put(struct cache *c, enum cache_kind k, const char *file)
{
	cJSON *j = ref_load(file);

	put_obj(c, k, j);
	cJSON_Delete(j);
}

static void set_rv(cJSON *o, const char *rv)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");

	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	cJSON_AddStringToObject(md, "resourceVersion", rv);
}

static void set_num(cJSON *o, const char *key, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddNumberToObject(o, key, v);
}

static cJSON *backend_ref(cJSON *route, int k)
{
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(route, "spec"), "rules");

	return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rules, 0), "backendRefs"), k);
}

struct fx {
	struct cache *c;
	struct desired_opts o;
	struct desired d;
	char *patch;
	cJSON *pj;      /* patch parsed */
	cJSON *route;   /* the route as "the server" holds it */
	bool not_in_maps; /* the maps hold none of the desired frontends (a pass did not write them) */
};

static struct fx *fx_new(const char *route_file)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->c = cache_new();
	f->route = ref_load(route_file);
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	put(f->c, CACHE_GATEWAY, "gateway-agentgateway-proxy.json");
	put(f->c, CACHE_SERVICE, "service-stable.json");
	put(f->c, CACHE_SERVICE, "service-canary.json");
	put(f->c, CACHE_ENDPOINTSLICE, "endpointslice-stable.json");
	put(f->c, CACHE_ENDPOINTSLICE, "endpointslice-canary-30.json");
	f->o.gateway_classes[0] = "agentgateway";
	f->o.n_gateway_classes = 1;
	f->o.now_ns = T0;
	f->o.drain_timeout_ns = 300 * SEC;
	return f;
}

/* Compute desired and the patch for the route; returns the patch (NULL when none). */
static const char *fx_patch(struct fx *f, const char *now)
{
	const struct cache_entry *e = cache_get(f->c, CACHE_HTTPROUTE, ROUTE_NS, ROUTE_NAME);

	free(f->patch);
	f->patch = NULL;
	cJSON_Delete(f->pj);
	f->pj = NULL;
	desired_free(&f->d);
	assert_non_null(e);
	assert_int_equal(desired_compute(f->c, &f->o, &f->d), 0);
	for (size_t i = 0; i < f->d.n_fe; i++) /* as the loop marks them after a pass */
		f->d.fe[i].in_maps = !f->not_in_maps;
	assert_int_equal(route_status_patch(e, &f->d, desired_find_route(&f->d, CACHE_HTTPROUTE, e->key), ROUTE_STATUS_CONTROLLER, now,
					    &f->patch),
			 0);
	if (f->patch) {
		f->pj = cJSON_Parse(f->patch);
		assert_non_null(f->pj);
	}
	return f->patch;
}

/* Play the API server: merge the patch's status.parents into the route (a list is
 * replaced whole), bump the resourceVersion, and feed the result to the cache. */
static void fx_apply_patch(struct fx *f, const char *new_rv)
{
	cJSON *st = cJSON_GetObjectItemCaseSensitive(f->route, "status");
	cJSON *parents = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f->pj, "status"), "parents");

	assert_non_null(parents);
	cJSON_DeleteItemFromObjectCaseSensitive(st, "parents");
	cJSON_AddItemToObject(st, "parents", cJSON_Duplicate(parents, 1));
	set_rv(f->route, new_rv);
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
}

static void fx_free(struct fx *f)
{
	desired_free(&f->d);
	free(f->patch);
	cJSON_Delete(f->pj);
	cJSON_Delete(f->route);
	cache_free(f->c);
	free(f);
}

static const cJSON *parents_of(const cJSON *pj)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(pj, "status"), "parents");
}

static const char *s_of(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "";
}

/* Our entry in the patch. */
static const cJSON *ours(const cJSON *pj)
{
	const cJSON *e, *found = NULL;
	int n = 0;

	cJSON_ArrayForEach(e, parents_of(pj)) {
		if (!strcmp(s_of(e, "controllerName"), ROUTE_STATUS_CONTROLLER)) {
			found = e;
			n++;
		}
	}
	assert_int_equal(n, 1);
	return found;
}

static const cJSON *cond(const cJSON *entry, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(entry, "conditions"))
		if (!strcmp(s_of(c, "type"), type))
			return c;
	return NULL;
}

static void assert_cond(const cJSON *entry, const char *type, const char *status, const char *reason)
{
	const cJSON *c = cond(entry, type);

	if (!c)
		fail_msg("no condition %s", type);
	assert_string_equal(s_of(c, "status"), status);
	assert_string_equal(s_of(c, "reason"), reason);
}

/* ---- tests ---- */

static void test_accepted_keeps_other_entries(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	const cJSON *p0, *e, *ref, *c;

	assert_non_null(fx_patch(f, NOW));
	/* The resourceVersion makes the patch conditional. */
	assert_string_equal(s_of(cJSON_GetObjectItemCaseSensitive(f->pj, "metadata"), "resourceVersion"), "184511");
	assert_int_equal(cJSON_GetArraySize(parents_of(f->pj)), 2);
	/* kgateway's entry first, verbatim. */
	p0 = cJSON_GetArrayItem(parents_of(f->pj), 0);
	assert_true(cJSON_Compare(p0,
				  cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(
							     cJSON_GetObjectItemCaseSensitive(f->route, "status"), "parents"),
						     0),
				  1));
	e = ours(f->pj);
	ref = cJSON_GetObjectItemCaseSensitive(e, "parentRef");
	assert_string_equal(s_of(ref, "kind"), "Gateway");
	assert_string_equal(s_of(ref, "name"), "agentgateway-proxy");
	assert_string_equal(s_of(ref, "namespace"), "kgateway-system");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "conditions")), 2);
	assert_cond(e, "Accepted", "True", "Accepted");
	assert_cond(e, "ResolvedRefs", "True", "ResolvedRefs");
	c = cond(e, "Accepted");
	assert_string_equal(s_of(c, "message"), "rules[0] programmed at L4 on 172.18.255.200:80/tcp");
	assert_string_equal(s_of(c, "lastTransitionTime"), NOW);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(c, "observedGeneration")->valueint, 3);
	assert_null(cond(e, "PartiallyInvalid"));

	/* Once written, the same state gives no patch: no write loop. */
	fx_apply_patch(f, "184600");
	assert_null(fx_patch(f, LATER));
	fx_free(f);
}

/* A new generation changes observedGeneration, but lastTransitionTime only moves with status. */
static void test_transition_time_kept(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(f->route, "metadata");
	const cJSON *e;

	assert_non_null(fx_patch(f, NOW));
	fx_apply_patch(f, "184600");
	set_num(md, "generation", 4);
	set_num(backend_ref(f->route, 1), "weight", 60);
	set_rv(f->route, "184601");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	assert_non_null(fx_patch(f, LATER));
	e = ours(f->pj);
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(cond(e, "Accepted"), "observedGeneration")->valueint, 4);
	assert_string_equal(s_of(cond(e, "Accepted"), "lastTransitionTime"), NOW);

	/* Now a missing Service: ResolvedRefs flips, with a new time. */
	{
		cJSON *svc = ref_load("service-canary.json");

		fx_apply_patch(f, "184602");
		cache_delete(f->c, CACHE_SERVICE, svc, T0);
		assert_non_null(fx_patch(f, LATER));
		e = ours(f->pj);
		assert_cond(e, "ResolvedRefs", "False", "BackendNotFound");
		assert_string_equal(s_of(cond(e, "ResolvedRefs"), "lastTransitionTime"), LATER);
		assert_string_equal(s_of(cond(e, "ResolvedRefs"), "message"),
				    "rules[0].backendRefs[1]: service default/rollouts-demo-canary not found; the last "
				    "good split stays in force");
		assert_string_equal(s_of(cond(e, "Accepted"), "lastTransitionTime"), NOW);
		assert_string_equal(s_of(cond(e, "Accepted"), "message"),
				    "rules[0] programmed at L4 on 172.18.255.200:80/tcp (last good split kept)");
		cJSON_Delete(svc);
	}
	fx_free(f);
}

static void test_header_route_partially_invalid(void **state)
{
	struct fx *f = fx_new("httproute-canary-30-with-header-route.json");
	const cJSON *e;

	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "True", "Accepted");
	assert_cond(e, "ResolvedRefs", "True", "ResolvedRefs");
	assert_cond(e, "PartiallyInvalid", "True", "UnsupportedValue");
	assert_string_equal(s_of(cond(e, "PartiallyInvalid"), "message"),
			    "Dropped Rule(s): rules[1] (canary-header-route): header matches cannot be honoured at L4; "
			    "rule skipped");
	fx_free(f);
}

/* A blocked frontend the maps do not hold (no good split ever written) is not claimed. */
static void test_claims_only_frontends_in_maps(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *svc = ref_load("service-canary.json");
	const cJSON *e;

	cache_delete(f->c, CACHE_SERVICE, svc, T0);
	f->not_in_maps = true;
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "True", "Accepted");
	assert_null(strstr(s_of(cond(e, "Accepted"), "message"), "programmed at L4 on"));
	assert_non_null(strstr(s_of(cond(e, "Accepted"), "message"), "1 frontend not programmed"));
	assert_cond(e, "ResolvedRefs", "False", "BackendNotFound");
	assert_null(strstr(s_of(cond(e, "ResolvedRefs"), "message"), "last good"));
	cJSON_Delete(svc);
	fx_free(f);
}

static void test_weight_out_of_range(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	const cJSON *e;

	set_num(backend_ref(f->route, 1), "weight", 1000001);
	set_num(cJSON_GetObjectItemCaseSensitive(f->route, "metadata"), "generation", 4);
	set_rv(f->route, "184700");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "False", "UnsupportedValue");
	assert_non_null(strstr(s_of(cond(e, "Accepted"), "message"), "1000001 out of range 0..1000000"));
	assert_non_null(strstr(s_of(cond(e, "Accepted"), "message"), "generation 3 stays in force"));
	assert_int_equal(cJSON_GetObjectItemCaseSensitive(cond(e, "Accepted"), "observedGeneration")->valueint, 4);
	assert_cond(e, "ResolvedRefs", "True", "ResolvedRefs");
	fx_free(f);
}

static void test_invalid_kind_and_no_endpoints(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *slice = ref_load("endpointslice-canary-30.json");
	const cJSON *e;

	/* The canary slice goes and the drain timeout passes: NoEndpoints. */
	cache_delete(f->c, CACHE_ENDPOINTSLICE, slice, T0);
	f->o.now_ns = T0 + 300 * SEC;
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "ResolvedRefs", "False", "NoEndpoints");
	assert_cond(e, "Accepted", "True", "Accepted");

	cJSON_DeleteItemFromObjectCaseSensitive(backend_ref(f->route, 0), "kind");
	cJSON_AddStringToObject(backend_ref(f->route, 0), "kind", "Pod");
	set_rv(f->route, "184800");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "ResolvedRefs", "False", "InvalidKind");
	cJSON_Delete(slice);
	fx_free(f);
}

/* More ready endpoints than the data path holds in a group: a route problem in the
 * status (ResolvedRefs false, the library's message), not an Accepted route whose writes
 * keep failing. */
static void test_more_than_the_data_path_holds(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *slice = ref_load("endpointslice-stable.json");
	cJSON *eps = cJSON_GetObjectItemCaseSensitive(slice, "endpoints"), *first = cJSON_GetArrayItem(eps, 0);
	const cJSON *e, *c;
	char want[64];

	for (int i = 1; i <= BS_MAX_READY_PER_GROUP; i++) {
		cJSON *ep = cJSON_Duplicate(first, 1);
		char a[32];

		snprintf(a, sizeof(a), "10.245.%d.%d", i / 200, 1 + i % 200);
		cJSON_ReplaceItemInArray(cJSON_GetObjectItemCaseSensitive(ep, "addresses"), 0, cJSON_CreateString(a));
		cJSON_DeleteItemFromObjectCaseSensitive(ep, "targetRef");
		cJSON_AddItemToArray(eps, ep);
	}
	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(slice, "metadata"), "resourceVersion");
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(slice, "metadata"), "resourceVersion", "999002");
	put_obj(f->c, CACHE_ENDPOINTSLICE, slice);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "ResolvedRefs", "False", "UnsupportedValue");
	c = cond(e, "ResolvedRefs");
	snprintf(want, sizeof(want), "ready backends, at most %d per group", BS_MAX_READY_PER_GROUP);
	assert_non_null(strstr(s_of(c, "message"), want));
	cJSON_Delete(slice);
	fx_free(f);
}

static void test_gateway_without_address(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *g = ref_load("gateway-agentgateway-proxy.json");
	const cJSON *e;

	cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "status"), "addresses");
	set_rv(g, "999");
	put_obj(f->c, CACHE_GATEWAY, g);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "False", "NoMatchingParent");
	assert_non_null(strstr(s_of(cond(e, "Accepted"), "message"), "has no IP address"));
	cJSON_Delete(g);
	fx_free(f);
}

/* The listener's hostname matches none of the route's; then allowedRoutes refuses the
 * namespace: Accepted=False with the spec's reasons. */
static void test_listener_reasons(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *g = ref_load("gateway-agentgateway-proxy.json");
	cJSON *li = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "spec"), "listeners"), 0);
	cJSON *hosts = cJSON_CreateArray();
	const cJSON *e;

	cJSON_AddItemToArray(hosts, cJSON_CreateString("shop.example.org"));
	cJSON_AddItemToObject(cJSON_GetObjectItemCaseSensitive(f->route, "spec"), "hostnames", hosts);
	set_rv(f->route, "184800");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	cJSON_AddStringToObject(li, "hostname", "*.example.com");
	set_rv(g, "998");
	put_obj(f->c, CACHE_GATEWAY, g);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "False", "NoMatchingListenerHostname");
	assert_string_equal(s_of(cond(e, "Accepted"), "message"),
			    "parentRefs[0]: gateway kgateway-system/agentgateway-proxy: listener http hostname "
			    "*.example.com matches none of the route's hostnames");

	cJSON_DeleteItemFromObjectCaseSensitive(li, "allowedRoutes"); /* from: Same by default */
	set_rv(g, "997");
	put_obj(f->c, CACHE_GATEWAY, g);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "False", "NotAllowedByListeners");
	assert_non_null(strstr(s_of(cond(e, "Accepted"), "message"), "from: Same"));
	cJSON_Delete(g);
	fx_free(f);
}

/* Timeouts and a mirror filter on the weighted rule: programmed, and listed in a
 * condition of their own. */
static void test_l7_details_condition(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	cJSON *rule = cJSON_GetArrayItem(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(f->route, "spec"), "rules"), 0);
	const cJSON *e;

	cJSON_AddItemToObject(rule, "timeouts", cJSON_Parse("{\"request\":\"10s\"}"));
	cJSON_AddItemToObject(rule, "filters", cJSON_Parse("[{\"type\":\"RequestMirror\"}]"));
	set_rv(f->route, "184900");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	assert_non_null(fx_patch(f, NOW));
	e = ours(f->pj);
	assert_cond(e, "Accepted", "True", "Accepted");
	assert_cond(e, ROUTE_STATUS_L7_CONDITION, "True", "UnsupportedValue");
	assert_string_equal(s_of(cond(e, ROUTE_STATUS_L7_CONDITION), "message"),
			    "rules[0]: timeouts, RequestMirror filters not enforced at L4 (the weights are)");
	assert_null(cond(e, "PartiallyInvalid"));
	fx_free(f);
}

/* No longer ours (class not served): our entry goes, kgateway's stays; then no patch. */
static void test_not_ours_drops_entry(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");
	const struct cache_entry *e;

	assert_non_null(fx_patch(f, NOW));
	fx_apply_patch(f, "184900");
	e = cache_get(f->c, CACHE_HTTPROUTE, ROUTE_NS, ROUTE_NAME);
	assert_true(route_status_has_entry(e, ROUTE_STATUS_CONTROLLER));
	f->o.n_gateway_classes = 0;
	assert_non_null(fx_patch(f, NOW));
	assert_int_equal(cJSON_GetArraySize(parents_of(f->pj)), 1);
	assert_string_equal(s_of(cJSON_GetArrayItem(parents_of(f->pj), 0), "controllerName"),
			    "kgateway.dev/agentgateway");
	fx_apply_patch(f, "184901");
	assert_null(fx_patch(f, NOW));
	e = cache_get(f->c, CACHE_HTTPROUTE, ROUTE_NS, ROUTE_NAME);
	assert_false(route_status_has_entry(e, ROUTE_STATUS_CONTROLLER));
	fx_free(f);
}

/* A Rollout driving the route is named in the Accepted message. */
static void test_rollout_named(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");

	put(f->c, CACHE_ROLLOUT, "rollout-paused-step1-weight30.json");
	assert_non_null(fx_patch(f, NOW));
	assert_string_equal(s_of(cond(ours(f->pj), "Accepted"), "message"),
			    "rules[0] programmed at L4 on 172.18.255.200:80/tcp; weights driven by rollout "
			    "default/rollouts-demo");
	fx_free(f);
}

/* A route without any status yet gets a list with our entry only. */
static void test_no_status_yet(void **state)
{
	struct fx *f = fx_new("httproute-canary-30.json");

	cJSON_DeleteItemFromObjectCaseSensitive(f->route, "status");
	cJSON_AddObjectToObject(f->route, "status");
	set_rv(f->route, "185000");
	put_obj(f->c, CACHE_HTTPROUTE, f->route);
	assert_non_null(fx_patch(f, NOW));
	assert_int_equal(cJSON_GetArraySize(parents_of(f->pj)), 1);
	ours(f->pj);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_accepted_keeps_other_entries),
		cmocka_unit_test(test_transition_time_kept),
		cmocka_unit_test(test_header_route_partially_invalid),
		cmocka_unit_test(test_claims_only_frontends_in_maps),
		cmocka_unit_test(test_listener_reasons),
		cmocka_unit_test(test_l7_details_condition),
		cmocka_unit_test(test_weight_out_of_range),
		cmocka_unit_test(test_invalid_kind_and_no_endpoints),
		cmocka_unit_test(test_more_than_the_data_path_holds),
		cmocka_unit_test(test_gateway_without_address),
		cmocka_unit_test(test_not_ours_drops_entry),
		cmocka_unit_test(test_rollout_named),
		cmocka_unit_test(test_no_status_yet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
