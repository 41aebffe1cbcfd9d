/* Audit: LiRA statistics on a toy problem with known Gaussian IN/OUT score distributions, ROC
 * metrics against hand-computed values, and the gnuplot plots. */
#include "audit/audit.h"
#include "common/rng.h"
#include "tests/test_util.h"
#include "tests/test_util_figure.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

Test(audit, logit_confidence_is_stable_log_odds)
{
    float logits[3 * 3] = {2.0f, 0.0f, -1.0f, 1000.0f, 0.0f, 0.0f, 1000.0f, 0.0f, 0.0f};
    int32_t labels[3] = {0, 0, 1};
    double phi[3], loss[3];
    dpkit_error err;
    cr_assert_eq(audit_lira_logit_confidence(logits, 3, 3, labels, phi, &err), 0, "%s",
                 err.message);
    double e0 = exp(2.0), e1 = 1.0, e2 = exp(-1.0), p = e0 / (e0 + e1 + e2);
    cr_assert_float_eq(phi[0], log(p / (1 - p)), 1e-13);
    cr_assert_float_eq(phi[1], 1000.0 - log(2.0), 1e-10); /* p/(1-p) overflows a naive softmax */
    cr_assert_float_eq(phi[2], -1000.0, 1e-10);
    cr_assert_eq(audit_loss_attack_score(logits, 3, 3, labels, loss, &err), 0);
    cr_assert_float_eq(loss[0], log(p), 1e-13);
    cr_assert_float_eq(loss[1], -log(1.0 + 2 * exp(-1000.0)), 1e-13);
    cr_assert_float_eq(loss[2], -1000.0, 1e-10);

    labels[2] = 3;
    cr_assert_eq(audit_lira_logit_confidence(logits, 3, 3, labels, phi, &err), -1);
    cr_assert(strstr(err.message, "label of example 2"), "%s", err.message);
    cr_assert_eq(audit_loss_attack_score(logits, 3, 1, labels, phi, &err), -1);
    cr_assert(strstr(err.message, "classes"), "%s", err.message);
}

/* Hand-computed: members score 0.9, 0.7, 0.6, 0.5; non-members 0.8, 0.5. Pairs ranked right:
 * 4 of 8, plus a tie worth 1/2: AUC = 4.5/8. */
Test(audit, roc_matches_hand_computed_case)
{
    double scores[6] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.5};
    uint8_t labels[6] = {1, 0, 1, 1, 0, 1};
    audit_roc roc;
    dpkit_error err;
    cr_assert_eq(audit_roc_compute(scores, labels, 6, &roc, &err), 0, "%s", err.message);
    double fpr[6] = {0, 0, 0.5, 0.5, 0.5, 1}, tpr[6] = {0, 0.25, 0.25, 0.5, 0.75, 1};
    cr_assert_eq(roc.points, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_float_eq(roc.fpr[i], fpr[i], 1e-15);
        cr_assert_float_eq(roc.tpr[i], tpr[i], 1e-15);
    }
    cr_assert(isinf(roc.thresholds[0]));
    cr_assert_eq(roc.thresholds[5], 0.5);
    cr_assert_float_eq(roc.auc, 0.5625, 1e-15);
    cr_assert_float_eq(roc.balanced_accuracy, 0.625, 1e-15);
    cr_assert_eq(audit_roc_tpr_at_fpr(&roc, 0.5), 0.25);
    cr_assert_eq(audit_roc_tpr_at_fpr(&roc, 0.51), 0.75);
    cr_assert_eq(audit_roc_tpr_at_fpr(&roc, 0.0), 0.0);
    audit_roc_free(&roc);

    uint8_t one_class[2] = {1, 1};
    cr_assert_eq(audit_roc_compute(scores, one_class, 2, &roc, &err), -1);
    cr_assert(strstr(err.message, "both"), "%s", err.message);
    double nan_score[2] = {NAN, 1};
    cr_assert_eq(audit_roc_compute(nan_score, labels, 2, &roc, &err), -1);
    cr_assert(strstr(err.message, "NaN"), "%s", err.message);
}

/* Scores from one distribution whatever the label: AUC 0.5 up to sampling noise (sd ~0.009 for
 * 2000 + 2000 examples; the bound is 3.3 sd, a 1e-3 false-alarm rate at a random seed). */
Test(audit, roc_auc_of_identical_distributions_is_one_half)
{
    enum { N = 4000 };
    static double scores[N];
    static uint8_t labels[N];
    rng r;
    rng_init_seed(&r, 11, RNG_STREAM_TEST);
    for (int i = 0; i < N; i++) {
        scores[i] = rng_gaussian(&r);
        labels[i] = (uint8_t)(i % 2);
    }
    audit_roc roc;
    cr_assert_eq(audit_roc_compute(scores, labels, N, &roc, NULL), 0);
    cr_assert(fabs(roc.auc - 0.5) < 0.03, "AUC %g", roc.auc);
    cr_assert_eq(roc.points, N + 1);
    audit_roc_free(&roc);
}

/* Toy LiRA: example j has a difficulty mu_j ~ N(0, 2^2); a model's score for each of 2 queries
 * is mu_j + 2 (if the example was in its training set) + N(0, 1). Per-example calibration should
 * approach the ideal AUC Phi(2) = 0.977 (the query mean has noise sd 1/sqrt 2); a global
 * threshold on the raw score cannot (Phi(2 / sqrt(2 (4 + 1/2))) = 0.75). */
enum { MODELS = 33, EXAMPLES = 600, QUERIES = 2 };

static void toy_lira(double *scores, uint8_t *keep)
{
    rng r;
    rng_init_seed(&r, 5, RNG_STREAM_TEST);
    double difficulty[EXAMPLES];
    for (int j = 0; j < EXAMPLES; j++)
        difficulty[j] = 2.0 * rng_gaussian(&r);
    for (int j = 0; j < EXAMPLES; j++) {
        size_t order[MODELS];
        for (int i = 0; i < MODELS; i++)
            order[i] = (size_t)i;
        rng_shuffle_indices(&r, order, MODELS);
        for (int i = 0; i < MODELS; i++)
            keep[order[i] * EXAMPLES + j] = i < MODELS / 2 + (j % 2);
    }
    for (int i = 0; i < MODELS; i++)
        for (int j = 0; j < EXAMPLES; j++)
            for (int a = 0; a < QUERIES; a++)
                scores[(i * EXAMPLES + j) * QUERIES + a] =
                    difficulty[j] + 2.0 * keep[i * EXAMPLES + j] + rng_gaussian(&r);
}

static double auc_of(const double *statistic, const uint8_t *labels)
{
    audit_roc roc;
    cr_assert_eq(audit_roc_compute(statistic, labels, EXAMPLES, &roc, NULL), 0);
    double auc = roc.auc;
    audit_roc_free(&roc);
    return auc;
}

Test(audit, lira_separates_members_on_toy_problem)
{
    static double scores[MODELS * EXAMPLES * QUERIES];
    static uint8_t keep[MODELS * EXAMPLES];
    toy_lira(scores, keep);
    /* The last model is the target; the others are shadows. */
    const double *target = scores + (MODELS - 1) * EXAMPLES * QUERIES;
    const uint8_t *member = keep + (MODELS - 1) * EXAMPLES;
    double statistic[EXAMPLES], raw[EXAMPLES];
    dpkit_error err;
    for (int global = 0; global < 2; global++) {
        audit_lira_gaussians fit;
        cr_assert_eq(audit_lira_fit(scores, keep, MODELS - 1, EXAMPLES, QUERIES, global, &fit,
                                    &err), 0, "%s", err.message);
        cr_assert(fit.has_in);
        cr_assert_eq(audit_lira_online(&fit, target, statistic, &err), 0, "%s", err.message);
        double online = auc_of(statistic, member);
        cr_assert_eq(audit_lira_offline(&fit, target, AUDIT_LIRA_ONE_SIDED, statistic, &err), 0);
        double offline = auc_of(statistic, member);
        cr_assert_eq(audit_lira_offline(&fit, target, AUDIT_LIRA_LOG_DENSITY, statistic, &err), 0);
        double density = auc_of(statistic, member);
        for (int j = 0; j < EXAMPLES; j++)
            raw[j] = 0.5 * (target[j * QUERIES] + target[j * QUERIES + 1]);
        double threshold = auc_of(raw, member);
        fprintf(stderr, "toy LiRA (global variance %d): AUC online %.3f, offline one-sided %.3f, "
                "offline log-density %.3f, global threshold %.3f\n", global, online, offline,
                density, threshold);
        cr_assert_gt(online, 0.85);
        cr_assert_gt(offline, 0.85);
        cr_assert_gt(density, 0.6);
        cr_assert_gt(online, threshold + 0.08);
        audit_lira_gaussians_free(&fit);
    }
}

Test(audit, lira_fit_uses_median_and_population_std)
{
    /* 4 models, 1 example, 1 query: IN scores 1, 2, 10 (models 0, 1, 3), OUT 5 (model 2). */
    double scores[4] = {1, 2, 5, 10};
    uint8_t keep[4] = {1, 1, 0, 1};
    audit_lira_gaussians fit;
    dpkit_error err;
    cr_assert_eq(audit_lira_fit(scores, keep, 4, 1, 1, 0, &fit, &err), 0);
    cr_assert_eq(fit.mean_in[0], 2.0);
    cr_assert_float_eq(fit.std_in[0], sqrt(438.0 / 27.0), 1e-14); /* about the mean 13/3 */
    cr_assert_eq(fit.mean_out[0], 5.0);
    cr_assert_eq(fit.std_out[0], 0.0);
    double target = 2.0, stat;
    cr_assert_eq(audit_lira_online(&fit, &target, &stat, &err), 0);
    double s = sqrt(438.0 / 27.0);
    cr_assert_float_eq(stat, -log(s) - 0.5 * log(2 * M_PI) + 0.5 * 9.0 / 1e-60 + log(1e-30) +
                       0.5 * log(2 * M_PI), 1e-6 * (9.0 / 1e-60));
    audit_lira_gaussians_free(&fit);
    /* Two examples: IN counts 3 and 1, so every example uses its first IN model only. */
    double scores2[8] = {1, 7, 2, 8, 5, 9, 10, 11};
    uint8_t keep2[8] = {1, 0, 1, 1, 0, 0, 1, 0};
    cr_assert_eq(audit_lira_fit(scores2, keep2, 4, 2, 1, 0, &fit, &err), 0);
    cr_assert_eq(fit.mean_in[0], 1.0);
    cr_assert_eq(fit.mean_in[1], 8.0);
    cr_assert_eq(fit.mean_out[0], 5.0);   /* OUT counts 1 and 3: first OUT model only */
    cr_assert_eq(fit.mean_out[1], 7.0);
    audit_lira_gaussians_free(&fit);

    uint8_t all_in[4] = {1, 1, 1, 1};
    cr_assert_eq(audit_lira_fit(scores, all_in, 4, 1, 1, 0, &fit, &err), -1);
    cr_assert(strstr(err.message, "OUT"), "%s", err.message);
    uint8_t none_in[4] = {0, 0, 0, 0};
    cr_assert_eq(audit_lira_fit(scores, none_in, 4, 1, 1, 0, &fit, &err), 0);
    cr_assert_eq(audit_lira_online(&fit, &target, &stat, &err), -1);
    cr_assert(strstr(err.message, "offline"), "%s", err.message);
    cr_assert_eq(audit_lira_offline(&fit, &target, AUDIT_LIRA_ONE_SIDED, &stat, &err), 0);
    audit_lira_gaussians_free(&fit);
    scores[1] = NAN;
    cr_assert_eq(audit_lira_fit(scores, keep, 4, 1, 1, 0, &fit, &err), -1);
    cr_assert(strstr(err.message, "model 1"), "%s", err.message);
}

Test(audit, plots_make_figures_with_their_scripts)
{
    double scores[6] = {0.9, 0.8, 0.7, 0.6, 0.5, 0.5};
    uint8_t labels[6] = {1, 0, 1, 1, 0, 1};
    audit_roc roc[2];
    cr_assert_eq(audit_roc_compute(scores, labels, 6, &roc[0], NULL), 0);
    labels[1] = 1;
    labels[4] = 1;
    labels[0] = 0;
    cr_assert_eq(audit_roc_compute(scores, labels, 6, &roc[1], NULL), 0);
    char path[512];
    const char *dir = test_temp_dir();
    snprintf(path, sizeof path, "%s/roc.png", dir);
    const char *names[2] = {"LiRA online", "it's a loss attack"};
    dpkit_error err;
    cr_assert_eq(audit_plot_roc(path, roc, names, 2, "ROC (log-log)", &err), 0, "%s",
                 err.message);
    test_check_figure(path);
    audit_roc_free(&roc[0]);
    audit_roc_free(&roc[1]);

    /* two canaries per count, one never inserted; one exposure missing */
    double insertions[6] = {0, 1, 1, 4, 4, 16}, epsilons[3] = {1, 8, INFINITY};
    double exposure[18] = {0.2, 0.5, 0.6, 0.8, 1.0, 1.3, 0.1, 1, 2, 3, 5, 7,
                           0.3, 2, 5, NAN, 15, 20};
    snprintf(path, sizeof path, "%s/exposure.png", dir);
    audit_exposure_plot e = {.epsilons = epsilons, .model_count = 3, .insertions = insertions,
                             .canary_count = 6, .exposure = exposure, .ceiling = 21.5};
    cr_assert_eq(audit_plot_exposure(path, &e, "Exposure of canaries", &err), 0, "%s",
                 err.message);
    test_check_figure(path);
    snprintf(path, sizeof path, "%s/exposure.data0.tsv", dir);
    char *points = test_read_file(path, NULL);
    int rows = 0;
    for (char *c = points; c && *c; c++)
        rows += *c == '\n';
    cr_assert_eq(rows, 1 + 6, "every canary of the first model: %s", points);
    free(points);
    snprintf(path, sizeof path, "%s/exposure.gp", dir);
    char *script = test_read_file(path, NULL);
    cr_assert(script && strstr(script, "21.5") && strstr(script, "log_2 |R|"), "%s", script);
    free(script);

    double values[8] = {-1, -0.5, 0, 0.2, 1, 1.5, 2, 2.5};
    uint8_t truth[8] = {0, 0, 0, 1, 0, 1, 1, 1};
    double cutoffs[2] = {1.5, 0};
    const char *cutoff_labels[2] = {"guess in", "guess out"};
    audit_score_plot sp = {.scores = values, .truth = truth, .count = 8, .label_in = "in",
                           .label_out = "out", .cutoffs = cutoffs, .cutoff_labels = cutoff_labels,
                           .cutoff_count = 2};
    snprintf(path, sizeof path, "%s/scores.png", dir);
    cr_assert_eq(audit_plot_scores(path, &sp, "scores", &err), 0, "%s", err.message);
    test_check_figure(path);
    snprintf(path, sizeof path, "%s/scores.data0.tsv", dir);
    char *histogram = test_read_file(path, NULL);
    long in = 0, out = 0;
    char *line = histogram ? strchr(histogram, '\n') : NULL;
    while (line && line[1]) {
        double centre, lo, hi;
        long a, b;
        cr_assert_eq(sscanf(line + 1, "%lf %lf %lf %ld %ld", &centre, &lo, &hi, &a, &b), 5);
        in += a, out += b;
        line = strchr(line + 1, '\n');
    }
    cr_assert(in == 4 && out == 4, "%s", histogram);
    free(histogram);
}

Test(audit, plots_report_missing_gnuplot_and_bad_paths)
{
    double insertions[2] = {1, 2}, epsilons[1] = {1}, exposure[2] = {1, 2};
    audit_exposure_plot e = {.epsilons = epsilons, .model_count = 1, .insertions = insertions,
                             .canary_count = 2, .exposure = exposure, .ceiling = NAN};
    char path[512];
    dpkit_error err;
    snprintf(path, sizeof path, "%s/no/such/dir/exposure.png", test_temp_dir());
    cr_assert_eq(audit_plot_exposure(path, &e, NULL, &err), -1);
    cr_assert(strstr(err.message, "no/such/dir/exposure.data0.tsv"), "%s", err.message);
    insertions[1] = NAN;
    cr_assert_eq(audit_plot_exposure(path, &e, NULL, &err), -1);
    cr_assert(strstr(err.message, "insertion count of canary 1"), "%s", err.message);
    insertions[1] = 2;
    setenv("PATH", "/nonexistent", 1); /* each Criterion test runs in its own process */
    snprintf(path, sizeof path, "%s/exposure.png", test_temp_dir());
    cr_assert_eq(audit_plot_exposure(path, &e, NULL, &err), -1);
    cr_assert(strstr(err.message, "gnuplot-nox"), "%s", err.message);
    cr_assert_eq(access(path, F_OK), -1);
}
