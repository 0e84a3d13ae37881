/* SPDX-License-Identifier: BSD-2-Clause */
/* Map sizes for the agent: the same --max-* options as `bpfsplit dataplane load`. */
#ifndef BS_AGENT_SIZES_H
#define BS_AGENT_SIZES_H

#include "bpfsplit.h"

/* flag is "max-conns", "max-frontends", "max-backends", "max-tables" or "max-splits":
 * 0, -ENOENT (not a size flag) or -EINVAL (bad value: 1..2^30). */
int sizes_parse(const char *flag, const char *val, struct bs_dp_opts *o);
/* Log the sizes the maps have; warn where pinned maps kept other sizes than asked. */
void sizes_report(struct bs_dp *dp, const struct bs_dp_opts *o);

#endif
