/* Membership inference against a DP-SGD classifier (docs/maths.md 6c): shadow models on the halves
 * of a LiRA keep matrix, a target model on an independent random half, and three attacks on
 * the target's membership: loss threshold, LiRA offline (OUT shadows) and online (IN and OUT). */
#include "audit/audit.h"

#include "common/log.h"
#include "common/memory.h"
#include "common/parallel.h"
#include "common/progress.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int audit_lira_keep_matrix(rng *r, size_t models, size_t examples, uint8_t *keep,
                           dpkit_error *err)
{
    if (models < 1)
        return error_set(err, "LiRA keep matrix: no models");
    double *u = malloc(models * sizeof *u);
    if (!u)
        return error_set(err, "LiRA keep matrix: out of memory");
    for (size_t j = 0; j < examples; j++) {
        for (size_t i = 0; i < models; i++)
            u[i] = rng_uniform(r);
        for (size_t i = 0; i < models; i++) {
            size_t rank = 0; /* argsort position; ties (probability ~2^-53) by model index */
            for (size_t k = 0; k < models; k++)
                rank += u[k] < u[i] || (u[k] == u[i] && k < i);
            keep[i * examples + j] = 2 * rank < models; /* rank < pkeep * models, pkeep = 1/2 */
        }
    }
    free(u);
    return 0;
}

/* Rows of `train` whose mask is set, copied to x/y (capacity train->count rows). */
static size_t gather(const dp_data *train, size_t D, const uint8_t *mask, float *x, int32_t *y)
{
    size_t n = 0;
    for (size_t j = 0; j < train->count; j++) {
        if (!mask[j])
            continue;
        memcpy(x + n * D, train->x + j * D, D * sizeof *x);
        y[n++] = train->y[j];
    }
    return n;
}

static int attack_metrics(const double *scores, const uint8_t *members, size_t n,
                          audit_attack_metrics *m, dpkit_error *err)
{
    if (audit_roc_compute(scores, members, n, &m->roc, err))
        return -1;
    m->auc = m->roc.auc;
    m->balanced_accuracy = m->roc.balanced_accuracy;
    m->tpr_at_fpr_0_1 = audit_roc_tpr_at_fpr(&m->roc, 0.001);
    m->tpr_at_fpr_1 = audit_roc_tpr_at_fpr(&m->roc, 0.01);
    return 0;
}

void audit_membership_result_free(audit_membership_result *result)
{
    audit_roc_free(&result->loss.roc);
    audit_roc_free(&result->offline.roc);
    audit_roc_free(&result->online.roc);
    MEMORY_FREE_ALL(result->member, result->score_loss, result->score_offline,
                    result->score_online);
    result->member = NULL;
    result->score_loss = result->score_offline = result->score_online = NULL;
}

int audit_membership(const audit_trainer *trainer, const dp_data *train, const dp_data *test,
                     const audit_membership_options *options, audit_membership_result *result,
                     dpkit_error *err)
{
    memset(result, 0, sizeof *result);
    size_t S = options->shadows, N = train->count, D = dp_shape_size(trainer->input);
    size_t K = trainer->class_count;
    if (!(options->confidence > 0 && options->confidence < 1))
        return error_set(err, "confidence: %g, expected 0 < confidence < 1", options->confidence);
    if (S < 2)
        return error_set(err, "membership.shadows: %zu, expected at least 2", S);
    if (N < 2)
        return error_set(err, "membership: %zu training examples, expected at least 2", N);
    uint8_t *keep = malloc((S + 1) * N);
    double *scores = malloc((S + 1) * N * sizeof *scores);
    double *loss_scores = malloc(N * sizeof *loss_scores);
    double *online = malloc(N * sizeof *online), *offline = malloc(N * sizeof *offline);
    float *x = malloc(N * D * sizeof *x), *logits = malloc(N * K * sizeof *logits);
    int32_t *y = malloc(N * sizeof *y);
    audit_lira_gaussians fit = {0};
    int status = -1;
    if (!keep || !scores || !loss_scores || !online || !offline || !x || !logits || !y) {
        error_set(err, "membership: out of memory for %zu models x %zu examples", S + 1, N);
        goto done;
    }
    rng choices;
    rng_init_seed(&choices, trainer->seed, RNG_STREAM_AUDIT);
    if (audit_lira_keep_matrix(&choices, S, N, keep, err))
        goto done;
    uint8_t *target_keep = keep + S * N; /* independent of the shadows' split */
    size_t members = 0;
    for (size_t j = 0; j < N; j++)
        members += target_keep[j] = rng_uniform(&choices) < 0.5;
    if (members == 0 || members == N) {
        error_set(err, "membership: the target's random half of %zu examples is degenerate", N);
        goto done;
    }
    progress models; /* the audit's time left, after each training */
    progress_start(&models, "audit", S + 1, "models");
    /* Under mpirun, rank i % K trains model i (docs/mpi.md); the scores are shared below. */
    double *seconds = calloc(S + 1, sizeof *seconds);
    int failed = !seconds;
    if (failed)
        error_set(err, "membership: out of memory");
    for (size_t i = 0; i <= S && !failed; i++) {
        if (!parallel_owns(i))
            continue;
        size_t n = gather(train, D, keep + i * N, x, y);
        audit_trained model;
        if ((failed = audit_train_model(trainer, x, y, n, NULL, i, &model, err)) != 0)
            break;
        failed = audit_trained_logits(&model, train->x, N, logits, err) ||
                 audit_lira_logit_confidence(logits, N, K, train->y, scores + i * N, err);
        seconds[i] = model.seconds;
        if (!failed && i == S) {
            result->epsilon = model.epsilon;
            result->noise_multiplier = model.noise_multiplier;
            result->steps = model.steps;
            failed = audit_loss_attack_score(logits, N, K, train->y, loss_scores, err) ||
                     audit_trained_accuracy(&model, test->x, test->y, test->count,
                                            &result->test_accuracy, err);
        }
        char eta[96];
        progress_count(&models, i + 1);
        progress_describe(&models, eta, sizeof eta);
        log_info("%s model %zu/%zu: %zu examples, %lld steps, epsilon %.4g, %.1f s; audit: %s",
                 i == S ? "target" : "shadow", i + 1, S + 1, n, model.steps, model.epsilon,
                 model.seconds, eta);
        audit_trained_free(&model);
    }
    /* The target's numbers travel with its loss scores, from the rank that trained it. */
    double target[4] = {result->epsilon, result->noise_multiplier, (double)result->steps,
                        result->test_accuracy};
    failed = parallel_agree_world(failed, err) ||
             parallel_share_items(scores, N * sizeof *scores, S + 1, err) ||
             parallel_share_items(seconds, sizeof *seconds, S + 1, err) ||
             parallel_broadcast_item(target, sizeof target, S, err) ||
             parallel_broadcast_item(loss_scores, N * sizeof *loss_scores, S, err);
    for (size_t i = 0; seconds && i <= S; i++)
        result->train_seconds += seconds[i];
    free(seconds);
    if (failed)
        goto done;
    result->epsilon = target[0], result->noise_multiplier = target[1];
    result->steps = (long long)target[2], result->test_accuracy = target[3];
    if (audit_lira_fit(scores, keep, S, N, 1, options->global_variance, &fit, err) ||
        audit_lira_online(&fit, scores + S * N, online, err) ||
        audit_lira_offline(&fit, scores + S * N, AUDIT_LIRA_ONE_SIDED, offline, err) ||
        attack_metrics(loss_scores, target_keep, N, &result->loss, err) ||
        attack_metrics(offline, target_keep, N, &result->offline, err) ||
        attack_metrics(online, target_keep, N, &result->online, err) ||
        audit_one_run_bound_compute(online, target_keep, N,
                                    trainer->train.private_mode ? trainer->train.delta : 0,
                                    1 - options->confidence, &result->bound, err))
        goto done;
    result->epsilon_lb = result->bound.epsilon;
    result->examples = N;
    result->members = members;
    /* The signals go to the result (the target's keep row first moves out of keep). */
    result->member = malloc(N);
    if (!result->member) {
        error_set(err, "membership: out of memory for %zu examples", N);
        goto done;
    }
    memcpy(result->member, target_keep, N);
    result->score_loss = loss_scores;
    result->score_offline = offline;
    result->score_online = online;
    loss_scores = offline = online = NULL;
    status = 0;
done:
    audit_lira_gaussians_free(&fit);
    free(keep);
    free(scores);
    free(loss_scores);
    free(online);
    free(offline);
    free(x);
    free(logits);
    free(y);
    if (status)
        audit_membership_result_free(result);
    return status;
}
