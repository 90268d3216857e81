// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's configuration file (docs/operations.md, "Configuration"):
 * JSON, every key optional, unknown keys refused, every error named by
 * its path like the dataplane configuration's.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <jansson.h>

#include "agent.h"
#include "ops.h"
#include "probe.h"

void cg_agent_config_defaults(struct cg_agent_config *c)
{
	memset(c, 0, sizeof(*c));
	c->interval_ms = 50;
	c->timeout_ms = 0; /* = interval */
	c->fall = 3;
	c->rise = 10;
	snprintf(c->metrics, sizeof(c->metrics), "%s", CG_AGENT_METRICS_DEFAULT);
	c->max_evacuated = 1;
	c->capacity_factor = 2.0;
	c->hold_down_ms = 5000;
	c->restore_successes = 20;
	c->auto_restore = true;
	c->handover_ms = 30000;
	c->fence_action = CG_FENCE_DROP;
	c->damp_penalty = 1000;
	c->damp_suppress = 3000;
	c->damp_reuse = 1000;
	c->damp_max = 12000;
	c->damp_half_life_ms = 60000;
	/* without a configuration: ICMP echo of every endpoint */
	c->n_checks = 1;
	c->checks[0].type = CG_CHECK_ICMP;
}

void cg_agent_config_free(struct cg_agent_config *c)
{
	free(c->units);
	c->units = NULL;
	c->n_units = 0;
}

const struct cg_agent_unit_cfg *cg_agent_unit_cfg(const struct cg_agent_config *c, const char *name)
{
	for (int i = 0; i < c->n_units; i++)
		if (!strcmp(c->units[i].name, name))
			return &c->units[i];
	return NULL;
}

struct pctx {
	struct cg_errors *errs;
	int n;
};

#define ERR(p, ...)                                   \
	do {                                          \
		cg_errors_add((p)->errs, __VA_ARGS__); \
		(p)->n++;                             \
	} while (0)

/* unknown keys are mistakes: refuse them */
static void known(struct pctx *p, json_t *o, const char *path, const char *const *keys)
{
	const char *k;
	json_t *v;

	json_object_foreach(o, k, v) {
		bool ok = false;

		for (const char *const *w = keys; *w && !ok; w++)
			ok = !strcmp(*w, k);
		if (!ok)
			ERR(p, "%s%s%s: unknown key", path, *path ? "." : "", k);
	}
}

static void get_duration(struct pctx *p, json_t *o, const char *key, const char *path, __u64 min,
			 __u64 max, __u64 *out)
{
	json_t *v = json_object_get(o, key);
	__u64 ms;

	if (!v)
		return;
	if (!json_is_string(v) || cg_parse_duration_ms(json_string_value(v), &ms) ||
	    ms == CG_FENCE_UNTIL_RELEASE) {
		ERR(p, "%s%s%s: not a duration like \"50ms\", \"2s\" or \"1m\"", path, *path ? "." : "",
		    key);
		return;
	}
	if (ms < min || ms > max) {
		ERR(p, "%s%s%s: %llu ms is out of range %llu..%llu ms", path, *path ? "." : "", key,
		    (unsigned long long)ms, (unsigned long long)min, (unsigned long long)max);
		return;
	}
	*out = ms;
}

static void get_int(struct pctx *p, json_t *o, const char *key, const char *path, int min, int max,
		    int *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		ERR(p, "%s%s%s: not an integer in %d..%d", path, *path ? "." : "", key, min, max);
		return;
	}
	*out = (int)json_integer_value(v);
}

static void get_num(struct pctx *p, json_t *o, const char *key, const char *path, double min,
		    double max, double *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return;
	if (!json_is_number(v) || json_number_value(v) < min || json_number_value(v) > max) {
		ERR(p, "%s%s%s: not a number in %g..%g", path, *path ? "." : "", key, min, max);
		return;
	}
	*out = json_number_value(v);
}

static void get_bool(struct pctx *p, json_t *o, const char *key, const char *path, bool *out)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return;
	if (!json_is_boolean(v)) {
		ERR(p, "%s%s%s: not true or false", path, *path ? "." : "", key);
		return;
	}
	*out = json_is_true(v);
}

static bool parse_addr(const char *s, int *family, __be32 *addr)
{
	memset(addr, 0, 16);
	if (inet_pton(AF_INET, s, addr) == 1) {
		*family = CG_AF_INET;
		return true;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = CG_AF_INET6;
		return true;
	}
	return false;
}

static void get_addr(struct pctx *p, json_t *o, const char *key, const char *path, int want,
		     bool *has, int *family, __be32 *addr)
{
	json_t *v = json_object_get(o, key);
	int f;

	if (!v)
		return;
	if (!json_is_string(v) || !parse_addr(json_string_value(v), &f, addr) ||
	    (want && f != want)) {
		ERR(p, "%s.%s: not an IPv%s address", path, key,
		    want == CG_AF_INET ? "4" : want == CG_AF_INET6 ? "6" : "4 or IPv6");
		return;
	}
	*has = true;
	if (family)
		*family = f;
}

static void parse_check(struct pctx *p, json_t *o, const char *path, struct cg_check *c)
{
	static const char *const keys[] = { "type", "vip", "address", "port", "payload", "match", NULL };
	json_t *t = json_object_get(o, "type"), *m;
	const char *type = json_is_string(t) ? json_string_value(t) : "";
	bool has_vip = false;
	int port = 0;

	memset(c, 0, sizeof(*c));
	if (!json_is_object(o)) {
		ERR(p, "%s: not an object", path);
		return;
	}
	known(p, o, path, keys);
	if (!strcmp(type, "tunnel"))
		c->type = CG_CHECK_TUNNEL;
	else if (!strcmp(type, "udp"))
		c->type = CG_CHECK_UDP;
	else if (!strcmp(type, "tcp"))
		c->type = CG_CHECK_TCP;
	else if (!strcmp(type, "icmp"))
		c->type = CG_CHECK_ICMP;
	else {
		ERR(p, "%s.type: \"%s\" is not tunnel, udp, tcp or icmp", path, type);
		return;
	}
	get_int(p, o, "port", path, 1, 65535, &port);
	c->port = (__u16)port;
	if (c->type == CG_CHECK_TUNNEL) {
		get_addr(p, o, "vip", path, 0, &has_vip, &c->family, c->addr);
		if (!has_vip)
			ERR(p, "%s.vip: required for a tunnel check (a service VIP the unit answers)", path);
		if (json_object_get(o, "address"))
			ERR(p, "%s.address: a tunnel check goes to every endpoint; give vip and port", path);
	} else {
		if (json_object_get(o, "vip"))
			ERR(p, "%s.vip: only tunnel checks have a vip", path);
		get_addr(p, o, "address", path, 0, &c->has_addr, &c->family, c->addr);
	}
	if (c->type != CG_CHECK_ICMP && !port)
		ERR(p, "%s.port: required for a %s check", path, type);
	if (c->type == CG_CHECK_ICMP && port)
		ERR(p, "%s.port: icmp checks have no port", path);
	m = json_object_get(o, "payload");
	if (m) {
		if (!json_is_string(m) || strlen(json_string_value(m)) >= CG_PAYLOAD_MAX ||
		    strpbrk(json_string_value(m), "\r\n"))
			ERR(p, "%s.payload: a one-line string shorter than %d bytes", path, CG_PAYLOAD_MAX);
		else
			snprintf(c->payload, sizeof(c->payload), "%s", json_string_value(m));
	}
	m = json_object_get(o, "match");
	if (m) {
		const char *s = json_is_string(m) ? json_string_value(m) : "";

		if (!strcmp(s, "any"))
			c->match_any = true;
		else if (strcmp(s, "echo"))
			ERR(p, "%s.match: \"%s\" is not echo or any", path, s);
		if (c->type == CG_CHECK_TCP || c->type == CG_CHECK_ICMP)
			ERR(p, "%s.match: only udp and tunnel checks match answers", path);
	}
}

static void parse_checks(struct pctx *p, json_t *a, const char *path, struct cg_check *out, int *n)
{
	char sub[128];
	size_t i;
	json_t *v;

	if (!json_is_array(a) || json_array_size(a) > CG_AGENT_MAX_CHECKS) {
		ERR(p, "%s: an array of at most %d checks", path, CG_AGENT_MAX_CHECKS);
		return;
	}
	*n = 0;
	json_array_foreach(a, i, v) {
		snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
		parse_check(p, v, sub, &out[(*n)++]);
	}
}

static void parse_unit(struct pctx *p, json_t *o, const char *name, struct cg_agent_unit_cfg *u)
{
	static const char *const keys[] = { "monitor", "checks", "max_share", "min_healthy_endpoints",
					    NULL };
	char path[96];
	json_t *c;

	snprintf(path, sizeof(path), "units.%s", name);
	memset(u, 0, sizeof(*u));
	u->monitor = true;
	if (strlen(name) >= CG_NAME_LEN)
		ERR(p, "%s: unit names are shorter than %d bytes", path, CG_NAME_LEN);
	snprintf(u->name, sizeof(u->name), "%s", name);
	if (!json_is_object(o)) {
		ERR(p, "%s: not an object", path);
		return;
	}
	known(p, o, path, keys);
	get_bool(p, o, "monitor", path, &u->monitor);
	get_num(p, o, "max_share", path, 1, 100, &u->max_share);
	get_int(p, o, "min_healthy_endpoints", path, 1, CG_MAX_ENDPOINTS, &u->min_healthy);
	c = json_object_get(o, "checks");
	if (c) {
		char sub[112];

		snprintf(sub, sizeof(sub), "%s.checks", path);
		u->has_checks = true;
		parse_checks(p, c, sub, u->checks, &u->n_checks);
	}
}

static void load(struct pctx *p, json_t *root, struct cg_agent_config *c)
{
	static const char *const keys[] = { "version", "interval", "timeout", "fall", "rise",
					    "metrics", "socket", "max_evacuated", "capacity",
					    "restore", "damping", "probe", "checks", "units", NULL };
	static const char *const cap_keys[] = { "factor", "force", NULL };
	static const char *const rst_keys[] = { "automatic", "hold_down", "successes", "handover",
						"fence", "fence_action", NULL };
	static const char *const dmp_keys[] = { "penalty", "half_life", "suppress", "reuse", "max",
						NULL };
	static const char *const prb_keys[] = { "source4", "source6", NULL };
	json_t *v, *o;
	int version = 1;

	if (!json_is_object(root)) {
		ERR(p, "top level: not a JSON object");
		return;
	}
	known(p, root, "", keys);
	get_int(p, root, "version", "", 1, 1, &version);
	get_duration(p, root, "interval", "", 10, 10000, &c->interval_ms);
	get_duration(p, root, "timeout", "", 1, 60000, &c->timeout_ms);
	get_int(p, root, "fall", "", 1, 1000, &c->fall);
	get_int(p, root, "rise", "", 1, 1000, &c->rise);
	v = json_object_get(root, "metrics");
	if (v) {
		if (!json_is_string(v) || strlen(json_string_value(v)) >= sizeof(c->metrics))
			ERR(p, "metrics: \"ADDR:PORT\", or \"off\"");
		else
			snprintf(c->metrics, sizeof(c->metrics), "%s",
				 strcmp(json_string_value(v), "off") ? json_string_value(v) : "");
	}
	v = json_object_get(root, "socket");
	if (v) {
		if (!json_is_string(v) || json_string_value(v)[0] != '/' ||
		    strlen(json_string_value(v)) >= sizeof(c->socket))
			ERR(p, "socket: an absolute path shorter than %zu bytes", sizeof(c->socket));
		else
			snprintf(c->socket, sizeof(c->socket), "%s", json_string_value(v));
	}
	get_int(p, root, "max_evacuated", "", 1, CG_MAX_UNITS, &c->max_evacuated);
	o = json_object_get(root, "capacity");
	if (o) {
		if (!json_is_object(o))
			ERR(p, "capacity: not an object");
		else {
			known(p, o, "capacity", cap_keys);
			get_num(p, o, "factor", "capacity", 0, 1000, &c->capacity_factor);
			get_bool(p, o, "force", "capacity", &c->force_capacity);
		}
	}
	o = json_object_get(root, "restore");
	if (o) {
		if (!json_is_object(o)) {
			ERR(p, "restore: not an object");
		} else {
			json_t *fa = json_object_get(o, "fence_action");

			known(p, o, "restore", rst_keys);
			get_bool(p, o, "automatic", "restore", &c->auto_restore);
			get_duration(p, o, "hold_down", "restore", 0, 86400000, &c->hold_down_ms);
			get_int(p, o, "successes", "restore", 1, 1000000, &c->restore_successes);
			get_duration(p, o, "handover", "restore", 0, 86400000, &c->handover_ms);
			get_duration(p, o, "fence", "restore", 0, 86400000, &c->fence_ms);
			if (fa) {
				const char *s = json_is_string(fa) ? json_string_value(fa) : "";

				if (!strcmp(s, "drop"))
					c->fence_action = CG_FENCE_DROP;
				else if (!strcmp(s, "reject"))
					c->fence_action = CG_FENCE_REJECT;
				else
					ERR(p, "restore.fence_action: \"%s\" is not drop or reject", s);
			}
		}
	}
	o = json_object_get(root, "damping");
	if (o) {
		if (!json_is_object(o)) {
			ERR(p, "damping: not an object");
		} else {
			known(p, o, "damping", dmp_keys);
			get_num(p, o, "penalty", "damping", 0, 1e9, &c->damp_penalty);
			get_duration(p, o, "half_life", "damping", 100, 86400000,
				     &c->damp_half_life_ms);
			get_num(p, o, "suppress", "damping", 1, 1e9, &c->damp_suppress);
			get_num(p, o, "reuse", "damping", 0, 1e9, &c->damp_reuse);
			get_num(p, o, "max", "damping", 1, 1e9, &c->damp_max);
		}
	}
	o = json_object_get(root, "probe");
	if (o) {
		if (!json_is_object(o)) {
			ERR(p, "probe: not an object");
		} else {
			known(p, o, "probe", prb_keys);
			get_addr(p, o, "source4", "probe", CG_AF_INET, &c->has_src4, NULL, c->src4);
			get_addr(p, o, "source6", "probe", CG_AF_INET6, &c->has_src6, NULL, c->src6);
		}
	}
	v = json_object_get(root, "checks");
	if (v) {
		c->has_checks = true;
		parse_checks(p, v, "checks", c->checks, &c->n_checks);
	}
	o = json_object_get(root, "units");
	if (o) {
		const char *name;
		json_t *u;

		if (!json_is_object(o)) {
			ERR(p, "units: an object of unit name -> settings");
		} else {
			c->units = calloc(json_object_size(o) + 1, sizeof(*c->units));
			json_object_foreach(o, name, u)
				parse_unit(p, u, name, &c->units[c->n_units++]);
		}
	}
	if (c->timeout_ms >= c->interval_ms * (CG_PROBE_WINDOW - 1))
		ERR(p, "timeout: %llu ms must be shorter than %d probe intervals (%llu ms)",
		    (unsigned long long)c->timeout_ms, CG_PROBE_WINDOW - 1,
		    (unsigned long long)(c->interval_ms * (CG_PROBE_WINDOW - 1)));
	if (!(c->damp_reuse < c->damp_suppress && c->damp_suppress <= c->damp_max))
		ERR(p, "damping: needs reuse < suppress <= max (%g, %g, %g)", c->damp_reuse,
		    c->damp_suppress, c->damp_max);
}

int cg_agent_config_load(const char *path, struct cg_agent_config *c, struct cg_errors *errs)
{
	struct pctx p = { .errs = errs };
	json_error_t je;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);

	if (!root) {
		cg_errors_add(errs, "line %d column %d: %s", je.line, je.column, je.text);
		return -1;
	}
	load(&p, root, c);
	json_decref(root);
	return p.n ? -1 : 0;
}
