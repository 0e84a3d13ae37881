// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit cgroup / node / flow predict: what a cluster node adds to the data path — the
 * socket hooks on the node's cgroup (connect-time split for pods), the node's NAT mode
 * for frontends reached on the packet path, and "which backend would this flow get". */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "output.h"

void help_cgroup(void)
{
	printf("Usage: bpfsplit cgroup attach CGROUP_DIR\n"
	       "       bpfsplit cgroup detach CGROUP_DIR\n"
	       "       bpfsplit cgroup list\n"
	       "\n"
	       "attach loads the data path (as dataplane load) and attaches the socket hooks\n"
	       "(connect4/6, sendmsg4/6, recvmsg4/6, getpeername4/6) to a cgroup v2 directory: the\n"
	       "node's cgroup root (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host).\n"
	       "Every process in it then gets its backend when it calls connect() (or sends an\n"
	       "unconnected UDP datagram) to a frontend: no NAT, the backend sees the pod's own\n"
	       "address, and getpeername()/recvfrom() show the frontend. The choice hashes the\n"
	       "socket's bound source address and port with the frontend (an unbound socket: its\n"
	       "socket cookie); a refused choice (zero weights, no backend) fails with EPERM.\n"
	       "Links are pinned under <pin root>/cgroup/ and stay when this command exits.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit cgroup attach /sys/fs/cgroup\n"
	       "  bpfsplit -j cgroup list\n");
}

void help_node(void)
{
	printf("Usage: bpfsplit node set [--nat snat|none] [--node-addr ADDR]... [--snat-ports LO-HI]\n"
	       "                         [--snat-hold SECONDS]\n"
	       "       bpfsplit node show\n"
	       "\n"
	       "How this node's packet path (XDP/tc entry points) reaches backends:\n"
	       "  none  destination rewrite only; replies must leave through this node's tc egress\n"
	       "        (single-node topologies)\n"
	       "  snat  the source is rewritten to the node address and a port allocated per flow,\n"
	       "        so that replies from backends on any node come back through this node and\n"
	       "        are translated back before its stack sees them (backends see the node's\n"
	       "        address). Needs the tc-ingress entry point on the interfaces packets and\n"
	       "        replies arrive on (uplink and the pods' veths); XDP passes snat frontends to it.\n"
	       "--node-addr takes one IPv4 and/or one IPv6 address. --snat-ports defaults to\n"
	       "%u-%u: keep it outside net.ipv4.ip_local_port_range. --snat-hold (default %u s)\n"
	       "is how long a closed flow keeps its port: at least the backends' TIME_WAIT (60 s\n"
	       "on Linux), or a new flow reusing the port meets the old connection's state there.\n"
	       "So one node sustains about PORTS / HOLD new flows per second to each backend.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit node set --nat snat --node-addr 192.168.0.11 --node-addr fd00::11\n",
	       BS_DEFAULT_SNAT_PORT_LO, BS_DEFAULT_SNAT_PORT_HI, BS_DEFAULT_SNAT_HOLD_S);
}

/* ---- cgroup ---- */

static int cmd_cgroup_attach(int argc, char **argv)
{
	struct bs_dp_opts o = { .pin_root = cli.pin_root };
	int first = cli_no_options("cgroup", help_cgroup, argc, argv), err;
	struct bs_dp *dp = NULL;
	char how[128];

	if (first <= 0)
		return first;
	if (argc - first != 1)
		return cli_usage("cgroup", "cgroup attach: expected one CGROUP_DIR");
	err = cli_check_bpffs();
	err = err ?: bs_dp_open(&o, &dp);
	if (err)
		return cli_fail(err, "pin root %s: cannot load the data path", cli.pin_root);
	err = bs_dp_attach_cgroup(dp, argv[first], how, sizeof(how));
	bs_dp_close(dp);
	if (err == -EEXIST)
		return cli_fail(err, "cgroup %s: the socket hooks are already attached", argv[first]);
	if (err)
		return cli_fail(err, "cgroup %s: cannot attach the socket hooks", argv[first]);
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "cgroup", argv[first]);
		cJSON_AddStringToObject(j, "attached", how);
		return out_json(j);
	}
	printf("cgroup %s: %s\n", argv[first], how);
	return 0;
}

static int cmd_cgroup_detach(int argc, char **argv)
{
	int first = cli_no_options("cgroup", help_cgroup, argc, argv), err;

	if (first <= 0)
		return first;
	if (argc - first != 1)
		return cli_usage("cgroup", "cgroup detach: expected one CGROUP_DIR");
	err = bs_dp_detach_cgroup(cli.pin_root, argv[first]);
	if (err)
		return cli_fail(err, "cgroup %s: cannot detach the socket hooks", argv[first]);
	if (!cli.json)
		printf("cgroup %s: socket hooks detached\n", argv[first]);
	return 0;
}

static int list_one(const char *path, void *ctx)
{
	if (cli.json)
		cJSON_AddItemToArray(ctx, cJSON_CreateString(path));
	else
		printf("%s\n", path);
	return 0;
}

static int cmd_cgroup_list(int argc, char **argv)
{
	int first = cli_no_options("cgroup", help_cgroup, argc, argv), err;
	cJSON *arr = cli.json ? cJSON_CreateArray() : NULL;

	if (first <= 0)
		return first;
	err = bs_dp_for_each_cgroup(cli.pin_root, list_one, arr);
	if (err) {
		cJSON_Delete(arr);
		return cli_fail(err, "pin root %s: cannot list cgroup links", cli.pin_root);
	}
	return arr ? out_json(arr) : 0;
}

static const struct cli_cmd cgroup_cmds[] = {
	{ "attach", cmd_cgroup_attach },
	{ "detach", cmd_cgroup_detach },
	{ "list", cmd_cgroup_list },
	{ NULL, NULL },
};

int do_cgroup(int argc, char **argv)
{
	return cli_dispatch("cgroup", cgroup_cmds, argc - 1, argv + 1, help_cgroup);
}

/* ---- node ---- */

static int cmd_node_set(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "nat", required_argument, NULL, 'n' },	{ "node-addr", required_argument, NULL, 'a' },
		{ "snat-ports", required_argument, NULL, 'p' }, { "snat-hold", required_argument, NULL, 'H' },
		{ "help", no_argument, NULL, 'h' },		{ 0 },
	};
	struct bs_node_cfg cfg = {};
	unsigned lo, hi;
	char extra;
	int c, err;

	err = bs_dp_get_node(cli.pin_root, &cfg);
	if (err)
		return cli_fail(err == -ENOENT ? -CLI_ENODP : err, "pin root %s: no node settings map (load the data "
				"path first)", cli.pin_root);
	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (!strcmp(optarg, "snat"))
				cfg.nat_mode = BS_NAT_SNAT;
			else if (!strcmp(optarg, "none"))
				cfg.nat_mode = BS_NAT_NONE;
			else
				return cli_usage("node", "node set: --nat '%s': expected snat or none", optarg);
			break;
		case 'a':
			if (inet_pton(AF_INET, optarg, &cfg.addr4) == 1)
				break;
			if (inet_pton(AF_INET6, optarg, cfg.addr6) == 1)
				break;
			return cli_usage("node", "node set: --node-addr '%s': not an IPv4 or IPv6 address", optarg);
		case 'p':
			if (sscanf(optarg, "%u-%u%c", &lo, &hi, &extra) != 2 || lo > 65535 || hi > 65535)
				return cli_usage("node", "node set: --snat-ports '%s': expected LO-HI", optarg);
			cfg.port_lo = lo;
			cfg.port_hi = hi;
			break;
		case 'H': {
			__u64 v;

			if (cli_parse_u64(optarg, 86400, &v))
				return cli_usage("node", "node set: --snat-hold '%s': expected seconds, 0..86400", optarg);
			cfg.snat_hold_s = (__u32)v;
			break;
		}
		case 'h':
			help_node();
			return 0;
		default:
			return cli_usage("node", "node set: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind != argc)
		return cli_usage("node", "node set: unexpected argument '%s'", argv[optind]);
	err = bs_dp_set_node(cli.pin_root, &cfg);
	if (err)
		return cli_fail(err, "pin root %s: cannot set the node's NAT settings", cli.pin_root);
	if (!cli.json)
		printf("node: nat %s\n", cfg.nat_mode == BS_NAT_SNAT ? "snat" : "none");
	return 0;
}

static int cmd_node_show(int argc, char **argv)
{
	int first = cli_no_options("node", help_node, argc, argv), err;
	struct bs_node_cfg cfg;
	char a4[INET_ADDRSTRLEN] = "", a6[INET6_ADDRSTRLEN] = "";
	static const __be32 none6[4];

	if (first <= 0)
		return first;
	err = bs_dp_get_node(cli.pin_root, &cfg);
	if (err)
		return cli_fail(err == -ENOENT ? -CLI_ENODP : err, "pin root %s: cannot read the node settings",
				cli.pin_root);
	if (cfg.addr4)
		inet_ntop(AF_INET, &cfg.addr4, a4, sizeof(a4));
	if (memcmp(cfg.addr6, none6, sizeof(none6)))
		inet_ntop(AF_INET6, cfg.addr6, a6, sizeof(a6));
	if (cli.json) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddStringToObject(j, "nat", cfg.nat_mode == BS_NAT_SNAT ? "snat" : "none");
		cJSON_AddStringToObject(j, "addr4", a4);
		cJSON_AddStringToObject(j, "addr6", a6);
		cJSON_AddNumberToObject(j, "snat_port_lo", cfg.port_lo);
		cJSON_AddNumberToObject(j, "snat_port_hi", cfg.port_hi);
		cJSON_AddNumberToObject(j, "snat_hold_s", cfg.snat_hold_s);
		return out_json(j);
	}
	printf("nat %s addr4 %s addr6 %s snat ports %u-%u hold %us\n", cfg.nat_mode == BS_NAT_SNAT ? "snat" : "none",
	       a4[0] ? a4 : "-", a6[0] ? a6 : "-", cfg.port_lo, cfg.port_hi, cfg.snat_hold_s);
	return 0;
}

static const struct cli_cmd node_cmds[] = {
	{ "set", cmd_node_set },
	{ "show", cmd_node_show },
	{ NULL, NULL },
};

int do_node(int argc, char **argv)
{
	return cli_dispatch("node", node_cmds, argc - 1, argv + 1, help_node);
}

/* ---- flow predict ---- */

/* bpfsplit flow predict FRONTEND --client ADDR --ports LO-HI: the group and backend each
 * client port gets now (as a socket bound to ADDR:port, or a packet from it). */
int flow_predict(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "client", required_argument, NULL, 'c' }, { "ports", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },	    { 0 },
	};
	struct bs_frontend_key fk;
	struct bs_flow_key f = {};
	const char *client = NULL;
	unsigned lo = 0, hi = 0;
	struct bs_dp *dp = NULL;
	cJSON *arr = NULL;
	char extra, ep[80];
	__be16 dummy;
	__u8 fam;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			client = optarg;
			break;
		case 'p':
			if (sscanf(optarg, "%u-%u%c", &lo, &hi, &extra) != 2 && sscanf(optarg, "%u%c", &lo, &extra) != 1)
				return cli_usage("flow", "flow predict: --ports '%s': expected PORT or LO-HI", optarg);
			if (!hi)
				hi = lo;
			break;
		case 'h':
			help_flow();
			return 0;
		default:
			return cli_usage("flow", "flow predict: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind != 1 || !client || !lo || hi < lo || hi > 65535)
		return cli_usage("flow", "flow predict: expected FRONTEND --client ADDR --ports LO-HI");
	if (bs_frontend_key_parse(argv[optind], &fk))
		return cli_usage("flow", "flow predict: '%s' is not a frontend (ADDR:PORT/PROTO)", argv[optind]);
	snprintf(ep, sizeof(ep), strchr(client, ':') ? "[%s]:1" : "%s:1", client);
	if (bs_endpoint_parse(ep, f.saddr, &dummy, &fam) || fam != fk.family)
		return cli_usage("flow", "flow predict: --client '%s': not an address of the frontend's family", client);
	memcpy(f.daddr, fk.addr, sizeof(f.daddr));
	f.dport = fk.port;
	f.family = fk.family;
	f.proto = fk.proto;
	err = cli_open_pinned(&dp);
	if (err)
		return err;
	if (cli.json)
		arr = cJSON_CreateArray();
	for (unsigned p = lo; p <= hi; p++) {
		struct bs_backend be;
		__u32 group;

		f.sport = htons(p);
		err = bs_dp_predict(dp, &f, &group, &be);
		if (err == -ENOENT) {
			cli_fail(err, "frontend %s", argv[optind]);
			break;
		}
		if (err)
			snprintf(ep, sizeof(ep), "refused");
		else
			bs_endpoint_format(be.addr, be.port, be.family, ep, sizeof(ep));
		if (arr) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddNumberToObject(o, "port", p);
			cJSON_AddNumberToObject(o, "group", err ? -1 : (double)group);
			cJSON_AddStringToObject(o, "backend", ep);
			cJSON_AddItemToArray(arr, o);
		} else {
			printf("%u %d %s\n", p, err ? -1 : (int)group, ep);
		}
		err = 0;
	}
	bs_dp_close(dp);
	if (err) {
		cJSON_Delete(arr);
		return err;
	}
	return arr ? out_json(arr) : 0;
}
