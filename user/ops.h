/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The imperative operations on a live instance (evacuate, drain, restore,
 * fence release) and apply, as a library: the CLI and the agent both call
 * these. Each one locks the instance, reads the live generation, refuses
 * a stale writer, builds the next generation aside, publishes it and
 * writes one audit record.
 */
#ifndef CG_OPS_H
#define CG_OPS_H

#include <stdbool.h>
#include <linux/types.h>

#include "cellgate.h"
#include "config.h"

struct cg_dp;
struct cg_tables;

#define CG_FENCE_UNTIL_RELEASE (~0ull) /* fence_ms: hold until `fence release` */

/* Which buckets: a whole unit, or one service of it, a bucket range of
 * that service, or a share of the selected buckets. */
struct cg_scope {
	const char *unit; /* required */
	const char *service; /* NULL: every service */
	bool has_range; /* with service: buckets first..last */
	__u32 first, last;
	__u32 percent; /* 1..100: that share, picked by a seeded hash; 0 or 100: all */
};

struct cg_op_opts {
	struct cg_scope scope;
	__u64 fence_ms; /* fence the buckets that move; 0 = none */
	int fence_action; /* enum cg_fence_action */
	__u64 deadline_ms; /* drain: established flows end; restore: handover; 0 = none */
	bool force; /* evacuate a central unit without a serving standby */
	__u64 expect_generation; /* refuse unless this is the live generation; 0 = any */
	bool dry_run; /* build and report, do not publish */
	const char *who; /* for the audit log; NULL = the calling user */
	bool automatic; /* the agent acting: leaves CG_UNIT_F_MANUAL alone and cannot
			 * restore a unit an operator took out */
	const char *audit_extra; /* JSON object merged into the audit record, or NULL */
};

struct cg_op_result {
	__u64 gen_before;
	__u64 gen_after; /* == gen_before for a dry run or a no-op */
	__u32 moved; /* buckets whose serving unit changed */
	__u32 moved_from[CG_MAX_UNITS];
	__u32 moved_to[CG_MAX_UNITS];
	int n_services; /* services with buckets that moved, and how many */
	struct {
		char name[CG_NAME_LEN];
		__u32 moved;
	} svc[CG_MAX_SERVICES];
	__u32 fenced; /* buckets fenced by this operation */
	int fence_id;
	bool noop; /* nothing to change */
	__u64 published_ns; /* CLOCK_REALTIME of the swap (cg_gen.published_ns), 0 = not published */
	double build_ms; /* lock held to tables ready */
	double write_ms, swap_ms, verify_ms;
};

int cg_op_evacuate(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		   struct cg_errors *errs);
int cg_op_drain(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		struct cg_errors *errs);
int cg_op_restore(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
		  struct cg_errors *errs);
/* End the fences of buckets now served by o->scope.unit (NULL: all). */
int cg_op_fence_release(struct cg_dp *dp, const struct cg_op_opts *o, struct cg_op_result *r,
			struct cg_errors *errs);
int cg_op_apply(struct cg_dp *dp, const struct cg_config *cfg, const struct cg_op_opts *o,
		struct cg_op_result *r, struct cg_errors *errs);

/* Compare two generations' buckets (per unit moved from/to). */
void cg_op_diff(const struct cg_tables *before, const struct cg_tables *after,
		struct cg_op_result *r);

/* Append one JSON line to the instance's audit log (docs/operations.md). */
void cg_audit(const char *instance, const char *action, const struct cg_op_opts *o,
	      const struct cg_op_result *r, const struct cg_errors *errs, double duration_ms);

/* "30s", "250ms", "2m", "1h" or plain seconds; "until-release" for fences. */
int cg_parse_duration_ms(const char *s, __u64 *ms);

#endif /* CG_OPS_H */
