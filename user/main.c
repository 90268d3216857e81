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

#include "agent.h"
#include "cellgate.h"
#include "config.h"
#include "dp.h"
#include "explain.h"
#include "loader.h"
#include "monitor.h"
#include "names.h"
#include "ops.h"
#include "log.h"
#include "tables.h"

#define CG_VERSION "0.1.0"

const char *instance = "default"; /* global: explain.h's do_explain() reads both */
bool json_out;






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
	size_t n = strlen(what);

	for (int i = 0; i < e->n; i++) {
		/* syntax and file errors name the file already (user/config.c) */
		if (!strncmp(e->msgs[i], what, n) && !strncmp(e->msgs[i] + n, ": ", 2))
			fprintf(stderr, "%s\n", e->msgs[i]);
		else
			fprintf(stderr, "%s: %s\n", what, e->msgs[i]);
	}
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

/* For commands without options: -h prints usage; anything else is an error. */
static int no_args(const char *cmd, const char *usage, int argc, char **argv)
{
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf("usage: cellgate [-i INSTANCE] [-j] %s\n", usage);
		return 0;
	}
	if (argc > 1) {
		cg_err("%s: unexpected argument \"%s\"\n", cmd, argv[1]);
		return 2;
	}
	return -1;
}

static void print_done(const char *action, const char *what)
{
	if (json_out)
		print_json(json_pack("{s:s, s:s, s:s}", "instance", instance, "action", action,
				     "result", what));
	else
		printf("instance %s: %s\n", instance, what);
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
	{
		char what[160];

		snprintf(what, sizeof(what), "steering loaded on %s; pins in %s/%s", o.dev,
			 CG_PIN_ROOT, instance);
		print_done("load", what);
	}
	return 0;
}

static int do_unload(int argc, char **argv)
{
	int r = no_args("unload", "unload", argc, argv);

	if (r >= 0)
		return r;
	if (cg_unload(instance, false))
		return 1;
	print_done("unload", "unloaded");
	return 0;
}

/* ---- apply / evacuate / restore ---- */

static void count_units(const struct cg_tables *t, __u32 *serving)
{
	memset(serving, 0, sizeof(__u32) * CG_MAX_UNITS);
	for (__u32 b = 0; b < t->buckets_used; b++)
		if (t->buckets[b].unit < CG_MAX_UNITS)
			serving[t->buckets[b].unit]++;
}



static void report_op(const char *what, const struct cg_op_opts *o, const struct cg_op_result *r,
		      const struct cg_tables *names)
{
	if (json_out) {
		json_t *j = json_pack("{s:s, s:s, s:b, s:b, s:I, s:I, s:i, s:i, s:f, s:f, s:f, s:f}",
				      "instance", instance, "action", what, "dry_run", o->dry_run,
				      "noop", r->noop, "generation_before", (json_int_t)r->gen_before,
				      "generation", (json_int_t)r->gen_after, "buckets_moved",
				      (int)r->moved, "buckets_fenced", (int)r->fenced, "build_ms",
				      r->build_ms, "write_ms", r->write_ms, "swap_ms", r->swap_ms,
				      "verify_ms", r->verify_ms);
		json_t *to = json_object(), *from = json_object();

		for (int u = 0; u < CG_MAX_UNITS; u++) {
			if (r->moved_to[u])
				json_object_set_new(to, names->units[u].name, json_integer(r->moved_to[u]));
			if (r->moved_from[u])
				json_object_set_new(from, names->units[u].name,
						    json_integer(r->moved_from[u]));
		}
		json_object_set_new(j, "moved_to", to);
		json_object_set_new(j, "moved_from", from);
		{
			json_t *by = json_object();

			for (int i = 0; i < r->n_services; i++)
				json_object_set_new(by, r->svc[i].name, json_integer(r->svc[i].moved));
			json_object_set_new(j, "moved_by_service", by);
		}
		print_json(j);
		return;
	}
	if (r->noop) {
		printf("%s: nothing to change (generation %llu)\n", what,
		       (unsigned long long)r->gen_before);
		return;
	}
	if (o->dry_run)
		printf("%s (dry run): would publish generation %llu, %u buckets moved", what,
		       (unsigned long long)r->gen_before + 1, r->moved);
	else
		printf("%s: generation %llu published, %u buckets moved", what,
		       (unsigned long long)r->gen_after, r->moved);
	if (r->fenced)
		printf(", %u fenced", r->fenced);
	printf("\n");
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (r->moved_from[u] || r->moved_to[u])
			printf("  unit %-16s -%u +%u buckets\n", names->units[u].name, r->moved_from[u],
			       r->moved_to[u]);
	for (int i = 0; i < r->n_services; i++)
		printf("  service %-13s %u buckets moved\n", r->svc[i].name, r->svc[i].moved);
	if (!o->dry_run)
		printf("  build %.2f ms, write %.2f ms, swap %.2f ms (visible at its start; returns after the RCU grace period), verify %.2f ms\n",
		       r->build_ms, r->write_ms, r->swap_ms, r->verify_ms);
}

/* Unit names of the live generation (or of what apply built), for reports. */
static struct cg_tables *live_names(struct cg_dp *dp)
{
	struct cg_tables *t = NULL;

	if (cg_tables_alloc(&t, dp->bucket_slots) || cg_dp_read_active(dp, t)) {
		cg_tables_free(t);
		return NULL;
	}
	return t;
}

static int parse_u64(const char *opt, const char *s, __u64 *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	if (errno || *end || !*s) {
		cg_err("%s: \"%s\" is not a number\n", opt, s);
		return -1;
	}
	return 0;
}

static int do_apply(int argc, char **argv)
{
	static const struct option opts[] = { { "file", required_argument, NULL, 'f' },
					      { "dry-run", no_argument, NULL, 'n' },
					      { "expect-generation", required_argument, NULL, 'g' },
					      { "help", no_argument, NULL, 'h' },
					      {} };
	struct cg_errors errs = {};
	struct cg_config cfg = {};
	struct cg_op_opts o = {};
	struct cg_op_result r;
	struct cg_tables *names;
	struct cg_dp *dp = NULL;
	const char *file = NULL;
	int c, ret = 1;

	while ((c = getopt_long(argc, argv, "f:ng:h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			file = optarg;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'g':
			if (parse_u64("--expect-generation", optarg, &o.expect_generation))
				return 2;
			break;
		case 'h':
			puts("usage: cellgate [-i INSTANCE] [-j] apply -f FILE [--dry-run] [--expect-generation N]   (FILE - reads stdin)");
			return 0;
		default:
			return 2;
		}
	}
	if (!file || optind < argc) {
		cg_err("apply: -f FILE is required (and nothing else)\n");
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
	if (cg_op_apply(dp, &cfg, &o, &r, &errs)) {
		print_errors(&errs, file);
		fprintf(stderr, "cellgate: %s: not applied, generation %llu still serving\n", file,
			(unsigned long long)r.gen_before);
		goto out;
	}
	names = live_names(dp);
	if (names)
		report_op("apply", &o, &r, names);
	cg_tables_free(names);
	ret = 0;
out:
	cg_errors_free(&errs);
	cg_config_free(&cfg);
	cg_dp_close(dp);
	return ret;
}

/* evacuate / drain / restore / fence release: one option table for all. */
static int do_move(const char *cmd, int argc, char **argv,
		   int (*op)(struct cg_dp *, const struct cg_op_opts *, struct cg_op_result *,
			     struct cg_errors *))
{
	static const struct option opts[] = {
		{ "service", required_argument, NULL, 's' },
		{ "buckets", required_argument, NULL, 'b' },
		{ "percent", required_argument, NULL, 'p' },
		{ "fence", required_argument, NULL, 'F' },
		{ "fence-action", required_argument, NULL, 'A' },
		{ "deadline", required_argument, NULL, 'd' },
		{ "handover", required_argument, NULL, 'd' },
		{ "force", no_argument, NULL, 'f' },
		{ "dry-run", no_argument, NULL, 'n' },
		{ "expect-generation", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct cg_op_opts o = { .fence_action = CG_FENCE_DROP };
	struct cg_errors errs = {};
	struct cg_op_result r;
	struct cg_tables *names = NULL;
	struct cg_dp *dp = NULL;
	bool release = !strcmp(cmd, "fence release");
	int c, ret = 1;

	if (!strcmp(cmd, "restore"))
		o.deadline_ms = 30000; /* handover: established flows keep their unit for 30 s */
	while ((c = getopt_long(argc, argv, "s:b:p:F:A:d:fng:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.scope.service = optarg;
			break;
		case 'b': {
			unsigned int a, b;
			char extra;
			int n = sscanf(optarg, "%u-%u%c", &a, &b, &extra);

			if (n == 1)
				b = a;
			if ((n != 1 && n != 2) || a > b) {
				cg_err("--buckets: \"%s\" is not a range like 0-4999\n", optarg);
				return 2;
			}
			o.scope.has_range = true;
			o.scope.first = a;
			o.scope.last = b;
			break;
		}
		case 'p': {
			__u32 v;

			if (parse_u32("--percent", optarg, 1, 100, &v))
				return 2;
			o.scope.percent = v;
			break;
		}
		case 'F':
			if (cg_parse_duration_ms(optarg, &o.fence_ms)) {
				cg_err("--fence: \"%s\" is not a duration (30s, 500ms, 2m) or until-release\n",
				       optarg);
				return 2;
			}
			break;
		case 'A':
			if (!strcmp(optarg, "drop")) {
				o.fence_action = CG_FENCE_DROP;
			} else if (!strcmp(optarg, "reject")) {
				o.fence_action = CG_FENCE_REJECT;
			} else {
				cg_err("--fence-action: \"%s\" is not drop or reject\n", optarg);
				return 2;
			}
			break;
		case 'd':
			if (cg_parse_duration_ms(optarg, &o.deadline_ms) ||
			    o.deadline_ms == CG_FENCE_UNTIL_RELEASE) {
				cg_err("%s: \"%s\" is not a duration (30s, 500ms, 2m)\n", argv[optind - 1],
				       optarg);
				return 2;
			}
			break;
		case 'f':
			o.force = true;
			break;
		case 'n':
			o.dry_run = true;
			break;
		case 'g':
			if (parse_u64("--expect-generation", optarg, &o.expect_generation))
				return 2;
			break;
		case 'h':
			if (release)
				printf("usage: cellgate [-i INSTANCE] [-j] fence release [UNIT]\n");
			else
				printf("usage: cellgate [-i INSTANCE] [-j] %s UNIT [--service NAME [--buckets A-B]] [--percent P]\n"
				       "         [--fence DURATION|until-release [--fence-action drop|reject]]\n"
				       "         [%s DURATION] [--force] [--dry-run] [--expect-generation N]\n",
				       cmd, !strcmp(cmd, "restore") ? "--handover" : "--deadline");
			return 0;
		default:
			return 2;
		}
	}
	if (optind < argc)
		o.scope.unit = argv[optind++];
	if ((!o.scope.unit && !release) || optind < argc) {
		cg_err("usage: cellgate %s UNIT [options]; see cellgate %s -h\n", cmd, cmd);
		return 2;
	}
	if (o.deadline_ms && strcmp(cmd, "drain") && strcmp(cmd, "restore")) {
		cg_err("%s: --deadline/--handover apply to drain and restore only\n", cmd);
		return 2;
	}
	if (release && (o.scope.service || o.scope.has_range || o.scope.percent || o.fence_ms)) {
		cg_err("fence release takes only an optional UNIT\n");
		return 2;
	}
	if (o.scope.has_range && !o.scope.service) {
		cg_err("%s: --buckets needs --service (bucket numbers belong to one service)\n", cmd);
		return 2;
	}
	if (cg_dp_open_pinned(instance, &dp))
		return 1;
	if (op(dp, &o, &r, &errs)) {
		print_errors(&errs, cmd);
		if (r.gen_before)
			fprintf(stderr, "cellgate: %s refused, generation %llu still serving\n", cmd,
				(unsigned long long)r.gen_before);
		goto out;
	}
	names = live_names(dp);
	if (names)
		report_op(cmd, &o, &r, names);
	ret = 0;
out:
	cg_tables_free(names);
	cg_errors_free(&errs);
	cg_dp_close(dp);
	return ret;
}

static int do_evacuate(int argc, char **argv)
{
	return do_move("evacuate", argc, argv, cg_op_evacuate);
}

static int do_drain(int argc, char **argv)
{
	return do_move("drain", argc, argv, cg_op_drain);
}

static int do_restore(int argc, char **argv)
{
	return do_move("restore", argc, argv, cg_op_restore);
}

static int do_fence(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "release")) {
		if (argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
			puts("usage: cellgate [-i INSTANCE] [-j] fence release [UNIT]");
			return 0;
		}
		cg_err("usage: cellgate fence release [UNIT]\n");
		return 2;
	}
	return do_move("fence release", argc - 1, argv + 1, cg_op_fence_release);
}

/* ---- status ---- */

static int do_status(int argc, char **argv)
{
	static __u32 owned[CG_MAX_UNITS], served[CG_MAX_UNITS];
	struct cg_tables *t = NULL;
	struct cg_dp *dp = NULL;
	char loaded[32], published[32], hash[20];
	int r = no_args("status", "status", argc, argv);

	if (r >= 0)
		return r;
	if (open_live(&dp, &t))
		return 1;
	count_units(t, served);
	memset(owned, 0, sizeof(owned));
	for (__u32 b = 0; b < t->buckets_used; b++)
		if ((t->buckets[b].owner & CG_OWNER_MASK) < CG_MAX_UNITS)
			owned[t->buckets[b].owner & CG_OWNER_MASK]++;
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
						 "state", cg_unit_state_name(u->state), "endpoints", u->n_endpoints,
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
						cg_kind_name(s->kind), "key", cg_key_source_name(s->key_source), "modulo",
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
				       cg_unit_state_name(u->state), u->n_endpoints, u->weight, owned[i], served[i]);
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
				printf("%-16s %-30s %-6s %-7s %7u\n", s->name, ep, cg_kind_name(s->kind),
				       cg_key_source_name(s->key_source), s->modulo);
			}
		}
	}
	cg_tables_free(t);
	cg_dp_close(dp);
	return 0;
}

/* ---- stats ---- */

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

static void counters_header(const char *what, const char *col)
{
	printf("%-28s %-10s %12s %14s %10s %10s %8s\n", what, col, "PACKETS", "BYTES", "NEW_FLOWS",
	       "RESTEERED", "FENCED");
}

static int do_stats(int argc, char **argv)
{
	struct cg_tables *t = NULL;
	struct cg_dp *dp = NULL;
	struct cg_counters c;
	struct cg_reason_count rc;
	json_t *j = NULL, *units = NULL, *svcs = NULL, *eps = NULL, *reasons = NULL;
	int r = no_args("stats", "stats", argc, argv);

	if (r >= 0)
		return r;
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
		counters_header("UNIT", "STATE");
	}
	for (int i = 0; i < CG_MAX_UNITS; i++) {
		const struct cg_unit *u = &t->units[i];

		if (u->state == CG_UNIT_UNUSED ||
		    cg_percpu_sum(dp->fd[CG_DP_UNIT_STATS], i, sizeof(c), (__u64 *)&c))
			continue;
		if (json_out) {
			json_t *o = counters_json(&c);

			json_object_set_new(o, "name", json_string(u->name));
			json_object_set_new(o, "state", json_string(cg_unit_state_name(u->state)));
			json_array_append_new(units, o);
		} else {
			counters_row(u->name, cg_unit_state_name(u->state), &c);
		}
	}
	if (!json_out) {
		printf("\n");
		counters_header("SERVICE", "KIND");
	}
	for (int i = 0; i < t->n_services; i++) {
		const struct cg_service *s = &t->services[i];

		if (cg_percpu_sum(dp->fd[CG_DP_SERVICE_STATS], s->id, sizeof(c), (__u64 *)&c))
			continue;
		if (json_out) {
			json_t *o = counters_json(&c);

			json_object_set_new(o, "name", json_string(s->name));
			json_array_append_new(svcs, o);
		} else {
			counters_row(s->name, cg_kind_name(s->kind), &c);
		}
	}
	if (!json_out) {
		printf("\n");
		counters_header("ENDPOINT", "");
	}
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		const struct cg_endpoint *ep = &t->endpoints[i];
		char a[INET6_ADDRSTRLEN], name[CG_NAME_LEN + INET6_ADDRSTRLEN + 2];

		if (ep->family == CG_AF_NONE ||
		    cg_percpu_sum(dp->fd[CG_DP_ENDPOINT_STATS], i, sizeof(c), (__u64 *)&c))
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
	for (int rs = 0; rs < CG_R_MAX; rs++) {
		if (cg_percpu_sum(dp->fd[CG_DP_REASONS], rs, sizeof(rc), (__u64 *)&rc))
			continue;
		if (json_out)
			json_object_set_new(reasons, cg_reason_name(rs),
					    json_pack("{s:I, s:I}", "packets", (json_int_t)rc.packets,
						      "bytes", (json_int_t)rc.bytes));
		else if (rc.packets)
			printf("%-28s %12llu %14llu\n", cg_reason_name(rs), (unsigned long long)rc.packets,
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
	snprintf(path, sizeof(path), "%s/cg_decap_info", dir);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		struct cg_info info = {};
		__u32 zero = 0;

		if (!bpf_map_lookup_elem(fd, &zero, &info) && info.layout != CG_LAYOUT_VERSION) {
			close(fd);
			json_decref(j);
			cg_err("decap of \"%s\" was loaded with map layout %u, this cellgate uses %u; unload and load again\n",
			       instance, info.layout, CG_LAYOUT_VERSION);
			return 1;
		}
		close(fd);
	}
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
		if (cg_percpu_sum(fd, r, sizeof(rc), (__u64 *)&rc))
			continue;
		if (json_out)
			json_object_set_new(j, cg_reason_name(r),
					    json_pack("{s:I, s:I}", "packets", (json_int_t)rc.packets,
						      "bytes", (json_int_t)rc.bytes));
		else
			printf("%-20s %12llu %14llu\n", cg_reason_name(r), (unsigned long long)rc.packets,
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

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"usage: cellgate [-i INSTANCE] [-j] decap load --dev IFACE --addr ADDR [--addr ADDR...] [--mode native|generic|tc]\n"
			"       cellgate [-i INSTANCE] [-j] decap unload\n"
			"       cellgate [-i INSTANCE] [-j] decap stats\n");
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "unload")) {
		int r = no_args("decap unload", "decap unload", argc - 1, argv + 1);

		if (r >= 0)
			return r;
		if (cg_unload_decap(instance))
			return 1;
		print_done("decap unload", "decap unloaded");
		return 0;
	}
	if (!strcmp(argv[1], "stats")) {
		int r = no_args("decap stats", "decap stats", argc - 1, argv + 1);

		return r >= 0 ? r : decap_stats();
	}
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
	{
		char what[128];

		snprintf(what, sizeof(what), "decap loaded on %s for %d address%s", dev, n,
			 n == 1 ? "" : "es");
		print_done("decap load", what);
	}
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

/* ---- agent (user/agent.c) ---- */

static int do_agent(int argc, char **argv)
{
	return cg_agent_cmd(instance, json_out, argc, argv);
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
	{ "evacuate", do_evacuate, "evacuate UNIT [--service S [--buckets A-B]] [--percent P] [--fence D]" },
	{ "drain", do_drain, "drain UNIT [scope] [--deadline D]   no new flows; established ones stay" },
	{ "restore", do_restore, "restore UNIT [scope] [--handover D]  give the unit its buckets back" },
	{ "fence", do_fence, "fence release [UNIT]   end fences now" },
	{ "status", do_status, "status                 generation, units, services" },
	{ "stats", do_stats, "stats                  per-unit, service, endpoint and reason counters" },
	{ "explain", do_explain, "explain --src A --dst VIP --dport N --proto P [...]  unit, endpoint and why, for a packet" },
	{ "monitor", do_monitor, "monitor [--once]       keep next-hop MACs in step with the neighbour table" },
	{ "decap", do_decap, "decap load|unload|stats  receiving side of a unit" },
	{ "agent", do_agent, "agent [--config FILE] | agent status   health probes, automatic evacuation, /metrics" },
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
	if (!cg_instance_valid(instance)) {
		cg_err("invalid instance name \"%s\": up to %d of [A-Za-z0-9._-], not starting with '.' or '-'\n",
		       instance, CG_INSTANCE_MAX);
		return 2;
	}
	cg_log_setup_libbpf();
	for (const struct cmd *cmd = cmds; cmd->name; cmd++) {
		if (strcmp(cmd->name, argv[optind]))
			continue;
		argc -= optind;
		argv += optind;
		optind = 0; /* glibc: 0 fully resets getopt (1 keeps its permutation state) */
		return cmd->fn(argc, argv);
	}
	cg_err("unknown command \"%s\"; see cellgate --help\n", argv[optind]);
	return 2;
}
