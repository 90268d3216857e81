/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cursor-based packet parsing shared by the steering and decap programs.
 * Every helper bounds-checks its header against data_end and either
 * advances the cursor or returns a cg_reason; the caller passes the
 * packet on unmodified in that case.
 */
#ifndef CG_PARSE_H
#define CG_PARSE_H

#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "cellgate.h"

#ifndef ETH_P_8021AD
#define ETH_P_8021AD 0x88A8
#endif
/* from linux/icmp.h and linux/icmpv6.h, which drag in libc socket headers */
#define CG_ICMP_DEST_UNREACH 3
#define CG_ICMP_TIME_EXCEEDED 11
#define CG_ICMP_PARAMETERPROB 12
#define CG_ICMPV6_DEST_UNREACH 1
#define CG_ICMPV6_PKT_TOOBIG 2
#define CG_ICMPV6_TIME_EXCEED 3
#define CG_ICMPV6_PARAMPROB 4

struct cg_icmphdr {
	__u8 type;
	__u8 code;
	__sum16 checksum;
	__be32 rest; /* id/seq, MTU or unused: 8 bytes in all for errors */
};

#define CG_IP_MF 0x2000
#define CG_IP_OFFMASK 0x1fff
#define CG_IP_DF 0x4000

#define CG_PKT_F_SYN (1u << 0) /* TCP SYN without ACK: a new flow */
#define CG_PKT_F_FRAG (1u << 1) /* an IP fragment, first or not */
#define CG_PKT_F_ICMP_ERR (1u << 2) /* an ICMP error, steered by its quote */
#define CG_PKT_F_HAS_L4 (1u << 3) /* a TCP/UDP packet: payload is valid */

struct cg_pkt {
	void *l3; /* IP header */
	void *l4; /* TCP/UDP header (valid with CG_PKT_F_HAS_L4) */
	void *payload; /* L4 payload (valid with CG_PKT_F_HAS_L4) */
	void *data_end;
	__u32 l3_off; /* bytes of Ethernet + VLAN before the IP header */
	__u32 l3_len; /* IP packet length as its header says */
	__u32 frame_len;
	__u8 family; /* enum cg_family */
	__u8 proto; /* L4 protocol of the flow (the quoted one for ICMP errors) */
	__u8 l4_proto; /* L4 protocol of the packet itself */
	__u8 tos; /* TOS / traffic class, copied to the outer header */
	__u8 flags; /* CG_PKT_F_* */
	__u8 n_vlan; /* VLAN tags in the frame */
	__be16 sport; /* forward flow: client port ... */
	__be16 dport; /* ... and service port */
	__be32 saddr[4]; /* forward flow: client ... */
	__be32 daddr[4]; /* ... and VIP */
};

/*
 * data_end bounds what may be read; frame_len is the packet's real length,
 * which for a non-linear skb exceeds what is readable, so IP length fields
 * are checked against it rather than against data_end.
 */
struct cg_cursor {
	void *start;
	void *pos;
	void *end;
	__u32 frame_len;
};

static __always_inline bool cg_fits(const struct cg_cursor *c, __u32 len)
{
	return (__u32)(c->pos - c->start) + len <= c->frame_len;
}

/* Ethernet and up to CG_MAX_VLAN_DEPTH tags. Returns the EtherType in
 * network order, or 0 with *reason set. */
static __always_inline __be16 cg_parse_eth(struct cg_cursor *c, struct cg_pkt *p, int *reason)
{
	struct ethhdr *eth = c->pos;
	__be16 proto;

	if ((void *)(eth + 1) > c->end) {
		*reason = CG_R_BAD_L2;
		return 0;
	}
	proto = eth->h_proto;
	c->pos = eth + 1;
#pragma unroll
	for (int i = 0; i < CG_MAX_VLAN_DEPTH; i++) {
		struct vlan_hdr {
			__be16 tci;
			__be16 proto;
		} *vh = c->pos;

		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		if ((void *)(vh + 1) > c->end) {
			*reason = CG_R_BAD_L2;
			return 0;
		}
		proto = vh->proto;
		c->pos = vh + 1;
		p->n_vlan++;
	}
	return proto;
}

/*
 * IPv4 header, options skipped. Leaves the cursor at the L4 header and
 * returns the protocol, or -1 with *reason set.
 */
static __always_inline int cg_parse_ipv4(struct cg_cursor *c, __be32 *saddr, __be32 *daddr,
					 __u32 *len, __u8 *tos, bool *frag, bool *first_frag,
					 bool quote)
{
	struct iphdr *ip = c->pos;
	__u32 hlen, tot;

	if ((void *)(ip + 1) > c->end)
		return -CG_R_BAD_L3;
	if (ip->version != 4 || ip->ihl < 5)
		return -CG_R_BAD_L3;
	hlen = ip->ihl * 4;
	tot = bpf_ntohs(ip->tot_len);
	/* a quote inside an ICMP error is truncated by design */
	if (tot < hlen || (!quote && !cg_fits(c, tot)))
		return -CG_R_BAD_L3;
	if (c->pos + hlen > c->end)
		return -CG_R_BAD_L3;
	saddr[0] = ip->saddr;
	daddr[0] = ip->daddr;
	*len = tot;
	*tos = ip->tos;
	*frag = (ip->frag_off & bpf_htons(CG_IP_MF | CG_IP_OFFMASK)) != 0;
	*first_frag = (ip->frag_off & bpf_htons(CG_IP_OFFMASK)) == 0;
	c->pos += hlen;
	return ip->protocol;
}

struct cg_ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct cg_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 id;
};

/*
 * IPv6 header and extension headers (bounded walk). Leaves the cursor at
 * the L4 header and returns its protocol, or -reason.
 */
static __always_inline int cg_parse_ipv6(struct cg_cursor *c, __be32 *saddr, __be32 *daddr,
					 __u32 *len, __u8 *tos, bool *frag, bool *first_frag,
					 bool quote)
{
	struct ipv6hdr *ip6 = c->pos;
	__u8 nh;

	if ((void *)(ip6 + 1) > c->end)
		return -CG_R_BAD_L3;
	if (ip6->version != 6)
		return -CG_R_BAD_L3;
	*len = sizeof(*ip6) + bpf_ntohs(ip6->payload_len);
	if (!quote && !cg_fits(c, *len))
		return -CG_R_BAD_L3;
	__builtin_memcpy(saddr, &ip6->saddr, 16);
	__builtin_memcpy(daddr, &ip6->daddr, 16);
	*tos = (ip6->priority << 4) | (ip6->flow_lbl[0] >> 4);
	nh = ip6->nexthdr;
	c->pos = ip6 + 1;
	*frag = false;
	*first_frag = true;

#pragma unroll
	for (int i = 0; i < CG_MAX_IPV6_EXT; i++) {
		if (nh == IPPROTO_FRAGMENT) {
			struct cg_ipv6_frag *fh = c->pos;

			if ((void *)(fh + 1) > c->end)
				return -CG_R_BAD_L3;
			*frag = true;
			*first_frag = (fh->frag_off & bpf_htons(0xfff8)) == 0;
			nh = fh->nexthdr;
			c->pos = fh + 1;
		} else if (nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING || nh == IPPROTO_DSTOPTS ||
			   nh == IPPROTO_AH) {
			struct cg_ipv6_opt *oh = c->pos;
			__u32 olen;

			if ((void *)(oh + 1) > c->end)
				return -CG_R_BAD_L3;
			/* AH counts 4-byte units minus 2, the others 8-byte units minus 1 */
			olen = nh == IPPROTO_AH ? (oh->hdrlen + 2) * 4 : (oh->hdrlen + 1) * 8;
			if (c->pos + olen > c->end)
				return -CG_R_BAD_L3;
			nh = oh->nexthdr;
			c->pos += olen;
		} else {
			return nh;
		}
	}
	if (nh == IPPROTO_FRAGMENT || nh == IPPROTO_HOPOPTS || nh == IPPROTO_ROUTING ||
	    nh == IPPROTO_DSTOPTS || nh == IPPROTO_AH)
		return -CG_R_IPV6_EXT;
	return nh;
}

static __always_inline bool cg_icmp_is_error(__u8 l4_proto, __u8 type)
{
	if (l4_proto == IPPROTO_ICMP)
		return type == CG_ICMP_DEST_UNREACH || type == CG_ICMP_TIME_EXCEEDED ||
		       type == CG_ICMP_PARAMETERPROB;
	return type == CG_ICMPV6_DEST_UNREACH || type == CG_ICMPV6_PKT_TOOBIG ||
	       type == CG_ICMPV6_TIME_EXCEED || type == CG_ICMPV6_PARAMPROB;
}

/*
 * The quote of an ICMP error: a packet the unit sent to the client. Fills
 * the forward flow (client -> VIP) into p. Returns 0 or a reason.
 */
static __always_inline int cg_parse_icmp_quote(struct cg_cursor *c, struct cg_pkt *p)
{
	__be32 qs[4] = {}, qd[4] = {};
	bool qfrag, qfirst;
	__u32 qlen;
	__u8 qtos;
	__be16 *ports;
	int proto;

	if (p->family == CG_AF_INET)
		proto = cg_parse_ipv4(c, qs, qd, &qlen, &qtos, &qfrag, &qfirst, true);
	else
		proto = cg_parse_ipv6(c, qs, qd, &qlen, &qtos, &qfrag, &qfirst, true);
	if (proto < 0)
		return CG_R_ICMP_BAD_INNER;
	if (proto != IPPROTO_TCP && proto != IPPROTO_UDP)
		return CG_R_NOT_L4;
	if (qfrag && !qfirst)
		return CG_R_ICMP_BAD_INNER; /* a non-first fragment quotes no ports */
	ports = c->pos;
	if ((void *)(ports + 2) > c->end)
		return CG_R_ICMP_BAD_INNER;
	p->proto = proto;
	p->sport = ports[1];
	p->dport = ports[0];
	__builtin_memcpy(p->saddr, qd, 16);
	__builtin_memcpy(p->daddr, qs, 16);
	return 0;
}

/*
 * Whole packet: L2, L3, L4 (and the quote of an ICMP error) into p.
 * Returns 0 when p describes a TCP/UDP flow (or a fragment), else the
 * reason to pass it.
 */
static __always_inline int cg_parse(void *data, void *data_end, __u32 frame_len, struct cg_pkt *p)
{
	struct cg_cursor c = { .start = data, .pos = data, .end = data_end, .frame_len = frame_len };
	bool frag = false, first_frag = true;
	int reason = 0, proto;
	__be16 eth_proto;

	p->frame_len = frame_len;
	p->data_end = data_end;
	eth_proto = cg_parse_eth(&c, p, &reason);
	if (!eth_proto)
		return reason;
	p->l3 = c.pos;
	p->l3_off = c.pos - data;
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		p->family = CG_AF_INET;
		proto = cg_parse_ipv4(&c, p->saddr, p->daddr, &p->l3_len, &p->tos, &frag,
				      &first_frag, false);
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		p->family = CG_AF_INET6;
		proto = cg_parse_ipv6(&c, p->saddr, p->daddr, &p->l3_len, &p->tos, &frag,
				      &first_frag, false);
	} else {
		return CG_R_NOT_IP;
	}
	if (proto < 0)
		return -proto;
	p->proto = proto;
	p->l4_proto = proto;
	if (frag) {
		p->flags |= CG_PKT_F_FRAG;
		/* all fragments of a datagram must hash alike: never use ports */
		return proto == IPPROTO_TCP || proto == IPPROTO_UDP ? 0 : CG_R_NOT_L4;
	}

	if (proto == IPPROTO_TCP) {
		struct tcphdr *th = c.pos;
		__u32 doff;

		if ((void *)(th + 1) > c.end)
			return CG_R_BAD_L4;
		doff = th->doff * 4;
		if (doff < sizeof(*th) || c.pos + doff > c.end)
			return CG_R_BAD_L4;
		p->sport = th->source;
		p->dport = th->dest;
		p->l4 = th;
		if (th->syn && !th->ack)
			p->flags |= CG_PKT_F_SYN;
		p->payload = c.pos + doff;
	} else if (proto == IPPROTO_UDP) {
		struct udphdr *uh = c.pos;

		if ((void *)(uh + 1) > c.end)
			return CG_R_BAD_L4;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->l4 = uh;
		p->payload = uh + 1;
	} else if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6) {
		struct cg_icmphdr *ih = c.pos;

		if ((proto == IPPROTO_ICMP) != (p->family == CG_AF_INET))
			return CG_R_NOT_L4;
		if ((void *)(ih + 1) > c.end)
			return CG_R_BAD_L4;
		if (!cg_icmp_is_error(proto, ih->type))
			return CG_R_NOT_L4;
		c.pos = ih + 1; /* ICMP and ICMPv6 error headers are both 8 bytes */
		p->flags |= CG_PKT_F_ICMP_ERR;
		return cg_parse_icmp_quote(&c, p);
	} else {
		return CG_R_NOT_L4;
	}
	p->flags |= CG_PKT_F_HAS_L4;
	return 0;
}

#endif /* CG_PARSE_H */
