/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The seeded hashes every gateway must compute identically: the BPF
 * dataplane, `cellgate explain`, the table builder and the tests all use
 * these, so a flow lands on the same bucket and endpoint fleet-wide.
 *
 * Plain C, no BPF includes. Word-wise so the verifier sees short straight
 * code; the finaliser is the "lowbias32" mixer (Chris Wellons' hash-prospector),
 * chosen for full avalanche with two multiplies.
 */
#ifndef CG_HASH_H
#define CG_HASH_H

#include <linux/types.h>

#ifndef CG_INLINE
#define CG_INLINE static inline __attribute__((always_inline))
#endif

CG_INLINE __u32 cg_mix32(__u32 h)
{
	h ^= h >> 16;
	h *= 0x7feb352dU;
	h ^= h >> 15;
	h *= 0x846ca68bU;
	h ^= h >> 16;
	return h;
}

/* Fold one more 32-bit word into a running hash. */
CG_INLINE __u32 cg_hash_step(__u32 h, __u32 w)
{
	return cg_mix32(h ^ w) + 0x9e3779b9U;
}

/*
 * Hash of the forward 5-tuple. Words are taken as stored in the packet
 * (network order) so userspace passes the same bytes it would put on the
 * wire. IPv4 addresses use saddr[0]/daddr[0] only.
 */
CG_INLINE __u32 cg_hash_flow(__u32 seed, int is_v6, const __be32 *saddr, const __be32 *daddr,
			     __be16 sport, __be16 dport, __u8 proto)
{
	__u32 h = seed ^ proto;

	h = cg_hash_step(h, (__u32)saddr[0]);
	h = cg_hash_step(h, (__u32)daddr[0]);
	if (is_v6) {
		h = cg_hash_step(h, (__u32)saddr[1]);
		h = cg_hash_step(h, (__u32)saddr[2]);
		h = cg_hash_step(h, (__u32)saddr[3]);
		h = cg_hash_step(h, (__u32)daddr[1]);
		h = cg_hash_step(h, (__u32)daddr[2]);
		h = cg_hash_step(h, (__u32)daddr[3]);
	}
	h = cg_hash_step(h, ((__u32)sport << 16) | (__u32)dport);
	return cg_mix32(h);
}

/* Hash of the client (source) address only: the `client` routing key, and
 * the L3-only hash used for fragments. */
CG_INLINE __u32 cg_hash_addr(__u32 seed, int is_v6, const __be32 *addr)
{
	__u32 h = seed ^ 0x5bd1e995U;

	h = cg_hash_step(h, (__u32)addr[0]);
	if (is_v6) {
		h = cg_hash_step(h, (__u32)addr[1]);
		h = cg_hash_step(h, (__u32)addr[2]);
		h = cg_hash_step(h, (__u32)addr[3]);
	}
	return cg_mix32(h);
}

/* L3-only hash for fragments: both addresses, no ports. */
CG_INLINE __u32 cg_hash_l3(__u32 seed, int is_v6, const __be32 *saddr, const __be32 *daddr,
			   __u8 proto)
{
	return cg_hash_flow(seed, is_v6, saddr, daddr, 0, 0, proto);
}

/*
 * Home slot of a service key in cg_svc_index: one multiply. The index is
 * local to one gateway (no seed, never compared across a fleet), so it
 * needs spread, not avalanche; the builder refuses keys that land more
 * than CG_SVC_PROBES slots from home.
 */
CG_INLINE __u32 cg_hash_service(const __be32 *addr, __be16 port, __u8 proto, __u8 family)
{
	__u32 x = (__u32)addr[0] ^ (__u32)addr[1] ^ (__u32)addr[2] ^ (__u32)addr[3];

	x ^= ((__u32)family << 24 | (__u32)proto << 16 | (__u32)port) * 0x9e3779b1U;
	x *= 0x85ebca6bU;
	return x ^ (x >> 15);
}

/* Second, independent hash of a flow hash: Maglev slot within the unit, so
 * bucket and endpoint choices are not correlated. */
CG_INLINE __u32 cg_hash_slot(__u32 flow_hash)
{
	return cg_mix32(flow_hash ^ 0xc2b2ae35U);
}

/*
 * Reductions to a table index without a division on the per-packet path
 * (a 32-bit div costs ~25 cycles, a 64-bit one more): a hash h maps to
 * floor(h * n / 2^32), as uniform as h % n (Lemire, "A fast alternative to
 * the modulo reduction").
 */
CG_INLINE __u32 cg_reduce(__u32 h, __u32 n)
{
	return (__u32)(((__u64)h * n) >> 32);
}

/*
 * Bucket of a routing key. A numeric (payload) key is key % modulo, the
 * rule operators write down ("uid 12345 -> bucket 2345"); a hashed key
 * (flow, client, L3) uses cg_reduce().
 */
CG_INLINE __u32 cg_bucket_of_hash(__u32 h, __u32 modulo)
{
	return cg_reduce(h, modulo);
}

CG_INLINE __u32 cg_bucket_of_key(__u64 key, __u32 modulo)
{
	if (key <= 0xffffffffULL) /* 32-bit division: the common case */
		return (__u32)key % modulo;
	return (__u32)(key % modulo);
}

/* Maglev slot of a flow within its unit's table of `size` entries. */
CG_INLINE __u32 cg_slot_of(__u32 flow_hash, __u32 size)
{
	return cg_reduce(cg_hash_slot(flow_hash), size);
}

#endif /* CG_HASH_H */
