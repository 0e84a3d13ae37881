// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer harness: the CLI's frontend spec JSON (tools/spec_json.c). A document that
 * parses must come back identical through export and a second parse (what `frontend
 * export | frontend apply` relies on); one that does not must say why. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spec_json.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static void same_spec(const struct bs_frontend_spec *a, const struct bs_frontend_spec *b)
{
	CHECK(!memcmp(&a->key, &b->key, sizeof(a->key)));
	CHECK(a->affinity == b->affinity);
	CHECK(a->n_groups == b->n_groups);
	for (unsigned g = 0; g < a->n_groups; g++) {
		const struct bs_group_spec *x = &a->groups[g], *y = &b->groups[g];

		CHECK(!strcmp(x->name, y->name));
		CHECK(x->weight == y->weight);
		CHECK(x->n_backends == y->n_backends);
		for (unsigned k = 0; k < x->n_backends; k++)
			CHECK(!memcmp(&x->backends[k], &y->backends[k], sizeof(x->backends[k])));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bs_frontend_spec *specs = NULL, *again = NULL;
	size_t n = 0, n2 = 0;
	char err[512] = "";
	int r = bs_spec_parse_doc((const char *)data, size, "fuzz.json", &specs, &n, err, sizeof(err));

	if (r) {
		CHECK(r == -EBADMSG || r == -EINVAL);
		CHECK(err[0]);
		CHECK(!specs);
		return 0;
	}
	{
		cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "frontends");
		char *text;

		for (size_t i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, bs_spec_to_json(&specs[i]));
		text = cJSON_PrintUnformatted(doc);
		CHECK(text);
		r = bs_spec_parse_doc(text, strlen(text), "export", &again, &n2, err, sizeof(err));
		if (r)
			fprintf(stderr, "export does not parse again: %s\n%s\n", err, text);
		CHECK(r == 0);
		CHECK(n2 == n);
		for (size_t i = 0; i < n; i++)
			same_spec(&specs[i], &again[i]);
		free(text);
		cJSON_Delete(doc);
	}
	bs_specs_free(again, n2);
	bs_specs_free(specs, n);
	return 0;
}
