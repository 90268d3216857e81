/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Internals of the dataplane handle (the public part is user/tables.h). */
#ifndef CG_DP_H
#define CG_DP_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "cellgate.h"

#define CG_PIN_ROOT "/sys/fs/bpf/cellgate"
#define CG_GEN_PIN "generation" /* pinned copy of the live cg_root entry */
#define CG_DIR_MAX 256 /* pin directory path; instance names are short */

enum cg_dp_map {
	CG_DP_ROOT,
	CG_DP_SVC_INDEX,
	CG_DP_SERVICES,
	CG_DP_BUCKETS,
	CG_DP_UNITS,
	CG_DP_ENDPOINTS,
	CG_DP_MAGLEV,
	CG_DP_FLOWS,
	CG_DP_TX_PORTS,
	CG_DP_UNIT_STATS,
	CG_DP_SERVICE_STATS,
	CG_DP_ENDPOINT_STATS,
	CG_DP_REASONS,
	CG_DP_INFO,
	CG_DP_FENCES,
	CG_DP_PINS4,
	CG_DP_PINS6,
	CG_DP_NMAPS,
};

struct cg_dp {
	char dir[CG_DIR_MAX]; /* pin directory, "" for an unpinned object */
	bool pinned;
	int fd[CG_DP_NMAPS];
	int dir_fd; /* held flock while writing */
	int btf_fd; /* object BTF, for the generation maps we create */
	__u32 gen_key_type;
	__u32 gen_value_type;
	__u32 bucket_slots; /* per bank */
	__u32 flows;
	struct cg_info info;
	/* timings of the last cg_publish(), ms: writing the free bank, the
	 * swap syscall (packets see the new generation as it starts; it returns
	 * after an RCU grace period), and the read-back check */
	double last_write_ms, last_swap_ms, last_verify_ms;
	/* both banks of the mmap-able tables */
	struct cg_bucket *buckets;
	struct cg_unit *units;
	struct cg_endpoint *endpoints;
	struct cg_maglev_slot *maglev;
	struct cg_svc_slot *svc_index;
	struct cg_service *services;
	struct cg_fence *fences;
	size_t fences_len;
	size_t buckets_len, units_len, endpoints_len, maglev_len, svc_index_len, services_len;
};

#define CG_INSTANCE_MAX 64

/* Instance names: [A-Za-z0-9._-], not starting with '.' or '-'. */
bool cg_instance_valid(const char *instance);
int cg_instance_dir(const char *instance, char *buf, size_t len);
int cg_dp_read_info(struct cg_dp *dp, struct cg_info *info);
int cg_dp_read_gen(struct cg_dp *dp, struct cg_gen *gen);

#endif /* CG_DP_H */
