// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "testlib.h"

static int n_pass, n_fail;

void tl_pass(const char *name)
{
	n_pass++;
	printf("PASS: %s\n", name);
	fflush(stdout);
}

void tl_fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	n_fail++;
	printf("FAIL: %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

void tl_skip(const char *name, const char *fmt, ...)
{
	va_list ap;

	printf("SKIP: %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int tl_failed(void)
{
	return n_fail;
}

int tl_passed(void)
{
	return n_pass;
}

int tl_exit_code(void)
{
	return n_fail ? 1 : 0;
}

void tl_hexdump(FILE *f, const char *title, const __u8 *p, size_t len, long mark)
{
	size_t i, j;

	fprintf(f, "  %s (%zu bytes)%s\n", title, len,
		mark >= 0 && (size_t)mark >= len ? ", ends before the marked offset" : "");
	for (i = 0; i < len; i += 16) {
		fprintf(f, "    %04zx:", i);
		for (j = i; j < i + 16 && j < len; j++)
			fprintf(f, (long)j == mark ? "[%02x]" : " %02x ", p[j]);
		if (mark >= (long)i && mark < (long)(i + 16))
			fprintf(f, "   <- first difference at 0x%lx", mark);
		fprintf(f, "\n");
	}
}

long tl_first_diff(const __u8 *a, size_t alen, const __u8 *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen, i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return alen == blen ? -1 : (long)n;
}

void tl_hexdiff(FILE *f, const __u8 *exp, size_t elen, const __u8 *got, size_t glen)
{
	long d = tl_first_diff(exp, elen, got, glen);

	tl_hexdump(f, "expected", exp, elen, d);
	tl_hexdump(f, "got", got, glen, d);
}

bool tl_require_root(const char *prog)
{
	if (geteuid() == 0)
		return true;
	tl_skip(prog, "must run as root");
	return false;
}
