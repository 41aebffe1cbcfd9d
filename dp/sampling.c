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

/* Each uniform takes 8 keystream bytes, so example i's is at start + 8 i (docs/maths.md 4.12). */
size_t dp_poisson_sample_shard(rng *sampler, size_t total, size_t first, size_t count,
                               double rate, size_t *indices)
{
    uint64_t start = rng_tell(sampler);
    rng_seek(sampler, start + 8 * (uint64_t)first);
    size_t taken = dp_poisson_sample(sampler, count, rate, indices);
    rng_seek(sampler, start + 8 * (uint64_t)total);
    return taken;
}

void dp_add_noise(rng *noise, float *grad, size_t n, double noise_multiplier, double clip_norm)
{
    double std = noise_multiplier * clip_norm;
    if (std <= 0)
        return; /* sigma = 0 adds nothing (docs/maths.md 4.6) */
    rng_add_gaussian_secure(noise, grad, n, std);
}

/* Value j of the noise vector sits at keystream position start + 32 j (docs/maths.md 4.12). */
void dp_add_noise_slice(rng *noise, float *grad, size_t n, size_t first, size_t count,
                        double noise_multiplier, double clip_norm)
{
    if (!(noise_multiplier * clip_norm > 0))
        return; /* as dp_add_noise: sigma = 0 draws nothing, the stream stays where it is */
    uint64_t start = rng_tell(noise);
    rng_seek(noise, start + RNG_GAUSSIAN_SECURE_BYTES * (uint64_t)first);
    dp_add_noise(noise, grad + first, count, noise_multiplier, clip_norm);
    rng_seek(noise, start + RNG_GAUSSIAN_SECURE_BYTES * (uint64_t)n);
}
