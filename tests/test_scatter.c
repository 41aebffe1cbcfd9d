/* Scattering transform: Kymatio reference outputs and filter bank, channel order, properties
 * (constant images, non-negativity, batching), bad input, and the `dpkit scatter` command. */
#include "common/h5io.h"
#include "scatter/scatter.h"
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REFERENCE "scatter/kymatio_ref.h5"

static scatter_options quick_options(int threads)
{
    scatter_options o = scatter_default_options();
    o.threads = threads;
    o.planning = SCATTER_PLAN_ESTIMATE;
    return o;
}

static long long read_int_attr(h5io_file *f, const char *group, const char *name)
{
    dpkit_error err;
    long long v = 0;
    cr_assert_eq(h5io_read_attr_int64(f, group, name, &v, &err), 0, "%s", err.message);
    return v;
}

static double max_abs(const double *x, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs(x[i]));
    return m;
}

/* One case of the reference file: input (float64 read as float32), Kymatio's output. */
static void check_reference_case(const char *group)
{
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_open_read(test_data_path(REFERENCE), &f, &err), 0, "%s", err.message);
    int J = (int)read_int_attr(f, group, "J"), L = (int)read_int_attr(f, group, "L");
    int order = (int)read_int_attr(f, group, "max_order");
    char path[256];
    int rank, out_rank;
    size_t dims[H5IO_MAX_RANK], out_dims[H5IO_MAX_RANK];
    float *input;
    double *expected;
    snprintf(path, sizeof path, "%s/input", group);
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT32, &rank, dims, (void **)&input, &err), 0,
                 "%s", err.message);
    snprintf(path, sizeof path, "%s/output", group);
    cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &out_rank, out_dims, (void **)&expected,
                                 &err), 0, "%s", err.message);
    h5io_close(f);
    size_t H = dims[rank - 2], W = dims[rank - 1], images = 1;
    for (int i = 0; i < rank - 2; i++)
        images *= dims[i];
    scatter_options o = quick_options(2);
    scatter_plan *plan;
    cr_assert_eq(scatter_plan_create(J, L, order, H, W, &o, &plan, &err), 0, "%s", err.message);
    size_t K = scatter_plan_channels(plan), oh = scatter_plan_output_height(plan),
           ow = scatter_plan_output_width(plan);
    cr_assert_eq(out_rank, rank + 1);
    cr_assert_eq(out_dims[rank - 2], K, "%s: channels %zu vs %zu", group, out_dims[rank - 2], K);
    cr_assert_eq(out_dims[rank - 1], oh);
    cr_assert_eq(out_dims[rank], ow);
    size_t total = images * K * oh * ow;
    float *got = malloc(total * sizeof *got);
    cr_assert_eq(scatter_execute(plan, images, input, got, &err), 0, "%s", err.message);
    double scale = max_abs(expected, total), worst = 0;
    size_t worst_at = 0;
    for (size_t i = 0; i < total; i++) {
        double d = fabs((double)got[i] - expected[i]);
        if (d > worst) {
            worst = d;
            worst_at = i;
        }
    }
    cr_log_info("%s: max |dpkit - kymatio| = %.3g = %.3g x max |kymatio|", group, worst,
                worst / scale);
    cr_expect_leq(worst, 2e-5 * scale, "%s: max |dpkit - kymatio| = %g at %zu (channel %zu), "
                  "limit %g", group, worst, worst_at, (worst_at / (oh * ow)) % K, 2e-5 * scale);
    scatter_plan_free(plan);
    free(got);
    free(input);
    free(expected);
}

Test(scatter, kymatio_mnist_J2_L8) { check_reference_case("mnist_J2_L8"); }
Test(scatter, kymatio_cifar_J2_L8) { check_reference_case("cifar_J2_L8"); }
Test(scatter, kymatio_odd_J2_L8) { check_reference_case("odd_J2_L8"); }
Test(scatter, kymatio_small_J1_L4) { check_reference_case("small_J1_L4"); }
Test(scatter, kymatio_order1_J3_L8) { check_reference_case("order1_J3_L8"); }

/* Our filter bank against Kymatio's (float32 as shipped, and the float64 variant). */
static void check_filters(const char *prefix, double tolerance)
{
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_open_read(test_data_path(REFERENCE), &f, &err), 0, "%s", err.message);
    scatter_filter_bank *bank;
    cr_assert_eq(scatter_filter_bank_create(2, 8, 36, 36, &bank, &err), 0, "%s", err.message);
    char path[256];
    int compared = 0;
    double worst = 0;
    for (int n = -1; n < 16; n++) {
        int levels = n < 0 ? 2 : bank->psi_levels[n];
        for (int r = 0; r < levels; r++) {
            if (n < 0)
                snprintf(path, sizeof path, "%s/phi_level%d", prefix, r);
            else
                snprintf(path, sizeof path, "%s/psi_j%d_theta%d_level%d", prefix, n / 8, n % 8, r);
            int rank;
            size_t dims[H5IO_MAX_RANK];
            double *expected;
            cr_assert_eq(h5io_read_array(f, path, H5IO_FLOAT64, &rank, dims, (void **)&expected,
                                         &err), 0, "%s", err.message);
            cr_assert_eq(dims[0], (size_t)36 >> r);
            cr_assert_eq(dims[1], (size_t)36 >> r);
            const float *got = n < 0 ? bank->phi[r] : bank->psi[n][r];
            for (size_t i = 0; i < dims[0] * dims[1]; i++)
                worst = fmax(worst, fabs((double)got[i] - expected[i]));
            free(expected);
            compared++;
        }
    }
    cr_log_info("filters %s: max abs difference %.3g over %d arrays", prefix, worst, compared);
    cr_expect_leq(worst, tolerance, "filters %s: max abs difference %g > %g", prefix, worst,
                  tolerance);
    cr_expect_eq(compared, 2 + 16, "a level is missing or extra");
    scatter_filter_bank_free(bank);
    h5io_close(f);
}

Test(scatter, filter_bank_matches_kymatio) { check_filters("filters_M36_N36_J2_L8", 1e-6); }
Test(scatter, filter_bank_matches_kymatio_f64) { check_filters("filters_M36_N36_J2_L8/f64", 1e-6); }
