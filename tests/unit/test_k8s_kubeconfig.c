// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for agent/k8s/kubeconfig.c: YAML kubeconfigs (contexts, inline
 * base64 data, token files, relative paths), JSON ones, errors, in-cluster
 * directories. Files live in a fresh mkdtemp() folder, removed afterwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "k8s/kubeconfig.h"

static char tmpdir[64];

static void write_file(const char *name, const char *content)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static void remove_file(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
}

static int setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bpfsplit-k8s-kubeconfig-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	static const char *const names[] = { "config", "token", "ca.crt", "namespace", "sa/token", "sa/ca.crt",
					     "sa/namespace", "certs/client.crt", "json-config" };

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		remove_file(names[i]);
	{
		char p[256];

		snprintf(p, sizeof(p), "%s/sa", tmpdir);
		rmdir(p);
		snprintf(p, sizeof(p), "%s/certs", tmpdir);
		rmdir(p);
	}
	return rmdir(tmpdir);
}

/* base64 of the PEM-like text below (made with `base64 -w0`). */
#define CA_PEM "-----BEGIN CERTIFICATE-----\nMIIBdummyCA\n-----END CERTIFICATE-----\n"
#define CA_B64 "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkdW1teUNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
#define KEY_PEM "-----BEGIN EC PRIVATE KEY-----\nkey\n-----END EC PRIVATE KEY-----\n"
#define KEY_B64 "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCmtleQotLS0tLUVORCBFQyBQUklWQVRFIEtFWS0tLS0tCg=="

static const char kubeconfig[] =
	"# written by kind, then edited\n"
	"apiVersion: v1\n"
	"kind: Config\n"
	"preferences: {}\n"
	"current-context: kind-bpfsplit\n"
	"clusters:\n"
	"- cluster:\n"
	"    certificate-authority-data: " CA_B64 "\n"
	"    server: https://127.0.0.1:36443/\n"
	"  name: kind-bpfsplit\n"
	"- name: lab\n"
	"  cluster:\n"
	"    server: \"https://[fd00::1]:6443\"\n"
	"    certificate-authority: ca.crt\n"
	"    tls-server-name: kubernetes.default.svc\n"
	"- name: insecure\n"
	"  cluster:\n"
	"    server: https://10.0.0.1:6443\n"
	"    insecure-skip-tls-verify: true\n"
	"contexts:\n"
	"- context:\n"
	"    cluster: kind-bpfsplit\n"
	"    user: kind-bpfsplit\n"
	"  name: kind-bpfsplit\n"
	"- name: lab-admin\n"
	"  context:\n"
	"    cluster: lab\n"
	"    user: admin\n"
	"    namespace: bpfsplit-system\n"
	"- name: lab-sa\n"
	"  context: {cluster: lab, user: sa, namespace: ~}\n"
	"- name: insecure\n"
	"  context:\n"
	"    cluster: insecure\n"
	"    user: cloud\n"
	"- name: broken\n"
	"  context:\n"
	"    cluster: nowhere\n"
	"users:\n"
	"- name: kind-bpfsplit\n"
	"  user:\n"
	"    client-certificate: certs/client.crt\n"
	"    client-key-data: |\n"
	"      " KEY_B64 "\n"
	"- name: admin\n"
	"  user:\n"
	"    token: static-token\n"
	"- name: sa\n"
	"  user:\n"
	"    tokenFile: token\n"
	"- name: cloud\n"
	"  user:\n"
	"    exec:\n"
	"      apiVersion: client.authentication.k8s.io/v1\n"
	"      command: gke-gcloud-auth-plugin\n";

static void load_ctx(const char *ctx, struct k8s_config *cfg)
{
	char path[256], err[512] = "";

	snprintf(path, sizeof(path), "%s/config", tmpdir);
	if (k8s_kubeconfig_load(path, ctx, cfg, err, sizeof(err)))
		fail_msg("context %s: %s", ctx ? ctx : "(current)", err);
}

static void test_current_context(void **state)
{
	struct k8s_config cfg;
	char path[256];

	(void)state;
	write_file("config", kubeconfig);
	load_ctx(NULL, &cfg);
	assert_string_equal(cfg.context, "kind-bpfsplit");
	assert_string_equal(cfg.server, "https://127.0.0.1:36443"); /* trailing "/" dropped */
	assert_null(cfg.ca_file);
	assert_non_null(cfg.ca_data.data);
	assert_int_equal(cfg.ca_data.len, strlen(CA_PEM));
	assert_memory_equal(cfg.ca_data.data, CA_PEM, strlen(CA_PEM));
	assert_false(cfg.insecure_skip_tls_verify);
	/* Relative file paths start from the kubeconfig's folder. */
	snprintf(path, sizeof(path), "%s/certs/client.crt", tmpdir);
	assert_string_equal(cfg.client_cert_file, path);
	assert_null(cfg.client_cert_data.data);
	assert_null(cfg.client_key_file);
	assert_int_equal(cfg.client_key_data.len, strlen(KEY_PEM));
	assert_memory_equal(cfg.client_key_data.data, KEY_PEM, strlen(KEY_PEM));
	assert_null(cfg.token);
	assert_null(cfg.token_file);
	assert_string_equal(cfg.ns, "default");
	assert_false(cfg.in_cluster);
	assert_false(cfg.has_exec);
	k8s_config_free(&cfg);
	k8s_config_free(&cfg);
}

static void test_named_contexts(void **state)
{
	struct k8s_config cfg;
	char path[256], err[256], *tok;

	(void)state;
	write_file("config", kubeconfig);

	load_ctx("lab-admin", &cfg);
	assert_string_equal(cfg.server, "https://[fd00::1]:6443");
	snprintf(path, sizeof(path), "%s/ca.crt", tmpdir);
	assert_string_equal(cfg.ca_file, path);
	assert_null(cfg.ca_data.data);
	assert_string_equal(cfg.tls_server_name, "kubernetes.default.svc");
	assert_string_equal(cfg.token, "static-token");
	assert_null(cfg.token_file);
	assert_string_equal(cfg.ns, "bpfsplit-system");
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "static-token");
	free(tok);
	k8s_config_free(&cfg);

	/* Token file: read on every use, so a rotated token is picked up. */
	write_file("token", "eyJhbGciOiJSUzI1NiJ9.first\n");
	load_ctx("lab-sa", &cfg);
	snprintf(path, sizeof(path), "%s/token", tmpdir);
	assert_string_equal(cfg.token_file, path);
	assert_null(cfg.token);
	assert_string_equal(cfg.ns, "default"); /* namespace: ~ */
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "eyJhbGciOiJSUzI1NiJ9.first");
	free(tok);
	write_file("token", "  eyJhbGciOiJSUzI1NiJ9.second  \n");
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "eyJhbGciOiJSUzI1NiJ9.second");
	free(tok);
	remove_file("token");
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), -ENOENT);
	assert_null(tok);
	snprintf(path, sizeof(path), "token file %s/token: No such file or directory", tmpdir);
	assert_string_equal(err, path);
	k8s_config_free(&cfg);

	load_ctx("insecure", &cfg);
	assert_true(cfg.insecure_skip_tls_verify);
	assert_true(cfg.has_exec);
	assert_false(cfg.has_auth_provider);
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_null(tok); /* no token at all */
	k8s_config_free(&cfg);
}

static void test_errors(void **state)
{
	static const struct {
		const char *yaml, *ctx;
		int rc;
		const char *msg;
	} cases[] = {
		{ "current-context: a\ncontexts: [\n", NULL, -EINVAL,
		  "kubeconfig (text): YAML error at line 3 column 1: did not find expected node content "
		  "while parsing a flow node" },
		{ "", NULL, -EINVAL, "kubeconfig (text): empty document" },
		{ "- a\n- b\n", NULL, -EINVAL, "kubeconfig (text): top level: want a mapping" },
		{ "apiVersion: v1\n", NULL, -ENOENT, "kubeconfig (text): no current-context set and no context given" },
		{ "current-context: x\ncontexts: []\n", NULL, -ENOENT, "kubeconfig (text): contexts \"x\" not found" },
		{ "contexts: {}\n", "x", -EINVAL, "kubeconfig (text): contexts: want a list" },
		{ "contexts:\n- name: x\n", "x", -EINVAL, "kubeconfig (text): contexts \"x\": context missing" },
		{ "contexts:\n- name: x\n  context: {user: u}\n", "x", -EINVAL,
		  "kubeconfig (text): context \"x\": cluster missing" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\n", "x", -ENOENT,
		  "kubeconfig (text): clusters \"c\" not found" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {}\n", "x", -EINVAL,
		  "kubeconfig (text): clusters[c].server missing" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 10.0.0.1}\n",
		  "x", -EINVAL, "kubeconfig (text): clusters[c].server \"10.0.0.1\": want https://HOST[:PORT]" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'https:///'}\n",
		  "x", -EINVAL, "kubeconfig (text): clusters[c].server \"https:///\": no host; want https://HOST[:PORT]" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster: {server: 'http://'}\n",
		  "x", -EINVAL, "kubeconfig (text): clusters[c].server \"http://\": no host; want https://HOST[:PORT]" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster:\n"
		  "    server: https://a\n    certificate-authority-data: 'not*base64'\n",
		  "x", -EINVAL, "kubeconfig (text): clusters[c].certificate-authority-data: not valid base64" },
		{ "contexts:\n- name: x\n  context: {cluster: c}\nclusters:\n- name: c\n  cluster:\n"
		  "    server: https://a\n    insecure-skip-tls-verify: maybe\n",
		  "x", -EINVAL, "kubeconfig (text): clusters[c].insecure-skip-tls-verify: want true or false" },
		{ "contexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster:\n"
		  "    server: https://a\n", "x", -ENOENT, "kubeconfig (text): users \"u\" not found" },
		{ "contexts:\n- name: x\n  context: {cluster: c, user: u}\nclusters:\n- name: c\n  cluster:\n"
		  "    server: https://a\nusers:\n- name: u\n  user: {token: [a]}\n",
		  "x", -EINVAL, "kubeconfig (text): users[u].token: want a string" },
	};
	struct k8s_config cfg;
	char err[512];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = k8s_kubeconfig_parse(cases[i].yaml, strlen(cases[i].yaml), NULL, cases[i].ctx, &cfg, err,
					      sizeof(err));

		if (rc != cases[i].rc || strcmp(err, cases[i].msg))
			fail_msg("case %zu: rc %d err \"%s\"; want %d \"%s\"", i, rc, err, cases[i].rc, cases[i].msg);
		assert_null(cfg.server);
		assert_null(cfg.context);
	}

	/* Missing file, and a context missing from a real file. */
	write_file("config", kubeconfig);
	{
		char path[256], want[512];

		snprintf(path, sizeof(path), "%s/nope", tmpdir);
		assert_int_equal(k8s_kubeconfig_load(path, NULL, &cfg, err, sizeof(err)), -ENOENT);
		snprintf(want, sizeof(want), "kubeconfig %s: No such file or directory", path);
		assert_string_equal(err, want);
		snprintf(path, sizeof(path), "%s/config", tmpdir);
		assert_int_equal(k8s_kubeconfig_load(path, "broken", &cfg, err, sizeof(err)), -ENOENT);
		snprintf(want, sizeof(want), "kubeconfig %s: clusters \"nowhere\" not found", path);
		assert_string_equal(err, want);
	}
}

/* JSON is YAML: kubeconfigs written as JSON load the same way. */
static void test_json_kubeconfig(void **state)
{
	const char *json =
		"{\"apiVersion\":\"v1\",\"kind\":\"Config\",\"current-context\":\"j\","
		"\"clusters\":[{\"name\":\"c\",\"cluster\":{\"server\":\"https://192.0.2.10:443\","
		"\"certificate-authority-data\":\"" CA_B64 "\"}}],"
		"\"contexts\":[{\"name\":\"j\",\"context\":{\"cluster\":\"c\",\"user\":\"u\",\"namespace\":\"prod\"}}],"
		"\"users\":[{\"name\":\"u\",\"user\":{\"token\":\"abc\",\"tokenFile\":\"/nonexistent/token\"}}]}";
	struct k8s_config cfg;
	char err[256], *tok;

	(void)state;
	assert_int_equal(k8s_kubeconfig_parse(json, strlen(json), "/etc", NULL, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.server, "https://192.0.2.10:443");
	assert_memory_equal(cfg.ca_data.data, CA_PEM, strlen(CA_PEM));
	assert_string_equal(cfg.ns, "prod");
	assert_string_equal(cfg.token, "abc");
	assert_string_equal(cfg.token_file, "/nonexistent/token");
	/* An unreadable token file falls back to the static token. */
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "abc");
	free(tok);
	k8s_config_free(&cfg);
}

static void test_incluster(void **state)
{
	struct k8s_config cfg;
	char dir[128], path[512], err[512], *tok;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/sa", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	write_file("sa/token", "sa-token-1\n");
	write_file("sa/ca.crt", CA_PEM);
	write_file("sa/namespace", "bpfsplit-system\n");

	assert_int_equal(k8s_incluster_load(dir, "10.96.0.1", "443", &cfg, err, sizeof(err)), 0);
	assert_true(cfg.in_cluster);
	assert_string_equal(cfg.server, "https://10.96.0.1:443");
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_string_equal(cfg.token_file, path);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	assert_string_equal(cfg.ca_file, path);
	assert_string_equal(cfg.ns, "bpfsplit-system");
	assert_null(cfg.context);
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "sa-token-1");
	free(tok);
	write_file("sa/token", "sa-token-2");
	assert_int_equal(k8s_config_token(&cfg, &tok, err, sizeof(err)), 0);
	assert_string_equal(tok, "sa-token-2");
	free(tok);
	k8s_config_free(&cfg);

	/* From the environment; IPv6 service hosts get brackets. */
	setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	remove_file("sa/namespace");
	assert_int_equal(k8s_incluster_load(dir, NULL, NULL, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.server, "https://[fd00:10:96::1]:6443");
	assert_string_equal(cfg.ns, "default");
	k8s_config_free(&cfg);

	setenv("KUBERNETES_SERVICE_PORT", "https", 1);
	assert_int_equal(k8s_incluster_load(dir, NULL, NULL, &cfg, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "in-cluster: KUBERNETES_SERVICE_PORT \"https\" not a port");
	unsetenv("KUBERNETES_SERVICE_HOST");
	unsetenv("KUBERNETES_SERVICE_PORT");
	assert_int_equal(k8s_incluster_load(dir, NULL, NULL, &cfg, err, sizeof(err)), -ENOENT);
	assert_string_equal(err, "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT not set "
				 "(not running in a pod? use a kubeconfig)");
	assert_null(cfg.server);

	remove_file("sa/token");
	assert_int_equal(k8s_incluster_load(dir, "10.96.0.1", "443", &cfg, err, sizeof(err)), -ENOENT);
	snprintf(path, sizeof(path), "in-cluster: token %s/token: No such file or directory", dir);
	assert_string_equal(err, path);
	assert_null(cfg.server);
	assert_null(cfg.token_file);
}

static void test_base64(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" }, { "Zg", "f" }, { "Zm8", "fo" },
		{ "Zm9v\nYmFy\n", "foobar" }, { "  Zm 9v YmE= ", "fooba" },
	};
	static const char *const bad[] = { "Z", "Zg=a", "Zh==", "Zm9v!", "Zg===", "Zm-_" };
	unsigned char *out;
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(k8s_base64_decode(ok[i].in, strlen(ok[i].in), &out, &n), 0);
		assert_int_equal(n, strlen(ok[i].out));
		assert_memory_equal(out, ok[i].out, n);
		assert_int_equal(out[n], 0);
		free(out);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (k8s_base64_decode(bad[i], strlen(bad[i]), &out, &n) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_null(out);
	}
}

static void test_default_path(void **state)
{
	char buf[256];

	(void)state;
	setenv("KUBECONFIG", "/a/config:/b/config", 1);
	assert_int_equal(k8s_kubeconfig_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/a/config");
	assert_int_equal(k8s_kubeconfig_default_path(buf, 5), -ENAMETOOLONG);
	unsetenv("KUBECONFIG");
	setenv("HOME", "/home/dev", 1);
	assert_int_equal(k8s_kubeconfig_default_path(buf, sizeof(buf)), 0);
	assert_string_equal(buf, "/home/dev/.kube/config");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_current_context),
		cmocka_unit_test(test_named_contexts),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_json_kubeconfig),
		cmocka_unit_test(test_incluster),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_default_path),
	};

	return cmocka_run_group_tests_name("k8s_kubeconfig", tests, setup, teardown);
}
