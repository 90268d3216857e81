/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cellgate: types and constants shared by the BPF dataplane and userspace.
 *
 * This header is the single source of truth for every map key and value.
 * It must stay plain C (no BPF or libc includes) so both sides compile it.
 * docs/maps.md describes each table; bump CG_LAYOUT_VERSION whenever a
 * struct below changes size or meaning.
 */
#ifndef CELLGATE_H
#define CELLGATE_H

#include <linux/types.h>

/* Version of the pinned-map layout; a loader refuses pins of another one. */
#define CG_LAYOUT_VERSION 1

/*
 * Capacities. Each may be overridden at build time (-DCG_MAX_UNITS=...);
 * the bucket and flow tables are sized at load time instead (see cellgate
 * load --buckets/--flows) because they are the only large ones.
 */
#ifndef CG_MAX_UNITS
#define CG_MAX_UNITS 256 /* unit ids are __u16; far more cells than any fleet has */
#endif
#ifndef CG_MAX_SERVICES
#define CG_MAX_SERVICES 1024 /* VIP:port:proto entries per generation */
#endif
#ifndef CG_MAX_ENDPOINTS
#define CG_MAX_ENDPOINTS 4096 /* all units together; ids are __u16 */
#endif
#ifndef CG_MAGLEV_SIZE
#define CG_MAGLEV_SIZE 4093 /* prime, >= 10x a unit's endpoints keeps Maglev shares even */
#endif
#define CG_SVC_SLOTS 8192 /* service index per bank: services and VIP markers fill <= 1/4 */
#define CG_SVC_PROBES 8 /* the builder refuses keys that land further from home */
#define CG_MAX_MODULO 65536 /* largest bucket count of one service */
#define CG_DEFAULT_BUCKET_SLOTS (1u << 20) /* per bank: 100 services x 10000 buckets */
#define CG_DEFAULT_FLOWS (1u << 18) /* LRU flow entries, shared by all services */
#define CG_MAX_FENCES 1024 /* fence records per bank; id 0 = not fenced */
#define CG_MAX_PINS 16384 /* source-prefix pins per bank and family */
#define CG_MAX_DECAP_ADDRS 64 /* local tunnel addresses one decap host answers for */
#define CG_MAX_VLAN_DEPTH 2 /* 802.1Q and 802.1ad (QinQ) */
#define CG_MAX_IPV6_EXT 6 /* extension headers walked before giving up */
#define CG_MAX_KEY_OFFSET 1024 /* payload routing key: bytes into the L4 payload */
#define CG_NAME_LEN 32

#define CG_UNIT_NONE 0xffff
#define CG_EP_NONE 0xffff
#define CG_OUTER_TTL 64

/*
 * Tables userspace writes through mmap must have value sizes that are
 * multiples of 8: the kernel lays array elements out at round_up(size, 8).
 *
 * Every per-generation table has two halves ("banks"). A writer fills the
 * bank that no packet uses, then publishes it by replacing the single
 * cg_gen entry behind cg_root (one map-in-map update). The kernel waits
 * for running programs before that update returns, so the old bank is free
 * for the next writer.
 */
#define CG_BANKS 2

/* cg_root -> inner array, one entry: the published generation. */
struct cg_gen {
	__u32 layout; /* CG_LAYOUT_VERSION of the publisher */
	__u32 bank; /* half of every banked table this generation uses */
	__u64 generation; /* monotonically increasing, 0 = nothing published */
	__u64 hash; /* content hash of the bank's tables (user/build.c) */
	__u64 published_ns; /* CLOCK_REALTIME of the publish */
	__u32 seed; /* hash seed, identical on every gateway of a fleet */
	__u32 bucket_slots; /* bucket table entries per bank */
	__be32 src4; /* outer IPv4 source prefix ... */
	__be32 src4_hostmask; /* ... and the bits filled from the flow hash */
	__be32 src6[4]; /* outer IPv6 source prefix; last word gets ... */
	__be32 src6_hostmask; /* ... these bits from the flow hash */
	__u32 flags; /* reserved, 0 */
};

enum cg_family {
	CG_AF_NONE = 0,
	CG_AF_INET = 4,
	CG_AF_INET6 = 6,
};

/* What identifies a service. IPv4 uses addr[0]; the other words are 0. */
struct cg_service_key {
	__be32 addr[4]; /* VIP */
	__be16 port; /* 0 = any port of this VIP */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family; /* enum cg_family; CG_AF_NONE marks an empty index slot */
};

/*
 * cg_svc_index[bank * CG_SVC_SLOTS + slot]: open addressing with linear
 * probing from cg_hash_service(key) % CG_SVC_SLOTS. An array rather than a
 * BPF hash map: the verifier inlines array lookups, and a miss (traffic for
 * no service) usually costs one slot read.
 */
struct cg_svc_slot {
	struct cg_service_key key;
	__u32 service; /* index into this bank of cg_services; CG_SVC_VIP for a VIP marker */
};

/* Slot with proto 0 and port 0: "this VIP has services", so fragments that
 * no service takes are counted as fragments rather than as no_service. */
#define CG_SVC_VIP 0xffffffffu

enum cg_service_kind {
	CG_KIND_CORE = 0, /* sharded: key -> bucket -> unit */
	CG_KIND_GLOBAL = 1, /* always the central unit (standby on failure) */
	CG_KIND_SHARED = 2, /* reads: local unit, writes: central unit */
};

enum cg_key_source {
	CG_KEY_FLOW = 0, /* seeded hash of the 5-tuple */
	CG_KEY_CLIENT = 1, /* seeded hash of the source address */
	CG_KEY_PAYLOAD = 2, /* unsigned integer in the L4 payload, not hashed */
};

enum cg_key_missing {
	CG_MISSING_FLOW = 0, /* fall back to flow hashing */
	CG_MISSING_REJECT = 1, /* drop, counted */
	CG_MISSING_CENTRAL = 2, /* send to the central unit */
};

#define CG_SVC_F_FRAG_L3 (1u << 0) /* steer IP fragments by an L3-only hash */
#define CG_SVC_F_FULL_FLOWS (1u << 1) /* record every flow, not just moving ones */
#define CG_SVC_F_UDP_MISS_NEW (1u << 2) /* a UDP flow-table miss counts as a new flow */
#define CG_SVC_F_PINS (1u << 3) /* consult cg_pins4/cg_pins6 before the key */

/* cg_services[bank * CG_MAX_SERVICES + index] */
struct cg_service {
	__u32 id; /* stable index into cg_service_stats */
	__u32 bucket_base; /* first entry of this service in its bank of cg_buckets */
	__u32 modulo; /* bucket = key % modulo, 1..CG_MAX_MODULO */
	__u16 flags; /* CG_SVC_F_* */
	__u8 kind; /* enum cg_service_kind */
	__u8 key_source; /* enum cg_key_source */
	__u8 key_size; /* payload key: 1, 2, 4 or 8 bytes, network order */
	__u8 key_missing; /* enum cg_key_missing */
	__u16 key_offset; /* payload key: bytes after the L4 header */
	__u16 central_unit; /* CG_UNIT_NONE if the config has no central unit */
	__u16 local_unit; /* shared services: the gateway's own unit */
	char name[CG_NAME_LEN];
};

/*
 * cg_buckets[bank * bucket_slots + bucket_base + bucket]: who serves a
 * bucket. prev_unit is set only while a bucket moves away from an owner that
 * is still alive (drain, restore): flows recorded in cg_flows follow unit,
 * unrecorded established flows stay on prev_unit.
 */
struct cg_bucket {
	__u16 unit; /* serving unit, CG_UNIT_NONE = drop */
	__u16 prev_unit; /* CG_UNIT_NONE unless the bucket is moving */
	__u16 owner; /* unit the rules assign (low bits) + CG_OWNER_* flags */
	__u16 fence; /* index into cg_fences, 0 = not fenced */
};

/* Flags in cg_bucket.owner for moves narrower than a whole unit (one
 * service, a bucket range, a percentage): the owner keeps serving, these
 * buckets do not. Only userspace reads them. */
#define CG_OWNER_AWAY 0x8000 /* evacuated from a serving owner */
#define CG_OWNER_DRAIN 0x4000 /* ... drained: established flows stay with the owner */
#define CG_OWNER_CANARY 0x2000 /* the owner is the service's canary unit */
#define CG_OWNER_MASK 0x0fff

enum cg_fence_action {
	CG_FENCE_DROP = 0, /* new flows dropped */
	CG_FENCE_REJECT = 1, /* new flows answered: TCP RST, ICMP/ICMPv6 unreachable */
};

#define CG_FENCE_FOREVER 0xffffffffffffffffull /* until `cellgate fence release` */

/*
 * cg_fences[bank * CG_MAX_FENCES + id]: write protection of buckets that
 * just changed unit (data may still be replicating). New flows are held
 * until deadline_ns, compared with bpf_ktime_get_ns() in the dataplane,
 * so a fence ends by itself without userspace.
 */
struct cg_fence {
	__u64 deadline_ns; /* CLOCK_MONOTONIC; CG_FENCE_FOREVER = until released */
	__u32 action; /* enum cg_fence_action */
	__u16 unit; /* the unit the fenced buckets now go to (for reports) */
	__u16 pad;
};

enum cg_unit_state {
	CG_UNIT_UNUSED = 0, /* id not in this generation */
	CG_UNIT_SERVING = 1,
	CG_UNIT_DRAINING = 2, /* established flows only */
	CG_UNIT_EVACUATED = 3, /* never used */
};

/* Set when an operator (not the agent) evacuated or drained the unit: the
 * agent never restores such a unit; only a manual restore clears it. */
#define CG_UNIT_F_MANUAL (1u << 0)

enum cg_unit_role {
	CG_ROLE_NORMAL = 0,
	CG_ROLE_CENTRAL = 1,
};

/* cg_units[bank * CG_MAX_UNITS + unit_id] */
struct cg_unit {
	__u8 state; /* enum cg_unit_state */
	__u8 role; /* enum cg_unit_role */
	__u16 standby; /* unit taking over when this one is evacuated */
	__u16 n_endpoints;
	__u16 flags; /* CG_UNIT_F_* (userspace only) */
	__u32 weight; /* capacity weight for spreading evacuated buckets */
	__u32 pad2;
	/*
	 * CLOCK_MONOTONIC end of this unit's hold on established flows, 0 = no
	 * end: a draining unit stops serving at this time, and as the previous
	 * owner of moving buckets (restore) it keeps unrecorded flows only
	 * until then. Checked in the dataplane, so no userspace is needed.
	 */
	__u64 hold_until_ns;
	char name[CG_NAME_LEN];
};

/*
 * cg_maglev[(bank * CG_MAX_UNITS + unit_id) * CG_MAGLEV_SIZE + slot]:
 * consistent-hash table picking an endpoint within a unit.
 */
struct cg_maglev_slot {
	__u16 endpoint; /* endpoint id, CG_EP_NONE if the unit has none */
	__u16 prev_endpoint; /* CG_EP_NONE unless the slot is moving */
	__u32 pad; /* array elements are 8-byte multiples in the kernel */
};

#define CG_EP_F_XDP_TX (1u << 0) /* leave through the ingress interface */
#define CG_EP_F_NEIGH (1u << 1) /* dmac from the neighbour table: `cellgate monitor` refreshes it */

/* cg_endpoints[bank * CG_MAX_ENDPOINTS + endpoint_id] */
struct cg_endpoint {
	__u16 unit; /* owning unit id */
	__u8 family; /* enum cg_family of the tunnel destination */
	__u8 flags; /* CG_EP_F_* */
	__u32 ifindex; /* egress interface (through cg_tx_ports) */
	__be32 daddr[4]; /* tunnel destination: the unit's ingress or a backend */
	__u8 dmac[6]; /* next hop */
	__u8 smac[6]; /* egress interface */
	__u16 mtu; /* egress L3 MTU; larger encapsulated packets are dropped */
	__u16 pad;
	__u32 weight; /* Maglev share within the unit */
	__be32 nexthop[4]; /* whose MAC dmac is: the tunnel destination or a router */
	__u32 pad2;
};

/* cg_flows: LRU, keyed by the forward 5-tuple. */
struct cg_flow_key {
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 family;
	__u16 pad;
};

struct cg_flow {
	__u16 unit;
	__u16 endpoint;
	__u32 service_id;
};

/* Per-CPU counters: cg_unit_stats, cg_service_stats, cg_endpoint_stats. */
struct cg_counters {
	__u64 packets;
	__u64 bytes;
	__u64 new_flows; /* flows recorded in cg_flows */
	__u64 resteered; /* recorded flows moved because their unit stopped serving */
	__u64 fenced;
};

/* cg_reasons[reason]: why a packet was passed, dropped or forwarded. */
enum cg_reason {
	CG_R_FORWARDED = 0, /* encapsulated and sent to a unit */
	CG_R_NO_CONFIG, /* pass: nothing published yet */
	CG_R_NOT_IP, /* pass: not IPv4/IPv6 */
	CG_R_BAD_L2, /* pass: truncated Ethernet or VLAN header */
	CG_R_BAD_L3, /* pass: truncated or invalid IP header */
	CG_R_BAD_L4, /* pass: truncated TCP/UDP/ICMP header */
	CG_R_IPV6_EXT, /* pass: more IPv6 extension headers than CG_MAX_IPV6_EXT */
	CG_R_NOT_L4, /* pass: not TCP, UDP or an ICMP error */
	CG_R_NO_SERVICE, /* pass: no service for this VIP:port:proto */
	CG_R_FRAGMENT, /* pass: fragment of a service without L3 steering */
	CG_R_ICMP_BAD_INNER, /* pass: ICMP error quoting a truncated header */
	CG_R_NO_UNIT, /* drop: bucket has no serving unit */
	CG_R_NO_ENDPOINT, /* drop: unit has no endpoint */
	CG_R_KEY_REJECT, /* drop: routing key missing, service says reject */
	CG_R_TOO_BIG, /* drop: encapsulated frame would exceed the MTU */
	CG_R_ENCAP_FAIL, /* drop: could not grow the packet */
	CG_R_FENCED, /* drop: new flow on a fenced bucket */
	CG_R_DECAP_OK, /* decap: tunnel header removed, passed to the stack */
	CG_R_DECAP_NOT_TUNNEL, /* decap pass: not IPIP/IPv6 tunnel traffic */
	CG_R_DECAP_NOT_LOCAL, /* decap pass: tunnel to an address not configured */
	CG_R_DECAP_BAD, /* decap drop: truncated or inconsistent tunnel packet */
	CG_R_MAX,
};

#define CG_REASON_NAMES                                                                     \
	{                                                                                   \
		"forwarded", "no_config", "not_ip", "bad_l2", "bad_l3", "bad_l4",         \
			"ipv6_ext_limit", "not_l4", "no_service", "fragment",              \
			"icmp_bad_inner", "no_unit", "no_endpoint", "key_reject", "too_big", \
			"encap_fail", "fenced", "decap_ok", "decap_not_tunnel",           \
			"decap_not_local", "decap_bad",                                      \
	}

struct cg_reason_count {
	__u64 packets;
	__u64 bytes;
};

enum cg_attach_mode {
	CG_MODE_NONE = 0,
	CG_MODE_NATIVE = 1, /* XDP in the driver */
	CG_MODE_GENERIC = 2, /* XDP in the stack (skb) */
	CG_MODE_TCX = 3, /* tc ingress through a tcx link */
	CG_MODE_CLSACT = 4, /* tc ingress through a clsact filter (no link) */
};

/*
 * cg_info / cg_decap_info[0]: written by the loader, read by every later
 * command. Not read by the programs.
 */
struct cg_info {
	__u32 layout; /* CG_LAYOUT_VERSION of the loader */
	__u32 ifindex; /* interface the program is attached to */
	__u32 mode; /* enum cg_attach_mode */
	__u32 tc_handle; /* clsact only: filter handle and priority */
	__u32 tc_priority;
	__u32 bucket_slots; /* cg_buckets entries per bank */
	__u32 flows; /* cg_flows capacity */
	__u32 pad;
	__u64 loaded_ns; /* CLOCK_REALTIME of the load */
	char ifname[16];
};

/*
 * cg_pins4 / cg_pins6 (LPM tries): client prefixes pinned to a unit,
 * per service, whatever their routing key ("key traffic protection").
 * The match covers bank, service id and then the address, so
 * prefixlen = 32 + the address prefix length.
 */
struct cg_pin4_key {
	__u32 prefixlen;
	__u8 bank;
	__u8 pad;
	__be16 service; /* cg_service.id, big-endian so the LPM match walks it bytewise */
	__be32 addr;
};

struct cg_pin6_key {
	__u32 prefixlen;
	__u8 bank;
	__u8 pad;
	__be16 service;
	__be32 addr[4];
};

struct cg_pin {
	__u16 unit;
	__u16 pad;
};

/* cg_decap_addrs key: local tunnel endpoint address. */
struct cg_decap_key {
	__u8 family;
	__u8 pad[3];
	__be32 addr[4];
};

#endif /* CELLGATE_H */
