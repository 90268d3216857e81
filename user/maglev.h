/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef CG_MAGLEV_H
#define CG_MAGLEV_H

#include <linux/types.h>

struct cg_maglev_member {
	__u16 id; /* written into the table */
	__u32 weight; /* >= 1 */
	const char *name; /* stable identity: the same name gives the same permutation */
};

/*
 * Fill table[0..size) (size prime) with member ids, Maglev-style (Eisenbud
 * et al., NSDI 2016): each member walks its own permutation of the slots,
 * taking `weight` free slots per round, so adding or removing one of N
 * members moves about 1/N of the slots. Deterministic for a given seed.
 */
void cg_maglev_fill(const struct cg_maglev_member *m, int n, __u32 seed, __u16 *table, __u32 size);

#endif /* CG_MAGLEV_H */
