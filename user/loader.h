/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
#ifndef CG_LOADER_H
#define CG_LOADER_H

#include <stdbool.h>
#include <linux/types.h>

#include "cellgate.h"

struct cg_load_opts {
	const char *instance;
	const char *dev;
	int mode; /* enum cg_attach_mode; CG_MODE_TCX falls back to clsact */
	__u32 buckets; /* bucket entries per bank */
	__u32 flows; /* flow table capacity */
};

const char *cg_mode_name(int mode);
int cg_mode_parse(const char *s); /* native|generic|tc, -1 if unknown */

int cg_load_steer(const struct cg_load_opts *o);
int cg_load_decap(const char *instance, const char *dev, int mode, const struct cg_decap_key *addrs,
		  int n_addrs);
/* Detach everything of the instance and remove its pin directory. */
int cg_unload(const char *instance, bool quiet);
int cg_unload_decap(const char *instance);

#endif /* CG_LOADER_H */
