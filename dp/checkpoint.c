/* Saving and loading models and training state in HDF5 (layout in docs/formats.md): the model
 * as its layer table plus one dataset per parameter tensor; checkpoints add the optimizer
 * state, the privacy ledger, RNG positions and counters. */
#include "dp/dp.h"

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
    memcpy(model->params, params, model->param_count * sizeof *params);
    status = 0;
done:
    if (status)
        dp_model_free(model);
    free(table);
    free(input);
    free(params);
    free(specs);
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

/* The state's optimizer must have been created (same config) and its RNGs initialised with the
 * run's keys: loading restores their positions. */
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
    if (epoch < 0 || step < 0 || steps < 0 || sampler < 0 || noise < 0)
        return error_set(err, "%s: %s: negative counters", file->path, group);
    state->epoch = (int)epoch;
    state->step = step;
    opt->steps = steps;
    rng_seek(&state->sampler, (uint64_t)sampler);
    rng_seek(&state->noise, (uint64_t)noise);
    state->budget_exhausted = (int)exhausted;
    return 0;
}
