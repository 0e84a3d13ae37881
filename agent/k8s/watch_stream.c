// SPDX-License-Identifier: BSD-2-Clause
/* Incremental line splitter for watch bodies; see watch_stream.h for the contract. */
#include "k8s/watch_stream.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void k8s_watch_stream_init(struct k8s_watch_stream *ws, size_t max_line, k8s_line_fn on_line,
			   k8s_oversize_fn on_oversize, void *ctx)
{
	memset(ws, 0, sizeof(*ws));
	ws->max_line = max_line ? max_line : K8S_WATCH_DEFAULT_MAX_EVENT;
	/* Keep max_line + 1 and the buffer doubling far from SIZE_MAX. */
	if (ws->max_line > SIZE_MAX / 4)
		ws->max_line = SIZE_MAX / 4;
	ws->on_line = on_line;
	ws->on_oversize = on_oversize;
	ws->ctx = ctx;
}

/* Hand one line on; a "\r" before the "\n" is not part of it, blank lines are
 * keep-alives at most and carry no event. */
static int deliver(struct k8s_watch_stream *ws, const char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	if (!len)
		return 0;
	ws->lines++;
	return ws->on_line(ws->ctx, line, len);
}

static int report_oversize(struct k8s_watch_stream *ws)
{
	size_t n = ws->skipped;

	ws->skipping = false;
	ws->skipped = 0;
	ws->oversize++;
	return ws->on_oversize ? ws->on_oversize(ws->ctx, n) : 0;
}

/* Append to the carried partial line. Capacity grows by doubling (amortised
 * linear) and never beyond max_line + 1, the caller having checked the total. */
static int append(struct k8s_watch_stream *ws, const char *p, size_t n)
{
	size_t need = ws->len + n + 1; /* + NUL, handy for debugging */

	if (need > ws->cap) {
		size_t cap = ws->cap ? ws->cap : 4096;
		char *nb;

		while (cap < need)
			cap *= 2;
		if (cap > ws->max_line + 1)
			cap = ws->max_line + 1;
		nb = realloc(ws->buf, cap);
		if (!nb)
			return -ENOMEM;
		ws->buf = nb;
		ws->cap = cap;
	}
	memcpy(ws->buf + ws->len, p, n);
	ws->len += n;
	ws->buf[ws->len] = '\0';
	ws->bytes_copied += n;
	return 0;
}

int k8s_watch_stream_feed(struct k8s_watch_stream *ws, const void *data, size_t len)
{
	const char *p = data, *end = p + len;
	int rc;

	ws->bytes_fed += len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl ? nl : end) - p);

		if (!ws->skipping && ws->len + seg > ws->max_line) {
			/* Too long: drop what is carried and skip to the next newline. */
			ws->skipping = true;
			ws->skipped = ws->len;
			ws->len = 0;
		}
		if (ws->skipping) {
			ws->skipped += seg;
			if (!nl)
				return 0;
			p = nl + 1;
			if ((rc = report_oversize(ws)))
				return rc;
			continue;
		}
		if (!nl)
			return append(ws, p, seg);
		if (ws->len == 0) {
			/* Whole line inside this chunk: hand it on without copying. */
			rc = deliver(ws, p, seg);
		} else {
			size_t total;

			if ((rc = append(ws, p, seg)))
				return rc;
			total = ws->len;
			ws->len = 0; /* before the callback, which may reset or feed */
			rc = deliver(ws, ws->buf, total);
		}
		p = nl + 1;
		if (rc)
			return rc;
	}
	return 0;
}

int k8s_watch_stream_finish(struct k8s_watch_stream *ws)
{
	int rc = 0;

	if (ws->skipping)
		rc = report_oversize(ws);
	else if (ws->len)
		rc = deliver(ws, ws->buf, ws->len);
	k8s_watch_stream_reset(ws);
	return rc;
}

void k8s_watch_stream_reset(struct k8s_watch_stream *ws)
{
	ws->len = 0;
	ws->skipping = false;
	ws->skipped = 0;
}

void k8s_watch_stream_free(struct k8s_watch_stream *ws)
{
	free(ws->buf);
	ws->buf = NULL;
	ws->cap = 0;
	k8s_watch_stream_reset(ws);
}
