// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cellgate agent (user/agent.h, docs/operations.md).
 *
 * One thread runs the loop: every interval it sends one probe per target
 * (one check of one endpoint), collects answers and timeouts, folds them
 * into endpoint and unit health with rise/fall thresholds, and acts:
 * evacuate a unit that went down, restore one that has been up long
 * enough, each through user/ops.c (which locks, refuses a stale writer,
 * publishes and audits). libmicrohttpd serves /metrics from its own thread
 * and the control socket has one too; both read the agent's state under
 * `lock`.
 *
 * Everything the agent decides from is in the pinned maps or measured
 * again, so a restarted agent takes over where the last one stopped: a
 * unit that is evacuated without CG_UNIT_F_MANUAL is one an agent took out,
 * and it is restored once healthy.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <jansson.h>

#include "agent.h"
#include "ctl.h"
#include "dp.h"
#include "log.h"
#include "metrics.h"
#include "ops.h"
#include "probe.h"
#include "tables.h"

#define CG_AGENT_VERSION "0.1.0"
#define AG_EVENTS 64 /* recent actions kept for `agent status` */
#define AG_RESYNC_MS 1000 /* re-read link states this often, in case an event was lost */

enum health {
	H_UNKNOWN = 0,
	H_UP,
	H_DOWN,
};

static const char *const health_names[] = { "unknown", "up", "down" };

enum cause {
	C_PROBE = 0,
	C_LINK,
	C_NEIGH,
	C_MAX,
};

static const char *const cause_names[] = { "probe", "link", "neighbour" };

enum refusal {
	R_NONE = 0,
	R_NO_SURVIVOR, /* no other unit is serving and healthy */
	R_BOUND, /* max_evacuated units are evacuated by the agent already */
	R_CAPACITY, /* a survivor would exceed its share */
	R_OPS, /* user/ops.c said no (last serving unit, central unit, ...) */
	R_MAX,
};

static const char *const refusal_names[] = { "", "no_survivor", "bound", "capacity", "ops" };

struct ag_target {
	struct cg_probe_target p; /* what the prober sees */
	int unit; /* index into agent.units */
	int ep; /* index into that unit's eps, -1 for a unit-level check */
	int check; /* index into the unit's checks */
	bool used; /* still wanted after a resync */
	int health;
	__u32 ok_run, fail_run; /* consecutive results */
	__u64 first_fail_real; /* send time of the first failed probe of the run */
	const char *why;
	__u64 last_rtt_ns;
	__u64 ok_total, fail_total;
	struct cg_hist hist; /* answered probes' round trip */
	char label[96]; /* check, for metrics and status */
};

struct ag_endpoint {
	int id;
	int family;
	__be32 addr[4];
	char name[INET6_ADDRSTRLEN];
	__be32 nexthop[4];
	__u32 ifindex;
	char dev[IF_NAMESIZE];
	bool link_up, link_gone;
	int forced; /* C_LINK/C_NEIGH: taken down by an event until probes say otherwise; -1 none */
	__u64 forced_real;
	int health;
};

struct ag_unit {
	char name[CG_NAME_LEN];
	int id; /* in the live generation, -1 = not in it */
	const struct cg_agent_unit_cfg *cfg;
	__u8 dp_state;
	__u16 dp_flags;
	__u32 weight;
	int expect_state; /* what our last action left, to tell operators' changes apart */
	int n_eps;
	struct ag_endpoint *eps;
	int health;
	__u64 since_mono, since_real; /* of the current health */
	__u64 recovered_mono; /* last time it came back from down, 0 = never */
	/* the current down episode */
	int cause;
	__u64 first_fail_real, detected_real, detected_mono;
	char detail[200];
	bool overridden; /* an operator restored it while down: leave it until it recovers */
	int refused; /* enum refusal of the last refused action of the episode */
	__u64 refused_gen; /* ops refusals are retried only when the generation changes */
	/* flap damping */
	double penalty;
	__u64 penalty_mono;
	bool suppressed;
	/* counters */
	__u64 evacuations[C_MAX], restores, refusals[R_MAX], downs;
};

struct ag_event {
	__u64 real;
	char text[240];
};

struct agent {
	const char *instance;
	struct cg_agent_config *cfg;
	struct cg_dp *dp;
	struct cg_tables *live, *sim;
	pthread_mutex_t lock;
	int epfd, sigfd;
	struct cg_ev sig_ev;
	struct cg_prober prober;
	struct cg_link_watch nl;
	struct cg_metrics_server *metrics;
	struct cg_ctl_server *ctl;
	char ctl_path[108];
	struct ag_unit units[CG_MAX_UNITS];
	int n_units;
	struct ag_target **targets; /* also the prober's view (as cg_probe_target *) */
	int n_targets, cap_targets;
	__u32 next_uid;
	bool dirty; /* something changed: evaluate */
	bool stop;
	__u64 started_real;
	__u64 probes_sent;
	struct cg_hist detect_hist[C_MAX]; /* first failure -> detection */
	struct cg_hist react_hist; /* detection -> publish */
	struct ag_event events[AG_EVENTS];
	int n_events; /* total, ring index = n % AG_EVENTS */
};

/* ---- small helpers ---- */

static void iso_time(__u64 real_ns, char *buf, size_t len)
{
	time_t s = real_ns / 1000000000ull;
	struct tm tm;

	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03lluZ",
		 (unsigned long long)(real_ns / 1000000ull % 1000));
}

static void addr_name(int family, const __be32 *a, char *buf, size_t len)
{
	inet_ntop(family == CG_AF_INET ? AF_INET : AF_INET6, a, buf, len);
}

static size_t addr_len(int family)
{
	return family == CG_AF_INET ? 4 : 16;
}

/* An action or notable change: stdout (the journal) and the status ring. */
static void note(struct agent *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct agent *a, const char *fmt, ...)
{
	struct ag_event *e = &a->events[a->n_events++ % AG_EVENTS];
	char when[40];
	va_list ap;

	e->real = cg_real_ns();
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	iso_time(e->real, when, sizeof(when));
	printf("%s %s\n", when, e->text);
	fflush(stdout);
}

static const struct cg_check *unit_checks(const struct agent *a, const struct ag_unit *u, int *n)
{
	if (u->cfg && u->cfg->has_checks) {
		*n = u->cfg->n_checks;
		return u->cfg->checks;
	}
	*n = a->cfg->n_checks;
	return a->cfg->checks;
}

static bool monitored(const struct ag_unit *u)
{
	return u->id >= 0 && (!u->cfg || u->cfg->monitor);
}

/* ---- the model: units, endpoints and targets from the live generation ---- */

/* A local address of family on ifindex for tunnel probes to answer to. */
static bool local_source(const struct agent *a, int family, __u32 ifindex, __be32 *out)
{
	struct ifaddrs *ifa, *i;
	char name[IF_NAMESIZE];
	bool found = false;

	memset(out, 0, 16);
	if (family == CG_AF_INET && a->cfg->has_src4) {
		memcpy(out, a->cfg->src4, 4);
		return true;
	}
	if (family == CG_AF_INET6 && a->cfg->has_src6) {
		memcpy(out, a->cfg->src6, 16);
		return true;
	}
	if (!if_indextoname(ifindex, name) || getifaddrs(&ifa))
		return false;
	for (i = ifa; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, name))
			continue;
		if (family == CG_AF_INET && i->ifa_addr->sa_family == AF_INET) {
			memcpy(out, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
			found = true;
		} else if (family == CG_AF_INET6 && i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *x = &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;

			if (IN6_IS_ADDR_LINKLOCAL(x))
				continue; /* the VIP's answer is routed, not link-local */
			memcpy(out, x, 16);
			found = true;
		}
	}
	freeifaddrs(ifa);
	return found;
}

/* Outer source as the dataplane makes it: prefix | host bits from a hash. */
static void outer_source(const struct cg_gen *g, int family, __u32 h, __be32 *out)
{
	memset(out, 0, 16);
	if (family == CG_AF_INET) {
		out[0] = g->src4 | (htonl(h) & g->src4_hostmask);
	} else {
		memcpy(out, g->src6, 16);
		out[3] |= htonl(h) & g->src6_hostmask;
	}
}

static struct ag_unit *unit_by_name(struct agent *a, const char *name)
{
	for (int i = 0; i < a->n_units; i++)
		if (!strcmp(a->units[i].name, name))
			return &a->units[i];
	return NULL;
}

static struct ag_target *find_target(struct agent *a, int unit, const struct ag_endpoint *ep,
				     int check)
{
	for (int i = 0; i < a->n_targets; i++) {
		struct ag_target *t = a->targets[i];
		if (t->unit != unit || t->check != check || t->used)
			continue;
		if (!ep && t->ep < 0)
			return t;
		if (ep && t->ep >= 0 && t->p.dst_family == ep->family &&
		    !memcmp(t->p.dst, ep->addr, addr_len(ep->family)))
			return t;
	}
	return NULL;
}

/* Point t at its endpoint (or fixed address) as the live generation has it. */
static void aim(struct agent *a, struct ag_target *t, const struct ag_endpoint *ep,
		const struct cg_check *c)
{
	__be32 src[4];
	int old_src_family = t->p.src_family;
	bool reopen = false;

	if (ep) {
		const struct cg_endpoint *le = &a->live->endpoints[ep->id];

		t->p.dst_family = ep->family;
		memcpy(t->p.dst, ep->addr, 16);
		t->p.ifindex = ep->ifindex;
		memcpy(t->p.dmac, le->dmac, 6);
		memcpy(t->p.smac, le->smac, 6);
		outer_source(&a->live->gen, ep->family, t->p.uid * 2654435761u, t->p.outer_src);
	} else {
		t->p.dst_family = c->family;
		memcpy(t->p.dst, c->addr, 16);
	}
	if (c->type == CG_CHECK_TUNNEL) {
		if (local_source(a, c->family, t->p.ifindex, src)) {
			reopen = old_src_family != c->family ||
				 memcmp(src, t->p.src, addr_len(c->family)) || t->p.error[0];
			t->p.src_family = c->family;
			memcpy(t->p.src, src, 16);
		} else {
			reopen = old_src_family != CG_AF_NONE || !t->p.error[0];
			t->p.src_family = CG_AF_NONE;
		}
	}
	if (reopen) {
		cg_probe_close(&a->prober, &t->p);
		cg_probe_open(&a->prober, &t->p);
		if (t->p.error[0] && c->type == CG_CHECK_TUNNEL)
			snprintf(t->p.error, sizeof(t->p.error),
				 "no IPv%d address on %s to answer to; set probe.source%d",
				 c->family == CG_AF_INET ? 4 : 6, ep ? ep->dev : "?",
				 c->family == CG_AF_INET ? 4 : 6);
	}
}

static void check_label(const struct cg_check *c, char *buf, size_t len)
{
	char x[INET6_ADDRSTRLEN] = "";

	if (c->type == CG_CHECK_TUNNEL || c->has_addr)
		addr_name(c->family, c->addr, x, sizeof(x));
	switch (c->type) {
	case CG_CHECK_TUNNEL:
		snprintf(buf, len, c->family == CG_AF_INET6 ? "tunnel:[%s]:%u" : "tunnel:%s:%u", x,
			 c->port);
		break;
	case CG_CHECK_UDP:
	case CG_CHECK_TCP:
		if (c->has_addr)
			snprintf(buf, len, c->family == CG_AF_INET6 ? "%s:[%s]:%u" : "%s:%s:%u",
				 cg_check_type_name(c->type), x, c->port);
		else
			snprintf(buf, len, "%s:%u", cg_check_type_name(c->type), c->port);
		break;
	default:
		snprintf(buf, len, c->has_addr ? "icmp:%s" : "icmp", x);
	}
}

static struct ag_target *new_target(struct agent *a, int unit, int ep, int check,
				    const struct cg_check *c)
{
	struct ag_target *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (a->n_targets == a->cap_targets) {
		int cap = a->cap_targets ? a->cap_targets * 2 : 64;
		struct ag_target **n = realloc(a->targets, (size_t)cap * sizeof(*n));

		if (!n) {
			free(t);
			return NULL;
		}
		a->targets = n;
		a->cap_targets = cap;
		a->prober.targets = (struct cg_probe_target **)a->targets;
	}
	t->p.check = *c;
	t->p.uid = ++a->next_uid;
	t->p.ev.fd = -1;
	for (int i = 0; i < CG_PROBE_WINDOW; i++)
		t->p.slots[i].ev.fd = -1;
	t->unit = unit;
	t->ep = ep;
	t->check = check;
	check_label(c, t->label, sizeof(t->label));
	a->targets[a->n_targets++] = t;
	if (c->type != CG_CHECK_TUNNEL)
		cg_probe_open(&a->prober, &t->p);
	return t;
}

static void endpoint_link(struct ag_endpoint *e)
{
	bool up = false;
	int err = cg_link_up((int)e->ifindex, &up);

	e->link_gone = err == -ENODEV;
	e->link_up = !err && up;
}

/* The live generation changed (or this is the start): units, endpoints and
 * targets follow it; health of what stays is kept. Called with lock held. */
static void sync_model(struct agent *a)
{
	const struct cg_tables *t = a->live;

	for (int i = 0; i < a->n_units; i++)
		a->units[i].id = -1;
	for (int id = 0; id < CG_MAX_UNITS; id++) {
		const struct cg_unit *lu = &t->units[id];
		struct ag_unit *u;
		int prev;

		if (lu->state == CG_UNIT_UNUSED)
			continue;
		u = unit_by_name(a, lu->name);
		if (!u) {
			if (a->n_units == CG_MAX_UNITS)
				continue;
			u = &a->units[a->n_units++];
			memset(u, 0, sizeof(*u));
			snprintf(u->name, sizeof(u->name), "%s", lu->name);
			u->cfg = cg_agent_unit_cfg(a->cfg, lu->name);
			u->dp_state = lu->state;
			u->expect_state = -1;
			u->since_mono = cg_mono_ns();
			u->since_real = cg_real_ns();
		}
		prev = u->dp_state;
		u->id = id;
		u->dp_state = lu->state;
		u->dp_flags = lu->flags;
		u->weight = lu->weight ? lu->weight : 1;
		if (prev != u->dp_state && u->expect_state != u->dp_state) {
			/* not our doing: an operator (or another writer) */
			note(a, "%s is now %s (was %s), not by this agent%s", u->name,
			     u->dp_state == CG_UNIT_SERVING ? "serving" :
			     u->dp_state == CG_UNIT_DRAINING ? "draining" : "evacuated",
			     prev == CG_UNIT_SERVING ? "serving" :
			     prev == CG_UNIT_DRAINING ? "draining" : "evacuated",
			     u->dp_flags & CG_UNIT_F_MANUAL ? " (manual: the agent will not restore it)" : "");
			if (u->dp_state == CG_UNIT_SERVING && u->health == H_DOWN) {
				u->overridden = true;
				note(a, "%s was restored while its probes fail; the agent leaves it serving until it recovers and fails again",
				     u->name);
			}
		}
		u->expect_state = -1;
	}
	/* endpoints: by (unit, address); link state kept for known interfaces */
	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];
		struct ag_endpoint *old = u->eps;
		int n_old = u->n_eps, n = 0;

		u->eps = calloc(CG_MAX_ENDPOINTS, sizeof(*u->eps));
		if (!u->eps) {
			u->eps = old;
			continue;
		}
		for (int e = 0; u->id >= 0 && e < CG_MAX_ENDPOINTS; e++) {
			const struct cg_endpoint *le = &t->endpoints[e];
			struct ag_endpoint *ne = &u->eps[n];
			bool known = false;

			if (le->family == CG_AF_NONE || le->unit != u->id)
				continue;
			ne->id = e;
			ne->family = le->family;
			memcpy(ne->addr, le->daddr, 16);
			memcpy(ne->nexthop, le->nexthop, 16);
			addr_name(le->family, le->daddr, ne->name, sizeof(ne->name));
			ne->ifindex = le->ifindex;
			ne->forced = -1;
			ne->health = H_UNKNOWN;
			if (!if_indextoname(le->ifindex, ne->dev))
				snprintf(ne->dev, sizeof(ne->dev), "if%u", le->ifindex);
			for (int k = 0; k < n_old; k++)
				if (old[k].family == ne->family &&
				    !memcmp(old[k].addr, ne->addr, 16) && old[k].ifindex == ne->ifindex) {
					ne->link_up = old[k].link_up;
					ne->link_gone = old[k].link_gone;
					ne->forced = old[k].forced;
					ne->forced_real = old[k].forced_real;
					ne->health = old[k].health;
					known = true;
				}
			if (!known)
				endpoint_link(ne);
			n++;
		}
		u->n_eps = n;
		free(old);
	}
	/* targets: one per check and endpoint (or per unit for fixed addresses) */
	for (int i = 0; i < a->n_targets; i++)
		a->targets[i]->used = false;
	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];
		const struct cg_check *checks;
		int nc;

		if (!monitored(u))
			continue;
		checks = unit_checks(a, u, &nc);
		for (int c = 0; c < nc; c++) {
			bool per_ep = checks[c].type == CG_CHECK_TUNNEL || !checks[c].has_addr;

			for (int e = 0; e < (per_ep ? u->n_eps : 1); e++) {
				struct ag_endpoint *ep = per_ep ? &u->eps[e] : NULL;
				struct ag_target *tg = find_target(a, i, ep, c);

				if (!tg)
					tg = new_target(a, i, per_ep ? e : -1, c, &checks[c]);
				if (!tg)
					continue;
				tg->used = true;
				tg->ep = per_ep ? e : -1;
				aim(a, tg, ep, &checks[c]);
			}
		}
	}
	for (int i = 0; i < a->n_targets;) {
		struct ag_target *tg = a->targets[i];

		if (tg->used) {
			i++;
			continue;
		}
		cg_probe_close(&a->prober, &tg->p);
		free(tg);
		a->targets[i] = a->targets[--a->n_targets];
	}
	a->dirty = true;
}

/* Re-read the live generation if it changed. Called with lock held. */
static int refresh(struct agent *a, bool force)
{
	struct cg_gen g;
	int err = cg_dp_read_gen(a->dp, &g);

	if (err)
		return err;
	if (!force && g.generation == a->live->gen.generation && g.hash == a->live->gen.hash)
		return 0;
	err = cg_dp_read_active(a->dp, a->live);
	if (err)
		return err;
	sync_model(a);
	return 1;
}

/* ---- results ---- */

static void on_result(void *ctx, struct cg_probe_target *pt, bool ok, __u64 sent_real,
		      __u64 sent_mono, __u64 rtt_ns, const char *why)
{
	struct agent *a = ctx;
	struct ag_target *t = (struct ag_target *)pt;

	if (ok) {
		t->ok_total++;
		t->ok_run++;
		t->fail_run = 0;
		t->last_rtt_ns = rtt_ns;
		t->why = NULL;
		cg_hist_observe(&t->hist, rtt_ns / 1e9);
		/* a fresh agent trusts the first answer; a failed target needs rise */
		if (t->health == H_UNKNOWN || (t->health == H_DOWN && t->ok_run >= (__u32)a->cfg->rise))
			t->health = H_UP;
	} else {
		t->fail_total++;
		if (!t->fail_run)
			t->first_fail_real = sent_real;
		t->fail_run++;
		t->ok_run = 0;
		t->why = why;
		if (t->health != H_DOWN && t->fail_run >= (__u32)a->cfg->fall)
			t->health = H_DOWN;
	}
	a->dirty = true;
	(void)sent_mono;
}

/* An event took an endpoint down: its targets are down until they rise. */
static void force_down(struct agent *a, struct ag_unit *u, int e, int cause, __u64 real)
{
	struct ag_endpoint *ep = &u->eps[e];

	if (ep->forced < 0) {
		ep->forced = cause;
		ep->forced_real = real;
	}
	for (int i = 0; i < a->n_targets; i++) {
		struct ag_target *t = a->targets[i];

		if (&a->units[t->unit] != u || t->ep != e)
			continue;
		if (!t->fail_run)
			t->first_fail_real = real;
		if (t->fail_run < (__u32)a->cfg->fall)
			t->fail_run = (__u32)a->cfg->fall;
		t->ok_run = 0;
		t->health = H_DOWN;
	}
	a->dirty = true;
}

static void on_link(void *ctx, int ifindex, bool up, bool gone)
{
	struct agent *a = ctx;
	__u64 now = cg_real_ns();

	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];

		for (int e = 0; e < u->n_eps; e++) {
			struct ag_endpoint *ep = &u->eps[e];
			bool was = ep->link_up && !ep->link_gone;

			if ((int)ep->ifindex != ifindex)
				continue;
			ep->link_up = up;
			ep->link_gone = gone;
			if (was && !up)
				force_down(a, u, e, C_LINK, now);
			a->dirty = true;
		}
	}
}

static void on_neigh_failed(void *ctx, int ifindex, int family, const __be32 *addr)
{
	struct agent *a = ctx;

	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];

		for (int e = 0; e < u->n_eps; e++)
			if ((int)u->eps[e].ifindex == ifindex && u->eps[e].family == family &&
			    !memcmp(u->eps[e].nexthop, addr, addr_len(family)) &&
			    u->eps[e].health != H_DOWN)
				force_down(a, u, e, C_NEIGH, cg_real_ns());
	}
}

static void resync_links(struct agent *a)
{
	for (int i = 0; i < a->n_units; i++)
		for (int e = 0; e < a->units[i].n_eps; e++) {
			struct ag_endpoint *ep = &a->units[i].eps[e];
			bool was = ep->link_up && !ep->link_gone;

			endpoint_link(ep);
			if (was && (!ep->link_up || ep->link_gone))
				force_down(a, &a->units[i], e, C_LINK, cg_real_ns());
		}
}

/* Targets that could not probe (no local address to answer to yet): try
 * again, addresses come and go with links. */
static void reaim(struct agent *a)
{
	for (int i = 0; i < a->n_targets; i++) {
		struct ag_target *t = a->targets[i];
		struct ag_unit *u = &a->units[t->unit];
		const struct cg_check *checks;
		int nc;

		if (!t->p.error[0])
			continue;
		checks = unit_checks(a, u, &nc);
		if (t->check < nc)
			aim(a, t, t->ep >= 0 ? &u->eps[t->ep] : NULL, &checks[t->check]);
	}
}

static void on_overrun(void *ctx)
{
	resync_links(ctx);
}

/* ---- health ---- */

static double penalty_now(const struct agent *a, const struct ag_unit *u, __u64 now)
{
	double dt = (double)(now - u->penalty_mono) / 1e6;

	return u->penalty * pow(2.0, -dt / (double)a->cfg->damp_half_life_ms);
}

static void unit_health(struct agent *a, struct ag_unit *u)
{
	int need, n_up = 0, n_down = 0, unit_up = 0, unit_down = 0, n_unit = 0, h;
	__u64 now = cg_mono_ns(), first = 0;
	int cause = C_PROBE;

	for (int e = 0; e < u->n_eps; e++) {
		struct ag_endpoint *ep = &u->eps[e];
		int up = 0, down = 0, n = 0;

		for (int i = 0; i < a->n_targets; i++) {
			struct ag_target *t = a->targets[i];

			if (&a->units[t->unit] != u || t->ep != e)
				continue;
			n++;
			up += t->health == H_UP;
			down += t->health == H_DOWN;
			if (t->health == H_DOWN && (!first || t->first_fail_real < first))
				first = t->first_fail_real;
		}
		if (!ep->link_up || ep->link_gone)
			ep->health = H_DOWN;
		else if (down)
			ep->health = H_DOWN;
		else
			ep->health = up == n ? H_UP : H_UNKNOWN;
		if (ep->health == H_UP)
			ep->forced = -1;
		if (ep->health == H_DOWN && ep->forced >= 0) {
			cause = ep->forced;
			if (!first || ep->forced_real < first)
				first = ep->forced_real;
		} else if (ep->health == H_DOWN && (!ep->link_up || ep->link_gone)) {
			cause = C_LINK;
		}
		n_up += ep->health == H_UP;
		n_down += ep->health == H_DOWN;
	}
	for (int i = 0; i < a->n_targets; i++) {
		struct ag_target *t = a->targets[i];

		if (&a->units[t->unit] != u || t->ep >= 0)
			continue;
		n_unit++;
		unit_up += t->health == H_UP;
		unit_down += t->health == H_DOWN;
		if (t->health == H_DOWN && (!first || t->first_fail_real < first))
			first = t->first_fail_real;
	}
	need = u->cfg && u->cfg->min_healthy ? u->cfg->min_healthy : u->n_eps;
	if (need > u->n_eps)
		need = u->n_eps;
	if (unit_down || u->n_eps - n_down < need || (!u->n_eps && !n_unit))
		h = u->n_eps || n_unit ? H_DOWN : H_UNKNOWN;
	else if (unit_up == n_unit && n_up >= need)
		h = H_UP;
	else
		h = H_UNKNOWN;
	if (h == u->health)
		return;
	if (h == H_DOWN) {
		char eps[160] = "";

		for (int e = 0; e < u->n_eps; e++)
			if (u->eps[e].health == H_DOWN)
				snprintf(eps + strlen(eps), sizeof(eps) - strlen(eps), "%s%s",
					 eps[0] ? " " : "", u->eps[e].name);
		u->cause = cause;
		u->first_fail_real = first ? first : cg_real_ns();
		u->detected_real = cg_real_ns();
		u->detected_mono = now;
		u->refused = R_NONE;
		u->downs++;
		snprintf(u->detail, sizeof(u->detail), "%s down: %s", cause_names[cause],
			 eps[0] ? eps : "unit checks");
		if (u->health == H_UP) { /* a flap: the penalty grows, decays with time */
			u->penalty = penalty_now(a, u, now) + a->cfg->damp_penalty;
			if (u->penalty > a->cfg->damp_max)
				u->penalty = a->cfg->damp_max;
			u->penalty_mono = now;
			if (!u->suppressed && u->penalty >= a->cfg->damp_suppress) {
				u->suppressed = true;
				note(a, "%s is flapping (penalty %.0f >= %.0f): it will not be restored until the penalty decays below %.0f",
				     u->name, u->penalty, a->cfg->damp_suppress, a->cfg->damp_reuse);
			}
		}
		cg_hist_observe(&a->detect_hist[cause], (u->detected_real - u->first_fail_real) / 1e9);
		note(a, "%s is down (%s; first failure %.1f ms before detection)", u->name, u->detail,
		     (u->detected_real - u->first_fail_real) / 1e6);
	} else if (h == H_UP) {
		u->overridden = false;
		u->refused = R_NONE;
		if (u->health == H_DOWN) {
			u->recovered_mono = now;
			note(a, "%s is up again", u->name);
		}
	}
	u->health = h;
	u->since_mono = now;
	u->since_real = cg_real_ns();
}

/* ---- guards ---- */

/* Percent of core buckets each unit serves, services weighted equally. */
static void shares(const struct cg_tables *t, double *out)
{
	int n = 0;

	memset(out, 0, sizeof(double) * CG_MAX_UNITS);
	for (int s = 0; s < t->n_services; s++) {
		const struct cg_service *svc = &t->services[s];

		if (svc->kind != CG_KIND_CORE || !svc->modulo)
			continue;
		n++;
		for (__u32 b = 0; b < svc->modulo; b++) {
			__u16 u = t->buckets[svc->bucket_base + b].unit;

			if (u < CG_MAX_UNITS)
				out[u] += 100.0 / svc->modulo;
		}
	}
	for (int u = 0; n && u < CG_MAX_UNITS; u++)
		out[u] /= n;
}

/* The most a unit may serve: its own max_share, else factor x weight share. */
static double max_share(const struct agent *a, const struct cg_tables *t, int id)
{
	const struct ag_unit *u = NULL;
	double total = 0, m;

	for (int i = 0; i < a->n_units; i++)
		if (a->units[i].id == id)
			u = &a->units[i];
	if (u && u->cfg && u->cfg->max_share)
		return u->cfg->max_share;
	if (!a->cfg->capacity_factor)
		return 100;
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED)
			total += t->units[i].weight ? t->units[i].weight : 1;
	m = a->cfg->capacity_factor * 100.0 * (t->units[id].weight ? t->units[id].weight : 1) / total;
	return m > 100 ? 100 : m;
}

/* Would evacuating unit id push a survivor past its share? */
static bool over_capacity(struct agent *a, int id, char *why, size_t len)
{
	static double before[CG_MAX_UNITS], after[CG_MAX_UNITS];
	struct cg_tables *s = a->sim, *t = a->live;
	struct cg_errors errs = {};

	s->gen = t->gen;
	s->n_services = t->n_services;
	memcpy(s->services, t->services, sizeof(t->services));
	memcpy(s->units, t->units, sizeof(t->units));
	s->buckets_used = t->buckets_used;
	memcpy(s->buckets, t->buckets, (size_t)t->buckets_used * sizeof(*t->buckets));
	s->units[id].state = CG_UNIT_EVACUATED;
	if (cg_tables_reassign(s, &errs)) {
		snprintf(why, len, "cannot compute the move: %s", errs.n ? errs.msgs[0] : "?");
		cg_errors_free(&errs);
		return true;
	}
	shares(t, before);
	shares(s, after);
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		double m;

		if (s->units[u].state != CG_UNIT_SERVING || after[u] <= before[u] + 1e-9)
			continue;
		m = max_share(a, t, u);
		if (after[u] > m + 1e-9) {
			snprintf(why, len,
				 "%s would serve %.1f%% of the core buckets (now %.1f%%), more than its capacity of %.1f%%",
				 s->units[u].name, after[u], before[u], m);
			return true;
		}
	}
	return false;
}

/* ---- actions ---- */

static char *timeline(const struct ag_unit *u, __u64 decision_real)
{
	char first[40], det[40];
	json_t *j;
	char *s;

	iso_time(u->first_fail_real, first, sizeof(first));
	iso_time(u->detected_real, det, sizeof(det));
	j = json_pack("{s:s, s:s, s:s, s:I, s:s, s:I, s:I, s:f}", "cause", cause_names[u->cause],
		      "detail", u->detail, "first_failure", first, "first_failure_ns",
		      (json_int_t)u->first_fail_real, "detected", det, "detected_ns",
		      (json_int_t)u->detected_real, "decision_ns", (json_int_t)decision_real,
		      "detection_ms", (u->detected_real - u->first_fail_real) / 1e6);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

static void refuse(struct agent *a, struct ag_unit *u, int reason, const char *why, __u64 decision)
{
	struct cg_op_opts o = { .scope.unit = u->name, .who = "agent", .automatic = true };
	struct cg_errors errs = {};
	char *extra;

	if (u->refused == reason)
		return; /* once per episode and reason */
	u->refused = reason;
	u->refusals[reason]++;
	note(a, "%s: not evacuating (%s): %s", u->name, refusal_names[reason], why);
	if (reason == R_OPS)
		return; /* ops wrote its own audit record */
	extra = timeline(u, decision);
	if (extra) {
		json_t *j = json_loads(extra, 0, NULL);

		json_object_set_new(j, "guard", json_string(refusal_names[reason]));
		free(extra);
		extra = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
		json_decref(j);
	}
	o.audit_extra = extra;
	cg_errors_add(&errs, "%s", why);
	cg_audit(a->instance, "evacuate", &o, NULL, &errs, 0);
	cg_errors_free(&errs);
	free(extra);
}

/*
 * A stand-in must be up and have answered its latest probes: units that
 * fail together (a partition of the gateway, a shared dependency) start
 * failing within a probe round or two of each other, and none of them may
 * be counted as a survivor of another.
 */
static bool healthy_now(const struct agent *a, const struct ag_unit *u)
{
	if (u->health != H_UP)
		return false;
	/* back from down: not trusted with its own traffic before the
	 * hold-down, so not with another unit's either (after an outage of
	 * every unit, the last to recover must not be evacuated onto the
	 * first ones) */
	if (u->recovered_mono && cg_mono_ns() - u->recovered_mono < a->cfg->hold_down_ms * 1000000ull)
		return false;
	for (int i = 0; i < a->n_targets; i++)
		if (&a->units[a->targets[i]->unit] == u && a->targets[i]->fail_run)
			return false;
	for (int e = 0; e < u->n_eps; e++)
		if (!u->eps[e].link_up || u->eps[e].link_gone)
			return false;
	return true;
}

static void try_evacuate(struct agent *a, struct ag_unit *u)
{
	struct cg_op_opts o = { .scope.unit = u->name, .who = "agent", .automatic = true };
	struct cg_errors errs = {};
	struct cg_op_result r;
	__u64 decision = cg_real_ns();
	int survivors = 0, auto_out = 0;
	char why[256];
	char *extra;

	if (u->refused == R_OPS && u->refused_gen == a->live->gen.generation)
		return; /* ops refused this generation already */
	for (int i = 0; i < a->n_units; i++) {
		const struct ag_unit *v = &a->units[i];

		if (v == u || v->id < 0)
			continue;
		survivors += v->dp_state == CG_UNIT_SERVING && healthy_now(a, v);
		auto_out += v->dp_state == CG_UNIT_EVACUATED && !(v->dp_flags & CG_UNIT_F_MANUAL);
	}
	if (!survivors) {
		refuse(a, u, R_NO_SURVIVOR, "no other unit is serving and healthy: keeping the last good generation (fail static)",
		       decision);
		return;
	}
	if (auto_out >= a->cfg->max_evacuated) {
		snprintf(why, sizeof(why), "%d unit%s already evacuated by the agent (max_evacuated %d)",
			 auto_out, auto_out == 1 ? " is" : "s are", a->cfg->max_evacuated);
		refuse(a, u, R_BOUND, why, decision);
		return;
	}
	if (!a->cfg->force_capacity && over_capacity(a, u->id, why, sizeof(why))) {
		refuse(a, u, R_CAPACITY, why, decision);
		return;
	}
	extra = timeline(u, decision);
	o.audit_extra = extra;
	o.expect_generation = a->live->gen.generation;
	if (cg_op_evacuate(a->dp, &o, &r, &errs)) {
		u->refused_gen = a->live->gen.generation;
		refuse(a, u, R_OPS, errs.n ? errs.msgs[0] : "refused", decision);
	} else {
		__u64 pub = r.published_ns ? r.published_ns : cg_real_ns();

		u->evacuations[u->cause]++;
		u->expect_state = CG_UNIT_EVACUATED;
		cg_hist_observe(&a->react_hist, (pub - u->detected_real) / 1e9);
		note(a, "evacuated %s: %s; first failure -> detection %.1f ms, -> publish %.1f ms; generation %llu, %u buckets moved",
		     u->name, u->detail, (u->detected_real - u->first_fail_real) / 1e6,
		     (pub - u->first_fail_real) / 1e6, (unsigned long long)r.gen_after, r.moved);
		refresh(a, true);
	}
	cg_errors_free(&errs);
	free(extra);
}

static __u32 unit_ok_run(const struct agent *a, const struct ag_unit *u)
{
	__u32 m = UINT32_MAX;

	for (int i = 0; i < a->n_targets; i++)
		if (&a->units[a->targets[i]->unit] == u && a->targets[i]->ok_run < m)
			m = a->targets[i]->ok_run;
	return m;
}

static void try_restore(struct agent *a, struct ag_unit *u)
{
	struct cg_op_opts o = {
		.scope.unit = u->name,
		.who = "agent",
		.automatic = true,
		.deadline_ms = a->cfg->handover_ms,
		.fence_ms = a->cfg->fence_ms,
		.fence_action = a->cfg->fence_action,
	};
	struct cg_errors errs = {};
	struct cg_op_result r;
	__u64 now = cg_mono_ns();
	__u32 oks = unit_ok_run(a, u);
	char since[40];
	json_t *j;
	char *extra;

	if (now - u->since_mono < a->cfg->hold_down_ms * 1000000ull ||
	    oks < (__u32)a->cfg->restore_successes)
		return;
	if (u->suppressed) {
		double p = penalty_now(a, u, now);

		if (p >= a->cfg->damp_reuse)
			return;
		u->suppressed = false;
		note(a, "%s: flap penalty decayed to %.0f, below %.0f: it may be restored", u->name, p,
		     a->cfg->damp_reuse);
	}
	if (u->refused == R_OPS && u->refused_gen == a->live->gen.generation)
		return;
	iso_time(u->since_real, since, sizeof(since));
	j = json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:I}", "cause", "healthy", "healthy_since",
		      since, "healthy_since_ns", (json_int_t)u->since_real, "successes",
		      (json_int_t)oks, "hold_down_ms", (json_int_t)a->cfg->hold_down_ms, "penalty",
		      penalty_now(a, u, now), "decision_ns", (json_int_t)cg_real_ns());
	extra = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	o.audit_extra = extra;
	o.expect_generation = a->live->gen.generation;
	if (cg_op_restore(a->dp, &o, &r, &errs)) {
		u->refused_gen = a->live->gen.generation;
		u->refused = R_OPS;
		note(a, "%s: not restoring: %s", u->name, errs.n ? errs.msgs[0] : "refused");
	} else {
		u->restores++;
		u->expect_state = CG_UNIT_SERVING;
		note(a, "restored %s: healthy for %.1f s, %u probes answered in a row; generation %llu, %u buckets moved%s",
		     u->name, (now - u->since_mono) / 1e9, oks, (unsigned long long)r.gen_after,
		     r.moved, r.fenced ? " (fenced)" : "");
		refresh(a, true);
	}
	cg_errors_free(&errs);
	free(extra);
}

/* Fold results into health, then act. Called with lock held. */
static void evaluate(struct agent *a)
{
	a->dirty = false;
	for (int i = 0; i < a->n_units; i++)
		if (monitored(&a->units[i]))
			unit_health(a, &a->units[i]);
	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];

		if (!monitored(u) || u->health != H_DOWN || u->overridden)
			continue;
		if (u->dp_state == CG_UNIT_SERVING || u->dp_state == CG_UNIT_DRAINING)
			try_evacuate(a, u);
	}
	for (int i = 0; i < a->n_units; i++) {
		struct ag_unit *u = &a->units[i];

		if (!monitored(u) || u->health != H_UP || !a->cfg->auto_restore)
			continue;
		if (u->dp_state == CG_UNIT_EVACUATED && !(u->dp_flags & CG_UNIT_F_MANUAL))
			try_restore(a, u);
	}
}

/* ---- /metrics and status ---- */

static void render_metrics(void *ctx, struct cg_prom *b)
{
	struct agent *a = ctx;
	char l[256];
	__u64 now = cg_mono_ns();

	pthread_mutex_lock(&a->lock);
	cg_metrics_dataplane(b, a->dp, a->live);

	cg_prom_family(b, "cellgate_agent_info", "gauge", "The agent serving these metrics");
	cg_prom_u64(b, "cellgate_agent_info",
		    cg_prom_labels(l, sizeof(l), "instance", a->instance, "version", CG_AGENT_VERSION,
				   NULL),
		    1);
	cg_prom_family(b, "cellgate_agent_start_time_seconds", "gauge", "When the agent started (Unix time)");
	cg_prom_f64(b, "cellgate_agent_start_time_seconds", "", a->started_real / 1e9);
	cg_prom_family(b, "cellgate_agent_probes_sent_total", "counter", "Probes sent, all targets");
	cg_prom_u64(b, "cellgate_agent_probes_sent_total", "", a->probes_sent);

	cg_prom_family(b, "cellgate_unit_health", "gauge",
		       "1 for the unit's health as the agent sees it (up, down, unknown)");
	for (int i = 0; i < a->n_units; i++) {
		const struct ag_unit *u = &a->units[i];

		if (u->id < 0)
			continue;
		for (int h = H_UNKNOWN; h <= H_DOWN; h++)
			cg_prom_u64(b, "cellgate_unit_health",
				    cg_prom_labels(l, sizeof(l), "unit", u->name, "health",
						   health_names[h], NULL),
				    monitored(u) && u->health == h);
	}
	cg_prom_family(b, "cellgate_unit_damping_penalty", "gauge",
		       "Flap damping penalty of the unit, decayed to now");
	for (int i = 0; i < a->n_units; i++)
		if (a->units[i].id >= 0)
			cg_prom_f64(b, "cellgate_unit_damping_penalty",
				    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, NULL),
				    penalty_now(a, &a->units[i], now));
	cg_prom_family(b, "cellgate_unit_suppressed", "gauge",
		       "1 while the unit is flap-damped: the agent does not restore it");
	for (int i = 0; i < a->n_units; i++)
		if (a->units[i].id >= 0)
			cg_prom_u64(b, "cellgate_unit_suppressed",
				    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, NULL),
				    a->units[i].suppressed);
	cg_prom_family(b, "cellgate_agent_evacuations_total", "counter",
		       "Automatic evacuations by unit and cause (probe, link, neighbour)");
	for (int i = 0; i < a->n_units; i++)
		for (int c = 0; c < C_MAX; c++)
			cg_prom_u64(b, "cellgate_agent_evacuations_total",
				    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, "cause",
						   cause_names[c], NULL),
				    a->units[i].evacuations[c]);
	cg_prom_family(b, "cellgate_agent_restores_total", "counter", "Automatic restores by unit");
	for (int i = 0; i < a->n_units; i++)
		cg_prom_u64(b, "cellgate_agent_restores_total",
			    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, NULL),
			    a->units[i].restores);
	cg_prom_family(b, "cellgate_agent_refusals_total", "counter",
		       "Automatic evacuations not done, by guard (no_survivor, bound, capacity, ops)");
	for (int i = 0; i < a->n_units; i++)
		for (int r = R_NO_SURVIVOR; r < R_MAX; r++)
			cg_prom_u64(b, "cellgate_agent_refusals_total",
				    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, "guard",
						   refusal_names[r], NULL),
				    a->units[i].refusals[r]);
	cg_prom_family(b, "cellgate_agent_detection_seconds", "histogram",
		       "First failed probe (or link event) to the unit declared down");
	for (int c = 0; c < C_MAX; c++)
		cg_prom_hist(b, "cellgate_agent_detection_seconds",
			     cg_prom_labels(l, sizeof(l), "cause", cause_names[c], NULL),
			     &a->detect_hist[c]);
	cg_prom_family(b, "cellgate_agent_reaction_seconds", "histogram",
		       "Unit declared down to the evacuation published");
	cg_prom_hist(b, "cellgate_agent_reaction_seconds", "", &a->react_hist);

	cg_prom_family(b, "cellgate_endpoint_health", "gauge",
		       "1 for the endpoint's health as the agent sees it (up, down, unknown)");
	for (int i = 0; i < a->n_units; i++)
		for (int e = 0; e < a->units[i].n_eps; e++)
			for (int h = H_UNKNOWN; h <= H_DOWN; h++)
				cg_prom_u64(b, "cellgate_endpoint_health",
					    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name,
							   "endpoint", a->units[i].eps[e].name,
							   "health", health_names[h], NULL),
					    a->units[i].eps[e].health == h);
	cg_prom_family(b, "cellgate_endpoint_link_up", "gauge",
		       "1 if the endpoint's egress interface is up with carrier");
	for (int i = 0; i < a->n_units; i++)
		for (int e = 0; e < a->units[i].n_eps; e++)
			cg_prom_u64(b, "cellgate_endpoint_link_up",
				    cg_prom_labels(l, sizeof(l), "unit", a->units[i].name, "endpoint",
						   a->units[i].eps[e].name, "dev",
						   a->units[i].eps[e].dev, NULL),
				    a->units[i].eps[e].link_up && !a->units[i].eps[e].link_gone);
	cg_prom_family(b, "cellgate_probes_total", "counter",
		       "Probes by target and result (ok, fail)");
	for (int i = 0; i < a->n_targets; i++) {
		const struct ag_target *t = a->targets[i];
		const struct ag_unit *u = &a->units[t->unit];
		const char *ep = t->ep >= 0 ? u->eps[t->ep].name : "";

		cg_prom_u64(b, "cellgate_probes_total",
			    cg_prom_labels(l, sizeof(l), "unit", u->name, "endpoint", ep, "check",
					   t->label, "result", "ok", NULL),
			    t->ok_total);
		cg_prom_u64(b, "cellgate_probes_total",
			    cg_prom_labels(l, sizeof(l), "unit", u->name, "endpoint", ep, "check",
					   t->label, "result", "fail", NULL),
			    t->fail_total);
	}
	cg_prom_family(b, "cellgate_probe_duration_seconds", "histogram",
		       "Round trip of answered probes");
	for (int i = 0; i < a->n_targets; i++) {
		const struct ag_target *t = a->targets[i];
		const struct ag_unit *u = &a->units[t->unit];

		cg_prom_hist(b, "cellgate_probe_duration_seconds",
			     cg_prom_labels(l, sizeof(l), "unit", u->name, "endpoint",
					    t->ep >= 0 ? u->eps[t->ep].name : "", "check", t->label,
					    NULL),
			     &t->hist);
	}
	pthread_mutex_unlock(&a->lock);
}

static json_t *target_json(const struct ag_target *t)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:i, s:I, s:I, s:f}", "check", t->label, "health",
			      health_names[t->health], "ok_run", (int)t->ok_run, "fail_run",
			      (int)t->fail_run, "ok", (json_int_t)t->ok_total, "fail",
			      (json_int_t)t->fail_total, "last_rtt_us", t->last_rtt_ns / 1e3);

	if (t->why)
		json_object_set_new(j, "last_error", json_string(t->why));
	if (t->p.error[0])
		json_object_set_new(j, "error", json_string(t->p.error));
	return j;
}

static char *status(void *ctx, const char *req)
{
	static const char *const states[] = { "unused", "serving", "draining", "evacuated" };
	struct agent *a = ctx;
	__u64 now = cg_mono_ns();
	json_t *j, *units, *events;
	char *s;

	if (*req && strcmp(req, "status"))
		return strdup("{\"error\": \"unknown request; try status\"}");
	pthread_mutex_lock(&a->lock);
	j = json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:i, s:i, s:I, s:i, s:i, s:f, s:b, s:s}",
		      "instance", a->instance, "pid", (int)getpid(), "started_ns",
		      (json_int_t)a->started_real, "generation", (json_int_t)a->live->gen.generation,
		      "interval_ms", (json_int_t)a->cfg->interval_ms, "timeout_ms",
		      (json_int_t)a->cfg->timeout_ms, "fall", a->cfg->fall, "rise", a->cfg->rise,
		      "hold_down_ms", (json_int_t)a->cfg->hold_down_ms, "restore_successes",
		      a->cfg->restore_successes, "max_evacuated", a->cfg->max_evacuated,
		      "capacity_factor", a->cfg->capacity_factor, "force_capacity",
		      a->cfg->force_capacity, "metrics", a->cfg->metrics);
	units = json_array();
	for (int i = 0; i < a->n_units; i++) {
		const struct ag_unit *u = &a->units[i];
		json_t *ju, *eps = json_array(), *checks = json_array();

		if (u->id < 0)
			continue;
		ju = json_pack("{s:s, s:s, s:b, s:b, s:s, s:f, s:f, s:b, s:b, s:f, s:I, s:I, s:I}", "name",
			       u->name, "state", states[u->dp_state & 3], "manual",
			       !!(u->dp_flags & CG_UNIT_F_MANUAL), "monitored", monitored(u), "health",
			       health_names[u->health], "health_for_s", (now - u->since_mono) / 1e9,
			       "penalty", penalty_now(a, u, now), "suppressed", u->suppressed,
			       "overridden", u->overridden, "max_share", max_share(a, a->live, u->id),
			       "evacuations",
			       (json_int_t)(u->evacuations[0] + u->evacuations[1] + u->evacuations[2]),
			       "restores", (json_int_t)u->restores, "downs", (json_int_t)u->downs);
		if (u->health == H_DOWN) {
			json_object_set_new(ju, "down", json_string(u->detail));
			json_object_set_new(ju, "detection_ms",
					    json_real((u->detected_real - u->first_fail_real) / 1e6));
		}
		if (u->refused)
			json_object_set_new(ju, "refused", json_string(refusal_names[u->refused]));
		for (int e = 0; e < u->n_eps; e++) {
			const struct ag_endpoint *ep = &u->eps[e];
			json_t *je = json_pack("{s:s, s:s, s:s, s:s}", "address", ep->name, "dev", ep->dev,
					       "link", ep->link_gone ? "gone" : ep->link_up ? "up" : "down",
					       "health", health_names[ep->health]);
			json_t *probes = json_array();

			for (int k = 0; k < a->n_targets; k++)
				if (&a->units[a->targets[k]->unit] == u && a->targets[k]->ep == e)
					json_array_append_new(probes, target_json(a->targets[k]));
			json_object_set_new(je, "probes", probes);
			json_array_append_new(eps, je);
		}
		for (int k = 0; k < a->n_targets; k++)
			if (&a->units[a->targets[k]->unit] == u && a->targets[k]->ep < 0)
				json_array_append_new(checks, target_json(a->targets[k]));
		json_object_set_new(ju, "endpoints", eps);
		json_object_set_new(ju, "checks", checks);
		json_array_append_new(units, ju);
	}
	json_object_set_new(j, "units", units);
	events = json_array();
	for (int k = a->n_events > AG_EVENTS ? a->n_events - AG_EVENTS : 0; k < a->n_events; k++) {
		const struct ag_event *e = &a->events[k % AG_EVENTS];
		char when[40];

		iso_time(e->real, when, sizeof(when));
		json_array_append_new(events, json_pack("{s:s, s:s}", "time", when, "event", e->text));
	}
	json_object_set_new(j, "events", events);
	pthread_mutex_unlock(&a->lock);
	s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	return s;
}

/* ---- the loop ---- */

static void on_signal(struct cg_ev *ev, __u32 events)
{
	struct agent *a = (struct agent *)((char *)ev - offsetof(struct agent, sig_ev));
	struct signalfd_siginfo si;

	while (read(ev->fd, &si, sizeof(si)) == sizeof(si))
		a->stop = true;
	(void)events;
}

static int run(struct agent *a)
{
	__u64 interval = a->cfg->interval_ms * 1000000ull, next_tick = cg_mono_ns();
	__u64 next_resync = next_tick + AG_RESYNC_MS * 1000000ull, wake = next_tick;
	struct epoll_event evs[64];

	while (!a->stop) {
		__u64 now = cg_mono_ns();
		int n, ms;

		ms = wake > now ? (int)((wake - now + 999999) / 1000000) : 0;
		n = epoll_wait(a->epfd, evs, 64, ms);
		if (n < 0 && errno != EINTR) {
			cg_err("agent: epoll_wait: %s\n", strerror(errno));
			return -errno;
		}
		pthread_mutex_lock(&a->lock);
		/* answers first: one that arrived while we were not running must
		 * not be taken for a timeout below */
		for (int i = 0; i < n; i++) {
			struct cg_ev *ev = evs[i].data.ptr;

			ev->fn(ev, evs[i].events);
		}
		now = cg_mono_ns();
		for (int i = 0; i < a->n_targets; i++)
			cg_probe_expire(&a->prober, &a->targets[i]->p, now);
		if (now >= next_tick) {
			/* one send time for the whole round: the probes of all
			 * targets time out together and are judged together */
			for (int i = 0; i < a->n_targets; i++)
				cg_probe_send(&a->prober, &a->targets[i]->p, now);
			a->probes_sent += (__u64)a->n_targets;
			next_tick += interval;
			if (next_tick <= now)
				next_tick = now + interval; /* we were late: skip, do not burst */
			if (refresh(a, false) < 0)
				cg_warn("agent: cannot read the live generation; will retry\n");
		}
		if (now >= next_resync) {
			resync_links(a);
			reaim(a);
			next_resync = now + AG_RESYNC_MS * 1000000ull;
		}
		if (a->dirty)
			evaluate(a);
		wake = next_tick;
		for (int i = 0; i < a->n_targets; i++) {
			__u64 d = cg_probe_deadline(&a->prober, &a->targets[i]->p);

			if (d && d < wake)
				wake = d;
		}
		pthread_mutex_unlock(&a->lock);
	}
	return 0;
}

static int agent_start(struct agent *a)
{
	struct epoll_event e = { .events = EPOLLIN };
	sigset_t mask;
	int err;

	a->started_real = cg_real_ns();
	pthread_mutex_init(&a->lock, NULL);
	err = cg_dp_open_pinned(a->instance, &a->dp);
	if (err)
		return err;
	err = cg_tables_alloc(&a->live, a->dp->bucket_slots);
	if (!err)
		err = cg_tables_alloc(&a->sim, a->dp->bucket_slots);
	if (err)
		return err;
	/* signals only through the signalfd, in every thread */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	a->epfd = epoll_create1(EPOLL_CLOEXEC);
	a->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (a->epfd < 0 || a->sigfd < 0)
		return -errno;
	a->sig_ev.fd = a->sigfd;
	a->sig_ev.fn = on_signal;
	e.data.ptr = &a->sig_ev;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, a->sigfd, &e))
		return -errno;
	err = cg_prober_init(&a->prober, a->epfd, a->cfg->timeout_ms * 1000000ull, on_result, a,
			     (struct cg_probe_target **)a->targets, &a->n_targets);
	if (err) {
		cg_err("agent: cannot open the probe sockets: %s (needs CAP_NET_RAW)\n", strerror(-err));
		return err;
	}
	a->nl.ctx = a;
	a->nl.link = on_link;
	a->nl.neigh_failed = on_neigh_failed;
	a->nl.overrun = on_overrun;
	err = cg_link_watch_open(&a->nl, a->epfd);
	if (err)
		return err;
	pthread_mutex_lock(&a->lock);
	err = refresh(a, true);
	pthread_mutex_unlock(&a->lock);
	if (err < 0) {
		cg_err("agent: cannot read the live generation of \"%s\": %s\n", a->instance,
		       cg_strerror(err));
		return err;
	}
	if (!a->live->gen.generation)
		cg_warn("agent: nothing published in \"%s\" yet; waiting for `cellgate apply`\n",
			a->instance);
	if (a->cfg->socket[0])
		snprintf(a->ctl_path, sizeof(a->ctl_path), "%s", a->cfg->socket);
	else
		cg_ctl_default_path(a->instance, a->ctl_path, sizeof(a->ctl_path));
	err = cg_ctl_start(a->ctl_path, status, a, &a->ctl);
	if (err)
		return err;
	if (a->cfg->metrics[0]) {
		err = cg_metrics_start(a->cfg->metrics, render_metrics, a, &a->metrics);
		if (err)
			return err;
	}
	return 0;
}

static void agent_stop(struct agent *a)
{
	cg_metrics_stop(a->metrics);
	cg_ctl_stop(a->ctl);
	for (int i = 0; i < a->n_targets; i++) {
		cg_probe_close(&a->prober, &a->targets[i]->p);
		free(a->targets[i]);
	}
	free(a->targets);
	for (int i = 0; i < a->n_units; i++)
		free(a->units[i].eps);
	cg_link_watch_close(&a->nl);
	cg_prober_close(&a->prober);
	if (a->sigfd >= 0)
		close(a->sigfd);
	if (a->epfd >= 0)
		close(a->epfd);
	cg_tables_free(a->live);
	cg_tables_free(a->sim);
	cg_dp_close(a->dp);
}

/* ---- the command ---- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: cellgate [-i INSTANCE] agent [--config FILE] [--metrics ADDR:PORT|off] [--socket PATH]\n"
		"         [--interval D] [--timeout D] [--fall N] [--rise N] [--hold-down D]\n"
		"         [--max-evacuated N] [--force-capacity]\n"
		"       cellgate [-i INSTANCE] [-j] agent status [--socket PATH]\n"
		"Runs in the foreground; the dataplane keeps forwarding when it stops. See docs/operations.md.\n");
}

static int status_cmd(const char *instance, bool json, int argc, char **argv)
{
	static const struct option opts[] = { { "socket", required_argument, NULL, 's' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	char path[108], *reply = NULL;
	json_t *j;
	int c, err;

	cg_ctl_default_path(instance, path, sizeof(path));
	while ((c = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		if (c == 's') {
			snprintf(path, sizeof(path), "%s", optarg);
		} else if (c == 'h') {
			usage(stdout);
			return 0;
		} else {
			return 2;
		}
	}
	err = cg_ctl_request(path, "status", &reply);
	if (err) {
		cg_err("no agent answers on %s: %s (is `cellgate -i %s agent` running?)\n", path,
		       strerror(-err), instance);
		return 1;
	}
	j = json_loads(reply, 0, NULL);
	if (!j || json_object_get(j, "error")) {
		cg_err("agent: %s\n", j ? json_string_value(json_object_get(j, "error")) : reply);
		json_decref(j);
		free(reply);
		return 1;
	}
	if (json) {
		fputs(reply, stdout);
	} else {
		size_t i, k;
		json_t *u, *ev;

		printf("agent of %s (pid %lld): generation %lld, probes every %lld ms (timeout %lld ms, fall %lld, rise %lld)\n",
		       json_string_value(json_object_get(j, "instance")),
		       json_integer_value(json_object_get(j, "pid")),
		       json_integer_value(json_object_get(j, "generation")),
		       json_integer_value(json_object_get(j, "interval_ms")),
		       json_integer_value(json_object_get(j, "timeout_ms")),
		       json_integer_value(json_object_get(j, "fall")),
		       json_integer_value(json_object_get(j, "rise")));
		printf("restore after %lld ms healthy and %lld answers in a row; at most %lld unit(s) evacuated by the agent\n\n",
		       json_integer_value(json_object_get(j, "hold_down_ms")),
		       json_integer_value(json_object_get(j, "restore_successes")),
		       json_integer_value(json_object_get(j, "max_evacuated")));
		printf("%-16s %-10s %-8s %9s %8s %-6s %9s  %s\n", "UNIT", "STATE", "HEALTH", "FOR",
		       "PENALTY", "DAMPED", "MAX_SHARE", "NOTE");
		json_array_foreach(json_object_get(j, "units"), i, u) {
			const char *down = json_string_value(json_object_get(u, "down"));
			const char *ref = json_string_value(json_object_get(u, "refused"));
			char note_s[200];

			snprintf(note_s, sizeof(note_s), "%s%s%s%s%s",
				 json_is_true(json_object_get(u, "manual")) ? "manual " : "",
				 json_is_true(json_object_get(u, "overridden")) ? "operator-restored " : "",
				 down ? down : "", ref ? " refused: " : "", ref ? ref : "");
			printf("%-16s %-10s %-8s %8.1fs %8.0f %-6s %8.1f%%  %s\n",
			       json_string_value(json_object_get(u, "name")),
			       json_string_value(json_object_get(u, "state")),
			       json_string_value(json_object_get(u, "health")),
			       json_number_value(json_object_get(u, "health_for_s")),
			       json_number_value(json_object_get(u, "penalty")),
			       json_is_true(json_object_get(u, "suppressed")) ? "yes" : "no",
			       json_number_value(json_object_get(u, "max_share")), note_s);
		}
		printf("\n%-16s %-24s %-10s %-5s %-28s %-7s %9s %9s %10s\n", "UNIT", "ENDPOINT", "DEV",
		       "LINK", "CHECK", "HEALTH", "OK", "FAIL", "RTT_US");
		json_array_foreach(json_object_get(j, "units"), i, u) {
			json_t *ep, *pr;
			size_t e;

			json_array_foreach(json_object_get(u, "endpoints"), e, ep) {
				json_array_foreach(json_object_get(ep, "probes"), k, pr)
					printf("%-16s %-24s %-10s %-5s %-28s %-7s %9lld %9lld %10.1f\n",
					       json_string_value(json_object_get(u, "name")),
					       json_string_value(json_object_get(ep, "address")),
					       json_string_value(json_object_get(ep, "dev")),
					       json_string_value(json_object_get(ep, "link")),
					       json_string_value(json_object_get(pr, "check")),
					       json_string_value(json_object_get(pr, "health")),
					       json_integer_value(json_object_get(pr, "ok")),
					       json_integer_value(json_object_get(pr, "fail")),
					       json_number_value(json_object_get(pr, "last_rtt_us")));
				if (!json_array_size(json_object_get(ep, "probes")))
					printf("%-16s %-24s %-10s %-5s %-28s %-7s\n",
					       json_string_value(json_object_get(u, "name")),
					       json_string_value(json_object_get(ep, "address")),
					       json_string_value(json_object_get(ep, "dev")),
					       json_string_value(json_object_get(ep, "link")), "(link only)",
					       json_string_value(json_object_get(ep, "health")));
			}
			json_array_foreach(json_object_get(u, "checks"), k, pr)
				printf("%-16s %-24s %-10s %-5s %-28s %-7s %9lld %9lld %10.1f\n",
				       json_string_value(json_object_get(u, "name")), "(unit)", "", "",
				       json_string_value(json_object_get(pr, "check")),
				       json_string_value(json_object_get(pr, "health")),
				       json_integer_value(json_object_get(pr, "ok")),
				       json_integer_value(json_object_get(pr, "fail")),
				       json_number_value(json_object_get(pr, "last_rtt_us")));
		}
		ev = json_object_get(j, "events");
		if (json_array_size(ev)) {
			printf("\nrecent events:\n");
			for (i = json_array_size(ev) > 10 ? json_array_size(ev) - 10 : 0;
			     i < json_array_size(ev); i++)
				printf("  %s %s\n",
				       json_string_value(json_object_get(json_array_get(ev, i), "time")),
				       json_string_value(json_object_get(json_array_get(ev, i), "event")));
		}
	}
	json_decref(j);
	free(reply);
	return 0;
}

static int parse_count(const char *opt, const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		cg_err("%s: \"%s\" is not a number in %d..%d\n", opt, s, min, max);
		return -1;
	}
	*out = (int)v;
	return 0;
}

static int parse_ms(const char *opt, const char *s, __u64 min, __u64 max, __u64 *out)
{
	if (cg_parse_duration_ms(s, out) || *out == CG_FENCE_UNTIL_RELEASE || *out < min ||
	    *out > max) {
		cg_err("%s: \"%s\" is not a duration in %llu ms..%llu ms (\"50ms\", \"2s\")\n", opt, s,
		       (unsigned long long)min, (unsigned long long)max);
		return -1;
	}
	return 0;
}

int cg_agent_cmd(const char *instance, bool json, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "socket", required_argument, NULL, 's' },
		{ "interval", required_argument, NULL, 'I' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "fall", required_argument, NULL, 'F' },
		{ "rise", required_argument, NULL, 'R' },
		{ "hold-down", required_argument, NULL, 'H' },
		{ "max-evacuated", required_argument, NULL, 'M' },
		{ "force-capacity", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static struct agent a; /* large; one per process */
	struct cg_agent_config cfg;
	struct cg_errors errs = {};
	const char *file = NULL;
	char *metrics = NULL, *sock = NULL;
	__u64 interval = 0, timeout = 0, hold = 0;
	int fall = 0, rise = 0, maxev = 0, c, err;
	bool force = false;

	if (argc >= 2 && !strcmp(argv[1], "status"))
		return status_cmd(instance, json, argc - 1, argv + 1);
	while ((c = getopt_long(argc, argv, "c:m:s:I:T:F:R:H:M:fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			file = optarg;
			break;
		case 'm':
			metrics = optarg;
			break;
		case 's':
			sock = optarg;
			break;
		case 'I':
			if (parse_ms("--interval", optarg, 10, 10000, &interval))
				return 2;
			break;
		case 'T':
			if (parse_ms("--timeout", optarg, 1, 60000, &timeout))
				return 2;
			break;
		case 'F':
			if (parse_count("--fall", optarg, 1, 1000, &fall))
				return 2;
			break;
		case 'R':
			if (parse_count("--rise", optarg, 1, 1000, &rise))
				return 2;
			break;
		case 'H':
			if (parse_ms("--hold-down", optarg, 0, 86400000, &hold))
				return 2;
			break;
		case 'M':
			if (parse_count("--max-evacuated", optarg, 1, CG_MAX_UNITS, &maxev))
				return 2;
			break;
		case 'f':
			force = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		cg_err("agent: unexpected argument \"%s\"\n", argv[optind]);
		return 2;
	}
	cg_agent_config_defaults(&cfg);
	if (file && cg_agent_config_load(file, &cfg, &errs)) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "%s: %s\n", file, errs.msgs[i]);
		fprintf(stderr, "cellgate: %s: %d error%s, agent not started\n", file, errs.n,
			errs.n == 1 ? "" : "s");
		cg_errors_free(&errs);
		cg_agent_config_free(&cfg);
		return 1;
	}
	/* the command line wins over the file */
	if (metrics)
		snprintf(cfg.metrics, sizeof(cfg.metrics), "%s", strcmp(metrics, "off") ? metrics : "");
	if (sock)
		snprintf(cfg.socket, sizeof(cfg.socket), "%s", sock);
	if (interval)
		cfg.interval_ms = interval;
	if (timeout)
		cfg.timeout_ms = timeout;
	if (fall)
		cfg.fall = fall;
	if (rise)
		cfg.rise = rise;
	if (hold)
		cfg.hold_down_ms = hold;
	if (maxev)
		cfg.max_evacuated = maxev;
	if (force)
		cfg.force_capacity = true;
	if (!cfg.timeout_ms)
		cfg.timeout_ms = cfg.interval_ms;
	if (cfg.timeout_ms >= cfg.interval_ms * (CG_PROBE_WINDOW - 1)) {
		cg_err("agent: the probe timeout (%llu ms) must be shorter than %d intervals\n",
		       (unsigned long long)cfg.timeout_ms, CG_PROBE_WINDOW - 1);
		cg_agent_config_free(&cfg);
		return 2;
	}
	memset(&a, 0, sizeof(a));
	a.instance = instance;
	a.cfg = &cfg;
	a.epfd = a.sigfd = -1;
	err = agent_start(&a);
	if (!err) {
		note(&a, "agent of %s started (pid %d): generation %llu, %d units, %d probe targets, every %llu ms; control socket %s%s%s",
		     instance, (int)getpid(), (unsigned long long)a.live->gen.generation, a.n_units,
		     a.n_targets, (unsigned long long)cfg.interval_ms, a.ctl_path,
		     cfg.metrics[0] ? ", metrics http://" : "", cfg.metrics[0] ? cfg.metrics : "");
		err = run(&a);
		note(&a, "agent of %s stopping; the dataplane keeps generation %llu", instance,
		     (unsigned long long)a.live->gen.generation);
	}
	agent_stop(&a);
	cg_agent_config_free(&cfg);
	return err ? 1 : 0;
}
