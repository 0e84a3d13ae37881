// SPDX-License-Identifier: BSD-2-Clause
/* Kubeconfig (YAML, through libyaml's document loader) and in-cluster configuration. */
#include "k8s/kubeconfig.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

/* ---- small helpers ---- */

static char * __attribute__((format(printf, 1, 2))) fmt_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	s = malloc((size_t)n + 1);
	if (!s)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(s, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return s;
}

static void __attribute__((format(printf, 3, 4))) set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int k8s_read_file(const char *path, size_t max, char **buf, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *b = NULL, *nb;
	int fd, rc = 0;
	ssize_t r;

	*buf = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* Read to EOF rather than trust st_size: secrets are mounted through
	 * symlinks that kubelet swaps when a token rotates. */
	for (;;) {
		if (n + 1 >= cap || !b) {
			if (b)
				cap *= 2;
			nb = realloc(b, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			b = nb;
		}
		r = read(fd, b + n, cap - n - 1);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			rc = -EFBIG;
			goto out;
		}
	}
	b[n] = '\0';
	*buf = b;
	*len = n;
	b = NULL;
out:
	free(b);
	close(fd);
	return rc;
}

int k8s_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *o;
	unsigned int acc = 0;
	size_t i, n = 0;
	int bits = 0, pad = 0;

	*out = NULL;
	*outlen = 0;
	o = malloc(len / 4 * 3 + 4);
	if (!o)
		return -ENOMEM;
	for (i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)in[i];
		int v;

		if (isspace(ch)) /* YAML block scalars may wrap long data */
			continue;
		if (ch == '=') {
			pad++;
			continue;
		}
		if (pad) /* data after padding */
			goto bad;
		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '+')
			v = 62;
		else if (ch == '/')
			v = 63;
		else
			goto bad;
		acc = (acc << 6) | (unsigned int)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o[n++] = (unsigned char)(acc >> bits);
		}
	}
	/* Leftover bits must be the zero fill of a short last group. */
	if (bits >= 6 || pad > 2 || (acc & ((1u << bits) - 1)))
		goto bad;
	o[n] = '\0';
	*out = o;
	*outlen = n;
	return 0;
bad:
	free(o);
	return -EINVAL;
}

static bool is_absolute(const char *p)
{
	return p[0] == '/';
}

/* ---- YAML document access ---- */

struct kctx {
	yaml_document_t *doc;
	const char *src;          /* file name for messages */
	const char *base_dir;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 3, 4))) kfail(struct kctx *k, int rc, const char *fmt, ...)
{
	char cause[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cause, sizeof(cause), fmt, ap);
	va_end(ap);
	set_err(k->err, k->errlen, "kubeconfig %s: %s", k->src, cause);
	return rc;
}

static yaml_node_t *node(struct kctx *k, yaml_node_item_t id)
{
	return yaml_document_get_node(k->doc, id);
}

/* A plain null (absent value, "~", "null") is no value; quoted "null" is a string. */
static bool is_null(const yaml_node_t *n)
{
	const char *v;
	size_t l;

	if (!n)
		return true;
	if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	v = (const char *)n->data.scalar.value;
	l = n->data.scalar.length;
	return l == 0 || (l == 1 && v[0] == '~') ||
	       (l == 4 && (!memcmp(v, "null", 4) || !memcmp(v, "Null", 4) || !memcmp(v, "NULL", 4)));
}

static bool scalar_is(const yaml_node_t *n, const char *s)
{
	return n && n->type == YAML_SCALAR_NODE && n->data.scalar.length == strlen(s) &&
	       !memcmp(n->data.scalar.value, s, n->data.scalar.length);
}

/* Value of key in a mapping node; NULL when absent or null. */
static yaml_node_t *map_get(struct kctx *k, const yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		if (scalar_is(node(k, p->key), key)) {
			yaml_node_t *v = node(k, p->value);

			return is_null(v) ? NULL : v;
		}
	}
	return NULL;
}

/* A scalar field as a new string; *out NULL when absent. */
static int get_scalar(struct kctx *k, const yaml_node_t *map, const char *path, const char *key, char **out)
{
	yaml_node_t *v = map_get(k, map, key);

	*out = NULL;
	if (!v)
		return 0;
	if (v->type != YAML_SCALAR_NODE)
		return kfail(k, -EINVAL, "%s.%s: want a string", path, key);
	*out = strndup((const char *)v->data.scalar.value, v->data.scalar.length);
	return *out ? 0 : kfail(k, -ENOMEM, "out of memory");
}

/* YAML 1.1 booleans, as Go's yaml decoder reads them. */
static int get_bool(struct kctx *k, const yaml_node_t *map, const char *path, const char *key, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON" };
	static const char *const no[] = { "false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF" };
	yaml_node_t *v = map_get(k, map, key);
	size_t i;

	*out = false;
	if (!v)
		return 0;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (scalar_is(v, yes[i])) {
			*out = true;
			return 0;
		}
		if (scalar_is(v, no[i]))
			return 0;
	}
	return kfail(k, -EINVAL, "%s.%s: want true or false", path, key);
}

/* kubeconfig lists are sequences of {name: N, <inner>: {...}}: find N's inner map. */
static int named_entry(struct kctx *k, const yaml_node_t *root, const char *list, const char *name,
		       const char *inner, yaml_node_t **out)
{
	yaml_node_t *seq = map_get(k, root, list), *it;
	yaml_node_item_t *id;

	*out = NULL;
	if (seq && seq->type != YAML_SEQUENCE_NODE)
		return kfail(k, -EINVAL, "%s: want a list", list);
	if (seq) {
		for (id = seq->data.sequence.items.start; id < seq->data.sequence.items.top; id++) {
			it = node(k, *id);
			if (!it || it->type != YAML_MAPPING_NODE)
				return kfail(k, -EINVAL, "%s[%td]: want a mapping", list,
					     id - seq->data.sequence.items.start);
			if (!scalar_is(map_get(k, it, "name"), name))
				continue;
			*out = map_get(k, it, inner);
			if (*out && (*out)->type != YAML_MAPPING_NODE)
				return kfail(k, -EINVAL, "%s \"%s\": %s: want a mapping", list, name, inner);
			if (!*out)
				return kfail(k, -EINVAL, "%s \"%s\": %s missing", list, name, inner);
			return 0;
		}
	}
	return kfail(k, -ENOENT, "%s \"%s\" not found", list, name);
}

/* A file path field, made relative to the kubeconfig's directory. */
static int get_path(struct kctx *k, const yaml_node_t *map, const char *path, const char *key, char **out)
{
	char *p;
	int rc;

	if ((rc = get_scalar(k, map, path, key, &p)) || !p)
		return (*out = NULL, rc);
	if (!p[0]) {
		free(p);
		*out = NULL;
		return 0;
	}
	if (k->base_dir && !is_absolute(p)) {
		*out = fmt_alloc("%s/%s", k->base_dir, p);
		free(p);
		return *out ? 0 : kfail(k, -ENOMEM, "out of memory");
	}
	*out = p;
	return 0;
}

/* An inline "*-data" field (base64); wins over its file counterpart. */
static int get_data(struct kctx *k, const yaml_node_t *map, const char *path, const char *key,
		    struct k8s_blob *out)
{
	yaml_node_t *v = map_get(k, map, key);
	int rc;

	if (!v)
		return 0;
	if (v->type != YAML_SCALAR_NODE)
		return kfail(k, -EINVAL, "%s.%s: want a base64 string", path, key);
	rc = k8s_base64_decode((const char *)v->data.scalar.value, v->data.scalar.length, &out->data, &out->len);
	if (rc == -ENOMEM)
		return kfail(k, rc, "out of memory");
	if (rc)
		return kfail(k, rc, "%s.%s: not valid base64", path, key);
	return 0;
}

static int data_or_file(struct kctx *k, const yaml_node_t *map, const char *path, const char *data_key,
			const char *file_key, struct k8s_blob *data, char **file)
{
	int rc;

	if ((rc = get_data(k, map, path, data_key, data)) || data->data)
		return rc;
	return get_path(k, map, path, file_key, file);
}

static int cluster_parse(struct kctx *k, const yaml_node_t *c, const char *name, struct k8s_config *cfg)
{
	char path[300];
	size_t l, host;
	int rc;

	snprintf(path, sizeof(path), "clusters[%.250s]", name);
	if ((rc = get_scalar(k, c, path, "server", &cfg->server)))
		return rc;
	if (!cfg->server || !cfg->server[0])
		return kfail(k, -EINVAL, "%s.server missing", path);
	if (strncmp(cfg->server, "https://", 8) && strncmp(cfg->server, "http://", 7))
		return kfail(k, -EINVAL, "%s.server \"%s\": want https://HOST[:PORT]", path, cfg->server);
	/* Trailing slashes go; the host must remain ("https:///" has none). */
	host = strncmp(cfg->server, "https://", 8) ? 7 : 8;
	if (cfg->server[host] == '/' || !cfg->server[host])
		return kfail(k, -EINVAL, "%s.server \"%s\": no host; want https://HOST[:PORT]", path, cfg->server);
	for (l = strlen(cfg->server); l > host && cfg->server[l - 1] == '/'; l--)
		cfg->server[l - 1] = '\0';
	if ((rc = get_scalar(k, c, path, "tls-server-name", &cfg->tls_server_name)) ||
	    (rc = get_bool(k, c, path, "insecure-skip-tls-verify", &cfg->insecure_skip_tls_verify)))
		return rc;
	return data_or_file(k, c, path, "certificate-authority-data", "certificate-authority",
			    &cfg->ca_data, &cfg->ca_file);
}

static int user_parse(struct kctx *k, const yaml_node_t *u, const char *name, struct k8s_config *cfg)
{
	char path[300];
	int rc;

	snprintf(path, sizeof(path), "users[%.250s]", name);
	if ((rc = get_scalar(k, u, path, "token", &cfg->token)) ||
	    (rc = get_path(k, u, path, "tokenFile", &cfg->token_file)) ||
	    (rc = data_or_file(k, u, path, "client-certificate-data", "client-certificate",
			       &cfg->client_cert_data, &cfg->client_cert_file)) ||
	    (rc = data_or_file(k, u, path, "client-key-data", "client-key",
			       &cfg->client_key_data, &cfg->client_key_file)))
		return rc;
	cfg->has_exec = map_get(k, u, "exec") != NULL;
	cfg->has_auth_provider = map_get(k, u, "auth-provider") != NULL;
	return 0;
}

static int kubeconfig_doc(struct kctx *k, const char *context, struct k8s_config *cfg)
{
	yaml_node_t *root = yaml_document_get_root_node(k->doc), *ctx, *cl, *us;
	char *cur = NULL, *cluster = NULL, *user = NULL;
	const char *name;
	int rc;

	if (!root)
		return kfail(k, -EINVAL, "empty document");
	if (root->type != YAML_MAPPING_NODE)
		return kfail(k, -EINVAL, "top level: want a mapping");
	if ((rc = get_scalar(k, root, "", "current-context", &cur)))
		return rc;
	name = context && context[0] ? context : cur;
	if (!name || !name[0]) {
		rc = kfail(k, -ENOENT, "no current-context set and no context given");
		goto out;
	}
	if ((rc = named_entry(k, root, "contexts", name, "context", &ctx)))
		goto out;
	cfg->context = strdup(name);
	if (!cfg->context) {
		rc = kfail(k, -ENOMEM, "out of memory");
		goto out;
	}
	if ((rc = get_scalar(k, ctx, "context", "cluster", &cluster)) ||
	    (rc = get_scalar(k, ctx, "context", "user", &user)) ||
	    (rc = get_scalar(k, ctx, "context", "namespace", &cfg->ns)))
		goto out;
	if (!cluster || !cluster[0]) {
		rc = kfail(k, -EINVAL, "context \"%s\": cluster missing", name);
		goto out;
	}
	if ((rc = named_entry(k, root, "clusters", cluster, "cluster", &cl)) ||
	    (rc = cluster_parse(k, cl, cluster, cfg)))
		goto out;
	/* A context without a user is allowed: anonymous, or client certs elsewhere. */
	if (user && user[0]) {
		if ((rc = named_entry(k, root, "users", user, "user", &us)) ||
		    (rc = user_parse(k, us, user, cfg)))
			goto out;
	}
	if (!cfg->ns || !cfg->ns[0]) {
		free(cfg->ns);
		cfg->ns = strdup("default");
		if (!cfg->ns)
			rc = kfail(k, -ENOMEM, "out of memory");
	}
out:
	free(cur);
	free(cluster);
	free(user);
	return rc;
}

/* Parse with src naming the text in messages. */
static int parse_named(const char *text, size_t len, const char *src, const char *base_dir,
		       const char *context, struct k8s_config *cfg, char *err, size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct kctx k = { &doc, src, base_dir, err, errlen };
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	if (!yaml_parser_initialize(&parser))
		return kfail(&k, -ENOMEM, "out of memory");
	yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = kfail(&k, -EINVAL, "YAML error at line %zu column %zu: %s%s%s",
			   parser.problem_mark.line + 1, parser.problem_mark.column + 1,
			   parser.problem ? parser.problem : "malformed",
			   parser.context ? " " : "", parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		return rc;
	}
	rc = kubeconfig_doc(&k, context, cfg);
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	if (rc)
		k8s_config_free(cfg);
	return rc;
}

int k8s_kubeconfig_parse(const char *text, size_t len, const char *base_dir, const char *context,
			 struct k8s_config *cfg, char *err, size_t errlen)
{
	return parse_named(text, len, "(text)", base_dir, context, cfg, err, errlen);
}

int k8s_kubeconfig_load(const char *path, const char *context, struct k8s_config *cfg,
			char *err, size_t errlen)
{
	char *text = NULL, *dir = NULL, *slash;
	size_t len;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	rc = k8s_read_file(path, K8S_CONFIG_FILE_MAX, &text, &len);
	if (rc) {
		set_err(err, errlen, "kubeconfig %s: %s", path, strerror(-rc));
		return rc;
	}
	/* kubectl resolves relative paths against the file's own directory. */
	dir = strdup(path);
	if (!dir) {
		free(text);
		set_err(err, errlen, "kubeconfig %s: out of memory", path);
		return -ENOMEM;
	}
	slash = strrchr(dir, '/');
	if (slash == dir)
		dir[1] = '\0';
	else if (slash)
		*slash = '\0';
	else
		strcpy(dir, ".");
	rc = parse_named(text, len, path, dir, context, cfg, err, errlen);
	free(text);
	free(dir);
	return rc;
}

int k8s_kubeconfig_default_path(char *buf, size_t cap)
{
	const char *kc = getenv("KUBECONFIG"), *home = getenv("HOME");
	int n;

	if (kc && kc[0]) {
		size_t l = strcspn(kc, ":");

		if (l + 1 > cap)
			return -ENAMETOOLONG;
		memcpy(buf, kc, l);
		buf[l] = '\0';
		if (l)
			return 0;
	}
	if (!home || !home[0])
		return -ENOENT;
	n = snprintf(buf, cap, "%s/.kube/config", home);
	return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* ---- in-cluster ---- */

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	for (e = s + strlen(s); e > s && isspace((unsigned char)e[-1]); e--)
		;
	*e = '\0';
	return s;
}

int k8s_incluster_load(const char *dir, const char *host, const char *port, struct k8s_config *cfg,
		       char *err, size_t errlen)
{
	char *text = NULL;
	size_t len;
	unsigned long pnum;
	int rc;

	memset(cfg, 0, sizeof(*cfg));
	dir = dir ? dir : K8S_INCLUSTER_DIR;
	host = host ? host : getenv("KUBERNETES_SERVICE_HOST");
	port = port ? port : getenv("KUBERNETES_SERVICE_PORT");
	if (!host || !host[0] || !port || !port[0]) {
		set_err(err, errlen, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
			"not set (not running in a pod? use a kubeconfig)");
		return -ENOENT;
	}
	if (strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 ||
	    (pnum = strtoul(port, NULL, 10)) < 1 || pnum > 65535) {
		set_err(err, errlen, "in-cluster: KUBERNETES_SERVICE_PORT \"%s\" not a port", port);
		return -EINVAL;
	}
	/* An IPv6 service host needs brackets in a URL. */
	if (strchr(host, ':') && host[0] != '[')
		cfg->server = fmt_alloc("https://[%s]:%lu", host, pnum);
	else
		cfg->server = fmt_alloc("https://%s:%lu", host, pnum);
	cfg->token_file = fmt_alloc("%s/token", dir);
	cfg->ca_file = fmt_alloc("%s/ca.crt", dir);
	if (!cfg->server || !cfg->token_file || !cfg->ca_file) {
		rc = -ENOMEM;
		set_err(err, errlen, "in-cluster: out of memory");
		goto out;
	}
	cfg->in_cluster = true;
	if (access(cfg->token_file, R_OK)) {
		rc = -errno;
		set_err(err, errlen, "in-cluster: token %s: %s", cfg->token_file, strerror(errno));
		goto out;
	}
	if (access(cfg->ca_file, R_OK)) {
		rc = -errno;
		set_err(err, errlen, "in-cluster: CA bundle %s: %s", cfg->ca_file, strerror(errno));
		goto out;
	}
	/* The namespace file is there in every pod; "default" only as a last resort. */
	{
		char *nspath = fmt_alloc("%s/namespace", dir);

		if (!nspath) {
			rc = -ENOMEM;
			set_err(err, errlen, "in-cluster: out of memory");
			goto out;
		}
		rc = k8s_read_file(nspath, K8S_CONFIG_FILE_MAX, &text, &len);
		free(nspath);
	}
	if (rc && rc != -ENOENT) {
		set_err(err, errlen, "in-cluster: %s/namespace: %s", dir, strerror(-rc));
		goto out;
	}
	cfg->ns = strdup(!rc && trim(text)[0] ? trim(text) : "default");
	rc = cfg->ns ? 0 : -ENOMEM;
	if (rc)
		set_err(err, errlen, "in-cluster: out of memory");
out:
	free(text);
	if (rc)
		k8s_config_free(cfg);
	return rc;
}

int k8s_config_token(const struct k8s_config *cfg, char **token, char *err, size_t errlen)
{
	char *text = NULL, *t;
	size_t len;
	int rc;

	*token = NULL;
	if (cfg->token_file) {
		rc = k8s_read_file(cfg->token_file, K8S_CONFIG_FILE_MAX, &text, &len);
		if (!rc) {
			t = trim(text);
			if (t[0]) {
				memmove(text, t, strlen(t) + 1);
				*token = text;
				return 0;
			}
			free(text);
			rc = -EINVAL;
		}
		/* As client-go: a readable token file wins, else the static token. */
		if (!cfg->token) {
			set_err(err, errlen, "token file %s: %s", cfg->token_file,
				rc == -EINVAL ? "empty" : strerror(-rc));
			return rc;
		}
	}
	if (cfg->token) {
		*token = strdup(cfg->token);
		if (!*token) {
			set_err(err, errlen, "token: out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

void k8s_config_free(struct k8s_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->server);
	free(cfg->tls_server_name);
	free(cfg->ca_file);
	free(cfg->ca_data.data);
	free(cfg->token);
	free(cfg->token_file);
	free(cfg->client_cert_file);
	free(cfg->client_cert_data.data);
	free(cfg->client_key_file);
	free(cfg->client_key_data.data);
	free(cfg->ns);
	free(cfg->context);
	memset(cfg, 0, sizeof(*cfg));
}
