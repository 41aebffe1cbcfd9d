/* PLD accountant (SPEC-MATH.md section 3). */
#include "accountant/internal.h"

int accountant_pld_epsilon(const accountant_event *events, size_t event_count, double delta,
                           double discretization, double *epsilon, dpkit_error *err)
{
    (void)events; (void)event_count; (void)delta; (void)discretization; (void)epsilon;
    return error_set(err, "PLD accountant: not implemented");
}

int accountant_pld_delta(const accountant_event *events, size_t event_count, double epsilon,
                         double discretization, double *delta, dpkit_error *err)
{
    (void)events; (void)event_count; (void)epsilon; (void)discretization; (void)delta;
    return error_set(err, "PLD accountant: not implemented");
}
