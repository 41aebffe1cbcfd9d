/* Schema and translation of the training config (docs/config.md lists the keys). */
#include "dp/run_config.h"

#include "common/log.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const config_field layer_schema[] = {
    {"kind", CONFIG_ENUM, NULL, "layer kind", "linear|conv2d|tanh|relu|maxpool|avgpool|group-norm|flatten|embedding", NULL},
    {"units", CONFIG_INT, "0", "linear: outputs; conv2d: output channels; embedding: vector size", NULL, NULL},
    {"kernel", CONFIG_INT, "0", "conv2d, pools: kernel size", NULL, NULL},
    {"stride", CONFIG_INT, "0", "conv2d: stride (default 1); pools: default the kernel", NULL, NULL},
    {"padding", CONFIG_INT, "0", "conv2d: zero padding", NULL, NULL},
    {"groups", CONFIG_INT, "0", "group-norm: number of groups", NULL, NULL},
    {"vocab", CONFIG_INT, "0", "embedding: number of token ids", NULL, NULL},
    {0}};

const config_field run_config_schema[] = {
    {"name", CONFIG_STRING, "run", "name of the experiment", NULL, NULL},
    {"seed", CONFIG_INT, "0", "seed (0..2^63-1) of the public randomness: initialisation, canaries, splits, evaluation order; never of the noise or the batches", NULL, NULL},
    {"data.dataset", CONFIG_STRING, NULL, "mnist | fashion-mnist | cifar10 | hdf5:PATH | synthetic", NULL, NULL},
    {"features.extractor", CONFIG_ENUM, "scatter", "feature extractor", "raw|scatter|hog", NULL},
    {"features.image_norm", CONFIG_ENUM, "auto", "pixel standardisation (auto: imagenet for RGB)", "auto|none|imagenet", NULL},
    {"features.scatter.J", CONFIG_INT, "2", "scattering scales", NULL, NULL},
    {"features.scatter.L", CONFIG_INT, "8", "scattering angles", NULL, NULL},
    {"features.scatter.max_order", CONFIG_INT, "2", "scattering order (1 or 2)", NULL, NULL},
    {"features.hog.orientations", CONFIG_INT, "9", "HOG orientation bins", NULL, NULL},
    {"features.hog.cell", CONFIG_INT, "7", "HOG cell size in pixels", NULL, NULL},
    {"features.hog.block", CONFIG_INT, "2", "HOG block size in cells", NULL, NULL},
    {"features.hog.block_norm", CONFIG_ENUM, "L2-Hys", "HOG block normalisation", "L1|L1-sqrt|L2|L2-Hys", NULL},
    {"features.normalize.kind", CONFIG_ENUM, "none", "feature normalisation", "none|group-norm|private-bn", NULL},
    {"features.normalize.groups", CONFIG_INT, "27", "group-norm: groups (divides the channels)", NULL, NULL},
    {"features.normalize.noise_multiplier", CONFIG_DOUBLE, "8", "private-bn: sigma_bn", NULL, NULL},
    {"features.normalize.clip", CONFIG_DOUBLE, "1", "private-bn: L2 bound per example (data-independent)", NULL, NULL},
    {"model.kind", CONFIG_ENUM, "linear", "linear (softmax regression) or a list of layers", "linear|cnn|mlp", NULL},
    {"model.layers", CONFIG_LIST, "[]", "cnn/mlp: layers in order; the last outputs one value per class", NULL, layer_schema},
    {"model.preset", CONFIG_STRING, "", "cnn: a named architecture instead of layers (mnist-cnn, cifar10-cnn, scatter-cnn-mnist, scatter-cnn-cifar10)", NULL, NULL},
    {"privacy.enabled", CONFIG_BOOL, "true", "false: plain SGD baseline (no clipping, no noise)", NULL, NULL},
    {"privacy.epsilon", CONFIG_DOUBLE, "0", "target epsilon (calibrates the noise; also a hard budget); 0: none", NULL, NULL},
    {"privacy.delta", CONFIG_DOUBLE, "1e-5", "delta", NULL, NULL},
    {"privacy.noise_multiplier", CONFIG_DOUBLE, "0", "sigma; 0: calibrated from privacy.epsilon", NULL, NULL},
    {"privacy.max_grad_norm", CONFIG_DOUBLE, "0.1", "clip norm C of each example's gradient", NULL, NULL},
    {"privacy.reproducible_noise", CONFIG_BOOL, "false", "true: key the noise, sampling and private-normalisation streams from the seed (reproducible, NOT private against anyone holding the config); false: a secret key from the OS", NULL, NULL},
    {"privacy.accountant", CONFIG_ENUM, "rdp", "privacy accountant", "rdp|pld", NULL},
    {"privacy.conversion", CONFIG_ENUM, "improved", "RDP to (epsilon, delta) conversion", "improved|classic", NULL},
    {"training.epochs", CONFIG_INT, "40", "epochs (floor(N/B) steps each)", NULL, NULL},
    {"training.batch_size", CONFIG_INT, "512", "expected batch size B (Poisson rate B/N)", NULL, NULL},
    {"training.physical_batch", CONFIG_INT, "512", "examples per forward/backward pass (memory)", NULL, NULL},
    {"training.optimizer.kind", CONFIG_ENUM, "sgd", "optimizer", "sgd|adam", NULL},
    {"training.optimizer.lr", CONFIG_DOUBLE, "0.1", "learning rate", NULL, NULL},
    {"training.optimizer.momentum", CONFIG_DOUBLE, "0", "SGD momentum", NULL, NULL},
    {"training.optimizer.nesterov", CONFIG_BOOL, "false", "SGD: Nesterov momentum", NULL, NULL},
    {"training.optimizer.weight_decay", CONFIG_DOUBLE, "0", "L2 penalty added to the gradient", NULL, NULL},
    {"training.optimizer.beta1", CONFIG_DOUBLE, "0.9", "Adam beta1", NULL, NULL},
    {"training.optimizer.beta2", CONFIG_DOUBLE, "0.999", "Adam beta2", NULL, NULL},
    {"training.optimizer.eps", CONFIG_DOUBLE, "1e-8", "Adam epsilon", NULL, NULL},
    {"output.dir", CONFIG_STRING, "", "run directory (default runs/<name>)", NULL, NULL},
    {0}};

static int positive_int(const config *cfg, const char *key, long low, long high, long *value,
                        dpkit_error *err)
{
    *value = config_get_int(cfg, key);
    if (*value < low || *value > high)
        return error_set(err, "%s: %ld, expected %ld..%ld", key, *value, low, high);
    return 0;
}

static int bounded_double(const config *cfg, const char *key, double low, double high,
                          double *value, dpkit_error *err)
{
    *value = config_get_double(cfg, key);
    if (!(*value >= low && *value <= high))
        return error_set(err, "%s: %g, expected %g..%g", key, *value, low, high);
    return 0;
}

/* model.preset: the named architecture's layers. */
static int read_preset(run_config *rc, const char *name, dpkit_error *err)
{
    if (strcmp(rc->model_kind, "cnn") != 0)
        return error_set(err, "model.preset: '%s' needs model.kind cnn, not %s", name,
                         rc->model_kind);
    if (config_list_length(rc->cfg, "model.layers") != 0)
        return error_set(err, "model.preset: '%s' and model.layers are both set; keep one", name);
    rc->layers = calloc(DP_PRESET_MAX_LAYERS, sizeof *rc->layers);
    if (!rc->layers)
        return error_set(err, "model.preset: out of memory");
    if (dp_model_preset(name, rc->layers, &rc->layer_count, err))
        return error_prefix(err, "model.preset");
    return 0;
}

/* An mlp is dense layers (and activations, flatten, group norm, an embedding) only. */
static int check_mlp_layer(const dp_layer_spec *s, size_t i, dpkit_error *err)
{
    if (s->kind == DP_LAYER_CONV2D || s->kind == DP_LAYER_MAXPOOL || s->kind == DP_LAYER_AVGPOOL)
        return error_set(err, "model.layers[%zu].kind: %s is not allowed in an mlp (use "
                              "model.kind cnn)", i, dp_layer_kind_name(s->kind));
    return 0;
}

static int read_layers(run_config *rc, dpkit_error *err)
{
    size_t n = config_list_length(rc->cfg, "model.layers");
    const char *preset = config_get_string(rc->cfg, "model.preset");
    if (strcmp(rc->model_kind, "linear") == 0) {
        if (n || preset[0])
            return error_set(err, "model.%s: set, but model.kind is linear (expected cnn or mlp)",
                             n ? "layers" : "preset");
        return 0;
    }
    if (preset[0])
        return read_preset(rc, preset, err);
    if (n == 0)
        return error_set(err, "model.layers: model.kind %s needs a list of layers (or, for "
                              "cnn, model.preset)", rc->model_kind);
    rc->layers = calloc(n, sizeof *rc->layers);
    if (!rc->layers)
        return error_set(err, "model.layers: out of memory");
    rc->layer_count = n;
    for (size_t i = 0; i < n; i++) {
        const config *item = config_list_item(rc->cfg, "model.layers", i);
        dp_layer_spec *s = &rc->layers[i];
        if (dp_layer_kind_parse(config_get_string(item, "kind"), &s->kind, err))
            return error_prefix(err, "model.layers[%zu]", i);
        const char *keys[] = {"units", "kernel", "stride", "padding", "groups", "vocab"};
        size_t *fields[] = {&s->units, &s->kernel, &s->stride, &s->padding, &s->groups,
                            &s->vocab};
        for (int k = 0; k < 6; k++) {
            long v = config_get_int(item, keys[k]);
            if (v < 0 || v > 1000000)
                return error_set(err, "model.layers[%zu].%s: %ld, expected 0..1000000", i,
                                 keys[k], v);
            *fields[k] = (size_t)v;
        }
        if (strcmp(rc->model_kind, "mlp") == 0 && check_mlp_layer(s, i, err))
            return -1;
    }
    return 0;
}

static int translate(run_config *rc, dpkit_error *err)
{
    config *c = rc->cfg;
    long v;
    snprintf(rc->name, sizeof rc->name, "%s", config_get_string(c, "name"));
    rc->seed = config_get_int(c, "seed");
    /* A negative seed once meant "keys from the OS"; the private streams now always take an OS
     * key (unless privacy.reproducible_noise), so the seed only names public randomness. */
    if (rc->seed < 0)
        return error_set(err, "seed: %lld, expected 0..9223372036854775807 (it drives only "
                              "public randomness; the noise and batch keys come from the OS "
                              "unless privacy.reproducible_noise is true)", rc->seed);
    rc->reproducible_noise = config_get_bool(c, "privacy.reproducible_noise");
    snprintf(rc->dataset, sizeof rc->dataset, "%s", config_get_string(c, "data.dataset"));
    if (!rc->dataset[0])
        return error_set(err, "data.dataset: empty, expected a dataset name");

    features_extractor_config *x = &rc->extractor;
    features_extractor_config_default(x);
    if (features_extractor_kind_parse(config_get_string(c, "features.extractor"), &x->kind, err) ||
        features_image_norm_parse(config_get_string(c, "features.image_norm"), &x->image_norm, err))
        return -1;
    if (positive_int(c, "features.scatter.J", 1, 8, &v, err))
        return -1;
    x->scatter_J = (int)v;
    if (positive_int(c, "features.scatter.L", 1, 32, &v, err))
        return -1;
    x->scatter_L = (int)v;
    if (positive_int(c, "features.scatter.max_order", 1, 2, &v, err))
        return -1;
    x->scatter_max_order = (int)v;
    if (positive_int(c, "features.hog.orientations", 1, 360, &v, err))
        return -1;
    x->hog.orientations = (int)v;
    if (positive_int(c, "features.hog.cell", 1, 1024, &v, err))
        return -1;
    x->hog.cell_rows = x->hog.cell_cols = (int)v;
    if (positive_int(c, "features.hog.block", 1, 64, &v, err))
        return -1;
    x->hog.block_rows = x->hog.block_cols = (int)v;
    if (features_hog_block_norm_parse(config_get_string(c, "features.hog.block_norm"),
                                      &x->hog.block_norm, err))
        return -1;

    features_normalize_config *nz = &rc->normalize;
    features_normalize_config_default(nz);
    if (features_normalize_kind_parse(config_get_string(c, "features.normalize.kind"), &nz->kind, err) ||
        positive_int(c, "features.normalize.groups", 1, 1 << 20, &v, err))
        return -1;
    nz->groups = (size_t)v;
    if (bounded_double(c, "features.normalize.noise_multiplier", 0, 1e6, &nz->noise_multiplier, err) ||
        bounded_double(c, "features.normalize.clip", 1e-12, 1e12, &nz->clip_threshold, err))
        return -1;

    snprintf(rc->model_kind, sizeof rc->model_kind, "%s", config_get_string(c, "model.kind"));
    rc->zero_init = strcmp(rc->model_kind, "linear") == 0;
    if (read_layers(rc, err))
        return -1;

    dp_train_config *t = &rc->train;
    memset(t, 0, sizeof *t);
    t->private_mode = config_get_bool(c, "privacy.enabled");
    if (bounded_double(c, "privacy.epsilon", 0, 1e6, &rc->target_epsilon, err) ||
        bounded_double(c, "privacy.delta", 0, 1, &t->delta, err) ||
        bounded_double(c, "privacy.noise_multiplier", 0, 1e6, &t->noise_multiplier, err) ||
        bounded_double(c, "privacy.max_grad_norm", 0, 1e12, &t->clip_norm, err))
        return -1;
    if (t->private_mode) {
        if (!(t->delta > 0 && t->delta < 1))
            return error_set(err, "privacy.delta: %g, expected 0 < delta < 1", t->delta);
        if (!(t->clip_norm > 0))
            return error_set(err, "privacy.max_grad_norm: %g, expected > 0", t->clip_norm);
        if (rc->target_epsilon == 0 && t->noise_multiplier == 0)
            return error_set(err, "privacy: set privacy.epsilon (to calibrate the noise) or "
                                  "privacy.noise_multiplier, or privacy.enabled: false");
    }
    t->target_epsilon = rc->target_epsilon;
    accountant_options_default(&t->accountant);
    if (accountant_kind_parse(config_get_string(c, "privacy.accountant"), &t->accountant.kind, err) ||
        accountant_conversion_parse(config_get_string(c, "privacy.conversion"),
                                    &t->accountant.conversion, err))
        return -1;
    if (positive_int(c, "training.epochs", 1, 100000, &v, err))
        return -1;
    t->epochs = (int)v;
    if (positive_int(c, "training.batch_size", 1, 1L << 40, &v, err))
        return -1;
    t->batch_size = (size_t)v;
    if (positive_int(c, "training.physical_batch", 1, 1L << 20, &v, err))
        return -1;
    t->physical_batch = (size_t)v;

    dp_optimizer_config *o = &rc->optimizer;
    dp_optimizer_config_default(o);
    if (dp_optimizer_kind_parse(config_get_string(c, "training.optimizer.kind"), &o->kind, err) ||
        bounded_double(c, "training.optimizer.lr", 0, 1e6, &o->lr, err) ||
        bounded_double(c, "training.optimizer.momentum", 0, 1, &o->momentum, err) ||
        bounded_double(c, "training.optimizer.weight_decay", 0, 1e6, &o->weight_decay, err) ||
        bounded_double(c, "training.optimizer.beta1", 0, 1, &o->beta1, err) ||
        bounded_double(c, "training.optimizer.beta2", 0, 1, &o->beta2, err) ||
        bounded_double(c, "training.optimizer.eps", 0, 1, &o->adam_epsilon, err))
        return -1;
    o->nesterov = config_get_bool(c, "training.optimizer.nesterov");
    if (o->nesterov && o->momentum == 0)
        return error_set(err, "training.optimizer.nesterov: needs a momentum > 0");

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
        return -1;
    if (finish_load(out, err))
        return error_prefix(err, "%s", path);
    return 0;
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

int run_features_load(const run_config *rc, int force, run_features *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    if (run_dataset_load(rc, &out->data, err))
        return -1;
    if (features_cached(&rc->extractor, &out->data, "train", force, &out->train,
                        &out->train_info, err) ||
        features_cached(&rc->extractor, &out->data, "test", force, &out->test, &out->test_info,
                        err)) {
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
