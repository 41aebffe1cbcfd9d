/* Evaluation of a trained model on a dataset split, what `dpkit eval` and dpkit_model_evaluate
 * run: the split's features (from the cache) through the model's normaliser, a forward pass in
 * batches, and per example the cross-entropy and the predicted class. */
#include "dp/layers_internal.h"
#include "dp/run_config.h"
#include "common/memory.h"

#include <stdlib.h>
#include <string.h>

/* Examples per forward pass: the workspace grows with it, the per-call overhead shrinks. */
#define RUN_EVAL_BATCH 1024

void run_eval_free(run_eval_result *r)
{
    MEMORY_FREE_ALL(r->noise_key, r->labels, r->predictions, r->losses, r->logits);
    memset(r, 0, sizeof *r);
}

/* Another dataset than the model's must give features of the model's shape and labels among
 * its classes; checked before anything is normalised. */
static int check_features(const char *name, const dp_model *model, const features_set *x,
                          dpkit_error *err)
{
    if (x->channels != model->input.channels || x->height != model->input.height ||
        x->width != model->input.width)
        return error_set(err, "%s: features are %zux%zux%zu, the model expects %zux%zux%zu", name,
                         x->channels, x->height, x->width, model->input.channels,
                         model->input.height, model->input.width);
    for (size_t i = 0; i < x->count; i++)
        if (x->labels[i] < 0 || (size_t)x->labels[i] >= model->class_count)
            return error_set(err, "%s: label %d of example %zu outside the model's %zu classes",
                             name, (int)x->labels[i], i, model->class_count);
    return 0;
}

static int allocate_per_example(run_eval_result *r, size_t count, size_t classes,
                                dpkit_error *err)
{
    size_t n = count ? count : 1;
    r->labels = malloc(n * sizeof *r->labels);
    r->predictions = malloc(n * sizeof *r->predictions);
    r->losses = malloc(n * sizeof *r->losses);
    r->logits = malloc(n * classes * sizeof *r->logits);
    if (!r->labels || !r->predictions || !r->losses || !r->logits)
        return error_set(err, "eval: out of memory for the outputs of %zu examples x %zu classes",
                         count, classes);
    return 0;
}

/* Logits of the normalised features x, batch by batch (with mirror, not NULL, their mean with
 * the logits at its rows: docs/maths.md 4.18); accuracy and mean loss summed over every
 * example, and the per-example outputs kept where r has arrays for them. */
static int forward_all(const dp_model *model, const features_set *x, const float *mirror,
                       run_eval_result *r, dpkit_error *err)
{
    size_t D = dp_shape_size(model->input), K = model->class_count;
    size_t batch = x->count < RUN_EVAL_BATCH ? (x->count ? x->count : 1) : RUN_EVAL_BATCH;
    if (dp_model_check_input(model, x->values, x->count, err) ||
        (mirror && dp_model_check_input(model, mirror, x->count, err)))
        return -1;
    dp_workspace ws;
    if (dp_workspace_create(model, batch, &ws, err))
        return -1;
    float *mean = NULL;
    if (mirror && !(mean = malloc(batch * K * sizeof *mean))) {
        dp_workspace_free(&ws);
        return error_set(err, "eval: out of memory for %zu x %zu logits", batch, K);
    }
    double loss_sum = 0;
    size_t correct = 0;
    for (size_t first = 0; first < x->count; first += batch) {
        size_t n = x->count - first < batch ? x->count - first : batch;
        dp_model_forward(model, &ws, x->values + first * D, n);
        const float *z = ws.activations[ws.layer_count];
        if (mirror) {
            dp_model_mirror_mean_logits(model, &ws, mirror + first * D, n, mean);
            z = mean;
        }
        for (size_t i = 0; i < n; i++) {
            size_t e = first + i, predicted = dp_argmax(z + i * K, K);
            double loss = 0;
            dp_softmax_cross_entropy_row(z + i * K, x->labels[e], K, NULL, &loss);
            loss_sum += loss;
            correct += predicted == (size_t)x->labels[e];
            if (r->logits) {
                r->labels[e] = x->labels[e];
                r->predictions[e] = (int32_t)predicted;
                r->losses[e] = (float)loss;
                memcpy(r->logits + e * K, z + i * K, K * sizeof *r->logits);
            }
        }
    }
    free(mean);
    dp_workspace_free(&ws);
    r->count = x->count;
    r->class_count = K;
    r->accuracy = x->count ? (double)correct / (double)x->count : 0;
    r->mean_loss = x->count ? loss_sum / (double)x->count : 0;
    return 0;
}

int run_eval_model(const run_config *rc, const dp_model *model,
                   const features_normalizer *normalizer, const char *dataset_name,
                   const char *split, int per_example, run_eval_result *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    split = split ? split : "test";
    if (strcmp(split, "test") != 0 && strcmp(split, "train") != 0)
        return error_set(err, "split: '%s', expected test or train", split);
    const char *name = dataset_name ? dataset_name : rc->dataset;
    dataset data;
    features_set x, mirror;
    features_cache_info info;
    memset(&data, 0, sizeof data);
    memset(&x, 0, sizeof x);
    memset(&mirror, 0, sizeof mirror);
    int status = dataset_load(name, &data, err) ||
                 features_cached(&rc->extractor, &data, split, 0, &x, &info, err) ||
                 check_features(name, model, &x, err) ||
                 features_normalizer_apply(normalizer, x.values, x.count, x.channels,
                                           x.height * x.width, err) ||
                 (rc->mirror_average && run_mirror_features(rc, &data, split, &x, normalizer, 0,
                                                            &mirror, err)) ||
                 (per_example && allocate_per_example(out, x.count, model->class_count, err)) ||
                 forward_all(model, &x, mirror.values, out, err);
    features_set_free(&x);
    features_set_free(&mirror);
    dataset_free(&data);
    if (status) {
        run_eval_free(out);
        return -1;
    }
    snprintf(out->dataset, sizeof out->dataset, "%s", name);
    snprintf(out->split, sizeof out->split, "%s", split);
    out->reproducible_noise = rc->reproducible_noise;
    out->mirror_average = rc->mirror_average;
    return 0;
}

int run_eval_file(const char *model_path, const char *dataset_name, const char *split,
                  int per_example, int mirror_average, run_eval_result *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    run_config rc;
    dp_model model;
    features_normalizer normalizer;
    memset(&rc, 0, sizeof rc);
    memset(&model, 0, sizeof model);
    memset(&normalizer, 0, sizeof normalizer);
    h5io_file *f;
    char *noise_key = NULL;
    if (h5io_open_read(model_path, &f, err))
        return -1;
    /* Only what evaluation needs: files without a ledger or image shape evaluate too. */
    int status = run_model_read(f, &rc, &model, &normalizer, err) ||
                 (h5io_has_attr(f, "/", "noise_key") &&
                  h5io_read_attr_string(f, "/", "noise_key", &noise_key, err));
    h5io_close(f);
    rc.mirror_average |= mirror_average;
    if (!status)
        status = run_eval_model(&rc, &model, &normalizer, dataset_name, split, per_example, out,
                                err);
    if (!status)
        out->noise_key = noise_key;
    else
        free(noise_key);
    dp_model_free(&model);
    features_normalizer_free(&normalizer);
    run_config_free(&rc);
    return status ? -1 : 0;
}
