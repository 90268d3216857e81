// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Property tests of the table builder (user/build.c, user/maglev.c) and of
 * the evacuation logic (cg_tables_reassign, and user/ops.c on a loaded
 * steering object when run as root), over random configurations:
 *
 *  - a single-unit evacuation or drain (whole unit, one service, a bucket
 *    range, a percentage) never moves a bucket of a unit not involved,
 *    never leaves an evacuated bucket on the evacuated unit (nor on any
 *    unit that does not serve), sends them to the standby when it serves
 *    and otherwise spreads them in proportion to capacity weights;
 *    restoring gives back every bucket, byte for byte;
 *  - ratios are met within one bucket, rules exactly;
 *  - Maglev tables fill every slot, share slots by weight, and move at
 *    most 1/N + 1 % of a unit's slots when one of N endpoints is added or
 *    removed (N = 2..64), also through the builder;
 *  - identical input gives byte-identical tables (into tables full of
 *    garbage, too), re-applying a config to its own generation changes
 *    nothing, and the content hash does not depend on the order of the
 *    services in the file.
 *
 * Configs are JSON text from a seeded PRNG, parsed by the real parser.
 * The seed (1 unless CG_TEST_SEED=N, or CG_TEST_SEED=random for a fresh
 * one) is printed first and in every failure; CG_TEST_CONFIGS=N changes
 * the number of configs (default 250).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cellgate.h"
#include "cg_hash.h"
#include "config.h"
#include "maglev.h"
#include "ops.h"
#include "tables.h"
#include "steer.skel.h"
#include "testlib.h"

#define PROG "test_builder"
#define IFINDEX_LO 1 /* endpoints without "dev": lo (its MAC is read, nothing is sent) */
#define MAX_SVCS 8
#define SLOTS (MAX_SVCS * CG_MAX_MODULO) /* bucket entries: every config fits */
#define OPS_CONFIGS 40 /* configs also run through user/ops.c (root) */

/* ---- PRNG: splitmix64, so a seed names a run ---- */
static __u64 run_seed;

static __u64 rnd_state;
static __u64 rnd(void)
{
	__u64 z = (rnd_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static __u32 rnd_in(__u32 lo, __u32 hi) /* inclusive */
{
	return lo + (__u32)(rnd() % ((__u64)hi - lo + 1));
}

/* ---- one property = one result line, over all configs ---- */
struct prop {
	const char *name;
	int checked; /* configs (or tables) it was checked on */
	int failed;
	char first[768]; /* the first failure, with its config */
	double worst; /* bounded quantities: the largest excess seen ... */
	char worst_at[256]; /* ... and where */
	double excess_sum; /* prop_bound: sum of excesses over 1/N, for the mean */
	int excess_n;
};

enum {
	P_RATIOS,
	P_RULES,
	P_EVAC_UNMOVED,
	P_EVAC_AWAY,
	P_EVAC_STANDBY,
	P_EVAC_SPREAD,
	P_DRAIN_PREV,
	P_RESTORE,
	P_OPS_UNMOVED,
	P_OPS_PERCENT,
	P_OPS_RESTORE,
	P_MAGLEV_FILL,
	P_MAGLEV_SHARE,
	P_MAGLEV_ONLY,
	P_MAGLEV_REMOVE,
	P_MAGLEV_ADD,
	P_MAGLEV_BUILDER,
	P_IDENTICAL,
	P_GARBAGE,
	P_REAPPLY,
	P_STATES_CARRY,
	P_ORDER_BUCKETS,
	P_ORDER_HASH,
	P_FLEET_SAME,
	P_FLEET_MAGLEV,
	P_FLEET_SPREAD,
	P_FLEET_PERCENT,
	P_N,
};

static struct prop props[P_N] = {
	[P_RATIOS] = { "ratios: every unit's share within one bucket of modulo * pct / 100" },
	[P_RULES] = { "rules: every bucket on its rule's unit" },
	[P_EVAC_UNMOVED] = { "evacuate (unit, service, range, percent): no bucket of an uninvolved unit moves" },
	[P_EVAC_AWAY] = { "evacuate: evacuated buckets land on a serving unit, never the evacuated one" },
	[P_EVAC_STANDBY] = { "evacuate: with a serving standby, every evacuated bucket goes to it" },
	[P_EVAC_SPREAD] = { "evacuate without standby: spread over serving units by weight (5 sigma)" },
	[P_DRAIN_PREV] = { "drain (unit, service, range, percent): moved buckets keep the drained unit as prev_unit" },
	[P_RESTORE] = { "restore after evacuate/drain: every bucket back, byte for byte" },
	[P_OPS_UNMOVED] = { "ops on a live object: evacuate/drain move only the scope's buckets, to serving units" },
	[P_OPS_PERCENT] = { "ops --percent P: about P % of the unit's buckets move (5 sigma)" },
	[P_OPS_RESTORE] = { "ops restore: every bucket back, content hash as before" },
	[P_MAGLEV_FILL] = { "maglev: every slot filled with a member id (N = 1..64)" },
	[P_MAGLEV_SHARE] = { "maglev: every share within 5 binomial sigma of M * w / W (equal and random weights)" },
	[P_MAGLEV_ONLY] = { "maglev: removing one of N endpoints moves only that endpoint's slots" },
	[P_MAGLEV_REMOVE] = { "maglev: removing one of N endpoints moves <= 1/N + 1 % of the slots (N = 2..64)" },
	[P_MAGLEV_ADD] = { "maglev: adding an N-th endpoint moves <= 1/N + 1 % of the slots (N = 2..64)" },
	[P_MAGLEV_BUILDER] = { "builder: an endpoint removed from a unit moves <= 1/N + 1 % of its slots" },
	[P_IDENTICAL] = { "identical input: identical cg_tables_hash and bytes" },
	[P_GARBAGE] = { "identical input into tables full of garbage: identical bytes" },
	[P_REAPPLY] = { "re-applying a config to its own generation changes nothing" },
	[P_STATES_CARRY] = { "re-applying with a unit evacuated keeps it evacuated, buckets as before" },
	[P_ORDER_BUCKETS] = { "services in another order: each service's buckets identical" },
	[P_ORDER_HASH] = { "services in another order: identical content hash" },
	[P_FLEET_SAME] = { "fleet: a gateway with another apply history steers every bucket to the same unit" },
	[P_FLEET_MAGLEV] = { "fleet: ... and picks the same endpoint for every Maglev slot" },
	[P_FLEET_SPREAD] = { "fleet: ... and spreads an evacuated unit's buckets to the same units" },
	[P_FLEET_PERCENT] = { "fleet: ... and evacuate --percent (user/ops.c) moves the same buckets the same way" },
};

static int cur_cfg = -1; /* index of the config under test, for messages */

static void prop_ok(int p)
{
	props[p].checked++;
}

static void prop_fail(int p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void prop_fail(int p, const char *fmt, ...)
{
	va_list ap;
	int n;

	props[p].checked++;
	if (props[p].failed++)
		return;
	if (cur_cfg >= 0)
		n = snprintf(props[p].first, sizeof(props[p].first),
			     "seed %llu, config %d: ", (unsigned long long)run_seed, cur_cfg);
	else
		n = snprintf(props[p].first, sizeof(props[p].first),
			     "seed %llu: ", (unsigned long long)run_seed);
	va_start(ap, fmt);
	vsnprintf(props[p].first + n, sizeof(props[p].first) - n, fmt, ap);
	va_end(ap);
}

/* A moved share against its bound (1/N + 1 %): keeps the worst excess. */
/*
 * The bound, "moves <= 1/N + 1 %": the table is filled by
 * rendezvous hashing, so exactly the changed member's slots move
 * (P_MAGLEV_ONLY checks that), and their share is binomial around 1/N.
 * Each draw may exceed 1/N + 1 % by its sampling noise (4 sigma for a
 * table of `size` slots); the mean over all draws must stay within 1/N +
 * 1 %, which a fill that overshoots systematically (Maglev's permutation
 * fill: +1..3.6 %) fails.
 */
static void prop_bound(int p, __u32 moved, __u32 size, int n, const char *what)
{
	double excess = (double)moved / size - 1.0 / n;
	double sigma = sqrt((1.0 / n) * (1.0 - 1.0 / n) / size);

	props[p].excess_sum += excess;
	props[p].excess_n++;
	if (excess > props[p].worst || !props[p].worst_at[0]) {
		props[p].worst = excess;
		snprintf(props[p].worst_at, sizeof(props[p].worst_at),
			 "worst: N=%d %s, %u of %u slots (%.2f %%, 1/N + %.2f %%)", n, what, moved,
			 size, 100.0 * moved / size, 100.0 * excess);
	}
	if (excess > 0.01 + 4 * sigma)
		prop_fail(p, "N=%d %s: %u of %u slots moved (%.2f %%, bound %.2f %% + 4 sigma)", n,
			  what, moved, size, 100.0 * moved / size, 100.0 * (1.0 / n + 0.01));
	else if (props[p].excess_n >= 8 && props[p].excess_sum / props[p].excess_n > 0.01)
		prop_fail(p, "mean excess over %d draws is 1/N + %.2f %%, above 1 %%", props[p].excess_n,
			  100.0 * props[p].excess_sum / props[p].excess_n);
	else
		prop_ok(p);
}

/* ---- random configs as JSON text ---- */
struct gen_cfg {
	int n_units, n_services;
	__u32 weight[32];
	int standby[32];
	int central; /* -1 = none */
	int ratio_pct[MAX_SVCS][32]; /* ratios: percent per unit, -1 = rules */
	char text[1 << 17];
	size_t len;
	/* the units list again, every unit's endpoints in reverse order (what a
	 * gateway with another history has as ids) */
	char hist_units[1 << 16];
	size_t hlen;
	/* the services, as text, to write in any order */
	char svc_text[MAX_SVCS][8192];
};

static void add(struct gen_cfg *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct gen_cfg *g, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	g->len += vsnprintf(g->text + g->len, sizeof(g->text) - g->len, fmt, ap);
	va_end(ap);
}

static __u32 rnd_modulo(void)
{
	switch (rnd_in(0, 9)) {
	case 0:
	case 1:
	case 2:
		return rnd_in(1, 16);
	case 3:
	case 4:
	case 5:
	case 6:
		return rnd_in(17, 2000);
	case 7:
		return CG_MAX_MODULO;
	default:
		return rnd_in(2001, CG_MAX_MODULO);
	}
}

static void gen_service(struct gen_cfg *g, int s, bool global)
{
	char *p = g->svc_text[s];
	size_t n = sizeof(g->svc_text[s]), o = 0;
	__u32 modulo = rnd_modulo();

#define P(...) (o += snprintf(p + o, n - o, __VA_ARGS__))
	P("{\"name\":\"svc%d\",\"vip\":\"198.19.%d.%d\",\"port\":%d,\"proto\":\"%s\"", s, s / 200,
	  s % 200 + 1, 1000 + s, rnd_in(0, 1) ? "tcp" : "udp");
	memset(g->ratio_pct[s], 0xff, sizeof(g->ratio_pct[s]));
	if (global) {
		P(",\"kind\":\"global\"}");
		return;
	}
	P(",\"modulo\":%u", modulo);
	if (rnd_in(0, 1)) { /* ratios over a random subset of units, summing to 100 */
		int left = 100, k = (int)rnd_in(1, g->n_units < 6 ? g->n_units : 6), first = 1;
		int pick[32] = {};

		for (int i = 0; i < k; i++)
			pick[rnd_in(0, g->n_units - 1)] = 1;
		for (int u = 0; u < g->n_units; u++)
			g->ratio_pct[s][u] = 0;
		P(",\"ratios\":{");
		for (int u = 0; u < g->n_units; u++) {
			int pct;

			if (!pick[u])
				continue;
			pct = left;
			/* the last picked unit takes what is left */
			for (int v = u + 1; v < g->n_units; v++)
				if (pick[v]) {
					pct = (int)rnd_in(0, (__u32)left);
					break;
				}
			left -= pct;
			g->ratio_pct[s][u] = pct;
			P("%s\"u%02d\":%d", first ? "" : ",", u, pct);
			first = 0;
		}
		P("}}");
		return;
	}
	/* rules: a random partition of 0..modulo-1 */
	{
		__u32 first = 0, k = rnd_in(1, modulo < 12 ? modulo : 12);

		P(",\"rules\":[");
		for (__u32 r = 0; r < k; r++) {
			__u32 last = r + 1 == k ? modulo - 1 : rnd_in(first, modulo - (k - r));
			P("%s{\"buckets\":\"%u-%u\",\"unit\":\"u%02u\"}", r ? "," : "", first, last,
			  rnd_in(0, g->n_units - 1));
			first = last + 1;
		}
		P("]}");
	}
#undef P
}

static void gen_units(struct gen_cfg *g)
{
	g->n_units = (int)rnd_in(2, 32);
	g->central = rnd_in(0, 2) ? (int)rnd_in(0, g->n_units - 1) : -1;
	for (int u = 0; u < g->n_units; u++) {
		g->weight[u] = rnd_in(0, 3) ? rnd_in(1, 100) : 1;
		g->standby[u] = -1;
		if (rnd_in(0, 2) == 0) {
			int sb = (int)rnd_in(0, g->n_units - 1);

			if (sb != u)
				g->standby[u] = sb;
		}
	}
}

/* The text of the config with the services in `order`. */
static void gen_text(struct gen_cfg *g, const int *order)
{
	g->len = 0;
	g->hlen = 0;
	add(g, "{\"version\":1,\"seed\":%u,\"encap\":{\"source4\":\"198.18.250.0/24\"},\"units\":[",
	    (__u32)rnd());
	for (int u = 0; u < g->n_units; u++) {
		int ne = (int)rnd_in(1, 4);

		add(g, "%s{\"name\":\"u%02d\",\"weight\":%u", u ? "," : "", u, g->weight[u]);
		if (u == g->central)
			add(g, ",\"role\":\"central\"");
		if (g->standby[u] >= 0)
			add(g, ",\"standby\":\"u%02d\"", g->standby[u]);
		add(g, ",\"endpoints\":[");
		for (int e = 0; e < ne; e++)
			add(g, "%s{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:00:%02x:%02x\"}",
			    e ? "," : "", u + 1, e + 2, u + 1, e + 2);
		add(g, "]}");
		/* the same unit with its endpoints reversed */
		g->hlen += snprintf(g->hist_units + g->hlen, sizeof(g->hist_units) - g->hlen,
				    "%s{\"name\":\"u%02d\",\"weight\":%u%s", u ? "," : "", u,
				    g->weight[u], u == g->central ? ",\"role\":\"central\"" : "");
		if (g->standby[u] >= 0)
			g->hlen +=
				snprintf(g->hist_units + g->hlen, sizeof(g->hist_units) - g->hlen,
					 ",\"standby\":\"u%02d\"", g->standby[u]);
		g->hlen += snprintf(g->hist_units + g->hlen, sizeof(g->hist_units) - g->hlen,
				    ",\"endpoints\":[");
		for (int e = ne - 1; e >= 0; e--)
			g->hlen += snprintf(
				g->hist_units + g->hlen, sizeof(g->hist_units) - g->hlen,
				"%s{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:00:%02x:%02x\"}",
				e < ne - 1 ? "," : "", u + 1, e + 2, u + 1, e + 2);
		g->hlen += snprintf(g->hist_units + g->hlen, sizeof(g->hist_units) - g->hlen, "]}");
	}
	add(g, "],\"services\":[");
	for (int i = 0; i < g->n_services; i++)
		add(g, "%s%s", i ? "," : "", g->svc_text[order[i]]);
	add(g, "]}");
}

/* ---- tables ---- */
static struct cg_tables *tab_new(void)
{
	struct cg_tables *t;

	if (cg_tables_alloc(&t, SLOTS)) {
		fprintf(stderr, "out of memory\n");
		exit(1);
	}
	return t;
}

static void tab_copy(struct cg_tables *dst, const struct cg_tables *src)
{
	struct cg_bucket *b = dst->buckets;
	struct cg_maglev_slot *m = dst->maglev;

	memcpy(dst, src, sizeof(*dst));
	dst->buckets = b;
	dst->maglev = m;
	memcpy(b, src->buckets, (size_t)SLOTS * sizeof(*b));
	memcpy(m, src->maglev, (size_t)CG_MAX_UNITS * CG_MAGLEV_SIZE * sizeof(*m));
}

static int build(const struct cg_config *cfg, const struct cg_tables *cur, struct cg_tables *out,
		 char *why, size_t len)
{
	struct cg_errors errs = {};
	int err = cg_build_tables(cfg, cur, IFINDEX_LO, out, &errs);

	if (err)
		snprintf(why, len, "%s", errs.n ? errs.msgs[0] : "cg_build_tables failed");
	cg_errors_free(&errs);
	return err;
}

static int reassign(struct cg_tables *t, char *why, size_t len)
{
	struct cg_errors errs = {};
	int err = cg_tables_reassign(t, &errs);

	if (err)
		snprintf(why, len, "%s", errs.n ? errs.msgs[0] : "cg_tables_reassign failed");
	cg_errors_free(&errs);
	return err;
}

static int t_unit(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED &&
		    !strncmp(t->units[i].name, name, CG_NAME_LEN))
			return i;
	return -1;
}

static const struct cg_service *t_svc(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < t->n_services; i++)
		if (!strncmp(t->services[i].name, name, CG_NAME_LEN))
			return &t->services[i];
	return NULL;
}

/* ---- ratios and rules ---- */
static void check_rules(const struct cg_config *cfg, const struct gen_cfg *g,
			const struct cg_tables *t)
{
	bool rules_ok = true, ratios_ok = true, any_ratio = false, any_rule = false;

	for (int s = 0; s < cfg->n_services; s++) {
		const struct cg_cfg_service *cs = &cfg->services[s];
		const struct cg_service *svc = t_svc(t, cs->name);
		int idx = atoi(cs->name + 3); /* "svcN": N indexes the generator's arrays */
		__u32 count[CG_MAX_UNITS] = {};

		if (cs->kind != CG_KIND_CORE)
			continue;
		if (!svc || svc->modulo != cs->modulo) {
			prop_fail(P_RULES, "service %s missing or with another modulo", cs->name);
			return;
		}
		for (int r = 0; r < cs->n_rules; r++) {
			int uid = t_unit(t, cfg->units[cs->rules[r].unit].name);

			for (__u32 b = cs->rules[r].first; b <= cs->rules[r].last; b++) {
				const struct cg_bucket *bk = &t->buckets[svc->bucket_base + b];

				if (bk->unit != uid || (bk->owner & CG_OWNER_MASK) != uid ||
				    bk->prev_unit != CG_UNIT_NONE) {
					if (rules_ok)
						prop_fail(
							P_RULES,
							"%s bucket %u on unit %u (owner %u), rule says %s",
							cs->name, b, bk->unit, bk->owner,
							cfg->units[cs->rules[r].unit].name);
					rules_ok = false;
					break;
				}
			}
		}
		for (__u32 b = 0; b < svc->modulo; b++)
			if (t->buckets[svc->bucket_base + b].unit < CG_MAX_UNITS)
				count[t->buckets[svc->bucket_base + b].unit]++;
		if (g->ratio_pct[idx][0] < 0) {
			any_rule = true;
			continue;
		}
		any_ratio = true;
		for (int u = 0; u < cfg->n_units; u++) {
			int uid = t_unit(t, cfg->units[u].name);
			double exact = (double)svc->modulo * g->ratio_pct[idx][u] / 100.0;

			if (fabs((double)count[uid] - exact) >= 1.0 && ratios_ok) {
				prop_fail(P_RATIOS,
					  "%s (modulo %u): %s has %u buckets for %d %%, exact %.2f",
					  cs->name, svc->modulo, cfg->units[u].name, count[uid],
					  g->ratio_pct[idx][u], exact);
				ratios_ok = false;
			}
		}
	}
	if (any_rule && rules_ok)
		prop_ok(P_RULES);
	if (any_ratio && ratios_ok)
		prop_ok(P_RATIOS);
}

/* ---- evacuation and drain through cg_tables_reassign ---- */
enum grain { G_UNIT, G_SERVICE, G_RANGE, G_PERCENT, G_N };
static const char *const grain_names[] = { "whole unit", "one service", "a bucket range",
					   "a percentage" };

struct scope {
	enum grain grain;
	int unit;
	const struct cg_service *svc; /* G_SERVICE, G_RANGE, G_PERCENT (NULL: all services) */
	__u32 first, last, percent;
};

/* Does the scope take this bucket (owned by s->unit)? The percentage pick
 * is the one user/ops.c documents (a seeded hash of service id, bucket). */
static bool in_scope(const struct cg_tables *t, const struct scope *s, const struct cg_service *svc,
		     __u32 b)
{
	if ((t->buckets[svc->bucket_base + b].owner & CG_OWNER_MASK) != s->unit)
		return false;
	switch (s->grain) {
	case G_UNIT:
		return true;
	case G_SERVICE:
		return svc->id == s->svc->id;
	case G_RANGE:
		return svc->id == s->svc->id && b >= s->first && b <= s->last;
	case G_PERCENT:
		return (!s->svc || svc->id == s->svc->id) &&
		       cg_mix32(cg_hash_step(t->gen.seed ^ svc->id, b)) % 100 < s->percent;
	case G_N:
		break;
	}
	return false;
}

static const struct cg_service *rnd_core_service(const struct cg_tables *t, int unit)
{
	int cand[CG_MAX_SERVICES], n = 0;

	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *svc = &t->services[i];

		if (svc->kind != CG_KIND_CORE)
			continue;
		for (__u32 b = 0; b < svc->modulo; b++)
			if (t->buckets[svc->bucket_base + b].owner == unit) {
				cand[n++] = i;
				break;
			}
	}
	return n ? &t->services[cand[rnd_in(0, n - 1)]] : NULL;
}

static void pick_scope(const struct cg_tables *t, struct scope *s)
{
	s->grain = rnd_in(0, G_N - 1);
	s->svc = rnd_core_service(t, s->unit);
	if (!s->svc)
		s->grain = G_UNIT;
	if (s->grain == G_RANGE) {
		s->first = rnd_in(0, s->svc->modulo - 1);
		s->last = rnd_in(s->first, s->svc->modulo - 1);
	}
	if (s->grain == G_PERCENT) {
		s->percent = rnd_in(1, 99);
		if (rnd_in(0, 1))
			s->svc = NULL;
	}
}

/* A unit that owns buckets, or -1. */
static int rnd_owner(const struct cg_tables *t)
{
	int cand[CG_MAX_UNITS], n = 0;
	bool owns[CG_MAX_UNITS] = {};

	for (__u32 b = 0; b < t->buckets_used; b++)
		if ((t->buckets[b].owner & CG_OWNER_MASK) < CG_MAX_UNITS)
			owns[t->buckets[b].owner & CG_OWNER_MASK] = true;
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (owns[u] && t->units[u].state == CG_UNIT_SERVING)
			cand[n++] = u;
	return n ? cand[rnd_in(0, n - 1)] : -1;
}

/* Compare before/after of one move: returns the number of moved buckets;
 * counts per target in `to`. */
static void check_move(const struct cg_tables *t0, const struct cg_tables *t1,
		       const struct scope *s, bool drain, const char *what)
{
	static __u32 to[CG_MAX_UNITS];
	const struct cg_unit *u = &t0->units[s->unit];
	int sb = u->standby < CG_MAX_UNITS && u->standby != s->unit &&
				 t1->units[u->standby].state == CG_UNIT_SERVING ?
			 u->standby :
			 -1;
	bool unmoved = true, away = true, standby = true, prev = true;
	__u32 moved = 0;

	memset(to, 0, sizeof(to));
	for (int i = 0; i < t0->n_services; i++) {
		const struct cg_service *svc = &t0->services[i];

		if (svc->kind != CG_KIND_CORE)
			continue;
		for (__u32 b = 0; b < svc->modulo; b++) {
			const struct cg_bucket *x = &t0->buckets[svc->bucket_base + b];
			const struct cg_bucket *y = &t1->buckets[svc->bucket_base + b];

			if (!in_scope(t0, s, svc, b)) {
				if (unmoved &&
				    (y->unit != x->unit || y->prev_unit != x->prev_unit)) {
					prop_fail(
						P_EVAC_UNMOVED,
						"%s %s of %s: %s bucket %u (owner %s) moved %u -> %u",
						what, grain_names[s->grain], u->name, svc->name, b,
						t0->units[x->owner & CG_OWNER_MASK].name, x->unit,
						y->unit);
					unmoved = false;
				}
				continue;
			}
			moved++;
			if (y->unit >= CG_MAX_UNITS || y->unit == s->unit ||
			    t1->units[y->unit].state != CG_UNIT_SERVING) {
				if (away)
					prop_fail(P_EVAC_AWAY,
						  "%s %s of %s: %s bucket %u on unit %u (state %u)",
						  what, grain_names[s->grain], u->name, svc->name,
						  b, y->unit,
						  y->unit < CG_MAX_UNITS ?
							  t1->units[y->unit].state :
							  0);
				away = false;
				continue;
			}
			to[y->unit]++;
			if (sb >= 0 && y->unit != sb && standby) {
				prop_fail(P_EVAC_STANDBY,
					  "%s of %s: %s bucket %u on %s, standby %s serves", what,
					  u->name, svc->name, b, t1->units[y->unit].name,
					  t1->units[sb].name);
				standby = false;
			}
			if (drain && y->prev_unit != s->unit && prev) {
				prop_fail(P_DRAIN_PREV,
					  "drain %s of %s: %s bucket %u has prev_unit %u",
					  grain_names[s->grain], u->name, svc->name, b,
					  y->prev_unit);
				prev = false;
			}
			if (!drain && y->prev_unit != CG_UNIT_NONE && prev) {
				prop_fail(P_DRAIN_PREV,
					  "evacuate %s of %s: %s bucket %u has prev_unit %u",
					  grain_names[s->grain], u->name, svc->name, b,
					  y->prev_unit);
				prev = false;
			}
		}
	}
	if (unmoved)
		prop_ok(P_EVAC_UNMOVED);
	if (away)
		prop_ok(P_EVAC_AWAY);
	if (prev)
		prop_ok(P_DRAIN_PREV);
	if (sb >= 0 && standby && moved)
		prop_ok(P_EVAC_STANDBY);
	/* weighted spread: only without a standby and with enough buckets */
	if (sb < 0 && moved >= 400 && away) {
		double wsum = 0;
		bool ok = true;

		for (int v = 0; v < CG_MAX_UNITS; v++)
			if (t1->units[v].state == CG_UNIT_SERVING && v != s->unit)
				wsum += t1->units[v].weight;
		for (int v = 0; v < CG_MAX_UNITS && ok; v++) {
			double p, e, sd;

			if (t1->units[v].state != CG_UNIT_SERVING || v == s->unit)
				continue;
			p = t1->units[v].weight / wsum;
			e = moved * p;
			sd = sqrt(moved * p * (1 - p));
			if (fabs(to[v] - e) > 5 * sd + 2) {
				prop_fail(
					P_EVAC_SPREAD,
					"%s %s of %s: %u buckets moved, %s (weight %u of %.0f) got %u, expected %.1f +- %.1f",
					what, grain_names[s->grain], u->name, moved,
					t1->units[v].name, t1->units[v].weight, wsum, to[v], e,
					5 * sd + 2);
				ok = false;
			}
		}
		if (ok)
			prop_ok(P_EVAC_SPREAD);
	}
}

/* Mark the scope's buckets away (like user/ops.c's mark_away). */
static void mark_scope(struct cg_tables *t, const struct scope *s, bool drain)
{
	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *svc = &t->services[i];

		if (svc->kind != CG_KIND_CORE)
			continue;
		for (__u32 b = 0; b < svc->modulo; b++)
			if (in_scope(t, s, svc, b)) {
				struct cg_bucket *bk = &t->buckets[svc->bucket_base + b];

				bk->owner = (bk->owner & CG_OWNER_MASK) | CG_OWNER_AWAY |
					    (drain ? CG_OWNER_DRAIN : 0);
			}
	}
}

static void evac_roundtrip(const struct cg_tables *t0, struct cg_tables *t1, struct cg_tables *t2,
			   bool drain)
{
	struct scope s = {};
	char why[512];
	const char *what = drain ? "drain" : "evacuate";
	bool others = false;

	s.unit = rnd_owner(t0);
	if (s.unit < 0)
		return;
	for (int u = 0; u < CG_MAX_UNITS; u++)
		others |= u != s.unit && t0->units[u].state == CG_UNIT_SERVING;
	if (!others)
		return;
	pick_scope(t0, &s);
	tab_copy(t1, t0);
	if (s.grain == G_UNIT)
		t1->units[s.unit].state = drain ? CG_UNIT_DRAINING : CG_UNIT_EVACUATED;
	else
		mark_scope(t1, &s, drain);
	if (reassign(t1, why, sizeof(why))) {
		prop_fail(P_EVAC_AWAY, "%s %s of %s refused: %s", what, grain_names[s.grain],
			  t0->units[s.unit].name, why);
		return;
	}
	check_move(t0, t1, &s, drain, what);

	/* restore: state back, marks cleared, reassign: the very same buckets */
	tab_copy(t2, t1);
	t2->units[s.unit].state = CG_UNIT_SERVING;
	for (__u32 b = 0; b < t2->buckets_used; b++)
		t2->buckets[b].owner &= CG_OWNER_MASK;
	if (reassign(t2, why, sizeof(why))) {
		prop_fail(P_RESTORE, "restore of %s refused: %s", t0->units[s.unit].name, why);
		return;
	}
	if (memcmp(t2->buckets, t0->buckets, (size_t)t0->buckets_used * sizeof(*t0->buckets)) ||
	    cg_tables_hash(t2) != cg_tables_hash(t0)) {
		__u32 b = 0;

		while (b < t0->buckets_used &&
		       !memcmp(&t2->buckets[b], &t0->buckets[b], sizeof(t0->buckets[b])))
			b++;
		prop_fail(
			P_RESTORE,
			"after %s %s of %s and restore: bucket entry %u is %u/%u/%u, was %u/%u/%u",
			what, grain_names[s.grain], t0->units[s.unit].name, b, t2->buckets[b].unit,
			t2->buckets[b].prev_unit, t2->buckets[b].owner, t0->buckets[b].unit,
			t0->buckets[b].prev_unit, t0->buckets[b].owner);
		return;
	}
	prop_ok(P_RESTORE);
}

/* ---- the same through user/ops.c on a loaded object (root only) ---- */
struct live {
	struct cg_steer *skel;
	struct cg_dp *dp;
	struct cg_tables *before, *after;
	char audit[64];
};

static int live_publish(struct live *l, struct cg_tables *t)
{
	struct cg_errors errs = {};
	int err = cg_publish(l->dp, t, &errs);

	if (err && errs.n)
		fprintf(stderr, "publish: %s\n", errs.msgs[0]);
	cg_errors_free(&errs);
	return err;
}

static void ops_roundtrip(struct live *l, const struct cg_tables *t0)
{
	struct cg_op_opts o = { .who = PROG };
	struct cg_errors errs = {};
	struct cg_op_result r;
	struct scope s = {};
	char names[2][CG_NAME_LEN];
	bool drain = rnd_in(0, 1), ok = true;
	__u32 moved = 0, owned = 0;
	int err;

	/* publish t0 as it is (a copy: cg_publish writes its gen) */
	tab_copy(l->before, t0);
	if (live_publish(l, l->before) || cg_dp_read_active(l->dp, l->before)) {
		prop_fail(P_OPS_UNMOVED, "cannot publish the config");
		return;
	}
	s.unit = rnd_owner(l->before);
	if (s.unit < 0)
		return;
	pick_scope(l->before, &s);
	snprintf(names[0], sizeof(names[0]), "%s", l->before->units[s.unit].name);
	o.scope.unit = names[0];
	if (s.svc) {
		snprintf(names[1], sizeof(names[1]), "%s", s.svc->name);
		o.scope.service = s.grain == G_UNIT ? NULL : names[1];
	}
	o.scope.has_range = s.grain == G_RANGE;
	o.scope.first = s.first;
	o.scope.last = s.last;
	o.scope.percent = s.grain == G_PERCENT ? s.percent : 0;
	o.force = true; /* a central unit may go: its services are not what is checked */
	err = drain ? cg_op_drain(l->dp, &o, &r, &errs) : cg_op_evacuate(l->dp, &o, &r, &errs);
	if (err) {
		/* the last serving unit: fail static, a refusal is right */
		bool last = true;

		for (int u = 0; u < CG_MAX_UNITS; u++)
			last &= u == s.unit || l->before->units[u].state != CG_UNIT_SERVING;
		if (!last || s.grain != G_UNIT)
			prop_fail(P_OPS_UNMOVED, "%s %s of %s refused: %s",
				  drain ? "drain" : "evacuate", grain_names[s.grain], names[0],
				  errs.n ? errs.msgs[0] : "?");
		cg_errors_free(&errs);
		return;
	}
	cg_errors_free(&errs);
	if (cg_dp_read_active(l->dp, l->after)) {
		prop_fail(P_OPS_UNMOVED, "cannot read the live tables back");
		return;
	}
	/* the scope as the ops select it; a whole service (no percent) = G_SERVICE */
	for (int i = 0; i < l->before->n_services; i++) {
		const struct cg_service *svc = &l->before->services[i];

		if (svc->kind != CG_KIND_CORE)
			continue;
		for (__u32 b = 0; b < svc->modulo; b++) {
			const struct cg_bucket *x = &l->before->buckets[svc->bucket_base + b];
			const struct cg_bucket *y = &l->after->buckets[svc->bucket_base + b];
			/* a percentage's pick is the ops' own: what moved, of what it may take */
			bool sel = s.grain == G_PERCENT ?
					   (x->owner & CG_OWNER_MASK) == s.unit &&
						   (!s.svc || svc->id == s.svc->id) &&
						   (y->unit != x->unit ||
						    y->prev_unit != x->prev_unit) :
					   in_scope(l->before, &s, svc, b);

			owned += (x->owner & CG_OWNER_MASK) == s.unit &&
				 (s.grain != G_PERCENT || !s.svc || svc->id == s.svc->id);
			moved += sel;
			if (!sel && (y->unit != x->unit || y->prev_unit != x->prev_unit) && ok) {
				prop_fail(P_OPS_UNMOVED, "%s %s of %s: %s bucket %u moved %u -> %u",
					  drain ? "drain" : "evacuate", grain_names[s.grain],
					  names[0], svc->name, b, x->unit, y->unit);
				ok = false;
			}
			if (sel &&
			    (y->unit == s.unit || y->unit >= CG_MAX_UNITS ||
			     l->after->units[y->unit].state != CG_UNIT_SERVING) &&
			    ok) {
				prop_fail(P_OPS_UNMOVED, "%s %s of %s: %s bucket %u on unit %u",
					  drain ? "drain" : "evacuate", grain_names[s.grain],
					  names[0], svc->name, b, y->unit);
				ok = false;
			}
		}
	}
	if (ok && r.moved != moved) {
		prop_fail(P_OPS_UNMOVED, "%s %s of %s: the result says %u buckets moved, %u did",
			  drain ? "drain" : "evacuate", grain_names[s.grain], names[0], r.moved,
			  moved);
		ok = false;
	}
	if (ok)
		prop_ok(P_OPS_UNMOVED);
	if (s.grain == G_PERCENT && owned >= 200) {
		double p = s.percent / 100.0, e = owned * p, sd = sqrt(owned * p * (1 - p));

		if (fabs(moved - e) > 5 * sd + 1)
			prop_fail(P_OPS_PERCENT,
				  "--percent %u of %u buckets: %u moved, expected %.0f +- %.0f",
				  s.percent, owned, moved, e, 5 * sd + 1);
		else
			prop_ok(P_OPS_PERCENT);
	}

	/* restore the same scope: the generation's buckets and hash as before */
	err = cg_op_restore(l->dp, &o, &r, &errs);
	if (err) {
		prop_fail(P_OPS_RESTORE, "restore %s refused: %s", names[0],
			  errs.n ? errs.msgs[0] : "?");
		cg_errors_free(&errs);
		return;
	}
	cg_errors_free(&errs);
	if (cg_dp_read_active(l->dp, l->after)) {
		prop_fail(P_OPS_RESTORE, "cannot read the live tables back");
		return;
	}
	if (memcmp(l->after->buckets, l->before->buckets,
		   (size_t)l->before->buckets_used * sizeof(*l->before->buckets)))
		prop_fail(P_OPS_RESTORE, "restore %s after %s %s: buckets differ", names[0],
			  drain ? "drain" : "evacuate", grain_names[s.grain]);
	else if (l->after->gen.hash != l->before->gen.hash)
		prop_fail(P_OPS_RESTORE, "restore %s after %s %s: hash %016llx, was %016llx",
			  names[0], drain ? "drain" : "evacuate", grain_names[s.grain],
			  (unsigned long long)l->after->gen.hash,
			  (unsigned long long)l->before->gen.hash);
	else
		prop_ok(P_OPS_RESTORE);
}

static int live_open(struct live *l)
{
	int fd;

	if (geteuid())
		return -1;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0)
		return -1;
	close(fd);
	l->skel = cg_steer__open();
	if (!l->skel)
		return -1;
	bpf_map__set_autocreate(l->skel->maps.cg_gen_template, false);
	bpf_map__set_max_entries(l->skel->maps.cg_buckets, CG_BANKS * SLOTS);
	bpf_map__set_max_entries(l->skel->maps.cg_flows, 1024);
	if (cg_steer__load(l->skel) || cg_dp_from_object(l->skel->obj, &l->dp))
		return -1;
	l->before = tab_new();
	l->after = tab_new();
	snprintf(l->audit, sizeof(l->audit), "/tmp/cg-test-builder.%d.audit", (int)getpid());
	setenv("CELLGATE_AUDIT_LOG", l->audit, 1);
	return 0;
}

static void live_close(struct live *l)
{
	if (l->audit[0])
		unlink(l->audit);
	cg_tables_free(l->before);
	cg_tables_free(l->after);
	cg_dp_close(l->dp);
	cg_steer__destroy(l->skel);
}

/* ---- Maglev ---- */
/* The worst share seen, relative to its fair share M * w / W. */
static double share_lo = 1e9, share_hi;

/* Shares of one table against M * w / W: a per-slot choice is binomial,
 * so within 5 sigma (and a slot) of it. */
static void maglev_shares(const struct cg_maglev_member *m, int n, const __u32 *cnt,
			  const char *what)
{
	double wsum = 0;
	bool ok = true;

	for (int i = 0; i < n; i++)
		wsum += m[i].weight;
	for (int i = 0; i < n && ok; i++) {
		double p = m[i].weight / wsum, e = CG_MAGLEV_SIZE * p;
		double tol = 5 * sqrt(CG_MAGLEV_SIZE * p * (1 - p)) + 1;

		if (e > 0 && cnt[i] / e < share_lo)
			share_lo = cnt[i] / e;
		if (e > 0 && cnt[i] / e > share_hi)
			share_hi = cnt[i] / e;
		if (fabs(cnt[i] - e) > tol) {
			prop_fail(
				P_MAGLEV_SHARE,
				"N=%d %s: member of weight %u has %u slots, expected %.1f +- %.1f",
				n, what, m[i].weight, cnt[i], e, tol);
			ok = false;
		}
	}
	if (ok)
		prop_ok(P_MAGLEV_SHARE);
}

static void maglev_props(void)
{
	static __u16 t0[CG_MAGLEV_SIZE], t1[CG_MAGLEV_SIZE];
	struct cg_maglev_member m[65];
	char names[65][48];
	const __u32 M = CG_MAGLEV_SIZE;

	for (int round = 0; round < 3; round++) {
		for (int n = 1; n <= 64; n++) {
			__u32 seed = (__u32)rnd(), cnt[65] = {}, moved = 0;
			int k;

			bool filled = true;

			cur_cfg = -(round * 100 + n); /* no config: the member count */
			for (int i = 0; i < n + 1; i++) {
				/* names as the builder makes them: unit/address */
				snprintf(names[i], sizeof(names[i]), "u%u/198.18.%u.%u",
					 (__u32)rnd() % 32, (__u32)rnd() % 256,
					 (__u32)rnd() % 254 + 1);
				m[i].id = (__u16)(i * 61 + round); /* distinct ids */
				m[i].name = names[i];
				m[i].weight = 1;
			}
			cg_maglev_fill(m, n, seed, t0, M);
			for (__u32 s = 0; s < M && filled; s++) {
				for (k = 0; k < n && m[k].id != t0[s]; k++)
					;
				if (k == n) {
					prop_fail(P_MAGLEV_FILL,
						  "N=%d: slot %u holds %u, no member's id", n, s,
						  t0[s]);
					filled = false;
				} else {
					cnt[k]++;
				}
			}
			if (filled)
				prop_ok(P_MAGLEV_FILL);
			maglev_shares(m, n, cnt, "equal weights");
			if (n < 2)
				continue;
			/* remove one of N */
			k = (int)rnd_in(0, n - 1);
			{
				struct cg_maglev_member r[64];
				int j = 0;

				for (int i = 0; i < n; i++)
					if (i != k)
						r[j++] = m[i];
				cg_maglev_fill(r, n - 1, seed, t1, M);
			}
			{
				__u32 other = 0;

				for (__u32 s = 0; s < M; s++) {
					moved += t0[s] != t1[s];
					other += t0[s] != t1[s] && t0[s] != m[k].id;
				}
				if (other)
					prop_fail(
						P_MAGLEV_ONLY,
						"N=%d, member %d removed: %u slots of other members moved too",
						n, k, other);
				else
					prop_ok(P_MAGLEV_ONLY);
			}
			prop_bound(P_MAGLEV_REMOVE, moved, M, n, "one removed");
			/* add an N-th to N-1: the table of N-1, then N with the new one last
			 * or at a random position (ids are kept, order is the builder's) */
			{
				struct cg_maglev_member a[65];
				int pos = (int)rnd_in(0, n - 1), j = 0;

				for (int i = 0; i < n - 1; i++) {
					if (i == pos)
						a[j++] = m[n];
					a[j++] = m[i];
				}
				if (pos == n - 1)
					a[j++] = m[n];
				cg_maglev_fill(m, n - 1, seed, t0, M);
				cg_maglev_fill(a, n, seed, t1, M);
				moved = 0;
				for (__u32 s = 0; s < M; s++)
					moved += t0[s] != t1[s];
				prop_bound(P_MAGLEV_ADD, moved, M, n, "one added");
			}
			/* random weights: shares follow them */
			for (int i = 0; i < n; i++)
				m[i].weight = rnd_in(1, 8);
			cg_maglev_fill(m, n, seed, t0, M);
			memset(cnt, 0, sizeof(cnt));
			for (__u32 s = 0; s < M; s++)
				for (k = 0; k < n; k++)
					if (m[k].id == t0[s])
						cnt[k]++;
			maglev_shares(m, n, cnt, "random weights");
			for (int i = 0; i < n + 1; i++)
				m[i].weight = 1;
		}
	}
}

/* One unit with N endpoints, then N-1 (one removed), through the builder. */
static void maglev_builder(struct cg_tables *a, struct cg_tables *b)
{
	static char text[1 << 16];

	for (int n = 2; n <= 64; n += (n < 8 ? 1 : 7)) {
		int drop = (int)rnd_in(0, n - 1), uid;
		struct cg_config c1, c2;
		struct cg_errors errs = {};
		char why[256];
		__u32 moved = 0;

		cur_cfg = -n;
		for (int pass = 0; pass < 2; pass++) {
			size_t o = 0;

			o += snprintf(text + o, sizeof(text) - o,
				      "{\"version\":1,\"encap\":{\"source4\":\"198.18.250.0/24\"},"
				      "\"units\":[{\"name\":\"a\",\"endpoints\":[");
			for (int e = 0, first = 1; e < n; e++) {
				if (pass && e == drop)
					continue;
				o += snprintf(
					text + o, sizeof(text) - o,
					"%s{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:00:00:01\"}",
					first ? "" : ",", 10 + e / 200, e % 200 + 1);
				first = 0;
			}
			o += snprintf(
				text + o, sizeof(text) - o,
				"]},{\"name\":\"b\",\"endpoints\":[{\"address\":\"198.18.9.1\","
				"\"mac\":\"02:00:00:00:00:02\"}]}],\"services\":[]}");
			if (cg_config_load_string(text, pass ? &c2 : &c1, &errs)) {
				prop_fail(P_MAGLEV_BUILDER, "config refused: %s",
					  errs.n ? errs.msgs[0] : "?");
				cg_errors_free(&errs);
				if (pass)
					cg_config_free(&c1);
				return;
			}
		}
		if (build(&c1, NULL, a, why, sizeof(why))) {
			prop_fail(P_MAGLEV_BUILDER, "N=%d: %s", n, why);
		} else {
			a->gen.generation = 1; /* as if live, so ids are kept */
			if (build(&c2, a, b, why, sizeof(why))) {
				prop_fail(P_MAGLEV_BUILDER, "N=%d minus one: %s", n, why);
			} else {
				uid = t_unit(a, "a");
				for (__u32 s = 0; s < CG_MAGLEV_SIZE; s++)
					moved +=
						a->maglev[(size_t)uid * CG_MAGLEV_SIZE + s]
							.endpoint !=
						b->maglev[(size_t)uid * CG_MAGLEV_SIZE + s].endpoint;
				prop_bound(P_MAGLEV_BUILDER, moved, CG_MAGLEV_SIZE, n,
					   "endpoint removed from the config");
			}
		}
		cg_config_free(&c1);
		cg_config_free(&c2);
	}
}

/* ---- determinism ---- */
static bool same_tables(const struct cg_tables *a, const struct cg_tables *b, char *why, size_t len)
{
	if (memcmp(&a->gen, &b->gen, sizeof(a->gen)))
		return snprintf(why, len, "cg_gen differs"), false;
	if (a->buckets_used != b->buckets_used)
		return snprintf(why, len, "buckets_used %u vs %u", a->buckets_used,
				b->buckets_used),
		       false;
	for (__u32 i = 0; i < a->buckets_used; i++)
		if (memcmp(&a->buckets[i], &b->buckets[i], sizeof(a->buckets[i])))
			return snprintf(
				       why, len,
				       "bucket entry %u: unit/prev/owner/fence %u/%u/%#x/%u vs %u/%u/%#x/%u",
				       i, a->buckets[i].unit, a->buckets[i].prev_unit,
				       a->buckets[i].owner, a->buckets[i].fence, b->buckets[i].unit,
				       b->buckets[i].prev_unit, b->buckets[i].owner,
				       b->buckets[i].fence),
			       false;
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (memcmp(&a->units[i], &b->units[i], sizeof(a->units[i])))
			return snprintf(why, len, "unit %d (%s) differs", i, a->units[i].name),
			       false;
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++)
		if (memcmp(&a->endpoints[i], &b->endpoints[i], sizeof(a->endpoints[i])))
			return snprintf(why, len, "endpoint %d differs", i), false;
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		const struct cg_maglev_slot *x = a->maglev + (size_t)u * CG_MAGLEV_SIZE;
		const struct cg_maglev_slot *y = b->maglev + (size_t)u * CG_MAGLEV_SIZE;

		if (a->units[u].state == CG_UNIT_UNUSED)
			continue;
		for (int i = 0; i < CG_MAGLEV_SIZE; i++)
			if (memcmp(&x[i], &y[i], sizeof(x[i])))
				return snprintf(
					       why, len,
					       "Maglev slot %d of unit %d: endpoint/prev/pad %u/%u/%#x vs %u/%u/%#x",
					       i, u, x[i].endpoint, x[i].prev_endpoint, x[i].pad,
					       y[i].endpoint, y[i].prev_endpoint, y[i].pad),
				       false;
	}
	if (a->n_services != b->n_services ||
	    memcmp(a->services, b->services, a->n_services * sizeof(a->services[0])) ||
	    memcmp(a->svc_keys, b->svc_keys, a->n_services * sizeof(a->svc_keys[0])))
		return snprintf(why, len, "services differ"), false;
	if (memcmp(a->svc_index, b->svc_index, sizeof(a->svc_index)))
		return snprintf(why, len, "service index differs"), false;
	if (memcmp(a->fences, b->fences, sizeof(a->fences)))
		return snprintf(why, len, "fences differ"), false;
	if (a->n_pins4 != b->n_pins4 || a->n_pins6 != b->n_pins6 ||
	    memcmp(a->pins4, b->pins4, a->n_pins4 * sizeof(a->pins4[0])) ||
	    memcmp(a->pins6, b->pins6, a->n_pins6 * sizeof(a->pins6[0])))
		return snprintf(why, len, "pins differ"), false;
	if (cg_tables_hash(a) != cg_tables_hash(b))
		return snprintf(why, len, "hash %016llx vs %016llx",
				(unsigned long long)cg_tables_hash(a),
				(unsigned long long)cg_tables_hash(b)),
		       false;
	return true;
}

/* As cg_tables_alloc() leaves them. */
static void zero(struct cg_tables *t)
{
	struct cg_bucket *b = t->buckets;
	struct cg_maglev_slot *m = t->maglev;
	__u32 slots = t->bucket_slots;

	memset(t, 0, sizeof(*t));
	t->buckets = b;
	t->maglev = m;
	t->bucket_slots = slots;
	memset(b, 0, (size_t)slots * sizeof(*b));
	memset(m, 0, (size_t)CG_MAX_UNITS * CG_MAGLEV_SIZE * sizeof(*m));
}

static void garbage(struct cg_tables *t)
{
	struct cg_bucket *b = t->buckets;
	struct cg_maglev_slot *m = t->maglev;
	__u32 slots = t->bucket_slots;

	memset(t, 0xa5, sizeof(*t));
	t->buckets = b;
	t->maglev = m;
	t->bucket_slots = slots;
	memset(b, 0x5a, (size_t)slots * sizeof(*b));
	memset(m, 0x5a, (size_t)CG_MAX_UNITS * CG_MAGLEV_SIZE * sizeof(*m));
}

/*
 * Two gateways of a fleet get the same config; one of them had applied
 * another config before (an extra unit and an extra service, listed
 * first), so its ids differ. DESIGN §4: they must steer every flow the
 * same, evacuations included. Compared by names, not ids.
 */
/* The same operation on two gateways (two steering objects), compared by
 * names: what each one's user/ops.c picks and where it sends it. */
static void fleet_ops(struct live *la, struct live *lb, const struct cg_tables *t0,
		      const struct cg_tables *t1, const char *unit)
{
	struct cg_op_opts o = { .who = PROG,
				.force = true,
				.scope = { .unit = unit, .percent = 30 } };
	struct cg_errors errs = {};
	struct cg_op_result r;

	tab_copy(la->before, t0);
	tab_copy(lb->before, t1);
	if (live_publish(la, la->before) || live_publish(lb, lb->before) ||
	    cg_op_evacuate(la->dp, &o, &r, &errs) || cg_op_evacuate(lb->dp, &o, &r, &errs) ||
	    cg_dp_read_active(la->dp, la->after) || cg_dp_read_active(lb->dp, lb->after)) {
		prop_fail(P_FLEET_PERCENT, "evacuate %s --percent 30: %s", unit,
			  errs.n ? errs.msgs[0] : "publish or read-back failed");
		cg_errors_free(&errs);
		return;
	}
	cg_errors_free(&errs);
	for (int i = 0; i < la->after->n_services; i++) {
		const struct cg_service *x = &la->after->services[i],
					*y = t_svc(lb->after, x->name);

		if (x->kind != CG_KIND_CORE)
			continue;
		if (!y || y->modulo != x->modulo) {
			prop_fail(P_FLEET_PERCENT, "service %s missing on the other gateway",
				  x->name);
			return;
		}
		for (__u32 k = 0; k < x->modulo; k++) {
			__u16 ua = la->after->buckets[x->bucket_base + k].unit;
			__u16 ub = lb->after->buckets[y->bucket_base + k].unit;
			const char *na = ua < CG_MAX_UNITS ? la->after->units[ua].name : "(none)";
			const char *nb = ub < CG_MAX_UNITS ? lb->after->units[ub].name : "(none)";

			if (strcmp(na, nb)) {
				prop_fail(
					P_FLEET_PERCENT,
					"evacuate %s --percent 30: %s bucket %u on %s on one gateway, %s on the other (ids differ by apply history)",
					unit, x->name, k, na, nb);
				return;
			}
		}
	}
	prop_ok(P_FLEET_PERCENT);
}

static void fleet_check(const struct gen_cfg *g, const struct cg_config *cfg,
			const struct cg_tables *t0, struct cg_tables *th, struct cg_tables *t1,
			struct live *la, struct live *lb)
{
	static char text[sizeof(g->text) + 1024];
	const char *units = strstr(g->text, "\"units\":["),
		   *svcs = strstr(g->text, "\"services\":[");
	struct cg_config hcfg;
	struct cg_errors errs = {};
	char why[512];
	int u = -1;

	if (!units || !svcs)
		return;
	snprintf(
		text, sizeof(text),
		"%.*s\"units\":[{\"name\":\"old\",\"endpoints\":[{\"address\":\"198.18.99.2\","
		"\"mac\":\"02:00:00:00:99:02\"}]},%s],\"services\":[{\"name\":\"old\",\"vip\":"
		"\"198.18.99.1\",\"port\":1,\"proto\":\"tcp\",\"modulo\":7,\"ratios\":{\"old\":100}},%s",
		(int)(units - g->text), g->text, g->hist_units, svcs + 12);
	if (cg_config_load_string(text, &hcfg, &errs)) {
		prop_fail(P_FLEET_SAME, "history config refused: %s", errs.n ? errs.msgs[0] : "?");
		cg_errors_free(&errs);
		return;
	}
	zero(th);
	if (build(&hcfg, NULL, th, why, sizeof(why))) {
		prop_fail(P_FLEET_SAME, "history config: %s", why);
		cg_config_free(&hcfg);
		return;
	}
	cg_config_free(&hcfg);
	th->gen.generation = 1;
	zero(t1);
	if (build(cfg, th, t1, why, sizeof(why))) {
		prop_fail(P_FLEET_SAME, "config after the history: %s", why);
		return;
	}
	/* same steering by name, then the same evacuation on both */
	for (int pass = 0; pass < 2; pass++) {
		int p = pass == 0 ? P_FLEET_SAME : P_FLEET_SPREAD;
		bool same = true;
		static struct cg_tables *a, *b;
		struct scope sa = {}, sb = {};

		if (!a) {
			a = tab_new();
			b = tab_new();
		}
		tab_copy(a, t0);
		tab_copy(b, t1);
		if (pass) {
			/* a unit without a serving standby: its buckets are spread */
			u = -1;
			for (int v = 0; v < cfg->n_units && u < 0; v++)
				if (cfg->units[v].standby < 0 && t_unit(a, cfg->units[v].name) >= 0)
					u = v;
			if (u < 0)
				return;
			sa.unit = t_unit(a, cfg->units[u].name);
			sb.unit = t_unit(b, cfg->units[u].name);
			a->units[sa.unit].state = CG_UNIT_EVACUATED;
			b->units[sb.unit].state = CG_UNIT_EVACUATED;
			if (reassign(a, why, sizeof(why)) || reassign(b, why, sizeof(why))) {
				prop_fail(p, "%s", why);
				continue;
			}
		}
		for (int i = 0; i < a->n_services && same; i++) {
			const struct cg_service *x = &a->services[i], *y = t_svc(b, x->name);

			if (x->kind != CG_KIND_CORE)
				continue;
			if (!y || y->modulo != x->modulo) {
				prop_fail(p, "service %s missing on the other gateway", x->name);
				same = false;
				break;
			}
			for (__u32 k = 0; k < x->modulo && same; k++) {
				__u16 ua = a->buckets[x->bucket_base + k].unit;
				__u16 ub = b->buckets[y->bucket_base + k].unit;
				const char *na = ua < CG_MAX_UNITS ? a->units[ua].name : "(none)";
				const char *nb = ub < CG_MAX_UNITS ? b->units[ub].name : "(none)";

				if (strcmp(na, nb)) {
					prop_fail(
						p,
						"%s%s bucket %u: %s on one gateway, %s on the other (ids differ by apply history)",
						pass ? "evacuate whole unit: " : "", x->name, k, na,
						nb);
					same = false;
				}
			}
		}
		if (same)
			prop_ok(p);
		if (!pass) {
			/* every unit's endpoint choice, slot by slot, by address */
			bool mok = true;

			for (int v = 0; v < cfg->n_units && mok; v++) {
				int ia = t_unit(a, cfg->units[v].name),
				    ib = t_unit(b, cfg->units[v].name);

				for (int k = 0; k < CG_MAGLEV_SIZE && mok; k++) {
					__u16 ea =
						a->maglev[(size_t)ia * CG_MAGLEV_SIZE + k].endpoint;
					__u16 eb =
						b->maglev[(size_t)ib * CG_MAGLEV_SIZE + k].endpoint;

					if (ea >= CG_MAX_ENDPOINTS || eb >= CG_MAX_ENDPOINTS ||
					    memcmp(a->endpoints[ea].daddr, b->endpoints[eb].daddr,
						   16)) {
						prop_fail(
							P_FLEET_MAGLEV,
							"unit %s (%u endpoints) slot %d: endpoint %u on one gateway, %u on the other (other addresses)",
							cfg->units[v].name,
							a->units[ia].n_endpoints, k, ea, eb);
						mok = false;
					}
				}
			}
			if (mok)
				prop_ok(P_FLEET_MAGLEV);
		}
		if (pass && la && lb)
			fleet_ops(la, lb, t0, t1, cfg->units[u].name);
	}
}

int main(int argc, char **argv)
{
	struct cg_tables *t0 = tab_new(), *t1 = tab_new(), *t2 = tab_new();
	struct gen_cfg *g = calloc(1, sizeof(*g));
	const char *env = getenv("CG_TEST_SEED");
	int n_configs = getenv("CG_TEST_CONFIGS") ? atoi(getenv("CG_TEST_CONFIGS")) : 250;
	struct live live = {}, live2 = {};
	bool have_live;
	char why[512];

	(void)argc;
	(void)argv;
	if (!g)
		return 1;
	/* fixed by default, so `make test` is repeatable; "random" explores */
	if (env && !strcmp(env, "random"))
		run_seed = ((__u64)time(NULL) << 20) ^ (__u64)getpid();
	else
		run_seed = env ? strtoull(env, NULL, 0) : 1;
	printf("# %s: seed %llu (CG_TEST_SEED=%llu repeats this run), %d configs\n", PROG,
	       (unsigned long long)run_seed, (unsigned long long)run_seed, n_configs);
	rnd_state = run_seed;
	have_live = !live_open(&live) && !live_open(&live2);

	for (int i = 0; i < n_configs; i++) {
		struct cg_config cfg, cfg2;
		struct cg_errors errs = {};
		int order[MAX_SVCS];

		cur_cfg = i;
		gen_units(g);
		g->n_services = (int)rnd_in(1, MAX_SVCS);
		for (int s = 0; s < g->n_services; s++) {
			gen_service(g, s, g->central >= 0 && rnd_in(0, 7) == 0);
			order[s] = s;
		}
		{
			__u64 keep = rnd_state; /* the same text twice: same seed value */

			gen_text(g, order);
			rnd_state = keep;
		}
		if (cg_config_load_string(g->text, &cfg, &errs)) {
			prop_fail(P_IDENTICAL, "generated config refused: %s",
				  errs.n ? errs.msgs[0] : "?");
			cg_errors_free(&errs);
			continue;
		}
		zero(t0);
		if (build(&cfg, NULL, t0, why, sizeof(why))) {
			prop_fail(P_IDENTICAL, "build refused: %s", why);
			cg_config_free(&cfg);
			continue;
		}
		check_rules(&cfg, g, t0);

		/* identical input (fresh tables: what apply builds into) */
		zero(t1);
		if (build(&cfg, NULL, t1, why, sizeof(why)) ||
		    !same_tables(t0, t1, why, sizeof(why)))
			prop_fail(P_IDENTICAL, "second build: %s", why);
		else
			prop_ok(P_IDENTICAL);
		garbage(t1);
		if (build(&cfg, NULL, t1, why, sizeof(why)) ||
		    !same_tables(t0, t1, why, sizeof(why)))
			prop_fail(P_GARBAGE, "%s", why);
		else
			prop_ok(P_GARBAGE);
		/* re-applying to its own generation */
		t0->gen.generation = 7;
		zero(t1);
		if (build(&cfg, t0, t1, why, sizeof(why)))
			prop_fail(P_REAPPLY, "%s", why);
		else if (t1->gen.generation = 7, !same_tables(t0, t1, why, sizeof(why)))
			prop_fail(P_REAPPLY, "%s", why);
		else
			prop_ok(P_REAPPLY);
		/* re-applying with a unit evacuated: the state and its buckets stay */
		{
			int u = rnd_owner(t0), others = 0;

			for (int v = 0; v < CG_MAX_UNITS; v++)
				others += v != u && t0->units[v].state == CG_UNIT_SERVING;
			if (u >= 0 && others) {
				tab_copy(t1, t0);
				t1->units[u].state = CG_UNIT_EVACUATED;
				if (reassign(t1, why, sizeof(why)) ||
				    build(&cfg, t1, t2, why, sizeof(why)))
					prop_fail(P_STATES_CARRY, "%s", why);
				else if (t2->units[u].state != CG_UNIT_EVACUATED ||
					 memcmp(t2->buckets, t1->buckets,
						(size_t)t1->buckets_used * sizeof(*t1->buckets)))
					prop_fail(P_STATES_CARRY, "unit %s: state %u, buckets %s",
						  t1->units[u].name, t2->units[u].state,
						  memcmp(t2->buckets, t1->buckets,
							 (size_t)t1->buckets_used *
								 sizeof(*t1->buckets)) ?
							  "differ" :
							  "same");
				else
					prop_ok(P_STATES_CARRY);
			}
		}
		t0->gen.generation = 0;

		/* services in another order */
		if (g->n_services > 1) {
			for (int s = g->n_services - 1; s > 0; s--) {
				int j = (int)rnd_in(0, s), x = order[s];

				order[s] = order[j];
				order[j] = x;
			}
			/* the same text with the services permuted (same hash seed) */
			{
				char *seedp = strstr(g->text, "\"seed\":");
				__u32 seedv = seedp ? (__u32)strtoul(seedp + 7, NULL, 10) : 0;
				char *units = strstr(g->text, ",\"encap\"");
				char *svcs = strstr(g->text, "],\"services\":[");
				static char text2[sizeof(g->text)];
				size_t o = 0;

				o += snprintf(text2 + o, sizeof(text2) - o,
					      "{\"version\":1,\"seed\":%u", seedv);
				o += snprintf(text2 + o, sizeof(text2) - o, "%.*s",
					      (int)(svcs - units), units);
				o += snprintf(text2 + o, sizeof(text2) - o, "],\"services\":[");
				for (int s = 0; s < g->n_services; s++)
					o += snprintf(text2 + o, sizeof(text2) - o, "%s%s",
						      s ? "," : "", g->svc_text[order[s]]);
				snprintf(text2 + o, sizeof(text2) - o, "]}");
				if (cg_config_load_string(text2, &cfg2, &errs)) {
					prop_fail(P_ORDER_HASH, "reordered config refused: %s",
						  errs.n ? errs.msgs[0] : "?");
					cg_errors_free(&errs);
				} else {
					if (build(&cfg2, NULL, t1, why, sizeof(why))) {
						prop_fail(P_ORDER_HASH, "%s", why);
					} else {
						bool same = true;

						for (int s = 0; s < t0->n_services && same; s++) {
							const struct cg_service *a =
								&t0->services[s];
							const struct cg_service *b =
								t_svc(t1, a->name);

							if (a->kind != CG_KIND_CORE)
								continue;
							same = b && b->modulo == a->modulo &&
							       !memcmp(&t0->buckets[a->bucket_base],
								       &t1->buckets[b->bucket_base],
								       a->modulo *
									       sizeof(t0->buckets
											      [0]));
							if (!same)
								prop_fail(
									P_ORDER_BUCKETS,
									"service %s: buckets differ",
									a->name);
						}
						if (same)
							prop_ok(P_ORDER_BUCKETS);
						if (cg_tables_hash(t0) != cg_tables_hash(t1)) {
							int d = -1;

							for (int s = 0; s < t0->n_services && d < 0;
							     s++)
								if (t0->services[s].id !=
									    t1->services[s].id ||
								    t0->services[s].bucket_base !=
									    t1->services[s]
										    .bucket_base)
									d = s;
							prop_fail(
								P_ORDER_HASH,
								"%d services: hash %016llx, reordered %016llx%s%s%s",
								g->n_services,
								(unsigned long long)cg_tables_hash(
									t0),
								(unsigned long long)cg_tables_hash(
									t1),
								d >= 0 ? " (service " : "",
								d >= 0 ? t0->services[d].name : "",
								d >= 0 ?
									": id or bucket_base depend on file order)" :
									"");
						} else {
							prop_ok(P_ORDER_HASH);
						}
					}
					cg_config_free(&cfg2);
				}
			}
		}

		fleet_check(g, &cfg, t0, t1, t2, have_live && i < OPS_CONFIGS ? &live : NULL,
			    have_live && i < OPS_CONFIGS ? &live2 : NULL);

		/* evacuations and drains through cg_tables_reassign */
		for (int k = 0; k < 4; k++)
			evac_roundtrip(t0, t1, t2, k & 1);
		/* and through user/ops.c on a live object */
		if (have_live && i < OPS_CONFIGS)
			for (int k = 0; k < 2; k++)
				ops_roundtrip(&live, t0);
		cg_config_free(&cfg);
	}

	maglev_props();
	maglev_builder(t0, t1);
	printf("# maglev balance over N = 1..64: shares from %.2f to %.2f of M * w / W\n", share_lo,
	       share_hi);

	for (int p = 0; p < P_N; p++) {
		char name[256];

		snprintf(name, sizeof(name), "%s (%d checks)", props[p].name, props[p].checked);
		if (props[p].failed)
			tl_fail(name, "%d failed; first: %s%s%s", props[p].failed, props[p].first,
				props[p].worst_at[0] ? "; " : "", props[p].worst_at);
		else if (!props[p].checked && !have_live &&
			 ((p >= P_OPS_UNMOVED && p <= P_OPS_RESTORE) || p == P_FLEET_PERCENT))
			tl_skip(props[p].name, "needs root and BPF (a loaded steering object)");
		else if (!props[p].checked)
			tl_fail(props[p].name, "no config exercised it (seed %llu)",
				(unsigned long long)run_seed);
		else
			tl_pass(name);
	}
	live_close(&live);
	live_close(&live2);
	cg_tables_free(t0);
	cg_tables_free(t1);
	cg_tables_free(t2);
	free(g);
	return tl_exit_code();
}
