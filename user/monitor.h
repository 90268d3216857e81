/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef CG_MONITOR_H
#define CG_MONITOR_H

#include <stdbool.h>

struct cg_dp;

/*
 * Re-resolve the next-hop MAC of every endpoint whose MAC came from the
 * neighbour table and publish a generation if any changed. Returns the
 * number of endpoints updated, or -errno.
 */
int cg_neigh_refresh(struct cg_dp *dp, bool verbose);

/* Refresh on every neighbour-table change (netlink) until signalled;
 * once: a single pass. */
int cg_monitor_run(struct cg_dp *dp, bool once);

#endif /* CG_MONITOR_H */
