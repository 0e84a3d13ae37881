// SPDX-License-Identifier: BSD-2-Clause
/* Packet fuzzer: valid frames (pktgen: IPv4/IPv6, TCP with options/UDP, VLAN, QinQ, IP
 * options, fragments, ICMP) mutated and pushed through the real entry points with
 * BPF_PROG_TEST_RUN - XDP and tc ingress, tc egress for replies - checking invariants
 * against an independent reference parser written here:
 *  - every verdict is one the entry point documents (XDP: PASS, DROP, TX; tc ingress:
 *    OK, SHOT, REDIRECT; tc egress: OK, SHOT);
 *  - a packet not for a frontend (by the reference parser) leaves unchanged, passed;
 *  - a packet for a frontend is forwarded: destination a backend :8080, nothing else
 *    changed but the checksums, and the checksums right from scratch when they were
 *    right on input;
 *  - a tracked reply, however its payload, flags and IP fields vary, is translated back
 *    to the frontend's address and port with right checksums.
 * The generator is seeded (BS_PKTFUZZ_SEED, default fixed) so that a failure repeats;
 * BS_PKTFUZZ_ITERS scales the work (make fuzz raises it). A failing frame is printed in
 * hex and written to BUILD/fuzz/pktfuzz-failure.hex; regression frames in
 * tests/fuzz/regressions/pktfuzz/ (lines "entry hex", "#" comments) are replayed first
 * on every run.
 * Needs root. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <ctype.h>
#include <dirent.h>
#include <arpa/inet.h>
#include "dp_fixture.h"

#define MAXF 2200

static uint64_t rng_state;
static unsigned long iters = 20000;

static uint32_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

static uint32_t below(uint32_t n)
{
	return n ? rnd() % n : 0;
}

/* ---- the reference parser ---- */

struct ref {
	bool ok;          /* a TCP or UDP packet the data path must look at */
	int ipv;
	size_t l3, l4, l4len, ihl;
	uint8_t proto;
	uint16_t sport, dport;
	const uint8_t *saddr, *daddr;
	bool csum_ok;     /* IP header (v4) and L4 checksums right from scratch */
};

static void ref_parse(const uint8_t *b, size_t len, struct ref *r)
{
	size_t off = 12;
	uint16_t et;

	memset(r, 0, sizeof(*r));
	if (len < 14)
		return;
	et = get16(b + off);
	for (int t = 0; t < 2 && (et == 0x8100 || et == 0x88a8); t++) {
		off += 4;
		if (off + 2 > len)
			return;
		et = get16(b + off);
	}
	off += 2;
	r->l3 = off;
	if (et == 0x0800) {
		size_t tot;

		if (off + 20 > len || (b[off] >> 4) != 4 || (b[off] & 0xf) < 5)
			return;
		r->ihl = (b[off] & 0xf) * 4;
		if (off + r->ihl > len || (get16(b + off + 6) & 0x3fff))
			return;
		tot = get16(b + off + 2);
		if (tot < r->ihl || off + tot > len)
			return;
		r->ipv = 4;
		r->proto = b[off + 9];
		r->saddr = b + off + 12;
		r->daddr = b + off + 16;
		r->l4 = off + r->ihl;
		r->l4len = tot - r->ihl;
	} else if (et == 0x86dd) {
		if (off + 40 > len || (b[off] >> 4) != 6)
			return;
		r->ipv = 6;
		r->proto = b[off + 6];
		r->saddr = b + off + 8;
		r->daddr = b + off + 24;
		r->l4 = off + 40;
		r->l4len = get16(b + off + 4);
		if (r->l4 + r->l4len > len)
			return;
	} else {
		return;
	}
	if (r->proto == 6) {
		size_t doff;

		if (r->l4 + 20 > len)
			return;
		doff = (b[r->l4 + 12] >> 4) * 4;
		if (doff < 20 || r->l4len < doff || r->l4 + doff > len)
			return;
	} else if (r->proto == 17) {
		if (r->l4 + 8 > len || r->l4len < 8)
			return;
	} else {
		return;
	}
	r->sport = get16(b + r->l4);
	r->dport = get16(b + r->l4 + 2);
	r->ok = true;
	{
		uint32_t pseudo = pkt_pseudo(r->ipv, r->saddr, r->daddr, r->proto, r->l4len);
		bool ip_ok = r->ipv == 6 || pkt_fold(pkt_sum(b + r->l3, r->ihl, 0)) == 0xffff;
		bool l4_ok = (r->proto == 17 && r->ipv == 4 && get16(b + r->l4 + 6) == 0) ||
			     pkt_fold(pkt_sum(b + r->l4, r->l4len, pseudo)) == 0xffff;

		r->csum_ok = ip_ok && l4_ok;
	}
}

static bool for_frontend(const struct ref *r)
{
	uint8_t fe[16];

	if (!r->ok || r->dport != FX_FE_PORT)
		return false;
	inet_pton(r->ipv == 4 ? AF_INET : AF_INET6, r->ipv == 4 ? FX_FE4 : FX_FE6, fe);
	return !memcmp(r->daddr, fe, r->ipv == 4 ? 4 : 16);
}

/* Make the checksums right for the frame as it now is. */
static void fix_checksums(uint8_t *b, size_t len)
{
	struct ref r;
	size_t c;

	ref_parse(b, len, &r);
	if (!r.ok)
		return;
	if (r.ipv == 4) {
		put16(b + r.l3 + 10, 0);
		put16(b + r.l3 + 10, ~pkt_fold(pkt_sum(b + r.l3, r.ihl, 0)));
	}
	c = r.l4 + (r.proto == 6 ? 16 : 6);
	if (r.proto == 17 && r.ipv == 4 && get16(b + c) == 0)
		return;
	put16(b + c, 0);
	{
		uint16_t v = ~pkt_fold(pkt_sum(b + r.l4, r.l4len, pkt_pseudo(r.ipv, r.saddr, r.daddr, r.proto, r.l4len)));

		put16(b + c, r.proto == 17 && !v ? 0xffff : v);
	}
}

/* ---- seeds and mutations ---- */

static size_t seed_frame(uint8_t *b, bool reply, const char *backend4, const char *backend6, uint16_t client_port)
{
	static const uint8_t flags[] = { 0x02, 0x10, 0x18, 0x11, 0x04, 0x12, 0x00 };
	struct pkt_spec s = {};
	int kind = below(10);

	s.ipv = below(2) ? 4 : 6;
	s.proto = kind < 6 ? 6 : kind < 9 ? 17 : (s.ipv == 4 ? 1 : 58);
	if (reply) {
		s.src = s.ipv == 4 ? backend4 : backend6;
		s.dst = s.ipv == 4 ? FX_CLIENT4 : FX_CLIENT6;
		s.sport = FX_BE_PORT;
		s.dport = client_port;
	} else {
		static const char *const other4[] = { FX_FE4, FX_FE4, FX_FE4, "10.96.0.11" };
		static const char *const other6[] = { FX_FE6, FX_FE6, FX_FE6, "fd00:96::11" };

		s.src = s.ipv == 4 ? FX_CLIENT4 : FX_CLIENT6;
		s.dst = s.ipv == 4 ? other4[below(4)] : other6[below(4)];
		s.sport = (uint16_t)(1024 + below(60000));
		s.dport = below(5) ? FX_FE_PORT : (uint16_t)below(65536);
	}
	s.tcp_flags = flags[below(sizeof(flags))];
	s.seq = rnd();
	s.ack = rnd();
	s.tcp_opt_len = 4 * below(11);
	s.ip_opt_len = s.ipv == 4 && !below(4) ? 4 * below(11) : 0;
	s.payload_len = below(3) ? below(64) : below(1400);
	s.vlan = below(3) ? 0 : (uint16_t)(1 + below(4094));
	s.svlan = s.vlan && below(2) ? (uint16_t)(1 + below(4094)) : 0;
	s.fragment = !reply && !below(12);
	s.csum = s.proto == 17 && s.ipv == 4 && !below(4) ? PKT_CSUM_NONE : PKT_CSUM_FULL;
	return pkt_build(&s, b);
}

static const uint8_t interesting[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x11, 0x2c, 0x3a, 0x40, 0x45,
				       0x50, 0x60, 0x7f, 0x80, 0x81, 0x86, 0x88, 0xa8, 0xdd, 0xf0, 0xfe, 0xff };

/* Random damage anywhere; the headers (first 120 bytes) get most of it. */
static size_t mutate(uint8_t *b, size_t len)
{
	int n = 1 + below(4);

	for (int i = 0; i < n; i++) {
		size_t at = below(3) ? below(len < 120 ? (uint32_t)len : 120) : below((uint32_t)len);

		switch (below(6)) {
		case 0:
			b[at] ^= (uint8_t)(1u << below(8));
			break;
		case 1:
			b[at] = interesting[below(sizeof(interesting))];
			break;
		case 2:
			b[at] = (uint8_t)rnd();
			break;
		case 3: /* a 16-bit field to an edge value */
			if (at + 1 < len)
				put16(b + at, (uint16_t[]){ 0, 1, 0x7fff, 0x8000, 0xffff, (uint16_t)len }[below(6)]);
			break;
		case 4: /* cut */
			len = 14 + below((uint32_t)len - 13);
			break;
		case 5: /* grow */
			if (len + 64 <= MAXF) {
				uint32_t add = 1 + below(64);

				for (uint32_t k = 0; k < add; k++)
					b[len + k] = (uint8_t)rnd();
				len += add;
			}
			break;
		}
	}
	return len;
}

/* Keeps a reply a valid reply: payload, flags, sequence numbers, IP id/ttl/tos. */
static void mutate_reply(uint8_t *b, size_t len)
{
	struct ref r;

	ref_parse(b, len, &r);
	if (!r.ok)
		return;
	for (int i = 0, n = 1 + below(4); i < n; i++) {
		switch (below(4)) {
		case 0:
			if (len > r.l4 + 20)
				b[r.l4 + 20 + below((uint32_t)(len - r.l4 - 20))] = (uint8_t)rnd();
			break;
		case 1:
			if (r.proto == 6)
				b[r.l4 + 13] = (uint8_t)rnd();
			break;
		case 2:
			if (r.proto == 6)
				put32(b + r.l4 + 4 + 4 * below(2), rnd());
			break;
		case 3:
			if (r.ipv == 4)
				b[r.l3 + (uint32_t[]){ 1, 4, 5, 8 }[below(4)]] = (uint8_t)rnd();
			else
				b[r.l3 + 1 + below(3)] = (uint8_t)rnd(); /* traffic class, flow label */
			break;
		}
	}
}

/* ---- running and checking ---- */

static const char *build_dir(void)
{
	const char *b = getenv("BPFSPLIT_BUILD");

	return b ? b : "build";
}

static void report(enum bs_entry e, const uint8_t *in, size_t len, const char *what)
{
	char path[512];
	FILE *f;

	fprintf(stderr, "pktfuzz: %s on %s (seed %llu), input frame:\n%s ", what, bs_entry_name(e),
		(unsigned long long)rng_state, bs_entry_name(e));
	for (size_t i = 0; i < len; i++)
		fprintf(stderr, "%02x", in[i]);
	fprintf(stderr, "\n");
	snprintf(path, sizeof(path), "%s/fuzz/pktfuzz-failure.hex", build_dir());
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "%s ", bs_entry_name(e));
		for (size_t i = 0; i < len; i++)
			fprintf(f, "%02x", in[i]);
		fprintf(f, "\n");
		fclose(f);
		fprintf(stderr, "written to %s: copy it into tests/fuzz/regressions/pktfuzz/ with the fix\n", path);
	}
}

#define EXPECT(e, in, len, cond)                                                                         \
	do {                                                                                             \
		if (!(cond)) {                                                                           \
			report(e, in, len, #cond);                                                       \
			fail_msg("invariant failed: %s", #cond);                                         \
		}                                                                                        \
	} while (0)

static bool verdict_documented(enum bs_entry e, int v)
{
	if (e == BS_ENTRY_XDP)
		return v == XDP_PASS || v == XDP_DROP || v == XDP_TX;
	if (e == BS_ENTRY_TC_INGRESS)
		return v == TC_ACT_OK || v == TC_ACT_SHOT || v == TC_ACT_REDIRECT;
	return v == TC_ACT_OK || v == TC_ACT_SHOT;
}

/* Bytes a translation may change: addresses and port of one side, the checksums. */
static bool only_nat_fields_changed(const struct ref *r, const uint8_t *in, const uint8_t *out, size_t len, bool dst)
{
	size_t alen = r->ipv == 4 ? 4 : 16;
	size_t a = (size_t)((dst ? r->daddr : r->saddr) - in);
	size_t port = r->l4 + (dst ? 2 : 0);
	size_t l4c = r->l4 + (r->proto == 6 ? 16 : 6);

	for (size_t i = 0; i < len; i++) {
		if (in[i] == out[i])
			continue;
		if (i >= a && i < a + alen)
			continue;
		if (i >= port && i < port + 2)
			continue;
		if (i >= l4c && i < l4c + 2)
			continue;
		if (r->ipv == 4 && i >= r->l3 + 10 && i < r->l3 + 12)
			continue;
		return false;
	}
	return true;
}

static uint8_t outbuf[MAXF + 256];

/* One frame through an ingress entry point; the invariants. Returns false when the test
 * runner itself refused the frame (too short for an skb). */
static bool check_ingress(enum bs_entry e, const uint8_t *in, size_t len)
{
	struct ref r, o;
	__u32 out_len = 0;
	int verdict = -1, err;

	err = fx_run(e, in, len, outbuf, sizeof(outbuf), &verdict, &out_len, NULL);
	if (err == -EINVAL && e != BS_ENTRY_XDP && len < 14 + 40)
		return false;
	EXPECT(e, in, len, err == 0);
	EXPECT(e, in, len, verdict_documented(e, verdict));
	ref_parse(in, len, &r);
	if (!for_frontend(&r)) {
		EXPECT(e, in, len, verdict == fx_pass_verdict(e));
		EXPECT(e, in, len, out_len == len && !memcmp(outbuf, in, len));
		return true;
	}
	/* For a frontend, with every backend ready: forwarded. */
	EXPECT(e, in, len, verdict == fx_pass_verdict(e));
	EXPECT(e, in, len, out_len == len);
	ref_parse(outbuf, out_len, &o);
	EXPECT(e, in, len, o.ok && o.dport == FX_BE_PORT && o.sport == r.sport);
	{
		char dst[64];

		inet_ntop(o.ipv == 4 ? AF_INET : AF_INET6, o.daddr, dst, sizeof(dst));
		EXPECT(e, in, len, fx_is_backend(dst));
	}
	EXPECT(e, in, len, !memcmp(o.saddr, r.saddr, r.ipv == 4 ? 4 : 16));
	EXPECT(e, in, len, only_nat_fields_changed(&r, in, outbuf, len, true));
	if (r.csum_ok)
		EXPECT(e, in, len, o.csum_ok);
	if (r.proto == 17 && r.ipv == 4 && get16(in + r.l4 + 6) == 0)
		EXPECT(e, in, len, get16(outbuf + o.l4 + 6) == 0);
	return true;
}

/* A reply through tc egress. tracked: the reference knows it must be translated. */
static void check_egress(const uint8_t *in, size_t len, bool tracked)
{
	enum bs_entry e = BS_ENTRY_TC_EGRESS;
	struct ref r, o;
	__u32 out_len = 0;
	int verdict = -1, err;

	err = fx_run(e, in, len, outbuf, sizeof(outbuf), &verdict, &out_len, NULL);
	if (err == -EINVAL && len < 14 + 40)
		return;
	EXPECT(e, in, len, err == 0);
	EXPECT(e, in, len, verdict_documented(e, verdict));
	ref_parse(in, len, &r);
	if (tracked)
		EXPECT(e, in, len, r.ok && verdict == TC_ACT_OK);
	if (!r.ok) {
		EXPECT(e, in, len, verdict == TC_ACT_OK && out_len == len && !memcmp(outbuf, in, len));
		return;
	}
	if (out_len == len && !memcmp(outbuf, in, len)) {
		EXPECT(e, in, len, !tracked);
		return;
	}
	/* Translated: source now the frontend :80, nothing else but checksums changed. */
	EXPECT(e, in, len, verdict == TC_ACT_OK && out_len == len);
	ref_parse(outbuf, out_len, &o);
	{
		char src[64];

		inet_ntop(o.ipv == 4 ? AF_INET : AF_INET6, o.saddr, src, sizeof(src));
		EXPECT(e, in, len, o.ok && !strcmp(src, o.ipv == 4 ? FX_FE4 : FX_FE6) && o.sport == FX_FE_PORT);
	}
	EXPECT(e, in, len, only_nat_fields_changed(&r, in, outbuf, len, false));
	if (r.csum_ok)
		EXPECT(e, in, len, o.csum_ok);
}

/* ---- cases ---- */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

static void regressions_replay(void **state)
{
	char dir[512];
	DIR *d;
	struct dirent *de;
	int n = 0;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/regressions/pktfuzz", getenv("BS_SRC_ROOT") ?: ".");
	d = opendir(dir);
	if (!d) {
		printf("no regression frames in %s\n", dir);
		return;
	}
	while ((de = readdir(d))) {
		char path[1024], entry[32], hex[2 * MAXF + 2];
		uint8_t in[MAXF];
		size_t len = 0;
		enum bs_entry e;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		f = fopen(path, "r");
		assert_non_null(f);
		for (;;) {
			char line[2 * MAXF + 64];

			if (!fgets(line, sizeof(line), f))
				break;
			if (line[0] == '#' || sscanf(line, "%31s %4401s", entry, hex) != 2)
				continue; /* comments say what each frame once broke */
			assert_int_equal(bs_entry_parse(entry, &e), 0);
			for (len = 0; hex[2 * len] && hex[2 * len + 1] && len < MAXF; len++)
				in[len] = (uint8_t)(hexval(hex[2 * len]) << 4 | hexval(hex[2 * len + 1]));
			if (e == BS_ENTRY_TC_EGRESS)
				check_egress(in, len, false);
			else
				check_ingress(e, in, len);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	printf("replayed %d regression frames\n", n);
}

static void ingress_invariants(void **state)
{
	static const enum bs_entry entries[] = { BS_ENTRY_XDP, BS_ENTRY_TC_INGRESS };
	unsigned long runs = 0, fwd = 0, refused = 0;
	uint8_t in[MAXF];

	for (unsigned long i = 0; i < iters; i++) {
		size_t len = seed_frame(in, false, NULL, NULL, 0);
		struct ref r;

		if (i % 8) /* one in eight stays as built: valid frames must hold too */
			len = mutate(in, len);
		if (below(2))
			fix_checksums(in, len);
		for (int k = 0; k < 2; k++) {
			if (check_ingress(entries[k], in, len))
				runs++;
			else
				refused++;
		}
		ref_parse(in, len, &r);
		fwd += for_frontend(&r);
	}
	printf("ingress: %lu runs, %lu for a frontend, %lu refused by the runner (short skb)\n", runs, fwd, refused);
	/* The generator must reach both kinds of case, or the test proves little. */
	assert_true(fwd > iters / 20 && fwd < iters);
}

static void tracked_replies_are_translated(void **state)
{
	unsigned long translated = 0;
	uint8_t in[MAXF];

	for (unsigned long i = 0; i < iters / 2; i++) {
		int ipv = below(2) ? 4 : 6;
		struct pkt_spec s = { .ipv = ipv, .src = ipv == 4 ? FX_CLIENT4 : FX_CLIENT6,
				      .dst = ipv == 4 ? FX_FE4 : FX_FE6, .sport = (uint16_t)(1024 + below(60000)),
				      .dport = FX_FE_PORT, .proto = below(3) ? 6 : 17, .tcp_flags = 0x02, .seq = rnd() };
		uint8_t syn[PKT_MAX];
		size_t len = pkt_build(&s, syn);
		char b4[64] = "", b6[64] = "";
		struct pkt_view v;
		__u32 out_len = 0;
		int verdict = -1;
		uint8_t out[PKT_MAX];

		assert_int_equal(fx_run(BS_ENTRY_TC_INGRESS, syn, len, out, sizeof(out), &verdict, &out_len, NULL), 0);
		assert_true(pkt_view(out, out_len, &v));
		assert_true(fx_is_backend(v.dst));
		snprintf(ipv == 4 ? b4 : b6, 64, "%s", v.dst);
		/* A reply of that connection (the seed picks the family again: keep ours). */
		do {
			len = seed_frame(in, true, ipv == 4 ? b4 : "10.201.9.9", ipv == 6 ? b6 : "fd00:201:9::9",
					 s.sport);
		} while (!pkt_view(in, len, &v) || v.ipv != ipv || v.proto != s.proto);
		mutate_reply(in, len);
		fix_checksums(in, len);
		check_egress(in, len, true);
		translated++;
		/* The same reply damaged at random: invariants without the promise. */
		len = mutate(in, len);
		if (below(2))
			fix_checksums(in, len);
		check_egress(in, len, false);
	}
	printf("egress: %lu tracked replies translated back\n", translated);
}

static int setup(void **state)
{
	const char *s = getenv("BS_PKTFUZZ_SEED"), *n = getenv("BS_PKTFUZZ_ITERS");

	rng_state = s ? strtoull(s, NULL, 0) : 0x9e3779b97f4a7c15ull;
	if (!rng_state)
		rng_state = 1;
	if (n)
		iters = strtoul(n, NULL, 0);
	printf("pktfuzz: seed %llu, %lu iterations\n", (unsigned long long)rng_state, iters);
	if (fx_open())
		return -1;
	if (fx_split(4, "tcp") || fx_split(4, "udp") || fx_split(6, "tcp") || fx_split(6, "udp"))
		return -1;
	return 0;
}

static int teardown(void **state)
{
	return fx_close();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(regressions_replay),
		cmocka_unit_test(ingress_invariants),
		cmocka_unit_test(tracked_replies_are_translated),
	};

	return cmocka_run_group_tests_name("bpf_pktfuzz", tests, setup, teardown);
}
