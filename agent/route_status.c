// SPDX-License-Identifier: BSD-2-Clause
/* HTTPRoute status conditions and the merge patch that writes them: see route_status.h. */
#include "route_status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "dp_writer.h"

#define GW_GROUP "gateway.networking.k8s.io"

/* ---- conditions ---- */

struct msgbuf {
	char *s;
	size_t cap, len;
	unsigned int n;
};

static void msg_add(struct msgbuf *m, const char *text)
{
	int w;

	if (m->len + 1 >= m->cap)
		return;
	w = snprintf(m->s + m->len, m->cap - m->len, "%s%s", m->n ? "; " : "", text);
	if (w < 0)
		return;
	m->len += (size_t)w;
	if (m->len >= m->cap)
		m->len = m->cap - 1;
	m->n++;
}

/* snprintf whose cut output is fine (messages are capped on purpose). */
static void __attribute__((format(printf, 3, 4))) fmt_into(char *dst, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(dst, cap, fmt, ap);
	va_end(ap);
}

/* A problem's message without the "httproute ns/name: " that names the route. */
static const char *cause(const struct desired_problem *p)
{
	const char *kind = cache_kind_name(p->kind);
	size_t kl = strlen(kind), ol = strlen(p->owner);

	if (!strncmp(p->msg, kind, kl) && p->msg[kl] == ' ' && !strncmp(p->msg + kl + 1, p->owner, ol) &&
	    !strncmp(p->msg + kl + 1 + ol, ": ", 2))
		return p->msg + kl + 1 + ol + 2;
	return p->msg;
}

static bool concerns(const struct desired_problem *p, const struct desired_route *dr, int parent)
{
	return p->kind == dr->kind && !strcmp(p->owner, dr->key) && (p->parent < 0 || p->parent == parent);
}

static bool owns(const struct desired_frontend *f, const struct desired_route *dr, int parent)
{
	return f->owner_kind == dr->kind && !strcmp(f->owner, dr->key) && (f->parent < 0 || f->parent == parent);
}

static void cond_set(struct route_condition *c, const char *type, bool ok, const char *reason)
{
	snprintf(c->type, sizeof(c->type), "%s", type);
	snprintf(c->status, sizeof(c->status), "%s", ok ? "True" : "False");
	snprintf(c->reason, sizeof(c->reason), "%s", reason);
}

size_t route_status_conditions(const struct desired *d, const struct desired_route *dr, int parent,
			       struct route_condition out[ROUTE_STATUS_MAX_CONDS])
{
	struct route_condition *acc = &out[0], *res = &out[1], *part = &out[2], *l7;
	struct route_condition l7c = { 0 };
	struct msgbuf am = { acc->message, sizeof(acc->message), 0, 0 };
	struct msgbuf rm = { res->message, sizeof(res->message), 0, 0 };
	struct msgbuf pm = { part->message, sizeof(part->message), 0, 0 };
	struct msgbuf lm7 = { l7c.message, sizeof(l7c.message), 0, 0 };
	const char *acc_reason = NULL, *res_reason = NULL;
	size_t emitted = 0, conflicts = 0, n;
	char fe[80], line[160];
	bool parent_ok = dr->parents_ok & (1u << parent);

	memset(out, 0, ROUTE_STATUS_MAX_CONDS * sizeof(out[0]));
	/* Only frontends the maps serve count as programmed. */
	for (size_t i = 0; i < d->n_fe; i++)
		if (owns(&d->fe[i], dr, parent) && d->fe[i].in_maps)
			emitted++;

	for (size_t i = 0; i < d->n_pr; i++) {
		const struct desired_problem *p = &d->pr[i];

		if (!concerns(p, dr, parent))
			continue;
		switch (p->reason) {
		case DR_INVALID:
		case DR_NO_L4_RULE:
			if (!acc_reason)
				acc_reason = "UnsupportedValue";
			msg_add(&am, cause(p));
			break;
		case DR_NO_FRONTENDS:
		case DR_PARENT_NOT_FOUND:
			if (!acc_reason && !parent_ok)
				acc_reason = "NoMatchingParent";
			msg_add(&am, cause(p));
			break;
		case DR_NOT_ALLOWED:
			if (!acc_reason && !parent_ok)
				acc_reason = "NotAllowedByListeners";
			msg_add(&am, cause(p));
			break;
		case DR_NO_MATCHING_HOSTNAME:
			if (!acc_reason && !parent_ok)
				acc_reason = "NoMatchingListenerHostname";
			msg_add(&am, cause(p));
			break;
		case DR_TLS_TERMINATED:
			if (!acc_reason && !parent_ok)
				acc_reason = "UnsupportedValue";
			msg_add(&am, cause(p));
			break;
		case DR_REF_NOT_PERMITTED:
			if (!res_reason)
				res_reason = "RefNotPermitted";
			msg_add(&rm, cause(p));
			break;
		case DR_L7_NOT_ENFORCED:
			msg_add(&lm7, cause(p));
			break;
		case DR_CONFLICT:
			conflicts++;
			msg_add(&am, cause(p));
			break;
		case DR_RULE_SKIPPED:
		case DR_RULE_SHADOWED:
			msg_add(&pm, cause(p));
			break;
		case DR_INVALID_KIND:
			if (!res_reason)
				res_reason = "InvalidKind";
			msg_add(&rm, cause(p));
			break;
		case DR_BACKEND_NOT_FOUND:
		case DR_PORT_NOT_FOUND:
			if (!res_reason)
				res_reason = "BackendNotFound";
			msg_add(&rm, cause(p));
			break;
		case DR_NO_ENDPOINTS:
			if (!res_reason)
				res_reason = "NoEndpoints";
			msg_add(&rm, cause(p));
			break;
		case DR_TOO_MANY_GROUPS:
		case DR_DATAPATH_LIMIT:
			if (!res_reason)
				res_reason = "UnsupportedValue";
			msg_add(&rm, cause(p));
			break;
		case DR_NO_READY_ENDPOINTS:
		case DR_WEIGHTS_MISSING:
		default:
			msg_add(&rm, cause(p));
			break;
		}
	}
	if (!acc_reason && conflicts && !emitted)
		acc_reason = "FrontendConflict";
	if (!acc_reason && !parent_ok && !emitted)
		acc_reason = "NoMatchingParent";
	cond_set(acc, "Accepted", !acc_reason, acc_reason ? acc_reason : "Accepted");
	if (!acc_reason) {
		/* Say what is programmed: the frontends this parent gives that the maps serve,
		 * then any notes. */
		char list[ROUTE_STATUS_MSG_MAX], notes[ROUTE_STATUS_MSG_MAX];
		struct msgbuf lm = { list, sizeof(list), 0, 0 };
		size_t listed = 0, absent = 0;

		list[0] = '\0';
		for (size_t i = 0; i < d->n_fe; i++) {
			const struct desired_frontend *f = &d->fe[i];

			if (!owns(f, dr, parent))
				continue;
			if (!f->in_maps) {
				absent++;
				continue;
			}
			if (listed >= 8)
				continue;
			dp_key_str(&f->spec.key, fe, sizeof(fe));
			snprintf(line, sizeof(line), "%s%s", fe, f->blocked ? " (last good split kept)" : "");
			msg_add(&lm, line);
			listed++;
		}
		if (emitted > listed) {
			snprintf(line, sizeof(line), "and %zu more", emitted - listed);
			msg_add(&lm, line);
		}
		if (absent) {
			snprintf(line, sizeof(line), "%zu frontend%s not programmed (no good split yet)", absent,
				 absent > 1 ? "s" : "");
			msg_add(&am, line);
		}
		snprintf(notes, sizeof(notes), "%s", acc->message);
		if (dr->rule >= 0 && listed)
			fmt_into(acc->message, sizeof(acc->message), "rules[%d] programmed at L4 on %s%s%s%s%s", dr->rule,
				 list, dr->rollout[0] ? "; weights driven by rollout " : "", dr->rollout,
				 notes[0] ? "; " : "", notes);
		else if (dr->rule >= 0)
			fmt_into(acc->message, sizeof(acc->message), "rules[%d] accepted; nothing programmed yet%s%s",
				 dr->rule, notes[0] ? ": " : "", notes);
	}
	cond_set(res, "ResolvedRefs", !res_reason, res_reason ? res_reason : "ResolvedRefs");
	if (res_reason && emitted)
		msg_add(&rm, "the last good split stays in force");
	n = 2;
	if (pm.n) {
		char causes[ROUTE_STATUS_MSG_MAX];

		/* The spec's form: the message starts with "Dropped Rule". */
		snprintf(causes, sizeof(causes), "%s", part->message);
		cond_set(part, "PartiallyInvalid", true, "UnsupportedValue");
		fmt_into(part->message, sizeof(part->message), "Dropped Rule(s): %s", causes);
		n = 3;
	}
	if (lm7.n) {
		l7 = &out[n++];
		*l7 = l7c;
		cond_set(l7, ROUTE_STATUS_L7_CONDITION, true, "UnsupportedValue");
	}
	return n;
}

/* ---- the patch ---- */

static const char *jstr(const cJSON *o, const char *key, const char *dflt)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : dflt;
}

static int jint(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valueint : 0;
}

/* Two parentRefs name the same parent (defaults applied). */
static bool ref_equal(const cJSON *a, const cJSON *b, const char *route_ns)
{
	return !strcmp(jstr(a, "group", GW_GROUP), jstr(b, "group", GW_GROUP)) &&
	       !strcmp(jstr(a, "kind", "Gateway"), jstr(b, "kind", "Gateway")) &&
	       !strcmp(jstr(a, "namespace", route_ns), jstr(b, "namespace", route_ns)) &&
	       !strcmp(jstr(a, "name", ""), jstr(b, "name", "")) &&
	       !strcmp(jstr(a, "sectionName", ""), jstr(b, "sectionName", "")) && jint(a, "port") == jint(b, "port");
}

bool route_status_has_entry(const struct cache_entry *route, const char *controller)
{
	const cJSON *ent;

	cJSON_ArrayForEach(ent, route->status_parents)
		if (!strcmp(jstr(ent, "controllerName", ""), controller))
			return true;
	return false;
}

/* Our existing entry for parentRef ref, NULL when none. */
static const cJSON *existing_entry(const struct cache_entry *route, const char *controller, const cJSON *ref)
{
	const cJSON *ent;

	cJSON_ArrayForEach(ent, route->status_parents) {
		if (strcmp(jstr(ent, "controllerName", ""), controller))
			continue;
		if (ref_equal(cJSON_GetObjectItemCaseSensitive(ent, "parentRef"), ref, route->ns))
			return ent;
	}
	return NULL;
}

static const cJSON *find_cond(const cJSON *entry, const char *type)
{
	const cJSON *c;

	cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(entry, "conditions"))
		if (!strcmp(jstr(c, "type", ""), type))
			return c;
	return NULL;
}

/* Does the existing entry already carry exactly these conditions? */
static bool entry_same(const cJSON *old, const struct route_condition *conds, size_t n, int64_t generation)
{
	const cJSON *list = cJSON_GetObjectItemCaseSensitive(old, "conditions");

	if (!old || cJSON_GetArraySize(list) != (int)n)
		return false;
	for (size_t i = 0; i < n; i++) {
		const cJSON *c = find_cond(old, conds[i].type), *g;

		if (!c || strcmp(jstr(c, "status", ""), conds[i].status) || strcmp(jstr(c, "reason", ""), conds[i].reason) ||
		    strcmp(jstr(c, "message", ""), conds[i].message))
			return false;
		g = cJSON_GetObjectItemCaseSensitive(c, "observedGeneration");
		if (!cJSON_IsNumber(g) || (int64_t)g->valuedouble != generation)
			return false;
	}
	return true;
}

static cJSON *build_entry(const cJSON *ref, const cJSON *old, const struct route_condition *conds, size_t n,
			  int64_t generation, const char *controller, const char *now)
{
	cJSON *ent = cJSON_CreateObject(), *list = cJSON_CreateArray();

	if (!ent || !list)
		goto fail;
	cJSON_AddItemToObject(ent, "parentRef", cJSON_Duplicate(ref, 1));
	cJSON_AddStringToObject(ent, "controllerName", controller);
	cJSON_AddItemToObject(ent, "conditions", list);
	list = NULL;
	for (size_t i = 0; i < n; i++) {
		const cJSON *prev = old ? find_cond(old, conds[i].type) : NULL;
		const char *since = now;
		cJSON *c = cJSON_CreateObject();

		if (!c)
			goto fail;
		/* lastTransitionTime moves only when the status does. */
		if (prev && !strcmp(jstr(prev, "status", ""), conds[i].status) && jstr(prev, "lastTransitionTime", NULL))
			since = jstr(prev, "lastTransitionTime", now);
		cJSON_AddStringToObject(c, "type", conds[i].type);
		cJSON_AddStringToObject(c, "status", conds[i].status);
		cJSON_AddStringToObject(c, "reason", conds[i].reason);
		cJSON_AddStringToObject(c, "message", conds[i].message);
		cJSON_AddNumberToObject(c, "observedGeneration", (double)generation);
		cJSON_AddStringToObject(c, "lastTransitionTime", since);
		cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(ent, "conditions"), c);
	}
	return ent;
fail:
	cJSON_Delete(ent);
	cJSON_Delete(list);
	return NULL;
}

int route_status_patch(const struct cache_entry *route, const struct desired *d, const struct desired_route *dr,
		       const char *controller, const char *now, char **patch)
{
	cJSON *root = NULL, *parents, *md, *st;
	const cJSON *ent, *ref;
	size_t ours_now = 0, ours_before = 0;
	bool changed = false;
	int i = 0;

	*patch = NULL;
	root = cJSON_CreateObject();
	parents = cJSON_CreateArray();
	if (!root || !parents) {
		cJSON_Delete(parents);
		goto oom;
	}
	md = cJSON_AddObjectToObject(root, "metadata");
	st = cJSON_AddObjectToObject(root, "status");
	if (!md || !st) {
		cJSON_Delete(parents);
		goto oom;
	}
	cJSON_AddItemToObject(st, "parents", parents);
	if (route->rv[0])
		cJSON_AddStringToObject(md, "resourceVersion", route->rv);

	/* Other controllers' entries, verbatim and in order. */
	cJSON_ArrayForEach(ent, route->status_parents) {
		if (!strcmp(jstr(ent, "controllerName", ""), controller)) {
			ours_before++;
			continue;
		}
		cJSON_AddItemToArray(parents, cJSON_Duplicate(ent, 1));
	}
	/* Ours: one per served parentRef. */
	cJSON_ArrayForEach(ref, route->parent_refs) {
		struct route_condition conds[ROUTE_STATUS_MAX_CONDS];
		const cJSON *old;
		size_t n;
		cJSON *e;

		if (!dr || i >= 32 || !(dr->served_parents & (1u << i))) {
			i++;
			continue;
		}
		n = route_status_conditions(d, dr, i, conds);
		old = existing_entry(route, controller, ref);
		if (!entry_same(old, conds, n, dr->generation))
			changed = true;
		e = build_entry(ref, old, conds, n, dr->generation, controller, now);
		if (!e)
			goto oom;
		cJSON_AddItemToArray(parents, e);
		ours_now++;
		i++;
	}
	if (ours_now != ours_before)
		changed = true;
	if (changed) {
		*patch = cJSON_PrintUnformatted(root);
		if (!*patch)
			goto oom;
	}
	cJSON_Delete(root);
	return 0;
oom:
	cJSON_Delete(root);
	return -ENOMEM;
}
