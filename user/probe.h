/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Health probes of the agent (docs/operations.md, "Probes"). One target is
 * one check against one endpoint (or one fixed address of a unit); each
 * probe is sent at a tick of the agent, and its result (answered, timed out,
 * refused) is handed back in the order the probes were sent, so rise/fall
 * counting sees the same sequence the network did.
 *
 * tunnel: an Ethernet frame built exactly like the dataplane's output (the
 *         endpoint's MACs and interface, outer IPv4/IPv6 header from the
 *         generation's encap source, IPIP / IPv6 next header 4 or 41) with
 *         an inner UDP datagram to a service VIP:port, sent on an AF_PACKET
 *         socket. The unit's decap and service answer it like client
 *         traffic; the answer comes back to a UDP socket of the agent.
 * udp:    a datagram to address:port; the answer must echo the token.
 * tcp:    a connect() to address:port, reset as soon as it completes.
 * icmp:   an ICMP / ICMPv6 echo request.
 */
#ifndef CG_PROBE_H
#define CG_PROBE_H

#include <stdbool.h>
#include <linux/types.h>

#include "log.h" /* cg_mono_ns, cg_real_ns */

#include "cellgate.h"

/* One file descriptor in the agent's epoll set. */
struct cg_ev {
	int fd;
	void (*fn)(struct cg_ev *ev, __u32 events);
};

enum cg_check_type {
	CG_CHECK_TUNNEL = 0,
	CG_CHECK_UDP,
	CG_CHECK_TCP,
	CG_CHECK_ICMP,
};

#define CG_PAYLOAD_MAX 64 /* text sent before the token in udp/tunnel probes */

struct cg_check {
	int type; /* enum cg_check_type */
	int family; /* CG_AF_*: of addr (udp/tcp/icmp) or of the VIP (tunnel) */
	bool has_addr; /* udp/tcp/icmp: this address, once per unit; else each endpoint's */
	__be32 addr[4]; /* tunnel: the VIP */
	__u16 port; /* host order; icmp: unused */
	bool match_any; /* udp/tunnel: any answer counts, the token need not come back */
	char payload[CG_PAYLOAD_MAX];
};

/* Probes in flight per target; the agent keeps timeout < window * interval. */
#define CG_PROBE_WINDOW 16

enum cg_slot_state {
	CG_SLOT_FREE = 0,
	CG_SLOT_PENDING,
	CG_SLOT_OK,
	CG_SLOT_FAIL,
};

struct cg_probe_target;

struct cg_probe_slot {
	__u32 seq;
	__u8 state; /* enum cg_slot_state */
	__u64 sent_mono, sent_real; /* ns: CLOCK_MONOTONIC, CLOCK_REALTIME */
	__u64 done_mono;
	const char *why; /* failures: static text */
	struct cg_ev ev; /* tcp: the connecting socket */
	struct cg_probe_target *t;
};

struct cg_probe_target {
	struct cg_check check;
	__u32 uid; /* unique for the agent's life: in tokens and ICMP ids */
	/* where: filled by the agent from the live generation */
	int dst_family; /* CG_AF_*: tunnel: the endpoint; else the probed address */
	__be32 dst[4];
	__u32 ifindex; /* tunnel: egress interface, MACs, outer source */
	__u8 dmac[6], smac[6];
	__be32 outer_src[4];
	int src_family; /* tunnel: inner source, a local address the unit routes back */
	__be32 src[4];
	/* state of the prober */
	struct cg_prober *p;
	struct cg_ev ev; /* tunnel/udp: the socket answers arrive on */
	__u16 sport;
	__u32 next_seq; /* next probe to send */
	__u32 head; /* oldest probe whose result is not delivered yet */
	struct cg_probe_slot slots[CG_PROBE_WINDOW];
	char error[96]; /* why the target cannot probe at all ("" = fine) */
};

/* Called once per probe, in send order: ok, or failed with why. */
typedef void (*cg_probe_result_fn)(void *ctx, struct cg_probe_target *t, bool ok, __u64 sent_real,
				   __u64 sent_mono, __u64 rtt_ns, const char *why);

struct cg_prober {
	int epfd;
	__u64 timeout_ns;
	cg_probe_result_fn result;
	void *ctx;
	int pkt_fd; /* AF_PACKET, send only */
	struct cg_ev icmp4, icmp6; /* raw ICMP sockets, shared by all icmp targets */
	struct cg_probe_target **targets; /* the agent's, for ICMP id lookup */
	int *n_targets;
};

int cg_prober_init(struct cg_prober *p, int epfd, __u64 timeout_ns, cg_probe_result_fn fn,
		   void *ctx, struct cg_probe_target **targets, int *n_targets);
void cg_prober_close(struct cg_prober *p);

/* Open what a target needs (its answer socket). Fills t->error on failure,
 * in which case every probe of the target fails with that reason. */
int cg_probe_open(struct cg_prober *p, struct cg_probe_target *t);
/* Close the target's sockets; its probes in flight are dropped unreported. */
void cg_probe_close(struct cg_prober *p, struct cg_probe_target *t);

/* Send the next probe of t. */
void cg_probe_send(struct cg_prober *p, struct cg_probe_target *t, __u64 now_mono);
/* Fail the probes of t older than the timeout; deliver what is resolved. */
void cg_probe_expire(struct cg_prober *p, struct cg_probe_target *t, __u64 now_mono);
/* Earliest deadline of t's probes in flight (CLOCK_MONOTONIC ns), 0 if none. */
__u64 cg_probe_deadline(const struct cg_prober *p, const struct cg_probe_target *t);

/* "tunnel", "udp", "tcp", "icmp" */
const char *cg_check_type_name(int type);

/* CLOCK_MONOTONIC / CLOCK_REALTIME in ns */

#endif /* CG_PROBE_H */
