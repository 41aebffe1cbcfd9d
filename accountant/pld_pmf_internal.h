/* Discrete privacy loss distributions on the grid k * d (docs/maths.md 3.4-3.6): composition by
 * FFT, tail truncation, and reading off delta(epsilon) and epsilon(delta). Internal. */
#ifndef DPKIT_ACCOUNTANT_PLD_PMF_INTERNAL_H
#define DPKIT_ACCOUNTANT_PLD_PMF_INTERNAL_H

#include "common/error.h"

#include <stddef.h>

/* Which side a discretisation or truncation errs on (docs/maths.md 3.3, 3.5): PESSIMISTIC
 * over-estimates delta at every epsilon (mass moved up or to +infinity), OPTIMISTIC
 * under-estimates it (mass moved down or dropped). */
typedef enum { PLD_PESSIMISTIC, PLD_OPTIMISTIC } pld_bound;

typedef struct pld_pmf {
    long long offset;      /* p[i] is the mass at loss (offset + i) * d */
    double *p;
    size_t n;
    double infinity_mass;  /* mass at loss +infinity */
} pld_pmf;

/* A PMF of n zero entries (caller fills it); 0 or -1. */
int pld_pmf_alloc(pld_pmf *pmf, size_t n, dpkit_error *err);
void pld_pmf_free(pld_pmf *pmf);

/* Truncation of the tails, the longest prefix and suffix of mass <= tail/2 each: pessimistic,
 * the prefix moves up to the first kept point and the suffix to +infinity; optimistic, both
 * are dropped. */
void pld_pmf_truncate(pld_pmf *pmf, double tail, pld_bound bound);

/* `times`-fold self-composition with a Chernoff window of total tail mass `tail`, charged to
 * infinity (pessimistic) or dropped (optimistic) (docs/maths.md 3.5). *out is a new PMF. */
int pld_pmf_self_compose(const pld_pmf *in, long long times, double tail, pld_bound bound,
                         pld_pmf *out, dpkit_error *err);
/* Composition of two PMFs (linear convolution), then truncation with `tail`. */
int pld_pmf_compose(const pld_pmf *a, const pld_pmf *b, double tail, pld_bound bound,
                    pld_pmf *out, dpkit_error *err);

/* Hockey-stick divergence at epsilon, and its inverse (docs/maths.md 3.6). */
double pld_pmf_delta(const pld_pmf *pmf, double discretization, double epsilon);
double pld_pmf_epsilon(const pld_pmf *pmf, double discretization, double delta);

#endif
