// SPDX-License-Identifier: BSD-2-Clause
/* Attaching entry points with bpf_links pinned under <pin root>/links/, so that the data
 * path keeps forwarding when the attaching process exits. XDP mode is the kernel's
 * choice unless asked (native where the driver has it, generic otherwise) and reported;
 * tc entry points use tcx links (attach types 46/47, newer than libbpf 1.1's headers). */
#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "bpfsplit.skel.h"
#include "dp_internal.h"
#include "log.h"

#define BS_ATTACH_TCX_INGRESS 46
#define BS_ATTACH_TCX_EGRESS 47

static const char *const entry_names[] = {
	[BS_ENTRY_XDP] = "xdp",
	[BS_ENTRY_TC_INGRESS] = "tc-ingress",
	[BS_ENTRY_TC_EGRESS] = "tc-egress",
};

const char *bs_entry_name(enum bs_entry entry)
{
	return entry <= BS_ENTRY_TC_EGRESS ? entry_names[entry] : "?";
}

int bs_entry_parse(const char *s, enum bs_entry *entry)
{
	for (int e = BS_ENTRY_XDP; e <= BS_ENTRY_TC_EGRESS; e++) {
		if (!strcmp(s, entry_names[e])) {
			*entry = e;
			return 0;
		}
	}
	return -EINVAL;
}

/* Drivers whose packets come from local sockets or pods rather than a wire. */
static const char *const virtual_drivers[] = { "veth", "tun", "bridge", "dummy", "vxlan", "geneve", "macvlan",
					       "ipvlan", "wireguard", "openvswitch", "vrf", "netkit", "bond" };

int bs_entry_auto(const char *ifname, enum bs_entry *entry, char *why, size_t why_len)
{
	struct ethtool_drvinfo info = { .cmd = ETHTOOL_GDRVINFO };
	struct ifreq ifr = {};
	int fd, err = 0;

	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
	ifr.ifr_data = (void *)&info;
	if (ioctl(fd, SIOCETHTOOL, &ifr))
		err = errno == ENODEV ? -ENODEV : 0; /* no driver info: treat as a wire */
	close(fd);
	if (err)
		return err;
	for (size_t i = 0; i < sizeof(virtual_drivers) / sizeof(virtual_drivers[0]); i++) {
		if (!strcmp(info.driver, virtual_drivers[i])) {
			*entry = BS_ENTRY_TC_INGRESS;
			snprintf(why, why_len, "driver %s: packets from local sockets or pods may carry checksum seeds "
				 "that only tc can update exactly", info.driver);
			return 0;
		}
	}
	*entry = BS_ENTRY_XDP;
	snprintf(why, why_len, "driver %s: packets from a wire carry full checksums; XDP is the earliest hook",
		 info.driver[0] ? info.driver : "unknown");
	return 0;
}

/* The network namespace we run in, by inode: interface names are per namespace, so a
 * link's pin names both ("xdp@eth0@4026531840"). */
static unsigned long current_netns(void)
{
	struct stat st;

	return stat("/proc/self/ns/net", &st) ? 0 : (unsigned long)st.st_ino;
}

static void link_path(const char *root, const char *ifname, enum bs_entry entry, char *buf, size_t len)
{
	snprintf(buf, len, "%s/links/%s@%s@%lu", root, bs_entry_name(entry), ifname, current_netns());
}

static const char *xdp_mode_name(int ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);

	if (bpf_xdp_query(ifindex, 0, &q))
		return "unknown";
	return q.attach_mode == XDP_ATTACHED_DRV ? "native" : q.attach_mode == XDP_ATTACHED_SKB ? "generic" : "other";
}

/* Create the link; an interface just released by a previous owner answers EBUSY for a
 * while (docs/datapath-notes.md), so retry for up to three seconds. */
static int create_link(int prog_fd, int ifindex, int attach_type, __u32 flags)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts, .flags = flags);

	for (int i = 0; i < 30; i++) {
		int fd = bpf_link_create(prog_fd, ifindex, attach_type, flags ? &opts : NULL);
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		if (fd >= 0 || errno != EBUSY)
			return fd >= 0 ? fd : -errno;
		nanosleep(&ts, NULL);
	}
	return -EBUSY;
}

int bs_dp_prog_fd(struct bs_dp *dp, enum bs_entry entry)
{
	if (!dp->skel)
		return -EOPNOTSUPP;
	switch (entry) {
	case BS_ENTRY_XDP:
		return bpf_program__fd(dp->skel->progs.bs_xdp_ingress);
	case BS_ENTRY_TC_INGRESS:
		return bpf_program__fd(dp->skel->progs.bs_tc_ingress);
	case BS_ENTRY_TC_EGRESS:
		return bpf_program__fd(dp->skel->progs.bs_tc_egress);
	}
	return -EINVAL;
}

int bs_dp_attach(struct bs_dp *dp, const char *ifname, enum bs_entry entry, enum bs_xdp_mode mode, char *how,
		 size_t how_len)
{
	char pin[PATH_MAX + 64], dir[PATH_MAX + 8];
	int ifindex = if_nametoindex(ifname), fd, prog_fd, err;

	if (!dp->skel)
		return -EOPNOTSUPP; /* opened from pins only: no programs to attach */
	if (!ifindex)
		return -ENODEV;
	snprintf(dir, sizeof(dir), "%s/links", dp->root);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	link_path(dp->root, ifname, entry, pin, sizeof(pin));
	if (!access(pin, F_OK))
		return -EEXIST;

	switch (entry) {
	case BS_ENTRY_XDP:
		prog_fd = bpf_program__fd(dp->skel->progs.bs_xdp_ingress);
		if (mode == BS_XDP_AUTO) {
			fd = create_link(prog_fd, ifindex, BPF_XDP, 0);
		} else {
			fd = create_link(prog_fd, ifindex, BPF_XDP,
					 mode == BS_XDP_NATIVE ? XDP_FLAGS_DRV_MODE : XDP_FLAGS_SKB_MODE);
		}
		break;
	case BS_ENTRY_TC_INGRESS:
		prog_fd = bpf_program__fd(dp->skel->progs.bs_tc_ingress);
		fd = create_link(prog_fd, ifindex, BS_ATTACH_TCX_INGRESS, 0);
		break;
	case BS_ENTRY_TC_EGRESS:
		prog_fd = bpf_program__fd(dp->skel->progs.bs_tc_egress);
		fd = create_link(prog_fd, ifindex, BS_ATTACH_TCX_EGRESS, 0);
		break;
	default:
		return -EINVAL;
	}
	if (fd < 0)
		return fd;
	if (bpf_obj_pin(fd, pin)) {
		err = -errno;
		bpf_link_detach(fd);
		close(fd);
		return err;
	}
	close(fd);
	if (how)
		snprintf(how, how_len, "%s %s", entry == BS_ENTRY_XDP ? "xdp" : "tcx",
			 entry == BS_ENTRY_XDP ? xdp_mode_name(ifindex) : entry == BS_ENTRY_TC_INGRESS ? "ingress" : "egress");
	return 0;
}

static int detach_pin(const char *pin)
{
	int fd, err = 0;

	fd = bpf_obj_get(pin);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -errno;
	/* Detach even if another process still holds the link open; the pin goes too. */
	if (bpf_link_detach(fd) && errno != ENOLINK)
		err = -errno;
	close(fd);
	if (unlink(pin) && !err)
		err = -errno;
	return err;
}

int bs_dp_detach(const char *pin_root, const char *ifname, enum bs_entry entry)
{
	char pin[PATH_MAX + 64];

	link_path(pin_root ? pin_root : BS_DEFAULT_PIN_ROOT, ifname, entry, pin, sizeof(pin));
	return detach_pin(pin);
}

int bs_dp_for_each_link(const char *pin_root, int (*fn)(const struct bs_link_info *, void *), void *ctx)
{
	char dir[PATH_MAX - 300], name[256];
	unsigned long here = current_netns();
	struct dirent *de;
	DIR *d;
	int ret = 0;

	snprintf(dir, sizeof(dir), "%s/links", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (de = readdir(d))) {
		struct bs_link_info li = {};
		struct bpf_link_info info = {};
		__u32 len = sizeof(info);
		char *at1, *at2;
		int fd;

		snprintf(name, sizeof(name), "%s", de->d_name);
		at1 = strchr(name, '@');
		at2 = at1 ? strchr(at1 + 1, '@') : NULL;
		if (!at2)
			continue;
		*at1 = *at2 = '\0';
		if (bs_entry_parse(name, &li.entry))
			continue;
		snprintf(li.ifname, sizeof(li.ifname), "%s", at1 + 1);
		li.netns_ino = strtoul(at2 + 1, NULL, 10);
		snprintf(li.pin, sizeof(li.pin), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(li.pin);
		if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len))
			li.prog_id = info.prog_id;
		if (fd >= 0)
			close(fd);
		if (li.entry != BS_ENTRY_XDP) {
			snprintf(li.mode, sizeof(li.mode), "tcx");
		} else if (li.netns_ino != here) {
			snprintf(li.mode, sizeof(li.mode), "xdp"); /* mode is only visible from its namespace */
		} else {
			int ifindex = if_nametoindex(li.ifname);

			snprintf(li.mode, sizeof(li.mode), "%s", ifindex ? xdp_mode_name(ifindex) : "gone");
		}
		ret = fn(&li, ctx);
	}
	closedir(d);
	return ret;
}

static int detach_one(const struct bs_link_info *li, void *ctx)
{
	int err = detach_pin(li->pin);

	if (err && err != -ENOENT)
		bs_warn("msg=\"cannot detach\" ifname=%s entry=%s err=%s", li->ifname, bs_entry_name(li->entry),
			strerror(-err));
	return 0;
}

int bs_dp_unpin_all(const char *pin_root)
{
	const char *root = pin_root ? pin_root : BS_DEFAULT_PIN_ROOT;
	char path[PATH_MAX + 64];
	int err;

	err = bs_dp_for_each_link(root, detach_one, NULL);
	err = err ?: bs_dp_unpin_cluster(root);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/links", root);
	rmdir(path);
	for (int i = 0; i < BS_MAP_COUNT; i++) {
		snprintf(path, sizeof(path), "%s/%s", root, bs_map_names[i]);
		if (unlink(path) && errno != ENOENT)
			return -errno;
	}
	if (rmdir(root) && errno != ENOENT)
		return -errno;
	return 0;
}
