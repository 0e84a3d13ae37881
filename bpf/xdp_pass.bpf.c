// SPDX-License-Identifier: GPL-2.0
/* A program that passes everything: the lab attaches it to a veth's peer so that
 * XDP_TX answers (RSTs) from the node are delivered (docs/datapath-notes.md, "Native XDP on veth"). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("xdp")
int bs_xdp_pass(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
