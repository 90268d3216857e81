/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Answers for new flows on fenced buckets with the reject action: a TCP
 * RST for a SYN, an ICMP/ICMPv6 "administratively prohibited" for UDP,
 * sent back out of the interface the packet came in on, with the same
 * VLAN tags. The client fails fast instead of retrying into the fence.
 *
 * Both program types first size the frame (XDP: adjust_head/tail; tc:
 * change_head/tail), then call the shared writers below on the new data.
 */
#ifndef CG_REJECT_H
#define CG_REJECT_H

#include "parse.h"
#include "encap.h"

#define CG_REJECT_QUOTE 64 /* bytes of the offending IP packet quoted in ICMP */
#define CG_ICMP_PROHIBITED 13 /* ICMP dest unreachable: administratively prohibited */
#define CG_ICMPV6_PROHIBITED 1 /* ICMPv6 dest unreachable: administratively prohibited */
#define CG_MAX_L2 (ETH_HLEN + 4 * CG_MAX_VLAN_DEPTH)

/* What the reply needs from the original, saved before the frame changes. */
struct cg_reject {
	__be32 saddr[4]; /* the client */
	__be32 daddr[4]; /* the VIP */
	__be16 sport, dport;
	__u32 seq; /* SYN's sequence number, host order */
	__u32 seg_len; /* TCP payload bytes (a SYN may carry data) */
	__u32 l3_off;
	__u32 quote_len; /* ICMP: bytes of the original IP packet kept */
	__u32 frame_len; /* of the original */
	__u8 family;
	__u8 tcp;
	__u8 tos;
};

static __always_inline int cg_reject_save(const struct cg_pkt *p, struct cg_reject *r)
{
	__builtin_memcpy(r->saddr, p->saddr, 16);
	__builtin_memcpy(r->daddr, p->daddr, 16);
	r->sport = p->sport;
	r->dport = p->dport;
	r->family = p->family;
	r->tos = p->tos;
	r->l3_off = p->l3_off;
	r->frame_len = p->frame_len;
	r->tcp = p->proto == IPPROTO_TCP;
	if (p->l3_off > CG_MAX_L2)
		return -1;
	if (r->tcp) {
		const struct tcphdr *th = p->l4;

		if (!th || (void *)(th + 1) > p->data_end)
			return -1;
		r->seq = bpf_ntohl(th->seq);
		r->seg_len = p->l3_len - (__u32)((void *)p->payload - p->l3);
	} else {
		r->quote_len = p->l3_len < CG_REJECT_QUOTE ? p->l3_len : CG_REJECT_QUOTE;
	}
	return 0;
}

/* Frame length of the reply. */
static __always_inline __u32 cg_reject_len(const struct cg_reject *r)
{
	__u32 ip = r->family == CG_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr);

	if (r->tcp)
		return r->l3_off + ip + sizeof(struct tcphdr);
	return r->l3_off + ip + sizeof(struct cg_icmphdr) + r->quote_len;
}

/* Bytes to add in front for an ICMP reply (its IP and ICMP headers). */
static __always_inline __u32 cg_reject_grow(const struct cg_reject *r)
{
	if (r->tcp)
		return 0;
	return (r->family == CG_AF_INET ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) +
	       sizeof(struct cg_icmphdr);
}

static __always_inline __u32 cg_sum16(const void *p, __u32 words, __u32 sum)
{
	const __u16 *w = p;

#pragma unroll
	for (__u32 i = 0; i < words; i++)
		sum += w[i];
	return sum;
}

/* Pseudo-header sum: addresses, upper-layer length and protocol. */
static __always_inline __u32 cg_pseudo_sum(const struct cg_reject *r, __u32 len, __u8 proto)
{
	__u32 sum = bpf_htons(proto) + bpf_htons(len);

	/* the reply goes VIP -> client */
	sum = cg_sum16(r->daddr, r->family == CG_AF_INET ? 2 : 8, sum);
	return cg_sum16(r->saddr, r->family == CG_AF_INET ? 2 : 8, sum);
}

/* IP header of the reply at ip; returns its length, or 0 if out of bounds. */
static __always_inline __u32 cg_reject_ip(void *ip, void *data_end, const struct cg_reject *r,
					  __u32 payload_len, __u8 proto)
{
	if (r->family == CG_AF_INET) {
		struct iphdr *h = ip;

		if ((void *)(h + 1) > data_end)
			return 0;
		h->version = 4;
		h->ihl = 5;
		h->tos = 0;
		h->tot_len = bpf_htons(sizeof(*h) + payload_len);
		h->id = 0;
		h->frag_off = bpf_htons(CG_IP_DF);
		h->ttl = CG_OUTER_TTL;
		h->protocol = proto;
		h->check = 0;
		h->saddr = r->daddr[0];
		h->daddr = r->saddr[0];
		h->check = cg_ipv4_csum(h);
		return sizeof(*h);
	} else {
		struct ipv6hdr *h = ip;

		if ((void *)(h + 1) > data_end)
			return 0;
		*(__be32 *)h = bpf_htonl(6u << 28);
		h->payload_len = bpf_htons(payload_len);
		h->nexthdr = proto;
		h->hop_limit = CG_OUTER_TTL;
		__builtin_memcpy(&h->saddr, r->daddr, 16);
		__builtin_memcpy(&h->daddr, r->saddr, 16);
		return sizeof(*h);
	}
}

/* Swap the MAC addresses of the (kept) L2 header. */
static __always_inline int cg_reject_l2(void *data, void *data_end)
{
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return 0;
}

/* RST|ACK for a SYN, in a frame already cut to cg_reject_len(). */
static __always_inline int cg_reject_write_tcp(void *data, void *data_end, const struct cg_reject *r)
{
	struct tcphdr *th;
	__u32 iplen, sum;
	void *ip;

	__u32 l3_off = r->l3_off & 0x1f;

	if (cg_reject_l2(data, data_end) || l3_off > CG_MAX_L2)
		return -1;
	ip = data + l3_off;
	iplen = cg_reject_ip(ip, data_end, r, sizeof(*th), IPPROTO_TCP);
	if (!iplen)
		return -1;
	struct tcphdr rst = {
		.source = r->dport,
		.dest = r->sport,
		.ack_seq = bpf_htonl(r->seq + 1 + r->seg_len), /* the SYN counts one */
		.doff = 5,
		.rst = 1,
		.ack = 1,
	};

	th = ip + iplen;
	if ((void *)(th + 1) > data_end)
		return -1;
	/* checksum over a stack copy: the verifier tracks its bounds for sure */
	sum = cg_pseudo_sum(r, sizeof(rst), IPPROTO_TCP);
	rst.check = cg_csum_fold(cg_sum16(&rst, sizeof(rst) / 2, sum));
	__builtin_memcpy(th, &rst, sizeof(rst));
	return 0;
}

/*
 * ICMP/ICMPv6 unreachable in a frame grown by cg_reject_grow() at the front
 * and cut to cg_reject_len(): the original L2 header was moved to the start
 * by the caller, the quote already sits after the new headers.
 */
static __always_inline int cg_reject_write_icmp(void *data, void *data_end, const struct cg_reject *r)
{
	__u8 proto = r->family == CG_AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	__u32 len = sizeof(struct cg_icmphdr) + r->quote_len;
	struct cg_icmphdr *ih;
	__u32 iplen, sum = 0;
	__u16 *w;

	__u32 l3_off = r->l3_off & 0x1f;

	if (cg_reject_l2(data, data_end) || l3_off > CG_MAX_L2 || r->quote_len > CG_REJECT_QUOTE)
		return -1;
	iplen = cg_reject_ip(data + l3_off, data_end, r, len, proto);
	if (!iplen)
		return -1;
	ih = data + l3_off + iplen;
	if ((void *)(ih + 1) > data_end)
		return -1;
	ih->type = r->family == CG_AF_INET ? CG_ICMP_DEST_UNREACH : CG_ICMPV6_DEST_UNREACH;
	ih->code = r->family == CG_AF_INET ? CG_ICMP_PROHIBITED : CG_ICMPV6_PROHIBITED;
	ih->checksum = 0;
	ih->rest = 0;
	if (r->family == CG_AF_INET6)
		sum = cg_pseudo_sum(r, len, IPPROTO_ICMPV6);
	/* header and quote, 16 bits at a time; an odd last byte is padded */
	w = (__u16 *)ih;
#pragma unroll
	for (__u32 i = 0; i < (sizeof(*ih) + CG_REJECT_QUOTE) / 2; i++) {
		if (2 * i + 1 < len) {
			if ((void *)(w + i + 1) > data_end)
				return -1;
			sum += w[i];
		} else if (2 * i < len) {
			__u8 *b = (__u8 *)(w + i);

			if ((void *)(b + 1) > data_end)
				return -1;
			sum += bpf_htons((__u16)b[0] << 8);
		}
	}
	ih->checksum = cg_csum_fold(sum);
	return 0;
}

/* Move the L2 header (l3_off bytes) from data + grow to data. */
static __always_inline int cg_reject_move_l2(void *data, void *data_end, __u32 grow, __u32 l3_off)
{
	__u8 *dst = data, *src = data + grow;

	if (grow > 64)
		return -1;
#pragma unroll
	for (int i = 0; i < CG_MAX_L2; i++) {
		if (i < (int)l3_off) {
			if ((void *)(src + i + 1) > data_end || (void *)(dst + i + 1) > data_end)
				return -1;
			dst[i] = src[i];
		}
	}
	return 0;
}

#endif /* CG_REJECT_H */
