// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Keeps endpoint MACs in step with the kernel's neighbour table: a unit's
 * ingress that changes MAC (failover of a router, a replaced host) would
 * otherwise blackhole its traffic until the next apply.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>
#include <linux/rtnetlink.h>

#include "dp.h"
#include "log.h"
#include "monitor.h"
#include "neigh.h"
#include "tables.h"

#define CG_MONITOR_RESYNC_MS 5000 /* also re-check this often, in case an event was lost */

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

int cg_neigh_refresh(struct cg_dp *dp, bool verbose)
{
	struct cg_errors errs = {};
	struct cg_tables *t = NULL;
	int changed = 0, err;

	err = cg_tables_alloc(&t, dp->bucket_slots);
	if (err)
		return err;
	err = cg_dp_lock(dp);
	if (!err)
		err = cg_dp_read_active(dp, t);
	if (err || !t->gen.generation)
		goto out;
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		struct cg_endpoint *ep = &t->endpoints[i];
		char addr[INET6_ADDRSTRLEN];
		__u8 mac[6];

		if (ep->family == CG_AF_NONE || !(ep->flags & CG_EP_F_NEIGH))
			continue;
		if (cg_neigh_mac(ep->ifindex, ep->family, ep->nexthop, mac))
			continue; /* gone or failed: keep the last MAC (fail static) */
		if (!memcmp(mac, ep->dmac, 6))
			continue;
		inet_ntop(ep->family == CG_AF_INET ? AF_INET : AF_INET6, ep->nexthop, addr, sizeof(addr));
		if (verbose)
			printf("endpoint %u of %s: next hop %s now %02x:%02x:%02x:%02x:%02x:%02x\n", i,
			       t->units[ep->unit % CG_MAX_UNITS].name, addr, mac[0], mac[1], mac[2], mac[3],
			       mac[4], mac[5]);
		memcpy(ep->dmac, mac, 6);
		changed++;
	}
	if (changed) {
		if (cg_publish(dp, t, &errs)) {
			for (int i = 0; i < errs.n; i++)
				cg_err("monitor: %s\n", errs.msgs[i]);
			err = -EIO;
		} else if (verbose) {
			printf("generation %llu published with %d new next-hop MAC%s\n",
			       (unsigned long long)t->gen.generation, changed, changed == 1 ? "" : "s");
		}
	}
out:
	cg_dp_unlock(dp);
	cg_errors_free(&errs);
	cg_tables_free(t);
	fflush(stdout);
	return err ? err : changed;
}

static int skip_msg(struct nl_msg *msg, void *arg)
{
	*(bool *)arg = true;
	return NL_OK;
}

int cg_monitor_run(struct cg_dp *dp, bool once)
{
	struct nl_sock *sk;
	struct pollfd pfd;
	bool dirty = true;
	int err = 0;

	if (once)
		return cg_neigh_refresh(dp, true) < 0 ? -1 : 0;
	sk = nl_socket_alloc();
	if (!sk)
		return -ENOMEM;
	nl_socket_disable_seq_check(sk);
	nl_socket_modify_cb(sk, NL_CB_VALID, NL_CB_CUSTOM, skip_msg, &dirty);
	if (nl_connect(sk, NETLINK_ROUTE) || nl_socket_add_memberships(sk, RTNLGRP_NEIGH, 0) ||
	    nl_socket_set_nonblocking(sk)) {
		cg_err("monitor: cannot subscribe to neighbour events\n");
		nl_socket_free(sk);
		return -EIO;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	pfd.fd = nl_socket_get_fd(sk);
	pfd.events = POLLIN;
	printf("monitoring the neighbour table for instance endpoints (Ctrl-C to stop)\n");
	fflush(stdout);
	while (!stop) {
		if (dirty) {
			dirty = false;
			if (cg_neigh_refresh(dp, true) < 0)
				cg_warn("monitor: refresh failed; will retry\n");
		}
		if (poll(&pfd, 1, CG_MONITOR_RESYNC_MS) < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (pfd.revents & POLLIN)
			nl_recvmsgs_default(sk);
		else
			dirty = true; /* periodic resync */
	}
	nl_socket_free(sk);
	return err;
}
