/* SPDX-License-Identifier: BSD-2-Clause */
/* Why the kernel refused to load the data path, and whether it is new enough.
 * A load refused with EPERM (or EACCES from the verifier) has a handful of usual causes:
 * a missing capability, a seccomp filter (container engines' default profiles allow
 * bpf() only with CAP_SYS_ADMIN), a lockdown mode. Each is probed, not guessed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include "dp_diag.h"
#include "log.h"

#define CAP_NET_ADMIN_BIT 12
#define CAP_SYS_ADMIN_BIT 21
#define CAP_PERFMON_BIT 38
#define CAP_BPF_BIT 39

/* A field of /proc/self/status ("CapEff", "Seccomp") into buf; -ENOENT if absent. */
static int status_field(const char *name, char *buf, size_t len)
{
	char line[256];
	size_t n = strlen(name);
	FILE *f = fopen("/proc/self/status", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, name, n) && line[n] == ':') {
			char *v = line + n + 1;

			v += strspn(v, " \t");
			v[strcspn(v, "\n")] = '\0';
			snprintf(buf, len, "%s", v);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}

int bs_diag_missing_caps(char *buf, size_t len)
{
	char v[64];
	unsigned long long eff;
	int n = 0;

	buf[0] = '\0';
	if (status_field("CapEff", v, sizeof(v)))
		return -ENOENT;
	eff = strtoull(v, NULL, 16);
#define HAS(bit) (eff & (1ULL << (bit)))
	if (!HAS(CAP_BPF_BIT) && !HAS(CAP_SYS_ADMIN_BIT))
		n += snprintf(buf + n, len - n, "%sCAP_BPF", n ? "," : "");
	if (!HAS(CAP_PERFMON_BIT) && !HAS(CAP_SYS_ADMIN_BIT) && (size_t)n < len)
		n += snprintf(buf + n, len - n, "%sCAP_PERFMON", n ? "," : "");
	if (!HAS(CAP_NET_ADMIN_BIT) && (size_t)n < len)
		n += snprintf(buf + n, len - n, "%sCAP_NET_ADMIN", n ? "," : "");
#undef HAS
	return 0;
}

/* The lockdown mode in force ("integrity", "confidentiality"), or "" when none. */
static void lockdown_mode(char *buf, size_t len)
{
	char line[128], *open_br, *close_br;
	FILE *f = fopen("/sys/kernel/security/lockdown", "r");

	buf[0] = '\0';
	if (!f)
		return;
	if (fgets(line, sizeof(line), f) && (open_br = strchr(line, '[')) && (close_br = strchr(open_br, ']'))) {
		*close_br = '\0';
		if (strcmp(open_br + 1, "none"))
			snprintf(buf, len, "%s", open_br + 1);
	}
	fclose(f);
}

/* bpf() with an unknown command: the kernel answers EINVAL once the call reaches it;
 * EPERM means something in front of it (a seccomp filter, an LSM) refused the call. */
static bool bpf_syscall_filtered(void)
{
	long rc = syscall(__NR_bpf, 0x7fff, NULL, 0);

	return rc < 0 && errno == EPERM;
}

/* The memory limit of this process's memory cgroup (v2 memory.max or v1
 * memory.limit_in_bytes), as text; "" when unlimited or unknown. */
static void memcg_limit(char *buf, size_t len)
{
	char line[512], path[640], v[64] = "";
	FILE *f = fopen("/proc/self/cgroup", "r");

	buf[0] = '\0';
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *cg = strrchr(line, ':');

		line[strcspn(line, "\n")] = '\0';
		if (!cg)
			continue;
		if (strstr(line, ":memory:"))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/memory.limit_in_bytes", cg + 1);
		else if (!strncmp(line, "0::", 3))
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", cg + 1);
		else
			continue;
		/* In a container without a cgroup namespace the path is the host's, but the
		 * container's own cgroup is what is mounted: try the mount's root too. */
		if (access(path, R_OK))
			snprintf(path, sizeof(path), "%s", strstr(line, ":memory:") ? "/sys/fs/cgroup/memory/memory.limit_in_bytes"
										  : "/sys/fs/cgroup/memory.max");
		FILE *l = fopen(path, "r");
		if (l && fgets(v, sizeof(v), l)) {
			unsigned long long b = strtoull(v, NULL, 10);

			v[strcspn(v, "\n")] = '\0';
			if (strcmp(v, "max") && b && b < (1ULL << 60))
				snprintf(buf, len, "%llu MiB", b >> 20);
		}
		if (l)
			fclose(l);
		if (buf[0])
			break;
	}
	fclose(f);
}

void bs_diag_load_refused(int err, char *buf, size_t len)
{
	char caps[64] = "", seccomp[16] = "", lockdown[32];
	int n = 0;

	if (err == -ENOMEM) {
		char lim[32];

		memcg_limit(lim, sizeof(lim));
		snprintf(buf, len, "the maps' kernel memory is charged to this process's memory cgroup%s%s%s: raise "
				   "the limit or lower the map sizes (--max-conns first: 296 bytes per connection)",
			 lim[0] ? " (limit " : "", lim, lim[0] ? ")" : "");
		return;
	}
	bs_diag_missing_caps(caps, sizeof(caps));
	status_field("Seccomp", seccomp, sizeof(seccomp));
	lockdown_mode(lockdown, sizeof(lockdown));
	buf[0] = '\0';
	if (caps[0])
		n += snprintf(buf + n, len - n,
			      "missing capabilities %s (loading needs CAP_BPF, CAP_PERFMON for the verifier to "
			      "accept packet-pointer arithmetic, and CAP_NET_ADMIN; or CAP_SYS_ADMIN)",
			      caps);
	/* Without CAP_BPF the kernel itself refuses bpf() (unprivileged_bpf_disabled): the probe
	 * tells something only when the capabilities are there. */
	if ((size_t)n < len && !caps[0] && bpf_syscall_filtered())
		n += snprintf(buf + n, len - n,
			      "the bpf() syscall itself is refused%s (container engines' default seccomp profiles "
			      "allow bpf() only with CAP_SYS_ADMIN: run with seccomp Unconfined or a profile that "
			      "allows bpf)",
			      !strcmp(seccomp, "2") ? " by a seccomp filter (Seccomp: 2)" : " by an LSM");
	else if ((size_t)n < len && caps[0] && !strcmp(seccomp, "2"))
		n += snprintf(buf + n, len - n, "; a seccomp filter is in force too (Seccomp: 2): if it refuses "
						"bpf(), run with seccomp Unconfined or a profile that allows bpf");
	if ((size_t)n < len && lockdown[0])
		n += snprintf(buf + n, len - n, "%skernel lockdown is \"%s\"%s", n ? "; " : "", lockdown,
			      !strcmp(lockdown, "confidentiality") ? " (refuses BPF programs that read kernel memory)"
								   : " (usually allows loading)");
	if (!n)
		snprintf(buf, len, "capabilities, seccomp and lockdown allow loading: the verifier refused the "
				   "programs (%s; run with -v for its log)", strerror(err < 0 ? -err : err));
}

/* Oldest kernel the data path supports: XDP links (5.9), BPF_F_NO_PREALLOC LRU-free maps,
 * CAP_BPF/CAP_PERFMON (5.8); tc entry points use tcx links from 6.6 and classic clsact
 * + cls_bpf below. 5.15 is the oldest long-term kernel with all of it. */
#define BS_MIN_KERNEL_MAJOR 5
#define BS_MIN_KERNEL_MINOR 15

int bs_kernel_release_check(const char *release, char *buf, size_t len)
{
	int major = 0, minor = 0;

	buf[0] = '\0';
	if (sscanf(release, "%d.%d", &major, &minor) != 2)
		return 0; /* unknown: let the load tell */
	if (major > BS_MIN_KERNEL_MAJOR || (major == BS_MIN_KERNEL_MAJOR && minor >= BS_MIN_KERNEL_MINOR))
		return 0;
	snprintf(buf, len, "kernel %s is older than %d.%d, the oldest bpfsplit supports (XDP links, CAP_BPF "
			   "and the verifier features its programs need)",
		 release, BS_MIN_KERNEL_MAJOR, BS_MIN_KERNEL_MINOR);
	return -EOPNOTSUPP;
}

int bs_kernel_check(char *buf, size_t len)
{
	struct utsname u;

	buf[0] = '\0';
	return uname(&u) ? 0 : bs_kernel_release_check(u.release, buf, len);
}
