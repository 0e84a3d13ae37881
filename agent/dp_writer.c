// SPDX-License-Identifier: BSD-2-Clause
/* The data-path writer: libbpfsplit behind a small interface, an in-memory stand-in
 * for tests and --dry-run, and the spec helpers (copy, normalise, compare, format). */
#include "dp_writer.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include "log.h"

/* ---- spec helpers ---- */

void dp_key_str(const struct bs_frontend_key *key, char *buf, size_t len)
{
	bs_frontend_key_format(key, buf, len);
}

int dp_spec_copy(struct bs_frontend_spec *dst, const struct bs_frontend_spec *src)
{
	*dst = *src;
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++) {
		dst->groups[g].backends = NULL;
		if (g >= src->n_groups) {
			dst->groups[g].n_backends = 0;
			continue;
		}
		if (!src->groups[g].n_backends)
			continue;
		dst->groups[g].backends = malloc(src->groups[g].n_backends * sizeof(struct bs_backend_spec));
		if (!dst->groups[g].backends) {
			bs_frontend_spec_free(dst);
			return -ENOMEM;
		}
		memcpy(dst->groups[g].backends, src->groups[g].backends,
		       src->groups[g].n_backends * sizeof(struct bs_backend_spec));
	}
	return 0;
}

static int backend_cmp(const void *pa, const void *pb)
{
	const struct bs_backend_spec *a = pa, *b = pb;
	int c;

	if (a->family != b->family)
		return a->family < b->family ? -1 : 1;
	c = memcmp(a->addr, b->addr, sizeof(a->addr));
	if (c)
		return c;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	return 0;
}

void dp_spec_normalize(struct bs_frontend_spec *spec)
{
	for (__u32 g = 0; g < spec->n_groups && g < BS_MAX_GROUPS; g++) {
		struct bs_group_spec *gs = &spec->groups[g];
		__u32 out = 0;

		if (gs->n_backends < 2)
			continue;
		qsort(gs->backends, gs->n_backends, sizeof(gs->backends[0]), backend_cmp);
		for (__u32 i = 0; i < gs->n_backends; i++) {
			if (out && !backend_cmp(&gs->backends[out - 1], &gs->backends[i])) {
				if (gs->backends[i].state == BS_BACKEND_READY)
					gs->backends[out - 1].state = BS_BACKEND_READY;
				continue;
			}
			gs->backends[out++] = gs->backends[i];
		}
		gs->n_backends = out;
	}
}

/* Backends as sets: compare sorted copies, so neither side needs to be normalised. */
static bool group_backends_equal(const struct bs_group_spec *a, const struct bs_group_spec *b)
{
	struct bs_backend_spec *x, *y;
	bool eq;

	if (a->n_backends != b->n_backends)
		return false;
	if (!a->n_backends)
		return true;
	x = malloc(a->n_backends * sizeof(*x));
	y = malloc(b->n_backends * sizeof(*y));
	if (!x || !y) {
		free(x);
		free(y);
		return false; /* "different": the caller writes, which is always safe */
	}
	memcpy(x, a->backends, a->n_backends * sizeof(*x));
	memcpy(y, b->backends, b->n_backends * sizeof(*y));
	qsort(x, a->n_backends, sizeof(*x), backend_cmp);
	qsort(y, b->n_backends, sizeof(*y), backend_cmp);
	eq = true;
	for (__u32 i = 0; i < a->n_backends && eq; i++)
		eq = !backend_cmp(&x[i], &y[i]) && x[i].state == y[i].state;
	free(x);
	free(y);
	return eq;
}

bool dp_spec_equal(const struct bs_frontend_spec *a, const struct bs_frontend_spec *b)
{
	if (memcmp(&a->key, &b->key, sizeof(a->key)) || a->affinity != b->affinity || a->n_groups != b->n_groups)
		return false;
	for (__u32 g = 0; g < a->n_groups && g < BS_MAX_GROUPS; g++) {
		const struct bs_group_spec *x = &a->groups[g], *y = &b->groups[g];

		if (x->weight != y->weight || strncmp(x->name, y->name, BS_GROUP_NAME_LEN))
			return false;
		if (!group_backends_equal(x, y))
			return false;
	}
	return true;
}

void dp_spec_summary(const struct bs_frontend_spec *spec, char *buf, size_t len)
{
	size_t off = 0;

	if (!len)
		return;
	buf[0] = '\0';
	for (__u32 g = 0; g < spec->n_groups && g < BS_MAX_GROUPS && off < len; g++) {
		const struct bs_group_spec *gs = &spec->groups[g];
		__u32 ready = 0, draining = 0;
		int n;

		for (__u32 i = 0; i < gs->n_backends; i++) {
			if (gs->backends[i].state == BS_BACKEND_READY)
				ready++;
			else
				draining++;
		}
		if (draining)
			n = snprintf(buf + off, len - off, "%s%s=%u(%u ready,%u draining)", g ? "," : "", gs->name,
				     gs->weight, ready, draining);
		else
			n = snprintf(buf + off, len - off, "%s%s=%u(%u ready)", g ? "," : "", gs->name, gs->weight,
				     ready);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* ---- over libbpfsplit ---- */

struct bpf_writer {
	struct dp_writer w;
	struct bs_dp *dp;
};

static int bpf_apply(struct dp_writer *w, const struct bs_frontend_spec *spec, char *err, size_t errlen)
{
	return bs_dp_apply(((struct bpf_writer *)w)->dp, spec, err, errlen);
}

static int bpf_remove(struct dp_writer *w, const struct bs_frontend_key *key)
{
	return bs_dp_remove(((struct bpf_writer *)w)->dp, key);
}

static int bpf_read(struct dp_writer *w, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	return bs_dp_read(((struct bpf_writer *)w)->dp, key, out);
}

struct key_list {
	struct bs_frontend_key *keys;
	size_t n, cap;
};

static int key_list_add(struct key_list *l, const struct bs_frontend_key *key)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct bs_frontend_key *k = realloc(l->keys, cap * sizeof(*k));

		if (!k)
			return -ENOMEM;
		l->keys = k;
		l->cap = cap;
	}
	l->keys[l->n++] = *key;
	return 0;
}

static int list_one(const struct bs_frontend_key *key, const struct bs_frontend *val, void *ctx)
{
	return key_list_add(ctx, key);
}

static int bpf_list(struct dp_writer *w, struct bs_frontend_key **keys, size_t *n)
{
	struct key_list l = { 0 };
	int err = bs_dp_for_each_frontend(((struct bpf_writer *)w)->dp, list_one, &l);

	if (err) {
		free(l.keys);
		return err;
	}
	*keys = l.keys;
	*n = l.n;
	return 0;
}

static int bpf_info(struct dp_writer *w, const struct bs_frontend_key *key, const struct bs_frontend_info *info)
{
	struct bs_frontend_info stamped = *info;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	stamped.updated_unix_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	return bs_dp_set_info(((struct bpf_writer *)w)->dp, key, &stamped);
}

struct verify_log {
	size_t found, repaired;
};

static void log_diff(const struct bs_verify_diff *d, void *arg)
{
	struct verify_log *l = arg;
	char fe[80] = "-";

	if (d->key.family)
		dp_key_str(&d->key, fe, sizeof(fe));
	l->found++;
	l->repaired += d->repaired;
	bs_warn("msg=\"the maps differed from what was written%s\" frontend=%s frontend_id=%u what=%s detail=\"%s\"",
		d->repaired ? "; repaired" : "", fe, d->frontend_id, d->what, d->detail);
}

static int bpf_verify(struct dp_writer *w, bool repair, size_t *found, size_t *repaired)
{
	struct verify_log l = { 0, 0 };
	int rc = bs_dp_verify(((struct bpf_writer *)w)->dp, repair, log_diff, &l);

	*found = l.found;
	*repaired = l.repaired;
	return rc < 0 ? rc : 0;
}

static void bpf_destroy(struct dp_writer *w)
{
	free(w);
}

int dp_writer_bpf_new(struct bs_dp *dp, struct dp_writer **out)
{
	struct bpf_writer *b = calloc(1, sizeof(*b));

	if (!b)
		return -ENOMEM;
	b->w.apply = bpf_apply;
	b->w.remove = bpf_remove;
	b->w.read = bpf_read;
	b->w.list = bpf_list;
	b->w.info = bpf_info;
	b->w.verify = bpf_verify;
	b->w.destroy = bpf_destroy;
	b->dp = dp;
	*out = &b->w;
	return 0;
}

/* ---- in memory ---- */

struct mem_fe {
	UT_hash_handle hh;
	struct bs_frontend_key key;
	struct bs_frontend_spec spec;
	bool present;
	uint64_t changes;
	struct bs_frontend_info info;
	bool has_info;
};

struct mem_writer {
	struct dp_writer w;
	struct mem_fe *fes;
	struct dp_writer_mem_stats st;
	bool fail_any;
	struct bs_frontend_key fail_key;
	int fail_err;
	unsigned int fail_count;
};

static struct mem_fe *mem_find(struct mem_writer *m, const struct bs_frontend_key *key)
{
	struct mem_fe *f;

	HASH_FIND(hh, m->fes, key, sizeof(*key), f);
	return f;
}

static int mem_apply(struct dp_writer *w, const struct bs_frontend_spec *spec, char *err, size_t errlen)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct bs_frontend_spec copy;
	struct mem_fe *f;
	char fe[80];
	int rc;

	m->st.applies++;
	dp_key_str(&spec->key, fe, sizeof(fe));
	if (m->fail_count && (m->fail_any || !memcmp(&m->fail_key, &spec->key, sizeof(spec->key)))) {
		m->fail_count--;
		m->st.failures++;
		snprintf(err, errlen, "frontend %s: %s (injected)", fe, strerror(-m->fail_err));
		return m->fail_err;
	}
	/* The library's one validation: what the real writer refuses, this refuses too. */
	rc = bs_spec_validate(spec, err, errlen);
	if (rc)
		return rc;
	f = mem_find(m, &spec->key);
	if (f && f->present && dp_spec_equal(&f->spec, spec))
		return 0;
	rc = dp_spec_copy(&copy, spec);
	if (rc) {
		snprintf(err, errlen, "frontend %s: out of memory", fe);
		return rc;
	}
	dp_spec_normalize(&copy);
	if (!f) {
		f = calloc(1, sizeof(*f));
		if (!f) {
			bs_frontend_spec_free(&copy);
			return -ENOMEM;
		}
		f->key = spec->key;
		HASH_ADD(hh, m->fes, key, sizeof(f->key), f);
	} else if (f->present) {
		bs_frontend_spec_free(&f->spec);
	}
	f->spec = copy;
	f->present = true;
	f->changes++;
	m->st.applies_changed++;
	return 0;
}

static int mem_remove(struct dp_writer *w, const struct bs_frontend_key *key)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct mem_fe *f = mem_find(m, key);

	if (!f || !f->present)
		return -ENOENT;
	bs_frontend_spec_free(&f->spec);
	f->present = false; /* keep the entry: its apply count stays readable */
	f->has_info = false; /* as bs_dp_remove does */
	m->st.removes++;
	return 0;
}

static int mem_read(struct dp_writer *w, const struct bs_frontend_key *key, struct bs_frontend_spec *out)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct mem_fe *f = mem_find(m, key);

	m->st.reads++;
	memset(out, 0, sizeof(*out));
	if (!f || !f->present)
		return -ENOENT;
	return dp_spec_copy(out, &f->spec);
}

static int mem_list(struct dp_writer *w, struct bs_frontend_key **keys, size_t *n)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct key_list l = { 0 };
	struct mem_fe *f, *tmp;

	m->st.lists++;
	HASH_ITER(hh, m->fes, f, tmp) {
		if (f->present && key_list_add(&l, &f->key)) {
			free(l.keys);
			return -ENOMEM;
		}
	}
	*keys = l.keys;
	*n = l.n;
	return 0;
}

static int mem_info(struct dp_writer *w, const struct bs_frontend_key *key, const struct bs_frontend_info *info)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct mem_fe *f = mem_find(m, key);

	m->st.infos++;
	if (!f || !f->present)
		return -ENOENT;
	if (f->has_info && !memcmp(&f->info, info, offsetof(struct bs_frontend_info, updated_unix_ns)))
		return 0;
	f->info = *info;
	f->has_info = true;
	m->st.infos_changed++;
	return 0;
}

static void mem_destroy(struct dp_writer *w)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct mem_fe *f, *tmp;

	HASH_ITER(hh, m->fes, f, tmp) {
		HASH_DEL(m->fes, f);
		if (f->present)
			bs_frontend_spec_free(&f->spec);
		free(f);
	}
	free(m);
}

int dp_writer_mem_new(struct dp_writer **out)
{
	struct mem_writer *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	m->w.apply = mem_apply;
	m->w.remove = mem_remove;
	m->w.read = mem_read;
	m->w.list = mem_list;
	m->w.info = mem_info;
	m->w.destroy = mem_destroy;
	*out = &m->w;
	return 0;
}

void dp_writer_mem_get_stats(struct dp_writer *w, struct dp_writer_mem_stats *out)
{
	*out = ((struct mem_writer *)w)->st;
}

void dp_writer_mem_reset_stats(struct dp_writer *w)
{
	memset(&((struct mem_writer *)w)->st, 0, sizeof(((struct mem_writer *)w)->st));
}

void dp_writer_mem_fail(struct dp_writer *w, const struct bs_frontend_key *key, int err, unsigned int count)
{
	struct mem_writer *m = (struct mem_writer *)w;

	m->fail_any = !key;
	if (key)
		m->fail_key = *key;
	m->fail_err = err;
	m->fail_count = count;
}

uint64_t dp_writer_mem_apply_count(struct dp_writer *w, const struct bs_frontend_key *key)
{
	struct mem_fe *f = mem_find((struct mem_writer *)w, key);

	return f ? f->changes : 0;
}

size_t dp_writer_mem_size(struct dp_writer *w)
{
	struct mem_writer *m = (struct mem_writer *)w;
	struct mem_fe *f, *tmp;
	size_t n = 0;

	HASH_ITER(hh, m->fes, f, tmp)
		n += f->present;
	return n;
}

int dp_writer_mem_get_info(struct dp_writer *w, const struct bs_frontend_key *key, struct bs_frontend_info *out)
{
	struct mem_fe *f = mem_find((struct mem_writer *)w, key);

	if (!f || !f->present || !f->has_info)
		return -ENOENT;
	*out = f->info;
	return 0;
}
