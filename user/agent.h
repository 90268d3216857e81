/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cellgate agent: probes every unit and endpoint, watches links and
 * neighbours through netlink, evacuates a failed unit and restores it when
 * it is healthy again, within guards; serves /metrics and a control socket.
 * It adopts whatever is pinned and never loads or unloads programs, so
 * stopping or killing it leaves forwarding as it is. docs/operations.md.
 */
#ifndef CG_AGENT_H
#define CG_AGENT_H

#include <stdbool.h>
#include <linux/types.h>

#include "cellgate.h"
#include "config.h"
#include "probe.h"

#define CG_AGENT_METRICS_DEFAULT "127.0.0.1:9469"
#define CG_AGENT_MAX_CHECKS 8 /* checks per unit (and default checks) */

struct cg_agent_unit_cfg {
	char name[CG_NAME_LEN];
	bool monitor; /* false: the agent never acts on this unit */
	bool has_checks; /* else the top-level checks apply */
	int n_checks;
	struct cg_check checks[CG_AGENT_MAX_CHECKS];
	double max_share; /* percent of core buckets it may serve; 0 = from capacity.factor */
	int min_healthy; /* endpoints that must be up; 0 = all of them */
};

struct cg_agent_config {
	__u64 interval_ms, timeout_ms;
	int fall, rise;
	char metrics[64]; /* listen address, "" = no /metrics */
	char socket[108]; /* control socket, "" = /run/cellgate/<instance>.sock */
	int max_evacuated; /* units the agent keeps evacuated at once */
	double capacity_factor; /* a unit carries up to factor x its weight share; 0 = unchecked */
	bool force_capacity;
	__u64 hold_down_ms;
	int restore_successes;
	bool auto_restore;
	__u64 handover_ms, fence_ms;
	int fence_action; /* enum cg_fence_action */
	double damp_penalty, damp_suppress, damp_reuse, damp_max;
	__u64 damp_half_life_ms;
	bool has_src4, has_src6; /* inner source of tunnel probes */
	__be32 src4[4], src6[4];
	bool has_checks;
	int n_checks;
	struct cg_check checks[CG_AGENT_MAX_CHECKS];
	int n_units;
	struct cg_agent_unit_cfg *units;
};

void cg_agent_config_defaults(struct cg_agent_config *c);
/* Parse and validate FILE over the defaults; errors name the JSON path. */
int cg_agent_config_load(const char *path, struct cg_agent_config *c, struct cg_errors *errs);
void cg_agent_config_free(struct cg_agent_config *c);
const struct cg_agent_unit_cfg *cg_agent_unit_cfg(const struct cg_agent_config *c, const char *name);

/* netlink: links and neighbours (user/agent_link.c) */
struct nl_sock;
struct cg_link_watch {
	struct nl_sock *sk;
	struct cg_ev ev;
	void *ctx;
	void (*link)(void *ctx, int ifindex, bool up, bool gone);
	void (*neigh_failed)(void *ctx, int ifindex, int family, const __be32 *addr);
	void (*overrun)(void *ctx); /* events were lost: re-read the state */
};

int cg_link_watch_open(struct cg_link_watch *w, int epfd);
void cg_link_watch_close(struct cg_link_watch *w);
/* Is ifindex up (administratively and with carrier)? -ENODEV when gone. */
int cg_link_up(int ifindex, bool *up);

/* `cellgate [-i INSTANCE] [-j] agent [OPTIONS]` and `agent status` */
int cg_agent_cmd(const char *instance, bool json, int argc, char **argv);

#endif /* CG_AGENT_H */
