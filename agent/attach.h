/* SPDX-License-Identifier: BSD-2-Clause */
/* The attachments the agent keeps: --attach ENTRY:IFACE, --interfaces IF[,IF]|auto
 * ("auto": the uplink of the default route) and --cgroup PATH (the socket hooks on a
 * cgroup v2 directory, the node's cgroup root). Attached at start, checked every second:
 * a lost one (detached by someone, pin removed) is attached again and logged. /readyz
 * waits for all of them; /metrics lists them. */
#ifndef BS_AGENT_ATTACH_H
#define BS_AGENT_ATTACH_H

#include <stdbool.h>
#include <stdint.h>
#include "bpfsplit.h"
#include "metrics.h"

#define ATTACH_MAX 32

struct attach_slot {
	char ifname[32];        /* "" while an "auto" interface is not resolved yet */
	char cgroup[192];       /* a cgroup slot's directory ("" for an interface slot) */
	enum bs_entry entry;
	bool by_driver;         /* ingress entry chosen by the interface's driver */
	bool from_auto;         /* from --interfaces auto */
	bool present;           /* attached and in force at the last check */
	bool ever;              /* was in force once: attaching again is a repair */
	char how[64];           /* "tcx ingress", "tc classic egress", "xdp native" ... */
	uint64_t reattached;    /* times found lost and attached again */
	char last_err[64];
};

struct attachments {
	struct attach_slot s[ATTACH_MAX];
	size_t n;
	bool have_auto;
	uint64_t next_check_ns;
};

/* Flag values: "xdp:eth0"; "eth0,eth1" or "auto". 0 or -EINVAL (want says what). */
int attach_add_spec(struct attachments *at, const char *spec, const char **want);
int attach_add_interfaces(struct attachments *at, const char *list, const char **want);
/* --cgroup PATH: the socket hooks on that cgroup v2 directory. */
int attach_add_cgroup(struct attachments *at, const char *path, const char **want);
/* The uplink: interface of the default route (IPv4, else IPv6) with the lowest metric. */
int attach_default_uplink(char *ifname, size_t len);
/* Attach what is missing (first call: everything); adopt links already pinned and in
 * force; drop and redo lost ones. Returns how many are missing afterwards. */
size_t attach_sync(struct attachments *at, struct bs_dp *dp, enum bs_xdp_mode mode);
/* attach_sync at most once a second; true when something changed (metrics to publish). */
bool attach_tick(struct attachments *at, struct bs_dp *dp, enum bs_xdp_mode mode, uint64_t now_ns);
bool attach_complete(const struct attachments *at);
/* Why not complete, for /readyz ("" when complete). */
void attach_missing(const struct attachments *at, char *buf, size_t len);
void attach_render(const struct attachments *at, struct mbuf *b);

#endif
