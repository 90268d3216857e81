// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "maglev.h"
#include "cg_hash.h"

static __u32 hash_name(const char *s, __u32 seed)
{
	__u32 h = seed ^ 0x4d41474cU;

	for (; *s; s++)
		h = cg_hash_step(h, (unsigned char)*s);
	return cg_mix32(h);
}

void cg_maglev_fill(const struct cg_maglev_member *m, int n, __u32 seed, __u16 *table, __u32 size)
{
	bool equal = true;
	__u32 *mh;

	for (__u32 i = 0; i < size; i++)
		table[i] = 0xffff;
	if (n <= 0)
		return;
	mh = calloc(n, sizeof(*mh));
	if (!mh)
		return;
	for (int i = 0; i < n; i++) {
		mh[i] = hash_name(m[i].name, seed);
		equal &= m[i].weight == m[0].weight;
	}
	for (__u32 s = 0; s < size; s++) {
		__u32 sh = cg_mix32(s * 0x9e3779b9U + seed), best_h = 0;
		double best = -1.0;
		int win = -1;

		for (int i = 0; i < n; i++) {
			__u32 h = cg_mix32(mh[i] ^ sh);
			double score;

			if (equal) {
				/* -w/ln(u) grows with u for one w: compare hashes */
				if (win < 0 || h > best_h || (h == best_h && mh[i] > mh[win])) {
					best_h = h;
					win = i;
				}
				continue;
			}
			score = -(double)(m[i].weight ? m[i].weight : 1) /
				log(((double)h + 1.0) / 4294967297.0);
			if (score > best) {
				best = score;
				win = i;
			}
		}
		table[s] = m[win].id;
	}
	free(mh);
}
