// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit dataplane: load the programs and pin the maps, attach and detach entry
 * points, show what is pinned, change settings, unload everything. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "cli.h"
#include "output.h"

void help_dataplane(void)
{
	printf("Usage: bpfsplit dataplane load [--max-conns N] [--max-frontends N] [--max-backends N]\n"
	       "                              [--max-tables N] [--max-large-tables N] [--max-splits N]\n"
	       "                              [--max-members N]\n"
	       "       bpfsplit dataplane attach IFACE [--entry ENTRY[,ENTRY...]] [--xdp-mode MODE]\n"
	       "       bpfsplit dataplane detach IFACE [--entry ENTRY[,ENTRY...]]\n"
	       "       bpfsplit dataplane show\n"
	       "       bpfsplit dataplane verify\n"
	       "       bpfsplit dataplane set [--hash-key HEX32] [--linger-ms N] [--udp-idle-s N]\n"
	       "       bpfsplit dataplane unload\n"
	       "       bpfsplit dataplane help\n"
	       "\n"
	       "ENTRY := { xdp | tc-ingress | tc-egress }\n"
	       "  xdp         ingress of interfaces where packets arrive from a wire\n"
	       "  tc-ingress  ingress of interfaces where traffic comes from local sockets or pods\n"
	       "  tc-egress   egress towards clients: replies rewritten back to the frontend\n"
	       "MODE := { auto | native | generic }  (XDP only; default auto: native where the\n"
	       "  driver has it)\n"
	       "\n"
	       "load creates the pinned maps (sizes apply only then) or reuses them, and exits.\n"
	       "attach without --entry chooses: tc-ingress on virtual interfaces (veth, bridge,\n"
	       "tun...: packets from local sockets or pods may carry checksum seeds that only tc\n"
	       "updates exactly), xdp on the rest (a wire), and tc-egress for replies; it says which.\n"
	       "attach loads the programs against those maps and pins a link per entry point\n"
	       "under PIN_ROOT/links: it stays attached when bpfsplit exits. detach without\n"
	       "--entry detaches every entry point of IFACE. unload detaches everything and\n"
	       "removes every pin: the data path stops and its connection records are lost.\n"
	       "verify reads the maps the programs use (frontend, split, thresholds, tables,\n"
	       "backend slots) and compares them with what the writers recorded beside them\n"
	       "(bs_groups, bs_members): exit 0 when they agree, 1 with one line per difference\n"
	       "(-j: {\"clean\": bool, \"differences\": [...]}). It repairs nothing; the agent's\n"
	       "--resync repairs what it finds.\n"
	       "tc entry points attach as tcx links where the kernel has them (6.6 and later), as a\n"
	       "classic clsact qdisc with a direct-action cls_bpf filter below; the environment\n"
	       "variable BPFSPLIT_TC_ATTACH=classic (or tcx) forces one way.\n"
	       "The hash key (32 hex digits) must be the same on every node.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit dataplane load --max-conns 262144\n"
	       "  bpfsplit dataplane attach eth0 --entry xdp --xdp-mode native\n"
	       "  bpfsplit dataplane attach veth-pod --entry tc-ingress,tc-egress\n"
	       "  bpfsplit --netns lab dataplane attach to-client --entry xdp\n"
	       "  bpfsplit dataplane set --linger-ms 5000\n");
}

static cJSON *map_sizes_json(struct bs_dp *dp)
{
	cJSON *o = cJSON_CreateObject();

	for (unsigned int i = 0; i < bs_dp_map_count; i++) {
		__u32 max;

		if (!bs_dp_map_max_entries(dp, bs_dp_map_list[i], &max))
			cJSON_AddNumberToObject(o, bs_dp_map_list[i], max);
	}
	return o;
}

static void map_sizes_print(struct bs_dp *dp)
{
	printf("maps (max entries):\n");
	for (unsigned int i = 0; i < bs_dp_map_count; i++) {
		__u32 max;

		if (!bs_dp_map_max_entries(dp, bs_dp_map_list[i], &max))
			printf("  %-14s %u\n", bs_dp_map_list[i], max);
	}
}

static int parse_size(const char *opt, const char *s, __u32 *out)
{
	__u64 v;

	if (cli_parse_u64(s, 1u << 30, &v) || !v)
		return cli_usage("dataplane", "dataplane load: %s '%s': expected a number 1..%u", opt, s, 1u << 30);
	*out = v;
	return 0;
}

static int cmd_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "max-conns", required_argument, NULL, 'c' },  { "max-frontends", required_argument, NULL, 'f' },
		{ "max-backends", required_argument, NULL, 'b' }, { "max-tables", required_argument, NULL, 't' },
		{ "max-splits", required_argument, NULL, 's' },  { "max-members", required_argument, NULL, 'm' },
		{ "max-large-tables", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bs_dp_opts o = { .pin_root = cli.pin_root };
	struct bs_dp *dp = NULL;
	char pin[4096];
	bool reused, sized;
	int c, err = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			err = parse_size("--max-conns", optarg, &o.max_conns);
			break;
		case 'f':
			err = parse_size("--max-frontends", optarg, &o.max_frontends);
			break;
		case 'b':
			err = parse_size("--max-backends", optarg, &o.max_backends);
			break;
		case 't':
			err = parse_size("--max-tables", optarg, &o.max_tables);
			break;
		case 's':
			err = parse_size("--max-splits", optarg, &o.max_splits);
			break;
		case 'm':
			err = parse_size("--max-members", optarg, &o.max_members);
			break;
		case 'L':
			err = parse_size("--max-large-tables", optarg, &o.max_large_tables);
			break;
		case 'h':
			help_dataplane();
			return 0;
		default:
			return cli_usage("dataplane", "dataplane load: unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
		if (err)
			return err;
	}
	if (optind < argc)
		return cli_usage("dataplane", "dataplane load: unexpected argument '%s'", argv[optind]);
	err = cli_check_bpffs();
	if (err)
		return err;
	snprintf(pin, sizeof(pin), "%s/bs_frontends", cli.pin_root);
	reused = !access(pin, F_OK);
	sized = o.max_conns || o.max_frontends || o.max_backends || o.max_tables || o.max_splits || o.max_members ||
		o.max_large_tables;
	err = bs_dp_open(&o, &dp);
	if (err)
		return cli_fail(err, "pin root %s: cannot load the data path", cli.pin_root);
	if (reused && sized)
		fprintf(stderr, "note: maps already pinned under %s keep their sizes; 'dataplane unload' first to "
				"resize them\n",
			cli.pin_root);
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "pin_root", cli.pin_root);
		cJSON_AddStringToObject(j, "maps", reused ? "reused" : "created");
		cJSON_AddItemToObject(j, "max_entries", map_sizes_json(dp));
		err = out_json(j);
	} else {
		printf("data path loaded: maps %s under %s\n", reused ? "reused" : "pinned", cli.pin_root);
		map_sizes_print(dp);
	}
	bs_dp_close(dp);
	return err;
}

/* "xdp,tc-egress" -> a set of entries (bit per enum bs_entry). */
static int parse_entries(const char *cmd, const char *s, unsigned *set)
{
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", s);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum bs_entry e;

		if (bs_entry_parse(tok, &e))
			return cli_usage("dataplane", "dataplane %s: --entry '%s': expected xdp, tc-ingress or tc-egress",
					 cmd, tok);
		*set |= 1u << e;
	}
	if (!*set)
		return cli_usage("dataplane", "dataplane %s: --entry: expected xdp, tc-ingress or tc-egress", cmd);
	return 0;
}

static int cmd_attach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "entry", required_argument, NULL, 'e' }, { "xdp-mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },        { 0 },
	};
	struct bs_dp_opts o = { .pin_root = cli.pin_root };
	enum bs_xdp_mode mode = BS_XDP_AUTO;
	bool mode_given = false;
	struct bs_dp *dp = NULL;
	cJSON *arr = NULL;
	const char *ifname;
	unsigned entries = 0;
	int c, err, n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'e':
			err = parse_entries("attach", optarg, &entries);
			if (err)
				return err;
			break;
		case 'm':
			mode_given = true;
			if (!strcmp(optarg, "auto"))
				mode = BS_XDP_AUTO;
			else if (!strcmp(optarg, "native") || !strcmp(optarg, "drv"))
				mode = BS_XDP_NATIVE;
			else if (!strcmp(optarg, "generic") || !strcmp(optarg, "skb"))
				mode = BS_XDP_GENERIC;
			else
				return cli_usage("dataplane", "dataplane attach: --xdp-mode '%s': expected auto, native "
							      "or generic",
						 optarg);
			break;
		case 'h':
			help_dataplane();
			return 0;
		default:
			return cli_usage("dataplane", "dataplane attach: unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage("dataplane", "dataplane attach: expected one IFACE");
	ifname = argv[optind];
	if (!entries) {
		/* The loader's choice: the ingress entry point the driver calls for, plus egress. */
		enum bs_entry in;
		char why[160];

		err = bs_entry_auto(ifname, &in, why, sizeof(why));
		if (err == -ENODEV)
			return cli_fail(err, "interface %s: not found%s", ifname,
					cli.netns ? "" : " (in another network namespace? see --netns)");
		if (err)
			return cli_fail(err, "interface %s: cannot tell its driver", ifname);
		entries = 1u << in | 1u << BS_ENTRY_TC_EGRESS;
		if (!cli.json)
			printf("%s: %s for ingress (%s), tc-egress for replies\n", ifname, bs_entry_name(in), why);
	}
	if (mode_given && !(entries & (1u << BS_ENTRY_XDP)))
		return cli_usage("dataplane", "dataplane attach: --xdp-mode applies to --entry xdp only");
	err = cli_check_bpffs();
	if (err)
		return err;
	err = bs_dp_open(&o, &dp);
	if (err)
		return cli_fail(err, "pin root %s: cannot load the data path", cli.pin_root);
	arr = cJSON_CreateArray();
	for (int e = BS_ENTRY_XDP; e <= BS_ENTRY_TC_EGRESS; e++) {
		char how[64] = "", *sp;
		const char *m;

		if (!(entries & (1u << e)))
			continue;
		err = bs_dp_attach(dp, ifname, e, mode, how, sizeof(how));
		if (err == -EEXIST) {
			cli_error("%s on %s: already attached (detach it first: bpfsplit dataplane detach %s --entry %s)",
				  bs_entry_name(e), ifname, ifname, bs_entry_name(e));
			break;
		}
		if (err == -ENODEV) {
			cli_error("interface %s: not found%s", ifname,
				  cli.netns ? "" : " (in another network namespace? see --netns)");
			break;
		}
		if (err) {
			cli_fail(err, "%s on %s: cannot attach", bs_entry_name(e), ifname);
			break;
		}
		sp = strchr(how, ' ');
		m = e == BS_ENTRY_XDP ? (sp ? sp + 1 : how) : strncmp(how, "tc classic", 10) ? "tcx" : "tc-classic";
		if (cli.json) {
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "ifname", ifname);
			cJSON_AddStringToObject(j, "entry", bs_entry_name(e));
			cJSON_AddStringToObject(j, "mode", m);
			cJSON_AddItemToArray(arr, j);
		} else {
			printf("attached %s (%s) on %s\n", bs_entry_name(e), m, ifname);
		}
		n++;
	}
	if (cli.json && n) {
		/* One entry: its object; several: an array. */
		cJSON *doc = n == 1 ? cJSON_DetachItemFromArray(arr, 0) : arr;
		int e;

		if (doc == arr)
			arr = NULL;
		e = out_json(doc);
		err = err ?: e;
	}
	cJSON_Delete(arr);
	bs_dp_close(dp);
	return err;
}

static int cmd_detach(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "entry", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	unsigned entries = 0;
	bool all;
	cJSON *arr;
	const char *ifname;
	int c, err = 0, n = 0;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'e') {
			err = parse_entries("detach", optarg, &entries);
			if (err)
				return err;
		} else if (c == 'h') {
			help_dataplane();
			return 0;
		} else {
			return cli_usage("dataplane", "dataplane detach: unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
	}
	if (argc - optind != 1)
		return cli_usage("dataplane", "dataplane detach: expected one IFACE");
	ifname = argv[optind];
	all = !entries;
	if (all)
		entries = (1u << BS_ENTRY_XDP) | (1u << BS_ENTRY_TC_INGRESS) | (1u << BS_ENTRY_TC_EGRESS);
	if (access(cli.pin_root, F_OK)) {
		cli_error("pin root %s: no data path pinned", cli.pin_root);
		return -CLI_ENODP;
	}
	arr = cJSON_CreateArray();
	for (int e = BS_ENTRY_XDP; e <= BS_ENTRY_TC_EGRESS; e++) {
		int r;

		if (!(entries & (1u << e)))
			continue;
		r = bs_dp_detach(cli.pin_root, ifname, e);
		if (r == -ENOENT && all)
			continue;
		if (r == -ENOENT) {
			cli_error("%s on %s: not attached", bs_entry_name(e), ifname);
			err = err ?: r;
			continue;
		}
		if (r) {
			cli_fail(r, "%s on %s: cannot detach", bs_entry_name(e), ifname);
			err = err ?: r;
			continue;
		}
		n++;
		if (cli.json) {
			cJSON *j = cJSON_CreateObject();

			cJSON_AddStringToObject(j, "ifname", ifname);
			cJSON_AddStringToObject(j, "entry", bs_entry_name(e));
			cJSON_AddItemToArray(arr, j);
		} else {
			printf("detached %s from %s\n", bs_entry_name(e), ifname);
		}
	}
	if (all && !n && !err) {
		cli_error("interface %s: nothing of ours attached", ifname);
		err = -ENOENT;
	}
	if (cli.json && n) {
		cJSON *doc = cJSON_CreateObject();

		cJSON_AddItemToObject(doc, "detached", arr);
		arr = NULL;
		c = out_json(doc);
		err = err ?: c;
	}
	cJSON_Delete(arr);
	return err;
}

static int cmd_unload(int argc, char **argv)
{
	int first = cli_no_options("dataplane", help_dataplane, argc, argv), err;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("dataplane", "dataplane unload: takes no arguments");
	if (access(cli.pin_root, F_OK)) {
		cli_error("pin root %s: no data path pinned", cli.pin_root);
		return -CLI_ENODP;
	}
	{
		int holder = 0;

		if (bs_dp_agent_serving(cli.pin_root, &holder))
			fprintf(stderr, "note: a bpfsplit-agent (pid %d) serves pin root %s; it keeps running without "
					"a data path until it is stopped\n",
				holder, cli.pin_root);
	}
	bs_dp_unclaim(cli.pin_root);
	err = bs_dp_unpin_all(cli.pin_root);
	if (err)
		return cli_fail(err, "pin root %s: cannot unload", cli.pin_root);
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "unloaded", cli.pin_root);
		return out_json(j);
	}
	printf("data path unloaded: links detached, pins under %s removed\n", cli.pin_root);
	return 0;
}

struct links_ctx {
	cJSON *arr;
	int n;
};

static int link_cb(const struct bs_link_info *li, void *arg)
{
	struct links_ctx *lc = arg;

	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "ifname", li->ifname);
		cJSON_AddStringToObject(j, "entry", bs_entry_name(li->entry));
		cJSON_AddStringToObject(j, "mode", li->mode);
		cJSON_AddNumberToObject(j, "prog_id", li->prog_id);
		cJSON_AddItemToArray(lc->arr, j);
	} else {
		if (!lc->n)
			printf("  %-16s %-11s %-8s %s\n", "IFACE", "ENTRY", "MODE", "PROG_ID");
		printf("  %-16s %-11s %-8s %u\n", li->ifname, bs_entry_name(li->entry), li->mode, li->prog_id);
	}
	lc->n++;
	return 0;
}

static int cmd_show(int argc, char **argv)
{
	int first = cli_no_options("dataplane", help_dataplane, argc, argv), err;
	struct links_ctx lc = {};
	struct bs_settings s;
	struct bs_dp *dp = NULL;
	char key[40], d1[32], d2[32];

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("dataplane", "dataplane show: takes no arguments");
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = bs_dp_get_settings(dp, &s);
	if (err) {
		cli_fail(err, "pin root %s: cannot read the settings", cli.pin_root);
		goto out;
	}
	out_hash_key(s.hash_key, key, sizeof(key));
	if (cli.json) {
		cJSON *j = cJSON_CreateObject(), *st;

		cJSON_AddStringToObject(j, "pin_root", cli.pin_root);
		lc.arr = cJSON_AddArrayToObject(j, "links");
		err = bs_dp_for_each_link(cli.pin_root, link_cb, &lc);
		st = cJSON_AddObjectToObject(j, "settings");
		cJSON_AddStringToObject(st, "hash_key", key);
		out_json_u64(st, "linger_ns", s.linger_ns);
		out_json_u64(st, "udp_idle_ns", s.udp_idle_ns);
		cJSON_AddItemToObject(j, "max_entries", map_sizes_json(dp));
		if (err) {
			cJSON_Delete(j);
			cli_fail(err, "pin root %s: cannot list links", cli.pin_root);
			goto out;
		}
		err = out_json(j);
		goto out;
	}
	printf("pin root %s\n", cli.pin_root);
	printf("links:\n");
	err = bs_dp_for_each_link(cli.pin_root, link_cb, &lc);
	if (err) {
		cli_fail(err, "pin root %s: cannot list links", cli.pin_root);
		goto out;
	}
	if (!lc.n)
		printf("  none (nothing attached: 'bpfsplit dataplane attach IFACE --entry ...')\n");
	out_duration(s.linger_ns, d1, sizeof(d1));
	out_duration(s.udp_idle_ns, d2, sizeof(d2));
	printf("settings:\n  hash_key  %s\n  linger    %s (%llu ns)\n  udp_idle  %s (%llu ns)\n", key, d1,
	       (unsigned long long)s.linger_ns, d2, (unsigned long long)s.udp_idle_ns);
	map_sizes_print(dp);
out:
	bs_dp_close(dp);
	return err;
}

static int parse_hash_key(const char *s, __u32 key[4])
{
	if (strlen(s) != 32)
		return -EINVAL;
	for (int w = 0; w < 4; w++) {
		char word[9];
		char *end;

		memcpy(word, s + 8 * w, 8);
		word[8] = '\0';
		for (int i = 0; i < 8; i++)
			if (!strchr("0123456789abcdefABCDEF", word[i]))
				return -EINVAL;
		key[w] = (__u32)strtoul(word, &end, 16);
	}
	return 0;
}

static int cmd_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hash-key", required_argument, NULL, 'k' }, { "linger-ms", required_argument, NULL, 'l' },
		{ "udp-idle-s", required_argument, NULL, 'u' }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const __u64 max_ms = 24ULL * 3600 * 1000, max_s = 24ULL * 3600;
	struct bs_settings s, was;
	struct bs_dp *dp = NULL;
	__u32 key[4];
	__u64 linger_ms = 0, idle_s = 0;
	bool set_key = false, set_linger = false, set_idle = false;
	char k1[40], k2[40];
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			if (parse_hash_key(optarg, key))
				return cli_usage("dataplane", "dataplane set: --hash-key '%s': expected 32 hex digits",
						 optarg);
			set_key = true;
			break;
		case 'l':
			if (cli_parse_u64(optarg, max_ms, &linger_ms) || !linger_ms)
				return cli_usage("dataplane", "dataplane set: --linger-ms '%s': expected 1..%llu", optarg,
						 (unsigned long long)max_ms);
			set_linger = true;
			break;
		case 'u':
			if (cli_parse_u64(optarg, max_s, &idle_s) || !idle_s)
				return cli_usage("dataplane", "dataplane set: --udp-idle-s '%s': expected 1..%llu", optarg,
						 (unsigned long long)max_s);
			set_idle = true;
			break;
		case 'h':
			help_dataplane();
			return 0;
		default:
			return cli_usage("dataplane", "dataplane set: unknown option or missing value '%s'",
					 argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("dataplane", "dataplane set: unexpected argument '%s'", argv[optind]);
	if (!set_key && !set_linger && !set_idle)
		return cli_usage("dataplane", "dataplane set: expected --hash-key, --linger-ms or --udp-idle-s");
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	err = bs_dp_get_settings(dp, &s);
	if (err) {
		cli_fail(err, "pin root %s: cannot read the settings", cli.pin_root);
		goto out;
	}
	was = s;
	if (set_key)
		memcpy(s.hash_key, key, sizeof(s.hash_key));
	if (set_linger)
		s.linger_ns = linger_ms * 1000000ULL;
	if (set_idle)
		s.udp_idle_ns = idle_s * 1000000000ULL;
	err = bs_dp_set_settings(dp, &s);
	if (err) {
		cli_fail(err, "pin root %s: cannot write the settings", cli.pin_root);
		goto out;
	}
	out_hash_key(s.hash_key, k1, sizeof(k1));
	out_hash_key(was.hash_key, k2, sizeof(k2));
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "hash_key", k1);
		out_json_u64(j, "linger_ns", s.linger_ns);
		out_json_u64(j, "udp_idle_ns", s.udp_idle_ns);
		err = out_json(j);
		goto out;
	}
	if (set_key)
		printf("hash_key %s -> %s\n", k2, k1);
	if (set_linger)
		printf("linger_ns %llu -> %llu\n", (unsigned long long)was.linger_ns, (unsigned long long)s.linger_ns);
	if (set_idle)
		printf("udp_idle_ns %llu -> %llu\n", (unsigned long long)was.udp_idle_ns,
		       (unsigned long long)s.udp_idle_ns);
	if (set_key)
		fprintf(stderr, "note: set the same hash key on every node, or flows that move between nodes "
				"may land on other backends\n");
out:
	bs_dp_close(dp);
	return err;
}

struct verify_ctx {
	cJSON *list;
	int n;
};

static void verify_one(const struct bs_verify_diff *d, void *arg)
{
	struct verify_ctx *vc = arg;
	char fe[80] = "-";

	if (d->key.family)
		bs_frontend_key_format(&d->key, fe, sizeof(fe));
	vc->n++;
	if (vc->list) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "frontend", fe);
		cJSON_AddNumberToObject(o, "frontend_id", d->frontend_id);
		cJSON_AddStringToObject(o, "what", d->what);
		cJSON_AddStringToObject(o, "detail", d->detail);
		cJSON_AddItemToArray(vc->list, o);
		return;
	}
	printf("frontend %s (id %u): %s: %s\n", fe, d->frontend_id, d->what, d->detail);
}

static int cmd_verify(int argc, char **argv)
{
	int first = cli_no_options("dataplane", help_dataplane, argc, argv), err;
	struct verify_ctx vc = { NULL, 0 };
	struct bs_dp *dp = NULL;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("dataplane", "dataplane verify: takes no arguments");
	/* A writer handle: its registry, rebuilt from the metadata maps, is what the writers
	 * recorded; verify compares the programs' maps with it (and repairs nothing here). */
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	if (cli.json)
		vc.list = cJSON_CreateArray();
	err = bs_dp_verify(dp, false, verify_one, &vc);
	bs_dp_close(dp);
	if (err < 0) {
		cJSON_Delete(vc.list);
		return cli_fail(err, "pin root %s: cannot verify the data path", cli.pin_root);
	}
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddBoolToObject(j, "clean", vc.n == 0);
		cJSON_AddItemToObject(j, "differences", vc.list);
		err = out_json(j);
		if (err)
			return err;
	} else if (!vc.n) {
		printf("data path consistent: every frontend's split, tables and backend slots match what was written\n");
	}
	if (!vc.n)
		return 0;
	cli_error("%d difference%s between the maps and what was written", vc.n, vc.n == 1 ? "" : "s");
	return -CLI_EDIFF;
}

static const struct cli_cmd cmds[] = {
	{ "load", cmd_load },     { "attach", cmd_attach }, { "detach", cmd_detach },
	{ "show", cmd_show },     { "set", cmd_set },       { "unload", cmd_unload },
	{ "verify", cmd_verify }, { NULL, NULL },
};

int do_dataplane(int argc, char **argv)
{
	return cli_dispatch("dataplane", cmds, argc - 1, argv + 1, help_dataplane);
}
