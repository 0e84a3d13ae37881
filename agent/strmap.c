// SPDX-License-Identifier: BSD-2-Clause
/* String-keyed sets of the agent. */
#include "strmap.h"

#include <stdlib.h>
#include <string.h>

void str_set(struct str_entry **h, const char *key, const char *val)
{
	struct str_entry *e;

	HASH_FIND_STR(*h, key, e);
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			return;
		}
		HASH_ADD_KEYPTR(hh, *h, e->key, strlen(e->key), e);
	}
	free(e->val);
	e->val = val ? strdup(val) : NULL;
}

const struct str_entry *str_get(struct str_entry *h, const char *key)
{
	struct str_entry *e;

	HASH_FIND_STR(h, key, e);
	return e;
}

void str_del(struct str_entry **h, const char *key)
{
	struct str_entry *e;

	HASH_FIND_STR(*h, key, e);
	if (!e)
		return;
	HASH_DEL(*h, e);
	free(e->key);
	free(e->val);
	free(e);
}

void str_clear(struct str_entry **h)
{
	struct str_entry *e, *tmp;

	HASH_ITER(hh, *h, e, tmp) {
		HASH_DEL(*h, e);
		free(e->key);
		free(e->val);
		free(e);
	}
}
