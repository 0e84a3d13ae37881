/* bpfsplit status (links, then every frontend in full) and bpfsplit watch (the split
 * each group actually gets, as rates over an interval). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "output.h"
#include "view.h"

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

int do_status(int argc, char **argv)
{
	int first = cli_no_options("status", help_stats, argc, argv), err;
	struct view_frontend *v = NULL;
	struct links l = {};
	struct bs_dp *dp = NULL;
	size_t n = 0;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("status", "status: takes no arguments (see 'frontend show FRONTEND')");
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	err = view_frontends_all(dp, &v, &n);
	if (err) {
		cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root);
		goto out;
	}
	if (cli.json) {
		cJSON *doc = cJSON_CreateObject(), *fes;

		cJSON_AddStringToObject(doc, "pin_root", cli.pin_root);
		l.arr = cJSON_AddArrayToObject(doc, "links");
		bs_dp_for_each_link(cli.pin_root, link_cb, &l);
		fes = cJSON_AddArrayToObject(doc, "frontends");
		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(fes, view_frontend_json(&v[i]));
		err = out_json(doc);
		goto out;
	}
	bs_dp_for_each_link(cli.pin_root, link_cb, &l);
	printf("data path %s: %s\n", cli.pin_root, l.text[0] ? l.text : "not attached anywhere");
	if (!n)
		printf("no frontends\n");
	for (size_t i = 0; i < n; i++) {
		printf("\n");
		view_frontend_print(&v[i]);
	}
out:
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* Counters of a backend id in a previous round (0 when it was not there). */
static __u64 prev_new_conns(const struct view_frontend *prev, size_t n_prev, __u32 id)
{
	for (size_t f = 0; f < n_prev; f++)
		for (__u32 g = 0; g < prev[f].n_groups; g++)
			for (__u32 i = 0; i < prev[f].groups[g].n_backends; i++)
				if (prev[f].groups[g].backends[i].id == id)
					return prev[f].groups[g].backends[i].counters.new_conns;
	return 0;
}

static const struct view_frontend *prev_frontend(const struct view_frontend *prev, size_t n_prev,
						 const struct view_frontend *v)
{
	for (size_t f = 0; f < n_prev; f++)
		if (!view_key_cmp(&prev[f].key, &v->key) && prev[f].fe.id == v->fe.id)
			return &prev[f];
	return NULL;
}

static double rate(__u64 now, __u64 before, double secs)
{
	return secs > 0 && now >= before ? (now - before) / secs : 0;
}

/* One round: per frontend and group, new connections per second over the interval. */
static int watch_round(const struct view_frontend *v, size_t n, const struct view_frontend *prev, size_t n_prev,
		       double secs, bool first_round)
{
	cJSON *doc = NULL, *fes = NULL;
	time_t t = time(NULL);
	char when[32];

	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	if (cli.json) {
		doc = cJSON_CreateObject();
		cJSON_AddStringToObject(doc, "time", when);
		out_json_u64(doc, "interval_ns", first_round ? 0 : (__u64)(secs * 1e9));
		fes = cJSON_AddArrayToObject(doc, "frontends");
	} else {
		if (isatty(STDOUT_FILENO))
			printf("\033[H\033[2J");
		printf("bpfsplit watch  %s  %s  every %.1fs\n", cli.pin_root, when, secs);
		if (!n)
			printf("\nno frontends\n");
	}
	for (size_t f = 0; f < n; f++) {
		const struct view_frontend *pf = first_round ? NULL : prev_frontend(prev, n_prev, &v[f]);
		double group_rate[BS_MAX_GROUPS] = {}, total = 0, fe_rate = 0, pps = 0;
		cJSON *fj = NULL, *gl = NULL;

		for (__u32 g = 0; pf && g < v[f].n_groups; g++) {
			for (__u32 i = 0; i < v[f].groups[g].n_backends; i++) {
				const struct view_backend *vb = &v[f].groups[g].backends[i];

				group_rate[g] += rate(vb->counters.new_conns, prev_new_conns(prev, n_prev, vb->id), secs);
			}
			total += group_rate[g];
		}
		if (pf) {
			fe_rate = rate(v[f].counters.new_conns, pf->counters.new_conns, secs);
			pps = rate(v[f].counters.packets, pf->counters.packets, secs);
		}
		if (cli.json) {
			fj = cJSON_CreateObject();
			cJSON_AddStringToObject(fj, "frontend", v[f].name);
			cJSON_AddNumberToObject(fj, "new_conns_per_s", fe_rate);
			cJSON_AddNumberToObject(fj, "packets_per_s", pps);
			cJSON_AddItemToObject(fj, "counters", out_json_counters(&v[f].counters, true));
			gl = cJSON_AddArrayToObject(fj, "groups");
			cJSON_AddItemToArray(fes, fj);
		} else {
			printf("\nfrontend %s  new_conns/s %.1f  packets/s %.1f  rejected %llu\n", v[f].name, fe_rate, pps,
			       (unsigned long long)v[f].counters.rejected);
		}
		for (__u32 g = 0; g < v[f].n_groups; g++) {
			const struct view_group *vg = &v[f].groups[g];
			double got = total > 0 ? 100.0 * group_rate[g] / total : 0;

			if (cli.json) {
				cJSON *gj = cJSON_CreateObject();

				cJSON_AddStringToObject(gj, "name", vg->name);
				cJSON_AddNumberToObject(gj, "weight", vg->weight);
				cJSON_AddNumberToObject(gj, "share_pct", out_pct(view_share_pct(&v[f], g)));
				cJSON_AddNumberToObject(gj, "new_conns_per_s", group_rate[g]);
				cJSON_AddNumberToObject(gj, "observed_share_pct", out_pct(got));
				cJSON_AddNumberToObject(gj, "ready_backends", vg->n_ready);
				cJSON_AddNumberToObject(gj, "backends", vg->n_backends);
				cJSON_AddItemToArray(gl, gj);
			} else {
				printf("  %-16s weight %7u (%5.1f%%)  new_conns/s %8.1f (%5.1f%%)  backends %u/%u ready\n",
				       vg->name, vg->weight, view_share_pct(&v[f], g), group_rate[g], got, vg->n_ready,
				       vg->n_backends);
			}
		}
	}
	if (cli.json)
		return out_json(doc);
	fflush(stdout);
	return 0;
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
	__u64 interval_ms = 2000, count = 0, t_prev = 0;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		double secs;
		char *end;

		switch (c) {
		case 'i':
			secs = strtod(optarg, &end);
			if (*end || end == optarg || !(secs >= 0.1 && secs <= 3600))
				return cli_usage("watch", "watch: --interval '%s': expected seconds, 0.1..3600", optarg);
			interval_ms = (__u64)(secs * 1000);
			break;
		case 'c':
			if (cli_parse_u64(optarg, ~0ULL, &count) || !count)
				return cli_usage("watch", "watch: --count '%s': expected a positive number", optarg);
			break;
		case 'h':
			help_stats();
			return 0;
		default:
			return cli_usage("watch", "watch: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("watch", "watch: unexpected argument '%s'", argv[optind]);
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	for (__u64 round = 0; !count || round < count; round++) {
		struct timespec ts = { interval_ms / 1000, (interval_ms % 1000) * 1000000 };
		__u64 t = now_ns();

		if (round)
			nanosleep(&ts, NULL);
		t = now_ns();
		err = view_frontends_all(dp, &v, &n);
		if (err) {
			cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root);
			break;
		}
		err = watch_round(v, n, prev, n_prev, round ? (t - t_prev) / 1e9 : interval_ms / 1e3, !round);
		view_frontends_free(prev, n_prev);
		prev = v;
		n_prev = n;
		v = NULL;
		t_prev = t;
		if (err)
			break;
	}
	view_frontends_free(prev, n_prev);
	bs_dp_close(dp);
	return err;
}
