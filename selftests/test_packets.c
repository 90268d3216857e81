// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of the steering and decap programs (docs/dataplane.md).
 *
 * Every case is a table row {description, input frame, expected verdict,
 * expected output, expected counters} run through BPF_PROG_TEST_RUN, once
 * through the XDP program and once through the tc program. The expected
 * output of a forwarded packet is built here from the configuration alone
 * (unit from the config's rules, outer source from the encap prefixes and
 * cg_hash_flow, MACs and addresses from the endpoint), with one exception:
 * within a unit of several endpoints the endpoint is read from the
 * published Maglev table at slot cg_slot_of(h, CG_MAGLEV_SIZE).
 *
 * Each run starts with an empty flow table, then the row's setup packets,
 * then the packet under test, so rows do not depend on each other.
 *
 * Usage: test_packets [SUBSTRING]  (only cases whose name contains it)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cellgate.h"
#include "cg_hash.h"
#include "config.h"
#include "tables.h"
#include "steer.skel.h"
#include "decap.skel.h"
#include "pkt.h"
#include "testlib.h"

#define PROG "test_packets"
#define INGRESS_IFINDEX 1 /* lo: endpoints without "dev" leave through it (XDP_TX) */
#define TX_DEV "cgt0" /* another egress interface, in the private namespace */
#define TX_PEER "cgt1"

/* ---- addresses (RFC 2544 / RFC 3849 only) ---- */
#define C4 "198.18.0.10" /* client */
#define C6 "2001:db8::10"
#define R4 "198.18.0.1" /* router on the path back to the client */
#define R6 "2001:db8::1"
#define WEB4 "198.18.100.1"
#define WEB6 "2001:db8:100::1"
#define X46 "198.18.100.2" /* IPv4 VIP, IPv6 endpoint */
#define X64 "2001:db8:100::2" /* IPv6 VIP, IPv4 endpoint */
#define DNS4 "198.18.100.3"
#define DNS6 "2001:db8:100::3"
#define ANY4 "198.18.100.4"
#define ANY6 "2001:db8:100::4"
#define FRAG4 "198.18.100.5"
#define FRAG6 "2001:db8:100::5"
#define RATIO4 "198.18.100.6"
#define RATIO6 "2001:db8:100::6"
#define PAY4 "198.18.100.7"
#define PAY6 "2001:db8:100::7"
#define GLOB4 "198.18.100.8"
#define GLOB6 "2001:db8:100::8"
#define MOVE4 "198.18.100.9"
#define MOVE6 "2001:db8:100::9"
#define FULL4 "198.18.100.10"
#define SHARED4 "198.18.100.11"
#define REDIR4 "198.18.100.12"
#define NOSVC4 "198.18.100.200"
#define NOSVC6 "2001:db8:100::200"

/*
 * dc-a central (standby dc-b), dc-c (standby dc-d); dc-c and dc-d have a
 * 1400-byte MTU; dc-e and dc-f have three endpoints each (Maglev).
 */
#define ALL(u) "\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"" u "\"}]"
#define PAYRULES(a, b, c)                                                                  \
	"\"rules\":[{\"buckets\":\"0-2344\",\"unit\":\"" a "\"},{\"buckets\":\"2345-2345\"," \
	"\"unit\":\"" b "\"},{\"buckets\":\"2346-9999\",\"unit\":\"" c "\"}]"
#define CFG_HEAD \
	"{\"version\":1,\"local_unit\":\"dc-c\"," \
	"\"encap\":{\"source4\":\"198.18.250.0/24\",\"source6\":\"2001:db8:250::/112\"},"
#define CFG_UNITS \
	"{\"name\":\"dc-a\",\"role\":\"central\",\"standby\":\"dc-b\",\"endpoints\":[" \
	"{\"address\":\"198.18.1.2\",\"mac\":\"02:00:00:00:01:02\"}]}," \
	"{\"name\":\"dc-b\",\"endpoints\":[" \
	"{\"address\":\"2001:db8:2::2\",\"mac\":\"02:00:00:00:02:02\"}]}," \
	"{\"name\":\"dc-c\",\"standby\":\"dc-d\",\"endpoints\":[" \
	"{\"address\":\"198.18.3.2\",\"mac\":\"02:00:00:00:03:02\",\"mtu\":1400}]}," \
	"{\"name\":\"dc-d\",\"endpoints\":[" \
	"{\"address\":\"2001:db8:4::2\",\"mac\":\"02:00:00:00:04:02\",\"mtu\":1400}]}," \
	"{\"name\":\"dc-e\",\"endpoints\":[" \
	"{\"address\":\"198.18.5.2\",\"mac\":\"02:00:00:00:05:02\"}," \
	"{\"address\":\"198.18.5.3\",\"mac\":\"02:00:00:00:05:03\"}," \
	"{\"address\":\"198.18.5.4\",\"mac\":\"02:00:00:00:05:04\"}]}," \
	"{\"name\":\"dc-f\",\"endpoints\":[" \
	"{\"address\":\"2001:db8:6::2\",\"mac\":\"02:00:00:00:06:02\"}," \
	"{\"address\":\"2001:db8:6::3\",\"mac\":\"02:00:00:00:06:03\"}," \
	"{\"address\":\"2001:db8:6::4\",\"mac\":\"02:00:00:00:06:04\"}]}"
#define CFG_SERVICES \
	"{\"name\":\"web4\",\"vip\":\"" WEB4 "\",\"port\":80,\"proto\":\"tcp\"," ALL("dc-a") "}," \
	"{\"name\":\"web6\",\"vip\":\"" WEB6 "\",\"port\":80,\"proto\":\"tcp\"," ALL("dc-b") "}," \
	"{\"name\":\"x46\",\"vip\":\"" X46 "\",\"port\":443,\"proto\":\"tcp\"," ALL("dc-b") "}," \
	"{\"name\":\"x64\",\"vip\":\"" X64 "\",\"port\":443,\"proto\":\"tcp\"," ALL("dc-a") "}," \
	"{\"name\":\"dns4\",\"vip\":\"" DNS4 "\",\"port\":53,\"proto\":\"udp\"," ALL("dc-c") "}," \
	"{\"name\":\"dns6\",\"vip\":\"" DNS6 "\",\"port\":53,\"proto\":\"udp\"," ALL("dc-d") "}," \
	"{\"name\":\"any4\",\"vip\":\"" ANY4 "\",\"port\":\"*\",\"proto\":\"tcp\"," ALL("dc-e") "}," \
	"{\"name\":\"any6\",\"vip\":\"" ANY6 "\",\"port\":\"*\",\"proto\":\"tcp\"," ALL("dc-f") "}," \
	"{\"name\":\"frag4\",\"vip\":\"" FRAG4 "\",\"port\":\"*\",\"proto\":\"udp\"," \
	"\"fragments\":\"l3\"," ALL("dc-e") "}," \
	"{\"name\":\"frag6\",\"vip\":\"" FRAG6 "\",\"port\":\"*\",\"proto\":\"udp\"," \
	"\"fragments\":\"l3\"," ALL("dc-f") "}," \
	"{\"name\":\"ratio4\",\"vip\":\"" RATIO4 "\",\"port\":80,\"proto\":\"tcp\"," \
	"\"ratios\":{\"dc-a\":34,\"dc-b\":33,\"dc-c\":33}}," \
	"{\"name\":\"ratio6\",\"vip\":\"" RATIO6 "\",\"port\":443,\"proto\":\"udp\"," \
	"\"key\":{\"source\":\"client\"},\"ratios\":{\"dc-b\":50,\"dc-d\":25,\"dc-f\":25}}," \
	"{\"name\":\"pay\",\"vip\":\"" PAY4 "\",\"port\":9000,\"proto\":\"udp\"," \
	"\"modulo\":10000," \
	"\"key\":{\"source\":\"payload\",\"offset\":4,\"size\":4,\"missing\":\"flow\"}," \
	PAYRULES("dc-a", "dc-c", "dc-b") "}," \
	"{\"name\":\"payrej\",\"vip\":\"" PAY4 "\",\"port\":9001,\"proto\":\"udp\"," \
	"\"modulo\":10000," \
	"\"key\":{\"source\":\"payload\",\"offset\":4,\"size\":4,\"missing\":\"reject\"}," \
	PAYRULES("dc-a", "dc-c", "dc-b") "}," \
	"{\"name\":\"paycen\",\"vip\":\"" PAY4 "\",\"port\":9002,\"proto\":\"udp\"," \
	"\"modulo\":10000," \
	"\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":2,\"missing\":\"central\"}," \
	PAYRULES("dc-b", "dc-c", "dc-b") "}," \
	"{\"name\":\"pay8\",\"vip\":\"" PAY6 "\",\"port\":9000,\"proto\":\"udp\",\"modulo\":10000," \
	"\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":8}," \
	PAYRULES("dc-b", "dc-d", "dc-f") "}," \
	"{\"name\":\"glob4\",\"vip\":\"" GLOB4 "\",\"port\":5432,\"proto\":\"tcp\"," \
	"\"kind\":\"global\"}," \
	"{\"name\":\"glob6\",\"vip\":\"" GLOB6 "\",\"port\":5432,\"proto\":\"tcp\"," \
	"\"kind\":\"global\"}," \
	"{\"name\":\"move4\",\"vip\":\"" MOVE4 "\",\"port\":80,\"proto\":\"tcp\"," ALL("dc-c") "}," \
	"{\"name\":\"move6\",\"vip\":\"" MOVE6 "\",\"port\":80,\"proto\":\"tcp\"," ALL("dc-d") "}," \
	"{\"name\":\"moveu\",\"vip\":\"" MOVE4 "\",\"port\":80,\"proto\":\"udp\"," ALL("dc-c") "}," \
	"{\"name\":\"moveun\",\"vip\":\"" MOVE4 "\",\"port\":81,\"proto\":\"udp\"," \
	"\"udp_new_flow\":\"never\"," ALL("dc-c") "}," \
	"{\"name\":\"full4\",\"vip\":\"" FULL4 "\",\"port\":80,\"proto\":\"tcp\"," \
	"\"flow_table\":\"full\"," ALL("dc-c") "}," \
	"{\"name\":\"shared4\",\"vip\":\"" SHARED4 "\",\"port\":80,\"proto\":\"tcp\"," \
	"\"kind\":\"shared\"}"
static const char config_json[] =
	CFG_HEAD "\"units\":[" CFG_UNITS "],\"services\":[" CFG_SERVICES "]}";

/* The same, plus a unit behind another interface (cgt0, made in a private
 * namespace): XDP_REDIRECT through cg_tx_ports, source MAC of cgt0. Unit and
 * service ids of the base config are unchanged (appended last). */
static const char config_redirect_json[] =
	CFG_HEAD "\"units\":[" CFG_UNITS ","
	"{\"name\":\"dc-g\",\"endpoints\":[{\"address\":\"198.18.7.2\",\"dev\":\"" TX_DEV "\","
	"\"mac\":\"02:00:00:00:07:02\"}]}"
	"],\"services\":[" CFG_SERVICES ","
	"{\"name\":\"redir4\",\"vip\":\"" REDIR4 "\",\"port\":80,\"proto\":\"tcp\"," ALL("dc-g") "}"
	"]}";

/* ---- environments: the config, with unit states or buckets changed ---- */
enum env {
	ENV_SAME = 0, /* setup_env only: same as env */
	ENV_BASE,
	ENV_EVAC_A, /* central dc-a evacuated (buckets reassigned) */
	ENV_EVAC_AB, /* dc-a and its standby dc-b evacuated */
	ENV_EVAC_B,
	ENV_EVAC_C,
	ENV_MOVE, /* move* buckets moving: prev_unit = dc-a / dc-b (alive) */
	ENV_MOVE_DRAIN, /* ENV_MOVE with the old owners draining */
	ENV_MOVE_EVAC, /* ENV_MOVE with the old owners evacuated */
	ENV_SLOT_MOVE, /* every Maglev slot of dc-e moving to another endpoint */
	ENV_HOLES, /* web4's buckets have no unit, dc-d has no endpoint */
	ENV_REDIRECT, /* config_redirect_json */
	ENV_N,
};

static const char *const env_names[ENV_N] = {
	[ENV_BASE] = "base",	     [ENV_EVAC_A] = "dc-a evacuated",
	[ENV_EVAC_AB] = "dc-a, dc-b evacuated", [ENV_EVAC_B] = "dc-b evacuated",
	[ENV_EVAC_C] = "dc-c evacuated", [ENV_MOVE] = "buckets moving",
	[ENV_MOVE_DRAIN] = "buckets moving, old owner draining",
	[ENV_MOVE_EVAC] = "buckets moving, old owner evacuated",
	[ENV_SLOT_MOVE] = "dc-e slots moving",
	[ENV_HOLES] = "buckets without unit, unit without endpoint",
	[ENV_REDIRECT] = "unit behind another interface",
};

enum verdict {
	V_PASS,
	V_DROP,
	V_FWD, /* XDP_TX (endpoint on the ingress interface) / TC_ACT_REDIRECT */
	V_REDIRECT, /* XDP_REDIRECT (another interface) / TC_ACT_REDIRECT */
};

enum hash_kind {
	H_FLOW = 0, /* forward 5-tuple of the packet */
	H_ICMP, /* reversed 5-tuple of the quoted packet */
	H_L3, /* addresses + protocol (fragments) */
};

struct tcase {
	const char *name;
	enum env env;
	enum env setup_env; /* setup packets run under this one */
	struct pkt_spec in;
	enum verdict verdict;
	enum cg_reason reason; /* counted once; forwarded for V_FWD */
	/* V_FWD: expected unit (NULL: from the service's rules), service */
	const char *unit;
	const char *svc;
	const char *avoid; /* the rules' unit is evacuated: any serving unit but it */
	enum hash_kind hash;
	bool prev_endpoint; /* expect the Maglev slot's prev_endpoint */
	const struct pkt_spec *same_as; /* must land on the endpoint this one lands on */
	int new_flows;
	int resteered;
	const struct pkt_spec *setup[2]; /* run first (flow table empty before them) */
	const char *record_unit; /* insert a cg_flows record to this unit first */
	int sweep; /* run this many flows: sport + 0..sweep-1 */
	/* The kernel's skb test run refuses frames shorter than their IP
	 * header (EINVAL), so such rows run through the XDP program only. */
	bool xdp_only;
};

/* ---- packet shorthands (no field may repeat: -Woverride-init) ---- */
#define SYN PKT_TCP_SYN
#define ACK PKT_TCP_ACK
#define SYNACK (PKT_TCP_SYN | PKT_TCP_ACK)
#define PSHACK (PKT_TCP_PSH | PKT_TCP_ACK)
#define TCP4(sp, d, dp, fl) \
	.ip = 4, .src = C4, .dst = d, .l4 = PKT_L4_TCP, .sport = sp, .dport = dp, .tcp_flags = fl
#define TCP6(sp, d, dp, fl) \
	.ip = 6, .src = C6, .dst = d, .l4 = PKT_L4_TCP, .sport = sp, .dport = dp, .tcp_flags = fl
#define UDP4(sp, d, dp) .ip = 4, .src = C4, .dst = d, .l4 = PKT_L4_UDP, .sport = sp, .dport = dp
#define UDP6(sp, d, dp) .ip = 6, .src = C6, .dst = d, .l4 = PKT_L4_UDP, .sport = sp, .dport = dp
#define SPEC(...) (&(const struct pkt_spec){ __VA_ARGS__ })
/* ICMP errors from a router, quoting what the VIP sent to the client */
#define ICMP4_ERR(vip, t, c, info, q, qlen) \
	.ip = 4, .src = R4, .dst = vip, .l4 = PKT_L4_ICMP, .icmp_type = t, .icmp_code = c, \
	.icmp_info = info, .quote = q, .quote_len = qlen
#define ICMP6_ERR(vip, t, c, info, q, qlen) \
	.ip = 6, .src = R6, .dst = vip, .l4 = PKT_L4_ICMP, .icmp_type = t, .icmp_code = c, \
	.icmp_info = info, .quote = q, .quote_len = qlen
#define EXT(t) { .type = t }

static const __u8 ip4_opts[] = {
	0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, /* record route, EOL */
	0x94, 0x04, 0x00, 0x00, /* router alert */
};
static const __u8 tcp_opts[] = { 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07 };
static const __u8 arp_req[28] = { 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, 0x02, 0, 0, 0, 0xee,
				  0x02, 198, 18, 0, 10, 0, 0, 0, 0, 0, 0, 198, 18, 0, 1 };
/* payload routing keys: 4 bytes at offset 4, 2 at 0, 8 at 0 */
static const __u8 key12345[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x30, 0x39, 0x11, 0x22 };
static const __u8 key2344[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x09, 0x28 };
static const __u8 key2346[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x09, 0x2a };
static const __u8 keymax[] = { 0xde, 0xad, 0xbe, 0xef, 0xff, 0xff, 0xff, 0xff }; /* 7295 */
static const __u8 key16_12345[] = { 0x30, 0x39, 0x01, 0x02 };
/* 1000000002345 = 0x000000e8d4a51929 -> bucket 2345 */
static const __u8 key64[] = { 0x00, 0x00, 0x00, 0xe8, 0xd4, 0xa5, 0x19, 0x29, 0xaa };
static const __u8 short6[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00 };
static const __u8 short1[] = { 0x30 };

/* Flows the ICMP / fragment rows refer to. */
static const struct pkt_spec ref_any4 = { TCP4(40010, ANY4, 80, ACK) };
static const struct pkt_spec ref_ratio4 = { TCP4(40011, RATIO4, 80, ACK) };
static const struct pkt_spec ref_any6 = { TCP6(40012, ANY6, 80, ACK) };
#define FRAG4_FIRST UDP4(40020, FRAG4, 5000), .mf = true, .id = 7, .payload_len = 64
#define FRAG6_FIRST                                                                        \
	UDP6(40021, FRAG6, 5000), .n_ext = 1,                                              \
		.ext = { { .type = 44, .mf = true, .frag_id = 8 } }, .payload_len = 64
static const struct pkt_spec frag4_first = { FRAG4_FIRST };
static const struct pkt_spec frag6_first = { FRAG6_FIRST };

static const struct tcase cases[] = {
	/* ---- forwarded: one family and the other ---- */
	{ "v4 tcp syn -> v4 endpoint (ipip)", .in = { TCP4(40001, WEB4, 80, SYN) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "web4" },
	{ "v4 tcp data, tos and ttl kept inside, tos copied out",
	  .in = { TCP4(40002, WEB4, 80, PSHACK), .tos = 0xb8, .ttl = 7, .id = 0x4242, .df = true,
		  .payload_len = 200 },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "web4" },
	{ "v6 tcp syn -> v6 endpoint (ip6ip6)",
	  .in = { TCP6(40003, WEB6, 80, SYN), .tos = 0x28, .flow_label = 0xabcde, .ttl = 9,
		  .tcp_opts = tcp_opts, .tcp_opts_len = sizeof(tcp_opts) },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "web6" },
	{ "v4 tcp -> v6 endpoint (v4 in v6)", .in = { TCP4(40004, X46, 443, SYN), .tos = 0x10 },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "x46" },
	{ "v6 tcp -> v4 endpoint (v6 in v4)", .in = { TCP6(40005, X64, 443, ACK), .tos = 0x48,
						      .payload_len = 100 },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "x64" },
	{ "v4 udp -> v4 endpoint", .in = { UDP4(40006, DNS4, 53), .payload_len = 40 },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "dns4" },
	{ "v6 udp -> v6 endpoint", .in = { UDP6(40007, DNS6, 53), .payload_len = 40 },
	  .verdict = V_FWD, .unit = "dc-d", .svc = "dns6" },
	{ "v4 wildcard-port service, port 8080",
	  .in = { TCP4(40008, ANY4, 8080, SYN) }, .verdict = V_FWD, .unit = "dc-e", .svc = "any4" },
	{ "v4 wildcard-port service, 32 flows over 3 endpoints",
	  .in = { TCP4(41000, ANY4, 443, SYN) }, .verdict = V_FWD, .unit = "dc-e", .svc = "any4",
	  .sweep = 32 },
	{ "v6 wildcard-port service, port 22", .in = { TCP6(40009, ANY6, 22, ACK) },
	  .verdict = V_FWD, .unit = "dc-f", .svc = "any6" },
	{ "v4 ratio service, 64 flows follow the ratio ranges",
	  .in = { TCP4(42000, RATIO4, 80, SYN) }, .verdict = V_FWD, .svc = "ratio4", .sweep = 64 },
	{ "v6 client-key service, 16 ports of one client",
	  .in = { UDP6(43000, RATIO6, 443), .payload_len = 8 }, .verdict = V_FWD, .svc = "ratio6",
	  .sweep = 16, .new_flows = 0 },
	{ "v4 frame padded to 60 bytes: padding kept behind the packet",
	  .in = { TCP4(40013, WEB4, 80, SYN), .pad = true, .pad_byte = 0xaa },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "web4" },
	{ "v4 udp frame padded to 60 bytes",
	  .in = { UDP4(40014, DNS4, 53), .payload_len = 2, .pad = true, .pad_byte = 0xaa },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "dns4" },

	/* ---- L2 ---- */
	{ "802.1Q tagged: forwarded without the tag",
	  .in = { TCP4(40015, WEB4, 80, SYN), .n_vlan = 1, .vlan_tci = { 100 } }, .verdict = V_FWD,
	  .unit = "dc-a", .svc = "web4" },
	{ "QinQ (88a8 + 8100) tagged v6: forwarded without tags",
	  .in = { TCP6(40016, WEB6, 80, SYN), .n_vlan = 2, .vlan_tpid = { 0x88a8, 0x8100 },
		  .vlan_tci = { 10, 20 } },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "web6" },
	{ "three VLAN tags: not_ip",
	  .in = { TCP4(40017, WEB4, 80, SYN), .n_vlan = 3, .vlan_tci = { 1, 2, 3 } },
	  .verdict = V_PASS, .reason = CG_R_NOT_IP },
	{ "ARP: not_ip", .in = { .ethertype = PKT_ETH_P_ARP, .payload = arp_req,
				 .payload_len = sizeof(arp_req), .dmac = "ff:ff:ff:ff:ff:ff",
				 .pad = true },
	  .verdict = V_PASS, .reason = CG_R_NOT_IP },
	{ "truncated in the Ethernet type after a VLAN TPID: bad_l2",
	  .in = { TCP4(40018, WEB4, 80, SYN), .n_vlan = 1, .trunc = 14 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L2 },
	{ "truncated after the VLAN tag: bad_l2",
	  .in = { TCP4(40019, WEB4, 80, SYN), .n_vlan = 1, .trunc = 16 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L2 },
	{ "QinQ truncated inside the second tag: bad_l2",
	  .in = { TCP4(40020, WEB4, 80, SYN), .n_vlan = 2, .vlan_tpid = { 0x88a8, 0x8100 },
		  .trunc = 20 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L2 },

	/* ---- L3 ---- */
	{ "v4 options preserved inside",
	  .in = { TCP4(40021, WEB4, 80, SYN), .opts = ip4_opts, .opts_len = sizeof(ip4_opts) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "web4" },
	{ "v4 Ethernet header only: bad_l3", .in = { TCP4(40022, WEB4, 80, SYN), .trunc = 14 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L3, .xdp_only = true },
	{ "v4 header truncated: bad_l3", .in = { TCP4(40023, WEB4, 80, SYN), .trunc = 14 + 10 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L3, .xdp_only = true },
	{ "v4 options truncated: bad_l3",
	  .in = { TCP4(40024, WEB4, 80, SYN), .opts = ip4_opts, .opts_len = sizeof(ip4_opts),
		  .trunc = 14 + 24 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L3 },
	{ "v4 tot_len beyond the frame: bad_l3",
	  .in = { TCP4(40025, WEB4, 80, SYN), .trunc = 14 + 20 + 10 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v4 tot_len below the header: bad_l3",
	  .in = { TCP4(40026, WEB4, 80, SYN), .tot_len = 16 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v4 ihl 4: bad_l3", .in = { TCP4(40027, WEB4, 80, SYN), .ihl = 4 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v4 EtherType, version 6 header: bad_l3",
	  .in = { TCP4(40028, WEB4, 80, SYN), .version = 6 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v6 EtherType, version 4 header: bad_l3",
	  .in = { TCP6(40029, WEB6, 80, SYN), .version = 4 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v6 header truncated: bad_l3", .in = { TCP6(40030, WEB6, 80, SYN), .trunc = 14 + 30 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L3, .xdp_only = true },
	{ "v6 payload_len beyond the frame: bad_l3",
	  .in = { TCP6(40031, WEB6, 80, SYN), .trunc = 14 + 40 + 12 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L3 },
	{ "v6 extension headers preserved (hop-by-hop, dstopts, routing, AH)",
	  .in = { TCP6(40032, WEB6, 80, SYN), .n_ext = 4,
		  .ext = { EXT(0), { .type = 60, .len = 1 }, EXT(43), EXT(51) } },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "web6" },
	{ "v6 six extension headers: still walked",
	  .in = { TCP6(40033, WEB6, 80, SYN), .n_ext = 6,
		  .ext = { EXT(0), EXT(60), EXT(43), EXT(60), EXT(51), EXT(60) } },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "web6" },
	{ "v6 seven extension headers: ipv6_ext_limit",
	  .in = { TCP6(40034, WEB6, 80, SYN), .n_ext = 7,
		  .ext = { EXT(0), EXT(60), EXT(60), EXT(60), EXT(60), EXT(60), EXT(60) } },
	  .verdict = V_PASS, .reason = CG_R_IPV6_EXT },
	{ "v6 extension header truncated: bad_l3",
	  .in = { TCP6(40035, WEB6, 80, SYN), .n_ext = 1, .ext = { { .type = 0, .len = 1 } },
		  .tot_len = 8, .trunc = 14 + 40 + 8 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L3 },

	/* ---- L4 ---- */
	{ "v4 tcp header truncated: bad_l4", .in = { TCP4(40036, WEB4, 80, SYN), .l4_len = 12 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L4 },
	{ "v4 tcp doff 4: bad_l4", .in = { TCP4(40037, WEB4, 80, SYN), .doff = 4 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L4 },
	{ "v4 tcp options beyond the packet: bad_l4",
	  .in = { TCP4(40038, WEB4, 80, SYN), .doff = 8 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L4 },
	{ "v6 tcp header truncated: bad_l4", .in = { TCP6(40039, WEB6, 80, SYN), .l4_len = 19 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L4 },
	{ "v4 udp header truncated: bad_l4", .in = { UDP4(40040, DNS4, 53), .l4_len = 6 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L4 },
	{ "v6 udp header truncated: bad_l4", .in = { UDP6(40041, DNS6, 53), .l4_len = 7 },
	  .verdict = V_PASS, .reason = CG_R_BAD_L4 },
	{ "v4 GRE to a VIP: not_l4",
	  .in = { .ip = 4, .src = C4, .dst = WEB4, .proto = 47, .payload_len = 24 },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },
	{ "v6 no-next-header to a VIP: not_l4",
	  .in = { .ip = 6, .src = C6, .dst = WEB6, .proto = 59, .payload_len = 8 },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },

	/* ---- not for a service ---- */
	{ "v4 address not a VIP: no_service", .in = { TCP4(40042, NOSVC4, 80, SYN) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v4 VIP, other port: no_service", .in = { TCP4(40043, WEB4, 81, SYN) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v4 VIP and port, other protocol: no_service", .in = { UDP4(40044, WEB4, 80) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v6 address not a VIP: no_service", .in = { UDP6(40045, NOSVC6, 53) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v6 VIP, other protocol on a wildcard VIP: no_service", .in = { UDP6(40046, ANY6, 80) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v4 not a VIP, frame padded: passed unchanged",
	  .in = { UDP4(40047, NOSVC4, 53), .pad = true, .pad_byte = 0x5a }, .verdict = V_PASS,
	  .reason = CG_R_NO_SERVICE },

	/* ---- fragments ---- */
	{ "v4 first fragment, service without l3: fragment",
	  .in = { TCP4(40048, WEB4, 80, ACK), .mf = true, .payload_len = 64 }, .verdict = V_PASS,
	  .reason = CG_R_FRAGMENT },
	{ "v4 non-first fragment, service without l3: fragment",
	  .in = { .ip = 4, .src = C4, .dst = WEB4, .proto = 6, .frag_off = 10, .payload_len = 64 },
	  .verdict = V_PASS, .reason = CG_R_FRAGMENT },
	{ "v6 first fragment, service without l3: fragment",
	  .in = { TCP6(40049, WEB6, 80, ACK), .n_ext = 1,
		  .ext = { { .type = 44, .mf = true, .frag_id = 1 } }, .payload_len = 64 },
	  .verdict = V_PASS, .reason = CG_R_FRAGMENT },
	{ "v4 wildcard tcp service without l3, non-first fragment: fragment",
	  .in = { .ip = 4, .src = C4, .dst = ANY4, .proto = 6, .frag_off = 10, .payload_len = 64 },
	  .verdict = V_PASS, .reason = CG_R_FRAGMENT },
	{ "v4 first fragment, l3 service: steered by the l3 hash", .in = { FRAG4_FIRST },
	  .verdict = V_FWD, .unit = "dc-e", .svc = "frag4", .hash = H_L3 },
	{ "v4 non-first fragment, l3 service: same endpoint as the first",
	  .in = { .ip = 4, .src = C4, .dst = FRAG4, .proto = 17, .frag_off = 9, .id = 7,
		  .payload_len = 64 },
	  .verdict = V_FWD, .unit = "dc-e", .svc = "frag4", .hash = H_L3, .same_as = &frag4_first },
	{ "v6 first fragment, l3 service: steered by the l3 hash", .in = { FRAG6_FIRST },
	  .verdict = V_FWD, .unit = "dc-f", .svc = "frag6", .hash = H_L3 },
	{ "v6 non-first fragment, l3 service: same endpoint as the first",
	  .in = { .ip = 6, .src = C6, .dst = FRAG6, .proto = 17, .n_ext = 1,
		  .ext = { { .type = 44, .frag_off = 9, .frag_id = 8 } }, .payload_len = 64 },
	  .verdict = V_FWD, .unit = "dc-f", .svc = "frag6", .hash = H_L3, .same_as = &frag6_first },
	{ "v6 non-first fragment behind hop-by-hop, l3 service",
	  .in = { .ip = 6, .src = C6, .dst = FRAG6, .proto = 17, .n_ext = 2,
		  .ext = { EXT(0), { .type = 44, .frag_off = 20, .frag_id = 8 } },
		  .payload_len = 64 },
	  .verdict = V_FWD, .unit = "dc-f", .svc = "frag6", .hash = H_L3, .same_as = &frag6_first },

	/* ---- ICMP ---- */
	{ "v4 frag-needed quoting VIP->client: client's unit and endpoint",
	  .in = { ICMP4_ERR(ANY4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = ANY4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40010, .payload_len = 1360),
			    28) },
	  .verdict = V_FWD, .unit = "dc-e", .svc = "any4", .hash = H_ICMP, .same_as = &ref_any4 },
	{ "v4 frag-needed on a ratio service: client's unit",
	  .in = { ICMP4_ERR(RATIO4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = RATIO4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40011, .payload_len = 1360),
			    48) },
	  .verdict = V_FWD, .svc = "ratio4", .hash = H_ICMP, .same_as = &ref_ratio4 },
	{ "v4 frag-needed quoting a packet with IP options",
	  .in = { ICMP4_ERR(ANY4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = ANY4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40010, .opts = ip4_opts, .opts_len = sizeof(ip4_opts),
				 .payload_len = 1000),
			    20 + sizeof(ip4_opts) + 8) },
	  .verdict = V_FWD, .unit = "dc-e", .svc = "any4", .hash = H_ICMP, .same_as = &ref_any4 },
	{ "v6 error on a client-key service: the client's unit",
	  .in = { ICMP6_ERR(RATIO6, 1, 3, 0,
			    SPEC(.ip = 6, .src = RATIO6, .dst = C6, .l4 = PKT_L4_UDP, .sport = 443,
				 .dport = 40057, .payload_len = 100),
			    0) },
	  .verdict = V_FWD, .svc = "ratio6", .hash = H_ICMP,
	  .same_as = SPEC(UDP6(40057, RATIO6, 443), .payload_len = 8) },
	{ "v4 time-exceeded quoting udp", .in = { ICMP4_ERR(DNS4, 11, 0, 0,
							    SPEC(.ip = 4, .src = DNS4, .dst = C4,
								 .l4 = PKT_L4_UDP, .sport = 53,
								 .dport = 40050, .payload_len = 30),
							    28) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "dns4", .hash = H_ICMP },
	{ "v6 packet-too-big quoting VIP->client: client's unit and endpoint",
	  .in = { ICMP6_ERR(ANY6, 2, 0, 1280,
			    SPEC(.ip = 6, .src = ANY6, .dst = C6, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40012, .payload_len = 1400),
			    1232) },
	  .verdict = V_FWD, .unit = "dc-f", .svc = "any6", .hash = H_ICMP, .same_as = &ref_any6 },
	{ "v6 unreachable quoting udp", .in = { ICMP6_ERR(DNS6, 1, 4, 0,
							  SPEC(.ip = 6, .src = DNS6, .dst = C6,
							       .l4 = PKT_L4_UDP, .sport = 53,
							       .dport = 40051, .payload_len = 30),
							  0) },
	  .verdict = V_FWD, .unit = "dc-d", .svc = "dns6", .hash = H_ICMP },
	{ "v4 parameter problem (12) quoting tcp",
	  .in = { ICMP4_ERR(WEB4, 12, 0, 0x14000000,
			    SPEC(.ip = 4, .src = WEB4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40058),
			    28) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "web4", .hash = H_ICMP },
	{ "v6 time exceeded (3) quoting tcp",
	  .in = { ICMP6_ERR(WEB6, 3, 0, 0,
			    SPEC(.ip = 6, .src = WEB6, .dst = C6, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40059, .payload_len = 20),
			    0) },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "web6", .hash = H_ICMP },
	{ "v6 neighbour solicitation (unicast NUD) to a VIP: not_l4",
	  .in = { .ip = 6, .src = C6, .dst = WEB6, .l4 = PKT_L4_ICMP,
		  .icmp_type = 135, .ttl = 255, .payload_len = 16 },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },
	{ "v4 echo request to a VIP: not_l4",
	  .in = { .ip = 4, .src = C4, .dst = WEB4, .l4 = PKT_L4_ICMP, .icmp_type = 8,
		  .icmp_info = 0x00010001, .payload_len = 56 },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },
	{ "v6 echo request to a VIP: not_l4",
	  .in = { .ip = 6, .src = C6, .dst = WEB6, .l4 = PKT_L4_ICMP, .icmp_type = 128,
		  .icmp_info = 0x00010001, .payload_len = 56 },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },
	{ "v4 redirect (not an error that is steered): not_l4",
	  .in = { ICMP4_ERR(WEB4, 5, 1, 0,
			    SPEC(.ip = 4, .src = WEB4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40052),
			    28) },
	  .verdict = V_PASS, .reason = CG_R_NOT_L4 },
	{ "v4 error quoting a non-service flow: no_service",
	  .in = { ICMP4_ERR(NOSVC4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = NOSVC4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40053),
			    28) },
	  .verdict = V_PASS, .reason = CG_R_NO_SERVICE },
	{ "v4 error quote without ports: icmp_bad_inner",
	  .in = { ICMP4_ERR(WEB4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = WEB4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40054),
			    22) },
	  .verdict = V_PASS, .reason = CG_R_ICMP_BAD_INNER },
	{ "v4 error quote with a truncated IP header: icmp_bad_inner",
	  .in = { ICMP4_ERR(WEB4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = WEB4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40055),
			    12) },
	  .verdict = V_PASS, .reason = CG_R_ICMP_BAD_INNER },
	{ "v6 error quote without ports: icmp_bad_inner",
	  .in = { ICMP6_ERR(WEB6, 2, 0, 1280,
			    SPEC(.ip = 6, .src = WEB6, .dst = C6, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40056),
			    42) },
	  .verdict = V_PASS, .reason = CG_R_ICMP_BAD_INNER },
	{ "v4 icmp header truncated: bad_l4",
	  .in = { ICMP4_ERR(WEB4, 3, 4, 1400, NULL, 0), .l4_len = 4 }, .verdict = V_PASS,
	  .reason = CG_R_BAD_L4 },

	/* ---- payload routing key ---- */
	{ "payload key 12345 % 10000 = bucket 2345 -> dc-c",
	  .in = { UDP4(40060, PAY4, 9000), .payload = key12345, .payload_len = sizeof(key12345) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "pay" },
	{ "payload key 2344 -> dc-a",
	  .in = { UDP4(40061, PAY4, 9000), .payload = key2344, .payload_len = sizeof(key2344) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "pay" },
	{ "payload key 2346 -> dc-b",
	  .in = { UDP4(40062, PAY4, 9000), .payload = key2346, .payload_len = sizeof(key2346) },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "pay" },
	{ "payload key 0xffffffff is unsigned: bucket 7295 -> dc-b",
	  .in = { UDP4(40063, PAY4, 9000), .payload = keymax, .payload_len = sizeof(keymax) },
	  .verdict = V_FWD, .unit = "dc-b", .svc = "pay" },
	{ "payload short, missing flow: flow hash bucket",
	  .in = { UDP4(40064, PAY4, 9000), .payload = short6, .payload_len = sizeof(short6) },
	  .verdict = V_FWD, .svc = "pay" },
	{ "payload short, missing reject: key_reject",
	  .in = { UDP4(40065, PAY4, 9001), .payload = short6, .payload_len = sizeof(short6) },
	  .verdict = V_DROP, .reason = CG_R_KEY_REJECT },
	{ "payload short in a padded frame, missing reject: key_reject",
	  .in = { UDP4(40066, PAY4, 9001), .payload = short6, .payload_len = sizeof(short6),
		  .pad = true, .pad_byte = 0xaa },
	  .verdict = V_DROP, .reason = CG_R_KEY_REJECT },
	{ "payload present, missing reject: key used",
	  .in = { UDP4(40067, PAY4, 9001), .payload = key12345, .payload_len = sizeof(key12345) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "payrej" },
	{ "payload short, missing central: central unit",
	  .in = { UDP4(40068, PAY4, 9002), .payload = short1, .payload_len = sizeof(short1) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "paycen" },
	{ "payload short in a padded frame, missing central: central unit",
	  .in = { UDP4(40069, PAY4, 9002), .payload = short1, .payload_len = sizeof(short1),
		  .pad = true, .pad_byte = 0xaa },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "paycen" },
	{ "payload 2-byte key 12345 at offset 0 -> dc-c",
	  .in = { UDP4(40070, PAY4, 9002), .payload = key16_12345,
		  .payload_len = sizeof(key16_12345) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "paycen" },
	{ "payload 8-byte key 1000000002345 (v6) -> dc-d",
	  .in = { UDP6(40071, PAY6, 9000), .payload = key64, .payload_len = sizeof(key64) },
	  .verdict = V_FWD, .unit = "dc-d", .svc = "pay8" },
	{ "payload key service, ICMP error, missing reject: key_reject",
	  .in = { ICMP4_ERR(PAY4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = PAY4, .dst = C4, .l4 = PKT_L4_UDP, .sport = 9001,
				 .dport = 40072, .payload = key12345,
				 .payload_len = sizeof(key12345)),
			    28) },
	  .verdict = V_DROP, .reason = CG_R_KEY_REJECT },
	{ "payload key service, ICMP error, missing central: central unit",
	  .in = { ICMP4_ERR(PAY4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = PAY4, .dst = C4, .l4 = PKT_L4_UDP, .sport = 9002,
				 .dport = 40073, .payload = key16_12345,
				 .payload_len = sizeof(key16_12345)),
			    0) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "paycen", .hash = H_ICMP },

	/* ---- global, shared, evacuation ---- */
	{ "global service -> central", .in = { TCP4(40080, GLOB4, 5432, SYN) }, .verdict = V_FWD,
	  .unit = "dc-a", .svc = "glob4" },
	{ "global v6 service -> central (v6 in v4)", .in = { TCP6(40081, GLOB6, 5432, SYN) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "glob6" },
	{ "shared service -> local unit", .in = { TCP4(40082, SHARED4, 80, SYN) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "shared4" },
	{ "central evacuated: global -> standby", .env = ENV_EVAC_A,
	  .in = { TCP4(40083, GLOB4, 5432, ACK) }, .verdict = V_FWD, .unit = "dc-b",
	  .svc = "glob4" },
	{ "central evacuated: global v6 -> standby", .env = ENV_EVAC_A,
	  .in = { TCP6(40084, GLOB6, 5432, ACK) }, .verdict = V_FWD, .unit = "dc-b",
	  .svc = "glob6" },
	{ "central evacuated: its core buckets -> standby", .env = ENV_EVAC_A,
	  .in = { TCP4(40085, WEB4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-b", .svc = "web4" },
	{ "central and standby evacuated: global no_unit", .env = ENV_EVAC_AB,
	  .in = { TCP4(40086, GLOB4, 5432, SYN) }, .verdict = V_DROP, .reason = CG_R_NO_UNIT },
	{ "local unit evacuated: shared -> central", .env = ENV_EVAC_C,
	  .in = { TCP4(40087, SHARED4, 80, SYN) }, .verdict = V_FWD, .unit = "dc-a",
	  .svc = "shared4" },
	{ "unit evacuated: its buckets -> standby", .env = ENV_EVAC_C,
	  .in = { UDP4(40088, DNS4, 53), .payload_len = 10 }, .verdict = V_FWD, .unit = "dc-d",
	  .svc = "dns4", .new_flows = 0 },
	{ "evacuated unit never chosen, other buckets unmoved (64 flows)", .env = ENV_EVAC_B,
	  .in = { TCP4(44000, RATIO4, 80, SYN) }, .verdict = V_FWD, .svc = "ratio4",
	  .avoid = "dc-b", .sweep = 64 },

	{ "core bucket without a unit: no_unit", .env = ENV_HOLES,
	  .in = { TCP4(40089, WEB4, 80, SYN) }, .verdict = V_DROP, .reason = CG_R_NO_UNIT },
	{ "unit without an endpoint: no_endpoint", .env = ENV_HOLES,
	  .in = { UDP6(40096, DNS6, 53), .payload_len = 8 }, .verdict = V_DROP,
	  .reason = CG_R_NO_ENDPOINT },

	/* ---- MTU ---- */
	{ "v4 udp 1380 + 20 = endpoint MTU 1400: forwarded",
	  .in = { UDP4(40090, DNS4, 53), .payload_len = 1380 - 28 }, .verdict = V_FWD,
	  .unit = "dc-c", .svc = "dns4" },
	{ "v4 udp 1381 + 20 > endpoint MTU 1400: too_big",
	  .in = { UDP4(40091, DNS4, 53), .payload_len = 1381 - 28 }, .verdict = V_DROP,
	  .reason = CG_R_TOO_BIG },
	{ "v6 udp 1360 + 40 = endpoint MTU 1400: forwarded",
	  .in = { UDP6(40092, DNS6, 53), .payload_len = 1360 - 48 }, .verdict = V_FWD,
	  .unit = "dc-d", .svc = "dns6" },
	{ "v6 udp 1361 + 40 > endpoint MTU 1400: too_big",
	  .in = { UDP6(40093, DNS6, 53), .payload_len = 1361 - 48 }, .verdict = V_DROP,
	  .reason = CG_R_TOO_BIG },
	{ "802.1Q tagged, 1380 + 20 = endpoint MTU: tags do not count",
	  .in = { UDP4(40097, DNS4, 53), .payload_len = 1380 - 28, .n_vlan = 2,
		  .vlan_tpid = { 0x88a8, 0x8100 }, .vlan_tci = { 7, 8 } },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "dns4" },
	{ "v4 1480 + 20 = default MTU 1500: forwarded",
	  .in = { TCP4(40094, WEB4, 80, ACK), .payload_len = 1480 - 40 }, .verdict = V_FWD,
	  .unit = "dc-a", .svc = "web4" },
	{ "v4 1481 + 20 > default MTU 1500: too_big",
	  .in = { TCP4(40095, WEB4, 80, ACK), .payload_len = 1481 - 40 }, .verdict = V_DROP,
	  .reason = CG_R_TOO_BIG },

	/* ---- another egress interface ---- */
	{ "endpoint behind another interface: XDP_REDIRECT, its MAC as source",
	  .env = ENV_REDIRECT, .in = { TCP4(40098, REDIR4, 80, SYN) }, .verdict = V_REDIRECT,
	  .unit = "dc-g", .svc = "redir4" },
	{ "endpoint on the ingress interface in the same config: XDP_TX", .env = ENV_REDIRECT,
	  .in = { TCP4(40099, WEB4, 80, SYN) }, .verdict = V_FWD, .unit = "dc-a", .svc = "web4" },

	/* ---- transitions (flow table) ---- */
	{ "steady state: no flow recorded", .in = { TCP4(40100, MOVE4, 80, SYN) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "move4" },
	{ "moving bucket: SYN -> new owner, recorded", .env = ENV_MOVE,
	  .in = { TCP4(40101, MOVE4, 80, SYN) }, .verdict = V_FWD, .unit = "dc-c", .svc = "move4",
	  .new_flows = 1 },
	{ "moving bucket: unrecorded ACK -> old owner", .env = ENV_MOVE,
	  .in = { TCP4(40102, MOVE4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-a", .svc = "move4" },
	{ "moving bucket: unrecorded SYN-ACK is not new -> old owner", .env = ENV_MOVE,
	  .in = { TCP4(40103, MOVE4, 80, SYNACK) }, .verdict = V_FWD, .unit = "dc-a",
	  .svc = "move4" },
	{ "moving bucket: recorded flow stays on the new owner", .env = ENV_MOVE,
	  .setup = { SPEC(TCP4(40104, MOVE4, 80, SYN)) }, .in = { TCP4(40104, MOVE4, 80, PSHACK),
								   .payload_len = 20 },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "move4" },
	{ "moving bucket v6: SYN -> new owner, recorded", .env = ENV_MOVE,
	  .in = { TCP6(40105, MOVE6, 80, SYN) }, .verdict = V_FWD, .unit = "dc-d", .svc = "move6",
	  .new_flows = 1 },
	{ "moving bucket v6: unrecorded ACK -> old owner", .env = ENV_MOVE,
	  .in = { TCP6(40106, MOVE6, 80, ACK) }, .verdict = V_FWD, .unit = "dc-b", .svc = "move6" },
	{ "moving bucket: ICMP error of a recorded flow follows the record", .env = ENV_MOVE,
	  .setup = { SPEC(TCP4(40120, MOVE4, 80, SYN)) },
	  .in = { ICMP4_ERR(MOVE4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = MOVE4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40120, .payload_len = 1360),
			    28) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "move4", .hash = H_ICMP },
	{ "moving bucket: ICMP error of an unrecorded flow -> old owner", .env = ENV_MOVE,
	  .in = { ICMP4_ERR(MOVE4, 3, 4, 1400,
			    SPEC(.ip = 4, .src = MOVE4, .dst = C4, .l4 = PKT_L4_TCP, .sport = 80,
				 .dport = 40121, .payload_len = 1360),
			    28) },
	  .verdict = V_FWD, .unit = "dc-a", .svc = "move4", .hash = H_ICMP },
	{ "moving bucket udp: first packet is new -> new owner", .env = ENV_MOVE,
	  .in = { UDP4(40107, MOVE4, 80), .payload_len = 10 }, .verdict = V_FWD, .unit = "dc-c",
	  .svc = "moveu", .new_flows = 1 },
	{ "moving bucket udp: second packet stays", .env = ENV_MOVE,
	  .setup = { SPEC(UDP4(40108, MOVE4, 80), .payload_len = 10) },
	  .in = { UDP4(40108, MOVE4, 80), .payload_len = 11 }, .verdict = V_FWD, .unit = "dc-c",
	  .svc = "moveu" },
	{ "moving bucket udp, udp_new_flow never: -> old owner", .env = ENV_MOVE,
	  .in = { UDP4(40109, MOVE4, 81), .payload_len = 10 }, .verdict = V_FWD, .unit = "dc-a",
	  .svc = "moveun" },
	{ "moving bucket, old owner draining: unrecorded ACK stays on it", .env = ENV_MOVE_DRAIN,
	  .in = { TCP4(40110, MOVE4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-a", .svc = "move4" },
	{ "moving bucket, old owner draining: SYN -> new owner", .env = ENV_MOVE_DRAIN,
	  .in = { TCP4(40111, MOVE4, 80, SYN) }, .verdict = V_FWD, .unit = "dc-c", .svc = "move4",
	  .new_flows = 1 },
	{ "moving bucket, old owner evacuated: unrecorded ACK -> new owner", .env = ENV_MOVE_EVAC,
	  .in = { TCP4(40112, MOVE4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-c", .svc = "move4" },
	{ "recorded flow on an evacuated unit is re-steered", .env = ENV_MOVE_EVAC,
	  .record_unit = "dc-a", .in = { TCP4(40113, MOVE4, 80, ACK) }, .verdict = V_FWD,
	  .unit = "dc-c", .svc = "move4", .resteered = 1 },
	{ "full flow table: SYN recorded", .in = { TCP4(40114, FULL4, 80, SYN) }, .verdict = V_FWD,
	  .unit = "dc-c", .svc = "full4", .new_flows = 1 },
	{ "full flow table: unrecorded ACK recorded too", .in = { TCP4(40115, FULL4, 80, ACK) },
	  .verdict = V_FWD, .unit = "dc-c", .svc = "full4", .new_flows = 1 },
	{ "full flow table: recorded flow stays", .setup = { SPEC(TCP4(40116, FULL4, 80, SYN)) },
	  .in = { TCP4(40116, FULL4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-c", .svc = "full4" },
	{ "full flow table: recorded on a unit evacuated since -> re-steered", .env = ENV_EVAC_C,
	  .setup_env = ENV_BASE, .setup = { SPEC(TCP4(40117, FULL4, 80, SYN)) },
	  .in = { TCP4(40117, FULL4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-d", .svc = "full4",
	  .resteered = 1 },
	{ "moving Maglev slot: unrecorded ACK -> old endpoint", .env = ENV_SLOT_MOVE,
	  .in = { TCP4(40118, ANY4, 80, ACK) }, .verdict = V_FWD, .unit = "dc-e", .svc = "any4",
	  .prev_endpoint = true },
	{ "moving Maglev slot: SYN -> new endpoint, recorded", .env = ENV_SLOT_MOVE,
	  .in = { TCP4(40119, ANY4, 80, SYN) }, .verdict = V_FWD, .unit = "dc-e", .svc = "any4",
	  .new_flows = 1 },
};

/* ---- decap ---- */
enum dkind {
	D_ROUNDTRIP, /* steer `orig` (base config), then decap the output */
	D_RAW, /* decap `in` as given */
};

struct dcase {
	const char *name;
	enum dkind kind;
	struct pkt_spec in;
	enum verdict verdict;
	enum cg_reason reason;
	const char *unit; /* roundtrip: the unit (endpoint) it must go through */
};

static const struct pkt_spec inner4 = { TCP4(40200, WEB4, 80, SYN) };
static const struct pkt_spec inner6 = { TCP6(40201, WEB6, 80, SYN) };
#define TUN4(dst_, proto_, q, qlen)                                                  \
	.ip = 4, .src = "198.18.250.7", .dst = dst_, .proto = proto_, .quote = q, \
	.quote_len = qlen
#define TUN6(dst_, proto_, q, qlen)                                                     \
	.ip = 6, .src = "2001:db8:250::7", .dst = dst_, .proto = proto_, .quote = q, \
	.quote_len = qlen

static const struct dcase dcases[] = {
	{ "decap round trip v4 in v4", D_ROUNDTRIP,
	  { TCP4(40210, WEB4, 80, SYN), .payload_len = 9 }, V_PASS, CG_R_DECAP_OK, "dc-a" },
	{ "decap round trip v6 in v6", D_ROUNDTRIP,
	  { TCP6(40211, WEB6, 80, PSHACK), .payload_len = 33, .n_ext = 1, .ext = { EXT(60) } },
	  V_PASS, CG_R_DECAP_OK, "dc-b" },
	{ "decap round trip v4 in v6", D_ROUNDTRIP,
	  { TCP4(40212, X46, 443, SYN), .opts = ip4_opts, .opts_len = sizeof(ip4_opts) }, V_PASS,
	  CG_R_DECAP_OK, "dc-b" },
	{ "decap round trip v6 in v4", D_ROUNDTRIP, { TCP6(40213, X64, 443, SYN), .tos = 0x20 },
	  V_PASS, CG_R_DECAP_OK, "dc-a" },
	{ "decap: not a tunnel (plain tcp)", D_RAW,
	  { .ip = 4, .src = C4, .dst = "198.18.1.2", .l4 = PKT_L4_TCP, .sport = 1, .dport = 2 },
	  V_PASS, CG_R_DECAP_NOT_TUNNEL },
	{ "decap: not a tunnel (ARP)", D_RAW,
	  { .ethertype = PKT_ETH_P_ARP, .payload = arp_req, .payload_len = sizeof(arp_req),
	    .pad = true },
	  V_PASS, CG_R_DECAP_NOT_TUNNEL },
	{ "decap: v6 tunnel behind an extension header is not ours", D_RAW,
	  { TUN6("2001:db8:2::2", 41, &inner6, 0), .n_ext = 1, .ext = { EXT(0) } }, V_PASS,
	  CG_R_DECAP_NOT_TUNNEL },
	{ "decap: ipip to a non-local address", D_RAW, { TUN4("198.18.9.9", 4, &inner4, 0) },
	  V_PASS, CG_R_DECAP_NOT_LOCAL },
	{ "decap: ip6ip6 to a non-local address", D_RAW, { TUN6("2001:db8:9::9", 41, &inner6, 0) },
	  V_PASS, CG_R_DECAP_NOT_LOCAL },
	{ "decap: ipip with a truncated inner header", D_RAW,
	  { TUN4("198.18.1.2", 4, &inner4, 10) }, V_DROP, CG_R_DECAP_BAD },
	{ "decap: ip6ip6 with a truncated inner header", D_RAW,
	  { TUN6("2001:db8:2::2", 41, &inner6, 30) }, V_DROP, CG_R_DECAP_BAD },
	{ "decap: ipip carrying IPv6 (wrong version)", D_RAW, { TUN4("198.18.1.2", 4, &inner6, 0) },
	  V_DROP, CG_R_DECAP_BAD },
	{ "decap: v4 outer, proto 41 carrying IPv4 (wrong version)", D_RAW,
	  { TUN4("198.18.1.2", 41, &inner4, 0) }, V_DROP, CG_R_DECAP_BAD },
};

/* ---- runtime state ---- */
struct prog {
	const char *name;
	int fd;
	bool xdp;
};

struct ctx {
	struct cg_steer *steer;
	struct cg_decap *decap;
	struct cg_dp *dp;
	struct cg_config cfgs[2]; /* config_json, config_redirect_json */
	const struct cg_config *cfg; /* the one published */
	bool have_redirect; /* cgt0 exists and cfgs[1] loaded */
	char no_redirect[160]; /* ... else why not */
	struct cg_tables *t; /* what is published */
	enum env env; /* ... built for this environment */
	struct prog progs[2];
	struct prog dprogs[2];
	int flows_fd, reasons_fd, unit_fd, svc_fd, ep_fd;
	__u8 lo_mac[6];
	const char *filter;
};

/* Per-case failure text. */
struct why {
	char prefix[64];
	char msg[1024];
	char dump[16384];
	size_t dlen;
};

static void why_set(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_set(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (w->msg[0])
		return; /* the first problem is the one to report */
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

static void why_diff(struct why *w, const struct pkt *exp, const struct pkt *got)
{
	FILE *f;

	if (w->dlen)
		return;
	f = fmemopen(w->dump, sizeof(w->dump) - 1, "w");
	if (!f)
		return;
	tl_hexdiff(f, exp->d, exp->len, got->d, got->len);
	fclose(f);
	w->dlen = strlen(w->dump);
}

static void why_dump(struct why *w, const char *title, const struct pkt *p)
{
	FILE *f;

	if (w->dlen)
		return;
	f = fmemopen(w->dump, sizeof(w->dump) - 1, "w");
	if (!f)
		return;
	tl_hexdump(f, title, p->d, p->len, -1);
	fclose(f);
	w->dlen = strlen(w->dump);
}

static void report(const struct ctx *c, const char *prog, const char *name, struct why *w)
{
	char full[512];

	snprintf(full, sizeof(full), "%s: %s", prog, name);
	if (!w->msg[0]) {
		tl_pass(full);
		return;
	}
	tl_fail(full, "%s%s", w->prefix, w->msg);
	if (w->dlen)
		fputs(w->dump, stdout);
}

/* ---- config helpers ---- */
static const struct cg_cfg_service *cfg_svc(const struct ctx *c, const char *name)
{
	for (int i = 0; i < c->cfg->n_services; i++)
		if (!strcmp(c->cfg->services[i].name, name))
			return &c->cfg->services[i];
	return NULL;
}

static const struct cg_cfg_endpoint *cfg_ep_by_addr(const struct ctx *c, int family,
						    const __be32 *addr, int *unit)
{
	for (int u = 0; u < c->cfg->n_units; u++)
		for (int e = 0; e < c->cfg->units[u].n_endpoints; e++) {
			const struct cg_cfg_endpoint *ep = &c->cfg->units[u].endpoints[e];

			if (ep->family == family &&
			    !memcmp(ep->addr, addr, family == CG_AF_INET ? 4 : 16)) {
				if (unit)
					*unit = u;
				return ep;
			}
		}
	return NULL;
}

/* ---- table helpers (ids the builder gave) ---- */
static int t_unit(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED &&
		    !strncmp(t->units[i].name, name, CG_NAME_LEN))
			return i;
	return -1;
}

static const struct cg_service *t_svc(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < t->n_services; i++)
		if (!strncmp(t->services[i].name, name, CG_NAME_LEN))
			return &t->services[i];
	return NULL;
}

static int t_endpoint(const struct cg_tables *t, int family, const __be32 *addr)
{
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++)
		if (t->endpoints[i].family == family &&
		    !memcmp(t->endpoints[i].daddr, addr, family == CG_AF_INET ? 4 : 16))
			return i;
	return -1;
}

static int set_state(struct cg_tables *t, const char *unit, int state)
{
	int u = t_unit(t, unit);

	if (u < 0)
		return -1;
	t->units[u].state = state;
	return 0;
}

/* Every bucket of the service moves away from `prev` (still live). */
static int set_moving(struct cg_tables *t, const char *svc, const char *prev)
{
	const struct cg_service *s = t_svc(t, svc);
	int p = t_unit(t, prev);

	if (!s || p < 0)
		return -1;
	for (__u32 b = 0; b < s->modulo; b++)
		t->buckets[s->bucket_base + b].prev_unit = p;
	return 0;
}

static int reassign(struct cg_tables *t)
{
	struct cg_errors errs = {};
	int err = cg_tables_reassign(t, &errs);

	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "reassign: %s\n", errs.msgs[i]);
	cg_errors_free(&errs);
	return err;
}

static int env_tweak(struct cg_tables *t, enum env env)
{
	int err = 0, u;

	switch (env) {
	case ENV_SAME:
	case ENV_BASE:
	case ENV_REDIRECT:
	case ENV_N:
		return 0;
	case ENV_EVAC_A:
		return set_state(t, "dc-a", CG_UNIT_EVACUATED) ?: reassign(t);
	case ENV_EVAC_AB:
		return set_state(t, "dc-a", CG_UNIT_EVACUATED) ?:
			       set_state(t, "dc-b", CG_UNIT_EVACUATED) ?: reassign(t);
	case ENV_EVAC_B:
		return set_state(t, "dc-b", CG_UNIT_EVACUATED) ?: reassign(t);
	case ENV_EVAC_C:
		return set_state(t, "dc-c", CG_UNIT_EVACUATED) ?: reassign(t);
	case ENV_MOVE:
	case ENV_MOVE_DRAIN:
	case ENV_MOVE_EVAC:
		err = set_moving(t, "move4", "dc-a") ?: set_moving(t, "move6", "dc-b") ?:
			      set_moving(t, "moveu", "dc-a") ?: set_moving(t, "moveun", "dc-a");
		if (err || env == ENV_MOVE)
			return err;
		/* not reassigned: the old owners' own buckets do not matter here */
		err = set_state(t, "dc-a", env == ENV_MOVE_DRAIN ? CG_UNIT_DRAINING :
								    CG_UNIT_EVACUATED);
		return err ?: set_state(t, "dc-b", env == ENV_MOVE_DRAIN ? CG_UNIT_DRAINING :
									   CG_UNIT_EVACUATED);
	case ENV_HOLES: {
		const struct cg_service *s = t_svc(t, "web4");

		u = t_unit(t, "dc-d");
		if (!s || u < 0)
			return -1;
		for (__u32 b = 0; b < s->modulo; b++)
			t->buckets[s->bucket_base + b].unit = CG_UNIT_NONE;
		for (int i = 0; i < CG_MAGLEV_SIZE; i++)
			t->maglev[(size_t)u * CG_MAGLEV_SIZE + i] =
				(struct cg_maglev_slot){ CG_EP_NONE, CG_EP_NONE };
		for (int i = 0; i < CG_MAX_ENDPOINTS; i++)
			if (t->endpoints[i].family != CG_AF_NONE && t->endpoints[i].unit == u)
				memset(&t->endpoints[i], 0, sizeof(t->endpoints[i]));
		t->units[u].n_endpoints = 0;
		return 0;
	}
	case ENV_SLOT_MOVE: {
		/* each slot's previous endpoint: the next endpoint of dc-e */
		int ids[8], n = 0;

		u = t_unit(t, "dc-e");
		if (u < 0)
			return -1;
		for (int i = 0; i < CG_MAX_ENDPOINTS && n < 8; i++)
			if (t->endpoints[i].family != CG_AF_NONE && t->endpoints[i].unit == u)
				ids[n++] = i;
		if (n < 2)
			return -1;
		for (int s = 0; s < CG_MAGLEV_SIZE; s++) {
			struct cg_maglev_slot *sl = &t->maglev[(size_t)u * CG_MAGLEV_SIZE + s];
			int k;

			for (k = 0; k < n && ids[k] != sl->endpoint; k++)
				;
			sl->prev_endpoint = ids[(k + 1) % n];
		}
		return 0;
	}
	}
	return 0;
}

static int publish_env(struct ctx *c, enum env env)
{
	struct cg_errors errs = {};
	int err;

	if (env == ENV_SAME)
		env = ENV_BASE;
	if (c->env == env)
		return 0;
	c->cfg = &c->cfgs[env == ENV_REDIRECT];
	err = cg_build_tables(c->cfg, NULL, INGRESS_IFINDEX, c->t, &errs);
	if (!err)
		err = env_tweak(c->t, env);
	if (!err)
		err = cg_publish(c->dp, c->t, &errs);
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s: %s\n", env_names[env], errs.msgs[i]);
	cg_errors_free(&errs);
	if (err) {
		fprintf(stderr, "cannot build/publish environment \"%s\" (%d)\n", env_names[env],
			err);
		c->env = ENV_SAME;
		return -1;
	}
	c->env = env;
	return 0;
}

/* ---- counters ---- */
struct snap {
	__u64 reasons[CG_R_MAX];
	struct cg_counters units[CG_MAX_UNITS];
	struct cg_counters svcs[CG_MAX_SERVICES];
	struct cg_counters eps[CG_MAX_ENDPOINTS];
	int flows;
};

static int count_flows(int fd)
{
	struct cg_flow_key k, next;
	int n = 0;
	void *prev = NULL;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static void clear_flows(int fd)
{
	struct cg_flow_key k;

	while (!bpf_map_get_next_key(fd, NULL, &k))
		if (bpf_map_delete_elem(fd, &k))
			break;
}

static void take_snap(const struct ctx *c, struct snap *s)
{
	__u64 w[5];

	memset(s, 0, sizeof(*s));
	for (__u32 r = 0; r < CG_R_MAX; r++) {
		cg_percpu_sum(c->reasons_fd, r, sizeof(struct cg_reason_count), w);
		s->reasons[r] = w[0];
	}
	for (__u32 u = 0; u < CG_MAX_UNITS; u++)
		if (c->t->units[u].state != CG_UNIT_UNUSED)
			cg_percpu_sum(c->unit_fd, u, sizeof(struct cg_counters),
				   (__u64 *)&s->units[u]);
	for (int i = 0; i < c->t->n_services; i++) {
		__u32 id = c->t->services[i].id;

		if (id < CG_MAX_SERVICES)
			cg_percpu_sum(c->svc_fd, id, sizeof(struct cg_counters),
				   (__u64 *)&s->svcs[id]);
	}
	for (__u32 e = 0; e < CG_MAX_ENDPOINTS; e++)
		if (c->t->endpoints[e].family != CG_AF_NONE)
			cg_percpu_sum(c->ep_fd, e, sizeof(struct cg_counters), (__u64 *)&s->eps[e]);
	s->flows = count_flows(c->flows_fd);
}

static const char *const reason_names[] = CG_REASON_NAMES;

/* What a forwarded packet must have counted. */
struct fwd_expect {
	int unit, svc_id, ep;
	__u64 bytes;
	int new_flows, resteered;
};

static void check_counters(const struct ctx *c, const struct snap *a, const struct snap *b,
			   enum cg_reason reason, const struct fwd_expect *f, struct why *w)
{
	static const char *const fields[] = { "packets", "bytes", "new_flows", "resteered",
					      "fenced" };

	for (int r = 0; r < CG_R_MAX; r++) {
		__u64 d = b->reasons[r] - a->reasons[r], want = r == (int)reason;

		if (d != want)
			why_set(w, "cg_reasons[%s] grew by %llu, expected %llu", reason_names[r],
				(unsigned long long)d, (unsigned long long)want);
	}
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		const __u64 *x = (const __u64 *)&a->units[u], *y = (const __u64 *)&b->units[u];
		__u64 want[5] = {};

		if (f && f->unit == u) {
			want[0] = 1;
			want[1] = f->bytes;
			want[2] = f->new_flows;
			want[3] = f->resteered;
		}
		for (int i = 0; i < 5; i++)
			if (y[i] - x[i] != want[i])
				why_set(w, "cg_unit_stats[%s].%s grew by %llu, expected %llu",
					c->t->units[u].name, fields[i],
					(unsigned long long)(y[i] - x[i]),
					(unsigned long long)want[i]);
	}
	for (int s = 0; s < CG_MAX_SERVICES; s++) {
		__u64 d = b->svcs[s].packets - a->svcs[s].packets;
		__u64 want = f && f->svc_id == s;

		if (d != want)
			why_set(w, "cg_service_stats[%d].packets grew by %llu, expected %llu", s,
				(unsigned long long)d, (unsigned long long)want);
	}
	for (int e = 0; e < CG_MAX_ENDPOINTS; e++) {
		__u64 d = b->eps[e].packets - a->eps[e].packets;
		__u64 want = f && f->ep == e;

		if (d != want)
			why_set(w, "cg_endpoint_stats[%d].packets grew by %llu, expected %llu", e,
				(unsigned long long)d, (unsigned long long)want);
	}
	if (b->flows - a->flows != (f ? f->new_flows : 0))
		why_set(w, "cg_flows entries grew by %d, expected %d", b->flows - a->flows,
			f ? f->new_flows : 0);
}

/* Names of the reasons that grew between two snapshots. */
static const char *grown_reasons(const struct snap *a, const struct snap *b)
{
	static char buf[256];
	size_t o = 0;

	buf[0] = 0;
	for (int r = 0; r < CG_R_MAX; r++)
		if (b->reasons[r] != a->reasons[r] && o < sizeof(buf) - 40)
			o += snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? "," : "",
				      reason_names[r]);
	return o ? buf : "nothing";
}

/* ---- running ---- */
static int run(const struct prog *pr, const struct pkt *in, struct pkt *out, __u32 *retval)
{
	struct xdp_md xctx = { .data_end = (__u32)in->len, .ingress_ifindex = INGRESS_IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = (__u32)in->len,
		    .data_out = out->d, .data_size_out = sizeof(out->d), .repeat = 1);
	int err;

	if (pr->xdp) {
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	}
	err = bpf_prog_test_run_opts(pr->fd, &o);
	if (err)
		return -errno;
	out->len = o.data_size_out;
	*retval = o.retval;
	return 0;
}

static __u32 verdict_code(const struct prog *pr, enum verdict v)
{
	switch (v) {
	case V_PASS:
		return pr->xdp ? XDP_PASS : TC_ACT_OK;
	case V_DROP:
		return pr->xdp ? XDP_DROP : TC_ACT_SHOT;
	case V_REDIRECT:
		return pr->xdp ? XDP_REDIRECT : TC_ACT_REDIRECT;
	case V_FWD:
		break;
	}
	return pr->xdp ? XDP_TX : TC_ACT_REDIRECT;
}

static const char *verdict_str(const struct prog *pr, __u32 code)
{
	static char buf[32];

	if (pr->xdp) {
		static const char *const x[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
						 "XDP_REDIRECT" };
		if (code < 5)
			return x[code];
	} else {
		switch (code) {
		case TC_ACT_OK:
			return "TC_ACT_OK";
		case TC_ACT_SHOT:
			return "TC_ACT_SHOT";
		case TC_ACT_REDIRECT:
			return "TC_ACT_REDIRECT";
		}
	}
	snprintf(buf, sizeof(buf), "%u", code);
	return buf;
}

/* The flow hash a packet must be steered by (docs/dataplane.md §2-3). */
static __u32 expect_hash(const struct ctx *c, const struct pkt_spec *s, enum hash_kind k)
{
	__be32 sa[4], da[4];
	int v6;

	if (k == H_ICMP) {
		const struct pkt_spec *q = s->quote;

		v6 = q->ip == 6;
		pkt_parse_addr(q->dst, sa); /* the client */
		pkt_parse_addr(q->src, da); /* the VIP */
		return cg_hash_flow(c->cfg->seed, v6, sa, da, htons(q->dport), htons(q->sport),
				    q->l4 == PKT_L4_TCP ? IPPROTO_TCP : IPPROTO_UDP);
	}
	v6 = s->ip == 6;
	pkt_parse_addr(s->src, sa);
	pkt_parse_addr(s->dst, da);
	if (k == H_L3)
		return cg_hash_l3(c->cfg->seed, v6, sa, da, s->proto ? s->proto : IPPROTO_UDP);
	return cg_hash_flow(c->cfg->seed, v6, sa, da, htons(s->sport), htons(s->dport),
			    s->l4 == PKT_L4_TCP ? IPPROTO_TCP : IPPROTO_UDP);
}

/* Unit index in the config the rules give for this packet, or -1 (drop). */
static int oracle_unit(const struct ctx *c, const struct cg_cfg_service *svc,
		       const struct pkt_spec *s, enum hash_kind hk, __u32 h)
{
	__u64 key = h;
	bool numeric = false;

	if (svc->kind != CG_KIND_CORE)
		return svc->kind == CG_KIND_SHARED ? c->cfg->local_unit : c->cfg->central_unit;
	if (svc->key_source == CG_KEY_CLIENT) {
		__be32 a[4];

		pkt_parse_addr(hk == H_ICMP ? s->quote->dst : s->src, a);
		key = cg_hash_addr(c->cfg->seed, s->ip == 6, a);
	} else if (svc->key_source == CG_KEY_PAYLOAD) {
		const __u8 *p = s->payload;

		if (hk != H_FLOW || !p ||
		    s->payload_len < (size_t)svc->key_offset + svc->key_size) {
			if (svc->key_missing == CG_MISSING_REJECT)
				return -1;
			if (svc->key_missing == CG_MISSING_CENTRAL)
				return c->cfg->central_unit;
		} else {
			key = 0;
			for (int i = 0; i < svc->key_size; i++)
				key = key << 8 | p[svc->key_offset + i];
			numeric = true;
		}
	}
	/* numeric keys: key % modulo; hashes: the division-free reduction */
	key = numeric ? cg_bucket_of_key(key, svc->modulo) : cg_bucket_of_hash(key, svc->modulo);
	for (int i = 0; i < svc->n_rules; i++)
		if (key >= svc->rules[i].first && key <= svc->rules[i].last)
			return svc->rules[i].unit;
	return -1;
}

static void outer_src(const struct ctx *c, int family, __u32 h, __be32 out[4])
{
	if (family == CG_AF_INET)
		pkt_outer_src4(c->cfg->src4, c->cfg->src4_len, h, out);
	else
		pkt_outer_src6(c->cfg->src6, c->cfg->src6_len, h, out);
}

static int if_mac(const char *name, __u8 mac[6]);

static int fam_of(int ipver)
{
	return ipver == 6 ? CG_AF_INET6 : CG_AF_INET;
}

/* Outer destination of a frame the steering program produced. */
static int frame_outer_dst(const struct pkt *p, __be32 dst[4])
{
	memset(dst, 0, 16);
	if (p->len >= 14 + 20 && p->d[12] == 0x08 && p->d[13] == 0x00) {
		memcpy(dst, p->d + 14 + 16, 4);
		return CG_AF_INET;
	}
	if (p->len >= 14 + 40 && p->d[12] == 0x86 && p->d[13] == 0xdd) {
		memcpy(dst, p->d + 14 + 24, 16);
		return CG_AF_INET6;
	}
	return CG_AF_NONE;
}

/* Sanity of a forwarded frame, for a clearer message than a byte diff. */
/* The input's Ethernet padding (bytes after its IP packet) rides behind the
 * inner packet unchanged: docs/dataplane.md §5. */
static void check_outer(const struct pkt *got, const __u8 *ip, size_t ip_len, size_t pad,
			struct why *w)
{
	size_t hl;

	if (got->len < 14 + 20) {
		why_set(w, "output of %zu bytes is too short for an encapsulated frame", got->len);
		return;
	}
	if (got->d[12] == 0x08 && got->d[13] == 0x00) {
		hl = 20;
		if (!pkt_ipv4_csum_ok(got->d + 14, got->len - 14))
			why_set(w, "outer IPv4 header checksum is invalid");
		if (got->d[14 + 8] != CG_OUTER_TTL)
			why_set(w, "outer TTL %u, expected %u", got->d[14 + 8], CG_OUTER_TTL);
	} else if (got->d[12] == 0x86 && got->d[13] == 0xdd) {
		hl = 40;
		if (got->d[14 + 7] != CG_OUTER_TTL)
			why_set(w, "outer hop limit %u, expected %u", got->d[14 + 7], CG_OUTER_TTL);
	} else {
		why_set(w, "output EtherType %02x%02x is not IPv4/IPv6 (VLAN tag left?)",
			got->d[12], got->d[13]);
		return;
	}
	if (got->len < 14 + hl + ip_len || memcmp(got->d + 14 + hl, ip, ip_len))
		why_set(w, "inner packet not the original byte for byte");
	if (got->len != 14 + hl + ip_len + pad)
		why_set(w, "%zu bytes after the inner packet, the input had %zu of padding",
			got->len - 14 - hl - ip_len, pad);
	else if (pad && memcmp(got->d + 14 + hl + ip_len, ip + ip_len, pad))
		why_set(w, "the padding after the inner packet is not the input's");
}

/*
 * Check one forwarded output. `ref_ep` >= 0: the endpoint id the packet
 * must share with its reference. Fills *f for the counter check.
 */
static void check_forward(const struct ctx *c, const struct tcase *tc, const struct pkt_spec *s,
			  const struct pkt *in, const struct pkt *got, int ref_ep,
			  struct fwd_expect *f, struct why *w)
{
	const struct cg_cfg_service *svc = cfg_svc(c, tc->svc);
	const struct cg_service *tsvc = t_svc(c->t, tc->svc);
	const struct cg_cfg_endpoint *cep;
	const char *unit_name = tc->unit;
	struct pkt exp;
	struct pkt_encap e = {};
	size_t ip_off, ip_len, pad;
	char addr[64];
	__be32 dst[4];
	int uid, epid, fam, cu;
	__u32 h;

	if (!svc || !tsvc) {
		why_set(w, "test bug or builder bug: service %s not in the config/tables", tc->svc);
		return;
	}
	h = expect_hash(c, s, tc->hash);
	if (!unit_name) {
		cu = oracle_unit(c, svc, s, tc->hash, h);
		if (cu < 0) {
			why_set(w, "test bug: the rules give no unit");
			return;
		}
		unit_name = c->cfg->units[cu].name;
	}
	if (tc->avoid && !strcmp(unit_name, tc->avoid)) {
		/* any serving unit but the evacuated one: learn it from the output */
		fam = frame_outer_dst(got, dst);
		epid = fam ? t_endpoint(c->t, fam, dst) : -1;
		if (epid < 0) {
			why_set(w, "output goes to no known endpoint");
			return;
		}
		uid = c->t->endpoints[epid].unit;
		if (!strcmp(c->t->units[uid].name, tc->avoid) ||
		    c->t->units[uid].state != CG_UNIT_SERVING) {
			why_set(w, "sent to %s (state %u), expected a serving unit other than %s",
				c->t->units[uid].name, c->t->units[uid].state, tc->avoid);
			return;
		}
	} else {
		const struct cg_maglev_slot *sl;

		uid = t_unit(c->t, unit_name);
		if (uid < 0) {
			why_set(w, "builder bug: unit %s not in the tables", unit_name);
			return;
		}
		sl = &c->t->maglev[(size_t)uid * CG_MAGLEV_SIZE + cg_slot_of(h, CG_MAGLEV_SIZE)];
		epid = tc->prev_endpoint ? sl->prev_endpoint : sl->endpoint;
		if (epid >= CG_MAX_ENDPOINTS || c->t->endpoints[epid].unit != uid) {
			why_set(w, "builder bug: Maglev slot of %s names endpoint %d", unit_name,
				epid);
			return;
		}
	}
	if (ref_ep >= 0 && ref_ep != epid) {
		why_set(w, "reference packet went to endpoint %d, this one is expected at %d "
			   "(Maglev slot of h=%08x)", ref_ep, epid, h);
		return;
	}
	fam = c->t->endpoints[epid].family;
	cep = cfg_ep_by_addr(c, fam, c->t->endpoints[epid].daddr, &cu);
	if (!cep || strcmp(c->cfg->units[cu].name, c->t->units[uid].name)) {
		why_set(w, "builder bug: endpoint %d is not an endpoint of %s in the config", epid,
			c->t->units[uid].name);
		return;
	}

	memcpy(e.dmac, cep->mac, 6);
	if (cep->dev[0] ? if_mac(cep->dev, e.smac) : (memcpy(e.smac, c->lo_mac, 6), 0)) {
		why_set(w, "test bug: no MAC for %s", cep->dev);
		return;
	}
	e.family = fam == CG_AF_INET ? 4 : 6;
	memcpy(e.daddr, cep->addr, 16);
	outer_src(c, fam, h, e.saddr);
	e.hash = h;
	if (pkt_frame_ip(in->d, in->len, &ip_off, &ip_len) < 0 ||
	    pkt_expect_encap(&e, in->d + ip_off, ip_len, &exp)) {
		why_set(w, "test bug: cannot build the expected frame");
		return;
	}
	pad = in->len - ip_off - ip_len;
	if (exp.len + pad <= sizeof(exp.d)) {
		memcpy(exp.d + exp.len, in->d + ip_off + ip_len, pad);
		exp.len += pad;
	}
	/* first the destination, then every forwarded frame's outer header
	 * (checksum, TTL 64, inner untouched), then the exact bytes */
	pkt_format_addr(e.family, e.daddr, addr, sizeof(addr));
	fam = frame_outer_dst(got, dst);
	if (fam != fam_of(e.family) || memcmp(dst, e.daddr, 16)) {
		char gaddr[64];
		int gep = fam ? t_endpoint(c->t, fam, dst) : -1;

		pkt_format_addr(fam == CG_AF_INET6 ? 6 : 4, dst, gaddr, sizeof(gaddr));
		why_set(w, "sent to %s endpoint %s, expected %s endpoint %s (h=%08x)",
			gep >= 0 ? c->t->units[c->t->endpoints[gep].unit].name : "no unit's", gaddr,
			c->t->units[uid].name, addr, h);
	}
	check_outer(got, in->d + ip_off, ip_len, pad, w);
	if (tl_first_diff(exp.d, exp.len, got->d, got->len) >= 0) {
		why_set(w, "output differs from the expected encapsulation to %s endpoint %s "
			   "(h=%08x)", c->t->units[uid].name, addr, h);
		why_diff(w, &exp, got);
	}
	f->unit = uid;
	f->svc_id = (int)tsvc->id;
	f->ep = epid;
	f->bytes = in->len;
	f->new_flows = tc->new_flows;
	f->resteered = tc->resteered;
}

/* Insert a cg_flows record of the packet's flow, to `unit`'s first endpoint. */
static int insert_record(const struct ctx *c, const struct tcase *tc, const struct pkt_spec *s)
{
	struct cg_flow_key k = {};
	struct cg_flow v = {};
	const struct cg_service *svc = t_svc(c->t, tc->svc);
	int u = t_unit(c->t, tc->record_unit), e;

	if (u < 0 || !svc)
		return -1;
	for (e = 0; e < CG_MAX_ENDPOINTS; e++)
		if (c->t->endpoints[e].family != CG_AF_NONE && c->t->endpoints[e].unit == u)
			break;
	if (e == CG_MAX_ENDPOINTS)
		return -1;
	k.family = s->ip == 6 ? CG_AF_INET6 : CG_AF_INET;
	pkt_parse_addr(s->src, k.saddr);
	pkt_parse_addr(s->dst, k.daddr);
	k.sport = htons(s->sport);
	k.dport = htons(s->dport);
	k.proto = s->l4 == PKT_L4_TCP ? IPPROTO_TCP : IPPROTO_UDP;
	v.unit = u;
	v.endpoint = e;
	v.service_id = svc->id;
	return bpf_map_update_elem(c->flows_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* One packet of a row through one program. */
static void run_one(struct ctx *c, const struct prog *pr, const struct tcase *tc,
		    const struct pkt_spec *s, struct why *w)
{
	struct pkt in, out, tmp;
	struct snap *a = NULL, *b = NULL;
	struct fwd_expect f = {}, *fp = NULL;
	bool fwd = tc->verdict == V_FWD || tc->verdict == V_REDIRECT;
	int ref_ep = -1, err;
	__u32 ret;

	if (publish_env(c, tc->setup_env ? tc->setup_env : tc->env)) {
		why_set(w, "cannot publish the setup environment");
		return;
	}
	clear_flows(c->flows_fd);
	for (int i = 0; i < 2 && tc->setup[i]; i++) {
		if (pkt_build(tc->setup[i], &in) || run(pr, &in, &tmp, &ret)) {
			why_set(w, "setup packet %d failed to run", i);
			return;
		}
		if (ret != verdict_code(pr, V_FWD)) {
			why_set(w, "setup packet %d: %s, expected it forwarded", i,
				verdict_str(pr, ret));
			return;
		}
	}
	if (publish_env(c, tc->env)) {
		why_set(w, "cannot publish the environment");
		return;
	}
	if (tc->record_unit && insert_record(c, tc, s)) {
		why_set(w, "cannot insert the flow record");
		return;
	}
	if (tc->same_as) {
		struct tcase ref = *tc;
		struct fwd_expect rf = {};
		struct why rw = {};

		if (pkt_build(tc->same_as, &in) || run(pr, &in, &tmp, &ret)) {
			why_set(w, "reference packet failed to run");
			return;
		}
		if (ret != verdict_code(pr, V_FWD)) {
			why_set(w, "reference packet: %s, expected it forwarded",
				verdict_str(pr, ret));
			return;
		}
		ref.hash = tc->hash == H_ICMP ? H_FLOW : tc->hash; /* the client's own flow */
		ref.same_as = NULL;
		check_forward(c, &ref, tc->same_as, &in, &tmp, -1, &rf, &rw);
		if (rw.msg[0]) {
			why_set(w, "reference packet: %s", rw.msg);
			return;
		}
		ref_ep = rf.ep;
	}

	if (pkt_build(s, &in)) {
		why_set(w, "test bug: cannot build the packet");
		return;
	}
	a = malloc(sizeof(*a));
	b = malloc(sizeof(*b));
	if (!a || !b) {
		why_set(w, "out of memory");
		goto out;
	}
	take_snap(c, a);
	err = run(pr, &in, &out, &ret);
	if (err) {
		why_set(w, "BPF_PROG_TEST_RUN failed: %s", strerror(-err));
		goto out;
	}
	take_snap(c, b);

	if (ret != verdict_code(pr, tc->verdict)) {
		why_set(w, "verdict %s (counted %s), expected %s", verdict_str(pr, ret),
			grown_reasons(a, b), verdict_str(pr, verdict_code(pr, tc->verdict)));
		why_dump(w, fwd ? "output" : "input", fwd ? &out : &in);
	}
	if (tc->verdict == V_PASS && tl_first_diff(in.d, in.len, out.d, out.len) >= 0) {
		why_set(w, "passed frame was modified");
		why_diff(w, &in, &out);
	}
	if (fwd && ret == verdict_code(pr, tc->verdict)) {
		check_forward(c, tc, s, &in, &out, ref_ep, &f, w);
		fp = &f;
	}
	if (!fwd || fp)
		check_counters(c, a, b, fwd ? CG_R_FORWARDED : tc->reason, fp, w);
out:
	free(a);
	free(b);
}

static void run_case(struct ctx *c, const struct prog *pr, const struct tcase *tc)
{
	struct why w = {};
	int n = tc->sweep ? tc->sweep : 1;

	if (tc->env == ENV_REDIRECT && !c->have_redirect) {
		char full[512];

		snprintf(full, sizeof(full), "%s: %s", pr->name, tc->name);
		tl_skip(full, "%s", c->no_redirect);
		return;
	}
	for (int i = 0; i < n && !w.msg[0]; i++) {
		struct pkt_spec s = tc->in;

		s.sport = (__u16)(s.sport + i);
		run_one(c, pr, tc, &s, &w);
		if (w.msg[0] && n > 1)
			snprintf(w.prefix, sizeof(w.prefix), "flow %d (sport %u): ", i, s.sport);
	}
	report(c, pr->name, tc->name, &w);
}

/* ---- decap ---- */
static void decap_reasons(const struct ctx *c, __u64 out[CG_R_MAX])
{
	int fd = bpf_map__fd(c->decap->maps.cg_decap_reasons);
	__u64 w[2];

	for (__u32 r = 0; r < CG_R_MAX; r++) {
		cg_percpu_sum(fd, r, sizeof(struct cg_reason_count), w);
		out[r] = w[0];
	}
}

static void run_dcase(struct ctx *c, int k, const struct dcase *dc)
{
	const struct prog *sp = &c->progs[k], *dp = &c->dprogs[k];
	struct pkt orig, in, out, exp;
	__u64 a[CG_R_MAX], b[CG_R_MAX];
	struct why w = {};
	__u32 ret;
	int err;

	if (pkt_build(&dc->in, &orig)) {
		why_set(&w, "test bug: cannot build the packet");
		goto done;
	}
	exp = orig;
	in = orig;
	if (dc->kind == D_ROUNDTRIP) {
		const struct cg_cfg_unit *u = NULL;
		size_t off, len;

		if (publish_env(c, ENV_BASE)) {
			why_set(&w, "cannot publish");
			goto done;
		}
		err = run(sp, &orig, &in, &ret);
		if (err || ret != verdict_code(sp, V_FWD)) {
			why_set(&w, "steering did not forward it (%s)",
				err ? strerror(-err) : verdict_str(sp, ret));
			goto done;
		}
		for (int i = 0; i < c->cfg->n_units; i++)
			if (!strcmp(c->cfg->units[i].name, dc->unit))
				u = &c->cfg->units[i];
		/* received Ethernet addresses, inner EtherType, original packet */
		pkt_frame_ip(orig.d, orig.len, &off, &len);
		memcpy(exp.d, u->endpoints[0].mac, 6);
		memcpy(exp.d + 6, c->lo_mac, 6);
		exp.d[12] = orig.d[off] >> 4 == 6 ? 0x86 : 0x08;
		exp.d[13] = orig.d[off] >> 4 == 6 ? 0xdd : 0x00;
		memmove(exp.d + 14, orig.d + off, len);
		exp.len = 14 + len;
	}
	decap_reasons(c, a);
	err = run(dp, &in, &out, &ret);
	if (err) {
		why_set(&w, "BPF_PROG_TEST_RUN failed: %s", strerror(-err));
		goto done;
	}
	decap_reasons(c, b);
	if (ret != verdict_code(dp, dc->verdict)) {
		why_set(&w, "verdict %s, expected %s", verdict_str(dp, ret),
			verdict_str(dp, verdict_code(dp, dc->verdict)));
		why_dump(&w, "input", &in);
	}
	if (dc->verdict == V_PASS && tl_first_diff(exp.d, exp.len, out.d, out.len) >= 0) {
		why_set(&w, "%s", dc->kind == D_ROUNDTRIP ?
					  "decapsulated frame is not the original packet" :
					  "passed frame was modified");
		why_diff(&w, &exp, &out);
	}
	for (int r = 0; r < CG_R_MAX; r++) {
		__u64 want = r == (int)dc->reason;

		if (b[r] - a[r] != want)
			why_set(&w, "cg_decap_reasons[%s] grew by %llu, expected %llu",
				reason_names[r], (unsigned long long)(b[r] - a[r]),
				(unsigned long long)want);
	}
done:
	report(c, dp->name, dc->name, &w);
}

static int add_decap_addr(struct ctx *c, const char *addr)
{
	struct cg_decap_key k = {};
	__u32 one = 1;
	int fam = pkt_parse_addr(addr, k.addr);

	k.family = fam == 6 ? CG_AF_INET6 : CG_AF_INET;
	return bpf_map_update_elem(bpf_map__fd(c->decap->maps.cg_decap_addrs), &k, &one, BPF_ANY);
}

/* ---- the builder itself: every complete input has valid checksums ---- */
static void check_builder(const struct ctx *c)
{
	const char *name = "builder: IPv4 and L4 checksums of the inputs";
	struct why w = {};
	int n = 0;

	if (c->filter && !strstr(name, c->filter))
		return;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct pkt_spec *s = &cases[i].in;
		size_t off, len;
		struct pkt p;
		int v, l4;

		if (s->trunc || s->l4_len || s->tot_len || s->ihl || s->version || s->doff ||
		    s->mf || s->frag_off || s->n_ext || !s->ip)
			continue; /* deliberately broken, or a fragment */
		if (pkt_build(s, &p) || (v = pkt_frame_ip(p.d, p.len, &off, &len)) < 0) {
			why_set(&w, "%s: cannot build", cases[i].name);
			break;
		}
		if (v == 4 && !pkt_ipv4_csum_ok(p.d + off, len))
			why_set(&w, "%s: IPv4 header checksum", cases[i].name);
		l4 = pkt_l4_csum_ok(p.d + off, len);
		if (l4 == 0 || (l4 < 0 && s->l4 != PKT_L4_NONE))
			why_set(&w, "%s: L4 checksum %s", cases[i].name, l4 ? "not found" : "invalid");
		n++;
	}
	if (!n)
		why_set(&w, "no input checked");
	report(c, "pkt", name, &w);
}

/* ---- nothing published ---- */
static void no_config_one(const struct ctx *c, const struct prog *pr, struct cg_steer *fresh,
			  const struct pkt_spec *spec, const char *name)
{
	struct pkt in, out;
	struct why w = {};
	__u64 v[2], before;
	__u32 ret;
	int fd;

	if (!fresh) {
		why_set(&w, "cannot load a fresh steering object");
		goto done;
	}
	fd = bpf_map__fd(fresh->maps.cg_reasons);
	pkt_build(spec, &in);
	cg_percpu_sum(fd, CG_R_NO_CONFIG, sizeof(struct cg_reason_count), v);
	before = v[0];
	if (run(pr, &in, &out, &ret)) {
		why_set(&w, "BPF_PROG_TEST_RUN failed");
		goto done;
	}
	cg_percpu_sum(fd, CG_R_NO_CONFIG, sizeof(struct cg_reason_count), v);
	if (ret != verdict_code(pr, V_PASS))
		why_set(&w, "verdict %s, expected %s", verdict_str(pr, ret),
			verdict_str(pr, verdict_code(pr, V_PASS)));
	if (tl_first_diff(in.d, in.len, out.d, out.len) >= 0) {
		why_set(&w, "passed frame was modified");
		why_diff(&w, &in, &out);
	}
	if (v[0] - before != 1)
		why_set(&w, "cg_reasons[no_config] grew by %llu, expected 1",
			(unsigned long long)(v[0] - before));
done:
	report(c, pr->name, name, &w);
}

static void run_no_config(struct ctx *c)
{
	static const struct pkt_spec specs[] = {
		{ TCP4(40300, WEB4, 80, SYN) },
		{ UDP6(40301, DNS6, 53), .payload_len = 4 },
	};
	static const char *const names[] = { "nothing published: v4 passes, no_config",
					     "nothing published: v6 passes, no_config" };
	/* a second object: its cg_root was never written */
	struct cg_steer *fresh = cg_steer__open_and_load();

	for (int k = 0; k < 2; k++) {
		struct prog pr = c->progs[k];

		if (fresh)
			pr.fd = bpf_program__fd(k ? fresh->progs.cg_steer_tc :
						    fresh->progs.cg_steer_xdp);
		for (int i = 0; i < 2; i++)
			if (!c->filter || strstr(names[i], c->filter))
				no_config_one(c, &pr, fresh, &specs[i], names[i]);
	}
	cg_steer__destroy(fresh);
}

static int if_mac(const char *name, __u8 mac[6])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	err = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (err)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static bool bpf_usable(char *why, size_t len)
{
	int fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);

	if (fd < 0) {
		snprintf(why, len, "cannot create a BPF map: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

int main(int argc, char **argv)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct cg_errors errs = {};
	char why[256];
	int err;

	if (!c)
		return 1;
	c->filter = argc > 1 ? argv[1] : NULL;
	if (!tl_require_root(PROG))
		return 0;
	if (!bpf_usable(why, sizeof(why))) {
		tl_skip(PROG, "%s", why);
		return 0;
	}
	/* Nothing here sends a packet, but ingress_ifindex 1 and the tc test
	 * run use the current namespace's lo: make it a private one. */
	if (unshare(CLONE_NEWNET)) {
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s; using this namespace's lo\n",
			PROG, strerror(errno));
		snprintf(c->no_redirect, sizeof(c->no_redirect),
			 "no private network namespace for %s", TX_DEV);
	} else if (system("ip link add " TX_DEV " type veth peer name " TX_PEER
			  " >/dev/null 2>&1 && ip link set " TX_DEV " up && ip link set " TX_PEER
			  " up")) {
		snprintf(c->no_redirect, sizeof(c->no_redirect),
			 "cannot create the veth pair %s/%s in a private namespace", TX_DEV,
			 TX_PEER);
	}
	{
		char lo[IF_NAMESIZE];

		if (!if_indextoname(INGRESS_IFINDEX, lo) || if_mac(lo, c->lo_mac))
			memset(c->lo_mac, 0, 6);
	}

	if (cg_config_load_string(config_json, &c->cfgs[0], &errs)) {
		for (int i = 0; i < errs.n; i++)
			tl_fail(PROG, "config: %s", errs.msgs[i]);
		cg_errors_free(&errs);
		return 1;
	}
	c->cfg = &c->cfgs[0];
	if (!c->no_redirect[0]) {
		if (cg_config_load_string(config_redirect_json, &c->cfgs[1], &errs)) {
			for (int i = 0; i < errs.n; i++)
				tl_fail(PROG, "redirect config: %s", errs.msgs[i]);
			cg_errors_free(&errs);
			return 1;
		}
		c->have_redirect = true;
	}
	c->steer = cg_steer__open_and_load();
	c->decap = cg_decap__open_and_load();
	if (!c->steer || !c->decap) {
		tl_fail(PROG, "cannot load the %s programs (verifier log above)",
			!c->steer ? "steering" : "decap");
		return 1;
	}
	err = cg_dp_from_object(c->steer->obj, &c->dp);
	if (!err)
		err = cg_tables_alloc(&c->t,
				      bpf_map__max_entries(c->steer->maps.cg_buckets) / CG_BANKS);
	if (err) {
		tl_fail(PROG, "cannot open the dataplane maps: %s", strerror(-err));
		return 1;
	}
	c->progs[0] = (struct prog){ "xdp", bpf_program__fd(c->steer->progs.cg_steer_xdp), true };
	c->progs[1] = (struct prog){ "tc", bpf_program__fd(c->steer->progs.cg_steer_tc), false };
	c->dprogs[0] = (struct prog){ "xdp", bpf_program__fd(c->decap->progs.cg_decap_xdp), true };
	c->dprogs[1] = (struct prog){ "tc", bpf_program__fd(c->decap->progs.cg_decap_tc), false };
	c->flows_fd = bpf_map__fd(c->steer->maps.cg_flows);
	c->reasons_fd = bpf_map__fd(c->steer->maps.cg_reasons);
	c->unit_fd = bpf_map__fd(c->steer->maps.cg_unit_stats);
	c->svc_fd = bpf_map__fd(c->steer->maps.cg_service_stats);
	c->ep_fd = bpf_map__fd(c->steer->maps.cg_endpoint_stats);
	if (add_decap_addr(c, "198.18.1.2") || add_decap_addr(c, "2001:db8:2::2")) {
		tl_fail(PROG, "cannot fill cg_decap_addrs: %s", strerror(errno));
		return 1;
	}

	check_builder(c);
	run_no_config(c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		for (int k = 0; k < 2; k++)
			if ((!c->filter || strstr(cases[i].name, c->filter)) &&
			    (c->progs[k].xdp || !cases[i].xdp_only))
				run_case(c, &c->progs[k], &cases[i]);
	for (size_t i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++)
		for (int k = 0; k < 2; k++)
			if (!c->filter || strstr(dcases[i].name, c->filter))
				run_dcase(c, k, &dcases[i]);

	cg_tables_free(c->t);
	cg_dp_close(c->dp);
	cg_decap__destroy(c->decap);
	cg_steer__destroy(c->steer);
	cg_config_free(&c->cfgs[0]);
	if (c->have_redirect)
		cg_config_free(&c->cfgs[1]);
	free(c);
	return tl_exit_code();
}
