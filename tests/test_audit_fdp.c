/* The one-run f-DP bound against mu-GDP (docs/maths.md 6e): it dominates the simulated tail of
 * the ideal attacker's correct guesses, rarely rejects the true mu, and beats Steinke et al.'s
 * bound for the same canaries. */
#include "audit/audit.h"
#include "dpkit.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One round of the game: m canaries, each included with probability 1/2, scored N(mu, 1) when
 * included and N(0, 1) otherwise; the correct guesses among k (half member on top). */
static uint64_t play(rng *r, size_t m, size_t k, double mu, double *score, uint8_t *in)
{
    for (size_t i = 0; i < m; i++) {
        in[i] = rng_uniform(r) < 0.5;
        score[i] = rng_gaussian(r) + (in[i] ? mu : 0);
    }
    uint64_t guesses, correct;
    dpkit_error err;
    cr_assert_eq(audit_one_run_guesses(score, in, m, (k + 1) / 2, k / 2, &guesses, &correct,
                                       &err), 0, "%s", err.message);
    return correct;
}

Test(audit_fdp, the_bound_dominates_the_simulated_tail_and_rarely_rejects_the_true_mu)
{
    enum { M = 1000, ROUNDS = 3000, MU_ROUNDS = 200 };
    dpkit_error err;
    double mu;
    cr_assert_eq(audit_gdp_mu(4, 1e-5, &mu, &err), 0);
    size_t k;
    cr_assert_eq(audit_one_run_fdp_best_count(M, mu, 1e-5, 0.05, &k, &err), 0, "%s",
                 err.message);
    cr_assert(k >= 2 && k <= M, "k %zu", k);
    double *score = malloc(M * sizeof *score);
    uint8_t *in = malloc(M);
    size_t *hits = calloc(k + 1, sizeof *hits);
    rng r;
    rng_init_seed(&r, 21, RNG_STREAM_TEST);
    int rejected = 0;
    for (int t = 0; t < ROUNDS; t++) {
        uint64_t v = play(&r, M, k, mu, score, in);
        hits[v]++;
        if (t < MU_ROUNDS) {
            double mu_lb;
            cr_assert_eq(audit_one_run_fdp_mu(M, k, (size_t)v, 0.05, &mu_lb, &err), 0);
            rejected += mu_lb > mu;
        }
    }
    /* P[W >= v] of the simulation (3 standard errors of slack) never above the bound */
    double tail = 0;
    for (size_t v = k + 1; v-- > 0;) {
        tail += (double)hits[v] / ROUNDS;
        tail = tail < 1 ? tail : 1; /* rounding */
        double bound = audit_fdp_gaussian_tail(M, k, v, mu);
        cr_assert_leq(tail - 3 * sqrt(tail * (1 - tail) / ROUNDS), bound + 1e-9,
                      "v = %zu of %zu: simulated tail %g, bound %g", v, k, tail, bound);
    }
    /* a 95% bound: rejecting the true mu 20 times in 200 has probability < 1e-3 */
    cr_assert_lt(rejected, 20, "true mu rejected %d of %d times", rejected, MU_ROUNDS);
    /* the bound decreases in v and grows with mu */
    cr_assert_lt(audit_fdp_gaussian_tail(M, k, k, mu), audit_fdp_gaussian_tail(M, k, k - 5, mu));
    cr_assert_lt(audit_fdp_gaussian_tail(M, k, k - 5, mu / 2),
                 audit_fdp_gaussian_tail(M, k, k - 5, mu));
    free(score);
    free(in);
    free(hits);
}

Test(audit_fdp, no_better_than_chance_rejects_nothing_and_arguments_are_checked)
{
    dpkit_error err;
    double mu_lb;
    cr_assert_eq(audit_fdp_gaussian_tail(1000, 100, 50, 0), 1);
    cr_assert_eq(audit_fdp_gaussian_tail(1000, 100, 0, 1), 1);
    cr_assert_eq(audit_one_run_fdp_mu(1000, 100, 50, 0.05, &mu_lb, &err), 0);
    cr_assert_eq(mu_lb, 0);
    cr_assert(isnan(audit_fdp_gaussian_tail(1000, 100, 101, 1)));
    cr_assert_eq(audit_one_run_fdp_mu(1000, 100, 101, 0.05, &mu_lb, &err), -1);
    cr_assert(strstr(err.message, "v <= k"), "%s", err.message);
    cr_assert_eq(audit_one_run_fdp_mu(1000, 100, 90, 1.5, &mu_lb, &err), -1);
    size_t k = 0;
    double scores[4] = {0, 1, 2, 3};
    uint8_t in[4] = {0, 0, 1, 1};
    audit_one_run_fdp_bound b;
    cr_assert_eq(audit_one_run_fdp_bound_compute(scores, in, 4, &k, 1, 1e-5, 0.05, &b, &err), -1);
    cr_assert(strstr(err.message, "0 guesses of 4"), "%s", err.message);
}

Test(audit_fdp, the_ideal_bound_beats_steinke_at_epsilon_4_and_stays_below_it)
{
    dpkit_error err;
    double mu;
    cr_assert_eq(audit_gdp_mu(4, 1e-5, &mu, &err), 0);
    size_t k;
    cr_assert_eq(audit_one_run_fdp_best_count(30000, mu, 1e-5, 0.05, &k, &err), 0);
    audit_one_run_fdp_bound f;
    audit_one_run_bound s;
    cr_assert_eq(audit_one_run_fdp_ideal(30000, &k, 1, mu, 1e-5, 0.05, &f, &err), 0, "%s",
                 err.message);
    cr_assert_eq(audit_one_run_ideal_gaussian(30000, mu, 1e-5, 0.05, &s, &err), 0);
    cr_assert(f.epsilon > 2 && f.epsilon > s.epsilon && f.epsilon < 4,
              "f-DP %g (k %zu, v %llu), Steinke %g", f.epsilon, k,
              (unsigned long long)f.correct, s.epsilon);
    cr_assert(f.mu < mu);
}

Test(audit_fdp, the_public_call_matches_the_library_on_exported_scores)
{
    enum { M = 2000 };
    double mu = 1.5, *score = malloc(M * sizeof *score);
    uint8_t *in = malloc(M);
    rng r;
    rng_init_seed(&r, 22, RNG_STREAM_TEST);
    dpkit_error err;
    size_t k;
    cr_assert_eq(audit_one_run_fdp_best_count(M, mu, 1e-5, 0.05, &k, &err), 0);
    play(&r, M, k, mu, score, in);
    audit_one_run_fdp_bound b, ideal;
    cr_assert_eq(audit_one_run_fdp_bound_compute(score, in, M, &k, 1, 1e-5, 0.05, &b, &err), 0);
    cr_assert_eq(audit_one_run_fdp_ideal(M, &k, 1, mu, 1e-5, 0.05, &ideal, &err), 0);
    double eps, eps_ideal;
    unsigned long long guesses, correct;
    cr_assert_eq(dpkit_one_run_fdp_bound(score, in, M, mu, 1e-5, 0.05, &eps, &eps_ideal,
                                         &guesses, &correct, &err), 0, "%s", err.message);
    cr_assert(eps == b.epsilon && eps_ideal == ideal.epsilon && guesses == k &&
              correct == b.correct, "%g %g %llu %llu", eps, eps_ideal, guesses, correct);
    cr_assert(eps > 0, "%g", eps);
    cr_assert_eq(dpkit_one_run_fdp_bound(score, in, M, -1, 1e-5, 0.05, &eps, NULL, NULL, NULL,
                                         &err), -1);
    free(score);
    free(in);
}
