// SPDX-License-Identifier: BSD-2-Clause
/* The live page (--ui) on the metrics port: /ui (agent/ui.html, built into the binary)
 * and /ui/data.json, every frontend's route, rollout step, groups with their configured
 * weight and cumulative connection and failure counts, read at request time from the
 * listener's thread (the same pinned handle as the /metrics scrape). */
#include "agent.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "health_metrics.h"

/* agent/ui.html, NUL-terminated. */
__asm__(".section .rodata\n"
	".global bs_ui_html\n"
	"bs_ui_html:\n"
	".incbin \"agent/ui.html\"\n"
	".byte 0\n"
	".previous\n");
extern const char bs_ui_html[];

static cJSON *frontend_obj(cJSON *arr, struct bs_dp *dp, const struct health_row_view *v)
{
	struct bs_frontend_info info;
	cJSON *fe;

	cJSON_ArrayForEach(fe, arr)
		if (!strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(fe, "frontend")), v->frontend))
			return fe;
	fe = cJSON_CreateObject();
	cJSON_AddStringToObject(fe, "frontend", v->frontend);
	cJSON_AddStringToObject(fe, "namespace", v->ns);
	cJSON_AddStringToObject(fe, "route", v->route);
	cJSON_AddStringToObject(fe, "rollout", v->rollout);
	if (!bs_dp_get_info(dp, v->frontend_id, &info)) {
		info.phase[sizeof(info.phase) - 1] = 0;
		cJSON_AddNumberToObject(fe, "step", info.step);
		cJSON_AddNumberToObject(fe, "n_steps", info.n_steps);
		cJSON_AddStringToObject(fe, "phase", info.phase);
		cJSON_AddBoolToObject(fe, "paused", info.paused);
		cJSON_AddBoolToObject(fe, "aborted", info.aborted);
	} else {
		cJSON_AddNumberToObject(fe, "step", -1);
	}
	cJSON_AddItemToObject(fe, "groups", cJSON_CreateArray());
	cJSON_AddItemToArray(arr, fe);
	return fe;
}

static int data_json(struct bs_dp *dp, struct mbuf *out)
{
	struct health_snapshot snap;
	struct timespec ts;
	cJSON *doc, *arr;
	char *text;
	int err = health_collect(dp, false, &snap);

	if (err)
		return err;
	clock_gettime(CLOCK_REALTIME, &ts);
	doc = cJSON_CreateObject();
	cJSON_AddNumberToObject(doc, "time_unix_ms", (double)ts.tv_sec * 1e3 + ts.tv_nsec / 1e6);
	arr = cJSON_AddArrayToObject(doc, "frontends");
	for (size_t i = 0; i < health_rows(&snap); i++) {
		struct health_row_view v;
		cJSON *g;

		if (health_row(&snap, i, &v) || v.backend)
			continue;
		if (v.group_index == BS_HEALTH_NO_GROUP) {
			/* refusals while every weight is 0: a frontend-level figure */
			cJSON_AddNumberToObject(frontend_obj(arr, dp, &v), "refused_zero_weight", (double)v.h->refused_zero_weight);
			continue;
		}
		g = cJSON_CreateObject();
		cJSON_AddNumberToObject(g, "index", v.group_index);
		cJSON_AddStringToObject(g, "group", v.group);
		cJSON_AddStringToObject(g, "service", v.service);
		cJSON_AddNumberToObject(g, "weight", v.weight);
		cJSON_AddNumberToObject(g, "weight_ratio", v.weight_sum ? (double)v.weight / (double)v.weight_sum : 0);
		cJSON_AddNumberToObject(g, "new_conns", (double)(v.h->new_conns + v.h->udp_flows));
		cJSON_AddNumberToObject(g, "failed", (double)v.h->failed);
		cJSON_AddNumberToObject(g, "backend_resets", (double)v.h->backend_resets);
		cJSON_AddNumberToObject(g, "handshake_timeouts", (double)v.h->handshake_timeouts);
		cJSON_AddNumberToObject(g, "refused_no_backend", (double)v.h->refused_no_backend);
		cJSON_AddNumberToObject(g, "handshakes", (double)v.h->handshakes);
		cJSON_AddItemToArray(cJSON_GetObjectItem(frontend_obj(arr, dp, &v), "groups"), g);
	}
	health_snapshot_free(&snap);
	text = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	if (!text)
		return -ENOMEM;
	mbuf_printf(out, "%s\n", text);
	free(text);
	return 0;
}

bool agent_ui_page(void *ctx, const char *url, struct mbuf *out, const char **type)
{
	struct agent *a = ctx;

	if (!strcmp(url, "/ui") || !strcmp(url, "/ui/")) {
		*type = "text/html; charset=utf-8";
		mbuf_printf(out, "%s", bs_ui_html);
		return true;
	}
	if (strcmp(url, "/ui/data.json"))
		return false;
	*type = "application/json";
	if (!a->scrape_dp && bs_dp_open_pinned(a->f.pin_root, &a->scrape_dp)) {
		a->scrape_dp = NULL;
		mbuf_printf(out, "{\"error\":\"data path not open\",\"frontends\":[]}\n");
		return true;
	}
	if (data_json(a->scrape_dp, out))
		out->oom = true;
	return true;
}
