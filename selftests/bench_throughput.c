// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * veth throughput in the test bed, one core: a BPF_F_TEST_XDP_LIVE_FRAMES
 * generator transmits out of a veth in the generator namespace; the
 * gateway program on the peer veth sends each frame back with XDP_TX; a
 * sink program on the generator's veth counts and drops it. Everything
 * runs on the CPU the generator is pinned to (the veth NAPI polls are
 * raised there), so Mpps at the sink is what one core sustains for
 * generator + gateway + sink together.
 *
 * Several gateway veth pairs sit side by side (a MAC-swap reference, the
 * parse + MAC-swap baseline, cellgate loaded by the caller) and take turns
 * in rounds of SECONDS each, so drift on a shared machine hits all alike;
 * the ratio to the first pair is computed per round.
 *
 * The frames are cycled from FLOWS distinct 5-tuples (198.19.x.y:port ->
 * 198.18.100.1:80, TCP ACK, 60 bytes), written by the generator program
 * from templates before every transmission.
 *
 * Usage: bench_throughput --gen-ns NAME --gw-ns NAME
 *            --pair LABEL:GEN_DEV:GW_DEV:PROG [--pair ...]
 *            [--flows N[,N...]] [--seconds S] [--rounds R] [--json FILE]
 *   PROG: swap (attach the MAC-swap reference), parse_tx (attach the
 *   parse + MAC-swap baseline) or loaded (a program is already attached
 *   to GW_DEV, e.g. by `cellgate load`). The first pair is the baseline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "pkt.h"

#if __has_include("bench_traffic.skel.h")
#include "bench_traffic.skel.h"
#include "baseline.skel.h"
#define HAVE_TRAFFIC 1
#endif

#define MAX_PAIRS 4
#define MAX_FLOWS_SETS 4
#define MAX_ROUNDS 15
#define FRAME_LEN 60
#define CHUNK 262144 /* frames per BPF_PROG_RUN call; calls repeat until SECONDS */
#define BATCH 64 /* live-frames batch: one NAPI budget */

#ifdef HAVE_TRAFFIC

#define BT_MAX_FRAMES 4096 /* bpf/bench_traffic.bpf.c; checked against the skeleton below */
_Static_assert(sizeof(((struct cg_bench_traffic__bss *)0)->bt_frames) == BT_MAX_FRAMES * 64,
	       "bt_frames of bpf/bench_traffic.bpf.c changed");

struct pair {
	char label[32];
	char gen_dev[IFNAMSIZ], gw_dev[IFNAMSIZ], prog[16];
	int gen_ifindex;
	double mpps[MAX_FLOWS_SETS][MAX_ROUNDS];
	double offered[MAX_FLOWS_SETS][MAX_ROUNDS]; /* Mpps generated */
	double encap[MAX_FLOWS_SETS]; /* share of received frames that were encapsulated */
};

static struct pair pairs[MAX_PAIRS];
static int n_pairs;
static __u32 flows_sets[MAX_FLOWS_SETS] = { 1, 4096 };
static int n_flows_sets = 2;
static double seconds = 1.0;
static int rounds = 5;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int enter_ns(int fd, const char *name)
{
	if (setns(fd, CLONE_NEWNET)) {
		fprintf(stderr, "bench: cannot enter network namespace %s: %s\n", name,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int open_ns(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
	return fd;
}

/* Sum of the sink's per-CPU counters. */
static void sink_read(struct cg_bench_traffic *skel, __u64 *packets, __u64 *encap)
{
	int ncpu = libbpf_num_possible_cpus();
	struct {
		__u64 packets, bytes, encap;
	} c[ncpu];
	__u32 zero = 0;

	*packets = *encap = 0;
	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.bt_sink_stats), &zero, c))
		return;
	for (int i = 0; i < ncpu; i++) {
		*packets += c[i].packets;
		*encap += c[i].encap;
	}
}

/* Templates: n distinct TCP ACKs from 198.19.0.0/16 to 198.18.100.1:80. */
static int fill_frames(struct cg_bench_traffic *skel, __u32 n)
{
	for (__u32 i = 0; i < n; i++) {
		char src[32];
		struct pkt_spec s = {
			.ip = 4,
			.src = src,
			.dst = "198.18.100.1",
			.l4 = PKT_L4_TCP,
			.sport = 1024 + i % 50000,
			.dport = 80,
			.tcp_flags = PKT_TCP_ACK,
			.pad = true,
		};
		struct pkt p;

		snprintf(src, sizeof(src), "198.19.%u.%u", (i / 250) % 250, 1 + i % 250);
		if (pkt_build(&s, &p) || p.len != FRAME_LEN)
			return -1;
		memcpy(skel->bss->bt_frames[i], p.d, FRAME_LEN);
	}
	skel->bss->bt_mask = n - 1;
	return 0;
}

/* One measurement: generate for `seconds`, count at the sink. */
static int run_one(struct cg_bench_traffic *skel, struct pair *p, double *mpps, double *offered,
		   __u64 *encap_out, __u64 *rx_out)
{
	struct xdp_md ctx = { .data = 0, .data_end = FRAME_LEN, .ingress_ifindex = p->gen_ifindex };
	__u8 frame[FRAME_LEN];
	__u64 rx0, rx1, en0, en1, sent = 0;
	double t0, t1;

	memcpy(frame, skel->bss->bt_frames[0], FRAME_LEN);
	sink_read(skel, &rx0, &en0);
	t0 = now_s();
	do {
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = FRAME_LEN,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = CHUNK,
			    .batch_size = BATCH, .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.bt_gen), &o)) {
			fprintf(stderr, "bench: live-frames run on %s failed: %s\n", p->gen_dev,
				strerror(errno));
			return -1;
		}
		sent += CHUNK;
		t1 = now_s();
	} while (t1 - t0 < seconds);
	/* the last batch is in flight until the NAPI polls ran: they run on this
	 * CPU before the syscall returns, but allow a moment */
	usleep(1000);
	sink_read(skel, &rx1, &en1);
	*mpps = (rx1 - rx0) / (t1 - t0) / 1e6;
	*offered = sent / (t1 - t0) / 1e6;
	*encap_out = en1 - en0;
	*rx_out = rx1 - rx0;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double min, med, max;
};

static struct stat3 stat3(const double *v, int n)
{
	double s[MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(s[0]), cmp_double);
	return (struct stat3){ s[0], n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, s[n - 1] };
}

static int parse_pair(const char *arg)
{
	struct pair *p = &pairs[n_pairs];
	char buf[128], *f[4], *save = NULL;
	int n = 0;

	if (n_pairs == MAX_PAIRS || strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	for (char *t = strtok_r(buf, ":", &save); t && n < 4; t = strtok_r(NULL, ":", &save))
		f[n++] = t;
	if (n != 4 || strlen(f[0]) >= sizeof(p->label) || strlen(f[1]) >= IFNAMSIZ ||
	    strlen(f[2]) >= IFNAMSIZ ||
	    (strcmp(f[3], "swap") && strcmp(f[3], "parse_tx") && strcmp(f[3], "loaded")))
		return -1;
	strcpy(p->label, f[0]);
	strcpy(p->gen_dev, f[1]);
	strcpy(p->gw_dev, f[2]);
	strcpy(p->prog, f[3]);
	n_pairs++;
	return 0;
}

static int parse_flows(const char *arg)
{
	char buf[64], *save = NULL;

	if (strlen(arg) >= sizeof(buf))
		return -1;
	strcpy(buf, arg);
	n_flows_sets = 0;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned long v = strtoul(t, NULL, 10);

		/* a power of two up to the template table */
		if (n_flows_sets == MAX_FLOWS_SETS || !v || v > BT_MAX_FRAMES || (v & (v - 1)))
			return -1;
		flows_sets[n_flows_sets++] = v;
	}
	return n_flows_sets ? 0 : -1;
}

static void write_json(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "bench: cannot write %s: %s\n", path, strerror(errno));
		return;
	}
	fprintf(f, "{\"bench\":\"throughput\",\"method\":\"live-frames generator -> veth -> gateway XDP (native) -> XDP_TX -> veth -> XDP sink, one CPU, Mpps at the sink\",");
	fprintf(f, "\"seconds\":%.2f,\"rounds\":%d,\"frame_len\":%d,\"batch\":%d,\"baseline\":\"%s\",\"figures\":[",
		seconds, rounds, FRAME_LEN, BATCH, pairs[0].label);
	for (int fs = 0, first = 1; fs < n_flows_sets; fs++) {
		for (int i = 0; i < n_pairs; i++, first = 0) {
			struct pair *p = &pairs[i];
			double ratio[MAX_ROUNDS];
			struct stat3 m = stat3(p->mpps[fs], rounds), r;
			bool is_cg = !strcmp(p->prog, "loaded");

			for (int k = 0; k < rounds; k++)
				ratio[k] = p->mpps[fs][k] / pairs[0].mpps[fs][k];
			r = stat3(ratio, rounds);
			fprintf(f, "%s{\"name\":\"%s, %u flow%s\",\"gateway\":\"%s\",\"flows\":%u,\"unit\":\"Mpps\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"ns_per_packet\":%.1f,\"offered_mpps\":%.3f,\"encap_share\":%.3f,\"baseline\":\"%s\",\"ratio\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f,",
				first ? "" : ",", p->label, flows_sets[fs], flows_sets[fs] == 1 ? "" : "s",
				p->label, flows_sets[fs], m.min,
				m.med, m.max, 1e3 / m.med, stat3(p->offered[fs], rounds).med, p->encap[fs],
				pairs[0].label, r.med, r.min, r.max);
			if (is_cg)
				fprintf(f, "\"target\":\">= 85 %% of %s\",\"target_value\":0.85,\"met\":%s}",
					pairs[0].label, r.med >= 0.85 ? "true" : "false");
			else
				fprintf(f, "\"target\":null,\"met\":null}");
		}
	}
	fprintf(f, "]}\n");
	fclose(f);
}

int main(int argc, char **argv)
{
	const char *gen_ns = NULL, *gw_ns = NULL, *json = NULL;
	struct bpf_link *links[2 * MAX_PAIRS] = {};
	struct cg_bench_traffic *skel = NULL;
	struct cg_baseline *base = NULL;
	int n_links = 0, gen_fd = -1, gw_fd = -1, ret = 1;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--gen-ns") && v) {
			gen_ns = v;
		} else if (!strcmp(a, "--gw-ns") && v) {
			gw_ns = v;
		} else if (!strcmp(a, "--pair") && v) {
			if (parse_pair(v)) {
				fprintf(stderr, "bench: --pair %s: want LABEL:GEN_DEV:GW_DEV:swap|parse_tx|loaded (at most %d)\n",
					v, MAX_PAIRS);
				return 2;
			}
		} else if (!strcmp(a, "--flows") && v) {
			if (parse_flows(v)) {
				fprintf(stderr, "bench: --flows %s: powers of two up to %d, at most %d of them\n",
					v, BT_MAX_FRAMES, MAX_FLOWS_SETS);
				return 2;
			}
		} else if (!strcmp(a, "--seconds") && v) {
			seconds = atof(v);
		} else if (!strcmp(a, "--rounds") && v) {
			rounds = atoi(v);
		} else if (!strcmp(a, "--json") && v) {
			json = v;
		} else {
			fprintf(stderr, "usage: bench_throughput --gen-ns NAME --gw-ns NAME --pair LABEL:GEN_DEV:GW_DEV:PROG... [--flows N,N] [--seconds S] [--rounds R] [--json FILE]\n");
			return 2;
		}
		i++;
	}
	if (!gen_ns || !gw_ns || !n_pairs || rounds < 1 || rounds > MAX_ROUNDS || seconds <= 0) {
		fprintf(stderr, "bench: --gen-ns, --gw-ns and at least one --pair are required; 1..%d rounds\n",
			MAX_ROUNDS);
		return 2;
	}
	gen_fd = open_ns(gen_ns);
	gw_fd = open_ns(gw_ns);
	if (gen_fd < 0 || gw_fd < 0)
		goto out;
	skel = cg_bench_traffic__open_and_load();
	base = cg_baseline__open_and_load();
	if (!skel || !base) {
		fprintf(stderr, "bench: cannot load the traffic programs: %s\n", strerror(errno));
		goto out;
	}

	/* gateway side: the reference programs (links go away when we exit) */
	if (enter_ns(gw_fd, gw_ns))
		goto out;
	for (int i = 0; i < n_pairs; i++) {
		struct pair *p = &pairs[i];
		struct bpf_program *prog = !strcmp(p->prog, "swap")	? skel->progs.bt_mac_swap :
					   !strcmp(p->prog, "parse_tx") ? base->progs.cg_base_parse_tx :
									  NULL;
		int ifindex = if_nametoindex(p->gw_dev);

		if (!ifindex) {
			fprintf(stderr, "bench: no interface %s in %s\n", p->gw_dev, gw_ns);
			goto out;
		}
		if (!prog)
			continue;
		links[n_links] = bpf_program__attach_xdp(prog, ifindex);
		if (!links[n_links]) {
			fprintf(stderr, "bench: cannot attach %s to %s: %s\n", p->prog, p->gw_dev,
				strerror(errno));
			goto out;
		}
		n_links++;
	}
	/* generator side: a sink on every veth, so XDP_TX toward it works */
	if (enter_ns(gen_fd, gen_ns))
		goto out;
	for (int i = 0; i < n_pairs; i++) {
		struct pair *p = &pairs[i];

		p->gen_ifindex = if_nametoindex(p->gen_dev);
		if (!p->gen_ifindex) {
			fprintf(stderr, "bench: no interface %s in %s\n", p->gen_dev, gen_ns);
			goto out;
		}
		links[n_links] = bpf_program__attach_xdp(skel->progs.bt_sink, p->gen_ifindex);
		if (!links[n_links]) {
			fprintf(stderr, "bench: cannot attach the sink to %s: %s\n", p->gen_dev,
				strerror(errno));
			goto out;
		}
		n_links++;
	}

	printf("veth throughput, one CPU (%d): live-frames generator -> gateway XDP_TX -> sink, %d-byte frames, %d rounds x %.1f s\n",
	       sched_getcpu(), FRAME_LEN, rounds, seconds);
	printf("  %-26s %6s %8s %8s %8s %8s %9s %8s  %-9s %s\n", "gateway", "flows", "Mpps min",
	       "Mpps med", "Mpps max", "ns/pkt", "x base", "encap", "target", "met");
	for (int fs = 0; fs < n_flows_sets; fs++) {
		if (fill_frames(skel, flows_sets[fs])) {
			fprintf(stderr, "bench: cannot build the frames\n");
			goto out;
		}
		for (int i = 0; i < n_pairs; i++) { /* warm up: page pools, NAPI */
			double m, o;
			__u64 e, r;
			double s = seconds;

			seconds = 0.2;
			if (run_one(skel, &pairs[i], &m, &o, &e, &r))
				goto out;
			seconds = s;
		}
		for (int r = 0; r < rounds; r++) {
			for (int i = 0; i < n_pairs; i++) {
				__u64 e, rx;

				if (run_one(skel, &pairs[i], &pairs[i].mpps[fs][r],
					    &pairs[i].offered[fs][r], &e, &rx))
					goto out;
				pairs[i].encap[fs] = rx ? (double)e / rx : 0;
			}
		}
		for (int i = 0; i < n_pairs; i++) {
			struct pair *p = &pairs[i];
			struct stat3 m = stat3(p->mpps[fs], rounds);
			double ratio[MAX_ROUNDS];
			bool is_cg = !strcmp(p->prog, "loaded");

			for (int k = 0; k < rounds; k++)
				ratio[k] = p->mpps[fs][k] / pairs[0].mpps[fs][k];
			printf("  %-26s %6u %8.2f %8.2f %8.2f %8.1f %8.1f%% %7.0f%%  %-9s %s\n", p->label,
			       flows_sets[fs], m.min, m.med, m.max, 1e3 / m.med,
			       stat3(ratio, rounds).med * 100, p->encap[fs] * 100,
			       is_cg ? ">= 85 %" : "", is_cg ? (stat3(ratio, rounds).med >= 0.85 ? "yes" : "NO") : "");
		}
	}
	printf("  (x base: Mpps / %s Mpps, per round; encap: share of frames back at the sink that were IPIP-encapsulated)\n",
	       pairs[0].label);
	if (json)
		write_json(json);
	ret = 0;
out:
	for (int i = 0; i < n_links; i++)
		bpf_link__destroy(links[i]);
	cg_baseline__destroy(base);
	cg_bench_traffic__destroy(skel);
	if (gen_fd >= 0)
		close(gen_fd);
	if (gw_fd >= 0)
		close(gw_fd);
	return ret;
}

#else /* !HAVE_TRAFFIC */

int main(void)
{
	fprintf(stderr, "bench_throughput: built without bpf/bench_traffic.bpf.c; add bench_traffic to BPF_PROGS in the Makefile\n");
	return 77; /* skipped */
}

#endif
