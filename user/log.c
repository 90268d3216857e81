// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>

#include "log.h"

int cg_log_level = CG_LOG_WARN;

void cg_log(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > cg_log_level)
		return;
	va_start(ap, fmt);
	if (level <= CG_LOG_WARN)
		fputs(level == CG_LOG_ERROR ? "cellgate: " : "cellgate: warning: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	/* libbpf warns about things we handle (e.g. probing); demote a level */
	int ours = level == LIBBPF_WARN ? CG_LOG_INFO : CG_LOG_DEBUG;

	if (ours > cg_log_level)
		return 0;
	fputs("libbpf: ", stderr);
	return vfprintf(stderr, fmt, ap);
}

void cg_log_setup_libbpf(void)
{
	libbpf_set_print(libbpf_print);
}

const char *cg_strerror(int err)
{
	static char buf[128];

	libbpf_strerror(err < 0 ? err : -err, buf, sizeof(buf));
	return buf;
}

__u64 cg_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

__u64 cg_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}
