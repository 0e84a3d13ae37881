// SPDX-License-Identifier: BSD-2-Clause
/* The agent's Kubernetes client (see kube_client.h): one list-then-watch per resource
 * type, every transfer in one libcurl multi handle driven by kube_client_run().
 *
 * Each followed type is a small state machine with at most one request in flight:
 *
 *   list (page, page, ...) --complete--> watch from the list's resourceVersion
 *     ^                                     |  ADDED/MODIFIED/DELETED/BOOKMARK
 *     |                                     v
 *     +-- 410 (HTTP or ERROR event), malformed or oversize event, 403/404 on watch
 *                                      watch ends or fails: watch again from the
 *                                      last resourceVersion (after backoff on error)
 *
 * Failures back off exponentially with jitter; 429 waits at least Retry-After; 401
 * re-reads the token and retries once; 403/404 on a list reports the type
 * UNAVAILABLE once and retries slowly. A watch that has not sent a byte (not even a
 * bookmark) for stall_timeout_ms is dropped and re-established on a fresh
 * connection. Nothing is reported to the caller that did not come from a complete,
 * well-formed response, so the caller's cache keeps its last good state.
 *
 * Sections: helpers, TLS and requests, the list/watch state machine, writes, the loop. */
#include "kube_client.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "k8s/objects.h"
#include "k8s/watch_stream.h"
#include "log.h"

/* Tunables. */
#define KUBE_DEF_REQUEST_TIMEOUT_MS 10000
#define KUBE_DEF_WATCH_TIMEOUT_S 300
#define KUBE_DEF_STALL_TIMEOUT_MS 90000
#define KUBE_DEF_PAGE_LIMIT 500
#define KUBE_DEF_BACKOFF_MIN_MS 200
#define KUBE_DEF_BACKOFF_MAX_MS 30000
#define KUBE_DEF_UNAVAILABLE_RETRY_MS 60000
#define KUBE_TOKEN_REREAD_MS 60000        /* token file re-read at least this often (client-go: 1 min) */
#define KUBE_LIST_MAX_BYTES (512u << 20)  /* one list page (bytes, decoded) */
#define KUBE_ERROR_BODY_MAX (64u << 10)   /* error bodies of lists and watches kept (bytes) */
/* Write responses carry the whole object (a status write GETs it first): the API server
 * stores objects up to 1.5 MiB (etcd) and accepts request bodies up to 3 MiB; this cap
 * is above both and only guards against a runaway response. */
#define KUBE_OBJECT_MAX (16u << 20)
#define KUBE_RETRY_AFTER_MAX_S 600        /* a longer Retry-After is capped (seconds) */
#define KUBE_WATCH_HEALTHY_MS 500         /* a watch that lasted this long ended normally (ms) */
#define KUBE_WRITE_MAX_ATTEMPTS 3         /* per write, counting 401 and 429 retries */
#define KUBE_TCP_KEEPIDLE_S 30
#define KUBE_TCP_KEEPINTVL_S 10
#define KUBE_USER_AGENT "bpfsplit-agent"

/* ---- helpers ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A value for a quoted log field: quotes and line breaks replaced. */
static const char *qv(char *buf, size_t cap, const char *s)
{
	size_t i;

	snprintf(buf, cap, "%s", s ? s : "");
	for (i = 0; buf[i]; i++)
		if (buf[i] == '"' || buf[i] == '\n' || buf[i] == '\r')
			buf[i] = buf[i] == '"' ? '\'' : ' ';
	return buf;
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	return n < 0 ? NULL : s;
}

/* ---- state ---- */

enum req_kind { REQ_LIST, REQ_WATCH, REQ_WRITE };

/* Why a write callback stopped a transfer. */
enum req_abort {
	ABORT_NONE = 0,
	ABORT_RELIST,   /* 410 ERROR event: list again now */
	ABORT_BAD_DATA, /* malformed or oversize event: list again after a backoff */
	ABORT_REWATCH,  /* another ERROR event: watch again from the last resourceVersion */
	ABORT_TOO_BIG,  /* a list page or error body over its limit */
	ABORT_NOMEM,
};

struct kube_type;
struct kube_write;

struct kube_req {
	struct kube_client *kc;
	enum req_kind kind;
	struct kube_type *t;          /* REQ_LIST, REQ_WATCH */
	struct kube_write *wr;        /* REQ_WRITE */
	CURL *easy;
	struct curl_slist *headers;
	char *url;
	char *body;                   /* response body (lists, writes, error statuses) */
	size_t len, cap, max;
	enum req_abort abort;
	int64_t started_ms, last_byte_ms;
	uint64_t lines;               /* watch lines received on this request */
	char errbuf[CURL_ERROR_SIZE];
};

struct kube_type {
	struct kube_client *kc;
	int idx;
	char *name;                   /* "httproutes.gateway.networking.k8s.io", for logs */
	char *path;                   /* "/apis/G/V/PLURAL" or "/api/V/PLURAL" */
	kube_event_fn fn;
	void *ctx;
	struct kube_req *req;         /* in flight, or NULL */
	int64_t due_ms;               /* idle: when the next request starts */
	bool relist;                  /* the next request is a list (else a watch) */
	bool fresh_connect;           /* the next request must not reuse a connection */
	char rv[K8S_RV_MAX];          /* last resourceVersion seen: watch from here */
	char *cont;                   /* continue token of the list in progress */
	bool resync_open;             /* RESYNC_BEGIN sent, RESYNC_END not yet */
	bool synced;                  /* first list complete, or reported UNAVAILABLE */
	bool unavailable;             /* UNAVAILABLE reported and not listed since */
	bool auth_retried;            /* a 401 was retried with a re-read token */
	unsigned failures;            /* consecutive failed requests, for the backoff */
	unsigned bad_data;            /* consecutive relists for bad events, for their backoff */
	bool watching;                /* a watch is open and answering (200) */
	char *group, *plural;         /* the resource, for status writes and other versions */
	const char *const *more_versions; /* the resource's other versions (NULL-terminated) */
	const char *version;          /* the version followed now */
	const char *first_version;
	size_t ver_idx;               /* 0: the first version, i: more_versions[i - 1] */
	bool throttled;               /* the last answer was a 429: its Retry-After stands */
	int64_t ok_ms;                /* last time the server answered this type successfully */
	struct k8s_watch_stream ws;
};

/* A status write is a read-modify-write: GET the object (phase 0), merge the caller's
 * patch into it, PUT it to the status subresource (phase 1). PUT is the "update" verb,
 * the only write the agent's ClusterRole grants. */
struct kube_write {
	struct kube_write *next;
	char *url;
	char *patch;                  /* the caller's merge patch */
	char *body;                   /* phase 1: the object to PUT */
	int phase;
	char *what;                   /* "httproutes.gateway.networking.k8s.io default/x status" */
	kube_write_done_fn done;
	void *ctx;
	int attempts;
	bool auth_retried;
	int64_t due_ms;
	struct kube_req *req;
};

struct kube_client {
	struct kube_client_opts o;    /* defaults applied */
	const struct k8s_config *cfg;
	CURLM *multi;
	char *base_url;               /* server URL; host replaced by tls_server_name if set */
	struct curl_slist *connect_to;/* tls_server_name: connect to the real host */
	struct kube_type **types;
	size_t n_types;
	struct kube_write *writes;
	char *token;                  /* bearer token, NULL: none */
	bool token_loaded;
	int64_t token_ms;
	uint32_t rng;
	bool running;
	struct kube_client_stats st;
};

static uint32_t rnd(struct kube_client *kc)
{
	uint32_t x = kc->rng;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return kc->rng = x;
}

/* Exponential backoff with "equal jitter": between half and all of min << failures,
 * capped at max. Bumps the failure count. */
static int64_t backoff_ms(struct kube_client *kc, unsigned *failures)
{
	int64_t d = kc->o.backoff_min_ms;
	unsigned i;

	for (i = 0; i < *failures && d < kc->o.backoff_max_ms; i++)
		d *= 2;
	if (d > kc->o.backoff_max_ms)
		d = kc->o.backoff_max_ms;
	if (*failures < 64)
		(*failures)++;
	return d / 2 + rnd(kc) % (uint32_t)(d / 2 + 1);
}

/* ---- token ---- */

/* Make kc->token current: read once, then again when older than KUBE_TOKEN_REREAD_MS
 * or when force (after a 401). A failed re-read keeps the token we had. */
static void token_refresh(struct kube_client *kc, bool force)
{
	char err[512], ebuf[600];
	char *tok = NULL;
	int64_t now = now_ms();

	if (kc->token_loaded && (!kc->cfg->token_file || (!force && now - kc->token_ms < KUBE_TOKEN_REREAD_MS)))
		return;
	err[0] = '\0';
	if (k8s_config_token(kc->cfg, &tok, err, sizeof(err))) {
		bs_warn("msg=\"cannot read bearer token, keeping the one we have\" err=\"%s\"",
			qv(ebuf, sizeof(ebuf), err));
		kc->token_ms = now;
		return;
	}
	if (kc->token_loaded) {
		kc->st.token_reloads++;
		if (!!tok != !!kc->token || (tok && strcmp(tok, kc->token)))
			bs_info("msg=\"bearer token changed\" file=%s reason=%s", kc->cfg->token_file,
				force ? "unauthorized" : "periodic");
	}
	free(kc->token);
	kc->token = tok;
	kc->token_loaded = true;
	kc->token_ms = now;
}

/* ---- TLS and requests ---- */

/* Server, TLS verification and client credentials on one easy handle. */
static CURLcode set_tls(struct kube_client *kc, CURL *e)
{
	const struct k8s_config *c = kc->cfg;
	CURLcode r;

	if ((r = curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L)) ||
	    (r = curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L)))
		return r;
	if (c->ca_data.data) {
		struct curl_blob b = { c->ca_data.data, c->ca_data.len, CURL_BLOB_COPY };

		if ((r = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b)))
			return r;
	} else if (c->ca_file && (r = curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file))) {
		return r;
	}
	if (c->client_cert_data.data) {
		struct curl_blob b = { c->client_cert_data.data, c->client_cert_data.len, CURL_BLOB_COPY };

		if ((r = curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b)) ||
		    (r = curl_easy_setopt(e, CURLOPT_SSLCERTTYPE, "PEM")))
			return r;
	} else if (c->client_cert_file && (r = curl_easy_setopt(e, CURLOPT_SSLCERT, c->client_cert_file))) {
		return r;
	}
	if (c->client_key_data.data) {
		struct curl_blob b = { c->client_key_data.data, c->client_key_data.len, CURL_BLOB_COPY };

		if ((r = curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b)) ||
		    (r = curl_easy_setopt(e, CURLOPT_SSLKEYTYPE, "PEM")))
			return r;
	} else if (c->client_key_file && (r = curl_easy_setopt(e, CURLOPT_SSLKEY, c->client_key_file))) {
		return r;
	}
	if (kc->connect_to && (r = curl_easy_setopt(e, CURLOPT_CONNECT_TO, kc->connect_to)))
		return r;
	return CURLE_OK;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *arg);

static void req_free(struct kube_req *q)
{
	if (!q)
		return;
	if (q->easy) {
		curl_multi_remove_handle(q->kc->multi, q->easy);
		curl_easy_cleanup(q->easy);
	}
	curl_slist_free_all(q->headers);
	free(q->url);
	free(q->body);
	free(q);
}

/* A request ready to be added to the multi handle. url is taken over (freed on error).
 * body: the document of a PUT, or NULL for a GET. */
static int req_new(struct kube_client *kc, enum req_kind kind, char *url, const char *body,
		   bool fresh_connect, struct kube_req **out)
{
	struct kube_req *q;
	char *auth = NULL;
	CURLcode r = CURLE_OK;
	CURL *e;

	*out = NULL;
	if (!url)
		return -ENOMEM;
	q = calloc(1, sizeof(*q));
	if (!q) {
		free(url);
		return -ENOMEM;
	}
	q->kc = kc;
	q->kind = kind;
	q->url = url;
	q->max = kind == REQ_LIST ? KUBE_LIST_MAX_BYTES : kind == REQ_WRITE ? KUBE_OBJECT_MAX : KUBE_ERROR_BODY_MAX;
	q->started_ms = q->last_byte_ms = now_ms();
	q->easy = e = curl_easy_init();
	if (!e)
		goto nomem;
	token_refresh(kc, false);
	if (kc->token) {
		auth = xasprintf("Authorization: Bearer %s", kc->token);
		if (!auth)
			goto nomem;
	}
	if ((auth && !(q->headers = curl_slist_append(q->headers, auth))) ||
	    !(q->headers = curl_slist_append(q->headers, "Accept: application/json")) ||
	    (body && !(q->headers = curl_slist_append(q->headers, "Content-Type: application/json"))))
		goto nomem;
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
		auth = NULL;
	}
	if ((r = curl_easy_setopt(e, CURLOPT_URL, url)) ||
	    (r = curl_easy_setopt(e, CURLOPT_PRIVATE, q)) ||
	    (r = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) ||
	    (r = curl_easy_setopt(e, CURLOPT_HTTPHEADER, q->headers)) ||
	    (r = curl_easy_setopt(e, CURLOPT_USERAGENT, KUBE_USER_AGENT)) ||
	    (r = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf)) ||
	    (r = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body)) ||
	    (r = curl_easy_setopt(e, CURLOPT_WRITEDATA, q)) ||
	    (r = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L)) ||
	    (r = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)kc->o.request_timeout_ms)) ||
	    (r = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L)) ||
	    (r = curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, (long)KUBE_TCP_KEEPIDLE_S)) ||
	    (r = curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, (long)KUBE_TCP_KEEPINTVL_S)) ||
	    (r = set_tls(kc, e)))
		goto fail;
	/* Only https, also on redirects (which are not followed anyway). Probed: an
	 * older libcurl without the option still gets an https URL from us. */
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "https");
	if (kind == REQ_WATCH) {
		/* The server ends the watch after timeoutSeconds; this is the backstop. */
		r = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
				     (long)kc->o.watch_timeout_s * 1000L + kc->o.request_timeout_ms);
	} else {
		r = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)kc->o.request_timeout_ms);
		if (!r && kind == REQ_LIST)
			r = curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	}
	if (r)
		goto fail;
	if (body && ((r = curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT")) ||
		     (r = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body))) ||
		     (r = curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body))))
		goto fail;
	if (fresh_connect && (r = curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L)))
		goto fail;
	*out = q;
	return 0;
fail:
	bs_err("msg=\"cannot set up request\" url=%s err=\"%s\"", url, curl_easy_strerror(r));
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	req_free(q);
	return r == CURLE_OUT_OF_MEMORY ? -ENOMEM : -EINVAL;
nomem:
	if (auth) {
		explicit_bzero(auth, strlen(auth));
		free(auth);
	}
	curl_easy_cleanup(q->easy);
	q->easy = NULL;
	req_free(q);
	return -ENOMEM;
}

static int req_start(struct kube_req *q)
{
	CURLMcode m = curl_multi_add_handle(q->kc->multi, q->easy);

	if (m) {
		bs_err("msg=\"cannot start request\" url=%s err=\"%s\"", q->url, curl_multi_strerror(m));
		return -ENOMEM;
	}
	return 0;
}

static int append_body(struct kube_req *q, const char *data, size_t n)
{
	if (q->len + n > q->max) {
		q->abort = ABORT_TOO_BIG;
		q->len += n; /* remember how much there was, for the log line */
		return -EMSGSIZE;
	}
	if (q->len + n + 1 > q->cap) {
		size_t cap = q->cap ? q->cap : 16384;
		char *nb;

		while (cap < q->len + n + 1)
			cap *= 2;
		nb = realloc(q->body, cap);
		if (!nb) {
			q->abort = ABORT_NOMEM;
			return -ENOMEM;
		}
		q->body = nb;
		q->cap = cap;
	}
	memcpy(q->body + q->len, data, n);
	q->len += n;
	q->body[q->len] = '\0';
	return 0;
}

static long http_status(struct kube_req *q)
{
	long code = 0;

	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* The server answers one type again after failures: the others waiting out a backoff
 * (not a 429's Retry-After, not an unavailable type's slow retry) try again now, so that
 * the agent is whole again moments after the API server's return, not a backoff later. */
static void server_answered(struct kube_type *t)
{
	struct kube_client *kc = t->kc;
	int64_t now = now_ms();

	for (size_t i = 0; i < kc->n_types; i++) {
		struct kube_type *o = kc->types[i];

		if (o == t || o->req || !o->failures || o->unavailable || o->throttled)
			continue;
		o->failures = 0;
		if (o->due_ms > now)
			o->due_ms = now;
	}
}

/* libcurl's write callback: watch bodies go through the line splitter (and from there
 * to the caller), anything else is collected. Returning 0 stops the transfer. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kube_req *q = arg;
	size_t n = size * nmemb;

	q->last_byte_ms = now_ms();
	if (q->abort)
		return 0;
	if (q->kind == REQ_WATCH && http_status(q) == 200) {
		/* The server answers: the backoff starts over, the type is current. */
		if (q->t->failures)
			server_answered(q->t);
		q->t->failures = 0;
		q->t->throttled = false;
		q->t->watching = true;
		q->t->ok_ms = q->last_byte_ms;
		return k8s_watch_stream_feed(&q->t->ws, data, n) ? 0 : n;
	}
	return append_body(q, data, n) ? 0 : n;
}

/* The Status in an error body, for log lines and write results. */
static void body_status(struct kube_req *q, struct k8s_status *st)
{
	char err[256];
	cJSON *j;

	memset(st, 0, sizeof(*st));
	if (!q->body || !q->len || q->abort)
		return;
	j = cJSON_ParseWithLength(q->body, q->len);
	if (j)
		k8s_status_parse(j, st, err, sizeof(err));
	cJSON_Delete(j);
}

/* Seconds the server asked us to wait (Retry-After), capped; 0 when absent. */
static int64_t retry_after_ms(struct kube_req *q)
{
	curl_off_t s = 0;

	if (curl_easy_getinfo(q->easy, CURLINFO_RETRY_AFTER, &s) || s <= 0)
		return 0;
	if (s > KUBE_RETRY_AFTER_MAX_S)
		s = KUBE_RETRY_AFTER_MAX_S;
	return (int64_t)s * 1000;
}

/* ---- the list/watch state machine ---- */

static void emit(struct kube_type *t, enum kube_event_kind kind, const cJSON *obj)
{
	t->fn(t->ctx, t->idx, kind, obj);
}

/* The first of a run of failures is a warning, the repeats are debug lines (one
 * outage, one line per type), and the recovery is logged at info. */
static enum bs_log_level fail_level(const struct kube_type *t)
{
	return t->failures ? BS_LOG_DEBUG : BS_LOG_WARN;
}

static void schedule(struct kube_type *t, int64_t delay_ms)
{
	t->due_ms = now_ms() + delay_ms;
}

static void schedule_backoff(struct kube_type *t)
{
	schedule(t, backoff_ms(t->kc, &t->failures));
}

static void schedule_relist(struct kube_type *t, int64_t delay_ms)
{
	t->relist = true;
	free(t->cont);
	t->cont = NULL;
	schedule(t, delay_ms);
}

static int on_watch_line(void *arg, const char *line, size_t len)
{
	struct kube_type *t = arg;
	struct kube_client *kc = t->kc;
	struct kube_req *q = t->req;
	struct k8s_watch_event ev;
	char err[512], ebuf[600];

	q->lines++;
	if (k8s_watch_event_parse(line, len, &ev, err, sizeof(err))) {
		kc->st.errors++;
		bs_err("msg=\"malformed watch event, relisting\" resource=%s bytes=%zu err=\"%s\"", t->name,
		       len, qv(ebuf, sizeof(ebuf), err));
		q->abort = ABORT_BAD_DATA;
		return -EBADMSG;
	}
	/* The server is talking sense to us. */
	if (t->failures)
		bs_info("msg=\"watch reconnected\" resource=%s failures=%u", t->name, t->failures);
	t->failures = 0;
	t->bad_data = 0;
	switch (ev.type) {
	case K8S_EVENT_ADDED:
	case K8S_EVENT_MODIFIED:
	case K8S_EVENT_DELETED:
		if (ev.resource_version[0])
			memcpy(t->rv, ev.resource_version, sizeof(t->rv));
		kc->st.events++;
		emit(t, ev.type == K8S_EVENT_DELETED ? KUBE_EV_DELETE : KUBE_EV_UPSERT, ev.object);
		break;
	case K8S_EVENT_BOOKMARK:
		memcpy(t->rv, ev.resource_version, sizeof(t->rv));
		break;
	case K8S_EVENT_ERROR:
		if (ev.status.code == 410) {
			kc->st.relists_410++;
			bs_info("msg=\"watch expired, relisting\" resource=%s resource_version=%s reason=%s",
				t->name, t->rv, ev.status.reason);
			q->abort = ABORT_RELIST;
		} else {
			kc->st.errors++;
			bs_warn("msg=\"watch error event, watching again\" resource=%s code=%d reason=%s err=\"%s\"",
				t->name, ev.status.code, ev.status.reason,
				qv(ebuf, sizeof(ebuf), ev.status.message));
			q->abort = ABORT_REWATCH;
		}
		k8s_watch_event_free(&ev);
		return -EPIPE;
	}
	k8s_watch_event_free(&ev);
	return 0;
}

static int on_watch_oversize(void *arg, size_t len)
{
	struct kube_type *t = arg;

	t->kc->st.errors++;
	bs_err("msg=\"watch event over the size limit, relisting\" resource=%s bytes=%zu limit=%zu", t->name,
	       len, t->ws.max_line);
	t->req->abort = ABORT_BAD_DATA;
	return -EMSGSIZE;
}

/* Start the type's next request: a list page or a watch. */
static void type_start(struct kube_type *t)
{
	struct kube_client *kc = t->kc;
	struct kube_req *q;
	char *url, *esc = NULL;
	int rc;

	if (t->relist) {
		if (t->cont) {
			esc = curl_easy_escape(NULL, t->cont, 0);
			url = esc ? xasprintf("%s%s?limit=%d&continue=%s", kc->base_url, t->path,
					      kc->o.page_limit, esc) : NULL;
		} else {
			url = xasprintf("%s%s?limit=%d", kc->base_url, t->path, kc->o.page_limit);
		}
	} else {
		esc = curl_easy_escape(NULL, t->rv, 0);
		url = esc ? xasprintf("%s%s?watch=1&allowWatchBookmarks=true&resourceVersion=%s&timeoutSeconds=%d",
				      kc->base_url, t->path, esc, kc->o.watch_timeout_s) : NULL;
	}
	curl_free(esc);
	rc = req_new(kc, t->relist ? REQ_LIST : REQ_WATCH, url, NULL, t->fresh_connect, &q);
	if (!rc) {
		q->t = t;
		t->req = q;
		if (!(rc = req_start(q))) {
			t->fresh_connect = false;
			if (q->kind == REQ_WATCH) {
				kc->st.watches++;
				k8s_watch_stream_reset(&t->ws);
			}
			bs_debug("msg=\"request\" resource=%s kind=%s url=%s", t->name,
				 q->kind == REQ_WATCH ? "watch" : "list", q->url);
			return;
		}
		t->req = NULL;
		req_free(q);
	}
	kc->st.errors++;
	schedule_backoff(t);
}

/* 403/404 on a list: the type is not there for us. Reported once until it lists again. */
static void type_unavailable(struct kube_type *t, long code, const struct k8s_status *st)
{
	struct kube_client *kc = t->kc;
	int64_t r = kc->o.unavailable_retry_ms;
	char ebuf[600];

	if (!t->unavailable) {
		bs_warn("msg=\"resource type unavailable, retrying slowly\" resource=%s http_status=%ld%s "
			"retry_ms=%d err=\"%s\"", t->name, code,
			code == 404 ? " hint=\"CRD not installed?\"" : " hint=\"RBAC: grant list and watch\"",
			kc->o.unavailable_retry_ms, qv(ebuf, sizeof(ebuf), st->message));
		t->unavailable = true;
		t->synced = true;
		emit(t, KUBE_EV_UNAVAILABLE, NULL);
		t->ok_ms = now_ms(); /* answered: nothing to follow */
	} else {
		bs_debug("msg=\"resource type still unavailable\" resource=%s http_status=%ld", t->name, code);
	}
	t->failures = 0;
	schedule_relist(t, r + rnd(kc) % (uint32_t)(r / 4 + 1));
}

/* A 200 list page: deliver it, then ask for the next page or start watching. */
static void list_page(struct kube_type *t, struct kube_req *q)
{
	struct kube_client *kc = t->kc;
	struct k8s_list l;
	char err[512], ebuf[600];
	size_t i;

	if (k8s_list_parse(q->body ? q->body : "", q->len, &l, err, sizeof(err)) || !l.resource_version[0]) {
		kc->st.errors++;
		bs_err("msg=\"malformed list response, listing again\" resource=%s bytes=%zu err=\"%s\"", t->name,
		       q->len, qv(ebuf, sizeof(ebuf), l.root ? "metadata.resourceVersion missing" : err));
		k8s_list_free(&l);
		free(t->cont);
		t->cont = NULL;
		schedule_backoff(t);
		return;
	}
	if (!t->cont) {
		/* A second BEGIN before END restarts the resync (a 410 on a continue token). */
		t->resync_open = true;
		emit(t, KUBE_EV_RESYNC_BEGIN, NULL);
	}
	for (i = 0; i < l.n_items; i++)
		emit(t, KUBE_EV_UPSERT, l.items[i]);
	free(t->cont);
	t->cont = l.continue_token;
	l.continue_token = NULL;
	if (t->cont) {
		schedule(t, 0);
	} else {
		memcpy(t->rv, l.resource_version, sizeof(t->rv));
		t->resync_open = false;
		emit(t, KUBE_EV_RESYNC_END, NULL);
		if (t->unavailable)
			bs_info("msg=\"resource type available again\" resource=%s", t->name);
		else if (t->failures)
			bs_info("msg=\"listed again\" resource=%s failures=%u", t->name, t->failures);
		t->unavailable = false;
		t->synced = true;
		t->relist = false;
		if (t->failures)
			server_answered(t);
		t->failures = 0;
		t->throttled = false;
		t->ok_ms = now_ms();
		kc->st.lists++;
		bs_debug("msg=\"listed\" resource=%s resource_version=%s", t->name, t->rv);
		schedule(t, 0);
	}
	k8s_list_free(&l);
}

/* The HTTP status of a failed list or watch: 401, 429 and the rest. Returns true
 * when handled. */
static bool common_status(struct kube_type *t, struct kube_req *q, long code)
{
	struct kube_client *kc = t->kc;
	int64_t ra, b;

	if (code == 401) {
		kc->st.errors++;
		token_refresh(kc, true);
		if (!t->auth_retried) {
			t->auth_retried = true;
			schedule(t, 0);
		} else {
			bs_warn("msg=\"unauthorized\" resource=%s hint=\"check the token or client certificate\"",
				t->name);
			schedule_backoff(t);
		}
		return true;
	}
	t->auth_retried = false;
	if (code == 429) {
		t->throttled = true;
		kc->st.throttled_429++;
		ra = retry_after_ms(q);
		b = backoff_ms(kc, &t->failures);
		bs_info("msg=\"throttled by the API server\" resource=%s retry_after_ms=%lld", t->name,
			(long long)(ra > b ? ra : b));
		schedule(t, ra > b ? ra : b);
		return true;
	}
	return false;
}

static char *type_path(const struct kube_type *t)
{
	if (!t->group[0])
		return xasprintf("/api/%s/%s", t->version, t->plural);
	return xasprintf("/apis/%s/%s/%s", t->group, t->version, t->plural);
}

/* A 404 for the version followed: move to the resource's next version (true), or back
 * to its first one and report the type unavailable (false). */
static bool next_version(struct kube_type *t)
{
	const char *next = t->more_versions ? t->more_versions[t->ver_idx] : NULL;
	const char *was = t->version;
	char *path;

	if (!t->more_versions)
		return false;
	if (!next) {
		t->ver_idx = 0;
		next = t->first_version;
	} else {
		t->ver_idx++;
	}
	path = type_path(&(struct kube_type){ .group = t->group, .plural = t->plural, .version = next });
	if (!path)
		return false;
	free(t->path);
	t->path = path;
	t->version = next;
	if (t->ver_idx) {
		bs_info("msg=\"resource version not served, trying the next one\" resource=%s version=%s next=%s",
			t->name, was, next);
		return true;
	}
	return false;
}

static void list_done(struct kube_type *t, struct kube_req *q, CURLcode res)
{
	struct kube_client *kc = t->kc;
	long code = http_status(q);
	struct k8s_status st;
	char ebuf[600];

	if (q->abort == ABORT_TOO_BIG) {
		kc->st.errors++;
		bs_err("msg=\"list response over the size limit, listing again\" resource=%s bytes=%zu limit=%zu "
		       "hint=\"lower the page size\"", t->name, q->len, q->max);
		schedule_relist(t, backoff_ms(kc, &t->failures));
		return;
	}
	if (res != CURLE_OK) {
		kc->st.errors++;
		kc->st.reconnects++;
		bs_log(fail_level(t), "msg=\"list failed\" resource=%s failures=%u err=\"%s\"", t->name,
		       t->failures, qv(ebuf, sizeof(ebuf), q->errbuf[0] ? q->errbuf : curl_easy_strerror(res)));
		t->fresh_connect = true;
		schedule_relist(t, backoff_ms(kc, &t->failures));
		return;
	}
	if (code == 200) {
		t->auth_retried = false;
		list_page(t, q);
		return;
	}
	if (common_status(t, q, code))
		return;
	body_status(q, &st);
	if (code == 404 && next_version(t)) {
		schedule_relist(t, 0);
		return;
	}
	if (code == 404 || code == 403) {
		type_unavailable(t, code, &st);
		return;
	}
	if (code == 410) {
		/* A continue token expired: the list starts over. */
		kc->st.relists_410++;
		bs_info("msg=\"list continue token expired, listing again\" resource=%s", t->name);
		schedule_relist(t, 0);
		return;
	}
	kc->st.errors++;
	bs_log(fail_level(t), "msg=\"list failed\" resource=%s http_status=%ld reason=%s err=\"%s\"", t->name,
	       code, st.reason, qv(ebuf, sizeof(ebuf), st.message));
	schedule_relist(t, backoff_ms(kc, &t->failures));
}

static void watch_done(struct kube_type *t, struct kube_req *q, CURLcode res)
{
	struct kube_client *kc = t->kc;
	long code = http_status(q);
	struct k8s_status st;
	char ebuf[600];

	/* A watch that was answering was current until now, however it ended. */
	t->watching = false;
	if (code == 200)
		t->ok_ms = now_ms();
	/* The server ended the watch (timeoutSeconds): a last line may be pending. */
	if (!q->abort && res == CURLE_OK && code == 200 && k8s_watch_stream_finish(&t->ws) && !q->abort)
		q->abort = ABORT_REWATCH;
	switch (q->abort) {
	case ABORT_RELIST:
		schedule_relist(t, 0);
		return;
	case ABORT_BAD_DATA:
		/* The relist brings what the stream lost; a server that keeps sending
		 * bad events is asked less and less often. */
		schedule_relist(t, t->bad_data ? backoff_ms(kc, &t->bad_data) : 0);
		if (!t->bad_data)
			t->bad_data = 1;
		return;
	case ABORT_REWATCH:
		schedule_backoff(t);
		return;
	default:
		break;
	}
	if (res == CURLE_OK && code == 200) {
		if (q->lines || now_ms() - q->started_ms >= KUBE_WATCH_HEALTHY_MS)
			schedule(t, 0);
		else
			schedule_backoff(t);
		return;
	}
	if (res != CURLE_OK) {
		kc->st.errors++;
		kc->st.reconnects++;
		bs_log(fail_level(t), "msg=\"watch connection failed, reconnecting\" resource=%s resource_version=%s "
		       "failures=%u err=\"%s\"", t->name, t->rv, t->failures,
		       qv(ebuf, sizeof(ebuf), q->errbuf[0] ? q->errbuf : curl_easy_strerror(res)));
		t->fresh_connect = true;
		schedule_backoff(t);
		return;
	}
	if (common_status(t, q, code))
		return;
	body_status(q, &st);
	if (code == 410) {
		kc->st.relists_410++;
		bs_info("msg=\"watch expired, relisting\" resource=%s resource_version=%s", t->name, t->rv);
		schedule_relist(t, 0);
		return;
	}
	kc->st.errors++;
	bs_log(fail_level(t), "msg=\"watch failed\" resource=%s http_status=%ld reason=%s err=\"%s\"", t->name,
	       code, st.reason, qv(ebuf, sizeof(ebuf), st.message));
	if (code == 403 || code == 404) /* the list will tell (and report UNAVAILABLE) */
		schedule_relist(t, backoff_ms(kc, &t->failures));
	else
		schedule_backoff(t);
}

/* No byte for stall_timeout_ms, not even a bookmark: the connection is presumed dead. */
static void watch_stalled(struct kube_type *t, int64_t now)
{
	struct kube_client *kc = t->kc;

	kc->st.reconnects++;
	bs_log(fail_level(t), "msg=\"watch stalled, reconnecting\" resource=%s idle_ms=%lld resource_version=%s",
	       t->name, (long long)(now - t->req->last_byte_ms), t->rv);
	req_free(t->req);
	t->req = NULL;
	t->fresh_connect = true;
	schedule_backoff(t);
}

/* ---- writes ---- */

static void write_free(struct kube_write *w)
{
	if (!w)
		return;
	req_free(w->req);
	free(w->url);
	free(w->patch);
	free(w->body);
	free(w->what);
	free(w);
}

static void write_finish(struct kube_client *kc, struct kube_write *w, int code, const char *err)
{
	struct kube_write **pp;

	for (pp = &kc->writes; *pp; pp = &(*pp)->next)
		if (*pp == w) {
			*pp = w->next;
			break;
		}
	if (err)
		bs_debug("msg=\"write failed\" object=\"%s\" http_status=%d err=\"%s\"", w->what, code, err);
	if (w->done)
		w->done(w->ctx, code, err);
	write_free(w);
}

static void write_start(struct kube_client *kc, struct kube_write *w)
{
	int rc;

	w->attempts++;
	/* Read the object itself (the "get" verb the role has), write its status. */
	rc = req_new(kc, REQ_WRITE, w->phase ? strdup(w->url) : strndup(w->url, strlen(w->url) - strlen("/status")),
		     w->phase ? w->body : NULL, false, &w->req);
	if (!rc) {
		w->req->wr = w;
		if (!(rc = req_start(w->req)))
			return;
		req_free(w->req);
		w->req = NULL;
	}
	kc->st.errors++;
	write_finish(kc, w, 0, strerror(-rc));
}

static int merge_for_put(struct kube_write *w, const char *obj_text, size_t len, char *msg, size_t msg_len);

static void write_done(struct kube_client *kc, struct kube_write *w, struct kube_req *q, CURLcode res)
{
	long code = http_status(q);
	struct k8s_status st;
	char msg[800];
	int64_t ra, b;
	unsigned f;

	w->req = NULL;
	if (res != CURLE_OK) {
		kc->st.errors++;
		snprintf(msg, sizeof(msg), "%s: %s", w->what, q->errbuf[0] ? q->errbuf : curl_easy_strerror(res));
		req_free(q);
		write_finish(kc, w, 0, msg);
		return;
	}
	if (code >= 200 && code < 300 && w->phase == 0) {
		int rc = merge_for_put(w, q->body, q->len, msg, sizeof(msg));

		req_free(q);
		if (rc) {
			write_finish(kc, w, rc, msg);
			return;
		}
		w->phase = 1;
		w->attempts = 0;
		w->due_ms = now_ms();
		return;
	}
	if (code >= 200 && code < 300) {
		req_free(q);
		write_finish(kc, w, (int)code, NULL);
		return;
	}
	if (code == 401 && !w->auth_retried && w->attempts < KUBE_WRITE_MAX_ATTEMPTS) {
		w->auth_retried = true;
		token_refresh(kc, true);
		req_free(q);
		w->due_ms = now_ms();
		return;
	}
	if (code == 429 && w->attempts < KUBE_WRITE_MAX_ATTEMPTS) {
		kc->st.throttled_429++;
		f = (unsigned)w->attempts;
		ra = retry_after_ms(q);
		b = backoff_ms(kc, &f);
		req_free(q);
		w->due_ms = now_ms() + (ra > b ? ra : b);
		return;
	}
	kc->st.errors++;
	body_status(q, &st);
	snprintf(msg, sizeof(msg), "%s: %ld %s: %s", w->what, code, st.reason[0] ? st.reason : "error",
		 st.message[0] ? st.message : "no message");
	req_free(q);
	write_finish(kc, w, (int)code, msg);
}

/* RFC 7386 merge patch of patch into target (both objects). */
static void merge_patch(cJSON *target, const cJSON *patch)
{
	const cJSON *p;

	cJSON_ArrayForEach(p, patch) {
		cJSON *t = cJSON_GetObjectItemCaseSensitive(target, p->string);

		if (cJSON_IsNull(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(target, p->string);
		} else if (cJSON_IsObject(p) && cJSON_IsObject(t)) {
			merge_patch(t, p);
		} else {
			cJSON *copy = cJSON_Duplicate(p, 1);

			if (!copy)
				continue;
			if (t)
				cJSON_ReplaceItemInObjectCaseSensitive(target, p->string, copy);
			else
				cJSON_AddItemToObject(target, p->string, copy);
		}
	}
}

/* Phase 0 done: the object as read, with the caller's patch merged, becomes the PUT
 * body. A resourceVersion in the patch is a precondition, as on the server: 409 when
 * the object moved on. Returns 0, or an HTTP-like code with msg set. */
static int merge_for_put(struct kube_write *w, const char *obj_text, size_t len, char *msg, size_t msg_len)
{
	cJSON *obj = cJSON_ParseWithLength(obj_text ? obj_text : "", obj_text ? len : 0);
	cJSON *patch = cJSON_Parse(w->patch);
	const char *want = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(patch, "metadata"), "resourceVersion"));
	const char *have = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(obj, "metadata"), "resourceVersion"));
	int rc = 0;

	if (!cJSON_IsObject(obj) || !cJSON_IsObject(patch)) {
		snprintf(msg, msg_len, "%s: cannot read the object to update", w->what);
		rc = 500;
	} else if (want && (!have || strcmp(want, have))) {
		snprintf(msg, msg_len, "%s: 409 Conflict: object changed since resourceVersion %s", w->what, want);
		rc = 409;
	} else {
		merge_patch(obj, patch);
		free(w->body);
		w->body = cJSON_PrintUnformatted(obj);
		if (!w->body) {
			snprintf(msg, msg_len, "%s: out of memory", w->what);
			rc = 500;
		}
	}
	cJSON_Delete(obj);
	cJSON_Delete(patch);
	return rc;
}

static char *resource_path(const struct kube_resource *res)
{
	if (!res->group || !res->group[0])
		return xasprintf("/api/%s/%s", res->version, res->plural);
	return xasprintf("/apis/%s/%s/%s", res->group, res->version, res->plural);
}

static char *resource_name(const struct kube_resource *res)
{
	if (!res->group || !res->group[0])
		return strdup(res->plural);
	return xasprintf("%s.%s", res->plural, res->group);
}

int kube_client_update_status(struct kube_client *kc, const struct kube_resource *res, const char *ns,
			     const char *name, const char *patch_json, kube_write_done_fn done, void *ctx)
{
	struct kube_write *w, **pp;
	char *esc_ns = NULL, *esc_name = NULL, *rname = NULL;
	int rc = -ENOMEM;

	const char *version = res ? res->version : NULL;

	if (!kc || !res || !res->version || !res->plural || !ns || !ns[0] || !name || !name[0] || !patch_json)
		return -EINVAL;
	/* The version the type is followed at (it may have moved to another one). */
	for (size_t i = 0; i < kc->n_types; i++)
		if (!strcmp(kc->types[i]->plural, res->plural) && !strcmp(kc->types[i]->group, res->group ? res->group : ""))
			version = kc->types[i]->version;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	esc_ns = curl_easy_escape(NULL, ns, 0);
	esc_name = curl_easy_escape(NULL, name, 0);
	rname = resource_name(res);
	if (!esc_ns || !esc_name || !rname)
		goto out;
	if (!res->group || !res->group[0])
		w->url = xasprintf("%s/api/%s/namespaces/%s/%s/%s/status", kc->base_url, version, esc_ns,
				   res->plural, esc_name);
	else
		w->url = xasprintf("%s/apis/%s/%s/namespaces/%s/%s/%s/status", kc->base_url, res->group,
				   version, esc_ns, res->plural, esc_name);
	w->patch = strdup(patch_json);
	w->what = xasprintf("%s %s/%s status", rname, ns, name);
	if (!w->url || !w->patch || !w->what)
		goto out;
	w->done = done;
	w->ctx = ctx;
	w->due_ms = now_ms();
	for (pp = &kc->writes; *pp; pp = &(*pp)->next)
		;
	*pp = w;
	w = NULL;
	rc = 0;
out:
	curl_free(esc_ns);
	curl_free(esc_name);
	free(rname);
	write_free(w);
	return rc;
}

/* ---- the client and the loop ---- */

static void opts_defaults(struct kube_client_opts *o)
{
	if (o->request_timeout_ms <= 0)
		o->request_timeout_ms = KUBE_DEF_REQUEST_TIMEOUT_MS;
	if (o->watch_timeout_s <= 0)
		o->watch_timeout_s = KUBE_DEF_WATCH_TIMEOUT_S;
	if (o->stall_timeout_ms <= 0)
		o->stall_timeout_ms = KUBE_DEF_STALL_TIMEOUT_MS;
	if (o->page_limit <= 0)
		o->page_limit = KUBE_DEF_PAGE_LIMIT;
	if (!o->max_event_bytes)
		o->max_event_bytes = K8S_WATCH_DEFAULT_MAX_EVENT;
	if (o->backoff_min_ms <= 0)
		o->backoff_min_ms = KUBE_DEF_BACKOFF_MIN_MS;
	if (o->backoff_max_ms <= 0)
		o->backoff_max_ms = KUBE_DEF_BACKOFF_MAX_MS;
	if (o->backoff_max_ms < o->backoff_min_ms)
		o->backoff_max_ms = o->backoff_min_ms;
	if (o->unavailable_retry_ms <= 0)
		o->unavailable_retry_ms = KUBE_DEF_UNAVAILABLE_RETRY_MS;
}

/* With tls_server_name, requests name that host (SNI and certificate check) and
 * CURLOPT_CONNECT_TO sends them to the server's real host and port. */
static int set_server(struct kube_client *kc)
{
	const struct k8s_config *c = kc->cfg;
	char *host = NULL, *port = NULL, *url = NULL, *entry = NULL;
	CURLU *u;
	int rc = -EINVAL;

	if (!c->tls_server_name || !c->tls_server_name[0]) {
		kc->base_url = strdup(c->server);
		return kc->base_url ? 0 : -ENOMEM;
	}
	u = curl_url();
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, c->server, 0) ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) ||
	    curl_url_set(u, CURLUPART_HOST, c->tls_server_name, 0) ||
	    curl_url_get(u, CURLUPART_URL, &url, 0)) {
		bs_err("msg=\"bad server URL or tls-server-name\" server=%s tls_server_name=%s", c->server,
		       c->tls_server_name);
		goto out;
	}
	entry = xasprintf("%s:%s:%s:%s", c->tls_server_name, port, host, port);
	kc->base_url = strdup(url);
	rc = -ENOMEM;
	if (!entry || !kc->base_url || !(kc->connect_to = curl_slist_append(NULL, entry)))
		goto out;
	/* curl_url_get adds a "/" path; our paths bring their own. */
	if (kc->base_url[strlen(kc->base_url) - 1] == '/')
		kc->base_url[strlen(kc->base_url) - 1] = '\0';
	rc = 0;
out:
	curl_free(host);
	curl_free(port);
	curl_free(url);
	free(entry);
	curl_url_cleanup(u);
	return rc;
}

int kube_client_new(const struct kube_client_opts *opts, struct kube_client **out)
{
	const struct k8s_config *c;
	struct kube_client *kc;
	CURLcode r;
	CURL *probe;
	int rc;

	*out = NULL;
	if (!opts || !opts->config || !opts->config->server)
		return -EINVAL;
	c = opts->config;
	if (strncasecmp(c->server, "https://", 8)) {
		bs_err("msg=\"API server must be reached over https\" server=%s", c->server);
		return -EINVAL;
	}
	if (c->insecure_skip_tls_verify) {
		bs_err("msg=\"refusing insecure-skip-tls-verify: TLS is always verified\" server=%s "
		       "hint=\"give the cluster's CA (certificate-authority or certificate-authority-data)\"",
		       c->server);
		return -EINVAL;
	}
	if ((c->has_exec || c->has_auth_provider) && !c->token && !c->token_file &&
	    !c->client_cert_file && !c->client_cert_data.data)
		bs_warn("msg=\"kubeconfig user needs an exec or auth-provider plugin, which is not supported; "
			"requests will be unauthenticated\" context=%s", c->context ? c->context : "");
	if (curl_global_init(CURL_GLOBAL_DEFAULT))
		return -ENOMEM;
	kc = calloc(1, sizeof(*kc));
	if (!kc) {
		curl_global_cleanup();
		return -ENOMEM;
	}
	kc->o = *opts;
	opts_defaults(&kc->o);
	kc->cfg = c;
	kc->rng = (uint32_t)(now_ms() ^ ((uint64_t)getpid() << 16)) | 1;
	rc = -ENOMEM;
	if (!(kc->multi = curl_multi_init()) || (rc = set_server(kc)))
		goto fail;
	/* Probe the TLS options this libcurl must support (blobs need an OpenSSL-like backend). */
	probe = curl_easy_init();
	if (!probe) {
		rc = -ENOMEM;
		goto fail;
	}
	r = set_tls(kc, probe);
	curl_easy_cleanup(probe);
	if (r) {
		bs_err("msg=\"libcurl cannot apply the TLS settings\" server=%s err=\"%s\" "
		       "hint=\"in-memory CA or client certificates need libcurl >= 7.77 with OpenSSL; "
		       "use files instead\"", c->server, curl_easy_strerror(r));
		rc = -EOPNOTSUPP;
		goto fail;
	}
	*out = kc;
	return 0;
fail:
	kube_client_free(kc);
	return rc;
}

void kube_client_free(struct kube_client *kc)
{
	size_t i;

	if (!kc)
		return;
	while (kc->writes) {
		struct kube_write *w = kc->writes;

		req_free(w->req);
		w->req = NULL;
		write_finish(kc, w, 0, "cancelled: client shut down");
	}
	for (i = 0; i < kc->n_types; i++) {
		struct kube_type *t = kc->types[i];

		req_free(t->req);
		k8s_watch_stream_free(&t->ws);
		free(t->cont);
		free(t->name);
		free(t->path);
		free(t->group);
		free(t->plural);
		free(t);
	}
	free(kc->types);
	if (kc->multi)
		curl_multi_cleanup(kc->multi);
	curl_slist_free_all(kc->connect_to);
	free(kc->base_url);
	if (kc->token) {
		explicit_bzero(kc->token, strlen(kc->token));
		free(kc->token);
	}
	free(kc);
	curl_global_cleanup();
}

int kube_client_watch(struct kube_client *kc, const struct kube_resource *res, kube_event_fn fn, void *ctx)
{
	struct kube_type *t, **types;

	if (!kc || !res || !res->version || !res->version[0] || !res->plural || !res->plural[0] || !fn)
		return -EINVAL;
	if (kc->n_types >= INT32_MAX)
		return -E2BIG;
	types = realloc(kc->types, (kc->n_types + 1) * sizeof(*types));
	if (!types)
		return -ENOMEM;
	kc->types = types;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->kc = kc;
	t->idx = (int)kc->n_types;
	t->fn = fn;
	t->ctx = ctx;
	t->relist = true;
	t->due_ms = 0;
	t->ok_ms = now_ms();
	t->name = resource_name(res);
	t->path = resource_path(res);
	t->group = strdup(res->group ? res->group : "");
	t->plural = strdup(res->plural);
	t->version = t->first_version = res->version;
	t->more_versions = res->more_versions;
	if (!t->name || !t->path || !t->group || !t->plural) {
		free(t->group);
		free(t->plural);
		free(t->name);
		free(t->path);
		free(t);
		return -ENOMEM;
	}
	k8s_watch_stream_init(&t->ws, kc->o.max_event_bytes, on_watch_line, on_watch_oversize, t);
	kc->types[kc->n_types++] = t;
	return t->idx;
}

bool kube_client_synced(const struct kube_client *kc)
{
	size_t i;

	if (!kc)
		return false;
	for (i = 0; i < kc->n_types; i++)
		if (!kc->types[i]->synced)
			return false;
	return true;
}

int64_t kube_client_stale_ms(const struct kube_client *kc)
{
	int64_t now = now_ms(), worst = 0;

	for (size_t i = 0; kc && i < kc->n_types; i++) {
		const struct kube_type *t = kc->types[i];
		/* A watch whose 200 arrived is current even before its first event or
		 * bookmark (a quiet cluster may send neither for a minute). */
		bool open = t->watching || (t->req && t->req->kind == REQ_WATCH && http_status(t->req) == 200);

		/* A type the server says it cannot list (CRD not installed, forbidden) is
		 * current while its retries get that answer. */
		if (t->unavailable && !t->failures)
			continue;

		if (!open && now - t->ok_ms > worst)
			worst = now - t->ok_ms;
	}
	return worst;
}

void kube_client_get_stats(const struct kube_client *kc, struct kube_client_stats *out)
{
	*out = kc->st;
}

/* Completed transfers: hand each to its owner. */
static void drain(struct kube_client *kc)
{
	struct kube_req *q;
	CURLMsg *m;
	CURLcode res;
	int left;

	while ((m = curl_multi_info_read(kc->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		res = m->data.result;
		q = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&q);
		if (!q)
			continue;
		curl_multi_remove_handle(kc->multi, q->easy);
		if (q->kind == REQ_WRITE) {
			write_done(kc, q->wr, q, res);
			continue;
		}
		/* t->req stays set while the handler runs: the last line of a watch
		 * body (k8s_watch_stream_finish) is handled with it. */
		if (q->kind == REQ_LIST)
			list_done(q->t, q, res);
		else
			watch_done(q->t, q, res);
		q->t->req = NULL;
		req_free(q);
	}
}

/* Start what is due; return the earliest future deadline (due times, stalls). */
static int64_t timers(struct kube_client *kc, int64_t now)
{
	int64_t next = INT64_MAX, at;
	struct kube_write *w, *wn;
	size_t i;

	for (i = 0; i < kc->n_types; i++) {
		struct kube_type *t = kc->types[i];

		if (t->req && t->req->kind == REQ_WATCH) {
			at = t->req->last_byte_ms + kc->o.stall_timeout_ms;
			if (at <= now)
				watch_stalled(t, now);
			else if (at < next)
				next = at;
		}
		if (!t->req) {
			if (t->due_ms <= now)
				type_start(t);
			else if (t->due_ms < next)
				next = t->due_ms;
		}
	}
	for (w = kc->writes; w; w = wn) {
		wn = w->next; /* write_start may finish (and free) w */
		if (w->req)
			continue;
		if (w->due_ms <= now)
			write_start(kc, w);
		else if (w->due_ms < next)
			next = w->due_ms;
	}
	return next;
}

int kube_client_run(struct kube_client *kc, int timeout_ms)
{
	int64_t deadline, now, next, wait;
	CURLMcode m;
	long ct;
	int running, rc = 0;

	if (!kc)
		return -EINVAL;
	if (kc->running)
		return -EBUSY;
	kc->running = true;
	deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		uint64_t events = kc->st.events;

		next = timers(kc, now_ms());
		m = curl_multi_perform(kc->multi, &running);
		if (m && m != CURLM_CALL_MULTI_PERFORM) {
			bs_err("msg=\"libcurl multi failed\" err=\"%s\"", curl_multi_strerror(m));
			rc = -EIO;
			break;
		}
		drain(kc);
		now = now_ms();
		/* Events delivered: hand control back at once, so that a weight patch reaches
		 * the maps without waiting out the caller's timeout. */
		if (now >= deadline || kc->st.events != events)
			break;
		/* Completions may have made something due now. */
		next = timers(kc, now);
		wait = deadline - now;
		if (next - now < wait)
			wait = next - now;
		if (!curl_multi_timeout(kc->multi, &ct) && ct >= 0 && ct < wait)
			wait = ct;
		if (wait < 0)
			wait = 0;
		m = curl_multi_poll(kc->multi, NULL, 0, (int)wait, NULL);
		if (m) {
			bs_err("msg=\"libcurl poll failed\" err=\"%s\"", curl_multi_strerror(m));
			rc = -EIO;
			break;
		}
	}
	kc->running = false;
	return rc;
}
