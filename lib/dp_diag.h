/* SPDX-License-Identifier: BSD-2-Clause */
/* Internal to libbpfsplit: diagnosis of refused loads and the kernel version check. */
#ifndef BS_DP_DIAG_H
#define BS_DP_DIAG_H

#include <stddef.h>
#include <stdbool.h>

/* Which capabilities loading needs and this process lacks, comma-separated ("" when none). */
int bs_diag_missing_caps(char *buf, size_t len);
/* The likely causes of a load refused with err, probed: -EPERM/-EACCES: capabilities,
 * a seccomp filter, lockdown; -ENOMEM: the memory cgroup's limit. Always fills buf. */
void bs_diag_load_refused(int err, char *buf, size_t len);
/* 0 when the running kernel (or the given release, "6.1.0-18-amd64") is recent enough;
 * else -EOPNOTSUPP and buf says why. */
int bs_kernel_check(char *buf, size_t len);
int bs_kernel_release_check(const char *release, char *buf, size_t len);

#endif
