/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Outer headers for steered packets (docs/dataplane.md §5). Callers make
 * room first (bpf_xdp_adjust_head / bpf_skb_adjust_room); these only write.
 */
#ifndef CG_ENCAP_H
#define CG_ENCAP_H

#include "parse.h"

#define CG_OUTER4_LEN (sizeof(struct iphdr))
#define CG_OUTER6_LEN (sizeof(struct ipv6hdr))

static __always_inline __u32 cg_outer_len(const struct cg_endpoint *ep)
{
	return ep->family == CG_AF_INET ? CG_OUTER4_LEN : CG_OUTER6_LEN;
}

static __always_inline __u16 cg_csum_fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

static __always_inline __u16 cg_ipv4_csum(const struct iphdr *ip)
{
	const __u16 *w = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)(sizeof(*ip) / 2); i++)
		sum += w[i];
	return cg_csum_fold(sum);
}

/*
 * Ethernet + outer IP at data. Fields per docs/dataplane.md §5; src is the
 * per-flow outer source cg_choose() derived, so ECMP/RSS on the path sees
 * per-flow entropy. Returns 0, or -1 if the frame is too short.
 */
static __always_inline int cg_write_outer(void *data, void *data_end, const struct cg_pkt *p,
					  const struct cg_endpoint *ep, const __be32 *src,
					  __u32 hash)
{
	struct ethhdr *eth = data;
	__u8 inner_proto = p->family == CG_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6;

	if ((void *)(eth + 1) > data_end)
		return -1;
	__builtin_memcpy(eth->h_dest, ep->dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, ep->smac, ETH_ALEN);

	if (ep->family == CG_AF_INET) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IP);
		ip->version = 4;
		ip->ihl = 5;
		ip->tos = p->tos;
		ip->tot_len = bpf_htons(p->l3_len + CG_OUTER4_LEN);
		ip->id = 0;
		ip->frag_off = bpf_htons(CG_IP_DF); /* DF: RFC 6864 lets ID be 0 */
		ip->ttl = CG_OUTER_TTL;
		ip->protocol = inner_proto;
		ip->check = 0;
		ip->saddr = src[0];
		ip->daddr = ep->daddr[0];
		ip->check = cg_ipv4_csum(ip);
	} else {
		struct ipv6hdr *ip6 = (void *)(eth + 1);
		if ((void *)(ip6 + 1) > data_end)
			return -1;
		eth->h_proto = bpf_htons(ETH_P_IPV6);
		/* version 6, traffic class, flow label from the flow hash */
		*(__be32 *)ip6 = bpf_htonl((6u << 28) | ((__u32)p->tos << 20) | (hash & 0xfffff));
		ip6->payload_len = bpf_htons(p->l3_len);
		ip6->nexthdr = inner_proto;
		ip6->hop_limit = CG_OUTER_TTL;
		__builtin_memcpy(&ip6->saddr, src, 16);
		__builtin_memcpy(&ip6->daddr, ep->daddr, 16);
	}
	return 0;
}

#endif /* CG_ENCAP_H */
