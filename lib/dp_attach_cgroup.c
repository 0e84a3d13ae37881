// SPDX-License-Identifier: BSD-2-Clause
/* Attaching the socket hooks to a cgroup v2 directory (a node's cgroup root: on a hybrid
 * host, a directory of the unified hierarchy) with bpf_links pinned under
 * <pin root>/cgroup/<hook>@<escaped cgroup path>, so that the hooks stay when this
 * process exits. Links attach beside other programs on the same cgroup (multi-attach). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfsplit.skel.h"
#include "dp_internal.h"
#include "log.h"

struct hook {
	const char *name;
	enum bpf_attach_type type;
};

static const struct hook hooks[] = {
	{ "connect4", BPF_CGROUP_INET4_CONNECT },	  { "connect6", BPF_CGROUP_INET6_CONNECT },
	{ "sendmsg4", BPF_CGROUP_UDP4_SENDMSG },	  { "sendmsg6", BPF_CGROUP_UDP6_SENDMSG },
	{ "recvmsg4", BPF_CGROUP_UDP4_RECVMSG },	  { "recvmsg6", BPF_CGROUP_UDP6_RECVMSG },
	{ "getpeername4", BPF_CGROUP_INET4_GETPEERNAME }, { "getpeername6", BPF_CGROUP_INET6_GETPEERNAME },
};
#define N_HOOKS (sizeof(hooks) / sizeof(hooks[0]))

static struct bpf_program *hook_prog(struct bs_dp *dp, size_t i)
{
	struct bpf_program *progs[N_HOOKS] = {
		dp->skel->progs.bs_sock_connect4,     dp->skel->progs.bs_sock_connect6,
		dp->skel->progs.bs_sock_sendmsg4,     dp->skel->progs.bs_sock_sendmsg6,
		dp->skel->progs.bs_sock_recvmsg4,     dp->skel->progs.bs_sock_recvmsg6,
		dp->skel->progs.bs_sock_getpeername4, dp->skel->progs.bs_sock_getpeername6,
	};
	return progs[i];
}

/* A cgroup path as one pin name: '/' becomes '~' (a character cgroup names rarely use). */
static void escape(const char *path, char *out, size_t len)
{
	size_t i;

	for (i = 0; path[i] && i + 1 < len; i++)
		out[i] = path[i] == '/' ? '~' : path[i];
	out[i] = '\0';
	while (i > 1 && out[i - 1] == '~') /* trailing slashes name the same cgroup */
		out[--i] = '\0';
}

static void unescape(const char *name, char *out, size_t len)
{
	size_t i;

	for (i = 0; name[i] && i + 1 < len; i++)
		out[i] = name[i] == '~' ? '/' : name[i];
	out[i] = '\0';
}

static void pin_path(const char *root, const char *hook, const char *cgroup_path, char *buf, size_t len)
{
	char esc[256];

	escape(cgroup_path, esc, sizeof(esc));
	snprintf(buf, len, "%s/cgroup/%s@%s", root, hook, esc);
}

static int detach_pin(const char *pin)
{
	int fd = bpf_obj_get(pin), err = 0;

	if (fd < 0)
		return -errno;
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (unlink(pin) && !err)
		err = -errno;
	return err;
}

int bs_dp_detach_cgroup(const char *pin_root, const char *cgroup_path)
{
	const char *root = pin_root ? pin_root : BS_DEFAULT_PIN_ROOT;
	char pin[PATH_MAX + 300];
	int err, found = 0, first_err = 0;

	for (size_t i = 0; i < N_HOOKS; i++) {
		pin_path(root, hooks[i].name, cgroup_path, pin, sizeof(pin));
		err = detach_pin(pin);
		if (!err)
			found++;
		else if (err != -ENOENT && !first_err)
			first_err = err;
	}
	if (first_err)
		return first_err;
	return found ? 0 : -ENOENT;
}

int bs_dp_attach_cgroup(struct bs_dp *dp, const char *cgroup_path, char *how, size_t how_len)
{
	char pin[PATH_MAX + 300], dir[PATH_MAX + 8];
	struct statfs sfs;
	int cg_fd, err = 0;
	size_t i;

	if (!dp->skel)
		return -EOPNOTSUPP; /* opened from pins only: no programs to attach */
	if (statfs(cgroup_path, &sfs))
		return -errno;
	if (sfs.f_type != CGROUP2_SUPER_MAGIC) {
		bs_err("msg=\"not a cgroup v2 directory\" path=%s hint=\"use the unified hierarchy "
		       "(/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host)\"", cgroup_path);
		return -EINVAL;
	}
	cg_fd = open(cgroup_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return -errno;
	snprintf(dir, sizeof(dir), "%s/cgroup", dp->root);
	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		goto out;
	}
	pin_path(dp->root, hooks[0].name, cgroup_path, pin, sizeof(pin));
	if (!access(pin, F_OK)) {
		err = -EEXIST;
		goto out;
	}
	for (i = 0; i < N_HOOKS; i++) {
		int fd = bpf_link_create(bpf_program__fd(hook_prog(dp, i)), cg_fd, hooks[i].type, NULL);

		if (fd < 0) {
			err = -errno;
			bs_err("msg=\"cannot attach socket hook\" hook=%s cgroup=%s err=%s", hooks[i].name, cgroup_path,
			       strerror(-err));
			break;
		}
		pin_path(dp->root, hooks[i].name, cgroup_path, pin, sizeof(pin));
		if (bpf_obj_pin(fd, pin)) {
			err = -errno;
			bpf_link_detach(fd);
			close(fd);
			break;
		}
		close(fd);
	}
	if (err) /* all or nothing */
		bs_dp_detach_cgroup(dp->root, cgroup_path);
	else if (how)
		snprintf(how, how_len, "cgroup links: connect4/6 sendmsg4/6 recvmsg4/6 getpeername4/6");
out:
	close(cg_fd);
	return err;
}

int bs_dp_cgroup_alive(const char *pin_root, const char *cgroup_path)
{
	const char *root = pin_root ? pin_root : BS_DEFAULT_PIN_ROOT;
	char pin[PATH_MAX + 300];

	for (size_t i = 0; i < N_HOOKS; i++) {
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		int fd, rc;

		pin_path(root, hooks[i].name, cgroup_path, pin, sizeof(pin));
		fd = bpf_obj_get(pin);
		if (fd < 0)
			return 0;
		rc = bpf_obj_get_info_by_fd(fd, &info, &len);
		close(fd);
		/* A detached cgroup link keeps its pin but no longer names a cgroup. */
		if (rc || !info.cgroup.cgroup_id)
			return 0;
	}
	return 1;
}

int bs_dp_for_each_cgroup(const char *pin_root, int (*fn)(const char *cgroup_path, void *), void *ctx)
{
	char dir[PATH_MAX - 300], path[256];
	const char *prefix = "connect4@";
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/cgroup", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (de = readdir(d))) {
		if (strncmp(de->d_name, prefix, strlen(prefix)))
			continue;
		unescape(de->d_name + strlen(prefix), path, sizeof(path));
		ret = fn(path, ctx);
	}
	closedir(d);
	return ret;
}

/* Maps beyond the core set of bs_map_names, removed with the rest. */
static const char *const cluster_maps[] = { "bs_sock_rev", "bs_node", "bs_snat_rev" };

int bs_dp_unpin_cluster(const char *pin_root)
{
	const char *root = pin_root ? pin_root : BS_DEFAULT_PIN_ROOT;
	char dir[PATH_MAX - 300], pin[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int err;

	snprintf(dir, sizeof(dir), "%s/cgroup", root);
	d = opendir(dir);
	if (d) {
		while ((de = readdir(d))) {
			if (de->d_name[0] == '.')
				continue;
			snprintf(pin, sizeof(pin), "%s/%s", dir, de->d_name);
			err = detach_pin(pin);
			if (err && err != -ENOENT)
				bs_warn("msg=\"cannot detach socket hook\" pin=%s err=%s", pin, strerror(-err));
		}
		closedir(d);
		rmdir(dir);
	}
	for (size_t i = 0; i < sizeof(cluster_maps) / sizeof(cluster_maps[0]); i++) {
		snprintf(pin, sizeof(pin), "%s/%s", root, cluster_maps[i]);
		if (unlink(pin) && errno != ENOENT)
			return -errno;
	}
	return 0;
}
