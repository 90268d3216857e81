// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of the steering program with BPF_PROG_TEST_RUN,
 * repeat = 1: the program rewrites the packet, so a repeated run would
 * see its own output from the second iteration on (DESIGN §5). Each call
 * runs one fresh copy of the frame; the kernel times the program alone.
 *
 * Method (docs/performance.md):
 *  - a round of a group of cases runs the floor (an empty XDP program) and
 *    every case of the group in turns of 100 calls until each made CALLS,
 *    so bursts of load from other tenants hit all of them alike;
 *  - a case's figure for the round is its mean kernel-reported duration
 *    with the slowest 1 % of calls left out (interrupts and preemption land
 *    there, at tens of microseconds each), and "net" subtracts the floor's
 *    figure from the same round;
 *  - RUNS rounds give min / median / max of net; "x parse" is net over the
 *    median net of the parse + MAC swap + XDP_TX baseline;
 *  - before measuring, one call checks that the case returns the verdict of
 *    the path it is named after (forwarded = XDP_TX, pass, drop);
 *  - flows vary per call where a case says so: the 5-tuple is patched
 *    between calls, so caches and tables see distinct keys;
 *  - scaling pairs (small, big) live in two dataplanes loaded side by side
 *    and are measured in the same rounds; growth = big net / small net - 1.
 *
 * Usage: bench_dataplane [--quick] [--json FILE]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "baseline.skel.h"
#include "steer.skel.h"
#include "config.h"
#include "pkt.h"
#include "dp.h"
#include "tables.h"

#define MAX_RUNS 15
#define MAX_CASES 64
#define MAX_GROUP 8
#define TRIM 0.01 /* slowest share of calls left out of a run's mean */

static int RUNS = 7;
static int CALLS = 10000; /* per round and probe, at most 65536 */

/* ---- frames ---- */

struct frame {
	struct pkt p;
	size_t sport_off; /* TCP/UDP source port */
	size_t src_off; /* last two bytes of the source address */
	size_t dport_off; /* destination port, patched when nports > 1 */
	__u32 nflows; /* distinct flows cycled through, 1 = the same packet */
	__u32 flow_base; /* added to the flow index: disjoint sets of flows */
	__u32 nports; /* destination ports cycled through (services scaling) */
	__u16 dport; /* first destination port */
};

static void patch_flow(struct frame *f, __u32 i)
{
	__u32 flow = (f->nflows > 1 ? i % f->nflows : 0) + f->flow_base;
	__u16 sport = htons(1024 + flow % 60000);
	__u16 hi = htons(flow / 60000 + 1);

	memcpy(f->p.d + f->sport_off, &sport, 2);
	memcpy(f->p.d + f->src_off, &hi, 2);
	if (f->nports > 1) {
		__u16 dport = htons(f->dport + flow % f->nports);

		memcpy(f->p.d + f->dport_off, &dport, 2);
	}
}

static void make_frame(struct frame *f, int ip, int l4, const char *dst, __u16 dport,
		       __u8 tcp_flags, const __u8 *payload, size_t plen, __u32 nflows)
{
	struct pkt_spec s = {
		.ip = ip,
		.src = ip == 4 ? "198.19.0.1" : "2001:db8:ffff::1",
		.dst = dst,
		.l4 = l4,
		.sport = 1024,
		.dport = dport,
		.tcp_flags = tcp_flags,
		.payload = payload,
		.payload_len = plen,
		.pad = true,
	};
	size_t l3 = 14, l4off = l3 + (ip == 4 ? 20 : 40);

	memset(f, 0, sizeof(*f));
	if (pkt_build(&s, &f->p)) {
		fprintf(stderr, "bench: cannot build frame\n");
		exit(1);
	}
	f->sport_off = l4off;
	f->dport_off = l4off + 2;
	f->src_off = l3 + (ip == 4 ? 12 + 2 : 8 + 14);
	f->nflows = nflows;
	f->dport = dport;
}

/* An ICMP(v6) error quoting a packet the unit sent to the client
 * (VIP:port -> client): frag-needed / packet-too-big. */
static void make_icmp_frame(struct frame *f, int ip, const char *vip, __u16 port, __u32 nflows)
{
	const char *client = ip == 4 ? "198.19.0.1" : "2001:db8:ffff::1";
	struct pkt_spec q = { .ip = ip, .src = vip, .dst = client, .l4 = PKT_L4_TCP,
			      .sport = port, .dport = 1024, .no_eth = true };
	struct pkt_spec s = { .ip = ip, .src = ip == 4 ? "198.19.9.9" : "2001:db8:ffff::9",
			      .dst = vip, .l4 = PKT_L4_ICMP, .icmp_type = ip == 4 ? 3 : 2,
			      .icmp_code = ip == 4 ? 4 : 0, .icmp_info = 1400, .quote = &q,
			      .pad = true };
	size_t l3 = 14, iph = ip == 4 ? 20 : 40;

	memset(f, 0, sizeof(*f));
	if (pkt_build(&s, &f->p)) {
		fprintf(stderr, "bench: cannot build ICMP frame\n");
		exit(1);
	}
	/* the client is the quote's destination: its port and address vary */
	f->sport_off = l3 + iph + 8 + iph + 2;
	f->src_off = l3 + iph + 8 + (ip == 4 ? 16 + 2 : 24 + 14);
	f->nflows = nflows;
}

/* ---- dataplanes: a steering object with a published config ---- */

struct env_spec {
	int units; /* u0 (central) .. u<n-1>, one IPv4 endpoint each ... */
	int eps0; /* ... except u0, which has this many (0 = 1) */
	int svcs; /* TCP services on 198.18.100.1, ports 80.., buckets spread over all units */
	int modulo; /* of those services (0 = 10000) */
	bool extras; /* UDP, IPv6, payload-key, full-flow-table services and a v6 unit */
	bool moving; /* every bucket moving from u1 (alive) to its owner */
	int fence; /* 0, or every bucket fenced until released: 1 drop, 2 reject */
	__u32 flows; /* cg_flows capacity */
};

struct env {
	struct cg_steer *skel;
	struct cg_dp *dp;
	struct cg_tables *t;
	int xdp;
};

/* unique, test-range endpoint addresses and MACs by global index */
static void put_endpoint(FILE *m, int k, bool first)
{
	fprintf(m, "%s{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:%02x:%02x:%02x\"}",
		first ? "" : ",", 1 + k / 250, 1 + k % 250, (k >> 16) & 0xff, (k >> 8) & 0xff,
		k & 0xff);
}

static void put_rules(FILE *m, int modulo, int units, int rot)
{
	fprintf(m, "\"modulo\":%d,\"rules\":[", modulo);
	for (int u = 0; u < units; u++) {
		long lo = (long)modulo * u / units, hi = (long)modulo * (u + 1) / units - 1;

		if (hi >= lo)
			fprintf(m, "%s{\"buckets\":\"%ld-%ld\",\"unit\":\"u%d\"}", u ? "," : "", lo,
				hi, (u + rot) % units);
	}
	fprintf(m, "]");
}

/* JSON config for spec; the caller frees it. */
static char *gen_config(const struct env_spec *s)
{
	int modulo = s->modulo ? s->modulo : 10000, k = 0;
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);

	if (!m)
		return NULL;
	fprintf(m, "{\"version\":1,\"encap\":{\"source4\":\"198.18.250.0/24\",\"source6\":\"2001:db8:250::/112\"},\"units\":[");
	for (int u = 0; u < s->units; u++) {
		int n = u == 0 && s->eps0 > 1 ? s->eps0 : 1;

		fprintf(m, "%s{\"name\":\"u%d\",%s\"endpoints\":[", u ? "," : "", u,
			u == 0 ? "\"role\":\"central\"," : "");
		for (int e = 0; e < n; e++)
			put_endpoint(m, k++, e == 0);
		fprintf(m, "]}");
	}
	if (s->extras)
		fprintf(m, ",{\"name\":\"v6\",\"endpoints\":[{\"address\":\"2001:db8:1::2\",\"mac\":\"02:00:00:01:00:02\"}]}");
	fprintf(m, "],\"services\":[");
	for (int i = 0; i < s->svcs; i++) {
		fprintf(m, "%s{\"name\":\"svc%d\",\"vip\":\"198.18.100.1\",\"port\":%d,\"proto\":\"tcp\",",
			i ? "," : "", i, 80 + i);
		put_rules(m, modulo, s->units, i);
		fprintf(m, "}");
	}
	if (s->extras) {
		static const char *const extra[] = {
			"\"name\":\"udp\",\"vip\":\"198.18.100.1\",\"port\":7000,\"proto\":\"udp\"",
			"\"name\":\"tcp6\",\"vip\":\"2001:db8:100::1\",\"port\":80,\"proto\":\"tcp\"",
			"\"name\":\"udp6\",\"vip\":\"2001:db8:100::1\",\"port\":7000,\"proto\":\"udp\"",
			"\"name\":\"uid\",\"vip\":\"198.18.100.2\",\"port\":9000,\"proto\":\"udp\",\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":4}",
			"\"name\":\"uid6\",\"vip\":\"2001:db8:100::2\",\"port\":9000,\"proto\":\"udp\",\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":4}",
			"\"name\":\"full\",\"vip\":\"198.18.100.3\",\"port\":80,\"proto\":\"tcp\",\"flow_table\":\"full\"",
		};

		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
			fprintf(m, "%s{%s,", s->svcs || i ? "," : "", extra[i]);
			put_rules(m, 10000, s->units, 0);
			fprintf(m, "}");
		}
		/* IPv6 in IPv6: a service whose only unit has an IPv6 endpoint */
		fprintf(m, ",{\"name\":\"tcp6v6\",\"vip\":\"2001:db8:100::3\",\"port\":80,\"proto\":\"tcp\",\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"v6\"}]}");
	}
	fprintf(m, "]}");
	fclose(m);
	return buf;
}

static void print_errors(const char *what, struct cg_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		fprintf(stderr, "bench %s: %s\n", what, errs->msgs[i]);
}

static int env_open(struct env *e, const struct env_spec *s)
{
	int modulo = s->modulo ? s->modulo : 10000;
	__u32 slots = (__u32)(s->svcs * modulo + (s->extras ? 7 * 10000 : 0));
	struct cg_errors errs = {};
	struct cg_config cfg = {};
	char *text;
	int err = -1;

	memset(e, 0, sizeof(*e));
	slots = slots < 65536 ? 65536 : slots;
	e->skel = cg_steer__open();
	if (!e->skel)
		return -1;
	bpf_map__set_autocreate(e->skel->maps.cg_gen_template, false);
	bpf_map__set_max_entries(e->skel->maps.cg_buckets, CG_BANKS * slots);
	bpf_map__set_max_entries(e->skel->maps.cg_flows, s->flows ? s->flows : 1024);
	if (cg_steer__load(e->skel) || cg_dp_from_object(e->skel->obj, &e->dp) ||
	    cg_tables_alloc(&e->t, e->dp->bucket_slots)) {
		fprintf(stderr, "bench: cannot load the steering object: %s\n", strerror(errno));
		return -1;
	}
	text = gen_config(s);
	if (!text || cg_config_load_string(text, &cfg, &errs) ||
	    cg_build_tables(&cfg, NULL, 1, e->t, &errs)) {
		print_errors("config", &errs);
		goto out;
	}
	if (s->moving)
		for (__u32 b = 0; b < e->t->buckets_used; b++)
			e->t->buckets[b].prev_unit = 1;
	if (s->fence) {
		e->t->fences[1].deadline_ns = CG_FENCE_FOREVER;
		e->t->fences[1].action = s->fence == 2 ? CG_FENCE_REJECT : CG_FENCE_DROP;
		for (__u32 b = 0; b < e->t->buckets_used; b++)
			e->t->buckets[b].fence = 1;
	}
	if (cg_publish(e->dp, e->t, &errs)) {
		print_errors("publish", &errs);
		goto out;
	}
	e->xdp = bpf_program__fd(e->skel->progs.cg_steer_xdp);
	err = 0;
out:
	free(text);
	cg_config_free(&cfg);
	cg_errors_free(&errs);
	return err;
}

static void env_close(struct env *e)
{
	cg_tables_free(e->t);
	cg_dp_close(e->dp);
	cg_steer__destroy(e->skel);
	memset(e, 0, sizeof(*e));
}

/* Sum over CPUs of new_flows of one service's counters. */
static __u64 service_new_flows(struct env *e, const char *name)
{
	int ncpu = libbpf_num_possible_cpus(), fd = cg_dp_map_fd(e->dp, "cg_service_stats");
	struct cg_counters c[ncpu];
	__u64 sum = 0;
	__u32 id;

	for (id = 0; id < (__u32)e->t->n_services; id++)
		if (!strcmp(e->t->services[id].name, name))
			break;
	if (id == (__u32)e->t->n_services)
		return 0;
	id = e->t->services[id].id;
	if (bpf_map_lookup_elem(fd, &id, c))
		return 0;
	for (int i = 0; i < ncpu; i++)
		sum += c[i].new_flows;
	return sum;
}

/* Fill cg_flows with n unrelated flows (198.19.128.0/17 clients), so a
 * miss searches a populated table. */
static int prefill_flows(struct env *e, __u32 n)
{
	int fd = cg_dp_map_fd(e->dp, "cg_flows");
	enum { CHUNK = 4096 };
	static struct cg_flow_key keys[CHUNK];
	static struct cg_flow vals[CHUNK];

	for (__u32 done = 0; done < n;) {
		__u32 cnt = n - done < CHUNK ? n - done : CHUNK;
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

		memset(keys, 0, sizeof(keys));
		for (__u32 i = 0; i < cnt; i++) {
			__u32 k = done + i;

			keys[i].saddr[0] = htonl(0xc6138000u | (k >> 8)); /* 198.19.128.0/17 */
			keys[i].daddr[0] = htonl(0xc6126401u); /* 198.18.100.1 */
			keys[i].sport = htons(1024 + (k & 0xff));
			keys[i].dport = htons(80);
			keys[i].proto = IPPROTO_TCP;
			keys[i].family = CG_AF_INET;
			vals[i].unit = 0;
			vals[i].endpoint = 0;
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, &o))
			return -errno;
		done += cnt;
	}
	return 0;
}

/*
 * A second copy of the baseline programs whose hash table holds the 200k
 * flows of the full-flow-table case plus 200k others: the cost of one
 * hash-map lookup over a table of that size, hit or miss, measured in the
 * same rounds as cellgate's flow-table cases.
 */
static struct cg_baseline *base_big;

static int base_big_open(void)
{
	enum { CHUNK = 4096 };
	static struct cg_flow_key keys[CHUNK];
	static __u32 vals[CHUNK];
	int fd;

	base_big = cg_baseline__open();
	if (!base_big || bpf_map__set_max_entries(base_big->maps.cg_base_table, 1u << 20) ||
	    cg_baseline__load(base_big))
		return -1;
	fd = bpf_map__fd(base_big->maps.cg_base_table);
	for (__u32 done = 0; done < 400000;) {
		__u32 cnt = CHUNK;
		LIBBPF_OPTS(bpf_map_batch_opts, o, .elem_flags = BPF_ANY);

		memset(keys, 0, sizeof(keys));
		for (__u32 i = 0; i < cnt; i++) {
			__u32 flow = done + i;

			if (flow < 200000) { /* what patch_flow makes of flow 0..199999 */
				keys[i].saddr[0] = htonl(0xc6130000u | (flow / 60000 + 1));
				keys[i].sport = htons(1024 + flow % 60000);
				keys[i].daddr[0] = htonl(0xc6126403u); /* 198.18.100.3 */
			} else {
				keys[i].saddr[0] = htonl(0xc6138000u | (flow >> 8));
				keys[i].sport = htons(1024 + (flow & 0xff));
				keys[i].daddr[0] = htonl(0xc6126401u);
			}
			keys[i].dport = htons(80);
			keys[i].proto = IPPROTO_TCP;
			keys[i].family = CG_AF_INET;
		}
		if (bpf_map_update_batch(fd, keys, vals, &cnt, &o))
			return -1;
		done += cnt;
	}
	return 0;
}

/* ---- measurement ---- */

struct prog_ref {
	int fd;
	__u32 counter; /* calls so far: the next flow index */
};

struct probe {
	char name[64];
	int fd;
	__u32 expect; /* XDP verdict of the path the case is named after */
	bool wrong; /* it returned something else: the figure is not what it says */
	struct frame f;
	__u32 *counter;
	double raw[MAX_RUNS], net[MAX_RUNS];
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static int cmp_u32(const void *a, const void *b)
{
	__u32 x = *(const __u32 *)a, y = *(const __u32 *)b;

	return x < y ? -1 : x > y;
}

/* Run calls calls of one program; durations appended at d (may be NULL). */
static void run_calls(int fd, struct frame *f, __u32 *counter, int calls, __u32 *d)
{
	__u8 out[PKT_MAX];

	for (int c = 0; c < calls; c++) {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->p.d, .data_size_in = f->p.len,
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

		patch_flow(f, (*counter)++);
		if (bpf_prog_test_run_opts(fd, &o)) {
			fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
			exit(1);
		}
		if (d)
			d[c] = o.duration;
	}
}

/* Mean of n durations with the slowest TRIM left out (sorts d). */
static double trimmed_mean(__u32 *d, int n)
{
	int keep = n - (int)(n * TRIM);
	__u64 sum = 0;

	qsort(d, n, sizeof(d[0]), cmp_u32);
	for (int c = 0; c < keep; c++)
		sum += d[c];
	return (double)sum / keep;
}

static struct frame floor_frame;
static int floor_fd, parse_fd;
static __u32 floor_ctr;

/*
 * RUNS rounds. In a round the floor and every probe of the group take turns
 * in blocks of BLOCK calls until each made CALLS, so a burst of load from
 * elsewhere (milliseconds long) hits all of them alike.
 */
#define BLOCK 100

static const char *verdict_name(__u32 v)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return v < 5 ? names[v] : "?";
}

static int n_wrong;

/* One call: does the case take the path it is named after? */
static void check_verdict(struct probe *p)
{
	__u8 out[PKT_MAX];
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = p->f.p.d, .data_size_in = p->f.p.len,
		    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	patch_flow(&p->f, (*p->counter)++);
	if (bpf_prog_test_run_opts(p->fd, &o)) {
		fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
		exit(1);
	}
	if (o.retval != p->expect) {
		fprintf(stderr, "bench: %s: the program returned %s, expected %s; this figure does not measure what it is named after\n",
			p->name, verdict_name(o.retval), verdict_name(p->expect));
		p->wrong = true;
		n_wrong++;
	}
}

static void measure_group(struct probe *const *ps, int n)
{
	static __u32 d[MAX_GROUP + 1][1 << 16];
	int calls = CALLS < (1 << 16) ? CALLS : (1 << 16);

	for (int i = 0; i < n; i++)
		check_verdict(ps[i]);
	for (int i = 0; i < n; i++) /* warm: maps, code, branch history */
		run_calls(ps[i]->fd, &ps[i]->f, ps[i]->counter, CALLS / 5, NULL);
	for (int r = 0; r < RUNS; r++) {
		double fl;

		for (int b = 0; b < calls; b += BLOCK) {
			int k = calls - b < BLOCK ? calls - b : BLOCK;

			run_calls(floor_fd, &floor_frame, &floor_ctr, k, d[0] + b);
			for (int i = 0; i < n; i++)
				run_calls(ps[i]->fd, &ps[i]->f, ps[i]->counter, k, d[i + 1] + b);
		}
		fl = trimmed_mean(d[0], calls);
		for (int i = 0; i < n; i++) {
			ps[i]->raw[r] = trimmed_mean(d[i + 1], calls);
			ps[i]->net[r] = ps[i]->raw[r] - fl;
		}
	}
}

/* ---- reporting ---- */

struct stat3 {
	double min, med, max;
};

static struct stat3 stat3(const double *v, int n)
{
	double s[MAX_RUNS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(s[0]), cmp_double);
	return (struct stat3){ s[0], n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[n - 1] };
}

struct figure {
	char name[64];
	char section[24];
	struct stat3 raw, net, ratio;
	double target; /* ns net; 0 = none */
	bool is_growth;
	bool wrong; /* the case returned another verdict than its path's */
	char small[64], big[64];
};

static struct figure figs[MAX_CASES];
static int n_figs;
static double parse_net[MAX_RUNS]; /* parse+TX net per round of the baseline group */
static double parse_med;

static const char *met_str(const struct figure *f)
{
	if (f->wrong)
		return "WRONG PATH";
	if (!f->target)
		return "";
	return f->net.med <= f->target ? "yes" : "NO";
}

static void print_header(const char *title)
{
	printf("\n%s\n", title);
	printf("  %-44s %7s %7s %7s %7s %7s  %-8s %s\n", "case", "ns", "net min", "net med",
	       "net max", "x parse", "target", "met");
}

/* A case: net figures, and its ratio to the parse + XDP_TX baseline's median. */
static void report(const char *section, struct probe *p, double target)
{
	struct figure *f = &figs[n_figs++];
	double ratio[MAX_RUNS];
	char tg[16] = "";

	snprintf(f->name, sizeof(f->name), "%s", p->name);
	snprintf(f->section, sizeof(f->section), "%s", section);
	for (int r = 0; r < RUNS; r++)
		ratio[r] = parse_med > 0 ? p->net[r] / parse_med : 0;
	f->raw = stat3(p->raw, RUNS);
	f->net = stat3(p->net, RUNS);
	f->ratio = stat3(ratio, RUNS);
	f->target = target;
	f->wrong = p->wrong;
	if (target)
		snprintf(tg, sizeof(tg), "<= %.0f", target);
	printf("  %-44s %7.1f %7.1f %7.1f %7.1f %7.2f  %-8s %s\n", f->name, f->raw.med, f->net.min,
	       f->net.med, f->net.max, f->ratio.med, tg, met_str(f));
	fflush(stdout);
}

/* Growth from a small to a big configuration, per round. */
static void report_growth(const char *name, struct probe *small, struct probe *big)
{
	struct figure *f = &figs[n_figs++];
	double g[MAX_RUNS];

	for (int r = 0; r < RUNS; r++)
		g[r] = small->net[r] > 0 ? (big->net[r] / small->net[r] - 1) * 100 : 0;
	snprintf(f->name, sizeof(f->name), "%s", name);
	snprintf(f->section, sizeof(f->section), "scaling");
	snprintf(f->small, sizeof(f->small), "%s", small->name);
	snprintf(f->big, sizeof(f->big), "%s", big->name);
	f->is_growth = true;
	f->wrong = small->wrong || big->wrong;
	f->net = stat3(g, RUNS);
	f->target = 10;
	printf("  %-44s %7s %6.1f%% %6.1f%% %6.1f%% %7s  %-8s %s\n", name, "growth", f->net.min,
	       f->net.med, f->net.max, "", "<= 10 %", met_str(f));
	fflush(stdout);
}

static void probe_init(struct probe *p, const char *name, int fd, __u32 *counter)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->fd = fd;
	p->counter = counter;
	p->expect = XDP_TX; /* forwarded; pass-through and misses say otherwise */
}

struct prog_size {
	__u32 xlated, jited, verified;
};

static struct prog_size prog_size(int fd)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	struct prog_size s = {};

	if (!bpf_obj_get_info_by_fd(fd, &info, &len)) {
		s.xlated = info.xlated_prog_len / 8;
		s.jited = info.jited_prog_len;
		s.verified = info.verified_insns;
	}
	return s;
}

static struct prog_size steer_size;
static double floor_med;

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "{\"bench\":\"dataplane\",\"method\":\"BPF_PROG_TEST_RUN repeat=1, 60-byte frames, net = ns minus an empty XDP program in the same round, slowest %.0f%% of calls left out\",",
		TRIM * 100);
	fprintf(f, "\"runs\":%d,\"calls\":%d,\"floor_ns\":%.1f,\"parse_tx_net_ns\":%.1f,", RUNS, CALLS,
		floor_med, parse_med);
	fprintf(f, "\"program\":{\"name\":\"cg_steer_xdp\",\"xlated_insns\":%u,\"jited_bytes\":%u,\"verified_insns\":%u},",
		steer_size.xlated, steer_size.jited, steer_size.verified);
	fprintf(f, "\"figures\":[");
	for (int i = 0; i < n_figs; i++) {
		const struct figure *g = &figs[i];

		fprintf(f, "%s{\"name\":\"%s\",\"section\":\"%s\",", i ? "," : "", g->name, g->section);
		if (g->is_growth)
			fprintf(f, "\"unit\":\"%%\",\"small\":\"%s\",\"big\":\"%s\",\"min\":%.1f,\"median\":%.1f,\"max\":%.1f,",
				g->small, g->big, g->net.min, g->net.med, g->net.max);
		else
			fprintf(f, "\"unit\":\"ns net\",\"raw_ns\":%.1f,\"min\":%.1f,\"median\":%.1f,\"max\":%.1f,\"baseline\":\"parse_tx\",\"ratio\":%.3f,",
				g->raw.med, g->net.min, g->net.med, g->net.max, g->ratio.med);
		if (g->wrong)
			fprintf(f, "\"error\":\"returned another verdict than the path it is named after\",");
		if (g->target)
			fprintf(f, "\"target\":\"<= %.0f%s\",\"target_value\":%.0f,\"met\":%s}", g->target,
				g->is_growth ? " %" : " ns", g->target,
				(!g->wrong && g->net.med <= g->target) ? "true" : "false");
		else
			fprintf(f, "\"target\":null,\"met\":null}");
	}
	fprintf(f, "]}\n");
	fclose(f);
}

/* ---- the cases ---- */

static const __u8 uid[4] = { 0, 0, 0x30, 0x39 }; /* 12345 */

#define T_FAST 70 /* steady state, any packet of a service */
#define T_PASS 30
#define T_SYN_INSERT 150
#define T_MISS 200
#define T_FULL 150

static void bench_baselines(struct cg_baseline *base)
{
	static struct probe parse, hash, empty2;
	static __u32 c;
	struct probe *g[] = { &parse, &hash, &empty2 };

	print_header("baselines (same rounds as the floor)");
	probe_init(&parse, "parse + MAC swap + XDP_TX", parse_fd, &c);
	make_frame(&parse.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1);
	probe_init(&hash, "parse + one hash lookup", bpf_program__fd(base->progs.cg_base_hash), &c);
	make_frame(&hash.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1);
	hash.expect = XDP_PASS; /* the table is empty: a miss */
	/* the floor against itself: what "net 0" looks like with this noise */
	probe_init(&empty2, "empty XDP program (floor vs itself)", floor_fd, &c);
	make_frame(&empty2.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1);
	empty2.expect = XDP_PASS;
	measure_group(g, 3);
	memcpy(parse_net, parse.net, sizeof(parse_net));
	parse_med = stat3(parse.net, RUNS).med;
	{
		double raw_floor[MAX_RUNS];

		for (int r = 0; r < RUNS; r++)
			raw_floor[r] = parse.raw[r] - parse.net[r];
		floor_med = stat3(raw_floor, RUNS).med;
	}
	printf("  %-44s %7.1f %7s %7s %7s %7s\n", "empty XDP program (the floor)", floor_med, "-", "-",
	       "-", "-");
	report("baseline", &parse, 0);
	report("baseline", &hash, 0);
	report("baseline", &empty2, 0);
}

static int bench_cases(void)
{
	struct env_spec spec = { .units = 3, .svcs = 1, .extras = true, .flows = 1u << 20 };
	static struct probe est1, est1k, est1m, syn4, udp4, uid4, pass4, icmp4;
	static struct probe est6, syn6, udp6, uid6, pass6, icmp6, v6v6;
	static struct probe full_hits, hash_hits;
	static __u32 c;
	struct env e;
	__u64 nf0, nf1;

	if (env_open(&e, &spec))
		return -1;
	print_header("steady state (3 units, no flow state touched)");
	probe_init(&est1, "v4 TCP established, 1 flow", e.xdp, &c);
	make_frame(&est1.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1);
	probe_init(&est1k, "v4 TCP established, 1k flows", e.xdp, &c);
	make_frame(&est1k.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
	probe_init(&est1m, "v4 TCP established, 1M flows", e.xdp, &c);
	make_frame(&est1m.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000000);
	probe_init(&syn4, "v4 TCP SYN, 1M flows", e.xdp, &c);
	make_frame(&syn4.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0, 1000000);
	{
		struct probe *g[] = { &est1, &est1k, &est1m, &syn4 };

		measure_group(g, 4);
	}
	report("steady", &est1, T_FAST);
	report("steady", &est1k, T_FAST);
	report("steady", &est1m, T_FAST);
	report("steady", &syn4, T_FAST);

	probe_init(&udp4, "v4 UDP, 1k flows", e.xdp, &c);
	make_frame(&udp4.f, 4, PKT_L4_UDP, "198.18.100.1", 7000, 0, NULL, 0, 1000);
	probe_init(&uid4, "v4 UDP payload key (uid), 1k flows", e.xdp, &c);
	make_frame(&uid4.f, 4, PKT_L4_UDP, "198.18.100.2", 9000, 0, uid, sizeof(uid), 1000);
	probe_init(&icmp4, "v4 ICMP frag-needed, by its quote, 1k flows", e.xdp, &c);
	make_icmp_frame(&icmp4.f, 4, "198.18.100.1", 80, 1000);
	probe_init(&pass4, "v4 not for any service (pass)", e.xdp, &c);
	make_frame(&pass4.f, 4, PKT_L4_TCP, "198.18.100.9", 80, PKT_TCP_ACK, NULL, 0, 1000);
	pass4.expect = XDP_PASS;
	{
		struct probe *g[] = { &udp4, &uid4, &icmp4, &pass4 };

		measure_group(g, 4);
	}
	report("steady", &udp4, T_FAST);
	report("steady", &uid4, T_FAST);
	report("steady", &icmp4, T_FAST);
	report("pass", &pass4, T_PASS);

	probe_init(&est6, "v6 TCP established, 1k flows", e.xdp, &c);
	make_frame(&est6.f, 6, PKT_L4_TCP, "2001:db8:100::1", 80, PKT_TCP_ACK, NULL, 0, 1000);
	probe_init(&syn6, "v6 TCP SYN, 1k flows", e.xdp, &c);
	make_frame(&syn6.f, 6, PKT_L4_TCP, "2001:db8:100::1", 80, PKT_TCP_SYN, NULL, 0, 1000);
	probe_init(&udp6, "v6 UDP, 1k flows", e.xdp, &c);
	make_frame(&udp6.f, 6, PKT_L4_UDP, "2001:db8:100::1", 7000, 0, NULL, 0, 1000);
	probe_init(&v6v6, "v6 TCP established, IPv6 outer, 1k flows", e.xdp, &c);
	make_frame(&v6v6.f, 6, PKT_L4_TCP, "2001:db8:100::3", 80, PKT_TCP_ACK, NULL, 0, 1000);
	{
		struct probe *g[] = { &est6, &syn6, &udp6, &v6v6 };

		measure_group(g, 4);
	}
	report("steady", &est6, T_FAST);
	report("steady", &syn6, T_FAST);
	report("steady", &udp6, T_FAST);
	report("steady", &v6v6, T_FAST);

	probe_init(&uid6, "v6 UDP payload key (uid), 1k flows", e.xdp, &c);
	make_frame(&uid6.f, 6, PKT_L4_UDP, "2001:db8:100::2", 9000, 0, uid, sizeof(uid), 1000);
	probe_init(&icmp6, "v6 ICMPv6 packet-too-big, by its quote", e.xdp, &c);
	make_icmp_frame(&icmp6.f, 6, "2001:db8:100::1", 80, 1000);
	probe_init(&pass6, "v6 not for any service (pass)", e.xdp, &c);
	make_frame(&pass6.f, 6, PKT_L4_TCP, "2001:db8:100::9", 80, PKT_TCP_ACK, NULL, 0, 1000);
	pass6.expect = XDP_PASS;
	{
		struct probe *g[] = { &uid6, &icmp6, &pass6 };

		measure_group(g, 3);
	}
	report("steady", &uid6, T_FAST);
	report("steady", &icmp6, T_FAST);
	report("pass", &pass6, T_PASS);

	/* full flow table: record 200k flows with SYNs, then ACKs hit them */
	print_header("flow table");
	probe_init(&full_hits, "full flow table, LRU hits over 200k flows", e.xdp, &c);
	make_frame(&full_hits.f, 4, PKT_L4_TCP, "198.18.100.3", 80, PKT_TCP_SYN, NULL, 0, 200000);
	{
		__u32 c0 = 0;

		run_calls(e.xdp, &full_hits.f, &c0, 200000, NULL);
	}
	nf0 = service_new_flows(&e, "full");
	make_frame(&full_hits.f, 4, PKT_L4_TCP, "198.18.100.3", 80, PKT_TCP_ACK, NULL, 0, 200000);
	probe_init(&hash_hits, "baseline: one hash lookup, hits over 200k", 
		   bpf_program__fd(base_big->progs.cg_base_hash), &c);
	hash_hits.f = full_hits.f;
	{
		struct probe *g[] = { &hash_hits, &full_hits };

		measure_group(g, 2);
	}
	nf1 = service_new_flows(&e, "full");
	report("baseline", &hash_hits, 0);
	report("flows", &full_hits, T_FULL);
	if (nf0 < 200000 || nf1 != nf0)
		printf("  WARNING: %llu flows recorded by the SYNs, %llu more during the hits (should be 200000 and 0)\n",
		       (unsigned long long)nf0, (unsigned long long)(nf1 - nf0));
	env_close(&e);
	return 0;
}

static int bench_moving(void)
{
	struct env_spec spec = { .units = 3, .svcs = 1, .extras = true, .moving = true,
				 .flows = 1u << 20 };
	static struct probe syn, miss, hash_miss;
	static __u32 c;
	struct env e;
	__u64 nf0, nf1, nf2;
	int err;

	if (env_open(&e, &spec))
		return -1;
	/* a populated table: 400k other flows (per-CPU LRU: half of 1M per CPU here) */
	err = prefill_flows(&e, 400000);
	if (err)
		fprintf(stderr, "bench: cannot prefill cg_flows: %s\n", strerror(-err));
	probe_init(&syn, "moving bucket, SYN recorded (flow insert)", e.xdp, &c);
	make_frame(&syn.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0, 1000000);
	probe_init(&miss, "moving bucket, flow-table miss, 1M flows", e.xdp, &c);
	make_frame(&miss.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000000);
	miss.f.flow_base = 2000000; /* not the SYNs' flows: every lookup misses */
	nf0 = service_new_flows(&e, "svc0");
	{
		struct probe *g[] = { &syn };

		measure_group(g, 1);
	}
	nf1 = service_new_flows(&e, "svc0");
	probe_init(&hash_miss, "baseline: one hash lookup, misses, 400k held",
		   bpf_program__fd(base_big->progs.cg_base_hash), &c);
	hash_miss.f = miss.f;
	hash_miss.expect = XDP_PASS;
	{
		struct probe *g[] = { &hash_miss, &miss };

		measure_group(g, 2);
	}
	nf2 = service_new_flows(&e, "svc0");
	report("baseline", &hash_miss, 0);
	report("flows", &syn, T_SYN_INSERT);
	report("flows", &miss, T_MISS);
	if (nf1 - nf0 < (__u64)RUNS * CALLS || nf2 != nf1)
		printf("  WARNING: %llu SYNs recorded, %llu flows recorded by the misses (should be >= %d and 0)\n",
		       (unsigned long long)(nf1 - nf0), (unsigned long long)(nf2 - nf1), RUNS * CALLS);
	env_close(&e);
	return 0;
}

/* Fences: new flows dropped or answered, established flows through. */
static int bench_fenced(void)
{
	struct env_spec sd = { .units = 3, .svcs = 1, .fence = 1 },
			sr = { .units = 3, .svcs = 1, .fence = 2 };
	static struct probe drop, rst, est;
	static __u32 c;
	struct env ed, er;

	if (env_open(&ed, &sd) || env_open(&er, &sr))
		return -1;
	print_header("fenced buckets (every bucket of the service fenced until released)");
	probe_init(&drop, "fenced bucket, SYN dropped, 1k flows", ed.xdp, &c);
	make_frame(&drop.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0, 1000);
	drop.expect = XDP_DROP;
	probe_init(&rst, "fenced bucket, SYN answered with RST, 1k flows", er.xdp, &c);
	make_frame(&rst.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0, 1000);
	probe_init(&est, "fenced bucket, established flow forwarded", ed.xdp, &c);
	make_frame(&est.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
	{
		struct probe *g[] = { &drop, &rst, &est };

		measure_group(g, 3);
	}
	report("fenced", &drop, T_FAST);
	report("fenced", &rst, 0);
	report("fenced", &est, T_FAST);
	env_close(&ed);
	env_close(&er);
	return 0;
}

/* Two dataplanes side by side, one frame each, measured in the same rounds. */
static int bench_pair(const char *title, const struct env_spec *sa, const char *na,
		      const struct env_spec *sb, const char *nb, struct frame *fa, struct frame *fb)
{
	static struct probe pa, pb;
	static __u32 c;
	struct env ea, eb;
	char name[64];

	if (env_open(&ea, sa) || env_open(&eb, sb))
		return -1;
	probe_init(&pa, na, ea.xdp, &c);
	pa.f = *fa;
	probe_init(&pb, nb, eb.xdp, &c);
	pb.f = *fb;
	{
		struct probe *g[] = { &pa, &pb };

		measure_group(g, 2);
	}
	report("scaling", &pa, T_FAST);
	report("scaling", &pb, T_FAST);
	snprintf(name, sizeof(name), "growth: %s", title);
	report_growth(name, &pa, &pb);
	env_close(&ea);
	env_close(&eb);
	return 0;
}

static int bench_scaling(void)
{
	struct frame fa, fb;

	print_header("scaling of the steady state (v4 TCP established; traffic spread over all of it)");
	{
		static struct probe p1k, p1m;
		struct env_spec s = { .units = 3, .svcs = 1 };
		static __u32 c;
		struct env e;

		if (env_open(&e, &s))
			return -1;
		probe_init(&p1k, "1k flows", e.xdp, &c);
		make_frame(&p1k.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
		probe_init(&p1m, "1M flows", e.xdp, &c);
		make_frame(&p1m.f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000000);
		{
			struct probe *g[] = { &p1k, &p1m };

			measure_group(g, 2);
		}
		report("scaling", &p1k, T_FAST);
		report("scaling", &p1m, T_FAST);
		report_growth("growth: 1k -> 1M flows", &p1k, &p1m);
		env_close(&e);
	}
	{
		/* where the growth starts: distinct flows cycled through, in one
		 * group; the tables are the same, only their cache residency differs */
		static const __u32 nf[] = { 1, 16, 64, 256, 1000, 10000 };
		static struct probe sw[6];
		struct env_spec s = { .units = 3, .svcs = 1 };
		struct probe *g[6];
		static __u32 c;
		struct env e;

		if (env_open(&e, &s))
			return -1;
		print_header("cache residency: the same packet path over more and more distinct flows");
		for (int i = 0; i < 6; i++) {
			char name[64];

			snprintf(name, sizeof(name), "v4 TCP established, %u distinct flows", nf[i]);
			probe_init(&sw[i], name, e.xdp, &c);
			make_frame(&sw[i].f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0,
				   nf[i]);
			g[i] = &sw[i];
		}
		measure_group(g, 6);
		for (int i = 0; i < 6; i++)
			report("sweep", &sw[i], 0);
		env_close(&e);
		print_header("scaling of the steady state, continued");
	}
	{
		struct env_spec a = { .units = 2, .svcs = 1 }, b = { .units = 256, .svcs = 1 };

		make_frame(&fa, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
		fb = fa;
		if (bench_pair("2 -> 256 units", &a, "2 units, 1k flows", &b, "256 units, 1k flows",
			       &fa, &fb))
			return -1;
	}
	{
		/* modulo 1000 keeps 1000 services' buckets at 1M entries per bank */
		struct env_spec a = { .units = 3, .svcs = 1, .modulo = 1000 },
				b = { .units = 3, .svcs = 1000, .modulo = 1000 };

		make_frame(&fa, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
		fb = fa;
		fb.nports = 1000; /* every flow to another service */
		if (bench_pair("1 -> 1000 services", &a, "1 service, 1k flows", &b,
			       "1000 services, 1k flows", &fa, &fb))
			return -1;
	}
	{
		/* one unit: every bucket to u0 */
		struct env_spec a = { .units = 1, .svcs = 1, .eps0 = 1 },
				b = { .units = 1, .svcs = 1, .eps0 = 4000 };

		make_frame(&fa, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1000);
		fb = fa;
		if (bench_pair("1 -> 4000 endpoints in a unit", &a, "1 endpoint, 1k flows", &b,
			       "4000 endpoints, 1k flows", &fa, &fb))
			return -1;
	}
	return 0;
}

static void pin_cpu(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	/* bench.sh pins us with taskset; otherwise stay where we started, so
	 * per-CPU LRU lists and caches are those of one CPU */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 1 && cpu >= 0) {
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		sched_setaffinity(0, sizeof(set), &set);
	}
}

int main(int argc, char **argv)
{
	const char *json = NULL;
	struct cg_baseline *base;
	struct env e;
	int err = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			RUNS = 3;
			CALLS = 3000;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_dataplane [--quick] [--json FILE]\n");
			return 2;
		}
	}
	pin_cpu();
	base = cg_baseline__open_and_load();
	if (!base) {
		fprintf(stderr, "bench: cannot load baseline programs: %s\n", strerror(errno));
		return 1;
	}
	floor_fd = bpf_program__fd(base->progs.cg_base_empty);
	parse_fd = bpf_program__fd(base->progs.cg_base_parse_tx);
	make_frame(&floor_frame, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0, 1);

	printf("per-packet cost: BPF_PROG_TEST_RUN repeat=1, 60-byte frames, %d rounds x %d calls, CPU %d\n",
	       RUNS, CALLS, sched_getcpu());
	printf("ns = median raw ns per call; net = minus the empty program's run in the same round (min/median/max over rounds);\n"
	       "x parse = net / parse+MAC swap+XDP_TX net; target = DESIGN §6, judged on the median\n");
	{
		struct env_spec s = { .units = 1, .svcs = 1 };

		if (env_open(&e, &s))
			return 1;
		steer_size = prog_size(e.xdp);
		env_close(&e);
		printf("cg_steer_xdp: %u BPF instructions after the verifier, %u bytes JITed, %u instructions verified\n",
		       steer_size.xlated, steer_size.jited, steer_size.verified);
	}
	bench_baselines(base);
	if (base_big_open()) {
		fprintf(stderr, "bench: cannot load the 1M-entry baseline table: %s\n", strerror(errno));
		return 1;
	}
	err = bench_cases();
	if (!err)
		err = bench_moving();
	if (!err)
		err = bench_fenced();
	if (!err)
		err = bench_scaling();
	if (json)
		write_json(json);
	cg_baseline__destroy(base_big);
	cg_baseline__destroy(base);
	if (n_wrong)
		fprintf(stderr, "bench: %d case(s) took another path than named; see above\n", n_wrong);
	return err || n_wrong ? 1 : 0;
}
