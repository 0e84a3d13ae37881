/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* Verdict reasons counted per CPU in the bs_reasons map; numbered once, never renumbered. */
#ifndef BPFSPLIT_REASONS_H
#define BPFSPLIT_REASONS_H

enum bs_reason {
	BS_R_UNSPEC = 0,
	/* Forwarded (rewritten) */
	BS_R_FWD_NEW = 1,             /* new connection chosen by weight */
	BS_R_FWD_TRACKED = 2,         /* packet of a recorded connection */
	BS_R_FWD_SYN_RETRANSMIT = 3,  /* retransmitted SYN followed its record */
	BS_R_FWD_UNTRACKED = 4,       /* non-SYN without record: routed by hash */
	BS_R_REPLY_NAT = 5,           /* reply rewritten back to the frontend */
	/* Passed untouched */
	BS_R_PASS_NOT_IP = 6,
	BS_R_PASS_NOT_FRONTEND = 7,
	BS_R_PASS_L4_UNSUPPORTED = 8, /* ICMP, SCTP, IPv6 extension headers, ... */
	BS_R_PASS_FRAGMENT = 9,
	BS_R_PASS_TRUNCATED = 10,
	BS_R_PASS_NO_SPLIT = 11,      /* frontend known but no split installed */
	BS_R_PASS_REPLY_UNKNOWN = 12, /* egress packet with no reverse record */
	/* Rejected (TCP RST) or dropped (UDP) */
	BS_R_REJECT_NO_BACKEND = 13,  /* chosen group has weight but no ready backend */
	BS_R_REJECT_ZERO_WEIGHT = 14, /* every group of the frontend weighs 0 */
	BS_R_DROP_NO_BACKEND = 15,    /* UDP flavour of 13 */
	BS_R_DROP_ZERO_WEIGHT = 16,   /* UDP flavour of 14 */
	BS_R_DROP_BACKEND_GONE = 17,  /* table slot names a backend id not in bs_backends */
	BS_R_ERR_REWRITE = 18,        /* a packet helper failed; packet dropped */
	BS_R_REJECT_SYN_DATA = 19,    /* SYN with payload cannot be answered by RST in place; dropped */
	/* Socket hooks (connect-time choice, no packet work) */
	BS_R_SOCK_CONNECT = 20,       /* connect() to a frontend sent to the chosen backend */
	BS_R_SOCK_SENDMSG = 21,       /* unconnected UDP datagram to a frontend sent to the chosen backend */
	BS_R_SOCK_REFUSED = 22,       /* connect()/sendmsg() refused (EPERM): no backend or zero weights */
	BS_R_SOCK_PEER_NAT = 23,      /* getpeername()/recvmsg() shows the frontend, not the backend */
	/* Source NAT (north-south on a cluster node) */
	BS_R_SNAT_NEW = 24,           /* new flow: source rewritten to the node address and an allocated port */
	BS_R_SNAT_REPLY = 25,         /* reply to an allocated port translated back and sent to the client */
	BS_R_DROP_SNAT_PORTS = 26,    /* no free port towards that backend (all candidates taken) */
	BS_R_DROP_NO_ROUTE = 27,      /* a translated packet had no route (FIB lookup failed) */
	BS_R_MAX
};

#endif
