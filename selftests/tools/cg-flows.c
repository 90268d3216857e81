// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cg-flows: open many distinct flows to a service of the test bed and tell
 * which unit answered each request (cg-echo replies "UNIT HOST <payload>").
 *
 *   cg-flows --dst ADDR:PORT --flows N [--proto udp|tcp] [--packets P]
 *            [--timeout-ms T] [--retries R] [--interval-ms I] [--window W]
 *            [--src ADDR] [--src-port-base B] [--max-ms M] [--json FILE]
 *
 * Flow i is one socket: UDP bound to source port B+i (or an ephemeral port)
 * and connected, or one TCP connection. Each flow sends P requests one after
 * the other, at most one outstanding, starting a request no sooner than I ms
 * after the previous one started. A UDP request unanswered after T ms is sent
 * again, at most R times, then counted lost; a TCP request waits T*(R+1) ms.
 * At most W requests (or TCP handshakes) are in flight at once, so bursts do
 * not overrun the 256-frame veth XDP ring. Everything stops after M ms.
 *
 * stdout gets one JSON summary; --json FILE gets every flow (source port,
 * unit per request, send time of the answered attempt in CLOCK_REALTIME ns)
 * so a test can compare flows before and after an event. A flow's "unit" is
 * the unit that answered its last answered request; flows_by_unit counts
 * those. TCP flows end with RST (SO_LINGER 0) so fixed source ports can be
 * reused by the next run at once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_FLOWS 65535 /* one source port each */
#define MAX_UNITS 64 /* distinct unit names remembered */
#define UNIT_LEN 32 /* CG_NAME_LEN */
#define LINE_CAP 512 /* a reply line: "UNIT HOST cgf F S A" */
#define MAX_EVENTS 512
#define UNIT_NONE 0xff /* request not answered */

enum fstate { F_IDLE, F_CONNECTING, F_WAITING, F_DONE };

struct flow {
	int fd;
	uint16_t sport;
	uint8_t state; /* enum fstate */
	uint8_t attempt; /* of the current request, 0-based */
	bool queued; /* waiting for a window slot */
	uint32_t seq; /* current request, 0..packets-1 */
	uint32_t timer_gen; /* invalidates stale heap entries */
	uint64_t start_ns; /* monotonic: first send of the current request */
	uint64_t sent_ns; /* monotonic: latest attempt */
	uint64_t sent_rt; /* realtime: latest attempt */
	uint32_t answered, lost;
	uint8_t last_unit;
	uint8_t n_units_seen; /* distinct units that answered this flow (capped) */
	uint16_t in_len; /* TCP reply bytes buffered */
	char *in; /* TCP only */
};

struct timer {
	uint64_t at;
	uint32_t flow;
	uint32_t gen;
};

static struct {
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	bool has_src;
	bool tcp;
	const char *dst_arg;
	uint32_t flows, packets, window, retries;
	uint64_t timeout_ns, interval_ns, max_ns;
	int sport_base; /* -1 = ephemeral */
	const char *json;
} o = {
	.flows = 1,
	.packets = 1,
	.window = 256,
	.retries = 3,
	.timeout_ns = 300 * 1000000ull,
	.max_ns = 60000 * 1000000ull,
	.sport_base = -1,
};

static struct flow *flows;
static uint8_t *res_unit; /* [flow * packets + seq] */
static uint64_t *res_t; /* realtime ns the answered attempt was sent */
static uint32_t *rtts; /* us, one per answered request */
static uint64_t n_rtts;
static char units[MAX_UNITS][UNIT_LEN];
static int n_units;
static uint64_t unit_answers[MAX_UNITS], unit_first[MAX_UNITS], unit_last[MAX_UNITS];

static struct timer *heap;
static size_t heap_len, heap_cap;
static uint32_t *waitq; /* flows waiting for a window slot, FIFO ring */
static uint32_t wq_head, wq_len;
static uint32_t inflight, done_flows;
static uint64_t n_sent, n_answered, n_lost, n_unsent, n_retrans, n_errors;
static int epfd;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: cg-flows --dst ADDR:PORT --flows N [--proto udp|tcp] [--packets P]\n"
		"                [--timeout-ms T] [--retries R] [--interval-ms I] [--window W]\n"
		"                [--src ADDR] [--src-port-base B] [--max-ms M] [--json FILE]\n"
		"ADDR is a.b.c.d or [v6]. Prints a JSON summary on stdout.\n");
	exit(code);
}

static void fatal(const char *what, const char *arg)
{
	fprintf(stderr, "cg-flows: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static int parse_addr(const char *s, bool want_port, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[128], *end, *a = buf, *port = NULL;
	long p = 0;

	memset(ss, 0, sizeof(*ss));
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');

		if (!rb)
			return -1;
		*rb = '\0';
		a = buf + 1;
		if (rb[1] == ':')
			port = rb + 2;
		else if (rb[1])
			return -1;
	} else if (strchr(buf, '.')) {
		char *colon = strrchr(buf, ':');

		if (colon) {
			*colon = '\0';
			port = colon + 1;
		}
	}
	if (want_port != (port != NULL))
		return -1;
	if (port) {
		errno = 0;
		p = strtol(port, &end, 10);
		if (errno || *end || p < 1 || p > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, a, &((struct sockaddr_in *)ss)->sin_addr) == 1) {
		ss->ss_family = AF_INET;
		((struct sockaddr_in *)ss)->sin_port = htons(p);
		*len = sizeof(struct sockaddr_in);
		return 0;
	}
	if (inet_pton(AF_INET6, a, &((struct sockaddr_in6 *)ss)->sin6_addr) == 1) {
		ss->ss_family = AF_INET6;
		((struct sockaddr_in6 *)ss)->sin6_port = htons(p);
		*len = sizeof(struct sockaddr_in6);
		return 0;
	}
	return -1;
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		fprintf(stderr, "cg-flows: --%s: '%s' is not a number in %llu..%llu\n", opt, s,
			(unsigned long long)min, (unsigned long long)max);
		exit(2);
	}
	return v;
}

/* ---- timers: binary min-heap with lazy deletion ---- */

static void heap_push(uint64_t at, uint32_t flow)
{
	struct timer t = { at, flow, ++flows[flow].timer_gen };
	size_t i;

	if (heap_len == heap_cap) {
		heap_cap = heap_cap ? heap_cap * 2 : 1024;
		heap = realloc(heap, heap_cap * sizeof(*heap));
		if (!heap)
			fatal("out of memory", NULL);
	}
	i = heap_len++;
	while (i > 0 && heap[(i - 1) / 2].at > at) {
		heap[i] = heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	heap[i] = t;
}

static void heap_pop(void)
{
	struct timer last = heap[--heap_len];
	size_t i = 0;

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= heap_len)
			break;
		if (c + 1 < heap_len && heap[c + 1].at < heap[c].at)
			c++;
		if (heap[c].at >= last.at)
			break;
		heap[i] = heap[c];
		i = c;
	}
	if (heap_len)
		heap[i] = last;
}

static void timer_cancel(uint32_t flow)
{
	flows[flow].timer_gen++;
}

/* ---- results ---- */

static int unit_id(const char *name, size_t len)
{
	int i;

	if (len >= UNIT_LEN)
		len = UNIT_LEN - 1;
	for (i = 0; i < n_units; i++)
		if (strlen(units[i]) == len && !memcmp(units[i], name, len))
			return i;
	if (n_units == MAX_UNITS)
		return MAX_UNITS - 1; /* lump the rest together */
	memcpy(units[n_units], name, len);
	units[n_units][len] = '\0';
	return n_units++;
}

static void flow_finish(uint32_t i);
static void request_send(uint32_t i, uint64_t now);
static void on_timer(uint32_t i, uint64_t now);

static void window_release(uint64_t now)
{
	inflight--;
	while (wq_len && inflight < o.window) {
		uint32_t i = waitq[wq_head];

		wq_head = (wq_head + 1) % o.flows;
		wq_len--;
		flows[i].queued = false;
		request_send(i, now);
	}
}

/* The current request of flow i is over (answered or lost): schedule the next. */
static void request_done(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];
	uint64_t next;

	f->state = F_IDLE;
	f->seq++;
	f->attempt = 0;
	window_release(now);
	if (f->seq >= o.packets) {
		flow_finish(i);
		return;
	}
	next = f->start_ns + o.interval_ns;
	if (next <= now)
		request_send(i, now);
	else
		heap_push(next, i);
}

static void reply(uint32_t i, const char *p, size_t n, uint64_t now)
{
	struct flow *f = &flows[i];
	const char *sp = memchr(p, ' ', n), *tag;
	unsigned long fl, seq;
	uint64_t idx;
	int u;

	if (!sp || f->state != F_WAITING)
		return;
	tag = memmem(p, n, " cgf ", 5);
	if (!tag || sscanf(tag + 5, "%lu %lu", &fl, &seq) != 2 || fl != i || seq != f->seq)
		return; /* not ours or a late duplicate of an earlier request */
	u = unit_id(p, (size_t)(sp - p));
	idx = (uint64_t)i * o.packets + f->seq;
	res_unit[idx] = (uint8_t)u;
	res_t[idx] = f->sent_rt;
	if (!unit_answers[u]++ || f->sent_rt < unit_first[u])
		unit_first[u] = f->sent_rt;
	if (f->sent_rt > unit_last[u])
		unit_last[u] = f->sent_rt;
	if (f->answered == 0 || f->last_unit != u)
		if (f->n_units_seen < 255)
			f->n_units_seen++;
	f->last_unit = (uint8_t)u;
	f->answered++;
	n_answered++;
	rtts[n_rtts++] = (uint32_t)((now - f->sent_ns) / 1000);
	timer_cancel(i);
	request_done(i, now);
}

static void request_lost(uint32_t i, uint64_t now)
{
	flows[i].lost++;
	n_lost++;
	request_done(i, now);
}

/* ---- sockets ---- */

static void flow_close(struct flow *f)
{
	if (f->fd < 0)
		return;
	if (o.tcp) {
		struct linger l = { 1, 0 };

		setsockopt(f->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	}
	close(f->fd);
	f->fd = -1;
}

static void flow_finish(uint32_t i)
{
	struct flow *f = &flows[i];

	timer_cancel(i);
	if (f->state == F_WAITING || f->state == F_CONNECTING)
		window_release(now_ns(CLOCK_MONOTONIC));
	if (f->queued)
		f->queued = false; /* skipped when it reaches the head */
	f->state = F_DONE;
	flow_close(f);
	done_flows++;
}

static int flow_socket(uint32_t i)
{
	struct flow *f = &flows[i];
	struct sockaddr_storage src;
	socklen_t len = sizeof(src);
	int one = 1, fd;

	fd = socket(o.dst.ss_family,
		    (o.tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		fatal("socket", NULL);
	/*
	 * TCP: SO_REUSEADDR lets a fixed source port be bound again while an
	 * old connection lingers. Never for UDP: there it lets two sockets
	 * share a port, and two flows would have the same 5-tuple.
	 */
	if (o.tcp) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (o.has_src || o.sport_base >= 0) {
		if (o.has_src) {
			src = o.src;
			len = o.src_len;
		} else {
			memset(&src, 0, sizeof(src));
			src.ss_family = o.dst.ss_family;
			len = o.dst_len;
		}
		if (o.sport_base >= 0) {
			uint16_t port = htons((uint16_t)(o.sport_base + (int)i));

			if (src.ss_family == AF_INET)
				((struct sockaddr_in *)&src)->sin_port = port;
			else
				((struct sockaddr_in6 *)&src)->sin6_port = port;
		}
		if (bind(fd, (struct sockaddr *)&src, len)) {
			char what[64];

			snprintf(what, sizeof(what), "bind flow %u (port %d)", i,
				 o.sport_base >= 0 ? o.sport_base + (int)i : 0);
			fatal(what, NULL);
		}
	}
	if (connect(fd, (struct sockaddr *)&o.dst, o.dst_len) && errno != EINPROGRESS) {
		if (o.tcp) {
			close(fd);
			return -1;
		}
		fatal("connect", o.dst_arg);
	}
	len = sizeof(src);
	if (!getsockname(fd, (struct sockaddr *)&src, &len))
		f->sport =
			ntohs(src.ss_family == AF_INET ? ((struct sockaddr_in *)&src)->sin_port
						       : ((struct sockaddr_in6 *)&src)->sin6_port);
	f->fd = fd;
	struct epoll_event ev = { .events = EPOLLIN | (o.tcp ? EPOLLOUT : 0), .data.u32 = i };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev))
		fatal("epoll_ctl", NULL);
	return 0;
}

/* (Re)send the current request of flow i, or open its connection first. */
static void request_send(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];
	char buf[64];
	int n;

	if (f->state == F_DONE)
		return;
	if (f->state == F_IDLE) {
		/* a new request (or a TCP connection) needs a window slot */
		if (inflight >= o.window) {
			if (!f->queued) {
				f->queued = true;
				waitq[(wq_head + wq_len++) % o.flows] = i;
			}
			return;
		}
		inflight++;
		if (o.tcp && f->fd < 0) {
			if (flow_socket(i)) {
				f->state = F_CONNECTING;
				n_errors++;
				on_timer(i, now); /* lost, like a handshake timeout */
				return;
			}
			f->state = F_CONNECTING;
			heap_push(now + o.timeout_ns * (o.retries + 1), i);
			return;
		}
		f->start_ns = now;
		f->state = F_WAITING;
	}
	n = snprintf(buf, sizeof(buf), "cgf %u %u %u\n", i, f->seq, f->attempt);
	f->sent_ns = now;
	f->sent_rt = now_ns(CLOCK_REALTIME);
	if (send(f->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		n_errors++; /* e.g. ECONNREFUSED from an earlier ICMP error: retry later */
	if (f->attempt == 0)
		n_sent++;
	else
		n_retrans++;
	heap_push(now + (o.tcp ? o.timeout_ns * (o.retries + 1) : o.timeout_ns), i);
}

static void on_timer(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];

	switch (f->state) {
	case F_IDLE:
		request_send(i, now);
		break;
	case F_CONNECTING: /* handshake timed out: every request of the flow is lost */
		f->lost += o.packets - f->seq;
		n_lost += o.packets - f->seq;
		n_sent += o.packets - f->seq;
		flow_finish(i);
		break;
	case F_WAITING:
		if (!o.tcp && f->attempt < o.retries) {
			f->attempt++;
			request_send(i, now);
		} else {
			request_lost(i, now);
		}
		break;
	default:
		break;
	}
}

static void on_event(uint32_t i, uint32_t events, uint64_t now)
{
	static char buf[65536];
	struct flow *f = &flows[i];

	if (f->state == F_DONE)
		return;
	if (o.tcp && f->state == F_CONNECTING) {
		int err = 0;
		socklen_t el = sizeof(err);
		struct epoll_event ev = { .events = EPOLLIN, .data.u32 = i };

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err || (events & (EPOLLERR | EPOLLHUP))) {
			on_timer(i, now); /* refused or unreachable: same as a timeout */
			n_errors++;
			return;
		}
		epoll_ctl(epfd, EPOLL_CTL_MOD, f->fd, &ev);
		timer_cancel(i);
		f->state = F_IDLE;
		inflight--; /* the first request takes the slot over */
		request_send(i, now);
		return;
	}
	if (!o.tcp) {
		for (;;) {
			ssize_t n = recv(f->fd, buf, sizeof(buf), 0);

			if (n < 0) {
				if (errno != EAGAIN && errno != EINTR)
					n_errors++; /* ICMP error: the retry timer handles it */
				if (errno == EINTR)
					continue;
				return;
			}
			reply(i, buf, (size_t)n, now);
			if (f->state == F_DONE)
				return;
		}
	}
	for (;;) {
		ssize_t n = recv(f->fd, f->in + f->in_len, LINE_CAP - f->in_len, 0);
		char *nl;

		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			/* peer closed or reset: what is outstanding is lost */
			n_errors++;
			if (f->state == F_WAITING) {
				f->lost += o.packets - f->seq;
				n_lost += o.packets - f->seq;
				n_sent += o.packets - f->seq - 1;
			} else {
				f->lost += o.packets - f->seq;
				n_lost += o.packets - f->seq;
				n_sent += o.packets - f->seq;
			}
			flow_finish(i);
			return;
		}
		f->in_len += (uint16_t)n;
		while ((nl = memchr(f->in, '\n', f->in_len))) {
			size_t l = (size_t)(nl - f->in) + 1;

			reply(i, f->in, l - 1, now);
			if (f->state == F_DONE)
				return;
			memmove(f->in, f->in + l, f->in_len - l);
			f->in_len -= (uint16_t)l;
		}
		if (f->in_len == LINE_CAP)
			f->in_len = 0; /* garbage without newline */
	}
}

/* ---- output ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void json_units_u64(FILE *out, const uint64_t *v, bool skip_zero)
{
	int i, first = 1;

	fputc('{', out);
	for (i = 0; i < n_units; i++) {
		if (skip_zero && !v[i])
			continue;
		fprintf(out, "%s\"%s\":%llu", first ? "" : ",", units[i], (unsigned long long)v[i]);
		first = 0;
	}
	fputc('}', out);
}

static void write_summary(uint64_t elapsed_ns)
{
	uint64_t flows_by_unit[MAX_UNITS] = { 0 };
	uint32_t unanswered = 0, moved = 0, i;
	double avg = 0;

	for (i = 0; i < o.flows; i++) {
		if (flows[i].answered)
			flows_by_unit[flows[i].last_unit]++;
		else
			unanswered++;
		if (flows[i].n_units_seen > 1)
			moved++;
	}
	qsort(rtts, n_rtts, sizeof(*rtts), cmp_u32);
	for (i = 0; i < n_rtts; i++)
		avg += rtts[i];
	if (n_rtts)
		avg /= (double)n_rtts;

	printf("{\"proto\":\"%s\",\"dst\":\"%s\",\"flows\":%u,\"packets_per_flow\":%u,",
	       o.tcp ? "tcp" : "udp", o.dst_arg, o.flows, o.packets);
	printf("\"sent\":%llu,\"answered\":%llu,\"lost\":%llu,\"unsent\":%llu,",
	       (unsigned long long)n_sent, (unsigned long long)n_answered,
	       (unsigned long long)n_lost, (unsigned long long)n_unsent);
	printf("\"retransmits\":%llu,\"errors\":%llu,\"elapsed_ms\":%.1f,",
	       (unsigned long long)n_retrans, (unsigned long long)n_errors,
	       (double)elapsed_ns / 1e6);
	printf("\"flows_unanswered\":%u,\"flows_moved\":%u,\"by_unit\":", unanswered, moved);
	json_units_u64(stdout, unit_answers, false);
	printf(",\"flows_by_unit\":");
	json_units_u64(stdout, flows_by_unit, true);
	printf(",\"first_sent_ns_by_unit\":");
	json_units_u64(stdout, unit_first, false);
	printf(",\"last_sent_ns_by_unit\":");
	json_units_u64(stdout, unit_last, false);
	if (n_rtts)
		printf(",\"rtt_us\":{\"avg\":%.1f,\"p50\":%u,\"p99\":%u,\"max\":%u}", avg,
		       rtts[n_rtts / 2], rtts[(n_rtts * 99) / 100], rtts[n_rtts - 1]);
	printf("}\n");
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");
	uint32_t i, k;

	if (!f)
		return -1;
	fprintf(f, "{\"proto\":\"%s\",\"dst\":\"%s\",\"packets_per_flow\":%u,\"flows\":[\n",
		o.tcp ? "tcp" : "udp", o.dst_arg, o.packets);
	for (i = 0; i < o.flows; i++) {
		const struct flow *fl = &flows[i];
		uint64_t base = (uint64_t)i * o.packets;

		fprintf(f, "%s{\"flow\":%u,\"sport\":%u,\"answered\":%u,\"lost\":%u,\"unit\":",
			i ? ",\n" : "", i, fl->sport, fl->answered, fl->lost);
		if (fl->answered)
			fprintf(f, "\"%s\"", units[fl->last_unit]);
		else
			fputs("null", f);
		fputs(",\"units\":[", f);
		for (k = 0; k < o.packets; k++) {
			uint8_t u = res_unit[base + k];

			if (u == UNIT_NONE)
				fprintf(f, "%snull", k ? "," : "");
			else
				fprintf(f, "%s\"%s\"", k ? "," : "", units[u]);
		}
		fputs("],\"t_ns\":[", f);
		for (k = 0; k < o.packets; k++)
			fprintf(f, "%s%llu", k ? "," : "", (unsigned long long)res_t[base + k]);
		fputs("]}", f);
	}
	fputs("\n]}\n", f);
	return fclose(f);
}

static void raise_nofile(uint64_t need)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r) || r.rlim_cur >= need)
		return;
	if (r.rlim_max < need) {
		struct rlimit want = { need, need };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			return;
	}
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dst", required_argument, NULL, 'd' },
		{ "flows", required_argument, NULL, 'n' },
		{ "proto", required_argument, NULL, 'p' },
		{ "packets", required_argument, NULL, 'P' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "retries", required_argument, NULL, 'r' },
		{ "interval-ms", required_argument, NULL, 'i' },
		{ "window", required_argument, NULL, 'w' },
		{ "src", required_argument, NULL, 's' },
		{ "src-port-base", required_argument, NULL, 'b' },
		{ "max-ms", required_argument, NULL, 'm' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t start, deadline, total;
	uint32_t i;
	int opt;

	while ((opt = getopt_long(argc, argv, "d:n:p:P:t:r:i:w:s:b:m:j:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			o.dst_arg = optarg;
			if (parse_addr(optarg, true, &o.dst, &o.dst_len)) {
				fprintf(stderr,
					"cg-flows: --dst: '%s' is not a.b.c.d:PORT or [v6]:PORT\n",
					optarg);
				exit(2);
			}
			break;
		case 'n':
			o.flows = (uint32_t)parse_num("flows", optarg, 1, MAX_FLOWS);
			break;
		case 'p':
			if (!strcmp(optarg, "tcp"))
				o.tcp = true;
			else if (strcmp(optarg, "udp"))
				usage(2);
			break;
		case 'P':
			o.packets = (uint32_t)parse_num("packets", optarg, 1, 100000000);
			break;
		case 't':
			o.timeout_ns = parse_num("timeout-ms", optarg, 1, 600000) * 1000000ull;
			break;
		case 'r':
			o.retries = (uint32_t)parse_num("retries", optarg, 0, 100);
			break;
		case 'i':
			o.interval_ns = parse_num("interval-ms", optarg, 0, 600000) * 1000000ull;
			break;
		case 'w':
			o.window = (uint32_t)parse_num("window", optarg, 1, MAX_FLOWS);
			break;
		case 's':
			if (parse_addr(optarg, false, &o.src, &o.src_len)) {
				fprintf(stderr, "cg-flows: --src: '%s' is not an address\n",
					optarg);
				exit(2);
			}
			o.has_src = true;
			break;
		case 'b':
			o.sport_base = (int)parse_num("src-port-base", optarg, 1, 65535);
			break;
		case 'm':
			o.max_ns = parse_num("max-ms", optarg, 1, 86400000) * 1000000ull;
			break;
		case 'j':
			o.json = optarg;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc || !o.dst_arg)
		usage(2);
	if (o.has_src && o.src.ss_family != o.dst.ss_family) {
		fprintf(stderr, "cg-flows: --src and --dst are of different families\n");
		exit(2);
	}
	if (o.sport_base >= 0 && (uint64_t)o.sport_base + o.flows - 1 > 65535) {
		fprintf(stderr, "cg-flows: --src-port-base %d + --flows %u runs past port 65535\n",
			o.sport_base, o.flows);
		exit(2);
	}
	total = (uint64_t)o.flows * o.packets;
	if (total > 200000000ull) {
		fprintf(stderr, "cg-flows: --flows x --packets is too large (%llu)\n",
			(unsigned long long)total);
		exit(2);
	}

	raise_nofile(o.flows + 64ull);
	flows = calloc(o.flows, sizeof(*flows));
	waitq = calloc(o.flows, sizeof(*waitq));
	res_unit = malloc(total);
	res_t = calloc(total, sizeof(*res_t));
	rtts = malloc(total * sizeof(*rtts));
	if (!flows || !waitq || !res_unit || !res_t || !rtts)
		fatal("out of memory", NULL);
	memset(res_unit, UNIT_NONE, total);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		fatal("epoll_create1", NULL);

	for (i = 0; i < o.flows; i++) {
		flows[i].fd = -1;
		if (o.tcp) {
			flows[i].in = malloc(LINE_CAP);
			if (!flows[i].in)
				fatal("out of memory", NULL);
			if (o.sport_base >= 0)
				flows[i].sport = (uint16_t)(o.sport_base + (int)i);
		} else {
			flow_socket(i); /* bind every UDP socket up front: bad ports fail early */
		}
	}

	start = now_ns(CLOCK_MONOTONIC);
	deadline = start + o.max_ns;
	for (i = 0; i < o.flows; i++)
		request_send(i, start);

	while (done_flows < o.flows) {
		struct epoll_event ev[MAX_EVENTS];
		uint64_t now = now_ns(CLOCK_MONOTONIC);
		int n, k, wait_ms = -1;

		while (heap_len && heap[0].at <= now) {
			struct timer t = heap[0];

			heap_pop();
			if (t.gen == flows[t.flow].timer_gen)
				on_timer(t.flow, now);
		}
		if (now >= deadline || done_flows == o.flows)
			break;
		if (heap_len) {
			uint64_t d = heap[0].at - now;

			wait_ms = (int)((d + 999999) / 1000000);
		}
		if (wait_ms < 0 || (uint64_t)wait_ms * 1000000ull > deadline - now)
			wait_ms = (int)((deadline - now + 999999) / 1000000);
		n = epoll_wait(epfd, ev, MAX_EVENTS, wait_ms);
		if (n < 0 && errno != EINTR)
			fatal("epoll_wait", NULL);
		now = now_ns(CLOCK_MONOTONIC);
		for (k = 0; k < n; k++)
			on_event(ev[k].data.u32, ev[k].events, now);
	}

	/* Out of time: whatever is outstanding is lost, what never left is unsent. */
	for (i = 0; i < o.flows; i++) {
		struct flow *f = &flows[i];

		if (f->state == F_DONE)
			continue;
		if (f->state == F_WAITING) {
			f->lost++;
			n_lost++;
			f->seq++;
		}
		n_unsent += o.packets - f->seq;
		f->state = F_DONE;
		flow_close(f);
	}
	write_summary(now_ns(CLOCK_MONOTONIC) - start);
	if (o.json && write_json(o.json))
		fatal("writing", o.json);
	return 0;
}
