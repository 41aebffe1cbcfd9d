/* The pieces of a data-parallel step (docs/maths.md 4.12) against one process's: the Poisson
 * decisions of the shards and the slices of the noise vector are the whole step's, and the
 * generators end where one process's do. No MPI needed. */
#include "dp/dp.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

Test(dp_shards, shards_of_the_poisson_sample_are_the_whole_sample)
{
    enum { N = 1001, STEPS = 3 };
    size_t whole[N], part[N];
    rng one, ranks[3];
    rng_init_seed(&one, 5, RNG_STREAM_SAMPLING);
    for (int r = 0; r < 3; r++)
        rng_init_seed(&ranks[r], 5, RNG_STREAM_SAMPLING);
    for (int s = 0; s < STEPS; s++) {
        size_t n = dp_poisson_sample(&one, N, 0.1, whole), seen = 0;
        for (size_t r = 0; r < 3; r++) {
            size_t first = N * r / 3, count = N * (r + 1) / 3 - first;
            size_t m = dp_poisson_sample_shard(&ranks[r], N, first, count, 0.1, part);
            for (size_t i = 0; i < m; i++, seen++) {
                cr_assert_lt(seen, n, "step %d: more examples than one process samples", s);
                cr_assert_eq(part[i] + first, whole[seen], "step %d rank %zu", s, r);
            }
            cr_assert_eq(rng_tell(&ranks[r]), rng_tell(&one), "step %d rank %zu", s, r);
        }
        cr_assert_eq(seen, n, "step %d", s);
        cr_assert_gt(n, 50, "step %d: %zu examples of %d at q = 0.1", s, n, N);
    }
}

Test(dp_shards, slices_of_the_noise_add_up_to_the_whole_noise)
{
    enum { P = 5003 };
    float *whole = calloc(P, sizeof *whole), *sum = calloc(P, sizeof *sum);
    float *slice = malloc(P * sizeof *slice);
    rng one, rank;
    rng_init_seed(&one, 9, RNG_STREAM_NOISE);
    dp_add_noise(&one, whole, P, 1.3, 0.5);
    for (size_t r = 0; r < 4; r++) {
        rng_init_seed(&rank, 9, RNG_STREAM_NOISE);
        memset(slice, 0, P * sizeof *slice);
        size_t first = P * r / 4, count = P * (r + 1) / 4 - first;
        dp_add_noise_slice(&rank, slice, P, first, count, 1.3, 0.5);
        cr_assert_eq(rng_tell(&rank), rng_tell(&one), "rank %zu", r);
        for (size_t j = 0; j < P; j++) {
            cr_assert(j - first < count || slice[j] == 0, "rank %zu wrote outside its slice", r);
            sum[j] += slice[j];
        }
    }
    cr_assert_eq(memcmp(whole, sum, P * sizeof *sum), 0, "the slices are not the noise vector");
    /* sigma = 0 draws nothing, as dp_add_noise */
    rng_init_seed(&rank, 9, RNG_STREAM_NOISE);
    uint64_t before = rng_tell(&rank);
    dp_add_noise_slice(&rank, slice, P, 0, P / 2, 0.0, 0.5);
    cr_assert_eq(rng_tell(&rank), before);
    free(whole), free(sum), free(slice);
}
