// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Link and neighbour events for the agent, through libnl (as user/monitor.c
 * follows the neighbour table): an endpoint's egress interface going down
 * or away, or its next hop's neighbour entry failing, is reported at once
 * instead of after `fall` lost probes.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <net/if.h>
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP (1 << 16) /* linux/if.h: carrier; net/if.h lacks it */
#endif
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <netlink/route/link.h>

#include "agent.h"
#include "log.h"

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#define NL_RCVBUF (1 << 20) /* a burst of events (a namespace going away) fits */

int cg_link_up(int ifindex, bool *up)
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk = nl_socket_alloc();
	int err;

	if (!sk)
		return -ENOMEM;
	err = nl_connect(sk, NETLINK_ROUTE);
	if (!err)
		err = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
	if (err < 0) {
		err = -ENODEV;
	} else {
		unsigned int f = rtnl_link_get_flags(link);

		*up = (f & IFF_UP) && (f & IFF_LOWER_UP);
		err = 0;
	}
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err;
}

static int on_msg(struct nl_msg *msg, void *arg)
{
	struct cg_link_watch *w = arg;
	struct nlmsghdr *h = nlmsg_hdr(msg);

	if (h->nlmsg_type == RTM_NEWLINK || h->nlmsg_type == RTM_DELLINK) {
		struct ifinfomsg *ifi = nlmsg_data(h);
		bool gone = h->nlmsg_type == RTM_DELLINK;

		if (nlmsg_datalen(h) < (int)sizeof(*ifi))
			return NL_OK;
		w->link(w->ctx, ifi->ifi_index,
			!gone && (ifi->ifi_flags & IFF_UP) && (ifi->ifi_flags & IFF_LOWER_UP), gone);
	} else if (h->nlmsg_type == RTM_NEWNEIGH) {
		struct ndmsg *nd = nlmsg_data(h);
		struct nlattr *tb[NDA_MAX + 1];
		__be32 addr[4] = { 0 };
		int len;

		if (nlmsg_datalen(h) < (int)sizeof(*nd) || !(nd->ndm_state & NUD_FAILED))
			return NL_OK;
		if (nlmsg_parse(h, sizeof(*nd), tb, NDA_MAX, NULL) < 0 || !tb[NDA_DST])
			return NL_OK;
		len = nla_len(tb[NDA_DST]);
		if ((nd->ndm_family == AF_INET && len != 4) || (nd->ndm_family == AF_INET6 && len != 16))
			return NL_OK;
		memcpy(addr, nla_data(tb[NDA_DST]), (size_t)len);
		w->neigh_failed(w->ctx, nd->ndm_ifindex,
				nd->ndm_family == AF_INET ? CG_AF_INET : CG_AF_INET6, addr);
	}
	return NL_OK;
}

static void on_readable(struct cg_ev *ev, __u32 events)
{
	struct cg_link_watch *w = container_of(ev, struct cg_link_watch, ev);

	for (;;) {
		int err = nl_recvmsgs_default(w->sk);

		if (err >= 0)
			continue;
		if (err == -NLE_AGAIN)
			break;
		if (err == -NLE_NOMEM || err == -NLE_MSG_OVERFLOW || err == -NLE_DUMP_INTR) {
			w->overrun(w->ctx); /* ENOBUFS: events were dropped */
			continue;
		}
		break;
	}
	(void)events;
}

int cg_link_watch_open(struct cg_link_watch *w, int epfd)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = &w->ev };
	int err;

	w->sk = nl_socket_alloc();
	if (!w->sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(w->sk);
	nl_socket_modify_cb(w->sk, NL_CB_VALID, NL_CB_CUSTOM, on_msg, w);
	err = nl_connect(w->sk, NETLINK_ROUTE);
	if (!err)
		err = nl_socket_add_memberships(w->sk, RTNLGRP_LINK, RTNLGRP_NEIGH, 0);
	if (!err)
		err = nl_socket_set_nonblocking(w->sk);
	if (!err)
		nl_socket_set_buffer_size(w->sk, NL_RCVBUF, 0);
	if (err) {
		cg_err("agent: cannot subscribe to link and neighbour events: %s\n", nl_geterror(err));
		nl_socket_free(w->sk);
		w->sk = NULL;
		return -EIO;
	}
	w->ev.fd = nl_socket_get_fd(w->sk);
	w->ev.fn = on_readable;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, w->ev.fd, &e)) {
		err = -errno;
		nl_socket_free(w->sk);
		w->sk = NULL;
		return err;
	}
	return 0;
}

void cg_link_watch_close(struct cg_link_watch *w)
{
	if (w->sk)
		nl_socket_free(w->sk);
	w->sk = NULL;
}
