/* The mean and the inverse standard deviation of a group of values, as every group
 * normalisation (features.normalize group-norm, the group-norm layer, their gradients) computes
 * them. */
#ifndef DPKIT_COMMON_MOMENTS_H
#define DPKIT_COMMON_MOMENTS_H

#include <stddef.h>

/* mean and 1 / sqrt(var + epsilon) of x[0..n), var the biased variance; two passes in double,
 * so the variance has no cancellation. n > 0. */
void moments_mean_inv_std(const float *x, size_t n, double epsilon, double *mean,
                          double *inv_std);

#endif
