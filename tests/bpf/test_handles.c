// SPDX-License-Identifier: BSD-2-Clause
/* Several handles on one data path: writers and read-only readers opened and closed while
 * the writer retires, frees and reuses ids; maps filled to their caps through the real
 * writer; a fresh read-only handle reading back what another wrote; drift behind the
 * writer's back found by bs_dp_verify and repaired. Every claim about traffic is checked
 * with SYNs through BPF_PROG_TEST_RUN, each against the backend the shared hash predicts.
 * Needs root. */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include "bpfsplit.h"
#include "dp_writer.h"
#include "log.h"
#include "pktgen.h"
#include "expect.h"
#include "tables.h"

static struct bs_dp *dp; /* the writer with the programs */
static char pin_root[64];
static int root_seq;

static int open_root(const struct bs_dp_opts *base)
{
	struct bs_dp_opts o = *base;

	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-handles-%d-%d", getpid(), root_seq++);
	o.pin_root = pin_root;
	if (!o.max_conns)
		o.max_conns = 65536;
	return bs_dp_open(&o, &dp) ? -1 : 0;
}

static int setup_default(void **state)
{
	struct bs_dp_opts o = { .max_frontends = 64, .max_backends = 256 };

	return open_root(&o);
}

static int teardown(void **state)
{
	bs_dp_close(dp);
	dp = NULL;
	return bs_dp_unpin_all(pin_root);
}

/* ---- specs ---- */

struct spec_buf {
	struct bs_frontend_spec spec;
	struct bs_backend_spec be[BS_MAX_GROUPS][32];
};

/* groups: "name=weight:addr,addr~,..." (~: draining), all on port 8080. */
static void make_spec(struct spec_buf *b, const char *frontend, __u8 affinity, int n, ...)
{
	va_list ap;

	memset(b, 0, sizeof(*b));
	assert_int_equal(bs_frontend_key_parse(frontend, &b->spec.key), 0);
	b->spec.affinity = affinity;
	b->spec.n_groups = n;
	va_start(ap, n);
	for (int g = 0; g < n; g++) {
		char def[1024], *eq, *colon, *tok, *save = NULL;
		struct bs_group_spec *gs = &b->spec.groups[g];

		snprintf(def, sizeof(def), "%s", va_arg(ap, const char *));
		eq = strchr(def, '=');
		colon = strchr(def, ':');
		assert_non_null(eq);
		assert_non_null(colon);
		*eq = *colon = '\0';
		snprintf(gs->name, sizeof(gs->name), "%.55s", def);
		gs->weight = (__u32)atoi(eq + 1);
		gs->backends = b->be[g];
		for (tok = strtok_r(colon + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			struct bs_backend_spec *be = &b->be[g][gs->n_backends++];
			size_t len = strlen(tok);
			char ep[80];

			be->state = BS_BACKEND_READY;
			if (tok[len - 1] == '~') {
				tok[len - 1] = '\0';
				be->state = BS_BACKEND_DRAINING;
			}
			snprintf(ep, sizeof(ep), strchr(tok, ':') ? "[%s]:8080" : "%s:8080", tok);
			assert_int_equal(bs_endpoint_parse(ep, be->addr, &be->port, &be->family), 0);
		}
	}
	va_end(ap);
}

static int apply(struct bs_dp *h, const struct spec_buf *b, char *err, size_t len)
{
	char scratch[256];

	if (!err) {
		err = scratch;
		len = sizeof(scratch);
	}
	return bs_dp_apply(h, &b->spec, err, len);
}

static void apply_ok(struct bs_dp *h, const struct spec_buf *b)
{
	char err[256] = "";

	if (apply(h, b, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		fail();
	}
}

/* ---- traffic ---- */

/* n SYNs from distinct clients to the frontend of spec: every one must be forwarded to
 * exactly the backend the spec's configuration chooses for that flow. */
static void syns_follow(const struct bs_frontend_spec *spec, int n, int salt)
{
	int prog_fd = bs_dp_prog_fd(dp, BS_ENTRY_XDP);
	struct bs_settings st;
	struct expect_cfg c;
	char vip[64];

	assert_int_equal(bs_dp_get_settings(dp, &st), 0);
	assert_int_equal(expect_cfg_init(&c, spec), 0);
	inet_ntop(AF_INET, spec->key.addr, vip, sizeof(vip));
	for (int i = 0; i < n; i++) {
		char src[32], want[64];
		uint16_t sport = (uint16_t)(10000 + (i * 7 + salt) % 50000);
		struct pkt_spec s = { .ipv = 4, .src = src, .dst = vip, .sport = sport, .dport = ntohs(spec->key.port),
				      .proto = 6, .tcp_flags = 0x02, .seq = (uint32_t)(i + 1) };
		uint8_t in[PKT_MAX], out[PKT_MAX];
		size_t len;
		struct bs_flow_key fk;
		const struct bs_backend_spec *b;
		struct pkt_view v;

		snprintf(src, sizeof(src), "10.%d.%d.%d", 100 + salt % 100, 1 + i / 250, 1 + i % 250);
		len = pkt_build(&s, in);
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .data_out = out,
			    .data_size_out = sizeof(out), .repeat = 1);
		assert_int_equal(bpf_prog_test_run_opts(prog_fd, &o), 0);
		expect_flow4(&fk, src, sport, vip, ntohs(spec->key.port));
		b = expect_pick(&c, st.hash_key, &fk);
		assert_non_null(b);
		expect_addr(b, want, sizeof(want));
		if (o.retval != XDP_PASS || !pkt_view(out, o.data_size_out, &v) || strcmp(v.dst, want)) {
			fprintf(stderr, "SYN %d %s:%u -> %s: verdict %u, landed on %s, expected %s\n", i, src, sport, vip,
				o.retval, o.retval == XDP_PASS ? v.dst : "-", want);
			fail();
		}
	}
	expect_cfg_free(&c);
}

static __u32 backend_id(struct bs_dp *h, const char *frontend, const char *addr)
{
	struct bs_frontend_key key;
	struct bs_frontend_spec spec;
	__u32 id = 0;

	assert_int_equal(bs_frontend_key_parse(frontend, &key), 0);
	assert_int_equal(bs_dp_read(h, &key, &spec), 0);
	for (__u32 g = 0; g < spec.n_groups; g++)
		for (__u32 i = 0; i < spec.groups[g].n_backends; i++) {
			char a[64];

			if (!strcmp(expect_addr(&spec.groups[g].backends[i], a, sizeof(a)), addr))
				id = spec.groups[g].backends[i].id;
		}
	bs_frontend_spec_free(&spec);
	return id;
}

/* ---- the reproductions ---- */

/* A reader (and a second writer) opened while the writer retires backend B, closed after
 * B's id was freed and reused for a new backend: nothing a live table names is touched. */
static void handles_opened_during_a_retire_free_nothing_live(void **state)
{
	const char *fe = "10.96.0.10:80/tcp";
	struct spec_buf a, b, c;
	struct bs_dp *ro = NULL, *other = NULL;
	__u32 id_b, id_new;
	struct bs_backend slot;

	make_spec(&a, fe, 0, 2, "stable=50:10.201.1.2,10.201.2.2,10.201.3.2", "canary=50:10.201.4.2");
	apply_ok(dp, &a);
	syns_follow(&a.spec, 400, 1);
	id_b = backend_id(dp, fe, "10.201.4.2");
	assert_true(id_b != 0);

	/* The writer retires B (the canary moves to another backend)... */
	make_spec(&b, fe, 0, 2, "stable=50:10.201.1.2,10.201.2.2,10.201.3.2", "canary=50:10.201.5.2");
	apply_ok(dp, &b);
	/* ...a reader and another writer open now, while B waits for its grace period... */
	assert_int_equal(bs_dp_open_pinned_ro(pin_root, &ro), 0);
	assert_int_equal(bs_dp_open_pinned(pin_root, &other), 0);
	/* ...the writer frees B's id and reuses it for a new backend. */
	assert_true(bs_dp_flush_retired(dp, true) >= 1);
	assert_int_equal(bs_dp_backend(dp, id_b, &slot), -ENOENT);
	make_spec(&c, fe, 0, 2, "stable=50:10.201.1.2,10.201.2.2,10.201.3.2", "canary=50:10.201.5.2,10.201.6.2");
	apply_ok(dp, &c);
	id_new = backend_id(dp, fe, "10.201.6.2");
	assert_int_equal(id_new, id_b); /* the reuse the reproduction needs */

	/* Both close: neither may zero the new backend's slot. */
	bs_dp_close(ro);
	bs_dp_close(other);
	assert_int_equal(bs_dp_backend(dp, id_new, &slot), 0);
	syns_follow(&c.spec, 400, 2);
	assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);
}

static __u64 mono_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + (__u64)ts.tv_nsec;
}

/* The agent waits RCU grace periods on a thread of its own: a grace period that began
 * before an entry was retired frees nothing; one that began after it frees it. */
static void a_grace_period_waited_elsewhere_frees_only_what_came_before_it(void **state)
{
	const char *fe = "10.96.0.12:80/tcp";
	struct timespec past_time_grace = { 0, 30 * 1000 * 1000 };
	struct spec_buf a, b;
	struct bs_backend slot;
	__u64 before, after;
	__u32 id_b;

	make_spec(&a, fe, 0, 2, "stable=50:10.201.1.2,10.201.2.2,10.201.3.2", "canary=50:10.201.4.2");
	apply_ok(dp, &a);
	id_b = backend_id(dp, fe, "10.201.4.2");
	assert_true(id_b != 0);
	before = mono_now_ns();
	bs_dp_grace_period(); /* began before the retire */
	make_spec(&b, fe, 0, 2, "stable=50:10.201.1.2,10.201.2.2,10.201.3.2", "canary=50:10.201.5.2");
	apply_ok(dp, &b); /* retires B, the old split and the old canary table */
	nanosleep(&past_time_grace, NULL);
	assert_true(bs_dp_retired_due(dp));
	assert_int_equal(bs_dp_flush_retired_after(dp, before), 0);
	assert_int_equal(bs_dp_backend(dp, id_b, &slot), 0); /* still there */
	after = mono_now_ns();
	bs_dp_grace_period();
	assert_true(bs_dp_flush_retired_after(dp, after) >= 1);
	assert_int_equal(bs_dp_backend(dp, id_b, &slot), -ENOENT);
	assert_false(bs_dp_retired_due(dp));
	syns_follow(&b.spec, 400, 3);
	assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);
}

/* The same with the other writer closing while the first one's free is pending and the
 * first closing last: whichever order, a backend stays while a table names it. */
static void writers_closing_in_any_order_keep_live_backends(void **state)
{
	const char *fe = "10.96.0.11:80/tcp";
	struct spec_buf a, b;
	struct bs_dp *w2 = NULL, *w3 = NULL;

	make_spec(&a, fe, 0, 1, "stable=1:10.202.1.2,10.202.2.2");
	apply_ok(dp, &a);
	for (int round = 0; round < 6; round++) {
		char s[128];

		assert_int_equal(bs_dp_open_pinned(pin_root, &w2), 0);
		/* w2 writes: the first writer's view is now stale and it must catch up. */
		snprintf(s, sizeof(s), "stable=1:10.202.%d.2,10.202.%d.2", 3 + round, 4 + round);
		make_spec(&b, fe, 0, 1, s);
		apply_ok(w2, &b);
		assert_int_equal(bs_dp_open_pinned(pin_root, &w3), 0);
		apply_ok(dp, &a); /* back to a: b's backends retired by dp */
		bs_dp_close(w2);  /* w2 retired a's backends earlier; a names them again */
		assert_true(bs_dp_flush_retired(dp, true) >= 0);
		bs_dp_close(w3);
		syns_follow(&a.spec, 100, 10 + round);
	}
	assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);
}

/* A fresh read-only handle reads back exactly what another handle wrote. */
static void a_fresh_reader_reads_back_what_was_written(void **state)
{
	struct spec_buf s[3];
	struct bs_dp *ro = NULL;

	make_spec(&s[0], "10.96.0.20:80/tcp", 0, 2, "default/stable=70:10.203.1.2,10.203.2.2~,10.203.3.2",
		  "default/canary=30:10.203.4.2");
	make_spec(&s[1], "[fd00:96::20]:443/tcp", 1, 3, "a=0:fd00:203::1", "b=5:fd00:203::2~,fd00:203::3",
		  "c=995:fd00:203::4,fd00:203::5");
	make_spec(&s[2], "10.96.0.21:53/udp", 0, 1, "dns=1:10.203.9.2~");
	for (int i = 0; i < 3; i++)
		apply_ok(dp, &s[i]);
	assert_int_equal(bs_dp_open_pinned_ro(pin_root, &ro), 0);
	for (int i = 0; i < 3; i++) {
		struct bs_frontend_spec got, mine, want;

		assert_int_equal(bs_dp_read(ro, &s[i].spec.key, &got), 0);
		assert_int_equal(bs_dp_read(dp, &s[i].spec.key, &mine), 0);
		assert_int_equal(dp_spec_copy(&want, &s[i].spec), 0);
		dp_spec_normalize(&want);
		dp_spec_normalize(&got);
		assert_true(dp_spec_equal(&want, &got));
		assert_true(dp_spec_equal(&mine, &got));
		assert_int_equal(got.id, mine.id);
		assert_int_equal(got.split_id, mine.split_id);
		for (__u32 g = 0; g < got.n_groups; g++) {
			assert_int_equal(got.groups[g].table_id, mine.groups[g].table_id);
			for (__u32 k = 0; k < got.groups[g].n_backends; k++)
				assert_true(got.groups[g].backends[k].id != 0);
		}
		bs_frontend_spec_free(&got);
		bs_frontend_spec_free(&mine);
		bs_frontend_spec_free(&want);
	}
	/* A read-only handle refuses to write. */
	assert_int_equal(apply(ro, &s[0], NULL, 0), -EROFS);
	assert_int_equal(bs_dp_remove(ro, &s[0].spec.key), -EROFS);
	bs_dp_close(ro);
	syns_follow(&s[0].spec, 200, 3);
}

/* ---- full maps ---- */

/* Frontends written before a map filled keep forwarding exactly as before, through the
 * failed write and another process's open and close. */
static void earlier_frontends_unaffected(struct spec_buf *written, int n)
{
	struct bs_dp *w = NULL, *ro = NULL;

	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < n; i++)
			syns_follow(&written[i].spec, 100, 20 + i);
		if (pass)
			break;
		assert_int_equal(bs_dp_open_pinned(pin_root, &w), 0);
		assert_int_equal(bs_dp_open_pinned_ro(pin_root, &ro), 0);
		for (int i = 0; i < n; i++) {
			struct bs_frontend_spec got, want;

			assert_int_equal(bs_dp_read(ro, &written[i].spec.key, &got), 0);
			assert_int_equal(dp_spec_copy(&want, &written[i].spec), 0);
			dp_spec_normalize(&want);
			dp_spec_normalize(&got);
			assert_true(dp_spec_equal(&want, &got));
			bs_frontend_spec_free(&got);
			bs_frontend_spec_free(&want);
		}
		bs_dp_close(ro);
		bs_dp_close(w);
		assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);
	}
}

static void expect_full(const struct spec_buf *b, const char *map, const char *flag)
{
	char err[256] = "";
	struct bs_frontend_spec got;

	assert_int_equal(apply(dp, b, err, sizeof(err)), -ENOSPC);
	fprintf(stderr, "# refused: %s\n", err);
	assert_non_null(strstr(err, map));
	assert_non_null(strstr(err, flag));
	if (bs_dp_read(dp, &b->spec.key, &got) == 0)
		bs_frontend_spec_free(&got);
}

static int setup_small_members(void **state)
{
	/* Backend ids 1..15; bs_members holds 64. */
	struct bs_dp_opts o = { .max_frontends = 8, .max_backends = 16, .max_members = 64 };

	return open_root(&o);
}

static void full_members_refuse_the_write_and_change_nothing(void **state)
{
	struct spec_buf s[5], grow;
	char many[1024] = "all=1:";
	struct bs_frontend_key k5;

	for (int i = 1; i <= 15; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.204.0.%d", i > 1 ? "," : "", i);
	for (int i = 0; i < 5; i++) {
		char fe[64];

		snprintf(fe, sizeof(fe), "10.96.1.%d:80/tcp", i + 1);
		make_spec(&s[i], fe, 0, 1, many);
	}
	for (int i = 0; i < 4; i++) /* 60 of 64 members */
		apply_ok(dp, &s[i]);
	expect_full(&s[4], "bs_members", "--max-members");
	k5 = s[4].spec.key;
	{
		struct bs_frontend_spec got;

		assert_int_equal(bs_dp_read(dp, &k5, &got), -ENOENT);
	}
	/* An existing frontend growing past the cap is refused too, and keeps its config. */
	make_spec(&grow, "10.96.1.1:80/tcp", 0, 2, many, "more=1:10.204.0.1,10.204.0.2,10.204.0.3,10.204.0.4,10.204.0.5");
	expect_full(&grow, "bs_members", "--max-members");
	earlier_frontends_unaffected(s, 4);
}

static void full_backends_refuse_the_write_and_change_nothing(void **state)
{
	struct spec_buf s[2];
	char many[1024] = "all=1:";

	make_spec(&s[0], "10.96.2.1:80/tcp", 0, 2, "stable=9:10.205.0.1,10.205.0.2", "canary=1:10.205.0.3");
	apply_ok(dp, &s[0]);
	for (int i = 1; i <= 16; i++) /* 16 more distinct backends: 19 > 15 ids */
		snprintf(many + strlen(many), sizeof(many) - strlen(many), "%s10.205.1.%d", i > 1 ? "," : "", i);
	make_spec(&s[1], "10.96.2.2:80/tcp", 0, 1, many);
	expect_full(&s[1], "bs_backends", "--max-backends");
	earlier_frontends_unaffected(s, 1);
}

static int setup_small_splits(void **state)
{
	struct bs_dp_opts o = { .max_frontends = 16, .max_backends = 64, .max_splits = 4, .max_tables = 64 };

	return open_root(&o);
}

static void full_splits_refuse_the_write_and_change_nothing(void **state)
{
	struct spec_buf s[5], change;

	for (int i = 0; i < 5; i++) {
		char fe[64];

		snprintf(fe, sizeof(fe), "10.96.3.%d:80/tcp", i + 1);
		make_spec(&s[i], fe, 0, 2, "stable=80:10.206.0.1,10.206.0.2", "canary=20:10.206.0.3");
	}
	for (int i = 0; i < 4; i++)
		apply_ok(dp, &s[i]);
	expect_full(&s[4], "bs_splits", "--max-splits");
	/* A weight change needs a second split while the first serves: refused, unchanged. */
	make_spec(&change, "10.96.3.1:80/tcp", 0, 2, "stable=50:10.206.0.1,10.206.0.2", "canary=50:10.206.0.3");
	expect_full(&change, "bs_splits", "--max-splits");
	earlier_frontends_unaffected(s, 4);
}

static int setup_small_tables(void **state)
{
	struct bs_dp_opts o = { .max_frontends = 16, .max_backends = 64, .max_tables = 6 };

	return open_root(&o);
}

static void full_tables_refuse_the_write_and_change_nothing(void **state)
{
	struct spec_buf s[4];

	for (int i = 0; i < 4; i++) {
		char fe[64], st[64], ca[64];

		snprintf(fe, sizeof(fe), "10.96.4.%d:80/tcp", i + 1);
		snprintf(st, sizeof(st), "stable=60:10.207.%d.1,10.207.%d.2", i, i);
		snprintf(ca, sizeof(ca), "canary=40:10.207.%d.3", i);
		make_spec(&s[i], fe, 0, 2, st, ca);
	}
	for (int i = 0; i < 3; i++) /* 6 of 6 tables */
		apply_ok(dp, &s[i]);
	expect_full(&s[3], "bs_maglev", "--max-tables");
	earlier_frontends_unaffected(s, 3);
}

/* ---- large groups ---- */

static int setup_large(void **state)
{
	struct bs_dp_opts o = { .max_frontends = 64, .max_backends = 4096, .max_members = 8192 };

	return open_root(&o);
}

/* n backends 10.(base).x.y, ready, in a group string for make_spec. */
static char *group_of(const char *name, __u32 weight, int base, int n, int skip)
{
	char *s = malloc(64 + (size_t)n * 20);

	sprintf(s, "%s=%u:", name, weight);
	for (int i = 0, k = 0; i < n; i++) {
		if (i == skip)
			continue;
		sprintf(s + strlen(s), "%s10.%d.%d.%d", k++ ? "," : "", base, i / 250, 1 + i % 250);
	}
	return s;
}

/* A group of 1,000 ready backends gets a large table; a small group beside it keeps a
 * small one; every SYN lands on exactly the predicted backend; removing one of the 1,000
 * moves only its own flows and under 1% of the rest; 1,024 ready is refused by name. */
static void a_thousand_ready_backends_in_one_group(void **state)
{
	struct spec_buf *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct bs_frontend_spec got;
	struct bs_backend_spec *big_a = calloc(1100, sizeof(*big_a)), *big_b = calloc(1100, sizeof(*big_b));
	char *stable = group_of("stable", 90, 50, 1000, -1), *stable_less = group_of("stable", 90, 50, 1000, 500);
	char *too_many = group_of("stable", 90, 50, BS_MAX_READY_PER_GROUP + 1, -1);
	char err[256] = "";
	struct expect_cfg ca, cb;
	struct bs_settings st;
	int moved = 0, on_gone = 0, total = 3000;

	/* make_spec's buffers hold 32 backends a group: group 0 points at a bigger array. */
	{
		for (int pass = 0; pass < 2; pass++) {
			struct spec_buf *t = pass ? b : a;
			struct bs_backend_spec *big = pass ? big_b : big_a;
			const char *def = pass ? stable_less : stable;
			char *defs = strdup(def), *tok, *save = NULL;
			int k = 0;

			make_spec(t, "10.96.6.1:80/tcp", 0, 2, "stable=90:10.50.0.1", "canary=10:10.209.0.1,10.209.0.2");
			for (tok = strtok_r(strchr(defs, ':') + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				char ep[64];

				snprintf(ep, sizeof(ep), "%s:8080", tok);
				assert_int_equal(bs_endpoint_parse(ep, big[k].addr, &big[k].port, &big[k].family), 0);
				big[k++].state = BS_BACKEND_READY;
			}
			t->spec.groups[0].backends = big;
			t->spec.groups[0].n_backends = k;
			free(defs);
		}
	}
	assert_int_equal(a->spec.groups[0].n_backends, 1000);
	assert_int_equal(b->spec.groups[0].n_backends, 999);
	apply_ok(dp, a);
	assert_int_equal(bs_dp_read(dp, &a->spec.key, &got), 0);
	assert_true(got.groups[0].table_id & BS_TABLE_LARGE);     /* the big group: a large table */
	assert_false(got.groups[1].table_id & BS_TABLE_LARGE);    /* the small one: a small table */
	bs_frontend_spec_free(&got);
	syns_follow(&a->spec, total, 40);
	assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);

	/* Remove one of the 1,000. */
	apply_ok(dp, b);
	syns_follow(&b->spec, total, 42); /* new flows (the same 5-tuples would follow their records) */
	assert_int_equal(bs_dp_get_settings(dp, &st), 0);
	assert_int_equal(expect_cfg_init(&ca, &a->spec), 0);
	assert_int_equal(expect_cfg_init(&cb, &b->spec), 0);
	for (int i = 0; i < total; i++) {
		char src[32], x[64], y[64];
		struct bs_flow_key fk;
		uint16_t sport = (uint16_t)(10000 + (i * 7 + 40) % 50000);

		snprintf(src, sizeof(src), "10.%d.%d.%d", 140, 1 + i / 250, 1 + i % 250);
		expect_flow4(&fk, src, sport, "10.96.6.1", 80);
		expect_addr(expect_pick(&ca, st.hash_key, &fk), x, sizeof(x));
		expect_addr(expect_pick(&cb, st.hash_key, &fk), y, sizeof(y));
		on_gone += !strcmp(x, "10.50.2.1"); /* backend 500: 10.50.(500/250).(1+500%250) */
		moved += strcmp(x, y) != 0;
	}
	fprintf(stderr, "# 1,000 -> 999 ready: %d of %d flows moved, %d of them were on the removed backend\n", moved,
		total, on_gone);
	assert_true(moved >= on_gone);
	assert_true(moved - on_gone <= total / 100 + 10); /* others: under ~1% (a few flows of slack) */
	expect_cfg_free(&ca);
	expect_cfg_free(&cb);

	/* One over the limit: refused by name, the frontend keeps serving b. */
	make_spec(a, "10.96.6.1:80/tcp", 0, 1, "stable=1:10.50.0.1");
	{
		char *defs = strdup(too_many), *tok, *save = NULL;
		int k = 0;

		for (tok = strtok_r(strchr(defs, ':') + 1, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			char ep[64];

			snprintf(ep, sizeof(ep), "%s:8080", tok);
			assert_int_equal(bs_endpoint_parse(ep, big_a[k].addr, &big_a[k].port, &big_a[k].family), 0);
			big_a[k++].state = BS_BACKEND_READY;
		}
		a->spec.groups[0].backends = big_a;
		a->spec.groups[0].n_backends = k;
		free(defs);
	}
	assert_int_equal(apply(dp, a, err, sizeof(err)), -E2BIG);
	assert_non_null(strstr(err, "1024 ready backends, at most 1023 per group"));
	syns_follow(&b->spec, 500, 41);
	free(stable);
	free(stable_less);
	free(too_many);
	free(big_a);
	free(big_b);
	free(a);
	free(b);
}

/* ---- drift ---- */

struct seen {
	int n, repaired;
	char whats[256];
};

static void note(const struct bs_verify_diff *d, void *arg)
{
	struct seen *s = arg;

	s->n++;
	s->repaired += d->repaired;
	snprintf(s->whats + strlen(s->whats), sizeof(s->whats) - strlen(s->whats), "%s ", d->what);
	fprintf(stderr, "# verify: %s: %s%s\n", d->what, d->detail, d->repaired ? " (repaired)" : "");
}

static void drift_behind_the_writer_is_found_and_repaired(void **state)
{
	const char *fe = "10.96.5.1:80/tcp";
	int backends = bs_dp_map_fd(dp, "bs_backends"), splits = bs_dp_map_fd(dp, "bs_splits");
	struct spec_buf a;
	struct bs_backend none = {};
	struct bs_frontend_spec mine;
	struct bs_split sp;
	struct bs_dp *cli = NULL;
	struct seen before = { 0 }, cli_seen = { 0 }, fix = { 0 }, after = { 0 };
	__u32 id;

	make_spec(&a, fe, 0, 2, "stable=70:10.208.0.1,10.208.0.2,10.208.0.3", "canary=30:10.208.0.4");
	apply_ok(dp, &a);
	assert_int_equal(bs_dp_verify(dp, false, note, &before), 0);

	/* Behind the writer's back: zero a backend slot and move a threshold. */
	id = backend_id(dp, fe, "10.208.0.2");
	assert_int_equal(bpf_map_update_elem(backends, &id, &none, BPF_ANY), 0);
	assert_int_equal(bs_dp_read(dp, &a.spec.key, &mine), 0);
	assert_int_equal(bpf_map_lookup_elem(splits, &mine.split_id, &sp), 0);
	sp.thresholds[0] = sp.thresholds[0] / 2;
	assert_int_equal(bpf_map_update_elem(splits, &mine.split_id, &sp, BPF_ANY), 0);
	bs_frontend_spec_free(&mine);

	/* Another process (what `bpfsplit dataplane verify` runs) sees both. */
	assert_int_equal(bs_dp_open_pinned(pin_root, &cli), 0);
	assert_true(bs_dp_verify(cli, false, note, &cli_seen) >= 2);
	bs_dp_close(cli);
	assert_non_null(strstr(cli_seen.whats, "thresholds"));
	assert_non_null(strstr(cli_seen.whats, "backend"));
	assert_int_equal(cli_seen.repaired, 0);

	/* The writer finds both and repairs them. */
	assert_true(bs_dp_verify(dp, true, note, &fix) >= 2);
	assert_non_null(strstr(fix.whats, "thresholds"));
	assert_non_null(strstr(fix.whats, "backend"));
	assert_int_equal(fix.repaired, fix.n);
	assert_int_equal(bs_dp_verify(dp, false, note, &after), 0);
	syns_follow(&a.spec, 400, 30);
	assert_true(bs_dp_flush_retired(dp, true) >= 0);
	syns_follow(&a.spec, 100, 31);
}

/* ---- an interrupted write ---- */

/* The maps as a writer leaves them when it is killed right after its switch: write_gen
 * odd, the new backend, table, split and members written and switched to, the old table
 * and split not retired, bs_groups still holding the old weights. Readers and the next
 * writer must not remove anything the switched split names. */
static void a_writer_killed_after_its_switch_breaks_nothing(void **state)
{
	const char *fe = "10.96.7.1:80/tcp";
	struct spec_buf a, b;
	struct bs_frontend_spec cur, got;
	struct bs_dp *h = NULL;
	struct bs_maglev_member mm[2];
	struct bs_maglev_table *tbl = malloc(sizeof(*tbl));
	struct bs_split sp = {};
	struct bs_state st;
	struct bs_backend c2 = {};
	struct bs_member_key mk;
	struct bs_member mv = { .state = BS_BACKEND_READY };
	struct bs_fe_split slot;
	__u32 zero = 0, w[2] = { 50, 50 }, c2_id = 200, tid = 77777, sid = 88888, c1_id;
	struct seen diffs = { 0 };

	make_spec(&a, fe, 0, 2, "stable=90:10.210.0.1,10.210.0.2,10.210.0.3", "canary=10:10.210.1.1");
	make_spec(&b, fe, 0, 2, "stable=50:10.210.0.1,10.210.0.2,10.210.0.3", "canary=50:10.210.1.1,10.210.1.2");
	apply_ok(dp, &a);
	assert_int_equal(bs_dp_read(dp, &a.spec.key, &cur), 0);
	c1_id = cur.groups[1].backends[0].id;

	/* The killed writer's steps, up to and including the switch. */
	assert_int_equal(bpf_map_lookup_elem(bs_dp_map_fd(dp, "bs_state"), &zero, &st), 0);
	st.write_gen |= 1;
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_state"), &zero, &st, BPF_ANY), 0);
	c2 = (struct bs_backend){ .family = BS_AF_INET, .state = BS_BACKEND_READY, .port = b.be[1][1].port };
	memcpy(c2.addr, b.be[1][1].addr, sizeof(c2.addr));
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_backends"), &c2_id, &c2, BPF_ANY), 0);
	memset(mm, 0, sizeof(mm));
	for (int i = 0; i < 2; i++) {
		memcpy(mm[i].addr, b.be[1][i].addr, sizeof(mm[i].addr));
		mm[i].port = b.be[1][i].port;
		mm[i].family = BS_AF_INET;
		mm[i].id = i ? c2_id : c1_id;
	}
	assert_int_equal(bs_maglev_build(mm, 2, tbl), 0);
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_maglev"), &tid, tbl, BPF_NOEXIST), 0);
	sp.n_groups = 2;
	assert_int_equal(bs_thresholds(w, 2, sp.thresholds), 0);
	sp.tables[0] = cur.groups[0].table_id;
	sp.tables[1] = tid;
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_splits"), &sid, &sp, BPF_NOEXIST), 0);
	mk = (struct bs_member_key){ cur.id, c2_id, 1 };
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_members"), &mk, &mv, BPF_ANY), 0);
	slot.split_id = sid;
	assert_int_equal(bpf_map_update_elem(bs_dp_map_fd(dp, "bs_fe_splits"), &cur.id, &slot, BPF_ANY), 0);
	bs_frontend_spec_free(&cur);
	syns_follow(&b.spec, 300, 50);

	/* Readers and a writer come and go ("frontend show", a CLI write elsewhere)... */
	assert_int_equal(bs_dp_open_pinned_ro(pin_root, &h), 0);
	assert_int_equal(bs_dp_read(h, &b.spec.key, &got), 0);
	assert_int_equal(got.split_id, sid);
	bs_frontend_spec_free(&got);
	bs_dp_close(h);
	assert_int_equal(bs_dp_open_pinned(pin_root, &h), 0);
	assert_int_equal(bs_dp_read(h, &b.spec.key, &got), 0);
	assert_int_equal(got.groups[1].table_id, tid);
	assert_int_equal(got.groups[1].n_backends, 2);
	bs_frontend_spec_free(&got);
	/* ...and this one says what the interrupted write left inconsistent (bs_groups still
	 * has the old weights), then frees what no split names when it closes. */
	assert_true(bs_dp_verify(h, false, note, &diffs) >= 1);
	assert_non_null(strstr(diffs.whats, "thresholds"));
	bs_dp_close(h);
	/* The switched configuration still serves, exactly. */
	syns_follow(&b.spec, 300, 51);
	/* The original writer catches up and finishes the job; nothing differs after. */
	apply_ok(dp, &b);
	assert_int_equal(bs_dp_verify(dp, false, NULL, NULL), 0);
	syns_follow(&b.spec, 300, 52);
	free(tbl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(handles_opened_during_a_retire_free_nothing_live, setup_default, teardown),
		cmocka_unit_test_setup_teardown(writers_closing_in_any_order_keep_live_backends, setup_default, teardown),
		cmocka_unit_test_setup_teardown(a_grace_period_waited_elsewhere_frees_only_what_came_before_it, setup_default,
						teardown),
		cmocka_unit_test_setup_teardown(a_fresh_reader_reads_back_what_was_written, setup_default, teardown),
		cmocka_unit_test_setup_teardown(full_members_refuse_the_write_and_change_nothing, setup_small_members,
						teardown),
		cmocka_unit_test_setup_teardown(full_backends_refuse_the_write_and_change_nothing, setup_small_members,
						teardown),
		cmocka_unit_test_setup_teardown(full_splits_refuse_the_write_and_change_nothing, setup_small_splits,
						teardown),
		cmocka_unit_test_setup_teardown(full_tables_refuse_the_write_and_change_nothing, setup_small_tables,
						teardown),
		cmocka_unit_test_setup_teardown(drift_behind_the_writer_is_found_and_repaired, setup_default, teardown),
		cmocka_unit_test_setup_teardown(a_thousand_ready_backends_in_one_group, setup_large, teardown),
		cmocka_unit_test_setup_teardown(a_writer_killed_after_its_switch_breaks_nothing, setup_default, teardown),
	};

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	return cmocka_run_group_tests_name("bpf_handles", tests, NULL, NULL);
}
