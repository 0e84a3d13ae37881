/* SPDX-License-Identifier: BSD-2-Clause */
/* Printing for the CLI: JSON documents (plain or pretty, per -j/-p) and the few
 * formatting helpers that plain output shares. */
#ifndef BS_OUTPUT_H
#define BS_OUTPUT_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "bpfsplit.h"

/* Print doc on stdout (pretty with -p) followed by a newline, then free it.
 * Returns -ENOMEM if it could not be rendered (doc is freed anyway). */
int out_json(cJSON *doc);

/* {"packets": n, "bytes": n, "new_conns": n, "rejected": n}; rejected only when with_rejected. */
cJSON *out_json_counters(const struct bs_counters *c, bool with_rejected);
/* Add a 64-bit counter; exact up to 2^53 (cJSON numbers are doubles). */
cJSON *out_json_u64(cJSON *obj, const char *name, __u64 v);

/* A percentage rounded to two decimals, for JSON. */
double out_pct(double pct);
/* "1.5s", "250ms", "3m12s", "2h05m": a duration for people. */
void out_duration(__u64 ns, char *buf, size_t len);
/* "ready" / "draining" / "unused". */
const char *out_backend_state(__u8 state);
/* "connection" / "client". */
const char *out_affinity(__u8 affinity);
/* Hash key as 32 hex digits, word by word ("%08x" each). */
void out_hash_key(const __u32 key[4], char *buf, size_t len);

#endif
