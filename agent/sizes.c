/* SPDX-License-Identifier: BSD-2-Clause */
/* Map sizes: parsed like the CLI's, reported after the data path is open. Pinned maps
 * are reused with the sizes they were created with (existing connections survive an
 * agent restart), so a changed size takes effect only after `bpfsplit dataplane unload`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "log.h"
#include "sizes.h"

#define SIZE_MAX_VALUE (1u << 30)

int sizes_parse(const char *flag, const char *val, struct bs_dp_opts *o)
{
	__u32 *dst = !strcmp(flag, "max-conns")	    ? &o->max_conns
		     : !strcmp(flag, "max-frontends") ? &o->max_frontends
		     : !strcmp(flag, "max-backends")  ? &o->max_backends
		     : !strcmp(flag, "max-tables")    ? &o->max_tables
		     : !strcmp(flag, "max-splits")    ? &o->max_splits
		     : !strcmp(flag, "max-members")   ? &o->max_members
		     : !strcmp(flag, "max-large-tables") ? &o->max_large_tables
						      : NULL;
	char *end;
	unsigned long long v;

	if (!dst)
		return -ENOENT;
	errno = 0;
	v = strtoull(val, &end, 10);
	if (errno || end == val || *end || !v || v > SIZE_MAX_VALUE || val[0] == '-')
		return -EINVAL;
	*dst = (__u32)v;
	return 0;
}

static __u32 max_entries(struct bs_dp *dp, const char *map)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	int fd = bs_dp_map_fd(dp, map);

	return fd >= 0 && !bpf_obj_get_info_by_fd(fd, &info, &len) ? info.max_entries : 0;
}

void sizes_report(struct bs_dp *dp, const struct bs_dp_opts *o)
{
	static const struct {
		const char *flag, *map;
		size_t off;
	} sz[] = {
		{ "--max-conns", "bs_conns", offsetof(struct bs_dp_opts, max_conns) },
		{ "--max-frontends", "bs_frontends", offsetof(struct bs_dp_opts, max_frontends) },
		{ "--max-backends", "bs_backends", offsetof(struct bs_dp_opts, max_backends) },
		{ "--max-tables", "bs_maglev", offsetof(struct bs_dp_opts, max_tables) },
		{ "--max-splits", "bs_splits", offsetof(struct bs_dp_opts, max_splits) },
		{ "--max-members", "bs_members", offsetof(struct bs_dp_opts, max_members) },
		{ "--max-large-tables", "bs_maglev_large", offsetof(struct bs_dp_opts, max_large_tables) },
	};

	bs_info("msg=\"map sizes\" conns=%u frontends=%u backends=%u tables=%u splits=%u", max_entries(dp, "bs_conns"),
		max_entries(dp, "bs_frontends"), max_entries(dp, "bs_backends"), max_entries(dp, "bs_maglev"),
		max_entries(dp, "bs_splits"));
	for (size_t i = 0; i < sizeof(sz) / sizeof(sz[0]); i++) {
		__u32 want = *(const __u32 *)((const char *)o + sz[i].off), have = max_entries(dp, sz[i].map);

		if (want && have && want != have)
			bs_warn("msg=\"pinned map kept its size: %s takes effect after bpfsplit dataplane unload\" "
				"map=%s asked=%u has=%u",
				sz[i].flag, sz[i].map, want, have);
	}
}
