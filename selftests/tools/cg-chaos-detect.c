// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cg-chaos-detect: the chaos drills' own failure detector, for gateways
 * that run no `cellgate agent`. It is part of the test bed, not of the
 * product: it stands in for the agent so that a drill can measure what a
 * datacenter loss costs end to end (detection + publish + recovery).
 *
 *   cg-chaos-detect --cellgate PATH --instance INST
 *                   [--interval-ms I] [--timeout-ms T] [--fall F] [--rise R]
 *                   [--hold-down-ms H] [--no-restore] [--handover D]
 *                   [--crash-after-us N]
 *                   --unit NAME [--probe ADDR:PORT]... [--link IFACE]... ...
 *
 * Every I ms it sends a UDP probe to each --probe address of each unit
 * (cg-echo's health port on every backend); a probe unanswered after T ms
 * fails. An endpoint is down after F failures in a row and up again after
 * R successes in a row. A unit is down when every one of its endpoints is
 * down, or at once when one of its --link interfaces loses its carrier, is
 * set down or disappears (rtnetlink link events). A unit going down is
 * evacuated (`cellgate -i INST -j evacuate UNIT`); an evacuation that fails
 * is tried again, 3 times at most. A unit it evacuated that has been up for
 * H ms is restored, unless --no-restore; each time it goes down again
 * within 10 s of a restore, H doubles (flap damping, up to 16 x H).
 * --handover D is passed to `cellgate restore` (established flows keep
 * their stand-in unit for D; cellgate's default is 30 s).
 *
 * --crash-after-us N: N us after it starts its first evacuation it kills
 * that cellgate process and itself with SIGKILL (the "controller killed in
 * the middle of an evacuation" drill).
 *
 * It prints one JSON object per line on stdout, each with "t_ns"
 * (CLOCK_REALTIME) and "event": start, endpoint_down, endpoint_up,
 * link_down, link_up, unit_down (with "cause" and "first_fail_ns", the send
 * time of the first failed probe of the run that led to it, or the time of
 * the link event), unit_up, evacuate_start, evacuate_done (with "rc",
 * "publish_ns": when the new generation became visible, i.e. the end minus
 * cellgate's swap and verify times, and cellgate's JSON "result"),
 * restore_start, restore_done, damped. Runs until SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/if.h> /* IFF_LOWER_UP */
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_UNITS 16
#define MAX_PROBES 16 /* per unit */
#define UNIT_LINKS 4 /* per unit */
#define RING 256 /* probes remembered per endpoint: > T/I */
#define OUT_CAP 8192 /* cellgate output kept */
#define EVAC_TRIES 3
#define RETRY_NS (200 * 1000000ull)
#define DAMP_WINDOW_NS (10 * 1000000000ull)
#define DAMP_MAX 16

enum { U_UP, U_DOWN };

struct probe {
	char arg[64];
	int fd;
	bool down;
	uint32_t fails, oks; /* in a row */
	uint64_t streak_rt; /* send time of the first failure of this run */
	uint64_t next_seq, eval_seq; /* next to send, next to judge */
	uint64_t sent_mono[RING], sent_rt[RING];
	bool answered[RING];
};

struct link {
	char name[IFNAMSIZ];
	bool down;
	uint64_t down_rt;
};

struct child {
	pid_t pid;
	int fd; /* its stdout */
	bool restore;
	uint64_t start_rt;
	size_t len;
	char out[OUT_CAP];
};

struct unit {
	char name[32];
	struct probe probes[MAX_PROBES];
	int n_probes;
	struct link links[UNIT_LINKS];
	int n_links;
	int state; /* U_UP / U_DOWN (as judged) */
	bool evacuated; /* by us */
	int tries;
	uint64_t retry_at; /* mono; 0 = none */
	uint64_t up_since; /* mono, while up and evacuated */
	uint64_t last_restore; /* mono */
	uint32_t damp; /* hold-down multiplier */
	struct child child; /* pid 0: none */
};

static struct {
	const char *cellgate, *instance, *handover;
	uint64_t interval_ns, timeout_ns, hold_ns;
	uint32_t fall, rise;
	bool no_restore;
	long crash_us; /* -1: never */
} o = {
	.interval_ns = 10 * 1000000ull,
	.timeout_ns = 40 * 1000000ull,
	.hold_ns = 2000 * 1000000ull,
	.fall = 3,
	.rise = 10,
	.crash_us = -1,
};

static struct unit units[MAX_UNITS];
static int n_units;
static int epfd;

static uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "cg-chaos-detect: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: cg-chaos-detect --cellgate PATH --instance INST [--interval-ms I]\n"
		"                       [--timeout-ms T] [--fall F] [--rise R] [--hold-down-ms H]\n"
		"                       [--no-restore] [--handover D] [--crash-after-us N]\n"
		"                       --unit NAME [--probe ADDR:PORT]... [--link IFACE]... ...\n");
	exit(code);
}

static uint64_t parse_num(const char *opt, const char *s, uint64_t min, uint64_t max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !*s || v < min || v > max) {
		fprintf(stderr, "cg-chaos-detect: --%s: '%s' is not a number in %llu..%llu\n", opt,
			s, (unsigned long long)min, (unsigned long long)max);
		exit(2);
	}
	return v;
}

/* "a.b.c.d:PORT" or "[v6]:PORT" */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[128], *port, *a = buf;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');

		if (!rb || rb[1] != ':')
			return -1;
		*rb = '\0';
		a = buf + 1;
		port = rb + 2;
	} else {
		port = strrchr(buf, ':');
		if (!port)
			return -1;
		*port++ = '\0';
	}
	p = strtol(port, NULL, 10);
	if (p < 1 || p > 65535)
		return -1;
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

/* ---- events out ---- */

static void emit(const char *event, const struct unit *u, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void emit(const char *event, const struct unit *u, const char *fmt, ...)
{
	va_list ap;

	printf("{\"t_ns\":%llu,\"event\":\"%s\"", (unsigned long long)now_ns(CLOCK_REALTIME), event);
	if (u)
		printf(",\"unit\":\"%s\"", u->name);
	if (fmt) {
		va_start(ap, fmt);
		vprintf(fmt, ap);
		va_end(ap);
	}
	printf("}\n");
	fflush(stdout);
}

/* ---- cellgate ---- */

static void run_cellgate(struct unit *u, bool restore)
{
	struct child *c = &u->child;
	int pfd[2];
	pid_t pid;

	if (c->pid)
		return; /* one command per unit at a time */
	if (pipe2(pfd, O_CLOEXEC))
		die("pipe", NULL);
	c->start_rt = now_ns(CLOCK_REALTIME);
	emit(restore ? "restore_start" : "evacuate_start", u, NULL);
	pid = fork();
	if (pid < 0)
		die("fork", NULL);
	if (!pid) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		if (restore && o.handover)
			execl(o.cellgate, o.cellgate, "-i", o.instance, "-j", "restore", u->name,
			      "--handover", o.handover, (char *)NULL);
		else
			execl(o.cellgate, o.cellgate, "-i", o.instance, "-j",
			      restore ? "restore" : "evacuate", u->name, (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	c->pid = pid;
	c->fd = pfd[0];
	c->len = 0;
	c->restore = restore;
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl", NULL);
	if (!restore && o.crash_us >= 0) {
		if (o.crash_us)
			usleep((useconds_t)o.crash_us);
		emit("crash", u, ",\"after_us\":%ld", o.crash_us);
		kill(pid, SIGKILL);
		raise(SIGKILL);
	}
}

static double json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(s, pat);
	return p ? strtod(p + strlen(pat), NULL) : 0;
}

/* cellgate's output as one JSON value, or a JSON string when it is not one */
static void print_output(char *s)
{
	char *p;
	size_t n = strlen(s);

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' '))
		s[--n] = '\0';
	for (p = s; *p; p++)
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	if (s[0] == '{' && n && s[n - 1] == '}') {
		fputs(s, stdout);
		return;
	}
	putchar('"');
	for (p = s; *p; p++) {
		if (*p == '"' || *p == '\\')
			putchar('\\');
		putchar(*p);
	}
	putchar('"');
}

static void child_output(struct child *c)
{
	struct unit *u = (struct unit *)((char *)c - offsetof(struct unit, child));
	uint64_t end_rt, publish;
	ssize_t n;
	int st = 0, rc;

	for (;;) {
		n = read(c->fd, c->out + c->len, OUT_CAP - 1 - c->len);
		if (n > 0) {
			c->len += (size_t)n;
			if (c->len < OUT_CAP - 1)
				continue;
			n = 0; /* full: keep what we have, wait for the exit */
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		break;
	}
	end_rt = now_ns(CLOCK_REALTIME);
	close(c->fd);
	waitpid(c->pid, &st, 0);
	c->pid = 0;
	c->out[c->len] = '\0';
	rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* the new generation is visible from the start of the swap */
	publish = end_rt - (uint64_t)((json_num(c->out, "swap_ms") + json_num(c->out, "verify_ms")) *
				     1e6);
	printf("{\"t_ns\":%llu,\"event\":\"%s\",\"unit\":\"%s\",\"rc\":%d,\"start_ns\":%llu,"
	       "\"publish_ns\":%llu,\"result\":",
	       (unsigned long long)end_rt, c->restore ? "restore_done" : "evacuate_done", u->name,
	       rc, (unsigned long long)c->start_rt, (unsigned long long)publish);
	print_output(c->out);
	printf("}\n");
	fflush(stdout);
	if (c->restore) {
		if (!rc) {
			u->evacuated = false;
			u->last_restore = now_ns(CLOCK_MONOTONIC);
		} else if (u->up_since) {
			u->up_since = now_ns(CLOCK_MONOTONIC); /* try again after another hold-down */
		}
		return;
	}
	if (!rc) {
		u->evacuated = true;
		u->tries = 0;
		u->retry_at = 0;
	} else if (++u->tries < EVAC_TRIES) {
		u->retry_at = now_ns(CLOCK_MONOTONIC) + RETRY_NS;
	}
}

/* ---- unit state ---- */

static bool unit_failing(const struct unit *u, const char **cause)
{
	int k, down = 0;

	for (k = 0; k < u->n_links; k++)
		if (u->links[k].down) {
			*cause = "link";
			return true;
		}
	for (k = 0; k < u->n_probes; k++)
		down += u->probes[k].down;
	*cause = "probes";
	return u->n_probes && down == u->n_probes;
}

static void unit_judge(struct unit *u)
{
	const char *cause;
	uint64_t first = 0, now = now_ns(CLOCK_MONOTONIC);
	int k;

	if (unit_failing(u, &cause)) {
		if (u->state == U_DOWN)
			return;
		u->state = U_DOWN;
		u->up_since = 0;
		for (k = 0; k < u->n_links; k++)
			if (u->links[k].down && (!first || u->links[k].down_rt < first))
				first = u->links[k].down_rt;
		if (!first)
			for (k = 0; k < u->n_probes; k++)
				if (!first || u->probes[k].streak_rt < first)
					first = u->probes[k].streak_rt;
		if (u->last_restore && now - u->last_restore < DAMP_WINDOW_NS && u->damp < DAMP_MAX) {
			u->damp = u->damp ? u->damp * 2 : 2;
			emit("damped", u, ",\"hold_down_ms\":%llu",
			     (unsigned long long)(o.hold_ns * u->damp / 1000000));
		}
		emit("unit_down", u, ",\"cause\":\"%s\",\"first_fail_ns\":%llu", cause,
		     (unsigned long long)first);
		u->tries = 0;
		u->retry_at = now; /* now, or as soon as a running restore is over */
		if (!u->child.pid) {
			u->retry_at = 0;
			run_cellgate(u, false);
		}
		return;
	}
	if (u->state == U_DOWN) {
		/* up again: every link up, and not every endpoint down */
		for (k = 0; k < u->n_probes; k++)
			if (u->probes[k].down)
				return; /* wait for all of them before calling it up */
		u->state = U_UP;
		u->up_since = now;
		u->retry_at = 0;
		emit("unit_up", u, NULL);
	}
}

static void unit_tick(struct unit *u, uint64_t now)
{
	if (u->state == U_DOWN && !u->evacuated && u->retry_at && now >= u->retry_at &&
	    !u->child.pid) {
		u->retry_at = 0;
		run_cellgate(u, false);
	}
	if (u->state == U_UP && u->evacuated && !o.no_restore && !u->child.pid && u->up_since &&
	    now - u->up_since >= o.hold_ns * (u->damp ? u->damp : 1))
		run_cellgate(u, true);
}

/* ---- probes ---- */

static void probe_open(struct probe *p)
{
	struct sockaddr_storage ss;
	socklen_t len;

	if (parse_addr(p->arg, &ss, &len)) {
		fprintf(stderr, "cg-chaos-detect: --probe '%s' is not ADDR:PORT or [v6]:PORT\n",
			p->arg);
		exit(2);
	}
	p->fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		die("socket", NULL);
	if (connect(p->fd, (struct sockaddr *)&ss, len))
		die("connect", p->arg);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };

	if (epoll_ctl(epfd, EPOLL_CTL_ADD, p->fd, &ev))
		die("epoll_ctl", NULL);
}

static void probe_send(struct probe *p, uint64_t mono, uint64_t rt)
{
	char buf[64];
	int n;
	uint64_t k = p->next_seq % RING;

	n = snprintf(buf, sizeof(buf), "cgp %llu\n", (unsigned long long)p->next_seq);
	p->sent_mono[k] = mono;
	p->sent_rt[k] = rt;
	p->answered[k] = false;
	p->next_seq++;
	/* an error (ICMP unreachable, no route) is the same as no answer */
	(void)send(p->fd, buf, (size_t)n, MSG_DONTWAIT);
}

static void probe_reply(struct probe *p)
{
	char buf[512];
	ssize_t n;

	while ((n = recv(p->fd, buf, sizeof(buf) - 1, 0)) >= 0) {
		unsigned long long seq;
		char *tag;

		buf[n] = '\0';
		tag = strstr(buf, " cgp ");
		if (!tag || sscanf(tag + 5, "%llu", &seq) != 1)
			continue;
		if (seq < p->eval_seq || seq >= p->next_seq)
			continue; /* judged already (late), or not ours */
		p->answered[seq % RING] = true;
	}
}

static void probe_judge(struct unit *u, struct probe *p, uint64_t mono)
{
	while (p->eval_seq < p->next_seq) {
		uint64_t k = p->eval_seq % RING;

		if (!p->answered[k] && mono - p->sent_mono[k] < o.timeout_ns)
			break; /* still in time */
		if (p->answered[k]) {
			p->fails = 0;
			if (++p->oks >= o.rise && p->down) {
				p->down = false;
				emit("endpoint_up", u, ",\"endpoint\":\"%s\"", p->arg);
			}
		} else {
			if (!p->fails)
				p->streak_rt = p->sent_rt[k];
			p->oks = 0;
			if (++p->fails >= o.fall && !p->down) {
				p->down = true;
				emit("endpoint_down", u, ",\"endpoint\":\"%s\",\"first_fail_ns\":%llu",
				     p->arg, (unsigned long long)p->streak_rt);
			}
		}
		p->eval_seq++;
	}
}

/* ---- links (rtnetlink) ---- */

/* ask for the current state of every link, answered like the events */
static void nl_dump(int fd)
{
	struct {
		struct nlmsghdr n;
		struct ifinfomsg i;
	} req = {
		.n = { .nlmsg_len = sizeof(req), .nlmsg_type = RTM_GETLINK,
		       .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = 1 },
		.i = { .ifi_family = AF_UNSPEC },
	};

	if (send(fd, &req, sizeof(req), 0) < 0)
		die("netlink dump", NULL);
}

static int nl_open(void)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
	int fd, sz = 1 << 20;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		die("netlink socket", NULL);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)))
		die("netlink bind", NULL);
	nl_dump(fd);
	return fd;
}

static void link_state(const char *name, bool down, const char *why)
{
	int i, k;

	for (i = 0; i < n_units; i++) {
		struct unit *u = &units[i];

		for (k = 0; k < u->n_links; k++) {
			struct link *l = &u->links[k];

			if (strcmp(l->name, name) || l->down == down)
				continue;
			l->down = down;
			if (down) {
				l->down_rt = now_ns(CLOCK_REALTIME);
				emit("link_down", u, ",\"dev\":\"%s\",\"reason\":\"%s\"", name, why);
			} else {
				emit("link_up", u, ",\"dev\":\"%s\"", name);
			}
			unit_judge(u);
		}
	}
}

static void nl_read(int fd)
{
	char buf[65536];
	ssize_t n;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		struct nlmsghdr *h;
		int len = (int)n;

		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
			struct ifinfomsg *ifi;
			struct rtattr *a;
			int alen;
			const char *name = NULL;

			if (h->nlmsg_type != RTM_NEWLINK && h->nlmsg_type != RTM_DELLINK)
				continue;
			ifi = NLMSG_DATA(h);
			a = IFLA_RTA(ifi);
			alen = (int)IFLA_PAYLOAD(h);
			for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen))
				if (a->rta_type == IFLA_IFNAME)
					name = RTA_DATA(a);
			if (!name)
				continue;
			if (h->nlmsg_type == RTM_DELLINK)
				link_state(name, true, "deleted");
			else if (!(ifi->ifi_flags & IFF_UP))
				link_state(name, true, "admin-down");
			else if (!(ifi->ifi_flags & IFF_LOWER_UP))
				link_state(name, true, "no-carrier");
			else
				link_state(name, false, NULL);
		}
	}
	if (n < 0 && errno == ENOBUFS) /* events were lost: ask for the whole state again */
		nl_dump(fd);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "cellgate", required_argument, NULL, 'c' },
		{ "instance", required_argument, NULL, 'i' },
		{ "interval-ms", required_argument, NULL, 'I' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "fall", required_argument, NULL, 'f' },
		{ "rise", required_argument, NULL, 'r' },
		{ "hold-down-ms", required_argument, NULL, 'H' },
		{ "no-restore", no_argument, NULL, 'n' },
		{ "crash-after-us", required_argument, NULL, 'k' },
		{ "handover", required_argument, NULL, 'o' },
		{ "unit", required_argument, NULL, 'u' },
		{ "probe", required_argument, NULL, 'p' },
		{ "link", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct itimerspec its = { 0 };
	sigset_t mask;
	int opt, nlfd, tfd, sfd, i, k;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		struct unit *u = n_units ? &units[n_units - 1] : NULL;

		switch (opt) {
		case 'c':
			o.cellgate = optarg;
			break;
		case 'i':
			o.instance = optarg;
			break;
		case 'I':
			o.interval_ns = parse_num("interval-ms", optarg, 1, 10000) * 1000000ull;
			break;
		case 'T':
			o.timeout_ns = parse_num("timeout-ms", optarg, 1, 10000) * 1000000ull;
			break;
		case 'f':
			o.fall = (uint32_t)parse_num("fall", optarg, 1, 100);
			break;
		case 'r':
			o.rise = (uint32_t)parse_num("rise", optarg, 1, 1000);
			break;
		case 'H':
			o.hold_ns = parse_num("hold-down-ms", optarg, 0, 3600000) * 1000000ull;
			break;
		case 'n':
			o.no_restore = true;
			break;
		case 'o':
			o.handover = optarg;
			break;
		case 'k':
			o.crash_us = (long)parse_num("crash-after-us", optarg, 0, 10000000);
			break;
		case 'u':
			if (n_units == MAX_UNITS || strlen(optarg) >= sizeof(units[0].name))
				usage(2);
			snprintf(units[n_units++].name, sizeof(units[0].name), "%s", optarg);
			break;
		case 'p':
			if (!u || u->n_probes == MAX_PROBES || strlen(optarg) >= sizeof(u->probes[0].arg))
				usage(2);
			snprintf(u->probes[u->n_probes++].arg, sizeof(u->probes[0].arg), "%s", optarg);
			break;
		case 'l':
			if (!u || u->n_links == UNIT_LINKS || strlen(optarg) >= IFNAMSIZ)
				usage(2);
			snprintf(u->links[u->n_links++].name, IFNAMSIZ, "%s", optarg);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc || !o.cellgate || !o.instance || !n_units)
		usage(2);
	if (o.timeout_ns / o.interval_ns + 2 >= RING) {
		fprintf(stderr, "cg-chaos-detect: --timeout-ms / --interval-ms must stay below %d\n",
			RING - 2);
		exit(2);
	}

	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1", NULL);
	for (i = 0; i < n_units; i++)
		for (k = 0; k < units[i].n_probes; k++)
			probe_open(&units[i].probes[k]);
	nlfd = nl_open();
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		die("timerfd_create", NULL);
	its.it_value.tv_nsec = 1;
	its.it_interval.tv_sec = (time_t)(o.interval_ns / 1000000000ull);
	its.it_interval.tv_nsec = (long)(o.interval_ns % 1000000000ull);
	timerfd_settime(tfd, 0, &its, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd", NULL);
	{
		struct epoll_event e1 = { .events = EPOLLIN, .data.ptr = &nlfd };
		struct epoll_event e2 = { .events = EPOLLIN, .data.ptr = &tfd };
		struct epoll_event e3 = { .events = EPOLLIN, .data.ptr = &sfd };

		if (epoll_ctl(epfd, EPOLL_CTL_ADD, nlfd, &e1) || epoll_ctl(epfd, EPOLL_CTL_ADD, tfd, &e2) ||
		    epoll_ctl(epfd, EPOLL_CTL_ADD, sfd, &e3))
			die("epoll_ctl", NULL);
	}
	emit("start", NULL,
	     ",\"instance\":\"%s\",\"interval_ms\":%.1f,\"timeout_ms\":%.1f,\"fall\":%u,"
	     "\"rise\":%u,\"hold_down_ms\":%llu,\"restore\":%s",
	     o.instance, o.interval_ns / 1e6, o.timeout_ns / 1e6, o.fall, o.rise,
	     (unsigned long long)(o.hold_ns / 1000000), o.no_restore ? "false" : "true");

	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(epfd, ev, 64, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait", NULL);
		}
		for (k = 0; k < n; k++) {
			void *p = ev[k].data.ptr;

			if (p == &sfd) {
				return 0;
			} else if (p == &nlfd) {
				nl_read(nlfd);
			} else if (p == &tfd) {
				uint64_t ticks, mono = now_ns(CLOCK_MONOTONIC);
				uint64_t rt = now_ns(CLOCK_REALTIME);

				if (read(tfd, &ticks, sizeof(ticks)) < 0)
					continue;
				for (i = 0; i < n_units; i++) {
					struct unit *u = &units[i];
					int j;

					for (j = 0; j < u->n_probes; j++) {
						/* answers that came in while we were not
						 * scheduled count before any deadline */
						probe_reply(&u->probes[j]);
						probe_judge(u, &u->probes[j], mono);
						probe_send(&u->probes[j], mono, rt);
					}
					unit_judge(u);
					unit_tick(u, mono);
				}
			} else {
				bool is_child = false;

				for (i = 0; i < n_units; i++)
					if (p == &units[i].child)
						is_child = true;
				if (is_child)
					child_output(p);
				else
					probe_reply(p);
			}
		}
	}
}
