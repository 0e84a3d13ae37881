/* SPDX-License-Identifier: BSD-2-Clause */
/* Which backend the data path must choose for a flow under a given spec: the shared flow
 * hash (flow_hash.h), the thresholds and the Maglev builder of the library, computed in
 * the test, so that every SYN's backend is predicted exactly. Header-only. */
#ifndef BS_TEST_EXPECT_H
#define BS_TEST_EXPECT_H

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "bpfsplit.h"
#include "bpfsplit/flow_hash.h"
#include "tables.h"

struct expect_cfg {
	__u32 n_groups;
	__u8 affinity;
	__u64 thr[BS_MAX_GROUPS];
	__u32 *tbl[BS_MAX_GROUPS]; /* slots hold index + 1 into be[g] */
	__u32 size[BS_MAX_GROUPS]; /* BS_MAGLEV_SIZE, or BS_MAGLEV_LARGE_SIZE for a large group */
	const struct bs_backend_spec *be[BS_MAX_GROUPS];
};

/* spec must outlive c. Returns 0 or -errno. */
static inline int expect_cfg_init(struct expect_cfg *c, const struct bs_frontend_spec *spec)
{
	__u32 w[BS_MAX_GROUPS] = { 0 };

	memset(c, 0, sizeof(*c));
	c->n_groups = spec->n_groups;
	c->affinity = spec->affinity;
	for (__u32 g = 0; g < spec->n_groups; g++)
		w[g] = spec->groups[g].weight;
	if (bs_thresholds(w, spec->n_groups, c->thr))
		return -EINVAL;
	for (__u32 g = 0; g < spec->n_groups; g++) {
		const struct bs_group_spec *gs = &spec->groups[g];
		struct bs_maglev_member *mm = calloc(gs->n_backends + 1, sizeof(*mm));
		__u32 n = 0;

		if (!mm)
			return -ENOMEM;
		c->be[g] = gs->backends;
		for (__u32 i = 0; i < gs->n_backends; i++) {
			if (gs->backends[i].state != BS_BACKEND_READY)
				continue;
			memcpy(mm[n].addr, gs->backends[i].addr, sizeof(mm[n].addr));
			mm[n].port = gs->backends[i].port;
			mm[n].family = gs->backends[i].family;
			mm[n].id = i + 1;
			n++;
		}
		if (n) {
			c->size[g] = bs_maglev_size_for(n);
			c->tbl[g] = malloc(c->size[g] * sizeof(__u32));
			if (!c->tbl[g] || bs_maglev_build_slots(mm, n, c->tbl[g], c->size[g])) {
				free(mm);
				return -ENOMEM;
			}
		}
		free(mm);
	}
	return 0;
}

static inline void expect_cfg_free(struct expect_cfg *c)
{
	for (__u32 g = 0; g < BS_MAX_GROUPS; g++)
		free(c->tbl[g]);
	memset(c, 0, sizeof(*c));
}

/* The IPv4 TCP flow src:sport -> dst:dport as the programs key it. */
static inline void expect_flow4(struct bs_flow_key *k, const char *src, uint16_t sport, const char *dst, uint16_t dport)
{
	memset(k, 0, sizeof(*k));
	inet_pton(AF_INET, src, &k->saddr[0]);
	inet_pton(AF_INET, dst, &k->daddr[0]);
	k->sport = htons(sport);
	k->dport = htons(dport);
	k->family = BS_AF_INET;
	k->proto = 6;
}

/* The backend a new flow gets, NULL when it is refused (zero weights, no ready backend). */
static inline const struct bs_backend_spec *expect_pick(const struct expect_cfg *c, const __u32 hash_key[4],
							 const struct bs_flow_key *flow)
{
	__u32 h = bs_flow_hash(flow, c->affinity, hash_key);
	__u32 g = bs_group_of_hash(c->thr, c->n_groups, h);

	if (g >= c->n_groups || !c->tbl[g])
		return NULL;
	return &c->be[g][c->tbl[g][c->size[g] == BS_MAGLEV_SIZE ? bs_maglev_slot(h, hash_key)
								 : bs_maglev_slot_large(h, hash_key)] - 1];
}

/* "10.0.0.1" for a backend (IPv4 or IPv6). */
static inline const char *expect_addr(const struct bs_backend_spec *b, char *buf, size_t len)
{
	inet_ntop(b->family == BS_AF_INET ? AF_INET : AF_INET6, b->addr, buf, len);
	return buf;
}

#endif
