// SPDX-License-Identifier: BSD-2-Clause
/* A node's translation settings (bs_node) and the sweep of SNAT reverse entries whose
 * connection record is gone, which frees their ports. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "dp_internal.h"
#include "log.h"

static int open_pin(const char *pin_root, const char *name)
{
	char pin[PATH_MAX + 32];
	int fd;

	snprintf(pin, sizeof(pin), "%s/%s", pin_root ? pin_root : BS_DEFAULT_PIN_ROOT, name);
	fd = bpf_obj_get(pin);
	return fd < 0 ? -errno : fd;
}

int bs_dp_set_node(const char *pin_root, const struct bs_node_cfg *cfg)
{
	struct bs_node_cfg c = *cfg, cur = {};
	static const __be32 none6[4];
	__u32 zero = 0;
	int fd, err = 0;

	if (c.nat_mode > BS_NAT_SNAT) {
		bs_err("msg=\"unknown NAT mode\" mode=%u", c.nat_mode);
		return -EINVAL;
	}
	if (c.nat_mode == BS_NAT_SNAT && !c.addr4 && !memcmp(c.addr6, none6, sizeof(none6))) {
		bs_err("msg=\"snat needs the node's address\" hint=\"give --node-addr (IPv4 and/or IPv6)\"");
		return -EINVAL;
	}
	/* Settings never stored (ports 0) take the defaults for what the caller left 0. */
	if (bs_dp_get_node(pin_root, &cur) == 0 && !cur.port_lo && !c.snat_hold_s)
		c.snat_hold_s = BS_DEFAULT_SNAT_HOLD_S;
	if (!c.port_lo && !c.port_hi) {
		c.port_lo = BS_DEFAULT_SNAT_PORT_LO;
		c.port_hi = BS_DEFAULT_SNAT_PORT_HI;
	}
	if (c.port_lo < 1024 || c.port_hi < c.port_lo) {
		bs_err("msg=\"bad SNAT port range\" lo=%u hi=%u hint=\"use LO-HI within 1024-65535\"", c.port_lo,
		       c.port_hi);
		return -EINVAL;
	}
	fd = open_pin(pin_root, "bs_node");
	if (fd < 0)
		return fd;
	if (bpf_map_update_elem(fd, &zero, &c, BPF_ANY))
		err = -errno;
	close(fd);
	return err;
}

int bs_dp_get_node(const char *pin_root, struct bs_node_cfg *out)
{
	__u32 zero = 0;
	int fd = open_pin(pin_root, "bs_node"), err = 0;

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_elem(fd, &zero, out))
		err = -errno;
	close(fd);
	return err;
}

__u64 bs_dp_snat_hold_ns(struct bs_dp *dp)
{
	struct bs_node_cfg cfg;

	if (bs_dp_get_node(dp->root, &cfg))
		return 0;
	return (__u64)cfg.snat_hold_s * 1000000000ULL;
}

int bs_dp_gc_snat(struct bs_dp *dp)
{
	struct bs_flow_key key, next, *victims = NULL;
	size_t n = 0, cap = 0;
	void *prev = NULL;
	int fd = open_pin(dp->root, "bs_snat_rev"), deleted = 0;

	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	while (!bpf_map_get_next_key(fd, prev, &next)) {
		struct bs_flow_key fwd = {};
		struct bs_snat v;
		struct bs_conn ct;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &v))
			continue;
		memcpy(fwd.saddr, v.client_addr, sizeof(fwd.saddr));
		memcpy(fwd.daddr, v.frontend_addr, sizeof(fwd.daddr));
		fwd.sport = v.client_port;
		fwd.dport = v.frontend_port;
		fwd.family = key.family;
		fwd.proto = key.proto;
		/* The port is free again once the record is gone, or names another port. */
		if (!bpf_map_lookup_elem(dp->fd[BS_MAP_CONNS], &fwd, &ct) && ct.nat_mode == BS_NAT_SNAT &&
		    ct.nat_port == key.dport)
			continue;
		if (n == cap) {
			struct bs_flow_key *nv = realloc(victims, (cap ? 2 * cap : 64) * sizeof(*nv));

			if (!nv)
				break;
			victims = nv;
			cap = cap ? 2 * cap : 64;
		}
		victims[n++] = key;
	}
	for (size_t i = 0; i < n; i++)
		if (!bpf_map_delete_elem(fd, &victims[i]))
			deleted++;
	free(victims);
	close(fd);
	return deleted;
}
