/* A physical batch through the model: forward passes, the clipped gradient sum (docs/maths.md
 * 4.4-4.5) and evaluation. The batch is split over the OpenMP threads by example (docs/maths.md
 * 4.15): one parallel region per call, in which the threads take groups of consecutive examples
 * through the whole pipeline (forward, loss, input gradients, per-example norms, clip factors,
 * parameter gradients), a chunk of examples at a time, with every layer on one thread; each
 * group sums its gradients apart and the sums are added in group order. */
#include "dp/dp.h"
#include "dp/layers_internal.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Examples a thread takes through the pipeline at once. Fewer keep a chunk's arrays in a
 * nearer cache (mnist-cnn: about 70 KB per example, most of it the first convolution's output
 * and gradient and the pooling's), more spread the per-call costs of the layers (BLAS call
 * set-up, short loops); 64 was chosen by timing 8 to 256 (docs/results/train-cnn.md). */
#define STEP_CHUNK 64

/* One thread's part of a call: the rows [first, first + n) of the batch in the workspace's
 * arrays, and the thread's scratch slice. */
typedef struct step_rows {
    const dp_model *model;
    dp_workspace *ws;
    const float *x; /* the batch's input, row 0 */
    const int32_t *y;
    float *scratch;
    size_t first, n;
} step_rows;

static size_t in_width(const step_rows *r, size_t l)
{
    return dp_shape_size(r->model->layers[l].input);
}

static size_t out_width(const step_rows *r, size_t l)
{
    return dp_shape_size(r->model->layers[l].output);
}

/* Layer l's input, output, output gradient and input gradient rows (activations[0] is x). */
static const float *rows_in(const step_rows *r, size_t l)
{
    return (l == 0 ? r->x : r->ws->activations[l]) + r->first * in_width(r, l);
}

static float *rows_out(const step_rows *r, size_t l)
{
    return r->ws->activations[l + 1] + r->first * out_width(r, l);
}

static float *rows_grad_out(const step_rows *r, size_t l)
{
    return r->ws->gradients[l + 1] + r->first * out_width(r, l);
}

static float *rows_grad_in(const step_rows *r, size_t l)
{
    return r->ws->gradients[l] + r->first * in_width(r, l);
}

/* The scratch layer l sees for these rows: the thread's slice, one thread, the rows' kept
 * values and clip factors. */
static dp_scratch rows_scratch(const step_rows *r, size_t l, int training, int kept_valid)
{
    const dp_layer *layer = &r->model->layers[l];
    float *kept = r->ws->kept[l];
    if (kept)
        kept += r->first * dp_layer_ops_of(layer->kind)->kept_floats(layer);
    return (dp_scratch){.data = r->scratch, .threads = 1, .kept = kept,
                        .training = training && kept, .kept_valid = kept_valid && kept,
                        .factors = r->ws->factors + r->first};
}

static const float *layer_params(const step_rows *r, size_t l)
{
    return r->model->params + r->model->layers[l].param_offset;
}

/* training: layers also store what their per-example norms will need (dp_scratch). */
static void rows_forward(const step_rows *r, int training)
{
    for (size_t l = 0; l < r->model->layer_count; l++) {
        dp_scratch scratch = rows_scratch(r, l, training, 0);
        dp_layer_ops_of(r->model->layers[l].kind)
            ->forward(&r->model->layers[l], layer_params(r, l), rows_in(r, l), rows_out(r, l),
                      r->n, &scratch);
    }
}

/* Loss and dL_i/dlogits, then the input gradients of every layer but the first. With copies
 * of each example in adjacent rows (r->first a multiple of `copies`), the loss and accuracy
 * are those of the original (copy 0) alone, as on the linear path. */
static void rows_backward(const step_rows *r, size_t copies, dp_batch_stats *stats)
{
    size_t L = r->model->layer_count, K = r->model->class_count;
    const float *logits = rows_out(r, L - 1);
    float *grad = rows_grad_out(r, L - 1);
    for (size_t i = 0; i < r->n; i++) {
        double loss = 0;
        int correct = dp_softmax_cross_entropy_row(logits + i * K, r->y[r->first + i], K,
                                                   grad + i * K, &loss);
        if (i % copies == 0) {
            stats->correct += (size_t)correct;
            stats->loss_sum += loss;
        }
    }
    for (size_t l = L; l-- > 1;) {
        dp_scratch scratch = rows_scratch(r, l, 0, 0);
        dp_layer_ops_of(r->model->layers[l].kind)
            ->backward_input(&r->model->layers[l], layer_params(r, l), rows_in(r, l),
                             rows_out(r, l), rows_grad_out(r, l), rows_grad_in(r, l), r->n,
                             &scratch);
    }
}

/* The rows' squared per-example norms over all parameters, and their clip factors set to 1. */
static void rows_squared_norms(const step_rows *r)
{
    double *squared = r->ws->squared_norms + r->first;
    memset(squared, 0, r->n * sizeof *squared);
    for (size_t l = 0; l < r->model->layer_count; l++) {
        const dp_layer *layer = &r->model->layers[l];
        dp_scratch scratch = rows_scratch(r, l, 0, 1);
        if (layer->param_count)
            dp_layer_ops_of(layer->kind)->add_squared_norms(layer, rows_in(r, l),
                                                            rows_grad_out(r, l), r->n, squared,
                                                            &scratch);
    }
    for (size_t i = 0; i < r->n; i++)
        r->ws->factors[r->first + i] = 1.0f;
}

/* factor_i = min(1, C / norm_i) (docs/maths.md 4.5, exact rule), applied to the output gradient
 * of every parameterised layer: sum_i f_i g_i is then the batch gradient. Layers that weigh
 * their per-example terms by the factors themselves (convolutions) are skipped: one pass less
 * over their large output gradients. */
static void rows_clip(const step_rows *r, double clip_norm, dp_batch_stats *stats)
{
    float *factors = r->ws->factors + r->first;
    for (size_t i = 0; i < r->n; i++) {
        double norm = sqrt(r->ws->squared_norms[r->first + i]);
        factors[i] = dp_clip_factor(norm, clip_norm);
        stats->clipped += norm > clip_norm;
    }
    for (size_t l = 0; l < r->model->layer_count; l++) {
        const dp_layer *layer = &r->model->layers[l];
        if (!layer->param_count || dp_layer_ops_of(layer->kind)->applies_factors)
            continue;
        size_t width = out_width(r, l);
        float *g = rows_grad_out(r, l);
        for (size_t i = 0; i < r->n; i++)
            for (size_t j = 0; j < width; j++)
                g[i * width + j] *= factors[i];
    }
}

/* grad += the rows' (clipped) parameter gradients. */
static void rows_add_param_gradient(const step_rows *r, int have_norms, float *grad)
{
    for (size_t l = 0; l < r->model->layer_count; l++) {
        const dp_layer *layer = &r->model->layers[l];
        dp_scratch scratch = rows_scratch(r, l, 0, have_norms);
        if (layer->param_count)
            dp_layer_ops_of(layer->kind)->add_param_gradient(layer, rows_in(r, l),
                                                             rows_grad_out(r, l), r->n,
                                                             grad + layer->param_offset,
                                                             &scratch);
    }
}

/* The groups of a batch of n rows: contiguous ranges of at least STEP_CHUNK rows (the last may
 * be shorter), at most ws->groups of them. The threads take them as they come free, so a
 * thread slowed by another process takes fewer. */
static size_t group_count(const dp_workspace *ws, size_t n)
{
    size_t chunks = (n + STEP_CHUNK - 1) / STEP_CHUNK;
    return chunks < ws->groups ? chunks : ws->groups;
}

/* The rows of group g of `groups` over a batch of n examples of `copies` rows each (a group
 * holds whole examples), with the calling thread's scratch. */
static step_rows group_rows(const dp_model *model, dp_workspace *ws, const float *x,
                            const int32_t *y, size_t n, size_t copies, size_t g, size_t groups)
{
    size_t t = (size_t)omp_get_thread_num(), first = n * g / groups;
    float *scratch = ws->scratch ? ws->scratch + t * (ws->scratch_size / ws->threads) : NULL;
    return (step_rows){.model = model, .ws = ws, .x = x, .y = y, .scratch = scratch,
                       .first = first * copies, .n = (n * (g + 1) / groups - first) * copies};
}

/* The next chunk of `group` from row `done` on: at most STEP_CHUNK rows, whole examples of
 * `copies` rows. */
static step_rows chunk_of(const step_rows *group, size_t copies, size_t done)
{
    size_t most = STEP_CHUNK / copies * copies;
    step_rows r = *group;
    r.first += done;
    r.n = group->n - done < most ? group->n - done : most;
    return r;
}

int dp_softmax_cross_entropy_row(const float *z, int32_t label, size_t K, float *grad,
                                 double *loss)
{
    size_t best = 0;
    for (size_t k = 1; k < K; k++)
        if (z[k] > z[best])
            best = k;
    double m = z[best], total = 0;
    for (size_t k = 0; k < K; k++)
        total += exp((double)z[k] - m);
    double log_total = log(total);
    *loss += log_total + m - (double)z[label];
    if (grad) /* may alias z: z is not read after this */
        for (size_t k = 0; k < K; k++)
            grad[k] = (float)(exp((double)z[k] - m - log_total) - (k == (size_t)label));
    return best == (size_t)label;
}

void dp_model_forward(const dp_model *model, dp_workspace *ws, const float *x, size_t n)
{
    /* OpenBLAS single-threaded: the examples are split over OpenMP threads */
    int blas = dp_blas_serial_begin();
    size_t groups = group_count(ws, n);
#pragma omp parallel for schedule(dynamic, 1) num_threads(ws->threads)
    for (size_t g = 0; g < groups; g++) {
        step_rows group = group_rows(model, ws, x, NULL, n, 1, g, groups);
        for (size_t done = 0; done < group.n; done += STEP_CHUNK) {
            step_rows r = chunk_of(&group, 1, done);
            rows_forward(&r, 0);
        }
    }
    dp_blas_serial_end(blas);
}

int dp_model_check_input(const dp_model *model, const float *x, size_t n, dpkit_error *err)
{
    const dp_layer *first = &model->layers[0];
    if (first->kind != DP_LAYER_EMBEDDING)
        return 0;
    size_t total = n * dp_shape_size(first->input);
    for (size_t j = 0; j < total; j++)
        if (!(x[j] >= 0 && x[j] < (float)first->vocab && x[j] == (float)(size_t)x[j]))
            return error_set(err, "embedding input: value %g at example %zu position %zu is not "
                                  "a token id in 0..%zu", (double)x[j],
                             j / dp_shape_size(first->input), j % dp_shape_size(first->input),
                             first->vocab - 1);
    return 0;
}

/* Softmax cross-entropy per row of logits (n, K): adds the losses and counts correct argmaxes. */
static void softmax_cross_entropy(const float *logits, const int32_t *y, size_t n, size_t K,
                                  double *loss_sum, size_t *correct)
{
    /* the rows in LOSS_PARTS fixed parts, each part's loss apart, the parts added in order: a
     * reduction clause would add the threads' sums in the order they finish, and the loss would
     * change from run to run (and with the thread count) */
    enum { LOSS_PARTS = 64 };
    double part_loss[LOSS_PARTS] = {0};
    size_t right = 0;
#pragma omp parallel for reduction(+ : right) schedule(static) \
    if (n * K >= DP_PARALLEL_MIN_VALUES)
    for (size_t part = 0; part < LOSS_PARTS; part++)
        for (size_t i = n * part / LOSS_PARTS; i < n * (part + 1) / LOSS_PARTS; i++)
            right += (size_t)dp_softmax_cross_entropy_row(logits + i * K, y[i], K, NULL,
                                                          &part_loss[part]);
    double loss = 0;
    for (size_t part = 0; part < LOSS_PARTS; part++)
        loss += part_loss[part];
    *loss_sum += loss;
    *correct += right;
}

float dp_clip_factor(double norm, double clip_norm)
{
    if (!(norm > clip_norm))
        return 1.0f;
    /* C / norm rounded to float32 may land above it, and every entry of the clipped gradient
     * is then a float32 product (f g_j, or x_j (f d_c) for outer-product layers: two roundings
     * of at most 2^-24 relative each), so f norm = C could still give a clipped norm up to
     * (1 + 2^-24)^2 C. Nudging f down until f norm <= C (1 - 4 * 2^-24) leaves room for both
     * roundings and for the double-precision error of the norm itself; it changes f by a few
     * float32 ulps, far below the 1e-5 agreement with opacus. */
    const double bound = clip_norm * (1.0 - 4.0 * 0x1.0p-24);
    float f = (float)(clip_norm / norm);
    while (f > 0.0f && (double)f * norm > bound)
        f = nextafterf(f, 0.0f);
    return f;
}

static int check_labels(const int32_t *y, size_t n, size_t K, dpkit_error *err)
{
    for (size_t i = 0; i < n; i++)
        if (y[i] < 0 || (size_t)y[i] >= K)
            return error_set(err, "label %d of example %zu outside 0..%zu", (int)y[i], i, K - 1);
    return 0;
}

/* The rows' part of dp_model_clipped_gradient, added to grad and stats. */
static void rows_clipped_gradient(const step_rows *r, double clip_norm, float *grad,
                                  double *norms, dp_batch_stats *stats)
{
    int have_norms = clip_norm > 0 || norms;
    rows_forward(r, have_norms);
    rows_backward(r, 1, stats);
    if (have_norms)
        rows_squared_norms(r);
    if (clip_norm > 0)
        rows_clip(r, clip_norm, stats);
    if (norms)
        for (size_t i = 0; i < r->n; i++)
            norms[r->first + i] = sqrt(r->ws->squared_norms[r->first + i]);
    rows_add_param_gradient(r, have_norms, grad);
}

/* Augmentation multiplicity (docs/maths.md 4.17) on any model: the rows hold `copies` adjacent
 * rows per example, and an example's gradient is the mean of its copies' gradients. The layers'
 * per-example norms cannot give the norm of that mean (it has cross terms between the copies in
 * every layer), so each example's mean gradient is formed in `example` (param_count floats),
 * clipped as a whole and added: the cost is that of the copies' parameter gradients, plus three
 * passes over the parameters per example. */
static void rows_clipped_copies(const step_rows *r, size_t copies, double clip_norm,
                                float *example, float *grad, double *norms,
                                dp_batch_stats *stats)
{
    size_t P = r->model->param_count;
    float inverse = (float)(1.0 / (double)copies);
    rows_forward(r, 0);
    rows_backward(r, copies, stats);
    for (size_t first = 0; first < r->n; first += copies) {
        step_rows one = *r;
        one.first += first;
        one.n = copies;
        memset(example, 0, P * sizeof *example);
        rows_add_param_gradient(&one, 0, example);
        double squared = 0;
        for (size_t j = 0; j < P; j++) {
            example[j] *= inverse;
            squared += (double)example[j] * example[j];
        }
        double norm = sqrt(squared);
        float factor = 1.0f;
        if (clip_norm > 0 && norm > clip_norm) {
            factor = dp_clip_factor(norm, clip_norm);
            stats->clipped++;
        }
        if (norms)
            norms[one.first / copies] = norm;
        for (size_t j = 0; j < P; j++)
            grad[j] += factor * example[j];
    }
}

/* grad += the groups' sums, added in group order for every parameter: the result depends on
 * the batch and ws->groups, not on which thread took which group. Called by every thread of
 * the team. */
static void add_group_grads(const dp_model *model, const dp_workspace *ws, size_t groups,
                            float *grad)
{
#pragma omp for schedule(static)
    for (size_t j = 0; j < model->param_count; j++)
        for (size_t g = 0; g < groups; g++)
            grad[j] += ws->group_grads[g * ws->param_stride + j];
}

int dp_model_clipped_gradient(const dp_model *model, dp_workspace *ws, const float *x,
                              const int32_t *y, size_t n, double clip_norm, float *grad,
                              double *norms, dp_batch_stats *stats, dpkit_error *err)
{
    return dp_model_clipped_gradient_copies(model, ws, x, y, n, 1, clip_norm, grad, norms,
                                            stats, err);
}

int dp_model_clipped_gradient_copies(const dp_model *model, dp_workspace *ws, const float *x,
                                     const int32_t *y, size_t n, size_t copies,
                                     double clip_norm, float *grad, double *norms,
                                     dp_batch_stats *stats, dpkit_error *err)
{
    if (copies < 1 || copies > DP_AUGMENT_MAX_COPIES)
        return error_set(err, "%zu copies of each example, expected 1..%d", copies,
                         DP_AUGMENT_MAX_COPIES);
    size_t rows = n * copies;
    if (rows > ws->max_batch)
        return error_set(err, "batch of %zu rows (%zu examples x %zu copies), workspace holds "
                         "%zu", rows, n, copies, ws->max_batch);
    if (n == 0)
        return 0;
    if (check_labels(y, rows, model->class_count, err) ||
        dp_model_check_input(model, x, rows, err))
        return -1;
    for (size_t i = 0; i < rows; i++)
        if (y[i] != y[i - i % copies])
            return error_set(err, "copy %zu of example %zu has label %d, the example %d: "
                             "expected the copies of an example to share its label",
                             i % copies, i / copies, (int)y[i], (int)y[i - i % copies]);
    size_t groups = group_count(ws, rows);
    float *examples = NULL; /* copies > 1: each group's mean gradient of one example */
    if (copies > 1 && !(examples = malloc(groups * model->param_count * sizeof *examples)))
        return error_set(err, "augmented copies: out of memory for %zu x %zu floats", groups,
                         model->param_count);
    /* OpenBLAS single-threaded for the whole step: idle OpenBLAS threads spinning between
     * calls would take the cores from the OpenMP threads */
    int blas = dp_blas_serial_begin();
#pragma omp parallel num_threads(ws->threads)
    {
#pragma omp for schedule(dynamic, 1)
        for (size_t g = 0; g < groups; g++) {
            float *sum = ws->group_grads + g * ws->param_stride;
            memset(sum, 0, model->param_count * sizeof *sum);
            ws->group_stats[g] = (dp_batch_stats){0};
            step_rows group = group_rows(model, ws, x, y, n, copies, g, groups);
            for (size_t done = 0; done < group.n;) {
                step_rows r = chunk_of(&group, copies, done);
                if (copies > 1)
                    rows_clipped_copies(&r, copies, clip_norm,
                                        examples + g * model->param_count, sum, norms,
                                        &ws->group_stats[g]);
                else
                    rows_clipped_gradient(&r, clip_norm, sum, norms, &ws->group_stats[g]);
                done += r.n;
            }
        }
        add_group_grads(model, ws, groups, grad);
    }
    free(examples);
    for (size_t g = 0; g < groups; g++) {
        stats->loss_sum += ws->group_stats[g].loss_sum;
        stats->correct += ws->group_stats[g].correct;
        stats->clipped += ws->group_stats[g].clipped;
    }
    dp_blas_serial_end(blas);
    return 0;
}

void dp_model_mirror_mean_logits(const dp_model *model, dp_workspace *ws, const float *mirror,
                                 size_t n, float *z)
{
    memcpy(z, ws->activations[model->layer_count], n * model->class_count * sizeof *z);
    dp_model_forward(model, ws, mirror, n);
    const float *zm = ws->activations[model->layer_count];
    for (size_t j = 0; j < n * model->class_count; j++)
        z[j] = 0.5f * (z[j] + zm[j]);
}

int dp_model_evaluate(const dp_model *model, dp_workspace *ws, const float *x,
                      const float *mirror, const int32_t *y, size_t count, double *accuracy,
                      double *mean_loss, dpkit_error *err)
{
    size_t D = dp_shape_size(model->input), K = model->class_count, correct = 0;
    double loss = 0;
    if (check_labels(y, count, K, err) || dp_model_check_input(model, x, count, err) ||
        (mirror && dp_model_check_input(model, mirror, count, err)))
        return -1;
    float *z = NULL; /* with a mirror: the batch's logits at x, then their mean */
    if (mirror && !(z = malloc(ws->max_batch * K * sizeof *z)))
        return error_set(err, "evaluate: out of memory for %zu x %zu logits", ws->max_batch, K);
    for (size_t first = 0; first < count; first += ws->max_batch) {
        size_t n = count - first < ws->max_batch ? count - first : ws->max_batch;
        dp_model_forward(model, ws, x + first * D, n);
        const float *logits = ws->activations[model->layer_count];
        if (mirror) {
            dp_model_mirror_mean_logits(model, ws, mirror + first * D, n, z);
            logits = z;
        }
        softmax_cross_entropy(logits, y + first, n, K, &loss, &correct);
    }
    free(z);
    *accuracy = count ? (double)correct / (double)count : 0;
    *mean_loss = count ? loss / (double)count : 0;
    return 0;
}
