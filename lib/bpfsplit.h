/* SPDX-License-Identifier: BSD-2-Clause */
/* libbpfsplit: the userspace side of the data path, linked by the agent, the CLI and
 * the tests. It loads the programs, pins and reuses the maps, attaches entry points
 * with bpf_links, writes frontends atomically and reads counters back.
 * Every function returns 0 or -errno; messages for people go through lib/log.h. */
#ifndef BPFSPLIT_H
#define BPFSPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <limits.h>
#include <linux/types.h>
#include "bpfsplit/consts.h"
#include "bpfsplit/maps.h"
#include "bpfsplit/reasons.h"

struct bs_dp;

struct bs_dp_opts {
	const char *pin_root; /* NULL: BS_DEFAULT_PIN_ROOT */
	/* The agent: claim the pin root for this handle's life (one agent per pin root);
	 * bs_dp_open fails with -EBUSY, saying which process holds it, when another does. */
	bool claim_agent;
	/* Map sizes used when the maps are created; 0 = default. Ignored when pinned maps
	 * exist: those are reused with their own sizes. */
	__u32 max_frontends;
	__u32 max_backends;
	__u32 max_conns;
	__u32 max_splits;
	__u32 max_tables;
	__u32 max_large_tables; /* groups of more than BS_MAGLEV_SMALL_MAX_READY ready backends */
	/* bs_members: one entry per backend listed in a group of a frontend (a Service behind
	 * several listeners or ports counts once per frontend). 0: 4 x the larger of
	 * max_frontends and max_backends (not preallocated: a cap, not memory). */
	__u32 max_members;
	/* Programs loaded by this handle record connection health per (frontend, group) only,
	 * not per backend within it: fewer bs_health entries (each costs 232 bytes per CPU). */
	bool no_backend_health;
};

/* Load the programs and create (or reuse) the pinned maps. */
int bs_dp_open(const struct bs_dp_opts *opts, struct bs_dp **dp);
/* Open the pinned maps only (no program load) as a writer: takes the writers' lock to
 * rebuild the registries from the pins (O(frontends + members)); writes, verify. */
int bs_dp_open_pinned(const char *pin_root, struct bs_dp **dp);
/* Open the pinned maps read-only: no registry, no lock, never writes, retires or frees.
 * Reads (bs_dp_read, counters, records) come from the maps themselves. What `stats`,
 * `status`, `flow`, `watch`, `frontend show`, `dataplane show` and the agent's metrics
 * use. Write calls on it return -EROFS. */
int bs_dp_open_pinned_ro(const char *pin_root, struct bs_dp **dp);
bool bs_dp_is_ro(const struct bs_dp *dp);
void bs_dp_close(struct bs_dp *dp);
/* The agent's claim on a pin root (bs_dp_opts.claim_agent does it): an exclusive lock held
 * through *fd until it is closed; -EBUSY with *holder = that process (0 if unknown). */
int bs_dp_claim_agent(const char *pin_root, int *fd, int *holder);
/* Remove the claim's directory (unload, before bs_dp_unpin_all). */
int bs_dp_unclaim(const char *pin_root);
/* 1 when an agent holds pin_root (*holder: its pid, 0 if unknown), else 0. */
int bs_dp_agent_serving(const char *pin_root, int *holder);
const char *bs_dp_pin_root(const struct bs_dp *dp);
/* Detach every pinned link and remove every pin under pin_root (the data path stops). */
int bs_dp_unpin_all(const char *pin_root);

/* ---- Attaching ---- */
enum bs_entry {
	BS_ENTRY_XDP = 0,        /* XDP ingress: packets from a wire (full checksums) */
	BS_ENTRY_TC_INGRESS = 1, /* tc ingress: packets from local sockets / pods over veth */
	BS_ENTRY_TC_EGRESS = 2,  /* tc egress: reverse NAT of replies */
};
enum bs_xdp_mode { BS_XDP_AUTO = 0, BS_XDP_NATIVE = 1, BS_XDP_GENERIC = 2 };

const char *bs_entry_name(enum bs_entry entry);
/* The ingress entry point for an interface: tc for virtual drivers (veth, bridge, tun...)
 * fed by local sockets or pods, XDP for the rest (a wire). why says which and why. */
int bs_entry_auto(const char *ifname, enum bs_entry *entry, char *why, size_t why_len);
int bs_entry_parse(const char *s, enum bs_entry *entry);

/* Attach an entry point (needs a handle from bs_dp_open) and pin its link, so that it
 * stays when this process exits. how receives e.g. "xdp native" or "tcx ingress". */
int bs_dp_attach(struct bs_dp *dp, const char *ifname, enum bs_entry entry, enum bs_xdp_mode mode, char *how,
		 size_t how_len);
/* Detach and unpin; -ENOENT when nothing of ours is attached there. */
int bs_dp_detach(const char *pin_root, const char *ifname, enum bs_entry entry);

struct bs_link_info {
	char ifname[32];
	enum bs_entry entry;
	char mode[16];           /* "native", "generic", "tcx", "tc-classic"; "xdp" when in another namespace */
	bool classic;            /* a classic clsact/cls_bpf filter (its program is pinned, no link) */
	__u32 prog_id;
	unsigned long netns_ino; /* network namespace of the interface (inode of its ns file) */
	char pin[PATH_MAX];      /* the link's pin */
};
/* Whether a pinned attachment is still in force: 1 yes, 0 lost (detached by someone, pin
 * removed, interface gone), -EXDEV for a classic filter in another network namespace. */
int bs_dp_link_alive(const struct bs_link_info *li);
/* Whether tc entry points attach with tcx links (kernel >= 6.6, probed) or the classic
 * clsact + direct-action cls_bpf filter; BPFSPLIT_TC_ATTACH=classic|tcx forces one. */
bool bs_tc_uses_tcx(void);
/* Call fn for each pinned link; stops at the first non-zero return and returns it. */
int bs_dp_for_each_link(const char *pin_root, int (*fn)(const struct bs_link_info *, void *), void *ctx);

/* ---- Settings ---- */
int bs_dp_get_settings(struct bs_dp *dp, struct bs_settings *out);
int bs_dp_set_settings(struct bs_dp *dp, const struct bs_settings *in);

/* ---- Frontends ---- */
struct bs_backend_spec {
	__be32 addr[4]; /* network order; IPv4 in addr[0] */
	__be16 port;    /* network order */
	__u8 family;    /* BS_AF_* */
	__u8 state;     /* BS_BACKEND_READY or BS_BACKEND_DRAINING */
	__u32 id;       /* read back only: the node-local backend id (apply ignores it) */
};

struct bs_group_spec {
	char name[BS_GROUP_NAME_LEN];
	__u32 weight; /* 0..BS_MAX_WEIGHT */
	__u32 n_backends;
	struct bs_backend_spec *backends; /* owned by the caller (or by bs_frontend_spec_free) */
	__u32 table_id;                   /* read back only: the group's Maglev table, BS_ID_NONE if none */
};

struct bs_frontend_spec {
	struct bs_frontend_key key;
	__u8 affinity; /* BS_AFFINITY_* */
	__u32 id;       /* read back only: the frontend id (apply ignores it) */
	__u32 split_id; /* read back only: the split in force */
	__u32 n_groups;
	struct bs_group_spec groups[BS_MAX_GROUPS];
};

/* The one check of a spec against what the data path can hold (pure; no handle): -EINVAL
 * or -E2BIG (too many ready backends in a group) with err naming the frontend, group and
 * cause. bs_dp_apply calls it; so do the agent, the CLI and the in-memory writer. */
int bs_spec_validate(const struct bs_frontend_spec *spec, char *err, size_t err_len);

/* Make the data path serve spec: new tables aside, one write to switch, old freed after a
 * grace period. A no-op when nothing changed. On error nothing changes, and err says
 * what was wrong with spec, naming the frontend. */
int bs_dp_apply(struct bs_dp *dp, const struct bs_frontend_spec *spec, char *err, size_t err_len);
/* Stop serving a frontend (existing connections keep their records). -ENOENT if unknown. */
int bs_dp_remove(struct bs_dp *dp, const struct bs_frontend_key *key);
/* A frontend's spec (backends arrays allocated: free with bs_frontend_spec_free); -ENOENT
 * if unknown. A writer handle answers what it believes it wrote (caught up with other
 * writers); a read-only handle reads the maps (split, bs_groups, bs_members, bs_backends). */
int bs_dp_read(struct bs_dp *dp, const struct bs_frontend_key *key, struct bs_frontend_spec *out);
void bs_frontend_spec_free(struct bs_frontend_spec *spec);
/* A frontend's id (bs_frontends); -ENOENT if unknown. */
int bs_dp_frontend_id(struct bs_dp *dp, const struct bs_frontend_key *key, __u32 *id);
/* A group's stored name and weight (bs_groups); -ENOENT if none. */
int bs_dp_group_info(struct bs_dp *dp, __u32 frontend_id, __u32 group, struct bs_group_info *out);
/* The split a frontend is switched to (bs_fe_splits), BS_ID_NONE when none. */
int bs_dp_frontend_split(struct bs_dp *dp, __u32 frontend_id, __u32 *split_id);
/* Call fn for each frontend key and value. */
int bs_dp_for_each_frontend(struct bs_dp *dp,
			    int (*fn)(const struct bs_frontend_key *, const struct bs_frontend *, void *), void *ctx);
/* Free what was retired by earlier writes once its grace period is over (20 ms, then an
 * RCU grace period, which blocks for milliseconds); with wait, first sleep out the 20 ms.
 * Writes free only when many entries wait, so a process that keeps a handle (the agent)
 * calls this from its loop; bs_dp_close() does it too. Returns how many were freed. */
int bs_dp_flush_retired(struct bs_dp *dp, bool wait);
/* The same with the RCU grace period waited elsewhere, so that the writer's thread never
 * blocks on it: bs_dp_retired_due() says entries wait; another thread notes the monotonic
 * time (CLOCK_MONOTONIC) and then calls bs_dp_grace_period(), which
 * blocks; once it has returned, bs_dp_flush_retired_after(dp, that time) frees what was
 * retired before it. Returns how many were freed. */
bool bs_dp_retired_due(struct bs_dp *dp);
void bs_dp_grace_period(void);
int bs_dp_flush_retired_after(struct bs_dp *dp, __u64 gp_start_ns);

/* ---- Read-back verification ----
 * Reads the maps the programs use (frontend -> bs_fe_splits -> split -> tables -> backend
 * slots) and compares them with what the writer believes (its registry, rebuilt from the
 * metadata maps when the handle was opened). One call of fn per difference. With repair
 * (writer handles), each frontend found different is written again from the registry:
 * fresh tables and split, every backend slot rewritten, then the switch. Returns the
 * number of differences found (>= 0) or -errno. */
struct bs_verify_diff {
	struct bs_frontend_key key; /* the frontend concerned (zero for a map-wide finding) */
	__u32 frontend_id;
	const char *what;           /* "frontend", "split", "thresholds", "table", "backend", "members", "groups" */
	char detail[200];           /* expected vs found, naming ids */
	bool repaired;
};
typedef void (*bs_verify_fn)(const struct bs_verify_diff *d, void *ctx);
int bs_dp_verify(struct bs_dp *dp, bool repair, bs_verify_fn fn, void *ctx);

/* The maps the library pins, by name, in one list (for sizes and dumps). */
extern const char *const bs_dp_map_list[];
extern const unsigned int bs_dp_map_count;
/* max_entries of a pinned map by name. */
int bs_dp_map_max_entries(struct bs_dp *dp, const char *name, __u32 *max);

/* Where a frontend comes from (route, rollout, step), for `bpfsplit status`: set by the
 * agent; -ENOENT for an unknown frontend (set) or when none was stored (get). */
int bs_dp_set_info(struct bs_dp *dp, const struct bs_frontend_key *key, const struct bs_frontend_info *info);
int bs_dp_get_info(struct bs_dp *dp, __u32 frontend_id, struct bs_frontend_info *out);

/* ---- Counters and records ---- */
int bs_dp_frontend_counters(struct bs_dp *dp, __u32 frontend_id, struct bs_counters *out);
int bs_dp_backend_counters(struct bs_dp *dp, __u32 backend_id, struct bs_counters *out);
int bs_dp_reason_counters(struct bs_dp *dp, __u64 out[BS_R_MAX]);
int bs_dp_backend(struct bs_dp *dp, __u32 backend_id, struct bs_backend *out);
/* Connection health (bs_health), per-CPU values summed: fn sees every (frontend, group)
 * aggregate (key->backend_id == BS_ID_NONE) and every backend within a group. */
int bs_dp_for_each_health(struct bs_dp *dp,
			  int (*fn)(const struct bs_health_key *, const struct bs_health *, void *), void *ctx);
int bs_dp_health(struct bs_dp *dp, const struct bs_health_key *key, struct bs_health *out);
/* Call fn for each connection record. */
int bs_dp_for_each_conn(struct bs_dp *dp, int (*fn)(const struct bs_flow_key *, const struct bs_conn *, void *),
			void *ctx);
/* Delete records closed (FIN/RST) longer than linger ago, and their reverse entries.
 * Returns how many were deleted. */
int bs_dp_gc_conns(struct bs_dp *dp);

/* ---- Names and addresses ---- */
const char *bs_reason_name(__u32 reason);
/* "10.96.0.10:80/tcp", "[fd00::a]:80/udp" <-> key. */
int bs_frontend_key_parse(const char *s, struct bs_frontend_key *key);
void bs_frontend_key_format(const struct bs_frontend_key *key, char *buf, size_t len);
/* "10.0.0.1:8080", "[fd00::1]:8080" <-> address, port (network order), family. */
int bs_endpoint_parse(const char *s, __be32 addr[4], __be16 *port, __u8 *family);
void bs_endpoint_format(const __be32 addr[4], __be16 port, __u8 family, char *buf, size_t len);

/* Why the kernel refused a BPF operation with err (-EPERM, -EACCES): missing capabilities,
 * a seccomp filter or lockdown, each probed. */
void bs_diag_load_refused(int err, char *buf, size_t len);

/* Program fd of an entry point (handles from bs_dp_open only), for BPF_PROG_TEST_RUN. */
int bs_dp_prog_fd(struct bs_dp *dp, enum bs_entry entry);

/* Map fd by name ("bs_conns"...), for tests and tools; -ENOENT if unknown. */
int bs_dp_map_fd(struct bs_dp *dp, const char *name);

#endif
