// SPDX-License-Identifier: BSD-2-Clause
/* Printing helpers for the CLI: JSON rendering and shared plain-text formatting. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include "cli.h"
#include "output.h"

int out_json(cJSON *doc)
{
	char *text = doc ? (cli.pretty ? cJSON_Print(doc) : cJSON_PrintUnformatted(doc)) : NULL;

	cJSON_Delete(doc);
	if (!text) {
		cli_error("cannot render the JSON output: out of memory");
		return -ENOMEM;
	}
	puts(text);
	free(text);
	return 0;
}

cJSON *out_json_u64(cJSON *obj, const char *name, __u64 v)
{
	return cJSON_AddNumberToObject(obj, name, (double)v);
}

cJSON *out_json_counters(const struct bs_counters *c, bool with_rejected)
{
	cJSON *o = cJSON_CreateObject();

	out_json_u64(o, "packets", c->packets);
	out_json_u64(o, "bytes", c->bytes);
	out_json_u64(o, "new_conns", c->new_conns);
	if (with_rejected)
		out_json_u64(o, "rejected", c->rejected);
	return o;
}

double out_pct(double pct)
{
	return (double)(long long)(pct * 100 + 0.5) / 100;
}

void out_duration(__u64 ns, char *buf, size_t len)
{
	__u64 ms = ns / 1000000, s = ns / 1000000000ULL;

	if (ns < 1000000ULL)
		snprintf(buf, len, "%lluus", (unsigned long long)(ns / 1000));
	else if (ms < 10000)
		snprintf(buf, len, "%llu.%03llus", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
	else if (s < 60)
		snprintf(buf, len, "%llus", (unsigned long long)s);
	else if (s < 3600)
		snprintf(buf, len, "%llum%02llus", (unsigned long long)(s / 60), (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%lluh%02llum", (unsigned long long)(s / 3600), (unsigned long long)(s / 60 % 60));
}

const char *out_backend_state(__u8 state)
{
	switch (state) {
	case BS_BACKEND_READY:
		return "ready";
	case BS_BACKEND_DRAINING:
		return "draining";
	default:
		return "unused";
	}
}

const char *out_affinity(__u8 affinity)
{
	return affinity == BS_AFFINITY_CLIENT ? "client" : "connection";
}

void out_hash_key(const __u32 key[4], char *buf, size_t len)
{
	snprintf(buf, len, "%08x%08x%08x%08x", key[0], key[1], key[2], key[3]);
}
