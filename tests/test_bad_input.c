/* Bad inputs found by a bad-input campaign: each is refused with a message naming the file and
 * what was expected, leaves its inputs as they were and no partial output behind. Also the
 * clipping margin (clipped per-example norms <= C exactly) and durable atomic replacement. */
#include "common/durable.h"
#include "common/h5io.h"
#include "common/log.h"
#include "datasets/datasets.h"
#include "dp/dp.h"
#include "features/features.h"
#include "test_util.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <hdf5.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

static void quiet_logs(void)
{
    log_set_level(DPKIT_LOG_ERROR);
}

TestSuite(bad_input, .init = quiet_logs);

/* A scratch directory that stays valid for the whole test. */
static const char *fresh_dir(void)
{
    static char dirs[4][256];
    static int slot = 0;
    slot = (slot + 1) % 4;
    snprintf(dirs[slot], sizeof dirs[slot], "%s", test_temp_dir());
    return dirs[slot];
}

/* Fails the test if dir holds anything but the names listed (NULL-terminated). */
static void expect_only(const char *dir, const char *const *names)
{
    DIR *d = opendir(dir);
    cr_assert_not_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int known = 0;
        for (const char *const *n = names; *n; n++)
            known |= strcmp(e->d_name, *n) == 0;
        cr_assert(known, "%s: unexpected file %s (partial output?)", dir, e->d_name);
    }
    closedir(d);
}

static void expect_in(const char *text, const char *needle)
{
    cr_assert(text && strstr(text, needle), "expected '%s' in: %s", needle, text ? text : "");
}

/* ---- dpkit scatter ------------------------------------------------------------------------ */

/* in.h5:/x of 3 images of 8 x 8, float32, pixel (i, j) = i + j / 64; value[bad] replaced by
 * `bad_value` when bad >= 0. */
static void write_images(const char *path, long bad, float bad_value)
{
    float x[3 * 64];
    for (size_t j = 0; j < 3 * 64; j++)
        x[j] = (float)(j / 64) + (float)(j % 64) / 64.0f;
    if (bad >= 0)
        x[bad] = bad_value;
    size_t dims[3] = {3, 8, 8};
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(path, &f, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_write_array(f, "/x", H5IO_FLOAT32, 3, dims, x, &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0, "%s", err.message);
}

static int run_scatter(const char *input, const char *output, char **out)
{
    char args[2048];
    snprintf(args, sizeof args, "scatter --J 1 --L 2 --planning estimate --input %s --output %s",
             input, output);
    return test_run_dpkit(args, out);
}

Test(bad_input, scatter_refuses_to_replace_its_input)
{
    const char *dir = fresh_dir();
    char in[512], args_in[600], link[512], out_via[600];
    snprintf(in, sizeof in, "%s/in.h5", dir);
    snprintf(link, sizeof link, "%s/link.h5", dir);
    write_images(in, -1, 0);
    cr_assert_eq(symlink("in.h5", link), 0);
    size_t size_before, size_after;
    char *before = test_read_file(in, &size_before);
    snprintf(args_in, sizeof args_in, "%s:/x", in);
    /* the same name, a ./ detour and a symlink all name the same inode */
    const char *names[3] = {"in.h5", "./in.h5", "link.h5"};
    for (int k = 0; k < 3; k++) {
        snprintf(out_via, sizeof out_via, "%s/%s:/y", dir, names[k]);
        char *output = NULL;
        int rc = run_scatter(args_in, out_via, &output);
        cr_assert_neq(rc, 0, "%s accepted", out_via);
        expect_in(output, "--output");
        expect_in(output, "is the input file");
        expect_in(output, "expected a different file");
        free(output);
    }
    /* nor may the FFTW wisdom file, which is replaced as well */
    char wisdom_args[2048];
    snprintf(wisdom_args, sizeof wisdom_args, "scatter --J 1 --L 2 --planning estimate --input "
             "%s --output %s/out.h5:/y --wisdom %s/link.h5", args_in, dir, dir);
    char *output = NULL;
    cr_assert_neq(test_run_dpkit(wisdom_args, &output), 0, "--wisdom on the input accepted");
    expect_in(output, "is the input file (same device and inode)");
    free(output);
    char *after = test_read_file(in, &size_after);
    cr_assert_eq(size_after, size_before);
    cr_assert_eq(memcmp(before, after, size_before), 0, "the input changed");
    expect_only(dir, (const char *const[]){"in.h5", "link.h5", NULL});
    free(before);
    free(after);
}

Test(bad_input, scatter_refuses_non_finite_pixels)
{
    const float bad[2] = {NAN, INFINITY};
    for (int k = 0; k < 2; k++) {
        const char *dir = fresh_dir();
        char in[512], input[600], output[600];
        snprintf(in, sizeof in, "%s/in.h5", dir);
        write_images(in, 64 + 5, bad[k]); /* image 1, element 5 */
        snprintf(input, sizeof input, "%s:/x", in);
        snprintf(output, sizeof output, "%s/out.h5:/s", dir);
        char *text = NULL;
        cr_assert_neq(run_scatter(input, output, &text), 0);
        expect_in(text, in);
        expect_in(text, "dataset /x");
        expect_in(text, "image 1, element 5 (flat index 69) is not finite");
        free(text);
        expect_only(dir, (const char *const[]){"in.h5", NULL});
    }
}

Test(bad_input, scatter_refuses_an_empty_input)
{
    const char *dir = fresh_dir();
    char in[512], input[600], output[600];
    snprintf(in, sizeof in, "%s/in.h5", dir);
    size_t dims[3] = {0, 8, 8};
    float none = 0;
    h5io_file *f;
    dpkit_error err;
    cr_assert_eq(h5io_create(in, &f, &err), 0);
    cr_assert_eq(h5io_write_array(f, "/x", H5IO_FLOAT32, 3, dims, &none, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    snprintf(input, sizeof input, "%s:/x", in);
    snprintf(output, sizeof output, "%s/out.h5:/s", dir);
    char *text = NULL;
    cr_assert_neq(run_scatter(input, output, &text), 0);
    expect_in(text, in);
    expect_in(text, "dataset /x is empty");
    free(text);
    expect_only(dir, (const char *const[]){"in.h5", NULL});
}

/* An HDF5 dataset whose shape is declared but whose data was never written: `chunked` with
 * chunks of one image, else contiguous. Reading it would give fill values, however many. */
static void write_declared_only(const char *path, hsize_t count, int chunked)
{
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(file, 0);
    hsize_t dims[3] = {count, 8, 8}, chunk[3] = {1, 8, 8};
    hid_t space = H5Screate_simple(3, dims, NULL), plist = H5Pcreate(H5P_DATASET_CREATE);
    if (chunked)
        H5Pset_chunk(plist, 3, chunk);
    hid_t dset = H5Dcreate2(file, "/x", H5T_IEEE_F32LE, space, H5P_DEFAULT, plist, H5P_DEFAULT);
    cr_assert_geq(dset, 0);
    H5Dclose(dset);
    H5Pclose(plist);
    H5Sclose(space);
    H5Fclose(file);
}

Test(bad_input, scatter_refuses_an_image_count_the_file_cannot_hold)
{
    const struct {
        hsize_t count;
        int chunked;
        const char *needle;
    } cases[2] = {{(hsize_t)1 << 40, 1, "declares 70368744177664 values in 1099511627776 chunks"},
                  {1000, 0, "declares 64000 values (256000 bytes)"}};
    for (int k = 0; k < 2; k++) {
        const char *dir = fresh_dir();
        char in[512], input[600], output[600];
        snprintf(in, sizeof in, "%s/in.h5", dir);
        write_declared_only(in, cases[k].count, cases[k].chunked);
        snprintf(input, sizeof input, "%s:/x", in);
        snprintf(output, sizeof output, "%s/out.h5:/s", dir);
        char *text = NULL;
        cr_assert_neq(run_scatter(input, output, &text), 0);
        expect_in(text, in);
        expect_in(text, "dataset /x");
        expect_in(text, cases[k].needle);
        free(text);
        expect_only(dir, (const char *const[]){"in.h5", NULL});
        /* whole-array reads are guarded too (the 2^40 case already by its element count) */
        h5io_file *f;
        dpkit_error err;
        void *data = NULL;
        int rank;
        size_t dims[H5IO_MAX_RANK];
        cr_assert_eq(h5io_open_read(in, &f, &err), 0);
        cr_assert_eq(h5io_read_array(f, "/x", H5IO_FLOAT32, &rank, dims, &data, &err), -1);
        expect_in(err.message, in);
        expect_in(err.message, k == 0 ? "dataset /x is absurdly large" : cases[k].needle);
        cr_assert_null(data);
        h5io_close(f);
    }
}

/* ---- model.h5 ----------------------------------------------------------------------------- */

static void small_model(dp_model *m)
{
    dp_layer_spec specs[3] = {{.kind = DP_LAYER_LINEAR, .units = 5},
                              {.kind = DP_LAYER_TANH},
                              {.kind = DP_LAYER_LINEAR, .units = 3}};
    dpkit_error err;
    cr_assert_eq(dp_model_create((dp_shape){4, 1, 1}, 3, specs, 3, m, &err), 0, "%s",
                 err.message);
    rng r;
    rng_init_seed(&r, 1, RNG_STREAM_TEST);
    dp_model_init(m, &r, 0);
}

Test(bad_input, model_with_non_finite_parameters_is_refused)
{
    /* layer 0: 20 weights + 5 biases (0..24); layer 2: 15 weights (25..39) + 3 biases */
    const struct {
        size_t index;
        float value;
        const char *tensor;
    } cases[3] = {{7, NAN, "tensor /model/0.linear.weight, element 7"},
                  {41, INFINITY, "tensor /model/2.linear.bias, element 1"},
                  {22, -INFINITY, "tensor /model/0.linear.bias, element 2"}};
    for (int k = 0; k < 3; k++) {
        dp_model m, back;
        small_model(&m);
        m.params[cases[k].index] = cases[k].value;
        char path[512];
        snprintf(path, sizeof path, "%s/model.h5", fresh_dir());
        h5io_file *f;
        dpkit_error err;
        cr_assert_eq(h5io_create(path, &f, &err), 0);
        cr_assert_eq(dp_model_save_h5(&m, f, "/model", &err), 0, "%s", err.message);
        cr_assert_eq(h5io_commit(f, &err), 0);
        cr_assert_eq(h5io_open_read(path, &f, &err), 0);
        cr_assert_eq(dp_model_load_h5(&back, f, "/model", &err), -1, "non-finite model loaded");
        h5io_close(f);
        expect_in(err.message, path);
        expect_in(err.message, cases[k].tensor);
        expect_in(err.message, "expected finite parameters");
        char index[64];
        snprintf(index, sizeof index, "at index %zu", cases[k].index);
        expect_in(err.message, index);
        cr_assert_null(back.params);
        dp_model_free(&m);
    }
}

Test(bad_input, model_sizes_beyond_memory_are_refused_before_allocating)
{
    dp_model m;
    dpkit_error err;
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = 10};
    /* 2^60 inputs: the old unchecked product wrapped around */
    cr_assert_eq(dp_model_create((dp_shape){1u << 20, 1u << 20, 1u << 20}, 10, &linear, 1, &m,
                                 &err), -1);
    expect_in(err.message, "input shape 1048576 x 1048576 x 1048576");
    cr_assert_null(m.params);
    /* units x inputs past 2^31 parameters */
    dp_layer_spec wide = {.kind = DP_LAYER_LINEAR, .units = (size_t)1 << 32};
    cr_assert_eq(dp_model_create((dp_shape){1 << 16, 1, 1}, 10, &wide, 1, &m, &err), -1);
    expect_in(err.message, "layer 0 (linear)");
    expect_in(err.message, "need more than 2147483648 parameters");
    /* a kernel whose square overflows */
    dp_layer_spec conv[2] = {{.kind = DP_LAYER_CONV2D, .units = 2, .kernel = (size_t)1 << 32,
                              .padding = (size_t)1 << 31},
                             {.kind = DP_LAYER_FLATTEN}};
    cr_assert_eq(dp_model_create((dp_shape){1, 8, 8}, 2, conv, 2, &m, &err), -1);
    expect_in(err.message, "layer 0 (conv2d)");
    /* the same through a model file declaring a huge input shape */
    dp_model small;
    small_model(&small);
    char path[512];
    snprintf(path, sizeof path, "%s/model.h5", fresh_dir());
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_model_save_h5(&small, f, "/model", &err), 0);
    long long huge[3] = {1LL << 30, 1LL << 30, 1LL << 30};
    size_t three = 3;
    cr_assert_eq(h5io_write_array(f, "/model/input_shape", H5IO_INT64, 1, &three, huge, &err), 0);
    cr_assert_eq(h5io_commit(f, &err), 0);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_model_load_h5(&m, f, "/model", &err), -1);
    h5io_close(f);
    expect_in(err.message, path);
    expect_in(err.message, "input shape 1073741824 x 1073741824 x 1073741824, expected positive "
                           "sizes with at most 2147483648 values");
    dp_model_free(&small);
}

/* ---- checkpoints -------------------------------------------------------------------------- */

typedef struct saved_state {
    dp_model model;
    dp_train_state state;
} saved_state;

static void fresh_state(saved_state *s)
{
    small_model(&s->model);
    memset(&s->state, 0, sizeof s->state);
    rng_init_seed(&s->state.sampler, 3, RNG_STREAM_SAMPLING);
    rng_init_seed(&s->state.noise, 3, RNG_STREAM_NOISE);
    accountant_ledger_init(&s->state.ledger);
    dp_optimizer_config o;
    dp_optimizer_config_default(&o);
    dpkit_error err;
    cr_assert_eq(dp_optimizer_create(&o, s->model.param_count, &s->state.optimizer, &err), 0);
}

static void free_state(saved_state *s)
{
    dp_optimizer_free(&s->state.optimizer);
    accountant_ledger_free(&s->state.ledger);
    dp_model_free(&s->model);
}

static void set_attr(const char *path, const char *name, long long value)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(file, 0);
    /* replaced rather than rewritten: HDF5 1.10 cannot rewrite an attribute held in dense
     * storage through H5Aopen_by_name */
    cr_assert_geq(H5Adelete_by_name(file, "/state", name, H5P_DEFAULT), 0, "no attribute %s", name);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t attr = H5Acreate_by_name(file, "/state", name, H5T_NATIVE_INT64, space, H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT);
    cr_assert_geq(attr, 0);
    int64_t v = value;
    cr_assert_geq(H5Awrite(attr, H5T_NATIVE_INT64, &v), 0);
    H5Aclose(attr);
    H5Sclose(space);
    H5Fclose(file);
}

Test(bad_input, checkpoint_counters_are_checked)
{
    /* a checkpoint after 10 steps of 2 epochs of a 100-example set (batch 20: 5 steps each) */
    saved_state a;
    fresh_state(&a);
    a.state.epoch = 2;
    a.state.step = 10;
    a.state.optimizer.steps = 10;
    rng_seek(&a.state.sampler, 10 * 100 * 8);
    rng_seek(&a.state.noise, 10 * a.model.param_count * RNG_GAUSSIAN_SECURE_BYTES);
    char path[512];
    snprintf(path, sizeof path, "%s/checkpoint.h5", fresh_dir());
    dpkit_error err;
    h5io_file *f;
    cr_assert_eq(h5io_create(path, &f, &err), 0);
    cr_assert_eq(dp_train_state_save(&a.model, &a.state, f, "/state", &err), 0, "%s", err.message);
    cr_assert_eq(h5io_commit(f, &err), 0);
    dp_train_config config = {.private_mode = 1, .clip_norm = 1, .noise_multiplier = 1,
                              .batch_size = 20, .physical_batch = 20, .epochs = 3};

    const long long noise_limit = 10LL * 43 * RNG_GAUSSIAN_SECURE_BYTES;
    const struct {
        const char *attribute;
        long long value;
        const char *needle;
    } load_cases[] = {
        {"epoch", 1LL << 40, "attribute epoch is 1099511627776: expected 0..2147483647"},
        {"epoch", -1, "attribute epoch is -1: expected 0..2147483647"},
        {"step", -5, "attribute step is -5: expected 0..2^53"},
        {"optimizer_steps", 11, "attribute optimizer_steps is 11: expected 0..10"},
        {"sampler_position", -8, "attribute sampler_position is -8: expected >= 0"},
        {"noise_position", noise_limit + 1, "attribute noise_position is 13761: expected 0..13760"},
        {"budget_exhausted", 7, "attribute budget_exhausted is 7: expected 0 or 1"},
    };
    for (size_t k = 0; k < sizeof load_cases / sizeof *load_cases; k++) {
        char copy[600];
        snprintf(copy, sizeof copy, "%s.%zu.h5", path, k);
        size_t size;
        char *bytes = test_read_file(path, &size);
        cr_assert_eq(test_write_file(copy, bytes, size), 0);
        free(bytes);
        set_attr(copy, load_cases[k].attribute, load_cases[k].value);
        saved_state b;
        fresh_state(&b);
        cr_assert_eq(h5io_open_read(copy, &f, &err), 0);
        cr_assert_eq(dp_train_state_load(&b.model, &b.state, f, "/state", &err), -1,
                     "%s = %lld accepted", load_cases[k].attribute, load_cases[k].value);
        h5io_close(f);
        expect_in(err.message, copy);
        expect_in(err.message, load_cases[k].needle);
        free_state(&b);
    }

    /* what the configuration bounds: epochs, steps per epoch, sampler draws per step */
    const struct {
        const char *attribute;
        long long value;
        const char *needle;
    } config_cases[] = {
        {"epoch", 4, "attribute epoch is 4: expected 0..3 (training.epochs)"},
        {"step", 11, "attribute step is 11: expected 0..10 (2 epochs of 5 steps)"},
        {"sampler_position", 8001, "attribute sampler_position is 8001: expected 0..8000"},
    };
    for (size_t k = 0; k < sizeof config_cases / sizeof *config_cases; k++) {
        char copy[600];
        snprintf(copy, sizeof copy, "%s.c%zu.h5", path, k);
        size_t size;
        char *bytes = test_read_file(path, &size);
        cr_assert_eq(test_write_file(copy, bytes, size), 0);
        free(bytes);
        set_attr(copy, config_cases[k].attribute, config_cases[k].value);
        if (strcmp(config_cases[k].attribute, "step") == 0) /* keep the noise bound satisfied */
            set_attr(copy, "noise_position", 0);
        saved_state b;
        fresh_state(&b);
        cr_assert_eq(h5io_open_read(copy, &f, &err), 0);
        cr_assert_eq(dp_train_state_load(&b.model, &b.state, f, "/state", &err), 0, "%s",
                     err.message);
        h5io_close(f);
        cr_assert_eq(dp_train_state_check(&b.state, &config, 100, copy, "/state", &err), -1,
                     "%s = %lld accepted", config_cases[k].attribute, config_cases[k].value);
        expect_in(err.message, copy);
        expect_in(err.message, config_cases[k].needle);
        free_state(&b);
    }
    /* the untouched checkpoint passes both */
    saved_state b;
    fresh_state(&b);
    cr_assert_eq(h5io_open_read(path, &f, &err), 0);
    cr_assert_eq(dp_train_state_load(&b.model, &b.state, f, "/state", &err), 0, "%s", err.message);
    h5io_close(f);
    cr_assert_eq(dp_train_state_check(&b.state, &config, 100, path, "/state", &err), 0, "%s",
                 err.message);
    cr_assert_eq(b.state.epoch, 2);
    free_state(&b);
    free_state(&a);
}

/* ---- IDX files ---------------------------------------------------------------------------- */

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* An IDX header of count x rows x cols followed by `present` bytes of pseudo-random pixels. */
static uint8_t *idx_claiming(uint32_t count, uint32_t rows, uint32_t cols, size_t present,
                             size_t *size)
{
    *size = 16 + present;
    uint8_t *b = malloc(*size);
    b[0] = b[1] = 0, b[2] = 8, b[3] = 3;
    put_u32(b + 4, count), put_u32(b + 8, rows), put_u32(b + 12, cols);
    uint32_t s = 12345;
    for (size_t j = 0; j < present; j++) {
        s = s * 1103515245u + 12345u;
        b[16 + j] = (uint8_t)(s >> 24);
    }
    return b;
}

static void idx_labels_file(const char *path, uint32_t count)
{
    size_t size = 8 + count;
    uint8_t *b = calloc(size, 1);
    b[2] = 8, b[3] = 1;
    put_u32(b + 4, count);
    cr_assert_eq(test_write_file(path, b, size), 0);
    free(b);
}

static void write_gz(const char *path, const void *data, size_t size)
{
    gzFile f = gzopen(path, "wb");
    cr_assert(f);
    cr_assert_eq(gzwrite(f, data, (unsigned)size), (int)size);
    gzclose(f);
}

Test(bad_input, idx_sizes_are_checked_against_the_file_before_allocating)
{
    const char *dir = fresh_dir();
    char images[512], labels[512];
    snprintf(images, sizeof images, "%s/images.idx", dir);
    snprintf(labels, sizeof labels, "%s/labels.idx", dir);
    dataset_split s;
    dpkit_error err;
    /* raw: 100000 x 4096 x 40 declared (16 GB), 2 KB present */
    idx_labels_file(labels, 100000);
    size_t size;
    uint8_t *b = idx_claiming(100000, 4096, 40, 2048, &size);
    cr_assert_eq(test_write_file(images, b, size), 0);
    free(b);
    cr_assert_eq(datasets_load_idx(images, labels, 10, &s, &err), -1);
    expect_in(err.message, images);
    expect_in(err.message, "truncated file: the pixels needs 16384000000 bytes, only 2048 present");
    cr_assert_null(s.images);
    /* gzip: the same header in a file of about 2 KB cannot decompress to that much */
    b = idx_claiming(100000, 4096, 40, 2048, &size);
    write_gz(images, b, size);
    free(b);
    cr_assert_eq(datasets_load_idx(images, labels, 10, &s, &err), -1);
    expect_in(err.message, images);
    expect_in(err.message, "truncated file: the pixels needs 16384000000 bytes, a gzip file of");
    /* gzip that could hold the declared size at deflate's best ratio but stops early: read in
     * pieces, the shortfall is found without a buffer of the declared size */
    idx_labels_file(labels, 4000);
    b = idx_claiming(4000, 28, 28, 100 * 784, &size);
    write_gz(images, b, size);
    free(b);
    cr_assert_eq(datasets_load_idx(images, labels, 10, &s, &err), -1);
    expect_in(err.message, images);
    expect_in(err.message, "truncated file: the pixels needs 3136000 bytes, only 78400 present");
    cr_assert_null(s.images);
}

/* ---- feature cache ------------------------------------------------------------------------ */

/* Rewrites one float of /features (or one label) of a cache file and recomputes its content
 * checksum the way features/cache.c does (BLAKE2b-256 of the values, then the labels). */
static void tamper_cache(const char *path, long feature_index, float value, long label_index,
                         int32_t label)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(file, 0);
    hid_t fset = H5Dopen2(file, "/features", H5P_DEFAULT), lset = H5Dopen2(file, "/labels",
                                                                           H5P_DEFAULT);
    hid_t fspace = H5Dget_space(fset), lspace = H5Dget_space(lset);
    size_t nf = (size_t)H5Sget_simple_extent_npoints(fspace);
    size_t nl = (size_t)H5Sget_simple_extent_npoints(lspace);
    H5Sclose(fspace);
    H5Sclose(lspace);
    float *values = malloc(nf * sizeof *values);
    int32_t *labels = malloc(nl * sizeof *labels);
    cr_assert_geq(H5Dread(fset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    cr_assert_geq(H5Dread(lset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels), 0);
    if (feature_index >= 0)
        values[feature_index] = value;
    if (label_index >= 0)
        labels[label_index] = label;
    cr_assert_geq(H5Dwrite(fset, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, values), 0);
    cr_assert_geq(H5Dwrite(lset, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels), 0);
    crypto_generichash_state hash;
    unsigned char digest[32];
    char hex[65];
    crypto_generichash_init(&hash, NULL, 0, sizeof digest);
    crypto_generichash_update(&hash, (const unsigned char *)values, nf * sizeof *values);
    crypto_generichash_update(&hash, (const unsigned char *)labels, nl * sizeof *labels);
    crypto_generichash_final(&hash, digest, sizeof digest);
    for (int i = 0; i < 32; i++)
        sprintf(hex + 2 * i, "%02x", digest[i]);
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t attr = H5Aopen(fset, "content_checksum", H5P_DEFAULT);
    const char *text = hex;
    cr_assert_geq(H5Awrite(attr, type, &text), 0);
    H5Aclose(attr);
    H5Tclose(type);
    H5Dclose(fset);
    H5Dclose(lset);
    H5Fclose(file);
    free(values);
    free(labels);
}

Test(bad_input, feature_cache_with_non_finite_features_or_bad_labels_is_refused)
{
    setenv("DPKIT_CACHE", fresh_dir(), 1);
    dataset data;
    dpkit_error err;
    cr_assert_eq(datasets_make_synthetic(12, 4, 3, 1, 16, 16, 1, &data, &err), 0);
    features_extractor_config config;
    features_extractor_config_default(&config);
    features_set set;
    features_cache_info info;
    cr_assert_eq(features_cached(&config, &data, "train", 0, &set, &info, &err), 0, "%s",
                 err.message);
    size_t dim = features_set_dimension(&set);
    features_set_free(&set);
    size_t size;
    char *pristine = test_read_file(info.path, &size);
    const struct {
        long feature;
        float value;
        long label;
        int32_t label_value;
        const char *needle;
    } cases[3] = {
        {(long)(3 * dim + 17), NAN, -1, 0, "/features value nan at index"},
        {(long)(5 * dim), -INFINITY, -1, 0, "/features value -inf at index"},
        {-1, 0, 7, 99, "/labels value 99 at index 7: expected a class in 0..2"},
    };
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(test_write_file(info.path, pristine, size), 0);
        tamper_cache(info.path, cases[k].feature, cases[k].value, cases[k].label,
                     cases[k].label_value);
        size_t tampered_size;
        char *tampered = test_read_file(info.path, &tampered_size);
        cr_assert_eq(features_cached(&config, &data, "train", 0, &set, &info, &err), -1,
                     "tampered cache %d accepted", k);
        expect_in(err.message, info.path);
        expect_in(err.message, cases[k].needle);
        if (cases[k].feature >= 0) {
            char where[96];
            snprintf(where, sizeof where, "index %ld (example %ld, feature %ld)",
                     cases[k].feature, cases[k].feature / (long)dim, cases[k].feature % (long)dim);
            expect_in(err.message, where);
        }
        cr_assert_null(set.values);
        /* the file is left as found (a refusal, not a silent rebuild) */
        size_t after_size;
        char *after = test_read_file(info.path, &after_size);
        cr_assert_eq(after_size, tampered_size);
        cr_assert_eq(memcmp(after, tampered, after_size), 0);
        free(after);
        free(tampered);
    }
    free(pristine);
    dataset_free(&data);
}

/* ---- clipping margin ---------------------------------------------------------------------- */

static double norm_of(const float *g, size_t n)
{
    double s = 0;
    for (size_t j = 0; j < n; j++)
        s += (double)g[j] * g[j];
    return sqrt(s);
}

/* Clips n random examples one at a time (a batch of one is exactly that example's clipped
 * gradient) and returns the largest clipped norm / C, recomputed in double from the float32
 * gradient; *naive_over counts the examples where the plain float32 factor (float)(C / norm)
 * times the norm lands above C, i.e. inputs that the old rule clipped to more than C. */
static double worst_clipped_ratio(dp_model *model, int rows_path, double C, size_t n,
                                  uint64_t seed, size_t *naive_over)
{
    size_t D = dp_shape_size(model->input), P = model->param_count, K = model->class_count;
    dp_workspace ws;
    dpkit_error err;
    cr_assert_eq(dp_workspace_create(model, 1, &ws, &err), 0);
    rng r;
    rng_init_seed(&r, seed, RNG_STREAM_TEST);
    float *x = malloc(D * sizeof *x), *g = malloc(P * sizeof *g);
    double worst = 0;
    *naive_over = 0;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < D; j++)
            x[j] = (float)(4 * rng_gaussian(&r));
        int32_t y = (int32_t)rng_below(&r, K);
        double norm;
        dp_batch_stats stats = {0};
        memset(g, 0, P * sizeof *g);
        cr_assert_eq(dp_model_clipped_gradient(model, &ws, x, &y, 1, 0.0, g, &norm, &stats, &err),
                     0);
        float naive = (float)(C / norm);
        *naive_over += norm > C && (double)naive * norm > C;
        memset(g, 0, P * sizeof *g);
        if (rows_path) {
            size_t index = 0;
            dp_data data = {.x = x, .y = &y, .count = 1};
            cr_assert_eq(dp_linear_rows_clipped_gradient(model, &ws, &data, &index, 1, C, g,
                                                         &stats, &err), 0, "%s", err.message);
        } else {
            cr_assert_eq(dp_model_clipped_gradient(model, &ws, x, &y, 1, C, g, NULL, &stats,
                                                   &err), 0);
        }
        double clipped = norm_of(g, P);
        if (clipped / C > worst)
            worst = clipped / C;
    }
    free(x);
    free(g);
    dp_workspace_free(&ws);
    return worst;
}

Test(bad_input, clipped_per_example_norms_never_exceed_C)
{
    dpkit_error err;
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = 10};
    dp_layer_spec mlp[3] = {{.kind = DP_LAYER_LINEAR, .units = 16},
                            {.kind = DP_LAYER_TANH},
                            {.kind = DP_LAYER_LINEAR, .units = 10}};
    dp_layer_spec cnn[4] = {{.kind = DP_LAYER_CONV2D, .units = 4, .kernel = 3, .padding = 1},
                            {.kind = DP_LAYER_RELU},
                            {.kind = DP_LAYER_FLATTEN},
                            {.kind = DP_LAYER_LINEAR, .units = 10}};
    struct {
        const char *name;
        dp_shape input;
        const dp_layer_spec *specs;
        size_t count;
        int rows_path;
    } models[4] = {{"linear", {20, 1, 1}, &linear, 1, 0},
                   {"linear (rows)", {20, 1, 1}, &linear, 1, 1},
                   {"mlp", {20, 1, 1}, mlp, 3, 0},
                   {"cnn", {2, 6, 6}, cnn, 4, 0}};
    const double clips[3] = {1.0, 0.1, 0.7};
    for (int k = 0; k < 4; k++) {
        dp_model model;
        cr_assert_eq(dp_model_create(models[k].input, 10, models[k].specs, models[k].count,
                                     &model, &err), 0, "%s", err.message);
        rng r;
        rng_init_seed(&r, 7, RNG_STREAM_TEST);
        dp_model_init(&model, &r, 0);
        size_t over_total = 0;
        for (int c = 0; c < 3; c++) {
            size_t over;
            double worst = worst_clipped_ratio(&model, models[k].rows_path, clips[c], 400,
                                               (uint64_t)(10 * k + c), &over);
            over_total += over;
            cr_assert_leq(worst, 1.0, "%s, C = %g: a clipped norm is %.17g C", models[k].name,
                          clips[c], worst);
            cr_assert_gt(worst, 1.0 - 1e-6, "%s, C = %g: clipped norms should reach C",
                         models[k].name, clips[c]);
        }
        /* the inputs include ones the plain float32 factor clipped to above C */
        cr_assert_gt(over_total, 0, "%s: no input where the plain factor overshoots",
                     models[k].name);
        dp_model_free(&model);
    }
}

/* ---- durable replacement ------------------------------------------------------------------ */

Test(bad_input, durable_replace_installs_or_leaves_the_target_alone)
{
    const char *dir = fresh_dir();
    char target[512], temp[600];
    snprintf(target, sizeof target, "%s/target.txt", dir);
    snprintf(temp, sizeof temp, "%s.tmp", target);
    cr_assert_eq(test_write_file(target, "old", 3), 0);
    dpkit_error err;
    /* a missing temporary file: an error naming it, the target untouched */
    cr_assert_eq(durable_replace(temp, target, &err), -1);
    expect_in(err.message, temp);
    size_t size;
    char *text = test_read_file(target, &size);
    cr_assert_eq(size, 3);
    cr_assert_eq(memcmp(text, "old", 3), 0);
    free(text);
    cr_assert_eq(test_write_file(temp, "new!", 4), 0);
    cr_assert_eq(durable_replace(temp, target, &err), 0, "%s", err.message);
    text = test_read_file(target, &size);
    cr_assert_eq(size, 4);
    cr_assert_eq(memcmp(text, "new!", 4), 0);
    free(text);
    expect_only(dir, (const char *const[]){"target.txt", NULL});
    cr_assert_eq(durable_sync_parent("relative-name", &err), 0, "%s", err.message);
}

/* ---- dpkit eval --------------------------------------------------------------------------- */

/* Sets element `index` of the float dataset `name` of an HDF5 file (read, change, write). */
static void set_element(const char *path, const char *name, size_t index, double value)
{
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    cr_assert_geq(file, 0);
    hid_t dset = H5Dopen2(file, name, H5P_DEFAULT);
    cr_assert_geq(dset, 0, "no dataset %s", name);
    hid_t space = H5Dget_space(dset);
    size_t n = (size_t)H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    cr_assert_lt(index, n);
    double *v = malloc(n * sizeof *v);
    cr_assert_geq(H5Dread(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    v[index] = value;
    cr_assert_geq(H5Dwrite(dset, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v), 0);
    free(v);
    H5Dclose(dset);
    H5Fclose(file);
}

Test(bad_input, eval_refuses_non_finite_parameters_and_statistics, .timeout = 120)
{
    const char *dir = fresh_dir();
    char path[512], cache[512], args[2048], model[600], bad[600];
    snprintf(path, sizeof path, "%s/tiny.yaml", dir);
    snprintf(cache, sizeof cache, "%s/cache", dir);
    setenv("DPKIT_CACHE", cache, 1);
    cr_assert_eq(test_write_file(path, test_tiny_config, strlen(test_tiny_config)), 0);
    snprintf(args, sizeof args, "-q train %s --output %s/run --set training.epochs=1", path, dir);
    char *text = NULL;
    cr_assert_eq(test_run_dpkit(args, &text), 0, "%s", text);
    free(text);
    snprintf(model, sizeof model, "%s/run/model.h5", dir);
    const struct {
        const char *dataset;
        size_t index;
        double value;
        const char *needle;
    } cases[3] = {
        {"/model/params", 3, NAN, "/model/params value nan at index 3 (tensor "
                                  "/model/0.linear.weight, element 3) is not finite"},
        {"/normalizer/mean", 2, INFINITY, "/normalizer/mean value inf at index 2: expected a "
                                          "finite number"},
        {"/normalizer/variance", 0, -1.0, "/normalizer/variance value -1 at index 0: expected a "
                                          "finite non-negative number"},
    };
    size_t size;
    char *pristine = test_read_file(model, &size);
    for (int k = 0; k < 3; k++) {
        snprintf(bad, sizeof bad, "%s/bad%d.h5", dir, k);
        cr_assert_eq(test_write_file(bad, pristine, size), 0);
        set_element(bad, cases[k].dataset, cases[k].index, cases[k].value);
        snprintf(args, sizeof args, "eval %s", bad);
        cr_assert_neq(test_run_dpkit(args, &text), 0, "%s accepted: %s", cases[k].dataset, text);
        expect_in(text, bad);
        expect_in(text, cases[k].needle);
        cr_assert_null(strstr(text, "accuracy"), "evaluated anyway: %s", text);
        free(text);
    }
    free(pristine);
}
