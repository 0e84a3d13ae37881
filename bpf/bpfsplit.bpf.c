// SPDX-License-Identifier: GPL-2.0
/* bpfsplit's data path: the XDP and tc ingress entry points (choose a backend, DNAT)
 * and the tc egress entry point (reverse NAT of replies). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "bs_maps.h"
#include "bs_parse.h"
#include "bs_select.h"
#include "bs_rewrite_xdp.h"
#include "bs_rewrite_tc.h"
#include "bs_sock.h"

static __always_inline void bs_account(const struct bs_decision *d, const struct bs_pkt *p, __u32 bytes)
{
	bs_count_reason(d->reason);
	bs_health_ingress(p, d->action, d->reason, d->frontend_id, d->group, d->backend_id, d->new_conn);
	if (d->action == BS_ACT_FORWARD) {
		bs_count(&bs_fe_stats, d->frontend_id, bytes, d->new_conn);
		bs_count(&bs_be_stats, d->backend_id, bytes, d->new_conn);
	} else if (d->action == BS_ACT_REJECT || d->action == BS_ACT_DROP) {
		struct bs_counters *c = bpf_map_lookup_elem(&bs_fe_stats, &d->frontend_id);

		if (c)
			c->rejected++;
	}
}

SEC("xdp")
int bs_xdp_ingress(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bs_decision d = {};
	struct bs_pkt p = {};
	int r;

	r = bs_parse(data, data_end, &p);
	if (r) {
		bs_count_reason(r);
		return XDP_PASS;
	}
	/* A SNAT node forwards translated packets itself, which only tc can do exactly. */
	if (bs_node_snat())
		return XDP_PASS;
	bs_decide_ingress(&p, &d);
	switch (d.action) {
	case BS_ACT_FORWARD:
		if (bs_xdp_rewrite(data, data_end, &p, 1, d.addr, d.port)) {
			bs_count_reason(BS_R_ERR_REWRITE);
			return XDP_DROP;
		}
		bs_account(&d, &p, data_end - data - p.l3_off);
		return XDP_PASS;
	case BS_ACT_REJECT:
		if (bs_xdp_build_rst(ctx, &p)) {
			bs_count_reason(BS_R_ERR_REWRITE);
			return XDP_DROP;
		}
		bs_account(&d, &p, 0);
		return XDP_TX;
	case BS_ACT_DROP:
		bs_account(&d, &p, 0);
		return XDP_DROP;
	default:
		bs_count_reason(d.reason);
		return XDP_PASS;
	}
}

/* SNAT forward: destination to the backend, source to the node's address and the flow's
 * port, then out without the node's stack. */
static __noinline int bs_tc_snat_forward(struct __sk_buff *skb, struct bs_pkt *p, struct bs_decision *d)
{
	struct bs_node_cfg *n;
	__be32 node_addr[4];
	__u32 zero = 0, len = skb->len - p->l3_off;
	int r;

	n = bpf_map_lookup_elem(&bs_node, &zero);
	if (!n || !bs_node_addr(n, p->flow.family, node_addr))
		return TC_ACT_SHOT;
	if (bs_tc_rewrite(skb, p, 1, d->addr, d->port) || bs_tc_rewrite(skb, p, 0, node_addr, d->nat_port)) {
		bs_count_reason(BS_R_ERR_REWRITE);
		return TC_ACT_SHOT;
	}
	r = bs_tc_forward(skb, p, node_addr, d->addr);
	if (r < 0) {
		bs_count_reason(BS_R_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	if (d->new_conn)
		bs_count_reason(BS_R_SNAT_NEW);
	bs_account(d, p, len);
	return r;
}

/* SNAT reply: source back to the frontend, destination back to the client, then out
 * without the node's stack (which would answer a packet to the allocated port with RST). */
static __noinline int bs_tc_snat_reply(struct __sk_buff *skb, struct bs_pkt *p, const struct bs_snat *v)
{
	int r;

	if (bs_tc_rewrite(skb, p, 0, v->frontend_addr, v->frontend_port) ||
	    bs_tc_rewrite(skb, p, 1, v->client_addr, v->client_port)) {
		bs_count_reason(BS_R_ERR_REWRITE);
		return TC_ACT_SHOT;
	}
	r = bs_tc_forward(skb, p, v->frontend_addr, v->client_addr);
	if (r < 0) {
		bs_count_reason(BS_R_DROP_NO_ROUTE);
		return TC_ACT_SHOT;
	}
	bs_count_reason(BS_R_SNAT_REPLY);
	return r;
}

SEC("tc")
int bs_tc_ingress(struct __sk_buff *skb)
{
	struct bs_decision d = {};
	struct bs_snat *sv;
	struct bs_pkt p = {};
	int r;

	r = bs_tc_parse(skb, &p);
	if (r) {
		bs_count_reason(r);
		return TC_ACT_OK;
	}
	sv = bs_lookup_snat_reply(&p);
	if (sv)
		return bs_tc_snat_reply(skb, &p, sv);
	bs_decide_ingress(&p, &d);
	switch (d.action) {
	case BS_ACT_FORWARD:
		if (d.nat_mode == BS_NAT_SNAT)
			return bs_tc_snat_forward(skb, &p, &d);
		if (bs_tc_rewrite(skb, &p, 1, d.addr, d.port)) {
			bs_count_reason(BS_R_ERR_REWRITE);
			return TC_ACT_SHOT;
		}
		bs_account(&d, &p, skb->len - p.l3_off);
		return TC_ACT_OK;
	case BS_ACT_REJECT:
		r = bs_tc_reject(skb, &p);
		if (r < 0) {
			d.reason = p.l4_payload ? BS_R_REJECT_SYN_DATA : BS_R_ERR_REWRITE;
			d.action = BS_ACT_DROP;
			bs_account(&d, &p, 0);
			return TC_ACT_SHOT;
		}
		bs_account(&d, &p, 0);
		return r;
	case BS_ACT_DROP:
		bs_account(&d, &p, 0);
		return TC_ACT_SHOT;
	default:
		bs_count_reason(d.reason);
		return TC_ACT_OK;
	}
}

SEC("tc")
int bs_tc_egress(struct __sk_buff *skb)
{
	struct bs_rnat *rn;
	struct bs_pkt p = {};
	int r;

	r = bs_tc_parse(skb, &p);
	if (r) {
		bs_count_reason(r);
		return TC_ACT_OK;
	}
	rn = bs_lookup_reply(&p);
	if (!rn) {
		bs_count_reason(BS_R_PASS_REPLY_UNKNOWN);
		return TC_ACT_OK;
	}
	if (bs_tc_rewrite(skb, &p, 0, rn->frontend_addr, rn->frontend_port)) {
		bs_count_reason(BS_R_ERR_REWRITE);
		return TC_ACT_SHOT;
	}
	bs_count_reason(BS_R_REPLY_NAT);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
