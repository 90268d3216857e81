// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of the unitization policy (issue 3): source-prefix pins,
 * canary, fences (drop, reject, expiry), drain, restore handover,
 * missing-key actions, shared and global services and their standby.
 *
 * Each scenario publishes the base configuration below on the steering
 * object's maps, changes it the way an operator would (through the
 * operations library, user/ops.h, on an object-backed handle) or edits
 * the live tables where the CLI has no knob (a deadline already in the
 * past), then runs packets through BPF_PROG_TEST_RUN, once on the XDP
 * program and once on the tc program. Every packet is checked for its
 * verdict, its exact output (the encapsulation to the expected unit's
 * endpoint, or the exact RST / ICMP reply of selftests/lib/reply.c) and
 * the exact counter deltas (cg_reasons, unit, service and endpoint
 * counters, cg_flows entries).
 *
 * Expected units are written in the cases from the configuration, not
 * read from the tables; pins and canaries come from the config file's own
 * "pins" and "canary" keys (docs/config.md).
 *
 * Usage: test_policy [SUBSTRING]  (only cases whose name contains it)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cellgate.h"
#include "cg_hash.h"
#include "config.h"
#include "ops.h"
#include "tables.h"
#include "steer.skel.h"
#include "pkt.h"
#include "reply.h"
#include "testlib.h"

#define PROG "test_policy"
#define INGRESS_IFINDEX 1 /* lo of a private namespace: endpoints leave by XDP_TX */
#define BUCKET_SLOTS 65536 /* per bank; the base config uses 50500 */

/* ---- addresses (RFC 2544 / RFC 3849 only) ---- */
#define C4 "198.18.0.10" /* client */
#define C6 "2001:db8::10"
#define R4 "198.18.0.1" /* a router sending ICMP errors */
#define PIN4 "198.18.100.1"
#define PIN6 "2001:db8:100::1"
#define CAN4 "198.18.100.2"
#define FEN4 "198.18.100.4"
#define FEN6 "2001:db8:100::4"
#define DRN4 "198.18.100.5"
#define DRN6 "2001:db8:100::5"
#define PAY4 "198.18.100.6"
#define SHR4 "198.18.100.7"
#define GLOB4 "198.18.100.8"
#define GLOB6 "2001:db8:100::8"

/*
 * dc-a central (standby dc-b); dc-c is this gateway's unit (standby dc-d,
 * an IPv6 endpoint); dc-e takes pins and canaries; dc-f (standby dc-b) owns
 * the services that are fenced, drained and restored.
 */
/* clang-format off */
static const char config_json[] =
	"{\"version\":1,\"seed\":305419896,\"local_unit\":\"dc-c\","
	"\"encap\":{\"source4\":\"198.18.250.0/24\",\"source6\":\"2001:db8:250::/112\"},"
	"\"units\":["
	"{\"name\":\"dc-a\",\"role\":\"central\",\"standby\":\"dc-b\",\"endpoints\":["
	"{\"address\":\"198.18.1.2\",\"mac\":\"02:00:00:00:01:02\"}]},"
	"{\"name\":\"dc-b\",\"endpoints\":[{\"address\":\"198.18.2.2\",\"mac\":\"02:00:00:00:02:02\"}]},"
	"{\"name\":\"dc-c\",\"standby\":\"dc-d\",\"endpoints\":["
	"{\"address\":\"198.18.3.2\",\"mac\":\"02:00:00:00:03:02\"}]},"
	"{\"name\":\"dc-d\",\"endpoints\":[{\"address\":\"2001:db8:4::2\",\"mac\":\"02:00:00:00:04:02\"}]},"
	"{\"name\":\"dc-e\",\"endpoints\":[{\"address\":\"198.18.5.2\",\"mac\":\"02:00:00:00:05:02\"}]},"
	"{\"name\":\"dc-f\",\"standby\":\"dc-b\",\"endpoints\":["
	"{\"address\":\"198.18.6.2\",\"mac\":\"02:00:00:00:06:02\"}]}"
	"],\"services\":["
	/* pins: C4 .10 is in the /24 and the /29 (longest wins); pins are per service */
	"{\"name\":\"pin4\",\"vip\":\"" PIN4 "\",\"port\":80,\"proto\":\"tcp\",\"ratios\":{\"dc-a\":100},"
	"\"pins\":[{\"prefix\":\"198.18.0.0/24\",\"unit\":\"dc-b\"},"
	"{\"prefix\":\"198.18.0.8/29\",\"unit\":\"dc-c\"},{\"prefix\":\"198.18.0.12\",\"unit\":\"dc-d\"}]},"
	"{\"name\":\"pinx4\",\"vip\":\"" PIN4 "\",\"port\":81,\"proto\":\"tcp\",\"ratios\":{\"dc-a\":100},"
	"\"pins\":[{\"prefix\":\"198.18.0.0/24\",\"unit\":\"dc-e\"}]},"
	"{\"name\":\"pin6\",\"vip\":\"" PIN6 "\",\"port\":80,\"proto\":\"tcp\",\"ratios\":{\"dc-a\":100},"
	"\"pins\":[{\"prefix\":\"2001:db8::/48\",\"unit\":\"dc-b\"},"
	"{\"prefix\":\"2001:db8::/64\",\"unit\":\"dc-d\"},{\"prefix\":\"2001:db8::12/128\",\"unit\":\"dc-e\"}]},"
	/* canaries: 10 % and 25 % of the buckets to dc-e */
	"{\"name\":\"canary\",\"vip\":\"" CAN4 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":1000,"
	"\"ratios\":{\"dc-a\":50,\"dc-b\":50},\"canary\":{\"unit\":\"dc-e\",\"percent\":10}},"
	"{\"name\":\"canpay\",\"vip\":\"" CAN4 "\",\"port\":9000,\"proto\":\"udp\",\"modulo\":1000,"
	"\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":2},"
	"\"rules\":[{\"buckets\":\"0-499\",\"unit\":\"dc-a\"},{\"buckets\":\"500-999\",\"unit\":\"dc-b\"}],"
	"\"canary\":{\"unit\":\"dc-e\",\"percent\":25}},"
	"{\"name\":\"fen4\",\"vip\":\"" FEN4 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"fenu4\",\"vip\":\"" FEN4 "\",\"port\":53,\"proto\":\"udp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"fen6\",\"vip\":\"" FEN6 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"fenu6\",\"vip\":\"" FEN6 "\",\"port\":53,\"proto\":\"udp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"drn4\",\"vip\":\"" DRN4 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"drnfull\",\"vip\":\"" DRN4 "\",\"port\":81,\"proto\":\"tcp\",\"modulo\":100,"
	"\"flow_table\":\"full\",\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"drnu\",\"vip\":\"" DRN4 "\",\"port\":53,\"proto\":\"udp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"drn6\",\"vip\":\"" DRN6 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-f\":100}},"
	"{\"name\":\"payflow\",\"vip\":\"" PAY4 "\",\"port\":9000,\"proto\":\"udp\","
	"\"key\":{\"source\":\"payload\",\"offset\":4,\"size\":4,\"missing\":\"flow\"},"
	"\"rules\":[{\"buckets\":\"0-4999\",\"unit\":\"dc-a\"},{\"buckets\":\"5000-9999\",\"unit\":\"dc-c\"}]},"
	"{\"name\":\"payrej\",\"vip\":\"" PAY4 "\",\"port\":9001,\"proto\":\"udp\","
	"\"key\":{\"source\":\"payload\",\"offset\":4,\"size\":4,\"missing\":\"reject\"},"
	"\"rules\":[{\"buckets\":\"0-4999\",\"unit\":\"dc-a\"},{\"buckets\":\"5000-9999\",\"unit\":\"dc-c\"}]},"
	"{\"name\":\"paycen\",\"vip\":\"" PAY4 "\",\"port\":9002,\"proto\":\"udp\","
	"\"key\":{\"source\":\"payload\",\"offset\":4,\"size\":4,\"missing\":\"central\"},"
	"\"rules\":[{\"buckets\":\"0-4999\",\"unit\":\"dc-c\"},{\"buckets\":\"5000-9999\",\"unit\":\"dc-e\"}]},"
	"{\"name\":\"shr\",\"vip\":\"" SHR4 "\",\"port\":8080,\"proto\":\"tcp\",\"kind\":\"shared\"},"
	"{\"name\":\"shrw\",\"vip\":\"" SHR4 "\",\"port\":8081,\"proto\":\"tcp\",\"kind\":\"global\"},"
	"{\"name\":\"glob4\",\"vip\":\"" GLOB4 "\",\"port\":5432,\"proto\":\"tcp\",\"kind\":\"global\"},"
	"{\"name\":\"glob6\",\"vip\":\"" GLOB6 "\",\"port\":5432,\"proto\":\"tcp\",\"kind\":\"global\"}"
	"]}";
/* clang-format on */

#define CANARY_BP 1000 /* the config's canary: 10 % of its buckets to dc-e */
#define CANPAY_BP 2500 /* canpay: 25 % */

enum verdict {
	V_PASS,
	V_DROP,
	V_FWD, /* encapsulated: XDP_TX / TC_ACT_REDIRECT */
	V_REPLY, /* reject answer: XDP_TX / TC_ACT_REDIRECT back out */
};

/* What one packet must do. */
struct want {
	enum verdict v;
	const char *unit; /* V_FWD: the unit; fenced: the unit it is counted on */
	const char *svc; /* counted service (forwarded or fenced) */
	enum cg_reason reason; /* V_PASS, and V_DROP unless fenced */
	int new_flows, resteered;
	bool fenced;
};

struct prog {
	const char *name;
	int fd;
	bool xdp;
};

struct ctx {
	struct cg_steer *skel;
	struct cg_dp *dp;
	struct cg_config cfg;
	struct cg_tables *t; /* copy of what is live */
	struct prog progs[2];
	const struct prog *pr; /* program of the running scenario */
	const char *scen; /* scenario name, for case names */
	bool scen_failed; /* its setup failed: its cases are not run */
	int flows_fd, reasons_fd, unit_fd, svc_fd, ep_fd;
	__u8 lo_mac[6];
	const char *filter;
	char audit[64];
};

static const char *const reason_names[] = CG_REASON_NAMES;

/* ---- small helpers ---- */
static __u64 mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts); /* bpf_ktime_get_ns()'s clock */
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
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

static int cfg_svc(const struct cg_config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].name, name))
			return i;
	return -1;
}

static const char *unit_name(const struct cg_tables *t, int id)
{
	return id >= 0 && id < CG_MAX_UNITS && t->units[id].state != CG_UNIT_UNUSED ?
		       t->units[id].name :
		       "(none)";
}

static bool selected(const struct ctx *c, const char *full)
{
	return !c->filter || strstr(full, c->filter);
}

static void case_name(const struct ctx *c, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s: %s", c->pr->name, c->scen, name);
}

static void print_errs(const char *what, struct cg_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		printf("  %s: %s\n", what, errs->msgs[i]);
	cg_errors_free(errs);
}

/* A scenario step that must work for its cases to mean anything. */
static void setup_fail(struct ctx *c, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void setup_fail(struct ctx *c, const char *step, const char *fmt, ...)
{
	char full[256], msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	case_name(c, step, full, sizeof(full));
	tl_fail(full, "setup: %s", msg);
	c->scen_failed = true;
}

static int refresh(struct ctx *c)
{
	int err = cg_dp_read_active(c->dp, c->t);

	if (err)
		setup_fail(c, "read the live tables", "%s", strerror(-err));
	return err;
}

/* ---- publishing ---- */
static int publish_base(struct ctx *c)
{
	struct cg_errors errs = {};
	int err;

	err = cg_build_tables(&c->cfg, NULL, INGRESS_IFINDEX, c->t, &errs);
	if (!err)
		err = cg_publish(c->dp, c->t, &errs);
	if (err) {
		print_errs("base", &errs);
		setup_fail(c, "publish the base config", "build or publish failed");
		return -1;
	}
	cg_errors_free(&errs);
	return refresh(c);
}

/* Publish the live tables after fn edited them. */
static int publish_edit(struct ctx *c, const char *what, void (*fn)(struct ctx *c, void *arg),
			void *arg)
{
	struct cg_errors errs = {};

	if (refresh(c))
		return -1;
	fn(c, arg);
	if (cg_publish(c->dp, c->t, &errs)) {
		print_errs(what, &errs);
		setup_fail(c, what, "publish failed");
		return -1;
	}
	cg_errors_free(&errs);
	return refresh(c);
}

enum op_kind { OP_EVACUATE, OP_DRAIN, OP_RESTORE, OP_FENCE_RELEASE };

struct op {
	enum op_kind kind;
	const char *unit, *service;
	bool has_range;
	__u32 first, last;
	__u32 percent;
	__u64 fence_ms;
	int fence_action;
	__u64 deadline_ms;
	bool force;
};

static int run_op(struct ctx *c, const struct op *op, struct cg_op_result *r,
		  struct cg_errors *errs)
{
	struct cg_op_opts o = {
		.scope = { .unit = op->unit,
			   .service = op->service,
			   .has_range = op->has_range,
			   .first = op->first,
			   .last = op->last,
			   .percent = op->percent },
		.fence_ms = op->fence_ms,
		.fence_action = op->fence_action,
		.deadline_ms = op->deadline_ms,
		.force = op->force,
		.who = PROG,
	};

	switch (op->kind) {
	case OP_EVACUATE:
		return cg_op_evacuate(c->dp, &o, r, errs);
	case OP_DRAIN:
		return cg_op_drain(c->dp, &o, r, errs);
	case OP_RESTORE:
		return cg_op_restore(c->dp, &o, r, errs);
	case OP_FENCE_RELEASE:
		return cg_op_fence_release(c->dp, &o, r, errs);
	}
	return -1;
}

/* An operation the scenario needs: it must succeed and publish. */
static int op(struct ctx *c, const char *what, const struct op *o, struct cg_op_result *res)
{
	struct cg_errors errs = {};
	struct cg_op_result r;

	if (run_op(c, o, &r, &errs)) {
		print_errs(what, &errs);
		setup_fail(c, what, "the operation was refused");
		return -1;
	}
	cg_errors_free(&errs);
	if (r.gen_after != r.gen_before + 1) {
		setup_fail(c, what, "generation %llu -> %llu, expected one new generation",
			   (unsigned long long)r.gen_before, (unsigned long long)r.gen_after);
		return -1;
	}
	if (res)
		*res = r;
	return refresh(c);
}

/* ---- counters ---- */
struct snap {
	__u64 reasons[CG_R_MAX];
	struct cg_counters units[CG_MAX_UNITS];
	struct cg_counters svcs[CG_MAX_SERVICES];
	struct cg_counters eps[CG_MAX_ENDPOINTS];
	int flows;
};

static int count_flows(int fd)
{
	struct cg_flow_key k, next;
	void *prev = NULL;
	int n = 0;

	while (!bpf_map_get_next_key(fd, prev, &next)) {
		k = next;
		prev = &k;
		n++;
	}
	return n;
}

static void clear_flows(const struct ctx *c)
{
	struct cg_flow_key k;

	while (!bpf_map_get_next_key(c->flows_fd, NULL, &k))
		if (bpf_map_delete_elem(c->flows_fd, &k))
			break;
}

static void take_snap(const struct ctx *c, struct snap *s)
{
	__u64 w[2];

	memset(s, 0, sizeof(*s));
	for (__u32 r = 0; r < CG_R_MAX; r++) {
		cg_percpu_sum(c->reasons_fd, r, sizeof(struct cg_reason_count), w);
		s->reasons[r] = w[0];
	}
	for (__u32 u = 0; u < CG_MAX_UNITS; u++)
		if (c->t->units[u].state != CG_UNIT_UNUSED)
			cg_percpu_sum(c->unit_fd, u, sizeof(struct cg_counters),
				   (__u64 *)&s->units[u]);
	for (int i = 0; i < c->t->n_services; i++) {
		__u32 id = c->t->services[i].id;

		if (id < CG_MAX_SERVICES)
			cg_percpu_sum(c->svc_fd, id, sizeof(struct cg_counters),
				   (__u64 *)&s->svcs[id]);
	}
	for (__u32 e = 0; e < CG_MAX_ENDPOINTS; e++)
		if (c->t->endpoints[e].family != CG_AF_NONE)
			cg_percpu_sum(c->ep_fd, e, sizeof(struct cg_counters), (__u64 *)&s->eps[e]);
	s->flows = count_flows(c->flows_fd);
}

/* ---- failure text ---- */
struct why {
	char msg[1024];
	char dump[16384];
};

static void why_set(struct why *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void why_set(struct why *w, const char *fmt, ...)
{
	va_list ap;

	if (w->msg[0])
		return; /* the first problem is the one to report */
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
}

static void why_diff(struct why *w, const struct pkt *exp, const struct pkt *got)
{
	FILE *f;

	if (w->dump[0])
		return;
	f = fmemopen(w->dump, sizeof(w->dump) - 1, "w");
	if (!f)
		return;
	if (exp)
		tl_hexdiff(f, exp->d, exp->len, got->d, got->len);
	else
		tl_hexdump(f, "output", got->d, got->len, -1);
	fclose(f);
}

static void report(const char *full, const struct why *w)
{
	if (!w->msg[0]) {
		tl_pass(full);
		return;
	}
	tl_fail(full, "%s", w->msg);
	if (w->dump[0])
		fputs(w->dump, stdout);
}

/* ---- running ---- */
static int run(const struct prog *pr, const struct pkt *in, struct pkt *out, __u32 *retval)
{
	struct xdp_md xctx = { .data_end = (__u32)in->len, .ingress_ifindex = INGRESS_IFINDEX };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in->d, .data_size_in = (__u32)in->len,
		    .data_out = out->d, .data_size_out = sizeof(out->d), .repeat = 1);

	if (pr->xdp) {
		o.ctx_in = &xctx;
		o.ctx_size_in = sizeof(xctx);
	}
	if (bpf_prog_test_run_opts(pr->fd, &o))
		return -errno;
	out->len = o.data_size_out;
	*retval = o.retval;
	return 0;
}

static __u32 verdict_code(const struct prog *pr, enum verdict v)
{
	switch (v) {
	case V_PASS:
		return pr->xdp ? XDP_PASS : TC_ACT_OK;
	case V_DROP:
		return pr->xdp ? XDP_DROP : TC_ACT_SHOT;
	case V_FWD:
	case V_REPLY:
		break;
	}
	return pr->xdp ? XDP_TX : TC_ACT_REDIRECT;
}

static const char *verdict_str(const struct prog *pr, __u32 code)
{
	static char buf[32];

	if (pr->xdp) {
		static const char *const x[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
						 "XDP_REDIRECT" };
		if (code < 5)
			return x[code];
	} else {
		switch (code) {
		case TC_ACT_OK:
			return "TC_ACT_OK";
		case TC_ACT_SHOT:
			return "TC_ACT_SHOT";
		case TC_ACT_REDIRECT:
			return "TC_ACT_REDIRECT";
		}
	}
	snprintf(buf, sizeof(buf), "%u", code);
	return buf;
}

static __u8 l4_proto(const struct pkt_spec *s)
{
	return s->l4 == PKT_L4_TCP ? IPPROTO_TCP : IPPROTO_UDP;
}

/* Flow hash the packet is steered by: its forward 5-tuple, or for an ICMP
 * error the reversed tuple of the packet it quotes. */
static __u32 flow_hash(const struct ctx *c, const struct pkt_spec *s)
{
	__be32 sa[4], da[4];

	if (s->l4 == PKT_L4_ICMP) {
		const struct pkt_spec *q = s->quote;

		pkt_parse_addr(q->dst, sa);
		pkt_parse_addr(q->src, da);
		return cg_hash_flow(c->cfg.seed, q->ip == 6, sa, da, htons(q->dport),
				    htons(q->sport), l4_proto(q));
	}
	pkt_parse_addr(s->src, sa);
	pkt_parse_addr(s->dst, da);
	return cg_hash_flow(c->cfg.seed, s->ip == 6, sa, da, htons(s->sport), htons(s->dport),
			    l4_proto(s));
}

/* Outer destination of an encapsulated frame, and its unit in the tables. */
static int frame_unit(const struct ctx *c, const struct pkt *p)
{
	__be32 dst[4] = {};
	int fam = CG_AF_NONE;

	if (p->len >= 14 + 20 && p->d[12] == 0x08 && p->d[13] == 0x00) {
		memcpy(dst, p->d + 14 + 16, 4);
		fam = CG_AF_INET;
	} else if (p->len >= 14 + 40 && p->d[12] == 0x86 && p->d[13] == 0xdd) {
		memcpy(dst, p->d + 14 + 24, 16);
		fam = CG_AF_INET6;
	}
	for (int i = 0; fam && i < CG_MAX_ENDPOINTS; i++)
		if (c->t->endpoints[i].family == fam &&
		    !memcmp(c->t->endpoints[i].daddr, dst, fam == CG_AF_INET ? 4 : 16))
			return c->t->endpoints[i].unit;
	return -1;
}

/* The expected encapsulation of `in` to `unit`'s endpoint (docs/dataplane.md
 * §5): the endpoint from the config, checked against the Maglev slot. */
static int expect_encap(const struct ctx *c, const struct pkt_spec *s, const struct pkt *in,
			const char *unit, struct pkt *exp, int *ep_id, struct why *w)
{
	int cu = cg_config_unit_index(&c->cfg, unit), uid = t_unit(c->t, unit);
	const struct cg_cfg_endpoint *ce;
	const struct cg_maglev_slot *sl;
	struct pkt_encap e = {};
	size_t off, len;
	__u32 h = flow_hash(c, s);

	if (cu < 0 || uid < 0) {
		why_set(w, "test bug: no unit %s", unit);
		return -1;
	}
	ce = &c->cfg.units[cu].endpoints[0];
	sl = &c->t->maglev[(size_t)uid * CG_MAGLEV_SIZE + cg_slot_of(h, CG_MAGLEV_SIZE)];
	*ep_id = sl->endpoint;
	if (sl->endpoint >= CG_MAX_ENDPOINTS || c->t->endpoints[sl->endpoint].unit != uid ||
	    memcmp(c->t->endpoints[sl->endpoint].daddr, ce->addr, 16)) {
		why_set(w, "builder bug: the Maglev slot of %s names endpoint %u, not %s", unit,
			sl->endpoint, ce->address);
		return -1;
	}
	memcpy(e.dmac, ce->mac, 6);
	memcpy(e.smac, c->lo_mac, 6);
	e.family = ce->family == CG_AF_INET ? 4 : 6;
	memcpy(e.daddr, ce->addr, 16);
	if (ce->family == CG_AF_INET)
		pkt_outer_src4(c->cfg.src4, c->cfg.src4_len, h, e.saddr);
	else
		pkt_outer_src6(c->cfg.src6, c->cfg.src6_len, h, e.saddr);
	e.hash = h;
	if (pkt_frame_ip(in->d, in->len, &off, &len) < 0 ||
	    pkt_expect_encap(&e, in->d + off, len, exp)) {
		why_set(w, "test bug: cannot build the expected encapsulation");
		return -1;
	}
	return 0;
}

static void check_counters(const struct ctx *c, const struct snap *a, const struct snap *b,
			   const struct want *wt, int ep, __u64 bytes, struct why *w)
{
	static const char *const fields[] = { "packets", "bytes", "new_flows", "resteered",
					      "fenced" };
	enum cg_reason reason = wt->fenced     ? CG_R_FENCED :
				wt->v == V_FWD ? CG_R_FORWARDED :
						 wt->reason;
	int uid = wt->unit ? t_unit(c->t, wt->unit) : -1;
	const struct cg_service *svc = wt->svc ? t_svc(c->t, wt->svc) : NULL;
	__u64 want[5] = {};

	if (wt->fenced) {
		want[4] = 1;
	} else if (wt->v == V_FWD) {
		want[0] = 1;
		want[1] = bytes;
		want[2] = wt->new_flows;
		want[3] = wt->resteered;
	}
	for (int r = 0; r < CG_R_MAX; r++) {
		__u64 d = b->reasons[r] - a->reasons[r], exp = r == (int)reason;

		if (d != exp)
			why_set(w, "cg_reasons[%s] grew by %llu, expected %llu", reason_names[r],
				(unsigned long long)d, (unsigned long long)exp);
	}
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		const __u64 *x = (const __u64 *)&a->units[u], *y = (const __u64 *)&b->units[u];

		for (int i = 0; i < 5; i++) {
			__u64 exp = u == uid && (wt->fenced || wt->v == V_FWD) ? want[i] : 0;

			if (y[i] - x[i] != exp)
				why_set(w, "cg_unit_stats[%s].%s grew by %llu, expected %llu",
					c->t->units[u].name, fields[i],
					(unsigned long long)(y[i] - x[i]), (unsigned long long)exp);
		}
	}
	for (int s = 0; s < CG_MAX_SERVICES; s++) {
		const __u64 *x = (const __u64 *)&a->svcs[s], *y = (const __u64 *)&b->svcs[s];

		for (int i = 0; i < 5; i++) {
			__u64 exp = svc && (int)svc->id == s && (wt->fenced || wt->v == V_FWD) ?
					    want[i] :
					    0;

			if (y[i] - x[i] != exp)
				why_set(w, "cg_service_stats[%d].%s grew by %llu, expected %llu", s,
					fields[i], (unsigned long long)(y[i] - x[i]),
					(unsigned long long)exp);
		}
	}
	for (int e = 0; e < CG_MAX_ENDPOINTS; e++) {
		const __u64 *x = (const __u64 *)&a->eps[e], *y = (const __u64 *)&b->eps[e];

		for (int i = 0; i < 5; i++) {
			__u64 exp = e == ep && wt->v == V_FWD && !wt->fenced ? want[i] : 0;

			if (y[i] - x[i] != exp)
				why_set(w, "cg_endpoint_stats[%d].%s grew by %llu, expected %llu",
					e, fields[i], (unsigned long long)(y[i] - x[i]),
					(unsigned long long)exp);
		}
	}
	if (b->flows - a->flows != (wt->v == V_FWD ? wt->new_flows : 0))
		why_set(w, "cg_flows entries grew by %d, expected %d", b->flows - a->flows,
			wt->v == V_FWD ? wt->new_flows : 0);
}

/* Names of the reasons that grew. */
static const char *grown(const struct snap *a, const struct snap *b)
{
	static char buf[256];
	size_t o = 0;

	buf[0] = 0;
	for (int r = 0; r < CG_R_MAX; r++)
		if (b->reasons[r] != a->reasons[r] && o < sizeof(buf) - 40)
			o += snprintf(buf + o, sizeof(buf) - o, "%s%s", o ? "," : "",
				      reason_names[r]);
	return o ? buf : "nothing";
}

/*
 * One packet, one case line: verdict, output bytes, counter deltas. The
 * flow table is left as the packet leaves it (cases that need it empty
 * call clear_flows()). Returns true if it passed.
 */
static bool check(struct ctx *c, const char *name, const struct pkt_spec *s, const struct want *wt)
{
	struct snap *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	struct why *w = calloc(1, sizeof(*w));
	struct pkt in, out, exp;
	char full[256];
	bool ok;
	__u32 ret;
	int err, ep = -1;

	case_name(c, name, full, sizeof(full));
	if (!a || !b || !w) {
		tl_fail(full, "out of memory");
		free(a);
		free(b);
		free(w);
		return false;
	}
	if (c->scen_failed) {
		why_set(w, "not run: the scenario's setup failed");
		goto done;
	}
	if (pkt_build(s, &in)) {
		why_set(w, "test bug: cannot build the packet");
		goto done;
	}
	take_snap(c, a);
	err = run(c->pr, &in, &out, &ret);
	if (err) {
		why_set(w, "BPF_PROG_TEST_RUN failed: %s", strerror(-err));
		goto done;
	}
	take_snap(c, b);
	if (ret != verdict_code(c->pr, wt->v)) {
		int got = frame_unit(c, &out);

		why_set(w, "verdict %s (counted %s%s%s), expected %s", verdict_str(c->pr, ret),
			grown(a, b), got >= 0 ? ", sent to " : "",
			got >= 0 ? unit_name(c->t, got) : "",
			verdict_str(c->pr, verdict_code(c->pr, wt->v)));
		why_diff(w, NULL, &out);
	} else if (wt->v == V_PASS && tl_first_diff(in.d, in.len, out.d, out.len) >= 0) {
		why_set(w, "passed frame was modified");
		why_diff(w, &in, &out);
	} else if (wt->v == V_FWD) {
		if (!expect_encap(c, s, &in, wt->unit, &exp, &ep, w) &&
		    tl_first_diff(exp.d, exp.len, out.d, out.len) >= 0) {
			int got = frame_unit(c, &out);

			if (got != t_unit(c->t, wt->unit))
				why_set(w, "sent to %s, expected %s", unit_name(c->t, got),
					wt->unit);
			else
				why_set(w, "output differs from the expected encapsulation to %s",
					wt->unit);
			why_diff(w, &exp, &out);
		}
	} else if (wt->v == V_REPLY) {
		size_t off, len;

		if (pkt_expect_reject(in.d, in.len, &exp)) {
			why_set(w, "test bug: cannot build the expected reply");
		} else if (tl_first_diff(exp.d, exp.len, out.d, out.len) >= 0) {
			why_set(w, "reply differs from the expected %s",
				s->l4 == PKT_L4_TCP ? "RST|ACK" : "ICMP unreachable");
			why_diff(w, &exp, &out);
		} else if (pkt_frame_ip(out.d, out.len, &off, &len) < 0 ||
			   (s->ip == 4 && !pkt_ipv4_csum_ok(out.d + off, len)) ||
			   pkt_l4_csum_ok(out.d + off, len) != 1) {
			/* the same bytes as expected: a checksum bug of reply.c */
			why_set(w, "test bug: reply checksums do not verify");
		}
	}
	if (!w->msg[0] || ret == verdict_code(c->pr, wt->v))
		check_counters(c, a, b, wt, ep, in.len, w);
done:
	ok = !w->msg[0];
	if (selected(c, full))
		report(full, w);
	free(a);
	free(b);
	free(w);
	return ok;
}

/* A check of the tables or an operation's result, as a case line. */
static void verdict_line(struct ctx *c, const char *name, const char *fail_fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void verdict_line(struct ctx *c, const char *name, const char *fail_fmt, ...)
{
	char full[256], msg[1024];
	va_list ap;

	case_name(c, name, full, sizeof(full));
	if (!selected(c, full))
		return;
	if (!fail_fmt) {
		tl_pass(full);
		return;
	}
	va_start(ap, fail_fmt);
	vsnprintf(msg, sizeof(msg), fail_fmt, ap);
	va_end(ap);
	tl_fail(full, "%s", msg);
}

/* Run a packet and learn its unit from the output (sweeps; no counters). */
static int run_unit(struct ctx *c, const struct pkt_spec *s, __u32 *ret)
{
	struct pkt in, out;

	if (pkt_build(s, &in) || run(c->pr, &in, &out, ret))
		return -2;
	if (*ret != verdict_code(c->pr, V_FWD))
		return -1;
	return frame_unit(c, &out);
}

/* Insert a cg_flows record of this flow to `unit` (its first endpoint). */
static int record_flow(struct ctx *c, const struct pkt_spec *s, const char *unit, const char *svc)
{
	const struct cg_service *sv = t_svc(c->t, svc);
	struct cg_flow_key k = {};
	struct cg_flow v = {};
	int u = t_unit(c->t, unit), e;

	if (u < 0 || !sv)
		return -1;
	for (e = 0; e < CG_MAX_ENDPOINTS; e++)
		if (c->t->endpoints[e].family != CG_AF_NONE && c->t->endpoints[e].unit == u)
			break;
	if (e == CG_MAX_ENDPOINTS)
		return -1;
	k.family = s->ip == 6 ? CG_AF_INET6 : CG_AF_INET;
	pkt_parse_addr(s->src, k.saddr);
	pkt_parse_addr(s->dst, k.daddr);
	k.sport = htons(s->sport);
	k.dport = htons(s->dport);
	k.proto = l4_proto(s);
	v.unit = u;
	v.endpoint = e;
	v.service_id = sv->id;
	return bpf_map_update_elem(c->flows_fd, &k, &v, BPF_ANY) ? -errno : 0;
}

/* Record of a flow, or -1. */
static int flow_record_unit(const struct ctx *c, const struct pkt_spec *s)
{
	struct cg_flow_key k = {};
	struct cg_flow v;

	k.family = s->ip == 6 ? CG_AF_INET6 : CG_AF_INET;
	pkt_parse_addr(s->src, k.saddr);
	pkt_parse_addr(s->dst, k.daddr);
	k.sport = htons(s->sport);
	k.dport = htons(s->dport);
	k.proto = l4_proto(s);
	return bpf_map_lookup_elem(c->flows_fd, &k, &v) ? -1 : v.unit;
}

/* ---- packet shorthands ---- */
#define SYN PKT_TCP_SYN
#define ACK PKT_TCP_ACK
#define SYNACK (PKT_TCP_SYN | PKT_TCP_ACK)
#define TCP4(src_, sp, d, dp, fl) \
	.ip = 4, .src = src_, .dst = d, .l4 = PKT_L4_TCP, .sport = sp, .dport = dp, .tcp_flags = fl
#define TCP6(src_, sp, d, dp, fl) \
	.ip = 6, .src = src_, .dst = d, .l4 = PKT_L4_TCP, .sport = sp, .dport = dp, .tcp_flags = fl
#define UDP4(sp, d, dp) .ip = 4, .src = C4, .dst = d, .l4 = PKT_L4_UDP, .sport = sp, .dport = dp
#define UDP6(sp, d, dp) .ip = 6, .src = C6, .dst = d, .l4 = PKT_L4_UDP, .sport = sp, .dport = dp
#define SPEC(...) (&(const struct pkt_spec){ __VA_ARGS__ })
#define FWD(u, s, ...) (&(const struct want){ .v = V_FWD, .unit = u, .svc = s, __VA_ARGS__ })
#define FENCED(v_, u, s) (&(const struct want){ .v = v_, .unit = u, .svc = s, .fenced = true })
#define DROP(r) (&(const struct want){ .v = V_DROP, .reason = r })

static const __u8 ip4_opts[] = { 0x94, 0x04, 0x00, 0x00 }; /* router alert */
static const __u8 tcp_opts[] = { 0x02, 0x04, 0x05, 0xb4, 0x01, 0x03, 0x03, 0x07 };

/* ---- scenarios ---- */

static void scen_pins(struct ctx *c)
{
	if (publish_base(c))
		return;
	clear_flows(c);
	check(c,
	      "v4 client in /24 and /29: the /29 pin (longest prefix) beats the /24 and the rule",
	      SPEC(TCP4(C4, 41000, PIN4, 80, SYN)), FWD("dc-c", "pin4"));
	check(c, "v4 client with a /32 pin: pinned to the v6-endpoint unit (v4 in v6)",
	      SPEC(TCP4("198.18.0.12", 41001, PIN4, 80, SYN)), FWD("dc-d", "pin4"));
	check(c, "v4 client in the /24 only: the /24 pin",
	      SPEC(TCP4("198.18.0.20", 41002, PIN4, 80, ACK)), FWD("dc-b", "pin4"));
	check(c, "v4 client without a pin: the bucket rule",
	      SPEC(TCP4("198.18.7.1", 41003, PIN4, 80, SYN)), FWD("dc-a", "pin4"));
	check(c, "v4 pins are per service: another service's /24 pin, not pin4's /29",
	      SPEC(TCP4(C4, 41004, PIN4, 81, SYN)), FWD("dc-e", "pinx4"));
	check(c, "v4 client without a pin of this service: its rule",
	      SPEC(TCP4("198.18.7.1", 41005, PIN4, 81, SYN)), FWD("dc-a", "pinx4"));
	check(c, "v6 client in /48 and /64: the /64 pin", SPEC(TCP6(C6, 41006, PIN6, 80, SYN)),
	      FWD("dc-d", "pin6"));
	check(c, "v6 client with a /128 pin", SPEC(TCP6("2001:db8::12", 41007, PIN6, 80, SYN)),
	      FWD("dc-e", "pin6"));
	check(c, "v6 client in the /48 only: the /48 pin",
	      SPEC(TCP6("2001:db8:0:1::10", 41008, PIN6, 80, ACK)), FWD("dc-b", "pin6"));
	check(c, "v6 client without a pin: the bucket rule",
	      SPEC(TCP6("2001:db8:1::10", 41009, PIN6, 80, SYN)), FWD("dc-a", "pin6"));
	check(c, "pinned flow in steady state is not recorded",
	      SPEC(TCP4(C4, 41010, PIN4, 80, SYN), .payload_len = 10), FWD("dc-c", "pin4"));

	/* the /29's unit leaves: its clients fall back to the bucket rule,
	 * not to the shorter /24 pin */
	if (op(c, "evacuate dc-c", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-c" }, NULL))
		return;
	check(c, "dc-c evacuated: v4 /29-pinned client falls back to the bucket rule",
	      SPEC(TCP4(C4, 41011, PIN4, 80, ACK)), FWD("dc-a", "pin4"));
	check(c, "dc-c evacuated: other v4 pins unchanged",
	      SPEC(TCP4("198.18.0.20", 41012, PIN4, 80, SYN)), FWD("dc-b", "pin4"));
	if (op(c, "evacuate dc-d", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-d" }, NULL))
		return;
	check(c, "dc-d evacuated: v6 /64-pinned client falls back to the bucket rule",
	      SPEC(TCP6(C6, 41013, PIN6, 80, SYN)), FWD("dc-a", "pin6"));
	check(c, "dc-d evacuated: v4 /32-pinned client falls back to the bucket rule",
	      SPEC(TCP4("198.18.0.12", 41014, PIN4, 80, SYN)), FWD("dc-a", "pin4"));

	/* a pinned unit that drains keeps its established flows (drain:
	 * "no new flows to the unit, established flows stay") */
	if (publish_base(c) ||
	    op(c, "drain dc-b", &(struct op){ .kind = OP_DRAIN, .unit = "dc-b" }, NULL))
		return;
	clear_flows(c);
	check(c, "pin to a draining unit: SYN goes to the bucket rule, recorded",
	      SPEC(TCP4("198.18.0.20", 41015, PIN4, 80, SYN)), FWD("dc-a", "pin4", .new_flows = 1));
	check(c, "pin to a draining unit: that flow's ACK follows its record",
	      SPEC(TCP4("198.18.0.20", 41015, PIN4, 80, ACK)), FWD("dc-a", "pin4"));
	clear_flows(c);
	check(c, "pin to a draining unit: an established (unrecorded) flow stays on it",
	      SPEC(TCP4("198.18.0.20", 41016, PIN4, 80, ACK)), FWD("dc-b", "pin4"));
}

static void scen_canary(struct ctx *c)
{
	const struct cg_service *svc;
	int e, a, b, n = 1000, k = 0, sent = 0, hit = 0, bad = 0, i;
	char first_bad[256] = "";
	double p, sd, tol, q;

	if (publish_base(c))
		return;
	e = t_unit(c->t, "dc-e");
	a = t_unit(c->t, "dc-a");
	b = t_unit(c->t, "dc-b");

	/* the tables: exactly the buckets cg_canary_bucket() picks */
	svc = t_svc(c->t, "canary");
	if (!svc || svc->modulo != 1000) {
		setup_fail(c, "canary service", "not in the tables with modulo 1000");
		return;
	}
	for (__u32 bk = 0; bk < svc->modulo; bk++) {
		bool pick = cg_canary_bucket("canary", c->cfg.seed, bk, CANARY_BP);
		int want = pick ? e : bk < 500 ? a : b;
		const struct cg_bucket *x = &c->t->buckets[svc->bucket_base + bk];

		k += pick;
		if (x->unit != want && !first_bad[0])
			snprintf(first_bad, sizeof(first_bad), "bucket %u on %s, expected %s", bk,
				 unit_name(c->t, x->unit), unit_name(c->t, want));
	}
	verdict_line(
		c,
		"canary buckets are exactly those cg_canary_bucket picks, the rest per the ratios",
		first_bad[0] ? "%s" : NULL, first_bad);
	/* the share of buckets: binomial over the config's bucket count */
	p = CANARY_BP / 10000.0;
	sd = sqrt(svc->modulo * p * (1 - p));
	tol = 4 * sd + 1;
	verdict_line(c, "canary takes 10 % of 1000 buckets within 4 sigma of the bucket count",
		     fabs(k - svc->modulo * p) <= tol ? NULL :
							"%d canary buckets, expected %.0f +- %.1f",
		     k, svc->modulo * p, tol);

	/* flows: each one on its bucket's unit; the canary's share of flows */
	first_bad[0] = 0;
	for (i = 0; i < n; i++) {
		const char *cl = i % 2 ? "198.18.0.10" : "198.18.0.11";
		struct pkt_spec s = { TCP4(cl, (__u16)(20000 + i), CAN4, 80, SYN) };
		__u32 h = flow_hash(c, &s), ret, bk = cg_bucket_of_hash(h, 1000);
		int want = cg_canary_bucket("canary", c->cfg.seed, bk, CANARY_BP) ? e :
			   bk < 500						  ? a :
										    b;
		int got = run_unit(c, &s, &ret);

		sent++;
		hit += got == e;
		if (got != want) {
			bad++;
			if (!first_bad[0])
				snprintf(first_bad, sizeof(first_bad),
					 "flow %s:%u (bucket %u) on %s (%s), expected %s", cl,
					 s.sport, bk, unit_name(c->t, got), verdict_str(c->pr, ret),
					 unit_name(c->t, want));
		}
	}
	verdict_line(c, "1000 flows: each on its bucket's unit (canary or ratio rule)",
		     bad ? "%d wrong, first: %s" : NULL, bad, first_bad);
	q = k / 1000.0;
	tol = 4 * sqrt(q * (1 - q) / sent) + 1.0 / svc->modulo;
	verdict_line(c, "1000 flows: canary share matches its buckets' share",
		     fabs((double)hit / sent - q) <= tol ?
			     NULL :
			     "%d of %d flows on dc-e (%.3f), buckets give %.3f +- %.3f",
		     hit, sent, (double)hit / sent, q, tol);

	/* payload key: every bucket addressed directly */
	bad = 0;
	k = 0;
	first_bad[0] = 0;
	for (__u32 bk = 0; bk < 1000; bk++) {
		__u8 key[2] = { (__u8)(bk >> 8), (__u8)bk };
		struct pkt_spec s = { UDP4((__u16)(30000 + bk), CAN4, 9000), .payload = key,
				      .payload_len = 2 };
		bool pick = cg_canary_bucket("canpay", c->cfg.seed, bk, CANPAY_BP);
		int want = pick ? e : bk < 500 ? a : b;
		__u32 ret;
		int got = run_unit(c, &s, &ret);

		k += pick;
		if (got != want) {
			bad++;
			if (!first_bad[0])
				snprintf(first_bad, sizeof(first_bad),
					 "key %u on %s (%s), expected %s", bk, unit_name(c->t, got),
					 verdict_str(c->pr, ret), unit_name(c->t, want));
		}
	}
	verdict_line(c, "payload keys 0..999: exactly the picked buckets go to the canary",
		     bad ? "%d wrong, first: %s" : NULL, bad, first_bad);
	p = CANPAY_BP / 10000.0;
	tol = 4 * sqrt(1000 * p * (1 - p)) + 1;
	verdict_line(c, "canpay: 25 % of 1000 buckets within 4 sigma",
		     fabs(k - 1000 * p) <= tol ? NULL : "%d canary buckets, expected %.0f +- %.1f",
		     k, 1000 * p, tol);
	clear_flows(c);
	{
		static const __u8 k7[2] = { 0, 7 };
		bool pick = cg_canary_bucket("canpay", c->cfg.seed, 7, CANPAY_BP);

		check(c, "canary bucket (key 7), counters",
		      SPEC(UDP4(30999, CAN4, 9000), .payload = k7, .payload_len = 2),
		      FWD(pick ? "dc-e" : "dc-a", "canpay"));
	}
}

/* Publish the live tables with every fence ended at `deadline`. */
static void set_fence_deadlines(struct ctx *c, void *arg)
{
	__u64 d = *(__u64 *)arg;

	for (int i = 1; i < CG_MAX_FENCES; i++)
		if (c->t->fences[i].deadline_ns)
			c->t->fences[i].deadline_ns = d;
}

static void scen_fence_drop(struct ctx *c)
{
	struct cg_op_result r;
	const struct cg_service *svc;
	const char *bad = NULL;
	int fid = 0, b;

	if (publish_base(c) || op(c, "evacuate dc-f with a 10 min drop fence",
				  &(struct op){ .kind = OP_EVACUATE,
						.unit = "dc-f",
						.fence_ms = 600000,
						.fence_action = CG_FENCE_DROP },
				  &r))
		return;
	b = t_unit(c->t, "dc-b");
	svc = t_svc(c->t, "fen4");
	if (svc)
		fid = c->t->buckets[svc->bucket_base].fence;
	if (!svc || !fid || fid >= CG_MAX_FENCES)
		bad = "fen4's buckets carry no fence";
	else if (c->t->fences[fid].action != CG_FENCE_DROP || c->t->fences[fid].unit != b)
		bad = "the fence record has the wrong action or unit";
	else if (c->t->fences[fid].deadline_ns < mono_ns() + 590000000000ull ||
		 c->t->fences[fid].deadline_ns > mono_ns() + 600000000000ull)
		bad = "the fence deadline is not now + 10 min (CLOCK_MONOTONIC)";
	else if (r.fenced != 8 * 100)
		bad = "the operation did not fence the 800 buckets that moved";
	verdict_line(c, "evacuate --fence: moved buckets fenced, deadline in the map",
		     bad ? "%s" : NULL, bad);

	clear_flows(c);
	check(c, "v4 SYN on a fenced bucket: dropped, counted fenced on unit and service",
	      SPEC(TCP4(C4, 42000, FEN4, 80, SYN)), FENCED(V_DROP, "dc-b", "fen4"));
	check(c, "v6 SYN on a fenced bucket: dropped", SPEC(TCP6(C6, 42001, FEN6, 80, SYN)),
	      FENCED(V_DROP, "dc-b", "fen6"));
	check(c, "v4 SYN with a VLAN tag on a fenced bucket: dropped",
	      SPEC(TCP4(C4, 42002, FEN4, 80, SYN), .n_vlan = 1, .vlan_tci = { 5 }),
	      FENCED(V_DROP, "dc-b", "fen4"));
	check(c, "v4 udp first packet on a fenced bucket: dropped",
	      SPEC(UDP4(42003, FEN4, 53), .payload_len = 20), FENCED(V_DROP, "dc-b", "fenu4"));
	check(c, "v6 udp first packet on a fenced bucket: dropped",
	      SPEC(UDP6(42004, FEN6, 53), .payload_len = 20), FENCED(V_DROP, "dc-b", "fenu6"));
	check(c, "v4 ACK (established) on a fenced bucket: forwarded to the new unit",
	      SPEC(TCP4(C4, 42005, FEN4, 80, ACK), .payload_len = 100), FWD("dc-b", "fen4"));
	check(c, "v4 SYN-ACK is not a new flow: forwarded", SPEC(TCP4(C4, 42006, FEN4, 80, SYNACK)),
	      FWD("dc-b", "fen4"));
	check(c, "v6 ACK on a fenced bucket: forwarded", SPEC(TCP6(C6, 42007, FEN6, 80, ACK)),
	      FWD("dc-b", "fen6"));
	if (record_flow(c, SPEC(UDP4(42008, FEN4, 53)), "dc-b", "fenu4"))
		setup_fail(c, "record a udp flow", "cg_flows update failed");
	check(c, "v4 udp flow recorded before the fence: not new, forwarded",
	      SPEC(UDP4(42008, FEN4, 53), .payload_len = 20), FWD("dc-b", "fenu4"));
	clear_flows(c);
	check(c, "every service of the evacuated unit is fenced: drn4 SYN dropped",
	      SPEC(TCP4(C4, 42009, DRN4, 80, SYN)), FENCED(V_DROP, "dc-b", "drn4"));

	if (op(c, "fence release", &(struct op){ .kind = OP_FENCE_RELEASE }, NULL))
		return;
	check(c, "after fence release: v4 SYN forwarded", SPEC(TCP4(C4, 42010, FEN4, 80, SYN)),
	      FWD("dc-b", "fen4"));
	check(c, "after fence release: v6 udp forwarded", SPEC(UDP6(42011, FEN6, 53)),
	      FWD("dc-b", "fenu6"));
}

static void scen_fence_reject(struct ctx *c)
{
	static const __u8 data10[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	if (publish_base(c) || op(c, "evacuate dc-f with a reject fence until release",
				  &(struct op){ .kind = OP_EVACUATE,
						.unit = "dc-f",
						.fence_ms = CG_FENCE_UNTIL_RELEASE,
						.fence_action = CG_FENCE_REJECT },
				  NULL))
		return;
	clear_flows(c);
#define REPLY(s) FENCED(V_REPLY, "dc-b", s)
	check(c, "v4 SYN: RST|ACK back (ports and addresses swapped, ack = seq + 1)",
	      SPEC(TCP4(C4, 43000, FEN4, 80, SYN), .seq = 0x12345678), REPLY("fen4"));
	check(c, "v4 SYN with seq 0xffffffff: ack wraps to 0",
	      SPEC(TCP4(C4, 43001, FEN4, 80, SYN), .seq = 0xffffffff), REPLY("fen4"));
	check(c, "v4 SYN with TCP options: RST without options",
	      SPEC(TCP4(C4, 43002, FEN4, 80, SYN), .tcp_opts = tcp_opts,
		   .tcp_opts_len = sizeof(tcp_opts)),
	      REPLY("fen4"));
	check(c, "v4 SYN carrying 10 bytes of data: ack = seq + 1 + 10",
	      SPEC(TCP4(C4, 43003, FEN4, 80, SYN), .payload = data10, .payload_len = 10),
	      REPLY("fen4"));
	check(c, "v4 SYN with IP options: RST with a plain 20-byte IP header",
	      SPEC(TCP4(C4, 43004, FEN4, 80, SYN), .opts = ip4_opts, .opts_len = sizeof(ip4_opts),
		   .tos = 0x28, .ttl = 9, .id = 77, .df = true),
	      REPLY("fen4"));
	check(c, "v4 SYN padded to 60 bytes: RST without the padding",
	      SPEC(TCP4(C4, 43005, FEN4, 80, SYN), .pad = true, .pad_byte = 0xaa), REPLY("fen4"));
	check(c, "v4 SYN with an 802.1Q tag: RST keeps the tag",
	      SPEC(TCP4(C4, 43006, FEN4, 80, SYN), .n_vlan = 1, .vlan_tci = { 100 }),
	      REPLY("fen4"));
	check(c, "v4 SYN with QinQ tags: RST keeps both",
	      SPEC(TCP4(C4, 43007, FEN4, 80, SYN), .n_vlan = 2, .vlan_tpid = { 0x88a8, 0x8100 },
		   .vlan_tci = { 10, 20 }),
	      REPLY("fen4"));
	check(c, "v6 SYN: RST|ACK back, valid checksum",
	      SPEC(TCP6(C6, 43008, FEN6, 80, SYN), .seq = 0xdeadbeef, .flow_label = 0x12345),
	      REPLY("fen6"));
	check(c, "v6 SYN behind a hop-by-hop header, tagged: RST without it, tag kept",
	      SPEC(TCP6(C6, 43009, FEN6, 80, SYN), .n_ext = 1, .ext = { { .type = 0 } },
		   .n_vlan = 1, .vlan_tci = { 7 }),
	      REPLY("fen6"));
	check(c, "v4 udp: ICMP unreachable code 13 quoting the first 64 bytes",
	      SPEC(UDP4(43010, FEN4, 53), .payload_len = 100), REPLY("fenu4"));
	check(c, "v4 udp of 33 bytes: the whole (odd-length) packet quoted",
	      SPEC(UDP4(43011, FEN4, 53), .payload_len = 5), REPLY("fenu4"));
	check(c, "v4 udp in a padded frame: the quote ends with the IP packet",
	      SPEC(UDP4(43012, FEN4, 53), .payload_len = 2, .pad = true, .pad_byte = 0x5a),
	      REPLY("fenu4"));
	check(c, "v4 udp with an 802.1Q tag: ICMP keeps the tag",
	      SPEC(UDP4(43013, FEN4, 53), .payload_len = 80, .n_vlan = 1, .vlan_tci = { 300 }),
	      REPLY("fenu4"));
	check(c, "v6 udp: ICMPv6 type 1 code 1 quoting the first 64 bytes",
	      SPEC(UDP6(43014, FEN6, 53), .payload_len = 100), REPLY("fenu6"));
	check(c, "v6 udp of 51 bytes: the whole (odd-length) packet quoted",
	      SPEC(UDP6(43015, FEN6, 53), .payload_len = 3), REPLY("fenu6"));
	check(c, "v6 udp with QinQ tags: ICMPv6 keeps both",
	      SPEC(UDP6(43016, FEN6, 53), .payload_len = 64, .n_vlan = 2,
		   .vlan_tpid = { 0x88a8, 0x8100 }, .vlan_tci = { 1, 2 }),
	      REPLY("fenu6"));
	check(c, "v4 ACK on a reject-fenced bucket: forwarded",
	      SPEC(TCP4(C4, 43017, FEN4, 80, ACK)), FWD("dc-b", "fen4"));
	check(c, "v6 ACK on a reject-fenced bucket: forwarded",
	      SPEC(TCP6(C6, 43018, FEN6, 80, ACK), .payload_len = 30), FWD("dc-b", "fen6"));
#undef REPLY
}

static void scen_fence_expiry(struct ctx *c)
{
	__u64 past;
	int fid;
	const struct cg_service *svc;

	/* a deadline already in the past (CLOCK_MONOTONIC): no fence at all */
	if (publish_base(c) ||
	    op(c, "evacuate dc-f with a drop fence",
	       &(struct op){ .kind = OP_EVACUATE, .unit = "dc-f", .fence_ms = 600000 }, NULL))
		return;
	clear_flows(c);
	check(c, "fence in force: v4 SYN dropped", SPEC(TCP4(C4, 44000, FEN4, 80, SYN)),
	      FENCED(V_DROP, "dc-b", "fen4"));
	past = mono_ns() - 1;
	if (publish_edit(c, "publish the fence with its deadline in the past", set_fence_deadlines,
			 &past))
		return;
	check(c, "deadline passed: v4 SYN forwarded", SPEC(TCP4(C4, 44001, FEN4, 80, SYN)),
	      FWD("dc-b", "fen4"));
	check(c, "deadline passed: v6 SYN forwarded", SPEC(TCP6(C6, 44002, FEN6, 80, SYN)),
	      FWD("dc-b", "fen6"));
	check(c, "deadline passed: v4 udp forwarded", SPEC(UDP4(44003, FEN4, 53), .payload_len = 8),
	      FWD("dc-b", "fenu4"));
	past = 1;
	if (publish_edit(c, "publish the fence with deadline 1 ns", set_fence_deadlines, &past))
		return;
	check(c, "deadline 1 ns after boot: v6 udp forwarded", SPEC(UDP6(44004, FEN6, 53)),
	      FWD("dc-b", "fenu6"));

	/* a fence ends by itself: no userspace between the two packets */
	if (publish_base(c) ||
	    op(c, "evacuate dc-f with a 1 s fence",
	       &(struct op){ .kind = OP_EVACUATE, .unit = "dc-f", .fence_ms = 1000 }, NULL))
		return;
	svc = t_svc(c->t, "fen4");
	fid = svc ? c->t->buckets[svc->bucket_base].fence : 0;
	if (!fid || fid >= CG_MAX_FENCES) {
		setup_fail(c, "1 s fence", "fen4 is not fenced");
		return;
	}
	check(c, "1 s fence: SYN dropped while it holds", SPEC(TCP4(C4, 44005, FEN4, 80, SYN)),
	      FENCED(V_DROP, "dc-b", "fen4"));
	while (mono_ns() <= c->t->fences[fid].deadline_ns + 1000000)
		usleep(20000);
	check(c, "1 s fence: SYN forwarded once the deadline passed (no publish)",
	      SPEC(TCP4(C4, 44006, FEN4, 80, SYN)), FWD("dc-b", "fen4"));

	/* drain with a fence: new flows fenced, established ones stay */
	if (publish_base(c) ||
	    op(c, "drain dc-f with a fence",
	       &(struct op){ .kind = OP_DRAIN, .unit = "dc-f", .fence_ms = 600000 }, NULL))
		return;
	clear_flows(c);
	check(c, "drain + fence: SYN dropped (fenced, counted on the new unit)",
	      SPEC(TCP4(C4, 44007, DRN4, 80, SYN)), FENCED(V_DROP, "dc-b", "drn4"));
	check(c, "drain + fence: established flow stays on the draining unit",
	      SPEC(TCP4(C4, 44008, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
}

static void set_hold(struct ctx *c, void *arg)
{
	const struct {
		const char *unit;
		__u64 ns;
	} *h = arg;
	int u = t_unit(c->t, h->unit);

	if (u >= 0)
		c->t->units[u].hold_until_ns = h->ns;
}

static void scen_drain(struct ctx *c)
{
	const struct cg_service *svc;
	const char *bad = NULL;
	int f, b;
	struct {
		const char *unit;
		__u64 ns;
	} hold;

	if (publish_base(c))
		return;
	clear_flows(c);
	/* a flow recorded before the drain (full flow table) */
	check(c, "full flow table, before the drain: SYN recorded on dc-f",
	      SPEC(TCP4(C4, 45000, DRN4, 81, SYN)), FWD("dc-f", "drnfull", .new_flows = 1));
	if (op(c, "drain dc-f", &(struct op){ .kind = OP_DRAIN, .unit = "dc-f" }, NULL))
		return;
	f = t_unit(c->t, "dc-f");
	b = t_unit(c->t, "dc-b");
	svc = t_svc(c->t, "drn4");
	if (c->t->units[f].state != CG_UNIT_DRAINING)
		bad = "dc-f is not draining";
	else if (!svc || c->t->buckets[svc->bucket_base].unit != b ||
		 c->t->buckets[svc->bucket_base].prev_unit != f)
		bad = "drn4's buckets are not moving from dc-f to its standby dc-b";
	verdict_line(c, "drain: buckets move to the standby, the drained unit is their prev_unit",
		     bad ? "%s" : NULL, bad);
	check(c, "recorded flow stays on the draining unit", SPEC(TCP4(C4, 45000, DRN4, 81, ACK)),
	      FWD("dc-f", "drnfull"));
	check(c, "new flow: SYN to the standby, recorded", SPEC(TCP4(C4, 45001, DRN4, 80, SYN)),
	      FWD("dc-b", "drn4", .new_flows = 1));
	check(c, "that new flow's next packet follows its record",
	      SPEC(TCP4(C4, 45001, DRN4, 80, ACK), .payload_len = 50), FWD("dc-b", "drn4"));
	check(c, "unrecorded established flow stays on the draining unit",
	      SPEC(TCP4(C4, 45002, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
	check(c, "v6 unrecorded established flow stays on the draining unit",
	      SPEC(TCP6(C6, 45003, DRN6, 80, ACK)), FWD("dc-f", "drn6"));
	check(c, "v6 new flow to the standby", SPEC(TCP6(C6, 45004, DRN6, 80, SYN)),
	      FWD("dc-b", "drn6", .new_flows = 1));
	check(c, "full flow table: unrecorded established flow stays, and is recorded",
	      SPEC(TCP4(C4, 45005, DRN4, 81, ACK)), FWD("dc-f", "drnfull", .new_flows = 1));
	check(c, "udp first packet: new, to the standby", SPEC(UDP4(45006, DRN4, 53)),
	      FWD("dc-b", "drnu", .new_flows = 1));
	check(c, "udp second packet follows its record",
	      SPEC(UDP4(45006, DRN4, 53), .payload_len = 9), FWD("dc-b", "drnu"));
	if (record_flow(c, SPEC(UDP4(45007, DRN4, 53)), "dc-f", "drnu"))
		setup_fail(c, "record a udp flow on dc-f", "cg_flows update failed");
	check(c, "udp flow recorded on the draining unit stays", SPEC(UDP4(45007, DRN4, 53)),
	      FWD("dc-f", "drnu"));

	/* the drain deadline passes: the draining unit is no longer used */
	hold.unit = "dc-f";
	hold.ns = mono_ns() - 1;
	if (publish_edit(c, "publish dc-f's hold_until_ns in the past", set_hold, &hold))
		return;
	check(c, "hold passed: unrecorded established flow goes to the standby",
	      SPEC(TCP4(C4, 45008, DRN4, 80, ACK)), FWD("dc-b", "drn4"));
	check(c, "hold passed: flow recorded on the drained unit is re-steered",
	      SPEC(TCP4(C4, 45000, DRN4, 81, ACK)), FWD("dc-b", "drnfull", .resteered = 1));
	{
		int ru = flow_record_unit(c, SPEC(TCP4(C4, 45000, DRN4, 81, ACK)));

		verdict_line(c, "hold passed: the re-steered flow's record now names the standby",
			     ru == b ? NULL : "record says %s", unit_name(c->t, ru));
	}
	check(c, "hold passed: ... and its next packet follows the record",
	      SPEC(TCP4(C4, 45000, DRN4, 81, PKT_TCP_PSH | ACK)), FWD("dc-b", "drnfull"));
	check(c, "hold passed: udp flow recorded on the drained unit is re-steered",
	      SPEC(UDP4(45007, DRN4, 53)), FWD("dc-b", "drnu", .resteered = 1));
	check(c, "hold passed: new flow to the standby", SPEC(TCP4(C4, 45009, DRN4, 80, SYN)),
	      FWD("dc-b", "drn4", .new_flows = 1));

	/* through the CLI's path: --deadline sets the unit's hold */
	if (publish_base(c) ||
	    op(c, "drain dc-f --deadline 30s",
	       &(struct op){ .kind = OP_DRAIN, .unit = "dc-f", .deadline_ms = 30000 }, NULL))
		return;
	f = t_unit(c->t, "dc-f");
	{
		__u64 now = mono_ns(), h = c->t->units[f].hold_until_ns;

		verdict_line(c,
			     "drain --deadline 30s: hold_until_ns = now + 30 s (CLOCK_MONOTONIC)",
			     h > now + 29000000000ull && h <= now + 30000000000ull ?
				     NULL :
				     "hold_until_ns %llu, now %llu",
			     (unsigned long long)h, (unsigned long long)now);
	}
	clear_flows(c);
	check(c, "drain --deadline, before it: established flow stays",
	      SPEC(TCP4(C4, 45010, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
}

static void scen_drain_partial(struct ctx *c)
{
	const struct cg_service *svc;
	struct {
		const char *unit;
		__u64 ns;
	} hold;
	int in = 0, out = 0;

	/* one service of a unit: its other services keep it as they were */
	if (publish_base(c) ||
	    op(c, "drain dc-f --service drn4",
	       &(struct op){ .kind = OP_DRAIN, .unit = "dc-f", .service = "drn4" }, NULL))
		return;
	clear_flows(c);
	check(c, "service drained: its SYN goes to the standby, recorded",
	      SPEC(TCP4(C4, 46000, DRN4, 80, SYN)), FWD("dc-b", "drn4", .new_flows = 1));
	check(c, "service drained: its established flow stays on the owner",
	      SPEC(TCP4(C4, 46001, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
	check(c, "another service of the unit: SYN still on the owner, not recorded",
	      SPEC(TCP6(C6, 46002, DRN6, 80, SYN)), FWD("dc-f", "drn6"));

	/* a bucket range */
	if (publish_base(c) || op(c, "drain dc-f --service drn4 --buckets 0-49",
				  &(struct op){ .kind = OP_DRAIN,
						.unit = "dc-f",
						.service = "drn4",
						.has_range = true,
						.first = 0,
						.last = 49 },
				  NULL))
		return;
	clear_flows(c);
	for (int i = 0; i < 64 && (in < 2 || out < 2); i++) {
		struct pkt_spec s = { TCP4(C4, (__u16)(46100 + i), DRN4, 80, SYN) };
		__u32 bk = cg_bucket_of_hash(flow_hash(c, &s), 100);
		char name[128];

		if (bk < 50 && in++ < 2) {
			snprintf(name, sizeof(name), "range drained: SYN in bucket %u -> standby",
				 bk);
			check(c, name, &s, FWD("dc-b", "drn4", .new_flows = 1));
			s.tcp_flags = ACK;
			s.sport += 1000;
			if (cg_bucket_of_hash(flow_hash(c, &s), 100) < 50) {
				snprintf(name, sizeof(name),
					 "range drained: established flow in bucket %u stays",
					 cg_bucket_of_hash(flow_hash(c, &s), 100));
				check(c, name, &s, FWD("dc-f", "drn4"));
			}
		} else if (bk >= 50 && out++ < 2) {
			snprintf(name, sizeof(name),
				 "range drained: SYN in bucket %u (outside) stays", bk);
			check(c, name, &s, FWD("dc-f", "drn4"));
		}
	}
	svc = t_svc(c->t, "drn4");
	if (svc) {
		int f = t_unit(c->t, "dc-f"), bad = 0;

		for (__u32 bk = 0; bk < 100; bk++) {
			const struct cg_bucket *x = &c->t->buckets[svc->bucket_base + bk];

			bad += bk < 50 ? x->unit == f || x->prev_unit != f :
					 x->unit != f || x->prev_unit != CG_UNIT_NONE;
		}
		verdict_line(c, "range drained: buckets 0-49 move (prev_unit dc-f), 50-99 do not",
			     bad ? "%d buckets wrong" : NULL, bad);
	}

	/* the deadline of a partial drain ends its established flows too */
	if (publish_base(c))
		return;
	clear_flows(c);
	check(c, "full flow table: SYN recorded on dc-f before the partial drain",
	      SPEC(TCP4(C4, 46200, DRN4, 81, SYN)), FWD("dc-f", "drnfull", .new_flows = 1));
	if (op(c, "drain dc-f --service drnfull --deadline 1h",
	       &(struct op){ .kind = OP_DRAIN,
			     .unit = "dc-f",
			     .service = "drnfull",
			     .deadline_ms = 3600000 },
	       NULL))
		return;
	check(c, "partial drain, before its deadline: recorded flow stays",
	      SPEC(TCP4(C4, 46200, DRN4, 81, ACK)), FWD("dc-f", "drnfull"));
	hold.unit = "dc-f";
	hold.ns = mono_ns() - 1;
	if (publish_edit(c, "publish dc-f's hold in the past", set_hold, &hold))
		return;
	check(c, "partial drain, deadline passed: unrecorded established flow re-steered",
	      SPEC(TCP4(C4, 46201, DRN4, 81, ACK)), FWD("dc-b", "drnfull", .new_flows = 1));
	check(c, "partial drain, deadline passed: recorded flow re-steered too",
	      SPEC(TCP4(C4, 46200, DRN4, 81, ACK)), FWD("dc-b", "drnfull", .resteered = 1));
}

static void scen_restore(struct ctx *c)
{
	const struct cg_service *svc;
	const char *bad = NULL;
	struct {
		const char *unit;
		__u64 ns;
	} hold;
	int f, b;

	if (publish_base(c) ||
	    op(c, "evacuate dc-f", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-f" }, NULL))
		return;
	clear_flows(c);
	check(c, "evacuated: SYN to the standby (full flow table: recorded)",
	      SPEC(TCP4(C4, 47000, DRN4, 81, SYN)), FWD("dc-b", "drnfull", .new_flows = 1));
	check(c, "evacuated: steady state on the standby, not recorded",
	      SPEC(TCP4(C4, 47001, DRN4, 80, SYN)), FWD("dc-b", "drn4"));
	if (op(c, "restore dc-f --handover 10m",
	       &(struct op){ .kind = OP_RESTORE, .unit = "dc-f", .deadline_ms = 600000 }, NULL))
		return;
	f = t_unit(c->t, "dc-f");
	b = t_unit(c->t, "dc-b");
	svc = t_svc(c->t, "drn4");
	if (c->t->units[f].state != CG_UNIT_SERVING)
		bad = "dc-f is not serving";
	else if (!svc || c->t->buckets[svc->bucket_base].unit != f ||
		 c->t->buckets[svc->bucket_base].prev_unit != b)
		bad = "drn4's buckets are not back on dc-f with prev_unit = the stand-in dc-b";
	else if (c->t->units[b].hold_until_ns < mono_ns() + 590000000000ull)
		bad = "the stand-in's hold_until_ns is not now + 10 min";
	verdict_line(c, "restore --handover: buckets back, prev_unit = stand-in with a hold",
		     bad ? "%s" : NULL, bad);
	check(c, "handover: established (unrecorded) flow stays on the stand-in",
	      SPEC(TCP4(C4, 47001, DRN4, 80, ACK)), FWD("dc-b", "drn4"));
	check(c, "handover: new flow to the owner, recorded", SPEC(TCP4(C4, 47002, DRN4, 80, SYN)),
	      FWD("dc-f", "drn4", .new_flows = 1));
	check(c, "handover: flow recorded on the stand-in stays there",
	      SPEC(TCP4(C4, 47000, DRN4, 81, ACK)), FWD("dc-b", "drnfull"));
	check(c, "handover: v6 established flow stays on the stand-in",
	      SPEC(TCP6(C6, 47003, DRN6, 80, ACK)), FWD("dc-b", "drn6"));
	hold.unit = "dc-b";
	hold.ns = mono_ns() - 1;
	if (publish_edit(c, "publish the stand-in's hold in the past", set_hold, &hold))
		return;
	check(c, "handover over: established flow goes to the owner",
	      SPEC(TCP4(C4, 47004, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
	check(c, "handover over: the flow recorded on the owner stays",
	      SPEC(TCP4(C4, 47002, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
	/* "established flows stay on the stand-in until the deadline" (ops.c):
	 * recorded ones too, or a full-flow-table service never hands back */
	check(c, "handover over: flow recorded on the stand-in goes to the owner",
	      SPEC(TCP4(C4, 47000, DRN4, 81, ACK)), FWD("dc-f", "drnfull", .resteered = 1));

	/* the stand-in's hold is the handover's deadline: another operation
	 * on the stand-in (a one-service drain) must not end or extend it */
	if (publish_base(c) ||
	    op(c, "evacuate dc-f", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-f" }, NULL) ||
	    op(c, "restore dc-f --handover 10m",
	       &(struct op){ .kind = OP_RESTORE, .unit = "dc-f", .deadline_ms = 600000 }, NULL))
		return;
	b = t_unit(c->t, "dc-b");
	{
		__u64 h0 = c->t->units[b].hold_until_ns, h1;

		if (op(c, "drain dc-b --service canary",
		       &(struct op){ .kind = OP_DRAIN, .unit = "dc-b", .service = "canary" }, NULL))
			return;
		h1 = c->t->units[b].hold_until_ns;
		verdict_line(
			c, "a one-service drain of the stand-in keeps the handover's deadline",
			h1 == h0 ? NULL :
				   "dc-b hold_until_ns %llu -> %llu (0 = the handover never ends)",
			(unsigned long long)h0, (unsigned long long)h1);
	}

	/* restore without a handover: straight back */
	if (publish_base(c) ||
	    op(c, "evacuate dc-f", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-f" }, NULL) ||
	    op(c, "restore dc-f", &(struct op){ .kind = OP_RESTORE, .unit = "dc-f" }, NULL))
		return;
	svc = t_svc(c->t, "drn4");
	f = t_unit(c->t, "dc-f");
	bad = !svc || c->t->buckets[svc->bucket_base].unit != f ||
			      c->t->buckets[svc->bucket_base].prev_unit != CG_UNIT_NONE ?
		      "drn4's buckets not back on dc-f in steady state" :
		      NULL;
	verdict_line(c, "restore: buckets back in steady state", bad ? "%s" : NULL, bad);
	clear_flows(c);
	check(c, "restore without handover: established flow on the owner",
	      SPEC(TCP4(C4, 47005, DRN4, 80, ACK)), FWD("dc-f", "drn4"));
}

static void scen_missing_key(struct ctx *c)
{
	static const __u8 key12345[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x30, 0x39 };
	static const __u8 key7000[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x1b, 0x58 };
	static const __u8 short7[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x00, 0x30 };
	struct pkt_spec flowk = { UDP4(48002, PAY4, 9000), .payload = short7, .payload_len = 7 };
	const char *fu;

	if (publish_base(c))
		return;
	clear_flows(c);
	check(c, "key 12345 -> bucket 2345 -> dc-a",
	      SPEC(UDP4(48000, PAY4, 9000), .payload = key12345, .payload_len = 8),
	      FWD("dc-a", "payflow"));
	check(c, "key 7000 -> bucket 7000 -> dc-c",
	      SPEC(UDP4(48001, PAY4, 9000), .payload = key7000, .payload_len = 8),
	      FWD("dc-c", "payflow"));
	fu = cg_bucket_of_hash(flow_hash(c, &flowk), 10000) < 5000 ? "dc-a" : "dc-c";
	check(c, "key short, missing flow: the flow hash's bucket", &flowk, FWD(fu, "payflow"));
	check(c, "key short, missing reject: dropped, key_reject",
	      SPEC(UDP4(48003, PAY4, 9001), .payload = short7, .payload_len = 7),
	      DROP(CG_R_KEY_REJECT));
	check(c, "no payload at all, missing reject: dropped", SPEC(UDP4(48004, PAY4, 9001)),
	      DROP(CG_R_KEY_REJECT));
	check(c, "key present, missing reject: the key's bucket",
	      SPEC(UDP4(48005, PAY4, 9001), .payload = key7000, .payload_len = 8),
	      FWD("dc-c", "payrej"));
	check(c, "key short, missing central: the central unit",
	      SPEC(UDP4(48006, PAY4, 9002), .payload = short7, .payload_len = 7),
	      FWD("dc-a", "paycen"));
	check(c, "key present, missing central: the key's bucket",
	      SPEC(UDP4(48007, PAY4, 9002), .payload = key7000, .payload_len = 8),
	      FWD("dc-e", "paycen"));
	check(c, "ICMP error, missing central: the central unit",
	      SPEC(.ip = 4, .src = R4, .dst = PAY4, .l4 = PKT_L4_ICMP, .icmp_type = 3,
		   .icmp_code = 4, .icmp_info = 1400,
		   .quote = SPEC(.ip = 4, .src = PAY4, .dst = C4, .l4 = PKT_L4_UDP, .sport = 9002,
				 .dport = 48008, .payload = key12345, .payload_len = 8),
		   .quote_len = 28),
	      FWD("dc-a", "paycen"));

	if (op(c, "evacuate dc-a (central; standby dc-b)",
	       &(struct op){ .kind = OP_EVACUATE, .unit = "dc-a" }, NULL))
		return;
	check(c, "central evacuated: key short, missing central -> its standby",
	      SPEC(UDP4(48009, PAY4, 9002), .payload = short7, .payload_len = 7),
	      FWD("dc-b", "paycen"));
	check(c, "central evacuated: key 12345's bucket -> the standby",
	      SPEC(UDP4(48010, PAY4, 9000), .payload = key12345, .payload_len = 8),
	      FWD("dc-b", "payflow"));
	check(c, "central evacuated: key 7000's bucket (dc-c) does not move",
	      SPEC(UDP4(48011, PAY4, 9000), .payload = key7000, .payload_len = 8),
	      FWD("dc-c", "payflow"));
}

static void scen_shared_global(struct ctx *c)
{
	struct cg_errors errs = {};
	struct cg_op_result r;
	__u64 gen;

	if (publish_base(c))
		return;
	clear_flows(c);
	check(c, "shared service read -> the local unit", SPEC(TCP4(C4, 49000, SHR4, 8080, SYN)),
	      FWD("dc-c", "shr"));
	check(c, "shared service's write port (global) -> the central unit",
	      SPEC(TCP4(C4, 49001, SHR4, 8081, SYN)), FWD("dc-a", "shrw"));
	check(c, "global -> central", SPEC(TCP4(C4, 49002, GLOB4, 5432, SYN)),
	      FWD("dc-a", "glob4"));
	check(c, "global v6 -> central (v6 in v4)", SPEC(TCP6(C6, 49003, GLOB6, 5432, ACK)),
	      FWD("dc-a", "glob6"));

	if (op(c, "evacuate dc-a", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-a" }, NULL))
		return;
	check(c, "central evacuated: global -> standby", SPEC(TCP4(C4, 49004, GLOB4, 5432, ACK)),
	      FWD("dc-b", "glob4"));
	check(c, "central evacuated: global v6 -> standby", SPEC(TCP6(C6, 49005, GLOB6, 5432, SYN)),
	      FWD("dc-b", "glob6"));
	check(c, "central evacuated: writes -> standby", SPEC(TCP4(C4, 49006, SHR4, 8081, SYN)),
	      FWD("dc-b", "shrw"));
	check(c, "central evacuated: reads stay on the local unit",
	      SPEC(TCP4(C4, 49007, SHR4, 8080, SYN)), FWD("dc-c", "shr"));

	/* the standby of an evacuated central is now what global traffic
	 * depends on: evacuating it needs --force, like the central itself */
	gen = c->t->gen.generation;
	if (!run_op(c, &(struct op){ .kind = OP_EVACUATE, .unit = "dc-b" }, &r, &errs))
		verdict_line(
			c,
			"evacuating the serving standby of an evacuated central is refused without --force",
			"refused nothing: generation %llu -> %llu, global services now have no unit",
			(unsigned long long)gen, (unsigned long long)r.gen_after);
	else
		verdict_line(
			c,
			"evacuating the serving standby of an evacuated central is refused without --force",
			NULL);
	cg_errors_free(&errs);
	if (publish_base(c) ||
	    op(c, "evacuate dc-a", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-a" }, NULL) ||
	    op(c, "evacuate dc-b --force",
	       &(struct op){ .kind = OP_EVACUATE, .unit = "dc-b", .force = true }, NULL))
		return;
	check(c, "central and standby evacuated: global dropped, no_unit",
	      SPEC(TCP4(C4, 49008, GLOB4, 5432, SYN)), DROP(CG_R_NO_UNIT));
	check(c, "central and standby evacuated: shared reads still local",
	      SPEC(TCP4(C4, 49009, SHR4, 8080, SYN)), FWD("dc-c", "shr"));

	if (publish_base(c) || op(c, "evacuate dc-c (local unit)",
				  &(struct op){ .kind = OP_EVACUATE, .unit = "dc-c" }, NULL))
		return;
	check(c, "local unit evacuated: shared reads -> central",
	      SPEC(TCP4(C4, 49010, SHR4, 8080, SYN)), FWD("dc-a", "shr"));
	if (op(c, "evacuate dc-a", &(struct op){ .kind = OP_EVACUATE, .unit = "dc-a" }, NULL))
		return;
	check(c, "local and central evacuated: shared reads -> central's standby",
	      SPEC(TCP4(C4, 49011, SHR4, 8080, ACK)), FWD("dc-b", "shr"));

	/* draining the central unit: established global connections stay */
	if (publish_base(c) ||
	    op(c, "drain dc-a (central)", &(struct op){ .kind = OP_DRAIN, .unit = "dc-a" }, NULL))
		return;
	clear_flows(c);
	check(c, "central draining: new global flow -> standby, recorded",
	      SPEC(TCP4(C4, 49012, GLOB4, 5432, SYN)), FWD("dc-b", "glob4", .new_flows = 1));
	clear_flows(c);
	check(c, "central draining: established global flow stays on the central",
	      SPEC(TCP4(C4, 49013, GLOB4, 5432, ACK)), FWD("dc-a", "glob4"));
}

/* ---- main ---- */
static int if_mac(int ifindex, __u8 mac[6])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0 || !if_indextoname(ifindex, ifr.ifr_name)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	err = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (err)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

static const struct {
	const char *name;
	void (*fn)(struct ctx *c);
} scenarios[] = {
	{ "pins", scen_pins },
	{ "canary", scen_canary },
	{ "fence drop", scen_fence_drop },
	{ "fence reject", scen_fence_reject },
	{ "fence expiry", scen_fence_expiry },
	{ "drain", scen_drain },
	{ "partial drain", scen_drain_partial },
	{ "restore", scen_restore },
	{ "missing key", scen_missing_key },
	{ "shared and global", scen_shared_global },
};

int main(int argc, char **argv)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct cg_errors errs = {};
	int err, fd;

	if (!c)
		return 1;
	c->filter = argc > 1 ? argv[1] : NULL;
	if (!tl_require_root(PROG))
		return 0;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0) {
		tl_skip(PROG, "cannot create a BPF map: %s", strerror(errno));
		return 0;
	}
	close(fd);
	/* ingress_ifindex 1 and the tc test run use this namespace's lo */
	if (unshare(CLONE_NEWNET))
		fprintf(stderr, "%s: unshare(CLONE_NEWNET): %s; using this namespace's lo\n", PROG,
			strerror(errno));
	if (if_mac(INGRESS_IFINDEX, c->lo_mac))
		memset(c->lo_mac, 0, 6);
	/* the operations write an audit line each: not into /var/lib */
	snprintf(c->audit, sizeof(c->audit), "/tmp/cg-test-policy.%d.audit", (int)getpid());
	setenv("CELLGATE_AUDIT_LOG", c->audit, 1);

	if (cg_config_load_string(config_json, &c->cfg, &errs)) {
		for (int i = 0; i < errs.n; i++)
			tl_fail(PROG, "config: %s", errs.msgs[i]);
		cg_errors_free(&errs);
		return 1;
	}
	{
		int a = cfg_svc(&c->cfg, "canary"), b = cfg_svc(&c->cfg, "canpay");

		/* the expected picks below use these shares */
		if (a < 0 || b < 0 || c->cfg.services[a].canary_bp != CANARY_BP ||
		    c->cfg.services[b].canary_bp != CANPAY_BP) {
			tl_fail(PROG, "test bug: the config's canary shares are not %d and %d bp",
				CANARY_BP, CANPAY_BP);
			return 1;
		}
	}
	c->skel = cg_steer__open();
	if (c->skel) {
		bpf_map__set_autocreate(c->skel->maps.cg_gen_template, false);
		bpf_map__set_max_entries(c->skel->maps.cg_buckets, CG_BANKS * BUCKET_SLOTS);
		if (cg_steer__load(c->skel)) {
			cg_steer__destroy(c->skel);
			c->skel = NULL;
		}
	}
	if (!c->skel) {
		tl_fail(PROG, "cannot load the steering programs (verifier log above)");
		return 1;
	}
	err = cg_dp_from_object(c->skel->obj, &c->dp);
	if (!err)
		err = cg_tables_alloc(&c->t, BUCKET_SLOTS);
	if (err) {
		tl_fail(PROG, "cannot open the dataplane maps: %s", strerror(-err));
		return 1;
	}
	c->progs[0] = (struct prog){ "xdp", bpf_program__fd(c->skel->progs.cg_steer_xdp), true };
	c->progs[1] = (struct prog){ "tc", bpf_program__fd(c->skel->progs.cg_steer_tc), false };
	c->flows_fd = bpf_map__fd(c->skel->maps.cg_flows);
	c->reasons_fd = bpf_map__fd(c->skel->maps.cg_reasons);
	c->unit_fd = bpf_map__fd(c->skel->maps.cg_unit_stats);
	c->svc_fd = bpf_map__fd(c->skel->maps.cg_service_stats);
	c->ep_fd = bpf_map__fd(c->skel->maps.cg_endpoint_stats);

	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
		for (int k = 0; k < 2; k++) {
			c->pr = &c->progs[k];
			c->scen = scenarios[i].name;
			c->scen_failed = false;
			scenarios[i].fn(c);
		}

	unlink(c->audit);
	cg_tables_free(c->t);
	cg_dp_close(c->dp);
	cg_steer__destroy(c->skel);
	cg_config_free(&c->cfg);
	free(c);
	return tl_exit_code();
}
