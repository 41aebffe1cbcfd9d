/* dpkit train: features (cached), private normalisation, noise calibration, DP-SGD epochs with
 * a checkpoint after each, and the run directory (config.yaml, metrics.jsonl, model.h5,
 * checkpoint.h5, summary.json). */
#include "cli/cli.h"
#include "cli/run_config.h"

#include "common/json.h"
#include "common/log.h"
#include "common/progress.h"
#include "common/textfile.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMMAND "train"

static void print_help(void)
{
    printf("usage: dpkit train CONFIG.yaml [--set key=value]... [--resume] [options]\n"
           "\n"
           "Trains a classifier with DP-SGD as the config says: computes (or loads from the cache)\n"
           "the features, fits the normalisation (private-bn statistics are released with noise\n"
           "and recorded in the privacy ledger), calibrates the noise multiplier to privacy.epsilon\n"
           "over training.epochs unless privacy.noise_multiplier is given, then trains with Poisson\n"
           "sampling, per-example clipping and Gaussian noise. Every epoch appends a line to\n"
           "metrics.jsonl and writes checkpoint.h5; at the end model.h5 and summary.json.\n"
           "\n"
           "options:\n"
           "  --set KEY=VALUE   override a config key (repeatable), e.g. --set privacy.epsilon=1\n"
           "  --resume          continue from OUTPUT_DIR/checkpoint.h5 (same config)\n"
           "  --max-epochs N    stop after N epochs in this invocation (resume later)\n"
           "  --force-features  recompute the features even if cached\n"
           "  --output DIR      run directory (default output.dir, or runs/<name>)\n"
           "  --print-config    print every config key with its default and exit\n"
           "  -q, --quiet       only errors\n"
           "  -v, --verbose     more detail\n"
           "  -h, --help        show this help\n"
           "\n"
           "example:\n"
           "  dpkit train configs/mnist-scatter-linear.yaml --set training.epochs=10\n");
}

typedef struct train_job {
    const char *config_path;
    cli_config_args config;
    int resume, force_features, max_epochs;
} train_job;

static int parse_args(int argc, char **argv, train_job *job)
{
    static const struct option options[] = {
        {"set", required_argument, NULL, 's'},      {"resume", no_argument, NULL, 'r'},
        {"max-epochs", required_argument, NULL, 'm'}, {"force-features", no_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},   {"print-config", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},           {"quiet", no_argument, NULL, 'q'},
        {"verbose", no_argument, NULL, 'v'},        {NULL, 0, NULL, 0}};
    memset(job, 0, sizeof *job);
    optind = 1;
    int c;
    long long v;
    while ((c = getopt_long(argc, argv, "hqv", options, NULL)) != -1) {
        if (cli_common_option(c))
            continue;
        int shared = cli_config_option(COMMAND, c, optarg, run_config_schema, print_help,
                                       &job->config);
        if (shared > 0)
            return shared;
        if (shared == 0)
            continue;
        switch (c) {
        case 'r':
            job->resume = 1;
            break;
        case 'f':
            job->force_features = 1;
            break;
        case 'm':
            if (cli_parse_long(COMMAND, "--max-epochs", optarg, &v))
                return 2;
            if (v < 1 || v > 100000)
                return cli_usage_error(COMMAND, "--max-epochs must be 1..100000, got %lld", v);
            job->max_epochs = (int)v;
            break;
        default:
            return cli_usage_error(COMMAND, "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error(COMMAND, "expected one CONFIG file");
    job->config_path = argv[optind];
    return 0;
}

/* Everything a run holds. */
typedef struct run {
    run_config rc;
    run_features rf;
    features_normalizer normalizer;
    dp_model model;
    dp_workspace ws;
    dp_train_state state;
    char *config_text;
    char *metrics; /* metrics.jsonl content */
    size_t metrics_size;
    char path_checkpoint[4200], path_model[4200], path_metrics[4200], path_summary[4200],
        path_config[4200];
} run;

static void run_free(run *r)
{
    features_normalizer_free(&r->normalizer);
    dp_optimizer_free(&r->state.optimizer);
    accountant_ledger_free(&r->state.ledger);
    dp_workspace_free(&r->ws);
    dp_model_free(&r->model);
    run_features_free(&r->rf);
    run_config_free(&r->rc);
    free(r->config_text);
    free(r->metrics);
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

/* Attributes and groups common to checkpoint.h5 and model.h5. */
static int save_common(const run *r, h5io_file *f, dpkit_error *err)
{
    return h5io_write_attr_string(f, "/", "config", r->config_text, err) ||
           h5io_write_attr_string(f, "/", "metrics", r->metrics ? r->metrics : "", err) ||
           h5io_write_attr_string(f, "/", "dpkit_version", DPKIT_VERSION, err) ||
           h5io_write_attr_double(f, "/", "noise_multiplier", r->rc.train.noise_multiplier, err) ||
           run_normalizer_save(&r->normalizer, f, "/normalizer", err);
}

static int write_checkpoint(const run *r, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_create(r->path_checkpoint, &f, err))
        return -1;
    if (save_common(r, f, err) || dp_train_state_save(&r->model, &r->state, f, "/state", err)) {
        h5io_abort(f);
        return -1;
    }
    return h5io_commit(f, err);
}

static int write_model(const run *r, const dp_epoch_metrics *last, dpkit_error *err)
{
    h5io_file *f;
    if (h5io_create(r->path_model, &f, err))
        return -1;
    if (save_common(r, f, err) || dp_model_save_h5(&r->model, f, "/model", err) ||
        accountant_ledger_save_h5(&r->state.ledger, f, "/ledger", err) ||
        h5io_write_attr_double(f, "/", "epsilon", r->rc.train.private_mode ? r->state.epsilon : INFINITY, err) ||
        h5io_write_attr_double(f, "/", "delta", r->rc.train.delta, err) ||
        h5io_write_attr_double(f, "/", "test_accuracy", last ? last->test_accuracy : NAN, err)) {
        h5io_abort(f);
        return -1;
    }
    return h5io_commit(f, err);
}

static int write_summary(const run *r, const dp_epoch_metrics *last, dpkit_error *err)
{
    json_writer w;
    if (json_writer_init_string(&w, 2))
        return error_set(err, "summary: out of memory");
    json_begin_object(&w);
    json_field_string(&w, "name", r->rc.name);
    json_field_string(&w, "dataset", r->rc.dataset);
    json_field_bool(&w, "private", r->rc.train.private_mode);
    json_field_double(&w, "epsilon", r->rc.train.private_mode ? r->state.epsilon : INFINITY);
    json_field_double(&w, "delta", r->rc.train.delta);
    json_field_double(&w, "noise_multiplier", r->rc.train.noise_multiplier);
    json_field_string(&w, "accountant", r->rc.train.accountant.kind == ACCOUNTANT_PLD ? "pld" : "rdp");
    json_field_int(&w, "epochs", r->state.epoch);
    json_field_int(&w, "steps", r->state.step);
    json_field_bool(&w, "budget_exhausted", r->state.budget_exhausted);
    json_field_double(&w, "test_accuracy", last ? last->test_accuracy : NAN);
    json_field_double(&w, "train_accuracy", last ? last->train_accuracy : NAN);
    json_field_double(&w, "train_seconds", r->state.seconds);
    json_field_double(&w, "feature_seconds", r->rf.train_info.seconds + r->rf.test_info.seconds);
    json_field_int(&w, "parameters", (long long)r->model.param_count);
    json_end_object(&w);
    int status = json_writer_finish(&w, err);
    const char *text = json_writer_string(&w);
    if (!status)
        status = textfile_write_atomic(r->path_summary, text, strlen(text), err);
    json_writer_free(&w);
    return status;
}

/* Normalises both splits: a fresh run fits the normaliser (private-bn releases its statistics
 * into the ledger); a resumed run reuses the released statistics from the checkpoint, so nothing
 * is released twice. */
static int normalize_features(run *r, h5io_file *checkpoint, dpkit_error *err)
{
    features_set *tr = &r->rf.train, *te = &r->rf.test;
    size_t spatial = tr->height * tr->width;
    if (checkpoint) {
        if (run_normalizer_load(&r->normalizer, checkpoint, "/normalizer", err))
            return -1;
        if (r->normalizer.channels != tr->channels || r->normalizer.spatial != spatial)
            return error_set(err, "%s: normaliser for %zux%zu features, these are %zux%zu",
                             checkpoint->path, r->normalizer.channels, r->normalizer.spatial,
                             tr->channels, spatial);
    } else {
        rng noise;
        run_rng(&r->rc, RNG_STREAM_NORM_NOISE, &noise);
        if (features_normalizer_fit(&r->normalizer, &r->rc.normalize, tr->values, tr->count,
                                    tr->channels, spatial, &noise, &r->state.ledger, err))
            return error_prefix(err, "features.normalize");
    }
    return features_normalizer_apply(&r->normalizer, tr->values, tr->count, tr->channels,
                                     spatial, err) ||
           features_normalizer_apply(&r->normalizer, te->values, te->count, te->channels,
                                     spatial, err);
}

/* sigma: given, or calibrated so that the planned steps after the ledger's prior events
 * (private-bn) spend exactly the target (on the safe side). */
static int resolve_noise(run *r, h5io_file *checkpoint, dpkit_error *err)
{
    dp_train_config *t = &r->rc.train;
    if (!t->private_mode)
        return 0;
    double q = (double)t->batch_size / (double)r->rf.train.count;
    long long steps = (long long)t->epochs * dp_steps_per_epoch(r->rf.train.count, t->batch_size);
    if (checkpoint || t->noise_multiplier > 0) {
        const char *field = checkpoint ? "noise_multiplier" : "privacy.noise_multiplier";
        if (checkpoint &&
            h5io_read_attr_double(checkpoint, "/", "noise_multiplier", &t->noise_multiplier, err))
            return -1;
        if (!(t->noise_multiplier >= 0) || isinf(t->noise_multiplier))
            return error_set(err, "%s: %s = %g, expected a finite noise multiplier >= 0",
                             checkpoint ? checkpoint->path : "config", field, t->noise_multiplier);
        /* Fail closed before any step: a noise multiplier that spends epsilon = inf over the
         * plan (e.g. 1e-300, whose square underflows) would train without privacy. */
        size_t prior = r->state.ledger.count;
        accountant_event *planned = malloc((prior + 1) * sizeof *planned);
        if (!planned)
            return error_set(err, "%s: out of memory", field);
        if (prior)
            memcpy(planned, r->state.ledger.events, prior * sizeof *planned);
        planned[prior] = (accountant_event){q, t->noise_multiplier, steps, "dp-sgd"};
        double planned_epsilon;
        int failed = accountant_epsilon(planned, prior + 1, t->delta, &t->accountant,
                                        &planned_epsilon, NULL, err);
        free(planned);
        if (failed)
            return error_prefix(err, "%s", field);
        if (!isfinite(planned_epsilon))
            return error_set(err, "%s: noise multiplier %g spends epsilon = inf over the %lld "
                                  "planned steps (no privacy); refusing to train",
                             field, t->noise_multiplier, steps);
        return 0;
    }
    if (accountant_calibrate_noise(r->rc.target_epsilon, t->delta, q, steps, r->state.ledger.events,
                                   r->state.ledger.count, &t->accountant, &t->noise_multiplier, err))
        return error_prefix(err, "privacy.epsilon");
    log_info("noise multiplier %.6g calibrated for epsilon %g, delta %g over %lld steps at q = %.6g",
             t->noise_multiplier, r->rc.target_epsilon, t->delta, steps, q);
    return 0;
}

static int set_paths(run *r, dpkit_error *err)
{
    const char *d = r->rc.output_dir;
    if (run_make_directory(d, err))
        return error_prefix(err, "output.dir");
    snprintf(r->path_checkpoint, sizeof r->path_checkpoint, "%s/checkpoint.h5", d);
    snprintf(r->path_model, sizeof r->path_model, "%s/model.h5", d);
    snprintf(r->path_metrics, sizeof r->path_metrics, "%s/metrics.jsonl", d);
    snprintf(r->path_summary, sizeof r->path_summary, "%s/summary.json", d);
    snprintf(r->path_config, sizeof r->path_config, "%s/config.yaml", d);
    return 0;
}

static int setup(run *r, const train_job *job, dpkit_error *err)
{
    run_config *rc = &r->rc;
    if (run_config_load(job->config_path, job->config.sets, job->config.set_count, rc, err))
        return -1;
    if (job->config.output)
        snprintf(rc->output_dir, sizeof rc->output_dir, "%s", job->config.output);
    if (set_paths(r, err))
        return -1;
    h5io_file *checkpoint = NULL;
    struct stat st;
    if (job->resume) {
        if (stat(r->path_checkpoint, &st) != 0)
            return error_set(err, "--resume: no checkpoint at %s", r->path_checkpoint);
        if (h5io_open_read(r->path_checkpoint, &checkpoint, err))
            return -1;
    } else if (stat(r->path_checkpoint, &st) == 0) {
        log_warn("%s exists; starting a new run over it (use --resume to continue it)",
                 r->path_checkpoint);
    }
    accountant_ledger_init(&r->state.ledger);
    dp_shape shape;
    int status = -1;
    if (run_features_load(rc, job->force_features, &r->rf, err))
        goto done;
    if (rc->train.batch_size > r->rf.train.count) {
        error_set(err, "training.batch_size: %zu, expected at most the %zu training examples",
                  rc->train.batch_size, r->rf.train.count);
        goto done;
    }
    if (normalize_features(r, checkpoint, err) || resolve_noise(r, checkpoint, err))
        goto done;
    features_set *tr = &r->rf.train;
    shape = (dp_shape){tr->channels, tr->height, tr->width};
    if (run_config_model(rc, shape, (size_t)r->rf.data.class_count, &r->model, err) ||
        dp_workspace_create(&r->model, rc->train.physical_batch, &r->ws, err) ||
        dp_optimizer_create(&rc->optimizer, r->model.param_count, &r->state.optimizer, err))
        goto done;
    rng init;
    run_rng(rc, RNG_STREAM_INIT, &init);
    dp_model_init(&r->model, &init, rc->zero_init);
    run_rng(rc, RNG_STREAM_SAMPLING, &r->state.sampler);
    run_rng(rc, RNG_STREAM_NOISE, &r->state.noise);

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
            h5io_read_attr_string(checkpoint, "/", "metrics", &r->metrics, err))
            goto done;
        r->metrics_size = strlen(r->metrics);
        log_info("resuming after epoch %d (%lld steps, epsilon %.4g)", r->state.epoch,
                 r->state.step, r->state.epsilon);
    }
    status = config_write_file(rc->cfg, r->path_config, err);
done:
    if (checkpoint)
        h5io_close(checkpoint);
    return status;
}

static int train_epochs(run *r, const train_job *job, dpkit_error *err)
{
    dp_train_config *t = &r->rc.train;
    dp_data train = {.x = r->rf.train.values, .y = r->rf.train.labels, .count = r->rf.train.count};
    dp_data test = {.x = r->rf.test.values, .y = r->rf.test.labels, .count = r->rf.test.count};
    dp_epoch_metrics m = {0}, *last = NULL;
    int done_now = 0;
    while (r->state.epoch < t->epochs && !r->state.budget_exhausted) {
        if (job->max_epochs && done_now == job->max_epochs)
            break;
        if (dp_train_epoch(&r->model, &r->ws, t, &r->state, &train, &test, &m, err) ||
            append_metrics(r, &m, t->noise_multiplier, err) || write_checkpoint(r, err) ||
            textfile_write_atomic(r->path_metrics, r->metrics, r->metrics_size, err))
            return -1;
        last = &m;
        done_now++;
        log_info("epoch %d/%d: train loss %.4f acc %.4f, test acc %.4f, epsilon %.4g, %.1f s",
                 m.epoch, t->epochs, m.train_loss, m.train_accuracy, m.test_accuracy,
                 t->private_mode ? m.epsilon : INFINITY, m.seconds);
    }
    if (r->state.epoch < t->epochs && !r->state.budget_exhausted) {
        log_info("stopped after epoch %d; continue with --resume", r->state.epoch);
        return 0;
    }
    if (!last) { /* resumed a finished run: evaluate for the summary */
        m.epoch = r->state.epoch;
        if (dp_model_evaluate(&r->model, &r->ws, test.x, test.y, test.count, &m.test_accuracy,
                              &m.test_loss, err))
            return -1;
        m.train_accuracy = NAN;
        last = &m;
    }
    if (write_model(r, last, err) || write_summary(r, last, err))
        return -1;
    printf("%s: test accuracy %.4f", r->rc.name, last->test_accuracy);
    if (t->private_mode)
        printf(" at epsilon %.4g, delta %g (%s, sigma %.4g, %lld steps)\n", r->state.epsilon,
               t->delta, t->accountant.kind == ACCOUNTANT_PLD ? "pld" : "rdp",
               t->noise_multiplier, r->state.step);
    else
        printf(" without privacy (%lld steps)\n", r->state.step);
    printf("model: %s\n", r->path_model);
    return 0;
}

int cli_train(int argc, char **argv)
{
    train_job job;
    int parsed = parse_args(argc, argv, &job);
    if (parsed)
        return parsed == 1 ? 0 : parsed;
    run r;
    memset(&r, 0, sizeof r);
    dpkit_error err;
    int status = setup(&r, &job, &err) || train_epochs(&r, &job, &err);
    if (status)
        cli_fail(COMMAND, &err);
    run_free(&r);
    return status ? 1 : 0;
}
