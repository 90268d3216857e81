// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The generation hammer (issue 3): two writer processes apply two
 * configurations X and Y to one pinned instance as fast as they can,
 * through the real apply path (cg_op_apply: instance lock, read, build,
 * publish, verify, audit), while reader threads run packets through the
 * attached steering program with BPF_PROG_TEST_RUN. A packet must observe
 * one generation: every output is wholly X or wholly Y, never a mix.
 *
 * X and Y differ wherever a mix would show: the service's unit and so the
 * tunnel destination and next-hop MAC (X: dc-x, 198.18.1.2; Y: dc-y,
 * 198.18.2.2), the outer source prefix (198.18.250.0/24 vs
 * 198.18.251.0/24) and the hash seed (so the outer source's host bits),
 * the service's modulo and bucket range (Y has another service before it,
 * and another unit), so an output built from parts of both banks matches
 * neither expected frame exactly. Both IPv4 and IPv6 VIPs are sent.
 *
 * Bounded by the number of applies (CG_TEST_APPLIES per writer, default
 * 250), not by time. Needs root; the instance lives in a private network
 * namespace and its pins are removed on exit.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <linux/bpf.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "cellgate.h"
#include "cg_hash.h"
#include "config.h"
#include "dp.h"
#include "loader.h"
#include "ops.h"
#include "tables.h"
#include "pkt.h"
#include "testlib.h"

#define PROG "test_generations"
#define DEV "cgg0"
#define PEER "cgg1"
#define READERS 2
#define TAIL_ITERS 2000 /* reader iterations after the writers are done */
#define MAX_ITERS 5000000 /* per reader: a bound, whatever the writers do */

#define SEED_X 0x11111111u
#define SEED_Y 0x7e57ab1eu
#define VIP4 "198.18.100.1"
#define VIP6 "2001:db8:100::1"
#define C4 "198.18.0.10"
#define C6 "2001:db8::10"

/* clang-format off */
static const char config_x[] =
	"{\"version\":1,\"seed\":286331153,"
	"\"encap\":{\"source4\":\"198.18.250.0/24\"},"
	"\"units\":["
	"{\"name\":\"dc-x\",\"endpoints\":[{\"address\":\"198.18.1.2\",\"mac\":\"02:00:00:00:01:02\"}]},"
	"{\"name\":\"dc-y\",\"endpoints\":[{\"address\":\"198.18.2.2\",\"mac\":\"02:00:00:00:02:02\"}]}],"
	"\"services\":["
	"{\"name\":\"s4\",\"vip\":\"" VIP4 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-x\":100}},"
	"{\"name\":\"s6\",\"vip\":\"" VIP6 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":100,"
	"\"ratios\":{\"dc-x\":100}}]}";
/* clang-format on */

/* clang-format off */
static const char config_y[] =
	"{\"version\":1,\"seed\":2119674654,"
	"\"encap\":{\"source4\":\"198.18.251.0/24\"},"
	"\"units\":["
	"{\"name\":\"dc-z\",\"endpoints\":[{\"address\":\"198.18.3.2\",\"mac\":\"02:00:00:00:03:02\"}]},"
	"{\"name\":\"dc-y\",\"weight\":3,\"endpoints\":[{\"address\":\"198.18.2.2\",\"mac\":\"02:00:00:00:02:02\"}]},"
	"{\"name\":\"dc-x\",\"endpoints\":[{\"address\":\"198.18.1.2\",\"mac\":\"02:00:00:00:01:02\"}]}],"
	"\"services\":["
	"{\"name\":\"before\",\"vip\":\"198.18.99.1\",\"port\":1,\"proto\":\"udp\",\"modulo\":5000,"
	"\"ratios\":{\"dc-z\":100}},"
	"{\"name\":\"s4\",\"vip\":\"" VIP4 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":7919,"
	"\"ratios\":{\"dc-y\":100}},"
	"{\"name\":\"s6\",\"vip\":\"" VIP6 "\",\"port\":80,\"proto\":\"tcp\",\"modulo\":7919,"
	"\"ratios\":{\"dc-y\":100}}]}";
/* clang-format on */

static char instance[32];
static pid_t parent_pid;
static char audit_path[64];

static void cleanup(void)
{
	if (getpid() != parent_pid)
		return; /* a writer child: the parent owns the instance */
	if (instance[0]) {
		char dir[CG_DIR_MAX];

		snprintf(dir, sizeof(dir), "%s/%s", CG_PIN_ROOT, instance);
		if (!access(dir, F_OK))
			cg_unload(instance, true);
		instance[0] = 0;
	}
	if (audit_path[0])
		unlink(audit_path);
}

static void on_signal(int sig)
{
	cleanup();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int if_mac(const char *name, __u8 mac[6])
{
	struct ifreq ifr = {};
	int fd = socket(AF_INET, SOCK_DGRAM, 0), err;

	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	err = ioctl(fd, SIOCGIFHWADDR, &ifr);
	close(fd);
	if (err)
		return -1;
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	return 0;
}

/* ---- what X and Y make of a packet ---- */
struct side {
	__u32 seed;
	const char *src_prefix; /* outer source /24 */
	const char *dst; /* tunnel destination */
	const char *dmac;
};

static const struct side sides[2] = {
	{ SEED_X, "198.18.250.0", "198.18.1.2", "02:00:00:00:01:02" },
	{ SEED_Y, "198.18.251.0", "198.18.2.2", "02:00:00:00:02:02" },
};

static __u8 dev_mac[6];
static int prog_fd;

static int expect(const struct pkt_spec *s, const struct pkt *in, int k, struct pkt *out)
{
	const struct side *sd = &sides[k];
	struct pkt_encap e = {};
	__be32 sa[4], da[4], pfx[4];
	size_t off, len;
	__u32 h;

	pkt_parse_addr(s->src, sa);
	pkt_parse_addr(s->dst, da);
	h = cg_hash_flow(sd->seed, s->ip == 6, sa, da, htons(s->sport), htons(s->dport),
			 IPPROTO_TCP);
	pkt_parse_mac(sd->dmac, e.dmac);
	memcpy(e.smac, dev_mac, 6);
	e.family = 4;
	pkt_parse_addr(sd->dst, e.daddr);
	pkt_parse_addr(sd->src_prefix, pfx);
	pkt_outer_src4(pfx[0], 24, h, e.saddr);
	e.hash = h;
	if (pkt_frame_ip(in->d, in->len, &off, &len) < 0)
		return -1;
	return pkt_expect_encap(&e, in->d + off, len, out);
}

/* ---- readers ---- */
struct reader {
	pthread_t th;
	int id;
	__u64 iters, seen[2], mixed, other, errors;
	char first_bad[512];
	bool bad_is_mixed; /* bad_out holds the output of first_bad */
	struct pkt bad_out;
};

static atomic_int writers_done;

static const char *const reason_names[] = CG_REASON_NAMES;

/* cg_reasons of the instance, summed over CPUs. */
static int read_reasons(int fd, __u64 out[CG_R_MAX])
{
	int ncpu = libbpf_num_possible_cpus();
	struct cg_reason_count *v = calloc(ncpu > 0 ? ncpu : 1, sizeof(*v));

	if (!v || ncpu <= 0)
		return -1;
	for (__u32 r = 0; r < CG_R_MAX; r++) {
		out[r] = 0;
		if (bpf_map_lookup_elem(fd, &r, v)) {
			free(v);
			return -1;
		}
		for (int c = 0; c < ncpu; c++)
			out[r] += v[c].packets;
	}
	free(v);
	return 0;
}

/* Which parts of an output look like X (0) or Y (1): destination, source
 * prefix, MAC; -1 for neither. */
static void describe(const struct pkt *o, char *buf, size_t len)
{
	char dst[32] = "?", src[32] = "?";

	if (o->len >= 14 + 20 && o->d[12] == 0x08 && o->d[13] == 0x00) {
		inet_ntop(AF_INET, o->d + 14 + 16, dst, sizeof(dst));
		inet_ntop(AF_INET, o->d + 14 + 12, src, sizeof(src));
	}
	snprintf(buf, len, "outer %s -> %s, dmac ..:%02x, %zu bytes", src, dst,
		 o->len > 5 ? o->d[5] : 0, o->len);
}

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	struct pkt in, out, ex[2];
	__u64 tail = 0;
	__u32 sport = 20000 + r->id * 20000;

	while (r->iters < MAX_ITERS) {
		struct xdp_md ctx = { .ingress_ifindex = 1 };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = in.d, .data_out = out.d,
			    .data_size_out = sizeof(out.d), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = 1);
		struct pkt_spec s = { .l4 = PKT_L4_TCP, .tcp_flags = PKT_TCP_ACK, .dport = 80 };
		bool v6 = r->iters & 1;
		int k;

		if (atomic_load(&writers_done) && tail++ >= TAIL_ITERS)
			break;
		s.ip = v6 ? 6 : 4;
		s.src = v6 ? C6 : C4;
		s.dst = v6 ? VIP6 : VIP4;
		s.sport = (__u16)(sport + (r->iters % 10000));
		s.payload_len = r->iters % 64;
		if (pkt_build(&s, &in) || expect(&s, &in, 0, &ex[0]) ||
		    expect(&s, &in, 1, &ex[1])) {
			r->errors++;
			break;
		}
		o.data_size_in = (__u32)in.len;
		ctx.data_end = (__u32)in.len;
		r->iters++;
		if (bpf_prog_test_run_opts(prog_fd, &o)) {
			r->errors++;
			continue;
		}
		out.len = o.data_size_out;
		if (o.retval != XDP_TX) {
			r->other++;
			if (!r->first_bad[0])
				snprintf(r->first_bad, sizeof(r->first_bad), "verdict %u (v%d)",
					 o.retval, v6 ? 6 : 4);
			continue;
		}
		for (k = 0; k < 2; k++)
			if (out.len == ex[k].len && !memcmp(out.d, ex[k].d, out.len))
				break;
		if (k < 2) {
			r->seen[k]++;
			continue;
		}
		r->mixed++;
		if (!r->first_bad[0]) {
			char d[160], dx[160], dy[160];

			describe(&out, d, sizeof(d));
			describe(&ex[0], dx, sizeof(dx));
			describe(&ex[1], dy, sizeof(dy));
			snprintf(r->first_bad, sizeof(r->first_bad),
				 "v%d sport %u: got %s; X is %s; Y is %s", v6 ? 6 : 4, s.sport, d,
				 dx, dy);
			r->bad_out = out;
			r->bad_is_mixed = true;
		}
	}
	return NULL;
}

/* ---- writers ---- */
static int writer_main(int which, int n, int go_fd)
{
	struct cg_config cfg;
	struct cg_errors errs = {};
	struct cg_dp *dp = NULL;
	char who[32], c;
	int ok = 0;

	if (cg_config_load_string(which ? config_y : config_x, &cfg, &errs) ||
	    cg_dp_open_pinned(instance, &dp))
		return 2;
	if (read(go_fd, &c, 1) != 1)
		return 2;
	snprintf(who, sizeof(who), "writer-%c", which ? 'Y' : 'X');
	for (int i = 0; i < n; i++) {
		struct cg_op_opts o = { .who = who };
		struct cg_op_result r;

		if (cg_op_apply(dp, &cfg, &o, &r, &errs)) {
			fprintf(stderr, "%s: apply %d refused: %s\n", who, i,
				errs.n ? errs.msgs[errs.n - 1] : "?");
			continue;
		}
		ok += r.gen_after == r.gen_before + 1;
	}
	cg_errors_free(&errs);
	cg_dp_close(dp);
	cg_config_free(&cfg);
	return ok == n ? 0 : 1;
}

/* ---- setup ---- */
static int apply_once(struct cg_dp *dp, const char *text, __u64 *hash)
{
	struct cg_config cfg;
	struct cg_errors errs = {};
	struct cg_op_opts o = { .who = PROG };
	struct cg_op_result r;
	struct cg_gen g;
	int err = cg_config_load_string(text, &cfg, &errs);

	if (!err) {
		err = cg_op_apply(dp, &cfg, &o, &r, &errs);
		cg_config_free(&cfg);
	}
	for (int i = 0; i < errs.n; i++)
		fprintf(stderr, "%s: %s\n", PROG, errs.msgs[i]);
	cg_errors_free(&errs);
	if (!err && !cg_dp_read_gen(dp, &g))
		*hash = g.hash;
	return err;
}

/* The audit records of the run: every one ok, generations chained. */
static void check_audit(__u64 g0, int n_total)
{
	FILE *f = fopen(audit_path, "r");
	char line[4096];
	int n = 0, ok = 0, bad = 0;
	bool *seen = calloc(n_total + 1, 1);
	char why[256] = "";

	while (f && seen && fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		const char *res = json_string_value(json_object_get(j, "result"));
		const char *who = json_string_value(json_object_get(j, "who"));
		json_int_t b = json_integer_value(json_object_get(j, "generation_before"));
		json_int_t a = json_integer_value(json_object_get(j, "generation_after"));

		if (who && !strncmp(who, "writer-", 7)) {
			n++;
			ok += res && !strcmp(res, "ok");
			if (a != b + 1 || b < (json_int_t)g0 || a > (json_int_t)g0 + n_total ||
			    seen[a - g0]) {
				if (!why[0])
					snprintf(why, sizeof(why),
						 "record %d: generation %lld -> %lld", n,
						 (long long)b, (long long)a);
				bad++;
			} else {
				seen[a - g0] = true;
			}
		}
		json_decref(j);
	}
	if (f)
		fclose(f);
	free(seen);
	if (n != n_total || ok != n_total || bad)
		tl_fail("audit log: one ok record per apply, generations chained without gaps or repeats",
			"%d records, %d ok, %d out of order%s%s (expected %d)", n, ok, bad,
			why[0] ? ": " : "", why, n_total);
	else
		tl_pass("audit log: one ok record per apply, generations chained without gaps or repeats");
}

int main(void)
{
	struct reader rd[READERS] = {};
	struct cg_load_opts lo = {
		.dev = DEV, .mode = CG_MODE_GENERIC, .buckets = 1 << 16, .flows = 4096
	};
	struct cg_dp *dp = NULL;
	struct cg_gen g0, g1;
	__u64 hash_x = 0, hash_y = 0, seen[2] = {}, mixed = 0, other = 0, iters = 0, errors = 0;
	int go[2], n = getenv("CG_TEST_APPLIES") ? atoi(getenv("CG_TEST_APPLIES")) : 250;
	pid_t w[2];
	int st[2], fd, reasons_fd;
	__u64 ra[CG_R_MAX], rb[CG_R_MAX];
	char path[PATH_MAX], name[160];
	const char *bad = NULL;
	const struct pkt *bad_out = NULL;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tl_require_root(PROG))
		return 0;
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, NULL, 4, 4, 1, NULL);
	if (fd < 0) {
		tl_skip(PROG, "cannot create a BPF map: %s", strerror(errno));
		return 0;
	}
	close(fd);
	parent_pid = getpid();
	if (unshare(CLONE_NEWNET)) {
		tl_skip(PROG, "no private network namespace: %s", strerror(errno));
		return 0;
	}
	if (system("ip link add " DEV " type veth peer name " PEER " >/dev/null 2>&1 && "
		   "ip link set " DEV " up && ip link set " PEER " up && ip link set lo up")) {
		tl_skip(PROG, "cannot create a veth pair in a private namespace");
		return 0;
	}
	if (if_mac(DEV, dev_mac)) {
		tl_fail(PROG, "cannot read the MAC of %s", DEV);
		return 1;
	}
	snprintf(instance, sizeof(instance), "cgtg%d", (int)parent_pid);
	snprintf(audit_path, sizeof(audit_path), "/tmp/%s.audit.jsonl", instance);
	setenv("CELLGATE_AUDIT_LOG", audit_path, 1);
	atexit(cleanup);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	lo.instance = instance;
	if (cg_load_steer(&lo)) {
		instance[0] = 0;
		tl_fail(PROG, "cannot load the steering program on %s", DEV);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s/steer_prog", CG_PIN_ROOT, instance);
	prog_fd = bpf_obj_get(path);
	if (prog_fd < 0 || cg_dp_open_pinned(instance, &dp)) {
		tl_fail(PROG, "cannot open the pinned instance %s", instance);
		return 1;
	}
	/* the two contents, applied once each, for their hashes */
	if (apply_once(dp, config_x, &hash_x) || apply_once(dp, config_y, &hash_y) ||
	    cg_dp_read_gen(dp, &g0)) {
		tl_fail(PROG, "cannot apply X and Y once");
		return 1;
	}
	unlink(audit_path); /* only the writers' records from here */
	snprintf(path, sizeof(path), "%s/%s/cg_reasons", CG_PIN_ROOT, instance);
	reasons_fd = bpf_obj_get(path);
	if (reasons_fd < 0 || read_reasons(reasons_fd, ra)) {
		tl_fail(PROG, "cannot read %s", path);
		return 1;
	}
	if (hash_x == hash_y) {
		tl_fail(PROG, "test bug: X and Y have the same content hash");
		return 1;
	}

	/* writers wait for the readers to run, then go */
	if (pipe(go))
		return 1;
	for (int k = 0; k < 2; k++) {
		w[k] = fork();
		if (w[k] < 0)
			return 1;
		if (!w[k]) {
			close(go[1]);
			_exit(writer_main(k, n, go[0]));
		}
	}
	close(go[0]);
	for (int i = 0; i < READERS; i++) {
		rd[i].id = i;
		if (pthread_create(&rd[i].th, NULL, reader_main, &rd[i])) {
			tl_fail(PROG, "cannot start reader %d", i);
			atomic_store(&writers_done, 1);
		}
	}
	if (write(go[1], "gg", 2) != 2)
		tl_fail(PROG, "cannot start the writers");
	close(go[1]);
	for (int k = 0; k < 2; k++)
		if (waitpid(w[k], &st[k], 0) != w[k])
			st[k] = -1;
	atomic_store(&writers_done, 1);
	for (int i = 0; i < READERS; i++) {
		pthread_join(rd[i].th, NULL);
		seen[0] += rd[i].seen[0];
		seen[1] += rd[i].seen[1];
		mixed += rd[i].mixed;
		other += rd[i].other;
		iters += rd[i].iters;
		errors += rd[i].errors;
		if (!bad && rd[i].first_bad[0]) {
			bad = rd[i].first_bad;
			bad_out = rd[i].bad_is_mixed ? &rd[i].bad_out : NULL;
		}
	}

	if (read_reasons(reasons_fd, rb)) {
		tl_fail(PROG, "cannot read cg_reasons");
		return 1;
	}
	snprintf(name, sizeof(name),
		 "two writer processes x %d applies: every apply published one generation", n);
	for (int k = 0; k < 2; k++)
		if (!WIFEXITED(st[k]) || WEXITSTATUS(st[k])) {
			tl_fail(name, "writer %c %s %d", k ? 'Y' : 'X',
				WIFEXITED(st[k]) ? "exited with" : "died, status", st[k]);
			goto gen;
		}
	tl_pass(name);
gen:
	if (cg_dp_read_gen(dp, &g1))
		tl_fail("live generation advanced by the number of applies", "cannot read it");
	else if (g1.generation != g0.generation + 2 * (__u64)n)
		tl_fail("live generation advanced by the number of applies",
			"%llu -> %llu, expected +%d", (unsigned long long)g0.generation,
			(unsigned long long)g1.generation, 2 * n);
	else
		tl_pass("live generation advanced by the number of applies");
	if (g1.hash != hash_x && g1.hash != hash_y)
		tl_fail("live content hash is X's or Y's", "%016llx, X %016llx, Y %016llx",
			(unsigned long long)g1.hash, (unsigned long long)hash_x,
			(unsigned long long)hash_y);
	else
		tl_pass("live content hash is X's or Y's");
	check_audit(g0.generation, 2 * n);

	snprintf(
		name, sizeof(name),
		"readers: %llu packets, %llu wholly X, %llu wholly Y, %llu mixed, %llu not forwarded",
		(unsigned long long)iters, (unsigned long long)seen[0], (unsigned long long)seen[1],
		(unsigned long long)mixed, (unsigned long long)other);
	if (mixed || other || errors) {
		char grew[512] = "";
		size_t o = 0;

		for (int r = 0; r < CG_R_MAX; r++)
			if (rb[r] != ra[r] && o < sizeof(grew) - 64)
				o += snprintf(grew + o, sizeof(grew) - o, "%s%s %llu",
					      o ? ", " : "", reason_names[r],
					      (unsigned long long)(rb[r] - ra[r]));
		tl_fail(name, "%s%s; cg_reasons grew: %s", bad ? bad : "",
			errors ? " (and test-run errors)" : "", grew);
		if (bad_out)
			tl_hexdump(stdout, "that output", bad_out->d, bad_out->len, -1);
	} else
		tl_pass(name);
	if (!seen[0] || !seen[1])
		tl_fail("readers saw both generations' content",
			"X %llu, Y %llu: the readers never overlapped a switch",
			(unsigned long long)seen[0], (unsigned long long)seen[1]);
	else
		tl_pass("readers saw both generations' content");

	close(prog_fd);
	cg_dp_close(dp);
	cleanup();
	return tl_exit_code();
}
