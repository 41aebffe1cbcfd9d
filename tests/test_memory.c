/* Small common helpers: freeing lists of arrays and of strings, and the two-pass moments of the
 * group norms against a direct long-double computation. */
#include "common/memory.h"
#include "common/moments.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t released;
static void *released_pointers[4];

static void count_release(void *p)
{
    released_pointers[released++] = p;
}

Test(memory, release_all_skips_null_and_keeps_order)
{
    int a, b, c;
    released = 0;
    MEMORY_RELEASE_ALL(count_release, &a, NULL, &b, &c);
    cr_assert_eq(released, 3);
    cr_assert(released_pointers[0] == &a && released_pointers[1] == &b &&
              released_pointers[2] == &c);
    /* the real frees: a NULL entry or list is skipped, nothing leaks (make test-asan) */
    MEMORY_FREE_ALL(malloc(8), NULL, calloc(2, 4));
    char **names = calloc(3, sizeof *names);
    cr_assert_not_null(names);
    names[0] = strdup("zero");
    names[2] = strdup("two"); /* names[1] stays NULL, as after a failed strdup */
    memory_free_strings(names, 3);
    memory_free_strings(NULL, 5);
}

Test(memory, moments_match_a_direct_computation)
{
    float x[1000];
    for (size_t i = 0; i < 1000; i++)
        x[i] = 1000.0f + (float)((i * 7919) % 101) * 0.01f; /* a large mean, a small spread */
    long double sum = 0, squares = 0;
    for (size_t i = 0; i < 1000; i++)
        sum += x[i];
    long double mean = sum / 1000;
    for (size_t i = 0; i < 1000; i++)
        squares += (x[i] - mean) * (x[i] - mean);
    double want = (double)(1 / sqrtl(squares / 1000 + 1e-5L));
    double got_mean, got_inv_std;
    moments_mean_inv_std(x, 1000, 1e-5, &got_mean, &got_inv_std);
    cr_assert_float_eq(got_mean, (double)mean, 1e-12 * 1000);
    cr_assert_float_eq(got_inv_std, want, 1e-9 * want, "%.17g vs %.17g", got_inv_std, want);
}
