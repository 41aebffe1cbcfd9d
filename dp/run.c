/* The training driver behind `dpkit train`, dpkit_train and everything that trains from a
 * config: features (cached), private normalisation, noise calibration, DP-SGD epochs with a
 * checkpoint after each, and the run directory (config.yaml, metrics.jsonl, model.h5,
 * checkpoint.h5, summary.json). */
#include "dp/run_config.h"

#include "dp/feature_chain.h"

#include "common/json.h"
#include "common/log.h"
#include "common/parallel.h"
#include "common/paths.h"
#include "common/progress.h"
#include "common/textfile.h"

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Everything a run holds. */
typedef struct run {
    run_config rc;
    run_features rf;
    features_normalizer normalizer;
    dp_model model;
    dp_workspace ws;
    dp_train_state state;
    dp_adversarial_features *adversarial; /* PGD on the images of a model on features */
    dp_adversarial_inputs adversarial_inputs;
    /* training.augment_multiplicity K > 1: the features of copies 1..K-1 and their rows */
    features_set copies[DP_AUGMENT_MAX_COPIES - 1];
    const float *copy_x[DP_AUGMENT_MAX_COPIES - 1];
    features_set test_mirror; /* model.mirror_average: the test images' mirrors */
    char *config_text;
    /* Key of the sampling, noise and private-normalisation streams: from the OS unless
     * privacy.reproducible_noise; saved in checkpoint.h5 only. */
    uint8_t private_key[RNG_KEY_BYTES];
    char *metrics; /* metrics.jsonl content */
    size_t metrics_size;
    char path_checkpoint[4096], path_model[4096], path_metrics[4096], path_summary[4096],
        path_config[4096];
    progress epochs;      /* the epochs left at the start of this call: the run's time left */
    int finished;         /* model.h5 written (not stopped by --max-epochs) */
    int made_directory;   /* output.dir did not exist before this call */
    double test_accuracy; /* of the final model */
} run;

static void run_free(run *r)
{
    dp_adversarial_features_free(r->adversarial);
    features_normalizer_free(&r->normalizer);
    dp_optimizer_free(&r->state.optimizer);
    accountant_ledger_free(&r->state.ledger);
    dp_workspace_free(&r->ws);
    dp_model_free(&r->model);
    run_features_free(&r->rf);
    for (size_t c = 0; c < sizeof r->copies / sizeof *r->copies; c++)
        features_set_free(&r->copies[c]);
    features_set_free(&r->test_mirror);
    run_config_free(&r->rc);
    free(r->config_text);
    free(r->metrics);
    sodium_memzero(r->private_key, sizeof r->private_key);
}

static int append_metrics(run *r, const dp_epoch_metrics *m, double sigma, dpkit_error *err)
{
    json_writer w;
    if (json_writer_init_string(&w, 0))
        return error_set(err, "metrics: out of memory");
    json_begin_object(&w);
    json_field_int(&w, "epoch", m->epoch);
    json_field_int(&w, "steps", r->state.step);
    json_field_double(&w, "train_loss", m->train_loss);
    json_field_double(&w, "train_accuracy", m->train_accuracy);
    json_field_double(&w, "test_loss", m->test_loss);
    json_field_double(&w, "test_accuracy", m->test_accuracy);
    json_field_double(&w, "epsilon", r->rc.train.private_mode ? m->epsilon : INFINITY);
    json_field_double(&w, "delta", r->rc.train.delta);
    json_field_double(&w, "noise_multiplier", sigma);
    json_field_int(&w, "examples", (long long)m->seen);
    json_field_int(&w, "clipped", (long long)m->clipped);
    json_field_double(&w, "seconds", m->seconds);
    json_end_object(&w);
    int status = json_writer_finish(&w, err);
    const char *line = json_writer_string(&w);
    size_t n = strlen(line);
    char *grown = status ? NULL : realloc(r->metrics, r->metrics_size + n + 1);
    if (grown) {
        memcpy(grown + r->metrics_size, line, n + 1);
        r->metrics = grown;
        r->metrics_size += n;
    } else if (!status) {
        status = error_set(err, "metrics: out of memory");
    }
    json_writer_free(&w);
    return status;
}

/* Attributes and groups common to checkpoint.h5 and model.h5 (never the stream key). */
static int save_common(const run *r, h5io_file *f, dpkit_error *err)
{
    return h5io_write_attr_string(f, "/", "config", r->config_text, err) ||
           h5io_write_attr_string(f, "/", "noise_key",
                                  rng_noise_key_description(r->rc.reproducible_noise), err) ||
           h5io_write_attr_string(f, "/", "metrics", r->metrics ? r->metrics : "", err) ||
           h5io_write_attr_string(f, "/", "dpkit_version", DPKIT_VERSION, err) ||
           h5io_write_attr_double(f, "/", "noise_multiplier", r->rc.train.noise_multiplier, err) ||
           features_normalizer_save_h5(&r->normalizer, f, "/normalizer", err);
}

static int write_checkpoint(const run *r, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_create_private(r->path_checkpoint, &f, err)) /* 0600: it holds the key */
        return -1;
    int status = save_common(r, f, err) ||
                 dp_train_state_save(&r->model, &r->state, f, "/state", err);
    return h5io_finish(f, status, err);
}

static int write_model(const run *r, const dp_epoch_metrics *last, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_create(r->path_model, &f, err))
        return -1;
    int status =
        save_common(r, f, err) || dp_model_save_h5(&r->model, f, "/model", err) ||
        accountant_ledger_save_h5(&r->state.ledger, f, "/ledger", err) ||
        h5io_write_attr_double(f, "/", "epsilon", r->rc.train.private_mode ? r->state.epsilon : INFINITY, err) ||
        h5io_write_attr_double(f, "/", "delta", r->rc.train.delta, err) ||
        h5io_write_attr_double(f, "/", "test_accuracy", last ? last->test_accuracy : NAN, err) ||
        h5io_write_attr_int64(f, "/", "image_channels", (long long)r->rf.data.train.channels, err) ||
        h5io_write_attr_int64(f, "/", "image_height", (long long)r->rf.data.train.height, err) ||
        h5io_write_attr_int64(f, "/", "image_width", (long long)r->rf.data.train.width, err);
    return h5io_finish(f, status, err);
}

static int write_summary(const run *r, const dp_epoch_metrics *last, dpkit_error *err)
{
    json_writer w;
    if (json_document_begin(&w, "summary", err))
        return -1;
    json_field_string(&w, "name", r->rc.name);
    json_field_string(&w, "dpkit_version", DPKIT_VERSION);
    json_field_string(&w, "dataset", r->rc.dataset);
    json_field_int(&w, "seed", r->rc.seed);
    json_field_bool(&w, "private", r->rc.train.private_mode);
    json_field_double(&w, "epsilon", r->rc.train.private_mode ? r->state.epsilon : INFINITY);
    json_field_double(&w, "delta", r->rc.train.delta);
    json_field_double(&w, "noise_multiplier", r->rc.train.noise_multiplier);
    json_field_string(&w, "accountant", r->rc.train.accountant.kind == ACCOUNTANT_PLD ? "pld" : "rdp");
    json_field_bool(&w, "reproducible_noise", r->rc.reproducible_noise);
    json_field_string(&w, "noise_key", rng_noise_key_description(r->rc.reproducible_noise));
    json_field_int(&w, "epochs", r->state.epoch);
    json_field_int(&w, "steps", r->state.step);
    json_field_bool(&w, "budget_exhausted", r->state.budget_exhausted);
    json_field_double(&w, "test_accuracy", last ? last->test_accuracy : NAN);
    json_field_bool(&w, "mirror_average", r->rc.mirror_average);
    json_field_double(&w, "train_accuracy", last ? last->train_accuracy : NAN);
    json_field_double(&w, "train_seconds", r->state.seconds);
    json_field_double(&w, "feature_seconds", r->rf.train_info.seconds + r->rf.test_info.seconds);
    json_field_int(&w, "parameters", (long long)r->model.param_count);
    return json_document_write(&w, r->path_summary, err);
}

/* Normalises both splits: a fresh run fits the normaliser (private-bn releases its statistics
 * into the ledger); a resumed run reuses the released statistics from the checkpoint, so nothing
 * is released twice. */
static int normalize_features(run *r, h5io_file *checkpoint, dpkit_error *err)
{
    features_set *tr = &r->rf.train, *te = &r->rf.test;
    size_t spatial = tr->height * tr->width;
    if (checkpoint) {
        if (features_normalizer_load_h5(&r->normalizer, checkpoint, "/normalizer", err))
            return -1;
        if (r->normalizer.channels != tr->channels || r->normalizer.spatial != spatial)
            return error_set(err, "%s: normaliser for %zux%zu features, these are %zux%zu",
                             checkpoint->path, r->normalizer.channels, r->normalizer.spatial,
                             tr->channels, spatial);
    } else {
        rng noise;
        rng_init(&noise, r->private_key, RNG_STREAM_NORM_NOISE);
        if (features_normalizer_fit(&r->normalizer, &r->rc.normalize, tr->values, tr->count,
                                    tr->channels, spatial, &noise, &r->state.ledger, err))
            return error_prefix(err, "features.normalize");
    }
    return features_normalizer_apply(&r->normalizer, tr->values, tr->count, tr->channels,
                                     spatial, err) ||
           features_normalizer_apply(&r->normalizer, te->values, te->count, te->channels,
                                     spatial, err);
}

/* sigma: from the checkpoint, given, or calibrated so that the planned steps after the ledger's
 * prior events (private-bn) spend exactly the target (on the safe side). */
static int resolve_noise(run *r, h5io_file *checkpoint, dpkit_error *err)
{
    dp_train_config *t = &r->rc.train;
    if (!t->private_mode)
        return 0;
    if (checkpoint) {
        char field[4200];
        snprintf(field, sizeof field, "%s: noise_multiplier", checkpoint->path);
        return h5io_read_attr_double(checkpoint, "/", "noise_multiplier", &t->noise_multiplier,
                                     err) ||
               dp_check_noise(t, r->rf.train_total, &r->state.ledger, field, err);
    }
    int given = t->noise_multiplier > 0;
    if (dp_calibrate_noise(t, r->rf.train_total, &r->state.ledger, err))
        return -1;
    if (!given)
        log_info("noise multiplier %.6g calibrated for epsilon %g, delta %g over %d epochs",
                 t->noise_multiplier, r->rc.target_epsilon, t->delta, t->epochs);
    return 0;
}

/* make: create the directory (rank 0 of a data-parallel run; the others only read there). */
static int set_paths(run *r, int make, dpkit_error *err)
{
    const char *d = r->rc.output_dir;
    struct stat st;
    r->made_directory = make && stat(d, &st) != 0;
    if (make && paths_make_directory(d, err))
        return error_prefix(err, "output.dir");
    snprintf(r->path_checkpoint, sizeof r->path_checkpoint, "%s/checkpoint.h5", d);
    snprintf(r->path_model, sizeof r->path_model, "%s/model.h5", d);
    snprintf(r->path_metrics, sizeof r->path_metrics, "%s/metrics.jsonl", d);
    snprintf(r->path_summary, sizeof r->path_summary, "%s/summary.json", d);
    snprintf(r->path_config, sizeof r->path_config, "%s/config.yaml", d);
    return 0;
}

/* One run per directory: a directory that holds a started (checkpoint.h5) or finished (model.h5)
 * run is refused, so that a second `dpkit train` never replaces a model silently; --resume
 * continues it, --overwrite removes its files first (a stopped new run must not leave the old
 * model.h5 beside its own checkpoint). */
static int claim_directory(const run *r, const run_options *job, dpkit_error *err)
{
    struct stat st;
    const char *held = stat(r->path_model, &st) == 0        ? "model.h5"
                       : stat(r->path_checkpoint, &st) == 0 ? "checkpoint.h5"
                                                            : NULL;
    if (!held || job->resume)
        return 0;
    if (!job->overwrite)
        return error_set(err, "output.dir: %s already holds a run (%s); expected a new "
                              "directory: choose one with --output DIR, continue that run with "
                              "--resume, or replace it with --overwrite",
                         r->rc.output_dir, held);
    log_warn("%s: replacing the run there (--overwrite)", r->rc.output_dir);
    const char *paths[] = {r->path_model, r->path_checkpoint, r->path_summary, r->path_metrics};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++)
        if (unlink(paths[i]) != 0 && stat(paths[i], &st) == 0)
            return error_set(err, "--overwrite: cannot remove %s", paths[i]);
    return 0;
}

static int setup(run *r, const run_options *job, dpkit_error *err)
{
    run_config *rc = &r->rc;
    if (run_config_load(job->config_path, job->sets, job->set_count, rc, err))
        return -1;
    if (job->output_dir)
        snprintf(rc->output_dir, sizeof rc->output_dir, "%s", job->output_dir);
    /* Data-parallel (docs/mpi.md): rank 0 alone writes the run directory. */
    int root = parallel_rank() == 0;
    if (parallel_agree(set_paths(r, root, err) || (root && claim_directory(r, job, err)), err))
        return -1;
    if (root)
        run_warn_reproducible_noise(rc->reproducible_noise, rc->seed);
    /* A resumed run takes the key back from its checkpoint (dp_train_state_load). Ranks share
     * rank 0's key, never one of their own: their batches and noise must be the one
     * process's (docs/maths.md 4.12). */
    if (root)
        run_private_key(rc, r->private_key);
    if (parallel_broadcast(r->private_key, sizeof r->private_key, err))
        return -1;
    h5io_file *checkpoint = NULL;
    struct stat st;
    if (job->resume) {
        if (stat(r->path_checkpoint, &st) != 0)
            return error_set(err, "--resume: no checkpoint at %s", r->path_checkpoint);
        if (h5io_open_read(r->path_checkpoint, &checkpoint, err))
            return -1;
    }
    accountant_ledger_init(&r->state.ledger);
    dp_shape shape;
    int status = -1;
    if (run_features_load(rc, job->force_features, &r->rf, err))
        goto done;
    if (rc->train.batch_size > r->rf.train_total) {
        error_set(err, "training.batch_size: %zu, expected at most the %zu training examples",
                  rc->train.batch_size, r->rf.train_total);
        goto done;
    }
    if (run_check_adversarial(rc, r->rf.data.train.channels, err) ||
        normalize_features(r, checkpoint, err) || resolve_noise(r, checkpoint, err))
        goto done;
    if (rc->augment.multiplicity > 1) {
        if (run_augment_features(rc, &r->rf, &r->normalizer, job->force_features, r->copies,
                                 err))
            goto done;
        for (size_t c = 0; c + 1 < rc->augment.multiplicity; c++)
            r->copy_x[c] = r->copies[c].values;
    }
    if (r->rc.mirror_average && run_mirror_features(rc, &r->rf.data, "test", &r->rf.test,
                                                    &r->normalizer, job->force_features,
                                                    &r->test_mirror, err))
        goto done;
    features_set *tr = &r->rf.train;
    shape = (dp_shape){tr->channels, tr->height, tr->width};
    if (run_config_model(rc, shape, (size_t)r->rf.data.class_count, &r->model, err) ||
        dp_workspace_create(&r->model, rc->train.physical_batch, &r->ws, err) ||
        dp_optimizer_create(&rc->optimizer, r->model.param_count, &r->state.optimizer, err))
        goto done;
    /* The chain takes the normaliser fitted above (private-bn's released statistics included):
     * the one the model's training features went through (docs/maths.md 12.6). */
    if (run_adversarial_on_images(rc, r->rf.data.train.channels)) {
        if (dp_adversarial_features_create(&rc->extractor, &r->rf.data.train, r->rf.train_first,
                                           &r->normalizer, &r->model, rc->train.physical_batch,
                                           &r->adversarial, &r->adversarial_inputs, err))
            goto done;
        rc->train.adversarial_inputs = &r->adversarial_inputs;
    }
    rng init;
    run_rng(rc, RNG_STREAM_INIT, &init);
    dp_model_init(&r->model, &init, rc->zero_init);
    rng_init(&r->state.sampler, r->private_key, RNG_STREAM_SAMPLING);
    rng_init(&r->state.noise, r->private_key, RNG_STREAM_NOISE);

    char sigma[64];
    snprintf(sigma, sizeof sigma, "%.17g", rc->train.noise_multiplier);
    if (config_set(rc->cfg, "privacy.noise_multiplier", sigma, err) ||
        config_write_string(rc->cfg, &r->config_text, err))
        goto done;
    if (checkpoint) {
        char *stored = NULL;
        if (h5io_read_attr_string(checkpoint, "/", "config", &stored, err))
            goto done;
        int same = strcmp(stored, r->config_text) == 0;
        free(stored);
        if (!same) {
            error_set(err, "--resume: the config differs from the one the checkpoint was made "
                           "with (%s/config.yaml)", rc->output_dir);
            goto done;
        }
        accountant_ledger_free(&r->state.ledger);
        if (dp_train_state_load(&r->model, &r->state, checkpoint, "/state", err) ||
            dp_train_state_check(&r->state, &rc->train, r->rf.train_total, checkpoint->path,
                                 "/state", err) ||
            h5io_read_attr_string(checkpoint, "/", "metrics", &r->metrics, err))
            goto done;
        r->metrics_size = strlen(r->metrics);
        log_info("resuming after epoch %d (%lld steps, epsilon %.4g)", r->state.epoch,
                 r->state.step, r->state.epsilon);
    }
    status = root ? config_write_file(rc->cfg, r->path_config, err) : 0;
done:
    if (checkpoint)
        h5io_close(checkpoint);
    return parallel_agree(status, err);
}

/* After each epoch: its metrics line, the checkpoint, metrics.jsonl. */
static int after_epoch(void *user, const dp_epoch_metrics *m, dpkit_error *err)
{
    run *r = user;
    const dp_train_config *t = &r->rc.train;
    int root = parallel_rank() == 0;
    if (parallel_agree(append_metrics(r, m, t->noise_multiplier, err) ||
                           (root && (write_checkpoint(r, err) ||
                                     textfile_write_atomic(r->path_metrics, r->metrics,
                                                           r->metrics_size, err))),
                       err))
        return -1;
    char eta[96];
    progress_count(&r->epochs, r->epochs.done + 1);
    progress_describe(&r->epochs, eta, sizeof eta);
    log_info("epoch %d/%d: train loss %.4f acc %.4f, test acc %.4f, epsilon %.4g, %.1f s; "
             "run: %s", m->epoch, t->epochs, m->train_loss, m->train_accuracy, m->test_accuracy,
             t->private_mode ? m->epsilon : INFINITY, m->seconds, eta);
    return 0;
}

static int train_epochs(run *r, const run_options *job, dpkit_error *err)
{
    dp_train_config *t = &r->rc.train;
    dp_data train = {.x = r->rf.train.values, .y = r->rf.train.labels, .count = r->rf.train.count,
                     .first = r->rf.train_first, .total = r->rf.train_total,
                     .copies = r->rc.augment.multiplicity, .copy_x = r->copy_x};
    dp_data test = {.x = r->rf.test.values, .y = r->rf.test.labels, .count = r->rf.test.count,
                    .mirror_x = r->test_mirror.values};
    dp_epoch_metrics m = {0}, *last = NULL;
    int epochs_run = 0;
    /* Estimated from this call's epochs: a resumed run's earlier ones ran at another time. */
    int left = t->epochs > r->state.epoch ? t->epochs - r->state.epoch : 0;
    progress_start(&r->epochs, "run", (size_t)left, "epochs");
    if (dp_train_epochs(&r->model, &r->ws, t, &r->state, &train, &test, job->max_epochs,
                        after_epoch, r, &m, &epochs_run, err))
        return -1;
    if (epochs_run)
        last = &m;
    if (r->state.epoch < t->epochs && !r->state.budget_exhausted) {
        log_info("stopped after epoch %d; continue with --resume", r->state.epoch);
        return 0;
    }
    if (!last) { /* resumed a finished run: evaluate for the summary */
        m.epoch = r->state.epoch;
        if (dp_model_evaluate(&r->model, &r->ws, test.x, test.mirror_x, test.y, test.count,
                              &m.test_accuracy, &m.test_loss, err))
            return -1;
        m.train_accuracy = NAN;
        last = &m;
    }
    if (parallel_agree(parallel_rank() == 0 && (write_model(r, last, err) ||
                                                 write_summary(r, last, err)),
                       err))
        return -1;
    r->finished = 1;
    r->test_accuracy = last->test_accuracy;
    return 0;
}

int run_train(const run_options *options, run_result *result, dpkit_error *err)
{
    run r;
    memset(&r, 0, sizeof r);
    /* Under mpirun the training spans the ranks, unless a sweep runs it on one (docs/mpi.md). */
    int spanning = parallel_set_spanning(1);
    int status = setup(&r, options, err) || train_epochs(&r, options, err);
    parallel_set_spanning(spanning);
    if (status && r.rc.cfg)
        run_warn_reproducible_noise(r.rc.reproducible_noise, r.rc.seed);
    /* A run that failed before writing anything leaves no empty directory behind (rmdir
     * removes only an empty one). */
    if (status && r.made_directory)
        rmdir(r.rc.output_dir);
    if (!status && result) {
        memset(result, 0, sizeof *result);
        result->finished = r.finished;
        snprintf(result->name, sizeof result->name, "%s", r.rc.name);
        snprintf(result->model_path, sizeof result->model_path, "%s", r.path_model);
        result->private_mode = r.rc.train.private_mode;
        result->epsilon = r.rc.train.private_mode ? r.state.epsilon : INFINITY;
        result->delta = r.rc.train.delta;
        result->noise_multiplier = r.rc.train.noise_multiplier;
        result->accountant = r.rc.train.accountant.kind;
        result->test_accuracy = r.test_accuracy;
        result->steps = r.state.step;
        result->epoch = r.state.epoch;
        result->reproducible_noise = r.rc.reproducible_noise;
        result->seed = r.rc.seed;
    }
    run_free(&r);
    return status ? -1 : 0;
}

DPKIT_API int dpkit_train_flags(const char *config_path, const char *const *overrides,
                                size_t override_count, int flags, dpkit_train_result *result,
                                dpkit_error *err)
{
    if (flags & ~DPKIT_TRAIN_OVERWRITE)
        return error_set(err, "dpkit_train_flags: flags %d, expected 0 or DPKIT_TRAIN_OVERWRITE",
                         flags);
    run_options options = {.config_path = config_path, .sets = overrides,
                           .set_count = override_count,
                           .overwrite = (flags & DPKIT_TRAIN_OVERWRITE) != 0};
    run_result r;
    if (run_train(&options, &r, err))
        return -1;
    run_warn_reproducible_noise(r.reproducible_noise, r.seed);
    if (result) {
        memset(result, 0, sizeof *result);
        snprintf(result->model_path, sizeof result->model_path, "%s", r.model_path);
        result->epsilon = r.epsilon;
        result->delta = r.delta;
        result->test_accuracy = r.test_accuracy;
        result->steps = r.steps;
        result->reproducible_noise = r.reproducible_noise;
    }
    return 0;
}

DPKIT_API int dpkit_train(const char *config_path, const char *const *overrides,
                          size_t override_count, dpkit_train_result *result, dpkit_error *err)
{
    return dpkit_train_flags(config_path, overrides, override_count, 0, result, err);
}
