// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer harness: the Kubernetes object parser (agent/k8s/objects.c). One input is
 * a JSON text handed to every entry point the agent feeds from the API server: LIST
 * bodies, watch lines, and each object kind, plus the frontends annotation. Under ASan
 * and UBSan any overflow, leak or undefined behaviour is a crash; on top, a successful
 * parse must satisfy the contract of objects.h (names set, arrays and counts agree,
 * weights in range). */
#include <assert.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/objects.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)
#include <stdio.h>

static void check_meta(const struct k8s_meta *m)
{
	CHECK(m->name[0]);
	CHECK(memchr(m->name, 0, sizeof(m->name)));
	CHECK(memchr(m->ns, 0, sizeof(m->ns)));
}

static void objects(const cJSON *o)
{
	char err[256];
	struct k8s_httproute r = {};
	struct k8s_gateway g = {};
	struct k8s_rollout ro = {};
	struct k8s_service s = {};
	struct k8s_endpointslice es = {};
	struct k8s_status st = {};
	struct k8s_meta m = {};

	if (!k8s_httproute_parse(o, &r, err, sizeof(err))) {
		check_meta(&r.meta);
		CHECK(!r.n_rules || r.rules);
		for (size_t i = 0; i < r.n_rules; i++)
			for (size_t b = 0; b < r.rules[i].n_backends; b++)
				CHECK(r.rules[i].backends[b].weight <= K8S_WEIGHT_MAX);
		CHECK(!r.n_frontends || r.frontends);
		for (size_t i = 0; i < r.n_frontends; i++)
			CHECK(r.frontends[i].port >= 1);
	} else {
		CHECK(err[0]);
	}
	k8s_httproute_free(&r);
	if (!k8s_gateway_parse(o, &g, err, sizeof(err)))
		check_meta(&g.meta);
	k8s_gateway_free(&g);
	if (!k8s_rollout_parse(o, &ro, err, sizeof(err))) {
		check_meta(&ro.meta);
		for (size_t i = 0; i < ro.n_steps; i++)
			if (ro.steps[i].type == K8S_STEP_SET_WEIGHT)
				CHECK(ro.steps[i].weight >= 0 && ro.steps[i].weight <= K8S_WEIGHT_MAX);
	}
	k8s_rollout_free(&ro);
	if (!k8s_service_parse(o, &s, err, sizeof(err)))
		check_meta(&s.meta);
	k8s_service_free(&s);
	if (!k8s_endpointslice_parse(o, &es, err, sizeof(err))) {
		check_meta(&es.meta);
		for (size_t i = 0; i < es.n_endpoints; i++)
			CHECK(!es.endpoints[i].n_addresses || es.endpoints[i].addresses);
	}
	k8s_endpointslice_free(&es);
	k8s_status_parse(o, &st, err, sizeof(err));
	CHECK(memchr(st.message, 0, sizeof(st.message)));
	k8s_meta_parse(o, "object", &m, err, sizeof(err));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];
	struct k8s_list l = {};
	struct k8s_watch_event ev = {};
	cJSON *root = cJSON_ParseWithLength((const char *)data, size);

	if (root) {
		const cJSON *items = cJSON_GetObjectItemCaseSensitive(root, "items");
		const cJSON *it;

		objects(root);
		cJSON_ArrayForEach(it, items)
			objects(it);
		cJSON_Delete(root);
	}
	if (!k8s_list_parse((const char *)data, size, &l, err, sizeof(err))) {
		CHECK(!l.n_items || l.items);
		for (size_t i = 0; i < l.n_items; i++)
			objects(l.items[i]);
	}
	k8s_list_free(&l);
	if (!k8s_watch_event_parse((const char *)data, size, &ev, err, sizeof(err))) {
		CHECK(ev.type >= K8S_EVENT_ADDED && ev.type <= K8S_EVENT_ERROR);
		if (ev.object)
			objects(ev.object);
	}
	k8s_watch_event_free(&ev);

	/* The frontends annotation on its own: a C string. */
	if (size < 4096) {
		char *s = malloc(size + 1);
		struct k8s_frontend *fe = NULL;
		size_t n = 0;

		memcpy(s, data, size);
		s[size] = 0;
		if (!k8s_frontends_parse(s, &fe, &n, err, sizeof(err))) {
			for (size_t i = 0; i < n; i++)
				CHECK(fe[i].port >= 1 && (fe[i].proto == 6 || fe[i].proto == 17));
		}
		free(fe);
		free(s);
	}
	return 0;
}
