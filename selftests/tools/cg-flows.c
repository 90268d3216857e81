// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cg-flows: open many distinct flows to a service of the test bed and tell
 * which unit answered each request (cg-echo replies "UNIT HOST <payload>").
 *
 *   cg-flows --dst ADDR:PORT --flows N [--proto udp|tcp] [--packets P]
 *            [--timeout-ms T] [--retries R] [--interval-ms I] [--window W]
 *            [--src ADDR] [--src-port-base B] [--max-ms M] [--json FILE]
 *            [--rate RPS] [--duration-ms D] [--stagger] [--reconnect]
 *            [--slice-ms S] [--series FILE] [--json-brief] [--label NAME]
 *            [--slow-ms S] [--tcp-timeout-ms C]
 *
 * Flow i is one socket: UDP bound to source port B+i (or an ephemeral port)
 * and connected, or one TCP connection. Each flow sends P requests one after
 * the other, at most one outstanding, starting a request no sooner than I ms
 * after the previous one started (--rate RPS sets I so that all flows
 * together start RPS requests a second, and implies --stagger: the flows'
 * first requests are spread over one interval instead of all at once).
 * With --duration-ms D a flow starts requests until D ms have passed (P is
 * then only a cap, by default enough for D), finishes the one outstanding
 * and stops. A UDP request unanswered after T ms is sent again, at most R
 * times, then counted lost; a TCP request waits T*(R+1) ms (C). At most W
 * requests (or TCP handshakes) are in flight at once, so bursts do not
 * overrun the 256-frame veth XDP ring. Everything stops after M ms, or on
 * SIGINT/SIGTERM (the first one stops new requests, a second one stops at
 * once); the results are written either way.
 *
 * --reconnect (TCP): a connection that is reset or closed, or a handshake
 * that times out after T ms, is opened again from the same source port and
 * the outstanding request is sent again on it (counted in "reconnects"):
 * what a client does when its flow lands on a unit that does not know it.
 * With --reconnect, a TCP request unanswered after --tcp-timeout-ms C
 * (default T*(R+1)) is sent again on a new connection.
 *
 * Packets: every attempt carries its number ("cgf FLOW REQ ATTEMPT"), so a
 * late reply to an earlier attempt is told apart from a lost one. A packet
 * is lost when no reply to that attempt ever arrives (a TCP request counts
 * as one packet per connection it was sent on). An outage of a flow begins
 * with the send of a packet that was lost (TCP: or of a request answered
 * after more than --slow-ms S, T by default, as TCP's own retransmissions
 * hide the losses) and ends when the answer to that request or a later one
 * arrives: the time this client saw no service, its RTO. A request
 * answered by another unit than the flow's previous answer "moved" it.
 *
 * stdout gets one JSON summary; --json FILE gets every flow (source port,
 * unit per request, send time of the answered attempt in CLOCK_REALTIME ns,
 * lost packets, reconnects, unit changes and outages; --json-brief leaves
 * the per-request arrays out). --series FILE gets, per slice of S ms (10 by
 * default) of CLOCK_REALTIME aligned to multiples of S: attempts sent,
 * answered and lost (by their send time), requests that moved, reconnects
 * and answers per unit, so that runs of several processes can be added up.
 * A flow's "unit" is the unit that answered its last answered request;
 * flows_by_unit counts those. TCP flows end with RST (SO_LINGER 0) so fixed
 * source ports can be reused by the next run at once.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
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
#define MAX_ATTEMPTS 64 /* attempts of one request tracked for late replies */
#define PEND_MAX 8 /* unanswered attempts per flow still waiting for a late reply */
#define EVENTS_MAX 16 /* unit changes and outages kept per flow (more are counted) */
#define SERIES_UNITS 16 /* units with their own column in the series */
#define SERIES_MAX_SLICES 2000000 /* 5.5 h of 10 ms slices */

enum fstate { F_IDLE, F_CONNECTING, F_WAITING, F_DONE };

struct pend {
	uint64_t rt; /* realtime send of the attempt */
	uint32_t seq;
	uint8_t attempt;
};

struct ev {
	uint64_t a, b; /* change: time, unit; outage: start, end (0: not over) */
};

/* what starts an outage: a packet lost for good, or a slow TCP answer */
struct mark {
	uint64_t rt; /* send time */
	uint32_t seq; /* of its request */
};

struct flow {
	int fd;
	uint16_t sport;
	uint8_t state; /* enum fstate */
	uint8_t attempt; /* of the current request, 0-based */
	bool queued; /* waiting for a window slot */
	bool disturbed; /* the current request was reset or refused */
	uint32_t seq; /* current request, 0..packets-1 */
	uint32_t timer_gen; /* invalidates stale heap entries */
	uint64_t start_ns; /* monotonic: first send of the current request */
	uint64_t sent_ns; /* monotonic: latest attempt */
	uint64_t sent_rt; /* realtime: latest attempt */
	uint64_t req_rt; /* realtime: first attempt of the current request */
	uint64_t ans_mask; /* attempts of the current request answered (or known lost) */
	uint32_t answered, lost;
	uint32_t lost_pkts, reconnects;
	uint64_t first_lost_rt, last_lost_rt;
	uint8_t last_unit;
	uint8_t n_units_seen; /* distinct units that answered this flow (capped) */
	uint8_t n_pend, n_chg, n_out;
	uint16_t in_len; /* TCP reply bytes buffered */
	uint32_t chg_more, out_more; /* events beyond EVENTS_MAX */
	struct pend pend[PEND_MAX];
	struct ev *chg, *out; /* EVENTS_MAX each, allocated on first use */
	struct mark *marks;
	uint32_t n_marks, cap_marks;
	char *in; /* TCP only */
};

struct timer {
	uint64_t at;
	uint32_t flow;
	uint32_t gen;
};

struct slice {
	uint32_t sent, answered, lost, moved, reconnects;
	uint32_t unit[SERIES_UNITS];
};

static struct {
	struct sockaddr_storage dst, src;
	socklen_t dst_len, src_len;
	bool has_src;
	bool tcp;
	bool stagger, reconnect, brief;
	bool packets_set;
	const char *dst_arg;
	const char *label;
	uint32_t flows, packets, window, retries;
	uint64_t timeout_ns, interval_ns, max_ns, dur_ns, slice_ns, slow_ns, tcp_timeout_ns;
	double rate;
	int sport_base; /* -1 = ephemeral */
	const char *json;
	const char *series;
} o = {
	.flows = 1,
	.packets = 1,
	.window = 256,
	.retries = 3,
	.timeout_ns = 300 * 1000000ull,
	.max_ns = 60000 * 1000000ull,
	.slice_ns = 10 * 1000000ull,
	.sport_base = -1,
};

static struct flow *flows;
static uint8_t *res_unit; /* [flow * packets + seq] */
static uint64_t *res_t; /* realtime ns the answered attempt was sent */
static uint64_t *res_rx; /* realtime ns the answer arrived */
static uint64_t *att_rt; /* [flow * MAX_ATTEMPTS + attempt]: realtime send */
static uint32_t *rtts; /* us, one per answered request */
static uint64_t n_rtts;
static uint32_t *outages_us; /* one per finished outage */
static uint64_t n_outages, cap_outages;
static char units[MAX_UNITS][UNIT_LEN];
static int n_units;
static uint64_t unit_answers[MAX_UNITS], unit_first[MAX_UNITS], unit_last[MAX_UNITS];

static struct timer *heap;
static size_t heap_len, heap_cap;
static uint32_t *waitq; /* flows waiting for a window slot, FIFO ring */
static uint32_t wq_head, wq_len;
static uint32_t inflight, done_flows;
static uint64_t n_sent, n_answered, n_lost, n_unsent, n_retrans, n_errors;
static uint64_t n_lost_pkts, n_late, n_reconnects, n_disturbed, n_moves;
static uint64_t first_lost_rt, last_lost_rt;
static uint64_t start_mono, start_rt;
static int epfd;
static volatile sig_atomic_t stop_signals;

static struct slice *series;
static uint64_t series_base, series_len, series_cap; /* base: first slice number */

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
		"                [--rate RPS] [--duration-ms D] [--stagger] [--reconnect]\n"
		"                [--slice-ms S] [--series FILE] [--json-brief] [--label NAME]\n"
		"                [--slow-ms S] [--tcp-timeout-ms C]\n"
		"ADDR is a.b.c.d or [v6]. Prints a JSON summary on stdout.\n");
	exit(code);
}

static void fatal(const char *what, const char *arg)
{
	fprintf(stderr, "cg-flows: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (!p)
		fatal("out of memory", NULL);
	return p;
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

/* ---- time series ---- */

/* The slice of a realtime instant, growing the series as needed (NULL without --series). */
static struct slice *slice_at(uint64_t rt)
{
	uint64_t n;

	if (!o.series)
		return NULL;
	n = rt / o.slice_ns;
	n = n < series_base ? 0 : n - series_base;
	if (n >= SERIES_MAX_SLICES)
		n = SERIES_MAX_SLICES - 1; /* piles up in the last slice rather than failing */
	if (n >= series_cap) {
		uint64_t cap = series_cap ? series_cap : 1024;

		while (cap <= n)
			cap *= 2;
		series = realloc(series, cap * sizeof(*series));
		if (!series)
			fatal("out of memory", NULL);
		memset(series + series_cap, 0, (cap - series_cap) * sizeof(*series));
		series_cap = cap;
	}
	if (n >= series_len)
		series_len = n + 1;
	return &series[n];
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

static void ev_add(struct ev **list, uint8_t *n, uint32_t *more, uint64_t a, uint64_t b)
{
	if (*n == EVENTS_MAX) {
		(*more)++;
		return;
	}
	if (!*list)
		*list = xcalloc(EVENTS_MAX, sizeof(**list));
	(*list)[*n].a = a;
	(*list)[*n].b = b;
	(*n)++;
}

static void mark_add(struct flow *f, uint32_t seq, uint64_t rt)
{
	if (f->n_marks == f->cap_marks) {
		f->cap_marks = f->cap_marks ? f->cap_marks * 2 : 4;
		f->marks = realloc(f->marks, f->cap_marks * sizeof(*f->marks));
		if (!f->marks)
			fatal("out of memory", NULL);
	}
	f->marks[f->n_marks++] = (struct mark){ rt, seq };
}

/* An attempt that no reply answered: lost for good. */
static void packet_lost(struct flow *f, uint32_t seq, uint64_t rt)
{
	struct slice *s = slice_at(rt);

	mark_add(f, seq, rt);
	f->lost_pkts++;
	n_lost_pkts++;
	if (!f->first_lost_rt || rt < f->first_lost_rt)
		f->first_lost_rt = rt;
	if (rt > f->last_lost_rt)
		f->last_lost_rt = rt;
	if (!first_lost_rt || rt < first_lost_rt)
		first_lost_rt = rt;
	if (rt > last_lost_rt)
		last_lost_rt = rt;
	if (s)
		s->lost++;
}

/* An attempt still unanswered when its request is over: a late reply may
 * still come; what is left at the end is lost. */
static void pend_add(struct flow *f, uint32_t seq, uint8_t attempt, uint64_t rt)
{
	if (f->n_pend == PEND_MAX) {
		packet_lost(f, f->pend[0].seq, f->pend[0].rt);
		memmove(f->pend, f->pend + 1, (PEND_MAX - 1) * sizeof(f->pend[0]));
		f->n_pend--;
	}
	f->pend[f->n_pend++] = (struct pend){ rt, seq, attempt };
}

static bool pend_take(struct flow *f, uint32_t seq, uint8_t attempt)
{
	uint8_t k;

	for (k = 0; k < f->n_pend; k++) {
		if (f->pend[k].seq != seq || f->pend[k].attempt != attempt)
			continue;
		memmove(f->pend + k, f->pend + k + 1, (f->n_pend - k - 1) * sizeof(f->pend[0]));
		f->n_pend--;
		return true;
	}
	return false;
}

static uint64_t attempt_rt(uint32_t i, uint8_t attempt)
{
	return att_rt[(uint64_t)i * MAX_ATTEMPTS + (attempt < MAX_ATTEMPTS ? attempt : MAX_ATTEMPTS - 1)];
}

/* The current request is over: its attempts that got no reply wait for one. */
static void attempts_settle(uint32_t i)
{
	struct flow *f = &flows[i];
	uint8_t k;

	for (k = 0; k <= f->attempt; k++) {
		if (k < MAX_ATTEMPTS && (f->ans_mask & (1ull << k)))
			continue;
		if (k < MAX_ATTEMPTS)
			pend_add(f, f->seq, k, attempt_rt(i, k));
		else
			packet_lost(f, f->seq, attempt_rt(i, k));
	}
	f->ans_mask = 0;
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

/* No new requests once the duration is over or a stop was asked for. */
static bool winding_down(uint64_t now)
{
	return stop_signals || (o.dur_ns && now >= start_mono + o.dur_ns);
}

/* The current request of flow i is over (answered or lost): schedule the next. */
static void request_done(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];
	uint64_t next;

	attempts_settle(i);
	f->state = F_IDLE;
	f->seq++;
	f->attempt = 0;
	f->disturbed = false;
	window_release(now);
	if (f->seq >= o.packets || winding_down(now)) {
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
	unsigned long fl, seq, att = 0;
	uint64_t idx, rx_rt, sent_rt;
	struct slice *s;
	int u;

	if (!sp)
		return;
	tag = memmem(p, n, " cgf ", 5);
	if (!tag || sscanf(tag + 5, "%lu %lu %lu", &fl, &seq, &att) < 2 || fl != i)
		return; /* not ours */
	if (att > 255)
		return;
	if (f->state != F_WAITING || seq != f->seq) {
		/* a late reply to an attempt of an earlier request: not lost after all */
		if (seq < f->seq && pend_take(f, (uint32_t)seq, (uint8_t)att))
			n_late++;
		return;
	}
	if (att > f->attempt)
		return; /* an attempt we did not send */
	if (att < MAX_ATTEMPTS)
		f->ans_mask |= 1ull << att;
	u = unit_id(p, (size_t)(sp - p));
	sent_rt = attempt_rt(i, (uint8_t)att);
	if (!sent_rt)
		sent_rt = f->sent_rt;
	rx_rt = now_ns(CLOCK_REALTIME);
	idx = (uint64_t)i * o.packets + f->seq;
	res_unit[idx] = (uint8_t)u;
	res_t[idx] = f->sent_rt;
	res_rx[idx] = rx_rt;
	if (!unit_answers[u]++ || f->sent_rt < unit_first[u])
		unit_first[u] = f->sent_rt;
	if (f->sent_rt > unit_last[u])
		unit_last[u] = f->sent_rt;
	s = slice_at(sent_rt);
	if (s) {
		s->answered++;
		s->unit[u < SERIES_UNITS ? u : SERIES_UNITS - 1]++;
	}
	if (f->answered == 0 || f->last_unit != u) {
		if (f->n_units_seen < 255)
			f->n_units_seen++;
		ev_add(&f->chg, &f->n_chg, &f->chg_more, sent_rt, (uint64_t)u);
		if (f->answered) {
			n_moves++;
			if (s)
				s->moved++;
		}
	}
	/* not at the first try, or not in time, or not on the first connection */
	if (att || f->disturbed || now - f->start_ns > o.timeout_ns)
		n_disturbed++;
	/* TCP hides lost packets in its retransmissions: a slow answer is the outage */
	if (o.tcp && now - f->start_ns > o.slow_ns)
		mark_add(f, f->seq, f->req_rt);
	f->last_unit = (uint8_t)u;
	f->answered++;
	n_answered++;
	rtts[n_rtts++] = (uint32_t)((now - f->sent_ns) / 1000);
	timer_cancel(i);
	request_done(i, now);
}

static void request_lost(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];

	f->lost++;
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
	/* a reconnecting flow keeps its source port, hence its 5-tuple */
	if (o.has_src || o.sport_base >= 0 || (o.reconnect && f->sport)) {
		if (o.has_src) {
			src = o.src;
			len = o.src_len;
		} else {
			memset(&src, 0, sizeof(src));
			src.ss_family = o.dst.ss_family;
			len = o.dst_len;
		}
		if (o.sport_base >= 0 || (o.reconnect && f->sport)) {
			uint16_t port = htons(o.sport_base >= 0 ? (uint16_t)(o.sport_base + (int)i)
								: f->sport);

			if (src.ss_family == AF_INET)
				((struct sockaddr_in *)&src)->sin_port = port;
			else
				((struct sockaddr_in6 *)&src)->sin6_port = port;
		}
		if (bind(fd, (struct sockaddr *)&src, len)) {
			char what[64];

			if (o.tcp && f->sport) { /* the port is briefly busy: try again later */
				close(fd);
				return -1;
			}
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

static void attempt_sent(uint32_t i, uint64_t rt)
{
	struct flow *f = &flows[i];
	struct slice *s = slice_at(rt);

	att_rt[(uint64_t)i * MAX_ATTEMPTS +
	       (f->attempt < MAX_ATTEMPTS ? f->attempt : MAX_ATTEMPTS - 1)] = rt;
	if (s)
		s->sent++;
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
		if (winding_down(now) && f->attempt == 0 && !f->disturbed) {
			flow_finish(i);
			return;
		}
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
			if (f->attempt == 0 && !f->disturbed) {
				f->start_ns = now;
				f->req_rt = now_ns(CLOCK_REALTIME);
			}
			if (flow_socket(i)) {
				f->state = F_CONNECTING;
				n_errors++;
				if (o.reconnect) /* try again after the timeout */
					heap_push(now + o.timeout_ns, i);
				else
					on_timer(i, now); /* lost, like a handshake timeout */
				return;
			}
			f->state = F_CONNECTING;
			heap_push(now + o.timeout_ns * (o.reconnect ? 1 : o.retries + 1), i);
			return;
		}
		if (f->attempt == 0 && !f->disturbed) {
			f->start_ns = now;
			f->req_rt = now_ns(CLOCK_REALTIME);
		}
		f->state = F_WAITING;
	}
	n = snprintf(buf, sizeof(buf), "cgf %u %u %u\n", i, f->seq, f->attempt);
	f->sent_ns = now;
	f->sent_rt = now_ns(CLOCK_REALTIME);
	attempt_sent(i, f->sent_rt);
	if (send(f->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		n_errors++; /* e.g. ECONNREFUSED from an earlier ICMP error: retry later */
	if (f->attempt == 0 && !f->disturbed)
		n_sent++;
	else
		n_retrans++;
	heap_push(now + (o.tcp ? o.tcp_timeout_ns : o.timeout_ns), i);
}

/* --reconnect: the connection of flow i broke; open it again and resend. */
static void tcp_reconnect(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];

	if (f->state == F_WAITING) {
		/* the request sent on the broken connection gets no reply: settled */
		if (f->attempt < MAX_ATTEMPTS && !(f->ans_mask & (1ull << f->attempt))) {
			packet_lost(f, f->seq, attempt_rt(i, f->attempt));
			f->ans_mask |= 1ull << f->attempt;
		}
		if (f->attempt < 255)
			f->attempt++;
	}
	if (f->state == F_WAITING || f->state == F_CONNECTING) {
		f->disturbed = true;
		timer_cancel(i); /* an idle flow keeps the timer of its next request */
	}
	flow_close(f);
	f->in_len = 0;
	f->reconnects++;
	n_reconnects++;
	{
		struct slice *s = slice_at(now_ns(CLOCK_REALTIME));

		if (s)
			s->reconnects++;
	}
	if (f->state == F_WAITING || f->state == F_CONNECTING) {
		f->state = F_IDLE;
		inflight--; /* request_send takes a slot again */
		request_send(i, now);
	} else {
		f->state = F_IDLE; /* reopened with the next request */
	}
}

static void on_timer(uint32_t i, uint64_t now)
{
	struct flow *f = &flows[i];

	switch (f->state) {
	case F_IDLE:
		request_send(i, now);
		break;
	case F_CONNECTING:
		if (o.reconnect && !(stop_signals > 1)) {
			/* handshake timed out (or the socket could not be made): again */
			if (f->fd >= 0) {
				tcp_reconnect(i, now);
			} else {
				f->state = F_IDLE;
				inflight--;
				request_send(i, now);
			}
			break;
		}
		/* handshake timed out: every request of the flow is lost */
		f->lost += o.packets - f->seq;
		n_lost += o.packets - f->seq;
		n_sent += o.packets - f->seq;
		flow_finish(i);
		break;
	case F_WAITING:
		if (!o.tcp && f->attempt < o.retries) {
			f->attempt++;
			request_send(i, now);
		} else if (o.tcp && o.reconnect && !winding_down(now)) {
			/* given up on this connection: the request goes again on a new one */
			tcp_reconnect(i, now);
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
			n_errors++;
			if (o.reconnect) {
				/* refused: try again after the timeout, from a fresh socket */
				flow_close(f);
				timer_cancel(i);
				f->disturbed = true;
				heap_push(now + o.timeout_ns, i);
				return;
			}
			on_timer(i, now); /* refused or unreachable: same as a timeout */
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
		ssize_t n;
		char *nl;

		if (f->fd < 0)
			return;
		n = recv(f->fd, f->in + f->in_len, LINE_CAP - f->in_len, 0);
		if (n <= 0) {
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return;
			/* peer closed or reset: what is outstanding is lost */
			n_errors++;
			if (o.reconnect && !winding_down(now)) {
				tcp_reconnect(i, now);
				return;
			}
			if (o.reconnect || o.dur_ns) {
				/* winding down: only the outstanding request is lost */
				if (f->state == F_WAITING) {
					packet_lost(f, f->seq, attempt_rt(i, f->attempt));
					f->ans_mask |= 1ull << (f->attempt % MAX_ATTEMPTS);
					request_lost(i, now);
				}
				if (f->state != F_DONE)
					flow_finish(i);
				return;
			}
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
			if (f->state == F_DONE || f->fd < 0)
				return;
			memmove(f->in, f->in + l, f->in_len - l);
			f->in_len -= (uint16_t)l;
		}
		if (f->in_len == LINE_CAP)
			f->in_len = 0; /* garbage without newline */
	}
}

static int cmp_mark(const void *a, const void *b)
{
	const struct mark *x = a, *y = b;

	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->rt < y->rt ? -1 : x->rt > y->rt;
}

static void outage_add(struct flow *f, uint64_t begin, uint64_t end)
{
	ev_add(&f->out, &f->n_out, &f->out_more, begin, end);
	if (!end)
		return;
	if (n_outages == cap_outages) {
		cap_outages = cap_outages ? cap_outages * 2 : 1024;
		outages_us = realloc(outages_us, cap_outages * sizeof(*outages_us));
		if (!outages_us)
			fatal("out of memory", NULL);
	}
	outages_us[n_outages++] = end > begin ? (uint32_t)((end - begin) / 1000) : 0;
}

/*
 * The outages of flow i, once every lost packet is known: each begins with
 * the send of a lost packet (or of a slow TCP request) and ends when the
 * first answer to that request or a later one arrived (0: none did). Marks
 * that end at the same answer are one outage.
 */
static void outages(uint32_t i)
{
	struct flow *f = &flows[i];
	uint64_t base = (uint64_t)i * o.packets, begin = 0, end = 0;
	uint32_t k, seq = 0, next = 0;
	bool open = false;

	if (!f->n_marks)
		return;
	qsort(f->marks, f->n_marks, sizeof(*f->marks), cmp_mark);
	for (k = 0; k < f->n_marks; k++) {
		const struct mark *m = &f->marks[k];
		uint64_t e = 0;

		/* the first answered request from m's on */
		for (seq = m->seq > next ? m->seq : next; seq < o.packets; seq++)
			if (res_unit[base + seq] != UNIT_NONE)
				break;
		next = seq;
		if (seq < o.packets)
			e = res_rx[base + seq];
		if (open && e == end) {
			if (m->rt < begin)
				begin = m->rt;
			continue;
		}
		if (open)
			outage_add(f, begin, end);
		open = true;
		begin = m->rt;
		end = e;
	}
	if (open)
		outage_add(f, begin, end);
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

/* p-th percentile of a sorted array, nearest rank */
static uint32_t pct(const uint32_t *v, uint64_t n, unsigned p)
{
	uint64_t k = (n * p + 99) / 100;

	return v[k ? k - 1 : 0];
}

static void write_summary(uint64_t elapsed_ns)
{
	uint64_t flows_by_unit[MAX_UNITS] = { 0 };
	uint32_t unanswered = 0, moved = 0, lost_flows = 0, open_outages = 0, i;
	double avg = 0;

	for (i = 0; i < o.flows; i++) {
		if (flows[i].answered)
			flows_by_unit[flows[i].last_unit]++;
		else
			unanswered++;
		if (flows[i].n_units_seen > 1)
			moved++;
		if (flows[i].lost_pkts)
			lost_flows++;
		if (flows[i].n_out && !flows[i].out[flows[i].n_out - 1].b)
			open_outages++;
	}
	qsort(rtts, n_rtts, sizeof(*rtts), cmp_u32);
	for (i = 0; i < n_rtts; i++)
		avg += rtts[i];
	if (n_rtts)
		avg /= (double)n_rtts;

	printf("{\"proto\":\"%s\",\"dst\":\"%s\",\"flows\":%u,\"packets_per_flow\":%u,",
	       o.tcp ? "tcp" : "udp", o.dst_arg, o.flows, o.packets);
	if (o.label)
		printf("\"label\":\"%s\",", o.label);
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
	printf(",\"lost_packets\":%llu,\"late_replies\":%llu,\"flows_lost_packets\":%u,",
	       (unsigned long long)n_lost_pkts, (unsigned long long)n_late, lost_flows);
	printf("\"first_lost_ns\":%llu,\"last_lost_ns\":%llu,\"reconnects\":%llu,",
	       (unsigned long long)first_lost_rt, (unsigned long long)last_lost_rt,
	       (unsigned long long)n_reconnects);
	printf("\"requests_disturbed\":%llu,\"moves\":%llu,\"outages\":%llu,"
	       "\"outages_open\":%u,\"start_ns\":%llu",
	       (unsigned long long)n_disturbed, (unsigned long long)n_moves,
	       (unsigned long long)n_outages, open_outages, (unsigned long long)start_rt);
	if (n_outages) {
		qsort(outages_us, n_outages, sizeof(*outages_us), cmp_u32);
		printf(",\"outage_ms\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
		       pct(outages_us, n_outages, 50) / 1e3, pct(outages_us, n_outages, 99) / 1e3,
		       outages_us[n_outages - 1] / 1e3);
	}
	printf("}\n");
}

static int write_json(const char *path)
{
	FILE *f = fopen(path, "w");
	uint32_t i, k;

	if (!f)
		return -1;
	fprintf(f, "{\"proto\":\"%s\",\"dst\":\"%s\",\"packets_per_flow\":%u,",
		o.tcp ? "tcp" : "udp", o.dst_arg, o.packets);
	if (o.label)
		fprintf(f, "\"label\":\"%s\",", o.label);
	fputs("\"flows\":[\n", f);
	for (i = 0; i < o.flows; i++) {
		const struct flow *fl = &flows[i];
		uint64_t base = (uint64_t)i * o.packets;

		fprintf(f, "%s{\"flow\":%u,\"sport\":%u,\"answered\":%u,\"lost\":%u,\"unit\":",
			i ? ",\n" : "", i, fl->sport, fl->answered, fl->lost);
		if (fl->answered)
			fprintf(f, "\"%s\"", units[fl->last_unit]);
		else
			fputs("null", f);
		fprintf(f, ",\"lost_packets\":%u,\"reconnects\":%u", fl->lost_pkts, fl->reconnects);
		if (fl->lost_pkts)
			fprintf(f, ",\"first_lost_ns\":%llu,\"last_lost_ns\":%llu",
				(unsigned long long)fl->first_lost_rt,
				(unsigned long long)fl->last_lost_rt);
		fputs(",\"changes\":[", f);
		for (k = 0; k < fl->n_chg; k++)
			fprintf(f, "%s[%llu,\"%s\"]", k ? "," : "", (unsigned long long)fl->chg[k].a,
				units[fl->chg[k].b]);
		fputs("],\"outages\":[", f);
		for (k = 0; k < fl->n_out; k++)
			fprintf(f, "%s[%llu,%llu]", k ? "," : "", (unsigned long long)fl->out[k].a,
				(unsigned long long)fl->out[k].b);
		fputc(']', f);
		if (fl->chg_more || fl->out_more)
			fprintf(f, ",\"changes_more\":%u,\"outages_more\":%u", fl->chg_more,
				fl->out_more);
		if (o.brief) {
			fputc('}', f);
			continue;
		}
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

static void series_column(FILE *f, const char *name, size_t off)
{
	uint64_t k;

	fprintf(f, ",\"%s\":[", name);
	for (k = 0; k < series_len; k++)
		fprintf(f, "%s%u", k ? "," : "", *(const uint32_t *)((const char *)&series[k] + off));
	fputc(']', f);
}

static int write_series(const char *path)
{
	FILE *f = fopen(path, "w");
	uint64_t k;
	int u;

	if (!f)
		return -1;
	fprintf(f, "{\"proto\":\"%s\",\"dst\":\"%s\",\"slice_ms\":%.3f,\"t0_ns\":%llu,\"slices\":%llu",
		o.tcp ? "tcp" : "udp", o.dst_arg, o.slice_ns / 1e6,
		(unsigned long long)(series_base * o.slice_ns), (unsigned long long)series_len);
	if (o.label)
		fprintf(f, ",\"label\":\"%s\"", o.label);
	series_column(f, "sent", offsetof(struct slice, sent));
	series_column(f, "answered", offsetof(struct slice, answered));
	series_column(f, "lost", offsetof(struct slice, lost));
	series_column(f, "moved", offsetof(struct slice, moved));
	series_column(f, "reconnects", offsetof(struct slice, reconnects));
	fputs(",\"by_unit\":{", f);
	for (u = 0; u < n_units && u < SERIES_UNITS; u++) {
		fprintf(f, "%s\"%s\":[", u ? "," : "", u == SERIES_UNITS - 1 ? "other" : units[u]);
		for (k = 0; k < series_len; k++)
			fprintf(f, "%s%u", k ? "," : "", series[k].unit[u]);
		fputc(']', f);
	}
	fputs("}}\n", f);
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

static void on_signal(int sig)
{
	(void)sig;
	stop_signals++;
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
		{ "rate", required_argument, NULL, 'R' },
		{ "duration-ms", required_argument, NULL, 'D' },
		{ "stagger", no_argument, NULL, 'S' },
		{ "reconnect", no_argument, NULL, 'c' },
		{ "slice-ms", required_argument, NULL, 'l' },
		{ "series", required_argument, NULL, 'e' },
		{ "json-brief", no_argument, NULL, 'B' },
		{ "label", required_argument, NULL, 'L' },
		{ "slow-ms", required_argument, NULL, 'W' },
		{ "tcp-timeout-ms", required_argument, NULL, 'X' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sigaction sa = { .sa_handler = on_signal };
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
			o.packets_set = true;
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
		case 'R':
			o.rate = (double)parse_num("rate", optarg, 1, 10000000);
			o.stagger = true;
			break;
		case 'D':
			o.dur_ns = parse_num("duration-ms", optarg, 1, 86400000) * 1000000ull;
			break;
		case 'S':
			o.stagger = true;
			break;
		case 'c':
			o.reconnect = true;
			break;
		case 'l':
			o.slice_ns = parse_num("slice-ms", optarg, 1, 60000) * 1000000ull;
			break;
		case 'e':
			o.series = optarg;
			break;
		case 'B':
			o.brief = true;
			break;
		case 'X':
			o.tcp_timeout_ns = parse_num("tcp-timeout-ms", optarg, 1, 600000) * 1000000ull;
			break;
		case 'W':
			o.slow_ns = parse_num("slow-ms", optarg, 1, 600000) * 1000000ull;
			break;
		case 'L':
			if (strpbrk(optarg, "\"\\") || strlen(optarg) > 64) {
				fprintf(stderr, "cg-flows: --label: at most 64 characters, no quotes\n");
				exit(2);
			}
			o.label = optarg;
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
	if (!o.slow_ns)
		o.slow_ns = o.timeout_ns;
	if (!o.tcp_timeout_ns)
		o.tcp_timeout_ns = o.timeout_ns * (o.retries + 1);
	if (o.rate)
		o.interval_ns = (uint64_t)((double)o.flows * 1e9 / o.rate);
	if (o.dur_ns && !o.packets_set) {
		/* enough requests for the whole duration, and one to finish on */
		o.packets = o.interval_ns ? (uint32_t)(o.dur_ns / o.interval_ns + 2) : 100000;
		if (o.packets > 1000000)
			o.packets = 1000000;
	}
	total = (uint64_t)o.flows * o.packets;
	if (total > 200000000ull) {
		fprintf(stderr, "cg-flows: --flows x --packets is too large (%llu)\n",
			(unsigned long long)total);
		exit(2);
	}

	raise_nofile(o.flows + 64ull);
	flows = xcalloc(o.flows, sizeof(*flows));
	waitq = xcalloc(o.flows, sizeof(*waitq));
	res_unit = xcalloc(total, 1);
	res_t = xcalloc(total, sizeof(*res_t));
	res_rx = xcalloc(total, sizeof(*res_rx));
	rtts = xcalloc(total, sizeof(*rtts));
	att_rt = xcalloc((size_t)o.flows * MAX_ATTEMPTS, sizeof(*att_rt));
	memset(res_unit, UNIT_NONE, total);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		fatal("epoll_create1", NULL);
	/* no SA_RESTART: epoll_wait returns at once with EINTR */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	for (i = 0; i < o.flows; i++) {
		flows[i].fd = -1;
		if (o.tcp) {
			flows[i].in = xcalloc(LINE_CAP, 1);
			if (o.sport_base >= 0)
				flows[i].sport = (uint16_t)(o.sport_base + (int)i);
		} else {
			flow_socket(i); /* bind every UDP socket up front: bad ports fail early */
		}
	}

	start = now_ns(CLOCK_MONOTONIC);
	start_mono = start;
	start_rt = now_ns(CLOCK_REALTIME);
	series_base = start_rt / o.slice_ns;
	deadline = start + o.max_ns;
	for (i = 0; i < o.flows; i++) {
		if (o.stagger && o.interval_ns)
			heap_push(start + o.interval_ns * i / o.flows, i);
		else
			request_send(i, start);
	}

	while (done_flows < o.flows && stop_signals < 2) {
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
			attempts_settle(i);
			f->seq++;
		}
		if (!o.dur_ns)
			n_unsent += o.packets - f->seq;
		f->state = F_DONE;
		flow_close(f);
	}
	/* attempts no late reply answered are lost for good */
	for (i = 0; i < o.flows; i++) {
		struct flow *f = &flows[i];
		uint8_t k;

		for (k = 0; k < f->n_pend; k++)
			packet_lost(f, f->pend[k].seq, f->pend[k].rt);
		f->n_pend = 0;
		outages(i);
	}
	write_summary(now_ns(CLOCK_MONOTONIC) - start);
	if (o.json && write_json(o.json))
		fatal("writing", o.json);
	if (o.series && write_series(o.series))
		fatal("writing", o.series);
	return 0;
}
