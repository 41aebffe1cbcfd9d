/* Noise calibration (docs/maths.md 4 item 10, with GSL's Brent root finder instead of Opacus's
 * bisection) and the largest number of steps a noise multiplier allows. */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_roots.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CALIBRATION_SIGMA_MIN 1e-3
#define CALIBRATION_SIGMA_MAX 1e6
#define CALIBRATION_RELATIVE_TOLERANCE 1e-7
#define MAX_STEPS_LIMIT 1000000000000000LL /* 1e15: the answer is capped here */

/* What one epsilon evaluation needs: the prior events, the calibrated event last. For RDP the
 * prior's curve and the orders are computed once. */
typedef struct budget_problem {
    accountant_event *events; /* prior events, then the DP-SGD event */
    size_t event_count;
    double delta;
    accountant_options options;
    const double *orders;
    size_t order_count;
    double prior_rdp[256];
    double step_rdp[256];  /* RDP of one step at the current sigma (max_steps only) */
    double total_rdp[256];
    dpkit_error *err;
    int failed;
} budget_problem;

static int problem_init(budget_problem *p, double delta, double q, const accountant_event *prior,
                        size_t prior_count, const accountant_options *options, dpkit_error *err)
{
    memset(p, 0, sizeof *p);
    p->err = err;
    p->delta = delta;
    if (options)
        p->options = *options;
    else
        accountant_options_default(&p->options);
    if (accountant_check_events(prior, prior_count, err) != 0)
        return -1;
    p->events = malloc((prior_count + 1) * sizeof *p->events);
    if (!p->events)
        return error_set(err, "calibration: out of memory");
    if (prior_count)
        memcpy(p->events, prior, prior_count * sizeof *prior);
    p->event_count = prior_count + 1;
    accountant_event *last = &p->events[prior_count];
    memset(last, 0, sizeof *last);
    last->sampling_rate = q;
    last->sampler = p->options.sampler;
    strcpy(last->label, "dp-sgd");
    p->order_count = accountant_rdp_default_orders(&p->orders);
    return accountant_rdp_curve_bounded(prior, prior_count, p->orders, p->order_count,
                                        p->prior_rdp, err);
}

/* epsilon with the last event set to (sigma, steps), and for RDP the order attaining it (may be
 * NULL); +inf on failure (p->failed is set). */
static double problem_epsilon_at(budget_problem *p, double sigma, long long steps, double *order)
{
    accountant_event *last = &p->events[p->event_count - 1];
    last->noise_multiplier = sigma;
    last->count = steps;
    double epsilon = INFINITY;
    int status;
    if (p->options.kind == ACCOUNTANT_PLD) {
        status = accountant_epsilon(p->events, p->event_count, p->delta, &p->options, &epsilon,
                                    NULL, p->err);
    } else {
        status = accountant_rdp_curve_bounded(last, 1, p->orders, p->order_count, p->total_rdp,
                                              p->err);
        for (size_t k = 0; status == 0 && k < p->order_count; k++)
            p->total_rdp[k] += p->prior_rdp[k];
        /* Past the default grid's top where the optimum is there (rdp_orders.c): without it
         * a small target is met only through the KL branch of the conversion, at ~100 times
         * the noise needed (docs/maths.md 2.7, 2.8). */
        if (status == 0)
            status = accountant_rdp_epsilon_extended(p->events, p->event_count, p->orders,
                                                     p->total_rdp, p->order_count, p->delta,
                                                     p->options.conversion, &epsilon, order,
                                                     p->err);
    }
    if (status != 0) {
        p->failed = 1;
        return INFINITY;
    }
    return epsilon;
}

static double problem_epsilon(budget_problem *p, double sigma, long long steps)
{
    return problem_epsilon_at(p, sigma, steps, NULL);
}

typedef struct root_context {
    budget_problem *problem;
    long long steps;
    double target;
} root_context;

/* epsilon(sigma) - target, kept finite for GSL (infinite epsilon reads as a large excess). */
static double epsilon_excess(double sigma, void *data)
{
    root_context *c = data;
    double e = problem_epsilon(c->problem, sigma, c->steps);
    if (!isfinite(e))
        e = 1e300;
    return e - c->target;
}

static int check_budget(double target_epsilon, double delta, double q, dpkit_error *err)
{
    if (!(target_epsilon > 0.0) || isinf(target_epsilon))
        return error_set(err, "target epsilon %g must be positive and finite", target_epsilon);
    if (!(delta > 0.0 && delta < 1.0))
        return error_set(err, "delta %g must be in (0, 1)", delta);
    if (!(q > 0.0 && q <= 1.0))
        return error_set(err, "sampling rate %g must be in (0, 1]", q);
    return 0;
}

/* Brent's method on [low, high] where epsilon(low) > target >= epsilon(high); *below gets a
 * noise multiplier just under the answer that exceeds the target. */
static int find_sigma(root_context *c, double low, double high, double *sigma, double *below,
                      dpkit_error *err)
{
    gsl_function f = {epsilon_excess, c};
    gsl_root_fsolver *solver = gsl_root_fsolver_alloc(gsl_root_fsolver_brent);
    if (!solver)
        return error_set(err, "calibration: out of memory");
    gsl_root_fsolver_set(solver, &f, low, high);
    for (int iteration = 0; iteration < 200 && !c->problem->failed; iteration++) {
        gsl_root_fsolver_iterate(solver);
        low = gsl_root_fsolver_x_lower(solver);
        high = gsl_root_fsolver_x_upper(solver);
        if (gsl_root_test_interval(low, high, 0.0, CALIBRATION_RELATIVE_TOLERANCE) == GSL_SUCCESS)
            break;
    }
    gsl_root_fsolver_free(solver);
    if (c->problem->failed)
        return -1;
    /* The upper end of the bracket is on the safe side; make sure of it (the PLD's epsilon is
     * monotone only up to its discretisation). */
    for (int tries = 0; epsilon_excess(high, c) > 0.0; tries++) {
        if (tries == 100 || c->problem->failed)
            return c->problem->failed ? -1
                                      : error_set(err, "calibration: no safe noise multiplier "
                                                       "found near %g", high);
        low = high;
        high *= 1.0 + CALIBRATION_RELATIVE_TOLERANCE;
    }
    *sigma = high;
    *below = low;
    return 0;
}

/* The RDP answer is truthful only if, just below it, the bound was best at an order inside the
 * searched range: were the best order the largest one, larger orders would lower the bound
 * further and a smaller noise multiplier would do (or the answer only meets the target through
 * the KL branch, docs/maths.md 2.7). Refuse then rather than overstate the noise. */
static int check_rdp_edge(root_context *c, double below, double sigma, dpkit_error *err)
{
    budget_problem *p = c->problem;
    if (p->options.kind != ACCOUNTANT_RDP)
        return 0;
    double order = NAN;
    double epsilon = problem_epsilon_at(p, below, c->steps, &order);
    if (p->failed)
        return -1;
    if (isfinite(epsilon) && order >= ACCOUNTANT_RDP_MAX_ORDER)
        return error_set(err, "calibration: at epsilon = %g the RDP bound keeps falling past "
                              "order %g, the largest order searched, so its noise multiplier "
                              "(%.4g) would overstate the noise needed; use the PLD accountant "
                              "(--accountant pld, or privacy.accountant: pld)",
                         c->target, ACCOUNTANT_RDP_MAX_ORDER, sigma);
    return 0;
}

int accountant_calibrate_noise(double target_epsilon, double delta, double sampling_rate,
                               long long steps, const accountant_event *prior, size_t prior_count,
                               const accountant_options *options, double *noise_multiplier,
                               dpkit_error *err)
{
    if (check_budget(target_epsilon, delta, sampling_rate, err) != 0)
        return -1;
    if (steps <= 0)
        return error_set(err, "calibration: steps %lld must be positive", steps);
    budget_problem problem;
    int status = problem_init(&problem, delta, sampling_rate, prior, prior_count, options, err);
    root_context c = {&problem, steps, target_epsilon};
    if (status == 0) {
        /* Infinite noise leaves only the prior events. */
        double prior_epsilon = problem_epsilon(&problem, 0.0, 0);
        if (problem.failed)
            status = -1;
        else if (prior_epsilon >= target_epsilon)
            status = error_set(err, "the prior events alone spend epsilon = %g, not below the "
                                    "target %g", prior_epsilon, target_epsilon);
    }
    /* Bracket the root by doubling or halving from sigma = 1. */
    double low = 0.5, high = 1.0;
    if (status == 0 && epsilon_excess(high, &c) > 0.0) {
        do {
            low = high;
            high *= 2.0;
            if (high > CALIBRATION_SIGMA_MAX)
                status = error_set(err, "calibration: even noise multiplier %g spends more than "
                                        "epsilon = %g%s", CALIBRATION_SIGMA_MAX, target_epsilon,
                                   problem.options.kind == ACCOUNTANT_RDP
                                       ? " with the RDP accountant (orders up to 1024); the PLD "
                                         "accountant (--accountant pld) is tighter"
                                       : "");
        } while (status == 0 && !problem.failed && epsilon_excess(high, &c) > 0.0);
    } else if (status == 0) {
        while (!problem.failed && epsilon_excess(low, &c) <= 0.0) {
            high = low;
            low /= 2.0;
            if (low < CALIBRATION_SIGMA_MIN) {
                *noise_multiplier = high;
                free(problem.events);
                return 0;
            }
        }
    }
    if (status == 0 && problem.failed)
        status = -1;
    double below = low;
    if (status == 0)
        status = find_sigma(&c, low, high, noise_multiplier, &below, err);
    if (status == 0)
        status = check_rdp_edge(&c, below, *noise_multiplier, err);
    free(problem.events);
    return status;
}

int accountant_max_steps(double target_epsilon, double delta, double sampling_rate,
                         double noise_multiplier, const accountant_event *prior,
                         size_t prior_count, const accountant_options *options,
                         long long *steps, dpkit_error *err)
{
    if (check_budget(target_epsilon, delta, sampling_rate, err) != 0)
        return -1;
    if (!(noise_multiplier >= 0.0) || isinf(noise_multiplier))
        return error_set(err, "noise multiplier %g must be finite and >= 0", noise_multiplier);
    budget_problem problem;
    if (problem_init(&problem, delta, sampling_rate, prior, prior_count, options, err) != 0) {
        free(problem.events);
        return -1;
    }
    /* Invariant: `fits` steps stay within the budget, `exceeds` steps do not. */
    long long fits = 0, exceeds = 1;
    double e = problem_epsilon(&problem, noise_multiplier, 0);
    if (e > target_epsilon) {
        *steps = 0;
        free(problem.events);
        return problem.failed ? -1 : 0;
    }
    while (!problem.failed && problem_epsilon(&problem, noise_multiplier, exceeds) <= target_epsilon) {
        fits = exceeds;
        if (exceeds >= MAX_STEPS_LIMIT) {
            *steps = MAX_STEPS_LIMIT;
            free(problem.events);
            return 0;
        }
        exceeds *= 2;
    }
    while (!problem.failed && exceeds - fits > 1) {
        long long middle = fits + (exceeds - fits) / 2;
        if (problem_epsilon(&problem, noise_multiplier, middle) <= target_epsilon)
            fits = middle;
        else
            exceeds = middle;
    }
    free(problem.events);
    if (problem.failed)
        return -1;
    *steps = fits;
    return 0;
}
