/* SPDX-License-Identifier: BSD-2-Clause */
/* Split a watch response body (newline-delimited JSON, delivered by libcurl in
 * chunks cut anywhere) into complete lines, one callback per line.
 *
 * Lines are found with memchr over new bytes only and copied at most once, so the
 * work is linear in the bytes fed whatever the chunking. Splitting on '\n' is safe
 * mid-UTF-8: that byte never occurs inside a multi-byte sequence. A line longer
 * than max_line is dropped, reported through on_oversize when its newline arrives,
 * and the stream resynchronises on the next line. A dropped event is a lost update:
 * the caller should usually make on_oversize return non-zero and relist. */
#ifndef BPFSPLIT_K8S_WATCH_STREAM_H
#define BPFSPLIT_K8S_WATCH_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Default largest event (bytes): etcd refuses objects over 1.5 MiB and the API
 * server requests over 3 MiB, so 4 MiB leaves room for the event envelope. */
#define K8S_WATCH_DEFAULT_MAX_EVENT (4u << 20)

/* One complete line, without its "\n" (nor a trailing "\r"), never empty.
 * Not NUL-terminated; valid only during the call. Return 0 to go on, or a
 * non-zero value (a -errno) that k8s_watch_stream_feed() then returns at once.
 * Callbacks must not feed or free the stream that called them. */
typedef int (*k8s_line_fn)(void *ctx, const char *line, size_t len);

/* A line of len bytes (without "\n") was over the limit and has been dropped.
 * Return 0 to go on, non-zero to stop as above. */
typedef int (*k8s_oversize_fn)(void *ctx, size_t len);

struct k8s_watch_stream {
	k8s_line_fn on_line;
	k8s_oversize_fn on_oversize; /* may be NULL */
	void *ctx;
	size_t max_line;        /* bytes, "\n" excluded */
	char *buf;              /* the partial line carried between chunks */
	size_t len, cap;
	bool skipping;          /* inside an oversize line: drop until "\n" */
	size_t skipped;         /* bytes of that line so far */
	/* Counters, for metrics and for tests. */
	uint64_t lines;         /* lines delivered */
	uint64_t oversize;      /* lines dropped */
	uint64_t bytes_fed;
	uint64_t bytes_copied;  /* into buf: at most bytes_fed */
};

/* max_line 0 means K8S_WATCH_DEFAULT_MAX_EVENT. Allocates nothing. */
void k8s_watch_stream_init(struct k8s_watch_stream *ws, size_t max_line, k8s_line_fn on_line,
			   k8s_oversize_fn on_oversize, void *ctx);

/* Feed the next bytes of the body. 0, -ENOMEM, or a callback's non-zero return;
 * after a non-zero return the rest of this chunk is lost: reset (or free) the
 * stream and start a new watch. */
int k8s_watch_stream_feed(struct k8s_watch_stream *ws, const void *data, size_t len);

/* End of body: a last line without "\n" is delivered (a cut JSON text fails to
 * parse on its own), an oversize line in progress is reported. Then resets. */
int k8s_watch_stream_finish(struct k8s_watch_stream *ws);

/* Forget any partial line (for a new request); keeps the buffer and counters. */
void k8s_watch_stream_reset(struct k8s_watch_stream *ws);

void k8s_watch_stream_free(struct k8s_watch_stream *ws);

#endif
