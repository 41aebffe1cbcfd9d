/* Canary exposure from perplexities: rank against sampled references (interpolation, as
 * tensorflow_privacy v0.8.0) and from a skew-normal fitted to them (extrapolation). docs/maths.md 5. */
#include "audit/audit_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int check_values(const char *what, const double *x, size_t n, dpkit_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(x[i]))
            return error_set(err, "%s[%zu] is NaN, expected a number", what, i);
    return 0;
}

/* Number of sorted values <= x (upper bound by bisection). */
static size_t count_at_most(const double *sorted, size_t n, double x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int audit_exposure_interpolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, dpkit_error *err)
{
    if (reference_count == 0)
        return error_set(err, "exposure: no reference perplexities, expected at least one");
    if (check_values("perplexities", perplexities, count, err) ||
        check_values("reference perplexities", reference, reference_count, err))
        return error_prefix(err, "exposure");
    double *sorted = malloc(reference_count * sizeof *sorted);
    if (!sorted)
        return error_set(err, "exposure: out of memory for %zu references", reference_count);
    memcpy(sorted, reference, reference_count * sizeof *sorted);
    qsort(sorted, reference_count, sizeof *sorted, audit_compare_double);
    /* Ties count against the canary (the library's cumulative count includes equal references);
     * the canaries never rank against each other. */
    double log2_references = log2((double)reference_count);
    for (size_t i = 0; i < count; i++) {
        size_t rank = 1 + count_at_most(sorted, reference_count, perplexities[i]);
        exposure[i] = log2_references - log2((double)rank);
    }
    free(sorted);
    return 0;
}

int audit_exposure_extrapolation(const double *perplexities, size_t count,
                                 const double *reference, size_t reference_count,
                                 double *exposure, audit_skewnorm *fit, dpkit_error *err)
{
    if (check_values("perplexities", perplexities, count, err))
        return error_prefix(err, "exposure");
    audit_skewnorm d;
    if (audit_skewnorm_fit(reference, reference_count, &d, err) != 0)
        return error_prefix(err, "exposure: fitting the reference perplexities");
    for (size_t i = 0; i < count; i++)
        exposure[i] = -log2(audit_skewnorm_cdf(&d, perplexities[i]));
    if (fit)
        *fit = d;
    return 0;
}
