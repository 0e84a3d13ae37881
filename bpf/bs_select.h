/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: choosing a backend for a packet arriving at a frontend — follow the
 * connection record, or hash, pick the group by threshold, pick the backend from the
 * group's Maglev table, and record the choice. Shared by the XDP and tc entry points. */
#ifndef BS_SELECT_H
#define BS_SELECT_H

#include "bs_maps.h"
#include "bs_parse.h"
#include "bs_health.h"
#include "bpfsplit/flow_hash.h"

enum bs_action {
	BS_ACT_PASS = 0,    /* hand on untouched */
	BS_ACT_FORWARD = 1, /* rewrite destination to d->addr/d->port */
	BS_ACT_REJECT = 2,  /* answer a SYN with RST */
	BS_ACT_DROP = 3,
};

struct bs_decision {
	__u32 action;   /* enum bs_action */
	__u32 reason;   /* enum bs_reason */
	__be32 addr[4]; /* backend address (FORWARD) */
	__be16 port;    /* backend port (FORWARD) */
	__u16 pad;
	__u32 frontend_id;
	__u32 backend_id;
	__u32 new_conn; /* 1 when this packet created the record */
	__u32 group;    /* group index chosen (health counters); BS_HEALTH_NO_GROUP when none */
};

static __always_inline int bs_is_syn(const struct bs_pkt *p)
{
	return p->flow.proto == IPPROTO_TCP && (p->tcp_flags & (BS_TCP_SYN | BS_TCP_ACK)) == BS_TCP_SYN;
}

static __always_inline void bs_follow(struct bs_decision *d, const struct bs_conn *ct, __u32 reason)
{
	d->action = BS_ACT_FORWARD;
	d->reason = reason;
	__builtin_memcpy(d->addr, ct->backend_addr, 16);
	d->port = ct->backend_port;
	d->frontend_id = ct->frontend_id;
	d->backend_id = ct->backend_id;
}

/* A reject or drop, in its TCP (RST) or UDP (drop) form. */
static __always_inline void bs_refuse(struct bs_decision *d, const struct bs_pkt *p, __u32 tcp_reason,
				      __u32 udp_reason)
{
	if (p->flow.proto == IPPROTO_TCP && bs_is_syn(p)) {
		d->action = BS_ACT_REJECT;
		d->reason = tcp_reason;
	} else {
		d->action = BS_ACT_DROP;
		d->reason = p->flow.proto == IPPROTO_TCP ? tcp_reason : udp_reason;
	}
}

/* A retransmitted SYN of the recorded connection keeps the backend its first copy chose.
 * Returns 1 when d now follows that record. Asked only once a new SYN meets a record (or
 * would be refused), so that a new flow pays for one insert, not a lookup and an insert. */
static __always_inline int bs_follow_retransmit(const struct bs_pkt *p, struct bs_decision *d)
{
	struct bs_conn *old;

	if (!bs_is_syn(p))
		return 0;
	old = bpf_map_lookup_elem(&bs_conns, &p->flow);
	if (!old || !(old->flags & BS_CONN_F_FROM_SYN) || (old->flags & BS_CONN_F_CLOSING) || old->syn_seq != p->seq)
		return 0;
	d->new_conn = 0;
	bs_follow(d, old, BS_R_FWD_SYN_RETRANSMIT);
	return 1;
}

/* Index of the group whose threshold range holds h; n_groups when none does (all weights 0). */
static __always_inline __u32 bs_pick_group(const struct bs_split *split, __u32 h)
{
	__u32 n = split->n_groups;

	for (__u32 i = 0; i < BS_MAX_GROUPS; i++) {
		if (i >= n)
			break;
		if ((__u64)h < split->thresholds[i])
			return i;
	}
	return n;
}

/* Choose for a new flow of frontend fe and record the choice; returns d->action. A subprogram: it runs
 * only for new flows, and its stack frame must not add to the RST builder's. */
static __noinline int bs_choose(struct bs_pkt *p, __u32 fe_id, __u32 split_id, const struct bs_settings *s,
				struct bs_decision *d)
{
	struct bs_maglev_table *tbl;
	struct bs_backend *be;
	struct bs_split *split;
	struct bs_conn ct = {};
	struct bs_rnat rn = {};
	struct bs_flow_key rkey = {};
	__u32 h, group, table_id, slot, bid;
	__u64 now = bpf_ktime_get_ns();

	d->frontend_id = fe_id;
	split = bpf_map_lookup_elem(&bs_splits, &split_id);
	if (!split) {
		d->action = BS_ACT_PASS;
		d->reason = BS_R_PASS_NO_SPLIT;
		return d->action;
	}
	h = bs_flow_hash(&p->flow, split->affinity, s->hash_key);
	group = bs_pick_group(split, h);
	d->group = group;
	if (group >= BS_MAX_GROUPS || group >= split->n_groups) {
		d->group = BS_HEALTH_NO_GROUP;
		if (!bs_follow_retransmit(p, d))
			bs_refuse(d, p, BS_R_REJECT_ZERO_WEIGHT, BS_R_DROP_ZERO_WEIGHT);
		return d->action;
	}
	table_id = split->tables[group];
	if (table_id & BS_TABLE_LARGE) {
		/* A group of many backends: the large table, same hash, more slots. */
		struct bs_maglev_table_large *big = bpf_map_lookup_elem(&bs_maglev_large, &table_id);

		if (!big) {
			if (!bs_follow_retransmit(p, d))
				bs_refuse(d, p, BS_R_REJECT_NO_BACKEND, BS_R_DROP_NO_BACKEND);
			return d->action;
		}
		slot = bs_maglev_slot_large(h, s->hash_key);
		asm volatile("" : "+r"(slot));
		if (slot >= BS_MAGLEV_LARGE_SIZE)
			return d->action;
		bid = big->backend_ids[slot];
		goto chosen;
	}
	tbl = table_id ? bpf_map_lookup_elem(&bs_maglev, &table_id) : NULL;
	if (!tbl) {
		if (!bs_follow_retransmit(p, d))
			bs_refuse(d, p, BS_R_REJECT_NO_BACKEND, BS_R_DROP_NO_BACKEND);
		return d->action;
	}
	slot = bs_maglev_slot(h, s->hash_key);
	/* The compiler knows slot < BS_MAGLEV_SIZE; the verifier must be shown. */
	asm volatile("" : "+r"(slot));
	if (slot >= BS_MAGLEV_SIZE)
		return d->action;
	bid = tbl->backend_ids[slot];
chosen:
	be = bpf_map_lookup_elem(&bs_backends, &bid);
	if (!be || !be->family) {
		d->action = BS_ACT_DROP;
		d->reason = BS_R_DROP_BACKEND_GONE;
		return d->action;
	}

	__builtin_memcpy(ct.backend_addr, be->addr, 16);
	ct.backend_port = be->port;
	ct.family = be->family;
	ct.backend_id = bid;
	ct.frontend_id = fe_id;
	ct.group = group;
	ct.created_ns = now;
	if (bs_is_syn(p)) {
		ct.flags = BS_CONN_F_FROM_SYN;
		ct.syn_seq = p->seq;
	}
	if (p->flow.proto == IPPROTO_UDP)
		ct.last_ns = now;

	d->backend_id = bid;
	d->new_conn = 1;
	d->reason = bs_is_syn(p) || p->flow.proto == IPPROTO_UDP ? BS_R_FWD_NEW : BS_R_FWD_UNTRACKED;
	bs_follow(d, &ct, d->reason);

	/* A stray RST needs no record; everything else is recorded both ways. */
	if (p->flow.proto == IPPROTO_TCP && (p->tcp_flags & BS_TCP_RST))
		return d->action;
	if (bpf_map_update_elem(&bs_conns, &p->flow, &ct, BPF_NOEXIST)) {
		/* A record exists: a retransmitted SYN follows it; anything else (a reused
		 * 5-tuple, an idle UDP flow) replaces it. */
		if (bs_follow_retransmit(p, d))
			return d->action;
		bpf_map_update_elem(&bs_conns, &p->flow, &ct, BPF_ANY);
	}

	__builtin_memcpy(rkey.saddr, be->addr, 16);
	__builtin_memcpy(rkey.daddr, p->flow.saddr, 16);
	rkey.sport = be->port;
	rkey.dport = p->flow.sport;
	rkey.family = p->flow.family;
	rkey.proto = p->flow.proto;
	__builtin_memcpy(rn.frontend_addr, p->flow.daddr, 16);
	rn.frontend_port = p->flow.dport;
	rn.family = p->flow.family;
	rn.frontend_id = fe_id;
	bpf_map_update_elem(&bs_rnat, &rkey, &rn, BPF_ANY);
	return d->action;
}

/* Decide what to do with a parsed packet arriving on an ingress entry point. */
static __always_inline void bs_decide_ingress(struct bs_pkt *p, struct bs_decision *d)
{
	struct bs_frontend_key fk = {};
	struct bs_frontend *fe;
	struct bs_fe_split *slot;
	__u32 fe_id, split_id;
	struct bs_settings *s;
	struct bs_conn *ct;
	__u32 zero = 0;
	__u64 now;
	int syn = bs_is_syn(p);

	/* Settings are read only where needed (UDP records, new flows): an established
	 * TCP packet does not pay for the lookup. */
	if (!syn) {
		/* Established flows skip the frontend lookup: the record says it all. */
		ct = bpf_map_lookup_elem(&bs_conns, &p->flow);
		if (ct) {
			if (p->flow.proto == IPPROTO_UDP) {
				s = bpf_map_lookup_elem(&bs_settings, &zero);
				if (!s)
					return;
				now = bpf_ktime_get_ns();
				if (now - ct->last_ns <= s->udp_idle_ns) {
					/* Refresh at most once a second: a write per packet costs. */
					if (now - ct->last_ns > 1000000000ULL)
						ct->last_ns = now;
					bs_follow(d, ct, BS_R_FWD_TRACKED);
					return;
				}
			} else {
				if (p->tcp_flags & (BS_TCP_FIN | BS_TCP_RST)) {
					bs_health_client_fin_rst(p, ct);
					if (!(ct->flags & BS_CONN_F_CLOSING)) {
						ct->flags |= BS_CONN_F_CLOSING;
						ct->last_ns = bpf_ktime_get_ns();
					}
				}
				bs_follow(d, ct, BS_R_FWD_TRACKED);
				return;
			}
		}
	}

	__builtin_memcpy(fk.addr, p->flow.daddr, 16);
	fk.port = p->flow.dport;
	fk.family = p->flow.family;
	fk.proto = p->flow.proto;
	fe = bpf_map_lookup_elem(&bs_frontends, &fk);
	if (!fe) {
		d->reason = BS_R_PASS_NOT_FRONTEND;
		return;
	}
	s = bpf_map_lookup_elem(&bs_settings, &zero);
	if (!s)
		return;
	fe_id = fe->id;
	/* The split comes from the frontend's array slot: one aligned 4-byte read of what
	 * userspace switched with one aligned 4-byte write. */
	slot = bpf_map_lookup_elem(&bs_fe_splits, &fe_id);
	if (!slot) {
		d->reason = BS_R_PASS_NO_SPLIT;
		return;
	}
	split_id = *(volatile __u32 *)&slot->split_id;

	d->action = bs_choose(p, fe_id, split_id, s, d);
}

/* Egress: find the reverse translation of a reply (backend -> client). Returns the
 * record or NULL. A FIN/RST from the backend marks the forward record closing; a SYN-ACK,
 * FIN or RST is recorded for health (established replies skip the forward lookup). */
static __always_inline struct bs_rnat *bs_lookup_reply(const struct bs_pkt *p)
{
	struct bs_rnat *rn = bpf_map_lookup_elem(&bs_rnat, &p->flow);
	struct bs_flow_key fwd = {};
	struct bs_conn *ct;

	if (!rn || p->flow.proto != IPPROTO_TCP || !(p->tcp_flags & (BS_TCP_FIN | BS_TCP_RST | BS_HEALTH_REPLY_FLAGS)))
		return rn;
	__builtin_memcpy(fwd.saddr, p->flow.daddr, 16);
	__builtin_memcpy(fwd.daddr, rn->frontend_addr, 16);
	fwd.sport = p->flow.dport;
	fwd.dport = rn->frontend_port;
	fwd.family = p->flow.family;
	fwd.proto = p->flow.proto;
	ct = bpf_map_lookup_elem(&bs_conns, &fwd);
	if (!ct)
		return rn;
	bs_health_reply(p, ct);
	if ((p->tcp_flags & (BS_TCP_FIN | BS_TCP_RST)) && !(ct->flags & BS_CONN_F_CLOSING)) {
		ct->flags |= BS_CONN_F_CLOSING;
		ct->last_ns = bpf_ktime_get_ns();
	}
	return rn;
}

#endif
