/* Accountant benchmark: time of one RDP epsilon over the default order grid, one noise
 * calibration, and one PLD epsilon for 10,000 DP-SGD steps at discretization 1e-4. */
#include "accountant/accountant.h"
#include "common/progress.h"

#include <stdio.h>
#include <stdlib.h>

typedef int (*bench_fn)(double *result);

static const accountant_event dp_sgd = {0.01, 1.1, 10000, "dp-sgd"};

static int rdp_epsilon(double *result)
{
    accountant_options o;
    accountant_options_default(&o);
    dpkit_error err;
    return accountant_epsilon(&dp_sgd, 1, 1e-5, &o, result, NULL, &err);
}

static int rdp_calibration(double *result)
{
    accountant_options o;
    accountant_options_default(&o);
    dpkit_error err;
    return accountant_calibrate_noise(3.0, 1e-5, 256.0 / 60000.0, 14062, NULL, 0, &o, result,
                                      &err);
}

static int pld_epsilon(double *result)
{
    accountant_options o;
    accountant_options_default(&o);
    o.kind = ACCOUNTANT_PLD;
    o.pld_discretization = 1e-4;
    dpkit_error err;
    return accountant_epsilon(&dp_sgd, 1, 1e-5, &o, result, NULL, &err);
}

/* Best of `rounds` rounds of `repeats` calls each, in milliseconds per call (the minimum is the
 * least disturbed by other jobs on a shared machine; rounds of about a millisecond, where the
 * call allows it, are short enough that some of them run without being preempted). */
static double time_ms(bench_fn fn, int rounds, int repeats, double *result)
{
    double best = 1e300;
    for (int r = 0; r < rounds; r++) {
        double start = progress_now();
        for (int i = 0; i < repeats; i++)
            if (fn(result) != 0) {
                fprintf(stderr, "accountant bench: call failed\n");
                exit(1);
            }
        double ms = (progress_now() - start) * 1e3 / repeats;
        if (ms < best)
            best = ms;
    }
    return best;
}

int main(void)
{
    double eps_rdp, sigma, eps_pld;
    double t_rdp = time_ms(rdp_epsilon, 200, 10, &eps_rdp);
    double t_cal = time_ms(rdp_calibration, 100, 1, &sigma);
    double t_pld = time_ms(pld_epsilon, 5, 1, &eps_pld);
    printf("| benchmark | result | time per call | target |\n");
    printf("|---|---|---|---|\n");
    printf("| RDP epsilon, 151 orders (q=0.01, sigma=1.1, T=10^4, delta=1e-5) | eps = %.6f | "
           "%.3f ms | < 0.1 ms |\n", eps_rdp, t_rdp);
    printf("| RDP calibration (eps=3, delta=1e-5, q=256/60000, T=14062) | sigma = %.6f | "
           "%.3f ms | < 5 ms |\n", sigma, t_cal);
    printf("| PLD epsilon, d=1e-4 (q=0.01, sigma=1.1, T=10^4, delta=1e-5) | eps = %.6f | "
           "%.1f ms | < 100 ms |\n", eps_pld, t_pld);
    return 0;
}
