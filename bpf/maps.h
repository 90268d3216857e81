/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The steering program's maps. docs/maps.md is the operator's view of each;
 * sizes marked "set at load" are overridden by the loader.
 */
#ifndef CG_MAPS_H
#define CG_MAPS_H

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "cellgate.h"

/*
 * Template of the one-entry array behind cg_root (the published generation).
 * Declaring one such map makes clang emit struct cg_gen in full into BTF
 * (it only does so one pointer level below a .maps variable); the loader
 * does not create it (bpf_map__set_autocreate false).
 */
struct cg_gen_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_gen);
} cg_gen_template SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct cg_gen_map);
} cg_root SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_SVC_SLOTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_svc_slot);
} cg_svc_index SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_MAX_SERVICES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_service);
} cg_services SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_DEFAULT_BUCKET_SLOTS); /* set at load */
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_bucket);
} cg_buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_MAX_UNITS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_unit);
} cg_units SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_MAX_ENDPOINTS);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_endpoint);
} cg_endpoints SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_MAX_UNITS * CG_MAGLEV_SIZE);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_maglev_slot);
} cg_maglev SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CG_BANKS * CG_MAX_FENCES);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct cg_fence);
} cg_fences SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CG_BANKS * CG_MAX_PINS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cg_pin4_key);
	__type(value, struct cg_pin);
} cg_pins4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CG_BANKS * CG_MAX_PINS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cg_pin6_key);
	__type(value, struct cg_pin);
} cg_pins6 SEC(".maps");

/* Not banked: a flow's record must survive generations. Per-CPU LRU lists
 * avoid a global lock on insert; lookups still see every CPU's entries. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, CG_DEFAULT_FLOWS); /* set at load */
	__uint(map_flags, BPF_F_NO_COMMON_LRU);
	__type(key, struct cg_flow_key);
	__type(value, struct cg_flow);
} cg_flows SEC(".maps");

/* Egress interfaces other than the ingress one, keyed by ifindex. */
struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} cg_tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CG_MAX_UNITS);
	__type(key, __u32);
	__type(value, struct cg_counters);
} cg_unit_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CG_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct cg_counters);
} cg_service_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CG_MAX_ENDPOINTS);
	__type(key, __u32);
	__type(value, struct cg_counters);
} cg_endpoint_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CG_R_MAX);
	__type(key, __u32);
	__type(value, struct cg_reason_count);
} cg_reasons SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cg_info);
} cg_info SEC(".maps");

static __always_inline void cg_count_reason(__u32 reason, __u32 bytes)
{
	struct cg_reason_count *rc = bpf_map_lookup_elem(&cg_reasons, &reason);

	if (rc) {
		rc->packets++;
		rc->bytes += bytes;
	}
}

#endif /* CG_MAPS_H */
