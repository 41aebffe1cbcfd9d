/* Small helpers shared by the audit sources: clock, model-call checking, GSL error handling. */
#include "audit/audit_internal.h"

#include <math.h>
#include <time.h>

double audit_now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int audit_check_space(const audit_secret_space *space, dpkit_error *err)
{
    if (!space || !space->next_log_prob)
        return error_set(err, "secret space: no next-symbol log-probability callback");
    if (space->alphabet_size < 2)
        return error_set(err, "secret space: alphabet_size %zu, expected >= 2", space->alphabet_size);
    if (space->length < 1)
        return error_set(err, "secret space: length 0, expected >= 1 symbol");
    return 0;
}

int audit_check_secret(const audit_secret_space *space, const int32_t *secret, const char *what,
                       dpkit_error *err)
{
    for (size_t i = 0; i < space->length; i++)
        if (secret[i] < 0 || (size_t)secret[i] >= space->alphabet_size)
            return error_set(err, "%s: symbol %zu is %d, expected 0..%zu", what, i,
                             (int)secret[i], space->alphabet_size - 1);
    return 0;
}

int audit_call_model(const audit_secret_space *space, const int32_t *prefixes, size_t count,
                     size_t length, double *log_prob, audit_search_stats *stats,
                     dpkit_error *err)
{
    if (space->next_log_prob(space->user, prefixes, count, length, log_prob, err) != 0)
        return error_prefix(err, "model on %zu prefixes of length %zu", count, length);
    size_t values = count * space->alphabet_size;
    for (size_t i = 0; i < values; i++) {
        /* Costs -log p must be non-negative: pruning and Dijkstra rely on it. */
        if (!(log_prob[i] <= 0.0))
            return error_set(err, "model: log-probability %g of symbol %zu after prefix %zu "
                             "(length %zu), expected a value <= 0",
                             log_prob[i], i % space->alphabet_size, i / space->alphabet_size,
                             length);
    }
    if (stats) {
        stats->nodes_expanded += count;
        stats->model_calls++;
    }
    return 0;
}

gsl_error_handler_t *audit_gsl_quiet(void)
{
    return gsl_set_error_handler_off();
}

void audit_gsl_restore(gsl_error_handler_t *previous)
{
    gsl_set_error_handler(previous);
}

int audit_compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
