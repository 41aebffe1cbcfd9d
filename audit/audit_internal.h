/* Helpers shared by the audit sources; not part of the public API (audit/audit.h). */
#ifndef DPKIT_AUDIT_AUDIT_INTERNAL_H
#define DPKIT_AUDIT_AUDIT_INTERNAL_H

#include "audit/audit.h"

#include <gsl/gsl_errno.h>

/* Seconds on a monotonic clock. */
double audit_now_seconds(void);

/* Checks a secret space description (alphabet >= 2, length >= 1, callback present). */
int audit_check_space(const audit_secret_space *space, dpkit_error *err);

/* Runs the model on `count` prefixes of `length` symbols and checks every returned value is a
 * log-probability (<= 0, not NaN); counts the work in stats (may be NULL). */
int audit_call_model(const audit_secret_space *space, const int32_t *prefixes, size_t count,
                     size_t length, double *log_prob, audit_search_stats *stats,
                     dpkit_error *err);

/* GSL's default error handler aborts the process; library code switches it off around GSL calls
 * that can fail on extreme inputs and checks the returned status or value instead. */
gsl_error_handler_t *audit_gsl_quiet(void);
void audit_gsl_restore(gsl_error_handler_t *previous);

/* qsort comparator for doubles, ascending (no NaN). */
int audit_compare_double(const void *a, const void *b);

#endif
