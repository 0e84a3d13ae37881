// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/reconcile.c over the in-memory writer (no root needed): the diff
 * writes only what changed, removes only what the agent owns, keeps the last good spec,
 * coalesces bursts, retries failed writes, reuses what a previous run left in the maps.
 * Reference objects from $BPFSPLIT_K8S_REFERENCE (default tests/fixtures/k8s). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "desired.h"
#include "dp_writer.h"
#include "log.h"
#include "reconcile.h"

#include "reference.h"

#define SEC 1000000000ull
#define T0 (1000 * SEC)
#define DRAIN (300 * SEC)
#define FE "172.18.255.200:80/tcp"
#define ROUTE "default/argo-rollouts-http-route"

/* ---- fixtures ---- */

static void put_obj(struct cache *c, enum cache_kind k, const cJSON *obj)
{
	char err[512];

	cache_upsert(c, k, obj, T0, err, sizeof(err));
}

static void put(struct cache *c, enum cache_kind k, const char *file)
{
	cJSON *j = ref_load(file);
	char err[512];

	assert_true(cache_upsert(c, k, j, T0, err, sizeof(err)) >= 0);
	if (err[0])
		fail_msg("rejected: %s", err);
	cJSON_Delete(j);
}

static void set_num(cJSON *o, const char *key, double v)
{
	cJSON_DeleteItemFromObjectCaseSensitive(o, key);
	cJSON_AddNumberToObject(o, key, v);
}

static void set_rv(cJSON *o, unsigned int rv)
{
	cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
	char buf[32];

	snprintf(buf, sizeof(buf), "%u", rv);
	cJSON_DeleteItemFromObjectCaseSensitive(md, "resourceVersion");
	cJSON_AddStringToObject(md, "resourceVersion", buf);
}

static cJSON *backend_ref(cJSON *route, int k)
{
	cJSON *rules = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(route, "spec"), "rules");

	return cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(rules, 0), "backendRefs"), k);
}

/* The route with these weights, at resourceVersion rv. */
static void put_weights(struct cache *c, unsigned int stable, unsigned int canary, unsigned int rv)
{
	cJSON *r = ref_load("httproute-canary-30.json");

	set_num(backend_ref(r, 0), "weight", stable);
	set_num(backend_ref(r, 1), "weight", canary);
	set_rv(r, rv);
	put_obj(c, CACHE_HTTPROUTE, r);
	cJSON_Delete(r);
}

struct world {
	struct cache *c;
	struct desired_opts o;
	struct dp_writer *w;
	struct reconciler *r;
	struct reconcile_stats st;
	unsigned int writes, removes, failures;
	uint64_t last_done;
};

static uint64_t fake_clock(void)
{
	return T0 + 5000000; /* 5 ms after T0 */
}

static void on_write(void *ctx, const struct bs_frontend_key *key, enum reconcile_action a, const char *owner,
		     uint64_t done)
{
	struct world *w = ctx;

	if (a == RA_APPLIED)
		w->writes++;
	else if (a == RA_REMOVED)
		w->removes++;
	else
		w->failures++;
	w->last_done = done;
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	bs_log_set_level(BS_LOG_WARN);
	w->c = cache_new();
	put(w->c, CACHE_HTTPROUTE, "httproute-canary-30.json");
	put(w->c, CACHE_GATEWAY, "gateway-agentgateway-proxy.json");
	put(w->c, CACHE_SERVICE, "service-stable.json");
	put(w->c, CACHE_SERVICE, "service-canary.json");
	put(w->c, CACHE_ENDPOINTSLICE, "endpointslice-stable.json");
	put(w->c, CACHE_ENDPOINTSLICE, "endpointslice-canary-30.json");
	w->o.gateway_classes[0] = "agentgateway";
	w->o.n_gateway_classes = 1;
	w->o.now_ns = T0;
	w->o.drain_timeout_ns = DRAIN;
	assert_int_equal(dp_writer_mem_new(&w->w), 0);
	assert_int_equal(reconciler_new(w->w, &w->r), 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	reconciler_free(w->r);
	w->w->destroy(w->w);
	cache_free(w->c);
	free(w);
	return 0;
}

/* Compute the desired state from the cache and reconcile once. */
static int run(struct world *w, bool full, bool allow_remove)
{
	struct reconcile_run_opts ro = {
		.full = full, .allow_remove = allow_remove, .batch_start_ns = T0,
		.on_write = on_write, .ctx = w, .clock_ns = fake_clock,
	};
	struct desired d;
	int rc;

	assert_int_equal(desired_compute(w->c, &w->o, &d), 0);
	rc = reconcile_run(w->r, &d, &ro, &w->st);
	desired_free(&d);
	return rc;
}

static struct bs_frontend_key key_of(const char *s)
{
	struct bs_frontend_key k;

	assert_int_equal(bs_frontend_key_parse(s, &k), 0);
	return k;
}

/* What the "maps" hold for s; weights of groups 0 and 1. */
static void assert_weights(struct world *w, const char *s, unsigned int w0, unsigned int w1)
{
	struct bs_frontend_key k = key_of(s);
	struct bs_frontend_spec spec;

	assert_int_equal(w->w->read(w->w, &k, &spec), 0);
	assert_int_equal(spec.n_groups, 2);
	assert_int_equal(spec.groups[0].weight, w0);
	assert_int_equal(spec.groups[1].weight, w1);
	bs_frontend_spec_free(&spec);
}

/* A frontend written by someone else (the CLI). */
static void cli_write(struct world *w, const char *s, unsigned int weight)
{
	struct bs_frontend_spec spec = { 0 };
	struct bs_backend_spec be = { 0 };
	char err[256];

	spec.key = key_of(s);
	spec.n_groups = 1;
	snprintf(spec.groups[0].name, sizeof(spec.groups[0].name), "cli");
	spec.groups[0].weight = weight;
	assert_int_equal(bs_endpoint_parse("10.1.1.1:80", be.addr, &be.port, &be.family), 0);
	be.state = BS_BACKEND_READY;
	spec.groups[0].n_backends = 1;
	spec.groups[0].backends = &be;
	assert_int_equal(w->w->apply(w->w, &spec, err, sizeof(err)), 0);
}

/* ---- tests ---- */

static void test_first_run_applies_then_nothing(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);
	struct dp_writer_mem_stats ms;

	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.desired, 1);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(w->st.failed, 0);
	assert_int_equal(w->st.owned, 1);
	assert_int_equal(w->writes, 1);
	assert_int_equal(w->last_done, T0 + 5000000);
	assert_true(reconciler_owns(w->r, &k));
	assert_weights(w, FE, 70, 30);

	/* Nothing changed: no read, no write. */
	dp_writer_mem_reset_stats(w->w);
	assert_int_equal(run(w, false, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.applies, 0);
	assert_int_equal(ms.reads, 0);
	assert_int_equal(w->st.checked, 0);

	/* A full pass reads back, finds the maps equal, writes nothing. */
	assert_int_equal(run(w, true, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.applies, 0);
	assert_int_equal(w->st.checked, 1);
	assert_int_equal(w->st.unchanged, 1);
}

/* Two routes, two frontends: a weight change of one writes only that one. */
static void test_writes_only_changed(void **state)
{
	struct world *w = *state;
	cJSON *r2 = ref_load("httproute-as-applied-defaulted.json");
	cJSON *md = cJSON_GetObjectItemCaseSensitive(r2, "metadata");
	struct bs_frontend_key k1 = key_of(FE), k2 = key_of("10.96.0.10:80/tcp");

	cJSON_DeleteItemFromObjectCaseSensitive(md, "name");
	cJSON_AddStringToObject(md, "name", "other-route");
	cJSON_AddItemToObject(md, "annotations", cJSON_CreateObject());
	cJSON_AddStringToObject(cJSON_GetObjectItemCaseSensitive(md, "annotations"), K8S_ANN_FRONTENDS,
				"10.96.0.10:80/TCP");
	put_obj(w->c, CACHE_HTTPROUTE, r2);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 2);
	assert_weights(w, "10.96.0.10:80/tcp", 1, 1);

	put_weights(w->c, 40, 60, 900100);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(w->st.checked, 1);
	assert_int_equal(dp_writer_mem_apply_count(w->w, &k1), 2);
	assert_int_equal(dp_writer_mem_apply_count(w->w, &k2), 1);
	assert_weights(w, FE, 40, 60);

	/* An endpoint change reaches only the frontends whose Services it touches. */
	put(w->c, CACHE_ENDPOINTSLICE, "endpointslice-canary-terminating.json");
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 2); /* both routes use the canary Service */
	cJSON_Delete(r2);
}

/* Only owned frontends are removed, and only once removal is allowed. */
static void test_removes_only_owned(void **state)
{
	struct world *w = *state;
	cJSON *r = ref_load("httproute-canary-30.json");
	struct bs_frontend_key k = key_of(FE), cli = key_of("10.0.0.99:80/tcp");

	cli_write(w, "10.0.0.99:80/tcp", 1);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(w->st.not_owned, 1);
	assert_false(reconciler_owns(w->r, &cli));
	assert_int_equal(dp_writer_mem_size(w->w), 2);

	/* The route goes: before the first full sync nothing may be removed... */
	cache_delete(w->c, CACHE_HTTPROUTE, r, T0);
	assert_int_equal(run(w, false, false), 0);
	assert_int_equal(w->st.removed, 0);
	assert_int_equal(dp_writer_mem_size(w->w), 2);
	/* ... after it, our frontend goes and the CLI's stays. */
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.removed, 1);
	assert_int_equal(w->removes, 1);
	assert_int_equal(dp_writer_mem_size(w->w), 1);
	assert_false(reconciler_owns(w->r, &k));
	{
		struct bs_frontend_spec s;

		assert_int_equal(w->w->read(w->w, &k, &s), -ENOENT);
		assert_int_equal(w->w->read(w->w, &cli, &s), 0);
		bs_frontend_spec_free(&s);
	}
	/* Later passes leave the CLI's frontend alone too. */
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.removed, 0);
	assert_int_equal(dp_writer_mem_size(w->w), 1);
	cJSON_Delete(r);
}

/* A restarted agent finds its frontend in the maps: equal, nothing written, owned. */
static void test_restart_reuses_maps(void **state)
{
	struct world *w = *state;
	struct reconciler *r2;
	struct bs_frontend_key k = key_of(FE);
	cJSON *r = ref_load("httproute-canary-30.json");

	assert_int_equal(run(w, true, true), 0);
	/* "Restart": a new reconciler over the same maps. */
	reconciler_free(w->r);
	assert_int_equal(reconciler_new(w->w, &r2), 0);
	w->r = r2;
	dp_writer_mem_reset_stats(w->w);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 0);
	assert_int_equal(w->st.unchanged, 1);
	assert_true(reconciler_owns(w->r, &k));
	/* Owned although not written by this process: removed when its route goes. */
	cache_delete(w->c, CACHE_HTTPROUTE, r, T0);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.removed, 1);
	cJSON_Delete(r);
}

/* A restarted agent whose desired spec differs from the maps overwrites in place. */
static void test_restart_stale_maps_updated(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);

	cli_write(w, FE, 5);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(w->st.not_owned, 0);
	assert_true(reconciler_owns(w->r, &k));
	assert_weights(w, FE, 70, 30);
}

/* Bad objects: the last good spec stays in force and is re-applied after drift. */
static void test_last_good_kept(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);
	cJSON *bad = ref_load("httproute-canary-30.json");
	cJSON *svc = ref_load("service-canary.json");
	const struct bs_frontend_spec *lg;

	assert_int_equal(run(w, true, true), 0);
	assert_weights(w, FE, 70, 30);

	/* Weight out of range: the route's last good version stays, nothing written. */
	set_num(backend_ref(bad, 1), "weight", 1000001);
	set_rv(bad, 900200);
	put_obj(w->c, CACHE_HTTPROUTE, bad);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 0);
	assert_weights(w, FE, 70, 30);

	/* A fixed version at 60 applies; then the canary Service goes missing: blocked,
	 * the 40/60 split stays. */
	put_weights(w->c, 40, 60, 900201);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 1);
	cache_delete(w->c, CACHE_SERVICE, svc, T0);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.blocked, 1);
	assert_int_equal(w->st.applied, 0);
	assert_int_equal(w->st.removed, 0);
	assert_weights(w, FE, 40, 60);
	lg = reconciler_last_good(w->r, &k);
	assert_non_null(lg);
	assert_int_equal(lg->groups[1].weight, 60);
	/* Someone overwrites the frontend: a full pass puts the last good spec back. */
	cli_write(w, FE, 9);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_weights(w, FE, 40, 60);
	/* Still blocked and the route is meanwhile patched: still nothing written. */
	put_weights(w->c, 10, 90, 900202);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 0);
	assert_weights(w, FE, 40, 60);
	/* The Service is back: the newest weights apply. */
	put_obj(w->c, CACHE_SERVICE, svc);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_weights(w, FE, 10, 90);
	cJSON_Delete(svc);
	cJSON_Delete(bad);
}

/* Blocked on the first run after a restart: what the maps hold is kept as last good. */
static void test_blocked_after_restart_adopts_maps(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);
	cJSON *svc = ref_load("service-canary.json");

	assert_int_equal(run(w, true, true), 0);
	reconciler_free(w->r);
	assert_int_equal(reconciler_new(w->w, &w->r), 0);
	cache_delete(w->c, CACHE_SERVICE, svc, T0);
	dp_writer_mem_reset_stats(w->w);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 0);
	assert_int_equal(w->st.removed, 0);
	assert_true(reconciler_owns(w->r, &k));
	assert_non_null(reconciler_last_good(w->r, &k));
	assert_weights(w, FE, 70, 30);
	cJSON_Delete(svc);
}

/* A burst of 100 weight patches between two passes: one write per frontend. */
static void test_burst_coalesces(void **state)
{
	struct world *w = *state;
	cJSON *g = ref_load("gateway-agentgateway-proxy.json");
	cJSON *addrs = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(g, "status"), "addresses");
	cJSON *a2 = cJSON_CreateObject();
	struct bs_frontend_key k1 = key_of(FE), k2 = key_of("172.18.255.201:80/tcp");
	struct dp_writer_mem_stats ms;

	/* A Gateway with two addresses: two frontends from one route. */
	cJSON_AddStringToObject(a2, "type", "IPAddress");
	cJSON_AddStringToObject(a2, "value", "172.18.255.201");
	cJSON_AddItemToArray(addrs, a2);
	set_rv(g, 900300);
	put_obj(w->c, CACHE_GATEWAY, g);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 2);
	dp_writer_mem_reset_stats(w->w);

	for (unsigned int i = 1; i <= 100; i++)
		put_weights(w->c, 100 - i / 2, i, 900300 + i);
	assert_int_equal(run(w, false, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.applies, 2);
	assert_int_equal(ms.applies_changed, 2);
	assert_int_equal(w->st.applied, 2);
	assert_int_equal(dp_writer_mem_apply_count(w->w, &k1), 2);
	assert_int_equal(dp_writer_mem_apply_count(w->w, &k2), 2);
	assert_weights(w, FE, 50, 100);
	assert_weights(w, "172.18.255.201:80/tcp", 50, 100);
	cJSON_Delete(g);
}

/* A failed write is reported and retried on the next pass, even with nothing new. */
static void test_failed_write_retried(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);

	dp_writer_mem_fail(w->w, &k, -ENOSPC, 1);
	assert_int_equal(run(w, false, true), -EAGAIN);
	assert_int_equal(w->st.failed, 1);
	assert_int_equal(w->failures, 1);
	assert_int_equal(dp_writer_mem_size(w->w), 0);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_weights(w, FE, 70, 30);
}

/* The route and Rollout of each frontend are stored beside it (the writer's info op):
 * with the first write, again only when they change (a Rollout step moves them without
 * touching the spec), not at all when nothing changed, and again after the frontend was
 * written afresh. */
static void test_info_stored_when_changed(void **state)
{
	struct world *w = *state;
	struct bs_frontend_key k = key_of(FE);
	struct dp_writer_mem_stats ms;
	struct bs_frontend_info fi;
	cJSON *ro;

	put(w->c, CACHE_ROLLOUT, "rollout-paused-step1-weight30.json");
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(w->st.info_writes, 1);
	assert_int_equal(dp_writer_mem_get_info(w->w, &k, &fi), 0);
	assert_string_equal(fi.route, ROUTE);
	assert_string_equal(fi.rollout, "default/rollouts-demo");
	assert_int_equal(fi.step, 1);
	assert_int_equal(fi.n_steps, 6);
	assert_string_equal(fi.phase, "Paused");
	assert_int_equal(fi.paused, 1);
	assert_int_equal(fi.aborted, 0);
	assert_int_equal(fi.rollout_canary_weight, 30);

	/* Nothing changed: no info call. */
	dp_writer_mem_reset_stats(w->w);
	assert_int_equal(run(w, false, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.infos, 0);
	/* A full pass hands it over again; the writer finds it identical. */
	assert_int_equal(run(w, true, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.infos, 1);
	assert_int_equal(ms.infos_changed, 0);

	/* Argo moves to step 2 (status only: the route's weights are unchanged). */
	ro = ref_load("rollout-paused-step1-weight30.json");
	set_num(cJSON_GetObjectItemCaseSensitive(ro, "status"), "currentStepIndex", 2);
	set_rv(ro, 900200);
	put_obj(w->c, CACHE_ROLLOUT, ro);
	dp_writer_mem_reset_stats(w->w);
	assert_int_equal(run(w, false, true), 0);
	dp_writer_mem_get_stats(w->w, &ms);
	assert_int_equal(ms.applies, 0);
	assert_int_equal(ms.infos, 1);
	assert_int_equal(ms.infos_changed, 1);
	assert_int_equal(dp_writer_mem_get_info(w->w, &k, &fi), 0);
	assert_int_equal(fi.step, 2);

	/* Someone removes the frontend (its info goes with it): the next full pass writes
	 * both back. */
	assert_int_equal(w->w->remove(w->w, &k), 0);
	assert_int_equal(dp_writer_mem_get_info(w->w, &k, &fi), -ENOENT);
	assert_int_equal(run(w, true, true), 0);
	assert_int_equal(w->st.applied, 1);
	assert_int_equal(dp_writer_mem_get_info(w->w, &k, &fi), 0);
	assert_int_equal(fi.step, 2);
	assert_string_equal(fi.rollout, "default/rollouts-demo");

	/* The Rollout goes: the route alone. */
	cache_delete(w->c, CACHE_ROLLOUT, ro, T0);
	assert_int_equal(run(w, false, true), 0);
	assert_int_equal(dp_writer_mem_get_info(w->w, &k, &fi), 0);
	assert_string_equal(fi.route, ROUTE);
	assert_string_equal(fi.rollout, "");
	assert_int_equal(fi.step, -1);
	cJSON_Delete(ro);
}

/* Spec helpers: equality ignores backend order, sees states and weights. */
static void test_spec_equal(void **state)
{
	struct bs_frontend_spec a = { 0 }, b = { 0 };
	struct bs_backend_spec ba[3] = { 0 }, bb[3] = { 0 };
	const char *eps[3] = { "10.0.0.3:80", "10.0.0.1:80", "10.0.0.2:80" };
	char sum[256];

	a.key = key_of("10.96.0.1:80/tcp");
	a.n_groups = 1;
	snprintf(a.groups[0].name, sizeof(a.groups[0].name), "default/x");
	a.groups[0].weight = 5;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(bs_endpoint_parse(eps[i], ba[i].addr, &ba[i].port, &ba[i].family), 0);
		ba[i].state = BS_BACKEND_READY;
		bb[2 - i] = ba[i];
	}
	a.groups[0].backends = ba;
	a.groups[0].n_backends = 3;
	b = a;
	b.groups[0].backends = bb;
	assert_true(dp_spec_equal(&a, &b));
	bb[0].state = BS_BACKEND_DRAINING;
	assert_false(dp_spec_equal(&a, &b));
	bb[0].state = BS_BACKEND_READY;
	b.groups[0].weight = 6;
	assert_false(dp_spec_equal(&a, &b));
	b.groups[0].weight = 5;
	b.affinity = BS_AFFINITY_CLIENT;
	assert_false(dp_spec_equal(&a, &b));
	ba[1].state = BS_BACKEND_DRAINING;
	dp_spec_summary(&a, sum, sizeof(sum));
	assert_string_equal(sum, "default/x=5(2 ready,1 draining)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_first_run_applies_then_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_writes_only_changed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removes_only_owned, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_reuses_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_stale_maps_updated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_last_good_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked_after_restart_adopts_maps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_coalesces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_write_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_info_stored_when_changed, setup, teardown),
		cmocka_unit_test(test_spec_equal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
