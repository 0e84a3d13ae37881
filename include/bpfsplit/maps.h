/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Map keys and values shared by the BPF programs, the library, the agent, the CLI and the tests.
 * One definition each; fixed-width fields; explicit padding; sizes asserted.
 * Addresses are stored as four big-endian words: IPv4 uses word 0, words 1..3 are zero. */
#ifndef BPFSPLIT_MAPS_H
#define BPFSPLIT_MAPS_H

#include <linux/types.h>
#include "consts.h"

#ifndef BS_STATIC_ASSERT
#define BS_STATIC_ASSERT(cond, msg) _Static_assert(cond, msg)
#endif

/* bs_frontends key: what clients connect to. */
struct bs_frontend_key {
	__be32 addr[4];  /* network byte order */
	__be16 port;     /* network byte order */
	__u8 family;     /* BS_AF_INET or BS_AF_INET6 */
	__u8 proto;      /* IPPROTO_TCP or IPPROTO_UDP */
};
BS_STATIC_ASSERT(sizeof(struct bs_frontend_key) == 20, "bs_frontend_key size");

/* bs_frontends value: the frontend's id, fixed for the frontend's life. Never updated in
 * place: a hash-map update recycles elements that a running program may still read. */
struct bs_frontend {
	__u32 id;        /* index into bs_fe_splits, bs_fe_stats, bs_fe_info: 1..max_frontends-1 */
	__u32 reserved;  /* 0 */
};
BS_STATIC_ASSERT(sizeof(struct bs_frontend) == 8, "bs_frontend size");

/* bs_fe_splits value (array indexed by frontend id): which split serves the frontend.
 * The switch of an update is the one aligned 4-byte store into this slot. */
struct bs_fe_split {
	__u32 split_id;  /* key in bs_splits; BS_ID_NONE: no split (new flows pass) */
};
BS_STATIC_ASSERT(sizeof(struct bs_fe_split) == 4, "bs_fe_split size");

/* bs_splits value: the weighted groups of one frontend. Immutable once written. */
struct bs_split {
	__u32 n_groups;                  /* 0..BS_MAX_GROUPS */
	__u8 affinity;                   /* BS_AFFINITY_* */
	__u8 pad[3];
	/* Cumulative thresholds on a 32-bit hash: group i takes h < thresholds[i]
	 * (and >= thresholds[i-1]); values 0..2^32. Equal neighbours = weight 0. */
	__u64 thresholds[BS_MAX_GROUPS];
	/* Maglev table id per group (key in bs_maglev, or in bs_maglev_large when
	 * BS_TABLE_LARGE is set); BS_ID_NONE: no ready backend. */
	__u32 tables[BS_MAX_GROUPS];
};
BS_STATIC_ASSERT(sizeof(struct bs_split) == 8 + 8 * BS_MAX_GROUPS + 4 * BS_MAX_GROUPS, "bs_split size");

/* bs_maglev value: one group's lookup table of ready backend ids. Immutable once written. */
struct bs_maglev_table {
	__u32 backend_ids[BS_MAGLEV_SIZE]; /* keys in bs_backends */
};
BS_STATIC_ASSERT(sizeof(struct bs_maglev_table) == 4 * BS_MAGLEV_SIZE, "bs_maglev_table size");

/* bs_maglev_large value (key: a table id with BS_TABLE_LARGE set): the table of a group of
 * more than BS_MAGLEV_SMALL_MAX_READY ready backends. Immutable once written. */
struct bs_maglev_table_large {
	__u32 backend_ids[BS_MAGLEV_LARGE_SIZE]; /* keys in bs_backends */
};
BS_STATIC_ASSERT(sizeof(struct bs_maglev_table_large) == 4 * BS_MAGLEV_LARGE_SIZE, "bs_maglev_table_large size");

/* bs_backends value (array indexed by backend id). Written before any table names it. */
struct bs_backend {
	__be32 addr[4];  /* network byte order */
	__be16 port;     /* network byte order */
	__u8 family;     /* BS_AF_*; 0 = slot unused */
	__u8 state;      /* BS_BACKEND_* (informational: tables hold only ready ones) */
};
BS_STATIC_ASSERT(sizeof(struct bs_backend) == 20, "bs_backend size");

enum bs_backend_state {
	BS_BACKEND_UNUSED = 0,
	BS_BACKEND_READY = 1,
	BS_BACKEND_DRAINING = 2,
};

/* Key of bs_conns (client -> frontend direction) and bs_rnat (backend -> client direction). */
struct bs_flow_key {
	__be32 saddr[4]; /* network byte order */
	__be32 daddr[4]; /* network byte order */
	__be16 sport;    /* network byte order */
	__be16 dport;    /* network byte order */
	__u8 family;     /* BS_AF_* */
	__u8 proto;      /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 pad[2];
};
BS_STATIC_ASSERT(sizeof(struct bs_flow_key) == 40, "bs_flow_key size");

/* bs_conns value: everything needed to keep forwarding, even after the backend left its tables. */
struct bs_conn {
	__be32 backend_addr[4]; /* network byte order */
	__be16 backend_port;    /* network byte order */
	__u8 family;            /* BS_AF_* */
	__u8 flags;             /* BS_CONN_F_* */
	__u32 backend_id;       /* for counters; the slot may have been reused since */
	__u32 frontend_id;      /* for counters */
	__u32 syn_seq;          /* host byte order: sequence number of the SYN that chose */
	__u16 group;            /* group index chosen in the split */
	__u8 pad[6];
	__u64 created_ns;       /* bpf_ktime_get_ns() at choice */
	__u64 last_ns;          /* UDP: last packet; TCP: time the FIN/RST was seen, 0 if open */
	__u32 server_isn;       /* host byte order: the backend's SYN-ACK sequence number (BS_CONN_F_SYNACK) */
	__u32 reserved;         /* 0 */
};
BS_STATIC_ASSERT(sizeof(struct bs_conn) == 64, "bs_conn size");

enum bs_conn_flags {
	BS_CONN_F_CLOSING = 1,  /* FIN or RST seen: retire after linger */
	BS_CONN_F_FROM_SYN = 2, /* chosen on a SYN (syn_seq is meaningful) */
	/* Health recording (bs_health): each event is counted once per connection. */
	BS_CONN_F_SYNACK = 4,       /* the backend's SYN-ACK was seen (server_isn is meaningful) */
	BS_CONN_F_CLIENT_FIN = 8,   /* the client's FIN was counted */
	BS_CONN_F_BACKEND_FIN = 16, /* the backend's FIN was counted */
	BS_CONN_F_RESET = 32,       /* a RST (either side) was counted */
	BS_CONN_F_HS_TIMEOUT = 64,  /* the handshake was counted as timed out */
	BS_CONN_F_FAILED = 128,     /* the connection was counted as failed */
};

/* bs_rnat value: how to rewrite a reply back to the frontend. */
struct bs_rnat {
	__be32 frontend_addr[4]; /* network byte order */
	__be16 frontend_port;    /* network byte order */
	__u8 family;             /* BS_AF_* */
	__u8 pad;
	__u32 frontend_id;       /* for counters */
};
BS_STATIC_ASSERT(sizeof(struct bs_rnat) == 24, "bs_rnat size");

/* Per-CPU counters of one frontend (bs_fe_stats) or one backend (bs_be_stats). */
struct bs_counters {
	__u64 packets;   /* packets forwarded (client -> backend) */
	__u64 bytes;     /* bytes of those packets, L3 and up */
	__u64 new_conns; /* connections chosen */
	__u64 rejected;  /* new connections refused (RST or drop); frontends only */
};
BS_STATIC_ASSERT(sizeof(struct bs_counters) == 32, "bs_counters size");

/* Per-CPU counter of one bs_reason (bs_reasons). */
struct bs_reason_counter {
	__u64 packets;
};

/* bs_settings: one entry (key 0), set by userspace, identical on every node. */
struct bs_settings {
	__u32 hash_key[4];   /* key of the flow hash */
	__u64 linger_ns;     /* see BS_DEFAULT_LINGER_NS */
	__u64 udp_idle_ns;   /* see BS_DEFAULT_UDP_IDLE_NS */
};
BS_STATIC_ASSERT(sizeof(struct bs_settings) == 32, "bs_settings size");

/* ---- Control-plane metadata: written and read by userspace only, never by the programs.
 * It lets any process (agent, CLI) rebuild a frontend's full spec from the pins. ---- */

/* Longest group name kept (a backendRef's Service, "namespace/name", truncated). */
#define BS_GROUP_NAME_LEN 56

/* bs_groups key and value: one group of one frontend. */
struct bs_group_key {
	__u32 frontend_id;
	__u32 group;       /* index in the split, 0..n_groups-1 */
};
BS_STATIC_ASSERT(sizeof(struct bs_group_key) == 8, "bs_group_key size");

struct bs_group_info {
	__u32 weight;                 /* configured weight, 0..BS_MAX_WEIGHT */
	__u32 table_id;               /* key in bs_maglev, BS_ID_NONE when no ready backend */
	char name[BS_GROUP_NAME_LEN]; /* NUL-terminated */
};
BS_STATIC_ASSERT(sizeof(struct bs_group_info) == 64, "bs_group_info size");

/* bs_members key and value: a backend listed in a group of a frontend, ready or draining. */
struct bs_member_key {
	__u32 frontend_id;
	__u32 backend_id;
	__u32 group;
};
BS_STATIC_ASSERT(sizeof(struct bs_member_key) == 12, "bs_member_key size");

struct bs_member {
	__u8 state;   /* BS_BACKEND_READY or BS_BACKEND_DRAINING */
	__u8 pad[3];
};
BS_STATIC_ASSERT(sizeof(struct bs_member) == 4, "bs_member size");

/* Longest "namespace/name" kept in bs_fe_info (truncated beyond). */
#define BS_INFO_NAME_LEN 128

/* bs_fe_info value (key: frontend id): where a frontend comes from, written by the agent
 * for `bpfsplit status`; absent for frontends written by hand. */
struct bs_frontend_info {
	char route[BS_INFO_NAME_LEN];   /* HTTPRoute "namespace/name", NUL-terminated; "" none */
	char rollout[BS_INFO_NAME_LEN]; /* Rollout "namespace/name" driving it; "" none */
	char phase[32];                 /* Rollout status.phase ("Paused", "Healthy"...) */
	__s32 step;                     /* Rollout status.currentStepIndex; -1 unknown */
	__s32 n_steps;                  /* steps in the Rollout's canary strategy; 0 unknown */
	__u32 rollout_canary_weight;    /* Rollout status.canary.weights.canary.weight (percent) */
	__u8 paused;                    /* 1 when the Rollout is paused */
	__u8 aborted;                   /* 1 when the Rollout is aborted */
	__u8 pad[2];
	__u64 updated_unix_ns;          /* CLOCK_REALTIME of the agent's last write */
};
BS_STATIC_ASSERT(sizeof(struct bs_frontend_info) == 2 * BS_INFO_NAME_LEN + 32 + 16 + 8, "bs_frontend_info size");

/* bs_state: one entry (key 0) shared by every writer process. */
struct bs_state {
	__u64 write_gen;     /* bumped by every write; a writer that sees it move re-reads the pins */
	__u32 next_split_id; /* next id to try in bs_splits */
	__u32 next_table_id; /* next id to try in bs_maglev */
};
BS_STATIC_ASSERT(sizeof(struct bs_state) == 16, "bs_state size");

/* ---- Connection health (bs_health): per-CPU counters written by the programs only on
 * SYN, SYN-ACK, FIN and RST packets, never on an established packet. ---- */

/* Handshake latency histogram: bucket i counts handshakes that took at most
 * BS_HS_BUCKET0_NS << i (the last bucket: anything longer). */
#define BS_HS_BUCKETS 16
#define BS_HS_BUCKET0_NS 16384ULL /* ~16 us; bucket 14 ends at ~268 ms */

/* Group index of events that belong to no group (a frontend whose weights are all 0). */
#define BS_HEALTH_NO_GROUP 0xffff

/* bs_health key: one (frontend, group) aggregate (backend_id BS_ID_NONE) or one backend
 * within a frontend's group, so that a backend listed by two groups is counted apart. */
struct bs_health_key {
	__u32 frontend_id; /* as in bs_frontends */
	__u16 group;       /* index in the frontend's split, or BS_HEALTH_NO_GROUP */
	__u16 pad;         /* 0 */
	__u32 backend_id;  /* BS_ID_NONE for the group aggregate */
};
BS_STATIC_ASSERT(sizeof(struct bs_health_key) == 12, "bs_health_key size");

/* bs_health value (per CPU; sum in userspace). Counts connections, not packets. */
struct bs_health {
	__u64 new_conns;           /* TCP connections chosen on a SYN */
	__u64 udp_flows;           /* UDP flows chosen */
	__u64 refused_no_backend;  /* SYNs (UDP: first datagrams) refused: the chosen group has no ready backend */
	__u64 refused_zero_weight; /* SYNs refused: every weight is 0 (group BS_HEALTH_NO_GROUP) */
	__u64 syn_retransmits;     /* retransmitted SYNs that followed their record */
	__u64 handshakes;          /* SYN-ACKs seen from the backend (first one per connection) */
	__u64 handshake_timeouts;  /* connections whose SYN was retransmitted BS_HS_TIMEOUT_NS or
				    * more after the first with no SYN-ACK seen */
	__u64 backend_resets;      /* connections reset by the backend (RST on the reply path) */
	__u64 resets_before_reply; /* connections reset (either side) before any reply byte */
	__u64 failed;              /* connections that failed as the client sees it, counted once:
				    * reset by the backend, handshake timed out, or given up by the
				    * client before the SYN-ACK */
	__u64 closed;              /* TCP connections seen closing (first FIN or RST): open = new_conns - closed */
	__u64 bytes_to_backend;    /* payload bytes of connections whose client sent FIN */
	__u64 bytes_from_backend;  /* payload bytes of connections whose backend sent FIN */
	__u64 handshake_ns_sum;    /* sum of handshake latencies (SYN chosen -> SYN-ACK), ns */
	__u64 handshake_hist[BS_HS_BUCKETS]; /* see BS_HS_BUCKET0_NS */
};
BS_STATIC_ASSERT(sizeof(struct bs_health) == 8 * (14 + BS_HS_BUCKETS), "bs_health size");

#endif
