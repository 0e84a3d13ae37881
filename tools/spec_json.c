// SPDX-License-Identifier: BSD-2-Clause
/* JSON <-> struct bs_frontend_spec, with errors that name the frontend and the field. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "spec_json.h"


/* Fail with a message; every parser below returns through this. */
#define FAIL(...)                                      \
	do {                                           \
		snprintf(err, err_len, __VA_ARGS__);   \
		return -EINVAL;                        \
	} while (0)

static void fmt_number(double d, char *buf, size_t len)
{
	if (d > -1e15 && d < 1e15 && (double)(long long)d == d)
		snprintf(buf, len, "%lld", (long long)d);
	else
		snprintf(buf, len, "%g", d);
}

static const char *type_name(const cJSON *j)
{
	if (cJSON_IsString(j))
		return "a string";
	if (cJSON_IsNumber(j))
		return "a number";
	if (cJSON_IsBool(j))
		return "a boolean";
	if (cJSON_IsNull(j))
		return "null";
	if (cJSON_IsArray(j))
		return "an array";
	if (cJSON_IsObject(j))
		return "an object";
	return "invalid";
}

/* Every member of obj must be one of the names in allowed (NULL-terminated), once. */
static int check_fields(const cJSON *obj, const char *const *allowed, const char *where, char *err, size_t err_len)
{
	for (const cJSON *m = obj->child; m; m = m->next) {
		bool known = false;

		for (const char *const *a = allowed; *a; a++)
			known |= !strcmp(m->string, *a);
		if (!known) {
			char list[160] = "";

			for (const char *const *a = allowed; *a; a++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s\"%s\"",
					 a == allowed ? "" : ", ", *a);
			FAIL("%s%sunknown field \"%s\" (expected %s)", where, *where ? ": " : "", m->string, list);
		}
		for (const cJSON *p = obj->child; p != m; p = p->next)
			if (!strcmp(p->string, m->string))
				FAIL("%s%sfield \"%s\" given twice", where, *where ? ": " : "", m->string);
	}
	return 0;
}

static int parse_backend(const cJSON *j, const struct bs_frontend_spec *spec, const char *where,
			 struct bs_backend_spec *b, char *err, size_t err_len)
{
	static const char *const fields[] = { "address", "state", NULL };
	const cJSON *addr = j, *state = NULL;
	char ep[64];
	int e;

	if (cJSON_IsObject(j)) {
		e = check_fields(j, fields, where, err, err_len);
		if (e)
			return e;
		addr = cJSON_GetObjectItemCaseSensitive(j, "address");
		state = cJSON_GetObjectItemCaseSensitive(j, "state");
		if (!addr)
			FAIL("%s.address: missing", where);
	} else if (!cJSON_IsString(j)) {
		FAIL("%s: %s, expected an object {\"address\": ..., \"state\": ...} or an address string", where,
		     type_name(j));
	}
	if (!cJSON_IsString(addr))
		FAIL("%s%s: %s, expected a string \"ADDRESS:PORT\"", where, j == addr ? "" : ".address",
		     type_name(addr));
	if (strchr(addr->valuestring, '/') ||
	    bs_endpoint_parse(addr->valuestring, b->addr, &b->port, &b->family))
		FAIL("%s%s: \"%s\" is not IPV4:PORT or [IPV6]:PORT (port 1..65535)", where, j == addr ? "" : ".address",
		     addr->valuestring);
	if (b->family != spec->key.family) {
		bs_endpoint_format(b->addr, b->port, b->family, ep, sizeof(ep));
		FAIL("%s: %s: an %s backend for an %s frontend", where, ep, b->family == BS_AF_INET ? "IPv4" : "IPv6",
		     spec->key.family == BS_AF_INET ? "IPv4" : "IPv6");
	}
	b->state = BS_BACKEND_READY;
	if (state) {
		if (!cJSON_IsString(state))
			FAIL("%s.state: %s, expected \"ready\" or \"draining\"", where, type_name(state));
		if (!strcmp(state->valuestring, "draining"))
			b->state = BS_BACKEND_DRAINING;
		else if (strcmp(state->valuestring, "ready"))
			FAIL("%s.state: \"%s\", expected \"ready\" or \"draining\"", where, state->valuestring);
	}
	return 0;
}

static int parse_group(const cJSON *j, struct bs_frontend_spec *spec, __u32 g, const char *fe, char *err,
		       size_t err_len)
{
	static const char *const fields[] = { "name", "weight", "backends", NULL };
	struct bs_group_spec *gs = &spec->groups[g];
	const cJSON *name, *weight, *backends, *b;
	char where[160], num[32];
	__u32 i = 0;
	int e;

	snprintf(where, sizeof(where), "frontend %s: groups[%u]", fe, g);
	if (!cJSON_IsObject(j))
		FAIL("%s: %s, expected an object {\"name\", \"weight\", \"backends\"}", where, type_name(j));
	e = check_fields(j, fields, where, err, err_len);
	if (e)
		return e;
	name = cJSON_GetObjectItemCaseSensitive(j, "name");
	weight = cJSON_GetObjectItemCaseSensitive(j, "weight");
	backends = cJSON_GetObjectItemCaseSensitive(j, "backends");

	if (!name)
		FAIL("%s.name: missing", where);
	if (!cJSON_IsString(name))
		FAIL("%s.name: %s, expected a string", where, type_name(name));
	if (!name->valuestring[0] || strlen(name->valuestring) >= BS_GROUP_NAME_LEN)
		FAIL("%s.name: \"%s\": length %zu out of range 1..%d", where, name->valuestring,
		     strlen(name->valuestring), BS_GROUP_NAME_LEN - 1);
	for (__u32 h = 0; h < g; h++)
		if (!strcmp(spec->groups[h].name, name->valuestring))
			FAIL("%s.name: \"%s\" already names groups[%u]", where, name->valuestring, h);
	snprintf(gs->name, sizeof(gs->name), "%s", name->valuestring);

	if (!weight)
		FAIL("%s.weight: missing", where);
	if (!cJSON_IsNumber(weight))
		FAIL("%s.weight: %s, expected an integer 0..%d", where, type_name(weight), BS_MAX_WEIGHT);
	fmt_number(weight->valuedouble, num, sizeof(num));
	if (weight->valuedouble < 0 || weight->valuedouble > BS_MAX_WEIGHT)
		FAIL("%s.weight: %s out of range 0..%d", where, num, BS_MAX_WEIGHT);
	if ((double)(__u32)weight->valuedouble != weight->valuedouble)
		FAIL("%s.weight: %s is not an integer", where, num);
	gs->weight = (__u32)weight->valuedouble;

	if (!backends)
		return 0;
	if (!cJSON_IsArray(backends))
		FAIL("%s.backends: %s, expected an array", where, type_name(backends));
	gs->n_backends = cJSON_GetArraySize(backends);
	gs->backends = calloc(gs->n_backends ? gs->n_backends : 1, sizeof(*gs->backends));
	if (!gs->backends)
		FAIL("%s: out of memory", where);
	cJSON_ArrayForEach(b, backends) {
		char bwhere[192], ep[64];

		snprintf(bwhere, sizeof(bwhere), "%s.backends[%u]", where, i);
		e = parse_backend(b, spec, bwhere, &gs->backends[i], err, err_len);
		if (e)
			return e;
		for (__u32 k = 0; k < i; k++) {
			if (!memcmp(gs->backends[k].addr, gs->backends[i].addr, sizeof(gs->backends[i].addr)) &&
			    gs->backends[k].port == gs->backends[i].port) {
				bs_endpoint_format(gs->backends[i].addr, gs->backends[i].port, gs->backends[i].family, ep,
						   sizeof(ep));
				FAIL("%s: %s already listed as backends[%u]", bwhere, ep, k);
			}
		}
		i++;
	}
	return 0;
}

int bs_spec_from_json(const cJSON *obj, const char *where, struct bs_frontend_spec *spec, char *err, size_t err_len)
{
	static const char *const fields[] = { "frontend", "affinity", "groups", NULL };
	const cJSON *key, *affinity, *groups, *g;
	char fe[80], fwhere[160];
	__u32 i = 0;
	int e;

	memset(spec, 0, sizeof(*spec));
	if (!cJSON_IsObject(obj))
		FAIL("%s%s%s, expected a frontend object", where, *where ? ": " : "", type_name(obj));
	key = cJSON_GetObjectItemCaseSensitive(obj, "frontend");
	if (!key)
		FAIL("%s%sfield \"frontend\": missing", where, *where ? ": " : "");
	if (!cJSON_IsString(key))
		FAIL("%s%sfield \"frontend\": %s, expected a string like \"10.96.0.10:80/tcp\"", where,
		     *where ? ": " : "", type_name(key));
	if (bs_frontend_key_parse(key->valuestring, &spec->key))
		FAIL("%s%sfrontend \"%s\": not ADDRESS:PORT[/tcp|/udp] (e.g. 10.96.0.10:80/tcp, [fd00::a]:53/udp)",
		     where, *where ? ": " : "", key->valuestring);
	bs_frontend_key_format(&spec->key, fe, sizeof(fe));
	snprintf(fwhere, sizeof(fwhere), "frontend %s", fe);
	e = check_fields(obj, fields, fwhere, err, err_len);
	if (e)
		return e;

	affinity = cJSON_GetObjectItemCaseSensitive(obj, "affinity");
	spec->affinity = BS_AFFINITY_CONNECTION;
	if (affinity) {
		if (!cJSON_IsString(affinity) ||
		    (strcmp(affinity->valuestring, "connection") && strcmp(affinity->valuestring, "client")))
			FAIL("%s: affinity: %s%s%s, expected \"connection\" or \"client\"", fwhere,
			     cJSON_IsString(affinity) ? "\"" : "",
			     cJSON_IsString(affinity) ? affinity->valuestring : type_name(affinity),
			     cJSON_IsString(affinity) ? "\"" : "");
		if (!strcmp(affinity->valuestring, "client"))
			spec->affinity = BS_AFFINITY_CLIENT;
	}

	groups = cJSON_GetObjectItemCaseSensitive(obj, "groups");
	if (!groups)
		FAIL("%s: groups: missing", fwhere);
	if (!cJSON_IsArray(groups))
		FAIL("%s: groups: %s, expected an array", fwhere, type_name(groups));
	if (cJSON_GetArraySize(groups) > BS_MAX_GROUPS)
		FAIL("%s: groups: %d groups, at most %d", fwhere, cJSON_GetArraySize(groups), BS_MAX_GROUPS);
	cJSON_ArrayForEach(g, groups) {
		spec->n_groups = i + 1;
		e = parse_group(g, spec, i, fe, err, err_len);
		if (e) {
			bs_frontend_spec_free(spec);
			return e;
		}
		i++;
	}
	/* Then the library's own check: what the data path would refuse, refused here
	 * (--dry-run, unit tests and the writer agree). */
	e = bs_spec_validate(spec, err, err_len);
	if (e)
		bs_frontend_spec_free(spec);
	return e;
}

/* "line 3, column 7" of the byte at pos. */
static void where_in_text(const char *text, const char *pos, int *line, int *col)
{
	const char *bol = text;

	*line = 1;
	for (const char *p = text; p < pos; p++) {
		if (*p == '\n') {
			(*line)++;
			bol = p + 1;
		}
	}
	*col = (int)(pos - bol) + 1;
}

static int syntax_error(const char *text, size_t len, const char *source, const char *at, char *err, size_t err_len)
{
	char near[24] = "";
	int line, col, n = 0;
	bool blank = true;

	for (size_t i = 0; i < len; i++)
		blank &= text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r';
	if (blank) {
		snprintf(err, err_len, "%s: empty document, expected a JSON object", source);
		return -EBADMSG;
	}
	if (!at || at < text || at > text + len)
		at = text + len;
	where_in_text(text, at, &line, &col);
	while (n < (int)sizeof(near) - 1 && at + n < text + len && at[n] != '\n') {
		near[n] = (unsigned char)at[n] < ' ' ? ' ' : at[n];
		n++;
	}
	near[n] = '\0';
	if (at == text + len)
		snprintf(err, err_len, "%s: line %d, column %d: malformed JSON: unexpected end of input", source, line,
			 col);
	else
		snprintf(err, err_len, "%s: line %d, column %d: malformed JSON near '%s'", source, line, col, near);
	return -EBADMSG;
}

int bs_spec_parse_doc(const char *text, size_t len, const char *source, struct bs_frontend_spec **specs, size_t *n,
		      char *err, size_t err_len)
{
	const char *end = NULL;
	cJSON *doc, *list, *item;
	struct bs_frontend_spec *out = NULL;
	size_t count = 0, i = 0;
	int e = 0;

	*specs = NULL;
	*n = 0;
	if (memchr(text, '\0', len)) {
		snprintf(err, err_len, "%s: holds a NUL byte: not a JSON text", source);
		return -EBADMSG;
	}
	doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (doc) {
		/* cJSON stops after the first value: anything but blanks after it is an error. */
		while (end < text + len && (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r'))
			end++;
		if (end < text + len) {
			cJSON_Delete(doc);
			return syntax_error(text, len, source, end, err, err_len);
		}
	} else {
		return syntax_error(text, len, source, end ? end : cJSON_GetErrorPtr(), err, err_len);
	}

	if (!cJSON_IsObject(doc)) {
		snprintf(err, err_len, "%s: %s, expected a frontend object or {\"frontends\": [...]}", source,
			 type_name(doc));
		e = -EINVAL;
		goto out;
	}
	list = cJSON_GetObjectItemCaseSensitive(doc, "frontends");
	if (list) {
		static const char *const fields[] = { "frontends", NULL };

		e = check_fields(doc, fields, source, err, err_len);
		if (e)
			goto out;
		if (!cJSON_IsArray(list)) {
			snprintf(err, err_len, "%s: frontends: %s, expected an array", source, type_name(list));
			e = -EINVAL;
			goto out;
		}
		count = cJSON_GetArraySize(list);
	} else {
		count = 1;
	}
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		snprintf(err, err_len, "%s: out of memory", source);
		e = -ENOMEM;
		goto out;
	}
	if (!list) {
		e = bs_spec_from_json(doc, source, &out[0], err, err_len);
		i = e ? 0 : 1;
		goto out;
	}
	cJSON_ArrayForEach(item, list) {
		char where[32];

		snprintf(where, sizeof(where), "frontends[%zu]", i);
		e = bs_spec_from_json(item, where, &out[i], err, err_len);
		if (e)
			goto out;
		for (size_t k = 0; k < i; k++) {
			if (!memcmp(&out[k].key, &out[i].key, sizeof(out[i].key))) {
				char fe[80];

				bs_frontend_key_format(&out[i].key, fe, sizeof(fe));
				snprintf(err, err_len, "%s: frontend %s: already given as frontends[%zu]", where, fe, k);
				i++;
				e = -EINVAL;
				goto out;
			}
		}
		i++;
	}
out:
	cJSON_Delete(doc);
	if (e) {
		bs_specs_free(out, i);
		return e;
	}
	*specs = out;
	*n = count;
	return 0;
}

cJSON *bs_spec_to_json(const struct bs_frontend_spec *spec)
{
	cJSON *o = cJSON_CreateObject(), *groups;
	char buf[80];

	if (!o)
		return NULL;
	bs_frontend_key_format(&spec->key, buf, sizeof(buf));
	cJSON_AddStringToObject(o, "frontend", buf);
	cJSON_AddStringToObject(o, "affinity", spec->affinity == BS_AFFINITY_CLIENT ? "client" : "connection");
	groups = cJSON_AddArrayToObject(o, "groups");
	for (__u32 g = 0; groups && g < spec->n_groups; g++) {
		const struct bs_group_spec *gs = &spec->groups[g];
		cJSON *gj = cJSON_CreateObject(), *bl;

		if (!gj)
			break;
		cJSON_AddItemToArray(groups, gj);
		cJSON_AddStringToObject(gj, "name", gs->name);
		cJSON_AddNumberToObject(gj, "weight", gs->weight);
		bl = cJSON_AddArrayToObject(gj, "backends");
		for (__u32 i = 0; bl && i < gs->n_backends; i++) {
			cJSON *bj = cJSON_CreateObject();

			if (!bj)
				break;
			cJSON_AddItemToArray(bl, bj);
			bs_endpoint_format(gs->backends[i].addr, gs->backends[i].port, gs->backends[i].family, buf,
					   sizeof(buf));
			cJSON_AddStringToObject(bj, "address", buf);
			cJSON_AddStringToObject(bj, "state",
						gs->backends[i].state == BS_BACKEND_DRAINING ? "draining" : "ready");
		}
	}
	if (!groups) {
		cJSON_Delete(o);
		return NULL;
	}
	return o;
}

void bs_specs_free(struct bs_frontend_spec *specs, size_t n)
{
	if (!specs)
		return;
	for (size_t i = 0; i < n; i++)
		bs_frontend_spec_free(&specs[i]);
	free(specs);
}
