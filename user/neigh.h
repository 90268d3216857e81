/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Next-hop MACs from the kernel's neighbour table, through libnl. */
#ifndef CG_NEIGH_H
#define CG_NEIGH_H

#include <linux/types.h>

/* MAC of interface ifindex. 0 or -errno. */
int cg_link_mac(int ifindex, __u8 mac[6]);

/* MAC of addr (family CG_AF_INET/CG_AF_INET6) on ifindex, if the kernel has
 * a usable entry (reachable, stale, delay, probe, permanent). 0 or -ENOENT. */
int cg_neigh_mac(int ifindex, int family, const __be32 *addr, __u8 mac[6]);

#endif /* CG_NEIGH_H */
