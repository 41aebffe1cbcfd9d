/* Poisson sampling of batches and Gaussian noise on clipped sums (docs/maths.md 4.2, 4.6, 4.8). */
#include "dp/dp.h"

size_t dp_poisson_sample(rng *sampler, size_t count, double rate, size_t *indices)
{
    size_t taken = 0;
    for (size_t i = 0; i < count; i++)
        if (rng_uniform(sampler) < rate)
            indices[taken++] = i;
    return taken;
}

void dp_add_noise(rng *noise, float *grad, size_t n, double noise_multiplier, double clip_norm)
{
    double std = noise_multiplier * clip_norm;
    if (std <= 0)
        return; /* sigma = 0 adds nothing (docs/maths.md 4.6) */
    rng_add_gaussian_secure(noise, grad, n, std);
}
