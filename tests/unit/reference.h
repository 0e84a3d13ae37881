/* SPDX-License-Identifier: BSD-2-Clause */
/* Test-only helpers shared by the unit tests that read the reference Kubernetes objects:
 * where they are ($BPFSPLIT_K8S_REFERENCE, default tests/fixtures/k8s relative to
 * the repository root, where the tests run), reading one whole, and parsing it with
 * cJSON. Failures end the running test through cmocka. Include after <cmocka.h>; for
 * tests only, never for agent or library code. */
#ifndef BPFSPLIT_TESTS_UNIT_REFERENCE_H
#define BPFSPLIT_TESTS_UNIT_REFERENCE_H

#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

/* The reference folder. */
static __attribute__((unused)) const char *ref_dir(void)
{
	const char *d = getenv("BPFSPLIT_K8S_REFERENCE");

	return d && d[0] ? d : "tests/fixtures/k8s";
}

/* The bytes of reference file NAME, NUL-terminated; *len (if len) their count.
 * The caller frees the buffer. */
static __attribute__((unused)) char *ref_slurp(const char *name, size_t *len)
{
	char path[1024];
	FILE *f;
	char *buf;
	long n;

	snprintf(path, sizeof(path), "%s/%s", ref_dir(), name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s (set BPFSPLIT_K8S_REFERENCE or run from the repository root)", path);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n >= 0);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return buf;
}

/* Reference file NAME parsed as JSON; the caller deletes it. */
static __attribute__((unused)) cJSON *ref_load(const char *name)
{
	char *text = ref_slurp(name, NULL);
	cJSON *j = cJSON_Parse(text);

	free(text);
	if (!j)
		fail_msg("%s: not JSON", name);
	return j;
}

#endif
