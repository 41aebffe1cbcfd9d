/* Accountant benchmark: time of one RDP epsilon over the default order grid, one noise
 * calibration, and one PLD epsilon for 10,000 DP-SGD steps at discretization 1e-4. With a
 * stored build of an older libdpkit.so as argument, its PLD epsilon against this one's,
 * interleaved call by call, and both against the reference grid of tests/data. */
#include "accountant/accountant.h"
#include "common/progress.h"

#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* dpkit_epsilon of dpkit.h, as the old library exports it. */
typedef int (*epsilon_fn)(double noise_multiplier, double sample_rate, long long steps,
                          double delta, const char *accountant, double *epsilon,
                          dpkit_error *err);

static double new_epsilon(double q, double sigma, long long steps, double delta)
{
    accountant_options o;
    accountant_options_default(&o);
    o.kind = ACCOUNTANT_PLD;
    accountant_event event = {q, sigma, steps, "dp-sgd"};
    double eps;
    dpkit_error err;
    return accountant_epsilon(&event, 1, delta, &o, &eps, NULL, &err) == 0 ? eps : NAN;
}

static double old_epsilon(epsilon_fn old, double q, double sigma, long long steps, double delta)
{
    double eps;
    dpkit_error err;
    return old(sigma, q, steps, delta, "pld", &eps, &err) == 0 ? eps : NAN;
}

/* Largest relative distance to dp_accounting's eps_pld (and to the PRV estimate) over the rows
 * of tests/data/accountant/epsilon.csv (the columns named in tests/data/README.md). */
static void grid_errors(epsilon_fn old)
{
    FILE *f = fopen("tests/data/accountant/epsilon.csv", "r");
    if (!f) {
        fprintf(stderr, "accountant bench: run from the repository root (tests/data)\n");
        exit(1);
    }
    char line[4096];
    double worst[2][2] = {{0, 0}, {0, 0}};
    int rows = 0;
    if (!fgets(line, sizeof line, f))
        exit(1);
    while (fgets(line, sizeof line, f)) {
        double v[13];
        char *p = line;
        for (int i = 0; i < 13; i++) {
            v[i] = strtod(p, &p); /* q,sigma,steps,delta,...,eps_pld (7),...,eps_prv_est (12) */
            p += *p == ',';
        }
        double eps[2] = {old_epsilon(old, v[0], v[1], (long long)v[2], v[3]),
                         new_epsilon(v[0], v[1], (long long)v[2], v[3])};
        for (int k = 0; k < 2; k++) {
            worst[k][0] = fmax(worst[k][0], fabs(eps[k] - v[7]) / v[7]);
            worst[k][1] = fmax(worst[k][1], fabs(eps[k] - v[12]) / v[12]);
        }
        rows++;
    }
    fclose(f);
    printf("\nreference grid (%d rows), largest relative distance: old %.3g and new %.3g to "
           "dp_accounting's eps_pld, old %.3g and new %.3g to the PRV estimate\n", rows,
           worst[0][0], worst[1][0], worst[0][1], worst[1][1]);
}

/* The PLD epsilon of the old library and of this one, `rounds` calls each, alternating. */
static void compare_pld(const char *old_library)
{
    void *handle = dlopen(old_library, RTLD_NOW | RTLD_LOCAL);
    epsilon_fn old = handle ? (epsilon_fn)dlsym(handle, "dpkit_epsilon") : NULL;
    if (!old) {
        fprintf(stderr, "accountant bench: cannot load dpkit_epsilon from %s: %s\n", old_library,
                dlerror());
        exit(1);
    }
    enum { ROUNDS = 15 };
    double best[2] = {1e300, 1e300}, first[2] = {0, 0}, eps[2] = {0, 0};
    for (int r = 0; r < ROUNDS; r++)
        for (int k = 0; k < 2; k++) {
            double start = progress_now();
            eps[k] = k == 0 ? old_epsilon(old, 0.01, 1.1, 10000, 1e-5)
                            : new_epsilon(0.01, 1.1, 10000, 1e-5);
            double ms = (progress_now() - start) * 1e3;
            if (r == 0)
                first[k] = ms;
            best[k] = fmin(best[k], ms);
        }
    printf("\nPLD epsilon, d=1e-4 (q=0.01, sigma=1.1, T=10^4, delta=1e-5), %d alternating calls "
           "each:\n", ROUNDS);
    printf("| engine | eps | first call | best call |\n|---|---|---|---|\n");
    printf("| old (%s) | %.10f | %.1f ms | %.1f ms |\n", old_library, eps[0], first[0], best[0]);
    printf("| new | %.10f | %.1f ms | %.1f ms |\n", eps[1], first[1], best[1]);
    printf("speed-up: %.2fx (best calls), %.2fx (first calls)\n", best[0] / best[1],
           first[0] / first[1]);
    grid_errors(old);
}

int main(int argc, char **argv)
{
    if (argc == 2) {
        compare_pld(argv[1]);
        return 0;
    }
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
