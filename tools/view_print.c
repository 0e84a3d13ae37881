// SPDX-License-Identifier: BSD-2-Clause
/* Rendering a frontend view: the JSON object of `frontend show -j`, and the plain block
 * of `frontend show` (one row per backend, grouped). */
#include <stdio.h>
#include <string.h>
#include "output.h"
#include "view.h"

cJSON *view_frontend_json(const struct view_frontend *v)
{
	cJSON *o = cJSON_CreateObject(), *groups;

	cJSON_AddStringToObject(o, "frontend", v->name);
	cJSON_AddNumberToObject(o, "id", v->fe.id);
	cJSON_AddNumberToObject(o, "split_id", v->split_id);
	cJSON_AddStringToObject(o, "affinity", out_affinity(v->affinity));
	out_json_u64(o, "weight_total", v->weight_sum);
	cJSON_AddItemToObject(o, "counters", out_json_counters(&v->counters, true));
	groups = cJSON_AddArrayToObject(o, "groups");
	for (__u32 g = 0; g < v->n_groups; g++) {
		const struct view_group *vg = &v->groups[g];
		cJSON *gj = cJSON_CreateObject(), *bl;

		cJSON_AddItemToArray(groups, gj);
		cJSON_AddNumberToObject(gj, "index", g);
		cJSON_AddStringToObject(gj, "name", vg->name);
		cJSON_AddNumberToObject(gj, "weight", vg->weight);
		cJSON_AddNumberToObject(gj, "share_pct", out_pct(view_share_pct(v, g)));
		cJSON_AddNumberToObject(gj, "table_id", vg->table_id);
		cJSON_AddNumberToObject(gj, "ready_backends", vg->n_ready);
		bl = cJSON_AddArrayToObject(gj, "backends");
		for (__u32 i = 0; i < vg->n_backends; i++) {
			const struct view_backend *vb = &vg->backends[i];
			cJSON *bj = cJSON_CreateObject();
			char ep[64];

			cJSON_AddItemToArray(bl, bj);
			bs_endpoint_format(vb->spec.addr, vb->spec.port, vb->spec.family, ep, sizeof(ep));
			cJSON_AddStringToObject(bj, "address", ep);
			cJSON_AddNumberToObject(bj, "id", vb->id);
			cJSON_AddStringToObject(bj, "state", out_backend_state(vb->spec.state));
			cJSON_AddItemToObject(bj, "counters", out_json_counters(&vb->counters, false));
		}
	}
	return o;
}

void view_frontend_print(const struct view_frontend *v)
{
	int gw = 5, aw = 7;

	for (__u32 g = 0; g < v->n_groups; g++) {
		if ((int)strlen(v->groups[g].name) > gw)
			gw = strlen(v->groups[g].name);
		for (__u32 i = 0; i < v->groups[g].n_backends; i++) {
			const struct view_backend *vb = &v->groups[g].backends[i];
			char ep[64];

			bs_endpoint_format(vb->spec.addr, vb->spec.port, vb->spec.family, ep, sizeof(ep));
			if ((int)strlen(ep) > aw)
				aw = strlen(ep);
		}
	}
	printf("frontend %s  id %u  affinity %s\n", v->name, v->fe.id, out_affinity(v->affinity));
	printf("  packets %llu  bytes %llu  new_conns %llu  rejected %llu\n", (unsigned long long)v->counters.packets,
	       (unsigned long long)v->counters.bytes, (unsigned long long)v->counters.new_conns,
	       (unsigned long long)v->counters.rejected);
	if (!v->n_groups) {
		printf("  no groups: every new connection is refused\n");
		return;
	}
	printf("  %-*s %8s %7s %6s  %-*s %6s %-8s %10s %12s %9s\n", gw, "GROUP", "WEIGHT", "SHARE", "TABLE", aw,
	       "BACKEND", "ID", "STATE", "PACKETS", "BYTES", "NEW_CONNS");
	for (__u32 g = 0; g < v->n_groups; g++) {
		const struct view_group *vg = &v->groups[g];
		char share[16];

		snprintf(share, sizeof(share), "%.1f%%", view_share_pct(v, g));
		printf("  %-*s %8u %7s %6u  ", gw, vg->name, vg->weight, share, vg->table_id);
		if (!vg->n_backends)
			printf("%-*s\n", aw, "-");
		for (__u32 i = 0; i < vg->n_backends; i++) {
			const struct view_backend *vb = &vg->backends[i];
			char ep[64];

			bs_endpoint_format(vb->spec.addr, vb->spec.port, vb->spec.family, ep, sizeof(ep));
			if (i)
				printf("  %-*s %8s %7s %6s  ", gw, "", "", "", "");
			printf("%-*s %6u %-8s %10llu %12llu %9llu\n", aw, ep, vb->id, out_backend_state(vb->spec.state),
			       (unsigned long long)vb->counters.packets, (unsigned long long)vb->counters.bytes,
			       (unsigned long long)vb->counters.new_conns);
		}
	}
}
