/* A trained model as the public interface sees it (dpkit.h): model.h5 loaded with its config
 * (for the feature extractor), normaliser and privacy ledger; predictions from features or
 * images; evaluation on a dataset split; the ledger re-accounted. */
#include "dp/run_config.h"
#include "common/memory.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct dpkit_model {
    run_config rc;
    dp_model model;
    features_normalizer normalizer;
    accountant_ledger ledger;
    size_t image_channels, image_height, image_width; /* 0: not recorded (older files) */
    int reproducible_noise;
};

DPKIT_API void dpkit_model_free(dpkit_model *m)
{
    if (!m)
        return;
    run_config_free(&m->rc);
    dp_model_free(&m->model);
    features_normalizer_free(&m->normalizer);
    accountant_ledger_free(&m->ledger);
    free(m);
}

static int read_image_shape(dpkit_model *m, h5io_file *f, dpkit_error *err)
{
    const char *names[3] = {"image_channels", "image_height", "image_width"};
    size_t *targets[3] = {&m->image_channels, &m->image_height, &m->image_width};
    for (int k = 0; k < 3; k++) {
        long long v;
        if (!h5io_has_attr(f, "/", names[k]))
            return 0;
        if (h5io_read_attr_int64(f, "/", names[k], &v, err))
            return -1;
        if (v < 1 || v > 65536)
            return error_set(err, "%s: attribute %s is %lld, expected 1..65536", f->path,
                             names[k], v);
        *targets[k] = (size_t)v;
    }
    return 0;
}

int run_model_read(h5io_file *f, run_config *rc, dp_model *model,
                   features_normalizer *normalizer, dpkit_error *err)
{
    char *config_text = NULL;
    int status = h5io_read_attr_string(f, "/", "config", &config_text, err) ||
                 run_config_from_text(config_text, f->path, rc, err) ||
                 dp_model_load_h5(model, f, "/model", err) ||
                 features_normalizer_load_h5(normalizer, f, "/normalizer", err);
    free(config_text);
    return status ? -1 : 0;
}

DPKIT_API dpkit_model *dpkit_model_load(const char *path, dpkit_error *err)
{
    dpkit_model *m = calloc(1, sizeof *m);
    if (!m) {
        error_set(err, "%s: out of memory", path);
        return NULL;
    }
    accountant_ledger_init(&m->ledger);
    h5io_file *f;
    if (h5io_open_read(path, &f, err)) {
        free(m);
        return NULL;
    }
    int status = run_model_read(f, &m->rc, &m->model, &m->normalizer, err) ||
                 accountant_ledger_load_h5(&m->ledger, f, "/ledger", err) ||
                 read_image_shape(m, f, err);
    h5io_close(f);
    if (!status && m->normalizer.channels * m->normalizer.spatial != dp_shape_size(m->model.input))
        status = error_set(err, "%s: the normaliser is for %zu x %zu features, the model takes %zu",
                           path, m->normalizer.channels, m->normalizer.spatial,
                           dp_shape_size(m->model.input));
    if (status) {
        dpkit_model_free(m);
        return NULL;
    }
    m->reproducible_noise = m->rc.reproducible_noise;
    return m;
}

DPKIT_API size_t dpkit_model_class_count(const dpkit_model *m)
{
    return m->model.class_count;
}

DPKIT_API size_t dpkit_model_feature_count(const dpkit_model *m)
{
    return dp_shape_size(m->model.input);
}

DPKIT_API void dpkit_model_image_shape(const dpkit_model *m, size_t *channels, size_t *height,
                                       size_t *width)
{
    *channels = m->image_channels;
    *height = m->image_height;
    *width = m->image_width;
}

DPKIT_API int dpkit_model_reproducible_noise(const dpkit_model *m)
{
    return m->reproducible_noise;
}

/* Each of the count rows of K logits into probabilities (softmax, shifted by the largest). */
static void softmax_rows(float *out, size_t count, size_t K)
{
    for (size_t i = 0; i < count; i++) {
        float *row = out + i * K, top = row[0];
        for (size_t c = 1; c < K; c++)
            top = row[c] > top ? row[c] : top;
        double sum = 0;
        for (size_t c = 0; c < K; c++)
            sum += exp((double)row[c] - top);
        for (size_t c = 0; c < K; c++)
            row[c] = (float)(exp((double)row[c] - top) / sum);
    }
}

/* Logits of normalised features x (count rows, overwritten by nothing), then softmax if asked. */
static int predict_normalized(const dpkit_model *m, const float *x, size_t count, int output,
                              float *out, dpkit_error *err)
{
    size_t K = m->model.class_count, D = dp_shape_size(m->model.input);
    size_t batch = count < 256 ? (count ? count : 1) : 256;
    dp_workspace ws;
    if (dp_workspace_create(&m->model, batch, &ws, err))
        return -1;
    int status = 0;
    for (size_t first = 0; first < count && !status; first += batch) {
        size_t n = count - first < batch ? count - first : batch;
        if ((status = dp_model_check_input(&m->model, x + first * D, n, err)))
            break;
        dp_model_forward(&m->model, &ws, x + first * D, n);
        memcpy(out + first * K, ws.activations[ws.layer_count], n * K * sizeof *out);
    }
    dp_workspace_free(&ws);
    if (!status && output == DPKIT_PROBABILITIES)
        softmax_rows(out, count, K);
    return status;
}

static int check_output(int output, dpkit_error *err)
{
    if (output != DPKIT_LOGITS && output != DPKIT_PROBABILITIES)
        return error_set(err, "output: %d, expected DPKIT_LOGITS (0) or DPKIT_PROBABILITIES (1)",
                         output);
    return 0;
}

/* Copies the features, checks they are finite, normalises and predicts. */
static int predict_features(const dpkit_model *m, const float *features, size_t count,
                            int output, float *out, dpkit_error *err)
{
    size_t D = dp_shape_size(m->model.input);
    float *x = malloc((count ? count : 1) * D * sizeof *x);
    if (!x)
        return error_set(err, "predict: out of memory for %zu x %zu features", count, D);
    memcpy(x, features, count * D * sizeof *x);
    int status = 0;
    for (size_t j = 0; j < count * D; j++)
        if (!isfinite(x[j])) {
            status = error_set(err, "predict: feature %zu of example %zu is %g, expected a "
                                    "finite value", j % D, j / D, x[j]);
            break;
        }
    if (!status)
        status = features_normalizer_apply(&m->normalizer, x, count, m->normalizer.channels,
                                           m->normalizer.spatial, err) ||
                 predict_normalized(m, x, count, output, out, err);
    free(x);
    return status ? -1 : 0;
}

DPKIT_API int dpkit_model_predict(const dpkit_model *m, const float *features, size_t count,
                                  int output, float *out, dpkit_error *err)
{
    if (check_output(output, err))
        return -1;
    if (count && (!features || !out))
        return error_set(err, "predict: features and out must not be NULL");
    if (m->rc.mirror_average)
        return error_set(err, "predict: this model averages its logits over each image and its "
                              "mirror (model.mirror_average), which features do not show; use "
                              "dpkit_model_predict_images");
    return predict_features(m, features, count, output, out, err);
}

/* The logits at the left-right mirrors of images first..first+n-1 of the split into logits,
 * with features (n rows) as scratch. */
static int mirror_run(const dpkit_model *m, features_extractor *ex, const dataset_split *split,
                      size_t first, size_t n, float *features, float *logits, dpkit_error *err)
{
    size_t pixels = split->channels * split->height * split->width;
    dataset_split part = *split, mirrored;
    part.count = n;
    part.images = (float *)split->images + first * pixels;
    /* copy 1 of two, flipped and not shifted: the mirror image (features/augment.c) */
    const features_augment_config mirror = {.multiplicity = 2, .shift = 0, .flip = 1};
    if (features_augment_split(&part, &mirror, 0, 1, &mirrored, err))
        return -1;
    int status = features_extractor_run(ex, &mirrored, 0, n, features, err) ||
                 predict_features(m, features, n, DPKIT_LOGITS, logits, err);
    free(mirrored.images);
    return status ? -1 : 0;
}

DPKIT_API int dpkit_model_predict_images(const dpkit_model *m, const float *images,
                                         size_t count, int output, float *out, dpkit_error *err)
{
    if (check_output(output, err))
        return -1;
    if (!m->image_channels)
        return error_set(err, "predict: this model file records no image shape (written by an "
                              "older dpkit); extract its features and use dpkit_model_predict");
    if (count && (!images || !out))
        return error_set(err, "predict: images and out must not be NULL");
    size_t pixels = m->image_channels * m->image_height * m->image_width;
    for (size_t j = 0; j < count * pixels; j++)
        if (!(images[j] >= 0.0f && images[j] <= 1.0f))
            return error_set(err, "predict: pixel %zu of image %zu is %g, expected a value in "
                                  "[0, 1]", j % pixels, j / pixels, images[j]);
    dataset_split split = {.count = count, .channels = m->image_channels,
                           .height = m->image_height, .width = m->image_width,
                           .dtype = DATASET_FLOAT32, .images = (void *)images};
    size_t chunk = count < 256 ? (count ? count : 1) : 256, D = dp_shape_size(m->model.input);
    features_extractor *ex;
    if (features_extractor_create(&m->rc.extractor, m->image_channels, m->image_height,
                                  m->image_width, chunk, &ex, err))
        return -1;
    size_t fc, fh, fw;
    features_extractor_shape(ex, &fc, &fh, &fw);
    float *features = NULL;
    int status = 0;
    if (fc * fh * fw != D)
        status = error_set(err, "predict: the extractor gives %zu features, the model takes %zu",
                           fc * fh * fw, D);
    else if (!(features = malloc(chunk * D * sizeof *features)))
        status = error_set(err, "predict: out of memory");
    size_t K = m->model.class_count;
    float *mirror_logits = NULL;
    if (!status && m->rc.mirror_average && !(mirror_logits = malloc(chunk * K * sizeof(float))))
        status = error_set(err, "predict: out of memory");
    for (size_t first = 0; first < count && !status; first += chunk) {
        size_t n = count - first < chunk ? count - first : chunk;
        float *z = out + first * K;
        status = features_extractor_run(ex, &split, first, n, features, err) ||
                 predict_features(m, features, n, mirror_logits ? DPKIT_LOGITS : output, z,
                                  err) ||
                 (mirror_logits &&
                  mirror_run(m, ex, &split, first, n, features, mirror_logits, err));
        if (!status && mirror_logits) { /* docs/maths.md 4.18 */
            for (size_t j = 0; j < n * K; j++)
                z[j] = 0.5f * (z[j] + mirror_logits[j]);
            if (output == DPKIT_PROBABILITIES)
                softmax_rows(z, n, K);
        }
    }
    free(mirror_logits);
    free(features);
    features_extractor_free(ex);
    return status ? -1 : 0;
}

DPKIT_API int dpkit_model_epsilon(const dpkit_model *m, double delta, const char *accountant,
                                  double *epsilon, dpkit_error *err)
{
    accountant_options options = m->rc.train.accountant;
    if (accountant && accountant_kind_parse(accountant, &options.kind, err))
        return -1;
    if (!m->rc.train.private_mode) {
        *epsilon = INFINITY;
        return 0;
    }
    return accountant_ledger_epsilon(&m->ledger, delta, &options, epsilon, NULL, err);
}

DPKIT_API void dpkit_eval_result_free(dpkit_eval_result *result)
{
    if (!result)
        return;
    MEMORY_FREE_ALL(result->labels, result->predictions, result->losses, result->logits);
    memset(result, 0, sizeof *result);
}

/* The public labels and predictions are int; the library's are int32_t, the same type here. */
_Static_assert(sizeof(int) == sizeof(int32_t), "dpkit_eval_result needs a 32-bit int");

DPKIT_API int dpkit_model_evaluate(const dpkit_model *m, const char *dataset, const char *split,
                                   int per_example, dpkit_eval_result *result, dpkit_error *err)
{
    if (!result)
        return error_set(err, "evaluate: result must not be NULL");
    memset(result, 0, sizeof *result);
    run_eval_result r;
    if (run_eval_model(&m->rc, &m->model, &m->normalizer, dataset, split, per_example != 0, &r,
                       err))
        return -1;
    result->count = r.count;
    result->class_count = r.class_count;
    result->accuracy = r.accuracy;
    result->mean_loss = r.mean_loss;
    /* The arrays change hands; r keeps only what the public result has no place for. */
    result->labels = (int *)r.labels;
    result->predictions = (int *)r.predictions;
    result->losses = r.losses;
    result->logits = r.logits;
    r.labels = r.predictions = NULL;
    r.losses = r.logits = NULL;
    run_eval_free(&r);
    return 0;
}
