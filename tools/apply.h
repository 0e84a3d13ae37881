/* SPDX-License-Identifier: BSD-2-Clause */
/* Writing a spec through bs_dp_apply and telling what changed, shared by
 * `frontend apply`, `frontend set-weights` and `backend drain|undrain`. */
#ifndef BS_APPLY_H
#define BS_APPLY_H

#include <cjson/cJSON.h>
#include "bpfsplit.h"

/* Add to changes (an array of strings) one line per difference between old (NULL: the
 * frontend is new) and new; returns how many. */
int spec_diff(const struct bs_frontend_spec *old, const struct bs_frontend_spec *new, cJSON *changes);

/* Apply spec, then report the result: in JSON mode append {"frontend", "result",
 * "changes"} to results, else print one line. Errors are reported and returned. */
int apply_and_report(struct bs_dp *dp, const struct bs_frontend_spec *spec, cJSON *results);

#endif
