/* Training of the models an audit needs (shadow models, canary runs) with the dp/ engine, as
 * `dpkit train` trains them: normaliser fitted on the model's own rows, sigma calibrated to the
 * target epsilon for that training set, then DP-SGD epochs; and queries of the trained model. */
#include "audit/audit.h"

#include "common/log.h"
#include "common/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Every model of an audit has its own key, read from the audit stream (RNG_STREAM_AUDIT) far
 * beyond anything the audit's random choices use (which start at position 0); under that key the
 * streams keep their usual ids (the private-bn release insists on its own). The private streams
 * (sampling, noise, normalisation) take a fresh OS key instead unless the audit asks for
 * reproducible noise: an audit must measure the training as released, whose noise is secret. */
static void model_rng(const audit_trainer *t, uint64_t model_index, uint64_t stream, rng *r)
{
    if (rng_stream_is_private(stream) && !t->reproducible_noise) {
        uint8_t secret[RNG_KEY_BYTES];
        rng_key_from_os(secret);
        rng_init(r, secret, stream);
        return;
    }
    rng keys;
    rng_init_seed(&keys, t->seed, RNG_STREAM_AUDIT);
    rng_seek(&keys, (UINT64_C(1) << 60) + model_index * RNG_KEY_BYTES);
    uint8_t key[RNG_KEY_BYTES];
    rng_bytes(&keys, key, sizeof key);
    rng_init(r, key, stream);
}

int audit_trainer_from_run(const run_config *rc, const run_features *rf, audit_fault fault,
                           audit_trainer *t, dpkit_error *err)
{
    const features_set *tr = &rf->train;
    memset(t, 0, sizeof *t);
    t->input = (dp_shape){tr->channels, tr->height, tr->width};
    t->class_count = (size_t)rf->data.class_count;
    t->layers = rc->layers;
    t->layer_count = rc->layer_count;
    t->zero_init = rc->zero_init;
    t->normalize = rc->normalize;
    t->train = rc->train;
    t->optimizer = rc->optimizer;
    t->seed = (uint64_t)rc->seed;
    t->reproducible_noise = rc->reproducible_noise;
    t->fault = fault;
    /* the audits train on the examples alone: a config that asks for copies would be audited
     * as another mechanism than the one it describes */
    if (rc->augment.multiplicity > 1)
        return error_set(err, "training.augment_multiplicity: %zu, expected 1 (the audits "
                              "train without augmented copies)", rc->augment.multiplicity);
    if (t->train.batch_size > tr->count)
        return error_set(err, "training.batch_size: %zu, expected at most the %zu training "
                         "examples", t->train.batch_size, tr->count);
    return 0;
}

int audit_fault_parse(const char *name, audit_fault *fault)
{
    static const char *const names[] = {"none", "no-noise", "half-noise", "noise-without-c",
                                        "no-clipping", "shuffled-batches"};
    for (int i = 0; i < (int)(sizeof names / sizeof *names); i++)
        if (strcmp(name, names[i]) == 0) {
            *fault = (audit_fault)i;
            return 0;
        }
    return -1;
}

void audit_trained_free(audit_trained *trained)
{
    dp_model_free(&trained->model);
    features_normalizer_free(&trained->normalizer);
    free(trained->initial_params);
    memset(trained, 0, sizeof *trained);
}

static int build_model(const audit_trainer *t, dp_model *model, dpkit_error *err)
{
    if (t->layers)
        return dp_model_create(t->input, t->class_count, t->layers, t->layer_count, model, err);
    dp_layer_spec linear = {.kind = DP_LAYER_LINEAR, .units = t->class_count};
    return dp_model_create(t->input, t->class_count, &linear, 1, model, err);
}

int audit_train_model(const audit_trainer *t, float *x, const int32_t *y, size_t count,
                      const dp_gradient_canaries *canaries, uint64_t model_index,
                      audit_trained *out, dpkit_error *err)
{
    memset(out, 0, sizeof *out);
    double start = progress_now();
    size_t spatial = t->input.height * t->input.width;
    dp_train_state state;
    memset(&state, 0, sizeof state);
    accountant_ledger_init(&state.ledger);
    accountant_ledger claimed;
    accountant_ledger_init(&claimed);
    dp_workspace ws = {0};
    int status = -1;
    dp_train_config config = t->train;
    config.canaries = canaries;
    config.no_epoch_epsilon = 1; /* accounted once below */
    size_t rate_n = config.rate_count ? config.rate_count : count; /* the N of q = B / N */

    rng norm_noise;
    model_rng(t, model_index, RNG_STREAM_NORM_NOISE, &norm_noise);
    if (features_normalizer_fit(&out->normalizer, &t->normalize, x, count, t->input.channels,
                                spatial, &norm_noise, &state.ledger, err) ||
        features_normalizer_apply(&out->normalizer, x, count, t->input.channels, spatial, err) ||
        dp_calibrate_noise(&config, rate_n, &state.ledger, err) ||
        accountant_ledger_copy(&state.ledger, &claimed, err))
        goto done;
    out->noise_multiplier = config.private_mode ? config.noise_multiplier : 0;
    if (t->fault != AUDIT_FAULT_NONE && config.private_mode) {
        /* The broken trainings; the accountant below is still told the calibrated sigma. The
         * engine enforces no budget (it would stop the less noisy ones early). */
        config.target_epsilon = 0;
        if (t->fault == AUDIT_FAULT_NO_NOISE)
            config.noise_multiplier = 0;
        else if (t->fault == AUDIT_FAULT_HALF_NOISE)
            config.noise_multiplier *= 0.5;
        else if (t->fault == AUDIT_FAULT_NOISE_WITHOUT_C) /* std sigma: multiplier sigma / C */
            config.noise_multiplier /= config.clip_norm;
        else
            config.fault = t->fault == AUDIT_FAULT_NO_CLIPPING ? DP_FAULT_NO_CLIPPING
                                                               : DP_FAULT_SHUFFLED_BATCHES;
    }
    if (build_model(t, &out->model, err) ||
        dp_workspace_create(&out->model, config.physical_batch, &ws, err) ||
        dp_optimizer_create(&t->optimizer, out->model.param_count, &state.optimizer, err))
        goto done;
    rng init;
    model_rng(t, model_index, RNG_STREAM_INIT, &init);
    dp_model_init(&out->model, &init, t->zero_init);
    if (t->initial_params)
        memcpy(out->model.params, t->initial_params,
               out->model.param_count * sizeof *out->model.params);
    model_rng(t, model_index, RNG_STREAM_SAMPLING, &state.sampler);
    model_rng(t, model_index, RNG_STREAM_NOISE, &state.noise);
    out->initial_params = malloc(out->model.param_count * sizeof *out->initial_params);
    if (!out->initial_params) {
        error_set(err, "audit: out of memory for %zu parameters", out->model.param_count);
        goto done;
    }
    memcpy(out->initial_params, out->model.params,
           out->model.param_count * sizeof *out->initial_params);

    dp_data data = {.x = x, .y = y, .count = count};
    dp_epoch_metrics metrics;
    if (dp_train_epochs(&out->model, &ws, &config, &state, &data, NULL, 0, NULL, NULL, &metrics,
                        NULL, err))
        goto done;
    out->steps = state.step;
    out->epsilon = INFINITY;
    if (config.private_mode) {
        /* What the accountant is told: every step at (q, calibrated sigma). Without a fault this
         * is exactly the engine's own ledger. */
        double q = (double)config.batch_size / (double)rate_n;
        if (state.step > 0 &&
            accountant_ledger_record(&claimed, q, out->noise_multiplier, state.step, "dp-sgd", err))
            goto done;
        const accountant_ledger *told = t->fault == AUDIT_FAULT_NONE ? &state.ledger : &claimed;
        if (accountant_ledger_epsilon(told, config.delta, &config.accountant, &out->epsilon,
                                      NULL, err))
            goto done;
    }
    out->seconds = progress_now() - start;
    status = 0;
done:
    dp_workspace_free(&ws);
    dp_optimizer_free(&state.optimizer);
    accountant_ledger_free(&state.ledger);
    accountant_ledger_free(&claimed);
    if (status)
        audit_trained_free(out);
    return status;
}

/* Calls fn on normalised chunks of the rows: the normaliser works in place, the rows stay raw. */
typedef int (*chunk_fn)(void *user, const dp_model *model, dp_workspace *ws, const float *x,
                        size_t first, size_t n, dpkit_error *err);

static int for_each_chunk(const audit_trained *t, const float *x, size_t count, chunk_fn fn,
                          void *user, dpkit_error *err)
{
    const dp_model *model = &t->model;
    size_t D = dp_shape_size(model->input), chunk = 1024;
    dp_workspace ws;
    if (dp_workspace_create(model, chunk, &ws, err))
        return -1;
    float *buffer = malloc(chunk * D * sizeof *buffer);
    int status = buffer ? 0 : error_set(err, "audit: out of memory for %zu x %zu features", chunk, D);
    for (size_t first = 0; status == 0 && first < count; first += chunk) {
        size_t n = count - first < chunk ? count - first : chunk;
        memcpy(buffer, x + first * D, n * D * sizeof *buffer);
        status = features_normalizer_apply(&t->normalizer, buffer, n, model->input.channels,
                                           model->input.height * model->input.width, err) ||
                 fn(user, model, &ws, buffer, first, n, err);
    }
    free(buffer);
    dp_workspace_free(&ws);
    return status ? -1 : 0;
}

static int copy_logits(void *user, const dp_model *model, dp_workspace *ws, const float *x,
                       size_t first, size_t n, dpkit_error *err)
{
    (void)err;
    float *logits = user;
    dp_model_forward(model, ws, x, n);
    memcpy(logits + first * model->class_count, ws->activations[model->layer_count],
           n * model->class_count * sizeof *logits);
    return 0;
}

int audit_trained_logits(const audit_trained *trained, const float *x, size_t count,
                         float *logits, dpkit_error *err)
{
    return for_each_chunk(trained, x, count, copy_logits, logits, err);
}

typedef struct accuracy_sum {
    const int32_t *y;
    double correct;
} accuracy_sum;

static int add_accuracy(void *user, const dp_model *model, dp_workspace *ws, const float *x,
                        size_t first, size_t n, dpkit_error *err)
{
    accuracy_sum *a = user;
    double accuracy, loss;
    if (dp_model_evaluate(model, ws, x, NULL, a->y + first, n, &accuracy, &loss, err))
        return -1;
    a->correct += accuracy * (double)n;
    return 0;
}

int audit_trained_accuracy(const audit_trained *trained, const float *x, const int32_t *y,
                           size_t count, double *accuracy, dpkit_error *err)
{
    accuracy_sum a = {y, 0};
    *accuracy = NAN;
    if (count == 0)
        return 0;
    if (for_each_chunk(trained, x, count, add_accuracy, &a, err))
        return -1;
    *accuracy = a.correct / (double)count;
    return 0;
}
