/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cellgate explain: what the live generation does with one packet, and
 * why. The answer is computed from the pinned maps (never from a config
 * file) by the same steps, in the same order, as bpf/steer.h
 * (cg_find_service, cg_choose, cg_transition, cg_fenced), with the hashes
 * of headers/cg_hash.h; selftests/test_explain.c holds it to the
 * dataplane's verdict packet by packet.
 */
#ifndef CG_EXPLAIN_H
#define CG_EXPLAIN_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>
#include <linux/types.h>

#include "cellgate.h"

struct cg_dp;
struct cg_tables;

/* A packet, as the parser would leave it (bpf/parse.h struct cg_pkt). */
struct cg_explain_query {
	int family; /* CG_AF_INET / CG_AF_INET6 */
	__be32 saddr[4]; /* client (IPv4 in word 0) */
	__be32 daddr[4]; /* VIP */
	__be16 sport; /* network order; fragments: ignored (they carry no ports) */
	__be16 dport;
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	bool syn; /* TCP SYN without ACK */
	bool has_key; /* the payload carries a routing key ... */
	__u64 key; /* ... of this value */
	bool icmp_error; /* an ICMP error quoting a packet of this flow */
	bool fragment; /* an IP fragment, first or not */
	__u32 ip_len; /* IP packet length for the MTU check; 0 = not checked */
	__u32 ingress_ifindex; /* 0 = the interface the instance is loaded on */
	__u64 now_ns; /* CLOCK_MONOTONIC for fences and holds; 0 = now */
};

enum cg_explain_verdict {
	CG_XV_PASS = 0, /* XDP_PASS: not for us, or not steerable */
	CG_XV_DROP, /* XDP_DROP */
	CG_XV_FORWARD, /* encapsulated: XDP_TX or XDP_REDIRECT */
	CG_XV_REJECT, /* fenced, answered with TCP RST / ICMP unreachable (XDP_TX) */
};

/* What the bucket key is, or what replaced it. */
enum cg_explain_key {
	CG_XK_NONE = 0, /* global/shared service: no key */
	CG_XK_FLOW, /* flow hash */
	CG_XK_L3, /* fragment: address-only hash as key and flow hash */
	CG_XK_CLIENT, /* client address hash */
	CG_XK_PAYLOAD, /* the payload integer, not hashed */
	CG_XK_MISSING_FLOW, /* payload key missing: flow hash */
	CG_XK_MISSING_REJECT, /* payload key missing: dropped */
	CG_XK_MISSING_CENTRAL, /* payload key missing: central unit */
	CG_XK_PIN, /* source-prefix pin: no key, no bucket */
};

/* Why the unit. */
enum cg_explain_why {
	CG_XW_NONE = 0,
	CG_XW_OWNER, /* the bucket's owner (rules, ratios or canary) */
	CG_XW_CANARY, /* the bucket's owner through the service's canary */
	CG_XW_STANDBY, /* the owner is out (or the bucket moved away): its standby */
	CG_XW_SPREAD, /* ... no serving standby: spread over serving units by weight */
	CG_XW_BUCKET, /* the bucket table says so, for no reason the owner explains */
	CG_XW_PIN, /* a source-prefix pin */
	CG_XW_CENTRAL, /* the central unit (global, shared writes, missing key) */
	CG_XW_CENTRAL_STANDBY, /* the central unit does not serve: its standby */
	CG_XW_LOCAL, /* shared service: the gateway's own unit */
};

/* What cg_transition() does. */
enum cg_explain_flow {
	CG_XF_NOT_USED = 0, /* steady state: cg_flows not consulted */
	CG_XF_RECORD, /* recorded, unit alive and endpoint valid: follows the record */
	CG_XF_RESTEER, /* recorded, unit or endpoint gone: current choice, record updated */
	CG_XF_NEW, /* not recorded, a new flow: current choice, recorded */
	CG_XF_PREV_UNIT, /* not recorded, established: stays with the previous owner */
	CG_XF_PREV_ENDPOINT, /* not recorded, established: stays on the slot's previous endpoint */
	CG_XF_CURRENT, /* not recorded, established, nothing to stay on: current choice */
};

struct cg_explain_result {
	int reason; /* enum cg_reason: CG_R_FORWARDED, CG_R_FENCED, or why passed/dropped */
	int verdict; /* enum cg_explain_verdict */
	__u64 generation;
	__u64 gen_hash;
	__u32 bank;
	__u64 now_ns;

	/* service (cg_find_service) */
	bool has_service;
	bool wildcard; /* matched the VIP's port-0 ("*") service */
	__u32 svc_index; /* in the bank's cg_services */
	struct cg_service svc;
	struct cg_service_key svc_key;

	/* key and bucket */
	__u32 hash; /* flow hash: Maglev slot, outer source, flow label */
	int key_how; /* enum cg_explain_key */
	__u64 key;
	bool key_oversize; /* query key wider than the service's key_size (masked) */
	bool has_pin; /* a pin of this service matches the client ... */
	bool pin_used; /* ... and its unit serves, so it decided */
	int pin_family;
	__be32 pin_addr[4];
	int pin_len;
	__u16 pin_unit;
	bool has_bucket;
	__u32 bucket; /* key % modulo */
	struct cg_bucket bk;
	bool canary_known; /* the table marks canary buckets (CG_OWNER_CANARY) */

	/* fence (cg_fenced) */
	bool has_fence; /* the bucket carries a fence id */
	struct cg_fence fence;
	bool fence_active; /* now < deadline */
	bool fence_applies; /* ... and this packet is a new flow it holds */

	/* unit */
	__u16 unit; /* the unit it goes to (CG_UNIT_NONE = none) ... */
	__u16 choice_unit; /* ... and the bucket's (kind's, pin's) choice, before cg_flows */
	int why; /* enum cg_explain_why: of choice_unit */
	__u16 why_unit; /* the owner / central unit the reason is about */

	/* endpoint */
	bool has_slot;
	__u32 slot;
	struct cg_maglev_slot ms;
	int flow_step; /* enum cg_explain_flow */
	bool has_flow; /* a record exists in cg_flows */
	struct cg_flow flow;
	bool records; /* the packet writes a record (a new flow, counted if forwarded) */
	bool resteered; /* the packet rewrites its record (counted if forwarded) */
	__u16 endpoint;
	struct cg_endpoint ep;
	__be32 outer_src[4];
	bool egress_known; /* the two below were worked out (the packet got that far) */
	bool xdp_tx; /* leaves through the ingress interface */
	bool tx_port_ok; /* redirect: the egress interface is in cg_tx_ports */
};

/*
 * The decision for q against the live tables t (cg_dp_read_active() of
 * dp) and dp's flow table. Reads only: nothing is recorded. Returns 0 with
 * *r filled, or a negative errno if a map could not be read.
 */
int cg_explain(struct cg_dp *dp, const struct cg_tables *t, const struct cg_explain_query *q,
	       struct cg_explain_result *r);

/* Human and JSON renderings; t gives the unit names. */
void cg_explain_print(FILE *f, const struct cg_tables *t, const struct cg_explain_query *q,
		      const struct cg_explain_result *r);
json_t *cg_explain_json(const struct cg_tables *t, const struct cg_explain_query *q,
			const struct cg_explain_result *r);

/* `cellgate [-i INSTANCE] [-j] explain ...`: parse argv, explain, print. */
int cg_cmd_explain(const char *instance, bool json, int argc, char **argv);

/*
 * The cmds[] entry of user/main.c, with main.c's global options -i and -j.
 * Only main.c calls it, so only the cellgate binary needs those globals.
 */
extern const char *instance;
extern bool json_out;

static inline int do_explain(int argc, char **argv)
{
	return cg_cmd_explain(instance, json_out, argc, argv);
}

#endif /* CG_EXPLAIN_H */
