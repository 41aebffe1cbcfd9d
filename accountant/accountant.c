/* The accountant's front door: options, validation of events, and epsilon/delta of a
 * composition with the RDP or the PLD accountant. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void accountant_options_default(accountant_options *options)
{
    options->kind = ACCOUNTANT_RDP;
    options->sampler = ACCOUNTANT_SAMPLER_POISSON;
    options->conversion = ACCOUNTANT_CONVERSION_IMPROVED;
    options->pld_discretization = 1e-4;
}

int accountant_kind_parse(const char *text, accountant_kind *kind, dpkit_error *err)
{
    if (strcmp(text, "rdp") == 0)
        *kind = ACCOUNTANT_RDP;
    else if (strcmp(text, "pld") == 0)
        *kind = ACCOUNTANT_PLD;
    else
        return error_set(err, "unknown accountant '%s' (expected rdp or pld)", text);
    return 0;
}

int accountant_conversion_parse(const char *text, accountant_conversion *conversion,
                                dpkit_error *err)
{
    if (strcmp(text, "improved") == 0)
        *conversion = ACCOUNTANT_CONVERSION_IMPROVED;
    else if (strcmp(text, "classic") == 0)
        *conversion = ACCOUNTANT_CONVERSION_CLASSIC;
    else
        return error_set(err, "unknown conversion '%s' (expected improved or classic)", text);
    return 0;
}

int accountant_check_events(const accountant_event *events, size_t event_count, dpkit_error *err)
{
    if (event_count > 0 && !events)
        return error_set(err, "privacy events: %zu events but no array", event_count);
    for (size_t i = 0; i < event_count; i++) {
        const accountant_event *e = &events[i];
        if (!(e->sampling_rate >= 0.0 && e->sampling_rate <= 1.0))
            return error_set(err, "privacy event %zu: sampling rate %g must be in [0, 1]", i,
                             e->sampling_rate);
        if (!(e->noise_multiplier >= 0.0) || isinf(e->noise_multiplier))
            return error_set(err, "privacy event %zu: noise multiplier %g must be finite and >= 0",
                             i, e->noise_multiplier);
        if (e->count < 0)
            return error_set(err, "privacy event %zu: count %lld must be >= 0", i, e->count);
    }
    return accountant_check_random_allocation(events, event_count, err);
}

int accountant_sampler_parse(const char *text, accountant_sampler *sampler, dpkit_error *err)
{
    if (strcmp(text, "poisson") == 0)
        *sampler = ACCOUNTANT_SAMPLER_POISSON;
    else if (strcmp(text, "random-allocation") == 0)
        *sampler = ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION;
    else
        return error_set(err, "unknown sampler '%s' (expected poisson or random-allocation)",
                         text);
    return 0;
}

const char *accountant_sampler_name(accountant_sampler sampler)
{
    return sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION ? "random-allocation" : "poisson";
}

/* The PLD accountant models Poisson sampling only (docs/maths.md 3): it refuses any other. */
static int check_sampler_support(const accountant_event *events, size_t event_count,
                                  const accountant_options *options, dpkit_error *err)
{
    if (options->kind != ACCOUNTANT_PLD)
        return 0;
    for (size_t i = 0; i < event_count; i++)
        if (events[i].sampler != ACCOUNTANT_SAMPLER_POISSON)
            return error_set(err, "privacy event %zu records %s sampling, which the PLD "
                                  "accountant does not support (it accounts Poisson sampling "
                                  "only); use the RDP accountant (--accountant rdp, or "
                                  "privacy.accountant: rdp)",
                             i, accountant_sampler_name(events[i].sampler));
    return 0;
}

/* 1 if no event spends privacy (every count or rate is zero). */
static int events_empty(const accountant_event *events, size_t event_count)
{
    for (size_t i = 0; i < event_count; i++)
        if (events[i].count > 0 && events[i].sampling_rate > 0.0)
            return 0;
    return 1;
}

int accountant_sigma_negligible(double sigma)
{
    return !(sigma * sigma >= DBL_MIN);
}

int accountant_events_nonprivate(const accountant_event *events, size_t event_count)
{
    for (size_t i = 0; i < event_count; i++)
        if (events[i].count > 0 && events[i].sampling_rate > 0.0 &&
            accountant_sigma_negligible(events[i].noise_multiplier))
            return 1;
    return 0;
}

static int check_options(const accountant_options *options, dpkit_error *err)
{
    if (options->kind != ACCOUNTANT_RDP && options->kind != ACCOUNTANT_PLD)
        return error_set(err, "accountant options: unknown accountant kind %d", (int)options->kind);
    if (options->conversion != ACCOUNTANT_CONVERSION_IMPROVED &&
        options->conversion != ACCOUNTANT_CONVERSION_CLASSIC)
        return error_set(err, "accountant options: unknown conversion %d",
                         (int)options->conversion);
    if (options->sampler != ACCOUNTANT_SAMPLER_POISSON &&
        options->sampler != ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
        return error_set(err, "accountant options: unknown sampler %d", (int)options->sampler);
    if (options->kind == ACCOUNTANT_PLD &&
        !(options->pld_discretization >= 1e-6 && options->pld_discretization <= 0.1))
        return error_set(err, "PLD discretization %g must be in [1e-6, 0.1]",
                         options->pld_discretization);
    return 0;
}

static const accountant_options *options_or_default(const accountant_options *options,
                                                    accountant_options *storage)
{
    if (options)
        return options;
    accountant_options_default(storage);
    return storage;
}

/* RDP curve of the events over the default grid, into a caller-provided array. */
static int default_curve(const accountant_event *events, size_t event_count, double *rdp,
                         const double **orders, size_t *order_count, dpkit_error *err)
{
    *order_count = accountant_rdp_default_orders(orders);
    return accountant_rdp_curve_bounded(events, event_count, *orders, *order_count, rdp, err);
}

/* The checks of accountant_epsilon and the cases it settles without an accountant: -1 on bad
 * input, 1 when *epsilon is set, 0 when the accountant must run. */
static int epsilon_settled(const accountant_event *events, size_t event_count, double delta,
                           const accountant_options *options, double *epsilon, dpkit_error *err)
{
    if (check_options(options, err) != 0 || accountant_check_events(events, event_count, err) != 0 ||
        check_sampler_support(events, event_count, options, err) != 0)
        return -1;
    if (!(delta > 0.0 && delta < 1.0))
        return error_set(err, "delta %g must be in (0, 1)", delta);
    if (accountant_events_nonprivate(events, event_count)) {
        *epsilon = INFINITY;
        return 1;
    }
    /* Nothing released: no privacy spent (the classic conversion alone would say log(1/delta) /
     * (alpha - 1) for an all-zero RDP curve). */
    if (events_empty(events, event_count)) {
        *epsilon = 0.0;
        return 1;
    }
    return 0;
}

int accountant_epsilon(const accountant_event *events, size_t event_count, double delta,
                       const accountant_options *options, double *epsilon, double *order,
                       dpkit_error *err)
{
    accountant_options storage;
    options = options_or_default(options, &storage);
    if (order)
        *order = NAN;
    int settled = epsilon_settled(events, event_count, delta, options, epsilon, err);
    if (settled != 0)
        return settled < 0 ? -1 : 0;
    if (options->kind == ACCOUNTANT_PLD)
        return accountant_pld_epsilon(events, event_count, delta, options->pld_discretization,
                                      epsilon, err);
    double rdp[256];
    const double *orders;
    size_t order_count;
    if (default_curve(events, event_count, rdp, &orders, &order_count, err) != 0)
        return -1;
    return accountant_rdp_epsilon_extended(events, event_count, orders, rdp, order_count, delta,
                                           options->conversion, epsilon, order, err);
}

int accountant_delta(const accountant_event *events, size_t event_count, double epsilon,
                     const accountant_options *options, double *delta, dpkit_error *err)
{
    accountant_options storage;
    options = options_or_default(options, &storage);
    if (check_options(options, err) != 0 || accountant_check_events(events, event_count, err) != 0 ||
        check_sampler_support(events, event_count, options, err) != 0)
        return -1;
    if (!(epsilon >= 0.0) || isinf(epsilon))
        return error_set(err, "epsilon %g must be finite and >= 0", epsilon);
    if (accountant_events_nonprivate(events, event_count)) {
        *delta = 1.0;
        return 0;
    }
    if (events_empty(events, event_count)) {
        *delta = 0.0;
        return 0;
    }
    if (options->kind == ACCOUNTANT_PLD)
        return accountant_pld_delta(events, event_count, epsilon, options->pld_discretization,
                                    delta, err);
    double rdp[256];
    const double *orders;
    size_t order_count;
    if (default_curve(events, event_count, rdp, &orders, &order_count, err) != 0)
        return -1;
    return accountant_rdp_delta_extended(events, event_count, orders, rdp, order_count, epsilon,
                                         options->conversion, delta, err);
}

int accountant_epsilon_interval(const accountant_event *events, size_t event_count, double delta,
                                const accountant_options *options, double *lower, double *upper,
                                dpkit_error *err)
{
    accountant_options storage;
    options = options_or_default(options, &storage);
    if (options->kind != ACCOUNTANT_PLD)
        return error_set(err, "the epsilon interval needs the PLD accountant (--accountant pld)");
    /* The cases settled without a PLD (no privacy, nothing released) are exact. */
    int settled = epsilon_settled(events, event_count, delta, options, upper, err);
    *lower = *upper;
    if (settled != 0)
        return settled < 0 ? -1 : 0;
    return accountant_pld_epsilon_bounds(events, event_count, delta, options->pld_discretization,
                                         lower, upper, err);
}
