// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit: inspect and operate the pinned data path (works with the agent down).
 * Global options, then OBJECT COMMAND [ARGS], dispatched from tables by unique prefix. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>
#include <cjson/cJSON.h>
#include "cli.h"
#include "log.h"

#ifndef BPFSPLIT_VERSION
#define BPFSPLIT_VERSION "0.1.0"
#endif

static void help_main(void)
{
	printf("Usage: bpfsplit [OPTIONS] OBJECT COMMAND [ARGS]\n"
	       "       bpfsplit help [OBJECT]\n"
	       "       bpfsplit version\n"
	       "\n"
	       "OBJECT := { dataplane | frontend | backend | flow | cgroup | node | stats | status | watch }\n"
	       "  dataplane  load, attach, detach, show, set, unload the pinned programs and maps\n"
	       "  frontend   apply, list, show, export, remove, set-weights the weighted splits\n"
	       "  backend    list, drain, undrain backends (endpoints) of every frontend\n"
	       "  flow       list, gc the connection records; predict a client's backend\n"
	       "  cgroup     attach, detach, list the socket hooks (connect-time split) on a cgroup\n"
	       "  node       set, show this node's NAT mode (snat) for the packet path\n"
	       "  stats      frontend, backend and per-reason counters\n"
	       "  status     every frontend: its route, rollout and step, each group's weight and\n"
	       "             observed share of new connections, backends with open connections\n"
	       "  watch      status again every interval\n"
	       "Objects and commands may be abbreviated to a unique prefix (fr sh = frontend show).\n"
	       "\n"
	       "OPTIONS:\n"
	       "  --pin-root DIR  bpffs folder of the data path (default $BPFSPLIT_PIN_ROOT,\n"
	       "                  else %s)\n"
	       "  -j, --json      JSON output (snake_case keys, units in names: bytes, *_ns)\n"
	       "  -p, --pretty    indented JSON output (implies -j)\n"
	       "  --netns NAME    run in network namespace NAME (/run/netns/NAME, as 'ip netns'),\n"
	       "                  e.g. to attach to its interfaces; the pin root stays the host's\n"
	       "  -v, --verbose   more log output (-vv: libbpf's debug output too)\n"
	       "  -h, --help      this help; 'bpfsplit OBJECT help' for an object's\n"
	       "  -V, --version   version\n"
	       "-j and -p are also accepted after OBJECT.\n"
	       "\n"
	       "Exit status:\n"
	       "  0  success\n"
	       "  1  error (invalid spec, failed write, ...)\n"
	       "  2  usage error (unknown command or option, malformed argument)\n"
	       "  3  no data path pinned under the pin root\n"
	       "  4  not found (the frontend, backend, group, interface, link or file named)\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit dataplane load\n"
	       "  bpfsplit dataplane attach eth0 --entry xdp\n"
	       "  bpfsplit frontend apply web.json\n"
	       "  bpfsplit frontend set-weights 10.96.0.10:80/tcp stable=70 canary=30\n"
	       "  bpfsplit backend drain 10.201.1.2:8080\n"
	       "  bpfsplit -p frontend show 10.96.0.10:80/tcp\n"
	       "  bpfsplit flow list --frontend 10.96.0.10:80/tcp --limit 20\n"
	       "  bpfsplit stats -j | jq .reasons\n",
	       BS_DEFAULT_PIN_ROOT);
}

static int do_version(int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(NULL, "version: takes no arguments");
	if (cli.json) {
		printf("{\"version\":\"%s\",\"libbpf\":\"%s\",\"cjson\":\"%s\"}\n", BPFSPLIT_VERSION,
		       libbpf_version_string(), cJSON_Version());
		return 0;
	}
	printf("bpfsplit %s (libbpf %s, cJSON %s)\n", BPFSPLIT_VERSION, libbpf_version_string(), cJSON_Version());
	return 0;
}

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv); /* argv[0] is the object's name */
	void (*help)(void);
} objects[] = {
	{ "dataplane", do_dataplane, help_dataplane },
	{ "frontend", do_frontend, help_frontend },
	{ "backend", do_backend, help_backend },
	{ "flow", do_flow, help_flow },
	{ "cgroup", do_cgroup, help_cgroup },
	{ "node", do_node, help_node },
	{ "stats", do_stats, help_stats },
	{ "status", do_status, help_status },
	{ "watch", do_watch, help_watch },
	{ "version", do_version, help_main },
	{ "help", NULL, help_main },
};
#define N_OBJECTS (sizeof(objects) / sizeof(objects[0]))

/* Index of the object s names (exact, else unique prefix); reports and returns < 0. */
static int find_object(const char *s)
{
	char names[256] = "";
	int found = -1, n = 0;

	for (size_t i = 0; i < N_OBJECTS; i++) {
		if (!strcmp(objects[i].name, s))
			return i;
		if (!strncmp(objects[i].name, s, strlen(s))) {
			found = i;
			n++;
			snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", n > 1 ? ", " : "",
				 objects[i].name);
		}
	}
	if (n == 1)
		return found;
	if (n > 1)
		return cli_usage(NULL, "'%s' is ambiguous: %s", s, names);
	return cli_usage(NULL, "unknown object '%s'", s);
}

/* Take -j/--json/-p/--pretty out of argv wherever they are (before a "--"). */
static int strip_output_flags(int argc, char **argv)
{
	int out = 0;
	bool dashdash = false;

	for (int i = 0; i < argc; i++) {
		if (!dashdash && (!strcmp(argv[i], "-j") || !strcmp(argv[i], "--json"))) {
			cli.json = true;
			continue;
		}
		if (!dashdash && (!strcmp(argv[i], "-p") || !strcmp(argv[i], "--pretty"))) {
			cli.json = cli.pretty = true;
			continue;
		}
		dashdash |= !strcmp(argv[i], "--");
		argv[out++] = argv[i];
	}
	argv[out] = NULL;
	return out;
}

static int run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pin-root", required_argument, NULL, 'r' }, { "json", no_argument, NULL, 'j' },
		{ "pretty", no_argument, NULL, 'p' },         { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },           { "version", no_argument, NULL, 'V' },
		{ "netns", required_argument, NULL, 'n' },
		{ 0 },
	};
	const char *env = getenv("BPFSPLIT_PIN_ROOT");
	int c, idx;

	if (env && *env)
		cli.pin_root = env;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+jpvhV", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			if (!*optarg)
				return cli_usage(NULL, "--pin-root: empty path");
			cli.pin_root = optarg;
			break;
		case 'n':
			cli.netns = optarg;
			break;
		case 'j':
			cli.json = true;
			break;
		case 'p':
			cli.json = cli.pretty = true;
			break;
		case 'v':
			cli.verbose++;
			break;
		case 'h':
			help_main();
			return 0;
		case 'V':
			return do_version(1, argv);
		default:
			if (optind > 0 && !strcmp(argv[optind - 1], "--pin-root"))
				return cli_usage(NULL, "--pin-root: expected a DIR");
			if (optind > 0 && !strcmp(argv[optind - 1], "--netns"))
				return cli_usage(NULL, "--netns: expected a NAME");
			return cli_usage(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	bs_log_set_level(cli.verbose >= 2 ? BS_LOG_DEBUG : cli.verbose ? BS_LOG_INFO : BS_LOG_WARN);
	bs_log_capture_libbpf();
	if (cli.netns) {
		int err = cli_enter_netns(cli.netns);

		if (err)
			return err;
	}

	argc -= optind;
	argv += optind;
	if (argc < 1)
		return cli_usage(NULL, "expected OBJECT COMMAND: dataplane, frontend, backend, flow, stats, status, "
				       "watch");
	argc = strip_output_flags(argc, argv);
	idx = find_object(argv[0]);
	if (idx < 0)
		return idx;
	if (!objects[idx].fn) { /* help [OBJECT] */
		if (argc < 2) {
			help_main();
			return 0;
		}
		idx = find_object(argv[1]);
		if (idx < 0)
			return idx;
		objects[idx].help();
		return 0;
	}
	return objects[idx].fn(argc, argv);
}

int main(int argc, char **argv)
{
	int err = run(argc, argv);

	fflush(stdout);
	if (err && !cli_error_reported())
		cli_error("%s", strerror(-err > 0 && -err < 4096 ? -err : EIO));
	return cli_exit_status(err);
}
