/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Tunables and limits shared by the BPF programs and userspace: sizes, units, defaults. */
#ifndef BPFSPLIT_CONSTS_H
#define BPFSPLIT_CONSTS_H

/* Groups per split: Gateway API allows up to 16 backendRefs per rule. */
#define BS_MAX_GROUPS 16

/* Maglev table size per group (prime, much larger than a group's endpoints). */
#define BS_MAGLEV_SIZE 1021
/* A group with more ready backends than a tenth of BS_MAGLEV_SIZE gets a large table
 * instead (bs_maglev_large, 16x the slots), so that small frontends do not pay for it. */
#define BS_MAGLEV_SMALL_MAX_READY (BS_MAGLEV_SIZE / 10)
#define BS_MAGLEV_LARGE_SIZE 16381
/* Table ids with this bit name a table in bs_maglev_large. */
#define BS_TABLE_LARGE 0x80000000u

/* Ready backends one group may hold: each backend keeps 16 or 17 slots of a large table
 * (removing one of N moves about 1/N of the group's flows). */
#define BS_MAX_READY_PER_GROUP (BS_MAGLEV_LARGE_SIZE / 16)

/* Largest weight Gateway API accepts for one backendRef. */
#define BS_MAX_WEIGHT 1000000

/* Default map sizes (entries); all can be changed at load time. */
#define BS_DEFAULT_MAX_FRONTENDS 65536
#define BS_DEFAULT_MAX_BACKENDS 65536   /* also the size of the backend id space */
#define BS_DEFAULT_MAX_CONNS 1048576    /* connection table and reverse-NAT table */
/* Split and Maglev table entries: two per live split while an update is in flight. */
#define BS_DEFAULT_MAX_SPLITS (2 * BS_DEFAULT_MAX_FRONTENDS)
/* Two groups per frontend, twice over while an update is in flight; tables are not
 * preallocated, so this is a cap, not memory spent. */
#define BS_DEFAULT_MAX_TABLES (4 * BS_DEFAULT_MAX_FRONTENDS)
/* Large tables (groups of more than BS_MAGLEV_SMALL_MAX_READY ready backends, 64 KiB each,
 * not preallocated): a cap. */
#define BS_DEFAULT_MAX_LARGE_TABLES 4096

/* How long a record outlives the FIN that closed its connection (ns). */
#define BS_DEFAULT_LINGER_NS (2ULL * 1000 * 1000 * 1000)
/* A UDP record idle this long is chosen afresh by the next packet (ns). */
#define BS_DEFAULT_UDP_IDLE_NS (30ULL * 1000 * 1000 * 1000)

/* A SYN retransmitted this long after the first with no SYN-ACK counts as a failed
 * handshake (ns); Linux clients retransmit at 1 s, 3 s, 7 s... */
#define BS_HS_TIMEOUT_NS (1ULL * 1000 * 1000 * 1000)
/* Entries of bs_health (no prealloc: memory follows what has been seen). */
#define BS_DEFAULT_MAX_HEALTH (4 * BS_DEFAULT_MAX_BACKENDS)

/* Backend id 0 and split/table id 0 are never used: 0 means "none". */
#define BS_ID_NONE 0

/* Address families as stored in maps (values of AF_INET / AF_INET6). */
#define BS_AF_INET 2
#define BS_AF_INET6 10

/* Affinity modes of a split. */
#define BS_AFFINITY_CONNECTION 0 /* hash of the 5-tuple */
#define BS_AFFINITY_CLIENT 1     /* hash of the client address only */

/* Default pin root; every process can be told another. */
#define BS_DEFAULT_PIN_ROOT "/sys/fs/bpf/bpfsplit"

#endif
