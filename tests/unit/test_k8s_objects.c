// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/k8s/objects.c: every reference object of
 * tests/fixtures/k8s parsed field by field, then bad and mutated inputs.
 * Reference folder: $BPFSPLIT_K8S_REFERENCE, default tests/fixtures/k8s
 * (relative to the repository root, where make runs the tests). */
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

#include "k8s/objects.h"

#include "reference.h"

/* ---- fixtures ---- */

/* Lines of a .jsonl reference file; *n of them; free each and the array. */
static char **load_lines(const char *name, size_t *n)
{
	char *text = ref_slurp(name, NULL), *p, *nl, **lines = NULL;
	size_t count = 0;

	for (p = text; *p;) {
		size_t l;

		nl = strchr(p, '\n');
		l = nl ? (size_t)(nl - p) : strlen(p);
		if (l) {
			lines = realloc(lines, (count + 1) * sizeof(*lines));
			assert_non_null(lines);
			lines[count++] = strndup(p, l);
		}
		p += l + (nl ? 1 : 0);
	}
	free(text);
	*n = count;
	return lines;
}

static void free_lines(char **lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
}

static void expect_ip4(const struct k8s_ip *ip, const char *s)
{
	uint8_t want[16] = { 0 };

	assert_int_equal(inet_pton(AF_INET, s, want), 1);
	assert_int_equal(ip->family, AF_INET);
	assert_memory_equal(ip->addr, want, 16);
}

static void expect_backend(const struct k8s_backend_ref *b, const char *name, uint32_t weight)
{
	assert_string_equal(b->group, "");
	assert_string_equal(b->kind, "Service");
	assert_string_equal(b->ns, "default");
	assert_string_equal(b->name, name);
	assert_int_equal(b->port, 80);
	assert_int_equal(b->weight, weight);
	assert_int_equal(b->filter_details, 0);
}

/* The parts every seed HTTPRoute shares. */
static void expect_seed_route(const struct k8s_httproute *r, int64_t gen, const char *rv)
{
	assert_string_equal(r->meta.ns, "default");
	assert_string_equal(r->meta.name, "argo-rollouts-http-route");
	assert_string_equal(r->meta.uid, "9b7e4d2a-1c3f-4e8b-a6d5-0f2e7c9b1a43");
	assert_string_equal(r->meta.resource_version, rv);
	assert_int_equal(r->meta.generation, gen);
	assert_int_equal(r->affinity, K8S_AFFINITY_UNSET);
	assert_null(r->frontends_raw);
	assert_int_equal(r->n_frontends, 0);
	assert_int_equal(r->n_parents, 1);
	assert_string_equal(r->parents[0].group, "gateway.networking.k8s.io");
	assert_string_equal(r->parents[0].kind, "Gateway");
	assert_string_equal(r->parents[0].ns, "kgateway-system");
	assert_string_equal(r->parents[0].name, "agentgateway-proxy");
	assert_string_equal(r->parents[0].section_name, "");
	assert_int_equal(r->parents[0].port, 0);
	assert_true(r->n_rules >= 1);
	assert_string_equal(r->rules[0].name, "");
	assert_int_equal(r->rules[0].l7_flags, 0);
	assert_int_equal(r->rules[0].n_backends, 2);
	assert_int_equal(r->n_status_parents, 1);
	assert_string_equal(r->status_parents[0].controller_name, "kgateway.dev/agentgateway");
	assert_int_equal(r->status_parents[0].n_conditions, 2);
}

static void parse_route_file(const char *name, struct k8s_httproute *r)
{
	char err[512] = "";
	cJSON *j = ref_load(name);
	int rc = k8s_httproute_parse(j, r, err, sizeof(err));

	if (rc)
		fail_msg("%s: %s", name, err);
	cJSON_Delete(j);
}

/* ---- HTTPRoute ---- */

static void test_route_defaulted(void **state)
{
	struct k8s_httproute r;

	(void)state;
	parse_route_file("httproute-as-applied-defaulted.json", &r);
	expect_seed_route(&r, 1, "171530");
	assert_int_equal(r.n_rules, 1);
	expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", 1);
	expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", 1);
	assert_false(r.argo_canary_in_progress);
	k8s_httproute_free(&r);
	k8s_httproute_free(&r); /* idempotent */
}

static void test_route_steady_state(void **state)
{
	struct k8s_httproute r;

	(void)state;
	parse_route_file("httproute-steady-state.json", &r);
	expect_seed_route(&r, 2, "171544");
	assert_int_equal(r.n_rules, 1);
	expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", 100);
	expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", 0);
	assert_false(r.argo_canary_in_progress);
	k8s_httproute_free(&r);
}

static void test_route_canary_30(void **state)
{
	struct k8s_httproute r;

	(void)state;
	parse_route_file("httproute-canary-30.json", &r);
	expect_seed_route(&r, 3, "184511");
	assert_int_equal(r.n_rules, 1);
	expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", 70);
	expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", 30);
	assert_true(r.argo_canary_in_progress);
	k8s_httproute_free(&r);
}

static void test_route_header_route(void **state)
{
	struct k8s_httproute r;

	(void)state;
	parse_route_file("httproute-canary-30-with-header-route.json", &r);
	expect_seed_route(&r, 4, "184590");
	assert_int_equal(r.n_rules, 2);
	expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", 70);
	expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", 30);
	assert_string_equal(r.rules[1].name, "canary-header-route");
	assert_int_equal(r.rules[1].n_backends, 1);
	expect_backend(&r.rules[1].backends[0], "rollouts-demo-canary", 1);
	/* Header match: an L4 splitter cannot honour this rule. */
	assert_int_equal(r.rules[1].l7_flags, K8S_RULE_L7_HEADERS);
	assert_true(r.argo_canary_in_progress);
	k8s_httproute_free(&r);
}

/* Hand-written manifests may omit weight (and group/kind/namespace): defaults. */
static void test_route_weight_absent_defaults_to_1(void **state)
{
	const char *json =
		"{\"kind\":\"HTTPRoute\",\"metadata\":{\"name\":\"web\",\"namespace\":\"shop\"},"
		"\"spec\":{\"parentRefs\":[{\"name\":\"web-svc\",\"kind\":\"Service\",\"group\":\"\",\"port\":8080}],"
		"\"rules\":[{\"backendRefs\":[{\"name\":\"a\",\"port\":80},{\"name\":\"b\",\"port\":80,"
		"\"namespace\":\"other\"}]}]}}";
	struct k8s_httproute r;
	char err[256];
	cJSON *j = cJSON_Parse(json);

	(void)state;
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n_parents, 1);
	assert_string_equal(r.parents[0].group, "");
	assert_string_equal(r.parents[0].kind, "Service");
	assert_string_equal(r.parents[0].ns, "shop");
	assert_int_equal(r.parents[0].port, 8080);
	assert_int_equal(r.rules[0].n_backends, 2);
	assert_int_equal(r.rules[0].backends[0].weight, 1);
	assert_int_equal(r.rules[0].backends[1].weight, 1);
	assert_string_equal(r.rules[0].backends[0].kind, "Service");
	assert_string_equal(r.rules[0].backends[0].group, "");
	assert_string_equal(r.rules[0].backends[0].ns, "shop");
	assert_string_equal(r.rules[0].backends[1].ns, "other");
	assert_int_equal(r.rules[0].l7_flags, 0); /* no matches = all traffic */
	assert_int_equal(r.n_status_parents, 0);
	k8s_httproute_free(&r);
	cJSON_Delete(j);
}

static void test_route_l7_flags(void **state)
{
	static const struct {
		const char *rule;
		unsigned int flags;
		unsigned int details;
	} cases[] = {
		{ "{\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/\"}}]}", 0 },
		{ "{\"matches\":[{}]}", 0 },
		{ "{\"matches\":[]}", 0 },
		{ "{\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/api\"}}]}", K8S_RULE_L7_PATH },
		{ "{\"matches\":[{\"path\":{\"type\":\"Exact\",\"value\":\"/\"}}]}", K8S_RULE_L7_PATH },
		{ "{\"matches\":[{\"queryParams\":[{\"name\":\"a\",\"value\":\"b\"}]}]}", K8S_RULE_L7_QUERY },
		{ "{\"matches\":[{\"method\":\"GET\"}]}", K8S_RULE_L7_METHOD },
		{ "{\"matches\":[{\"headers\":[]}]}", 0 },
		/* details: the rule still takes all traffic, its weights apply */
		{ "{\"filters\":[{\"type\":\"RequestHeaderModifier\"}]}", 0, K8S_RULE_D_HEADER_MOD },
		{ "{\"filters\":[{\"type\":\"RequestMirror\"},{\"type\":\"URLRewrite\"}]}", 0,
		  K8S_RULE_D_MIRROR | K8S_RULE_D_REWRITE },
		{ "{\"backendRefs\":[{\"name\":\"a\",\"port\":80,\"filters\":[{\"type\":\"X\"}]}]}", 0,
		  K8S_RULE_D_FILTER_OTHER },
		{ "{\"timeouts\":{\"request\":\"10s\"}}", 0, K8S_RULE_D_TIMEOUTS },
		{ "{\"retry\":{\"attempts\":2},\"sessionPersistence\":{\"type\":\"Cookie\"}}", 0,
		  K8S_RULE_D_RETRY | K8S_RULE_D_SESSION },
		{ "{\"matches\":[{\"path\":{\"value\":\"/\"}},{\"method\":\"POST\",\"headers\":[{\"name\":\"x\"}]}]}",
		  K8S_RULE_L7_METHOD | K8S_RULE_L7_HEADERS },
	};
	char json[1024], err[256];
	struct k8s_httproute r;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j;

		snprintf(json, sizeof(json),
			 "{\"metadata\":{\"name\":\"r\",\"namespace\":\"d\"},\"spec\":{\"rules\":[%s]}}", cases[i].rule);
		j = cJSON_Parse(json);
		assert_non_null(j);
		assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), 0);
		assert_int_equal(r.n_rules, 1);
		if (r.rules[0].l7_flags != cases[i].flags || r.rules[0].l7_details != cases[i].details)
			fail_msg("case %zu %s: flags %#x details %#x want %#x %#x", i, cases[i].rule, r.rules[0].l7_flags,
				 r.rules[0].l7_details, cases[i].flags, cases[i].details);
		k8s_httproute_free(&r);
		cJSON_Delete(j);
	}
}

static void test_route_annotations(void **state)
{
	cJSON *j = ref_load("httproute-canary-30.json");
	cJSON *ann = cJSON_AddObjectToObject(cJSON_GetObjectItem(j, "metadata"), "annotations");
	struct k8s_httproute r;
	char err[512];
	uint8_t v6[16];

	(void)state;
	cJSON_AddStringToObject(ann, K8S_ANN_FRONTENDS, "10.96.0.10:80/TCP, [fd00::a]:8443/udp");
	cJSON_AddStringToObject(ann, K8S_ANN_AFFINITY, "client");
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.affinity, K8S_AFFINITY_CLIENT);
	assert_string_equal(r.frontends_raw, "10.96.0.10:80/TCP, [fd00::a]:8443/udp");
	assert_int_equal(r.n_frontends, 2);
	expect_ip4(&r.frontends[0].ip, "10.96.0.10");
	assert_int_equal(r.frontends[0].port, 80);
	assert_int_equal(r.frontends[0].proto, IPPROTO_TCP);
	assert_int_equal(r.frontends[1].ip.family, AF_INET6);
	inet_pton(AF_INET6, "fd00::a", v6);
	assert_memory_equal(r.frontends[1].ip.addr, v6, 16);
	assert_int_equal(r.frontends[1].port, 8443);
	assert_int_equal(r.frontends[1].proto, IPPROTO_UDP);
	k8s_httproute_free(&r);

	cJSON_ReplaceItemInObject(ann, K8S_ANN_AFFINITY, cJSON_CreateString("connection"));
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), 0);
	assert_int_equal(r.affinity, K8S_AFFINITY_CONNECTION);
	k8s_httproute_free(&r);

	cJSON_ReplaceItemInObject(ann, K8S_ANN_AFFINITY, cJSON_CreateString("sticky"));
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "httproute default/argo-rollouts-http-route: annotation bpfsplit.io/affinity "
				 "\"sticky\": want \"connection\" or \"client\"");

	cJSON_ReplaceItemInObject(ann, K8S_ANN_AFFINITY, cJSON_CreateString("client"));
	cJSON_ReplaceItemInObject(ann, K8S_ANN_FRONTENDS, cJSON_CreateString("10.96.0.10:80,10.96.0.11:0/TCP"));
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "httproute default/argo-rollouts-http-route: annotation bpfsplit.io/frontends: "
				 "item 2 \"10.96.0.11:0/TCP\": port 0 out of range 1..65535");
	assert_null(r.frontends);
	assert_null(r.rules);
	cJSON_Delete(j);
}

/* ---- Gateway ---- */

static void test_gateway(void **state)
{
	cJSON *j = ref_load("gateway-agentgateway-proxy.json");
	struct k8s_gateway g;
	char err[256];

	(void)state;
	assert_int_equal(k8s_gateway_parse(j, &g, err, sizeof(err)), 0);
	assert_string_equal(g.meta.ns, "kgateway-system");
	assert_string_equal(g.meta.name, "agentgateway-proxy");
	assert_string_equal(g.meta.resource_version, "171204");
	assert_string_equal(g.meta.uid, "3f0c2b1e-7a4d-4c55-9e2a-6b1d8e0f4a21");
	assert_int_equal(g.meta.generation, 1);
	assert_string_equal(g.class_name, "agentgateway");
	assert_int_equal(g.n_listeners, 1);
	assert_string_equal(g.listeners[0].name, "http");
	assert_int_equal(g.listeners[0].port, 80);
	assert_string_equal(g.listeners[0].protocol, "HTTP");
	assert_int_equal(g.n_addresses, 1);
	assert_string_equal(g.addresses[0].type, "IPAddress");
	assert_string_equal(g.addresses[0].value, "172.18.255.200");
	expect_ip4(&g.addresses[0].ip, "172.18.255.200");
	k8s_gateway_free(&g);

	/* A Gateway is not an HTTPRoute. */
	assert_int_equal(k8s_httproute_parse(j, &(struct k8s_httproute){ 0 }, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "httproute: kind \"Gateway\", want HTTPRoute");
	cJSON_Delete(j);
}

/* ---- Rollout ---- */

static void expect_seed_steps(const struct k8s_rollout *ro)
{
	static const int weights[] = { 30, 60, 100 };

	assert_true(ro->is_canary);
	assert_string_equal(ro->canary_service, "rollouts-demo-canary");
	assert_string_equal(ro->stable_service, "rollouts-demo-stable");
	assert_int_equal(ro->n_steps, 6);
	for (size_t i = 0; i < 6; i++) {
		if (i % 2 == 0) {
			assert_int_equal(ro->steps[i].type, K8S_STEP_SET_WEIGHT);
			assert_int_equal(ro->steps[i].weight, weights[i / 2]);
		} else {
			assert_int_equal(ro->steps[i].type, K8S_STEP_PAUSE);
			assert_int_equal(ro->steps[i].pause_s, -1);
		}
	}
	assert_true(ro->has_gateway_plugin);
	assert_string_equal(ro->route_ns, "default");
	assert_int_equal(ro->n_routes, 1);
	assert_string_equal(ro->routes[0], "argo-rollouts-http-route");
	assert_string_equal(ro->meta.ns, "default");
	assert_string_equal(ro->meta.name, "rollouts-demo");
	assert_string_equal(ro->meta.uid, "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f");
	assert_string_equal(ro->canary_weight.service_name, "rollouts-demo-canary");
	assert_string_equal(ro->stable_weight.service_name, "rollouts-demo-stable");
	assert_true(ro->canary_weight.present);
	assert_true(ro->stable_weight.present);
}

static void parse_rollout_file(const char *name, struct k8s_rollout *ro)
{
	char err[512] = "";
	cJSON *j = ref_load(name);

	if (k8s_rollout_parse(j, ro, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	cJSON_Delete(j);
}

static void test_rollout_healthy_green(void **state)
{
	struct k8s_rollout ro;

	(void)state;
	parse_rollout_file("rollout-healthy-green.json", &ro);
	expect_seed_steps(&ro);
	assert_string_equal(ro.meta.resource_version, "171560");
	assert_int_equal(ro.meta.generation, 1);
	assert_true(ro.has_current_step);
	assert_int_equal(ro.current_step, 6);
	assert_int_equal(ro.n_pause_conditions, 0);
	assert_false(ro.controller_pause);
	assert_false(ro.abort);
	assert_string_equal(ro.phase, "Healthy");
	assert_string_equal(ro.stable_rs, "687d76d795");
	assert_string_equal(ro.current_pod_hash, "687d76d795");
	assert_int_equal(ro.canary_weight.weight, 0);
	assert_int_equal(ro.stable_weight.weight, 100);
	assert_string_equal(ro.canary_weight.pod_template_hash, "687d76d795");
	assert_string_equal(ro.stable_weight.pod_template_hash, "687d76d795");
	k8s_rollout_free(&ro);
}

static void test_rollout_paused(void **state)
{
	struct k8s_rollout ro;

	(void)state;
	parse_rollout_file("rollout-paused-step1-weight30.json", &ro);
	expect_seed_steps(&ro);
	assert_string_equal(ro.meta.resource_version, "184532");
	assert_int_equal(ro.meta.generation, 2);
	assert_true(ro.has_current_step);
	assert_int_equal(ro.current_step, 1);
	assert_int_equal(ro.n_pause_conditions, 1);
	assert_true(ro.controller_pause);
	assert_false(ro.abort);
	assert_string_equal(ro.phase, "Paused");
	assert_string_equal(ro.stable_rs, "687d76d795");
	assert_string_equal(ro.current_pod_hash, "6cf78c66c5");
	assert_int_equal(ro.canary_weight.weight, 30);
	assert_int_equal(ro.stable_weight.weight, 70);
	assert_string_equal(ro.canary_weight.pod_template_hash, "6cf78c66c5");
	assert_string_equal(ro.stable_weight.pod_template_hash, "687d76d795");
	k8s_rollout_free(&ro);
}

static void test_rollout_aborted(void **state)
{
	struct k8s_rollout ro;

	(void)state;
	parse_rollout_file("rollout-aborted.json", &ro);
	expect_seed_steps(&ro);
	assert_string_equal(ro.meta.resource_version, "185010");
	assert_true(ro.has_current_step);
	assert_int_equal(ro.current_step, 0);
	assert_true(ro.abort);
	assert_false(ro.controller_pause);
	assert_int_equal(ro.n_pause_conditions, 0);
	assert_string_equal(ro.phase, "Degraded");
	assert_string_equal(ro.stable_rs, "687d76d795");
	assert_string_equal(ro.current_pod_hash, "6cf78c66c5");
	assert_int_equal(ro.canary_weight.weight, 0);
	assert_int_equal(ro.stable_weight.weight, 100);
	k8s_rollout_free(&ro);
}

static void test_rollout_promoted(void **state)
{
	struct k8s_rollout ro;

	(void)state;
	parse_rollout_file("rollout-promoted-orange.json", &ro);
	expect_seed_steps(&ro);
	assert_string_equal(ro.meta.resource_version, "188110");
	assert_int_equal(ro.current_step, 6);
	assert_false(ro.abort);
	assert_string_equal(ro.phase, "Healthy");
	assert_string_equal(ro.stable_rs, "6cf78c66c5");
	assert_string_equal(ro.stable_rs, ro.current_pod_hash);
	assert_int_equal(ro.canary_weight.weight, 0);
	assert_int_equal(ro.stable_weight.weight, 100);
	assert_string_equal(ro.canary_weight.pod_template_hash, "6cf78c66c5");
	assert_string_equal(ro.stable_weight.pod_template_hash, "6cf78c66c5");
	k8s_rollout_free(&ro);
}

static void test_rollout_variants(void **state)
{
	const char *json =
		"{\"kind\":\"Rollout\",\"metadata\":{\"name\":\"r\",\"namespace\":\"ns1\"},"
		"\"spec\":{\"strategy\":{\"canary\":{\"steps\":[{\"setWeight\":5},{\"pause\":{\"duration\":\"1h30m\"}},"
		"{\"pause\":{\"duration\":45}},{\"pause\":{\"duration\":\"10\"}},{\"setHeaderRoute\":{\"name\":\"h\"}},"
		"{\"analysis\":{}}],"
		"\"trafficRouting\":{\"plugins\":{\"argoproj-labs/gatewayAPI\":{\"httpRoutes\":"
		"[{\"name\":\"a\",\"useHeaderRoutes\":true},{\"name\":\"b\"}],\"grpcRoute\":\"g\","
		"\"tcpRoutes\":[{\"name\":\"t\"}],\"tlsRoutes\":[{\"name\":\"s\"}]}}}}}}}";
	struct k8s_rollout ro;
	char err[256];
	cJSON *j = cJSON_Parse(json);

	(void)state;
	assert_int_equal(k8s_rollout_parse(j, &ro, err, sizeof(err)), 0);
	assert_int_equal(ro.n_steps, 6);
	assert_int_equal(ro.steps[0].type, K8S_STEP_SET_WEIGHT);
	assert_int_equal(ro.steps[0].weight, 5);
	assert_int_equal(ro.steps[1].type, K8S_STEP_PAUSE);
	assert_int_equal(ro.steps[1].pause_s, 5400);
	assert_int_equal(ro.steps[2].pause_s, 45);
	assert_int_equal(ro.steps[3].pause_s, 10);
	assert_int_equal(ro.steps[4].type, K8S_STEP_OTHER);
	assert_int_equal(ro.steps[5].type, K8S_STEP_OTHER);
	assert_true(ro.has_gateway_plugin);
	assert_string_equal(ro.route_ns, "ns1");
	assert_int_equal(ro.n_routes, 5);
	assert_string_equal(ro.routes[0], "a");
	assert_string_equal(ro.routes[1], "b");
	assert_int_equal(ro.route_kinds[1], K8S_ROUTE_HTTP);
	assert_string_equal(ro.routes[2], "g");
	assert_int_equal(ro.route_kinds[2], K8S_ROUTE_GRPC);
	assert_string_equal(ro.routes[3], "t");
	assert_int_equal(ro.route_kinds[3], K8S_ROUTE_TCP);
	assert_string_equal(ro.routes[4], "s");
	assert_int_equal(ro.route_kinds[4], K8S_ROUTE_TLS);
	/* No status yet: a Rollout just created. */
	assert_false(ro.has_current_step);
	assert_false(ro.canary_weight.present);
	assert_string_equal(ro.phase, "");
	k8s_rollout_free(&ro);

	cJSON_ReplaceItemInObject(
		cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
			cJSON_GetObjectItem(j, "spec"), "strategy"), "canary"), "steps"), 1),
		"pause", cJSON_Parse("{\"duration\":\"soon\"}"));
	assert_int_equal(k8s_rollout_parse(j, &ro, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "rollout ns1/r: strategy.canary.steps[1].pause.duration \"soon\" not a duration");
	cJSON_Delete(j);

	/* blueGreen: not a canary, nothing to split. */
	j = cJSON_Parse("{\"metadata\":{\"name\":\"bg\"},\"spec\":{\"strategy\":{\"blueGreen\":{}}}}");
	assert_int_equal(k8s_rollout_parse(j, &ro, err, sizeof(err)), 0);
	assert_false(ro.is_canary);
	assert_false(ro.has_gateway_plugin);
	k8s_rollout_free(&ro);
	cJSON_Delete(j);
}

/* ---- Service ---- */

static void expect_seed_service(const struct k8s_service *s, const char *name, const char *ip)
{
	assert_string_equal(s->meta.ns, "default");
	assert_string_equal(s->meta.name, name);
	assert_false(s->headless);
	assert_int_equal(s->n_cluster_ips, 1);
	assert_string_equal(s->cluster_ip_strs[0], ip);
	expect_ip4(&s->cluster_ips[0], ip);
	assert_int_equal(s->n_ports, 1);
	assert_string_equal(s->ports[0].name, "http");
	assert_int_equal(s->ports[0].port, 80);
	assert_int_equal(s->ports[0].proto, IPPROTO_TCP);
	assert_int_equal(s->ports[0].target_port, 0);
	assert_string_equal(s->ports[0].target_port_name, "http");
	assert_true(s->has_selector);
}

static void test_services(void **state)
{
	struct k8s_service s;
	char err[256];
	cJSON *j;

	(void)state;
	j = ref_load("service-stable.json");
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), 0);
	expect_seed_service(&s, "rollouts-demo-stable", "10.96.183.41");
	assert_string_equal(s.meta.resource_version, "171538");
	assert_string_equal(s.meta.uid, "c4a1d2e3-5b6f-4a70-8c91-d2e3f4a5b6c7");
	assert_int_equal(s.meta.generation, 0);
	k8s_service_free(&s);
	cJSON_Delete(j);

	j = ref_load("service-canary.json");
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), 0);
	expect_seed_service(&s, "rollouts-demo-canary", "10.96.27.206");
	assert_string_equal(s.meta.resource_version, "184470");
	k8s_service_free(&s);
	cJSON_Delete(j);
}

static void test_service_variants(void **state)
{
	const char *dual =
		"{\"metadata\":{\"name\":\"d\",\"namespace\":\"n\"},\"spec\":{\"clusterIP\":\"10.0.0.1\","
		"\"clusterIPs\":[\"10.0.0.1\",\"fd00::10\"],\"ports\":[{\"port\":53,\"protocol\":\"UDP\","
		"\"targetPort\":5353},{\"port\":443}]}}";
	struct k8s_service s;
	char err[256];
	uint8_t v6[16];
	cJSON *j = cJSON_Parse(dual);

	(void)state;
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), 0);
	assert_int_equal(s.n_cluster_ips, 2);
	expect_ip4(&s.cluster_ips[0], "10.0.0.1");
	assert_int_equal(s.cluster_ips[1].family, AF_INET6);
	inet_pton(AF_INET6, "fd00::10", v6);
	assert_memory_equal(s.cluster_ips[1].addr, v6, 16);
	assert_string_equal(s.cluster_ip_strs[1], "fd00::10");
	assert_int_equal(s.ports[0].proto, IPPROTO_UDP);
	assert_int_equal(s.ports[0].target_port, 5353);
	assert_int_equal(s.ports[1].proto, IPPROTO_TCP); /* default */
	assert_int_equal(s.ports[1].target_port, 443);   /* defaults to port */
	assert_false(s.has_selector);
	k8s_service_free(&s);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"h\"},\"spec\":{\"clusterIP\":\"None\",\"selector\":{\"a\":\"b\"}}}");
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), 0);
	assert_true(s.headless);
	assert_int_equal(s.n_cluster_ips, 0);
	assert_true(s.has_selector);
	k8s_service_free(&s);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},\"spec\":{\"clusterIPs\":[\"10.0.0.300\"]}}");
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "service n/x: clusterIPs[0] \"10.0.0.300\" not an IP address");
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"x\",\"namespace\":\"n\"},\"spec\":{\"ports\":[{\"port\":80,"
			"\"protocol\":\"ICMP\"}]}}");
	assert_int_equal(k8s_service_parse(j, &s, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "service n/x: ports[0].protocol \"ICMP\" unknown (TCP, UDP, SCTP)");
	cJSON_Delete(j);
}

/* ---- EndpointSlice ---- */

static void expect_endpoint(const struct k8s_endpoint *e, const char *ip, const char *pod, const char *node,
			    bool ready, bool serving, bool terminating)
{
	assert_int_equal(e->n_addresses, 1);
	assert_string_equal(e->addresses[0].str, ip);
	expect_ip4(&e->addresses[0].ip, ip);
	assert_string_equal(e->target_kind, "Pod");
	assert_string_equal(e->target_name, pod);
	assert_string_equal(e->node_name, node);
	assert_int_equal(e->ready, ready);
	assert_int_equal(e->serving, serving);
	assert_int_equal(e->terminating, terminating);
}

static void expect_slice_common(const struct k8s_endpointslice *es, const char *svc)
{
	assert_string_equal(es->meta.ns, "default");
	assert_string_equal(es->service_name, svc);
	assert_int_equal(es->address_type, K8S_ADDR_IPV4);
	assert_int_equal(es->n_ports, 1);
	assert_string_equal(es->ports[0].name, "http");
	assert_true(es->ports[0].has_port);
	assert_int_equal(es->ports[0].port, 8080);
	assert_int_equal(es->ports[0].proto, IPPROTO_TCP);
}

static void expect_stable_green(const struct k8s_endpointslice *es)
{
	expect_slice_common(es, "rollouts-demo-stable");
	assert_string_equal(es->meta.name, "rollouts-demo-stable-x7k2p");
	assert_string_equal(es->meta.resource_version, "171601");
	assert_int_equal(es->meta.generation, 4);
	assert_int_equal(es->n_endpoints, 3);
	expect_endpoint(&es->endpoints[0], "10.244.1.12", "rollouts-demo-687d76d795-4xk2p", "kind-worker", 1, 1, 0);
	expect_endpoint(&es->endpoints[1], "10.244.2.9", "rollouts-demo-687d76d795-9rj6t", "kind-worker2", 1, 1, 0);
	expect_endpoint(&es->endpoints[2], "10.244.1.13", "rollouts-demo-687d76d795-qzv8m", "kind-worker", 1, 1, 0);
}

static void expect_canary_30(const struct k8s_endpointslice *es)
{
	expect_slice_common(es, "rollouts-demo-canary");
	assert_string_equal(es->meta.name, "rollouts-demo-canary-9fzqw");
	assert_string_equal(es->meta.resource_version, "184498");
	assert_int_equal(es->n_endpoints, 1);
	expect_endpoint(&es->endpoints[0], "10.244.2.15", "rollouts-demo-6cf78c66c5-h7wkd", "kind-worker2", 1, 1, 0);
}

static void parse_slice_file(const char *name, struct k8s_endpointslice *es)
{
	char err[512] = "";
	cJSON *j = ref_load(name);

	if (k8s_endpointslice_parse(j, es, err, sizeof(err)))
		fail_msg("%s: %s", name, err);
	cJSON_Delete(j);
}

static void test_slices(void **state)
{
	struct k8s_endpointslice es;

	(void)state;
	parse_slice_file("endpointslice-stable.json", &es);
	expect_stable_green(&es);
	k8s_endpointslice_free(&es);

	parse_slice_file("endpointslice-canary-30.json", &es);
	expect_canary_30(&es);
	k8s_endpointslice_free(&es);

	parse_slice_file("endpointslice-canary-terminating.json", &es);
	expect_slice_common(&es, "rollouts-demo-canary");
	assert_string_equal(es.meta.resource_version, "186233");
	assert_int_equal(es.n_endpoints, 2);
	expect_endpoint(&es.endpoints[0], "10.244.2.15", "rollouts-demo-6cf78c66c5-h7wkd", "kind-worker2",
			false, true, true);
	expect_endpoint(&es.endpoints[1], "10.244.1.18", "rollouts-demo-6cf78c66c5-m2n9s", "kind-worker",
			true, true, false);
	k8s_endpointslice_free(&es);
}

/* discovery/v1: ready nil = true, serving nil = ready, terminating nil = false. */
static void test_slice_condition_defaults(void **state)
{
	static const struct {
		const char *conds;
		bool ready, serving, terminating;
	} cases[] = {
		{ "", true, true, false },
		{ ",\"conditions\":{}", true, true, false },
		{ ",\"conditions\":null", true, true, false },
		{ ",\"conditions\":{\"ready\":false}", false, false, false },
		{ ",\"conditions\":{\"ready\":false,\"terminating\":true}", false, false, true },
		{ ",\"conditions\":{\"serving\":false}", true, false, false },
		{ ",\"conditions\":{\"ready\":null,\"serving\":true,\"terminating\":false}", true, true, false },
	};
	struct k8s_endpointslice es;
	char json[512], err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cJSON *j;

		snprintf(json, sizeof(json),
			 "{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"addressType\":\"IPv6\","
			 "\"ports\":[{\"port\":null}],\"endpoints\":[{\"addresses\":[\"fd00::5\"]%s}]}",
			 cases[i].conds);
		j = cJSON_Parse(json);
		assert_non_null(j);
		if (k8s_endpointslice_parse(j, &es, err, sizeof(err)))
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(es.address_type, K8S_ADDR_IPV6);
		assert_int_equal(es.endpoints[0].addresses[0].ip.family, AF_INET6);
		assert_false(es.ports[0].has_port); /* nil port: all ports */
		assert_int_equal(es.ports[0].proto, IPPROTO_TCP);
		assert_string_equal(es.service_name, "");
		if (es.endpoints[0].ready != cases[i].ready || es.endpoints[0].serving != cases[i].serving ||
		    es.endpoints[0].terminating != cases[i].terminating)
			fail_msg("case %zu (%s): got %d/%d/%d", i, cases[i].conds, es.endpoints[0].ready,
				 es.endpoints[0].serving, es.endpoints[0].terminating);
		k8s_endpointslice_free(&es);
		cJSON_Delete(j);
	}
}

static void test_slice_bad(void **state)
{
	struct k8s_endpointslice es;
	char err[256];
	cJSON *j;

	(void)state;
	j = cJSON_Parse("{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"addressType\":\"IPv4\","
			"\"endpoints\":[{\"addresses\":[\"10.0.0.1\"]},{\"addresses\":[\"fd00::1\"]}]}");
	assert_int_equal(k8s_endpointslice_parse(j, &es, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "endpointslice d/s: endpoints[1].addresses[0] \"fd00::1\" not an IPv4 address");
	assert_null(es.endpoints);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"addressType\":\"IPv4\","
			"\"endpoints\":[{\"addresses\":[\"10.0.0.1\"],\"conditions\":{\"ready\":\"yes\"}}]}");
	assert_int_equal(k8s_endpointslice_parse(j, &es, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "endpointslice d/s: endpoints[0].conditions.ready: want bool, got string");
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"addressType\":\"AppleTalk\"}");
	assert_int_equal(k8s_endpointslice_parse(j, &es, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "endpointslice d/s: addressType \"AppleTalk\" unknown (IPv4, IPv6, FQDN)");
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"s\",\"namespace\":\"d\"},\"addressType\":\"FQDN\","
			"\"endpoints\":[{\"addresses\":[\"db.example.com\"]}]}");
	assert_int_equal(k8s_endpointslice_parse(j, &es, err, sizeof(err)), 0);
	assert_int_equal(es.address_type, K8S_ADDR_FQDN);
	assert_string_equal(es.endpoints[0].addresses[0].str, "db.example.com");
	assert_int_equal(es.endpoints[0].addresses[0].ip.family, 0);
	k8s_endpointslice_free(&es);
	cJSON_Delete(j);
}

/* ---- lists ---- */

static void test_list_httproutes(void **state)
{
	size_t len;
	char *text = ref_slurp("httproute-list.json", &len), err[256];
	struct k8s_list l;
	struct k8s_httproute r;

	(void)state;
	assert_int_equal(k8s_list_parse(text, len, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n_items, 1);
	assert_string_equal(l.resource_version, "184530");
	assert_null(l.continue_token); /* "continue": "" = last page */
	assert_int_equal(k8s_httproute_parse(l.items[0], &r, err, sizeof(err)), 0);
	expect_seed_route(&r, 3, "184511");
	expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", 70);
	expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", 30);
	k8s_httproute_free(&r);
	k8s_list_free(&l);
	free(text);
}

static void test_list_endpointslices(void **state)
{
	size_t len;
	char *text = ref_slurp("endpointslice-list.json", &len), err[256];
	struct k8s_list l;
	struct k8s_endpointslice es;

	(void)state;
	assert_int_equal(k8s_list_parse(text, len, &l, err, sizeof(err)), 0);
	assert_int_equal(l.n_items, 2);
	assert_string_equal(l.resource_version, "184530");
	assert_null(l.continue_token);
	/* Items of built-in lists carry no kind: the parser must not need it. */
	assert_null(cJSON_GetObjectItem(l.items[0], "kind"));
	assert_int_equal(k8s_endpointslice_parse(l.items[0], &es, err, sizeof(err)), 0);
	expect_canary_30(&es);
	k8s_endpointslice_free(&es);
	assert_int_equal(k8s_endpointslice_parse(l.items[1], &es, err, sizeof(err)), 0);
	expect_stable_green(&es);
	k8s_endpointslice_free(&es);
	k8s_list_free(&l);
	free(text);
}

static void test_list_continue_and_errors(void **state)
{
	const char *paged = "{\"kind\":\"ServiceList\",\"metadata\":{\"resourceVersion\":\"9\","
			    "\"continue\":\"eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OX0\"},\"items\":[]}\n";
	const char *nul = "{\"metadata\":{\"resourceVersion\":\"9\"},\"items\":null}";
	struct k8s_list l;
	char err[512];
	size_t len;
	char *text;

	(void)state;
	assert_int_equal(k8s_list_parse(paged, strlen(paged), &l, err, sizeof(err)), 0);
	assert_int_equal(l.n_items, 0);
	assert_string_equal(l.continue_token, "eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OX0");
	k8s_list_free(&l);

	assert_int_equal(k8s_list_parse(nul, strlen(nul), &l, err, sizeof(err)), 0);
	assert_int_equal(l.n_items, 0);
	k8s_list_free(&l);

	/* HTTP 410 body: a Status, not a list. */
	text = ref_slurp("status-410-expired-list.json", &len);
	assert_int_equal(k8s_list_parse(text, len, &l, err, sizeof(err)), -EINVAL);
	assert_int_equal(l.status.code, 410);
	assert_string_equal(l.status.reason, "Expired");
	assert_string_equal(l.status.status, "Failure");
	assert_null(l.root);
	assert_true(strncmp(err, "list: Status 410 Expired: The provided continue parameter", 57) == 0);
	k8s_list_free(&l);
	free(text);

	assert_int_equal(k8s_list_parse("{\"items\":[", 10, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "list: malformed JSON near byte 9 of 10");
	assert_int_equal(k8s_list_parse("{\"items\":[]} x", 14, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "list: trailing bytes after JSON at byte 13");
	assert_int_equal(k8s_list_parse("{\"items\":[1]}", 13, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "list: items[0]: want object, got number");
	assert_int_equal(k8s_list_parse("{}", 2, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "list: items missing");
	assert_int_equal(k8s_list_parse("", 0, &l, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "list: empty body");
}

/* ---- watch events ---- */

static void test_watch_route_progress(void **state)
{
	static const struct {
		enum k8s_event_type type;
		const char *rv;
		int64_t gen;
		uint32_t stable, canary;
		bool in_progress;
	} want[] = {
		{ K8S_EVENT_MODIFIED, "184511", 3, 70, 30, true },
		{ K8S_EVENT_MODIFIED, "184514", 3, 70, 30, true }, /* status-only: same generation */
		{ K8S_EVENT_BOOKMARK, "185102", 0, 0, 0, false },
		{ K8S_EVENT_MODIFIED, "186020", 4, 40, 60, true },
		{ K8S_EVENT_MODIFIED, "187377", 5, 0, 100, true },
		{ K8S_EVENT_MODIFIED, "188102", 6, 100, 0, false },
	};
	size_t n;
	char **lines = load_lines("watch-httproute-rollout-progress.jsonl", &n), err[512];

	(void)state;
	assert_int_equal(n, 6);
	for (size_t i = 0; i < n; i++) {
		struct k8s_watch_event ev;
		struct k8s_httproute r;

		if (k8s_watch_event_parse(lines[i], strlen(lines[i]), &ev, err, sizeof(err)))
			fail_msg("line %zu: %s", i + 1, err);
		assert_int_equal(ev.type, want[i].type);
		assert_string_equal(ev.resource_version, want[i].rv);
		if (ev.type == K8S_EVENT_BOOKMARK) {
			assert_string_equal(k8s_event_type_str(ev.type), "BOOKMARK");
			k8s_watch_event_free(&ev);
			continue;
		}
		assert_int_equal(k8s_httproute_parse(ev.object, &r, err, sizeof(err)), 0);
		assert_string_equal(r.meta.resource_version, want[i].rv);
		assert_int_equal(r.meta.generation, want[i].gen);
		expect_backend(&r.rules[0].backends[0], "rollouts-demo-stable", want[i].stable);
		expect_backend(&r.rules[0].backends[1], "rollouts-demo-canary", want[i].canary);
		assert_int_equal(r.argo_canary_in_progress, want[i].in_progress);
		assert_int_equal(r.status_parents[0].n_conditions, 2);
		k8s_httproute_free(&r);
		k8s_watch_event_free(&ev);
	}
	free_lines(lines, n);
}

static void test_watch_promotion_streams(void **state)
{
	size_t n;
	char **lines, err[512];
	struct k8s_watch_event ev;
	struct k8s_service s;
	struct k8s_endpointslice es;

	(void)state;
	lines = load_lines("watch-service-stable-promotion.jsonl", &n);
	assert_int_equal(n, 1);
	assert_int_equal(k8s_watch_event_parse(lines[0], strlen(lines[0]), &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.type, K8S_EVENT_MODIFIED);
	assert_string_equal(ev.resource_version, "188095");
	assert_int_equal(k8s_service_parse(ev.object, &s, err, sizeof(err)), 0);
	expect_seed_service(&s, "rollouts-demo-stable", "10.96.183.41");
	k8s_service_free(&s);
	k8s_watch_event_free(&ev);
	free_lines(lines, n);

	lines = load_lines("watch-endpointslice-stable-promotion.jsonl", &n);
	assert_int_equal(n, 1);
	assert_int_equal(k8s_watch_event_parse(lines[0], strlen(lines[0]), &ev, err, sizeof(err)), 0);
	assert_int_equal(k8s_endpointslice_parse(ev.object, &es, err, sizeof(err)), 0);
	expect_slice_common(&es, "rollouts-demo-stable");
	assert_string_equal(es.meta.resource_version, "188101");
	assert_int_equal(es.meta.generation, 5);
	/* Green endpoints simply vanish; three orange ones, all ready. */
	assert_int_equal(es.n_endpoints, 3);
	expect_endpoint(&es.endpoints[0], "10.244.2.15", "rollouts-demo-6cf78c66c5-h7wkd", "kind-worker2", 1, 1, 0);
	expect_endpoint(&es.endpoints[1], "10.244.1.18", "rollouts-demo-6cf78c66c5-m2n9s", "kind-worker", 1, 1, 0);
	expect_endpoint(&es.endpoints[2], "10.244.2.16", "rollouts-demo-6cf78c66c5-t5bcx", "kind-worker2", 1, 1, 0);
	k8s_endpointslice_free(&es);
	k8s_watch_event_free(&ev);
	free_lines(lines, n);
}

static void test_watch_error_410(void **state)
{
	size_t n;
	char **lines = load_lines("watch-error-410-expired.jsonl", &n), err[256];
	struct k8s_watch_event ev;

	(void)state;
	assert_int_equal(n, 1);
	assert_int_equal(k8s_watch_event_parse(lines[0], strlen(lines[0]), &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.type, K8S_EVENT_ERROR);
	assert_int_equal(ev.status.code, 410);
	assert_string_equal(ev.status.reason, "Expired");
	assert_string_equal(ev.status.status, "Failure");
	assert_string_equal(ev.status.message, "too old resource version: 171544 (184012)");
	assert_string_equal(ev.resource_version, "");
	k8s_watch_event_free(&ev);
	free_lines(lines, n);
}

static void test_watch_event_bad(void **state)
{
	static const struct {
		const char *json, *msg;
	} cases[] = {
		{ "{\"type\":\"ADDED\"", "watch event: malformed JSON near byte 14 of 15" },
		{ "[]", "watch event: want object, got array" },
		{ "{\"object\":{}}", "watch event: type missing" },
		{ "{\"type\":\"ADDED\"}", "watch event: object missing" },
		{ "{\"type\":\"RENAMED\",\"object\":{}}", "watch event: type \"RENAMED\" unknown" },
		{ "{\"type\":7,\"object\":{}}", "watch event: type: want string, got number" },
		{ "{\"type\":\"ADDED\",\"object\":[]}", "watch event: object: want object, got array" },
		{ "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
		  "watch event: object.metadata.resourceVersion missing" },
		{ "{\"type\":\"ERROR\",\"object\":{\"code\":\"410\"}}", "watch event: code: want integer, got string" },
	};
	struct k8s_watch_event ev;
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(k8s_watch_event_parse(cases[i].json, strlen(cases[i].json), &ev, err, sizeof(err)),
				 -EINVAL);
		assert_string_equal(err, cases[i].msg);
		assert_null(ev.root);
	}
}

/* Every prefix of a real event is rejected cleanly (a cut stream). */
static void test_watch_event_truncated(void **state)
{
	size_t n;
	char **lines = load_lines("watch-httproute-rollout-progress.jsonl", &n), err[256];
	struct k8s_watch_event ev;
	size_t len = strlen(lines[0]);

	(void)state;
	for (size_t cut = 0; cut < len; cut++) {
		/* An exact-size heap copy, so that reading past the end shows under valgrind. */
		char *p = malloc(cut ? cut : 1);

		memcpy(p, lines[0], cut);
		assert_int_equal(k8s_watch_event_parse(p, cut, &ev, err, sizeof(err)), -EINVAL);
		free(p);
	}
	free_lines(lines, n);
}

/* ---- bad objects ---- */

/* The defaulted route with one change applied by fn; returns the parse result. */
static int route_with(void (*fn)(cJSON *), struct k8s_httproute *r, char *err, size_t errlen)
{
	cJSON *j = ref_load("httproute-as-applied-defaulted.json");
	int rc;

	fn(j);
	rc = k8s_httproute_parse(j, r, err, errlen);
	cJSON_Delete(j);
	return rc;
}

static cJSON *backend1(cJSON *j)
{
	return cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
		cJSON_GetObjectItem(j, "spec"), "rules"), 0), "backendRefs"), 1);
}

static void mut_weight_big(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateNumber(2000000)); }
static void mut_weight_neg(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateNumber(-1)); }
static void mut_weight_frac(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateNumber(2.5)); }
static void mut_weight_str(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateString("30")); }
static void mut_weight_max(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateNumber(1000000)); }
static void mut_weight_null(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "weight", cJSON_CreateNull()); }
static void mut_port_big(cJSON *j) { cJSON_ReplaceItemInObject(backend1(j), "port", cJSON_CreateNumber(70000)); }
static void mut_backend_noname(cJSON *j) { cJSON_DeleteItemFromObject(backend1(j), "name"); }
static void mut_name_missing(cJSON *j) { cJSON_DeleteItemFromObject(cJSON_GetObjectItem(j, "metadata"), "name"); }
static void mut_name_number(cJSON *j)
{
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "metadata"), "name", cJSON_CreateNumber(5));
}
static void mut_rules_object(cJSON *j)
{
	cJSON_ReplaceItemInObject(cJSON_GetObjectItem(j, "spec"), "rules", cJSON_CreateObject());
}
static void mut_metadata_string(cJSON *j) { cJSON_ReplaceItemInObject(j, "metadata", cJSON_CreateString("x")); }
static void mut_spec_missing(cJSON *j) { cJSON_DeleteItemFromObject(j, "spec"); }
static void mut_rule_number(cJSON *j)
{
	cJSON_AddItemToArray(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "spec"), "rules"), cJSON_CreateNumber(1));
}
static void mut_long_name(cJSON *j)
{
	char name[300];

	memset(name, 'a', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	cJSON_ReplaceItemInObject(backend1(j), "name", cJSON_CreateString(name));
}
static void mut_unknown_fields(cJSON *j)
{
	cJSON_AddItemToObject(backend1(j), "futureField", cJSON_Parse("{\"a\":[1,2,{\"b\":null}]}"));
	cJSON_AddStringToObject(j, "extra", "ignored");
}

static void test_route_bad(void **state)
{
	static const struct {
		void (*fn)(cJSON *);
		const char *msg;
	} cases[] = {
		{ mut_weight_big, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].weight "
				  "2000000 out of range 0..1000000" },
		{ mut_weight_neg, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].weight "
				  "-1 out of range 0..1000000" },
		{ mut_weight_frac, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].weight "
				   "2.5 not an integer" },
		{ mut_weight_str, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].weight: "
				  "want integer, got string" },
		{ mut_port_big, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].port "
				"70000 out of range 1..65535" },
		{ mut_backend_noname, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].name missing" },
		{ mut_name_missing, "httproute default/?: metadata.name missing" },
		{ mut_name_number, "httproute default/?: metadata.name: want string, got number" },
		{ mut_rules_object, "httproute default/argo-rollouts-http-route: rules: want array, got object" },
		{ mut_metadata_string, "httproute: metadata: want object, got string" },
		{ mut_spec_missing, "httproute default/argo-rollouts-http-route: spec missing" },
		{ mut_rule_number, "httproute default/argo-rollouts-http-route: rules[1]: want object, got number" },
		{ mut_long_name, "httproute default/argo-rollouts-http-route: rules[0].backendRefs[1].name too long "
				 "(299 bytes, max 253)" },
	};
	struct k8s_httproute r;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(route_with(cases[i].fn, &r, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, cases[i].msg);
		/* Nothing left allocated, nothing half-filled. */
		assert_null(r.rules);
		assert_null(r.parents);
		assert_int_equal(r.n_rules, 0);
		assert_string_equal(r.meta.name, "");
	}

	assert_int_equal(route_with(mut_weight_max, &r, err, sizeof(err)), 0);
	assert_int_equal(r.rules[0].backends[1].weight, 1000000);
	k8s_httproute_free(&r);
	assert_int_equal(route_with(mut_weight_null, &r, err, sizeof(err)), 0);
	assert_int_equal(r.rules[0].backends[1].weight, 1); /* null = absent = default */
	k8s_httproute_free(&r);
	assert_int_equal(route_with(mut_unknown_fields, &r, err, sizeof(err)), 0);
	k8s_httproute_free(&r);

	/* No error buffer: still an error code, no crash. */
	assert_int_equal(route_with(mut_weight_big, &r, NULL, 0), -EINVAL);
	/* A tiny one: cut, NUL-terminated. */
	assert_int_equal(route_with(mut_weight_big, &r, err, 10), -EINVAL);
	assert_string_equal(err, "httproute");
	/* Not even an object. */
	assert_int_equal(k8s_httproute_parse(NULL, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "httproute: not a JSON object (nothing)");
}

/* ---- robustness: every node of every reference object replaced by each JSON
 * type in turn; every parser must answer 0 or -EINVAL with a message. ---- */

static size_t count_nodes(const cJSON *n)
{
	size_t c = 1;

	for (const cJSON *ch = n->child; ch; ch = ch->next)
		c += count_nodes(ch);
	return c;
}

/* Replace the idx-th node (pre-order, root excluded) under n by repl. */
static bool replace_nth(cJSON *n, size_t *idx, cJSON *repl)
{
	for (cJSON *ch = n->child; ch; ch = ch->next) {
		if ((*idx)-- == 0) {
			cJSON_ReplaceItemViaPointer(n, ch, repl);
			return true;
		}
		if (replace_nth(ch, idx, repl))
			return true;
	}
	return false;
}

static int parse_any(const cJSON *j, char *err, size_t errlen)
{
	union {
		struct k8s_httproute r;
		struct k8s_gateway g;
		struct k8s_rollout ro;
		struct k8s_service s;
		struct k8s_endpointslice es;
	} u;
	int rc, worst = 0;

	rc = k8s_httproute_parse(j, &u.r, err, errlen);
	k8s_httproute_free(&u.r);
	worst |= rc && rc != -EINVAL;
	rc = k8s_gateway_parse(j, &u.g, err, errlen);
	k8s_gateway_free(&u.g);
	worst |= rc && rc != -EINVAL;
	rc = k8s_rollout_parse(j, &u.ro, err, errlen);
	k8s_rollout_free(&u.ro);
	worst |= rc && rc != -EINVAL;
	rc = k8s_service_parse(j, &u.s, err, errlen);
	k8s_service_free(&u.s);
	worst |= rc && rc != -EINVAL;
	rc = k8s_endpointslice_parse(j, &u.es, err, errlen);
	k8s_endpointslice_free(&u.es);
	worst |= rc && rc != -EINVAL;
	return worst;
}

static void test_mutations_do_not_crash(void **state)
{
	static const char *const files[] = {
		"httproute-canary-30-with-header-route.json", "gateway-agentgateway-proxy.json",
		"rollout-paused-step1-weight30.json", "service-stable.json",
		"endpointslice-canary-terminating.json",
	};
	static const char *const repls[] = { "null", "-7", "1e300", "\"x\"", "[]", "{}", "true", "[{}]" };
	char err[512];

	(void)state;
	for (size_t f = 0; f < sizeof(files) / sizeof(files[0]); f++) {
		cJSON *orig = ref_load(files[f]);
		size_t n = count_nodes(orig) - 1;

		for (size_t i = 0; i < n; i++) {
			for (size_t k = 0; k < sizeof(repls) / sizeof(repls[0]); k++) {
				cJSON *j = cJSON_Duplicate(orig, 1);
				size_t idx = i;

				assert_true(replace_nth(j, &idx, cJSON_Parse(repls[k])));
				if (parse_any(j, err, sizeof(err)))
					fail_msg("%s node %zu -> %s: unexpected error code", files[f], i, repls[k]);
				cJSON_Delete(j);
			}
		}
		cJSON_Delete(orig);
	}
}

/* ---- frontends annotation and IP helper ---- */

static void test_frontends(void **state)
{
	struct k8s_frontend *f;
	size_t n;
	char err[256];
	uint8_t v6[16];

	(void)state;
	assert_int_equal(k8s_frontends_parse("10.96.0.10:80/TCP,[fd00::a]:80/TCP", &f, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	expect_ip4(&f[0].ip, "10.96.0.10");
	assert_int_equal(f[0].port, 80);
	assert_int_equal(f[0].proto, IPPROTO_TCP);
	assert_int_equal(f[1].ip.family, AF_INET6);
	inet_pton(AF_INET6, "fd00::a", v6);
	assert_memory_equal(f[1].ip.addr, v6, 16);
	assert_int_equal(f[1].port, 80);
	assert_int_equal(f[1].proto, IPPROTO_TCP);
	free(f);

	assert_int_equal(k8s_frontends_parse(" 192.0.2.1:53/udp ", &f, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_int_equal(f[0].proto, IPPROTO_UDP);
	assert_int_equal(f[0].port, 53);
	free(f);

	static const struct {
		const char *in, *msg;
	} bad[] = {
		{ "", "item 1 \"\": empty" },
		{ "10.0.0.1:80,,10.0.0.2:80", "item 2 \"\": empty" },
		{ "10.0.0.1", "item 1 \"10.0.0.1\": port missing (want ADDR:PORT[/PROTO])" },
		{ "10.0.0.1:80,10.0.0.1:65536", "item 2 \"10.0.0.1:65536\": port 65536 out of range 1..65535" },
		{ "10.0.0.1:http", "item 1 \"10.0.0.1:http\": port \"http\" not a number" },
		{ "10.0.0.1:80/SCTP", "item 1 \"10.0.0.1:80/SCTP\": protocol \"SCTP\" unknown (TCP, UDP)" },
		{ "fd00::a:80", "item 1 \"fd00::a:80\": IPv6 addresses need brackets: [ADDR]:PORT" },
		{ "[fd00::a:80", "item 1 \"[fd00::a:80\": missing ']'" },
		{ "[fd00::a]80", "item 1 \"[fd00::a]80\": want [IPv6]:port" },
		{ "[10.0.0.1]:80", "item 1 \"[10.0.0.1]:80\": \"10.0.0.1\" not an IPv6 address" },
		{ "10.0.0.256:80", "item 1 \"10.0.0.256:80\": \"10.0.0.256\" not an IPv4 address" },
		{ "web.example:80", "item 1 \"web.example:80\": \"web.example\" not an IPv4 address" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(k8s_frontends_parse(bad[i].in, &f, &n, err, sizeof(err)), -EINVAL);
		assert_string_equal(err, bad[i].msg);
		assert_null(f);
		assert_int_equal(n, 0);
	}
}

static void test_ip_parse(void **state)
{
	struct k8s_ip ip;

	(void)state;
	assert_int_equal(k8s_ip_parse("10.244.1.12", &ip), 0);
	expect_ip4(&ip, "10.244.1.12");
	assert_int_equal(k8s_ip_parse("::ffff:10.0.0.1", &ip), 0);
	assert_int_equal(ip.family, AF_INET6);
	assert_int_equal(k8s_ip_parse("fe80::1%eth0", &ip), -EINVAL);
	assert_int_equal(ip.family, 0);
	assert_int_equal(k8s_ip_parse("", &ip), -EINVAL);
	assert_int_equal(k8s_ip_parse(" 10.0.0.1", &ip), -EINVAL);
	assert_int_equal(k8s_ip_parse(NULL, &ip), -EINVAL);
}

static void test_meta_and_status(void **state)
{
	struct k8s_meta m;
	struct k8s_status st;
	char err[256];
	cJSON *j = ref_load("status-410-expired-list.json");

	(void)state;
	assert_int_equal(k8s_status_parse(j, &st, err, sizeof(err)), 0);
	assert_int_equal(st.code, 410);
	assert_string_equal(st.reason, "Expired");
	assert_true(strncmp(st.message, "The provided continue parameter is too old", 42) == 0);
	assert_int_equal(strlen(st.message), 417);
	/* Long messages are cut to fit, never an error. */
	{
		cJSON *big = cJSON_CreateObject();
		char msg[2000];

		memset(msg, 'm', sizeof(msg) - 1);
		msg[sizeof(msg) - 1] = '\0';
		cJSON_AddStringToObject(big, "message", msg);
		cJSON_AddNumberToObject(big, "code", 500);
		assert_int_equal(k8s_status_parse(big, &st, err, sizeof(err)), 0);
		assert_int_equal(st.code, 500);
		assert_int_equal(strlen(st.message), sizeof(st.message) - 1);
		cJSON_Delete(big);
	}
	/* Status has empty metadata: no name. */
	assert_int_equal(k8s_meta_parse(j, "Status", &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "status: metadata.name missing");
	cJSON_Delete(j);

	j = ref_load("service-canary.json");
	assert_int_equal(k8s_meta_parse(j, "Service", &m, err, sizeof(err)), 0);
	assert_string_equal(m.name, "rollouts-demo-canary");
	assert_int_equal(k8s_meta_parse(j, "Pod", &m, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "pod: kind \"Service\", want Pod");
	cJSON_Delete(j);
}

/* Listener tls, hostname and allowedRoutes; label selectors. */
static void test_gateway_listener_attachment_fields(void **state)
{
	const char *json =
		"{\"metadata\":{\"name\":\"g\",\"namespace\":\"gw\"},\"spec\":{\"gatewayClassName\":\"c\",\"listeners\":["
		"{\"name\":\"http\",\"port\":80,\"protocol\":\"HTTP\",\"hostname\":\"*.Example.COM\"},"
		"{\"name\":\"https\",\"port\":443,\"protocol\":\"HTTPS\",\"allowedRoutes\":{\"namespaces\":{\"from\":\"All\"}}},"
		"{\"name\":\"tls\",\"port\":8443,\"protocol\":\"TLS\",\"tls\":{\"mode\":\"Passthrough\"},"
		" \"allowedRoutes\":{\"kinds\":[{\"kind\":\"TLSRoute\"}],\"namespaces\":{\"from\":\"Selector\","
		" \"selector\":{\"matchLabels\":{\"team\":\"a\"},\"matchExpressions\":[{\"key\":\"env\","
		" \"operator\":\"NotIn\",\"values\":[\"prod\",\"staging\"]}]}}}}]}}";
	struct k8s_label labels[3] = { { "team", "a" }, { "env", "dev" }, { "kubernetes.io/metadata.name", "x" } };
	struct k8s_gateway g;
	char err[256];
	cJSON *j = cJSON_Parse(json);

	(void)state;
	assert_int_equal(k8s_gateway_parse(j, &g, err, sizeof(err)), 0);
	assert_int_equal(g.n_listeners, 3);
	assert_string_equal(g.listeners[0].hostname, "*.example.com");
	assert_int_equal(g.listeners[0].tls_mode, K8S_TLS_NONE);
	assert_int_equal(g.listeners[0].from, K8S_FROM_SAME); /* the API's default */
	assert_int_equal(g.listeners[1].tls_mode, K8S_TLS_TERMINATE); /* HTTPS without tls: Terminate */
	assert_int_equal(g.listeners[1].from, K8S_FROM_ALL);
	assert_int_equal(g.listeners[2].tls_mode, K8S_TLS_PASSTHROUGH);
	assert_int_equal(g.listeners[2].from, K8S_FROM_SELECTOR);
	assert_int_equal(g.listeners[2].n_kinds, 1);
	assert_string_equal(g.listeners[2].kinds[0].group, "gateway.networking.k8s.io");
	assert_string_equal(g.listeners[2].kinds[0].kind, "TLSRoute");
	assert_true(k8s_selector_matches(&g.listeners[2].selector, labels, 3));
	snprintf(labels[1].value, sizeof(labels[1].value), "prod");
	assert_false(k8s_selector_matches(&g.listeners[2].selector, labels, 3));
	assert_false(k8s_selector_matches(&g.listeners[2].selector, labels + 1, 2)); /* no team label */
	k8s_gateway_free(&g);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"g\",\"namespace\":\"gw\"},\"spec\":{\"gatewayClassName\":\"c\","
			"\"listeners\":[{\"name\":\"l\",\"port\":1,\"protocol\":\"TCP\",\"allowedRoutes\":{\"namespaces\":"
			"{\"from\":\"Selector\"}}}]}}");
	assert_int_equal(k8s_gateway_parse(j, &g, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "gateway gw/g: listeners[0].allowedRoutes.namespaces.selector missing (from: Selector)");
	cJSON_Delete(j);
}

/* Namespaces carry kubernetes.io/metadata.name; ReferenceGrants; route kinds, hostnames
 * and creation times. */
static void test_namespace_grant_route_kinds(void **state)
{
	struct k8s_namespace ns;
	struct k8s_refgrant rg;
	struct k8s_httproute r;
	char err[256];
	cJSON *j;

	(void)state;
	j = cJSON_Parse("{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"apps\",\"labels\":{\"team\":\"a\"}}}");
	assert_int_equal(k8s_namespace_parse(j, &ns, err, sizeof(err)), 0);
	assert_int_equal(ns.n_labels, 2);
	assert_string_equal(ns.labels[1].key, "kubernetes.io/metadata.name");
	assert_string_equal(ns.labels[1].value, "apps");
	k8s_namespace_free(&ns);
	cJSON_Delete(j);

	j = cJSON_Parse("{\"metadata\":{\"name\":\"g\",\"namespace\":\"default\"},\"spec\":{"
			"\"from\":[{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"HTTPRoute\",\"namespace\":\"apps\"}],"
			"\"to\":[{\"group\":\"\",\"kind\":\"Service\",\"name\":\"web\"}]}}");
	assert_int_equal(k8s_refgrant_parse(j, &rg, err, sizeof(err)), 0);
	assert_int_equal(rg.n_from, 1);
	assert_string_equal(rg.from[0].ns, "apps");
	assert_int_equal(rg.n_to, 1);
	assert_string_equal(rg.to[0].name, "web");
	k8s_refgrant_free(&rg);
	cJSON_Delete(j);
	j = cJSON_Parse("{\"metadata\":{\"name\":\"g\",\"namespace\":\"default\"},\"spec\":{\"from\":[{\"kind\":\"HTTPRoute\"}]}}");
	assert_int_equal(k8s_refgrant_parse(j, &rg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "referencegrant default/g: from[0].namespace missing");
	cJSON_Delete(j);

	j = cJSON_Parse("{\"kind\":\"TLSRoute\",\"metadata\":{\"name\":\"t\",\"namespace\":\"d\","
			"\"creationTimestamp\":\"2026-09-01T09:00:03Z\"},\"spec\":{\"hostnames\":[\"A.example.com\"],"
			"\"rules\":[{\"backendRefs\":[{\"name\":\"s\",\"port\":443}]}]}}");
	assert_int_equal(k8s_route_parse(j, K8S_ROUTE_TLS, &r, err, sizeof(err)), 0);
	assert_int_equal(r.kind, K8S_ROUTE_TLS);
	assert_int_equal(r.meta.created, 1788253203); /* date -d 2026-09-01T09:00:03Z +%s */
	assert_int_equal(r.n_hostnames, 1);
	assert_string_equal(r.hostnames[0], "a.example.com");
	assert_int_equal(r.n_rules, 1);
	assert_int_equal(r.rules[0].l7_flags, 0);
	k8s_httproute_free(&r);
	/* the kind is checked */
	assert_int_equal(k8s_route_parse(j, K8S_ROUTE_TCP, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "tcproute: kind \"TLSRoute\", want TCPRoute");
	cJSON_Delete(j);
	j = cJSON_Parse("{\"metadata\":{\"name\":\"t\",\"namespace\":\"d\",\"creationTimestamp\":\"yesterday\"},"
			"\"spec\":{}}");
	assert_int_equal(k8s_httproute_parse(j, &r, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "httproute d/t: metadata.creationTimestamp \"yesterday\": want RFC 3339 time");
	cJSON_Delete(j);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_gateway_listener_attachment_fields),
		cmocka_unit_test(test_namespace_grant_route_kinds),
		cmocka_unit_test(test_route_defaulted),
		cmocka_unit_test(test_route_steady_state),
		cmocka_unit_test(test_route_canary_30),
		cmocka_unit_test(test_route_header_route),
		cmocka_unit_test(test_route_weight_absent_defaults_to_1),
		cmocka_unit_test(test_route_l7_flags),
		cmocka_unit_test(test_route_annotations),
		cmocka_unit_test(test_gateway),
		cmocka_unit_test(test_rollout_healthy_green),
		cmocka_unit_test(test_rollout_paused),
		cmocka_unit_test(test_rollout_aborted),
		cmocka_unit_test(test_rollout_promoted),
		cmocka_unit_test(test_rollout_variants),
		cmocka_unit_test(test_services),
		cmocka_unit_test(test_service_variants),
		cmocka_unit_test(test_slices),
		cmocka_unit_test(test_slice_condition_defaults),
		cmocka_unit_test(test_slice_bad),
		cmocka_unit_test(test_list_httproutes),
		cmocka_unit_test(test_list_endpointslices),
		cmocka_unit_test(test_list_continue_and_errors),
		cmocka_unit_test(test_watch_route_progress),
		cmocka_unit_test(test_watch_promotion_streams),
		cmocka_unit_test(test_watch_error_410),
		cmocka_unit_test(test_watch_event_bad),
		cmocka_unit_test(test_watch_event_truncated),
		cmocka_unit_test(test_route_bad),
		cmocka_unit_test(test_mutations_do_not_crash),
		cmocka_unit_test(test_frontends),
		cmocka_unit_test(test_ip_parse),
		cmocka_unit_test(test_meta_and_status),
	};

	return cmocka_run_group_tests_name("k8s_objects", tests, NULL, NULL);
}
