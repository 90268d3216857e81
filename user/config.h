/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The declarative configuration (cellgate apply -f FILE), parsed and fully
 * validated. docs/config.md is the file format's reference.
 */
#ifndef CG_CONFIG_H
#define CG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <linux/types.h>

#include "cellgate.h"

#define CG_CONFIG_VERSION 1
#define CG_DEFAULT_SEED 0x63656c6cU /* "cell" */
#define CG_DEFAULT_MODULO 10000
/* Unit and endpoint weights are relative; this bound keeps the sum of all
 * endpoints' (or units') weights within 32 bits. */
#define CG_CFG_MAX_WEIGHT 1000000

/* Every problem found in a config, each prefixed with its JSON path. */
struct cg_errors {
	int n;
	int cap;
	char **msgs;
};

void cg_errors_add(struct cg_errors *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cg_errors_free(struct cg_errors *e);

struct cg_cfg_endpoint {
	char address[64]; /* canonical text (inet_ntop), for messages and Maglev naming */
	int family; /* CG_AF_INET / CG_AF_INET6 */
	__be32 addr[4];
	char dev[IF_NAMESIZE]; /* "" = the interface the gateway is loaded on */
	bool has_mac;
	__u8 mac[6];
	bool has_via; /* next hop other than the address itself */
	__be32 via[4]; /* same family as addr */
	__u32 weight; /* 1..CG_CFG_MAX_WEIGHT, default 1 */
	__u32 mtu; /* 576..65535 (IPv6: 1280..), default 1500 */
};

struct cg_cfg_unit {
	char name[CG_NAME_LEN];
	int role; /* enum cg_unit_role */
	int standby; /* index into cg_config.units, -1 = none */
	__u32 weight; /* capacity weight, 1..CG_CFG_MAX_WEIGHT, default 1 */
	int n_endpoints;
	struct cg_cfg_endpoint *endpoints;
};

/* Buckets first..last (inclusive) are owned by units[unit]. */
struct cg_cfg_rule {
	__u32 first;
	__u32 last;
	int unit;
};

/* Clients in this prefix go to units[unit], whatever their key. */
struct cg_cfg_pin {
	int family;
	__be32 addr[4]; /* host bits zero */
	int prefix_len;
	int unit;
};

struct cg_cfg_service {
	char name[CG_NAME_LEN];
	int family;
	__be32 vip[4];
	__u16 port; /* host order; 0 = any port */
	__u8 proto; /* IPPROTO_TCP / IPPROTO_UDP */
	int kind; /* enum cg_service_kind */
	int key_source; /* enum cg_key_source */
	__u16 key_offset;
	__u8 key_size;
	int key_missing; /* enum cg_key_missing */
	__u32 modulo;
	__u16 flags; /* CG_SVC_F_* */
	/* Core services: sorted by first bucket, covering 0..modulo-1 exactly.
	 * "ratios" in the file are turned into rules by the parser. */
	int n_rules;
	struct cg_cfg_rule *rules;
	/* Canary: this share of the service's buckets (basis points, 0..10000)
	 * goes to units[canary_unit], picked by a seeded hash of the bucket. */
	int canary_unit; /* -1 = none */
	__u32 canary_bp;
	int n_pins;
	struct cg_cfg_pin *pins;
};

struct cg_config {
	__u32 version;
	__u32 seed;
	bool has_src4;
	__be32 src4; /* outer IPv4 source prefix */
	int src4_len;
	bool has_src6;
	__be32 src6[4];
	int src6_len; /* >= 96: only the last word varies */
	int local_unit; /* index into units, -1 = none */
	int central_unit; /* index of the (single) central unit, -1 = none */
	int n_units;
	struct cg_cfg_unit *units;
	int n_services;
	struct cg_cfg_service *services;
};

/*
 * Parse and validate. Returns 0 with *cfg filled, or -1 with every problem
 * appended to *errs (nothing allocated in *cfg then). path "-" reads stdin.
 * errs may be NULL; messages are then dropped but the result is the same.
 * cg_errors_add() and cg_errors_free() follow the same rule for NULL.
 */
int cg_config_load_file(const char *path, struct cg_config *cfg, struct cg_errors *errs);
int cg_config_load_string(const char *text, struct cg_config *cfg, struct cg_errors *errs);
void cg_config_free(struct cg_config *cfg);

/* Index of the unit with this name, or -1. */
int cg_config_unit_index(const struct cg_config *cfg, const char *name);

#endif /* CG_CONFIG_H */
