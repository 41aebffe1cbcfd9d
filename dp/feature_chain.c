/* dp_classifier for a model on its features, seen from the pixels: image standardisation,
 * the scattering transform of each channel (raw pixels: none), the feature normalisation and
 * the model, with the gradient carried back through all four (docs/maths.md 1.11, 12.3). */
#include "dp/feature_chain.h"

#include "common/memory.h"
#include "scatter/scatter.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

struct dp_feature_chain {
    const dp_model *model; /* NULL: the chain is the feature map (outputs the features) */
    size_t max_batch;
    const features_normalizer *normalizer;
    dp_workspace ws;
    scatter_plan *plan; /* NULL for raw pixels */
    int threads;        /* images of a batch go through the scattering in parallel */
    scatter_grad **grad; /* one per thread; NULL for raw pixels */
    size_t channels, plane, K, out_plane; /* image channels, H W, scattering channels, H' W' */
    int imagenet;
    float *pixels;     /* per thread: one standardised channel plane */
    double *coeffs;    /* per thread: one channel's scattering output */
    float *raw, *normalised, *feature_grad; /* (max_batch, channels K, H' W') */
    float *last_x;     /* the images raw and normalised were computed from (max_batch, D) */
    size_t last_n;     /* 0: none */
};

/* The standardised plane c of image x (channels, H, W), in thread t's buffer. */
static const float *standardised(dp_feature_chain *ch, int t, const float *x, size_t c)
{
    const float *p = x + c * ch->plane;
    if (!ch->imagenet)
        return p;
    float *out = ch->pixels + (size_t)t * ch->plane;
    for (size_t k = 0; k < ch->plane; k++)
        out[k] = (float)((p[k] - features_imagenet_mean[c]) / features_imagenet_std[c]);
    return out;
}

/* raw features and normalised features of n images */
static int features_of(dp_feature_chain *ch, const float *x, size_t n, dpkit_error *err)
{
    size_t F = ch->channels * ch->K * ch->out_plane, D = ch->channels * ch->plane;
    /* an attack asks for the logits and then the gradient at the same images */
    if (n == ch->last_n && memcmp(x, ch->last_x, n * D * sizeof *x) == 0)
        return 0;
    ch->last_n = 0;
#pragma omp parallel for num_threads(ch->threads) schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        int t = omp_get_thread_num();
        double *coeffs = ch->coeffs + (size_t)t * ch->K * ch->out_plane;
        for (size_t c = 0; c < ch->channels; c++) {
            const float *p = standardised(ch, t, x + i * ch->channels * ch->plane, c);
            float *o = ch->raw + i * F + c * ch->K * ch->out_plane;
            if (!ch->grad) {
                memcpy(o, p, ch->plane * sizeof *o);
                continue;
            }
            scatter_grad_forward(ch->grad[t], p, coeffs);
            for (size_t k = 0; k < ch->K * ch->out_plane; k++)
                o[k] = (float)coeffs[k];
        }
    }
    memcpy(ch->normalised, ch->raw, n * F * sizeof *ch->raw);
    if (features_normalizer_apply(ch->normalizer, ch->normalised, n, ch->channels * ch->K,
                                  ch->out_plane, err))
        return -1;
    memcpy(ch->last_x, x, n * D * sizeof *x);
    ch->last_n = n;
    return 0;
}

static int chain_logits(void *user, const float *x, size_t n, float *logits, dpkit_error *err)
{
    dp_feature_chain *ch = user;
    if (n > ch->max_batch)
        return error_set(err, "batch of %zu images, the chain holds %zu", n, ch->max_batch);
    if (features_of(ch, x, n, err))
        return -1;
    size_t F = ch->channels * ch->K * ch->out_plane;
    if (!ch->model) {
        memcpy(logits, ch->normalised, n * F * sizeof *logits);
        return 0;
    }
    dp_model_forward(ch->model, &ch->ws, ch->normalised, n);
    memcpy(logits, ch->ws.activations[ch->model->layer_count],
           n * ch->model->class_count * sizeof *logits);
    return 0;
}

int dp_feature_chain_features(dp_feature_chain *ch, const float *x, size_t n, float *features,
                              dpkit_error *err)
{
    if (n > ch->max_batch)
        return error_set(err, "batch of %zu images, the chain holds %zu", n, ch->max_batch);
    if (features_of(ch, x, n, err))
        return -1;
    memcpy(features, ch->normalised, n * ch->channels * ch->K * ch->out_plane * sizeof *features);
    return 0;
}

void dp_image_pixels(const dataset_split *s, size_t row, float *out)
{
    size_t item = s->channels * s->height * s->width;
    for (size_t k = 0; k < item; k++)
        out[k] = s->dtype == DATASET_UINT8
                     ? (float)(((const uint8_t *)s->images)[row * item + k] / 255.0)
                     : ((const float *)s->images)[row * item + k];
}

static int chain_input_gradient(void *user, const float *x, size_t n, const float *grad_logits,
                                float *grad_x, dpkit_error *err)
{
    dp_feature_chain *ch = user;
    if (n > ch->max_batch)
        return error_set(err, "batch of %zu images, the chain holds %zu", n, ch->max_batch);
    size_t F = ch->channels * ch->K * ch->out_plane;
    if (features_of(ch, x, n, err))
        return -1;
    if (ch->model) {
        dp_model_forward(ch->model, &ch->ws, ch->normalised, n);
        if (dp_model_input_gradient(ch->model, &ch->ws, ch->normalised, n, grad_logits,
                                    ch->feature_grad, err))
            return -1;
    } else {
        memcpy(ch->feature_grad, grad_logits, n * F * sizeof *grad_logits);
    }
    if (features_normalizer_backward(ch->normalizer, ch->raw, ch->feature_grad, n, err))
        return -1;
#pragma omp parallel for num_threads(ch->threads) schedule(dynamic, 1)
    for (size_t i = 0; i < n; i++) {
        int t = omp_get_thread_num();
        for (size_t c = 0; c < ch->channels; c++) {
            float *g = grad_x + (i * ch->channels + c) * ch->plane;
            const float *gf = ch->feature_grad + i * F + c * ch->K * ch->out_plane;
            if (ch->grad) {
                /* the forward again: the scattering keeps one plane's responses at a time */
                scatter_grad_forward(ch->grad[t],
                                     standardised(ch, t, x + i * ch->channels * ch->plane, c),
                                     ch->coeffs + (size_t)t * ch->K * ch->out_plane);
                scatter_grad_backward(ch->grad[t], gf, g);
            } else {
                memcpy(g, gf, ch->plane * sizeof *g);
            }
            if (ch->imagenet)
                for (size_t k = 0; k < ch->plane; k++)
                    g[k] = (float)(g[k] / features_imagenet_std[c]);
        }
    }
    return 0;
}

void dp_feature_chain_free(dp_feature_chain *ch)
{
    if (!ch)
        return;
    if (ch->model)
        dp_workspace_free(&ch->ws);
    for (int t = 0; ch->grad && t < ch->threads; t++)
        scatter_grad_free(ch->grad[t]);
    scatter_plan_free(ch->plan);
    MEMORY_FREE_ALL(ch->grad, ch->pixels, ch->coeffs, ch->raw, ch->normalised, ch->feature_grad,
                    ch->last_x, ch);
}

int dp_feature_chain_create(const features_extractor_config *extractor, size_t channels,
                                size_t height, size_t width,
                                const features_normalizer *normalizer, const dp_model *model,
                                size_t max_batch, dp_feature_chain **out,
                                dp_classifier *classifier, dpkit_error *err)
{
    *out = NULL;
    if (extractor->kind == FEATURES_HOG)
        return error_set(err, "attack through features: HOG features have no gradient (their "
                              "orientation binning is piecewise constant); expected scatter or raw");
    dp_feature_chain *ch = calloc(1, sizeof *ch);
    if (!ch)
        return error_set(err, "attack: out of memory");
    *ch = (dp_feature_chain){.model = model, .normalizer = normalizer, .channels = channels,
                             .plane = height * width, .K = 1, .out_plane = height * width,
                             .imagenet = features_image_norm_is_imagenet(extractor, channels),
                             .threads = omp_get_max_threads()};
    if (extractor->kind == FEATURES_SCATTER) {
        scatter_options o = scatter_default_options();
        o.threads = 1;
        o.planning = SCATTER_PLAN_ESTIMATE;
        if (scatter_plan_create(extractor->scatter_J, extractor->scatter_L,
                                extractor->scatter_max_order, height, width, &o, &ch->plan, err))
            goto fail;
        ch->grad = calloc((size_t)ch->threads, sizeof *ch->grad);
        if (!ch->grad) {
            error_set(err, "attack: out of memory");
            goto fail;
        }
        for (int t = 0; t < ch->threads; t++) /* FFTW planning: one thread at a time */
            if (scatter_grad_create(ch->plan, &ch->grad[t], err))
                goto fail;
        ch->K = scatter_plan_channels(ch->plan);
        ch->out_plane = scatter_plan_output_height(ch->plan) * scatter_plan_output_width(ch->plan);
    }
    size_t F = channels * ch->K * ch->out_plane;
    if (model && dp_shape_size(model->input) != F) {
        error_set(err, "attack through features: the model takes %zu inputs, the extractor "
                       "gives %zu", dp_shape_size(model->input), F);
        goto fail;
    }
    if (normalizer->channels != channels * ch->K || normalizer->spatial != ch->out_plane) {
        error_set(err, "attack through features: the normaliser is for %zu x %zu features, the "
                       "extractor gives %zu x %zu", normalizer->channels, normalizer->spatial,
                  channels * ch->K, ch->out_plane);
        goto fail;
    }
    ch->max_batch = max_batch > 0 ? max_batch : 1;
    if (model && dp_workspace_create(model, ch->max_batch, &ch->ws, err))
        goto fail;
    ch->pixels = malloc((size_t)ch->threads * ch->plane * sizeof *ch->pixels);
    ch->coeffs = malloc((size_t)ch->threads * ch->K * ch->out_plane * sizeof *ch->coeffs);
    ch->raw = malloc(ch->max_batch * F * sizeof *ch->raw);
    ch->normalised = malloc(ch->max_batch * F * sizeof *ch->normalised);
    ch->feature_grad = malloc(ch->max_batch * F * sizeof *ch->feature_grad);
    ch->last_x = malloc(ch->max_batch * channels * ch->plane * sizeof *ch->last_x);
    if (!ch->pixels || !ch->coeffs || !ch->raw || !ch->normalised || !ch->feature_grad ||
        !ch->last_x) {
        error_set(err, "attack: out of memory for a batch of %zu images", max_batch);
        goto fail;
    }
    *classifier = (dp_classifier){.input_size = channels * ch->plane,
                                      .class_count = model ? model->class_count : F,
                                      .max_batch = ch->max_batch,
                                      .logits = chain_logits,
                                      .input_gradient = chain_input_gradient,
                                      .user = ch};
    *out = ch;
    return 0;
fail:
    dp_feature_chain_free(ch);
    return -1;
}
