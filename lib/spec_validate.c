// SPDX-License-Identifier: BSD-2-Clause
/* The one check of a frontend spec against what the data path can hold. Pure: the real
 * writer, the in-memory writer, the CLI's JSON parser and the agent's desired state all
 * call it, so that --dry-run, unit tests and the maps agree on what is refused. */
#include <errno.h>
#include <stdio.h>
#include "bpfsplit.h"

int bs_spec_validate(const struct bs_frontend_spec *spec, char *err, size_t len)
{
	char fe[80], scratch[8];

	if (!err || !len) {
		err = scratch;
		len = sizeof(scratch);
	}
	bs_frontend_key_format(&spec->key, fe, sizeof(fe));
	if (spec->key.family != BS_AF_INET && spec->key.family != BS_AF_INET6) {
		snprintf(err, len, "frontend %s: unknown address family %u", fe, spec->key.family);
		return -EINVAL;
	}
	if (spec->key.proto != 6 && spec->key.proto != 17) {
		snprintf(err, len, "frontend %s: protocol %u is neither TCP nor UDP", fe, spec->key.proto);
		return -EINVAL;
	}
	if (!spec->key.port) {
		snprintf(err, len, "frontend %s: port 0", fe);
		return -EINVAL;
	}
	if (spec->n_groups > BS_MAX_GROUPS) {
		snprintf(err, len, "frontend %s: %u groups, at most %d allowed", fe, spec->n_groups, BS_MAX_GROUPS);
		return -EINVAL;
	}
	if (spec->affinity > BS_AFFINITY_CLIENT) {
		snprintf(err, len, "frontend %s: unknown affinity mode %u", fe, spec->affinity);
		return -EINVAL;
	}
	for (__u32 g = 0; g < spec->n_groups; g++) {
		const struct bs_group_spec *gs = &spec->groups[g];
		__u32 ready = 0;

		if (gs->weight > BS_MAX_WEIGHT) {
			snprintf(err, len, "frontend %s: group %u (%s): weight %u out of range 0..%d", fe, g, gs->name,
				 gs->weight, BS_MAX_WEIGHT);
			return -EINVAL;
		}
		if (gs->n_backends && !gs->backends) {
			snprintf(err, len, "frontend %s: group %u (%s): %u backends but no list", fe, g, gs->name,
				 gs->n_backends);
			return -EINVAL;
		}
		for (__u32 i = 0; i < gs->n_backends; i++) {
			const struct bs_backend_spec *b = &gs->backends[i];
			char ep[64];

			bs_endpoint_format(b->addr, b->port, b->family, ep, sizeof(ep));
			if (b->family != spec->key.family) {
				snprintf(err, len,
					 "frontend %s: group %u (%s): backend %s: address family differs from the frontend's",
					 fe, g, gs->name, ep);
				return -EINVAL;
			}
			if (!b->port) {
				snprintf(err, len, "frontend %s: group %u (%s): backend %s: port 0", fe, g, gs->name, ep);
				return -EINVAL;
			}
			if (b->state != BS_BACKEND_READY && b->state != BS_BACKEND_DRAINING) {
				snprintf(err, len, "frontend %s: group %u (%s): backend %s: unknown state %u", fe, g,
					 gs->name, ep, b->state);
				return -EINVAL;
			}
			ready += b->state == BS_BACKEND_READY;
		}
		if (ready > BS_MAX_READY_PER_GROUP) {
			snprintf(err, len,
				 "frontend %s: group %u (%s): %u ready backends, at most %d per group (the Maglev table "
				 "keeps an even spread up to that)",
				 fe, g, gs->name, ready, BS_MAX_READY_PER_GROUP);
			return -E2BIG;
		}
	}
	return 0;
}
