// SPDX-License-Identifier: BSD-2-Clause
/* Applying a spec and describing the difference with what was there before. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "apply.h"
#include "cli.h"

static void add(cJSON *changes, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(cJSON *changes, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	cJSON_AddItemToArray(changes, cJSON_CreateString(line));
}

static const char *state_name(__u8 s)
{
	return s == BS_BACKEND_DRAINING ? "draining" : "ready";
}

static const struct bs_backend_spec *find_backend(const struct bs_group_spec *g, const struct bs_backend_spec *b)
{
	for (__u32 i = 0; i < g->n_backends; i++)
		if (g->backends[i].family == b->family && g->backends[i].port == b->port &&
		    !memcmp(g->backends[i].addr, b->addr, sizeof(b->addr)))
			return &g->backends[i];
	return NULL;
}

static void group_summary(cJSON *changes, const char *verb, const struct bs_group_spec *g)
{
	__u32 ready = 0;

	for (__u32 i = 0; i < g->n_backends; i++)
		ready += g->backends[i].state == BS_BACKEND_READY;
	add(changes, "group %s %s: weight %u, %u backend%s (%u ready)", g->name, verb, g->weight, g->n_backends,
	    g->n_backends == 1 ? "" : "s", ready);
}

int spec_diff(const struct bs_frontend_spec *old, const struct bs_frontend_spec *new, cJSON *changes)
{
	int before = cJSON_GetArraySize(changes);
	__u32 n = 0;

	if (!old) {
		if (new->affinity == BS_AFFINITY_CLIENT)
			add(changes, "affinity client");
		for (__u32 g = 0; g < new->n_groups; g++)
			group_summary(changes, "added", &new->groups[g]);
		return cJSON_GetArraySize(changes) - before;
	}
	if (old->affinity != new->affinity)
		add(changes, "affinity %s -> %s", old->affinity == BS_AFFINITY_CLIENT ? "client" : "connection",
		    new->affinity == BS_AFFINITY_CLIENT ? "client" : "connection");
	n = old->n_groups > new->n_groups ? old->n_groups : new->n_groups;
	for (__u32 g = 0; g < n; g++) {
		const struct bs_group_spec *o = g < old->n_groups ? &old->groups[g] : NULL;
		const struct bs_group_spec *w = g < new->n_groups ? &new->groups[g] : NULL;
		char ep[64];

		if (!o) {
			group_summary(changes, "added", w);
			continue;
		}
		if (!w) {
			add(changes, "group %s removed", o->name);
			continue;
		}
		if (strcmp(o->name, w->name))
			add(changes, "group %u renamed %s -> %s", g, o->name, w->name);
		if (o->weight != w->weight)
			add(changes, "weight %s %u -> %u", w->name, o->weight, w->weight);
		for (__u32 i = 0; i < w->n_backends; i++) {
			const struct bs_backend_spec *b = &w->backends[i], *was = find_backend(o, b);

			bs_endpoint_format(b->addr, b->port, b->family, ep, sizeof(ep));
			if (!was)
				add(changes, "backend %s added to %s (%s)", ep, w->name, state_name(b->state));
			else if (was->state != b->state)
				add(changes, "backend %s in %s: %s -> %s", ep, w->name, state_name(was->state),
				    state_name(b->state));
		}
		for (__u32 i = 0; i < o->n_backends; i++) {
			const struct bs_backend_spec *b = &o->backends[i];

			if (find_backend(w, b))
				continue;
			bs_endpoint_format(b->addr, b->port, b->family, ep, sizeof(ep));
			add(changes, "backend %s removed from %s", ep, o->name);
		}
	}
	return cJSON_GetArraySize(changes) - before;
}

int apply_and_report(struct bs_dp *dp, const struct bs_frontend_spec *spec, cJSON *results)
{
	struct bs_frontend_spec old;
	char name[80], errbuf[512] = "";
	cJSON *item = NULL, *changes;
	const char *result;
	bool existed;
	int err, n;

	bs_frontend_key_format(&spec->key, name, sizeof(name));
	err = bs_dp_read(dp, &spec->key, &old);
	if (err && err != -ENOENT)
		return cli_fail(err, "frontend %s: cannot read its current state", name);
	existed = !err;
	err = bs_dp_apply(dp, spec, errbuf, sizeof(errbuf));
	if (err) {
		if (errbuf[0])
			cli_error("%s", errbuf);
		else
			cli_fail(err, "frontend %s", name);
		/* Not -ENOENT: a failed write is an error, not "not found". */
		err = err == -ENOENT ? -EIO : err;
		goto out;
	}
	cli_note_agent_owned(dp, &spec->key, "was written");
	item = cJSON_CreateObject();
	changes = cJSON_CreateArray();
	if (!item || !changes) {
		cJSON_Delete(changes);
		err = -ENOMEM;
		goto out;
	}
	n = spec_diff(existed ? &old : NULL, spec, changes);
	result = !existed ? "created" : n ? "updated" : "unchanged";
	cJSON_AddStringToObject(item, "frontend", name);
	cJSON_AddStringToObject(item, "result", result);
	cJSON_AddItemToObject(item, "changes", changes);
	if (cli.json) {
		cJSON_AddItemToArray(results, item);
		item = NULL;
	} else {
		const cJSON *c;
		bool first = true;

		printf("frontend %s: %s", name, result);
		cJSON_ArrayForEach(c, changes) {
			printf("%s%s", first ? ": " : "; ", c->valuestring);
			first = false;
		}
		printf("\n");
	}
out:
	cJSON_Delete(item);
	if (existed)
		bs_frontend_spec_free(&old);
	return err;
}
