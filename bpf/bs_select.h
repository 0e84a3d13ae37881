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
	__be16 nat_port; /* BS_NAT_SNAT: source port to write (with the node's address) */
	__u32 frontend_id;
	__u32 backend_id;
	__u32 new_conn; /* 1 when this packet created the record */
	__u32 nat_mode; /* BS_NAT_* of the flow */
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
	d->nat_mode = ct->nat_mode;
	d->nat_port = ct->nat_port;
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

/* Outcome of the two-stage selection (bs_pick_backend). */
enum bs_pick_result {
	BS_PICK_OK = 0,
	BS_PICK_NO_SPLIT = 1,     /* the split id names no split */
	BS_PICK_ZERO_WEIGHT = 2,  /* every group weighs 0 */
	BS_PICK_NO_BACKEND = 3,   /* the chosen group has weight but no ready backend */
	BS_PICK_BACKEND_GONE = 4, /* the table names a backend id no longer in bs_backends */
};

/* The two-stage selection, shared by the packet path and the socket hooks: hash the flow
 * key, pick the group by threshold, then the backend from that group's Maglev table.
 * *group is set unless the split is missing; *bid and *be on BS_PICK_OK. */
static __always_inline int bs_pick_backend(const struct bs_flow_key *flow, __u32 split_id,
					   const struct bs_settings *s, __u32 *group_out, __u32 *bid_out,
					   struct bs_backend **be_out)
{
	struct bs_maglev_table *tbl;
	struct bs_backend *be;
	struct bs_split *split;
	__u32 h, group, table_id, slot, bid;

	split = bpf_map_lookup_elem(&bs_splits, &split_id);
	if (!split)
		return BS_PICK_NO_SPLIT;
	h = bs_flow_hash(flow, split->affinity, s->hash_key);
	group = bs_pick_group(split, h);
	*group_out = group;
	if (group >= BS_MAX_GROUPS || group >= split->n_groups)
		return BS_PICK_ZERO_WEIGHT;
	table_id = split->tables[group];
	if (table_id & BS_TABLE_LARGE) {
		/* A group of many backends: the large table, same hash, more slots. */
		struct bs_maglev_table_large *big = bpf_map_lookup_elem(&bs_maglev_large, &table_id);

		if (!big)
			return BS_PICK_NO_BACKEND;
		slot = bs_maglev_slot_large(h, s->hash_key);
		asm volatile("" : "+r"(slot));
		if (slot >= BS_MAGLEV_LARGE_SIZE)
			return BS_PICK_NO_BACKEND;
		bid = big->backend_ids[slot];
	} else {
		tbl = table_id ? bpf_map_lookup_elem(&bs_maglev, &table_id) : NULL;
		if (!tbl)
			return BS_PICK_NO_BACKEND;
		slot = bs_maglev_slot(h, s->hash_key);
		/* The compiler knows slot < BS_MAGLEV_SIZE; the verifier must be shown. */
		asm volatile("" : "+r"(slot));
		if (slot >= BS_MAGLEV_SIZE)
			return BS_PICK_NO_BACKEND;
		bid = tbl->backend_ids[slot];
	}
	be = bpf_map_lookup_elem(&bs_backends, &bid);
	if (!be || !be->family)
		return BS_PICK_BACKEND_GONE;
	*bid_out = bid;
	*be_out = be;
	return BS_PICK_OK;
}

/* A frontend's id and the split in force for it; 0, or -1 when the key is no frontend
 * (or its split slot is missing). */
static __always_inline int bs_frontend_split(const struct bs_frontend_key *fk, __u32 *fe_id, __u32 *split_id)
{
	struct bs_frontend *fe = bpf_map_lookup_elem(&bs_frontends, fk);
	struct bs_fe_split *slot;
	__u32 id;

	if (!fe)
		return -1;
	id = fe->id;
	/* The split comes from the frontend's array slot: one aligned 4-byte read of what
	 * userspace switched with one aligned 4-byte write. */
	slot = bpf_map_lookup_elem(&bs_fe_splits, &id);
	if (!slot)
		return -1;
	*fe_id = id;
	*split_id = *(volatile __u32 *)&slot->split_id;
	return 0;
}

/* How many ports a new SNAT flow tries before it is dropped (bounded for the verifier). */
#define BS_SNAT_TRIES 16

/* The reverse key of a SNAT flow: the reply's 5-tuple, backend -> node:port. */
static __always_inline void bs_snat_key(struct bs_flow_key *rk, const struct bs_flow_key *flow, const __be32 *be_addr,
					__be16 be_port, const __be32 *node_addr, __be16 port)
{
	__builtin_memcpy(rk->saddr, be_addr, 16);
	__builtin_memcpy(rk->daddr, node_addr, 16);
	rk->sport = be_port;
	rk->dport = port;
	rk->family = flow->family;
	rk->proto = flow->proto;
}

/* The node's address for a family as four words; 0 when the node has none. */
static __always_inline int bs_node_addr(const struct bs_node_cfg *n, __u8 family, __be32 *out)
{
	if (family == BS_AF_INET) {
		out[0] = n->addr4;
		out[1] = out[2] = out[3] = 0;
		return n->addr4 != 0;
	}
	__builtin_memcpy(out, n->addr6, 16);
	return (n->addr6[0] | n->addr6[1] | n->addr6[2] | n->addr6[3]) != 0;
}

/* Whether the port held by reverse entry *key (value old) can be taken over: its flow's
 * record is gone, names another port, closed longer than the linger and the node's SNAT
 * hold (the backend's TIME_WAIT: a new flow's SYN on the same ports would meet the old
 * connection there), or (UDP) idle past the UDP idle time. A taken-over flow's record is deleted with it, so that nothing names
 * the port twice. A subprogram (it runs only when a candidate port is taken) that builds
 * the forward key in *key, which the caller rebuilds: its stack adds to bs_choose's. */
static __noinline int bs_snat_reclaim(struct bs_flow_key *key, const struct bs_snat *old, const struct bs_settings *s,
				    const struct bs_node_cfg *n)
{
	__be16 port = key->dport;
	struct bs_conn *ct;
	__u64 now, hold;

	if (!old || !s || !n)
		return 0;
	__builtin_memcpy(key->saddr, old->client_addr, 16);
	__builtin_memcpy(key->daddr, old->frontend_addr, 16);
	key->sport = old->client_port;
	key->dport = old->frontend_port;
	ct = bpf_map_lookup_elem(&bs_conns, key);
	if (ct && ct->nat_mode == BS_NAT_SNAT && ct->nat_port == port) {
		now = bpf_ktime_get_ns();
		hold = (__u64)n->snat_hold_s * 1000000000ULL;
		if (hold < s->linger_ns)
			hold = s->linger_ns;
		if (key->proto == IPPROTO_UDP ? now - ct->last_ns <= s->udp_idle_ns
					      : !(ct->flags & BS_CONN_F_CLOSING) || now - ct->last_ns <= hold)
			return 0; /* the port's flow is alive, or closed too recently */
		bpf_map_delete_elem(&bs_conns, key);
	}
	return 1;
}

/* Allocate a source port for a new SNAT flow towards be: the first of BS_SNAT_TRIES
 * pseudo-random candidates whose reverse entry can be inserted (BPF_NOEXIST: an entry
 * holds its port) or whose holder has retired (bs_snat_reclaim), so that ports come back
 * without waiting for userspace's sweep. Returns 0 with *port set (network order), or -1. */
static __always_inline int bs_snat_alloc(const struct bs_pkt *p, const struct bs_backend *be, const struct bs_node_cfg *n,
					 const __be32 *node_addr, __u32 fe_id, const struct bs_settings *s, __be16 *port)
{
	struct bs_flow_key rk = {};
	struct bs_snat v = {};
	__u32 range = (__u32)n->port_hi - n->port_lo + 1, start = bpf_get_prandom_u32();

	if (!n->port_lo || n->port_hi < n->port_lo)
		return -1;
	__builtin_memcpy(v.client_addr, p->flow.saddr, 16);
	__builtin_memcpy(v.frontend_addr, p->flow.daddr, 16);
	v.client_port = p->flow.sport;
	v.frontend_port = p->flow.dport;
	v.family = p->flow.family;
	v.nat_mode = BS_NAT_SNAT;
	v.frontend_id = fe_id;
	for (__u32 i = 0; i < BS_SNAT_TRIES; i++) {
		__be16 cand = bpf_htons((__u16)(n->port_lo + (start + i * 7919) % range));

		bs_snat_key(&rk, &p->flow, be->addr, be->port, node_addr, cand);
		if (!bpf_map_update_elem(&bs_snat_rev, &rk, &v, BPF_NOEXIST)) {
			*port = cand;
			return 0;
		}
		if (bs_snat_reclaim(&rk, bpf_map_lookup_elem(&bs_snat_rev, &rk), s, n)) {
			bs_snat_key(&rk, &p->flow, be->addr, be->port, node_addr, cand);
			if (!bpf_map_update_elem(&bs_snat_rev, &rk, &v, BPF_ANY)) {
				*port = cand;
				return 0;
			}
		}
	}
	return -1;
}

/* Free the port a record holds (its reverse entry), when the record is replaced. */
static __always_inline void bs_snat_release(const struct bs_flow_key *flow, const struct bs_conn *ct)
{
	struct bs_node_cfg *n;
	struct bs_flow_key rk = {};
	__be32 node_addr[4];
	__u32 zero = 0;

	if (ct->nat_mode != BS_NAT_SNAT)
		return;
	n = bpf_map_lookup_elem(&bs_node, &zero);
	if (!n || !bs_node_addr(n, flow->family, node_addr))
		return;
	bs_snat_key(&rk, flow, ct->backend_addr, ct->backend_port, node_addr, ct->nat_port);
	bpf_map_delete_elem(&bs_snat_rev, &rk);
}

/* Choose for a new flow of frontend fe and record the choice; returns d->action. A subprogram: it runs
 * only for new flows, and its stack frame must not add to the RST builder's. */
static __noinline int bs_choose(struct bs_pkt *p, __u32 fe_id, __u32 split_id, const struct bs_settings *s,
				struct bs_decision *d)
{
	struct bs_backend *be = NULL;
	struct bs_conn ct = {};
	__u32 group = 0, bid = 0, zero = 0;
	__u64 now = bpf_ktime_get_ns();
	int r;

	d->frontend_id = fe_id;
	r = bs_pick_backend(&p->flow, split_id, s, &group, &bid, &be);
	if (r == BS_PICK_NO_SPLIT) {
		d->action = BS_ACT_PASS;
		d->reason = BS_R_PASS_NO_SPLIT;
		return d->action;
	}
	d->group = r == BS_PICK_ZERO_WEIGHT ? BS_HEALTH_NO_GROUP : group;
	if (r == BS_PICK_ZERO_WEIGHT || r == BS_PICK_NO_BACKEND) {
		if (!bs_follow_retransmit(p, d)) {
			if (r == BS_PICK_ZERO_WEIGHT)
				bs_refuse(d, p, BS_R_REJECT_ZERO_WEIGHT, BS_R_DROP_ZERO_WEIGHT);
			else
				bs_refuse(d, p, BS_R_REJECT_NO_BACKEND, BS_R_DROP_NO_BACKEND);
		}
		return d->action;
	}
	if (r != BS_PICK_OK || !be) {
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
	/* SNAT (north-south on a cluster node): a source port of this node's, so that the
	 * reply comes back here from a backend on any node. A stray RST gets no port. */
	{
		struct bs_node_cfg *n = bpf_map_lookup_elem(&bs_node, &zero);
		__be32 node_addr[4];

		if (n && n->nat_mode == BS_NAT_SNAT && bs_node_addr(n, p->flow.family, node_addr) &&
		    !(p->flow.proto == IPPROTO_TCP && (p->tcp_flags & BS_TCP_RST))) {
			if (bs_snat_alloc(p, be, n, node_addr, fe_id, s, &ct.nat_port)) {
				d->action = BS_ACT_DROP;
				d->reason = BS_R_DROP_SNAT_PORTS;
				return d->action;
			}
			ct.nat_mode = BS_NAT_SNAT;
		}
	}

	d->backend_id = bid;
	d->new_conn = 1;
	d->reason = bs_is_syn(p) || p->flow.proto == IPPROTO_UDP ? BS_R_FWD_NEW : BS_R_FWD_UNTRACKED;
	bs_follow(d, &ct, d->reason);

	/* A stray RST needs no record; everything else is recorded both ways. */
	if (p->flow.proto == IPPROTO_TCP && (p->tcp_flags & BS_TCP_RST))
		return d->action;
	if (bpf_map_update_elem(&bs_conns, &p->flow, &ct, BPF_NOEXIST)) {
		/* A record exists: a retransmitted SYN follows it; anything else (a reused
		 * 5-tuple, an idle UDP flow) replaces it. A port allocated for nothing, or
		 * held by the replaced record, is freed. */
		struct bs_conn *old;

		if (bs_follow_retransmit(p, d)) {
			bs_snat_release(&p->flow, &ct);
			return d->action;
		}
		old = bpf_map_lookup_elem(&bs_conns, &p->flow);
		if (old)
			bs_snat_release(&p->flow, old);
		bpf_map_update_elem(&bs_conns, &p->flow, &ct, BPF_ANY);
	}
	if (ct.nat_mode == BS_NAT_SNAT)
		return d->action; /* replies are found through bs_snat_rev, not bs_rnat */

	/* Scoped so that the compiler may reuse the SNAT block's stack for them. */
	{
		struct bs_rnat rn = {};
		struct bs_flow_key rkey = {};

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
	}
	return d->action;
}

/* Decide what to do with a parsed packet arriving on an ingress entry point. */
static __always_inline void bs_decide_ingress(struct bs_pkt *p, struct bs_decision *d)
{
	struct bs_frontend_key fk = {};
	__u32 fe_id = 0, split_id = 0;
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
	if (bs_frontend_split(&fk, &fe_id, &split_id)) {
		d->reason = BS_R_PASS_NOT_FRONTEND;
		return;
	}
	s = bpf_map_lookup_elem(&bs_settings, &zero);
	if (!s)
		return;

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

/* tc ingress on a SNAT node: a reply to one of the node's allocated ports (backend ->
 * node:port). Returns its reverse entry, or NULL for every other packet. A FIN/RST marks
 * the forward record closing. */
static __always_inline struct bs_snat *bs_lookup_snat_reply(const struct bs_pkt *p)
{
	struct bs_node_cfg *n;
	struct bs_snat *v;
	struct bs_flow_key fwd = {};
	struct bs_conn *ct;
	__be32 node_addr[4];
	__u32 zero = 0;
	__u16 port;

	n = bpf_map_lookup_elem(&bs_node, &zero);
	if (!n || n->nat_mode != BS_NAT_SNAT)
		return NULL;
	port = bpf_ntohs(p->flow.dport);
	if (port < n->port_lo || port > n->port_hi || !bs_node_addr(n, p->flow.family, node_addr))
		return NULL;
	if (node_addr[0] != p->flow.daddr[0] || node_addr[1] != p->flow.daddr[1] || node_addr[2] != p->flow.daddr[2] ||
	    node_addr[3] != p->flow.daddr[3])
		return NULL;
	v = bpf_map_lookup_elem(&bs_snat_rev, &p->flow);
	if (!v || p->flow.proto != IPPROTO_TCP || !(p->tcp_flags & (BS_TCP_FIN | BS_TCP_RST | BS_HEALTH_REPLY_FLAGS)))
		return v;
	__builtin_memcpy(fwd.saddr, v->client_addr, 16);
	__builtin_memcpy(fwd.daddr, v->frontend_addr, 16);
	fwd.sport = v->client_port;
	fwd.dport = v->frontend_port;
	fwd.family = p->flow.family;
	fwd.proto = p->flow.proto;
	ct = bpf_map_lookup_elem(&bs_conns, &fwd);
	if (!ct)
		return v;
	bs_health_reply(p, ct);
	if ((p->tcp_flags & (BS_TCP_FIN | BS_TCP_RST)) && !(ct->flags & BS_CONN_F_CLOSING)) {
		ct->flags |= BS_CONN_F_CLOSING;
		ct->last_ns = bpf_ktime_get_ns();
	}
	return v;
}

/* Whether this node source-NATs packet-path frontends (the XDP entry point leaves those
 * to tc, which can forward them itself). */
static __always_inline int bs_node_snat(void)
{
	__u32 zero = 0;
	struct bs_node_cfg *n = bpf_map_lookup_elem(&bs_node, &zero);

	return n && n->nat_mode == BS_NAT_SNAT;
}

#endif
