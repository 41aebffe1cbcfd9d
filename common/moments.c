/* Mean and inverse standard deviation of a group of values (see moments.h). */
#include "common/moments.h"

#include <math.h>

void moments_mean_inv_std(const float *x, size_t n, double epsilon, double *mean,
                          double *inv_std)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    double mu = sum / (double)n;
    double squares = 0.0;
    for (size_t i = 0; i < n; i++)
        squares += ((double)x[i] - mu) * ((double)x[i] - mu);
    *mean = mu;
    *inv_std = 1.0 / sqrt(squares / (double)n + epsilon);
}
