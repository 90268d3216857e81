/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The agent's control socket: a unix stream socket (mode 0600) that
 * answers root peers only (SO_PEERCRED). One request line per connection
 * ("status"), one JSON document back, then the server closes.
 */
#ifndef CG_CTL_H
#define CG_CTL_H

#include <stddef.h>

#define CG_CTL_DIR "/run/cellgate"

/* Returns a malloc'd JSON text for the request, or NULL. */
typedef char *(*cg_ctl_handler)(void *ctx, const char *request);
struct cg_ctl_server;

/* /run/cellgate/<instance>.sock */
void cg_ctl_default_path(const char *instance, char *buf, size_t len);

/* Listen on path from a thread of its own. Refuses (-EADDRINUSE) when an
 * agent already answers there; removes a stale socket. */
int cg_ctl_start(const char *path, cg_ctl_handler fn, void *ctx, struct cg_ctl_server **out);
/* Stop answering and remove the socket. */
void cg_ctl_stop(struct cg_ctl_server *s);

/* Client: send request, *reply gets the answer (malloc'd). 0 or -errno. */
int cg_ctl_request(const char *path, const char *request, char **reply);

#endif /* CG_CTL_H */
