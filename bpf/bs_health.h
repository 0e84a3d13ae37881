/* SPDX-License-Identifier: GPL-2.0 */
/* BPF-only: connection health recording (bs_health) — new and refused connections,
 * SYN retransmits, handshake latency, resets, closes and payload bytes, per frontend x
 * group and per backend within a group. Called only for SYN, SYN-ACK, FIN and RST
 * packets and refusals: an established packet never reaches these helpers. Each event
 * is counted once per connection (BS_CONN_F_* flags in the record). */
#ifndef BS_HEALTH_H
#define BS_HEALTH_H

#include "bs_maps.h"
#include "bs_parse.h"

#ifdef BS_HEALTH_OFF
/* The data path without health recording: the benchmark's reference (make bench). */
#define BS_HEALTH_REPLY_FLAGS 0
#define bs_health_ingress(p, action, reason, fe_id, group, backend_id, new_conn) ((void)0)
#define bs_health_client_fin_rst(p, ct) ((void)0)
#define bs_health_reply(p, ct) ((void)0)
#else
/* Reply flags that need the forward record: the SYN-ACK, for the handshake latency. */
#define BS_HEALTH_REPLY_FLAGS BS_TCP_SYN

/* No prealloc: an entry is created by the first event of its (frontend, group, backend). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, BS_DEFAULT_MAX_HEALTH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct bs_health_key);
	__type(value, struct bs_health);
} bs_health SEC(".maps");

/* Set before load: 0 records the (frontend, group) aggregates only (bs_dp_opts). */
const volatile __u32 bs_health_per_backend = 1;

/* The value a new entry starts from (read-only data, not the stack: the value is large). */
static const struct bs_health bs_health_zero;

/* Events of one packet, as bits: several may happen at once (a RST from the backend
 * before any reply byte also closes the connection). */
enum bs_health_event {
	BS_HE_NEW = 1 << 0,
	BS_HE_UDP_FLOW = 1 << 1,
	BS_HE_REFUSED_NO_BACKEND = 1 << 2,
	BS_HE_REFUSED_ZERO_WEIGHT = 1 << 3,
	BS_HE_SYN_RETRANSMIT = 1 << 4,
	BS_HE_HS_TIMEOUT = 1 << 5,
	BS_HE_HANDSHAKE = 1 << 6,      /* value: latency in ns */
	BS_HE_BACKEND_RESET = 1 << 7,
	BS_HE_RESET_BEFORE_REPLY = 1 << 8,
	BS_HE_CLOSED = 1 << 9,
	BS_HE_BYTES_TO = 1 << 10,      /* value: payload bytes client -> backend */
	BS_HE_BYTES_FROM = 1 << 11,    /* value: payload bytes backend -> client */
	BS_HE_FAILED = 1 << 12,
};

/* ev, plus BS_HE_FAILED the first time a connection fails. */
static __always_inline __u32 bs_health_failed(struct bs_conn *ct, __u32 ev)
{
	if (ct->flags & BS_CONN_F_FAILED)
		return ev;
	ct->flags |= BS_CONN_F_FAILED;
	return ev | BS_HE_FAILED;
}

static __always_inline void bs_health_apply(struct bs_health *h, __u32 ev, __u64 value)
{
	if (ev & BS_HE_NEW)
		h->new_conns++;
	if (ev & BS_HE_UDP_FLOW)
		h->udp_flows++;
	if (ev & BS_HE_REFUSED_NO_BACKEND)
		h->refused_no_backend++;
	if (ev & BS_HE_REFUSED_ZERO_WEIGHT)
		h->refused_zero_weight++;
	if (ev & BS_HE_SYN_RETRANSMIT)
		h->syn_retransmits++;
	if (ev & BS_HE_HS_TIMEOUT)
		h->handshake_timeouts++;
	if (ev & BS_HE_BACKEND_RESET)
		h->backend_resets++;
	if (ev & BS_HE_RESET_BEFORE_REPLY)
		h->resets_before_reply++;
	if (ev & BS_HE_FAILED)
		h->failed++;
	if (ev & BS_HE_CLOSED)
		h->closed++;
	if (ev & BS_HE_BYTES_TO)
		h->bytes_to_backend += value;
	if (ev & BS_HE_BYTES_FROM)
		h->bytes_from_backend += value;
	if (ev & BS_HE_HANDSHAKE) {
		__u64 bound = BS_HS_BUCKET0_NS;
		__u32 b;

		h->handshakes++;
		h->handshake_ns_sum += value;
		for (b = 0; b < BS_HS_BUCKETS - 1; b++) {
			if (value <= bound)
				break;
			bound <<= 1;
		}
		if (b < BS_HS_BUCKETS)
			h->handshake_hist[b]++;
	}
}

/* Count events ev for the group aggregate of (fe_id, group) and for backend_id within it.
 * A subprogram: its frame does not add to its callers' (the RST builder's is large). */
static __noinline int bs_health_record(__u32 fe_id, __u32 group, __u32 backend_id, __u32 ev, __u64 value)
{
	struct bs_health_key k = { .frontend_id = fe_id, .group = (__u16)group };
	struct bs_health *h;

	for (int i = 0; i < 2; i++) {
		h = bpf_map_lookup_elem(&bs_health, &k);
		if (!h) {
			bpf_map_update_elem(&bs_health, &k, &bs_health_zero, BPF_NOEXIST);
			h = bpf_map_lookup_elem(&bs_health, &k);
		}
		if (h)
			bs_health_apply(h, ev, value);
		if (!backend_id || !bs_health_per_backend)
			break;
		k.backend_id = backend_id;
	}
	return 0;
}

/* A retransmitted SYN followed its record: counted, and counted as a failed handshake
 * once it comes BS_HS_TIMEOUT_NS or more after the first SYN with no SYN-ACK seen. The
 * record is looked up again here, out of bs_choose, whose frame is large. */
static __noinline int bs_health_syn_retransmit(const struct bs_pkt *p)
{
	struct bs_conn *ct = bpf_map_lookup_elem(&bs_conns, &p->flow);
	__u32 ev = BS_HE_SYN_RETRANSMIT;

	if (!ct)
		return 0;

	if (!(ct->flags & (BS_CONN_F_SYNACK | BS_CONN_F_HS_TIMEOUT)) &&
	    bpf_ktime_get_ns() - ct->created_ns >= BS_HS_TIMEOUT_NS) {
		ct->flags |= BS_CONN_F_HS_TIMEOUT;
		ev = bs_health_failed(ct, ev | BS_HE_HS_TIMEOUT);
	}
	bs_health_record(ct->frontend_id, ct->group, ct->backend_id, ev, 0);
	return 0;
}

/* Ingress, after the decision: new connections and refusals. An established packet
 * (forwarded, not new) returns at the first test. */
static __always_inline void bs_health_ingress(const struct bs_pkt *p, __u32 action, __u32 reason, __u32 fe_id,
					      __u32 group, __u32 backend_id, __u32 new_conn)
{
	__u32 ev;

	if (reason == BS_R_FWD_TRACKED)
		return; /* the established path: one test, nothing else */
	if (action == 1 /* BS_ACT_FORWARD */) {
		if (!new_conn) {
			if (reason == BS_R_FWD_SYN_RETRANSMIT)
				bs_health_syn_retransmit(p);
			return;
		}
		if (p->flow.proto == IPPROTO_UDP)
			ev = BS_HE_UDP_FLOW;
		else if ((p->tcp_flags & (BS_TCP_SYN | BS_TCP_ACK)) == BS_TCP_SYN)
			ev = BS_HE_NEW;
		else
			return; /* a mid-flow packet without record is not a new connection */
		bs_health_record(fe_id, group, backend_id, ev, 0);
		return;
	}
	if (reason == BS_R_REJECT_NO_BACKEND || reason == BS_R_DROP_NO_BACKEND)
		ev = BS_HE_REFUSED_NO_BACKEND;
	else if (reason == BS_R_REJECT_ZERO_WEIGHT || reason == BS_R_DROP_ZERO_WEIGHT)
		ev = BS_HE_REFUSED_ZERO_WEIGHT;
	else
		return;
	if (p->flow.proto == IPPROTO_TCP && (p->tcp_flags & (BS_TCP_SYN | BS_TCP_ACK)) != BS_TCP_SYN)
		return; /* a stray packet, not a connection attempt */
	bs_health_record(fe_id, ev == BS_HE_REFUSED_ZERO_WEIGHT ? BS_HEALTH_NO_GROUP : group, 0, ev, 0);
}

/* Ingress FIN or RST from the client of recorded connection ct (before ct is marked closing). */
static __always_inline void bs_health_client_fin_rst(const struct bs_pkt *p, struct bs_conn *ct)
{
	__u32 ev = 0;
	__u64 value = 0;

	if (!(ct->flags & BS_CONN_F_CLOSING))
		ev |= BS_HE_CLOSED;
	if ((p->tcp_flags & BS_TCP_RST) && !(ct->flags & BS_CONN_F_RESET)) {
		ct->flags |= BS_CONN_F_RESET;
		/* The client gave up before the handshake completed. */
		if (!(ct->flags & BS_CONN_F_SYNACK))
			ev = bs_health_failed(ct, ev | BS_HE_RESET_BEFORE_REPLY);
	}
	if ((p->tcp_flags & BS_TCP_FIN) && (ct->flags & BS_CONN_F_FROM_SYN) && !(ct->flags & BS_CONN_F_CLIENT_FIN)) {
		ct->flags |= BS_CONN_F_CLIENT_FIN;
		ev |= BS_HE_BYTES_TO;
		value = p->seq - ct->syn_seq - 1; /* the SYN takes one sequence number */
	}
	if (ev)
		bs_health_record(ct->frontend_id, ct->group, ct->backend_id, ev, value);
}

/* Egress SYN-ACK, FIN or RST from the backend of recorded connection ct (before ct is
 * marked closing): handshake latency, resets, bytes sent. */
static __always_inline void bs_health_reply(const struct bs_pkt *p, struct bs_conn *ct)
{
	__u32 ev = 0;
	__u64 value = 0;

	if (p->tcp_flags & BS_TCP_SYN) {
		if (!(ct->flags & BS_CONN_F_FROM_SYN) || (ct->flags & BS_CONN_F_SYNACK))
			return;
		ct->flags |= BS_CONN_F_SYNACK;
		ct->server_isn = p->seq;
		bs_health_record(ct->frontend_id, ct->group, ct->backend_id, BS_HE_HANDSHAKE,
				 bpf_ktime_get_ns() - ct->created_ns);
		return;
	}
	if (!(ct->flags & BS_CONN_F_CLOSING))
		ev |= BS_HE_CLOSED;
	if ((p->tcp_flags & BS_TCP_RST) && !(ct->flags & BS_CONN_F_RESET)) {
		ct->flags |= BS_CONN_F_RESET;
		ev = bs_health_failed(ct, ev | BS_HE_BACKEND_RESET);
		/* Refused by the backend, or reset with nothing sent after its SYN-ACK. */
		if (!(ct->flags & BS_CONN_F_SYNACK) || p->seq == ct->server_isn + 1)
			ev |= BS_HE_RESET_BEFORE_REPLY;
	}
	if ((p->tcp_flags & BS_TCP_FIN) && (ct->flags & BS_CONN_F_SYNACK) && !(ct->flags & BS_CONN_F_BACKEND_FIN)) {
		ct->flags |= BS_CONN_F_BACKEND_FIN;
		ev |= BS_HE_BYTES_FROM;
		value = p->seq - ct->server_isn - 1;
	}
	if (ev)
		bs_health_record(ct->frontend_id, ct->group, ct->backend_id, ev, value);
}

#endif /* BS_HEALTH_OFF */

#endif
