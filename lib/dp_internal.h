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
	BS_MAP_MAGLEV_LARGE,
	BS_MAP_HEALTH,
	BS_MAP_COUNT
};

/* Which map holds a table id, and how many slots its tables have. */
static inline enum bs_map_idx bs_table_map(__u32 table_id)
{
	return table_id & BS_TABLE_LARGE ? BS_MAP_MAGLEV_LARGE : BS_MAP_MAGLEV;
}

static inline __u32 bs_table_slots(__u32 table_id)
{
	return table_id & BS_TABLE_LARGE ? BS_MAGLEV_LARGE_SIZE : BS_MAGLEV_SIZE;
}

/* The public list (bpfsplit.h), indexed by enum bs_map_idx. */
#define bs_map_names bs_dp_map_list

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
	__u8 affinity;         /* of that split */
	__u32 n_groups;        /* of that split: the split, not bs_groups, says what is live */
	struct bs_group_info groups[BS_MAX_GROUPS]; /* table_id from the split, name/weight from bs_groups */
	__u64 table_sum[BS_MAX_GROUPS]; /* checksum of each table as written or last verified; 0: unknown */
	struct bs_member_rec *members;
	__u32 n_members;
	UT_hash_handle hh;
};

struct bs_retired {
	enum bs_map_idx map;   /* BS_MAP_SPLITS, BS_MAP_MAGLEV(_LARGE) or BS_MAP_BACKENDS */
	__u32 id;
	__u64 at_ns;           /* CLOCK_MONOTONIC time of retirement */
	struct bs_retired *next;
};

struct bs_dp {
	char root[PATH_MAX];
	struct bpfsplit_bpf *skel; /* NULL when opened from pins only */
	bool ro;                   /* read-only: no registry, no lock, never writes or frees */
	int fd[BS_MAP_COUNT];
	int root_fd;               /* flock()ed around every write */
	int claim_fd;              /* the agent's claim on the pin root, -1 when none */
	int ncpus;
	__u32 max_frontends;
	__u32 max_backends;
	__u64 seen_gen;            /* bs_state.write_gen after our last sync or write */
	struct bs_be_entry *be_by_addr;
	struct bs_be_entry **be_by_id;  /* max_backends slots */
	__u8 *fe_id_used;               /* max_frontends flags */
	struct bs_fe_entry **fe_by_id;  /* max_frontends slots */
	struct bs_fe_entry *fe_by_key;
	__u32 fe_id_hint, be_id_hint;   /* where the search for a free id starts */
	struct bs_retired *retired;
	__u64 last_gp_ns;          /* CLOCK_MONOTONIC of the last RCU grace period waited for */
	__u32 n_retired;           /* entries on the retired list */
	bool locked;               /* this handle holds the writers' lock */
	bool mutating;             /* ... and marked write_gen odd */
	struct bs_ro_cache *ro_cache; /* read-only handles: bs_members read once per write_gen */
};

/* FNV-1a of a table's slots: lets a verify skip rebuilding a table it already checked. */
static inline __u64 bs_slots_sum(const __u32 *slots, __u32 n)
{
	__u64 h = 0xcbf29ce484222325ULL;

	for (__u32 i = 0; i < n; i++)
		h = (h ^ slots[i]) * 0x100000001b3ULL;
	return h | 1; /* never 0 ("unknown") */
}

/* dp_open.c */
/* Rebuild the registries from the pins (writers, under the lock): O(frontends + members).
 * Orphan tables (left by a writer that died mid-write: write_gen odd) are looked for only
 * then, or with bs_retire_orphan_tables (the agent's verify): walking bs_maglev's keys
 * is the slowest part of a sync. */
int bs_dp_sync(struct bs_dp *dp);
int bs_retire_orphan_tables(struct bs_dp *dp);
void bs_dp_registry_clear(struct bs_dp *dp);
__u64 bs_now_ns(void);

/* dp_health.c */
void bs_dp_health_forget(struct bs_dp *dp, __u32 frontend_id);

/* dp_write.c */
/* Order of member records: by backend id, then group (fe->members is kept sorted). */
int bs_member_cmp(const void *a, const void *b);
/* Write a frontend again from the registry, tables, split and backend slots afresh. */
int bs_repair_locked(struct bs_dp *dp, const struct bs_frontend_key *key, char *errbuf, size_t errlen);
void bs_retire(struct bs_dp *dp, enum bs_map_idx map, __u32 id);
/* The writers' lock, then catch up with other writers (sync when write_gen moved). With
 * mutate, write_gen is made odd until bs_write_unlock makes it even again (and moves). */
int bs_write_lock(struct bs_dp *dp, bool mutate);
void bs_write_unlock(struct bs_dp *dp);
/* Free what is due; the caller holds the lock and is caught up. */
int bs_flush_locked(struct bs_dp *dp, bool wait);

/* dp_batch.c: every key and value of a map, in batches (one syscall per many entries)
 * with a fallback to one lookup per key. *keys and *vals are heap arrays (free()). */
int bs_map_read_all(int fd, size_t key_size, size_t val_size, void **keys, void **vals, size_t *n);

/* dp_readback.c: read-only handles read the maps themselves. */
int bs_ro_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out);
void bs_ro_cache_free(struct bs_dp *dp);

/* dp_registry.c */
/* The registry's own view of a frontend as a spec (what the writer believes). */
int bs_registry_spec(struct bs_dp *dp, const struct bs_fe_entry *fe, struct bs_frontend_spec *out);

#endif
