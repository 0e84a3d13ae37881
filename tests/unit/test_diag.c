// SPDX-License-Identifier: BSD-2-Clause
/* Unit tests for lib/dp_diag.c: the oldest kernel is 5.15, older ones are refused with a
 * message naming the release and the minimum; a capability check of this process agrees
 * with /proc/self/status. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "dp_diag.h"

static void test_kernel_releases(void **state)
{
	static const struct {
		const char *release;
		int want;
	} cases[] = {
		{ "6.18.44-fc-v1272", 0 }, { "6.1.0-18-amd64", 0 }, { "5.15.0-91-generic", 0 }, { "5.15", 0 },
		{ "10.0.0", 0 },	   { "5.14.0-362.el9.x86_64", -EOPNOTSUPP },     { "5.10.0-28-amd64", -EOPNOTSUPP },
		{ "4.19.0", -EOPNOTSUPP }, { "garbage", 0 /* unknown: the load tells */ },
	};
	char why[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = bs_kernel_release_check(cases[i].release, why, sizeof(why));

		if (rc != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].release, rc, cases[i].want);
		if (rc) {
			assert_non_null(strstr(why, cases[i].release));
			assert_non_null(strstr(why, "older than 5.15"));
		} else {
			assert_string_equal(why, "");
		}
	}
}

static void test_missing_caps_as_root(void **state)
{
	char caps[64];

	(void)state;
	if (geteuid() != 0)
		skip();
	assert_int_equal(bs_diag_missing_caps(caps, sizeof(caps)), 0);
	assert_string_equal(caps, ""); /* root with every capability lacks none */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_releases),
		cmocka_unit_test(test_missing_caps_as_root),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
