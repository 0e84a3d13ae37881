// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit backend: list backends over every frontend, drain and undrain them. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "apply.h"
#include "cli.h"
#include "output.h"
#include "view.h"

void help_backend(void)
{
	printf("Usage: bpfsplit backend list\n"
	       "       bpfsplit backend drain ADDR:PORT... [--frontend FRONTEND]\n"
	       "       bpfsplit backend undrain ADDR:PORT... [--frontend FRONTEND]\n"
	       "       bpfsplit backend help\n"
	       "\n"
	       "ADDR:PORT is 10.201.1.2:8080 or [fd00:201:1::2]:8080.\n"
	       "A draining backend keeps its existing connections and gets no new ones. drain and\n"
	       "undrain rewrite every frontend that lists the backend (or only FRONTEND). A running\n"
	       "bpfsplit-agent writes the state from the EndpointSlices again at its next reconcile.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit backend list\n"
	       "  bpfsplit backend drain 10.201.1.2:8080\n"
	       "  bpfsplit backend undrain 10.201.1.2:8080 --frontend 10.96.0.10:80/tcp\n");
}

struct use {
	const char *frontend;
	const char *group;
	__u8 state;
};

struct row {
	const struct view_backend *b; /* first seen; counters are per backend id */
	struct use *uses;
	size_t n_uses;
};

static int row_cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	return x->b->id < y->b->id ? -1 : x->b->id > y->b->id;
}

static const char *row_state(const struct row *r)
{
	bool ready = false, draining = false;

	for (size_t i = 0; i < r->n_uses; i++) {
		ready |= r->uses[i].state == BS_BACKEND_READY;
		draining |= r->uses[i].state == BS_BACKEND_DRAINING;
	}
	return ready && draining ? "mixed" : draining ? "draining" : "ready";
}

static bool same_backend(const struct bs_backend_spec *a, const struct bs_backend_spec *b)
{
	return a->family == b->family && a->port == b->port && !memcmp(a->addr, b->addr, sizeof(a->addr));
}

/* One row per backend over every frontend view, sorted by id. */
static int collect_rows(const struct view_frontend *v, size_t n, struct row **out, size_t *n_out)
{
	struct row *rows = NULL;
	size_t n_rows = 0, cap = 0;

	for (size_t f = 0; f < n; f++) {
		for (__u32 g = 0; g < v[f].n_groups; g++) {
			const struct view_group *vg = &v[f].groups[g];

			for (__u32 i = 0; i < vg->n_backends; i++) {
				const struct view_backend *vb = &vg->backends[i];
				struct row *r = NULL;
				struct use *grown;

				for (size_t k = 0; k < n_rows && !r; k++)
					if (same_backend(&rows[k].b->spec, &vb->spec))
						r = &rows[k];
				if (!r) {
					if (n_rows == cap) {
						size_t ncap = cap ? 2 * cap : 32;
						struct row *nr = realloc(rows, ncap * sizeof(*rows));

						if (!nr)
							goto nomem;
						rows = nr;
						cap = ncap;
					}
					r = &rows[n_rows++];
					memset(r, 0, sizeof(*r));
					r->b = vb;
				}
				grown = realloc(r->uses, (r->n_uses + 1) * sizeof(*r->uses));
				if (!grown)
					goto nomem;
				r->uses = grown;
				r->uses[r->n_uses++] = (struct use){ v[f].name, vg->name, vb->spec.state };
			}
		}
	}
	qsort(rows, n_rows, sizeof(*rows), row_cmp);
	*out = rows;
	*n_out = n_rows;
	return 0;
nomem:
	for (size_t k = 0; k < n_rows; k++)
		free(rows[k].uses);
	free(rows);
	return -ENOMEM;
}

static int cmd_list(int argc, char **argv)
{
	int first = cli_no_options("backend", help_backend, argc, argv), err;
	struct view_frontend *v = NULL;
	struct row *rows = NULL;
	struct bs_dp *dp = NULL;
	size_t n = 0, n_rows = 0;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("backend", "backend list: takes no arguments");
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = view_frontends_all(dp, &v, &n);
	err = err ?: collect_rows(v, n, &rows, &n_rows);
	if (err) {
		cli_fail(err, "pin root %s: cannot list backends", cli.pin_root);
		goto out;
	}
	if (cli.json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < n_rows; i++) {
			cJSON *o = cJSON_CreateObject(), *uses;
			char ep[64];

			cJSON_AddItemToArray(arr, o);
			bs_endpoint_format(rows[i].b->spec.addr, rows[i].b->spec.port, rows[i].b->spec.family, ep,
					   sizeof(ep));
			cJSON_AddNumberToObject(o, "id", rows[i].b->id);
			cJSON_AddStringToObject(o, "address", ep);
			cJSON_AddStringToObject(o, "state", row_state(&rows[i]));
			cJSON_AddItemToObject(o, "counters", out_json_counters(&rows[i].b->counters, false));
			uses = cJSON_AddArrayToObject(o, "members");
			for (size_t u = 0; u < rows[i].n_uses; u++) {
				cJSON *m = cJSON_CreateObject();

				cJSON_AddStringToObject(m, "frontend", rows[i].uses[u].frontend);
				cJSON_AddStringToObject(m, "group", rows[i].uses[u].group);
				cJSON_AddStringToObject(m, "state", out_backend_state(rows[i].uses[u].state));
				cJSON_AddItemToArray(uses, m);
			}
		}
		err = out_json(arr);
		goto out;
	}
	if (!n_rows) {
		printf("no backends\n");
		goto out;
	}
	printf("%6s  %-24s %-8s %10s %12s %9s  %s\n", "ID", "BACKEND", "STATE", "PACKETS", "BYTES", "NEW_CONNS",
	       "FRONTEND GROUP (STATE)");
	for (size_t i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		char ep[64];

		bs_endpoint_format(r->b->spec.addr, r->b->spec.port, r->b->spec.family, ep, sizeof(ep));
		printf("%6u  %-24s %-8s %10llu %12llu %9llu  ", r->b->id, ep, row_state(r),
		       (unsigned long long)r->b->counters.packets, (unsigned long long)r->b->counters.bytes,
		       (unsigned long long)r->b->counters.new_conns);
		for (size_t u = 0; u < r->n_uses; u++)
			printf("%s%s %s (%s)", u ? ", " : "", r->uses[u].frontend, r->uses[u].group,
			       out_backend_state(r->uses[u].state));
		printf("\n");
	}
out:
	for (size_t i = 0; i < n_rows; i++)
		free(rows[i].uses);
	free(rows);
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}

/* drain (state = DRAINING) or undrain (READY) the backends in argv[first..]. */
static int set_state(int argc, char **argv, __u8 state)
{
	static const struct option opts[] = { { "frontend", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct bs_frontend_key *keys = NULL;
	struct bs_backend_spec *want = NULL;
	struct bs_frontend_key only;
	const char *only_arg = NULL;
	struct bs_dp *dp = NULL;
	cJSON *results = NULL;
	size_t n_want, n_keys = 0, touched = 0;
	bool *seen = NULL;
	int c, err = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'f') {
			only_arg = optarg;
			if (bs_frontend_key_parse(optarg, &only))
				return cli_usage("backend", "backend %s: --frontend '%s': not ADDRESS:PORT[/tcp|/udp]",
						 argv[0], optarg);
		} else if (c == 'h') {
			help_backend();
			return 0;
		} else {
			return cli_usage("backend", "backend %s: unknown option or missing value '%s'", argv[0],
					 argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage("backend", "backend %s: expected ADDR:PORT...", argv[0]);
	n_want = argc - optind;
	want = calloc(n_want, sizeof(*want));
	seen = calloc(n_want, sizeof(*seen));
	if (!want || !seen) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n_want; i++) {
		const char *a = argv[optind + i];

		if (strchr(a, '/') || bs_endpoint_parse(a, want[i].addr, &want[i].port, &want[i].family)) {
			err = cli_usage("backend", "backend '%s': not IPV4:PORT or [IPV6]:PORT", a);
			goto out;
		}
	}
	err = cli_open_pinned(&dp);
	if (err)
		goto out;
	if (only_arg) {
		struct bs_frontend_spec probe;
		char name[80];

		bs_frontend_key_format(&only, name, sizeof(name));
		err = bs_dp_read(dp, &only, &probe);
		if (err) {
			cli_fail(err, "frontend %s", name);
			goto out;
		}
		bs_frontend_spec_free(&probe);
		keys = malloc(sizeof(*keys));
		err = keys ? 0 : -ENOMEM;
		if (keys) {
			keys[0] = only;
			n_keys = 1;
		}
	} else {
		err = view_frontend_keys(dp, &keys, &n_keys);
	}
	if (err) {
		cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root);
		goto out;
	}
	results = cJSON_CreateArray();
	for (size_t f = 0; f < n_keys && !err; f++) {
		struct bs_frontend_spec spec;
		bool listed = false;

		if (bs_dp_read(dp, &keys[f], &spec))
			continue; /* removed meanwhile */
		for (__u32 g = 0; g < spec.n_groups; g++) {
			for (__u32 i = 0; i < spec.groups[g].n_backends; i++) {
				struct bs_backend_spec *b = &spec.groups[g].backends[i];

				for (size_t w = 0; w < n_want; w++) {
					if (same_backend(b, &want[w])) {
						b->state = state;
						seen[w] = listed = true;
					}
				}
			}
		}
		if (listed) {
			err = apply_and_report(dp, &spec, results);
			touched++;
		}
		bs_frontend_spec_free(&spec);
	}
	if (err)
		goto out;
	for (size_t w = 0; w < n_want; w++) {
		if (seen[w])
			continue;
		if (only_arg)
			cli_error("backend %s: not found in frontend %s", argv[optind + w], only_arg);
		else
			cli_error("backend %s: not found in any frontend", argv[optind + w]);
		err = -ENOENT;
	}
	if (cli.json && touched) {
		int e = out_json(results);

		results = NULL;
		err = err ?: e;
	}
out:
	cJSON_Delete(results);
	free(keys);
	free(want);
	free(seen);
	bs_dp_close(dp);
	return err;
}

static int cmd_drain(int argc, char **argv)
{
	return set_state(argc, argv, BS_BACKEND_DRAINING);
}

static int cmd_undrain(int argc, char **argv)
{
	return set_state(argc, argv, BS_BACKEND_READY);
}

static const struct cli_cmd cmds[] = {
	{ "list", cmd_list },
	{ "drain", cmd_drain },
	{ "undrain", cmd_undrain },
	{ NULL, NULL },
};

int do_backend(int argc, char **argv)
{
	return cli_dispatch("backend", cmds, argc - 1, argv + 1, help_backend);
}
