// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Configuration parser tests (user/config.c, docs/config.md).
 *
 * Good files must parse to exactly the expected values; bad ones must fail
 * with every expected message, path included, and nothing allocated; and no
 * input at all may crash the parser or be accepted in a state the table
 * builder could trip over (mutation, truncation and byte-flip runs over the
 * worked example check the last two).
 *
 * Output: one "PASS: name" / "FAIL: name: detail" line per case; exit 1 if
 * any case failed. Run from the repository root, or from anywhere with the
 * binary inside the tree (the examples are found relative to it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "config.h"

static int n_failed;
static bool verbose; /* TEST_VERBOSE=1: print each bad case's messages as "# " lines */

struct result {
	bool failed;
	char detail[2048];
};

static void __attribute__((format(printf, 2, 3))) failf(struct result *r, const char *fmt, ...)
{
	va_list ap;

	if (r->failed)
		return; /* the first failure is the one worth reading */
	r->failed = true;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

#define CHECK(r, cond, ...)                     \
	do {                                    \
		if (!(cond))                    \
			failf((r), __VA_ARGS__); \
	} while (0)

static void report(const char *name, const struct result *r)
{
	if (r->failed) {
		printf("FAIL: %s: %s\n", name, r->detail);
		n_failed++;
	} else {
		printf("PASS: %s\n", name);
	}
	fflush(stdout);
}

/* Test JSON is written with single quotes; turn them into double quotes. */
static char *dq(const char *s)
{
	char *t = strdup(s);

	if (!t) {
		perror("strdup");
		exit(2);
	}
	for (char *p = t; *p; p++)
		if (*p == '\'')
			*p = '"';
	return t;
}

static int load_q(const char *single_quoted, struct cg_config *cfg, struct cg_errors *errs)
{
	char *text = dq(single_quoted);
	int ret = cg_config_load_string(text, cfg, errs);

	free(text);
	return ret;
}

static void errs_join(const struct cg_errors *e, char *buf, size_t sz)
{
	size_t o = 0;

	buf[0] = '\0';
	for (int i = 0; i < e->n && o + 1 < sz; i++)
		o += snprintf(buf + o, sz - o, "%s[%s]", i ? " " : "", e->msgs[i]);
}

static bool errs_have(const struct cg_errors *e, const char *needle)
{
	for (int i = 0; i < e->n; i++)
		if (strstr(e->msgs[i], needle))
			return true;
	return false;
}

static bool cfg_is_empty(const struct cg_config *c)
{
	return c->n_units == 0 && !c->units && c->n_services == 0 && !c->services;
}

static char *read_text(const char *path)
{
	FILE *fp = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!fp)
		return NULL;
	if (getdelim(&buf, &len, '\0', fp) < 0) {
		free(buf);
		buf = NULL;
	}
	fclose(fp);
	return buf;
}

/*
 * The repository root: the working directory when run from it (make test),
 * else found above the binary (build/selftests/test_config).
 */
static const char *repo_root(void)
{
	static char root[PATH_MAX];
	char exe[PATH_MAX];
	ssize_t n;

	if (root[0])
		return root;
	if (access("docs/examples/three-dc.json", R_OK) == 0) {
		strcpy(root, ".");
		return root;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = '\0';
		for (int up = 0; up < 4; up++) {
			char *slash = strrchr(exe, '/');
			char probe[PATH_MAX + 32];

			if (!slash)
				break;
			*slash = '\0';
			snprintf(probe, sizeof(probe), "%s/docs/examples/three-dc.json", exe);
			if (access(probe, R_OK) == 0) {
				snprintf(root, sizeof(root), "%s", exe);
				return root;
			}
		}
	}
	strcpy(root, ".");
	return root;
}

static const char *repo_path(const char *rel)
{
	static char buf[PATH_MAX + 64];

	snprintf(buf, sizeof(buf), "%s/%s", repo_root(), rel);
	return buf;
}

static bool addr_is(int family, const __be32 *a, const char *text)
{
	__be32 want[4] = { 0 };

	if (inet_pton(family == CG_AF_INET ? AF_INET : AF_INET6, text, want) != 1)
		return false;
	return !memcmp(a, want, family == CG_AF_INET ? 4 : 16);
}

/* Pins of an accepted service: the VIP's family, host bits zero, no repeats. */
static void check_pins(struct result *r, int i, const struct cg_cfg_service *s, int n_units)
{
	for (int k = 0; k < s->n_pins; k++) {
		const struct cg_cfg_pin *p = &s->pins[k];
		int max = p->family == CG_AF_INET ? 32 : 128;
		int words = p->family == CG_AF_INET ? 1 : 4;

		CHECK(r, p->family == s->family, "services[%d].pins[%d] family %d", i, k, p->family);
		CHECK(r, p->prefix_len >= 0 && p->prefix_len <= max, "services[%d].pins[%d] length %d",
		      i, k, p->prefix_len);
		CHECK(r, p->unit >= 0 && p->unit < n_units, "services[%d].pins[%d] unit %d", i, k,
		      p->unit);
		for (int w = 0; w < 4; w++) {
			int bits = p->prefix_len - 32 * w;
			__u32 mask = bits >= 32 ? ~0u : bits <= 0 ? 0 : ~0u << (32 - bits);

			CHECK(r, w < words ? !(ntohl(p->addr[w]) & ~mask) : !p->addr[w],
			      "services[%d].pins[%d] host bits in word %d", i, k, w);
		}
		/* quadratic: only for the small configs the fuzzers make */
		for (int j = 0; j < k && s->n_pins <= 512; j++)
			CHECK(r, s->pins[j].family != p->family ||
					 s->pins[j].prefix_len != p->prefix_len ||
					 memcmp(s->pins[j].addr, p->addr, sizeof(p->addr)),
			      "services[%d].pins[%d] repeats pins[%d]", i, k, j);
	}
}

/*
 * What the table builder may rely on in any accepted config. Checked after
 * every successful load, including the mutated and fuzzed ones.
 */
static void check_invariants(struct result *r, const struct cg_config *c)
{
	int total = 0;

	CHECK(r, c->version == CG_CONFIG_VERSION, "version %u", c->version);
	CHECK(r, c->n_units >= 1 && c->n_units <= CG_MAX_UNITS, "n_units %d", c->n_units);
	CHECK(r, c->n_services >= 0 && c->n_services <= CG_MAX_SERVICES, "n_services %d",
	      c->n_services);
	CHECK(r, c->local_unit >= -1 && c->local_unit < c->n_units, "local_unit %d", c->local_unit);
	CHECK(r, c->central_unit >= -1 && c->central_unit < c->n_units, "central_unit %d",
	      c->central_unit);
	if (c->has_src4)
		CHECK(r, c->src4_len >= 0 && c->src4_len <= 32, "src4_len %d", c->src4_len);
	if (c->has_src6)
		CHECK(r, c->src6_len >= 96 && c->src6_len <= 128, "src6_len %d", c->src6_len);
	for (int i = 0; i < c->n_units; i++) {
		const struct cg_cfg_unit *u = &c->units[i];

		CHECK(r, u->name[0] && strlen(u->name) < CG_NAME_LEN, "units[%d] name", i);
		CHECK(r, u->standby >= -1 && u->standby < c->n_units && u->standby != i,
		      "units[%d] standby %d", i, u->standby);
		CHECK(r, u->weight >= 1 && u->weight <= CG_CFG_MAX_WEIGHT, "units[%d] weight", i);
		CHECK(r, u->role == CG_ROLE_NORMAL || u->role == CG_ROLE_CENTRAL, "units[%d] role",
		      i);
		CHECK(r, (u->role == CG_ROLE_CENTRAL) == (c->central_unit == i),
		      "units[%d] role vs central_unit", i);
		CHECK(r, u->n_endpoints >= 1 && u->endpoints, "units[%d] no endpoints", i);
		for (int k = 0; k < u->n_endpoints; k++) {
			const struct cg_cfg_endpoint *e = &u->endpoints[k];

			CHECK(r, e->family == CG_AF_INET || e->family == CG_AF_INET6,
			      "units[%d].endpoints[%d] family", i, k);
			CHECK(r, e->family != CG_AF_INET || c->has_src4,
			      "IPv4 endpoint without source4");
			CHECK(r, e->family != CG_AF_INET6 || c->has_src6,
			      "IPv6 endpoint without source6");
			CHECK(r, e->weight >= 1 && e->mtu >= 576 && e->mtu <= 65535,
			      "units[%d].endpoints[%d] weight/mtu", i, k);
			CHECK(r, strlen(e->dev) < IF_NAMESIZE, "dev");
		}
		total += u->n_endpoints;
	}
	CHECK(r, total <= CG_MAX_ENDPOINTS, "%d endpoints", total);
	for (int i = 0; i < c->n_services; i++) {
		const struct cg_cfg_service *s = &c->services[i];

		CHECK(r, s->name[0], "services[%d] name", i);
		CHECK(r, s->family == CG_AF_INET || s->family == CG_AF_INET6, "services[%d] family",
		      i);
		CHECK(r, s->proto == IPPROTO_TCP || s->proto == IPPROTO_UDP, "services[%d] proto", i);
		CHECK(r, s->modulo >= 1 && s->modulo <= CG_MAX_MODULO, "services[%d] modulo", i);
		CHECK(r, !(s->flags & CG_SVC_F_FRAG_L3) || s->port == 0, "services[%d] frag", i);
		CHECK(r, s->proto == IPPROTO_UDP || !(s->flags & CG_SVC_F_UDP_MISS_NEW),
		      "services[%d] udp flag on tcp", i);
		if (s->kind == CG_KIND_GLOBAL || s->kind == CG_KIND_SHARED)
			CHECK(r, c->central_unit >= 0, "services[%d] needs central", i);
		if (s->kind == CG_KIND_SHARED)
			CHECK(r, c->local_unit >= 0, "services[%d] needs local", i);
		if (s->key_missing == CG_MISSING_CENTRAL)
			CHECK(r, c->central_unit >= 0, "services[%d] missing=central", i);
		if (s->key_source == CG_KEY_PAYLOAD) {
			CHECK(r, s->key_size == 1 || s->key_size == 2 || s->key_size == 4 ||
					 s->key_size == 8,
			      "services[%d] key size %u", i, s->key_size);
			CHECK(r, s->key_offset <= CG_MAX_KEY_OFFSET, "services[%d] offset", i);
			CHECK(r, s->proto == IPPROTO_UDP, "services[%d] payload key on tcp", i);
		} else {
			CHECK(r, s->key_size == 0 && s->key_offset == 0 &&
					 s->key_missing == CG_MISSING_FLOW,
			      "services[%d] payload fields on a %d key", i, s->key_source);
		}
		CHECK(r, s->canary_unit >= -1 && s->canary_unit < c->n_units && s->canary_bp <= 10000,
		      "services[%d] canary unit %d, %u bp", i, s->canary_unit, s->canary_bp);
		CHECK(r, s->canary_unit >= 0 || s->canary_bp == 0, "services[%d] canary share without unit",
		      i);
		CHECK(r, s->n_pins >= 0 && s->n_pins <= CG_MAX_PINS && (s->n_pins == 0) == !s->pins,
		      "services[%d] n_pins %d", i, s->n_pins);
		if (s->kind != CG_KIND_CORE) {
			CHECK(r, s->n_rules == 0 && !s->rules, "services[%d] non-core has rules", i);
			CHECK(r, s->canary_unit == -1 && s->n_pins == 0,
			      "services[%d] non-core has a canary or pins", i);
			continue;
		}
		check_pins(r, i, s, c->n_units);
		CHECK(r, s->n_rules >= 1 && s->rules, "services[%d] core without rules", i);
		for (__u32 k = 0, next = 0; k < (__u32)s->n_rules; k++) {
			const struct cg_cfg_rule *ru = &s->rules[k];

			CHECK(r, ru->first == next && ru->last >= ru->first && ru->last < s->modulo,
			      "services[%d].rules[%u] %u-%u not contiguous from %u", i, k, ru->first,
			      ru->last, next);
			CHECK(r, ru->unit >= 0 && ru->unit < c->n_units, "services[%d].rules[%u] unit",
			      i, k);
			next = ru->last + 1;
			if (k == (__u32)s->n_rules - 1)
				CHECK(r, next == s->modulo, "services[%d] rules end at %u, modulo %u", i,
				      next, s->modulo);
		}
		for (int j = 0; j < i; j++) {
			const struct cg_cfg_service *o = &c->services[j];

			CHECK(r, strcmp(o->name, s->name), "duplicate service name");
			CHECK(r, o->family != s->family || o->proto != s->proto ||
					 o->port != s->port || memcmp(o->vip, s->vip, 16),
			      "duplicate service key");
		}
	}
}

/* ------------------------------------------------------------------------
 * Good configurations
 */

static void test_example_file(void)
{
	struct cg_errors errs = { 0 };
	struct cg_config c;
	struct result r = { 0 };
	char all[2048];
	const struct cg_cfg_service *s;
	const struct cg_cfg_unit *u;

	if (cg_config_load_file(repo_path("docs/examples/three-dc.json"), &c, &errs)) {
		errs_join(&errs, all, sizeof(all));
		failf(&r, "does not load: %s", all);
		goto out;
	}
	check_invariants(&r, &c);
	CHECK(&r, c.seed == 2718281828u, "seed %u", c.seed);
	CHECK(&r, c.has_src4 && c.src4 == htonl(0xc612fa00) && c.src4_len == 24, "source4");
	CHECK(&r, c.has_src6 && addr_is(CG_AF_INET6, c.src6, "2001:db8:250::") && c.src6_len == 112,
	      "source6");
	CHECK(&r, c.n_units == 3, "n_units %d", c.n_units);
	CHECK(&r, c.central_unit == 0 && c.local_unit == 0, "central %d local %d", c.central_unit,
	      c.local_unit);
	CHECK(&r, cg_config_unit_index(&c, "dc-c") == 2, "unit_index dc-c");

	u = &c.units[0];
	CHECK(&r, !strcmp(u->name, "dc-a") && u->role == CG_ROLE_CENTRAL && u->standby == 1 &&
			  u->weight == 2 && u->n_endpoints == 2,
	      "dc-a");
	CHECK(&r, u->endpoints[1].family == CG_AF_INET &&
			  addr_is(CG_AF_INET, u->endpoints[1].addr, "198.18.1.11") &&
			  !strcmp(u->endpoints[1].address, "198.18.1.11") &&
			  !strcmp(u->endpoints[1].dev, "eth1") && u->endpoints[1].has_mac &&
			  u->endpoints[1].mac[0] == 0x02 && u->endpoints[1].mac[5] == 0x0b &&
			  !u->endpoints[1].has_via && u->endpoints[1].mtu == 1500 &&
			  u->endpoints[1].weight == 1,
	      "dc-a endpoint 1");
	u = &c.units[1];
	CHECK(&r, u->role == CG_ROLE_NORMAL && u->standby == -1 && u->weight == 1, "dc-b");
	CHECK(&r, u->endpoints[1].has_via && addr_is(CG_AF_INET, u->endpoints[1].via, "198.18.0.2") &&
			  !u->endpoints[1].has_mac && u->endpoints[1].weight == 2,
	      "dc-b endpoint 1");
	u = &c.units[2];
	CHECK(&r, u->endpoints[0].family == CG_AF_INET6 && u->endpoints[0].mtu == 9000 &&
			  addr_is(CG_AF_INET6, u->endpoints[0].addr, "2001:db8:3::10"),
	      "dc-c endpoint 0");

	CHECK(&r, c.n_services == 7, "n_services %d", c.n_services);
	if (c.n_services != 7)
		goto out_free;
	s = &c.services[0]; /* web: 34/33/33 of 10000 is exact */
	CHECK(&r, s->kind == CG_KIND_CORE && s->key_source == CG_KEY_FLOW && s->port == 80 &&
			  s->proto == IPPROTO_TCP && s->modulo == 10000 && s->flags == 0 &&
			  s->family == CG_AF_INET && addr_is(CG_AF_INET, s->vip, "198.19.0.80"),
	      "web fields");
	CHECK(&r, s->n_rules == 3 && s->rules[0].first == 0 && s->rules[0].last == 3399 &&
			  s->rules[0].unit == 0 && s->rules[1].first == 3400 &&
			  s->rules[1].last == 6699 && s->rules[1].unit == 1 &&
			  s->rules[2].first == 6700 && s->rules[2].last == 9999 &&
			  s->rules[2].unit == 2,
	      "web rules");
	CHECK(&r, s->canary_unit == -1 && s->canary_bp == 0, "web canary");
	CHECK(&r, s->n_pins == 1 && s->pins[0].family == CG_AF_INET &&
			  addr_is(CG_AF_INET, s->pins[0].addr, "198.18.7.0") &&
			  s->pins[0].prefix_len == 24 && s->pins[0].unit == 1,
	      "web pins");
	s = &c.services[1];
	CHECK(&r, s->family == CG_AF_INET6 && s->key_source == CG_KEY_CLIENT && s->port == 443 &&
			  addr_is(CG_AF_INET6, s->vip, "2001:db8:80::80"),
	      "web6");
	CHECK(&r, s->canary_unit == 2 && s->canary_bp == 250, "web6 canary %d %u", s->canary_unit,
	      s->canary_bp);
	CHECK(&r, s->n_pins == 1 && s->pins[0].family == CG_AF_INET6 &&
			  addr_is(CG_AF_INET6, s->pins[0].addr, "2001:db8:7::") &&
			  s->pins[0].prefix_len == 48 && s->pins[0].unit == 0,
	      "web6 pins");
	s = &c.services[2]; /* orders: payload uid, MSHA-style rules */
	CHECK(&r, s->key_source == CG_KEY_PAYLOAD && s->key_offset == 0 && s->key_size == 4 &&
			  s->key_missing == CG_MISSING_CENTRAL && s->proto == IPPROTO_UDP &&
			  s->flags == CG_SVC_F_UDP_MISS_NEW,
	      "orders key");
	CHECK(&r, s->n_rules == 3 && s->rules[0].last == 4999 && s->rules[0].unit == 0 &&
			  s->rules[1].first == 5000 && s->rules[1].last == 7999 &&
			  s->rules[1].unit == 1 && s->rules[2].unit == 2,
	      "orders rules");
	s = &c.services[3]; /* media: any port, L3 fragments, 50/50 of 1000 */
	CHECK(&r, s->port == 0 && s->modulo == 1000 &&
			  s->flags == (CG_SVC_F_FRAG_L3 | CG_SVC_F_UDP_MISS_NEW) && s->n_rules == 2 &&
			  s->rules[0].last == 499 && s->rules[1].unit == 1,
	      "media");
	s = &c.services[4];
	CHECK(&r, s->kind == CG_KIND_GLOBAL && s->n_rules == 0 && s->flags == CG_SVC_F_FULL_FLOWS,
	      "accounts");
	for (int i = 0; i < c.n_services; i++)
		CHECK(&r, i == 1 || c.services[i].canary_unit == -1, "services[%d] canary_unit %d", i,
		      c.services[i].canary_unit);
	s = &c.services[5];
	CHECK(&r, s->kind == CG_KIND_SHARED && s->n_rules == 0, "catalog");
out_free:
	cg_config_free(&c);
	CHECK(&r, cfg_is_empty(&c), "cg_config_free left something");
out:
	cg_errors_free(&errs);
	report("example_three_dc_file", &r);
}

static void test_all_examples(void)
{
	struct result r = { 0 };
	glob_t g;
	char all[2048];

	if (glob(repo_path("docs/examples/*.json"), 0, NULL, &g) || g.gl_pathc < 3) {
		failf(&r, "expected at least 3 files in docs/examples");
	} else {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct cg_errors errs = { 0 };
			struct cg_config c;

			if (cg_config_load_file(g.gl_pathv[i], &c, &errs)) {
				errs_join(&errs, all, sizeof(all));
				failf(&r, "%s: %s", g.gl_pathv[i], all);
			} else {
				check_invariants(&r, &c);
				cg_config_free(&c);
			}
			cg_errors_free(&errs);
		}
	}
	globfree(&g);
	report("all_examples_parse", &r);
}

/* docs/config.md shows three-dc.json in full: the two must not drift apart. */
static void test_doc_shows_example(void)
{
	char *doc = read_text(repo_path("docs/config.md"));
	char *file = read_text(repo_path("docs/examples/three-dc.json"));
	struct result r = { 0 };
	char *start, *end;

	if (!doc || !file) {
		failf(&r, "cannot read docs/config.md or docs/examples/three-dc.json");
		goto out;
	}
	start = strstr(doc, "## Worked example");
	start = start ? strstr(start, "```json\n") : NULL;
	end = start ? strstr(start + 8, "```") : NULL;
	if (!end) {
		failf(&r, "no json block after \"## Worked example\"");
		goto out;
	}
	start += 8;
	CHECK(&r, (size_t)(end - start) == strlen(file) && !memcmp(start, file, end - start),
	      "the json block differs from docs/examples/three-dc.json");
out:
	free(doc);
	free(file);
	report("doc_worked_example_is_the_file", &r);
}

/* Load a config that must be good; report failure with the messages. */
static bool load_good(struct result *r, const char *single_quoted, struct cg_config *c)
{
	struct cg_errors errs = { 0 };
	char all[2048];

	if (load_q(single_quoted, c, &errs)) {
		errs_join(&errs, all, sizeof(all));
		failf(r, "rejected: %s", all);
		cg_errors_free(&errs);
		return false;
	}
	cg_errors_free(&errs);
	check_invariants(r, c);
	return true;
}

#define ENCAP "'encap':{'source4':'198.18.250.0/24','source6':'2001:db8:250::/112'},"
#define EP(a) "{'address':'" a "'}"
#define UNIT(name, extra, eps) "{'name':'" name "'," extra "'endpoints':[" eps "]}"
#define UNITS3                                                                     \
	"'units':["                                                                \
	UNIT("dc-a", "'role':'central','standby':'dc-b',",                         \
	     EP("198.18.1.10") "," EP("198.18.1.11")) ","                          \
	UNIT("dc-b", "", EP("198.18.2.10") "," EP("198.18.2.11")) ","              \
	UNIT("dc-c", "", EP("198.18.3.10") "," EP("198.18.3.11")) "]"
/* The same units without a central one. */
#define UNITS3_NC                                                                  \
	"'units':["                                                                \
	UNIT("dc-a", "", EP("198.18.1.10")) ","                                    \
	UNIT("dc-b", "", EP("198.18.2.10")) ","                                    \
	UNIT("dc-c", "", EP("198.18.3.10")) "]"
#define CFG(units, services) "{'version':1," ENCAP units ",'services':[" services "]}"
#define ONE_UNIT "'units':[" UNIT("a", "", EP("198.18.1.10")) "]"
/* Only an IPv4 outer source: enough for IPv4 endpoints. */
#define V4 "{'version':1,'encap':{'source4':'198.18.250.0/24'},"
#define RATIOS "'ratios':{'dc-a':34,'dc-b':33,'dc-c':33}"
/*
 * A service with `extra` members. Keys cannot be overridden by repeating
 * them (duplicate keys are refused), hence the name and port parameters.
 */
#define SV(name, port, extra) \
	"{'name':'" name "','vip':'198.19.0.1','port':" port ",'proto':'tcp'," extra "}"
#define SU(name, port, extra) \
	"{'name':'" name "','vip':'198.19.0.2','port':" port ",'proto':'udp'," extra "}"
#define SVC(extra) SV("s", "80", extra)
#define SVCR(extra) SVC(extra RATIOS)
#define SVC_UDP(extra) SU("u", "53", extra)

static void test_defaults(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      V4 "'units':[" UNIT("solo", "", EP("198.18.1.10")) "],'services':["
			 "{'name':'t','vip':'198.19.0.1','port':80,'proto':'tcp',"
			 "'rules':[{'buckets':'0-9999','unit':'solo'}]},"
			 "{'name':'u','vip':'198.19.0.1','port':80,'proto':'udp',"
			 "'rules':[{'buckets':'0-9999','unit':'solo'}]}]}",
		      &c)) {
		const struct cg_cfg_unit *u = &c.units[0];
		const struct cg_cfg_endpoint *e = &u->endpoints[0];
		const struct cg_cfg_service *t = &c.services[0], *d = &c.services[1];

		CHECK(&r, c.seed == CG_DEFAULT_SEED, "seed %#x", c.seed);
		CHECK(&r, !c.has_src6 && c.local_unit == -1 && c.central_unit == -1, "top");
		CHECK(&r, u->role == CG_ROLE_NORMAL && u->standby == -1 && u->weight == 1, "unit");
		CHECK(&r, e->weight == 1 && e->mtu == 1500 && !e->has_mac && !e->has_via &&
				  e->dev[0] == '\0',
		      "endpoint");
		CHECK(&r, t->kind == CG_KIND_CORE && t->key_source == CG_KEY_FLOW &&
				  t->key_missing == CG_MISSING_FLOW && t->modulo == CG_DEFAULT_MODULO &&
				  t->flags == 0,
		      "tcp service defaults");
		CHECK(&r, d->flags == CG_SVC_F_UDP_MISS_NEW, "udp service flags %#x", d->flags);
		CHECK(&r, t->n_rules == 1 && t->rules[0].first == 0 && t->rules[0].last == 9999,
		      "rules");
		cg_config_free(&c);
	}
	report("defaults", &r);
}

static void test_no_services(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r, "{'version':1,'encap':{'source4':'198.18.250.0/32'}," ONE_UNIT "}", &c)) {
		CHECK(&r, c.n_services == 0 && !c.services && c.src4_len == 32, "services");
		cg_config_free(&c);
	}
	if (load_good(&r, "{'version':1,'encap':{'source4':'198.18.250.7'}," ONE_UNIT ",'services':[]}",
		      &c)) {
		CHECK(&r, c.src4_len == 32 && c.src4 == htonl(0xc612fa07), "bare address /32");
		cg_config_free(&c);
	}
	report("no_services_and_bare_source", &r);
}

static void test_ipv6(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      "{'version':1,'encap':{'source6':'2001:db8:250::100/120'},'units':["
		      UNIT("v6", "",
			   "{'address':'2001:DB8:0:0::10','via':'2001:db8:ff::1','mtu':1280},"
			   "{'address':'2001:db8::11','mac':'02:AB:cd:00:00:01'}")
		      "],'services':[{'name':'v','vip':'2001:db8:80::1','port':'*','proto':'udp',"
		      "'fragments':'l3','udp_new_flow':'never','flow_table':'full',"
		      "'ratios':{'v6':100}}]}",
		      &c)) {
		const struct cg_cfg_endpoint *e = c.units[0].endpoints;
		const struct cg_cfg_service *s = &c.services[0];

		CHECK(&r, !c.has_src4 && c.has_src6 && c.src6_len == 120 &&
				  addr_is(CG_AF_INET6, c.src6, "2001:db8:250::100"),
		      "source6");
		CHECK(&r, e[0].family == CG_AF_INET6 && addr_is(CG_AF_INET6, e[0].addr, "2001:db8::10"),
		      "endpoint addr");
		/* Canonical text, so the same address always names the same endpoint. */
		CHECK(&r, !strcmp(e[0].address, "2001:db8::10"), "canonical text %s", e[0].address);
		CHECK(&r, e[0].has_via && addr_is(CG_AF_INET6, e[0].via, "2001:db8:ff::1") &&
				  e[0].mtu == 1280,
		      "via/mtu");
		CHECK(&r, e[1].has_mac && e[1].mac[1] == 0xab && e[1].mac[2] == 0xcd &&
				  e[1].mac[5] == 0x01,
		      "mac");
		CHECK(&r, s->family == CG_AF_INET6 && addr_is(CG_AF_INET6, s->vip, "2001:db8:80::1") &&
				  s->port == 0,
		      "vip");
		CHECK(&r, s->flags == (CG_SVC_F_FRAG_L3 | CG_SVC_F_FULL_FLOWS), "flags %#x", s->flags);
		CHECK(&r, s->n_rules == 1 && s->rules[0].last == 9999, "rules");
		cg_config_free(&c);
	}
	report("ipv6_values", &r);
}

static void test_payload_key(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      CFG(UNITS3, SVC_UDP("'key':{'source':'payload','offset':1024,'size':8,"
					  "'missing':'reject'},'modulo':65536," RATIOS) ","
			  SU("u2", "54", "'key':{'source':'payload','size':1},"
					 "'rules':[{'buckets':'0-9999','unit':'dc-b'}]")),
		      &c)) {
		const struct cg_cfg_service *s = &c.services[0], *t = &c.services[1];

		CHECK(&r, s->key_source == CG_KEY_PAYLOAD && s->key_offset == 1024 &&
				  s->key_size == 8 && s->key_missing == CG_MISSING_REJECT &&
				  s->modulo == 65536,
		      "first");
		CHECK(&r, t->key_offset == 0 && t->key_size == 1 && t->key_missing == CG_MISSING_FLOW,
		      "second");
		cg_config_free(&c);
	}
	report("payload_key_values", &r);
}

static void test_rules_sorted(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      CFG(UNITS3, SVC("'modulo':100,'rules':[{'buckets':'60-99','unit':'dc-c'},"
				      "{'buckets':'17','unit':'dc-a'},{'buckets':18,'unit':'dc-b'},"
				      "{'buckets':'0-16','unit':'dc-b'},{'buckets':'19-59','unit':'dc-a'}]")),
		      &c)) {
		static const struct cg_cfg_rule want[] = {
			{ 0, 16, 1 }, { 17, 17, 0 }, { 18, 18, 1 }, { 19, 59, 0 }, { 60, 99, 2 },
		};
		const struct cg_cfg_service *s = &c.services[0];

		CHECK(&r, s->n_rules == 5, "n_rules %d", s->n_rules);
		for (int i = 0; i < 5 && i < s->n_rules; i++)
			CHECK(&r, s->rules[i].first == want[i].first && s->rules[i].last == want[i].last &&
					  s->rules[i].unit == want[i].unit,
			      "rules[%d] = %u-%u unit %d", i, s->rules[i].first, s->rules[i].last,
			      s->rules[i].unit);
		cg_config_free(&c);
	}
	report("rules_sorted_single_and_integer_buckets", &r);
}

/* Exact shares for a few hand-computed cases (largest remainder). */
static void test_ratio_exact(void)
{
	static const struct {
		__u32 modulo;
		int pct[3];
		__u32 want[3]; /* buckets per unit */
	} cases[] = {
		{ 10000, { 34, 33, 33 }, { 3400, 3300, 3300 } },
		{ 10, { 34, 33, 33 }, { 4, 3, 3 } }, /* remainders 40/30/30 */
		{ 10, { 33, 33, 34 }, { 3, 3, 4 } }, /* the largest remainder wins, not the first */
		{ 10, { 35, 35, 30 }, { 4, 3, 3 } }, /* tie 50/50: the earlier unit */
		{ 7, { 34, 33, 33 }, { 3, 2, 2 } },
		{ 3, { 50, 50, 0 }, { 2, 1, 0 } },
		{ 1, { 50, 50, 0 }, { 1, 0, 0 } },
		{ 1, { 0, 1, 99 }, { 0, 0, 1 } },
		{ 100, { 1, 1, 98 }, { 1, 1, 98 } },
		/* 22282.24 / 21626.88 / 21626.88: both .88 round up, a stays down */
		{ 65536, { 34, 33, 33 }, { 22282, 21627, 21627 } },
	};
	struct result r = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[2048];
		struct cg_config c;
		__u32 got[3] = { 0 };

		/* Listed in reverse: the order of "units", not of "ratios", counts. */
		snprintf(json, sizeof(json),
			 CFG(UNITS3, SVC("'modulo':%u,'ratios':{'dc-c':%d,'dc-b':%d,'dc-a':%d}")),
			 cases[i].modulo, cases[i].pct[2], cases[i].pct[1], cases[i].pct[0]);
		if (!load_good(&r, json, &c))
			break;
		for (int k = 0; k < c.services[0].n_rules; k++) {
			const struct cg_cfg_rule *ru = &c.services[0].rules[k];

			got[ru->unit] += ru->last - ru->first + 1;
			if (k > 0)
				CHECK(&r, ru->unit > c.services[0].rules[k - 1].unit,
				      "case %zu: rules not in unit order", i);
		}
		CHECK(&r, !memcmp(got, cases[i].want, sizeof(got)),
		      "case %zu (modulo %u, %d/%d/%d): got %u/%u/%u, want %u/%u/%u", i,
		      cases[i].modulo, cases[i].pct[0], cases[i].pct[1], cases[i].pct[2], got[0],
		      got[1], got[2], cases[i].want[0], cases[i].want[1], cases[i].want[2]);
		cg_config_free(&c);
	}
	report("ratios_exact_shares", &r);
}

/* Every share within one bucket of exact, over many moduli and ratios. */
static void test_ratio_within_one(void)
{
	static const __u32 moduli[] = { 1, 2, 3, 7, 10, 97, 100, 101, 999, 1000, 4096, 9999,
					10000, 12345, 65535, 65536 };
	static const int ratios[][3] = { { 34, 33, 33 }, { 33, 33, 34 }, { 50, 50, 0 }, { 0, 0, 100 },
					 { 1, 1, 98 },	 { 20, 30, 50 }, { 99, 0, 1 },	{ 17, 41, 42 },
					 { 1, 98, 1 },	 { 33, 34, 33 } };
	struct result r = { 0 };

	for (size_t m = 0; m < sizeof(moduli) / sizeof(moduli[0]); m++) {
		for (size_t k = 0; k < sizeof(ratios) / sizeof(ratios[0]); k++) {
			const int *pct = ratios[k];
			char json[2048];
			struct cg_config c;
			__u32 got[3] = { 0 };

			snprintf(json, sizeof(json),
				 CFG(UNITS3, SVC("'modulo':%u,'ratios':{'dc-a':%d,'dc-b':%d,'dc-c':%d}")),
				 moduli[m], pct[0], pct[1], pct[2]);
			if (!load_good(&r, json, &c))
				goto out;
			for (int i = 0; i < c.services[0].n_rules; i++) {
				const struct cg_cfg_rule *ru = &c.services[0].rules[i];

				got[ru->unit] += ru->last - ru->first + 1;
			}
			for (int u = 0; u < 3; u++) {
				double exact = (double)moduli[m] * pct[u] / 100.0;

				CHECK(&r, fabs(got[u] - exact) < 1.0,
				      "modulo %u, %d/%d/%d: unit %d has %u buckets, exact %.2f",
				      moduli[m], pct[0], pct[1], pct[2], u, got[u], exact);
				CHECK(&r, pct[u] || !got[u], "0%% unit got buckets");
			}
			cg_config_free(&c);
		}
	}
out:
	report("ratios_within_one_bucket_160_combinations", &r);
}

static void test_canary(void)
{
	static const struct {
		const char *percent;
		__u32 bp;
	} cases[] = { { "5", 500 },	 { "2.5", 250 },   { "0.01", 1 },   { "12.34", 1234 },
		      { "0", 0 },	 { "100", 10000 }, { "99.99", 9999 }, { "1e1", 1000 },
		      { "0.29", 29 }, { "100.0", 10000 } };
	struct result r = { 0 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char json[2048];
		struct cg_config c;

		snprintf(json, sizeof(json),
			 "{'version':1,'local_unit':'dc-c'," ENCAP UNITS3 ",'services':["
			 SVCR("'canary':{'unit':'dc-c','percent':%s},") ","
			 SV("g", "81", "'kind':'global'") "," SV("sh", "82", "'kind':'shared'") ","
			 SV("plain", "83", RATIOS) "]}",
			 cases[i].percent);
		if (!load_good(&r, json, &c))
			break;
		CHECK(&r, c.services[0].canary_unit == 2 && c.services[0].canary_bp == cases[i].bp,
		      "percent %s: unit %d, %u bp, want 2, %u", cases[i].percent,
		      c.services[0].canary_unit, c.services[0].canary_bp, cases[i].bp);
		/* absent: -1 on every other service, core or not */
		for (int k = 1; k < c.n_services; k++)
			CHECK(&r, c.services[k].canary_unit == -1 && c.services[k].canary_bp == 0,
			      "services[%d] canary %d", k, c.services[k].canary_unit);
		cg_config_free(&c);
	}
	report("canary_percent_to_basis_points_and_absent_is_minus_one", &r);
}

static void test_pins(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      CFG(UNITS3,
			  SVCR("'pins':[{'prefix':'198.18.0.0/24','unit':'dc-b'},"
			       "{'prefix':'198.18.0.0/16','unit':'dc-c'},"
			       "{'unit':'dc-a','prefix':'198.18.9.7'},"
			       "{'prefix':'0.0.0.0/0','unit':'dc-a'}],") ","
			  "{'name':'v6','vip':'2001:db8:80::1','port':80,'proto':'tcp',"
			  "'pins':[{'prefix':'2001:DB8:5:0::/48','unit':'dc-c'},"
			  "{'prefix':'2001:db8:5::1','unit':'dc-b'}]," RATIOS "},"
			  SV("t", "81", "'pins':[{'prefix':'198.18.0.0/24','unit':'dc-a'}]," RATIOS) ","
			  SV("e", "82", "'pins':[]," RATIOS)),
		      &c)) {
		const struct cg_cfg_service *s = &c.services[0], *v = &c.services[1];

		CHECK(&r, s->n_pins == 4, "n_pins %d", s->n_pins);
		if (s->n_pins == 4) {
			CHECK(&r, s->pins[0].family == CG_AF_INET && s->pins[0].prefix_len == 24 &&
					  addr_is(CG_AF_INET, s->pins[0].addr, "198.18.0.0") &&
					  s->pins[0].unit == 1,
			      "pins[0]");
			CHECK(&r, s->pins[1].prefix_len == 16 && s->pins[1].unit == 2, "nested pins[1]");
			CHECK(&r, s->pins[2].prefix_len == 32 &&
					  addr_is(CG_AF_INET, s->pins[2].addr, "198.18.9.7") &&
					  s->pins[2].unit == 0,
			      "bare address is /32");
			CHECK(&r, s->pins[3].prefix_len == 0 && !s->pins[3].addr[0], "/0");
		}
		CHECK(&r, v->n_pins == 2 && v->pins[0].family == CG_AF_INET6 &&
				  v->pins[0].prefix_len == 48 &&
				  addr_is(CG_AF_INET6, v->pins[0].addr, "2001:db8:5::") &&
				  v->pins[1].prefix_len == 128 &&
				  addr_is(CG_AF_INET6, v->pins[1].addr, "2001:db8:5::1"),
		      "IPv6 pins");
		/* the same prefix in another service is another pin */
		CHECK(&r, c.services[2].n_pins == 1 && c.services[2].pins[0].unit == 0, "service t");
		CHECK(&r, c.services[3].n_pins == 0 && !c.services[3].pins, "empty list");
		cg_config_free(&c);
	}
	report("pins_values_bare_nested_ipv6_and_per_service", &r);
}

/* CG_MAX_PINS per family for all services together; more is refused. */
static char *gen_pins(int n_services, int per_service, bool v6_too)
{
	size_t cap = (size_t)n_services * per_service * (v6_too ? 120 : 60) + 4096, o;
	char *t = malloc(cap);
	int pin = 0;

	o = snprintf(t, cap,
		     "{\"version\":1,\"encap\":{\"source4\":\"198.18.250.0/24\"},\"units\":[{\"name\":\"a\","
		     "\"endpoints\":[{\"address\":\"198.18.1.10\"}]}],\"services\":[");
	for (int s = 0; s < n_services * (v6_too ? 2 : 1); s++) {
		bool six = s >= n_services;

		o += snprintf(t + o, cap - o,
			      "%s{\"name\":\"s%d\",\"vip\":\"%s%d\",\"port\":80,\"proto\":\"tcp\","
			      "\"rules\":[{\"buckets\":\"0-9999\",\"unit\":\"a\"}],\"pins\":[",
			      s ? "," : "", s, six ? "2001:db8:80::" : "198.19.0.", s + 1);
		for (int k = 0; k < per_service; k++, pin++)
			if (six)
				o += snprintf(t + o, cap - o,
					      "%s{\"prefix\":\"2001:db8:%x:%x::/64\",\"unit\":\"a\"}",
					      k ? "," : "", pin >> 16, pin & 0xffff);
			else
				o += snprintf(t + o, cap - o,
					      "%s{\"prefix\":\"198.%d.%d.%d\",\"unit\":\"a\"}",
					      k ? "," : "", 18 + (pin >> 16), (pin >> 8) & 0xff, pin & 0xff);
		o += snprintf(t + o, cap - o, "]}");
	}
	snprintf(t + o, cap - o, "]}");
	return t;
}

static void test_pin_limits(void)
{
	static const struct {
		const char *name;
		int services, per;
		bool v6;
		const char *want; /* NULL: accepted */
	} cases[] = {
		{ "pins_16384_per_family_accepted", 2, CG_MAX_PINS / 2, true, NULL },
		{ "pins_one_list_too_long", 1, CG_MAX_PINS + 1, false,
		  "services[0].pins: 16385 pins, at most 16384 (CG_MAX_PINS)" },
		{ "pins_all_services_too_many", 3, 6000, false,
		  "services[2].pins: IPv4 pins of all services add up to 18000, at most 16384 (CG_MAX_PINS); this list passes the limit" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_errors errs = { 0 };
		struct result r = { 0 };
		char *text = gen_pins(cases[i].services, cases[i].per, cases[i].v6);
		struct cg_config c;
		int ret = cg_config_load_string(text, &c, &errs);

		if (!cases[i].want) {
			CHECK(&r, ret == 0, "rejected: %s", errs.n ? errs.msgs[0] : "?");
			if (ret == 0) {
				check_invariants(&r, &c);
				CHECK(&r, c.services[0].n_pins == cases[i].per, "n_pins %d",
				      c.services[0].n_pins);
				cg_config_free(&c);
			}
		} else {
			CHECK(&r, ret == -1 && cfg_is_empty(&c), "accepted");
			CHECK(&r, errs.n == 1 && errs_have(&errs, cases[i].want), "got %d: %s", errs.n,
			      errs.n ? errs.msgs[0] : "no message");
		}
		free(text);
		cg_errors_free(&errs);
		report(cases[i].name, &r);
	}
}

static void test_seed_bounds(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r, "{'version':1,'seed':4294967295," ENCAP ONE_UNIT "}", &c)) {
		CHECK(&r, c.seed == 4294967295u, "max seed");
		cg_config_free(&c);
	}
	if (load_good(&r, "{'version':1,'seed':0," ENCAP ONE_UNIT "}", &c)) {
		CHECK(&r, c.seed == 0, "zero seed");
		cg_config_free(&c);
	}
	report("seed_bounds", &r);
}

static void test_names(void)
{
	struct result r = { 0 };
	struct cg_config c;

	/* 31 characters, every allowed class. */
	if (load_good(&r,
		      V4 "'units':[" UNIT("Az09._-aaaaaaaaaaaaaaaaaaaaaaaa", "", EP("198.18.1.10")) ","
			 UNIT("9", "", EP("198.18.1.10")) "]}",
		      &c)) {
		CHECK(&r, strlen(c.units[0].name) == CG_NAME_LEN - 1, "not a 31-character name");
		CHECK(&r, cg_config_unit_index(&c, "Az09._-aaaaaaaaaaaaaaaaaaaaaaaa") == 0, "long");
		CHECK(&r, cg_config_unit_index(&c, "9") == 1, "digit");
		CHECK(&r, cg_config_unit_index(&c, "nope") == -1, "unknown");
		CHECK(&r, cg_config_unit_index(&c, NULL) == -1 && cg_config_unit_index(NULL, "9") == -1,
		      "NULL");
		cg_config_free(&c);
	}
	report("names_and_unit_index", &r);
}

/* A standby listed after its unit, and two units naming each other. */
static void test_standby_forward(void)
{
	struct result r = { 0 };
	struct cg_config c;

	if (load_good(&r,
		      V4 "'units':[" UNIT("a", "'standby':'b',", EP("198.18.1.10")) ","
			 UNIT("b", "'standby':'a',", EP("198.18.2.10")) "]}",
		      &c)) {
		CHECK(&r, c.units[0].standby == 1 && c.units[1].standby == 0, "standbys");
		cg_config_free(&c);
	}
	report("standby_forward_reference", &r);
}

static void test_stdin(void)
{
	struct cg_errors errs = { 0 };
	struct result r = { 0 };
	char tmpl[] = "/tmp/cg_test_config_XXXXXX";
	struct cg_config c;
	int fd = mkstemp(tmpl);
	char *text = dq(CFG(UNITS3, SVCR("")));
	int saved = dup(0);

	if (fd < 0 || saved < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		failf(&r, "temp file");
		goto out;
	}
	lseek(fd, 0, SEEK_SET);
	dup2(fd, 0);
	clearerr(stdin);
	if (cg_config_load_file("-", &c, &errs)) {
		failf(&r, "stdin rejected: %s", errs.n ? errs.msgs[0] : "?");
	} else {
		CHECK(&r, c.n_units == 3 && c.n_services == 1, "content");
		cg_config_free(&c);
	}
	dup2(saved, 0);
	clearerr(stdin);
out:
	if (fd >= 0)
		close(fd);
	if (saved >= 0)
		close(saved);
	unlink(tmpl);
	free(text);
	cg_errors_free(&errs);
	report("load_from_stdin", &r);
}

static void test_file_errors(void)
{
	static const char bad_file[] = "{\n  \"version\": 1,\n  \"units\": [,]\n}\n";
	struct cg_errors errs = { 0 };
	struct result r = { 0 };
	char tmpl[] = "/tmp/cg_test_config_XXXXXX";
	struct cg_config c;
	int fd;

	CHECK(&r, cg_config_load_file("/nonexistent/cellgate.json", &c, &errs) == -1 &&
			  errs.n == 1 &&
			  errs_have(&errs, "/nonexistent/cellgate.json: cannot open: No such file"),
	      "missing file: %s", errs.n ? errs.msgs[0] : "no message");
	CHECK(&r, cfg_is_empty(&c), "cfg not empty");
	cg_errors_free(&errs);

	CHECK(&r, cg_config_load_file("/tmp", &c, &errs) == -1 && errs.n == 1 &&
			  errs_have(&errs, "/tmp: is a directory"),
	      "directory: %s", errs.n ? errs.msgs[0] : "no message");
	cg_errors_free(&errs);

	fd = mkstemp(tmpl);
	if (fd < 0 || write(fd, bad_file, strlen(bad_file)) != (ssize_t)strlen(bad_file)) {
		failf(&r, "temp file");
	} else {
		char want[128];

		snprintf(want, sizeof(want), "%s: line 3, column ", tmpl);
		CHECK(&r, cg_config_load_file(tmpl, &c, &errs) == -1 && errs.n == 1 &&
				  errs_have(&errs, want),
		      "syntax error in a file: %s", errs.n ? errs.msgs[0] : "no message");
		cg_errors_free(&errs);
	}
	if (fd >= 0)
		close(fd);
	unlink(tmpl);

	CHECK(&r, cg_config_load_string(NULL, &c, &errs) == -1 && errs.n == 1, "NULL text");
	cg_errors_free(&errs);
	CHECK(&r, cg_config_load_file(NULL, &c, &errs) == -1 && errs.n == 1, "NULL path");
	cg_errors_free(&errs);
	report("file_errors", &r);
}

/* Errors are appended to what the caller already has; NULL errs still fails. */
static void test_errors_api(void)
{
	struct cg_errors errs = { 0 };
	struct result r = { 0 };
	struct cg_config c;

	cg_errors_add(&errs, "earlier %d", 1);
	CHECK(&r, load_q("{'version':1,'units':[]}", &c, &errs) == -1, "accepted");
	CHECK(&r, errs.n == 2 && !strcmp(errs.msgs[0], "earlier 1"), "not appended");
	cg_errors_free(&errs);
	CHECK(&r, errs.n == 0 && !errs.msgs, "free did not reset");
	cg_errors_free(&errs); /* twice is fine */

	CHECK(&r, load_q("{'version':1,'units':[]}", &c, NULL) == -1 && cfg_is_empty(&c),
	      "NULL errs: bad config accepted");
	CHECK(&r, load_q(CFG(UNITS3, SVCR("")), &c, NULL) == 0, "NULL errs: good config refused");
	cg_config_free(&c);
	cg_config_free(&c); /* freeing a freed config is harmless */
	cg_errors_add(NULL, "nothing");

	for (int i = 0; i < 100; i++)
		cg_errors_add(&errs, "message %d", i);
	CHECK(&r, errs.n == 100 && !strcmp(errs.msgs[99], "message 99"), "growth");
	cg_errors_free(&errs);
	report("errors_api", &r);
}

/* ------------------------------------------------------------------------
 * Limits, generated with jansson
 */

static char *gen_config(int n_units, int eps_per_unit, int n_services)
{
	json_t *root = json_pack("{s:i, s:{s:s}}", "version", 1, "encap", "source4",
				 "198.18.250.0/24");
	json_t *units = json_array(), *services = json_array();
	char *text;

	for (int u = 0; u < n_units; u++) {
		json_t *eps = json_array();
		char name[32];

		for (int e = 0; e < eps_per_unit; e++) {
			char a[32];

			snprintf(a, sizeof(a), "198.18.%d.%d", u % 256, e % 250 + 1 + u / 256);
			json_array_append_new(eps, json_pack("{s:s}", "address", a));
		}
		snprintf(name, sizeof(name), "u%d", u);
		json_array_append_new(units, json_pack("{s:s, s:o}", "name", name, "endpoints", eps));
	}
	for (int s = 0; s < n_services; s++) {
		char name[32], vip[32];

		snprintf(name, sizeof(name), "s%d", s);
		snprintf(vip, sizeof(vip), "198.19.%d.%d", s / 256, s % 256);
		json_array_append_new(services,
				      json_pack("{s:s, s:s, s:i, s:s, s:{s:i}}", "name", name, "vip",
						vip, "port", 80, "proto", "tcp", "ratios", "u0", 100));
	}
	json_object_set_new(root, "units", units);
	json_object_set_new(root, "services", services);
	text = json_dumps(root, JSON_COMPACT);
	json_decref(root);
	return text;
}

static void test_limits(void)
{
	static const struct {
		const char *name;
		int units, eps, services;
		const char *want; /* NULL: must be accepted */
	} cases[] = {
		{ "limits_at_maximum_256_units_4096_endpoints_1024_services", CG_MAX_UNITS,
		  CG_MAX_ENDPOINTS / CG_MAX_UNITS, CG_MAX_SERVICES, NULL },
		{ "limits_257_units", CG_MAX_UNITS + 1, 1, 1, "units: 257 units, at most 256" },
		{ "limits_4097_endpoints", 2, CG_MAX_ENDPOINTS / 2 + 1, 1,
		  "units: 4098 endpoints in total, at most 4096" },
		{ "limits_1025_services", 1, 1, CG_MAX_SERVICES + 1,
		  "services: 1025 services, at most 1024" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cg_errors errs = { 0 };
		struct result r = { 0 };
		char *text = gen_config(cases[i].units, cases[i].eps, cases[i].services);
		struct cg_config c;
		int ret = cg_config_load_string(text, &c, &errs);

		if (!cases[i].want) {
			CHECK(&r, ret == 0, "rejected: %s", errs.n ? errs.msgs[0] : "?");
			if (ret == 0) {
				check_invariants(&r, &c);
				cg_config_free(&c);
			}
		} else {
			CHECK(&r, ret == -1 && cfg_is_empty(&c), "accepted");
			CHECK(&r, errs.n == 1 && errs_have(&errs, cases[i].want), "got %d: %s", errs.n,
			      errs.n ? errs.msgs[0] : "no message");
		}
		free(text);
		cg_errors_free(&errs);
		report(cases[i].name, &r);
	}
}

/* ------------------------------------------------------------------------
 * Bad configurations: every expected message (path included) must appear.
 */

struct bad_case {
	const char *name;
	const char *json; /* single quotes stand for double quotes */
	int n_errors; /* exact number expected; 0 = any */
	const char *want[8];
};

static const struct bad_case bad_cases[] = {
	/* The brief's own examples. */
	{ "rule_range_empty",
	  CFG(UNITS3, SVCR("") "," SV("t", "81", RATIOS) "," SV("x", "82", "'rules':[{'buckets':'5000-4000','unit':'dc-a'},{'buckets':'0-9999','unit':'dc-a'}]")),
	  1,
	  { "services[2].rules[0]: range 5000-4000 is empty" } },
	{ "endpoint_address_invalid",
	  CFG("'units':[" UNIT("dc-a", "", EP("198.18.1.10")) "," UNIT("dc-b", "", EP("198.18.1.300")) "]",
	      ""),
	  1,
	  { "units[1].endpoints[0].address: \"198.18.1.300\" is not an IPv4 or IPv6 address" } },
	{ "ratios_sum_90", CFG(UNITS3, SVC("'ratios':{'dc-a':30,'dc-b':30,'dc-c':30}")), 1,
	  { "services[0].ratios: sum to 90, must be 100" } },
	{ "unknown_key_typo_with_hint",
	  CFG("'units':[{'name':'a','endpont':[],'endpoints':[" EP("198.18.1.10") "]}]", ""), 1,
	  { "units[0]: unknown key \"endpont\" (did you mean \"endpoints\"?)" } },
	{ "rules_gap",
	  CFG(UNITS3, SVC("'rules':[{'buckets':'0-4999','unit':'dc-a'}]")), 1,
	  { "services[0].rules: buckets 5000-9999 are not assigned" } },

	/* Top level and version. */
	{ "version_2_only_that_error",
	  "{'version':2,'units':'whatever','services':{},'encap':7,'new_in_v2':true}", 1,
	  { "version: 2 is not supported; this cellgate reads version 1" } },
	{ "version_missing", "{" ENCAP ONE_UNIT "}", 1,
	  { "version: missing; this file format needs \"version\": 1" } },
	{ "version_string", "{'version':'1'," ENCAP ONE_UNIT "}", 1,
	  { "version: must be the integer 1, not a string" } },
	{ "top_level_array", "[1,2]", 1, { "top level: must be an object, not an array" } },
	{ "top_level_unknown_key_hint", "{'version':1," ENCAP ONE_UNIT ",'servces':[]}", 1,
	  { "top level: unknown key \"servces\" (did you mean \"services\"?)" } },
	{ "seed_negative", "{'version':1,'seed':-1," ENCAP ONE_UNIT "}", 1,
	  { "seed: -1 is out of range 0..4294967295" } },
	{ "seed_too_big", "{'version':1,'seed':4294967296," ENCAP ONE_UNIT "}", 1,
	  { "seed: 4294967296 is out of range 0..4294967295" } },
	{ "seed_fraction", "{'version':1,'seed':1.5," ENCAP ONE_UNIT "}", 1,
	  { "seed: must be an integer 0..4294967295, not a number with a fraction or exponent" } },
	{ "integer_beyond_64_bits", "{'version':1,'seed':99999999999999999999," ENCAP ONE_UNIT "}",
	  1, { "line 1, column ", "too big" } },
	{ "syntax_error_line_column", "{'version':1,\n'units':[\n  {'name':'a',}\n]}", 1,
	  { "line 3, column " } },
	{ "duplicate_key_refused", "{'version':1,'version':1}", 1, { "duplicate" } },
	{ "units_missing", "{'version':1," ENCAP "'services':[" SVCR("") "]}", 1,
	  { "units: missing; at least one unit is required" } },
	{ "units_empty", "{'version':1," ENCAP "'units':[]}", 1,
	  { "units: must list at least one unit" } },
	{ "units_wrong_type_no_cascade",
	  "{'version':1," ENCAP "'units':{},'local_unit':'x','services':[" SVCR("") "]}", 1,
	  { "units: must be an array of units, not an object" } },

	/* Units. */
	{ "unit_name_too_long",
	  CFG("'units':[" UNIT("abcdefghijabcdefghijabcdefghijab", "", EP("198.18.1.10")) "]", ""),
	  1, { "units[0].name: \"abcdefghijabcdefghijabcdefghijab\" is too long (32 characters, at most 31)" } },
	{ "unit_name_charset", CFG("'units':[" UNIT("dc a", "", EP("198.18.1.10")) "]", ""), 1,
	  { "units[0].name: \"dc a\" has a character other than A-Z a-z 0-9 . _ -" } },
	{ "unit_name_leading_dash", CFG("'units':[" UNIT("-dc", "", EP("198.18.1.10")) "]", ""), 1,
	  { "units[0].name: \"-dc\" must start with a letter or a digit" } },
	{ "unit_name_missing_and_empty",
	  CFG("'units':[{'endpoints':[" EP("198.18.1.10") "]},{'name':'','endpoints':[" EP(
		      "198.18.1.11") "]}]",
	      ""),
	  2, { "units[0].name: missing", "units[1].name: must not be empty" } },
	{ "unit_name_duplicate",
	  CFG("'units':[" UNIT("a", "", EP("198.18.1.10")) "," UNIT("a", "", EP("198.18.1.11")) "]",
	      ""),
	  1, { "units[1].name: \"a\" is already the name of units[0]" } },
	{ "two_central_units",
	  CFG("'units':[" UNIT("a", "'role':'central',", EP("198.18.1.10")) "," UNIT(
		      "b", "'role':'central',", EP("198.18.1.11")) "]",
	      ""),
	  1, { "units[1].role: only one unit may be central, and units[0] already is" } },
	{ "role_unknown", CFG("'units':[" UNIT("a", "'role':'centrall',", EP("198.18.1.10")) "]", ""),
	  1, { "units[0].role: unknown value \"centrall\" (expected \"normal\" or \"central\")" } },
	{ "standby_unknown", CFG("'units':[" UNIT("a", "'standby':'zz',", EP("198.18.1.10")) "]", ""),
	  1, { "units[0].standby: unknown unit \"zz\"" } },
	{ "standby_self", CFG("'units':[" UNIT("a", "'standby':'a',", EP("198.18.1.10")) "]", ""), 1,
	  { "units[0].standby: a unit cannot be its own standby" } },
	{ "unit_weight_zero_and_string",
	  CFG("'units':[" UNIT("a", "'weight':0,", EP("198.18.1.10")) "," UNIT(
		      "b", "'weight':'1',", EP("198.18.1.11")) "]",
	      ""),
	  2,
	  { "units[0].weight: 0 is out of range 1..1000000",
	    "units[1].weight: must be an integer 1..1000000, not a string" } },
	{ "endpoints_missing_empty_wrong",
	  CFG("'units':[{'name':'a'},{'name':'b','endpoints':[]},{'name':'c','endpoints':{}}]", ""),
	  3,
	  { "units[0].endpoints: missing; a unit needs at least one endpoint",
	    "units[1].endpoints: must list at least one endpoint",
	    "units[2].endpoints: must be an array of endpoints, not an object" } },
	{ "endpoint_duplicate_address_other_spelling",
	  CFG("'units':[" UNIT("a", "", "{'address':'2001:db8::1'},{'address':'2001:DB8:0::1'}") "]",
	      ""),
	  1, { "units[0].endpoints[1].address: 2001:db8::1 is already the address of units[0].endpoints[0]" } },
	{ "endpoint_address_missing_and_null",
	  CFG("'units':[" UNIT("a", "", "{'dev':'eth0'},{'address':null}") "]", ""), 2,
	  { "units[0].endpoints[0].address: missing",
	    "units[0].endpoints[1].address: must be an IPv4 or IPv6 address string, not null" } },
	{ "endpoint_address_unusable",
	  CFG("'units':[" UNIT("a", "",
			       EP("0.0.0.0") "," EP("127.0.0.1") "," EP("224.0.0.1") "," EP(
				       "255.255.255.255") "," EP("::") "," EP("::1") "," EP("ff02::1") "," EP("::ffff:198.18.1.1")) "]",
	      ""),
	  8,
	  { "units[0].endpoints[0].address: \"0.0.0.0\" is the unspecified address",
	    "units[0].endpoints[1].address: \"127.0.0.1\" is a loopback address",
	    "units[0].endpoints[2].address: \"224.0.0.1\" is a multicast address",
	    "units[0].endpoints[3].address: \"255.255.255.255\" is the broadcast address",
	    "units[0].endpoints[7].address: \"::ffff:198.18.1.1\" is an IPv4-mapped address" } },
	{ "endpoint_address_with_prefix_or_zone",
	  CFG("'units':[" UNIT("a", "", EP("198.18.1.1/32") "," EP("fe80::1%eth0")) "]", ""), 2,
	  { "units[0].endpoints[0].address: \"198.18.1.1/32\" is not an IPv4 or IPv6 address",
	    "units[0].endpoints[1].address: \"fe80::1%eth0\" is not an IPv4 or IPv6 address" } },
	{ "endpoint_unknown_key",
	  CFG("'units':[" UNIT("a", "", "{'address':'198.18.1.10','wieght':2}") "]", ""), 1,
	  { "units[0].endpoints[0]: unknown key \"wieght\" (did you mean \"weight\"?)" } },
	{ "endpoint_mac_bad",
	  CFG("'units':[" UNIT("a", "",
			       "{'address':'198.18.1.10','mac':'02:00:00:00:00'},"
			       "{'address':'198.18.1.11','mac':'02-00-00-00-00-01'},"
			       "{'address':'198.18.1.12','mac':'ff:ff:ff:ff:ff:ff'},"
			       "{'address':'198.18.1.13','mac':'00:00:00:00:00:00'},"
			       "{'address':'198.18.1.14','mac':'0g:00:00:00:00:01'}") "]",
	      ""),
	  5,
	  { "units[0].endpoints[0].mac: \"02:00:00:00:00\" is not a MAC address",
	    "units[0].endpoints[1].mac: \"02-00-00-00-00-01\" is not a MAC address",
	    "units[0].endpoints[2].mac: \"ff:ff:ff:ff:ff:ff\" is a multicast or broadcast address",
	    "units[0].endpoints[3].mac: \"00:00:00:00:00:00\" is the all-zero address",
	    "units[0].endpoints[4].mac: \"0g:00:00:00:00:01\" is not a MAC address" } },
	{ "endpoint_via_other_family",
	  CFG("'units':[" UNIT("a", "", "{'address':'198.18.1.10','via':'2001:db8::1'}") "]", ""), 1,
	  { "units[0].endpoints[0].via: \"2001:db8::1\" is IPv6 but the address is IPv4; the next hop must be of the same family" } },
	{ "endpoint_mtu_bounds",
	  CFG("'units':[" UNIT("a", "",
			       "{'address':'198.18.1.10','mtu':575},{'address':'198.18.1.11','mtu':65536},"
			       "{'address':'2001:db8::1','mtu':1279},{'address':'198.18.1.12','mtu':576}") "]",
	      ""),
	  3,
	  { "units[0].endpoints[0].mtu: 575 is out of range 576..65535",
	    "units[0].endpoints[1].mtu: 65536 is out of range 576..65535",
	    "units[0].endpoints[2].mtu: 1279 is below 1280, the minimum MTU of an IPv6 link" } },
	{ "endpoint_dev_bad",
	  CFG("'units':[" UNIT("a", "",
			       "{'address':'198.18.1.10','dev':'abcdefghijklmnop'},"
			       "{'address':'198.18.1.11','dev':'eth0:1'},"
			       "{'address':'198.18.1.12','dev':''},"
			       "{'address':'198.18.1.13','dev':'..'},"
			       "{'address':'198.18.1.14','dev':'abcdefghijklmno'}") "]",
	      ""),
	  4,
	  { "units[0].endpoints[0].dev: \"abcdefghijklmnop\" is too long for an interface name (at most 15 characters)",
	    "units[0].endpoints[1].dev: \"eth0:1\" is not a valid interface name",
	    "units[0].endpoints[2].dev: must not be empty",
	    "units[0].endpoints[3].dev: \"..\" is not a valid interface name" } },
	{ "endpoint_weight_bounds",
	  CFG("'units':[" UNIT("a", "", "{'address':'198.18.1.10','weight':-5},{'address':'198.18.1.11','weight':1000001}") "]",
	      ""),
	  2,
	  { "units[0].endpoints[0].weight: -5 is out of range 1..1000000",
	    "units[0].endpoints[1].weight: 1000001 is out of range 1..1000000" } },

	/* Encapsulation. */
	{ "encap_source4_needed",
	  "{'version':1,'encap':{'source6':'2001:db8:250::/112'}," UNITS3 "}", 1,
	  { "encap.source4: missing; units[0].endpoints[0] (198.18.1.10) is IPv4 and needs an outer IPv4 source prefix" } },
	{ "encap_source6_needed_no_encap",
	  "{'version':1,'units':[" UNIT("a", "", EP("198.18.1.10")) "," UNIT("b", "", EP("2001:db8:2::1")) "]}",
	  2,
	  { "encap.source4: missing; units[0].endpoints[0] (198.18.1.10) is IPv4",
	    "encap.source6: missing; units[1].endpoints[0] (2001:db8:2::1) is IPv6" } },
	{ "encap_prefix_errors",
	  "{'version':1,'encap':{'source4':'198.18.250.0/33','source6':'2001:db8:250::/64'}," UNITS3 "}",
	  2,
	  { "encap.source4: prefix length 33 is out of range 0..32",
	    "encap.source6: prefix length 64 is out of range 96..128 (only the last 32 bits of the outer IPv6 source vary)" } },
	{ "encap_host_bits_and_family",
	  "{'version':1,'encap':{'source4':'198.18.250.1/24','source6':'198.18.0.0/24'}," UNITS3 "}",
	  2,
	  { "encap.source4: \"198.18.250.1/24\" has host bits set (did you mean \"198.18.250.0/24\"?)",
	    "encap.source6: \"198.18.0.0/24\" is an IPv4 prefix; this key takes IPv6" } },
	{ "encap_not_prefix_and_unknown_key",
	  "{'version':1,'encap':{'source4':'198.18.250.0/','source':'x'}," UNITS3 "}", 2,
	  { "encap.source4: \"198.18.250.0/\" is not an IPv4 prefix like \"198.18.250.0/24\"",
	    "encap: unknown key \"source\"" } },
	{ "encap_v6_host_bits",
	  "{'version':1,'encap':{'source4':'198.18.250.0/24','source6':'2001:db8:250::1:0/96'}," UNITS3 "}",
	  1,
	  { "encap.source6: \"2001:db8:250::1:0/96\" has host bits set (did you mean \"2001:db8:250::/96\"?)" } },
	{ "local_unit_unknown",
	  "{'version':1," ENCAP "'local_unit':'dc-z'," UNITS3 ",'services':[{'name':'r','vip':'198.19.0.5','port':80,'proto':'tcp','kind':'shared'}]}",
	  1, { "local_unit: unknown unit \"dc-z\"" } },

	/* Services. */
	{ "service_name_duplicate",
	  CFG(UNITS3, SVCR("") "," SV("s", "81", RATIOS)), 1,
	  { "services[1].name: \"s\" is already the name of services[0]" } },
	{ "vip_leading_zero_refused",
	  CFG(UNITS3, SVCR("") ",{'name':'t','vip':'198.19.0.001','port':80,'proto':'tcp'," RATIOS "}"),
	  1, { "services[1].vip: \"198.19.0.001\" is not an IPv4 or IPv6 address" } },
	{ "service_vip_port_proto_duplicate",
	  CFG(UNITS3, SV("s", "'*'", RATIOS) "," SV("t", "'*'", RATIOS) "," SU("w", "'*'", RATIOS)
			      ",{'name':'x','vip':'198.19.0.1','port':'*','proto':'udp'," RATIOS "}"),
	  1,
	  { "services[1]: same VIP, port and protocol as services[0] (198.19.0.1 tcp every port)" } },
	/* (w is 198.19.0.2, x the UDP twin of s: neither is a duplicate.) */
	{ "service_vip_duplicate_v6",
	  CFG(UNITS3, "{'name':'s','vip':'2001:db8::80','port':80,'proto':'tcp'," RATIOS "},"
		      "{'name':'t','vip':'2001:DB8:0::80','port':80,'proto':'tcp'," RATIOS "}"),
	  1,
	  { "services[1]: same VIP, port and protocol as services[0] (2001:db8::80 tcp port 80)" } },
	{ "service_required_members",
	  CFG(UNITS3, "{" RATIOS "}"), 4,
	  { "services[0].name: missing", "services[0].vip: missing", "services[0].port: missing",
	    "services[0].proto: missing (\"tcp\" or \"udp\")" } },
	{ "service_port_bad",
	  CFG(UNITS3, SV("s", "0", RATIOS) "," SV("b", "65536", RATIOS) "," SV("c", "'80'", RATIOS) "," SV(
			      "d", "[80]", RATIOS)),
	  4,
	  { "services[0].port: 0 is not a port; write \"*\" for every port of the VIP",
	    "services[1].port: 65536 is out of range 1..65535",
	    "services[2].port: \"80\" is not a port; write the number without quotes",
	    "services[3].port: must be a port 1..65535 or \"*\", not an array" } },
	{ "service_proto_kind_unknown",
	  CFG(UNITS3, "{'name':'s','vip':'198.19.0.1','port':80,'proto':'sctp'," RATIOS "}," SV(
			      "b", "81", "'kind':'gold'")),
	  2,
	  { "services[0].proto: unknown value \"sctp\" (expected \"tcp\" or \"udp\")",
	    "services[1].kind: unknown value \"gold\" (expected \"core\", \"global\" or \"shared\")" } },
	{ "service_vip_bad",
	  CFG(UNITS3, "{'name':'s','vip':'198.19.0.256','port':80,'proto':'tcp'," RATIOS "},"
		      "{'name':'b','vip':'239.1.1.1','port':80,'proto':'tcp'," RATIOS "}"),
	  2,
	  { "services[0].vip: \"198.19.0.256\" is not an IPv4 or IPv6 address",
	    "services[1].vip: \"239.1.1.1\" is a multicast address" } },
	{ "global_without_central",
	  CFG(UNITS3_NC, SVC("'kind':'global'")), 1,
	  { "services[0].kind: a global service needs a central unit (give one unit \"role\": \"central\")" } },
	{ "shared_without_central_and_local",
	  CFG(UNITS3_NC, SVC("'kind':'shared'")), 2,
	  { "services[0].kind: a shared service needs a central unit",
	    "services[0].kind: a shared service needs \"local_unit\"" } },
	{ "global_with_core_members",
	  CFG(UNITS3, SVC("'kind':'global','modulo':100,'key':{'source':'client'}," RATIOS)), 3,
	  { "services[0].ratios: not allowed: a global service is always served by the central unit",
	    "services[0].modulo: not allowed", "services[0].key: not allowed" } },
	{ "shared_with_rules",
	  "{'version':1," ENCAP "'local_unit':'dc-b'," UNITS3 ",'services':[" SVC("'kind':'shared','rules':[]") "]}",
	  1,
	  { "services[0].rules: not allowed: a shared service is served by the local unit (reads) and the central unit (writes)" } },
	{ "core_rules_and_ratios_both_or_neither",
	  CFG(UNITS3, SVC("'rules':[{'buckets':'0-9999','unit':'dc-a'}]," RATIOS) "," SV("b", "81", "'modulo':10")),
	  2,
	  { "services[0]: has both \"rules\" and \"ratios\"; give exactly one",
	    "services[1]: a core service needs \"rules\" or \"ratios\"" } },
	{ "key_missing_central_without_central_unit",
	  CFG(UNITS3_NC, SVC_UDP("'key':{'source':'payload','size':4,'missing':'central'}," RATIOS)), 1,
	  { "services[0].key.missing: \"central\" needs a central unit" } },
	{ "key_payload_without_size_and_bad_size",
	  CFG(UNITS3, SVC_UDP("'key':{'source':'payload'}," RATIOS) "," SU(
			      "b", "54", "'key':{'source':'payload','size':3}," RATIOS)),
	  2,
	  { "services[0].key.size: missing; a payload key needs its size in bytes (1, 2, 4 or 8)",
	    "services[1].key.size: 3 is not 1, 2, 4 or 8" } },
	{ "key_payload_members_on_flow_key",
	  CFG(UNITS3, SVC("'key':{'offset':4,'size':4,'missing':'reject'}," RATIOS)), 3,
	  { "services[0].key.offset: only for \"source\": \"payload\"",
	    "services[0].key.size: only for \"source\": \"payload\"",
	    "services[0].key.missing: only for \"source\": \"payload\" (flow and client keys are never missing)" } },
	{ "key_offset_and_source_bad",
	  CFG(UNITS3, SVC_UDP("'key':{'source':'payload','offset':1025,'size':4}," RATIOS) "," SVC(
			      "'key':{'source':'header','sizee':1}," RATIOS)),
	  3,
	  { "services[0].key.offset: 1025 is out of range 0..1024",
	    "services[1].key: unknown key \"sizee\" (did you mean \"size\"?)",
	    "services[1].key.source: unknown value \"header\" (expected \"flow\", \"client\" or \"payload\")" } },
	{ "key_payload_on_tcp",
	  CFG(UNITS3, SVC("'key':{'source':'payload','size':4}," RATIOS)), 1,
	  { "services[0].key.source: \"payload\" needs \"proto\": \"udp\" (a TCP SYN carries no payload" } },
	{ "modulo_bounds",
	  CFG(UNITS3, SVCR("'modulo':0,") "," SV("b", "81", "'modulo':65537," RATIOS)), 2,
	  { "services[0].modulo: 0 is out of range 1..65536",
	    "services[1].modulo: 65537 is out of range 1..65536" } },
	{ "rule_outside_modulo",
	  CFG(UNITS3, SVC("'modulo':10000,'rules':[{'buckets':'0-8999','unit':'dc-a'},{'buckets':'9000-10000','unit':'dc-b'},{'buckets':'10000','unit':'dc-b'}]")),
	  2,
	  { "services[0].rules[1]: range 9000-10000 is outside 0-9999 (modulo 10000)",
	    "services[0].rules[2]: bucket 10000 is outside 0-9999 (modulo 10000)" } },
	{ "rules_overlap_names_both",
	  CFG(UNITS3, SVC("'rules':[{'buckets':'0-4999','unit':'dc-a'},{'buckets':'4000-9999','unit':'dc-b'},{'buckets':'4999','unit':'dc-c'}]")),
	  2,
	  { "services[0].rules[1]: range 4000-9999 overlaps services[0].rules[0] (0-4999)",
	    "services[0].rules[2]: bucket 4999 overlaps services[0].rules[1] (4000-9999)" } },
	{ "rules_gap_single_bucket",
	  CFG(UNITS3, SVC("'modulo':100,'rules':[{'buckets':'18-99','unit':'dc-a'},{'buckets':'0-16','unit':'dc-b'}]")),
	  1, { "services[0].rules: bucket 17 is not assigned" } },
	{ "rules_gap_first_only",
	  CFG(UNITS3, SVC("'modulo':100,'rules':[{'buckets':'10-19','unit':'dc-a'},{'buckets':'30-39','unit':'dc-b'}]")),
	  1, { "services[0].rules: buckets 0-9 are not assigned" } },
	{ "rules_bad_entries",
	  CFG(UNITS3, SVC("'rules':[{'buckets':'abc','unit':'dc-a'},{'buckets':-1,'unit':'dc-a'},{'buckets':'1-','unit':'dc-a'},"
			  "{'buckets':[0],'unit':'dc-a'},{'unit':'dc-a'},{'buckets':'0-9999'},{'buckets':'0-9999','unit':'dc-x'},"
			  "7,{'buckets':' 1','unit':'dc-a'}]")),
	  9,
	  { "services[0].rules[0].buckets: \"abc\" is not a bucket or a range like \"0-4999\"",
	    "services[0].rules[1].buckets: -1 is not a bucket",
	    "services[0].rules[3].buckets: must be a bucket or a range string like \"0-4999\", not an array",
	    "services[0].rules[4].buckets: missing", "services[0].rules[5].unit: missing",
	    "services[0].rules[6].unit: unknown unit \"dc-x\"" } },
	{ "rules_empty_and_wrong_type",
	  CFG(UNITS3, SVC("'rules':[]") "," SV("b", "81", "'rules':{}")), 2,
	  { "services[0].rules: must not be empty",
	    "services[1].rules: must be an array of {\"buckets\", \"unit\"} rules, not an object" } },
	{ "rules_more_than_buckets",
	  CFG(UNITS3, SVC("'modulo':2,'rules':[{'buckets':'0','unit':'dc-a'},{'buckets':'1','unit':'dc-a'},{'buckets':'1','unit':'dc-a'}]")),
	  1, { "services[0].rules: 3 rules but only 2 buckets" } },
	{ "rule_numbers_beyond_64_bits_shown_as_written",
	  CFG(UNITS3, SVC("'rules':[{'buckets':'0-18446744073709551616','unit':'dc-a'},{'buckets':'99999999999999999999-1','unit':'dc-a'},"
			  "{'buckets':9223372036854775807,'unit':'dc-a'}]")),
	  3,
	  { "services[0].rules[0]: \"0-18446744073709551616\" is outside 0-9999",
	    "services[0].rules[1]: \"99999999999999999999-1\" is outside 0-9999",
	    "services[0].rules[2]: bucket 9223372036854775807 is outside 0-9999" } },
	{ "ratios_unknown_unit_and_range",
	  CFG(UNITS3, SVC("'ratios':{'dc-a':120,'dc-x':10,'dc-b':-20}")), 3,
	  { "services[0].ratios.dc-a: 120 is out of range 0..100",
	    "services[0].ratios: unknown unit \"dc-x\"",
	    "services[0].ratios.dc-b: -20 is out of range 0..100" } },
	{ "ratios_empty_and_wrong_types",
	  CFG(UNITS3, SVC("'ratios':{}") "," SV("b", "81", "'ratios':[34,33,33]") "," SV(
			      "c", "82", "'ratios':{'dc-a':50.0,'dc-b':50}")),
	  3,
	  { "services[0].ratios: must give at least one unit a percentage",
	    "services[1].ratios: must be an object of unit name: percentage, not an array",
	    "services[2].ratios.dc-a: must be an integer 0..100, not a number with a fraction or exponent" } },
	{ "fragments_l3_needs_any_port",
	  CFG(UNITS3, SVCR("'fragments':'l3',")), 1,
	  { "services[0].fragments: \"l3\" needs \"port\": \"*\" (non-first fragments carry no port" } },
	{ "udp_new_flow_on_tcp_and_bad_values",
	  CFG(UNITS3, SVCR("'udp_new_flow':'never',") "," SVC_UDP("'udp_new_flow':'always','flow_table':'some','fragments':'drop'," RATIOS)),
	  4,
	  { "services[0].udp_new_flow: only for UDP services (a TCP flow is new when it starts with a SYN)",
	    "services[1].udp_new_flow: unknown value \"always\" (expected \"first_packet\" or \"never\")",
	    "services[1].flow_table: unknown value \"some\" (expected \"transitions\" or \"full\")",
	    "services[1].fragments: unknown value \"drop\" (expected \"pass\" or \"l3\")" } },
	{ "services_wrong_types",
	  "{'version':1," ENCAP UNITS3 ",'services':[7,null,'web']}", 3,
	  { "services[0]: must be an object, not an integer", "services[1]: must be an object, not null",
	    "services[2]: must be an object, not a string" } },
	{ "services_not_array", "{'version':1," ENCAP UNITS3 ",'services':{'web':{}}}", 1,
	  { "services: must be an array of services, not an object" } },
	{ "wrong_types_everywhere",
	  "{'version':1,'seed':'x','encap':[],'local_unit':3,'units':[{'name':5,'role':true,'standby':[],"
	  "'weight':null,'endpoints':[{'address':1,'dev':false,'mac':{},'via':2.5,'weight':[],'mtu':'big'}]}],"
	  "'services':[{'name':{},'vip':[],'port':null,'proto':6,'kind':0,'modulo':'x','ratios':null,"
	  "'fragments':1,'flow_table':true}]}",
	  0,
	  { "seed: must be an integer", "encap: must be an object, not an array",
	    "local_unit: must be a string, not an integer", "units[0].name: must be a string",
	    "units[0].endpoints[0].mtu: must be an integer 576..65535, not a string",
	    "services[0].flow_table: must be a string, not a boolean",
	    "services[0].modulo: must be an integer 1..65536, not a string" } },
	{ "control_characters_escaped",
	  "{'version':1,'a\\u0001\\\\\\u0022':1," ENCAP ONE_UNIT "}", 1,
	  { "top level: unknown key \"a\\x01\\\\\\\"\"" } },

	/* Canary. */
	{ "canary_percent_bad",
	  CFG(UNITS3, SVCR("'canary':{'unit':'dc-c','percent':100.5},") "," SV(
			      "b", "81", "'canary':{'unit':'dc-c','percent':-1}," RATIOS) "," SV(
			      "c", "82", "'canary':{'unit':'dc-c','percent':12.345}," RATIOS) "," SV(
			      "d", "83", "'canary':{'unit':'dc-c','percent':'5%'}," RATIOS) "," SV(
			      "e", "84", "'canary':{'unit':'dc-c','percent':101}," RATIOS)),
	  5,
	  { "services[0].canary.percent: 100.5 is out of range 0..100",
	    "services[1].canary.percent: -1 is out of range 0..100",
	    "services[2].canary.percent: 12.345 has more than two decimals (the canary share is kept in steps of 0.01 %)",
	    "services[3].canary.percent: must be a number 0..100 (a percentage, up to two decimals), not a string",
	    "services[4].canary.percent: 101 is out of range 0..100" } },
	{ "canary_members",
	  CFG(UNITS3, SVCR("'canary':{},") "," SV("b", "81", "'canary':{'unit':'dc-x','percent':5,'units':1}," RATIOS) "," SV(
			      "c", "82", "'canary':5," RATIOS) "," SV("d", "83", "'canary':{'unit':7,'percent':null}," RATIOS)),
	  7,
	  { "services[0].canary.unit: missing (the unit that takes the canary share)",
	    "services[0].canary.percent: missing (the share of the service's buckets, 0..100, up to two decimals)",
	    "services[1].canary: unknown key \"units\" (did you mean \"unit\"?)",
	    "services[1].canary.unit: unknown unit \"dc-x\"",
	    "services[2].canary: must be an object, not an integer",
	    "services[3].canary.unit: must be a string, not an integer",
	    "services[3].canary.percent: must be a number 0..100 (a percentage, up to two decimals), not null" } },
	{ "canary_and_pins_only_for_core",
	  "{'version':1,'local_unit':'dc-b'," ENCAP UNITS3 ",'services':["
	  SV("g", "80", "'kind':'global','canary':{'unit':'dc-c','percent':5}") ","
	  SV("h", "81", "'kind':'shared','pins':[{'prefix':'198.18.0.0/24','unit':'dc-a'}]") "]}",
	  2,
	  { "services[0].canary: not allowed: a global service is always served by the central unit",
	    "services[1].pins: not allowed: a shared service is served by the local unit (reads) and the central unit (writes)" } },

	/* Source-prefix pins. */
	{ "pin_host_bits_suggest_prefix",
	  CFG(UNITS3, SVCR("'pins':[{'prefix':'198.18.0.1/24','unit':'dc-a'}],") ","
		      "{'name':'v6','vip':'2001:db8:80::1','port':80,'proto':'tcp',"
		      "'pins':[{'prefix':'2001:db8:5::1/48','unit':'dc-a'},{'prefix':'2001:db8:5:8000::/33','unit':'dc-b'}]," RATIOS "}"),
	  3,
	  { "services[0].pins[0].prefix: \"198.18.0.1/24\" has host bits set (did you mean \"198.18.0.0/24\"?)",
	    "services[1].pins[0].prefix: \"2001:db8:5::1/48\" has host bits set (did you mean \"2001:db8:5::/48\"?)",
	    "services[1].pins[1].prefix: \"2001:db8:5:8000::/33\" has host bits set (did you mean \"2001:db8::/33\"?)" } },
	{ "pin_prefix_syntax_and_length",
	  CFG(UNITS3, SVCR("'pins':[{'prefix':'198.18.0.0/33','unit':'dc-a'},{'prefix':'198.18.0.300/24','unit':'dc-a'},"
			   "{'prefix':'198.18.0.0/','unit':'dc-a'},{'prefix':'x','unit':'dc-a'},{'prefix':24,'unit':'dc-a'},"
			   "{'prefix':'198.18.0.0/-1','unit':'dc-a'}],") ","
		      "{'name':'v6','vip':'2001:db8:80::1','port':80,'proto':'tcp',"
		      "'pins':[{'prefix':'2001:db8::/129','unit':'dc-a'}]," RATIOS "}"),
	  7,
	  { "services[0].pins[0].prefix: prefix length 33 is out of range 0..32",
	    "services[0].pins[1].prefix: \"198.18.0.300/24\" is not an IPv4 or IPv6 prefix like \"198.18.0.0/24\" or \"2001:db8:5::/48\"",
	    "services[0].pins[2].prefix: \"198.18.0.0/\" is not an IPv4 or IPv6 prefix",
	    "services[0].pins[3].prefix: \"x\" is not an IPv4 or IPv6 prefix",
	    "services[0].pins[4].prefix: must be a prefix string like \"198.18.0.0/24\" or \"2001:db8:5::/48\", not an integer",
	    "services[0].pins[5].prefix: \"198.18.0.0/-1\" is not an IPv4 or IPv6 prefix",
	    "services[1].pins[0].prefix: prefix length 129 is out of range 0..128" } },
	{ "pin_family_other_than_vip",
	  CFG(UNITS3, SVCR("'pins':[{'prefix':'2001:db8:5::/48','unit':'dc-a'}],") ","
		      "{'name':'v6','vip':'2001:db8:80::1','port':80,'proto':'tcp',"
		      "'pins':[{'prefix':'198.18.0.0/24','unit':'dc-a'}]," RATIOS "}"),
	  2,
	  { "services[0].pins[0].prefix: \"2001:db8:5::/48\" is an IPv6 prefix but the VIP is IPv4, so no client of this service could match it",
	    "services[1].pins[0].prefix: \"198.18.0.0/24\" is an IPv4 prefix but the VIP is IPv6" } },
	{ "pin_duplicate_prefix_any_spelling",
	  CFG(UNITS3, SVCR("'pins':[{'prefix':'198.18.0.0/24','unit':'dc-a'},{'prefix':'198.18.0.0/16','unit':'dc-b'},"
			   "{'prefix':'198.18.0.0/24','unit':'dc-c'},{'prefix':'198.18.0.0/24','unit':'dc-a'}],") ","
		      "{'name':'v6','vip':'2001:db8:80::1','port':80,'proto':'tcp',"
		      "'pins':[{'prefix':'2001:db8:5::/48','unit':'dc-a'},{'prefix':'2001:DB8:5:0:0::/48','unit':'dc-b'}]," RATIOS "}"),
	  3,
	  { "services[0].pins[2].prefix: 198.18.0.0/24 is already pinned by services[0].pins[0]",
	    "services[0].pins[3].prefix: 198.18.0.0/24 is already pinned by services[0].pins[2]",
	    "services[1].pins[1].prefix: 2001:db8:5::/48 is already pinned by services[1].pins[0]" } },
	{ "pin_members_and_types",
	  CFG(UNITS3, SVCR("'pins':[{},{'prefix':'198.18.0.0/24','unit':'dc-x'},{'prefix':'198.18.1.0/24','unit':'dc-a','units':1},7],") ","
		      SV("b", "81", "'pins':{'prefix':'198.18.0.0/24'}," RATIOS)),
	  6,
	  { "services[0].pins[0].prefix: missing (a client prefix like \"198.18.0.0/24\" or \"2001:db8:5::/48\")",
	    "services[0].pins[0].unit: missing",
	    "services[0].pins[1].unit: unknown unit \"dc-x\"",
	    "services[0].pins[2]: unknown key \"units\" (did you mean \"unit\"?)",
	    "services[0].pins[3]: must be an object, not an integer",
	    "services[1].pins: must be an array of {\"prefix\", \"unit\"} pins, not an object" } },

	/* Several independent errors in one file, all reported in one go. */
	{ "many_errors_reported_together",
	  "{'version':1,'encap':{'source4':'198.18.250.0/24'},'units':["
	  "{'name':'dc-a','role':'central','endpoints':[{'address':'198.18.1.10'}]},"
	  "{'name':'dc-b','endpont':[],'endpoints':[{'address':'198.18.1.300'}]}],"
	  "'services':[{'name':'web','vip':'198.19.0.80','port':80,'proto':'tcp','ratios':{'dc-a':45,'dc-b':45}},"
	  "{'name':'web','vip':'198.19.0.81','port':80,'proto':'tcp','rules':[{'buckets':'5000-4000','unit':'dc-a'}]},"
	  "{'name':'g','vip':'198.19.0.82','port':70000,'proto':'tcp','kind':'global'}]}",
	  6,
	  { "units[1]: unknown key \"endpont\"",
	    "units[1].endpoints[0].address: \"198.18.1.300\" is not an IPv4 or IPv6 address",
	    "services[0].ratios: sum to 90, must be 100",
	    "services[1].name: \"web\" is already the name of services[0]",
	    "services[1].rules[0]: range 5000-4000 is empty",
	    "services[2].port: 70000 is out of range 1..65535" } },
};

static void run_bad(const struct bad_case *bc)
{
	struct cg_errors errs = { 0 };
	struct result r = { 0 };
	struct cg_config c;
	char all[4096];
	int ret;

	memset(&c, 0xa5, sizeof(c)); /* the loader must not rely on a clean struct */
	ret = load_q(bc->json, &c, &errs);
	errs_join(&errs, all, sizeof(all));
	CHECK(&r, ret == -1, "accepted");
	CHECK(&r, cfg_is_empty(&c), "config not empty after failure");
	CHECK(&r, errs.n > 0, "no message");
	CHECK(&r, !bc->n_errors || errs.n == bc->n_errors, "%d messages, want %d: %s", errs.n,
	      bc->n_errors, all);
	for (int i = 0; i < 8 && bc->want[i]; i++)
		CHECK(&r, errs_have(&errs, bc->want[i]), "missing \"%s\" in: %s", bc->want[i], all);
	for (int i = 0; i < errs.n; i++) {
		CHECK(&r, strstr(errs.msgs[i], ": ") && strlen(errs.msgs[i]) < 1024,
		      "badly formed message \"%s\"", errs.msgs[i]);
		if (verbose)
			printf("# %s: %s\n", bc->name, errs.msgs[i]);
	}
	cg_errors_free(&errs);
	report(bc->name, &r);
}

/* ------------------------------------------------------------------------
 * Robustness: nothing crashes, nothing half-valid is accepted.
 */

/* Load text; check the failure or success contract. Returns the result. */
static int load_checked(struct result *r, const char *what, const char *text)
{
	struct cg_errors errs = { 0 };
	struct cg_config c;
	int ret = cg_config_load_string(text, &c, &errs);

	if (ret == 0) {
		check_invariants(r, &c);
		cg_config_free(&c);
	} else {
		CHECK(r, ret == -1 && cfg_is_empty(&c) && errs.n > 0, "%s: bad failure contract",
		      what);
		for (int i = 0; i < errs.n; i++)
			CHECK(r, strstr(errs.msgs[i], ": ") != NULL, "%s: message \"%s\"", what,
			      errs.msgs[i]);
	}
	cg_errors_free(&errs);
	return ret;
}

/* Replace the k-th node (pre-order, root excluded) by `with`. */
static bool replace_nth(json_t *v, size_t *k, json_t *with)
{
	if (json_is_object(v)) {
		const char *key;
		json_t *val;

		json_object_foreach(v, key, val) {
			if ((*k)-- == 0) {
				json_object_set(v, key, with);
				return true;
			}
			if (replace_nth(val, k, with))
				return true;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			if ((*k)-- == 0) {
				json_array_set(v, i, with);
				return true;
			}
			if (replace_nth(json_array_get(v, i), k, with))
				return true;
		}
	}
	return false;
}

/* Rename the k-th object key (pre-order) to key + "x"; report the old key. */
static bool rename_nth(json_t *v, size_t *k, char *old, size_t oldsz, bool *in_ratios,
		       bool parent_ratios)
{
	if (json_is_object(v)) {
		const char *key;
		json_t *val;

		json_object_foreach(v, key, val) {
			if ((*k)-- == 0) {
				char nk[256];

				snprintf(old, oldsz, "%s", key);
				snprintf(nk, sizeof(nk), "%sx", key);
				json_incref(val);
				json_object_del(v, old);
				json_object_set_new(v, nk, val);
				*in_ratios = parent_ratios;
				return true;
			}
			if (rename_nth(val, k, old, oldsz, in_ratios, !strcmp(key, "ratios")))
				return true;
		}
	} else if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++)
			if (rename_nth(json_array_get(v, i), k, old, oldsz, in_ratios, false))
				return true;
	}
	return false;
}

static json_t *load_example_json(struct result *r, char **text)
{
	json_error_t je;
	json_t *root;

	*text = read_text(repo_path("docs/examples/three-dc.json"));
	if (!*text) {
		failf(r, "cannot read docs/examples/three-dc.json");
		return NULL;
	}
	root = json_loads(*text, 0, &je);
	if (!root)
		failf(r, "example: %s", je.text);
	return root;
}

static void test_mutations(void)
{
	static const char *const odd[] = {
		"null",	      "true",	     "false",	      "0",	       "-1",
		"1",	      "65536",	     "4294967296",    "9223372036854775807",
		"-9223372036854775808",	     "1.5",	      "1e300",	       "\"\"",
		"\"*\"",      "\"x\"",	     "\"198.18.1.300\"", "\"0-99999\"", "\"-\"",
		"[]",	      "[null]",	     "{}",	      "{\"a\":1}",     "[[[[[[[[]]]]]]]]",
		"\"\\u00e9\\u4e2d\\ud83d\\ude00\"",
	};
	struct result r = { 0 };
	json_t *root;
	char *text, *s;
	size_t variants = 0, accepted = 0;

	root = load_example_json(&r, &text);
	if (!root)
		goto out;
	/* Long string values, and every value of every node replaced by each odd value. */
	s = malloc(400);
	memset(s, 'x', 398);
	s[0] = '"';
	s[398] = '"';
	s[399] = '\0';
	for (size_t o = 0; o <= sizeof(odd) / sizeof(odd[0]); o++) {
		json_t *with = json_loads(o < sizeof(odd) / sizeof(odd[0]) ? odd[o] : s,
					  JSON_DECODE_ANY, NULL);

		for (size_t k = 0;; k++) {
			json_t *copy = json_deep_copy(root);
			size_t kk = k;
			char *out;

			if (!replace_nth(copy, &kk, with)) {
				json_decref(copy);
				break;
			}
			out = json_dumps(copy, JSON_COMPACT);
			accepted += load_checked(&r, out, out) == 0;
			variants++;
			free(out);
			json_decref(copy);
		}
		json_decref(with);
	}
	free(s);
	CHECK(&r, variants > 2500, "only %zu variants", variants);
	json_decref(root);
out:
	free(text);
	report("mutations_every_node_times_25_values_no_crash_no_half_valid_accept", &r);
}

static void test_renames(void)
{
	struct result r = { 0 };
	json_t *root;
	char *text;
	size_t n = 0;

	root = load_example_json(&r, &text);
	if (!root)
		goto out;
	for (size_t k = 0;; k++) {
		json_t *copy = json_deep_copy(root);
		struct cg_errors errs = { 0 };
		struct cg_config c;
		char old[256], want[300], *out;
		bool in_ratios = false;
		size_t kk = k;

		if (!rename_nth(copy, &kk, old, sizeof(old), &in_ratios, false)) {
			json_decref(copy);
			break;
		}
		out = json_dumps(copy, JSON_COMPACT);
		if (in_ratios)
			snprintf(want, sizeof(want), "unknown unit \"%sx\"", old);
		else
			snprintf(want, sizeof(want), "unknown key \"%sx\"", old);
		CHECK(&r, cg_config_load_string(out, &c, &errs) == -1 && errs_have(&errs, want),
		      "renaming \"%s\": no \"%s\"", old, want);
		cg_errors_free(&errs);
		free(out);
		json_decref(copy);
		n++;
	}
	CHECK(&r, n > 90, "only %zu keys", n);
	json_decref(root);
out:
	free(text);
	report("every_key_of_example_renamed_is_reported", &r);
}

static void test_truncations(void)
{
	struct result r = { 0 };
	char *text = read_text(repo_path("docs/examples/three-dc.json"));
	size_t len;

	if (!text) {
		failf(&r, "cannot read the example");
		goto out;
	}
	len = strlen(text);
	while (len && (text[len - 1] == '\n' || text[len - 1] == '}'))
		len--; /* every prefix shorter than the closing brace is incomplete */
	for (size_t n = 0; n <= len; n++) {
		struct cg_errors errs = { 0 };
		struct cg_config c;
		char save = text[n];

		text[n] = '\0';
		CHECK(&r, cg_config_load_string(text, &c, &errs) == -1 && errs.n == 1 &&
				  cfg_is_empty(&c) &&
				  (strstr(errs.msgs[0], "line ") || strstr(errs.msgs[0], "end of file")),
		      "prefix of %zu bytes: %s", n, errs.n ? errs.msgs[0] : "accepted");
		text[n] = save;
		cg_errors_free(&errs);
	}
out:
	free(text);
	report("every_truncation_of_example_is_a_syntax_error", &r);
}

static void test_byte_flips(void)
{
	struct result r = { 0 };
	char *text = read_text(repo_path("docs/examples/three-dc.json"));
	__u64 x = 0x9e3779b97f4a7c15ull;
	size_t len;

	if (!text) {
		failf(&r, "cannot read the example");
		goto out;
	}
	len = strlen(text);
	for (int it = 0; it < 5000; it++) {
		char *t = strdup(text);
		int flips = 1 + it % 4;

		for (int f = 0; f < flips; f++) {
			/* xorshift64: fixed sequence, reproducible failures */
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			t[x % len] = (x >> 32) % 2 ? (char)(x >> 40) : "0123456789-\".:[]{},*/ ae"[(x >> 40) % 25];
		}
		load_checked(&r, "byte flip", t);
		free(t);
	}
out:
	free(text);
	report("byte_flips_5000_no_crash", &r);
}

static void test_deep_and_huge(void)
{
	struct result r = { 0 };
	struct cg_errors errs = { 0 };
	struct cg_config c;
	size_t depth = 100000, o;
	char *t = malloc(2 * depth + 64), *big;

	/* Far beyond jansson's depth limit: a syntax error, no stack overflow. */
	o = sprintf(t, "{\"version\":1,\"units\":");
	memset(t + o, '[', depth);
	memset(t + o + depth, ']', depth);
	strcpy(t + o + 2 * depth, "}");
	CHECK(&r, cg_config_load_string(t, &c, &errs) == -1 && errs.n == 1 &&
			  errs_have(&errs, "depth"),
	      "deep: %s", errs.n ? errs.msgs[0] : "accepted");
	cg_errors_free(&errs);

	/* Deep but parseable: our walk does not recurse into it. */
	depth = 1000;
	o = sprintf(t, "{\"version\":1,\"units\":[");
	memset(t + o, '[', depth);
	memset(t + o + depth, ']', depth);
	strcpy(t + o + 2 * depth, "]}");
	CHECK(&r, cg_config_load_string(t, &c, &errs) == -1 && errs.n == 1 &&
			  errs_have(&errs, "units[0]: must be an object, not an array"),
	      "deep valid: %s", errs.n ? errs.msgs[0] : "accepted");
	cg_errors_free(&errs);
	free(t);

	/* A 100 kB name is cut in the message, not copied whole. */
	big = malloc(100064);
	o = sprintf(big, "{\"version\":1,\"units\":[{\"name\":\"");
	memset(big + o, 'n', 100000);
	strcpy(big + o + 100000, "\"}]}");
	CHECK(&r, cg_config_load_string(big, &c, &errs) == -1 &&
			  errs_have(&errs, "units[0].name: \"nnnnnnnn") && errs_have(&errs, "...\" is too long") &&
			  strlen(errs.msgs[0]) < 300,
	      "long name: %s", errs.n ? errs.msgs[0] : "accepted");
	cg_errors_free(&errs);
	free(big);
	report("deep_nesting_and_huge_strings", &r);
}

/* 5000 unknown keys: 1000 messages kept, the rest summarised. */
static void test_error_flood(void)
{
	struct result r = { 0 };
	struct cg_errors errs = { 0 };
	struct cg_config c;
	char *t = malloc(5000 * 16 + 64);
	size_t o = sprintf(t, "{\"version\":1");

	for (int i = 0; i < 5000; i++)
		o += sprintf(t + o, ",\"k%d\":0", i);
	strcpy(t + o, "}");
	CHECK(&r, cg_config_load_string(t, &c, &errs) == -1, "accepted");
	CHECK(&r, errs.n == 1001 && !strcmp(errs.msgs[1000], "4001 more errors not shown"),
	      "%d messages, last \"%s\"", errs.n, errs.n ? errs.msgs[errs.n - 1] : "");
	cg_errors_free(&errs);
	free(t);
	report("error_flood_capped_and_summarised", &r);
}

int main(void)
{
	verbose = getenv("TEST_VERBOSE") && !strcmp(getenv("TEST_VERBOSE"), "1");
	test_example_file();
	test_all_examples();
	test_doc_shows_example();
	test_defaults();
	test_no_services();
	test_ipv6();
	test_payload_key();
	test_rules_sorted();
	test_ratio_exact();
	test_ratio_within_one();
	test_canary();
	test_pins();
	test_pin_limits();
	test_seed_bounds();
	test_names();
	test_standby_forward();
	test_stdin();
	test_file_errors();
	test_errors_api();
	test_limits();
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++)
		run_bad(&bad_cases[i]);
	test_mutations();
	test_renames();
	test_truncations();
	test_byte_flips();
	test_deep_and_huge();
	test_error_flood();
	return n_failed ? 1 : 0;
}
