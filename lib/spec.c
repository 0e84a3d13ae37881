// SPDX-License-Identifier: BSD-2-Clause
/* Helpers on frontend specs that every user of the library needs alike (the agent's
 * reconciler and status, the CLI, the tests): copy, normalise, compare, summarise. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bpfsplit.h"

int bs_spec_copy(struct bs_frontend_spec *dst, const struct bs_frontend_spec *src)
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

int bs_backend_spec_cmp(const struct bs_backend_spec *a, const struct bs_backend_spec *b)
{
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

static int backend_qsort_cmp(const void *a, const void *b)
{
	return bs_backend_spec_cmp(a, b);
}

void bs_spec_normalize(struct bs_frontend_spec *spec)
{
	for (__u32 g = 0; g < spec->n_groups && g < BS_MAX_GROUPS; g++) {
		struct bs_group_spec *gs = &spec->groups[g];
		__u32 out = 0;

		if (gs->n_backends < 2)
			continue;
		qsort(gs->backends, gs->n_backends, sizeof(gs->backends[0]), backend_qsort_cmp);
		for (__u32 i = 0; i < gs->n_backends; i++) {
			if (out && !bs_backend_spec_cmp(&gs->backends[out - 1], &gs->backends[i])) {
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
	qsort(x, a->n_backends, sizeof(*x), backend_qsort_cmp);
	qsort(y, b->n_backends, sizeof(*y), backend_qsort_cmp);
	eq = true;
	for (__u32 i = 0; i < a->n_backends && eq; i++)
		eq = !bs_backend_spec_cmp(&x[i], &y[i]) && x[i].state == y[i].state;
	free(x);
	free(y);
	return eq;
}

bool bs_spec_equal(const struct bs_frontend_spec *a, const struct bs_frontend_spec *b)
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

void bs_spec_summary(const struct bs_frontend_spec *spec, char *buf, size_t len)
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
