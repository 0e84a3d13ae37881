// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer harness: the watch-stream splitter (agent/k8s/watch_stream.c). The first
 * bytes choose the line limit and how the body is cut into chunks; the lines delivered
 * must be exactly those a plain split of the whole body gives (the contract of
 * watch_stream.h: "\n" ends a line, one "\r" before it is dropped, blank lines carry
 * nothing, lines over the limit are reported with their length instead), whatever the
 * chunking. Each delivered line also goes through the watch-event parser, as in the agent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/objects.h"
#include "k8s/watch_stream.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

/* The expected events: lines as (len, bytes) or oversize reports (len, NULL). */
struct expect {
	const char *body;
	size_t body_len;
	const char **line;
	size_t *len;
	size_t n, next;
};

static void expect_add(struct expect *e, const char *line, size_t len)
{
	e->line[e->n] = line;
	e->len[e->n] = len;
	e->n++;
}

/* The reference: split the whole body at once. */
static void reference(struct expect *e, size_t max_line)
{
	const char *p = e->body, *end = p + e->body_len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t seg = (size_t)((nl ? nl : end) - p);

		if (seg > max_line) {
			expect_add(e, NULL, seg);
		} else {
			size_t n = seg && p[seg - 1] == '\r' ? seg - 1 : seg;

			if (n)
				expect_add(e, p, n);
		}
		if (!nl)
			break;
		p = nl + 1;
	}
}

static int on_line(void *ctx, const char *line, size_t len)
{
	struct expect *e = ctx;
	struct k8s_watch_event ev = {};
	char err[256];

	CHECK(len > 0);
	CHECK(!memchr(line, '\n', len));
	CHECK(e->next < e->n);
	CHECK(e->line[e->next] != NULL);
	CHECK(e->len[e->next] == len);
	CHECK(!memcmp(e->line[e->next], line, len));
	e->next++;
	k8s_watch_event_parse(line, len, &ev, err, sizeof(err));
	k8s_watch_event_free(&ev);
	return 0;
}

static int on_oversize(void *ctx, size_t len)
{
	struct expect *e = ctx;

	CHECK(e->next < e->n);
	CHECK(e->line[e->next] == NULL);
	CHECK(e->len[e->next] == len);
	e->next++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_watch_stream ws;
	struct expect e = {};
	size_t max_line, pos;
	uint32_t rnd;

	if (size < 3)
		return 0;
	max_line = 1 + data[0] * 4u;       /* 1..1021 */
	rnd = data[1] | (uint32_t)data[2] << 8; /* chunking */
	e.body = (const char *)data + 3;
	e.body_len = size - 3;
	e.line = calloc(e.body_len + 1, sizeof(*e.line));
	e.len = calloc(e.body_len + 1, sizeof(*e.len));
	reference(&e, max_line);

	k8s_watch_stream_init(&ws, max_line, on_line, on_oversize, &e);
	for (pos = 0; pos < e.body_len;) {
		size_t chunk;

		rnd = rnd * 1103515245u + 12345u;
		chunk = 1 + (rnd >> 16) % 64;
		if (chunk > e.body_len - pos)
			chunk = e.body_len - pos;
		CHECK(k8s_watch_stream_feed(&ws, e.body + pos, chunk) == 0);
		pos += chunk;
	}
	CHECK(k8s_watch_stream_finish(&ws) == 0);
	CHECK(e.next == e.n);
	CHECK(ws.bytes_fed == e.body_len);
	CHECK(ws.bytes_copied <= ws.bytes_fed);
	CHECK(ws.cap <= max_line + 1);
	k8s_watch_stream_free(&ws);
	free(e.line);
	free(e.len);
	return 0;
}
