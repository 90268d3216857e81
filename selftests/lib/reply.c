// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Expected reject replies: see reply.h. Written from the RFCs, not from
 * bpf/reject.h, so the two can disagree. */
#include <string.h>

#include "reply.h"

static void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static void put32(__u8 *p, __u32 v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static __u32 get32(const __u8 *p)
{
	return (__u32)p[0] << 24 | (__u32)p[1] << 16 | (__u32)p[2] << 8 | p[3];
}

int pkt_layout(const __u8 *frame, size_t len, struct pkt_layout *l)
{
	const __u8 *ip;
	size_t off;
	__u8 nh;
	int v, hops = 0;

	memset(l, 0, sizeof(*l));
	v = pkt_frame_ip(frame, len, &l->l3_off, &l->ip_len);
	if (v != 4 && v != 6)
		return -1;
	l->ip = v;
	ip = frame + l->l3_off;
	if (v == 4) {
		if (l->ip_len < 20)
			return -1;
		nh = ip[9];
		off = (size_t)(ip[0] & 0xf) * 4;
	} else {
		if (l->ip_len < 40)
			return -1;
		nh = ip[6];
		off = 40;
		while ((nh == 0 || nh == 43 || nh == 60 || nh == 51) && hops++ < 16) {
			if (off + 8 > l->ip_len)
				return -1;
			size_t n = nh == 51 ? ((size_t)ip[off + 1] + 2) * 4 :
					      ((size_t)ip[off + 1] + 1) * 8;

			nh = ip[off];
			off += n;
		}
	}
	if (nh != 6 && nh != 17)
		return -1;
	if (off + (nh == 6 ? 20 : 8) > l->ip_len)
		return -1;
	l->proto = nh;
	l->l4_off = l->l3_off + off;
	return 0;
}

/* Ethernet with the addresses swapped and the tags kept; the new IP header
 * VIP -> client for `payload` bytes of `proto`. Returns the L4 offset. */
static size_t reply_head(const __u8 *frame, const struct pkt_layout *l, __u8 proto, size_t payload,
			 __u8 *o)
{
	const __u8 *ip = frame + l->l3_off;
	__u8 *r = o + l->l3_off;

	memcpy(o, frame + 6, 6);
	memcpy(o + 6, frame, 6);
	memcpy(o + 12, frame + 12, l->l3_off - 12); /* tags and EtherType */
	if (l->ip == 4) {
		memset(r, 0, 20);
		r[0] = 0x45;
		put16(r + 2, (__u16)(20 + payload));
		put16(r + 6, 0x4000); /* DF */
		r[8] = PKT_REPLY_TTL;
		r[9] = proto;
		memcpy(r + 12, ip + 16, 4);
		memcpy(r + 16, ip + 12, 4);
		put16(r + 10, pkt_csum_fold(pkt_csum_add(0, r, 20)));
		return l->l3_off + 20;
	}
	memset(r, 0, 40);
	r[0] = 0x60;
	put16(r + 4, (__u16)payload);
	r[6] = proto;
	r[7] = PKT_REPLY_TTL;
	memcpy(r + 8, ip + 24, 16);
	memcpy(r + 24, ip + 8, 16);
	return l->l3_off + 40;
}

/* Pseudo-header sum of the reply (RFC 793 / RFC 8200 §8.1). */
static __u32 reply_pseudo(const __u8 *reply_ip, int ipv, __u8 proto, size_t len)
{
	__u32 sum = 0;
	__u8 w[4];

	if (ipv == 4) {
		sum = pkt_csum_add(sum, reply_ip + 12, 8);
		return sum + proto + (__u32)len;
	}
	sum = pkt_csum_add(sum, reply_ip + 8, 32);
	put32(w, (__u32)len);
	sum = pkt_csum_add(sum, w, 4);
	w[0] = w[1] = w[2] = 0;
	w[3] = proto;
	return pkt_csum_add(sum, w, 4);
}

int pkt_expect_reject(const __u8 *frame, size_t len, struct pkt *out)
{
	struct pkt_layout l;
	const __u8 *in4;
	__u8 *o = out->d;
	size_t l4;

	memset(out, 0, sizeof(*out));
	if (pkt_layout(frame, len, &l))
		return -1;
	in4 = frame + l.l4_off;
	if (l.proto == 6) {
		size_t doff = (size_t)(in4[12] >> 4) * 4;
		size_t data = l.l3_off + l.ip_len - l.l4_off - doff;
		__u8 *t;

		l4 = reply_head(frame, &l, 6, 20, o);
		t = o + l4;
		memset(t, 0, 20);
		memcpy(t, in4 + 2, 2); /* source port: the VIP's */
		memcpy(t + 2, in4, 2);
		/* seq 0; ack = SEG.SEQ + SEG.LEN, the SYN counting one */
		put32(t + 8, get32(in4 + 4) + 1 + (__u32)data);
		t[12] = 5 << 4;
		t[13] = 0x14; /* RST|ACK */
		put16(t + 16,
		      pkt_csum_fold(pkt_csum_add(reply_pseudo(o + l.l3_off, l.ip, 6, 20), t, 20)));
		out->len = l4 + 20;
		return 0;
	}
	/* UDP: ICMP / ICMPv6 destination unreachable, administratively prohibited */
	{
		size_t q = l.ip_len < PKT_REPLY_QUOTE ? l.ip_len : PKT_REPLY_QUOTE;
		__u8 proto = l.ip == 4 ? 1 : 58;
		__u32 sum = 0;
		__u8 *ic;

		l4 = reply_head(frame, &l, proto, 8 + q, o);
		ic = o + l4;
		memset(ic, 0, 8);
		ic[0] = l.ip == 4 ? 3 : 1;
		ic[1] = l.ip == 4 ? 13 : 1;
		memcpy(ic + 8, frame + l.l3_off, q);
		if (l.ip == 6)
			sum = reply_pseudo(o + l.l3_off, 6, 58, 8 + q);
		put16(ic + 2, pkt_csum_fold(pkt_csum_add(sum, ic, 8 + q)));
		out->len = l4 + 8 + q;
		return 0;
	}
}
