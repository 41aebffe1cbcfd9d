/* Saving and loading models and training state in HDF5 (layout in docs/formats.md): the model
 * as its layer table plus one dataset per parameter tensor; checkpoints add the optimizer
 * state, the privacy ledger, the key and positions of the sampling and noise streams, and
 * counters. The key makes a checkpoint secret: it regenerates the batches and the noise. */
#include "dp/dp.h"

#include "common/memory.h"

#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* kind, units, kernel, stride, padding, groups, vocab; files written before embeddings have
 * the first 6 columns only, and are still read. */
enum { LAYER_FIELDS = 7, LAYER_FIELDS_V1 = 6 };

static int write_tensor(h5io_file *file, const char *group, size_t l, const char *kind,
                        const char *what, const float *data, int rank, const size_t *dims,
                        dpkit_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%zu.%s.%s", group, l, kind, what);
    return h5io_write_array(file, path, H5IO_FLOAT32, rank, dims, data, err);
}

int dp_model_save_h5(const dp_model *model, h5io_file *file, const char *group, dpkit_error *err)
{
    if (h5io_ensure_group(file, group, err))
        return -1;
    size_t L = model->layer_count;
    long long *table = malloc(L * LAYER_FIELDS * sizeof *table);
    if (!table)
        return error_set(err, "%s: out of memory", file->path);
    for (size_t l = 0; l < L; l++) {
        const dp_layer *y = &model->layers[l];
        long long row[LAYER_FIELDS] = {y->kind, (long long)y->units, (long long)y->kernel,
                                       (long long)y->stride, (long long)y->padding,
                                       (long long)y->groups, (long long)y->vocab};
        memcpy(table + l * LAYER_FIELDS, row, sizeof row);
    }
    char path[512];
    size_t dims[2] = {L, LAYER_FIELDS};
    long long input[3] = {(long long)model->input.channels, (long long)model->input.height,
                          (long long)model->input.width};
    size_t three = 3, count = model->param_count;
    snprintf(path, sizeof path, "%s/layers", group);
    int status = h5io_write_array(file, path, H5IO_INT64, 2, dims, table, err);
    free(table);
    snprintf(path, sizeof path, "%s/input_shape", group);
    if (status || h5io_write_array(file, path, H5IO_INT64, 1, &three, input, err))
        return -1;
    snprintf(path, sizeof path, "%s/params", group);
    if (h5io_write_array(file, path, H5IO_FLOAT32, 1, &count, model->params, err) ||
        h5io_write_attr_int64(file, group, "class_count", (long long)model->class_count, err) ||
        h5io_write_attr_string(file, group, "layer_columns",
                               "kind (0 linear, 1 conv2d, 2 tanh, 3 relu, 4 maxpool, 5 avgpool, "
                               "6 group-norm, 7 flatten, 8 embedding), units, kernel, stride, padding, "
                               "groups, vocab", err))
        return -1;
    char description[4096];
    dp_model_describe(model, description, sizeof description);
    if (h5io_write_attr_string(file, group, "description", description, err))
        return -1;
    /* Each parameter tensor again under its own name and shape, for h5py users. */
    for (size_t l = 0; l < L; l++) {
        const dp_layer *y = &model->layers[l];
        if (!y->param_count)
            continue;
        const float *p = model->params + y->param_offset;
        const char *kind = dp_layer_kind_name(y->kind);
        if (y->kind == DP_LAYER_EMBEDDING) { /* (vocab, units), no bias */
            size_t edims[2] = {y->vocab, y->units};
            if (write_tensor(file, group, l, kind, "weight", p, 2, edims, err))
                return -1;
            continue;
        }
        size_t weights = y->param_count - y->units;
        size_t wdims[4] = {y->units, weights / y->units, y->kernel, y->kernel};
        int rank = 2;
        if (y->kind == DP_LAYER_CONV2D) {
            wdims[1] = y->input.channels;
            rank = 4;
        }
        if (write_tensor(file, group, l, kind, "weight", p, rank, wdims, err) ||
            write_tensor(file, group, l, kind, "bias", p + weights, 1, &y->units, err))
            return -1;
    }
    return 0;
}

int dp_model_load_h5(dp_model *model, h5io_file *file, const char *group, dpkit_error *err)
{
    memset(model, 0, sizeof *model);
    char path[512];
    int rank;
    size_t dims[H5IO_MAX_RANK], input_dims[H5IO_MAX_RANK], param_dims[H5IO_MAX_RANK];
    long long *table = NULL, *input = NULL, class_count = 0;
    float *params = NULL;
    dp_layer_spec *specs = NULL;
    int status = -1;
    snprintf(path, sizeof path, "%s/layers", group);
    /* Each shape is checked before the read, which allocates whatever the file declares. */
    if (h5io_array_shape(file, path, &rank, dims, err) ||
        (rank == 2 && dims[0] <= 1000 && dims[1] <= LAYER_FIELDS &&
         h5io_read_array(file, path, H5IO_INT64, &rank, dims, (void **)&table, err)))
        goto done;
    if (rank != 2 || (dims[1] != LAYER_FIELDS && dims[1] != LAYER_FIELDS_V1) || dims[0] < 1 ||
        dims[0] > 1000) {
        error_set(err, "%s: %s must be (layers, %d), layers 1..1000", file->path, path,
                  LAYER_FIELDS);
        goto done;
    }
    snprintf(path, sizeof path, "%s/input_shape", group);
    if (h5io_array_shape(file, path, &rank, input_dims, err) ||
        (rank == 1 && input_dims[0] == 3 &&
         h5io_read_array(file, path, H5IO_INT64, &rank, input_dims, (void **)&input, err)))
        goto done;
    if (rank != 1 || input_dims[0] != 3 || !input || input[0] < 1 || input[1] < 1 || input[2] < 1) {
        error_set(err, "%s: %s must hold 3 positive sizes (C, H, W)", file->path, path);
        goto done;
    }
    if (h5io_read_attr_int64(file, group, "class_count", &class_count, err))
        goto done;
    specs = calloc(dims[0], sizeof *specs);
    if (!specs) {
        error_set(err, "%s: out of memory", file->path);
        goto done;
    }
    for (size_t l = 0; l < dims[0]; l++) {
        long long row[LAYER_FIELDS] = {0};
        memcpy(row, table + l * dims[1], dims[1] * sizeof *row);
        for (int f = 0; f < LAYER_FIELDS; f++)
            if (row[f] < 0 || row[f] > (1LL << 32)) {
                error_set(err, "%s: %s/layers row %zu field %d: %lld out of range", file->path,
                          group, l, f, row[f]);
                goto done;
            }
        if (row[0] >= DP_LAYER_KIND_COUNT) {
            error_set(err, "%s: %s/layers row %zu: unknown layer kind %lld", file->path, group,
                      l, row[0]);
            goto done;
        }
        specs[l] = (dp_layer_spec){(dp_layer_kind)row[0], (size_t)row[1], (size_t)row[2],
                                   (size_t)row[3], (size_t)row[4], (size_t)row[5],
                                   (size_t)row[6]};
    }
    dp_shape shape = {(size_t)input[0], (size_t)input[1], (size_t)input[2]};
    if (class_count < 2 || class_count > 1000000) {
        error_set(err, "%s: %s class_count %lld, expected 2..1000000", file->path, group,
                  class_count);
        goto done;
    }
    if (dp_model_create(shape, (size_t)class_count, specs, dims[0], model, err)) {
        error_prefix(err, "%s: %s", file->path, group);
        goto done;
    }
    snprintf(path, sizeof path, "%s/params", group);
    if (h5io_array_shape(file, path, &rank, param_dims, err) ||
        (rank == 1 && param_dims[0] == model->param_count &&
         h5io_read_array(file, path, H5IO_FLOAT32, &rank, param_dims, (void **)&params, err)))
        goto done;
    if (rank != 1 || param_dims[0] != model->param_count || !params) {
        error_set(err, "%s: %s has %zu values, the layers need %zu", file->path, path,
                  rank == 1 ? param_dims[0] : 0, model->param_count);
        goto done;
    }
    for (size_t j = 0; j < model->param_count; j++) {
        if (isfinite(params[j]))
            continue;
        /* name the tensor as dp_model_save_h5 writes it a second time for h5py users */
        size_t l = 0;
        while (l + 1 < model->layer_count && j >= model->layers[l + 1].param_offset)
            l++;
        const dp_layer *y = &model->layers[l];
        size_t k = j - y->param_offset, weights = y->kind == DP_LAYER_EMBEDDING
                                                      ? y->param_count
                                                      : y->param_count - y->units;
        error_set(err, "%s: %s value %g at index %zu (tensor %s/%zu.%s.%s, element %zu) is not "
                  "finite: expected finite parameters", file->path, path, (double)params[j], j,
                  group, l, dp_layer_kind_name(y->kind), k < weights ? "weight" : "bias",
                  k < weights ? k : k - weights);
        goto done;
    }
    memcpy(model->params, params, model->param_count * sizeof *params);
    status = 0;
done:
    if (status)
        dp_model_free(model);
    MEMORY_FREE_ALL(table, input, params, specs);
    return status;
}

int dp_train_state_save(const dp_model *model, const dp_train_state *state, h5io_file *file,
                        const char *group, dpkit_error *err)
{
    char path[512];
    if (dp_model_save_h5(model, file, group, err))
        return -1;
    const dp_optimizer *opt = &state->optimizer;
    size_t n = opt->size;
    snprintf(path, sizeof path, "%s/optimizer_state1", group);
    if (opt->state1 && h5io_write_array(file, path, H5IO_FLOAT32, 1, &n, opt->state1, err))
        return -1;
    snprintf(path, sizeof path, "%s/optimizer_state2", group);
    if (opt->state2 && h5io_write_array(file, path, H5IO_FLOAT32, 1, &n, opt->state2, err))
        return -1;
    snprintf(path, sizeof path, "%s/optimizer_average", group);
    if (opt->average && h5io_write_array(file, path, H5IO_FLOAT32, 1, &n, opt->average, err))
        return -1;
    /* One key serves both streams (their ids keep them apart); a resume needs it to continue
     * the same secret streams, so it lives in the checkpoint and never in model.h5. */
    if (memcmp(state->sampler.key, state->noise.key, RNG_KEY_BYTES) != 0)
        return error_set(err, "%s: the sampling and noise streams have different keys",
                         file->path);
    size_t key_bytes = RNG_KEY_BYTES;
    snprintf(path, sizeof path, "%s/rng/key", group);
    if (h5io_write_array(file, path, H5IO_UINT8, 1, &key_bytes, state->noise.key, err))
        return -1;
    snprintf(path, sizeof path, "%s/ledger", group);
    if (accountant_ledger_save_h5(&state->ledger, file, path, err) ||
        h5io_write_attr_int64(file, group, "epoch", state->epoch, err) ||
        h5io_write_attr_int64(file, group, "step", state->step, err) ||
        h5io_write_attr_int64(file, group, "optimizer_steps", opt->steps, err) ||
        h5io_write_attr_int64(file, group, "sampler_position", (long long)rng_tell(&state->sampler), err) ||
        h5io_write_attr_int64(file, group, "noise_position", (long long)rng_tell(&state->noise), err) ||
        h5io_write_attr_double(file, group, "epsilon", state->epsilon, err) ||
        h5io_write_attr_double(file, group, "seconds", state->seconds, err) ||
        h5io_write_attr_int64(file, group, "budget_exhausted", state->budget_exhausted, err))
        return -1;
    return 0;
}

static int read_vector(h5io_file *file, const char *path, size_t size, float *out,
                       dpkit_error *err)
{
    int rank;
    size_t dims[H5IO_MAX_RANK];
    float *data = NULL;
    if (h5io_array_shape(file, path, &rank, dims, err))
        return -1;
    if (rank == 1 && dims[0] == size &&
        h5io_read_array(file, path, H5IO_FLOAT32, &rank, dims, (void **)&data, err))
        return -1;
    int ok = data && rank == 1 && dims[0] == size;
    if (ok)
        memcpy(out, data, size * sizeof *out);
    free(data);
    return ok ? 0 : error_set(err, "%s: %s must hold %zu values", file->path, path, size);
}

/* The state's optimizer must have been created (same config): loading restores the streams' key
 * and positions. */
int dp_train_state_load(dp_model *model, dp_train_state *state, h5io_file *file,
                        const char *group, dpkit_error *err)
{
    dp_model saved;
    char path[512];
    if (dp_model_load_h5(&saved, file, group, err))
        return -1;
    int same = saved.param_count == model->param_count &&
               saved.layer_count == model->layer_count;
    for (size_t l = 0; same && l < saved.layer_count; l++)
        same = saved.layers[l].kind == model->layers[l].kind &&
               saved.layers[l].param_count == model->layers[l].param_count;
    if (same)
        memcpy(model->params, saved.params, model->param_count * sizeof(float));
    dp_model_free(&saved);
    if (!same)
        return error_set(err, "%s: the checkpoint's model differs from the configured one",
                         file->path);
    dp_optimizer *opt = &state->optimizer;
    snprintf(path, sizeof path, "%s/optimizer_state1", group);
    if (opt->state1 && read_vector(file, path, opt->size, opt->state1, err))
        return -1;
    snprintf(path, sizeof path, "%s/optimizer_state2", group);
    if (opt->state2 && read_vector(file, path, opt->size, opt->state2, err))
        return -1;
    snprintf(path, sizeof path, "%s/optimizer_average", group);
    if (opt->average && read_vector(file, path, opt->size, opt->average, err))
        return -1;
    long long epoch, step, steps, sampler, noise, exhausted;
    accountant_ledger_free(&state->ledger);
    snprintf(path, sizeof path, "%s/ledger", group);
    if (accountant_ledger_load_h5(&state->ledger, file, path, err) ||
        h5io_read_attr_int64(file, group, "epoch", &epoch, err) ||
        h5io_read_attr_int64(file, group, "step", &step, err) ||
        h5io_read_attr_int64(file, group, "optimizer_steps", &steps, err) ||
        h5io_read_attr_int64(file, group, "sampler_position", &sampler, err) ||
        h5io_read_attr_int64(file, group, "noise_position", &noise, err) ||
        h5io_read_attr_double(file, group, "epsilon", &state->epsilon, err) ||
        h5io_read_attr_double(file, group, "seconds", &state->seconds, err) ||
        h5io_read_attr_int64(file, group, "budget_exhausted", &exhausted, err))
        return -1;
    /* Bounds that hold for any run (dp/train.c): each step draws the noise of the parameters,
     * RNG_GAUSSIAN_SECURE_BYTES per parameter (nothing without noise), so the noise stream
     * can be at most steps x parameters x 32 bytes in; the optimizer steps once per step. The
     * configured epochs and training set bound the rest (dp_train_state_check). */
    unsigned long long noise_limit;
    if (__builtin_mul_overflow((unsigned long long)(step < 0 ? 0 : step),
                               (unsigned long long)model->param_count * RNG_GAUSSIAN_SECURE_BYTES,
                               &noise_limit))
        noise_limit = ULLONG_MAX;
    const char *where = file->path;
    if (epoch < 0 || epoch > INT_MAX)
        return error_set(err, "%s: %s attribute epoch is %lld: expected 0..%d", where, group,
                         epoch, INT_MAX);
    if (step < 0 || step > (1LL << 53))
        return error_set(err, "%s: %s attribute step is %lld: expected 0..2^53", where, group,
                         step);
    if (steps < 0 || steps > step)
        return error_set(err, "%s: %s attribute optimizer_steps is %lld: expected 0..%lld (the "
                         "steps done)", where, group, steps, step);
    if (sampler < 0)
        return error_set(err, "%s: %s attribute sampler_position is %lld: expected >= 0", where,
                         group, sampler);
    if (noise < 0 || (unsigned long long)noise > noise_limit)
        return error_set(err, "%s: %s attribute noise_position is %lld: expected 0..%llu (%lld "
                         "steps x %zu parameters x %d bytes)", where, group, noise, noise_limit,
                         step, model->param_count, RNG_GAUSSIAN_SECURE_BYTES);
    if (exhausted != 0 && exhausted != 1)
        return error_set(err, "%s: %s attribute budget_exhausted is %lld: expected 0 or 1", where,
                         group, exhausted);
    if (!(state->epsilon >= 0)) /* +inf is right: training without privacy */
        return error_set(err, "%s: %s attribute epsilon is %g: expected >= 0", where, group,
                         state->epsilon);
    if (!(state->seconds >= 0) || !isfinite(state->seconds))
        return error_set(err, "%s: %s attribute seconds is %g: expected a finite number >= 0",
                         where, group, state->seconds);
    int key_rank;
    size_t key_dims[H5IO_MAX_RANK];
    uint8_t *key = NULL;
    snprintf(path, sizeof path, "%s/rng/key", group);
    if (!h5io_exists(file, path))
        return error_set(err, "%s: %s missing (a checkpoint without its stream key cannot be "
                              "resumed; start the run again)", file->path, path);
    if (h5io_read_array(file, path, H5IO_UINT8, &key_rank, key_dims, (void **)&key, err))
        return -1;
    if (key_rank != 1 || key_dims[0] != RNG_KEY_BYTES) {
        free(key);
        return error_set(err, "%s: %s must hold %d bytes", file->path, path, RNG_KEY_BYTES);
    }
    rng_init(&state->sampler, key, RNG_STREAM_SAMPLING);
    rng_init(&state->noise, key, RNG_STREAM_NOISE);
    sodium_memzero(key, RNG_KEY_BYTES);
    free(key);
    state->epoch = (int)epoch;
    state->step = step;
    opt->steps = steps;
    rng_seek(&state->sampler, (uint64_t)sampler);
    rng_seek(&state->noise, (uint64_t)noise);
    state->budget_exhausted = (int)exhausted;
    return 0;
}

int dp_train_state_check(const dp_train_state *state, const dp_train_config *config,
                         size_t train_count, const char *path, const char *group,
                         dpkit_error *err)
{
    if (state->epoch > config->epochs)
        return error_set(err, "%s: %s attribute epoch is %d: expected 0..%d (training.epochs)",
                         path, group, state->epoch, config->epochs);
    /* each epoch takes at most dp_steps_per_epoch steps (fewer once the budget is spent) */
    long long per_epoch = dp_steps_per_epoch(train_count, config->batch_size), most;
    if (__builtin_mul_overflow(per_epoch, (long long)state->epoch, &most))
        most = LLONG_MAX;
    if (state->step > most)
        return error_set(err, "%s: %s attribute step is %lld: expected 0..%lld (%d epochs of %lld "
                         "steps)", path, group, state->step, most, state->epoch, per_epoch);
    /* each step draws one uniform (8 bytes) per training example and per canary */
    unsigned long long per_step, limit;
    size_t canaries = config->canaries ? config->canaries->count : 0;
    if (__builtin_mul_overflow((unsigned long long)train_count + canaries, 8ULL, &per_step) ||
        __builtin_mul_overflow(per_step, (unsigned long long)state->step, &limit))
        limit = ULLONG_MAX;
    if (rng_tell(&state->sampler) > limit)
        return error_set(err, "%s: %s attribute sampler_position is %llu: expected 0..%llu (%lld "
                         "steps x %llu bytes)", path, group,
                         (unsigned long long)rng_tell(&state->sampler), limit, state->step,
                         per_step);
    return 0;
}
