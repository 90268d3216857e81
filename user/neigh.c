// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <linux/neighbour.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>
#include <netlink/route/neighbour.h>

#include "cellgate.h"
#include "neigh.h"

static struct nl_sock *route_sock(void)
{
	struct nl_sock *sk = nl_socket_alloc();

	if (!sk)
		return NULL;
	if (nl_connect(sk, NETLINK_ROUTE)) {
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

static int copy_mac(struct nl_addr *a, __u8 mac[6])
{
	if (!a || nl_addr_get_len(a) != 6)
		return -ENOENT;
	memcpy(mac, nl_addr_get_binary_addr(a), 6);
	return 0;
}

int cg_link_mac(int ifindex, __u8 mac[6])
{
	struct rtnl_link *link = NULL;
	struct nl_sock *sk = route_sock();
	int err;

	if (!sk)
		return -ENOMEM;
	err = rtnl_link_get_kernel(sk, ifindex, NULL, &link);
	if (err < 0)
		err = -ENODEV;
	else
		err = copy_mac(rtnl_link_get_addr(link), mac);
	if (link)
		rtnl_link_put(link);
	nl_socket_free(sk);
	return err;
}

int cg_neigh_mac(int ifindex, int family, const __be32 *addr, __u8 mac[6])
{
	const int usable = NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_PERMANENT;
	int af = family == CG_AF_INET ? AF_INET : AF_INET6;
	struct nl_cache *cache = NULL;
	struct rtnl_neigh *n = NULL;
	struct nl_addr *dst = NULL;
	struct nl_sock *sk = route_sock();
	int err = -ENOENT;

	if (!sk)
		return -ENOMEM;
	if (rtnl_neigh_alloc_cache(sk, &cache) < 0)
		goto out;
	dst = nl_addr_build(af, addr, af == AF_INET ? 4 : 16);
	if (!dst)
		goto out;
	n = rtnl_neigh_get(cache, ifindex, dst);
	if (n && (rtnl_neigh_get_state(n) & usable))
		err = copy_mac(rtnl_neigh_get_lladdr(n), mac);
out:
	if (n)
		rtnl_neigh_put(n);
	nl_addr_put(dst);
	nl_cache_free(cache);
	nl_socket_free(sk);
	return err;
}
