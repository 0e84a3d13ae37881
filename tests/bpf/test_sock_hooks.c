// SPDX-License-Identifier: BSD-2-Clause
/* The socket hooks with real sockets: the data path is loaded into a private pin root, its
 * hooks attached to a child cgroup of the unified hierarchy that this test creates, and
 * this process moves into that cgroup and into a network namespace of its own (loopback
 * only: backends listen on 127.1.x.2 and fd00:201:x::2 on lo). Every connect() to the
 * frontend must reach exactly the backend bs_dp_predict names for its bound source, and
 * getpeername()/recvfrom() must show the frontend. Needs root, bpffs and cgroup v2. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <bpf/bpf.h>
#include "bpfsplit.h"
#include "log.h"

#define CGROUP_ROOT "/sys/fs/cgroup/unified"
#define FE4 "10.96.0.10"
#define FE6 "fd00:96::10"
#define N_BE 4 /* three stable, one canary */

static const char *const be4[N_BE] = { "127.1.1.2", "127.1.2.2", "127.1.3.2", "127.1.4.2" };
static const char *const be6[N_BE] = { "fd00:201:1::2", "fd00:201:2::2", "fd00:201:3::2", "fd00:201:4::2" };

static struct bs_dp *dp;
static char pin_root[64], cgroup[128], orig_cgroup[PATH_MAX];
static int lst4[N_BE], lst6[N_BE], udp4[N_BE];

static void sa_make(int ipv, const char *addr, int port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (ipv == 4) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		inet_pton(AF_INET, addr, &s->sin_addr);
		*len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		inet_pton(AF_INET6, addr, &s->sin6_addr);
		*len = sizeof(*s);
	}
}

static void sa_format(const struct sockaddr_storage *ss, char *buf, size_t len, int *port)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		inet_ntop(AF_INET, &s->sin_addr, buf, len);
		*port = ntohs(s->sin_port);
	} else {
		const struct sockaddr_in6 *s = (const void *)ss;

		inet_ntop(AF_INET6, &s->sin6_addr, buf, len);
		*port = ntohs(s->sin6_port);
	}
}

static int listener(int ipv, const char *addr, int port, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd = socket(ipv == 4 ? AF_INET : AF_INET6, type | SOCK_CLOEXEC, 0);

	sa_make(ipv, addr, port, &ss, &len);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) || bind(fd, (void *)&ss, len) ||
	    (type == SOCK_STREAM && listen(fd, 64)))
		return -1;
	return fd;
}

static void apply(int ipv, const char *proto, int port, __u32 w_stable, __u32 w_canary, int be_port)
{
	struct bs_frontend_spec spec = {};
	struct bs_backend_spec be[2][3];
	const char *const *addrs = ipv == 4 ? be4 : be6;
	char fe[80], ep[80], err[256];

	snprintf(fe, sizeof(fe), ipv == 4 ? "%s:%d/%s" : "[%s]:%d/%s", ipv == 4 ? FE4 : FE6, port, proto);
	assert_int_equal(bs_frontend_key_parse(fe, &spec.key), 0);
	spec.n_groups = 2;
	snprintf(spec.groups[0].name, sizeof(spec.groups[0].name), "stable");
	snprintf(spec.groups[1].name, sizeof(spec.groups[1].name), "canary");
	spec.groups[0].weight = w_stable;
	spec.groups[1].weight = w_canary;
	spec.groups[0].n_backends = 3;
	spec.groups[1].n_backends = 1;
	spec.groups[0].backends = be[0];
	spec.groups[1].backends = be[1];
	for (int i = 0; i < N_BE; i++) {
		struct bs_backend_spec *b = i < 3 ? &be[0][i] : &be[1][0];

		snprintf(ep, sizeof(ep), ipv == 4 ? "%s:%d" : "[%s]:%d", addrs[i], be_port);
		assert_int_equal(bs_endpoint_parse(ep, b->addr, &b->port, &b->family), 0);
		b->state = BS_BACKEND_READY;
	}
	if (bs_dp_apply(dp, &spec, err, sizeof(err))) {
		fprintf(stderr, "apply: %s\n", err);
		fail();
	}
}

/* The backend index bs_dp_predict names for a socket bound to src:sport, or -1. */
static int predict(int ipv, const char *src, int sport, int proto, int fport)
{
	struct bs_flow_key f = {};
	struct bs_backend be;
	char ep[80], addr[64];
	__u32 group;
	__u8 fam;
	int port;

	snprintf(ep, sizeof(ep), ipv == 4 ? "%s:%d" : "[%s]:%d", src, sport);
	assert_int_equal(bs_endpoint_parse(ep, f.saddr, &f.sport, &fam), 0);
	snprintf(ep, sizeof(ep), ipv == 4 ? "%s:%d" : "[%s]:%d", ipv == 4 ? FE4 : FE6, fport);
	assert_int_equal(bs_endpoint_parse(ep, f.daddr, &f.dport, &fam), 0);
	f.family = fam;
	f.proto = proto;
	if (bs_dp_predict(dp, &f, &group, &be))
		return -1;
	bs_endpoint_format(be.addr, be.port, be.family, ep, sizeof(ep));
	for (int i = 0; i < N_BE; i++) {
		snprintf(addr, sizeof(addr), ipv == 4 ? "%s:%d" : "[%s]:%d", (ipv == 4 ? be4 : be6)[i], ntohs(be.port));
		if (!strcmp(addr, ep))
			return i;
	}
	(void)port;
	return -1;
}

/* Which listener has a connection waiting: accept it, return its index (fd in *conn). */
static int accepted(const int *lst, int *conn)
{
	struct pollfd p[N_BE];

	for (int i = 0; i < N_BE; i++)
		p[i] = (struct pollfd){ .fd = lst[i], .events = POLLIN };
	if (poll(p, N_BE, 5000) <= 0)
		return -1;
	for (int i = 0; i < N_BE; i++) {
		if (p[i].revents & POLLIN) {
			*conn = accept4(lst[i], NULL, NULL, SOCK_CLOEXEC);
			return *conn >= 0 ? i : -1;
		}
	}
	return -1;
}

/* Connect from src:sport to the frontend; returns the client fd, the backend index that
 * accepted, and that accepted fd. */
static int connect_bound(int ipv, const char *src, int sport, int *be_idx, int *srv)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd = socket(ipv == 4 ? AF_INET : AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa_make(ipv, src, sport, &ss, &len);
	assert_int_equal(bind(fd, (void *)&ss, len), 0);
	sa_make(ipv, ipv == 4 ? FE4 : FE6, 80, &ss, &len);
	if (connect(fd, (void *)&ss, len)) {
		int err = -errno;

		close(fd);
		return err;
	}
	*be_idx = accepted(ipv == 4 ? lst4 : lst6, srv);
	return fd;
}

/* ---- set-up: pin root, cgroup, hooks, own network namespace, backends ---- */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), ok;

	if (fd < 0)
		return -errno;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -EIO;
}

static int setup_all(void **state)
{
	struct bs_dp_opts o = { .max_conns = 4096, .max_frontends = 64, .max_backends = 64, .max_tables = 64,
				.max_splits = 128 };
	char how[128], line[PATH_MAX], path[PATH_MAX + 32], pid[32];
	FILE *f;

	bs_log_set_level(BS_LOG_WARN);
	bs_log_capture_libbpf();
	/* Where this process is now in the unified hierarchy, to return there at the end. */
	f = fopen("/proc/self/cgroup", "r");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3))
			snprintf(orig_cgroup, sizeof(orig_cgroup), "%s", strtok(line + 3, "\n"));
	if (f)
		fclose(f);
	snprintf(pin_root, sizeof(pin_root), "/sys/fs/bpf/bs-sock-%d", getpid());
	snprintf(cgroup, sizeof(cgroup), CGROUP_ROOT "/bs-sock-%d", getpid());
	o.pin_root = pin_root;
	if (bs_dp_open(&o, &dp)) {
		fprintf(stderr, "cannot load the data path (root and bpffs needed)\n");
		return -1;
	}
	if (mkdir(cgroup, 0755) || bs_dp_attach_cgroup(dp, cgroup, how, sizeof(how))) {
		fprintf(stderr, "cannot create or attach to %s: %s\n", cgroup, strerror(errno));
		return -1;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", cgroup);
	snprintf(pid, sizeof(pid), "%d", getpid());
	if (write_file(path, pid) || unshare(CLONE_NEWNET) ||
	    system("ip link set lo up && for i in 1 2 3 4; do ip -6 addr add fd00:201:$i::2/128 dev lo nodad; done")) {
		fprintf(stderr, "cannot enter the cgroup or a new network namespace\n");
		return -1;
	}
	for (int i = 0; i < N_BE; i++) {
		lst4[i] = listener(4, be4[i], 8080, SOCK_STREAM);
		lst6[i] = listener(6, be6[i], 8080, SOCK_STREAM);
		udp4[i] = listener(4, be4[i], 5353, SOCK_DGRAM);
		if (lst4[i] < 0 || lst6[i] < 0 || udp4[i] < 0) {
			fprintf(stderr, "backend %d: %s\n", i, strerror(errno));
			return -1;
		}
	}
	return 0;
}

static int teardown_all(void **state)
{
	char path[PATH_MAX + 64], pid[32];

	for (int i = 0; i < N_BE; i++) {
		close(lst4[i]);
		close(lst6[i]);
		close(udp4[i]);
	}
	snprintf(path, sizeof(path), CGROUP_ROOT "%s/cgroup.procs", orig_cgroup);
	snprintf(pid, sizeof(pid), "%d", getpid());
	write_file(path, pid);
	bs_dp_close(dp);
	bs_dp_unpin_all(pin_root);
	return rmdir(cgroup) ? -1 : 0;
}

/* ---- cases ---- */

/* 2000 bound connections at 70/30: each reaches exactly the predicted backend, the backend
 * sees the client's own address and port, getpeername() shows the frontend. */
/* new_conns of (frontend 10.96.0.10:80/tcp, group): connection health as the hooks count it. */
static __u64 health_new(__u32 group)
{
	struct bs_frontend_key fk;
	struct bs_frontend fe;
	struct bs_health_key k = {};
	struct bs_health h = {};

	assert_int_equal(bs_frontend_key_parse(FE4 ":80/tcp", &fk), 0);
	assert_int_equal(bpf_map_lookup_elem(bs_dp_map_fd(dp, "bs_frontends"), &fk, &fe), 0);
	k.frontend_id = fe.id;
	k.group = group;
	if (bs_dp_health(dp, &k, &h))
		return 0;
	return h.new_conns;
}

static void connect_reaches_the_predicted_backend(void **state)
{
	int per_group[2] = { 0, 0 }, per_be[N_BE] = { 0 };
	__u64 h0, h1;

	apply(4, "tcp", 80, 70, 30, 8080);
	h0 = health_new(0);
	h1 = health_new(1);
	for (int port = 30000; port < 32000; port++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[64];
		int be = -1, srv = -1, p, want = predict(4, "127.0.0.1", port, 6, 80);
		int fd = connect_bound(4, "127.0.0.1", port, &be, &srv);

		assert_true(fd >= 0);
		assert_true(want >= 0);
		if (be != want)
			fprintf(stderr, "port %d: reached %d, predicted %d\n", port, be, want);
		assert_int_equal(be, want);
		assert_int_equal(getpeername(fd, (void *)&ss, &len), 0);
		sa_format(&ss, addr, sizeof(addr), &p);
		assert_string_equal(addr, FE4);
		assert_int_equal(p, 80);
		len = sizeof(ss);
		assert_int_equal(getpeername(srv, (void *)&ss, &len), 0);
		sa_format(&ss, addr, sizeof(addr), &p);
		assert_string_equal(addr, "127.0.0.1");
		assert_int_equal(p, port);
		per_be[be]++;
		per_group[be == 3]++;
		close(srv);
		close(fd);
	}
	/* Connection health counts each connect() under its group, exactly. */
	assert_int_equal(health_new(0) - h0, per_group[0]);
	assert_int_equal(health_new(1) - h1, per_group[1]);
	/* The hash spreads: within 4.5 binomial sd of 30% (n = 2000: 600 +- 92). */
	assert_in_range(per_group[1], 508, 692);
	for (int i = 0; i < N_BE; i++)
		assert_true(per_be[i] > 0);
}

static void ipv6_connect_and_getpeername(void **state)
{
	apply(6, "tcp", 80, 50, 50, 8080);
	for (int port = 33000; port < 33200; port++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[64];
		int be = -1, srv = -1, p, want = predict(6, "::1", port, 6, 80);
		int fd = connect_bound(6, "::1", port, &be, &srv);

		assert_true(fd >= 0);
		assert_int_equal(be, want);
		assert_int_equal(getpeername(fd, (void *)&ss, &len), 0);
		sa_format(&ss, addr, sizeof(addr), &p);
		assert_string_equal(addr, FE6);
		assert_int_equal(p, 80);
		close(srv);
		close(fd);
	}
}

/* A connection made before 30 -> 60 -> 100 keeps its backend; new ones follow the weights. */
static void weight_changes_move_only_new_connections(void **state)
{
	int be = -1, srv = -1, fd, port = 34000, n_canary = 0;
	char buf[8];

	apply(4, "tcp", 80, 70, 30, 8080);
	/* A port whose connection goes to stable, so that moving it would show. */
	while (predict(4, "127.0.0.1", port, 6, 80) == 3)
		port++;
	fd = connect_bound(4, "127.0.0.1", port, &be, &srv);
	assert_true(fd >= 0 && be >= 0 && be < 3);
	for (int w = 60; w <= 100; w += 40) {
		apply(4, "tcp", 80, 100 - w, w, 8080);
		assert_int_equal(write(fd, "ping", 4), 4);
		assert_int_equal(read(srv, buf, sizeof(buf)), 4);
		assert_int_equal(write(srv, "pong", 4), 4);
		assert_int_equal(read(fd, buf, sizeof(buf)), 4);
	}
	for (int p = 35000; p < 35200; p++) {
		int b = -1, s = -1, c = connect_bound(4, "127.0.0.1", p, &b, &s);

		assert_true(c >= 0);
		n_canary += b == 3;
		close(s);
		close(c);
	}
	assert_int_equal(n_canary, 200);
	close(srv);
	close(fd);
}

/* Unconnected UDP: each datagram to the frontend reaches the predicted backend; the reply's
 * source, as recvfrom() reports it, is the frontend. */
static void unconnected_udp_replies_come_from_the_frontend(void **state)
{
	apply(4, "udp", 53, 70, 30, 5353);
	for (int port = 36000; port < 36100; port++) {
		struct sockaddr_storage ss, from;
		socklen_t len, flen = sizeof(from);
		struct pollfd p[N_BE];
		int fd = listener(4, "127.0.0.1", port, SOCK_DGRAM), got = -1, fport;
		int want = predict(4, "127.0.0.1", port, 17, 53);
		char buf[16], addr[64];

		assert_true(fd >= 0);
		sa_make(4, FE4, 53, &ss, &len);
		assert_int_equal(sendto(fd, "q", 1, 0, (void *)&ss, len), 1);
		for (int i = 0; i < N_BE; i++)
			p[i] = (struct pollfd){ .fd = udp4[i], .events = POLLIN };
		assert_true(poll(p, N_BE, 5000) > 0);
		for (int i = 0; i < N_BE; i++)
			if (p[i].revents & POLLIN)
				got = i;
		assert_int_equal(got, want);
		assert_int_equal(recvfrom(udp4[got], buf, sizeof(buf), 0, (void *)&from, &flen), 1);
		assert_int_equal(sendto(udp4[got], "a", 1, 0, (void *)&from, flen), 1);
		flen = sizeof(from);
		assert_int_equal(recvfrom(fd, buf, sizeof(buf), 0, (void *)&from, &flen), 1);
		sa_format(&from, addr, sizeof(addr), &fport);
		assert_string_equal(addr, FE4);
		assert_int_equal(fport, 53);
		close(fd);
	}
}

/* Zero weights refuse connect() with EPERM; other destinations are untouched. */
static void zero_weights_refuse_and_others_pass(void **state)
{
	int be, srv, fd;

	apply(4, "tcp", 80, 0, 0, 8080);
	assert_int_equal(connect_bound(4, "127.0.0.1", 37000, &be, &srv), -EPERM);
	{
		struct sockaddr_storage ss;
		socklen_t len;

		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		sa_make(4, be4[2], 8080, &ss, &len);
		assert_int_equal(connect(fd, (void *)&ss, len), 0);
		assert_int_equal(accepted(lst4, &srv), 2);
		close(srv);
		close(fd);
	}
	apply(4, "tcp", 80, 70, 30, 8080);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(connect_reaches_the_predicted_backend),
		cmocka_unit_test(ipv6_connect_and_getpeername),
		cmocka_unit_test(weight_changes_move_only_new_connections),
		cmocka_unit_test(unconnected_udp_replies_come_from_the_frontend),
		cmocka_unit_test(zero_weights_refuse_and_others_pass),
	};

	return cmocka_run_group_tests_name("bpf_sock_hooks", tests, setup_all, teardown_all);
}
