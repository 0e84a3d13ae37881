/* SPDX-License-Identifier: BSD-2-Clause */
/* Internal to libbpfsplit: the handle, its map table and the in-memory registries of
 * frontends and backends that mirror the pins (rebuilt whenever another writer moved them). */
#ifndef BS_DP_INTERNAL_H
#define BS_DP_INTERNAL_H

#include <limits.h>
#include <uthash.h>
#include "bpfsplit.h"

enum bs_map_idx {
	BS_MAP_FRONTENDS,
	BS_MAP_SPLITS,
	BS_MAP_MAGLEV,
	BS_MAP_BACKENDS,
	BS_MAP_CONNS,
	BS_MAP_RNAT,
	BS_MAP_FE_STATS,
	BS_MAP_BE_STATS,
	BS_MAP_REASONS,
	BS_MAP_SETTINGS,
	BS_MAP_GROUPS,
	BS_MAP_MEMBERS,
	BS_MAP_STATE,
	BS_MAP_FE_INFO,
	BS_MAP_FE_SPLITS,
	BS_MAP_HEALTH,
	BS_MAP_COUNT
};

extern const char *const bs_map_names[BS_MAP_COUNT];

/* How long a retired split, table or backend id stays before it is freed: longer than
 * any program run that may have looked it up before the switch (ns). */
#define BS_GRACE_NS (20ULL * 1000 * 1000)
/* And an RCU grace period (membarrier) before freeing, at most this often (ns). */
#define BS_GP_EVERY_NS (100ULL * 1000 * 1000)
/* ...or as soon as this many retired entries wait. */
#define BS_GP_BATCH 256

struct bs_be_entry {
	struct bs_backend be;  /* as in bs_backends; be.family != 0 */
	__u32 id;
	__u32 refs;            /* member entries naming it, over all frontends */
	bool dying;            /* retired: freed at the next flush unless named again before */
	UT_hash_handle hh;     /* by be.addr/port/family (first 20 bytes... see be_key) */
};

struct bs_member_rec {
	__u32 backend_id;
	__u32 group;
	__u8 state;
};

struct bs_fe_entry {
	struct bs_frontend_key key;
	struct bs_frontend fe;
	__u32 split_id;        /* as in bs_fe_splits[fe.id] */
	__u32 n_groups;
	struct bs_group_info groups[BS_MAX_GROUPS];
	struct bs_member_rec *members;
	__u32 n_members;
	UT_hash_handle hh;
};

struct bs_retired {
	enum bs_map_idx map;   /* BS_MAP_SPLITS, BS_MAP_MAGLEV or BS_MAP_BACKENDS */
	__u32 id;
	__u64 at_ns;           /* CLOCK_MONOTONIC time of retirement */
	struct bs_retired *next;
};

struct bs_dp {
	char root[PATH_MAX];
	struct bpfsplit_bpf *skel; /* NULL when opened from pins only */
	int fd[BS_MAP_COUNT];
	int root_fd;               /* flock()ed around every write */
	int ncpus;
	__u32 max_frontends;
	__u32 max_backends;
	__u64 seen_gen;            /* bs_state.write_gen after our last sync or write */
	struct bs_be_entry *be_by_addr;
	struct bs_be_entry **be_by_id;  /* max_backends slots */
	__u8 *fe_id_used;               /* max_frontends flags */
	struct bs_fe_entry *fe_by_key;
	struct bs_retired *retired;
	__u64 last_gp_ns;
	__u32 n_retired;           /* entries on the retired list */          /* CLOCK_MONOTONIC of the last RCU grace period waited for */
};

/* dp_open.c */
int bs_dp_sync(struct bs_dp *dp);
void bs_dp_registry_clear(struct bs_dp *dp);
__u64 bs_now_ns(void);

/* dp_health.c */
void bs_dp_health_forget(struct bs_dp *dp, __u32 frontend_id);

/* dp_write.c */
void bs_retire(struct bs_dp *dp, enum bs_map_idx map, __u32 id);

#endif
