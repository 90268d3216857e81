/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * One generation's tables in memory, the builder that makes them from a
 * config, and the publisher that writes them into the dataplane's free bank
 * and flips cg_root.
 */
#ifndef CG_TABLES_H
#define CG_TABLES_H

#include <stdbool.h>
#include <linux/types.h>

#include "cellgate.h"
#include "config.h"

struct bpf_object;

/* Content of one bank, indexed as in the maps but without the bank offset. */
struct cg_tables {
	struct cg_gen gen; /* seed, sources, flags; bank/generation/hash set at publish */
	__u32 bucket_slots; /* capacity of buckets[] */
	__u32 buckets_used; /* entries in use, from 0 */
	struct cg_bucket *buckets; /* [bucket_slots] */
	struct cg_unit units[CG_MAX_UNITS];
	struct cg_endpoint endpoints[CG_MAX_ENDPOINTS];
	struct cg_maglev_slot *maglev; /* [CG_MAX_UNITS * CG_MAGLEV_SIZE] */
	int n_services; /* services[0..n) and their keys, sorted by key */
	struct cg_service_key svc_keys[CG_MAX_SERVICES];
	struct cg_service services[CG_MAX_SERVICES];
	struct cg_svc_slot svc_index[CG_SVC_SLOTS]; /* key -> services[] index */
	struct cg_fence fences[CG_MAX_FENCES]; /* [0] unused */
	int n_pins4, n_pins6;
	struct cg_pin4_key pins4[CG_MAX_PINS]; /* bank field ignored */
	struct cg_pin pins4_val[CG_MAX_PINS];
	struct cg_pin6_key pins6[CG_MAX_PINS];
	struct cg_pin pins6_val[CG_MAX_PINS];
};

int cg_tables_alloc(struct cg_tables **out, __u32 bucket_slots);
void cg_tables_free(struct cg_tables *t);

/* Handle over the steering maps of one instance (pinned) or object (tests). */
struct cg_dp;

int cg_dp_open_pinned(const char *instance, struct cg_dp **out);
int cg_dp_from_object(struct bpf_object *obj, struct cg_dp **out);
void cg_dp_close(struct cg_dp *dp);

/* Copy of what is live now (the active bank and its cg_gen); gen 0 = none. */
int cg_dp_read_active(struct cg_dp *dp, struct cg_tables *t);

/*
 * Build a generation from cfg. `cur` (may be NULL) is what is live: ids of
 * units, services and endpoints are kept by name so counters stay with
 * them, and unit states (evacuated, draining) carry over. Endpoint MACs
 * missing from the config are resolved through the kernel neighbour table
 * (user/neigh.c); `default_ifindex` is the interface the gateway runs on.
 */
int cg_build_tables(const struct cg_config *cfg, const struct cg_tables *cur, int default_ifindex,
		    struct cg_tables *out, struct cg_errors *errs);

/* Re-point buckets after unit states changed: evacuated owners' buckets go
 * to their standby or are spread over serving units by weight; buckets
 * whose owner serves again return to it. Buckets of other units never move. */
int cg_tables_reassign(struct cg_tables *t, struct cg_errors *errs);

/* Seeded hash of a unit or service name: what placement hashes use, so
 * that they do not depend on ids (which follow a gateway's history). */
__u32 cg_name_hash(const char *name, __u32 seed);

/* Does a canary of bp basis points take this bucket of the service? */
bool cg_canary_bucket(const char *service, __u32 seed, __u32 bucket, __u32 bp);

/* One bank's content by pointer: in a cg_tables, or in the mapped maps. */
struct cg_bank_view {
	const struct cg_gen *gen;
	int n_services;
	const struct cg_service_key *svc_keys;
	const struct cg_service *services;
	const struct cg_bucket *buckets;
	__u32 buckets_used;
	const struct cg_unit *units;
	const struct cg_endpoint *endpoints;
	const struct cg_maglev_slot *maglev;
	const struct cg_fence *fences;
	int n_pins4, n_pins6;
	const struct cg_pin4_key *pins4;
	const struct cg_pin *pins4_val;
	const struct cg_pin6_key *pins6;
	const struct cg_pin *pins6_val;
};

/* 64-bit content hash of everything a packet can read, less what is
 * local to this host (interfaces, MACs), so a fleet agrees on it. */
__u64 cg_bank_hash(const struct cg_bank_view *v);
__u64 cg_tables_hash(const struct cg_tables *t);

/* Write t into the free bank, publish it as generation cur+1 (one map update),
 * then read it back and compare hashes. On success t->gen holds what is live. */
int cg_publish(struct cg_dp *dp, struct cg_tables *t, struct cg_errors *errs);

/* Serialise writers of one instance (flock on the pin directory). */
int cg_dp_lock(struct cg_dp *dp);
void cg_dp_unlock(struct cg_dp *dp);

/* One entry of a per-CPU counter map summed over every possible CPU. */
int cg_percpu_sum(int fd, __u32 key, size_t vsize, __u64 *sum);

/* Map file descriptors, for counters and tests. */
int cg_dp_map_fd(struct cg_dp *dp, const char *name);

#endif /* CG_TABLES_H */
