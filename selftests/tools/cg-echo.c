// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * cg-echo: the "service" inside a unit namespace of the test bed.
 *
 *   cg-echo --name UNIT [--host HOST] [--pidfile FILE]
 *           --udp ADDR:PORT... --tcp ADDR:PORT...
 *
 * Every UDP datagram is answered with "UNIT HOST <payload>", from the
 * address it was sent to; every TCP line likewise, one reply line per line.
 * ADDR is IPv4 or [IPv6]; sockets are bound with IP_FREEBIND so the VIP
 * does not have to exist yet. One epoll loop, no logging on the hot path;
 * runs until SIGTERM/SIGINT. --pidfile is written once every socket is
 * bound, so a script can wait for it before sending traffic.
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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LISTEN 64 /* --udp/--tcp arguments */
#define MAX_DGRAM 65536 /* largest UDP payload */
#define TCP_IN_CAP 4096 /* longest TCP line answered whole; longer ones are split */
#define TCP_OUT_CAP (256 * 1024) /* pending reply bytes before we stop reading */
#define MAX_EVENTS 256

enum kind { K_SIGNAL, K_UDP, K_LISTEN, K_CONN };

struct conn {
	enum kind kind;
	int fd;
	int family;
	/* K_CONN only */
	size_t in_len;
	char in[TCP_IN_CAP];
	char *out;
	size_t out_len, out_off, out_cap;
	uint32_t events; /* what epoll is armed for */
	bool eof;
};

static const char *unit_name;
static char host_name[256];
static char prefix[512]; /* "UNIT HOST " */
static size_t prefix_len;
static int epfd;

static void die(const char *what, const char *arg)
{
	fprintf(stderr, "cg-echo: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
		strerror(errno));
	exit(1);
}

static void usage(int code)
{
	fprintf(code ? stderr : stdout,
		"usage: cg-echo --name UNIT [--host HOST] [--pidfile FILE]\n"
		"               [--udp ADDR:PORT]... [--tcp ADDR:PORT]...\n"
		"ADDR is a.b.c.d or [v6]; each --udp/--tcp may be repeated.\n");
	exit(code);
}

/* "198.18.100.1:7000" or "[2001:db8::1]:7000" */
static int parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len)
{
	char buf[128];
	const char *port;
	char *end;
	long p;

	memset(ss, 0, sizeof(*ss));
	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	if (buf[0] == '[') {
		char *rb = strchr(buf, ']');
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (!rb || rb[1] != ':')
			return -1;
		*rb = '\0';
		port = rb + 2;
		sin6->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, buf + 1, &sin6->sin6_addr) != 1)
			return -1;
		*len = sizeof(*sin6);
	} else {
		char *colon = strrchr(buf, ':');
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (!colon)
			return -1;
		*colon = '\0';
		port = colon + 1;
		sin->sin_family = AF_INET;
		if (inet_pton(AF_INET, buf, &sin->sin_addr) != 1)
			return -1;
		*len = sizeof(*sin);
	}
	errno = 0;
	p = strtol(port, &end, 10);
	if (errno || *end || p < 1 || p > 65535)
		return -1;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(p);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(p);
	return 0;
}

static struct conn *conn_new(enum kind kind, int fd, int family)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		die("out of memory", NULL);
	c->kind = kind;
	c->fd = fd;
	c->family = family;
	return c;
}

static void ep_add(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	c->events = events;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev))
		die("epoll_ctl", NULL);
}

static void ep_mod(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void open_socket(const char *arg, int type)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1, fd;

	if (parse_addr(arg, &ss, &len)) {
		fprintf(stderr, "cg-echo: bad address '%s' (want a.b.c.d:PORT or [v6]:PORT)\n",
			arg);
		exit(2);
	}
	fd = socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket for", arg);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6) {
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		setsockopt(fd, IPPROTO_IPV6, IPV6_FREEBIND, &one, sizeof(one));
		if (type == SOCK_DGRAM)
			setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof(one));
	} else {
		setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one));
		if (type == SOCK_DGRAM)
			setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
	}
	if (type == SOCK_DGRAM) {
		int sz = 4 << 20;

		/* bursts of thousands of flows must not overflow the queue */
		setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof(sz));
	}
	if (bind(fd, (struct sockaddr *)&ss, len))
		die("bind", arg);
	if (type == SOCK_STREAM && listen(fd, 4096))
		die("listen", arg);
	ep_add(conn_new(type == SOCK_DGRAM ? K_UDP : K_LISTEN, fd, ss.ss_family), EPOLLIN);
}

/* Answer every queued datagram from the address it was sent to. */
static void handle_udp(struct conn *c)
{
	static char in[MAX_DGRAM], out[MAX_DGRAM + sizeof(prefix)];

	for (;;) {
		struct sockaddr_storage peer;
		char cbuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		char obuf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct iovec iov = { .iov_base = in, .iov_len = sizeof(in) };
		struct msghdr m = {
			.msg_name = &peer,
			.msg_namelen = sizeof(peer),
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = cbuf,
			.msg_controllen = sizeof(cbuf),
		};
		struct cmsghdr *cm;
		ssize_t n;
		size_t olen;

		n = recvmsg(c->fd, &m, 0);
		if (n < 0)
			return; /* EAGAIN or a transient error: wait for the next event */
		olen = prefix_len + (size_t)n;
		if (olen > MAX_DGRAM - 1)
			olen = MAX_DGRAM - 1;
		memcpy(out, prefix, prefix_len);
		memcpy(out + prefix_len, in, olen - prefix_len);

		struct iovec oiov = { .iov_base = out, .iov_len = olen };
		struct msghdr om = {
			.msg_name = &peer,
			.msg_namelen = m.msg_namelen,
			.msg_iov = &oiov,
			.msg_iovlen = 1,
		};

		memset(obuf, 0, sizeof(obuf));
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			struct cmsghdr *ocm;

			om.msg_control = obuf;
			if (cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_PKTINFO) {
				struct in_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				pi.ipi_spec_dst = pi.ipi_addr; /* reply from the VIP */
				pi.ipi_ifindex = 0;
				om.msg_controllen = CMSG_SPACE(sizeof(pi));
				ocm = CMSG_FIRSTHDR(&om);
				ocm->cmsg_level = IPPROTO_IP;
				ocm->cmsg_type = IP_PKTINFO;
				ocm->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(ocm), &pi, sizeof(pi));
				break;
			}
			if (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_PKTINFO) {
				struct in6_pktinfo pi;

				memcpy(&pi, CMSG_DATA(cm), sizeof(pi));
				pi.ipi6_ifindex = 0;
				om.msg_controllen = CMSG_SPACE(sizeof(pi));
				ocm = CMSG_FIRSTHDR(&om);
				ocm->cmsg_level = IPPROTO_IPV6;
				ocm->cmsg_type = IPV6_PKTINFO;
				ocm->cmsg_len = CMSG_LEN(sizeof(pi));
				memcpy(CMSG_DATA(ocm), &pi, sizeof(pi));
				break;
			}
		}
		sendmsg(c->fd, &om, MSG_DONTWAIT);
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd); /* also removes it from the epoll set */
	free(c->out);
	free(c);
}

static void out_append(struct conn *c, const char *p, size_t n)
{
	if (c->out_len + n > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;

		while (cap < c->out_len + n)
			cap *= 2;
		c->out = realloc(c->out, cap);
		if (!c->out)
			die("out of memory", NULL);
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* Write what is pending; returns -1 when the connection is gone. */
static int conn_flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	return 0;
}

static void conn_rearm(struct conn *c)
{
	uint32_t ev = 0;

	if (!c->eof && c->out_len < TCP_OUT_CAP)
		ev |= EPOLLIN;
	if (c->out_len)
		ev |= EPOLLOUT;
	if (ev != c->events) {
		c->events = ev;
		ep_mod(c, ev);
	}
}

static void handle_conn(struct conn *c, uint32_t events)
{
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		while (!c->eof && c->out_len < TCP_OUT_CAP) {
			ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
			size_t start = 0, i;

			if (n == 0) {
				c->eof = true;
				break;
			}
			if (n < 0) {
				if (errno == EAGAIN || errno == EINTR)
					break;
				conn_close(c);
				return;
			}
			c->in_len += (size_t)n;
			for (i = 0; i < c->in_len; i++) {
				if (c->in[i] != '\n')
					continue;
				out_append(c, prefix, prefix_len);
				out_append(c, c->in + start, i + 1 - start);
				start = i + 1;
			}
			if (start == 0 && c->in_len == sizeof(c->in)) {
				/* a line longer than the buffer: answer it in pieces */
				out_append(c, prefix, prefix_len);
				out_append(c, c->in, c->in_len);
				out_append(c, "\n", 1);
				start = c->in_len;
			}
			memmove(c->in, c->in + start, c->in_len - start);
			c->in_len -= start;
		}
	}
	if (conn_flush(c)) {
		conn_close(c);
		return;
	}
	if (c->eof && c->out_len == 0) {
		conn_close(c);
		return;
	}
	conn_rearm(c);
}

static void handle_listen(struct conn *l)
{
	for (;;) {
		int one = 1;
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ep_add(conn_new(K_CONN, fd, l->family), EPOLLIN);
	}
}

static void raise_nofile(void)
{
	struct rlimit r;

	if (getrlimit(RLIMIT_NOFILE, &r))
		return;
	if (r.rlim_max < 65536) {
		struct rlimit want = { 65536, 65536 };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			return;
	}
	r.rlim_cur = r.rlim_max;
	setrlimit(RLIMIT_NOFILE, &r);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "host", required_argument, NULL, 'H' },
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "pidfile", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *udp[MAX_LISTEN], *tcp[MAX_LISTEN], *pidfile = NULL;
	int n_udp = 0, n_tcp = 0, opt, i, sfd;
	sigset_t mask;

	while ((opt = getopt_long(argc, argv, "n:H:u:t:p:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'n':
			unit_name = optarg;
			break;
		case 'H':
			snprintf(host_name, sizeof(host_name), "%s", optarg);
			break;
		case 'u':
			if (n_udp == MAX_LISTEN)
				usage(2);
			udp[n_udp++] = optarg;
			break;
		case 't':
			if (n_tcp == MAX_LISTEN)
				usage(2);
			tcp[n_tcp++] = optarg;
			break;
		case 'p':
			pidfile = optarg;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (!unit_name || !*unit_name || strchr(unit_name, ' ') || optind != argc ||
	    n_udp + n_tcp == 0)
		usage(2);
	if (!host_name[0] && gethostname(host_name, sizeof(host_name)))
		strcpy(host_name, "-");
	prefix_len = (size_t)snprintf(prefix, sizeof(prefix), "%s %s ", unit_name, host_name);
	if (prefix_len >= sizeof(prefix))
		usage(2);

	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (epfd < 0)
		die("epoll_create1", NULL);

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd", NULL);
	ep_add(conn_new(K_SIGNAL, sfd, 0), EPOLLIN);

	for (i = 0; i < n_udp; i++)
		open_socket(udp[i], SOCK_DGRAM);
	for (i = 0; i < n_tcp; i++)
		open_socket(tcp[i], SOCK_STREAM);

	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f))
			die("writing", pidfile);
	}

	for (;;) {
		struct epoll_event ev[MAX_EVENTS];
		int n = epoll_wait(epfd, ev, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait", NULL);
		}
		for (i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;

			switch (c->kind) {
			case K_SIGNAL:
				return 0;
			case K_UDP:
				handle_udp(c);
				break;
			case K_LISTEN:
				handle_listen(c);
				break;
			case K_CONN:
				handle_conn(c, ev[i].events);
				break;
			}
		}
	}
}
