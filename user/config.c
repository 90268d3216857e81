// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Configuration file parser and validator (docs/config.md).
 *
 * jansson does the JSON; this file walks the tree once, fills struct
 * cg_config and reports every problem it finds, each prefixed with its JSON
 * path, so an operator fixes a file in one round instead of one error per
 * apply. Nothing here trusts the input: every member is type-checked before
 * use and every string quoted in a message is escaped and bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "config.h"

/*
 * Room for any path we build: "services[1023].rules[65535].buckets", or a
 * ratios entry whose key is shown quoted (struct qstr, below).
 */
#define PATH_LEN 384
/* Bytes of an input string shown in a message before it is cut with "...". */
#define QUOTE_SHOWN 64
/*
 * Messages stored per load. Nobody reads more, and a generated file with a
 * million bad entries must not turn into a million strings; the rest are
 * counted and summarised in one last line.
 */
#define MAX_MESSAGES 1000

/*
 * Duplicate keys are refused by the parser: with them a file has two
 * meanings and jansson would silently keep the last one.
 */
#define JSON_FLAGS JSON_REJECT_DUPLICATES

struct ctx {
	struct cg_errors *errs;
	struct cg_config *cfg;
	/* Counted even when a message could not be stored (out of memory),
	 * so a config with errors is never accepted. */
	int n_errors;
	/* "name" of each unit as written (borrowed from the JSON tree) or
	 * NULL, so references resolve before and despite unit errors. */
	const char **unit_names;
	int n_unit_names;
	int *unit_order; /* indexes into unit_names sorted by (name, index) */
	int n_unit_order;
	const char **svc_names;
	bool too_many_endpoints; /* reported once; endpoints are not read then */
	/* Set when an error already explains why references or requirements
	 * cannot be checked; avoids a cascade of follow-up messages. */
	bool units_broken; /* "units" missing or not an array */
	bool role_broken; /* some unit's role is invalid */
	bool local_given; /* "local_unit" present, valid or not */
	bool src4_broken;
	bool src6_broken;
};

/* An escaped, bounded copy of an input string for messages. */
struct qstr {
	char s[QUOTE_SHOWN * 4 + 8];
};

static const char *quote(struct qstr *q, const char *s)
{
	size_t o = 0, shown = 0;
	const unsigned char *p = (const unsigned char *)s;

	q->s[o++] = '"';
	while (*p) {
		unsigned char ch = *p;
		size_t n = 1;

		if (shown >= QUOTE_SHOWN) {
			memcpy(q->s + o, "...", 3);
			o += 3;
			break;
		}
		if (ch == '"' || ch == '\\') {
			q->s[o++] = '\\';
			q->s[o++] = ch;
		} else if (ch < 0x20 || ch == 0x7f) {
			o += sprintf(q->s + o, "\\x%02x", ch);
		} else {
			/* jansson validated the UTF-8: copy whole sequences
			 * (bounded by the terminator all the same). */
			if (ch >= 0xf0)
				n = 4;
			else if (ch >= 0xe0)
				n = 3;
			else if (ch >= 0xc0)
				n = 2;
			for (size_t k = 1; k < n; k++)
				if (!p[k])
					n = k;
			memcpy(q->s + o, p, n);
			o += n;
		}
		p += n;
		shown++;
	}
	q->s[o++] = '"';
	q->s[o] = '\0';
	return q->s;
}

void cg_errors_add(struct cg_errors *e, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	int len;

	if (!e)
		return;
	if (e->n >= e->cap) {
		int cap = e->cap ? e->cap * 2 : 8;
		char **m;

		if (e->cap > INT_MAX / 2)
			return;
		m = realloc(e->msgs, (size_t)cap * sizeof(*m));
		if (!m)
			return;
		e->msgs = m;
		e->cap = cap;
	}
	va_start(ap, fmt);
	len = vasprintf(&msg, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	e->msgs[e->n++] = msg;
}

void cg_errors_free(struct cg_errors *e)
{
	if (!e)
		return;
	for (int i = 0; i < e->n; i++)
		free(e->msgs[i]);
	free(e->msgs);
	e->msgs = NULL;
	e->n = 0;
	e->cap = 0;
}

static void __attribute__((format(printf, 3, 4)))
err(struct ctx *c, const char *path, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (++c->n_errors > MAX_MESSAGES)
		return;
	cg_errors_add(c->errs, "%s: %s", path[0] ? path : "top level", msg);
}

static void oom(struct ctx *c, const char *path)
{
	err(c, path, "out of memory");
}

/*
 * Paths are bounded by the format (known keys, indexes below the limits),
 * so truncation cannot happen; going through vsnprintf keeps gcc's
 * truncation warning about the theoretical worst case quiet.
 */
static const char *__attribute__((format(printf, 2, 3))) pathf(char *buf, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, PATH_LEN, fmt, ap);
	va_end(ap);
	return buf;
}

static const char *pkey(char *buf, const char *base, const char *key)
{
	return pathf(buf, "%s%s%s", base, base[0] ? "." : "", key);
}

static const char *pidx(char *buf, const char *base, size_t i)
{
	return pathf(buf, "%s[%zu]", base, i);
}

static const char *jtype(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_INTEGER:
		return "an integer";
	case JSON_REAL:
		return "a number with a fraction or exponent";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	case JSON_NULL:
		return "null";
	}
	return "an unknown JSON type";
}

/* Levenshtein distance, case-insensitive, for "did you mean" hints. */
static int edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	int row[CG_NAME_LEN + 1];

	if (la > CG_NAME_LEN || lb > CG_NAME_LEN)
		return INT_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
			int best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* Must be an object; every key not in `allowed` is an error (typos). */
static bool check_object(struct ctx *c, const char *path, json_t *v, const char *const *allowed)
{
	const char *key;
	json_t *val;

	if (!json_is_object(v)) {
		err(c, path, "must be an object, not %s", jtype(v));
		return false;
	}
	json_object_foreach(v, key, val) {
		const char *hint = NULL;
		int best = INT_MAX;
		struct qstr q;
		bool known = false;

		for (const char *const *k = allowed; *k; k++) {
			int d;

			if (!strcmp(key, *k)) {
				known = true;
				break;
			}
			if (c->n_errors >= MAX_MESSAGES)
				continue; /* the hint would not be shown */
			d = edit_distance(key, *k);
			/* Short keys need a closer match to be worth suggesting. */
			if (d < best && d <= (strlen(*k) >= 5 ? 2 : 1)) {
				best = d;
				hint = *k;
			}
		}
		if (known)
			continue;
		if (hint)
			err(c, path, "unknown key %s (did you mean \"%s\"?)", quote(&q, key), hint);
		else
			err(c, path, "unknown key %s", quote(&q, key));
	}
	return true;
}

static bool want_int(struct ctx *c, const char *path, json_t *v, long long min, long long max,
		     long long *out)
{
	long long x;

	if (!json_is_integer(v)) {
		err(c, path, "must be an integer %lld..%lld, not %s", min, max, jtype(v));
		return false;
	}
	x = json_integer_value(v);
	if (x < min || x > max) {
		err(c, path, "%lld is out of range %lld..%lld", x, min, max);
		return false;
	}
	*out = x;
	return true;
}

static const char *want_str(struct ctx *c, const char *path, json_t *v)
{
	if (!json_is_string(v)) {
		err(c, path, "must be a string, not %s", jtype(v));
		return NULL;
	}
	return json_string_value(v);
}

/* Returns the index of v in names[], or -1 after reporting. */
static int want_enum(struct ctx *c, const char *path, json_t *v, const char *const *names)
{
	char expected[256];
	const char *s = want_str(c, path, v);
	size_t o = 0;
	struct qstr q;
	int n;

	if (!s)
		return -1;
	for (n = 0; names[n]; n++)
		if (!strcmp(s, names[n]))
			return n;
	for (int i = 0; i < n; i++)
		o += snprintf(expected + o, sizeof(expected) - o, "%s\"%s\"",
			      i == 0 ? "" : i == n - 1 ? " or " : ", ", names[i]);
	err(c, path, "unknown value %s (expected %s)", quote(&q, s), expected);
	return -1;
}

/* ASCII only: isalnum() would follow the locale. */
static bool is_alnum(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
}

static bool name_chars_ok(const char *s)
{
	for (; *s; s++)
		if (!is_alnum(*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

/*
 * Unit and service names end up in CLI arguments, Prometheus labels and
 * log lines: a small charset keeps them safe everywhere, and a leading
 * letter or digit keeps a name from being read as a command-line option.
 */
static bool want_name(struct ctx *c, const char *path, json_t *v, char out[CG_NAME_LEN])
{
	const char *s = want_str(c, path, v);
	struct qstr q;
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (len == 0) {
		err(c, path, "must not be empty");
		return false;
	}
	if (len > CG_NAME_LEN - 1) {
		err(c, path, "%s is too long (%zu characters, at most %d)", quote(&q, s), len,
		    CG_NAME_LEN - 1);
		return false;
	}
	if (!name_chars_ok(s)) {
		err(c, path, "%s has a character other than A-Z a-z 0-9 . _ -", quote(&q, s));
		return false;
	}
	if (!is_alnum(s[0])) {
		err(c, path, "%s must start with a letter or a digit", quote(&q, s));
		return false;
	}
	memcpy(out, s, len + 1);
	return true;
}

/* The first unit with this name (binary search: rules may be many). */
static int unit_lookup(const struct ctx *c, const char *name)
{
	int lo = 0, hi = c->n_unit_order;

	while (lo < hi) {
		int mid = lo + (hi - lo) / 2;

		if (strcmp(c->unit_names[c->unit_order[mid]], name) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < c->n_unit_order && !strcmp(c->unit_names[c->unit_order[lo]], name))
		return c->unit_order[lo];
	return -1;
}

static int unit_order_cmp(const void *a, const void *b, void *names)
{
	const char **n = names;
	int x = *(const int *)a, y = *(const int *)b;
	int r = strcmp(n[x], n[y]);

	return r ? r : x - y;
}

/* A reference to a unit by name: its index, or -1 after reporting. */
static int want_unit(struct ctx *c, const char *path, json_t *v)
{
	const char *s = want_str(c, path, v);
	struct qstr q;
	int idx;

	if (!s)
		return -1;
	idx = unit_lookup(c, s);
	if (idx < 0 && !c->units_broken)
		err(c, path, "unknown unit %s", quote(&q, s));
	return idx;
}

static int parse_addr(const char *s, __be32 a[4])
{
	struct in6_addr a6;
	struct in_addr a4;

	memset(a, 0, 4 * sizeof(a[0]));
	if (inet_pton(AF_INET, s, &a4) == 1) {
		a[0] = a4.s_addr;
		return CG_AF_INET;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		memcpy(a, &a6, sizeof(a6));
		return CG_AF_INET6;
	}
	return CG_AF_NONE;
}

/* Why an address can be neither a VIP nor a tunnel destination, or NULL. */
static const char *addr_unusable(int family, const __be32 a[4])
{
	if (family == CG_AF_INET) {
		__u32 h = ntohl(a[0]);

		if (h == 0)
			return "the unspecified address";
		if (h >> 24 == 127)
			return "a loopback address";
		if (h >> 28 == 0xe)
			return "a multicast address";
		if (h == 0xffffffff)
			return "the broadcast address";
		return NULL;
	}
	if (!a[0] && !a[1] && !a[2] && !a[3])
		return "the unspecified address";
	if (!a[0] && !a[1] && !a[2] && a[3] == htonl(1))
		return "the loopback address";
	if ((ntohl(a[0]) >> 24) == 0xff)
		return "a multicast address";
	if (!a[0] && !a[1] && a[2] == htonl(0xffff))
		return "an IPv4-mapped address (write the IPv4 address itself)";
	return NULL;
}

/* An address member: its family (0 after reporting); canon gets inet_ntop text. */
static int want_addr(struct ctx *c, const char *path, json_t *v, __be32 a[4], char canon[64])
{
	const char *s, *why;
	struct qstr q;
	int family;

	if (!json_is_string(v)) {
		err(c, path, "must be an IPv4 or IPv6 address string, not %s", jtype(v));
		return 0;
	}
	s = json_string_value(v);
	family = parse_addr(s, a);
	if (!family) {
		err(c, path, "%s is not an IPv4 or IPv6 address", quote(&q, s));
		return 0;
	}
	why = addr_unusable(family, a);
	if (why) {
		err(c, path, "%s is %s", quote(&q, s), why);
		return 0;
	}
	if (canon)
		inet_ntop(family == CG_AF_INET ? AF_INET : AF_INET6, a, canon, 64);
	return family;
}

/*
 * "address/len" or a bare address (*plen = -1) into a[] and *plen: the
 * family, or CG_AF_NONE when the text is neither.
 */
static int split_prefix(const char *s, __be32 a[4], long *plen)
{
	char buf[64], *slash, *end;

	*plen = -1;
	if (strlen(s) >= sizeof(buf))
		return CG_AF_NONE;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1]) || strlen(slash + 1) > 3)
			return CG_AF_NONE;
		*plen = strtol(slash + 1, &end, 10);
		if (*end)
			return CG_AF_NONE;
	}
	return parse_addr(buf, a);
}

/* The network of a[] under plen bits into net[]; true if a[] had host bits. */
static bool prefix_network(int family, const __be32 a[4], long plen, __be32 net[4])
{
	int words = family == CG_AF_INET ? 1 : 4;
	bool host = false;

	memset(net, 0, 4 * sizeof(net[0]));
	for (int w = 0; w < words; w++) {
		long bits = plen - 32 * w;
		__u32 mask = bits >= 32 ? ~0u : bits <= 0 ? 0 : ~0u << (32 - bits);

		net[w] = htonl(ntohl(a[w]) & mask);
		host |= net[w] != a[w];
	}
	return host;
}

/* "PATH: "198.18.0.1/24" has host bits set (did you mean "198.18.0.0/24"?)" */
static void err_host_bits(struct ctx *c, const char *path, const char *s, int family,
			  const __be32 a[4], long plen)
{
	char t[INET6_ADDRSTRLEN];
	__be32 net[4];
	struct qstr q;

	prefix_network(family, a, plen, net);
	inet_ntop(family == CG_AF_INET ? AF_INET : AF_INET6, net, t, sizeof(t));
	err(c, path, "%s has host bits set (did you mean \"%s/%ld\"?)", quote(&q, s), t, plen);
}

/*
 * An outer source prefix. The dataplane ORs flow-hash bits into the host
 * part (one 32-bit word: cg_gen.src6_hostmask), so IPv6 prefixes must be
 * /96 or longer. A bare address means a single source (/32, /128).
 */
static bool want_prefix(struct ctx *c, const char *path, json_t *v, int family, __be32 a[4],
			int *len)
{
	const char *example = family == CG_AF_INET ? "198.18.250.0/24" : "2001:db8:250::/112";
	int min = family == CG_AF_INET ? 0 : 96;
	int max = family == CG_AF_INET ? 32 : 128;
	__be32 net[4];
	const char *s;
	struct qstr q;
	long plen;
	int fam;

	if (!json_is_string(v)) {
		err(c, path, "must be a prefix string like \"%s\", not %s", example, jtype(v));
		return false;
	}
	s = json_string_value(v);
	fam = split_prefix(s, a, &plen);
	if (!fam)
		goto bad;
	if (fam != family) {
		err(c, path, "%s is an %s prefix; this key takes %s (like \"%s\")", quote(&q, s),
		    fam == CG_AF_INET ? "IPv4" : "IPv6", family == CG_AF_INET ? "IPv4" : "IPv6",
		    example);
		return false;
	}
	if (plen < 0)
		plen = max;
	if (plen < min || plen > max) {
		if (family == CG_AF_INET)
			err(c, path, "prefix length %ld is out of range 0..32", plen);
		else
			err(c, path,
			    "prefix length %ld is out of range 96..128 (only the last 32 bits of the outer IPv6 source vary)",
			    plen);
		return false;
	}
	if (prefix_network(family, a, plen, net)) {
		err_host_bits(c, path, s, family, a, plen);
		return false;
	}
	if (family == CG_AF_INET) {
		if (plen >= 4 && (ntohl(a[0]) >> 28) == 0xe) {
			err(c, path, "%s is a multicast prefix", quote(&q, s));
			return false;
		}
		if (plen >= 8 && (ntohl(a[0]) >> 24) == 127) {
			err(c, path, "%s is a loopback prefix", quote(&q, s));
			return false;
		}
	} else if ((ntohl(a[0]) >> 24) == 0xff) {
		err(c, path, "%s is a multicast prefix", quote(&q, s));
		return false;
	}
	if (plen == max && addr_unusable(family, a)) {
		err(c, path, "%s is %s", quote(&q, s), addr_unusable(family, a));
		return false;
	}
	*len = plen;
	return true;
bad:
	err(c, path, "%s is not an %s prefix like \"%s\"", quote(&q, s),
	    family == CG_AF_INET ? "IPv4" : "IPv6", example);
	return false;
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower((unsigned char)ch);
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

static bool want_mac(struct ctx *c, const char *path, json_t *v, __u8 mac[6])
{
	const char *s = want_str(c, path, v);
	struct qstr q;

	if (!s)
		return false;
	if (strlen(s) != 17)
		goto bad;
	for (int i = 0; i < 6; i++) {
		int hi = hexval(s[3 * i]), lo = hexval(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			goto bad;
		mac[i] = hi << 4 | lo;
	}
	if (mac[0] & 1) {
		err(c, path, "%s is a multicast or broadcast address; a next hop is unicast",
		    quote(&q, s));
		return false;
	}
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		err(c, path, "%s is the all-zero address", quote(&q, s));
		return false;
	}
	return true;
bad:
	err(c, path, "%s is not a MAC address like \"02:00:00:00:00:01\"", quote(&q, s));
	return false;
}

/* The kernel's dev_valid_name(): what `ip link` would accept. */
static bool want_dev(struct ctx *c, const char *path, json_t *v, char out[IF_NAMESIZE])
{
	const char *s = want_str(c, path, v);
	struct qstr q;
	size_t len;

	if (!s)
		return false;
	len = strlen(s);
	if (len == 0) {
		err(c, path, "must not be empty (omit \"dev\" for the gateway's own interface)");
		return false;
	}
	if (len > IF_NAMESIZE - 1) {
		err(c, path, "%s is too long for an interface name (at most %d characters)",
		    quote(&q, s), IF_NAMESIZE - 1);
		return false;
	}
	if (!strcmp(s, ".") || !strcmp(s, ".."))
		goto bad;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = s[i];

		if (ch == '/' || ch == ':' || isspace(ch) || iscntrl(ch))
			goto bad;
	}
	memcpy(out, s, len + 1);
	return true;
bad:
	err(c, path, "%s is not a valid interface name", quote(&q, s));
	return false;
}

static const char *const top_keys[] = { "version", "seed", "encap", "local_unit", "units",
					"services", NULL };
static const char *const encap_keys[] = { "source4", "source6", NULL };
static const char *const unit_keys[] = { "name", "role", "standby", "weight", "endpoints", NULL };
static const char *const ep_keys[] = { "address", "dev", "mac", "via", "weight", "mtu", NULL };
static const char *const svc_keys[] = { "name",	 "vip",	   "port",	 "proto",
					"kind",	 "key",	   "modulo",	 "rules",
					"ratios", "canary", "pins", "fragments",
					"flow_table", "udp_new_flow", NULL };
static const char *const key_keys[] = { "source", "offset", "size", "missing", NULL };
static const char *const rule_keys[] = { "buckets", "unit", NULL };
static const char *const core_only_keys[] = { "key", "modulo", "rules", "ratios", "canary",
					     "pins", NULL };
static const char *const canary_keys[] = { "unit", "percent", NULL };
static const char *const pin_keys[] = { "prefix", "unit", NULL };

static const char *const role_names[] = { [CG_ROLE_NORMAL] = "normal",
					  [CG_ROLE_CENTRAL] = "central", NULL };
static const char *const kind_names[] = { [CG_KIND_CORE] = "core", [CG_KIND_GLOBAL] = "global",
					  [CG_KIND_SHARED] = "shared", NULL };
static const char *const source_names[] = { [CG_KEY_FLOW] = "flow", [CG_KEY_CLIENT] = "client",
					    [CG_KEY_PAYLOAD] = "payload", NULL };
static const char *const missing_names[] = { [CG_MISSING_FLOW] = "flow",
					     [CG_MISSING_REJECT] = "reject",
					     [CG_MISSING_CENTRAL] = "central", NULL };
static const char *const proto_names[] = { "tcp", "udp", NULL };
static const char *const frag_names[] = { "pass", "l3", NULL };
static const char *const flow_table_names[] = { "transitions", "full", NULL };
static const char *const udp_new_names[] = { "first_packet", "never", NULL };

static void parse_endpoint(struct ctx *c, const char *path, json_t *v, struct cg_cfg_endpoint *e)
{
	char p[PATH_LEN];
	long long x;
	json_t *m;

	e->weight = 1;
	e->mtu = 1500;
	if (!check_object(c, path, v, ep_keys))
		return;

	m = json_object_get(v, "address");
	if (!m)
		err(c, pkey(p, path, "address"), "missing (the tunnel destination)");
	else
		e->family = want_addr(c, pkey(p, path, "address"), m, e->addr, e->address);

	m = json_object_get(v, "dev");
	if (m)
		want_dev(c, pkey(p, path, "dev"), m, e->dev);

	m = json_object_get(v, "mac");
	if (m)
		e->has_mac = want_mac(c, pkey(p, path, "mac"), m, e->mac);

	m = json_object_get(v, "via");
	if (m) {
		int fam = want_addr(c, pkey(p, path, "via"), m, e->via, NULL);

		if (fam && e->family && fam != e->family) {
			struct qstr q;

			err(c, p, "%s is %s but the address is %s; the next hop must be of the same family",
			    quote(&q, json_string_value(m)), fam == CG_AF_INET ? "IPv4" : "IPv6",
			    e->family == CG_AF_INET ? "IPv4" : "IPv6");
		} else if (fam) {
			e->has_via = true;
		}
	}

	m = json_object_get(v, "weight");
	if (m && want_int(c, pkey(p, path, "weight"), m, 1, CG_CFG_MAX_WEIGHT, &x))
		e->weight = x;

	m = json_object_get(v, "mtu");
	if (m && want_int(c, pkey(p, path, "mtu"), m, 576, 65535, &x)) {
		if (e->family == CG_AF_INET6 && x < 1280)
			err(c, p, "%lld is below 1280, the minimum MTU of an IPv6 link (RFC 8200)", x);
		else
			e->mtu = x;
	}
}

static void parse_unit(struct ctx *c, size_t i, json_t *v)
{
	struct cg_config *cfg = c->cfg;
	struct cg_cfg_unit *u = &cfg->units[i];
	char path[PATH_LEN], p[PATH_LEN], ep[PATH_LEN];
	struct qstr q;
	long long x;
	json_t *m;
	int r;

	u->role = CG_ROLE_NORMAL;
	u->standby = -1;
	u->weight = 1;
	pidx(path, "units", i);
	if (!check_object(c, path, v, unit_keys))
		return;

	m = json_object_get(v, "name");
	if (!m) {
		err(c, pkey(p, path, "name"), "missing");
	} else if (want_name(c, pkey(p, path, "name"), m, u->name)) {
		for (size_t j = 0; j < i; j++) {
			if (c->unit_names[j] && !strcmp(c->unit_names[j], u->name)) {
				err(c, p, "%s is already the name of units[%zu]", quote(&q, u->name), j);
				break;
			}
		}
	}

	m = json_object_get(v, "role");
	if (m) {
		r = want_enum(c, pkey(p, path, "role"), m, role_names);
		if (r < 0) {
			c->role_broken = true;
		} else if (r == CG_ROLE_CENTRAL && cfg->central_unit >= 0) {
			err(c, p, "only one unit may be central, and units[%d] already is",
			    cfg->central_unit);
		} else {
			u->role = r;
			if (r == CG_ROLE_CENTRAL)
				cfg->central_unit = i;
		}
	}

	m = json_object_get(v, "standby");
	if (m) {
		r = want_unit(c, pkey(p, path, "standby"), m);
		if (r >= 0 && (size_t)r == i)
			err(c, p, "a unit cannot be its own standby");
		else if (r >= 0)
			u->standby = r;
	}

	m = json_object_get(v, "weight");
	if (m && want_int(c, pkey(p, path, "weight"), m, 1, CG_CFG_MAX_WEIGHT, &x))
		u->weight = x;

	pkey(p, path, "endpoints");
	m = json_object_get(v, "endpoints");
	if (!m) {
		err(c, p, "missing; a unit needs at least one endpoint");
		return;
	}
	if (!json_is_array(m)) {
		err(c, p, "must be an array of endpoints, not %s", jtype(m));
		return;
	}
	if (json_array_size(m) == 0) {
		err(c, p, "must list at least one endpoint");
		return;
	}
	if (c->too_many_endpoints)
		return;
	u->endpoints = calloc(json_array_size(m), sizeof(*u->endpoints));
	if (!u->endpoints) {
		oom(c, p);
		return;
	}
	u->n_endpoints = json_array_size(m);
	for (int k = 0; k < u->n_endpoints; k++) {
		struct cg_cfg_endpoint *e = &u->endpoints[k];

		parse_endpoint(c, pidx(ep, p, k), json_array_get(m, k), e);
		if (!e->family)
			continue;
		for (int j = 0; j < k; j++) {
			struct cg_cfg_endpoint *o = &u->endpoints[j];

			if (o->family == e->family && !memcmp(o->addr, e->addr, sizeof(e->addr))) {
				char ap[PATH_LEN];

				err(c, pkey(ap, ep, "address"), "%s is already the address of %s[%d]",
				    e->address, p, j);
				break;
			}
		}
	}
}

static void parse_units(struct ctx *c, json_t *v)
{
	struct cg_config *cfg = c->cfg;
	size_t n, total = 0;

	if (!v) {
		err(c, "units", "missing; at least one unit is required");
		c->units_broken = true;
		return;
	}
	if (!json_is_array(v)) {
		err(c, "units", "must be an array of units, not %s", jtype(v));
		c->units_broken = true;
		return;
	}
	n = json_array_size(v);
	if (n == 0) {
		err(c, "units", "must list at least one unit");
		c->units_broken = true;
		return;
	}
	/* Beyond the limit the list is not read: its checks would be
	 * quadratic in a size that is wrong anyway. */
	if (n > CG_MAX_UNITS) {
		err(c, "units", "%zu units, at most %d (CG_MAX_UNITS)", n, CG_MAX_UNITS);
		c->units_broken = true;
		return;
	}

	cfg->units = calloc(n, sizeof(*cfg->units));
	c->unit_names = calloc(n, sizeof(*c->unit_names));
	c->unit_order = calloc(n, sizeof(*c->unit_order));
	if (!cfg->units || !c->unit_names || !c->unit_order) {
		oom(c, "units");
		c->units_broken = true;
		return;
	}
	cfg->n_units = n;
	c->n_unit_names = n;
	/* Names first: a standby may name a unit listed after it. */
	for (size_t i = 0; i < n; i++) {
		json_t *u = json_array_get(v, i);
		json_t *name = json_object_get(u, "name");
		json_t *eps = json_object_get(u, "endpoints");

		if (json_is_string(name)) {
			c->unit_names[i] = json_string_value(name);
			c->unit_order[c->n_unit_order++] = i;
		}
		if (json_is_array(eps))
			total += json_array_size(eps);
	}
	qsort_r(c->unit_order, c->n_unit_order, sizeof(*c->unit_order), unit_order_cmp,
		c->unit_names);
	/* Too many: report the count, and skip reading each one (quadratic). */
	if (total > CG_MAX_ENDPOINTS) {
		err(c, "units", "%zu endpoints in total, at most %d (CG_MAX_ENDPOINTS)", total,
		    CG_MAX_ENDPOINTS);
		c->too_many_endpoints = true;
	}
	for (size_t i = 0; i < n; i++)
		parse_unit(c, i, json_array_get(v, i));
}

static void parse_encap(struct ctx *c, json_t *v)
{
	struct cg_config *cfg = c->cfg;
	char p[PATH_LEN];
	json_t *m;

	if (!v)
		return;
	if (!check_object(c, "encap", v, encap_keys)) {
		c->src4_broken = c->src6_broken = true;
		return;
	}
	m = json_object_get(v, "source4");
	if (m) {
		__be32 a[4]; /* want_prefix writes a full address; src4 is one word */

		cfg->has_src4 = want_prefix(c, pkey(p, "encap", "source4"), m, CG_AF_INET, a,
					    &cfg->src4_len);
		if (cfg->has_src4)
			cfg->src4 = a[0];
		c->src4_broken = !cfg->has_src4;
	}
	m = json_object_get(v, "source6");
	if (m) {
		cfg->has_src6 = want_prefix(c, pkey(p, "encap", "source6"), m, CG_AF_INET6, cfg->src6,
					    &cfg->src6_len);
		c->src6_broken = !cfg->has_src6;
	}
}

/* Each endpoint family needs its outer source prefix. */
static void check_encap_needed(struct ctx *c)
{
	const struct cg_config *cfg = c->cfg;
	bool need4 = !cfg->has_src4 && !c->src4_broken;
	bool need6 = !cfg->has_src6 && !c->src6_broken;

	for (int i = 0; i < cfg->n_units && (need4 || need6); i++) {
		const struct cg_cfg_unit *u = &cfg->units[i];

		for (int k = 0; k < u->n_endpoints && (need4 || need6); k++) {
			const struct cg_cfg_endpoint *e = &u->endpoints[k];

			if (need4 && e->family == CG_AF_INET) {
				err(c, "encap.source4",
				    "missing; units[%d].endpoints[%d] (%s) is IPv4 and needs an outer IPv4 source prefix",
				    i, k, e->address);
				need4 = false;
			}
			if (need6 && e->family == CG_AF_INET6) {
				err(c, "encap.source6",
				    "missing; units[%d].endpoints[%d] (%s) is IPv6 and needs an outer IPv6 source prefix",
				    i, k, e->address);
				need6 = false;
			}
		}
	}
}

/* A rule as read, with its position in the file for messages. */
struct raw_rule {
	unsigned long long first;
	unsigned long long last;
	int unit;
	int idx;
};

static int raw_rule_cmp(const void *a, const void *b)
{
	const struct raw_rule *x = a, *y = b;

	if (x->first != y->first)
		return x->first < y->first ? -1 : 1;
	return x->idx - y->idx;
}

/* "bucket 17" or "range 0-4999"; bare = without the word. */
static const char *fmt_range(char *buf, size_t sz, unsigned long long a, unsigned long long b,
			     bool bare)
{
	if (a == b)
		snprintf(buf, sz, "%s%llu", bare ? "" : "bucket ", a);
	else
		snprintf(buf, sz, "%s%llu-%llu", bare ? "" : "range ", a, b);
	return buf;
}

/* "17" or "0-4999", decimal; the JSON integer 17 is accepted too. */
static bool parse_buckets(json_t *v, unsigned long long *first, unsigned long long *last)
{
	const char *s;
	char *end;

	if (json_is_integer(v)) {
		if (json_integer_value(v) < 0)
			return false;
		*first = *last = json_integer_value(v);
		return true;
	}
	s = json_string_value(v);
	if (!s || !isdigit((unsigned char)s[0]))
		return false;
	/* strtoull saturates at ULLONG_MAX: then it is simply out of range. */
	*first = strtoull(s, &end, 10);
	if (*end == '\0') {
		*last = *first;
		return true;
	}
	if (*end != '-' || !isdigit((unsigned char)end[1]))
		return false;
	*last = strtoull(end + 1, &end, 10);
	return *end == '\0';
}

static void parse_rules(struct ctx *c, const char *path, json_t *v, __u32 modulo, bool modulo_ok,
			struct cg_cfg_service *s)
{
	struct raw_rule *rr;
	bool all_ok = true;
	char p[PATH_LEN], rp[PATH_LEN], b1[64], b2[64];
	unsigned long long next;
	size_t n, nr = 0;

	if (!json_is_array(v)) {
		err(c, path, "must be an array of {\"buckets\", \"unit\"} rules, not %s", jtype(v));
		return;
	}
	n = json_array_size(v);
	if (n == 0) {
		err(c, path, "must not be empty; every bucket needs a unit");
		return;
	}
	/* Non-empty ranges that do not overlap: at most one rule per bucket. */
	if (n > (modulo_ok ? modulo : CG_MAX_MODULO)) {
		err(c, path, "%zu rules but only %u buckets, so some overlap or are empty", n,
		    modulo_ok ? modulo : CG_MAX_MODULO);
		return;
	}
	rr = calloc(n, sizeof(*rr));
	if (!rr) {
		oom(c, path);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *r = json_array_get(v, i), *m;
		unsigned long long a = 0, b = 0;
		bool ok = true;
		int unit = -1;

		pidx(rp, path, i);
		if (!check_object(c, rp, r, rule_keys)) {
			all_ok = false;
			continue;
		}
		m = json_object_get(r, "buckets");
		if (!m) {
			err(c, pkey(p, rp, "buckets"), "missing");
			ok = false;
		} else if (!parse_buckets(m, &a, &b)) {
			struct qstr q;

			if (json_is_string(m))
				err(c, pkey(p, rp, "buckets"),
				    "%s is not a bucket or a range like \"0-4999\"",
				    quote(&q, json_string_value(m)));
			else if (json_is_integer(m))
				err(c, pkey(p, rp, "buckets"), "%lld is not a bucket",
				    (long long)json_integer_value(m));
			else
				err(c, pkey(p, rp, "buckets"),
				    "must be a bucket or a range string like \"0-4999\", not %s",
				    jtype(m));
			ok = false;
		} else if (a > UINT32_MAX || b > UINT32_MAX) {
			/* Shown as written: strtoull saturates, the file need not. */
			__u32 top = (modulo_ok ? modulo : CG_MAX_MODULO) - 1;
			struct qstr q;

			if (json_is_string(m))
				err(c, rp, "%s is outside 0-%u", quote(&q, json_string_value(m)), top);
			else
				err(c, rp, "bucket %llu is outside 0-%u", a, top);
			ok = false;
		} else {
			if (a > b) {
				err(c, rp, "range %llu-%llu is empty", a, b);
				ok = false;
			}
			if (modulo_ok && (a >= modulo || b >= modulo)) {
				err(c, rp, "%s is outside 0-%u (modulo %u)",
				    fmt_range(b1, sizeof(b1), a, b, false), modulo - 1, modulo);
				ok = false;
			}
		}
		m = json_object_get(r, "unit");
		if (!m) {
			err(c, pkey(p, rp, "unit"), "missing");
			ok = false;
		} else {
			unit = want_unit(c, pkey(p, rp, "unit"), m);
			ok = ok && unit >= 0;
		}
		if (!ok) {
			all_ok = false;
			continue;
		}
		rr[nr++] = (struct raw_rule){ .first = a, .last = b, .unit = unit, .idx = i };
	}

	qsort(rr, nr, sizeof(*rr), raw_rule_cmp);
	/* Overlaps between well-formed rules are real whatever else is wrong. */
	for (size_t i = 1, widest = 0; i < nr; i++) {
		if (rr[i].first <= rr[widest].last) {
			err(c, pidx(rp, path, rr[i].idx), "%s overlaps %s[%d] (%s)",
			    fmt_range(b1, sizeof(b1), rr[i].first, rr[i].last, false), path,
			    rr[widest].idx,
			    fmt_range(b2, sizeof(b2), rr[widest].first, rr[widest].last, true));
			all_ok = false;
		}
		if (rr[i].last > rr[widest].last)
			widest = i;
	}
	/* A gap is only meaningful when every rule could be read. */
	if (!all_ok || !modulo_ok) {
		free(rr);
		return;
	}
	next = 0;
	for (size_t i = 0; i < nr; i++) {
		if (rr[i].first > next)
			break;
		if (rr[i].last + 1 > next)
			next = rr[i].last + 1;
	}
	if (next < modulo) {
		unsigned long long end = modulo - 1;

		for (size_t i = 0; i < nr; i++) {
			if (rr[i].first > next) {
				end = rr[i].first - 1;
				break;
			}
		}
		if (next == end)
			err(c, path, "bucket %llu is not assigned", next);
		else
			err(c, path, "buckets %llu-%llu are not assigned", next, end);
		free(rr);
		return;
	}
	s->rules = calloc(nr, sizeof(*s->rules));
	if (!s->rules) {
		oom(c, path);
		free(rr);
		return;
	}
	for (size_t i = 0; i < nr; i++)
		s->rules[i] = (struct cg_cfg_rule){ .first = rr[i].first, .last = rr[i].last,
						    .unit = rr[i].unit };
	s->n_rules = nr;
	free(rr);
}

/*
 * Ratios become contiguous ranges in the order units are listed: each unit
 * gets floor(modulo * pct / 100) buckets, and the buckets left over go one
 * each to the largest fractional remainders (ties: the earlier unit), so
 * every share is within one bucket of exact.
 */
static int ratios_to_rules(struct ctx *c, const char *path, const int *pct, __u32 modulo,
			   struct cg_cfg_service *s)
{
	int n_units = c->cfg->n_units;
	__u32 *count = calloc(n_units, sizeof(*count));
	int *rem = calloc(n_units, sizeof(*rem));
	__u32 assigned = 0, first = 0;
	int nr = 0;

	if (!count || !rem)
		goto nomem;
	for (int i = 0; i < n_units; i++) {
		count[i] = (__u64)modulo * pct[i] / 100;
		rem[i] = (__u64)modulo * pct[i] % 100;
		assigned += count[i];
	}
	/* The remainders sum to 100 * (modulo - assigned), each below 100,
	 * so there are always enough of them. */
	for (__u32 left = modulo - assigned; left; left--) {
		int best = -1;

		for (int i = 0; i < n_units; i++)
			if (rem[i] > 0 && (best < 0 || rem[i] > rem[best]))
				best = i;
		if (best < 0)
			break;
		count[best]++;
		rem[best] = 0;
	}
	for (int i = 0; i < n_units; i++)
		nr += count[i] > 0;
	s->rules = calloc(nr, sizeof(*s->rules));
	if (!s->rules)
		goto nomem;
	for (int i = 0; i < n_units; i++) {
		if (!count[i])
			continue;
		s->rules[s->n_rules++] = (struct cg_cfg_rule){ .first = first,
							       .last = first + count[i] - 1,
							       .unit = i };
		first += count[i];
	}
	free(count);
	free(rem);
	return 0;
nomem:
	free(count);
	free(rem);
	oom(c, path);
	return -1;
}

static void parse_ratios(struct ctx *c, const char *path, json_t *v, __u32 modulo, bool modulo_ok,
			 struct cg_cfg_service *s)
{
	bool values_ok = true, units_ok = true;
	const char *key;
	long long sum = 0;
	json_t *val;
	int *pct;

	if (!json_is_object(v)) {
		err(c, path, "must be an object of unit name: percentage, not %s", jtype(v));
		return;
	}
	if (json_object_size(v) == 0) {
		err(c, path, "must give at least one unit a percentage");
		return;
	}
	pct = calloc(c->cfg->n_units ? c->cfg->n_units : 1, sizeof(*pct));
	if (!pct) {
		oom(c, path);
		return;
	}
	json_object_foreach(v, key, val) {
		char p[PATH_LEN];
		struct qstr q;
		long long x;
		int idx = unit_lookup(c, key);

		if (idx < 0) {
			if (!c->units_broken)
				err(c, path, "unknown unit %s", quote(&q, key));
			units_ok = false;
		}
		/* A key that is not a plausible name is shown quoted. */
		if (key[0] && strlen(key) < CG_NAME_LEN && name_chars_ok(key))
			pkey(p, path, key);
		else
			pathf(p, "%s[%s]", path, quote(&q, key));
		if (!want_int(c, p, val, 0, 100, &x)) {
			values_ok = false;
			continue;
		}
		sum += x;
		if (idx >= 0)
			pct[idx] = x;
	}
	if (values_ok && sum != 100) {
		err(c, path, "sum to %lld, must be 100", sum);
		values_ok = false;
	}
	if (values_ok && units_ok && modulo_ok)
		ratios_to_rules(c, path, pct, modulo, s);
	free(pct);
}

/*
 * "canary": {"unit": NAME, "percent": P}. P is kept in basis points (the
 * builder's unit, 0.01 %), so more than two decimals would be silently
 * rounded: refused instead.
 */
static void parse_canary(struct ctx *c, const char *path, json_t *v, struct cg_cfg_service *s)
{
	char p[PATH_LEN];
	long long bp = -1;
	int unit = -1;
	json_t *m;

	if (!check_object(c, path, v, canary_keys))
		return;
	m = json_object_get(v, "unit");
	if (!m)
		err(c, pkey(p, path, "unit"), "missing (the unit that takes the canary share)");
	else
		unit = want_unit(c, pkey(p, path, "unit"), m);

	pkey(p, path, "percent");
	m = json_object_get(v, "percent");
	if (!m) {
		err(c, p, "missing (the share of the service's buckets, 0..100, up to two decimals)");
	} else if (json_is_integer(m)) {
		long long x;

		if (want_int(c, p, m, 0, 100, &x))
			bp = x * 100;
	} else if (json_is_real(m)) {
		double x = json_real_value(m), y = x * 100.0;

		if (x < 0 || x > 100)
			err(c, p, "%.10g is out of range 0..100", x);
		else if (fabs(y - llround(y)) > 1e-6)
			err(c, p, "%.10g has more than two decimals (the canary share is kept in steps of 0.01 %%)",
			    x);
		else
			bp = llround(y);
	} else {
		err(c, p, "must be a number 0..100 (a percentage, up to two decimals), not %s",
		    jtype(m));
	}
	if (unit >= 0 && bp >= 0) {
		s->canary_unit = unit;
		s->canary_bp = bp;
	}
}

#define PIN_EXAMPLE "like \"198.18.0.0/24\" or \"2001:db8:5::/48\""

/* A client prefix of a pin: any length, host bits zero, the VIP's family. */
static bool want_pin_prefix(struct ctx *c, const char *path, json_t *v, int svc_family,
			    bool vip_ok, struct cg_cfg_pin *pin)
{
	__be32 a[4], net[4];
	const char *s;
	struct qstr q;
	long plen;
	int fam, max;

	if (!json_is_string(v)) {
		err(c, path, "must be a prefix string " PIN_EXAMPLE ", not %s", jtype(v));
		return false;
	}
	s = json_string_value(v);
	fam = split_prefix(s, a, &plen);
	if (!fam) {
		err(c, path, "%s is not an IPv4 or IPv6 prefix " PIN_EXAMPLE, quote(&q, s));
		return false;
	}
	max = fam == CG_AF_INET ? 32 : 128;
	if (plen < 0)
		plen = max;
	if (plen > max) {
		err(c, path, "prefix length %ld is out of range 0..%d", plen, max);
		return false;
	}
	if (prefix_network(fam, a, plen, net)) {
		err_host_bits(c, path, s, fam, a, plen);
		return false;
	}
	/* a pin matches the client's source address, of the VIP's family */
	if (vip_ok && fam != svc_family) {
		err(c, path, "%s is an %s prefix but the VIP is %s, so no client of this service could match it",
		    quote(&q, s), fam == CG_AF_INET ? "IPv4" : "IPv6",
		    svc_family == CG_AF_INET ? "IPv4" : "IPv6");
		return false;
	}
	pin->family = fam;
	memcpy(pin->addr, a, sizeof(pin->addr));
	pin->prefix_len = plen;
	return true;
}

/* Pin indexes sorted by (family, length, address, position): repeats are adjacent. */
static int pin_order_cmp(const void *a, const void *b, void *arg)
{
	const struct cg_cfg_pin *pins = arg;
	int x = *(const int *)a, y = *(const int *)b;
	const struct cg_cfg_pin *px = &pins[x], *py = &pins[y];
	int r;

	if (px->family != py->family)
		return px->family - py->family;
	if (px->prefix_len != py->prefix_len)
		return px->prefix_len - py->prefix_len;
	r = memcmp(px->addr, py->addr, sizeof(px->addr));
	return r ? r : x - y;
}

/* "pins": [{"prefix": P, "unit": NAME}, ...]: clients in P go to the unit. */
static void parse_pins(struct ctx *c, const char *path, json_t *v, struct cg_cfg_service *s,
		       bool vip_ok)
{
	char p[PATH_LEN], pp[PATH_LEN];
	int *pos = NULL, *order = NULL, np = 0;
	struct cg_cfg_pin *pins;
	size_t n;

	if (!json_is_array(v)) {
		err(c, path, "must be an array of {\"prefix\", \"unit\"} pins, not %s", jtype(v));
		return;
	}
	n = json_array_size(v);
	if (n == 0)
		return;
	if (n > CG_MAX_PINS) {
		err(c, path, "%zu pins, at most %d (CG_MAX_PINS)", n, CG_MAX_PINS);
		return;
	}
	pins = calloc(n, sizeof(*pins));
	pos = calloc(n, sizeof(*pos));
	order = calloc(n, sizeof(*order));
	if (!pins || !pos || !order) {
		free(pins);
		oom(c, path);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *pv = json_array_get(v, i), *m;
		struct cg_cfg_pin pin = { .unit = -1 };
		bool ok;

		pidx(pp, path, i);
		if (!check_object(c, pp, pv, pin_keys))
			continue;
		m = json_object_get(pv, "prefix");
		if (!m) {
			err(c, pkey(p, pp, "prefix"), "missing (a client prefix " PIN_EXAMPLE ")");
			ok = false;
		} else {
			ok = want_pin_prefix(c, pkey(p, pp, "prefix"), m, s->family, vip_ok, &pin);
		}
		m = json_object_get(pv, "unit");
		if (!m) {
			err(c, pkey(p, pp, "unit"), "missing");
			ok = false;
		} else {
			pin.unit = want_unit(c, pkey(p, pp, "unit"), m);
			ok = ok && pin.unit >= 0;
		}
		if (!ok)
			continue;
		pos[np] = i;
		order[np] = np;
		pins[np++] = pin;
	}
	/* one prefix, one unit: a repeat would leave the winner to chance */
	qsort_r(order, np, sizeof(*order), pin_order_cmp, pins);
	for (int k = 1; k < np; k++) {
		const struct cg_cfg_pin *a = &pins[order[k - 1]], *b = &pins[order[k]];
		char t[INET6_ADDRSTRLEN];

		if (a->family != b->family || a->prefix_len != b->prefix_len ||
		    memcmp(a->addr, b->addr, sizeof(a->addr)))
			continue;
		inet_ntop(b->family == CG_AF_INET ? AF_INET : AF_INET6, b->addr, t, sizeof(t));
		pidx(pp, path, pos[order[k]]);
		err(c, pkey(p, pp, "prefix"), "%s/%d is already pinned by %s[%d]", t, b->prefix_len,
		    path, pos[order[k - 1]]);
	}
	s->pins = pins;
	s->n_pins = np;
out:
	free(pos);
	free(order);
}

static void parse_key(struct ctx *c, const char *path, json_t *v, struct cg_cfg_service *s,
		      bool proto_ok)
{
	char p[PATH_LEN];
	long long x;
	json_t *m;
	int src = CG_KEY_FLOW;

	if (!check_object(c, path, v, key_keys))
		return;
	m = json_object_get(v, "source");
	if (m) {
		src = want_enum(c, pkey(p, path, "source"), m, source_names);
		if (src < 0)
			return; /* offset/size/missing depend on it */
		/*
		 * A stateless gateway picks a TCP connection's unit on its SYN,
		 * which carries no payload: the key would only be seen after the
		 * connection was already placed, and placed elsewhere.
		 */
		if (src == CG_KEY_PAYLOAD && proto_ok && s->proto == IPPROTO_TCP) {
			err(c, p,
			    "\"payload\" needs \"proto\": \"udp\" (a TCP SYN carries no payload, so the connection would be placed before its key is seen)");
			return;
		}
		s->key_source = src;
	}
	m = json_object_get(v, "offset");
	if (m) {
		if (src != CG_KEY_PAYLOAD)
			err(c, pkey(p, path, "offset"), "only for \"source\": \"payload\"");
		else if (want_int(c, pkey(p, path, "offset"), m, 0, CG_MAX_KEY_OFFSET, &x))
			s->key_offset = x;
	}
	m = json_object_get(v, "size");
	if (m) {
		if (src != CG_KEY_PAYLOAD) {
			err(c, pkey(p, path, "size"), "only for \"source\": \"payload\"");
		} else if (want_int(c, pkey(p, path, "size"), m, 1, 8, &x)) {
			if (x != 1 && x != 2 && x != 4 && x != 8)
				err(c, p, "%lld is not 1, 2, 4 or 8 (bytes of the key)", x);
			else
				s->key_size = x;
		}
	} else if (src == CG_KEY_PAYLOAD) {
		err(c, pkey(p, path, "size"),
		    "missing; a payload key needs its size in bytes (1, 2, 4 or 8)");
	}
	m = json_object_get(v, "missing");
	if (m) {
		int r;

		if (src != CG_KEY_PAYLOAD) {
			err(c, pkey(p, path, "missing"),
			    "only for \"source\": \"payload\" (flow and client keys are never missing)");
			return;
		}
		r = want_enum(c, pkey(p, path, "missing"), m, missing_names);
		if (r == CG_MISSING_CENTRAL && c->cfg->central_unit < 0 && !c->role_broken)
			err(c, p, "\"central\" needs a central unit (a unit with \"role\": \"central\")");
		else if (r >= 0)
			s->key_missing = r;
	}
}

/* What was read correctly, for checks across members and services. */
struct svc_state {
	bool vip_ok;
	bool port_ok;
	bool proto_ok;
};

static void parse_service(struct ctx *c, size_t i, json_t *v, struct cg_cfg_service *s,
			  struct svc_state *st)
{
	const struct cg_config *cfg = c->cfg;
	char path[PATH_LEN], p[PATH_LEN];
	bool modulo_ok = true;
	json_t *m, *rules, *ratios;
	struct qstr q;
	long long x;
	int kind = CG_KIND_CORE, r;

	s->kind = CG_KIND_CORE;
	s->key_source = CG_KEY_FLOW;
	s->key_missing = CG_MISSING_FLOW;
	s->modulo = CG_DEFAULT_MODULO;
	s->canary_unit = -1;
	pidx(path, "services", i);
	if (!check_object(c, path, v, svc_keys))
		return;

	m = json_object_get(v, "name");
	if (!m) {
		err(c, pkey(p, path, "name"), "missing");
	} else if (want_name(c, pkey(p, path, "name"), m, s->name)) {
		for (size_t j = 0; j < i; j++) {
			if (c->svc_names[j] && !strcmp(c->svc_names[j], s->name)) {
				err(c, p, "%s is already the name of services[%zu]", quote(&q, s->name),
				    j);
				break;
			}
		}
	}
	if (json_is_string(m))
		c->svc_names[i] = json_string_value(m);

	m = json_object_get(v, "vip");
	if (!m) {
		err(c, pkey(p, path, "vip"), "missing");
	} else {
		s->family = want_addr(c, pkey(p, path, "vip"), m, s->vip, NULL);
		st->vip_ok = s->family != 0;
	}

	pkey(p, path, "port");
	m = json_object_get(v, "port");
	if (!m) {
		err(c, p, "missing (a port 1..65535, or \"*\" for every port of the VIP)");
	} else if (json_is_string(m) && !strcmp(json_string_value(m), "*")) {
		s->port = 0;
		st->port_ok = true;
	} else if (json_is_integer(m) && json_integer_value(m) == 0) {
		err(c, p, "0 is not a port; write \"*\" for every port of the VIP");
	} else if (json_is_integer(m)) {
		st->port_ok = want_int(c, p, m, 1, 65535, &x);
		if (st->port_ok)
			s->port = x;
	} else if (json_is_string(m)) {
		err(c, p, "%s is not a port; write the number without quotes, or \"*\" for every port",
		    quote(&q, json_string_value(m)));
	} else {
		err(c, p, "must be a port 1..65535 or \"*\", not %s", jtype(m));
	}

	m = json_object_get(v, "proto");
	if (!m) {
		err(c, pkey(p, path, "proto"), "missing (\"tcp\" or \"udp\")");
	} else {
		r = want_enum(c, pkey(p, path, "proto"), m, proto_names);
		if (r >= 0) {
			s->proto = r == 0 ? IPPROTO_TCP : IPPROTO_UDP;
			st->proto_ok = true;
		}
	}

	m = json_object_get(v, "kind");
	if (m) {
		kind = want_enum(c, pkey(p, path, "kind"), m, kind_names);
		if (kind >= 0)
			s->kind = kind;
	}
	if (kind == CG_KIND_GLOBAL || kind == CG_KIND_SHARED) {
		if (cfg->central_unit < 0 && !c->role_broken)
			err(c, p,
			    "a %s service needs a central unit (give one unit \"role\": \"central\")",
			    kind_names[kind]);
		if (kind == CG_KIND_SHARED && cfg->local_unit < 0 && !c->local_given)
			err(c, p,
			    "a shared service needs \"local_unit\" (the gateway's own unit, which serves its reads)");
	}

	/* Only core services are sharded: the rest has no key and no buckets. */
	if (kind > CG_KIND_CORE) {
		static const char *const why[] = {
			[CG_KIND_GLOBAL] = "a global service is always served by the central unit",
			[CG_KIND_SHARED] =
				"a shared service is served by the local unit (reads) and the central unit (writes)",
		};

		for (const char *const *k = core_only_keys; *k; k++)
			if (json_object_get(v, *k))
				err(c, pkey(p, path, *k), "not allowed: %s", why[kind]);
	}
	/* An invalid kind is read as core, so the sharding members' own
	 * errors are found in the same pass. */
	if (kind == CG_KIND_CORE || kind < 0) {
		m = json_object_get(v, "key");
		if (m)
			parse_key(c, pkey(p, path, "key"), m, s, st->proto_ok);

		m = json_object_get(v, "modulo");
		if (m) {
			modulo_ok = want_int(c, pkey(p, path, "modulo"), m, 1, CG_MAX_MODULO, &x);
			if (modulo_ok)
				s->modulo = x;
		}

		rules = json_object_get(v, "rules");
		ratios = json_object_get(v, "ratios");
		if (rules && ratios)
			err(c, path, "has both \"rules\" and \"ratios\"; give exactly one");
		else if (rules)
			parse_rules(c, pkey(p, path, "rules"), rules, s->modulo, modulo_ok, s);
		else if (ratios)
			parse_ratios(c, pkey(p, path, "ratios"), ratios, s->modulo, modulo_ok, s);
		else if (kind == CG_KIND_CORE)
			err(c, path, "a core service needs \"rules\" or \"ratios\"");

		m = json_object_get(v, "canary");
		if (m)
			parse_canary(c, pkey(p, path, "canary"), m, s);
		m = json_object_get(v, "pins");
		if (m)
			parse_pins(c, pkey(p, path, "pins"), m, s, st->vip_ok);
	}

	m = json_object_get(v, "fragments");
	if (m) {
		r = want_enum(c, pkey(p, path, "fragments"), m, frag_names);
		if (r == 1 && st->port_ok && s->port != 0)
			err(c, p,
			    "\"l3\" needs \"port\": \"*\" (non-first fragments carry no port, so only a service for every port of the VIP can steer them)");
		else if (r == 1)
			s->flags |= CG_SVC_F_FRAG_L3;
	}

	m = json_object_get(v, "flow_table");
	if (m) {
		r = want_enum(c, pkey(p, path, "flow_table"), m, flow_table_names);
		if (r == 1)
			s->flags |= CG_SVC_F_FULL_FLOWS;
	}

	/* A UDP flow has no SYN: by default its first packet counts as new. */
	if (st->proto_ok && s->proto == IPPROTO_UDP)
		s->flags |= CG_SVC_F_UDP_MISS_NEW;
	m = json_object_get(v, "udp_new_flow");
	if (m) {
		pkey(p, path, "udp_new_flow");
		if (st->proto_ok && s->proto == IPPROTO_TCP) {
			err(c, p, "only for UDP services (a TCP flow is new when it starts with a SYN)");
		} else {
			r = want_enum(c, p, m, udp_new_names);
			if (r == 1)
				s->flags &= ~CG_SVC_F_UDP_MISS_NEW;
		}
	}
}

/*
 * cg_pins4 and cg_pins6 hold CG_MAX_PINS prefixes per bank each, for all
 * services together: report the service whose pins pass the limit.
 */
static void check_pin_totals(struct ctx *c)
{
	const struct cg_config *cfg = c->cfg;
	long total[2] = { 0, 0 }, run[2] = { 0, 0 };
	char path[PATH_LEN], p[PATH_LEN];

	for (int i = 0; i < cfg->n_services; i++)
		for (int k = 0; k < cfg->services[i].n_pins; k++)
			total[cfg->services[i].pins[k].family == CG_AF_INET6]++;
	for (int i = 0; i < cfg->n_services; i++) {
		const struct cg_cfg_service *s = &cfg->services[i];
		long before[2] = { run[0], run[1] };

		for (int k = 0; k < s->n_pins; k++)
			run[s->pins[k].family == CG_AF_INET6]++;
		for (int f = 0; f < 2; f++)
			if (before[f] <= CG_MAX_PINS && run[f] > CG_MAX_PINS)
				err(c, pkey(p, pidx(path, "services", i), "pins"),
				    "%s pins of all services add up to %ld, at most %d (CG_MAX_PINS); this list passes the limit",
				    f ? "IPv6" : "IPv4", total[f], CG_MAX_PINS);
	}
}

static void parse_services(struct ctx *c, json_t *v)
{
	struct cg_config *cfg = c->cfg;
	struct svc_state *st;
	size_t n;

	if (!v)
		return;
	if (!json_is_array(v)) {
		err(c, "services", "must be an array of services, not %s", jtype(v));
		return;
	}
	n = json_array_size(v);
	if (n == 0)
		return;
	if (n > CG_MAX_SERVICES) {
		err(c, "services", "%zu services, at most %d (CG_MAX_SERVICES)", n, CG_MAX_SERVICES);
		return;
	}
	cfg->services = calloc(n, sizeof(*cfg->services));
	c->svc_names = calloc(n, sizeof(*c->svc_names));
	st = calloc(n, sizeof(*st));
	if (!cfg->services || !c->svc_names || !st) {
		free(st);
		oom(c, "services");
		return;
	}
	cfg->n_services = n;
	for (size_t i = 0; i < n; i++) {
		struct cg_cfg_service *s = &cfg->services[i];

		parse_service(c, i, json_array_get(v, i), s, &st[i]);
		if (!st[i].vip_ok || !st[i].port_ok || !st[i].proto_ok)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct cg_cfg_service *o = &cfg->services[j];
			char a[INET6_ADDRSTRLEN], path[PATH_LEN];

			if (!st[j].vip_ok || !st[j].port_ok || !st[j].proto_ok ||
			    o->family != s->family || o->proto != s->proto || o->port != s->port ||
			    memcmp(o->vip, s->vip, sizeof(s->vip)))
				continue;
			inet_ntop(s->family == CG_AF_INET ? AF_INET : AF_INET6, s->vip, a, sizeof(a));
			if (s->port)
				err(c, pidx(path, "services", i),
				    "same VIP, port and protocol as services[%zu] (%s %s port %u)", j, a,
				    s->proto == IPPROTO_TCP ? "tcp" : "udp", s->port);
			else
				err(c, pidx(path, "services", i),
				    "same VIP, port and protocol as services[%zu] (%s %s every port)", j,
				    a, s->proto == IPPROTO_TCP ? "tcp" : "udp");
			break;
		}
	}
	free(st);
	check_pin_totals(c);
}

/* An empty config: nothing allocated, no unit referenced. */
static void cfg_reset(struct cg_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->local_unit = -1;
	cfg->central_unit = -1;
}

static int load_json(json_t *root, struct cg_config *cfg, struct cg_errors *errs)
{
	struct ctx c = { .errs = errs, .cfg = cfg };
	long long x;
	json_t *m;

	cfg->version = CG_CONFIG_VERSION;
	cfg->seed = CG_DEFAULT_SEED;

	if (!json_is_object(root)) {
		err(&c, "", "must be an object, not %s", jtype(root));
		goto out;
	}
	/*
	 * Another version may add keys and give every key another meaning:
	 * report only that, not a page of errors from reading it as ours.
	 */
	m = json_object_get(root, "version");
	if (json_is_integer(m) && json_integer_value(m) != CG_CONFIG_VERSION) {
		err(&c, "version", "%lld is not supported; this cellgate reads version %d",
		    (long long)json_integer_value(m), CG_CONFIG_VERSION);
		goto out;
	}
	check_object(&c, "", root, top_keys);
	if (!m)
		err(&c, "version", "missing; this file format needs \"version\": %d",
		    CG_CONFIG_VERSION);
	else if (!json_is_integer(m))
		err(&c, "version", "must be the integer %d, not %s", CG_CONFIG_VERSION, jtype(m));

	m = json_object_get(root, "seed");
	if (m && want_int(&c, "seed", m, 0, UINT32_MAX, &x))
		cfg->seed = x;

	parse_units(&c, json_object_get(root, "units"));
	parse_encap(&c, json_object_get(root, "encap"));
	check_encap_needed(&c);

	m = json_object_get(root, "local_unit");
	if (m) {
		c.local_given = true;
		cfg->local_unit = want_unit(&c, "local_unit", m);
	}

	parse_services(&c, json_object_get(root, "services"));
out:
	free(c.unit_names);
	free(c.unit_order);
	free(c.svc_names);
	if (c.n_errors > MAX_MESSAGES)
		cg_errors_add(errs, "%d more errors not shown", c.n_errors - MAX_MESSAGES);
	if (c.n_errors) {
		cg_config_free(cfg);
		return -1;
	}
	return 0;
}

static void syntax_error(struct cg_errors *errs, const char *source, const json_error_t *je)
{
	char where[64] = "";

	if (je->line > 0)
		snprintf(where, sizeof(where), "line %d, column %d: ", je->line, je->column);
	if (source)
		cg_errors_add(errs, "%s: %s%s", source, where, je->text);
	else
		cg_errors_add(errs, "%s%s", where, je->text);
}

int cg_config_load_string(const char *text, struct cg_config *cfg, struct cg_errors *errs)
{
	json_error_t je;
	json_t *root;
	int ret;

	cfg_reset(cfg);
	if (!text) {
		cg_errors_add(errs, "no configuration text");
		return -1;
	}
	root = json_loads(text, JSON_FLAGS, &je);
	if (!root) {
		syntax_error(errs, NULL, &je);
		return -1;
	}
	ret = load_json(root, cfg, errs);
	json_decref(root);
	return ret;
}

int cg_config_load_file(const char *path, struct cg_config *cfg, struct cg_errors *errs)
{
	const char *source = path;
	json_error_t je;
	struct stat sb;
	json_t *root;
	FILE *fp;
	int ret;

	cfg_reset(cfg);
	if (!path) {
		cg_errors_add(errs, "no configuration file given");
		return -1;
	}
	if (!strcmp(path, "-")) {
		fp = stdin;
		source = "stdin";
	} else {
		fp = fopen(path, "r");
		if (!fp) {
			cg_errors_add(errs, "%s: cannot open: %s", path, strerror(errno));
			return -1;
		}
		if (fstat(fileno(fp), &sb) == 0 && S_ISDIR(sb.st_mode)) {
			cg_errors_add(errs, "%s: is a directory, not a configuration file", path);
			fclose(fp);
			return -1;
		}
	}
	root = json_loadf(fp, JSON_FLAGS, &je);
	if (ferror(fp)) {
		cg_errors_add(errs, "%s: read error: %s", source, strerror(errno));
		json_decref(root);
		root = NULL;
	} else if (!root) {
		syntax_error(errs, source, &je);
	}
	if (fp != stdin)
		fclose(fp);
	if (!root)
		return -1;
	ret = load_json(root, cfg, errs);
	json_decref(root);
	return ret;
}

void cg_config_free(struct cg_config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; i < cfg->n_units; i++)
		free(cfg->units[i].endpoints);
	free(cfg->units);
	for (int i = 0; i < cfg->n_services; i++) {
		free(cfg->services[i].rules);
		free(cfg->services[i].pins);
	}
	free(cfg->services);
	cfg_reset(cfg);
}

int cg_config_unit_index(const struct cg_config *cfg, const char *name)
{
	if (!cfg || !name)
		return -1;
	for (int i = 0; i < cfg->n_units; i++)
		if (!strcmp(cfg->units[i].name, name))
			return i;
	return -1;
}
