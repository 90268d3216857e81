// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <stdlib.h>
#include <string.h>

#include "maglev.h"
#include "cg_hash.h"

static __u32 hash_name(const char *s, __u32 seed)
{
	__u32 h = seed;

	for (; *s; s++)
		h = cg_hash_step(h, (unsigned char)*s);
	return cg_mix32(h);
}

void cg_maglev_fill(const struct cg_maglev_member *m, int n, __u32 seed, __u16 *table, __u32 size)
{
	__u32 *offset, *skip, *next, filled = 0;

	for (__u32 i = 0; i < size; i++)
		table[i] = 0xffff;
	if (n <= 0)
		return;
	offset = calloc(n, sizeof(*offset));
	skip = calloc(n, sizeof(*skip));
	next = calloc(n, sizeof(*next));
	if (!offset || !skip || !next)
		goto out;
	for (int i = 0; i < n; i++) {
		offset[i] = hash_name(m[i].name, seed ^ 0x4d41474cU) % size;
		skip[i] = hash_name(m[i].name, seed ^ 0x534b4950U) % (size - 1) + 1;
	}
	while (filled < size) {
		for (int i = 0; i < n && filled < size; i++) {
			for (__u32 w = 0; w < (m[i].weight ? m[i].weight : 1) && filled < size; w++) {
				__u32 slot;

				/* skip < size and size prime: the walk visits every slot */
				do {
					slot = (offset[i] + (__u64)next[i] * skip[i]) % size;
					next[i]++;
				} while (table[slot] != 0xffff);
				table[slot] = m[i].id;
				filled++;
			}
		}
	}
out:
	free(offset);
	free(skip);
	free(next);
}
