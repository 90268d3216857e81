/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The words the CLI, explain and the agent print for the enums of cellgate.h. */
#ifndef CG_NAMES_H
#define CG_NAMES_H

const char *cg_unit_state_name(int state); /* enum cg_unit_state */
const char *cg_kind_name(int kind); /* enum cg_service_kind */
const char *cg_key_source_name(int source); /* enum cg_key_source */
const char *cg_key_missing_name(int missing); /* enum cg_key_missing */
const char *cg_reason_name(int reason); /* enum cg_reason */

#endif /* CG_NAMES_H */
