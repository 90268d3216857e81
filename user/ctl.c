// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The agent's control socket, server and client (user/ctl.h). */
#define _GNU_SOURCE /* struct ucred, accept4 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include "ctl.h"
#include "log.h"

#define CTL_REQUEST_MAX 256
#define CTL_IO_TIMEOUT_MS 1000 /* a slow or silent client is dropped after this */

struct cg_ctl_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	cg_ctl_handler fn;
	void *ctx;
	pthread_t thread;
	bool running;
};

void cg_ctl_default_path(const char *instance, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s.sock", CG_CTL_DIR, instance);
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

static void set_timeouts(int fd)
{
	struct timeval tv = { CTL_IO_TIMEOUT_MS / 1000, (CTL_IO_TIMEOUT_MS % 1000) * 1000 };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static void write_all(int fd, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(fd, s, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

static void serve(struct cg_ctl_server *s, int fd)
{
	char req[CTL_REQUEST_MAX];
	struct ucred cred;
	socklen_t len = sizeof(cred);
	size_t n = 0;
	char *reply;

	set_timeouts(fd);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.uid != 0) {
		static const char denied[] = "{\"error\": \"permission denied: the agent answers root only\"}\n";

		write_all(fd, denied, sizeof(denied) - 1);
		return;
	}
	while (n < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(req, '\n', n))
			break;
	}
	req[n] = '\0';
	req[strcspn(req, "\r\n")] = '\0';
	reply = s->fn(s->ctx, req);
	if (reply) {
		write_all(fd, reply, strlen(reply));
		write_all(fd, "\n", 1);
	}
	free(reply);
}

static void *ctl_thread(void *arg)
{
	struct cg_ctl_server *s = arg;

	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			break; /* shut down by cg_ctl_stop() */
		}
		serve(s, fd);
		close(fd);
	}
	return NULL;
}

int cg_ctl_start(const char *path, cg_ctl_handler fn, void *ctx, struct cg_ctl_server **out)
{
	struct cg_ctl_server *s;
	struct sockaddr_un sa;
	mode_t old;
	int fd, err;

	if (unix_addr(path, &sa))
		return -ENAMETOOLONG;
	if (!strncmp(path, CG_CTL_DIR "/", strlen(CG_CTL_DIR) + 1))
		mkdir(CG_CTL_DIR, 0755);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* somebody answering there is another agent of this instance */
	if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		close(fd);
		cg_err("agent: another agent answers on %s; one agent per instance\n", path);
		return -EADDRINUSE;
	}
	close(fd);
	unlink(path); /* stale: its agent died without removing it */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	err = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	umask(old);
	if (!err && (chmod(path, 0600) || listen(fd, 8)))
		err = -errno;
	if (err) {
		cg_err("agent: cannot listen on %s: %s\n", path, strerror(-err));
		close(fd);
		return err;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	s->fd = fd;
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->fn = fn;
	s->ctx = ctx;
	err = pthread_create(&s->thread, NULL, ctl_thread, s);
	if (err) {
		close(fd);
		unlink(path);
		free(s);
		return -err;
	}
	s->running = true;
	*out = s;
	return 0;
}

void cg_ctl_stop(struct cg_ctl_server *s)
{
	if (!s)
		return;
	shutdown(s->fd, SHUT_RDWR); /* wakes accept() with an error */
	if (s->running)
		pthread_join(s->thread, NULL);
	close(s->fd);
	unlink(s->path);
	free(s);
}

int cg_ctl_request(const char *path, const char *request, char **reply)
{
	struct sockaddr_un sa;
	size_t len = 0, cap = 4096;
	char *buf;
	int fd;

	if (unix_addr(path, &sa))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	set_timeouts(fd);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		int err = -errno;

		close(fd);
		return err;
	}
	write_all(fd, request, strlen(request));
	write_all(fd, "\n", 1);
	shutdown(fd, SHUT_WR);
	buf = malloc(cap);
	while (buf) {
		ssize_t r;

		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (!nb) {
				free(buf);
				buf = NULL;
				break;
			}
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - 1 - len, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
	}
	close(fd);
	if (!buf)
		return -ENOMEM;
	buf[len] = '\0';
	*reply = buf;
	return 0;
}
