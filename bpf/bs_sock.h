/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: the cgroup socket-address hooks — the connect-time split for clients on the
 * node (pods). connect()/sendmsg() to a frontend go straight to the backend that the
 * shared two-stage selection (bs_pick_backend) picks: no packet work, no connection
 * record, no NAT; the backend sees the client's own address. getpeername()/recvmsg()
 * show the frontend again. Included by bpfsplit.bpf.c so that they are loaded with the
 * packet path and share its maps.
 *
 * What is hashed (the flow key of bs_flow_hash, as on the packet path): source = the
 * address and port the socket is bound to, destination = the frontend, family, protocol.
 * A client that binds its source port gets exactly the backend the packet path would
 * give the same 5-tuple. An unbound socket (port 0: the kernel picks the port only after
 * this hook) has its socket cookie XORed into source address words 2 and 3, so that its
 * connections spread by weight all the same (and stay together per socket). */
#ifndef BS_SOCK_H
#define BS_SOCK_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "bs_maps.h"
#include "bs_select.h"

#define BS_SOCK_ALLOW 1
#define BS_SOCK_REFUSE 0 /* the syscall fails with EPERM */

/* Connection health (bs_health.h) of a choice made at connect(): a new TCP connection or
 * connected UDP flow, or a refusal. Datagrams of unconnected UDP are not flows: not counted.
 * The rest of a connection's health (handshake, resets, bytes) needs its packets. */
static __always_inline void bs_sock_health(__u32 fe_id, __u32 group, __u32 bid, int pick, __u8 proto, int connect)
{
#ifndef BS_HEALTH_OFF
	if (pick == BS_PICK_OK) {
		if (connect)
			bs_health_record(fe_id, group, bid, proto == IPPROTO_TCP ? BS_HE_NEW : BS_HE_UDP_FLOW, 0);
	} else if (pick == BS_PICK_ZERO_WEIGHT) {
		bs_health_record(fe_id, BS_HEALTH_NO_GROUP, 0, BS_HE_REFUSED_ZERO_WEIGHT, 0);
	} else if (pick == BS_PICK_NO_BACKEND) {
		bs_health_record(fe_id, group, 0, BS_HE_REFUSED_NO_BACKEND, 0);
	}
#endif
}

static __always_inline void bs_sock_count(__u32 fe_id, __u32 bid)
{
	struct bs_counters *c = bpf_map_lookup_elem(&bs_fe_stats, &fe_id);

	if (c)
		c->new_conns++;
	c = bpf_map_lookup_elem(&bs_be_stats, &bid);
	if (c)
		c->new_conns++;
}

/* Choose for a connect()/sendmsg() to ctx's destination and rewrite it to the backend. */
static __always_inline int bs_sock_choose(struct bpf_sock_addr *ctx, int v6, __u32 reason)
{
	struct bs_frontend_key fk = {};
	struct bs_flow_key flow = {};
	struct bs_sock_key rk = {};
	struct bs_rnat rn = {};
	struct bs_backend *be = NULL;
	struct bs_settings *s;
	struct bpf_sock *sk = ctx->sk;
	__u32 fe_id = 0, split_id = 0, group = 0, bid = 0, zero = 0;
	__u64 cookie;
	int r;

	if (!sk)
		return BS_SOCK_ALLOW;
	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return BS_SOCK_ALLOW;
	if (v6) {
		fk.addr[0] = ctx->user_ip6[0];
		fk.addr[1] = ctx->user_ip6[1];
		fk.addr[2] = ctx->user_ip6[2];
		fk.addr[3] = ctx->user_ip6[3];
		fk.family = BS_AF_INET6;
	} else {
		fk.addr[0] = ctx->user_ip4;
		fk.family = BS_AF_INET;
	}
	fk.port = (__be16)ctx->user_port;
	fk.proto = ctx->protocol;
	if (bs_frontend_split(&fk, &fe_id, &split_id))
		return BS_SOCK_ALLOW;
	s = bpf_map_lookup_elem(&bs_settings, &zero);
	if (!s)
		return BS_SOCK_ALLOW;

	if (v6) {
		flow.saddr[0] = sk->src_ip6[0];
		flow.saddr[1] = sk->src_ip6[1];
		flow.saddr[2] = sk->src_ip6[2];
		flow.saddr[3] = sk->src_ip6[3];
	} else {
		flow.saddr[0] = sk->src_ip4;
	}
	flow.sport = bpf_htons((__u16)sk->src_port);
	__builtin_memcpy(flow.daddr, fk.addr, 16);
	flow.dport = fk.port;
	flow.family = fk.family;
	flow.proto = fk.proto;
	cookie = bpf_get_socket_cookie(ctx);
	if (!flow.sport) {
		flow.saddr[2] ^= (__u32)cookie;
		flow.saddr[3] ^= (__u32)(cookie >> 32);
	}

	r = bs_pick_backend(&flow, split_id, s, &group, &bid, &be);
	if (r == BS_PICK_NO_SPLIT)
		return BS_SOCK_ALLOW;
	if (r != BS_PICK_OK || !be || be->family != fk.family) {
		struct bs_counters *c = bpf_map_lookup_elem(&bs_fe_stats, &fe_id);

		if (c)
			c->rejected++;
		bs_count_reason(BS_R_SOCK_REFUSED);
		bs_sock_health(fe_id, group, 0, r == BS_PICK_OK ? BS_PICK_BACKEND_GONE : r, fk.proto,
			       reason == BS_R_SOCK_CONNECT);
		return BS_SOCK_REFUSE;
	}

	rk.cookie = cookie;
	__builtin_memcpy(rk.addr, be->addr, 16);
	rk.port = be->port;
	rk.family = be->family;
	__builtin_memcpy(rn.frontend_addr, fk.addr, 16);
	rn.frontend_port = fk.port;
	rn.family = fk.family;
	rn.frontend_id = fe_id;
	bpf_map_update_elem(&bs_sock_rev, &rk, &rn, BPF_ANY);

	if (v6) {
		ctx->user_ip6[0] = be->addr[0];
		ctx->user_ip6[1] = be->addr[1];
		ctx->user_ip6[2] = be->addr[2];
		ctx->user_ip6[3] = be->addr[3];
	} else {
		ctx->user_ip4 = be->addr[0];
	}
	ctx->user_port = be->port;
	bs_sock_count(fe_id, bid);
	bs_sock_health(fe_id, group, bid, BS_PICK_OK, fk.proto, reason == BS_R_SOCK_CONNECT);
	bs_count_reason(reason);
	return BS_SOCK_ALLOW;
}

/* getpeername()/recvmsg(): a backend this socket was sent to is shown as its frontend. */
static __always_inline int bs_sock_unrewrite(struct bpf_sock_addr *ctx, int v6)
{
	struct bs_sock_key rk = {};
	struct bs_rnat *rn;

	rk.cookie = bpf_get_socket_cookie(ctx);
	if (v6) {
		rk.addr[0] = ctx->user_ip6[0];
		rk.addr[1] = ctx->user_ip6[1];
		rk.addr[2] = ctx->user_ip6[2];
		rk.addr[3] = ctx->user_ip6[3];
		rk.family = BS_AF_INET6;
	} else {
		rk.addr[0] = ctx->user_ip4;
		rk.family = BS_AF_INET;
	}
	rk.port = (__be16)ctx->user_port;
	rn = bpf_map_lookup_elem(&bs_sock_rev, &rk);
	if (!rn)
		return BS_SOCK_ALLOW;
	if (v6) {
		ctx->user_ip6[0] = rn->frontend_addr[0];
		ctx->user_ip6[1] = rn->frontend_addr[1];
		ctx->user_ip6[2] = rn->frontend_addr[2];
		ctx->user_ip6[3] = rn->frontend_addr[3];
	} else {
		ctx->user_ip4 = rn->frontend_addr[0];
	}
	ctx->user_port = rn->frontend_port;
	bs_count_reason(BS_R_SOCK_PEER_NAT);
	return BS_SOCK_ALLOW;
}

SEC("cgroup/connect4")
int bs_sock_connect4(struct bpf_sock_addr *ctx)
{
	return bs_sock_choose(ctx, 0, BS_R_SOCK_CONNECT);
}

SEC("cgroup/connect6")
int bs_sock_connect6(struct bpf_sock_addr *ctx)
{
	return bs_sock_choose(ctx, 1, BS_R_SOCK_CONNECT);
}

SEC("cgroup/sendmsg4")
int bs_sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return bs_sock_choose(ctx, 0, BS_R_SOCK_SENDMSG);
}

SEC("cgroup/sendmsg6")
int bs_sock_sendmsg6(struct bpf_sock_addr *ctx)
{
	return bs_sock_choose(ctx, 1, BS_R_SOCK_SENDMSG);
}

SEC("cgroup/recvmsg4")
int bs_sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return bs_sock_unrewrite(ctx, 0);
}

SEC("cgroup/recvmsg6")
int bs_sock_recvmsg6(struct bpf_sock_addr *ctx)
{
	return bs_sock_unrewrite(ctx, 1);
}

SEC("cgroup/getpeername4")
int bs_sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return bs_sock_unrewrite(ctx, 0);
}

SEC("cgroup/getpeername6")
int bs_sock_getpeername6(struct bpf_sock_addr *ctx)
{
	return bs_sock_unrewrite(ctx, 1);
}

#endif
