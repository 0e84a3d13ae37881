// SPDX-License-Identifier: BSD-2-Clause
/* flow_group: which group a flow gets, computed with the data path's own shared C (the
 * flow hash of include/bpfsplit/flow_hash.h, thresholds and group pick of lib/tables.c),
 * so that end-to-end tests whose clients choose their source ports can expect an exact
 * outcome instead of a statistical one.
 *
 *   flow_group --key HEX32 --weights 70,30 [--affinity client] < flows
 *
 * One flow a line on stdin: "SADDR SPORT DADDR DPORT tcp|udp" (IPv4 or IPv6 addresses);
 * one line out per flow: the group index, or "none" when every weight is 0.
 * Exit status 0, or 2 with a message on bad input. Test tooling only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <stdbool.h>

#include "bpfsplit/consts.h"
#include "bpfsplit/flow_hash.h"
#include "tables.h"

static int parse_key(const char *s, __u32 key[4])
{
	if (strlen(s) != 32 || strspn(s, "0123456789abcdefABCDEF") != 32)
		return -EINVAL;
	for (int w = 0; w < 4; w++) {
		char word[9];

		memcpy(word, s + 8 * w, 8);
		word[8] = '\0';
		key[w] = (__u32)strtoul(word, NULL, 16);
	}
	return 0;
}

static int parse_weights(char *s, __u32 *weights, __u32 *n)
{
	*n = 0;
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		char *end;
		unsigned long w = strtoul(tok, &end, 10);

		if (*end || *n >= BS_MAX_GROUPS || w > BS_MAX_WEIGHT)
			return -EINVAL;
		weights[(*n)++] = (__u32)w;
	}
	return *n ? 0 : -EINVAL;
}

static int parse_addr(const char *s, struct bs_flow_key *k, __be32 *out)
{
	if (inet_pton(AF_INET, s, out) == 1) {
		k->family = BS_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, out) == 1) {
		k->family = BS_AF_INET6;
		return 0;
	}
	return -EINVAL;
}

/* One input line into the flow key exactly as bs_parse.h fills it. */
static int parse_flow(const char *line, struct bs_flow_key *k)
{
	char sa[64], da[64], proto[8];
	unsigned sport, dport;
	__u8 fam;

	memset(k, 0, sizeof(*k));
	if (sscanf(line, "%63s %u %63s %u %7s", sa, &sport, da, &dport, proto) != 5 || sport > 65535 ||
	    dport > 65535)
		return -EINVAL;
	if (parse_addr(sa, k, k->saddr))
		return -EINVAL;
	fam = k->family;
	if (parse_addr(da, k, k->daddr) || k->family != fam)
		return -EINVAL;
	k->sport = htons((__u16)sport);
	k->dport = htons((__u16)dport);
	if (!strcmp(proto, "tcp"))
		k->proto = IPPROTO_TCP;
	else if (!strcmp(proto, "udp"))
		k->proto = IPPROTO_UDP;
	else
		return -EINVAL;
	return 0;
}

int main(int argc, char **argv)
{
	__u32 key[4] = {}, weights[BS_MAX_GROUPS], n = 0;
	__u64 thresholds[BS_MAX_GROUPS] = {};
	__u8 affinity = BS_AFFINITY_CONNECTION;
	bool have_key = false;
	char line[256];
	unsigned lineno = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--key") && i + 1 < argc) {
			if (parse_key(argv[++i], key))
				goto usage;
			have_key = true;
		} else if (!strcmp(argv[i], "--weights") && i + 1 < argc) {
			if (parse_weights(argv[++i], weights, &n))
				goto usage;
		} else if (!strcmp(argv[i], "--affinity") && i + 1 < argc) {
			const char *a = argv[++i];

			if (!strcmp(a, "client"))
				affinity = BS_AFFINITY_CLIENT;
			else if (strcmp(a, "connection"))
				goto usage;
		} else {
			goto usage;
		}
	}
	if (!have_key || !n || bs_thresholds(weights, n, thresholds))
		goto usage;
	while (fgets(line, sizeof(line), stdin)) {
		struct bs_flow_key k;
		__u32 g;

		lineno++;
		if (line[strspn(line, " \t\r\n")] == '\0')
			continue;
		if (parse_flow(line, &k)) {
			fprintf(stderr, "flow_group: line %u: expected 'SADDR SPORT DADDR DPORT tcp|udp'\n", lineno);
			return 2;
		}
		g = bs_group_of_hash(thresholds, n, bs_flow_hash(&k, affinity, key));
		if (g >= n)
			printf("none\n");
		else
			printf("%u\n", g);
	}
	return 0;
usage:
	fprintf(stderr, "usage: flow_group --key HEX32 --weights W1,W2[,...] [--affinity client|connection] < flows\n");
	return 2;
}
