// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/k8s/watch_stream.c: the reference watch stream cut at
 * every byte boundary gives the same lines; oversize events are dropped and the
 * stream recovers; copying stays linear. Reference folder as in test_k8s_objects.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "k8s/objects.h"
#include "k8s/watch_stream.h"

#include "reference.h"

/* What the callbacks saw. */
struct sink {
	char **lines;
	size_t n;
	size_t oversize_lens[16];
	size_t n_oversize;
	int stop_after;     /* return -ECANCELED at this line (1-based); 0: never */
};

static int on_line(void *ctx, const char *line, size_t len)
{
	struct sink *s = ctx;

	s->lines = realloc(s->lines, (s->n + 1) * sizeof(*s->lines));
	assert_non_null(s->lines);
	s->lines[s->n] = malloc(len + 1);
	assert_non_null(s->lines[s->n]);
	memcpy(s->lines[s->n], line, len);
	s->lines[s->n][len] = '\0';
	s->n++;
	return s->stop_after && (int)s->n == s->stop_after ? -ECANCELED : 0;
}

static int on_oversize(void *ctx, size_t len)
{
	struct sink *s = ctx;

	assert_true(s->n_oversize < 16);
	s->oversize_lens[s->n_oversize++] = len;
	return 0;
}

static void sink_free(struct sink *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->lines[i]);
	free(s->lines);
	memset(s, 0, sizeof(*s));
}

/* Expected lines: split on "\n", drop empty ones, strip "\r". */
static void split_ref(const char *text, struct sink *want)
{
	const char *p = text;

	memset(want, 0, sizeof(*want));
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t l = nl ? (size_t)(nl - p) : strlen(p);

		if (l && p[l - 1] == '\r')
			l--;
		if (l)
			on_line(want, p, l);
		p = nl ? nl + 1 : p + l;
	}
}

static void expect_same(const struct sink *got, const struct sink *want)
{
	assert_int_equal(got->n, want->n);
	for (size_t i = 0; i < want->n; i++)
		assert_string_equal(got->lines[i], want->lines[i]);
}

/* Feed text in pieces whose ends are given by cuts[] (increasing, < len). */
static void feed_cut(struct k8s_watch_stream *ws, const char *text, size_t len, const size_t *cuts, size_t ncuts)
{
	size_t from = 0;

	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : len;
		/* Exact-size heap chunk: reading past it shows under valgrind. */
		char *chunk = malloc(to - from ? to - from : 1);

		memcpy(chunk, text + from, to - from);
		assert_int_equal(k8s_watch_stream_feed(ws, chunk, to - from), 0);
		free(chunk);
		from = to;
	}
	assert_int_equal(k8s_watch_stream_finish(ws), 0);
}

static void test_reference_every_cut(void **state)
{
	size_t len;
	char *text = ref_slurp("watch-httproute-rollout-progress.jsonl", &len);
	struct sink want, got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	split_ref(text, &want);
	assert_int_equal(want.n, 6);
	k8s_watch_stream_init(&ws, 0, on_line, on_oversize, &got);

	/* One cut at each position 0..len. */
	for (size_t cut = 0; cut <= len; cut++) {
		feed_cut(&ws, text, len, &cut, 1);
		expect_same(&got, &want);
		assert_int_equal(got.n_oversize, 0);
		sink_free(&got);
	}
	assert_int_equal(ws.lines, want.n * (len + 1));
	assert_int_equal(ws.bytes_fed, len * (len + 1));
	/* Every position at once: one byte per call. */
	{
		size_t *cuts = malloc(len * sizeof(*cuts));

		for (size_t i = 0; i < len; i++)
			cuts[i] = i + 1;
		feed_cut(&ws, text, len, cuts, len - 1);
		expect_same(&got, &want);
		sink_free(&got);
		free(cuts);
	}
	/* Pseudo-random chunk sizes (fixed seed, reproducible). */
	{
		uint32_t x = 12345;
		size_t cuts[4096], n = 0, at = 0;

		for (;;) {
			x = x * 1103515245u + 12345u;
			at += 1 + (x >> 16) % 700;
			if (at >= len || n == 4096)
				break;
			cuts[n++] = at;
		}
		feed_cut(&ws, text, len, cuts, n);
		expect_same(&got, &want);
		sink_free(&got);
	}
	/* And every line is a watch event the parser takes. */
	for (size_t i = 0; i < want.n; i++) {
		struct k8s_watch_event ev;
		char err[256];

		if (k8s_watch_event_parse(want.lines[i], strlen(want.lines[i]), &ev, err, sizeof(err)))
			fail_msg("line %zu: %s", i + 1, err);
		k8s_watch_event_free(&ev);
	}
	k8s_watch_stream_free(&ws);
	sink_free(&want);
	free(text);
}

/* A real event whose "\n" and the start of the next line come in one chunk
 * is delivered straight from that chunk, without being copied. */
static void test_no_copy_for_whole_lines(void **state)
{
	size_t len;
	char *text = ref_slurp("watch-httproute-rollout-progress.jsonl", &len);
	struct sink got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	k8s_watch_stream_init(&ws, 0, on_line, NULL, &got);
	assert_int_equal(k8s_watch_stream_feed(&ws, text, len), 0);
	assert_int_equal(ws.bytes_copied, 0);
	assert_int_equal(k8s_watch_stream_finish(&ws), 0);
	assert_int_equal(got.n, 6);
	assert_int_equal(ws.lines, 6);
	assert_null(ws.buf);
	sink_free(&got);
	k8s_watch_stream_free(&ws);
	free(text);
}

/* One large event fed a byte at a time: each byte copied once, the buffer
 * doubled a logarithmic number of times. */
static void test_linear_copying(void **state)
{
	const size_t big = 1u << 20;
	char *line = malloc(big + 1);
	struct sink got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	memset(line, 'a', big);
	line[big] = '\n';
	k8s_watch_stream_init(&ws, big, on_line, on_oversize, &got);
	for (size_t i = 0; i <= big; i++)
		assert_int_equal(k8s_watch_stream_feed(&ws, line + i, 1), 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(strlen(got.lines[0]), big);
	assert_int_equal(ws.bytes_fed, big + 1);
	assert_true(ws.bytes_copied <= ws.bytes_fed);
	assert_true(ws.cap <= big + 1);
	assert_int_equal(got.n_oversize, 0);
	sink_free(&got);
	k8s_watch_stream_free(&ws);
	free(line);
}

static void test_oversize_resync(void **state)
{
	char big[600];
	char text[800];
	size_t len;
	struct sink got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	memset(big, 'x', 500);
	big[500] = '\0';
	len = (size_t)snprintf(text, sizeof(text), "short1\n%s\nshort2\n", big);

	/* Whole, byte by byte, and cut at every position. */
	k8s_watch_stream_init(&ws, 100, on_line, on_oversize, &got);
	for (size_t cut = 0; cut <= len; cut++) {
		feed_cut(&ws, text, len, &cut, 1);
		assert_int_equal(got.n, 2);
		assert_string_equal(got.lines[0], "short1");
		assert_string_equal(got.lines[1], "short2");
		assert_int_equal(got.n_oversize, 1);
		assert_int_equal(got.oversize_lens[0], 500);
		sink_free(&got);
	}
	for (size_t i = 0; i < len; i++)
		assert_int_equal(k8s_watch_stream_feed(&ws, text + i, 1), 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(got.n_oversize, 1);
	assert_int_equal(got.oversize_lens[0], 500);
	assert_int_equal(ws.oversize, 1 + len + 1);
	sink_free(&got);
	k8s_watch_stream_free(&ws);
}

static void test_oversize_boundary(void **state)
{
	char text[300];
	struct sink got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	/* Exactly max_line bytes: accepted; one more: dropped. "\r" is not counted. */
	memset(text, 'a', 100);
	text[100] = '\n';
	memset(text + 101, 'b', 101);
	text[202] = '\n';
	memcpy(text + 203, "ok\r\n", 4);
	k8s_watch_stream_init(&ws, 100, on_line, on_oversize, &got);
	assert_int_equal(k8s_watch_stream_feed(&ws, text, 50), 0);
	assert_int_equal(k8s_watch_stream_feed(&ws, text + 50, 207 - 50), 0);
	assert_int_equal(got.n, 2);
	assert_int_equal(strlen(got.lines[0]), 100);
	assert_string_equal(got.lines[1], "ok");
	assert_int_equal(got.n_oversize, 1);
	assert_int_equal(got.oversize_lens[0], 101);
	sink_free(&got);

	/* An oversize line still open at the end of the body is reported then. */
	assert_int_equal(k8s_watch_stream_feed(&ws, text + 101, 101), 0);
	assert_int_equal(got.n_oversize, 0);
	assert_int_equal(k8s_watch_stream_finish(&ws), 0);
	assert_int_equal(got.n_oversize, 1);
	assert_int_equal(got.oversize_lens[0], 101);
	sink_free(&got);
	k8s_watch_stream_free(&ws);
}

/* The reference stream with a limit below its big events: only the BOOKMARK
 * passes; every other event is reported and the one after it still parsed. */
static void test_oversize_reference_events(void **state)
{
	size_t len;
	char *text = ref_slurp("watch-httproute-rollout-progress.jsonl", &len);
	struct sink got = { 0 };
	struct k8s_watch_stream ws;
	struct k8s_watch_event ev;
	char err[256];

	(void)state;
	k8s_watch_stream_init(&ws, 300, on_line, on_oversize, &got);
	for (size_t i = 0; i < len; i += 97)
		assert_int_equal(k8s_watch_stream_feed(&ws, text + i, len - i < 97 ? len - i : 97), 0);
	assert_int_equal(k8s_watch_stream_finish(&ws), 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.n_oversize, 5);
	assert_int_equal(k8s_watch_event_parse(got.lines[0], strlen(got.lines[0]), &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.type, K8S_EVENT_BOOKMARK);
	assert_string_equal(ev.resource_version, "185102");
	k8s_watch_event_free(&ev);
	sink_free(&got);
	k8s_watch_stream_free(&ws);
	free(text);
}

/* Multi-byte UTF-8 cut anywhere, including inside a character. */
static void test_utf8_cuts(void **state)
{
	const char *text =
		"{\"type\":\"ADDED\",\"object\":{\"metadata\":{\"name\":\"caf\xc3\xa9\",\"resourceVersion\":\"1\","
		"\"annotations\":{\"note\":\"\xe2\x9c\x93 \xf0\x9f\x9a\x80 \xe6\x97\xa5\xe6\x9c\xac\"}}}}\n"
		"{\"type\":\"DELETED\",\"object\":{\"metadata\":{\"name\":\"\xf0\x9f\x90\x99\",\"resourceVersion\":\"2\"}}}\n";
	size_t len = strlen(text);
	struct sink want, got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	split_ref(text, &want);
	assert_int_equal(want.n, 2);
	k8s_watch_stream_init(&ws, 0, on_line, on_oversize, &got);
	for (size_t a = 0; a <= len; a++) {
		for (size_t b = a; b <= len; b++) {
			size_t cuts[2] = { a, b };

			feed_cut(&ws, text, len, cuts, 2);
			expect_same(&got, &want);
			sink_free(&got);
		}
	}
	k8s_watch_stream_free(&ws);
	{
		struct k8s_watch_event ev;
		char err[256];
		const cJSON *name;

		assert_int_equal(k8s_watch_event_parse(want.lines[0], strlen(want.lines[0]), &ev, err, sizeof(err)), 0);
		name = cJSON_GetObjectItem(cJSON_GetObjectItem(ev.object, "metadata"), "name");
		assert_string_equal(name->valuestring, "caf\xc3\xa9");
		k8s_watch_event_free(&ev);
	}
	sink_free(&want);
}

static void test_blank_crlf_and_tail(void **state)
{
	const char *text = "\n\r\n{\"a\":1}\r\n\n{\"b\":2}";
	struct sink got = { 0 };
	struct k8s_watch_stream ws;

	(void)state;
	k8s_watch_stream_init(&ws, 0, on_line, NULL, &got);
	assert_int_equal(k8s_watch_stream_feed(&ws, text, strlen(text)), 0);
	assert_int_equal(got.n, 1);
	/* A last line without "\n" is delivered at the end of the body. */
	assert_int_equal(k8s_watch_stream_finish(&ws), 0);
	assert_int_equal(got.n, 2);
	assert_string_equal(got.lines[0], "{\"a\":1}");
	assert_string_equal(got.lines[1], "{\"b\":2}");
	assert_int_equal(k8s_watch_stream_finish(&ws), 0); /* nothing left */
	assert_int_equal(got.n, 2);
	sink_free(&got);

	/* reset drops a partial line (a new request starts clean). */
	assert_int_equal(k8s_watch_stream_feed(&ws, "{\"partial\":", 11), 0);
	k8s_watch_stream_reset(&ws);
	assert_int_equal(k8s_watch_stream_feed(&ws, "{\"c\":3}\n", 8), 0);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.lines[0], "{\"c\":3}");
	sink_free(&got);
	k8s_watch_stream_free(&ws);
}

static void test_callback_stops(void **state)
{
	const char *text = "one\ntwo\nthree\n";
	struct sink got = { .stop_after = 2 };
	struct k8s_watch_stream ws;

	(void)state;
	k8s_watch_stream_init(&ws, 0, on_line, NULL, &got);
	assert_int_equal(k8s_watch_stream_feed(&ws, text, strlen(text)), -ECANCELED);
	assert_int_equal(got.n, 2);
	sink_free(&got);

	/* The same from the buffered path. */
	got.stop_after = 1;
	k8s_watch_stream_reset(&ws);
	assert_int_equal(k8s_watch_stream_feed(&ws, "on", 2), 0);
	assert_int_equal(k8s_watch_stream_feed(&ws, "e\ntwo\n", 6), -ECANCELED);
	assert_int_equal(got.n, 1);
	assert_string_equal(got.lines[0], "one");
	sink_free(&got);
	k8s_watch_stream_free(&ws);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_every_cut),
		cmocka_unit_test(test_no_copy_for_whole_lines),
		cmocka_unit_test(test_linear_copying),
		cmocka_unit_test(test_oversize_resync),
		cmocka_unit_test(test_oversize_boundary),
		cmocka_unit_test(test_oversize_reference_events),
		cmocka_unit_test(test_utf8_cuts),
		cmocka_unit_test(test_blank_crlf_and_tail),
		cmocka_unit_test(test_callback_stops),
	};

	return cmocka_run_group_tests_name("k8s_watch_stream", tests, NULL, NULL);
}
