/* SPDX-License-Identifier: BSD-2-Clause */
/* A data path loaded into a private pin root, a split to configure and a frame runner with
 * BPF_PROG_TEST_RUN, for the BPF test programs that need only those (the fixture suites of
 * parsing edge cases and the packet fuzzer). Header-only; one user per binary. Needs root. */
#ifndef BS_DP_FIXTURE_H
#define BS_DP_FIXTURE_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include "bpfsplit.h"
#include "log.h"
#include "pktgen.h"

#define FX_FE4 "10.96.0.10"
#define FX_FE6 "fd00:96::10"
#define FX_CLIENT4 "10.200.0.2"
#define FX_CLIENT6 "fd00:200::2"
#define FX_FE_PORT 80
#define FX_BE_PORT 8080

static const char *const fx_backends4[] = { "10.201.1.2", "10.201.2.2", "10.201.3.2", "10.201.4.2" };
static const char *const fx_backends6[] = { "fd00:201:1::2", "fd00:201:2::2", "fd00:201:3::2", "fd00:201:4::2" };
#define FX_N_BACKENDS 4

static struct bs_dp *fx_dp;
static char fx_pin_root[64];

static int fx_open(void)
{
	struct bs_dp_opts o = { .max_conns = 65536, .max_frontends = 1024, .max_backends = 1024, .max_tables = 1024 };

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	snprintf(fx_pin_root, sizeof(fx_pin_root), "/sys/fs/bpf/bs-test-%d", getpid());
	o.pin_root = fx_pin_root;
	if (bs_dp_open(&o, &fx_dp)) {
		fprintf(stderr, "cannot load the data path (root and bpffs needed)\n");
		return -1;
	}
	return 0;
}

static int fx_close(void)
{
	bs_dp_close(fx_dp);
	return bs_dp_unpin_all(fx_pin_root);
}

/* Frontend FE:80 (proto "tcp" or "udp") split 50/50 between two groups of two backends
 * on :8080. Returns 0 or -errno. */
static int fx_split(int ipv, const char *proto)
{
	const char *const *addrs = ipv == 4 ? fx_backends4 : fx_backends6;
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec be[2][2];
	char fe[64], err[256];

	snprintf(fe, sizeof(fe), ipv == 4 ? "%s:%d/%s" : "[%s]:%d/%s", ipv == 4 ? FX_FE4 : FX_FE6, FX_FE_PORT, proto);
	if (bs_frontend_key_parse(fe, &spec.key))
		return -EINVAL;
	spec.affinity = BS_AFFINITY_CONNECTION;
	spec.n_groups = 2;
	for (int g = 0; g < 2; g++) {
		snprintf(spec.groups[g].name, sizeof(spec.groups[g].name), g ? "default/canary" : "default/stable");
		spec.groups[g].weight = 50;
		spec.groups[g].backends = be[g];
		spec.groups[g].n_backends = 2;
		for (int b = 0; b < 2; b++) {
			char ep[80];

			snprintf(ep, sizeof(ep), ipv == 4 ? "%s:%d" : "[%s]:%d", addrs[g * 2 + b], FX_BE_PORT);
			if (bs_endpoint_parse(ep, be[g][b].addr, &be[g][b].port, &be[g][b].family))
				return -EINVAL;
			be[g][b].state = BS_BACKEND_READY;
		}
	}
	if (bs_dp_apply(fx_dp, &spec, err, sizeof(err))) {
		fprintf(stderr, "apply %s: %s\n", fe, err);
		return -EINVAL;
	}
	return 0;
}

static bool fx_is_backend(const char *addr)
{
	for (int i = 0; i < FX_N_BACKENDS; i++)
		if (!strcmp(addr, fx_backends4[i]) || !strcmp(addr, fx_backends6[i]))
			return true;
	return false;
}

/* Run one frame through an entry point. skb_ctx (tc only, may be NULL) sets __sk_buff
 * fields such as gso_size. Returns 0 or the test runner's -errno; *verdict and
 * *out_len are set on success. */
static int fx_run(enum bs_entry entry, const void *in, size_t len, void *out, size_t out_cap, int *verdict,
		  __u32 *out_len, struct __sk_buff *skb_ctx)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = out_cap, .repeat = 1);
	int err;

	if (skb_ctx) {
		opts.ctx_in = skb_ctx;
		opts.ctx_size_in = sizeof(*skb_ctx);
	}
	err = bpf_prog_test_run_opts(bs_dp_prog_fd(fx_dp, entry), &opts);
	if (err)
		return err;
	*verdict = opts.retval;
	*out_len = opts.data_size_out;
	return 0;
}

static int fx_pass_verdict(enum bs_entry e)
{
	return e == BS_ENTRY_XDP ? XDP_PASS : TC_ACT_OK;
}

#endif
