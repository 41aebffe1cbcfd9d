/* The accountant's part of the public interface (dpkit.h): epsilon and calibration of one
 * Poisson-subsampled Gaussian schedule, with the accountant named as text. */
#include "accountant/accountant.h"

#include <stdio.h>

DPKIT_API const char *dpkit_version(void)
{
    return DPKIT_VERSION;
}

static int options_for(const char *accountant, accountant_options *options, dpkit_error *err)
{
    accountant_options_default(options);
    return accountant ? accountant_kind_parse(accountant, &options->kind, err) : 0;
}

DPKIT_API int dpkit_epsilon(double noise_multiplier, double sample_rate, long long steps,
                            double delta, const char *accountant, double *epsilon,
                            dpkit_error *err)
{
    accountant_options options;
    if (options_for(accountant, &options, err))
        return -1;
    accountant_event event = {sample_rate, noise_multiplier, steps, "dp-sgd",
                              ACCOUNTANT_SAMPLER_POISSON};
    return accountant_epsilon(&event, 1, delta, &options, epsilon, NULL, err);
}

DPKIT_API int dpkit_epsilon_interval(double noise_multiplier, double sample_rate, long long steps,
                                     double delta, double *lower, double *upper, dpkit_error *err)
{
    accountant_options options;
    if (options_for("pld", &options, err))
        return -1;
    accountant_event event = {sample_rate, noise_multiplier, steps, "dp-sgd",
                              ACCOUNTANT_SAMPLER_POISSON};
    return accountant_epsilon_interval(&event, 1, delta, &options, lower, upper, err);
}

DPKIT_API int dpkit_calibrate(double epsilon, double delta, double sample_rate, long long steps,
                              const char *accountant, double *noise_multiplier, dpkit_error *err)
{
    accountant_options options;
    if (options_for(accountant, &options, err))
        return -1;
    return accountant_calibrate_noise(epsilon, delta, sample_rate, steps, NULL, 0, &options,
                                      noise_multiplier, err);
}
