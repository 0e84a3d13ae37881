// SPDX-License-Identifier: BSD-2-Clause
/* libFuzzer harness: the kubeconfig reader (agent/k8s/kubeconfig.c) on arbitrary YAML
 * (and so JSON) text, with the file's current context and with a named one, relative
 * paths resolved against a base directory. A success must give a server URL without a
 * trailing "/" and at most one of file and inline data for each credential. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/kubeconfig.h"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "invariant failed: %s\n", #c); abort(); } } while (0)

static void one(const uint8_t *data, size_t size, const char *context)
{
	struct k8s_config cfg = {};
	char err[512];
	int r = k8s_kubeconfig_parse((const char *)data, size, "/nonexistent/kube", context, &cfg, err, sizeof(err));

	if (!r) {
		size_t n;

		CHECK(cfg.server);
		n = strlen(cfg.server);
		CHECK(n && cfg.server[n - 1] != '/');
		CHECK(!(cfg.ca_file && cfg.ca_data.data));
		CHECK(!(cfg.client_cert_file && cfg.client_cert_data.data));
		CHECK(!(cfg.client_key_file && cfg.client_key_data.data));
		CHECK(cfg.ns && cfg.ns[0]);
	} else {
		CHECK(r < 0);
		CHECK(err[0]);
	}
	k8s_config_free(&cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *out = NULL;
	size_t outlen = 0;

	one(data, size, NULL);
	one(data, size, "dev");
	if (!k8s_base64_decode((const char *)data, size, &out, &outlen))
		CHECK(outlen <= size && out[outlen] == 0);
	free(out);
	return 0;
}
