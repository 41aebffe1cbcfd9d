/* DP-SGD engine: models as a list of layers over one flat float32 parameter vector, exact
 * per-example gradient norms and clipped gradient sums without storing every per-example
 * gradient at once (dense layers: outer products; convolutions: materialised per layer or in
 * Gram form, dp/layer_conv2d.c), Poisson sampling, Gaussian noise, optimizers, the training loop and its checkpoints.
 * Semantics follow docs/maths.md section 4 (opacus 1.4.0). */
#ifndef DPKIT_DP_DP_H
#define DPKIT_DP_DP_H

#include "accountant/accountant.h"
#include "common/error.h"
#include "common/h5io.h"
#include "common/rng.h"

#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------------------------------------
 * Layers and models
 *
 * Activations are row-major (n, C, H, W) per physical batch (a flat vector is C = D, H = W = 1).
 * A layer with parameters owns the slice params[param_offset, param_offset + param_count) in
 * PyTorch's layout (linear: weight (out, in) then bias (out); conv: weight (out, in, kh, kw) then
 * bias (out)).
 *
 * The clipped sum uses two facts that hold for every layer here:
 *   - the per-example squared gradient norm is a sum over layers (each layer reports its own
 *     share, computed from its input and output gradient, docs/maths.md 4.5);
 *   - the parameter gradient is linear in the output gradient, so sum_i f_i g_i is the ordinary
 *     batch gradient of the output gradients scaled row-wise by the clip factors f_i (a layer
 *     that materialised its per-example gradients for the norms sums them instead).
 * ------------------------------------------------------------------------------------------ */

typedef enum {
    DP_LAYER_LINEAR,     /* y = x W^T + b over the flattened input */
    DP_LAYER_CONV2D,     /* square kernel, stride, zero padding, bias */
    DP_LAYER_TANH,
    DP_LAYER_RELU,
    DP_LAYER_MAXPOOL,    /* square window, stride (default the window), no padding */
    DP_LAYER_AVGPOOL,    /* square window, stride (default the window), no padding */
    DP_LAYER_GROUP_NORM, /* per example, no affine parameters, eps 1e-5 */
    DP_LAYER_FLATTEN,    /* (C, H, W) -> (C*H*W, 1, 1), values unchanged */
    DP_LAYER_EMBEDDING,  /* token ids (T, 1, 1) -> vectors (T, 1, units); first layer only */
    DP_LAYER_KIND_COUNT /* new kinds go last: the numbers are stored in model files */
} dp_layer_kind;

typedef struct dp_shape {
    size_t channels, height, width;
} dp_shape;

size_t dp_shape_size(dp_shape shape);

typedef struct dp_layer {
    dp_layer_kind kind;
    dp_shape input, output;
    size_t param_offset, param_count;
    size_t units;   /* linear: output features; conv: output channels */
    size_t kernel;  /* conv, pools: kernel size */
    size_t stride;  /* conv, pools */
    size_t padding; /* conv */
    size_t groups;  /* group norm */
    size_t vocab;   /* embedding: number of token ids */
    /* conv: per-example norms by the Gram form instead of materialised gradients, chosen at
     * creation by the cost model of dp/layer_conv2d.c */
    int ghost_norms;
} dp_layer;

/* Scratch memory a layer may use during one call: `threads` slices of the workspace scratch
 * (slice t for OpenMP thread t), and the layer's own per-example buffer `kept`
 * (max_batch x kept_floats, NULL for layers that keep nothing) that carries values from one
 * pass of dp_model_clipped_gradient to a later one: a materialising conv keeps its per-example
 * gradients from the norms to the clipped sum, a Gram-form conv keeps the Gram matrices of
 * its inputs from the forward pass to the norms, a max pooling keeps where its maxima were
 * from every forward pass to the backward pass. */
typedef struct dp_scratch {
    float *data;
    size_t threads;
    float *kept;
    int training;         /* forward: fill what the layer keeps for its norms */
    int kept_valid;       /* kept holds this batch's values from the earlier pass */
    const float *factors; /* clip factors of the batch (NULL: all 1) */
} dp_scratch;

/* What a layer kind does; one table entry per kind (dp/layer_*.c). n = examples in the batch.
 * Workspaces are per model (see dp_workspace) and sized by `scratch_floats`. */
typedef struct dp_layer_ops {
    const char *name;
    /* out (n, output) from in (n, input) */
    void (*forward)(const dp_layer *layer, const float *params, const float *in, float *out,
                    size_t n, const dp_scratch *scratch);
    /* grad_in (n, input) from grad_out (n, output); never called on the first layer */
    void (*backward_input)(const dp_layer *layer, const float *params, const float *in,
                           const float *out, const float *grad_out, float *grad_in, size_t n,
                           const dp_scratch *scratch);
    /* Layers with parameters: squared_norms[i] += ||dL_i/dtheta_layer||^2 (and, for layers
     * that keep them, the per-example gradients into scratch->kept) */
    void (*add_squared_norms)(const dp_layer *layer, const float *in, const float *grad_out,
                              size_t n, double *squared_norms, const dp_scratch *scratch);
    /* Layers with parameters: grad[param slice] += sum_i dL_i/dtheta for the given grad_out
     * (already scaled by the clip factors); a layer whose scratch->kept_valid is set may
     * instead sum its kept gradients weighted by scratch->factors, or (applies_factors) weigh
     * each example's term by them. */
    void (*add_param_gradient)(const dp_layer *layer, const float *in, const float *grad_out,
                               size_t n, float *grad, const dp_scratch *scratch);
    /* floats of scratch per OpenMP thread (NULL: none) */
    size_t (*scratch_floats)(const dp_layer *layer);
    /* floats kept per example between passes (NULL: none; see dp_scratch) */
    size_t (*kept_floats)(const dp_layer *layer);
    /* element-wise layers: forward and backward_input also work with out == in and
     * grad_in == grad_out, so the workspace may give them their input's buffers */
    int in_place;
    /* backward_input reads the layer's own output (then no in-place layer may overwrite it) */
    int reads_output;
    /* add_param_gradient with scratch->kept_valid applies scratch->factors itself (the
     * output gradient it gets is not scaled) */
    int applies_factors;
} dp_layer_ops;

const dp_layer_ops *dp_layer_ops_of(dp_layer_kind kind);
/* "linear", "conv2d", "tanh", "relu", "maxpool", "avgpool", "group-norm", "flatten",
 * "embedding"; -1 otherwise. */
int dp_layer_kind_parse(const char *text, dp_layer_kind *kind, dpkit_error *err);
const char *dp_layer_kind_name(dp_layer_kind kind);

/* What the user asks for; shapes and parameter offsets are worked out by dp_model_create. */
typedef struct dp_layer_spec {
    dp_layer_kind kind;
    size_t units, kernel, stride, padding, groups, vocab;
} dp_layer_spec;

/* Named architectures of Tramer & Boneh (2021), as layer lists for dp_model_create:
 *   "mnist-cnn"     end-to-end CNN for 1x28x28 (MNIST, Fashion-MNIST)
 *   "cifar10-cnn"   end-to-end CNN for 3x32x32
 *   "scatter-cnn-mnist"    CNN on 81x7x7 ScatterNet features
 *   "scatter-cnn-cifar10"  CNN on 243x8x8 ScatterNet features
 * The input normalisation of the ScatterNet models is the feature pipeline's
 * (features.normalize), not a layer. *count is set to the number of layers; specs needs
 * DP_PRESET_MAX_LAYERS entries. */
enum { DP_PRESET_MAX_LAYERS = 32 };
int dp_model_preset(const char *name, dp_layer_spec *specs, size_t *count, dpkit_error *err);
extern const char *const dp_model_preset_names[]; /* NULL-terminated */

typedef struct dp_model {
    dp_shape input;
    size_t class_count;
    size_t layer_count;
    dp_layer *layers;
    size_t param_count;
    float *params;
} dp_model;

/* Builds the model, checking that every layer fits the shape before it and that the last one
 * outputs class_count values. Parameters are zero; see dp_model_init. */
int dp_model_create(dp_shape input, size_t class_count, const dp_layer_spec *specs,
                    size_t spec_count, dp_model *model, dpkit_error *err);
void dp_model_free(dp_model *model);
/* PyTorch's default initialisation (uniform in +-1/sqrt(fan_in) for weights and biases;
 * embeddings N(0, 1)), from `r` (stream RNG_STREAM_INIT). zero_last: the last linear layer starts at zero (the usual
 * choice for the linear model on features). */
void dp_model_init(dp_model *model, rng *r, int zero_last);
/* One line per layer ("linear 15552 -> 10, 155530 parameters"). */
int dp_model_describe(const dp_model *model, char *text, size_t size);

/* Buffers for physical batches of up to max_batch examples (activations and their gradients
 * for every layer, scratch), in one block of huge pages (first-touch page faults of many small
 * pages cost more than a step). Allocated once; nothing is allocated while training. An
 * in-place layer (dp_layer_ops.in_place) shares its input's activation and gradient arrays:
 * activations[l + 1] == activations[l] then. */
typedef struct dp_workspace {
    size_t max_batch;
    size_t layer_count;
    float **activations; /* layer_count + 1 arrays; activations[0] is the input */
    float **gradients;   /* layer_count + 1 arrays; gradients[l] = dL/d activations[l] */
    float *scratch;
    size_t scratch_size;
    size_t threads;      /* OpenMP threads the scratch has slices for */
    float **kept;        /* layer_count arrays (NULL for layers that keep nothing) */
    float *block;        /* the one allocation the arrays above point into */
    double *squared_norms;
    float *factors;
    /* the batch split into at most `groups` groups of examples (dp/model_step.c): each
     * group's parameter gradient sum (param_stride floats apart), loss and counts */
    size_t groups;
    float *group_grads;
    size_t param_stride;
    struct dp_batch_stats *group_stats;
    /* single linear layer models: per-thread row blocks and gradient sums */
    float *rows_scratch;
    size_t rows_stride;
    int rows_threads;
} dp_workspace;

int dp_workspace_create(const dp_model *model, size_t max_batch, dp_workspace *ws,
                        dpkit_error *err);
void dp_workspace_free(dp_workspace *ws);

/* Result of a batch: summed loss and correct predictions (for diagnostics), per-example norms. */
typedef struct dp_batch_stats {
    double loss_sum;
    size_t correct;
    size_t clipped; /* examples whose norm exceeded the clip norm */
} dp_batch_stats;

/* Logits (n, class_count) of a batch; n <= ws->max_batch. Written to ws->activations[L].
 * A model starting with an embedding needs token ids in 0..vocab-1 (see dp_model_check_input). */
void dp_model_forward(const dp_model *model, dp_workspace *ws, const float *x, size_t n);
/* Checks inputs the first layer cannot take (embedding: ids that are not integers below the
 * vocabulary size); 0 for other models. */
int dp_model_check_input(const dp_model *model, const float *x, size_t n, dpkit_error *err);

/* For a physical batch x (n, input) with labels y: cross-entropy per example (natural log), the
 * per-example gradient norms over all parameters (norms, n values, may be NULL), and
 *   grad += sum_i min(1, clip_norm / norm_i) g_i      (clip_norm > 0)
 *   grad += sum_i g_i                                  (clip_norm <= 0: no clipping)
 * grad has param_count floats. Per-example gradients are formed only for convolutions whose
 * cost model prefers it (dp/layer_conv2d.c), one layer's worth per example. */
int dp_model_clipped_gradient(const dp_model *model, dp_workspace *ws, const float *x,
                              const int32_t *y, size_t n, double clip_norm, float *grad,
                              double *norms, dp_batch_stats *stats, dpkit_error *err);
/* The same with augmentation multiplicity (docs/maths.md 4.17): x and y hold n examples of
 * `copies` (1..DP_AUGMENT_MAX_COPIES) adjacent rows each, n * copies <= ws->max_batch, the
 * copies of an example sharing its label; g_i is the mean of example i's copies' gradients
 * (formed whole, one example at a time), and norms (n values) its norm. Loss and accuracy are
 * the originals' (copy 0). copies 1 is dp_model_clipped_gradient. */
int dp_model_clipped_gradient_copies(const dp_model *model, dp_workspace *ws, const float *x,
                                     const int32_t *y, size_t n, size_t copies,
                                     double clip_norm, float *grad, double *norms,
                                     dp_batch_stats *stats, dpkit_error *err);

typedef struct dp_data {
    const float *x;   /* (count, input size) */
    const int32_t *y; /* (count) */
    size_t count;
    /* Optional, training data only: rows made on demand instead of read from x (x may then be
     * NULL), for inputs too large to hold, e.g. one-hot text windows. Writes row `index`
     * (input size floats) to out; called from several threads at once. */
    void (*row)(const void *user, size_t index, float *out);
    const void *row_user;
    /* Data-parallel training (docs/mpi.md): these rows are the examples first..first+count-1
     * of the `total` the ranks hold together; total 0 means count (all of them). */
    size_t first, total;
    /* Optional, training data only: augmentation multiplicity (docs/maths.md 4.17).
     * copies > 1: example i also has the rows i of copy_x[0..copies-2] (each laid out like x),
     * whose gradients are averaged with x's before clipping. 0 or 1: none. */
    size_t copies;
    const float *const *copy_x;
    /* Optional, evaluation data only: the rows of the examples' mirror images, laid out like
     * x (model.mirror_average, docs/maths.md 4.18). NULL: none. */
    const float *mirror_x;
} dp_data;

/* The most copies dp_data.copies may name (training.augment_multiplicity). */
enum { DP_AUGMENT_MAX_COPIES = 16 };

/* 1 when the model is one linear layer (a linear softmax classifier on the features). */
int dp_model_is_single_linear(const dp_model *model);

/* For a single linear layer model: the same clipped sum as dp_model_clipped_gradient over the
 * n rows data->x[indices[i]] (grad += sum_i min(1, C / norm_i) g_i, C = clip_norm; no clipping
 * when clip_norm <= 0), without copying the batch: every thread takes blocks of rows that stay
 * in cache, so each row is read from memory once. Any n; memory does not grow with n. */
int dp_linear_rows_clipped_gradient(const dp_model *model, dp_workspace *ws,
                                    const dp_data *data, const size_t *indices, size_t n,
                                    double clip_norm, float *grad, dp_batch_stats *stats,
                                    dpkit_error *err);

/* Softmax cross-entropy of one row of logits z (K): adds the loss, writes softmax - onehot into
 * grad (may be z itself, or NULL); 1 when the argmax is the label. */
int dp_softmax_cross_entropy_row(const float *z, int32_t label, size_t K, float *grad,
                                 double *loss);

/* grad_x (n, input) = (d logits / d x)^T grad_logits (n, class_count) for the batch x of the
 * last dp_model_forward on ws (dp/model_input_grad.c). The gradient of any function of the
 * logits (cross-entropy, a margin) with respect to the input, for attacks and certificates.
 * Models starting with an embedding have no input gradient (an error). */
int dp_model_input_gradient(const dp_model *model, dp_workspace *ws, const float *x, size_t n,
                            const float *grad_logits, float *grad_x, dpkit_error *err);

/* ---------------------------------------------------------------------------------------------
 * Attacks on a model's input (dp/classifier.c, dp/pgd.c; docs/maths.md 12.1): a model seen as
 * a classifier with input gradients, and projected gradient descent, which adversarial
 * training runs on each batch and robust/ builds on.
 * ------------------------------------------------------------------------------------------ */

typedef struct dp_classifier {
    size_t input_size, class_count;
    size_t max_batch; /* largest n the two calls take */
    /* logits (n, class_count) of the inputs x (n, input_size) */
    int (*logits)(void *user, const float *x, size_t n, float *logits, dpkit_error *err);
    /* grad_x (n, input_size) = (d logits / d x)^T grad_logits (n, class_count) at x */
    int (*input_gradient)(void *user, const float *x, size_t n, const float *grad_logits,
                          float *grad_x, dpkit_error *err);
    void *user;
} dp_classifier;

/* A dp model on its own input (pixels for a CNN, features for a linear model on features).
 * The classifier points at `model` (which must outlive it); ws->max_batch is its batch limit. */
typedef struct dp_model_classifier {
    const dp_model *model;
    dp_workspace *ws;
} dp_model_classifier;
void dp_classifier_of_model(dp_model_classifier *model, dp_classifier *out);

typedef enum { DP_ATTACK_LINF, DP_ATTACK_L2 } dp_attack_norm;

typedef struct dp_pgd_config {
    dp_attack_norm norm;
    double epsilon;       /* radius of the perturbation set {||delta|| <= epsilon} */
    double step;          /* step size alpha */
    int steps;            /* iterations (>= 0) */
    int random_start;     /* 1: start at a uniform point of the ball (L-inf: of the cube) */
    double lower, upper;  /* valid input range, e.g. pixels 0 and 1 */
    uint64_t seed;        /* of the random start; the attack is deterministic given it */
    int margin_loss;      /* 1: ascend max_{j != y} Z_j - Z_y instead of the cross-entropy */
} dp_pgd_config;

/* Checks a configuration (finite, epsilon >= 0, step > 0, steps >= 0, lower < upper). */
int dp_pgd_check(const dp_pgd_config *config, dpkit_error *err);

/* x_adv (n, D): the last PGD iterate from x (n, D), which ascends the cross-entropy of the
 * labels y (or the margin) within the perturbation set and the input range; fooled[i] = 1 when the model
 * misclassifies x_adv[i] (fooled may be NULL). Batches of the classifier's max_batch. */
int dp_pgd(const dp_classifier *classifier, const dp_pgd_config *config, const float *x,
           const int32_t *y, size_t n, float *x_adv, uint8_t *fooled, dpkit_error *err);

/* The loop of every projected attack, for any loss of the classifier's outputs: from the
 * starts (dp_pgd_start) it steps along the input gradient of the loss (ascent 1) or against
 * it (ascent 0) and projects, config->steps times; x_adv (n, D) is the last iterate. loss
 * writes dL/dz (m, class_count) for inputs first..first+m-1 given their outputs z, and is
 * called once more at the last iterate with grad NULL (to record what the caller keeps). */
typedef int (*dp_attack_loss)(void *user, size_t first, size_t m, const float *z, float *grad,
                              dpkit_error *err);
int dp_attack_run(const dp_classifier *classifier, const dp_pgd_config *config, const float *x,
                  size_t n, dp_attack_loss loss, void *user, int ascent, float *x_adv,
                  dpkit_error *err);
/* x (D) back into the ball of radius epsilon around x0, then into [lower, upper]. */
void dp_pgd_project(const dp_pgd_config *config, const float *x0, float *x, size_t D);
/* x += step sign(g) (L-inf) or step g / ||g||_2 (L2; no move where g = 0). */
void dp_pgd_step(const dp_pgd_config *config, const float *g, float *x, size_t D);
/* The starts x (n, D) of an attack from x0 (n, D): x0 itself, or with config->random_start a
 * uniform point of the cube (L-inf) or of the ball (L2: a Gaussian direction at radius
 * epsilon U^(1/D)), projected. */
void dp_pgd_start(const dp_pgd_config *config, rng *r, const float *x0, float *x, size_t n,
                  size_t D);
/* The index of the first largest of z[0..K). */
size_t dp_argmax(const float *z, size_t K);

/* Accuracy and mean loss over a whole split, in batches of ws->max_batch. mirror (NULL: none)
 * holds the rows of the same examples' mirror images: the logits are then the mean of the
 * model's at x and at mirror (model.mirror_average, docs/maths.md 4.18). */
int dp_model_evaluate(const dp_model *model, dp_workspace *ws, const float *x,
                      const float *mirror, const int32_t *y, size_t count, double *accuracy,
                      double *mean_loss, dpkit_error *err);
/* z = the mean of the n rows of logits the last forward pass left in ws and the logits at the
 * rows mirror (n <= ws->max_batch); z (n, classes) must not be ws's. */
void dp_model_mirror_mean_logits(const dp_model *model, dp_workspace *ws, const float *mirror,
                                 size_t n, float *z);

/* ---------------------------------------------------------------------------------------------
 * Sampling, noise, optimizers
 * ------------------------------------------------------------------------------------------ */

/* Poisson sampling (docs/maths.md 4.2): one uniform per example, example i taken when u_i < q;
 * indices ascending. Returns the batch size (0 is a valid batch). indices needs count entries. */
size_t dp_poisson_sample(rng *sampler, size_t count, double rate, size_t *indices);
/* The same decisions for the examples first..first+count-1 of `total` only (one rank's shard,
 * docs/maths.md 4.12): the uniform of example i is read at its own stream position, so every
 * shard sees the decisions one process would draw, and the sampler ends where one process's
 * would. indices are shard-local (0..count-1), ascending; indices needs count entries. */
size_t dp_poisson_sample_shard(rng *sampler, size_t total, size_t first, size_t count,
                               double rate, size_t *indices);

/* Random allocation (docs/maths.md 4.2, 2.12): each of the `total` examples is placed in one of
 * `steps` steps, uniformly and independently (one rng_below per example, all ranks drawing
 * all of them); for this rank's rows first..first+count-1, step s's shard-local indices are
 * order[start[s]] .. order[start[s+1] - 1], ascending. step_of: count entries of scratch;
 * start: steps + 1 entries. */
void dp_random_allocation(rng *sampler, size_t total, size_t first, size_t count,
                          long long steps, size_t *step_of, size_t *order, size_t *start);
/* grad[j] += N(0, (noise_multiplier * clip_norm)^2) for j < n, secure sampler (docs/maths.md 4.8). */
void dp_add_noise(rng *noise, float *grad, size_t n, double noise_multiplier, double clip_norm);
/* The values first..first+count-1 of the n that dp_add_noise would add, added to those entries
 * only (one rank's slice of the noise, docs/maths.md 4.12); the generator ends where
 * dp_add_noise's would. */
void dp_add_noise_slice(rng *noise, float *grad, size_t n, size_t first, size_t count,
                        double noise_multiplier, double clip_norm);

typedef enum { DP_OPTIMIZER_SGD, DP_OPTIMIZER_ADAM } dp_optimizer_kind;

typedef struct dp_optimizer_config {
    dp_optimizer_kind kind;
    double lr;
    double momentum;   /* SGD */
    int nesterov;      /* SGD */
    double weight_decay;
    double beta1, beta2, adam_epsilon; /* Adam */
    /* > 0: keep an exponential moving average of the iterates with this decay (warmed up as
     * min(decay, (1 + t) / (10 + t)) at step t), released instead of the last iterate; a
     * post-processing of the noised iterates, free in privacy (docs/maths.md 4.16). */
    double average_decay;
} dp_optimizer_config;

void dp_optimizer_config_default(dp_optimizer_config *config);
int dp_optimizer_kind_parse(const char *text, dp_optimizer_kind *kind, dpkit_error *err);

typedef struct dp_optimizer {
    dp_optimizer_config config;
    size_t size;
    long long steps;
    float *state1; /* SGD: momentum buffer; Adam: first moment */
    float *state2; /* Adam: second moment */
    float *average; /* config.average_decay > 0: the moving average of the parameters */
} dp_optimizer;

int dp_optimizer_create(const dp_optimizer_config *config, size_t size, dp_optimizer *opt,
                        dpkit_error *err);
void dp_optimizer_free(dp_optimizer *opt);
/* PyTorch's torch.optim.SGD / Adam update of params with gradient grad, then the update of the
 * moving average, if any. */
void dp_optimizer_step(dp_optimizer *opt, float *params, const float *grad);
/* Exchanges params with the moving average (nothing without one): called twice, it restores
 * both. The per-epoch test accuracy is measured on the average this way. */
void dp_optimizer_swap_average(dp_optimizer *opt, float *params);

/* ---------------------------------------------------------------------------------------------
 * Training
 * ------------------------------------------------------------------------------------------ */


/* White-box audit canaries (Steinke, Nasr & Jagielski 2023; docs/maths.md 6b): `count` fixed
 * directions in parameter space (count x param_count, each of norm clip_norm). An included
 * canary is Poisson-sampled like an example (rate q, drawn from the sampling stream after the
 * examples) and, when sampled, its direction is added to the clipped sum before the noise, as a
 * worst-case clipped gradient would be. NULL in normal training. */
typedef struct dp_gradient_canaries {
    size_t count;
    const float *directions;
    const uint8_t *included; /* count flags */
    /* directions NULL: Dirac canaries on coordinates of their own (docs/maths.md 6d). Canary j
     * adds C to an extra coordinate P + j that no example's gradient touches, the noise covers
     * those coordinates too (after the model's), and each step's noised value divided by C is
     * written to observed[step * count + j] for steps below observed_steps: the white-box view
     * of every iterate. The model's own training is unchanged. */
    double *observed;
    long long observed_steps;
} dp_gradient_canaries;

/* Deliberately broken DP-SGD, only for checking that the audits catch it (audit/trainer.c):
 * per-example gradients not clipped (the noise still scales with C), or fixed-size batches of a
 * shuffle per epoch (every example and canary in exactly one step) while the ledger records
 * Poisson sampling. */
typedef enum { DP_FAULT_NONE, DP_FAULT_NO_CLIPPING, DP_FAULT_SHUFFLED_BATCHES } dp_fault;

/* Adversarial training of a model on features (docs/maths.md 12.6): make() writes the model
 * inputs (n, input size) of training rows rows[i] (shard-local, labels y) from PGD `config` on
 * their images against the current model; set up by the driver (dp/feature_chain.h). */
typedef struct dp_adversarial_inputs {
    int (*make)(void *user, const dp_pgd_config *config, const size_t *rows, const int32_t *y,
                size_t n, float *inputs, dpkit_error *err);
    void *user;
} dp_adversarial_inputs;

typedef struct dp_train_config {
    int private_mode;         /* 0: plain SGD (no clipping, no noise, nothing recorded) */
    double clip_norm;         /* C */
    double noise_multiplier;  /* sigma */
    size_t batch_size;        /* expected batch size B; q = B / N */
    size_t physical_batch;    /* examples per forward/backward pass (memory bound) */
    int epochs;               /* steps per epoch = floor(N / B) (= int(1/q)) */
    double target_epsilon;    /* > 0: refuse any step that would exceed it */
    double delta;
    accountant_options accountant;
    const dp_gradient_canaries *canaries; /* audits only; NULL otherwise */
    dp_fault fault;                       /* audits only; DP_FAULT_NONE otherwise */
    /* audits only: the N of q = B / N and of the steps per epoch, the same for the runs with and
     * without a target (add/remove with the size public, docs/maths.md 6g); 0: the data's */
    size_t rate_count;
    int no_epoch_epsilon; /* audits only: 1 leaves state.epsilon at +inf after each epoch (the
                           * caller accounts once at the end) */
    /* Adversarial training (docs/maths.md 12.6): each physical batch's inputs are replaced by
     * PGD examples on the current model before its clipped gradient; NULL otherwise. */
    const struct dp_pgd_config *adversarial;
    /* With adversarial, for a model on features: its PGD runs on the images (NULL: on the
     * model's own input). */
    const dp_adversarial_inputs *adversarial_inputs;
    /* Gaussian noise of this standard deviation on every input before its gradient (training
     * for randomized smoothing, docs/maths.md 12.6); 0: none. */
    double input_noise;
    uint64_t augment_seed; /* public randomness of the two above (with the step) */
    long long adversarial_ramp; /* steps over which the radius (and step size) grow linearly
                                   from 0 to their values; 0: full from the start */
} dp_train_config;

/* Everything that changes while training; saved in checkpoints. */
typedef struct dp_train_state {
    int epoch;           /* epochs completed */
    long long step;      /* steps completed */
    rng sampler;         /* RNG_STREAM_SAMPLING */
    rng noise;           /* RNG_STREAM_NOISE */
    dp_optimizer optimizer;
    accountant_ledger ledger;
    double epsilon;      /* spent so far (ledger at delta) */
    double seconds;      /* training time so far */
    int budget_exhausted;
} dp_train_state;

typedef struct dp_epoch_metrics {
    int epoch;
    double train_loss, train_accuracy; /* over the examples of this epoch's batches */
    double test_loss, test_accuracy;
    double epsilon;
    double seconds;
    long long steps;
    size_t clipped, seen;
} dp_epoch_metrics;

/* Steps in one epoch: floor(N / B), at least 1. */
long long dp_steps_per_epoch(size_t count, size_t batch_size);
/* The sampling rate the accountant records: B/N for Poisson, 1/floor(N/B) for random
 * allocation (config->accountant.sampler). */
double dp_sampling_rate(const dp_train_config *config, size_t count);

/* Runs one epoch of DP-SGD (or plain SGD): for each step, Poisson batch, physical batches,
 * clipped sum, noise, division by qN, optimizer step, one ledger record. Stops early (and sets
 * state->budget_exhausted) before a step that would take epsilon past target_epsilon.
 * `test` may have count 0. */
int dp_train_epoch(dp_model *model, dp_workspace *ws, const dp_train_config *config,
                   dp_train_state *state, const dp_data *train, const dp_data *test,
                   dp_epoch_metrics *metrics, dpkit_error *err);

/* sigma for config->target_epsilon over the planned epochs on `count` examples after the prior
 * events (e.g. private normalisation), on the safe side; nothing to do when not private or when
 * a noise multiplier is given. Sets config->noise_multiplier. */
int dp_calibrate_noise(dp_train_config *config, size_t count, const accountant_ledger *prior,
                       dpkit_error *err);
/* Refuses a given noise multiplier (field names where it came from) that is not finite, or that
 * would spend epsilon = +inf over the planned epochs after the prior events. dp_calibrate_noise
 * calls it for a noise multiplier set in the config. */
int dp_check_noise(const dp_train_config *config, size_t count, const accountant_ledger *prior,
                   const char *field, dpkit_error *err);

/* Called after each epoch with its metrics (e.g. to write a checkpoint); non-zero stops. */
typedef int (*dp_epoch_hook)(void *user, const dp_epoch_metrics *metrics, dpkit_error *err);

/* The one epoch loop of dpkit: epochs of dp_train_epoch until config->epochs, the privacy budget
 * or max_epochs epochs in this call (max_epochs > 0). A run whose first epoch takes no step is
 * an error (nothing was learnt). last receives the last epoch's metrics; epochs_run (may be
 * NULL) the epochs run in this call. test may be NULL. When the training is finished and the
 * optimizer keeps a moving average, model->params receive the average (the released model). */
int dp_train_epochs(dp_model *model, dp_workspace *ws, const dp_train_config *config,
                    dp_train_state *state, const dp_data *train, const dp_data *test,
                    int max_epochs, dp_epoch_hook hook, void *user, dp_epoch_metrics *last,
                    int *epochs_run, dpkit_error *err);

/* Checkpoint = parameters, optimizer state, ledger, the sampling/noise key (group/rng/key: one
 * key for both, so the file is secret) and positions, counters, under `group` of an open HDF5
 * file. Loading checks the model size and re-keys both streams from the file. */
int dp_train_state_save(const dp_model *model, const dp_train_state *state, h5io_file *file,
                        const char *group, dpkit_error *err);
int dp_train_state_load(dp_model *model, dp_train_state *state, h5io_file *file,
                        const char *group, dpkit_error *err);
/* After loading: the epoch, step and sampler position are possible for this configuration and
 * training set size (errors name the file `path`, the group and the attribute). */
int dp_train_state_check(const dp_train_state *state, const dp_train_config *config,
                         size_t train_count, const char *path, const char *group,
                         dpkit_error *err);

/* Model weights with their layer layout under `group`: one dataset per parameter tensor
 * ("0.linear.weight", ...) plus attributes describing each layer; dp_model_load rebuilds it. */
int dp_model_save_h5(const dp_model *model, h5io_file *file, const char *group, dpkit_error *err);
int dp_model_load_h5(dp_model *model, h5io_file *file, const char *group, dpkit_error *err);

#endif
