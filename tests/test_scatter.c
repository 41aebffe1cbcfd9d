/* Scattering transform: Kymatio reference outputs and filter bank, channel order, properties
 * (constant images, non-negativity, batching), bad input, and the `dpkit scatter` command. */
#include "common/h5io.h"
#include "scatter/scatter.h"
#include "tests/test_util.h"

#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

/* The channel table stored with every case (order, j1, theta1, j2, theta2). */
Test(scatter, channel_order_matches_kymatio)
{
    const char *groups[] = {"mnist_J2_L8", "odd_J2_L8", "small_J1_L4", "order1_J3_L8"};
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_open_read(test_data_path(REFERENCE), &f, &err), 0, "%s", err.message);
    for (int g = 0; g < 4; g++) {
        int J = (int)read_int_attr(f, groups[g], "J"), L = (int)read_int_attr(f, groups[g], "L");
        int order = (int)read_int_attr(f, groups[g], "max_order");
        char path[256];
        snprintf(path, sizeof path, "%s/channels", groups[g]);
        int rank;
        size_t dims[H5IO_MAX_RANK];
        int *table;
        cr_assert_eq(h5io_read_array(f, path, H5IO_INT32, &rank, dims, (void **)&table, &err), 0,
                     "%s", err.message);
        cr_assert_eq(dims[0], scatter_channel_count(J, L, order));
        for (size_t k = 0; k < dims[0]; k++) {
            int got[5];
            cr_assert_eq(scatter_channel_info(J, L, order, k, &got[0], &got[1], &got[2], &got[3],
                                              &got[4], &err), 0, "%s", err.message);
            for (int i = 0; i < 5; i++)
                cr_assert_eq(got[i], table[k * 5 + i], "%s channel %zu field %d: %d vs %d",
                             groups[g], k, i, got[i], table[k * 5 + i]);
        }
        free(table);
    }
    int o, a, b, c, d;
    cr_assert_neq(scatter_channel_info(2, 8, 2, 81, &o, &a, &b, &c, &d, &err), 0);
    cr_assert_eq(scatter_channel_count(3, 8, 2), 217);
    cr_assert_eq(scatter_channel_count(3, 6, 2), 127);
    h5io_close(f);
}

static float *random_images(size_t count, unsigned seed)
{
    float *x = malloc(count * sizeof *x);
    srand(seed);
    for (size_t i = 0; i < count; i++)
        x[i] = (float)rand() / (float)RAND_MAX;
    return x;
}

/* Runs a fresh plan on images and returns the coefficients (malloc'd). */
static float *transform(int J, int L, int order, size_t H, size_t W, size_t count,
                        const float *images, int threads, size_t *out_per_image)
{
    dpkit_error err;
    scatter_options o = quick_options(threads);
    scatter_plan *plan;
    cr_assert_eq(scatter_plan_create(J, L, order, H, W, &o, &plan, &err), 0, "%s", err.message);
    size_t per = scatter_plan_channels(plan) * scatter_plan_output_height(plan) *
                 scatter_plan_output_width(plan);
    float *out = malloc((count ? count : 1) * per * sizeof *out);
    cr_assert_eq(scatter_execute(plan, count, images, out, &err), 0, "%s", err.message);
    scatter_plan_free(plan);
    *out_per_image = per;
    return out;
}

/* A constant image has no oscillation: wavelet (order >= 1) coefficients vanish. Order 0 is the
 * constant times phi's DC gain pi / 3.1415 (docs/maths.md 1.4). */
Test(scatter, constant_image_has_zero_higher_orders)
{
    const size_t shapes[][2] = {{28, 28}, {17, 23}, {8, 8}};
    for (int s = 0; s < 3; s++) {
        size_t H = shapes[s][0], W = shapes[s][1];
        int J = s == 2 ? 3 : 2;
        float *image = malloc(H * W * sizeof *image);
        for (size_t i = 0; i < H * W; i++)
            image[i] = 3.0f;
        size_t per;
        float *out = transform(J, 6, 2, H, W, 1, image, 1, &per);
        size_t plane = (H >> J) * (W >> J);
        for (size_t i = 0; i < plane; i++)
            cr_expect_float_eq(out[i], 3.0 * M_PI / 3.1415, 1e-5, "order 0 at %zu: %g", i, out[i]);
        double worst = 0;
        for (size_t i = plane; i < per; i++)
            worst = fmax(worst, fabs(out[i]));
        cr_expect_leq(worst, 3e-6 * 3.0, "%zux%zu: order >= 1 coefficient %g", H, W, worst);
        free(out);
        free(image);
    }
}

/* Order 1 and 2 are a modulus low-passed by a positive Gaussian: non-negative up to round-off.
 * (Order 0 may be negative: the input is.) */
Test(scatter, higher_orders_are_non_negative)
{
    size_t H = 20, W = 27, count = 3;
    float *images = random_images(count * H * W, 7);
    for (size_t i = 0; i < count * H * W; i++)
        images[i] = 2 * images[i] - 1;
    size_t per;
    float *out = transform(2, 8, 2, H, W, count, images, 2, &per);
    size_t plane = (H >> 2) * (W >> 2);
    int negative_order0 = 0;
    for (size_t n = 0; n < count; n++) {
        const float *o = out + n * per;
        double scale = 0;
        for (size_t i = 0; i < per; i++)
            scale = fmax(scale, fabs(o[i]));
        for (size_t i = 0; i < plane; i++)
            negative_order0 |= o[i] < 0;
        for (size_t i = plane; i < per; i++)
            cr_expect_geq(o[i], -1e-6 * scale, "image %zu coefficient %zu = %g", n, i, o[i]);
    }
    cr_expect(negative_order0, "order 0 should see the negative input (test is meaningful)");
    free(out);
    free(images);
}

/* A batch, spread over threads, equals transforming the images one by one; (N, C, H, W) is the
 * same as N*C single images. */
Test(scatter, batch_equals_one_by_one)
{
    size_t H = 32, W = 24, count = 7;
    float *images = random_images(count * H * W, 3);
    size_t per;
    float *batch = transform(2, 4, 2, H, W, count, images, 2, &per);
    dpkit_error err;
    scatter_options o = quick_options(1);
    scatter_plan *plan;
    cr_assert_eq(scatter_plan_create(2, 4, 2, H, W, &o, &plan, &err), 0, "%s", err.message);
    float *one = malloc(per * sizeof *one);
    for (size_t n = 0; n < count; n++) {
        cr_assert_eq(scatter_execute(plan, 1, images + n * H * W, one, &err), 0);
        for (size_t i = 0; i < per; i++)
            cr_assert_eq(one[i], batch[n * per + i], "image %zu coefficient %zu: %.9g vs %.9g", n,
                         i, one[i], batch[n * per + i]);
    }
    cr_assert_eq(scatter_execute(plan, 0, NULL, NULL, &err), 0, "an empty batch is fine");
    free(one);
    scatter_plan_free(plan);
    free(batch);
    free(images);
}

/* Padded and output sizes for shapes that are not multiples of 2^J (docs/maths.md 1.2, 1.8). */
Test(scatter, padded_and_output_sizes)
{
    dpkit_error err;
    scatter_plan *plan;
    scatter_options o = quick_options(1);
    cr_assert_eq(scatter_plan_create(3, 8, 2, 17, 23, &o, &plan, &err), 0, "%s", err.message);
    cr_assert_eq(scatter_plan_output_height(plan), 2);
    cr_assert_eq(scatter_plan_output_width(plan), 2);
    cr_assert_eq(scatter_plan_channels(plan), 217);
    cr_assert_eq(scatter_plan_filters(plan)->M, scatter_padded_size(17, 3));
    cr_assert_eq(scatter_padded_size(17, 3), 32);
    cr_assert_eq(scatter_padded_size(28, 2), 36);
    cr_assert_eq(scatter_padded_size(16, 4), 48);
    scatter_plan_free(plan);
}

Test(scatter, bad_parameters_are_clear_errors)
{
    dpkit_error err;
    scatter_plan *plan = (scatter_plan *)&err;
    cr_assert_neq(scatter_plan_create(0, 8, 2, 28, 28, NULL, &plan, &err), 0);
    cr_assert_null(plan);
    cr_assert(strstr(err.message, "J = 0"), "%s", err.message);
    cr_assert_neq(scatter_plan_create(2, 0, 2, 28, 28, NULL, &plan, &err), 0);
    cr_assert(strstr(err.message, "L = 0"), "%s", err.message);
    cr_assert_neq(scatter_plan_create(2, 8, 3, 28, 28, NULL, &plan, &err), 0);
    cr_assert(strstr(err.message, "max_order"), "%s", err.message);
    cr_assert_neq(scatter_plan_create(5, 8, 2, 28, 40, NULL, &plan, &err), 0);
    cr_assert(strstr(err.message, "2^J = 32"), "%s", err.message);
    cr_assert_neq(scatter_plan_create(2, 8, 2, 28, 3, NULL, &plan, &err), 0);
    cr_assert(strstr(err.message, "28 x 3"), "%s", err.message);
    scatter_options o = quick_options(-1);
    cr_assert_neq(scatter_plan_create(2, 8, 2, 28, 28, &o, &plan, &err), 0);
    cr_assert(strstr(err.message, "threads"), "%s", err.message);
    scatter_filter_bank *bank;
    cr_assert_neq(scatter_filter_bank_create(2, 8, 30, 36, &bank, &err), 0);
    cr_assert(strstr(err.message, "multiples"), "%s", err.message);
    /* Exactly 2^J is accepted (padding then equals the image size on each side). */
    o = quick_options(1);
    cr_assert_eq(scatter_plan_create(3, 4, 2, 8, 8, &o, &plan, &err), 0, "%s", err.message);
    cr_assert_neq(scatter_execute(plan, 1, NULL, NULL, &err), 0);
    scatter_plan_free(plan);
    scatter_plan_free(NULL);
    scatter_filter_bank_free(NULL);
}

Test(scatter, wisdom_round_trip)
{
    dpkit_error err;
    char path[512];
    snprintf(path, sizeof path, "%s/wisdom", test_temp_dir());
    cr_assert_neq(scatter_wisdom_import(path, &err), 0, "missing wisdom file must fail");
    cr_assert(strstr(err.message, path), "%s", err.message);
    cr_assert_eq(scatter_wisdom_export(path, &err), 0, "%s", err.message);
    cr_assert_eq(scatter_wisdom_import(path, &err), 0, "%s", err.message);
    unlink(path);
}

/* ---- the dpkit scatter command ---- */

static void write_h5(const char *path, const char *dataset, h5io_type type, int rank,
                     const size_t *dims, const void *data)
{
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_write_array(f, dataset, type, rank, dims, data, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
}

Test(scatter, cli_end_to_end_matches_library)
{
    const char *dir = test_temp_dir();
    char in[512], out[512], args[2048];
    snprintf(in, sizeof in, "%s/in.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    size_t N = 5, C = 2, H = 12, W = 13;
    float *images = random_images(N * C * H * W, 11);
    double *as_double = malloc(N * C * H * W * sizeof *as_double);
    for (size_t i = 0; i < N * C * H * W; i++)
        as_double[i] = images[i];
    size_t dims[4] = {N, C, H, W};
    write_h5(in, "/data/x", H5IO_FLOAT64, 4, dims, as_double);
    /* Chunks of 2 images: the last chunk is partial. */
    snprintf(args, sizeof args,
             "-q scatter --J 2 --L 4 --max-order 2 --chunk 2 --threads 2 --planning estimate "
             "--input %s:/data/x --output %s:/features/scatter",
             in, out);
    char *output = NULL;
    int status = test_run_dpkit(args, &output);
    cr_assert_eq(status, 0, "dpkit scatter failed: %s", output ? output : "");
    free(output);

    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_open_read(out, &f, &err), 0, "%s", err.message);
    int rank;
    size_t got_dims[H5IO_MAX_RANK];
    float *got;
    cr_assert_eq(h5io_read_array(f, "/features/scatter", H5IO_FLOAT32, &rank, got_dims,
                                 (void **)&got, &err), 0, "%s", err.message);
    long long J;
    cr_assert_eq(h5io_read_attr_int64(f, "/features/scatter", "J", &J, &err), 0);
    cr_assert_eq(J, 2);
    h5io_close(f);
    cr_assert_eq(rank, 5);
    size_t expected_dims[5] = {N, C, 1 + 2 * 4 + 16, 3, 3};
    for (int i = 0; i < 5; i++)
        cr_assert_eq(got_dims[i], expected_dims[i], "dim %d: %zu", i, got_dims[i]);
    size_t per;
    float *want = transform(2, 4, 2, H, W, N * C, images, 1, &per);
    for (size_t i = 0; i < N * C * per; i++)
        cr_assert_eq(got[i], want[i], "coefficient %zu: %g vs %g", i, got[i], want[i]);
    free(want);
    free(got);
    free(as_double);
    free(images);
    unlink(in);
    unlink(out);
}

static void expect_cli_error(const char *args, int code, const char *needle)
{
    char *output = NULL;
    int status = test_run_dpkit(args, &output);
    cr_expect_eq(status, code, "dpkit %s: status %d, expected %d; output: %s", args, status, code,
                 output ? output : "");
    cr_expect(output && strstr(output, needle), "dpkit %s: message should mention '%s': %s",
              args, needle, output ? output : "");
    free(output);
}

Test(scatter, cli_bad_input)
{
    const char *dir = test_temp_dir();
    char rank2[512], small[512], ints[512], out[512], args[2048];
    snprintf(rank2, sizeof rank2, "%s/rank2.h5", dir);
    snprintf(small, sizeof small, "%s/small.h5", dir);
    snprintf(ints, sizeof ints, "%s/ints.h5", dir);
    snprintf(out, sizeof out, "%s/out.h5", dir);
    float data[2 * 6 * 6] = {0};
    size_t d2[2] = {6, 6}, d3[3] = {2, 6, 6};
    write_h5(rank2, "/x", H5IO_FLOAT32, 2, d2, data);
    write_h5(small, "/x", H5IO_FLOAT32, 3, d3, data);
    int32_t idata[2 * 6 * 6] = {0};
    write_h5(ints, "/x", H5IO_INT32, 3, d3, idata);

    snprintf(args, sizeof args, "scatter --input %s:/x --output %s:/y", rank2, out);
    expect_cli_error(args, 1, "rank 2");
    snprintf(args, sizeof args, "scatter --J 3 --input %s:/x --output %s:/y", small, out);
    expect_cli_error(args, 1, "too small for J = 3");
    snprintf(args, sizeof args, "scatter --input %s:/missing --output %s:/y", small, out);
    expect_cli_error(args, 1, "/missing");
    snprintf(args, sizeof args, "scatter --input %s:/x --output %s:/y", ints, out);
    expect_cli_error(args, 1, "float32 or float64");
    snprintf(args, sizeof args, "scatter --input %s/none.h5:/x --output %s:/y", dir, out);
    expect_cli_error(args, 1, "none.h5");
    snprintf(args, sizeof args, "scatter --J 0 --input %s:/x --output %s:/y", small, out);
    expect_cli_error(args, 2, "--J");
    snprintf(args, sizeof args, "scatter --input %s --output %s:/y", small, out);
    expect_cli_error(args, 2, "--input");
    snprintf(args, sizeof args, "scatter --input %s:/x", small);
    expect_cli_error(args, 2, "--output");
    expect_cli_error("scatter --planning fast --input a:/x --output b:/y", 2, "--planning");
    expect_cli_error("scatter --bogus", 2, "--bogus");
    /* Nothing was written by the failed runs. */
    cr_expect_eq(access(out, F_OK), -1, "a failed run left %s behind", out);
    char *help = NULL;
    cr_expect_eq(test_run_dpkit("scatter --help", &help), 0);
    cr_expect(help && strstr(help, "--max-order") && strstr(help, "example"), "%s", help);
    free(help);
    unlink(rank2);
    unlink(small);
    unlink(ints);
}

/* ---- an independent, slow double-precision transcription of docs/maths.md 1.2-1.8 (naive DFTs),
 * for shapes and parameters beyond the reference file (J >= 3 with order 2, J = 2^J-sized
 * images, odd sizes). It shares only the filter bank, which is checked against Kymatio above. */

static void naive_dft2(double complex *x, size_t m, size_t n, int sign, double complex *tmp)
{
    for (size_t r = 0; r < m; r++) /* rows */
        for (size_t l = 0; l < n; l++) {
            double complex s = 0;
            for (size_t q = 0; q < n; q++)
                s += x[r * n + q] * cexp(sign * 2 * M_PI * I * (double)((l * q) % n) / (double)n);
            tmp[r * n + l] = s;
        }
    for (size_t c = 0; c < n; c++) /* columns */
        for (size_t k = 0; k < m; k++) {
            double complex s = 0;
            for (size_t p = 0; p < m; p++)
                s += tmp[p * n + c] * cexp(sign * 2 * M_PI * I * (double)((k * p) % m) / (double)m);
            x[k * n + c] = s;
        }
}

/* y (a/k x b/k) = Sub_k(spectrum .* filter), docs/maths.md 1.6. */
static void naive_sub(const double complex *s, const float *filter, size_t a, size_t b, size_t k,
                      double complex *y)
{
    for (size_t u = 0; u < a / k; u++)
        for (size_t v = 0; v < b / k; v++) {
            double complex t = 0;
            for (size_t i = 0; i < k; i++)
                for (size_t l = 0; l < k; l++) {
                    size_t at = (u + i * a / k) * b + v + l * b / k;
                    t += s[at] * filter[at];
                }
            y[u * (b / k) + v] = t / (double)(k * k);
        }
}

typedef struct naive {
    const scatter_filter_bank *bank;
    size_t M, N;
    int J;
    double complex *y, *tmp;
} naive;

/* |IFFT(Sub(spectrum .* filter))| at level `to`, returned as its spectrum in place of y. */
static void naive_modulus_spectrum(naive *s, const double complex *spectrum, const float *filter,
                                   int from, int to, double complex *result)
{
    size_t a = s->M >> from, b = s->N >> from, m = s->M >> to, n = s->N >> to;
    naive_sub(spectrum, filter, a, b, (size_t)1 << (to - from), result);
    naive_dft2(result, m, n, +1, s->tmp);
    for (size_t i = 0; i < m * n; i++)
        result[i] = cabs(result[i] / (double)(m * n));
    naive_dft2(result, m, n, -1, s->tmp);
}

static void naive_low_pass(naive *s, const double complex *spectrum, int r, double *out)
{
    size_t a = s->M >> r, b = s->N >> r, m = s->M >> s->J, n = s->N >> s->J;
    naive_sub(spectrum, s->bank->phi[r], a, b, (size_t)1 << (s->J - r), s->y);
    naive_dft2(s->y, m, n, +1, s->tmp);
    for (size_t p = 1; p + 1 < m; p++)
        for (size_t q = 1; q + 1 < n; q++)
            *out++ = creal(s->y[p * n + q]) / (double)(m * n);
}

static size_t naive_reflect(long long p, size_t size)
{
    long long period = 2 * ((long long)size - 1), t = p % period;
    if (t < 0)
        t += period;
    return (size_t)(t <= (long long)size - 1 ? t : period - t);
}

static void naive_transform(int J, int L, int order, size_t H, size_t W, const float *image,
                            double *out)
{
    dpkit_error err;
    naive s = {.M = scatter_padded_size(H, J), .N = scatter_padded_size(W, J), .J = J};
    scatter_filter_bank *bank;
    cr_assert_eq(scatter_filter_bank_create(J, L, s.M, s.N, &bank, &err), 0, "%s", err.message);
    s.bank = bank;
    size_t full = s.M * s.N, plane = (H >> J) * (W >> J);
    double complex *x = malloc(full * sizeof *x), *v1 = malloc(full * sizeof *v1),
                   *v2 = malloc(full * sizeof *v2);
    s.y = malloc(full * sizeof *s.y);
    s.tmp = malloc(full * sizeof *s.tmp);
    long long top = (long long)(s.M - H) / 2, left = (long long)(s.N - W) / 2;
    for (size_t p = 0; p < s.M; p++)
        for (size_t q = 0; q < s.N; q++)
            x[p * s.N + q] = image[naive_reflect((long long)p - top, H) * W +
                                   naive_reflect((long long)q - left, W)];
    naive_dft2(x, s.M, s.N, -1, s.tmp);
    naive_low_pass(&s, x, 0, out);
    double *second = out + (1 + (size_t)(J * L)) * plane;
    for (int j1 = 0; j1 < J; j1++)
        for (int t1 = 0; t1 < L; t1++) {
            naive_modulus_spectrum(&s, x, bank->psi[j1 * L + t1][0], 0, j1, v1);
            naive_low_pass(&s, v1, j1, out + (size_t)(1 + j1 * L + t1) * plane);
            for (int j2 = j1 + 1; order == 2 && j2 < J; j2++)
                for (int t2 = 0; t2 < L; t2++) {
                    naive_modulus_spectrum(&s, v1, bank->psi[j2 * L + t2][j1], j1, j2, v2);
                    naive_low_pass(&s, v2, j2, second);
                    second += plane;
                }
        }
    free(x);
    free(v1);
    free(v2);
    free(s.y);
    free(s.tmp);
    scatter_filter_bank_free(bank);
}

Test(scatter, matches_naive_transcription_on_other_shapes)
{
    const struct {
        int J, L, order;
        size_t H, W;
    } cases[] = {{3, 3, 2, 17, 23}, {4, 2, 2, 16, 16}, {3, 4, 2, 8, 8},
                 {2, 5, 1, 9, 40},  {1, 1, 2, 5, 2},   {3, 2, 2, 30, 12}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t H = cases[c].H, W = cases[c].W;
        float *image = random_images(H * W, 20 + (unsigned)c);
        size_t per;
        float *got = transform(cases[c].J, cases[c].L, cases[c].order, H, W, 1, image, 1, &per);
        double *want = malloc(per * sizeof *want);
        naive_transform(cases[c].J, cases[c].L, cases[c].order, H, W, image, want);
        double scale = max_abs(want, per), worst = 0;
        for (size_t i = 0; i < per; i++)
            worst = fmax(worst, fabs(got[i] - want[i]));
        cr_expect_leq(worst, 2e-5 * scale, "J=%d L=%d order %d %zux%zu: max diff %g (scale %g)",
                      cases[c].J, cases[c].L, cases[c].order, H, W, worst, scale);
        free(got);
        free(want);
        free(image);
    }
}
