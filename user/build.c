// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The table builder: config -> one bank's worth of tables, with ids kept
 * stable across generations, and the bucket reassignment that evacuation
 * and restore use. Pure functions of their inputs, so every gateway given
 * the same config and states builds byte-identical tables.
 */
#define _GNU_SOURCE /* qsort_r */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "cg_hash.h"
#include "log.h"
#include "maglev.h"
#include "neigh.h"
#include "tables.h"

int cg_tables_alloc(struct cg_tables **out, __u32 bucket_slots)
{
	struct cg_tables *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->bucket_slots = bucket_slots;
	t->buckets = calloc(bucket_slots, sizeof(*t->buckets));
	t->maglev = calloc((size_t)CG_MAX_UNITS * CG_MAGLEV_SIZE, sizeof(*t->maglev));
	if (!t->buckets || !t->maglev) {
		cg_tables_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

void cg_tables_free(struct cg_tables *t)
{
	if (!t)
		return;
	free(t->buckets);
	free(t->maglev);
	free(t);
}

/* ---- stable ids ---- */

static int find_unit(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED && !strncmp(t->units[i].name, name, CG_NAME_LEN))
			return i;
	return -1;
}

/* Lowest id free in both the live tables and what we assigned so far. */
static int alloc_id(const bool *taken_cur, bool *taken_new, int max)
{
	for (int i = 0; i < max; i++)
		if (!taken_cur[i] && !taken_new[i]) {
			taken_new[i] = true;
			return i;
		}
	for (int i = 0; i < max; i++) /* reuse an id the live generation drops */
		if (!taken_new[i]) {
			taken_new[i] = true;
			return i;
		}
	return -1;
}

static int find_service(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < t->n_services; i++)
		if (!strncmp(t->services[i].name, name, CG_NAME_LEN))
			return t->services[i].id;
	return -1;
}

static int find_endpoint(const struct cg_tables *t, int unit, int family, const __be32 *addr)
{
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		const struct cg_endpoint *ep = &t->endpoints[i];

		if (ep->family == family && ep->unit == unit &&
		    !memcmp(ep->daddr, addr, family == CG_AF_INET ? 4 : 16))
			return i;
	}
	return -1;
}

/* ---- endpoints ---- */

/* The egress interface's MAC, looked up once per build and interface: a
 * netlink round trip per endpoint dominated building 4096 of them. */
struct link_cache {
	int ifindex;
	__u8 mac[6];
};

static int resolve_endpoint(const struct cg_cfg_endpoint *ce, int default_ifindex,
			    struct cg_endpoint *ep, const char *path, struct link_cache *lc,
			    struct cg_errors *errs)
{
	char dev[IF_NAMESIZE] = "";
	char hop[INET6_ADDRSTRLEN];
	int ifindex = default_ifindex, err;

	if (ce->dev[0]) {
		ifindex = if_nametoindex(ce->dev);
		if (!ifindex) {
			cg_errors_add(errs, "%s.dev: no interface \"%s\" here", path, ce->dev);
			return -1;
		}
	} else {
		ep->flags |= CG_EP_F_XDP_TX;
	}
	if (ifindex <= 0) {
		cg_errors_add(errs, "%s.dev: not given and the gateway interface is unknown", path);
		return -1;
	}
	ep->ifindex = ifindex;
	if_indextoname(ifindex, dev);

	if (lc->ifindex == ifindex) {
		memcpy(ep->smac, lc->mac, 6);
		err = 0;
	} else {
		err = cg_link_mac(ifindex, ep->smac);
		if (!err) {
			lc->ifindex = ifindex;
			memcpy(lc->mac, ep->smac, 6);
		}
	}
	if (err) {
		cg_errors_add(errs, "%s: cannot read the MAC of %s: %s", path, dev, strerror(-err));
		return -1;
	}
	memcpy(ep->nexthop, ce->has_via ? ce->via : ce->addr, sizeof(ep->nexthop));
	if (ce->has_mac) {
		memcpy(ep->dmac, ce->mac, 6);
		return 0;
	}
	ep->flags |= CG_EP_F_NEIGH;
	err = cg_neigh_mac(ifindex, ce->family, ep->nexthop, ep->dmac);
	if (err) {
		inet_ntop(ce->family == CG_AF_INET ? AF_INET : AF_INET6,
			  ce->has_via ? ce->via : ce->addr, hop, sizeof(hop));
		cg_errors_add(errs,
			      "%s: no neighbour entry for next hop %s on %s; give \"mac\", or make the next hop reachable first (e.g. ping it)",
			      path, hop, dev);
		return -1;
	}
	return 0;
}


static void build_maglev(struct cg_tables *t, int unit, __u32 seed)
{
	struct cg_maglev_member m[CG_MAX_ENDPOINTS];
	char names[64][CG_NAME_LEN + 48];
	char (*heap)[CG_NAME_LEN + 48] = NULL;
	char (*nm)[CG_NAME_LEN + 48] = names;
	struct cg_maglev_slot *slots = t->maglev + (size_t)unit * CG_MAGLEV_SIZE;
	__u16 table[CG_MAGLEV_SIZE];
	int n = 0;

	if (t->units[unit].n_endpoints > 64) {
		heap = calloc(t->units[unit].n_endpoints, sizeof(*heap));
		if (!heap)
			return;
		nm = heap;
	}
	for (int i = 0; i < CG_MAX_ENDPOINTS && n < t->units[unit].n_endpoints; i++) {
		const struct cg_endpoint *ep = &t->endpoints[i];
		char addr[INET6_ADDRSTRLEN];

		if (ep->family == CG_AF_NONE || ep->unit != unit)
			continue;
		inet_ntop(ep->family == CG_AF_INET ? AF_INET : AF_INET6, ep->daddr, addr,
			  sizeof(addr));
		/* unit name + address: the same on every gateway, unlike ids */
		snprintf(nm[n], sizeof(nm[n]), "%s/%s", t->units[unit].name, addr);
		m[n].id = i;
		m[n].weight = ep->weight;
		m[n].name = nm[n];
		n++;
	}
	cg_maglev_fill(m, n, seed, table, CG_MAGLEV_SIZE);
	for (int s = 0; s < CG_MAGLEV_SIZE; s++) {
		slots[s].endpoint = table[s];
		slots[s].prev_endpoint = CG_EP_NONE;
		slots[s].pad = 0;
	}
	free(heap);
}

/* ---- services ---- */

static int cmp_service(const void *a, const void *b, void *arg)
{
	const struct cg_tables *t = arg;
	const struct cg_service_key *ka = &t->svc_keys[*(const int *)a];
	const struct cg_service_key *kb = &t->svc_keys[*(const int *)b];

	return memcmp(ka, kb, sizeof(*ka));
}

static int svc_index_put(struct cg_tables *t, const struct cg_service_key *k, __u32 service)
{
	__u32 home = cg_hash_service(k->addr, k->port, k->proto, k->family);

	for (int p = 0; p < CG_SVC_PROBES; p++) {
		struct cg_svc_slot *s = &t->svc_index[(home + p) & (CG_SVC_SLOTS - 1)];

		if (s->key.family == CG_AF_NONE) {
			s->key = *k;
			s->service = service;
			return 0;
		}
		if (!memcmp(&s->key, k, sizeof(*k)))
			return 0; /* a VIP marker already there */
	}
	return -1;
}

/* The open-addressing index the dataplane probes (bpf/steer.h), with one
 * marker per VIP for fragment accounting. */
static int build_svc_index(struct cg_tables *t, struct cg_errors *errs)
{
	memset(t->svc_index, 0, sizeof(t->svc_index));
	for (int i = 0; i < t->n_services; i++) {
		struct cg_service_key vip = { .family = t->svc_keys[i].family };

		memcpy(vip.addr, t->svc_keys[i].addr, sizeof(vip.addr));
		if (svc_index_put(t, &t->svc_keys[i], i) || svc_index_put(t, &vip, CG_SVC_VIP)) {
			cg_errors_add(errs, "services \"%s\": service index too crowded (%d services); rebuild with a larger CG_SVC_SLOTS",
				      t->services[i].name, t->n_services);
			return -1;
		}
	}
	return 0;
}

/* Services sorted by key, so the index and the hash do not depend on the
 * order of the config file. */
static void sort_services(struct cg_tables *t)
{
	static struct cg_service_key keys[CG_MAX_SERVICES];
	static struct cg_service svcs[CG_MAX_SERVICES];
	int order[CG_MAX_SERVICES];

	for (int i = 0; i < t->n_services; i++)
		order[i] = i;
	qsort_r(order, t->n_services, sizeof(order[0]), cmp_service, t);
	for (int i = 0; i < t->n_services; i++) {
		keys[i] = t->svc_keys[order[i]];
		svcs[i] = t->services[order[i]];
	}
	memcpy(t->svc_keys, keys, sizeof(keys[0]) * t->n_services);
	memcpy(t->services, svcs, sizeof(svcs[0]) * t->n_services);
}

/* Stable name hash, so canary picks do not depend on ids or file order. */
static __u32 name_hash(const char *s, __u32 seed)
{
	__u32 h = seed ^ 0x63616e61U;

	for (; *s; s++)
		h = cg_hash_step(h, (unsigned char)*s);
	return cg_mix32(h);
}

__u32 cg_name_hash(const char *name, __u32 seed)
{
	return name_hash(name, seed);
}

/* Which buckets a canary takes: a seeded hash of (service, bucket) below
 * the share, so the canary takes evenly from every owner. */
bool cg_canary_bucket(const char *service, __u32 seed, __u32 bucket, __u32 bp)
{
	return cg_mix32(name_hash(service, seed) ^ bucket) % 10000 < bp;
}

static void apply_canary(struct cg_tables *t, const struct cg_cfg_service *cs, __u32 base,
			 __u16 unit, __u32 seed)
{
	for (__u32 b = 0; b < cs->modulo; b++) {
		if (!cg_canary_bucket(cs->name, seed, b, cs->canary_bp))
			continue;
		t->buckets[base + b].owner = unit | CG_OWNER_CANARY;
		t->buckets[base + b].unit = unit;
	}
}

static int add_pins(struct cg_tables *t, const struct cg_cfg_service *cs, __u32 svc_id,
		    const int *unit_id, struct cg_errors *errs)
{
	for (int i = 0; i < cs->n_pins; i++) {
		const struct cg_cfg_pin *pin = &cs->pins[i];

		if (pin->family == CG_AF_INET) {
			struct cg_pin4_key *k = &t->pins4[t->n_pins4];

			if (t->n_pins4 >= CG_MAX_PINS)
				goto full;
			memset(k, 0, sizeof(*k));
			k->prefixlen = 32 + pin->prefix_len;
			k->service = htons(svc_id);
			k->addr = pin->addr[0];
			t->pins4_val[t->n_pins4].unit = unit_id[pin->unit];
			t->n_pins4++;
		} else {
			struct cg_pin6_key *k = &t->pins6[t->n_pins6];

			if (t->n_pins6 >= CG_MAX_PINS)
				goto full;
			memset(k, 0, sizeof(*k));
			k->prefixlen = 32 + pin->prefix_len;
			k->service = htons(svc_id);
			memcpy(k->addr, pin->addr, 16);
			t->pins6_val[t->n_pins6].unit = unit_id[pin->unit];
			t->n_pins6++;
		}
	}
	return 0;
full:
	cg_errors_add(errs, "services \"%s\".pins: more than %d pins per address family in all",
		      cs->name, CG_MAX_PINS);
	return -1;
}

/* Pins sorted by key: the order the read-back sees. */
static int cmp_pin4k(const void *a, const void *b, void *arg)
{
	const struct cg_tables *t = arg;

	return memcmp(&t->pins4[*(const int *)a], &t->pins4[*(const int *)b], sizeof(t->pins4[0]));
}

static int cmp_pin6k(const void *a, const void *b, void *arg)
{
	const struct cg_tables *t = arg;

	return memcmp(&t->pins6[*(const int *)a], &t->pins6[*(const int *)b], sizeof(t->pins6[0]));
}

static void sort_pins(struct cg_tables *t)
{
	static struct cg_pin4_key k4[CG_MAX_PINS];
	static struct cg_pin6_key k6[CG_MAX_PINS];
	static struct cg_pin v[CG_MAX_PINS];
	static int order[CG_MAX_PINS];

	for (int i = 0; i < t->n_pins4; i++)
		order[i] = i;
	qsort_r(order, t->n_pins4, sizeof(order[0]), cmp_pin4k, t);
	for (int i = 0; i < t->n_pins4; i++) {
		k4[i] = t->pins4[order[i]];
		v[i] = t->pins4_val[order[i]];
	}
	memcpy(t->pins4, k4, sizeof(k4[0]) * t->n_pins4);
	memcpy(t->pins4_val, v, sizeof(v[0]) * t->n_pins4);
	for (int i = 0; i < t->n_pins6; i++)
		order[i] = i;
	qsort_r(order, t->n_pins6, sizeof(order[0]), cmp_pin6k, t);
	for (int i = 0; i < t->n_pins6; i++) {
		k6[i] = t->pins6[order[i]];
		v[i] = t->pins6_val[order[i]];
	}
	memcpy(t->pins6, k6, sizeof(k6[0]) * t->n_pins6);
	memcpy(t->pins6_val, v, sizeof(v[0]) * t->n_pins6);
}

static void set_sources(const struct cg_config *cfg, struct cg_gen *g)
{
	if (cfg->has_src4) {
		__u32 host = cfg->src4_len >= 32 ? 0 : 0xffffffffu >> cfg->src4_len;

		g->src4_hostmask = htonl(host);
		g->src4 = cfg->src4 & ~g->src4_hostmask;
	}
	if (cfg->has_src6) {
		int bits = cfg->src6_len - 96; /* prefix bits within the last word */
		__u32 host = bits >= 32 ? 0 : 0xffffffffu >> bits;

		memcpy(g->src6, cfg->src6, 16);
		g->src6_hostmask = htonl(host);
		g->src6[3] &= ~g->src6_hostmask;
	}
}

/*
 * An apply must not undo what operators did on the live generation: a
 * bucket whose owner is unchanged keeps its partial-evacuation marks and
 * its fence, and, once placed, its handover from a previous owner.
 */
static const struct cg_service *cur_service(const struct cg_tables *cur, const struct cg_service *svc)
{
	for (int i = 0; i < cur->n_services; i++)
		if (!strncmp(cur->services[i].name, svc->name, CG_NAME_LEN) &&
		    cur->services[i].kind == CG_KIND_CORE && cur->services[i].modulo == svc->modulo)
			return &cur->services[i];
	return NULL;
}

static void carry_marks(struct cg_tables *out, const struct cg_tables *cur)
{
	memcpy(out->fences, cur->fences, sizeof(out->fences));
	for (int i = 0; i < out->n_services; i++) {
		const struct cg_service *svc = &out->services[i], *old;

		if (svc->kind != CG_KIND_CORE || !(old = cur_service(cur, svc)))
			continue;
		for (__u32 b = 0; b < svc->modulo; b++) {
			struct cg_bucket *nb = &out->buckets[svc->bucket_base + b];
			const struct cg_bucket *ob = &cur->buckets[old->bucket_base + b];

			if ((ob->owner & CG_OWNER_MASK) != (nb->owner & CG_OWNER_MASK))
				continue;
			nb->owner |= ob->owner & (CG_OWNER_AWAY | CG_OWNER_DRAIN);
			nb->fence = ob->fence;
		}
	}
}

static void carry_transitions(struct cg_tables *out, const struct cg_tables *cur)
{
	for (int i = 0; i < out->n_services; i++) {
		const struct cg_service *svc = &out->services[i], *old;

		if (svc->kind != CG_KIND_CORE || !(old = cur_service(cur, svc)))
			continue;
		for (__u32 b = 0; b < svc->modulo; b++) {
			struct cg_bucket *nb = &out->buckets[svc->bucket_base + b];
			const struct cg_bucket *ob = &cur->buckets[old->bucket_base + b];

			if (nb->unit == ob->unit && nb->prev_unit == CG_UNIT_NONE &&
			    ob->prev_unit < CG_MAX_UNITS && out->units[ob->prev_unit].state != CG_UNIT_UNUSED)
				nb->prev_unit = ob->prev_unit;
		}
	}
}

static int cmp_cfg_service_name(const void *a, const void *b, void *arg)
{
	const struct cg_config *cfg = arg;

	return strcmp(cfg->services[*(const int *)a].name, cfg->services[*(const int *)b].name);
}

int cg_build_tables(const struct cg_config *cfg, const struct cg_tables *cur, int default_ifindex,
		    struct cg_tables *out, struct cg_errors *errs)
{
	bool unit_cur[CG_MAX_UNITS] = {}, unit_new[CG_MAX_UNITS] = {};
	bool svc_cur[CG_MAX_SERVICES] = {}, svc_new[CG_MAX_SERVICES] = {};
	static bool ep_cur[CG_MAX_ENDPOINTS], ep_new[CG_MAX_ENDPOINTS];
	int unit_id[CG_MAX_UNITS], svc_order[CG_MAX_SERVICES];
	struct link_cache lc = {};
	__u32 base = 0;
	int nerr = errs->n;

	memset(&out->gen, 0, sizeof(out->gen));
	memset(out->units, 0, sizeof(out->units));
	memset(out->endpoints, 0, sizeof(out->endpoints));
	/* buckets and Maglev slots are written for every service and unit in
	 * use; the rest of those tables is never read */
	memset(ep_cur, 0, sizeof(ep_cur));
	memset(ep_new, 0, sizeof(ep_new));
	out->n_services = 0;
	out->buckets_used = 0;
	out->n_pins4 = out->n_pins6 = 0;
	memset(out->fences, 0, sizeof(out->fences));
	out->gen.seed = cfg->seed;
	set_sources(cfg, &out->gen);

	if (cur && cur->gen.generation) {
		for (int i = 0; i < CG_MAX_UNITS; i++)
			unit_cur[i] = cur->units[i].state != CG_UNIT_UNUSED;
		for (int i = 0; i < cur->n_services; i++)
			svc_cur[cur->services[i].id % CG_MAX_SERVICES] = true;
		for (int i = 0; i < CG_MAX_ENDPOINTS; i++)
			ep_cur[i] = cur->endpoints[i].family != CG_AF_NONE;
	} else {
		cur = NULL;
	}

	/* units: keep the id (and evacuated/draining state) of a known name */
	for (int u = 0; u < cfg->n_units; u++) {
		int id = cur ? find_unit(cur, cfg->units[u].name) : -1;

		if (id >= 0)
			unit_new[id] = true;
		unit_id[u] = id;
	}
	for (int u = 0; u < cfg->n_units; u++) {
		const struct cg_cfg_unit *cu = &cfg->units[u];
		struct cg_unit *tu;

		if (unit_id[u] < 0)
			unit_id[u] = alloc_id(unit_cur, unit_new, CG_MAX_UNITS);
		tu = &out->units[unit_id[u]];
		tu->state = cur && unit_cur[unit_id[u]] ? cur->units[unit_id[u]].state :
							  CG_UNIT_SERVING;
		/* CG_UNIT_F_MANUAL stays with the state it explains */
		tu->flags = cur && unit_cur[unit_id[u]] ? cur->units[unit_id[u]].flags : 0;
		tu->hold_until_ns = cur && unit_cur[unit_id[u]] ? cur->units[unit_id[u]].hold_until_ns : 0;
		tu->role = cu->role;
		tu->weight = cu->weight ? cu->weight : 1;
		tu->standby = CG_UNIT_NONE;
		snprintf(tu->name, sizeof(tu->name), "%s", cu->name);
	}
	for (int u = 0; u < cfg->n_units; u++)
		if (cfg->units[u].standby >= 0)
			out->units[unit_id[u]].standby = unit_id[cfg->units[u].standby];

	/* endpoints: id kept by (unit, address) so per-endpoint counters stay */
	for (int pass = 0; pass < 2; pass++) {
		for (int u = 0; u < cfg->n_units; u++) {
			const struct cg_cfg_unit *cu = &cfg->units[u];

			for (int e = 0; e < cu->n_endpoints; e++) {
				const struct cg_cfg_endpoint *ce = &cu->endpoints[e];
				int id = cur ? find_endpoint(cur, unit_id[u], ce->family, ce->addr) : -1;
				struct cg_endpoint *ep;
				char path[64];

				if (pass == 0) { /* reserve known ids first */
					if (id >= 0)
						ep_new[id] = true;
					continue;
				}
				if (id < 0)
					id = alloc_id(ep_cur, ep_new, CG_MAX_ENDPOINTS);
				if (id < 0) {
					cg_errors_add(errs, "units[%d].endpoints: more than %d endpoints", u,
						      CG_MAX_ENDPOINTS);
					return -1;
				}
				ep = &out->endpoints[id];
				ep->unit = unit_id[u];
				ep->family = ce->family;
				ep->weight = ce->weight ? ce->weight : 1;
				ep->mtu = ce->mtu;
				memcpy(ep->daddr, ce->addr, 16);
				snprintf(path, sizeof(path), "units[%d].endpoints[%d]", u, e);
				if (resolve_endpoint(ce, default_ifindex, ep, path, &lc, errs))
					continue;
				if ((ce->family == CG_AF_INET && !cfg->has_src4) ||
				    (ce->family == CG_AF_INET6 && !cfg->has_src6))
					cg_errors_add(errs, "%s: no encap source prefix for its family",
						      path);
				out->units[unit_id[u]].n_endpoints++;
			}
		}
	}
	if (errs->n > nerr)
		return -1;
	for (int u = 0; u < cfg->n_units; u++)
		build_maglev(out, unit_id[u], cfg->seed);

	/* services: ids by name; buckets laid out back to back in config order */
	/* new ids and bucket bases in name order: the same set of services
	 * gives the same tables whatever order the file lists them in */
	for (int k = 0; k < cfg->n_services; k++)
		svc_order[k] = k;
	qsort_r(svc_order, cfg->n_services, sizeof(svc_order[0]), cmp_cfg_service_name, (void *)cfg);
	for (int s = 0; s < cfg->n_services; s++) {
		int id = cur ? find_service(cur, cfg->services[s].name) : -1;

		if (id >= 0 && id < CG_MAX_SERVICES)
			svc_new[id] = true;
	}
	for (int k = 0; k < cfg->n_services; k++) {
		int s = svc_order[k];
		const struct cg_cfg_service *cs = &cfg->services[s];
		struct cg_service_key *k = &out->svc_keys[s];
		struct cg_service *v = &out->services[s];
		int id = cur ? find_service(cur, cs->name) : -1;

		if (id < 0 || id >= CG_MAX_SERVICES)
			id = alloc_id(svc_cur, svc_new, CG_MAX_SERVICES);
		memset(k, 0, sizeof(*k));
		memset(v, 0, sizeof(*v));
		k->family = cs->family;
		k->proto = cs->proto;
		k->port = htons(cs->port);
		memcpy(k->addr, cs->vip, 16);
		v->id = id;
		v->kind = cs->kind;
		v->key_source = cs->key_source;
		v->key_size = cs->key_size;
		v->key_offset = cs->key_offset;
		v->key_missing = cs->key_missing;
		v->flags = cs->flags;
		v->central_unit = cfg->central_unit >= 0 ? unit_id[cfg->central_unit] : CG_UNIT_NONE;
		v->local_unit = cfg->local_unit >= 0 ? unit_id[cfg->local_unit] : CG_UNIT_NONE;
		snprintf(v->name, sizeof(v->name), "%s", cs->name);
		if (cs->kind == CG_KIND_CORE) {
			if ((__u64)base + cs->modulo > out->bucket_slots) {
				cg_errors_add(errs,
					      "services[%d]: bucket tables need more than the %u entries this instance has (load with a larger --buckets)",
					      s, out->bucket_slots);
				return -1;
			}
			v->bucket_base = base;
			v->modulo = cs->modulo;
			memset(&out->buckets[base], 0, cs->modulo * sizeof(*out->buckets));
			for (int r = 0; r < cs->n_rules; r++) {
				const struct cg_cfg_rule *rule = &cs->rules[r];

				for (__u32 b = rule->first; b <= rule->last && b < cs->modulo; b++) {
					struct cg_bucket *bk = &out->buckets[base + b];

					bk->owner = unit_id[rule->unit];
					bk->unit = bk->owner;
					bk->prev_unit = CG_UNIT_NONE;
				}
			}
			if (cs->canary_unit >= 0 && cs->canary_bp)
				apply_canary(out, cs, base, unit_id[cs->canary_unit], cfg->seed);
			if (cs->n_pins && add_pins(out, cs, id, unit_id, errs))
				return -1;
			if (cs->n_pins)
				v->flags |= CG_SVC_F_PINS;
			base += cs->modulo;
		}
		out->n_services++;
	}
	out->buckets_used = base;
	sort_services(out);
	sort_pins(out);
	if (build_svc_index(out, errs))
		return -1;
	if (cur)
		carry_marks(out, cur);
	if (cg_tables_reassign(out, errs))
		return -1;
	if (cur)
		carry_transitions(out, cur);
	return 0;
}

/* ---- evacuation ---- */

/*
 * Where an unavailable owner's bucket goes: weighted rendezvous hashing
 * over the serving units, so a bucket keeps its stand-in when some other
 * unit fails too, and shares follow capacity weights.
 */
/* Names, not ids, feed every hash that places buckets: ids depend on a
 * gateway's apply history, names do not, so a fleet spreads alike. */
/* The units an evacuated bucket may go to, listed once per reassignment. */
struct cg_spread {
	int n;
	int unit[CG_MAX_UNITS]; /* serving units, in id order */
	__u32 hash[CG_MAX_UNITS]; /* cg_name_hash of each */
	bool equal_weights;
};

static int spread_target(const struct cg_tables *t, const struct cg_spread *sp, __u32 service_hash,
			 __u32 bucket, int exclude)
{
	double best = -1.0;
	__u32 best_h = 0;
	int target = -1;

	for (int i = 0; i < sp->n; i++) {
		int u = sp->unit[i];
		__u32 h;
		double x, score;

		if (u == exclude)
			continue;
		h = cg_mix32(cg_hash_step(service_hash ^ bucket, sp->hash[i]));
		if (sp->equal_weights) {
			/* -w/log(x) grows with x for one w: the largest hash wins,
			 * and log() was most of an evacuation's build time */
			if (target < 0 || h > best_h) {
				best_h = h;
				target = u;
			}
			continue;
		}
		x = ((double)h + 1.0) / 4294967297.0; /* (0, 1) */
		score = -(double)(t->units[u].weight ? t->units[u].weight : 1) / log(x);
		if (score > best) {
			best = score;
			target = u;
		}
	}
	return target;
}

int cg_tables_reassign(struct cg_tables *t, struct cg_errors *errs)
{
	struct cg_spread sp = { .equal_weights = true };
	__u32 svc_hash, w0 = 0;

	for (int u = 0; u < CG_MAX_UNITS; u++) {
		__u32 w = t->units[u].weight ? t->units[u].weight : 1;

		if (t->units[u].state != CG_UNIT_SERVING)
			continue;
		sp.unit[sp.n] = u;
		sp.hash[sp.n++] = name_hash(t->units[u].name, t->gen.seed);
		sp.equal_weights &= !w0 || w == w0;
		w0 = w;
	}
	for (int s = 0; s < t->n_services; s++) {
		const struct cg_service *svc = &t->services[s];

		if (svc->kind != CG_KIND_CORE)
			continue;
		svc_hash = name_hash(svc->name, t->gen.seed);
		for (__u32 b = 0; b < svc->modulo; b++) {
			struct cg_bucket *bk = &t->buckets[svc->bucket_base + b];
			__u16 owner_id = bk->owner & CG_OWNER_MASK;
			bool away = bk->owner & CG_OWNER_AWAY;
			bool drain = bk->owner & CG_OWNER_DRAIN;
			const struct cg_unit *owner;
			int target;

			if (owner_id >= CG_MAX_UNITS) {
				bk->unit = CG_UNIT_NONE;
				continue;
			}
			owner = &t->units[owner_id];
			if (owner->state == CG_UNIT_SERVING && !away) {
				/* a previous owner handing back established flows
				 * (restore with a handover) keeps them for its hold */
				if (bk->unit != owner_id || bk->prev_unit == owner_id)
					bk->prev_unit = CG_UNIT_NONE;
				bk->unit = owner_id;
				continue;
			}
			/* the owner itself may still serve (a partial move): never it */
			if (owner->standby < CG_MAX_UNITS && owner->standby != owner_id &&
			    t->units[owner->standby].state == CG_UNIT_SERVING)
				target = owner->standby;
			else
				target = spread_target(t, &sp, svc_hash, b, owner_id);
			if (target < 0) {
				cg_errors_add(errs,
					      "services \"%s\": no serving unit left for the buckets of %s",
					      svc->name, owner->name);
				return -1;
			}
			bk->unit = target;
			/* a draining owner keeps its established flows */
			bk->prev_unit = owner->state == CG_UNIT_DRAINING || (away && drain) ? owner_id :
											 CG_UNIT_NONE;
		}
	}
	return 0;
}

/* ---- content hash ---- */

static __u64 hash_bytes(__u64 h, const void *p, size_t len)
{
	const unsigned char *b = p;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		__u64 w;

		memcpy(&w, b + i, 8);
		h = (h ^ w) * 0x100000001b3ull;
		h ^= h >> 29;
	}
	for (; i < len; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

__u64 cg_bank_hash(const struct cg_bank_view *v)
{
	struct cg_gen g = {};
	__u64 h = 0xcbf29ce484222325ull;

	/* configuration fields only: not bank, generation, hash or time */
	g.seed = v->gen->seed;
	g.src4 = v->gen->src4;
	g.src4_hostmask = v->gen->src4_hostmask;
	memcpy(g.src6, v->gen->src6, sizeof(g.src6));
	g.src6_hostmask = v->gen->src6_hostmask;
	g.flags = v->gen->flags;
	h = hash_bytes(h, &g, sizeof(g));
	for (int i = 0; i < v->n_services; i++) {
		h = hash_bytes(h, &v->svc_keys[i], sizeof(v->svc_keys[i]));
		h = hash_bytes(h, &v->services[i], sizeof(v->services[i]));
	}
	h = hash_bytes(h, v->buckets, (size_t)v->buckets_used * sizeof(*v->buckets));
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		struct cg_unit un = v->units[u];

		un.hold_until_ns = !!un.hold_until_ns; /* this host's clock, like fences */
		h = hash_bytes(h, &un, sizeof(un));
	}
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		struct cg_endpoint ep = v->endpoints[i];

		ep.ifindex = 0;
		ep.flags = 0;
		memset(ep.dmac, 0, sizeof(ep.dmac));
		memset(ep.smac, 0, sizeof(ep.smac));
		h = hash_bytes(h, &ep, sizeof(ep));
	}
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (v->units[u].state != CG_UNIT_UNUSED)
			h = hash_bytes(h, v->maglev + (size_t)u * CG_MAGLEV_SIZE,
				       CG_MAGLEV_SIZE * sizeof(*v->maglev));
	for (int i = 1; v->fences && i < CG_MAX_FENCES; i++) {
		struct cg_fence f = v->fences[i];

		f.deadline_ns = !!f.deadline_ns; /* deadlines are this host's clock */
		h = hash_bytes(h, &f, sizeof(f));
	}
	h = hash_bytes(h, v->pins4, (size_t)v->n_pins4 * sizeof(*v->pins4));
	h = hash_bytes(h, v->pins4_val, (size_t)v->n_pins4 * sizeof(*v->pins4_val));
	h = hash_bytes(h, v->pins6, (size_t)v->n_pins6 * sizeof(*v->pins6));
	h = hash_bytes(h, v->pins6_val, (size_t)v->n_pins6 * sizeof(*v->pins6_val));
	return h ^ (h >> 32);
}

__u64 cg_tables_hash(const struct cg_tables *t)
{
	struct cg_bank_view v = {
		.gen = &t->gen,
		.n_services = t->n_services,
		.svc_keys = t->svc_keys,
		.services = t->services,
		.buckets = t->buckets,
		.buckets_used = t->buckets_used,
		.units = t->units,
		.endpoints = t->endpoints,
		.maglev = t->maglev,
		.fences = t->fences,
		.n_pins4 = t->n_pins4,
		.pins4 = t->pins4,
		.pins4_val = t->pins4_val,
		.n_pins6 = t->n_pins6,
		.pins6 = t->pins6,
		.pins6_val = t->pins6_val,
	};

	return cg_bank_hash(&v);
}
