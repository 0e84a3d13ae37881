// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit stats: frontend and backend counters, and every verdict reason by name. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "output.h"
#include "view.h"

void help_stats(void)
{
	printf("Usage: bpfsplit stats\n"
	       "\n"
	       "Counters per frontend (packets, bytes, new_conns, rejected), per backend (packets,\n"
	       "bytes, new_conns) and per reason (fwd_new, pass_not_frontend, ..., in packets),\n"
	       "summed over CPUs since the maps were created. See also 'bpfsplit status help'.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit stats\n"
	       "  bpfsplit -j stats | jq '.reasons.reject_no_backend'\n");
}

void help_status(void)
{
	printf("Usage: bpfsplit status [--window SECONDS]\n"
	       "\n"
	       "The links attached, then each frontend:\n"
	       "  - where it comes from, as bpfsplit-agent stores it beside the maps: the\n"
	       "    HTTPRoute, the Rollout driving it, its step (currentStepIndex/steps),\n"
	       "    phase, pause and abort, and the canary weight in its status;\n"
	       "    \"written by hand\" when nothing is stored (frontend apply);\n"
	       "  - each group's configured weight and share, and the share of new\n"
	       "    connections it observed: the new connections its backends took during\n"
	       "    the window / those of every group (the per-backend new_conns counters,\n"
	       "    read at the start and at the end of the window; a backend listed by\n"
	       "    several frontends counts its connections from all of them);\n"
	       "  - each backend: state (ready: gets new connections; draining: keeps its\n"
	       "    own), open connections of this frontend to it (connection records not\n"
	       "    closing; UDP ones not idle), counters since its id was allocated.\n"
	       "\n"
	       "  --window SECONDS  how long to observe (default 1; status takes that long);\n"
	       "                    0: cumulative, since the backend ids were allocated.\n"
	       "\n"
	       "JSON (-j): frontends[].info {route, rollout, step, n_steps, phase, paused, aborted,\n"
	       "rollout_canary_weight_pct, updated_unix_ns} (null: written by hand), active_conns,\n"
	       "observed_new_conns; groups[].observed_share_pct (null when no new connection),\n"
	       "observed_new_conns; backends[].active_conns, observed_new_conns, counters; window_s\n"
	       "and observed (\"window\" or \"cumulative\") at the top.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit status --window 5\n"
	       "  bpfsplit -j status --window 0 | jq '.frontends[] | {frontend, step: .info.step}'\n");
}

void help_watch(void)
{
	printf("Usage: bpfsplit watch [--interval SECONDS] [--count N]\n"
	       "\n"
	       "'bpfsplit status' again every interval (default 2 s), the window being the\n"
	       "interval; -j prints one JSON document a line (the fields of 'status help').\n"
	       "\n"
	       "  --interval SECONDS  time between rounds (default 2)\n"
	       "  --count N           stop after N rounds (default: until interrupted)\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit watch --interval 1\n"
	       "  bpfsplit -j watch --count 3 | jq -c '.frontends[].groups[].observed_share_pct'\n");
}

struct be_row {
	const struct view_backend *b;
};

static int by_id(const void *a, const void *b)
{
	const struct be_row *x = a, *y = b;

	return x->b->id < y->b->id ? -1 : x->b->id > y->b->id;
}

/* Each backend once (by id), sorted by id. */
static struct be_row *unique_backends(const struct view_frontend *v, size_t n, size_t *n_out)
{
	size_t total = 0, k = 0;
	struct be_row *rows;

	for (size_t f = 0; f < n; f++)
		for (__u32 g = 0; g < v[f].n_groups; g++)
			total += v[f].groups[g].n_backends;
	rows = calloc(total ? total : 1, sizeof(*rows));
	if (!rows)
		return NULL;
	for (size_t f = 0; f < n; f++) {
		for (__u32 g = 0; g < v[f].n_groups; g++) {
			for (__u32 i = 0; i < v[f].groups[g].n_backends; i++) {
				const struct view_backend *vb = &v[f].groups[g].backends[i];
				bool dup = false;

				for (size_t j = 0; j < k && !dup; j++)
					dup = rows[j].b->id == vb->id;
				if (!dup && vb->id)
					rows[k++].b = vb;
			}
		}
	}
	qsort(rows, k, sizeof(*rows), by_id);
	*n_out = k;
	return rows;
}

int do_stats(int argc, char **argv)
{
	int first = cli_no_options("stats", help_stats, argc, argv), err;
	struct view_frontend *v = NULL;
	struct be_row *rows = NULL;
	struct bs_dp *dp = NULL;
	__u64 reasons[BS_R_MAX];
	size_t n = 0, n_rows = 0;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("stats", "stats: takes no arguments");
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = view_frontends_all(dp, &v, &n);
	err = err ?: bs_dp_reason_counters(dp, reasons);
	if (err) {
		cli_fail(err, "pin root %s: cannot read the counters", cli.pin_root);
		goto out;
	}
	rows = unique_backends(v, n, &n_rows);
	if (!rows) {
		err = cli_fail(-ENOMEM, "stats");
		goto out;
	}
	if (cli.json) {
		cJSON *doc = cJSON_CreateObject(), *fes, *bes, *rs;

		fes = cJSON_AddArrayToObject(doc, "frontends");
		for (size_t i = 0; i < n; i++) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "frontend", v[i].name);
			cJSON_AddNumberToObject(o, "id", v[i].fe.id);
			cJSON_AddItemToObject(o, "counters", out_json_counters(&v[i].counters, true));
			cJSON_AddItemToArray(fes, o);
		}
		bes = cJSON_AddArrayToObject(doc, "backends");
		for (size_t i = 0; i < n_rows; i++) {
			cJSON *o = cJSON_CreateObject();
			char ep[64];

			bs_endpoint_format(rows[i].b->spec.addr, rows[i].b->spec.port, rows[i].b->spec.family, ep,
					   sizeof(ep));
			cJSON_AddStringToObject(o, "address", ep);
			cJSON_AddNumberToObject(o, "id", rows[i].b->id);
			cJSON_AddItemToObject(o, "counters", out_json_counters(&rows[i].b->counters, false));
			cJSON_AddItemToArray(bes, o);
		}
		rs = cJSON_AddObjectToObject(doc, "reasons");
		for (__u32 r = 0; r < BS_R_MAX; r++)
			out_json_u64(rs, bs_reason_name(r), reasons[r]);
		err = out_json(doc);
		goto out;
	}
	printf("frontends:\n");
	if (!n)
		printf("  none\n");
	else
		printf("  %-28s %5s %10s %12s %9s %9s\n", "FRONTEND", "ID", "PACKETS", "BYTES", "NEW_CONNS",
		       "REJECTED");
	for (size_t i = 0; i < n; i++)
		printf("  %-28s %5u %10llu %12llu %9llu %9llu\n", v[i].name, v[i].fe.id,
		       (unsigned long long)v[i].counters.packets, (unsigned long long)v[i].counters.bytes,
		       (unsigned long long)v[i].counters.new_conns, (unsigned long long)v[i].counters.rejected);
	printf("backends:\n");
	if (!n_rows)
		printf("  none\n");
	else
		printf("  %-28s %5s %10s %12s %9s\n", "BACKEND", "ID", "PACKETS", "BYTES", "NEW_CONNS");
	for (size_t i = 0; i < n_rows; i++) {
		char ep[64];

		bs_endpoint_format(rows[i].b->spec.addr, rows[i].b->spec.port, rows[i].b->spec.family, ep, sizeof(ep));
		printf("  %-28s %5u %10llu %12llu %9llu\n", ep, rows[i].b->id,
		       (unsigned long long)rows[i].b->counters.packets, (unsigned long long)rows[i].b->counters.bytes,
		       (unsigned long long)rows[i].b->counters.new_conns);
	}
	printf("reasons (packets):\n");
	for (__u32 r = 0; r < BS_R_MAX; r++)
		printf("  %-22s %llu\n", bs_reason_name(r), (unsigned long long)reasons[r]);
out:
	free(rows);
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}
