/* What a white-box auditor can see of the shuffled-batches fault (fixed-size batches of one
 * shuffle per epoch, accounted as Poisson): a Dirac canary on a coordinate of its own appears in
 * exactly one of the K steps of each epoch. Simulates its observations (units of C) with and
 * without it, scores each canary by the exact log likelihood ratio of the shuffled mechanism
 * (per epoch, log of the mean over the K steps of exp((v - 1/2) / sigma^2); the most powerful
 * test against it), and prints the mu-GDP estimate of those scores and the held-out
 * Clopper-Pearson bound (audit_gdp_estimate, audit_epsilon_from_counts; docs/maths.md 6a, 6d)
 * beside the epsilon the PLD accountant gives the same schedule under Poisson sampling.
 * Usage: build/bench/shuffle-audit [canaries per side, default 20000] */
#include "accountant/accountant.h"
#include "audit/audit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double shuffled_score(rng *r, int with, int K, int epochs, double sigma)
{
    double total = 0;
    for (int e = 0; e < epochs; e++) {
        int step = (int)rng_below(r, (uint64_t)K);
        double sum = 0;
        for (int t = 0; t < K; t++) {
            double v = (with && t == step ? 1.0 : 0.0) + sigma * rng_gaussian(r);
            sum += exp((v - 0.5) / (sigma * sigma));
        }
        total += log(sum / K);
    }
    return total;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 20000;
    /* steps per epoch K (q = 1/K), epochs, sigma */
    const double cases[][3] = {{10, 2, 0.8}, {100, 5, 0.5}, {10, 50, 0.8}, {10, 200, 1.5},
                               {2, 100, 1.0}, {2, 200, 1.2}};
    double *with = malloc(n * sizeof *with), *without = malloc(n * sizeof *without);
    if (n < 4 || !with || !without)
        return 1;
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_TEST);
    printf("| q | epochs | sigma | Poisson PLD epsilon | mu estimate [95%%] | its epsilon [lower] "
           "| held-out counts bound |\n|---|---|---|---|---|---|---|\n");
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int K = (int)cases[c][0], epochs = (int)cases[c][1];
        double sigma = cases[c][2], eps_poisson, eps_counts, threshold;
        dpkit_error err;
        accountant_options o;
        accountant_options_default(&o);
        o.kind = ACCOUNTANT_PLD;
        accountant_ledger ledger;
        accountant_ledger_init(&ledger);
        if (accountant_ledger_record(&ledger, 1.0 / K, sigma, (long long)K * epochs, "dp-sgd",
                                     &err) ||
            accountant_ledger_epsilon(&ledger, 1e-5, &o, &eps_poisson, NULL, &err)) {
            fprintf(stderr, "shuffle-audit: %s\n", err.message);
            return 1;
        }
        accountant_ledger_free(&ledger);
        for (size_t i = 0; i < n; i++) {
            with[i] = shuffled_score(&r, 1, K, epochs, sigma);
            without[i] = shuffled_score(&r, 0, K, epochs, sigma);
        }
        /* threshold from the first half, counts on the second (6a) */
        size_t h = n / 2;
        audit_gdp_estimate_result g;
        if (audit_epsilon_from_scores(with, h, without, h, 1e-5, 1, 0.05, &eps_counts,
                                      &threshold, &err) ||
            audit_gdp_estimate(with, n, without, n, 1e-5, 0.95, &g, &err)) {
            fprintf(stderr, "shuffle-audit: %s\n", err.message);
            return 1;
        }
        uint64_t fp = 0, fn = 0;
        for (size_t i = h; i < n; i++) {
            fp += without[i] > threshold;
            fn += !(with[i] > threshold);
        }
        if (audit_epsilon_from_counts(fp, n - h, fn, n - h, 1e-5, 1, 0.05, &eps_counts, &err))
            return 1;
        printf("| %.3g | %d | %.2f | %.2f | %.3f [%.3f, %.3f] | %.2f [%.2f] | %.2f |\n", 1.0 / K,
               epochs, sigma, eps_poisson, g.mu, g.mu_lower, g.mu_upper, g.epsilon,
               g.epsilon_lower, eps_counts);
        fflush(stdout);
    }
    free(with);
    free(without);
    return 0;
}
