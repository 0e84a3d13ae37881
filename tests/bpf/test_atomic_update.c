// SPDX-License-Identifier: BSD-2-Clause
/* The update protocol under fire: one thread rewrites two frontends' splits (weights and
 * backend sets) as fast as it can while another pushes SYNs through BPF_PROG_TEST_RUN.
 * Every SYN must land on exactly the backend that the old or the new configuration chooses
 * for that flow (the shared hash, computed here for both) — a mixed state such as old
 * thresholds with new tables would pick a backend of the right sets but the wrong one for
 * the flow — never dropped, and once the writer stops the split must match the last
 * weights. Needs root. */
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "bpfsplit.h"
#include "log.h"
#include "pktgen.h"
#include "expect.h"

static struct bs_dp *dp;
static char pin_root[64];
static atomic_bool stop;
static atomic_long writes;

/* Two frontends, each flipping between two configurations A and B with disjoint backends. */
struct fe_conf {
	const char *frontend;
	const char *vip;
	const char *a_stable[2], *a_canary[1], *b_stable[1], *b_canary[2];
};

static const struct fe_conf confs[2] = {
	{ "10.96.0.10:80/tcp", "10.96.0.10", { "10.201.1.2", "10.201.2.2" }, { "10.201.3.2" }, { "10.201.4.2" },
	  { "10.201.5.2", "10.201.6.2" } },
	{ "10.96.0.20:80/tcp", "10.96.0.20", { "10.202.1.2", "10.202.2.2" }, { "10.202.3.2" }, { "10.202.4.2" },
	  { "10.202.5.2", "10.202.6.2" } },
};

static void fill(struct bs_group_spec *g, const char *name, __u32 w, const char *const *addrs, int n,
		 struct bs_backend_spec *be)
{
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->weight = w;
	g->n_backends = n;
	g->backends = be;
	for (int i = 0; i < n; i++) {
		char ep[64];

		snprintf(ep, sizeof(ep), "%s:8080", addrs[i]);
		bs_endpoint_parse(ep, be[i].addr, &be[i].port, &be[i].family);
		be[i].state = BS_BACKEND_READY;
	}
}

/* The specs of both configurations of both frontends, and what each chooses. */
struct conf_spec {
	struct bs_frontend_spec spec;
	struct bs_backend_spec s[2], k[2];
	struct expect_cfg expect;
};
static struct conf_spec specs[2][2]; /* [frontend][B?] */

/* Configuration A is 70/30 over a_*, B is 30/70 over b_*. */
static void build_conf(const struct fe_conf *c, bool b, struct conf_spec *cs)
{
	memset(cs, 0, sizeof(*cs));
	bs_frontend_key_parse(c->frontend, &cs->spec.key);
	cs->spec.n_groups = 2;
	if (!b) {
		fill(&cs->spec.groups[0], "stable", 70, c->a_stable, 2, cs->s);
		fill(&cs->spec.groups[1], "canary", 30, c->a_canary, 1, cs->k);
	} else {
		fill(&cs->spec.groups[0], "stable", 30, c->b_stable, 1, cs->s);
		fill(&cs->spec.groups[1], "canary", 70, c->b_canary, 2, cs->k);
	}
}

static int apply_conf(const struct fe_conf *c, bool b)
{
	char err[256];
	int rc;

	rc = bs_dp_apply(dp, &specs[c - confs][b].spec, err, sizeof(err));
	if (rc)
		fprintf(stderr, "apply: %s\n", err);
	return rc;
}

static void *writer(void *arg)
{
	bool b = false;

	while (!atomic_load(&stop)) {
		b = !b;
		for (int f = 0; f < 2; f++)
			if (apply_conf(&confs[f], b))
				return (void *)1;
		atomic_fetch_add(&writes, 1);
	}
	/* End on B for both. */
	for (int f = 0; f < 2; f++)
		if (apply_conf(&confs[f], true))
			return (void *)1;
	return NULL;
}

static bool known(const struct fe_conf *c, const char *dst, bool *canary)
{
	const char *const stable[] = { c->a_stable[0], c->a_stable[1], c->b_stable[0] };
	const char *const can[] = { c->a_canary[0], c->b_canary[0], c->b_canary[1] };

	for (int i = 0; i < 3; i++) {
		if (!strcmp(dst, stable[i])) {
			*canary = false;
			return true;
		}
		if (!strcmp(dst, can[i])) {
			*canary = true;
			return true;
		}
	}
	return false;
}

static int send_syn(int prog_fd, const struct fe_conf *c, uint16_t sport, const char *src, struct pkt_view *v)
{
	struct pkt_spec s = { .ipv = 4, .src = src, .dst = c->vip, .sport = sport, .dport = 80, .proto = 6,
			      .tcp_flags = 0x02, .seq = sport };
	uint8_t in[PKT_MAX], out[PKT_MAX];
	size_t len = pkt_build(&s, in);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .data_out = out,
		    .data_size_out = sizeof(out), .repeat = 1);

	if (bpf_prog_test_run_opts(prog_fd, &o))
		return -1;
	if (o.retval != XDP_PASS || !pkt_view(out, o.data_size_out, v))
		return -1;
	return 0;
}

/* The backends configurations A and B choose for this exact flow. */
static void expected(const struct fe_conf *c, const char *src, uint16_t sport, const __u32 hash_key[4], char *a,
		     char *b, size_t len)
{
	struct bs_flow_key fk;

	expect_flow4(&fk, src, sport, c->vip, 80);
	expect_addr(expect_pick(&specs[c - confs][0].expect, hash_key, &fk), a, len);
	expect_addr(expect_pick(&specs[c - confs][1].expect, hash_key, &fk), b, len);
}

static void flips_never_expose_a_half_written_table(void **state)
{
	int prog_fd = bs_dp_prog_fd(dp, BS_ENTRY_XDP);
	long sent = 0, canary = 0, n_after = 4000;
	pthread_t w;
	void *wret;
	struct timespec t0, t;
	struct bs_settings st;
	bool bad = false;
	char why[300] = "";

	assert_int_equal(bs_dp_get_settings(dp, &st), 0);
	assert_int_equal(apply_conf(&confs[0], false), 0);
	assert_int_equal(apply_conf(&confs[1], false), 0);
	atomic_store(&stop, false);
	assert_int_equal(pthread_create(&w, NULL, writer, NULL), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* Failures are recorded, not asserted, until the writer is stopped and joined: an
	 * assertion here would leave it writing while the teardown unpins the maps. */
	do {
		for (int f = 0; f < 2 && !bad; f++) {
			struct pkt_view v;
			bool is_canary;
			uint16_t sport = (uint16_t)(1024 + sent % 60000);
			char want_a[64], want_b[64];

			expected(&confs[f], "10.200.0.2", sport, st.hash_key, want_a, want_b, sizeof(want_a));
			if (send_syn(prog_fd, &confs[f], sport, "10.200.0.2", &v)) {
				snprintf(why, sizeof(why), "frontend %s: SYN not passed on", confs[f].frontend);
				bad = true;
			} else if (!known(&confs[f], v.dst, &is_canary)) {
				snprintf(why, sizeof(why), "frontend %s: SYN landed on %s", confs[f].frontend, v.dst);
				bad = true;
			} else if (strcmp(v.dst, want_a) && strcmp(v.dst, want_b)) {
				snprintf(why, sizeof(why),
					 "frontend %s: SYN from port %u landed on %s; configuration A chooses %s, B %s "
					 "(a mixed state)",
					 confs[f].frontend, sport, v.dst, want_a, want_b);
				bad = true;
			} else if (!v.l4_csum_ok || !v.ip_csum_ok) {
				snprintf(why, sizeof(why), "frontend %s: bad checksum after the rewrite", confs[f].frontend);
				bad = true;
			}
			sent++;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (!bad && t.tv_sec - t0.tv_sec < 3);
	atomic_store(&stop, true);
	assert_int_equal(pthread_join(w, &wret), 0);
	if (bad)
		fail_msg("%s", why);
	assert_null(wret);
	fprintf(stderr, "# %ld SYNs during %ld double writes\n", sent, atomic_load(&writes));
	assert_true(atomic_load(&writes) > 100);

	/* After the writer: configuration B (30/70 over b_*) only. */
	for (long i = 0; i < n_after; i++) {
		struct pkt_view v;
		bool is_canary;
		char src[32];

		char want_a[64], want_b[64];

		snprintf(src, sizeof(src), "10.200.%ld.%ld", 1 + i / 250, 1 + i % 250);
		assert_int_equal(send_syn(prog_fd, &confs[0], 40000, src, &v), 0);
		assert_true(known(&confs[0], v.dst, &is_canary));
		expected(&confs[0], src, 40000, st.hash_key, want_a, want_b, sizeof(want_a));
		assert_string_equal(v.dst, want_b);
		assert_true(!strcmp(v.dst, confs[0].b_stable[0]) || !strcmp(v.dst, confs[0].b_canary[0]) ||
			    !strcmp(v.dst, confs[0].b_canary[1]));
		canary += is_canary;
	}
	/* 70% of 4000 = 2800, sd = sqrt(4000 * .7 * .3) = 29 */
	assert_in_range(canary, 2800 - 87, 2800 + 87);
}

static int setup(void **state)
{
	struct bs_dp_opts o = { .max_conns = 65536, .max_frontends = 64, .max_backends = 256, .max_tables = 4096,
				.max_splits = 4096 };

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-atomic-%d", getpid());
	o.pin_root = pin_root;
	for (int f = 0; f < 2; f++)
		for (int b = 0; b < 2; b++) {
			build_conf(&confs[f], b, &specs[f][b]);
			if (expect_cfg_init(&specs[f][b].expect, &specs[f][b].spec))
				return -1;
		}
	return bs_dp_open(&o, &dp) ? -1 : 0;
}

static int teardown(void **state)
{
	bs_dp_close(dp);
	return bs_dp_unpin_all(pin_root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flips_never_expose_a_half_written_table),
	};

	return cmocka_run_group_tests_name("bpf_atomic_update", tests, setup, teardown);
}
