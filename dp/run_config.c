/* Schema and translation of the training config (docs/config.md lists the keys). */
#include "dp/run_config.h"

#include "common/log.h"
#include "common/parallel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const config_field layer_schema[] = {
    {"kind", CONFIG_ENUM, NULL, "layer kind", "linear|conv2d|tanh|relu|maxpool|avgpool|group-norm|flatten|embedding", NULL},
    {"units", CONFIG_INT, "0", "linear: outputs; conv2d: output channels; embedding: vector size", "0..1000000", NULL},
    {"kernel", CONFIG_INT, "0", "conv2d, pools: kernel size", "0..1000000", NULL},
    {"stride", CONFIG_INT, "0", "conv2d: stride (default 1); pools: default the kernel", "0..1000000", NULL},
    {"padding", CONFIG_INT, "0", "conv2d: zero padding", "0..1000000", NULL},
    {"groups", CONFIG_INT, "0", "group-norm: number of groups", "0..1000000", NULL},
    {"vocab", CONFIG_INT, "0", "embedding: number of token ids", "0..1000000", NULL},
    {0}};

const config_field run_config_schema_privacy[] = {
    {"privacy.enabled", CONFIG_BOOL, "true", "false: plain SGD baseline (no clipping, no noise)", NULL, NULL},
    {"privacy.epsilon", CONFIG_DOUBLE, "0", "target epsilon (calibrates the noise; also a hard budget); 0: none", "0..1e6", NULL},
    {"privacy.delta", CONFIG_DOUBLE, "1e-5", "delta", "0..1", NULL},
    {"privacy.noise_multiplier", CONFIG_DOUBLE, "0", "sigma; 0: calibrated from privacy.epsilon", "0..1e6", NULL},
    {"privacy.max_grad_norm", CONFIG_DOUBLE, "0.1", "clip norm C of each example's gradient", "0..1e12", NULL},
    {"privacy.reproducible_noise", CONFIG_BOOL, "false", "true: key the noise, sampling and private-normalisation streams from the seed (reproducible, NOT private against anyone holding the config); false: a secret key from the OS", NULL, NULL},
    {"privacy.accountant", CONFIG_ENUM, "rdp", "privacy accountant", "rdp|pld", NULL},
    {"privacy.conversion", CONFIG_ENUM, "improved", "RDP to (epsilon, delta) conversion", "improved|classic", NULL},
    {0}};

const config_field run_config_schema_training[] = {
    {"training.epochs", CONFIG_INT, "40", "epochs (floor(N/B) steps each)", "1..100000", NULL},
    {"training.batch_size", CONFIG_INT, "512", "expected batch size B (Poisson rate B/N)", "1..1099511627776", NULL},
    {"training.sampler", CONFIG_ENUM, "poisson", "how batches are drawn: poisson (each example with probability B/N per step) or random-allocation (each example in exactly one of the floor(N/B) steps of each epoch; RDP accountant only)", "poisson|random-allocation", NULL},
    {"training.physical_batch", CONFIG_INT, "512", "examples per forward/backward pass (memory)", "1..1048576", NULL},
    {"training.optimizer.kind", CONFIG_ENUM, "sgd", "optimizer", "sgd|adam", NULL},
    {"training.optimizer.lr", CONFIG_DOUBLE, "0.1", "learning rate", "0..1e6", NULL},
    {"training.optimizer.momentum", CONFIG_DOUBLE, "0", "SGD momentum", "0..1", NULL},
    {"training.optimizer.nesterov", CONFIG_BOOL, "false", "SGD: Nesterov momentum", NULL, NULL},
    {"training.optimizer.weight_decay", CONFIG_DOUBLE, "0", "L2 penalty added to the gradient", "0..1e6", NULL},
    {"training.optimizer.beta1", CONFIG_DOUBLE, "0.9", "Adam beta1", "0..1", NULL},
    {"training.optimizer.beta2", CONFIG_DOUBLE, "0.999", "Adam beta2", "0..1", NULL},
    {"training.optimizer.eps", CONFIG_DOUBLE, "1e-8", "Adam epsilon", "0..1", NULL},
    {"training.average_decay", CONFIG_DOUBLE, "0", "> 0: release the exponential moving average of the iterates with this decay (below 1, warmed up as min(decay, (1+t)/(10+t)) at step t; free in privacy); 0: the last iterate", "0..1", NULL},
    {"training.adversarial.norm", CONFIG_ENUM, "none", "adversarial training: PGD examples (on the pixels in [0, 1], through the features for a model on features) replace each batch's inputs", "none|linf|l2", NULL},
    {"training.adversarial.epsilon", CONFIG_DOUBLE, "0.3", "adversarial training: radius of the perturbation set", "0..1e6", NULL},
    {"training.adversarial.steps", CONFIG_INT, "7", "adversarial training: PGD steps per batch", "1..100000", NULL},
    {"training.adversarial.step", CONFIG_DOUBLE, "0.1", "adversarial training: PGD step size", "0..1e6", NULL},
    {"training.adversarial.random_start", CONFIG_BOOL, "true", "adversarial training: PGD starts at a random point of the set", NULL, NULL},
    {"training.adversarial.ramp_steps", CONFIG_INT, "0", "adversarial training: steps over which the radius grows from 0 to its value", "0..1000000000", NULL},
    {"training.augment_multiplicity", CONFIG_INT, "1", "augmentation multiplicity: each example's clipped gradient is the average over this many copies of it, the original and augmented ones (scatter or raw features; docs/maths.md 4.17); 1: none", "1..16", NULL},
    {"training.augment_shift", CONFIG_INT, "2", "augmentation multiplicity: largest translation of a copy in pixels along each axis (zero fill; drawn from the seed)", "0..8", NULL},
    {"training.augment_rotate", CONFIG_DOUBLE, "0", "augmentation multiplicity: largest rotation of a copy in degrees about the image's centre (bilinear, zero fill; drawn from the seed)", "0..180", NULL},
    {"training.augment_flip", CONFIG_BOOL, "false", "augmentation multiplicity: every odd copy is also flipped left-right (2 copies, shift 0: the image and its mirror)", NULL, NULL},
    {"training.input_noise", CONFIG_DOUBLE, "0", "Gaussian noise (standard deviation) on every training input, for randomized smoothing (raw pixels in [0, 1])", "0..1e6", NULL},
    {0}};

const config_field run_config_schema_output[] = {
    {"output.dir", CONFIG_STRING, "", "run directory (default runs/<name>)", NULL, NULL},
    {0}};

const config_field run_config_schema[] = {
    {"name", CONFIG_STRING, "run", "name of the experiment", NULL, NULL},
    {"seed", CONFIG_INT, "0", "seed of the public randomness: initialisation, canaries, splits, evaluation order; never of the noise or the batches (their keys come from the OS unless privacy.reproducible_noise)", "0..9223372036854775807", NULL},
    {"data.dataset", CONFIG_STRING, NULL, "mnist | fashion-mnist | cifar10 | hdf5:PATH | synthetic", NULL, NULL},
    {"features.extractor", CONFIG_ENUM, "scatter", "feature extractor", "raw|scatter|hog", NULL},
    {"features.image_norm", CONFIG_ENUM, "auto", "pixel standardisation (auto: imagenet for RGB)", "auto|none|imagenet", NULL},
    {"features.scatter.J", CONFIG_INT, "2", "scattering scales", "1..8", NULL},
    {"features.scatter.L", CONFIG_INT, "8", "scattering angles", "1..32", NULL},
    {"features.scatter.max_order", CONFIG_INT, "2", "scattering order (1 or 2)", "1..2", NULL},
    {"features.hog.orientations", CONFIG_INT, "9", "HOG orientation bins", "1..360", NULL},
    {"features.hog.cell", CONFIG_INT, "7", "HOG cell size in pixels", "1..1024", NULL},
    {"features.hog.block", CONFIG_INT, "2", "HOG block size in cells", "1..64", NULL},
    {"features.hog.block_norm", CONFIG_ENUM, "L2-Hys", "HOG block normalisation", "L1|L1-sqrt|L2|L2-Hys", NULL},
    {"features.normalize.kind", CONFIG_ENUM, "none", "feature normalisation", "none|group-norm|private-bn", NULL},
    {"features.normalize.groups", CONFIG_INT, "27", "group-norm: groups (divides the channels)", "1..1048576", NULL},
    {"features.normalize.noise_multiplier", CONFIG_DOUBLE, "8", "private-bn: sigma_bn", "0..1e6", NULL},
    {"features.normalize.clip", CONFIG_DOUBLE, "1", "private-bn: L2 bound per example (data-independent)", "1e-12..1e12", NULL},
    {"model.kind", CONFIG_ENUM, "linear", "linear (softmax regression) or a list of layers", "linear|cnn|mlp", NULL},
    {"model.layers", CONFIG_LIST, "[]", "cnn/mlp: layers in order; the last outputs one value per class", NULL, layer_schema},
    {"model.preset", CONFIG_STRING, "", "cnn: a named architecture instead of layers (mnist-cnn, cifar10-cnn, scatter-cnn-mnist, scatter-cnn-cifar10)", NULL, NULL},
    {"model.mirror_average", CONFIG_BOOL, "false", "true: the classifier's logits are the mean of the model's at the image and at its left-right mirror (post-processing, no privacy cost)", NULL, NULL},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_privacy},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_training},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_output},
    {0}};

/* An error from another module about `key`, prefixed with where the key's value came from. */
static int at_key(const config *c, const char *key, dpkit_error *err)
{
    char where[1024];
    config_where(c, key, where, sizeof where);
    return error_prefix(err, "%s: %s", where, key);
}

/* model.preset: the named architecture's layers. */
static int read_preset(run_config *rc, const char *name, dpkit_error *err)
{
    if (strcmp(rc->model_kind, "cnn") != 0)
        return config_error(rc->cfg, "model.preset", err, "'%s' needs model.kind cnn, not %s", name,
                            rc->model_kind);
    if (config_list_length(rc->cfg, "model.layers") != 0)
        return config_error(rc->cfg, "model.preset", err, "'%s' and model.layers are both set; keep "
                                                     "one", name);
    rc->layers = calloc(DP_PRESET_MAX_LAYERS, sizeof *rc->layers);
    if (!rc->layers)
        return error_set(err, "model.preset: out of memory");
    if (dp_model_preset(name, rc->layers, &rc->layer_count, err))
        return at_key(rc->cfg, "model.preset", err);
    return 0;
}

static int read_layers(run_config *rc, dpkit_error *err)
{
    size_t n = config_list_length(rc->cfg, "model.layers");
    const char *preset = config_get_string(rc->cfg, "model.preset");
    if (strcmp(rc->model_kind, "linear") == 0) {
        if (n || preset[0])
            return config_error(rc->cfg, n ? "model.layers" : "model.preset", err,
                                "set, but model.kind is linear (expected cnn or mlp)");
        return 0;
    }
    if (preset[0])
        return read_preset(rc, preset, err);
    if (n == 0)
        return config_error(rc->cfg, "model.kind", err, "%s needs a list of layers in model.layers "
                                                   "(or, for cnn, model.preset)", rc->model_kind);
    rc->layers = calloc(n, sizeof *rc->layers);
    if (!rc->layers)
        return error_set(err, "model.layers: out of memory");
    rc->layer_count = n;
    for (size_t i = 0; i < n; i++) {
        const config *item = config_list_item(rc->cfg, "model.layers", i);
        dp_layer_spec *s = &rc->layers[i];
        char key[64];
        snprintf(key, sizeof key, "model.layers[%zu].kind", i);
        if (dp_layer_kind_parse(config_get_string(item, "kind"), &s->kind, err))
            return at_key(rc->cfg, key, err);
        /* the schema bounds each of these to 0..1000000 */
        s->units = (size_t)config_get_int(item, "units");
        s->kernel = (size_t)config_get_int(item, "kernel");
        s->stride = (size_t)config_get_int(item, "stride");
        s->padding = (size_t)config_get_int(item, "padding");
        s->groups = (size_t)config_get_int(item, "groups");
        s->vocab = (size_t)config_get_int(item, "vocab");
        /* an mlp is dense layers (and activations, flatten, group norm, an embedding) only */
        if (strcmp(rc->model_kind, "mlp") == 0 &&
            (s->kind == DP_LAYER_CONV2D || s->kind == DP_LAYER_MAXPOOL ||
             s->kind == DP_LAYER_AVGPOOL))
            return config_error(rc->cfg, key, err, "%s is not allowed in an mlp (use model.kind cnn)",
                                dp_layer_kind_name(s->kind));
    }
    return 0;
}

/* Enum keys are checked against the schema's names; the parsers only map them. */
static int read_features(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    features_extractor_config *x = &rc->extractor;
    features_extractor_config_default(x);
    if (features_extractor_kind_parse(config_get_string(c, "features.extractor"), &x->kind, err))
        return at_key(c, "features.extractor", err);
    if (features_image_norm_parse(config_get_string(c, "features.image_norm"), &x->image_norm, err))
        return at_key(c, "features.image_norm", err);
    x->scatter_J = (int)config_get_int(c, "features.scatter.J");
    x->scatter_L = (int)config_get_int(c, "features.scatter.L");
    x->scatter_max_order = (int)config_get_int(c, "features.scatter.max_order");
    x->hog.orientations = (int)config_get_int(c, "features.hog.orientations");
    x->hog.cell_rows = x->hog.cell_cols = (int)config_get_int(c, "features.hog.cell");
    x->hog.block_rows = x->hog.block_cols = (int)config_get_int(c, "features.hog.block");
    if (features_hog_block_norm_parse(config_get_string(c, "features.hog.block_norm"),
                                      &x->hog.block_norm, err))
        return at_key(c, "features.hog.block_norm", err);

    features_normalize_config *nz = &rc->normalize;
    features_normalize_config_default(nz);
    if (features_normalize_kind_parse(config_get_string(c, "features.normalize.kind"), &nz->kind,
                                      err))
        return at_key(c, "features.normalize.kind", err);
    nz->groups = (size_t)config_get_int(c, "features.normalize.groups");
    nz->noise_multiplier = config_get_double(c, "features.normalize.noise_multiplier");
    nz->clip_threshold = config_get_double(c, "features.normalize.clip");
    return 0;
}

/* The model reads the pixels in [0, 1] themselves (no standardisation, no normalisation). */
static int reads_pixels(const run_config *rc, size_t channels)
{
    return rc->extractor.kind == FEATURES_RAW && rc->normalize.kind == FEATURES_NORMALIZE_NONE &&
           !features_image_norm_is_imagenet(&rc->extractor, channels);
}

/* training.adversarial.* and training.input_noise. Noise is on the model's own input, which
 * must then be pixels in [0, 1]; PGD is on the pixels, through the features for a model on
 * features (run_adversarial_on_images; HOG has no gradient). */
static int read_adversarial(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    const char *norm = config_get_string(c, "training.adversarial.norm");
    rc->train.adversarial = NULL;
    rc->train.input_noise = config_get_double(c, "training.input_noise");
    rc->train.augment_seed = (uint64_t)rc->seed;
    int adversarial = strcmp(norm, "none") != 0;
    if (!adversarial && rc->train.input_noise == 0)
        return 0;
    if (rc->train.input_noise > 0 &&
        (rc->extractor.kind != FEATURES_RAW || rc->normalize.kind != FEATURES_NORMALIZE_NONE ||
         rc->extractor.image_norm == FEATURES_IMAGE_NORM_IMAGENET))
        return config_error(c, "training.input_noise", err,
                            "set, but it perturbs the model's own input, which must be pixels "
                            "in [0, 1]: features.extractor raw, features.normalize.kind none, "
                            "features.image_norm none");
    if (!adversarial)
        return 0;
    if (rc->extractor.kind == FEATURES_HOG)
        return config_error(c, "training.adversarial.norm", err,
                            "set, but PGD on the pixels needs the gradient of the features, and "
                            "HOG's orientation binning is piecewise constant; expected "
                            "features.extractor scatter or raw");
    rc->adversarial = (dp_pgd_config){
        .norm = strcmp(norm, "l2") == 0 ? DP_ATTACK_L2 : DP_ATTACK_LINF,
        .epsilon = config_get_double(c, "training.adversarial.epsilon"),
        .step = config_get_double(c, "training.adversarial.step"),
        .steps = (int)config_get_int(c, "training.adversarial.steps"),
        .random_start = config_get_bool(c, "training.adversarial.random_start"),
        .lower = 0,
        .upper = 1};
    if (!(rc->adversarial.step > 0))
        return config_error(c, "training.adversarial.step", err, "0, expected > 0");
    rc->train.adversarial = &rc->adversarial;
    rc->train.adversarial_ramp = config_get_int(c, "training.adversarial.ramp_steps");
    return 0;
}

int run_check_adversarial(const run_config *rc, size_t channels, dpkit_error *err)
{
    if (rc->train.input_noise > 0 && features_image_norm_is_imagenet(&rc->extractor, channels))
        return config_error(rc->cfg, "training.input_noise", err,
                            "set, but %zu-channel images are standardised with the ImageNet "
                            "statistics (features.image_norm auto); set features.image_norm: "
                            "none so that the inputs stay pixels in [0, 1]", channels);
    return 0;
}

int run_adversarial_on_images(const run_config *rc, size_t channels)
{
    return rc->train.adversarial && !reads_pixels(rc, channels);
}

/* training.augment_*: copies of the images through the same extractor, averaged in each
 * example's gradient before clipping (dp/linear_rows.c, dp/model_step.c). */
static int read_augment(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    features_augment_config *a = &rc->augment;
    a->multiplicity = (size_t)config_get_int(c, "training.augment_multiplicity");
    a->shift = (int)config_get_int(c, "training.augment_shift");
    a->flip = config_get_bool(c, "training.augment_flip");
    a->rotate = config_get_double(c, "training.augment_rotate");
    if (a->multiplicity == 1)
        return 0;
    const char *key = "training.augment_multiplicity";
    if (rc->extractor.kind == FEATURES_HOG)
        return config_error(c, key, err, "%zu with features.extractor hog, expected 1 or "
                            "features.extractor scatter or raw", a->multiplicity);
    if (rc->train.adversarial || rc->train.input_noise > 0)
        return config_error(c, key, err, "%zu with adversarial training or input noise, "
                            "expected 1 (they replace the inputs the copies are made of)",
                            a->multiplicity);
    if (a->shift == 0 && !a->flip && a->rotate == 0)
        return config_error(c, key, err, "%zu with training.augment_shift 0, "
                            "training.augment_rotate 0 and training.augment_flip false: every "
                            "copy would be the original; expected a shift in 1..8, a rotation "
                            "or a flip", a->multiplicity);
    return 0;
}

/* privacy.* and training.*: the ranges are the schema's; what is left relates keys. */
static int read_training(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    dp_train_config *t = &rc->train;
    memset(t, 0, sizeof *t);
    t->private_mode = config_get_bool(c, "privacy.enabled");
    rc->target_epsilon = config_get_double(c, "privacy.epsilon");
    t->delta = config_get_double(c, "privacy.delta");
    t->noise_multiplier = config_get_double(c, "privacy.noise_multiplier");
    t->clip_norm = config_get_double(c, "privacy.max_grad_norm");
    if (t->private_mode) {
        if (!(t->delta > 0 && t->delta < 1))
            return config_error(c, "privacy.delta", err, "%g, expected 0 < delta < 1 (privacy.enabled "
                                                    "is true)", t->delta);
        if (!(t->clip_norm > 0))
            return config_error(c, "privacy.max_grad_norm", err, "%g, expected > 0 (privacy.enabled "
                                                            "is true)", t->clip_norm);
        if (rc->target_epsilon == 0 && t->noise_multiplier == 0)
            return config_error(c, "privacy.epsilon", err, "0 and privacy.noise_multiplier 0: set one "
                                "of them (privacy.epsilon calibrates the noise), or "
                                "privacy.enabled: false");
    }
    t->target_epsilon = rc->target_epsilon;
    accountant_options_default(&t->accountant);
    if (accountant_kind_parse(config_get_string(c, "privacy.accountant"), &t->accountant.kind, err))
        return at_key(c, "privacy.accountant", err);
    if (accountant_conversion_parse(config_get_string(c, "privacy.conversion"),
                                    &t->accountant.conversion, err))
        return at_key(c, "privacy.conversion", err);
    if (accountant_sampler_parse(config_get_string(c, "training.sampler"), &t->accountant.sampler,
                                 err))
        return at_key(c, "training.sampler", err);
    if (t->accountant.sampler != ACCOUNTANT_SAMPLER_POISSON && t->accountant.kind == ACCOUNTANT_PLD)
        return config_error(c, "training.sampler", err, "random-allocation with privacy.accountant "
                            "pld, expected privacy.accountant rdp (the PLD accountant accounts "
                            "Poisson sampling only)");
    t->epochs = (int)config_get_int(c, "training.epochs");
    t->batch_size = (size_t)config_get_int(c, "training.batch_size");
    t->physical_batch = (size_t)config_get_int(c, "training.physical_batch");

    dp_optimizer_config *o = &rc->optimizer;
    dp_optimizer_config_default(o);
    if (dp_optimizer_kind_parse(config_get_string(c, "training.optimizer.kind"), &o->kind, err))
        return at_key(c, "training.optimizer.kind", err);
    o->lr = config_get_double(c, "training.optimizer.lr");
    o->momentum = config_get_double(c, "training.optimizer.momentum");
    o->weight_decay = config_get_double(c, "training.optimizer.weight_decay");
    o->beta1 = config_get_double(c, "training.optimizer.beta1");
    o->beta2 = config_get_double(c, "training.optimizer.beta2");
    o->adam_epsilon = config_get_double(c, "training.optimizer.eps");
    o->nesterov = config_get_bool(c, "training.optimizer.nesterov");
    o->average_decay = config_get_double(c, "training.average_decay");
    if (o->average_decay >= 1)
        return config_error(c, "training.average_decay", err, "must be below 1 (0: none)");
    if (o->nesterov && o->momentum == 0)
        return config_error(c, "training.optimizer.nesterov", err, "needs a momentum > 0");
    if (read_adversarial(rc, err))
        return -1;
    return read_augment(rc, err);
}

/* Every error names where the value came from (file:line or --set) and the key. */
static int translate(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    snprintf(rc->name, sizeof rc->name, "%s", config_get_string(c, "name"));
    /* A negative seed once meant "keys from the OS"; the private streams now always take an OS
     * key (unless privacy.reproducible_noise), so the seed only names public randomness and the
     * schema takes 0..2^63-1. */
    rc->seed = config_get_int(c, "seed");
    rc->reproducible_noise = config_get_bool(c, "privacy.reproducible_noise");
    snprintf(rc->dataset, sizeof rc->dataset, "%s", config_get_string(c, "data.dataset"));
    if (!rc->dataset[0])
        return config_error(c, "data.dataset", err, "empty, expected a dataset name");
    if (read_features(rc, err))
        return -1;
    snprintf(rc->model_kind, sizeof rc->model_kind, "%s", config_get_string(c, "model.kind"));
    rc->zero_init = strcmp(rc->model_kind, "linear") == 0;
    rc->mirror_average = config_get_bool(c, "model.mirror_average");
    if (read_layers(rc, err) || read_training(rc, err))
        return -1;
    const char *dir = config_get_string(c, "output.dir");
    if (dir[0])
        snprintf(rc->output_dir, sizeof rc->output_dir, "%s", dir);
    else
        snprintf(rc->output_dir, sizeof rc->output_dir, "runs/%s", rc->name);
    return 0;
}

static int finish_load(run_config *out, dpkit_error *err)
{
    if (translate(out, err)) {
        run_config_free(out);
        return -1;
    }
    return 0;
}

int run_config_load(const char *path, const char *const *assignments, size_t assignment_count,
                    run_config *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (config_load_with_overrides(path, run_config_schema, assignments, assignment_count,
                                   &out->cfg, err))
        return run_config_explain_kind(path, RUN_CONFIG_KIND_TRAINING, err);
    return finish_load(out, err);
}

int run_config_from_text(const char *text, const char *source, run_config *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    char path[4096];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/dpkit-config-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return error_set(err, "%s: cannot create a temporary file for its config", source);
    FILE *f = fdopen(fd, "w");
    int ok = f && fputs(text, f) >= 0;
    if (f)
        ok = fclose(f) == 0 && ok;
    int status = ok ? run_config_load(path, NULL, 0, out, err)
                    : error_set(err, "%s: cannot write its config to %s", source, path);
    remove(path);
    if (status)
        error_prefix(err, "%s (stored config)", source);
    return status;
}

void run_config_free(run_config *rc)
{
    config_free(rc->cfg);
    free(rc->layers);
    memset(rc, 0, sizeof *rc);
}

int run_config_model(const run_config *rc, dp_shape input, size_t class_count, dp_model *model,
                     dpkit_error *err)
{
    if (rc->layers)
        return dp_model_create(input, class_count, rc->layers, rc->layer_count, model, err);
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = class_count};
    return dp_model_create(input, class_count, &linear, 1, model, err);
}

int run_dataset_load(const run_config *rc, dataset *out, dpkit_error *err)
{
    /* The real sets are fetched (and verified) on first use. */
    for (const char *const *source = datasets_source_names; *source; source++)
        if (strcmp(*source, rc->dataset) == 0 && datasets_fetch(rc->dataset, err))
            return error_prefix(err, "data.dataset");
    if (dataset_load(rc->dataset, out, err))
        return error_prefix(err, "data.dataset");
    return 0;
}

/* $DPKIT_RANK_MEMORY_MB in bytes (0: unset, no cap). */
static int rank_memory_cap(size_t *bytes, dpkit_error *err)
{
    *bytes = 0;
    const char *text = getenv("DPKIT_RANK_MEMORY_MB");
    if (!text || !*text)
        return 0;
    char *end;
    double mb = strtod(text, &end);
    if (*end || !(mb > 0 && mb < 1e12))
        return error_set(err, "DPKIT_RANK_MEMORY_MB: '%s', expected a number of MiB in (0, 1e12)",
                         text);
    *bytes = (size_t)(mb * (1 << 20));
    return 0;
}

/* 1 when the cache file of the split exists (valid or not). */
static int cache_exists(const run_config *rc, const dataset *data, const char *split)
{
    char path[4096];
    struct stat st;
    dpkit_error ignored;
    return features_cache_file(&rc->extractor, data, split, path, sizeof path, &ignored) == 0 &&
           stat(path, &st) == 0;
}

/* This rank's training rows and the test split. When rank 0 finds both cache files, all ranks
 * read at once; otherwise rank 0 first builds them, alone, then the others read. Only rank 0
 * builds: the others fail on a file that is not valid. */
static int load_split_features(const run_config *rc, int force, run_features *out,
                               dpkit_error *err)
{
    size_t cap, total = out->data.train.count, ranks = (size_t)parallel_size();
    size_t rank = (size_t)parallel_rank();
    if (rank_memory_cap(&cap, err))
        return -1;
    out->train_total = total;
    out->train_first = total * rank / ranks;
    size_t count = total * (rank + 1) / ranks - out->train_first;
    int ready = ranks > 1 && rank == 0 && !force && cache_exists(rc, &out->data, "train") &&
                cache_exists(rc, &out->data, "test");
    if (ranks > 1 && parallel_broadcast(&ready, sizeof ready, err))
        return -1;
    int mode = rank == 0 ? force : -1, status = 0;
    for (int turn = 0; turn < 2; turn++) {
        if (ready ? turn == 0 : (turn == 0) == (rank == 0))
            status = features_cached_rows(&rc->extractor, &out->data, "train", mode,
                                          out->train_first, count, cap, &out->train,
                                          &out->train_info, err) ||
                     features_cached(&rc->extractor, &out->data, "test", mode, &out->test,
                                     &out->test_info, err);
        if (ranks > 1 && parallel_agree(status, err))
            return -1;
    }
    if (status && cap && strstr(err->message, "one rank may hold"))
        error_prefix(err, "DPKIT_RANK_MEMORY_MB (run on more ranks: mpirun -np K)");
    return status;
}

int run_features_load(const run_config *rc, int force, run_features *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (run_dataset_load(rc, &out->data, err))
        return -1;
    if (load_split_features(rc, force, out, err)) {
        run_features_free(out);
        return -1;
    }
    return 0;
}

void run_features_free(run_features *rf)
{
    features_set_free(&rf->train);
    features_set_free(&rf->test);
    dataset_free(&rf->data);
}

void run_rng(const run_config *rc, uint64_t stream, rng *r)
{
    rng_init_seed(r, (uint64_t)rc->seed, stream);
}

void run_private_key(const run_config *rc, uint8_t key[RNG_KEY_BYTES])
{
    rng_private_key(rc->reproducible_noise, (uint64_t)rc->seed, key);
}

void run_warn_reproducible_noise(int reproducible_noise, long long seed)
{
    /* Printed even under --quiet: it changes what the privacy claim means. */
    if (reproducible_noise)
        fprintf(stderr, "warning: privacy.reproducible_noise is true: the DP noise and the batches "
                        "are derived from seed %lld, so anyone holding the config (stored in "
                        "model.h5) can regenerate them; the result is NOT differentially private "
                        "against them\n", seed);
}

DPKIT_API int dpkit_check_config(const char *config_path, const char *const *overrides,
                                 size_t override_count, dpkit_error *err)
{
    run_config rc;
    if (run_config_load(config_path, overrides, override_count, &rc, err))
        return -1;
    run_config_free(&rc);
    return 0;
}
