/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet builder and checkers for the dataplane tests and benchmarks.
 *
 * A frame is described declaratively by a struct pkt_spec (so test cases
 * can be table rows) and composed layer by layer, innermost first:
 * L4 (+ payload, or a quoted packet for ICMP errors), then its checksum,
 * then the IP header(s) with lengths and checksum, then VLAN tags and
 * Ethernet, then padding and truncation. Everything not set takes a sane
 * default, so a row only names what it is about.
 *
 * Addresses are strings (inet_pton); tests use only 198.18.0.0/15 and
 * 2001:db8::/32.
 */
#ifndef CG_PKT_H
#define CG_PKT_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#define PKT_MAX 4096 /* test-run frames stay below one page */
#define PKT_MAX_VLAN 3 /* one more than the dataplane accepts */
#define PKT_MAX_EXT 8 /* two more than CG_MAX_IPV6_EXT */
#define PKT_MIN_FRAME 60 /* Ethernet minimum without FCS */

#define PKT_ETH_P_IP 0x0800
#define PKT_ETH_P_IPV6 0x86dd
#define PKT_ETH_P_ARP 0x0806
#define PKT_ETH_P_8021Q 0x8100
#define PKT_ETH_P_8021AD 0x88a8

struct pkt {
	size_t len;
	__u8 d[PKT_MAX];
};

enum pkt_l4 {
	PKT_L4_NONE = 0, /* payload right after the IP header (proto from .proto) */
	PKT_L4_TCP,
	PKT_L4_UDP,
	PKT_L4_ICMP, /* ICMP for IPv4, ICMPv6 for IPv6 */
};

#define PKT_TCP_FIN 0x01
#define PKT_TCP_SYN 0x02
#define PKT_TCP_RST 0x04
#define PKT_TCP_PSH 0x08
#define PKT_TCP_ACK 0x10

/* IPv6 extension header, chained in order before the L4 header. */
struct pkt_ext {
	__u8 type; /* 0 hop-by-hop, 43 routing, 44 fragment, 51 AH, 60 dest opts */
	__u8 len; /* Hdr Ext Len field (AH: in 4-byte units minus 2); 0 = minimum */
	__u16 frag_off; /* fragment: offset in 8-byte units */
	bool mf; /* fragment: more fragments */
	__u32 frag_id;
};

struct pkt_spec {
	/* Ethernet; NULL MACs default to 02:00:00:00:ee:01 (dst) and :02 (src). */
	const char *dmac;
	const char *smac;
	int n_vlan;
	__u16 vlan_tpid[PKT_MAX_VLAN]; /* 0 = 0x8100 */
	__u16 vlan_tci[PKT_MAX_VLAN];
	__u16 ethertype; /* 0 = from .ip; ARP etc. for .ip == 0 */
	bool no_eth; /* build the IP packet only (ICMP quotes) */

	/* IP: 4, 6, or 0 for no IP header (the payload follows Ethernet). */
	int ip;
	const char *src;
	const char *dst;
	__u8 tos; /* IPv4 TOS / IPv6 traffic class */
	__u8 ttl; /* TTL / hop limit, 0 = 64 */
	__u8 proto; /* 0 = from .l4 */
	int version; /* 0 = .ip; otherwise written as is (bad-version cases) */
	/* IPv4 */
	__u16 id;
	bool df;
	bool mf;
	__u16 frag_off; /* in 8-byte units */
	const __u8 *opts; /* IPv4 options, opts_len a multiple of 4 */
	size_t opts_len;
	int ihl; /* 0 = computed; otherwise written as is */
	int tot_len; /* 0 = computed; otherwise written as is (IPv6: payload_len) */
	/* IPv6 */
	__u32 flow_label;
	int n_ext;
	struct pkt_ext ext[PKT_MAX_EXT];

	/* L4 */
	enum pkt_l4 l4;
	__u16 sport;
	__u16 dport;
	__u8 tcp_flags; /* 0 = ACK */
	__u32 seq;
	__u32 ack_seq;
	const __u8 *tcp_opts; /* multiple of 4 bytes */
	size_t tcp_opts_len;
	int doff; /* 0 = computed; otherwise written as is (in 32-bit words) */
	__u8 icmp_type;
	__u8 icmp_code;
	__u32 icmp_info; /* rest of header: MTU for frag-needed / packet-too-big */
	const struct pkt_spec *quote; /* ICMP error: the quoted IP packet; PKT_L4_NONE:
				       * an encapsulated packet before the payload */
	size_t quote_len; /* bytes of the quote kept, 0 = all */
	int l4_len; /* >0: cut the L4 segment to this many bytes before the IP
		     * lengths are computed (a consistent packet with a short L4) */

	/* Payload: explicit bytes, else payload_len bytes of a counting pattern. */
	const __u8 *payload;
	size_t payload_len;

	/* Frame: pad to 60 bytes, then cut to trunc bytes (lengths unchanged). */
	bool pad;
	__u8 pad_byte;
	size_t trunc;
};

/* Build the frame (or the bare IP packet with .no_eth). 0, or -1 with a
 * message on stderr for an impossible spec. */
int pkt_build(const struct pkt_spec *s, struct pkt *out);

/* Parse helpers. */
int pkt_parse_mac(const char *str, __u8 mac[6]);
/* Address string to 4 words (IPv4 in addr[0]); returns 4, 6 or -1. */
int pkt_parse_addr(const char *str, __be32 addr[4]);
void pkt_format_addr(int family, const __be32 addr[4], char *buf, size_t len);

/* Locate the IP packet in an Ethernet frame (after up to PKT_MAX_VLAN
 * tags): offset and length per tot_len / payload_len, so Ethernet padding
 * is excluded. Returns 4 or 6, or -1 if there is none. */
int pkt_frame_ip(const __u8 *frame, size_t len, size_t *ip_off, size_t *ip_len);

/* Checksums. */
__u16 pkt_csum_fold(__u32 sum);
__u32 pkt_csum_add(__u32 sum, const void *data, size_t len);
/* IPv4 header checksum over ihl*4 bytes is valid. */
bool pkt_ipv4_csum_ok(const __u8 *ip, size_t len);
/* The TCP/UDP/ICMP/ICMPv6 checksum of an IP packet is valid (IPv6
 * extension headers are skipped; the packet must be complete).
 * Returns 1 valid, 0 invalid, -1 no checksummed L4 found. */
int pkt_l4_csum_ok(const __u8 *ip, size_t len);

/* The expected output of the steering program (docs/dataplane.md §5). */
struct pkt_encap {
	__u8 dmac[6]; /* endpoint next hop */
	__u8 smac[6]; /* egress interface */
	int family; /* outer family: 4 or 6 */
	__be32 saddr[4]; /* outer source (see pkt_outer_src*) */
	__be32 daddr[4]; /* tunnel destination */
	__u32 hash; /* flow hash: IPv6 flow label */
};

/* Ethernet (no VLAN) + outer header + ip[0..ip_len) byte for byte. */
int pkt_expect_encap(const struct pkt_encap *e, const __u8 *ip, size_t ip_len, struct pkt *out);

/* Outer sources: the prefix with its host bits taken from the low bits of
 * the flow hash (as numbers, so every CPU agrees); IPv6 varies the last
 * word only. */
__be32 pkt_prefix_hostmask4(int plen);
__be32 pkt_prefix_hostmask6(int plen); /* plen >= 96 */
void pkt_outer_src4(__be32 prefix, int plen, __u32 h, __be32 out[4]);
void pkt_outer_src6(const __be32 prefix[4], int plen, __u32 h, __be32 out[4]);

/* What the decap program must give back: the received Ethernet addresses,
 * EtherType of the inner family, then the inner packet. */
int pkt_expect_decap(const __u8 *encap_frame, size_t len, struct pkt *out);

/* Write frames as a pcap file (LINKTYPE_ETHERNET), for tcpdump -r. */
int pkt_write_pcap(const char *path, const struct pkt *const *pkts, int n);

#endif /* CG_PKT_H */
