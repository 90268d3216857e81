/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Expected answers of the steering program to new flows on a fenced bucket
 * with the reject action (issue 3, bpf/reject.h), built independently from
 * the received frame: the reply goes back out of the interface it came in
 * on, so the Ethernet addresses are swapped and the VLAN tags (if any) are
 * kept as they were; the IP header is a fresh one (no options, no IPv6
 * extension headers) from the VIP to the client.
 *
 *  - TCP SYN: RST|ACK, seq 0, ack = SYN's seq + 1 + its payload bytes
 *    (RFC 9293 §3.10.7.1: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>),
 *    window 0, no options.
 *  - UDP: ICMP destination unreachable, code 13 "communication
 *    administratively prohibited" (RFC 1812 §5.2.7.1); ICMPv6 type 1
 *    code 1 (RFC 4443 §3.1), quoting the first PKT_REPLY_QUOTE bytes of the
 *    offending IP packet (all of it when shorter; never Ethernet padding).
 *
 * Outer fields: IPv4 TOS 0, ID 0, DF, TTL 64; IPv6 traffic class and flow
 * label 0, hop limit 64. Checksums valid.
 */
#ifndef CG_TEST_REPLY_H
#define CG_TEST_REPLY_H

#include <stddef.h>
#include <linux/types.h>

#include "pkt.h"

#define PKT_REPLY_QUOTE 64
#define PKT_REPLY_TTL 64

/* Where the parts of a received frame are: L2 length (with tags), IP
 * version, IP packet bounds (padding excluded), L4 protocol and offset. */
struct pkt_layout {
	size_t l3_off;
	int ip; /* 4 or 6 */
	size_t ip_len;
	__u8 proto;
	size_t l4_off; /* from the frame start */
};

/* 0, or -1 if the frame has no IPv4/IPv6 packet with a TCP/UDP header
 * (IPv6 extension headers 0, 43, 60 and 51 are walked). */
int pkt_layout(const __u8 *frame, size_t len, struct pkt_layout *l);

/* The expected RST|ACK for a TCP segment, or ICMP unreachable for a UDP
 * datagram, in `frame`. 0, or -1 if the frame is neither. */
int pkt_expect_reject(const __u8 *frame, size_t len, struct pkt *out);

#endif /* CG_TEST_REPLY_H */
