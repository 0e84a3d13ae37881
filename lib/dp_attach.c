// SPDX-License-Identifier: BSD-2-Clause
/* Attaching entry points with bpf_links pinned under <pin root>/links/, so that the data
 * path keeps forwarding when the attaching process exits. XDP mode is the kernel's
 * choice unless asked (native where the driver has it, generic otherwise) and reported.
 * tc entry points use tcx links (attach types 46/47, kernel >= 6.6, newer than libbpf
 * 1.1's headers) where the kernel has them, probed; below that, the classic clsact qdisc
 * with a direct-action cls_bpf filter (libbpf's bpf_tc_*). A classic filter has no link
 * to pin: the program is pinned under the same name with "@classic" appended, and the
 * filter is found again by its fixed handle and priority. BPFSPLIT_TC_ATTACH=classic (or
 * tcx) forces one way. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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
/* Our classic cls_bpf filter on the clsact hook: handle 0xb5, priority 1 (runs first). */
#define BS_TC_HANDLE 0xb5
#define BS_TC_PRIORITY 1
#define CLASSIC_SUFFIX "@classic"

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

static void classic_path(const char *root, const char *ifname, enum bs_entry entry, char *buf, size_t len)
{
	snprintf(buf, len, "%s/links/%s@%s@%lu" CLASSIC_SUFFIX, root, bs_entry_name(entry), ifname, current_netns());
}

/* Does this kernel have tcx links? Asked once: a query of the tcx ingress hook of the
 * loopback interface (always index 1) is understood from 6.6 on, refused with EINVAL before. */
static bool tcx_probe(void)
{
	static int have = -1;

	if (have < 0) {
		LIBBPF_OPTS(bpf_prog_query_opts, q);

		have = bpf_prog_query_opts(1, BS_ATTACH_TCX_INGRESS, &q) == 0 || errno != EINVAL;
	}
	return have;
}

bool bs_tc_uses_tcx(void)
{
	const char *force = getenv("BPFSPLIT_TC_ATTACH");

	if (force && !strcmp(force, "classic"))
		return false;
	if (force && !strcmp(force, "tcx"))
		return true;
	return tcx_probe();
}

static void tc_hook_init(struct bpf_tc_hook *hook, int ifindex, enum bs_entry entry)
{
	memset(hook, 0, sizeof(*hook));
	hook->sz = sizeof(*hook);
	hook->ifindex = ifindex;
	hook->attach_point = entry == BS_ENTRY_TC_EGRESS ? BPF_TC_EGRESS : BPF_TC_INGRESS;
}

/* clsact on the interface (kept if there: other filters may use it), then our filter,
 * replacing one left by an earlier run whose pin is gone. */
static int classic_attach(int prog_fd, int ifindex, enum bs_entry entry)
{
	struct bpf_tc_hook hook;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = BS_TC_HANDLE, .priority = BS_TC_PRIORITY, .prog_fd = prog_fd,
		    .flags = BPF_TC_F_REPLACE);
	int err;

	tc_hook_init(&hook, ifindex, entry);
	err = bpf_tc_hook_create(&hook);
	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/* The program id of our classic filter on an interface of this namespace, 0 if none. */
static __u32 classic_prog_id(int ifindex, enum bs_entry entry)
{
	struct bpf_tc_hook hook;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = BS_TC_HANDLE, .priority = BS_TC_PRIORITY);

	tc_hook_init(&hook, ifindex, entry);
	return bpf_tc_query(&hook, &opts) ? 0 : opts.prog_id;
}

static int classic_detach(int ifindex, enum bs_entry entry)
{
	struct bpf_tc_hook hook;
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = BS_TC_HANDLE, .priority = BS_TC_PRIORITY);

	tc_hook_init(&hook, ifindex, entry);
	return bpf_tc_detach(&hook, &opts);
}

/* Enter the network namespace with this inode (one named under /run/netns), for a
 * classic filter attached from another namespace. Returns the fd of the namespace we
 * were in, to go back with leave_netns, or -errno. */
static int enter_netns(unsigned long ino)
{
	struct dirent *de;
	char path[PATH_MAX];
	int self, fd = -1;
	DIR *d;

	self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (self < 0)
		return -errno;
	d = opendir("/run/netns");
	while (d && (de = readdir(d))) {
		struct stat st;

		snprintf(path, sizeof(path), "/run/netns/%s", de->d_name);
		if (de->d_name[0] != '.' && !stat(path, &st) && (unsigned long)st.st_ino == ino) {
			fd = open(path, O_RDONLY | O_CLOEXEC);
			break;
		}
	}
	if (d)
		closedir(d);
	if (fd < 0 || setns(fd, CLONE_NEWNET)) {
		if (fd >= 0)
			close(fd);
		close(self);
		return -ENOENT;
	}
	close(fd);
	return self;
}

static void leave_netns(int self)
{
	if (setns(self, CLONE_NEWNET))
		bs_warn("msg=\"cannot return to the original network namespace\" err=%s", strerror(errno));
	close(self);
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

static int attach_classic(struct bs_dp *dp, const char *ifname, int ifindex, enum bs_entry entry, char *how,
			  size_t how_len)
{
	char pin[PATH_MAX + 64];
	int prog_fd = bs_dp_prog_fd(dp, entry), err;

	err = classic_attach(prog_fd, ifindex, entry);
	if (err)
		return err;
	classic_path(dp->root, ifname, entry, pin, sizeof(pin));
	if (bpf_obj_pin(prog_fd, pin)) {
		err = -errno;
		classic_detach(ifindex, entry);
		return err;
	}
	if (how)
		snprintf(how, how_len, "tc classic %s", entry == BS_ENTRY_TC_INGRESS ? "ingress" : "egress");
	return 0;
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
	classic_path(dp->root, ifname, entry, pin, sizeof(pin));
	if (!access(pin, F_OK))
		return -EEXIST;
	link_path(dp->root, ifname, entry, pin, sizeof(pin));
	if (!access(pin, F_OK))
		return -EEXIST;
	if (entry != BS_ENTRY_XDP && !bs_tc_uses_tcx())
		return attach_classic(dp, ifname, ifindex, entry, how, how_len);

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

/* A classic filter: detach it in its namespace (entered through /run/netns when it is
 * not ours; when it cannot be found the filter goes with its interface), unpin the program. */
static int detach_classic(const char *pin, const char *ifname, enum bs_entry entry, unsigned long netns_ino)
{
	int self = -1, ifindex, err = 0;

	if (access(pin, F_OK))
		return -ENOENT;
	if (netns_ino != current_netns()) {
		self = enter_netns(netns_ino);
		if (self < 0)
			bs_warn("msg=\"classic tc filter left in a namespace that cannot be entered; it goes with its "
				"interface\" ifname=%s entry=%s", ifname, bs_entry_name(entry));
	}
	if (netns_ino == current_netns()) {
		ifindex = if_nametoindex(ifname);
		if (ifindex && classic_prog_id(ifindex, entry))
			err = classic_detach(ifindex, entry);
	}
	if (self >= 0)
		leave_netns(self);
	if (unlink(pin) && !err)
		err = -errno;
	return err;
}

int bs_dp_detach(const char *pin_root, const char *ifname, enum bs_entry entry)
{
	char pin[PATH_MAX + 64];
	const char *root = pin_root ? pin_root : BS_DEFAULT_PIN_ROOT;

	classic_path(root, ifname, entry, pin, sizeof(pin));
	if (!access(pin, F_OK))
		return detach_classic(pin, ifname, entry, current_netns());
	link_path(root, ifname, entry, pin, sizeof(pin));
	return detach_pin(pin);
}

int bs_dp_link_alive(const struct bs_link_info *li)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd, ifindex;

	if (access(li->pin, F_OK))
		return 0;
	if (li->classic) {
		struct bpf_prog_info pinfo = {};
		__u32 plen = sizeof(pinfo);

		if (li->netns_ino != current_netns())
			return -EXDEV;
		ifindex = if_nametoindex(li->ifname);
		fd = bpf_obj_get(li->pin);
		if (fd < 0)
			return -errno;
		if (bpf_obj_get_info_by_fd(fd, &pinfo, &plen)) {
			close(fd);
			return -errno;
		}
		close(fd);
		return ifindex && classic_prog_id(ifindex, li->entry) == pinfo.id;
	}
	fd = bpf_obj_get(li->pin);
	if (fd < 0)
		return -errno;
	if (bpf_obj_get_info_by_fd(fd, &info, &len)) {
		close(fd);
		return -errno;
	}
	close(fd);
	/* A detached link stays pinned but names no interface any more. The tcx part of the
	 * info union (newer than these headers) starts with ifindex, like the xdp part. */
	return info.xdp.ifindex != 0;
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
		li.classic = strstr(at2 + 1, CLASSIC_SUFFIX) != NULL;
		snprintf(li.pin, sizeof(li.pin), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(li.pin);
		if (fd >= 0 && li.classic) {
			struct bpf_prog_info pinfo = {};
			__u32 plen = sizeof(pinfo);

			if (!bpf_obj_get_info_by_fd(fd, &pinfo, &plen))
				li.prog_id = pinfo.id;
		} else if (fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len)) {
			li.prog_id = info.prog_id;
		}
		if (fd >= 0)
			close(fd);
		if (li.classic) {
			snprintf(li.mode, sizeof(li.mode), "tc-classic");
		} else if (li.entry != BS_ENTRY_XDP) {
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
	int err = li->classic ? detach_classic(li->pin, li->ifname, li->entry, li->netns_ino) : detach_pin(li->pin);

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
