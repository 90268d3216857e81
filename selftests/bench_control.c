// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Control-plane latency.
 *
 * In process (default): build and publish generations of a generated
 * configuration into a steering object loaded through the skeleton, split
 * into parse, read (the live generation, as apply does), build, write (the
 * free bank), swap (the one cg_root update; packets see the new generation
 * as it starts, it returns after an RCU grace period) and verify. Each
 * figure has a baseline measured in the same rounds: a memcpy of as many
 * bytes as the write copies, and an update of an ARRAY_OF_MAPS no program
 * uses (the kernel waits for a grace period after every map-in-map update,
 * so that is the floor of any swap).
 *
 * --cli: the real CLI against a loaded instance: `cellgate evacuate UNIT`
 * and `restore UNIT` alternately, each timed from just before fork to the
 * generation's published_ns (stamped right before the swap) and to exit;
 * baseline: `cellgate status` in the same rounds.
 *
 * --write-config: print the generated configuration (for `cellgate apply`).
 *
 * Usage: bench_control [--quick] [--json FILE]
 *        bench_control --cli CELLGATE --instance NAME --unit UNIT [--times N] [--label L] [--json FILE]
 *        bench_control --write-config FILE [--units N --eps N --services N --modulo N]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "steer.skel.h"
#include "config.h"
#include "dp.h"
#include "tables.h"

#define MAX_ROUNDS 41

struct shape {
	const char *name;
	int units, eps, services, modulo;
};

/* DESIGN §6 / issue 6: 65 536 buckets x 100 services, 256 units x 16 endpoints */
static const struct shape big = { "65536 buckets x 100 services, 256 units x 16 endpoints", 256,
				  16, 100, 65536 };
/* the size of the examples: 3 units x 2 endpoints, 4 services x 10 000 */
static const struct shape small = { "10000 buckets x 4 services, 3 units x 2 endpoints", 3, 2, 4,
				    10000 };

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static __u64 realtime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
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

/*
 * The configuration: units u0..u<n-1> (u0 central), eps IPv4 endpoints
 * each with explicit MACs (198.18.0.0/15 only), services TCP on
 * 198.18.100.1 ports 80.. whose buckets are split evenly over all units,
 * rotated per service.
 */
static char *gen_config(const struct shape *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *m = open_memstream(&buf, &len);
	int k = 0;

	if (!m)
		return NULL;
	fprintf(m, "{\"version\":1,\"encap\":{\"source4\":\"198.18.250.0/24\"},\"units\":[");
	for (int u = 0; u < s->units; u++) {
		fprintf(m, "%s{\"name\":\"u%d\",%s\"endpoints\":[", u ? "," : "", u,
			u == 0 ? "\"role\":\"central\"," : "");
		for (int e = 0; e < s->eps; e++, k++)
			fprintf(m, "%s{\"address\":\"198.18.%d.%d\",\"mac\":\"02:00:00:%02x:%02x:%02x\"}",
				e ? "," : "", 1 + k / 250, 1 + k % 250, (k >> 16) & 0xff,
				(k >> 8) & 0xff, k & 0xff);
		fprintf(m, "]}");
	}
	fprintf(m, "],\"services\":[");
	for (int i = 0; i < s->services; i++) {
		fprintf(m, "%s{\"name\":\"svc%d\",\"vip\":\"198.18.100.1\",\"port\":%d,\"proto\":\"tcp\",\"modulo\":%d,\"rules\":[",
			i ? "," : "", i, 80 + i, s->modulo);
		for (int u = 0; u < s->units; u++) {
			long lo = (long)s->modulo * u / s->units;
			long hi = (long)s->modulo * (u + 1) / s->units - 1;

			fprintf(m, "%s{\"buckets\":\"%ld-%ld\",\"unit\":\"u%d\"}", u ? "," : "", lo, hi,
				(u + i) % s->units);
		}
		fprintf(m, "]}");
	}
	fprintf(m, "]}\n");
	fclose(m);
	return buf;
}

/* ---- in process: build and publish ---- */

enum { F_PARSE, F_READ, F_BUILD, F_WRITE, F_HASH, F_SWAP, F_VERIFY, F_BUILD_SWAP, F_VISIBLE,
       F_TOTAL, F_MEMCPY, F_RCU, F_PLAIN, NF };

static const char *const fnames[NF] = {
	[F_PARSE] = "parse (JSON -> config)",
	[F_READ] = "read the live generation",
	[F_BUILD] = "build the tables",
	[F_WRITE] = "write (copy + content hash)",
	[F_HASH] = "  of which: the content hash",
	[F_SWAP] = "swap (one cg_root update)",
	[F_VERIFY] = "verify (read back, hash)",
	[F_BUILD_SWAP] = "build + write + swap",
	[F_VISIBLE] = "build + write (packets see it)",
	[F_TOTAL] = "parse .. verify",
	[F_MEMCPY] = "baseline: memcpy of the written bytes",
	[F_RCU] = "baseline: idle map-in-map update",
	[F_PLAIN] = "baseline: plain array update",
};

static const char *const fkeys[NF] = {
	[F_PARSE] = "parse", [F_READ] = "read", [F_BUILD] = "build", [F_WRITE] = "write",
	[F_HASH] = "content_hash", [F_SWAP] = "swap", [F_VERIFY] = "verify",
	[F_BUILD_SWAP] = "build_write_swap",
	[F_VISIBLE] = "build_write", [F_TOTAL] = "total", [F_MEMCPY] = "memcpy_baseline",
	[F_RCU] = "map_in_map_update_baseline", [F_PLAIN] = "array_update_baseline",
};

/* which baseline each figure is set against */
static const int fbase[NF] = {
	[F_PARSE] = -1, [F_READ] = F_MEMCPY, [F_BUILD] = F_MEMCPY, [F_WRITE] = F_MEMCPY,
	[F_HASH] = F_MEMCPY,
	[F_SWAP] = F_RCU, [F_VERIFY] = F_MEMCPY, [F_BUILD_SWAP] = -1, [F_VISIBLE] = -1,
	[F_TOTAL] = -1, [F_MEMCPY] = -1, [F_RCU] = -1, [F_PLAIN] = -1,
};

struct result {
	const struct shape *shape;
	int rounds;
	double v[NF][MAX_ROUNDS];
	size_t written; /* bytes copied into the bank per publish */
	size_t config_bytes;
	__u64 memlock; /* sum over the object's maps */
};

static __u64 fd_memlock(int fd)
{
	char path[64], line[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %llu", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void print_errors(const char *what, struct cg_errors *errs)
{
	for (int i = 0; i < errs->n; i++)
		fprintf(stderr, "bench %s: %s\n", what, errs->msgs[i]);
}

static int bench_publish(const struct shape *s, int rounds, struct result *res)
{
	struct cg_tables *cur = NULL, *t = NULL;
	struct cg_steer *skel = NULL;
	struct cg_dp *dp = NULL;
	struct bpf_map *m;
	char *text = gen_config(s);
	void *src = NULL, *dst = NULL;
	int inner = -1, outer = -1, plain = -1, err = -1;
	__u32 slots = (__u32)s->services * s->modulo, zero = 0;

	memset(res, 0, sizeof(*res));
	res->shape = s;
	res->rounds = rounds;
	res->config_bytes = text ? strlen(text) : 0;
	skel = cg_steer__open();
	if (!text || !skel)
		goto out;
	bpf_map__set_autocreate(skel->maps.cg_gen_template, false);
	if (bpf_map__set_max_entries(skel->maps.cg_buckets, CG_BANKS * slots) ||
	    cg_steer__load(skel) || cg_dp_from_object(skel->obj, &dp) ||
	    cg_tables_alloc(&cur, dp->bucket_slots) || cg_tables_alloc(&t, dp->bucket_slots)) {
		fprintf(stderr, "bench: cannot load the steering object: %s\n", strerror(errno));
		goto out;
	}
	bpf_object__for_each_map(m, skel->obj)
		if (bpf_map__fd(m) >= 0)
			res->memlock += fd_memlock(bpf_map__fd(m));

	/* baselines: the idle map-in-map and a plain array */
	{
		LIBBPF_OPTS(bpf_map_create_opts, o, .inner_map_fd = -1);

		inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_inner", 4, 4, 1, NULL);
		o.inner_map_fd = inner;
		outer = bpf_map_create(BPF_MAP_TYPE_ARRAY_OF_MAPS, "bench_outer", 4, 4, 1, &o);
		plain = bpf_map_create(BPF_MAP_TYPE_ARRAY, "bench_plain", 4, 4, 1, NULL);
		if (inner < 0 || outer < 0 || plain < 0)
			goto out;
	}

	for (int r = -2; r < rounds; r++) { /* two rounds first: one per bank, faults in the pages */
		struct cg_errors errs = {};
		struct cg_config cfg = {};
		double t0, t1, t2, t3, v[NF];
		size_t bytes;

		t0 = now_ms();
		if (cg_config_load_string(text, &cfg, &errs)) {
			print_errors("config", &errs);
			goto out;
		}
		t1 = now_ms();
		if (cg_dp_read_active(dp, cur)) {
			fprintf(stderr, "bench: cannot read the live generation\n");
			goto out;
		}
		t2 = now_ms();
		if (cg_build_tables(&cfg, cur->gen.generation ? cur : NULL, 1, t, &errs)) {
			print_errors("build", &errs);
			goto out;
		}
		t3 = now_ms();
		if (cg_publish(dp, t, &errs)) {
			print_errors("publish", &errs);
			goto out;
		}
		cg_config_free(&cfg);
		cg_errors_free(&errs);
		v[F_PARSE] = t1 - t0;
		v[F_READ] = t2 - t1;
		v[F_BUILD] = t3 - t2;
		v[F_WRITE] = dp->last_write_ms;
		v[F_SWAP] = dp->last_swap_ms;
		v[F_VERIFY] = dp->last_verify_ms;
		v[F_BUILD_SWAP] = v[F_BUILD] + v[F_WRITE] + v[F_SWAP];
		v[F_VISIBLE] = v[F_BUILD] + v[F_WRITE];
		v[F_TOTAL] = v[F_PARSE] + v[F_READ] + v[F_BUILD] + v[F_WRITE] + v[F_SWAP] +
			     v[F_VERIFY];

		/* what cg_publish copies: used buckets, units, endpoints, the
		 * Maglev tables of used units, the service index, services, fences */
		bytes = (size_t)t->buckets_used * sizeof(struct cg_bucket) + sizeof(t->units) +
			sizeof(t->endpoints) + sizeof(t->svc_index) + sizeof(t->services) +
			sizeof(t->fences);
		for (int u = 0; u < CG_MAX_UNITS; u++)
			if (t->units[u].state != CG_UNIT_UNUSED)
				bytes += CG_MAGLEV_SIZE * sizeof(struct cg_maglev_slot);
		res->written = bytes;
		if (!src) {
			src = malloc(bytes);
			dst = malloc(bytes);
			if (!src || !dst)
				goto out;
			memset(src, 1, bytes);
			memset(dst, 0, bytes); /* fault the pages in, as the banks are */
		}
		t0 = now_ms();
		memcpy(dst, src, bytes);
		__asm__ volatile("" ::"r"(dst) : "memory");
		t1 = now_ms();
		if (bpf_map_update_elem(outer, &zero, &inner, BPF_ANY))
			goto out;
		t2 = now_ms();
		if (bpf_map_update_elem(plain, &zero, &zero, BPF_ANY))
			goto out;
		t3 = now_ms();
		/* the hash cg_publish computes inside its write step */
		{
			double h0 = now_ms();
			volatile __u64 h = cg_tables_hash(t);

			(void)h;
			v[F_HASH] = now_ms() - h0;
		}
		v[F_MEMCPY] = t1 - t0;
		v[F_RCU] = t2 - t1;
		v[F_PLAIN] = t3 - t2;
		if (r >= 0)
			for (int f = 0; f < NF; f++)
				res->v[f][r] = v[f];
	}
	err = 0;
out:
	if (inner >= 0)
		close(inner);
	if (outer >= 0)
		close(outer);
	if (plain >= 0)
		close(plain);
	free(src);
	free(dst);
	free(text);
	cg_tables_free(cur);
	cg_tables_free(t);
	cg_dp_close(dp);
	cg_steer__destroy(skel);
	return err;
}

static void print_publish(const struct result *res)
{
	printf("\npublish a generation: %s (config %zu KiB, %zu KiB written per publish, maps %.1f MiB memlock), %d rounds\n",
	       res->shape->name, res->config_bytes / 1024, res->written / 1024,
	       res->memlock / 1048576.0, res->rounds);
	printf("  %-40s %9s %9s %9s %9s  %-9s %s\n", "step", "ms min", "ms med", "ms max", "x base",
	       "target", "met");
	for (int f = 0; f < NF; f++) {
		struct stat3 s = stat3(res->v[f], res->rounds);
		bool tgt = f == F_BUILD_SWAP && res->shape == &big;
		char ratio[16] = "";

		if (fbase[f] >= 0) {
			struct stat3 b = stat3(res->v[fbase[f]], res->rounds);

			snprintf(ratio, sizeof(ratio), "%.2f", b.med > 0 ? s.med / b.med : 0);
		}
		printf("  %-40s %9.3f %9.3f %9.3f %9s  %-9s %s\n", fnames[f], s.min, s.med, s.max, ratio,
		       tgt ? "< 10 ms" : "", tgt ? (s.med < 10 ? "yes" : "NO") : "");
	}
}

static void json_publish(FILE *f, const struct result *res)
{
	fprintf(f, "{\"shape\":\"%s\",\"units\":%d,\"endpoints_per_unit\":%d,\"services\":%d,\"modulo\":%d,\"rounds\":%d,\"config_bytes\":%zu,\"written_bytes\":%zu,\"maps_memlock_bytes\":%llu,\"figures\":[",
		res->shape->name, res->shape->units, res->shape->eps, res->shape->services,
		res->shape->modulo, res->rounds, res->config_bytes, res->written,
		(unsigned long long)res->memlock);
	for (int k = 0; k < NF; k++) {
		struct stat3 s = stat3(res->v[k], res->rounds);
		bool tgt = k == F_BUILD_SWAP && res->shape == &big;

		fprintf(f, "%s{\"name\":\"%s\",\"key\":\"%s\",\"unit\":\"ms\",\"min\":%.4f,\"median\":%.4f,\"max\":%.4f,",
			k ? "," : "", fnames[k], fkeys[k], s.min, s.med, s.max);
		if (fbase[k] >= 0) {
			struct stat3 b = stat3(res->v[fbase[k]], res->rounds);

			fprintf(f, "\"baseline\":\"%s\",\"ratio\":%.3f,", fkeys[fbase[k]],
				b.med > 0 ? s.med / b.med : 0);
		}
		if (tgt)
			fprintf(f, "\"target\":\"< 10 ms\",\"target_value\":10,\"met\":%s}",
				s.med < 10 ? "true" : "false");
		else
			fprintf(f, "\"target\":null,\"met\":null}");
	}
	fprintf(f, "]}");
}

/* ---- the CLI ---- */

/* Run argv to completion with stdout to /dev/null; ms from fork to exit. */
static int run_cmd(char *const argv[], __u64 *start_ns, double *ms)
{
	double t0 = now_ms();
	int st;
	pid_t pid;

	*start_ns = realtime_ns();
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0)
			dup2(fd, 1);
		execv(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -1;
	*ms = now_ms() - t0;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static int bench_cli(const char *cli, const char *inst, const char *unit, int times,
		     const char *label, const char *json)
{
	double pub[MAX_ROUNDS], total[MAX_ROUNDS], rpub[MAX_ROUNDS], rtotal[MAX_ROUNDS],
		base[MAX_ROUNDS];
	char *ev[] = { (char *)cli, "-i", (char *)inst, "evacuate", (char *)unit, NULL };
	char *rs[] = { (char *)cli, "-i", (char *)inst, "restore", (char *)unit, NULL };
	char *st[] = { (char *)cli, "-i", (char *)inst, "status", NULL };
	struct cg_dp *dp = NULL;
	struct cg_gen g;
	__u64 start;
	double ms;

	if (times > MAX_ROUNDS)
		times = MAX_ROUNDS;
	if (cg_dp_open_pinned(inst, &dp))
		return -1;
	for (int r = -1; r < times; r++) { /* one warm-up round: page cache, pins */
		if (run_cmd(st, &start, &ms))
			goto fail;
		if (r >= 0)
			base[r] = ms;
		if (run_cmd(ev, &start, &ms) || cg_dp_read_gen(dp, &g))
			goto fail;
		if (r >= 0) {
			pub[r] = (g.published_ns - start) / 1e6;
			total[r] = ms;
		}
		if (run_cmd(rs, &start, &ms) || cg_dp_read_gen(dp, &g))
			goto fail;
		if (r >= 0) {
			rpub[r] = (g.published_ns - start) / 1e6;
			rtotal[r] = ms;
		}
	}
	cg_dp_close(dp);
	{
		struct stat3 p = stat3(pub, times), t = stat3(total, times), rp = stat3(rpub, times),
			     rt = stat3(rtotal, times), b = stat3(base, times);
		FILE *f;

		printf("\ncellgate evacuate / restore (the CLI, %s), %d times each\n", label, times);
		printf("  %-40s %9s %9s %9s %9s  %-9s %s\n", "from fork to", "ms min", "ms med",
		       "ms max", "x base", "target", "met");
		printf("  %-40s %9.2f %9.2f %9.2f %9s\n", "baseline: `cellgate status` exits", b.min,
		       b.med, b.max, "");
		printf("  %-40s %9.2f %9.2f %9.2f %9.2f  %-9s %s\n", "evacuate: generation published",
		       p.min, p.med, p.max, p.med / b.med, "< 50 ms", p.med < 50 ? "yes" : "NO");
		printf("  %-40s %9.2f %9.2f %9.2f %9.2f\n", "evacuate: command exits", t.min, t.med,
		       t.max, t.med / b.med);
		printf("  %-40s %9.2f %9.2f %9.2f %9.2f\n", "restore: generation published", rp.min,
		       rp.med, rp.max, rp.med / b.med);
		printf("  %-40s %9.2f %9.2f %9.2f %9.2f\n", "restore: command exits", rt.min, rt.med,
		       rt.max, rt.med / b.med);
		if (!json)
			return 0;
		f = fopen(json, "w");
		if (!f)
			return -1;
		fprintf(f, "{\"bench\":\"evacuate\",\"label\":\"%s\",\"times\":%d,\"method\":\"fork+exec of the CLI; published = cg_gen.published_ns (stamped just before the swap) minus the CLOCK_REALTIME before fork\",\"figures\":[",
			label, times);
		fprintf(f, "{\"name\":\"baseline: cellgate status (%s)\",\"key\":\"status\",\"unit\":\"ms\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"target\":null,\"met\":null},",
			label, b.min, b.med, b.max);
		fprintf(f, "{\"name\":\"evacuate: command to published (%s)\",\"key\":\"evacuate_published\",\"unit\":\"ms\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"baseline\":\"status\",\"ratio\":%.3f,\"target\":\"< 50 ms\",\"target_value\":50,\"met\":%s},",
			label, p.min, p.med, p.max, p.med / b.med, p.med < 50 ? "true" : "false");
		fprintf(f, "{\"name\":\"evacuate: command to exit (%s)\",\"key\":\"evacuate_exit\",\"unit\":\"ms\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"baseline\":\"status\",\"ratio\":%.3f,\"target\":null,\"met\":null},",
			label, t.min, t.med, t.max, t.med / b.med);
		fprintf(f, "{\"name\":\"restore: command to published (%s)\",\"key\":\"restore_published\",\"unit\":\"ms\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"baseline\":\"status\",\"ratio\":%.3f,\"target\":null,\"met\":null},",
			label, rp.min, rp.med, rp.max, rp.med / b.med);
		fprintf(f, "{\"name\":\"restore: command to exit (%s)\",\"key\":\"restore_exit\",\"unit\":\"ms\",\"min\":%.3f,\"median\":%.3f,\"max\":%.3f,\"baseline\":\"status\",\"ratio\":%.3f,\"target\":null,\"met\":null}]}\n",
			label, rt.min, rt.med, rt.max, rt.med / b.med);
		fclose(f);
	}
	return 0;
fail:
	fprintf(stderr, "bench: `%s -i %s evacuate|restore|status %s` failed\n", cli, inst, unit);
	cg_dp_close(dp);
	return -1;
}

int main(int argc, char **argv)
{
	const char *json = NULL, *cli = NULL, *inst = NULL, *unit = NULL, *out_cfg = NULL;
	const char *label = "config as applied";
	struct shape custom = { "custom", 3, 2, 4, 10000 };
	int rounds = 15, times = 20;
	static struct result rb, rs;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--quick")) {
			rounds = 5;
			times = 5;
			continue;
		}
		if (!v)
			goto usage;
		if (!strcmp(a, "--json"))
			json = v;
		else if (!strcmp(a, "--cli"))
			cli = v;
		else if (!strcmp(a, "--instance"))
			inst = v;
		else if (!strcmp(a, "--unit"))
			unit = v;
		else if (!strcmp(a, "--times"))
			times = atoi(v);
		else if (!strcmp(a, "--label"))
			label = v;
		else if (!strcmp(a, "--write-config"))
			out_cfg = v;
		else if (!strcmp(a, "--units"))
			custom.units = atoi(v);
		else if (!strcmp(a, "--eps"))
			custom.eps = atoi(v);
		else if (!strcmp(a, "--services"))
			custom.services = atoi(v);
		else if (!strcmp(a, "--modulo"))
			custom.modulo = atoi(v);
		else
			goto usage;
		i++;
	}
	if (out_cfg) {
		char *text = gen_config(&custom);
		FILE *f = fopen(out_cfg, "w");

		if (!text || !f || fputs(text, f) < 0 || fclose(f)) {
			fprintf(stderr, "bench: cannot write %s\n", out_cfg);
			return 1;
		}
		free(text);
		return 0;
	}
	if (cli) {
		if (!inst || !unit || times < 1)
			goto usage;
		return bench_cli(cli, inst, unit, times, label, json) ? 1 : 0;
	}
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	if (bench_publish(&big, rounds, &rb) || bench_publish(&small, rounds, &rs))
		return 1;
	print_publish(&rb);
	print_publish(&rs);
	if (json) {
		FILE *f = fopen(json, "w");

		if (!f) {
			fprintf(stderr, "bench: cannot write %s: %s\n", json, strerror(errno));
			return 1;
		}
		fprintf(f, "{\"bench\":\"control\",\"method\":\"in process: cg_config_load_string, cg_dp_read_active, cg_build_tables, cg_publish (write/swap/verify from its own timers); baselines in the same rounds\",\"publish\":[");
		json_publish(f, &rb);
		fprintf(f, ",");
		json_publish(f, &rs);
		fprintf(f, "]}\n");
		fclose(f);
	}
	return 0;
usage:
	fprintf(stderr, "usage: bench_control [--quick] [--json FILE]\n"
			"       bench_control --cli CELLGATE --instance NAME --unit UNIT [--times N] [--label L] [--json FILE]\n"
			"       bench_control --write-config FILE [--units N --eps N --services N --modulo N]\n");
	return 2;
}
