// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cellgate steering programs: XDP (native or generic) and tc ingress. Both
 * run the same decision (steer.h) and differ only in how they make room
 * for the outer header and send the frame out.
 */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "steer.h"
#include "encap.h"

/* Enough linear data for headers and the deepest payload key. */
#define CG_TC_PULL (CG_MAX_KEY_OFFSET + 256)

SEC("xdp")
int cg_steer_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cg_choice ch = {};
	struct cg_pkt p = {};
	__u32 outer;
	int reason;

	reason = cg_parse(data, data_end, data_end - data, &p);
	if (!reason)
		reason = cg_decide(&p, &ch);
	if (reason != CG_R_FORWARDED) {
		cg_count_reason(reason, p.frame_len);
		return cg_reason_drops(reason) ? XDP_DROP : XDP_PASS;
	}

	outer = cg_outer_len(ch.ep);
	if (ch.ep->mtu && p.l3_len + outer > ch.ep->mtu) {
		cg_count_reason(CG_R_TOO_BIG, p.frame_len);
		return XDP_DROP;
	}
	/* Ethernet padding is not part of the packet the unit receives */
	if (p.frame_len > p.l3_off + p.l3_len &&
	    bpf_xdp_adjust_tail(ctx, -(int)(p.frame_len - p.l3_off - p.l3_len))) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return XDP_DROP;
	}
	/* VLAN tags are dropped: the frame restarts at a new Ethernet header */
	if (bpf_xdp_adjust_head(ctx, (int)p.l3_off - (int)(ETH_HLEN + outer))) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (cg_write_outer(data, data_end, &p, ch.ep, ch.gen, ch.hash)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return XDP_DROP;
	}
	cg_count_forward(&ch, p.frame_len);
	if ((ch.ep->flags & CG_EP_F_XDP_TX) || ch.ep->ifindex == ctx->ingress_ifindex)
		return XDP_TX;
	return bpf_redirect_map(&cg_tx_ports, ch.ep->ifindex, XDP_DROP);
}

SEC("tc")
int cg_steer_tc(struct __sk_buff *skb)
{
	struct cg_choice ch = {};
	struct cg_pkt p = {};
	void *data, *data_end;
	__u64 flags;
	__u32 outer, pops;
	int reason;

	bpf_skb_pull_data(skb, skb->len < CG_TC_PULL ? skb->len : CG_TC_PULL);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	reason = cg_parse(data, data_end, skb->len, &p);
	if (!reason)
		reason = cg_decide(&p, &ch);
	if (reason != CG_R_FORWARDED) {
		cg_count_reason(reason, p.frame_len);
		return cg_reason_drops(reason) ? TC_ACT_SHOT : TC_ACT_OK;
	}

	outer = cg_outer_len(ch.ep);
	/* a GSO skb is segmented later; its segments fit the MTU */
	if (ch.ep->mtu && !skb->gso_size && p.l3_len + outer > ch.ep->mtu) {
		cg_count_reason(CG_R_TOO_BIG, p.frame_len);
		return TC_ACT_SHOT;
	}
	if (skb->len > p.l3_off + p.l3_len && bpf_skb_change_tail(skb, p.l3_off + p.l3_len, 0)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return TC_ACT_SHOT;
	}
	/* strip VLAN tags: the accelerated one and any left in the data */
	pops = p.n_vlan + (skb->vlan_present ? 1 : 0);
#pragma unroll
	for (int i = 0; i < CG_MAX_VLAN_DEPTH + 1; i++) {
		if (i < (int)pops && bpf_skb_vlan_pop(skb)) {
			cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
			return TC_ACT_SHOT;
		}
	}
	flags = ch.ep->family == CG_AF_INET ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 :
					      BPF_F_ADJ_ROOM_ENCAP_L3_IPV6;
	/* only TCP may have its gso_size lowered to make room */
	if (p.l4_proto != IPPROTO_TCP)
		flags |= BPF_F_ADJ_ROOM_FIXED_GSO;
	if (bpf_skb_adjust_room(skb, outer, BPF_ADJ_ROOM_MAC, flags)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return TC_ACT_SHOT;
	}
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (cg_write_outer(data, data_end, &p, ch.ep, ch.gen, ch.hash)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return TC_ACT_SHOT;
	}
	cg_count_forward(&ch, p.frame_len);
	return bpf_redirect(ch.ep->ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
