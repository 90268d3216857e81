/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef CG_LOG_H
#define CG_LOG_H

enum cg_log_level {
	CG_LOG_ERROR = 0,
	CG_LOG_WARN,
	CG_LOG_INFO,
	CG_LOG_DEBUG,
};

extern int cg_log_level;

void cg_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Route libbpf's own messages through cg_log, one level quieter. */
void cg_log_setup_libbpf(void);
/* libbpf/kernel error code (negative or positive errno) as text. */
const char *cg_strerror(int err);

/* CLOCK_MONOTONIC (the clock of bpf_ktime_get_ns()) and CLOCK_REALTIME, in ns. */
#include <linux/types.h>
__u64 cg_mono_ns(void);
__u64 cg_real_ns(void);

static inline double cg_mono_ms(void)
{
	return cg_mono_ns() / 1e6;
}

#define cg_err(...) cg_log(CG_LOG_ERROR, __VA_ARGS__)
#define cg_warn(...) cg_log(CG_LOG_WARN, __VA_ARGS__)
#define cg_info(...) cg_log(CG_LOG_INFO, __VA_ARGS__)
#define cg_dbg(...) cg_log(CG_LOG_DEBUG, __VA_ARGS__)

#endif /* CG_LOG_H */
