/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: the map definitions (BTF-style, so bpftool prints named fields).
 * Sizes here are defaults; the loader sets the real ones before load. */
#ifndef BS_MAPS_H
#define BS_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "bpfsplit/maps.h"
#include "bpfsplit/reasons.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_FRONTENDS);
	__type(key, struct bs_frontend_key);
	__type(value, struct bs_frontend);
} bs_frontends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BS_DEFAULT_MAX_FRONTENDS);
	__type(key, __u32);
	__type(value, struct bs_fe_split);
} bs_fe_splits SEC(".maps");

/* Splits and tables are written once under fresh ids and freed after the switch;
 * no prealloc so memory follows what is in use. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_SPLITS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct bs_split);
} bs_splits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_TABLES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct bs_maglev_table);
} bs_maglev SEC(".maps");

/* Tables of groups with more ready backends than a small table spreads evenly. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_LARGE_TABLES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct bs_maglev_table_large);
} bs_maglev_large SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, BS_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct bs_backend);
} bs_backends SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_CONNS);
	__type(key, struct bs_flow_key);
	__type(value, struct bs_conn);
} bs_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_CONNS);
	__type(key, struct bs_flow_key);
	__type(value, struct bs_rnat);
} bs_rnat SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BS_DEFAULT_MAX_FRONTENDS);
	__type(key, __u32);
	__type(value, struct bs_counters);
} bs_fe_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BS_DEFAULT_MAX_BACKENDS);
	__type(key, __u32);
	__type(value, struct bs_counters);
} bs_be_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 64); /* room beyond BS_R_MAX: reasons are only ever added */
	__type(key, __u32);
	__type(value, struct bs_reason_counter);
} bs_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bs_settings);
} bs_settings SEC(".maps");

/* Control-plane metadata (see include/bpfsplit/maps.h): declared here so that they are
 * created, pinned and described by BTF with the rest; the programs never touch them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_MAX_GROUPS * BS_DEFAULT_MAX_FRONTENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bs_group_key);
	__type(value, struct bs_group_info);
} bs_groups SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4 * BS_DEFAULT_MAX_BACKENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bs_member_key);
	__type(value, struct bs_member);
} bs_members SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bs_state);
} bs_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_FRONTENDS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct bs_frontend_info);
} bs_fe_info SEC(".maps");

static __always_inline void bs_count_reason(__u32 reason)
{
	struct bs_reason_counter *c = bpf_map_lookup_elem(&bs_reasons, &reason);

	if (c)
		c->packets++;
}

static __always_inline void bs_count(void *map, __u32 id, __u32 bytes, int new_conn)
{
	struct bs_counters *c = bpf_map_lookup_elem(map, &id);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	c->new_conns += new_conn;
}

#endif
