// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cellgate decap: the receiving side of a unit. Removes the outer IPv4/IPv6
 * header the gateway added and hands the original packet to the stack, so
 * the unit host needs no ipip/ip6_tunnel module (docs/dataplane.md §6).
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

/* Not in Debian 12's UAPI headers (added in Linux 6.3). */
#ifndef BPF_F_ADJ_ROOM_DECAP_L3_IPV4
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV4 (1ULL << 7)
#define BPF_F_ADJ_ROOM_DECAP_L3_IPV6 (1ULL << 8)
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CG_MAX_DECAP_ADDRS);
	__type(key, struct cg_decap_key);
	__type(value, __u32);
} cg_decap_addrs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CG_R_MAX);
	__type(key, __u32);
	__type(value, struct cg_reason_count);
} cg_decap_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_info);
} cg_decap_info SEC(".maps");

struct cg_tunnel {
	__u32 l3_off; /* outer IP header */
	__u32 outer_len; /* bytes to remove */
	__u8 inner_family;
};

static __always_inline int cg_count(__u32 reason, __u32 bytes)
{
	struct cg_reason_count *rc = bpf_map_lookup_elem(&cg_decap_reasons, &reason);

	if (rc) {
		rc->packets++;
		rc->bytes += bytes;
	}
	return reason;
}

/* Is this a tunnel packet for us? Returns CG_R_DECAP_OK with t filled. */
static __always_inline int cg_tunnel_parse(void *data, void *data_end, __u32 frame_len,
					   struct cg_tunnel *t)
{
	struct cg_cursor c = { .start = data, .pos = data, .end = data_end, .frame_len = frame_len };
	struct cg_decap_key key = {};
	struct cg_pkt p = {};
	int reason = 0;
	__u8 proto, *inner;
	__be16 eth_proto;

	eth_proto = cg_parse_eth(&c, &p, &reason);
	if (!eth_proto)
		return CG_R_DECAP_NOT_TUNNEL;
	t->l3_off = c.pos - data;
	if (eth_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = c.pos;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return CG_R_DECAP_NOT_TUNNEL;
		if (ip->protocol != IPPROTO_IPIP && ip->protocol != IPPROTO_IPV6)
			return CG_R_DECAP_NOT_TUNNEL;
		if (ip->frag_off & bpf_htons(CG_IP_MF | CG_IP_OFFMASK))
			return CG_R_DECAP_NOT_TUNNEL; /* reassembly is the stack's job */
		key.family = CG_AF_INET;
		key.addr[0] = ip->daddr;
		proto = ip->protocol;
		t->outer_len = ip->ihl * 4;
	} else if (eth_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = c.pos;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return CG_R_DECAP_NOT_TUNNEL;
		if (ip6->nexthdr != IPPROTO_IPIP && ip6->nexthdr != IPPROTO_IPV6)
			return CG_R_DECAP_NOT_TUNNEL;
		key.family = CG_AF_INET6;
		__builtin_memcpy(key.addr, &ip6->daddr, 16);
		proto = ip6->nexthdr;
		t->outer_len = sizeof(*ip6);
	} else {
		return CG_R_DECAP_NOT_TUNNEL;
	}
	if (!bpf_map_lookup_elem(&cg_decap_addrs, &key))
		return CG_R_DECAP_NOT_LOCAL;

	/* the inner header must be complete and of the announced family */
	inner = c.pos + t->outer_len;
	if (t->outer_len > 60)
		return CG_R_DECAP_BAD;
	if (proto == IPPROTO_IPIP) {
		struct iphdr *ip = (void *)inner;

		if ((void *)(ip + 1) > data_end || ip->version != 4 || ip->ihl < 5)
			return CG_R_DECAP_BAD;
		t->inner_family = CG_AF_INET;
	} else {
		struct ipv6hdr *ip6 = (void *)inner;

		if ((void *)(ip6 + 1) > data_end || ip6->version != 6)
			return CG_R_DECAP_BAD;
		t->inner_family = CG_AF_INET6;
	}
	return CG_R_DECAP_OK;
}

static __always_inline __be16 cg_ethertype(__u8 family)
{
	return family == CG_AF_INET ? bpf_htons(ETH_P_IP) : bpf_htons(ETH_P_IPV6);
}

SEC("xdp")
int cg_decap_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cg_tunnel t = {};
	__u8 macs[2 * ETH_ALEN];
	struct ethhdr *eth;
	__u32 len = data_end - data;
	int reason;

	reason = cg_tunnel_parse(data, data_end, len, &t);
	if (reason != CG_R_DECAP_OK) {
		cg_count(reason, len);
		return reason == CG_R_DECAP_BAD ? XDP_DROP : XDP_PASS;
	}
	if (data + 2 * ETH_ALEN > data_end)
		return XDP_PASS;
	__builtin_memcpy(macs, data, sizeof(macs));
	/* keep one Ethernet header right before the inner packet */
	if (bpf_xdp_adjust_head(ctx, (int)(t.l3_off + t.outer_len) - ETH_HLEN)) {
		cg_count(CG_R_DECAP_BAD, len);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(eth, macs, sizeof(macs));
	eth->h_proto = cg_ethertype(t.inner_family);
	cg_count(CG_R_DECAP_OK, len);
	return XDP_PASS;
}

SEC("tc")
int cg_decap_tc(struct __sk_buff *skb)
{
	struct cg_tunnel t = {};
	__be16 proto;
	__u64 flags = 0;
	__u32 len = skb->len;
	int reason;

	bpf_skb_pull_data(skb, len < 128 ? len : 128);
	reason = cg_tunnel_parse((void *)(long)skb->data, (void *)(long)skb->data_end, len, &t);
	if (reason != CG_R_DECAP_OK) {
		cg_count(reason, len);
		return reason == CG_R_DECAP_BAD ? TC_ACT_SHOT : TC_ACT_OK;
	}
	/* tunnel traffic from the gateway carries no VLAN tag in the data */
	if (t.l3_off != ETH_HLEN) {
		cg_count(CG_R_DECAP_BAD, len);
		return TC_ACT_SHOT;
	}
	proto = cg_ethertype(t.inner_family);
	if (proto != skb->protocol)
		flags = t.inner_family == CG_AF_INET ? BPF_F_ADJ_ROOM_DECAP_L3_IPV4 :
						       BPF_F_ADJ_ROOM_DECAP_L3_IPV6;
	if (bpf_skb_adjust_room(skb, -(__s32)t.outer_len, BPF_ADJ_ROOM_MAC, flags) ||
	    bpf_skb_store_bytes(skb, offsetof(struct ethhdr, h_proto), &proto, sizeof(proto), 0)) {
		cg_count(CG_R_DECAP_BAD, len);
		return TC_ACT_SHOT;
	}
	cg_count(CG_R_DECAP_OK, len);
	return TC_ACT_OK;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
