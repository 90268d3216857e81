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
#include "reject.h"

/* Enough linear data for headers and the deepest payload key. */
#define CG_TC_PULL (CG_MAX_KEY_OFFSET + 256)

enum cg_next {
	CG_NEXT_PASS, /* leave the packet alone (counted) */
	CG_NEXT_DROP, /* drop it (counted) */
	CG_NEXT_REJECT, /* answer a fenced new flow (counted); r is filled */
	CG_NEXT_ENCAP, /* encapsulate toward *ep (counted once sent) */
};

/*
 * What both programs do before they touch the packet: parse, decide,
 * count anything that is not forwarded, and find the endpoint.
 */
static __always_inline enum cg_next cg_steer_begin(void *data, void *data_end, __u32 len,
						   struct cg_pkt *p, struct cg_decision *d,
						   struct cg_reject *r, const struct cg_endpoint **ep)
{
	int reason;

	reason = cg_parse(data, data_end, len, p);
	if (!reason)
		reason = cg_decide(p, d);
	if (reason == CG_R_FENCED) {
		cg_count_fenced(d, p->frame_len);
		if (d->fence_action != CG_FENCE_REJECT || cg_reject_save(p, r))
			return CG_NEXT_DROP;
		return CG_NEXT_REJECT;
	}
	*ep = reason == CG_R_FORWARDED ? cg_chosen_endpoint(d) : NULL;
	if (!*ep) {
		reason = reason == CG_R_FORWARDED ? CG_R_NO_ENDPOINT : reason;
		cg_count_reason(reason, p->frame_len);
		return cg_reason_drops(reason) ? CG_NEXT_DROP : CG_NEXT_PASS;
	}
	return CG_NEXT_ENCAP;
}

/*
 * The replies are global functions: the verifier checks them once, on
 * their own, instead of once per path that reaches a fence.
 */
__noinline int cg_xdp_reject(struct xdp_md *ctx, struct cg_reject *r)
{
	void *data, *data_end;
	__u32 grow;
	int err;

	if (!r || r->l3_off > CG_MAX_L2 || r->quote_len > CG_REJECT_QUOTE)
		return XDP_DROP;
	r->l3_off &= 0x1f; /* bounded for the verifier; checked just above */
	r->quote_len &= 0x7f;
	grow = cg_reject_grow(r);
	/* keep L2 + what the reply reuses; then room for ICMP's headers */
	if (bpf_xdp_adjust_tail(ctx, (int)(cg_reject_len(r) - grow) - (int)r->frame_len))
		return XDP_DROP;
	if (grow && bpf_xdp_adjust_head(ctx, -(int)grow))
		return XDP_DROP;
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (grow && cg_reject_move_l2(data, data_end, grow, r->l3_off))
		return XDP_DROP;
	err = r->tcp ? cg_reject_write_tcp(data, data_end, r) : cg_reject_write_icmp(data, data_end, r);
	return err ? XDP_DROP : XDP_TX;
}

__noinline int cg_tc_reject(struct __sk_buff *skb, struct cg_reject *r)
{
	void *data, *data_end;
	__u32 grow;
	int err;

	if (!r || r->l3_off > CG_MAX_L2 || r->quote_len > CG_REJECT_QUOTE)
		return TC_ACT_SHOT;
	r->l3_off &= 0x1f;
	r->quote_len &= 0x7f;
	grow = cg_reject_grow(r);
	if (bpf_skb_change_tail(skb, cg_reject_len(r) - grow, 0))
		return TC_ACT_SHOT;
	if (grow && bpf_skb_change_head(skb, grow, 0))
		return TC_ACT_SHOT;
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;
	if (grow && cg_reject_move_l2(data, data_end, grow, r->l3_off))
		return TC_ACT_SHOT;
	err = r->tcp ? cg_reject_write_tcp(data, data_end, r) : cg_reject_write_icmp(data, data_end, r);
	/* back out of the interface it came in on */
	return err ? TC_ACT_SHOT : bpf_redirect(skb->ifindex, 0);
}

SEC("xdp")
int cg_steer_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	const struct cg_endpoint *ep = NULL;
	struct cg_decision d = {};
	struct cg_reject r = {};
	struct cg_pkt p = {};
	__u32 outer;
	int ret;

	switch (cg_steer_begin(data, data_end, data_end - data, &p, &d, &r, &ep)) {
	case CG_NEXT_PASS:
		return XDP_PASS;
	case CG_NEXT_DROP:
		return XDP_DROP;
	case CG_NEXT_REJECT:
		return cg_xdp_reject(ctx, &r);
	case CG_NEXT_ENCAP:
		break;
	}
	if (!ep)
		return XDP_PASS;

	outer = cg_outer_len(ep);
	if (ep->mtu && p.l3_len + outer > ep->mtu) {
		cg_count_reason(CG_R_TOO_BIG, p.frame_len);
		return XDP_DROP;
	}
	/* Ethernet padding stays behind the packet: the outer length excludes
	 * it and every receiver trims by it, while trimming would cost a
	 * helper call on most minimum-size frames (pure TCP ACKs) */
	/* VLAN tags are dropped: the frame restarts at a new Ethernet header */
	if (bpf_xdp_adjust_head(ctx, (int)p.l3_off - (int)(ETH_HLEN + outer))) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return XDP_DROP;
	}
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (cg_write_outer(data, data_end, &p, ep, d.outer_src, d.hash)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return XDP_DROP;
	}
	if ((ep->flags & CG_EP_F_XDP_TX) || ep->ifindex == ctx->ingress_ifindex) {
		cg_count_forward(&d, p.frame_len);
		return XDP_TX;
	}
	ret = bpf_redirect_map(&cg_tx_ports, ep->ifindex, XDP_ABORTED);
	if (ret != XDP_REDIRECT) {
		/* egress port missing from cg_tx_ports: a publisher bug, never silent */
		cg_count_reason(CG_R_NO_ENDPOINT, p.frame_len);
		return XDP_DROP;
	}
	cg_count_forward(&d, p.frame_len);
	return XDP_REDIRECT;
}

SEC("tc")
int cg_steer_tc(struct __sk_buff *skb)
{
	const struct cg_endpoint *ep = NULL;
	struct cg_decision d = {};
	struct cg_reject r = {};
	struct cg_pkt p = {};
	void *data, *data_end;
	__u64 flags;
	__u32 outer, pops;

	bpf_skb_pull_data(skb, skb->len < CG_TC_PULL ? skb->len : CG_TC_PULL);
	data = (void *)(long)skb->data;
	data_end = (void *)(long)skb->data_end;

	switch (cg_steer_begin(data, data_end, skb->len, &p, &d, &r, &ep)) {
	case CG_NEXT_PASS:
		return TC_ACT_OK;
	case CG_NEXT_DROP:
		return TC_ACT_SHOT;
	case CG_NEXT_REJECT:
		return cg_tc_reject(skb, &r);
	case CG_NEXT_ENCAP:
		break;
	}
	if (!ep)
		return TC_ACT_OK;

	outer = cg_outer_len(ep);
	/* a GSO skb is segmented later; its segments fit the MTU */
	if (ep->mtu && !skb->gso_size && p.l3_len + outer > ep->mtu) {
		cg_count_reason(CG_R_TOO_BIG, p.frame_len);
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
	flags = ep->family == CG_AF_INET ? BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 :
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
	if (cg_write_outer(data, data_end, &p, ep, d.outer_src, d.hash)) {
		cg_count_reason(CG_R_ENCAP_FAIL, p.frame_len);
		return TC_ACT_SHOT;
	}
	cg_count_forward(&d, p.frame_len);
	return bpf_redirect(ep->ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
