/* The robustness experiment (robust/robustness.h): its config, and for every model the clean
 * predictions, the attack (PGD per radius, or C&W once), the smoothing certificates, and its
 * DP epsilon read from the model's own ledger. */
#include "robust/robustness.h"

#include "common/h5io.h"
#include "common/progress.h"
#include "dp/run_config.h"
#include "dp/run_ledger.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const config_field model_item_schema[] = {
    {"label", CONFIG_STRING, NULL, "name of the model in the report and the figures", NULL, NULL},
    {"model", CONFIG_STRING, NULL, "model.h5 written by dpkit train", NULL, NULL},
    {"line", CONFIG_STRING, "", "line of the privacy x robustness figure (default: the label)", NULL, NULL},
    {0}};

const config_field robustness_schema[] = {
    {"kind", CONFIG_ENUM, NULL, "what this config is for", "robustness", NULL},
    {"name", CONFIG_STRING, "robustness", "name of the experiment (title of the figures)", NULL, NULL},
    {"models", CONFIG_LIST, NULL, "the trained models to attack", NULL, model_item_schema},
    {"attack.kind", CONFIG_ENUM, "pgd", "pgd: robust accuracy at each radius; cw: each input's smallest L2 perturbation", "pgd|cw", NULL},
    {"attack.norm", CONFIG_ENUM, "linf", "pgd: the norm of the perturbation set", "linf|l2", NULL},
    {"attack.epsilons", CONFIG_STRING, "0 0.05 0.1 0.15 0.2 0.25 0.3", "radii (pixels in [0, 1]), separated by spaces or commas", NULL, NULL},
    {"attack.steps", CONFIG_INT, "40", "pgd: steps", "0..100000", NULL},
    {"attack.step", CONFIG_DOUBLE, "0.01", "pgd: step size", "0..1e6", NULL},
    {"attack.random_start", CONFIG_BOOL, "false", "pgd: start at a random point of the set", NULL, NULL},
    {"attack.loss", CONFIG_ENUM, "cross-entropy", "pgd: the loss ascended (margin: max other logit - the label's, which does not vanish when the softmax saturates)", "cross-entropy|margin", NULL},
    {"attack.seed", CONFIG_INT, "0", "pgd: seed of the random starts", "0..9223372036854775807", NULL},
    {"attack.figure_epsilon", CONFIG_DOUBLE, "0.3", "radius of the privacy x robustness figure (one of attack.epsilons)", "0..1e6", NULL},
    {"cw.steps", CONFIG_INT, "1000", "cw: Adam steps per search step", "1..1000000", NULL},
    {"cw.search_steps", CONFIG_INT, "9", "cw: binary-search steps on the constant c", "1..100", NULL},
    {"cw.learning_rate", CONFIG_DOUBLE, "0.01", "cw: Adam learning rate", "0..1e6", NULL},
    {"cw.initial_c", CONFIG_DOUBLE, "1e-3", "cw: first constant c", "0..1e12", NULL},
    {"cw.confidence", CONFIG_DOUBLE, "0", "cw: margin kappa asked for", "0..1e6", NULL},
    {"data.split", CONFIG_ENUM, "test", "split of the model's dataset", "test|train", NULL},
    {"data.count", CONFIG_INT, "1000", "inputs attacked: the first of the split", "1..100000000", NULL},
    {"data.batch", CONFIG_INT, "100", "inputs per attack batch", "1..65536", NULL},
    {"smoothing.count", CONFIG_INT, "0", "inputs certified by randomized smoothing (0: none)", "0..100000000", NULL},
    {"smoothing.sigma", CONFIG_DOUBLE, "0.25", "noise of the smoothed classifier", "0..1e6", NULL},
    {"smoothing.n0", CONFIG_INT, "100", "samples that select the class", "1..100000000", NULL},
    {"smoothing.n", CONFIG_INT, "10000", "samples that bound its probability", "1..1000000000", NULL},
    {"smoothing.alpha", CONFIG_DOUBLE, "0.001", "failure probability of a certificate", "0..0.5", NULL},
    {"smoothing.radii", CONFIG_STRING, "0 0.25 0.5 0.75 1", "L2 radii of the certified accuracy", NULL, NULL},
    {"smoothing.attack", CONFIG_BOOL, "true", "attack every certified input within its radius (PGD L2 on the base model, the smoothed class judged by PREDICT)", NULL, NULL},
    {"*", CONFIG_INCLUDE, NULL, NULL, NULL, run_config_schema_output},
    {"output.dir", CONFIG_DEFAULT, "", "output directory (default runs/robustness/<name>)", NULL, NULL},
    {0}};

static int read_attack(robustness *r, dpkit_error *err)
{
    config *c = r->cfg;
    r->cw = strcmp(config_get_string(c, "attack.kind"), "cw") == 0;
    r->pgd = (dp_pgd_config){
        .norm = strcmp(config_get_string(c, "attack.norm"), "l2") == 0 ? DP_ATTACK_L2
                                                                        : DP_ATTACK_LINF,
        .step = config_get_double(c, "attack.step"),
        .steps = (int)config_get_int(c, "attack.steps"),
        .random_start = config_get_bool(c, "attack.random_start"),
        .margin_loss = strcmp(config_get_string(c, "attack.loss"), "margin") == 0,
        .lower = 0,
        .upper = 1,
        .seed = (uint64_t)config_get_int(c, "attack.seed")};
    if (!r->cw && !(r->pgd.step > 0))
        return config_error(c, "attack.step", err, "0, expected > 0");
    robust_cw_config_default(&r->cw_config);
    r->cw_config.steps = (int)config_get_int(c, "cw.steps");
    r->cw_config.search_steps = (int)config_get_int(c, "cw.search_steps");
    r->cw_config.learning_rate = config_get_double(c, "cw.learning_rate");
    r->cw_config.initial_c = config_get_double(c, "cw.initial_c");
    r->cw_config.confidence = config_get_double(c, "cw.confidence");
    if (r->cw && !(r->cw_config.learning_rate > 0))
        return config_error(c, "cw.learning_rate", err, "0, expected > 0");
    if (r->cw && !(r->cw_config.initial_c > 0))
        return config_error(c, "cw.initial_c", err, "0, expected > 0");
    if (config_get_numbers(c, "attack.epsilons", r->epsilons, ROBUSTNESS_MAX_VALUES,
                           &r->epsilon_count, err))
        return -1;
    r->figure_epsilon = config_get_double(c, "attack.figure_epsilon");
    int found = 0;
    for (size_t i = 0; i < r->epsilon_count; i++) {
        if (!(r->epsilons[i] >= 0))
            return config_error(c, "attack.epsilons", err, "%g, expected radii >= 0",
                                r->epsilons[i]);
        found |= r->epsilons[i] == r->figure_epsilon;
    }
    if (!found)
        return config_error(c, "attack.figure_epsilon", err, "%g, expected one of "
                            "attack.epsilons ('%s')", r->figure_epsilon,
                            config_get_string(c, "attack.epsilons"));
    return 0;
}

static int read_smoothing(robustness *r, dpkit_error *err)
{
    config *c = r->cfg;
    r->smoothing_count = (size_t)config_get_int(c, "smoothing.count");
    robust_smoothing_config_default(&r->smoothing);
    r->smoothing.sigma = config_get_double(c, "smoothing.sigma");
    r->smoothing.n0 = (size_t)config_get_int(c, "smoothing.n0");
    r->smoothing.n = (size_t)config_get_int(c, "smoothing.n");
    r->smoothing.alpha = config_get_double(c, "smoothing.alpha");
    r->smoothing.seed = (uint64_t)config_get_int(c, "attack.seed");
    r->smoothing_attack = config_get_bool(c, "smoothing.attack");
    if (r->smoothing_count && !(r->smoothing.sigma > 0))
        return config_error(c, "smoothing.sigma", err, "0, expected > 0");
    if (r->smoothing_count && !(r->smoothing.alpha > 0 && r->smoothing.alpha < 0.5))
        return config_error(c, "smoothing.alpha", err, "%g, expected 0 < alpha < 0.5",
                            r->smoothing.alpha);
    return config_get_numbers(c, "smoothing.radii", r->radii, ROBUSTNESS_MAX_VALUES,
                              &r->radius_count, err);
}

int robustness_load(const char *path, const char *const *sets, size_t set_count,
                    robustness *r, dpkit_error *err)
{
    memset(r, 0, sizeof *r);
    if (config_load_with_overrides(path, robustness_schema, sets, set_count, &r->cfg, err))
        return run_config_explain_kind(path, RUN_CONFIG_KIND_ROBUSTNESS, err);
    config *c = r->cfg;
    snprintf(r->name, sizeof r->name, "%s", config_get_string(c, "name"));
    const char *dir = config_get_string(c, "output.dir");
    if (strlen(dir) + 1 > sizeof r->dir)
        return config_error(c, "output.dir", err, "longer than %zu characters", sizeof r->dir - 1);
    if (dir[0])
        snprintf(r->dir, sizeof r->dir, "%s", dir);
    else
        snprintf(r->dir, sizeof r->dir, "runs/robustness/%s", r->name);
    snprintf(r->split, sizeof r->split, "%s", config_get_string(c, "data.split"));
    r->count = (size_t)config_get_int(c, "data.count");
    r->batch = (size_t)config_get_int(c, "data.batch");
    if (read_attack(r, err) || read_smoothing(r, err))
        return -1;
    r->model_count = config_list_length(c, "models");
    if (r->model_count == 0)
        return config_error(c, "models", err, "at least one model is needed");
    r->models = calloc(r->model_count, sizeof *r->models);
    if (!r->models)
        return error_set(err, "robustness: out of memory");
    for (size_t m = 0; m < r->model_count; m++) {
        const config *item = config_list_item(c, "models", m);
        robustness_model *rm = &r->models[m];
        snprintf(rm->label, sizeof rm->label, "%s", config_get_string(item, "label"));
        snprintf(rm->path, sizeof rm->path, "%s", config_get_string(item, "model"));
        const char *line = config_get_string(item, "line");
        snprintf(rm->line, sizeof rm->line, "%s", line[0] ? line : rm->label);
    }
    return 0;
}

void robustness_free(robustness *r)
{
    for (size_t m = 0; r->models && m < r->model_count; m++) {
        robustness_model *rm = &r->models[m];
        free(rm->labels), free(rm->clean), free(rm->robust), free(rm->l2);
        free(rm->smoothed), free(rm->radius);
    }
    free(r->models);
    config_free(r->cfg);
    memset(r, 0, sizeof *r);
}

/* epsilon of the model's ledger at its delta with its accountant; +inf when not private. */
static int model_epsilon(robustness_model *rm, dpkit_error *err)
{
    run_ledger rl;
    if (run_ledger_load(rm->path, &rl, err))
        return -1;
    accountant_options o;
    accountant_options_default(&o);
    int status = rl.accountant[0] ? accountant_kind_parse(rl.accountant, &o.kind, err) : 0;
    double order;
    rm->delta = rl.delta;
    if (!status)
        status = run_ledger_epsilon(&rl, rl.delta, &o, &rm->dp_epsilon, &order, err);
    run_ledger_free(&rl);
    return status;
}

/* The first `count` images of the split as pixels in [0, 1] (count, C, H, W). */
static float *pixels_of(const dataset_split *s, size_t count)
{
    size_t item = s->channels * s->height * s->width;
    float *x = malloc(count * item * sizeof *x);
    for (size_t i = 0; x && i < count; i++)
        dp_image_pixels(s, i, x + i * item);
    return x;
}

static int predict(const dp_classifier *cl, const float *x, size_t n, int32_t *out,
                   dpkit_error *err)
{
    size_t D = cl->input_size, K = cl->class_count;
    float *z = malloc(cl->max_batch * K * sizeof *z);
    if (!z)
        return error_set(err, "robustness: out of memory");
    int rc = 0;
    for (size_t first = 0; first < n && rc == 0; first += cl->max_batch) {
        size_t m = n - first < cl->max_batch ? n - first : cl->max_batch;
        rc = cl->logits(cl->user, x + first * D, m, z, err);
        for (size_t i = 0; rc == 0 && i < m; i++)
            out[first + i] = (int32_t)dp_argmax(z + i * K, K);
    }
    free(z);
    return rc;
}

static double mean_of(const uint8_t *flags, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += flags[i];
    return n ? (double)k / (double)n : 0;
}

/* PGD at every radius, or C&W once (robust at a radius: right on the clean input and no
 * perturbation within it found). */
static int attack(const robustness *r, robustness_model *rm, const dp_classifier *cl,
                  const float *x, progress *bar, dpkit_error *err)
{
    size_t n = rm->count, D = cl->input_size;
    float *adv = malloc(n * D * sizeof *adv);
    uint8_t *fooled = malloc(n);
    int rc = 0;
    if (!adv || !fooled) {
        rc = error_set(err, "robustness: out of memory for %zu inputs", n);
        goto done;
    }
    if (r->cw) {
        rc = robust_cw(cl, &r->cw_config, x, rm->labels, n, adv, rm->l2, err);
        for (size_t e = 0; rc == 0 && e < r->epsilon_count; e++) {
            uint8_t *ok = rm->robust + e * n;
            for (size_t i = 0; i < n; i++)
                ok[i] = rm->clean[i] == rm->labels[i] && rm->l2[i] > r->epsilons[e];
            rm->robust_accuracy[e] = mean_of(ok, n);
        }
        progress_update(bar, r->epsilon_count);
        goto done;
    }
    for (size_t e = 0; e < r->epsilon_count && rc == 0; e++) {
        dp_pgd_config c = r->pgd;
        c.epsilon = r->epsilons[e];
        /* radius 0 leaves every input as it is: the clean predictions */
        rc = c.epsilon > 0 ? dp_pgd(cl, &c, x, rm->labels, n, adv, fooled, err) : 0;
        uint8_t *ok = rm->robust + e * n;
        for (size_t i = 0; rc == 0 && i < n; i++)
            ok[i] = c.epsilon > 0 ? !fooled[i] : rm->clean[i] == rm->labels[i];
        rm->robust_accuracy[e] = mean_of(ok, n);
        progress_update(bar, e + 1);
    }
done:
    free(adv);
    free(fooled);
    return rc;
}

/* Within its certified radius R, a certified input's smoothed class must not change: PGD L2
 * on the base classifier (radius R, step 2.5 R / steps as Madry et al.) looks for a change,
 * and the smoothed classifier's PREDICT judges the point found. */
static int check_certificate(const robustness *r, robustness_model *rm, const dp_classifier *cl,
                             const float *x, size_t i, float *adv, dpkit_error *err)
{
    size_t D = cl->input_size;
    dp_pgd_config c = r->pgd;
    c.norm = DP_ATTACK_L2;
    c.epsilon = rm->radius[i];
    c.steps = c.steps > 0 ? c.steps : 1;
    c.step = 2.5 * c.epsilon / c.steps;
    int32_t y = rm->smoothed[i], after;
    if (dp_pgd(cl, &c, x + i * D, &y, 1, adv, NULL, err) ||
        robust_smoothed_predict(cl, &r->smoothing, adv, &after, err))
        return -1;
    rm->certificate_checks++;
    rm->certificate_violations += after >= 0 && after != y;
    return 0;
}

static int certify(const robustness *r, robustness_model *rm, const dp_classifier *cl,
                   const float *x, dpkit_error *err)
{
    size_t n = rm->certified_count, D = cl->input_size;
    if (n == 0)
        return 0;
    float *adv = malloc(D * sizeof *adv);
    if (!adv)
        return error_set(err, "robustness: out of memory");
    int rc = 0;
    progress bar;
    progress_start(&bar, rm->label, n, "certificates");
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = robust_certify(cl, &r->smoothing, x + i * D, &rm->smoothed[i], &rm->radius[i], err);
        if (rc == 0 && r->smoothing_attack && rm->smoothed[i] >= 0 && rm->radius[i] > 0)
            rc = check_certificate(r, rm, cl, x, i, adv, err);
        progress_update(&bar, i + 1);
    }
    progress_finish(&bar);
    free(adv);
    if (rc)
        return -1;
    for (size_t k = 0; k < r->radius_count; k++) {
        size_t right = 0;
        for (size_t i = 0; i < n; i++)
            right += rm->smoothed[i] == rm->labels[i] && rm->radius[i] >= r->radii[k];
        rm->certified_accuracy[k] = n ? (double)right / (double)n : 0;
    }
    return 0;
}

static int run_model(const robustness *r, robustness_model *rm, dpkit_error *err)
{
    double start = progress_now();
    run_config rc;
    dp_model model;
    features_normalizer nz;
    dataset data;
    memset(&rc, 0, sizeof rc), memset(&model, 0, sizeof model), memset(&nz, 0, sizeof nz);
    memset(&data, 0, sizeof data);
    dp_feature_chain *chain = NULL;
    float *x = NULL;
    h5io_file *f;
    if (model_epsilon(rm, err) || h5io_open_read(rm->path, &f, err))
        return -1;
    int status = run_model_read(f, &rc, &model, &nz, err);
    h5io_close(f);
    if (!status && rc.mirror_average)
        status = error_set(err, "%s: the model averages its logits over each image and its "
                                "mirror (model.mirror_average); the attacks take the model's "
                                "own logits, expected a model without it", rm->path);
    if (status || run_dataset_load(&rc, &data, err))
        goto fail;
    snprintf(rm->dataset, sizeof rm->dataset, "%s", rc.dataset);
    const dataset_split *s = strcmp(r->split, "train") == 0 ? &data.train : &data.test;
    rm->count = r->count < s->count ? r->count : s->count;
    rm->certified_count = r->smoothing_count < rm->count ? r->smoothing_count : rm->count;
    dp_classifier cl;
    if (dp_feature_chain_create(&rc.extractor, s->channels, s->height, s->width, &nz, &model,
                                    r->batch, &chain, &cl, err))
        goto fail;
    size_t n = rm->count;
    x = pixels_of(s, n);
    rm->labels = malloc(n * sizeof *rm->labels);
    rm->clean = malloc(n * sizeof *rm->clean);
    rm->robust = malloc(r->epsilon_count * n);
    rm->l2 = r->cw ? malloc(n * sizeof *rm->l2) : NULL;
    rm->smoothed = malloc((rm->certified_count + 1) * sizeof *rm->smoothed);
    rm->radius = malloc((rm->certified_count + 1) * sizeof *rm->radius);
    if (!x || !rm->labels || !rm->clean || !rm->robust || (r->cw && !rm->l2) || !rm->smoothed ||
        !rm->radius) {
        error_set(err, "robustness: out of memory for %zu inputs", n);
        goto fail;
    }
    memcpy(rm->labels, s->labels, n * sizeof *rm->labels);
    if (predict(&cl, x, n, rm->clean, err))
        goto fail;
    size_t right = 0;
    for (size_t i = 0; i < n; i++)
        right += rm->clean[i] == rm->labels[i];
    rm->clean_accuracy = (double)right / (double)n;
    progress bar;
    progress_start(&bar, rm->label, r->epsilon_count, r->cw ? "cw" : "radii");
    status = attack(r, rm, &cl, x, &bar, err);
    progress_finish(&bar);
    if (status || certify(r, rm, &cl, x, err))
        goto fail;
    rm->seconds = progress_now() - start;
    status = 0;
    goto done;
fail:
    status = -1;
done:
    free(x);
    dp_feature_chain_free(chain);
    dataset_free(&data);
    dp_model_free(&model);
    features_normalizer_free(&nz);
    run_config_free(&rc);
    return status;
}

int robustness_run(robustness *r, dpkit_error *err)
{
    for (size_t m = 0; m < r->model_count; m++) {
        dpkit_error inner;
        if (run_model(r, &r->models[m], &inner))
            return error_set(err, "%s (%s): %s", r->models[m].label, r->models[m].path,
                             inner.message);
    }
    return robustness_write(r, err);
}
