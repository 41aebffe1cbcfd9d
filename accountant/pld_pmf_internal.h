/* Discrete privacy loss distributions on the grid k * d (docs/maths.md 3.4-3.6): composition by
 * FFT, tail truncation, and reading off delta(epsilon) and epsilon(delta). Internal. */
#ifndef DPKIT_ACCOUNTANT_PLD_PMF_INTERNAL_H
#define DPKIT_ACCOUNTANT_PLD_PMF_INTERNAL_H

#include "common/error.h"

#include <stddef.h>

typedef struct pld_pmf {
    long long offset;      /* p[i] is the mass at loss (offset + i) * d */
    double *p;
    size_t n;
    double infinity_mass;  /* mass at loss +infinity */
} pld_pmf;

/* A PMF of n zero entries (caller fills it); 0 or -1. */
int pld_pmf_alloc(pld_pmf *pmf, size_t n, dpkit_error *err);
void pld_pmf_free(pld_pmf *pmf);

/* Pessimistic truncation of the tails: the longest prefix of mass <= tail/2 moves up to the
 * first kept point, the longest suffix of mass <= tail/2 moves to +infinity. */
void pld_pmf_truncate(pld_pmf *pmf, double tail);

/* `times`-fold self-composition with a Chernoff window of total tail mass `tail`, charged to
 * infinity (docs/maths.md 3.5). *out is a new PMF. */
int pld_pmf_self_compose(const pld_pmf *in, long long times, double tail, pld_pmf *out,
                         dpkit_error *err);
/* Composition of two PMFs (linear convolution), then truncation with `tail`. */
int pld_pmf_compose(const pld_pmf *a, const pld_pmf *b, double tail, pld_pmf *out,
                    dpkit_error *err);

/* Hockey-stick divergence at epsilon, and its inverse (docs/maths.md 3.6). */
double pld_pmf_delta(const pld_pmf *pmf, double discretization, double epsilon);
double pld_pmf_epsilon(const pld_pmf *pmf, double discretization, double delta);

#endif
