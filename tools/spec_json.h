/* SPDX-License-Identifier: BSD-2-Clause */
/* Frontend specs as JSON, both ways: the format `bpfsplit frontend apply` reads and
 * `bpfsplit frontend export` writes. Depends only on libbpfsplit and cJSON, so tests
 * and other programs can link it too.
 *
 *   {"frontend": "10.96.0.10:80/tcp",          required; "[fd00::a]:80/udp" for IPv6
 *    "affinity": "connection" | "client",      optional, default "connection"
 *    "groups": [                               required, 0..16 entries, in order
 *      {"name": "stable",                      required, unique, 1..55 bytes
 *       "weight": 70,                          required, integer 0..1000000
 *       "backends": [                          optional, default []
 *         {"address": "10.201.1.2:8080",       required, same family as the frontend
 *          "state": "ready" | "draining"},     optional, default "ready"
 *         "10.201.1.3:8080"]}]}                a bare string is a ready backend
 *
 * A document is one such object or {"frontends": [ ... ]}. Unknown fields, duplicate
 * fields, duplicate groups, backends or frontends are errors. */
#ifndef BS_SPEC_JSON_H
#define BS_SPEC_JSON_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "bpfsplit.h"

/* Parse and validate a whole document of len bytes. source names it in syntax errors
 * ("web.json: line 3, column 7: ..."). On success *specs holds *n specs (free with
 * bs_specs_free); on error returns -EBADMSG (malformed JSON) or -EINVAL (invalid
 * content), err says what and where, and nothing is allocated. */
int bs_spec_parse_doc(const char *text, size_t len, const char *source, struct bs_frontend_spec **specs, size_t *n,
		      char *err, size_t err_len);

/* Parse and validate one frontend object. where prefixes errors about the "frontend"
 * field itself (e.g. "frontends[2]"); later errors name the frontend. On error the
 * spec holds nothing to free. */
int bs_spec_from_json(const cJSON *obj, const char *where, struct bs_frontend_spec *spec, char *err, size_t err_len);

/* The spec as a frontend object in the format above; NULL when out of memory. */
cJSON *bs_spec_to_json(const struct bs_frontend_spec *spec);

/* Free an array from bs_spec_parse_doc (each spec's backends, then the array). */
void bs_specs_free(struct bs_frontend_spec *specs, size_t n);

#endif
