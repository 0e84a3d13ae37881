// SPDX-License-Identifier: BSD-2-Clause
/* Connection health per version for Prometheus: the data path's bs_health counters per
 * frontend x group (and, behind --metrics-per-backend, per backend), labelled with the
 * route, the Rollout and the group's role in it (stable / canary, else the Service).
 * The roles come from the loop thread (health_publish_roles, from the cached Rollouts);
 * the counters are read at scrape time from the listener's thread. */
#include "health_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "agent.h"

/* ---- roles: Service "namespace/name" -> "stable" / "canary", from canary Rollouts ---- */

struct role {
	char service[BS_GROUP_NAME_LEN];
	const char *role;
};

static pthread_mutex_t roles_mu = PTHREAD_MUTEX_INITIALIZER;
static struct role *roles;
static size_t n_roles;

static void role_add(struct role *r, size_t *n, const char *ns, const char *svc, const char *role)
{
	/* Group names are cut to BS_GROUP_NAME_LEN - 1 bytes in the maps: compare the same. */
	char full[1024];

	if (!svc[0])
		return;
	snprintf(full, sizeof(full), "%s/%s", ns, svc);
	full[BS_GROUP_NAME_LEN - 1] = 0;
	memcpy(r[*n].service, full, BS_GROUP_NAME_LEN);
	r[*n].role = role;
	(*n)++;
}

void health_publish_roles(struct agent *a)
{
	const struct cache_entry *e;
	struct role *r, *old;
	size_t n = 0, cap = 0;

	cache_for_each(a->cache, CACHE_ROLLOUT, e)
		cap += 2;
	r = calloc(cap ? cap : 1, sizeof(*r));
	if (!r)
		return;
	cache_for_each(a->cache, CACHE_ROLLOUT, e) {
		const struct k8s_rollout *ro = e->good.rollout;

		if (!e->has_good || !ro->is_canary)
			continue;
		role_add(r, &n, e->ns, ro->stable_service, "stable");
		role_add(r, &n, e->ns, ro->canary_service, "canary");
	}
	pthread_mutex_lock(&roles_mu);
	old = roles;
	roles = r;
	n_roles = n;
	pthread_mutex_unlock(&roles_mu);
	free(old);
}

/* The role of group name, or the name itself when no Rollout names it. */
static void role_of(const char *group, char *out, size_t len)
{
	snprintf(out, len, "%s", group);
	pthread_mutex_lock(&roles_mu);
	for (size_t i = 0; i < n_roles; i++)
		if (!strcmp(roles[i].service, group)) {
			snprintf(out, len, "%s", roles[i].role);
			break;
		}
	pthread_mutex_unlock(&roles_mu);
}

/* ---- scrape ---- */

/* One row: a frontend's group (or its refusals without a group), or one backend in it. */
struct row {
	size_t fe;            /* index in scrape.fes */
	__u16 group;          /* index, or BS_HEALTH_NO_GROUP */
	__u32 backend_id;     /* 0: the group aggregate */
	char backend[64];     /* "addr:port" for backend rows */
	struct bs_health h;
};

struct fe_row {
	__u32 id;
	char frontend[80], ns[BS_INFO_NAME_LEN], route[BS_INFO_NAME_LEN], rollout[BS_INFO_NAME_LEN];
	__u32 n_groups;
	__u32 weight[BS_MAX_GROUPS];
	__u64 weight_sum;
	char service[BS_MAX_GROUPS][BS_GROUP_NAME_LEN];
	char role[BS_MAX_GROUPS][BS_GROUP_NAME_LEN];
};

struct scrape {
	struct bs_dp *dp;
	struct fe_row *fes;
	size_t n_fes, cap_fes;
	struct row *rows;
	size_t n_rows, cap_rows;
	int err;
};

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *q;

	if (n < *cap)
		return p;
	c = *cap ? 2 * *cap : 64;
	q = realloc(p, c * size);
	if (q)
		*cap = c;
	return q;
}

/* "ns/name" -> ns and name; "" stays "". */
static void split_ns(const char *full, char *ns, char *name, size_t len)
{
	const char *slash = strchr(full, '/');

	if (!slash) {
		snprintf(ns, len, "%s", "");
		snprintf(name, len, "%s", full);
		return;
	}
	snprintf(ns, len, "%.*s", (int)(slash - full), full);
	snprintf(name, len, "%s", slash + 1);
}

static int collect_fe(const struct bs_frontend_key *key, const struct bs_frontend *val, void *ctx)
{
	struct scrape *s = ctx;
	int groups_fd = bs_dp_map_fd(s->dp, "bs_groups");
	struct bs_frontend_info info;
	struct fe_row *f;
	void *p = grow(s->fes, &s->cap_fes, s->n_fes, sizeof(*s->fes));

	if (!p)
		return -ENOMEM;
	s->fes = p;
	f = &s->fes[s->n_fes];
	memset(f, 0, sizeof(*f));
	f->id = val->id;
	bs_frontend_key_format(key, f->frontend, sizeof(f->frontend));
	if (!bs_dp_get_info(s->dp, val->id, &info)) {
		char ns2[BS_INFO_NAME_LEN];

		split_ns(info.route, f->ns, f->route, sizeof(f->route));
		split_ns(info.rollout, ns2, f->rollout, sizeof(f->rollout));
		if (!f->ns[0])
			snprintf(f->ns, sizeof(f->ns), "%s", ns2);
	}
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++) {
		struct bs_group_key gk = { val->id, g };
		struct bs_group_info gi;

		if (groups_fd < 0 || bpf_map_lookup_elem(groups_fd, &gk, &gi))
			break;
		gi.name[sizeof(gi.name) - 1] = 0;
		f->n_groups = g + 1;
		f->weight[g] = gi.weight;
		f->weight_sum += gi.weight;
		snprintf(f->service[g], sizeof(f->service[g]), "%s", gi.name);
		role_of(gi.name, f->role[g], sizeof(f->role[g]));
	}
	s->n_fes++;
	return 0;
}

static struct row *row_add(struct scrape *s)
{
	void *p = grow(s->rows, &s->cap_rows, s->n_rows, sizeof(*s->rows));

	if (!p)
		return NULL;
	s->rows = p;
	memset(&s->rows[s->n_rows], 0, sizeof(s->rows[0]));
	return &s->rows[s->n_rows++];
}

static int fe_index(const struct scrape *s, __u32 id, size_t *out)
{
	for (size_t i = 0; i < s->n_fes; i++)
		if (s->fes[i].id == id) {
			*out = i;
			return 0;
		}
	return -ENOENT;
}

/* Backend rows and refusals without a group come from walking the map. */
struct walk {
	struct scrape *s;
	bool per_backend;
};

static int collect_health(const struct bs_health_key *k, const struct bs_health *h, void *ctx)
{
	struct walk *w = ctx;
	struct row *r;
	size_t fe;

	if (fe_index(w->s, k->frontend_id, &fe))
		return 0;
	if (k->backend_id ? !w->per_backend || k->group >= w->s->fes[fe].n_groups : k->group != BS_HEALTH_NO_GROUP)
		return 0;
	r = row_add(w->s);
	if (!r)
		return -ENOMEM;
	r->fe = fe;
	r->group = k->group;
	r->backend_id = k->backend_id;
	r->h = *h;
	if (k->backend_id) {
		struct bs_backend be;
		char a[INET6_ADDRSTRLEN] = "?";

		if (!bs_dp_backend(w->s->dp, k->backend_id, &be))
			inet_ntop(be.family == BS_AF_INET6 ? AF_INET6 : AF_INET, be.addr, a, sizeof(a));
		snprintf(r->backend, sizeof(r->backend), be.family == BS_AF_INET6 ? "[%s]:%u" : "%s:%u", a,
			 ntohs(be.port));
	}
	return 0;
}

static void labels(struct mbuf *b, const struct scrape *s, const struct row *r)
{
	const struct fe_row *f = &s->fes[r->fe];
	bool none = r->group == BS_HEALTH_NO_GROUP;

	mbuf_label(b, "namespace", f->ns, true);
	mbuf_label(b, "route", f->route, false);
	mbuf_label(b, "rollout", f->rollout, false);
	mbuf_label(b, "group", none ? "none" : f->role[r->group], false);
	mbuf_label(b, "service", none ? "" : f->service[r->group], false);
	mbuf_label(b, "frontend", f->frontend, false);
	if (r->backend_id)
		mbuf_label(b, "backend", r->backend, false);
}

/* Counter families: name suffix, help, field offset in struct bs_health. */
static const struct {
	const char *name, *help;
	size_t off;
	const char *extra; /* one more label, "name=\"value\"", or NULL */
} counters[] = {
	{ "connections_total", "TCP connections chosen (SYN forwarded).", offsetof(struct bs_health, new_conns) },
	{ "udp_flows_total", "UDP flows chosen.", offsetof(struct bs_health, udp_flows) },
	{ "refused_total", "New connections refused by the data path, by reason.",
	  offsetof(struct bs_health, refused_no_backend), "reason=\"no_backend\"" },
	{ "refused_total", NULL, offsetof(struct bs_health, refused_zero_weight), "reason=\"zero_weight\"" },
	{ "syn_retransmits_total", "Retransmitted SYNs (the client did not get a SYN-ACK in time).",
	  offsetof(struct bs_health, syn_retransmits) },
	{ "handshake_timeouts_total", "Connections with no SYN-ACK a second or more after the first SYN.",
	  offsetof(struct bs_health, handshake_timeouts) },
	{ "backend_resets_total", "Connections reset by the backend (RST seen on the reply path).",
	  offsetof(struct bs_health, backend_resets) },
	{ "resets_before_reply_total", "Connections reset before the backend sent any byte.",
	  offsetof(struct bs_health, resets_before_reply) },
	{ "failed_connections_total",
	  "Connections that failed as the client sees it (backend reset, handshake timed out, client gave up "
	  "before the SYN-ACK), each counted once.",
	  offsetof(struct bs_health, failed) },
	{ "closed_connections_total", "TCP connections seen closing (first FIN or RST).",
	  offsetof(struct bs_health, closed) },
	{ "payload_bytes_total", "Payload bytes of connections, counted when their sender's FIN is seen.",
	  offsetof(struct bs_health, bytes_to_backend), "direction=\"to_backend\"" },
	{ "payload_bytes_total", NULL, offsetof(struct bs_health, bytes_from_backend), "direction=\"from_backend\"" },
};

static bool row_in_family(const struct row *r, size_t c)
{
	/* Refusals of a frontend whose weights are all 0 have no group: only that family. */
	if (r->group == BS_HEALTH_NO_GROUP)
		return counters[c].off == offsetof(struct bs_health, refused_zero_weight);
	return true;
}

static void render(struct mbuf *b, const struct scrape *s, const char *prefix, bool backends)
{
	for (size_t c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		if (counters[c].help)
			mbuf_printf(b, "# HELP %s_%s %s\n# TYPE %s_%s counter\n", prefix, counters[c].name,
				    counters[c].help, prefix, counters[c].name);
		for (size_t i = 0; i < s->n_rows; i++) {
			const struct row *r = &s->rows[i];

			if (!!r->backend_id != backends || !row_in_family(r, c))
				continue;
			mbuf_printf(b, "%s_%s{", prefix, counters[c].name);
			labels(b, s, r);
			if (counters[c].extra)
				mbuf_printf(b, ",%s", counters[c].extra);
			mbuf_printf(b, "} %llu\n", (unsigned long long)*(const __u64 *)((const char *)&r->h + counters[c].off));
		}
	}
	mbuf_printf(b, "# HELP %s_open_connections TCP connections chosen and not yet seen closing.\n"
		       "# TYPE %s_open_connections gauge\n", prefix, prefix);
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct row *r = &s->rows[i];

		if (!!r->backend_id != backends || r->group == BS_HEALTH_NO_GROUP)
			continue;
		mbuf_printf(b, "%s_open_connections{", prefix);
		labels(b, s, r);
		mbuf_printf(b, "} %llu\n",
			    (unsigned long long)(r->h.new_conns > r->h.closed ? r->h.new_conns - r->h.closed : 0));
	}
	mbuf_printf(b, "# HELP %s_handshake_duration_seconds From the SYN forwarded to the backend's SYN-ACK.\n"
		       "# TYPE %s_handshake_duration_seconds histogram\n", prefix, prefix);
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct row *r = &s->rows[i];
		__u64 cum = 0;

		if (!!r->backend_id != backends || r->group == BS_HEALTH_NO_GROUP)
			continue;
		for (int k = 0; k < BS_HS_BUCKETS - 1; k++) {
			cum += r->h.handshake_hist[k];
			mbuf_printf(b, "%s_handshake_duration_seconds_bucket{", prefix);
			labels(b, s, r);
			mbuf_printf(b, ",le=\"%.9g\"} %llu\n", (double)(BS_HS_BUCKET0_NS << k) / 1e9, (unsigned long long)cum);
		}
		mbuf_printf(b, "%s_handshake_duration_seconds_bucket{", prefix);
		labels(b, s, r);
		mbuf_printf(b, ",le=\"+Inf\"} %llu\n", (unsigned long long)r->h.handshakes);
		mbuf_printf(b, "%s_handshake_duration_seconds_sum{", prefix);
		labels(b, s, r);
		mbuf_printf(b, "} %.9f\n", (double)r->h.handshake_ns_sum / 1e9);
		mbuf_printf(b, "%s_handshake_duration_seconds_count{", prefix);
		labels(b, s, r);
		mbuf_printf(b, "} %llu\n", (unsigned long long)r->h.handshakes);
	}
}

static void render_weights(struct mbuf *b, const struct scrape *s)
{
	mbuf_printf(b, "# HELP bpfsplit_group_weight Configured weight of each group, as in the maps.\n"
		       "# TYPE bpfsplit_group_weight gauge\n");
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct row *r = &s->rows[i];

		if (r->backend_id || r->group == BS_HEALTH_NO_GROUP)
			continue;
		mbuf_printf(b, "bpfsplit_group_weight{");
		labels(b, s, r);
		mbuf_printf(b, "} %u\n", s->fes[r->fe].weight[r->group]);
	}
	mbuf_printf(b, "# HELP bpfsplit_group_weight_ratio Configured share of new connections (weight over the "
		       "frontend's total, 0 to 1).\n# TYPE bpfsplit_group_weight_ratio gauge\n");
	for (size_t i = 0; i < s->n_rows; i++) {
		const struct row *r = &s->rows[i];
		const struct fe_row *f = &s->fes[r->fe];

		if (r->backend_id || r->group == BS_HEALTH_NO_GROUP)
			continue;
		mbuf_printf(b, "bpfsplit_group_weight_ratio{");
		labels(b, s, r);
		mbuf_printf(b, "} %.6g\n", f->weight_sum ? (double)f->weight[r->group] / (double)f->weight_sum : 0.0);
	}
}

int health_collect(struct bs_dp *dp, bool per_backend, struct health_snapshot *out)
{
	struct scrape *s = calloc(1, sizeof(*s));
	struct walk w = { s, per_backend };
	int err;

	memset(out, 0, sizeof(*out));
	if (!s)
		return -ENOMEM;
	s->dp = dp;
	err = bs_dp_for_each_frontend(dp, collect_fe, s);
	/* Every group of every frontend, with zeros before its first connection, so that a
	 * rate() over it exists from the start. */
	for (size_t f = 0; !err && f < s->n_fes; f++) {
		for (__u32 g = 0; g < s->fes[f].n_groups; g++) {
			struct bs_health_key k = { .frontend_id = s->fes[f].id, .group = (__u16)g };
			struct row *r = row_add(s);

			if (!r) {
				err = -ENOMEM;
				break;
			}
			r->fe = f;
			r->group = (__u16)g;
			if (bs_dp_health(dp, &k, &r->h))
				memset(&r->h, 0, sizeof(r->h));
		}
	}
	if (!err)
		err = bs_dp_for_each_health(dp, collect_health, &w);
	if (err) {
		health_snapshot_free(&(struct health_snapshot){ s });
		return err;
	}
	out->priv = s;
	return 0;
}

void health_snapshot_free(struct health_snapshot *snap)
{
	struct scrape *s = snap->priv;

	if (!s)
		return;
	free(s->fes);
	free(s->rows);
	free(s);
	snap->priv = NULL;
}

size_t health_rows(const struct health_snapshot *snap)
{
	const struct scrape *s = snap->priv;

	return s ? s->n_rows : 0;
}

int health_row(const struct health_snapshot *snap, size_t i, struct health_row_view *v)
{
	const struct scrape *s = snap->priv;
	const struct row *r;
	const struct fe_row *f;

	if (!s || i >= s->n_rows)
		return -ENOENT;
	r = &s->rows[i];
	f = &s->fes[r->fe];
	memset(v, 0, sizeof(*v));
	v->frontend_id = f->id;
	v->frontend = f->frontend;
	v->ns = f->ns;
	v->route = f->route;
	v->rollout = f->rollout;
	v->group_index = r->group;
	v->group = r->group == BS_HEALTH_NO_GROUP ? "none" : f->role[r->group];
	v->service = r->group == BS_HEALTH_NO_GROUP ? "" : f->service[r->group];
	v->backend = r->backend_id ? r->backend : NULL;
	v->weight = r->group == BS_HEALTH_NO_GROUP ? 0 : f->weight[r->group];
	v->weight_sum = f->weight_sum;
	v->h = &r->h;
	return 0;
}

void health_render(const struct health_snapshot *snap, bool per_backend, struct mbuf *b)
{
	const struct scrape *s = snap->priv;

	if (!s)
		return;
	render_weights(b, s);
	render(b, s, "bpfsplit_group", false);
	if (per_backend)
		render(b, s, "bpfsplit_backend", true);
}

void health_scrape(struct bs_dp *dp, bool per_backend, struct mbuf *b)
{
	struct health_snapshot snap;

	if (health_collect(dp, per_backend, &snap))
		return;
	health_render(&snap, per_backend, b);
	health_snapshot_free(&snap);
}
