/* SPDX-License-Identifier: BSD-2-Clause */
/* The agent's HTTP listener (libmicrohttpd, one internal thread):
 *   /metrics  Prometheus text format 0.0.4: the agent's state as last published by the
 *             main loop, then whatever the scrape callback adds (data-path counters,
 *             read at scrape time);
 *   /healthz  200 while the main loop ticks (heartbeat younger than the health timeout);
 *   /readyz   200 once the agent is ready (first full sync listed and reconciled).
 * Also the text helpers the renderers use: a growing buffer, label escaping, and a
 * fixed-bucket histogram. */
#ifndef BS_AGENT_METRICS_H
#define BS_AGENT_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- text ---- */

struct mbuf {
	char *s;
	size_t len, cap;
	bool oom;
};

void mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A label value, escaped (\\, \", \n) and quoted. */
void mbuf_label(struct mbuf *b, const char *name, const char *value, bool first);
void mbuf_free(struct mbuf *b);

/* Cumulative histogram over fixed upper bounds (seconds or any unit). */
#define HIST_MAX_BUCKETS 24
struct histogram {
	size_t n_bounds;
	double bounds[HIST_MAX_BUCKETS];
	uint64_t counts[HIST_MAX_BUCKETS]; /* per bucket, not cumulative; +Inf is count */
	uint64_t count;
	double sum;
};
void hist_init(struct histogram *h, const double *bounds, size_t n);
void hist_observe(struct histogram *h, double v);
void hist_render(struct mbuf *b, const char *name, const char *help, const struct histogram *h);

/* ---- listener ---- */

struct metrics;

/* The scrape callback runs in the listener's thread: it must not touch the main loop's
 * state (use a handle of its own). */
typedef void (*metrics_scrape_fn)(void *ctx, struct mbuf *out);

/* addr: "HOST:PORT", ":PORT" (every address), "[V6ADDR]:PORT"; port 0 picks a free one. */
int metrics_start(const char *addr, struct metrics **out);
uint16_t metrics_port(const struct metrics *m);
void metrics_stop(struct metrics *m);

/* All thread-safe. */
void metrics_publish(struct metrics *m, const char *text); /* copied */
void metrics_set_scrape(struct metrics *m, metrics_scrape_fn fn, void *ctx);
/* Other pages (the listener's thread): return true and fill out and *type when url is one
 * of fn's, false to answer 404. */
typedef bool (*metrics_page_fn)(void *ctx, const char *url, struct mbuf *out, const char **type);
void metrics_set_page(struct metrics *m, metrics_page_fn fn, void *ctx);
void metrics_set_ready(struct metrics *m, bool ready, const char *why);
void metrics_heartbeat(struct metrics *m, uint64_t now_ns, uint64_t health_timeout_ns);

#endif
