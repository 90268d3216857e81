// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cellgate: the command line. main() only dispatches; each do_<cmd>()
 * declares its own options. docs/cellgate.8 is the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "cellgate.h"
#include "config.h"
#include "dp.h"
#include "loader.h"
#include "monitor.h"
#include "log.h"
#include "tables.h"

#define CG_VERSION "0.1.0"

static const char *instance = "default";
static bool json_out;

static const char *const reason_names[CG_R_MAX] = CG_REASON_NAMES;

static const char *state_name(int s)
{
	switch (s) {
	case CG_UNIT_SERVING:
		return "serving";
	case CG_UNIT_DRAINING:
		return "draining";
	case CG_UNIT_EVACUATED:
		return "evacuated";
	}
	return "unused";
}

static const char *kind_name(int k)
{
	return k == CG_KIND_GLOBAL ? "global" : k == CG_KIND_SHARED ? "shared" : "core";
}

static const char *key_name(int k)
{
	return k == CG_KEY_CLIENT ? "client" : k == CG_KEY_PAYLOAD ? "payload" : "flow";
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1e3 + (t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);

	if (s)
		puts(s);
	free(s);
	json_decref(j);
}

static void fmt_time(__u64 ns, char *buf, size_t len)
{
	time_t s = ns / 1000000000ull;
	struct tm tm;

	if (!ns) {
		snprintf(buf, len, "never");
		return;
	}
	gmtime_r(&s, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void addr_str(int family, const __be32 *a, char *buf, size_t len)
{
	inet_ntop(family == CG_AF_INET ? AF_INET : AF_INET6, a, buf, len);
}

static void print_errors(const struct cg_errors *e, const char *what)
{
	for (int i = 0; i < e->n; i++)
		fprintf(stderr, "%s: %s\n", what, e->msgs[i]);
}

/* The live tables of the instance; *dp stays open for a later publish. */
static int open_live(struct cg_dp **dp, struct cg_tables **t)
{
	int err = cg_dp_open_pinned(instance, dp);

	if (err)
		return err;
	err = cg_tables_alloc(t, (*dp)->bucket_slots);
	if (!err)
		err = cg_dp_read_active(*dp, *t);
	if (err) {
		cg_err("cannot read the live generation of \"%s\": %s\n", instance, cg_strerror(err));
		cg_tables_free(*t);
		cg_dp_close(*dp);
		*t = NULL;
		*dp = NULL;
	}
	return err;
}

/* ---- load / unload ---- */

static int parse_u32(const char *opt, const char *s, __u32 min, __u32 max, __u32 *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || !*s || v < min || v > max) {
		cg_err("%s: \"%s\" is not a number in %u..%u\n", opt, s, min, max);
		return -1;
	}
	*out = v;
	return 0;
}

static int do_load(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dev", required_argument, NULL, 'd' },   { "mode", required_argument, NULL, 'm' },
		{ "buckets", required_argument, NULL, 'b' }, { "flows", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },        {}
	};
	struct cg_load_opts o = {
		.instance = instance,
		.mode = CG_MODE_NATIVE,
		.buckets = CG_DEFAULT_BUCKET_SLOTS,
		.flows = CG_DEFAULT_FLOWS,
	};
	int c;

	while ((c = getopt_long(argc, argv, "d:m:b:f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			o.dev = optarg;
			break;
		case 'm':
			o.mode = cg_mode_parse(optarg);
			if (o.mode < 0) {
				cg_err("--mode: \"%s\" is not native, generic or tc\n", optarg);
				return 2;
			}
			break;
		case 'b':
			if (parse_u32("--buckets", optarg, 1, 1u << 26, &o.buckets))
				return 2;
			break;
		case 'f':
			if (parse_u32("--flows", optarg, 1024, 1u << 26, &o.flows))
				return 2;
			break;
		case 'h':
			puts("usage: cellgate [-i INSTANCE] load --dev IFACE [--mode native|generic|tc] [--buckets N] [--flows N]");
			return 0;
		default:
			return 2;
		}
	}
	if (!o.dev) {
		cg_err("load: --dev IFACE is required\n");
		return 2;
	}
	if (cg_load_steer(&o))
		return 1;
	if (!json_out)
		printf("instance %s: steering loaded on %s; pins in %s/%s\n", instance, o.dev,
		       CG_PIN_ROOT, instance);
	return 0;
}

static int do_unload(int argc, char **argv)
{
	if (argc > 1) {
		cg_err("unload: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	return cg_unload(instance, false) ? 1 : 0;
}

/* ---- apply / evacuate / restore ---- */

static void count_units(const struct cg_tables *t, __u32 *serving)
{
	memset(serving, 0, sizeof(__u32) * CG_MAX_UNITS);
	for (__u32 b = 0; b < t->buckets_used; b++)
		if (t->buckets[b].unit < CG_MAX_UNITS)
			serving[t->buckets[b].unit]++;
}

static __u32 buckets_moved(const struct cg_tables *a, const struct cg_tables *b)
{
	__u32 moved = 0, n = a->buckets_used < b->buckets_used ? a->buckets_used : b->buckets_used;

	for (__u32 i = 0; i < n; i++)
		moved += a->buckets[i].unit != b->buckets[i].unit;
	return moved;
}

static void report_publish(const char *what, const struct cg_dp *dp, const struct cg_tables *before,
			   const struct cg_tables *after, double build_ms)
{
	__u32 moved = before->gen.generation ? buckets_moved(before, after) : 0;
	char hash[20];

	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)after->gen.hash);
	if (json_out) {
		json_t *j = json_pack("{s:s, s:s, s:I, s:s, s:i, s:f, s:f, s:f, s:f}", "instance",
				      instance, "action", what, "generation",
				      (json_int_t)after->gen.generation, "hash", hash, "buckets_moved",
				      (int)moved, "build_ms", build_ms, "write_ms", dp->last_write_ms,
				      "swap_ms", dp->last_swap_ms, "verify_ms", dp->last_verify_ms);
		print_json(j);
		return;
	}
	printf("%s: generation %llu published (hash %s), %u buckets moved\n", what,
	       (unsigned long long)after->gen.generation, hash, moved);
	printf("  build %.2f ms, write %.2f ms, swap %.2f ms (visible at its start; returns after the RCU grace period), verify %.2f ms\n",
	       build_ms, dp->last_write_ms, dp->last_swap_ms, dp->last_verify_ms);
}

static int do_apply(int argc, char **argv)
{
	static const struct option opts[] = { { "file", required_argument, NULL, 'f' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct cg_errors errs = {};
	struct cg_config cfg = {};
	struct cg_tables *cur = NULL, *t = NULL;
	struct cg_dp *dp = NULL;
	const char *file = NULL;
	struct timespec t0;
	double build_ms;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'h':
			puts("usage: cellgate [-i INSTANCE] apply -f FILE   (FILE - reads stdin)");
			return 0;
		default:
			return 2;
		}
	}
	if (!file) {
		cg_err("apply: -f FILE is required\n");
		return 2;
	}
	if (cg_config_load_file(file, &cfg, &errs)) {
		print_errors(&errs, file);
		fprintf(stderr, "cellgate: %s: %d error%s, nothing changed\n", file, errs.n,
			errs.n == 1 ? "" : "s");
		cg_errors_free(&errs);
		return 1;
	}
	if (cg_dp_open_pinned(instance, &dp))
		goto out;
	if (cg_dp_lock(dp)) {
		cg_err("cannot lock instance \"%s\"\n", instance);
		goto out;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (cg_tables_alloc(&cur, dp->bucket_slots) || cg_tables_alloc(&t, dp->bucket_slots) ||
	    cg_dp_read_active(dp, cur)) {
		cg_err("cannot read the live generation\n");
		goto out;
	}
	if (cg_build_tables(&cfg, cur, dp->info.ifindex, t, &errs)) {
		print_errors(&errs, file);
		fprintf(stderr, "cellgate: %s: not applied, generation %llu still serving\n", file,
			(unsigned long long)cur->gen.generation);
		goto out;
	}
	build_ms = ms_since(&t0);
	if (cg_publish(dp, t, &errs)) {
		print_errors(&errs, "publish");
		goto out;
	}
	report_publish("apply", dp, cur, t, build_ms);
	ret = 0;
out:
	cg_errors_free(&errs);
	cg_config_free(&cfg);
	cg_tables_free(cur);
	cg_tables_free(t);
	cg_dp_close(dp);
	return ret;
}

static int find_unit_by_name(const struct cg_tables *t, const char *name)
{
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED && !strcmp(t->units[i].name, name))
			return i;
	return -1;
}

static void list_units(const struct cg_tables *t)
{
	fprintf(stderr, "cellgate: units:");
	for (int i = 0; i < CG_MAX_UNITS; i++)
		if (t->units[i].state != CG_UNIT_UNUSED)
			fprintf(stderr, " %s", t->units[i].name);
	fputc('\n', stderr);
}

/* evacuate / restore: change one unit's state and republish. */
static int change_unit_state(const char *cmd, int argc, char **argv, int state)
{
	struct cg_tables *before = NULL, *t = NULL;
	struct cg_errors errs = {};
	struct cg_dp *dp = NULL;
	struct timespec t0;
	double build_ms;
	int id, serving = 0, ret = 1;

	if (argc != 2 || argv[1][0] == '-') {
		if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			printf("usage: cellgate [-i INSTANCE] %s UNIT\n", cmd);
			return 0;
		}
		cg_err("usage: cellgate %s UNIT\n", cmd);
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (open_live(&dp, &t))
		return 1;
	if (cg_dp_lock(dp) || cg_dp_read_active(dp, t)) { /* re-read under the lock */
		cg_err("cannot lock instance \"%s\"\n", instance);
		goto out;
	}
	if (!t->gen.generation) {
		cg_err("%s: nothing published yet; run `cellgate apply -f FILE` first\n", cmd);
		goto out;
	}
	id = find_unit_by_name(t, argv[1]);
	if (id < 0) {
		cg_err("%s: no unit \"%s\" in generation %llu\n", cmd, argv[1],
		       (unsigned long long)t->gen.generation);
		list_units(t);
		goto out;
	}
	if (t->units[id].state == state) {
		if (!json_out)
			printf("%s: %s is already %s (generation %llu)\n", cmd, argv[1], state_name(state),
			       (unsigned long long)t->gen.generation);
		ret = 0;
		goto out;
	}
	for (int i = 0; i < CG_MAX_UNITS; i++)
		serving += i != id && t->units[i].state == CG_UNIT_SERVING;
	if (state == CG_UNIT_EVACUATED && !serving) {
		cg_err("%s: %s is the last serving unit; refusing to evacuate it (fail static)\n", cmd,
		       argv[1]);
		goto out;
	}
	if (cg_tables_alloc(&before, dp->bucket_slots))
		goto out;
	memcpy(before->buckets, t->buckets, (size_t)t->buckets_used * sizeof(*t->buckets));
	before->buckets_used = t->buckets_used;
	before->gen = t->gen;
	t->units[id].state = state;
	if (cg_tables_reassign(t, &errs)) {
		print_errors(&errs, cmd);
		goto out;
	}
	build_ms = ms_since(&t0);
	if (cg_publish(dp, t, &errs)) {
		print_errors(&errs, "publish");
		goto out;
	}
	report_publish(cmd, dp, before, t, build_ms);
	ret = 0;
out:
	cg_errors_free(&errs);
	cg_tables_free(before);
	cg_tables_free(t);
	cg_dp_close(dp);
	return ret;
}

static int do_evacuate(int argc, char **argv)
{
	return change_unit_state("evacuate", argc, argv, CG_UNIT_EVACUATED);
}

static int do_restore(int argc, char **argv)
{
	return change_unit_state("restore", argc, argv, CG_UNIT_SERVING);
}

/* ---- status ---- */

static int do_status(int argc, char **argv)
{
	static __u32 owned[CG_MAX_UNITS], served[CG_MAX_UNITS];
	struct cg_tables *t = NULL;
	struct cg_dp *dp = NULL;
	char loaded[32], published[32], hash[20];

	if (argc > 1) {
		cg_err("status: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	if (open_live(&dp, &t))
		return 1;
	count_units(t, served);
	memset(owned, 0, sizeof(owned));
	for (__u32 b = 0; b < t->buckets_used; b++)
		if (t->buckets[b].owner < CG_MAX_UNITS)
			owned[t->buckets[b].owner]++;
	fmt_time(dp->info.loaded_ns, loaded, sizeof(loaded));
	fmt_time(t->gen.published_ns, published, sizeof(published));
	snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)t->gen.hash);

	if (json_out) {
		json_t *j = json_object(), *units = json_array(), *svcs = json_array();

		json_object_set_new(j, "instance", json_string(instance));
		json_object_set_new(j, "dev", json_string(dp->info.ifname));
		json_object_set_new(j, "mode", json_string(cg_mode_name(dp->info.mode)));
		json_object_set_new(j, "loaded", json_string(loaded));
		json_object_set_new(j, "layout", json_integer(dp->info.layout));
		json_object_set_new(j, "generation", json_integer(t->gen.generation));
		json_object_set_new(j, "hash", json_string(hash));
		json_object_set_new(j, "published", json_string(published));
		json_object_set_new(j, "bank", json_integer(t->gen.bank));
		json_object_set_new(j, "bucket_slots", json_integer(dp->bucket_slots));
		json_object_set_new(j, "flow_capacity", json_integer(dp->flows));
		for (int i = 0; i < CG_MAX_UNITS; i++) {
			const struct cg_unit *u = &t->units[i];

			if (u->state == CG_UNIT_UNUSED)
				continue;
			json_array_append_new(
				units, json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:i, s:i}", "name", u->name,
						 "id", i, "role", u->role == CG_ROLE_CENTRAL ? "central" : "normal",
						 "state", state_name(u->state), "endpoints", u->n_endpoints,
						 "weight", (int)u->weight, "buckets_owned", (int)owned[i],
						 "buckets", (int)served[i]));
		}
		for (int i = 0; i < t->n_services; i++) {
			const struct cg_service *s = &t->services[i];
			const struct cg_service_key *k = &t->svc_keys[i];
			char vip[INET6_ADDRSTRLEN];

			addr_str(k->family, k->addr, vip, sizeof(vip));
			json_array_append_new(
				svcs, json_pack("{s:s, s:i, s:s, s:i, s:s, s:s, s:s, s:i}", "name", s->name,
						"id", (int)s->id, "vip", vip, "port", ntohs(k->port), "proto",
						k->proto == IPPROTO_TCP ? "tcp" : "udp", "kind",
						kind_name(s->kind), "key", key_name(s->key_source), "modulo",
						(int)s->modulo));
		}
		json_object_set_new(j, "units", units);
		json_object_set_new(j, "services", svcs);
		print_json(j);
	} else {
		printf("instance %s: %s on %s, loaded %s, map layout %u\n", instance,
		       dp->info.mode == CG_MODE_NATIVE || dp->info.mode == CG_MODE_GENERIC ? "XDP" : "tc",
		       dp->info.ifname, loaded, dp->info.layout);
		printf("mode %s; %u bucket entries per bank; flow table %u entries\n",
		       cg_mode_name(dp->info.mode), dp->bucket_slots, dp->flows);
		if (!t->gen.generation) {
			printf("no configuration published: every packet passes (run `cellgate apply -f FILE`)\n");
		} else {
			printf("generation %llu, hash %s, published %s, bank %u\n\n",
			       (unsigned long long)t->gen.generation, hash, published, t->gen.bank);
			printf("%-16s %-8s %-10s %9s %7s %9s %9s\n", "UNIT", "ROLE", "STATE", "ENDPOINTS",
			       "WEIGHT", "OWNED", "SERVING");
			for (int i = 0; i < CG_MAX_UNITS; i++) {
				const struct cg_unit *u = &t->units[i];

				if (u->state == CG_UNIT_UNUSED)
					continue;
				printf("%-16s %-8s %-10s %9u %7u %9u %9u\n", u->name,
				       u->role == CG_ROLE_CENTRAL ? "central" : "normal",
				       state_name(u->state), u->n_endpoints, u->weight, owned[i], served[i]);
			}
			printf("\n%-16s %-30s %-6s %-7s %7s\n", "SERVICE", "VIP:PORT/PROTO", "KIND", "KEY",
			       "BUCKETS");
			for (int i = 0; i < t->n_services; i++) {
				const struct cg_service *s = &t->services[i];
				const struct cg_service_key *k = &t->svc_keys[i];
				char vip[INET6_ADDRSTRLEN], ep[80], port[8];

				addr_str(k->family, k->addr, vip, sizeof(vip));
				if (k->port)
					snprintf(port, sizeof(port), "%u", ntohs(k->port));
				else
					snprintf(port, sizeof(port), "*");
				snprintf(ep, sizeof(ep), k->family == CG_AF_INET6 ? "[%s]:%s/%s" : "%s:%s/%s",
					 vip, port, k->proto == IPPROTO_TCP ? "tcp" : "udp");
				printf("%-16s %-30s %-6s %-7s %7u\n", s->name, ep, kind_name(s->kind),
				       key_name(s->key_source), s->modulo);
			}
		}
	}
	cg_tables_free(t);
	cg_dp_close(dp);
	return 0;
}

/* ---- stats ---- */

/* Sum a per-CPU array entry over all possible CPUs. */
static int percpu_sum(int fd, __u32 key, size_t vsize, __u64 *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	size_t words = (vsize + 7) / 8, stride = words;
	__u64 *buf;

	if (ncpu <= 0)
		return -EINVAL;
	buf = calloc((size_t)ncpu * stride, sizeof(__u64));
	if (!buf)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &key, buf)) {
		free(buf);
		return -errno;
	}
	memset(sum, 0, words * 8);
	for (int c = 0; c < ncpu; c++)
		for (size_t w = 0; w < vsize / 8; w++)
			sum[w] += buf[c * stride + w];
	free(buf);
	return 0;
}

static json_t *counters_json(const struct cg_counters *c)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I}", "packets", (json_int_t)c->packets, "bytes",
			 (json_int_t)c->bytes, "new_flows", (json_int_t)c->new_flows, "resteered",
			 (json_int_t)c->resteered, "fenced", (json_int_t)c->fenced);
}

static void counters_row(const char *name, const char *extra, const struct cg_counters *c)
{
	printf("%-28s %-10s %12llu %14llu %10llu %10llu %8llu\n", name, extra,
	       (unsigned long long)c->packets, (unsigned long long)c->bytes,
	       (unsigned long long)c->new_flows, (unsigned long long)c->resteered,
	       (unsigned long long)c->fenced);
}

static void counters_header(const char *what)
{
	printf("%-28s %-10s %12s %14s %10s %10s %8s\n", what, "STATE", "PACKETS", "BYTES",
	       "NEW_FLOWS", "RESTEERED", "FENCED");
}

static int do_stats(int argc, char **argv)
{
	struct cg_tables *t = NULL;
	struct cg_dp *dp = NULL;
	struct cg_counters c;
	struct cg_reason_count rc;
	json_t *j = NULL, *units = NULL, *svcs = NULL, *eps = NULL, *reasons = NULL;

	if (argc > 1) {
		cg_err("stats: unexpected argument \"%s\"\n", argv[1]);
		return 2;
	}
	if (open_live(&dp, &t))
		return 1;
	if (json_out) {
		j = json_object();
		units = json_array();
		svcs = json_array();
		eps = json_array();
		reasons = json_object();
		json_object_set_new(j, "instance", json_string(instance));
		json_object_set_new(j, "generation", json_integer(t->gen.generation));
	} else {
		printf("instance %s, generation %llu\n\n", instance, (unsigned long long)t->gen.generation);
		counters_header("UNIT");
	}
	for (int i = 0; i < CG_MAX_UNITS; i++) {
		const struct cg_unit *u = &t->units[i];

		if (u->state == CG_UNIT_UNUSED ||
		    percpu_sum(dp->fd[CG_DP_UNIT_STATS], i, sizeof(c), (__u64 *)&c))
			continue;
		if (json_out) {
			json_t *o = counters_json(&c);

			json_object_set_new(o, "name", json_string(u->name));
			json_object_set_new(o, "state", json_string(state_name(u->state)));
			json_array_append_new(units, o);
		} else {
			counters_row(u->name, state_name(u->state), &c);
		}
	}
	if (!json_out) {
		printf("\n");
		counters_header("SERVICE");
	}
	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *s = &t->services[i];

		if (percpu_sum(dp->fd[CG_DP_SERVICE_STATS], s->id, sizeof(c), (__u64 *)&c))
			continue;
		if (json_out) {
			json_t *o = counters_json(&c);

			json_object_set_new(o, "name", json_string(s->name));
			json_array_append_new(svcs, o);
		} else {
			counters_row(s->name, kind_name(s->kind), &c);
		}
	}
	if (!json_out) {
		printf("\n");
		counters_header("ENDPOINT");
	}
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		const struct cg_endpoint *ep = &t->endpoints[i];
		char a[INET6_ADDRSTRLEN], name[CG_NAME_LEN + INET6_ADDRSTRLEN + 2];

		if (ep->family == CG_AF_NONE ||
		    percpu_sum(dp->fd[CG_DP_ENDPOINT_STATS], i, sizeof(c), (__u64 *)&c))
			continue;
		addr_str(ep->family, ep->daddr, a, sizeof(a));
		if (json_out) {
			json_t *o = counters_json(&c);

			json_object_set_new(o, "unit", json_string(t->units[ep->unit % CG_MAX_UNITS].name));
			json_object_set_new(o, "address", json_string(a));
			json_array_append_new(eps, o);
		} else {
			snprintf(name, sizeof(name), "%s/%s", t->units[ep->unit % CG_MAX_UNITS].name, a);
			counters_row(name, "", &c);
		}
	}
	if (!json_out)
		printf("\n%-28s %12s %14s\n", "REASON", "PACKETS", "BYTES");
	for (int r = 0; r < CG_R_MAX; r++) {
		if (percpu_sum(dp->fd[CG_DP_REASONS], r, sizeof(rc), (__u64 *)&rc))
			continue;
		if (json_out)
			json_object_set_new(reasons, reason_names[r],
					    json_pack("{s:I, s:I}", "packets", (json_int_t)rc.packets,
						      "bytes", (json_int_t)rc.bytes));
		else if (rc.packets)
			printf("%-28s %12llu %14llu\n", reason_names[r], (unsigned long long)rc.packets,
			       (unsigned long long)rc.bytes);
	}
	if (json_out) {
		json_object_set_new(j, "units", units);
		json_object_set_new(j, "services", svcs);
		json_object_set_new(j, "endpoints", eps);
		json_object_set_new(j, "reasons", reasons);
		print_json(j);
	}
	cg_tables_free(t);
	cg_dp_close(dp);
	return 0;
}

/* ---- decap ---- */

static int parse_addr(const char *s, struct cg_decap_key *k)
{
	memset(k, 0, sizeof(*k));
	if (inet_pton(AF_INET, s, k->addr) == 1) {
		k->family = CG_AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, k->addr) == 1) {
		k->family = CG_AF_INET6;
		return 0;
	}
	return -1;
}

static int decap_stats(void)
{
	char dir[CG_DIR_MAX], path[CG_DIR_MAX + 32];
	struct cg_reason_count rc;
	json_t *j = json_object();
	int fd;

	cg_instance_dir(instance, dir, sizeof(dir));
	snprintf(path, sizeof(path), "%s/cg_decap_reasons", dir);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		json_decref(j);
		cg_err("no decap loaded in instance \"%s\" (%s)\n", instance, path);
		return 1;
	}
	if (!json_out)
		printf("%-20s %12s %14s\n", "REASON", "PACKETS", "BYTES");
	for (int r = CG_R_DECAP_OK; r <= CG_R_DECAP_BAD; r++) {
		if (percpu_sum(fd, r, sizeof(rc), (__u64 *)&rc))
			continue;
		if (json_out)
			json_object_set_new(j, reason_names[r],
					    json_pack("{s:I, s:I}", "packets", (json_int_t)rc.packets,
						      "bytes", (json_int_t)rc.bytes));
		else
			printf("%-20s %12llu %14llu\n", reason_names[r], (unsigned long long)rc.packets,
			       (unsigned long long)rc.bytes);
	}
	close(fd);
	if (json_out)
		print_json(j);
	else
		json_decref(j);
	return 0;
}

static int do_decap(int argc, char **argv)
{
	static const struct option opts[] = { { "dev", required_argument, NULL, 'd' },
					      { "mode", required_argument, NULL, 'm' },
					      { "addr", required_argument, NULL, 'a' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct cg_decap_key addrs[CG_MAX_DECAP_ADDRS];
	const char *dev = NULL;
	int c, n = 0, mode = CG_MODE_NATIVE;

	if (argc < 2) {
		cg_err("usage: cellgate decap load|unload|stats ...\n");
		return 2;
	}
	if (!strcmp(argv[1], "unload"))
		return cg_unload_decap(instance) ? 1 : 0;
	if (!strcmp(argv[1], "stats"))
		return decap_stats();
	if (strcmp(argv[1], "load")) {
		cg_err("decap: unknown command \"%s\" (load, unload, stats)\n", argv[1]);
		return 2;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "d:m:a:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			dev = optarg;
			break;
		case 'm':
			mode = cg_mode_parse(optarg);
			if (mode < 0) {
				cg_err("--mode: \"%s\" is not native, generic or tc\n", optarg);
				return 2;
			}
			break;
		case 'a':
			if (n >= CG_MAX_DECAP_ADDRS) {
				cg_err("--addr: at most %d addresses\n", CG_MAX_DECAP_ADDRS);
				return 2;
			}
			if (parse_addr(optarg, &addrs[n])) {
				cg_err("--addr: \"%s\" is not an IPv4 or IPv6 address\n", optarg);
				return 2;
			}
			n++;
			break;
		case 'h':
			puts("usage: cellgate [-i INSTANCE] decap load --dev IFACE --addr ADDR [--addr ADDR...] [--mode native|generic|tc]");
			return 0;
		default:
			return 2;
		}
	}
	if (!dev || !n) {
		cg_err("decap load: --dev IFACE and at least one --addr are required\n");
		return 2;
	}
	if (cg_load_decap(instance, dev, mode, addrs, n))
		return 1;
	if (!json_out)
		printf("instance %s: decap loaded on %s for %d address%s\n", instance, dev, n,
		       n == 1 ? "" : "es");
	return 0;
}

/* ---- monitor ---- */

static int do_monitor(int argc, char **argv)
{
	struct cg_dp *dp = NULL;
	bool once = false;
	int err;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--once")) {
			once = true;
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			puts("usage: cellgate [-i INSTANCE] monitor [--once]");
			return 0;
		} else {
			cg_err("monitor: unexpected argument \"%s\"\n", argv[i]);
			return 2;
		}
	}
	if (cg_dp_open_pinned(instance, &dp))
		return 1;
	err = cg_monitor_run(dp, once);
	cg_dp_close(dp);
	return err ? 1 : 0;
}

/* ---- dispatch ---- */

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
};

static const struct cmd cmds[] = {
	{ "load", do_load, "load --dev IFACE [--mode native|generic|tc] [--buckets N] [--flows N]" },
	{ "unload", do_unload, "unload                 detach and remove every pin of the instance" },
	{ "apply", do_apply, "apply -f FILE          validate, build and publish a configuration" },
	{ "evacuate", do_evacuate, "evacuate UNIT          move the unit's buckets to survivors" },
	{ "restore", do_restore, "restore UNIT           give the unit its buckets back" },
	{ "status", do_status, "status                 generation, units, services" },
	{ "stats", do_stats, "stats                  per-unit, service, endpoint and reason counters" },
	{ "monitor", do_monitor, "monitor [--once]       keep next-hop MACs in step with the neighbour table" },
	{ "decap", do_decap, "decap load|unload|stats  receiving side of a unit" },
	{},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: cellgate [-i INSTANCE] [-j] [-v] COMMAND [ARGS]\n\ncommands:\n");
	for (const struct cmd *c = cmds; c->name; c++)
		fprintf(f, "  %s\n", c->help);
	fprintf(f, "\noptions:\n  -i, --instance NAME  pins under %s/NAME (default \"default\", or $CELLGATE_INSTANCE)\n"
		   "  -j, --json           JSON output\n  -v, --verbose        more detail, libbpf and verifier logs\n"
		   "  -V, --version        print the version\n\nSee cellgate(8).\n",
		CG_PIN_ROOT);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "instance", required_argument, NULL, 'i' }, { "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },        { "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },           {}
	};
	const char *env = getenv("CELLGATE_INSTANCE");
	int c;

	if (env && *env)
		instance = env;
	/* '+': stop at the subcommand, which parses its own options */
	while ((c = getopt_long(argc, argv, "+i:jvVh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			instance = optarg;
			break;
		case 'j':
			json_out = true;
			break;
		case 'v':
			cg_log_level++;
			break;
		case 'V':
			printf("cellgate %s (map layout %d)\n", CG_VERSION, CG_LAYOUT_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (strlen(instance) > 64 || strchr(instance, '/')) {
		cg_err("invalid instance name \"%s\"\n", instance);
		return 2;
	}
	cg_log_setup_libbpf();
	for (const struct cmd *cmd = cmds; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[optind]))
			continue;
		argc -= optind;
		argv += optind;
		optind = 1; /* reset getopt for the subcommand */
		return cmd->fn(argc, argv);
	}
	cg_err("unknown command \"%s\"; see cellgate --help\n", argv[optind]);
	return 2;
}
