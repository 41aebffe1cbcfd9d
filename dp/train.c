/* One epoch of DP-SGD (docs/maths.md 4): Poisson or random-allocation batches, physical
 * sub-batches, clipped sum, noise on the sum, division by the expected batch size, optimizer
 * step, one ledger record per step. */
#include "dp/dp.h"

#include "common/log.h"
#include "common/parallel.h"
#include "common/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

long long dp_steps_per_epoch(size_t count, size_t batch_size)
{
    long long steps = batch_size ? (long long)(count / batch_size) : 0;
    return steps > 0 ? steps : 1;
}

double dp_sampling_rate(const dp_train_config *config, size_t count)
{
    if (config->accountant.sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
        return 1.0 / (double)dp_steps_per_epoch(count, config->batch_size);
    return (double)config->batch_size / (double)count;
}

void dp_random_allocation(rng *sampler, size_t total, size_t first, size_t count,
                          long long steps, size_t *step_of, size_t *order, size_t *start)
{
    /* Every rank draws all `total` steps, so that the shards see one allocation; then a
     * counting sort by step keeps each step's examples in ascending order. */
    for (long long s = 0; s <= steps; s++)
        start[s] = 0;
    for (size_t i = 0; i < total; i++) {
        size_t s = (size_t)rng_below(sampler, (uint64_t)steps);
        if (i >= first && i - first < count) {
            step_of[i - first] = s;
            start[s + 1]++;
        }
    }
    for (long long s = 0; s < steps; s++)
        start[s + 1] += start[s];
    for (size_t i = 0; i < count; i++)
        order[start[step_of[i]]++] = i;
    /* start[s] is now where step s ends, which is where step s + 1 begins. */
    for (long long s = steps; s > 0; s--)
        start[s] = start[s - 1];
    start[0] = 0;
}

/* The examples all ranks hold together (one process: all of them). */
static size_t total_count(const dp_data *d) { return d->total ? d->total : d->count; }

static int check_config(const dp_train_config *c, const dp_data *train, dpkit_error *err)
{
    size_t total = total_count(train);
    if (total == 0)
        return error_set(err, "training: the training set is empty");
    if (train->first > total || train->count > total - train->first)
        return error_set(err, "training: rows %zu..%zu of %zu: expected a shard inside the "
                         "training set", train->first, train->first + train->count, total);
    if (c->batch_size < 1 || c->batch_size > total)
        return error_set(err, "training.batch_size: %zu, expected 1..%zu (the training set size)",
                         c->batch_size, total);
    if (c->private_mode && !(c->clip_norm > 0))
        return error_set(err, "privacy.max_grad_norm: %g, expected > 0", c->clip_norm);
    if (c->private_mode && !(c->noise_multiplier >= 0))
        return error_set(err, "privacy.noise_multiplier: %g, expected >= 0", c->noise_multiplier);
    return 0;
}

/* Adds the directions of the included canaries that this step samples (rate q each); canaries
 * without directions add C on their own coordinate P + j. */
static void add_sampled_canaries(const dp_gradient_canaries *canaries, rng *sampler, double rate,
                                 const long long *fault_step, long long step, double magnitude,
                                 float *grad, size_t P)
{
    for (size_t j = 0; j < canaries->count; j++) {
        /* drawn for every canary: same stream use (the shuffled fault: one step per epoch) */
        int sampled = fault_step ? fault_step[j] == step : rng_uniform(sampler) < rate;
        if (!sampled || !canaries->included[j])
            continue;
        if (!canaries->directions) {
            grad[P + j] += (float)magnitude;
            continue;
        }
        const float *d = canaries->directions + j * P;
        for (size_t k = 0; k < P; k++)
            grad[k] += d[k];
    }
}

/* Steps this epoch may take without passing target_epsilon (all of them when no target). */
static int allowed_steps(const dp_train_config *c, const dp_train_state *state, double rate,
                         long long wanted, long long *allowed, dpkit_error *err)
{
    *allowed = wanted;
    if (!c->private_mode || !(c->target_epsilon > 0))
        return 0;
    long long most;
    if (accountant_max_steps(c->target_epsilon, c->delta, rate, c->noise_multiplier,
                             state->ledger.events, state->ledger.count, &c->accountant, &most,
                             err))
        return -1;
    if (most < wanted)
        *allowed = most < 0 ? 0 : most;
    return 0;
}

/* The inputs an example is trained on (docs/maths.md 12.6): Gaussian noise added to x in place
 * (input_noise), then PGD examples on the current model into x_adv (adversarial; else x_adv
 * is not touched): on x itself, or for a model on features on the images of the training
 * rows `rows` (config->adversarial_inputs), x_adv then holding their features. The randomness
 * is public: the config's seed, the step and the batch. */
static int augment_batch(const dp_model *model, dp_workspace *ws, const dp_train_config *config,
                         long long step, size_t first, const size_t *rows, float *x,
                         const int32_t *y, size_t n, float *x_adv, dpkit_error *err)
{
    uint64_t seed = (config->augment_seed * 0x9E3779B97F4A7C15ull + (uint64_t)step) *
                        0x9E3779B97F4A7C15ull + first;
    if (config->input_noise > 0) {
        rng r;
        rng_init_seed(&r, seed, RNG_STREAM_ROBUST);
        for (size_t k = 0; k < n * dp_shape_size(model->input); k++)
            x[k] = (float)(x[k] + config->input_noise * rng_gaussian(&r));
    }
    if (!config->adversarial)
        return 0;
    dp_model_classifier mc = {model, ws};
    dp_classifier classifier;
    dp_classifier_of_model(&mc, &classifier);
    dp_pgd_config c = *config->adversarial;
    c.seed = seed;
    if (step < config->adversarial_ramp) { /* the warm-up: a training that meets the full
                                              radius from its first step can stall at chance */
        double f = (double)(step + 1) / (double)config->adversarial_ramp;
        c.epsilon *= f;
        c.step *= f;
    }
    if (config->adversarial_inputs)
        return config->adversarial_inputs->make(config->adversarial_inputs->user, &c, rows, y, n,
                                                x_adv, err);
    return dp_pgd(&classifier, &c, x, y, n, x_adv, NULL, err);
}

/* This rank's clipped sum over the sampled rows (indices shard-local) added to grad; the
 * inputs augmented first when the config asks (adv_x then holds PGD examples). */
static int local_clipped_sum(dp_model *model, dp_workspace *ws, const dp_train_config *config,
                             long long step, const dp_data *train, const size_t *indices,
                             size_t n, double clip, int linear, float *batch_x, int32_t *batch_y,
                             float *adv_x, float *grad, dp_batch_stats *stats, dpkit_error *err)
{
    size_t D = dp_shape_size(model->input);
    /* A linear model reads its rows in place, in cache-sized blocks; layered models copy
     * physical batches of ws->max_batch rows. Same sum either way. */
    if (linear)
        return dp_linear_rows_clipped_gradient(model, ws, train, indices, n, clip, grad, stats,
                                               err);
    /* with augmented copies (train->copies > 1) an example's copies are adjacent rows */
    size_t copies = train->copies > 1 ? train->copies : 1, per_batch = ws->max_batch / copies;
    for (size_t first = 0; first < n; first += per_batch) {
        size_t m = n - first < per_batch ? n - first : per_batch;
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < m; i++) {
            size_t row = indices[first + i];
            if (train->row)
                train->row(train->row_user, row, batch_x + i * D);
            else
                for (size_t c = 0; c < copies; c++)
                    memcpy(batch_x + (i * copies + c) * D,
                           (c ? train->copy_x[c - 1] : train->x) + row * D,
                           D * sizeof *batch_x);
            for (size_t c = 0; c < copies; c++)
                batch_y[i * copies + c] = train->y[row];
        }
        /* Noise and adversarial training: each example's input becomes a function of that
         * example alone (and of the released model), so clipping still bounds its whole
         * contribution (docs/maths.md 12.6). */
        if ((config->adversarial || config->input_noise > 0) &&
            augment_batch(model, ws, config, step, first, indices + first, batch_x, batch_y, m,
                          adv_x, err))
            return -1;
        if (dp_model_clipped_gradient_copies(model, ws, config->adversarial ? adv_x : batch_x,
                                             batch_y, m, copies, clip, grad, NULL, stats, err))
            return -1;
    }
    return 0;
}

/* The epoch's diagnostics summed over the ranks (once per epoch, not per step). */
static int sum_epoch_stats(dp_batch_stats *stats, size_t *seen, dpkit_error *err)
{
    double v[4] = {stats->loss_sum, (double)stats->correct, (double)stats->clipped, (double)*seen};
    if (parallel_sum_double(v, 4, err))
        return -1;
    *stats = (dp_batch_stats){v[0], (size_t)v[1], (size_t)v[2]};
    *seen = (size_t)v[3];
    return 0;
}

int dp_train_epoch(dp_model *model, dp_workspace *ws, const dp_train_config *config,
                   dp_train_state *state, const dp_data *train, const dp_data *test,
                   dp_epoch_metrics *metrics, dpkit_error *err)
{
    if (check_config(config, train, err))
        return -1;
    double start = progress_now();
    /* N: the examples of all ranks, which set q and the steps; this rank samples its own. */
    size_t N = total_count(train), D = dp_shape_size(model->input), P = model->param_count;
    size_t rate_n = config->rate_count ? config->rate_count : N;
    double rate = dp_sampling_rate(config, rate_n);
    long long steps = dp_steps_per_epoch(rate_n, config->batch_size), allowed;
    int shuffled = config->fault == DP_FAULT_SHUFFLED_BATCHES;
    int allocated = config->accountant.sampler == ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION;
    /* q N (docs/maths.md 4.7): B for Poisson, N / t for random allocation */
    double expected_batch = allocated ? (double)rate_n / (double)steps
                                      : (double)config->batch_size;
    if (allocated && (shuffled || config->canaries || config->rate_count))
        return error_set(err, "training.sampler: random-allocation, expected poisson for the "
                              "audits (their canaries and faults are Poisson-sampled)");
    if (rate > 1 || (shuffled && (size_t)steps * config->batch_size > N))
        return error_set(err, "training: %lld steps of %zu examples from %zu (sampling count %zu)",
                         steps, config->batch_size, N, rate_n);
    if (allowed_steps(config, state, rate, steps, &allowed, err))
        return -1;

    size_t *indices = malloc((N ? N : 1) * sizeof *indices);
    size_t *step_of = allocated ? malloc((N ? N : 1) * sizeof *step_of) : NULL;
    size_t *step_start = allocated ? malloc(((size_t)steps + 1) * sizeof *step_start) : NULL;
    long long *canary_step = shuffled && config->canaries
                                 ? malloc((config->canaries->count + 1) * sizeof *canary_step)
                                 : NULL;
    /* Dirac canaries on coordinates of their own extend the noised vector past the model's P;
     * grad[flag]: 1 on a rank that failed, summed with the gradient so that the step's one
     * reduction also tells every rank to stop. */
    size_t own = config->canaries && !config->canaries->directions ? config->canaries->count : 0;
    size_t flag = P + own;
    double magnitude = config->clip_norm > 0 ? config->clip_norm : 1.0;
    float *grad = malloc((flag + 1) * sizeof *grad);
    float *batch_x = malloc(ws->max_batch * D * sizeof *batch_x);
    int32_t *batch_y = malloc(ws->max_batch * sizeof *batch_y);
    float *adv_x = config->adversarial ? malloc(ws->max_batch * D * sizeof *adv_x) : NULL;
    int status = 0;
    if (!indices || !grad || !batch_x || !batch_y || (config->adversarial && !adv_x) ||
        (allocated && (!step_of || !step_start)) ||
        (shuffled && config->canaries && !canary_step)) {
        status = error_set(err, "training: out of memory for a batch of %zu x %zu", ws->max_batch, D);
        goto done;
    }
    memset(metrics, 0, sizeof *metrics);
    dp_batch_stats stats = {0};
    progress bar;
    char label[64];
    snprintf(label, sizeof label, "epoch %d", state->epoch + 1);
    progress_start(&bar, label, (size_t)steps, "steps");
    double clip = config->private_mode && config->fault != DP_FAULT_NO_CLIPPING
                      ? config->clip_norm : 0.0;
    if (shuffled) { /* the fault: one shuffle per epoch, cut into fixed-size batches */
        for (size_t i = 0; i < N; i++)
            indices[i] = i;
        rng_shuffle_indices(&state->sampler, indices, N);
        for (size_t j = 0; canary_step && j < config->canaries->count; j++)
            canary_step[j] = (long long)rng_below(&state->sampler, (uint64_t)steps);
    }
    if (allocated)
        dp_random_allocation(&state->sampler, N, train->first, train->count, steps, step_of,
                             indices, step_start);
    if ((shuffled || own) && parallel_size() > 1) {
        status = error_set(err, "training: Dirac canaries and the shuffled-batches fault train "
                                "on one rank (an audit gives each rank trainings of its own)");
        goto done;
    }
    int linear = dp_model_is_single_linear(model) && ws->rows_scratch && !train->row &&
                 !config->adversarial && !(config->input_noise > 0);
    if (train->copies > 1 &&
        (train->copies > DP_AUGMENT_MAX_COPIES || train->copies > ws->max_batch ||
         !train->copy_x || train->row || config->adversarial || config->input_noise > 0)) {
        status = error_set(err, "training.augment_multiplicity: %zu, expected 1..%d and at "
                                "most the physical batch (%zu), with the copies' rows, without "
                                "rows made on demand, adversarial training or input noise",
                           train->copies, DP_AUGMENT_MAX_COPIES, ws->max_batch);
        goto done;
    }
    for (long long s = 0; s < steps; s++) {
        if (s >= allowed) {
            state->budget_exhausted = 1;
            log_warn("privacy budget: epsilon %g would be exceeded; stopping after %lld steps",
                     config->target_epsilon, state->step);
            break;
        }
        size_t n = shuffled    ? config->batch_size
                   : allocated ? step_start[s + 1] - step_start[s]
                               : dp_poisson_sample_shard(&state->sampler, N, train->first,
                                                         train->count, rate, indices);
        size_t *batch = shuffled    ? indices + (size_t)s * config->batch_size
                        : allocated ? indices + step_start[s]
                                    : indices;
        memset(grad, 0, (flag + 1) * sizeof *grad);
        dpkit_error local;
        int failed = local_clipped_sum(model, ws, config, state->step, train, batch, n, clip,
                                       linear, batch_x, batch_y, adv_x, grad, &stats, &local);
        grad[flag] = failed ? 1.0f : 0.0f;
        /* On K ranks each draws its slice of the one noise vector and adds it to its partial
         * sum, so the reduction below delivers G + Z (docs/maths.md 4.12). */
        int ranks = parallel_size(), rank = parallel_rank();
        if (config->private_mode && ranks > 1)
            dp_add_noise_slice(&state->noise, grad, P, P * rank / ranks,
                               P * (rank + 1) / ranks - P * rank / ranks,
                               config->noise_multiplier, config->clip_norm);
        /* The one reduction of a data-parallel step: the clipped sums of all ranks (docs/maths.md
         * 4.12); everything after it is the same computation on every rank. */
        if (parallel_sum_float(grad, flag + 1, err)) {
            status = -1;
            goto done;
        }
        if (failed || grad[flag] != 0.0f) {
            if (failed)
                *err = local;
            else
                error_set(err, "training: another rank failed at step %lld (its message is "
                          "above)", state->step + 1);
            status = -1;
            goto done;
        }
        if (config->canaries)
            add_sampled_canaries(config->canaries, &state->sampler, rate, canary_step, s,
                                 magnitude, grad, P);
        if (config->private_mode && ranks == 1)
            dp_add_noise(&state->noise, grad, P + own, config->noise_multiplier,
                         config->clip_norm);
        if (own && state->step < config->canaries->observed_steps)
            for (size_t j = 0; j < own; j++)
                config->canaries->observed[state->step * (long long)own + (long long)j] =
                    grad[P + j] / magnitude;
        float scale = (float)(1.0 / expected_batch);
        for (size_t j = 0; j < P; j++)
            grad[j] *= scale;
        dp_optimizer_step(&state->optimizer, model->params, grad);
        if (config->private_mode &&
            accountant_ledger_record_sampled(&state->ledger, config->accountant.sampler, rate,
                                             config->noise_multiplier, 1, "dp-sgd", err)) {
            status = -1;
            goto done;
        }
        state->step++;
        metrics->steps++;
        metrics->seen += n;
        progress_update(&bar, (size_t)(s + 1));
    }
    progress_finish(&bar);
    if (sum_epoch_stats(&stats, &metrics->seen, err)) {
        status = -1;
        goto done;
    }
    state->epoch++;
    state->seconds += progress_now() - start;
    metrics->epoch = state->epoch;
    metrics->clipped = stats.clipped;
    metrics->train_loss = metrics->seen ? stats.loss_sum / (double)metrics->seen : NAN;
    metrics->train_accuracy = metrics->seen ? (double)stats.correct / (double)metrics->seen : NAN;
    metrics->test_loss = metrics->test_accuracy = NAN;
    if (test && test->count) { /* of the model that would be released now */
        dp_optimizer_swap_average(&state->optimizer, model->params);
        status = dp_model_evaluate(model, ws, test->x, test->mirror_x, test->y, test->count,
                                   &metrics->test_accuracy, &metrics->test_loss, err);
        dp_optimizer_swap_average(&state->optimizer, model->params);
        if (status)
            goto done;
    }
    state->epsilon = INFINITY; /* no guarantee without DP-SGD */
    if (config->private_mode && !config->no_epoch_epsilon &&
        accountant_ledger_epsilon(&state->ledger, config->delta, &config->accountant,
                                  &state->epsilon, NULL, err)) {
        status = -1;
        goto done;
    }
    metrics->epsilon = state->epsilon;
    metrics->seconds = state->seconds;
done:
    free(canary_step);
    free(indices);
    free(step_of);
    free(step_start);
    free(grad);
    free(batch_x);
    free(batch_y);
    free(adv_x);
    return status;
}

int dp_check_noise(const dp_train_config *config, size_t count, const accountant_ledger *prior,
                   const char *field, dpkit_error *err)
{
    if (!config->private_mode)
        return 0;
    if (!(config->noise_multiplier >= 0) || isinf(config->noise_multiplier))
        return error_set(err, "%s = %g, expected a finite noise multiplier >= 0", field,
                         config->noise_multiplier);
    if (count == 0 || config->batch_size == 0)
        return error_set(err, "%s: no steps to plan for %zu examples and batch size %zu", field,
                         count, config->batch_size);
    /* Fail closed before any step: a noise multiplier that spends epsilon = inf over the plan
     * (e.g. 1e-300, whose square underflows; docs/maths.md 10) would train without privacy. */
    double q = dp_sampling_rate(config, count);
    long long steps = (long long)config->epochs * dp_steps_per_epoch(count, config->batch_size);
    size_t before = prior ? prior->count : 0;
    accountant_event *planned = malloc((before + 1) * sizeof *planned);
    if (!planned)
        return error_set(err, "%s: out of memory", field);
    if (before)
        memcpy(planned, prior->events, before * sizeof *planned);
    planned[before] = (accountant_event){q, config->noise_multiplier, steps, "dp-sgd",
                                         config->accountant.sampler};
    double planned_epsilon;
    int failed = accountant_epsilon(planned, before + 1, config->delta, &config->accountant,
                                    &planned_epsilon, NULL, err);
    free(planned);
    if (failed)
        return error_prefix(err, "%s", field);
    if (!isfinite(planned_epsilon))
        return error_set(err, "%s: noise multiplier %g spends epsilon = inf over the %lld "
                              "planned steps (no privacy); refusing to train",
                         field, config->noise_multiplier, steps);
    return 0;
}

int dp_calibrate_noise(dp_train_config *config, size_t count, const accountant_ledger *prior,
                       dpkit_error *err)
{
    if (!config->private_mode)
        return 0;
    if (config->noise_multiplier > 0)
        return dp_check_noise(config, count, prior, "privacy.noise_multiplier", err);
    if (!(config->target_epsilon > 0))
        return error_set(err, "privacy: no epsilon to calibrate the noise to and no noise "
                              "multiplier");
    if (count == 0 || config->batch_size == 0)
        return error_set(err, "privacy: cannot calibrate the noise for %zu examples and batch "
                              "size %zu", count, config->batch_size);
    double q = dp_sampling_rate(config, count);
    long long steps = (long long)config->epochs * dp_steps_per_epoch(count, config->batch_size);
    if (accountant_calibrate_noise(config->target_epsilon, config->delta, q, steps,
                                   prior ? prior->events : NULL, prior ? prior->count : 0,
                                   &config->accountant, &config->noise_multiplier, err))
        return error_prefix(err, "privacy.epsilon");
    log_debug("noise multiplier %.6g calibrated for epsilon %g, delta %g over %lld steps at "
              "q = %.6g", config->noise_multiplier, config->target_epsilon, config->delta, steps, q);
    return 0;
}

int dp_train_epochs(dp_model *model, dp_workspace *ws, const dp_train_config *config,
                    dp_train_state *state, const dp_data *train, const dp_data *test,
                    int max_epochs, dp_epoch_hook hook, void *user, dp_epoch_metrics *last,
                    int *epochs_run, dpkit_error *err)
{
    dp_data none = {0};
    int done = 0;
    while (state->epoch < config->epochs && !state->budget_exhausted &&
           !(max_epochs > 0 && done == max_epochs)) {
        if (dp_train_epoch(model, ws, config, state, train, test ? test : &none, last, err))
            return -1;
        /* A model that saw no data must not look like a result. */
        if (state->step == 0 && state->budget_exhausted)
            return error_set(err, "no training step was taken: privacy.epsilon %g would be "
                                  "exceeded by the first step (epsilon %.4g is spent before "
                                  "it); raise privacy.epsilon or privacy.noise_multiplier; no "
                                  "model written", config->target_epsilon, state->epsilon);
        if (state->step == 0)
            return error_set(err, "no training step was taken: training.epochs and "
                                  "training.batch_size give 0 steps; no model written");
        done++;
        if (hook && hook(user, last, err))
            return -1;
    }
    if (epochs_run)
        *epochs_run = done;
    /* A finished training releases the average of its iterates, if it keeps one; the
     * checkpoints keep the last iterate, so that a resume continues the same trajectory. */
    const dp_optimizer *opt = &state->optimizer;
    if (opt->average && (state->epoch >= config->epochs || state->budget_exhausted))
        memcpy(model->params, opt->average, opt->size * sizeof *model->params);
    return 0;
}
