/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The steering decision shared by the XDP and tc programs: service, key,
 * bucket, unit, endpoint (docs/dataplane.md §2-4). It reads only the
 * published generation's bank, so a packet sees one configuration.
 */
#ifndef CG_STEER_H
#define CG_STEER_H

#include "parse.h"
#include "maps.h"
#include "cg_hash.h"

/*
 * Input and output of the decision. Scalars only: the decision runs in
 * global functions, which the verifier checks once each instead of once
 * for every way the parser can leave the packet (VLANs x IP options x
 * extension headers x L4).
 */
struct cg_decision {
	/* in: the forward flow (client -> VIP) */
	__be32 saddr[4];
	__be32 daddr[4];
	__be16 sport;
	__be16 dport;
	__u8 family;
	__u8 proto;
	__u8 flags; /* CG_PKT_F_* */
	__u8 has_key; /* key holds the payload routing key */
	__u64 key;
	/* from cg_find_service() to cg_choose() */
	__u32 bank;
	__u32 svc_index;
	__u16 key_offset;
	__u8 key_size;
	__u8 wants_key; /* the service routes on a payload key */
	/* out */
	__u32 hash; /* flow hash: Maglev slot and outer source */
	__u32 svc_id;
	__u16 unit;
	__u16 endpoint;
	__u8 new_flow;
	__u8 resteered;
	__u8 fence_action; /* enum cg_fence_action, with CG_R_FENCED */
	__u8 pad;
	__u64 now; /* bpf_ktime_get_ns(), read once and only when a deadline matters */
	__be32 outer_src[4]; /* holds cg_gen.src6 until cg_choose() fills in the host bits */
	/* from the one cg_gen the packet sees: cg_root is read once, since a
	 * publish swaps it under a running program (the update waits for the
	 * grace period only after the swap) */
	__u32 seed;
	__u32 bucket_slots;
	__be32 src4, src4_hostmask, src6_hostmask;
};

static __always_inline __u64 cg_now(struct cg_decision *d)
{
	if (!d->now)
		d->now = bpf_ktime_get_ns();
	return d->now;
}

static __always_inline bool cg_reason_drops(int reason)
{
	return reason == CG_R_NO_UNIT || reason == CG_R_NO_ENDPOINT || reason == CG_R_KEY_REJECT ||
	       reason == CG_R_TOO_BIG || reason == CG_R_ENCAP_FAIL || reason == CG_R_FENCED;
}

static __always_inline const struct cg_unit *cg_unit_get(__u32 bank, __u32 id)
{
	__u32 key = bank * CG_MAX_UNITS + id;

	if (id >= CG_MAX_UNITS)
		return NULL;
	return bpf_map_lookup_elem(&cg_units, &key);
}

static __always_inline bool cg_unit_serving(__u32 bank, __u32 id)
{
	const struct cg_unit *u = cg_unit_get(bank, id);

	return u && u->state == CG_UNIT_SERVING;
}

/* Recorded flows may stay on a serving unit, or on a draining one until
 * its deadline. */
static __always_inline bool cg_unit_alive(__u32 bank, __u32 id, struct cg_decision *ch)
{
	const struct cg_unit *u = cg_unit_get(bank, id);

	if (!u)
		return false;
	if (u->state == CG_UNIT_SERVING)
		return true;
	return u->state == CG_UNIT_DRAINING && (!u->hold_until_ns || cg_now(ch) < u->hold_until_ns);
}

/* Unrecorded flows of a moving bucket stay with its previous owner while
 * that owner serves (or drains) and its hold has not ended. */
static __always_inline bool cg_unit_holds(__u32 bank, __u32 id, struct cg_decision *ch)
{
	const struct cg_unit *u = cg_unit_get(bank, id);

	if (!u || (u->state != CG_UNIT_SERVING && u->state != CG_UNIT_DRAINING))
		return false;
	return !u->hold_until_ns || cg_now(ch) < u->hold_until_ns;
}

static __always_inline const struct cg_endpoint *cg_endpoint_get(__u32 bank, __u32 id, __u32 unit)
{
	__u32 key = bank * CG_MAX_ENDPOINTS + id;
	const struct cg_endpoint *ep;

	if (id >= CG_MAX_ENDPOINTS)
		return NULL;
	ep = bpf_map_lookup_elem(&cg_endpoints, &key);
	if (!ep || ep->family == CG_AF_NONE || ep->unit != unit)
		return NULL;
	return ep;
}

static __always_inline const struct cg_maglev_slot *cg_slot_get(__u32 bank, __u32 unit, __u32 hash)
{
	__u32 key = (bank * CG_MAX_UNITS + unit) * CG_MAGLEV_SIZE + cg_slot_of(hash, CG_MAGLEV_SIZE);

	if (unit >= CG_MAX_UNITS)
		return NULL;
	return bpf_map_lookup_elem(&cg_maglev, &key);
}

/* The index slot of a key in this bank, or NULL (user/build.c fills it). */
static __always_inline const struct cg_svc_slot *cg_svc_slot_find(__u32 bank,
								   const struct cg_service_key *k)
{
	__u32 home = cg_hash_service(k->addr, k->port, k->proto, k->family);

#pragma unroll
	for (int i = 0; i < CG_SVC_PROBES; i++) {
		__u32 idx = bank * CG_SVC_SLOTS + ((home + i) & (CG_SVC_SLOTS - 1));
		const struct cg_svc_slot *s = bpf_map_lookup_elem(&cg_svc_index, &idx);

		if (!s || s->key.family == CG_AF_NONE)
			return NULL; /* an empty slot ends the probe sequence */
		if (s->key.addr[0] == k->addr[0] && s->key.addr[1] == k->addr[1] &&
		    s->key.addr[2] == k->addr[2] && s->key.addr[3] == k->addr[3] &&
		    s->key.port == k->port && s->key.proto == k->proto &&
		    s->key.family == k->family)
			return s;
	}
	return NULL;
}

static __always_inline const struct cg_service *cg_service_find(__u32 bank,
								 const struct cg_service_key *k,
								 __u32 *index)
{
	const struct cg_svc_slot *s = cg_svc_slot_find(bank, k);
	__u32 idx;

	if (!s || s->service >= CG_MAX_SERVICES)
		return NULL;
	*index = s->service;
	idx = bank * CG_MAX_SERVICES + s->service;
	return bpf_map_lookup_elem(&cg_services, &idx);
}


/*
 * Payload routing key: big-endian integer of key_size bytes at key_offset
 * after the L4 header, within the IP packet (never Ethernet padding). Runs
 * in the program itself, where the packet pointers are valid.
 */
static __always_inline bool cg_payload_key(const struct cg_pkt *p, __u32 off, __u32 size,
					   __u64 *key)
{
	__u8 *k;

	if (!p->payload || off > CG_MAX_KEY_OFFSET)
		return false;
	k = (__u8 *)p->payload + off;
	if ((__u32)((void *)k - p->l3) + size > p->l3_len)
		return false;
	switch (size) {
	case 1:
		if ((void *)(k + 1) > p->data_end)
			return false;
		*key = k[0];
		return true;
	case 2:
		if ((void *)(k + 2) > p->data_end)
			return false;
		*key = ((__u64)k[0] << 8) | k[1];
		return true;
	case 4:
		if ((void *)(k + 4) > p->data_end)
			return false;
		*key = ((__u64)k[0] << 24) | ((__u64)k[1] << 16) | ((__u64)k[2] << 8) | k[3];
		return true;
	case 8: {
		__u64 v;

		if ((void *)(k + 8) > p->data_end)
			return false;
		__builtin_memcpy(&v, k, 8);
		*key = bpf_be64_to_cpu(v);
		return true;
	}
	}
	return false;
}

static __always_inline bool cg_is_new_flow(const struct cg_decision *d, __u16 svc_flags)
{
	if (d->flags & CG_PKT_F_ICMP_ERR)
		return false;
	if (d->proto == IPPROTO_TCP)
		return d->flags & CG_PKT_F_SYN;
	return d->proto == IPPROTO_UDP && (svc_flags & CG_SVC_F_UDP_MISS_NEW);
}

static __always_inline void cg_flow_key(const struct cg_decision *d, struct cg_flow_key *fk)
{
	__builtin_memcpy(fk->saddr, d->saddr, 16);
	__builtin_memcpy(fk->daddr, d->daddr, 16);
	fk->sport = d->sport;
	fk->dport = d->dport;
	fk->proto = d->proto;
	fk->family = d->family;
	fk->pad = 0;
}

/* Central unit, or its standby when it does not serve. */
static __always_inline __u32 cg_central(__u32 bank, __u32 central)
{
	const struct cg_unit *u = cg_unit_get(bank, central);

	if (!u)
		return CG_UNIT_NONE;
	if (u->state == CG_UNIT_SERVING)
		return central;
	if (cg_unit_serving(bank, u->standby))
		return u->standby;
	return CG_UNIT_NONE;
}

/*
 * Flow-table path, only for buckets or slots in transition and for
 * full-flow-table services (docs/dataplane.md §4). d->unit/endpoint hold
 * the current choice on entry.
 */
static __always_inline void cg_transition(struct cg_decision *d, const struct cg_service *svc,
					  __u16 prev_unit, __u16 prev_ep)
{
	struct cg_flow_key fk;
	struct cg_flow *fl, rec = {};
	__u32 bank = d->bank;

	cg_flow_key(d, &fk);
	fl = bpf_map_lookup_elem(&cg_flows, &fk);
	if (fl) {
		/* on the owner the bucket moves away from, a record lasts as long
		 * as that owner's hold (drain deadline, handover) */
		bool keep = fl->unit == prev_unit ? cg_unit_holds(bank, fl->unit, d) :
						     cg_unit_alive(bank, fl->unit, d);

		if (keep && cg_endpoint_get(bank, fl->endpoint, fl->unit)) {
			d->unit = fl->unit;
			d->endpoint = fl->endpoint;
			return;
		}
		/* its unit or endpoint is gone: follow the bucket now */
		fl->unit = d->unit;
		fl->endpoint = d->endpoint;
		d->resteered = 1;
		return;
	}

	if (!cg_is_new_flow(d, svc->flags)) {
		if (prev_unit != CG_UNIT_NONE && cg_unit_holds(bank, prev_unit, d)) {
			const struct cg_maglev_slot *ps = cg_slot_get(bank, prev_unit, d->hash);

			if (ps) {
				d->unit = prev_unit;
				d->endpoint = ps->endpoint;
				if (ps->prev_endpoint != CG_EP_NONE &&
				    cg_endpoint_get(bank, ps->prev_endpoint, prev_unit))
					d->endpoint = ps->prev_endpoint;
			}
		} else if (prev_ep != CG_EP_NONE && cg_endpoint_get(bank, prev_ep, d->unit)) {
			d->endpoint = prev_ep;
		}
		if (!(svc->flags & CG_SVC_F_FULL_FLOWS) || (d->flags & CG_PKT_F_ICMP_ERR))
			return;
	}

	rec.unit = d->unit;
	rec.endpoint = d->endpoint;
	rec.service_id = svc->id;
	if (!bpf_map_update_elem(&cg_flows, &fk, &rec, BPF_NOEXIST))
		d->new_flow = 1;
}

/* A source-prefix pin of this service whose unit serves. A pinned unit that
 * drains keeps the pin's established flows: *prev is set to it and the
 * packet follows the bucket as a transition (new flows recorded elsewhere). */
static __always_inline bool cg_pinned_unit(struct cg_decision *d, __u32 svc_id, __u32 *unit,
					   __u16 *prev)
{
	const struct cg_pin *pin;

	if (d->family == CG_AF_INET) {
		struct cg_pin4_key k = {
			.prefixlen = 32 + 32,
			.bank = d->bank,
			.service = bpf_htons(svc_id),
			.addr = d->saddr[0],
		};

		pin = bpf_map_lookup_elem(&cg_pins4, &k);
	} else {
		struct cg_pin6_key k = {
			.prefixlen = 32 + 128,
			.bank = d->bank,
			.service = bpf_htons(svc_id),
		};

		__builtin_memcpy(k.addr, d->saddr, 16);
		pin = bpf_map_lookup_elem(&cg_pins6, &k);
	}
	if (!pin)
		return false;
	if (cg_unit_serving(d->bank, pin->unit)) {
		*unit = pin->unit;
		return true;
	}
	/* an evacuated pinned unit loses its pins: evacuation wins */
	if (cg_unit_holds(d->bank, pin->unit, d))
		*prev = pin->unit;
	return false;
}

/* Is this packet a new flow on a fenced bucket whose fence still holds? */
static __always_inline bool cg_fenced(struct cg_decision *d, __u16 svc_flags, __u32 fence)
{
	__u32 idx = d->bank * CG_MAX_FENCES + fence;
	const struct cg_fence *f;

	if (fence >= CG_MAX_FENCES || !cg_is_new_flow(d, svc_flags))
		return false;
	f = bpf_map_lookup_elem(&cg_fences, &idx);
	if (!f || cg_now(d) >= f->deadline_ns)
		return false;
	if (d->proto == IPPROTO_UDP) {
		/* UDP has no SYN: a flow recorded before the fence is not new */
		struct cg_flow_key fk;

		cg_flow_key(d, &fk);
		if (bpf_map_lookup_elem(&cg_flows, &fk))
			return false;
	}
	d->fence_action = f->action;
	return true;
}

static __always_inline const struct cg_gen *cg_live_gen(void)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(&cg_root, &zero);
	const struct cg_gen *g;

	if (!inner)
		return NULL;
	g = bpf_map_lookup_elem(inner, &zero);
	return g && g->generation ? g : NULL;
}

/*
 * Phase 1: the published generation and the service of the flow. Returns
 * 0 with d->bank/svc_index (and what the key reader needs), or the reason
 * to pass the packet.
 */
__noinline int cg_find_service(struct cg_decision *d)
{
	struct cg_service_key sk = {};
	const struct cg_service *svc = NULL;
	const struct cg_gen *g;
	bool frag;
	__u32 idx;

	if (!d)
		return CG_R_NO_CONFIG;
	frag = d->flags & CG_PKT_F_FRAG;
	g = cg_live_gen();
	if (!g)
		return CG_R_NO_CONFIG;
	d->bank = g->bank & 1;
	d->seed = g->seed;
	d->bucket_slots = g->bucket_slots;
	d->src4 = g->src4;
	d->src4_hostmask = g->src4_hostmask;
	__builtin_memcpy(d->outer_src, g->src6, 16);
	d->src6_hostmask = g->src6_hostmask;
	__builtin_memcpy(sk.addr, d->daddr, 16);
	sk.family = d->family;
	sk.proto = d->proto;
	sk.port = d->dport;
	if (!frag)
		svc = cg_service_find(d->bank, &sk, &idx);
	if (!svc) {
		sk.port = 0;
		svc = cg_service_find(d->bank, &sk, &idx);
	}
	if (!svc && frag) {
		/* a VIP marker (proto 0) says the VIP has services, just none
		 * that takes fragments: count it as a fragment, not as noise */
		sk.proto = 0;
		return cg_svc_slot_find(d->bank, &sk) ? CG_R_FRAGMENT : CG_R_NO_SERVICE;
	}
	if (!svc)
		return CG_R_NO_SERVICE;
	if (frag && !(svc->flags & CG_SVC_F_FRAG_L3))
		return CG_R_FRAGMENT;
	d->svc_index = idx;
	d->svc_id = svc->id;
	d->wants_key = svc->kind == CG_KIND_CORE && svc->key_source == CG_KEY_PAYLOAD && !frag;
	d->key_offset = svc->key_offset;
	d->key_size = svc->key_size;
	return 0;
}

/*
 * Phase 2: key, bucket, unit, endpoint. Returns CG_R_FORWARDED with
 * d->unit/endpoint/outer_src set, CG_R_FENCED with d->unit and the fence
 * action, or the reason to pass/drop.
 */
__noinline int cg_choose(struct cg_decision *d)
{
	const struct cg_maglev_slot *slot;
	const struct cg_endpoint *ep;
	const struct cg_service *svc;
	__u16 prev_unit = CG_UNIT_NONE, pin_prev = CG_UNIT_NONE;
	__u32 idx, unit;
	bool v6;

	if (!d)
		return CG_R_NO_CONFIG;
	v6 = d->family == CG_AF_INET6;
	idx = d->bank * CG_MAX_SERVICES + d->svc_index;
	svc = bpf_map_lookup_elem(&cg_services, &idx);
	if (!svc)
		return CG_R_NO_SERVICE;

	if (d->flags & CG_PKT_F_FRAG)
		d->hash = cg_hash_l3(d->seed, v6, d->saddr, d->daddr, d->proto);
	else
		d->hash = cg_hash_flow(d->seed, v6, d->saddr, d->daddr, d->sport, d->dport, d->proto);

	if (svc->kind == CG_KIND_CORE) {
		const struct cg_bucket *b;
		__u32 bucket, h = d->hash;

		if ((svc->flags & CG_SVC_F_PINS) && cg_pinned_unit(d, svc->id, &unit, &pin_prev))
			goto chosen;
		if (!svc->modulo)
			return CG_R_NO_UNIT;
		if (svc->key_source == CG_KEY_CLIENT)
			h = cg_hash_addr(d->seed, v6, d->saddr);
		bucket = cg_bucket_of_hash(h, svc->modulo);
		if (svc->key_source == CG_KEY_PAYLOAD) {
			if (d->has_key) {
				bucket = cg_bucket_of_key(d->key, svc->modulo);
			} else if (svc->key_missing == CG_MISSING_REJECT) {
				return CG_R_KEY_REJECT;
			} else if (svc->key_missing == CG_MISSING_CENTRAL) {
				unit = cg_central(d->bank, svc->central_unit);
				goto chosen;
			}
		}
		idx = d->bank * d->bucket_slots + svc->bucket_base + bucket;
		b = bpf_map_lookup_elem(&cg_buckets, &idx);
		if (!b)
			return CG_R_NO_UNIT;
		unit = b->unit;
		prev_unit = pin_prev != CG_UNIT_NONE ? pin_prev : b->prev_unit;
		if (b->fence && cg_fenced(d, svc->flags, b->fence)) {
			d->unit = unit;
			return CG_R_FENCED;
		}
	} else {
		__u32 home = svc->kind == CG_KIND_SHARED ? svc->local_unit : svc->central_unit;

		if (svc->kind == CG_KIND_SHARED && cg_unit_serving(d->bank, svc->local_unit))
			unit = svc->local_unit;
		else
			unit = cg_central(d->bank, svc->central_unit);
		/* the unit that serves it drains: its established flows stay */
		if (unit != home && home < CG_MAX_UNITS && cg_unit_holds(d->bank, home, d))
			prev_unit = home;
	}

chosen:
	if (!cg_unit_serving(d->bank, unit))
		return CG_R_NO_UNIT;
	slot = cg_slot_get(d->bank, unit, d->hash);
	if (!slot)
		return CG_R_NO_ENDPOINT;
	d->unit = unit;
	d->endpoint = slot->endpoint;

	if (prev_unit != CG_UNIT_NONE || slot->prev_endpoint != CG_EP_NONE ||
	    (svc->flags & CG_SVC_F_FULL_FLOWS))
		cg_transition(d, svc, prev_unit, slot->prev_endpoint);

	ep = cg_endpoint_get(d->bank, d->endpoint, d->unit);
	if (!ep)
		return CG_R_NO_ENDPOINT;
	/* outer source: the flow hash in the prefix's host bits (ECMP/RSS entropy) */
	if (ep->family == CG_AF_INET) {
		d->outer_src[0] = d->src4 | (bpf_htonl(d->hash) & d->src4_hostmask);
	} else {
		d->outer_src[3] |= bpf_htonl(d->hash) & d->src6_hostmask;
	}
	return CG_R_FORWARDED;
}

/* The whole decision for a parsed packet; key reading stays here, where
 * the packet pointers are valid. */
static __always_inline int cg_decide(const struct cg_pkt *p, struct cg_decision *d)
{
	int reason;

	__builtin_memcpy(d->saddr, p->saddr, 16);
	__builtin_memcpy(d->daddr, p->daddr, 16);
	d->sport = p->sport;
	d->dport = p->dport;
	d->family = p->family;
	d->proto = p->proto;
	d->flags = p->flags;
	reason = cg_find_service(d);
	if (reason)
		return reason;
	if (d->wants_key)
		d->has_key = cg_payload_key(p, d->key_offset, d->key_size, &d->key);
	return cg_choose(d);
}

/* The endpoint cg_choose() picked. */
static __always_inline const struct cg_endpoint *cg_chosen_endpoint(const struct cg_decision *d)
{
	__u32 idx = d->bank * CG_MAX_ENDPOINTS + d->endpoint;

	if (d->endpoint >= CG_MAX_ENDPOINTS)
		return NULL;
	return bpf_map_lookup_elem(&cg_endpoints, &idx);
}

static __always_inline void cg_count_one(void *map, __u32 idx, const struct cg_decision *d,
					 __u32 bytes)
{
	struct cg_counters *c = bpf_map_lookup_elem(map, &idx);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	c->new_flows += d->new_flow;
	c->resteered += d->resteered;
}

/* A fenced new flow: counted on the unit and service it would have used. */
static __always_inline void cg_count_fenced(const struct cg_decision *d, __u32 bytes)
{
	__u32 unit = d->unit, sid = d->svc_id;
	struct cg_counters *c;

	c = bpf_map_lookup_elem(&cg_unit_stats, &unit);
	if (c)
		c->fenced++;
	c = bpf_map_lookup_elem(&cg_service_stats, &sid);
	if (c)
		c->fenced++;
	cg_count_reason(CG_R_FENCED, bytes);
}

static __always_inline void cg_count_forward(const struct cg_decision *d, __u32 bytes)
{
	cg_count_one(&cg_unit_stats, d->unit, d, bytes);
	cg_count_one(&cg_service_stats, d->svc_id, d, bytes);
	cg_count_one(&cg_endpoint_stats, d->endpoint, d, bytes);
	cg_count_reason(CG_R_FORWARDED, bytes);
}

#endif /* CG_STEER_H */
