/* SPDX-License-Identifier: BSD-2-Clause */
/* Where the API server is and how to authenticate to it: from a kubeconfig file
 * (YAML, as kubectl writes it; JSON is YAML too), or from inside a pod (the
 * service-account directory plus KUBERNETES_SERVICE_HOST/PORT).
 * Functions return 0 or -errno and write a message naming the source and the
 * cause into err. k8s_config_free() is safe on a zeroed or failed config. */
#ifndef BPFSPLIT_K8S_KUBECONFIG_H
#define BPFSPLIT_K8S_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>

/* Where a pod finds its service-account token, CA bundle and namespace. */
#define K8S_INCLUSTER_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

/* Largest kubeconfig / token / namespace file read (bytes). */
#define K8S_CONFIG_FILE_MAX (16u << 20)

struct k8s_blob {
	unsigned char *data;     /* base64-decoded; NUL-terminated for convenience */
	size_t len;              /* without the NUL */
};

/* For each of CA, client certificate and client key, at most one of *_file and
 * *_data is set: inline data wins over a file, as in client-go. Relative file
 * paths in a kubeconfig are made relative to the kubeconfig's directory. */
struct k8s_config {
	char *server;            /* "https://host:port" (no trailing "/") */
	char *tls_server_name;   /* NULL: verify against the server's host */
	bool insecure_skip_tls_verify; /* as written; the client refuses to honour it */
	char *ca_file;
	struct k8s_blob ca_data; /* PEM */
	char *token;             /* static bearer token */
	char *token_file;        /* read on every use: tokens rotate; wins over token */
	char *client_cert_file;
	struct k8s_blob client_cert_data;
	char *client_key_file;
	struct k8s_blob client_key_data;
	char *ns;                /* default namespace: the context's or the pod's; "default" */
	char *context;           /* kubeconfig context used; NULL in-cluster */
	bool has_exec;           /* user uses an exec plugin: not supported */
	bool has_auth_provider;  /* user uses an auth-provider: not supported */
	bool in_cluster;
};

/* Parse kubeconfig text. context NULL: the file's current-context. base_dir:
 * directory relative paths start from (NULL: leave them as written). */
int k8s_kubeconfig_parse(const char *text, size_t len, const char *base_dir, const char *context,
			 struct k8s_config *cfg, char *err, size_t errlen);

/* Read and parse a kubeconfig file. */
int k8s_kubeconfig_load(const char *path, const char *context, struct k8s_config *cfg,
			char *err, size_t errlen);

/* The kubeconfig kubectl would read: the first entry of $KUBECONFIG, else
 * $HOME/.kube/config. -ENOENT when neither is set, -ENAMETOOLONG. */
int k8s_kubeconfig_default_path(char *buf, size_t cap);

/* In-cluster config. dir NULL: K8S_INCLUSTER_DIR; host/port NULL: the
 * KUBERNETES_SERVICE_HOST/PORT environment variables (-ENOENT when unset:
 * not in a pod). The token stays a file (token_file), re-read when used. */
int k8s_incluster_load(const char *dir, const char *host, const char *port, struct k8s_config *cfg,
		       char *err, size_t errlen);

/* The bearer token to send now: token_file read afresh (trimmed), else token.
 * *token is NULL (and 0 returned) when the config has no token. free() it. */
int k8s_config_token(const struct k8s_config *cfg, char **token, char *err, size_t errlen);

void k8s_config_free(struct k8s_config *cfg);

/* Helpers, exposed for the client and the tests. */
int k8s_read_file(const char *path, size_t max, char **buf, size_t *len);
int k8s_base64_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif
