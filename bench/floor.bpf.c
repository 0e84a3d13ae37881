// SPDX-License-Identifier: GPL-2.0
/* Reference ("floor") programs for the per-packet benchmark (bench/bench_dp.c).
 * They run through the same BPF_PROG_TEST_RUN harness as bpfsplit's entry points and
 * do a known subset of its work, so that bpfsplit's cost can be read against them:
 *
 *   floor_*_pass    return at once (XDP_PASS / TC_ACT_OK): the harness itself
 *   floor_*_parse   parse Ethernet/VLAN/IPv4/IPv6/TCP/UDP with bpfsplit's own parser
 *                   (bpf/bs_parse.h, the same code the data path runs) and return
 *   floor_*_lookup  the same parse, then one lookup of the flow key in an LRU hash of
 *                   the connection table's key and value types (bs_conns' first step)
 *
 * The tc variants pull headers like bpfsplit's tc entry points do, so every pair
 * (XDP program, tc program) is compared with a floor of its own program type. */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include "bs_parse.h"


/* The lookup floor's table: filled by the benchmark with the flows it sends; resized at
 * load to the connection table's size. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct bs_flow_key);
	__type(value, struct bs_conn);
} floor_conns SEC(".maps");

/* Keep the parse results alive: the compiler must not drop stores nobody reads. */
#define FLOOR_KEEP(p) asm volatile("" : : "r"(p) : "memory")

SEC("xdp")
int floor_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp")
int floor_xdp_parse(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bs_pkt p = {};
	int r = bs_parse(data, data_end, &p);

	FLOOR_KEEP(&p);
	return r == BS_R_MAX ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int floor_xdp_lookup(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bs_pkt p = {};
	struct bs_conn *ct;

	if (bs_parse(data, data_end, &p))
		return XDP_PASS;
	ct = bpf_map_lookup_elem(&floor_conns, &p.flow);
	FLOOR_KEEP(ct);
	return XDP_PASS;
}

SEC("tc")
int floor_tc_pass(struct __sk_buff *skb)
{
	return TC_ACT_OK;
}

SEC("tc")
int floor_tc_parse(struct __sk_buff *skb)
{
	struct bs_pkt p = {};
	int r = bs_tc_parse(skb, &p);

	FLOOR_KEEP(&p);
	return r == BS_R_MAX ? TC_ACT_SHOT : TC_ACT_OK;
}

SEC("tc")
int floor_tc_lookup(struct __sk_buff *skb)
{
	struct bs_pkt p = {};
	struct bs_conn *ct;

	if (bs_tc_parse(skb, &p))
		return TC_ACT_OK;
	ct = bpf_map_lookup_elem(&floor_conns, &p.flow);
	FLOOR_KEEP(ct);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
