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

SEC("tc")
int bs_tc_ingress(struct __sk_buff *skb)
{
	struct bs_decision d = {};
	struct bs_pkt p = {};
	int r;

	r = bs_tc_parse(skb, &p);
	if (r) {
		bs_count_reason(r);
		return TC_ACT_OK;
	}
	bs_decide_ingress(&p, &d);
	switch (d.action) {
	case BS_ACT_FORWARD:
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
