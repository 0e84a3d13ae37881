// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit status: the links, then each frontend with where it comes from (route,
 * rollout, step and phase, stored by the agent beside the maps), each group's configured
 * weight and the share of new connections it actually got over a window, and each
 * backend with its state, open connections and counters.
 * bpfsplit watch: the same again every interval, the window being the interval. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "output.h"
#include "view.h"

#define MAX_WINDOW_S 3600

struct links {
	cJSON *arr;
	char text[1024];
};

static int link_cb(const struct bs_link_info *li, void *arg)
{
	struct links *l = arg;
	size_t len = strlen(l->text);

	if (l->arr) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "ifname", li->ifname);
		cJSON_AddStringToObject(j, "entry", bs_entry_name(li->entry));
		cJSON_AddStringToObject(j, "mode", li->mode);
		cJSON_AddNumberToObject(j, "prog_id", li->prog_id);
		cJSON_AddItemToArray(l->arr, j);
	}
	snprintf(l->text + len, sizeof(l->text) - len, "%s%s on %s (%s)", len ? ", " : "", bs_entry_name(li->entry),
		 li->ifname, li->mode);
	return 0;
}

static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void sleep_ns(__u64 ns)
{
	struct timespec ts = { ns / 1000000000ULL, ns % 1000000000ULL };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

/* "--window 1", "--interval 0.5": seconds, 0 allowed when zero_ok. */
static int parse_seconds(const char *obj, const char *opt, const char *s, bool zero_ok, double *out)
{
	char *end;
	double secs = strtod(s, &end);

	if (*end || end == s || !(secs >= 0 && secs <= MAX_WINDOW_S) || (secs > 0 && secs < 0.01) ||
	    (!zero_ok && secs < 0.1))
		return cli_usage(obj, "%s: %s '%s': expected seconds, %s..%d", obj, opt, s,
				 zero_ok ? "0 (cumulative) or 0.01" : "0.1", MAX_WINDOW_S);
	*out = secs;
	return 0;
}

/* ---- one rendering: the sample now, against the sample at the start of the window ---- */

struct round {
	const struct view_frontend *v;    /* now */
	size_t n;
	bool windowed;                    /* false: cumulative (since the ids were allocated) */
	const struct view_frontend *prev; /* at the start of the window */
	size_t n_prev;
	double window_s;                  /* measured between the two samples; 0: cumulative */
};

static const struct view_frontend *prev_frontend(const struct round *r, const struct view_frontend *v)
{
	for (size_t f = 0; f < r->n_prev; f++)
		if (!view_key_cmp(&r->prev[f].key, &v->key) && r->prev[f].fe.id == v->fe.id)
			return &r->prev[f];
	return NULL;
}

/* A counter over the window: its growth since the window began. A backend or frontend
 * that appeared meanwhile started from zero (ids get zeroed counters). */
static __u64 growth(__u64 now, const __u64 *before)
{
	return before && now >= *before ? now - *before : now;
}

/* The same group of the same frontend at the start of the window (NULL: none, or renamed). */
static const struct view_group *prev_group(const struct view_frontend *pf, const struct view_frontend *v, __u32 g)
{
	if (!pf || g >= pf->n_groups || strcmp(pf->groups[g].name, v->groups[g].name))
		return NULL;
	return &pf->groups[g];
}

static const struct view_backend *prev_member(const struct view_group *pg, const struct view_backend *vb)
{
	for (__u32 i = 0; pg && i < pg->n_backends; i++)
		if (pg->backends[i].id == vb->id && !memcmp(&pg->backends[i].spec, &vb->spec, offsetof(struct bs_backend_spec, state)))
			return &pg->backends[i];
	return NULL;
}

/* New connections a backend took as a member of group g over the window (cumulative:
 * since the frontend id was allocated). Counted per group, so that a backend listed by
 * two groups is not counted twice. */
static __u64 backend_observed(const struct round *r, const struct view_frontend *v, __u32 g,
			      const struct view_backend *vb)
{
	const struct view_backend *p;

	if (vb->id == BS_ID_NONE)
		return 0;
	if (!r->windowed)
		return view_health_new(&vb->health, NULL);
	p = prev_member(prev_group(prev_frontend(r, v), v, g), vb);
	return view_health_new(&vb->health, p ? &p->health : NULL);
}

struct fe_observed {
	__u64 group[BS_MAX_GROUPS];
	__u64 failed[BS_MAX_GROUPS];
	double hs_p50[BS_MAX_GROUPS], hs_p99[BS_MAX_GROUPS]; /* seconds; -1: no handshake seen */
	__u64 total;        /* over every group: the denominator of the observed shares */
	__u64 new_conns;    /* the frontend's own counters over the window */
	__u64 rejected;
	__u64 listed_active; /* open connections to the backends listed */
};

static void observe(const struct round *r, const struct view_frontend *v, struct fe_observed *o)
{
	const struct view_frontend *pf = r->windowed ? prev_frontend(r, v) : NULL;

	memset(o, 0, sizeof(*o));
	for (__u32 g = 0; g < v->n_groups; g++) {
		const struct view_group *pg = prev_group(pf, v, g);
		const struct bs_health *ph = pg ? &pg->health : NULL;

		/* The group's own counts (bs_health), not the sum of its backends': a backend
		 * listed by two groups would count in both. */
		o->group[g] = view_health_new(&v->groups[g].health, ph);
		o->failed[g] = view_health_failed(&v->groups[g].health, ph);
		o->hs_p50[g] = view_handshake_quantile(&v->groups[g].health, ph, 0.5);
		o->hs_p99[g] = view_handshake_quantile(&v->groups[g].health, ph, 0.99);
		for (__u32 i = 0; i < v->groups[g].n_backends; i++)
			o->listed_active += v->groups[g].backends[i].active_conns;
		o->total += o->group[g];
	}
	o->new_conns = r->windowed ? growth(v->counters.new_conns, pf ? &pf->counters.new_conns : NULL)
				   : v->counters.new_conns;
	o->rejected = r->windowed ? growth(v->counters.rejected, pf ? &pf->counters.rejected : NULL)
				  : v->counters.rejected;
}

/* ---- JSON ---- */

static void add_str_or_null(cJSON *o, const char *name, const char *s)
{
	if (s[0])
		cJSON_AddStringToObject(o, name, s);
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *info_json(const struct view_frontend *v)
{
	const struct bs_frontend_info *fi = &v->info;
	cJSON *o;

	if (!v->has_info)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	add_str_or_null(o, "route", fi->route);
	add_str_or_null(o, "rollout", fi->rollout);
	if (fi->step >= 0)
		cJSON_AddNumberToObject(o, "step", fi->step);
	else
		cJSON_AddNullToObject(o, "step");
	if (fi->n_steps > 0)
		cJSON_AddNumberToObject(o, "n_steps", fi->n_steps);
	else
		cJSON_AddNullToObject(o, "n_steps");
	add_str_or_null(o, "phase", fi->phase);
	cJSON_AddBoolToObject(o, "paused", fi->paused);
	cJSON_AddBoolToObject(o, "aborted", fi->aborted);
	if (fi->rollout[0])
		cJSON_AddNumberToObject(o, "rollout_canary_weight_pct", fi->rollout_canary_weight);
	else
		cJSON_AddNullToObject(o, "rollout_canary_weight_pct");
	out_json_u64(o, "updated_unix_ns", fi->updated_unix_ns);
	return o;
}

/* `frontend show -j`'s object, plus where it comes from, open connections and what was
 * observed over the window. */
static cJSON *frontend_json(const struct round *r, const struct view_frontend *v)
{
	cJSON *o = view_frontend_json(v), *groups = cJSON_GetObjectItemCaseSensitive(o, "groups"), *gj;
	struct fe_observed ob;
	__u32 g = 0;

	observe(r, v, &ob);
	cJSON_AddItemToObject(o, "info", info_json(v));
	out_json_u64(o, "active_conns", v->active_conns);
	out_json_u64(o, "active_conns_unlisted", v->active_conns > ob.listed_active ? v->active_conns - ob.listed_active : 0);
	out_json_u64(o, "observed_new_conns", ob.total);
	out_json_u64(o, "observed_frontend_new_conns", ob.new_conns);
	out_json_u64(o, "observed_rejected", ob.rejected);
	cJSON_ArrayForEach(gj, groups) {
		const struct view_group *vg = &v->groups[g];
		cJSON *bj;
		__u32 i = 0;

		if (g >= v->n_groups)
			break;
		out_json_u64(gj, "observed_new_conns", ob.group[g]);
		if (ob.total)
			cJSON_AddNumberToObject(gj, "observed_share_pct", out_pct(100.0 * ob.group[g] / ob.total));
		else
			cJSON_AddNullToObject(gj, "observed_share_pct");
		if (r->window_s > 0)
			cJSON_AddNumberToObject(gj, "new_conns_per_s", ob.group[g] / r->window_s);
		out_json_u64(gj, "observed_failed", ob.failed[g]);
		if (ob.group[g])
			cJSON_AddNumberToObject(gj, "observed_failure_ratio", (double)ob.failed[g] / ob.group[g]);
		else
			cJSON_AddNullToObject(gj, "observed_failure_ratio");
		if (ob.hs_p50[g] >= 0) {
			cJSON_AddNumberToObject(gj, "handshake_p50_s", ob.hs_p50[g]);
			cJSON_AddNumberToObject(gj, "handshake_p99_s", ob.hs_p99[g]);
		} else {
			cJSON_AddNullToObject(gj, "handshake_p50_s");
			cJSON_AddNullToObject(gj, "handshake_p99_s");
		}
		cJSON_ArrayForEach(bj, cJSON_GetObjectItemCaseSensitive(gj, "backends")) {
			if (i >= vg->n_backends)
				break;
			out_json_u64(bj, "active_conns", vg->backends[i].active_conns);
			out_json_u64(bj, "observed_new_conns", backend_observed(r, v, g, &vg->backends[i]));
			i++;
		}
		g++;
	}
	return o;
}

/* ---- plain ---- */

static void print_ms(const char *what, double s)
{
	if (s < 0)
		printf("  %s -", what);
	else
		printf("  %s %.3g ms", what, s * 1e3);
}

/* Per version: the failure ratio and the handshake latency over the same span. */
static void print_health(const struct fe_observed *ob, __u32 g)
{
	if (ob->group[g])
		printf("    failed %.1f%% (%llu/%llu)", 100.0 * ob->failed[g] / ob->group[g],
		       (unsigned long long)ob->failed[g], (unsigned long long)ob->group[g]);
	else
		printf("    failed - (0/0)");
	print_ms("handshake p50", ob->hs_p50[g]);
	print_ms("p99", ob->hs_p99[g]);
	printf("\n");
}

static void print_frontend(const struct round *r, const struct view_frontend *v)
{
	const struct bs_frontend_info *fi = &v->info;
	struct fe_observed ob;
	int aw = 15;

	observe(r, v, &ob);
	printf("frontend %s", v->name);
	if (!v->has_info) {
		printf("  written by hand");
	} else {
		if (fi->route[0])
			printf("  route %s", fi->route);
		if (fi->rollout[0])
			printf("  rollout %s", fi->rollout);
		if (fi->step >= 0 && fi->n_steps > 0)
			printf("  step %d/%d", fi->step, fi->n_steps);
		else if (fi->step >= 0)
			printf("  step %d", fi->step);
		if (fi->phase[0])
			printf("  %s", fi->phase);
		if (fi->aborted)
			printf("  aborted");
		else if (fi->paused && strcmp(fi->phase, "Paused"))
			printf("  paused");
		if (fi->rollout[0])
			printf("  canary weight %u%%", fi->rollout_canary_weight);
	}
	printf("\n  id %u  affinity %s  active_conns %llu  new_conns %llu  rejected %llu  packets %llu  bytes %llu\n",
	       v->fe.id, out_affinity(v->affinity), (unsigned long long)v->active_conns,
	       (unsigned long long)v->counters.new_conns, (unsigned long long)v->counters.rejected,
	       (unsigned long long)v->counters.packets, (unsigned long long)v->counters.bytes);
	if (r->windowed && ob.rejected)
		printf("  %llu new connections refused in the window\n", (unsigned long long)ob.rejected);
	if (v->active_conns > ob.listed_active)
		printf("  %llu open connections to backends no longer listed\n",
		       (unsigned long long)(v->active_conns - ob.listed_active));
	if (!v->n_groups) {
		printf("  no groups: every new connection is refused\n");
		return;
	}
	for (__u32 g = 0; g < v->n_groups; g++)
		for (__u32 i = 0; i < v->groups[g].n_backends; i++) {
			const struct view_backend *vb = &v->groups[g].backends[i];
			char ep[64];

			bs_endpoint_format(vb->spec.addr, vb->spec.port, vb->spec.family, ep, sizeof(ep));
			if ((int)strlen(ep) > aw)
				aw = strlen(ep);
		}
	for (__u32 g = 0; g < v->n_groups; g++) {
		const struct view_group *vg = &v->groups[g];

		printf("  group %s  weight %u (%.1f%%)  observed ", vg->name, vg->weight, view_share_pct(v, g));
		if (ob.total)
			printf("%.1f%% (%llu/%llu)\n", 100.0 * ob.group[g] / ob.total, (unsigned long long)ob.group[g],
			       (unsigned long long)ob.total);
		else
			printf("- (0/0)\n");
		print_health(&ob, g);
		if (!vg->n_backends) {
			printf("    no backends\n");
			continue;
		}
		printf("    %-*s %-8s %8s %10s %10s %12s %6s\n", aw, "BACKEND", "STATE", "ACTIVE", "NEW_CONNS", "PACKETS",
		       "BYTES", "ID");
		for (__u32 i = 0; i < vg->n_backends; i++) {
			const struct view_backend *vb = &vg->backends[i];
			char ep[64];

			bs_endpoint_format(vb->spec.addr, vb->spec.port, vb->spec.family, ep, sizeof(ep));
			printf("    %-*s %-8s %8llu %10llu %10llu %12llu %6u\n", aw, ep, out_backend_state(vb->spec.state),
			       (unsigned long long)vb->active_conns, (unsigned long long)vb->counters.new_conns,
			       (unsigned long long)vb->counters.packets, (unsigned long long)vb->counters.bytes, vb->id);
		}
	}
}

/* The whole document: links, what "observed" means, every frontend. watch_time is the
 * round's time for watch (NULL for status). */
static int render(const struct round *r, const char *watch_time, double interval_s)
{
	struct links l = {};

	if (cli.json) {
		cJSON *doc = cJSON_CreateObject(), *fes;

		if (watch_time)
			cJSON_AddStringToObject(doc, "time", watch_time);
		cJSON_AddStringToObject(doc, "pin_root", cli.pin_root);
		l.arr = cJSON_AddArrayToObject(doc, "links");
		bs_dp_for_each_link(cli.pin_root, link_cb, &l);
		cJSON_AddStringToObject(doc, "observed", r->windowed ? "window" : "cumulative");
		cJSON_AddNumberToObject(doc, "window_s", r->windowed ? (double)(long long)(r->window_s * 1000 + 0.5) / 1000 : 0);
		fes = cJSON_AddArrayToObject(doc, "frontends");
		for (size_t i = 0; i < r->n; i++)
			cJSON_AddItemToArray(fes, frontend_json(r, &r->v[i]));
		return out_json(doc);
	}
	if (watch_time) {
		if (isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		printf("bpfsplit watch  %s  %s  every %.1fs\n", cli.pin_root, watch_time, interval_s);
	}
	bs_dp_for_each_link(cli.pin_root, link_cb, &l);
	printf("data path %s: %s\n", cli.pin_root, l.text[0] ? l.text : "not attached anywhere");
	if (r->windowed)
		printf("observed: share of the new connections of the last %.2fs (%s)\n", r->window_s,
		       watch_time ? "--interval" : "--window");
	else
		printf("observed: share of the new connections since the backend ids were allocated (--window 0)\n");
	if (!r->n)
		printf("no frontends\n");
	for (size_t i = 0; i < r->n; i++) {
		printf("\n");
		print_frontend(r, &r->v[i]);
	}
	fflush(stdout);
	return 0;
}

/* Every frontend with its counters, and (with conns) the open connections of each backend. */
static int sample(struct bs_dp *dp, struct view_frontend **v, size_t *n, bool conns)
{
	int err = view_frontends_all(dp, v, n);

	if (err)
		return cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root);
	if (conns) {
		err = view_count_conns(dp, *v, *n);
		if (err)
			return cli_fail(err, "pin root %s: cannot read the connection records", cli.pin_root);
	}
	return 0;
}

int do_status(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "window", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct view_frontend *v = NULL, *prev = NULL;
	size_t n = 0, n_prev = 0;
	struct round r = {};
	struct bs_dp *dp = NULL;
	double window_s = 1;
	__u64 t0 = 0;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'w':
			err = parse_seconds("status", "--window", optarg, true, &window_s);
			if (err)
				return err;
			break;
		case 'h':
			help_status();
			return 0;
		default:
			return cli_usage("status", "status: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "help")) {
		help_status();
		return 0;
	}
	if (optind < argc)
		return cli_usage("status", "status: takes no arguments (see 'frontend show FRONTEND')");
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	if (window_s > 0) {
		t0 = mono_ns();
		err = sample(dp, &prev, &n_prev, false);
		if (err)
			goto out;
		sleep_ns((__u64)(window_s * 1e9));
	}
	r.window_s = window_s > 0 ? (mono_ns() - t0) / 1e9 : 0;
	err = sample(dp, &v, &n, true);
	if (err)
		goto out;
	r.v = v;
	r.n = n;
	r.windowed = window_s > 0;
	r.prev = prev;
	r.n_prev = n_prev;
	err = render(&r, NULL, 0);
out:
	view_frontends_free(v, n);
	view_frontends_free(prev, n_prev);
	bs_dp_close(dp);
	return err;
}

int do_watch(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "count", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct view_frontend *v = NULL, *prev = NULL;
	size_t n = 0, n_prev = 0;
	struct bs_dp *dp = NULL;
	double interval_s = 2;
	__u64 count = 0, t_prev;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			err = parse_seconds("watch", "--interval", optarg, false, &interval_s);
			if (err)
				return err;
			break;
		case 'c':
			if (cli_parse_u64(optarg, ~0ULL, &count) || !count)
				return cli_usage("watch", "watch: --count '%s': expected a positive number", optarg);
			break;
		case 'h':
			help_watch();
			return 0;
		default:
			return cli_usage("watch", "watch: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc && !strcmp(argv[optind], "help")) {
		help_watch();
		return 0;
	}
	if (optind < argc)
		return cli_usage("watch", "watch: unexpected argument '%s'", argv[optind]);
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	t_prev = mono_ns();
	err = sample(dp, &prev, &n_prev, false);
	for (__u64 round = 0; !err && (!count || round < count); round++) {
		struct round r = {};
		time_t now;
		char when[32];
		__u64 t;

		sleep_ns((__u64)(interval_s * 1e9));
		t = mono_ns();
		err = sample(dp, &v, &n, true);
		if (err)
			break;
		now = time(NULL);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
		r.v = v;
		r.n = n;
		r.windowed = true;
		r.prev = prev;
		r.n_prev = n_prev;
		r.window_s = (t - t_prev) / 1e9;
		err = render(&r, when, interval_s);
		view_frontends_free(prev, n_prev);
		prev = v;
		n_prev = n;
		v = NULL;
		n = 0;
		t_prev = t;
	}
	view_frontends_free(v, n);
	view_frontends_free(prev, n_prev);
	bs_dp_close(dp);
	return err;
}
