// SPDX-License-Identifier: BSD-2-Clause
/* The grace-period thread (grace.h): the loop asks, the thread notes the time and waits
 * one RCU grace period (bs_dp_grace_period), the loop frees what was retired before that
 * time on a later turn (bs_dp_flush_retired_after). The data path's handle stays on
 * the loop's thread. */
#include "grace.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

struct grace {
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool requested, stop, busy;
	uint64_t done_start_ns;  /* start of the last finished grace period, 0: none */
	uint64_t used_start_ns;  /* ... the loop has already freed for */
	uint64_t asked_ns;       /* when the loop last asked for one */
};

/* Grace periods at most this often (ns): one serves every entry retired before it. */
#define GRACE_EVERY_NS (100ull * 1000 * 1000)

/* CLOCK_MONOTONIC: the clock of the library's retire times. */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *grace_main(void *arg)
{
	struct grace *g = arg;

	pthread_mutex_lock(&g->mu);
	for (;;) {
		uint64_t start;

		while (!g->requested && !g->stop)
			pthread_cond_wait(&g->cv, &g->mu);
		if (g->stop)
			break;
		g->requested = false;
		g->busy = true;
		pthread_mutex_unlock(&g->mu);
		start = now_ns();
		bs_dp_grace_period();
		pthread_mutex_lock(&g->mu);
		g->busy = false;
		g->done_start_ns = start;
	}
	pthread_mutex_unlock(&g->mu);
	return NULL;
}

int grace_start(struct grace **out)
{
	struct grace *g = calloc(1, sizeof(*g));
	int rc;

	if (!g)
		return -ENOMEM;
	pthread_mutex_init(&g->mu, NULL);
	pthread_cond_init(&g->cv, NULL);
	rc = pthread_create(&g->thread, NULL, grace_main, g);
	if (rc) {
		bs_err("msg=\"cannot start the grace-period thread\" err=%s", strerror(rc));
		pthread_cond_destroy(&g->cv);
		pthread_mutex_destroy(&g->mu);
		free(g);
		return -rc;
	}
	*out = g;
	return 0;
}

void grace_stop(struct grace *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->mu);
	g->stop = true;
	pthread_cond_signal(&g->cv);
	pthread_mutex_unlock(&g->mu);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cv);
	pthread_mutex_destroy(&g->mu);
	free(g);
}

void grace_tick(struct grace *g, struct bs_dp *dp)
{
	uint64_t done;
	bool pending;

	if (!dp)
		return;
	if (!g) { /* no thread: the library waits inline */
		bs_dp_flush_retired(dp, false);
		return;
	}
	pthread_mutex_lock(&g->mu);
	done = g->done_start_ns;
	pending = g->requested || g->busy;
	pthread_mutex_unlock(&g->mu);
	if (done != g->used_start_ns) {
		g->used_start_ns = done;
		bs_dp_flush_retired_after(dp, done);
	}
	/* Entries retired after the last start wait for the next grace period. */
	if (!pending && now_ns() - g->asked_ns >= GRACE_EVERY_NS && bs_dp_retired_due(dp)) {
		g->asked_ns = now_ns();
		pthread_mutex_lock(&g->mu);
		g->requested = true;
		pthread_cond_signal(&g->cv);
		pthread_mutex_unlock(&g->mu);
	}
}
