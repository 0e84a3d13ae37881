// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit frontend: apply specs from JSON, list, show, export, remove, set weights. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "apply.h"
#include "cli.h"
#include "output.h"
#include "spec_json.h"
#include "view.h"

#define MAX_SPEC_INPUT (64u << 20) /* bytes of JSON accepted by apply */

void help_frontend(void)
{
	printf("Usage: bpfsplit frontend apply FILE|- [--check]\n"
	       "       bpfsplit frontend list\n"
	       "       bpfsplit frontend show [FRONTEND...]\n"
	       "       bpfsplit frontend export [FRONTEND...]\n"
	       "       bpfsplit frontend remove FRONTEND...\n"
	       "       bpfsplit frontend set-weights FRONTEND GROUP=WEIGHT...\n"
	       "       bpfsplit frontend help\n"
	       "\n"
	       "FRONTEND is ADDRESS:PORT[/tcp|/udp]: 10.96.0.10:80/tcp, [fd00::a]:53/udp (tcp by default).\n"
	       "GROUP is a group's name or its index (0, 1, ...). WEIGHT is 0..%d.\n"
	       "\n"
	       "apply reads one frontend, or {\"frontends\": [...]}, as JSON:\n"
	       "  {\"frontend\": \"10.96.0.10:80/tcp\",\n"
	       "   \"affinity\": \"connection\",            (or \"client\"; default \"connection\")\n"
	       "   \"groups\": [\n"
	       "     {\"name\": \"stable\", \"weight\": 70,\n"
	       "      \"backends\": [{\"address\": \"10.201.1.2:8080\", \"state\": \"ready\"},\n"
	       "                   {\"address\": \"10.201.1.3:8080\", \"state\": \"draining\"}]},\n"
	       "     {\"name\": \"canary\", \"weight\": 30,\n"
	       "      \"backends\": [\"10.201.2.2:8080\"]}]}\n"
	       "Everything is validated before anything is written; --check only validates.\n"
	       "export prints the same format (for every frontend, or those named).\n"
	       "show -j prints one object for one FRONTEND, else an array (all when none named).\n"
	       "\n"
	       "set-weights changes weights only. A running bpfsplit-agent writes its own desired\n"
	       "state again at its next reconcile: change the HTTPRoute to make it last.\n"
	       "\n"
	       "For frontends written by hand and for tests (not needed with the agent, which\n"
	       "stores it for the frontends it writes, and overwrites it):\n"
	       "  bpfsplit frontend set-info FRONTEND [--route NS/NAME] [--rollout NS/NAME]\n"
	       "         [--step STEP[/STEPS]] [--phase PHASE] [--paused] [--aborted]\n"
	       "         [--canary-weight PCT]\n"
	       "stores what 'bpfsplit status' shows about where FRONTEND comes from (all of it:\n"
	       "what is not given is stored as unknown). It goes with the frontend.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit frontend apply web.json\n"
	       "  bpfsplit frontend set-weights 10.96.0.10:80/tcp stable=40 canary=60\n"
	       "  bpfsplit -j frontend show 10.96.0.10:80/tcp | jq '.groups[].share_pct'\n",
	       BS_MAX_WEIGHT);
}

/* Parse a FRONTEND argument; a usage error when malformed. */
static int parse_frontend_arg(const char *s, struct bs_frontend_key *key)
{
	if (bs_frontend_key_parse(s, key))
		return cli_usage("frontend", "frontend '%s': not ADDRESS:PORT[/tcp|/udp] (e.g. 10.96.0.10:80/tcp)", s);
	return 0;
}

static int read_input(const char *path, char **buf, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
	size_t cap = 0, n = 0;
	char *b = NULL;
	int err = 0;

	if (!f)
		return cli_fail(-errno, "file %s", path);
	for (;;) {
		size_t got;

		if (cap - n < 4096) {
			char *grown;

			cap = cap ? 2 * cap : 65536;
			grown = cap <= MAX_SPEC_INPUT ? realloc(b, cap + 1) : NULL;
			if (!grown) {
				err = cap > MAX_SPEC_INPUT ? -EFBIG : -ENOMEM;
				cli_fail(err, "file %s", path);
				goto out;
			}
			b = grown;
		}
		got = fread(b + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				err = cli_fail(-EIO, "file %s", path);
				goto out;
			}
			break;
		}
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	free(b);
	if (f != stdin)
		fclose(f);
	return err;
}

static int cmd_apply(int argc, char **argv)
{
	static const struct option opts[] = { { "check", no_argument, NULL, 'c' }, { "help", no_argument, NULL, 'h' },
					      { 0 } };
	struct bs_frontend_spec *specs = NULL;
	struct bs_dp *dp = NULL;
	cJSON *results = NULL;
	char *text = NULL, errbuf[512];
	const char *path, *source;
	size_t len = 0, n = 0, i;
	bool check = false;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'c') {
			check = true;
		} else if (c == 'h') {
			help_frontend();
			return 0;
		} else {
			return cli_usage("frontend", "frontend apply: unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage("frontend", "frontend apply: expected one FILE (or - for standard input)");
	path = argv[optind];
	source = strcmp(path, "-") ? path : "<stdin>";
	err = read_input(path, &text, &len);
	if (err)
		return err;
	err = bs_spec_parse_doc(text, len, source, &specs, &n, errbuf, sizeof(errbuf));
	if (err) {
		cli_error("%s", errbuf);
		err = -EINVAL; /* exit 1: the document is wrong, not the command line */
		goto out;
	}
	if (check) {
		if (cli.json) {
			cJSON *o = cJSON_CreateObject(), *names;

			cJSON_AddBoolToObject(o, "valid", 1);
			names = cJSON_AddArrayToObject(o, "frontends");
			for (i = 0; i < n; i++) {
				char name[80];

				bs_frontend_key_format(&specs[i].key, name, sizeof(name));
				cJSON_AddItemToArray(names, cJSON_CreateString(name));
			}
			err = out_json(o);
		} else {
			printf("%s: valid, %zu frontend%s\n", source, n, n == 1 ? "" : "s");
		}
		goto out;
	}
	err = cli_open_pinned(&dp);
	if (err)
		goto out;
	results = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		err = apply_and_report(dp, &specs[i], results);
		if (err)
			break;
	}
	if (err && i > 0)
		cli_error("note: the %zu frontend%s before this one %s applied", i, i == 1 ? "" : "s",
			  i == 1 ? "was" : "were");
	if (cli.json) {
		int e = out_json(results);

		err = err ?: e;
		results = NULL;
	}
out:
	cJSON_Delete(results);
	bs_dp_close(dp);
	bs_specs_free(specs, n);
	free(text);
	return err;
}

static void print_list_row(const struct view_frontend *v)
{
	char weights[1024] = "";

	for (__u32 g = 0; g < v->n_groups; g++)
		snprintf(weights + strlen(weights), sizeof(weights) - strlen(weights), "%s%s=%u", g ? " " : "",
			 v->groups[g].name, v->groups[g].weight);
	printf("%-28s %5u %-10s %6u  %s\n", v->name, v->fe.id, out_affinity(v->affinity), v->n_groups,
	       v->n_groups ? weights : "-");
}

static cJSON *list_json(const struct view_frontend *v)
{
	cJSON *o = cJSON_CreateObject(), *groups;

	cJSON_AddStringToObject(o, "frontend", v->name);
	cJSON_AddNumberToObject(o, "id", v->fe.id);
	cJSON_AddStringToObject(o, "affinity", out_affinity(v->affinity));
	cJSON_AddNumberToObject(o, "n_groups", v->n_groups);
	groups = cJSON_AddArrayToObject(o, "groups");
	for (__u32 g = 0; g < v->n_groups; g++) {
		cJSON *gj = cJSON_CreateObject();

		cJSON_AddItemToArray(groups, gj);
		cJSON_AddStringToObject(gj, "name", v->groups[g].name);
		cJSON_AddNumberToObject(gj, "weight", v->groups[g].weight);
		cJSON_AddNumberToObject(gj, "share_pct", out_pct(view_share_pct(v, g)));
	}
	return o;
}

static int cmd_list(int argc, char **argv)
{
	struct view_frontend *v = NULL;
	struct bs_dp *dp = NULL;
	size_t n = 0;
	int first = cli_no_options("frontend", help_frontend, argc, argv), err;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("frontend", "frontend list: takes no arguments (see 'frontend show FRONTEND')");
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = view_frontends_all(dp, &v, &n);
	if (err) {
		cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root);
		goto out;
	}
	if (cli.json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, list_json(&v[i]));
		err = out_json(arr);
		goto out;
	}
	if (!n) {
		printf("no frontends\n");
		goto out;
	}
	printf("%-28s %5s %-10s %6s  %s\n", "FRONTEND", "ID", "AFFINITY", "GROUPS", "WEIGHTS");
	for (size_t i = 0; i < n; i++)
		print_list_row(&v[i]);
out:
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}

/* The views of the frontends named in argv[first..], or of all when none is named. */
static int views_named(struct bs_dp *dp, int argc, char **argv, int first, struct view_frontend **out, size_t *n)
{
	struct view_frontend *v;
	int err = 0;

	if (first >= argc) {
		err = view_frontends_all(dp, out, n);
		return err ? cli_fail(err, "pin root %s: cannot list frontends", cli.pin_root) : 0;
	}
	v = calloc(argc - first, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*n = 0;
	for (int i = first; i < argc; i++) {
		struct bs_frontend_key key;

		err = parse_frontend_arg(argv[i], &key);
		if (err)
			break;
		err = view_frontend_read(dp, &key, &v[*n]);
		if (err) {
			char name[80];

			bs_frontend_key_format(&key, name, sizeof(name));
			cli_fail(err, "frontend %s", name);
			break;
		}
		(*n)++;
	}
	if (err) {
		view_frontends_free(v, *n);
		*n = 0;
		return err;
	}
	*out = v;
	return 0;
}

/* Shared by `frontend show` and `status`: every frontend named (all when none). */
int frontend_show(int argc, char **argv, int first)
{
	struct view_frontend *v = NULL;
	struct bs_dp *dp = NULL;
	size_t n = 0;
	int err;

	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = views_named(dp, argc, argv, first, &v, &n);
	if (err)
		goto out;
	if (cli.json) {
		cJSON *doc;

		/* One frontend named: its object; otherwise an array. */
		if (argc - first == 1) {
			doc = view_frontend_json(&v[0]);
		} else {
			doc = cJSON_CreateArray();
			for (size_t i = 0; i < n; i++)
				cJSON_AddItemToArray(doc, view_frontend_json(&v[i]));
		}
		err = out_json(doc);
		goto out;
	}
	if (!n)
		printf("no frontends\n");
	for (size_t i = 0; i < n; i++) {
		if (i)
			printf("\n");
		view_frontend_print(&v[i]);
	}
out:
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}

static int cmd_show(int argc, char **argv)
{
	int first = cli_no_options("frontend", help_frontend, argc, argv);

	if (first <= 0)
		return first;
	return frontend_show(argc, argv, first);
}

static int cmd_export(int argc, char **argv)
{
	struct view_frontend *v = NULL;
	struct bs_dp *dp = NULL;
	cJSON *doc = NULL, *list;
	size_t n = 0;
	int first = cli_no_options("frontend", help_frontend, argc, argv), err;

	if (first <= 0)
		return first;
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = views_named(dp, argc, argv, first, &v, &n);
	if (err)
		goto out;
	doc = cJSON_CreateObject();
	list = cJSON_AddArrayToObject(doc, "frontends");
	for (size_t i = 0; i < n; i++) {
		struct bs_frontend_spec spec;

		err = bs_dp_read(dp, &v[i].key, &spec);
		if (err) {
			cli_fail(err, "frontend %s", v[i].name);
			goto out;
		}
		cJSON_AddItemToArray(list, bs_spec_to_json(&spec));
		bs_frontend_spec_free(&spec);
	}
	/* Always JSON: it is the input format of apply. -p makes it readable. */
	err = out_json(doc);
	doc = NULL;
out:
	cJSON_Delete(doc);
	view_frontends_free(v, n);
	bs_dp_close(dp);
	return err;
}

static int cmd_remove(int argc, char **argv)
{
	struct bs_dp *dp = NULL;
	cJSON *arr = NULL;
	int first = cli_no_options("frontend", help_frontend, argc, argv), err;

	if (first <= 0)
		return first;
	if (first >= argc)
		return cli_usage("frontend", "frontend remove: expected FRONTEND...");
	for (int i = first; i < argc; i++) {
		struct bs_frontend_key key;

		err = parse_frontend_arg(argv[i], &key);
		if (err)
			return err;
	}
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	arr = cJSON_CreateArray();
	for (int i = first; i < argc; i++) {
		struct bs_frontend_key key;
		char name[80];

		bs_frontend_key_parse(argv[i], &key);
		bs_frontend_key_format(&key, name, sizeof(name));
		cli_note_agent_owned(dp, &key, "is removed");
		err = bs_dp_remove(dp, &key);
		if (err) {
			cli_fail(err, "frontend %s", name);
			break;
		}
		if (cli.json)
			cJSON_AddItemToArray(arr, cJSON_CreateString(name));
		else
			printf("frontend %s: removed\n", name);
	}
	if (cli.json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToObject(o, "removed", arr);
		arr = NULL;
		err = err ?: out_json(o);
		if (err)
			cJSON_Delete(o);
	}
	cJSON_Delete(arr);
	bs_dp_close(dp);
	return err;
}

/* The group an argument names: its name first, else its index. */
static int find_group(const struct bs_frontend_spec *spec, const char *name, __u32 *g)
{
	__u64 idx;

	for (__u32 i = 0; i < spec->n_groups; i++) {
		if (!strcmp(spec->groups[i].name, name)) {
			*g = i;
			return 0;
		}
	}
	if (!cli_parse_u64(name, BS_MAX_GROUPS - 1, &idx) && idx < spec->n_groups) {
		*g = idx;
		return 0;
	}
	return -ENOENT;
}

static int cmd_set_weights(int argc, char **argv)
{
	struct bs_frontend_spec spec = {};
	struct bs_frontend_key key;
	struct bs_dp *dp = NULL;
	cJSON *results = NULL;
	bool have_spec = false;
	char name[80];
	int first = cli_no_options("frontend", help_frontend, argc, argv), err;

	if (first <= 0)
		return first;
	if (argc - first < 2)
		return cli_usage("frontend", "frontend set-weights: expected FRONTEND GROUP=WEIGHT...");
	err = parse_frontend_arg(argv[first], &key);
	if (err)
		return err;
	for (int i = first + 1; i < argc; i++)
		if (!strchr(argv[i], '=') || argv[i][0] == '=')
			return cli_usage("frontend", "frontend set-weights: '%s': expected GROUP=WEIGHT", argv[i]);
	bs_frontend_key_format(&key, name, sizeof(name));
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	err = bs_dp_read(dp, &key, &spec);
	if (err) {
		cli_fail(err, "frontend %s", name);
		goto out;
	}
	have_spec = true;
	for (int i = first + 1; i < argc; i++) {
		char *eq = strrchr(argv[i], '='), group[BS_GROUP_NAME_LEN + 8];
		__u64 w;
		__u32 g;
		int e;

		snprintf(group, sizeof(group), "%.*s", (int)(eq - argv[i]), argv[i]);
		if (find_group(&spec, group, &g)) {
			char names[1024] = "";

			for (__u32 k = 0; k < spec.n_groups; k++)
				snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", k ? ", " : "",
					 spec.groups[k].name);
			cli_error("frontend %s: group \"%s\": not found (groups: %s)", name, group,
				  spec.n_groups ? names : "none");
			err = -ENOENT;
			goto out;
		}
		e = cli_parse_u64(eq + 1, BS_MAX_WEIGHT, &w);
		if (e == -ERANGE || (e && eq[1] == '-')) {
			cli_error("frontend %s: group %s: weight %s out of range 0..%d", name, spec.groups[g].name, eq + 1,
				  BS_MAX_WEIGHT);
			err = -ERANGE;
			goto out;
		}
		if (e) {
			cli_error("frontend %s: group %s: weight '%s' is not an integer 0..%d", name, spec.groups[g].name,
				  eq + 1, BS_MAX_WEIGHT);
			err = -EINVAL;
			goto out;
		}
		spec.groups[g].weight = w;
	}
	results = cJSON_CreateArray();
	err = apply_and_report(dp, &spec, results);
	if (!err && cli.json) {
		err = out_json(results);
		results = NULL;
	}
out:
	cJSON_Delete(results);
	if (have_spec)
		bs_frontend_spec_free(&spec);
	bs_dp_close(dp);
	return err;
}

/* "namespace/name": one slash, both sides non-empty, short enough for bs_fe_info. */
static int parse_ns_name(const char *opt, const char *s, char *out, size_t len)
{
	const char *slash = strchr(s, '/');

	if (!slash || slash == s || !slash[1] || strchr(slash + 1, '/'))
		return cli_usage("frontend", "frontend set-info: %s '%s': expected NAMESPACE/NAME", opt, s);
	if (strlen(s) >= len)
		return cli_usage("frontend", "frontend set-info: %s '%s': longer than %zu characters", opt, s, len - 1);
	snprintf(out, len, "%s", s);
	return 0;
}

/* Hidden (not in the command table, so that `frontend set` still means set-weights): for
 * frontends written by hand and for tests, store what `bpfsplit status` shows about where
 * a frontend comes from. bpfsplit-agent stores the same for the frontends it writes. */
static int cmd_set_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "route", required_argument, NULL, 'r' },   { "rollout", required_argument, NULL, 'o' },
		{ "step", required_argument, NULL, 's' },    { "phase", required_argument, NULL, 'p' },
		{ "paused", no_argument, NULL, 'P' },        { "aborted", no_argument, NULL, 'A' },
		{ "canary-weight", required_argument, NULL, 'w' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bs_frontend_info fi = { .step = -1 };
	struct bs_frontend_key key;
	struct bs_dp *dp = NULL;
	struct timespec ts;
	char name[80];
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		__u64 a, b;
		char *slash;

		switch (c) {
		case 'r':
			err = parse_ns_name("--route", optarg, fi.route, sizeof(fi.route));
			if (err)
				return err;
			break;
		case 'o':
			err = parse_ns_name("--rollout", optarg, fi.rollout, sizeof(fi.rollout));
			if (err)
				return err;
			break;
		case 's':
			slash = strchr(optarg, '/');
			if (slash)
				*slash = '\0';
			if (cli_parse_u64(optarg, INT32_MAX, &a) || (slash && (cli_parse_u64(slash + 1, INT32_MAX, &b) || !b))) {
				if (slash)
					*slash = '/';
				return cli_usage("frontend", "frontend set-info: --step '%s': expected STEP or STEP/STEPS", optarg);
			}
			fi.step = (__s32)a;
			fi.n_steps = slash ? (__s32)b : 0;
			break;
		case 'p':
			if (!optarg[0] || strlen(optarg) >= sizeof(fi.phase))
				return cli_usage("frontend", "frontend set-info: --phase '%s': 1..%zu characters", optarg,
						 sizeof(fi.phase) - 1);
			snprintf(fi.phase, sizeof(fi.phase), "%s", optarg);
			break;
		case 'P':
			fi.paused = 1;
			break;
		case 'A':
			fi.aborted = 1;
			break;
		case 'w':
			if (cli_parse_u64(optarg, 100, &a))
				return cli_usage("frontend", "frontend set-info: --canary-weight '%s': expected 0..100", optarg);
			fi.rollout_canary_weight = (__u32)a;
			break;
		case 'h':
			help_frontend();
			return 0;
		default:
			return cli_usage("frontend", "frontend set-info: unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind != argc - 1)
		return cli_usage("frontend", "frontend set-info: expected one FRONTEND");
	err = parse_frontend_arg(argv[optind], &key);
	if (err)
		return err;
	bs_frontend_key_format(&key, name, sizeof(name));
	clock_gettime(CLOCK_REALTIME, &ts);
	fi.updated_unix_ns = (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	err = bs_dp_set_info(dp, &key, &fi);
	if (err) {
		cli_fail(err, "frontend %s", name);
	} else if (cli.json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "frontend", name);
		cJSON_AddStringToObject(o, "result", "stored");
		err = out_json(o);
	} else {
		printf("frontend %s: info stored\n", name);
	}
	bs_dp_close(dp);
	return err;
}

static const struct cli_cmd cmds[] = {
	{ "apply", cmd_apply },   { "list", cmd_list },     { "show", cmd_show },
	{ "export", cmd_export }, { "remove", cmd_remove }, { "set-weights", cmd_set_weights },
	{ NULL, NULL },
};

int do_frontend(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "set-info")) /* exact name only: see cmd_set_info */
		return cmd_set_info(argc - 1, argv + 1);
	return cli_dispatch("frontend", cmds, argc - 1, argv + 1, help_frontend);
}
