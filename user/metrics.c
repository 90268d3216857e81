// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * /metrics: Prometheus text format over libmicrohttpd (user/metrics.h).
 * Counters come straight from the pinned per-CPU maps at every scrape,
 * summed over CPUs, so they equal `cellgate -j stats` read at that time.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <microhttpd.h>

#include "dp.h"
#include "log.h"
#include "metrics.h"
#include "tables.h"

const double cg_hist_le[CG_HIST_BUCKETS] = { 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
					     0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5 };

void cg_prom_printf(struct cg_prom *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->oom)
		return;
	for (;;) {
		size_t room = b->cap - b->len;

		va_start(ap, fmt);
		n = vsnprintf(b->buf ? b->buf + b->len : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->oom = true;
			return;
		}
		if ((size_t)n < room) {
			b->len += (size_t)n;
			return;
		}
		size_t cap = b->cap ? b->cap * 2 : 16384;
		char *nb;

		while (cap - b->len <= (size_t)n)
			cap *= 2;
		nb = realloc(b->buf, cap);
		if (!nb) {
			b->oom = true;
			return;
		}
		b->buf = nb;
		b->cap = cap;
	}
}

void cg_prom_family(struct cg_prom *b, const char *name, const char *type, const char *help)
{
	cg_prom_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void sample_name(struct cg_prom *b, const char *name, const char *labels)
{
	if (labels && *labels)
		cg_prom_printf(b, "%s{%s} ", name, labels);
	else
		cg_prom_printf(b, "%s ", name);
}

void cg_prom_u64(struct cg_prom *b, const char *name, const char *labels, __u64 v)
{
	sample_name(b, name, labels);
	cg_prom_printf(b, "%llu\n", (unsigned long long)v);
}

void cg_prom_f64(struct cg_prom *b, const char *name, const char *labels, double v)
{
	sample_name(b, name, labels);
	cg_prom_printf(b, "%.15g\n", v);
}

const char *cg_prom_labels(char *out, size_t len, ...)
{
	va_list ap;
	size_t o = 0;
	const char *k;

	out[0] = '\0';
	va_start(ap, len);
	while ((k = va_arg(ap, const char *))) {
		const char *v = va_arg(ap, const char *);
		int n = snprintf(out + o, len - o, "%s%s=\"", o ? "," : "", k);

		if (n < 0 || (size_t)n >= len - o)
			break;
		o += (size_t)n;
		/* label values escape backslash, double quote and newline */
		for (; v && *v && o + 3 < len; v++) {
			if (*v == '\\' || *v == '"') {
				out[o++] = '\\';
				out[o++] = *v;
			} else if (*v == '\n') {
				out[o++] = '\\';
				out[o++] = 'n';
			} else {
				out[o++] = *v;
			}
		}
		if (o + 2 >= len)
			break;
		out[o++] = '"';
		out[o] = '\0';
	}
	va_end(ap);
	return out;
}

void cg_hist_observe(struct cg_hist *h, double s)
{
	int i = 0;

	while (i < CG_HIST_BUCKETS && s > cg_hist_le[i])
		i++;
	h->count[i]++;
	h->n++;
	h->sum += s;
}

void cg_prom_hist(struct cg_prom *b, const char *name, const char *labels, const struct cg_hist *h)
{
	__u64 cum = 0;

	for (int i = 0; i <= CG_HIST_BUCKETS; i++) {
		char le[32];

		cum += h->count[i];
		if (i < CG_HIST_BUCKETS)
			snprintf(le, sizeof(le), "%g", cg_hist_le[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		cg_prom_printf(b, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, *labels ? "," : "",
			       le, (unsigned long long)cum);
	}
	cg_prom_printf(b, "%s_sum%s%s%s %.15g\n", name, *labels ? "{" : "", labels, *labels ? "}" : "",
		       h->sum);
	cg_prom_printf(b, "%s_count%s%s%s %llu\n", name, *labels ? "{" : "", labels,
		       *labels ? "}" : "", (unsigned long long)h->n);
}

/* ---- the dataplane's metrics ---- */

static const char *const reason_names[CG_R_MAX] = CG_REASON_NAMES;

static const char *verdict(int r)
{
	switch (r) {
	case CG_R_FORWARDED:
		return "forward";
	case CG_R_NO_UNIT:
	case CG_R_NO_ENDPOINT:
	case CG_R_KEY_REJECT:
	case CG_R_TOO_BIG:
	case CG_R_ENCAP_FAIL:
	case CG_R_FENCED:
	case CG_R_DECAP_BAD:
		return "drop";
	}
	return "pass";
}

static const char *const counter_names[] = { "packets", "bytes", "new_flows", "resteered", "fenced" };
static const char *const counter_help[] = {
	"Packets steered",
	"Bytes of the frames as received",
	"Flows recorded in the flow table",
	"Recorded flows moved because their unit stopped serving",
	"New flows held by a fence",
};

/* cellgate_<what>_<counter>_total for every entry of a per-CPU stats map */
static void counters(struct cg_prom *b, const char *what, int n, int fd, const __u32 *keys,
		     char (*labels)[160])
{
	struct cg_counters *c = calloc((size_t)n, sizeof(*c));

	if (!c) {
		b->oom = true;
		return;
	}
	for (int i = 0; i < n; i++)
		if (cg_percpu_sum(fd, keys[i], sizeof(c[i]), (__u64 *)&c[i]))
			memset(&c[i], 0, sizeof(c[i]));
	for (size_t k = 0; k < sizeof(counter_names) / sizeof(counter_names[0]); k++) {
		char name[96], help[160];

		snprintf(name, sizeof(name), "cellgate_%s_%s_total", what, counter_names[k]);
		snprintf(help, sizeof(help), "%s, per %s (summed over CPUs)", counter_help[k], what);
		cg_prom_family(b, name, "counter", help);
		for (int i = 0; i < n; i++)
			cg_prom_u64(b, name, labels[i], ((__u64 *)&c[i])[k]);
	}
	free(c);
}

void cg_metrics_dataplane(struct cg_prom *b, struct cg_dp *dp, const struct cg_tables *t)
{
	static const char *const states[] = { [CG_UNIT_SERVING] = "serving",
					      [CG_UNIT_DRAINING] = "draining",
					      [CG_UNIT_EVACUATED] = "evacuated" };
	static __u32 keys[CG_MAX_ENDPOINTS];
	static char labels[CG_MAX_ENDPOINTS][160];
	char l[160];
	int n;

	cg_prom_family(b, "cellgate_generation", "gauge", "Live generation of the instance");
	cg_prom_u64(b, "cellgate_generation", "", t->gen.generation);
	cg_prom_family(b, "cellgate_generation_published_timestamp_seconds", "gauge",
		       "When the live generation was published (Unix time)");
	cg_prom_f64(b, "cellgate_generation_published_timestamp_seconds", "",
		    t->gen.published_ns / 1e9);

	n = 0;
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		if (t->units[u].state == CG_UNIT_UNUSED)
			continue;
		keys[n] = u;
		cg_prom_labels(labels[n++], sizeof(labels[0]), "unit", t->units[u].name, NULL);
	}
	counters(b, "unit", n, dp->fd[CG_DP_UNIT_STATS], keys, labels);

	cg_prom_family(b, "cellgate_unit_state", "gauge",
		       "1 for the unit's state in the live generation (serving, draining, evacuated)");
	for (int u = 0; u < CG_MAX_UNITS; u++) {
		if (t->units[u].state == CG_UNIT_UNUSED)
			continue;
		for (int s = CG_UNIT_SERVING; s <= CG_UNIT_EVACUATED; s++)
			cg_prom_u64(b, "cellgate_unit_state",
				    cg_prom_labels(l, sizeof(l), "unit", t->units[u].name, "state",
						   states[s], NULL),
				    t->units[u].state == s);
	}
	cg_prom_family(b, "cellgate_unit_manual", "gauge",
		       "1 if an operator evacuated or drained the unit (the agent never restores it)");
	for (int u = 0; u < CG_MAX_UNITS; u++)
		if (t->units[u].state != CG_UNIT_UNUSED)
			cg_prom_u64(b, "cellgate_unit_manual",
				    cg_prom_labels(l, sizeof(l), "unit", t->units[u].name, NULL),
				    !!(t->units[u].flags & CG_UNIT_F_MANUAL));

	n = 0;
	for (int i = 0; i < t->n_services; i++) {
		keys[n] = t->services[i].id;
		cg_prom_labels(labels[n++], sizeof(labels[0]), "service", t->services[i].name, NULL);
	}
	counters(b, "service", n, dp->fd[CG_DP_SERVICE_STATS], keys, labels);

	n = 0;
	for (int i = 0; i < CG_MAX_ENDPOINTS; i++) {
		const struct cg_endpoint *ep = &t->endpoints[i];
		char a[INET6_ADDRSTRLEN];

		if (ep->family == CG_AF_NONE)
			continue;
		inet_ntop(ep->family == CG_AF_INET ? AF_INET : AF_INET6, ep->daddr, a, sizeof(a));
		keys[n] = i;
		cg_prom_labels(labels[n++], sizeof(labels[0]), "unit",
			       t->units[ep->unit % CG_MAX_UNITS].name, "endpoint", a, NULL);
	}
	counters(b, "endpoint", n, dp->fd[CG_DP_ENDPOINT_STATS], keys, labels);

	cg_prom_family(b, "cellgate_reason_packets_total", "counter",
		       "Packets by what the dataplane did with them (verdict forward, pass or drop) and why");
	{
		struct cg_reason_count rc[CG_R_MAX];

		for (int r = 0; r < CG_R_MAX; r++)
			if (cg_percpu_sum(dp->fd[CG_DP_REASONS], r, sizeof(rc[r]), (__u64 *)&rc[r]))
				memset(&rc[r], 0, sizeof(rc[r]));
		for (int r = 0; r < CG_R_MAX; r++)
			cg_prom_u64(b, "cellgate_reason_packets_total",
				    cg_prom_labels(l, sizeof(l), "reason", reason_names[r], "verdict",
						   verdict(r), NULL),
				    rc[r].packets);
		cg_prom_family(b, "cellgate_reason_bytes_total", "counter",
			       "Bytes by verdict and reason, as cellgate_reason_packets_total");
		for (int r = 0; r < CG_R_MAX; r++)
			cg_prom_u64(b, "cellgate_reason_bytes_total",
				    cg_prom_labels(l, sizeof(l), "reason", reason_names[r], "verdict",
						   verdict(r), NULL),
				    rc[r].bytes);
	}
}

/* ---- the HTTP server ---- */

struct cg_metrics_server {
	struct MHD_Daemon *d;
	cg_metrics_render_fn render;
	void *ctx;
};

static enum MHD_Result reply(struct MHD_Connection *c, unsigned int code, const char *type,
			     char *body, size_t len, enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, mode);
	enum MHD_Result ret;

	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	struct cg_metrics_server *s = cls;
	static char not_found[] = "cellgate agent: try /metrics\n";
	static char bad_method[] = "only GET\n";
	struct cg_prom b = {};

	if (!*state) { /* first call: headers only; answer on the next */
		*state = s;
		return MHD_YES;
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", bad_method,
			     strlen(bad_method), MHD_RESPMEM_PERSISTENT);
	if (strcmp(url, "/metrics"))
		return reply(c, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
			     MHD_RESPMEM_PERSISTENT);
	s->render(s->ctx, &b);
	if (b.oom || !b.buf) {
		free(b.buf);
		return MHD_NO;
	}
	return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", b.buf, b.len,
		     MHD_RESPMEM_MUST_FREE);
}

int cg_parse_listen(const char *s, void *out, unsigned int *len)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon;
	char *end;
	long port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - s - 1) >= sizeof(host))
			return -1;
		memcpy(host, s + 1, (size_t)(rb - s - 1));
		host[rb - s - 1] = '\0';
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || (size_t)(colon - s) >= sizeof(host))
			return -1;
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
	}
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno || *end || port < 1 || port > 65535)
		return -1;
	memset(out, 0, sizeof(struct sockaddr_storage));
	if (inet_pton(AF_INET, host, &((struct sockaddr_in *)out)->sin_addr) == 1) {
		((struct sockaddr_in *)out)->sin_family = AF_INET;
		((struct sockaddr_in *)out)->sin_port = htons((__u16)port);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)out)->sin6_addr) == 1) {
		((struct sockaddr_in6 *)out)->sin6_family = AF_INET6;
		((struct sockaddr_in6 *)out)->sin6_port = htons((__u16)port);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

int cg_metrics_start(const char *listen, cg_metrics_render_fn render, void *ctx,
		     struct cg_metrics_server **out)
{
	struct sockaddr_storage ss;
	unsigned int len;
	struct cg_metrics_server *s;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;

	if (cg_parse_listen(listen, &ss, &len)) {
		cg_err("agent: --metrics \"%s\" is not ADDR:PORT or [ADDR6]:PORT\n", listen);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->render = render;
	s->ctx = ctx;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	s->d = MHD_start_daemon(flags, ntohs(((struct sockaddr_in *)&ss)->sin_port), NULL, NULL,
				handle, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_CONNECTION_LIMIT, 16u, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				MHD_OPTION_END);
	if (!s->d) {
		cg_err("agent: cannot serve /metrics on %s: %s (another process on that port?)\n",
		       listen, strerror(errno ? errno : EADDRINUSE));
		free(s);
		return -EADDRINUSE;
	}
	*out = s;
	return 0;
}

void cg_metrics_stop(struct cg_metrics_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->d);
	free(s);
}
