// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include "cellgate.h"
#include "names.h"

const char *cg_unit_state_name(int state)
{
	switch (state) {
	case CG_UNIT_SERVING:
		return "serving";
	case CG_UNIT_DRAINING:
		return "draining";
	case CG_UNIT_EVACUATED:
		return "evacuated";
	}
	return "unused";
}

const char *cg_kind_name(int kind)
{
	return kind == CG_KIND_GLOBAL ? "global" : kind == CG_KIND_SHARED ? "shared" : "core";
}

const char *cg_key_source_name(int source)
{
	return source == CG_KEY_CLIENT ? "client" : source == CG_KEY_PAYLOAD ? "payload" : "flow";
}

const char *cg_key_missing_name(int missing)
{
	return missing == CG_MISSING_REJECT ? "reject" :
	       missing == CG_MISSING_CENTRAL ? "central" : "flow";
}

const char *cg_reason_name(int reason)
{
	static const char *const names[CG_R_MAX] = CG_REASON_NAMES;

	return reason >= 0 && reason < CG_R_MAX ? names[reason] : "?";
}
