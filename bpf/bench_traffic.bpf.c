// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Traffic programs for selftests/bench_throughput.c only: a live-frames
 * generator, a counting sink and the trivial MAC-swap forwarder that the
 * gateway's throughput is compared with.
 *
 * Live-frames mode (BPF_F_TEST_XDP_LIVE_FRAMES) recycles its pages without
 * copying the input frame into them again: only the data pointers are
 * reset. A gateway that rewrites the frame (cellgate encapsulates in place)
 * would hand its own output back to the generator, so bt_gen writes the
 * whole frame from a template before every transmission.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define BT_FRAME_LEN 60 /* every template; the generator's input frame has this length */
#define BT_MAX_FRAMES 4096 /* distinct 5-tuples cycled through, a power of two */

/* Written by userspace through the skeleton before a run; BT_FRAME_LEN
 * of each 64 bytes are used. */
__u8 bt_frames[BT_MAX_FRAMES][64];
__u32 bt_mask; /* frames in use - 1; their count is a power of two */
__u32 bt_next;

struct bt_count {
	__u64 packets;
	__u64 bytes;
	__u64 encap; /* IPv4 frames carrying IPIP or IPv6-in-IPv4: cellgate's output */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct bt_count);
} bt_sink_stats SEC(".maps");

/* Generator: the next template into the frame, then out of the ingress device. */
SEC("xdp")
int bt_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 i = bt_next++ & bt_mask & (BT_MAX_FRAMES - 1);

	if (data + BT_FRAME_LEN > data_end)
		return XDP_DROP;
	__builtin_memcpy(data, bt_frames[i], BT_FRAME_LEN);
	return XDP_TX;
}

/* Sink on the generator's veth: count and drop what the gateway sent back. */
SEC("xdp")
int bt_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	__u32 zero = 0;
	struct bt_count *c = bpf_map_lookup_elem(&bt_sink_stats, &zero);

	if (!c)
		return XDP_DROP;
	c->packets++;
	c->bytes += data_end - data;
	if ((void *)(ip + 1) <= data_end && eth->h_proto == bpf_htons(ETH_P_IP) &&
	    (ip->protocol == IPPROTO_IPIP || ip->protocol == IPPROTO_IPV6))
		c->encap++;
	return XDP_DROP;
}

/* The reference gateway: swap the Ethernet addresses, send the frame back. */
SEC("xdp")
int bt_mac_swap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u8 tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end)
		return XDP_DROP;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
