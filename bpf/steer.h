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

struct cg_choice {
	const struct cg_gen *gen;
	const struct cg_service *svc;
	const struct cg_endpoint *ep;
	__u32 hash; /* flow hash: Maglev slot and outer source */
	__u16 unit;
	__u16 endpoint;
	__u8 new_flow;
	__u8 resteered;
};

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

/* Established flows may still use a draining unit. */
static __always_inline bool cg_unit_alive(__u32 bank, __u32 id)
{
	const struct cg_unit *u = cg_unit_get(bank, id);

	return u && (u->state == CG_UNIT_SERVING || u->state == CG_UNIT_DRAINING);
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
	__u32 key = (bank * CG_MAX_UNITS + unit) * CG_MAGLEV_SIZE + cg_hash_slot(hash) % CG_MAGLEV_SIZE;

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
								 const struct cg_service_key *k)
{
	const struct cg_svc_slot *s = cg_svc_slot_find(bank, k);
	__u32 idx;

	if (!s || s->service >= CG_MAX_SERVICES)
		return NULL;
	idx = bank * CG_MAX_SERVICES + s->service;
	return bpf_map_lookup_elem(&cg_services, &idx);
}

/* Central unit, or its standby when it does not serve. */
static __always_inline __u32 cg_central(__u32 bank, const struct cg_service *svc)
{
	const struct cg_unit *u = cg_unit_get(bank, svc->central_unit);

	if (!u)
		return CG_UNIT_NONE;
	if (u->state == CG_UNIT_SERVING)
		return svc->central_unit;
	if (cg_unit_serving(bank, u->standby))
		return u->standby;
	return CG_UNIT_NONE;
}

/* Payload routing key: big-endian integer of key_size bytes. */
static __always_inline bool cg_payload_key(const struct cg_pkt *p, const struct cg_service *svc,
					   __u64 *key)
{
	__u8 *k;
	__u32 off = svc->key_offset;

	if (!p->payload || off > CG_MAX_KEY_OFFSET)
		return false;
	k = (__u8 *)p->payload + off;
	/* within the IP packet, not just the frame: never read Ethernet padding */
	if ((__u32)((void *)k - p->l3) + svc->key_size > p->l3_len)
		return false;
	switch (svc->key_size) {
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

static __always_inline bool cg_is_new_flow(const struct cg_pkt *p, const struct cg_service *svc)
{
	if (p->flags & CG_PKT_F_ICMP_ERR)
		return false;
	if (p->proto == IPPROTO_TCP)
		return p->flags & CG_PKT_F_SYN;
	return p->proto == IPPROTO_UDP && (svc->flags & CG_SVC_F_UDP_MISS_NEW);
}

/*
 * Flow-table path, only for buckets or slots in transition and for
 * full-flow-table services (docs/dataplane.md §4). ch->unit/endpoint hold
 * the current choice on entry.
 */
static __always_inline void cg_transition(const struct cg_pkt *p, struct cg_choice *ch, __u32 bank,
					  __u16 prev_unit, __u16 prev_ep)
{
	struct cg_flow_key fk = {
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
		.family = p->family,
	};
	struct cg_flow *fl, rec = {};

	__builtin_memcpy(fk.saddr, p->saddr, 16);
	__builtin_memcpy(fk.daddr, p->daddr, 16);

	fl = bpf_map_lookup_elem(&cg_flows, &fk);
	if (fl) {
		if (cg_unit_alive(bank, fl->unit) && cg_endpoint_get(bank, fl->endpoint, fl->unit)) {
			ch->unit = fl->unit;
			ch->endpoint = fl->endpoint;
			return;
		}
		/* its unit or endpoint is gone: follow the bucket now */
		fl->unit = ch->unit;
		fl->endpoint = ch->endpoint;
		ch->resteered = 1;
		return;
	}

	if (!cg_is_new_flow(p, ch->svc)) {
		if (prev_unit != CG_UNIT_NONE && cg_unit_alive(bank, prev_unit)) {
			const struct cg_maglev_slot *ps = cg_slot_get(bank, prev_unit, ch->hash);

			if (ps) {
				ch->unit = prev_unit;
				ch->endpoint = ps->endpoint;
				if (ps->prev_endpoint != CG_EP_NONE &&
				    cg_endpoint_get(bank, ps->prev_endpoint, prev_unit))
					ch->endpoint = ps->prev_endpoint;
			}
		} else if (prev_ep != CG_EP_NONE && cg_endpoint_get(bank, prev_ep, ch->unit)) {
			ch->endpoint = prev_ep;
		}
		if (!(ch->svc->flags & CG_SVC_F_FULL_FLOWS) || (p->flags & CG_PKT_F_ICMP_ERR))
			return;
	}

	rec.unit = ch->unit;
	rec.endpoint = ch->endpoint;
	rec.service_id = ch->svc->id;
	if (!bpf_map_update_elem(&cg_flows, &fk, &rec, BPF_NOEXIST))
		ch->new_flow = 1;
}

/* Returns CG_R_FORWARDED with ch filled, or the reason to pass/drop. */
static __always_inline int cg_decide(const struct cg_pkt *p, struct cg_choice *ch)
{
	struct cg_service_key sk = {
		.family = p->family,
		.proto = p->proto,
		.port = p->dport,
	};
	const struct cg_maglev_slot *slot;
	const struct cg_service *svc;
	const struct cg_gen *g;
	__u16 prev_unit = CG_UNIT_NONE;
	bool v6 = p->family == CG_AF_INET6;
	bool frag = p->flags & CG_PKT_F_FRAG;
	__u32 zero = 0, bank, unit;
	void *inner;

	inner = bpf_map_lookup_elem(&cg_root, &zero);
	if (!inner)
		return CG_R_NO_CONFIG;
	g = bpf_map_lookup_elem(inner, &zero);
	if (!g || !g->generation)
		return CG_R_NO_CONFIG;
	bank = g->bank & 1;
	ch->gen = g;

	__builtin_memcpy(sk.addr, p->daddr, 16);
	svc = NULL;
	if (!frag)
		svc = cg_service_find(bank, &sk);
	if (!svc) {
		sk.port = 0;
		svc = cg_service_find(bank, &sk);
	}
	if (!svc && frag) {
		/* a VIP marker (proto 0) says the VIP has services, just none
		 * that takes fragments: count it as a fragment, not as noise */
		sk.proto = 0;
		return cg_svc_slot_find(bank, &sk) ? CG_R_FRAGMENT : CG_R_NO_SERVICE;
	}
	if (!svc)
		return CG_R_NO_SERVICE;
	if (frag && !(svc->flags & CG_SVC_F_FRAG_L3))
		return CG_R_FRAGMENT;
	ch->svc = svc;

	if (frag)
		ch->hash = cg_hash_l3(g->seed, v6, p->saddr, p->daddr, p->proto);
	else
		ch->hash = cg_hash_flow(g->seed, v6, p->saddr, p->daddr, p->sport, p->dport,
					p->proto);

	if (svc->kind == CG_KIND_CORE) {
		const struct cg_bucket *b;
		__u64 key = ch->hash;
		__u32 idx;

		if (svc->key_source == CG_KEY_CLIENT) {
			key = cg_hash_addr(g->seed, v6, p->saddr);
		} else if (svc->key_source == CG_KEY_PAYLOAD && !cg_payload_key(p, svc, &key)) {
			if (svc->key_missing == CG_MISSING_REJECT)
				return CG_R_KEY_REJECT;
			key = ch->hash;
			if (svc->key_missing == CG_MISSING_CENTRAL)
				goto central;
		}
		if (!svc->modulo)
			return CG_R_NO_UNIT;
		idx = bank * g->bucket_slots + svc->bucket_base + (__u32)(key % svc->modulo);
		b = bpf_map_lookup_elem(&cg_buckets, &idx);
		if (!b)
			return CG_R_NO_UNIT;
		unit = b->unit;
		prev_unit = b->prev_unit;
	} else if (svc->kind == CG_KIND_SHARED && cg_unit_serving(bank, svc->local_unit)) {
		unit = svc->local_unit;
	} else {
central:
		unit = cg_central(bank, svc);
	}

	if (!cg_unit_serving(bank, unit))
		return CG_R_NO_UNIT;
	slot = cg_slot_get(bank, unit, ch->hash);
	if (!slot)
		return CG_R_NO_ENDPOINT;
	ch->unit = unit;
	ch->endpoint = slot->endpoint;

	if (prev_unit != CG_UNIT_NONE || slot->prev_endpoint != CG_EP_NONE ||
	    (svc->flags & CG_SVC_F_FULL_FLOWS))
		cg_transition(p, ch, bank, prev_unit, slot->prev_endpoint);

	ch->ep = cg_endpoint_get(bank, ch->endpoint, ch->unit);
	if (!ch->ep)
		return CG_R_NO_ENDPOINT;
	return CG_R_FORWARDED;
}

static __always_inline void cg_count_one(void *map, __u32 idx, const struct cg_choice *ch,
					 __u32 bytes)
{
	struct cg_counters *c = bpf_map_lookup_elem(map, &idx);

	if (!c)
		return;
	c->packets++;
	c->bytes += bytes;
	c->new_flows += ch->new_flow;
	c->resteered += ch->resteered;
}

static __always_inline void cg_count_forward(const struct cg_choice *ch, __u32 bytes)
{
	cg_count_one(&cg_unit_stats, ch->unit, ch, bytes);
	cg_count_one(&cg_service_stats, ch->svc->id, ch, bytes);
	cg_count_one(&cg_endpoint_stats, ch->endpoint, ch, bytes);
	cg_count_reason(CG_R_FORWARDED, bytes);
}

#endif /* CG_STEER_H */
