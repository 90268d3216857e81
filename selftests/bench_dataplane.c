// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of the steering program, BPF_PROG_TEST_RUN with
 * repeat = 1 (the program rewrites the packet, so a repeated run would see
 * its own output; DESIGN §5). Each figure is the median over RUNS runs of
 * the kernel-reported duration averaged over CALLS calls, and is reported
 * raw, net of an empty XDP program measured in the same run, and as a
 * ratio to a parse-and-XDP_TX baseline. Flows vary per call where the case
 * says so: the tuple is patched between calls, so caches see distinct keys.
 *
 * Usage: bench_dataplane [--quick] [--json FILE]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static int RUNS = 5;
static int CALLS = 20000;

struct frame {
	struct pkt p;
	size_t sport_off; /* TCP/UDP source port */
	size_t src_off; /* last two bytes of the source address */
	__u32 nflows; /* distinct flows cycled through, 1 = the same packet */
	__u32 flow_base; /* added to the flow index: disjoint sets of flows */
};

struct result {
	char name[64];
	double ns; /* median raw ns per call */
	double net; /* minus the empty program */
	double ratio; /* net / parse_tx net */
};

static struct result results[64];
static int n_results;
static double floor_ns, base_net;

static void patch_flow(struct frame *f, __u32 i)
{
	__u32 flow = (f->nflows > 1 ? i % f->nflows : 0) + f->flow_base;
	__u16 sport = htons(1024 + flow % 60000);
	__u16 hi = htons(flow / 60000 + 1);

	memcpy(f->p.d + f->sport_off, &sport, 2);
	memcpy(f->p.d + f->src_off, &hi, 2);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median over RUNS of the mean kernel-measured ns per call. */
static double measure(int prog_fd, struct frame *f, __u32 *counter)
{
	double runs[16];
	__u8 out[PKT_MAX];

	for (int r = 0; r < RUNS; r++) {
		__u64 total = 0;

		for (int c = 0; c < CALLS; c++) {
			LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = f->p.d, .data_size_in = f->p.len,
				    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

			patch_flow(f, (*counter)++);
			if (bpf_prog_test_run_opts(prog_fd, &o)) {
				fprintf(stderr, "bench: test run failed: %s\n", strerror(errno));
				exit(1);
			}
			total += o.duration;
		}
		runs[r] = (double)total / CALLS;
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

static void report(const char *name, double ns)
{
	struct result *r = &results[n_results++];

	snprintf(r->name, sizeof(r->name), "%s", name);
	r->ns = ns;
	r->net = ns - floor_ns;
	r->ratio = base_net > 0 ? r->net / base_net : 0;
	printf("  %-46s %8.1f %8.1f %7.2f\n", name, r->ns, r->net, r->ratio);
	fflush(stdout);
}

static void make_frame(struct frame *f, int ip, int l4, const char *dst, __u16 dport,
		       __u8 tcp_flags, const __u8 *payload, size_t plen)
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
	f->src_off = l3 + (ip == 4 ? 12 + 2 : 8 + 14);
	f->nflows = 1;
}

/* ---- environments: a steering object with a published config ---- */

struct env {
	struct cg_steer *skel;
	struct cg_dp *dp;
	struct cg_tables *t;
	int xdp;
};

static char cfgbuf[1 << 20];

/* n_units units of one endpoint each; n_svcs TCP services on
 * 198.18.100.1 ports 80.., plus fixed UDP, IPv6, payload and full-table ones. */
static const char *gen_config(int n_units, int n_svcs)
{
	size_t o = 0;

	o += snprintf(cfgbuf + o, sizeof(cfgbuf) - o,
		      "{\"version\":1,\"encap\":{\"source4\":\"198.18.250.0/24\",\"source6\":\"2001:db8:250::/112\"},\"units\":[");
	for (int u = 0; u < n_units; u++)
		o += snprintf(cfgbuf + o, sizeof(cfgbuf) - o,
			      "%s{\"name\":\"u%d\",%s\"endpoints\":[{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:00:%02x:%02x\"},{\"address\":\"2001:db8:1:%x::2\",\"mac\":\"02:00:00:01:%02x:%02x\"}]}",
			      u ? "," : "", u, u == 0 ? "\"role\":\"central\"," : "", 1 + u / 250,
			      2 + u % 250, u / 256, u % 256, u, u / 256, u % 256);
	o += snprintf(cfgbuf + o, sizeof(cfgbuf) - o, "],\"services\":[");
	for (int s = 0; s < n_svcs; s++)
		o += snprintf(cfgbuf + o, sizeof(cfgbuf) - o,
			      "{\"name\":\"svc%d\",\"vip\":\"198.18.100.1\",\"port\":%d,\"proto\":\"tcp\",\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"u%d\"}]},",
			      s, 80 + s, s % n_units);
	o += snprintf(cfgbuf + o, sizeof(cfgbuf) - o,
		      "{\"name\":\"udp\",\"vip\":\"198.18.100.1\",\"port\":7000,\"proto\":\"udp\",\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"u0\"}]},"
		      "{\"name\":\"tcp6\",\"vip\":\"2001:db8:100::1\",\"port\":80,\"proto\":\"tcp\",\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"u0\"}]},"
		      "{\"name\":\"uid\",\"vip\":\"198.18.100.2\",\"port\":9000,\"proto\":\"udp\",\"key\":{\"source\":\"payload\",\"offset\":0,\"size\":4},\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"u0\"}]},"
		      "{\"name\":\"full\",\"vip\":\"198.18.100.3\",\"port\":80,\"proto\":\"tcp\",\"flow_table\":\"full\",\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"u0\"}]}]}");
	return cfgbuf;
}

static int env_open(struct env *e, int n_units, int n_svcs, __u32 flows, bool moving)
{
	struct cg_errors errs = {};
	struct cg_config cfg = {};

	memset(e, 0, sizeof(*e));
	e->skel = cg_steer__open();
	if (!e->skel)
		return -1;
	bpf_map__set_autocreate(e->skel->maps.cg_gen_template, false);
	bpf_map__set_max_entries(e->skel->maps.cg_buckets, CG_BANKS * 65536 * 16);
	bpf_map__set_max_entries(e->skel->maps.cg_flows, flows);
	if (cg_steer__load(e->skel) || cg_dp_from_object(e->skel->obj, &e->dp) ||
	    cg_tables_alloc(&e->t, e->dp->bucket_slots))
		return -1;
	if (cg_config_load_string(gen_config(n_units, n_svcs), &cfg, &errs) ||
	    cg_build_tables(&cfg, NULL, 1, e->t, &errs)) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "bench config: %s\n", errs.msgs[i]);
		return -1;
	}
	if (moving) /* every bucket moving from u1 (alive) to its owner */
		for (__u32 b = 0; b < e->t->buckets_used; b++)
			e->t->buckets[b].prev_unit = 1;
	if (cg_publish(e->dp, e->t, &errs)) {
		for (int i = 0; i < errs.n; i++)
			fprintf(stderr, "bench publish: %s\n", errs.msgs[i]);
		return -1;
	}
	cg_config_free(&cfg);
	cg_errors_free(&errs);
	e->xdp = bpf_program__fd(e->skel->progs.cg_steer_xdp);
	return 0;
}

static void env_close(struct env *e)
{
	cg_tables_free(e->t);
	cg_dp_close(e->dp);
	cg_steer__destroy(e->skel);
}

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "{\"runs\":%d,\"calls\":%d,\"empty_ns\":%.1f,\"parse_tx_net_ns\":%.1f,\"cases\":[", RUNS,
		CALLS, floor_ns, base_net);
	for (int i = 0; i < n_results; i++)
		fprintf(f, "%s{\"name\":\"%s\",\"ns\":%.1f,\"net_ns\":%.1f,\"ratio_to_parse_tx\":%.3f}",
			i ? "," : "", results[i].name, results[i].ns, results[i].net, results[i].ratio);
	fprintf(f, "]}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	static const __u8 uid[4] = { 0, 0, 0x30, 0x39 }; /* 12345 */
	const char *json = NULL;
	struct cg_baseline *base;
	struct frame f;
	struct env e;
	__u32 ctr = 0;
	double a, b;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--quick")) {
			RUNS = 3;
			CALLS = 5000;
		} else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
			json = argv[++i];
		} else {
			fprintf(stderr, "usage: bench_dataplane [--quick] [--json FILE]\n");
			return 2;
		}
	}
	base = cg_baseline__open_and_load();
	if (!base) {
		fprintf(stderr, "bench: cannot load baseline programs: %s\n", strerror(errno));
		return 1;
	}
	printf("per-packet cost, BPF_PROG_TEST_RUN repeat=1, median of %d x %d calls, 60-byte frames\n",
	       RUNS, CALLS);
	printf("  %-46s %8s %8s %7s\n", "case", "ns", "net ns", "x base");

	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0);
	floor_ns = measure(bpf_program__fd(base->progs.cg_base_empty), &f, &ctr);
	report("baseline: empty XDP program (floor)", floor_ns);
	base_net = measure(bpf_program__fd(base->progs.cg_base_parse_tx), &f, &ctr) - floor_ns;
	report("baseline: parse + MAC swap + XDP_TX", base_net + floor_ns);
	report("baseline: parse + one hash lookup", measure(bpf_program__fd(base->progs.cg_base_hash), &f, &ctr));

	if (env_open(&e, 3, 1, CG_DEFAULT_FLOWS, false))
		return 1;
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0);
	report("v4 TCP established, 1 flow", measure(e.xdp, &f, &ctr));
	f.nflows = 1000;
	a = measure(e.xdp, &f, &ctr);
	report("v4 TCP established, 1k flows", a);
	f.nflows = 1000000;
	b = measure(e.xdp, &f, &ctr);
	report("v4 TCP established, 1M flows", b);
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0);
	f.nflows = 1000000;
	report("v4 TCP SYN, steady state, 1M flows", measure(e.xdp, &f, &ctr));
	make_frame(&f, 4, PKT_L4_UDP, "198.18.100.1", 7000, 0, NULL, 0);
	report("v4 UDP", measure(e.xdp, &f, &ctr));
	make_frame(&f, 6, PKT_L4_TCP, "2001:db8:100::1", 80, PKT_TCP_ACK, NULL, 0);
	report("v6 TCP established", measure(e.xdp, &f, &ctr));
	make_frame(&f, 4, PKT_L4_UDP, "198.18.100.2", 9000, 0, uid, sizeof(uid));
	report("v4 UDP payload key (uid)", measure(e.xdp, &f, &ctr));
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.9", 80, PKT_TCP_ACK, NULL, 0);
	report("not for any service (pass)", measure(e.xdp, &f, &ctr));
	{
		struct pkt_spec q = { .ip = 4, .src = "198.18.100.1", .dst = "198.19.0.1",
				      .l4 = PKT_L4_TCP, .sport = 80, .dport = 1024, .no_eth = true };
		struct pkt_spec s = { .ip = 4, .src = "198.19.9.9", .dst = "198.18.100.1",
				      .l4 = PKT_L4_ICMP, .icmp_type = 3, .icmp_code = 4,
				      .icmp_info = 1400, .quote = &q, .pad = true };

		memset(&f, 0, sizeof(f));
		pkt_build(&s, &f.p);
		f.sport_off = 14 + 20 + 8 + 20 + 2; /* quoted dport = client port */
		f.src_off = 14 + 20 + 8 + 16 + 2;
		f.nflows = 1;
		report("ICMP frag-needed, steered by its quote", measure(e.xdp, &f, &ctr));
	}
	/* full flow table: record 200k flows, then measure hits over them */
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.3", 80, PKT_TCP_SYN, NULL, 0);
	f.nflows = 200000;
	{
		int calls = CALLS, runs = RUNS;
		__u32 c0 = 0;

		CALLS = 200000;
		RUNS = 1;
		measure(e.xdp, &f, &c0);
		CALLS = calls;
		RUNS = runs;
	}
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.3", 80, PKT_TCP_ACK, NULL, 0);
	f.nflows = 200000;
	report("full flow table, LRU hits over 200k flows", measure(e.xdp, &f, &ctr));
	env_close(&e);

	if (env_open(&e, 3, 1, 1u << 20, true))
		return 1;
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_SYN, NULL, 0);
	f.nflows = 1000000;
	report("moving bucket, SYN recorded (flow insert)", measure(e.xdp, &f, &ctr));
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0);
	f.nflows = 1000000;
	f.flow_base = 2000000; /* not the SYNs' flows: every lookup misses */
	report("moving bucket, flow-table miss, 1M flows", measure(e.xdp, &f, &ctr));
	env_close(&e);

	/* scaling of the steady state */
	if (env_open(&e, 2, 1, CG_DEFAULT_FLOWS, false))
		return 1;
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0);
	f.nflows = 1000;
	report("scaling: 2 units", measure(e.xdp, &f, &ctr));
	env_close(&e);
	if (env_open(&e, 256, 1, CG_DEFAULT_FLOWS, false))
		return 1;
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80, PKT_TCP_ACK, NULL, 0);
	f.nflows = 1000;
	report("scaling: 256 units", measure(e.xdp, &f, &ctr));
	env_close(&e);
	if (env_open(&e, 3, 1000, CG_DEFAULT_FLOWS, false))
		return 1;
	make_frame(&f, 4, PKT_L4_TCP, "198.18.100.1", 80 + 999, PKT_TCP_ACK, NULL, 0);
	f.nflows = 1000;
	report("scaling: 1000 services", measure(e.xdp, &f, &ctr));
	env_close(&e);

	if (json)
		write_json(json);
	cg_baseline__destroy(base);
	return 0;
}
