// SPDX-License-Identifier: BSD-2-Clause
/* /metrics, /healthz, /readyz over libmicrohttpd; text helpers. See metrics.h. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include "log.h"

#if MHD_VERSION < 0x00097002
typedef int mhd_result;
#else
typedef enum MHD_Result mhd_result;
#endif

/* ---- text ---- */

void mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->s ? b->s + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap : 4096;

		while (cap - b->len <= (size_t)n)
			cap *= 2;
		char *s = realloc(b->s, cap);

		if (!s) {
			b->oom = true;
			return;
		}
		b->s = s;
		b->cap = cap;
	}
}

void mbuf_label(struct mbuf *b, const char *name, const char *value, bool first)
{
	mbuf_printf(b, "%s%s=\"", first ? "" : ",", name);
	for (const char *p = value; *p; p++) {
		if (*p == '\\')
			mbuf_printf(b, "\\\\");
		else if (*p == '"')
			mbuf_printf(b, "\\\"");
		else if (*p == '\n')
			mbuf_printf(b, "\\n");
		else
			mbuf_printf(b, "%c", *p);
	}
	mbuf_printf(b, "\"");
}

void mbuf_free(struct mbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof(*b));
}

void hist_init(struct histogram *h, const double *bounds, size_t n)
{
	memset(h, 0, sizeof(*h));
	if (n > HIST_MAX_BUCKETS)
		n = HIST_MAX_BUCKETS;
	memcpy(h->bounds, bounds, n * sizeof(*bounds));
	h->n_bounds = n;
}

void hist_observe(struct histogram *h, double v)
{
	for (size_t i = 0; i < h->n_bounds; i++) {
		if (v <= h->bounds[i]) {
			h->counts[i]++;
			break;
		}
	}
	h->count++;
	h->sum += v;
}

void hist_render(struct mbuf *b, const char *name, const char *help, const struct histogram *h)
{
	uint64_t cum = 0;

	mbuf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (size_t i = 0; i < h->n_bounds; i++) {
		cum += h->counts[i];
		mbuf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], (unsigned long long)cum);
	}
	mbuf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name,
		    (unsigned long long)h->count, name, h->sum, name, (unsigned long long)h->count);
}

/* ---- listener ---- */

struct metrics {
	struct MHD_Daemon *d;
	uint16_t port;
	pthread_mutex_t mu;
	char *text;
	metrics_scrape_fn scrape;
	void *scrape_ctx;
	metrics_page_fn page;
	void *page_ctx;
	bool ready;
	char why[256];
	uint64_t heartbeat_ns, health_timeout_ns;
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static mhd_result reply(struct MHD_Connection *c, unsigned int code, const char *type, char *body, size_t len)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	mhd_result ret;

	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static mhd_result reply_text(struct MHD_Connection *c, unsigned int code, const char *fmt, ...)
{
	char *body = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&body, fmt, ap);
	va_end(ap);
	if (n < 0)
		return MHD_NO;
	return reply(c, code, "text/plain; charset=utf-8", body, (size_t)n);
}

static mhd_result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			 const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
	struct metrics *m = cls;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET\n");
	if (!strcmp(url, "/metrics")) {
		struct mbuf b = { 0 };
		metrics_scrape_fn fn;
		void *ctx;

		pthread_mutex_lock(&m->mu);
		mbuf_printf(&b, "%s", m->text ? m->text : "");
		fn = m->scrape;
		ctx = m->scrape_ctx;
		pthread_mutex_unlock(&m->mu);
		if (fn)
			fn(ctx, &b);
		if (b.oom) {
			mbuf_free(&b);
			return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
		}
		if (!b.s)
			return reply_text(c, MHD_HTTP_OK, "");
		return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.s, b.len);
	}
	if (!strcmp(url, "/healthz")) {
		uint64_t now = mono_ns(), hb, to;

		pthread_mutex_lock(&m->mu);
		hb = m->heartbeat_ns;
		to = m->health_timeout_ns;
		pthread_mutex_unlock(&m->mu);
		if (hb && to && now - hb > to)
			return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "main loop stalled for %llu s\n",
					  (unsigned long long)((now - hb) / 1000000000ull));
		return reply_text(c, MHD_HTTP_OK, "ok\n");
	}
	if (!strcmp(url, "/readyz")) {
		bool ready;
		char why[256];

		pthread_mutex_lock(&m->mu);
		ready = m->ready;
		snprintf(why, sizeof(why), "%s", m->why);
		pthread_mutex_unlock(&m->mu);
		if (ready)
			return reply_text(c, MHD_HTTP_OK, "ok\n");
		return reply_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready: %s\n", why[0] ? why : "starting");
	}
	{
		metrics_page_fn fn;
		void *ctx;
		struct mbuf b = { 0 };
		const char *type = NULL;

		pthread_mutex_lock(&m->mu);
		fn = m->page;
		ctx = m->page_ctx;
		pthread_mutex_unlock(&m->mu);
		if (fn && fn(ctx, url, &b, &type)) {
			if (b.oom || !b.s) {
				mbuf_free(&b);
				return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "cannot render %s\n", url);
			}
			return reply(c, MHD_HTTP_OK, type, b.s, b.len);
		}
	}
	return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz, /readyz\n");
}

void metrics_set_page(struct metrics *m, metrics_page_fn fn, void *ctx)
{
	pthread_mutex_lock(&m->mu);
	m->page = fn;
	m->page_ctx = ctx;
	pthread_mutex_unlock(&m->mu);
}

static int parse_addr(const char *addr, struct sockaddr_storage *ss, bool *any)
{
	char host[128];
	const char *colon = strrchr(addr, ':');
	char *end;
	unsigned long port;
	size_t hl;

	memset(ss, 0, sizeof(*ss));
	*any = false;
	if (!colon)
		return -EINVAL;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		return -EINVAL;
	hl = (size_t)(colon - addr);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, addr, hl);
	host[hl] = '\0';
	if (!host[0] || !strcmp(host, "*")) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		*any = true;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		s6->sin6_addr = in6addr_any;
		return 0;
	}
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		return inet_pton(AF_INET6, host + 1, &s6->sin6_addr) == 1 ? 0 : -EINVAL;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (!strcmp(host, "localhost"))
		return inet_pton(AF_INET, "127.0.0.1", &s4->sin_addr) == 1 ? 0 : -EINVAL;
	return inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -EINVAL;
}

int metrics_start(const char *addr, struct metrics **out)
{
	struct sockaddr_storage ss;
	struct metrics *m;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	const union MHD_DaemonInfo *info;
	bool any;
	int rc;

	rc = parse_addr(addr, &ss, &any);
	if (rc) {
		bs_err("msg=\"bad listen address\" addr=%s hint=\"HOST:PORT, :PORT or [V6]:PORT\"", addr);
		return rc;
	}
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	pthread_mutex_init(&m->mu, NULL);
	if (ss.ss_family == AF_INET6)
		flags |= any ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	m->d = MHD_start_daemon(flags, 0, NULL, NULL, handle, m, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10, MHD_OPTION_CONNECTION_LIMIT,
				(unsigned int)64, MHD_OPTION_END);
	if (!m->d && any) {
		/* No IPv6 on this host: every IPv4 address. */
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		uint16_t port = ((struct sockaddr_in6 *)&ss)->sin6_port;

		memset(&ss, 0, sizeof(ss));
		s4->sin_family = AF_INET;
		s4->sin_port = port;
		s4->sin_addr.s_addr = htonl(INADDR_ANY);
		m->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle, m,
					MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_TIMEOUT,
					(unsigned int)10, MHD_OPTION_CONNECTION_LIMIT, (unsigned int)64, MHD_OPTION_END);
	}
	if (!m->d) {
		rc = errno ? -errno : -EADDRINUSE;
		bs_err("msg=\"cannot listen for metrics and health\" addr=%s err=%s", addr, strerror(-rc));
		pthread_mutex_destroy(&m->mu);
		free(m);
		return rc;
	}
	info = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
	m->port = info ? info->port : 0;
	*out = m;
	return 0;
}

uint16_t metrics_port(const struct metrics *m)
{
	return m ? m->port : 0;
}

void metrics_stop(struct metrics *m)
{
	if (!m)
		return;
	MHD_stop_daemon(m->d);
	pthread_mutex_destroy(&m->mu);
	free(m->text);
	free(m);
}

void metrics_publish(struct metrics *m, const char *text)
{
	char *copy;

	if (!m)
		return;
	copy = strdup(text ? text : "");
	if (!copy)
		return;
	pthread_mutex_lock(&m->mu);
	free(m->text);
	m->text = copy;
	pthread_mutex_unlock(&m->mu);
}

void metrics_set_scrape(struct metrics *m, metrics_scrape_fn fn, void *ctx)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->scrape = fn;
	m->scrape_ctx = ctx;
	pthread_mutex_unlock(&m->mu);
}

void metrics_set_ready(struct metrics *m, bool ready, const char *why)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->ready = ready;
	snprintf(m->why, sizeof(m->why), "%s", why ? why : "");
	pthread_mutex_unlock(&m->mu);
}

void metrics_heartbeat(struct metrics *m, uint64_t now_ns, uint64_t health_timeout_ns)
{
	if (!m)
		return;
	pthread_mutex_lock(&m->mu);
	m->heartbeat_ns = now_ns;
	m->health_timeout_ns = health_timeout_ns;
	pthread_mutex_unlock(&m->mu);
}
