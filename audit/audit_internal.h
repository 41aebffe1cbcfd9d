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

/* Log-perplexities are accumulated in nats, cost += -ln p, along each path, then converted once;
 * every scorer uses this same order of operations so that equal paths give equal bits. */
static inline double audit_nats_to_bits(double nats)
{
    return nats / 0.69314718055994530942;
}

/* Checks that a secret's symbols lie in the alphabet. */
int audit_check_secret(const audit_secret_space *space, const int32_t *secret, const char *what,
                       dpkit_error *err);

/* The guess counts r of the one-run bound, m/16, m/8, m/4, m/2 and m (distinct, >= 2), in
 * ascending order; returns how many (at most AUDIT_ONE_RUN_GUESS_COUNTS). */
#define AUDIT_ONE_RUN_GUESS_COUNTS 5
size_t audit_one_run_guess_counts(size_t m, size_t *counts);

/* The crafted target (x: the input size, *label) and the worst-case initial parameters
 * (init: param_count) of the last-iterate audit for a linear model (audit/crafted_target.c,
 * docs/maths.md 6f); mirror: for a training set of train->count copies of the target labelled 1
 * (6g). */
int audit_crafted_target(const audit_trainer *t, const dp_data *train, int mirror, float *x,
                         int32_t *label, float *init, size_t param_count, dpkit_error *err);

/* The f-DP bound (docs/maths.md 6e) of the best of count_n guess counts with the given correct
 * guesses, each at p / count_n (Bonferroni). */
int audit_one_run_fdp_best_of(size_t m, const size_t *counts, const uint64_t *correct,
                              size_t count_n, double delta, double p,
                              audit_one_run_fdp_bound *bound, dpkit_error *err);

/* qsort comparator for doubles, ascending (no NaN). */
int audit_compare_double(const void *a, const void *b);

#endif
