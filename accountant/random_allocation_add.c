/* Random allocation, add direction: an upper bound on D_alpha(Q || P) for one epoch, from the
 * Laplace transform of the mean of t lognormals, with every approximation on the safe side
 * (docs/maths.md 2.12). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>

/* The normal variable's grid: far into the lower tail, where small values of the mean M (which
 * dominate its high negative moments) come from, to where the tail's mass is still a normal
 * double; the upper tail is bounded analytically. */
#define ADD_G_LOW (-37.0)
#define ADD_G_HIGH 10.0
#define ADD_G_CELLS 2400
#define ADD_S_MIN 1e-6       /* the Laplace variable's grid starts here ... */
#define ADD_S_RATIO 0.01     /* ... and grows by this factor per point */
#define ADD_MAX_LOG_S 700.0  /* past e^700 the grid would overflow: +inf (fail closed) */
#define ADD_TAIL_LOG 60.0    /* the grid ends where the tail bound is below e^-60 of its scale */
#define ADD_MOMENT_BOUNDS 64 /* k of the moment bounds k! lambda^-k E[Y^-k] tried */

static double normal_cdf(double x) { return 0.5 * erfc(-x / M_SQRT2); }

/* Upper bound on log phi(lambda), phi(lambda) = E[exp(-lambda Y)], Y = exp(sqrt(v) G - v/2):
 * the least of (a) the sum over the normal's cells of the decreasing exp(-lambda y(g)) at the
 * cell's left end, or of its chord's mean where it is convex (lambda y >= 1), (b) 1 - lambda + E[r(lambda Y)], r(x) = e^-x - 1 + x, increasing and convex in g, so
 * below its chord on each cell (whose mean needs the cell's mass and first moment), below
 * r(lambda y(g_0)) under the grid and x^2/2 above it, (c) k! lambda^-k E[Y^-k], (d) 1. */
typedef struct add_grid {
    double v;
    double y[ADD_G_CELLS + 1];     /* y(g_j) */
    double mass[ADD_G_CELLS];      /* P(g_j < G <= g_j+1) */
    double lean[ADD_G_CELLS];      /* E[G - g_j; g_j < G <= g_j+1] / (g_j+1 - g_j) */
    double below, above;           /* P(G <= g_0), P(G > g_K) */
    double above_second;           /* E[Y^2; G > g_K] = e^v (1 - Phi(g_K - 2 sqrt v)) */
} add_grid;

static void add_grid_init(add_grid *grid, double v)
{
    double root = sqrt(v), previous = normal_cdf(ADD_G_LOW);
    double width = (ADD_G_HIGH - ADD_G_LOW) / ADD_G_CELLS;
    double density = exp(-0.5 * ADD_G_LOW * ADD_G_LOW);
    grid->v = v;
    grid->below = previous;
    for (int j = 0; j <= ADD_G_CELLS; j++) {
        double g = ADD_G_LOW + width * j;
        grid->y[j] = exp(root * g - v / 2.0);
        double next_density = exp(-0.5 * g * g);
        if (j > 0) {
            double cdf = normal_cdf(g), low = g - width;
            grid->mass[j - 1] = cdf - previous;
            /* int (x - low) pdf(x) dx over the cell = pdf(low) - pdf(g) - low * mass, kept in
             * [0, width * mass] where it lies. */
            double lean = ((density - next_density) / sqrt(2.0 * M_PI) - low * grid->mass[j - 1]) /
                          width;
            grid->lean[j - 1] = fmin(fmax(lean, 0.0), grid->mass[j - 1]);
            previous = cdf;
        }
        density = next_density;
    }
    grid->above = normal_cdf(-ADD_G_HIGH);
    grid->above_second = exp(v) * normal_cdf(-(ADD_G_HIGH - 2.0 * root));
}

static double log_phi_upper(const add_grid *grid, double lambda)
{
    double x = lambda * grid->y[0], r = expm1(-x) + x, h = exp(-x);
    double direct = grid->below, rest = grid->below * r;
    for (int j = 0; j < ADD_G_CELLS; j++) {
        x = lambda * grid->y[j + 1];
        double next = expm1(-x) + x, next_h = exp(-x);
        /* h = exp(-lambda y(g)) is convex in g where lambda y >= 1 (below its chord there),
         * and decreasing everywhere (below its left end). */
        direct += lambda * grid->y[j] >= 1.0 ? grid->mass[j] * h + grid->lean[j] * (next_h - h)
                                             : grid->mass[j] * h;
        rest += grid->mass[j] * r + grid->lean[j] * (next - r);
        r = next;
        h = next_h;
    }
    direct += grid->above * exp(-lambda * grid->y[ADD_G_CELLS]);
    rest += grid->above_second * lambda * lambda / 2.0;
    /* Rounding: (a) sums K positive terms, (b) cancels against 1 - lambda. */
    double slack = 4.0 * (ADD_G_CELLS + 8) * DBL_EPSILON;
    direct *= 1.0 + slack;
    double taylor = 1.0 - lambda + rest + slack * (1.0 + lambda + rest);
    double best = fmin(fmin(direct, taylor), 1.0);
    double log_best = best > 0.0 ? log(best) : 0.0;
    /* (c) in logarithms, where the sums above underflow. */
    for (int k = 1; k <= ADD_MOMENT_BOUNDS; k++) {
        double bound = lgamma(k + 1.0) - k * log(lambda) + k * (k + 1.0) * grid->v / 2.0;
        log_best = fmin(log_best, bound + 1e-12 * (1.0 + fabs(bound)));
    }
    return log_best;
}

/* For the orders of one curve: the Laplace variable's grid s_0 < ... < s_L (geometric) with
 * t log phi(s_l / t) bounded above at each point. */
typedef struct add_table {
    size_t count;
    double *s, *log_phi_t; /* count entries each */
    double log_s_max;
} add_table;

/* The tail past S = s_L (docs/maths.md 2.12): for k > beta / t, phi(s/t)^t <= C_k^t s^-kt with
 * log C_k = log k! + k log t + k(k+1) v/2, so the tail's integral is at most
 * C_k^t S^(beta - kt) / (kt - beta). The log of the least over the first ADD_MOMENT_BOUNDS such k
 * at log S = log_s, or (log_s NaN) the least log S that makes it e^-ADD_TAIL_LOG. */
static double tail_bound(long long t, double v, double beta, double log_s)
{
    double first = floor(beta / (double)t) + 1.0, best = INFINITY;
    for (int j = 0; j < ADD_MOMENT_BOUNDS; j++) {
        double k = first + j, room = k * (double)t - beta;
        double log_c = lgamma(k + 1.0) + k * log((double)t) + k * (k + 1.0) * v / 2.0;
        double value = isnan(log_s) ? ((double)t * log_c + ADD_TAIL_LOG) / room
                                    : (double)t * log_c - room * log_s - log(room);
        best = fmin(best, value);
    }
    return best;
}

/* log S the grid needs for beta. */
static double needed_log_s(long long t, double v, double beta)
{
    return fmax(log(4.0 * (beta + 1.0)), tail_bound(t, v, beta, NAN));
}

static int add_table_init(add_table *table, long long t, double v, double log_s_max)
{
    table->log_s_max = log_s_max;
    table->count = (size_t)ceil((log_s_max - log(ADD_S_MIN)) / log1p(ADD_S_RATIO)) + 1;
    table->s = malloc(2 * table->count * sizeof *table->s);
    if (!table->s)
        return -1;
    table->log_phi_t = table->s + table->count;
    add_grid *grid = malloc(sizeof *grid);
    if (!grid) {
        free(table->s);
        return -1;
    }
    add_grid_init(grid, v);
    for (size_t l = 0; l < table->count; l++) {
        table->s[l] = ADD_S_MIN * pow(1.0 + ADD_S_RATIO, (double)l);
        table->log_phi_t[l] = (double)t * log_phi_upper(grid, table->s[l] / (double)t);
    }
    free(grid);
    return 0;
}

/* log of the integral of exp(a + b s) over [lo, hi]. */
static double log_integral_exp_line(double a, double b, double lo, double hi)
{
    double width = hi - lo;
    if (fabs(b) * width < 1e-12)
        return a + b * lo + log(width);
    if (b > 0.0)
        return a + b * hi + log(-expm1(-b * width)) - log(b);
    return a + b * lo + log(-expm1(b * width)) - log(-b);
}

/* Upper bound on D_alpha(Q || P) of one epoch at beta = alpha - 1 > 0 from the table:
 * E[M^-beta] = (1/Gamma(beta)) int_0^inf s^(beta-1) phi(s/t)^t ds (docs/maths.md 2.12). */
static double add_from_table(const add_table *table, long long t, double v, double beta)
{
    /* [0, s_0]: phi <= 1. */
    double log_sum = beta * log(table->s[0]) - log(beta);
    for (size_t l = 0; l + 1 < table->count; l++) {
        double lo = table->s[l], hi = table->s[l + 1];
        /* t log phi(s/t) is convex in s: below the chord of its upper bounds. */
        double slope = (table->log_phi_t[l + 1] - table->log_phi_t[l]) / (hi - lo);
        double a = table->log_phi_t[l] - slope * lo, b = slope;
        /* (beta - 1) log s: concave for beta >= 1 (below its tangent at the middle), convex
         * for beta < 1 (below its chord). */
        if (beta >= 1.0) {
            double mid = 0.5 * (lo + hi), tangent = (beta - 1.0) / mid;
            a += (beta - 1.0) * log(mid) - tangent * mid;
            b += tangent;
        } else {
            double chord = (beta - 1.0) * (log(hi) - log(lo)) / (hi - lo);
            a += (beta - 1.0) * log(lo) - chord * lo;
            b += chord;
        }
        log_sum = accountant_log_add(log_sum, log_integral_exp_line(a, b, lo, hi));
    }
    log_sum = accountant_log_add(log_sum, tail_bound(t, v, beta, table->log_s_max));
    double log_moment = log_sum - lgamma(beta);
    /* Rounding of a sum of ~count logarithms, each exact to a few ulps of its size. */
    log_moment += 8.0 * (double)table->count * DBL_EPSILON * (1.0 + fabs(log_sum));
    return isnan(log_moment) ? INFINITY : fmax(log_moment, 0.0) / beta;
}

int accountant_random_allocation_add(long long t, double sigma, const double *orders,
                                     size_t order_count, double *add)
{
    double v = 1.0 / (sigma * sigma), log_s_max = 0.0;
    for (size_t k = 0; k < order_count; k++)
        log_s_max = fmax(log_s_max, needed_log_s(t, v, orders[k] - 1.0));
    log_s_max = fmin(log_s_max, ADD_MAX_LOG_S);
    add_table table;
    if (add_table_init(&table, t, v, log_s_max) != 0)
        return -1;
    for (size_t k = 0; k < order_count; k++) {
        double beta = orders[k] - 1.0;
        /* Past the largest grid, fail closed. */
        add[k] = needed_log_s(t, v, beta) > ADD_MAX_LOG_S || !isfinite(beta)
                     ? INFINITY
                     : add_from_table(&table, t, v, beta);
    }
    free(table.s);
    return 0;
}
