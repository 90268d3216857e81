// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Packet builder and checkers: see pkt.h. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pkt.h"

#define IPPROTO_HOPOPTS_ 0
#define IPPROTO_ICMP_ 1
#define IPPROTO_IPIP_ 4
#define IPPROTO_TCP_ 6
#define IPPROTO_UDP_ 17
#define IPPROTO_IPV6_ 41
#define IPPROTO_ROUTING_ 43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_ 51
#define IPPROTO_ICMPV6_ 58
#define IPPROTO_NONE_ 59
#define IPPROTO_DSTOPTS_ 60

static const char *default_dmac = "02:00:00:00:ee:01";
static const char *default_smac = "02:00:00:00:ee:02";

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

static __u16 get16(const __u8 *p)
{
	return (__u16)(p[0] << 8 | p[1]);
}

int pkt_parse_mac(const char *str, __u8 mac[6])
{
	unsigned int b[6];
	int i;

	if (sscanf(str, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return -1;
		mac[i] = b[i];
	}
	return 0;
}

int pkt_parse_addr(const char *str, __be32 addr[4])
{
	memset(addr, 0, 16);
	if (!str)
		return -1;
	if (inet_pton(AF_INET, str, addr) == 1)
		return 4;
	if (inet_pton(AF_INET6, str, addr) == 1)
		return 6;
	return -1;
}

void pkt_format_addr(int family, const __be32 addr[4], char *buf, size_t len)
{
	if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, addr, buf, len))
		snprintf(buf, len, "?");
}

__u32 pkt_csum_add(__u32 sum, const void *data, size_t len)
{
	const __u8 *p = data;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (__u32)p[len - 1] << 8;
	return sum;
}

__u16 pkt_csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
}

/* Pseudo-header sum (RFC 793 / RFC 8200 §8.1). */
static __u32 pseudo_sum(int ip, const __be32 *src, const __be32 *dst, __u8 proto, __u32 len)
{
	__u32 sum = 0;
	__u8 w[4];

	sum = pkt_csum_add(sum, src, ip == 6 ? 16 : 4);
	sum = pkt_csum_add(sum, dst, ip == 6 ? 16 : 4);
	if (ip == 6) {
		put32(w, len);
		sum = pkt_csum_add(sum, w, 4);
		w[0] = w[1] = w[2] = 0;
		w[3] = proto;
		sum = pkt_csum_add(sum, w, 4);
	} else {
		sum += proto;
		sum += len & 0xffff;
	}
	return sum;
}

static int l4_proto(const struct pkt_spec *s)
{
	switch (s->l4) {
	case PKT_L4_TCP:
		return IPPROTO_TCP_;
	case PKT_L4_UDP:
		return IPPROTO_UDP_;
	case PKT_L4_ICMP:
		return s->ip == 6 ? IPPROTO_ICMPV6_ : IPPROTO_ICMP_;
	case PKT_L4_NONE:
		break;
	}
	return s->proto ? s->proto : IPPROTO_NONE_;
}

static size_t put_payload(const struct pkt_spec *s, __u8 *p)
{
	size_t i;

	if (s->payload)
		memcpy(p, s->payload, s->payload_len);
	else
		for (i = 0; i < s->payload_len; i++)
			p[i] = (__u8)(0x40 + i);
	return s->payload_len;
}

/* L4 header + payload (or quote) into p, checksum included. */
static int build_l4(const struct pkt_spec *s, const __be32 *src, const __be32 *dst, __u8 *p,
		    size_t cap, size_t *lenp)
{
	size_t len = 0, hl;
	__u16 csum;

	switch (s->l4) {
	case PKT_L4_TCP:
		if (s->tcp_opts_len % 4 || 20 + s->tcp_opts_len + s->payload_len > cap)
			return -1;
		hl = 20 + s->tcp_opts_len;
		memset(p, 0, hl);
		put16(p, s->sport);
		put16(p + 2, s->dport);
		put32(p + 4, s->seq ? s->seq : 1000);
		put32(p + 8, s->ack_seq);
		p[12] = (__u8)((s->doff ? s->doff : (int)(hl / 4)) << 4);
		p[13] = s->tcp_flags ? s->tcp_flags : PKT_TCP_ACK;
		put16(p + 14, 65535);
		if (s->tcp_opts_len)
			memcpy(p + 20, s->tcp_opts, s->tcp_opts_len);
		len = hl + put_payload(s, p + hl);
		csum = pkt_csum_fold(pkt_csum_add(pseudo_sum(s->ip, src, dst, IPPROTO_TCP_, len), p,
						  len));
		put16(p + 16, csum);
		break;
	case PKT_L4_UDP:
		if (8 + s->payload_len > cap)
			return -1;
		memset(p, 0, 8);
		put16(p, s->sport);
		put16(p + 2, s->dport);
		len = 8 + put_payload(s, p + 8);
		put16(p + 4, (__u16)len);
		csum = pkt_csum_fold(pkt_csum_add(pseudo_sum(s->ip, src, dst, IPPROTO_UDP_, len), p,
						  len));
		put16(p + 6, csum ? csum : 0xffff); /* 0 means "no checksum" */
		break;
	case PKT_L4_ICMP: {
		struct pkt q;

		memset(p, 0, 8);
		p[0] = s->icmp_type;
		p[1] = s->icmp_code;
		put32(p + 4, s->icmp_info);
		len = 8;
		if (s->quote) {
			struct pkt_spec qs = *s->quote;

			qs.no_eth = true;
			if (pkt_build(&qs, &q))
				return -1;
			if (s->quote_len && s->quote_len < q.len)
				q.len = s->quote_len;
			if (len + q.len > cap)
				return -1;
			memcpy(p + len, q.d, q.len);
			len += q.len;
		}
		if (len + s->payload_len > cap)
			return -1;
		len += put_payload(s, p + len);
		if (s->ip == 6)
			csum = pkt_csum_fold(pkt_csum_add(
				pseudo_sum(6, src, dst, IPPROTO_ICMPV6_, len), p, len));
		else
			csum = pkt_csum_fold(pkt_csum_add(0, p, len));
		put16(p + 2, csum);
		break;
	}
	case PKT_L4_NONE:
		if (s->quote) { /* an encapsulated packet (IPIP and the like) */
			struct pkt q;
			struct pkt_spec qs = *s->quote;

			qs.no_eth = true;
			if (pkt_build(&qs, &q))
				return -1;
			if (s->quote_len && s->quote_len < q.len)
				q.len = s->quote_len;
			if (q.len > cap)
				return -1;
			memcpy(p, q.d, q.len);
			len = q.len;
		}
		if (len + s->payload_len > cap)
			return -1;
		len += put_payload(s, p + len);
		break;
	}
	if (s->l4_len > 0 && (size_t)s->l4_len < len)
		len = s->l4_len;
	*lenp = len;
	return 0;
}

static size_t ext_size(const struct pkt_ext *e)
{
	switch (e->type) {
	case IPPROTO_FRAGMENT_:
		return 8;
	case IPPROTO_AH_:
		return ((size_t)(e->len ? e->len : 4) + 2) * 4;
	default:
		return ((size_t)e->len + 1) * 8;
	}
}

static void build_ext(const struct pkt_ext *e, __u8 next, __u8 *p)
{
	size_t n = ext_size(e);

	memset(p, 0, n);
	p[0] = next;
	switch (e->type) {
	case IPPROTO_FRAGMENT_:
		put16(p + 2, (__u16)(e->frag_off << 3 | (e->mf ? 1 : 0)));
		put32(p + 4, e->frag_id);
		break;
	case IPPROTO_AH_:
		p[1] = (__u8)(n / 4 - 2);
		put32(p + 4, 0x100); /* SPI */
		put32(p + 8, 1); /* sequence */
		memset(p + 12, 0xa5, n - 12); /* ICV */
		break;
	case IPPROTO_ROUTING_:
		p[1] = e->len;
		p[2] = 0; /* type 0 */
		p[3] = 0; /* segments left: nothing to process */
		break;
	default: /* hop-by-hop, destination options: one PadN option */
		p[1] = e->len;
		p[2] = 1;
		p[3] = (__u8)(n - 4);
		break;
	}
}

int pkt_build(const struct pkt_spec *s, struct pkt *out)
{
	__be32 src[4] = {}, dst[4] = {};
	__u8 l4[PKT_MAX];
	size_t l4len = 0, off = 0, hl, i;
	__u8 *p = out->d;
	int fam;

	memset(out, 0, sizeof(*out));
	if (s->ip == 4 || s->ip == 6) {
		fam = pkt_parse_addr(s->src, src);
		if (fam != s->ip || pkt_parse_addr(s->dst, dst) != s->ip) {
			fprintf(stderr, "pkt: bad IPv%d addresses %s -> %s\n", s->ip,
				s->src ? s->src : "(null)", s->dst ? s->dst : "(null)");
			return -1;
		}
	}
	if (build_l4(s, src, dst, l4, sizeof(l4) - 256, &l4len)) {
		fprintf(stderr, "pkt: L4 does not fit\n");
		return -1;
	}

	if (!s->no_eth) {
		__u16 type = s->ethertype;

		if (s->n_vlan > PKT_MAX_VLAN ||
		    pkt_parse_mac(s->dmac ? s->dmac : default_dmac, p) ||
		    pkt_parse_mac(s->smac ? s->smac : default_smac, p + 6)) {
			fprintf(stderr, "pkt: bad Ethernet spec\n");
			return -1;
		}
		off = 12;
		for (i = 0; i < (size_t)s->n_vlan; i++) {
			put16(p + off, s->vlan_tpid[i] ? s->vlan_tpid[i] : PKT_ETH_P_8021Q);
			put16(p + off + 2, s->vlan_tci[i]);
			off += 4;
		}
		if (!type)
			type = s->ip == 6 ? PKT_ETH_P_IPV6 : s->ip == 4 ? PKT_ETH_P_IP : 0;
		put16(p + off, type);
		off += 2;
	}

	if (s->ip == 4) {
		__u8 *ip = p + off;
		__u16 frag;

		if (s->opts_len % 4 || s->opts_len > 40)
			return -1;
		hl = 20 + s->opts_len;
		memset(ip, 0, hl);
		ip[0] = (__u8)((s->version ? s->version : 4) << 4 |
			       (s->ihl ? s->ihl : (int)(hl / 4)));
		ip[1] = s->tos;
		put16(ip + 2, (__u16)(s->tot_len ? s->tot_len : (int)(hl + l4len)));
		put16(ip + 4, s->id);
		frag = s->frag_off & 0x1fff;
		if (s->df)
			frag |= 0x4000;
		if (s->mf)
			frag |= 0x2000;
		put16(ip + 6, frag);
		ip[8] = s->ttl ? s->ttl : 64;
		ip[9] = s->proto ? s->proto : (__u8)l4_proto(s);
		memcpy(ip + 12, src, 4);
		memcpy(ip + 16, dst, 4);
		if (s->opts_len)
			memcpy(ip + 20, s->opts, s->opts_len);
		put16(ip + 10, pkt_csum_fold(pkt_csum_add(0, ip, hl)));
		off += hl;
	} else if (s->ip == 6) {
		__u8 *ip = p + off;
		size_t ext_total = 0;
		__u8 l4p = s->proto ? s->proto : (__u8)l4_proto(s);
		int k;

		if (s->n_ext > PKT_MAX_EXT)
			return -1;
		for (k = 0; k < s->n_ext; k++)
			ext_total += ext_size(&s->ext[k]);
		memset(ip, 0, 40);
		put32(ip, (__u32)(s->version ? s->version : 6) << 28 | (__u32)s->tos << 20 |
				  (s->flow_label & 0xfffff));
		put16(ip + 4, (__u16)(s->tot_len ? s->tot_len : (int)(ext_total + l4len)));
		ip[6] = s->n_ext ? s->ext[0].type : l4p;
		ip[7] = s->ttl ? s->ttl : 64;
		memcpy(ip + 8, src, 16);
		memcpy(ip + 24, dst, 16);
		off += 40;
		for (k = 0; k < s->n_ext; k++) {
			build_ext(&s->ext[k], k + 1 < s->n_ext ? s->ext[k + 1].type : l4p, p + off);
			off += ext_size(&s->ext[k]);
		}
	}
	if (off + l4len > PKT_MAX)
		return -1;
	memcpy(p + off, l4, l4len);
	off += l4len;

	if (s->pad && !s->no_eth)
		while (off < PKT_MIN_FRAME)
			p[off++] = s->pad_byte;
	if (s->trunc && s->trunc < off)
		off = s->trunc;
	out->len = off;
	return 0;
}

int pkt_frame_ip(const __u8 *frame, size_t len, size_t *ip_off, size_t *ip_len)
{
	size_t off = 12, n;
	int tags = 0;
	__u16 type;

	for (;;) {
		if (off + 2 > len)
			return -1;
		type = get16(frame + off);
		off += 2;
		if ((type != PKT_ETH_P_8021Q && type != PKT_ETH_P_8021AD) || tags == PKT_MAX_VLAN)
			break;
		off += 2;
		tags++;
	}
	if (type == PKT_ETH_P_IP && off + 20 <= len && frame[off] >> 4 == 4) {
		n = get16(frame + off + 2);
	} else if (type == PKT_ETH_P_IPV6 && off + 40 <= len && frame[off] >> 4 == 6) {
		n = 40 + (size_t)get16(frame + off + 4);
	} else {
		return -1;
	}
	if (off + n > len)
		n = len - off;
	*ip_off = off;
	*ip_len = n;
	return frame[off] >> 4;
}

bool pkt_ipv4_csum_ok(const __u8 *ip, size_t len)
{
	size_t hl;

	if (len < 20 || ip[0] >> 4 != 4)
		return false;
	hl = (size_t)(ip[0] & 0xf) * 4;
	if (hl < 20 || hl > len)
		return false;
	return pkt_csum_fold(pkt_csum_add(0, ip, hl)) == 0;
}

int pkt_l4_csum_ok(const __u8 *ip, size_t len)
{
	__be32 src[4] = {}, dst[4] = {};
	size_t off, end;
	__u8 proto;
	int v = ip[0] >> 4, n;
	__u32 sum;

	if (v == 4) {
		if (len < 20 || get16(ip + 6) & 0x3fff)
			return -1;
		off = (size_t)(ip[0] & 0xf) * 4;
		end = get16(ip + 2);
		proto = ip[9];
		memcpy(src, ip + 12, 4);
		memcpy(dst, ip + 16, 4);
	} else if (v == 6) {
		if (len < 40)
			return -1;
		off = 40;
		end = 40 + (size_t)get16(ip + 4);
		proto = ip[6];
		memcpy(src, ip + 8, 16);
		memcpy(dst, ip + 24, 16);
		for (n = 0; n < PKT_MAX_EXT; n++) {
			if (proto == IPPROTO_HOPOPTS_ || proto == IPPROTO_ROUTING_ ||
			    proto == IPPROTO_DSTOPTS_) {
				if (off + 8 > len)
					return -1;
				proto = ip[off];
				off += ((size_t)ip[off + 1] + 1) * 8;
			} else if (proto == IPPROTO_AH_) {
				if (off + 8 > len)
					return -1;
				proto = ip[off];
				off += ((size_t)ip[off + 1] + 2) * 4;
			} else if (proto == IPPROTO_FRAGMENT_) {
				return -1;
			} else {
				break;
			}
		}
	} else {
		return -1;
	}
	if (end > len || off > end)
		return -1;
	if (proto == IPPROTO_UDP_ && v == 4 && end - off >= 8 && get16(ip + off + 6) == 0)
		return 1;
	if (proto == IPPROTO_TCP_ || proto == IPPROTO_UDP_ || proto == IPPROTO_ICMPV6_)
		sum = pseudo_sum(v, src, dst, proto, (__u32)(end - off));
	else if (proto == IPPROTO_ICMP_ && v == 4)
		sum = 0;
	else
		return -1;
	return pkt_csum_fold(pkt_csum_add(sum, ip + off, end - off)) == 0;
}

int pkt_expect_encap(const struct pkt_encap *e, const __u8 *ip, size_t ip_len, struct pkt *out)
{
	int inner = ip_len ? ip[0] >> 4 : 0;
	__u8 tos, *p = out->d, *o;

	memset(out, 0, sizeof(*out));
	if ((inner != 4 && inner != 6) || (e->family != 4 && e->family != 6) ||
	    14 + 40 + ip_len > PKT_MAX)
		return -1;
	tos = inner == 4 ? ip[1] : (__u8)((ip[0] & 0xf) << 4 | ip[1] >> 4);
	memcpy(p, e->dmac, 6);
	memcpy(p + 6, e->smac, 6);
	put16(p + 12, e->family == 4 ? PKT_ETH_P_IP : PKT_ETH_P_IPV6);
	o = p + 14;
	if (e->family == 4) {
		o[0] = 0x45;
		o[1] = tos;
		put16(o + 2, (__u16)(ip_len + 20));
		put16(o + 4, 0);
		put16(o + 6, 0x4000); /* DF */
		o[8] = 64;
		o[9] = inner == 4 ? IPPROTO_IPIP_ : IPPROTO_IPV6_;
		memcpy(o + 12, e->saddr, 4);
		memcpy(o + 16, e->daddr, 4);
		put16(o + 10, pkt_csum_fold(pkt_csum_add(0, o, 20)));
		memcpy(o + 20, ip, ip_len);
		out->len = 14 + 20 + ip_len;
	} else {
		put32(o, 6u << 28 | (__u32)tos << 20 | (e->hash & 0xfffff));
		put16(o + 4, (__u16)ip_len);
		o[6] = inner == 4 ? IPPROTO_IPIP_ : IPPROTO_IPV6_;
		o[7] = 64;
		memcpy(o + 8, e->saddr, 16);
		memcpy(o + 24, e->daddr, 16);
		memcpy(o + 40, ip, ip_len);
		out->len = 14 + 40 + ip_len;
	}
	return 0;
}

__be32 pkt_prefix_hostmask4(int plen)
{
	return htonl(plen >= 32 ? 0 : 0xffffffffu >> plen);
}

__be32 pkt_prefix_hostmask6(int plen)
{
	return htonl(plen >= 128 ? 0 : plen <= 96 ? 0xffffffffu : 0xffffffffu >> (plen - 96));
}

void pkt_outer_src4(__be32 prefix, int plen, __u32 h, __be32 out[4])
{
	memset(out, 0, 16);
	out[0] = prefix | (htonl(h) & pkt_prefix_hostmask4(plen));
}

void pkt_outer_src6(const __be32 prefix[4], int plen, __u32 h, __be32 out[4])
{
	memcpy(out, prefix, 16);
	out[3] = prefix[3] | (htonl(h) & pkt_prefix_hostmask6(plen));
}

int pkt_expect_decap(const __u8 *f, size_t len, struct pkt *out)
{
	size_t hl, inner_len;

	memset(out, 0, sizeof(*out));
	if (len < 14 + 20)
		return -1;
	if (get16(f + 12) == PKT_ETH_P_IP) {
		hl = (size_t)(f[14] & 0xf) * 4;
		if (get16(f + 16) < hl)
			return -1;
		inner_len = get16(f + 16) - hl;
	} else if (get16(f + 12) == PKT_ETH_P_IPV6) {
		hl = 40;
		inner_len = get16(f + 18);
	} else {
		return -1;
	}
	if (14 + hl + inner_len > len || inner_len < 1)
		return -1;
	memcpy(out->d, f, 12);
	put16(out->d + 12, f[14 + hl] >> 4 == 6 ? PKT_ETH_P_IPV6 : PKT_ETH_P_IP);
	memcpy(out->d + 14, f + 14 + hl, inner_len);
	out->len = 14 + inner_len;
	return 0;
}

int pkt_write_pcap(const char *path, const struct pkt *const *pkts, int n)
{
	__u32 gh[6] = { 0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1 };
	FILE *f = fopen(path, "wb");
	int i;

	if (!f)
		return -1;
	fwrite(gh, sizeof(gh), 1, f);
	for (i = 0; i < n; i++) {
		__u32 rh[4] = { (__u32)i, 0, (__u32)pkts[i]->len, (__u32)pkts[i]->len };

		fwrite(rh, sizeof(rh), 1, f);
		fwrite(pkts[i]->d, pkts[i]->len, 1, f);
	}
	return fclose(f) ? -1 : 0;
}
