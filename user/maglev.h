/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef CG_MAGLEV_H
#define CG_MAGLEV_H

#include <linux/types.h>

struct cg_maglev_member {
	__u16 id; /* written into the table */
	__u32 weight; /* >= 1 */
	const char *name; /* stable identity: the same name gives the same slots */
};

/*
 * Fill table[0..size) with member ids: a Maglev-style lookup table (the
 * dataplane reads one slot per flow), filled by weighted rendezvous hashing
 * per slot: each slot goes to the member with the highest seeded score for
 * it. So the table depends only on the set of names and weights, not on
 * their order or on history (every gateway of a fleet builds the same one),
 * and removing one of N members moves exactly its own ~1/N of the slots,
 * adding one only the ~1/(N+1) it wins. Maglev's own permutation fill
 * (Eisenbud et al., NSDI 2016) balances more tightly but moves up to 1.4x
 * that minimum and depends on member order.
 */
void cg_maglev_fill(const struct cg_maglev_member *m, int n, __u32 seed, __u16 *table, __u32 size);

#endif /* CG_MAGLEV_H */
