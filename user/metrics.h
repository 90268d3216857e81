/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Prometheus text exposition (format 0.0.4) for the agent's /metrics,
 * served by libmicrohttpd on its own thread. docs/operations.md lists
 * every metric.
 */
#ifndef CG_METRICS_H
#define CG_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct cg_dp;
struct cg_tables;

/* A growing text buffer of one scrape. */
struct cg_prom {
	char *buf;
	size_t len, cap;
	bool oom;
};

void cg_prom_printf(struct cg_prom *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "# HELP" and "# TYPE" lines of a metric family (type: counter, gauge, histogram). */
void cg_prom_family(struct cg_prom *b, const char *name, const char *type, const char *help);
/* One sample: name{labels} value. labels is "" or built by cg_prom_labels(). */
void cg_prom_u64(struct cg_prom *b, const char *name, const char *labels, __u64 v);
void cg_prom_f64(struct cg_prom *b, const char *name, const char *labels, double v);
/* k1="v1",k2="v2"... from NULL-terminated key, value pairs, values escaped. */
const char *cg_prom_labels(char *out, size_t len, ...) __attribute__((sentinel));

/* Histogram buckets for latencies, in seconds. */
#define CG_HIST_BUCKETS 14
extern const double cg_hist_le[CG_HIST_BUCKETS];
struct cg_hist {
	__u64 count[CG_HIST_BUCKETS + 1]; /* last: +Inf only */
	__u64 n;
	double sum; /* seconds */
};
void cg_hist_observe(struct cg_hist *h, double seconds);
/* name_bucket/_sum/_count samples; labels without le. */
void cg_prom_hist(struct cg_prom *b, const char *name, const char *labels, const struct cg_hist *h);

/* The dataplane's counters, unit states and generation from the pinned maps,
 * named after the live tables t. */
void cg_metrics_dataplane(struct cg_prom *b, struct cg_dp *dp, const struct cg_tables *t);

typedef void (*cg_metrics_render_fn)(void *ctx, struct cg_prom *b);
struct cg_metrics_server;

/* Serve GET /metrics on listen ("127.0.0.1:9469", "[::1]:9469"); render
 * runs on the server's thread for every scrape. */
int cg_metrics_start(const char *listen, cg_metrics_render_fn render, void *ctx,
		     struct cg_metrics_server **out);
void cg_metrics_stop(struct cg_metrics_server *s);

/* "ADDR:PORT" or "[ADDR6]:PORT" into a socket address; 0 or -1. */
int cg_parse_listen(const char *s, void *sockaddr_storage, unsigned int *len);

#endif /* CG_METRICS_H */
