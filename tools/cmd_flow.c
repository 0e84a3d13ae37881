// SPDX-License-Identifier: BSD-2-Clause
/* bpfsplit flow: the connection records (which backend each connection was given),
 * listed with filters, and the sweep of records of closed connections. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "output.h"

void help_flow(void)
{
	printf("Usage: bpfsplit flow list [--frontend FRONTEND] [--backend ADDR:PORT] [--client ADDR[:PORT]]\n"
	       "                          [--limit N]\n"
	       "       bpfsplit flow gc\n"
	       "       bpfsplit flow help\n"
	       "\n"
	       "list shows connection records, oldest first: client, frontend, the backend and group\n"
	       "chosen, flags (closing: FIN/RST seen; from_syn: chosen on a SYN) and age. Every\n"
	       "later packet of a connection follows its record, whatever the weights do.\n"
	       "gc deletes the records of connections closed longer ago than the linger time\n"
	       "(bpfsplit dataplane show), with their reverse-NAT entries.\n"
	       "\n"
	       "Examples:\n"
	       "  bpfsplit flow list --frontend 10.96.0.10:80/tcp --limit 20\n"
	       "  bpfsplit -j flow list --backend 10.201.1.2:8080 | jq length\n");
}

struct filter {
	bool by_frontend, by_backend, by_client, client_port;
	struct bs_frontend_key frontend;
	__be32 backend_addr[4], client_addr[4];
	__be16 backend_port, client_port_n;
	__u8 backend_family, client_family;
};

struct flow {
	struct bs_flow_key key;
	struct bs_conn conn;
};

struct flows {
	const struct filter *f;
	struct flow *v;
	size_t n, cap;
	__u64 limit; /* 0: none */
	bool truncated;
};

static bool matches(const struct filter *f, const struct bs_flow_key *k, const struct bs_conn *c)
{
	if (f->by_frontend && (k->family != f->frontend.family || k->proto != f->frontend.proto ||
			       k->dport != f->frontend.port || memcmp(k->daddr, f->frontend.addr, sizeof(k->daddr))))
		return false;
	if (f->by_backend && (c->family != f->backend_family || c->backend_port != f->backend_port ||
			      memcmp(c->backend_addr, f->backend_addr, sizeof(c->backend_addr))))
		return false;
	if (f->by_client && (k->family != f->client_family || memcmp(k->saddr, f->client_addr, sizeof(k->saddr)) ||
			     (f->client_port && k->sport != f->client_port_n)))
		return false;
	return true;
}

static int collect(const struct bs_flow_key *k, const struct bs_conn *c, void *arg)
{
	struct flows *fl = arg;

	if (!matches(fl->f, k, c))
		return 0;
	if (fl->limit && fl->n >= fl->limit) {
		fl->truncated = true;
		return 1; /* stop */
	}
	if (fl->n == fl->cap) {
		size_t ncap = fl->cap ? 2 * fl->cap : 256;
		struct flow *grown = realloc(fl->v, ncap * sizeof(*fl->v));

		if (!grown)
			return -ENOMEM;
		fl->v = grown;
		fl->cap = ncap;
	}
	fl->v[fl->n].key = *k;
	fl->v[fl->n].conn = *c;
	fl->n++;
	return 0;
}

static int oldest_first(const void *a, const void *b)
{
	const struct flow *x = a, *y = b;

	return x->conn.created_ns < y->conn.created_ns ? -1 : x->conn.created_ns > y->conn.created_ns;
}

/* "10.0.0.1", "fd00::1", "10.0.0.1:5000", "[fd00::1]:5000". */
static int parse_client(const char *s, struct filter *f)
{
	char host[64];

	memset(f->client_addr, 0, sizeof(f->client_addr));
	if (inet_pton(AF_INET, s, f->client_addr) == 1) {
		f->client_family = BS_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, f->client_addr) == 1) {
		f->client_family = BS_AF_INET6;
		return 0;
	}
	if (s[0] == '[' && strlen(s) < sizeof(host) && strchr(s, ']') && !strchr(s, ']')[1]) {
		snprintf(host, sizeof(host), "%.*s", (int)(strchr(s, ']') - s - 1), s + 1);
		if (inet_pton(AF_INET6, host, f->client_addr) == 1) {
			f->client_family = BS_AF_INET6;
			return 0;
		}
	}
	if (strchr(s, '/') || bs_endpoint_parse(s, f->client_addr, &f->client_port_n, &f->client_family))
		return -EINVAL;
	f->client_port = true;
	return 0;
}

static void group_name(struct bs_dp *dp, __u32 frontend_id, __u16 group, char *buf, size_t len)
{
	struct bs_group_info gi;

	if (!bs_dp_group_info(dp, frontend_id, group, &gi))
		snprintf(buf, len, "%s", gi.name);
	else
		snprintf(buf, len, "%u", group);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns() */
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static __u64 since(__u64 now, __u64 then)
{
	return now > then ? now - then : 0;
}

static void flow_names(const struct flow *fl, char *client, char *frontend, char *backend, size_t len)
{
	struct bs_frontend_key fk = { .port = fl->key.dport, .family = fl->key.family, .proto = fl->key.proto };

	memcpy(fk.addr, fl->key.daddr, sizeof(fk.addr));
	bs_endpoint_format(fl->key.saddr, fl->key.sport, fl->key.family, client, len);
	bs_frontend_key_format(&fk, frontend, len);
	bs_endpoint_format(fl->conn.backend_addr, fl->conn.backend_port, fl->conn.family, backend, len);
}

static cJSON *flow_json(struct bs_dp *dp, const struct flow *fl, __u64 now)
{
	cJSON *o = cJSON_CreateObject(), *flags;
	char client[80], frontend[80], backend[80], group[BS_GROUP_NAME_LEN];

	flow_names(fl, client, frontend, backend, sizeof(client));
	group_name(dp, fl->conn.frontend_id, fl->conn.group, group, sizeof(group));
	cJSON_AddStringToObject(o, "client", client);
	cJSON_AddStringToObject(o, "frontend", frontend);
	cJSON_AddStringToObject(o, "backend", backend);
	cJSON_AddNumberToObject(o, "frontend_id", fl->conn.frontend_id);
	cJSON_AddNumberToObject(o, "backend_id", fl->conn.backend_id);
	cJSON_AddNumberToObject(o, "group", fl->conn.group);
	cJSON_AddStringToObject(o, "group_name", group);
	flags = cJSON_AddObjectToObject(o, "flags");
	cJSON_AddBoolToObject(flags, "closing", !!(fl->conn.flags & BS_CONN_F_CLOSING));
	cJSON_AddBoolToObject(flags, "from_syn", !!(fl->conn.flags & BS_CONN_F_FROM_SYN));
	out_json_u64(o, "age_ns", since(now, fl->conn.created_ns));
	if (fl->key.proto == 17 && fl->conn.last_ns)
		out_json_u64(o, "idle_ns", since(now, fl->conn.last_ns));
	else if (fl->conn.flags & BS_CONN_F_CLOSING)
		out_json_u64(o, "since_close_ns", since(now, fl->conn.last_ns));
	return o;
}

static void flow_print(struct bs_dp *dp, const struct flow *fl, __u64 now)
{
	char client[80], frontend[80], backend[80], group[BS_GROUP_NAME_LEN], flags[32], age[32], extra[48] = "";

	flow_names(fl, client, frontend, backend, sizeof(client));
	group_name(dp, fl->conn.frontend_id, fl->conn.group, group, sizeof(group));
	snprintf(flags, sizeof(flags), "%s%s%s", fl->conn.flags & BS_CONN_F_FROM_SYN ? "from_syn" : "",
		 (fl->conn.flags & BS_CONN_F_FROM_SYN) && (fl->conn.flags & BS_CONN_F_CLOSING) ? "," : "",
		 fl->conn.flags & BS_CONN_F_CLOSING ? "closing" : "");
	out_duration(since(now, fl->conn.created_ns), age, sizeof(age));
	if (fl->key.proto == 17 && fl->conn.last_ns) {
		char d[32];

		out_duration(since(now, fl->conn.last_ns), d, sizeof(d));
		snprintf(extra, sizeof(extra), " (idle %s)", d);
	} else if (fl->conn.flags & BS_CONN_F_CLOSING) {
		char d[32];

		out_duration(since(now, fl->conn.last_ns), d, sizeof(d));
		snprintf(extra, sizeof(extra), " (closed %s ago)", d);
	}
	printf("%-24s %-24s %-24s %-12s %-17s %s%s\n", client, frontend, backend, group, flags[0] ? flags : "-",
	       age, extra);
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "frontend", required_argument, NULL, 'f' }, { "backend", required_argument, NULL, 'b' },
		{ "client", required_argument, NULL, 'c' },   { "limit", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },           { 0 },
	};
	struct filter f = {};
	struct flows fl = { .f = &f };
	struct bs_dp *dp = NULL;
	__u64 now;
	int c, err;

	optind = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			if (bs_frontend_key_parse(optarg, &f.frontend))
				return cli_usage("flow", "flow list: --frontend '%s': not ADDRESS:PORT[/tcp|/udp]", optarg);
			f.by_frontend = true;
			break;
		case 'b':
			if (strchr(optarg, '/') ||
			    bs_endpoint_parse(optarg, f.backend_addr, &f.backend_port, &f.backend_family))
				return cli_usage("flow", "flow list: --backend '%s': not IPV4:PORT or [IPV6]:PORT", optarg);
			f.by_backend = true;
			break;
		case 'c':
			if (parse_client(optarg, &f))
				return cli_usage("flow", "flow list: --client '%s': not an address (or ADDRESS:PORT)",
						 optarg);
			f.by_client = true;
			break;
		case 'n':
			if (cli_parse_u64(optarg, ~0ULL, &fl.limit) || !fl.limit)
				return cli_usage("flow", "flow list: --limit '%s': expected a positive number", optarg);
			break;
		case 'h':
			help_flow();
			return 0;
		default:
			return cli_usage("flow", "flow list: unknown option or missing value '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage("flow", "flow list: unexpected argument '%s'", argv[optind]);
	err = cli_open_pinned_ro(&dp);
	if (err)
		return err;
	err = bs_dp_for_each_conn(dp, collect, &fl);
	if (err < 0) {
		cli_fail(err, "pin root %s: cannot read the connection records", cli.pin_root);
		goto out;
	}
	err = 0;
	now = now_ns();
	qsort(fl.v, fl.n, sizeof(*fl.v), oldest_first);
	if (cli.json) {
		cJSON *arr = cJSON_CreateArray();

		for (size_t i = 0; i < fl.n; i++)
			cJSON_AddItemToArray(arr, flow_json(dp, &fl.v[i], now));
		err = out_json(arr);
		goto out;
	}
	if (fl.n)
		printf("%-24s %-24s %-24s %-12s %-17s %s\n", "CLIENT", "FRONTEND", "BACKEND", "GROUP", "FLAGS", "AGE");
	for (size_t i = 0; i < fl.n; i++)
		flow_print(dp, &fl.v[i], now);
	printf("%zu flow%s%s\n", fl.n, fl.n == 1 ? "" : "s", fl.truncated ? " shown (--limit reached)" : "");
out:
	free(fl.v);
	bs_dp_close(dp);
	return err;
}

static int cmd_gc(int argc, char **argv)
{
	int first = cli_no_options("flow", help_flow, argc, argv), n;
	struct bs_dp *dp = NULL;

	if (first <= 0)
		return first;
	if (first < argc)
		return cli_usage("flow", "flow gc: takes no arguments");
	n = cli_open_pinned(&dp);
	if (n)
		return n;
	n = bs_dp_gc_conns(dp);
	bs_dp_close(dp);
	if (n < 0)
		return cli_fail(n, "pin root %s: cannot sweep the connection records", cli.pin_root);
	if (cli.json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddNumberToObject(o, "deleted", n);
		return out_json(o);
	}
	printf("%d record%s of closed connections deleted\n", n, n == 1 ? "" : "s");
	return 0;
}

static const struct cli_cmd cmds[] = {
	{ "list", cmd_list },
	{ "gc", cmd_gc },
	{ NULL, NULL },
};

int do_flow(int argc, char **argv)
{
	return cli_dispatch("flow", cmds, argc - 1, argv + 1, help_flow);
}
