/* SPDX-License-Identifier: BSD-2-Clause */
/* A string-keyed hash of optional string values (uthash), for the agent's small sets:
 * routes to recompute, status queue, problems reported, last status sent. */
#ifndef BS_AGENT_STRMAP_H
#define BS_AGENT_STRMAP_H

#include <uthash.h>

struct str_entry {
	UT_hash_handle hh;
	char *key;
	char *val;
};

/* Set key to a copy of val (NULL allowed). Out of memory: nothing changes. */
void str_set(struct str_entry **h, const char *key, const char *val);
const struct str_entry *str_get(struct str_entry *h, const char *key);
void str_del(struct str_entry **h, const char *key);
void str_clear(struct str_entry **h);

#endif
