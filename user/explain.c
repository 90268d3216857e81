// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cellgate explain (user/explain.h).
 *
 * cg_explain() replays bpf/steer.h on a copy of the live bank: every
 * function below is named after the dataplane function it mirrors and
 * makes the same checks in the same order. A change to one side without
 * the other is caught by selftests/test_explain.c, which compares this
 * with BPF_PROG_TEST_RUN over thousands of packets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>
#include <jansson.h>

#include "names.h"
#include "cg_hash.h"
#include "dp.h"
#include "explain.h"
#include "log.h"
#include "tables.h"

#define OUTER4_LEN 20 /* bpf/encap.h CG_OUTER4_LEN: IPv4 header */
#define OUTER6_LEN 40 /* ... CG_OUTER6_LEN: IPv6 header */

/* ---- the decision, as bpf/steer.h takes it ---- */

struct ctx {
	struct cg_dp *dp;
	const struct cg_tables *t;
	const struct cg_explain_query *q;
	struct cg_explain_result *r;
	__be16 sport, dport; /* as the parser leaves them: 0 for fragments */
	bool frag, icmp, v6;
	int err; /* a map read that failed */
};

static const struct cg_unit *unit_get(const struct ctx *x, __u32 id)
{
	return id < CG_MAX_UNITS ? &x->t->units[id] : NULL;
}

static bool unit_serving(const struct ctx *x, __u32 id)
{
	const struct cg_unit *u = unit_get(x, id);

	return u && u->state == CG_UNIT_SERVING;
}

/* cg_unit_alive(): recorded flows stay on a serving unit, or a draining
 * one until its deadline. */
static bool unit_alive(const struct ctx *x, __u32 id)
{
	const struct cg_unit *u = unit_get(x, id);

	if (!u)
		return false;
	if (u->state == CG_UNIT_SERVING)
		return true;
	return u->state == CG_UNIT_DRAINING &&
	       (!u->hold_until_ns || x->r->now_ns < u->hold_until_ns);
}

/* cg_unit_holds(): a previous owner keeps unrecorded flows until its hold ends. */
static bool unit_holds(const struct ctx *x, __u32 id)
{
	const struct cg_unit *u = unit_get(x, id);

	if (!u || (u->state != CG_UNIT_SERVING && u->state != CG_UNIT_DRAINING))
		return false;
	return !u->hold_until_ns || x->r->now_ns < u->hold_until_ns;
}

static const struct cg_endpoint *endpoint_get(const struct ctx *x, __u32 id, __u32 unit)
{
	const struct cg_endpoint *ep;

	if (id >= CG_MAX_ENDPOINTS)
		return NULL;
	ep = &x->t->endpoints[id];
	if (ep->family == CG_AF_NONE || ep->unit != unit)
		return NULL;
	return ep;
}

static const struct cg_maglev_slot *slot_get(const struct ctx *x, __u32 unit, __u32 hash,
					     __u32 *slot)
{
	if (unit >= CG_MAX_UNITS)
		return NULL;
	*slot = cg_slot_of(hash, CG_MAGLEV_SIZE);
	return &x->t->maglev[(size_t)unit * CG_MAGLEV_SIZE + *slot];
}

/* cg_svc_slot_find(): linear probing, an empty slot ends the sequence. */
static const struct cg_svc_slot *svc_slot_find(const struct cg_tables *t,
					       const struct cg_service_key *k)
{
	__u32 home = cg_hash_service(k->addr, k->port, k->proto, k->family);

	for (int i = 0; i < CG_SVC_PROBES; i++) {
		const struct cg_svc_slot *s = &t->svc_index[(home + i) & (CG_SVC_SLOTS - 1)];

		if (s->key.family == CG_AF_NONE)
			return NULL;
		if (!memcmp(s->key.addr, k->addr, sizeof(k->addr)) && s->key.port == k->port &&
		    s->key.proto == k->proto && s->key.family == k->family)
			return s;
	}
	return NULL;
}

static const struct cg_service *service_find(const struct cg_tables *t,
					     const struct cg_service_key *k, __u32 *index)
{
	const struct cg_svc_slot *s = svc_slot_find(t, k);

	if (!s || s->service >= CG_MAX_SERVICES)
		return NULL;
	*index = s->service;
	return &t->services[s->service];
}

/* cg_is_new_flow() */
static bool is_new_flow(const struct ctx *x, __u16 svc_flags)
{
	if (x->icmp)
		return false;
	if (x->q->proto == IPPROTO_TCP)
		return x->q->syn;
	return x->q->proto == IPPROTO_UDP && (svc_flags & CG_SVC_F_UDP_MISS_NEW);
}

static void flow_key(const struct ctx *x, struct cg_flow_key *fk)
{
	memset(fk, 0, sizeof(*fk));
	memcpy(fk->saddr, x->q->saddr, 16);
	memcpy(fk->daddr, x->q->daddr, 16);
	fk->sport = x->sport;
	fk->dport = x->dport;
	fk->proto = x->q->proto;
	fk->family = x->q->family;
}

/* The flow's record in cg_flows, if any (a lookup does not touch the LRU order). */
static bool flow_lookup(struct ctx *x, struct cg_flow *out)
{
	struct cg_flow_key fk;
	int fd = x->dp ? x->dp->fd[CG_DP_FLOWS] : -1;

	if (fd < 0)
		return false;
	flow_key(x, &fk);
	if (!bpf_map_lookup_elem(fd, &fk, out))
		return true;
	if (errno != ENOENT)
		x->err = -errno;
	return false;
}

/* cg_central(): the central unit, or its standby when it does not serve. */
static __u16 central(const struct ctx *x, __u32 id, int *why)
{
	const struct cg_unit *u = unit_get(x, id);

	*why = CG_XW_CENTRAL;
	if (!u)
		return CG_UNIT_NONE;
	if (u->state == CG_UNIT_SERVING)
		return id;
	if (unit_serving(x, u->standby)) {
		*why = CG_XW_CENTRAL_STANDBY;
		return u->standby;
	}
	return CG_UNIT_NONE;
}

/* cg_transition(): the flow-table path. r->unit/endpoint hold the choice. */
static void transition(struct ctx *x, __u16 prev_unit, __u16 prev_ep)
{
	struct cg_explain_result *r = x->r;
	const struct cg_service *svc = &r->svc;

	if (flow_lookup(x, &r->flow)) {
		r->has_flow = true;
		if (unit_alive(x, r->flow.unit) &&
		    endpoint_get(x, r->flow.endpoint, r->flow.unit)) {
			r->unit = r->flow.unit;
			r->endpoint = r->flow.endpoint;
			r->flow_step = CG_XF_RECORD;
			return;
		}
		/* its unit or endpoint is gone: follow the bucket now */
		r->flow_step = CG_XF_RESTEER;
		r->resteered = true;
		return;
	}
	if (!is_new_flow(x, svc->flags)) {
		if (prev_unit != CG_UNIT_NONE && unit_holds(x, prev_unit)) {
			__u32 slot;
			const struct cg_maglev_slot *ps = slot_get(x, prev_unit, r->hash, &slot);

			r->flow_step = CG_XF_PREV_UNIT;
			if (ps) {
				r->unit = prev_unit;
				r->endpoint = ps->endpoint;
				if (ps->prev_endpoint != CG_EP_NONE &&
				    endpoint_get(x, ps->prev_endpoint, prev_unit))
					r->endpoint = ps->prev_endpoint;
			}
		} else if (prev_ep != CG_EP_NONE && endpoint_get(x, prev_ep, r->unit)) {
			r->flow_step = CG_XF_PREV_ENDPOINT;
			r->endpoint = prev_ep;
		} else {
			r->flow_step = CG_XF_CURRENT;
		}
		if (!(svc->flags & CG_SVC_F_FULL_FLOWS) || x->icmp)
			return;
	} else {
		r->flow_step = CG_XF_NEW;
	}
	r->records = true; /* BPF_NOEXIST after a miss: the insert succeeds */
}

/* cg_pinned_unit(): the longest pin of this service that covers the client. */
static bool pinned_unit(struct ctx *x, __u32 *unit)
{
	const struct cg_tables *t = x->t;
	struct cg_explain_result *r = x->r;
	int n = x->v6 ? t->n_pins6 : t->n_pins4, best = -1, best_len = -1;
	__be16 sid = htons(r->svc.id);

	for (int i = 0; i < n; i++) {
		const __be32 *pa = x->v6 ? t->pins6[i].addr : &t->pins4[i].addr;
		__u32 plen = (x->v6 ? t->pins6[i].prefixlen : t->pins4[i].prefixlen) - 32;
		__be16 psvc = x->v6 ? t->pins6[i].service : t->pins4[i].service;
		bool match = psvc == sid;

		for (int w = 0; match && w < (x->v6 ? 4 : 1); w++) {
			int bits = (int)plen - 32 * w;
			__u32 mask = bits >= 32 ? ~0u : bits <= 0 ? 0 : ~0u << (32 - bits);

			match = !((ntohl(pa[w]) ^ ntohl(x->q->saddr[w])) & mask);
		}
		if (match && (int)plen > best_len) {
			best = i;
			best_len = plen;
		}
	}
	if (best < 0)
		return false;
	r->has_pin = true;
	r->pin_family = x->q->family;
	r->pin_len = best_len;
	memset(r->pin_addr, 0, sizeof(r->pin_addr));
	if (x->v6) {
		memcpy(r->pin_addr, t->pins6[best].addr, 16);
		r->pin_unit = t->pins6_val[best].unit;
	} else {
		r->pin_addr[0] = t->pins4[best].addr;
		r->pin_unit = t->pins4_val[best].unit;
	}
	/* an evacuated pinned unit loses its pins: evacuation wins */
	if (!unit_serving(x, r->pin_unit))
		return false;
	r->pin_used = true;
	*unit = r->pin_unit;
	return true;
}

/* cg_fenced(): a new flow on a bucket whose fence still holds. */
static bool fenced(struct ctx *x, __u16 svc_flags, __u32 fence)
{
	struct cg_explain_result *r = x->r;
	struct cg_flow fl;

	if (fence >= CG_MAX_FENCES)
		return false;
	r->has_fence = true;
	r->fence = x->t->fences[fence];
	r->fence_active = r->now_ns < r->fence.deadline_ns;
	if (!is_new_flow(x, svc_flags) || !r->fence_active)
		return false;
	/* UDP has no SYN: a flow recorded before the fence is not new */
	if (x->q->proto == IPPROTO_UDP && flow_lookup(x, &fl))
		return false;
	r->fence_applies = true;
	return true;
}

/* Why the bucket's unit, from its owner and the owner's state. */
static void bucket_why(struct ctx *x)
{
	struct cg_explain_result *r = x->r;
	__u16 owner = r->bk.owner & CG_OWNER_MASK;
	bool away = r->bk.owner & CG_OWNER_AWAY;
	const struct cg_unit *ou = unit_get(x, owner);

	r->why_unit = owner;
#ifdef CG_OWNER_CANARY
	r->canary_known = true;
#endif
	if (r->bk.unit == CG_UNIT_NONE) {
		r->why = CG_XW_NONE;
	} else if (r->bk.unit == owner && !away) {
		r->why = CG_XW_OWNER;
#ifdef CG_OWNER_CANARY
		if (r->bk.owner & CG_OWNER_CANARY)
			r->why = CG_XW_CANARY;
#endif
	} else if (ou && (ou->state != CG_UNIT_SERVING || away)) {
		r->why = r->bk.unit == ou->standby ? CG_XW_STANDBY : CG_XW_SPREAD;
	} else {
		r->why = CG_XW_BUCKET;
	}
}

/* cg_find_service(): 0, or the reason to pass the packet. */
static int find_service(struct ctx *x)
{
	const struct cg_tables *t = x->t;
	struct cg_explain_result *r = x->r;
	struct cg_service_key sk = {};
	const struct cg_service *svc = NULL;
	__u32 idx = 0;

	if (!t->gen.generation)
		return CG_R_NO_CONFIG;
	memcpy(sk.addr, x->q->daddr, 16);
	sk.family = x->q->family;
	sk.proto = x->q->proto;
	sk.port = x->dport;
	if (!x->frag)
		svc = service_find(t, &sk, &idx);
	if (!svc) {
		sk.port = 0;
		svc = service_find(t, &sk, &idx);
		r->wildcard = true;
	}
	if (!svc && x->frag) {
		/* a VIP marker (proto 0): the VIP has services, none takes fragments */
		sk.proto = 0;
		return svc_slot_find(t, &sk) ? CG_R_FRAGMENT : CG_R_NO_SERVICE;
	}
	if (!svc)
		return CG_R_NO_SERVICE;
	r->has_service = true;
	r->svc_index = idx;
	r->svc = *svc;
	r->svc_key = sk;
	if (x->frag && !(svc->flags & CG_SVC_F_FRAG_L3))
		return CG_R_FRAGMENT;
	return 0;
}

/* cg_choose(): CG_R_FORWARDED, CG_R_FENCED, or why the packet passes or drops. */
static int choose(struct ctx *x)
{
	const struct cg_tables *t = x->t;
	const struct cg_gen *g = &t->gen;
	struct cg_explain_result *r = x->r;
	const struct cg_service *svc = &r->svc;
	const struct cg_maglev_slot *slot;
	const struct cg_endpoint *ep;
	__u16 prev_unit = CG_UNIT_NONE;
	bool has_key;
	__u32 unit;

	/* cg_decide(): the payload key is read only for a core payload-keyed
	 * service, and only a TCP/UDP packet has a payload */
	has_key = svc->kind == CG_KIND_CORE && svc->key_source == CG_KEY_PAYLOAD && !x->frag &&
		  !x->icmp && x->q->has_key;

	if (x->frag)
		r->hash = cg_hash_l3(g->seed, x->v6, x->q->saddr, x->q->daddr, x->q->proto);
	else
		r->hash = cg_hash_flow(g->seed, x->v6, x->q->saddr, x->q->daddr, x->sport, x->dport,
				       x->q->proto);

	if (svc->kind == CG_KIND_CORE) {
		__u32 h = r->hash;

		r->key_how = x->frag ? CG_XK_L3 : CG_XK_FLOW;
		if ((svc->flags & CG_SVC_F_PINS) && pinned_unit(x, &unit)) {
			r->key_how = CG_XK_PIN;
			r->why = CG_XW_PIN;
			goto chosen;
		}
		if (!svc->modulo)
			return CG_R_NO_UNIT;
		if (svc->key_source == CG_KEY_CLIENT) {
			h = cg_hash_addr(g->seed, x->v6, x->q->saddr);
			r->key_how = CG_XK_CLIENT;
		}
		/* a hashed key: (h * modulo) >> 32; a numeric one: key % modulo */
		r->key = h;
		r->bucket = cg_bucket_of_hash(h, svc->modulo);
		if (svc->key_source == CG_KEY_PAYLOAD) {
			if (has_key) {
				r->key = x->q->key;
				if (svc->key_size < 8 && r->key >> (8 * svc->key_size)) {
					/* a packet carries key_size bytes: only those count */
					r->key_oversize = true;
					r->key &= (1ull << (8 * svc->key_size)) - 1;
				}
				r->key_how = CG_XK_PAYLOAD;
				r->bucket = cg_bucket_of_key(r->key, svc->modulo);
			} else if (svc->key_missing == CG_MISSING_REJECT) {
				r->key_how = CG_XK_MISSING_REJECT;
				return CG_R_KEY_REJECT;
			} else if (svc->key_missing == CG_MISSING_CENTRAL) {
				r->key_how = CG_XK_MISSING_CENTRAL;
				unit = central(x, svc->central_unit, &r->why);
				r->why_unit = svc->central_unit;
				goto chosen;
			} else {
				r->key_how = CG_XK_MISSING_FLOW;
			}
		}
		if ((__u64)svc->bucket_base + r->bucket >= t->buckets_used)
			return CG_R_NO_UNIT;
		r->has_bucket = true;
		r->bk = t->buckets[svc->bucket_base + r->bucket];
		bucket_why(x);
		unit = r->bk.unit;
		prev_unit = r->bk.prev_unit;
		if (r->bk.fence && fenced(x, svc->flags, r->bk.fence)) {
			r->unit = unit;
			return CG_R_FENCED;
		}
	} else if (svc->kind == CG_KIND_SHARED && unit_serving(x, svc->local_unit)) {
		unit = svc->local_unit;
		r->why = CG_XW_LOCAL;
		r->why_unit = unit;
	} else {
		unit = central(x, svc->central_unit, &r->why);
		r->why_unit = svc->central_unit;
	}

chosen:
	r->unit = unit;
	r->choice_unit = unit;
	if (!unit_serving(x, unit))
		return CG_R_NO_UNIT;
	slot = slot_get(x, unit, r->hash, &r->slot);
	if (!slot)
		return CG_R_NO_ENDPOINT;
	r->has_slot = true;
	r->ms = *slot;
	r->endpoint = slot->endpoint;

	if (prev_unit != CG_UNIT_NONE || slot->prev_endpoint != CG_EP_NONE ||
	    (svc->flags & CG_SVC_F_FULL_FLOWS))
		transition(x, prev_unit, slot->prev_endpoint);
	if (x->err)
		return CG_R_NO_ENDPOINT;

	ep = endpoint_get(x, r->endpoint, r->unit);
	if (!ep)
		return CG_R_NO_ENDPOINT;
	r->ep = *ep;
	/* outer source: the flow hash in the prefix's host bits */
	if (ep->family == CG_AF_INET) {
		r->outer_src[0] = g->src4 | (htonl(r->hash) & g->src4_hostmask);
	} else {
		memcpy(r->outer_src, g->src6, 16);
		r->outer_src[3] = g->src6[3] | (htonl(r->hash) & g->src6_hostmask);
	}
	return CG_R_FORWARDED;
}

/* What cg_steer_xdp() does after the decision. */
static int egress(struct ctx *x, int reason)
{
	struct cg_explain_result *r = x->r;
	__u32 outer, ingress, ifindex, val;

	if (reason != CG_R_FORWARDED)
		return reason;
	outer = r->ep.family == CG_AF_INET ? OUTER4_LEN : OUTER6_LEN;
	if (x->q->ip_len && r->ep.mtu && x->q->ip_len + outer > r->ep.mtu)
		return CG_R_TOO_BIG;
	ingress = x->q->ingress_ifindex;
	if (!ingress && x->dp)
		ingress = x->dp->info.ifindex;
	r->egress_known = true;
	r->xdp_tx = (r->ep.flags & CG_EP_F_XDP_TX) || r->ep.ifindex == ingress;
	if (r->xdp_tx)
		return CG_R_FORWARDED;
	ifindex = r->ep.ifindex;
	r->tx_port_ok = x->dp && x->dp->fd[CG_DP_TX_PORTS] >= 0 &&
			!bpf_map_lookup_elem(x->dp->fd[CG_DP_TX_PORTS], &ifindex, &val);
	/* egress port missing from cg_tx_ports: dropped, counted as no_endpoint */
	return r->tx_port_ok ? CG_R_FORWARDED : CG_R_NO_ENDPOINT;
}

static bool reason_drops(int reason)
{
	return reason == CG_R_NO_UNIT || reason == CG_R_NO_ENDPOINT || reason == CG_R_KEY_REJECT ||
	       reason == CG_R_TOO_BIG || reason == CG_R_ENCAP_FAIL || reason == CG_R_FENCED;
}

int cg_explain(struct cg_dp *dp, const struct cg_tables *t, const struct cg_explain_query *q,
	       struct cg_explain_result *r)
{
	struct ctx x = { .dp = dp, .t = t, .q = q, .r = r };
	int reason;

	memset(r, 0, sizeof(*r));
	r->unit = CG_UNIT_NONE;
	r->endpoint = CG_EP_NONE;
	r->why_unit = CG_UNIT_NONE;
	r->generation = t->gen.generation;
	r->gen_hash = t->gen.hash;
	r->bank = t->gen.bank & 1;
	r->now_ns = q->now_ns ? q->now_ns : cg_mono_ns();
	if (q->family != CG_AF_INET && q->family != CG_AF_INET6)
		return -EINVAL;
	x.v6 = q->family == CG_AF_INET6;
	x.frag = q->fragment;
	x.icmp = q->icmp_error && !q->fragment;
	/* a fragment is steered before its L4 header is read: no ports */
	x.sport = x.frag ? 0 : q->sport;
	x.dport = x.frag ? 0 : q->dport;

	reason = find_service(&x);
	if (!reason)
		reason = choose(&x);
	if (x.err)
		return x.err;
	reason = egress(&x, reason);
	r->reason = reason;
	if (reason == CG_R_FORWARDED)
		r->verdict = CG_XV_FORWARD;
	else if (reason == CG_R_FENCED && r->fence.action == CG_FENCE_REJECT)
		r->verdict = CG_XV_REJECT;
	else
		r->verdict = reason_drops(reason) ? CG_XV_DROP : CG_XV_PASS;
	return 0;
}

/* ---- rendering ---- */

static const char *const reason_names[CG_R_MAX] = CG_REASON_NAMES;

static const char *reason_name(int reason)
{
	return reason >= 0 && reason < CG_R_MAX ? reason_names[reason] : "?";
}

static const char *verdict_name(int v)
{
	static const char *const names[] = { [CG_XV_PASS] = "pass",
					     [CG_XV_DROP] = "drop",
					     [CG_XV_FORWARD] = "forward",
					     [CG_XV_REJECT] = "reject" };

	return v >= 0 && v <= CG_XV_REJECT ? names[v] : "?";
}





static const char *key_how_name(int k)
{
	static const char *const names[] = {
		[CG_XK_NONE] = "none",
		[CG_XK_FLOW] = "flow",
		[CG_XK_L3] = "l3",
		[CG_XK_CLIENT] = "client",
		[CG_XK_PAYLOAD] = "payload",
		[CG_XK_MISSING_FLOW] = "missing_flow",
		[CG_XK_MISSING_REJECT] = "missing_reject",
		[CG_XK_MISSING_CENTRAL] = "missing_central",
		[CG_XK_PIN] = "pin",
	};

	return k >= 0 && k <= CG_XK_PIN ? names[k] : "?";
}

static const char *why_name(int w)
{
	static const char *const names[] = {
		[CG_XW_NONE] = "none",
		[CG_XW_OWNER] = "owner",
		[CG_XW_CANARY] = "canary",
		[CG_XW_STANDBY] = "standby",
		[CG_XW_SPREAD] = "spread",
		[CG_XW_BUCKET] = "bucket",
		[CG_XW_PIN] = "pin",
		[CG_XW_CENTRAL] = "central",
		[CG_XW_CENTRAL_STANDBY] = "central_standby",
		[CG_XW_LOCAL] = "local",
	};

	return w >= 0 && w <= CG_XW_LOCAL ? names[w] : "?";
}

static const char *flow_step_name(int f)
{
	static const char *const names[] = {
		[CG_XF_NOT_USED] = "not_used",	 [CG_XF_RECORD] = "record",
		[CG_XF_RESTEER] = "resteer",	 [CG_XF_NEW] = "new",
		[CG_XF_PREV_UNIT] = "prev_unit", [CG_XF_PREV_ENDPOINT] = "prev_endpoint",
		[CG_XF_CURRENT] = "current",
	};

	return f >= 0 && f <= CG_XF_CURRENT ? names[f] : "?";
}

static const char *unit_name(const struct cg_tables *t, __u32 id, char *buf, size_t len)
{
	if (id == CG_UNIT_NONE)
		return "-";
	if (id < CG_MAX_UNITS && t->units[id].state != CG_UNIT_UNUSED)
		return t->units[id].name;
	snprintf(buf, len, "#%u", id);
	return buf;
}

static void addr_str(int family, const __be32 *a, char *buf, size_t len)
{
	inet_ntop(family == CG_AF_INET6 ? AF_INET6 : AF_INET, a, buf, len);
}

static void mac_str(const __u8 *m, char *buf, size_t len)
{
	snprintf(buf, len, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static const char *proto_name(__u8 proto)
{
	return proto == IPPROTO_TCP ? "tcp" : proto == IPPROTO_UDP ? "udp" : "?";
}

/* "for 12.3 s more", "ended 2.0 s ago", "until released" */
static void deadline_str(__u64 deadline, __u64 now, char *buf, size_t len)
{
	if (deadline == CG_FENCE_FOREVER)
		snprintf(buf, len, "until released");
	else if (deadline > now)
		snprintf(buf, len, "for %.1f s more", (deadline - now) / 1e9);
	else
		snprintf(buf, len, "ended %.1f s ago", (now - deadline) / 1e9);
}

static void why_str(const struct cg_tables *t, const struct cg_explain_result *r, char *buf,
		    size_t len)
{
	char a[16], b[16], c[16];
	const char *owner = unit_name(t, r->why_unit, a, sizeof(a));
	const char *unit = unit_name(t, r->unit, b, sizeof(b));
	const struct cg_unit *ou = r->why_unit < CG_MAX_UNITS ? &t->units[r->why_unit] : NULL;
	const char *how = "";

	if (r->has_bucket && (r->bk.owner & CG_OWNER_AWAY))
		how = r->bk.owner & CG_OWNER_DRAIN ? "this bucket is drained from " :
						     "this bucket is evacuated from ";
	switch (r->why) {
	case CG_XW_OWNER:
		snprintf(buf, len, "the bucket's owner (%s)",
			 r->canary_known ? "rules or ratios" : "rules, ratios or canary");
		break;
	case CG_XW_CANARY:
		snprintf(buf, len, "the bucket's owner through the service's canary");
		break;
	case CG_XW_STANDBY:
	case CG_XW_SPREAD:
		if (*how)
			snprintf(buf, len, "%s%s (%s); %s", how, owner,
				 ou ? cg_unit_state_name(ou->state) : "?",
				 r->why == CG_XW_STANDBY ?
					 "its standby takes it" :
					 "spread over the serving units by weight");
		else
			snprintf(buf, len, "owner %s is %s; %s", owner,
				 ou ? cg_unit_state_name(ou->state) : "?",
				 r->why == CG_XW_STANDBY ?
					 "its standby takes its buckets" :
					 "its buckets are spread over the serving units by weight");
		break;
	case CG_XW_BUCKET:
		snprintf(buf, len, "set in the bucket table (owner %s)", owner);
		break;
	case CG_XW_PIN:
		snprintf(buf, len, "pinned by source prefix");
		break;
	case CG_XW_CENTRAL:
		if (r->unit == CG_UNIT_NONE)
			snprintf(buf, len, "the central unit %s and its standby %s do not serve",
				 owner, ou ? unit_name(t, ou->standby, c, sizeof(c)) : "-");
		else
			snprintf(buf, len, "the central unit");
		break;
	case CG_XW_CENTRAL_STANDBY:
		snprintf(buf, len, "the central unit %s is %s; its standby %s", owner,
			 ou ? cg_unit_state_name(ou->state) : "?", unit);
		break;
	case CG_XW_LOCAL:
		snprintf(buf, len, "the gateway's own unit (shared service, read traffic)");
		break;
	default:
		snprintf(buf, len, "the bucket has no unit");
		break;
	}
}

static void flow_str(const struct cg_tables *t, const struct cg_explain_result *r, char *buf,
		     size_t len)
{
	char a[16], b[16];

	switch (r->flow_step) {
	case CG_XF_NOT_USED:
		snprintf(buf, len, "not consulted: bucket and Maglev slot are not moving");
		break;
	case CG_XF_RECORD:
		snprintf(
			buf, len,
			"recorded -> unit %s endpoint %u: the flow stays there (unit alive, endpoint valid)",
			unit_name(t, r->flow.unit, a, sizeof(a)), r->flow.endpoint);
		break;
	case CG_XF_RESTEER:
		snprintf(
			buf, len,
			"recorded -> unit %s endpoint %u, which is gone: re-steered to the current choice and the record updated",
			unit_name(t, r->flow.unit, a, sizeof(a)), r->flow.endpoint);
		break;
	case CG_XF_NEW:
		snprintf(buf, len, "no record; a new flow: current choice, recorded");
		break;
	case CG_XF_PREV_UNIT:
		snprintf(
			buf, len,
			"no record; established: stays with the previous owner %s, endpoint %u (its Maglev slot)%s",
			unit_name(t, r->unit, b, sizeof(b)), r->endpoint,
			r->records ? " (recorded: full flow table)" : "");
		break;
	case CG_XF_PREV_ENDPOINT:
		snprintf(buf, len,
			 "no record; established: stays on the slot's previous endpoint %u%s",
			 r->endpoint, r->records ? " (recorded: full flow table)" : "");
		break;
	case CG_XF_CURRENT:
		snprintf(buf, len,
			 "no record; established, no previous owner holding it: current choice%s",
			 r->records ? " (recorded: full flow table)" : "");
		break;
	}
}

/* The entries read, as keys for `bpftool map lookup` (array indexes of this bank). */
struct map_keys {
	int n;
	const char *name[5];
	__u32 key[5];
};

static void map_keys(const struct cg_tables *t, const struct cg_explain_result *r,
		     struct map_keys *k)
{
	__u32 bank = r->bank;

	k->n = 0;
	if (r->has_bucket) {
		k->name[k->n] = "cg_buckets";
		k->key[k->n++] = bank * t->gen.bucket_slots + r->svc.bucket_base + r->bucket;
	}
	if (r->has_fence) {
		k->name[k->n] = "cg_fences";
		k->key[k->n++] = bank * CG_MAX_FENCES + r->bk.fence;
	}
	if (r->unit < CG_MAX_UNITS) {
		k->name[k->n] = "cg_units";
		k->key[k->n++] = bank * CG_MAX_UNITS + r->unit;
	}
	if (r->has_slot) {
		k->name[k->n] = "cg_maglev";
		k->key[k->n++] = (bank * CG_MAX_UNITS + r->unit) * CG_MAGLEV_SIZE + r->slot;
	}
	if (r->endpoint < CG_MAX_ENDPOINTS && r->ep.family) {
		k->name[k->n] = "cg_endpoints";
		k->key[k->n++] = bank * CG_MAX_ENDPOINTS + r->endpoint;
	}
}

static void print_map_keys(FILE *f, const struct cg_tables *t, const struct cg_explain_result *r)
{
	struct map_keys k;

	map_keys(t, r, &k);
	if (!k.n)
		return;
	fprintf(f, "%-10s", "maps");
	for (int i = 0; i < k.n; i++)
		fprintf(f, " %s[%u]", k.name[i], k.key[i]);
	fprintf(f, "\n");
}

void cg_explain_print(FILE *f, const struct cg_tables *t, const struct cg_explain_query *q,
		      const struct cg_explain_result *r)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], a[16], b[16], c[16], text[512], mac[24];
	const struct cg_service *svc = &r->svc;
	bool fwd = r->verdict == CG_XV_FORWARD;

	if (!r->generation) {
		fprintf(f, "no configuration published: every packet passes (no_config)\n");
		return;
	}
	fprintf(f, "generation %llu, hash %016llx, bank %u\n", (unsigned long long)r->generation,
		(unsigned long long)r->gen_hash, r->bank);
	addr_str(q->family, q->saddr, s, sizeof(s));
	addr_str(q->family, q->daddr, d, sizeof(d));
	fprintf(f, "%-10s %s %s%s%s:%u -> %s%s%s:%u%s%s%s", "packet", proto_name(q->proto),
		q->family == CG_AF_INET6 ? "[" : "", s, q->family == CG_AF_INET6 ? "]" : "",
		q->fragment ? 0 : ntohs(q->sport), q->family == CG_AF_INET6 ? "[" : "", d,
		q->family == CG_AF_INET6 ? "]" : "", q->fragment ? 0 : ntohs(q->dport),
		q->syn ? ", SYN" : "", q->icmp_error ? ", ICMP error quoting it" : "",
		q->fragment ? ", fragment (ports not read)" : "");
	if (q->has_key)
		fprintf(f, ", key %llu", (unsigned long long)q->key);
	fprintf(f, "\n");

	if (!r->has_service && r->reason == CG_R_FRAGMENT) {
		fprintf(f, "%-10s the VIP has services, but no %s service for every port with \"fragments\": \"l3\"\n",
			"service", proto_name(q->proto));
		goto verdict;
	}
	if (!r->has_service) {
		fprintf(f, "%-10s none for %s:%u/%s%s\n", "service", d,
			q->fragment ? 0 : ntohs(q->dport), proto_name(q->proto),
			r->wildcard ? " or any port" : "");
		goto verdict;
	}
	fprintf(f, "%-10s %s (id %u, index %u): %s", "service", svc->name, svc->id, r->svc_index,
		cg_kind_name(svc->kind));
	if (svc->kind == CG_KIND_CORE) {
		fprintf(f, ", key %s", cg_key_source_name(svc->key_source));
		if (svc->key_source == CG_KEY_PAYLOAD)
			fprintf(f, " (%u bytes at offset %u, missing: %s)", svc->key_size,
				svc->key_offset, cg_key_missing_name(svc->key_missing));
		fprintf(f, ", %u buckets", svc->modulo);
	}
	fprintf(f, "%s%s%s%s; matched %s\n", svc->flags & CG_SVC_F_PINS ? ", pins" : "",
		svc->flags & CG_SVC_F_FULL_FLOWS ? ", full flow table" : "",
		svc->flags & CG_SVC_F_FRAG_L3 ? ", fragments by L3 hash" : "",
		svc->flags & CG_SVC_F_UDP_MISS_NEW ? ", UDP first packet is new" : "",
		r->wildcard ? "the VIP's \"*\" service" : "the exact port");
	if (r->reason == CG_R_FRAGMENT) /* found but not for fragments */
		goto verdict;
	fprintf(f, "%-10s 0x%08x (%s)\n", "flow hash", r->hash,
		q->fragment ? "addresses and protocol: fragment" : "5-tuple");

	if (r->has_pin) {
		addr_str(r->pin_family, r->pin_addr, s, sizeof(s));
		fprintf(f, "%-10s %s/%d -> %s%s\n", "pin", s, r->pin_len,
			unit_name(t, r->pin_unit, a, sizeof(a)),
			r->pin_used ? "" : " (not serving: the pin is ignored, the key decides)");
	}
	switch (r->key_how) {
	case CG_XK_FLOW:
	case CG_XK_L3:
	case CG_XK_MISSING_FLOW:
		fprintf(f, "%-10s %s0x%08llx -> bucket %u ((h * %u) >> 32)\n", "key",
			r->key_how == CG_XK_MISSING_FLOW ? "payload key missing, flow hash " :
			r->key_how == CG_XK_L3		 ? "L3 hash " :
							   "flow hash ",
			(unsigned long long)r->key, r->bucket, svc->modulo);
		break;
	case CG_XK_CLIENT:
		fprintf(f, "%-10s client hash 0x%08llx -> bucket %u ((h * %u) >> 32)\n", "key",
			(unsigned long long)r->key, r->bucket, svc->modulo);
		break;
	case CG_XK_PAYLOAD:
		fprintf(f, "%-10s payload %llu%s -> bucket %u (key %% %u, not hashed)\n", "key",
			(unsigned long long)r->key,
			r->key_oversize ? " (the query's key cut to its low bytes)" : "", r->bucket,
			svc->modulo);
		break;
	case CG_XK_MISSING_REJECT:
		fprintf(f, "%-10s payload key missing -> reject (key_reject)\n", "key");
		break;
	case CG_XK_MISSING_CENTRAL:
		fprintf(f, "%-10s payload key missing -> the central unit\n", "key");
		break;
	case CG_XK_PIN:
		addr_str(r->pin_family, r->pin_addr, s, sizeof(s));
		fprintf(f, "%-10s not used: pinned by prefix %s/%d\n", "key", s, r->pin_len);
		break;
	}
	if (r->has_bucket) {
		fprintf(f, "%-10s %s[%u]: owner %s%s%s, unit %s, prev_unit %s, fence %u\n",
			"bucket", svc->name, r->bucket,
			unit_name(t, r->bk.owner & CG_OWNER_MASK, a, sizeof(a)),
			r->bk.owner & CG_OWNER_AWAY ? " (moved away" : "",
			r->bk.owner & CG_OWNER_AWAY ?
				(r->bk.owner & CG_OWNER_DRAIN ? ", draining)" : ")") :
				"",
			unit_name(t, r->bk.unit, b, sizeof(b)),
			unit_name(t, r->bk.prev_unit, c, sizeof(c)), r->bk.fence);
	}
	if (r->has_fence) {
		deadline_str(r->fence.deadline_ns, r->now_ns, text, sizeof(text));
		fprintf(f, "%-10s %u: %s new flows, %s: %s\n", "fence", r->bk.fence,
			r->fence.action == CG_FENCE_REJECT ? "reject" : "drop", text,
			!r->fence_active ? "no longer holds" :
			r->fence_applies ? "holds this new flow" :
					   "holds new flows only; this packet is not one");
	}
	if (r->has_service && r->reason != CG_R_KEY_REJECT) {
		why_str(t, r, text, sizeof(text));
		__u16 u = r->choice_unit;

		fprintf(f, "%-10s %s%s%s: %s\n", "unit", unit_name(t, u, a, sizeof(a)),
			u < CG_MAX_UNITS ? " " : "",
			u < CG_MAX_UNITS ? cg_unit_state_name(t->units[u].state) : "", text);
	}
	if (r->has_slot) {
		fprintf(f, "%-10s Maglev slot %u -> endpoint %u, prev_endpoint %d\n", "slot",
			r->slot, r->ms.endpoint,
			r->ms.prev_endpoint == CG_EP_NONE ? -1 : r->ms.prev_endpoint);
		flow_str(t, r, text, sizeof(text));
		fprintf(f, "%-10s %s\n", "flow", text);
	}
	if (r->endpoint != CG_EP_NONE && r->ep.family) {
		char dev[IF_NAMESIZE] = "?", hop[INET6_ADDRSTRLEN];

		if_indextoname(r->ep.ifindex, dev);
		addr_str(r->ep.family, r->ep.daddr, d, sizeof(d));
		addr_str(r->ep.family, r->ep.nexthop, hop, sizeof(hop));
		mac_str(r->ep.dmac, mac, sizeof(mac));
		fprintf(f, "%-10s %u %s of %s, dev %s (ifindex %u), next hop %s %s, mtu %u\n",
			"endpoint", r->endpoint, d, unit_name(t, r->ep.unit, a, sizeof(a)), dev,
			r->ep.ifindex, hop, mac, r->ep.mtu);
		addr_str(r->ep.family, r->outer_src, s, sizeof(s));
		if (r->ep.family == CG_AF_INET)
			fprintf(f, "%-10s IPv4 %s -> %s, protocol %u (%s), TTL %u, DF", "outer", s,
				d, q->family == CG_AF_INET ? 4 : 41,
				q->family == CG_AF_INET ? "IPIP" : "IPv6 in IPv4", CG_OUTER_TTL);
		else
			fprintf(f,
				"%-10s IPv6 %s -> %s, next header %u, flow label 0x%05x, hop limit %u",
				"outer", s, d, q->family == CG_AF_INET ? 4 : 41, r->hash & 0xfffff,
				CG_OUTER_TTL);
		if (r->ep.mtu)
			fprintf(f, "; inner packets over %u bytes are dropped (too_big)",
				r->ep.mtu - (r->ep.family == CG_AF_INET ? OUTER4_LEN : OUTER6_LEN));
		fprintf(f, "\n");
		if (r->egress_known)
			fprintf(f, "%-10s %s\n", "egress",
				r->xdp_tx ?
					"XDP_TX (the ingress interface)" :
				r->tx_port_ok ?
					"XDP_REDIRECT through cg_tx_ports" :
					"its interface is missing from cg_tx_ports: dropped (no_endpoint)");
	}
	print_map_keys(f, t, r);
verdict:
	fprintf(f, "%-10s %s (%s)", "verdict", verdict_name(r->verdict), reason_name(r->reason));
	if (r->records)
		fprintf(f, ", recorded in cg_flows%s", fwd ? " (a new flow)" : "");
	if (r->resteered)
		fprintf(f, ", record rewritten%s", fwd ? " (re-steered)" : "");
	if (r->reason == CG_R_FENCED)
		fprintf(f, ", counted as fenced on %s", unit_name(t, r->unit, a, sizeof(a)));
	fprintf(f, "\n");
}

static json_t *unit_json(const struct cg_tables *t, __u32 id)
{
	char buf[16];

	if (id == CG_UNIT_NONE)
		return json_null();
	return json_string(unit_name(t, id, buf, sizeof(buf)));
}

json_t *cg_explain_json(const struct cg_tables *t, const struct cg_explain_query *q,
			const struct cg_explain_result *r)
{
	char s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN], mac[24];
	const struct cg_service *svc = &r->svc;
	json_t *j = json_object(), *o;

	json_object_set_new(j, "generation", json_integer(r->generation));
	snprintf(s, sizeof(s), "%016llx", (unsigned long long)r->gen_hash);
	json_object_set_new(j, "hash", json_string(s));
	json_object_set_new(j, "bank", json_integer(r->bank));

	addr_str(q->family, q->saddr, s, sizeof(s));
	addr_str(q->family, q->daddr, d, sizeof(d));
	o = json_pack("{s:s, s:s, s:s, s:i, s:s, s:i, s:b, s:b, s:b}", "family",
		      q->family == CG_AF_INET6 ? "ipv6" : "ipv4", "proto", proto_name(q->proto),
		      "src", s, "sport", q->fragment ? 0 : ntohs(q->sport), "dst", d, "dport",
		      q->fragment ? 0 : ntohs(q->dport), "syn", q->syn, "icmp_error", q->icmp_error,
		      "fragment", q->fragment);
	json_object_set_new(o, "key", q->has_key ? json_integer((json_int_t)q->key) : json_null());
	json_object_set_new(j, "packet", o);

	if (r->has_service) {
		addr_str(r->svc_key.family, r->svc_key.addr, s, sizeof(s));
		o = json_pack("{s:s, s:i, s:i, s:s, s:s, s:i, s:s, s:s}", "name", svc->name, "id",
			      (int)svc->id, "index", (int)r->svc_index, "kind",
			      cg_kind_name(svc->kind), "vip", s, "port", ntohs(r->svc_key.port),
			      "proto", proto_name(r->svc_key.proto), "matched",
			      r->wildcard ? "any_port" : "port");
		if (svc->kind == CG_KIND_CORE) {
			json_object_set_new(o, "key_source",
					    json_string(cg_key_source_name(svc->key_source)));
			json_object_set_new(o, "modulo", json_integer(svc->modulo));
			if (svc->key_source == CG_KEY_PAYLOAD)
				json_object_set_new(o, "payload_key",
						    json_pack("{s:i, s:i, s:s}", "offset",
							      svc->key_offset, "size",
							      svc->key_size, "missing",
							      cg_key_missing_name(svc->key_missing)));
		}
		json_object_set_new(o, "pins", json_boolean(svc->flags & CG_SVC_F_PINS));
		json_object_set_new(o, "full_flow_table",
				    json_boolean(svc->flags & CG_SVC_F_FULL_FLOWS));
		json_object_set_new(o, "fragments_l3", json_boolean(svc->flags & CG_SVC_F_FRAG_L3));
		json_object_set_new(j, "service", o);
	} else {
		json_object_set_new(j, "service", json_null());
	}
	if (r->has_service && r->reason != CG_R_FRAGMENT) {
		json_object_set_new(j, "flow_hash", json_integer(r->hash));
		o = json_pack("{s:s}", "how", key_how_name(r->key_how));
		if (r->has_bucket || r->key_how == CG_XK_FLOW || r->key_how == CG_XK_CLIENT ||
		    r->key_how == CG_XK_PAYLOAD || r->key_how == CG_XK_L3 ||
		    r->key_how == CG_XK_MISSING_FLOW)
			json_object_set_new(o, "value", json_integer((json_int_t)r->key));
		if (r->key_oversize)
			json_object_set_new(o, "cut_to_key_size", json_true());
		json_object_set_new(j, "key", o);
	}
	if (r->has_pin) {
		char prefix[INET6_ADDRSTRLEN + 8];

		addr_str(r->pin_family, r->pin_addr, s, sizeof(s));
		snprintf(prefix, sizeof(prefix), "%s/%d", s, r->pin_len);
		json_object_set_new(j, "pin",
				    json_pack("{s:s, s:o, s:b}", "prefix", prefix, "unit",
					      unit_json(t, r->pin_unit), "used", r->pin_used));
	}
	if (r->has_bucket) {
		o = json_pack("{s:i, s:o, s:b, s:b, s:o, s:o, s:i}", "bucket", (int)r->bucket,
			      "owner", unit_json(t, r->bk.owner & CG_OWNER_MASK), "away",
			      !!(r->bk.owner & CG_OWNER_AWAY), "drain",
			      !!(r->bk.owner & CG_OWNER_DRAIN), "unit", unit_json(t, r->bk.unit),
			      "prev_unit", unit_json(t, r->bk.prev_unit), "fence", r->bk.fence);
		json_object_set_new(j, "bucket", o);
	}
	if (r->has_fence) {
		o = json_pack("{s:i, s:s, s:b, s:b, s:b}", "id", r->bk.fence, "action",
			      r->fence.action == CG_FENCE_REJECT ? "reject" : "drop",
			      "until_release", r->fence.deadline_ns == CG_FENCE_FOREVER, "active",
			      r->fence_active, "applies", r->fence_applies);
		if (r->fence.deadline_ns != CG_FENCE_FOREVER)
			json_object_set_new(
				o, "remaining_ms",
				json_real(((double)r->fence.deadline_ns - (double)r->now_ns) /
					  1e6));
		json_object_set_new(j, "fence", o);
	}
	if (r->has_service && r->reason != CG_R_FRAGMENT && r->reason != CG_R_KEY_REJECT) {
		char text[512];

		why_str(t, r, text, sizeof(text));
		o = json_pack("{s:o, s:o, s:s, s:o, s:s}", "name", unit_json(t, r->unit), "choice",
			      unit_json(t, r->choice_unit), "why", why_name(r->why), "about",
			      unit_json(t, r->why_unit), "detail", text);
		if (r->unit < CG_MAX_UNITS)
			json_object_set_new(o, "state",
					    json_string(cg_unit_state_name(t->units[r->unit].state)));
		json_object_set_new(j, "unit", o);
	}
	if (r->has_slot) {
		char text[512];

		json_object_set_new(j, "slot",
				    json_pack("{s:i, s:i, s:o}", "index", (int)r->slot, "endpoint",
					      r->ms.endpoint, "prev_endpoint",
					      r->ms.prev_endpoint == CG_EP_NONE ?
						      json_null() :
						      json_integer(r->ms.prev_endpoint)));
		flow_str(t, r, text, sizeof(text));
		o = json_pack("{s:s, s:b, s:s}", "step", flow_step_name(r->flow_step), "records",
			      r->records, "detail", text);
		if (r->has_flow)
			json_object_set_new(o, "record",
					    json_pack("{s:o, s:i, s:i}", "unit",
						      unit_json(t, r->flow.unit), "endpoint",
						      r->flow.endpoint, "service_id",
						      (int)r->flow.service_id));
		json_object_set_new(j, "flow", o);
	}
	if (r->endpoint != CG_EP_NONE && r->ep.family) {
		char dev[IF_NAMESIZE] = "", hop[INET6_ADDRSTRLEN], osrc[INET6_ADDRSTRLEN];

		if_indextoname(r->ep.ifindex, dev);
		addr_str(r->ep.family, r->ep.daddr, d, sizeof(d));
		addr_str(r->ep.family, r->ep.nexthop, hop, sizeof(hop));
		mac_str(r->ep.dmac, mac, sizeof(mac));
		o = json_pack("{s:i, s:s, s:o, s:s, s:i, s:s, s:s, s:i}", "id", r->endpoint,
			      "address", d, "unit", unit_json(t, r->ep.unit), "dev", dev, "ifindex",
			      (int)r->ep.ifindex, "nexthop", hop, "mac", mac, "mtu", r->ep.mtu);
		json_object_set_new(j, "endpoint", o);
		addr_str(r->ep.family, r->outer_src, osrc, sizeof(osrc));
		o = json_pack("{s:s, s:s, s:s, s:i, s:i}", "family",
			      r->ep.family == CG_AF_INET ? "ipv4" : "ipv6", "src", osrc, "dst", d,
			      "protocol", q->family == CG_AF_INET ? 4 : 41, "ttl", CG_OUTER_TTL);
		if (r->ep.family == CG_AF_INET6)
			json_object_set_new(o, "flow_label", json_integer(r->hash & 0xfffff));
		json_object_set_new(j, "outer", o);
		if (r->egress_known)
			json_object_set_new(j, "egress",
					    json_string(r->xdp_tx     ? "xdp_tx" :
							r->tx_port_ok ? "redirect" :
									"missing_tx_port"));
	}
	{
		struct map_keys k;
		json_t *mk = json_object();

		map_keys(t, r, &k);
		for (int i = 0; i < k.n; i++)
			json_object_set_new(mk, k.name[i], json_integer(k.key[i]));
		json_object_set_new(j, "map_keys", mk);
	}
	json_object_set_new(j, "verdict", json_string(verdict_name(r->verdict)));
	json_object_set_new(j, "reason", json_string(reason_name(r->reason)));
	json_object_set_new(j, "new_flow", json_boolean(r->records));
	json_object_set_new(j, "resteered", json_boolean(r->resteered));
	return j;
}

/* ---- the command ---- */

static int parse_num(const char *opt, const char *s, unsigned long long max,
		     unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 0);
	if (errno || *end || !*s || *s == '-' || *out > max) {
		cg_err("explain: %s: \"%s\" is not a number 0..%llu\n", opt, s, max);
		return -1;
	}
	return 0;
}

static int parse_query_addr(const char *opt, const char *s, __be32 a[4])
{
	memset(a, 0, 16);
	if (inet_pton(AF_INET, s, a) == 1)
		return CG_AF_INET;
	if (inet_pton(AF_INET6, s, a) == 1)
		return CG_AF_INET6;
	cg_err("explain: %s: \"%s\" is not an IPv4 or IPv6 address\n", opt, s);
	return -1;
}

#define EXPLAIN_USAGE                                                                               \
	"usage: cellgate [-i INSTANCE] [-j] explain --src ADDR [--sport N] --dst VIP --dport N\n"   \
	"                --proto tcp|udp [--syn] [--key N] [--icmp-error] [--fragment] [--len N]\n" \
	"  what the live generation does with this packet, and why (from the pinned maps)\n"        \
	"  --key N       the payload routing key the packet carries (payload-keyed services)\n"     \
	"  --icmp-error  an ICMP error quoting a packet of this flow\n"                             \
	"  --fragment    an IP fragment (ports are not read)\n"                                     \
	"  --len N       IP packet length, for the endpoint MTU check\n"

int cg_cmd_explain(const char *instance, bool json, int argc, char **argv)
{
	static const struct option opts[] = { { "src", required_argument, NULL, 's' },
					      { "sport", required_argument, NULL, 'S' },
					      { "dst", required_argument, NULL, 'd' },
					      { "dport", required_argument, NULL, 'D' },
					      { "proto", required_argument, NULL, 'p' },
					      { "syn", no_argument, NULL, 'y' },
					      { "key", required_argument, NULL, 'k' },
					      { "icmp-error", no_argument, NULL, 'I' },
					      { "fragment", no_argument, NULL, 'F' },
					      { "len", required_argument, NULL, 'l' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct cg_explain_query q = {};
	struct cg_explain_result r;
	struct cg_tables *t = NULL;
	struct cg_dp *dp = NULL;
	bool has_sport = false, has_dport = false;
	int c, fam_s = 0, fam_d = 0, err, ret = 1;
	unsigned long long v;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			fam_s = parse_query_addr("--src", optarg, q.saddr);
			if (fam_s < 0)
				return 2;
			break;
		case 'd':
			fam_d = parse_query_addr("--dst", optarg, q.daddr);
			if (fam_d < 0)
				return 2;
			break;
		case 'S':
		case 'D':
			if (parse_num(c == 'S' ? "--sport" : "--dport", optarg, 65535, &v))
				return 2;
			if (c == 'S') {
				q.sport = htons(v);
				has_sport = true;
			} else {
				q.dport = htons(v);
				has_dport = true;
			}
			break;
		case 'p':
			if (!strcmp(optarg, "tcp")) {
				q.proto = IPPROTO_TCP;
			} else if (!strcmp(optarg, "udp")) {
				q.proto = IPPROTO_UDP;
			} else {
				cg_err("explain: --proto: \"%s\" is not tcp or udp\n", optarg);
				return 2;
			}
			break;
		case 'y':
			q.syn = true;
			break;
		case 'k':
			if (parse_num("--key", optarg, UINT64_MAX, &v))
				return 2;
			q.has_key = true;
			q.key = v;
			break;
		case 'I':
			q.icmp_error = true;
			break;
		case 'F':
			q.fragment = true;
			break;
		case 'l':
			if (parse_num("--len", optarg, 65535, &v))
				return 2;
			q.ip_len = v;
			break;
		case 'h':
			fputs(EXPLAIN_USAGE, stdout);
			return 0;
		default:
			fputs(EXPLAIN_USAGE, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cg_err("explain: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	if (!fam_s || !fam_d || !q.proto || (!has_dport && !q.fragment)) {
		cg_err("explain: --src, --dst, --proto and --dport are required (--dport may be left out with --fragment); see cellgate explain -h\n");
		return 2;
	}
	if (fam_s != fam_d) {
		cg_err("explain: --src and --dst must be of one family\n");
		return 2;
	}
	if (q.syn && q.proto != IPPROTO_TCP) {
		cg_err("explain: --syn is for TCP; a UDP flow is new by its service's udp_new_flow\n");
		return 2;
	}
	if (q.icmp_error && q.fragment) {
		cg_err("explain: --icmp-error and --fragment: an ICMP error quoting a fragment is passed by the parser; give one\n");
		return 2;
	}
	q.family = fam_s;

	if (cg_dp_open_pinned(instance, &dp))
		return 1;
	err = cg_tables_alloc(&t, dp->bucket_slots);
	if (!err)
		err = cg_dp_read_active(dp, t);
	if (!err)
		err = cg_explain(dp, t, &q, &r);
	if (err) {
		cg_err("explain: cannot read the live tables of \"%s\": %s\n", instance,
		       cg_strerror(err));
		goto out;
	}
	if (r.key_oversize) {
		cg_err("explain: --key %llu does not fit the %u-byte payload key of service \"%s\" (at most %llu)\n",
		       (unsigned long long)q.key, r.svc.key_size, r.svc.name,
		       (1ull << (8 * r.svc.key_size)) - 1);
		ret = 2;
		goto out;
	}
	if (json) {
		json_t *j = json_pack("{s:s}", "instance", instance),
		       *body = cg_explain_json(t, &q, &r);
		char *s;

		json_object_update(j, body);
		json_decref(body);
		if (!has_sport && !q.fragment)
			json_object_set_new(j, "note",
					    json_string("--sport not given: port 0 assumed"));
		s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		if (s)
			puts(s);
		free(s);
		json_decref(j);
	} else {
		if (!has_sport && !q.fragment)
			printf("note: --sport not given, 0 assumed (the flow hash, and with it the endpoint and outer source, depend on it)\n");
		cg_explain_print(stdout, t, &q, &r);
	}
	ret = 0;
out:
	cg_tables_free(t);
	cg_dp_close(dp);
	return ret;
}
