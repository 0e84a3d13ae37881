// SPDX-License-Identifier: BSD-2-Clause
/* bench_dp: data-path benchmarks of bpfsplit through BPF_PROG_TEST_RUN.
 *
 *   bench_dp pkt       per-packet cost of each entry point and case, against floor
 *                      programs (bench/floor.bpf.c), at several table sizes
 *   bench_dp accuracy  canary share of many new flows against the configured weight
 *   bench_dp memory    kernel memory per connection entry and per frontend (bpftool)
 *   bench_dp apply     library write path: weight-change latency, bulk frontend apply
 *   bench_dp cpwatch   watch the pinned maps another process (the agent) writes: when a
 *                      number of frontends is reached, when a frontend's split switches
 *
 * Every subcommand prints one JSON object on stdout. Data paths are loaded into private
 * pin roots (<prefix>-<n>, default /sys/fs/bpf/bs-bench-<pid>-<n>) that are removed on
 * every exit path this process controls (normal exit, error, SIGINT/SIGTERM/SIGHUP);
 * bench/run.py removes leftovers of a killed run. Needs root.
 *
 * Two timing methods (both explained in the output's "method" object):
 *   "call": one BPF_PROG_TEST_RUN per packet with repeat=1 and a freshly built input,
 *           so every run sees an unmodified packet and every SYN is a new flow. The
 *           figure is the kernel's own measurement of that single run (ktime around
 *           the program, inside the syscall: no syscall, copy or ctx set-up in it, but
 *           the timer's own reads are). The wall-clock time per call of each batch is
 *           kept as well (syscall included).
 *   "loop": one call with repeat=N on one packet. A rewritten packet would be run again
 *           on its own output, so the benchmark installs mirror records: the packet an
 *           established-flow rewrite produces is itself an established flow of the
 *           reverse mapping (and likewise for replies), so every iteration takes the same
 *           path; pass-through packets are not modified. SYNs cannot be measured this
 *           way (each must be a new flow) and are measured by "call" only. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <sys/resource.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfsplit.h"
#include "log.h"
#include "pktgen.h"

#define FE_ADDR "10.96.0.10"
#define FE_PORT 80
#define BE_PORT 8080
#define MAX_INST 8

static const char *const stable_addrs[] = { "10.201.1.2", "10.201.2.2", "10.201.3.2" };
static const char *const canary_addrs[] = { "10.201.4.2" };

/* ---- small utilities ---------------------------------------------------------- */

static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static __u64 rnd(void)
{
	__u64 z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "bench_dp: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
	double *c;
	double m;

	if (n <= 0)
		return 0;
	c = malloc(n * sizeof(*c));
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	m = n % 2 ? c[n / 2] : (c[n / 2 - 1] + c[n / 2]) / 2;
	free(c);
	return m;
}

static double percentile(const double *v, int n, double p)
{
	double *c;
	double r;
	int k;

	if (n <= 0)
		return 0;
	c = malloc(n * sizeof(*c));
	memcpy(c, v, n * sizeof(*c));
	qsort(c, n, sizeof(*c), cmp_double);
	k = (int)(p / 100.0 * (n - 1) + 0.5);
	r = c[k < 0 ? 0 : k >= n ? n - 1 : k];
	free(c);
	return r;
}

static void ip4_str(__u32 host_order, char *buf)
{
	snprintf(buf, 16, "%u.%u.%u.%u", host_order >> 24, (host_order >> 16) & 255, (host_order >> 8) & 255,
		 host_order & 255);
}

static __u32 ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		die("bad address %s", s);
	return ntohl(a.s_addr);
}

/* ---- JSON output ----------------------------------------------------------------- */

static FILE *J;
static int j_first = 1;

static void j_sep(void)
{
	if (!j_first)
		fputc(',', J);
	j_first = 0;
}
static void j_key(const char *k)
{
	j_sep();
	fprintf(J, "\"%s\":", k);
	j_first = 1;
}
static void j_open(const char *k)
{
	if (k)
		j_key(k);
	else
		j_sep();
	fputc('{', J);
	j_first = 1;
}
static void j_close(void)
{
	fputc('}', J);
	j_first = 0;
}
static void j_num(const char *k, double v)
{
	j_key(k);
	fprintf(J, "%.6g", v);
	j_first = 0;
}
static void j_int(const char *k, long long v)
{
	j_key(k);
	fprintf(J, "%lld", v);
	j_first = 0;
}
static void j_str(const char *k, const char *v)
{
	j_key(k);
	fputc('"', J);
	for (const char *p = v; *p; p++) {
		if (*p == '"' || *p == '\\')
			fputc('\\', J);
		if (*p == '\n')
			fputs("\\n", J);
		else
			fputc(*p, J);
	}
	fputc('"', J);
	j_first = 0;
}
static void j_arr(const char *k, const double *v, int n)
{
	j_key(k);
	fputc('[', J);
	for (int i = 0; i < n; i++)
		fprintf(J, "%s%.6g", i ? "," : "", v[i]);
	fputc(']', J);
	j_first = 0;
}

/* ---- data path instances and cleanup ------------------------------------------------ */

struct flow {
	__u32 saddr, daddr; /* host order */
	__u16 sport, dport;
	__u32 baddr;        /* backend chosen (host order), 0 if unknown */
	__u16 bport;
};

struct inst {
	char name[32];
	char pin_root[96];
	struct bs_dp *dp;
	int n_frontends;
	long n_fill;
	double apply_s, fill_s;
	int fd_xdp, fd_tci, fd_tce;
	struct flow *ws; /* working set: established flows created by SYNs through the program */
	int n_ws;
	struct flow *fill; /* flows written with bpf_map_update_batch (NULL if none) */
	long n_fill_flows;
	__u64 syn_ctr;
};

static struct inst *insts[MAX_INST];
static int n_insts;
static char pin_prefix[80];
static int pin_seq;

static void cleanup(void)
{
	for (int i = 0; i < n_insts; i++) {
		if (!insts[i])
			continue;
		if (insts[i]->dp)
			bs_dp_close(insts[i]->dp);
		insts[i]->dp = NULL;
		bs_dp_unpin_all(insts[i]->pin_root);
		rmdir(insts[i]->pin_root);
	}
	n_insts = 0;
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static struct bs_dp_opts big_opts(__u32 max_conns)
{
	/* Identical geometry for every configuration: only what is in the tables differs.
	 * 65,536 frontends need ids 1..65536 (id 0 means none), so max_frontends > 65,536. */
	struct bs_dp_opts o = {
		.max_frontends = 65536 + 1024,
		.max_backends = 4096,
		.max_conns = max_conns,
		.max_splits = 2 * (65536 + 1024),
		.max_tables = 2 * 65536 + 4096,
		.max_members = 4 * (65536 + 1024), /* 3 + 1 backends per frontend */
	};
	return o;
}

static struct inst *inst_open(const char *name, struct bs_dp_opts o)
{
	struct inst *in = calloc(1, sizeof(*in));
	int err;

	if (n_insts >= MAX_INST)
		die("too many instances");
	snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->pin_root, sizeof(in->pin_root), "%s-%d", pin_prefix, pin_seq++);
	o.pin_root = in->pin_root;
	insts[n_insts++] = in;
	err = bs_dp_open(&o, &in->dp);
	if (err)
		die("cannot load the data path into %s: %s (root and bpffs needed)", in->pin_root, strerror(-err));
	in->fd_xdp = bs_dp_prog_fd(in->dp, BS_ENTRY_XDP);
	in->fd_tci = bs_dp_prog_fd(in->dp, BS_ENTRY_TC_INGRESS);
	in->fd_tce = bs_dp_prog_fd(in->dp, BS_ENTRY_TC_EGRESS);
	return in;
}

/* The usual split on frontend addr:80: stable = 3 backends, canary = 1, all :8080. */
static int apply_split(struct inst *in, __u32 fe_addr, __u32 w_stable, __u32 w_canary)
{
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec st[3], ca[1];
	char err[256], fe[64], ep[64], a[16];
	int r;

	ip4_str(fe_addr, a);
	snprintf(fe, sizeof(fe), "%s:%d/tcp", a, FE_PORT);
	if (bs_frontend_key_parse(fe, &spec.key))
		die("bad frontend %s", fe);
	spec.n_groups = 2;
	snprintf(spec.groups[0].name, sizeof(spec.groups[0].name), "bench/stable");
	snprintf(spec.groups[1].name, sizeof(spec.groups[1].name), "bench/canary");
	spec.groups[0].weight = w_stable;
	spec.groups[1].weight = w_canary;
	spec.groups[0].backends = st;
	spec.groups[0].n_backends = 3;
	spec.groups[1].backends = ca;
	spec.groups[1].n_backends = 1;
	for (int i = 0; i < 3; i++) {
		snprintf(ep, sizeof(ep), "%s:%d", stable_addrs[i], BE_PORT);
		bs_endpoint_parse(ep, st[i].addr, &st[i].port, &st[i].family);
		st[i].state = BS_BACKEND_READY;
	}
	snprintf(ep, sizeof(ep), "%s:%d", canary_addrs[0], BE_PORT);
	bs_endpoint_parse(ep, ca[0].addr, &ca[0].port, &ca[0].family);
	ca[0].state = BS_BACKEND_READY;
	r = bs_dp_apply(in->dp, &spec, err, sizeof(err));
	if (r)
		fprintf(stderr, "bench_dp: apply %s: %s (%s)\n", fe, err, strerror(-r));
	return r;
}

/* Frontend k: k = 0 is the measured one (10.96.0.10), others 10.97.x.y. */
static __u32 frontend_addr(int k)
{
	return k == 0 ? ip4(FE_ADDR) : (10u << 24 | 97u << 16 | (__u32)k);
}

static void apply_frontends(struct inst *in, int n)
{
	__u64 t0 = now_ns();

	for (int k = in->n_frontends; k < n; k++)
		if (apply_split(in, frontend_addr(k), 70, 30))
			die("could not apply frontend %d of %d in %s", k + 1, n, in->name);
	in->apply_s += (now_ns() - t0) / 1e9;
	in->n_frontends = n;
}

/* ---- packets --------------------------------------------------------------------- */

enum pkt_kind { K_SYN, K_EST, K_REPLY, K_PASS };

static size_t build(__u32 saddr, __u32 daddr, __u16 sport, __u16 dport, enum pkt_kind k, __u32 seq, uint8_t *buf)
{
	char s[16], d[16];
	struct pkt_spec sp = { .ipv = 4, .src = s, .dst = d, .sport = sport, .dport = dport, .proto = 6 };

	ip4_str(saddr, s);
	ip4_str(daddr, d);
	sp.seq = seq;
	if (k == K_SYN) {
		sp.tcp_flags = 0x02;
		sp.tcp_opt_len = 20;
	} else {
		sp.tcp_flags = 0x18; /* PSH|ACK: a small request or response segment */
		sp.ack = 1;
		sp.tcp_opt_len = 12;
		sp.payload_len = 64;
	}
	return pkt_build(&sp, buf);
}

static __u32 run_once(int fd, const void *in, __u32 len, __u32 repeat, __u32 *retval, void *out, __u32 *out_len)
{
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in, .data_size_in = len, .repeat = repeat);
	int err;

	if (out) {
		o.data_out = out;
		o.data_size_out = PKT_MAX;
	}
	err = bpf_prog_test_run_opts(fd, &o);
	if (err)
		die("BPF_PROG_TEST_RUN: %s", strerror(-err));
	if (retval)
		*retval = o.retval;
	if (out_len)
		*out_len = o.data_size_out;
	return o.duration;
}

/* New flows: unique (source address, source port) from a counter. */
static void syn_flow(struct inst *in, __u32 *saddr, __u16 *sport)
{
	__u64 c = in->syn_ctr++;

	*saddr = 10u << 24 | (160u + ((c >> 16) & 63)) << 16 | (__u32)(c & 0xffff);
	*sport = (__u16)(30000 + (c >> 22));
}

/* Create the working set: n SYNs through the XDP entry point; read back each record. */
static void make_working_set(struct inst *in, int n)
{
	int conns = bs_dp_map_fd(in->dp, "bs_conns");
	uint8_t pkt[PKT_MAX];

	in->ws = calloc(n, sizeof(*in->ws));
	in->n_ws = n;
	for (int i = 0; i < n; i++) {
		struct flow *f = &in->ws[i];
		struct bs_flow_key key = {};
		struct bs_conn ct;
		__u32 rv;
		size_t len;

		f->saddr = ip4("10.200.0.2") + (i >> 14);
		f->sport = (__u16)(10000 + (i & 16383));
		f->daddr = ip4(FE_ADDR);
		f->dport = FE_PORT;
		len = build(f->saddr, f->daddr, f->sport, f->dport, K_SYN, 1000 + i, pkt);
		run_once(in->fd_xdp, pkt, len, 1, &rv, NULL, NULL);
		key.saddr[0] = htonl(f->saddr);
		key.daddr[0] = htonl(f->daddr);
		key.sport = htons(f->sport);
		key.dport = htons(f->dport);
		key.family = BS_AF_INET;
		key.proto = 6;
		if (bpf_map_lookup_elem(conns, &key, &ct))
			die("%s: working-set flow %d has no record after its SYN", in->name, i);
		f->baddr = ntohl(ct.backend_addr[0]);
		f->bport = ntohs(ct.backend_port);
	}
}

static void flow_key(struct bs_flow_key *k, __u32 s, __u32 d, __u16 sp, __u16 dp)
{
	memset(k, 0, sizeof(*k));
	k->saddr[0] = htonl(s);
	k->daddr[0] = htonl(d);
	k->sport = htons(sp);
	k->dport = htons(dp);
	k->family = BS_AF_INET;
	k->proto = 6;
}

/* Fill the connection and reverse-NAT tables with n flows (bpf_map_update_batch), using
 * the records of working-set flow 0 as the template of every value. */
static void fill_conns(struct inst *in, long n)
{
	int conns = bs_dp_map_fd(in->dp, "bs_conns"), rnat = bs_dp_map_fd(in->dp, "bs_rnat");
	const long chunk = 8192;
	struct bs_flow_key *keys = calloc(chunk, sizeof(*keys)), *rkeys = calloc(chunk, sizeof(*rkeys));
	struct bs_conn *vals = calloc(chunk, sizeof(*vals)), tmpl;
	struct bs_rnat *rvals = calloc(chunk, sizeof(*rvals)), rtmpl;
	struct bs_flow_key k;
	const struct flow *w = &in->ws[0];
	__u64 t0 = now_ns();

	flow_key(&k, w->saddr, w->daddr, w->sport, w->dport);
	if (bpf_map_lookup_elem(conns, &k, &tmpl))
		die("no template record");
	flow_key(&k, w->baddr, w->saddr, w->bport, w->sport);
	if (bpf_map_lookup_elem(rnat, &k, &rtmpl))
		die("no template reverse record");
	in->fill = calloc(n, sizeof(*in->fill));
	in->n_fill_flows = n;
	for (long base = 0; base < n; base += chunk) {
		__u32 cnt = (__u32)(n - base < chunk ? n - base : chunk);
		LIBBPF_OPTS(bpf_map_batch_opts, bo, .elem_flags = 0, .flags = 0);

		for (__u32 j = 0; j < cnt; j++) {
			long i = base + j;
			struct flow *f = &in->fill[i];

			f->saddr = 10u << 24 | (128u + ((i >> 16) & 31)) << 16 | (__u32)(i & 0xffff);
			f->sport = (__u16)(40000 + (i >> 21));
			f->daddr = ip4(FE_ADDR);
			f->dport = FE_PORT;
			f->baddr = w->baddr;
			f->bport = w->bport;
			flow_key(&keys[j], f->saddr, f->daddr, f->sport, f->dport);
			vals[j] = tmpl;
			flow_key(&rkeys[j], f->baddr, f->saddr, f->bport, f->sport);
			rvals[j] = rtmpl;
		}
		if (bpf_map_update_batch(conns, keys, vals, &cnt, &bo))
			die("bpf_map_update_batch(bs_conns): %s", strerror(errno));
		if (bpf_map_update_batch(rnat, rkeys, rvals, &cnt, &bo))
			die("bpf_map_update_batch(bs_rnat): %s", strerror(errno));
	}
	in->fill_s = (now_ns() - t0) / 1e9;
	in->n_fill += n;
	free(keys);
	free(rkeys);
	free(vals);
	free(rvals);
}

static long count_entries(int fd)
{
	struct bs_flow_key a, b;
	long n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, prev == &a ? &b : &a)) {
		prev = prev == &a ? &b : &a;
		n++;
	}
	return n;
}

/* ---- the per-packet benchmark -------------------------------------------------------- */

struct floor_obj {
	struct bpf_object *obj;
	int xdp_pass, xdp_parse, xdp_lookup, tc_pass, tc_parse, tc_lookup;
	int conns;
};

static struct floor_obj FL;

static int prog_fd(struct bpf_object *obj, const char *name)
{
	struct bpf_program *p = bpf_object__find_program_by_name(obj, name);

	if (!p)
		die("floor program %s missing", name);
	return bpf_program__fd(p);
}

static void floor_open(const char *path, __u32 max_conns)
{
	struct bpf_map *m;

	FL.obj = bpf_object__open_file(path, NULL);
	if (!FL.obj || libbpf_get_error(FL.obj))
		die("cannot open %s", path);
	/* The lookup floor's table has the connection table's size (and so its bucket array). */
	m = bpf_object__find_map_by_name(FL.obj, "floor_conns");
	if (!m || bpf_map__set_max_entries(m, max_conns))
		die("floor_conns missing");
	if (bpf_object__load(FL.obj))
		die("cannot load %s", path);
	FL.xdp_pass = prog_fd(FL.obj, "floor_xdp_pass");
	FL.xdp_parse = prog_fd(FL.obj, "floor_xdp_parse");
	FL.xdp_lookup = prog_fd(FL.obj, "floor_xdp_lookup");
	FL.tc_pass = prog_fd(FL.obj, "floor_tc_pass");
	FL.tc_parse = prog_fd(FL.obj, "floor_tc_parse");
	FL.tc_lookup = prog_fd(FL.obj, "floor_tc_lookup");
	FL.conns = bpf_object__find_map_fd_by_name(FL.obj, "floor_conns");
	if (FL.conns < 0)
		die("floor_conns missing");
}

/* The data path built without connection-health recording (nohealth.bpf.o), sharing the
 * maps of instance in: the same tables and records, so that the two differ only by the
 * recording. Returns 0 and the three entry points, or -1 when the object is missing. */
static int nohealth_open(const char *path, struct inst *in, int *xdp, int *tci, int *tce)
{
	struct bpf_object *obj;
	struct bpf_map *m;

	if (access(path, R_OK))
		return -1;
	obj = bpf_object__open_file(path, NULL);
	if (!obj || libbpf_get_error(obj))
		die("cannot open %s", path);
	bpf_object__for_each_map(m, obj) {
		int fd;

		if (bpf_map__is_internal(m))
			continue;
		fd = bs_dp_map_fd(in->dp, bpf_map__name(m));
		if (fd < 0 || bpf_map__reuse_fd(m, fd))
			die("%s: cannot share map %s", path, bpf_map__name(m));
	}
	if (bpf_object__load(obj))
		die("cannot load %s", path);
	*xdp = prog_fd(obj, "bs_xdp_ingress");
	*tci = prog_fd(obj, "bs_tc_ingress");
	*tce = prog_fd(obj, "bs_tc_egress");
	return 0;
}

/* One measured item: a program, a packet generator and the reason its runs must count. */
enum item_kind { IT_SYN, IT_EST, IT_REPLY, IT_PASS, IT_SYN_SPREAD, IT_EST_SPREAD, IT_REPLY_SPREAD, IT_FLOOR };

struct item {
	char name[128];     /* "<config>/<entry>.<case>" or "floor/<type>.<prog>" */
	struct inst *in;    /* NULL for floors */
	int fd;
	enum item_kind kind;
	int expect_reason;  /* -1: not checked */
	double *call_ns;    /* per round: median of the kernel's per-run durations */
	double *call_mean;  /* per round: mean of the same */
	double *wall_ns;    /* per round: wall-clock time per call */
	double *loop_ns;    /* per round: loop method (NULL if not applicable) */
	long runs, path_ok;
	long loop_runs, loop_path_ok;
	uint8_t loop_pkt[PKT_MAX];
	size_t loop_len;
};

static struct item *items;
static int n_items;

static struct item *add_item(const char *name, struct inst *in, int fd, enum item_kind kind, int reason, int rounds)
{
	struct item *it;

	items = realloc(items, (n_items + 1) * sizeof(*items));
	it = &items[n_items++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	it->in = in;
	it->fd = fd;
	it->kind = kind;
	it->expect_reason = reason;
	it->call_ns = calloc(rounds, sizeof(double));
	it->call_mean = calloc(rounds, sizeof(double));
	it->wall_ns = calloc(rounds, sizeof(double));
	return it;
}

/* Build the i-th input of an item. */
static size_t item_packet(struct item *it, uint8_t *buf)
{
	struct inst *in = it->in;
	const struct flow *f;
	__u32 s;
	__u16 sp;

	switch (it->kind) {
	case IT_SYN:
		syn_flow(in, &s, &sp);
		return build(s, ip4(FE_ADDR), sp, FE_PORT, K_SYN, (__u32)rnd(), buf);
	case IT_SYN_SPREAD:
		syn_flow(in, &s, &sp);
		return build(s, frontend_addr((int)(rnd() % in->n_frontends)), sp, FE_PORT, K_SYN, (__u32)rnd(), buf);
	case IT_EST:
	case IT_FLOOR: /* floors parse (and look up) the same established-flow packets */
		f = &in->ws[rnd() % in->n_ws];
		return build(f->saddr, f->daddr, f->sport, f->dport, K_EST, (__u32)rnd(), buf);
	case IT_EST_SPREAD:
		f = &in->fill[rnd() % in->n_fill_flows];
		return build(f->saddr, f->daddr, f->sport, f->dport, K_EST, (__u32)rnd(), buf);
	case IT_REPLY:
		f = &in->ws[rnd() % in->n_ws];
		return build(f->baddr, f->saddr, f->bport, f->sport, K_REPLY, (__u32)rnd(), buf);
	case IT_REPLY_SPREAD:
		f = &in->fill[rnd() % in->n_fill_flows];
		return build(f->baddr, f->saddr, f->bport, f->sport, K_REPLY, (__u32)rnd(), buf);
	case IT_PASS:
		/* A segment of some other connection crossing the node: not a frontend, no record. */
		return build(10u << 24 | 200u << 16 | (__u32)(rnd() & 0xffff), 10u << 24 | 50u << 16 | (__u32)(rnd() & 0xffff),
			     (__u16)(1024 + rnd() % 60000), 443, K_EST, (__u32)rnd(), buf);
	}
	return 0;
}

static __u64 reason_count(struct inst *in, int reason)
{
	__u64 r[BS_R_MAX];

	if (!in || reason < 0 || bs_dp_reason_counters(in->dp, r))
		return 0;
	return r[reason];
}

/* Remove the records the SYNs of a batch created (outside the timing), so that the tables
 * hold the same flows in every round: the configured population, not a growing one. */
static void forget_syn_flows(struct inst *in, const uint8_t *frames, int n)
{
	int conns = bs_dp_map_fd(in->dp, "bs_conns"), rnat = bs_dp_map_fd(in->dp, "bs_rnat");

	for (int i = 0; i < n; i++) {
		const uint8_t *ip = frames + (size_t)i * 256 + 14, *tcp = ip + 20;
		struct bs_flow_key k, rk;
		struct bs_conn ct;

		flow_key(&k, get32(ip + 12), get32(ip + 16), get16(tcp), get16(tcp + 2));
		if (bpf_map_lookup_elem(conns, &k, &ct))
			continue;
		flow_key(&rk, ntohl(ct.backend_addr[0]), get32(ip + 12), ntohs(ct.backend_port), get16(tcp));
		bpf_map_delete_elem(rnat, &rk);
		bpf_map_delete_elem(conns, &k);
	}
}

static void run_batch(struct item *it, int round, int batch)
{
	static uint8_t *frames;
	static __u32 *lens;
	static double *durs;
	static int cap;
	__u64 before, after, t0, t1;
	double sum = 0;

	if (cap < batch) {
		frames = realloc(frames, (size_t)batch * 256);
		lens = realloc(lens, batch * sizeof(*lens));
		durs = realloc(durs, batch * sizeof(*durs));
		cap = batch;
	}
	for (int i = 0; i < batch; i++) {
		uint8_t tmp[PKT_MAX];

		lens[i] = (__u32)item_packet(it, tmp);
		if (!lens[i] || lens[i] > 256)
			die("bad frame for %s", it->name);
		memcpy(frames + (size_t)i * 256, tmp, lens[i]);
	}
	before = reason_count(it->in, it->expect_reason);
	t0 = now_ns();
	for (int i = 0; i < batch; i++)
		durs[i] = run_once(it->fd, frames + (size_t)i * 256, lens[i], 1, NULL, NULL, NULL);
	t1 = now_ns();
	after = reason_count(it->in, it->expect_reason);
	if (it->kind == IT_SYN || it->kind == IT_SYN_SPREAD)
		forget_syn_flows(it->in, frames, batch);
	for (int i = 0; i < batch; i++)
		sum += durs[i];
	it->call_ns[round] = median(durs, batch);
	it->call_mean[round] = sum / batch;
	it->wall_ns[round] = (double)(t1 - t0) / batch;
	it->runs += batch;
	it->path_ok += it->expect_reason >= 0 ? (long)(after - before) : batch;
}

/* Mirror records for the loop method, so that a rewritten packet is again a packet of
 * an established flow (or a reply) and every iteration takes the path being measured. */
static void install_mirrors(struct inst *in)
{
	int conns = bs_dp_map_fd(in->dp, "bs_conns"), rnat = bs_dp_map_fd(in->dp, "bs_rnat");
	const struct flow *f = &in->ws[0];
	struct bs_flow_key k;
	struct bs_conn ct;
	struct bs_rnat rn;

	/* client -> backend (what the rewrite produces) follows a record back to the frontend */
	flow_key(&k, f->saddr, f->daddr, f->sport, f->dport);
	if (bpf_map_lookup_elem(conns, &k, &ct))
		die("no record for the mirror");
	memset(ct.backend_addr, 0, sizeof(ct.backend_addr));
	ct.backend_addr[0] = htonl(f->daddr);
	ct.backend_port = htons(f->dport);
	flow_key(&k, f->saddr, f->baddr, f->sport, f->bport);
	if (bpf_map_update_elem(conns, &k, &ct, BPF_ANY))
		die("mirror record: %s", strerror(errno));
	/* frontend -> client (what the reply rewrite produces) maps back to the backend */
	flow_key(&k, f->baddr, f->saddr, f->bport, f->sport);
	if (bpf_map_lookup_elem(rnat, &k, &rn))
		die("no reverse record for the mirror");
	memset(rn.frontend_addr, 0, sizeof(rn.frontend_addr));
	rn.frontend_addr[0] = htonl(f->baddr);
	rn.frontend_port = htons(f->bport);
	flow_key(&k, f->daddr, f->saddr, f->dport, f->sport);
	if (bpf_map_update_elem(rnat, &k, &rn, BPF_ANY))
		die("mirror reverse record: %s", strerror(errno));
}

static void loop_packet(struct item *it)
{
	const struct flow *f;

	switch (it->kind) {
	case IT_EST:
	case IT_FLOOR:
		f = &it->in->ws[0];
		it->loop_len = build(f->saddr, f->daddr, f->sport, f->dport, K_EST, 7, it->loop_pkt);
		break;
	case IT_REPLY:
		f = &it->in->ws[0];
		it->loop_len = build(f->baddr, f->saddr, f->bport, f->sport, K_REPLY, 7, it->loop_pkt);
		break;
	case IT_PASS:
		it->loop_len = build(ip4("10.200.9.9"), ip4("10.50.1.1"), 33333, 443, K_EST, 7, it->loop_pkt);
		break;
	default:
		it->loop_len = 0;
	}
}

static void run_loop(struct item *it, int round, __u32 repeat)
{
	__u64 before, after;
	__u32 d;

	if (!it->loop_len)
		return;
	before = reason_count(it->in, it->expect_reason);
	d = run_once(it->fd, it->loop_pkt, (__u32)it->loop_len, repeat, NULL, NULL, NULL);
	after = reason_count(it->in, it->expect_reason);
	it->loop_ns[round] = d;
	it->loop_runs += repeat;
	it->loop_path_ok += it->expect_reason >= 0 ? (long)(after - before) : repeat;
}

static void shuffle(int *v, int n)
{
	for (int i = n - 1; i > 0; i--) {
		int j = (int)(rnd() % (i + 1)), t = v[i];

		v[i] = v[j];
		v[j] = t;
	}
}

static void add_config_items(struct inst *in, const char *cfg, int rounds, int spread)
{
	char n[128];
	struct item *it;

#define ITEM(entry, cs, fd, kind, reason)                                                     \
	do {                                                                                  \
		snprintf(n, sizeof(n), "%s/%s.%s", cfg, entry, cs);                          \
		it = add_item(n, in, fd, kind, reason, rounds);                               \
	} while (0)

	if (!spread) {
		ITEM("xdp", "syn", in->fd_xdp, IT_SYN, BS_R_FWD_NEW);
		ITEM("xdp", "est", in->fd_xdp, IT_EST, BS_R_FWD_TRACKED);
		it->loop_ns = calloc(rounds, sizeof(double));
		ITEM("xdp", "pass", in->fd_xdp, IT_PASS, BS_R_PASS_NOT_FRONTEND);
		it->loop_ns = calloc(rounds, sizeof(double));
		ITEM("tc", "syn", in->fd_tci, IT_SYN, BS_R_FWD_NEW);
		ITEM("tc", "est", in->fd_tci, IT_EST, BS_R_FWD_TRACKED);
		it->loop_ns = calloc(rounds, sizeof(double));
		ITEM("tc", "pass", in->fd_tci, IT_PASS, BS_R_PASS_NOT_FRONTEND);
		it->loop_ns = calloc(rounds, sizeof(double));
		ITEM("tc-egress", "reply", in->fd_tce, IT_REPLY, BS_R_REPLY_NAT);
		it->loop_ns = calloc(rounds, sizeof(double));
	} else {
		ITEM("xdp", "syn", in->fd_xdp, IT_SYN_SPREAD, BS_R_FWD_NEW);
		ITEM("xdp", "est", in->fd_xdp, IT_EST_SPREAD, BS_R_FWD_TRACKED);
		ITEM("xdp", "pass", in->fd_xdp, IT_PASS, BS_R_PASS_NOT_FRONTEND);
		ITEM("tc", "syn", in->fd_tci, IT_SYN_SPREAD, BS_R_FWD_NEW);
		ITEM("tc", "est", in->fd_tci, IT_EST_SPREAD, BS_R_FWD_TRACKED);
		ITEM("tc", "pass", in->fd_tci, IT_PASS, BS_R_PASS_NOT_FRONTEND);
		ITEM("tc-egress", "reply", in->fd_tce, IT_REPLY_SPREAD, BS_R_REPLY_NAT);
	}
#undef ITEM
}

static void emit_item(const struct item *it, int rounds)
{
	j_open(it->name);
	j_num("call_ns", median(it->call_ns, rounds));
	j_arr("call_ns_rounds", it->call_ns, rounds);
	j_num("call_mean_ns", median(it->call_mean, rounds));
	j_arr("call_mean_ns_rounds", it->call_mean, rounds);
	j_num("wall_ns_per_call", median(it->wall_ns, rounds));
	j_arr("wall_ns_per_call_rounds", it->wall_ns, rounds);
	j_int("runs", it->runs);
	j_num("path_ok", it->runs ? (double)it->path_ok / it->runs : 0);
	if (it->loop_ns) {
		j_num("loop_ns", median(it->loop_ns, rounds));
		j_arr("loop_ns_rounds", it->loop_ns, rounds);
		j_num("loop_path_ok", it->loop_runs ? (double)it->loop_path_ok / it->loop_runs : 0);
	}
	j_close();
}

static int parse_list(const char *s, int *out, int max)
{
	int n = 0;
	char *dup = strdup(s), *tok, *save;

	for (tok = strtok_r(dup, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = atoi(tok);
	free(dup);
	return n;
}

static int cmd_pkt(int argc, char **argv)
{
	int fes[8] = { 1, 1000, 10000, 65536 }, n_fes = 4;
	long fill = 1000000;
	int rounds = 7, batch = 2000, ws = 1024;
	__u32 loop_repeat = 20000, max_conns = 1048576;
	const char *floor_path = "build/bench/floor.bpf.o";
	const char *nohealth_path = "build/bench/nohealth.bpf.o";
	static const struct option lo[] = {
		{ "frontends", required_argument, 0, 'f' }, { "fill", required_argument, 0, 'c' },
		{ "rounds", required_argument, 0, 'r' },    { "batch", required_argument, 0, 'b' },
		{ "loop-repeat", required_argument, 0, 'l' }, { "floor", required_argument, 0, 'o' },
		{ "working-set", required_argument, 0, 'w' }, { "max-conns", required_argument, 0, 'm' },
		{ "nohealth", required_argument, 0, 'n' },
		{ 0 }
	};
	int c, *order;
	__u64 t_start = now_ns();

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 'f': n_fes = parse_list(optarg, fes, 8); break;
		case 'c': fill = atol(optarg); break;
		case 'r': rounds = atoi(optarg); break;
		case 'b': batch = atoi(optarg); break;
		case 'l': loop_repeat = (__u32)atol(optarg); break;
		case 'o': floor_path = optarg; break;
		case 'n': nohealth_path = optarg; break;
		case 'w': ws = atoi(optarg); break;
		case 'm': max_conns = (__u32)atol(optarg); break;
		default: die("pkt: bad option");
		}
	}
	if (fill + ws + batch + 16 > (long)max_conns)
		die("pkt: --fill %ld does not leave room in a table of %u", fill, max_conns);

	floor_open(floor_path, max_conns);

	/* One data path per configuration, all loaded at once so that rounds interleave. */
	for (int i = 0; i < n_fes; i++) {
		char nm[32];
		struct inst *in;

		snprintf(nm, sizeof(nm), "fe%d", fes[i]);
		in = inst_open(nm, big_opts(max_conns));
		apply_frontends(in, fes[i]);
		make_working_set(in, ws);
		fprintf(stderr, "bench_dp: %s ready (apply %.2fs)\n", nm, in->apply_s);
	}
	if (fill > 0) {
		char nm[32];
		struct inst *in;

		snprintf(nm, sizeof(nm), "fe%d+flows%ld", fes[n_fes - 1], fill);
		in = inst_open(nm, big_opts(max_conns));
		apply_frontends(in, fes[n_fes - 1]);
		make_working_set(in, ws);
		fill_conns(in, fill);
		fprintf(stderr, "bench_dp: %s ready (apply %.2fs, fill %.2fs)\n", nm, in->apply_s, in->fill_s);
	}

	/* The floor's lookup table holds the working set of the first configuration. */
	for (int i = 0; i < insts[0]->n_ws; i++) {
		struct bs_flow_key k;
		struct bs_conn v = {};
		const struct flow *f = &insts[0]->ws[i];

		flow_key(&k, f->saddr, f->daddr, f->sport, f->dport);
		bpf_map_update_elem(FL.conns, &k, &v, BPF_ANY);
	}
	{
		struct item *it;
		struct inst *base = insts[0];

#define FLOOR(nm, fd)                                                      \
	do {                                                               \
		it = add_item("floor/" nm, base, fd, IT_FLOOR, -1, rounds); \
		it->loop_ns = calloc(rounds, sizeof(double));               \
	} while (0)
		FLOOR("xdp.pass", FL.xdp_pass);
		FLOOR("xdp.parse", FL.xdp_parse);
		FLOOR("xdp.lookup", FL.xdp_lookup);
		FLOOR("tc.pass", FL.tc_pass);
		FLOOR("tc.parse", FL.tc_parse);
		FLOOR("tc.lookup", FL.tc_lookup);
#undef FLOOR
	}
	for (int i = 0; i < n_insts; i++) {
		install_mirrors(insts[i]);
		add_config_items(insts[i], insts[i]->name, rounds, 0);
	}
	if (fill > 0) {
		char nm[64];

		snprintf(nm, sizeof(nm), "%s:spread", insts[n_insts - 1]->name);
		add_config_items(insts[n_insts - 1], nm, rounds, 1);
	}
	{
		/* The first configuration again, without health recording: "<config>:nohealth/...". */
		struct inst nh = *insts[0];
		struct inst *in = malloc(sizeof(*in));
		char nm[64];

		if (!nohealth_open(nohealth_path, insts[0], &nh.fd_xdp, &nh.fd_tci, &nh.fd_tce)) {
			nh.dp = insts[0]->dp; /* shared: closed with the first instance, not twice */
			*in = nh;
			snprintf(nm, sizeof(nm), "%s:nohealth", insts[0]->name);
			add_config_items(in, nm, rounds, 0);
		} else {
			free(in);
			fprintf(stderr, "bench_dp: %s missing: no figures without health recording\n", nohealth_path);
		}
	}
	for (int i = 0; i < n_items; i++)
		loop_packet(&items[i]);

	order = malloc(n_items * sizeof(*order));
	for (int r = 0; r < rounds; r++) {
		for (int i = 0; i < n_items; i++)
			order[i] = i;
		shuffle(order, n_items);
		for (int i = 0; i < n_items; i++) {
			run_batch(&items[order[i]], r, batch);
			if (items[order[i]].loop_ns)
				run_loop(&items[order[i]], r, loop_repeat);
		}
		fprintf(stderr, "bench_dp: round %d/%d done\n", r + 1, rounds);
	}

	j_open(NULL);
	j_open("params");
	j_int("rounds", rounds);
	j_int("batch", batch);
	j_int("loop_repeat", loop_repeat);
	j_int("working_set_flows", ws);
	j_int("max_conns", max_conns);
	j_num("elapsed_s", (now_ns() - t_start) / 1e9);
	j_close();
	j_open("configs");
	for (int i = 0; i < n_insts; i++) {
		struct inst *in = insts[i];

		j_open(in->name);
		j_int("frontends", in->n_frontends);
		j_int("filled_flows", in->n_fill);
		j_int("conns_in_table_at_end", count_entries(bs_dp_map_fd(in->dp, "bs_conns")));
		j_num("apply_s", in->apply_s);
		j_num("fill_s", in->fill_s);
		j_close();
	}
	j_close();
	j_open("items");
	for (int i = 0; i < n_items; i++)
		emit_item(&items[i], rounds);
	j_close();
	j_close();
	fputc('\n', J);
	return 0;
}

/* ---- accuracy ------------------------------------------------------------------------ */

static int cmd_accuracy(int argc, char **argv)
{
	int weights[8] = { 1, 30, 50, 99 }, n_w = 4;
	long flows = 100000;
	static const struct option lo[] = { { "flows", required_argument, 0, 'n' },
					    { "weights", required_argument, 0, 'w' },
					    { 0 } };
	struct bs_dp_opts o = { .max_conns = 1 << 19, .max_frontends = 64, .max_backends = 64, .max_tables = 64 };
	struct inst *in;
	__u32 canary = ip4(canary_addrs[0]), fe = ip4(FE_ADDR);
	int c;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'n')
			flows = atol(optarg);
		else if (c == 'w')
			n_w = parse_list(optarg, weights, 8);
		else
			die("accuracy: bad option");
	}
	in = inst_open("accuracy", o);
	j_open(NULL);
	j_int("flows_per_weight", flows);
	j_str("method", "SYNs with random source address and port (splitmix64) to one frontend through the XDP "
			"entry point (BPF_PROG_TEST_RUN, repeat=1, one new flow per run); canary = output "
			"frame's destination is the canary backend.");
	j_open("weights");
	for (int wi = 0; wi < n_w; wi++) {
		long n_canary = 0, n_stable = 0, other = 0;
		char k[16];
		double share, expect = weights[wi] / 100.0, sd;

		if (apply_split(in, fe, 100 - weights[wi], weights[wi]))
			die("accuracy: apply");
		bs_dp_flush_retired(in->dp, true);
		for (long i = 0; i < flows; i++) {
			uint8_t pkt[PKT_MAX], out[PKT_MAX];
			__u32 rv, olen, dst;
			__u64 r = rnd();
			size_t len = build((__u32)r, fe, (__u16)(1024 + (r >> 32) % 64000), FE_PORT, K_SYN,
					   (__u32)(r >> 16), pkt);

			run_once(in->fd_xdp, pkt, (__u32)len, 1, &rv, out, &olen);
			memcpy(&dst, out + 14 + 16, 4);
			dst = ntohl(dst);
			if (rv != XDP_PASS)
				other++;
			else if (dst == canary)
				n_canary++;
			else if (dst != fe)
				n_stable++;
			else
				other++;
		}
		share = (double)n_canary / flows;
		sd = sqrt(expect * (1 - expect) / flows);
		snprintf(k, sizeof(k), "%d", weights[wi]);
		j_open(k);
		j_num("configured_pct", weights[wi]);
		j_num("observed_pct", 100.0 * share);
		j_num("deviation_pp", 100.0 * (share - expect));
		j_num("binomial_sd_pp", 100.0 * sd);
		j_int("canary", n_canary);
		j_int("stable", n_stable);
		j_int("not_forwarded", other);
		j_close();
	}
	j_close();
	j_close();
	fputc('\n', J);
	return 0;
}

/* ---- memory ----------------------------------------------------------------------------- */

/* The library's one list of maps. */
#define map_names bs_dp_map_list
#define N_MAPS ((int)bs_dp_map_count)

struct map_mem {
	struct bpf_map_info info;
	long long memlock; /* bpftool -j map show id N: bytes_memlock */
};

/* bytes_memlock of map id, as bpftool reports it (-1 if bpftool failed). */
static long long bpftool_memlock(__u32 id)
{
	char cmd[128], buf[8192];
	size_t n;
	FILE *p;
	const char *k;

	snprintf(cmd, sizeof(cmd), "bpftool -j map show id %u 2>/dev/null", id);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, p);
	pclose(p);
	buf[n] = 0;
	k = strstr(buf, "\"bytes_memlock\":");
	return k ? atoll(k + strlen("\"bytes_memlock\":")) : -1;
}

static void snapshot(struct inst *in, struct map_mem *m)
{
	for (int i = 0; i < N_MAPS; i++) {
		__u32 len = sizeof(m[i].info);
		int fd = bs_dp_map_fd(in->dp, map_names[i]);

		memset(&m[i].info, 0, sizeof(m[i].info));
		if (fd < 0 || bpf_obj_get_info_by_fd(fd, &m[i].info, &len))
			die("memory: map %s", map_names[i]);
		m[i].memlock = bpftool_memlock(m[i].info.id);
	}
}

static int map_idx(const char *name)
{
	for (int i = 0; i < N_MAPS; i++)
		if (!strcmp(map_names[i], name))
			return i;
	die("no map %s", name);
	return -1;
}

static int cmd_memory(int argc, char **argv)
{
	static const struct option lo[] = { { "frontends", required_argument, 0, 'f' },
					    { "flows", required_argument, 0, 'n' },
					    { 0 } };
	struct bs_dp_opts o = {}; /* the project's defaults */
	struct map_mem a[N_MAPS], b[N_MAPS], c2[N_MAPS];
	int k_fe = 1000, c;
	long flows = 10000;
	struct inst *in;
	double per_fe_prealloc = 0, per_fe_dynamic = 0, per_conn = 0, per_be = 0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'f')
			k_fe = atoi(optarg);
		else if (c == 'n')
			flows = atol(optarg);
		else
			die("memory: bad option");
	}
	in = inst_open("memory", o);
	snapshot(in, a);
	apply_frontends(in, k_fe);
	bs_dp_flush_retired(in->dp, true);
	snapshot(in, b);
	make_working_set(in, (int)(flows < 16384 ? flows : 16384));
	snapshot(in, c2);

	j_open(NULL);
	j_str("method", "map definitions from bpf_obj_get_info_by_fd; kernel memory = bytes_memlock of `bpftool -j "
			"map show id N` (the kernel's map_mem_usage). Preallocated maps (hash, LRU hash, arrays) "
			"charge max_entries up front: per-entry cost = memlock / max_entries. Maps without "
			"preallocation (splits, Maglev tables, group and member metadata) grow with use: "
			"per-frontend cost = memlock delta after applying N frontends / N. Maps sized at load "
			"with the project's defaults.");
	j_int("frontends_applied", k_fe);
	j_int("flows_created", in->n_ws);
	j_open("maps");
	for (int i = 0; i < N_MAPS; i++) {
		j_open(map_names[i]);
		j_int("type", a[i].info.type);
		j_int("key_size", a[i].info.key_size);
		j_int("value_size", a[i].info.value_size);
		j_int("max_entries", a[i].info.max_entries);
		j_int("map_flags", a[i].info.map_flags);
		j_int("memlock_empty", a[i].memlock);
		j_int("memlock_after_frontends", b[i].memlock);
		j_int("memlock_after_flows", c2[i].memlock);
		j_close();
	}
	j_close();
	{
		int fe = map_idx("bs_frontends"), fst = map_idx("bs_fe_stats"), cn = map_idx("bs_conns"),
		    rn = map_idx("bs_rnat"), be = map_idx("bs_backends"), bst = map_idx("bs_be_stats");
		const char *dyn[] = { "bs_splits", "bs_maglev", "bs_groups", "bs_members" };

		per_fe_prealloc = (double)a[fe].memlock / a[fe].info.max_entries +
				  (double)a[fst].memlock / a[fst].info.max_entries;
		j_open("per_frontend");
		j_num("bs_frontends_bytes", (double)a[fe].memlock / a[fe].info.max_entries);
		j_num("bs_fe_stats_bytes", (double)a[fst].memlock / a[fst].info.max_entries);
		for (int i = 0; i < 4; i++) {
			int x = map_idx(dyn[i]);
			double d = (double)(b[x].memlock - a[x].memlock) / k_fe;
			char key[48];

			snprintf(key, sizeof(key), "%s_bytes", dyn[i]);
			j_num(key, d);
			per_fe_dynamic += d;
		}
		j_num("total_bytes", per_fe_prealloc + per_fe_dynamic);
		j_str("shape", "2 groups (3 + 1 backends), one Maglev table of 1021 slots per group; backends "
			       "shared between frontends are counted per backend");
		j_close();
		per_conn = (double)a[cn].memlock / a[cn].info.max_entries + (double)a[rn].memlock / a[rn].info.max_entries;
		j_open("per_connection");
		j_num("bs_conns_bytes", (double)a[cn].memlock / a[cn].info.max_entries);
		j_num("bs_rnat_bytes", (double)a[rn].memlock / a[rn].info.max_entries);
		j_num("key_value_bytes", (double)(a[cn].info.key_size + a[cn].info.value_size + a[rn].info.key_size +
						  a[rn].info.value_size));
		j_num("total_bytes", per_conn);
		j_int("table_entries", a[cn].info.max_entries);
		j_num("table_total_mib", (double)(a[cn].memlock + a[rn].memlock) / (1 << 20));
		j_num("memlock_change_after_flows", (double)(c2[cn].memlock - b[cn].memlock + c2[rn].memlock - b[rn].memlock));
		j_close();
		per_be = (double)a[be].memlock / a[be].info.max_entries + (double)a[bst].memlock / a[bst].info.max_entries;
		j_open("per_backend");
		j_num("total_bytes", per_be);
		j_close();
		{
			long long tot = 0;

			for (int i = 0; i < N_MAPS; i++)
				tot += a[i].memlock;
			j_num("total_empty_mib", (double)tot / (1 << 20));
		}
	}
	j_close();
	fputc('\n', J);
	return 0;
}

/* ---- library write path (the control plane's last step) ------------------------------------ */

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "VmRSS:", 6))
			v = atol(line + 6);
	fclose(f);
	return v;
}

static int cmd_apply(int argc, char **argv)
{
	static const struct option lo[] = { { "flips", required_argument, 0, 'n' },
					    { "frontends", required_argument, 0, 'f' },
					    { 0 } };
	struct bs_dp_opts o = {};
	int flips = 1000, n_fe = 10000, c;
	struct inst *in;
	double *lat;
	__u64 t0;
	long rss0;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'n')
			flips = atoi(optarg);
		else if (c == 'f')
			n_fe = atoi(optarg);
		else
			die("apply: bad option");
	}
	in = inst_open("apply", o);
	rss0 = rss_kib();
	if (apply_split(in, ip4(FE_ADDR), 70, 30))
		die("apply");
	lat = calloc(flips, sizeof(*lat));
	for (int i = 0; i < flips; i++) {
		__u32 w = 1 + (__u32)(i % 99); /* a rollout's steps, over and over */
		__u64 t = now_ns();

		if (apply_split(in, ip4(FE_ADDR), 100 - w, w))
			die("apply flip");
		lat[i] = (now_ns() - t) / 1e3;
	}
	t0 = now_ns();
	in->n_frontends = 1;
	apply_frontends(in, n_fe + 1);
	j_open(NULL);
	j_str("what", "libbpfsplit's write path in-process (bs_dp_apply), the last step of any control plane: not "
		      "the agent (no Kubernetes watch, no reconciler)");
	j_int("weight_changes", flips);
	j_num("weight_change_p50_us", percentile(lat, flips, 50));
	j_num("weight_change_p99_us", percentile(lat, flips, 99));
	j_num("weight_change_max_us", percentile(lat, flips, 100));
	j_int("bulk_frontends", n_fe);
	j_num("bulk_apply_s", (now_ns() - t0) / 1e9);
	j_int("rss_kib_before", rss0);
	j_int("rss_kib_after", rss_kib());
	j_close();
	fputc('\n', J);
	return 0;
}

/* ---- opening a big data path: what every CLI command, the metrics scrape and a restarting
 * agent pay before doing anything ---------------------------------------------------------- */

/* open: --frontends N two-group frontends (3 + 1 backends) written through bs_dp_apply, then
 * --rounds times: a read-only open (bs_dp_open_pinned_ro + close), a writer open (registry
 * rebuilt from the pins under the writers' lock + close), and a read-only open that reads
 * every frontend's spec back from the maps. Medians and worst. */
static int cmd_open(int argc, char **argv)
{
	static const struct option lo[] = { { "frontends", required_argument, 0, 'f' },
					    { "rounds", required_argument, 0, 'r' },
					    { 0 } };
	int n_fe = 65536, rounds = 5, c;
	double *ro, *wr, *rd;
	struct inst *in;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'f')
			n_fe = atoi(optarg);
		else if (c == 'r')
			rounds = atoi(optarg);
		else
			die("open: bad option");
	}
	if (n_fe < 1 || n_fe > 65536 || rounds < 1)
		die("open: --frontends 1..65536, --rounds >= 1");
	in = inst_open("open", big_opts(65536));
	apply_frontends(in, n_fe);
	bs_dp_flush_retired(in->dp, true);
	ro = calloc(rounds, sizeof(*ro));
	wr = calloc(rounds, sizeof(*wr));
	rd = calloc(rounds, sizeof(*rd));
	for (int r = 0; r < rounds; r++) {
		struct bs_dp *h = NULL;
		__u64 t = now_ns();
		int n_read = 0;

		if (bs_dp_open_pinned_ro(in->pin_root, &h))
			die("open: read-only open failed");
		bs_dp_close(h);
		ro[r] = (now_ns() - t) / 1e6;

		t = now_ns();
		if (bs_dp_open_pinned(in->pin_root, &h))
			die("open: writer open failed");
		bs_dp_close(h);
		wr[r] = (now_ns() - t) / 1e6;

		t = now_ns();
		if (bs_dp_open_pinned_ro(in->pin_root, &h))
			die("open: read-only open failed");
		for (int k = 0; k < n_fe; k++) {
			struct bs_frontend_spec spec;
			struct bs_frontend_key key = {};

			key.addr[0] = htonl(frontend_addr(k));
			key.port = htons(FE_PORT);
			key.family = BS_AF_INET;
			key.proto = 6;
			if (!bs_dp_read(h, &key, &spec)) {
				n_read += spec.n_groups == 2 && spec.groups[0].n_backends == 3;
				bs_frontend_spec_free(&spec);
			}
		}
		bs_dp_close(h);
		rd[r] = (now_ns() - t) / 1e6;
		if (n_read != n_fe)
			die("open: read back %d of %d frontends whole", n_read, n_fe);
	}
	j_open(NULL);
	j_str("what", "opening a data path of N two-group frontends (3 + 1 backends): read-only (no registry, no "
		      "lock: CLI show commands, metrics), as a writer (registry rebuilt from the pins under the lock), "
		      "and read-only plus reading every frontend's spec back from the maps");
	j_int("frontends", n_fe);
	j_num("apply_s", in->apply_s);
	j_int("rounds", rounds);
	j_num("ro_open_ms_p50", percentile(ro, rounds, 50));
	j_num("ro_open_ms_max", percentile(ro, rounds, 100));
	j_num("writer_open_ms_p50", percentile(wr, rounds, 50));
	j_num("writer_open_ms_max", percentile(wr, rounds, 100));
	j_num("ro_read_all_ms_p50", percentile(rd, rounds, 50));
	j_close();
	fputc('\n', J);
	free(ro);
	free(wr);
	free(rd);
	return 0;
}

/* ---- control plane: watch a pinned data path written by someone else (the agent) -------------- */

/* cpwatch: poll the pinned maps of --pin-root (waiting for them to appear) and print, one
 * line each, flushed, with CLOCK_MONOTONIC nanoseconds (the clock of Python's
 * time.monotonic_ns):
 *   "synced T N"            when bs_frontends first holds at least --count entries
 *   "switch T SPLIT THR0"   whenever --frontend's split changes (THR0: stable threshold)
 * until stdin closes or a signal comes. Touches nothing; never unpins. */
static int cmd_cpwatch(int argc, char **argv)
{
	static const struct option lo[] = { { "pin-root", required_argument, 0, 'p' },
					    { "frontend", required_argument, 0, 'f' },
					    { "count", required_argument, 0, 'n' },
					    { "timeout", required_argument, 0, 't' },
					    { 0 } };
	const char *root = NULL, *fe = NULL;
	long want = 0, n = 0;
	double timeout = 120;
	struct bs_frontend_key key = {};
	struct bs_dp *dp = NULL;
	__u32 last_split = 0;
	int synced = 0, c, fe_fd, sp_fd;
	__u64 deadline;

	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'p')
			root = optarg;
		else if (c == 'f')
			fe = optarg;
		else if (c == 'n')
			want = atol(optarg);
		else if (c == 't')
			timeout = atof(optarg);
		else
			die("cpwatch: bad option");
	}
	if (!root || (fe && bs_frontend_key_parse(fe, &key)))
		die("cpwatch: --pin-root DIR [--frontend KEY] [--count N]");
	fcntl(0, F_SETFL, fcntl(0, F_GETFL) | O_NONBLOCK);
	deadline = now_ns() + (__u64)(timeout * 1e9);
	while (bs_dp_open_pinned(root, &dp)) {
		if (now_ns() > deadline)
			die("cpwatch: no pinned maps under %s", root);
		usleep(2000);
	}
	fe_fd = bs_dp_map_fd(dp, "bs_frontends");
	sp_fd = bs_dp_map_fd(dp, "bs_splits");
	printf("ready %llu\n", (unsigned long long)now_ns());
	fflush(stdout);
	for (;;) {
		char b[64];
		ssize_t r = read(0, b, sizeof(b));

		if (r == 0 || (r < 0 && errno != EAGAIN))
			break;
		if (want && !synced) {
			struct bs_frontend_key a, k2;
			void *prev = NULL;

			n = 0;
			while (!bpf_map_get_next_key(fe_fd, prev, prev == &a ? &k2 : &a)) {
				prev = prev == &a ? &k2 : &a;
				n++;
			}
			if (n >= want) {
				synced = 1;
				printf("synced %llu %ld\n", (unsigned long long)now_ns(), n);
				fflush(stdout);
			} else {
				usleep(5000);
			}
		}
		if (fe) {
			struct bs_frontend v;
			struct bs_split sp;
			__u32 split_id = 0;

			if (!bpf_map_lookup_elem(fe_fd, &key, &v) && !bs_dp_frontend_split(dp, v.id, &split_id) &&
			    split_id != last_split && !bpf_map_lookup_elem(sp_fd, &split_id, &sp)) {
				last_split = split_id;
				printf("switch %llu %u %llu\n", (unsigned long long)now_ns(), split_id,
				       (unsigned long long)sp.thresholds[0]);
				fflush(stdout);
			}
			usleep(20);
		}
		if (!fe && synced)
			usleep(10000);
	}
	bs_dp_close(dp);
	return 0;
}

/* ---- main -------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	const char *cmd;
	int sub_argc;
	char **sub_argv;
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };

	J = stdout;
	if (argc >= 3 && !strcmp(argv[1], "--pin-prefix")) {
		snprintf(pin_prefix, sizeof(pin_prefix), "%s", argv[2]);
		argv += 2;
		argc -= 2;
	} else {
		snprintf(pin_prefix, sizeof(pin_prefix), "/sys/fs/bpf/bs-bench-%d", getpid());
	}
	if (strncmp(pin_prefix, "/sys/fs/bpf/bs-bench-", 21))
		die("--pin-prefix must start with /sys/fs/bpf/bs-bench-");
	if (argc < 2)
		die("usage: bench_dp [--pin-prefix P] pkt|accuracy|memory|apply|open|cpwatch [options]");
	cmd = argv[1];
	sub_argc = argc - 1;
	sub_argv = argv + 1;
	if (getenv("BENCH_SEED"))
		rng_state = strtoull(getenv("BENCH_SEED"), NULL, 0);
	else
		rng_state ^= now_ns();
	setrlimit(RLIMIT_MEMLOCK, &rl);
	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, on_signal);
	if (!strcmp(cmd, "pkt"))
		return cmd_pkt(sub_argc, sub_argv);
	if (!strcmp(cmd, "accuracy"))
		return cmd_accuracy(sub_argc, sub_argv);
	if (!strcmp(cmd, "memory"))
		return cmd_memory(sub_argc, sub_argv);
	if (!strcmp(cmd, "apply"))
		return cmd_apply(sub_argc, sub_argv);
	if (!strcmp(cmd, "cpwatch"))
		return cmd_cpwatch(sub_argc, sub_argv);
	if (!strcmp(cmd, "open"))
		return cmd_open(sub_argc, sub_argv);
	die("unknown subcommand %s", cmd);
	return 1;
}
