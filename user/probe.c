// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's health probes (user/probe.h). Everything is non-blocking and
 * driven by the agent's epoll loop; results are delivered in send order.
 */
#define _GNU_SOURCE /* memmem */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/ethernet.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/ip_icmp.h>
#include <netinet/icmp6.h>
#include <netinet/udp.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "probe.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

#define TOKEN "cgp-" /* followed by uid-seq: how answers are matched to probes */
#define FRAME_MAX 256

const char *cg_check_type_name(int type)
{
	switch (type) {
	case CG_CHECK_TUNNEL:
		return "tunnel";
	case CG_CHECK_UDP:
		return "udp";
	case CG_CHECK_TCP:
		return "tcp";
	case CG_CHECK_ICMP:
		return "icmp";
	}
	return "?";
}

/* ---- checksums (RFC 1071) ---- */

static __u32 csum_add(__u32 sum, const void *data, size_t len)
{
	const __u8 *p = data;

	for (; len > 1; len -= 2, p += 2)
		sum += (__u32)p[0] << 8 | p[1];
	if (len)
		sum += (__u32)p[0] << 8;
	return sum;
}

static __u16 csum_fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((__u16)~sum);
}

/* UDP checksum over the pseudo-header of family, addresses and the datagram */
static __u16 udp_csum(int family, const __be32 *src, const __be32 *dst, const void *udp, size_t len)
{
	__u32 sum = 0;
	__u8 ph[8] = { 0 };
	__u16 c;

	sum = csum_add(sum, src, family == CG_AF_INET ? 4 : 16);
	sum = csum_add(sum, dst, family == CG_AF_INET ? 4 : 16);
	if (family == CG_AF_INET) {
		ph[1] = IPPROTO_UDP;
		ph[2] = len >> 8;
		ph[3] = len & 0xff;
		sum = csum_add(sum, ph, 4);
	} else {
		ph[2] = len >> 8;
		ph[3] = len & 0xff;
		ph[7] = IPPROTO_UDP;
		sum = csum_add(sum, ph, 8);
	}
	sum = csum_add(sum, udp, len);
	c = csum_fold(sum);
	return c ? c : 0xffff; /* 0 means "no checksum" in UDP */
}

/* ---- addresses ---- */

static socklen_t to_sockaddr(int family, const __be32 *addr, __u16 port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == CG_AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, addr, 4);
		return sizeof(*s);
	}
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons(port);
	memcpy(&s6->sin6_addr, addr, 16);
	return sizeof(*s6);
}

static int af(int family)
{
	return family == CG_AF_INET ? AF_INET : AF_INET6;
}

/* ---- results ---- */

static void deliver(struct cg_prober *p, struct cg_probe_target *t)
{
	while (t->head != t->next_seq) {
		struct cg_probe_slot *s = &t->slots[t->head % CG_PROBE_WINDOW];

		if (s->state == CG_SLOT_PENDING)
			break;
		t->head++;
		if (s->state == CG_SLOT_FREE)
			continue;
		p->result(p->ctx, t, s->state == CG_SLOT_OK, s->sent_real, s->sent_mono,
			  s->state == CG_SLOT_OK ? s->done_mono - s->sent_mono : 0, s->why);
		s->state = CG_SLOT_FREE;
	}
}

static void slot_close(struct cg_prober *p, struct cg_probe_slot *s)
{
	if (s->ev.fd >= 0) {
		struct linger l = { 1, 0 }; /* RST, no TIME_WAIT on either side */

		setsockopt(s->ev.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, s->ev.fd, NULL);
		close(s->ev.fd);
		s->ev.fd = -1;
	}
}

static void resolve(struct cg_prober *p, struct cg_probe_target *t, __u32 seq, bool ok,
		    const char *why, __u64 now)
{
	struct cg_probe_slot *s;

	if (seq - t->head >= t->next_seq - t->head) /* not in flight (late or foreign) */
		return;
	s = &t->slots[seq % CG_PROBE_WINDOW];
	if (s->state != CG_SLOT_PENDING || s->seq != seq)
		return;
	slot_close(p, s);
	s->state = ok ? CG_SLOT_OK : CG_SLOT_FAIL;
	s->why = why;
	s->done_mono = now;
	deliver(p, t);
}

/* An answer without a usable token (match_any, or an ICMP error): the
 * oldest probe in flight. */
static void resolve_oldest(struct cg_prober *p, struct cg_probe_target *t, bool ok, const char *why,
			   __u64 now)
{
	for (__u32 q = t->head; q != t->next_seq; q++)
		if (t->slots[q % CG_PROBE_WINDOW].state == CG_SLOT_PENDING) {
			resolve(p, t, q, ok, why, now);
			return;
		}
}

/* "...cgp-UID-SEQ..." in an answer: the probe it belongs to */
static bool parse_token(const char *buf, size_t n, __u32 *uid, __u32 *seq)
{
	const char *tok = memmem(buf, n, TOKEN, strlen(TOKEN));
	char tmp[32];
	size_t k;

	if (!tok)
		return false;
	tok += strlen(TOKEN);
	k = n - (size_t)(tok - buf);
	if (k >= sizeof(tmp))
		k = sizeof(tmp) - 1;
	memcpy(tmp, tok, k);
	tmp[k] = '\0';
	return sscanf(tmp, "%u-%u", uid, seq) == 2;
}

/* ---- answer sockets (tunnel, udp) ---- */

static bool from_service(const struct cg_probe_target *t, const struct sockaddr_storage *from)
{
	if (t->check.family == CG_AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)from;

		return s->sin_family == AF_INET && !memcmp(&s->sin_addr, t->check.addr, 4) &&
		       ntohs(s->sin_port) == t->check.port;
	}
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)from;

	return s6->sin6_family == AF_INET6 && !memcmp(&s6->sin6_addr, t->check.addr, 16) &&
	       ntohs(s6->sin6_port) == t->check.port;
}

static void on_udp(struct cg_ev *ev, __u32 events)
{
	struct cg_probe_target *t = container_of(ev, struct cg_probe_target, ev);
	char buf[2048];
	__u64 now = cg_mono_ns();

	for (;;) {
		struct sockaddr_storage from;
		socklen_t flen = sizeof(from);
		__u32 uid, seq;
		ssize_t n = recvfrom(ev->fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &flen);

		if (n < 0) {
			char cbuf[512];
			struct msghdr m = { .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };

			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			/* an ICMP error queued by IP_RECVERR: unreachable, port refused */
			if (recvmsg(ev->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
				resolve_oldest(t->p, t, false, "ICMP error", now);
			else
				break;
			continue;
		}
		/* tunnel: only the service's own answer counts, from VIP:port */
		if (t->check.type == CG_CHECK_TUNNEL && !from_service(t, &from))
			continue;
		if (parse_token(buf, (size_t)n, &uid, &seq) && uid == t->uid)
			resolve(t->p, t, seq, true, NULL, now);
		else if (t->check.match_any)
			resolve_oldest(t->p, t, true, NULL, now);
	}
	if (events & EPOLLERR) {
		char cbuf[512];
		struct msghdr m = { .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };

		while (recvmsg(ev->fd, &m, MSG_ERRQUEUE | MSG_DONTWAIT) >= 0) {
			resolve_oldest(t->p, t, false, "ICMP error", now);
			m.msg_controllen = sizeof(cbuf);
		}
	}
}

/* ---- ICMP echo: one raw socket per family for every icmp target ---- */

static struct cg_probe_target *icmp_target(struct cg_prober *p, int family, __u16 id)
{
	for (int i = 0; i < *p->n_targets; i++) {
		struct cg_probe_target *t = p->targets[i];

		if (t && t->check.type == CG_CHECK_ICMP && t->dst_family == family &&
		    (__u16)t->uid == id)
			return t;
	}
	return NULL;
}

static void icmp_answer(struct cg_prober *p, int family, __u16 id, __u16 seq, const char *data,
			size_t n)
{
	struct cg_probe_target *t = icmp_target(p, family, id);
	__u32 uid, full;

	if (!t || !parse_token(data, n, &uid, &full) || uid != t->uid || (__u16)full != seq)
		return;
	resolve(p, t, full, true, NULL, cg_mono_ns());
}

static void on_icmp4(struct cg_ev *ev, __u32 events)
{
	struct cg_prober *p = container_of(ev, struct cg_prober, icmp4);
	char buf[2048];

	for (;;) {
		ssize_t n = recv(ev->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct iphdr *ip = (const void *)buf;
		const struct icmphdr *ic;
		size_t hl;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((size_t)n < sizeof(*ip))
			continue;
		hl = ip->ihl * 4u; /* raw IPv4 sockets see the IP header */
		if ((size_t)n < hl + sizeof(*ic))
			continue;
		ic = (const void *)(buf + hl);
		if (ic->type != ICMP_ECHOREPLY)
			continue;
		icmp_answer(p, CG_AF_INET, ntohs(ic->un.echo.id), ntohs(ic->un.echo.sequence),
			    buf + hl + sizeof(*ic), (size_t)n - hl - sizeof(*ic));
	}
	(void)events;
}

static void on_icmp6(struct cg_ev *ev, __u32 events)
{
	struct cg_prober *p = container_of(ev, struct cg_prober, icmp6);
	char buf[2048];

	for (;;) {
		ssize_t n = recv(ev->fd, buf, sizeof(buf), MSG_DONTWAIT);
		const struct icmp6_hdr *ic = (const void *)buf;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if ((size_t)n < sizeof(*ic) || ic->icmp6_type != ICMP6_ECHO_REPLY)
			continue;
		icmp_answer(p, CG_AF_INET6, ntohs(ic->icmp6_id), ntohs(ic->icmp6_seq),
			    buf + sizeof(*ic), (size_t)n - sizeof(*ic));
	}
	(void)events;
}

/* ---- TCP: one connecting socket per probe ---- */

static void on_tcp(struct cg_ev *ev, __u32 events)
{
	struct cg_probe_slot *s = container_of(ev, struct cg_probe_slot, ev);
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(ev->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (!err && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNRESET;
	if (!err && !(events & EPOLLOUT))
		return;
	resolve(s->t->p, s->t, s->seq, !err, err == ECONNREFUSED ? "connection refused" :
					     err ? "connect failed" : NULL,
		cg_mono_ns());
}

/* ---- setup ---- */

static int add_ev(struct cg_prober *p, struct cg_ev *ev, __u32 events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	return epoll_ctl(p->epfd, EPOLL_CTL_ADD, ev->fd, &e) ? -errno : 0;
}

static int icmp_socket(struct cg_prober *p, int family)
{
	struct cg_ev *ev = family == CG_AF_INET ? &p->icmp4 : &p->icmp6;
	int fd;

	fd = socket(af(family), SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    family == CG_AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6);
	if (fd < 0)
		return -errno;
	if (family == CG_AF_INET) {
		/* ICMP_FILTER: a bit set = that type is dropped */
		__u32 mask = ~(1u << ICMP_ECHOREPLY);

		setsockopt(fd, SOL_RAW, 1 /* ICMP_FILTER */, &mask, sizeof(mask));
	} else {
		struct icmp6_filter f;

		ICMP6_FILTER_SETBLOCKALL(&f);
		ICMP6_FILTER_SETPASS(ICMP6_ECHO_REPLY, &f);
		setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &f, sizeof(f));
	}
	ev->fd = fd;
	ev->fn = family == CG_AF_INET ? on_icmp4 : on_icmp6;
	return add_ev(p, ev, EPOLLIN);
}

int cg_prober_init(struct cg_prober *p, int epfd, __u64 timeout_ns, cg_probe_result_fn fn,
		   void *ctx, struct cg_probe_target **targets, int *n_targets)
{
	memset(p, 0, sizeof(*p));
	p->epfd = epfd;
	p->timeout_ns = timeout_ns;
	p->result = fn;
	p->ctx = ctx;
	p->targets = targets;
	p->n_targets = n_targets;
	p->icmp4.fd = p->icmp6.fd = -1;
	/* protocol 0: this socket sends frames and receives nothing */
	p->pkt_fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
	if (p->pkt_fd < 0)
		return -errno;
	if (icmp_socket(p, CG_AF_INET) || icmp_socket(p, CG_AF_INET6)) {
		int err = -errno;

		cg_prober_close(p);
		return err ? err : -EINVAL;
	}
	return 0;
}

void cg_prober_close(struct cg_prober *p)
{
	if (p->pkt_fd >= 0)
		close(p->pkt_fd);
	if (p->icmp4.fd >= 0)
		close(p->icmp4.fd);
	if (p->icmp6.fd >= 0)
		close(p->icmp6.fd);
	p->pkt_fd = p->icmp4.fd = p->icmp6.fd = -1;
}

int cg_probe_open(struct cg_prober *p, struct cg_probe_target *t)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd, family, one = 1;

	t->p = p;
	t->ev.fd = -1;
	t->ev.fn = on_udp;
	t->error[0] = '\0';
	for (int i = 0; i < CG_PROBE_WINDOW; i++) {
		t->slots[i].ev.fd = -1;
		t->slots[i].t = t;
		t->slots[i].state = CG_SLOT_FREE;
	}
	t->head = t->next_seq;
	if (t->check.type == CG_CHECK_TCP || t->check.type == CG_CHECK_ICMP)
		return 0;
	family = t->check.type == CG_CHECK_TUNNEL ? t->check.family : t->dst_family;
	if (t->check.type == CG_CHECK_TUNNEL && t->src_family != family) {
		snprintf(t->error, sizeof(t->error), "no local IPv%d address to answer to",
			 family == CG_AF_INET ? 4 : 6);
		return -EADDRNOTAVAIL;
	}
	fd = socket(af(family), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	if (family == CG_AF_INET)
		setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	else
		setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
	if (t->check.type == CG_CHECK_TUNNEL) {
		/* the port the inner datagram comes from and the answer goes to */
		len = to_sockaddr(family, t->src, 0, &ss);
		if (bind(fd, (struct sockaddr *)&ss, len))
			goto fail_fd;
	} else {
		len = to_sockaddr(family, t->dst, t->check.port, &ss);
		if (connect(fd, (struct sockaddr *)&ss, len))
			goto fail_fd;
	}
	len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail_fd;
	t->sport = ntohs(family == CG_AF_INET ? ((struct sockaddr_in *)&ss)->sin_port :
						((struct sockaddr_in6 *)&ss)->sin6_port);
	t->ev.fd = fd;
	if (add_ev(p, &t->ev, EPOLLIN))
		goto fail_fd;
	return 0;
fail_fd:
	close(fd);
	t->ev.fd = -1;
fail:
	snprintf(t->error, sizeof(t->error), "answer socket: %s", strerror(errno));
	return -errno;
}

void cg_probe_close(struct cg_prober *p, struct cg_probe_target *t)
{
	for (int i = 0; i < CG_PROBE_WINDOW; i++) {
		slot_close(p, &t->slots[i]);
		t->slots[i].state = CG_SLOT_FREE;
	}
	if (t->ev.fd >= 0) {
		epoll_ctl(p->epfd, EPOLL_CTL_DEL, t->ev.fd, NULL);
		close(t->ev.fd);
		t->ev.fd = -1;
	}
	t->head = t->next_seq;
}

/* ---- sending ---- */

static size_t put_ip(__u8 *b, int family, const __be32 *src, const __be32 *dst, __u8 proto,
		     size_t payload, __u32 flow)
{
	if (family == CG_AF_INET) {
		struct iphdr *ip = (struct iphdr *)b;

		memset(ip, 0, sizeof(*ip));
		ip->version = 4;
		ip->ihl = 5;
		ip->tot_len = htons((__u16)(sizeof(*ip) + payload));
		ip->frag_off = htons(IP_DF);
		ip->ttl = CG_OUTER_TTL;
		ip->protocol = proto;
		memcpy(&ip->saddr, src, 4);
		memcpy(&ip->daddr, dst, 4);
		ip->check = csum_fold(csum_add(0, ip, sizeof(*ip)));
		return sizeof(*ip);
	}
	struct ip6_hdr *ip6 = (struct ip6_hdr *)b;

	memset(ip6, 0, sizeof(*ip6));
	ip6->ip6_flow = htonl(6u << 28 | (flow & 0xfffff));
	ip6->ip6_plen = htons((__u16)payload);
	ip6->ip6_nxt = proto;
	ip6->ip6_hlim = CG_OUTER_TTL;
	memcpy(&ip6->ip6_src, src, 16);
	memcpy(&ip6->ip6_dst, dst, 16);
	return sizeof(*ip6);
}

/* The frame the dataplane would send to this endpoint, carrying an inner
 * UDP datagram from our answer socket to the VIP. */
static size_t tunnel_frame(const struct cg_probe_target *t, const char *msg, size_t mlen, __u8 *b)
{
	int in = t->check.family, out = t->dst_family;
	size_t inner_ip = in == CG_AF_INET ? sizeof(struct iphdr) : sizeof(struct ip6_hdr);
	size_t udp_len = sizeof(struct udphdr) + mlen, off = 0;
	struct ether_header *eth = (struct ether_header *)b;
	struct udphdr *udp;

	memcpy(eth->ether_dhost, t->dmac, 6);
	memcpy(eth->ether_shost, t->smac, 6);
	eth->ether_type = htons(out == CG_AF_INET ? ETHERTYPE_IP : ETHERTYPE_IPV6);
	off = sizeof(*eth);
	off += put_ip(b + off, out, t->outer_src, t->dst, in == CG_AF_INET ? IPPROTO_IPIP : IPPROTO_IPV6,
		      inner_ip + udp_len, t->uid);
	off += put_ip(b + off, in, t->src, t->check.addr, IPPROTO_UDP, udp_len, t->uid);
	udp = (struct udphdr *)(b + off);
	udp->source = htons(t->sport);
	udp->dest = htons(t->check.port);
	udp->len = htons((__u16)udp_len);
	udp->check = 0;
	memcpy(udp + 1, msg, mlen);
	udp->check = udp_csum(in, t->src, t->check.addr, udp, udp_len);
	return off + udp_len;
}

static const char *send_error(int err)
{
	switch (err) {
	case ENETDOWN:
		return "interface down";
	case ENXIO:
	case ENODEV:
		return "interface gone";
	case ENETUNREACH:
	case EHOSTUNREACH:
		return "unreachable";
	case ECONNREFUSED:
		return "refused";
	}
	return "send failed";
}

void cg_probe_send(struct cg_prober *p, struct cg_probe_target *t, __u64 now)
{
	struct cg_probe_slot *s;
	struct sockaddr_storage ss;
	char msg[CG_PAYLOAD_MAX + 40];
	__u8 frame[FRAME_MAX];
	__u32 seq;
	socklen_t len;
	int mlen, fd, err = 0;

	/* a full window: the oldest probe has outlived any sane timeout */
	if (t->next_seq - t->head >= CG_PROBE_WINDOW) {
		resolve(p, t, t->head, false, "timeout", now);
		if (t->next_seq - t->head >= CG_PROBE_WINDOW)
			return;
	}
	seq = t->next_seq++;
	s = &t->slots[seq % CG_PROBE_WINDOW];
	s->seq = seq;
	s->state = CG_SLOT_PENDING;
	s->sent_mono = now;
	s->sent_real = cg_real_ns();
	s->why = NULL;
	s->t = t;
	s->ev.fd = -1;
	if (t->error[0]) {
		resolve(p, t, seq, false, t->error, now);
		return;
	}
	mlen = snprintf(msg, sizeof(msg), "%s " TOKEN "%u-%u\n",
			t->check.payload[0] ? t->check.payload : "cellgate-probe", t->uid, seq);
	switch (t->check.type) {
	case CG_CHECK_TUNNEL: {
		struct sockaddr_ll ll = {
			.sll_family = AF_PACKET,
			.sll_ifindex = (int)t->ifindex,
			.sll_halen = 6,
		};
		size_t n = tunnel_frame(t, msg, (size_t)mlen, frame);

		memcpy(ll.sll_addr, t->dmac, 6);
		if (sendto(p->pkt_fd, frame, n, MSG_DONTWAIT, (struct sockaddr *)&ll, sizeof(ll)) < 0)
			err = errno;
		break;
	}
	case CG_CHECK_UDP:
		if (send(t->ev.fd, msg, (size_t)mlen, MSG_DONTWAIT) < 0)
			err = errno;
		break;
	case CG_CHECK_TCP:
		fd = socket(af(t->dst_family), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			break;
		}
		len = to_sockaddr(t->dst_family, t->dst, t->check.port, &ss);
		if (connect(fd, (struct sockaddr *)&ss, len) && errno != EINPROGRESS) {
			err = errno;
			close(fd);
			break;
		}
		s->ev.fd = fd;
		s->ev.fn = on_tcp;
		if (add_ev(p, &s->ev, EPOLLOUT)) {
			err = errno;
			close(fd);
			s->ev.fd = -1;
		}
		break;
	case CG_CHECK_ICMP: {
		size_t hl = t->dst_family == CG_AF_INET ? sizeof(struct icmphdr) : sizeof(struct icmp6_hdr);

		memset(frame, 0, hl);
		memcpy(frame + hl, msg, (size_t)mlen);
		if (t->dst_family == CG_AF_INET) {
			struct icmphdr *ic = (struct icmphdr *)frame;

			ic->type = ICMP_ECHO;
			ic->un.echo.id = htons((__u16)t->uid);
			ic->un.echo.sequence = htons((__u16)seq);
			ic->checksum = csum_fold(csum_add(0, frame, hl + (size_t)mlen));
		} else {
			struct icmp6_hdr *ic = (struct icmp6_hdr *)frame;

			ic->icmp6_type = ICMP6_ECHO_REQUEST;
			ic->icmp6_id = htons((__u16)t->uid);
			ic->icmp6_seq = htons((__u16)seq);
			/* the kernel fills the ICMPv6 checksum */
		}
		len = to_sockaddr(t->dst_family, t->dst, 0, &ss);
		if (sendto(t->dst_family == CG_AF_INET ? p->icmp4.fd : p->icmp6.fd, frame,
			   hl + (size_t)mlen, MSG_DONTWAIT, (struct sockaddr *)&ss, len) < 0)
			err = errno;
		break;
	}
	}
	if (err)
		resolve(p, t, seq, false, send_error(err), now);
}

void cg_probe_expire(struct cg_prober *p, struct cg_probe_target *t, __u64 now)
{
	for (__u32 q = t->head; q != t->next_seq; q++) {
		struct cg_probe_slot *s = &t->slots[q % CG_PROBE_WINDOW];

		if (s->state != CG_SLOT_PENDING)
			continue;
		if (s->sent_mono + p->timeout_ns > now)
			break; /* later probes were sent later */
		slot_close(p, s);
		s->state = CG_SLOT_FAIL;
		s->why = "timeout";
		s->done_mono = now;
	}
	deliver(p, t);
}

__u64 cg_probe_deadline(const struct cg_prober *p, const struct cg_probe_target *t)
{
	for (__u32 q = t->head; q != t->next_seq; q++) {
		const struct cg_probe_slot *s = &t->slots[q % CG_PROBE_WINDOW];

		if (s->state == CG_SLOT_PENDING)
			return s->sent_mono + p->timeout_ns;
	}
	return 0;
}
