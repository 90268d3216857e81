/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Output protocol shared by every test program: one line per case,
 * "PASS: <name>" or "FAIL: <name>: <detail>", "SKIP: <prog>: <why>"; the
 * program exits 1 if anything failed (tl_exit_code()).
 */
#ifndef CG_TESTLIB_H
#define CG_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>

void tl_pass(const char *name);
void tl_fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tl_skip(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int tl_failed(void);
int tl_passed(void);
/* 1 if any case failed, else 0. */
int tl_exit_code(void);

/* Hexdump one buffer, 16 bytes a line, marking byte `mark` (-1: none). */
void tl_hexdump(FILE *f, const char *title, const __u8 *p, size_t len, long mark);

/* Offset of the first differing byte (or the shorter length), -1 if equal. */
long tl_first_diff(const __u8 *a, size_t alen, const __u8 *b, size_t blen);

/* Dump expected and got with the first differing offset marked. */
void tl_hexdiff(FILE *f, const __u8 *exp, size_t elen, const __u8 *got, size_t glen);

/* True if running as root; else prints SKIP for `prog`. */
bool tl_require_root(const char *prog);

#endif /* CG_TESTLIB_H */
