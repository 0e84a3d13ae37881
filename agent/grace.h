/* SPDX-License-Identifier: BSD-2-Clause */
/* RCU grace periods for the data path's frees, waited on a thread of their own: the
 * loop that writes the maps never blocks on one (milliseconds, more on a busy node). */
#ifndef BS_AGENT_GRACE_H
#define BS_AGENT_GRACE_H

#include "bpfsplit.h"

struct grace;

int grace_start(struct grace **out);
/* Stop and join the thread (NULL: nothing). */
void grace_stop(struct grace *g);
/* From the loop: free what a finished grace period covers, and ask for the next one
 * when retired entries wait. Never blocks on a grace period. */
void grace_tick(struct grace *g, struct bs_dp *dp);

#endif
