// SPDX-License-Identifier: BSD-2-Clause
/* Names people read: reasons, frontends ("10.96.0.10:80/tcp") and endpoints. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "bpfsplit.h"

static const char *const reason_names[BS_R_MAX] = {
	[BS_R_UNSPEC] = "unspec",
	[BS_R_FWD_NEW] = "fwd_new",
	[BS_R_FWD_TRACKED] = "fwd_tracked",
	[BS_R_FWD_SYN_RETRANSMIT] = "fwd_syn_retransmit",
	[BS_R_FWD_UNTRACKED] = "fwd_untracked",
	[BS_R_REPLY_NAT] = "reply_nat",
	[BS_R_PASS_NOT_IP] = "pass_not_ip",
	[BS_R_PASS_NOT_FRONTEND] = "pass_not_frontend",
	[BS_R_PASS_L4_UNSUPPORTED] = "pass_l4_unsupported",
	[BS_R_PASS_FRAGMENT] = "pass_fragment",
	[BS_R_PASS_TRUNCATED] = "pass_truncated",
	[BS_R_PASS_NO_SPLIT] = "pass_no_split",
	[BS_R_PASS_REPLY_UNKNOWN] = "pass_reply_unknown",
	[BS_R_REJECT_NO_BACKEND] = "reject_no_backend",
	[BS_R_REJECT_ZERO_WEIGHT] = "reject_zero_weight",
	[BS_R_DROP_NO_BACKEND] = "drop_no_backend",
	[BS_R_DROP_ZERO_WEIGHT] = "drop_zero_weight",
	[BS_R_DROP_BACKEND_GONE] = "drop_backend_gone",
	[BS_R_ERR_REWRITE] = "err_rewrite",
	[BS_R_REJECT_SYN_DATA] = "reject_syn_data",
	[BS_R_SOCK_CONNECT] = "sock_connect",
	[BS_R_SOCK_SENDMSG] = "sock_sendmsg",
	[BS_R_SOCK_REFUSED] = "sock_refused",
	[BS_R_SOCK_PEER_NAT] = "sock_peer_nat",
	[BS_R_SNAT_NEW] = "snat_new",
	[BS_R_SNAT_REPLY] = "snat_reply",
	[BS_R_DROP_SNAT_PORTS] = "drop_snat_ports",
	[BS_R_DROP_NO_ROUTE] = "drop_no_route",
};

const char *bs_reason_name(__u32 reason)
{
	return reason < BS_R_MAX && reason_names[reason] ? reason_names[reason] : "unknown";
}

int bs_endpoint_parse(const char *s, __be32 addr[4], __be16 *port, __u8 *family)
{
	char host[64];
	const char *colon;
	char *end;
	unsigned long p;
	size_t len;

	memset(addr, 0, 16);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		len = close - s - 1;
		colon = close + 1;
		if (len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, len);
		host[len] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			return -EINVAL;
		*family = BS_AF_INET6;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		len = colon - s;
		if (len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, len);
		host[len] = '\0';
		if (inet_pton(AF_INET, host, addr) != 1)
			return -EINVAL;
		*family = BS_AF_INET;
	}
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || end == colon + 1 || p == 0 || p > 65535 || (*end && *end != '/'))
		return -EINVAL;
	*port = htons((__u16)p);
	return 0;
}

void bs_endpoint_format(const __be32 addr[4], __be16 port, __u8 family, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (family == BS_AF_INET6) {
		inet_ntop(AF_INET6, addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(port));
	} else {
		inet_ntop(AF_INET, addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(port));
	}
}

int bs_frontend_key_parse(const char *s, struct bs_frontend_key *key)
{
	const char *slash = strrchr(s, '/');
	const char *close = strchr(s, ']');
	int err;

	memset(key, 0, sizeof(*key));
	if (slash && close && slash < close)
		slash = NULL;
	err = bs_endpoint_parse(s, key->addr, &key->port, &key->family);
	if (err)
		return err;
	if (!slash || !strcasecmp(slash + 1, "tcp"))
		key->proto = 6;
	else if (!strcasecmp(slash + 1, "udp"))
		key->proto = 17;
	else
		return -EINVAL;
	return 0;
}

void bs_frontend_key_format(const struct bs_frontend_key *key, char *buf, size_t len)
{
	char ep[64];

	bs_endpoint_format(key->addr, key->port, key->family, ep, sizeof(ep));
	snprintf(buf, len, "%s/%s", ep, key->proto == 6 ? "tcp" : key->proto == 17 ? "udp" : "?");
}
