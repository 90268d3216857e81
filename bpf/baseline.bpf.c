// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs for benchmarks only (selftests/bench_*.c): each
 * figure cellgate reports is set against these, measured in the same run,
 * because absolute nanoseconds on a shared VM drift from run to run.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.h"

/* floor: the cost of running any XDP program through BPF_PROG_TEST_RUN */
SEC("xdp")
int cg_base_empty(struct xdp_md *ctx)
{
	return XDP_PASS;
}

/* the cheapest useful forwarder: parse to L4, swap MACs, send back */
SEC("xdp")
int cg_base_parse_tx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cg_pkt p = {};
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if (cg_parse(data, data_end, data_end - data, &p))
		return XDP_PASS;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct cg_flow_key);
	__type(value, __u32);
} cg_base_table SEC(".maps");

/* parse plus one hash-map lookup keyed by the 5-tuple */
SEC("xdp")
int cg_base_hash(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct cg_flow_key k = {};
	struct cg_pkt p = {};
	__u32 *v;

	if (cg_parse(data, data_end, data_end - data, &p))
		return XDP_PASS;
	__builtin_memcpy(k.saddr, p.saddr, 16);
	__builtin_memcpy(k.daddr, p.daddr, 16);
	k.sport = p.sport;
	k.dport = p.dport;
	k.proto = p.proto;
	k.family = p.family;
	v = bpf_map_lookup_elem(&cg_base_table, &k);
	return v ? XDP_TX : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
