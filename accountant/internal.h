/* Declarations shared by the accountant's source files (not part of the public API): input
 * validation, the RDP curve of a composition, and the PLD accountant's entry points. */
#ifndef DPKIT_ACCOUNTANT_INTERNAL_H
#define DPKIT_ACCOUNTANT_INTERNAL_H

#include "accountant/accountant.h"

/* Checks q in [0, 1], sigma >= 0 and finite, count >= 0 for every event. */
int accountant_check_events(const accountant_event *events, size_t event_count, dpkit_error *err);
/* 1 if some event with q > 0 and count > 0 has sigma = 0 (no privacy at all). */
int accountant_events_nonprivate(const accountant_event *events, size_t event_count);

/* PLD accountant (pld.c): epsilon at delta, delta at epsilon, maximised over the add and remove
 * directions (SPEC-MATH.md section 3). Events must already be validated and private. */
int accountant_pld_epsilon(const accountant_event *events, size_t event_count, double delta,
                           double discretization, double *epsilon, dpkit_error *err);
int accountant_pld_delta(const accountant_event *events, size_t event_count, double epsilon,
                         double discretization, double *delta, dpkit_error *err);

#endif
