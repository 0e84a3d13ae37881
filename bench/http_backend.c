// SPDX-License-Identifier: BSD-2-Clause
/* http_backend: a small, fast HTTP/1.1 backend for the end-to-end benchmarks, so that the
 * lab's backends (tests/lab/colour_server.py, about 4,000 fresh connections/s each) do
 * not hide the differences between splitters. epoll, non-blocking sockets, one worker
 * thread per --threads with its own SO_REUSEPORT listener.
 *
 *   http_backend --port 8080 --name g1 --colour green [--threads 2]
 *
 * Every request (any method, any path; no request body expected) gets
 * "200 OK" with body "<colour>\n" ("ok\n" for /healthz), headers X-Backend and
 * X-Colour, written in one send. Keep-alive and pipelining are served; a request with
 * "Connection: close" is answered with "Connection: close" and the server closes
 * first (so the TIME_WAIT stays on the backend, as with the lab's colour server).
 * GET /stats answers {"requests": N, "connections": M}: requests served and connections
 * accepted so far, /stats and /healthz not counted (the benchmark reads the split from
 * these). Listens dual-stack on [::]:port, backlog 4096. Exits on SIGTERM/SIGINT. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define BUF 4096
#define MAX_EVENTS 256

struct conn {
	int fd;
	size_t len;
	char buf[BUF];
};

static volatile sig_atomic_t stop;
static unsigned long long n_requests, n_connections;

static void on_signal(int sig)
{
	stop = 1;
}

static char resp_keep[512], resp_close[512], health_keep[512], health_close[512];
static size_t resp_keep_len, resp_close_len, health_keep_len, health_close_len;

static size_t make_response(char *out, size_t cap, const char *name, const char *colour, const char *body,
			    int close_conn)
{
	int n = snprintf(out, cap,
			 "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			 "X-Backend: %s\r\nX-Colour: %s\r\n%s\r\n%s",
			 strlen(body), name, colour, close_conn ? "Connection: close\r\n" : "", body);
	return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Does the header block [h, end) ask to close? */
static int wants_close(const char *h, const char *end)
{
	static const char key[] = "\nconnection:";
	size_t kl = sizeof(key) - 1;

	for (const char *p = h; p + kl < end; p++) {
		if (strncasecmp(p, key, kl))
			continue;
		p += kl;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		return end - p >= 5 && !strncasecmp(p, "close", 5);
	}
	return 0;
}

static void conn_close(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c);
}

/* Serve every complete request in c->buf; returns -1 when the connection must close. */
static int serve(struct conn *c)
{
	size_t off = 0;
	char out[BUF];
	size_t out_len = 0;
	int closing = 0;

	while (!closing) {
		char *start = c->buf + off, *end;
		const char *line_end, *resp;
		char stats[256];
		size_t rl;
		int health, cl, is_stats;

		end = memmem(start, c->len - off, "\r\n\r\n", 4);
		if (!end)
			break;
		end += 4;
		line_end = memchr(start, '\n', end - start);
		health = memmem(start, line_end - start, " /healthz", 9) != NULL;
		is_stats = memmem(start, line_end - start, " /stats", 7) != NULL;
		/* "Connection: close", or HTTP/1.0 without keep-alive */
		cl = wants_close(line_end, end) || (memmem(start, line_end - start, "HTTP/1.0", 8) &&
						     !memmem(start, end - start, "eep-Alive", 9));
		resp = health ? (cl ? health_close : health_keep) : (cl ? resp_close : resp_keep);
		rl = health ? (cl ? health_close_len : health_keep_len) : (cl ? resp_close_len : resp_keep_len);
		if (is_stats) {
			char body[96];

			snprintf(body, sizeof(body), "{\"requests\": %llu, \"connections\": %llu}\n",
				 __atomic_load_n(&n_requests, __ATOMIC_RELAXED),
				 __atomic_load_n(&n_connections, __ATOMIC_RELAXED));
			rl = make_response(stats, sizeof(stats), "stats", "stats", body, cl);
			resp = stats;
		} else if (!health) {
			__atomic_fetch_add(&n_requests, 1, __ATOMIC_RELAXED);
		}
		if (out_len + rl > sizeof(out)) {
			if (send(c->fd, out, out_len, MSG_NOSIGNAL) < 0)
				return -1;
			out_len = 0;
		}
		memcpy(out + out_len, resp, rl);
		out_len += rl;
		off = end - c->buf;
		closing = cl;
	}
	if (out_len && send(c->fd, out, out_len, MSG_NOSIGNAL) < 0)
		return -1;
	if (closing)
		return -1;
	memmove(c->buf, c->buf + off, c->len - off);
	c->len -= off;
	if (c->len == sizeof(c->buf))
		return -1; /* a header block larger than the buffer: not ours to serve */
	return 0;
}

static int port = 8080;

static int open_listener(void)
{
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6 };
	int one = 1, zero = 0;
	int lfd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (lfd < 0) {
		perror("socket");
		return -1;
	}
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(lfd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	setsockopt(lfd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	addr.sin6_port = htons((unsigned short)port);
	addr.sin6_addr = in6addr_any;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) || listen(lfd, 4096)) {
		perror("bind/listen");
		close(lfd);
		return -1;
	}
	return lfd;
}

/* One worker: its own SO_REUSEPORT listener and epoll set. */
static void *worker(void *arg)
{
	int lfd = (int)(long)arg, one = 1;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev, events[MAX_EVENTS];

	ev.events = EPOLLIN;
	ev.data.ptr = NULL; /* the listener */
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop) {
		int n = epoll_wait(ep, events, MAX_EVENTS, 500);

		for (int i = 0; i < n; i++) {
			struct conn *c = events[i].data.ptr;

			if (!c) {
				for (;;) {
					int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

					if (fd < 0)
						break;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					c = malloc(sizeof(*c));
					if (!c) {
						close(fd);
						continue;
					}
					c->fd = fd;
					c->len = 0;
					__atomic_fetch_add(&n_connections, 1, __ATOMIC_RELAXED);
					ev.events = EPOLLIN | EPOLLRDHUP;
					ev.data.ptr = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);

				if (r > 0) {
					c->len += (size_t)r;
					if (serve(c) < 0) {
						conn_close(ep, c);
						break;
					}
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
					break;
				conn_close(ep, c); /* EOF or error */
				break;
			}
		}
	}
	close(ep);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *name = "backend", *colour = "none";
	int threads = 1;
	pthread_t tids[64];
	int lfds[64];

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port"))
			port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--name"))
			name = argv[i + 1];
		else if (!strcmp(argv[i], "--colour") || !strcmp(argv[i], "--color"))
			colour = argv[i + 1];
		else if (!strcmp(argv[i], "--threads"))
			threads = atoi(argv[i + 1]);
		else {
			fprintf(stderr, "usage: http_backend --port P --name N --colour C [--threads T]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "http_backend: --threads 1..64\n");
		return 2;
	}
	{
		char body[64];

		snprintf(body, sizeof(body), "%s\n", colour);
		resp_keep_len = make_response(resp_keep, sizeof(resp_keep), name, colour, body, 0);
		resp_close_len = make_response(resp_close, sizeof(resp_close), name, colour, body, 1);
		health_keep_len = make_response(health_keep, sizeof(health_keep), name, colour, "ok\n", 0);
		health_close_len = make_response(health_close, sizeof(health_close), name, colour, "ok\n", 1);
		if (!resp_keep_len || !resp_close_len || !health_keep_len || !health_close_len) {
			fprintf(stderr, "http_backend: name or colour too long\n");
			return 2;
		}
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (int t = 0; t < threads; t++) {
		lfds[t] = open_listener();
		if (lfds[t] < 0)
			return 1;
	}
	fprintf(stderr, "http_backend name=%s colour=%s port=%d threads=%d\n", name, colour, port, threads);
	for (int t = 1; t < threads; t++)
		pthread_create(&tids[t], NULL, worker, (void *)(long)lfds[t]);
	worker((void *)(long)lfds[0]);
	for (int t = 1; t < threads; t++)
		pthread_join(tids[t], NULL);
	for (int t = 0; t < threads; t++)
		close(lfds[t]);
	return 0;
}
