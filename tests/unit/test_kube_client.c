// SPDX-License-Identifier: BSD-2-Clause
/* Tests for agent/kube_client.c against the test API server (tests/apiserver), run
 * as a subprocess through tests/unit/kube_client_helpers.py (the same server plus
 * malformed-JSON faults). Each test builds a cache from the client's events alone,
 * exactly as the agent does, and compares it with the server's objects.
 *
 * Covered: initial sync of the five types; bookmarks keep quiet streams alive;
 * watch events (patch, delete, re-create) within a second; pagination, and a 410 on
 * a continue token; compaction while disconnected (410 -> relist, a deletion seen
 * through RESYNC_END); outage and catch-up from the resourceVersion; 429
 * Retry-After; token rotation picked up after a 401; forbidden and unknown types
 * (UNAVAILABLE once); status writes; TLS verification (wrong CA, CA file,
 * insecure and http refused); server-side watch timeouts; stall detection;
 * oversize and malformed events and lists.
 *
 * Reference objects: $BPFSPLIT_K8S_REFERENCE, default tests/fixtures/k8s
 * (run from the repository root). The server and its temporary folder are removed
 * on every exit path; the server also dies with this process (PR_SET_PDEATHSIG). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "k8s/kubeconfig.h"
#include "kube_client.h"
#include "log.h"

#define PY "/usr/bin/python3"
#define HELPER "tests/unit/kube_client_helpers.py"
#define ROUTE_NS "default"
#define ROUTE_NAME "argo-rollouts-http-route"
#define STABLE "rollouts-demo-stable"
#define CANARY "rollouts-demo-canary"
#define N_EXTRA 7 /* extra Services for the pagination tests */

/* The five types the agent follows, and the server's name for each. */
enum { T_ROUTE, T_GATEWAY, T_ROLLOUT, T_SERVICE, T_SLICE, N_TYPES };
static const struct kube_resource RES[N_TYPES] = {
	{ "gateway.networking.k8s.io", "v1", "httproutes" },
	{ "gateway.networking.k8s.io", "v1", "gateways" },
	{ "argoproj.io", "v1alpha1", "rollouts" },
	{ "", "v1", "services" },
	{ "discovery.k8s.io", "v1", "endpointslices" },
};
static const char *const KIND[N_TYPES] = { "httproute", "gateway", "rollout", "service", "endpointslice" };
static const char *const FIXTURES[] = {
	"httproute-canary-30.json",  "gateway-agentgateway-proxy.json", "rollout-paused-step1-weight30.json",
	"service-stable.json",       "service-canary.json",             "endpointslice-list.json",
};
#define N_FIXTURES (sizeof(FIXTURES) / sizeof(FIXTURES[0]))

/* RBAC of the test server: the five types readable, HTTPRoute status writable;
 * gatewayclasses (served) is forbidden; widgets.example.com is granted but not served
 * (a CRD not installed: 404, as a real API server answers once RBAC allows). */
static const char RBAC[] =
	"{\"apiVersion\":\"rbac.authorization.k8s.io/v1\",\"kind\":\"ClusterRole\","
	"\"metadata\":{\"name\":\"bpfsplit-agent-test\"},\"rules\":["
	"{\"apiGroups\":[\"gateway.networking.k8s.io\"],\"resources\":[\"httproutes\",\"gateways\"],"
	"\"verbs\":[\"get\",\"list\",\"watch\"]},"
	"{\"apiGroups\":[\"gateway.networking.k8s.io\"],\"resources\":[\"httproutes/status\"],"
	"\"verbs\":[\"get\",\"patch\",\"update\"]},"
	"{\"apiGroups\":[\"argoproj.io\"],\"resources\":[\"rollouts\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
	"{\"apiGroups\":[\"\"],\"resources\":[\"services\"],\"verbs\":[\"get\",\"list\",\"watch\"]},"
	"{\"apiGroups\":[\"discovery.k8s.io\"],\"resources\":[\"endpointslices\"],"
	"\"verbs\":[\"get\",\"list\",\"watch\"]},"
	"{\"apiGroups\":[\"example.com\"],\"resources\":[\"widgets\"],\"verbs\":[\"list\",\"watch\"]}]}\n";

/* ---- the server ---- */

static struct {
	pid_t pid;
	char dir[64];          /* mkdtemp root: state/, ready.json, server.log, rbac.json */
	char path[6][256];
	char kubeconfig[512];
	char token_file[512];
	char ca[512];
	char control[128];
	char token[256];       /* the token at start, restored before each test */
} S;
enum { P_STATE, P_READY, P_LOG, P_RBAC, P_WRONG_CA, P_WRONG_KEY };

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *ref_dir(void)
{
	const char *d = getenv("BPFSPLIT_K8S_REFERENCE");

	return d && d[0] ? d : "tests/fixtures/k8s";
}

static char *slurp(const char *path)
{
	size_t len;
	char *buf;

	if (k8s_read_file(path, 64u << 20, &buf, &len))
		return NULL;
	return buf;
}

static void write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(p);
}

static void server_stop(void)
{
	int status, i;

	if (S.pid > 0) {
		kill(S.pid, SIGTERM);
		for (i = 0; i < 100 && waitpid(S.pid, &status, WNOHANG) == 0; i++)
			usleep(50000);
		if (i == 100) {
			kill(S.pid, SIGKILL);
			waitpid(S.pid, &status, 0);
		}
		S.pid = 0;
	}
	if (S.dir[0]) {
		nftw(S.dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
		S.dir[0] = '\0';
	}
}

/* Interrupted (^C, timeout(1)): still remove the server and the folder. */
static void on_signal(int sig)
{
	server_stop();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void print_server_log(void)
{
	char *log = S.dir[0] ? slurp(S.path[P_LOG]) : NULL;

	if (log)
		fprintf(stderr, "--- test API server log ---\n%s--- end ---\n", log);
	free(log);
}

static const char *jstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int group_setup(void **state)
{
	static const char *const names[] = { "state", "ready.json", "server.log", "rbac.json", "wrong-ca.crt",
					     "wrong-ca.key" };
	char *argv[64], loads[N_FIXTURES][512], *ready = NULL, cmd[1024];
	cJSON *j = NULL;
	int argc = 0, i, fd, status;
	size_t k;

	strcpy(S.dir, "/tmp/bpfsplit-kube-test-XXXXXX");
	if (!mkdtemp(S.dir)) {
		S.dir[0] = '\0';
		return -1;
	}
	atexit(server_stop);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	for (i = 0; i < 6; i++)
		snprintf(S.path[i], sizeof(S.path[i]), "%s/%s", S.dir, names[i]);
	write_text(S.path[P_RBAC], RBAC);
	argv[argc++] = PY;
	argv[argc++] = HELPER;
	argv[argc++] = "--state-dir";
	argv[argc++] = S.path[P_STATE];
	argv[argc++] = "--port";
	argv[argc++] = "0";
	argv[argc++] = "--ready-file";
	argv[argc++] = S.path[P_READY];
	argv[argc++] = "--rbac";
	argv[argc++] = S.path[P_RBAC];
	argv[argc++] = "--bookmark-interval";
	argv[argc++] = "1";
	for (k = 0; k < N_FIXTURES; k++) {
		snprintf(loads[k], sizeof(loads[k]), "%s/%s", ref_dir(), FIXTURES[k]);
		if (access(loads[k], R_OK)) {
			fprintf(stderr, "cannot read %s (set BPFSPLIT_K8S_REFERENCE or run from the repository root)\n",
				loads[k]);
			return -1;
		}
		argv[argc++] = "--load";
		argv[argc++] = loads[k];
	}
	argv[argc] = NULL;
	fflush(NULL);
	S.pid = fork();
	if (S.pid < 0)
		return -1;
	if (S.pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		fd = open(S.path[P_LOG], O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(PY, argv);
		_exit(127);
	}
	for (i = 0; i < 300 && access(S.path[P_READY], R_OK); i++) {
		if (waitpid(S.pid, &status, WNOHANG) == S.pid) {
			S.pid = 0;
			print_server_log();
			return -1;
		}
		usleep(50000);
	}
	ready = slurp(S.path[P_READY]);
	j = ready ? cJSON_Parse(ready) : NULL;
	if (!j || !jstr(j, "kubeconfig") || !jstr(j, "token_file") || !jstr(j, "ca") || !jstr(j, "control_url")) {
		print_server_log();
		free(ready);
		cJSON_Delete(j);
		return -1;
	}
	snprintf(S.kubeconfig, sizeof(S.kubeconfig), "%s", jstr(j, "kubeconfig"));
	snprintf(S.token_file, sizeof(S.token_file), "%s", jstr(j, "token_file"));
	snprintf(S.ca, sizeof(S.ca), "%s", jstr(j, "ca"));
	snprintf(S.control, sizeof(S.control), "%s", jstr(j, "control_url"));
	free(ready);
	cJSON_Delete(j);
	ready = slurp(S.token_file);
	if (!ready)
		return -1;
	ready[strcspn(ready, "\r\n")] = '\0';
	snprintf(S.token, sizeof(S.token), "%s", ready);
	free(ready);
	/* A CA that did not sign the server's certificate. */
	snprintf(cmd, sizeof(cmd),
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s -out %s "
		 "-subj /CN=wrong-ca -days 1 >/dev/null 2>&1",
		 S.path[P_WRONG_KEY], S.path[P_WRONG_CA]);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	server_stop();
	return 0;
}

/* ---- the control API (plain HTTP) ---- */

struct buf {
	char *p;
	size_t n;
};

static size_t buf_write(char *d, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;
	char *p = realloc(b->p, b->n + n + 1);

	if (!p)
		return 0;
	memcpy(p + b->n, d, n);
	b->p = p;
	b->n += n;
	p[b->n] = '\0';
	return n;
}

/* method path [body] -> HTTP status; *out the parsed reply (NULL: not wanted). */
static long ctl(const char *method, const char *path, const char *body, cJSON **out)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
	struct buf b = { 0 };
	char url[1024];
	long code = 0;
	CURL *e = curl_easy_init();

	assert_non_null(e);
	snprintf(url, sizeof(url), "%s%s", S.control, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, buf_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	if (body || !strcmp(method, "POST"))
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, body ? body : "");
	if (curl_easy_perform(e) == CURLE_OK)
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	if (out)
		*out = b.p ? cJSON_Parse(b.p) : NULL;
	free(b.p);
	return code;
}

static void ctl_ok(const char *method, const char *path, const char *body)
{
	long code = ctl(method, path, body, NULL);

	if (code != 200)
		fail_msg("control %s %s: HTTP %ld", method, path, code);
}

static void patch_route_weights(int stable, int canary)
{
	char body[1024];

	snprintf(body, sizeof(body),
		 "{\"kind\":\"httproute\",\"namespace\":\"" ROUTE_NS "\",\"name\":\"" ROUTE_NAME "\",\"patch\":"
		 "{\"spec\":{\"rules\":[{\"backendRefs\":["
		 "{\"group\":\"\",\"kind\":\"Service\",\"name\":\"" STABLE "\",\"port\":80,\"weight\":%d},"
		 "{\"group\":\"\",\"kind\":\"Service\",\"name\":\"" CANARY "\",\"port\":80,\"weight\":%d}],"
		 "\"matches\":[{\"path\":{\"type\":\"PathPrefix\",\"value\":\"/\"}}]}]}}}",
		 stable, canary);
	ctl_ok("POST", "/patch", body);
}

/* Extra Services extra-0.. for the pagination tests. */
static void apply_extra_services(void)
{
	char body[8192];
	size_t n = 0;
	int i;

	n += snprintf(body + n, sizeof(body) - n, "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[");
	for (i = 0; i < N_EXTRA; i++)
		n += snprintf(body + n, sizeof(body) - n,
			      "%s{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"extra-%d\","
			      "\"namespace\":\"default\"},\"spec\":{\"ports\":[{\"port\":%d}]}}",
			      i ? "," : "", i, 8000 + i);
	snprintf(body + n, sizeof(body) - n, "]}");
	ctl_ok("POST", "/apply", body);
}

/* The server back to its fixtures: outage over, token restored, reference objects
 * re-applied, extra objects deleted. */
static void reset_server(void)
{
	char path[1024], body[512], *text;
	cJSON *objs = NULL, *o;
	size_t k;
	int t;

	ctl_ok("POST", "/resume", NULL);
	snprintf(body, sizeof(body), "{\"token\":\"%s\"}", S.token);
	ctl_ok("POST", "/token", body);
	for (k = 0; k < N_FIXTURES; k++) {
		snprintf(path, sizeof(path), "%s/%s", ref_dir(), FIXTURES[k]);
		text = slurp(path);
		assert_non_null(text);
		ctl_ok("POST", "/apply", text);
		free(text);
	}
	for (t = 0; t < N_TYPES; t++) {
		snprintf(path, sizeof(path), "/objects?kind=%s", KIND[t]);
		assert_int_equal(ctl("GET", path, NULL, &objs), 200);
		cJSON_ArrayForEach(o, objs) {
			const cJSON *md = cJSON_GetObjectItemCaseSensitive(o, "metadata");
			const char *name = jstr(md, "name");

			if (name && !strncmp(name, "extra-", 6)) {
				snprintf(body, sizeof(body), "{\"kind\":\"%s\",\"namespace\":\"%s\",\"name\":\"%s\"}",
					 KIND[t], jstr(md, "namespace"), name);
				ctl_ok("POST", "/delete", body);
			}
		}
		cJSON_Delete(objs);
	}
	ctl_ok("GET", "/requests?clear=1", NULL);
}

/* ---- the client's log: fd 2 goes to a file during each test ----
 * Lines that are not log lines (cmocka's failure messages) are copied to the real
 * stderr afterwards; BPFSPLIT_TEST_VERBOSE=1 copies the log lines too. */

static int saved_stderr = -1;
static char log_path[300];

static void capture_start(void)
{
	int fd;

	snprintf(log_path, sizeof(log_path), "%s/client.log", S.dir);
	fflush(stderr);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return;
	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

static void capture_stop(void)
{
	bool verbose = getenv("BPFSPLIT_TEST_VERBOSE") != NULL;
	char *text, *line, *save = NULL;

	if (saved_stderr < 0)
		return;
	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	saved_stderr = -1;
	text = slurp(log_path);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
		if (verbose || strncmp(line, "ts=", 3))
			fprintf(stderr, "%s\n", line);
	free(text);
}

/* Log lines of this test containing a (and b, unless NULL). */
static int log_lines(const char *a, const char *b)
{
	char *text, *line, *save = NULL;
	int n = 0;

	fflush(stderr);
	text = slurp(log_path);
	for (line = text ? strtok_r(text, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save))
		n += !strncmp(line, "ts=", 3) && strstr(line, a) && (!b || strstr(line, b));
	free(text);
	return n;
}

/* ---- what the client told us: a cache built from its events alone ---- */

#define MAX_TYPES 8
#define MAX_ITEMS 64

struct item {
	bool used;
	char key[320];            /* namespace/name */
	cJSON *obj;               /* latest content */
	int in_resync;            /* announcements in the open resync */
};

struct rec {
	int begins[MAX_TYPES], ends[MAX_TYPES], upserts[MAX_TYPES], deletes[MAX_TYPES], unavailable[MAX_TYPES];
	int dups[MAX_TYPES];      /* objects announced twice in one resync */
	int events_outside;       /* UPSERT/DELETE before the first RESYNC_END */
	bool open[MAX_TYPES];
	bool bad_name;            /* an object named "cut" (the garbled event) got through */
	struct item items[MAX_TYPES][MAX_ITEMS];
	void (*hook)(int idx, enum kube_event_kind kind, const cJSON *obj);
};

static struct {
	struct k8s_config cfg;
	struct kube_client *kc;
	struct rec rec;
	int writes_done;
	int write_status[4];
	char write_err[4][1024];
} T;

static void key_of(const cJSON *obj, char *key, size_t cap)
{
	const cJSON *md = cJSON_GetObjectItemCaseSensitive(obj, "metadata");
	const char *ns = jstr(md, "namespace"), *name = jstr(md, "name");

	snprintf(key, cap, "%s/%s", ns ? ns : "", name ? name : "");
}

static struct item *find_item(int idx, const char *key)
{
	int i;

	for (i = 0; i < MAX_ITEMS; i++)
		if (T.rec.items[idx][i].used && !strcmp(T.rec.items[idx][i].key, key))
			return &T.rec.items[idx][i];
	return NULL;
}

static void drop_item(struct item *it)
{
	cJSON_Delete(it->obj);
	memset(it, 0, sizeof(*it));
}

static void on_event(void *ctx, int idx, enum kube_event_kind kind, const cJSON *obj)
{
	struct rec *r = ctx;
	struct item *it;
	char key[320];
	int i;

	assert_true(idx >= 0 && idx < MAX_TYPES);
	switch (kind) {
	case KUBE_EV_RESYNC_BEGIN:
		assert_null(obj);
		r->begins[idx]++;
		r->open[idx] = true;
		for (i = 0; i < MAX_ITEMS; i++)
			r->items[idx][i].in_resync = 0;
		break;
	case KUBE_EV_UPSERT:
		assert_non_null(obj);
		r->upserts[idx]++;
		if (!r->ends[idx] && !r->open[idx])
			r->events_outside++;
		key_of(obj, key, sizeof(key));
		if (strstr(key, "/cut"))
			r->bad_name = true;
		it = find_item(idx, key);
		for (i = 0; !it && i < MAX_ITEMS; i++)
			if (!r->items[idx][i].used) {
				it = &r->items[idx][i];
				it->used = true;
				snprintf(it->key, sizeof(it->key), "%s", key);
			}
		assert_non_null(it);
		cJSON_Delete(it->obj);
		it->obj = cJSON_Duplicate(obj, true);
		if (r->open[idx] && ++it->in_resync > 1)
			r->dups[idx]++;
		break;
	case KUBE_EV_DELETE:
		assert_non_null(obj);
		r->deletes[idx]++;
		key_of(obj, key, sizeof(key));
		it = find_item(idx, key);
		if (it)
			drop_item(it);
		break;
	case KUBE_EV_RESYNC_END:
		assert_true(r->open[idx]);
		r->ends[idx]++;
		r->open[idx] = false;
		for (i = 0; i < MAX_ITEMS; i++)
			if (r->items[idx][i].used && !r->items[idx][i].in_resync)
				drop_item(&r->items[idx][i]);
		break;
	case KUBE_EV_UNAVAILABLE:
		r->unavailable[idx]++;
		break;
	}
	if (r->hook)
		r->hook(idx, kind, obj);
}

static int cache_count(int idx)
{
	int i, n = 0;

	for (i = 0; i < MAX_ITEMS; i++)
		n += T.rec.items[idx][i].used;
	return n;
}

/* The cache of one type holds exactly the server's objects, at their resourceVersions. */
static bool cache_matches(int idx)
{
	char path[128], key[320];
	cJSON *objs = NULL, *o;
	struct item *it;
	bool ok = true;

	snprintf(path, sizeof(path), "/objects?kind=%s", KIND[idx]);
	assert_int_equal(ctl("GET", path, NULL, &objs), 200);
	if (cJSON_GetArraySize(objs) != cache_count(idx))
		ok = false;
	cJSON_ArrayForEach(o, objs) {
		key_of(o, key, sizeof(key));
		it = find_item(idx, key);
		if (!it || strcmp(jstr(cJSON_GetObjectItem(it->obj, "metadata"), "resourceVersion"),
				  jstr(cJSON_GetObjectItem(o, "metadata"), "resourceVersion")))
			ok = false;
	}
	cJSON_Delete(objs);
	return ok;
}

static void assert_cache_matches(int idx)
{
	if (!cache_matches(idx))
		fail_msg("cache of %s differs from the server (%d cached)", KIND[idx], cache_count(idx));
}

/* Weight of a backend of the cached HTTPRoute; -1 when absent. */
static int route_weight(const char *backend)
{
	struct item *it = find_item(T_ROUTE, ROUTE_NS "/" ROUTE_NAME);
	const cJSON *rule, *ref, *w;

	if (!it)
		return -1;
	cJSON_ArrayForEach(rule, cJSON_GetObjectItem(cJSON_GetObjectItem(it->obj, "spec"), "rules"))
		cJSON_ArrayForEach(ref, cJSON_GetObjectItem(rule, "backendRefs"))
			if (jstr(ref, "name") && !strcmp(jstr(ref, "name"), backend) &&
			    cJSON_IsNumber(w = cJSON_GetObjectItem(ref, "weight")))
				return w->valueint;
	return -1;
}

static bool weights_are(int stable, int canary)
{
	return route_weight(STABLE) == stable && route_weight(CANARY) == canary;
}

/* Run the loop in short slices until cond holds or ms pass; the value of cond. */
#define RUN_UNTIL(ms, cond)                                                      \
	({                                                                       \
		int64_t end_ = now_ms() + (ms);                                  \
		while (!(cond) && now_ms() < end_)                               \
			assert_int_equal(kube_client_run(T.kc, 20), 0);          \
		(cond);                                                          \
	})

static void run_for(int ms)
{
	int64_t end = now_ms() + ms;

	while (now_ms() < end)
		assert_int_equal(kube_client_run(T.kc, (int)(end - now_ms())), 0);
}

static struct kube_client_opts test_opts(void)
{
	struct kube_client_opts o = {
		.config = &T.cfg,
		.request_timeout_ms = 3000,
		.backoff_min_ms = 50,
		.backoff_max_ms = 400,
		.unavailable_retry_ms = 300,
	};
	return o;
}

/* A client following the five types (n_types == N_TYPES) or the listed ones. */
static void start_client(const struct kube_client_opts *o, const struct kube_resource *res, int n)
{
	int i;

	assert_int_equal(kube_client_new(o, &T.kc), 0);
	for (i = 0; i < n; i++)
		assert_int_equal(kube_client_watch(T.kc, &res[i], on_event, &T.rec), i);
}

static void start_synced(const struct kube_client_opts *o)
{
	start_client(o, RES, N_TYPES);
	if (!RUN_UNTIL(5000, kube_client_synced(T.kc)))
		fail_msg("not synced within 5 s");
}

static int test_setup(void **state)
{
	char err[512];

	memset(&T, 0, sizeof(T));
	reset_server();
	capture_start();
	if (k8s_kubeconfig_load(S.kubeconfig, NULL, &T.cfg, err, sizeof(err))) {
		fprintf(stderr, "kubeconfig: %s\n", err);
		return -1;
	}
	return 0;
}

static int test_teardown(void **state)
{
	int t, i;

	kube_client_free(T.kc);
	T.kc = NULL;
	capture_stop();
	k8s_config_free(&T.cfg);
	for (t = 0; t < MAX_TYPES; t++)
		for (i = 0; i < MAX_ITEMS; i++)
			cJSON_Delete(T.rec.items[t][i].obj);
	memset(&T, 0, sizeof(T));
	return 0;
}

static struct kube_client_stats stats(void)
{
	struct kube_client_stats st;

	kube_client_get_stats(T.kc, &st);
	return st;
}

/* ---- tests ---- */

/* Every object of the five types, once, framed by one RESYNC_BEGIN/END per type;
 * then quiet streams stay up: bookmarks (every 1 s) count as traffic. */
static void test_initial_sync(void **state)
{
	struct kube_client_opts o = test_opts();
	int t;

	o.stall_timeout_ms = 1800;
	start_synced(&o);
	for (t = 0; t < N_TYPES; t++) {
		assert_int_equal(T.rec.begins[t], 1);
		assert_int_equal(T.rec.ends[t], 1);
		assert_int_equal(T.rec.unavailable[t], 0);
		assert_int_equal(T.rec.dups[t], 0);
		assert_true(cache_count(t) >= 1);
		assert_int_equal(T.rec.upserts[t], cache_count(t));
		assert_cache_matches(t);
	}
	assert_int_equal(cache_count(T_SERVICE), 2);
	assert_int_equal(cache_count(T_SLICE), 2);
	assert_int_equal(T.rec.events_outside, 0);
	assert_true(weights_are(70, 30));
	assert_int_equal(stats().lists, N_TYPES);
	run_for(2500);
	assert_int_equal(stats().reconnects, 0);
	assert_int_equal(stats().watches, N_TYPES);
	assert_int_equal(stats().errors, 0);
}

/* A merge patch arrives as UPSERT with the new weights within a second; a delete as
 * DELETE; a re-create as UPSERT. */
static void test_watch_events(void **state)
{
	struct kube_client_opts o = test_opts();
	int64_t t0;

	start_synced(&o);
	t0 = now_ms();
	patch_route_weights(40, 60);
	assert_true(RUN_UNTIL(1000, weights_are(40, 60)));
	assert_true(now_ms() - t0 < 1000);
	assert_int_equal(T.rec.begins[T_ROUTE], 1); /* a watch event, not a relist */

	ctl_ok("POST", "/delete", "{\"kind\":\"service\",\"namespace\":\"default\",\"name\":\"" CANARY "\"}");
	assert_true(RUN_UNTIL(1000, T.rec.deletes[T_SERVICE] == 1));
	assert_null(find_item(T_SERVICE, "default/" CANARY));
	reset_server();
	assert_true(RUN_UNTIL(1000, find_item(T_SERVICE, "default/" CANARY) && weights_are(70, 30)));
	assert_cache_matches(T_SERVICE);
	assert_cache_matches(T_ROUTE);
	assert_int_equal(T.rec.begins[T_SERVICE], 1);
}

static int count_methods(const char *path_part, const char *method)
{
	cJSON *reqs = NULL, *r;
	int n = 0;

	assert_int_equal(ctl("GET", "/requests", NULL, &reqs), 200);
	cJSON_ArrayForEach(r, reqs) {
		const char *p = jstr(r, "path"), *m = jstr(r, "method");

		if (p && strstr(p, path_part) && m && !strcmp(m, method))
			n++;
	}
	cJSON_Delete(reqs);
	return n;
}

static int count_requests(const char *path_part, const char *query_part, int status)
{
	cJSON *reqs = NULL, *r;
	int n = 0;

	assert_int_equal(ctl("GET", "/requests", NULL, &reqs), 200);
	cJSON_ArrayForEach(r, reqs) {
		const char *p = jstr(r, "path"), *q = jstr(r, "query");
		const cJSON *st = cJSON_GetObjectItem(r, "status");

		if (p && strstr(p, path_part) && (!query_part || (q && strstr(q, query_part))) &&
		    (!status || (cJSON_IsNumber(st) && st->valueint == status)))
			n++;
	}
	cJSON_Delete(reqs);
	return n;
}

/* Pages of 2: every Service exactly once, through continue tokens. */
static void test_pagination(void **state)
{
	struct kube_client_opts o = test_opts();

	apply_extra_services();
	ctl_ok("GET", "/requests?clear=1", NULL);
	o.page_limit = 2;
	start_synced(&o);
	assert_int_equal(cache_count(T_SERVICE), N_EXTRA + 2);
	assert_int_equal(T.rec.upserts[T_SERVICE], N_EXTRA + 2);
	assert_int_equal(T.rec.dups[T_SERVICE], 0);
	assert_int_equal(T.rec.begins[T_SERVICE], 1);
	assert_cache_matches(T_SERVICE);
	assert_int_equal(count_requests("/api/v1/services", "continue=", 200), (N_EXTRA + 2 + 1) / 2 - 1);
	assert_int_equal(count_requests("/api/v1/services", "limit=2", 200), (N_EXTRA + 2 + 1) / 2);
}

/* A 410 on a continue token (history compacted between pages) restarts the list:
 * a second RESYNC_BEGIN, then every object once. */
static void compact_on_first_service_page(int idx, enum kube_event_kind kind, const cJSON *obj)
{
	if (idx == T_SERVICE && kind == KUBE_EV_RESYNC_BEGIN && T.rec.begins[T_SERVICE] == 1)
		ctl_ok("POST", "/compact", NULL);
}

static void test_continue_expired(void **state)
{
	struct kube_client_opts o = test_opts();

	apply_extra_services();
	ctl_ok("GET", "/requests?clear=1", NULL);
	o.page_limit = 2;
	T.rec.hook = compact_on_first_service_page;
	start_synced(&o);
	assert_int_equal(T.rec.begins[T_SERVICE], 2);
	assert_int_equal(T.rec.ends[T_SERVICE], 1);
	assert_int_equal(T.rec.dups[T_SERVICE], 0);
	assert_int_equal(cache_count(T_SERVICE), N_EXTRA + 2);
	assert_cache_matches(T_SERVICE);
	assert_int_equal(count_requests("/api/v1/services", "continue=", 410), 1);
	assert_true(stats().relists_410 >= 1);
}

/* Disconnected while history is compacted: the watch from the old resourceVersion
 * gets 410 and every type relists; a Service deleted meanwhile leaves the cache
 * through RESYNC_END, the patched route arrives with its new weights. */
static void test_compaction_relist(void **state)
{
	struct kube_client_opts o = test_opts();
	int t;

	start_synced(&o);
	ctl_ok("POST", "/pause?mode=close", NULL);
	patch_route_weights(20, 80);
	ctl_ok("POST", "/delete", "{\"kind\":\"service\",\"namespace\":\"default\",\"name\":\"" CANARY "\"}");
	ctl_ok("POST", "/compact", NULL);
	run_for(300);
	ctl_ok("POST", "/resume", NULL);
	assert_true(RUN_UNTIL(5000, T.rec.ends[T_ROUTE] == 2 && T.rec.ends[T_SERVICE] == 2));
	assert_true(weights_are(20, 80));
	assert_null(find_item(T_SERVICE, "default/" CANARY));
	assert_int_equal(T.rec.deletes[T_SERVICE], 0); /* learnt from the relist, not a watch event */
	for (t = 0; t < N_TYPES; t++) {
		assert_true(RUN_UNTIL(3000, T.rec.ends[t] == 2));
		assert_int_equal(T.rec.begins[t], 2);
		assert_int_equal(T.rec.dups[t], 0);
		assert_cache_matches(t);
	}
	assert_true(stats().relists_410 >= N_TYPES);
}

/* API outage (connections refused): the client backs off, then resumes each watch
 * from its resourceVersion and catches up without a relist. */
static void test_outage_catch_up(void **state)
{
	struct kube_client_opts o = test_opts();
	struct kube_client_stats st;

	start_synced(&o);
	ctl_ok("POST", "/pause?mode=refuse", NULL);
	run_for(600);
	patch_route_weights(10, 90);
	run_for(600);
	assert_true(weights_are(70, 30));
	st = stats();
	assert_true(st.reconnects >= N_TYPES);
	assert_true(st.reconnects < 200); /* backed off, not a busy loop */
	ctl_ok("POST", "/resume", NULL);
	assert_true(RUN_UNTIL(3000, weights_are(10, 90)));
	assert_int_equal(T.rec.begins[T_ROUTE], 1);
	assert_cache_matches(T_ROUTE);
}

struct req_time {
	double t;
	int status;
};

/* 429 with Retry-After: 1 on the first HTTPRoute request: the next one waits at
 * least a second (by the server's clock); the other types are not held up. */
static void test_429_retry_after(void **state)
{
	struct kube_client_opts o = test_opts();
	struct req_time rt[32];
	double first_other = 0;
	cJSON *reqs = NULL, *r;
	int n = 0;

	ctl_ok("POST", "/inject?code=429&count=1&retry_after=1&path=httproutes", NULL);
	start_synced(&o);
	assert_int_equal(stats().throttled_429, 1);
	assert_int_equal(T.rec.begins[T_ROUTE], 1);
	assert_cache_matches(T_ROUTE);
	assert_int_equal(ctl("GET", "/requests", NULL, &reqs), 200);
	cJSON_ArrayForEach(r, reqs) {
		const char *p = jstr(r, "path");
		double t = cJSON_GetObjectItem(r, "time")->valuedouble;

		if (p && strstr(p, "/httproutes") && n < 32) {
			rt[n].t = t;
			rt[n++].status = cJSON_GetObjectItem(r, "status")->valueint;
		} else if (p && strstr(p, "/services") && !first_other) {
			first_other = t;
		}
	}
	cJSON_Delete(reqs);
	assert_true(n >= 2);
	assert_int_equal(rt[0].status, 429);
	assert_int_equal(rt[1].status, 200);
	if (rt[1].t - rt[0].t < 0.99)
		fail_msg("request after 429 came %.3f s later, Retry-After was 1 s", rt[1].t - rt[0].t);
	assert_true(first_other > 0 && first_other - rt[0].t < 0.9);
}

/* The token file rotates: the next request gets 401, the client re-reads the file
 * and retries. */
static void on_write(void *ctx, int http_status, const char *err)
{
	int i = (int)(intptr_t)ctx;

	T.write_status[i] = http_status;
	snprintf(T.write_err[i], sizeof(T.write_err[i]), "%s", err ? err : "");
	T.writes_done++;
}

static const char STATUS_PATCH[] =
	"{\"status\":{\"parents\":[{\"parentRef\":{\"group\":\"gateway.networking.k8s.io\",\"kind\":\"Gateway\","
	"\"name\":\"agentgateway-proxy\",\"namespace\":\"kgateway-system\"},"
	"\"controllerName\":\"bpfsplit.io/agent\","
	"\"conditions\":[{\"type\":\"Accepted\",\"status\":\"True\",\"reason\":\"Accepted\",\"message\":\"%s\","
	"\"lastTransitionTime\":\"2025-01-01T00:00:00Z\",\"observedGeneration\":1}]}]}}";

static void test_token_rotation(void **state)
{
	struct kube_client_opts o = test_opts();
	char patch[1024];

	free(T.cfg.token_file);
	T.cfg.token_file = strdup(S.token_file); /* as in a pod: a file that rotates */
	start_synced(&o);
	assert_int_equal(stats().token_reloads, 0);
	ctl_ok("POST", "/token", "{\"token\":\"rotated-token-2\"}");
	ctl_ok("GET", "/requests?clear=1", NULL);
	snprintf(patch, sizeof(patch), STATUS_PATCH, "after rotation");
	assert_int_equal(kube_client_update_status(T.kc, &RES[T_ROUTE], ROUTE_NS, ROUTE_NAME, patch, on_write,
						  (void *)0), 0);
	assert_true(RUN_UNTIL(3000, T.writes_done == 1));
	assert_int_equal(T.write_status[0], 200);
	assert_int_equal(count_requests("/httproutes/", NULL, 401), 1);
	/* A status write is a GET and a PUT to /status (the "update" verb). */
	assert_int_equal(count_requests("/httproutes/", NULL, 200), 2);
	assert_int_equal(count_methods("/status", "PUT"), 1);
	assert_int_equal(count_methods("/status", "PATCH"), 0);
	assert_true(stats().token_reloads >= 1);
	/* Reconnected watches use the new token too. */
	ctl_ok("POST", "/pause?mode=close", NULL);
	run_for(100);
	ctl_ok("POST", "/resume", NULL);
	patch_route_weights(50, 50);
	assert_true(RUN_UNTIL(3000, weights_are(50, 50)));
}

/* A forbidden type (RBAC) and an unknown one (no such CRD): UNAVAILABLE once each,
 * retried slowly and silently; the five others sync and keep working. */
static void test_unavailable_types(void **state)
{
	const struct kube_resource res[N_TYPES + 2] = {
		RES[0], RES[1], RES[2], RES[3], RES[4],
		{ "gateway.networking.k8s.io", "v1", "gatewayclasses" },
		{ "example.com", "v1", "widgets" },
	};
	struct kube_client_opts o = test_opts();
	int t;

	start_client(&o, res, N_TYPES + 2);
	assert_true(RUN_UNTIL(5000, kube_client_synced(T.kc)));
	for (t = 0; t < N_TYPES; t++) {
		assert_int_equal(T.rec.ends[t], 1);
		assert_int_equal(T.rec.unavailable[t], 0);
		assert_cache_matches(t);
	}
	run_for(1200);
	assert_int_equal(T.rec.unavailable[N_TYPES], 1);
	assert_int_equal(T.rec.unavailable[N_TYPES + 1], 1);
	assert_int_equal(T.rec.begins[N_TYPES] + T.rec.begins[N_TYPES + 1], 0);
	assert_true(count_requests("/gatewayclasses", NULL, 403) >= 2);
	assert_true(count_requests("/apis/example.com/v1/widgets", NULL, 404) >= 2);
	assert_int_equal(log_lines("resource type unavailable", NULL), 2);
	assert_int_equal(log_lines("resource type unavailable", "resource=gatewayclasses.gateway.networking.k8s.io "
				   "http_status=403"), 1);
	assert_int_equal(log_lines("resource type unavailable", "resource=widgets.example.com http_status=404"), 1);
	patch_route_weights(60, 40);
	assert_true(RUN_UNTIL(1000, weights_are(60, 40)));
}

/* Status merge patches: written (read back through the control API and seen on the
 * watch); a forbidden one and a missing object report their HTTP status and cause. */
static void test_patch_status(void **state)
{
	struct kube_client_opts o = test_opts();
	const cJSON *parents, *cond;
	struct item *it;
	cJSON *obj = NULL;
	char patch[1024];

	start_synced(&o);
	snprintf(patch, sizeof(patch), STATUS_PATCH, "written by the test");
	assert_int_equal(kube_client_update_status(T.kc, &RES[T_ROUTE], ROUTE_NS, ROUTE_NAME, patch, on_write,
						  (void *)0), 0);
	assert_int_equal(kube_client_update_status(T.kc, &RES[T_GATEWAY], "kgateway-system", "agentgateway-proxy",
						  "{\"status\":{}}", on_write, (void *)1), 0);
	assert_int_equal(kube_client_update_status(T.kc, &RES[T_ROUTE], ROUTE_NS, "no-such-route", patch, on_write,
						  (void *)2), 0);
	assert_int_equal(kube_client_update_status(T.kc, &RES[T_ROUTE], "", ROUTE_NAME, patch, on_write, NULL),
			 -EINVAL);
	assert_true(RUN_UNTIL(3000, T.writes_done == 3));
	assert_int_equal(T.write_status[0], 200);
	assert_string_equal(T.write_err[0], "");
	assert_int_equal(T.write_status[1], 403);
	assert_non_null(strstr(T.write_err[1], "forbidden"));
	assert_non_null(strstr(T.write_err[1],
			       "gateways.gateway.networking.k8s.io kgateway-system/agentgateway-proxy"));
	assert_int_equal(T.write_status[2], 404);
	assert_non_null(strstr(T.write_err[2], "NotFound"));

	assert_int_equal(ctl("GET", "/object?kind=httproute&namespace=default&name=" ROUTE_NAME, NULL, &obj), 200);
	parents = cJSON_GetObjectItem(cJSON_GetObjectItem(obj, "status"), "parents");
	assert_int_equal(cJSON_GetArraySize(parents), 1);
	assert_string_equal(jstr(cJSON_GetArrayItem(parents, 0), "controllerName"), "bpfsplit.io/agent");
	cJSON_Delete(obj);
	/* The status change also arrives on the watch. */
	assert_true(RUN_UNTIL(1000, (it = find_item(T_ROUTE, ROUTE_NS "/" ROUTE_NAME)) &&
					    (parents = cJSON_GetObjectItem(cJSON_GetObjectItem(it->obj, "status"),
									   "parents")) &&
					    cJSON_GetArraySize(parents) == 1 &&
					    jstr(cJSON_GetArrayItem(parents, 0), "controllerName") &&
					    !strcmp(jstr(cJSON_GetArrayItem(parents, 0), "controllerName"),
						    "bpfsplit.io/agent")));
	cond = cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetArrayItem(parents, 0), "conditions"), 0);
	assert_string_equal(jstr(cond, "message"), "written by the test");
}

/* TLS is verified: a CA that did not sign the server's certificate fails every
 * request (nothing reaches the server's HTTP layer); the right CA as a file works;
 * insecure-skip-tls-verify and plain http are refused. */
static void test_tls_verified(void **state)
{
	struct kube_client_opts o = test_opts();
	struct kube_client *kc = NULL;
	char *server;
	int t;

	free(T.cfg.ca_data.data);
	T.cfg.ca_data.data = NULL;
	T.cfg.ca_data.len = 0;
	T.cfg.ca_file = strdup(S.path[P_WRONG_CA]);
	start_client(&o, RES, N_TYPES);
	run_for(1000);
	for (t = 0; t < N_TYPES; t++)
		assert_int_equal(T.rec.begins[t], 0);
	assert_false(kube_client_synced(T.kc));
	assert_true(stats().errors >= N_TYPES);
	assert_int_equal(count_requests("/", NULL, 0), 0);
	kube_client_free(T.kc);
	T.kc = NULL;

	free(T.cfg.ca_file);
	T.cfg.ca_file = strdup(S.ca);
	start_synced(&o);
	assert_cache_matches(T_ROUTE);
	kube_client_free(T.kc);
	T.kc = NULL;

	/* tls-server-name: the certificate is checked against that name (one of its
	 * SANs works, another name fails) while connecting to the server's address. */
	T.cfg.tls_server_name = strdup("localhost");
	start_synced(&o);
	kube_client_free(T.kc);
	T.kc = NULL;
	free(T.cfg.tls_server_name);
	T.cfg.tls_server_name = strdup("not-the-server.example");
	start_client(&o, RES, 1);
	run_for(500);
	assert_false(kube_client_synced(T.kc));
	assert_true(log_lines("list failed", "not-the-server.example") >= 1);

	T.cfg.insecure_skip_tls_verify = true;
	assert_int_equal(kube_client_new(&o, &kc), -EINVAL);
	assert_null(kc);
	T.cfg.insecure_skip_tls_verify = false;
	server = T.cfg.server;
	T.cfg.server = strdup("http://127.0.0.1:1");
	assert_int_equal(kube_client_new(&o, &kc), -EINVAL);
	free(T.cfg.server);
	T.cfg.server = server;
}

/* Every request has a timeout: against a server that accepts connections and never
 * answers, requests fail after request_timeout_ms and are retried; once it answers
 * again, the client syncs. */
static void test_request_timeout(void **state)
{
	struct kube_client_opts o = test_opts();
	int64_t t0 = now_ms();

	o.request_timeout_ms = 400;
	ctl_ok("POST", "/pause?mode=hang", NULL);
	start_client(&o, RES, N_TYPES);
	run_for(1000);
	assert_false(kube_client_synced(T.kc));
	assert_true(stats().errors >= N_TYPES);
	/* libcurl says "Connection timed out" or "SSL connection timeout" (handshake). */
	assert_true(log_lines("list failed", "timed out") + log_lines("list failed", "timeout") >= N_TYPES);
	ctl_ok("POST", "/resume", NULL);
	assert_true(RUN_UNTIL(3000, kube_client_synced(T.kc)));
	assert_true(now_ms() - t0 >= 1000);
	assert_cache_matches(T_ROUTE);
}

/* The server ends each watch after timeoutSeconds: the client watches again from
 * where it was, without relisting, and misses nothing. */
static void test_watch_timeout(void **state)
{
	struct kube_client_opts o = test_opts();
	int t;

	o.watch_timeout_s = 1;
	start_synced(&o);
	run_for(2300);
	assert_true(stats().watches >= 3 * N_TYPES);
	assert_int_equal(stats().reconnects, 0);
	patch_route_weights(25, 75);
	assert_true(RUN_UNTIL(1500, weights_are(25, 75)));
	for (t = 0; t < N_TYPES; t++)
		assert_int_equal(T.rec.begins[t], 1);
}

/* Streams silent for longer than stall_timeout_ms (bookmarks come every second) are
 * dropped and re-established from their resourceVersion. */
static void test_stall_detected(void **state)
{
	struct kube_client_opts o = test_opts();
	int t;

	o.stall_timeout_ms = 300;
	start_synced(&o);
	run_for(1500);
	assert_true(stats().reconnects >= N_TYPES);
	patch_route_weights(35, 65);
	assert_true(RUN_UNTIL(2000, weights_are(35, 65)));
	for (t = 0; t < N_TYPES; t++)
		assert_int_equal(T.rec.begins[t], 1);
	assert_cache_matches(T_ROUTE);
}

/* An event over max_event_bytes is dropped, reported, and made up for by a relist. */
static void test_oversize_event(void **state)
{
	struct kube_client_opts o = test_opts();
	size_t pad = 40000, n;
	char *body;
	struct item *it;
	const char *ann;

	o.max_event_bytes = 16384;
	start_synced(&o);
	body = malloc(pad + 512);
	assert_non_null(body);
	n = (size_t)snprintf(body, 512,
			     "{\"kind\":\"httproute\",\"namespace\":\"" ROUTE_NS "\",\"name\":\"" ROUTE_NAME
			     "\",\"patch\":{\"metadata\":{\"annotations\":{\"test/padding\":\"");
	memset(body + n, 'x', pad);
	strcpy(body + n + pad, "\"}}}}");
	ctl_ok("POST", "/patch", body);
	free(body);
	assert_true(RUN_UNTIL(3000, T.rec.ends[T_ROUTE] == 2));
	assert_int_equal(T.rec.begins[T_ROUTE], 2);
	it = find_item(T_ROUTE, ROUTE_NS "/" ROUTE_NAME);
	assert_non_null(it);
	ann = jstr(cJSON_GetObjectItem(cJSON_GetObjectItem(it->obj, "metadata"), "annotations"), "test/padding");
	assert_non_null(ann);
	assert_int_equal(strlen(ann), pad);
	assert_cache_matches(T_ROUTE);
	assert_true(stats().errors >= 1);
	assert_int_equal(log_lines("msg=\"watch event over the size limit, relisting\" "
				   "resource=httproutes.gateway.networking.k8s.io bytes=", "limit=16384"), 1);
	/* Small events flow again on the new watch. */
	ctl_ok("POST", "/patch", "{\"kind\":\"httproute\",\"namespace\":\"" ROUTE_NS "\",\"name\":\"" ROUTE_NAME
	       "\",\"patch\":{\"metadata\":{\"annotations\":{\"test/padding\":null}}}}");
	patch_route_weights(45, 55);
	assert_true(RUN_UNTIL(1000, weights_are(45, 55)));
	assert_int_equal(T.rec.begins[T_ROUTE], 2);
}

/* Malformed JSON: a cut list response is retried (nothing delivered from it); a
 * cut watch event forces a relist, whose own first response is cut too; the cache
 * keeps its state until a good list, then has the change the bad event carried. */
static void test_malformed_json(void **state)
{
	struct kube_client_opts o = test_opts();
	int64_t errors;

	ctl_ok("POST", "/garble?where=list&path=httproutes&count=1", NULL);
	start_synced(&o);
	assert_int_equal(T.rec.begins[T_ROUTE], 1);
	assert_true(weights_are(70, 30));
	errors = (int64_t)stats().errors;
	assert_true(errors >= 1);

	ctl_ok("POST", "/garble?where=watch&path=httproutes&count=1", NULL);
	ctl_ok("POST", "/garble?where=list&path=httproutes&count=1", NULL);
	patch_route_weights(33, 67);
	assert_true(RUN_UNTIL(3000, T.rec.ends[T_ROUTE] == 2));
	assert_int_equal(T.rec.begins[T_ROUTE], 2);
	assert_true(weights_are(33, 67));
	assert_false(T.rec.bad_name);
	assert_true((int64_t)stats().errors >= errors + 2);
	assert_int_equal(log_lines("malformed list response", "resource=httproutes.gateway.networking.k8s.io"), 2);
	assert_int_equal(log_lines("malformed watch event, relisting",
				   "resource=httproutes.gateway.networking.k8s.io"), 1);
	assert_cache_matches(T_ROUTE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T_(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)
		T_(test_initial_sync),
		T_(test_watch_events),
		T_(test_pagination),
		T_(test_continue_expired),
		T_(test_compaction_relist),
		T_(test_outage_catch_up),
		T_(test_429_retry_after),
		T_(test_token_rotation),
		T_(test_unavailable_types),
		T_(test_patch_status),
		T_(test_tls_verified),
		T_(test_request_timeout),
		T_(test_watch_timeout),
		T_(test_stall_detected),
		T_(test_oversize_event),
		T_(test_malformed_json),
#undef T_
	};
	int rc;

	/* BPFSPLIT_TEST_VERBOSE=1 shows the client's log; CMOCKA_TEST_FILTER=test_x runs one test. */
	bs_log_set_level(getenv("BPFSPLIT_TEST_VERBOSE") ? BS_LOG_DEBUG : BS_LOG_INFO);
	if (getenv("CMOCKA_TEST_FILTER"))
		cmocka_set_test_filter(getenv("CMOCKA_TEST_FILTER"));
	curl_global_init(CURL_GLOBAL_DEFAULT);
	rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
	server_stop();
	curl_global_cleanup();
	return rc;
}
